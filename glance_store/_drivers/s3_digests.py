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

"""The digests of an upload, each on its own worker thread.

An upload feeds every byte to md5 (Glance's ``checksum``), the multihash
and, when Glance passes one, the signature verifier.  One after the other
on the reading thread they cost more CPU per byte than anything else on
the path, so a single upload could never go faster than their sum.
hashlib (and zlib's and awscrt's CRCs) release the GIL on large buffers:
here each digest has one worker that takes slices of the part buffers
the upload already holds (memoryviews, no copy) in order, so the digests
run side by side, and next to reading and sending.

A part buffer goes back to its pool only when every digest has taken all
of that part and the part itself has been sent: ``PartBarrier`` counts
those holders down and releases the buffer once.  The number of buffers
(and so the memory bound) is the pool's, unchanged; and the reader waits
when it is ``MAX_BACKLOG`` parts ahead of the digests, so that it does
not fill the whole pool just to wait for them.

The first error of a digest (a verifier that raises) is raised to the
reading thread at its next ``feed`` or at ``finish``, so the upload is
aborted as if the digest had failed inline.  ``close`` stops every worker;
``Digests`` is a context manager so that no thread outlives the upload
(success, error or KeyboardInterrupt).

With a single digest, a small image, or when this process may run on
one core only, the digests run inline on the feeding thread: threads
would only add hand-offs there.

A ``PartDigest`` (the md5 of each part, for ``Content-MD5``) is one more
digest on its own worker: ``Digests.cut`` marks the end of a part in its
queue and returns a future of that part's digest, so the part's md5 is
computed while the part is read, not on the thread that sends it.
"""

import concurrent.futures
import hashlib
import os
import queue
import threading

# Slices smaller than this are not worth a hand-off to the workers; the
# reader groups what it copies into the part buffer into slices of about
# this size (still in the CPU cache when the digests read them).
SLICE_SIZE = 1024 * 1024
# Parts marked but not yet taken by every digest before ``feed`` waits:
# reading further ahead of the digests would not make them faster, it
# would only hold more buffers.
MAX_BACKLOG = 2


def worth_threads(image_size):
    """Whether an image of ``image_size`` bytes is worth digest threads.

    :param image_size: the declared size, 0 when unknown
    :returns: False for a known size of a few slices (starting the
        workers would cost more than they save), else True
    """
    return not 0 < image_size <= 4 * SLICE_SIZE


def usable_cores():
    """How many cores this process may run on.

    :returns: the size of the CPU affinity set, or ``os.cpu_count()``
        where affinity is not available
    """
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return os.cpu_count() or 1


class PartBarrier(object):
    """Calls ``release`` once, when all ``holders`` have called ``done``.

    :param holders: how many ``done`` calls release the part
    :param release: a callable (e.g. returning a buffer to its pool), or
        None
    """

    __slots__ = ('_count', '_lock', '_release')

    def __init__(self, holders, release=None):
        self._count = holders
        self._lock = threading.Lock()
        self._release = release
        if holders <= 0:
            self._fire()

    def _fire(self):
        release, self._release = self._release, None
        if release is not None:
            release()

    def done(self):
        """One holder lets go; the last one releases the part."""
        with self._lock:
            self._count -= 1
            last = self._count == 0
        if last:
            self._fire()


class PartDigest(object):
    """The digest of each part of an upload (``hashlib`` name ``name``).

    Fed in order with every byte like the other digests; ``cut`` ends the
    current part.

    :param name: a hashlib algorithm name, e.g. 'md5'
    """

    def __init__(self, name='md5'):
        self.name = name
        self._hash = self._new()

    def _new(self):
        return hashlib.new(self.name, usedforsecurity=False)

    def update(self, data):
        """Add ``data`` to the current part."""
        self._hash.update(data)

    def cut(self):
        """End the current part.

        :returns: the raw digest of the bytes fed since the last cut
        """
        digest = self._hash.digest()
        self._hash = self._new()
        return digest


class _Cut(object):
    """Resolves ``future`` with a part's digest, in the worker's order."""

    __slots__ = ('owner', 'part_digest', 'future')

    def __init__(self, owner, part_digest):
        self.owner = owner
        self.part_digest = part_digest
        self.future = concurrent.futures.Future()

    def done(self):
        if self.owner.stopped:
            # Bytes of this part were skipped: no digest to give.
            self.future.set_exception(RuntimeError(
                'the upload\'s digests were stopped'))
        else:
            self.future.set_result(self.part_digest.cut())


class _Worker(object):
    """One digest, fed in order from its own queue on its own thread."""

    def __init__(self, update, owner, name):
        self.update = update
        self.owner = owner
        self.queue = queue.SimpleQueue()
        self.thread = threading.Thread(target=self._run, name=name,
                                       daemon=True)
        self.thread.start()

    def _run(self):
        while True:
            item = self.queue.get()
            if item is None:
                return
            data, barriers = item
            if data is not None and not self.owner.stopped:
                try:
                    self.update(data)
                except BaseException as e:
                    self.owner.record_error(e)
            for barrier in barriers:
                barrier.done()


