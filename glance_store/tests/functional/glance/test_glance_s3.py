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

"""The real Glance API on an S3 backend: Ceph RGW over HTTPS.

Bug 2121144: with boto3 >= 1.36, Glance could no longer upload images to
Ceph RGW over HTTPS, because boto3 sent every PutObject and UploadPart as
``aws-chunked`` without Content-Length and RGW answered 411
MissingContentLength. These tests run Glance (uwsgi, sqlite, no keystone)
on this library with an ``s3`` store on RGW's HTTPS endpoint:

* with the S3 options an operator had before the bug (no checksum option
  set at all), single store: the exact scenario of the bug report;
* with ``always`` in both directions, multi store;
* with ``when_supported`` uploads (what boto3 does by default), to show
  that the set-up really reproduces the bug: Glance reports the failure,
  the log says which options to change, nothing is left in the bucket.

The multipart threshold is lowered to 5 MB, so the image sizes of the
shared tests (see mixins.GlanceImageTests) are multipart uploads,
of known size (Content-Length) and of unknown size (chunked request, which
Glance passes to the store as size 0).

RGW comes from ``tools/s3_servers.py`` (``tox -e functional-glance``
starts it); without it the tests skip, or fail when CI is set.
"""

import hashlib
import os

import testtools

from glance_store.tests.functional.glance import harness
from glance_store.tests.functional.glance import mixins

KiB = 1024
MiB = 1024 * KiB
PART_SIZE = mixins.PART_SIZE


