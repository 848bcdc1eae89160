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

"""Glance's API under uWSGI on 127.0.0.1, for tests and CI jobs.

Glance 33 ships only a WSGI application (``glance.wsgi.api:application``);
this module deploys it under uWSGI from a configuration directory it
writes: ``glance-api.conf`` (sqlite database, the caller's sections
merged over a few defaults), a paste file (Glance's keystone pipeline
without ``authtoken``, or Glance's stock file for a real keystone), the
uWSGI ini and a probe module that records which ``glance_store`` the
server imported. The uWSGI master is stopped by PID (start time checked,
see ``tools/procs.py``).

Standard library only. Glance and uWSGI run from the environment of
``--python`` (default: the interpreter running this), so one interpreter
can start Glance from another virtualenv, e.g. upstream's::

    glance_wsgi.py start --workdir DIR --sections conf.json \\
        [--python VENV/bin/python] [--auth noauth|keystone] \\
        [--threads N] [--processes N] [--load-metadefs] [--any-library]
    glance_wsgi.py stop --workdir DIR

``conf.json`` holds ``{section: {option: value}}`` for glance-api.conf.
``start`` prints the URL and writes it, the PID and what the probe saw
to ``DIR/glance_wsgi.json``. Tests and other scripts import this module
(``tools/`` on ``sys.path``) and use :class:`GlanceWsgi`.
"""

import argparse
import contextlib
import functools
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time

import procs

APP_MODULE = 'glance.wsgi.api:application'
START_TIMEOUT = 120
STOP_TIMEOUT = 15

# The attribute this project's glance_store exports (upstream has none):
# the check that Glance runs this library and not the one it pulled in.
MARKER = 'IS_S3_CHECKSUM_DROPIN'

AUTH_NOAUTH = 'noauth'
AUTH_KEYSTONE = 'keystone'

# Glance's keystone pipeline minus ``authtoken``: the ``context`` filter
# builds the request context from the X-* headers the client sends.
NOAUTH_PIPELINE = ('cors http_proxy_to_wsgi versionnegotiation osprofiler '
                   'context rootapp')
NOAUTH_PASTE = """\
[composite:glance-api-{flavor}]
paste.composite_factory = glance.api:root_app_factory
/: api
/healthcheck: healthcheck

[composite:api]
paste.composite_factory = glance.api:pipeline_factory
{flavor} = {pipeline}

[composite:rootapp]
paste.composite_factory = glance.api:root_app_factory
/: apiversions
/v2: apiv2app

[app:apiversions]
paste.app_factory = glance.api.versions:create_resource

[app:apiv2app]
paste.app_factory = glance.api.v2.router:API.factory

[app:healthcheck]
paste.app_factory = oslo_middleware:Healthcheck.app_factory
backends = disable_by_file
disable_by_file_path = {workdir}/healthcheck_disable

[filter:versionnegotiation]
paste.filter_factory = \
glance.api.middleware.version_negotiation:VersionNegotiationFilter.factory

[filter:context]
paste.filter_factory = \
glance.api.middleware.context:ContextMiddleware.factory

[filter:osprofiler]
paste.filter_factory = osprofiler.web:WsgiMiddleware.factory

[filter:cors]
paste.filter_factory = oslo_middleware.cors:filter_factory
oslo_config_project = glance
oslo_config_program = glance-api

[filter:http_proxy_to_wsgi]
paste.filter_factory = oslo_middleware:HTTPProxyToWSGI.factory
"""

# Imported by uWSGI in the server before the application: what the
# server's interpreter really loads.
PROBE_MODULE = 'glance_store_probe'
PROBE_SOURCE = """\
import json
import os
import sys
import sysconfig

import glance_store

try:
    from importlib import metadata
    _version = metadata.version('glance_store')
except Exception:
    _version = None

_here = os.path.dirname(os.path.abspath(__file__))
with open(os.path.join(_here, 'glance_store_probe.json'), 'w') as f:
    json.dump({
        'file': glance_store.__file__,
        'version': _version,
        'marker': getattr(glance_store, %r, None) is True,
        'prefix': sys.prefix,
        'site_dirs': sorted({sysconfig.get_paths()[k]
                             for k in ('purelib', 'platlib')}),
    }, f)
""" % MARKER

