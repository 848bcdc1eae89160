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
* a body that fails to close does not fail a download that was served.
"""

import hashlib
import io
import logging

from botocore import exceptions as boto_exc
from botocore import httpchecksum
import fixtures

from glance_store._drivers import s3_checksums
from glance_store._drivers import s3_download
from glance_store import exceptions
from glance_store.tests import base


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
