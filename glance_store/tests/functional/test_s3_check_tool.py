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

"""The operator tool glance-store-s3-check against a real Ceph RGW.

The console script runs as a subprocess, as an operator runs it, with a
Glance configuration file written by the test and ``--format json``. On
RGW over HTTPS it must find that ``when_supported`` uploads fail with
MissingContentLength (bug 2121144), recommend settings that work (pasting
the recommended snippet must make the current settings pass), leave
nothing of its own in the bucket, never print the secret key, and answer
configuration and backend problems with one line and the documented exit
code (0 the current settings work, 1 they do not, 2 usage or
configuration error).
"""

import json
import os
import shutil
import subprocess
import sys
import unittest

import fixtures
import testtools

from glance_store.tests.functional import servers

TOOL = 'glance-store-s3-check'
TOOL_TIMEOUT = 600
KEY_PREFIX = 'glance-store-s3-check/'
# An object of the operator's that the check must leave alone.
FOREIGN_KEY = 'images/existing-image'
FOREIGN_BODY = b'an image stored before the check'

ENABLE = 's3_store_enable_data_integrity_protection'
REQUEST = 's3_store_request_checksum_calculation'
RESPONSE = 's3_store_response_checksum_validation'
ALGORITHM = 's3_store_checksum_algorithm'

WHEN_SUPPORTED = {ENABLE: True, REQUEST: 'when_supported',
                  RESPONSE: 'when_supported'}

# Environment settings that would change boto3's behaviour behind the
# configuration file's back.
AWS_ENV_VARS = ('AWS_REQUEST_CHECKSUM_CALCULATION',
                'AWS_RESPONSE_CHECKSUM_VALIDATION', 'AWS_PROFILE',
                'AWS_DEFAULT_PROFILE', 'AWS_ACCESS_KEY_ID',
                'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN',
                'AWS_CA_BUNDLE', 'REQUESTS_CA_BUNDLE')


def tool_path():
    """The console script of the interpreter running the tests."""
    candidate = os.path.join(os.path.dirname(sys.executable), TOOL)
    if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
        return candidate
    return shutil.which(TOOL)


def format_conf(sections):
    lines = []
    for section, options in sections.items():
        lines.append('[%s]' % section)
        for key, value in options.items():
            lines.append('%s = %s' % (key, value))
        lines.append('')
    return '\n'.join(lines)


class ToolRun(object):
    """Exit code and output of one run of the tool."""

    def __init__(self, args, returncode, stdout, stderr):
        self.args = args
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr
        self.doc = None
        if '--format' in args and 'json' in args and returncode in (0, 1):
            self.doc = json.loads(stdout)

    def __str__(self):
        return 'exit %s\n--- stdout\n%s\n--- stderr\n%s' % (
            self.returncode, self.stdout[-6000:], self.stderr[-6000:])

    def backend(self, name):
        for entry in self.doc['backends']:
            if entry['backend'] == name:
                return entry
        raise AssertionError('no backend %s in the report: %s'
                             % (name, [b['backend']
                                       for b in self.doc['backends']]))


def configuration(entry, label):
    for config in entry['configurations']:
        if config['label'] == label:
            return config
    raise AssertionError('no configuration %s in %s' % (
        label, [c['label'] for c in entry['configurations']]))