# Imported by uWSGI before the application (Glance's and keystone's).
SQLITE_MODULE = 'sqlite_begin_immediate'
SQLITE_SOURCE = """\
from sqlalchemy import event
from sqlalchemy.engine import Engine


# sqlite under concurrent requests: a transaction that reads and then
# writes cannot wait for the lock (SQLITE_BUSY at once, whatever the busy
# timeout). oslo.db starts each transaction with a plain BEGIN; make it
# BEGIN IMMEDIATE, which takes the write lock first, so that concurrent
# transactions wait for each other (busy timeout) instead of failing with
# "database is locked". Test deployments only.
@event.listens_for(Engine, 'before_cursor_execute', retval=True)
def _begin_immediate(conn, cursor, statement, parameters, context,
                     executemany):
    if conn.dialect.name == 'sqlite' and statement.strip() == 'BEGIN':
        statement = 'BEGIN IMMEDIATE'
    return statement, parameters
"""


class LauncherError(Exception):
    """Glance could not be set up or started; the message says why."""


def python_prefixes(python=None):
    """``sys.prefix`` and ``sys.base_prefix`` of an interpreter.

    :param python: the interpreter (default: the running one)
    :returns: (prefix, base_prefix)
    :raises LauncherError: if the interpreter cannot be run
    """
    if python is None or python == sys.executable:
        return sys.prefix, sys.base_prefix
    try:
        out = subprocess.run(
            [python, '-c', 'import sys; print(sys.prefix); '
                           'print(sys.base_prefix)'],
            capture_output=True, text=True, timeout=60, check=True)
    except (OSError, subprocess.SubprocessError) as e:
        raise LauncherError('cannot run %s: %s' % (python, e))
    prefix, base = out.stdout.splitlines()[:2]
    return prefix, base


@functools.lru_cache(maxsize=None)
def missing_requirements(python=None):
    """Say what is missing to run Glance from an environment.

    :param python: the interpreter whose environment runs Glance
    :returns: a sentence, or None if nothing is missing
    """
    python = python or sys.executable
    missing = []
    check = subprocess.run([python, '-c', 'import glance.wsgi'],
                           capture_output=True, text=True, timeout=120)
    if check.returncode != 0:
        lines = check.stderr.strip().splitlines() or ['?']
        missing.append('the glance package (%s)' % lines[-1])
    for script in ('uwsgi', 'glance-manage'):
        try:
            procs.bin_path(script, python)
        except FileNotFoundError:
            missing.append('the %s executable' % script)
    return ', '.join(missing) or None


def uwsgi_options(module, port, directory, env=None, imports=(), threads=4,
                  processes=1, virtualenv=None):
    """uWSGI options for a WSGI application on 127.0.0.1.

    Chunked request bodies are passed to the application (Glance streams
    uploads of unknown size); responses say ``Connection: close`` because
    uWSGI's http-socket closes the connection after each response, and a
    client reusing it would get "connection reset". SIGINT stops the
    master and its workers at once (see :meth:`GlanceWsgi.stop`).

    :param module: ``package.module:application``
    :param port: the port on 127.0.0.1
    :param directory: working directory, also on the Python path (for the
                      modules of ``imports``)
    :param env: dict of environment variables of the application
    :param imports: modules imported before the application
    :param threads: threads per worker process
    :param processes: worker processes
    :param virtualenv: prefix of the virtualenv the application runs from
                       (None: the interpreter uWSGI was built for)
    :returns: list of (option, value)
    """
    options = [
        ('module', module),
        ('http-socket', '127.0.0.1:%d' % port),
        ('http-chunked-input', 'true'),
        ('http-auto-chunked', 'true'),
        ('lazy-apps', 'true'),
        ('need-app', 'true'),
        ('master', 'true'),
        ('die-on-term', 'true'),
        ('no-orphans', 'true'),
        ('processes', str(processes)),
        ('threads', str(threads)),
        ('enable-threads', 'true'),
        ('buffer-size', '65535'),
        ('add-header', 'Connection: close'),
        ('chdir', directory),
        ('pythonpath', directory),
    ]
    options += [('env', '%s=%s' % kv) for kv in (env or {}).items()]
    if virtualenv:
        options.append(('virtualenv', virtualenv))
    options += [('import', name) for name in imports]
    return options


