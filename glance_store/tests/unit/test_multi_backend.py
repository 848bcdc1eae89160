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

"""Multi-store API against the fake drivers."""

import hashlib
import io
from unittest import mock

import fixtures

import glance_store
from glance_store import backend as single_backend
from glance_store.common import drivers
from glance_store import exceptions
from glance_store import location
from glance_store import multi_backend
from glance_store.tests import base
from glance_store.tests import fakes

DATA = b'0123456789abcdefghij'
RESERVED = {'os_glance_staging_store': 'file',
            'os_glance_tasks_store': 'file'}
BACKENDS = {'fast': 'fake', 'slow': 'fake', 'other': 'fake2'}


class _MultiStoreTest(base.MultiStoreBaseTest):

    def setUp(self):
        super().setUp()
        self.useFixture(fakes.FakeDrivers())
        self.log = self.useFixture(fixtures.FakeLogger('glance_store'))

    def _create(self, backends=None, default='fast', reserved=RESERVED,
                overrides=None):
        self.set_backends(dict(backends or BACKENDS), default,
                          reserved=reserved)
        for group, values in (overrides or {}).items():
            self.config(group=group, **values)
        return multi_backend.create_multi_stores(self.conf,
                                                 reserved_stores=reserved)


class TestRegisterStoreOpts(_MultiStoreTest):

    def test_backend_groups_defaults_and_reserved_stores(self):
        self.set_backends(BACKENDS, 'fast', reserved=RESERVED)
        for group in BACKENDS:
            self.assertEqual('ok', self.conf[group].fake_store_mode)
            self.assertEqual(0, self.conf[group].weight)
            self.assertIsNone(self.conf[group].store_description)
        self.assertEqual('ok', self.conf.backend_defaults.fake_store_mode)
        self.assertEqual('fast', self.conf.glance_store.default_backend)
        self.assertEqual(
            0, self.conf.glance_store.store_capabilities_update_min_interval)
        for name in RESERVED:
            self.assertEqual('/var/lib/glance/%s' % name,
                             self.conf[name].filesystem_store_datadir)
            self.assertEqual(0, self.conf[name].weight)
        # As upstream, creating the stores records the reserved ones.
        self.assertEqual({}, multi_backend._RESERVED_STORES)
        multi_backend.create_multi_stores(self.conf, reserved_stores=RESERVED)
        self.assertEqual(RESERVED, multi_backend._RESERVED_STORES)

    def test_twice_is_harmless(self):
        self.set_backends(BACKENDS, 'fast', reserved=RESERVED)
        multi_backend.register_store_opts(self.conf,
                                          reserved_stores=RESERVED)
        self.assertEqual('ok', self.conf.fast.fake_store_mode)

    def test_without_reserved_stores(self):
        self.set_backends({'fast': 'fake'}, 'fast')
        self.assertEqual({}, multi_backend._RESERVED_STORES)
        self.assertNotIn('os_glance_tasks_store', multi_backend._all_backends(
            self.conf))

    def test_driver_not_shipped(self):
        self.set_backends({'fast': 'fake', 'objects': 'swift'}, 'fast')
        self.assertEqual({'objects': 'swift'}, multi_backend._UNAVAILABLE)
        self.assertIn("Backend 'objects' uses the 'swift' store",
                      self.log.output)
        self.assertIn('not available in this distribution', self.log.output)
        self.assertNotIn('Traceback', self.log.output)
        # The group holds upstream's swift options (accepted, ignored).
        self.assertEqual(0, self.conf.objects.weight)
        self.assertEqual('glance', self.conf.objects.swift_store_container)

    def test_registers_enabled_backends_when_missing(self):
        conf = mock.MagicMock()
        conf.__contains__.return_value = False
        conf.enabled_backends = {}
        multi_backend.register_store_opts(conf)
        registered = [c.args[0].name for c in conf.register_opt.mock_calls]
        self.assertIn('enabled_backends', registered)
        self.assertIn('default_backend', registered)


