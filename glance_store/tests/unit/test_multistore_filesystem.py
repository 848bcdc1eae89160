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

"""Unit tests of the filesystem store in multi-store mode."""

import errno
import hashlib
import io
import json
import os
import stat
from unittest import mock

import glance_store as store
from glance_store._drivers import filesystem
from glance_store import capabilities
from glance_store import exceptions
from glance_store import location
from glance_store import multi_backend
from glance_store.tests import base
from glance_store.tests import utils as test_utils

RESERVED = {'os_glance_staging_store': 'file'}


class MultiStoreFilesystemTestCase(base.MultiStoreBaseTest):

    def setUp(self):
        super().setUp()
        self.dir1 = os.path.join(self.test_dir, 'one')
        self.dir2 = os.path.join(self.test_dir, 'two')
        self.staging = os.path.join(self.test_dir, 'staging')
        self.set_backends({'file1': 'file', 'file2': 'file'}, 'file1',
                          reserved=RESERVED)
        self.config(filesystem_store_datadir=self.dir1, group='file1')
        self.config(filesystem_store_datadir=self.dir2, group='file2')
        self.config(filesystem_store_datadir=self.staging,
                    group='os_glance_staging_store')

    def _create(self):
        count = store.create_multi_stores(self.conf,
                                          reserved_stores=RESERVED)
        self.assertEqual(3, count)
        return multi_backend.get_store_from_store_identifier('file1')

    def _new_store(self, backend='file1'):
        fs = filesystem.Store(self.conf, backend=backend)
        fs.configure(re_raise_bsc=True)
        return fs


class TestMultiStore(MultiStoreFilesystemTestCase):

    def test_refused_add_names_the_reason(self):
        # A datadir that cannot be created disables writes; the upload
        # Glance sends later says why.
        blocker = os.path.join(self.test_dir, 'a-file')
        with open(blocker, 'w') as f:
            f.write('x')
        self.config(filesystem_store_datadir=os.path.join(blocker, 'sub'),
                    group='file1')
        self._create()
        e = self.assertRaises(exceptions.StoreAddDisabled,
                              store.add_with_multihash, self.conf, 'img',
                              io.BytesIO(b'x'), 1, 'file1', 'sha256')
        self.assertIn(os.path.join(blocker, 'sub'), e.msg)

    def test_second_create_multi_stores_replaces_the_stores(self):
        self._create()
        new_dir = os.path.join(self.test_dir, 'again')
        self.config(filesystem_store_datadir=new_dir, group='file1')
        self._create()
        uri = store.add_with_multihash(self.conf, 'img', io.BytesIO(b'x'),
                                       1, 'file1', 'sha256')[0]
        self.assertEqual('file://' + os.path.join(new_dir, 'img'), uri)
        fs = multi_backend.get_store_from_store_identifier('file1')
        self.assertEqual('file://' + new_dir, fs.url_prefix)

    def test_add_get_delete(self):
        self._create()
        data = test_utils.pattern_bytes(70000)
        uri, size, md5, mh, meta = store.add_with_multihash(
            self.conf, 'img', io.BytesIO(data), len(data), 'file1',
            'sha512')
        self.assertEqual('file://' + os.path.join(self.dir1, 'img'), uri)
        self.assertEqual({'store': 'file1'}, meta)
        self.assertEqual(hashlib.md5(data).hexdigest(), md5)
        self.assertEqual(hashlib.sha512(data).hexdigest(), mh)

        it, length = store.get(uri, 'file1', offset=10, chunk_size=20)
        self.assertEqual(20, length)
        self.assertEqual(data[10:30], b''.join(it))
        it, length = store.get(uri, None)
        self.assertEqual(data, b''.join(it))
        self.assertEqual(len(data),
                         store.get_size_from_uri_and_backend(uri, 'file1'))
        store.delete(uri, 'file1')
        self.assertEqual([], os.listdir(self.dir1))
        self.assertRaises(exceptions.NotFound, store.get, uri, 'file1')

    def test_driver_returns_store_metadata(self):
        fs = self._create()
        result = fs.add('img', io.BytesIO(b'abc'), 3, 'md5')
        self.assertEqual({'store': 'file1'}, result[4])

    def test_back_compat_add(self):
        fs = self._create()
        result = fs.add('img', io.BytesIO(b'abc'), 3)
        self.assertEqual(4, len(result))
        self.assertEqual({'store': 'file1'}, result[3])
        self.assertEqual(hashlib.md5(b'abc').hexdigest(), result[2])

    def test_second_backend(self):
        self._create()
        uri = store.add_with_multihash(self.conf, 'img', io.BytesIO(b'x'),
                                       1, 'file2', 'md5')[0]
        self.assertEqual('file://' + os.path.join(self.dir2, 'img'), uri)
        fs2 = multi_backend.get_store_from_store_identifier('file2')
        self.assertEqual('file://' + self.dir2, fs2.url_prefix)
        scheme_map = location.SCHEME_TO_CLS_BACKEND_MAP['file']
        self.assertIs(fs2, scheme_map['file2']['store'])

    def test_default_backend(self):
        self._create()
        result = store.add_with_multihash(self.conf, 'img',
                                          io.BytesIO(b'x'), 1, None, 'md5')
        self.assertEqual({'store': 'file1'}, result[4])

    def test_reserved_staging_store(self):
        self._create()
        staging = multi_backend.get_store_from_store_identifier(
            'os_glance_staging_store')
        self.assertEqual('file://' + self.staging, staging.url_prefix)
        uri, size, md5, mh, meta = staging.add('img', io.BytesIO(b'st'), 2,
                                               'sha256')
        self.assertEqual('file://' + os.path.join(self.staging, 'img'), uri)
        self.assertEqual({'store': 'os_glance_staging_store'}, meta)

    def test_metadata_file_and_store(self):
        path = os.path.join(self.test_dir, 'meta.json')
        with open(path, 'w') as f:
            json.dump({'id': 'disk1', 'mountpoint': self.test_dir}, f)
        self.config(filesystem_store_metadata_file=path, group='file1')
        fs = self._create()
        meta = fs.add('img', io.BytesIO(b'x'), 1, 'md5')[4]
        self.assertEqual({'id': 'disk1', 'mountpoint': self.test_dir,
                          'store': 'file1'}, meta)
        self.assertNotIn('store', fs.FILESYSTEM_STORE_METADATA)


