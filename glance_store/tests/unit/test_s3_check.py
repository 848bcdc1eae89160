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

"""Tests of glance-store-s3-check against moto's S3 server in-process."""

import io
import json
import logging
import os
import signal
import socket
import textwrap
import uuid

import boto3
from botocore import awsrequest
import fixtures
from oslotest import base

from glance_store._drivers import s3
from glance_store._drivers import s3_checksums
from glance_store.cmd import s3_check
from glance_store.cmd import s3_check_embedded
from glance_store.cmd import s3_check_probe as probe
from glance_store.cmd import s3_check_report as report

try:
    from moto.core import authorization as moto_auth
    from moto import server as moto_server
except ImportError:  # pragma: no cover - moto is a test requirement
    moto_server = None

ACCESS_KEY = 'AKIACHECKTESTACCESS'
SECRET_KEY = 'check/Secret@Key+doNotPrint0123'
BASIC = ['off', 'when_supported', 'always/CRC32', 'always/SHA1',
         'always/SHA256']


class _Raw(object):
    def __init__(self, data):
        self.data = data

    def stream(self, **kwargs):
        yield self.data


def _missing_content_length(request, **kwargs):
    """What Ceph RGW answers to boto3's streaming checksum uploads."""
    body = (b'<?xml version="1.0" encoding="UTF-8"?><Error>'
            b'<Code>MissingContentLength</Code><Message>You must provide '
            b'the Content-Length HTTP header.</Message></Error>')
    return awsrequest.AWSResponse(request.url, 411, {}, _Raw(body))


class _Server(object):
    server = None
    endpoint = None

    @classmethod
    def get(cls):
        if cls.server is None:
            logging.getLogger('werkzeug').setLevel(logging.ERROR)
            cls.server = moto_server.ThreadedMotoServer(
                ip_address='127.0.0.1', port=0, verbose=False)
            cls.server.start()
            cls.endpoint = 'http://%s:%d' % cls.server.get_host_and_port()
        return cls.endpoint


class S3CheckTestBase(base.BaseTestCase):

    def setUp(self):
        super().setUp()
        if moto_server is None:  # pragma: no cover
            self.skipTest('moto is not installed')
        self.endpoint = _Server.get()
        self.tmp = self.useFixture(fixtures.TempDir()).path
        self.bucket = 'check-%s' % uuid.uuid4().hex[:12]
        self.client = boto3.client(
            's3', endpoint_url=self.endpoint, region_name='us-east-1',
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY)
        self.stdout = io.StringIO()
        self.stderr = io.StringIO()
        self.useFixture(fixtures.MonkeyPatch('sys.stdout', self.stdout))
        self.useFixture(fixtures.MonkeyPatch('sys.stderr', self.stderr))

    def no_crt(self):
        """Run as without awscrt: five configurations, faster."""
        self.useFixture(fixtures.MonkeyPatch(
            'glance_store._drivers.s3_checksums.crt_checksums', None))

    def create_bucket(self):
        self.client.create_bucket(Bucket=self.bucket)

    def write_conf(self, text, name='glance-api.conf'):
        path = os.path.join(self.tmp, name)
        with open(path, 'w') as f:
            f.write(textwrap.dedent(text) % {
                'endpoint': self.endpoint, 'bucket': self.bucket,
                'access': ACCESS_KEY, 'secret': SECRET_KEY})
        return path

    def multi_conf(self, extra=''):
        return self.write_conf("""
            [DEFAULT]
            enabled_backends = local:file, objects:s3

            [glance_store]
            default_backend = objects

            [objects]
            s3_store_host = %(endpoint)s
            s3_store_access_key = %(access)s
            s3_store_secret_key = %(secret)s
            s3_store_bucket = %(bucket)s
            s3_store_bucket_url_format = path
            """ + extra)

    def run_main(self, *args):
        code = s3_check.main(list(args))
        return code, self.stdout.getvalue(), self.stderr.getvalue()

    def assertOneLine(self, text):
        lines = [line for line in text.splitlines() if line.strip()]
        self.assertEqual(1, len(lines), text)
        self.assertNotIn('Traceback', text)
        return lines[0]

    def assertNoSecret(self, *texts):
        for text in texts:
            self.assertNotIn(SECRET_KEY, text)
            self.assertNotIn(ACCESS_KEY, text)

    def assertBucketClean(self):
        objects = self.client.list_objects_v2(Bucket=self.bucket)
        self.assertEqual([], [o['Key'] for o in objects.get('Contents', [])])
        uploads = self.client.list_multipart_uploads(Bucket=self.bucket)
        self.assertEqual([], uploads.get('Uploads', []))

    def inject(self, condition, event, handler):
        """Register ``handler`` on every store client matching ``condition``.

        ``condition`` receives the store whose client is being built.
        """
        original = s3.Store._create_s3_client

        def create(store):
            client = original(store)
            if condition(store):
                client.meta.events.register(event, handler)
            return client
        self.useFixture(fixtures.MonkeyPatch(
            'glance_store._drivers.s3.Store._create_s3_client', create))


