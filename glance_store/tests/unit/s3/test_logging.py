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

"""Unit tests of what the S3 store logs.

* No secret (the configured secret key, the secret of a legacy location
  URI) in any log record of any logger at DEBUG level (botocore's and
  urllib3's included), in any exception message, nor in url_prefix.
* The effective checksum policy of each backend logged once at start-up;
  values ignored because the master switch is off, once, as a warning.
"""

import io
import logging

import fixtures

import glance_store as store
from glance_store import exceptions
from glance_store.tests import base
from glance_store.tests.unit.s3 import fixtures as s3fx
from glance_store.tests import utils as test_utils

LOG = logging.getLogger(__name__)

LEGACY_ACCESS = 'AKIALEGACYACCESS'
LEGACY_SECRETS = ('LEGACYSECRETVALUE0123', 'Legacy/Secret+Value@42')


class SecretsNotLoggedTest(s3fx.MotoServerMixin, base.StoreBaseTest):

    def setUp(self):
        super().setUp()
        # Every logger, DEBUG and up: botocore and urllib3 included.
        self.log = self.useFixture(fixtures.FakeLogger(
            level=logging.DEBUG, name=None,
            format='%(levelname)s %(name)s %(message)s'))
        self.records = self.useFixture(s3fx.LogRecords())
        self.messages = []
        self.config(stores=['s3'], default_store='s3')
        self.store = s3fx.configure_store(
            self, re_raise_bsc=True, s3_store_host=self.moto.url,
            s3_store_bucket_url_format='path',
            s3_store_create_bucket_on_put=True)
        # Glance logs its configuration at start-up.
        self.conf.log_opt_values(LOG, logging.DEBUG)

    def _secrets(self):
        return (s3fx.SECRET_KEY,) + LEGACY_SECRETS

    def _raises(self, exc_class, func, *args, **kwargs):
        e = self.assertRaises(exc_class, func, *args, **kwargs)
        self.messages.append(str(e))
        self.messages.append(getattr(e, 'msg', ''))
        return e

    def assertNoSecret(self, network=True):
        output = self.log.output
        if network:
            # The capture did see botocore's and urllib3's debug logs.
            names = {r.name for r in self.records.records}
            self.assertTrue(any(n.startswith('botocore') for n in names))
            self.assertTrue(any(n.startswith('urllib3') for n in names))
        texts = [output, self.store.url_prefix] + self.messages
        for secret in self._secrets():
            for text in texts:
                self.assertNotIn(secret, text)
            # Quoted forms too (URL-encoded, repr'd).
            self.assertNotIn(secret.replace('/', '%2F'), output)
            self.assertNotIn(repr(secret), output)

    def _legacy_uri(self, secret, key):
        return 's3://%s:%s@%s/%s/%s' % (LEGACY_ACCESS, secret,
                                        self.moto.netloc,
                                        s3fx.BUCKET, key)

    def test_add_get_delete_with_legacy_uris(self):
        data = test_utils.pattern_bytes(20000)
        uri = store.add_to_backend_with_multihash(
            self.conf, 'img', io.BytesIO(data), len(data), 'sha256')[0]
        self.assertNotIn('@', uri)
        self.assertNotIn(s3fx.SECRET_KEY, uri)
        for secret in LEGACY_SECRETS:
            legacy = self._legacy_uri(secret, 'img')
            iterator, size = store.get_from_backend(legacy)
            self.assertEqual(data, b''.join(iterator))
            self.assertEqual(len(data), size)
            self.assertEqual(len(data), store.get_size_from_backend(legacy))
            iterator, size = store.get_from_backend(legacy, offset=5,
                                                    chunk_size=10)
            self.assertEqual(data[5:15], b''.join(iterator))
        store.delete_from_backend(self._legacy_uri(LEGACY_SECRETS[0],
                                                   'img'))
        for secret in LEGACY_SECRETS:
            legacy = self._legacy_uri(secret, 'img')
            self._raises(exceptions.NotFound, store.get_from_backend,
                         legacy)
            self._raises(exceptions.NotFound, store.get_size_from_backend,
                         legacy)
            self._raises(exceptions.NotFound, store.delete_from_backend,
                         legacy)
        self.assertNoSecret()

    def test_multipart_and_failures(self):
        s3fx.moto_small_parts(self)
        s3fx.small_limits(self.store, 8 * 1024, 4 * 1024)
        data = test_utils.pattern_bytes(30000)
        uri = store.add_to_backend_with_multihash(
            self.conf, 'big', io.BytesIO(data), 0, 'sha256')[0]
        self._raises(exceptions.Duplicate,
                     store.add_to_backend_with_multihash, self.conf,
                     'big', io.BytesIO(data), 0, 'sha256')
        self._raises(exceptions.Invalid,
                     store.add_to_backend_with_multihash, self.conf,
                     'short', io.BytesIO(data), len(data) + 1, 'sha256')
        for secret in LEGACY_SECRETS:
            iterator, _size = store.get_from_backend(
                self._legacy_uri(secret, 'big'))
            self.assertEqual(data, b''.join(iterator))
        store.delete_from_backend(uri)
        self.assertNoSecret()

    def test_malformed_legacy_uris(self):
        for secret in LEGACY_SECRETS:
            no_key = 's3://%s:%s@%s/%s' % (LEGACY_ACCESS, secret,
                                           self.moto.netloc,
                                           s3fx.BUCKET)
            for uri in (no_key,
                        's3://%s:%s@' % (LEGACY_ACCESS, secret),
                        's3:/%s:%s@host/bucket/key' % (LEGACY_ACCESS,
                                                       secret)):
                self._raises((exceptions.BadStoreUri,
                              exceptions.UnknownScheme),
                             store.get_from_backend, uri)
        self.assertNoSecret(network=False)

    def test_client_errors_with_legacy_uri(self):
        # A denied read through a legacy URI: the message and the log
        # name the object, not the credentials.
        stub = s3fx.Stubbed.for_test(self, self.store._s3_client)
        stub.add_client_error('get_object', 'AccessDenied', 'no', 403)
        stub.add_client_error('head_object', '403', '', 403)
        legacy = self._legacy_uri(LEGACY_SECRETS[1], 'img')
        e = self._raises(exceptions.Forbidden, store.get_from_backend,
                         legacy)
        self.assertIn('%s/img' % s3fx.BUCKET, e.msg)
        self._raises(exceptions.Forbidden, store.delete_from_backend,
                     legacy)
        stub.deactivate()
        # botocore's own logs of real calls are part of the check.
        self._raises(exceptions.NotFound, store.get_size_from_backend,
                     legacy)
        self.assertNoSecret()


