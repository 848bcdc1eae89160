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

"""The single-store S3 driver against botocore's Stubber.

The store's real boto3 client builds and serializes every request; the
Stubber only answers instead of a server, and ``fx.Stubbed`` records the
serialized requests so the tests see the headers that would be sent.
The tests under ``TestWire`` go one step further and let botocore finish
the request (checksums, aws-chunked encoding, signing) and capture it in
its ``before-send`` event, on a client pointed at an address where no
server listens.
"""

import hashlib
import itertools
from unittest import mock

import boto3
import fixtures

from glance_store._drivers import s3
from glance_store import exceptions
from glance_store import location
from glance_store.tests.unit.s3 import fixtures as fx

MODES = ('when_required', 'when_supported', 'always', 'never')
ENV_REQ = 'AWS_REQUEST_CHECKSUM_CALCULATION'
ENV_RESP = 'AWS_RESPONSE_CHECKSUM_VALIDATION'


# The requests of one matrix case, in order: (operation, what it is).
REQUESTS = (
    ('HeadBucket', 'head-bucket'), ('HeadObject', 'head'),
    ('PutObject', 'put'),
    ('HeadBucket', 'head-bucket'), ('HeadObject', 'head'),
    ('CreateMultipartUpload', 'create'), ('UploadPart', 'part'),
    ('UploadPart', 'part'), ('UploadPart', 'part'),
    ('CompleteMultipartUpload', 'complete'),
    ('GetObject', 'get'), ('GetObject', 'get-range'),
)

# (request, switch, request mode, response mode) -> the checksum headers
# it carries, sorted; '*' matches any mode; absent keys carry none.
CHECKSUM_HEADERS = {
    ('put', True, 'always', '*'):
        ['x-amz-checksum-crc32', 'x-amz-sdk-checksum-algorithm'],
    ('part', True, 'always', '*'):
        ['x-amz-checksum-crc32', 'x-amz-sdk-checksum-algorithm'],
    ('create', True, 'always', '*'):
        ['x-amz-checksum-algorithm', 'x-amz-checksum-type'],
    ('complete', True, 'always', '*'):
        ['x-amz-checksum-crc32', 'x-amz-checksum-type'],
    # A whole GET asks for the stored checksum: the store under always,
    # botocore under when_supported; a ranged one only botocore's.
    ('get', True, '*', 'always'): ['x-amz-checksum-mode'],
    ('get', True, '*', 'when_supported'): ['x-amz-checksum-mode'],
    ('get-range', True, '*', 'when_supported'): ['x-amz-checksum-mode'],
}

# Requests for which botocore computes a checksum itself.
BOTOCORE_COMPUTES = {
    ('put', True, 'when_supported', '*'): True,
    ('part', True, 'when_supported', '*'): True,
}


def lookup(table, key, default):
    """``table[key]``, where a '*' in a table key matches any mode."""
    what, enabled, request, response = key
    for candidate in (key, (what, enabled, request, '*'),
                      (what, enabled, '*', response)):
        if candidate in table:
            return table[candidate]
    return default


def has_checksum_header(headers):
    return [h for h in headers
            if h.lower().startswith(('x-amz-checksum', 'x-amz-sdk-checksum',
                                     'x-amz-trailer'))]


