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

"""Single-store API against the fake drivers."""

import hashlib
import io

import fixtures
from oslo_config import cfg

import glance_store
from glance_store import backend
from glance_store import capabilities
from glance_store import exceptions
from glance_store import location
from glance_store.tests import base
from glance_store.tests import fakes

BitMasks = capabilities.BitMasks
DATA = b'The quick brown fox jumps over the lazy dog'


class _SingleStoreTest(base.StoreBaseTest):

    STORES = ['fake', 'fake2', 'file']

    def setUp(self):
        super().setUp()
        self.useFixture(fakes.FakeDrivers())
        self.log = self.useFixture(fixtures.FakeLogger('glance_store'))
        backend.register_opts(self.conf)
        self.config(stores=self.STORES)

    def _create(self, stores=None):
        if stores is not None:
            self.config(stores=stores)
        return backend.create_stores(self.conf)


class TestRegisterOpts(_SingleStoreTest):

    def test_registers_core_and_driver_options(self):
        conf = cfg.ConfigOpts()
        backend.register_opts(conf)
        conf([], project='glance_store_test')
        self.assertEqual(['file', 'http'], conf.glance_store.stores)
        self.assertEqual('file', conf.glance_store.default_store)
        self.assertEqual(
            0, conf.glance_store.store_capabilities_update_min_interval)
        self.assertEqual('ok', conf.glance_store.fake_store_mode)
        self.assertEqual('plain', conf.glance_store.fake_file_label)

    def test_twice_is_harmless(self):
        conf = cfg.ConfigOpts()
        backend.register_opts(conf)
        backend.register_opts(conf)
        conf([], project='glance_store_test')
        self.assertEqual('file', conf.glance_store.default_store)

    def test_default_store_choices(self):
        self.assertRaises(ValueError, self.config, default_store='gopher')
        for scheme in ('file', 'http', 's3', 'swift', 'rbd', 'cinder',
                       'vsphere'):
            self.config(default_store=scheme)
            self.assertEqual(scheme, self.conf.glance_store.default_store)


class TestCreateStores(_SingleStoreTest):

    def test_count_and_schemes(self):
        self.assertEqual(3, self._create())
        self.assertEqual({'fake', 'fake2', 'file', 'filesystem'},
                         set(backend.get_known_schemes()))
        self.assertEqual({'fake', 'fake2', 'file', 'filesystem'},
                         set(glance_store.get_known_schemes()))
        info = location.SCHEME_TO_CLS_MAP['fake']
        self.assertIsInstance(info['store'], fakes.FakeStore)
        self.assertIs(fakes.StoreLocation, info['location_class'])
        self.assertEqual('fake', info['store_entry'])
        self.assertEqual(1, info['store'].configure_calls)

    def test_drivers_not_shipped(self):
        for name, shown in (('swift', 'swift'), ('rbd', 'rbd'),
                            ('cinder', 'cinder'), ('vmware', 'vmware'),
                            ('glance.store.swift.Store', 'swift')):
            self.log = self.useFixture(fixtures.FakeLogger('glance_store'))
            location.SCHEME_TO_CLS_MAP.clear()
            self.assertEqual(2, self._create(['fake', name, 'file']))
            self.assertIn("'%s' store" % shown, self.log.output)
            self.assertIn('not available in this distribution',
                          self.log.output)
            self.assertIn('fake', self.log.output)
            self.assertNotIn('Traceback', self.log.output)
            self.assertIn('fake', location.SCHEME_TO_CLS_MAP)
            self.assertIn('file', location.SCHEME_TO_CLS_MAP)

    def test_driver_that_fails_to_import(self):
        self.assertEqual(1, self._create(['fake_broken', 'fake']))
        self.assertIn('fake_broken', self.log.output)
        self.assertNotIn('Traceback', self.log.output)
        self.assertEqual(['fake'], backend.get_known_schemes())

    def test_driver_refusing_its_configuration_at_load(self):
        self.assertEqual(1, self._create(['fake_initfail', 'fake']))
        self.assertEqual(['fake'], backend.get_known_schemes())

    def test_bad_configuration_keeps_the_store_read_only(self):
        self.config(fake_store_mode='bad')
        self.assertEqual(1, self._create(['fake']))
        store = backend.get_store_from_scheme('fake')
        self.assertFalse(store.is_capable(BitMasks.WRITE_ACCESS))
        self.assertTrue(store.is_capable(BitMasks.READ_ACCESS))
        self.assertIn('mode is bad', self.log.output)
        self.assertRaises(exceptions.StoreAddDisabled,
                          backend.add_to_backend_with_multihash,
                          self.conf, 'img', io.BytesIO(DATA), len(DATA),
                          'sha256', scheme='fake')

    def test_store_without_get_schemes_is_skipped(self):
        self.assertEqual(1, self._create(['fake_schemeless', 'fake']))
        self.assertEqual(['fake'], backend.get_known_schemes())

    def test_store_with_no_scheme_is_an_error(self):
        e = self.assertRaises(exceptions.BackendException, self._create,
                              ['fake_noscheme'])
        self.assertIn('fake_noscheme', str(e))

    def test_first_listed_store_wins_a_scheme(self):
        for stores, cls in ((['fake_fresh', 'fake'],
                             fakes.NonReusableFakeStore),
                            (['fake', 'fake_fresh'], fakes.FakeStore)):
            location.SCHEME_TO_CLS_MAP.clear()
            self.assertEqual(2, self._create(stores))
            self.assertIs(cls, type(
                location.SCHEME_TO_CLS_MAP['fake']['store']))

    def test_duplicates_in_stores_load_once(self):
        self.assertEqual(1, self._create(['fake', 'fake', 'fake']))

    def test_alias_of_the_same_driver(self):
        self.assertEqual(2, self._create(['fake', 'glance.store.fake.Store']))
        self.assertEqual(['fake'], backend.get_known_schemes())

    def test_nothing_configured(self):
        self.assertEqual(0, self._create([]))
        self.assertEqual([], backend.get_known_schemes())

    def test_load_store_returns_class_or_instance(self):
        self.assertIs(fakes.FakeStore,
                      backend._load_store(self.conf, 'fake',
                                          invoke_load=False))
        store = backend._load_store(self.conf, 'fake')
        self.assertIsInstance(store, fakes.FakeStore)
        self.assertIs(self.conf, store.conf)
        self.assertIsNone(backend._load_store(self.conf, 'swift'))


