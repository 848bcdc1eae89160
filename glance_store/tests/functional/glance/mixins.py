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

"""Shared pieces of the Glance API functional tests.

Test modules import their mixins and helpers from here, never from each
other: :class:`GlanceServerMixin` (one Glance server per test class),
:class:`GlanceImageTests` (the image life cycle, run on every backend),
:class:`FileBackendMixin`, and the RGW bucket mixins and options of the
S3 backend tests.
"""

import contextlib
import hashlib
import os
import shutil
import tempfile
import unittest

from oslo_log import _options as log_options
from testtools import content

from glance_store._drivers import s3_checksums
from glance_store.tests.functional.glance import harness
from glance_store.tests.functional import servers

import glance_wsgi  # noqa: I100,I202  (tools/, on sys.path via harness)

KiB = 1024
MiB = 1024 * KiB


def ci():
    return os.environ.get('CI', '').strip().lower() not in (
        '', '0', 'false', 'no')


def pattern(size, seed):
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
            if ci():
                raise AssertionError(msg + ' (CI is set: not skipping)')
            raise unittest.SkipTest(msg)
        cls.workdir = tempfile.mkdtemp(prefix='gs-func-glance-')
        cls.config = cls.store_config(cls.workdir)
        cls.server = harness.GlanceServer(
            cls.workdir, cls.config, extra_conf=cls.server_extra_conf())
        try:
            cls.server.start()
            cls.server.check_loaded_library(expect_ours=not os.environ.get(
                'GS_FUNC_GLANCE_ALLOW_UPSTREAM'))
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
        self.server.check_loaded_library()

    def test_upload_with_content_length(self):
        data = pattern(self.KNOWN_SIZE, 1)
        image_id, image = self._round_trip(data, data, expect_chunked=False)
        self.check_image_store(image)
        self._check_delete(image_id)

    def test_chunked_upload_of_unknown_size(self):
        data = pattern(self.CHUNKED_SIZE, 2)

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
        data = pattern(self.OVER_CAP_SIZE, 3)

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
        small = pattern(10 * KiB + 1, 4)
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


# s3_store_large_object_size and s3_store_large_object_chunk_size, in MB
# (the chunk size cannot go below S3's 5 MB minimum part size).
THRESHOLD_MB = 5
CHUNK_MB = 5
PART_SIZE = CHUNK_MB * MiB

# Settings of the process environment or of ~/.aws/config that would
# change boto3's checksum behaviour behind the configuration's back.
AWS_ENV_VARS = ('AWS_REQUEST_CHECKSUM_CALCULATION',
                'AWS_RESPONSE_CHECKSUM_VALIDATION', 'AWS_PROFILE',
                'AWS_DEFAULT_PROFILE', 'AWS_ACCESS_KEY_ID',
                'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN',
                'AWS_CA_BUNDLE')

# With debug on, botocore logs every request's parameters, image bytes
# included (tens of MB per part): keep the S3 client libraries at INFO.
LOG_LEVELS = list(log_options.DEFAULT_LOG_LEVELS) + [
    'botocore=INFO', 'boto3=INFO', 's3transfer=INFO', 'urllib3=INFO']
LOG_SECTIONS = {'DEFAULT': {'default_log_levels': LOG_LEVELS}}
# Everything at DEBUG, the S3 client libraries included: for the check
# that no key is logged (small images only: botocore logs request bodies).
DEBUG_LOG_LEVELS = list(log_options.DEFAULT_LOG_LEVELS) + [
    'botocore=DEBUG', 'boto3=DEBUG', 's3transfer=DEBUG', 'urllib3=DEBUG']
DEBUG_LOG_SECTIONS = {'DEFAULT': {'default_log_levels': DEBUG_LOG_LEVELS}}


@contextlib.contextmanager
def clean_aws_environment():
    """Start the Glance server with boto3's own defaults, then restore."""
    missing = os.path.join(tempfile.gettempdir(), 'gs-func-no-aws-config')
    changes = dict.fromkeys(AWS_ENV_VARS)
    changes['AWS_CONFIG_FILE'] = missing
    changes['AWS_SHARED_CREDENTIALS_FILE'] = missing
    saved = {name: os.environ.get(name) for name in changes}
    try:
        for name, value in changes.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def rgw_store_options(rgw, bucket, checksum_options=None):
    """``s3_store_*`` options for RGW's HTTPS endpoint."""
    options = glance_wsgi.s3_store_options(
        rgw, bucket, servers.endpoint(rgw, 'https'), rgw['ca_bundle'],
        s3_store_large_object_size=THRESHOLD_MB,
        s3_store_large_object_chunk_size=CHUNK_MB)
    options.update(checksum_options or {})
    return options


def expected_policy(checksum_options):
    """The start-up policy line the driver logs for these options."""
    opts = checksum_options or {}
    return s3_checksums.ChecksumPolicy.from_options(
        opts.get('s3_store_enable_data_integrity_protection', False),
        opts.get('s3_store_request_checksum_calculation'),
        opts.get('s3_store_response_checksum_validation'),
        opts.get('s3_store_checksum_algorithm')).describe()


class RGWBucketMixin(object):
    """An RGW bucket for one test class, and the backend hooks on it.

    ``stored_names`` lists the bucket's objects and also its open
    multipart uploads (as ``multipart-upload:KEY``), so every assertion of
    the shared tests on what the backend holds also covers orphaned
    uploads.
    """

    rgw = None
    bucket = None
    admin = None

    @classmethod
    def setup_bucket(cls):
        cls.rgw = servers.get_server('rgw')
        cls.admin = servers.client(
            cls.rgw, 'https', request_checksum_calculation='when_required',
            response_checksum_validation='when_required')
        cls.bucket = servers.unique_bucket('gs-glance')
        cls.admin.create_bucket(Bucket=cls.bucket)

    @classmethod
    def remove_bucket(cls):
        if cls.bucket is not None:
            servers.delete_bucket(cls.admin, cls.bucket)
            cls.bucket = None

    def open_uploads(self):
        return servers.list_open_uploads(self.admin, self.bucket)

    def stored_names(self):
        names = set(servers.list_keys(self.admin, self.bucket))
        names.update('multipart-upload:%s' % key
                     for key, _id in self.open_uploads())
        return names

    def stored_bytes(self, image_id):
        try:
            resp = self.admin.get_object(Bucket=self.bucket, Key=image_id)
        except self.admin.exceptions.NoSuchKey:
            return None
        return resp['Body'].read()

    def server_log(self):
        with open(self.server.log_path, 'rb') as f:
            return f.read().decode('utf-8', 'replace')

    def assertLogged(self, text, log):
        # Not assertIn: a failure message must not carry the whole log.
        if text not in log:
            self.fail('not in the Glance API log: %s' % text)

    def assertNotLogged(self, text, log):
        if text in log:
            self.fail('in the Glance API log: %s' % text)

    def etag(self, image_id):
        head = self.admin.head_object(Bucket=self.bucket, Key=image_id)
        return head['ETag'].strip('"')


class RGWGlanceMixin(RGWBucketMixin):
    """A Glance server test class whose backend is a fresh RGW bucket."""

    @classmethod
    def setUpClass(cls):
        cls.setup_bucket()
        try:
            with clean_aws_environment():
                super(RGWGlanceMixin, cls).setUpClass()
        except BaseException:
            cls.remove_bucket()
            raise

    @classmethod
    def tearDownClass(cls):
        try:
            super(RGWGlanceMixin, cls).tearDownClass()
        finally:
            cls.remove_bucket()
