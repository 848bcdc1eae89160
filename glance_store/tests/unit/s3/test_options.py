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

"""Unit tests of the S3 option values, read from a real config file.

The options are written to a glance-api.conf and parsed by oslo.config,
as Glance does at start-up, so that oslo.config's own validation
(choices, minimums, case) is what is exercised.
"""


from oslo_config import cfg

import glance_store as store
from glance_store._drivers import s3
from glance_store import location
from glance_store.tests import base
from glance_store.tests.unit.s3 import fixtures as s3fx

# What oslo.config raises for a value a file sets wrong.
BadValue = cfg.ConfigFileValueError

BAD_VALUES = [
    ('s3_store_request_checksum_calculation', 'sometimes'),
    ('s3_store_response_checksum_validation', 'sometimes'),
    ('s3_store_checksum_algorithm', 'BLAKE2B'),
    ('s3_store_bucket_url_format', 'x'),
    # Upstream 5.7.0 refuses these too (min=0, integers).
    ('s3_store_large_object_size', '-1'),
    ('s3_store_thread_pools', 'many'),
    ('s3_store_enable_data_integrity_protection', 'perhaps'),
]


def _working_options(**overrides):
    opts = s3fx.store_options(
        s3_store_host='http://127.0.0.1:9')
    opts.update(overrides)
    return opts


class SingleStoreOptionsTest(s3fx.ConfigFileMixin, base.StoreBaseTest):

    def _configure(self, **values):
        self.load_config({'glance_store': _working_options(**values)})
        st = s3.Store(self.conf)
        st.configure(re_raise_bsc=True)
        return st

    def test_bad_values_refused_with_the_option_name(self):
        for name, value in BAD_VALUES:
            for switch in ('false', 'true'):
                values = {name: value}
                if name != 's3_store_enable_data_integrity_protection':
                    values['s3_store_enable_data_integrity_protection'] = \
                        switch
                e = self.assertRaises(BadValue, self._configure, **values)
                self.assertIn(name, str(e), '%s = %s' % (name, value))
                self.conf.clear()

    def test_bad_value_refused_by_create_stores(self):
        # Glance's start-up path: the error is not turned into a store
        # with writes disabled, it stops the start-up.
        for name, value in BAD_VALUES:
            values = _working_options(**{name: value})
            values.update(stores='s3', default_store='s3')
            self.load_config({'glance_store': values})
            store.register_opts(self.conf)
            e = self.assertRaises(BadValue, store.create_stores,
                                  self.conf)
            self.assertIn(name, str(e))
            self.conf.clear()
            location.SCHEME_TO_CLS_MAP.clear()

    def test_values_are_case_insensitive(self):
        st = self._configure(
            s3_store_enable_data_integrity_protection='True',
            s3_store_request_checksum_calculation='When_Supported',
            s3_store_response_checksum_validation='ALWAYS',
            s3_store_checksum_algorithm='sha256',
            s3_store_bucket_url_format='path')
        self.assertEqual('when_supported', st.policy.request)
        self.assertEqual('always', st.policy.response)
        self.assertEqual('SHA256', st.policy.algorithm)
        config = st._s3_client.meta.config
        self.assertEqual('when_supported',
                         config.request_checksum_calculation)
        # 'always' is done by the store; botocore stays at when_required.
        self.assertEqual('when_required',
                         config.response_checksum_validation)

    def test_upper_case_always_request(self):
        st = self._configure(
            s3_store_enable_data_integrity_protection='true',
            s3_store_request_checksum_calculation='ALWAYS',
            s3_store_response_checksum_validation='Never',
            s3_store_checksum_algorithm='crc32')
        self.assertTrue(st.policy.precompute)
        self.assertEqual('never', st.policy.response)
        self.assertEqual('CRC32', st.policy.algorithm)
        self.assertIn('ChecksumCRC32', st.policy.put_params(b'abc'))

    def test_every_valid_value_accepted(self):
        for value in ('when_required', 'when_supported', 'always',
                      'never', 'WHEN_REQUIRED', 'Always'):
            st = self._configure(
                s3_store_enable_data_integrity_protection='true',
                s3_store_request_checksum_calculation=value,
                s3_store_response_checksum_validation=value)
            self.assertEqual(value.lower(), st.policy.request)
            self.assertEqual(value.lower(), st.policy.response)
            self.conf.clear()

    def test_minimums_accepted(self):
        st = self._configure(s3_store_large_object_chunk_size='5',
                             s3_store_thread_pools='1',
                             s3_store_large_object_size='1')
        self.assertEqual(5 * 1024 * 1024,
                         st.s3_store_large_object_chunk_size)
        self.assertEqual(1, st.s3_store_thread_pools)
        self.assertEqual(1024 * 1024, st.s3_store_large_object_size)


class MultiStoreOptionsTest(s3fx.ConfigFileMixin, base.MultiStoreBaseTest):

    def _load(self, backend_values, defaults=None):
        sections = {
            'DEFAULT': {'enabled_backends': 'aws:s3, rgw:s3'},
            'glance_store': {'default_backend': 'aws'},
            'aws': _working_options(),
            'rgw': _working_options(**backend_values),
        }
        if defaults:
            sections['backend_defaults'] = defaults
        self.load_config(sections)
        store.register_store_opts(self.conf)

    def test_bad_value_in_a_backend_group(self):
        for name, value in BAD_VALUES:
            self._load({name: value})
            e = self.assertRaises(BadValue, store.create_multi_stores,
                                  self.conf)
            self.assertIn(name, str(e))
            self.conf.clear()
            location.SCHEME_TO_CLS_BACKEND_MAP.clear()

    def test_bad_value_in_backend_defaults(self):
        for name, value in BAD_VALUES:
            self._load({}, defaults={name: value})
            e = self.assertRaises(BadValue, store.create_multi_stores,
                                  self.conf)
            self.assertIn(name, str(e))
            self.conf.clear()
            location.SCHEME_TO_CLS_BACKEND_MAP.clear()