class S3TestBase(fx.StubbedStoreTest):

    @staticmethod
    def small_parts(st):
        # One part in flight: the Stubber answers calls in order.
        fx.small_limits(st, fx.SAMPLE_THRESHOLD, fx.SAMPLE_PART,
                        max_in_flight=1,
                        min_part_size=fx.SAMPLE_PART)

    def expect_multipart(self, stub, key, data, algorithm=None):
        """Stubs of a multipart upload; ``algorithm``: precomputed."""
        obj = {'Bucket': fx.BUCKET, 'Key': key}
        create = dict(obj)
        if algorithm:
            create.update(ChecksumAlgorithm=algorithm,
                          ChecksumType='FULL_OBJECT' if algorithm in fx.CRCS
                          else 'COMPOSITE')
        stub.add_response('create_multipart_upload',
                          dict(obj, UploadId='up-1'), create)
        parts = []
        for number, body in enumerate(fx.split_parts(data), 1):
            params = dict(obj, UploadId='up-1', PartNumber=number,
                          Body=fx.ANY)
            part = {'ETag': '"p%d"' % number, 'PartNumber': number}
            if algorithm:
                value = fx.ref_checksum(algorithm, body)
                params.update({'ChecksumAlgorithm': algorithm,
                               'Checksum' + algorithm: value})
                part['Checksum' + algorithm] = value
            stub.add_response('upload_part', {'ETag': part['ETag']}, params)
            parts.append(part)
        complete = dict(obj, UploadId='up-1',
                        MultipartUpload={'Parts': parts})
        if algorithm in fx.CRCS:
            complete.update({'Checksum' + algorithm:
                             fx.ref_checksum(algorithm, data),
                             'ChecksumType': 'FULL_OBJECT'})
        stub.add_response('complete_multipart_upload',
                          {'ETag': '"whole-3"'}, complete)
        return parts


class TestChecksumMatrix(S3TestBase):
    """master switch x request x response, with and without env vars."""

    def _check_config(self, st, captured, enabled, request, response):
        exp_req = 'when_supported' if enabled and \
            request == 'when_supported' else 'when_required'
        exp_resp = 'when_supported' if enabled and \
            response == 'when_supported' else 'when_required'
        # The Config handed to boto3 ...
        self.assertEqual(1, len(captured))
        config = captured[0]['config']
        self.assertEqual(exp_req, config.request_checksum_calculation)
        self.assertEqual(exp_resp, config.response_checksum_validation)
        # ... and what the client ended up with.
        meta = st._s3_client.meta.config
        self.assertEqual(exp_req, meta.request_checksum_calculation)
        self.assertEqual(exp_resp, meta.response_checksum_validation)

    def _run_case(self, enabled, request, response):
        captured = []
        real_client = boto3.session.Session.client

        def capture(session, *args, **kwargs):
            captured.append(kwargs)
            return real_client(session, *args, **kwargs)

        with mock.patch.object(boto3.session.Session, 'client',
                               autospec=True, side_effect=capture):
            st = self.policy_store(enabled, request, response)
        self._check_config(st, captured, enabled, request, response)
        self.small_parts(st)
        stub = fx.Stubbed(st._s3_client)
        precompute = enabled and request == 'always'
        validate_always = enabled and response == 'always'
        with stub:
            # A small image: one PutObject.
            self.expect_new_object(stub, 'small')
            self.expect_put(stub, 'small', fx.SMALL,
                            {'ChecksumAlgorithm': 'CRC32',
                             'ChecksumCRC32': fx.ref_checksum('CRC32',
                                                              fx.SMALL)}
                            if precompute else {})
            uri, size, md5, mh, meta = self.add(st, 'small', fx.SMALL)
            self.assertEqual(len(fx.SMALL), size)
            self.assertEqual(hashlib.md5(fx.SMALL).hexdigest(), md5)
            # A large one: multipart.
            self.expect_new_object(stub, 'large')
            self.expect_multipart(stub, 'large', fx.LARGE,
                                  'CRC32' if precompute else None)
            self.assertEqual(len(fx.LARGE), self.add(st, 'large', fx.LARGE)[1])
            # A whole GET and a ranged one.
            whole = {'Bucket': fx.BUCKET, 'Key': 'large'}
            if validate_always:
                whole['ChecksumMode'] = 'ENABLED'
            stub.add_response('get_object', fx.get_object(fx.LARGE), whole)
            self.assertEqual(fx.LARGE, self.read_all(st, 'large')[0])
            stub.add_response('get_object', fx.get_object(fx.LARGE[3:8]),
                              {'Bucket': fx.BUCKET, 'Key': 'large',
                               'Range': 'bytes=3-7'})
            self.assertEqual(fx.LARGE[3:8], self.read_all(
                st, 'large', offset=3, chunk_size=5)[0])
            stub.assert_no_pending_responses()
        self._check_headers(stub, enabled, request, response)

    def _check_headers(self, stub, enabled, request, response):
        precompute = enabled and request == 'always'
        self.assertEqual([op for op, _h in REQUESTS], stub.operations())
        for index, (op, req) in enumerate(stub.requests):
            headers = {k.lower(): v for k, v in req['headers'].items()}
            ctx = req['context'].get('checksum', {})
            key = (REQUESTS[index][1], enabled, request, response)
            with self.subTest(op=op, index=index):
                # botocore computes its own checksum later (in
                # apply_request_checksum; TestWire sees it on the wire):
                # here only its intent is visible.
                self.assertEqual(lookup(BOTOCORE_COMPUTES, key, False),
                                 'request_algorithm' in ctx, ctx)
                self.assertEqual(lookup(CHECKSUM_HEADERS, key, []),
                                 sorted(has_checksum_header(headers)))
                if op == 'CompleteMultipartUpload':
                    self.assertEqual(precompute,
                                     b'<ChecksumCRC32>' in req['body'])
                    self.assertEqual(precompute, b'Checksum' in req['body'])
                if 'x-amz-checksum-type' in headers:
                    self.assertEqual('FULL_OBJECT',
                                     headers['x-amz-checksum-type'])
                if 'x-amz-checksum-mode' in headers:
                    self.assertEqual('ENABLED',
                                     headers['x-amz-checksum-mode'])

    def test_matrix(self):
        for enabled, request, response in itertools.product(
                (False, True), MODES, MODES):
            with self.subTest(enabled=enabled, request=request,
                              response=response):
                self._run_case(enabled, request, response)

    def test_matrix_environment_variables_change_nothing(self):
        def opposite(enabled, mode):
            effective = 'when_supported' if enabled and \
                mode == 'when_supported' else 'when_required'
            return 'when_required' if effective == 'when_supported' \
                else 'when_supported'

        for enabled, request, response in itertools.product(
                (False, True), MODES, MODES):
            with self.subTest(enabled=enabled, request=request,
                              response=response):
                with fixtures.EnvironmentVariable(
                        ENV_REQ, opposite(enabled, request)), \
                        fixtures.EnvironmentVariable(
                            ENV_RESP, opposite(enabled, response)):
                    self._run_case(enabled, request, response)

    def test_upper_case_values(self):
        st = self.policy_store(True, 'WHEN_SUPPORTED', 'Always', 'sha256')
        self.assertEqual('when_supported',
                         st._s3_client.meta.config
                         .request_checksum_calculation)
        self.assertEqual('when_required',
                         st._s3_client.meta.config
                         .response_checksum_validation)
        self.assertEqual('SHA256', st.policy.algorithm)
        self.assertTrue(st.policy.validate_always)


