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

"""Glance 33 features that depend on the store library behaving as upstream.

* Image locations on http URLs in a multi-store deployment (Glance maps
  the URL to the http backend by the store's ``url_prefix``): added,
  replaced and removed through ``PATCH /v2/images/{id}``.
* ``GET /v2/info/stores/detail`` with file, http and S3 (RGW) backends:
  Glance reads store attributes per store type.
* A deployment whose only S3 backend has a region botocore refuses still
  starts and serves its file backend.
"""

import hashlib
import http.server
import os
import threading

import testtools

from glance_store.tests.functional.glance import harness
from glance_store.tests.functional.glance import mixins

KiB = 1024
MiB = 1024 * KiB


class ImageFiles(object):
    """A loopback HTTP server with a few images (GET and HEAD)."""

    def __init__(self, files):
        self.files = dict(files)
        images = self.files

        class Handler(http.server.BaseHTTPRequestHandler):

            def _head(self):
                body = images.get(self.path)
                if body is None:
                    self.send_error(404)
                    return None
                self.send_response(200)
                self.send_header('Content-Type', 'application/octet-stream')
                self.send_header('Content-Length', str(len(body)))
                self.end_headers()
                return body

            def do_HEAD(self):
                self._head()

            def do_GET(self):
                body = self._head()
                if body is not None:
                    self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(('127.0.0.1', 0),
                                                     Handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever,
                                       daemon=True)
        self.thread.start()

    def url(self, path):
        return 'http://127.0.0.1:%d%s' % (self.port, path)

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()


def _data(size, seed):
    out = bytearray()
    counter = 0
    while len(out) < size:
        out += hashlib.sha256(b'%d-%d' % (seed, counter)).digest()
        counter += 1
    return bytes(out[:size])


class TestGlanceHttpLocations(mixins.GlanceServerMixin,
                              testtools.TestCase):
    """Locations on http URLs, in a file + http multi-store deployment."""

    IMAGES = {'/one.img': _data(64 * KiB, 1),
              '/two.img': _data(64 * KiB, 1),  # same bytes, other URL
              '/three.img': _data(64 * KiB, 1)}
    files = None
    dead_port = None

    @classmethod
    def setUpClass(cls):
        cls.files = ImageFiles(cls.IMAGES)
        # Allowed by the import filter, nothing listening: unreachable.
        cls.dead_port = harness.free_port()
        try:
            super(TestGlanceHttpLocations, cls).setUpClass()
        except BaseException:
            cls.files.stop()
            raise

    @classmethod
    def tearDownClass(cls):
        try:
            super(TestGlanceHttpLocations, cls).tearDownClass()
        finally:
            cls.files.stop()

    @classmethod
    def store_config(cls, workdir):
        # Alphabetical order: see notes/tempest.md.
        return harness.multi_store(
            {'cheap': ('file', {'filesystem_store_datadir':
                                os.path.join(workdir, 'cheap')}),
             'web': ('http', {})},
            default_backend='cheap',
            reserved_dir=os.path.join(workdir, 'reserved'))

    @classmethod
    def server_extra_conf(cls):
        return {'DEFAULT': {'show_multiple_locations': True},
                # Glance 33 refuses loopback hosts and other ports than
                # 80 and 443 for http locations unless allowed here.
                # (bracketed lists: the options' own syntax).
                'import_filtering_opts': {
                    'allowed_hosts': '[127.0.0.1]',
                    'allowed_ports': '[%d,%d]' % (cls.files.port,
                                                  cls.dead_port)}}

    def _locations(self, image_id):
        resp = self.client.get_image(image_id)
        self.assertEqual(200, resp.status_code, resp.text)
        return resp.json()

    def test_add_replace_remove_http_locations(self):
        resp = self.client.create_image(name='http-location')
        self.assertEqual(201, resp.status_code, resp.text)
        image_id = resp.json()['id']
        one, two, three = (self.files.url(p) for p in
                           ('/one.img', '/two.img', '/three.img'))

        resp = self.client.patch_image(image_id, [
            {'op': 'add', 'path': '/locations/-',
             'value': {'url': one, 'metadata': {}}}])
        self.assertEqual(200, resp.status_code, resp.text)
        image = self._locations(image_id)
        self.assertEqual('active', image['status'])
        self.assertEqual(len(self.IMAGES['/one.img']), image['size'])
        self.assertEqual([(one, 'web')],
                         [(loc['url'], loc['metadata'].get('store'))
                          for loc in image['locations']])
        self.assertEqual('web', image['stores'])

        resp = self.client.download(image_id)
        self.assertEqual(200, resp.status_code, resp.text)
        self.assertEqual(self.IMAGES['/one.img'], resp.content)

        resp = self.client.patch_image(image_id, [
            {'op': 'add', 'path': '/locations/-',
             'value': {'url': two, 'metadata': {}}}])
        self.assertEqual(200, resp.status_code, resp.text)
        image = self._locations(image_id)
        self.assertEqual([(one, 'web'), (two, 'web')],
                         [(loc['url'], loc['metadata'].get('store'))
                          for loc in image['locations']])

        resp = self.client.patch_image(image_id, [
            {'op': 'remove', 'path': '/locations/0'}])
        self.assertEqual(200, resp.status_code, resp.text)
        image = self._locations(image_id)
        self.assertEqual([two], [loc['url'] for loc in image['locations']])
        resp = self.client.download(image_id)
        self.assertEqual(200, resp.status_code, resp.text)
        self.assertEqual(self.IMAGES['/two.img'], resp.content)

        # Glance replaces the locations of an image that has none.
        resp = self.client.create_image(name='http-location-replaced')
        self.assertEqual(201, resp.status_code, resp.text)
        other_id = resp.json()['id']
        resp = self.client.patch_image(other_id, [
            {'op': 'replace', 'path': '/locations',
             'value': [{'url': three, 'metadata': {}}]}])
        self.assertEqual(200, resp.status_code, resp.text)
        image = self._locations(other_id)
        self.assertEqual('active', image['status'])
        self.assertEqual([(three, 'web')],
                         [(loc['url'], loc['metadata'].get('store'))
                          for loc in image['locations']])
        resp = self.client.download(other_id)
        self.assertEqual(200, resp.status_code, resp.text)
        self.assertEqual(self.IMAGES['/three.img'], resp.content)

    def test_bad_http_locations_are_invalid(self):
        # A URL the image server does not have, and a server that cannot
        # be reached: the store raises BadStoreUri, Glance answers 400.
        for url in (self.files.url('/missing.img'),
                    'http://127.0.0.1:%d/one.img' % self.dead_port):
            resp = self.client.create_image(name='http-bad-location')
            self.assertEqual(201, resp.status_code, resp.text)
            image_id = resp.json()['id']
            resp = self.client.patch_image(image_id, [
                {'op': 'add', 'path': '/locations/-',
                 'value': {'url': url, 'metadata': {}}}])
            self.assertEqual(400, resp.status_code, resp.text)


