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

from unittest import mock

from oslo_config import cfg
from oslotest import base

from glance_store import capabilities
from glance_store import exceptions

BitMasks = capabilities.BitMasks


class _Store(capabilities.StoreCapability):
    """A minimal store: records the operations that got through."""

    _CAPABILITIES = BitMasks.NONE

    def __init__(self, caps=None, conf=None):
        super().__init__()
        if caps is not None:
            self._capabilities = caps
        self.conf = conf
        self.calls = []

    @capabilities.check
    def get(self, location, offset=0, chunk_size=None, context=None):
        self.calls.append(('get', location, offset, chunk_size))
        return 'data'

    @capabilities.check
    def add(self, image_id, data, size, hashing_algo, context=None):
        self.calls.append(('add', image_id))
        return 'added'

    @capabilities.check
    def delete(self, location, context=None):
        self.calls.append(('delete', location))
        return 'deleted'

    @capabilities.check
    def get_size(self, location, context=None):
        self.calls.append(('get_size', location))
        return 3


class TestBitMasks(base.BaseTestCase):

    def test_values(self):
        expected = {
            'NONE': 0b00000000, 'ALL': 0b11111111,
            'READ_ACCESS': 0b00000001, 'READ_OFFSET': 0b00000011,
            'READ_CHUNK': 0b00000101, 'READ_RANDOM': 0b00000111,
            'WRITE_ACCESS': 0b00001000, 'WRITE_OFFSET': 0b00011000,
            'WRITE_CHUNK': 0b00101000, 'WRITE_RANDOM': 0b00111000,
            'RW_ACCESS': 0b00001001, 'RW_OFFSET': 0b00011011,
            'RW_CHUNK': 0b00101101, 'RW_RANDOM': 0b00111111,
            'DRIVER_REUSABLE': 0b01000000,
        }
        for name, value in expected.items():
            self.assertEqual(value, int(getattr(BitMasks, name)), name)

    def test_composites(self):
        self.assertEqual(BitMasks.READ_RANDOM,
                         BitMasks.READ_OFFSET | BitMasks.READ_CHUNK)
        self.assertEqual(BitMasks.RW_ACCESS,
                         BitMasks.READ_ACCESS | BitMasks.WRITE_ACCESS)
        self.assertEqual(BitMasks.RW_RANDOM,
                         BitMasks.READ_RANDOM | BitMasks.WRITE_RANDOM)


