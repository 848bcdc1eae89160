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

from oslotest import base

from glance_store.common import utils
from glance_store import exceptions
from glance_store.tests import utils as test_utils

DATA = test_utils.pattern_bytes(10000)


class TestHashing(base.BaseTestCase):

    def test_get_hasher(self):
        for algo in ('md5', 'sha1', 'sha256', 'sha512', 'sha3_256',
                     'blake2b'):
            hasher = utils.get_hasher(algo)
            hasher.update(DATA)
            self.assertEqual(hashlib.new(algo, DATA).hexdigest(),
                             hasher.hexdigest(), algo)
        hasher = utils.get_hasher('md5', False)
        hasher.update(b'abc')
        self.assertEqual(hashlib.md5(b'abc').hexdigest(), hasher.hexdigest())

    def test_unknown_algorithm(self):
        for algo in ('sha999', '', 'not a hash', None, 42):
            e = self.assertRaises(exceptions.UnknownHashingAlgo,
                                  utils.get_hasher, algo)
            self.assertIn(str(algo), e.msg)

    def test_image_hashes(self):
        seen = []

        class Verifier(object):
            def update(self, chunk):
                seen.append(chunk)

        hashes = utils.ImageHashes('sha512', Verifier())
        for i in range(0, len(DATA), 333):
            hashes.update(DATA[i:i + 333])
        self.assertEqual(len(DATA), hashes.size)
        self.assertEqual(hashlib.md5(DATA).hexdigest(), hashes.checksum)
        self.assertEqual(hashlib.sha512(DATA).hexdigest(), hashes.multihash)
        self.assertEqual(DATA, b''.join(seen))

    def test_image_hashes_without_verifier(self):
        hashes = utils.ImageHashes('sha256')
        hashes.update(b'')
        self.assertEqual(0, hashes.size)
        self.assertEqual(hashlib.sha256(b'').hexdigest(), hashes.multihash)
        self.assertRaises(exceptions.UnknownHashingAlgo, utils.ImageHashes,
                          'sha999')

    def test_md5_hasher(self):
        hasher = utils.md5_hasher()
        hasher.update(b'x')
        self.assertEqual(hashlib.md5(b'x').hexdigest(), hasher.hexdigest())


class TestChunks(base.BaseTestCase):

    def test_chunkiter(self):
        chunks = list(utils.chunkiter(io.BytesIO(DATA), 4096))
        self.assertEqual([4096, 4096, 1808], [len(c) for c in chunks])
        self.assertEqual(DATA, b''.join(chunks))
        self.assertEqual([], list(utils.chunkiter(io.BytesIO(b''))))

    def test_chunkiter_short_reads_are_not_the_end(self):
        reader = test_utils.FakeReader(DATA, max_read=100)
        chunks = list(utils.chunkiter(reader, 4096))
        self.assertEqual(DATA, b''.join(chunks))
        self.assertEqual(100, max(len(c) for c in chunks))

    def test_chunkreadable(self):
        chunks = utils.chunkreadable(io.BytesIO(DATA), 1000)
        self.assertEqual(DATA, b''.join(chunks))
        chunks = [b'a', b'bc']
        self.assertIs(chunks, utils.chunkreadable(chunks))


class TestReadExactly(base.BaseTestCase):

    def test_short_reads(self):
        cases = [
            # data, max_read, size, expected
            (DATA, 7, 1000, DATA[:1000]),
            (DATA, None, 1000, DATA[:1000]),
            (DATA, 3, len(DATA) + 50, DATA),
            (b'', 3, 10, b''),
            (DATA, 5, 0, b''),
        ]
        for data, max_read, size, expected in cases:
            reader = test_utils.FakeReader(data, max_read=max_read)
            self.assertEqual(expected, utils.read_exactly(reader, size),
                             (max_read, size))

    def test_continues_after(self):
        reader = test_utils.FakeReader(DATA, max_read=9)
        self.assertEqual(DATA[:20], utils.read_exactly(reader, 20))
        self.assertEqual(DATA[20:50], utils.read_exactly(reader, 30))

    def test_reader_errors_propagate(self):
        reader = test_utils.FakeReader(DATA, max_read=10, fail_after=30)
        self.assertRaises(IOError, utils.read_exactly, reader, 100)