class PolicyLogTest(s3fx.MultiStoreS3Base):
    """Each backend's policy once at start-up; ignored values once."""

    def _records(self, level, backend):
        prefix = 'S3 backend %s' % backend
        return [r.getMessage() for r in self.records.records
                if r.levelno == level and r.getMessage().startswith(prefix)]

    def test_policy_logged_once_per_backend(self):
        self.records = self.useFixture(s3fx.LogRecords())
        self.load(rgw={'s3_store_host': self.moto.url,
                       's3_store_bucket': 'rgw-images',
                       's3_store_enable_data_integrity_protection': 'False',
                       's3_store_request_checksum_calculation': 'always'})
        aws = self._records(logging.INFO, 'aws ')
        self.assertEqual(1, len(aws), aws)
        self.assertIn('data integrity protection on', aws[0])
        self.assertIn('CRC32', aws[0])
        rgw = self._records(logging.INFO, 'rgw ')
        self.assertEqual(1, len(rgw), rgw)
        self.assertIn('data integrity protection off', rgw[0])

        warnings = self._records(logging.WARNING, 'rgw')
        self.assertEqual(1, len(warnings), warnings)
        for text in ('s3_store_request_checksum_calculation = always',
                     's3_store_response_checksum_validation = '
                     'when_supported',
                     's3_store_checksum_algorithm = SHA256',
                     's3_store_enable_data_integrity_protection'):
            self.assertIn(text, warnings[0])
        self.assertEqual([], self._records(logging.WARNING, 'aws'))

        # Using the stores logs no policy again.
        before = len(self.records.records)
        for name in ('aws', 'rgw'):
            uri = store.add_with_multihash(self.conf, 'img', io.BytesIO(
                b'data'), 4, name, 'sha256')[0]
            b''.join(store.get(uri, name)[0])
            store.delete(uri, name)
        later = self.records.records[before:]
        self.assertEqual([], [r.getMessage() for r in later
                              if r.levelno >= logging.INFO and
                              'data integrity protection' in
                              r.getMessage()])
        self.assertEqual([], [r.getMessage() for r in later
                              if r.levelno == logging.WARNING and
                              'ignored' in r.getMessage()])
