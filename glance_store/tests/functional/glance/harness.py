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

"""Run the real Glance API on loopback, without keystone, for tests.

Glance (33.x) only ships a WSGI application, so this module deploys
``glance.wsgi.api:application`` under uwsgi with a generated configuration
directory: ``glance-api.conf`` (sqlite database, store configuration given
by the caller), a paste file whose pipeline is Glance's keystone pipeline
without ``authtoken`` and a uwsgi ini file. Requests made through
:class:`GlanceClient` carry the identity headers keystonemiddleware would
have set, so Glance's default policies apply to an admin of one project.

The store configuration is a :class:`StoreConfig`: use :func:`single_store`
or :func:`multi_store`; any backend type (``file``, ``s3``, ...) and any
additional sections can be given, so the same server can run on an S3
backend.
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import time
import uuid

import requests

# The module behind this project's stand-ins for the stores upstream ships
# and this project does not (swift, rbd, cinder, vmware_datastore): upstream
# has no such module, so its absence means the server runs upstream.
PROJECT_ONLY_MODULE = '_unavailable.py'

RESERVED_STORES = ('os_glance_staging_store', 'os_glance_tasks_store')

PASTE_FLAVOR = 'functest'

# The keystone pipeline of Glance's own paste file, minus ``authtoken``:
# the ``context`` filter builds the request context from X-* headers.
PIPELINE = ('cors http_proxy_to_wsgi versionnegotiation osprofiler context '
            'rootapp')
PASTE_INI = """\
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

# Imported by uwsgi in the server process (``import`` option): records
# which glance_store the server really loads.
PROBE_MODULE = 'glance_store_probe'
PROBE_SOURCE = """\
import json
import os

import glance_store

_here = os.path.dirname(os.path.abspath(__file__))
with open(os.path.join(_here, 'glance_store_probe.json'), 'w') as f:
    json.dump({'file': glance_store.__file__}, f)
"""


def _bin_path(name):
    """Find a console script of the running interpreter's environment."""
    candidate = os.path.join(os.path.dirname(sys.executable), name)
    if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
        return candidate
    return shutil.which(name)


def missing_requirements():
    """Say what is missing to run Glance here, or return None."""
    missing = []
    try:
        import glance.wsgi  # noqa: F401
    except ImportError as e:
        missing.append('the glance package (%s)' % e)
    if _bin_path('uwsgi') is None:
        missing.append('the uwsgi executable')
    if _bin_path('glance-manage') is None:
        missing.append('the glance-manage executable')
    if missing:
        return ', '.join(missing)
    return None


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def _format_conf(sections):
    lines = []
    for section, options in sections.items():
        lines.append('[%s]' % section)
        for key, value in options.items():
            if isinstance(value, bool):
                value = 'true' if value else 'false'
            elif isinstance(value, (list, tuple)):
                value = ','.join(str(v) for v in value)
            lines.append('%s = %s' % (key, value))
        lines.append('')
    return '\n'.join(lines)


def _merge(target, sections):
    for section, options in (sections or {}).items():
        target.setdefault(section, {}).update(options)
    return target


class StoreConfig(object):
    """The store part of glance-api.conf.

    :param sections: dict of section name -> dict of options
    :param backends: dict of backend name -> store type (multi store), or
                     None for a single store configuration
    :param default_backend: the backend Glance uploads to (multi store)
    :param datadirs: directories the configuration writes image files to,
                     created before the server starts
    """

    def __init__(self, sections, backends=None, default_backend=None,
                 datadirs=()):
        self.sections = sections
        self.backends = backends
        self.default_backend = default_backend
        self.datadirs = list(datadirs)

    @property
    def multi(self):
        return self.backends is not None


def single_store(datadir, stores=('file', 'http'), default_store='file',
                 options=None, extra_sections=None):
    """A ``[glance_store]`` configuration (no enabled_backends).

    :param options: more ``[glance_store]`` options (e.g. for an s3
                    default store)
    :param extra_sections: dict of section -> options merged in as is
    """
    glance_store = {'stores': list(stores), 'default_store': default_store}
    datadirs = []
    if datadir is not None:
        glance_store['filesystem_store_datadir'] = datadir
        datadirs.append(datadir)
    glance_store.update(options or {})
    sections = _merge({'glance_store': glance_store}, extra_sections)
    return StoreConfig(sections, datadirs=datadirs)


