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

"""The modules of the stores not shipped import and refuse to be used."""

import importlib
import io
import sys
from unittest import mock

from oslo_config import cfg

from glance_store import exceptions
from glance_store.tests import base

MODULES = {
    'swift': 'glance_store._drivers.swift',
    'rbd': 'glance_store._drivers.rbd',
    'cinder': 'glance_store._drivers.cinder',
    'vmware': 'glance_store._drivers.vmware_datastore',
}


class TestUnavailableDrivers(base.MultiStoreBaseTest):

    def test_glance_test_base_imports(self):
        # What glance/tests/unit/base.py does at import and in setUp.
        for lib in ('swiftclient', 'rados', 'rbd', 'cinderclient',
                    'os_brick', 'oslo_vmware'):
            self.assertNotIn(lib, sys.modules)
        from glance_store._drivers import cinder
        from glance_store._drivers import rbd as rbd_store
        from glance_store._drivers import swift
        with mock.patch.object(rbd_store, 'rados', mock.MagicMock()), \
                mock.patch.object(rbd_store, 'rbd', mock.MagicMock()), \
                mock.patch.object(rbd_store.Store, 'get_connection',
                                  mock.MagicMock(), create=True), \
                mock.patch.object(cinder, 'cinderclient', mock.MagicMock()), \
                mock.patch.object(cinder.Store, 'get_cinderclient',
                                  mock.MagicMock(), create=True), \
                mock.patch.object(swift, 'swiftclient', mock.MagicMock()), \
                mock.patch.object(swift.BaseStore, 'get_store_connection',
                                  mock.MagicMock(), create=True):
            rbd_store.Store.get_connection.return_value.__enter__()
        for lib in ('swiftclient', 'rados', 'cinderclient'):
            self.assertNotIn(lib, sys.modules)

    def test_store_refuses_configuration_and_use(self):
        conf = cfg.ConfigOpts()
        for name, module_name in MODULES.items():
            module = importlib.import_module(module_name)
            store = module.Store(conf, backend='be-' + name)
            for call in (store.configure, store.configure_add,
                         store.get_schemes,
                         lambda: store.get(None),
                         lambda: store.get_size(None),
                         lambda: store.delete(None),
                         lambda: store.add('id', io.BytesIO(b'x'), 1,
                                           'md5')):
                e = self.assertRaises(exceptions.UnsupportedBackend, call)
                self.assertIn('not available in this distribution', str(e))
                self.assertIn("'%s'" % name, str(e))
                self.assertIn('be-' + name, str(e))

    def test_configured_backend_is_not_available(self):
        self.set_backends({'fast': 'rbd', 'file1': 'file'}, 'file1')
        self.config(filesystem_store_datadir=self.test_dir, group='file1')
        import glance_store as store
        self.assertEqual(1, store.create_multi_stores(self.conf))
        e = self.assertRaises(exceptions.UnknownScheme,
                              store.get_store_from_store_identifier, 'fast')
        self.assertIn('not available in this distribution', e.msg)