class TestStoreCapability(base.BaseTestCase):

    def test_class_capabilities_are_the_initial_ones(self):
        class S(capabilities.StoreCapability):
            _CAPABILITIES = BitMasks.READ_RANDOM

        self.assertEqual(BitMasks.READ_RANDOM, S().capabilities)
        self.assertEqual(0, capabilities.StoreCapability().capabilities)

    def test_is_capable_one_mask(self):
        cases = [
            (BitMasks.READ_RANDOM, BitMasks.READ_ACCESS, True),
            (BitMasks.READ_RANDOM, BitMasks.READ_OFFSET, True),
            (BitMasks.READ_ACCESS, BitMasks.READ_OFFSET, False),
            (BitMasks.READ_ACCESS, BitMasks.WRITE_ACCESS, False),
            (BitMasks.RW_ACCESS, BitMasks.WRITE_ACCESS, True),
            (BitMasks.NONE, BitMasks.NONE, True),
            (BitMasks.ALL, BitMasks.DRIVER_REUSABLE, True),
            (BitMasks.RW_RANDOM, BitMasks.DRIVER_REUSABLE, False),
        ]
        for caps, need, expected in cases:
            self.assertEqual(expected, _Store(caps).is_capable(need),
                             (caps, need))

    def test_is_capable_several_masks(self):
        store = _Store(BitMasks.READ_ACCESS | BitMasks.WRITE_ACCESS)
        self.assertTrue(store.is_capable(BitMasks.READ_ACCESS,
                                         BitMasks.WRITE_ACCESS))
        self.assertFalse(store.is_capable(BitMasks.READ_ACCESS,
                                          BitMasks.READ_CHUNK))
        self.assertFalse(store.is_capable(BitMasks.WRITE_ACCESS,
                                          BitMasks.DRIVER_REUSABLE,
                                          BitMasks.READ_ACCESS))

    def test_set_and_unset(self):
        store = _Store(BitMasks.NONE)
        store.set_capabilities(BitMasks.READ_ACCESS, BitMasks.WRITE_ACCESS)
        self.assertEqual(BitMasks.RW_ACCESS, store.capabilities)
        store.set_capabilities(BitMasks.DRIVER_REUSABLE)
        self.assertTrue(store.is_capable(BitMasks.DRIVER_REUSABLE))
        store.unset_capabilities(BitMasks.WRITE_ACCESS)
        self.assertFalse(store.is_capable(BitMasks.WRITE_ACCESS))
        self.assertTrue(store.is_capable(BitMasks.READ_ACCESS,
                                         BitMasks.DRIVER_REUSABLE))
        store.unset_capabilities(BitMasks.READ_ACCESS,
                                 BitMasks.DRIVER_REUSABLE)
        self.assertEqual(0, store.capabilities)

    def test_unset_does_not_touch_the_class(self):
        class S(capabilities.StoreCapability):
            _CAPABILITIES = BitMasks.RW_ACCESS

        s = S()
        s.unset_capabilities(BitMasks.WRITE_ACCESS)
        self.assertEqual(BitMasks.RW_ACCESS, S._CAPABILITIES)
        self.assertTrue(S().is_capable(BitMasks.WRITE_ACCESS))

    def test_contains(self):
        self.assertTrue(capabilities.StoreCapability.contains(0b111, 0b101))
        self.assertFalse(capabilities.StoreCapability.contains(0b100, 0b101))


class TestCheckDecorator(base.BaseTestCase):

    def test_wrapper_name_and_wrapped(self):
        def get(self, location):
            """Docstring kept."""

        wrapped = capabilities.check(get)
        self.assertEqual('op_checker', wrapped.__code__.co_name)
        self.assertIs(get, wrapped.__wrapped__)
        self.assertEqual('get', wrapped.__name__)
        self.assertEqual('Docstring kept.', wrapped.__doc__)

    def test_refusals(self):
        cases = [
            # capabilities, operation, args, kwargs, expected exception
            (BitMasks.NONE, 'get', ('loc',), {},
             exceptions.StoreGetNotSupported),
            (BitMasks.WRITE_ACCESS, 'get', ('loc',), {},
             exceptions.StoreGetNotSupported),
            (BitMasks.READ_ACCESS, 'get', ('loc',), {'offset': 10},
             exceptions.StoreRandomGetNotSupported),
            (BitMasks.READ_ACCESS, 'get', ('loc',), {'chunk_size': 10},
             exceptions.StoreRandomGetNotSupported),
            (BitMasks.READ_OFFSET, 'get', ('loc',),
             {'offset': 1, 'chunk_size': 10},
             exceptions.StoreRandomGetNotSupported),
            (BitMasks.READ_CHUNK, 'get', ('loc',), {'offset': 1},
             exceptions.StoreRandomGetNotSupported),
            (BitMasks.READ_ACCESS, 'get', ('loc', 10), {},
             exceptions.StoreRandomGetNotSupported),
            (BitMasks.READ_ACCESS, 'get', ('loc', 0, 10), {},
             exceptions.StoreRandomGetNotSupported),
            (BitMasks.READ_ACCESS, 'add', ('id', b'', 0, 'md5'), {},
             exceptions.StoreAddDisabled),
            (BitMasks.READ_RANDOM, 'add', ('id', b'', 0, 'md5'), {},
             exceptions.StoreAddDisabled),
            (BitMasks.READ_ACCESS, 'delete', ('loc',), {},
             exceptions.StoreDeleteNotSupported),
        ]
        for caps, op, args, kwargs, exc in cases:
            store = _Store(caps)
            self.assertRaises(exc, getattr(store, op), *args, **kwargs)
            self.assertEqual([], store.calls, (caps, op, args, kwargs))

    def test_random_get_message_names_offset_and_length(self):
        store = _Store(BitMasks.READ_ACCESS)
        e = self.assertRaises(exceptions.StoreRandomGetNotSupported,
                              store.get, 'loc', offset=7, chunk_size=9)
        self.assertIn('7', e.msg)
        self.assertIn('9', e.msg)

    def test_allowed(self):
        cases = [
            (BitMasks.READ_ACCESS, 'get', ('loc',), {}, 'data'),
            (BitMasks.READ_ACCESS, 'get', ('loc',),
             {'offset': 0, 'chunk_size': None}, 'data'),
            (BitMasks.READ_OFFSET, 'get', ('loc',), {'offset': 3}, 'data'),
            (BitMasks.READ_CHUNK, 'get', ('loc',), {'chunk_size': 3},
             'data'),
            (BitMasks.READ_RANDOM, 'get', ('loc', 1, 2), {}, 'data'),
            (BitMasks.WRITE_ACCESS, 'add', ('id', b'', 0, 'md5'), {},
             'added'),
            (BitMasks.WRITE_ACCESS, 'delete', ('loc',), {}, 'deleted'),
            # Operations without a required capability always pass.
            (BitMasks.NONE, 'get_size', ('loc',), {}, 3),
        ]
        for caps, op, args, kwargs, result in cases:
            store = _Store(caps)
            self.assertEqual(result, getattr(store, op)(*args, **kwargs))
            self.assertEqual(1, len(store.calls), (caps, op))


