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

"""Unit tests of the S3 error mapping: botocore errors -> glance_store.

First ``s3_errors.to_store_error`` on its own, code by code, then the
same errors met by the store's add / get / get_size / delete, with a
botocore ``Stubber`` (service errors) or an event hook raising in place
of the HTTP send (connection and TLS errors).

The rules table: the order of the rules, and which rule each error meets
(a literal table, including errors two rules match); region, scheme and
TLS mistakes, the scheme ones against real sockets (https:// to moto's
plain-HTTP port, http:// to a TLS server).
"""

import io
import os
import shutil

from botocore import exceptions as boto_exc
from botocore import response as boto_response
import fixtures

import glance_store as store
from glance_store._drivers import s3_errors
from glance_store import exceptions
from glance_store.tests import base
from glance_store.tests.unit.s3 import fixtures as s3fx

ENDPOINT = 'https://s3.example.test'


def client_error(code, status, operation='PutObject', message='msg'):
    error = {'Message': message}
    if code:
        error['Code'] = code
    return boto_exc.ClientError(
        {'Error': error, 'ResponseMetadata': {'HTTPStatusCode': status}},
        operation)


CHECKSUM_OPTIONS = ('s3_store_request_checksum_calculation',
                    's3_store_enable_data_integrity_protection')
CREDENTIAL_OPTIONS = ('s3_store_access_key', 's3_store_secret_key')

# (error, expected class, words the message must contain)
CASES = [
    (client_error('MissingContentLength', 411), exceptions.BackendException,
     CHECKSUM_OPTIONS + ('MissingContentLength',)),
    (client_error('NotImplemented', 501, message='Transfering payloads '
                  'in multiple chunks using aws-chunked is not '
                  'supported.'), exceptions.BackendException,
     CHECKSUM_OPTIONS + ('NotImplemented', 'always')),
    # A 411 without body (HEAD-like answer): the status is the code.
    (client_error(None, 411), exceptions.BackendException,
     CHECKSUM_OPTIONS),
    (client_error('InvalidAccessKeyId', 403),
     exceptions.BadStoreConfiguration,
     CREDENTIAL_OPTIONS + ('InvalidAccessKeyId',)),
    (client_error('SignatureDoesNotMatch', 403),
     exceptions.BadStoreConfiguration,
     CREDENTIAL_OPTIONS + ('SignatureDoesNotMatch',)),
    (client_error('NoSuchBucket', 404), exceptions.BadStoreConfiguration,
     ('s3_store_create_bucket_on_put', 'bkt')),
    (client_error('AccessDenied', 403), exceptions.Forbidden,
     ('AccessDenied', 'bkt/img')),
    (client_error('BadDigest', 400), exceptions.ChecksumMismatch,
     ('BadDigest', 'bkt/img')),
    (client_error('XAmzContentSHA256Mismatch', 400),
     exceptions.ChecksumMismatch, ('XAmzContentSHA256Mismatch',)),
    (boto_exc.FlexibleChecksumError(
        error_msg='Expected checksum abc did not match calculated '
                  'checksum: def (crc32)'),
     exceptions.ChecksumMismatch, ('bkt/img', 'CRC32')),
    (client_error('NoSuchKey', 404, 'GetObject'), exceptions.NotFound,
     ('bkt/img',)),
    (client_error('404', 404, 'HeadObject'), exceptions.NotFound,
     ('bkt/img',)),
    (client_error(None, 404, 'HeadObject'), exceptions.NotFound,
     ('bkt/img',)),
    (boto_exc.EndpointConnectionError(endpoint_url=ENDPOINT),
     exceptions.RemoteServiceUnavailable, ('s3_store_host', ENDPOINT)),
    (boto_exc.ConnectionClosedError(endpoint_url=ENDPOINT),
     exceptions.RemoteServiceUnavailable, ('s3_store_host',)),
    (boto_exc.ReadTimeoutError(endpoint_url=ENDPOINT),
     exceptions.RemoteServiceUnavailable,
     ('s3_store_read_timeout', 's3_store_retry_max_attempts',
      's3_store_host')),
    (boto_exc.ConnectTimeoutError(endpoint_url=ENDPOINT),
     exceptions.RemoteServiceUnavailable,
     ('s3_store_connect_timeout', 's3_store_host')),
    (boto_exc.SSLError(endpoint_url=ENDPOINT,
                       error='certificate verify failed'),
     exceptions.RemoteServiceUnavailable,
     ('s3_store_cacert', 'certificate verify failed')),
    (client_error('SlowDown', 503), exceptions.BackendException,
     ('SlowDown', '503', 'bkt/img')),
    (client_error('InternalError', 500), exceptions.BackendException,
     ('InternalError', '500')),
    (client_error('EntityTooLarge', 400), exceptions.StorageFull,
     ('bkt/img',)),
    (client_error('InvalidRequest', 400, 'CreateMultipartUpload',
                  'Checksum algorithm provided is unsupported.'),
     exceptions.BackendException,
     ('s3_store_checksum_algorithm', 'InvalidRequest', 'bkt/img')),
]