class TestVerifyDefaultStore(_SingleStoreTest):

    def test_loaded(self):
        self._create()
        self.config(default_store='file')
        self.assertIsNone(backend.verify_default_store())

    def test_shipped_but_not_loaded(self):
        self._create()
        self.config(default_store='s3')
        e = self.assertRaises(RuntimeError, backend.verify_default_store)
        self.assertIn("'s3'", str(e))
        self.assertIn('stores', str(e))

    def test_not_shipped(self):
        self._create()
        for scheme, name in (('swift', 'swift'), ('swift+https', 'swift'),
                             ('rbd', 'rbd'), ('cinder', 'cinder'),
                             ('vsphere', 'vmware')):
            self.config(default_store=scheme)
            e = self.assertRaises(RuntimeError,
                                  backend.verify_default_store)
            self.assertIn('not available in this distribution', str(e))
            self.assertIn("'%s'" % name, str(e))


class TestStoreLookup(_SingleStoreTest):

    def setUp(self):
        super().setUp()
        self._create(['fake', 'fake_fresh', 'file'])

    def test_get_store_from_scheme(self):
        store = backend.get_store_from_scheme('fake')
        self.assertIsInstance(store, fakes.FakeStore)
        self.assertIs(store, backend.get_store_from_scheme('fake'))
        self.assertIs(backend.get_store_from_scheme('file'),
                      backend.get_store_from_scheme('filesystem'))

    def test_unknown_scheme(self):
        e = self.assertRaises(exceptions.UnknownScheme,
                              backend.get_store_from_scheme, 'gopher')
        self.assertIn('gopher', e.msg)
        self.assertRaises(exceptions.UnknownScheme,
                          backend.get_store_from_uri, 'gopher://x')

    def test_not_reusable_driver_is_loaded_for_each_call(self):
        self.config(stores=['fake_fresh'])
        location.SCHEME_TO_CLS_MAP.clear()
        self._create()
        first = backend.get_store_from_scheme('fake')
        second = backend.get_store_from_scheme('fake')
        self.assertIsInstance(first, fakes.NonReusableFakeStore)
        self.assertIsNot(first, second)
        self.assertIsNot(location.SCHEME_TO_CLS_MAP['fake']['store'], first)
        self.assertEqual(1, first.configure_calls)

    def test_get_store_from_uri(self):
        self.assertIs(backend.get_store_from_scheme('fake'),
                      backend.get_store_from_uri('fake://img'))
        self.assertIs(backend.get_store_from_scheme('file'),
                      backend.get_store_from_uri('file:///var/x'))

    def test_get_store_from_location(self):
        self.assertEqual('file',
                         backend.get_store_from_location('file:///var/x'))