class TestAlwaysPerAlgorithm(S3TestBase):
    """request ``always``: the precomputed values, for each algorithm."""

    def test_put_and_multipart(self):
        for algorithm in fx.ALGORITHMS + fx.NEW_ALGORITHMS:
            with self.subTest(algorithm=algorithm):
                st = self.policy_store(True, 'always', 'when_required',
                                       algorithm)
                self.small_parts(st)
                with fx.Stubbed(st._s3_client) as stub:
                    name = 'Checksum' + algorithm
                    self.expect_new_object(stub, 'small')
                    self.expect_put(
                        stub, 'small', fx.SMALL,
                        {'ChecksumAlgorithm': algorithm,
                         name: fx.ref_checksum(algorithm, fx.SMALL)})
                    self.add(st, 'small', fx.SMALL)
                    self.expect_new_object(stub, 'large')
                    self.expect_multipart(stub, 'large', fx.LARGE, algorithm)
                    self.add(st, 'large', fx.LARGE)
                    stub.assert_no_pending_responses()
                header = 'x-amz-checksum-' + algorithm.lower()
                self.assertEqual(fx.ref_checksum(algorithm, fx.SMALL),
                                 stub.headers('PutObject')[header])
                for i, body in enumerate(fx.split_parts(fx.LARGE)):
                    self.assertEqual(fx.ref_checksum(algorithm, body),
                                     stub.headers('UploadPart', i)[header])
                create = stub.headers('CreateMultipartUpload')
                self.assertEqual(algorithm,
                                 create['x-amz-checksum-algorithm'])
                self.assertEqual('FULL_OBJECT' if algorithm in fx.CRCS
                                 else 'COMPOSITE',
                                 create['x-amz-checksum-type'])
                complete = stub.headers('CompleteMultipartUpload')
                if algorithm in fx.CRCS:
                    self.assertEqual(fx.ref_checksum(algorithm, fx.LARGE),
                                     complete[header])
                else:
                    self.assertNotIn(header, complete)


