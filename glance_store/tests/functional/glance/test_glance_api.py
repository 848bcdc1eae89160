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

"""The real Glance API storing images through this library.

Each test class starts one Glance API process (uwsgi, sqlite, no keystone)
on 127.0.0.1 with its own store configuration, then drives it through the
v2 REST API. The tests skip when Glance or uwsgi is not installed, unless
the CI environment variable is set, in which case they fail.
"""

import hashlib
import os
import shutil
import tempfile
import unittest

import testtools
from testtools import content

from glance_store.tests.functional.glance import harness

KiB = 1024
MiB = 1024 * KiB


def _ci():
    return os.environ.get('CI', '').strip().lower() not in (
        '', '0', 'false', 'no')


def _pattern(size, seed):
    """Deterministic, non-repeating-looking bytes of the given size."""
    out = bytearray()
    counter = 0
    while len(out) < size:
        out += hashlib.sha512(b'%d-%d' % (seed, counter)).digest()
        counter += 1
    return bytes(out[:size])


class GlanceServerMixin(object):
    """A real Glance API server for one test class, stopped at its end.

    Subclasses give ``store_config(workdir)`` (see harness) and may add
    ``server_extra_conf()``; the test client is ``self.client``.
    """

    server = None
    workdir = None

    @classmethod
    def store_config(cls, workdir):
        raise NotImplementedError()

    @classmethod
    def server_extra_conf(cls):
        return None

    @classmethod
    def setUpClass(cls):
        super(GlanceServerMixin, cls).setUpClass()
        missing = harness.missing_requirements()
        if missing:
            msg = 'Glance API functional tests need %s' % missing
            if _ci():
                raise AssertionError(msg + ' (CI is set: not skipping)')
            raise unittest.SkipTest(msg)
        cls.workdir = tempfile.mkdtemp(prefix='gs-func-glance-')
        cls.config = cls.store_config(cls.workdir)
        cls.server = harness.GlanceServer(
            cls.workdir, cls.config, extra_conf=cls.server_extra_conf())
        try:
            cls.server.start()
            cls.loaded_library = cls.server.loaded_glance_store()
            if not os.environ.get('GS_FUNC_GLANCE_ALLOW_UPSTREAM'):
                harness.check_is_this_project(cls.loaded_library)
        except Exception:
            cls._cleanup_class()
            raise

    @classmethod
    def _cleanup_class(cls):
        if cls.server is not None:
            cls.server.stop()
            cls.server = None
        if cls.workdir is not None:
            shutil.rmtree(cls.workdir, ignore_errors=True)
            cls.workdir = None

    @classmethod
    def tearDownClass(cls):
        cls._cleanup_class()
        super(GlanceServerMixin, cls).tearDownClass()

    def setUp(self):
        super(GlanceServerMixin, self).setUp()
        self.client = self.server.client()
        self.addOnException(self._attach_server_log)

    def _attach_server_log(self, exc_info):
        if self.server is not None:
            self.addDetail('glance-api-log',
                           content.text_content(self.server.log_tail()))


