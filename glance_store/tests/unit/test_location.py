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

from oslo_config import cfg
from oslotest import base

from glance_store import exceptions
from glance_store import location
from glance_store.tests import base as test_base
from glance_store.tests import fakes


class _Specs(location.StoreLocation):
    def process_specs(self):
        self.processed = dict(self.specs)


class TestSchemeMaps(base.BaseTestCase):

    def setUp(self):
        super().setUp()
        self.useFixture(test_base._CleanSchemeMaps())
        self.conf = cfg.ConfigOpts()
        location.register_scheme_map({
            'fake': {'store': 'first', 'location_class': fakes.StoreLocation,
                     'store_entry': 'fake'}})
        location.register_scheme_backend_map({
            'fake': {'be1': {'store': 'one',
                             'location_class': fakes.StoreLocation,
                             'store_entry': 'fake'}}})

    def test_get_location_from_uri(self):
        loc = location.get_location_from_uri('fake://img-1', conf=self.conf)
        self.assertIsInstance(loc, location.Location)
        self.assertEqual('fake', loc.store_name)
        self.assertIsInstance(loc.store_location, fakes.StoreLocation)
        self.assertEqual('img-1', loc.store_location.path)
        self.assertEqual('fake://img-1', loc.get_store_uri())
        self.assertIs(self.conf, loc.conf)
        self.assertIsNone(loc.backend_group)

    def test_get_location_from_uri_and_backend(self):
        loc = location.get_location_from_uri_and_backend(
            'fake://img-1', 'be1', conf=self.conf)
        self.assertEqual('be1', loc.backend_group)
        self.assertEqual('be1', loc.store_location.backend_group)
        self.assertEqual('img-1', loc.store_location.path)

    def test_unknown_scheme(self):
        for uri in ('gopher://x/y', 'fake2://img', 'no-scheme-at-all', '',
                    '/var/lib/glance/images/x'):
            self.assertRaises(exceptions.UnknownScheme,
                              location.get_location_from_uri, uri,
                              conf=self.conf)
            self.assertRaises(exceptions.UnknownScheme,
                              location.get_location_from_uri_and_backend,
                              uri, 'be1', conf=self.conf)
        e = self.assertRaises(exceptions.UnknownScheme,
                              location.get_location_from_uri,
                              'gopher://x', conf=self.conf)
        self.assertIn('gopher', e.msg)

    def test_unknown_backend(self):
        e = self.assertRaises(exceptions.UnknownScheme,
                              location.get_location_from_uri_and_backend,
                              'fake://img', 'be9', conf=self.conf)
        self.assertIn('be9', e.msg)

    def test_malformed_uris(self):
        for uri in ('fake://', 'fake:///', 'fake:img'):
            self.assertRaises(exceptions.BadStoreUri,
                              location.get_location_from_uri, uri,
                              conf=self.conf)
            self.assertRaises(exceptions.BadStoreUri,
                              location.get_location_from_uri_and_backend,
                              uri, 'be1', conf=self.conf)

    def test_unparseable_uris(self):
        for uri in ('fake://[::1', None, 42):
            self.assertRaises(exceptions.BadStoreUri,
                              location.get_location_from_uri, uri,
                              conf=self.conf)
            self.assertRaises(exceptions.BadStoreUri,
                              location.get_location_from_uri_and_backend,
                              uri, 'be1', conf=self.conf)

    def test_register_scheme_map_replaces(self):
        location.register_scheme_map({
            'fake': {'store': 'second', 'location_class': None,
                     'store_entry': 'other'},
            'fake2': {'store': 'new', 'location_class': None,
                      'store_entry': 'fake2'}})
        self.assertEqual('second',
                         location.SCHEME_TO_CLS_MAP['fake']['store'])
        self.assertEqual('new', location.SCHEME_TO_CLS_MAP['fake2']['store'])

    def test_register_scheme_backend_map_merges_and_replaces(self):
        location.register_scheme_backend_map({
            'fake': {'be1': {'store': 'dup'}, 'be2': {'store': 'two'}},
            'fake2': {'be3': {'store': 'three'}}})
        backends = location.SCHEME_TO_CLS_BACKEND_MAP
        self.assertEqual('dup', backends['fake']['be1']['store'])
        self.assertEqual('two', backends['fake']['be2']['store'])
        self.assertEqual({'be3'}, set(backends['fake2']))


class TestStoreLocation(base.BaseTestCase):

    def test_validate_schemas(self):
        valid = ('s3://', 's3+https://')
        for uri in ('s3://h/b/k', 's3+https://h/b/k'):
            self.assertIsNone(
                location.StoreLocation.validate_schemas(uri, valid))
        for uri in ('s3+http://h/b/k', 'file:///x', '', 'S3://h/b/k'):
            e = self.assertRaises(exceptions.BadStoreUri,
                                  location.StoreLocation.validate_schemas,
                                  uri, valid)
            self.assertIn('s3://', e.msg)
            self.assertIn('s3+https://', e.msg)

    def test_specs_processed_only_when_given(self):
        loc = _Specs({'a': 1}, None, backend_group='be1')
        self.assertEqual({'a': 1}, loc.processed)
        self.assertEqual('be1', loc.backend_group)
        self.assertFalse(hasattr(_Specs({}, None), 'processed'))

    def test_base_class_is_inert(self):
        loc = location.StoreLocation({}, None)
        self.assertIsNone(loc.get_uri())
        self.assertIsNone(loc.parse_uri('anything'))
        self.assertIsNone(loc.process_specs())

    def test_location_from_specs(self):
        loc = location.Location('fake', fakes.StoreLocation, None,
                                image_id='img',
                                store_specs={'scheme': 'fake2',
                                             'path': 'p/q'})
        self.assertEqual('img', loc.image_id)
        self.assertEqual('fake2://p/q', loc.get_store_uri())
        self.assertIsNone(loc.get_uri())
