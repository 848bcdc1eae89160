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

"""Corrupted bytes between the store and real S3 servers.

A proxy on loopback flips one byte of request bodies (uploads) or of
response bodies (downloads). What must hold:

* a corrupted upload is never stored as a valid image: the server rejects
  it and the store raises ChecksumMismatch (or, over end-to-end TLS, the
  TLS layer breaks and the store raises RemoteServiceUnavailable /
  BackendException), with no object and no open multipart upload left;
* a corrupted download of an object whose checksum the server stored
  raises ChecksumMismatch under ``when_supported`` and ``always``.

What rejects a corrupted upload depends on the server and the mode:
Ceph RGW checks the SigV4 payload hash (XAmzContentSHA256Mismatch) and
Content-MD5 (BadDigest) and ignores checksum headers; LocalStack, like
AWS, checks Content-MD5 and checksum headers (BadDigest) but, unlike
AWS, not the payload hash. botocore's legacy retry mode retries BadDigest
answers, so there a one-off flip ends in a correct object; a flip on
every attempt always ends in ChecksumMismatch. The cases below pin each
of these down; the "measured" ones document what a server does not
detect.
"""


from glance_store import exceptions
from glance_store.tests.functional import proxy as proxy_mod
from glance_store.tests.functional import s3_store_helpers as helpers
from glance_store.tests.functional import servers

MiB = helpers.MiB
SINGLE = 1 * MiB
MULTI = 12 * MiB
SINGLE_PUT = r'^PUT /[^?]+ HTTP/'
PART_2 = r'^PUT /[^?]+\?.*partNumber=2'
OBJECT_GET = r'^GET /[^?]+ HTTP/'
REJECT_CODES = ('XAmzContentSHA256Mismatch', 'BadDigest')

# (server, transport, checksums, shape, code the server rejects with, or
# None when the corruption goes through: stored as it arrived).
# transport: 'http', or 'tls-term' (HTTPS from the store to a proxy that
# terminates TLS and talks HTTP to the server, as load balancers do).
UPLOAD_CASES = (
    ('rgw', 'http', helpers.SWITCH_OFF, SINGLE, 'XAmzContentSHA256Mismatch'),
    ('rgw', 'http', helpers.SWITCH_OFF, MULTI, 'XAmzContentSHA256Mismatch'),
    ('rgw', 'http', helpers.WHEN_SUPPORTED, SINGLE,
     'XAmzContentSHA256Mismatch'),
    ('rgw', 'http', helpers.WHEN_SUPPORTED, MULTI,
     'XAmzContentSHA256Mismatch'),
    ('rgw', 'http', helpers.ALWAYS_CRC32, SINGLE,
     'XAmzContentSHA256Mismatch'),
    ('rgw', 'http', helpers.ALWAYS_CRC32, MULTI, 'XAmzContentSHA256Mismatch'),
    # Over HTTPS the single PUT is unsigned but carries Content-MD5.
    ('rgw', 'tls-term', helpers.SWITCH_OFF, SINGLE, 'BadDigest'),
    ('rgw', 'tls-term', helpers.SWITCH_OFF, MULTI,
     'XAmzContentSHA256Mismatch'),
    ('rgw', 'tls-term', helpers.ALWAYS_CRC32, SINGLE, 'BadDigest'),
    ('rgw', 'tls-term', helpers.ALWAYS_CRC32, MULTI,
     'XAmzContentSHA256Mismatch'),
    ('localstack', 'http', helpers.SWITCH_OFF, SINGLE, 'BadDigest'),
    # Measured gap: LocalStack does not check the SigV4 payload hash
    # (AWS does), and a part sent with the switch off carries nothing
    # else to check.
    ('localstack', 'http', helpers.SWITCH_OFF, MULTI, None),
    ('localstack', 'http', helpers.WHEN_SUPPORTED, SINGLE, 'BadDigest'),
    ('localstack', 'http', helpers.WHEN_SUPPORTED, MULTI, 'BadDigest'),
    ('localstack', 'http', helpers.ALWAYS_CRC32, SINGLE, 'BadDigest'),
    ('localstack', 'http', helpers.ALWAYS_CRC32, MULTI, 'BadDigest'),
    ('localstack', 'http', helpers.ALWAYS_SHA256, MULTI, 'BadDigest'),
    ('localstack', 'tls-term', helpers.SWITCH_OFF, SINGLE, 'BadDigest'),
    ('localstack', 'tls-term', helpers.SWITCH_OFF, MULTI, None),
    ('localstack', 'tls-term', helpers.WHEN_SUPPORTED, MULTI, 'BadDigest'),
    ('localstack', 'tls-term', helpers.ALWAYS_CRC32, MULTI, 'BadDigest'),
)