def message(error):
    return getattr(error, 'msg', None) or str(error)


class ToStoreErrorTest(base.StoreBaseTest):

    def test_each_code(self):
        for error, cls, words in CASES:
            # A download passes the algorithm of the stored checksum.
            result = s3_errors.to_store_error(error, 'aws', 'uploading',
                                              'bkt', 'img',
                                              algorithm='CRC32')
            name = s3_errors.error_code(error)
            self.assertIsInstance(result, cls, name)
            text = message(result)
            for word in words:
                self.assertIn(word, text, name)
            # Operator messages name the backend (a corrupted download
            # names the object and the algorithm).
            if not isinstance(error, boto_exc.FlexibleChecksumError):
                self.assertIn('aws', text, name)

    def test_error_without_message(self):
        # Ceph RGW answers many errors with a code and no message
        # (botocore then holds Message None).
        for code, status, cls in (
                ('XAmzContentSHA256Mismatch', 400,
                 exceptions.ChecksumMismatch),
                ('InvalidAccessKeyId', 403, exceptions.BadStoreConfiguration),
                ('MissingContentLength', 411,
                 exceptions.BackendException)):
            error = client_error(code, status, 'UploadPart', message=None)
            self.assertIsNone(s3_errors.expected_region(error))
            result = s3_errors.to_store_error(error, 'rgw', 'uploading',
                                              'bkt', 'img')
            self.assertIsInstance(result, cls, code)

    def test_no_such_bucket_depends_on_the_action(self):
        error = client_error('NoSuchBucket', 404, 'GetObject')
        # Writing: the configured bucket is missing, say what to set.
        for action in ('uploading', 'checking bucket'):
            result = s3_errors.to_store_error(error, 'aws', action, 'bkt',
                                              'img')
            self.assertIsInstance(result, exceptions.BadStoreConfiguration)
        # Reading an image whose location names a bucket this backend
        # does not have: the image is not here.
        for action in ('reading', 'looking up', 'deleting'):
            result = s3_errors.to_store_error(error, 'aws', action, 'bkt',
                                              'img')
            self.assertIsInstance(result, exceptions.NotFound, action)
            self.assertIn('bkt/img', result.msg)

    def test_checksum_mismatch_is_a_store_exception(self):
        result = s3_errors.to_store_error(
            client_error('BadDigest', 400), 'aws', 'uploading', 'bkt',
            'img')
        self.assertIsInstance(result, exceptions.GlanceStoreException)

    def test_store_exception_passes_through(self):
        error = exceptions.Invalid('Size exceeds: 3 bytes')
        self.assertIs(error, s3_errors.to_store_error(
            error, 'aws', 'uploading', 'bkt', 'img'))

    def test_other_botocore_error(self):
        error = boto_exc.NoCredentialsError()
        result = s3_errors.to_store_error(error, 'aws', 'reading', 'bkt',
                                          'img')
        self.assertIsInstance(result, exceptions.BackendException)
        self.assertIn('bkt/img', str(result))

    def test_target_without_key(self):
        result = s3_errors.to_store_error(
            client_error('AccessDenied', 403), 'aws', 'checking bucket',
            'bkt')
        self.assertIn('bkt', result.msg)
        self.assertNotIn('bkt/', result.msg)

    def test_error_code(self):
        self.assertEqual('NoSuchKey', s3_errors.error_code(
            client_error('NoSuchKey', 404)))
        self.assertEqual('411', s3_errors.error_code(
            client_error(None, 411)))
        self.assertEqual('EndpointConnectionError', s3_errors.error_code(
            boto_exc.EndpointConnectionError(endpoint_url=ENDPOINT)))
        self.assertTrue(s3_errors.is_not_found(client_error(None, 404)))
        self.assertFalse(s3_errors.is_not_found(
            client_error('AccessDenied', 403)))


