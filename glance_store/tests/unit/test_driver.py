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

import hashlib
import io
import logging
import os

import fixtures
from oslo_config import cfg
from oslo_log import formatters
from oslo_log import log as oslo_log
from oslotest import base

from glance_store import capabilities
from glance_store import driver
from glance_store import exceptions
from glance_store import location
from glance_store.tests import fakes

BitMasks = capabilities.BitMasks


def _conf(args=None):
    conf = cfg.ConfigOpts()
    conf(args or [], project='glance_store_test')
    return conf


class _Loc(object):
    """The smallest location a fake store reads: a path."""

    def __init__(self, path):
        self.store_location = fakes.StoreLocation({'path': path}, None)

    def get_store_uri(self):
        return self.store_location.get_uri()


class TestStoreConfigure(base.BaseTestCase):

    def setUp(self):
        super().setUp()
        self.useFixture(fakes.FakeDrivers())
        self.log = self.useFixture(fixtures.FakeLogger('glance_store'))
        self.conf = _conf()

    def test_good_configuration_keeps_write_access(self):
        store = fakes.FakeStore(self.conf)
        store.configure()
        self.assertTrue(store.is_capable(BitMasks.WRITE_ACCESS))
        self.assertEqual(1, store.configure_calls)
        self.assertEqual('fake://single/', store.url_prefix)

    def test_bad_configuration_disables_writes(self):
        self.conf.register_opts(fakes.FakeStore.OPTIONS, 'glance_store')
        self.conf.set_override('fake_store_mode', 'bad', 'glance_store')
        store = fakes.FakeStore(self.conf)
        store.configure()
        self.assertFalse(store.is_capable(BitMasks.WRITE_ACCESS))
        self.assertTrue(store.is_capable(BitMasks.READ_RANDOM))
        self.assertIn('mode is bad', self.log.output)
        self.assertIn('disabled', self.log.output)
        self.assertRaises(exceptions.StoreAddDisabled, store.add,
                          'id', io.BytesIO(b'x'), 1, 'md5')
        self.assertRaises(exceptions.StoreDeleteNotSupported, store.delete,
                          _Loc('id'))
        fakes.DATA[(None, 'img')] = b'abc'
        self.assertEqual(b'abc', b''.join(store.get(_Loc('img'))[0]))
        # The class keeps its capabilities for the next instance.
        self.assertTrue(fakes.FakeStore._CAPABILITIES &
                        BitMasks.WRITE_ACCESS)

    def test_refused_add_says_why(self):
        self.conf.register_opts(fakes.FakeStore.OPTIONS, 'glance_store')
        self.conf.set_override('fake_store_mode', 'bad', 'glance_store')
        store = fakes.FakeStore(self.conf)
        store.configure()
        for _attempt in range(2):  # every refused call, not the first
            e = self.assertRaises(exceptions.StoreAddDisabled, store.add,
                                  'id', io.BytesIO(b'x'), 1, 'md5')
            self.assertIn('mode is bad', e.msg)
            self.assertIn('mode is bad', str(e))
        self.conf.set_override('fake_store_mode', 'ok', 'glance_store')
        store.configure()
        self.assertIsNone(store.add_disabled_reason)

    def test_option_named_in_bad_configuration(self):
        e = exceptions.BadStoreConfiguration(
            store_name='s3', reason='the value is not usable',
            option='s3_store_region_name')
        self.assertIn('s3_store_region_name', e.msg)
        self.assertEqual('s3', e.store_name)
        e = exceptions.BadStoreConfiguration(
            store_name='s3', reason='s3_store_host is not set',
            option='s3_store_host')
        self.assertEqual(1, e.msg.count('s3_store_host'))

    def test_bad_configuration_re_raised_on_request(self):
        self.conf.register_opts(fakes.FakeStore.OPTIONS, 'be1')
        self.conf.set_override('fake_store_mode', 'bad', 'be1')
        store = fakes.FakeStore(self.conf, backend='be1')
        e = self.assertRaises(exceptions.BadStoreConfiguration,
                              store.configure, re_raise_bsc=True)
        self.assertIn('mode is bad', e.msg)
        self.assertFalse(store.is_capable(BitMasks.WRITE_ACCESS))
        self.assertIn('be1', self.log.output)

    def test_other_errors_propagate(self):
        store = fakes.FakeStore(self.conf)
        store.configure_add = lambda: 1 / 0
        self.assertRaises(ZeroDivisionError, store.configure)

    def test_configure_refreshes_capabilities(self):
        store = fakes.FakeStore(self.conf)
        calls = []
        store.update_capabilities = lambda: calls.append(1)
        store.configure()
        self.assertEqual([1], calls)