def write_uwsgi_ini(path, options):
    """Write uWSGI options as an ini file.

    :param path: the file
    :param options: list of (option, value), see :func:`uwsgi_options`
    :returns: the path
    """
    with open(path, 'w') as f:
        f.write('[uwsgi]\n')
        for key, value in options:
            f.write('%s = %s\n' % (key, value))
    return path


def write_sqlite_module(directory):
    """Write the module making oslo.db's sqlite transactions immediate.

    :param directory: where (a directory on the server's Python path)
    :returns: the module's name, for uWSGI's ``import``
    """
    with open(os.path.join(directory, SQLITE_MODULE + '.py'), 'w') as f:
        f.write(SQLITE_SOURCE)
    return SQLITE_MODULE


def use_wal(path):
    """Switch a sqlite database to write-ahead logging (kept in the file).

    Readers then never block the writer: with the busy timeout of the
    connection URL, concurrent requests wait instead of failing with
    "database is locked".

    :param path: the database file
    """
    with contextlib.closing(sqlite3.connect(path)) as db:
        db.execute('PRAGMA journal_mode=WAL')


def s3_store_options(server, bucket, endpoint, cacert=None, **extra):
    """``s3_store_*`` options of a Glance S3 backend on one bucket.

    :param server: a server's description from ``tools/s3_servers.py``
        (its ``access_key``, ``secret_key`` and ``region``)
    :param bucket: the bucket, made beforehand (creating buckets on put
        is off)
    :param endpoint: the URL Glance reaches the server at
    :param cacert: the CA bundle of an HTTPS endpoint (None: not set)
    :param extra: more ``s3_store_*`` options, set last
    :returns: dict of option name -> value
    """
    options = {
        's3_store_host': endpoint,
        's3_store_access_key': server['access_key'],
        's3_store_secret_key': server['secret_key'],
        's3_store_region_name': server.get('region') or 'us-east-1',
        's3_store_bucket': bucket,
        's3_store_bucket_url_format': 'path',
        's3_store_create_bucket_on_put': False,
    }
    if cacert:
        options['s3_store_cacert'] = cacert
    options.update(extra)
    return options


def check_library(probe, expect_ours=True):
    """Fail unless the server imported this project's installed library.

    :param probe: what the probe module recorded (see :meth:`GlanceWsgi.
                  probe`)
    :param expect_ours: False accepts any glance_store (a job running
                        upstream's on purpose): nothing is checked
    :raises LauncherError: naming the package the server loaded
    """
    if not expect_ours:
        return
    package = os.path.dirname(probe['file'])
    if not probe['marker']:
        raise LauncherError(
            'Glance loaded a glance_store without %s from %s (upstream '
            'glance-store?), not this project' % (MARKER, package))
    site_dirs = {os.path.realpath(d) for d in probe['site_dirs']}
    if os.path.realpath(os.path.dirname(package)) not in site_dirs:
        raise LauncherError(
            'Glance loaded glance_store from %s, not from the site-packages '
            'of %s (%s)' % (package, probe['prefix'],
                            ', '.join(sorted(site_dirs))))


def _create_dirs(sections):
    for options in sections.values():
        for key in ('filesystem_store_datadir', 'lock_path'):
            if options.get(key):
                os.makedirs(options[key], exist_ok=True)
        staging = str(options.get('node_staging_uri', ''))
        if staging.startswith('file://'):
            os.makedirs(staging[len('file://'):], exist_ok=True)