class GlanceImageTests(GlanceServerMixin):
    """Image life cycle through the Glance API; mixed into test classes.

    Subclasses set ``store_config(workdir)`` and the hooks saying what the
    backend holds (``stored_names``, ``stored_bytes``), so the same tests
    can run on other backends.
    """

    # Sizes chosen not to be multiples of any chunk size.
    KNOWN_SIZE = 1 * MiB + 123
    CHUNKED_SIZE = 2 * MiB + 77
    IMAGE_SIZE_CAP = 4 * MiB
    OVER_CAP_SIZE = 5 * MiB + 11

    @classmethod
    def server_extra_conf(cls):
        return {'DEFAULT': {'image_size_cap': cls.IMAGE_SIZE_CAP}}

    # Backend hooks -------------------------------------------------------

    def stored_names(self):
        """Names of everything the default backend holds."""
        raise NotImplementedError()

    def stored_bytes(self, image_id):
        """The bytes the backend holds for the image, or None."""
        raise NotImplementedError()

    # Helpers -------------------------------------------------------------

    def _create(self):
        resp = self.client.create_image(name=self.id())
        self.assertEqual(201, resp.status_code, resp.text)
        image = resp.json()
        self.assertEqual('queued', image['status'])
        self.addCleanup(self.client.delete_image, image['id'])
        return image['id']

    def _check_active(self, image_id, data):
        resp = self.client.get_image(image_id)
        self.assertEqual(200, resp.status_code, resp.text)
        image = resp.json()
        self.assertEqual('active', image['status'])
        self.assertEqual(len(data), image['size'])
        self.assertEqual(hashlib.md5(data).hexdigest(), image['checksum'])
        self.assertEqual('sha512', image['os_hash_algo'])
        self.assertEqual(hashlib.sha512(data).hexdigest(),
                         image['os_hash_value'])
        return image

    def _check_download(self, image_id, data):
        resp = self.client.download(image_id)
        self.assertEqual(200, resp.status_code, resp.text[:500])
        self.assertEqual(len(data), len(resp.content))
        self.assertEqual(data, resp.content)

        first, last = 100, 1023
        resp = self.client.download(image_id, byte_range=(first, last))
        self.assertEqual(206, resp.status_code, resp.text[:500])
        self.assertEqual('bytes %d-%d/%d' % (first, last, len(data)),
                         resp.headers.get('Content-Range'))
        self.assertEqual(data[first:last + 1], resp.content)

        tail_first = len(data) - 1000
        resp = self.client.download(image_id,
                                    byte_range=(tail_first, len(data) - 1))
        self.assertEqual(206, resp.status_code, resp.text[:500])
        self.assertEqual(data[tail_first:], resp.content)

    def _check_delete(self, image_id):
        resp = self.client.delete_image(image_id)
        self.assertEqual(204, resp.status_code, resp.text)
        self.assertEqual(404, self.client.get_image(image_id).status_code)
        self.assertIsNone(self.stored_bytes(image_id))
        self.assertEqual([], [n for n in self.stored_names()
                              if image_id in n])

    def _round_trip(self, data, body, expect_chunked):
        image_id = self._create()
        before = self.stored_names()
        resp = self.client.upload(image_id, body)
        self.assertEqual(204, resp.status_code, resp.text)
        sent = resp.request.headers
        if expect_chunked:
            self.assertEqual('chunked', sent.get('Transfer-Encoding'))
            self.assertNotIn('Content-Length', sent)
        else:
            self.assertEqual(str(len(data)), sent.get('Content-Length'))

        image = self._check_active(image_id, data)
        # Exactly one new object, holding exactly the image's bytes.
        self.assertEqual(1, len(self.stored_names() - before))
        self.assertEqual(data, self.stored_bytes(image_id))
        self._check_download(image_id, data)
        return image_id, image

    # Tests ---------------------------------------------------------------

    def test_server_loads_this_library(self):
        harness.check_is_this_project(self.loaded_library)

    def test_upload_with_content_length(self):
        data = _pattern(self.KNOWN_SIZE, 1)
        image_id, image = self._round_trip(data, data, expect_chunked=False)
        self.check_image_store(image)
        self._check_delete(image_id)

    def test_chunked_upload_of_unknown_size(self):
        data = _pattern(self.CHUNKED_SIZE, 2)

        def body():
            # Irregular chunk sizes, as a client streaming a file sends.
            pos, step = 0, 1
            while pos < len(data):
                size = (37 * KiB + step * 4099) % (200 * KiB) + 1
                yield data[pos:pos + size]
                pos += size
                step += 1

        image_id, image = self._round_trip(data, body(), expect_chunked=True)
        self.check_image_store(image)
        self._check_delete(image_id)

    def test_upload_over_size_cap_leaves_nothing(self):
        # The size is unknown to Glance (chunked), so the store is already
        # writing when Glance's size-limiting reader raises: the store must
        # let the error through and remove what it wrote.
        image_id = self._create()
        before = self.stored_names()
        data = _pattern(self.OVER_CAP_SIZE, 3)

        def body():
            for pos in range(0, len(data), 64 * KiB):
                yield data[pos:pos + 64 * KiB]

        resp = self.client.upload(image_id, body())
        self.assertEqual(413, resp.status_code, resp.text)
        self.assertEqual(before, self.stored_names())
        self.assertIsNone(self.stored_bytes(image_id))
        image = self.client.get_image(image_id).json()
        self.assertEqual('queued', image['status'])
        self.assertIsNone(image['size'])

        # The image can still be uploaded afterwards.
        small = _pattern(10 * KiB + 1, 4)
        resp = self.client.upload(image_id, small)
        self.assertEqual(204, resp.status_code, resp.text)
        self._check_active(image_id, small)
        self.assertEqual(small, self.stored_bytes(image_id))
        self._check_delete(image_id)

    def check_image_store(self, image):
        """Backend-specific checks of an active image's record."""


class FileBackendMixin(object):
    """Hooks for a file backend whose directory is ``cls.datadir``."""

    datadir = None

    def stored_names(self):
        return set(os.listdir(self.datadir))

    def stored_bytes(self, image_id):
        path = os.path.join(self.datadir, image_id)
        try:
            with open(path, 'rb') as f:
                return f.read()
        except FileNotFoundError:
            return None


class TestGlanceSingleFileStore(FileBackendMixin, GlanceImageTests,
                                testtools.TestCase):

    @classmethod
    def store_config(cls, workdir):
        cls.datadir = os.path.join(workdir, 'images')
        return harness.single_store(cls.datadir)

    def check_image_store(self, image):
        self.assertNotIn('stores', image)


class TestGlanceMultiFileStore(FileBackendMixin, GlanceImageTests,
                               testtools.TestCase):

    BACKEND = 'fast'

    @classmethod
    def store_config(cls, workdir):
        cls.datadir = os.path.join(workdir, 'fast')
        return harness.multi_store(
            {cls.BACKEND: ('file', {'filesystem_store_datadir': cls.datadir,
                                    'store_description': 'Local disk'})},
            default_backend=cls.BACKEND,
            reserved_dir=os.path.join(workdir, 'reserved'))

    def check_image_store(self, image):
        self.assertEqual(self.BACKEND, image.get('stores'))

    def test_info_stores_lists_backend(self):
        resp = self.client.stores_info()
        self.assertEqual(200, resp.status_code, resp.text)
        stores = {s['id']: s for s in resp.json()['stores']}
        self.assertEqual({self.BACKEND}, set(stores))
        self.assertTrue(stores[self.BACKEND].get('default'))
        self.assertEqual('Local disk', stores[self.BACKEND]['description'])
