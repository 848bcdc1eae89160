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

"""Unit tests of the S3 store's configuration, from real config files.

* values upstream glance_store 5.7.0 starts with (a 0 threshold, a part
  size below 5 MB, no upload thread) start the store here, raised to the
  nearest working value with one WARNING each, and uploads work;
* an error while building one backend's client (a region botocore
  refuses, a CA file that is missing or unreadable, an unusable endpoint,
  any other failure) disables that backend's writes with a reason naming
  the option, and never stops the other backends;
* the client: its connection pool, the lazy configuration under a lock;
* location URIs with two schemes are refused.
"""

import inspect
import io
import logging
import os
import threading
from unittest import mock
import urllib.parse

import boto3
import fixtures
from oslo_utils import units

import glance_store as store
from glance_store._drivers import s3
from glance_store._drivers import s3_checksums
from glance_store import capabilities
from glance_store import exceptions
from glance_store import location
from glance_store.tests import base
from glance_store.tests.unit.s3 import fixtures as s3fx
from glance_store.tests import utils as test_utils

SMALL = bytes(range(256)) * 3 + b'tail'           # one PutObject


WRITE = capabilities.BitMasks.WRITE_ACCESS
UPSTREAM_SIZES = {'s3_store_large_object_size': '0',
                  's3_store_large_object_chunk_size': '1',
                  's3_store_thread_pools': '0'}


class SingleStoreSizesTest(s3fx.ConfigFileMixin, s3fx.MotoServerMixin,
                           base.StoreBaseTest):

    def setUp(self):
        super().setUp()
        self.log = self.useFixture(fixtures.FakeLogger(
            level=logging.WARNING, format='%(levelname)s %(message)s'))

    def _start(self, **values):
        options = s3fx.store_options(
            s3_store_host=self.moto.url, s3_store_bucket_url_format='path',
            s3_store_create_bucket_on_put='True')
        options.update(values)
        options.update(stores='s3', default_store='s3')
        self.load({'glance_store': options})
        store.register_opts(self.conf)
        store.create_stores(self.conf)
        return store.get_store_from_scheme('s3')

    def test_upstream_values_start_the_store_with_warnings(self):
        st = self._start(**UPSTREAM_SIZES)
        # The attributes Glance shows hold the values used.
        self.assertEqual(0, st.s3_store_large_object_size)
        self.assertEqual(5 * units.Mi, st.s3_store_large_object_chunk_size)
        self.assertEqual(1, st.s3_store_thread_pools)
        self.assertTrue(st.is_capable(WRITE))
        warnings = self.warnings()
        self.assertEqual(
            ["WARNING S3 backend s3: s3_store_large_object_chunk_size = 1 "
             "is below S3's minimum part size (5 MB); using 5.",
             "WARNING S3 backend s3: s3_store_thread_pools = 0 leaves no "
             "thread to send parts; using 1."], warnings)
        # Every image is a multipart upload, and it works.
        data = test_utils.pattern_bytes(20000)
        uri = store.add_to_backend_with_multihash(
            self.conf, 'img', io.BytesIO(data), len(data), 'sha256')[0]
        iterator, size = store.get_from_backend(uri)
        self.assertEqual(data, b''.join(iterator))
        head = self.moto.client().head_object(
            Bucket=s3fx.BUCKET, Key='img', PartNumber=1)
        self.assertEqual(1, head['PartsCount'])

    def test_negative_values_raised_too(self):
        st = self._start(s3_store_large_object_chunk_size='-3',
                         s3_store_thread_pools='-1')
        self.assertEqual(5 * units.Mi, st.s3_store_large_object_chunk_size)
        self.assertEqual(1, st.s3_store_thread_pools)
        self.assertEqual(2, len(self.warnings()), self.warnings())

    def test_working_values_give_no_warning(self):
        st = self._start(s3_store_large_object_size='1',
                         s3_store_large_object_chunk_size='5',
                         s3_store_thread_pools='1')
        self.assertEqual(units.Mi, st.s3_store_large_object_size)
        self.assertEqual([], self.warnings())

    def test_pool_sized_for_concurrent_uploads(self):
        st = self._start(s3_store_thread_pools='8')
        self.assertEqual(8 * s3.CONCURRENT_UPLOADS,
                         st._s3_client.meta.config.max_pool_connections)

    def test_pool_never_below_the_minimum(self):
        st = self._start(s3_store_thread_pools='1')
        self.assertEqual(s3.MIN_POOL_CONNECTIONS,
                         st._s3_client.meta.config.max_pool_connections)


