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

"""Unit tests of glance_store.cmd.s3_check.embedded (--embedded)."""

import json
import os

import fixtures as test_fixtures

from glance_store._drivers import s3
from glance_store.cmd.s3_check import cli
from glance_store.cmd.s3_check import embedded
from glance_store.tests.unit.cmd import fixtures


class TestEmbedded(fixtures.CheckTestCase):

    def test_embedded_table(self):
        code, out, err = self.run_main('--embedded')
        self.assertEqual(0, code, out + err)
        self.assertIn('Local S3 server (moto) at http://127.0.0.1:', out)
        self.assertIn('s3_store_secret_key = ***', out)
        self.assertIn('s3_store_access_key = ***', out)
        self.assertIn('s3_store_bucket = glance-images', out)
        self.assertIn('Current settings (off): work', out)
        self.assertIn('read back    ok     12582912 bytes; md5 matches, '
                      'sha512 matches', out)
        self.assertIn('multipart upload, 3 parts', out)
        self.assertRegex(out, r'verify gone +ok')
        self.assertIn('Round trip: verified', out)

    def test_embedded_without_awscrt_says_what_was_not_tried(self):
        self.no_crt()
        code, out, err = self.run_main('--embedded')
        self.assertEqual(0, code, out + err)
        for name in ('CRC32C', 'CRC64NVME'):
            self.assertRegex(out, r'Not tried here: always/%s: .*needs '
                             r'the awscrt package.*pip install awscrt'
                             % name)
        self.assertNotRegex(out, r'\n +always/CRC32C +ok')

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
        body = doc['embedded']
        self.assertTrue(body['ok'])
        self.assertEqual('always/CRC32', body['settings'])
        self.assertEqual(['image', 'store', 'read back', 'delete',
                          'verify gone'],
                         [s['name'] for s in body['steps']])
        self.assertIn('7340035 bytes (multipart upload, 2 parts)',
                      body['steps'][1]['detail'])
        self.assertEqual(['always/CRC32C', 'always/CRC64NVME'],
                         [n['label'] for n in
                          doc['backends'][0]['not_tried']])

    def test_embedded_missing_image(self):
        code, out, err = self.run_main('--embedded', '--image',
                                       os.path.join(self.tmp, 'none'))
        self.assertEqual(2, code)
        self.assertIn('image file not found', self.assertOneLine(err))

    def test_embedded_without_moto(self):
        def no_moto(*args, **kwargs):
            raise ImportError('No module named moto')
        self.useFixture(test_fixtures.MonkeyPatch(
            'glance_store.cmd.s3_check.embedded.EmbeddedServer.__init__',
            no_moto))
        code, out, err = self.run_main('--embedded')
        self.assertEqual(2, code)
        self.assertIn("pip install 'moto[server]'", self.assertOneLine(err))

    def test_round_trip_detects_a_bad_read(self):
        # Whatever returns other bytes than were stored must fail.
        self.create_bucket()
        conf = cli.parse_args(['--config-file', self.multi_conf()])

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
        self.useFixture(test_fixtures.MonkeyPatch(
            'glance_store._drivers.s3.Store.get', get))
        steps = embedded.image_round_trip(conf, 'objects', embedded.Image())
        self.assertEqual(['image', 'store', 'read back'],
                         [s['name'] for s in steps])
        self.assertFalse(steps[-1]['ok'])
        self.assertIn('DIFFERS', steps[-1]['detail'])

    def test_round_trip_configure_failure(self):
        path = self.write_conf("""
            [DEFAULT]
            enabled_backends = objects:s3

            [objects]
            s3_store_host = %(endpoint)s
            """)
        conf = cli.parse_args(['--config-file', path])
        steps = embedded.image_round_trip(conf, 'objects', embedded.Image())
        self.assertEqual([('configure', False)],
                         [(s['name'], s['ok']) for s in steps])
        self.assertIn('s3_store_access_key is not set', steps[0]['detail'])
