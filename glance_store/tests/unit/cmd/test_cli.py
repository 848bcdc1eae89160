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

"""Unit tests of glance_store.cmd.s3_check.cli: arguments, exit codes."""

import io
import json
import os

import fixtures as test_fixtures
from oslotest import base

from glance_store._drivers import s3_redact
from glance_store.cmd.s3_check import cli
from glance_store.cmd.s3_check import model
from glance_store.tests.unit.cmd import fixtures


class TestProgress(base.BaseTestCase):

    class _Tty(io.StringIO):
        def isatty(self):
            return True

    def test_no_progress_when_not_a_terminal(self):
        self.assertIsNone(cli.progress_printer(io.StringIO()))

    def test_progress_on_a_terminal(self):
        stream = self._Tty()
        progress = cli.progress_printer(stream)
        progress('[b] checking the credentials')
        self.assertIn('... [b] checking the credentials', stream.getvalue())
        progress.clear()
        self.assertTrue(stream.getvalue().endswith('\r\x1b[K'))


class TestModes(base.BaseTestCase):

    def test_default_mode_is_the_check(self):
        conf = cli.parse_args([], default_config_files=[])
        self.assertIs(cli.check_mode, cli.select_mode(conf))

    def test_embedded_mode(self):
        conf = cli.parse_args(['--embedded'], default_config_files=[])
        self.assertIs(cli.embedded_mode, cli.select_mode(conf))

    def test_unexpected_error_is_one_line_exit_1(self):
        def broken(conf, progress):
            raise RuntimeError('bug')
        self.useFixture(test_fixtures.MonkeyPatch(
            'glance_store.cmd.s3_check.cli.select_mode',
            lambda conf: broken))
        err = io.StringIO()
        self.useFixture(test_fixtures.MonkeyPatch('sys.stderr', err))
        self.assertEqual(model.EXIT_NOT_WORKING, cli.main([]))
        self.assertEqual('glance-store-s3-check: unexpected error: '
                         'RuntimeError: bug (--debug prints the '
                         'traceback)\n', err.getvalue())

    def test_debug_prints_the_traceback_without_keys(self):
        s3_redact.register_keys('AKIADEBUGTRACE000001', 'debug/Secret+1')

        def broken(conf, progress):
            raise RuntimeError('bug near debug/Secret+1')
        self.useFixture(test_fixtures.MonkeyPatch(
            'glance_store.cmd.s3_check.cli.select_mode',
            lambda conf: broken))
        err = io.StringIO()
        self.useFixture(test_fixtures.MonkeyPatch('sys.stderr', err))
        self.assertEqual(model.EXIT_NOT_WORKING, cli.main(['--debug']))
        text = err.getvalue()
        self.assertIn('Traceback (most recent call last)', text)
        self.assertIn('in broken', text)
        self.assertTrue(text.endswith('unexpected error: RuntimeError: '
                                      'bug near ***\n'), text)
        self.assertNotIn('debug/Secret+1', text)


class TestBadInput(fixtures.CheckTestCase):

    def test_missing_config_file(self):
        code, out, err = self.run_main('--config-file',
                                       os.path.join(self.tmp, 'nope.conf'))
        self.assertEqual(2, code)
        self.assertIn('configuration file not found', self.assertOneLine(err))
        self.assertEqual('', out)

    def test_no_configuration(self):
        code, out, err = self.run_main()
        self.assertEqual(2, code)
        self.assertIn('--config-file', self.assertOneLine(err))

    def test_no_s3_backend(self):
        path = self.write_conf("""
            [DEFAULT]
            enabled_backends = local:file
            """)
        code, out, err = self.run_main('--config-file', path)
        self.assertEqual(2, code)
        self.assertIn('no S3 backend', self.assertOneLine(err))

    def test_unknown_backend(self):
        code, out, err = self.run_main('--config-file', self.multi_conf(),
                                       '--backend', 'other')
        self.assertEqual(2, code)
        self.assertIn('unknown backend other', self.assertOneLine(err))

    def test_backend_not_s3(self):
        code, out, err = self.run_main('--config-file', self.multi_conf(),
                                       '--backend', 'local')
        self.assertEqual(2, code)
        self.assertIn('not an S3 one', self.assertOneLine(err))

    def test_credentials_in_the_host_are_refused_unseen(self):
        host = self.endpoint.replace('://', '://AKIAHOSTINURL:%s@' %
                                     'host-Secret-in-url')
        path = self.write_conf("""
            [DEFAULT]
            enabled_backends = objects:s3

            [objects]
            s3_store_host = %(host)s
            s3_store_access_key = %(access)s
            s3_store_secret_key = %(secret)s
            s3_store_bucket = %(bucket)s
            """, host=host)
        for fmt in ('table', 'json'):
            code, out, err = self.run_main('--config-file', path,
                                           '--format', fmt)
            self.assertEqual(2, code)
            self.assertIn('s3_store_host holds credentials', out + err)
            for text in (out, err):
                self.assertNotIn('host-Secret-in-url', text)
                self.assertNotIn('AKIAHOSTINURL', text)

    def test_missing_required_option(self):
        path = self.write_conf("""
            [DEFAULT]
            enabled_backends = objects:s3

            [objects]
            s3_store_host = %(endpoint)s
            s3_store_secret_key = %(secret)s
            s3_store_bucket = %(bucket)s
            """)
        code, out, err = self.run_main('--config-file', path)
        self.assertEqual(2, code)
        self.assertIn('s3_store_access_key is not set',
                      self.assertOneLine(err))
        self.assertNoSecret(out, err)
        code, out, err = self.run_main('--config-file', path, '--format',
                                       'json')
        self.assertEqual(2, code)
        doc = json.loads(out)
        self.assertEqual(2, doc['exit_code'])
        self.assertEqual('config', doc['backends'][0]['error_kind'])
        self.assertNoSecret(out, err)

    def test_bad_option_value(self):
        path = self.multi_conf("""
            s3_store_request_checksum_calculation = sometimes
            """)
        code, out, err = self.run_main('--config-file', path)
        self.assertEqual(2, code)
        self.assertIn('s3_store_request_checksum_calculation',
                      self.assertOneLine(err))

    def test_bad_format(self):
        code, out, err = self.run_main('--format', 'xml')
        self.assertEqual(2, code)
        self.assertIn('xml', self.assertOneLine(err))

    def test_image_without_embedded(self):
        code, out, err = self.run_main('--image', '/dev/null')
        self.assertEqual(2, code)
        self.assertIn('--embedded', self.assertOneLine(err))
