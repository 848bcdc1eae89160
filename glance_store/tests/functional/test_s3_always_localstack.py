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

"""``always`` on LocalStack (AWS-faithful): the checksum is really stored.

LocalStack keeps the checksum a client sends and returns it on HEAD with
checksum mode on, as AWS does. These tests check that the object the
store wrote carries the checksum of its bytes, computed here with zlib
or hashlib, of the type the store asked for (FULL_OBJECT for CRC32,
COMPOSITE for SHA256 multipart uploads), and that a download whose body
is corrupted on its way back (a proxy flips one byte) fails with
ChecksumMismatch instead of serving the bytes as valid.
"""

import base64
import hashlib
import zlib


from glance_store import exceptions
from glance_store.tests.functional import proxy as proxy_mod
from glance_store.tests.functional import s3_store_helpers as helpers

MiB = helpers.MiB
# The object GET only: not GetObjectAttributes (``?attributes``).
OBJECT_GET = r'^GET /[^?]+ HTTP/'


def crc32_b64(data):
    return base64.b64encode(zlib.crc32(data).to_bytes(4, 'big')).decode()


def sha256_b64(data):
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


class TestAlwaysOnLocalStack(helpers.S3StoreTestCase):

    def setUp(self):
        super().setUp()
        self.ls = self.server('localstack')
        self.bucket = self.bucket_of('localstack')
        host, port = helpers.servers.endpoint(
            self.ls, 'http')[len('http://'):].rsplit(':', 1)
        self.proxy = proxy_mod.TCPProxy(host, int(port))
        self.proxy.start()
        self.addCleanup(self.proxy.stop)
        self.log = self.useFixture(helpers.LogCapture())

    def _store(self, checksums):
        return self.store('localstack', 'http', checksums,
                          endpoint=self.proxy.url)

    def _check_corrupted_download(self, store, loc, data):
        """One flipped byte on the way back: ChecksumMismatch."""
        self.proxy.corrupt_response(offset=len(data) // 2,
                                    match=OBJECT_GET)
        flips = self.proxy.stats()['response_flips']
        exc = self.assertRaises(exceptions.ChecksumMismatch,
                                helpers.read_all, store, loc)
        self.assertEqual(flips + 1, self.proxy.stats()['response_flips'])
        self.assertIn(loc.store_location.key, str(exc))
        # The stored object is intact: the next read is fine.
        got, _size = helpers.read_all(store, loc)
        self.assertEqual(hashlib.sha512(data).hexdigest(),
                         hashlib.sha512(got).hexdigest())

    def _add(self, store, data, declared):
        key, result = self.add(store, data, declared)
        uri = self.assertAdded(result, data)
        return key, self.assertStored(store, uri, data)

    def test_crc32_single_part(self):
        store = self._store(helpers.ALWAYS_CRC32)
        data = helpers.image(1 * MiB, seed=32)
        key, loc = self._add(store, data, len(data))
        head = self.head('localstack', key, ChecksumMode='ENABLED')
        self.assertEqual(crc32_b64(data), head['ChecksumCRC32'])
        self.assertEqual('FULL_OBJECT', head['ChecksumType'])
        self.assertNotIn('-', head['ETag'])  # one PutObject
        # The store sent it as a plain header with a Content-Length.
        self.assertEqual(1, len(self.proxy.requests_matching(
            r'^PUT /%s/%s HTTP' % (self.bucket, key))))
        self._check_corrupted_download(store, loc, data)

    def test_crc32_multipart_full_object(self):
        store = self._store(helpers.ALWAYS_CRC32)
        data = helpers.image(12 * MiB, seed=33)
        key, loc = self._add(store, data, 0)
        head = self.head('localstack', key, ChecksumMode='ENABLED')
        self.assertEqual(crc32_b64(data), head['ChecksumCRC32'])
        self.assertEqual('FULL_OBJECT', head['ChecksumType'])
        parts = self.proxy.requests_matching(
            r'^PUT /%s/%s\?.*partNumber=' % (self.bucket, key))
        self.assertGreaterEqual(len(parts), 2)
        self.assertTrue(head['ETag'].endswith('-%d"' % len(parts)),
                        head['ETag'])
        self._check_corrupted_download(store, loc, data)

    def test_sha256_multipart_composite(self):
        store = self._store(helpers.ALWAYS_SHA256)
        data = helpers.image(12 * MiB, seed=256)
        key, loc = self._add(store, data, len(data))
        head = self.head('localstack', key, ChecksumMode='ENABLED')
        self.assertEqual('COMPOSITE', head['ChecksumType'])
        admin = self.admin('localstack')
        attrs = admin.get_object_attributes(
            Bucket=self.bucket, Key=key,
            ObjectAttributes=['ObjectParts', 'Checksum'])
        parts = attrs['ObjectParts']['Parts']
        self.assertGreaterEqual(len(parts), 2)
        # Each part's SHA256 is the one of its bytes, and the object's is
        # the SHA256 of the part digests, "-N".
        digests = []
        pos = 0
        for part in parts:
            piece = data[pos:pos + part['Size']]
            pos += part['Size']
            self.assertEqual(sha256_b64(piece), part['ChecksumSHA256'])
            digests.append(hashlib.sha256(piece).digest())
        self.assertEqual(len(data), pos)
        composite = '%s-%d' % (sha256_b64(b''.join(digests)), len(parts))
        self.assertEqual(composite, head['ChecksumSHA256'])
        # LocalStack lists the part checksums (GetObjectAttributes), so
        # the store checks composite checksums itself: no "not available"
        # warning, and a corrupted body is caught.
        self.assertNotIn('parts are not available', self.log.output)
        self._check_corrupted_download(store, loc, data)
        self.assertNotIn('parts are not available', self.log.output)
        self.assertNotIn('served without validation', self.log.output)

    def test_sha256_single_part(self):
        store = self._store(helpers.ALWAYS_SHA256)
        data = helpers.image(1 * MiB, seed=2560)
        key, loc = self._add(store, data, 0)
        head = self.head('localstack', key, ChecksumMode='ENABLED')
        self.assertEqual(sha256_b64(data), head['ChecksumSHA256'])
        self.assertEqual('FULL_OBJECT', head['ChecksumType'])
        self._check_corrupted_download(store, loc, data)
