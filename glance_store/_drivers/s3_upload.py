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

"""The whole upload of one image: one PutObject or a multipart upload.

``upload()`` is the only entry point.  It reads the image once through an
``ImageReader`` (which hands slices of the part buffers to md5, the
multihash and the verifier, each on its own worker (``s3_digests``), and
checks the declared size), decides between a single PutObject and a
multipart upload, owns the buffers the parts are read into and the parts
in flight, and aborts a multipart upload on any failure so that nothing
half-written stays on the backend.  Every limit it works with is in one
frozen ``UploadLimits``, built once per store by ``configure_add``.

.. _s3-upload-memory-bound:

Memory bound of one upload
--------------------------

This is the one place the bound is stated; the option help and the S3
guide refer to it.

* A known size below ``threshold`` (``s3_store_large_object_size``): one
  buffer of the image's size.
* Any other upload reads its parts into a pool of
  ``UploadLimits.buffer_count`` reused buffers of the part size,
  ``max(max_in_flight + 1, ceil(threshold / part size) + 1)`` of them:
  the parts in flight (``s3_store_thread_pools``) plus the one being
  read, or enough to hold an image of unknown size up to the threshold
  while the store finds out whether it fits one PutObject.  The reader
  blocks until a buffer is free, so this is a hard bound:
  ``buffer_count x part size`` bytes.  A buffer is free again once its
  part is sent and every digest has taken it.  An image of unknown size
  that ends below the threshold is one PutObject sent from those buffers
  (``PartsBody``), not copied into one more body: the bound holds for it
  too (``tox -e bench -- --endpoint null --only-small-unknown``).
* In a multipart upload the last, shorter part is copied while it is
  sent (``Part.payload``: botocore takes bytes): one part size more, at
  the end.
* With an unknown size the part size doubles every 1,000 parts (so that
  10,000 parts reach S3's largest object); the bound grows with it, which
  first happens after about 5 GB with the default options.
"""

import base64
import bisect
import collections
import concurrent.futures
import dataclasses
import hashlib
import io
import logging
import re
import threading

from botocore import exceptions as boto_exc
from oslo_utils import units

from glance_store._drivers import s3_checksums
from glance_store._drivers import s3_digests
from glance_store._drivers import s3_errors
from glance_store.common import utils
from glance_store import exceptions
from glance_store.i18n import _

LOG = logging.getLogger(__name__)

# What S3 allows (AWS's documented limits, which S3-compatible servers
# follow): every other size in this module is derived from these.
S3_MIN_PART_SIZE = 5 * units.Mi
S3_MAX_PART_SIZE = 5 * units.Gi
S3_MAX_PARTS = 10000
S3_MAX_OBJECT_SIZE = 5 * units.Ti
# With an unknown size the part size doubles every this many parts.
PARTS_PER_SIZE_STEP = 1000
# The most bytes asked of the image's reader in one call.  Asking for a
# whole part at once is what some readers cannot do cheaply: Glance's
# uWSGI chunked input joins its HTTP chunks with ``+=`` up to the size
# asked, which costs CPU growing with that size (15 s per GiB for 10 MiB
# reads of 64 KiB chunks), while every call through Glance's wrappers has
# a fixed cost that small pieces multiply.  256 KiB is the cheapest for
# chunked input (64 KiB and 16 KiB chunks) and within 0.2 s per GiB of
# the best for the other readers: measured by tools/bench_readers.py
# (see the performance page of the contributor guide).
READ_PIECE = 256 * units.Ki


