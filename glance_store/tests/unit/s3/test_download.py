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

"""Unit tests of s3_download: bodies botocore validates, the iterator.

* ``botocore_validates`` knows botocore's validating body by its class
  (subclasses included), not by its name;
* the iterator names the algorithm it was given when botocore's own
  validation fails, whatever botocore's message says;
* a body that fails to close does not fail a download that was served;
* through the store, each response validation mode checks a download
  against the stored checksum (single-part, full-object and composite
  multipart) and refuses one that does not match.
"""

import hashlib
import io
import logging
from unittest import mock

from botocore import exceptions as boto_exc
from botocore import httpchecksum
import fixtures

from glance_store._drivers import s3_checksums
from glance_store._drivers import s3_download
from glance_store import exceptions
from glance_store.tests import base
from glance_store.tests.unit.s3 import fixtures as fx


class _Body(object):

    def __init__(self, chunks, error=None, close_error=None):
        self.chunks = list(chunks)
        self.error = error
        self.close_error = close_error
        self.closed = False

    def read(self, size):
        if self.chunks:
            return self.chunks.pop(0)
        if self.error is not None:
            raise self.error
        return b''

    def close(self):
        self.closed = True
        if self.close_error is not None:
            raise self.close_error


class BotocoreValidatesTest(base.StoreBaseTest):

    def test_by_class(self):
        body = httpchecksum.StreamingChecksumBody(
            io.BytesIO(b'abc'), 3, httpchecksum.Crc32Checksum(), 'x')

        class Sub(httpchecksum.StreamingChecksumBody):
            pass
        sub = Sub(io.BytesIO(b'abc'), 3, httpchecksum.Crc32Checksum(), 'x')

        class StreamingChecksumBody(object):
            """Same name, another class."""
        self.assertTrue(s3_download.botocore_validates(body))
        self.assertTrue(s3_download.botocore_validates(sub))
        self.assertFalse(s3_download.botocore_validates(
            StreamingChecksumBody()))
        self.assertFalse(s3_download.botocore_validates(io.BytesIO()))


class ObjectIteratorTest(base.StoreBaseTest):

    def _iterator(self, body, algorithm=None):
        return s3_download.ObjectIterator(body, 4, None, 's3', 'bkt', 'key',
                                          algorithm=algorithm)

    def test_algorithm_given_not_parsed(self):
        # botocore's message names crc32; the stored checksum is SHA256.
        error = boto_exc.FlexibleChecksumError(
            error_msg='Expected checksum x did not match calculated '
                      'checksum: y (crc32)')
        body = _Body([b'data'], error=error)
        e = self.assertRaises(exceptions.ChecksumMismatch, list,
                              self._iterator(body, 'SHA256'))
        self.assertIn('SHA256', e.msg)
        self.assertNotIn('CRC32', e.msg)
        self.assertIn('bkt/key', e.msg)
        self.assertTrue(body.closed)

    def test_connection_error_while_reading(self):
        body = _Body([b'data'], error=boto_exc.ReadTimeoutError(
            endpoint_url='https://s3.example.test'))
        e = self.assertRaises(exceptions.RemoteServiceUnavailable, list,
                              self._iterator(body))
        self.assertIn('bkt/key', e.msg)

    def test_close_failure_does_not_fail_the_download(self):
        log = self.useFixture(fixtures.FakeLogger(level=logging.DEBUG))
        body = _Body([b'da', b'ta'], close_error=OSError('gone'))
        self.assertEqual(b'data', b''.join(self._iterator(body)))
        self.assertTrue(body.closed)
        self.assertIn('gone', log.output)


def _client_error(code, status):
    return boto_exc.ClientError(
        {'Error': {'Code': code, 'Message': code},
         'ResponseMetadata': {'HTTPStatusCode': status}}, 'Op')


