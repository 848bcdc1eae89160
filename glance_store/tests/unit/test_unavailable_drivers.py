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
import os
import sys
import textwrap
from unittest import mock

from oslo_config import cfg

from glance_store._drivers import _unavailable
from glance_store import backend
from glance_store import exceptions
from glance_store import multi_backend
from glance_store.tests import base

MODULES = {
    'swift': 'glance_store._drivers.swift',
    'rbd': 'glance_store._drivers.rbd',
    'cinder': 'glance_store._drivers.cinder',
    'vmware': 'glance_store._drivers.vmware_datastore',
}

# Upstream glance_store 5.7.0's options of these stores, in its order:
# (name, oslo.config class, default).
UPSTREAM_OPTS = {
    'cinder': [
        ('cinder_catalog_info', 'StrOpt', 'volumev3::publicURL'),
        ('cinder_endpoint_template', 'StrOpt', None),
        ('cinder_os_region_name', 'StrOpt', None),
        ('cinder_ca_certificates_file', 'StrOpt', None),
        ('cinder_http_retries', 'IntOpt', 3),
        ('cinder_state_transition_timeout', 'IntOpt', 300),
        ('cinder_api_insecure', 'BoolOpt', False),
        ('cinder_store_auth_address', 'StrOpt', None),
        ('cinder_store_user_name', 'StrOpt', None),
        ('cinder_store_user_domain_name', 'StrOpt', 'Default'),
        ('cinder_store_password', 'StrOpt', None),
        ('cinder_store_application_credential_id', 'StrOpt', None),
        ('cinder_store_application_credential_secret', 'StrOpt', None),
        ('cinder_store_project_name', 'StrOpt', None),
        ('cinder_store_project_domain_name', 'StrOpt', 'Default'),
        ('rootwrap_config', 'StrOpt', '/etc/glance/rootwrap.conf'),
        ('cinder_volume_type', 'StrOpt', None),
        ('cinder_enforce_multipath', 'BoolOpt', False),
        ('cinder_use_multipath', 'BoolOpt', False),
        ('cinder_mount_point_base', 'StrOpt', '/var/lib/glance/mnt'),
        ('cinder_do_extend_attached', 'BoolOpt', False),
        ('cinder_attachment_retry_attempts', 'IntOpt', 5),
    ],
    'rbd': [
        ('rbd_store_chunk_size', 'IntOpt', 8),
        ('rbd_store_pool', 'StrOpt', 'images'),
        ('rbd_store_user', 'StrOpt', None),
        ('rbd_store_ceph_conf', 'StrOpt', ''),
        ('rados_connect_timeout', 'IntOpt', -1),
        ('rbd_thin_provisioning', 'BoolOpt', False),
    ],
    'swift': [
        ('swift_store_auth_insecure', 'BoolOpt', False),
        ('swift_store_cacert', 'StrOpt', None),
        ('swift_store_region', 'StrOpt', None),
        ('swift_store_endpoint', 'StrOpt', None),
        ('swift_store_endpoint_type', 'StrOpt', 'publicURL'),
        ('swift_store_service_type', 'StrOpt', 'object-store'),
        ('swift_store_container', 'StrOpt', 'glance'),
        ('swift_store_large_object_size', 'IntOpt', 5120),
        ('swift_store_large_object_chunk_size', 'IntOpt', 200),
        ('swift_store_create_container_on_put', 'BoolOpt', False),
        ('swift_store_multi_tenant', 'BoolOpt', False),
        ('swift_store_multiple_containers_seed', 'IntOpt', 0),
        ('swift_store_admin_tenants', 'ListOpt', []),
        ('swift_store_ssl_compression', 'BoolOpt', True),
        ('swift_store_retry_get_count', 'IntOpt', 0),
        ('swift_store_expire_soon_interval', 'IntOpt', 60),
        ('swift_store_use_trusts', 'BoolOpt', True),
        ('swift_buffer_on_upload', 'BoolOpt', False),
        ('default_swift_reference', 'StrOpt', 'ref1'),
        ('swift_store_auth_version', 'StrOpt', '3'),
        ('swift_store_auth_address', 'StrOpt', None),
        ('swift_store_user', 'StrOpt', None),
        ('swift_store_key', 'StrOpt', None),
        ('swift_store_application_credential_id', 'StrOpt', None),
        ('swift_store_application_credential_secret', 'StrOpt', None),
        ('swift_store_project_name', 'StrOpt', None),
        ('swift_store_project_id', 'StrOpt', None),
        ('swift_store_config_file', 'StrOpt', None),
        ('swift_upload_buffer_dir', 'StrOpt', None),
    ],
    'vmware': [
        ('vmware_server_host', 'HostAddressOpt', None),
        ('vmware_server_username', 'StrOpt', None),
        ('vmware_server_password', 'StrOpt', None),
        ('vmware_api_retry_count', 'IntOpt', 10),
        ('vmware_task_poll_interval', 'IntOpt', 5),
        ('vmware_store_image_dir', 'StrOpt', '/openstack_glance'),
        ('vmware_insecure', 'BoolOpt', False),
        ('vmware_ca_file', 'StrOpt', None),
        ('vmware_datastores', 'MultiStrOpt', None),
    ],
}

# What Glance 33's unit test base configures (glance/tests/unit/base.py).
GLANCE_TEST_BACKENDS = {'fast': 'file', 'cheap': 'file',
                        'readonly_store': 'http', 'fast-cinder': 'cinder',
                        'fast-rbd': 'rbd', 'reliable': 'swift'}


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