class FailingBody(boto_response.StreamingBody):
    """A body whose second read fails like botocore's validation."""

    def __init__(self, data, error):
        super().__init__(io.BytesIO(data), len(data))
        self.error = error
        self.reads = 0

    def read(self, amt=None):
        self.reads += 1
        if self.reads > 1:
            raise self.error
        return super().read(amt)


class StoreErrorTest(base.StoreBaseTest):
    """The same errors met by the store's operations (Stubber)."""

    def setUp(self):
        super().setUp()
        # No backoff sleeps between botocore's retries of connection
        # errors.
        self.useFixture(fixtures.MockPatch(
            'botocore.retries.standard.ExponentialBackoff.delay_amount',
            return_value=0))
        self.store = s3fx.configure_store(self, re_raise_bsc=True)
        self.client = self.store._s3_client
        self.stub = s3fx.Stubbed.for_test(self, self.client)
        self.loc = s3fx.get_location(self.store, 'img')

    def _up_to_put(self):
        self.stub.add_response('head_bucket', {})
        self.stub.add_client_error('head_object', '404', 'Not Found', 404)

    def _add(self, exc_class):
        e = self.assertRaises(exc_class, self.store.add, 'img',
                              io.BytesIO(b'x' * 100), 100, 'sha256')
        self.stub.assert_no_pending_responses()
        return message(e)

    def _fail_send(self, operation, error):
        """Raise ``error`` in place of sending ``operation``."""
        calls = []

        def fail(request, **kwargs):
            calls.append(request.url)
            raise error
        self.stub.deactivate()
        self.client.meta.events.register(
            'before-send.s3.%s' % operation, fail)
        self.addCleanup(self.client.meta.events.unregister,
                        'before-send.s3.%s' % operation, fail)
        return calls

    def test_add_missing_content_length(self):
        self._up_to_put()
        self.stub.add_client_error('put_object', 'MissingContentLength',
                                   'You must provide the Content-Length',
                                   411)
        msg = self._add(exceptions.BackendException)
        for name in CHECKSUM_OPTIONS:
            self.assertIn(name, msg)

    def test_add_bad_credentials(self):
        for code in ('InvalidAccessKeyId', 'SignatureDoesNotMatch'):
            self._up_to_put()
            self.stub.add_client_error('put_object', code, 'no', 403)
            msg = self._add(exceptions.BadStoreConfiguration)
            for name in CREDENTIAL_OPTIONS:
                self.assertIn(name, msg)
            self.assertNotIn(s3fx.SECRET_KEY, msg)

    def test_add_bare_403_on_head_bucket_bad_credentials(self):
        # HEAD answers have no body: the store asks again to find out.
        self.stub.add_client_error('head_bucket', '403', 'Forbidden', 403)
        self.stub.add_client_error('list_objects_v2', 'InvalidAccessKeyId',
                                   'no', 403)
        msg = self._add(exceptions.BadStoreConfiguration)
        for name in CREDENTIAL_OPTIONS:
            self.assertIn(name, msg)

    def test_add_bare_403_on_head_bucket_policy(self):
        self.stub.add_client_error('head_bucket', '403', 'Forbidden', 403)
        self.stub.add_client_error('list_objects_v2', 'AccessDenied',
                                   'no', 403)
        self._add(exceptions.Forbidden)

    def test_add_no_bucket(self):
        self.stub.add_client_error('head_bucket', '404', 'Not Found', 404)
        msg = self._add(exceptions.BadStoreConfiguration)
        self.assertIn('s3_store_create_bucket_on_put', msg)

    def test_add_bucket_removed_meanwhile(self):
        self._up_to_put()
        self.stub.add_client_error('put_object', 'NoSuchBucket', 'gone',
                                   404)
        msg = self._add(exceptions.BadStoreConfiguration)
        self.assertIn('s3_store_create_bucket_on_put', msg)

    def test_add_access_denied(self):
        self._up_to_put()
        self.stub.add_client_error('put_object', 'AccessDenied', 'no', 403)
        self._add(exceptions.Forbidden)

    def test_add_bad_digest(self):
        for code in ('BadDigest', 'XAmzContentSHA256Mismatch'):
            self._up_to_put()
            self.stub.add_client_error('put_object', code, 'bad', 400)
            msg = self._add(exceptions.ChecksumMismatch)
            self.assertIn(code, msg)

    def test_add_other_error(self):
        self._up_to_put()
        self.stub.add_client_error('put_object', 'NotImplemented', 'no',
                                   501)
        msg = self._add(exceptions.BackendException)
        self.assertIn('NotImplemented', msg)

    def test_add_connection_error(self):
        calls = self._fail_send(
            'HeadBucket', boto_exc.EndpointConnectionError(
                endpoint_url=ENDPOINT))
        msg = message(self.assertRaises(
            exceptions.RemoteServiceUnavailable, self.store.add, 'img',
            io.BytesIO(b'x'), 1, 'sha256'))
        self.assertIn('s3_store_host', msg)
        # botocore retried before giving up.
        self.assertGreater(len(calls), 1)

    def test_add_tls_error(self):
        self._fail_send('HeadBucket', boto_exc.SSLError(
            endpoint_url=ENDPOINT, error='certificate verify failed'))
        msg = message(self.assertRaises(
            exceptions.RemoteServiceUnavailable, self.store.add, 'img',
            io.BytesIO(b'x'), 1, 'sha256'))
        self.assertIn('s3_store_cacert', msg)

    def test_get_not_found(self):
        self.stub.add_client_error('get_object', 'NoSuchKey', 'no', 404)
        self.assertRaises(exceptions.NotFound, self.store.get, self.loc)
        self.stub.assert_no_pending_responses()

    def test_get_no_such_bucket(self):
        self.stub.add_client_error('get_object', 'NoSuchBucket', 'no', 404)
        self.assertRaises(exceptions.NotFound, self.store.get, self.loc)

    def test_get_access_denied(self):
        self.stub.add_client_error('get_object', 'AccessDenied', 'no', 403)
        self.assertRaises(exceptions.Forbidden, self.store.get, self.loc)

    def test_get_bad_credentials(self):
        self.stub.add_client_error('get_object', 'SignatureDoesNotMatch',
                                   'no', 403)
        e = self.assertRaises(exceptions.BadStoreConfiguration,
                              self.store.get, self.loc)
        for name in CREDENTIAL_OPTIONS:
            self.assertIn(name, e.msg)

    def test_get_connection_error(self):
        self._fail_send('GetObject', boto_exc.EndpointConnectionError(
            endpoint_url=ENDPOINT))
        self.assertRaises(exceptions.RemoteServiceUnavailable,
                          self.store.get, self.loc)

    def test_get_checksum_error_while_reading(self):
        body = FailingBody(b'y' * 10, boto_exc.FlexibleChecksumError(
            error_msg='Expected checksum x did not match calculated '
                      'checksum: y'))
        self.stub.add_response('get_object', {'Body': body,
                                              'ContentLength': 10})
        iterator, size = self.store.get(self.loc, chunk_size=None)
        self.assertEqual(10, size)
        e = self.assertRaises(exceptions.ChecksumMismatch, b''.join,
                              iterator)
        self.assertIn('img', e.msg)

    def test_get_connection_dropped_while_reading(self):
        body = FailingBody(b'y' * 10, boto_exc.ReadTimeoutError(
            endpoint_url=ENDPOINT))
        self.stub.add_response('get_object', {'Body': body,
                                              'ContentLength': 10})
        iterator, _size = self.store.get(self.loc)
        self.assertRaises(exceptions.RemoteServiceUnavailable, b''.join,
                          iterator)

    def test_get_size_errors(self):
        for code, status, cls in (
                ('404', 404, exceptions.NotFound),
                ('403', 403, exceptions.Forbidden),
                ('500', 500, exceptions.BackendException)):
            self.stub.add_client_error('head_object', code, '', status)
            self.assertRaises(cls, self.store.get_size, self.loc)

    def test_delete_not_found(self):
        self.stub.add_client_error('head_object', '404', 'Not Found', 404)
        self.assertRaises(exceptions.NotFound, self.store.delete, self.loc)
        self.assertNotIn('DeleteObject', self.stub.operations())

    def test_delete_denied(self):
        self.stub.add_response('head_object', s3fx.head_object(3))
        self.stub.add_client_error('delete_object', 'AccessDenied', 'no',
                                   403)
        self.assertRaises(exceptions.Forbidden, self.store.delete, self.loc)
        self.stub.assert_no_pending_responses()

    def test_delete_connection_error(self):
        self._fail_send('HeadObject', boto_exc.ConnectTimeoutError(
            endpoint_url=ENDPOINT))
        self.assertRaises(exceptions.RemoteServiceUnavailable,
                          self.store.delete, self.loc)