class _PartsClient(object):
    """Answers GetObjectAttributes and part-number HeadObjects.

    :param sizes: the part sizes the backend gives
    :param attributes: whether GetObjectAttributes lists them (else it
        fails with NotImplemented, like Ceph RGW 16)
    :param heads: whether HeadObject with PartNumber answers
    """

    def __init__(self, sizes, attributes=True, heads=True):
        self.sizes = sizes
        self.attributes = attributes
        self.heads = heads
        self.calls = []

    def get_object_attributes(self, **kw):
        self.calls.append(('attributes', kw))
        if not self.attributes:
            raise _client_error('NotImplemented', 501)
        return {'ObjectParts': {
            'Parts': [{'PartNumber': n, 'Size': s}
                      for n, s in enumerate(self.sizes, 1)],
            'IsTruncated': False}}

    def head_object(self, **kw):
        self.calls.append(('head', kw))
        if not self.heads or kw['PartNumber'] > len(self.sizes):
            raise _client_error('InvalidPartNumber', 416)
        return {'ContentLength': self.sizes[kw['PartNumber'] - 1]}


def _policy(algorithm='MD5'):
    return s3_checksums.ChecksumPolicy.from_options(
        True, 'always', 'always', algorithm)


class ETagValidationTest(base.StoreBaseTest):
    """always/MD5: objects with no stored checksum, by their ETag."""

    DATA = bytes(range(256)) * 100
    SIZES = [10000, 10000, 5600]

    def setUp(self):
        super().setUp()
        self.log = self.useFixture(fixtures.FakeLogger(level=logging.DEBUG))

    def parts(self, data=None):
        data = self.DATA if data is None else data
        pos, out = 0, []
        for size in self.SIZES:
            out.append(data[pos:pos + size])
            pos += size
        return out

    def multipart_etag(self):
        digests = b''.join(hashlib.md5(p).digest() for p in self.parts())
        return '"%s-%d"' % (hashlib.md5(digests).hexdigest(),
                            len(self.SIZES))

    def read(self, client, response, body):
        validator = s3_download.make_validator(
            client, _policy(), response, 'bkt', 'key', False)
        chunks = [body[i:i + 4000] for i in range(0, len(body), 4000)]
        it = s3_download.ObjectIterator(_Body(chunks), 4000, validator,
                                        's3', 'bkt', 'key')
        return validator, it

    def response(self, etag, **extra):
        resp = {'ETag': etag, 'ContentLength': len(self.DATA)}
        resp.update(extra)
        return resp

    def test_single_part(self):
        resp = self.response('"%s"' % hashlib.md5(self.DATA).hexdigest())
        validator, it = self.read(None, resp, self.DATA)
        self.assertIsNotNone(validator)
        self.assertEqual(self.DATA, b''.join(it))
        bad = self.DATA[:-1] + b'!'
        _v, it = self.read(None, resp, bad)
        e = self.assertRaises(exceptions.ChecksumMismatch, b''.join, it)
        self.assertIn('bkt/key', e.msg)
        self.assertIn('MD5', e.msg)

    def test_upper_case_etag(self):
        resp = self.response(hashlib.md5(self.DATA).hexdigest().upper())
        _v, it = self.read(None, resp, self.DATA)
        self.assertEqual(self.DATA, b''.join(it))

    def test_multipart_from_attributes_or_heads(self):
        for attributes in (True, False):
            with self.subTest(attributes=attributes):
                client = _PartsClient(self.SIZES, attributes=attributes)
                resp = self.response(self.multipart_etag())
                _v, it = self.read(client, resp, self.DATA)
                self.assertEqual(self.DATA, b''.join(it))
                heads = [kw['PartNumber'] for op, kw in client.calls
                         if op == 'head']
                # Part 1's HEAD first tells the backend knows part numbers.
                self.assertEqual([1] if attributes else [1, 2, 3], heads)
                bad = bytearray(self.DATA)
                bad[15000] ^= 1
                _v, it = self.read(client, resp, bytes(bad))
                e = self.assertRaises(exceptions.ChecksumMismatch,
                                      b''.join, it)
                self.assertIn('MD5', e.msg)
                # A body longer than the parts say.
                _v, it = self.read(client, resp, self.DATA + b'x')
                self.assertRaises(exceptions.ChecksumMismatch, b''.join, it)

    def test_multipart_without_layout_served_with_warning(self):
        cases = (('no answer', _PartsClient(self.SIZES, False, False)),
                 ('sizes do not add up', _PartsClient([1, 2, 3], False)),
                 ('other part count', _PartsClient([len(self.DATA)])))
        for name, client in cases:
            with self.subTest(case=name):
                validator, it = self.read(
                    client, self.response(self.multipart_etag()),
                    self.DATA)
                self.assertIsNone(validator)
                self.assertEqual(self.DATA, b''.join(it))
        self.assertIn('part sizes the backend does not give',
                      self.log.output)

    def test_no_attributes_request_where_part_numbers_are_unknown(self):
        # Swift 2.30's s3api answers a part-number HEAD with 405 and
        # GetObjectAttributes with the whole object; Ceph RGW 16 answers
        # a part-number HEAD about the whole object.
        whole = _PartsClient([len(self.DATA)])
        refused = _PartsClient(self.SIZES, heads=False)
        for name, client in (('405', refused), ('whole object', whole)):
            with self.subTest(case=name):
                validator, it = self.read(
                    client, self.response(self.multipart_etag()),
                    self.DATA)
                self.assertIsNone(validator)
                self.assertEqual(self.DATA, b''.join(it))
                self.assertEqual(['head'],
                                 [op for op, _kw in client.calls])

    def test_sse_kms_and_sse_c_not_checked_against_the_etag(self):
        etag = '"%s"' % hashlib.md5(b'other data').hexdigest()
        for extra in ({'ServerSideEncryption': 'aws:kms'},
                      {'ServerSideEncryption': 'aws:kms:dsse'},
                      {'SSECustomerAlgorithm': 'AES256'}):
            with self.subTest(extra=extra):
                resp = self.response(etag, **extra)
                self.assertFalse(s3_download.etag_is_md5(resp))
                validator, it = self.read(object(), resp, self.DATA)
                self.assertIsNone(validator)
                self.assertEqual(self.DATA, b''.join(it))
        self.assertIn('ETag is not an MD5', self.log.output)
        # SSE-S3 keeps MD5 ETags.
        self.assertTrue(s3_download.etag_is_md5(self.response(
            etag, ServerSideEncryption='AES256')))
        self.assertFalse(s3_download.etag_is_md5(self.response('"abc"')))

    def test_only_with_md5(self):
        resp = self.response('"%s"' % hashlib.md5(b'x').hexdigest())
        validator = s3_download.make_validator(
            object(), _policy('CRC32'), resp, 'bkt', 'key', False)
        self.assertIsNone(validator)
        self.assertIn('no stored checksum', self.log.output)


