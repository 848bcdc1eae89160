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

import inspect
import re

from oslotest import base

import glance_store
from glance_store import exceptions

# Every exception Glance catches, with keyword arguments for its template.
_KWARGS = {
    'MissingCredentialError': {'required': 'user'},
    'BadAuthStrategy': {'expected': 'keystone', 'received': 'none'},
    'AuthorizationRedirect': {'uri': 'http://auth'},
    'NotFound': {'image': 'img-1'},
    'UnknownHashingAlgo': {'algo': 'sha999'},
    'UnknownScheme': {'scheme': 'gopher'},
    'BadStoreUri': {'uri': 'file://'},
    'Duplicate': {'image': 'img-1'},
    'StorageFull': {},
    'StorageWriteDenied': {},
    'AuthBadRequest': {'url': 'http://auth'},
    'AuthUrlNotFound': {'url': 'http://auth'},
    'AuthorizationFailure': {},
    'NotAuthenticated': {},
    'Forbidden': {},
    'Invalid': {},
    'BadStoreConfiguration': {'store_name': 's3', 'reason': 'no bucket'},
    'DriverLoadFailure': {'driver_name': 'swift'},
    'StoreDeleteNotSupported': {},
    'StoreGetNotSupported': {},
    'StoreRandomGetNotSupported': {'offset': 5, 'chunk_size': 10},
    'StoreAddDisabled': {},
    'MaxRedirectsExceeded': {'redirects': 5},
    'NoServiceEndpoint': {},
    'RegionAmbiguity': {'region': 'r1'},
    'RemoteServiceUnavailable': {},
    'HasSnapshot': {},
    'InUseByStore': {},
    'HostNotInitialized': {'host': 'h1'},
    'ChecksumMismatch': {'object': 'bucket/key', 'algorithm': 'CRC32'},
    'TimeoutError': {'timeout': 60},
}


def _store_exception_classes():
    return {name: cls for name, cls in inspect.getmembers(
        exceptions, inspect.isclass)
        if issubclass(cls, exceptions.GlanceStoreException)}


class TestExceptionClasses(base.BaseTestCase):

    def test_every_class_is_covered_by_the_table(self):
        self.assertEqual(set(_KWARGS) | {'GlanceStoreException'},
                         set(_store_exception_classes()))

    def test_exported_at_top_level(self):
        for name in list(_KWARGS) + ['BackendException',
                                     'UnsupportedBackend',
                                     'RedirectException',
                                     'GlanceStoreException']:
            self.assertIs(getattr(exceptions, name),
                          getattr(glance_store, name), name)

    def test_msg_formatted_from_class_template(self):
        for name, kwargs in _KWARGS.items():
            cls = getattr(exceptions, name)
            exc = cls(**kwargs)
            expected = cls.message % kwargs if kwargs else cls.message
            self.assertEqual(expected, exc.msg, name)
            self.assertEqual(expected, str(exc), name)
            self.assertNotIn('%(', exc.msg, name)
            for value in kwargs.values():
                self.assertIn(str(value), exc.msg, name)

    def test_templates_take_exactly_the_table_kwargs(self):
        for name, kwargs in _KWARGS.items():
            cls = getattr(exceptions, name)
            self.assertEqual(set(kwargs),
                             set(re.findall(r'%\((\w+)\)s', cls.message)),
                             name)

    def test_message_is_a_class_level_template(self):
        for name, cls in _store_exception_classes().items():
            self.assertIn('message', vars(cls), name)
            self.assertIsInstance(cls.message, str, name)

    def test_custom_message_wins(self):
        for name, kwargs in _KWARGS.items():
            exc = getattr(exceptions, name)('custom text')
            self.assertEqual('custom text', exc.msg, name)
            self.assertEqual('custom text', str(exc), name)

    def test_custom_message_is_formatted_with_kwargs(self):
        exc = exceptions.NotFound('no %(what)s here', what='image')
        self.assertEqual('no image here', exc.msg)

    def test_template_kwargs_mismatch_does_not_raise(self):
        cases = [
            (exceptions.NotFound, {'wrong': 'x'}),
            (exceptions.BadStoreConfiguration, {'store_name': 's3'}),
            (exceptions.NotFound, {'image': object()}),
        ]
        for cls, kwargs in cases:
            exc = cls(**kwargs)
            self.assertIsInstance(exc.msg, str)
            self.assertTrue(exc.msg)
        # Missing keys leave the raw template rather than failing.
        self.assertEqual(exceptions.NotFound.message,
                         exceptions.NotFound(wrong='x').msg)
        bad_format = exceptions.Invalid('%(a)d', a='not a number')
        self.assertEqual('%(a)d', bad_format.msg)

    def test_without_kwargs_the_raw_template_is_kept(self):
        self.assertEqual(exceptions.NotFound.message,
                         exceptions.NotFound().msg)

    def test_base_class_default_message(self):
        exc = exceptions.GlanceStoreException()
        self.assertEqual(exceptions.GlanceStoreException.message, exc.msg)

    def test_hierarchy(self):
        self.assertTrue(issubclass(exceptions.StoreRandomGetNotSupported,
                                   exceptions.StoreGetNotSupported))
        self.assertTrue(issubclass(exceptions.UnsupportedBackend,
                                   exceptions.BackendException))
        for name in _KWARGS:
            self.assertTrue(issubclass(getattr(exceptions, name),
                                       exceptions.GlanceStoreException))

    def test_redirect_exception_parses_url(self):
        exc = exceptions.RedirectException('https://example.com:8443/a?b=c')
        self.assertEqual('example.com:8443', exc.url.netloc)
        self.assertEqual('/a', exc.url.path)
        self.assertEqual('https', exc.url.scheme)

    def test_exceptions_pickle_free_args(self):
        exc = exceptions.UnknownScheme(scheme='gopher')
        self.assertEqual((exc.msg,), exc.args)