class TestWire(S3TestBase):
    """What botocore really sends (checksums, encoding, signature)."""

    def wire_store(self, enabled, request, response, **opts):
        st = self.policy_store(enabled, request, response,
                               s3_store_host=fx.WIRE_HOST,
                               s3_store_bucket_url_format='path', **opts)
        self.small_parts(st)
        return st, fx.Wire.for_test(self, st._s3_client)

    def _upload(self, st, wire, key, data):
        wire.add('HeadBucket')
        wire.add('HeadObject', status=404)
        if len(data) < fx.SAMPLE_THRESHOLD:
            wire.add('PutObject', headers={'ETag': '"e"'})
        else:
            wire.add('CreateMultipartUpload', body=(
                b'<InitiateMultipartUploadResult><Bucket>%s</Bucket>'
                b'<Key>%s</Key><UploadId>u1</UploadId>'
                b'</InitiateMultipartUploadResult>' % (
                    fx.BUCKET.encode(), key.encode())))
            for n in range(len(fx.split_parts(data))):
                wire.add('UploadPart', headers={'ETag': '"p%d"' % n})
            wire.add('CompleteMultipartUpload', body=(
                b'<CompleteMultipartUploadResult><ETag>"c"</ETag>'
                b'</CompleteMultipartUploadResult>'))
        return self.add(st, key, data)

    def test_when_supported_is_aws_chunked_over_https(self):
        st, wire = self.wire_store(True, 'when_supported', 'when_required')
        self._upload(st, wire, 'small', fx.SMALL)
        self._upload(st, wire, 'large', fx.LARGE)
        bodies = [fx.SMALL] + fx.split_parts(fx.LARGE)
        sent = wire.requests('PutObject') + wire.requests('UploadPart')
        self.assertEqual(len(bodies), len(sent))
        for (headers, framed), data in zip(sent, bodies):
            self.assertIn('aws-chunked', headers['content-encoding'])
            self.assertNotIn('content-length', headers)
            self.assertEqual('x-amz-checksum-crc32',
                             headers['x-amz-trailer'])
            self.assertEqual(str(len(data)),
                             headers['x-amz-decoded-content-length'])
            # The checksum botocore computed is in the trailer.
            self.assertIn(('x-amz-checksum-crc32:%s' %
                           fx.ref_checksum('CRC32', data)).encode(), framed)

    def _assert_plain(self, st, wire, checksum_header):
        self._upload(st, wire, 'small', fx.SMALL)
        self._upload(st, wire, 'large', fx.LARGE)
        bodies = [fx.SMALL] + fx.split_parts(fx.LARGE)
        sent = wire.requests('PutObject') + wire.requests('UploadPart')
        self.assertEqual(len(bodies), len(sent))
        for (headers, body), data in zip(sent, bodies):
            self.assertEqual(str(len(data)), headers['content-length'])
            self.assertNotIn('aws-chunked',
                             headers.get('content-encoding', ''))
            self.assertNotIn('x-amz-trailer', headers)
            self.assertEqual(data, bytes(body))
            if checksum_header:
                self.assertEqual(fx.ref_checksum('CRC32', data),
                                 headers['x-amz-checksum-crc32'])
            else:
                self.assertEqual([], has_checksum_header(headers))
        complete = wire.requests('CompleteMultipartUpload')[0]
        if checksum_header:
            self.assertEqual(fx.ref_checksum('CRC32', fx.LARGE),
                             complete[0]['x-amz-checksum-crc32'])
        else:
            self.assertNotIn(b'Checksum', complete[1])

    def test_off_and_always_send_content_length(self):
        for enabled, request, header in (
                (False, 'when_supported', False),
                (False, 'always', False),
                (True, 'when_required', False),
                (True, 'never', False),
                (True, 'always', True)):
            with self.subTest(enabled=enabled, request=request):
                st, wire = self.wire_store(enabled, request, 'never')
                self._assert_plain(st, wire, header)

    def test_environment_variables_do_not_turn_aws_chunked_on(self):
        self.useFixture(fixtures.EnvironmentVariable(ENV_REQ,
                                                     'when_supported'))
        self.useFixture(fixtures.EnvironmentVariable(ENV_RESP,
                                                     'when_supported'))
        st, wire = self.wire_store(False, 'when_required', 'when_required')
        self._assert_plain(st, wire, False)
        wire.add('GetObject', body=fx.SMALL,
                 headers={'x-amz-checksum-crc32':
                          fx.ref_checksum('CRC32', fx.SMALL)})
        self.assertEqual(fx.SMALL, self.read_all(st, 'small')[0])
        self.assertNotIn('x-amz-checksum-mode',
                         wire.requests('GetObject')[0][0])

    def test_environment_variables_do_not_turn_it_off(self):
        self.useFixture(fixtures.EnvironmentVariable(ENV_REQ,
                                                     'when_required'))
        st, wire = self.wire_store(True, 'when_supported', 'when_required')
        self._upload(st, wire, 'small', fx.SMALL)
        headers = wire.requests('PutObject')[0][0]
        self.assertIn('aws-chunked', headers['content-encoding'])

    def test_response_always_detects_corruption(self):
        st, wire = self.wire_store(True, 'when_required', 'always')
        stored = {'x-amz-checksum-crc32': fx.ref_checksum('CRC32', fx.SMALL)}
        wire.add('GetObject', body=fx.SMALL, headers=stored)
        self.assertEqual(fx.SMALL, self.read_all(st, 'obj')[0])
        wire.add('GetObject', body=fx.SMALL[:-1] + b'#', headers=stored)
        e = self.assertRaises(exceptions.ChecksumMismatch, self.read_all,
                              st, 'obj')
        self.assertIn('%s/obj' % fx.BUCKET, e.msg)
        self.assertIn('CRC32', e.msg)
        for headers, _body in wire.requests('GetObject'):
            self.assertEqual('ENABLED', headers['x-amz-checksum-mode'])

    def test_response_when_supported_detects_corruption(self):
        st, wire = self.wire_store(True, 'when_required', 'when_supported')
        wire.add('GetObject', body=fx.SMALL[:-1] + b'#', headers={
            'x-amz-checksum-sha256': fx.ref_checksum('SHA256', fx.SMALL)})
        e = self.assertRaises(exceptions.ChecksumMismatch, self.read_all,
                              st, 'obj')
        self.assertIn('SHA256', e.msg)

    def test_legacy_uri_uses_configured_credentials(self):
        st, wire = self.wire_store(False, 'when_required', 'when_required')
        uri = 's3://URIACCESS:uri/se@cret@otherhost:9000/%s/obj' % fx.BUCKET
        loc = location.get_location_from_uri(uri, conf=self.conf)
        wire.add('GetObject', body=b'data')
        it, size = st.get(loc)
        self.assertEqual(b'data', b''.join(it))
        headers, _b = wire.requests('GetObject')[0]
        self.assertIn('Credential=%s/' % fx.ACCESS_KEY,
                      headers['authorization'])
        self.assertNotIn('URIACCESS', headers['authorization'])
        req = wire.sent[0][1]
        self.assertTrue(req.url.startswith(fx.WIRE_HOST + '/' + fx.BUCKET))
        creds = st._s3_client._request_signer._credentials
        self.assertEqual(fx.ACCESS_KEY, creds.access_key)
        self.assertEqual(fx.SECRET_KEY, creds.secret_key)