HTTPS = 'https://s3.example.test'
HTTP = 'http://s3.example.test:8080'


def s3_error(code, status, message='', headers=None, **error):
    error.update({'Code': code, 'Message': message})
    return boto_exc.ClientError(
        {'Error': error, 'ResponseMetadata': {
            'HTTPStatusCode': status, 'HTTPHeaders': headers or {}}},
        'PutObject')


def ssl_error(text):
    return boto_exc.SSLError(endpoint_url=HTTPS, error=text)


ORDER = [
    'checksum-while-reading', 'read-timeout', 'connect-timeout',
    'plain-http-to-tls-port', 'unreachable',
    'https-to-plain-http-port', 'tls-certificate', 'tls-tampered',
    'tls-other', 'other-botocore-error', 'missing-content-length',
    'aws-chunked-not-implemented', 'wrong-region', 'credentials',
    'image-bucket-missing',
    'bucket-missing', 'denied', 'corrupted-upload',
    'checksum-algorithm-unsupported', 'not-found',
    'too-large', 'any-other-answer',
]

# (error, action, endpoint, the rule it meets)
WHICH_RULE = [
    # A FlexibleChecksumError is also a BotoCoreError.
    (boto_exc.FlexibleChecksumError(error_msg='x'), 'reading', HTTPS,
     'checksum-while-reading'),
    # A dropped connection: a hint about the scheme only for http://.
    (boto_exc.ConnectionClosedError(endpoint_url=HTTP), 'uploading', HTTP,
     'plain-http-to-tls-port'),
    (boto_exc.ConnectionClosedError(endpoint_url=HTTPS), 'uploading',
     HTTPS, 'unreachable'),
    # A read timeout names the timeout, on http:// and https:// alike.
    (boto_exc.ReadTimeoutError(endpoint_url=HTTP), 'uploading', HTTP,
     'read-timeout'),
    (boto_exc.ReadTimeoutError(endpoint_url=HTTPS), 'reading', HTTPS,
     'read-timeout'),
    (boto_exc.ConnectTimeoutError(endpoint_url=HTTP), 'reading', HTTP,
     'connect-timeout'),
    (boto_exc.EndpointConnectionError(endpoint_url=HTTP), 'uploading',
     HTTP, 'unreachable'),
    (ssl_error('[SSL: WRONG_VERSION_NUMBER] wrong version number'),
     'uploading', HTTPS, 'https-to-plain-http-port'),
    (ssl_error('[SSL] record layer failure (_ssl.c:1000)'), 'uploading',
     HTTPS, 'https-to-plain-http-port'),
    (ssl_error('[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify '
               'failed: self-signed certificate'), 'uploading', HTTPS,
     'tls-certificate'),
    (ssl_error("hostname mismatch, certificate is not valid for 'x'"),
     'uploading', HTTPS, 'tls-certificate'),
    (ssl_error('[SSL: DECRYPTION_FAILED_OR_BAD_RECORD_MAC] decryption '
               'failed or bad record mac'), 'uploading', HTTPS,
     'tls-tampered'),
    (ssl_error('[SSL: SSLV3_ALERT_HANDSHAKE_FAILURE] handshake failure'),
     'uploading', HTTPS, 'tls-other'),
    (boto_exc.NoCredentialsError(), 'uploading', HTTPS,
     'other-botocore-error'),
    (s3_error('MissingContentLength', 411), 'uploading', HTTPS,
     'missing-content-length'),
    # Swift 2.30's s3api; a NotImplemented about something else is not
    # a checksum matter.
    (s3_error('NotImplemented', 501, 'Transfering payloads in multiple '
              'chunks using aws-chunked is not supported.'), 'uploading',
     HTTPS, 'aws-chunked-not-implemented'),
    (s3_error('NotImplemented', 501, 'Object tagging is not supported.'),
     'uploading', HTTPS, 'any-other-answer'),
    (s3_error('AuthorizationHeaderMalformed', 400), 'uploading', HTTPS,
     'wrong-region'),
    # LocalStack 2026.3 to a multipart upload with SHA512 or an XXHASH;
    # other InvalidRequest answers are no algorithm matter.
    (s3_error('InvalidRequest', 400, 'Checksum algorithm provided is '
              'unsupported. Please try again with any of the valid types: '
              '[CRC32, CRC32C, CRC64NVME, SHA1, SHA256]'), 'uploading',
     HTTPS, 'checksum-algorithm-unsupported'),
    (s3_error('InvalidRequest', 400, 'The upload was created using a '
              'crc32 checksum. The complete request must include the '
              'checksum for each part.'), 'uploading', HTTPS,
     'any-other-answer'),
    (s3_error('PermanentRedirect', 301), 'reading', HTTPS,
     'wrong-region'),
    (s3_error('301', 301), 'checking bucket', HTTPS, 'wrong-region'),
    (s3_error('SignatureDoesNotMatch', 403), 'uploading', HTTPS,
     'credentials'),
    # NoSuchBucket: not found while reading, a configuration error while
    # writing.
    (s3_error('NoSuchBucket', 404), 'reading', HTTPS,
     'image-bucket-missing'),
    (s3_error('NoSuchBucket', 404), 'uploading', HTTPS,
     'bucket-missing'),
    (s3_error('AccessDenied', 403), 'uploading', HTTPS, 'denied'),
    (s3_error('BadDigest', 400), 'uploading', HTTPS,
     'corrupted-upload'),
    (s3_error('NoSuchKey', 404), 'reading', HTTPS, 'not-found'),
    (s3_error('EntityTooLarge', 400), 'uploading', HTTPS, 'too-large'),
    (s3_error('SlowDown', 503), 'uploading', HTTPS, 'any-other-answer'),
]