BAD_BACKENDS = {
    # option: (value, words of the reason)
    'region': ({'s3_store_region_name': 'custom_region_name'},
               ('s3_store_region_name = custom_region_name',)),
    'cacert': ({'s3_store_cacert': '/nonexistent/ca.pem'},
               ('s3_store_cacert = /nonexistent/ca.pem',
                'does not exist')),
    'host': ({'s3_store_host': 'https://bad host'},
             ('s3_store_host = https://bad host',)),
}


class MultiStoreBadBackendTest(s3fx.ConfigFileMixin, s3fx.MotoServerMixin,
                               base.MultiStoreBaseTest):

    def setUp(self):
        super().setUp()
        self.log = self.useFixture(fixtures.FakeLogger(
            level=logging.WARNING, format='%(levelname)s %(message)s'))

    def _start(self, bad):
        good = s3fx.store_options(
            s3_store_host=self.moto.url, s3_store_bucket_url_format='path',
            s3_store_create_bucket_on_put='True')
        broken = dict(good, s3_store_bucket='other')
        broken.update(bad)
        self.load({
            'DEFAULT': {'enabled_backends': 'good:s3, broken:s3, '
                                            'files:file'},
            'glance_store': {'default_backend': 'good'},
            'good': good, 'broken': broken,
            'files': {'filesystem_store_datadir':
                      os.path.join(self.test_dir, 'images')},
        })
        store.register_store_opts(self.conf)
        # Never raises: one backend's failure is that backend's.
        self.assertEqual(3, store.create_multi_stores(self.conf))

    def _check(self, words):
        data = b'image data'
        broken = store.get_store_from_store_identifier('broken')
        e = self.assertRaises(exceptions.StoreAddDisabled, broken.add,
                              'img', io.BytesIO(data), len(data), 'sha256')
        reason = [w for w in self.warnings() if 'broken' in w]
        self.assertEqual(1, len(reason), self.warnings())
        # Glance still maps the broken backend's locations to it.
        self.assertIsNotNone(broken.url_prefix)
        self.assertTrue(broken.url_prefix.endswith('/other/'),
                        broken.url_prefix)
        for word in words:
            # In the start-up warning, and repeated by the refused add.
            self.assertIn(word, reason[0])
            self.assertIn(word, e.msg)
        # The other backends serve.
        for backend in ('good', 'files'):
            uri = store.add_with_multihash(self.conf, 'img-' + backend,
                                           io.BytesIO(data), len(data),
                                           backend, 'sha256')[0]
            iterator, _size = store.get(uri, backend)
            self.assertEqual(data, b''.join(iterator))

    def test_region_botocore_refuses(self):
        bad, words = BAD_BACKENDS['region']
        self._start(bad)
        self._check(words)

    def test_missing_cacert(self):
        bad, words = BAD_BACKENDS['cacert']
        self._start(bad)
        self._check(words)

    def test_unusable_endpoint(self):
        bad, words = BAD_BACKENDS['host']
        self._start(bad)
        self._check(words)

    def test_unreadable_cacert(self):
        path = os.path.join(self.test_dir, 'ca.pem')
        with open(path, 'w') as f:
            f.write('not read')
        real_access = os.access
        self.useFixture(fixtures.MonkeyPatch(
            'os.access',
            lambda p, mode: False if p == path else real_access(p, mode)))
        self._start({'s3_store_cacert': path})
        self._check(('s3_store_cacert = %s' % path, 'is not readable'))

    def test_client_construction_failure(self):
        def fail(*args, **kwargs):
            raise RuntimeError('no client today')
        self.useFixture(fixtures.MonkeyPatch(
            'glance_store._drivers.s3.Store._create_s3_client', fail))
        self._start({})
        warnings = self.warnings()
        self.assertEqual(2, len(warnings), warnings)
        for line in warnings:
            self.assertIn('no client today', line)
            self.assertIn('s3_store_host', line)


