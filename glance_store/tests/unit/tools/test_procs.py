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

"""tools/procs.py: above all, which processes stop_pids signals."""

import configparser
import http.server
import os
import signal
import socket
import stat
import subprocess
import sys
import threading
import time

import fixtures
from oslotest import base

from glance_store.tests.unit import tools  # noqa: F401  (sys.path)

import procs  # noqa: E402,I100  (tools/procs.py)

# A child that records each signal it gets (name and time) in a file,
# then exits after a delay; SIGTERM can be ignored instead.
CHILD = r'''
import signal, sys, time
out, delay, ignore_term = sys.argv[1], float(sys.argv[2]), sys.argv[3]
def handler(signum, frame):
    with open(out, 'a') as f:
        f.write('%s %r\n' % (signal.Signals(signum).name, time.time()))
    if not (ignore_term == 'yes' and signum == signal.SIGTERM):
        time.sleep(delay)
        sys.exit(0)
for s in (signal.SIGTERM, signal.SIGINT):
    signal.signal(s, handler)
with open(out, 'a') as f:
    f.write('ready\n')
while True:
    time.sleep(0.05)
'''


class ChildProcesses(object):
    """Children of the test, always killed at its end."""

    def __init__(self, test):
        self.test = test
        self.tmp = test.useFixture(fixtures.TempDir()).path

    def start(self, name, delay=0.0, ignore_term=False):
        out = os.path.join(self.tmp, name + '.signals')
        proc = subprocess.Popen(
            [sys.executable, '-c', CHILD, out, str(delay),
             'yes' if ignore_term else 'no'])
        self.test.addCleanup(self._kill, proc)
        deadline = time.monotonic() + 30
        while not self._ready(out) and time.monotonic() < deadline:
            time.sleep(0.02)
        return proc, out

    @staticmethod
    def _ready(out):
        try:
            with open(out) as f:
                return f.read().startswith('ready\n')
        except FileNotFoundError:
            return False

    @staticmethod
    def signals(out):
        try:
            with open(out) as f:
                return f.read().split('\n')[1:-1]
        except FileNotFoundError:
            return []

    @staticmethod
    def _kill(proc):
        if proc.poll() is None:
            proc.kill()
        proc.wait()


class TestStopPids(base.BaseTestCase):

    def setUp(self):
        super(TestStopPids, self).setUp()
        self.children = ChildProcesses(self)

    def _names(self, out):
        return [line.split()[0] for line in self.children.signals(out)]

    def test_stops_a_recorded_process_with_sigterm(self):
        proc, out = self.children.start('one')
        pid, started = procs.record(proc.pid)
        self.assertIsNotNone(started)
        stopped = procs.stop_pids([pid], {pid: started}, timeout=5)
        self.assertEqual([procs.Stopped(pid, False)], stopped)
        self.assertEqual(['SIGTERM'], self._names(out))
        self.assertFalse(procs.alive(pid, started))
        self.assertIsNotNone(proc.poll())

    def test_start_times_with_string_keys_as_json_gives_them(self):
        proc, out = self.children.start('json')
        pid, started = procs.record(proc.pid)
        stopped = procs.stop_pids([pid], {str(pid): started}, timeout=5)
        self.assertEqual([procs.Stopped(pid, False)], stopped)
        self.assertEqual(['SIGTERM'], self._names(out))

    def test_pid_with_another_start_time_is_left_alone(self):
        # What a recycled PID looks like: the PID runs, but it is not the
        # process that was recorded.
        proc, out = self.children.start('other')
        pid, started = procs.record(proc.pid)
        other = str(int(started) - 1)
        self.assertEqual([], procs.stop_pids([pid], {pid: other}, timeout=1))
        self.assertEqual([], self._names(out))
        self.assertIsNone(proc.poll())
        self.assertTrue(procs.alive(pid, started))

    def test_pid_without_a_recorded_start_time_is_left_alone(self):
        proc, out = self.children.start('unknown')
        self.assertEqual([], procs.stop_pids([proc.pid], None, timeout=1))
        self.assertEqual([], procs.stop_pids([proc.pid], {proc.pid: None},
                                             timeout=1))
        self.assertEqual([], self._names(out))
        self.assertIsNone(proc.poll())

    def test_process_that_ignores_sigterm_is_killed(self):
        proc, out = self.children.start('stubborn', ignore_term=True)
        pid, started = procs.record(proc.pid)
        t0 = time.monotonic()
        stopped = procs.stop_pids([pid], {pid: started}, timeout=0.5)
        self.assertEqual([procs.Stopped(pid, True)], stopped)
        self.assertGreaterEqual(time.monotonic() - t0, 0.5)
        self.assertEqual(['SIGTERM'], self._names(out))
        self.assertFalse(procs.alive(pid, started))

    def test_first_signal_per_pid(self):
        proc, out = self.children.start('uwsgi-like')
        pid, started = procs.record(proc.pid)
        procs.stop_pids([pid], {pid: started}, timeout=5,
                        signals={pid: signal.SIGINT})
        self.assertEqual(['SIGINT'], self._names(out))

    def test_in_order_waits_for_each_process(self):
        first, first_out = self.children.start('first', delay=0.4)
        second, second_out = self.children.start('second')
        times = {first.pid: procs.start_time(first.pid),
                 second.pid: procs.start_time(second.pid)}
        stopped = procs.stop_pids([first.pid, second.pid], times, timeout=5)
        self.assertEqual([first.pid, second.pid], [s.pid for s in stopped])
        first_at = float(self.children.signals(first_out)[0].split()[1])
        second_at = float(self.children.signals(second_out)[0].split()[1])
        # The second was signalled after the first had ended.
        self.assertGreaterEqual(second_at - first_at, 0.4)

    def test_at_once_signals_all_before_waiting(self):
        # Each takes 1 s to exit: one after the other would take 2 s.
        first, first_out = self.children.start('first', delay=1.0)
        second, second_out = self.children.start('second', delay=1.0)
        times = {first.pid: procs.start_time(first.pid),
                 second.pid: procs.start_time(second.pid)}
        t0 = time.monotonic()
        stopped = procs.stop_pids([first.pid, second.pid], times, timeout=5,
                                  in_order=False)
        self.assertLess(time.monotonic() - t0, 1.9)
        self.assertEqual({first.pid, second.pid}, {s.pid for s in stopped})
        first_at = float(self.children.signals(first_out)[0].split()[1])
        second_at = float(self.children.signals(second_out)[0].split()[1])
        # The second was signalled before the first had ended.
        self.assertLess(abs(second_at - first_at), 0.9)

    def test_exited_child_is_reaped_and_skipped(self):
        proc = subprocess.Popen([sys.executable, '-c', 'pass'])
        pid, started = procs.record(proc.pid)
        deadline = time.monotonic() + 30
        while procs.alive(pid, started) and time.monotonic() < deadline:
            time.sleep(0.02)
        self.assertFalse(procs.alive(pid, started))
        # alive() reaped it: no zombie left behind.
        self.assertIsNone(procs.start_time(pid))
        self.assertEqual([], procs.stop_pids([pid], {pid: started}))
        proc.poll()

    def test_describe(self):
        self.assertEqual('none', procs.describe([]))
        self.assertEqual('12,34 (killed)', procs.describe(
            [procs.Stopped(12, False), procs.Stopped(34, True)]))


