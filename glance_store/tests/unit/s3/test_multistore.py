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

"""Unit tests of the S3 store in multi-store mode.

One Glance-style glance-api.conf: two S3 backends with different
checksum settings ('aws': data integrity protection on, always / always,
CRC32; 'rgw': switch off), a file backend, the reserved staging and
tasks stores, and ``[backend_defaults]`` supplying what the backends do
not set.  The S3 backends talk to moto's S3 server on loopback.
"""

import base64
import hashlib
import io
import logging
import os
import zlib

import fixtures

import glance_store as store
from glance_store import exceptions
from glance_store import location
from glance_store.tests.unit.s3 import fixtures as s3fx
from glance_store.tests import utils as test_utils


class MultiStoreS3Test(s3fx.MultiStoreS3Base):

    def setUp(self):
        super().setUp()
        self.count = self.load()
        self.aws = self.backend('aws')
        self.rgw = self.backend('rgw')
        self.sent = {'aws': [], 'rgw': []}
        for name, st in (('aws', self.aws), ('rgw', self.rgw)):
            events = st._s3_client.meta.events
            events.register('provide-client-params.s3.PutObject',
                            self._recorder(name, 'params'))
            events.register('before-send.s3.PutObject',
                            self._recorder(name, 'headers'))

    def _recorder(self, name, kind):
        def record(**kwargs):
            if kind == 'params':
                self.sent[name].append(('params', dict(kwargs['params'])))
            else:
                headers = {k.lower(): v for k, v in
                           kwargs['request'].headers.items()}
                self.sent[name].append(('headers', headers))
        return record

    def _sent(self, name, kind):
        found = [v for k, v in self.sent[name] if k == kind]
        self.assertEqual(1, len(found), self.sent[name])
        return found[0]

    def test_every_backend_loaded(self):
        # aws, rgw, files and the two reserved stores.
        self.assertEqual(5, self.count)
        for name in ('aws', 'rgw', 'files') + tuple(s3fx.RESERVED):
            self.assertIsNotNone(self.backend(name))
        self.assertEqual('s3', self.aws.__module__.split('.')[-1])
        self.assertIsNot(self.aws._s3_client, self.rgw._s3_client)
        self.assertEqual({'aws', 'rgw'}, set(
            location.SCHEME_TO_CLS_BACKEND_MAP['s3+https'] if self.moto.url
            .startswith('https') else
            location.SCHEME_TO_CLS_BACKEND_MAP['s3']))
        self.assertTrue(self.aws.url_prefix.endswith('/aws-images/'))
        self.assertTrue(self.rgw.url_prefix.endswith('/rgw-images/'))

    def test_each_client_carries_its_own_policy(self):
        aws_config = self.aws._s3_client.meta.config
        rgw_config = self.rgw._s3_client.meta.config
        # 'always' is done by the store: botocore stays at when_required.
        self.assertEqual('when_required',
                         aws_config.request_checksum_calculation)
        self.assertEqual('when_required',
                         aws_config.response_checksum_validation)
        # The switch off: when_required in both directions, whatever
        # [backend_defaults] says.
        self.assertEqual('when_required',
                         rgw_config.request_checksum_calculation)
        self.assertEqual('when_required',
                         rgw_config.response_checksum_validation)
        self.assertTrue(self.aws.policy.enabled)
        self.assertEqual('always', self.aws.policy.request)
        self.assertEqual('always', self.aws.policy.response)
        self.assertFalse(self.rgw.policy.enabled)
        self.assertEqual('when_required', self.rgw.policy.request)
        self.assertEqual('when_required', self.rgw.policy.response)

    def test_params_sent_on_put(self):
        data = test_utils.pattern_bytes(3000)
        crc = base64.b64encode(
            zlib.crc32(data).to_bytes(4, 'big')).decode()
        for name in ('aws', 'rgw'):
            store.add_with_multihash(self.conf, 'img-' + name,
                                     io.BytesIO(data), len(data), name,
                                     'sha256')
        params = self._sent('aws', 'params')
        self.assertEqual(crc, params['ChecksumCRC32'])
        headers = self._sent('aws', 'headers')
        self.assertEqual(crc, s3fx._text(headers['x-amz-checksum-crc32']))
        self.assertNotIn('content-encoding', headers)
        self.assertEqual(str(len(data)), s3fx._text(headers['content-length']))

        params = self._sent('rgw', 'params')
        self.assertEqual([], [k for k in params if k.startswith('Checksum')])
        headers = self._sent('rgw', 'headers')
        self.assertEqual([], [k for k in headers
                              if k.startswith('x-amz-checksum') or
                              k.startswith('x-amz-sdk-checksum')])
        self.assertNotIn('content-encoding', headers)

        # What the server kept: a CRC32 for aws only.
        stored = self.inspect.head_object(
            Bucket='aws-images', Key='img-aws', ChecksumMode='ENABLED')
        self.assertEqual(crc, stored['ChecksumCRC32'])
        stored = self.inspect.head_object(
            Bucket='rgw-images', Key='img-rgw', ChecksumMode='ENABLED')
        self.assertNotIn('ChecksumCRC32', stored)

    def test_glance_add_get_delete(self):
        for name in ('aws', 'rgw', 'files'):
            data = test_utils.pattern_bytes(5000, seed=len(name))
            # Glance passes the first six arguments positionally.
            uri, size, md5, multihash, metadata = \
                store.add_with_multihash(self.conf, 'image-' + name,
                                         io.BytesIO(data), len(data), name,
                                         'sha256')
            self.assertEqual({'store': name}, metadata)
            self.assertEqual(len(data), size)
            self.assertEqual(hashlib.md5(data).hexdigest(), md5)
            self.assertEqual(hashlib.sha256(data).hexdigest(), multihash)
            self.assertNotIn(s3fx.SECRET_KEY, uri)

            self.assertEqual(len(data), store.get_size_from_uri_and_backend(
                uri, name))
            iterator, got_size = store.get(uri, name)
            self.assertEqual(data, b''.join(iterator))
            self.assertEqual(len(data), got_size)
            # Without a backend the image is found by searching.
            iterator, got_size = store.get(uri, None)
            self.assertEqual(data, b''.join(iterator))
            store.delete(uri, None)
            self.assertRaises(exceptions.NotFound, store.get, uri, name)
        for bucket in ('aws-images', 'rgw-images'):
            self.assertEqual([], self.inspect.list_objects_v2(
                Bucket=bucket).get('Contents', []))

    def test_default_backend(self):
        data = b'default backend'
        uri, _s, _m, _h, metadata = store.add_with_multihash(
            self.conf, 'img', io.BytesIO(data), len(data), None, 'sha256')
        self.assertEqual({'store': 'aws'}, metadata)
        self.assertIn('/aws-images/img', uri)

    def test_search_skips_a_backend_without_the_bucket(self):
        # With backends on different servers, the first one searched may
        # not have the image's bucket at all: that is "not here", and the
        # search goes on to the next backend.
        data = b'only on rgw'
        uri = store.add_with_multihash(self.conf, 'img', io.BytesIO(data),
                                       len(data), 'rgw', 'sha256')[0]
        stub = s3fx.Stubbed.for_test(self, self.aws._s3_client)
        stub.add_client_error('get_object', 'NoSuchBucket',
                              'The specified bucket does not exist', 404)
        iterator, _size = store.get(uri, None)
        self.assertEqual(data, b''.join(iterator))
        stub.assert_no_pending_responses()

    def test_reserved_stores_keep_their_directory(self):
        for name, sub in (('os_glance_staging_store', 'staging'),
                          ('os_glance_tasks_store', 'tasks')):
            st = self.backend(name)
            uri, _s, _m, _h, metadata = store.add_with_multihash(
                self.conf, 'staged', io.BytesIO(b'abc'), 3, name, 'sha256')
            self.assertEqual({'store': name}, metadata)
            self.assertTrue(uri.startswith(
                'file://' + os.path.join(self.test_dir, sub)), uri)
            self.assertIsNotNone(st)

    def test_verify_store_needs_a_loaded_default(self):
        store.verify_store()
        self.config(default_backend='nowhere', group='glance_store')
        self.assertRaises(RuntimeError, store.verify_store)