class TestBackendDefaults(MultiStoreFilesystemTestCase):

    def test_chunk_size_from_backend_defaults(self):
        self.config(filesystem_store_chunk_size=7, group='backend_defaults')
        self.config(filesystem_store_chunk_size=11, group='file2')
        fs1 = self._create()
        fs2 = multi_backend.get_store_from_store_identifier('file2')
        self.assertEqual(7, fs1.store_conf.filesystem_store_chunk_size)
        data = b'a' * 30
        for fs, size in ((fs1, 7), (fs2, 11)):
            uri = fs.add('img', io.BytesIO(data), len(data), 'md5')[0]
            it, length = fs.get(location.get_location_from_uri_and_backend(
                uri, fs.backend_group, conf=self.conf))
            chunks = list(it)
            self.assertEqual(size, len(chunks[0]))
            self.assertEqual(data, b''.join(chunks))

    def test_file_perm_from_backend_defaults(self):
        self.config(filesystem_store_file_perm=640, group='backend_defaults')
        fs = self._create()
        fs.add('img', io.BytesIO(b'x'), 1, 'md5')
        mode = os.stat(os.path.join(self.dir1, 'img')).st_mode
        self.assertEqual(0o640, stat.S_IMODE(mode))

    def test_thin_provisioning_from_backend_defaults(self):
        self.config(filesystem_thin_provisioning=True,
                    group='backend_defaults')
        fs = self._create()
        self.assertTrue(fs.store_conf.filesystem_thin_provisioning)
        with mock.patch.object(filesystem.os, 'write') as write:
            fs.add('img', io.BytesIO(bytes(100)), 100, 'md5')
        write.assert_not_called()
        self.assertEqual(100,
                         os.path.getsize(os.path.join(self.dir1, 'img')))

    def test_datadirs_beat_datadir_from_backend_defaults(self):
        other = os.path.join(self.test_dir, 'other')
        self.config(filesystem_store_datadir=os.path.join(self.test_dir,
                                                          'shared'),
                    group='backend_defaults')
        self.conf.clear_override('filesystem_store_datadir', 'file1')
        self.config(filesystem_store_datadirs=[other + ':3'], group='file1')
        fs = self._new_store('file1')
        self.assertEqual({3: [other]}, fs.priority_data_map)
        self.assertEqual('file://' + other, fs.url_prefix)

    def test_datadir_from_backend_defaults(self):
        # A backend group whose datadir was never overridden (oslo.config
        # keeps reporting a cleared override as set).
        shared = os.path.join(self.test_dir, 'shared')
        self.config(filesystem_store_datadir=shared,
                    group='backend_defaults')
        fs = self._new_store('file3')
        self.assertEqual('file://' + shared, fs.url_prefix)
        uri = fs.add('img', io.BytesIO(b'x'), 1, 'md5')[0]
        self.assertEqual('file://' + os.path.join(shared, 'img'), uri)

    def test_both_in_backend_defaults_conflict(self):
        self.config(filesystem_store_datadir=self.dir1,
                    filesystem_store_datadirs=[self.dir2],
                    group='backend_defaults')
        self.conf.clear_override('filesystem_store_datadir', 'file1')
        self.assertRaises(exceptions.BadStoreConfiguration,
                          self._new_store, 'file1')

    def test_both_in_backend_group_conflict(self):
        self.config(filesystem_store_datadirs=[self.dir2], group='file1')
        e = self.assertRaises(exceptions.BadStoreConfiguration,
                              self._new_store, 'file1')
        self.assertIn('file1', e.msg)