class TestStoreAttributes(base.BaseTestCase):

    def setUp(self):
        super().setUp()
        self.conf = _conf()

    def test_url_prefix_defaults_to_none(self):
        self.assertIsNone(driver.Store(self.conf).url_prefix)

    def test_weight_single_store_is_zero(self):
        self.assertEqual(0, fakes.FakeStore(self.conf).weight)

    def test_weight_multi_store(self):
        self.conf.register_opt(cfg.IntOpt('weight', default=0), 'be1')
        self.conf.set_override('weight', 42, 'be1')
        self.assertEqual(42, fakes.FakeStore(self.conf, backend='be1').weight)

    def test_weight_without_option_is_zero(self):
        self.assertEqual(0, fakes.FakeStore(self.conf, backend='be2').weight)

    def test_weight_of_unknown_group_is_zero(self):
        store = driver.Store(self.conf, backend='nowhere')
        self.assertEqual(0, store.weight)

    def test_options_registered_in_group_and_defaults(self):
        store = fakes.FakeStore(self.conf, backend='be1')
        # Unset in the backend's group (None there): [backend_defaults]
        # gives the value, as upstream's BackendGroupConfiguration does.
        self.assertIsNone(self.conf.be1.fake_store_mode)
        self.assertEqual('ok', self.conf.backend_defaults.fake_store_mode)
        self.assertEqual('ok', store.store_conf.fake_store_mode)
        self.assertNotIn('glance_store', self.conf)

    def test_options_registered_in_glance_store_for_single(self):
        fakes.FakeStore(self.conf)
        self.assertEqual(4, self.conf.glance_store.fake_store_chunk_size)
        # Registered in [backend_defaults] too, as upstream: code that sets
        # overrides there (upstream's own tests do) does not fail.
        self.assertEqual(4, self.conf.backend_defaults.fake_store_chunk_size)
        self.conf.set_override('fake_store_chunk_size', 9,
                               group='backend_defaults')
        self.assertEqual(4, self.conf.glance_store.fake_store_chunk_size)

    def test_an_earlier_option_with_another_default_is_kept(self):
        self.conf.register_opt(
            cfg.StrOpt('filesystem_store_datadir', default='/staging'),
            'os_glance_staging_store')

        class DatadirStore(fakes.FakeFileStore):
            OPTIONS = [cfg.StrOpt('filesystem_store_datadir',
                                  default='/var/lib/glance/images')]

        store = DatadirStore(self.conf, backend='os_glance_staging_store')
        store.configure()
        self.assertEqual('/staging', store.datadir)

    def test_no_conf_registers_nothing(self):
        store = fakes.FakeStore(None)
        self.assertIsNone(store.conf)

    def test_get_store_location_class(self):
        store = fakes.FakeStore(self.conf)
        self.assertIs(fakes.StoreLocation, store.get_store_location_class())
        # Cached on the instance once loaded.
        self.assertIs(fakes.StoreLocation, store.store_location_class)
        self.assertIs(fakes.StoreLocation, store.get_store_location_class())

    def test_get_store_location_class_missing(self):
        self.assertRaises(ImportError,
                          driver.Store(self.conf).get_store_location_class)

    def test_base_methods_not_implemented(self):
        store = driver.Store(self.conf)
        store.set_capabilities(BitMasks.ALL)
        loc = _Loc('x')
        for call in (lambda: store.get_schemes(),
                     lambda: store.get(loc),
                     lambda: store.get_size(loc),
                     lambda: store.add('id', b'', 0, 'md5'),
                     lambda: store.delete(loc),
                     lambda: store.set_acls(loc, public=True)):
            self.assertRaises(NotImplementedError, call)
        self.assertIsNone(store.configure_add())

    def test_base_store_capabilities_are_checked(self):
        store = driver.Store(self.conf)
        self.assertRaises(exceptions.StoreGetNotSupported, store.get,
                          _Loc('x'))
        self.assertRaises(exceptions.StoreAddDisabled, store.add,
                          'id', b'', 0, 'md5')
        self.assertRaises(exceptions.StoreDeleteNotSupported, store.delete,
                          _Loc('x'))