class TestStandInOptions(base.MultiStoreBaseTest):
    """The stand-ins declare upstream's options; nothing reads them."""

    def _module(self, store_type):
        return importlib.import_module(MODULES[store_type])

    def test_upstream_names_types_and_defaults(self):
        self.assertEqual(sorted(UPSTREAM_OPTS), sorted(MODULES))
        for store_type, expected in UPSTREAM_OPTS.items():
            opts = self._module(store_type).Store.OPTIONS
            self.assertEqual(
                expected,
                [(o.name, type(o).__name__, o.default) for o in opts],
                store_type)
            for opt in opts:
                self.assertIn('not ship', opt.help)

    def test_upstream_constraints(self):
        opts = {o.name: o for name in MODULES
                for o in self._module(name).Store.OPTIONS}
        for name in ('rbd_store_chunk_size', 'swift_store_large_object_size',
                     'vmware_api_retry_count',
                     'cinder_attachment_retry_attempts'):
            self.assertEqual(1, opts[name].type.min, name)
        self.assertEqual(32, opts['swift_store_multiple_containers_seed']
                         .type.max)
        self.assertEqual(['publicURL', 'adminURL', 'internalURL'],
                         list(opts['swift_store_endpoint_type'].type.choices))
        for name in ('swift_store_user', 'swift_store_key',
                     'cinder_store_password', 'vmware_server_password',
                     'swift_store_application_credential_secret',
                     'cinder_store_application_credential_secret'):
            self.assertTrue(opts[name].secret, name)
        self.assertEqual(
            ['os_region_name'],
            [d.name for d in opts['cinder_os_region_name'].deprecated_opts])
        self.assertEqual(
            ['vmware_api_insecure'],
            [d.name for d in opts['vmware_insecure'].deprecated_opts])
        self.assertTrue(opts['swift_store_auth_address']
                        .deprecated_for_removal)

    def test_every_swift_class_declares_them(self):
        swift = self._module('swift')
        for cls in (swift.Store, swift.BaseStore, swift.SingleTenantStore,
                    swift.MultiTenantStore):
            self.assertEqual([o.name for o in swift.Store.OPTIONS],
                             [o.name for o in cls.OPTIONS])

    def test_glance_test_base_configuration(self):
        # The values Glance's unit test base sets, in the stand-ins'
        # groups: before, [fast-rbd] did not exist (NoSuchGroupError).
        self.set_backends(GLANCE_TEST_BACKENDS, 'fast')
        self.config(rbd_store_chunk_size=8688388, rbd_store_pool='images',
                    rbd_thin_provisioning=False, group='fast-rbd')
        self.config(cinder_volume_type='lvmdriver-1',
                    cinder_use_multipath=False, group='fast-cinder')
        self.config(swift_store_container='glance',
                    swift_store_large_object_size=524288000,
                    swift_store_large_object_chunk_size=204800000,
                    group='reliable')
        for group in ('fast', 'cheap'):
            self.config(filesystem_store_datadir=self.test_dir, group=group)
        self.assertEqual(8688388, self.conf['fast-rbd'].rbd_store_chunk_size)
        self.assertEqual('ref1', self.conf.reliable.default_swift_reference)
        # Glance's discovery API reads these of a swift backend.
        self.assertIsNone(self.conf.reliable.swift_store_config_file)
        self.assertFalse(self.conf.reliable.swift_store_multi_tenant)
        self.assertEqual(0, self.conf['fast-cinder'].weight)
        self.assertEqual(3, multi_backend.create_multi_stores(self.conf))
        for name in ('fast-rbd', 'fast-cinder', 'reliable'):
            e = self.assertRaises(
                exceptions.UnknownScheme,
                multi_backend.get_store_from_store_identifier, name)
            self.assertIn('not available in this distribution', e.msg)

    def test_operators_file_with_other_stores_options(self):
        path = os.path.join(self.test_dir, 'glance-api.conf')
        with open(path, 'w') as f:
            f.write(textwrap.dedent("""
                [DEFAULT]
                enabled_backends = images:file, ceph:rbd, old:vmware
                [glance_store]
                default_backend = images
                [images]
                filesystem_store_datadir = %s
                [ceph]
                rbd_store_pool = glance-images
                rbd_store_chunk_size = 4
                [old]
                vmware_datastores = dc1:ds1:100
                vmware_datastores = dc1:ds2:200
                vmware_api_insecure = true
                """ % self.test_dir))
        conf = cfg.ConfigOpts()
        conf.register_opt(cfg.DictOpt('enabled_backends'))
        conf(['--config-file', path], project='test')
        multi_backend.register_store_opts(conf)
        self.assertEqual('glance-images', conf.ceph.rbd_store_pool)
        self.assertEqual(4, conf.ceph.rbd_store_chunk_size)
        self.assertEqual(['dc1:ds1:100', 'dc1:ds2:200'],
                         conf.old.vmware_datastores)
        self.assertTrue(conf.old.vmware_insecure)
        self.assertEqual(1, multi_backend.create_multi_stores(conf))

    def test_single_store_registers_them(self):
        conf = cfg.ConfigOpts()
        backend.register_opts(conf)
        self.assertEqual('glance', conf.glance_store.swift_store_container)
        self.assertEqual('images', conf.glance_store.rbd_store_pool)
        self.assertEqual('Default',
                         conf.glance_store.cinder_store_user_domain_name)
        self.assertEqual(10, conf.glance_store.vmware_api_retry_count)

    def test_help_names_the_store(self):
        text = _unavailable.ignored_option_help('rbd', 'Pool.')
        self.assertTrue(text.startswith('Pool. '))
        self.assertIn('rbd store', text)
        self.assertIn('ignored', text)
