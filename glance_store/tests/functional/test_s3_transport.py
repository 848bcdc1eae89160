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

"""Per-backend proxies and timeouts (s3_transport) on real servers.

* Two S3 backends in one process (a multi-store configuration): ``rgw``
  reaches Ceph RGW through a real forward proxy (Debian's ``tinyproxy``,
  started here on 127.0.0.1 with a login), ``direct`` reaches LocalStack
  without it. Both upload (single and multipart) and download
  byte-exact; the proxy's log holds every request of ``rgw`` and none of
  ``direct``; the proxy password is in no log record.
* A backend whose endpoint accepts connections and never answers: an
  upload fails within ``s3_store_read_timeout`` x
  ``s3_store_retry_max_attempts`` plus a stated margin, the error names
  the endpoint, and every connection the store opened is closed.

Needs ``tinyproxy`` (``tools/install_functional_deps.sh``); skipped
without it unless ``CI`` is set.
"""

import io
import os
import socket
import threading
import time
from unittest import mock

import fixtures
from oslo_config import cfg
import testtools

import glance_store
from glance_store._drivers import s3_leftovers
from glance_store import exceptions
from glance_store import location
from glance_store.tests.functional import s3_store_helpers as helpers
from glance_store.tests.functional import servers
from glance_store.tests.functional import tinyproxy

MiB = 1024 * 1024


def _multi_store_conf(path, backends):
    """A ConfigOpts read from a file with these S3 backends."""
    sections = {
        'DEFAULT': {'enabled_backends': ', '.join(
            '%s:s3' % name for name in backends)},
        'glance_store': {'default_backend': next(iter(backends))},
    }
    sections.update(backends)
    with open(path, 'w') as f:
        for section, options in sections.items():
            f.write('[%s]\n' % section)
            for key, value in options.items():
                if value is not None:
                    f.write('%s = %s\n' % (key, value))
    conf = cfg.ConfigOpts()
    conf(['--config-file', path], project='glance_store_functional',
         default_config_files=[], default_config_dirs=[])
    return conf


class TestProxyPerBackend(helpers.S3StoreTestCase):
    """One backend through tinyproxy, another direct, in one process."""

    def setUp(self):
        super().setUp()
        self.proxy = self.useFixture(tinyproxy.TinyProxy())
        # Multi-store registers the backends' schemes globally: undone.
        self.useFixture(fixtures.MockPatchObject(
            location, 'SCHEME_TO_CLS_BACKEND_MAP', {}))
        # Proxy variables of the environment must not matter.
        for name in ('HTTP_PROXY', 'HTTPS_PROXY', 'http_proxy',
                     'https_proxy', 'NO_PROXY', 'no_proxy'):
            self.useFixture(fixtures.EnvironmentVariable(name))
        # Captured from INFO: botocore's DEBUG records carry whole request
        # bodies. They are still made, and searched for keys (and the unit
        # tests check DEBUG records for the proxy password).
        self.log = self.useFixture(helpers.LogCapture(
            name='', format='%(name)s %(message)s'))

    def _round_trip(self, backend, size, seed):
        data = helpers.image(size, seed)
        key = helpers.unique_key(backend)
        uri = glance_store.add_with_multihash(
            self.conf, key, io.BytesIO(data), size, backend, 'sha512')[0]
        iterator, served = glance_store.get(uri, backend)
        read = b''.join(iterator)
        self.assertEqual(size, served)
        self.assertEqual(helpers.digests(data), helpers.digests(read))
        return key

    def test_one_backend_through_the_proxy_the_other_direct(self):
        rgw, aws = self.server('rgw'), self.server('localstack')
        rgw_bucket = self.bucket_of('rgw')
        aws_bucket = self.bucket_of('localstack')
        self.conf = _multi_store_conf(
            os.path.join(self.tmp, 'glance-api.conf'), {
                'rgw': helpers.store_options(
                    rgw, 'http', rgw_bucket,
                    s3_store_http_proxy=self.proxy.url),
                'direct': helpers.store_options(aws, 'http', aws_bucket)})
        glance_store.register_store_opts(self.conf)
        self.assertEqual(2, glance_store.create_multi_stores(self.conf))

        rgw_url = servers.endpoint(rgw, 'http')
        aws_url = servers.endpoint(aws, 'http')
        keys = {}
        for backend in ('rgw', 'direct'):
            keys[backend] = [
                self._round_trip(backend, 1 * MiB + 7, 1),
                # Above the 5 MB threshold: a multipart upload.
                self._round_trip(backend, 11 * MiB + 5, 2)]

        requests = self.proxy.requests()
        self.addDetail('tinyproxy requests', testtools.content.text_content(
            '\n'.join(requests)))
        for key in keys['rgw']:
            # PutObject or the multipart calls, then GetObject.
            self.assertTrue(any('%s/%s/%s' % (rgw_url, rgw_bucket, key)
                                in line for line in requests), key)
        self.assertTrue(any(line.startswith('GET ') for line in requests))
        self.assertTrue(any('?uploads' in line for line in requests))
        self.assertFalse([line for line in requests if aws_url in line])
        self.assertFalse([line for line in requests
                          if aws_bucket in line])
        # Every request tinyproxy saw was one of this backend's.
        self.assertEqual([], [line for line in requests
                              if rgw_url not in line])
        self.assertNotIn(tinyproxy.PROXY_PASSWORD, self.log.output)
        self.assertIn('network: http via http://%s:***@'
                      % tinyproxy.PROXY_USER,
                      self.log.output)

    def test_wrong_proxy_password_is_refused_by_the_proxy(self):
        rgw = self.server('rgw')
        bucket = self.bucket_of('rgw')
        wrong = self.proxy.url.replace(tinyproxy.PROXY_PASSWORD,
                                       'not-the-password')
        self.conf = _multi_store_conf(
            os.path.join(self.tmp, 'glance-api.conf'), {
                'rgw': helpers.store_options(
                    rgw, 'http', bucket, s3_store_http_proxy=wrong,
                    s3_store_retry_max_attempts=1)})
        glance_store.register_store_opts(self.conf)
        self.assertEqual(1, glance_store.create_multi_stores(self.conf))
        data = helpers.image(1000, 3)
        # tinyproxy answers the wrong login itself (401, which reaches the
        # store as the backend's answer): the error names the backend.
        e = self.assertRaises(
            exceptions.BackendException, glance_store.add_with_multihash,
            self.conf, helpers.unique_key(), io.BytesIO(data), len(data),
            'rgw', 'sha512')
        self.assertIn('S3 backend rgw', str(e))
        self.assertIn('401', str(e))
        # Nothing reached the bucket.
        self.assertEqual([], servers.list_keys(self.admin('rgw'), bucket))
        self.assertNotIn('not-the-password', self.log.output)


