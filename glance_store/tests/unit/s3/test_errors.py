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

"""Unit tests of s3_errors' rules table and of the operator's mistakes.

* the order of the rules, and which rule each error meets (a literal
  table, including the errors two rules match);
* region, scheme and TLS mistakes: the message names the option and, for
  a region, the value S3 gave; the scheme mistakes against real sockets
  (https:// to moto's plain-HTTP port, http:// to a TLS server).
"""

import io
import os
import shutil
import socket
import ssl
import subprocess
import threading

from botocore import exceptions as boto_exc

import glance_store as store
from glance_store._drivers import s3_errors
from glance_store import exceptions
from glance_store.tests import base
from glance_store.tests.unit import s3_fixtures

HTTPS = 'https://s3.example.test'
HTTP = 'http://s3.example.test:8080'


def client_error(code, status, message='', headers=None, **error):
    error.update({'Code': code, 'Message': message})
    return boto_exc.ClientError(
        {'Error': error, 'ResponseMetadata': {
            'HTTPStatusCode': status, 'HTTPHeaders': headers or {}}},
        'PutObject')


def ssl_error(text):
    return boto_exc.SSLError(endpoint_url=HTTPS, error=text)


ORDER = [
    'checksum-while-reading', 'plain-http-to-tls-port', 'unreachable',
    'https-to-plain-http-port', 'tls-certificate', 'tls-tampered',
    'tls-other', 'other-botocore-error', 'missing-content-length',
    'wrong-region', 'credentials', 'image-bucket-missing',
    'bucket-missing', 'denied', 'corrupted-upload', 'not-found',
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
    (client_error('MissingContentLength', 411), 'uploading', HTTPS,
     'missing-content-length'),
    (client_error('AuthorizationHeaderMalformed', 400), 'uploading', HTTPS,
     'wrong-region'),
    (client_error('PermanentRedirect', 301), 'reading', HTTPS,
     'wrong-region'),
    (client_error('301', 301), 'checking bucket', HTTPS, 'wrong-region'),
    (client_error('SignatureDoesNotMatch', 403), 'uploading', HTTPS,
     'credentials'),
    # NoSuchBucket: not found while reading, a configuration error while
    # writing.
    (client_error('NoSuchBucket', 404), 'reading', HTTPS,
     'image-bucket-missing'),
    (client_error('NoSuchBucket', 404), 'uploading', HTTPS,
     'bucket-missing'),
    (client_error('AccessDenied', 403), 'uploading', HTTPS, 'denied'),
    (client_error('BadDigest', 400), 'uploading', HTTPS,
     'corrupted-upload'),
    (client_error('NoSuchKey', 404), 'reading', HTTPS, 'not-found'),
    (client_error('EntityTooLarge', 400), 'uploading', HTTPS, 'too-large'),
    (client_error('SlowDown', 503), 'uploading', HTTPS, 'any-other-answer'),
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
                client_error('AuthorizationHeaderMalformed', 400,
                             "the region 'us-west-2' is wrong; expecting "
                             "'eu-west-1'"),
                client_error('AuthorizationHeaderMalformed', 400, 'x',
                             Region='eu-west-1'),
                client_error('PermanentRedirect', 301, 'x',
                             Endpoint='bkt.s3.eu-west-1.amazonaws.com'),
                client_error('301', 301,
                             headers={'x-amz-bucket-region': 'eu-west-1'})):
            self.assertIn('s3_store_region_name = eu-west-1.',
                          self._reason(error))

    def test_region_s3_did_not_give(self):
        self.assertIn("S3 did not say which", self._reason(
            client_error('PermanentRedirect', 301, 'moved')))


def _self_signed(directory):
    cert = os.path.join(directory, 'cert.pem')
    key = os.path.join(directory, 'key.pem')
    subprocess.run(
        ['openssl', 'req', '-x509', '-newkey', 'rsa:2048', '-nodes',
         '-keyout', key, '-out', cert, '-days', '1', '-subj',
         '/CN=127.0.0.1'], check=True, capture_output=True)
    return cert, key


class TLSServer(object):
    """A TLS port on 127.0.0.1 that drops what is not TLS."""

    def __init__(self, cert, key):
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(cert, key)
        self.sock = socket.socket()
        self.sock.bind(('127.0.0.1', 0))
        self.sock.listen(8)
        self.netloc = '127.0.0.1:%d' % self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while True:
            try:
                conn, _addr = self.sock.accept()
            except OSError:
                return
            try:
                with self.context.wrap_socket(conn, server_side=True):
                    pass
            except (ssl.SSLError, OSError):
                conn.close()

    def stop(self):
        self.sock.close()


class SchemeMistakesTest(s3_fixtures.MotoServerMixin, base.StoreBaseTest):

    def _add(self, host, **options):
        self.config(stores=['s3'], default_store='s3')
        s3_fixtures.configure_store(self, s3_store_host=host,
                                    s3_store_bucket_url_format='path',
                                    **options)
        data = b'data'
        return self.assertRaises(
            exceptions.RemoteServiceUnavailable,
            store.add_to_backend_with_multihash, self.conf, 'img',
            io.BytesIO(data), len(data), 'sha256')

    def test_https_to_plain_http_port(self):
        e = self._add('https://' + self.moto.netloc)
        self.assertIn('Write http:// in s3_store_host', e.msg)
        self.assertNotIn('altered', e.msg)

    def _tls_server(self):
        if not shutil.which('openssl'):
            self.skipTest('openssl is needed')
        server = TLSServer(*_self_signed(self.test_dir))
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