class StubbedConfigureTest(s3fx.StubbedStoreTest):
    """Configuration seen through the client and the requests it sends."""

    def test_missing_required_option(self):
        for option in ('s3_store_host', 's3_store_access_key',
                       's3_store_secret_key', 's3_store_bucket'):
            with self.subTest(option=option):
                e = self.assertRaises(
                    exceptions.BadStoreConfiguration, self.store,
                    re_raise_bsc=True, **{option: None})
                self.assertIn(option, e.msg)
                self.assertNotIn(s3fx.SECRET_KEY, e.msg)
                st = self.store(**{option: None})
                self.assertFalse(st.is_capable(
                    capabilities.BitMasks.WRITE_ACCESS))
                self.assertTrue(st.is_capable(
                    capabilities.BitMasks.READ_ACCESS))
        st = self.store()
        self.assertTrue(st.is_capable(capabilities.BitMasks.WRITE_ACCESS))

    def test_host_scheme(self):
        # Without scheme: plain HTTP and s3:// locations, as upstream.
        for host, endpoint, prefix in (
                ('s3.example.test', 'http://s3.example.test',
                 's3://s3.example.test/%s/'),
                ('s3.example.test:8443/', 'http://s3.example.test:8443',
                 's3://s3.example.test:8443/%s/'),
                ('s3-us-west-2.amazonaws.com',
                 'http://s3-us-west-2.amazonaws.com',
                 's3://s3-us-west-2.amazonaws.com/%s/'),
                ('https://s3.example.test', 'https://s3.example.test',
                 's3+https://s3.example.test/%s/'),
                ('http://rgw.local:7480', 'http://rgw.local:7480',
                 's3://rgw.local:7480/%s/')):
            with self.subTest(host=host):
                st = self.store(s3_store_host=host)
                self.assertEqual(endpoint, st._s3_client.meta.endpoint_url)
                self.assertEqual(prefix % s3fx.BUCKET, st.url_prefix)
                stub = s3fx.Stubbed.for_test(self, st._s3_client)
                self.expect_new_object(stub, 'img')
                self.expect_put(stub, 'img', SMALL, {})
                uri = self.add(st, 'img', SMALL)[0]
                self.assertEqual(prefix % s3fx.BUCKET + 'img', uri)
                url = urllib.parse.urlsplit(stub.requests[-1][1]['url'])
                want = urllib.parse.urlsplit(endpoint)
                self.assertEqual(want.scheme, url.scheme)
                self.assertTrue(url.netloc.endswith(want.netloc))

    def test_region(self):
        for opts, region in (
                ({'s3_store_region_name': 'eu-west-3'}, 'eu-west-3'),
                ({'s3_store_host': 's3.eu-central-1.amazonaws.com'},
                 'eu-central-1'),
                ({'s3_store_host': 'https://s3-ap-south-1.amazonaws.com'},
                 'ap-south-1'),
                ({'s3_store_host': 's3.amazonaws.com'}, 'us-east-1'),
                ({'s3_store_host': 's3.eu-central-1.amazonaws.com',
                  's3_store_region_name': 'us-west-2'}, 'us-west-2'),
                ({'s3_store_host': 'rgw.example.test'}, 'us-east-1'),
                ({}, 'us-east-1')):
            with self.subTest(opts=opts):
                opts.setdefault('s3_store_region_name', '')
                st = self.store(**opts)
                self.assertEqual(region, st._s3_client.meta.region_name)

    def _capture_client_kwargs(self, **opts):
        captured = []
        real_client = boto3.session.Session.client

        def capture(session, *args, **kwargs):
            captured.append(kwargs)
            return real_client(session, *args, **kwargs)

        with mock.patch.object(boto3.session.Session, 'client',
                               autospec=True, side_effect=capture):
            st = self.store(**opts)
        self.assertEqual(1, len(captured))
        return st, captured[0]

    def test_cacert(self):
        ca = self.useFixture(fixtures.TempDir()).path + '/ca.pem'
        with open(ca, 'w') as f:
            f.write('not a real bundle\n')
        st, kwargs = self._capture_client_kwargs(s3_store_cacert=ca)
        self.assertEqual(ca, kwargs['verify'])
        st, kwargs = self._capture_client_kwargs(s3_store_cacert='')
        self.assertIs(True, kwargs['verify'])

    def test_bucket_url_format(self):
        for value in ('auto', 'virtual', 'path'):
            with self.subTest(value=value):
                st = self.store(s3_store_bucket_url_format=value)
                self.assertEqual(
                    value,
                    st._s3_client.meta.config.s3['addressing_style'])
                stub = s3fx.Stubbed.for_test(self, st._s3_client)
                stub.add_response('head_object', s3fx.head_object(1))
                st.get_size(s3fx.get_location(st, 'k'))
                url = stub.requests[0][1]['url']
                if value == 'path':
                    self.assertEqual('https://%s/%s/k' % (s3fx.HOST,
                                                          s3fx.BUCKET), url)
                elif value == 'virtual':
                    self.assertEqual('https://%s.%s/k' % (s3fx.BUCKET,
                                                          s3fx.HOST), url)

    def test_unconfigured_store_operations(self):
        st = self.store(s3_store_host=None)
        self.assertIsNone(st._s3_client)
        loc = s3.StoreLocation({'scheme': 's3', 's3serviceurl': 'h',
                                'bucket': s3fx.BUCKET, 'key': 'k'},
                               self.conf)
        # Reads try to configure again and say why they cannot.
        e = self.assertRaises(exceptions.RemoteServiceUnavailable,
                              st.get_size,
                              mock.Mock(store_location=loc))
        self.assertIn('s3_store_host', str(e))

    def test_old_botocore_refused(self):
        with mock.patch('botocore.__version__', '1.35.99'):
            e = self.assertRaises(exceptions.BadStoreConfiguration,
                                  self.store)
        self.assertIn('1.36', e.msg)
        self.assertIn('1.35.99', e.msg)

    def test_crt_algorithms_need_awscrt(self):
        for algorithm in ('CRC32C', 'CRC64NVME'):
            for request, response in (('always', 'never'),
                                      ('when_required', 'always')):
                with self.subTest(algorithm=algorithm, request=request,
                                  response=response):
                    with mock.patch.object(s3_checksums, 'crt_checksums',
                                           None):
                        e = self.assertRaises(
                            exceptions.BadStoreConfiguration,
                            self.policy_store, True, request, response,
                            algorithm, re_raise_bsc=True)
                    self.assertIn('awscrt', e.msg)
                    self.assertIn(algorithm, e.msg)
        # Not needed when the store computes nothing.
        with mock.patch.object(s3_checksums, 'crt_checksums', None):
            st = self.policy_store(True, 'when_supported', 'when_supported',
                                   'CRC32C', re_raise_bsc=True)
            st = self.policy_store(False, 'always', 'always', 'CRC64NVME',
                                   re_raise_bsc=True)
        self.assertTrue(st.is_capable(capabilities.BitMasks.WRITE_ACCESS))

    def test_new_algorithms_refused_where_botocore_lacks_them(self):
        with mock.patch.object(s3_checksums, 'botocore_knows',
                               return_value=False):
            for algorithm in ('SHA512', 'XXHASH64', 'XXHASH3', 'XXHASH128'):
                with self.subTest(algorithm=algorithm):
                    e = self.assertRaises(
                        exceptions.BadStoreConfiguration,
                        self.policy_store, True, 'always', 'always',
                        algorithm, re_raise_bsc=True)
                    self.assertIn('s3_store_checksum_algorithm', e.msg)
                    self.assertIn(algorithm, e.msg)
                    self.assertIn('botocore >= 1.42', e.msg)
                    # Not configured: its writes are disabled.
                    st = self.policy_store(True, 'always', 'always',
                                           algorithm)
                    self.assertFalse(st.is_capable(
                        capabilities.BitMasks.WRITE_ACCESS))
            # MD5 needs nothing new.
            st = self.policy_store(True, 'always', 'always', 'MD5',
                                   re_raise_bsc=True)
            self.assertTrue(st.policy.content_md5)
        with mock.patch.object(s3_checksums, 'crt_checksums', None):
            for algorithm in s3_checksums.XXHASH_ALGORITHMS:
                e = self.assertRaises(
                    exceptions.BadStoreConfiguration, self.policy_store,
                    True, 'always', 'when_required', algorithm,
                    re_raise_bsc=True)
                self.assertIn('awscrt', e.msg)
                self.assertIn(algorithm, e.msg)

    def test_one_client_reused_then_replaced(self):
        created = []
        real_client = boto3.session.Session.client

        def capture(session, *args, **kwargs):
            client = real_client(session, *args, **kwargs)
            created.append(client)
            return client

        self.useFixture(fixtures.MockPatchObject(
            boto3.session.Session, 'client', autospec=True,
            side_effect=capture))
        st = self.store()
        client = st._s3_client
        self.assertEqual([client], created)
        with s3fx.Stubbed(client) as stub:
            self.expect_new_object(stub, 'img')
            self.expect_put(stub, 'img', SMALL, {})
            self.add(st, 'img', SMALL)
            stub.add_response('get_object', s3fx.get_object(SMALL))
            self.assertEqual(SMALL, self.read_all(st, 'img')[0])
            stub.add_response('head_object', s3fx.head_object(len(SMALL)))
            self.assertEqual(len(SMALL),
                             st.get_size(s3fx.get_location(st, 'img')))
            stub.add_response('head_object', s3fx.head_object(len(SMALL)))
            stub.add_response('delete_object', {})
            st.delete(s3fx.get_location(st, 'img'))
            stub.assert_no_pending_responses()
        self.assertIs(client, st._s3_client)
        self.assertEqual(1, len(created))
        st.configure()
        self.assertIsNot(client, st._s3_client)
        self.assertEqual(2, len(created))
        self.assertIs(created[1], st._s3_client)

    def test_policy_logged_and_ignored_values_warned(self):
        logger = self.useFixture(fixtures.FakeLogger(
            name='glance_store._drivers.s3'))
        self.policy_store(False, 'always', 'when_supported')
        self.assertIn('s3_store_request_checksum_calculation = always',
                      logger.output)
        self.assertIn('s3_store_response_checksum_validation = '
                      'when_supported', logger.output)
        self.assertIn('data integrity protection off', logger.output)
        self.assertNotIn(s3fx.SECRET_KEY, logger.output)


