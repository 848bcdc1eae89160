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

"""Unit tests of the http store in multi-store mode."""

import io
import os
import urllib.parse

import fixtures
import requests
import requests_mock
from requests_mock.contrib import fixture as rm_fixture

import glance_store as store
from glance_store._drivers import http
from glance_store import exceptions
from glance_store import location
from glance_store import multi_backend
from glance_store.tests import base

URL = 'https://images.example.com/img.qcow2'


class TestMultiStoreHttp(base.MultiStoreBaseTest):

    def setUp(self):
        super().setUp()
        # Keep the environment's CA bundle out of the verify checks.
        self.useFixture(fixtures.EnvironmentVariable('REQUESTS_CA_BUNDLE'))
        self.useFixture(fixtures.EnvironmentVariable('CURL_CA_BUNDLE'))
        self.set_backends({'web': 'http', 'web2': 'http', 'file1': 'file'},
                          'file1')
        self.config(filesystem_store_datadir=os.path.join(self.test_dir,
                                                          'images'),
                    group='file1')
        self.mock = self.useFixture(rm_fixture.Fixture())
        # Asked for the size of a GET without Content-Length: no answer.
        self.mock.head(requests_mock.ANY, status_code=405)

    def _create(self):
        self.assertEqual(3, store.create_multi_stores(self.conf))
        return multi_backend.get_store_from_store_identifier('web')

    def _verify_of(self, backend):
        self.mock.get(URL, content=b'x')
        it, size = store.get(URL, backend)
        list(it)
        return self.mock.request_history[-1]

    def test_get_and_size(self):
        web = self._create()
        self.assertIsInstance(web, http.Store)
        self.assertIn('web', location.SCHEME_TO_CLS_BACKEND_MAP['https'])
        self.mock.get(URL, content=b'image-bytes',
                      headers={'Content-Length': '11'})
        self.mock.head(URL, headers={'Content-Length': '11'})
        it, size = store.get(URL, 'web')
        self.assertEqual(11, size)
        self.assertEqual(b'image-bytes', b''.join(it))
        self.assertEqual(11,
                         store.get_size_from_uri_and_backend(URL, 'web'))

    def test_get_without_backend_searches(self):
        self._create()
        self.mock.get(URL, content=b'found')
        it, size = store.get(URL, None)
        self.assertEqual(b'found', b''.join(it))

    def test_not_found(self):
        self._create()
        self.mock.get(URL, status_code=404)
        self.assertRaises(exceptions.NotFound, store.get, URL, 'web')

    def test_read_only(self):
        self._create()
        self.assertRaises(exceptions.StoreAddDisabled,
                          store.add_with_multihash, self.conf, 'img',
                          io.BytesIO(b'x'), 1, 'web', 'md5')
        self.assertRaises(exceptions.StoreDeleteNotSupported,
                          store.delete, URL, 'web')
        self.assertEqual(0, self.mock.call_count)

    def test_group_options(self):
        self.config(https_insecure=False, group='web')
        self._create()
        self.assertTrue(self._verify_of('web').verify)
        self.assertFalse(self._verify_of('web2').verify)

    def test_backend_defaults_fallback(self):
        self.config(https_ca_certificates_file='/etc/defaults-ca.pem',
                    http_proxy_information={'https': 'http://proxy:3128'},
                    group='backend_defaults')
        self.config(https_ca_certificates_file='/etc/web2-ca.pem',
                    group='web2')
        self._create()
        req = self._verify_of('web')
        self.assertEqual('/etc/defaults-ca.pem', req.verify)
        self.assertEqual('http://proxy:3128', req.proxies['https'])
        self.assertEqual('/etc/web2-ca.pem', self._verify_of('web2').verify)

    def test_url_prefix_maps_locations_to_the_backend(self):
        # What Glance's store_utils._get_store_id_from_uri does with an
        # image location added through PATCH /v2/images/{id}.
        self._create()
        for uri in ('http://images.example.com/a.img', URL):
            scheme = urllib.parse.urlparse(uri).scheme
            found = [name for name, info in
                     store.location.SCHEME_TO_CLS_BACKEND_MAP[scheme].items()
                     if info['store'].url_prefix and
                     uri.startswith(info['store'].url_prefix)]
            self.assertEqual(['web', 'web2'], sorted(found))

    def test_get_size_unreachable_is_bad_uri(self):
        # glance.location._check_location_uri: BadStoreUri -> 400
        self._create()
        self.mock.head(URL, exc=requests.exceptions.ConnectionError('x'))
        self.mock.get(URL, exc=requests.exceptions.ConnectionError('x'))
        self.assertRaises(exceptions.BadStoreUri,
                          store.get_size_from_uri_and_backend, URL, 'web',
                          context=None)
        self.assertRaises(exceptions.RemoteServiceUnavailable,
                          store.get, URL, 'web')

    def test_malformed_uri(self):
        self._create()
        self.assertRaises(exceptions.BadStoreUri, store.get,
                          'https://user:pw@/img', 'web')