class ToolTestBase(testtools.TestCase):
    """Runs the tool against the server of ``KIND``, in a bucket of its own.

    (``self.rgw`` holds the server's info, whatever its kind.)
    """

    KIND = 'rgw'

    def setUp(self):
        super(ToolTestBase, self).setUp()
        self.rgw = servers.get_server(self.KIND)
        self.tool = tool_path()
        if self.tool is None:
            msg = ('%s is not installed next to %s (pip install -e .)'
                   % (TOOL, sys.executable))
            if servers.in_ci():
                self.fail(msg + '; CI is set, so this is a failure')
            raise unittest.SkipTest(msg)
        self.tmp = self.useFixture(fixtures.TempDir()).path
        self.admin = servers.client(
            self.rgw, 'https', request_checksum_calculation='when_required',
            response_checksum_validation='when_required')
        self.bucket = servers.unique_bucket('gs-check')
        self.admin.create_bucket(Bucket=self.bucket)
        self.addCleanup(servers.delete_bucket, self.admin, self.bucket)
        self.admin.put_object(Bucket=self.bucket, Key=FOREIGN_KEY,
                              Body=FOREIGN_BODY)
        self.env = dict(os.environ)
        for name in AWS_ENV_VARS:
            self.env.pop(name, None)
        missing = os.path.join(self.tmp, 'no-aws-config')
        self.env['AWS_CONFIG_FILE'] = missing
        self.env['AWS_SHARED_CREDENTIALS_FILE'] = missing

    # helpers --------------------------------------------------------------

    def store_options(self, scheme='https', bucket=None, **overrides):
        options = {
            's3_store_host': servers.endpoint(self.rgw, scheme),
            's3_store_access_key': self.rgw['access_key'],
            's3_store_secret_key': self.rgw['secret_key'],
            's3_store_bucket': bucket or self.bucket,
            's3_store_bucket_url_format': 'path',
            's3_store_region_name': self.rgw.get('region') or 'us-east-1',
        }
        if scheme == 'https':
            options['s3_store_cacert'] = self.rgw['ca_bundle']
        options.update(overrides)
        return options

    def single_store_conf(self, **options):
        glance_store = {'stores': 's3,http', 'default_store': 's3'}
        glance_store.update(self.store_options(**options))
        return {'glance_store': glance_store}

    def write_conf(self, sections, name='glance-api.conf', extra=''):
        path = os.path.join(self.tmp, name)
        with open(path, 'w') as f:
            f.write(format_conf(sections) + extra)
        return path

    def run_tool(self, conf_path, *args):
        cmd = [self.tool, '--config-file', conf_path] + list(args)
        proc = subprocess.run(cmd, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, env=self.env,
                              cwd=self.tmp, timeout=TOOL_TIMEOUT)
        run = ToolRun(cmd, proc.returncode,
                      proc.stdout.decode('utf-8', 'replace'),
                      proc.stderr.decode('utf-8', 'replace'))
        self.addDetail('%s-run' % TOOL,
                       testtools.content.text_content(str(run)))
        # Whatever the outcome: no traceback, no secret.
        self.assertNotIn('Traceback', run.stderr, run)
        self.assertNotIn('Traceback', run.stdout, run)
        # (LocalStack's secret is the word "test", which any text may
        # hold: only a real-looking secret can be looked for.)
        if len(self.rgw['secret_key']) >= 8:
            for text in (run.stdout, run.stderr):
                self.assertNotIn(self.rgw['secret_key'], text)
        return run

    def assertBucketAsBefore(self, bucket=None):
        bucket = bucket or self.bucket
        self.assertEqual([FOREIGN_KEY],
                         servers.list_keys(self.admin, bucket))
        self.assertEqual([], servers.list_open_uploads(self.admin, bucket))
        body = self.admin.get_object(Bucket=bucket, Key=FOREIGN_KEY)
        self.assertEqual(FOREIGN_BODY, body['Body'].read())

    def assertWhenSupportedRefused(self, entry):
        config = configuration(entry, 'when_supported')
        self.assertFalse(config['works'])
        for op in ('put', 'multipart'):
            self.assertEqual('MissingContentLength', config['results'][op],
                             config)
            # The store's message tells the operator what to change.
            self.assertIn(REQUEST, config['messages'][op])
        self.assertNotEqual('ok', config['results']['get'])

    def assertRecommendationWorks(self, entry, section):
        rec = entry['recommendation']
        self.assertIsNotNone(rec, entry)
        recommended = configuration(entry, rec['label'])
        self.assertTrue(recommended['works'], recommended)
        self.assertEqual(
            {op: 'ok' for op in entry['operations']},
            recommended['results'])
        # RGW 16 accepts the checksum headers of ``always`` but ignores
        # them and stores no checksum: only the MD5 ETag validates a
        # download there (the small object's always, a multipart one's
        # where RGW gives its part layout), so the tool recommends
        # always/MD5 and says why.
        self.assertIs(True, rec['backend_stores_no_checksum'])
        self.assertEqual('always/MD5', rec['label'])
        self.assertEqual({ENABLE: True, REQUEST: 'always',
                          RESPONSE: 'always', ALGORITHM: 'MD5'},
                         rec['options'])
        self.assertEqual('validated', rec['validation']['small'])
        for label in ('always/CRC32', 'always/SHA256'):
            config = configuration(entry, label)
            self.assertTrue(config['works'])
            self.assertEqual({'small': 'unvalidated',
                              'multipart': 'unvalidated'},
                             config['validation'])
        self.assertRecommendationValidatesMost(entry)
        self.assertTrue(rec['snippet'].startswith('[%s]\n' % section),
                        rec['snippet'])
        for name, value in rec['options'].items():
            self.assertIn('%s = %s\n' % (name, value), rec['snippet'])
        return rec

    def assertRecommendationValidatesMost(self, entry):
        """No working configuration validates a shape the pick does not.

        Multipart first: never a configuration that serves multipart
        images unvalidated while another working one validates them.
        """
        rec = entry['recommendation']
        self.assertIsNotNone(rec, entry)
        working = [c for c in entry['configurations'] if c['works']]
        chosen = configuration(entry, rec['label'])
        self.assertTrue(chosen['works'], chosen)
        self.assertEqual(chosen['validation'], rec['validation'])
        if any(c['validation']['multipart'] == 'validated'
               for c in working):
            self.assertEqual('validated', rec['validation']['multipart'],
                             entry)
        if any(c['validation'] == rec['validation'] and
               c['validation']['small'] == 'validated' for c in working):
            self.assertEqual('validated', rec['validation']['small'])
        return chosen

    def check_report_basics(self, entry, section, scheme='https'):
        self.assertEqual(section, entry['section'])
        self.assertEqual(servers.endpoint(self.rgw, scheme),
                         entry['endpoint'])
        self.assertEqual([('endpoint', True), ('credentials', True),
                          ('bucket', True)],
                         [(s['name'], s['ok']) for s in entry['steps']])
        if scheme == 'https':
            self.assertIn(self.rgw['ca_bundle'], entry['steps'][0]['detail'])
        self.assertIsNone(entry['error'])
        self.assertTrue(entry['cleanup']['ok'], entry['cleanup'])
        labels = [c['label'] for c in entry['configurations']]
        for label in ('off', 'when_supported', 'always/CRC32'):
            self.assertIn(label, labels)
        # The switch off and every ``always`` algorithm work on RGW.
        for config in entry['configurations']:
            if config['label'] == 'off' or \
                    config['label'].startswith('always/'):
                self.assertTrue(config['works'], config)