class BackendDefaultsTest(s3fx.MultiStoreS3Base):
    """[backend_defaults] supplies what a backend does not set."""

    def test_fallback_and_own_values(self):
        # rgw sets only its host and bucket: every checksum option comes
        # from [backend_defaults]; aws sets its own, which win.
        self.load(rgw={'s3_store_host': self.moto.url,
                       's3_store_bucket': 'rgw-images'},
                  aws={'s3_store_host': self.moto.url,
                       's3_store_bucket': 'aws-images',
                       's3_store_request_checksum_calculation':
                           'when_supported',
                       's3_store_response_checksum_validation': 'always',
                       's3_store_checksum_algorithm': 'CRC32'})
        aws = self.backend('aws')
        rgw = self.backend('rgw')

        self.assertTrue(rgw.policy.enabled)  # from the defaults
        self.assertEqual('when_required', rgw.policy.request)  # default
        self.assertEqual('when_supported', rgw.policy.response)
        self.assertEqual('SHA256', rgw.policy.algorithm)
        config = rgw._s3_client.meta.config
        self.assertEqual('when_required',
                         config.request_checksum_calculation)
        self.assertEqual('when_supported',
                         config.response_checksum_validation)

        self.assertTrue(aws.policy.enabled)  # from the defaults too
        self.assertEqual('when_supported', aws.policy.request)
        self.assertEqual('always', aws.policy.response)
        self.assertEqual('CRC32', aws.policy.algorithm)
        config = aws._s3_client.meta.config
        self.assertEqual('when_supported',
                         config.request_checksum_calculation)
        self.assertEqual('when_required',
                         config.response_checksum_validation)

        # The non-checksum defaults reached both backends.
        for st in (aws, rgw):
            self.assertEqual(s3fx.ACCESS_KEY, st.access_key)
            self.assertEqual('path', st.bucket_url_format)
            self.assertTrue(st.create_bucket_on_put)

    def test_own_false_beats_a_true_default(self):
        self.load()
        rgw = self.backend('rgw')
        self.assertFalse(rgw.policy.enabled)
        # Values it inherits while its switch is off are reported as
        # ignored, not applied.
        self.assertIn(('s3_store_response_checksum_validation',
                       'when_supported'), rgw.policy.ignored)
        self.assertIn(('s3_store_checksum_algorithm', 'SHA256'),
                      rgw.policy.ignored)

    def test_defaults_only_for_unset_options(self):
        self.load(defaults={
            's3_store_access_key': s3fx.ACCESS_KEY,
            's3_store_secret_key': s3fx.SECRET_KEY,
            's3_store_bucket_url_format': 'path',
            's3_store_create_bucket_on_put': 'True',
            's3_store_thread_pools': '3',
            's3_store_large_object_size': '7'})
        aws = self.backend('aws')
        rgw = self.backend('rgw')
        for st in (aws, rgw):
            self.assertEqual(3, st.s3_store_thread_pools)
            self.assertEqual(7 * 1024 * 1024, st.s3_store_large_object_size)
        # Without a checksum default, rgw's policy is the option default.
        self.assertFalse(rgw.policy.enabled)
        self.assertEqual((), rgw.policy.ignored)
        self.assertTrue(aws.policy.precompute)