class TestStoreLocation(S3TestBase):

    def test_round_trip(self):
        st = self.store()
        for uri in ('s3://rgw.local:7480/bucket/image-1',
                    's3+https://s3.example.test/bucket/image-1',
                    's3+http://s3.example.test/bucket/image-1',
                    's3://host/prefix/path/bucket/key'):
            with self.subTest(uri=uri):
                loc = location.get_location_from_uri(uri, conf=self.conf)
                self.assertEqual(uri, loc.get_store_uri())
                self.assertIsNone(loc.store_location.accesskey)
                self.assertIs(st, location.SCHEME_TO_CLS_MAP[
                    uri.split('://')[0]]['store'])

    def test_specs_with_url_host(self):
        for host, scheme, netloc in (
                ('https://s3.example.test/', 's3+https', 's3.example.test'),
                ('http://rgw:7480', 's3', 'rgw:7480'),
                ('rgw:7480', 's3', 'rgw:7480')):
            with self.subTest(host=host):
                sl = s3.StoreLocation({'s3serviceurl': host,
                                       'bucket': 'b', 'key': 'k'},
                                      self.conf)
                self.assertEqual('%s://%s/b/k' % (scheme, netloc),
                                 sl.get_uri())

    def test_legacy_uri_with_credentials(self):
        self.store()
        secret = 'se/cr@et+x'
        uri = 's3://AKIALEGACY:%s@rgw.local:7480/bucket/image-1' % secret
        loc = location.get_location_from_uri(uri, conf=self.conf)
        sl = loc.store_location
        self.assertEqual('AKIALEGACY', sl.accesskey)
        self.assertEqual(secret, sl.secretkey)
        self.assertEqual('rgw.local:7480', sl.s3serviceurl)
        self.assertEqual('bucket', sl.bucket)
        self.assertEqual('image-1', sl.key)
        self.assertEqual('s3://rgw.local:7480/bucket/image-1',
                         loc.get_store_uri())
        self.assertEqual('s3://rgw.local:7480/bucket/image-1',
                         sl.get_uri())

    def test_store_uses_configured_credentials_for_legacy_uri(self):
        st = self.store()
        uri = 's3+https://URIKEY:uri/sec@ret@%s/%s/img' % (fx.HOST,
                                                           fx.BUCKET)
        loc = location.get_location_from_uri(uri, conf=self.conf)
        stub = fx.Stubbed.for_test(self, st._s3_client)
        stub.add_response('head_object', fx.head_object(3),
                          {'Bucket': fx.BUCKET, 'Key': 'img'})
        stub.add_response('delete_object', {},
                          {'Bucket': fx.BUCKET, 'Key': 'img'})
        st.delete(loc)
        creds = st._s3_client._request_signer._credentials
        self.assertEqual((fx.ACCESS_KEY, fx.SECRET_KEY),
                         (creds.access_key, creds.secret_key))

    def test_malformed(self):
        st = self.store()
        secret = 'TOPSECRETvalue/x'
        for uri in ('s3://', 's3://host', 's3://host/bucket',
                    's3://host/bucket/', 's3:///bucket/key',
                    's3://ACCESS@host/bucket/key',
                    's3://ACCESS:%s@host/bucket' % secret,
                    's3://ACCESS:%s@/bucket' % secret,
                    'swift://ACCESS:%s@host/bucket/key' % secret,
                    's3:/ACCESS:%s@host/bucket/key' % secret,
                    'ACCESS:%s@host/bucket/key' % secret):
            with self.subTest(uri=uri):
                e = self.assertRaises(
                    exceptions.BadStoreUri,
                    st.get_store_location_class()({}, self.conf).parse_uri,
                    uri)
                self.assertNotIn('TOPSECRET', e.msg)