def multi_store(backends, default_backend, reserved_dir,
                extra_sections=None):
    """An ``enabled_backends`` configuration.

    :param backends: dict of backend name -> (store type, dict of options of
                     its section), e.g. ``{'fast': ('file',
                     {'filesystem_store_datadir': '/x'})}`` or an ``s3``
                     backend with its ``s3_store_*`` options
    :param default_backend: name of the backend uploads go to
    :param reserved_dir: directory under which the reserved staging and
                         tasks stores keep their files
    :param extra_sections: dict of section -> options merged in as is (for
                           example ``backend_defaults``)
    """
    enabled = ','.join('%s:%s' % (name, kind)
                       for name, (kind, _opts) in backends.items())
    sections = {
        'DEFAULT': {'enabled_backends': enabled},
        'glance_store': {'default_backend': default_backend},
    }
    datadirs = []
    for name, (kind, opts) in backends.items():
        sections[name] = dict(opts)
        if 'filesystem_store_datadir' in opts:
            datadirs.append(opts['filesystem_store_datadir'])
    for reserved in RESERVED_STORES:
        path = os.path.join(reserved_dir, reserved)
        sections[reserved] = {'filesystem_store_datadir': path}
        datadirs.append(path)
    _merge(sections, extra_sections)
    return StoreConfig(sections,
                       backends={n: k for n, (k, _o) in backends.items()},
                       default_backend=default_backend,
                       datadirs=datadirs)


class GlanceServerError(Exception):
    pass


class GlanceServer(object):
    """One Glance API process (uwsgi) with its own configuration.

    :param workdir: an empty directory owned by the caller (configuration,
                    database, logs)
    :param store_config: a :class:`StoreConfig`
    :param extra_conf: dict of section -> options merged into
                       glance-api.conf last (e.g. ``{'DEFAULT':
                       {'image_size_cap': 1024}}``)
    :param threads: uwsgi threads of the single worker process
    """

    def __init__(self, workdir, store_config, extra_conf=None, threads=4):
        self.workdir = os.path.abspath(workdir)
        self.confdir = os.path.join(self.workdir, 'etc')
        self.store_config = store_config
        self.extra_conf = extra_conf or {}
        self.threads = threads
        self.port = None
        self.process = None
        self.log_path = os.path.join(self.workdir, 'glance-api.log')
        self._log_file = None

    @property
    def url(self):
        return 'http://127.0.0.1:%d' % self.port

    @property
    def conf_path(self):
        return os.path.join(self.confdir, 'glance-api.conf')

    def glance_conf_sections(self):
        sections = {
            'DEFAULT': {
                'debug': True,
                'use_stderr': True,
                'node_staging_uri': 'file://%s' % os.path.join(
                    self.workdir, 'staging'),
            },
            'database': {
                'connection': 'sqlite:///%s' % os.path.join(
                    self.workdir, 'glance.sqlite'),
            },
            'paste_deploy': {
                'flavor': PASTE_FLAVOR,
                'config_file': os.path.join(self.confdir,
                                            'glance-api-paste.ini'),
            },
            'oslo_concurrency': {
                'lock_path': os.path.join(self.workdir, 'locks'),
            },
        }
        _merge(sections, self.store_config.sections)
        _merge(sections, self.extra_conf)
        return sections

    def write_config(self):
        os.makedirs(self.confdir, exist_ok=True)
        for path in self.store_config.datadirs:
            os.makedirs(path, exist_ok=True)
        os.makedirs(os.path.join(self.workdir, 'staging'), exist_ok=True)
        os.makedirs(os.path.join(self.workdir, 'locks'), exist_ok=True)
        with open(self.conf_path, 'w') as f:
            f.write(_format_conf(self.glance_conf_sections()))
        with open(os.path.join(self.confdir, 'glance-api-paste.ini'),
                  'w') as f:
            f.write(PASTE_INI.format(flavor=PASTE_FLAVOR, pipeline=PIPELINE,
                                     workdir=self.workdir))
        with open(os.path.join(self.confdir, PROBE_MODULE + '.py'),
                  'w') as f:
            f.write(PROBE_SOURCE)

    def _write_uwsgi_ini(self):
        options = [
            ('module', 'glance.wsgi.api:application'),
            ('http-socket', '127.0.0.1:%d' % self.port),
            ('http-chunked-input', 'true'),
            ('lazy-apps', 'true'),
            ('need-app', 'true'),
            ('master', 'true'),
            ('die-on-term', 'true'),
            ('processes', '1'),
            ('threads', str(self.threads)),
            ('enable-threads', 'true'),
            ('buffer-size', '65535'),
            ('chdir', self.workdir),
            ('pythonpath', self.confdir),
            ('import', PROBE_MODULE),
            ('env', 'OS_GLANCE_CONFIG_DIR=%s' % self.confdir),
        ]
        if sys.prefix != sys.base_prefix:
            options.append(('virtualenv', sys.prefix))
        path = os.path.join(self.confdir, 'uwsgi.ini')
        with open(path, 'w') as f:
            f.write('[uwsgi]\n')
            for key, value in options:
                f.write('%s = %s\n' % (key, value))
        return path

    def db_sync(self):
        cmd = [_bin_path('glance-manage'), '--config-file', self.conf_path,
               'db_sync']
        result = subprocess.run(cmd, cwd=self.workdir,
                                stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, timeout=300)
        if result.returncode != 0:
            raise GlanceServerError(
                'glance-manage db_sync failed (%d):\n%s' % (
                    result.returncode,
                    result.stdout.decode('utf-8', 'replace')[-4000:]))

    def start(self, timeout=120):
        """Write the configuration, sync the database, start uwsgi."""
        self.write_config()
        self.db_sync()
        self.port = free_port()
        ini = self._write_uwsgi_ini()
        self._log_file = open(self.log_path, 'ab')
        env = dict(os.environ)
        env['OS_GLANCE_CONFIG_DIR'] = self.confdir
        # The server must import the installed packages of this interpreter,
        # never a source tree a test runner put on the path.
        env.pop('PYTHONPATH', None)
        self.process = subprocess.Popen(
            [_bin_path('uwsgi'), '--ini', ini], cwd=self.workdir,
            stdout=self._log_file, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, env=env)
        try:
            self._wait_ready(timeout)
        except Exception:
            self.stop()
            raise

    def _wait_ready(self, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise GlanceServerError(
                    'uwsgi exited with %d before answering:\n%s' % (
                        self.process.returncode, self.log_tail()))
            try:
                resp = requests.get(self.url + '/versions', timeout=5)
                if resp.status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.2)
        raise GlanceServerError(
            'Glance did not answer /versions within %ss:\n%s' % (
                timeout, self.log_tail()))

    def stop(self, timeout=30):
        """Stop the uwsgi master (and so its worker) by PID."""
        proc, self.process = self.process, None
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout)
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    def log_tail(self, limit=8000):
        try:
            with open(self.log_path, 'rb') as f:
                data = f.read()
        except OSError:
            return ''
        return data[-limit:].decode('utf-8', 'replace')

    def loaded_glance_store(self):
        """Path of the glance_store package the server process imported."""
        probe = os.path.join(self.confdir, PROBE_MODULE + '.json')
        with open(probe) as f:
            return os.path.dirname(json.load(f)['file'])

    def client(self, **kwargs):
        return GlanceClient(self.url, **kwargs)