class RulesTest(base.StoreBaseTest):

    def test_order(self):
        self.assertEqual(ORDER, [rule.name for rule in s3_errors.RULES])

    def test_which_rule(self):
        for error, action, endpoint, name in WHICH_RULE:
            rule, _ctx = s3_errors.find_rule(error, 's3', action, 'bkt',
                                             'img', endpoint=endpoint)
            self.assertEqual(name, rule.name, repr(error))
            result = s3_errors.to_store_error(error, 's3', action, 'bkt',
                                              'img', endpoint=endpoint)
            self.assertIsInstance(result, rule.exc_class)

    def test_no_message_ends_with_two_full_stops(self):
        for error, action, endpoint, _name in WHICH_RULE + [
                (boto_exc.ConnectionClosedError(endpoint_url=HTTPS + '.'),
                 'reading', HTTPS, 'unreachable')]:
            text = str(s3_errors.to_store_error(error, 's3', action, 'bkt',
                                                'img', endpoint=endpoint))
            self.assertFalse(text.endswith('..'), text)
            self.assertNotIn('..', text.replace('...', ''), text)

    def test_only_tampering_says_altered(self):
        for error, action, endpoint, name in WHICH_RULE:
            text = str(s3_errors.to_store_error(error, 's3', action, 'bkt',
                                                'img', endpoint=endpoint))
            says = 'altered' in text or 'corrupted' in text
            self.assertEqual(name in ('checksum-while-reading',
                                      'tls-tampered', 'corrupted-upload'),
                             says, text)


