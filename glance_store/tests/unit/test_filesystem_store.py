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

"""Unit tests of the filesystem store in single-store mode."""

import errno
import hashlib
import io
import json
import os
import stat
import threading
from unittest import mock

import fixtures

from glance_store._drivers import filesystem
from glance_store import backend
from glance_store import capabilities
from glance_store import exceptions
from glance_store import location
from glance_store.tests import base
from glance_store.tests import utils as test_utils

BitMasks = capabilities.BitMasks


class _StatVfs(object):
    def __init__(self, free):
        self.f_bavail = free
        self.f_frsize = 1


class RecordingReader(object):
    """A readable that records the sizes it was asked for."""

    def __init__(self, data):
        self._buf = io.BytesIO(data)
        self.sizes = []

    def read(self, size=-1):
        self.sizes.append(size)
        return self._buf.read(size)


class FilesystemStoreTestCase(base.StoreBaseTest):

    def setUp(self):
        super().setUp()
        self.datadir = os.path.join(self.test_dir, 'images')
        self.config(filesystem_store_datadir=self.datadir,
                    stores=['file'], default_store='file')
        self.store = self._make_store()
        self.register_store_schemes(self.store, 'file')

    def _make_store(self, re_raise=True):
        store = filesystem.Store(self.conf)
        store.configure(re_raise_bsc=re_raise)
        return store

    def _files(self, datadir=None):
        return sorted(os.listdir(datadir or self.datadir))

    def _loc(self, path):
        return location.get_location_from_uri('file://' + path,
                                              conf=self.conf)

    def _add(self, image_id, data, size=None, algo='sha256', **kwargs):
        if size is None:
            size = len(data)
        return self.store.add(image_id, io.BytesIO(data), size, algo,
                              **kwargs)


class TestTimeout(FilesystemStoreTestCase):
    """filesystem_store_timeout: a hung datadir does not hang the caller."""

    def test_options(self):
        opts = {o.name: o for o in filesystem.Store.OPTIONS}
        timeout = opts['filesystem_store_timeout']
        pool = opts['filesystem_store_thread_pool_size']
        threshold = opts['filesystem_store_threadpool_threshold']
        self.assertEqual((0, 0), (timeout.default, timeout.type.min))
        self.assertEqual((10, 1), (pool.default, pool.type.min))
        self.assertEqual((75, 0, 100), (threshold.default,
                                        threshold.type.min,
                                        threshold.type.max))
        self.assertRaises(ValueError, self.config,
                          filesystem_store_threadpool_threshold=101)
        self.assertRaises(ValueError, self.config,
                          filesystem_store_thread_pool_size=0)

    def _hang(self, name):
        """Make os.<name> block until the test ends."""
        release = threading.Event()
        self.addCleanup(release.set)
        real = getattr(os, name)

        def hung(*args):
            release.wait()
            return real(*args)
        self.useFixture(fixtures.MonkeyPatch('os.' + name, hung))

    def test_hung_datadir_times_out(self):
        data_path = os.path.join(self.datadir, 'img')
        with open(data_path, 'wb') as f:
            f.write(b'data')
        uri = 'file://' + data_path
        self.config(filesystem_store_timeout=1,
                    filesystem_store_thread_pool_size=2)
        self.assertEqual(1, backend.create_stores(self.conf))
        self.assertEqual(4, backend.get_size_from_backend(uri))
        self._hang('stat')
        e = self.assertRaises(exceptions.TimeoutError,
                              backend.get_size_from_backend, uri)
        self.assertIn('1 seconds', e.msg)
        self._hang('unlink')
        self.assertRaises(exceptions.TimeoutError,
                          backend.delete_from_backend, uri)
        self._hang('statvfs')
        self.assertRaises(exceptions.TimeoutError,
                          backend.add_to_backend_with_multihash,
                          self.conf, 'img2', io.BytesIO(b'x'), 1, 'md5')

    def test_pool_warning_threshold(self):
        self.config(filesystem_store_timeout=5,
                    filesystem_store_thread_pool_size=1,
                    filesystem_store_threadpool_threshold=100)
        store = self._make_store()
        with mock.patch.object(filesystem, 'LOG') as log:
            store.get_size(self._loc(self._image()))
        self.assertIn('busy', str(log.warning.call_args))

    def test_zero_means_direct_calls(self):
        store = self._make_store()
        with mock.patch.object(filesystem.futures,
                               'ThreadPoolExecutor') as pool:
            self.assertEqual(4, store.get_size(self._loc(self._image())))
        self.assertFalse(pool.called)

    def _image(self):
        path = os.path.join(self.datadir, 'img')
        with open(path, 'wb') as f:
            f.write(b'data')
        return path


class TestCreateStoresAgain(FilesystemStoreTestCase):

    def test_second_create_stores_replaces_the_store(self):
        # What Glance's tests do: a new datadir, create_stores again.
        self.assertEqual(1, backend.create_stores(self.conf))
        new_dir = os.path.join(self.test_dir, 'second')
        self.config(filesystem_store_datadir=new_dir)
        self.assertEqual(1, backend.create_stores(self.conf))
        uri = backend.add_to_backend_with_multihash(
            self.conf, 'img', io.BytesIO(b'data'), 4, 'sha256')[0]
        self.assertEqual('file://' + os.path.join(new_dir, 'img'), uri)
        self.assertEqual(['img'], self._files(new_dir))


