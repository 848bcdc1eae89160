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

"""Keystone + Glance on this library, on 127.0.0.1, and tempest against it.

Runs inside the ``functional-tempest`` tox environment (glance 33,
keystone 30, tempest 47, uwsgi), under ``tools/s3_servers.py run
--servers rgw,localstack``, which exports ``GS_FUNC_SERVERS`` (the JSON
file describing the running S3 servers).

Usage::

    tempest_env.py start --workdir DIR [--default-backend NAME]
    tempest_env.py stop --workdir DIR
    tempest_env.py run [--workdir DIR] [--all-passes | --passes a,b]

``start`` brings up an HTTP server with a small qcow2 image, keystone and
Glance (both under uwsgi) and writes ``DIR/tempest/etc/tempest.conf``;
every process it starts is recorded by PID in ``DIR/env.json`` and
``stop`` stops exactly those. ``run`` starts, runs tempest's
``tempest.api.image`` once per pass (each pass with another
``default_backend``; Glance is restarted between passes), runs this
project's tempest plugin once, prints a summary and always stops what it
started.
"""

import argparse
import contextlib
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

import glance_wsgi  # tools/glance_wsgi.py, beside this script
import procs  # tools/procs.py, beside this script
import s3_servers  # tools/s3_servers.py, beside this script

# The passes CI runs and the ones --all-passes runs: one per S3 backend.
CI_PASSES = ('rgw_default', 'aws_always')
S3_BACKENDS = ('aws_always', 'aws_supported', 'rgw_always', 'rgw_default')

REGION = 'RegionOne'
# Throw-away passwords of a loopback-only test deployment.
ADMIN_PASSWORD = 'tempest-admin-pw'
GLANCE_PASSWORD = 'tempest-glance-pw'

# Multipart threshold and part size of every S3 backend, in MiB (the
# driver's options take MB), small enough for the plugin to go above it.
S3_LARGE_OBJECT_MB = 5

START_TIMEOUT = 180
STOP_TIMEOUT = 8
# The processes that are uWSGI masters (stopped with SIGINT).
UWSGI_SERVERS = ('glance', 'keystone')
PASS_TIMEOUT = 1800
TEST_TIMEOUT = 1200

# tempest.api.image tests excluded on purpose: each needs something one
# loopback machine with only keystone and Glance cannot provide, and would
# fail rather than skip. Tests that need a feature not configured here
# (nova, a second region, the cache, store weights, the images manifest)
# skip themselves and are listed with tempest's reason in the summary.
# Kept in step with doc/source/contributor/tempest.rst.
EXCLUDED = (
    (r'HashCalculationRemoteDeletionTest',
     'starts its own HTTP server on a non-loopback address (servers here '
     'listen on 127.0.0.1 only)'),
)


def log(message):
    print('tempest_env: %s' % message, flush=True)


class EnvError(Exception):
    """The deployment could not be brought up; the message says why."""


def run_cmd(args, log_path, timeout=300, env=None, cwd=None):
    """Run a set-up command, its output appended to log_path."""
    returncode = procs.run_logged(args, log_path, timeout, env, cwd)
    if returncode != 0:
        raise EnvError('%s failed with code %d; see %s:\n%s'
                       % (' '.join(args[:3]), returncode, log_path,
                          procs.tail(log_path, 40)))


