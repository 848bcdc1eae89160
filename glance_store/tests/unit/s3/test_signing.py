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

"""Unit tests of s3_signing: botocore's own signer, awscrt's checksums."""

import base64
from unittest import mock

import boto3
import botocore
import botocore.auth
from botocore import awsrequest
from botocore import config as boto_config
import testtools

from glance_store._drivers import s3_signing
from glance_store.tests import base
from glance_store.tests.unit.s3 import fixtures as s3fx

try:
    from awscrt import checksums as crt_checksums
    import botocore.crt.auth as crt_auth
except ImportError:  # pragma: no cover - awscrt is a test requirement
    crt_checksums = None
    crt_auth = None


def _client():
    session = boto3.session.Session(
        aws_access_key_id='AKIDTESTTESTTESTTEST',
        aws_secret_access_key='not-a-secret-not-a-secret-not-a-secret0',
        region_name='us-east-1')
    return session.client(
        's3', endpoint_url='http://127.0.0.1:9', region_name='us-east-1',
        config=boto_config.Config(
            request_checksum_calculation='when_required',
            retries={'max_attempts': 1}))


class _Raw(object):
    """The raw body of an empty response."""

    def stream(self, **kwargs):
        return iter([b''])


class _Capture(object):
    """Answers every request of a client with 200, keeping the requests."""

    def __init__(self, client):
        self.requests = []
        client.meta.events.register('before-send.s3', self)

    def __call__(self, request, **kwargs):
        self.requests.append(request)
        return awsrequest.AWSResponse(request.url, 200, {'ETag': '"e"'},
                                      _Raw())


@testtools.skipIf(crt_auth is None, 'awscrt is not installed')
class PythonSignerTest(base.StoreBaseTest):

    def setUp(self):
        super().setUp()
        if not s3_signing.crt_signs():
            self.skipTest('botocore does not sign through awscrt here '
                          '(BOTO_DISABLE_CRT is set)')

    def _put(self, client, **kwargs):
        capture = _Capture(client)
        calls = {'py': 0, 'crt': 0}
        py_add = botocore.auth.S3SigV4Auth.add_auth
        crt_add = crt_auth.CrtS3SigV4Auth.add_auth

        def count_py(signer, request):
            calls['py'] += 1
            return py_add(signer, request)

        def count_crt(signer, request):
            calls['crt'] += 1
            return crt_add(signer, request)
        with mock.patch.object(botocore.auth.S3SigV4Auth, 'add_auth',
                               count_py), \
                mock.patch.object(crt_auth.CrtS3SigV4Auth, 'add_auth',
                                  count_crt):
            client.put_object(Bucket='b', Key='k', Body=b'x' * 1000,
                              **kwargs)
        return capture.requests[-1], calls

    def test_awscrt_signs_by_default(self):
        # What the module works around: a plain client signs with awscrt.
        _req, calls = self._put(_client())
        self.assertEqual({'py': 0, 'crt': 1}, calls)

    def test_python_signer_signs(self):
        client = _client()
        self.assertTrue(s3_signing.use_python_signer(client))
        req, calls = self._put(client)
        self.assertEqual({'py': 1, 'crt': 0}, calls)
        self.assertTrue(req.headers['Authorization'].startswith(
            b'AWS4-HMAC-SHA256 Credential=AKIDTESTTESTTESTTEST/'))

    def test_store_client_signs_with_python_signer(self):
        store = s3fx.configure_store(self, re_raise_bsc=True)
        client = store._create_s3_client()
        _req, calls = self._put(client)
        self.assertEqual({'py': 1, 'crt': 0}, calls)

    def test_other_clients_keep_their_signer(self):
        s3_signing.use_python_signer(_client())
        _req, calls = self._put(_client())
        self.assertEqual({'py': 0, 'crt': 1}, calls)

    def test_crc32c_still_computed_by_awscrt(self):
        client = _client()
        s3_signing.use_python_signer(client)
        body = b'x' * 1000  # what _put sends
        req, calls = self._put(client, ChecksumAlgorithm='CRC32C')
        self.assertEqual({'py': 1, 'crt': 0}, calls)
        expected = base64.b64encode(
            crt_checksums.crc32c(body).to_bytes(4, 'big'))
        self.assertEqual(expected, req.headers['x-amz-checksum-crc32c'])

    def test_unsigned_client_stays_unsigned(self):
        # The check tool's anonymous probes: no signature at all.
        session = boto3.session.Session(
            aws_access_key_id='AKIDTESTTESTTESTTEST',
            aws_secret_access_key='not-a-secret-not-a-secret-not-a-secret0',
            region_name='us-east-1')
        client = session.client(
            's3', endpoint_url='http://127.0.0.1:9',
            config=boto_config.Config(signature_version=botocore.UNSIGNED))
        s3_signing.use_python_signer(client)
        capture = _Capture(client)
        client.head_bucket(Bucket='b')
        self.assertNotIn('Authorization', capture.requests[0].headers)

    def test_presigned_url_uses_python_query_signer(self):
        client = _client()
        s3_signing.use_python_signer(client)
        with mock.patch.object(crt_auth.CrtS3SigV4QueryAuth, 'add_auth',
                               side_effect=AssertionError('awscrt')):
            url = client.generate_presigned_url(
                'get_object', Params={'Bucket': 'b', 'Key': 'k'})
        self.assertIn('X-Amz-Signature=', url)


class NoCrtTest(base.StoreBaseTest):

    def test_nothing_to_do_without_awscrt_signing(self):
        client = _client()
        with mock.patch.dict(botocore.auth.AUTH_TYPE_MAPS,
                             {'s3v4': botocore.auth.S3SigV4Auth}):
            self.assertFalse(s3_signing.crt_signs())
            self.assertFalse(s3_signing.use_python_signer(client))