class TestCreateMultiStores(_MultiStoreTest):

    def test_count_and_scheme_map(self):
        self.assertEqual(5, self._create())
        backends = location.SCHEME_TO_CLS_BACKEND_MAP
        self.assertEqual({'fast', 'slow'}, set(backends['fake']))
        self.assertEqual({'other'}, set(backends['fake2']))
        self.assertEqual(set(RESERVED), set(backends['file']))
        self.assertEqual(set(RESERVED), set(backends['filesystem']))
        info = backends['fake']['slow']
        self.assertEqual('fake', info['store_entry'])
        self.assertIs(fakes.StoreLocation, info['location_class'])
        self.assertEqual('slow', info['store'].backend_group)
        schemes = multi_backend.get_known_schemes_for_multi_store()
        self.assertEqual({'fake', 'fake2', 'file', 'filesystem'},
                         set(schemes))

    def test_reserved_stores_get_their_datadir(self):
        self._create(overrides={'os_glance_staging_store': {
            'filesystem_store_datadir': '/srv/staging'}})
        staging = multi_backend.get_store_from_store_identifier(
            'os_glance_staging_store')
        tasks = multi_backend.get_store_from_store_identifier(
            'os_glance_tasks_store')
        self.assertEqual('/srv/staging', staging.datadir)
        self.assertEqual('/var/lib/glance/os_glance_tasks_store',
                         tasks.datadir)

    def test_without_reserved_stores(self):
        self.assertEqual(1, self._create({'fast': 'fake'}, reserved=None))

    def test_not_shipped_and_broken_drivers_are_skipped(self):
        count = self._create({'fast': 'fake', 'objects': 'swift',
                              'blocks': 'rbd', 'bad': 'fake_broken'},
                             reserved=None)
        self.assertEqual(1, count)
        self.assertEqual({'objects': 'swift', 'blocks': 'rbd',
                          'bad': 'fake_broken'}, multi_backend._UNAVAILABLE)
        self.assertNotIn('Traceback', self.log.output)

    def test_driver_refusing_configuration_at_load_is_skipped(self):
        self.assertEqual(1, self._create({'fast': 'fake',
                                          'refused': 'fake_initfail'},
                                         reserved=None))

    def test_schemeless_store_skipped_and_no_scheme_is_an_error(self):
        self.assertEqual(1, self._create({'fast': 'fake',
                                          'odd': 'fake_schemeless'},
                                         reserved=None))
        location.SCHEME_TO_CLS_BACKEND_MAP.clear()
        e = self.assertRaises(exceptions.BackendException, self._create,
                              {'empty': 'fake_noscheme'}, reserved=None)
        self.assertIn('fake_noscheme', str(e))

    def test_bad_backend_configuration_disables_writes_only(self):
        self.assertEqual(5, self._create(
            overrides={'slow': {'fake_store_mode': 'bad'}}))
        slow = multi_backend.get_store_from_store_identifier('slow')
        self.assertRaises(exceptions.StoreAddDisabled,
                          multi_backend.add_with_multihash, self.conf,
                          'img', io.BytesIO(DATA), len(DATA), 'slow',
                          'sha256')
        fakes.DATA[('slow', 'img')] = DATA
        it, _size = slow.get(location.get_location_from_uri_and_backend(
            'fake://img', 'slow'))
        self.assertEqual(DATA, b''.join(it))

    def test_backend_defaults_apply_to_backends(self):
        self._create(overrides={
            'backend_defaults': {'fake_store_mode': 'bad'},
            'fast': {'fake_store_mode': 'ok'}})
        self.assertIn('disabled', self.log.output)
        fast = multi_backend.get_store_from_store_identifier('fast')
        slow = multi_backend.get_store_from_store_identifier('slow')
        self.assertTrue(fast.is_capable(
            multi_backend.capabilities.BitMasks.WRITE_ACCESS))
        self.assertFalse(slow.is_capable(
            multi_backend.capabilities.BitMasks.WRITE_ACCESS))