class TestStoreLocation(FilesystemStoreTestCase):

    def test_parse_and_rebuild(self):
        loc = self._loc('/var/lib/glance/images/abc')
        self.assertEqual('/var/lib/glance/images/abc',
                         loc.store_location.path)
        self.assertEqual('file:///var/lib/glance/images/abc',
                         loc.get_store_uri())

    def test_filesystem_scheme(self):
        loc = filesystem.StoreLocation({}, self.conf)
        loc.parse_uri('filesystem:///data/img')
        self.assertEqual('filesystem', loc.scheme)
        self.assertEqual('/data/img', loc.path)
        self.assertEqual('file:///data/img', loc.get_uri())

    def test_specs(self):
        loc = filesystem.StoreLocation({'path': '/x/y'}, self.conf)
        self.assertEqual('file', loc.scheme)
        self.assertEqual('file:///x/y', loc.get_uri())

    def test_path_kept_literally(self):
        loc = filesystem.StoreLocation({}, self.conf)
        loc.parse_uri('file:///data/a b#c?d')
        self.assertEqual('/data/a b#c?d', loc.path)

    def test_malformed_uris(self):
        for uri in ('file://host/path', 'file://relative/path', 'file://',
                    'file:///a\0b', 'http://host/path', 'file:/a/b'):
            loc = filesystem.StoreLocation({}, self.conf)
            self.assertRaises(exceptions.BadStoreUri, loc.parse_uri, uri)

    def test_not_a_string(self):
        loc = filesystem.StoreLocation({}, self.conf)
        self.assertRaises(exceptions.BadStoreUri, loc.parse_uri, None)

    def test_malformed_uri_through_the_api(self):
        e = self.assertRaises(exceptions.BadStoreUri,
                              backend.get_from_backend, 'file://etc/passwd')
        self.assertIn('absolute path', e.msg)

    def test_unknown_scheme(self):
        self.assertRaises(exceptions.UnknownScheme,
                          backend.get_from_backend, 'nfs:///a/b')