class TestGlanceStoresDetail(mixins.RGWGlanceMixin,
                             mixins.GlanceServerMixin,
                             testtools.TestCase):
    """GET /v2/info/stores/detail with file, http and S3 backends."""

    @classmethod
    def store_config(cls, workdir):
        s3_options = mixins.rgw_store_options(cls.rgw, cls.bucket)
        s3_options['s3_store_thread_pools'] = 3
        return harness.multi_store(
            {'cheap': ('file', {'filesystem_store_datadir':
                                os.path.join(workdir, 'cheap'),
                                'filesystem_store_chunk_size': 131072,
                                'filesystem_thin_provisioning': True,
                                'store_description': 'Local disk',
                                'weight': 10}),
             'fast': ('s3', s3_options),
             'web': ('http', {'store_description': 'Web servers'})},
            default_backend='cheap',
            reserved_dir=os.path.join(workdir, 'reserved'),
            extra_sections=mixins.LOG_SECTIONS)

    def test_stores_detail(self):
        resp = self.client.stores_detail()
        self.assertEqual(200, resp.status_code, resp.text)
        stores = {s['id']: s for s in resp.json()['stores']}
        self.assertEqual({'cheap', 'fast', 'web'}, set(stores))
        cheap = stores['cheap']
        self.assertEqual('file', cheap['type'])
        self.assertEqual({'data_dir': os.path.join(self.workdir, 'cheap'),
                          'chunk_size': 131072,
                          'thin_provisioning': True}, cheap['properties'])
        self.assertEqual(10, cheap['weight'])
        self.assertEqual('Local disk', cheap['description'])
        self.assertTrue(cheap.get('default'))
        fast = stores['fast']
        self.assertEqual('s3', fast['type'])
        self.assertEqual(
            {'s3_store_large_object_size':
                mixins.THRESHOLD_MB * MiB,
             's3_store_large_object_chunk_size':
                mixins.CHUNK_MB * MiB,
             's3_store_thread_pools': 3}, fast['properties'])
        web = stores['web']
        self.assertEqual('http', web['type'])
        self.assertEqual({}, web['properties'])
        self.assertEqual('true', web.get('read-only'))
        self.assertEqual('Web servers', web['description'])


class TestGlanceBrokenS3Region(mixins.FileBackendMixin,
                               mixins.GlanceServerMixin,
                               testtools.TestCase):
    """One S3 backend botocore cannot use: the file backend still serves.

    ``s3_store_region_name = custom_region_name`` is a value upstream
    5.7.0 starts Glance with (the backend's writes are disabled).
    """

    @classmethod
    def store_config(cls, workdir):
        cls.datadir = os.path.join(workdir, 'cheap')
        return harness.multi_store(
            {'cheap': ('file', {'filesystem_store_datadir': cls.datadir}),
             'fast': ('s3', {
                 's3_store_host': 'https://127.0.0.1:9',
                 's3_store_access_key': 'AKIDEXAMPLE',
                 's3_store_secret_key': 'not-a-real-secret',
                 's3_store_bucket': 'images',
                 's3_store_region_name': 'custom_region_name'})},
            default_backend='cheap',
            reserved_dir=os.path.join(workdir, 'reserved'),
            extra_sections=mixins.LOG_SECTIONS)

    def test_file_backend_serves(self):
        resp = self.client.stores_info()
        self.assertEqual(200, resp.status_code, resp.text)
        self.assertIn('cheap', {s['id'] for s in resp.json()['stores']})
        resp = self.client.create_image(name='next-to-a-broken-s3')
        self.assertEqual(201, resp.status_code, resp.text)
        image_id = resp.json()['id']
        data = _data(100 * KiB, 7)
        resp = self.client.upload(image_id, data,
                                  headers={'X-Image-Meta-Store': 'cheap'})
        self.assertEqual(204, resp.status_code, resp.text)
        self.assertEqual(data, self.stored_bytes(image_id))
        resp = self.client.download(image_id)
        self.assertEqual(200, resp.status_code, resp.text)
        self.assertEqual(data, resp.content)