def _host_port(url):
    hostport = url.split('://', 1)[1]
    host, port = hostport.rsplit(':', 1)
    return host, int(port)


class CorruptionTestCase(helpers.S3StoreTestCase):

    def setUp(self):
        super().setUp()
        self.log = self.useFixture(helpers.LogCapture())

    def make_proxy(self, kind, transport='http'):
        """A proxy in front of ``kind``'s HTTP endpoint."""
        host, port = _host_port(servers.endpoint(self.server(kind), 'http'))
        kwargs = {}
        if transport == 'tls-term':
            cert, key = helpers.self_signed_cert(self.tmp)
            kwargs = {'tls_certfile': cert, 'tls_keyfile': key}
            self.proxy_cert = cert
        px = proxy_mod.TCPProxy(host, port, **kwargs).start()
        self.addCleanup(px.stop)
        return px

    def proxied_store(self, kind, px, checksums):
        cacert = getattr(self, 'proxy_cert', None)
        return self.store(kind, 'http', checksums, endpoint=px.url,
                          cacert=cacert)


class TestCorruptedUploads(CorruptionTestCase):
    """A byte flipped on its way to the server, on every attempt."""

    def _case(self, kind, transport, checksums, size, code):
        px = self.make_proxy(kind, transport)
        store = self.proxied_store(kind, px, checksums)
        match = SINGLE_PUT if size == SINGLE else PART_2
        data = helpers.image(size, seed=size + 1)
        # Every matching request (botocore retries BadDigest): the
        # corruption is never transient here.
        px.corrupt_request(offset=4321, match=match, times=None)
        key = helpers.unique_key('corrupt')
        if code is None:
            result = store.add(key, helpers.Reader(data), size, 'sha512')
            self.assertGreaterEqual(px.stats()['request_flips'], 1)
            # The store computed md5 and the multihash from the bytes it
            # read, so Glance records the right ones...
            self.assertAdded(result, data)
            # ...but the server kept what arrived: a flipped byte.
            px.passthrough()
            got, _size = helpers.read_all(store,
                                          helpers.get_location(
                                              store, result[0]))
            self.assertEqual(len(data), len(got))
            self.assertNotEqual(helpers.digests(data), helpers.digests(got))
            return
        exc = self.assertRaises(exceptions.ChecksumMismatch, store.add, key,
                                helpers.Reader(data), size, 'sha512')
        self.assertIn(code, str(exc))
        self.assertIn(key, str(exc))
        flips = px.stats()['request_flips']
        attempts = len(px.requests_matching(match))
        self.assertEqual(attempts, flips)
        if code == 'BadDigest' and helpers.retries_bad_digest(store):
            # botocore's legacy retry mode retries BadDigest.
            self.assertEqual(helpers.total_attempts(store), attempts)
        else:
            self.assertEqual(1, attempts)
        self.assertNothingLeft(kind, key)
        if size == MULTI:
            self.assertIn('Aborted multipart upload', self.log.output)


def _upload_test(kind, transport, checksums, size, code):
    def test(self):
        self._case(kind, transport, checksums, size, code)
    return test


for _case in UPLOAD_CASES:
    _name = 'test_%s_%s_%s_%s' % (
        _case[0], _case[1].replace('-', '_'),
        _case[2].name.replace(' ', '_').lower(),
        'single' if _case[3] == SINGLE else 'multipart')
    setattr(TestCorruptedUploads, _name, _upload_test(*_case))


class TestTransientCorruption(CorruptionTestCase):
    """One flipped byte, once: rejected with BadDigest.

    botocore's legacy retry mode (the default before botocore 1.44)
    retries BadDigest: the second attempt stores a byte-exact object.
    The standard mode (the default since) does not: the store raises
    ChecksumMismatch and nothing is stored. Either way nothing corrupted
    is stored.
    """

    def _once(self, kind, transport, checksums, size):
        px = self.make_proxy(kind, transport)
        store = self.proxied_store(kind, px, checksums)
        match = SINGLE_PUT if size == SINGLE else PART_2
        data = helpers.image(size, seed=size + 2)
        px.corrupt_request(offset=777, match=match, times=1)
        key = helpers.unique_key('once')
        if not helpers.retries_bad_digest(store):
            exc = self.assertRaises(exceptions.ChecksumMismatch, store.add,
                                    key, helpers.Reader(data), size,
                                    'sha512')
            self.assertIn('BadDigest', str(exc))
            self.assertEqual(1, len(px.requests_matching(match)))
            self.assertNothingLeft(kind, key)
            return
        key, result = self.add(store, data, size, key=key)
        self.assertEqual(1, px.stats()['request_flips'])
        self.assertEqual(2, len(px.requests_matching(match)))
        uri = self.assertAdded(result, data)
        self.assertStored(store, uri, data)

    def test_localstack_always_single(self):
        self._once('localstack', 'http', helpers.ALWAYS_CRC32, SINGLE)

    def test_localstack_always_multipart(self):
        self._once('localstack', 'http', helpers.ALWAYS_CRC32, MULTI)

    def test_rgw_tls_term_switch_off_single(self):
        self._once('rgw', 'tls-term', helpers.SWITCH_OFF, SINGLE)