class TestConfigure(FilesystemStoreTestCase):

    def test_capabilities_and_schemes(self):
        self.assertTrue(self.store.is_capable(BitMasks.READ_RANDOM,
                                              BitMasks.WRITE_ACCESS,
                                              BitMasks.DRIVER_REUSABLE))
        self.assertEqual(('file', 'filesystem'), self.store.get_schemes())
        self.assertTrue(filesystem.Store.MULTI_BACKEND_SUPPORT)

    def test_options_defaults(self):
        opts = {o.name: o for o in filesystem.Store.OPTIONS}
        self.assertEqual('/var/lib/glance/images',
                         opts['filesystem_store_datadir'].default)
        self.assertEqual(0, opts['filesystem_store_file_perm'].default)
        self.assertEqual(65536, opts['filesystem_store_chunk_size'].default)
        self.assertEqual(1, opts['filesystem_store_chunk_size'].type.min)
        self.assertFalse(opts['filesystem_thin_provisioning'].default)
        self.assertIsNone(opts['filesystem_store_metadata_file'].default)
        self.assertTrue(all(o.help for o in opts.values()))

    def test_missing_datadir_is_created(self):
        self.assertTrue(os.path.isdir(self.datadir))
        self.assertEqual('file://' + self.datadir, self.store.url_prefix)
        self.assertEqual(self.datadir, self.store.datadir)

    def test_datadir_cannot_be_created(self):
        blocker = os.path.join(self.test_dir, 'a-file')
        open(blocker, 'w').close()
        bad = os.path.join(blocker, 'images')
        self.config(filesystem_store_datadir=bad)
        e = self.assertRaises(exceptions.BadStoreConfiguration,
                              self._make_store)
        self.assertIn(bad, e.msg)
        self.assertIn('Cannot create', e.msg)

    def test_datadir_is_a_file(self):
        blocker = os.path.join(self.test_dir, 'a-file')
        open(blocker, 'w').close()
        self.config(filesystem_store_datadir=blocker)
        e = self.assertRaises(exceptions.BadStoreConfiguration,
                              self._make_store)
        self.assertIn(blocker, e.msg)

    def test_makedirs_returns_without_a_directory(self):
        bad = os.path.join(self.test_dir, 'phantom')
        self.config(filesystem_store_datadir=bad)
        with mock.patch.object(filesystem.os, 'makedirs'):
            e = self.assertRaises(exceptions.BadStoreConfiguration,
                                  self._make_store)
        self.assertIn(bad, e.msg)

    def test_bad_config_disables_writes(self):
        blocker = os.path.join(self.test_dir, 'a-file')
        open(blocker, 'w').close()
        self.config(filesystem_store_datadir=os.path.join(blocker, 'x'))
        store = self._make_store(re_raise=False)
        self.assertFalse(store.is_capable(BitMasks.WRITE_ACCESS))
        self.assertTrue(store.is_capable(BitMasks.READ_ACCESS))
        self.assertRaises(exceptions.StoreAddDisabled, store.add,
                          'img', io.BytesIO(b'x'), 1, 'md5')

    def test_unwritable_datadir(self):
        # Tests run as root, for whom every directory is writable: the
        # permission check is simulated.
        real_access = os.access

        def access(path, mode):
            if path == self.datadir:
                return False
            return real_access(path, mode)

        with mock.patch.object(filesystem.os, 'access', side_effect=access):
            e = self.assertRaises(exceptions.BadStoreConfiguration,
                                  self._make_store)
        self.assertIn(self.datadir, e.msg)
        self.assertIn('not writable', e.msg)

    def test_datadir_and_datadirs_conflict(self):
        self.config(filesystem_store_datadirs=[self.datadir + '2'])
        e = self.assertRaises(exceptions.BadStoreConfiguration,
                              self._make_store)
        self.assertIn('filesystem_store_datadirs', e.msg)

    def test_datadirs_with_default_datadir(self):
        self.conf.clear_override('filesystem_store_datadir', 'glance_store')
        one = os.path.join(self.test_dir, 'one')
        two = os.path.join(self.test_dir, 'two')
        self.config(filesystem_store_datadirs=[one + ':5', two])
        store = self._make_store()
        self.assertTrue(store.multiple_datadirs)
        self.assertEqual({5: [one], 0: [two]}, store.priority_data_map)
        self.assertEqual([5, 0], store.priority_list)
        self.assertEqual('file://' + one, store.url_prefix)
        self.assertTrue(os.path.isdir(one))
        self.assertTrue(os.path.isdir(two))

    def test_no_datadir_at_all(self):
        self.config(filesystem_store_datadir='')
        e = self.assertRaises(exceptions.BadStoreConfiguration,
                              self._make_store)
        self.assertIn('filesystem_store_datadir', e.msg)

    def _datadirs(self, *values):
        self.config(filesystem_store_datadir='',
                    filesystem_store_datadirs=list(values))

    def test_bad_priority(self):
        self._datadirs(self.datadir + ':high')
        e = self.assertRaises(exceptions.BadStoreConfiguration,
                              self._make_store)
        self.assertIn('high', e.msg)

    def test_empty_path(self):
        self._datadirs(':3')
        self.assertRaises(exceptions.BadStoreConfiguration,
                          self._make_store)

    def test_empty_priority_means_zero(self):
        self._datadirs(self.datadir + ':')
        store = self._make_store()
        self.assertEqual({0: [self.datadir]}, store.priority_data_map)

    def test_duplicate_datadir_two_priorities(self):
        self._datadirs(self.datadir + ':1', self.datadir + '/:2')
        e = self.assertRaises(exceptions.BadStoreConfiguration,
                              self._make_store)
        self.assertIn('two priorities', e.msg)
        self.assertIn('filesystem_store_datadirs', e.msg)

    def test_duplicate_datadir_same_priority_warns(self):
        # Upstream starts with it (and warns): so does this store.
        other = os.path.join(self.test_dir, 'other')
        self._datadirs(self.datadir + ':1', other, self.datadir + ':1')
        with mock.patch.object(filesystem, 'LOG') as log:
            store = self._make_store()
        self.assertTrue(store.is_capable(capabilities.BitMasks.WRITE_ACCESS))
        self.assertEqual({1: [self.datadir], 0: [other]},
                         store.priority_data_map)
        self.assertIn('more than once', str(log.warning.call_args))
        uri = backend.add_to_backend_with_multihash(
            self.conf, 'img', io.BytesIO(b'x'), 1, 'md5')[0]
        self.assertEqual('file://' + os.path.join(self.datadir, 'img'), uri)

    def _metadata_file(self, content):
        path = os.path.join(self.test_dir, 'meta.json')
        with open(path, 'w') as f:
            f.write(content if isinstance(content, str)
                    else json.dumps(content))
        self.config(filesystem_store_metadata_file=path)
        return path

    def test_metadata_dict(self):
        meta = {'id': 'fs1', 'mountpoint': self.test_dir, 'extra': ['a']}
        self._metadata_file(meta)
        store = self._make_store()
        self.assertEqual([meta], store.FILESYSTEM_STORE_METADATA)

    def test_metadata_list(self):
        meta = [{'id': 'a', 'mountpoint': '/a'},
                {'id': 'b', 'mountpoint': '/b'}]
        self._metadata_file(meta)
        self.assertEqual(meta, self._make_store().FILESYSTEM_STORE_METADATA)

    def test_bad_metadata_files(self):
        cases = [
            'not json {',
            [],
            ['a string'],
            42,
            {'id': 'x'},
            {'mountpoint': '/x'},
            {'id': 1, 'mountpoint': '/x'},
            {'id': 'x', 'mountpoint': ''},
            [{'id': 'x', 'mountpoint': '/x'}, {'id': 'y'}],
            {'id': 'x', 'mountpoint': '/x', 'size': 12},
        ]
        for content in cases:
            path = self._metadata_file(content)
            e = self.assertRaises(exceptions.BadStoreConfiguration,
                                  self._make_store)
            self.assertIn(path, e.msg, content)

    def test_missing_metadata_file(self):
        path = os.path.join(self.test_dir, 'nope.json')
        self.config(filesystem_store_metadata_file=path)
        e = self.assertRaises(exceptions.BadStoreConfiguration,
                              self._make_store)
        self.assertIn(path, e.msg)

    def test_bad_file_perm(self):
        for perm in (689, 200, 77777, 1):
            self.config(filesystem_store_file_perm=perm)
            e = self.assertRaises(exceptions.BadStoreConfiguration,
                                  self._make_store)
            self.assertIn(str(perm), e.msg)

    def test_file_perm_sets_search_bits_on_datadir(self):
        os.chmod(self.datadir, 0o700)
        self.config(filesystem_store_file_perm=644)
        self._make_store()
        mode = stat.S_IMODE(os.stat(self.datadir).st_mode)
        self.assertEqual(0o711, mode)

    def test_file_perm_group_only(self):
        os.chmod(self.datadir, 0o700)
        self.config(filesystem_store_file_perm=640)
        self._make_store()
        self.assertEqual(0o710,
                         stat.S_IMODE(os.stat(self.datadir).st_mode))

    def test_file_perm_owner_only_leaves_datadir(self):
        os.chmod(self.datadir, 0o700)
        self.config(filesystem_store_file_perm=600)
        self._make_store()
        self.assertEqual(0o700,
                         stat.S_IMODE(os.stat(self.datadir).st_mode))

    def test_chmod_failure_of_datadir_is_not_fatal(self):
        os.chmod(self.datadir, 0o700)
        self.config(filesystem_store_file_perm=644)
        with mock.patch.object(filesystem.os, 'chmod',
                               side_effect=OSError(errno.EPERM, 'no')):
            store = self._make_store()
        self.assertTrue(store.is_capable(BitMasks.WRITE_ACCESS))
        self.assertEqual(0o700,
                         stat.S_IMODE(os.stat(self.datadir).st_mode))


