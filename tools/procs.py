# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at
#
#      http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS, WITHOUT
# WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied. See the
# License for the specific language governing permissions and limitations
# under the License.

"""Process helpers shared by the scripts in ``tools/``.

Standard library only: the scripts run from any Python 3 interpreter or
virtualenv (the test servers' starter, the tempest environment, the
Glance launcher, the migration job). ``tools/`` is not a package: a
script imports this module from its own directory (``sys.path[0]``), a
test puts ``tools/`` on ``sys.path`` first (see
``glance_store/tests/unit/tools/``).

Stopping by PID on a shared machine: a process is only ever signalled if
its PID still belongs to the process that was started, that is if the
kernel start time read from ``/proc/PID/stat`` now equals the one
recorded right after the start. A PID recorded without a start time, one
that has exited, or one the kernel gave to another process since, is left
alone.
"""

import collections
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

STOP_TIMEOUT = 15
KILL_TIMEOUT = 5

# One process that was stopped: its PID and whether SIGKILL was needed.
Stopped = collections.namedtuple('Stopped', 'pid killed')


class ProcessExited(Exception):
    """A process that was being waited for exited; the message says how."""


def free_port(address='127.0.0.1'):
    """A TCP port nothing listens on right now.

    :param address: the address the port is for
    :returns: the port number
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((address, 0))
        return sock.getsockname()[1]


def bin_path(name, python=None):
    """A console script of an interpreter's environment, else one on PATH.

    :param name: the script's name (e.g. ``uwsgi``)
    :param python: the interpreter whose ``bin`` directory is searched
                   first (default: the running one); a virtualenv's
                   ``bin/python`` is not resolved, so its own scripts win
    :returns: the path
    :raises FileNotFoundError: if neither place has it
    """
    python = python or sys.executable
    candidate = os.path.join(os.path.dirname(python), name)
    if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
        return candidate
    found = shutil.which(name)
    if found is None:
        raise FileNotFoundError('%s not found next to %s or on PATH'
                                % (name, python))
    return found


def tail(path, lines=30, max_bytes=256 * 1024):
    """The last lines of a log file, for an error message.

    :param path: the file
    :param lines: how many lines at most
    :param max_bytes: how much of the file's end is read at most
    :returns: the lines as one string, or a note saying why the file
              could not be read
    """
    try:
        with open(path, 'rb') as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - max_bytes))
            data = f.read().decode('utf-8', 'replace')
    except OSError as e:
        return '(cannot read %s: %s)' % (path, e)
    return '\n'.join(data.splitlines()[-lines:])


def format_ini(sections):
    """Render ``{section: {option: value}}`` as an ini file.

    Booleans become ``true``/``false``, lists and tuples comma-separated
    values; sections and options keep their order.

    :param sections: dict of section name -> dict of options
    :returns: the file's text
    """
    out = []
    for section, options in sections.items():
        out.append('[%s]' % section)
        for key, value in options.items():
            if isinstance(value, bool):
                value = 'true' if value else 'false'
            elif isinstance(value, (list, tuple)):
                value = ','.join(str(v) for v in value)
            out.append('%s = %s' % (key, value))
        out.append('')
    return '\n'.join(out)


def write_ini(path, sections):
    """Write :func:`format_ini` of the sections to a file.

    :param path: the file, replaced if it exists
    :param sections: dict of section name -> dict of options
    :returns: the path
    """
    with open(path, 'w') as f:
        f.write(format_ini(sections))
    return path


def write_repeated(path, block, total):
    """Write ``total`` bytes of ``block`` repeated (and cut) to a file.

    :param path: the file, replaced if it exists
    :param block: the bytes repeated (not empty)
    :param total: how many bytes the file holds
    :returns: the path
    """
    with open(path, 'wb') as f:
        left = total
        while left:
            n = min(len(block), left)
            f.write(block[:n])
            left -= n
    return path


def merge_sections(target, sections):
    """Merge ``{section: {option: value}}`` into target, option by option.

    :param target: the dict updated in place
    :param sections: the sections to merge in (None: nothing)
    :returns: target
    """
    for section, options in (sections or {}).items():
        target.setdefault(section, {}).update(options)
    return target


def spawn(args, log_path, env=None, cwd=None):
    """Start a long-running process, its output appended to a log file.

    The process gets its own session (a Ctrl-C in the terminal reaches
    the caller only, which stops it by PID) and no standard input.

    :param args: the command
    :param log_path: the file stdout and stderr go to
    :param env: the environment (default: the caller's)
    :param cwd: the working directory
    :returns: the ``subprocess.Popen``
    :raises OSError: if the command cannot be started
    """
    with open(log_path, 'ab') as log:
        return subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT, env=env, cwd=cwd,
                                start_new_session=True)


def run_logged(args, log_path, timeout=300, env=None, cwd=None):
    """Run a set-up command, the command line and its output logged.

    :param args: the command
    :param log_path: the file the command line and output are appended to
    :param timeout: seconds before the command is killed
    :param env: the environment (default: the caller's)
    :param cwd: the working directory
    :returns: the exit code
    :raises subprocess.TimeoutExpired: if it ran longer than timeout
    """
    with open(log_path, 'ab') as log:
        log.write(('$ %s\n' % ' '.join(args)).encode())
        log.flush()
        result = subprocess.run(args, stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT, timeout=timeout,
                                env=env, cwd=cwd)
    return result.returncode


def start_time(pid):
    """The kernel start time of a process, to tell it from a reused PID.

    :param pid: the PID
    :returns: the start time (clock ticks since boot, as a string), or
              None if there is no such process
    """
    try:
        with open('/proc/%d/stat' % pid) as f:
            stat = f.read()
    except OSError:
        return None
    # The command name (field 2) may contain spaces and parentheses: the
    # fields after it start after the last ')'.
    try:
        return stat[stat.rindex(')') + 2:].split()[19]
    except (ValueError, IndexError):
        return None


def _state(pid):
    try:
        with open('/proc/%d/stat' % pid) as f:
            return f.read().rsplit(')', 1)[1].split()[0]
    except (OSError, IndexError):
        return None


def alive(pid, started):
    """Whether the process started at ``started`` still runs as ``pid``.

    Reaps the process if it is a child of the caller that exited, so that
    it does not linger as a zombie; a zombie counts as gone.

    :param pid: the PID
    :param started: the start time recorded when it was started (see
                    :func:`start_time`); None never matches
    :returns: True if it runs and is the same process
    """
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)
    if started is None or _state(pid) in (None, 'Z', 'X'):
        return False
    return start_time(pid) == started


def record(pid):
    """``(pid, start time)`` of a process just started, to stop it later.

    :param pid: the PID
    :returns: the pair, the start time None if it has already gone
    """
    return pid, start_time(pid)


def _signal(pid, started, signum):
    if alive(pid, started):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signum)


def _wait_gone(pairs, timeout):
    deadline = time.monotonic() + timeout
    while (any(alive(p, s) for p, s in pairs)
           and time.monotonic() < deadline):
        time.sleep(0.05)


def _stop_group(pairs, signals, timeout):
    for pid, started in pairs:
        _signal(pid, started, signals.get(pid, signal.SIGTERM))
    _wait_gone(pairs, timeout)
    killed = [(p, s) for p, s in pairs if alive(p, s)]
    for pid, started in killed:
        _signal(pid, started, signal.SIGKILL)
    _wait_gone(killed, KILL_TIMEOUT)
    return [Stopped(p, (p, s) in killed) for p, s in pairs]


def stop_pids(pids, start_times=None, timeout=STOP_TIMEOUT, signals=None,
              in_order=True):
    """Stop recorded processes, and never another process.

    Each process gets its first signal (SIGTERM unless ``signals`` says
    otherwise), then SIGKILL if it still runs after ``timeout`` seconds.
    Only a PID whose kernel start time equals the recorded one is ever
    signalled (see the module's docstring).

    :param pids: the PIDs, in the order to stop them
    :param start_times: dict of PID (int or str) -> start time recorded at
                        start; a PID missing here is not signalled
    :param timeout: seconds each process (or, with ``in_order`` False, all
                    of them) gets before SIGKILL
    :param signals: dict of PID -> first signal, e.g. SIGINT for a uwsgi
                    master, which then stops its workers at once
    :param in_order: wait for each process to end before signalling the
                     next (True), or signal all at once and wait once
    :returns: a :class:`Stopped` per process that was running
    """
    start_times = start_times or {}
    signals = signals or {}
    pairs = [(int(pid), start_times.get(str(pid), start_times.get(pid)))
             for pid in pids]
    running = [(p, s) for p, s in pairs if alive(p, s)]
    if not in_order:
        return _stop_group(running, signals, timeout)
    stopped = []
    for pair in running:
        stopped += _stop_group([pair], signals, timeout)
    return stopped


def describe(stopped):
    """``"123,456 (killed)"`` for a list of :class:`Stopped`.

    :param stopped: what :func:`stop_pids` returned
    :returns: the text, ``"none"`` for an empty list
    """
    return ','.join('%d%s' % (s.pid, ' (killed)' if s.killed else '')
                    for s in stopped) or 'none'


class RssPeak(object):
    """Peak resident memory growth of this process over a ``with`` block.

    A daemon thread reads ``/proc/self/statm`` every ``interval``
    seconds while the block runs, and once more when it ends; ``growth``
    is then the peak minus the size at the start, in bytes.

    :param interval: seconds between two samples
    """

    def __init__(self, interval=0.005):
        self.interval = interval
        self.base = self.peak = self.rss()
        self._stop = threading.Event()
        self._thread = None

    @staticmethod
    def rss():
        """Resident size of this process now, in bytes (Linux only).

        :returns: the size in bytes
        """
        with open('/proc/self/statm') as f:
            return int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE')

    def _run(self):
        while not self._stop.wait(self.interval):
            self.peak = max(self.peak, self.rss())

    def __enter__(self):
        self.base = self.peak = self.rss()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.rss())

    @property
    def growth(self):
        """Peak minus start resident size, in bytes."""
        return self.peak - self.base


def _http_status(opener, url):
    try:
        with opener.open(url, timeout=5) as resp:
            resp.read()
            return resp.status
    except urllib.error.HTTPError as e:
        return e.code


def wait_http(url, deadline, processes=(), accept=None):
    """Wait until a URL answers, without any proxy.

    :param url: the URL to GET
    :param deadline: ``time.monotonic()`` value to give up at
    :param processes: ``subprocess.Popen`` objects that must keep running
    :param accept: function status -> bool (default: any answer)
    :returns: the status of the accepted answer
    :raises ProcessExited: if one of the processes exited
    :raises TimeoutError: at the deadline, naming the last outcome
    """
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    last = None
    while True:
        for proc in processes:
            if proc.poll() is not None:
                raise ProcessExited('%s exited with code %s' % (
                    os.path.basename(str(proc.args[0])), proc.returncode))
        try:
            status = _http_status(opener, url)
            if accept is None or accept(status):
                return status
            last = 'HTTP %d' % status
        except OSError as e:
            last = str(e)
        if time.monotonic() > deadline:
            raise TimeoutError('%s did not answer in time (last: %s)'
                               % (url, last))
        time.sleep(0.1)
