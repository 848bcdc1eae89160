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

"""The real Glance API with a ``$`` in one S3 backend's secret key.

oslo.config reads ``$name`` in any value as a reference to another option.
An S3 secret key with a ``$`` that is not written ``$$`` used to make
``create_multi_stores`` raise ``NoSuchOptError`` (with part of the secret
in its message), so the whole Glance API did not start. These tests run
Glance 33 (uwsgi, sqlite, no keystone) with three backends: a file
backend (the default), an S3 backend on Ceph RGW that works, and an S3
backend on the same RGW whose secret holds a bare ``$``. Through the v2
API they show that the API answers, that the two good backends store and
serve images byte for byte, that an upload to the broken backend is
refused with an HTTP error while the log names the option and the ``$$``
fix, and that no piece of the secret reaches the log or an answer. They
do so with Glance's ``debug`` off and on (with ``debug`` on, Glance logs
every option's value at start-up).

A last case gives RGW a key whose secret really holds a ``$`` and writes
it ``$$`` in glance-api.conf: that backend stores images.

RGW comes from ``tools/s3_servers.py`` (``tox -e functional-glance``
starts it); without it the tests skip, or fail when CI is set.
"""

import os
import re
import subprocess

import testtools

from glance_store.tests.functional.glance import harness
from glance_store.tests.functional.glance import mixins
from glance_store.tests.functional import servers

import s3_servers  # noqa: I100,I202  (tools/, on sys.path via harness)

KiB = 1024

# The broken backend's secret: a '$' that oslo.config takes for a
# reference to an option that does not exist. Every 6-character piece on
# either side of the '$' is checked against the log and the answers.
BROKEN_SECRET_LEFT = 'Qv7LeftSideXw2'
BROKEN_SECRET_RIGHT = 'kRightSideZp9Tq'
BROKEN_SECRET = BROKEN_SECRET_LEFT + '$' + BROKEN_SECRET_RIGHT
BROKEN_INTEGER = '10$threads'


def secret_pieces(*parts, width=6):
    """Every ``width``-character substring of the given strings."""
    return sorted({part[i:i + width] for part in parts
                   for i in range(len(part) - width + 1)})