class TestAdd(FilesystemStoreTestCase):

    def test_add(self):
        data = test_utils.pattern_bytes(200 * 1024 + 3)
        uri, size, md5, mh, meta = self._add('img1', data)
        path = os.path.join(self.datadir, 'img1')
        self.assertEqual('file://' + path, uri)
        self.assertEqual(len(data), size)
        self.assertEqual(hashlib.md5(data).hexdigest(), md5)
        self.assertEqual(hashlib.sha256(data).hexdigest(), mh)
        self.assertEqual({}, meta)
        with open(path, 'rb') as f:
            self.assertEqual(data, f.read())
        self.assertEqual(['img1'], self._files())

    def test_add_through_the_api(self):
        data = b'hello world'
        uri, size, md5, mh, meta = backend.add_to_backend_with_multihash(
            self.conf, 'api-img', io.BytesIO(data), len(data), 'sha512')
        self.assertEqual(hashlib.sha512(data).hexdigest(), mh)
        it, length = backend.get_from_backend(uri)
        self.assertEqual(data, b''.join(it))
        self.assertEqual(len(data), backend.get_size_from_backend(uri))
        backend.delete_from_backend(uri)
        self.assertEqual([], self._files())

    def test_back_compat_add(self):
        data = b'old style'
        result = self.store.add('img-old', io.BytesIO(data), len(data))
        self.assertEqual(4, len(result))
        uri, size, checksum, meta = result
        self.assertEqual(hashlib.md5(data).hexdigest(), checksum)
        self.assertEqual(len(data), size)
        self.assertEqual({}, meta)

    def test_back_compat_add_positional_context(self):
        data = b'old style'
        context = object()
        result = self.store.add('img-old', io.BytesIO(data), len(data),
                                context)
        self.assertEqual(4, len(result))
        result = backend.add_to_backend(self.conf, 'img-old2',
                                        io.BytesIO(data), len(data))
        self.assertEqual(4, len(result))

    def test_hashing_algo_keyword(self):
        data = b'kw'
        result = self.store.add('img', io.BytesIO(data), 2,
                                hashing_algo='sha1')
        self.assertEqual(hashlib.sha1(data).hexdigest(), result[3])

    def test_unknown_size(self):
        data = test_utils.pattern_bytes(100000)
        uri, size, md5, mh, meta = self._add('img', data, size=0)
        self.assertEqual(100000, size)
        self.assertEqual(hashlib.md5(data).hexdigest(), md5)

    def test_none_or_negative_size_is_unknown(self):
        for size in (None, -1):
            result = self._add('img%s' % size, b'abc', size=size)
            self.assertEqual(3, result[1])

    def test_empty_image(self):
        uri, size, md5, mh, meta = self._add('empty', b'', size=0)
        self.assertEqual(0, size)
        self.assertEqual(hashlib.md5(b'').hexdigest(), md5)
        self.assertEqual(0, os.path.getsize(os.path.join(self.datadir,
                                                         'empty')))

    def test_short_reads(self):
        data = test_utils.pattern_bytes(5000)
        self.config(filesystem_store_chunk_size=1024)
        reader = test_utils.FakeReader(data, max_read=7)
        result = self.store.add('img', reader, len(data), 'md5')
        self.assertEqual(len(data), result[1])
        with open(os.path.join(self.datadir, 'img'), 'rb') as f:
            self.assertEqual(data, f.read())

    def test_reads_in_chunk_size_pieces(self):
        self.config(filesystem_store_chunk_size=1000)
        reader = RecordingReader(b'x' * 2500)
        self.store.add('img', reader, 2500, 'md5')
        self.assertEqual({1000}, set(reader.sizes))
        self.assertEqual(4, len(reader.sizes))

    def test_iterable_input(self):
        chunks = [b'abc', b'', b'defg']
        result = self.store.add('img', iter(chunks), 7, 'md5')
        self.assertEqual(7, result[1])
        with open(os.path.join(self.datadir, 'img'), 'rb') as f:
            self.assertEqual(b'abcdefg', f.read())

    def test_verifier_sees_every_byte_once(self):
        data = test_utils.pattern_bytes(3000)
        self.config(filesystem_store_chunk_size=512)
        verifier = mock.Mock()
        self._add('img', data, verifier=verifier)
        fed = b''.join(c.args[0] for c in verifier.update.call_args_list)
        self.assertEqual(data, fed)

    def test_unknown_hashing_algo(self):
        self.assertRaises(exceptions.UnknownHashingAlgo, self._add,
                          'img', b'data', algo='no-such-hash')
        self.assertEqual([], self._files())

    def test_duplicate(self):
        self._add('img', b'first')
        e = self.assertRaises(exceptions.Duplicate, self._add, 'img',
                              b'second')
        self.assertIn('img', e.msg)
        self.assertEqual(['img'], self._files())
        with open(os.path.join(self.datadir, 'img'), 'rb') as f:
            self.assertEqual(b'first', f.read())

    def test_size_exceeds(self):
        e = self.assertRaises(exceptions.Invalid, self._add, 'img',
                              b'x' * 100, size=99)
        self.assertTrue(e.msg.startswith('Size exceeds'), e.msg)
        self.assertEqual([], self._files())

    def test_size_exceeds_stops_reading(self):
        self.config(filesystem_store_chunk_size=10)
        reader = RecordingReader(b'x' * 1000)
        self.assertRaises(exceptions.Invalid, self.store.add, 'img',
                          reader, 15, 'md5')
        self.assertEqual(2, len(reader.sizes))
        self.assertEqual([], self._files())

    def test_size_mismatch(self):
        e = self.assertRaises(exceptions.Invalid, self._add, 'img',
                              b'x' * 100, size=101)
        self.assertTrue(e.msg.startswith('Size mismatch'), e.msg)
        self.assertEqual([], self._files())

    def _failing_write(self, err):
        return mock.patch.object(filesystem.os, 'write',
                                 side_effect=OSError(err, os.strerror(err)))

    def test_disk_full(self):
        with self._failing_write(errno.ENOSPC):
            self.assertRaises(exceptions.StorageFull, self._add, 'img',
                              b'x' * 10)
        self.assertEqual([], self._files())

    def test_quota_and_file_too_big(self):
        for err in (errno.EDQUOT, errno.EFBIG):
            with self._failing_write(err):
                self.assertRaises(exceptions.StorageFull, self._add, 'img',
                                  b'x' * 10)
            self.assertEqual([], self._files())

    def test_disk_full_after_some_data(self):
        real_write = os.write
        calls = []

        def write(fd, data):
            calls.append(len(data))
            if len(calls) > 2:
                raise OSError(errno.ENOSPC, 'full')
            return real_write(fd, data)

        self.config(filesystem_store_chunk_size=100)
        with mock.patch.object(filesystem.os, 'write', side_effect=write):
            self.assertRaises(exceptions.StorageFull, self._add, 'img',
                              test_utils.pattern_bytes(1000))
        self.assertEqual(3, len(calls))
        self.assertEqual([], self._files())

    def test_partial_writes_are_completed(self):
        real_write = os.write

        def write(fd, data):
            return real_write(fd, data[:3])

        data = test_utils.pattern_bytes(50)
        with mock.patch.object(filesystem.os, 'write', side_effect=write):
            self._add('img', data)
        with open(os.path.join(self.datadir, 'img'), 'rb') as f:
            self.assertEqual(data, f.read())

    def test_write_denied(self):
        for err in (errno.EACCES, errno.EPERM, errno.EROFS):
            with self._failing_write(err):
                self.assertRaises(exceptions.StorageWriteDenied, self._add,
                                  'img', b'x' * 10)
            self.assertEqual([], self._files())

    def test_other_os_error_is_reraised(self):
        with self._failing_write(errno.EIO):
            e = self.assertRaises(OSError, self._add, 'img', b'x' * 10)
        self.assertEqual(errno.EIO, e.errno)
        self.assertEqual([], self._files())

    def test_temp_file_cannot_be_created(self):
        with mock.patch.object(filesystem.os, 'open',
                               side_effect=PermissionError(errno.EACCES,
                                                           'denied')):
            self.assertRaises(exceptions.StorageWriteDenied, self._add,
                              'img', b'x')
        self.assertEqual([], self._files())

    def test_fsync_failure(self):
        with mock.patch.object(filesystem.os, 'fsync',
                               side_effect=OSError(errno.ENOSPC, 'full')):
            self.assertRaises(exceptions.StorageFull, self._add, 'img',
                              b'x' * 10)
        self.assertEqual([], self._files())

    def test_reader_failure(self):
        reader = test_utils.FakeReader(b'x' * 1000, max_read=100,
                                       fail_after=300, exc=ValueError)
        self.assertRaises(ValueError, self.store.add, 'img', reader, 1000,
                          'md5')
        self.assertEqual([], self._files())

    def test_reader_io_error(self):
        reader = test_utils.FakeReader(b'x' * 1000, max_read=100,
                                       fail_after=300)
        self.assertRaises(IOError, self.store.add, 'img', reader, 1000,
                          'md5')
        self.assertEqual([], self._files())

    def test_image_invisible_while_written(self):
        seen = []
        final = os.path.join(self.datadir, 'img')
        datadir = self.datadir

        class Spy(object):
            def __init__(self):
                self.left = 3

            def read(self, size):
                seen.append((os.path.exists(final), os.listdir(datadir)))
                if not self.left:
                    return b''
                self.left -= 1
                return b'abc'

        self.store.add('img', Spy(), 9, 'md5')
        self.assertTrue(seen)
        for exists, listing in seen:
            self.assertFalse(exists)
            self.assertEqual(1, len(listing))
            self.assertTrue(listing[0].startswith('.img.'))
            self.assertTrue(listing[0].endswith('.part'))
        self.assertEqual(['img'], self._files())

    def test_thin_provisioning(self):
        self.config(filesystem_thin_provisioning=True,
                    filesystem_store_chunk_size=4096)
        zeros = bytes(4096)
        data = b'a' * 4096 + zeros + zeros + b'b' * 10 + zeros + zeros
        real_write = os.write
        written = []

        def write(fd, buf):
            written.append(bytes(buf))
            return real_write(fd, buf)

        with mock.patch.object(filesystem.os, 'write', side_effect=write):
            uri, size, md5, mh, meta = self._add('img', data)
        self.assertEqual(len(data), size)
        self.assertEqual(hashlib.md5(data).hexdigest(), md5)
        self.assertFalse([w for w in written if not w.strip(b'\0')])
        path = os.path.join(self.datadir, 'img')
        self.assertEqual(len(data), os.path.getsize(path))
        with open(path, 'rb') as f:
            self.assertEqual(data, f.read())

    def test_no_thin_provisioning_writes_zeros(self):
        zeros = bytes(4096)
        self.config(filesystem_store_chunk_size=4096)
        real_write = os.write
        written = []

        def write(fd, buf):
            written.append(bytes(buf))
            return real_write(fd, buf)

        with mock.patch.object(filesystem.os, 'write', side_effect=write):
            self._add('img', zeros * 2)
        self.assertEqual([zeros, zeros], written)

    def test_file_perm(self):
        self.config(filesystem_store_file_perm=640)
        store = self._make_store()
        store.add('img', io.BytesIO(b'x'), 1, 'md5')
        mode = os.stat(os.path.join(self.datadir, 'img')).st_mode
        self.assertEqual(0o640, stat.S_IMODE(mode))

    def test_file_perm_failure_is_not_fatal(self):
        self.config(filesystem_store_file_perm=640)
        store = self._make_store()
        with mock.patch.object(filesystem.os, 'chmod',
                               side_effect=OSError(errno.EPERM, 'no')):
            result = store.add('img', io.BytesIO(b'x'), 1, 'md5')
        self.assertEqual(1, result[1])
        self.assertEqual(['img'], self._files())

    def test_default_mode_follows_umask(self):
        old = os.umask(0o022)
        self.addCleanup(os.umask, old)
        self._add('img', b'x')
        mode = os.stat(os.path.join(self.datadir, 'img')).st_mode
        self.assertEqual(0o644, stat.S_IMODE(mode))

    def test_publish_without_hard_links(self):
        with mock.patch.object(filesystem.os, 'link',
                               side_effect=OSError(errno.EPERM, 'no')):
            self._add('img', b'data')
        self.assertEqual(['img'], self._files())
        with open(os.path.join(self.datadir, 'img'), 'rb') as f:
            self.assertEqual(b'data', f.read())

    def test_publish_race_without_hard_links(self):
        final = os.path.join(self.datadir, 'img')

        def link(src, dst):
            with open(final, 'wb') as f:
                f.write(b'other')
            raise OSError(errno.ENOTSUP, 'no links')

        with mock.patch.object(filesystem.os, 'link', side_effect=link):
            self.assertRaises(exceptions.Duplicate, self._add, 'img',
                              b'data')
        self.assertEqual(['img'], self._files())
        with open(final, 'rb') as f:
            self.assertEqual(b'other', f.read())

    def test_publish_race(self):
        final = os.path.join(self.datadir, 'img')
        real_link = os.link

        def link(src, dst):
            with open(final, 'wb') as f:
                f.write(b'other')
            return real_link(src, dst)

        with mock.patch.object(filesystem.os, 'link', side_effect=link):
            self.assertRaises(exceptions.Duplicate, self._add, 'img',
                              b'data')
        self.assertEqual(['img'], self._files())
        with open(final, 'rb') as f:
            self.assertEqual(b'other', f.read())

    def test_publish_io_error(self):
        with mock.patch.object(filesystem.os, 'link',
                               side_effect=OSError(errno.EIO, 'io')):
            self.assertRaises(OSError, self._add, 'img', b'data')
        self.assertEqual([], self._files())

    def test_cleanup_failure_is_logged(self):
        real_unlink = os.unlink

        def unlink(path):
            if '.part' in path:
                raise OSError(errno.EBUSY, 'busy')
            return real_unlink(path)

        with self._failing_write(errno.ENOSPC), \
                mock.patch.object(filesystem.os, 'unlink',
                                  side_effect=unlink), \
                mock.patch.object(filesystem, 'LOG') as log:
            self.assertRaises(exceptions.StorageFull, self._add, 'img',
                              b'x')
        self.assertTrue(log.error.called)

    def test_metadata_dict_follows_the_mountpoint_rule(self):
        # A single object is one mountpoint: returned only for images
        # under it, as upstream does.
        path = os.path.join(self.test_dir, 'meta.json')
        for mount, expected in (('/elsewhere', {}),
                                (self.test_dir, None)):
            meta = {'id': 'fs1', 'mountpoint': mount}
            with open(path, 'w') as f:
                json.dump(meta, f)
            self.config(filesystem_store_metadata_file=path)
            self.store = self._make_store()
            image_id = 'img-%d' % len(self._files())
            result = self._add(image_id, b'x', algo='md5')
            self.assertEqual(meta if expected is None else expected,
                             result[4])
            result[4]['changed'] = 'yes'
            self.assertNotIn('changed',
                             self.store.FILESYSTEM_STORE_METADATA[0])

    def test_metadata_list_matches_mountpoint(self):
        meta = [{'id': 'other', 'mountpoint': self.datadir + '-not'},
                {'id': 'top', 'mountpoint': self.test_dir},
                {'id': 'best', 'mountpoint': self.datadir}]
        path = os.path.join(self.test_dir, 'meta.json')
        with open(path, 'w') as f:
            json.dump(meta, f)
        self.config(filesystem_store_metadata_file=path)
        store = self._make_store()
        result = store.add('img', io.BytesIO(b'x'), 1, 'md5')
        self.assertEqual('best', result[4]['id'])
        # The API accepts the metadata as valid location metadata.
        backend.check_location_metadata(result[4])

    def test_metadata_list_without_match(self):
        meta = [{'id': 'other', 'mountpoint': '/nowhere'}]
        path = os.path.join(self.test_dir, 'meta.json')
        with open(path, 'w') as f:
            json.dump(meta, f)
        self.config(filesystem_store_metadata_file=path)
        store = self._make_store()
        self.assertEqual({}, store.add('img', io.BytesIO(b'x'), 1,
                                       'md5')[4])