class TestUpdateCapabilities(base.BaseTestCase):

    def setUp(self):
        super().setUp()
        self.conf = cfg.ConfigOpts()
        self.conf.register_opt(
            cfg.IntOpt('store_capabilities_update_min_interval', default=0),
            group='glance_store')
        self.conf([], project='test')
        self.addCleanup(
            capabilities._STORE_CAPABILITES_UPDATE_SCHEDULING_BOOK.clear)

    def _store(self):
        store = _Store(BitMasks.READ_ACCESS, conf=self.conf)
        store._update_capabilities = mock.Mock()
        return store

    def _interval(self, value):
        self.conf.set_override('store_capabilities_update_min_interval',
                               value, 'glance_store')

    def test_no_update_method_is_a_no_op(self):
        store = _Store(BitMasks.READ_ACCESS, conf=None)
        store.update_capabilities()  # no conf needed: returns first
        self.assertEqual(BitMasks.READ_ACCESS, store.capabilities)

    def test_interval_zero_disables_refresh(self):
        store = self._store()
        store.update_capabilities()
        store.get('loc')
        store._update_capabilities.assert_not_called()

    def test_option_missing_disables_refresh(self):
        store = _Store(BitMasks.READ_ACCESS, conf=cfg.ConfigOpts())
        store._update_capabilities = mock.Mock()
        store.update_capabilities()
        store._update_capabilities.assert_not_called()

    def test_rate_limited(self):
        self._interval(30)
        store = self._store()
        with mock.patch('time.time', return_value=1000.0):
            store.update_capabilities()
            store.update_capabilities()
            store.get('loc')
        self.assertEqual(1, store._update_capabilities.call_count)
        with mock.patch('time.time', return_value=1029.0):
            store.update_capabilities()
        self.assertEqual(1, store._update_capabilities.call_count)
        with mock.patch('time.time', return_value=1031.0):
            store.update_capabilities()
        self.assertEqual(2, store._update_capabilities.call_count)

    def test_each_store_has_its_own_schedule(self):
        self._interval(30)
        first, second = self._store(), self._store()
        with mock.patch('time.time', return_value=1000.0):
            first.update_capabilities()
            second.update_capabilities()
        first._update_capabilities.assert_called_once_with()
        second._update_capabilities.assert_called_once_with()

    def test_check_refreshes_before_deciding(self):
        self._interval(1)
        store = _Store(BitMasks.NONE, conf=self.conf)

        def gain_read():
            store.set_capabilities(BitMasks.READ_ACCESS)

        store._update_capabilities = gain_read
        self.assertEqual('data', store.get('loc'))