def _ceil_div(a, b):
    return -(-a // b)


@dataclasses.dataclass(frozen=True)
class UploadLimits(object):
    """Every size and count one upload works with.

    :param threshold: images this big or bigger go multipart (bytes); 0
        sends every image multipart.
    :param part_size: the configured part size (bytes); raised to
        ``min_part_size`` and, for large images, to what ``max_parts``
        parts need.
    :param max_in_flight: parts sent at the same time (at least 1).
    :param min_part_size: the smallest part the backend accepts.
    :param max_part_size: the largest part the backend accepts.
    :param max_parts: the most parts one upload may have.
    :param max_object_size: the largest object the backend allows.
    """

    threshold: int
    part_size: int
    max_in_flight: int
    min_part_size: int = S3_MIN_PART_SIZE
    max_part_size: int = S3_MAX_PART_SIZE
    max_parts: int = S3_MAX_PARTS
    max_object_size: int = S3_MAX_OBJECT_SIZE

    def __post_init__(self):
        if self.max_in_flight < 1:
            raise ValueError("max_in_flight must be at least 1")
        if self.part_size < 1 or self.threshold < 0:
            raise ValueError("part_size must be positive and threshold "
                             "not negative")

    @property
    def unknown_size_part(self):
        """The first part size for an image of unknown size.

        The part size doubles every ``PARTS_PER_SIZE_STEP`` parts, so
        ``max_parts`` parts hold ``PARTS_PER_SIZE_STEP x (2^steps - 1)``
        first parts; the first part is at least what that needs to reach
        ``max_object_size``, rounded up to a MiB (or to the minimum part
        where that is smaller, as in tests).
        """
        steps = self.max_parts // PARTS_PER_SIZE_STEP
        capacity = PARTS_PER_SIZE_STEP * (2 ** steps - 1)
        granule = min(units.Mi, self.min_part_size)
        needed = _ceil_div(self.max_object_size, capacity * granule) * granule
        return max(self.part_size, self.min_part_size, needed)

    def part_sizes(self, image_size):
        """Yield the size of each part of an upload, without end.

        :param image_size: the declared size, 0 when unknown.
        :returns: an iterator of part sizes: constant for a known size
            (just big enough for ``max_parts`` parts to cover it), growing
            for an unknown one.
        """
        if image_size:
            size = max(self.part_size, self.min_part_size,
                       _ceil_div(image_size, self.max_parts))
            while True:
                yield size
        size = self.unknown_size_part
        number = 0
        while True:
            yield min(size, self.max_part_size)
            number += 1
            if number % PARTS_PER_SIZE_STEP == 0:
                size *= 2

    def buffer_count(self, part_size):
        """How many part buffers one upload may hold (see the bound above).

        :param part_size: the size of the first part.
        :returns: the number of buffers of the pool.
        """
        return max(self.max_in_flight + 1,
                   _ceil_div(self.threshold, part_size) + 1)


class ImageReader(object):
    """Read an image in pieces; hash every byte once; check the size.

    ``image_size`` 0 means unknown.  More bytes than declared raise
    ``Invalid`` ("Size exceeds ..."), fewer ``Invalid`` ("Size mismatch
    ...") when the end is reached.  The digests take the bytes from the
    buffers they were read into (``s3_digests.Digests``); at the end of
    the image ``readinto`` waits for them, so that a digest's error (a
    verifier that raises) comes out of the reader as it would inline.
    ``close`` (or leaving it as a context manager) stops the digest
    workers.

    :param image_file: the image (``read``) or an iterable of chunks.
    :param image_size: the declared size, 0 when unknown.
    :param hashes: the ``utils.ImageHashes`` to feed.
    :param threaded: digests on worker threads; None decides (see
        ``s3_digests``).
    :param piece_size: the most bytes asked of ``image_file`` in one call
        (``READ_PIECE`` when None).
    """

    def __init__(self, image_file, image_size, hashes, threaded=None,
                 piece_size=None):
        self.image_file = image_file
        self.piece_size = piece_size or READ_PIECE
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
        # Files and sockets (io objects) read straight into the part
        # buffer; anything else (Glance's wrappers, uWSGI's input) is read
        # and copied once.
        self._readinto = None
        if isinstance(image_file, io.IOBase):
            self._readinto = getattr(image_file, 'readinto', None)

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
            fed so far and ``others`` more ``done()`` calls were made.
        :param others: holders besides the digests (the part's upload).
        :returns: the ``s3_digests.PartBarrier``.
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

    def _piece_into(self, view, pos, size):
        # Put up to ``size`` bytes at ``view[pos:]``; 0 at the end.
        if self._readinto is not None and not self._pending:
            return self._readinto(view[pos:pos + size]) or 0
        data = self._next_chunk(size)
        n = len(data)
        view[pos:pos + n] = data
        return n

    def _fill(self, view, want):
        # Read up to ``want`` bytes into ``view`` in pieces of at most
        # ``piece_size``, handing the digests a slice each time about
        # SLICE_SIZE more bytes are in.
        got = fed = 0
        while got < want:
            n = self._piece_into(view, got, min(self.piece_size, want - got))
            if not n:
                self.eof = True
                break
            got += n
            if got - fed >= s3_digests.SLICE_SIZE:
                self._feed(view[fed:got])
                fed = got
        self._feed(view[fed:got])
        return got

    def _check_end(self):
        if self.image_size and not self.eof and \
                self.bytes_read == self.image_size:
            # All declared bytes are in: the image must end here.
            if self._next_chunk(1):
                raise exceptions.Invalid(
                    _("Size exceeds: the image has more data than the "
                      "%(size)d bytes declared.") % {'size': self.image_size})
            self.eof = True
        if self.eof and self.image_size and \
                self.bytes_read != self.image_size:
            raise exceptions.Invalid(
                _("Size mismatch: %(got)d bytes received, %(size)d "
                  "declared.") % {'got': self.bytes_read,
                                  'size': self.image_size})

    def readinto(self, buf, size=None):
        """Fill ``buf`` with up to ``size`` bytes of the image.

        Copying each chunk into a buffer the caller reuses, rather than
        joining the chunks into a new object, keeps the reading thread's
        memory hot: joining fresh chunks costs more CPU than md5 here.

        :param buf: a writable buffer.
        :param size: how many bytes to read at most (``len(buf)``).
        :returns: the count, smaller only at the end of the image.
        :raises glance_store.exceptions.Invalid: the image is larger or
            smaller than declared.
        :raises: what a digest raised (a verifier that does not verify).
        """
        size = len(buf) if size is None else size
        if self.eof:
            return 0
        want = size
        if self.image_size:
            want = min(size, self.image_size - self.bytes_read)
        got = self._fill(memoryview(buf), want)
        self.bytes_read += got
        self._check_end()
        if self.eof:
            self.digests.finish()
        return got


class Part(object):
    """A part body, and what to do with its buffer once it is sent.

    ``digest`` is a future of the part's digest computed while it was
    read (``s3_digests.Digests.cut``), or None.
    """

    __slots__ = ('body', 'release', 'digest')

    def __init__(self, body, release=None, digest=None):
        self.body = body
        self.release = release
        self.digest = digest

    def payload(self):
        """The body as botocore takes it (bytes or a bytearray).

        The last, shorter part is a view of its buffer: it is copied
        here, for the one request that sends it.

        :returns: bytes or a bytearray
        """
        if isinstance(self.body, memoryview):
            return self.body.tobytes()
        return self.body

    def done(self):
        """Give the buffer back to its pool (once)."""
        release, self.release = self.release, None
        if release is not None:
            release()


class BufferPool(object):
    """``count`` part buffers reused from one part to the next.

    ``acquire`` blocks while all of them are out: this is what bounds an
    upload's memory (see the module's docstring).
    """

    def __init__(self, count):
        self._cond = threading.Condition()
        self._free = []
        self._available = count

    def acquire(self, size):
        """A buffer of ``size`` bytes; blocks until one is free."""
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
        """Return ``buf`` to the pool."""
        with self._cond:
            self._free.append(buf)
            self._available += 1
            self._cond.notify()

    def part(self, reader, size):
        """Read the next part into a pooled buffer.

        The buffer comes back to the pool once the digests have taken it
        and (for a full part) the part is ``done``.

        :returns: a ``Part``, or None at the end of the image.
        """
        buf = self.acquire(size)

        def release():
            self.release(buf)
        try:
            n = reader.readinto(buf, size)
        except BaseException:
            reader.barrier(release)
            raise
        if not n:
            reader.barrier(release)
            return None
        digest = reader.digests.cut()
        # The last, shorter part is a view of its buffer, not a copy: an
        # image of unknown size below the threshold goes out from the
        # buffers (PartsBody).  ``Part.payload`` copies it for botocore.
        body = buf if n == size else memoryview(buf)[:n]
        return Part(body, reader.barrier(release, others=1).done, digest)


@dataclasses.dataclass(frozen=True)
class Target(object):
    """Where an upload goes and how its requests are made.

    :param client: the store's boto3 S3 client.
    :param bucket: the bucket.
    :param key: the object key (the image id).
    :param policy: the store's ``s3_checksums.ChecksumPolicy``.
    :param store_name: the backend's name, for log messages.
    """

    client: object
    bucket: str
    key: str
    policy: object
    store_name: str = 's3'


class MultipartUpload(object):
    """One multipart upload: parts on a bounded pool, then complete.

    Any failure (a part error, the reader raising, a size error, a
    checksum error, an interrupted caller) aborts the upload; if the
    abort itself fails the log names the bucket, key and upload id so an
    operator can remove it.
    """

    def __init__(self, target, max_in_flight):
        self.target = target
        self.max_in_flight = max_in_flight
        self.upload_id = None
        # Bounds the parts handed to the executor (memory is bounded by
        # the buffer pool): a part is only submitted when a sender is free,
        # and none after the first error.
        self._slots = threading.BoundedSemaphore(max_in_flight)
        self._error = None
        self._lock = threading.Lock()
        # Bytes of the parts S3 accepted: the size of the object the
        # completion makes.
        self._sent = 0

    def _record_error(self, error):
        with self._lock:
            if self._error is None:
                self._error = error

    def _send_part(self, number, part):
        t = self.target
        try:
            checksum = t.policy.part_checksum(
                part.body, part.digest.result() if part.digest else None)
            resp = t.client.upload_part(
                Bucket=t.bucket, Key=t.key, UploadId=self.upload_id,
                PartNumber=number, Body=part.payload(),
                **t.policy.part_params(checksum))
            done = {'ETag': resp['ETag'], 'PartNumber': number}
            with self._lock:
                self._sent += len(part.body)
            done.update(t.policy.completed_part(checksum))
            return done, checksum
        except BaseException as e:
            self._record_error(e)
            raise
        finally:
            part.done()
            self._slots.release()

    def _submit_all(self, executor, parts):
        futures = []
        for number, part in enumerate(parts, start=1):
            # Wait for a free sender before holding one more part.
            self._slots.acquire()
            if self._error is not None:
                self._slots.release()
                part.done()
                break
            futures.append(executor.submit(self._send_part, number, part))
            del part
        return futures

    def _complete(self, results):
        if not results:
            raise exceptions.BackendException(
                _("A multipart upload needs at least one part."))
        parts = [p for p, _c in results]
        try:
            return self._complete_once(results, parts)
        except (boto_exc.ClientError, boto_exc.BotoCoreError) as e:
            return self._settle(e, parts)

    def _complete_once(self, results, parts):
        """CompleteMultipartUpload, without checksums where refused."""
        t = self.target
        params = t.policy.complete_params([c for _p, c in results])
        if _refuses_complete_checksums(t):
            return self._complete_plain(parts)
        try:
            return t.client.complete_multipart_upload(
                Bucket=t.bucket, Key=t.key, UploadId=self.upload_id,
                MultipartUpload={'Parts': parts}, **params)
        except boto_exc.ClientError as e:
            if not (t.policy.sends_complete_checksums(parts) or params) or \
                    s3_errors.error_code(e) != 'MalformedXML':
                raise
            _note_complete_checksums_refused(t)
            return self._complete_plain(parts)

    def _complete_plain(self, parts):
        """CompleteMultipartUpload naming only the parts' ETags."""
        t = self.target
        return t.client.complete_multipart_upload(
            Bucket=t.bucket, Key=t.key, UploadId=self.upload_id,
            MultipartUpload={
                'Parts': s3_checksums.parts_without_checksums(parts)})

    def _expected_etag(self, parts):
        """The ETag S3 gives the completed object, or None if unknown."""
        digests = []
        for part in parts:
            etag = part['ETag'].strip('"')
            if not _MD5_HEX.match(etag):
                return None
            digests.append(bytes.fromhex(etag))
        return '%s-%d' % (hashlib.md5(b''.join(digests)).hexdigest(),
                          len(parts))

    def _head(self):
        """HeadObject of the key: the response, None if there is none.

        :raises: the HeadObject error when it is not a 404.
        """
        t = self.target
        try:
            return t.client.head_object(Bucket=t.bucket, Key=t.key)
        except boto_exc.ClientError as e:
            if s3_errors.error_code(e) in ('404', 'NoSuchKey', 'NotFound'):
                return None
            raise

    def _is_ours(self, head, parts):
        if head.get('ContentLength') != self._sent:
            return False
        expected = self._expected_etag(parts)
        got = (head.get('ETag') or '').strip('"')
        if expected is None or not _MULTIPART_ETAG.match(got):
            # No ETag to compare (a server that computes it otherwise):
            # the size of what this upload sent decides.
            return True
        return got == expected

    def _settle(self, error, parts):
        """Find out what a CompleteMultipartUpload that failed did.

        S3 may apply the completion and still answer an error (a 200 with
        an ``<Error>`` body, which botocore retries; or the answer is lost
        and the retry finds ``NoSuchUpload``).  The key was free before
        the upload started, so an object there now is this upload's: if
        it is what was sent (size, and the multipart ETag where the server
        computes it as AWS does), the upload succeeded; otherwise it is
        removed, and the error raised (the caller aborts the upload).

        :param error: what the completion raised.
        :param parts: the parts given to the completion.
        :returns: a CompleteMultipartUpload-like response when the object
            is complete.
        :raises: ``error``, or ``BackendException`` when the upload was
            gone (``NoSuchUpload``) and no complete object is there.
        """
        t = self.target
        args = {'bucket': t.bucket, 'key': t.key, 'id': self.upload_id,
                'store': t.store_name, 'err': error}
        try:
            head = self._head()
        except (boto_exc.ClientError, boto_exc.BotoCoreError) as e:
            # Cannot look: remove whatever may be there, so that Glance's
            # retry does not find a Duplicate.
            LOG.warning("Could not check %(bucket)s/%(key)s after its "
                        "completion failed: %(head)s", dict(args, head=e))
            head = {}
        if head and self._is_ours(head, parts):
            LOG.warning("CompleteMultipartUpload of %(bucket)s/%(key)s on "
                        "S3 backend %(store)s failed (%(err)s) but the "
                        "object is complete: the upload succeeded", args)
            return {'Bucket': t.bucket, 'Key': t.key,
                    'ETag': head.get('ETag')}
        if head is not None:
            self._delete_object(args)
        if s3_errors.error_code(error) == 'NoSuchUpload':
            raise exceptions.BackendException(
                _("The multipart upload of %(bucket)s/%(key)s on S3 backend "
                  "%(store)s disappeared before its completion was "
                  "confirmed (NoSuchUpload) and no complete object is "
                  "there; nothing was kept, the upload can be retried.")
                % args) from None
        raise error

    def _delete_object(self, args):
        t = self.target
        try:
            t.client.delete_object(Bucket=t.bucket, Key=t.key)
            LOG.warning("Removed %(bucket)s/%(key)s, which a failed "
                        "completion of upload %(id)s left on S3 backend "
                        "%(store)s (%(err)s)", args)
        except Exception as e:
            LOG.error("Could not remove %(bucket)s/%(key)s, which a failed "
                      "completion of upload %(id)s may have left on S3 "
                      "backend %(store)s (%(del)s): remove it before the "
                      "image is uploaded again.", dict(args, **{'del': e}))

    def run(self, parts):
        """Upload ``parts`` (``Part`` objects, read lazily) and complete.

        :param parts: an iterable of ``Part``; reading it may raise.
        :returns: the CompleteMultipartUpload response.
        :raises: whatever a part, the reader or the completion raised,
            after the upload was aborted.
        """
        t = self.target
        resp = t.client.create_multipart_upload(
            Bucket=t.bucket, Key=t.key, **t.policy.create_multipart_params())
        self.upload_id = resp['UploadId']
        LOG.debug("Started multipart upload %(id)s of %(bucket)s/%(key)s",
                  {'id': self.upload_id, 'bucket': t.bucket, 'key': t.key})
        futures = []
        executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=self.max_in_flight, thread_name_prefix='s3-part')
        try:
            futures = self._submit_all(executor, parts)
            # A part's exception is raised here; the error recorded by a
            # sender is the same one.
            return self._complete([f.result() for f in futures])
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
        """Abort the upload; log what to do if that fails too."""
        t = self.target
        args = {'id': self.upload_id, 'bucket': t.bucket, 'key': t.key,
                'store': t.store_name}
        try:
            t.client.abort_multipart_upload(
                Bucket=t.bucket, Key=t.key, UploadId=self.upload_id)
            LOG.info("Aborted multipart upload %(id)s of %(bucket)s/%(key)s "
                     "on S3 backend %(store)s", args)
        except boto_exc.ClientError as e:
            if s3_errors.error_code(e) != 'NoSuchUpload':
                self._abort_failed(args, e)
            else:
                LOG.info("Multipart upload %(id)s of %(bucket)s/%(key)s on "
                         "S3 backend %(store)s is already gone", args)
        except Exception as e:
            self._abort_failed(args, e)

    @staticmethod
    def _abort_failed(args, e):
        args['err'] = e
        LOG.error("Could not abort multipart upload %(id)s of "
                  "%(bucket)s/%(key)s on S3 backend %(store)s (%(err)s). "
                  "It still holds storage: remove it with "
                  "AbortMultipartUpload (for example 'aws s3api "
                  "abort-multipart-upload --bucket %(bucket)s --key "
                  "%(key)s --upload-id %(id)s') once the backend is "
                  "reachable.", args)


_MD5_HEX = re.compile(r'^[0-9a-fA-F]{32}$')
_MULTIPART_ETAG = re.compile(r'^[0-9a-fA-F]{32}-[0-9]+$')


# Backends (store name, endpoint) whose CompleteMultipartUpload refuses
# checksum elements (MalformedXML): later uploads complete without them.
_NO_COMPLETE_CHECKSUMS = set()
_NO_COMPLETE_CHECKSUMS_LOCK = threading.Lock()
_MD5_HINT = (" s3_store_checksum_algorithm = MD5 makes every part carry a "
             "Content-MD5, which such backends verify.")


def _backend_id(target):
    return (target.store_name,
            getattr(getattr(target.client, 'meta', None), 'endpoint_url',
                    None))


def _refuses_complete_checksums(target):
    return target.policy.precompute and \
        _backend_id(target) in _NO_COMPLETE_CHECKSUMS


def forget_complete_checksum_refusals():
    """Forget which backends refused checksum elements (tests, reloads).

    :returns: None.
    """
    with _NO_COMPLETE_CHECKSUMS_LOCK:
        _NO_COMPLETE_CHECKSUMS.clear()


def _note_complete_checksums_refused(target):
    """Remember the refusal; warn once per backend what integrity is left.

    :param target: the upload's ``Target``.
    """
    with _NO_COMPLETE_CHECKSUMS_LOCK:
        first = _backend_id(target) not in _NO_COMPLETE_CHECKSUMS
        _NO_COMPLETE_CHECKSUMS.add(_backend_id(target))
    if first:
        LOG.warning(
            "S3 backend %(store)s refused the %(alg)s checksum elements of "
            "CompleteMultipartUpload (MalformedXML): its multipart uploads "
            "are completed without them from now on. Each part still "
            "carries its %(alg)s checksum and Content-Length (verified if "
            "this backend checks part checksums), but the backend keeps "
            "no whole-object checksum, so multipart images are served "
            "without checksum validation.%(hint)s",
            {'store': target.store_name, 'alg': target.policy.algorithm,
             'hint': _MD5_HINT if 'MD5' in s3_checksums.ALGORITHMS
             else ''})


def _known_digests(reader):
    """Raw digests Glance's hashing already has: md5 and the multihash."""
    hashes = reader.hashes
    return {s3_checksums.MD5: hashes.md5.digest(),
            hashes.os_hash.name.upper(): hashes.os_hash.digest()}


def _put(target, body, reader, known=None):
    # The body is the whole image, so the md5 Glance needs doubles as
    # Content-MD5, which every S3 server verifies (as boto3 < 1.36 sent
    # it); over HTTPS it also spares boto3 hashing the payload.  The
    # multihash is reused the same way when it is the checksum algorithm
    # (sha512, Glance's default, with SHA512).
    known = known or _known_digests(reader)
    return target.client.put_object(
        Bucket=target.bucket, Key=target.key, Body=body,
        ContentMD5=base64.b64encode(known[s3_checksums.MD5]).decode(),
        **target.policy.put_params(body, known))


class PartsBody(io.RawIOBase):
    """A read-only, seekable file over part buffers, without a copy.

    botocore sends a file body in small reads, seeks back to retry or to
    hash it, and takes its length from ``len()``: the buffered parts of
    an image of unknown size go out as one PutObject without being
    joined into one more buffer of the image's size.

    :param buffers: the bytes-like part bodies, in order.
    """

    def __init__(self, buffers):
        super().__init__()
        self._views = [memoryview(b).cast('B') for b in buffers]
        self._starts = []
        total = 0
        for view in self._views:
            self._starts.append(total)
            total += len(view)
        self._size = total
        self._pos = 0

    def __len__(self):
        return self._size

    def readable(self):
        return True

    def seekable(self):
        return True

    def tell(self):
        return self._pos

    def seek(self, offset, whence=io.SEEK_SET):
        """Move to ``offset`` (from the start, here or the end).

        :returns: the new position.
        :raises ValueError: a negative position or an unknown whence.
        """
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos,
                io.SEEK_END: self._size}.get(whence)
        if base is None or base + offset < 0:
            raise ValueError('invalid seek')
        self._pos = base + offset
        return self._pos

    def _take(self, size):
        """Views of the next ``size`` bytes at most, in order; moves on."""
        index = bisect.bisect_right(self._starts, self._pos) - 1
        while size > 0 and 0 <= index < len(self._views):
            offset = self._pos - self._starts[index]
            piece = self._views[index][offset:offset + size]
            if len(piece):
                yield piece
                self._pos += len(piece)
                size -= len(piece)
            index += 1

    def readinto(self, buf):
        """Copy the next bytes into ``buf``; 0 at the end.

        :returns: the number of bytes copied.
        """
        out = memoryview(buf).cast('B')
        done = 0
        for piece in self._take(len(out)):
            out[done:done + len(piece)] = piece
            done += len(piece)
        return done

    def read(self, size=-1):
        """Up to ``size`` bytes (the rest when negative); b'' at the end.

        The bytes returned are the one copy made (botocore reads 1 MiB or
        less at a time, to sign the body and to send it).

        :returns: bytes.
        """
        if size is None or size < 0:
            size = max(0, self._size - self._pos)
        return b''.join(self._take(size))

    def close(self):
        """Release the views of the buffers."""
        for view in self._views:
            view.release()
        self._views = []
        super().close()