def http_json(method, url, body=None, token=None, expect=(200, 201, 204)):
    """A JSON request without proxies; returns (headers, parsed body)."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header('Content-Type', 'application/json')
    if token:
        req.add_header('X-Auth-Token', token)
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(req, timeout=60) as resp:
            raw = resp.read()
            status, headers = resp.status, resp.headers
    except urllib.error.HTTPError as e:
        raw, status, headers = e.read(), e.code, e.headers
    if status not in expect:
        raise EnvError('%s %s: %d %s' % (method, url, status,
                                         raw[:500].decode('utf-8',
                                                          'replace')))
    return headers, (json.loads(raw) if raw else None)


def wait_http(url, proc, name, log_path, timeout=START_TIMEOUT):
    """Wait until url answers below 500 while proc runs (else EnvError)."""
    try:
        procs.wait_http(url, time.monotonic() + timeout, [proc],
                        accept=lambda status: status < 500)
    except (procs.ProcessExited, TimeoutError) as e:
        raise EnvError('%s: %s:\n%s' % (name, e, procs.tail(log_path, 40)))


class Env(object):
    """One deployment in a work directory, its PIDs in env.json.

    :param workdir: directory for configuration, databases, logs
    :param servers: dict from GS_FUNC_SERVERS ({'rgw': {...},
                    'localstack': {...}}), or None when reloading
    """

    def __init__(self, workdir, servers=None):
        self.workdir = os.path.abspath(workdir)
        self.state_path = os.path.join(self.workdir, 'env.json')
        self.state = {'pids': {}}
        if os.path.exists(self.state_path):
            with open(self.state_path) as f:
                self.state = json.load(f)
        if servers is not None:
            self.state['servers'] = servers
        self.logdir = os.path.join(self.workdir, 'log')

    # --- bookkeeping ---

    def save(self):
        with open(self.state_path + '.tmp', 'w') as f:
            json.dump(self.state, f, indent=2)
        os.replace(self.state_path + '.tmp', self.state_path)

    def spawn(self, name, args, env=None, cwd=None):
        """Start a long-running process and record its PID at once."""
        log_path = os.path.join(self.logdir, '%s.log' % name)
        proc = procs.spawn(args, log_path, env=env, cwd=cwd or self.workdir)
        self.record(name, proc.pid)
        return proc, log_path

    def record(self, name, pid):
        """Record a process to stop (PID and start time) in env.json."""
        self.state['pids'][name] = list(procs.record(pid))
        self.save()

    def stop_one(self, name):
        self.stop_names([name])

    def stop_names(self, names):
        """Stop recorded processes (never others) at once, then wait.

        uwsgi masters get SIGINT (they kill their workers and exit at once;
        SIGTERM would wait for busy workers), the others SIGTERM; whatever
        is still alive after STOP_TIMEOUT gets SIGKILL. Everything is over
        well within the 15 s tools/s3_servers.py grants its command on a
        signal.
        """
        recorded = {n: self.state['pids'][n] for n in names
                    if n in self.state['pids']}
        names_of = {pid: n for n, (pid, _started) in recorded.items()}
        stopped = procs.stop_pids(
            [pid for pid, _started in recorded.values()],
            {pid: started for pid, started in recorded.values()},
            timeout=STOP_TIMEOUT, in_order=False,
            signals={pid: signal.SIGINT for n, (pid, _s) in recorded.items()
                     if n in UWSGI_SERVERS})
        for item in stopped:
            log('stopped %s (pid %d%s)' % (names_of[item.pid], item.pid,
                                           ', killed' if item.killed else ''))
        for name in recorded:
            self.state['pids'].pop(name, None)
        self.save()

    def stop(self):
        """Stop every process this deployment recorded."""
        self.stop_names(list(self.state['pids']))

    # --- pieces ---

    def start_httpd(self):
        """A static HTTP server with a small valid qcow2 (web-download)."""
        root = os.path.join(self.workdir, 'www')
        os.makedirs(root, exist_ok=True)
        image = os.path.join(root, 'cirros-like.qcow2')
        run_cmd(['qemu-img', 'create', '-f', 'qcow2', image, '1M'],
                os.path.join(self.logdir, 'setup.log'))
        port = procs.free_port()
        proc, log_path = self.spawn(
            'httpd', [sys.executable, '-m', 'http.server', '--bind',
                      '127.0.0.1', '--directory', root, str(port)])
        url = 'http://127.0.0.1:%d' % port
        self.state['http_image'] = url + '/cirros-like.qcow2'
        self.state['http_port'] = port
        wait_http(self.state['http_image'], proc, 'httpd', log_path)

    def _server_env(self, extra):
        env = dict(os.environ)
        # Servers import what is installed, never a source tree.
        env.pop('PYTHONPATH', None)
        env.update(extra)
        return env

    def start_keystone(self):
        kdir = os.path.join(self.workdir, 'keystone')
        for sub in ('fernet-keys', 'credential-keys'):
            os.makedirs(os.path.join(kdir, sub), exist_ok=True)
        port = procs.free_port()
        url = 'http://127.0.0.1:%d' % port
        conf = os.path.join(kdir, 'keystone.conf')
        procs.write_ini(conf, {
                'DEFAULT': {'debug': False, 'use_stderr': True},
                'database': {'connection': 'sqlite:///%s?timeout=60'
                             % os.path.join(kdir, 'keystone.sqlite')},
                'token': {'provider': 'fernet'},
                'fernet_tokens': {'key_repository': os.path.join(
                    kdir, 'fernet-keys')},
                'credential': {'key_repository': os.path.join(
                    kdir, 'credential-keys')},
        })
        manage = [procs.bin_path('keystone-manage'), '--config-file', conf]
        setup_log = os.path.join(self.logdir, 'keystone-setup.log')
        user = ['--keystone-user', str(os.getuid()),
                '--keystone-group', str(os.getgid())]
        run_cmd(manage + ['db_sync'], setup_log)
        glance_wsgi.use_wal(os.path.join(kdir, 'keystone.sqlite'))
        run_cmd(manage + ['fernet_setup'] + user, setup_log)
        run_cmd(manage + ['credential_setup'] + user, setup_log)
        run_cmd(manage + [
            'bootstrap', '--bootstrap-password', ADMIN_PASSWORD,
            '--bootstrap-admin-url', url + '/v3',
            '--bootstrap-internal-url', url + '/v3',
            '--bootstrap-public-url', url + '/v3',
            '--bootstrap-region-id', REGION], setup_log)
        env = {'OS_KEYSTONE_CONFIG_FILES': conf}
        ini = glance_wsgi.write_uwsgi_ini(
            os.path.join(kdir, 'uwsgi.ini'), glance_wsgi.uwsgi_options(
                'keystone.wsgi.api:application', port, kdir, env=env,
                imports=[glance_wsgi.write_sqlite_module(kdir)],
                virtualenv=(sys.prefix if sys.prefix != sys.base_prefix
                            else None)))
        proc, log_path = self.spawn(
            'keystone', [procs.bin_path('uwsgi'), '--ini', ini],
            env=self._server_env(env))
        wait_http(url + '/v3', proc, 'keystone', log_path)
        self.state['keystone_url'] = url
        self.save()

    def keystone_token(self):
        body = {'auth': {
            'identity': {'methods': ['password'], 'password': {'user': {
                'name': 'admin', 'domain': {'id': 'default'},
                'password': ADMIN_PASSWORD}}},
            'scope': {'project': {'name': 'admin',
                                  'domain': {'id': 'default'}}}}}
        headers, _body = http_json(
            'POST', self.state['keystone_url'] + '/v3/auth/tokens', body)
        return headers['X-Subject-Token']

    def _find_or_create(self, token, kind, name, body):
        base = self.state['keystone_url'] + '/v3/' + kind
        _h, found = http_json('GET', base + '?name=' + name, token=token)
        if found[kind]:
            return found[kind][0]['id']
        _h, made = http_json('POST', base, {kind[:-1]: body}, token=token)
        return made[kind[:-1]]['id']

    def register_glance(self, glance_url):
        """Service project, glance user, image service and endpoints."""
        token = self.keystone_token()
        base = self.state['keystone_url'] + '/v3'
        project = self._find_or_create(token, 'projects', 'service', {
            'name': 'service', 'domain_id': 'default'})
        user = self._find_or_create(token, 'users', 'glance', {
            'name': 'glance', 'domain_id': 'default',
            'password': GLANCE_PASSWORD})
        for role_name in ('service', 'admin'):
            role = self._find_or_create(token, 'roles', role_name,
                                        {'name': role_name})
            http_json('PUT', '%s/projects/%s/users/%s/roles/%s'
                      % (base, project, user, role), token=token)
        _h, services = http_json('GET', base + '/services?type=image',
                                 token=token)
        for service in services['services']:
            http_json('DELETE', base + '/services/' + service['id'],
                      token=token)
        _h, made = http_json('POST', base + '/services', {'service': {
            'type': 'image', 'name': 'glance'}}, token=token)
        for interface in ('public', 'internal', 'admin'):
            http_json('POST', base + '/endpoints', {'endpoint': {
                'service_id': made['service']['id'], 'interface': interface,
                'region_id': REGION, 'url': glance_url}}, token=token)

    def s3_backend(self, name, server, endpoint, checksums):
        opts = {
            # One bucket per backend (no underscores in bucket names).
            's3_store_bucket': 'gs-tempest-%s' % name.replace('_', '-'),
            's3_store_host': server[endpoint],
            's3_store_cacert': server['ca_bundle'],
            's3_store_access_key': server['access_key'],
            's3_store_secret_key': server['secret_key'],
            's3_store_region_name': server.get('region') or 'us-east-1',
            's3_store_bucket_url_format': 'path',
            's3_store_create_bucket_on_put': True,
            's3_store_large_object_size': S3_LARGE_OBJECT_MB,
            's3_store_large_object_chunk_size': S3_LARGE_OBJECT_MB,
        }
        opts.update(checksums)
        return opts

    def glance_sections(self, default_backend):
        gdir = os.path.join(self.workdir, 'glance')
        servers = self.state['servers']
        rgw, aws = servers['rgw'], servers['localstack']
        on = {'s3_store_enable_data_integrity_protection': True}

        def always(algorithm):
            return dict(on, s3_store_request_checksum_calculation='always',
                        s3_store_response_checksum_validation='always',
                        s3_store_checksum_algorithm=algorithm)

        supported = dict(
            on, s3_store_request_checksum_calculation='when_supported',
            s3_store_response_checksum_validation='when_supported')
        s3 = {
            'aws_always': (aws, always('CRC64NVME')),
            'aws_supported': (aws, supported),
            'rgw_always': (rgw, always('CRC32')),
            'rgw_default': (rgw, {}),
        }
        backends = {name: ('s3', self.s3_backend(name, server,
                                                 'https_endpoint', opts))
                    for name, (server, opts) in s3.items()}
        backends['file'] = ('file', {'filesystem_store_datadir': os.path.join(
            gdir, 'images')})
        backends['web'] = ('http', {})
        descriptions = {
            'aws_always': 'LocalStack S3, checksums always (CRC64NVME)',
            'aws_supported': 'LocalStack S3, checksums when_supported',
            'file': 'local file system',
            'rgw_always': 'Ceph RGW, checksums always (CRC32)',
            'rgw_default': 'Ceph RGW, checksum options at their defaults',
            'web': 'read-only http store',
        }
        # Alphabetical: tempest compares an image's stores sorted.
        names = sorted(backends)
        keystone = self.state['keystone_url']
        sections = {
            'DEFAULT': {
                'enabled_backends': ['%s:%s' % (n, backends[n][0])
                                     for n in names],
                'enabled_import_methods': '[glance-direct,web-download,'
                                          'copy-image]',
                'show_image_direct_url': True,
                'show_multiple_locations': True,
            },
            'glance_store': {'default_backend': default_backend},
            'keystone_authtoken': {
                'www_authenticate_uri': keystone + '/v3',
                'auth_url': keystone + '/v3',
                'auth_type': 'password',
                'project_domain_id': 'default',
                'user_domain_id': 'default',
                'project_name': 'service',
                'username': 'glance',
                'password': GLANCE_PASSWORD,
                'region_name': REGION,
            },
            'oslo_policy': {'enforce_new_defaults': True,
                            'enforce_scope': True},
            'import_filtering_opts': {
                # Bracketed lists in Glance's option type.
                'allowed_hosts': '[127.0.0.1]',
                'allowed_ports': '[%d]' % self.state['http_port']},
        }
        for name in names:
            opts = dict(backends[name][1])
            opts['store_description'] = descriptions[name]
            sections[name] = opts
        for reserved in ('os_glance_staging_store', 'os_glance_tasks_store'):
            sections[reserved] = {'filesystem_store_datadir': os.path.join(
                gdir, reserved)}
        return sections

    def glance(self):
        """The Glance launcher of this deployment (tools/glance_wsgi.py).

        Glance runs from this interpreter's environment with Glance's stock
        paste file (keystone), 4 threads in one process, the metadata
        definitions loaded (tempest's metadefs tests need them).
        """
        gdir = os.path.join(self.workdir, 'glance')
        return glance_wsgi.GlanceWsgi(
            gdir, auth=glance_wsgi.AUTH_KEYSTONE,
            port=self.state['glance_port'], load_metadefs=True, confdir=gdir,
            log_path=os.path.join(self.logdir, 'glance.log'))

    def write_glance_conf(self, glance, default_backend):
        sections = self.glance_sections(default_backend)
        glance.write_config(sections)
        self.state['default_backend'] = default_backend
        self.state['enabled_backends'] = sections['DEFAULT'][
            'enabled_backends']
        self.save()

    def prepare_glance(self, default_backend):
        os.makedirs(os.path.join(self.workdir, 'glance'), exist_ok=True)
        self.state['glance_port'] = procs.free_port()
        self.state['glance_url'] = 'http://127.0.0.1:%d' % (
            self.state['glance_port'])
        glance = self.glance()
        self.write_glance_conf(glance, default_backend)
        glance.db_sync()
        self.register_glance(self.state['glance_url'])

    def start_glance(self, glance=None):
        """Start Glance, record its PID, check which library it loaded."""
        glance = glance or self.glance()
        try:
            glance.start()
        finally:
            if glance.pid is not None:
                self.record('glance', glance.pid)
        probe = glance.check_library()
        self.state['glance_store_loaded'] = os.path.dirname(probe['file'])
        self.state['glance_store_version'] = probe['version']
        self.save()
        log('Glance runs glance_store %s from %s'
            % (probe['version'], self.state['glance_store_loaded']))

    def restart_glance(self, default_backend):
        self.stop_one('glance')
        glance = self.glance()
        self.write_glance_conf(glance, default_backend)
        self.start_glance(glance)

    def write_tempest_conf(self):
        tdir = os.path.join(self.workdir, 'tempest')
        os.makedirs(os.path.join(tdir, 'etc'), exist_ok=True)
        os.makedirs(os.path.join(tdir, 'logs'), exist_ok=True)
        keystone = self.state['keystone_url']
        store_types = {name: kind.split(':')[1] for name, kind in (
            (b.split(':')[0], b) for b in self.state['enabled_backends'])}
        sections = tempest_conf_sections(keystone, self.state['http_image'],
                                         tdir, store_types)
        with open(os.path.join(tdir, 'etc', 'tempest.conf'), 'w') as f:
            f.write(procs.format_ini(sections))
        with open(os.path.join(tdir, '.stestr.conf'), 'w') as f:
            f.write('[DEFAULT]\ntest_path=%s\ntop_dir=%s\n' % (
                os.path.join(tempest_package_dir(), 'test_discover'),
                os.path.dirname(tempest_package_dir())))
        with open(os.path.join(tdir, 'exclude.txt'), 'w') as f:
            for regex, reason in EXCLUDED:
                f.write('# %s\n%s\n' % (reason, regex))

    def start(self, default_backend):
        """Bring everything up; on failure stop what did start."""
        os.makedirs(self.logdir, exist_ok=True)
        steps = (('http server', self.start_httpd),
                 ('keystone', self.start_keystone),
                 ('glance set-up', lambda: self.prepare_glance(
                     default_backend)),
                 ('glance', self.start_glance),
                 ('tempest.conf', self.write_tempest_conf))
        try:
            for what, step in steps:
                t0 = time.monotonic()
                step()
                log('%s: %.1f s' % (what, time.monotonic() - t0))
        except BaseException:
            self.stop()
            raise
        log('up: keystone %s, glance %s (default_backend %s), http image '
            '%s; tempest workspace %s'
            % (self.state['keystone_url'], self.state['glance_url'],
               default_backend, self.state['http_image'],
               os.path.join(self.workdir, 'tempest')))


def tempest_package_dir():
    import tempest
    return os.path.dirname(os.path.abspath(tempest.__file__))


def tempest_conf_sections(keystone, http_image, tdir, store_types):
    """tempest.conf: only Glance, on the local keystone."""
    return {
        'DEFAULT': {'log_file': os.path.join(tdir, 'logs', 'tempest.log'),
                    'debug': True},
        'auth': {
            'use_dynamic_credentials': True,
            'create_isolated_networks': False,
            'admin_username': 'admin',
            'admin_password': ADMIN_PASSWORD,
            'admin_project_name': 'admin',
            'admin_domain_name': 'Default',
            'default_credentials_domain_name': 'Default',
        },
        'identity': {
            'uri_v3': keystone + '/v3',
            'auth_version': 'v3',
            'region': REGION,
            'disable_ssl_certificate_validation': True,
        },
        'identity-feature-enabled': {'api_v2': False},
        'service_available': {
            'glance': True, 'nova': False, 'neutron': False,
            'cinder': False, 'swift': False, 'horizon': False,
        },
        'image': {
            'region': REGION,
            'http_image': http_image,
            'http_qcow2_image': http_image,
            'build_timeout': 300,
        },
        'image-feature-enabled': {
            'import_image': True,
            'os_glance_reserved': True,
            'manage_locations': True,
            'do_secure_hash': True,
            'http_store_enabled': True,
            'image_format_enforcement': True,
        },
        'enforce_scope': {'glance': True},
        'validation': {'run_validation': False},
        'glance_store_tests': {
            'large_object_size': S3_LARGE_OBJECT_MB * 1024 * 1024,
            # Only used if GET /v2/info/stores/detail fails.
            'fallback_store_types': ','.join(
                '%s:%s' % kv for kv in sorted(store_types.items())),
        },
    }


# --- results ---

def read_subunit(stream_bytes):
    """Per-test results of a subunit v2 stream: list of dicts."""
    import subunit
    import testtools

    tests = []

    def on_test(test):
        details = test.get('details') or {}
        reason = details.get('reason')
        text = {}
        for key, content in details.items():
            with contextlib.suppress(Exception):
                text[key] = content.as_text()
        tests.append({'id': test['id'], 'status': test['status'],
                      'reason': reason.as_text() if reason else '',
                      'details': text})

    result = testtools.StreamToDict(on_test)
    result.startTestRun()
    subunit.ByteStreamToStreamResult(
        io.BytesIO(stream_bytes), non_subunit_name='stdout').run(result)
    result.stopTestRun()
    return [t for t in tests if t['status'] in (
        'success', 'fail', 'skip', 'xfail', 'uxsuccess')]


def summarize(name, tests, seconds):
    counts = {}
    for t in tests:
        counts[t['status']] = counts.get(t['status'], 0) + 1
    lines = ['%s: %d tests in %.0f s: %d passed, %d failed, %d skipped'
             % (name, len(tests), seconds, counts.get('success', 0),
                counts.get('fail', 0) + counts.get('uxsuccess', 0),
                counts.get('skip', 0))]
    for t in sorted(tests, key=lambda t: t['id']):
        if t['status'] == 'skip':
            lines.append('  skipped %s: %s' % (t['id'], t['reason']))
    for t in sorted(tests, key=lambda t: t['id']):
        if t['status'] in ('fail', 'uxsuccess'):
            lines.append('  FAILED %s' % t['id'])
    for t in sorted(tests, key=lambda t: t['id']):
        for key, text in sorted(t['details'].items()):
            if key.startswith('backend-'):
                lines.append('  %s %s: %s' % (t['id'].split('.')[-1], key,
                                              text))
    return lines


def run_tempest(env, name, regex, concurrency=2):
    """One ``tempest run``; returns (exit code, summary lines)."""
    tdir = os.path.join(env.workdir, 'tempest')
    cmd = [procs.bin_path('tempest'), 'run', '--config-file',
           os.path.join(tdir, 'etc', 'tempest.conf'), '--regex', regex,
           '--exclude-list', os.path.join(tdir, 'exclude.txt'),
           '--concurrency', str(concurrency)]
    log('%s: %s' % (name, ' '.join(cmd)))
    # The plugin's tests run one scenario per S3 backend each: allow them
    # (and tempest's own) more than the 120 s the unit tests get.
    env_vars = dict(os.environ, OS_TEST_TIMEOUT=str(TEST_TIMEOUT))
    t0 = time.monotonic()
    rc = subprocess.call(cmd, cwd=tdir, timeout=PASS_TIMEOUT, env=env_vars)
    seconds = time.monotonic() - t0
    last = subprocess.run([procs.bin_path('stestr'), 'last', '--subunit'],
                          cwd=tdir, stdout=subprocess.PIPE,
                          stderr=subprocess.DEVNULL)
    tests = read_subunit(last.stdout)
    lines = summarize(name, tests, seconds)
    if rc == 0 and not tests:
        rc = 1
        lines.append('  no test ran')
    return rc, lines


def bucket_leftovers(env):
    """Objects and multipart uploads left in each S3 backend's bucket.

    Every image the tests created is deleted by then, so anything listed
    here was left behind by a delete or an aborted upload.
    """
    import boto3
    import botocore.config

    sections = env.glance_sections(env.state.get('default_backend') or
                                   CI_PASSES[0])
    lines = []
    for name in S3_BACKENDS:
        opts = sections[name]
        client = boto3.client(
            's3', endpoint_url=opts['s3_store_host'],
            aws_access_key_id=opts['s3_store_access_key'],
            aws_secret_access_key=opts['s3_store_secret_key'],
            region_name=opts['s3_store_region_name'],
            verify=opts['s3_store_cacert'],
            config=botocore.config.Config(s3={'addressing_style': 'path'}))
        bucket = opts['s3_store_bucket']
        try:
            objects = sum(page.get('KeyCount', 0) for page in
                          client.get_paginator('list_objects_v2').paginate(
                              Bucket=bucket))
            uploads = sum(len(page.get('Uploads', [])) for page in
                          client.get_paginator(
                              'list_multipart_uploads').paginate(
                              Bucket=bucket))
        except client.exceptions.NoSuchBucket:
            objects = uploads = 0
        lines.append('  %s (bucket %s): %d objects, %d multipart uploads '
                     'left' % (name, bucket, objects, uploads))
    return lines


# --- commands ---

def load_servers():
    return s3_servers.started_servers(('rgw', 'localstack'), EnvError)


def cmd_start(args):
    env = Env(args.workdir, load_servers())
    if env.state['pids']:
        raise EnvError('%s records running processes: stop them first'
                       % env.state_path)
    env.start(args.default_backend)
    return 0


def cmd_stop(args):
    Env(args.workdir).stop()
    return 0


def run_passes(env, passes, args):
    status, report = 0, []
    if args.plugin:
        rc, lines = run_tempest(env, 'plugin (glance_store.tests.tempest)',
                                r'^glance_store\.tests\.tempest\.',
                                concurrency=1)
        status |= rc
        report += lines
    if args.api:
        for backend in passes:
            if env.state.get('default_backend') != backend:
                env.restart_glance(backend)
            rc, lines = run_tempest(env, 'pass default_backend=%s'
                                    % backend, r'^tempest\.api\.image')
            status |= rc
            report += lines
    report.append('S3 buckets after the runs:')
    try:
        report += bucket_leftovers(env)
    except Exception as e:  # a report, not a test: never mask the results
        report.append('  could not list the buckets: %s' % e)
    return status, report


class _Interrupted(BaseException):
    pass


def _raise_interrupted(signum, frame):
    raise _Interrupted(signum)


def cmd_run(args):
    passes = list(S3_BACKENDS if args.all_passes else
                  [p for p in args.passes.split(',') if p])
    unknown = set(passes) - set(S3_BACKENDS)
    if unknown:
        raise EnvError('unknown pass(es) %s; known: %s'
                       % (', '.join(sorted(unknown)),
                          ', '.join(S3_BACKENDS)))
    servers = load_servers()
    own = args.workdir is None
    workdir = args.workdir or tempfile.mkdtemp(prefix='gs-tempest-')
    env = Env(workdir, servers)
    t0 = time.monotonic()
    status, report = 1, []
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _raise_interrupted)
    try:
        env.start(passes[0] if passes else CI_PASSES[0])
        report.append('glance_store loaded by Glance: %s (%s)' % (
            env.state['glance_store_loaded'],
            env.state['glance_store_version']))
        status, lines = run_passes(env, passes, args)
        report += lines
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        env.stop()
        report.append('functional-tempest: %.0f s in total, exit %d'
                      % (time.monotonic() - t0, status))
        text = '\n'.join(report)
        with open(os.path.join(env.workdir, 'summary.txt'), 'w') as f:
            f.write(text + '\n')
        print('=' * 70)
        print(text, flush=True)
        if status == 0 and own and not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            log('files kept in %s' % workdir)
    return status


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest='action', required=True)
    p_start = sub.add_parser('start', help='bring up keystone and Glance')
    p_start.add_argument('--workdir', required=True)
    p_start.add_argument('--default-backend', default=CI_PASSES[0],
                         choices=S3_BACKENDS)
    p_stop = sub.add_parser('stop', help='stop what start started')
    p_stop.add_argument('--workdir', required=True)
    p_run = sub.add_parser('run', help='start, run tempest, stop')
    p_run.add_argument('--workdir', help='default: a new temporary '
                                         'directory, removed on success')
    p_run.add_argument('--keep', action='store_true',
                       help='keep the work directory')
    p_run.add_argument('--passes', default=','.join(CI_PASSES),
                       help='default_backend of each tempest.api.image '
                            'pass (default: %(default)s)')
    p_run.add_argument('--all-passes', action='store_true',
                       help='one pass per S3 backend: %s'
                            % ', '.join(S3_BACKENDS))
    p_run.add_argument('--no-api', dest='api', action='store_false',
                       help='skip tempest.api.image')
    p_run.add_argument('--no-plugin', dest='plugin', action='store_false',
                       help="skip this project's tempest plugin")
    args = parser.parse_args(argv)
    actions = {'start': cmd_start, 'stop': cmd_stop, 'run': cmd_run}
    try:
        return actions[args.action](args)
    except (EnvError, glance_wsgi.LauncherError, FileNotFoundError) as e:
        log('error: %s' % e)
        return 1
    except _Interrupted:
        log('interrupted')
        return 130


if __name__ == '__main__':
    sys.exit(main())