class StalledEndpoint(fixtures.Fixture):
    """A TCP server that accepts connections and never answers.

    ``connections`` counts the accepted connections; ``closed_by_peer``
    those the client closed (it reads until end of stream).
    """

    def _setUp(self):
        self.sock = socket.socket()
        self.sock.bind(('127.0.0.1', 0))
        self.sock.listen(16)
        self.url = 'http://127.0.0.1:%d' % self.sock.getsockname()[1]
        self.connections = 0
        self.closed_by_peer = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = []
        accept = threading.Thread(target=self._accept, daemon=True)
        accept.start()
        self.addCleanup(self._close, accept)

    def _accept(self):
        self.sock.settimeout(0.2)
        while not self._stop.is_set():
            try:
                conn, _addr = self.sock.accept()
            except OSError:
                continue
            with self._lock:
                self.connections += 1
            thread = threading.Thread(target=self._drain, args=(conn,),
                                      daemon=True)
            thread.start()
            self._threads.append(thread)

    def _drain(self, conn):
        conn.settimeout(0.2)
        with conn:
            while not self._stop.is_set():
                try:
                    if not conn.recv(65536):
                        with self._lock:
                            self.closed_by_peer += 1
                        return
                except socket.timeout:
                    continue
                except OSError:
                    return

    def _close(self, accept):
        self._stop.set()
        accept.join(5)
        for thread in self._threads:
            thread.join(5)
        self.sock.close()

    def wait_closed(self, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if self.closed_by_peer == self.connections:
                    return True
            time.sleep(0.05)
        return False


class TestReadTimeout(testtools.TestCase):
    """s3_store_read_timeout and s3_store_retry_max_attempts bound a stall."""

    READ_TIMEOUT = 2
    ATTEMPTS = 2
    # botocore's back-off between attempts (standard mode: below 1 s
    # before the second attempt) and the store's own work.
    MARGIN = 4

    def test_stalled_endpoint_fails_in_bounded_time(self):
        stalled = self.useFixture(StalledEndpoint())
        server = {'access_key': 'AKIASTALLEDTEST00000',
                  'secret_key': 'stalled-secret', 'region': 'us-east-1'}
        with mock.patch.object(s3_leftovers, 'warn_stale_uploads'):
            # No start-up listing of open uploads: the time measured is
            # the upload's.
            store = helpers.make_store(
                server, 'http', 'bucket', endpoint=stalled.url,
                s3_store_read_timeout=self.READ_TIMEOUT,
                s3_store_connect_timeout=self.READ_TIMEOUT,
                s3_store_retry_max_attempts=self.ATTEMPTS)
        data = helpers.image(64 * 1024, 4)
        t0 = time.monotonic()
        e = self.assertRaises(exceptions.RemoteServiceUnavailable, store.add,
                              helpers.unique_key(), io.BytesIO(data),
                              len(data), 'sha512')
        elapsed = time.monotonic() - t0
        bound = self.READ_TIMEOUT * self.ATTEMPTS + self.MARGIN
        self.addDetail('failure', testtools.content.text_content(
            '%.2f s (bound %d s): %s' % (elapsed, bound, e)))
        self.assertLess(elapsed, bound)
        # Each attempt waited the whole read timeout.
        self.assertGreaterEqual(elapsed,
                                self.READ_TIMEOUT * self.ATTEMPTS * 0.9)
        self.assertIn(stalled.url, str(e))
        self.assertEqual(self.ATTEMPTS, stalled.connections)
        # Nothing left: the store closed every connection it opened.
        store.client.close()
        self.assertTrue(stalled.wait_closed(10), (stalled.connections,
                                                  stalled.closed_by_peer))