class TestS3CheckToolOnRGW(ToolTestBase):

    def test_default_options_work_and_when_supported_is_refused(self):
        # The S3 options an operator had before the bug: no checksum
        # option at all.
        conf = self.write_conf(self.single_store_conf())
        run = self.run_tool(conf, '--format', 'json')
        self.assertEqual(0, run.returncode, run)
        self.assertEqual(0, run.doc['exit_code'])
        self.assertIs(True, run.doc['current_settings_work'])
        entry = run.backend('glance_store')
        self.assertFalse(entry['multi_store'])
        self.check_report_basics(entry, 'glance_store')
        self.assertEqual('off', entry['current']['label'])
        self.assertTrue(entry['current']['works'])
        self.assertTrue(configuration(entry, 'off')['current'])
        self.assertWhenSupportedRefused(entry)
        self.assertRecommendationWorks(entry, 'glance_store')
        self.assertBucketAsBefore()

    def test_when_supported_fails_and_recommended_snippet_fixes_it(self):
        # An operator who turned on boto3's default behaviour: the
        # current settings do not work (exit 1)...
        sections = self.single_store_conf(**WHEN_SUPPORTED)
        conf = self.write_conf(sections)
        run = self.run_tool(conf, '--format', 'json')
        self.assertEqual(1, run.returncode, run)
        self.assertEqual(1, run.doc['exit_code'])
        self.assertIs(False, run.doc['current_settings_work'])
        entry = run.backend('glance_store')
        self.check_report_basics(entry, 'glance_store')
        self.assertEqual('when_supported', entry['current']['label'])
        self.assertFalse(entry['current']['works'])
        self.assertTrue(configuration(entry, 'when_supported')['current'])
        self.assertWhenSupportedRefused(entry)
        rec = self.assertRecommendationWorks(entry, 'glance_store')
        self.assertBucketAsBefore()

        # ... and pasting the recommended snippet at the end of the file
        # (oslo.config merges the repeated section, later values win)
        # gives settings that work (exit 0).
        fixed = self.write_conf(sections, name='fixed.conf',
                                extra='\n' + rec['snippet'])
        run = self.run_tool(fixed, '--format', 'json')
        self.assertEqual(0, run.returncode, run)
        entry = run.backend('glance_store')
        self.assertEqual(rec['label'], entry['current']['label'])
        self.assertTrue(entry['current']['works'])
        current = [c for c in entry['configurations'] if c['current']]
        self.assertEqual([rec['label']], [c['label'] for c in current])
        self.assertTrue(current[0]['works'])
        self.assertEqual(rec['label'], entry['recommendation']['label'])
        self.assertBucketAsBefore()

    def multi_store_conf(self):
        return {
            'DEFAULT': {'enabled_backends':
                        'ceph:s3,ceph_http:s3,local:file'},
            'glance_store': {'default_backend': 'ceph'},
            'ceph': self.store_options(**WHEN_SUPPORTED),
            'ceph_http': self.store_options(scheme='http', **WHEN_SUPPORTED),
            'local': {'filesystem_store_datadir':
                      os.path.join(self.tmp, 'images')},
        }

    def test_multi_store_checks_every_s3_backend(self):
        conf = self.write_conf(self.multi_store_conf())
        run = self.run_tool(conf, '--format', 'json')
        # The HTTPS backend's settings fail: exit 1.
        self.assertEqual(1, run.returncode, run)
        self.assertEqual(['ceph', 'ceph_http'],
                         sorted(b['backend'] for b in run.doc['backends']))

        ceph = run.backend('ceph')
        self.assertTrue(ceph['multi_store'])
        self.check_report_basics(ceph, 'ceph')
        self.assertFalse(ceph['current']['works'])
        self.assertWhenSupportedRefused(ceph)
        self.assertRecommendationWorks(ceph, 'ceph')

        # Over plain HTTP boto3 sends its checksum without aws-chunked,
        # so RGW accepts when_supported there.
        http = run.backend('ceph_http')
        self.check_report_basics(http, 'ceph_http', scheme='http')
        self.assertTrue(http['current']['works'])
        self.assertTrue(configuration(http, 'when_supported')['works'])
        self.assertRecommendationWorks(http, 'ceph_http')
        self.assertBucketAsBefore()

    def test_backend_option_selects_one_backend(self):
        conf = self.write_conf(self.multi_store_conf())
        run = self.run_tool(conf, '--backend', 'ceph_http', '--format',
                            'json')
        self.assertEqual(0, run.returncode, run)
        self.assertEqual(['ceph_http'],
                         [b['backend'] for b in run.doc['backends']])
        self.assertBucketAsBefore()

    def test_table_output_names_the_failure_and_the_fix(self):
        conf = self.write_conf(self.multi_store_conf())
        run = self.run_tool(conf, '--backend', 'ceph')
        self.assertEqual(1, run.returncode, run)
        self.assertIn('MissingContentLength', run.stdout)
        self.assertIn('DO NOT WORK', run.stdout)
        self.assertIn('[ceph]', run.stdout)
        self.assertIn('%s = MD5' % ALGORITHM, run.stdout)
        self.assertIn('stores no flexible checksum', run.stdout)
        self.assertNotIn('ceph_http', run.stdout)
        self.assertBucketAsBefore()

    def assertOneLineError(self, run, code, *needles):
        self.assertEqual(code, run.returncode, run)
        lines = run.stderr.strip().splitlines()
        self.assertEqual(1, len(lines), run)
        self.assertTrue(lines[0].startswith(TOOL + ': '), run)
        for needle in needles:
            self.assertIn(needle, lines[0])

    def test_usage_errors_exit_2(self):
        conf = self.write_conf(self.multi_store_conf())
        run = self.run_tool(conf, '--backend', 'local', '--format', 'json')
        self.assertOneLineError(run, 2, 'local')
        run = self.run_tool(conf, '--backend', 'nope', '--format', 'json')
        self.assertOneLineError(run, 2, 'nope')
        run = self.run_tool(os.path.join(self.tmp, 'missing.conf'))
        self.assertOneLineError(run, 2, 'missing.conf')
        only_file = self.write_conf(
            {'DEFAULT': {'enabled_backends': 'local:file'},
             'glance_store': {'default_backend': 'local'},
             'local': {'filesystem_store_datadir': self.tmp}},
            name='file-only.conf')
        run = self.run_tool(only_file)
        self.assertOneLineError(run, 2)
        self.assertBucketAsBefore()

    def test_wrong_credentials(self):
        wrong = 'not-the-secret-' + self.rgw['secret_key'][::-1][:20]
        conf = self.write_conf(self.single_store_conf(
            s3_store_secret_key=wrong))
        run = self.run_tool(conf, '--format', 'json')
        self.assertEqual(1, run.returncode, run)
        self.assertNotIn(wrong, run.stdout + run.stderr)
        entry = run.backend('glance_store')
        self.assertEqual([('endpoint', True), ('credentials', False)],
                         [(s['name'], s['ok']) for s in entry['steps']])
        self.assertEqual('SignatureDoesNotMatch', entry['steps'][1]['code'])
        self.assertIn('s3_store_secret_key', entry['error'])
        self.assertEqual([], entry['configurations'])
        self.assertIsNone(entry['recommendation'])
        self.assertBucketAsBefore()

    def test_untrusted_certificate(self):
        # No s3_store_cacert: the system CAs do not know RGW's
        # self-signed certificate.
        conf = self.write_conf(self.single_store_conf(s3_store_cacert=''))
        run = self.run_tool(conf, '--format', 'json')
        self.assertEqual(1, run.returncode, run)
        entry = run.backend('glance_store')
        self.assertEqual([('endpoint', False)],
                         [(s['name'], s['ok']) for s in entry['steps']])
        self.assertIn('s3_store_cacert', entry['error'])
        self.assertBucketAsBefore()

    def test_missing_bucket(self):
        missing = servers.unique_bucket('gs-check-missing')
        self.addCleanup(servers.delete_bucket, self.admin, missing)
        conf = self.write_conf(self.single_store_conf(bucket=missing))
        run = self.run_tool(conf, '--format', 'json')
        self.assertEqual(1, run.returncode, run)
        entry = run.backend('glance_store')
        self.assertEqual('bucket', entry['steps'][-1]['name'])
        self.assertFalse(entry['steps'][-1]['ok'])
        self.assertIn('s3_store_create_bucket_on_put', entry['error'])
        self.assertNotIn(missing, [b['Name'] for b in
                                   self.admin.list_buckets()['Buckets']])

        # Allowed to create it: the check runs, then removes the bucket
        # it created.
        conf = self.write_conf(self.single_store_conf(
            bucket=missing, s3_store_create_bucket_on_put=True),
            name='create.conf')
        run = self.run_tool(conf, '--format', 'json')
        self.assertEqual(0, run.returncode, run)
        entry = run.backend('glance_store')
        self.assertTrue(entry['steps'][-1]['ok'], entry['steps'])
        self.assertWhenSupportedRefused(entry)
        self.assertIn(missing, entry['cleanup']['detail'])
        self.assertNotIn(missing, [b['Name'] for b in
                                   self.admin.list_buckets()['Buckets']])
        self.assertBucketAsBefore()


