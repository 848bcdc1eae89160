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

"""Bug 2121144 on a real Ceph RGW: boto3 >= 1.36 uploads fail over HTTPS.

With its default ``request_checksum_calculation = when_supported`` boto3
sends PutObject and UploadPart bodies over HTTPS as ``aws-chunked`` with a
trailing CRC32 and no Content-Length; RGW 16 answers 411
MissingContentLength. Over HTTP boto3 keeps a plain body, and with
``when_required`` it does not add the checksum, so both work.
"""

import os
import tempfile

import botocore.exceptions
import fixtures
import testtools

from glance_store.tests.functional import servers

BODY = b'glance image bytes ' * 1000


class TestBug2121144PlainBoto3(testtools.TestCase):

    def setUp(self):
        super().setUp()
        # boto3's own defaults, whatever the environment of the test run.
        for name in ('AWS_REQUEST_CHECKSUM_CALCULATION',
                     'AWS_RESPONSE_CHECKSUM_VALIDATION', 'AWS_PROFILE',
                     'AWS_DEFAULT_PROFILE'):
            self.useFixture(fixtures.EnvironmentVariable(name))
        missing = os.path.join(tempfile.gettempdir(), 'gs-no-aws-config')
        self.useFixture(fixtures.EnvironmentVariable('AWS_CONFIG_FILE',
                                                     missing))
        self.useFixture(fixtures.EnvironmentVariable(
            'AWS_SHARED_CREDENTIALS_FILE', missing))
        self.rgw = servers.get_server('rgw')
        self.bucket = servers.unique_bucket('gs-bug')
        self.admin = servers.client(
            self.rgw, 'https', request_checksum_calculation='when_required')
        self.admin.create_bucket(Bucket=self.bucket)
        self.addCleanup(servers.delete_bucket, self.admin, self.bucket)

    def assertMissingContentLength(self, call, *args, **kwargs):
        exc = self.assertRaises(botocore.exceptions.ClientError, call,
                                *args, **kwargs)
        self.assertEqual('MissingContentLength', exc.response['Error']['Code'])
        self.assertEqual(411,
                         exc.response['ResponseMetadata']['HTTPStatusCode'])

    def test_default_client_put_fails_over_https(self):
        s3 = servers.client(self.rgw, 'https')
        self.assertEqual('when_supported',
                         s3.meta.config.request_checksum_calculation)
        self.assertMissingContentLength(s3.put_object, Bucket=self.bucket,
                                        Key='image', Body=BODY)
        self.assertEqual([], servers.list_keys(self.admin, self.bucket))

    def test_default_client_upload_part_fails_over_https(self):
        s3 = servers.client(self.rgw, 'https')
        upload = s3.create_multipart_upload(Bucket=self.bucket, Key='big')
        self.assertMissingContentLength(
            s3.upload_part, Bucket=self.bucket, Key='big', PartNumber=1,
            UploadId=upload['UploadId'], Body=BODY)
        s3.abort_multipart_upload(Bucket=self.bucket, Key='big',
                                  UploadId=upload['UploadId'])
        self.assertEqual([],
                         servers.list_open_uploads(self.admin, self.bucket))

    def test_when_required_put_works_over_https(self):
        s3 = servers.client(self.rgw, 'https',
                            request_checksum_calculation='when_required')
        s3.put_object(Bucket=self.bucket, Key='image', Body=BODY)
        got = s3.get_object(Bucket=self.bucket, Key='image')['Body'].read()
        self.assertEqual(BODY, got)

    def test_default_client_put_works_over_http(self):
        s3 = servers.client(self.rgw, 'http')
        self.assertEqual('when_supported',
                         s3.meta.config.request_checksum_calculation)
        s3.put_object(Bucket=self.bucket, Key='image', Body=BODY)
        got = s3.get_object(Bucket=self.bucket, Key='image')['Body'].read()
        self.assertEqual(BODY, got)