class TestVerifyStore(_MultiStoreTest):

    def test_ok(self):
        self._create()
        self.assertIsNone(multi_backend.verify_store())
        self.assertIsNone(glance_store.verify_store())

    def test_default_backend_not_set(self):
        self._create(default=None)
        e = self.assertRaises(RuntimeError, multi_backend.verify_store)
        self.assertIn('default_backend', str(e))

    def test_unknown_backend(self):
        self._create(default='nowhere')
        e = self.assertRaises(RuntimeError, multi_backend.verify_store)
        self.assertIn("'nowhere'", str(e))

    def test_backend_type_not_shipped(self):
        for store_type in ('swift', 'rbd', 'cinder', 'vmware'):
            location.SCHEME_TO_CLS_BACKEND_MAP.clear()
            self._create({'fast': 'fake', 'main': store_type},
                         default='main')
            e = self.assertRaises(RuntimeError, multi_backend.verify_store)
            self.assertIn('not available in this distribution', str(e))
            self.assertIn("'main'", str(e))
            self.assertIn("'%s'" % store_type, str(e))


class TestStoreLookup(_MultiStoreTest):

    def setUp(self):
        super().setUp()
        self._create(dict(BACKENDS, fresh='fake_fresh'))

    def test_get_store_from_store_identifier(self):
        store = multi_backend.get_store_from_store_identifier('other')
        self.assertIsInstance(store, fakes.SecondFakeStore)
        self.assertEqual('other', store.backend_group)
        self.assertIs(store,
                      multi_backend.get_store_from_store_identifier('other'))

    def test_unknown_identifier(self):
        e = self.assertRaises(
            exceptions.UnknownScheme,
            multi_backend.get_store_from_store_identifier, 'nowhere')
        self.assertIn("'nowhere'", e.msg)

    def test_not_reusable_driver_is_loaded_for_each_call(self):
        first = multi_backend.get_store_from_store_identifier('fresh')
        second = multi_backend.get_store_from_store_identifier('fresh')
        self.assertIsInstance(first, fakes.NonReusableFakeStore)
        self.assertIsNot(first, second)
        self.assertEqual('fresh', first.backend_group)
        self.assertEqual(1, first.configure_calls)

    def test_get_store_weight(self):
        self.config(weight=50, group='slow')
        self.assertEqual(50, multi_backend.get_store_weight('slow'))
        self.assertEqual(0, multi_backend.get_store_weight('fast'))
        self.assertRaises(exceptions.UnknownScheme,
                          multi_backend.get_store_weight, 'nowhere')