class NoChecksumNoticeTest(base.StoreBaseTest):
    """The "served without validation" warning, once per backend."""

    def test_once_per_client_then_debug(self):
        log = self.useFixture(fixtures.FakeLogger(level=logging.DEBUG))
        records = []
        handler = logging.Handler()
        handler.emit = records.append
        logger = logging.getLogger('glance_store._drivers.s3_download')
        logger.addHandler(handler)
        self.addCleanup(logger.removeHandler, handler)

        class Client(object):
            pass
        first, second = Client(), Client()
        policy = _policy('CRC32')
        for client in (first, first, first, second):
            self.assertIsNone(s3_download.make_validator(
                client, policy, {'ETag': '"x"'}, 'bkt', 'key', False))
        levels = [r.levelno for r in records
                  if 'no stored checksum' in r.getMessage()]
        self.assertEqual([logging.WARNING, logging.DEBUG, logging.DEBUG,
                          logging.WARNING], levels)
        self.assertIn('logged once for this backend', log.output)


class TestResponseValidation(fx.StubbedStoreTest):
    """What the store checks on a download, per validation mode."""

    def _get(self, st, response, expected_params=None, attrs=(),
             stub=None):
        stub = stub or fx.Stubbed.for_test(self, st._s3_client)
        stub.add_response('get_object', response, expected_params or
                          {'Bucket': fx.BUCKET, 'Key': 'obj',
                           'ChecksumMode': 'ENABLED'})
        for resp, params in attrs:
            stub.add_response('get_object_attributes', resp, params)
        it, _size = st.get(fx.get_location(st, 'obj'))
        return it, stub

    def test_always_detects_corrupted_body(self):
        good = fx.LARGE
        bad = fx.LARGE[:-1] + b'\x00'
        # MD5: a stored x-amz-checksum-md5 (AWS's newer flexible one).
        for algorithm in fx.ALGORITHMS + fx.NEW_ALGORITHMS + ('MD5',):
            with self.subTest(algorithm=algorithm):
                st = self.policy_store(True, 'when_required', 'always',
                                       algorithm)
                stored = {'Checksum' + algorithm:
                          fx.ref_checksum(algorithm, good)}
                it, stub = self._get(st, fx.get_object(good, **stored))
                self.assertEqual(good, b''.join(it))
                it, _s = self._get(st, fx.get_object(bad, **stored),
                                   stub=stub)
                e = self.assertRaises(exceptions.ChecksumMismatch,
                                      b''.join, it)
                self.assertIn('%s/obj' % fx.BUCKET, e.msg)
                self.assertIn(algorithm, e.msg)

    def test_always_validates_other_algorithm_than_configured(self):
        # The stored checksum decides, not s3_store_checksum_algorithm.
        st = self.policy_store(True, 'when_required', 'always', 'CRC32')
        stored = {'ChecksumSHA1': fx.ref_checksum('SHA1', fx.SMALL)}
        it, _s = self._get(st, fx.get_object(fx.SMALL[1:] + b'!', **stored))
        e = self.assertRaises(exceptions.ChecksumMismatch, list, it)
        self.assertIn('SHA1', e.msg)

    def _composite_case(self, algorithm, body, pages):
        parts = fx.split_parts(fx.LARGE)
        stored = '%s-%d' % (
            fx.ref_checksum(algorithm, b''.join(
                fx.ref_digest(algorithm, p) for p in parts)), len(parts))
        attrs = []
        described = [{'PartNumber': n, 'Size': len(p),
                      'Checksum' + algorithm: fx.ref_checksum(algorithm, p)}
                     for n, p in enumerate(parts, 1)]
        per_page = -(-len(described) // pages)
        marker = 0
        for page in range(pages):
            chunk = described[page * per_page:(page + 1) * per_page]
            last = page == pages - 1
            info = {'Parts': chunk, 'IsTruncated': not last}
            if not last:
                info['NextPartNumberMarker'] = chunk[-1]['PartNumber']
            attrs.append(({'ObjectParts': info},
                          {'Bucket': fx.BUCKET, 'Key': 'obj',
                           'ObjectAttributes': ['ObjectParts'],
                           'MaxParts': 1000, 'PartNumberMarker': marker}))
            if not last:
                marker = chunk[-1]['PartNumber']
        st = self.policy_store(True, 'when_required', 'always', algorithm)
        it, stub = self._get(
            st, fx.get_object(body, **{'Checksum' + algorithm: stored}),
            attrs=attrs)
        return it, stub

    def test_always_composite(self):
        part = fx.SAMPLE_PART
        bad = fx.LARGE[:part + 3] + b'\xff' + fx.LARGE[part + 4:]
        for algorithm in ('SHA256', 'SHA1', 'CRC32') + fx.NEW_ALGORITHMS:
            for pages in (1, 2):
                with self.subTest(algorithm=algorithm, pages=pages):
                    it, stub = self._composite_case(algorithm, fx.LARGE, pages)
                    self.assertEqual(fx.LARGE, b''.join(it))
                    stub.assert_no_pending_responses()
                    it, stub = self._composite_case(algorithm, bad, pages)
                    e = self.assertRaises(exceptions.ChecksumMismatch,
                                          b''.join, it)
                    self.assertIn('%s/obj' % fx.BUCKET, e.msg)
                    self.assertIn(algorithm, e.msg)

    def test_always_composite_wrong_length(self):
        for body in (fx.LARGE + b'extra', fx.LARGE[:-1]):
            with self.subTest(size=len(body)):
                it, _stub = self._composite_case('SHA256', body, 1)
                e = self.assertRaises(exceptions.ChecksumMismatch,
                                      b''.join, it)
                self.assertIn('SHA256', e.msg)

    def _composite_unverifiable(self, attrs_error=False):
        st = self.policy_store(True, 'when_required', 'always', 'SHA256')
        stub = fx.Stubbed.for_test(self, st._s3_client)
        stub.add_response('get_object', fx.get_object(
            fx.LARGE, ChecksumSHA256='AAAA-3'))
        if attrs_error:
            stub.add_client_error('get_object_attributes', 'AccessDenied',
                                  'no', 403)
        else:
            # A part without a checksum of that algorithm.
            stub.add_response('get_object_attributes', {'ObjectParts': {
                'Parts': [{'PartNumber': 1, 'Size': len(fx.LARGE)}],
                'IsTruncated': False}})
        logger = self.useFixture(fixtures.FakeLogger(
            name='glance_store._drivers.s3_download'))
        it, _s = st.get(fx.get_location(st, 'obj'))
        # Served, with a warning saying it could not be checked.
        self.assertEqual(fx.LARGE, b''.join(it))
        self.assertIn('served without validation', logger.output)
        stub.assert_no_pending_responses()

    def test_always_composite_parts_unavailable(self):
        self._composite_unverifiable(attrs_error=True)

    def test_always_composite_part_without_checksum(self):
        self._composite_unverifiable(attrs_error=False)

    def test_always_crt_checksum_without_awscrt(self):
        st = self.policy_store(True, 'when_required', 'always', 'CRC32')
        logger = self.useFixture(fixtures.FakeLogger(
            name='glance_store._drivers.s3_download'))
        with mock.patch.object(s3_checksums, 'crt_checksums', None):
            it, _s = self._get(st, fx.get_object(
                fx.SMALL, ChecksumCRC32C=fx.ref_checksum('CRC32C', b'other')))
            self.assertEqual(fx.SMALL, b''.join(it))
        self.assertIn('needs awscrt', logger.output)

    def test_always_without_stored_checksum_serves_with_warning(self):
        st = self.policy_store(True, 'when_required', 'always')
        logger = self.useFixture(fixtures.FakeLogger(
            name='glance_store._drivers.s3_download'))
        it, _s = self._get(st, fx.get_object(fx.SMALL))
        self.assertEqual(fx.SMALL, b''.join(it))
        self.assertIn('no stored checksum', logger.output)

    def test_ranged_get_not_validated(self):
        # A range cannot be checked against a whole-object checksum: no
        # ChecksumMode is asked and the bytes are served as they are.
        st = self.policy_store(True, 'when_required', 'always')
        stub = fx.Stubbed.for_test(self, st._s3_client)
        stored = {'ChecksumCRC32': fx.ref_checksum('CRC32', fx.SMALL)}
        stub.add_response('get_object', fx.get_object(b'XYZ', **stored),
                          {'Bucket': fx.BUCKET, 'Key': 'obj',
                           'Range': 'bytes=5-'})
        it, size = st.get(fx.get_location(st, 'obj'), offset=5)
        self.assertEqual(b'XYZ', b''.join(it))
        self.assertEqual(3, size)

    def test_when_supported_botocore_error_becomes_mismatch(self):
        st = self.policy_store(True, 'when_required', 'when_supported')
        expected = fx.ref_checksum('CRC32', fx.SMALL)
        body = httpchecksum.StreamingChecksumBody(
            io.BytesIO(fx.SMALL[:-1] + b'?'), len(fx.SMALL),
            httpchecksum.Crc32Checksum(), expected)
        resp = {'Body': body, 'ContentLength': len(fx.SMALL),
                'ChecksumCRC32': expected}
        it, stub = self._get(st, resp, {'Bucket': fx.BUCKET, 'Key': 'obj'})
        e = self.assertRaises(exceptions.ChecksumMismatch, list, it)
        self.assertIn('%s/obj' % fx.BUCKET, e.msg)
        self.assertIn('CRC32', e.msg)
        # botocore itself asked for the checksum.
        self.assertEqual('ENABLED',
                         stub.headers('GetObject')['x-amz-checksum-mode'])
