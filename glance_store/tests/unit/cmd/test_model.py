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

"""Unit tests of glance_store.cmd.s3_check.model."""

import fixtures
from oslotest import base

from glance_store._drivers import s3_checksums
from glance_store.cmd.s3_check import model
from glance_store.tests.unit.cmd import fixtures as cmd_fixtures


class TestConfiguration(base.BaseTestCase):

    def test_never_is_when_required(self):
        never = model.Configuration('x', True, 'never', 'NEVER', 'SHA1')
        required = model.Configuration('y', True, 'when_required',
                                       'when_required', 'CRC32')
        self.assertEqual(never.key(), required.key())

    def test_algorithm_counts_only_when_used(self):
        a = model.Configuration('a', True, 'always', 'when_required',
                                'SHA1')
        b = model.Configuration('b', True, 'always', 'when_required',
                                'SHA256')
        self.assertNotEqual(a.key(), b.key())
        c = model.Configuration('c', True, 'when_supported',
                                'when_supported', 'SHA1')
        d = model.Configuration('d', True, 'when_supported',
                                'when_supported', 'SHA256')
        self.assertEqual(c.key(), d.key())

    def test_off(self):
        off = model.Configuration('z', False, 'always', 'always', 'SHA1')
        self.assertEqual(model.Configuration('off', False).key(), off.key())
        self.assertEqual({'s3_store_enable_data_integrity_protection': False},
                         off.options())

    def test_options_and_overrides(self):
        c = model.always('SHA256')
        self.assertEqual({
            's3_store_enable_data_integrity_protection': True,
            's3_store_request_checksum_calculation': 'always',
            's3_store_response_checksum_validation': 'always',
            's3_store_checksum_algorithm': 'SHA256'}, c.options())
        self.assertEqual(c.options(), c.overrides())
        supported = model.standard_configurations()[1]
        self.assertNotIn('s3_store_checksum_algorithm', supported.options())
        self.assertIn('s3_store_checksum_algorithm', supported.overrides())

    def test_from_values(self):
        values = dict(zip(s3_checksums.OPTION_NAMES,
                          (True, 'always', 'when_required', 'CRC32C')))
        c = model.Configuration.from_values('current', values)
        self.assertEqual(('current', True, 'always', 'when_required',
                          'CRC32C'),
                         (c.label, c.enabled, c.request, c.response,
                          c.algorithm))
        self.assertEqual('always-crc32c', model.always('CRC32C').slug)


class TestStandardConfigurations(base.BaseTestCase):

    def test_crt_algorithms_left_out_without_awscrt(self):
        self.useFixture(fixtures.MonkeyPatch(
            'glance_store._drivers.s3_checksums.crt_checksums', None))
        self.assertEqual(cmd_fixtures.BASIC, [
            c.label for c in model.standard_configurations()])
        self.assertEqual(['always/CRC32C', 'always/CRC64NVME'], [
            c.label for c in model.unavailable_configurations()])
        self.assertEqual(8, len(model.standard_configurations(
            only_available=False)))

    @base.testtools.skipUnless(s3_checksums.crt_available(),
                               'awscrt is not installed')
    def test_crt_algorithms_when_available(self):
        basic = cmd_fixtures.BASIC
        self.assertEqual(basic[:3] + ['always/CRC32C', 'always/CRC64NVME'] +
                         basic[3:],
                         [c.label for c in model.standard_configurations()])
        self.assertEqual([], model.unavailable_configurations())
