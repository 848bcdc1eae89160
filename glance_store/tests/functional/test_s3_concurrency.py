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

"""One S3 store instance used by 16 concurrent uploads on Ceph RGW.

Glance runs uploads side by side on one store, whose boto3 client is
shared. Mixed sizes (empty, single-part, multipart; declared and unknown)
must all be stored byte-exact, leave no multipart upload open, and leave
no thread behind. The second class breaks half of 16 unknown-size
uploads and checks what is left and the memory used.
"""

import concurrent.futures
import logging
import threading
import time

from glance_store.tests.functional import s3_store_helpers as helpers
from glance_store.tests.functional import servers
from glance_store.tests.unit import tools  # noqa: F401  (sys.path)

import procs  # noqa: E402,I100  (tools/procs.py)

MiB = helpers.MiB
# (size, declared size) of the 16 uploads; 0 declared means unknown.
UPLOADS = (
    (0, 0), (1, 1), (4096, 0), (MiB, MiB),
    (MiB + 7, 0), (3 * MiB, 3 * MiB), (5 * MiB - 1, 0), (5 * MiB, 5 * MiB),
    (5 * MiB + 1, 0), (6 * MiB, 6 * MiB), (8 * MiB + 3, 0),
    (10 * MiB, 10 * MiB), (10 * MiB + 1, 0), (11 * MiB, 11 * MiB),
    (12 * MiB, 0), (12 * MiB, 12 * MiB),
)


class TestConcurrentAdds(helpers.S3StoreTestCase):

    @staticmethod
    def _settled_thread_count(target, timeout=10):
        """The thread count, once it is back to ``target`` (or timeout)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            count = threading.active_count()
            if count <= target:
                return count
            time.sleep(0.05)
        return threading.active_count()

    def _run(self, checksums):
        self.assertEqual(16, len(UPLOADS))
        store = self.store('rgw', 'http', checksums)
        images = [helpers.image(size, seed=i)
                  for i, (size, _declared) in enumerate(UPLOADS)]
        threads_before = threading.active_count()
        barrier = threading.Barrier(len(UPLOADS))

        def upload(index):
            size, declared = UPLOADS[index]
            barrier.wait(30)  # all 16 start together
            key = 'concurrent-%02d-%s' % (index, helpers.unique_key())
            return index, store.add(key, helpers.Reader(images[index]),
                                    declared, 'sha512')

        pool = concurrent.futures.ThreadPoolExecutor(len(UPLOADS))
        try:
            futures = [pool.submit(upload, i) for i in range(len(UPLOADS))]
            results = dict(f.result(timeout=100) for f in futures)
        finally:
            pool.shutdown(wait=True)

        admin = self.admin('rgw')
        bucket = store.bucket
        self.assertEqual([], servers.list_open_uploads(admin, bucket))
        self.assertEqual(len(UPLOADS), len(servers.list_keys(admin, bucket)))
        for index, result in sorted(results.items()):
            data = images[index]
            uri = self.assertAdded(result, data)
            self.assertStored(store, uri, data)
        self.assertEqual(threads_before,
                         self._settled_thread_count(threads_before))

    def test_sixteen_adds_switch_off(self):
        self._run(helpers.SWITCH_OFF)

    def test_sixteen_adds_always(self):
        self._run(helpers.ALWAYS_CRC32)


class TestConcurrentUnknownSizeWithFailures(helpers.S3StoreTestCase):
    """16 unknown-size uploads at once, half of them breaking mid-way.

    Half are below ``s3_store_large_object_size`` (one PutObject from the
    part buffers), half above (multipart). The odd ones' image source
    breaks half-way. The others are stored byte-exact; nothing of the
    broken ones is left (no object, no open upload); the process's peak
    RSS growth stays within 16 times the documented bound of one upload
    plus BASELINE; no thread is left.
    """

    # What 16 uploads cost beyond their part buffers: botocore's
    # connection pools and parsers, 16 upload threads and their part
    # senders, the allocator's slack. Measured: see the assertion message.
    BASELINE = 96 * MiB
    THRESHOLD_MB = 20

    def test_sixteen_unknown_size_half_failing(self):
        # botocore's DEBUG records hold the repr of every request body
        # (several times a part's size each): the memory measured is the
        # store's, not the log capture's.
        for name in ('botocore', 'urllib3'):
            logger = logging.getLogger(name)
            self.addCleanup(logger.setLevel, logger.level)
            logger.setLevel(logging.INFO)
        store = self.store('rgw', 'http', helpers.SWITCH_OFF,
                           s3_store_large_object_size=self.THRESHOLD_MB)
        limits = store.upload_limits
        first = next(limits.part_sizes(0))
        bound = limits.buffer_count(first) * first
        sizes = [(12 * MiB if i % 4 < 2 else 26 * MiB) + i * 1000
                 for i in range(16)]
        images = [helpers.image(size, seed=i) for i, size in enumerate(sizes)]
        keys = ['unknown-%02d-%s' % (i, helpers.unique_key())
                for i in range(16)]
        threads_before = threading.active_count()
        barrier = threading.Barrier(16)

        def upload(index):
            fail_after = sizes[index] // 2 if index % 2 else None
            reader = helpers.Reader(images[index], fail_after=fail_after)
            barrier.wait(30)
            try:
                return index, store.add(keys[index], reader, 0, 'sha512')
            except helpers.ReaderFailure as e:
                return index, e

        pool = concurrent.futures.ThreadPoolExecutor(16)
        try:
            with procs.RssPeak() as rss:
                futures = [pool.submit(upload, i) for i in range(16)]
                results = dict(f.result(timeout=300) for f in futures)
        finally:
            pool.shutdown(wait=True)

        admin = self.admin('rgw')
        self.assertEqual([], servers.list_open_uploads(admin, store.bucket))
        stored = set(servers.list_keys(admin, store.bucket))
        for index, result in sorted(results.items()):
            if index % 2:
                self.assertIsInstance(result, helpers.ReaderFailure)
                self.assertNotIn(keys[index], stored)
            else:
                uri = self.assertAdded(result, images[index])
                self.assertStored(store, uri, images[index])
        self.assertEqual(8, len(stored))
        limit = 16 * bound + self.BASELINE
        self.assertLess(rss.growth, limit,
                        'peak RSS growth %.0f MiB, bound 16 x %.0f MiB + '
                        '%.0f MiB' % (rss.growth / MiB, bound / MiB,
                                      self.BASELINE / MiB))
        print('16 unknown-size uploads (8 failing): peak RSS growth %.0f '
              'MiB; bound 16 x %.0f MiB + %.0f MiB' % (
                  rss.growth / MiB, bound / MiB, self.BASELINE / MiB))
        self.assertEqual(threads_before,
                         TestConcurrentAdds._settled_thread_count(
                             threads_before))
