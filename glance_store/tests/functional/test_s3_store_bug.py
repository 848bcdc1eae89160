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

"""Bug 2121144, store side: the image plain boto3 cannot upload to RGW.

On Ceph RGW over HTTPS a boto3 >= 1.36 client with its defaults fails
with 411 MissingContentLength; the S3 store with its default options
(data integrity protection off) stores the same image and reads it back,
even when AWS_REQUEST_CHECKSUM_CALCULATION=when_supported is set in the
environment: the store's options override the variable for its client.
"""

import os

import botocore.exceptions
import fixtures

from glance_store.tests.functional import s3_store_helpers as helpers
from glance_store.tests.functional import servers

MiB = helpers.MiB
ENV_VARS = ('AWS_REQUEST_CHECKSUM_CALCULATION',
            'AWS_RESPONSE_CHECKSUM_VALIDATION', 'AWS_PROFILE',
            'AWS_DEFAULT_PROFILE')


class TestBug2121144Store(helpers.S3StoreTestCase):

    def setUp(self):
        super().setUp()
        for name in ENV_VARS:
            self.useFixture(fixtures.EnvironmentVariable(name))
        missing = os.path.join(self.tmp, 'no-aws-config')
        self.useFixture(fixtures.EnvironmentVariable('AWS_CONFIG_FILE',
                                                     missing))
        self.useFixture(fixtures.EnvironmentVariable(
            'AWS_SHARED_CREDENTIALS_FILE', missing))
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
