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

"""Unit tests of s3_transport: proxies, timeouts and retries per backend.

* the botocore ``Config`` of the store's client for each option, and for
  none (what the store did before the options existed);
* values that cannot work are refused for that backend alone, naming the
  option; the other backends serve;
* a proxy password never reaches a log record.
"""

import io
import logging
import os

import fixtures

import glance_store as store
from glance_store._drivers import s3
from glance_store._drivers import s3_transport
from glance_store import capabilities
from glance_store import exceptions
from glance_store.tests import base
from glance_store.tests.unit.s3 import fixtures as s3fx

PASSWORD = 'pr0xy-Passw0rd-9'
PROXY = 'http://glance:%s@127.0.0.1:3128' % PASSWORD


class ClientConfigTest(base.StoreBaseTest):
    """The ``Config`` of the client configure_add builds."""

    def _config(self, **options):
        st = s3fx.configure_store(self, re_raise_bsc=True, **options)
        return st.client.meta.config

    def test_defaults_keep_the_store_behaviour(self):
        config = self._config()
        # Environment proxies (botocore reads them when proxies is None),
        # botocore's timeouts, and the standard mode the store always set,
        # with botocore's number of attempts.
        self.assertIsNone(config.proxies)
        self.assertEqual(60, config.connect_timeout)
        self.assertEqual(60, config.read_timeout)
        self.assertEqual({'mode': 'standard'}, config.retries)

    def test_https_proxy(self):
        config = self._config(s3_store_https_proxy='http://127.0.0.1:3128')
        self.assertEqual({'https': 'http://127.0.0.1:3128'}, config.proxies)

    def test_http_proxy(self):
        config = self._config(s3_store_http_proxy='http://proxy:8080')
        self.assertEqual({'http': 'http://proxy:8080'}, config.proxies)

    def test_both_proxies(self):
        config = self._config(s3_store_http_proxy='http://a:1',
                              s3_store_https_proxy='https://b:2')
        self.assertEqual({'http': 'http://a:1', 'https': 'https://b:2'},
                         config.proxies)

    def test_timeouts(self):
        config = self._config(s3_store_connect_timeout=2.5,
                              s3_store_read_timeout=7)
        self.assertEqual(2.5, config.connect_timeout)
        self.assertEqual(7, config.read_timeout)

    def test_attempts(self):
        config = self._config(s3_store_retry_max_attempts=5)
        self.assertEqual({'mode': 'standard', 'total_max_attempts': 5},
                         config.retries)

    def test_retry_modes(self):
        for mode in s3_transport.RETRY_MODES:
            config = self._config(s3_store_retry_mode=mode,
                                  s3_store_retry_max_attempts=1)
            self.assertEqual({'mode': mode, 'total_max_attempts': 1},
                             config.retries)

    def test_checksum_and_pool_settings_kept(self):
        st = s3fx.configure_store(self, re_raise_bsc=True,
                                  s3_store_read_timeout=3)
        config = st.client.meta.config
        self.assertEqual(3, config.read_timeout)
        self.assertEqual('when_required', config.request_checksum_calculation)
        self.assertEqual(st.s3_store_thread_pools * s3.CONCURRENT_UPLOADS,
                         config.max_pool_connections)

    def test_settings_carry_the_transport(self):
        st = s3fx.configure_store(self, s3_store_read_timeout=3,
                                  s3_store_https_proxy=PROXY)
        transport = st.settings.transport
        self.assertEqual(3, transport.read_timeout)
        self.assertEqual(PROXY, transport.https_proxy)


class RefusedValuesTest(base.StoreBaseTest):
    """Values set in code (the file case is MultiStoreTransportTest)."""

    def _refused(self, option, **options):
        e = self.assertRaises(exceptions.BadStoreConfiguration,
                              s3fx.configure_store, self, re_raise_bsc=True,
                              **options)
        self.assertIn(option, e.msg)
        return e.msg

    def test_proxy_without_scheme(self):
        msg = self._refused('s3_store_https_proxy',
                            s3_store_https_proxy='proxy.example.com:3128')
        self.assertIn('http://host:port', msg)

    def test_proxy_other_scheme(self):
        self._refused('s3_store_http_proxy',
                      s3_store_http_proxy='socks5://proxy:1080')

    def test_proxy_bad_port(self):
        self._refused('s3_store_http_proxy',
                      s3_store_http_proxy='http://proxy:port')

    def test_refused_proxy_password_masked(self):
        msg = self._refused('s3_store_https_proxy',
                            s3_store_https_proxy='ftp://u:%s@p:1' % PASSWORD)
        self.assertNotIn(PASSWORD, msg)

    def test_timeouts_above_zero(self):
        for option in ('s3_store_connect_timeout', 's3_store_read_timeout'):
            for value in (0, -1):
                # Both set each time: overrides stay until the test ends.
                options = {'s3_store_connect_timeout': 60,
                           's3_store_read_timeout': 60, option: value}
                msg = self._refused(option, **options)
                self.assertIn('above 0', msg)

    def test_attempts_range(self):
        for value in (0, -2, s3_transport.MAX_ATTEMPTS + 1):
            self._refused('s3_store_retry_max_attempts',
                          s3_store_retry_max_attempts=value)