class TestBackCompatAdd(base.BaseTestCase):

    DATA = b'0123456789'

    def setUp(self):
        super().setUp()
        self.useFixture(fakes.FakeDrivers())
        self.store = fakes.FakeStore(_conf())
        self.store.configure()
        self.md5 = hashlib.md5(self.DATA).hexdigest()
        self.sha512 = hashlib.sha512(self.DATA).hexdigest()
        self.ctx = object()
        self.verifier = _Verifier()

    def _add(self, *args, **kwargs):
        image_id = 'img-%d' % len(fakes.DATA)
        return image_id, self.store.add(image_id, io.BytesIO(self.DATA),
                                        len(self.DATA), *args, **kwargs)

    def test_old_calls_return_a_4_tuple_with_md5(self):
        cases = [
            ((), {}),
            ((self.ctx,), {}),
            ((self.ctx, self.verifier), {}),
            ((None,), {}),
            ((), {'context': self.ctx}),
            ((), {'context': self.ctx, 'verifier': self.verifier}),
        ]
        for args, kwargs in cases:
            image_id, result = self._add(*args, **kwargs)
            self.assertEqual(('fake://' + image_id, len(self.DATA),
                              self.md5, {}), result, (args, kwargs))
            call = self.store.add_calls[-1]
            self.assertEqual('md5', call['hashing_algo'])
            expected_ctx = args[0] if args else kwargs.get('context')
            self.assertIs(expected_ctx, call['context'])

    def test_old_positional_verifier_is_passed(self):
        self._add(self.ctx, self.verifier)
        call = self.store.add_calls[-1]
        self.assertIs(self.verifier, call['verifier'])
        self.assertIs(self.ctx, call['context'])
        self.assertEqual(self.DATA, self.verifier.data)

    def test_new_calls_return_a_5_tuple(self):
        cases = [
            (('sha512',), {}),
            (('sha512', self.ctx), {}),
            (('sha512', self.ctx, self.verifier), {}),
            ((), {'hashing_algo': 'sha512'}),
            ((), {'hashing_algo': 'sha512', 'context': self.ctx}),
        ]
        for args, kwargs in cases:
            image_id, result = self._add(*args, **kwargs)
            self.assertEqual(('fake://' + image_id, len(self.DATA),
                              self.md5, self.sha512, {}), result,
                             (args, kwargs))
            self.assertEqual('sha512',
                             self.store.add_calls[-1]['hashing_algo'])

    def test_new_call_with_another_algorithm(self):
        _image_id, result = self._add('sha256')
        self.assertEqual(hashlib.sha256(self.DATA).hexdigest(), result[3])

    def test_wrapper_keeps_the_name(self):
        self.assertEqual('add', fakes.FakeStore.add.__name__)


class _Verifier(object):
    def __init__(self):
        self.data = b''

    def update(self, chunk):
        self.data += chunk


class _ListLogger(object):
    """A logger for log_opt_values that keeps the formatted lines."""

    def __init__(self, lines):
        self.lines = lines

    def log(self, level, msg, *args):
        self.lines.append(msg % args)