class DollarSecretMixin(mixins.RGWGlanceMixin, mixins.GlanceServerMixin):
    """Glance with a file, a working S3 and a ``$``-secret S3 backend."""

    FILE = 'local'
    GOOD = 'ceph'
    BROKEN = 'dollar'
    DEBUG = False

    @classmethod
    def store_config(cls, workdir):
        cls.datadir = os.path.join(workdir, cls.FILE)
        good = mixins.rgw_store_options(cls.rgw, cls.bucket)
        broken = mixins.rgw_store_options(cls.rgw, cls.bucket)
        broken['s3_store_secret_key'] = BROKEN_SECRET
        # And a '$' in an integer option: with debug on, Glance's dump of
        # the options reads it as well.
        broken['s3_store_thread_pools'] = BROKEN_INTEGER
        return harness.multi_store(
            {cls.FILE: ('file', {'filesystem_store_datadir': cls.datadir}),
             cls.GOOD: ('s3', good),
             cls.BROKEN: ('s3', broken)},
            default_backend=cls.FILE,
            reserved_dir=os.path.join(workdir, 'reserved'),
            extra_sections=mixins.LOG_SECTIONS)

    @classmethod
    def server_extra_conf(cls):
        return {'DEFAULT': {'debug': cls.DEBUG}}

    def setUp(self):
        super(DollarSecretMixin, self).setUp()
        # Every answer of the test, for the check that none holds a piece
        # of the secret.
        self.answers = []

    def _answer(self, resp):
        self.answers.append('%s %s\n%s\n%s' % (
            resp.status_code, resp.reason, resp.headers, resp.text))
        return resp

    def _create(self):
        resp = self._answer(self.client.create_image(name=self.id()))
        self.assertEqual(201, resp.status_code, resp.text)
        image_id = resp.json()['id']
        self.addCleanup(self.client.delete_image, image_id)
        return image_id

    def _upload(self, backend, data):
        image_id = self._create()
        resp = self._answer(self.client.upload(
            image_id, data, headers={'X-Image-Meta-Store': backend}))
        return image_id, resp

    def _check_stored(self, backend, data):
        image_id, resp = self._upload(backend, data)
        self.assertEqual(204, resp.status_code, resp.text)
        resp = self._answer(self.client.get_image(image_id))
        self.assertEqual(200, resp.status_code, resp.text)
        image = resp.json()
        self.assertEqual('active', image['status'])
        self.assertEqual(backend, image['stores'])
        self.assertEqual(len(data), image['size'])
        resp = self.client.download(image_id)
        self.assertEqual(200, resp.status_code, resp.text[:500])
        self.assertEqual(data, resp.content)
        return image_id

    def assertNoSecret(self, text, where):
        for piece in secret_pieces(BROKEN_SECRET_LEFT, BROKEN_SECRET_RIGHT):
            if piece in text:
                # Name the piece, not the text around it.
                self.fail('a piece of the secret (%r) is in %s'
                          % (piece, where))

    # Tests ---------------------------------------------------------------

    def test_api_lists_all_backends(self):
        resp = self._answer(self.client.stores_info())
        self.assertEqual(200, resp.status_code, resp.text)
        stores = {s['id']: s for s in resp.json()['stores']}
        self.assertEqual({self.FILE, self.GOOD, self.BROKEN}, set(stores))
        self.assertTrue(stores[self.FILE].get('default'))
        resp = self._answer(self.client.stores_detail())
        self.assertEqual(200, resp.status_code, resp.text)
        self.assertNoSecret('\n'.join(self.answers), 'an answer')

    def test_good_backends_store_images(self):
        data = mixins.pattern(300 * KiB + 17, 41)
        image_id = self._check_stored(self.FILE, data)
        with open(os.path.join(self.datadir, image_id), 'rb') as f:
            self.assertEqual(data, f.read())
        image_id = self._check_stored(self.GOOD, data)
        self.assertEqual(data, self.stored_bytes(image_id))
        self.assertNoSecret('\n'.join(self.answers), 'an answer')

    def test_upload_to_broken_backend_is_refused(self):
        log_start = len(self.server_log())
        data = mixins.pattern(100 * KiB + 3, 42)
        before = self.stored_names()
        image_id, resp = self._upload(self.BROKEN, data)
        # Glance answers 410 Gone to StoreAddDisabled ("Adding images to
        # store is disabled"), and puts the image back to queued.
        self.assertEqual(410, resp.status_code, resp.text)
        self.assertIn('Adding images to store is disabled', resp.text)
        image = self._answer(self.client.get_image(image_id)).json()
        self.assertEqual('queued', image['status'])
        self.assertIsNone(image['size'])
        self.assertEqual(before, self.stored_names())
        # The refusal repeats the reason in the log.
        log = self.server_log()[log_start:]
        self.assertLogged('s3_store_secret_key in [%s]' % self.BROKEN, log)
        self.assertLogged("'$$'", log)
        # The image can still go to another backend.
        resp = self._answer(self.client.upload(
            image_id, data, headers={'X-Image-Meta-Store': self.GOOD}))
        self.assertEqual(204, resp.status_code, resp.text)
        self.assertEqual(data, self.stored_bytes(image_id))
        self.assertNoSecret('\n'.join(self.answers), 'an answer')

    def test_start_up_log_names_option_and_fix(self):
        log = self.server_log()
        self.assertLogged('Adding images to store %s is disabled'
                          % self.BROKEN, log)
        self.assertLogged('s3_store_secret_key in [%s]' % self.BROKEN, log)
        self.assertLogged('s3_store_thread_pools in [%s]' % self.BROKEN,
                          log)
        self.assertLogged("'$$'", log)
        self.assertNotLogged(BROKEN_INTEGER, log)
        # Neither this secret nor the working backends' one.
        self.assertNoSecret(log, 'the Glance API log')
        self.assertNotLogged(self.rgw['secret_key'], log)

    def test_log_holds_no_secret_after_all(self):
        # After the other tests' requests too (the test order is not
        # known: this one uploads to the broken backend itself).
        data = mixins.pattern(10 * KiB, 43)
        _image_id, resp = self._upload(self.BROKEN, data)
        self.assertEqual(410, resp.status_code, resp.text)
        self.assertNoSecret(self.server_log(), 'the Glance API log')
        self.assertNoSecret('\n'.join(self.answers), 'an answer')