def _put_parts(target, parts, reader):
    """One PutObject of the buffered parts, sent from the buffers.

    The checksum parameters are those of ``put_params`` over the whole
    body, computed part by part.
    """
    try:
        if len(parts) <= 1:
            return _put(target, parts[0].payload() if parts else b'',
                        reader)
        known = _known_digests(reader)
        policy = target.policy
        if policy.precompute and policy.algorithm not in known:
            # Computed part by part over the buffers: no joined copy.
            checksum = policy.part_checksum(parts[0].body)
            for part in parts[1:]:
                checksum.update(part.body)
            known[policy.algorithm] = checksum.digest()
        with PartsBody([p.body for p in parts]) as body:
            return _put(target, body, reader, known)
    finally:
        for part in parts:
            part.done()


def _read_head(reader, pool, sizes, threshold):
    """Buffer an image of unknown size up to just past ``threshold``.

    :returns: ``(parts, total)``: the parts read and their byte count.
    """
    head = collections.deque()
    total = 0
    while total <= threshold and not reader.eof:
        part = pool.part(reader, next(sizes))
        if part is None:
            break
        head.append(part)
        total += len(part.body)
    return head, total


def _parts(head, reader, pool, sizes):
    while head:
        yield head.popleft()
    while not reader.eof:
        part = pool.part(reader, next(sizes))
        if part is None:
            return
        yield part