class TestOperations(S3TestBase):

    def test_get_ranges(self):
        st = self.store()
        stub = fx.Stubbed.for_test(self, st._s3_client)
        for offset, chunk_size, rng in ((10, 5, 'bytes=10-14'),
                                        (10, None, 'bytes=10-'),
                                        (0, 4, 'bytes=0-3')):
            with self.subTest(offset=offset, chunk_size=chunk_size):
                data = fx.LARGE[offset:offset + chunk_size if chunk_size
                                else None]
                stub.add_response('get_object', fx.get_object(data),
                                  {'Bucket': fx.BUCKET, 'Key': 'img',
                                   'Range': rng})
                got, size = self.read_all(st, 'img', offset=offset,
                                          chunk_size=chunk_size)
                self.assertEqual(data, got)
                self.assertEqual(len(data), size)
        stub.add_response('get_object', fx.get_object(fx.LARGE),
                          {'Bucket': fx.BUCKET, 'Key': 'img'})
        it, size = st.get(fx.get_location(st, 'img'))
        self.assertEqual(len(fx.LARGE), size)
        self.assertEqual(fx.LARGE, b''.join(it))
        stub.assert_no_pending_responses()

    def test_get_missing(self):
        st = self.store()
        stub = fx.Stubbed.for_test(self, st._s3_client)
        stub.add_client_error('get_object', 'NoSuchKey', 'gone', 404)
        self.assertRaises(exceptions.NotFound, st.get,
                          fx.get_location(st, 'img'))

    def test_get_size(self):
        st = self.store()
        stub = fx.Stubbed.for_test(self, st._s3_client)
        stub.add_response('head_object', fx.head_object(12345),
                          {'Bucket': fx.BUCKET, 'Key': 'img'})
        self.assertEqual(12345, st.get_size(fx.get_location(st, 'img')))
        stub.add_client_error('head_object', '404', '', 404)
        self.assertRaises(exceptions.NotFound, st.get_size,
                          fx.get_location(st, 'img'))

    def test_delete(self):
        st = self.store()
        stub = fx.Stubbed.for_test(self, st._s3_client)
        stub.add_response('head_object', fx.head_object(1),
                          {'Bucket': fx.BUCKET, 'Key': 'img'})
        stub.add_response('delete_object', {},
                          {'Bucket': fx.BUCKET, 'Key': 'img'})
        st.delete(fx.get_location(st, 'img'))
        stub.add_client_error('head_object', '404', '', 404,
                              {'Bucket': fx.BUCKET, 'Key': 'img'})
        self.assertRaises(exceptions.NotFound, st.delete,
                          fx.get_location(st, 'img'))
        stub.assert_no_pending_responses()
        self.assertEqual(['HeadObject', 'DeleteObject', 'HeadObject'],
                         stub.operations())

    def test_add_duplicate(self):
        st = self.store()
        stub = fx.Stubbed.for_test(self, st._s3_client)
        stub.add_response('head_bucket', {}, {'Bucket': fx.BUCKET})
        stub.add_response('head_object', fx.head_object(1),
                          {'Bucket': fx.BUCKET, 'Key': 'img'})
        e = self.assertRaises(exceptions.Duplicate, self.add, st, 'img',
                              fx.SMALL)
        self.assertIn('img', e.msg)
        stub.assert_no_pending_responses()
        self.assertNotIn('PutObject', stub.operations())

    def test_add_returns_glance_tuple(self):
        st = self.store()
        stub = fx.Stubbed.for_test(self, st._s3_client)
        self.expect_new_object(stub, 'img')
        self.expect_put(stub, 'img', fx.SMALL, {})
        uri, size, md5, multihash, meta = self.add(st, 'img', fx.SMALL)
        self.assertEqual('s3+https://%s/%s/img' % (fx.HOST, fx.BUCKET), uri)
        self.assertEqual(len(fx.SMALL), size)
        self.assertEqual(hashlib.md5(fx.SMALL).hexdigest(), md5)
        self.assertEqual(hashlib.sha256(fx.SMALL).hexdigest(), multihash)
        self.assertEqual({}, meta)

    def test_bucket_creation(self):
        for region, constraint in (('eu-west-1', 'eu-west-1'),
                                   ('us-east-1', None),
                                   ('', None)):
            with self.subTest(region=region):
                st = self.store(s3_store_create_bucket_on_put=True,
                                s3_store_region_name=region)
                stub = fx.Stubbed.for_test(self, st._s3_client)
                stub.add_client_error('head_bucket', '404', '', 404,
                                      {'Bucket': fx.BUCKET})
                create = {'Bucket': fx.BUCKET}
                if constraint:
                    create['CreateBucketConfiguration'] = {
                        'LocationConstraint': constraint}
                stub.add_response('create_bucket', {}, create)
                stub.add_client_error('head_object', '404', '', 404)
                self.expect_put(stub, 'img', fx.SMALL, {})
                self.add(st, 'img', fx.SMALL)
                stub.assert_no_pending_responses()
                body = [p for n, p in stub.requests
                        if n == 'CreateBucket'][0]['body']
                if constraint:
                    self.assertIn(
                        ('<LocationConstraint>%s</LocationConstraint>' %
                         constraint).encode(), body)
                else:
                    self.assertNotIn(b'LocationConstraint', body or b'')

    def test_bucket_created_meanwhile(self):
        st = self.store(s3_store_create_bucket_on_put=True)
        stub = fx.Stubbed.for_test(self, st._s3_client)
        stub.add_client_error('head_bucket', '404', '', 404)
        stub.add_client_error('create_bucket', 'BucketAlreadyOwnedByYou',
                              'yours', 409)
        stub.add_client_error('head_object', '404', '', 404)
        self.expect_put(stub, 'img', fx.SMALL, {})
        self.assertEqual(len(fx.SMALL), self.add(st, 'img', fx.SMALL)[1])
        stub.assert_no_pending_responses()

    def test_missing_bucket_without_creation(self):
        st = self.store(s3_store_create_bucket_on_put=False)
        stub = fx.Stubbed.for_test(self, st._s3_client)
        stub.add_client_error('head_bucket', '404', '', 404)
        e = self.assertRaises(exceptions.BadStoreConfiguration, self.add,
                              st, 'img', fx.SMALL)
        self.assertIn('s3_store_create_bucket_on_put', e.msg)
        self.assertIn(fx.BUCKET, e.msg)
        # NoSuchBucket on the upload itself says the same.
        stub.add_response('head_bucket', {})
        stub.add_client_error('head_object', '404', '', 404)
        stub.add_client_error('put_object', 'NoSuchBucket', 'no bucket',
                              404)
        e = self.assertRaises(exceptions.BadStoreConfiguration, self.add,
                              st, 'img', fx.SMALL)
        self.assertIn('s3_store_create_bucket_on_put', e.msg)
        stub.assert_no_pending_responses()


