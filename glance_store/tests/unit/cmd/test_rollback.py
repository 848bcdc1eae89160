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

"""Unit tests of glance_store.cmd.s3_check.rollback (--upstream-compatible)."""

import io
import os
import textwrap
from unittest import mock

import fixtures
from oslotest import base

from glance_store.cmd.s3_check import cli
from glance_store.cmd.s3_check import rollback

MULTI = """\
[DEFAULT]
enabled_backends = rgw:s3, aws:s3, local:file

[glance_store]
default_backend = rgw

[backend_defaults]
s3_store_enable_data_integrity_protection = true

[rgw]
s3_store_host = http://127.0.0.1:8000
s3_store_access_key = AKIAEXAMPLE
s3_store_secret_key = secret-never-printed
s3_store_bucket = images
s3_store_request_checksum_calculation = always
s3_store_checksum_algorithm = MD5

[aws]
s3_store_host = https://s3.us-east-1.amazonaws.com
s3_store_access_key = AKIAEXAMPLE
s3_store_secret_key = secret-never-printed
s3_store_bucket = images
s3_store_request_checksum_calculation = when_supported
s3_store_response_checksum_validation = never

[local]
filesystem_store_datadir = /var/lib/glance/images

[os_glance_staging_store]
filesystem_store_datadir = /var/lib/glance/staging
"""

SAFE = """\
[DEFAULT]
enabled_backends = rgw:s3

[glance_store]
default_backend = rgw

[rgw]
s3_store_host = http://127.0.0.1:8000
s3_store_access_key = AKIAEXAMPLE
s3_store_secret_key = secret-never-printed
s3_store_bucket = images
s3_store_enable_data_integrity_protection = true
s3_store_request_checksum_calculation = when_required
s3_store_response_checksum_validation = when_supported
"""


class RollbackTestCase(base.BaseTestCase):

    def setUp(self):
        super(RollbackTestCase, self).setUp()
        self.dir = self.useFixture(fixtures.TempDir()).path

    def write(self, text, name='glance-api.conf'):
        path = os.path.join(self.dir, name)
        with open(path, 'w') as f:
            f.write(textwrap.dedent(text))
        return path

    def findings(self, *paths):
        return rollback.find_problems(rollback.parse_files(paths))

    def by_option(self, findings):
        return {(f.section, f.option): f for f in findings}


class TestOptionLists(base.BaseTestCase):

    def test_our_options_upstream_lacks(self):
        lacking = rollback.options_upstream_lacks()
        self.assertIn('s3_store_checksum_algorithm', lacking)
        for name in ('s3_store_host', 's3_store_request_checksum_calculation',
                     'filesystem_store_datadir', 'https_insecure',
                     'default_backend', 'weight'):
            self.assertNotIn(name, lacking)

    def test_upstream_names_are_not_reported(self):
        self.assertEqual(
            set(), set(rollback.options_upstream_lacks()) &
            rollback.UPSTREAM_OPTIONS)

    def test_a_new_option_of_ours_is_covered_without_a_change(self):
        ours = rollback.our_options() | {'s3_store_brand_new'}
        with mock.patch.object(rollback, 'our_options', return_value=ours):
            self.assertIn('s3_store_brand_new',
                          rollback.options_upstream_lacks())

    def test_options_with_upstream_choices_are_ours(self):
        self.assertLessEqual(set(rollback.UPSTREAM_CHOICES),
                             rollback.our_options())


