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

"""Unit tests of the upload's digests on worker threads (s3_digests).

Every digest equals hashlib's / zlib's / awscrt's for every part layout,
threaded and inline; the verifier sees every byte in order from one
thread; a part buffer is released only when the digests and the part's
upload are done; a digest's error aborts the upload; no thread stays.
"""

import base64
import hashlib
import io
import threading
from unittest import mock
import zlib

from awscrt import checksums as crt
import fixtures
from oslotest import base as oslo_base

from glance_store._drivers import s3_checksums
from glance_store._drivers import s3_digests
from glance_store._drivers import s3_upload
from glance_store.common import utils
from glance_store import exceptions
from glance_store.tests.unit.s3 import fixtures as s3fx
from glance_store.tests import utils as test_utils

KiB = 1024
PART = s3fx.PART
# name -> (part sizes as read, image size declared: 0 means unknown)
LAYOUTS = {
    'tiny': ([3], 3),
    'tiny unknown': ([3], 0),
    'empty unknown': ([], 0),
    'exact multiple': ([PART] * 4, 4 * PART),
    'ragged last part': ([PART] * 4 + [1234], 4 * PART + 1234),
    'unknown size': ([PART] * 3 + [777], 0),
    'unknown exact multiple': ([PART] * 3, 0),
}
HASH_ALGORITHMS = ('md5', 'sha1', 'sha256', 'sha512', 'sha3_256')
S3_ALGORITHMS = s3_checksums.ALGORITHMS
XXHASH = {'XXHASH64': 'compute_xxhash64', 'XXHASH3': 'compute_xxhash3_64',
          'XXHASH128': 'compute_xxhash3_128'}


def digest_threads():
    return [t for t in threading.enumerate()
            if t.name.startswith('s3-digest')]


def reference_b64(algorithm, data):
    """S3's base64 checksum of ``data`` from zlib, awscrt or hashlib."""
    if algorithm == 'CRC32':
        raw = zlib.crc32(data).to_bytes(4, 'big')
    elif algorithm == 'CRC32C':
        raw = crt.crc32c(data).to_bytes(4, 'big')
    elif algorithm == 'CRC64NVME':
        raw = crt.crc64nvme(data).to_bytes(8, 'big')
    elif algorithm in XXHASH:
        raw = getattr(crt.XXHash, XXHASH[algorithm])(bytes(data))
    else:
        raw = hashlib.new(algorithm.lower(), data).digest()
    return base64.b64encode(raw).decode()


class RecordingVerifier(object):
    """Keeps what it was fed and from which threads."""

    def __init__(self, fail_after=None):
        self.chunks = []
        self.threads = set()
        self.fail_after = fail_after
        self.size = 0

    def update(self, data):
        self.threads.add(threading.get_ident())
        self.chunks.append(bytes(data))
        self.size += len(data)
        if self.fail_after is not None and self.size > self.fail_after:
            raise ValueError('signature does not verify')


class SliceTest(oslo_base.BaseTestCase):
    """Small slices, so that parts of a few KiB are cut into several."""

    def setUp(self):
        super().setUp()
        self.useFixture(fixtures.MonkeyPatch(
            'glance_store._drivers.s3_digests.SLICE_SIZE', 4 * KiB))
        self.addCleanup(lambda: self.assertEqual([], digest_threads()))