class DollarInSecretTest(s3fx.MultiStoreS3Base):
    """A '$' in one backend's secret key disables that backend only."""

    SECRET = 'abc$defSECRETtail'

    def test_only_that_backend_is_disabled(self):
        log = self.useFixture(fixtures.FakeLogger(
            level=logging.DEBUG, name=None,
            format='%(levelname)s %(name)s %(message)s'))
        rgw = dict(s3fx.glance_sections(self.test_dir, self.moto.url)['rgw'])
        rgw['s3_store_secret_key'] = self.SECRET
        # The API starts: every backend is loaded.
        self.assertEqual(5, self.load(rgw=rgw))
        data = test_utils.pattern_bytes(1000)
        # The other backends work.
        for name in ('aws', 'files'):
            uri = self.backend(name).add('img-' + name, io.BytesIO(data),
                                         len(data), 'sha256')[0]
            self.assertTrue(uri)
        # This one refuses writes, naming the option and the fix.
        e = self.assertRaises(
            exceptions.StoreAddDisabled, store.add_with_multihash,
            self.conf, 'img', io.BytesIO(data), len(data), 'rgw', 'sha256')
        self.assertIn('s3_store_secret_key', str(e))
        self.assertIn("'$$'", str(e))
        self.assertIn("'$$'", log.output)
        for text in (str(e), log.output):
            self.assertNotIn('defSECRET', text)
            self.assertNotIn('SECRETtail', text)

    def test_whole_configuration_readable_after_load(self):
        # Glance with debug on logs every option once the stores are
        # created: a '$' in an option the store has not read (it stops at
        # the first bad one) must not stop that, nor show the value.
        log = self.useFixture(fixtures.FakeLogger(
            level=logging.DEBUG, name=None,
            format='%(levelname)s %(name)s %(message)s'))
        rgw = dict(s3fx.glance_sections(self.test_dir, self.moto.url)['rgw'])
        rgw['s3_store_secret_key'] = self.SECRET
        rgw['s3_store_access_key'] = 'xyz$uvwACCESShead'
        rgw['s3_store_thread_pools'] = '10$threads'
        self.assertEqual(5, self.load(rgw=rgw))
        for name in ('s3_store_secret_key', 's3_store_access_key',
                     's3_store_thread_pools'):
            self.assertIn('%s in [rgw]' % name, log.output)
        dump = []
        self.conf.log_opt_values(_Lines(dump), logging.DEBUG)
        dump = '\n'.join(dump)
        self.assertIn('rgw.s3_store_secret_key', dump)
        self.assertRegex(dump, r'rgw\.s3_store_thread_pools +\= None\n')
        for text in (log.output, dump):
            for piece in ('defSECRET', 'SECRETtail', 'uvwACCESS'):
                self.assertNotIn(piece, text)


class _Lines(object):
    """A logger for log_opt_values keeping the formatted lines."""

    def __init__(self, lines):
        self.lines = lines

    def log(self, level, msg, *args):
        self.lines.append(msg % args)