class TestGlanceDollarInSecret(DollarSecretMixin, testtools.TestCase):
    """Glance's ``debug`` off."""


class TestGlanceDollarInSecretDebug(DollarSecretMixin, testtools.TestCase):
    """Glance's ``debug`` on: it logs every option's value at start-up."""

    DEBUG = True

    def test_options_logged_at_start_up(self):
        # The start-up dump of the options happened and shows the
        # unreadable secret masked, like every secret option.
        log = self.server_log()
        for backend in (self.GOOD, self.BROKEN):
            line = r'%s\.s3_store_secret_key += \*{4}' % backend
            if not re.search(line, log, re.MULTILINE):
                self.fail('not in the Glance API log: %s' % line)
        # The unreadable integer is dumped as None.
        line = r'%s\.s3_store_thread_pools += None\b' % self.BROKEN
        if not re.search(line, log, re.MULTILINE):
            self.fail('not in the Glance API log: %s' % line)


class TestGlanceEscapedDollarInSecret(mixins.RGWGlanceMixin,
                                      mixins.GlanceServerMixin,
                                      testtools.TestCase):
    """A secret holding a real ``$``, written ``$$``: the backend works.

    RGW gets a second key for its user whose secret holds a ``$``
    (``radosgw-admin key create``); glance-api.conf has it with ``$$``.
    """

    BACKEND = 'escaped'
    ACCESS_KEY = 'GSFUNCDOLLARKEY00000'
    SECRET = 'Dollar4Left$Right7Side0000000000000000'

    @classmethod
    def _radosgw_admin(cls, *args):
        conf = os.path.join(cls.rgw.get('workdir', ''), 'ceph.conf')
        if not os.path.exists(conf):
            raise AssertionError('no ceph.conf in the RGW workdir: cannot '
                                 'add a key with radosgw-admin')
        subprocess.run(['radosgw-admin', '-c', conf, '-n', 'client.admin']
                       + list(args), check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE, timeout=120)

    @classmethod
    def setUpClass(cls):
        cls.rgw = servers.get_server('rgw')
        cls._radosgw_admin('key', 'create', '--uid', s3_servers.RGW_USER,
                           '--key-type', 's3', '--access-key',
                           cls.ACCESS_KEY, '--secret-key', cls.SECRET)
        try:
            super(TestGlanceEscapedDollarInSecret, cls).setUpClass()
        except BaseException:
            cls._remove_key()
            raise

    @classmethod
    def _remove_key(cls):
        cls._radosgw_admin('key', 'rm', '--uid', s3_servers.RGW_USER,
                           '--key-type', 's3', '--access-key',
                           cls.ACCESS_KEY)

    @classmethod
    def tearDownClass(cls):
        try:
            super(TestGlanceEscapedDollarInSecret, cls).tearDownClass()
        finally:
            cls._remove_key()

    @classmethod
    def store_config(cls, workdir):
        options = mixins.rgw_store_options(cls.rgw, cls.bucket)
        options['s3_store_access_key'] = cls.ACCESS_KEY
        options['s3_store_secret_key'] = cls.SECRET.replace('$', '$$')
        return harness.multi_store(
            {cls.BACKEND: ('s3', options)},
            default_backend=cls.BACKEND,
            reserved_dir=os.path.join(workdir, 'reserved'),
            extra_sections=mixins.LOG_SECTIONS)

    def test_escaped_secret_stores_images(self):
        data = mixins.pattern(200 * KiB + 9, 44)
        resp = self.client.create_image(name=self.id())
        self.assertEqual(201, resp.status_code, resp.text)
        image_id = resp.json()['id']
        self.addCleanup(self.client.delete_image, image_id)
        resp = self.client.upload(image_id, data)
        self.assertEqual(204, resp.status_code, resp.text)
        self.assertEqual(data, self.stored_bytes(image_id))
        resp = self.client.download(image_id)
        self.assertEqual(200, resp.status_code, resp.text[:500])
        self.assertEqual(data, resp.content)
        log = self.server_log()
        self.assertNotLogged('Adding images to store', log)
        for piece in secret_pieces(*self.SECRET.split('$')):
            self.assertNotLogged(piece, log)