class Digests(object):
    """Feed ``updates`` (one callable per digest) with every byte, in order.

    :param updates: callables taking a bytes-like object, e.g.
        ``[md5.update, sha512.update, verifier.update]``; each is called
        with the slices in the order they were fed, from one thread
    :param threaded: run each digest on its own worker thread; None (the
        default) decides: threads when there are two digests or more and
        two cores or more to run them on
    :param part_digest: an optional ``PartDigest``, fed like the others
        and cut at the end of each part (``cut``)
    """

    def __init__(self, updates, threaded=None, part_digest=None):
        self.updates = [u for u in updates if u is not None]
        self.part_digest = None
        if threaded is None:
            threaded = len(self.updates) > 1 and usable_cores() > 1
        self.threaded = threaded
        self.stopped = False
        self._error = None
        self._lock = threading.Lock()
        self._backlog = 0
        self._taken = threading.Condition(self._lock)
        # Started on the first feed: an upload refused before any byte
        # (a duplicate, a missing bucket) starts no thread.
        self._workers = []
        self._closed = False
        if part_digest is not None:
            self.add_part_digest(part_digest)

    def add_part_digest(self, part_digest):
        """Feed ``part_digest`` too, and cut it at each ``cut``.

        :param part_digest: a ``PartDigest``
        :raises RuntimeError: when bytes were already fed (the digest
            would miss them) or the digests are closed
        """
        if self._workers or self._closed:
            raise RuntimeError('a part digest must be added before the '
                               'first byte')
        self.part_digest = part_digest
        self.updates.append(part_digest.update)

    def _started(self):
        if not self._workers and self.threaded and not self._closed:
            self._workers = [
                _Worker(u, self, 's3-digest-%d' % i)
                for i, u in enumerate(self.updates)]
        return self._workers

    @property
    def holders(self):
        """How many ``done`` calls ``mark`` makes on a barrier."""
        return len(self.updates) if self.threaded else 0

    def record_error(self, error):
        """Keep the first error of a digest; later feeds raise it."""
        with self._taken:
            if self._error is None:
                self._error = error
            self.stopped = True
            self._taken.notify_all()

    def check(self):
        """Raise the first error a digest raised, if any.

        :raises: whatever a digest raised
        """
        if self._error is not None:
            raise self._error

    def feed(self, data):
        """Give ``data`` to every digest.

        With workers, ``data`` must stay unchanged until a barrier marked
        after it is released: it is read later, on the workers' threads.

        :param data: a bytes-like object (a memoryview of a part buffer)
        :raises: the first error a digest raised so far
        """
        self.check()
        if not data:
            return
        if not self.threaded:
            for update in self.updates:
                update(data)
            return
        with self._taken:
            while self._backlog >= MAX_BACKLOG and not self.stopped:
                self._taken.wait()
        self.check()
        for worker in self._started():
            worker.queue.put((data, ()))

    def _part_taken(self):
        with self._taken:
            self._backlog -= 1
            self._taken.notify_all()

    def mark(self, barrier):
        """Call ``barrier.done()`` once per worker, after what was fed.

        :param barrier: a ``PartBarrier`` counting ``holders`` for the
            digests (plus whatever else holds the part)
        """
        workers = self._started()
        if not workers:
            # Inline digests, or closed: nothing holds the part here.
            for _ in range(self.holders):
                barrier.done()
            return
        with self._taken:
            self._backlog += 1
        taken = PartBarrier(len(workers), self._part_taken)
        for worker in workers:
            worker.queue.put((None, (barrier, taken)))

    def cut(self):
        """End the current part of the ``PartDigest``.

        :returns: a ``concurrent.futures.Future`` of the raw digest of the
            bytes fed since the previous cut (it fails when the digests
            were stopped by an error), or None without a part digest
        """
        if self.part_digest is None:
            return None
        cut = _Cut(self, self.part_digest)
        workers = self._started()
        if workers:
            # The part digest's worker is the last one.
            workers[-1].queue.put((None, (cut,)))
        elif self._closed and self.threaded:
            cut.future.set_exception(RuntimeError(
                'the upload\'s digests are closed'))
        else:
            cut.done()
        return cut.future

    def finish(self):
        """Wait until every digest has taken every byte fed so far.

        :raises: the first error a digest raised
        """
        if self._workers:
            done = threading.Event()
            self.mark(PartBarrier(self.holders, done.set))
            done.wait()
        self.check()

    def close(self):
        """Stop the workers (skipping what they have not hashed yet).

        Barriers already marked are still released, so no buffer is
        lost.  Safe to call more than once.
        """
        self._closed = True
        if not self._workers:
            return
        self.stopped = True
        for worker in self._workers:
            worker.queue.put(None)
        for worker in self._workers:
            worker.thread.join()
        self._workers = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