class TestToolSurface(fx.S3MotoTestBase):
    """The public members tools use: settings, client, ensure_bucket."""

    def test_settings_are_what_configure_read(self):
        store = fx.configure_store(
            self, re_raise_bsc=True, s3_store_host=self.moto.url,
            s3_store_region_name='eu-west-1',
            s3_store_bucket_url_format='path',
            s3_store_enable_data_integrity_protection=True,
            s3_store_request_checksum_calculation='always',
            s3_store_checksum_algorithm='SHA1')
        settings = store.settings
        self.assertEqual(self.moto.url, settings.endpoint_url)
        self.assertEqual(
            ('eu-west-1', False, None, fx.BUCKET, 'path', False),
            (settings.region_name, settings.use_https, settings.cacert,
             settings.bucket, settings.addressing_style,
             settings.create_bucket_on_put))
        self.assertIs(store.policy, settings.policy)
        self.assertIs(store.upload_limits, settings.limits)
        self.assertNotIn(fx.SECRET_KEY, repr(settings))
        self.assertNotIn(fx.ACCESS_KEY, repr(settings))
        self.assertTrue(settings.verify)
        self.assertEqual('SHA1', settings.policy.algorithm)
        self.assertRaises(AttributeError, setattr, settings, 'bucket', 'x')
        self.assertIs(store.client, store.client)
        self.assertEqual('eu-west-1', store.client.meta.region_name)

    def test_unusable_configuration(self):
        store = fx.configure_store(self, s3_store_bucket=None)
        self.assertRaises(exceptions.RemoteServiceUnavailable,
                          lambda: store.settings)
        self.assertRaises(exceptions.RemoteServiceUnavailable,
                          lambda: store.client)

    def test_ensure_bucket(self):
        store = fx.configure_store(self, re_raise_bsc=True,
                                   s3_store_host=self.moto.url,
                                   s3_store_bucket_url_format='path')
        e = self.assertRaises(exceptions.BadStoreConfiguration,
                              store.ensure_bucket)
        self.assertIn('s3_store_create_bucket_on_put', e.msg)
        self.config(s3_store_create_bucket_on_put=True)
        store.configure(re_raise_bsc=True)
        store.ensure_bucket()
        self.inspect.head_bucket(Bucket=fx.BUCKET)
        # Already there: nothing to do.
        store.ensure_bucket(store.client)