class TestDataPath(_MultiStoreTest):

    def setUp(self):
        super().setUp()
        self._create()
        self.ctx = object()

    def test_add_with_multihash_glance_positional_call(self):
        result = multi_backend.add_with_multihash(
            self.conf, 'img', io.BytesIO(DATA), len(DATA), 'slow',
            'sha512')
        self.assertEqual(('fake://img', len(DATA),
                          hashlib.md5(DATA).hexdigest(),
                          hashlib.sha512(DATA).hexdigest(),
                          {'store': 'slow'}), result)
        self.assertEqual(DATA, fakes.DATA[('slow', 'img')])
        self.assertNotIn(('fast', 'img'), fakes.DATA)

    def test_add_with_multihash_keywords_and_default_backend(self):
        verifier = mock.Mock()
        result = glance_store.add_with_multihash(
            self.conf, 'img', io.BytesIO(DATA), len(DATA), None,
            'sha256', context=self.ctx, verifier=verifier)
        self.assertEqual({'store': 'fast'}, result[4])
        self.assertEqual(hashlib.sha256(DATA).hexdigest(), result[3])
        store = multi_backend.get_store_from_store_identifier('fast')
        self.assertIs(self.ctx, store.add_calls[-1]['context'])
        self.assertEqual(DATA, b''.join(
            c.args[0] for c in verifier.update.mock_calls))

    def test_store_metadata_is_kept(self):
        with mock.patch.object(fakes.FakeStore, 'METADATA', {'k': 'v'}):
            result = multi_backend.add_with_multihash(
                self.conf, 'img', io.BytesIO(DATA), len(DATA), 'fast',
                'sha256')
        self.assertEqual({'k': 'v', 'store': 'fast'}, result[4])

    def test_add_old_signature(self):
        result = multi_backend.add(self.conf, 'img', io.BytesIO(DATA),
                                   len(DATA), 'other', context=self.ctx)
        self.assertEqual(('fake2://img', len(DATA),
                          hashlib.md5(DATA).hexdigest(),
                          {'store': 'other'}), result)
        result = multi_backend.add(self.conf, 'img2', io.BytesIO(DATA),
                                   len(DATA), None)
        self.assertEqual({'store': 'fast'}, result[3])

    def test_add_errors(self):
        self.assertRaises(exceptions.UnknownScheme,
                          multi_backend.add_with_multihash, self.conf,
                          'img', io.BytesIO(DATA), len(DATA), 'nowhere',
                          'sha256')
        self.assertRaises(exceptions.UnknownHashingAlgo,
                          multi_backend.add_with_multihash, self.conf,
                          'img', io.BytesIO(DATA), len(DATA), 'fast',
                          'sha999')
        fakes.DATA[('fast', 'dup')] = DATA
        self.assertRaises(exceptions.Duplicate,
                          multi_backend.add_with_multihash, self.conf,
                          'dup', io.BytesIO(DATA), len(DATA), 'fast',
                          'sha256')

    def test_get_with_backend(self):
        fakes.DATA[('slow', 'img')] = DATA
        it, size = multi_backend.get('fake://img', 'slow')
        self.assertEqual((DATA, len(DATA)), (b''.join(it), size))
        it, size = multi_backend.get('fake://img', 'slow', offset=2,
                                     chunk_size=3, context=self.ctx)
        self.assertEqual((DATA[2:5], 3), (b''.join(it), size))
        self.assertRaises(exceptions.NotFound, multi_backend.get,
                          'fake://img', 'fast')
        self.assertRaises(exceptions.UnknownScheme, multi_backend.get,
                          'fake://img', 'other')
        self.assertRaises(exceptions.BadStoreUri, multi_backend.get,
                          'fake://', 'slow')

    def test_get_without_backend_searches_every_backend(self):
        fakes.DATA[('slow', 'img')] = DATA
        fakes.DATA[('os_glance_staging_store', 'staged')] = b'staged'
        it, size = multi_backend.get('fake://img', None)
        self.assertEqual(DATA, b''.join(it))
        self.assertIn('searching every backend', self.log.output)
        it, size = multi_backend.get('file://staged', None, offset=1)
        self.assertEqual(b'taged', b''.join(it))

    def test_get_without_backend_not_found(self):
        for uri in ('fake://missing', 'fake2://missing', 'gopher://x'):
            self.assertRaises(exceptions.NotFound, multi_backend.get, uri,
                              None)
            self.assertRaises(exceptions.NotFound, multi_backend.delete,
                              uri, None)

    def test_delete(self):
        fakes.DATA[('fast', 'a')] = DATA
        fakes.DATA[('slow', 'b')] = DATA
        self.assertIsNone(multi_backend.delete('fake://a', 'fast'))
        self.assertNotIn(('fast', 'a'), fakes.DATA)
        self.assertRaises(exceptions.NotFound, multi_backend.delete,
                          'fake://b', 'fast')
        multi_backend.delete('fake://b', None, context=self.ctx)
        self.assertNotIn(('slow', 'b'), fakes.DATA)

    def test_get_size_from_uri_and_backend(self):
        fakes.DATA[('other', 'img')] = DATA
        self.assertEqual(len(DATA),
                         multi_backend.get_size_from_uri_and_backend(
                             'fake2://img', 'other'))
        self.assertRaises(exceptions.NotFound,
                          multi_backend.get_size_from_uri_and_backend,
                          'fake://img', 'fast', context=self.ctx)
        self.assertRaises(exceptions.UnknownScheme,
                          multi_backend.get_size_from_uri_and_backend,
                          'fake://img', 'nowhere')

    def test_set_acls_for_multi_store(self):
        multi_backend.set_acls_for_multi_store(
            'fake://img', 'slow', public=True, read_tenants=['r'],
            write_tenants=['w'], context=self.ctx)
        store = multi_backend.get_store_from_store_identifier('slow')
        self.assertEqual([('fake://img', True, ['r'], ['w'], self.ctx)],
                         store.acl_calls)
        multi_backend.set_acls_for_multi_store('fake://img', 'fast')
        store = multi_backend.get_store_from_store_identifier('fast')
        self.assertEqual([('fake://img', False, [], None, None)],
                         store.acl_calls)

    def test_set_acls_not_implemented_is_swallowed(self):
        location.SCHEME_TO_CLS_BACKEND_MAP.clear()
        self._create({'plain': 'fake_noacl'}, default='plain',
                     reserved=None)
        self.assertIsNone(multi_backend.set_acls_for_multi_store(
            'fake://img', 'plain', public=True))

    def test_shared_helpers(self):
        self.assertIs(single_backend.check_location_metadata,
                      multi_backend.check_location_metadata)
        self.assertIs(single_backend.store_add_to_backend,
                      multi_backend.store_add_to_backend)
        self.assertIs(single_backend.store_add_to_backend_with_multihash,
                      multi_backend.store_add_to_backend_with_multihash)


