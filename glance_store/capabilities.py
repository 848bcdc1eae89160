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

"""What a store can do, as bit masks, and the guard on store operations."""

import enum
import functools
import logging
import threading
import time

from glance_store import exceptions

LOG = logging.getLogger(__name__)

_STORE_CAPABILITES_UPDATE_SCHEDULING_BOOK = {}
_STORE_CAPABILITES_UPDATE_SCHEDULING_LOCK = threading.Lock()


class BitMasks(enum.IntFlag):
    NONE = 0b00000000
    ALL = 0b11111111
    READ_ACCESS = 0b00000001
    # Each "offset" / "chunk" mask includes the plain access bit.
    READ_OFFSET = 0b00000011
    READ_CHUNK = 0b00000101
    READ_RANDOM = 0b00000111
    WRITE_ACCESS = 0b00001000
    WRITE_OFFSET = 0b00011000
    WRITE_CHUNK = 0b00101000
    WRITE_RANDOM = 0b00111000
    RW_ACCESS = 0b00001001
    RW_OFFSET = 0b00011011
    RW_CHUNK = 0b00101101
    RW_RANDOM = 0b00111111
    # The driver instance may serve many requests (it keeps no per-call
    # state); otherwise a fresh instance is loaded for each lookup.
    DRIVER_REUSABLE = 0b01000000


class StoreCapability(object):
    """Mixin that keeps a store's capability bits."""

    def __init__(self):
        # Class-level ``_CAPABILITIES`` is what the driver can do when
        # configured; the instance copy may lose bits (e.g. write access
        # after a failed configuration).
        self._capabilities = getattr(self.__class__, "_CAPABILITIES", 0)

    @property
    def capabilities(self):
        return self._capabilities

    @staticmethod
    def contains(x, y):
        return x & y == y

    def update_capabilities(self):
        """Refresh capabilities that may change at run time.

        Drivers whose capabilities depend on the backend's state override
        ``_update_capabilities``; the refresh is rate limited by
        ``store_capabilities_update_min_interval``.
        """
        store_update_method = getattr(self, '_update_capabilities', None)
        if store_update_method is None:
            return
        interval = 0
        try:
            interval = self.conf.glance_store.\
                store_capabilities_update_min_interval
        except Exception:  # option not registered in this configuration
            pass
        if interval <= 0:
            return
        with _STORE_CAPABILITES_UPDATE_SCHEDULING_LOCK:
            last = _STORE_CAPABILITES_UPDATE_SCHEDULING_BOOK.get(self, 0)
            now = time.time()
            if now - last < interval:
                return
            _STORE_CAPABILITES_UPDATE_SCHEDULING_BOOK[self] = now
        store_update_method()

    def is_capable(self, *capabilities):
        caps = capabilities[0] if len(capabilities) == 1 else \
            functools.reduce(lambda x, y: x | y, capabilities)
        return self.contains(self.capabilities, caps)

    def set_capabilities(self, *dynamic_capabilites):
        caps = functools.reduce(lambda x, y: x | y, dynamic_capabilites)
        self._capabilities |= caps

    def unset_capabilities(self, *dynamic_capabilites):
        caps = functools.reduce(lambda x, y: x | y, dynamic_capabilites)
        self._capabilities &= ~caps


def _required_capability(store, op_name, kwargs):
    """The capability an operation needs, and the error if it is missing."""
    if op_name == 'get':
        offset = kwargs.get('offset') or 0
        chunk_size = kwargs.get('chunk_size')
        if offset or chunk_size:
            need = BitMasks.READ_ACCESS
            if offset:
                need |= BitMasks.READ_OFFSET
            if chunk_size:
                need |= BitMasks.READ_CHUNK
            return need, exceptions.StoreRandomGetNotSupported(
                offset=offset, chunk_size=chunk_size)
        return BitMasks.READ_ACCESS, exceptions.StoreGetNotSupported()
    if op_name == 'add':
        return BitMasks.WRITE_ACCESS, exceptions.StoreAddDisabled(
            reason=getattr(store, 'add_disabled_reason', None))
    if op_name == 'delete':
        return BitMasks.WRITE_ACCESS, exceptions.StoreDeleteNotSupported()
    return BitMasks.NONE, None


def check(store_op_fun):
    """Refuse a store operation the store is not capable of."""

    @functools.wraps(store_op_fun)
    def op_checker(store, *args, **kwargs):
        store.update_capabilities()
        op_kwargs = kwargs
        if store_op_fun.__name__ == 'get' and len(args) > 1:
            # get(location, offset, chunk_size) called positionally.
            op_kwargs = dict(zip(('offset', 'chunk_size'), args[1:3]),
                             **kwargs)
        need, error = _required_capability(store, store_op_fun.__name__,
                                           op_kwargs)
        if need and not store.is_capable(need):
            LOG.debug("Store %(store)s refused %(op)s: %(error)s",
                      {'store': store.__class__.__module__,
                       'op': store_op_fun.__name__, 'error': error})
            raise error
        return store_op_fun(store, *args, **kwargs)

    return op_checker
