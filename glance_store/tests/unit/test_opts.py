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

"""The oslo.config.opts entry points, loaded the way the generator does.

Entry points come from the project's setup.cfg (not from whatever is
installed), so the tests check what this tree declares.
"""

import importlib
import io

from oslo_config import cfg
from oslo_config import generator
from oslotest import base

from glance_store.tests import fakes

CORE_SINGLE = ['stores', 'default_store',
               'store_capabilities_update_min_interval']
CORE_MULTI = ['default_backend', 'store_capabilities_update_min_interval']
COMMON_BACKEND = ['store_description', 'weight']
FILE_OPTS = ['filesystem_store_datadir', 'filesystem_store_datadirs',
             'filesystem_store_metadata_file', 'filesystem_store_file_perm',
             'filesystem_store_chunk_size', 'filesystem_thin_provisioning',
             'filesystem_store_timeout', 'filesystem_store_thread_pool_size',
             'filesystem_store_threadpool_threshold']
HTTP_OPTS = ['https_ca_certificates_file', 'https_insecure',
             'http_proxy_information', 'http_store_read_timeout']
S3_OPTS = ['s3_store_host', 's3_store_region_name', 's3_store_access_key',
           's3_store_secret_key', 's3_store_bucket',
           's3_store_create_bucket_on_put', 's3_store_bucket_url_format',
           's3_store_large_object_size', 's3_store_large_object_chunk_size',
           's3_store_thread_pools', 's3_store_cacert']
S3_CHECKSUM_OPTS = ['s3_store_enable_data_integrity_protection',
                    's3_store_request_checksum_calculation',
                    's3_store_response_checksum_validation',
                    's3_store_checksum_algorithm',
                    's3_store_check_stale_uploads']
S3_TRANSPORT_OPTS = ['s3_store_http_proxy', 's3_store_https_proxy',
                     's3_store_connect_timeout', 's3_store_read_timeout',
                     's3_store_retry_max_attempts', 's3_store_retry_mode']

# The stand-ins of the stores not shipped list upstream's options (their
# names are checked in test_unavailable_drivers).
STAND_INS = ('cinder', 'rbd', 'swift', 'vmware')


def stand_in_opts(store_type):
    module = {'vmware': 'vmware_datastore'}.get(store_type, store_type)
    store = importlib.import_module('glance_store._drivers.' + module).Store
    return [opt.name for opt in store.OPTIONS]


class TestOptsEntryPoints(base.BaseTestCase):

    def setUp(self):
        super().setUp()
        self.entry_points = fakes.setup_cfg_entry_points()
        self.useFixture(fakes.EntryPoints(self.entry_points))

    def _list(self, namespace):
        [(ns, groups)] = generator._list_opts([namespace])
        self.assertEqual(namespace, ns)
        return [(group, [opt.name for opt in opts])
                for group, opts in groups], groups

    def test_setup_cfg_declares_them(self):
        self.assertEqual(
            {'glance.store': 'glance_store.backend:_list_opts',
             'glance.multi_store':
                 'glance_store.multi_backend:_list_config_opts'},
            self.entry_points['oslo.config.opts'])
        drivers = self.entry_points['glance_store.drivers']
        for name, module in (('file', 'filesystem'), ('http', 'http'),
                             ('s3', 's3')):
            value = 'glance_store._drivers.%s:Store' % module
            self.assertEqual(value, drivers[name])
            self.assertEqual(value, drivers['glance.store.%s.Store' % module])

    def test_every_choice_has_a_description(self):
        # oslo-config-generator prints "<No description provided>" for a
        # choice given without one (default_store's had none).
        for namespace in ('glance.store', 'glance.multi_store'):
            _names, groups = self._list(namespace)
            for group, opts in groups:
                for opt in opts:
                    choices = getattr(opt.type, 'choices', None) or {}
                    for value, description in choices.items():
                        self.assertTrue(description, '%s %s %s' % (
                            group, opt.name, value))

    def test_single_store(self):
        names, _groups = self._list('glance.store')
        [(group, opts)] = names
        self.assertEqual('glance_store', group)
        self.assertEqual(CORE_SINGLE, opts[:3])
        self.assertEqual(len(opts), len(set(opts)), opts)
        stand_ins = sum((stand_in_opts(t) for t in STAND_INS), [])
        self.assertEqual(sorted(CORE_SINGLE + FILE_OPTS + HTTP_OPTS +
                                S3_OPTS + S3_CHECKSUM_OPTS +
                                S3_TRANSPORT_OPTS + stand_ins),
                         sorted(opts))

    def test_multi_store(self):
        names, _groups = self._list('glance.multi_store')
        groups = dict(names)
        self.assertEqual(['glance_store', 'cinder', 'file', 'http', 'rbd',
                          's3', 'swift', 'vmware', 'backend_defaults'],
                         [g for g, _o in names])
        self.assertEqual(CORE_MULTI, groups['glance_store'])
        self.assertEqual(COMMON_BACKEND + FILE_OPTS, groups['file'])
        self.assertEqual(COMMON_BACKEND + HTTP_OPTS, groups['http'])
        self.assertEqual(COMMON_BACKEND + S3_OPTS + S3_CHECKSUM_OPTS +
                         S3_TRANSPORT_OPTS, groups['s3'])
        for store_type in STAND_INS:
            self.assertEqual(COMMON_BACKEND + stand_in_opts(store_type),
                             groups[store_type])
        self.assertEqual(stand_in_opts('cinder') + FILE_OPTS + HTTP_OPTS +
                         stand_in_opts('rbd') + S3_OPTS + S3_CHECKSUM_OPTS +
                         S3_TRANSPORT_OPTS + stand_in_opts('swift') +
                         stand_in_opts('vmware'),
                         groups['backend_defaults'])

    def test_every_option_has_help(self):
        for namespace in ('glance.store', 'glance.multi_store'):
            _names, groups = self._list(namespace)
            for group, opts in groups:
                for opt in opts:
                    self.assertTrue(opt.help and opt.help.strip(),
                                    '%s %s' % (group, opt.name))

    def test_sample_config(self):
        conf = cfg.ConfigOpts()
        generator.register_cli_opts(conf)
        conf(['--namespace', 'glance.multi_store'], project='test')
        out = io.StringIO()
        generator.generate(conf, output_file=out)
        sample = out.getvalue()
        for section in ('[glance_store]', '[file]', '[http]', '[s3]',
                        '[rbd]', '[swift]', '[cinder]', '[vmware]',
                        '[backend_defaults]'):
            self.assertIn(section, sample)
        self.assertIn('#filesystem_store_datadir = /var/lib/glance/images',
                      sample)
        self.assertIn('#https_insecure = true', sample)
        self.assertIn('#s3_store_request_checksum_calculation = '
                      'when_required', sample)
        self.assertIn('#s3_store_enable_data_integrity_protection = false',
                      sample)
