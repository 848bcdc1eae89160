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

"""What Glance 33 reads on the stores, as Glance reads it.

``GET /v2/info/stores/detail`` (glance/api/v2/discovery.py) calls
``get_store_from_store_identifier(id)`` for each enabled backend and reads
per store type: file ``datadir``, ``chunk_size``, ``thin_provisioning``;
s3 ``s3_store_large_object_size``, ``s3_store_large_object_chunk_size``,
``s3_store_thread_pools``; http nothing; then ``CONF.<id>.weight`` and
``store_description``.  glance/common/store_utils.py maps a location URI
to its backend with ``SCHEME_TO_CLS_BACKEND_MAP[scheme][id]['store']
.url_prefix``.
"""

import os
import urllib.parse

from oslo_utils import units

import glance_store as store
from glance_store.tests import base

RESERVED = {'os_glance_staging_store': 'file',
            'os_glance_tasks_store': 'file'}


def _file_properties(detail):
    return {'data_dir': detail.datadir, 'chunk_size': detail.chunk_size,
            'thin_provisioning': detail.thin_provisioning}


def _s3_properties(detail):
    return {
        's3_store_large_object_size': detail.s3_store_large_object_size,
        's3_store_large_object_chunk_size':
            detail.s3_store_large_object_chunk_size,
        's3_store_thread_pools': detail.s3_store_thread_pools}


PROPERTIES = {'file': _file_properties, 's3': _s3_properties,
              'http': lambda detail: {}}


def glance_store_id_from_uri(uri):
    """glance.common.store_utils._get_store_id_from_uri, restated."""
    scheme = urllib.parse.urlparse(uri).scheme
    backends = store.location.SCHEME_TO_CLS_BACKEND_MAP.get(scheme, {})
    for backend_id, info in backends.items():
        prefix = info['store'].url_prefix
        if prefix and uri.startswith(prefix):
            return backend_id
    return None


class TestStoresDetail(base.MultiStoreBaseTest):

    def setUp(self):
        super().setUp()
        self.images = os.path.join(self.test_dir, 'images')
        sections = {
            'DEFAULT': {'enabled_backends':
                        'cheap:file, fast:s3, web:http'},
            'glance_store': {'default_backend': 'cheap'},
            'os_glance_staging_store': {
                'filesystem_store_datadir':
                    os.path.join(self.test_dir, 'staging')},
            'os_glance_tasks_store': {
                'filesystem_store_datadir':
                    os.path.join(self.test_dir, 'tasks')},
            'backend_defaults': {'filesystem_store_chunk_size': '131072'},
            'cheap': {'filesystem_store_datadir': self.images,
                      'filesystem_thin_provisioning': 'True',
                      'store_description': 'Local disk', 'weight': '5'},
            'fast': {'s3_store_host': 'http://127.0.0.1:9',
                     's3_store_access_key': 'AKIDEXAMPLE',
                     's3_store_secret_key': 'not-a-real-secret',
                     's3_store_bucket': 'images',
                     's3_store_large_object_size': '50',
                     's3_store_large_object_chunk_size': '8',
                     's3_store_thread_pools': '4'},
            'web': {},
        }
        path = os.path.join(self.test_dir, 'glance-api.conf')
        with open(path, 'w') as f:
            for name, values in sections.items():
                f.write('[%s]\n' % name)
                for key, value in values.items():
                    f.write('%s = %s\n' % (key, value))
        self.conf(['--config-file', path], project='glance',
                  default_config_files=[])
        self.addCleanup(self.conf.clear)
        store.register_store_opts(self.conf, reserved_stores=RESERVED)
        store.create_multi_stores(self.conf, reserved_stores=RESERVED)

    def test_stores_detail_properties(self):
        details = {}
        for backend_id, store_type in self.conf.enabled_backends.items():
            detail = store.get_store_from_store_identifier(backend_id)
            details[backend_id] = {
                'type': store_type,
                'properties': PROPERTIES[store_type](detail),
                'weight': getattr(self.conf, backend_id).weight,
                'description': getattr(self.conf,
                                       backend_id).store_description}
        self.assertEqual(
            {'data_dir': self.images, 'chunk_size': 131072,
             'thin_provisioning': True}, details['cheap']['properties'])
        self.assertEqual(5, details['cheap']['weight'])
        self.assertEqual('Local disk', details['cheap']['description'])
        self.assertEqual(
            {'s3_store_large_object_size': 50 * units.Mi,
             's3_store_large_object_chunk_size': 8 * units.Mi,
             's3_store_thread_pools': 4}, details['fast']['properties'])
        self.assertEqual({}, details['web']['properties'])
        self.assertEqual(0, details['web']['weight'])

    def test_file_store_defaults(self):
        detail = store.get_store_from_store_identifier(
            'os_glance_staging_store')
        self.assertEqual(os.path.join(self.test_dir, 'staging'),
                         detail.datadir)
        self.assertEqual(131072, detail.chunk_size)
        self.assertFalse(detail.thin_provisioning)

    def test_locations_map_to_their_backend(self):
        cases = {
            'file://%s/some-image' % self.images: 'cheap',
            'http://images.example.com/a.img': 'web',
            'https://images.example.com/a.img': 'web',
            'ftp://images.example.com/a.img': None,
        }
        found = {uri: glance_store_id_from_uri(uri) for uri in cases}
        self.assertEqual(cases, found)

    def test_every_store_has_a_url_prefix(self):
        for backend_id in list(self.conf.enabled_backends) + list(RESERVED):
            detail = store.get_store_from_store_identifier(backend_id)
            self.assertTrue(detail.url_prefix, backend_id)
