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

"""Unit tests of glance_store.cmd.s3_check.report."""

import json

from oslotest import base

from glance_store._drivers import s3_checksums
from glance_store.cmd.s3_check import model
from glance_store.cmd.s3_check import report
from glance_store.tests.unit.cmd import fixtures

ALGORITHMS = s3_checksums.ALGORITHMS


class TestRecommendation(base.BaseTestCase):

    def test_strongest_that_works(self):
        rec = report.recommend(fixtures.matrix(
            when_supported='MissingContentLength'))
        self.assertEqual('always/SHA256', rec.configuration.label)

    def test_order_of_algorithms(self):
        results = fixtures.matrix(always_SHA256='BadDigest')
        self.assertEqual('always/SHA1',
                         report.recommend(results).configuration.label)
        results = fixtures.matrix(always_SHA256='BadDigest',
                                  always_SHA1='BadDigest')
        self.assertEqual('always/CRC64NVME',
                         report.recommend(results).configuration.label)
        results = fixtures.matrix(always_SHA256='X', always_SHA1='X',
                                  always_CRC64NVME='X', always_CRC32C='X')
        self.assertEqual('always/CRC32',
                         report.recommend(results).configuration.label)

    def test_ranks(self):
        labels = ['off', 'when_supported', 'always/CRC32', 'always/CRC32C',
                  'always/CRC64NVME', 'always/SHA1', 'always/SHA256']
        ranks = {c.configuration.label: report.rank(c.configuration)
                 for c in fixtures.matrix()}
        self.assertEqual(labels, sorted(ranks, key=ranks.get))

    def test_off_when_the_backend_stores_no_checksum(self):
        results = fixtures.matrix(when_supported='MissingContentLength')
        for res in results:
            res.stored_checksum = 'none'
        rec = report.recommend(results)
        self.assertEqual('off', rec.configuration.label)
        self.assertTrue(report.stores_no_checksum(results))
        # One protected setting that the backend keeps is enough to
        # recommend protection again.
        results[-1].stored_checksum = 'CRC32'
        self.assertFalse(report.stores_no_checksum(results))
        self.assertEqual('always/SHA256',
                         report.recommend(results).configuration.label)

    def test_when_supported_before_off(self):
        failing = {'always_%s' % a: 'InvalidRequest' for a in ALGORITHMS}
        rec = report.recommend(fixtures.matrix(**failing))
        self.assertEqual('when_supported', rec.configuration.label)
        failing['when_supported'] = 'MissingContentLength'
        rec = report.recommend(fixtures.matrix(**failing))
        self.assertEqual('off', rec.configuration.label)
        self.assertEqual(
            '[b]\ns3_store_enable_data_integrity_protection = False\n',
            report.snippet('b', rec.configuration))

    def test_nothing_works(self):
        failing = {'always_%s' % a: 'X' for a in ALGORITHMS}
        failing.update(off='AccessDenied', when_supported='X')
        self.assertIsNone(report.recommend(fixtures.matrix(**failing)))

    def test_custom_current_settings_never_recommended(self):
        failing = {'always_%s' % a: 'X' for a in ALGORITHMS}
        failing.update(off='X', when_supported='X')
        results = fixtures.matrix(**failing)
        custom = model.ConfigResult(model.Configuration(
            'current', True, 'when_required', 'always', 'CRC32'),
            results={op: model.OK for op in model.OPERATIONS},
            current=True)
        self.assertIsNone(report.rank(custom.configuration))
        self.assertIsNone(report.recommend(results + [custom]))
        self.assertEqual('when_required/always CRC32',
                         report.describe(custom.configuration))


class TestRendering(base.BaseTestCase):

    def _backend(self, current_ok=True, error=None, kind=None):
        res = model.BackendResult('b', 'b')
        res.configurations = fixtures.matrix()
        res.configurations[0].current = True
        res.current = model.Configuration('off', False)
        if not current_ok:
            res.configurations[0].results['get'] = 'ChecksumMismatch'
        res.error, res.error_kind = error, kind
        return res

    def test_exit_codes(self):
        self.assertEqual(0, report.exit_code([self._backend()]))
        self.assertEqual(1, report.exit_code([self._backend(False)]))
        self.assertEqual(1, report.exit_code([
            self._backend(), self._backend(error='x', kind='backend')]))
        self.assertEqual(2, report.exit_code([
            self._backend(), self._backend(error='x', kind='config')]))
        self.assertEqual(1, report.exit_code([]))

    def test_table_of_fake_results(self):
        res = self._backend(False)
        res.configurations[1].results['put'] = 'MissingContentLength'
        res.configurations[1].messages['put'] = 'refused'
        text = report.render_table([res])
        self.assertRegex(text, r'\* off +ok +ok +ChecksumMismatch +ok')
        self.assertRegex(text, r'when_supported +MissingContentLength')
        self.assertIn('when_supported: refused', text)
        self.assertIn('Current settings (off): DO NOT WORK', text)
        self.assertIn('Recommended settings (always/SHA256)', text)

    def test_warnings_not_tried_and_upload_line(self):
        res = self._backend()
        res.warnings = ['s3_store_large_object_chunk_size raised to 5']
        res.not_tried = [model.NotTried('always/CRC32C',
                                        'needs awscrt (pip install awscrt)')]
        res.upload = {'threshold': 100 * 2 ** 20, 'part_size': 10 * 2 ** 20,
                      'parts_in_flight': 10, 'check_part_size': 5 * 2 ** 20}
        text = report.render_table([res])
        self.assertIn('Glance logs these warnings for this backend:\n'
                      '    s3_store_large_object_chunk_size raised to 5',
                      text)
        self.assertIn('Not tried here: always/CRC32C: needs awscrt '
                      '(pip install awscrt)', text)
        self.assertIn('multipart from 100 MiB (s3_store_large_object_size), '
                      'parts of 10 MiB (s3_store_large_object_chunk_size), '
                      '10 in flight (s3_store_thread_pools)', text)
        doc = json.loads(report.to_json([res]))
        (backend,) = doc['backends']
        self.assertEqual(res.warnings, backend['warnings'])
        self.assertEqual([{'label': 'always/CRC32C',
                           'reason': 'needs awscrt (pip install awscrt)'}],
                         backend['not_tried'])
        self.assertEqual(10, backend['upload']['parts_in_flight'])

    def test_not_checked(self):
        res = model.BackendResult('b', 'b', error='no answer',
                                  error_kind='backend')
        self.assertIn('Current settings: not checked (no answer)',
                      report.render_table([res]))
        self.assertEqual('backend b: no answer', report.error_line(res))

    def test_embedded_failure_raises_the_exit_code(self):
        doc = json.loads(report.to_json([self._backend()],
                                        {'ok': False, 'steps': []}))
        self.assertEqual(1, doc['exit_code'])

    def test_round_trip(self):
        text = report.render_round_trip({
            'backend': 'e', 'settings': 'off', 'ok': False,
            'steps': [{'name': 'image', 'ok': True, 'detail': 'd'},
                      {'name': 'store', 'ok': False, 'detail': 'x'}]})
        self.assertIn('  image  ok     d\n  store  FAILED x\n', text)
        self.assertIn('Round trip: FAILED', text)