class TestListConfigOpts(_MultiStoreTest):

    def test_shape(self):
        groups = multi_backend._list_config_opts()
        names = [g for g, _opts in groups]
        self.assertEqual('glance_store', names[0])
        self.assertEqual('backend_defaults', names[-1])
        self.assertEqual(sorted(names[1:-1]), names[1:-1])
        # Every loadable driver by its name, no legacy alias, no broken one.
        # The stand-ins of the stores not shipped too.
        self.assertEqual(['cinder', 'fake', 'fake2', 'fake_badmeta',
                          'fake_fresh', 'fake_initfail', 'fake_noacl',
                          'fake_noscheme', 'fake_ro', 'fake_schemeless',
                          'file', 'rbd', 'swift', 'vmware'],
                         names[1:-1])
        opts = {g: [o.name for o in group_opts] for g, group_opts in groups}
        self.assertEqual(['default_backend',
                          'store_capabilities_update_min_interval'],
                         opts['glance_store'])
        self.assertEqual(['store_description', 'weight', 'fake_store_mode',
                          'fake_store_chunk_size'], opts['fake'])
        self.assertEqual(['store_description', 'weight', 'fake_store_mode',
                          'fake_store_chunk_size', 'fake_file_label'],
                         opts['file'])
        stand_ins = set(opts['cinder'] + opts['rbd'] + opts['swift'] +
                        opts['vmware']) - {'store_description', 'weight'}
        self.assertEqual(['fake_store_mode', 'fake_store_chunk_size',
                          'fake_file_label'],
                         [o for o in opts['backend_defaults']
                          if o not in stand_ins])