class ImageReaderDigestsTest(SliceTest):
    """md5, the multihash and the verifier through the reading path."""

    def _read_all(self, data, layout, algo, threaded):
        sizes, declared = layout
        hashes = utils.ImageHashes(algo, RecordingVerifier())
        count = 3
        pool = s3_upload.BufferPool(count)
        bodies = []
        with s3_upload.ImageReader(io.BytesIO(data), declared, hashes,
                                   threaded=threaded) as reader:
            self.assertEqual(threaded, reader.digests.threaded)
            while not reader.eof:
                part = pool.part(reader, PART)
                if part is None:
                    break
                bodies.append(bytes(part.body))
                if part.release:
                    part.release()  # the part's upload is done
            # The last part's barrier was marked after the end of the
            # image; once the digests took it, every buffer is back.
            reader.digests.finish()
            self.assertEqual(count, pool._available)
        self.assertEqual(sizes, [len(b) for b in bodies])
        return hashes, b''.join(bodies)

    def test_every_algorithm_and_layout(self):
        for name, layout in LAYOUTS.items():
            data = test_utils.pattern_bytes(sum(layout[0]), seed=len(name))
            for algo in HASH_ALGORITHMS:
                for threaded in (True, False):
                    with self.subTest(layout=name, algo=algo,
                                      threaded=threaded):
                        hashes, read = self._read_all(data, layout, algo,
                                                      threaded)
                        self.assertEqual(data, read)
                        self.assertEqual(len(data), hashes.size)
                        self.assertEqual(hashlib.md5(data).hexdigest(),
                                         hashes.checksum)
                        self.assertEqual(
                            hashlib.new(algo, data).hexdigest(),
                            hashes.multihash)
                        self.assertEqual(data,
                                         b''.join(hashes.verifier.chunks))

    def test_verifier_in_order_on_one_worker(self):
        data = test_utils.pattern_bytes(4 * PART + 99)
        hashes, _read = self._read_all(
            data, ([PART] * 4 + [99], len(data)), 'sha512', True)
        verifier = hashes.verifier
        self.assertEqual(data, b''.join(verifier.chunks))
        # Slices of the part buffers, not the reader's 64 KiB pieces.
        self.assertGreater(len(verifier.chunks), 4)
        self.assertEqual(1, len(verifier.threads))
        self.assertNotIn(threading.get_ident(), verifier.threads)

    def test_one_core_runs_inline(self):
        with mock.patch.object(s3_digests, 'usable_cores', return_value=1):
            hashes = utils.ImageHashes('sha512', RecordingVerifier())
            with s3_upload.ImageReader(io.BytesIO(b'abc'), 3,
                                       hashes) as reader:
                self.assertFalse(reader.digests.threaded)
                self.assertEqual([], digest_threads())
                self.assertEqual(3, reader.readinto(bytearray(3)))
        self.assertEqual({threading.get_ident()}, hashes.verifier.threads)
        self.assertEqual(hashlib.md5(b'abc').hexdigest(), hashes.checksum)

    def test_small_known_size_runs_inline(self):
        with mock.patch.object(s3_digests, 'usable_cores', return_value=2):
            for size, threaded in ((3, False), (16 * KiB, False),
                                   (16 * KiB + 1, True), (0, True)):
                hashes = utils.ImageHashes('sha512')
                with self.subTest(size=size), s3_upload.ImageReader(
                        io.BytesIO(b''), size, hashes) as reader:
                    self.assertEqual(threaded, reader.digests.threaded)

    def test_two_cores_run_threaded(self):
        with mock.patch.object(s3_digests, 'usable_cores', return_value=2):
            with s3_digests.Digests([hashlib.md5().update,
                                     hashlib.sha1().update]) as digests:
                self.assertTrue(digests.threaded)
                # Started by the first byte, not before.
                self.assertEqual([], digest_threads())
                digests.feed(b'x')
                self.assertEqual(2, len(digest_threads()))

    def test_one_digest_runs_inline(self):
        md5 = hashlib.md5()
        with s3_digests.Digests([md5.update, None]) as digests:
            self.assertFalse(digests.threaded)
            self.assertEqual(0, digests.holders)
            digests.feed(b'abc')
        self.assertEqual(hashlib.md5(b'abc').digest(), md5.digest())