class GlanceWsgi(object):
    """One Glance API (a uWSGI master and its workers) in a directory.

    :param workdir: directory owned by the caller: database, locks, logs
                    and (``confdir``) the configuration
    :param sections: glance-api.conf as ``{section: {option: value}}``,
                     merged over :meth:`base_sections`
    :param auth: ``noauth`` (no keystone: requests carry the identity
                 headers keystonemiddleware would set) or ``keystone``
                 (Glance's stock paste file; give ``keystone_authtoken``
                 in sections)
    :param python: interpreter whose environment has Glance and uWSGI
                   (default: the running one)
    :param threads: threads per uWSGI worker
    :param processes: uWSGI worker processes
    :param port: port on 127.0.0.1 (default: a free one)
    :param load_metadefs: load Glance's metadata definitions after
                          db_sync (tempest's metadefs tests need them)
    :param confdir: configuration directory (default ``workdir/etc``)
    :param log_path: the server's log (default ``workdir/glance-api.log``)
    """

    def __init__(self, workdir, sections=None, auth=AUTH_NOAUTH, python=None,
                 threads=4, processes=1, port=None, load_metadefs=False,
                 confdir=None, log_path=None):
        if auth not in (AUTH_NOAUTH, AUTH_KEYSTONE):
            raise ValueError('auth must be %s or %s'
                             % (AUTH_NOAUTH, AUTH_KEYSTONE))
        self.workdir = os.path.abspath(workdir)
        self.confdir = os.path.abspath(confdir or os.path.join(self.workdir,
                                                               'etc'))
        self.sections = sections or {}
        self.auth = auth
        self.python = python or sys.executable
        self.threads = threads
        self.processes = processes
        self.port = port or procs.free_port()
        self.load_metadefs = load_metadefs
        self.log_path = log_path or os.path.join(self.workdir,
                                                 'glance-api.log')
        self.setup_log = os.path.join(self.workdir, 'glance-setup.log')
        self.state_path = os.path.join(self.workdir, 'glance_wsgi.json')
        self.process = None
        self.pid = None
        self.start_time = None
        self._prefixes = None

    @property
    def url(self):
        """``http://127.0.0.1:PORT``"""
        return 'http://127.0.0.1:%d' % self.port

    @property
    def conf_path(self):
        """The glance-api.conf the server reads."""
        return os.path.join(self.confdir, 'glance-api.conf')

    @property
    def paste_path(self):
        """The paste file the server reads."""
        return os.path.join(self.confdir, 'glance-api-paste.ini')

    @property
    def db_path(self):
        """The sqlite database file."""
        return os.path.join(self.workdir, 'glance.sqlite')

    def prefixes(self):
        """(prefix, base prefix) of the server's interpreter, cached."""
        if self._prefixes is None:
            self._prefixes = python_prefixes(self.python)
        return self._prefixes

    def base_sections(self):
        """The options every deployment gets, before the caller's."""
        return {
            'DEFAULT': {'debug': True, 'use_stderr': True},
            # A busy timeout: concurrent writers wait instead of failing.
            'database': {'connection': 'sqlite:///%s?timeout=60'
                         % self.db_path},
            'paste_deploy': {'flavor': self.auth,
                             'config_file': self.paste_path},
            'oslo_concurrency': {'lock_path': os.path.join(self.workdir,
                                                           'locks')},
        }

    def conf_sections(self):
        """The whole glance-api.conf: defaults, then the caller's."""
        return procs.merge_sections(self.base_sections(), self.sections)

    def _stock_file(self, *parts):
        path = os.path.join(self.prefixes()[0], 'etc', 'glance', *parts)
        if not os.path.exists(path):
            raise LauncherError('%s not found (is Glance installed in %s?)'
                                % (path, self.prefixes()[0]))
        return path

    def write_config(self, sections=None):
        """Write glance-api.conf, the paste file and the probe module.

        :param sections: new caller's sections (e.g. another default
                         backend before a restart); None keeps them
        :raises LauncherError: if the stock paste file is missing
        """
        if sections is not None:
            self.sections = sections
        os.makedirs(self.confdir, exist_ok=True)
        conf = self.conf_sections()
        _create_dirs(conf)
        procs.write_ini(self.conf_path, conf)
        if self.auth == AUTH_KEYSTONE:
            shutil.copy(self._stock_file('glance-api-paste.ini'),
                        self.paste_path)
        else:
            with open(self.paste_path, 'w') as f:
                f.write(NOAUTH_PASTE.format(flavor=AUTH_NOAUTH,
                                            pipeline=NOAUTH_PIPELINE,
                                            workdir=self.workdir))
        with open(os.path.join(self.confdir, PROBE_MODULE + '.py'),
                  'w') as f:
            f.write(PROBE_SOURCE)
        write_sqlite_module(self.confdir)

    def _manage(self, *args):
        cmd = [procs.bin_path('glance-manage', self.python), '--config-file',
               self.conf_path] + list(args)
        try:
            rc = procs.run_logged(cmd, self.setup_log, cwd=self.workdir,
                                  env=self.server_env())
        except subprocess.TimeoutExpired:
            rc = 'a timeout'
        if rc != 0:
            raise LauncherError('glance-manage %s failed (%s):\n%s' % (
                args[0], rc, procs.tail(self.setup_log, 40)))

    def db_sync(self):
        """Create the database (and load the metadefs if asked).

        :raises LauncherError: with the end of the set-up log
        """
        self._manage('db_sync')
        use_wal(self.db_path)
        if self.load_metadefs:
            self._manage('db_load_metadefs', self._stock_file('metadefs'))

    def prepare(self):
        """:meth:`write_config` then :meth:`db_sync`."""
        self.write_config()
        self.db_sync()

    def server_env(self):
        """The environment of Glance's processes.

        Glance reads its configuration directory from
        ``OS_GLANCE_CONFIG_DIR``; ``PYTHONPATH`` is dropped so that the
        server imports what is installed, never a source tree.
        """
        env = dict(os.environ, OS_GLANCE_CONFIG_DIR=self.confdir)
        env.pop('PYTHONPATH', None)
        return env

    def write_uwsgi_ini(self):
        """Write the uWSGI ini file; returns its path."""
        prefix, base = self.prefixes()
        options = uwsgi_options(
            APP_MODULE, self.port, self.confdir,
            env={'OS_GLANCE_CONFIG_DIR': self.confdir},
            imports=(SQLITE_MODULE, PROBE_MODULE), threads=self.threads,
            processes=self.processes,
            virtualenv=prefix if prefix != base else None)
        return write_uwsgi_ini(os.path.join(self.confdir, 'uwsgi.ini'),
                               options)

    def _save_state(self, probe=None):
        state = {'url': self.url, 'port': self.port, 'pid': self.pid,
                 'start_time': self.start_time, 'python': self.python,
                 'probe': probe}
        with open(self.state_path + '.tmp', 'w') as f:
            json.dump(state, f, indent=2)
        os.replace(self.state_path + '.tmp', self.state_path)

    def start(self, timeout=START_TIMEOUT):
        """Start uWSGI and wait until ``/versions`` answers 200.

        The configuration must have been written (:meth:`prepare`).

        :param timeout: seconds to wait for the first answer
        :returns: the URL
        :raises LauncherError: if uWSGI exits or does not answer in time
                               (the server is stopped, the log's end is in
                               the message)
        """
        with contextlib.suppress(FileNotFoundError):
            os.remove(self.probe_path)
        ini = self.write_uwsgi_ini()
        self.process = procs.spawn(
            [procs.bin_path('uwsgi', self.python), '--ini', ini],
            self.log_path, env=self.server_env(), cwd=self.workdir)
        self.pid, self.start_time = procs.record(self.process.pid)
        self._save_state()
        try:
            procs.wait_http(self.url + '/versions',
                            time.monotonic() + timeout, [self.process],
                            accept=lambda status: status == 200)
        except (procs.ProcessExited, TimeoutError) as e:
            self.stop()
            raise LauncherError('Glance did not start: %s:\n%s'
                                % (e, procs.tail(self.log_path, 60)))
        self._save_state(self.probe())
        return self.url

    def stop(self, timeout=STOP_TIMEOUT):
        """Stop the uWSGI master (SIGINT: workers end at once) by PID.

        :param timeout: seconds before SIGKILL
        :returns: a list of :class:`procs.Stopped` (empty if it was not
                  running)
        """
        if self.pid is None:
            return []
        stopped = procs.stop_pids([self.pid], {self.pid: self.start_time},
                                  timeout=timeout,
                                  signals={self.pid: signal.SIGINT})
        if self.process is not None:
            self.process.poll()  # settles the Popen after the reap
        self.process = self.pid = self.start_time = None
        return stopped

    @property
    def probe_path(self):
        """Where the probe module records what the server imported."""
        return os.path.join(self.confdir, PROBE_MODULE + '.json')

    def probe(self):
        """What the server imported: glance_store's file, version, marker.

        :returns: dict (``file``, ``version``, ``marker``, ``prefix``,
                  ``site_dirs``)
        :raises LauncherError: if the server has not written it
        """
        try:
            with open(self.probe_path) as f:
                return json.load(f)
        except (OSError, ValueError) as e:
            raise LauncherError('no record of the glance_store Glance '
                                'loaded (%s)' % e)

    def check_library(self, expect_ours=True):
        """:func:`check_library` on this server's probe.

        :param expect_ours: False accepts any glance_store
        :returns: the probe
        :raises LauncherError: if the server runs another library
        """
        probe = self.probe()
        check_library(probe, expect_ours)
        return probe

    def log_tail(self, lines=80):
        """The end of the server's log."""
        return procs.tail(self.log_path, lines)