class TestLimitingReader(base.BaseTestCase):

    def test_iterate_within_limit(self):
        reader = utils.LimitingReader(iter([b'ab', b'cd']), 4)
        self.assertEqual([b'ab', b'cd'], list(reader))
        self.assertEqual(4, reader.bytes_read)

    def test_iterate_over_limit(self):
        reader = utils.LimitingReader(iter([b'ab', b'cd', b'e']), 4)
        got = []
        e = self.assertRaises(exceptions.Invalid, lambda: [
            got.append(c) for c in reader])
        self.assertTrue(e.msg.startswith('Size exceeds'), e.msg)
        self.assertIn('4', e.msg)
        self.assertEqual([b'ab', b'cd'], got)

    def test_read_within_and_over_limit(self):
        reader = utils.LimitingReader(io.BytesIO(b'abcdef'), 5)
        self.assertEqual(b'abc', reader.read(3))
        self.assertEqual(b'de', reader.read(2))
        e = self.assertRaises(exceptions.Invalid, reader.read, 2)
        self.assertTrue(e.msg.startswith('Size exceeds'), e.msg)

    def test_exact_limit_then_end(self):
        reader = utils.LimitingReader(io.BytesIO(b'abc'), 3)
        self.assertEqual(b'abc', reader.read(10))
        self.assertEqual(b'', reader.read(10))

    def test_custom_exception(self):
        reader = utils.LimitingReader(io.BytesIO(b'abc'), 1,
                                      exception_class=exceptions.StorageFull)
        self.assertRaises(exceptions.StorageFull, reader.read, 3)


class TestCooperativeReader(base.BaseTestCase):

    def test_over_an_iterator(self):
        chunks = [DATA[i:i + 700] for i in range(0, len(DATA), 700)]
        reader = utils.CooperativeReader(iter(chunks))
        got = []
        while True:
            data = reader.read(256)
            if not data:
                break
            self.assertLessEqual(len(data), 256)
            got.append(data)
        self.assertEqual(DATA, b''.join(got))
        self.assertEqual(b'', reader.read(10))

    def test_empty_chunks_are_skipped(self):
        reader = utils.CooperativeReader([b'', b'ab', b'', b'', b'c', b''])
        self.assertEqual(b'ab', reader.read(5))
        self.assertEqual(b'c', reader.read(5))
        self.assertEqual(b'', reader.read(5))

    def test_read_all(self):
        reader = utils.CooperativeReader(iter([b'abc', b'def', b'gh']))
        self.assertEqual(b'ab', reader.read(2))
        self.assertEqual(b'cdefgh', reader.read())
        self.assertEqual(b'', reader.read())
        reader = utils.CooperativeReader([b'xy'])
        self.assertEqual(b'xy', reader.read(-1))

    def test_with_read_exactly(self):
        chunks = [DATA[i:i + 333] for i in range(0, len(DATA), 333)]
        reader = utils.CooperativeReader(chunks)
        self.assertEqual(DATA[:4096], utils.read_exactly(reader, 4096))
        self.assertEqual(DATA[4096:], utils.read_exactly(reader, 100000))

    def test_over_a_readable(self):
        source = test_utils.FakeReader(DATA, max_read=50)
        reader = utils.CooperativeReader(source)
        self.assertEqual(DATA[:50], reader.read(1000))
        self.assertEqual(DATA[50:60], reader.read(10))
        self.assertIsNone(reader.iterator)

    def test_iterate(self):
        chunks = [b'abc', b'de']
        self.assertEqual(b'abcde', b''.join(utils.CooperativeReader(chunks)))
        self.assertEqual(DATA, b''.join(
            utils.CooperativeReader(io.BytesIO(DATA))))
