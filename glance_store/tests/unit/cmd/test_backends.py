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

"""Unit tests of glance_store.cmd.s3_check.backends."""

import os
import textwrap

import fixtures
from oslo_config import cfg
from oslotest import base

from glance_store.cmd.s3_check import backends
from glance_store.cmd.s3_check import model


class TestFindS3Backends(base.BaseTestCase):

    def setUp(self):
        super().setUp()
        self.tmp = self.useFixture(fixtures.TempDir()).path

    def conf(self, text):
        path = os.path.join(self.tmp, 'glance-api.conf')
        with open(path, 'w') as f:
            f.write(textwrap.dedent(text))
        conf = cfg.ConfigOpts()
        conf([], project='glance', default_config_files=[path],
             default_config_dirs=[])
        return conf

    def multi(self):
        return self.conf("""
            [DEFAULT]
            enabled_backends = local:file, one:s3, two:glance.store.s3.Store
            """)

    def test_every_s3_backend(self):
        self.assertEqual(['one', 'two'],
                         backends.find_s3_backends(self.multi()))

    def test_one_backend(self):
        self.assertEqual(['two'],
                         backends.find_s3_backends(self.multi(), 'two'))

    def test_unknown_backend(self):
        e = self.assertRaises(model.ConfigError, backends.find_s3_backends,
                              self.multi(), 'other')
        self.assertEqual('unknown backend other: enabled_backends has '
                         'local, one, two', str(e))

    def test_not_an_s3_backend(self):
        e = self.assertRaises(model.ConfigError, backends.find_s3_backends,
                              self.multi(), 'local')
        self.assertIn('backend local is a file store, not an S3 one',
                      str(e))

    def test_no_s3_backend_multi(self):
        conf = self.conf("""
            [DEFAULT]
            enabled_backends = local:file
            """)
        e = self.assertRaises(model.ConfigError, backends.find_s3_backends,
                              conf)
        self.assertIn('no S3 backend: enabled_backends (local:file)', str(e))

    def test_single_store(self):
        conf = self.conf("""
            [glance_store]
            stores = file, s3
            default_store = file
            """)
        self.assertEqual([None], backends.find_s3_backends(conf))
        self.assertEqual([None], backends.find_s3_backends(
            conf, 'glance_store'))
        e = self.assertRaises(model.ConfigError, backends.find_s3_backends,
                              conf, 'objects')
        self.assertIn('single-store configuration', str(e))

    def test_single_store_default_store_only(self):
        conf = self.conf("""
            [glance_store]
            default_store = s3
            """)
        self.assertEqual([None], backends.find_s3_backends(conf))

    def test_no_s3_backend_single(self):
        conf = self.conf("""
            [glance_store]
            stores = file, http
            default_store = file
            """)
        e = self.assertRaises(model.ConfigError, backends.find_s3_backends,
                              conf)
        self.assertIn('[glance_store] has no s3 store (stores = file, '
                      'http, default_store = file)', str(e))