class GlanceOnRGWTests(mixins.RGWGlanceMixin, mixins.GlanceImageTests):
    """The shared Glance image tests with multipart-sized images."""

    # Above the 5 MB threshold: multipart uploads of 3 parts, of known
    # size and of unknown size (chunked). The upload over the cap is
    # unknown-size too: parts are already written when Glance stops it.
    KNOWN_SIZE = 2 * PART_SIZE + 123
    CHUNKED_SIZE = 2 * PART_SIZE + 77 * KiB + 5
    IMAGE_SIZE_CAP = 16 * MiB
    OVER_CAP_SIZE = 17 * MiB + 11
    SMALL_SIZE = 1 * MiB + 321

    # Checksum options of the backend (none: the defaults).
    CHECKSUM_OPTIONS = {}

    def setUp(self):
        super(GlanceOnRGWTests, self).setUp()
        self.addCleanup(self._no_open_uploads_left)

    def _no_open_uploads_left(self):
        self.assertEqual([], self.open_uploads())

    def _check_download(self, image_id, data):
        super(GlanceOnRGWTests, self)._check_download(image_id, data)
        if len(data) <= PART_SIZE:
            return
        # A range across the boundary of the first two parts.
        first, last = PART_SIZE - 4 * KiB - 7, PART_SIZE + 9 * KiB
        resp = self.client.download(image_id, byte_range=(first, last))
        self.assertEqual(206, resp.status_code, resp.text[:500])
        self.assertEqual(data[first:last + 1], resp.content)

    def _check_multipart(self, image_id, size):
        # S3 and RGW give a multipart object the ETag "<md5 of the part
        # md5s>-<number of parts>". How the store cuts an image into parts
        # is its own business, within S3's rules: at least two parts here,
        # each but the last at least 5 MiB.
        etag = self.etag(image_id)
        self.assertIn('-', etag, 'not a multipart object: ETag %s' % etag)
        parts = int(etag.rsplit('-', 1)[1])
        self.assertGreaterEqual(parts, 2, etag)
        self.assertLessEqual(parts, -(-size // PART_SIZE), etag)

    def _upload_and_check(self, data, chunked):
        if chunked:
            def body():
                for pos in range(0, len(data), 61 * KiB):
                    yield data[pos:pos + 61 * KiB]
            payload = body()
        else:
            payload = data
        image_id, image = self._round_trip(data, payload,
                                           expect_chunked=chunked)
        self.check_image_store(image)
        return image_id

    # Tests on top of the shared ones ------------------------------------

    def test_driver_logs_configured_policy(self):
        # The options reached the driver in the server process.
        log = self.server_log()
        self.assertLogged(mixins.expected_policy(self.CHECKSUM_OPTIONS), log)
        self.assertNotLogged(self.rgw['secret_key'], log)

    def test_multipart_upload_with_content_length(self):
        data = mixins.pattern(self.KNOWN_SIZE, 11)
        image_id = self._upload_and_check(data, chunked=False)
        self._check_multipart(image_id, len(data))
        self._check_delete(image_id)

    def test_multipart_upload_of_unknown_size(self):
        data = mixins.pattern(self.CHUNKED_SIZE, 12)
        image_id = self._upload_and_check(data, chunked=True)
        self._check_multipart(image_id, len(data))
        self._check_delete(image_id)

    def test_small_upload_of_unknown_size(self):
        # Below the threshold: the store buffers it and sends one
        # PutObject (an ETag without part count).
        data = mixins.pattern(self.SMALL_SIZE, 13)
        image_id = self._upload_and_check(data, chunked=True)
        self.assertEqual(hashlib.md5(data).hexdigest(), self.etag(image_id))
        self._check_delete(image_id)

    def test_small_upload_with_content_length(self):
        data = mixins.pattern(self.SMALL_SIZE, 14)
        image_id = self._upload_and_check(data, chunked=False)
        self.assertEqual(hashlib.md5(data).hexdigest(), self.etag(image_id))
        self._check_delete(image_id)

    def test_empty_image(self):
        image_id = self._create()
        resp = self.client.upload(image_id, b'')
        self.assertEqual(204, resp.status_code, resp.text)
        self._check_active(image_id, b'')
        self.assertEqual(b'', self.stored_bytes(image_id))
        resp = self.client.download(image_id)
        self.assertIn(resp.status_code, (200, 204), resp.text[:500])
        self.assertEqual(b'', resp.content)
        self._check_delete(image_id)


class TestGlanceS3DefaultOptions(GlanceOnRGWTests, testtools.TestCase):
    """Single store, S3 options as before the bug, no checksum option."""

    @classmethod
    def store_config(cls, workdir):
        return harness.single_store(
            None, stores=('s3', 'http'), default_store='s3',
            options=mixins.rgw_store_options(cls.rgw, cls.bucket,
                                             cls.CHECKSUM_OPTIONS),
            extra_sections=mixins.LOG_SECTIONS)

    def check_image_store(self, image):
        self.assertNotIn('stores', image)


class TestGlanceS3AlwaysMultiStore(GlanceOnRGWTests, testtools.TestCase):
    """Multi store: an ``always``/``always`` S3 backend and a file one."""

    BACKEND = 'ceph'
    CHECKSUM_OPTIONS = {
        's3_store_enable_data_integrity_protection': True,
        's3_store_request_checksum_calculation': 'always',
        's3_store_response_checksum_validation': 'always',
    }

    @classmethod
    def store_config(cls, workdir):
        options = mixins.rgw_store_options(cls.rgw, cls.bucket,
                                           cls.CHECKSUM_OPTIONS)
        options['store_description'] = 'Ceph RGW'
        return harness.multi_store(
            {cls.BACKEND: ('s3', options),
             'local': ('file', {'filesystem_store_datadir':
                                os.path.join(workdir, 'local')})},
            default_backend=cls.BACKEND,
            reserved_dir=os.path.join(workdir, 'reserved'),
            extra_sections=mixins.LOG_SECTIONS)

    def check_image_store(self, image):
        self.assertEqual(self.BACKEND, image.get('stores'))

    def test_info_stores_lists_backends(self):
        resp = self.client.stores_info()
        self.assertEqual(200, resp.status_code, resp.text)
        stores = {s['id']: s for s in resp.json()['stores']}
        self.assertEqual({self.BACKEND, 'local'}, set(stores))
        self.assertTrue(stores[self.BACKEND].get('default'))
        self.assertEqual('Ceph RGW', stores[self.BACKEND]['description'])

    def test_download_of_object_without_stored_checksum_is_logged(self):
        # RGW 16 stores no checksum: ``always`` serves the image and says
        # in the log that it could not be checked.
        data = mixins.pattern(self.SMALL_SIZE, 15)
        image_id = self._upload_and_check(data, chunked=False)
        self.assertLogged('%s/%s has no stored checksum' % (self.bucket,
                                                            image_id),
                          self.server_log())
        self._check_delete(image_id)


class TestGlanceS3WhenSupportedReproducesBug(
        mixins.RGWGlanceMixin, mixins.GlanceServerMixin,
        testtools.TestCase):
    """Control: ``when_supported`` uploads hit bug 2121144 on RGW HTTPS.

    This is what boto3 >= 1.36 does by default; it shows that the set-up
    of the classes above would catch the bug. Glance must fail the
    upload cleanly and the store must say which options to change.
    """

    CHECKSUM_OPTIONS = {
        's3_store_enable_data_integrity_protection': True,
        's3_store_request_checksum_calculation': 'when_supported',
        's3_store_response_checksum_validation': 'when_supported',
    }

    @classmethod
    def store_config(cls, workdir):
        return harness.single_store(
            None, stores=('s3',), default_store='s3',
            options=mixins.rgw_store_options(cls.rgw, cls.bucket,
                                             cls.CHECKSUM_OPTIONS),
            extra_sections=mixins.LOG_SECTIONS)

    def _failed_upload(self, data, chunked):
        resp = self.client.create_image(name=self.id())
        self.assertEqual(201, resp.status_code, resp.text)
        image_id = resp.json()['id']
        self.addCleanup(self.client.delete_image, image_id)
        log_start = len(self.server_log())
        if chunked:
            body = iter([data[i:i + 64 * KiB]
                         for i in range(0, len(data), 64 * KiB)])
        else:
            body = data
        resp = self.client.upload(image_id, body)
        # The store's error is not one Glance maps to a 4xx answer.
        self.assertGreaterEqual(resp.status_code, 500, resp.text)
        image = self.client.get_image(image_id).json()
        self.assertEqual('queued', image['status'])
        self.assertIsNone(image['size'])
        self.assertEqual(set(), self.stored_names())
        self.assertEqual([], self.open_uploads())
        log = self.server_log()[log_start:]
        self.assertLogged('MissingContentLength', log)
        self.assertLogged('s3_store_request_checksum_calculation', log)
        self.assertNotLogged(self.rgw['secret_key'], log)

    def test_single_part_upload_fails_cleanly(self):
        self._failed_upload(
            mixins.pattern(1 * MiB + 3, 21), chunked=False)

    def test_multipart_upload_of_unknown_size_fails_cleanly(self):
        self._failed_upload(
            mixins.pattern(2 * PART_SIZE + 9, 22), chunked=True)


class TestGlanceS3DebugLogsHoldNoKey(
        mixins.RGWGlanceMixin, mixins.GlanceServerMixin,
        testtools.TestCase):
    """A DEBUG capture of add, get and delete through Glance's API.

    botocore logs the Authorization header of every request at DEBUG
    (``Credential=<access key>/...``): the Glance API log, with every
    logger at DEBUG, must hold neither the access key nor the secret key.
    """

    @classmethod
    def store_config(cls, workdir):
        return harness.single_store(
            None, stores=('s3',), default_store='s3',
            options=mixins.rgw_store_options(cls.rgw, cls.bucket),
            extra_sections=mixins.DEBUG_LOG_SECTIONS)

    def test_add_get_delete_log_no_key(self):
        data = mixins.pattern(64 * KiB + 5, 31)
        resp = self.client.create_image(name=self.id())
        self.assertEqual(201, resp.status_code, resp.text)
        image_id = resp.json()['id']
        self.addCleanup(self.client.delete_image, image_id)
        resp = self.client.upload(image_id, data)
        self.assertEqual(204, resp.status_code, resp.text)
        resp = self.client.download(image_id)
        self.assertEqual(200, resp.status_code, resp.text[:500])
        self.assertEqual(data, resp.content)
        resp = self.client.delete_image(image_id)
        self.assertEqual(204, resp.status_code, resp.text)
        self.assertEqual(set(), self.stored_names())
        log = self.server_log()
        # The capture saw botocore's signed requests and urllib3 ...
        self.assertLogged('Credential=***/', log)
        self.assertLogged('urllib3.connectionpool', log)
        # ... and neither key.
        self.assertNotLogged(self.rgw['access_key'], log)
        self.assertNotLogged(self.rgw['secret_key'], log)