def check_is_this_project(package_dir):
    """Raise AssertionError unless package_dir is this project's library.

    This project ships the file, http and s3 stores (the others are
    stand-ins built by ``_drivers/_unavailable.py``), and is installed
    (not imported from a source tree) where Glance runs.
    """
    drivers = os.path.join(package_dir, '_drivers')
    if not os.path.isfile(os.path.join(drivers, PROJECT_ONLY_MODULE)):
        raise AssertionError(
            'Glance loaded upstream glance_store from %s (its _drivers has '
            'no %s), not this project' % (package_dir, PROJECT_ONLY_MODULE))
    site_dirs = {os.path.realpath(sysconfig.get_paths()[k])
                 for k in ('purelib', 'platlib')}
    parent = os.path.realpath(os.path.dirname(package_dir))
    if parent not in site_dirs:
        raise AssertionError(
            'Glance loaded glance_store from %s, not from the site-packages '
            'of %s (%s)' % (package_dir, sys.prefix, ', '.join(site_dirs)))


class GlanceClient(object):
    """A minimal Glance v2 REST client sending keystone-like headers."""

    def __init__(self, url, project_id=None, user_id=None, role='admin',
                 timeout=120):
        self.url = url
        self.timeout = timeout
        self.headers = {
            'X-Identity-Status': 'Confirmed',
            # One role only: a comma-separated list must not be URL-encoded
            # by the client, and one is all the tests need.
            'X-Roles': role,
            'X-Project-Id': project_id or uuid.uuid4().hex,
            'X-User-Id': user_id or uuid.uuid4().hex,
            'X-Auth-Token': uuid.uuid4().hex,
        }

    def request(self, method, path, headers=None, **kwargs):
        all_headers = dict(self.headers)
        all_headers.update(headers or {})
        kwargs.setdefault('timeout', self.timeout)
        return requests.request(method, self.url + path, headers=all_headers,
                                **kwargs)

    def create_image(self, name='functest', disk_format='raw',
                     container_format='bare', **properties):
        body = dict(properties, name=name, disk_format=disk_format,
                    container_format=container_format)
        return self.request('POST', '/v2/images', json=body)

    def get_image(self, image_id):
        return self.request('GET', '/v2/images/%s' % image_id)

    def upload(self, image_id, data, headers=None):
        """PUT the image data; a generator ``data`` is sent chunked."""
        all_headers = {'Content-Type': 'application/octet-stream'}
        all_headers.update(headers or {})
        return self.request('PUT', '/v2/images/%s/file' % image_id,
                            headers=all_headers, data=data)

    def download(self, image_id, byte_range=None):
        headers = {}
        if byte_range is not None:
            headers['Range'] = 'bytes=%d-%d' % byte_range
        return self.request('GET', '/v2/images/%s/file' % image_id,
                            headers=headers)

    def delete_image(self, image_id):
        return self.request('DELETE', '/v2/images/%s' % image_id)

    def stores_info(self):
        return self.request('GET', '/v2/info/stores')

    def stores_detail(self):
        return self.request('GET', '/v2/info/stores/detail')

    def patch_image(self, image_id, changes):
        """Apply a JSON patch (list of operations) to an image."""
        return self.request(
            'PATCH', '/v2/images/%s' % image_id, data=json.dumps(changes),
            headers={'Content-Type':
                     'application/openstack-images-v2.1-json-patch'})