class TestDataPath(_SingleStoreTest):

    def setUp(self):
        super().setUp()
        self._create()
        fakes.DATA[(None, 'img')] = DATA

    def test_get_from_backend(self):
        it, size = backend.get_from_backend('fake://img')
        self.assertEqual(len(DATA), size)
        self.assertEqual(DATA, b''.join(it))

    def test_get_from_backend_ranged(self):
        it, size = backend.get_from_backend('fake://img', offset=4,
                                            chunk_size=5)
        self.assertEqual(5, size)
        self.assertEqual(DATA[4:9], b''.join(it))

    def test_get_errors(self):
        cases = [
            ('gopher://img', exceptions.UnknownScheme),
            ('fake://', exceptions.BadStoreUri),
            ('fake://missing', exceptions.NotFound),
        ]
        for uri, exc in cases:
            for call in (backend.get_from_backend,
                         backend.get_size_from_backend,
                         backend.delete_from_backend):
                self.assertRaises(exc, call, uri)

    def test_random_get_on_a_store_without_it(self):
        location.SCHEME_TO_CLS_MAP.clear()
        self._create(['fake_ro'])
        fakes.DATA[(None, 'ro')] = DATA
        self.assertRaises(exceptions.StoreRandomGetNotSupported,
                          backend.get_from_backend, 'fake2://ro', offset=1)
        it, size = backend.get_from_backend('fake2://ro')
        self.assertEqual(DATA, b''.join(it))
        self.assertRaises(exceptions.StoreDeleteNotSupported,
                          backend.delete_from_backend, 'fake2://ro')

    def test_get_size_from_backend(self):
        self.assertEqual(len(DATA),
                         backend.get_size_from_backend('fake://img'))

    def test_delete_from_backend(self):
        self.assertIsNone(backend.delete_from_backend('fake://img'))
        self.assertNotIn((None, 'img'), fakes.DATA)
        self.assertRaises(exceptions.NotFound, backend.get_from_backend,
                          'fake://img')

    def test_add_to_backend(self):
        ctx = object()
        result = backend.add_to_backend(self.conf, 'new', io.BytesIO(DATA),
                                        len(DATA), scheme='fake',
                                        context=ctx)
        self.assertEqual(('fake://new', len(DATA),
                          hashlib.md5(DATA).hexdigest(), {}), result)
        store = backend.get_store_from_scheme('fake')
        self.assertIs(ctx, store.add_calls[-1]['context'])
        self.assertEqual(DATA, fakes.DATA[(None, 'new')])

    def test_add_to_backend_default_store(self):
        self.config(default_store='file')
        result = backend.add_to_backend(self.conf, 'new', io.BytesIO(DATA),
                                        len(DATA))
        self.assertEqual('file://new', result[0])

    def test_add_to_backend_with_multihash(self):
        verifier = _Verifier()
        result = backend.add_to_backend_with_multihash(
            self.conf, 'new', io.BytesIO(DATA), len(DATA), 'sha512',
            scheme='fake', verifier=verifier)
        self.assertEqual(('fake://new', len(DATA),
                          hashlib.md5(DATA).hexdigest(),
                          hashlib.sha512(DATA).hexdigest(), {}), result)
        self.assertEqual(DATA, verifier.data)
        it, _size = backend.get_from_backend(result[0])
        self.assertEqual(DATA, b''.join(it))

    def test_add_to_backend_with_multihash_default_store(self):
        self.config(default_store='file')
        result = glance_store.add_to_backend_with_multihash(
            self.conf, 'new', io.BytesIO(DATA), len(DATA), 'sha256')
        self.assertEqual('file://new', result[0])
        self.assertEqual(hashlib.sha256(DATA).hexdigest(), result[3])

    def test_unknown_hashing_algo(self):
        for algo in ('sha999', 'not-a-hash', ''):
            e = self.assertRaises(
                exceptions.UnknownHashingAlgo,
                backend.add_to_backend_with_multihash, self.conf,
                'new', io.BytesIO(DATA), len(DATA), algo, scheme='fake')
            self.assertIn("algorithm %s is" % algo, e.msg)

    def test_add_to_unknown_scheme(self):
        self.assertRaises(exceptions.UnknownScheme,
                          backend.add_to_backend_with_multihash, self.conf,
                          'new', io.BytesIO(DATA), len(DATA), 'sha256',
                          scheme='gopher')

    def test_duplicate(self):
        self.assertRaises(exceptions.Duplicate,
                          backend.add_to_backend, self.conf, 'img',
                          io.BytesIO(DATA), len(DATA), scheme='fake')

    def test_store_add_to_backend(self):
        store = backend.get_store_from_scheme('fake2')
        result = backend.store_add_to_backend('s1', io.BytesIO(DATA),
                                              len(DATA), store)
        self.assertEqual(('fake2://s1', len(DATA),
                          hashlib.md5(DATA).hexdigest(), {}), result)
        result = backend.store_add_to_backend_with_multihash(
            's2', io.BytesIO(DATA), len(DATA), 'sha384', store)
        self.assertEqual(hashlib.sha384(DATA).hexdigest(), result[3])
        self.assertEqual('fake2://s2', result[0])

    def test_store_add_with_bad_metadata(self):
        store = fakes.BadMetadataFakeStore(self.conf)
        store.configure()
        for call in (
                lambda: backend.store_add_to_backend(
                    'b1', io.BytesIO(DATA), len(DATA), store),
                lambda: backend.store_add_to_backend_with_multihash(
                    'b2', io.BytesIO(DATA), len(DATA), 'sha256', store)):
            e = self.assertRaises(exceptions.BackendException, call)
            self.assertIn('bad', str(e))
            self.assertIn('int', str(e))

    def test_store_add_with_none_metadata(self):
        store = _FixedResultStore(('u', 1, 'c', 'm', None))
        self.assertEqual(('u', 1, 'c', 'm', None),
                         backend.store_add_to_backend_with_multihash(
                             'i', b'', 0, 'sha256', store))
        store = _FixedResultStore(('u', 1, 'c', None))
        self.assertEqual(('u', 1, 'c', None),
                         backend.store_add_to_backend('i', b'', 0, store))

    def test_store_add_with_metadata_not_a_dict(self):
        store = _FixedResultStore(('u', 1, 'c', 'm', ['a']))
        e = self.assertRaises(exceptions.BackendException,
                              backend.store_add_to_backend_with_multihash,
                              'i', b'', 0, 'sha256', store)
        self.assertIn('not a dict', str(e))