class TestOutput(S3CheckTestBase):

    def test_table_all_configurations_work(self):
        self.no_crt()
        self.create_bucket()
        code, out, err = self.run_main('--config-file', self.multi_conf())
        self.assertEqual(0, code, err)
        self.assertEqual('', err)
        self.assertIn('Backend objects (multi-store, section [objects])',
                      out)
        for name in ('endpoint', 'credentials', 'bucket', 'cleanup'):
            self.assertRegex(out, r'\n  %s +ok ' % name)
        for label in BASIC:
            self.assertRegex(out, r'\n  [ *] %s +ok +ok +ok +ok ' % label)
        self.assertRegex(out, r'\n  \* off ')
        self.assertIn('Current settings (off): work', out)
        self.assertIn('Recommended settings (always/SHA256)', out)
        self.assertIn('    [objects]\n'
                      '    s3_store_enable_data_integrity_protection = True\n'
                      '    s3_store_request_checksum_calculation = always\n'
                      '    s3_store_response_checksum_validation = always\n'
                      '    s3_store_checksum_algorithm = SHA256\n', out)
        self.assertNotIn('CRC32C', out)
        self.assertNoSecret(out, err)
        self.assertBucketClean()

    def test_json_document(self):
        self.no_crt()
        self.create_bucket()
        code, out, err = self.run_main('--config-file', self.multi_conf(),
                                       '--format', 'json')
        self.assertEqual(0, code, err)
        doc = json.loads(out)
        self.assertEqual(0, doc['exit_code'])
        self.assertTrue(doc['current_settings_work'])
        (backend,) = doc['backends']
        self.assertEqual('objects', backend['backend'])
        self.assertEqual(self.bucket, backend['bucket'])
        self.assertIsNone(backend['error'])
        self.assertEqual(['endpoint', 'credentials', 'bucket'],
                         [s['name'] for s in backend['steps']])
        self.assertTrue(all(s['ok'] for s in backend['steps']))
        self.assertEqual(BASIC, [c['label'] for c in
                                 backend['configurations']])
        for c in backend['configurations']:
            self.assertEqual({op: 'ok' for op in probe.OPERATIONS},
                             c['results'])
            self.assertEqual(c['label'] == 'off', c['current'])
        # moto stores the checksum the store sent and returns it.
        stored = {c['label']: c['stored_checksum']
                  for c in backend['configurations']}
        self.assertEqual('SHA1', stored['always/SHA1'])
        self.assertEqual({'label': 'off', 'works': True, 'options': {
            's3_store_enable_data_integrity_protection': False}},
            backend['current'])
        self.assertEqual('always/SHA256', backend['recommendation']['label'])
        self.assertIn('s3_store_checksum_algorithm = SHA256\n',
                      backend['recommendation']['snippet'])
        self.assertTrue(backend['cleanup']['ok'])
        self.assertNoSecret(out, err)
        self.assertBucketClean()

    def test_single_store(self):
        self.no_crt()
        self.create_bucket()
        path = self.write_conf("""
            [glance_store]
            stores = file, http, s3
            default_store = s3
            s3_store_host = %(endpoint)s
            s3_store_access_key = %(access)s
            s3_store_secret_key = %(secret)s
            s3_store_bucket = %(bucket)s
            s3_store_bucket_url_format = path
            s3_store_enable_data_integrity_protection = True
            s3_store_request_checksum_calculation = always
            s3_store_response_checksum_validation = always
            s3_store_checksum_algorithm = SHA1
            """)
        code, out, err = self.run_main('--config-file', path, '--backend',
                                       'glance_store', '--format', 'json')
        self.assertEqual(0, code, err)
        (backend,) = json.loads(out)['backends']
        self.assertEqual('glance_store', backend['section'])
        self.assertFalse(backend['multi_store'])
        current = [c['label'] for c in backend['configurations']
                   if c['current']]
        self.assertEqual(['always/SHA1'], current)
        self.assertEqual('always/SHA1', backend['current']['label'])

    def test_current_settings_fail_exit_1(self):
        # The configured algorithm needs awscrt, which is "missing": the
        # current settings are tested as their own row and fail.
        self.no_crt()
        self.create_bucket()
        path = self.multi_conf("""
            s3_store_enable_data_integrity_protection = True
            s3_store_request_checksum_calculation = always
            s3_store_response_checksum_validation = when_required
            s3_store_checksum_algorithm = CRC32C
            """)
        code, out, err = self.run_main('--config-file', path)
        self.assertEqual(1, code)
        self.assertRegex(out, r'\n  \* always/when_required CRC32C +'
                         r'BadStoreConfiguration ')
        self.assertIn('needs the awscrt package', out)
        self.assertIn('Current settings (always/when_required CRC32C): '
                      'DO NOT WORK', out)
        self.assertIn('Recommended settings (always/SHA256)', out)
        self.assertBucketClean()

    def test_when_supported_refused_like_rgw(self):
        # The backend refuses what botocore sends under when_supported,
        # as Ceph RGW does over HTTPS.
        self.no_crt()
        self.create_bucket()

        def when_supported(store):
            return store.policy.request == s3_checksums.WHEN_SUPPORTED
        for op in ('PutObject', 'UploadPart'):
            self.inject(when_supported, 'before-send.s3.%s' % op,
                        _missing_content_length)
        path = self.multi_conf("""
            s3_store_enable_data_integrity_protection = True
            s3_store_request_checksum_calculation = when_supported
            s3_store_response_checksum_validation = when_supported
            """)
        code, out, err = self.run_main('--config-file', path, '--format',
                                       'json')
        self.assertEqual(1, code)
        doc = json.loads(out)
        self.assertEqual(1, doc['exit_code'])
        (backend,) = doc['backends']
        rows = {c['label']: c for c in backend['configurations']}
        self.assertEqual({'put': 'MissingContentLength',
                          'multipart': 'MissingContentLength',
                          'get': 'skipped', 'delete': 'skipped'},
                         rows['when_supported']['results'])
        self.assertIn('s3_store_request_checksum_calculation = always',
                      rows['when_supported']['messages']['put'])
        self.assertTrue(rows['when_supported']['current'])
        self.assertFalse(backend['current']['works'])
        self.assertTrue(rows['always/CRC32']['works'])
        self.assertEqual('always/SHA256', backend['recommendation']['label'])
        self.assertNoSecret(out, err)
        self.assertBucketClean()

    def test_several_backends_and_backend_option(self):
        self.no_crt()
        self.create_bucket()
        path = self.write_conf("""
            [DEFAULT]
            enabled_backends = one:s3, two:s3

            [backend_defaults]
            s3_store_host = %(endpoint)s
            s3_store_access_key = %(access)s
            s3_store_secret_key = %(secret)s
            s3_store_bucket = %(bucket)s
            s3_store_bucket_url_format = path

            [two]
            s3_store_bucket = %(bucket)s-missing
            """)
        code, out, err = self.run_main('--config-file', path, '--format',
                                       'json')
        self.assertEqual(1, code)
        one, two = json.loads(out)['backends']
        self.assertTrue(one['current']['works'])
        self.assertEqual('bucket', two['steps'][-1]['name'])
        self.assertEqual('NoSuchBucket', two['steps'][-1]['code'])
        self.assertIn('s3_store_create_bucket_on_put', two['error'])
        self.stdout.seek(0)
        self.stdout.truncate()
        code, out, err = self.run_main('--config-file', path, '--backend',
                                       'one', '--format', 'json')
        self.assertEqual(0, code)
        self.assertEqual(['one'], [b['backend'] for b in
                                   json.loads(out)['backends']])

    def test_bucket_created_and_removed(self):
        self.no_crt()
        path = self.multi_conf("""
            s3_store_create_bucket_on_put = True
            """)
        code, out, err = self.run_main('--config-file', path)
        self.assertEqual(0, code, err)
        self.assertIn('created (s3_store_create_bucket_on_put = True)', out)
        self.assertIn('bucket %s removed' % self.bucket, out)
        names = [b['Name'] for b in self.client.list_buckets()['Buckets']]
        self.assertNotIn(self.bucket, names)

    @base.testtools.skipUnless(s3_checksums.crt_available(),
                               'awscrt is not installed')
    def test_crt_algorithms_when_available(self):
        labels = [c.label for c in probe.standard_configurations()]
        self.assertEqual(BASIC[:3] + ['always/CRC32C', 'always/CRC64NVME'] +
                         BASIC[3:], labels)

    def test_crt_algorithms_left_out_without_awscrt(self):
        self.no_crt()
        self.assertEqual(BASIC, [c.label for c in
                                 probe.standard_configurations()])