class TestFindProblems(RollbackTestCase):

    def test_always_never_and_the_algorithm_are_listed(self):
        found = self.by_option(self.findings(self.write(MULTI)))
        self.assertEqual(
            {('rgw', 's3_store_request_checksum_calculation'),
             ('rgw', 's3_store_checksum_algorithm'),
             ('aws', 's3_store_response_checksum_validation')},
            set(found))
        always = found[('rgw', 's3_store_request_checksum_calculation')]
        self.assertEqual(('always', 'refused'), (always.value, always.kind))
        self.assertIn('write when_required', always.advice)
        algo = found[('rgw', 's3_store_checksum_algorithm')]
        self.assertEqual(('MD5', 'ignored'), (algo.value, algo.kind))
        self.assertIn('remove the line', algo.advice)
        never = found[('aws', 's3_store_response_checksum_validation')]
        self.assertEqual(('never', 'refused'), (never.value, never.kind))
        self.assertIn('write when_required', never.advice)

    def test_response_always_suggests_when_supported(self):
        path = self.write("""\
            [glance_store]
            stores = s3
            s3_store_response_checksum_validation = always
            """)
        [finding] = self.findings(path)
        self.assertIn('write when_supported', finding.advice)

    def test_request_never_in_backend_defaults(self):
        path = self.write("""\
            [DEFAULT]
            enabled_backends = a:s3

            [backend_defaults]
            s3_store_request_checksum_calculation = never
            """)
        [finding] = self.findings(path)
        self.assertEqual(('backend_defaults', 'refused'),
                         (finding.section, finding.kind))

    def test_safe_file_has_no_finding(self):
        self.assertEqual([], self.findings(self.write(SAFE)))

    def test_upper_case_value_is_refused_by_upstream(self):
        path = self.write("""\
            [glance_store]
            s3_store_request_checksum_calculation = WHEN_SUPPORTED
            """)
        [finding] = self.findings(path)
        self.assertEqual('refused', finding.kind)
        self.assertIn('write when_supported', finding.advice)

    def test_any_option_upstream_lacks_is_ignored(self):
        path = self.write("""\
            [glance_store]
            s3_store_brand_new = 3
            s3_store_host = http://h
            """)
        [finding] = rollback.find_problems(
            rollback.parse_files([path]), lacking={'s3_store_brand_new'})
        self.assertEqual(('s3_store_brand_new', 'ignored'),
                         (finding.option, finding.kind))
        self.assertIn('5.7.0', finding.advice)

    def test_sections_no_store_reads_are_left_alone(self):
        path = self.write("""\
            [DEFAULT]
            enabled_backends = a:s3

            [not_a_backend]
            s3_store_request_checksum_calculation = always

            [a]
            s3_store_bucket = b
            """)
        self.assertEqual([], self.findings(path))

    def test_reserved_stores_are_read(self):
        path = self.write("""\
            [DEFAULT]
            enabled_backends = a:file

            [os_glance_tasks_store]
            s3_store_checksum_algorithm = SHA256
            """)
        [finding] = self.findings(path)
        self.assertEqual('os_glance_tasks_store', finding.section)

    def test_a_later_file_overrides_an_earlier_one(self):
        first = self.write("""\
            [glance_store]
            s3_store_request_checksum_calculation = always
            """, 'a.conf')
        second = self.write("""\
            [glance_store]
            s3_store_request_checksum_calculation = when_required
            """, 'b.conf')
        self.assertEqual(1, len(self.findings(second, first)))
        self.assertEqual([], self.findings(first, second))

    def test_exit_codes(self):
        self.assertEqual(0, rollback.exit_code([]))
        self.assertEqual(
            1, rollback.exit_code(self.findings(self.write(MULTI))))


class TestRender(RollbackTestCase):

    def test_lists_each_value_with_its_replacement(self):
        text = rollback.render(self.findings(self.write(MULTI)))
        self.assertIn('NOT safe, 3 option value(s)', text)
        self.assertIn('[rgw] s3_store_request_checksum_calculation = always',
                      text)
        self.assertIn('[rgw] s3_store_checksum_algorithm = MD5', text)
        self.assertIn('[aws] s3_store_response_checksum_validation = never',
                      text)
        self.assertEqual(3, text.count('write when_required') +
                         text.count('remove the line'))
        self.assertNotIn('secret-never-printed', text)
        self.assertNotIn('AKIAEXAMPLE', text)

    def test_safe(self):
        self.assertIn(': safe', rollback.render([]))
        self.assertIn(': safe', rollback.summary_line([]))

    def test_summary_line_points_to_the_option(self):
        line = rollback.summary_line(self.findings(self.write(MULTI)))
        self.assertIn('--upstream-compatible', line)
        self.assertEqual(1, line.count('\n'))


class TestCommandLine(RollbackTestCase):

    def run_main(self, *args):
        out = io.StringIO()
        err = io.StringIO()
        with mock.patch('sys.stdout', out), mock.patch('sys.stderr', err):
            code = cli.main(list(args))
        return code, out.getvalue(), err.getvalue()

    def test_not_safe_exits_1(self):
        code, out, err = self.run_main(
            '--config-file', self.write(MULTI), '--upstream-compatible')
        self.assertEqual(1, code, err)
        self.assertIn('s3_store_checksum_algorithm = MD5', out)

    def test_safe_exits_0_without_a_backend(self):
        # The endpoint is not listening: the check contacts nothing.
        code, out, err = self.run_main(
            '--config-file', self.write(SAFE), '--upstream-compatible')
        self.assertEqual(0, code, err)
        self.assertIn(': safe', out)

    def test_config_dir_is_read(self):
        os.mkdir(os.path.join(self.dir, 'conf.d'))
        self.write(SAFE)
        self.write("[rgw]\ns3_store_response_checksum_validation = always\n",
                   os.path.join('conf.d', '50-s3.conf'))
        code, out, err = self.run_main(
            '--config-file', os.path.join(self.dir, 'glance-api.conf'),
            '--config-dir', os.path.join(self.dir, 'conf.d'),
            '--upstream-compatible')
        self.assertEqual(1, code, err)
        self.assertIn('50-s3.conf', out)

    def test_needs_a_configuration(self):
        with mock.patch.object(cli, 'DEFAULT_CONFIG_FILE',
                               os.path.join(self.dir, 'absent.conf')):
            code, out, err = self.run_main('--upstream-compatible')
        self.assertEqual(2, code)
        self.assertIn('--config-file', err)

    def test_every_check_prints_the_rollback_line(self):
        with mock.patch.object(cli, 'run_checks', return_value=[]):
            code, out, err = self.run_main('--config-file',
                                           self.write(MULTI))
        self.assertIn('Rollback to upstream glance_store 5.7.0: NOT safe, 3',
                      out)