class _FixedResultStore(object):
    def __init__(self, result):
        self.result = result

    def add(self, *args, **kwargs):
        return self.result


class _Verifier(object):
    def __init__(self):
        self.data = b''

    def update(self, chunk):
        self.data += chunk


class TestLocationMetadata(base.StoreBaseTest):

    def test_good_shapes(self):
        for val in ({}, [], 'x', {'a': 'b'}, {'a': ['x', 'y']},
                    {'a': {'b': {'c': 'd'}}}, [{'a': 'b'}, ['c']],
                    {'a': [{'b': ['c']}]}):
            self.assertIsNone(backend.check_location_metadata(val))
            self.assertIsNone(backend._check_metadata('store', val)
                              if isinstance(val, dict) else None)

    def test_bad_shapes_name_the_key(self):
        cases = [
            ({'size': 5}, 'size'),
            ({'a': ['x', 2]}, 'a[1]'),
            ({'a': {'inner': None}}, 'inner'),
            ({'a': [['x', 1.5]]}, 'a[0][1]'),
            ({'a': b'bytes'}, 'a'),
            (7, ''),
        ]
        for val, key in cases:
            e = self.assertRaises(exceptions.BackendException,
                                  backend.check_location_metadata, val)
            self.assertIn('metadata %s is of type' % key, str(e))

    def test_key_argument_names_a_top_level_value(self):
        e = self.assertRaises(exceptions.BackendException,
                              backend.check_location_metadata, 3,
                              key='top')
        self.assertIn('top', str(e))

    def test_check_metadata(self):
        log = self.useFixture(fixtures.FakeLogger('glance_store'))
        e = self.assertRaises(exceptions.BackendException,
                              backend._check_metadata, 'drv', {'k': 1})
        self.assertIn('drv', str(e))
        self.assertIn("'k'", str(e))
        self.assertIn('bad metadata', log.output)
        e = self.assertRaises(exceptions.BackendException,
                              backend._check_metadata, 'drv', 'text')
        self.assertIn('not a dict', str(e))