class TestBrokenDatadirAndIds(FilesystemStoreTestCase):
    """A datadir removed or replaced after the start; hostile image ids."""

    def test_removed_datadir_is_named(self):
        os.rmdir(self.datadir)
        e = self.assertRaises(exceptions.BadStoreConfiguration, self._add,
                              'img', b'x' * 10)
        self.assertIn(self.datadir, str(e))
        self.assertIn('filesystem_store_datadir', str(e))
        self.assertFalse(os.path.exists(self.datadir))

    def test_datadir_replaced_by_a_file(self):
        os.rmdir(self.datadir)
        with open(self.datadir, 'w') as f:
            f.write('not a directory')
        e = self.assertRaises(exceptions.BadStoreConfiguration, self._add,
                              'img', b'x' * 10)
        self.assertIn(self.datadir, str(e))
        with open(self.datadir) as f:
            self.assertEqual('not a directory', f.read())

    def test_datadir_removed_after_it_was_chosen(self):
        real = filesystem.os.open

        def gone(path, *args):
            if path.startswith(self.datadir):
                raise FileNotFoundError(errno.ENOENT, 'gone', path)
            return real(path, *args)
        with mock.patch.object(filesystem.os, 'open', side_effect=gone):
            e = self.assertRaises(exceptions.BadStoreConfiguration,
                                  self._add, 'img', b'x' * 10)
        self.assertIn(self.datadir, str(e))

    def test_image_ids_that_are_not_one_component(self):
        outside = os.path.join(self.test_dir, 'outside')
        for image_id in ('../outside', 'a/b', '..', '.', '', outside,
                         'x\0y'):
            e = self.assertRaises(exceptions.Invalid, self._add, image_id,
                                  b'x' * 10)
            self.assertIn('single path component', str(e))
        self.assertEqual([], self._files())
        self.assertFalse(os.path.exists(outside))
        self.assertEqual(['images'], sorted(os.listdir(self.test_dir)))

    def test_reads_a_location_of_a_datadir_no_longer_configured(self):
        old = os.path.join(self.test_dir, 'old')
        os.mkdir(old)
        with open(os.path.join(old, 'img'), 'wb') as f:
            f.write(b'old image')
        it, size = self.store.get(self._loc(os.path.join(old, 'img')))
        self.assertEqual(9, size)
        self.assertEqual(b'old image', b''.join(it))


