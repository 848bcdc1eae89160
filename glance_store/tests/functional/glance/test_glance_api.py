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

import os

import testtools

from glance_store.tests.functional.glance import harness
from glance_store.tests.functional.glance import mixins

KiB = 1024
MiB = 1024 * KiB


class TestGlanceSingleFileStore(mixins.FileBackendMixin,
                                mixins.GlanceImageTests, testtools.TestCase):

    @classmethod
    def store_config(cls, workdir):
        cls.datadir = os.path.join(workdir, 'images')
        return harness.single_store(cls.datadir)

    def check_image_store(self, image):
        self.assertNotIn('stores', image)


class TestGlanceMultiFileStore(mixins.FileBackendMixin,
                               mixins.GlanceImageTests, testtools.TestCase):

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
