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
"""

import io

from botocore import exceptions as boto_exc
from botocore import response as boto_response
import fixtures

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
     exceptions.RemoteServiceUnavailable, ('s3_store_host',)),
    (boto_exc.ConnectTimeoutError(endpoint_url=ENDPOINT),
     exceptions.RemoteServiceUnavailable, ('s3_store_host',)),
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
]


def message(error):
    return getattr(error, 'msg', None) or str(error)


class ToStoreErrorTest(base.StoreBaseTest):

    def test_each_code(self):
        for error, cls, words in CASES:
            result = s3_errors.to_store_error(error, 'aws', 'uploading',
                                              'bkt', 'img')
            name = s3_errors.error_code(error)
            self.assertIsInstance(result, cls, name)
            text = message(result)
            for word in words:
                self.assertIn(word, text, name)
            # Operator messages name the backend (a corrupted download
            # names the object and the algorithm).
            if not isinstance(error, boto_exc.FlexibleChecksumError):
                self.assertIn('aws', text, name)

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
