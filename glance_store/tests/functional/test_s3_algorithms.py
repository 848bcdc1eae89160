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

"""``always`` with SHA512, the XXHASH family and MD5 on real servers.

* LocalStack (2026.3, measured): a single PUT with SHA512 or an XXHASH
  algorithm stores and reads back byte-exact, validated against the
  checksum it keeps (its own CRC64NVME, not the one sent); a multipart
  upload with them is refused at CreateMultipartUpload (InvalidRequest)
  and nothing is left. MD5 works in both shapes.
* Ceph RGW 16 (stores no flexible checksum): every new algorithm works;
  ``MD5`` makes every PutObject and UploadPart carry Content-MD5, which
  RGW verifies: a part corrupted on its way is refused (BadDigest) and
  the upload fails with nothing left; a download altered on its way back
  fails with a checksum error naming MD5 (single-part objects, checked
  against the ETag; RGW 16 gives no part layout of multipart ones, which
  are served with a warning).
"""


from glance_store._drivers import s3_checksums
from glance_store._drivers import s3_download
from glance_store import exceptions
from glance_store.tests.functional import proxy as proxy_mod
from glance_store.tests.functional import s3_store_helpers as helpers
from glance_store.tests.functional import servers

MiB = helpers.MiB
SINGLE = 1 * MiB
# Three parts of 5 MiB, 5 MiB and 2 MiB.
MULTI = 12 * MiB
PART_2 = r'^PUT /[^?]+\?.*partNumber=2'
OBJECT_GET = r'^GET /[^?]+ HTTP/'
NEW = ('SHA512', 'XXHASH64', 'XXHASH3', 'XXHASH128')


def always(algorithm):
    return helpers.Checksums('always ' + algorithm, True, 'always',
                             'always', algorithm)


ALWAYS_MD5 = always('MD5')


def _host_port(url):
    host, port = url.split('://', 1)[1].rsplit(':', 1)
    return host, int(port)


class AlgorithmsTestCase(helpers.S3StoreTestCase):

    def setUp(self):
        super().setUp()
        self.log = self.useFixture(helpers.LogCapture())

    def round_trip(self, kind, checksums, size, scheme='http'):
        store = self.store(kind, scheme, checksums)
        data = helpers.image(size, seed=size + 11)
        key, result = self.add(store, data)
        uri = self.assertAdded(result, data)
        self.assertStored(store, uri, data)
        return store, key

    def make_proxy(self, kind):
        host, port = _host_port(servers.endpoint(self.server(kind), 'http'))
        px = proxy_mod.TCPProxy(host, port).start()
        self.addCleanup(px.stop)
        return px

    def check_corrupted_part_refused(self, kind):
        px = self.make_proxy(kind)
        store = self.store(kind, 'http', ALWAYS_MD5, endpoint=px.url)
        data = helpers.image(MULTI, seed=5)
        px.corrupt_request(offset=4321, match=PART_2, times=None)
        key = helpers.unique_key('md5-part')
        exc = self.assertRaises(exceptions.ChecksumMismatch, store.add, key,
                                helpers.Reader(data), MULTI, 'sha512')
        self.assertGreaterEqual(px.stats()['request_flips'], 1)
        # Signed payloads over HTTP: the server may see the payload hash
        # first.
        self.assertTrue('BadDigest' in str(exc) or
                        'XAmzContentSHA256Mismatch' in str(exc), str(exc))
        self.assertIn(key, str(exc))
        self.assertIn('Aborted multipart upload', self.log.output)
        self.assertNothingLeft(kind, key)

    def check_corrupted_download_detected(self, kind):
        px = self.make_proxy(kind)
        store = self.store(kind, 'http', ALWAYS_MD5, endpoint=px.url)
        # Single-part: checked against the ETag, the MD5 of the object.
        data = helpers.image(SINGLE, seed=SINGLE + 6)
        _key, result = self.add(store, data)
        uri = self.assertAdded(result, data)
        loc = helpers.get_location(store, uri)
        px.corrupt_response(offset=len(data) - 5, match=OBJECT_GET)
        exc = self.assertRaises(exceptions.ChecksumMismatch,
                                helpers.read_all, store, loc)
        self.assertIn('MD5', str(exc))
        px.passthrough()
        self.assertStored(store, uri, data)