class TestRssPeak(base.BaseTestCase):

    def test_growth_of_a_block_that_allocates(self):
        with procs.RssPeak(interval=0.001) as rss:
            data = b'x' * (64 * 1024 * 1024)
            time.sleep(0.01)
            del data
        self.assertGreaterEqual(rss.growth, 32 * 1024 * 1024)
        self.assertGreater(procs.RssPeak.rss(), 0)


class TestStartTime(base.BaseTestCase):

    def test_own_process(self):
        started = procs.start_time(os.getpid())
        self.assertTrue(started.isdigit(), started)
        self.assertTrue(procs.alive(os.getpid(), started))

    def test_no_such_process(self):
        # PIDs above pid_max never exist.
        self.assertIsNone(procs.start_time(2 ** 31 - 1))
        self.assertEqual((2 ** 31 - 1, None), procs.record(2 ** 31 - 1))
        self.assertFalse(procs.alive(2 ** 31 - 1, '1'))


class TestFiles(base.BaseTestCase):

    def setUp(self):
        super(TestFiles, self).setUp()
        self.tmp = self.useFixture(fixtures.TempDir()).path

    def test_format_ini(self):
        text = procs.format_ini({'DEFAULT': {'debug': True, 'x': False},
                                 'glance_store': {'stores': ['file', 'http'],
                                                  'n': 3}})
        parser = configparser.ConfigParser()
        parser.read_string(text)
        self.assertEqual('true', parser['DEFAULT']['debug'])
        self.assertEqual('false', parser['DEFAULT']['x'])
        self.assertEqual('file,http', parser['glance_store']['stores'])
        self.assertEqual('3', parser['glance_store']['n'])

    def test_write_ini_and_merge(self):
        merged = procs.merge_sections({'a': {'x': 1, 'y': 2}},
                                      {'a': {'y': 3}, 'b': {'z': 4}})
        self.assertEqual({'a': {'x': 1, 'y': 3}, 'b': {'z': 4}}, merged)
        self.assertEqual({'a': {}}, procs.merge_sections({'a': {}}, None))
        path = procs.write_ini(os.path.join(self.tmp, 'x.ini'), merged)
        parser = configparser.ConfigParser()
        parser.read(path)
        self.assertEqual('3', parser['a']['y'])
        self.assertEqual('4', parser['b']['z'])

    def test_write_repeated(self):
        path = procs.write_repeated(os.path.join(self.tmp, 'r'), b'abc', 7)
        with open(path, 'rb') as f:
            self.assertEqual(b'abcabca', f.read())
        # Shorter than one block, and empty.
        procs.write_repeated(path, b'abcdef', 2)
        with open(path, 'rb') as f:
            self.assertEqual(b'ab', f.read())
        procs.write_repeated(path, b'abc', 0)
        self.assertEqual(0, os.path.getsize(path))

    def test_tail(self):
        path = os.path.join(self.tmp, 'log')
        with open(path, 'w') as f:
            f.write(''.join('line %d\n' % i for i in range(100)))
        self.assertEqual('line 97\nline 98\nline 99', procs.tail(path, 3))
        # Only the end of a big file is read.
        self.assertEqual('line 99', procs.tail(path, 5, max_bytes=8))
        missing = procs.tail(os.path.join(self.tmp, 'nope'))
        self.assertIn('cannot read', missing)

    def test_bin_path(self):
        bindir = os.path.join(self.tmp, 'venv', 'bin')
        os.makedirs(bindir)
        python = os.path.join(bindir, 'python')
        script = os.path.join(bindir, 'gs-tool')
        for path in (python, script):
            with open(path, 'w') as f:
                f.write('#!/bin/sh\n')
            os.chmod(path, stat.S_IRWXU)
        self.assertEqual(script, procs.bin_path('gs-tool', python))
        self.assertEqual(os.path.realpath(subprocess.check_output(
            ['sh', '-c', 'command -v sh']).decode().strip()),
            os.path.realpath(procs.bin_path('sh', python)))
        self.assertRaises(FileNotFoundError, procs.bin_path,
                          'gs-no-such-tool', python)

    def test_free_port(self):
        port = procs.free_port()
        with socket.socket() as sock:
            sock.bind(('127.0.0.1', port))

    def test_run_logged(self):
        log = os.path.join(self.tmp, 'setup.log')
        rc = procs.run_logged([sys.executable, '-c', 'print("hello")'], log)
        self.assertEqual(0, rc)
        rc = procs.run_logged([sys.executable, '-c', 'raise SystemExit(3)'],
                              log)
        self.assertEqual(3, rc)
        with open(log) as f:
            text = f.read()
        self.assertIn('$ %s -c print("hello")\nhello\n' % sys.executable,
                      text)
        self.assertRaises(subprocess.TimeoutExpired, procs.run_logged,
                          [sys.executable, '-c', 'import time; '
                           'time.sleep(30)'], log, timeout=0.5)

    def test_spawn_logs_output_in_own_session(self):
        log = os.path.join(self.tmp, 'server.log')
        proc = procs.spawn([sys.executable, '-c',
                            'import os; print(os.getsid(0))'], log)
        self.assertEqual(0, proc.wait(30))
        with open(log) as f:
            self.assertEqual(str(proc.pid), f.read().strip())


