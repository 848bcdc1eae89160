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

"""In-memory store drivers and an entry point fixture for the core tests.

The core API is tested against these fakes so that its tests do not
depend on the real drivers.  ``FakeDrivers`` makes stevedore see the fake
drivers in the ``glance_store.drivers`` namespace, so the real loading
code in ``glance_store.common.drivers`` runs.
"""

import configparser
import importlib.metadata
import os
import urllib.parse

import fixtures
from oslo_config import cfg
from stevedore import extension

from glance_store import capabilities
from glance_store.common import drivers
from glance_store.common import utils
from glance_store import driver
from glance_store import exceptions
from glance_store import location

BitMasks = capabilities.BitMasks

# (backend or None, path) -> bytes, shared by every fake store instance.
DATA = {}

_MODULE = __name__


class StoreLocation(location.StoreLocation):
    """``<scheme>://<path>``; a URI without a path is malformed."""

    def process_specs(self):
        self.scheme = self.specs.get('scheme', 'fake')
        self.path = self.specs.get('path')

    def get_uri(self):
        return '%s://%s' % (self.scheme, self.path)

    def parse_uri(self, uri):
        self.validate_schemas(uri, ('fake://', 'fake2://', 'file://',
                                    'filesystem://'))
        pieces = urllib.parse.urlparse(uri)
        self.scheme = pieces.scheme
        self.path = (pieces.netloc + pieces.path).strip('/')
        if not self.path:
            raise exceptions.BadStoreUri(uri=uri)


class FakeStore(driver.Store):
    """A complete, reusable, read/write store keeping images in DATA."""

    _CAPABILITIES = BitMasks.RW_RANDOM | BitMasks.DRIVER_REUSABLE
    OPTIONS = [
        cfg.StrOpt('fake_store_mode', default='ok'),
        cfg.IntOpt('fake_store_chunk_size', default=4),
    ]
    MULTI_BACKEND_SUPPORT = True
    SCHEMES = ('fake',)
    METADATA = {}

    def __init__(self, conf, backend=None):
        super().__init__(conf, backend=backend)
        self.configure_calls = 0
        self.acl_calls = []
        self.add_calls = []

    def get_schemes(self):
        return self.SCHEMES

    def configure_add(self):
        self.configure_calls += 1
        scheme = (self.SCHEMES or ('none',))[0]
        mode = self.store_conf.fake_store_mode
        if mode == 'bad':
            raise exceptions.BadStoreConfiguration(
                store_name=scheme, reason='mode is bad')
        self._url_prefix = '%s://%s/' % (scheme,
                                         self.backend_group or 'single')

    def _key(self, loc):
        return (self.backend_group, loc.store_location.path)

    def _data(self, loc):
        try:
            return DATA[self._key(loc)]
        except KeyError:
            raise exceptions.NotFound(image=loc.store_location.path)

    @capabilities.check
    def get(self, location, offset=0, chunk_size=None, context=None):
        data = self._data(location)
        end = offset + chunk_size if chunk_size else None
        data = data[offset:end]
        step = self.store_conf.fake_store_chunk_size
        chunks = [data[i:i + step] for i in range(0, len(data), step)]
        return iter(chunks), len(data)

    def get_size(self, location, context=None):
        return len(self._data(location))

    @driver.back_compat_add
    @capabilities.check
    def add(self, image_id, image_file, image_size, hashing_algo,
            context=None, verifier=None):
        self.add_calls.append({'image_id': image_id, 'size': image_size,
                               'hashing_algo': hashing_algo,
                               'context': context, 'verifier': verifier})
        key = (self.backend_group, image_id)
        if key in DATA:
            raise exceptions.Duplicate(image=image_id)
        hashes = utils.ImageHashes(hashing_algo, verifier)
        parts = []
        for chunk in utils.chunkreadable(image_file, 3):
            hashes.update(chunk)
            parts.append(chunk)
        DATA[key] = b''.join(parts)
        uri = '%s://%s' % (self.SCHEMES[0], image_id)
        return (uri, hashes.size, hashes.checksum, hashes.multihash,
                dict(self.METADATA))

    @capabilities.check
    def delete(self, location, context=None):
        self._data(location)
        del DATA[self._key(location)]

    def set_acls(self, location, public=False, read_tenants=None,
                 write_tenants=None, context=None):
        self.acl_calls.append((location.get_store_uri(), public,
                               read_tenants, write_tenants, context))