class TestWithTheFileStore(base.MultiStoreBaseTest):
    """End to end through the API with the real ``file`` driver."""

    def setUp(self):
        super().setUp()
        self.images = self.test_dir + '/images'
        self.staging = self.test_dir + '/staging'
        self.tasks = self.test_dir + '/tasks'
        self.set_backends({'images': 'file'}, 'images', reserved=RESERVED)

    def _create(self):
        self.config(filesystem_store_datadir=self.images, group='images')
        self.config(filesystem_store_datadir=self.staging,
                    group='os_glance_staging_store')
        self.config(filesystem_store_datadir=self.tasks,
                    group='os_glance_tasks_store')
        return multi_backend.create_multi_stores(self.conf,
                                                 reserved_stores=RESERVED)

    def test_round_trip(self):
        self.assertEqual(3, self._create())
        self.assertIsNone(multi_backend.verify_store())
        uri, size, md5, multihash, metadata = \
            multi_backend.add_with_multihash(
                self.conf, 'img-1', io.BytesIO(DATA), len(DATA), 'images',
                'sha512')
        self.assertEqual('file://%s/img-1' % self.images, uri)
        self.assertEqual(len(DATA), size)
        self.assertEqual(hashlib.md5(DATA).hexdigest(), md5)
        self.assertEqual(hashlib.sha512(DATA).hexdigest(), multihash)
        self.assertEqual('images', metadata['store'])
        self.assertEqual(len(DATA),
                         multi_backend.get_size_from_uri_and_backend(
                             uri, 'images'))
        it, _size = multi_backend.get(uri, 'images', offset=3,
                                      chunk_size=4)
        self.assertEqual(DATA[3:7], b''.join(it))
        it, _size = multi_backend.get(uri, None)
        self.assertEqual(DATA, b''.join(it))
        multi_backend.delete(uri, None)
        self.assertRaises(exceptions.NotFound, multi_backend.get, uri,
                          'images')

    def test_staging_store(self):
        self._create()
        uri = multi_backend.add_with_multihash(
            self.conf, 'img-2', io.BytesIO(DATA), len(DATA),
            'os_glance_staging_store', 'sha256')[0]
        self.assertEqual('file://%s/img-2' % self.staging, uri)
        it, _size = multi_backend.get(uri, 'os_glance_staging_store')
        self.assertEqual(DATA, b''.join(it))

    def test_reserved_stores_ignore_the_default_datadir(self):
        # An images directory in [backend_defaults] must not become the
        # directory of Glance's staging or tasks store.
        self.config(filesystem_store_datadir=self.images,
                    group='backend_defaults')
        for name in RESERVED:
            store = drivers.load_driver(
                self.conf, 'file', backend=name)
            self.assertEqual('/var/lib/glance/%s' % name,
                             store.store_conf.filesystem_store_datadir)
        images = drivers.load_driver(
            self.conf, 'file', backend='images')
        self.assertEqual(self.images,
                         images.store_conf.filesystem_store_datadir)