class TestProgress(base.BaseTestCase):

    class _Tty(io.StringIO):
        def isatty(self):
            return True

    def test_no_progress_when_not_a_terminal(self):
        self.assertIsNone(s3_check.progress_printer(io.StringIO()))

    def test_progress_on_a_terminal(self):
        stream = self._Tty()
        progress = s3_check.progress_printer(stream)
        progress('[b] checking the credentials')
        self.assertIn('... [b] checking the credentials', stream.getvalue())
        progress.clear()
        self.assertTrue(stream.getvalue().endswith('\r\x1b[K'))


class TestBadInput(S3CheckTestBase):

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

    def test_no_s3_backend_multi(self):
        path = self.write_conf("""
            [DEFAULT]
            enabled_backends = local:file
            """)
        code, out, err = self.run_main('--config-file', path)
        self.assertEqual(2, code)
        self.assertIn('no S3 backend', self.assertOneLine(err))

    def test_no_s3_backend_single(self):
        path = self.write_conf("""
            [glance_store]
            stores = file, http
            default_store = file
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

    def test_missing_required_option(self):
        path = self.write_conf("""
            [DEFAULT]
            enabled_backends = objects:s3

            [objects]
            s3_store_host = %(endpoint)s
            s3_store_secret_key = %(secret)s
            s3_store_bucket = %(bucket)s
            """)
        for fmt in ('table', 'json'):
            self.stdout.seek(0)
            self.stdout.truncate()
            self.stderr.seek(0)
            self.stderr.truncate()
            code, out, err = self.run_main('--config-file', path,
                                           '--format', fmt)
            self.assertEqual(2, code)
            if fmt == 'table':
                self.assertIn('s3_store_access_key is not set',
                              self.assertOneLine(err))
            else:
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

    def test_wrong_credentials(self):
        self.create_bucket()
        with moto_auth.enable_iam_authentication():
            code, out, err = self.run_main('--config-file',
                                           self.multi_conf())
        self.assertEqual(1, code)
        line = self.assertOneLine(err)
        self.assertIn('refused the credentials (InvalidAccessKeyId)', line)
        self.assertIn('s3_store_secret_key', line)
        self.assertEqual('', out)
        self.assertNoSecret(out, err)

    def test_unreachable_endpoint(self):
        sock = socket.socket()
        sock.bind(('127.0.0.1', 0))
        port = sock.getsockname()[1]
        sock.close()
        path = self.write_conf("""
            [DEFAULT]
            enabled_backends = objects:s3

            [objects]
            s3_store_host = http://127.0.0.1:%(port)d
            s3_store_access_key = %(access)s
            s3_store_secret_key = %(secret)s
            s3_store_bucket = images
            """.replace('%(port)d', str(port)))
        code, out, err = self.run_main('--config-file', path)
        self.assertEqual(1, code)
        line = self.assertOneLine(err)
        self.assertIn('does not answer', line)
        self.assertIn('s3_store_host', line)
        self.assertNoSecret(out, err)


class TestCleanup(S3CheckTestBase):

    def test_interrupted_run_leaves_nothing(self):
        """Ctrl-C in a multipart upload: objects and upload removed."""
        self.no_crt()
        self.create_bucket()
        # The store would abort its own upload: make it "fail" to, so
        # that the tool's cleanup has an open upload to find.
        self.useFixture(fixtures.MonkeyPatch(
            'glance_store._drivers.s3_upload.MultipartUpload.abort',
            lambda self: None))

        def sha1(store):
            return store.policy.algorithm == 'SHA1' and \
                store.policy.precompute

        def interrupt(**kwargs):
            os.kill(os.getpid(), signal.SIGINT)
        self.inject(sha1, 'before-call.s3.CompleteMultipartUpload',
                    interrupt)
        code, out, err = self.run_main('--config-file', self.multi_conf())
        self.assertEqual(130, code)
        self.assertIn('interrupted', self.assertOneLine(err))
        self.assertBucketClean()
        self.assertIsNot(signal.getsignal(signal.SIGINT),
                         s3_check._interrupted)

    def test_cleanup_after_failure(self):
        self.no_crt()
        self.create_bucket()
        self.useFixture(fixtures.MonkeyPatch(
            'glance_store._drivers.s3_upload.MultipartUpload.abort',
            lambda self: None))
        conf = s3_check.parse_args(['--config-file', self.multi_conf()])
        backends = s3_check.find_s3_backends(conf)
        self.assertEqual(['objects'], backends)

        def when_supported(store):
            return store.policy.request == s3_checksums.WHEN_SUPPORTED

        def boom(**kwargs):
            raise RuntimeError('connection dropped')
        self.inject(when_supported,
                    'before-call.s3.CompleteMultipartUpload', boom)
        self.inject(when_supported, 'before-call.s3.DeleteObject', boom)
        result = probe.check_backend(conf, 'objects')
        row = result.configurations[1]
        self.assertEqual('when_supported', row.configuration.label)
        self.assertEqual('RuntimeError', row.results['multipart'])
        self.assertEqual('RuntimeError', row.results['delete'])
        self.assertTrue(result.configurations[2].works)
        # The put object stayed, and so did the upload: the tool's own
        # cleanup (with a client without the fault) removed both.
        self.assertTrue(result.cleanup.ok)
        self.assertIn('1 leftover objects removed, 1 open multipart '
                      'uploads aborted', result.cleanup.detail)
        self.assertBucketClean()
        self.assertTrue(result.current_works)

    def test_probe_importable_and_keys_under_prefix(self):
        self.no_crt()
        self.create_bucket()
        seen = []

        def record(params, **kwargs):
            seen.append(params['Key'])
        self.inject(lambda store: True, 'before-parameter-build.s3.PutObject',
                    record)
        conf = s3_check.parse_args(['--config-file', self.multi_conf()])
        result = probe.check_backend(conf, 'objects', run_id='testrun')
        self.assertTrue(result.current_works)
        self.assertEqual('glance-store-s3-check/testrun/', result.run_prefix)
        self.assertTrue(seen)
        for key in seen:
            self.assertTrue(key.startswith('glance-store-s3-check/testrun/'),
                            key)


def _matrix(**failing):
    """ConfigResults of the standard configurations (CRT ones included).

    ``failing`` maps a label (with '/' written '_') to the error code of
    its put.
    """
    results = []
    for configuration in [probe.Configuration('off', False),
                          probe.Configuration('when_supported', True,
                                              'when_supported',
                                              'when_supported')] + [
            probe.Configuration('always/%s' % a, True, 'always', 'always',
                                a) for a in s3_checksums.ALGORITHMS]:
        res = probe.ConfigResult(configuration)
        code = failing.get(configuration.label.replace('/', '_'))
        for op in probe.OPERATIONS:
            res.results[op] = probe.OK
        if code:
            res.results['put'] = code
        results.append(res)
    return results


class TestRecommendation(base.BaseTestCase):

    def test_strongest_that_works(self):
        rec = report.recommend(_matrix(when_supported='MissingContentLength'))
        self.assertEqual('always/SHA256', rec.configuration.label)

    def test_order_of_algorithms(self):
        results = _matrix(always_SHA256='BadDigest')
        self.assertEqual('always/SHA1',
                         report.recommend(results).configuration.label)
        results = _matrix(always_SHA256='BadDigest', always_SHA1='BadDigest')
        self.assertEqual('always/CRC64NVME',
                         report.recommend(results).configuration.label)
        results = _matrix(always_SHA256='X', always_SHA1='X',
                          always_CRC64NVME='X', always_CRC32C='X')
        self.assertEqual('always/CRC32',
                         report.recommend(results).configuration.label)

    def test_off_when_the_backend_stores_no_checksum(self):
        results = _matrix(when_supported='MissingContentLength')
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
        failing = {'always_%s' % a: 'InvalidRequest'
                   for a in s3_checksums.ALGORITHMS}
        rec = report.recommend(_matrix(**failing))
        self.assertEqual('when_supported', rec.configuration.label)
        failing['when_supported'] = 'MissingContentLength'
        rec = report.recommend(_matrix(**failing))
        self.assertEqual('off', rec.configuration.label)
        self.assertEqual(
            '[b]\ns3_store_enable_data_integrity_protection = False\n',
            report.snippet('b', rec.configuration))

    def test_nothing_works(self):
        failing = {'always_%s' % a: 'X' for a in s3_checksums.ALGORITHMS}
        failing.update(off='AccessDenied', when_supported='X')
        self.assertIsNone(report.recommend(_matrix(**failing)))

    def test_custom_current_settings_never_recommended(self):
        failing = {'always_%s' % a: 'X' for a in s3_checksums.ALGORITHMS}
        failing.update(off='X', when_supported='X')
        results = _matrix(**failing)
        custom = probe.ConfigResult(probe.Configuration(
            'current', True, 'when_required', 'always', 'CRC32'),
            results={op: probe.OK for op in probe.OPERATIONS},
            current=True)
        self.assertIsNone(report.rank(custom.configuration))
        self.assertIsNone(report.recommend(results + [custom]))

    def test_configuration_keys(self):
        never = probe.Configuration('x', True, 'never', 'NEVER', 'SHA1')
        required = probe.Configuration('y', True, 'when_required',
                                       'when_required', 'CRC32')
        self.assertEqual(never.key(), required.key())
        off = probe.Configuration('z', False, 'always', 'always', 'SHA1')
        self.assertEqual(('off',), off.key())
        self.assertEqual({'s3_store_enable_data_integrity_protection': False},
                         off.options())

    def _backend(self, current_ok=True, error=None, kind=None):
        res = probe.BackendResult('b', 'b')
        res.configurations = _matrix()
        res.configurations[0].current = True
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
        self.assertIn('Recommended settings (always/SHA256)', text)


class TestEmbedded(S3CheckTestBase):

    def test_embedded_table(self):
        code, out, err = self.run_main('--embedded')
        self.assertEqual(0, code, out + err)
        self.assertIn('Local S3 server (moto) at http://127.0.0.1:', out)
        self.assertIn('s3_store_secret_key = ***', out)
        self.assertIn('s3_store_access_key = ***', out)
        self.assertIn('Current settings (off): work', out)
        self.assertIn('read back    ok     12582912 bytes; md5 matches, '
                      'sha512 matches', out)
        self.assertIn('multipart upload, 3 parts', out)
        self.assertRegex(out, r'verify gone +ok')
        self.assertIn('Round trip: verified', out)

    def test_embedded_json_with_image(self):
        self.no_crt()
        image = os.path.join(self.tmp, 'image.raw')
        with open(image, 'wb') as f:
            f.write(os.urandom(7 * 1024 * 1024 + 3))
        code, out, err = self.run_main('--embedded', '--image', image,
                                       '--format', 'json')
        self.assertEqual(0, code, err)
        doc = json.loads(out)
        self.assertEqual(0, doc['exit_code'])
        embedded = doc['embedded']
        self.assertTrue(embedded['ok'])
        self.assertEqual('always/SHA256', embedded['settings'])
        self.assertEqual(['image', 'store', 'read back', 'delete',
                          'verify gone'],
                         [s['name'] for s in embedded['steps']])
        self.assertIn('7340035 bytes (multipart upload, 2 parts)',
                      embedded['steps'][1]['detail'])

    def test_embedded_missing_image(self):
        code, out, err = self.run_main('--embedded', '--image',
                                       os.path.join(self.tmp, 'none'))
        self.assertEqual(2, code)
        self.assertIn('image file not found', self.assertOneLine(err))

    def test_embedded_without_moto(self):
        def no_moto(*args, **kwargs):
            raise ImportError('No module named moto')
        self.useFixture(fixtures.MonkeyPatch(
            'glance_store.cmd.s3_check_embedded.EmbeddedServer.__init__',
            no_moto))
        code, out, err = self.run_main('--embedded')
        self.assertEqual(2, code)
        self.assertIn("pip install 'moto[server]'", self.assertOneLine(err))

    def test_round_trip_detects_a_bad_read(self):
        # Whatever returns other bytes than were stored must fail.
        self.no_crt()
        self.create_bucket()
        conf = s3_check.parse_args(['--config-file', self.multi_conf()])
        s3_check.find_s3_backends(conf)

        class Corrupt(object):
            def __init__(self, it):
                self.it = it

            def __iter__(self):
                for chunk in self.it:
                    yield b'x' + chunk[1:]
        orig_get = s3.Store.get

        def get(store, loc, *args, **kwargs):
            it, size = orig_get(store, loc, *args, **kwargs)
            return Corrupt(it), size
        self.useFixture(fixtures.MonkeyPatch(
            'glance_store._drivers.s3.Store.get', get))
        image = s3_check_embedded._Image(None)
        steps = s3_check_embedded.image_round_trip(conf, 'objects', image)
        self.assertEqual(['image', 'store', 'read back'],
                         [s['name'] for s in steps])
        self.assertFalse(steps[-1]['ok'])
        self.assertIn('DIFFERS', steps[-1]['detail'])