class TestMultipleDatadirs(FilesystemStoreTestCase):

    def setUp(self):
        super().setUp()
        self.high = os.path.join(self.test_dir, 'high')
        self.low1 = os.path.join(self.test_dir, 'low1')
        self.low2 = os.path.join(self.test_dir, 'low2')
        self.config(filesystem_store_datadir='',
                    filesystem_store_datadirs=[self.high + ':100',
                                               self.low1 + ':10',
                                               self.low2 + ':10'])
        self.store = self._make_store()
        self.free = {self.high: 1000, self.low1: 500, self.low2: 800}

    def _statvfs(self, path):
        if self.free[path] is None:
            raise OSError(errno.EIO, 'io')
        return _StatVfs(self.free[path])

    def _add_with_space(self, size, data=None):
        with mock.patch.object(filesystem.os, 'statvfs',
                               side_effect=self._statvfs):
            return self.store.add('img', io.BytesIO(data or b'x' * size),
                                  size, 'md5')

    def test_highest_priority(self):
        uri = self._add_with_space(10)[0]
        self.assertEqual('file://' + os.path.join(self.high, 'img'), uri)

    def test_falls_back_to_lower_priority_with_most_room(self):
        self.free[self.high] = 100
        uri = self._add_with_space(400)[0]
        self.assertEqual('file://' + os.path.join(self.low2, 'img'), uri)

    def test_unreadable_free_space_is_skipped(self):
        self.free[self.high] = None
        uri = self._add_with_space(10)[0]
        self.assertEqual('file://' + os.path.join(self.low2, 'img'), uri)

    def test_unknown_size_uses_highest_priority(self):
        self.free[self.high] = 0
        uri = self._add_with_space(0, data=b'abc')[0]
        self.assertEqual('file://' + os.path.join(self.high, 'img'), uri)

    def test_no_room_anywhere(self):
        self.assertRaises(exceptions.StorageFull, self._add_with_space,
                          5000)
        for d in (self.high, self.low1, self.low2):
            self.assertEqual([], self._files(d))

    def test_single_datadir_without_room(self):
        self.config(filesystem_store_datadirs=[],
                    filesystem_store_datadir=self.datadir)
        store = self._make_store()
        with mock.patch.object(filesystem.os, 'statvfs',
                               return_value=_StatVfs(10)):
            self.assertRaises(exceptions.StorageFull, store.add, 'img',
                              io.BytesIO(b'x' * 11), 11, 'md5')
        self.assertEqual([], self._files())

    def test_unconfigured_store_refuses_add(self):
        store = filesystem.Store(self.conf)
        self.assertRaises(exceptions.StoreAddDisabled, store.add, 'img',
                          io.BytesIO(b'x'), 1, 'md5')