class _EveryServer(object):
    """The tool with a Glance's default options, on one more server.

    Over HTTPS: the default settings work, ``when_supported`` works or is
    refused with the message naming the option, the recommendation works
    and validates every shape some working configuration validates, and
    the bucket is as before.
    """

    # The code of the when_supported refusal; None when it works.
    REFUSAL = None

    def test_default_options_and_recommendation(self):
        conf = self.write_conf(self.single_store_conf())
        run = self.run_tool(conf, '--format', 'json')
        self.assertEqual(0, run.returncode, run)
        entry = run.backend('glance_store')
        self.assertIsNone(entry['error'], entry)
        self.assertTrue(entry['cleanup']['ok'], entry['cleanup'])
        for label in ['off'] + [c['label'] for c in entry['configurations']
                                if c['label'].startswith('always/')]:
            self.assertTrue(configuration(entry, label)['works'],
                            configuration(entry, label))
        supported = configuration(entry, 'when_supported')
        if self.REFUSAL is None:
            self.assertTrue(supported['works'], supported)
        else:
            self.assertEqual(self.REFUSAL, supported['results']['put'])
            self.assertIn(REQUEST, supported['messages']['put'])
        self.assertRecommendationValidatesMost(entry)
        self.assertBucketAsBefore()
        return entry


