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

import fixtures as fixtures_lib
from oslotest import base

from glance_store._drivers import s3_checksums
from glance_store.cmd.s3_check import model
from glance_store.cmd.s3_check import report
from glance_store.tests.unit.cmd import fixtures

ALGORITHMS = s3_checksums.ALGORITHMS


def _row(results, label):
    """The ``ConfigResult`` of ``label`` among ``results``."""
    (row,) = [r for r in results if r.configuration.label == label]
    return row


class TestRecommendation(base.BaseTestCase):

    def test_cheapest_that_validates_every_shape(self):
        # Every always configuration validates both shapes: the cheapest
        # in CPU (model.ALGORITHM_CPU) wins.
        rec = report.recommend(fixtures.matrix(
            when_supported='MissingContentLength'))
        self.assertEqual('always/CRC64NVME', rec.configuration.label)
        results = fixtures.matrix(always_CRC64NVME='X', always_CRC32C='X')
        self.assertEqual('always/CRC32',
                         report.recommend(results).configuration.label)
        results = fixtures.matrix(always_CRC64NVME='X', always_CRC32C='X',
                                  always_CRC32='X')
        self.assertEqual('always/SHA1',
                         report.recommend(results).configuration.label)

    def test_multipart_validation_before_cost(self):
        # SeaweedFS: the CRCs are stored as full-object checksums, the SHA
        # ones as composite ones without part checksums: a multipart SHA
        # image is served unvalidated. Never recommend SHA there, even
        # when it is made the cheapest.
        both = ('small', 'multipart')
        validated = {'always/CRC32': both, 'always/CRC32C': both,
                     'always/CRC64NVME': both, 'always/SHA1': ('small',),
                     'always/SHA256': ('small',), 'when_supported': both}
        self.useFixture(fixtures_lib.MockPatchObject(
            model, 'ALGORITHM_CPU', dict(model.ALGORITHM_CPU, SHA1=0.01,
                                         SHA256=0.01)))
        rec = report.recommend(fixtures.matrix(validated))
        self.assertEqual('always/CRC64NVME', rec.configuration.label)
        # Without the CRCs, when_supported (boto3's CRC32, validated by
        # boto3) is next; then a configuration validating only the small
        # object; a multipart-only validator beats a small-only one.
        results = fixtures.matrix(validated, always_CRC64NVME='X',
                                  always_CRC32C='X', always_CRC32='X')
        self.assertEqual('when_supported',
                         report.recommend(results).configuration.label)
        results = fixtures.matrix(dict(validated, when_supported=()),
                                  always_CRC64NVME='X',
                                  always_CRC32C='X', always_CRC32='X')
        self.assertEqual('always/SHA256',
                         report.recommend(results).configuration.label)
        results = fixtures.matrix({'always/SHA1': ('small',),
                                   'always/CRC32': ('multipart',)})
        self.assertEqual('always/CRC32',
                         report.recommend(results).configuration.label)

    def test_table_driven_costs(self):
        # A cost line decides; no logic change for a new figure.
        self.useFixture(fixtures_lib.MockPatchObject(
            model, 'ALGORITHM_CPU', dict(model.ALGORITHM_CPU, SHA256=0.01)))
        self.assertEqual('always/SHA256', report.recommend(
            fixtures.matrix()).configuration.label)
        # An algorithm without a figure costs UNKNOWN_CPU.
        configuration = model.always('CRC32')
        self.useFixture(fixtures_lib.MockPatchObject(
            model, 'ALGORITHM_CPU', {}))
        self.assertEqual(model.UNKNOWN_CPU, configuration.cpu_per_gib())
        self.assertEqual(0.0, model.Configuration('off', False)
                         .cpu_per_gib())

    def test_ranks(self):
        labels = ['off', 'when_supported', 'always/CRC32', 'always/CRC32C',
                  'always/CRC64NVME', 'always/SHA1', 'always/SHA256']
        ranks = {c.configuration.label: report.rank(c.configuration)
                 for c in fixtures.matrix()}
        self.assertEqual(labels, [label for label in
                                  sorted(ranks, key=ranks.get)
                                  if label in labels])

    def test_off_when_the_backend_stores_no_checksum(self):
        # A backend that stores no checksum and whose ETags are no MD5
        # (SSE-KMS): nothing is validated whatever the settings, so the
        # one that costs nothing.
        results = fixtures.matrix({}, when_supported='MissingContentLength')
        for res in results:
            res.stored_checksum = 'none'
        rec = report.recommend(results)
        self.assertEqual('off', rec.configuration.label)
        self.assertTrue(report.stores_no_checksum(results))
        # One protected setting that validates is enough to recommend
        # protection again.
        sha256 = _row(results, 'always/SHA256')
        sha256.stored_checksum = 'SHA256'
        sha256.validation = {'small': model.VALIDATED,
                             'multipart': model.VALIDATED}
        self.assertFalse(report.stores_no_checksum(results))
        self.assertEqual('always/SHA256',
                         report.recommend(results).configuration.label)

    def test_md5_where_the_backend_stores_no_checksum(self):
        # Ceph RGW 16, Swift 2.30: no flexible checksum is stored, the
        # MD5 ETag of the small object is checked under always/MD5; the
        # multipart one too where the backend gives the part layout.
        for md5_validates in (('small',), ('small', 'multipart')):
            results = fixtures.matrix(
                {'always/MD5': md5_validates},
                when_supported='MissingContentLength')
            for res in results:
                res.stored_checksum = 'none'
            self.assertTrue(report.stores_no_checksum(results))
            rec = report.recommend(results)
            self.assertEqual('always/MD5', rec.configuration.label)
            self.assertEqual('s3_store_checksum_algorithm = MD5',
                             report.snippet('b', rec.configuration)
                             .splitlines()[-1])

    def test_md5_never_before_a_cheaper_full_validation(self):
        # Where CRCs validate every shape, MD5 (1.8 s/GiB) is not chosen;
        # where MD5 validates small images only, a configuration that
        # validates multipart ones goes first.
        rec = report.recommend(fixtures.matrix())
        self.assertEqual('always/CRC64NVME', rec.configuration.label)
        both = ('small', 'multipart')
        rec = report.recommend(fixtures.matrix({
            'always/MD5': ('small',), 'always/SHA256': ('multipart',),
            'always/CRC32': ()}))
        self.assertEqual('always/SHA256', rec.configuration.label)
        rec = report.recommend(fixtures.matrix({
            'always/MD5': both, 'always/SHA1': both}))
        self.assertEqual('always/SHA1', rec.configuration.label)

    def test_when_supported_before_off(self):
        failing = {'always_%s' % a: 'InvalidRequest' for a in ALGORITHMS}
        validated = {'when_supported': ('small', 'multipart')}
        rec = report.recommend(fixtures.matrix(validated, **failing))
        self.assertEqual('when_supported', rec.configuration.label)
        failing['when_supported'] = 'MissingContentLength'
        rec = report.recommend(fixtures.matrix(validated, **failing))
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
        self.assertIn('Recommended settings (always/CRC64NVME)', text)
        # Validation per shape, and the stored checksum of each.
        self.assertRegex(text, r'download small +download multipart')
        self.assertRegex(text, r'always/SHA1 +ok +ok +ok +ok +validated '
                               r'+validated')
        self.assertRegex(text, r'\* off +ok +ok +ChecksumMismatch +ok '
                               r'+unvalidated +unvalidated')

    def test_what_a_backend_without_stored_checksums_validates(self):
        res = self._backend()
        res.configurations = fixtures.matrix({})
        for row in res.configurations:
            row.stored_checksum = 'none'
        text = report.render_table([res])
        self.assertIn('The backend stores no checksum whatever the '
                      'settings and no MD5 ETag could be checked', text)
        self.assertIn('Recommended settings (off)', text)
        self.assertNotIn('No working configuration validates', text)
        # Ceph RGW 16: the MD5 ETag validates the small object only.
        _row(res.configurations, 'always/MD5').validation['small'] = \
            model.VALIDATED
        text = report.render_table([res])
        self.assertNotIn('whatever the settings', text)
        self.assertIn('The backend stores no flexible checksum: only the '
                      'MD5 ETags it returns validate downloads here '
                      '(s3_store_checksum_algorithm = MD5).', text)
        self.assertIn('(multipart unvalidated)', text)
        self.assertIn('Recommended settings (always/MD5)', text)
        self.assertIn('    s3_store_checksum_algorithm = MD5\n', text)
        doc = json.loads(report.to_json([res]))
        rec = doc['backends'][0]['recommendation']
        self.assertIs(True, rec['backend_stores_no_checksum'])
        self.assertEqual({'small': 'validated', 'multipart': 'unvalidated'},
                         rec['validation'])
        # With the part layout (part-number HEADs) both shapes are.
        _row(res.configurations, 'always/MD5').validation['multipart'] = \
            model.VALIDATED
        text = report.render_table([res])
        self.assertIn('stores no flexible checksum', text)
        self.assertNotIn('unvalidated):', text)

    def test_unvalidated_shape_is_said(self):
        res = self._backend()
        res.configurations = fixtures.matrix({
            'always/SHA256': ('small',)})
        _row(res.configurations, 'always/SHA256').stored_checksums = {
            'small': 'SHA256', 'multipart': 'none'}
        text = report.render_table([res])
        self.assertIn('Recommended settings (always/SHA256)', text)
        self.assertIn('(multipart unvalidated)', text)
        self.assertRegex(text, r'always/SHA256 .* validated +unvalidated '
                               r'+SHA256 / none')
        doc = json.loads(report.to_json([res]))
        (backend,) = doc['backends']
        self.assertEqual({'small': 'validated', 'multipart': 'unvalidated'},
                         backend['recommendation']['validation'])
        (row,) = [c for c in backend['configurations']
                  if c['label'] == 'always/SHA256']
        self.assertEqual({'small': 'SHA256', 'multipart': 'none'},
                         row['stored_checksums'])
        self.assertEqual(model.ALGORITHM_CPU['SHA256'],
                         row['cpu_seconds_per_gib'])

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