def stop_workdir(workdir, timeout=STOP_TIMEOUT):
    """Stop the server whose state ``glance_wsgi.py start`` wrote.

    :param workdir: the ``--workdir`` of the start
    :param timeout: seconds before SIGKILL
    :returns: a list of :class:`procs.Stopped`
    """
    path = os.path.join(os.path.abspath(workdir), 'glance_wsgi.json')
    try:
        with open(path) as f:
            state = json.load(f)
    except FileNotFoundError:
        return []
    pid = state.get('pid')
    if pid is None:
        return []
    return procs.stop_pids([pid], {pid: state.get('start_time')},
                           timeout=timeout, signals={pid: signal.SIGINT})


def _cmd_start(args):
    with open(args.sections) as f:
        sections = json.load(f)
    server = GlanceWsgi(args.workdir, sections, auth=args.auth,
                        python=args.python, threads=args.threads,
                        processes=args.processes,
                        load_metadefs=args.load_metadefs)
    os.makedirs(server.workdir, exist_ok=True)
    server.prepare()
    server.start()
    try:
        probe = server.check_library(expect_ours=not args.any_library)
    except LauncherError:
        server.stop()
        raise
    print('glance_wsgi: Glance at %s (pid %d) runs glance_store %s from %s'
          % (server.url, server.pid, probe['version'],
             os.path.dirname(probe['file'])), flush=True)
    return 0


