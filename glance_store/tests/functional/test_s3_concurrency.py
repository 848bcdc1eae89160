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
no thread behind.
"""

import concurrent.futures
import threading
import time

from glance_store.tests.functional import s3_store_helpers as helpers
from glance_store.tests.functional import servers

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

    def _settled_thread_count(self, target, timeout=10):
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