class TestGet(FilesystemStoreTestCase):

    def setUp(self):
        super().setUp()
        self.data = test_utils.pattern_bytes(10000)
        self.uri = self._add('img', self.data)[0]
        self.path = os.path.join(self.datadir, 'img')

    def test_get(self):
        self.config(filesystem_store_chunk_size=4096)
        it, size = self.store.get(self._loc(self.path))
        self.assertEqual(10000, size)
        chunks = list(it)
        self.assertEqual([4096, 4096, 1808], [len(c) for c in chunks])
        self.assertEqual(self.data, b''.join(chunks))
        self.assertIsNone(it.fp)

    def test_get_offset(self):
        it, size = self.store.get(self._loc(self.path), offset=9000)
        self.assertEqual(1000, size)
        self.assertEqual(self.data[9000:], b''.join(it))

    def test_get_offset_and_chunk_size(self):
        self.config(filesystem_store_chunk_size=64)
        it, size = self.store.get(self._loc(self.path), offset=100,
                                  chunk_size=300)
        self.assertEqual(300, size)
        self.assertEqual(self.data[100:400], b''.join(it))

    def test_get_chunk_size_past_the_end(self):
        it, size = self.store.get(self._loc(self.path), offset=9990,
                                  chunk_size=100)
        self.assertEqual(10, size)
        self.assertEqual(self.data[9990:], b''.join(it))

    def test_get_offset_past_the_end(self):
        it, size = self.store.get(self._loc(self.path), offset=20000)
        self.assertEqual(0, size)
        self.assertEqual(b'', b''.join(it))

    def test_get_through_the_api(self):
        it, size = backend.get_from_backend(self.uri, offset=5,
                                            chunk_size=5)
        self.assertEqual(self.data[5:10], b''.join(it))

    def test_close_before_the_end(self):
        self.config(filesystem_store_chunk_size=100)
        it, size = self.store.get(self._loc(self.path))
        iterator = iter(it)
        self.assertEqual(self.data[:100], next(iterator))
        fp = it.fp
        it.close()
        self.assertTrue(fp.closed)
        self.assertIsNone(it.fp)
        self.assertEqual([], list(iterator))
        it.close()  # closing twice is harmless

    def test_file_shrinks_while_read(self):
        it, size = self.store.get(self._loc(self.path))
        with open(self.path, 'r+b') as f:
            f.truncate(100)
        self.assertEqual(self.data[:100], b''.join(it))

    def test_get_missing(self):
        self.assertRaises(exceptions.NotFound, self.store.get,
                          self._loc(self.path + '-nope'))

    def test_get_directory(self):
        self.assertRaises(exceptions.NotFound, self.store.get,
                          self._loc(self.datadir))

    def test_get_permission_denied(self):
        with mock.patch.object(filesystem, 'open', create=True,
                               side_effect=PermissionError(errno.EACCES,
                                                           'no')):
            self.assertRaises(exceptions.Forbidden, self.store.get,
                              self._loc(self.path))

    def test_get_other_error(self):
        with mock.patch.object(filesystem, 'open', create=True,
                               side_effect=OSError(errno.EIO, 'io')):
            self.assertRaises(OSError, self.store.get, self._loc(self.path))

    def test_seek_failure_closes_the_file(self):
        fp = mock.Mock()
        fp.seek.side_effect = OSError(errno.EINVAL, 'bad seek')
        with mock.patch.object(filesystem, 'open', create=True,
                               return_value=fp):
            self.assertRaises(OSError, filesystem.ChunkedFile, self.path,
                              offset=5)
        fp.close.assert_called_once_with()

    def test_get_size(self):
        self.assertEqual(10000, self.store.get_size(self._loc(self.path)))

    def test_get_size_missing(self):
        self.assertRaises(exceptions.NotFound, self.store.get_size,
                          self._loc(self.path + '-nope'))

    def test_get_size_directory(self):
        self.assertRaises(exceptions.NotFound, self.store.get_size,
                          self._loc(self.datadir))

    def test_get_size_permission_denied(self):
        with mock.patch.object(filesystem.os, 'stat',
                               side_effect=PermissionError(errno.EACCES,
                                                           'no')):
            self.assertRaises(exceptions.Forbidden, self.store.get_size,
                              self._loc(self.path))

    def test_get_size_other_error(self):
        with mock.patch.object(filesystem.os, 'stat',
                               side_effect=OSError(errno.EIO, 'io')):
            self.assertRaises(OSError, self.store.get_size,
                              self._loc(self.path))

    def test_delete(self):
        self.store.delete(self._loc(self.path))
        self.assertEqual([], self._files())
        self.assertRaises(exceptions.NotFound, self.store.get,
                          self._loc(self.path))

    def test_delete_missing(self):
        self.assertRaises(exceptions.NotFound, self.store.delete,
                          self._loc(self.path + '-nope'))

    def test_delete_forbidden(self):
        with mock.patch.object(filesystem.os, 'unlink',
                               side_effect=PermissionError(errno.EACCES,
                                                           'denied')):
            e = self.assertRaises(exceptions.Forbidden, self.store.delete,
                                  self._loc(self.path))
        self.assertIn(self.path, e.msg)
        self.assertEqual(['img'], self._files())