def _cmd_stop(args):
    stopped = stop_workdir(args.workdir)
    print('glance_wsgi: stopped %s' % procs.describe(stopped), flush=True)
    return 0


def main(argv=None):
    """The command line (see the module's docstring).

    :param argv: arguments (default: ``sys.argv[1:]``)
    :returns: the exit code
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest='action', required=True)
    p_start = sub.add_parser('start', help='configure and start Glance')
    p_start.add_argument('--workdir', required=True)
    p_start.add_argument('--sections', required=True,
                         help='JSON file: {section: {option: value}}')
    p_start.add_argument('--python', default=sys.executable,
                         help='interpreter of the environment with Glance '
                              'and uWSGI (default: %(default)s)')
    p_start.add_argument('--auth', choices=(AUTH_NOAUTH, AUTH_KEYSTONE),
                         default=AUTH_NOAUTH)
    p_start.add_argument('--threads', type=int, default=4)
    p_start.add_argument('--processes', type=int, default=1)
    p_start.add_argument('--load-metadefs', action='store_true')
    p_start.add_argument('--any-library', action='store_true',
                         help="accept any glance_store (upstream's, or "
                              "one from a source tree)")
    p_stop = sub.add_parser('stop', help='stop what start started')
    p_stop.add_argument('--workdir', required=True)
    args = parser.parse_args(argv)
    try:
        return {'start': _cmd_start, 'stop': _cmd_stop}[args.action](args)
    except (LauncherError, OSError) as e:
        print('glance_wsgi: error: %s' % e, file=sys.stderr, flush=True)
        return 1


if __name__ == '__main__':
    sys.exit(main())