class TestSetAcls(_SingleStoreTest):

    def setUp(self):
        super().setUp()
        self._create(['fake2', 'fake_noacl'])

    def test_set_acls_reaches_the_store(self):
        ctx = object()
        backend.set_acls('fake2://img', public=True, read_tenants=['t1'],
                         write_tenants=['t2'], context=ctx)
        store = backend.get_store_from_scheme('fake2')
        self.assertEqual([('fake2://img', True, ['t1'], ['t2'], ctx)],
                         store.acl_calls)

    def test_set_acls_default_tenants(self):
        self._create(['fake2'])
        backend.set_acls('fake2://img')
        store = backend.get_store_from_scheme('fake2')
        self.assertEqual([('fake2://img', False, [], None, None)],
                         store.acl_calls)

    def test_not_implemented_is_swallowed(self):
        self.assertIsNone(backend.set_acls('fake://img', public=True))

    def test_unknown_scheme(self):
        self.assertRaises(exceptions.UnknownScheme, backend.set_acls,
                          'gopher://img')


class TestIndexable(base.StoreBaseTest):

    def test_iterate_and_len(self):
        idx = backend.Indexable(iter([b'ab', b'cd']), 4)
        self.assertEqual(4, len(idx))
        self.assertEqual([b'ab', b'cd'], list(idx))
        self.assertEqual(b'cd', idx.getvalue())

    def test_iterate_a_list(self):
        self.assertEqual([b'a', b'b'], list(backend.Indexable([b'a', b'b'],
                                                              2)))

    def test_index_reads_sequentially(self):
        idx = backend.Indexable(iter([b'ab', b'cd', b'ef']), '6')
        self.assertEqual(6, len(idx))
        self.assertEqual(b'ab', idx[0])
        self.assertEqual(b'ab', idx.getvalue())
        self.assertEqual(b'cd', idx[0])
        self.assertEqual(b'ef', idx.another())
        self.assertEqual(b'ef', idx.getvalue())
        self.assertRaises(StopIteration, idx.another)

    def test_unknown_size(self):
        self.assertEqual(0, len(backend.Indexable(iter([]), None)))

    def test_close(self):
        class Closable(object):
            closed = False

            def __iter__(self):
                return iter([b'x'])

            def close(self):
                self.closed = True

        wrapped = Closable()
        backend.Indexable(wrapped, 1).close()
        self.assertTrue(wrapped.closed)
        # Wrapped iterators without close() are fine too.
        self.assertIsNone(backend.Indexable(iter([]), 0).close())


class TestWithTheFileStore(base.StoreBaseTest):
    """End to end through the API with the real ``file`` driver."""

    def setUp(self):
        super().setUp()
        self.config(stores=['file', 'http'], default_store='file',
                    filesystem_store_datadir=self.test_dir)
        self.assertEqual(2, backend.create_stores(self.conf))

    def test_round_trip(self):
        backend.verify_default_store()
        self.assertIn('file', backend.get_known_schemes())
        uri, size, md5, multihash, metadata = \
            backend.add_to_backend_with_multihash(
                self.conf, 'img-1', io.BytesIO(DATA), len(DATA), 'sha512')
        self.assertEqual('file://%s/img-1' % self.test_dir, uri)
        self.assertEqual((len(DATA), hashlib.md5(DATA).hexdigest(),
                          hashlib.sha512(DATA).hexdigest()),
                         (size, md5, multihash))
        self.assertIsInstance(metadata, dict)
        self.assertEqual(len(DATA), backend.get_size_from_backend(uri))
        it, _size = backend.get_from_backend(uri, offset=4, chunk_size=5)
        self.assertEqual(DATA[4:9], b''.join(it))
        backend.delete_from_backend(uri)
        self.assertRaises(exceptions.NotFound, backend.get_from_backend, uri)

    def test_old_add_returns_4_tuple(self):
        result = backend.add_to_backend(self.conf, 'img-2',
                                        io.BytesIO(DATA), len(DATA))
        self.assertEqual(4, len(result))
        self.assertEqual(hashlib.md5(DATA).hexdigest(), result[2])

    def test_malformed_and_unknown_uris(self):
        self.assertRaises(exceptions.UnknownScheme, backend.get_from_backend,
                          'gopher://x/y')
        self.assertRaises(exceptions.BadStoreUri, backend.get_from_backend,
                          'file://')
