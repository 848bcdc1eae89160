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

"""glance-store-s3-check --stale-uploads against moto's S3 server."""

import io
import json
import os
import textwrap
from unittest import mock
import uuid

import fixtures

from glance_store.cmd.s3_check import cli as s3_check
from glance_store.cmd.s3_check import leftovers as s3_leftovers
from glance_store.tests import base
from glance_store.tests.unit.s3 import fixtures as fx

MiB = 1024 * 1024


class TestStaleUploads(fx.MotoServerMixin, base.StoreBaseTest):

    def setUp(self):
        super().setUp()
        self.client = self.moto.client()
        self.bucket = 'stale-%s' % uuid.uuid4().hex[:8]
        self.client.create_bucket(Bucket=self.bucket)
        self.tmp = self.useFixture(fixtures.TempDir()).path
        self.stdout = io.StringIO()
        self.stderr = io.StringIO()
        self.useFixture(fixtures.MonkeyPatch('sys.stdout', self.stdout))
        self.useFixture(fixtures.MonkeyPatch('sys.stderr', self.stderr))
        self.conf_path = self.write_conf()

    def write_conf(self, endpoint=None):
        path = os.path.join(self.tmp, 'glance-api.conf')
        with open(path, 'w') as f:
            f.write(textwrap.dedent("""
                [DEFAULT]
                enabled_backends = images:s3, local:file

                [glance_store]
                default_backend = images

                [images]
                s3_store_host = %s
                s3_store_access_key = %s
                s3_store_secret_key = %s
                s3_store_bucket = %s
                s3_store_bucket_url_format = path
                """) % (endpoint or self.moto.url, fx.ACCESS_KEY,
                        fx.SECRET_KEY, self.bucket))
        return path

    def start_upload(self, key, parts=1):
        return fx.start_upload(self.client, self.bucket, key, parts)

    def run_main(self, *args):
        self.stdout.seek(0)
        self.stdout.truncate()
        self.stderr.seek(0)
        self.stderr.truncate()
        code = s3_check.main(['--config-file', self.conf_path] + list(args))
        return code, self.stdout.getvalue(), self.stderr.getvalue()

    def open_keys(self):
        resp = self.client.list_multipart_uploads(Bucket=self.bucket)
        return sorted(u['Key'] for u in resp.get('Uploads', []))

    def test_lists_then_aborts_image_uploads_only(self):
        image = str(uuid.uuid4())
        upload_id = self.start_upload(image, parts=2)
        self.start_upload('shared/not-an-image')

        code, out, err = self.run_main('--stale-uploads', '--older-than',
                                       '0')
        self.assertEqual(1, code, out + err)
        self.assertIn('Backend images', out)
        self.assertIn('%s  upload %s' % (image, upload_id), out)
        self.assertIn(': 1 (2 parts, 10.0 MiB held)', out)
        self.assertIn('--abort removes them', out)
        self.assertNotIn('not-an-image', out)
        self.assertIn('no rule aborts incomplete multipart uploads', out)

        code, out, err = self.run_main('--stale-uploads', '--older-than',
                                       '0', '--abort')
        self.assertEqual(0, code, out + err)
        self.assertIn('aborted: 1 uploads, 2 parts, 10485760 bytes freed',
                      out)
        self.assertEqual(['shared/not-an-image'], self.open_keys())

        code, out, err = self.run_main('--stale-uploads', '--older-than',
                                       '0')
        self.assertEqual(0, code, out + err)
        self.assertIn(': 0 (0 parts, 0.0 MiB held)', out)
        self.assertNotIn(fx.SECRET_KEY, out + err)

    def test_json(self):
        image = str(uuid.uuid4())
        self.start_upload(image)
        code, out, err = self.run_main('--stale-uploads', '--format',
                                       'json')
        self.assertEqual(1, code, err)
        doc = json.loads(out)
        self.assertEqual('stale-uploads', doc['mode'])
        entry = doc['backends'][0]
        self.assertEqual('images', entry['backend'])
        self.assertEqual('24h', entry['older_than'])
        self.assertEqual([image], [u['key'] for u in entry['uploads']])
        self.assertEqual({'uploads': 1, 'parts': 1, 'bytes': 5 * MiB},
                         entry['totals'])
        self.assertIsNone(entry['abort'])
        self.assertEqual(s3_leftovers.abort_rule(7),
                         entry['lifecycle']['rule_to_add'])

        code, out, err = self.run_main('--stale-uploads', '--abort',
                                       '--format', 'json')
        self.assertEqual(0, code, err)
        entry = json.loads(out)['backends'][0]
        self.assertEqual({'uploads': 1, 'parts': 1, 'bytes': 5 * MiB},
                         entry['abort']['freed'])
        self.assertEqual([], entry['abort']['failed'])
        self.assertEqual(0, entry['remaining'])

    def test_failed_abort_is_reported_and_exits_1(self):
        image = str(uuid.uuid4())
        self.start_upload(image)
        outcome = [s3_leftovers.AbortOutcome(
            s3_leftovers.Leftover(image, 'u', None), False,
            'AccessDenied: Access Denied')]
        with mock.patch.object(s3_leftovers, 'abort',
                               return_value=outcome):
            code, out, err = self.run_main('--stale-uploads', '--abort')
        self.assertEqual(1, code, out + err)
        self.assertIn('could not abort %s (upload u): AccessDenied' % image,
                      out)

    def test_apply_lifecycle_keeps_other_rules(self):
        self.client.put_bucket_lifecycle_configuration(
            Bucket=self.bucket, LifecycleConfiguration={'Rules': [
                {'ID': 'logs', 'Status': 'Enabled',
                 'Filter': {'Prefix': 'logs/'},
                 'Expiration': {'Days': 3}}]})
        code, out, err = self.run_main('--stale-uploads',
                                       '--apply-lifecycle', '2')
        self.assertEqual(0, code, out + err)
        self.assertIn('rule %s added (abort after 2 days)'
                      % s3_leftovers.LIFECYCLE_RULE_ID, out)
        self.assertIn('aborts incomplete multipart uploads after 2 days',
                      out)
        rules = self.client.get_bucket_lifecycle_configuration(
            Bucket=self.bucket)['Rules']
        self.assertEqual({'logs', s3_leftovers.LIFECYCLE_RULE_ID},
                         {r['ID'] for r in rules})

    def test_lifecycle_unsupported_refuses(self):
        error = s3_leftovers.LifecycleUnsupported(
            'the backend does not support bucket lifecycle configuration')
        with mock.patch.object(s3_leftovers, 'apply_abort_rule',
                               side_effect=error):
            code, out, err = self.run_main('--stale-uploads',
                                           '--apply-lifecycle', '1')
        self.assertEqual(1, code, out + err)
        self.assertIn('--apply-lifecycle refused: the backend does not '
                      'support bucket lifecycle', out)

    def test_unreachable_backend_exits_1(self):
        self.conf_path = self.write_conf('http://127.0.0.1:1')
        code, out, err = self.run_main('--stale-uploads')
        self.assertEqual(1, code, out + err)
        self.assertIn('backend images:', err)
        self.assertIn('127.0.0.1:1', err)
        self.assertNotIn(fx.SECRET_KEY, out + err)

    def test_usage_errors_exit_2(self):
        for args, needle in (
                (['--abort'], '--abort is only used with --stale-uploads'),
                (['--older-than', '1h'], '--older-than is only used'),
                (['--stale-uploads', '--older-than', '5'], 'invalid age'),
                (['--stale-uploads', '--backend', 'local'],
                 'not an S3 one'),
                (['--stale-uploads', '--embedded'],
                 'cannot be used with --embedded')):
            code, out, err = self.run_main(*args)
            self.assertEqual(2, code, args)
            self.assertIn(needle, err, args)
        code, out, err = self.run_main('--stale-uploads',
                                       '--apply-lifecycle', '0')
        self.assertEqual(2, code, err)
