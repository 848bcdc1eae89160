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

Glance runs under uWSGI through ``tools/glance_wsgi.py`` (the launcher the
tempest environment and the CI jobs use too): ``glance-api.conf`` with a
sqlite database and the store configuration given by the caller, a paste
file whose pipeline is Glance's keystone pipeline without ``authtoken``.
Requests made through :class:`GlanceClient` carry the identity headers
keystonemiddleware would have set, so Glance's default policies apply to
an admin of one project.

The store configuration is a :class:`StoreConfig`: use :func:`single_store`
or :func:`multi_store`; any backend type (``file``, ``s3``, ...) and any
additional sections can be given, so the same server can run on an S3
backend.

``tools/`` is not a package: this module puts it on ``sys.path`` (it is
found beside the source tree the tests run from) and imports
``glance_wsgi`` and ``procs`` from there.
"""

import json
import os
import sys
import uuid

import requests

TOOLS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                         os.pardir, os.pardir, os.pardir, os.pardir, 'tools')
if TOOLS_DIR not in sys.path:
    sys.path.insert(0, TOOLS_DIR)

import glance_wsgi  # noqa: E402,I202  (tools/glance_wsgi.py)
import procs  # noqa: E402  (tools/procs.py)

RESERVED_STORES = ('os_glance_staging_store', 'os_glance_tasks_store')

free_port = procs.free_port


def missing_requirements():
    """Say what is missing to run Glance here, or return None."""
    return glance_wsgi.missing_requirements(sys.executable)


_merge = procs.merge_sections


class StoreConfig(object):
    """The store part of glance-api.conf.

    :param sections: dict of section name -> dict of options
    :param backends: dict of backend name -> store type (multi store), or
                     None for a single store configuration
    :param default_backend: the backend Glance uploads to (multi store)
    """

    def __init__(self, sections, backends=None, default_backend=None):
        self.sections = sections
        self.backends = backends
        self.default_backend = default_backend

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
    if datadir is not None:
        glance_store['filesystem_store_datadir'] = datadir
    glance_store.update(options or {})
    sections = _merge({'glance_store': glance_store}, extra_sections)
    return StoreConfig(sections)


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
    for name, (kind, opts) in backends.items():
        sections[name] = dict(opts)
    for reserved in RESERVED_STORES:
        sections[reserved] = {'filesystem_store_datadir': os.path.join(
            reserved_dir, reserved)}
    _merge(sections, extra_sections)
    return StoreConfig(sections,
                       backends={n: k for n, (k, _o) in backends.items()},
                       default_backend=default_backend)


class GlanceServer(object):
    """One Glance API process (uWSGI) with its own configuration.

    :param workdir: an empty directory owned by the caller (configuration,
                    database, logs)
    :param store_config: a :class:`StoreConfig`
    :param extra_conf: dict of section -> options merged into
                       glance-api.conf last (e.g. ``{'DEFAULT':
                       {'image_size_cap': 1024}}``)
    :param threads: uWSGI threads of the single worker process
    """

    def __init__(self, workdir, store_config, extra_conf=None, threads=4):
        self.workdir = os.path.abspath(workdir)
        sections = {'DEFAULT': {'node_staging_uri': 'file://%s' % (
            os.path.join(self.workdir, 'staging'))}}
        _merge(sections, store_config.sections)
        _merge(sections, extra_conf)
        self.launcher = glance_wsgi.GlanceWsgi(self.workdir, sections,
                                               threads=threads)
        self.store_config = store_config

    @property
    def url(self):
        return self.launcher.url

    @property
    def log_path(self):
        return self.launcher.log_path

    @property
    def conf_path(self):
        return self.launcher.conf_path

    def start(self):
        """Write the configuration, sync the database, start uWSGI."""
        self.launcher.prepare()
        self.launcher.start()

    def stop(self):
        """Stop the uWSGI master (and so its worker) by PID."""
        self.launcher.stop()

    @property
    def process(self):
        """The uWSGI master's ``Popen`` (None when stopped)."""
        return self.launcher.process

    def loaded_glance_store(self):
        """Path of the glance_store package the server process imported."""
        return os.path.dirname(self.launcher.probe()['file'])

    def log_tail(self, lines=120):
        return self.launcher.log_tail(lines)

    def check_loaded_library(self, expect_ours=True):
        """Fail unless the server imported this project, installed.

        :param expect_ours: False accepts any glance_store
        :raises AssertionError: naming the library the server loaded
        """
        try:
            self.launcher.check_library(expect_ours)
        except glance_wsgi.LauncherError as e:
            raise AssertionError(str(e))

    def client(self, **kwargs):
        return GlanceClient(self.url, **kwargs)


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