class ClientTest(base.StoreBaseTest):

    def test_create_s3_client_takes_no_location(self):
        # Upstream's signature: Glance never passes a location.
        self.assertEqual(['self'], list(inspect.signature(
            s3.Store._create_s3_client).parameters))

    def test_lazy_configuration_once_under_concurrency(self):
        st = s3fx.configure_store(self)
        st._s3_client = None
        calls = []
        real = st.configure_add
        barrier = threading.Barrier(8)

        def counted():
            calls.append(1)
            real()
        st.configure_add = counted
        clients = []

        def first_request():
            barrier.wait()
            clients.append(st._client())
        threads = [threading.Thread(target=first_request) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual([1], calls)
        self.assertEqual(1, len({id(c) for c in clients}))


class LocationTest(base.StoreBaseTest):

    def test_two_schemes_refused(self):
        st = s3fx.configure_store(self)
        for uri in ('s3://https://s3.example.test/bucket/key',
                    's3+https://http://s3.example.test/bucket/key',
                    's3://AK:SECRET@https://s3.example.test/bucket/key'):
            e = self.assertRaises(exceptions.BadStoreUri,
                                  location.get_location_from_uri, uri)
            self.assertIn('s3+https://host/bucket/key', e.msg)
            self.assertNotIn('SECRET', e.msg)
        self.assertIsNotNone(st)


class OptionDefinitionsTest(base.StoreBaseTest):

    def test_every_choice_has_a_description(self):
        # oslo-config-generator prints "<No description provided>" for a
        # choice given without one.
        with_choices = [opt for opt in s3.Store.OPTIONS
                        if getattr(opt.type, 'choices', None)]
        self.assertEqual(
            {'s3_store_bucket_url_format',
             's3_store_request_checksum_calculation',
             's3_store_response_checksum_validation',
             's3_store_checksum_algorithm', 's3_store_retry_mode'},
            {opt.name for opt in with_choices})
        for opt in with_choices:
            for value, description in opt.type.choices.items():
                self.assertTrue(description, '%s %s' % (opt.name, value))

    def test_bounds_match_upstream(self):
        # Upstream 5.7.0: the threshold min=0, the chunk size and the
        # thread count without bounds (raised by configure_add).
        opts = {opt.name: opt for opt in s3.Store.OPTIONS}
        self.assertEqual(0, opts['s3_store_large_object_size'].type.min)
        for name in ('s3_store_large_object_chunk_size',
                     's3_store_thread_pools'):
            self.assertIsNone(opts[name].type.min, name)


class HostTest(base.StoreBaseTest):
    """What ``s3_store_host`` may hold: a scheme or none, never keys."""

    def setUp(self):
        super().setUp()
        self.log = self.useFixture(fixtures.FakeLogger(level=logging.INFO))

    def test_no_scheme_means_http_with_a_warning(self):
        # Upstream 5.7.0 reads a scheme-less host as HTTP with s3://
        # locations: Glance's url_prefix lookup of old locations needs it.
        for host in ('s3-us-west-2.amazonaws.com', 'rgw.example.test:7480'):
            with self.subTest(host=host):
                st = s3fx.configure_store(self, re_raise_bsc=True,
                                          s3_store_host=host)
                self.assertEqual('s3', st.scheme)
                self.assertEqual('http://' + host, st.endpoint_url)
                self.assertEqual('s3://%s/%s/' % (host, s3fx.BUCKET),
                                 st.url_prefix)
                self.assertIn('s3_store_host = %s has no scheme' % host,
                              self.log.output)
                self.assertIn('write https://%s' % host, self.log.output)

    def test_explicit_schemes_give_no_warning(self):
        for host in ('https://s3.example.test', 'http://rgw.local:7480'):
            st = s3fx.configure_store(self, re_raise_bsc=True,
                                      s3_store_host=host)
            self.assertEqual(host, st.endpoint_url)
        self.assertNotIn('has no scheme', self.log.output)

    def test_credentials_in_the_host_are_refused_unseen(self):
        secret = 'hostSecret0123456789'
        for host in ('https://AKIAHOSTKEY:%s@s3.example.test' % secret,
                     'AKIAHOSTKEY:%s@rgw.local:7480' % secret,
                     'http://%s@rgw.local' % secret):
            with self.subTest(host=host):
                st = s3fx.configure_store(self, s3_store_host=host)
                self.assertFalse(st.is_capable(
                    capabilities.BitMasks.WRITE_ACCESS))
                e = self.assertRaises(exceptions.BadStoreConfiguration,
                                      st.configure_add)
                self.assertIn('s3_store_host holds credentials', e.msg)
                self.assertIn('s3_store_access_key', e.msg)
                self.assertNotIn(secret, e.msg)
                self.assertNotIn(secret, str(st.url_prefix))
        self.assertNotIn(secret, self.log.output)
        self.assertNotIn('AKIAHOSTKEY', self.log.output)
