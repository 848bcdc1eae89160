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

"""Failures during uploads to a real Ceph RGW, and what they leave behind.

Each test checks the glance_store exception and the bucket: no object and
no open multipart upload (``list_multipart_uploads`` empty), since every
failure after CreateMultipartUpload must abort the upload. When the
endpoint becomes unreachable the abort cannot go through either: the log
must then name the bucket, key and upload id, so an operator can remove
it, which the test then does.
"""

import time

from botocore import config as boto_config
import fixtures

from glance_store import exceptions
from glance_store.tests.functional import proxy as proxy_mod
from glance_store.tests.functional import s3_store_helpers as helpers
from glance_store.tests.functional import servers

MiB = helpers.MiB
PART_2 = r'^PUT /[^?]+\?.*partNumber=2'
ANY_PART = r'^PUT /[^?]+\?.*partNumber='


class FaultsTestCase(helpers.S3StoreTestCase):

    kind = 'rgw'

    def setUp(self):
        super().setUp()
        self.log = self.useFixture(helpers.LogCapture())
        self.bucket = self.bucket_of(self.kind)

    def make_proxy(self):
        url = servers.endpoint(self.server(self.kind), 'http')
        host, port = url.split('://', 1)[1].rsplit(':', 1)
        px = proxy_mod.TCPProxy(host, int(port), timeout=30).start()
        self.addCleanup(px.stop)
        return px

    def proxied_store(self, px, checksums=helpers.SWITCH_OFF, **kwargs):
        return self.store(self.kind, 'http', checksums, endpoint=px.url,
                          **kwargs)

    def assertFails(self, exc_types, store, data, declared, reader=None):
        """``add`` raises ``exc_types``; nothing is left in the bucket."""
        key = helpers.unique_key('fault')
        reader = reader or helpers.Reader(data)
        exc = self.assertRaises(exc_types, store.add, key, reader,
                                declared, 'sha512')
        self.assertNothingLeft(self.kind)
        return key, exc


class TestPartFailures(FaultsTestCase):

    def test_connection_dropped_during_part(self):
        px = self.make_proxy()
        store = self.proxied_store(px)
        data = helpers.image(12 * MiB, seed=1)
        # Cut every attempt of part 2 after 1 MiB of its body.
        px.drop_request(after=MiB, match=PART_2, times=None)
        key, exc = self.assertFails(
            (exceptions.RemoteServiceUnavailable,
             exceptions.BackendException), store, data, len(data))
        self.assertIn(key, str(exc))
        self.assertEqual(helpers.total_attempts(store), px.stats()['drops'])
        self.assertIn('Aborted multipart upload', self.log.output)

    def test_connection_dropped_once_is_retried(self):
        px = self.make_proxy()
        store = self.proxied_store(px)
        data = helpers.image(12 * MiB, seed=2)
        px.drop_request(after=MiB, match=PART_2, times=1)
        key, result = self.add(store, data, 0)
        self.assertEqual(1, px.stats()['drops'])
        self.assertEqual(2, len(px.requests_matching(PART_2)))
        self.assertStored(store, self.assertAdded(result, data), data)
        self.assertEqual([], servers.list_open_uploads(
            self.admin(self.kind), self.bucket))

    def _server_error(self, status, code):
        px = self.make_proxy()
        store = self.proxied_store(px)
        data = helpers.image(12 * MiB, seed=status)
        px.fail_request(status, match=PART_2, times=None)
        key, exc = self.assertFails(exceptions.BackendException, store,
                                    data, 0)
        self.assertIn(code, str(exc))
        self.assertIn(str(status), str(exc))
        # botocore retried the part, then the store gave up and aborted.
        attempts = helpers.total_attempts(store)
        self.assertGreater(attempts, 1)
        self.assertEqual(attempts, px.stats()['responses_injected'])
        self.assertEqual(attempts, len(px.requests_matching(PART_2)))
        self.assertEqual(1, len(px.requests_matching(r'^DELETE .*uploadId=')))

    def test_part_answered_500(self):
        self._server_error(500, 'InternalError')

    def test_part_answered_503(self):
        self._server_error(503, 'SlowDown')


class TestConfigurationFaults(FaultsTestCase):

    def test_wrong_secret_key(self):
        store = self.store(self.kind, 'http',
                           s3_store_secret_key='not-the-secret-' + 'x' * 25)
        key, exc = self.assertFails(exceptions.BadStoreConfiguration,
                                    store, b'image' * 100, 500)
        self.assertIn('s3_store_access_key', str(exc))
        self.assertNotIn('not-the-secret', str(exc))
        self.assertNotIn('not-the-secret', self.log.output)

    def test_wrong_access_key(self):
        store = self.store(self.kind, 'http',
                           s3_store_access_key='GSFUNCUNKNOWNKEY0000')
        key, exc = self.assertFails(exceptions.BadStoreConfiguration,
                                    store, b'image' * 100, 500)
        self.assertIn('s3_store_access_key', str(exc))

    def test_missing_bucket_creation_off(self):
        missing = servers.unique_bucket('gs-missing')
        store = self.store(self.kind, 'http', bucket=missing)
        exc = self.assertRaises(exceptions.BadStoreConfiguration,
                                store.add, 'image', helpers.Reader(b'x'),
                                1, 'sha512')
        self.assertIn('s3_store_create_bucket_on_put', str(exc))
        self.assertIn(missing, str(exc))
        admin = self.admin(self.kind)
        names = [b['Name'] for b in admin.list_buckets()['Buckets']]
        self.assertNotIn(missing, names)

    def test_missing_bucket_creation_on(self):
        # The control: with the option on the same upload works.
        missing = servers.unique_bucket('gs-created')
        admin = self.admin(self.kind)
        self.addCleanup(servers.delete_bucket, admin, missing)
        store = self.store(self.kind, 'http', bucket=missing,
                           s3_store_create_bucket_on_put=True)
        data = helpers.image(MiB, seed=3)
        _key, result = self.add(store, data)
        self.assertStored(store, self.assertAdded(result, data), data)


