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

"""Test bases: a private oslo.config object and clean scheme maps."""

import fixtures
from oslo_config import cfg
from oslotest import base

import glance_store as store
from glance_store import location


class _CleanSchemeMaps(fixtures.Fixture):
    """Empty the module-level scheme maps before and after a test."""

    def _setUp(self):
        from glance_store import multi_backend
        saved = (dict(location.SCHEME_TO_CLS_MAP),
                 dict(location.SCHEME_TO_CLS_BACKEND_MAP),
                 dict(multi_backend._RESERVED_STORES),
                 dict(multi_backend._UNAVAILABLE))
        location.SCHEME_TO_CLS_MAP.clear()
        location.SCHEME_TO_CLS_BACKEND_MAP.clear()
        multi_backend._RESERVED_STORES.clear()
        multi_backend._UNAVAILABLE.clear()

        def restore():
            location.SCHEME_TO_CLS_MAP.clear()
            location.SCHEME_TO_CLS_MAP.update(saved[0])
            location.SCHEME_TO_CLS_BACKEND_MAP.clear()
            location.SCHEME_TO_CLS_BACKEND_MAP.update(saved[1])
            multi_backend._RESERVED_STORES.clear()
            multi_backend._RESERVED_STORES.update(saved[2])
            multi_backend._UNAVAILABLE.clear()
            multi_backend._UNAVAILABLE.update(saved[3])
        self.addCleanup(restore)


STARTUP_LISTING = 's3_store_check_stale_uploads'


def no_startup_listing(conf, group, add_cleanup):
    """Make the S3 start-up listing off by default in ``group``.

    Unit tests configure S3 stores on hosts where nothing listens; a test
    of the listing sets the option to True.
    """
    conf.set_default(STARTUP_LISTING, False, group=group)
    add_cleanup(conf.clear_default, STARTUP_LISTING, group=group)


class StoreBaseTest(base.BaseTestCase):
    """Single-store tests: ``self.conf`` has the [glance_store] options.

    The API module functions read the global ``cfg.CONF``; tests use it
    too, reset after each test by the oslo.config fixture.
    """

    def setUp(self):
        super().setUp()
        self.conf = self._CONF = cfg.CONF
        self.useFixture(_CleanSchemeMaps())
        self.addCleanup(self.conf.reset)
        self.test_dir = self.useFixture(fixtures.TempDir()).path
        store.register_opts(self.conf)
        no_startup_listing(self.conf, 'glance_store', self.addCleanup)

    def config(self, **kw):
        """Override options; ``group`` defaults to glance_store."""
        group = kw.pop('group', 'glance_store')
        for k, v in kw.items():
            self.conf.set_override(k, v, group)
            self.addCleanup(self.conf.clear_override, k, group)

    def register_store_schemes(self, store_instance, store_entry):
        schemes = store_instance.get_schemes()
        scheme_map = {}
        loc_cls = store_instance.get_store_location_class()
        for scheme in schemes:
            scheme_map[scheme] = {'store': store_instance,
                                  'location_class': loc_cls,
                                  'store_entry': store_entry}
        location.register_scheme_map(scheme_map)


class MultiStoreBaseTest(base.BaseTestCase):
    """Multi-store tests: call ``set_backends`` then create the stores."""

    def setUp(self):
        super().setUp()
        self.conf = cfg.CONF
        self.useFixture(_CleanSchemeMaps())
        self.addCleanup(self.conf.reset)
        self.test_dir = self.useFixture(fixtures.TempDir()).path
        if 'enabled_backends' not in self.conf:
            self.conf.register_opt(cfg.DictOpt('enabled_backends'))

    def config(self, **kw):
        group = kw.pop('group', None)
        for k, v in kw.items():
            self.conf.set_override(k, v, group)
            self.addCleanup(self.conf.clear_override, k, group)

    def set_backends(self, backends, default_backend, reserved=None):
        """Register and configure ``backends`` ({name: type})."""
        self.config(enabled_backends=backends)
        store.register_store_opts(self.conf, reserved_stores=reserved)
        self.config(default_backend=default_backend, group='glance_store')
        for name, kind in backends.items():
            if kind == 's3':
                no_startup_listing(self.conf, name, self.addCleanup)

    def register_store_backend_schemes(self, store_instance, store_entry,
                                       store_identifier):
        schemes = store_instance.get_schemes()
        scheme_map = {}
        loc_cls = store_instance.get_store_location_class()
        for scheme in schemes:
            scheme_map[scheme] = {store_identifier: {
                'store': store_instance, 'location_class': loc_cls,
                'store_entry': store_entry}}
        location.register_scheme_backend_map(scheme_map)
