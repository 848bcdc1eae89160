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

"""Unit tests of glance_store.cmd.s3_check.probe, against moto."""

import os
import signal
import socket

import botocore.awsrequest
from botocore import exceptions as boto_exc
from moto.core import authorization as moto_auth

from glance_store._drivers import s3_checksums
from glance_store.cmd.s3_check import cli
from glance_store.cmd.s3_check import model
from glance_store.cmd.s3_check import probe
from glance_store.tests.unit.cmd import fixtures

ABORT = 'before-call.s3.AbortMultipartUpload'


def _free_port():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def _refuse_abort(**kwargs):
    """The store's own abort fails: the upload stays open."""
    raise RuntimeError('abort lost')


class TestChecks(fixtures.CheckTestCase):

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
        for label in fixtures.BASIC:
            self.assertRegex(out, r'\n  [ *] %s +ok +ok +ok +ok ' % label)
        self.assertRegex(out, r'\n  \* off ')
        self.assertIn('Current settings (off): work', out)
        self.assertIn('Recommended settings (always/CRC32)', out)
        self.assertIn('    [objects]\n'
                      '    s3_store_enable_data_integrity_protection = True\n'
                      '    s3_store_request_checksum_calculation = always\n'
                      '    s3_store_response_checksum_validation = always\n'
                      '    s3_store_checksum_algorithm = CRC32\n', out)
        self.assertNoSecret(out, err)
        self.assertBucketClean()

    def test_json_document(self):
        self.no_crt()
        self.create_bucket()
        code, doc, err = self.run_json(self.multi_conf())
        self.assertEqual(0, code, err)
        self.assertEqual(0, doc['exit_code'])
        self.assertTrue(doc['current_settings_work'])
        (backend,) = doc['backends']
        self.assertEqual('objects', backend['backend'])
        self.assertEqual(self.bucket, backend['bucket'])
        self.assertIsNone(backend['error'])
        self.assertEqual(['endpoint', 'credentials', 'bucket'],
                         [s['name'] for s in backend['steps']])
        self.assertTrue(all(s['ok'] for s in backend['steps']))
        self.assertEqual(fixtures.BASIC, [c['label'] for c in
                                          backend['configurations']])
        for c in backend['configurations']:
            self.assertEqual({op: 'ok' for op in model.OPERATIONS},
                             c['results'])
            self.assertEqual(c['label'] == 'off', c['current'])
        # moto stores the checksum the store sent and returns it.
        stored = {c['label']: c['stored_checksum']
                  for c in backend['configurations']}
        self.assertEqual('SHA1', stored['always/SHA1'])
        # moto keeps CRC32 as a full-object checksum (every download
        # validated) and SHA ones as composite checksums without part
        # checksums (a multipart download is served unvalidated).
        validation = {c['label']: c['validation']
                      for c in backend['configurations']}
        both = {'small': 'validated', 'multipart': 'validated'}
        self.assertEqual(both, validation['always/CRC32'])
        self.assertEqual({'small': 'validated', 'multipart': 'unvalidated'},
                         validation['always/SHA256'])
        self.assertEqual({'small': 'unvalidated',
                          'multipart': 'unvalidated'}, validation['off'])
        # always/MD5: no checksum stored (Content-MD5 only), both
        # downloads checked against the MD5 ETag (moto answers part-number
        # HEADs, which give the multipart object's part layout).
        self.assertEqual('none', stored['always/MD5'])
        self.assertEqual(both, validation['always/MD5'])
        self.assertEqual(both, backend['recommendation']['validation'])
        self.assertEqual({'label': 'off', 'works': True, 'options': {
            's3_store_enable_data_integrity_protection': False}},
            backend['current'])
        self.assertEqual('always/CRC32', backend['recommendation']['label'])
        self.assertIn('s3_store_checksum_algorithm = CRC32\n',
                      backend['recommendation']['snippet'])
        self.assertTrue(backend['cleanup']['ok'])
        # The file's own upload settings (the defaults here).
        self.assertEqual({'threshold': 100 * 2 ** 20,
                          'part_size': 10 * 2 ** 20, 'parts_in_flight': 10,
                          'check_part_size': 5 * 2 ** 20},
                         backend['upload'])
        self.assertEqual([], backend['warnings'])
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
        code, doc, err = self.run_json(path, '--backend', 'glance_store')
        self.assertEqual(0, code, err)
        (backend,) = doc['backends']
        self.assertEqual('glance_store', backend['section'])
        self.assertFalse(backend['multi_store'])
        current = [c['label'] for c in backend['configurations']
                   if c['current']]
        self.assertEqual(['always/SHA1'], current)
        self.assertEqual('always/SHA1', backend['current']['label'])

    NETWORK_CONF = """
        [glance_store]
        stores = s3
        default_store = s3
        s3_store_host = %(endpoint)s
        s3_store_access_key = %(access)s
        s3_store_secret_key = %(secret)s
        s3_store_bucket = %(bucket)s
        s3_store_bucket_url_format = path
        s3_store_read_timeout = 30
        s3_store_retry_max_attempts = 2
        %(proxy)s
        """

    def test_network_settings_shown(self):
        self.no_crt()
        self.create_bucket()
        # A proxy for https endpoints only: moto's http endpoint is direct.
        path = self.write_conf(self.NETWORK_CONF, proxy=(
            's3_store_https_proxy = http://u:proxy-Passw0rd@127.0.0.1:9'))
        code, out, err = self.run_main('--config-file', path)
        self.assertEqual(0, code, err)
        self.assertIn('  network: https via http://u:***@127.0.0.1:9; '
                      'connect timeout 60 s, read timeout 30 s; retries '
                      'standard, attempts 2\n', out)
        self.assertNotIn('proxy-Passw0rd', out + err)
        code, doc, err = self.run_json(path)
        self.assertIn('read timeout 30 s', doc['backends'][0]['network'])

    def test_endpoint_check_goes_through_the_proxy(self):
        self.no_crt()
        self.create_bucket()
        # Nothing listens at the proxy's address: the unsigned endpoint
        # request fails there, as the store's requests would.
        path = self.write_conf(self.NETWORK_CONF, proxy=(
            's3_store_http_proxy = http://127.0.0.1:%d'
            % _free_port()))
        code, doc, err = self.run_json(path)
        self.assertNotEqual(0, code)
        (backend,) = doc['backends']
        endpoint = [s for s in backend['steps'] if s['name'] == 'endpoint']
        self.assertFalse(endpoint[0]['ok'], endpoint)
        self.assertIn('proxy', str(endpoint[0]).lower())

    def test_current_settings_fail_exit_1(self):
        # The configured algorithm needs awscrt, which is "missing": the
        # current settings are tested as their own row and fail with the
        # store's own message.
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
        self.assertIn('Recommended settings (always/CRC32)', out)
        self.assertBucketClean()

    def test_ignored_values_warned_as_glance_does(self):
        self.no_crt()
        self.create_bucket()
        path = self.multi_conf("""
            s3_store_request_checksum_calculation = always
            """)
        code, doc, err = self.run_json(path)
        self.assertEqual(0, code, err)
        (warning,) = doc['backends'][0]['warnings']
        self.assertIn('s3_store_request_checksum_calculation = always '
                      'ignored', warning)

    def test_when_supported_refused_like_rgw(self):
        # The backend refuses what botocore sends under when_supported,
        # as Ceph RGW does over HTTPS.
        self.no_crt()
        self.create_bucket()
        for op in ('PutObject', 'UploadPart'):
            fixtures.inject(self, fixtures.policy_is(
                request=s3_checksums.WHEN_SUPPORTED),
                'before-send.s3.%s' % op, fixtures.missing_content_length)
        path = self.multi_conf("""
            s3_store_enable_data_integrity_protection = True
            s3_store_request_checksum_calculation = when_supported
            s3_store_response_checksum_validation = when_supported
            """)
        code, doc, err = self.run_json(path)
        self.assertEqual(1, code)
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
        self.assertEqual('always/CRC32', backend['recommendation']['label'])
        self.assertBucketClean()

    def test_md5_multipart_unvalidated_without_the_part_layout(self):
        # Swift 2.30 answers a part-number HEAD with 405: the multipart
        # object's MD5 ETag cannot be checked, the store serves it with
        # its "without validation" notice, and the check says so.
        self.no_crt()
        self.create_bucket()

        def no_part_numbers(params, **kwargs):
            if params.get('PartNumber'):
                raise boto_exc.ClientError(
                    {'Error': {'Code': 'MethodNotAllowed'},
                     'ResponseMetadata': {'HTTPStatusCode': 405}},
                    'HeadObject')
        fixtures.inject(self, fixtures.policy_is(algorithm='MD5'),
                        'before-parameter-build.s3.HeadObject',
                        no_part_numbers)
        code, doc, err = self.run_json(self.multi_conf())
        self.assertEqual(0, code, err)
        (backend,) = doc['backends']
        rows = {c['label']: c for c in backend['configurations']}
        md5 = rows['always/MD5']
        self.assertTrue(md5['works'], md5)
        self.assertEqual({'small': 'validated', 'multipart': 'unvalidated'},
                         md5['validation'])
        self.assertEqual('always/CRC32', backend['recommendation']['label'])
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
        code, doc, err = self.run_json(path)
        self.assertEqual(1, code)
        one, two = doc['backends']
        self.assertTrue(one['current']['works'])
        self.assertEqual('bucket', two['steps'][-1]['name'])
        self.assertEqual('NoSuchBucket', two['steps'][-1]['code'])
        self.assertIn('s3_store_create_bucket_on_put', two['error'])
        code, doc, err = self.run_json(path, '--backend', 'one')
        self.assertEqual(0, code)
        self.assertEqual(['one'], [b['backend'] for b in doc['backends']])

    def test_bucket_created_and_removed(self):
        self.no_crt()
        path = self.multi_conf("""
            s3_store_create_bucket_on_put = True
            """)
        code, out, err = self.run_main('--config-file', path)
        self.assertEqual(0, code, err)
        self.assertIn('created (s3_store_create_bucket_on_put = True)', out)
        self.assertIn('bucket %s removed' % self.bucket, out)
        self.assertFalse(self.bucket_exists())

    def test_endpoint_step_says_a_404_is_expected(self):
        self.no_crt()
        path = self.multi_conf("""
            s3_store_create_bucket_on_put = True
            """)
        code, out, err = self.run_main('--config-file', path)
        self.assertEqual(0, code, err)
        self.assertIn('%s answers (HTTP 404; any answer to this unsigned '
                      'request will do, a 403 or 404 is expected); plain '
                      'HTTP, no TLS' % self.endpoint, out)

    def test_not_tried_without_awscrt(self):
        self.no_crt()
        self.create_bucket()
        code, out, err = self.run_main('--config-file', self.multi_conf())
        self.assertEqual(0, code, err)
        for name in ('CRC32C', 'CRC64NVME'):
            self.assertRegex(out, r'Not tried here: always/%s: .*'
                             r'needs the awscrt package.*pip install '
                             r'awscrt' % name)

    def test_wrong_credentials(self):
        self.create_bucket()
        with moto_auth.enable_iam_authentication():
            code, out, err = self.run_main('--config-file',
                                           self.multi_conf())
        self.assertEqual(1, code)
        line = self.assertOneLine(err)
        self.assertIn('refused the credentials (InvalidAccessKeyId)', line)
        self.assertIn('s3_store_secret_key', line)
        # Only the rollback line every check prints (issue 19).
        self.assertEqual(['Rollback to upstream glance_store 5.7.0: safe '
                          'with this configuration.'],
                         [x for x in out.splitlines() if x.strip()])
        self.assertNoSecret(out, err)

    def test_unreachable_endpoint(self):
        path = self.multi_conf(endpoint='http://127.0.0.1:%d' %
                               fixtures.free_port())
        code, out, err = self.run_main('--config-file', path)
        self.assertEqual(1, code)
        line = self.assertOneLine(err)
        self.assertIn('could not be reached', line)
        self.assertIn('s3_store_host', line)
        self.assertNoSecret(out, err)