class RegionTest(base.StoreBaseTest):

    def _reason(self, error):
        result = s3_errors.to_store_error(error, 's3', 'uploading', 'bkt',
                                          'img')
        self.assertIsInstance(result, exceptions.BadStoreConfiguration)
        self.assertIn('s3_store_region_name', result.msg)
        return result.msg

    def test_region_s3_gave(self):
        for error in (
                s3_error('AuthorizationHeaderMalformed', 400,
                         "the region 'us-west-2' is wrong; expecting "
                         "'eu-west-1'"),
                s3_error('AuthorizationHeaderMalformed', 400, 'x',
                         Region='eu-west-1'),
                s3_error('PermanentRedirect', 301, 'x',
                         Endpoint='bkt.s3.eu-west-1.amazonaws.com'),
                s3_error('301', 301,
                         headers={'x-amz-bucket-region': 'eu-west-1'})):
            self.assertIn('s3_store_region_name = eu-west-1.',
                          self._reason(error))

    def test_region_s3_did_not_give(self):
        self.assertIn("S3 did not say which", self._reason(
            s3_error('PermanentRedirect', 301, 'moved')))


class SchemeMistakesTest(s3fx.MotoServerMixin, base.StoreBaseTest):
    """Operator mistakes written in a real glance-api.conf."""

    def _start(self, host, **options):
        values = s3fx.store_options(s3_store_host=host,
                                    s3_store_bucket_url_format='path',
                                    stores='s3', default_store='s3')
        values.update(options)
        path = os.path.join(self.test_dir, 'glance-api.conf')
        s3fx.write_config(path, {'glance_store': values})
        self.conf(['--config-file', path], project='glance',
                  default_config_files=[])
        self.addCleanup(self.conf.clear)
        store.register_opts(self.conf)
        store.create_stores(self.conf)

    def _add(self, host, error=exceptions.RemoteServiceUnavailable,
             **options):
        self._start(host, **options)
        data = b'data'
        return self.assertRaises(
            error, store.add_to_backend_with_multihash, self.conf, 'img',
            io.BytesIO(data), len(data), 'sha256')

    def _refused_put(self, code, message, status, **values):
        self._start(s3fx.HOST, **values)
        client = store.get_store_from_scheme('s3')._s3_client
        stub = s3fx.Stubbed.for_test(self, client)
        stub.add_response('head_bucket', {})
        stub.add_client_error('head_object', '404', '', 404)
        stub.add_client_error('put_object', code, message, status)
        return self.assertRaises(
            exceptions.BadStoreConfiguration,
            store.add_to_backend_with_multihash, self.conf, 'img',
            io.BytesIO(b'data'), 4, 'sha256')

    def test_wrong_region(self):
        e = self._refused_put(
            'AuthorizationHeaderMalformed',
            "The authorization header is malformed; the region "
            "'us-west-2' is wrong; expecting 'eu-west-1'", 400,
            s3_store_region_name='us-west-2')
        self.assertIn('s3_store_region_name = eu-west-1.', e.msg)
        self.assertNotIn('s3_store_access_key', e.msg)

    def test_wrong_keys(self):
        e = self._refused_put('InvalidAccessKeyId', 'unknown key', 403)
        self.assertIn('s3_store_access_key', e.msg)
        self.assertIn('s3_store_secret_key', e.msg)

    def test_missing_bucket(self):
        e = self._add(self.moto.url, exceptions.BadStoreConfiguration,
                      s3_store_create_bucket_on_put='False')
        self.assertIn('s3_store_create_bucket_on_put = True', e.msg)

    def test_https_to_plain_http_port(self):
        e = self._add('https://' + self.moto.netloc)
        self.assertIn('Write http:// in s3_store_host', e.msg)
        self.assertNotIn('altered', e.msg)

    def _tls_server(self):
        if not shutil.which('openssl'):
            self.skipTest('openssl is needed')
        server = s3fx.TLSServer(*s3fx.self_signed(self.test_dir))
        self.addCleanup(server.stop)
        return server

    def test_http_to_tls_port(self):
        server = self._tls_server()
        e = self._add('http://' + server.netloc)
        self.assertIn('write https:// in s3_store_host', e.msg)
        self.assertNotIn('altered', e.msg)

    def test_untrusted_certificate(self):
        server = self._tls_server()
        e = self._add('https://' + server.netloc)
        self.assertIn('Set s3_store_cacert', e.msg)
        self.assertNotIn('altered', e.msg)
