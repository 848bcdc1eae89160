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

"""End-to-end scenarios for every S3 backend a Glance deployment lists.

The backends come from ``GET /v2/info/stores/detail``: every store whose
type is in ``[glance_store_tests] store_types``. Each test runs its
scenario once per such backend, records the outcome of each backend as a
``backend-<id>`` detail of the test, and fails naming every backend that
failed. Sizes are chosen around ``[glance_store_tests]
large_object_size`` so that one image is a single PutObject and another a
multipart upload.
"""

import hashlib
import io
import json
import time
import traceback

from tempest.api.image import base
from tempest import config
from tempest.lib.common.utils import data_utils
from tempest.lib.common.utils import test_utils
from tempest.lib import decorators
from tempest.lib import exceptions as lib_exc
from testtools import content

CONF = config.CONF

# Glance's reserved stores are not listed by /v2/info/stores; the http
# store is read-only and cannot receive uploads or copies.
READ_ONLY_TYPES = ('http',)


def _pattern(size, seed):
    """Deterministic, non-repeating-looking bytes of the given size."""
    block = hashlib.sha512(seed.encode()).digest() * 64  # 4 KiB
    out = io.BytesIO()
    counter = 0
    while out.tell() < size:
        out.write(hashlib.sha256(b'%d' % counter).digest())
        out.write(block)
        counter += 1
    return out.getvalue()[:size]


def _chunks(data, size=64 * 1024):
    for start in range(0, len(data), size):
        yield data[start:start + size]