class TestCorruptionBreaksTLS(CorruptionTestCase):
    """End-to-end HTTPS: a flipped TLS record byte breaks the connection."""

    def _raw_tls_proxy(self, kind):
        host, port = _host_port(servers.endpoint(self.server(kind),
                                                 'https'))
        if host == 'localhost':
            host = '127.0.0.1'
        px = proxy_mod.TCPProxy(host, port, http=False).start()
        self.addCleanup(px.stop)
        return px

    def _broken(self, size, checksums, kind='rgw'):
        px = self._raw_tls_proxy(kind)
        # The name the server's certificate carries.
        host = _host_port(servers.endpoint(self.server(kind), 'https'))[0]
        store = self.store(kind, 'https', checksums,
                           endpoint='https://%s:%d' % (host, px.port))
        self.assertTrue(store.use_https)
        data = helpers.image(size, seed=size + 3)
        # Past the handshake and the small requests before the upload:
        # inside the encrypted image bytes, on every connection.
        px.corrupt_request(offset=256 * 1024, times=None)
        key = helpers.unique_key('tls')
        exc = self.assertRaises(
            (exceptions.RemoteServiceUnavailable,
             exceptions.BackendException),
            store.add, key, helpers.Reader(data), size, 'sha512')
        self.assertGreaterEqual(px.stats()['request_flips'], 1)
        self.assertIn(key, str(exc))
        self.assertNothingLeft(kind, key)

    def test_single_part(self):
        self._broken(SINGLE, helpers.SWITCH_OFF)

    def test_multipart(self):
        self._broken(MULTI, helpers.ALWAYS_CRC32)

    def test_localstack_single_part(self):
        self._broken(SINGLE, helpers.WHEN_SUPPORTED, 'localstack')

    def test_localstack_multipart(self):
        self._broken(MULTI, helpers.SWITCH_OFF, 'localstack')


class TestCorruptedDownloads(CorruptionTestCase):
    """A byte flipped on its way back from the server."""

    def _stored(self, kind, size, uploader=helpers.ALWAYS_CRC32):
        px = self.make_proxy(kind)
        store = self.proxied_store(kind, px, uploader)
        data = helpers.image(size, seed=size + 4)
        key, result = self.add(store, data, size)
        uri = self.assertAdded(result, data)
        return px, uri, data

    def _read_corrupted(self, kind, px, uri, checksums, data):
        store = self.proxied_store(kind, px, checksums)
        loc = helpers.get_location(store, uri)
        px.corrupt_response(offset=len(data) - 5, match=OBJECT_GET)
        before = px.stats()['response_flips']
        try:
            got, _size = helpers.read_all(store, loc)
        except exceptions.ChecksumMismatch as e:
            result = e
        else:
            result = got
        self.assertEqual(before + 1, px.stats()['response_flips'])
        return result

    def _detected(self, size, checksums):
        px, uri, data = self._stored('localstack', size)
        result = self._read_corrupted('localstack', px, uri, checksums,
                                      data)
        self.assertIsInstance(result, exceptions.ChecksumMismatch)
        self.assertIn('CRC32', str(result))

    def test_when_supported_single(self):
        self._detected(SINGLE, helpers.WHEN_SUPPORTED)

    def test_when_supported_multipart(self):
        self._detected(MULTI, helpers.WHEN_SUPPORTED)

    def test_always_single(self):
        self._detected(SINGLE, helpers.ALWAYS_CRC32)

    def test_always_multipart(self):
        self._detected(MULTI, helpers.ALWAYS_CRC32)

    def test_switch_off_not_detected(self):
        # Measured: with validation off the flipped byte is served.
        px, uri, data = self._stored('localstack', SINGLE)
        result = self._read_corrupted('localstack', px, uri,
                                      helpers.SWITCH_OFF, data)
        self.assertIsInstance(result, bytes)
        self.assertEqual(len(data), len(result))
        self.assertNotEqual(data, result)

    def test_rgw_always_no_stored_checksum(self):
        # Measured: RGW 16 keeps no checksum, so there is nothing to
        # check; the store says so in its log and serves the bytes.
        px, uri, data = self._stored('rgw', SINGLE)
        result = self._read_corrupted('rgw', px, uri, helpers.ALWAYS_CRC32,
                                      data)
        self.assertIsInstance(result, bytes)
        self.assertNotEqual(data, result)
        self.assertIn('has no stored checksum', self.log.output)