class TestS3CheckToolOnLocalStack(_EveryServer, ToolTestBase):
    KIND = 'localstack'


class TestS3CheckToolOnSeaweedFS(_EveryServer, ToolTestBase):
    KIND = 'seaweedfs'

    def test_default_options_and_recommendation(self):
        entry = super().test_default_options_and_recommendation()
        # Full-object CRCs validate every shape; the composite SHA
        # checksums (no part checksums there) leave multipart images
        # unvalidated, so SHA is never the pick.
        crc = configuration(entry, 'always/CRC32')
        self.assertEqual({'small': 'validated', 'multipart': 'validated'},
                         crc['validation'])
        self.assertEqual('unvalidated', configuration(
            entry, 'always/SHA256')['validation']['multipart'])
        self.assertNotIn('SHA', entry['recommendation']['label'])


class TestS3CheckToolOnSwift(_EveryServer, ToolTestBase):
    KIND = 'swift'
    REFUSAL = 'NotImplemented'

    def test_default_options_and_recommendation(self):
        entry = super().test_default_options_and_recommendation()
        # Swift stores no flexible checksum: only always/MD5 validates a
        # download (the small object's MD5 ETag; Swift 2.30 answers a
        # part-number HEAD with 405, so no part layout of a multipart
        # one), and it is the pick.
        for config in entry['configurations']:
            if config['works'] and config['label'] != 'always/MD5':
                self.assertEqual('unvalidated',
                                 config['validation']['small'], config)
        self.assertEqual('validated', configuration(
            entry, 'always/MD5')['validation']['small'])
        rec = entry['recommendation']
        self.assertEqual('always/MD5', rec['label'])
        self.assertIs(True, rec['backend_stores_no_checksum'])