class DigestsTest(SliceTest):
    """Digests fed directly, over buffers reused from part to part."""

    def _run(self, data, sizes, threaded):
        checksums = {a: s3_checksums.Checksum(a) for a in S3_ALGORITHMS}
        md5, sha512 = hashlib.md5(), hashlib.sha512()
        updates = [md5.update, sha512.update] + [
            c.update for c in checksums.values()]
        # Two buffers for all parts: a buffer is rewritten only after its
        # barrier released it, as the pool does.
        free = [bytearray(PART), bytearray(PART)]
        cond = threading.Condition()

        def release(buf):
            with cond:
                free.append(buf)
                cond.notify()
        pos = 0
        with s3_digests.Digests(updates, threaded=threaded) as digests:
            for n in sizes:
                with cond:
                    cond.wait_for(lambda: free)
                    buf = free.pop()
                buf[:n] = data[pos:pos + n]
                pos += n
                view = memoryview(buf)[:n]
                for start in range(0, n, 5000):
                    digests.feed(view[start:start + 5000])
                barrier = s3_digests.PartBarrier(
                    digests.holders + 1, lambda b=buf: release(b))
                digests.mark(barrier)
                barrier.done()  # the part's upload
            digests.finish()
        return md5, sha512, checksums

    def test_every_algorithm_and_layout(self):
        for name, (sizes, _declared) in LAYOUTS.items():
            data = test_utils.pattern_bytes(sum(sizes), seed=3)
            for threaded in (True, False):
                with self.subTest(layout=name, threaded=threaded):
                    md5, sha512, checksums = self._run(data, sizes,
                                                       threaded)
                    self.assertEqual(hashlib.md5(data).digest(),
                                     md5.digest())
                    self.assertEqual(hashlib.sha512(data).digest(),
                                     sha512.digest())
                    for alg, c in checksums.items():
                        self.assertEqual(reference_b64(alg, data),
                                         c.b64digest(), alg)

    def test_part_digest_cut_per_part(self):
        data = test_utils.pattern_bytes(3 * PART + 77, seed=9)
        sizes = [PART, PART, PART, 77]
        for threaded in (True, False):
            with self.subTest(threaded=threaded):
                md5 = hashlib.md5()
                futures = []
                with s3_digests.Digests(
                        [md5.update], threaded=threaded,
                        part_digest=s3_digests.PartDigest('md5')) as d:
                    pos = 0
                    for n in sizes:
                        view = memoryview(data)[pos:pos + n]
                        for start in range(0, n, 5000):
                            d.feed(view[start:start + 5000])
                        futures.append(d.cut())
                        pos += n
                    d.finish()
                    digests = [f.result(timeout=10) for f in futures]
                pos = 0
                for n, digest in zip(sizes, digests):
                    self.assertEqual(hashlib.md5(data[pos:pos + n]).digest(),
                                     digest)
                    pos += n
                self.assertEqual(hashlib.md5(data).digest(), md5.digest())

    def test_part_digest_added_before_the_first_byte_only(self):
        d = s3_digests.Digests([hashlib.md5().update, None], threaded=True)
        self.assertIsNone(d.cut())
        d.add_part_digest(s3_digests.PartDigest('md5'))
        d.feed(b'abc')
        self.assertEqual(hashlib.md5(b'abc').digest(),
                         d.cut().result(timeout=10))
        self.assertRaises(RuntimeError, d.add_part_digest,
                          s3_digests.PartDigest('md5'))
        d.close()
        # After close, a cut fails instead of waiting forever.
        self.assertRaises(RuntimeError, d.cut().result, timeout=10)

    def test_part_digest_fails_once_stopped(self):
        # After a digest's error the workers skip data: a part cut then
        # has no valid digest, and says so instead of a wrong value.
        with s3_digests.Digests(
                [hashlib.md5().update], threaded=True,
                part_digest=s3_digests.PartDigest('md5')) as d:
            d.feed(b'x' * 10)
            d.record_error(ValueError('verifier says no'))
            future = d.cut()
            self.assertRaises(RuntimeError, future.result, timeout=10)
            self.assertRaises(ValueError, d.finish)

    def test_buffer_held_until_digests_and_upload_done(self):
        gate = threading.Event()
        seen = []

        def slow(data):
            gate.wait()
            seen.append(bytes(data))
        released = []
        with s3_digests.Digests([slow, hashlib.md5().update],
                                threaded=True) as digests:
            digests.feed(b'part one')
            barrier = s3_digests.PartBarrier(digests.holders + 1,
                                             lambda: released.append(1))
            digests.mark(barrier)
            barrier.done()  # uploaded, but a digest is still on it
            self.assertEqual([], released)
            gate.set()
            digests.finish()
            self.assertEqual([1], released)
        self.assertEqual([b'part one'], seen)

    def test_released_once(self):
        released = []
        barrier = s3_digests.PartBarrier(2, lambda: released.append(1))
        barrier.done()
        self.assertEqual([], released)
        barrier.done()
        self.assertEqual([1], released)
        s3_digests.PartBarrier(0, lambda: released.append(2))
        self.assertEqual([1, 2], released)

    def test_digest_error_reaches_the_feeder(self):
        def broken(data):
            raise ValueError('bad signature')
        for threaded in (True, False):
            with self.subTest(threaded=threaded):
                released = []
                with s3_digests.Digests([broken, hashlib.md5().update],
                                        threaded=threaded) as digests:
                    if threaded:
                        digests.feed(b'x')
                        barrier = s3_digests.PartBarrier(
                            digests.holders, lambda: released.append(1))
                        digests.mark(barrier)
                        self.assertRaises(ValueError, digests.finish)
                        # Still released: no buffer is lost on error.
                        self.assertEqual([1], released)
                    self.assertRaises(ValueError, digests.feed, b'y')

    def test_close_skips_what_is_not_hashed(self):
        gate = threading.Event()
        calls = []

        def slow(data):
            calls.append(bytes(data))
            gate.wait()
        released = []
        digests = s3_digests.Digests([slow, hashlib.md5().update],
                                     threaded=True)
        for chunk in (b'a', b'b', b'c'):
            digests.feed(chunk)
        barrier = s3_digests.PartBarrier(digests.holders,
                                         lambda: released.append(1))
        digests.mark(barrier)
        closer = threading.Thread(target=digests.close)
        closer.start()
        gate.set()
        closer.join()
        self.assertEqual([1], released)
        self.assertLessEqual(len(calls), 3)
        self.assertEqual([], digest_threads())
        digests.close()  # twice is fine