def upload(client, bucket, key, reader, image_size, policy, limits,
           store_name='s3'):
    """Upload one image as object ``key``: PutObject or multipart.

    A known size below ``limits.threshold`` is one PutObject.  An unknown
    size (0) is buffered up to the threshold: if it ends there, one
    PutObject, else a multipart upload that starts with the buffered
    parts.  Everything else is a multipart upload.

    :param client: the store's boto3 S3 client.
    :param bucket: the bucket.
    :param key: the object key.
    :param reader: an ``ImageReader`` over the image.
    :param image_size: the declared size, 0 when unknown.
    :param policy: the store's ``s3_checksums.ChecksumPolicy``.
    :param limits: the store's ``UploadLimits``.
    :param store_name: the backend's name, for log messages.
    :returns: the PutObject or CompleteMultipartUpload response.
    :raises glance_store.exceptions.Invalid: the image is not the size
        declared (nothing is left on the backend).
    :raises botocore.exceptions.ClientError: S3 refused a request
        (a multipart upload is aborted first).
    :raises botocore.exceptions.BotoCoreError: a request could not be
        sent (a multipart upload is aborted first).
    """
    target = Target(client, bucket, key, policy, store_name)
    if image_size and image_size < limits.threshold:
        body = bytearray(image_size)
        reader.readinto(body)
        return _put(target, body, reader)
    if policy.part_digest:
        # Parts may be sent: their digest (Content-MD5) is computed on
        # the digest workers while they are read.
        reader.digests.add_part_digest(
            s3_digests.PartDigest(policy.part_digest))
    sizes = limits.part_sizes(image_size)
    first = next(sizes)
    pool = BufferPool(limits.buffer_count(first))
    sizes = _prepend(first, sizes)
    head = collections.deque()
    if not image_size:
        head, total = _read_head(reader, pool, sizes, limits.threshold)
        if reader.eof and total <= limits.threshold:
            return _put_parts(target, list(head), reader)
    return MultipartUpload(target, limits.max_in_flight).run(
        _parts(head, reader, pool, sizes))


def _prepend(first, rest):
    yield first
    yield from rest