class TestCleanup(fixtures.CheckTestCase):

    def test_interrupted_run_leaves_nothing(self):
        """Ctrl-C in a multipart upload: objects and upload removed."""
        self.no_crt()
        self.create_bucket()
        sha1 = fixtures.policy_is(algorithm='SHA1')
        # The store would abort its own upload: make that fail, so that
        # the tool's cleanup has an open upload to find.
        fixtures.inject(self, sha1, ABORT, _refuse_abort)

        def interrupt(**kwargs):
            os.kill(os.getpid(), signal.SIGINT)
        fixtures.inject(self, sha1,
                        'before-call.s3.CompleteMultipartUpload', interrupt)
        code, out, err = self.run_main('--config-file', self.multi_conf())
        self.assertEqual(130, code)
        self.assertIn('interrupted', self.assertOneLine(err))
        self.assertBucketClean()
        self.assertIsNot(signal.getsignal(signal.SIGINT), cli._interrupted)

    def test_cleanup_after_failure(self):
        self.no_crt()
        self.create_bucket()
        conf = cli.parse_args(['--config-file', self.multi_conf()])
        supported = fixtures.policy_is(request=s3_checksums.WHEN_SUPPORTED)

        def boom(**kwargs):
            raise RuntimeError('connection dropped')
        fixtures.inject(self, supported, ABORT, _refuse_abort)
        fixtures.inject(self, supported,
                        'before-call.s3.CompleteMultipartUpload', boom)
        fixtures.inject(self, supported, 'before-call.s3.DeleteObject', boom)
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

    def test_cleanup_pages_through_the_leftovers(self):
        self.create_bucket()
        # Small pages, so that the listing takes several requests.
        pages = {'ListObjectsV2': 'MaxKeys', 'ListMultipartUploads':
                 'MaxUploads'}
        seen = []

        def small_pages(params, model, **kwargs):
            params[pages[model.name]] = 2
            seen.append(model.name)
        for operation in pages:
            fixtures.inject(self, lambda store: True,
                            'before-parameter-build.s3.%s' % operation,
                            small_pages)
        conf = cli.parse_args(['--config-file', self.multi_conf()])
        prober = probe.Prober(conf, 'objects', run_id='many')
        prober.base = prober.make_store(model.Configuration('off', False))
        prober.bucket_checked = True
        for i in range(5):
            self.client.put_object(Bucket=self.bucket,
                                   Key='%s%d' % (prober.run_prefix, i),
                                   Body=b'')
            self.client.create_multipart_upload(
                Bucket=self.bucket, Key='%sup%d' % (prober.run_prefix, i))
        self.client.put_object(Bucket=self.bucket, Key='other', Body=b'x')
        prober.cleanup()
        self.assertIn('5 leftover objects removed, 5 open multipart '
                      'uploads aborted', prober.result.cleanup.detail)
        self.assertEqual(3, seen.count('ListObjectsV2'))
        # moto answers ListMultipartUploads in one page whatever the
        # MaxUploads: the paginator makes one request there.
        self.assertIn('ListMultipartUploads', seen)
        left = self.client.list_objects_v2(Bucket=self.bucket)['Contents']
        self.assertEqual(['other'], [o['Key'] for o in left])
        self.assertEqual([], self.client.list_multipart_uploads(
            Bucket=self.bucket).get('Uploads', []))

    def _cleanup_with_list_uploads(self, answer):
        self.create_bucket()

        def list_uploads(**kwargs):
            return answer
        fixtures.inject(self, lambda store: True,
                        'before-call.s3.ListMultipartUploads', list_uploads)
        conf = cli.parse_args(['--config-file', self.multi_conf()])
        prober = probe.Prober(conf, 'objects', run_id='s3rver')
        prober.base = prober.make_store(model.Configuration('off', False))
        prober.bucket_checked = True
        self.client.put_object(Bucket=self.bucket,
                               Key=prober.run_prefix + 'left', Body=b'')
        prober.cleanup()
        return prober.result.cleanup

    def test_cleanup_without_list_multipart_uploads(self):
        # s3rver: no ListMultipartUploads; nothing can be open there.
        cleanup = self._cleanup_with_list_uploads((
            botocore.awsrequest.AWSResponse('http://x', 501, {}, None),
            {'Error': {'Code': 'NotImplemented', 'Message': 'A header you '
                       'provided implies functionality that is not '
                       'implemented'},
             'ResponseMetadata': {'HTTPStatusCode': 501}}))
        self.assertTrue(cleanup.ok, cleanup.detail)
        self.assertIn('1 leftover objects removed', cleanup.detail)
        self.assertIn('not supported by this backend; nothing to abort',
                      cleanup.detail)
        self.assertNotIn('failed', cleanup.detail)
        self.assertBucketClean()

    def test_cleanup_other_list_error_is_a_failure(self):
        cleanup = self._cleanup_with_list_uploads((
            botocore.awsrequest.AWSResponse('http://x', 500, {}, None),
            {'Error': {'Code': 'InternalError', 'Message': 'boom'},
             'ResponseMetadata': {'HTTPStatusCode': 500}}))
        self.assertFalse(cleanup.ok)
        self.assertIn('cleanup failed: aborting multipart uploads: '
                      'InternalError', cleanup.detail)

    def test_keys_under_the_run_prefix(self):
        self.no_crt()
        self.create_bucket()
        seen = []

        def record(params, **kwargs):
            seen.append(params['Key'])
        fixtures.inject(self, lambda store: True,
                        'before-parameter-build.s3.PutObject', record)
        conf = cli.parse_args(['--config-file', self.multi_conf()])
        result = probe.check_backend(conf, 'objects', run_id='testrun')
        self.assertTrue(result.current_works)
        self.assertEqual('glance-store-s3-check/testrun/', result.run_prefix)
        self.assertTrue(seen)
        for key in seen:
            self.assertTrue(key.startswith('glance-store-s3-check/testrun/'),
                            key)


class TestFailureCode(fixtures.CheckTestCase):

    def test_code_of_the_cause(self):
        from botocore import exceptions as boto_exc
        client_error = boto_exc.ClientError(
            {'Error': {'Code': 'BadDigest'}}, 'PutObject')
        try:
            try:
                raise client_error
            except boto_exc.ClientError:
                raise ValueError('wrapped')
        except ValueError as e:
            self.assertEqual('BadDigest', probe.failure_code(e))
        self.assertEqual('KeyError', probe.failure_code(KeyError('x')))
        self.assertEqual('x', probe.error_text(RuntimeError('x')))
        self.assertEqual('RuntimeError', probe.error_text(RuntimeError()))