class StoreDigestsTest(s3fx.S3MotoTestBase):
    """Through ``Store.add`` on moto: aborts and threads."""

    SIZE = s3fx.THRESHOLD + 4 * PART

    def setUp(self):
        super().setUp()
        self.useFixture(fixtures.MonkeyPatch(
            'glance_store._drivers.s3_digests.SLICE_SIZE', 4 * KiB))
        self.useFixture(fixtures.MonkeyPatch(
            'glance_store._drivers.s3_digests.usable_cores', lambda: 2))
        self.before = digest_threads()

    def assertNoDigestThread(self):
        self.assertEqual(self.before, digest_threads())

    def test_success_hashes_and_leaves_no_thread(self):
        store = self.make_store()
        data = test_utils.pattern_bytes(self.SIZE)
        for size in (len(data), 0):
            with self.subTest(size=size):
                verifier = RecordingVerifier()
                key = 'img-%d' % size
                _uri, n, md5, multihash, _m = store.add(
                    key, io.BytesIO(data), size, 'sha512',
                    verifier=verifier)
                self.assertEqual(len(data), n)
                self.assertEqual(hashlib.md5(data).hexdigest(), md5)
                self.assertEqual(hashlib.sha512(data).hexdigest(),
                                 multihash)
                self.assertEqual(data, b''.join(verifier.chunks))
                self.assertEqual(data, self.stored(key))
                self.assertNoDigestThread()

    def test_part_md5_computed_on_the_digest_workers(self):
        # always/MD5: the Content-MD5 of every part comes from a digest
        # worker, cut where the part ends, not from the sending thread.
        store = self.make_store(
            s3_store_enable_data_integrity_protection=True,
            s3_store_request_checksum_calculation='always',
            s3_store_checksum_algorithm='MD5')
        threads = []
        real_cut = s3_digests.PartDigest.cut

        def cut(part_digest):
            threads.append(threading.current_thread().name)
            return real_cut(part_digest)
        self.useFixture(fixtures.MonkeyPatch(
            'glance_store._drivers.s3_digests.PartDigest.cut', cut))
        sent = []
        real_checksum = s3_checksums.ChecksumPolicy.part_checksum

        def part_checksum(policy, body, digest=None):
            sent.append(digest)
            return real_checksum(policy, body, digest)
        self.useFixture(fixtures.MonkeyPatch(
            'glance_store._drivers.s3_checksums.ChecksumPolicy.'
            'part_checksum', part_checksum))
        data = test_utils.pattern_bytes(self.SIZE)
        for size in (len(data), 0):
            with self.subTest(size=size):
                del threads[:], sent[:]
                key = 'md5-%d' % size
                store.add(key, io.BytesIO(data), size, 'sha512')
                parts = self.client.of('upload_part')[-len(sent):]
                self.assertGreater(len(sent), 1)
                self.assertTrue(all(t.startswith('s3-digest-')
                                    for t in threads), threads)
                pos = 0
                for kw, digest in zip(parts, sent):
                    body = data[pos:pos + kw['BodyLength']]
                    pos += kw['BodyLength']
                    self.assertEqual(hashlib.md5(body).digest(), digest)
                    self.assertEqual(
                        base64.b64encode(digest).decode(),
                        kw['ContentMD5'])
                self.assertEqual(len(data), pos)
                self.assertEqual(data, self.stored(key))
                self.assertNoDigestThread()

    def test_verifier_error_aborts(self):
        store = self.make_store()
        data = test_utils.pattern_bytes(self.SIZE)
        cases = (('multipart known', len(data), len(data) // 2),
                 ('multipart unknown', 0, len(data) // 2),
                 ('multipart, last bytes', len(data), len(data) - 1),
                 ('single put', 1000, 10))
        for name, size, fail_after in cases:
            with self.subTest(case=name):
                body = data[:size] if size else data
                verifier = RecordingVerifier(fail_after=fail_after)
                self.assertRaises(ValueError, store.add, 'img',
                                  io.BytesIO(body), size, 'sha512',
                                  verifier=verifier)
                self.assertNotIn('complete_multipart_upload',
                                 self.client.names())
                self.assertNothingLeft()
                self.assertNoDigestThread()

    def test_keyboard_interrupt_leaves_no_thread(self):
        store = self.make_store()
        data = test_utils.pattern_bytes(self.SIZE)
        reader = test_utils.FakeReader(
            data, fail_after=s3fx.THRESHOLD + PART,
            exc=KeyboardInterrupt)
        self.assertRaises(KeyboardInterrupt, store.add, 'img', reader,
                          self.SIZE, 'sha512', verifier=RecordingVerifier())
        self.assertEqual(1, len(self.client.of('abort_multipart_upload')))
        self.assertNothingLeft()
        self.assertNoDigestThread()

    def test_part_error_leaves_no_thread(self):
        store = self.make_store(failures={'upload_part': lambda kw: (
            s3fx.client_error('InternalError', 500)
            if kw['PartNumber'] == 2 else None)})
        data = test_utils.pattern_bytes(self.SIZE)
        self.assertRaises(exceptions.BackendException, store.add, 'img',
                          io.BytesIO(data),
                          0, 'sha512')
        self.assertNothingLeft()
        self.assertNoDigestThread()