class TestBackendGroupConfiguration(base.BaseTestCase):

    OPTS = [cfg.StrOpt('colour', default='grey'),
            cfg.IntOpt('size', default=1)]

    def _conf(self, text=None):
        args = []
        if text is not None:
            path = os.path.join(self.useFixture(fixtures.TempDir()).path,
                                'test.conf')
            with open(path, 'w') as f:
                f.write(text)
            args = ['--config-file', path]
        conf = cfg.ConfigOpts()
        for group in ('be1', 'be2', driver.BACKEND_DEFAULTS_GROUP,
                      'glance_store'):
            conf.register_opts(self.OPTS, group)
        conf(args, project='glance_store_test')
        return conf

    def test_defaults_when_nothing_is_set(self):
        conf = self._conf()
        bgc = driver.BackendGroupConfiguration(self.OPTS, 'be1', conf)
        self.assertEqual('grey', bgc.colour)
        self.assertEqual(1, bgc['size'])

    def test_dollar_in_a_value_names_the_option_not_the_value(self):
        for text in ('[be1]\ncolour = pa$sword\n',
                     '[backend_defaults]\ncolour = pa$sword\n',
                     '[be1]\ncolour = pa${be1.colour}sword\n'):
            bgc = driver.BackendGroupConfiguration(self.OPTS, 'be1',
                                                   self._conf(text))
            e = self.assertRaises(exceptions.BadStoreConfiguration,
                                  getattr, bgc, 'colour')
            self.assertIn('colour', str(e))
            self.assertIn("'$$'", str(e))
            self.assertNotIn('sword', str(e))
            self.assertEqual(1, bgc.size)

    def test_dollar_error_logged_without_the_value(self):
        # oslo.log's formatter adds the exception being handled to an
        # error record: oslo.config's one names part of the value.
        log_conf = cfg.ConfigOpts()
        oslo_log.register_options(log_conf)
        log_conf([], project='glance_store_test')
        stream = io.StringIO()
        handler = logging.StreamHandler(stream)
        handler.setFormatter(formatters.ContextFormatter(config=log_conf))
        logger = logging.getLogger(driver.__name__)
        logger.addHandler(handler)
        self.addCleanup(logger.removeHandler, handler)
        bgc = driver.BackendGroupConfiguration(
            self.OPTS, 'be1', self._conf('[be1]\ncolour = pa$sword\n'))
        self.assertRaises(exceptions.BadStoreConfiguration,
                          getattr, bgc, 'colour')
        self.assertIn('colour in [be1]', stream.getvalue())
        self.assertNotIn('sword', stream.getvalue())

    def test_unreadable_value_readable_by_others_after_the_error(self):
        # Glance with debug on logs every option's value once the stores
        # are configured: that must not raise (the API would not start).
        key = cfg.StrOpt('key', secret=True)
        conf = self._conf('[be1]\ncolour = pa$sword\n'
                          '[be2]\nkey = top$secret\n')
        for group in ('be1', 'be2', driver.BACKEND_DEFAULTS_GROUP):
            conf.register_opt(key, group)
        opts = self.OPTS + [key]
        be1 = driver.BackendGroupConfiguration(opts, 'be1', conf)
        be2 = driver.BackendGroupConfiguration(opts, 'be2', conf)
        self.assertRaises(exceptions.BadStoreConfiguration,
                          getattr, be1, 'colour')
        self.assertRaises(exceptions.BadStoreConfiguration,
                          getattr, be2, 'key')
        self.assertEqual(driver.UNREADABLE_VALUE, conf.be1.colour)
        self.assertEqual(driver.UNREADABLE_VALUE, conf.be2.key)
        # Other options and backends are not touched.
        self.assertEqual('grey', be2.colour)
        self.assertEqual(1, be1.size)
        # The stores, and a new one, still refuse the value.
        again = driver.BackendGroupConfiguration(opts, 'be1', conf)
        for bgc, name in ((be1, 'colour'), (again, 'colour'), (be2, 'key')):
            e = self.assertRaises(exceptions.BadStoreConfiguration,
                                  getattr, bgc, name)
            self.assertIn("%s in [%s]" % (name, bgc.config_group), str(e))
            self.assertIn("'$$'", str(e))
        logged = []
        conf.log_opt_values(_ListLogger(logged), logging.DEBUG)
        text = '\n'.join(logged)
        self.assertIn('be2.key', text)
        self.assertNotIn('secret', text)
        self.assertNotIn('sword', text)

    def test_find_unreadable_reports_and_masks_all(self):
        key = cfg.StrOpt('key', secret=True)
        conf = self._conf('[be1]\ncolour = pa$sword\nsize = 1$x\n'
                          '[backend_defaults]\nkey = top$secret\n')
        for group in ('be1', 'be2', driver.BACKEND_DEFAULTS_GROUP):
            conf.register_opt(key, group)
        log = self.useFixture(fixtures.FakeLogger(name=driver.__name__))
        bgc = driver.BackendGroupConfiguration(self.OPTS + [key], 'be1',
                                               conf)
        self.assertEqual(['colour', 'size', 'key'], bgc.find_unreadable())
        for name in ('colour in [be1]', 'size in [be1]',
                     'key in [backend_defaults]'):
            self.assertEqual(1, log.output.count(name), log.output)
        self.assertEqual(driver.UNREADABLE_VALUE, conf.be1.colour)
        self.assertEqual(driver.UNREADABLE_VALUE, conf.backend_defaults.key)
        self.assertIsNone(conf.be1.size)
        # Found again, from the record: not logged again.
        self.assertEqual(['colour', 'size', 'key'], bgc.find_unreadable())
        for name in ('colour in [be1]', 'size in [be1]',
                     'key in [backend_defaults]'):
            self.assertEqual(1, log.output.count(name), log.output)
        self.assertNotIn('sword', log.output)
        self.assertNotIn('secret', log.output)

    def test_unreadable_non_string_value_reads_as_none(self):
        # Glance's debug dump reads every option, integers too.
        conf = self._conf('[be1]\nsize = 1$x\n')
        bgc = driver.BackendGroupConfiguration(self.OPTS, 'be1', conf)
        other = driver.BackendGroupConfiguration(self.OPTS, 'be2', conf)
        for _attempt in range(2):
            e = self.assertRaises(exceptions.BadStoreConfiguration,
                                  getattr, bgc, 'size')
            self.assertIn('size in [be1]', str(e))
        self.assertIsNone(conf.be1.size)
        # Still refused by a new store on the same configuration, not
        # replaced by the fallback's value.
        again = driver.BackendGroupConfiguration(self.OPTS, 'be1', conf)
        self.assertRaises(exceptions.BadStoreConfiguration,
                          getattr, again, 'size')
        self.assertEqual(1, other.size)
        logged = []
        conf.log_opt_values(_ListLogger(logged), logging.DEBUG)
        self.assertIn('be1.size', '\n'.join(logged))

    def test_unreadable_choice_value_reads_as_none(self):
        shade = cfg.StrOpt('shade', choices=['light', 'dark'])
        conf = self._conf('[be1]\nshade = da$rk\n')
        for group in ('be1', 'be2', driver.BACKEND_DEFAULTS_GROUP):
            conf.register_opt(shade, group)
        bgc = driver.BackendGroupConfiguration(self.OPTS + [shade], 'be1',
                                               conf)
        self.assertEqual(['shade'], bgc.find_unreadable())
        self.assertIsNone(conf.be1.shade)
        self.assertRaises(exceptions.BadStoreConfiguration,
                          getattr, bgc, 'shade')

    def test_reset_configuration_reads_its_new_values(self):
        # Tests reset one configuration object and load another file: a
        # mask left from before must not refuse the new values.
        conf = self._conf('[be1]\nsize = 1$x\ncolour = pa$sword\n')
        bgc = driver.BackendGroupConfiguration(self.OPTS, 'be1', conf)
        self.assertEqual(['colour', 'size'], bgc.find_unreadable())
        path = os.path.join(self.useFixture(fixtures.TempDir()).path,
                            'next.conf')
        with open(path, 'w') as f:
            f.write('[backend_defaults]\nsize = 5\n')
        conf.reset()
        conf(['--config-file', path], project='glance_store_test')
        fresh = driver.BackendGroupConfiguration(self.OPTS, 'be1', conf)
        self.assertEqual(5, fresh.size)
        self.assertEqual('grey', fresh.colour)
        self.assertEqual([], fresh.find_unreadable())

    def test_record_is_per_configuration_object(self):
        # Another configuration with the same groups reads its own value.
        first = self._conf('[be1]\nsize = 1$x\n')
        bgc = driver.BackendGroupConfiguration(self.OPTS, 'be1', first)
        self.assertEqual(['size'], bgc.find_unreadable())
        second = self._conf('[be1]\nsize = 7\n')
        self.assertEqual(
            7, driver.BackendGroupConfiguration(self.OPTS, 'be1', second).size)

    def test_dollar_doubled_is_a_literal(self):
        bgc = driver.BackendGroupConfiguration(
            self.OPTS, 'be1', self._conf('[be1]\ncolour = pa$$word\n'))
        self.assertEqual('pa$word', bgc.colour)

    def test_unknown_option_is_still_unknown(self):
        bgc = driver.BackendGroupConfiguration(self.OPTS, 'be1',
                                               self._conf())
        self.assertRaises(cfg.NoSuchOptError, getattr, bgc, 'flavour')
        self.assertIsNone(bgc.get('flavour'))

    def test_unset_option_falls_back_to_override(self):
        conf = self._conf()
        conf.set_override('colour', 'blue', 'backend_defaults')
        bgc = driver.BackendGroupConfiguration(self.OPTS, 'be1', conf)
        self.assertEqual('blue', bgc.colour)
        self.assertEqual(1, bgc.size)

    def test_own_override_wins(self):
        conf = self._conf()
        conf.set_override('colour', 'blue', 'backend_defaults')
        conf.set_override('colour', 'red', 'be1')
        self.assertEqual(
            'red',
            driver.BackendGroupConfiguration(self.OPTS, 'be1', conf).colour)
        self.assertEqual(
            'blue',
            driver.BackendGroupConfiguration(self.OPTS, 'be2', conf).colour)

    def test_config_file(self):
        conf = self._conf("[backend_defaults]\ncolour = blue\nsize = 7\n"
                          "[be1]\ncolour = red\n"
                          "[be2]\nsize = 1\n")
        be1 = driver.BackendGroupConfiguration(self.OPTS, 'be1', conf)
        be2 = driver.BackendGroupConfiguration(self.OPTS, 'be2', conf)
        self.assertEqual('red', be1.colour)
        self.assertEqual(7, be1.size)
        self.assertEqual('blue', be2.colour)
        # Set explicitly to the option default: still the backend's value.
        self.assertEqual(1, be2.size)

    def test_cleared_override_falls_back_again(self):
        conf = self._conf()
        conf.set_override('colour', 'blue', 'backend_defaults')
        conf.set_override('colour', 'red', 'be1')
        bgc = driver.BackendGroupConfiguration(self.OPTS, 'be1', conf)
        self.assertEqual('red', bgc.colour)
        conf.clear_override('colour', 'be1')
        self.assertEqual('blue', bgc.colour)
        conf.clear_override('colour', 'backend_defaults')
        self.assertEqual('grey', bgc.colour)
        conf.set_override('colour', 'green', 'be1')
        conf.set_override('colour', 'blue', 'backend_defaults')
        conf.reset()  # drops every override and default set
        conf.set_override('colour', 'blue', 'backend_defaults')
        # A store created again (as create_multi_stores does) falls back.
        bgc = driver.BackendGroupConfiguration(self.OPTS, 'be1', conf)
        self.assertEqual('blue', bgc.colour)

    def test_upstream_api(self):
        # What an out-of-tree driver written for upstream calls.
        conf = cfg.ConfigOpts()
        conf([], project='glance_store_test')
        bgc = driver.BackendGroupConfiguration(self.OPTS, 'be9', conf=conf)
        self.assertEqual('grey', conf.backend_defaults.colour)
        self.assertIsNone(conf.be9.colour)
        self.assertEqual('grey', bgc.colour)
        bgc.append_config_values([cfg.BoolOpt('shiny', default=True)])
        self.assertTrue(conf.backend_defaults.shiny)
        self.assertTrue(bgc.get('shiny'))
        self.assertEqual('none', bgc.get('no_such_option', 'none'))
        self.assertIsNone(bgc.get('no_such_option'))
        bgc.set_default('colour', 'black')
        self.assertEqual('black', bgc.colour)
        conf.set_override('colour', 'white', 'be9')
        self.assertEqual('white', bgc.get('colour'))

    def test_own_registered_default_beats_the_fallback(self):
        conf = self._conf()
        conf.register_opt(cfg.StrOpt('datadir', default='/images'),
                          'backend_defaults')
        conf.register_opt(cfg.StrOpt('datadir', default='/images'), 'be1')
        conf.register_opt(cfg.StrOpt('datadir', default='/staging'),
                          'staging')
        conf.set_override('datadir', '/shared', 'backend_defaults')

        class DatadirStore(fakes.FakeStore):
            OPTIONS = [cfg.StrOpt('datadir', default='/images')]

        staging = DatadirStore(conf, backend='staging')
        self.assertEqual('/staging', staging.store_conf.datadir)
        self.assertEqual('/shared',
                         DatadirStore(conf, backend='be1').store_conf.datadir)
        self.assertEqual('/shared',
                         DatadirStore(conf, backend='be2').store_conf.datadir)
        conf.set_override('datadir', '/srv/staging', 'staging')
        self.assertEqual('/srv/staging', staging.store_conf.datadir)

    def test_single_store_has_no_fallback(self):
        conf = self._conf("[backend_defaults]\ncolour = blue\n")
        bgc = driver.BackendGroupConfiguration(self.OPTS, None, conf)
        self.assertEqual('glance_store', bgc.backend_group)
        self.assertEqual('grey', bgc.colour)
        self.assertEqual('blue', conf.backend_defaults.colour)

    def test_fallback_group_without_the_option(self):
        conf = self._conf()
        conf.register_opt(cfg.StrOpt('only_here', default='x'), 'be1')
        conf.set_override('only_here', 'y', 'be1')
        bgc = driver.BackendGroupConfiguration(self.OPTS, 'be1', conf)
        self.assertEqual('y', bgc.only_here)
        conf.clear_override('only_here', 'be1')
        self.assertEqual('x', bgc.only_here)

    def test_without_fallback_group_registered(self):
        conf = cfg.ConfigOpts()
        conf.register_opts(self.OPTS, 'be1')
        conf([], project='glance_store_test')
        bgc = driver.BackendGroupConfiguration(self.OPTS, 'be1', conf)
        self.assertEqual('grey', bgc.colour)

    def test_unknown_option(self):
        bgc = driver.BackendGroupConfiguration(self.OPTS, 'be1', self._conf())
        self.assertRaises(AttributeError, getattr, bgc, 'nope')
        self.assertRaises(cfg.NoSuchOptError, getattr, bgc, 'nope')
        self.assertRaises(AttributeError, getattr, bgc, '_private')

    def test_global_conf_by_default(self):
        bgc = driver.BackendGroupConfiguration(self.OPTS)
        self.assertIs(cfg.CONF, bgc.conf)
        self.assertEqual(self.OPTS, bgc.store_opts)

    def test_store_conf_of_a_store_uses_the_fallback(self):
        conf = _conf()
        store = fakes.FakeStore(conf, backend='be1')
        conf.set_override('fake_store_mode', 'bad', 'backend_defaults')
        store.configure()
        self.assertFalse(store.is_capable(BitMasks.WRITE_ACCESS))
        conf.set_override('fake_store_mode', 'ok', 'be1')
        store = fakes.FakeStore(conf, backend='be1')
        store.configure()
        self.assertTrue(store.is_capable(BitMasks.WRITE_ACCESS))


class TestLocationClassesOfFakes(base.BaseTestCase):
    """The fakes' location class, used by the other core tests."""

    def test_round_trip(self):
        loc = location.Location('fake', fakes.StoreLocation, None,
                                uri='fake://a/b')
        self.assertEqual('fake://a/b', loc.get_store_uri())
        self.assertIsNone(loc.get_uri())