class SecondFakeStore(FakeStore):
    """Another scheme, so two stores can be loaded side by side."""

    SCHEMES = ('fake2',)


class FakeFileStore(FakeStore):
    """Stands in for the filesystem store (the reserved stores' type)."""

    SCHEMES = ('file', 'filesystem')
    # Names of its own: the real filesystem driver's options may be
    # registered in the same global configuration.
    OPTIONS = FakeStore.OPTIONS + [cfg.StrOpt('fake_file_label',
                                              default='plain')]

    def configure_add(self):
        self.configure_calls += 1
        # Reserved stores have this option in their group.
        self.datadir = getattr(self.store_conf, 'filesystem_store_datadir',
                               None)


class ReadOnlyFakeStore(FakeStore):
    """Reads whole images only, like a store without random access."""

    _CAPABILITIES = BitMasks.READ_ACCESS | BitMasks.DRIVER_REUSABLE
    SCHEMES = ('fake2',)


class NonReusableFakeStore(FakeStore):
    """Keeps per-call state: every lookup loads a fresh instance."""

    _CAPABILITIES = BitMasks.RW_RANDOM


class NoAclFakeStore(FakeStore):
    """Uses the base class set_acls, which is not implemented."""

    set_acls = driver.Store.set_acls


class BadMetadataFakeStore(FakeStore):
    METADATA = {'good': 'x', 'bad': 42}


class NoSchemeFakeStore(FakeStore):
    SCHEMES = ()


class SchemelessFakeStore(FakeStore):
    """Does not implement get_schemes at all."""

    get_schemes = driver.Store.get_schemes


class InitFailFakeStore(FakeStore):
    """Refuses its configuration as soon as it is instantiated."""

    def __init__(self, conf, backend=None):
        raise exceptions.BadStoreConfiguration(store_name='fake_initfail',
                                               reason='refused at load')


# entry point name -> "module:Class"
FAKE_ENTRY_POINTS = {
    'fake': _MODULE + ':FakeStore',
    'fake2': _MODULE + ':SecondFakeStore',
    'file': _MODULE + ':FakeFileStore',
    'fake_ro': _MODULE + ':ReadOnlyFakeStore',
    'fake_fresh': _MODULE + ':NonReusableFakeStore',
    'fake_noacl': _MODULE + ':NoAclFakeStore',
    'fake_badmeta': _MODULE + ':BadMetadataFakeStore',
    'fake_noscheme': _MODULE + ':NoSchemeFakeStore',
    'fake_schemeless': _MODULE + ':SchemelessFakeStore',
    'fake_initfail': _MODULE + ':InitFailFakeStore',
    'fake_broken': 'glance_store.tests.unit.no_such_module:Store',
    'glance.store.fake.Store': _MODULE + ':FakeStore',
}


class EntryPoints(fixtures.Fixture):
    """Make stevedore list ``entries`` ({namespace: {name: value}})."""

    def __init__(self, entries):
        super().__init__()
        self.entries = entries

    def _setUp(self):
        eps = {ns: [importlib.metadata.EntryPoint(name, value, ns)
                    for name, value in sorted(names.items())]
               for ns, names in self.entries.items()}
        real = extension.ExtensionManager.list_entry_points

        def list_entry_points(mgr):
            if mgr.namespace in eps:
                return list(eps[mgr.namespace])
            return real(mgr)

        self.useFixture(fixtures.MockPatchObject(
            extension.ExtensionManager, 'list_entry_points',
            list_entry_points))


class FakeDrivers(EntryPoints):
    """The fake drivers are the only ones in ``glance_store.drivers``."""

    def __init__(self, entries=None):
        super().__init__({drivers.DRIVER_NAMESPACE:
                          dict(entries or FAKE_ENTRY_POINTS)})

    def _setUp(self):
        super()._setUp()
        DATA.clear()
        self.addCleanup(DATA.clear)


def setup_cfg_entry_points():
    """{namespace: {name: value}} as declared in the project's setup.cfg."""
    top = os.path.dirname(os.path.dirname(os.path.dirname(
        os.path.abspath(__file__))))
    parser = configparser.ConfigParser()
    parser.optionxform = str
    parser.read(os.path.join(top, 'setup.cfg'))
    result = {}
    for namespace, text in parser.items('entry_points'):
        names = {}
        for line in text.strip().splitlines():
            name, _sep, value = line.partition('=')
            names[name.strip()] = value.strip()
        result[namespace] = names
    return result
