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

"""Unit tests of s3_redact: neither key in any log record at any level.

The root logger is captured at DEBUG during add, get and delete against
moto (botocore logs the Authorization header, with the access key in
``Credential=``, at DEBUG); then the redaction rules alone.
"""

import io
import logging

import fixtures

import glance_store as store
from glance_store._drivers import s3
from glance_store._drivers import s3_redact
from glance_store.tests import base
from glance_store.tests.unit.s3 import fixtures as s3fx
from glance_store.tests import utils as test_utils


class NoKeyInLogsTest(s3fx.MotoServerMixin, base.StoreBaseTest):

    def _capture(self, **overrides):
        self.log = self.useFixture(fixtures.FakeLogger(
            level=logging.DEBUG, name=None,
            format='%(levelname)s %(name)s %(message)s'))
        self.config(stores=['s3'], default_store='s3')
        self.store = s3fx.configure_store(
            self, re_raise_bsc=True, s3_store_host=self.moto.url,
            s3_store_bucket_url_format='path',
            s3_store_create_bucket_on_put=True, **overrides)

    def _round_trip(self):
        data = test_utils.pattern_bytes(30000)
        uri = store.add_to_backend_with_multihash(
            self.conf, 'img', io.BytesIO(data), len(data), 'sha256')[0]
        iterator, _size = store.get_from_backend(uri)
        self.assertEqual(data, b''.join(iterator))
        store.delete_from_backend(uri)
        return self.log.output

    def test_add_get_delete(self):
        self._capture()
        output = self._round_trip()
        # botocore did log the signed requests...
        self.assertIn('Credential=%s/' % s3_redact.MASK, output)
        self.assertIn('botocore.endpoint', output)
        self.assertIn('urllib3.connectionpool', output)
        # ... without either key.
        self.assertNotIn(s3fx.ACCESS_KEY, output)
        self.assertNotIn(s3fx.SECRET_KEY, output)

    def test_short_access_key(self):
        # 'glance' is a credential in Credential=, and a word of the
        # bucket name, which stays readable.
        self._capture(s3_store_access_key='glance',
                      s3_store_secret_key='short-secret-value')
        output = self._round_trip()
        self.assertNotIn('Credential=glance', output)
        self.assertNotIn('short-secret-value', output)
        self.assertIn(s3fx.BUCKET, output)


class RedactTest(base.StoreBaseTest):

    def setUp(self):
        super().setUp()
        s3_redact.register_keys('AKIAREDACTTEST000001', 'redact/Secret+1')

    def test_rules(self):
        cases = [
            ("'Authorization': b'AWS4-HMAC-SHA256 Credential=short/2026"
             "0101/us-east-1/s3/aws4_request, Signature=abc'",
             "'Authorization': b'AWS4-HMAC-SHA256 Credential=***/2026"
             "0101/us-east-1/s3/aws4_request, Signature=abc'"),
            ('X-Amz-Credential=short%2F20260101%2Fus-east-1',
             'X-Amz-Credential=***%2F20260101%2Fus-east-1'),
            ('<Error><AWSAccessKeyId>short</AWSAccessKeyId></Error>',
             '<Error><AWSAccessKeyId>***</AWSAccessKeyId></Error>'),
            ("{'Code': 'InvalidAccessKeyId', 'AWSAccessKeyId': 'short'}",
             "{'Code': 'InvalidAccessKeyId', 'AWSAccessKeyId': '***'}"),
            ('Authorization: AWS short:c2lnbmF0dXJl',
             'Authorization: AWS ***:c2lnbmF0dXJl'),
            ('key AKIAREDACTTEST000001 and redact/Secret+1',
             'key *** and ***'),
            ('bucket short-images', 'bucket short-images'),
        ]
        for text, expected in cases:
            self.assertEqual(expected, s3_redact.redact(text))

    def test_every_logger_after_registration(self):
        log = self.useFixture(fixtures.FakeLogger(level=logging.DEBUG,
                                                  name=None))
        # A logger created after the keys were registered, with %-args.
        logging.getLogger('botocore.created.later').debug(
            'headers %s', {'Authorization': 'Credential=short/x'})
        logging.getLogger('any').info('secret %s', 'redact/Secret+1')
        self.assertNotIn('short/x', log.output)
        self.assertNotIn('redact/Secret+1', log.output)
        self.assertIn('Credential=***/x', log.output)

    def test_install_is_idempotent(self):
        factory = logging.getLogRecordFactory()
        s3_redact.install()
        self.assertIs(factory, logging.getLogRecordFactory())


class TestRedactor(base.StoreBaseTest):
    """The redactor of printed text.

    The check tool's table, JSON and stale-uploads report use it.
    """

    def test_uri_credentials_removed(self):
        for uri, clean in (
                ('s3://AK:se/cr@et@host/b/k', 's3://***@host/b/k'),
                ('s3+https://host/b/k', 's3+https://host/b/k'),
                ('s3:/AK:SECRET@host/b/k', '***@host/b/k')):
            self.assertEqual(clean, s3_redact.redact_uri(uri))
        self.assertIs(s3.StoreLocation.redact, s3_redact.redact_uri)

    def test_secret_hidden_where_it_is_a_value(self):
        scrub = s3_redact.Redactor('s3cr3t/Key+x', 'AKIAX')
        self.assertEqual('s3_store_secret_key = ***',
                         scrub('s3_store_secret_key = s3cr3t/Key+x'))
        self.assertEqual('s3://***:***@host/b/k',
                         scrub('s3://AKIAX:s3cr3t/Key+x@host/b/k'))
        self.assertEqual("'***'", scrub("'s3cr3t/Key+x'"))

    def test_short_access_key_never_hidden_inside_words(self):
        scrub = s3_redact.Redactor('longsecretvalue', 'glance')
        for text in ('bucket glance-images',
                     'under glance-store-s3-check/abc/',
                     'Backend glance (multi-store)'):
            self.assertEqual(text, scrub(text))

    def test_access_key_hidden_where_a_credential_is_printed(self):
        scrub = s3_redact.Redactor('longsecretvalue', 'glance')
        self.assertEqual('s3_store_access_key = ***',
                         scrub('s3_store_access_key = glance'))
        self.assertEqual('Credential=***/20260101/us-east-1/s3',
                         scrub('Credential=glance/20260101/us-east-1/s3'))
        self.assertEqual('<AWSAccessKeyId>***</AWSAccessKeyId>',
                         scrub('<AWSAccessKeyId>glance</AWSAccessKeyId>'))

    def test_short_secret_not_hidden_inside_words(self):
        scrub = s3_redact.Redactor('images')
        self.assertEqual('glance-images', scrub('glance-images'))
        self.assertEqual('secret = ***', scrub('secret = images'))

    def test_nothing_configured(self):
        self.assertEqual('text', s3_redact.Redactor()('text'))
        self.assertIsNone(s3_redact.Redactor('x')(None))
