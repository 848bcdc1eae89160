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

"""Unit tests of the S3 upload pipeline.

Single and multipart uploads, known and unknown sizes, parts in flight,
size checks, abort on every failure and hashing, against moto's S3
server on loopback (through a proxy client that records calls and
injects failures) or, for the concurrency checks, a fake client.
"""

import base64
import collections
import hashlib
import io
import logging
import threading
import tracemalloc
from unittest import mock

from botocore import exceptions as boto_exc
import fixtures

from glance_store._drivers import s3_checksums
from glance_store._drivers import s3_upload
from glance_store import exceptions
from glance_store.tests import base
from glance_store.tests.unit.s3 import fixtures as s3fx
from glance_store.tests import utils as test_utils

KiB = s3fx.KiB
PART = s3fx.PART
THRESHOLD = s3fx.THRESHOLD


class SizeChoiceTest(s3fx.S3MotoTestBase):
    """One PutObject or a multipart upload, known or unknown size."""

    def _add(self, store, key, data, size, reader=None):
        reader = reader or io.BytesIO(data)
        return store.add(key, reader, size, 'sha256')

    def test_unknown_size_under_threshold_is_one_put(self):
        store = self.make_store()
        data = test_utils.pattern_bytes(THRESHOLD - 1)
        uri, size, md5, multihash, _meta = self._add(store, 'small', data,
                                                     0)
        self.assertEqual(len(data), size)
        self.assertEqual(hashlib.md5(data).hexdigest(), md5)
        self.assertEqual(hashlib.sha256(data).hexdigest(), multihash)
        self.assertEqual(1, self.client.names().count('put_object'))
        self.assertNotIn('create_multipart_upload', self.client.names())
        self.assertEqual(data, self.stored('small'))
        self.assertTrue(uri.endswith('/%s/small' % s3fx.BUCKET))

    def test_unknown_size_of_an_iterable_under_threshold(self):
        # Glance may hand an iterator of chunks rather than a file.
        store = self.make_store()
        data = test_utils.pattern_bytes(100 * KiB)
        chunks = iter([data[i:i + 3000] for i in range(0, len(data), 3000)])
        _uri, size, _md5, _mh, _meta = store.add('iter', chunks, 0,
                                                 'sha256')
        self.assertEqual(len(data), size)
        self.assertEqual(data, self.stored('iter'))

    def test_unknown_size_over_threshold_goes_multipart(self):
        store = self.make_store()
        data = test_utils.pattern_bytes(THRESHOLD + 5 * PART + 123)
        _uri, size, md5, multihash, _meta = self._add(store, 'big', data,
                                                      0)
        self.assertEqual(len(data), size)
        self.assertEqual(hashlib.md5(data).hexdigest(), md5)
        self.assertEqual(hashlib.sha256(data).hexdigest(), multihash)
        self.assertNotIn('put_object', self.client.names())
        self.assertEqual(1, self.client.names().count(
            'create_multipart_upload'))
        parts = self.client.of('upload_part')
        self.assertEqual(-(-len(data) // PART), len(parts))
        self.assertEqual(list(range(1, len(parts) + 1)),
                         sorted(p['PartNumber'] for p in parts))
        self.assertEqual(1, self.client.names().count(
            'complete_multipart_upload'))
        self.assertEqual(data, self.stored('big'))
        self.assertEqual([], self.inspect.list_multipart_uploads(
            Bucket=s3fx.BUCKET).get('Uploads', []))

    def test_known_size_under_threshold_is_one_put(self):
        store = self.make_store()
        data = test_utils.pattern_bytes(THRESHOLD - 1)
        self._add(store, 'known-small', data, len(data))
        self.assertEqual(['put_object'], [
            n for n in self.client.names()
            if n in ('put_object', 'create_multipart_upload')])
        self.assertEqual(data, self.stored('known-small'))

    def test_known_size_over_threshold_goes_multipart(self):
        store = self.make_store()
        for size in (THRESHOLD, 5 * PART, 5 * PART + 1):
            data = test_utils.pattern_bytes(size, seed=size % 7)
            key = 'known-%d' % size
            self._add(store, key, data, size)
            self.assertEqual(data, self.stored(key))
        self.assertNotIn('put_object', self.client.names())
        self.assertEqual(3, self.client.names().count(
            'complete_multipart_upload'))
        # 4 + 5 + 6 parts: an exact multiple of the part size gets no
        # empty last part.
        self.assertEqual(15, len(self.client.of('upload_part')))

    def test_short_reads_make_full_parts(self):
        store = self.make_store()
        data = test_utils.pattern_bytes(THRESHOLD + 3 * PART + 17)
        for size, key in ((len(data), 'short-known'), (0, 'short-unknown')):
            self.client.calls.clear()
            reader = test_utils.FakeReader(data, max_read=777)
            _uri, written, md5, _mh, _meta = store.add(key, reader, size,
                                                       'sha256')
            self.assertEqual(len(data), written)
            self.assertEqual(hashlib.md5(data).hexdigest(), md5)
            self.assertEqual(data, self.stored(key))
            lengths = [p['BodyLength'] for p in sorted(
                self.client.of('upload_part'),
                key=lambda p: p['PartNumber'])]
            self.assertEqual([PART] * (len(lengths) - 1),
                             lengths[:-1])
            self.assertEqual(len(data), sum(lengths))

    def test_short_reads_single_put(self):
        store = self.make_store()
        data = test_utils.pattern_bytes(50 * KiB)
        for size, key in ((len(data), 'sp-known'), (0, 'sp-unknown')):
            reader = test_utils.FakeReader(data, max_read=100)
            _uri, written, _md5, _mh, _meta = store.add(key, reader, size,
                                                        'sha256')
            self.assertEqual(len(data), written)
            self.assertEqual(data, self.stored(key))


class SizeCheckTest(s3fx.S3MotoTestBase):
    """More or fewer bytes than declared: Invalid, nothing stored."""

    def _check(self, declared, actual, prefix):
        store = self.make_store()
        data = test_utils.pattern_bytes(actual)
        e = self.assertRaises(exceptions.Invalid, store.add, 'img',
                              io.BytesIO(data), declared, 'sha256')
        self.assertTrue(e.msg.startswith(prefix), e.msg)
        self.assertNothingLeft()
        return e

    def test_single_size_exceeded(self):
        self._check(1000, 1001, 'Size exceeds')
        self.assertNotIn('put_object', self.client.names())

    def test_single_size_mismatch(self):
        self._check(1000, 999, 'Size mismatch')
        self.assertNotIn('put_object', self.client.names())

    def test_multipart_size_exceeded(self):
        declared = THRESHOLD + 2 * PART
        self._check(declared, declared + 1, 'Size exceeds')
        self._check_aborted()

    def test_multipart_size_exceeded_by_a_lot(self):
        declared = THRESHOLD + 2 * PART
        self._check(declared, declared + 3 * PART, 'Size exceeds')
        self._check_aborted()

    def test_multipart_size_mismatch(self):
        declared = THRESHOLD + 2 * PART
        self._check(declared, declared - 1, 'Size mismatch')
        self._check_aborted()

    def _check_aborted(self):
        upload_id = self.client.of('create_multipart_upload')
        self.assertEqual(1, len(upload_id))
        aborts = self.client.of('abort_multipart_upload')
        self.assertEqual(1, len(aborts))
        self.assertNotIn('complete_multipart_upload', self.client.names())


class AbortTest(s3fx.S3MotoTestBase):
    """Every failure after CreateMultipartUpload aborts the upload."""

    SIZE = THRESHOLD + 4 * PART

    @property
    def upload_ids(self):
        # The upload ids the server handed out.
        return [r['UploadId'] for r in
                self.client.returned.get('create_multipart_upload', [])]

    def _store(self, failures=None, **kw):
        return self.make_store(failures=failures, **kw)

    def _fail_part(self, number, error):
        def fail(kwargs):
            return error if kwargs['PartNumber'] == number else None
        return {'upload_part': fail}

    def _add(self, store, exc_class, reader=None, size=None):
        data = test_utils.pattern_bytes(self.SIZE)
        reader = reader or io.BytesIO(data)
        return self.assertRaises(exc_class, store.add, 'img', reader,
                                 self.SIZE if size is None else size,
                                 'sha256')

    def assertAborted(self):
        self.assertEqual(1, len(self.upload_ids))
        aborts = self.client.of('abort_multipart_upload')
        self.assertEqual([{'Bucket': s3fx.BUCKET, 'Key': 'img',
                           'UploadId': self.upload_ids[0]}], aborts)
        self.assertNotIn('complete_multipart_upload', self.client.names())
        self.assertNothingLeft()

    def test_part_error(self):
        store = self._store(self._fail_part(
            2, s3fx.client_error('InternalError', 500)))
        e = self._add(store, exceptions.BackendException)
        self.assertIn('InternalError', str(e))
        self.assertAborted()

    def test_first_part_error(self):
        store = self._store(self._fail_part(
            1, s3fx.client_error('InternalError', 500)))
        self._add(store, exceptions.BackendException)
        self.assertAborted()

    def test_connection_error(self):
        store = self._store(self._fail_part(
            3, boto_exc.EndpointConnectionError(endpoint_url=self.moto.url)))
        self._add(store, exceptions.RemoteServiceUnavailable)
        self.assertAborted()

    def test_reader_error(self):
        # The reader's own exception reaches the caller unchanged (Glance
        # maps its reader errors, such as a size limit, itself).
        store = self._store()
        data = test_utils.pattern_bytes(self.SIZE)
        reader = test_utils.FakeReader(data, fail_after=THRESHOLD + PART,
                                       exc=IOError)
        self._add(store, IOError, reader=reader)
        self.assertAborted()

    def test_reader_error_unknown_size(self):
        store = self._store()
        data = test_utils.pattern_bytes(self.SIZE)
        reader = test_utils.FakeReader(data, fail_after=THRESHOLD + PART,
                                       exc=IOError)
        self._add(store, IOError, reader=reader, size=0)
        self.assertAborted()

    def test_keyboard_interrupt_from_reader(self):
        store = self._store()
        data = test_utils.pattern_bytes(self.SIZE)
        reader = test_utils.FakeReader(data, fail_after=THRESHOLD + PART,
                                       exc=KeyboardInterrupt)
        self._add(store, KeyboardInterrupt, reader=reader)
        self.assertAborted()

    def test_size_error(self):
        store = self._store()
        data = test_utils.pattern_bytes(self.SIZE + 1)
        e = self._add(store, exceptions.Invalid, reader=io.BytesIO(data))
        self.assertTrue(e.msg.startswith('Size exceeds'))
        self.assertAborted()

    def test_checksum_error(self):
        store = self._store(self._fail_part(
            2, s3fx.client_error('BadDigest', 400)))
        e = self._add(store, exceptions.ChecksumMismatch)
        self.assertIn('BadDigest', e.msg)
        self.assertAborted()

    def test_complete_error(self):
        store = self._store({'complete_multipart_upload': lambda kw:
                             s3fx.client_error('InternalError', 500,
                                               'CompleteMultipartUpload')})
        self._add(store, exceptions.BackendException)
        self.assertEqual(1, len(self.upload_ids))
        self.assertEqual(1, len(self.client.of('abort_multipart_upload')))
        self.assertEqual(self.upload_ids[0], self.client.of(
            'abort_multipart_upload')[0]['UploadId'])
        self.assertNothingLeft()

    def test_failed_abort_is_logged(self):
        records = self.useFixture(s3fx.LogRecords())
        store = self._store({
            'upload_part': lambda kw: s3fx.client_error('InternalError', 500),
            'abort_multipart_upload': lambda kw:
                boto_exc.EndpointConnectionError(endpoint_url='http://x'),
        })
        e = self._add(store, exceptions.BackendException)
        # The part error is the one reported, not the abort's.
        self.assertIn('InternalError', str(e))
        upload_id = self.upload_ids[0]
        errors = [r.getMessage() for r in records.records
                  if r.levelno == logging.ERROR and
                  upload_id in r.getMessage()]
        self.assertEqual(1, len(errors), records.records)
        self.assertIn('--bucket %s' % s3fx.BUCKET, errors[0])
        self.assertIn('--key img', errors[0])
        self.assertIn('--upload-id %s' % upload_id, errors[0])

    def test_no_part_uploaded_after_a_failure(self):
        # Once a part failed, the store stops reading and sending.
        store = self._store(self._fail_part(
            1, s3fx.client_error('InternalError', 500)), thread_pools=1)
        self._add(store, exceptions.BackendException)
        self.assertLessEqual(len(self.client.of('upload_part')), 2)
        self.assertAborted()


class CompletionOutcomeTest(s3fx.S3MotoTestBase):
    """A CompleteMultipartUpload that failed is checked, not guessed.

    The injected failure applies the completion on the server (or a
    partial one, or none) and then raises what boto3 would: the answer
    was lost and the retry found ``NoSuchUpload``, or S3 answered a 200
    with an ``<Error>`` body.
    """

    SIZE = THRESHOLD + 4 * PART

    def _applied(self, error_code, status, keep_parts=None):
        def complete(kwargs):
            if keep_parts is not None:
                parts = kwargs['MultipartUpload']['Parts'][:keep_parts]
                kwargs = dict(kwargs, MultipartUpload={'Parts': parts})
            if keep_parts != 0:
                self.inspect.complete_multipart_upload(
                    Bucket=kwargs['Bucket'], Key=kwargs['Key'],
                    UploadId=kwargs['UploadId'],
                    MultipartUpload=kwargs['MultipartUpload'])
            return s3fx.client_error(error_code, status,
                                     'CompleteMultipartUpload')
        return {'complete_multipart_upload': complete}

    def _add(self, store, key='img', size=None):
        data = test_utils.pattern_bytes(self.SIZE)
        result = store.add(key, io.BytesIO(data),
                           self.SIZE if size is None else size, 'sha256')
        return data, result

    def _uploads(self):
        return self.inspect.list_multipart_uploads(
            Bucket=s3fx.BUCKET).get('Uploads', [])

    def test_applied_answer_lost(self):
        store = self.make_store(self._applied('NoSuchUpload', 404))
        data, result = self._add(store)
        self.assertEqual(self.SIZE, result[1])
        self.assertEqual(hashlib.sha256(data).hexdigest(), result[3])
        self.assertEqual(data, self.stored('img'))
        self.assertEqual([], self._uploads())
        # The key check before the upload, and the one after the error.
        self.assertEqual(2, len(self.client.of('head_object')))

    def test_applied_error_body(self):
        # botocore turns a 200 with an <Error> body into a ClientError.
        store = self.make_store(self._applied('InternalError', 200))
        data, _result = self._add(store, size=0)
        self.assertEqual(data, self.stored('img'))
        self.assertEqual([], self._uploads())

    def test_wrong_object_is_removed_and_retry_works(self):
        # The completion applied with a part missing: not what was sent.
        store = self.make_store(self._applied('NoSuchUpload', 404,
                                              keep_parts=2))
        self.assertRaises(exceptions.BackendException, self._add, store)
        self.assertNothingLeft()
        self.assertEqual(1, len(self.client.of('delete_object')))
        # Glance's retry of the same image id: no false Duplicate.
        self.client.failures.clear()
        data, _result = self._add(store)
        self.assertEqual(data, self.stored('img'))

    def test_upload_gone_nothing_applied(self):
        records = self.useFixture(s3fx.LogRecords())
        store = self.make_store(self._applied('NoSuchUpload', 404,
                                              keep_parts=0))
        # Someone else aborted the upload: nothing is there.
        self.client.failures['complete_multipart_upload'] = (
            lambda kw, f=self.client.failures['complete_multipart_upload']:
            (self.inspect.abort_multipart_upload(
                Bucket=kw['Bucket'], Key=kw['Key'],
                UploadId=kw['UploadId']), f(kw))[1])
        e = self.assertRaises(exceptions.BackendException, self._add, store)
        self.assertIn('NoSuchUpload', str(e))
        self.assertNotIn('not found', str(e).lower())
        self.assertNothingLeft()
        # The abort finding no upload is not an operator's problem.
        self.assertEqual([], [r for r in records.records
                              if r.levelno >= logging.ERROR and
                              'Could not abort' in r.getMessage()])

    def test_head_fails_object_removed(self):
        failures = self._applied('NoSuchUpload', 404, keep_parts=2)
        failures['head_object'] = lambda kw: s3fx.client_error(
            'InternalError', 500, 'HeadObject')
        store = self.make_store(failures)
        self.assertRaises(exceptions.BackendException, self._add, store)
        self.assertNothingLeft()


class CompleteWithoutChecksumsTest(s3fx.S3MotoTestBase):
    """A backend whose CompleteMultipartUpload refuses ``Checksum*``.

    OpenStack Swift 2.30's s3api answers MalformedXML; the store completes
    again naming only the parts' ETags, warns once per backend and leaves
    the elements out of that backend's later completions.
    """

    SIZE = THRESHOLD + 2 * PART
    ALWAYS = dict(s3_store_enable_data_integrity_protection=True,
                  s3_store_request_checksum_calculation='always',
                  s3_store_response_checksum_validation='when_required',
                  s3_store_checksum_algorithm='CRC32')

    def setUp(self):
        super().setUp()
        s3_upload.forget_complete_checksum_refusals()
        self.addCleanup(s3_upload.forget_complete_checksum_refusals)

    @staticmethod
    def _refuse_checksums(kwargs):
        parts = kwargs['MultipartUpload']['Parts']
        if any(k.startswith('Checksum') for k in kwargs) or any(
                k.startswith('Checksum') for p in parts for k in p):
            return s3fx.client_error('MalformedXML', 400,
                                     'CompleteMultipartUpload')
        return None

    def _add(self, store, key):
        data = test_utils.pattern_bytes(self.SIZE)
        store.add(key, io.BytesIO(data), self.SIZE, 'sha256')
        self.assertEqual(data, self.stored(key))

    def test_completes_without_checksums_and_warns_once(self):
        records = self.useFixture(s3fx.LogRecords())
        store = self.make_store(
            {'complete_multipart_upload': self._refuse_checksums},
            **self.ALWAYS)
        self._add(store, 'img1')
        completes = self.client.of('complete_multipart_upload')
        self.assertEqual(2, len(completes))
        self.assertIn('ChecksumCRC32', completes[0])
        self.assertNotIn('ChecksumCRC32', completes[1])
        for part in completes[1]['MultipartUpload']['Parts']:
            self.assertEqual({'ETag', 'PartNumber'}, set(part))
        # Every part still carried its checksum.
        for part in self.client.of('upload_part'):
            self.assertIn('ChecksumCRC32', part)
        # The next upload completes without the elements at once.
        self._add(store, 'img2')
        self.assertEqual(3, len(self.client.of('complete_multipart_upload')))
        warnings = [r.getMessage() for r in records.records
                    if r.levelno == logging.WARNING and
                    'CompleteMultipartUpload' in r.getMessage()]
        self.assertEqual(1, len(warnings), warnings)
        self.assertIn('MalformedXML', warnings[0])
        self.assertIn('without checksum validation', warnings[0])

    def test_other_backends_keep_the_elements(self):
        store = self.make_store(
            {'complete_multipart_upload': self._refuse_checksums},
            **self.ALWAYS)
        self._add(store, 'img1')
        # The same server under another endpoint URL is another backend:
        # its completions still carry the whole-object checksum.
        other_url = self.moto.url.replace('127.0.0.1', 'localhost')
        self.assertNotEqual(self.moto.url, other_url)
        other = self.make_store(s3_store_host=other_url, **self.ALWAYS)
        self._add(other, 'img2')
        completes = self.client.of('complete_multipart_upload')
        self.assertEqual(1, len(completes))
        self.assertIn('ChecksumCRC32', completes[0])

    def test_malformed_xml_without_checksums_is_an_error(self):
        store = self.make_store({'complete_multipart_upload': lambda kw:
                                 s3fx.client_error('MalformedXML', 400,
                                                   'CompleteMultipartUpload')})
        data = test_utils.pattern_bytes(self.SIZE)
        e = self.assertRaises(exceptions.BackendException, store.add, 'img',
                              io.BytesIO(data), self.SIZE, 'sha256')
        self.assertIn('MalformedXML', str(e))
        self.assertEqual(1, len(self.client.of('complete_multipart_upload')))
        self.assertNothingLeft()


class HashingTest(s3fx.S3MotoTestBase):
    """md5, the multihash and the verifier see every byte once."""

    def _check(self, size, declared):
        store = self.make_store()
        data = test_utils.pattern_bytes(size, seed=3)
        verifier = s3fx.CountingVerifier()
        reader = test_utils.FakeReader(data, max_read=5000)
        _uri, written, md5, multihash, _meta = store.add(
            'h', reader, declared, 'sha512', verifier=verifier)
        self.assertEqual(len(data), written)
        self.assertEqual(hashlib.md5(data).hexdigest(), md5)
        self.assertEqual(hashlib.sha512(data).hexdigest(), multihash)
        self.assertEqual(len(data), verifier.size)
        self.assertEqual(hashlib.sha256(data).hexdigest(),
                         verifier.sha.hexdigest())
        self.assertEqual(data, self.stored('h'))

    def test_single_known(self):
        self._check(100 * KiB, 100 * KiB)

    def test_single_unknown(self):
        self._check(100 * KiB, 0)

    def test_multipart_known(self):
        self._check(THRESHOLD + 3 * PART + 5, THRESHOLD + 3 * PART + 5)

    def test_multipart_unknown(self):
        self._check(THRESHOLD + 3 * PART + 5, 0)


class FakeClient(object):
    """An S3 client without server that counts parts in flight.

    The first ``gather`` upload_part calls wait until all of them are in
    flight at once (or a generous safety timeout ends the wait, which
    makes the concurrency assertion fail rather than hang); later calls
    go straight through.  Every call counts the parts in flight under a
    lock, so an excess is seen whenever it happens.
    """

    def __init__(self, gather):
        self.gather = gather
        self.cond = threading.Condition()
        self.in_flight = 0
        self.max_in_flight = 0
        self.gathered = False
        self.timed_out = False
        self.parts = {}
        self.aborted = []
        self.completed = []
        self.thread_names = set()

    def head_bucket(self, **kw):
        return {}

    def head_object(self, **kw):
        raise s3fx.client_error('404', 404, 'HeadObject')

    def put_object(self, **kw):
        self.parts[0] = kw['Body']
        return {'ETag': '"x"'}

    def create_multipart_upload(self, **kw):
        return {'UploadId': 'fake-upload'}

    def upload_part(self, PartNumber, Body, **kw):
        with self.cond:
            self.thread_names.add(threading.current_thread().name)
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            if self.in_flight >= self.gather:
                self.gathered = True
                self.cond.notify_all()
            if not self.gathered:
                if not self.cond.wait_for(lambda: self.gathered,
                                          timeout=30):
                    self.timed_out = True
                    self.gathered = True
                    self.cond.notify_all()
            self.parts[PartNumber] = bytes(Body)
            self.in_flight -= 1
        return {'ETag': '"etag-%d"' % PartNumber}

    def complete_multipart_upload(self, **kw):
        self.completed.append(kw)
        return {}

    def abort_multipart_upload(self, **kw):
        self.aborted.append(kw)
        return {}


class ConcurrencyTest(base.StoreBaseTest):
    """At most s3_store_thread_pools parts in flight; threads cleaned."""

    def _upload(self, thread_pools, n_parts, gather, size_known=True):
        store = s3fx.configure_store(
            self, re_raise_bsc=True, s3_store_thread_pools=thread_pools)
        s3fx.small_limits(store, 4 * KiB, 4 * KiB)
        client = FakeClient(gather)
        store._s3_client = client
        data = test_utils.pattern_bytes(n_parts * 4 * KiB)
        start = threading.active_count()
        store.add('img', io.BytesIO(data), len(data) if size_known else 0,
                  'sha256')
        self.assertEqual(start, threading.active_count())
        self.assertFalse([t for t in threading.enumerate()
                          if t.name.startswith('s3-part')])
        self.assertEqual(data, b''.join(
            client.parts[n] for n in sorted(client.parts)))
        self.assertEqual(1, len(client.completed))
        return client

    def test_parts_in_flight_reach_thread_pools(self):
        client = self._upload(thread_pools=4, n_parts=20, gather=4)
        self.assertFalse(client.timed_out)
        self.assertEqual(4, client.max_in_flight)

    def test_parts_in_flight_unknown_size(self):
        client = self._upload(thread_pools=3, n_parts=12, gather=3,
                              size_known=False)
        self.assertFalse(client.timed_out)
        self.assertEqual(3, client.max_in_flight)

    def test_one_thread(self):
        client = self._upload(thread_pools=1, n_parts=6, gather=1)
        self.assertEqual(1, client.max_in_flight)
        self.assertEqual(1, len(client.thread_names))

    def test_fewer_parts_than_threads(self):
        client = self._upload(thread_pools=8, n_parts=3, gather=3)
        self.assertFalse(client.timed_out)
        self.assertEqual(3, client.max_in_flight)

    def test_threads_gone_after_failure(self):
        store = s3fx.configure_store(
            self, re_raise_bsc=True, s3_store_thread_pools=4)
        s3fx.small_limits(store, 4 * KiB, 4 * KiB)
        client = FakeClient(1)

        def upload_part(PartNumber, Body, **kw):
            if PartNumber == 3:
                raise s3fx.client_error('InternalError', 500)
            return {'ETag': '"e"'}
        client.upload_part = upload_part
        store._s3_client = client
        data = test_utils.pattern_bytes(10 * 4 * KiB)
        start = threading.active_count()
        self.assertRaises(exceptions.BackendException, store.add, 'img',
                          io.BytesIO(data), len(data), 'sha256')
        self.assertEqual(start, threading.active_count())
        self.assertEqual([{'Bucket': s3fx.BUCKET, 'Key': 'img',
                           'UploadId': 'fake-upload'}], client.aborted)


class StreamingClient(FakeClient):
    """A FakeClient whose PutObject reads its body as urllib3 does."""

    def put_object(self, **kw):
        body = kw['Body']
        self.put_kwargs = {k: v for k, v in kw.items() if k != 'Body'}
        self.put_length = len(body)
        digest = hashlib.sha256()
        if isinstance(body, (bytes, bytearray, memoryview)):
            digest.update(body)
        else:
            # botocore seeks back to hash the payload, then sends it.
            body.seek(0)
            while True:
                chunk = body.read(16 * KiB)
                if not chunk:
                    break
                digest.update(chunk)
        self.put_digest = digest.hexdigest()
        return {'ETag': '"x"'}


class UnknownSizeSinglePutTest(base.StoreBaseTest):
    """An image of unknown size below the threshold: one PutObject.

    It is sent from the part buffers, within the documented memory bound.
    """

    THRESHOLD = 4 * 1024 * KiB
    PART = 256 * KiB

    def _store(self, **options):
        store = s3fx.configure_store(self, re_raise_bsc=True, **options)
        s3fx.small_limits(store, self.THRESHOLD, self.PART)
        client = StreamingClient(1)
        store._s3_client = client
        return store, client

    def test_bytes_and_length(self):
        store, client = self._store()
        data = test_utils.pattern_bytes(self.THRESHOLD - 12345)
        store.add('img', io.BytesIO(data), 0, 'sha256')
        self.assertEqual(len(data), client.put_length)
        self.assertEqual(hashlib.sha256(data).hexdigest(),
                         client.put_digest)

    def test_checksum_params_are_those_of_the_whole_body(self):
        data = test_utils.pattern_bytes(self.THRESHOLD - 1000)
        for algorithm in ('CRC32', 'SHA1', 'SHA256'):
            store, client = self._store(
                s3_store_enable_data_integrity_protection=True,
                s3_store_request_checksum_calculation='always',
                s3_store_checksum_algorithm=algorithm)
            store.add('img', io.BytesIO(data), 0, 'sha256')
            expected = store.policy.put_params(data)
            self.assertTrue(expected)
            for name, value in expected.items():
                self.assertEqual(value, client.put_kwargs[name], algorithm)

    def test_md5_and_sha512_from_glances_digests(self):
        # MD5: Content-MD5 once, of the whole body; SHA512 with Glance's
        # sha512 multihash: its digest, not a second pass.
        data = test_utils.pattern_bytes(self.THRESHOLD - 1000)
        for algorithm in ('MD5', 'SHA512'):
            store, client = self._store(
                s3_store_enable_data_integrity_protection=True,
                s3_store_request_checksum_calculation='always',
                s3_store_checksum_algorithm=algorithm)
            with mock.patch.object(s3_checksums, 'compute',
                                   side_effect=AssertionError('pass')):
                store.add('img', io.BytesIO(data), 0, 'sha512')
            self.assertEqual(
                base64.b64encode(hashlib.md5(data).digest()).decode(),
                client.put_kwargs['ContentMD5'], algorithm)
            if algorithm == 'SHA512':
                self.assertEqual(
                    base64.b64encode(hashlib.sha512(data).digest()).decode(),
                    client.put_kwargs['ChecksumSHA512'])

    def _peak_of_add(self, store, data):
        """Python memory allocated at the peak of ``store.add``, in bytes."""
        tracemalloc.start()
        self.addCleanup(tracemalloc.stop)
        tracemalloc.reset_peak()
        base_size = tracemalloc.get_traced_memory()[0]
        store.add('img', io.BytesIO(data), 0, 'sha256')
        return tracemalloc.get_traced_memory()[1] - base_size

    def test_memory_peak_within_the_bound(self):
        store, client = self._store()
        bound = store.upload_limits.buffer_count(self.PART) * self.PART
        data = test_utils.pattern_bytes(self.THRESHOLD - 1)
        peak = self._peak_of_add(store, data)
        # Before, the parts were joined: about twice the image.
        self.assertLess(peak, bound + 512 * KiB,
                        'peak %d, bound %d' % (peak, bound))

    def test_last_part_sent_from_its_buffer(self):
        # 15 full parts and a half one: 16 buffers, and no copy of the
        # last part (nor of what botocore reads) on top.
        store, client = self._store()
        data = test_utils.pattern_bytes(self.THRESHOLD - self.PART // 2)
        peak = self._peak_of_add(store, data)
        self.assertLess(peak, 16 * self.PART + 64 * KiB,
                        'peak %d, 16 parts %d' % (peak, 16 * self.PART))
        self.assertEqual(hashlib.sha256(data).hexdigest(),
                         client.put_digest)

    def test_parts_body_read_within_one_buffer(self):
        body = s3_upload.PartsBody([memoryview(bytearray(b'abcdef'))[:4],
                                    b'xyz'])
        self.assertEqual(7, len(body))
        self.assertEqual(b'ab', body.read(2))
        self.assertEqual(b'cd', body.read(2))
        self.assertEqual(b'xy', body.read(2))
        body.seek(3)
        self.assertEqual(b'dxyz', body.read(9))
        self.assertEqual(b'', body.read(2))

    def test_parts_body_reads_and_seeks(self):
        body = s3_upload.PartsBody([b'abc', bytearray(b'defg'), b'', b'h'])
        self.assertEqual(8, len(body))
        self.assertEqual(b'abcd', body.read(4))
        self.assertEqual(b'efgh', body.read())
        self.assertEqual(b'', body.read(1))
        self.assertEqual(2, body.seek(2))
        self.assertEqual(b'cdefg', body.read(5))
        self.assertEqual(7, body.seek(-1, io.SEEK_END))
        self.assertEqual(b'h', body.read(10))
        body.seek(1)
        body.seek(2, io.SEEK_CUR)
        self.assertEqual(b'defgh', body.read(-1))
        self.assertRaises(ValueError, body.seek, -1)
        body.close()
        self.assertTrue(body.closed)


class PartSizesTest(base.StoreBaseTest):
    """Part sizes cover S3's largest object within 10,000 parts."""

    MiB = 1024 * 1024
    MAX_PART = 5 * 1024 ** 3

    @staticmethod
    def _limits(part_size):
        return s3_upload.UploadLimits(threshold=100 * 1024 * 1024,
                                      part_size=part_size, max_in_flight=10)

    def _first(self, part_size, image_size, n=10000):
        gen = self._limits(part_size).part_sizes(image_size)
        return [next(gen) for _i in range(n)]

    def test_s3_limits(self):
        # The values AWS documents; everything else derives from them.
        self.assertEqual(5 * self.MiB, s3_upload.S3_MIN_PART_SIZE)
        self.assertEqual(self.MAX_PART, s3_upload.S3_MAX_PART_SIZE)
        self.assertEqual(10000, s3_upload.S3_MAX_PARTS)
        self.assertEqual(5 * 1024 ** 4, s3_upload.S3_MAX_OBJECT_SIZE)

    def test_unknown_size_grows_and_covers_5_tib(self):
        for base_size in (5 * self.MiB, 8 * self.MiB, 10 * self.MiB,
                          64 * self.MiB, 1024 * self.MiB):
            sizes = self._first(base_size, 0)
            self.assertGreaterEqual(sum(sizes), 5 * 1024 ** 4,
                                    'base %d' % base_size)
            self.assertEqual(sorted(sizes), sizes)
            self.assertGreater(sizes[-1], sizes[0])
            self.assertGreaterEqual(sizes[0], base_size)
            # A small image keeps small parts.
            self.assertEqual(sizes[0], sizes[999])
            self.assertLessEqual(max(sizes), self.MAX_PART)
            self.assertGreaterEqual(min(sizes), 5 * self.MiB)

    def test_below_minimum_is_raised(self):
        self.assertEqual([5 * self.MiB] * 3,
                         self._first(1024, 10 * self.MiB, 3))
        # Unknown size: 5 TiB / (1000 x 1023) first parts, rounded up to
        # a MiB.
        self.assertEqual([6 * self.MiB] * 3, self._first(1024, 0, 3))
        self.assertEqual(6 * self.MiB, self._limits(1024).unknown_size_part)

    def test_known_size_keeps_the_base(self):
        sizes = self._first(10 * self.MiB, 3 * 1024 ** 3, 50)
        self.assertEqual({10 * self.MiB}, set(sizes))

    def test_known_huge_size(self):
        for size in (5 * 1024 ** 4, 5 * 1024 ** 4 - 1, 200 * 1024 ** 3):
            sizes = self._first(10 * self.MiB, size)
            self.assertEqual(1, len(set(sizes)))
            self.assertGreaterEqual(sum(sizes), size)
            # Not larger than needed: 9,999 parts would not do.
            self.assertLess(sum(sizes[:-1]), size)
            self.assertLessEqual(sizes[0], self.MAX_PART)

    def test_buffer_count(self):
        # (threshold, part size, in flight) -> buffers, per the memory
        # bound stated in s3_upload.
        table = {(100, 10, 10): 11, (100, 10, 2): 11, (100, 50, 2): 3,
                 (0, 10, 4): 5, (0, 10, 1): 2, (25, 10, 1): 4}
        for (threshold, part, flight), expected in table.items():
            limits = s3_upload.UploadLimits(threshold, part, flight,
                                            min_part_size=1)
            self.assertEqual(expected, limits.buffer_count(part),
                             (threshold, part, flight))

    def test_bad_limits_refused(self):
        self.assertRaises(ValueError, s3_upload.UploadLimits, 10, 10, 0)
        self.assertRaises(ValueError, s3_upload.UploadLimits, 10, 0, 1)
        self.assertRaises(ValueError, s3_upload.UploadLimits, -1, 10, 1)


class PartsInMemoryTest(base.StoreBaseTest):
    """The reader is never more than the parts in flight ahead."""

    def test_bounded_read_ahead(self):
        store = s3fx.configure_store(
            self, re_raise_bsc=True, s3_store_thread_pools=2)
        part = 4 * KiB
        s3fx.small_limits(store, part, part)
        done = collections.Counter()
        ahead = []
        client = FakeClient(1)

        def upload_part(PartNumber, Body, **kw):
            done['parts'] += 1
            return {'ETag': '"e"'}
        client.upload_part = upload_part
        store._s3_client = client
        data = test_utils.pattern_bytes(30 * part)

        class Reader(io.BytesIO):
            def read(self, size=-1):
                ahead.append(self.tell() // part - done['parts'])
                return super().read(size)

            def readinto(self, buf):
                ahead.append(self.tell() // part - done['parts'])
                return super().readinto(buf)
        store.add('img', Reader(data), len(data), 'sha256')
        self.assertEqual(30, done['parts'])
        # Parts read but not sent: at most the 2 in flight plus the one
        # being read.
        self.assertLessEqual(max(ahead), 3)


class _Hashes(object):
    """What ``ImageReader`` feeds: real md5 and sha256, no verifier."""

    def __init__(self):
        self.md5 = hashlib.md5()
        self.os_hash = hashlib.sha256()
        self.verifier = None
        self.size = 0


class _ReadOnly(object):
    """A reader with ``read`` only (Glance's wrappers, uWSGI's input).

    Records every size asked; returns at most ``max_read`` bytes a call.
    """

    def __init__(self, data, max_read=None):
        self._buf = io.BytesIO(data)
        self.max_read = max_read
        self.asked = []

    def read(self, size=-1):
        self.asked.append(size)
        if self.max_read and 0 < self.max_read < size:
            size = self.max_read
        return self._buf.read(size)


class _ReadInto(io.RawIOBase):
    """A raw io reader: ``readinto`` (short reads of ``max_read``)."""

    def __init__(self, data, max_read=None):
        super().__init__()
        self._buf = io.BytesIO(data)
        self.max_read = max_read
        self.into = []
        self.asked = []

    def readable(self):
        return True

    def readinto(self, buf):
        self.into.append(len(buf))
        view = memoryview(buf)
        if self.max_read:
            view = view[:self.max_read]
        return self._buf.readinto(view)

    def read(self, size=-1):
        self.asked.append(size)
        return super().read(size)


class ReadPiecesTest(base.StoreBaseTest):
    """The image is read in pieces of at most ``piece_size`` bytes."""

    def _read_all(self, source, declared, part=64 * KiB, piece=4 * KiB):
        hashes = _Hashes()
        reader = s3_upload.ImageReader(source, declared, hashes,
                                       threaded=False, piece_size=piece)
        out = bytearray()
        buf = bytearray(part)
        with reader:
            while True:
                n = reader.readinto(buf)
                out += buf[:n]
                if n < part:
                    break
        return bytes(out), hashes

    def _check_bytes(self, data, out, hashes):
        self.assertEqual(data, out)
        self.assertEqual(hashlib.md5(data).hexdigest(),
                         hashes.md5.hexdigest())
        self.assertEqual(hashlib.sha256(data).hexdigest(),
                         hashes.os_hash.hexdigest())
        self.assertEqual(len(data), hashes.size)

    def test_default_piece_is_read_piece(self):
        reader = s3_upload.ImageReader(io.BytesIO(b''), 0, _Hashes(),
                                       threaded=False)
        self.assertEqual(s3_upload.READ_PIECE, reader.piece_size)
        self.assertLess(s3_upload.READ_PIECE, s3_upload.S3_MIN_PART_SIZE)

    def test_read_only_source_is_asked_pieces(self):
        data = test_utils.pattern_bytes(200 * KiB + 17)
        for declared in (len(data), 0):
            source = _ReadOnly(data)
            out, hashes = self._read_all(source, declared)
            self._check_bytes(data, out, hashes)
            # Never a whole part at once (64 KiB here), a piece at most.
            self.assertLessEqual(max(source.asked), 4 * KiB)
            self.assertGreater(len(source.asked), 50)

    def test_read_only_short_reads(self):
        data = test_utils.pattern_bytes(150 * KiB + 3)
        for declared in (len(data), 0):
            source = _ReadOnly(data, max_read=1000)
            out, hashes = self._read_all(source, declared)
            self._check_bytes(data, out, hashes)

    def test_io_source_reads_into_the_part_buffer(self):
        data = test_utils.pattern_bytes(200 * KiB + 17)
        for declared in (len(data), 0):
            source = _ReadInto(data)
            out, hashes = self._read_all(source, declared)
            self._check_bytes(data, out, hashes)
            self.assertLessEqual(max(source.into), 4 * KiB)
            # read() only for the one byte that proves the declared end.
            self.assertEqual([1] if declared else [], source.asked)

    def test_io_source_short_reads(self):
        data = test_utils.pattern_bytes(150 * KiB + 3)
        for declared in (len(data), 0):
            source = _ReadInto(data, max_read=999)
            out, hashes = self._read_all(source, declared)
            self._check_bytes(data, out, hashes)

    def test_readinto_of_a_non_io_object_is_not_used(self):
        data = test_utils.pattern_bytes(20 * KiB)
        source = _ReadOnly(data)
        source.readinto = lambda buf: self.fail('readinto called')
        out, hashes = self._read_all(source, len(data))
        self._check_bytes(data, out, hashes)

    def test_io_source_size_exceeded(self):
        data = test_utils.pattern_bytes(100 * KiB)
        e = self.assertRaises(exceptions.Invalid, self._read_all,
                              _ReadInto(data), len(data) - 1)
        self.assertTrue(e.msg.startswith('Size exceeds'), e.msg)

    def test_io_source_size_mismatch(self):
        data = test_utils.pattern_bytes(100 * KiB)
        e = self.assertRaises(exceptions.Invalid, self._read_all,
                              _ReadInto(data, max_read=777), len(data) + 1)
        self.assertTrue(e.msg.startswith('Size mismatch'), e.msg)

    def test_read_only_source_size_checks(self):
        data = test_utils.pattern_bytes(100 * KiB)
        e = self.assertRaises(exceptions.Invalid, self._read_all,
                              _ReadOnly(data), len(data) - 5)
        self.assertTrue(e.msg.startswith('Size exceeds'), e.msg)
        e = self.assertRaises(exceptions.Invalid, self._read_all,
                              _ReadOnly(data, max_read=3000), len(data) + 5)
        self.assertTrue(e.msg.startswith('Size mismatch'), e.msg)

    def test_oversized_reads_are_kept_for_the_next_piece(self):
        # A source that returns more than asked (an iterator's chunk):
        # the rest is kept, nothing is lost or read twice.
        data = test_utils.pattern_bytes(100 * KiB + 9)

        class Greedy(object):
            def __init__(self):
                self._buf = io.BytesIO(data)

            def read(self, size=-1):
                return self._buf.read(max(size, 10 * KiB))
        out, hashes = self._read_all(Greedy(), len(data), piece=3 * KiB)
        self._check_bytes(data, out, hashes)

    def test_store_add_from_io_source(self):
        # Through the store: a file-like (readinto) image, multipart.
        store = s3fx.configure_store(self, re_raise_bsc=True,
                                     s3_store_thread_pools=2)
        part = 8 * KiB
        s3fx.small_limits(store, part, part)
        bodies = []
        client = FakeClient(1)

        def upload_part(PartNumber, Body, **kw):
            bodies.append((PartNumber, bytes(Body)))
            return {'ETag': '"e"'}
        client.upload_part = upload_part
        store._s3_client = client
        data = test_utils.pattern_bytes(10 * part + 5)
        source = _ReadInto(data, max_read=3000)
        _uri, size, md5, _mh, _meta = store.add('img', source, len(data),
                                                'sha256')
        self.assertEqual(len(data), size)
        self.assertEqual(hashlib.md5(data).hexdigest(), md5)
        self.assertEqual(data, b''.join(b for _n, b in sorted(bodies)))
        self.assertTrue(source.into)


class _CountingHash(object):
    """A hashlib object that counts the bytes it is given."""

    def __init__(self, real, counts):
        self._real = real
        self._counts = counts

    def update(self, data):
        self._counts[self._real.name] += len(data)
        self._real.update(data)

    def __getattr__(self, name):
        return getattr(self._real, name)


class ChecksumAlgorithmUploadTest(s3fx.S3MotoTestBase):
    """always with SHA512, the XXHASH family and MD5, on moto."""

    NEW = ('SHA512', 'XXHASH64', 'XXHASH3', 'XXHASH128')
    SIZE = THRESHOLD + 2 * PART + 99

    def make_always(self, algorithm, response='always'):
        return self.make_store(
            s3_store_enable_data_integrity_protection=True,
            s3_store_request_checksum_calculation='always',
            s3_store_response_checksum_validation=response,
            s3_store_checksum_algorithm=algorithm)

    def read(self, store, key):
        it, _size = store.get(s3fx.get_location(store, key))
        return b''.join(it)

    def test_new_algorithms_stored_and_read_back(self):
        data = test_utils.pattern_bytes(self.SIZE, seed=4)
        small = data[:1000]
        for alg in self.NEW:
            with self.subTest(algorithm=alg):
                store = self.make_always(alg)
                name = 'Checksum' + alg
                store.add('s-' + alg, io.BytesIO(small), len(small),
                          'sha256')
                put = self.client.of('put_object')[-1]
                self.assertEqual(s3_checksums.compute(alg, small),
                                 put[name])
                head = self.inspect.head_object(
                    Bucket=s3fx.BUCKET, Key='s-' + alg,
                    ChecksumMode='ENABLED')
                self.assertEqual(put[name], head[name])
                self.assertEqual(small, self.read(store, 's-' + alg))
                store.add('m-' + alg, io.BytesIO(data), len(data),
                          'sha256')
                create = self.client.of('create_multipart_upload')[-1]
                self.assertEqual('COMPOSITE', create['ChecksumType'])
                parts = self.client.of('complete_multipart_upload')[-1][
                    'MultipartUpload']['Parts']
                pos = 0
                for part in parts:
                    body = data[pos:pos + PART]
                    pos += len(body)
                    self.assertEqual(s3_checksums.compute(alg, body),
                                     part[name])
                self.assertEqual(len(data), pos)
                self.assertEqual(data, self.read(store, 'm-' + alg))

    def _count_sha512(self):
        counts = collections.Counter()
        real_new = hashlib.new

        def new(name, *args, **kwargs):
            real = real_new(name, *args, **kwargs)
            return _CountingHash(real, counts) if real.name == 'sha512' \
                else real
        self.useFixture(fixtures.MonkeyPatch('hashlib.new', new))
        return counts

    def test_sha512_single_put_reuses_the_multihash(self):
        store = self.make_always('SHA512', response='when_required')
        data = test_utils.pattern_bytes(100 * KiB, seed=6)
        counts = self._count_sha512()
        for size in (len(data), 0):
            with self.subTest(size=size):
                counts.clear()
                key = 'one-%d' % size
                _u, _n, _md5, multihash, _m = store.add(
                    key, io.BytesIO(data), size, 'sha512')
                self.assertEqual(hashlib.sha512(data).hexdigest(),
                                 multihash)
                # Glance's multihash read every byte once; nothing else
                # hashed them with sha512.
                self.assertEqual(len(data), counts['sha512'])
                put = self.client.of('put_object')[-1]
                self.assertEqual(
                    base64.b64encode(hashlib.sha512(data).digest())
                    .decode(), put['ChecksumSHA512'])
        # Another multihash: the store computes its own SHA512.
        counts.clear()
        store.add('other', io.BytesIO(data), len(data), 'sha256')
        self.assertEqual(len(data), counts['sha512'])
        self.assertEqual(
            base64.b64encode(hashlib.sha512(data).digest()).decode(),
            self.client.of('put_object')[-1]['ChecksumSHA512'])

    def test_md5_every_request_carries_content_md5(self):
        store = self.make_always('MD5')
        data = test_utils.pattern_bytes(self.SIZE, seed=8)

        def b64md5(body):
            return base64.b64encode(hashlib.md5(body).digest()).decode()
        store.add('small', io.BytesIO(data[:500]), 500, 'sha512')
        put = self.client.of('put_object')[-1]
        self.assertEqual(b64md5(data[:500]), put['ContentMD5'])
        self.assertFalse([k for k in put if k.startswith('Checksum')])
        store.add('large', io.BytesIO(data), 0, 'sha512')
        create = self.client.of('create_multipart_upload')[-1]
        self.assertNotIn('ChecksumAlgorithm', create)
        pos = 0
        for part in self.client.of('upload_part'):
            body = data[pos:pos + part['BodyLength']]
            pos += len(body)
            self.assertEqual(b64md5(body), part['ContentMD5'])
            self.assertFalse([k for k in part if k.startswith('Checksum')])
        self.assertEqual(len(data), pos)
        complete = self.client.of('complete_multipart_upload')[-1]
        for part in complete['MultipartUpload']['Parts']:
            self.assertEqual({'ETag', 'PartNumber'}, set(part))
        self.assertFalse([k for k in complete if k.startswith('Checksum')])
        # Read back, validated against the ETags (moto stores no
        # checksum): the part sizes come from a HEAD per part number.
        self.assertEqual(data[:500], self.read(store, 'small'))
        self.assertEqual(data, self.read(store, 'large'))
        heads = [kw for kw in self.client.of('head_object')
                 if 'PartNumber' in kw]
        self.assertEqual(list(range(1, len(complete['MultipartUpload'][
            'Parts']) + 1)), [kw['PartNumber'] for kw in heads])