class SettingsTest(base.StoreBaseTest):

    def test_config_kwargs_of_defaults(self):
        self.assertEqual({'connect_timeout': 60.0, 'read_timeout': 60.0,
                          'retries': {'mode': 'standard'}},
                         s3_transport.TransportSettings().config_kwargs())

    def test_config_kwargs_with_everything(self):
        settings = s3_transport.TransportSettings(
            http_proxy='http://a:1', https_proxy=None, connect_timeout=1.5,
            read_timeout=2.0, max_attempts=4, retry_mode='adaptive')
        self.assertEqual({'connect_timeout': 1.5, 'read_timeout': 2.0,
                          'retries': {'mode': 'adaptive',
                                      'total_max_attempts': 4},
                          'proxies': {'http': 'http://a:1'}},
                         settings.config_kwargs())

    def test_describe_masks_the_password(self):
        text = s3_transport.TransportSettings(
            https_proxy=PROXY, max_attempts=2).describe()
        self.assertNotIn(PASSWORD, text)
        self.assertIn('https via http://glance:***@127.0.0.1:3128', text)
        self.assertIn('attempts 2', text)
        self.assertIn('proxies from the environment',
                      s3_transport.TransportSettings().describe())

    def test_mask_password(self):
        self.assertEqual('http://p:3128',
                         s3_transport.mask_password('http://p:3128'))
        self.assertEqual('http://u:***@p:3128',
                         s3_transport.mask_password('http://u:pw@p:3128'))
        self.assertEqual('http://u@p:3128',
                         s3_transport.mask_password('http://u@p:3128'))

    def test_proxy_password_kept_out_of_logs(self):
        log = self.useFixture(fixtures.FakeLogger(level=logging.DEBUG))
        s3fx.configure_store(self, s3_store_https_proxy=PROXY)
        # As urllib3 or botocore would log a proxy URL, or a request
        # dump with a Proxy-Authorization made of it.
        logging.getLogger('urllib3.test').debug('proxy %s', PROXY)
        logging.getLogger('botocore.test').debug(
            'headers %s', {'Proxy-Authorization': PASSWORD})
        self.assertNotIn(PASSWORD, log.output)
        self.assertIn('glance:***@127.0.0.1', log.output)
        self.assertIn('network: https via http://glance:***@', log.output)


class MultiStoreTransportTest(s3fx.MotoServerMixin, base.MultiStoreBaseTest):
    """Bad values in glance-api.conf stop that backend's writes alone."""

    def setUp(self):
        super().setUp()
        self.log = self.useFixture(fixtures.FakeLogger(
            level=logging.WARNING, format='%(levelname)s %(message)s'))

    def _start(self, bad):
        good = s3fx.store_options(
            s3_store_host=self.moto.url, s3_store_bucket_url_format='path',
            s3_store_create_bucket_on_put='True',
            s3_store_read_timeout='5', s3_store_retry_max_attempts='2')
        broken = dict(good, s3_store_bucket='other')
        broken.update(bad)
        path = os.path.join(self.test_dir, 'glance-api.conf')
        s3fx.write_config(path, {
            'DEFAULT': {'enabled_backends': 'good:s3, broken:s3'},
            'glance_store': {'default_backend': 'good'},
            'good': good, 'broken': broken})
        self.conf(['--config-file', path], project='glance',
                  default_config_files=[])
        self.addCleanup(self.conf.clear)
        store.register_store_opts(self.conf)
        self.assertEqual(2, store.create_multi_stores(self.conf))

    def _check(self, option):
        broken = store.get_store_from_store_identifier('broken')
        self.assertFalse(broken.is_capable(
            capabilities.BitMasks.WRITE_ACCESS))
        warnings = [line for line in self.log.output.splitlines()
                    if line.startswith('WARNING') and 'broken' in line]
        self.assertEqual(1, len(warnings), self.log.output)
        self.assertIn(option, warnings[0])
        good = store.get_store_from_store_identifier('good')
        self.assertEqual(5, good.client.meta.config.read_timeout)
        data = b'image data'
        uri = store.add_with_multihash(self.conf, 'img', io.BytesIO(data),
                                       len(data), 'good', 'sha256')[0]
        iterator, _size = store.get(uri, 'good')
        self.assertEqual(data, b''.join(iterator))

    def test_timeout_not_a_number(self):
        self._start({'s3_store_read_timeout': 'soon'})
        self._check('s3_store_read_timeout')

    def test_unknown_retry_mode(self):
        self._start({'s3_store_retry_mode': 'stubborn'})
        self._check('s3_store_retry_mode')

    def test_attempts_not_a_number(self):
        self._start({'s3_store_retry_max_attempts': 'many'})
        self._check('s3_store_retry_max_attempts')

    def test_proxy_not_a_url(self):
        self._start({'s3_store_https_proxy': 'just words'})
        self._check('s3_store_https_proxy')