class TestSizeAndReaderFaults(FaultsTestCase):

    def _size_error(self, real, declared, text):
        store = self.store(self.kind, 'http')
        data = helpers.image(real, seed=real)
        key, exc = self.assertFails(exceptions.Invalid, store, data,
                                    declared)
        self.assertIn(text, str(exc))

    def test_single_declared_larger(self):
        self._size_error(MiB - 10, MiB, 'Size mismatch')

    def test_single_declared_smaller(self):
        self._size_error(MiB + 10, MiB, 'Size exceeds')

    def test_multipart_declared_larger(self):
        self._size_error(11 * MiB, 12 * MiB, 'Size mismatch')

    def test_multipart_declared_smaller(self):
        self._size_error(13 * MiB, 12 * MiB, 'Size exceeds')

    def _reader_fails(self, size, declared, fail_after, checksums):
        store = self.store(self.kind, 'http', checksums)
        data = helpers.image(size, seed=size)
        reader = helpers.Reader(data, fail_after=fail_after)
        key, exc = self.assertFails(helpers.ReaderFailure, store, data,
                                    declared, reader)
        self.assertIn('image source broke', str(exc))

    def test_reader_raises_single(self):
        self._reader_fails(MiB, MiB, MiB // 2, helpers.SWITCH_OFF)

    def test_reader_raises_multipart_known(self):
        self._reader_fails(12 * MiB, 12 * MiB, 9 * MiB, helpers.SWITCH_OFF)
        self.assertIn('Aborted multipart upload', self.log.output)

    def test_reader_raises_multipart_unknown_always(self):
        self._reader_fails(20 * MiB, 0, 16 * MiB, helpers.ALWAYS_CRC32)
        self.assertIn('Aborted multipart upload', self.log.output)


class TestEndpointUnreachable(FaultsTestCase):
    """The endpoint stops answering after the first part is stored."""

    TIMEOUTS = boto_config.Config(connect_timeout=2, read_timeout=2,
                                  retries={'max_attempts': 1})

    def _short_timeouts(self, store):
        # A test-only tweak of the store's client: botocore's 60 s
        # timeouts and 5 attempts would make this test take minutes.
        base_config = store._client_config
        self.useFixture(fixtures.MockPatchObject(
            store, '_client_config',
            lambda: base_config().merge(self.TIMEOUTS)))
        store._s3_client = store._create_s3_client()
        self.assertEqual(2, store._s3_client.meta.config.read_timeout)

    def _wait_first_part(self, admin):
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            for key, upload_id in servers.list_open_uploads(admin,
                                                            self.bucket):
                parts = admin.list_parts(Bucket=self.bucket, Key=key,
                                         UploadId=upload_id)
                if parts.get('Parts'):
                    return key, upload_id
            time.sleep(0.05)
        self.fail('the first part never reached the server')

    def test_blackhole_mid_upload(self):
        px = self.make_proxy()
        store = self.proxied_store(px)
        self._short_timeouts(store)
        admin = self.admin(self.kind)
        data = helpers.image(24 * MiB, seed=24)
        seen = {}

        class Trigger(helpers.Reader):
            # Reads image bytes; once part 1 is on the server and the
            # reader is past it, the endpoint goes dark.
            def read(inner, size=-1):
                if inner.pos >= 10 * MiB and not seen:
                    seen['upload'] = self._wait_first_part(admin)
                    px.blackhole()
                return super().read(size)

        key = helpers.unique_key('blackhole')
        exc = self.assertRaises(
            (exceptions.RemoteServiceUnavailable,
             exceptions.BackendException),
            store.add, key, Trigger(data), len(data), 'sha512')
        self.assertIn(key, str(exc))
        self.assertEqual(key, seen['upload'][0])
        upload_id = seen['upload'][1]

        # The abort could not reach the server: the log says what to
        # remove.
        self.assertIn('Could not abort multipart upload', self.log.output)
        for text in (self.bucket, key, upload_id):
            self.assertIn(text, self.log.output)
        self.assertEqual([(key, upload_id)],
                         servers.list_open_uploads(admin, self.bucket))

        # What the operator does once the backend is back.
        px.passthrough()
        admin.abort_multipart_upload(Bucket=self.bucket, Key=key,
                                     UploadId=upload_id)
        self.assertNothingLeft(self.kind)