class S3StoreScenarios(base.BaseV2ImageAdminTest):
    """Upload, import, copy, download and delete on each S3 backend."""

    @classmethod
    def skip_checks(cls):
        super().skip_checks()
        if not CONF.image_feature_enabled.import_image:
            raise cls.skipException('image import is disabled')

    @classmethod
    def resource_setup(cls):
        super().resource_setup()
        cls.listed = cls.admin_client.info_stores()['stores']
        cls.detail_error = None
        try:
            stores = cls._stores_detail()
        except lib_exc.ServerFault as e:
            # Keep going with the configured ids so that the scenarios
            # still run; test_stores_detail reports the error.
            cls.detail_error = e
            types = CONF.glance_store_tests.fallback_store_types
            stores = [dict(s, type=types.get(s['id'])) for s in cls.listed]
        types = CONF.glance_store_tests.store_types
        cls.stores = {s['id']: s.get('type') for s in stores}
        cls.s3_backends = sorted(s['id'] for s in stores
                                 if s.get('type') in types)
        cls.writable = sorted(s['id'] for s in stores
                              if s.get('type') not in READ_ONLY_TYPES)
        if not cls.s3_backends:
            raise cls.skipException('no store of type %s in %s'
                                    % (', '.join(types),
                                       sorted(cls.stores)))
        threshold = CONF.glance_store_tests.large_object_size
        # One PutObject, and a multipart upload of two parts whose last
        # one is short.
        cls.small_size = threshold // 4 + 3
        cls.large_size = threshold + threshold // 3 + 7

    @classmethod
    def _stores_detail(cls):
        _resp, body = cls.admin_client.get('info/stores/detail')
        return json.loads(body)['stores']

    # --- helpers ---

    def for_each_backend(self, scenario):
        """Run scenario(backend) for every S3 backend; report each one."""
        failed = []
        for backend in self.s3_backends:
            t0 = time.monotonic()
            try:
                scenario(backend)
            except Exception:
                failed.append(backend)
                outcome = 'FAILED\n' + traceback.format_exc()
            else:
                outcome = 'ok (%.1f s)' % (time.monotonic() - t0)
            self.addDetail('backend-%s' % backend,
                           content.text_content(outcome))
        if failed:
            self.fail('failed on %s (see the backend-* details)'
                      % ', '.join(failed))

    def new_image(self, backend, what):
        image = self.admin_client.create_image(
            name=data_utils.rand_name('gs-%s-%s' % (backend, what)),
            container_format='bare', disk_format='raw')
        self.addCleanup(test_utils.call_and_ignore_notfound_exc,
                        self.admin_client.delete_image, image['id'])
        return image['id']

    def upload(self, image_id, data, backend, chunked):
        """PUT the data, with a Content-Length or chunked (no size)."""
        headers = {'Content-Type': 'application/octet-stream',
                   'X-Image-Meta-Store': backend}
        url = 'images/%s/file' % image_id
        if chunked:
            resp, _body = self.admin_client.request(
                'PUT', url, headers=headers, body=_chunks(data),
                chunked=True)
        else:
            headers['Content-Length'] = str(len(data))
            resp, _body = self.admin_client.request(
                'PUT', url, headers=headers, body=data)
        self.assertEqual(204, resp.status)

    def wait_for_stores(self, image_id, expected):
        """Poll the image until its stores are expected (a set)."""
        deadline = time.monotonic() + CONF.glance_store_tests.copy_timeout
        while True:
            image = self.admin_client.show_image(image_id)
            stores = set(filter(None, image.get('stores', '').split(',')))
            failed = image.get('os_glance_failed_import')
            if failed:
                self.fail('import to %s failed (image %s, stores %s)'
                          % (failed, image_id, sorted(stores)))
            if (stores == set(expected) and image['status'] == 'active'
                    and not image.get('os_glance_importing_to_stores')):
                return image
            if time.monotonic() > deadline:
                self.fail('image %s reached stores %s, not %s, in %ss'
                          % (image_id, sorted(stores), sorted(expected),
                             CONF.glance_store_tests.copy_timeout))
            time.sleep(1)

    def check_image(self, image_id, data, stores):
        """Metadata against what was sent; whole and ranged downloads."""
        image = self.wait_for_stores(image_id, stores)
        self.assertEqual(len(data), image['size'])
        self.assertEqual(hashlib.md5(data).hexdigest(), image['checksum'])
        algo = image['os_hash_algo']
        self.assertEqual(hashlib.new(algo, data).hexdigest(),
                         image['os_hash_value'])
        self.check_download(image_id, data)
        return image

    def check_download(self, image_id, data):
        body = self.admin_client.show_image_file(image_id)
        self.assertEqual(len(data), len(body.data))
        self.assertEqual(hashlib.sha256(data).hexdigest(),
                         hashlib.sha256(body.data).hexdigest())
        threshold = CONF.glance_store_tests.large_object_size
        ranges = [(0, 99), (len(data) // 2, len(data) - 1)]
        if len(data) > threshold + 100:
            ranges.append((threshold - 50, threshold + 49))
        for first, last in ranges:
            resp, got = self.admin_client.get(
                'images/%s/file' % image_id,
                headers={'Range': 'bytes=%d-%d' % (first, last)})
            self.assertEqual(206, resp.status)
            self.assertEqual(data[first:last + 1], got,
                             'bytes %d-%d differ' % (first, last))

    def assert_deleted(self, image_id):
        self.admin_client.delete_image(image_id)
        self.admin_client.wait_for_resource_deletion(image_id)
        self.assertRaises(lib_exc.NotFound, self.admin_client.show_image,
                          image_id)

    # --- scenarios ---

    @decorators.idempotent_id('0f0b6f3e-4b1a-4d55-9f3c-1c7d1a2b3c00')
    def test_stores_detail(self):
        """Every listed store has its type and properties in the detail."""
        if self.detail_error is not None:
            raise self.detail_error
        detail = {s['id']: s for s in self._stores_detail()}
        self.assertEqual(sorted(s['id'] for s in self.listed),
                         sorted(detail))
        for store_id in self.s3_backends:
            props = detail[store_id]['properties']
            self.assertEqual(CONF.glance_store_tests.large_object_size,
                             props['s3_store_large_object_size'])

    def _upload_scenario(self, size, chunked):
        def scenario(backend):
            data = _pattern(size, backend)
            image_id = self.new_image(backend, 'upload')
            self.upload(image_id, data, backend, chunked)
            self.check_image(image_id, data, {backend})
            self.assert_deleted(image_id)
        self.for_each_backend(scenario)

    @decorators.idempotent_id('0f0b6f3e-4b1a-4d55-9f3c-1c7d1a2b3c01')
    def test_upload_sized_below_threshold(self):
        self._upload_scenario(self.small_size, chunked=False)

    @decorators.idempotent_id('0f0b6f3e-4b1a-4d55-9f3c-1c7d1a2b3c02')
    def test_upload_chunked_below_threshold(self):
        self._upload_scenario(self.small_size, chunked=True)

    @decorators.idempotent_id('0f0b6f3e-4b1a-4d55-9f3c-1c7d1a2b3c03')
    def test_upload_sized_multipart(self):
        self._upload_scenario(self.large_size, chunked=False)

    @decorators.idempotent_id('0f0b6f3e-4b1a-4d55-9f3c-1c7d1a2b3c04')
    def test_upload_chunked_multipart(self):
        self._upload_scenario(self.large_size, chunked=True)

    @decorators.idempotent_id('0f0b6f3e-4b1a-4d55-9f3c-1c7d1a2b3c05')
    def test_glance_direct_import(self):
        def scenario(backend):
            data = _pattern(self.large_size, 'import-' + backend)
            image_id = self.new_image(backend, 'import')
            self.admin_client.stage_image_file(image_id, io.BytesIO(data))
            self.admin_client.image_import(
                image_id, method='glance-direct', all_stores=False,
                stores=[backend])
            self.check_image(image_id, data, {backend})
            self.assert_deleted(image_id)
        self.for_each_backend(scenario)

    @decorators.idempotent_id('0f0b6f3e-4b1a-4d55-9f3c-1c7d1a2b3c06')
    def test_copy_to_every_store_then_delete_store_by_store(self):
        def scenario(backend):
            data = _pattern(self.large_size, 'copy-' + backend)
            image_id = self.new_image(backend, 'copy')
            self.upload(image_id, data, backend, chunked=False)
            self.check_image(image_id, data, {backend})
            others = [s for s in self.writable if s != backend]
            self.admin_client.image_import(
                image_id, method='copy-image', all_stores=False,
                stores=others, all_stores_must_succeed=True)
            remaining = set(self.writable)
            self.check_image(image_id, data, remaining)
            # Drop the source store first, then the others one by one:
            # after each deletion the stores left keep serving the image.
            for store in [backend] + others[:-1]:
                self.admin_client.delete_image_from_store(image_id, store)
                remaining.discard(store)
                self.check_image(image_id, data, remaining)
            self.assert_deleted(image_id)
        self.for_each_backend(scenario)

    @decorators.idempotent_id('0f0b6f3e-4b1a-4d55-9f3c-1c7d1a2b3c07')
    def test_copy_to_every_store_then_delete_everywhere(self):
        def scenario(backend):
            data = _pattern(self.small_size, 'everywhere-' + backend)
            image_id = self.new_image(backend, 'everywhere')
            self.upload(image_id, data, backend, chunked=True)
            others = [s for s in self.writable if s != backend]
            self.wait_for_stores(image_id, {backend})
            self.admin_client.image_import(
                image_id, method='copy-image', all_stores=True,
                all_stores_must_succeed=True)
            self.check_image(image_id, data, set(self.writable))
            self.assertEqual(len(others) + 1, len(self.writable))
            self.assert_deleted(image_id)
        self.for_each_backend(scenario)
