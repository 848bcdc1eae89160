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

"""Reading an image into parts, and the multipart upload pipeline.

The reading side (``ImageReader``) runs in the caller's thread: it reads
the image once into the part buffers, hands slices of them to md5, the
multihash and the verifier (``s3_digests``, each on its own worker), and
enforces the declared size.  The sending side
(``MultipartUpload``) keeps at most ``max_in_flight`` parts in memory
and in flight on a thread pool, and aborts the upload on any failure so
that nothing half-written stays on the backend.
"""

import concurrent.futures
import logging
import threading

from glance_store._drivers import s3_checksums
from glance_store._drivers import s3_digests
from glance_store.common import utils
from glance_store import exceptions
from glance_store.i18n import _

LOG = logging.getLogger(__name__)

MIN_PART_SIZE = 5 * 1024 * 1024
MAX_PARTS = 10000
# The largest object S3 allows.
MAX_OBJECT_SIZE = 5 * 1024 ** 4
# The largest part S3 allows.
MAX_PART_SIZE = 5 * 1024 ** 3
# With an unknown size the part size doubles every 1,000 parts, so
# 10,000 parts hold 1,023,000 first parts: the first part must be at
# least this (rounded up to a MiB) for them to reach MAX_OBJECT_SIZE.
MIN_UNKNOWN_SIZE_PART = -(-MAX_OBJECT_SIZE // (1023000 * 1024 ** 2)) * \
    1024 ** 2


class ImageReader(object):
    """Read an image in pieces; hash every byte once; check the size.

    ``image_size`` 0 means unknown.  More bytes than declared raise
    ``Invalid`` ("Size exceeds ..."), fewer ``Invalid`` ("Size mismatch
    ...") when the end is reached.  The digests take the bytes from the
    buffers they were read into (``s3_digests.Digests``); at the end of
    the image ``readinto`` waits for them, so that a digest's error (a
    verifier that raises) comes out of the reader as it did inline.
    Use it as a context manager: leaving it stops the digest workers.
    """

    def __init__(self, image_file, image_size, hashes, threaded=None):
        self.image_file = image_file
        self.image_size = image_size or 0
        self.hashes = hashes
        if threaded is None and not s3_digests.worth_threads(
                self.image_size):
            threaded = False
        self.digests = s3_digests.Digests(
            [hashes.md5.update, hashes.os_hash.update,
             hashes.verifier.update if hashes.verifier else None],
            threaded=threaded)
        self.bytes_read = 0
        self.eof = False
        self._pending = b''
        self._read = getattr(image_file, 'read', None)
        if self._read is None:
            self._read = utils.CooperativeReader(image_file).read

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        """Stop the digest workers."""
        self.digests.close()

    def barrier(self, release, others=0):
        """A ``PartBarrier`` for a buffer the digests were fed from.

        :param release: called once the digests have taken everything
            fed so far and ``others`` more ``done()`` calls were made
        :param others: holders besides the digests (the part's upload)
        :returns: the ``s3_digests.PartBarrier``
        """
        barrier = s3_digests.PartBarrier(self.digests.holders + others,
                                         release)
        self.digests.mark(barrier)
        return barrier

    def _feed(self, view):
        self.digests.feed(view)
        self.hashes.size += len(view)

    def _next_chunk(self, size):
        if self._pending:
            data, self._pending = self._pending, b''
        else:
            data = self._read(size)
        if len(data) > size:
            # The source ignored the size asked for: keep the rest.
            self._pending = data[size:]
            data = memoryview(data)[:size]
        return data

    def _excess(self):
        raise exceptions.Invalid(
            _("Size exceeds: the image has more data than the %(size)d "
              "bytes declared.") % {'size': self.image_size})

    def readinto(self, buf, size=None):
        """Fill ``buf`` (up to ``size`` bytes); return the count.

        The count is smaller only at the end of the image.  Copying each
        chunk into a buffer the caller reuses, rather than joining the
        chunks into a new object, keeps the reading thread's memory hot:
        joining fresh chunks costs more CPU than md5 on this path.
        """
        size = len(buf) if size is None else size
        if self.eof:
            return 0
        want = size
        if self.image_size:
            want = min(size, self.image_size - self.bytes_read)
        got = self._fill(memoryview(buf), want)
        self.bytes_read += got
        if self.image_size and not self.eof and \
                self.bytes_read == self.image_size:
            # All declared bytes are in: the image must end here.
            if self._next_chunk(1):
                self._excess()
            self.eof = True
        if self.eof and self.image_size and \
                self.bytes_read != self.image_size:
            raise exceptions.Invalid(
                _("Size mismatch: %(got)d bytes received, %(size)d "
                  "declared.") % {'got': self.bytes_read,
                                  'size': self.image_size})
        if self.eof:
            self.digests.finish()
        return got

    def _fill(self, view, want):
        # Copy up to ``want`` bytes into ``view``, handing the digests a
        # slice each time about SLICE_SIZE more bytes are in.
        got = fed = 0
        while got < want:
            data = self._next_chunk(want - got)
            if not data:
                self.eof = True
                break
            n = len(data)
            view[got:got + n] = data
            got += n
            if got - fed >= s3_digests.SLICE_SIZE:
                self._feed(view[fed:got])
                fed = got
        self._feed(view[fed:got])
        return got

    def read(self, size):
        """Up to ``size`` bytes; fewer only at the end of the image."""
        buf = bytearray(size)
        n = self.readinto(buf, size)
        return bytes(buf) if n == size else bytes(memoryview(buf)[:n])


class Part(object):
    """A part body, and what to do with its buffer once it is sent."""

    __slots__ = ('body', 'release')

    def __init__(self, body, release=None):
        self.body = body
        self.release = release


class BufferPool(object):
    """Part buffers reused from one part to the next.

    ``acquire`` blocks while ``count`` buffers are out: with the parts in
    flight bounded as well, memory stays at ``count`` x part size.
    """

    def __init__(self, count):
        self._cond = threading.Condition()
        self._free = []
        self._available = count

    def acquire(self, size):
        with self._cond:
            while self._available == 0:
                self._cond.wait()
            self._available -= 1
            while self._free:
                buf = self._free.pop()
                if len(buf) == size:
                    return buf
        return bytearray(size)

    def release(self, buf):
        with self._cond:
            self._free.append(buf)
            self._available += 1
            self._cond.notify()

    def part(self, reader, size):
        """Read the next part into a pooled buffer; None at the end.

        The buffer comes back to the pool once the digests have taken it
        and (for a full part) the part's ``release`` was called.
        """
        buf = self.acquire(size)

        def release():
            self.release(buf)
        try:
            n = reader.readinto(buf, size)
        except BaseException:
            reader.barrier(release)
            raise
        if n == size:
            return Part(buf, reader.barrier(release, others=1).done)
        # The last, shorter part: botocore wants bytes or a bytearray.
        body = bytes(memoryview(buf)[:n]) if n else None
        reader.barrier(release)
        return Part(body) if n else None


def part_sizes(base_size, image_size):
    """Yield the size of each part: constant, or growing when unknown.

    With a known size the part size grows just enough for 10,000 parts to
    cover it.  With an unknown size the part size doubles every 1,000
    parts, so that 10,000 parts cover S3's largest object while small
    images keep small parts (and memory stays bounded by the part size).
    """
    base_size = max(base_size, MIN_PART_SIZE)
    if image_size:
        needed = -(-image_size // MAX_PARTS)
        size = max(base_size, needed)
        while True:
            yield size
    number = 0
    size = max(base_size, MIN_UNKNOWN_SIZE_PART)
    while True:
        yield min(size, MAX_PART_SIZE)
        number += 1
        if number % 1000 == 0:
            size *= 2


class MultipartUpload(object):
    """One multipart upload: parts on a bounded pool, then complete.

    Any failure (a part error, the reader raising, a size error, a
    checksum error, an interrupted caller) aborts the upload; if the
    abort itself fails the log names the bucket, key and upload id so an
    operator can remove it.
    """

    def __init__(self, client, bucket, key, policy, max_in_flight,
                 store_name):
        self.client = client
        self.bucket = bucket
        self.key = key
        self.policy = policy
        self.max_in_flight = max(1, max_in_flight)
        self.store_name = store_name
        self.upload_id = None
        self._slots = threading.BoundedSemaphore(self.max_in_flight)
        self._error = None
        self._lock = threading.Lock()

    def _record_error(self, error):
        with self._lock:
            if self._error is None:
                self._error = error

    def _send_part(self, number, part):
        body = part.body if isinstance(part, Part) else part
        try:
            checksum = self.policy.part_checksum(body)
            resp = self.client.upload_part(
                Bucket=self.bucket, Key=self.key, UploadId=self.upload_id,
                PartNumber=number, Body=body,
                **self.policy.part_params(checksum))
            done = {'ETag': resp['ETag'], 'PartNumber': number}
            if checksum is not None:
                name = s3_checksums.param_name(self.policy.algorithm)
                done[name] = checksum.b64digest()
            return done, checksum
        except BaseException as e:
            self._record_error(e)
            raise
        finally:
            if isinstance(part, Part) and part.release:
                part.release()
            self._slots.release()

    def run(self, parts):
        """Upload ``parts`` (bytes or ``Part`` objects, read lazily).

        Returns the CompleteMultipartUpload response.
        """
        resp = self.client.create_multipart_upload(
            Bucket=self.bucket, Key=self.key,
            **self.policy.create_multipart_params())
        self.upload_id = resp['UploadId']
        LOG.debug("Started multipart upload %(id)s of %(bucket)s/%(key)s",
                  {'id': self.upload_id, 'bucket': self.bucket,
                   'key': self.key})
        futures = []
        executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=self.max_in_flight,
            thread_name_prefix='s3-part')
        try:
            number = 0
            for body in parts:
                number += 1
                # Wait for a free slot before holding one more part.
                self._slots.acquire()
                if self._error is not None:
                    self._slots.release()
                    break
                futures.append(executor.submit(self._send_part, number,
                                               body))
                del body
            results = [f.result() for f in futures]
            if self._error is not None:  # pragma: no cover - defensive
                raise self._error
            if not results:
                raise exceptions.BackendException(
                    _("A multipart upload needs at least one part."))
            checksums = [c for _p, c in results]
            complete = self.client.complete_multipart_upload(
                Bucket=self.bucket, Key=self.key, UploadId=self.upload_id,
                MultipartUpload={'Parts': [p for p, _c in results]},
                **self.policy.complete_params(checksums))
            return complete
        except BaseException:
            for f in futures:
                f.cancel()
            # Let the parts in flight finish first: a part that landed
            # after the abort would leave the upload open again.
            executor.shutdown(wait=True)
            self.abort()
            raise
        finally:
            executor.shutdown(wait=True)

    def abort(self):
        try:
            self.client.abort_multipart_upload(
                Bucket=self.bucket, Key=self.key, UploadId=self.upload_id)
            LOG.info("Aborted multipart upload %(id)s of %(bucket)s/%(key)s "
                     "on S3 backend %(store)s",
                     {'id': self.upload_id, 'bucket': self.bucket,
                      'key': self.key, 'store': self.store_name})
        except Exception as e:
            LOG.error("Could not abort multipart upload %(id)s of "
                      "%(bucket)s/%(key)s on S3 backend %(store)s (%(err)s). "
                      "It still holds storage: remove it with "
                      "AbortMultipartUpload (for example 'aws s3api "
                      "abort-multipart-upload --bucket %(bucket)s --key "
                      "%(key)s --upload-id %(id)s') once the backend is "
                      "reachable.",
                      {'id': self.upload_id, 'bucket': self.bucket,
                       'key': self.key, 'store': self.store_name,
                       'err': e})