class TestLocalStack(AlgorithmsTestCase):
    """Stored and validated as AWS does."""

    def _algorithm(self, algorithm):
        reason = s3_checksums.unsupported_reason(algorithm)
        if reason:
            self.skipTest(reason)
        # Measured: LocalStack 2026.3 refuses these algorithms in
        # CreateMultipartUpload (InvalidRequest, "Checksum algorithm
        # provided is unsupported"); the upload fails, nothing is left.
        store = self.store('localstack', 'http', always(algorithm))
        data = helpers.image(MULTI, seed=3)
        key = helpers.unique_key('multi')
        exc = self.assertRaises(exceptions.BackendException, store.add,
                                key, helpers.Reader(data), MULTI, 'sha512')
        self.assertIn('InvalidRequest', str(exc))
        # The message names the option to change.
        self.assertIn('s3_store_checksum_algorithm', str(exc))
        self.assertNothingLeft('localstack', key)
        for size in (SINGLE,):
            with self.subTest(size=size):
                store, key = self.round_trip('localstack',
                                             always(algorithm), size)
                head = self.head('localstack', key, ChecksumMode='ENABLED')
                stored, _value = s3_download.stored_checksum(head)
                # Measured: LocalStack 2026.3 accepts the header and keeps
                # a CRC64NVME of its own instead (AWS keeps the one sent);
                # either way the download is checked against it.
                self.assertIn(stored, (algorithm, 'CRC64NVME'), head)
                self.assertNotIn('served without validation',
                                 self.log.output)

    def test_sha512(self):
        self._algorithm('SHA512')

    def test_xxhash64(self):
        self._algorithm('XXHASH64')

    def test_xxhash3(self):
        self._algorithm('XXHASH3')

    def test_xxhash128(self):
        self._algorithm('XXHASH128')

    def test_md5(self):
        for size in (SINGLE, MULTI):
            with self.subTest(size=size):
                self.round_trip('localstack', ALWAYS_MD5, size)
        # LocalStack keeps a CRC64NVME of its own for objects sent
        # without checksum: that stored checksum is what is checked.
        self.assertNotIn('served without validation', self.log.output)

    def test_md5_https(self):
        self.round_trip('localstack', ALWAYS_MD5, MULTI, scheme='https')


class TestRGW(AlgorithmsTestCase):
    """Ceph RGW 16: no stored checksum; Content-MD5 verified."""

    def test_new_algorithms_work(self):
        # RGW 16 ignores the headers and stores none: the images are
        # byte-exact, their downloads unvalidated (said once per backend).
        for algorithm in NEW:
            if s3_checksums.unsupported_reason(algorithm):
                continue
            for size in (SINGLE, MULTI):
                with self.subTest(algorithm=algorithm, size=size):
                    self.round_trip('rgw', always(algorithm), size)
        self.assertIn('has no stored checksum', self.log.output)

    def test_md5_validated_against_the_etag(self):
        for scheme in ('http', 'https'):
            for size in (SINGLE, MULTI):
                with self.subTest(scheme=scheme, size=size):
                    self.round_trip('rgw', ALWAYS_MD5, size, scheme)
        # Measured on RGW 16.2: single-part objects are checked against
        # their ETag; for multipart ones it gives no part layout (neither
        # GetObjectAttributes nor part-number HEADs), so they are served
        # with the warning.
        self.assertNotIn('has no stored checksum', self.log.output)
        self.assertIn('part sizes the backend does not give',
                      self.log.output)

    def test_md5_corrupted_part_refused(self):
        self.check_corrupted_part_refused('rgw')

    def test_md5_corrupted_download_detected(self):
        self.check_corrupted_download_detected('rgw')


class TestSwift(AlgorithmsTestCase):
    """Swift 2.30's s3api: no stored checksum; Content-MD5 verified."""

    def test_md5_round_trip(self):
        for scheme in ('http', 'https'):
            for size in (SINGLE, MULTI):
                with self.subTest(scheme=scheme, size=size):
                    self.round_trip('swift', ALWAYS_MD5, size, scheme)
        self.assertNotIn('has no stored checksum', self.log.output)

    def test_md5_corrupted_part_refused(self):
        self.check_corrupted_part_refused('swift')

    def test_md5_corrupted_download_detected(self):
        self.check_corrupted_download_detected('swift')


class TestSeaweedFS(AlgorithmsTestCase):
    """SeaweedFS: Content-MD5 verified, MD5 ETags."""

    def test_md5_round_trip(self):
        for size in (SINGLE, MULTI):
            with self.subTest(size=size):
                self.round_trip('seaweedfs', ALWAYS_MD5, size)

    def test_md5_corrupted_part_refused(self):
        self.check_corrupted_part_refused('seaweedfs')