class _Handler(http.server.BaseHTTPRequestHandler):

    def do_GET(self):
        status = 200 if self.path == '/ok' else 503
        self.send_response(status)
        self.send_header('Content-Length', '0')
        self.end_headers()

    def log_message(self, *args):
        pass


class TestWaitHttp(base.BaseTestCase):

    def setUp(self):
        super(TestWaitHttp, self).setUp()
        self.httpd = http.server.ThreadingHTTPServer(('127.0.0.1', 0),
                                                     _Handler)
        thread = threading.Thread(target=self.httpd.serve_forever,
                                  daemon=True)
        thread.start()
        self.addCleanup(thread.join)
        self.addCleanup(self.httpd.server_close)
        self.addCleanup(self.httpd.shutdown)
        self.base = 'http://127.0.0.1:%d' % self.httpd.server_address[1]

    def test_any_answer(self):
        self.assertEqual(503, procs.wait_http(self.base + '/x',
                                              time.monotonic() + 5))

    def test_accept(self):
        self.assertEqual(200, procs.wait_http(
            self.base + '/ok', time.monotonic() + 5,
            accept=lambda status: status == 200))
        e = self.assertRaises(TimeoutError, procs.wait_http,
                              self.base + '/x', time.monotonic() + 0.3,
                              accept=lambda status: status == 200)
        self.assertIn('last: HTTP 503', str(e))

    def test_nothing_listening(self):
        url = 'http://127.0.0.1:%d/' % procs.free_port()
        e = self.assertRaises(TimeoutError, procs.wait_http, url,
                              time.monotonic() + 0.3)
        self.assertIn(url, str(e))

    def test_process_exits(self):
        proc = subprocess.Popen([sys.executable, '-c',
                                 'raise SystemExit(4)'])
        proc.wait()
        url = 'http://127.0.0.1:%d/' % procs.free_port()
        e = self.assertRaises(procs.ProcessExited, procs.wait_http, url,
                              time.monotonic() + 30, [proc])
        self.assertIn('exited with code 4', str(e))