class TestStoresCreatedAgain(base.MultiStoreBaseTest):
    """Single-store and multi-store stores created again in one process.

    What Glance's own tests do, one test after the other: each test
    registers and creates its stores, single-store or multi-store, with
    new directories and sometimes the same backend names for other
    store types. The scheme maps keep every entry of every earlier
    configuration (as upstream's do: Glance reads them); the API answers
    with the stores of the configuration in force.
    """

    def _single(self, stores, datadir):
        self.conf.clear_override('enabled_backends')
        single_backend.register_opts(self.conf)
        self.config(stores=stores, default_store=stores[0],
                    filesystem_store_datadir=datadir, group='glance_store')
        return single_backend.create_stores(self.conf)

    def _multi(self, backends, datadir, reserved=RESERVED):
        self.set_backends(backends, sorted(backends)[0], reserved=reserved)
        for name, store_type in dict(backends, **(reserved or {})).items():
            if store_type == 'file':
                self.config(filesystem_store_datadir='%s/%s' % (datadir,
                                                                name),
                            group=name)
        return multi_backend.create_multi_stores(self.conf,
                                                 reserved_stores=reserved)

    @staticmethod
    def _maps():
        single = {scheme: info['store_entry']
                  for scheme, info in location.SCHEME_TO_CLS_MAP.items()}
        multi = {scheme: {name: info['store_entry']
                          for name, info in backends.items()}
                 for scheme, backends in
                 location.SCHEME_TO_CLS_BACKEND_MAP.items()}
        return single, multi

    def _assert_backend(self, name, store_type, datadir=None):
        store = multi_backend.get_store_from_store_identifier(name)
        schemes = {'file': ('file', 'filesystem'),
                   'http': ('http', 'https')}[store_type]
        self.assertEqual(schemes, tuple(store.get_schemes()), name)
        if datadir:
            self.assertEqual('%s/%s' % (datadir, name), store.datadir)

    def _cycle(self, n, first):
        """single (file, http), multi (file), multi (http), in an order."""
        d = '%s/%s-%d' % (self.test_dir, first, n)
        steps = {
            'single': lambda: self._single(['file', 'http'], d + '/single'),
            'multi-file': lambda: self._multi(
                {'store1': 'file', 'store2': 'file'}, d),
            'multi-http': lambda: self._multi(
                {'store1': 'http', 'store2': 'http'}, d),
        }
        order = {'single': ['single', 'multi-file', 'multi-http'],
                 'multi': ['multi-file', 'multi-http', 'single']}[first]
        for step in order:
            steps[step]()
            if step == 'multi-file':
                self._assert_backend('store1', 'file', d)
                self._assert_backend('os_glance_tasks_store', 'file', d)
            elif step == 'multi-http':
                self._assert_backend('store1', 'http')
                self._assert_backend('store2', 'http')
                # Glance's location import: an http location of store1.
                loc = location.get_location_from_uri_and_backend(
                    'http://127.0.0.1/img', 'store1', conf=self.conf)
                self.assertEqual('http://127.0.0.1/img', loc.get_store_uri())
            else:
                store = single_backend.get_store_from_scheme('file')
                self.assertEqual(d + '/single', store.datadir)
        return d

    # Every entry ever registered stays; each backend name maps, per
    # scheme, to the store type it had last for that scheme.
    EXPECTED_SINGLE = {'file': 'file', 'filesystem': 'file',
                       'http': 'http', 'https': 'http'}
    EXPECTED_MULTI = {
        'file': {'store1': 'file', 'store2': 'file',
                 'os_glance_staging_store': 'file',
                 'os_glance_tasks_store': 'file'},
        'filesystem': {'store1': 'file', 'store2': 'file',
                       'os_glance_staging_store': 'file',
                       'os_glance_tasks_store': 'file'},
        'http': {'store1': 'http', 'store2': 'http'},
        'https': {'store1': 'http', 'store2': 'http'},
    }

    def test_single_then_multi_repeatedly(self):
        for n in range(3):
            self._cycle(n, 'single')
            self.assertEqual((self.EXPECTED_SINGLE, self.EXPECTED_MULTI),
                             self._maps())
            self.assertEqual(RESERVED, multi_backend._RESERVED_STORES)

    def test_multi_then_single_repeatedly(self):
        for n in range(3):
            d = self._cycle(n, 'multi')
            self.assertEqual((self.EXPECTED_SINGLE, self.EXPECTED_MULTI),
                             self._maps())
            # enabled_backends is unset in single-store mode: the entries
            # kept in the map do not make store1 a backend (upstream: the
            # same UnknownScheme).
            self.assertRaises(exceptions.UnknownScheme,
                              multi_backend.get_store_from_store_identifier,
                              'store1')
            self.assertEqual(d + '/single', single_backend
                             .get_store_from_scheme('file').datadir)

    def test_backend_gone_or_retyped(self):
        d = self.test_dir
        self._multi({'store1': 'file', 'store2': 'file'}, d + '/a')
        self._multi({'store1': 'http'}, d + '/b', reserved=None)
        self._assert_backend('store1', 'http')
        # store2 is no longer configured: its old entry does not answer.
        e = self.assertRaises(exceptions.UnknownScheme,
                              multi_backend.get_store_from_store_identifier,
                              'store2')
        self.assertIn("No backend named 'store2'", e.msg)
        # The reserved stores of the first call stay known, as upstream.
        self._assert_backend('os_glance_staging_store', 'file', d + '/a')
        self._multi({'store1': 'file'}, d + '/c', reserved=None)
        self._assert_backend('store1', 'file', d + '/c')
        # A location without a backend is looked for in the backends of
        # the current configuration only.
        self.assertEqual([], list(
            multi_backend._candidate_backends('http://127.0.0.1/x')))
        self.assertEqual(
            ['store1', 'os_glance_staging_store', 'os_glance_tasks_store'],
            list(multi_backend._candidate_backends('file:///x')))
