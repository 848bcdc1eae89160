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

"""Bug 2121144 on a real Ceph RGW: aws-chunked uploads refused over HTTPS.

With its default ``request_checksum_calculation = when_supported`` boto3
>= 1.36 sends PutObject and UploadPart bodies over HTTPS as
``aws-chunked`` with a trailing CRC32 and no Content-Length; RGW 16
answers 411 MissingContentLength. Over HTTP boto3 keeps a plain body, and
with ``when_required`` it adds no checksum, so both work.

The S3 store with its default options (data integrity protection off)
stores the image plain boto3 cannot upload and reads it back, even with
AWS_REQUEST_CHECKSUM_CALCULATION=when_supported in the environment: the
store's options override the variable for its own client.
"""

import os

import botocore.exceptions
import fixtures
import testtools

from glance_store.tests.functional import s3_store_helpers as helpers
from glance_store.tests.functional import servers

MiB = helpers.MiB
ENV_VARS = ('AWS_REQUEST_CHECKSUM_CALCULATION',
            'AWS_RESPONSE_CHECKSUM_VALIDATION', 'AWS_PROFILE',
            'AWS_DEFAULT_PROFILE')


def boto3_defaults(test):
    """boto3's own defaults, whatever the environment of the test run."""
    for name in ENV_VARS:
        test.useFixture(fixtures.EnvironmentVariable(name))
    missing = os.path.join(test.useFixture(fixtures.TempDir()).path,
                           'no-aws-config')
    test.useFixture(fixtures.EnvironmentVariable('AWS_CONFIG_FILE',
                                                 missing))
    test.useFixture(fixtures.EnvironmentVariable(
        'AWS_SHARED_CREDENTIALS_FILE', missing))


BODY = b'glance image bytes ' * 1000


class TestPlainBoto3OnRGW(testtools.TestCase):
    """What boto3 alone does on RGW: the bug itself."""

    def setUp(self):
        super().setUp()
        boto3_defaults(self)
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


class TestStoreDefaultsOnRGW(helpers.S3StoreTestCase):
    """The store with default options where plain boto3 fails."""

    def setUp(self):
        super().setUp()
        boto3_defaults(self)
        self.rgw = self.server('rgw')
        self.bucket = self.bucket_of('rgw')

    def _plain_client_fails(self, data, expected_mode):
        """A boto3 client with no settings of its own gets 411."""
        s3 = servers.client(self.rgw, 'https')
        self.assertEqual(expected_mode,
                         s3.meta.config.request_checksum_calculation)
        exc = self.assertRaises(botocore.exceptions.ClientError,
                                s3.put_object, Bucket=self.bucket,
                                Key='plain-boto3', Body=data)
        self.assertEqual('MissingContentLength',
                         exc.response['Error']['Code'])
        self.assertEqual(411,
                         exc.response['ResponseMetadata']['HTTPStatusCode'])
        self.assertNothingLeft('rgw')

    def _store_works(self, data, declared):
        store = self.store('rgw', 'https', helpers.DEFAULTS)
        self.assertEqual('s3+https', store.scheme)
        self.assertFalse(store.policy.enabled)
        self.assertEqual('when_required',
                         store._s3_client.meta.config.
                         request_checksum_calculation)
        self.assertEqual('when_required',
                         store._s3_client.meta.config.
                         response_checksum_validation)
        key, result = self.add(store, data, declared)
        uri = self.assertAdded(result, data)
        self.assertEqual('%s%s' % (store.url_prefix, key), uri)
        loc = self.assertStored(store, uri, data)
        store.delete(loc)
        self.assertNothingLeft('rgw')

    def test_plain_boto3_fails_store_defaults_work(self):
        data = helpers.image(1 * MiB, seed=2121144)
        self._plain_client_fails(data, 'when_supported')
        self._store_works(data, len(data))

    def test_store_defaults_work_multipart_unknown_size(self):
        data = helpers.image(12 * MiB, seed=2121144)
        self._plain_client_fails(data[:MiB], 'when_supported')
        self._store_works(data, 0)

    def test_store_options_override_environment(self):
        self.useFixture(fixtures.EnvironmentVariable(
            'AWS_REQUEST_CHECKSUM_CALCULATION', 'when_supported'))
        self.useFixture(fixtures.EnvironmentVariable(
            'AWS_RESPONSE_CHECKSUM_VALIDATION', 'when_supported'))
        data = helpers.image(1 * MiB, seed=36)
        self._plain_client_fails(data, 'when_supported')
        self._store_works(data, len(data))
        self._store_works(helpers.image(12 * MiB, seed=36), 12 * MiB)

    def test_environment_when_required_is_what_the_store_does(self):
        # The only former workaround: the variable fixes plain boto3 for
        # the whole process; the store gets the same result on its own.
        self.useFixture(fixtures.EnvironmentVariable(
            'AWS_REQUEST_CHECKSUM_CALCULATION', 'when_required'))
        data = helpers.image(1 * MiB, seed=7)
        s3 = servers.client(self.rgw, 'https')
        self.assertEqual('when_required',
                         s3.meta.config.request_checksum_calculation)
        s3.put_object(Bucket=self.bucket, Key='plain-boto3', Body=data)
        got = s3.get_object(Bucket=self.bucket,
                            Key='plain-boto3')['Body'].read()
        self.assertEqual(data, got)