class TestMultiStoreFailures(MultiStoreFilesystemTestCase):

    def _files(self):
        return sorted(os.listdir(self.dir1))

    def test_missing_datadir_created(self):
        self.assertFalse(os.path.exists(self.dir1))
        self._create()
        self.assertTrue(os.path.isdir(self.dir1))

    def test_uncreatable_datadir_disables_writes(self):
        blocker = os.path.join(self.test_dir, 'blocker')
        open(blocker, 'w').close()
        self.config(filesystem_store_datadir=os.path.join(blocker, 'x'),
                    group='file1')
        fs = self._create()
        self.assertFalse(fs.is_capable(
            capabilities.BitMasks.WRITE_ACCESS))
        self.assertRaises(exceptions.StoreAddDisabled,
                          store.add_with_multihash, self.conf, 'img',
                          io.BytesIO(b'x'), 1, 'file1', 'md5')
        # The other backend is unaffected.
        store.add_with_multihash(self.conf, 'img', io.BytesIO(b'x'), 1,
                                 'file2', 'md5')

    def test_unwritable_datadir(self):
        with mock.patch.object(filesystem.os, 'access', return_value=False):
            e = self.assertRaises(exceptions.BadStoreConfiguration,
                                  self._new_store, 'file1')
        self.assertIn(self.dir1, e.msg)

    def test_disk_full(self):
        self._create()
        with mock.patch.object(filesystem.os, 'write',
                               side_effect=OSError(errno.ENOSPC, 'full')):
            self.assertRaises(exceptions.StorageFull,
                              store.add_with_multihash, self.conf, 'img',
                              io.BytesIO(b'x' * 10), 10, 'file1', 'md5')
        self.assertEqual([], self._files())

    def test_wrong_sizes(self):
        self._create()
        for declared, start in ((5, 'Size exceeds'), (20, 'Size mismatch')):
            e = self.assertRaises(exceptions.Invalid,
                                  store.add_with_multihash, self.conf,
                                  'img', io.BytesIO(b'x' * 10), declared,
                                  'file1', 'md5')
            self.assertTrue(e.msg.startswith(start), e.msg)
            self.assertEqual([], self._files())

    def test_duplicate(self):
        self._create()
        store.add_with_multihash(self.conf, 'img', io.BytesIO(b'x'), 1,
                                 'file1', 'md5')
        self.assertRaises(exceptions.Duplicate, store.add_with_multihash,
                          self.conf, 'img', io.BytesIO(b'y'), 1, 'file1',
                          'md5')
        self.assertEqual(['img'], self._files())

    def test_malformed_and_unknown_uris(self):
        self._create()
        self.assertRaises(exceptions.BadStoreUri, store.get,
                          'file://host/img', 'file1')
        self.assertRaises(exceptions.UnknownScheme, store.get,
                          'nfs:///img', 'file1')
        self.assertRaises(exceptions.UnknownScheme, store.get,
                          'file:///img', 'no-such-backend')
