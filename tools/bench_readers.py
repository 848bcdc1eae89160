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

"""CPU per GiB of reading Glance's image input in pieces of each size.

The S3 store reads an image from the object Glance hands it into its part
buffers (``s3_upload.ImageReader``), asking for at most ``piece`` bytes at
a time.  What one call costs depends on the reader Glance passes, so this
measures, for each piece size and each reader, the CPU seconds per GiB of
the reading thread (``time.thread_time``: a writer thread feeding a socket
is not counted) spent by ``ImageReader`` filling 10 MiB part buffers with
the digests switched off:

* ``uwsgi-chunked``: Glance's ``_UWSGIChunkFile`` (``Transfer-Encoding:
  chunked`` under uWSGI), over a stand-in ``uwsgi.chunked_read`` that
  returns one new ``bytes`` per HTTP chunk (64 KiB: python-glanceclient's
  chunk; ``--chunk`` for others), wrapped as Glance wraps it for the store
  (``LimitingReader(CooperativeReader(...))`` twice: the API and the
  location layer).
* ``socket``: a buffered socket file (wsgiref's, and what uWSGI's
  Content-Length input behaves like: a new ``bytes`` of the size asked),
  with a writer thread, in Glance's wrappers.
* ``socket-raw``: the same socket file as the store would see it without
  wrappers (``readinto`` straight into the part buffer).
* ``file``: the import flow's staging file (``open(path, 'rb')`` in
  Glance's wrappers); ``file-raw`` without them (``readinto``).

Glance's own classes are used when Glance is importable (``--glance
auto``, the default), else copies of their read paths, faithful to Glance
33.0.0 (``--glance copy`` forces those).  Not a test: nothing asserts.
"""

import argparse
import os
import socket
import sys
import tempfile
import threading
import time

import procs  # tools/procs.py, beside this script

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from glance_store._drivers import s3_upload  # noqa: E402

KiB = 1024
MiB = 1024 * KiB
GiB = 1024 * MiB
PART = 10 * MiB
PIECES = [64 * KiB, 128 * KiB, 256 * KiB, 512 * KiB, MiB, 2 * MiB,
          4 * MiB, 10 * MiB]


class _CopyUWSGIChunkFile(object):
    # glance.common.wsgi._UWSGIChunkFile.read of Glance 33.0.0, line for
    # line (the cost under test is its ``+=`` and slicing).
    def __init__(self, uwsgi_mod):
        self._buffer = b""
        self._uwsgi = uwsgi_mod

    def read(self, length=None):
        if length == 0:
            return b""
        if length and length < 0:
            length = None
        length = length if length is not None else 1 * MiB
        uwsgi_mod = self._uwsgi
        while len(self._buffer) < length:
            data = uwsgi_mod.chunked_read()
            if not data:
                break
            self._buffer += data
        chunk = self._buffer[:length]
        self._buffer = self._buffer[length:]
        return chunk


class _CopyCooperativeReader(object):
    # glance.common.utils.CooperativeReader over a readable: its read is
    # the readable's followed by sleep(0).
    def __init__(self, fd):
        self.fd = fd

    def read(self, *args):
        result = self.fd.read(*args)
        time.sleep(0)
        return result


class _CopyLimitingReader(object):
    # glance.common.utils.LimitingReader.read.
    def __init__(self, data, limit):
        self.data = data
        self.limit = limit
        self.bytes_read = 0

    def read(self, i):
        result = self.data.read(i)
        self.bytes_read += len(result)
        if self.bytes_read > self.limit:
            raise ValueError('limit exceeded')
        return result


class FakeUWSGI(object):
    """``uwsgi.chunked_read``: ``total`` bytes in chunks of ``chunk``."""

    def __init__(self, block, total, chunk):
        self.block = block
        self.left = total
        self.chunk = chunk
        self.pos = 0

    def chunked_read(self, timeout=0):
        if self.left <= 0:
            return b''
        n = min(self.chunk, self.left)
        if self.pos + n > len(self.block):
            self.pos = 0
        # A new bytes object per chunk, as uWSGI returns.
        data = self.block[self.pos:self.pos + n]
        self.pos += n
        self.left -= n
        return data


def glance_classes(mode):
    """Glance's reader classes, or the copies.

    :param mode: ``auto`` (Glance's when importable), ``copy`` or
        ``glance`` (fail when not importable).
    :returns: ``(chunk_file_factory, cooperative, limiting, origin)``
    """
    if mode != 'copy':
        try:
            from glance.common import utils as g_utils
            from glance.common import wsgi as g_wsgi
        except ImportError:
            if mode == 'glance':
                raise
        else:
            def chunk_file(uwsgi_mod):
                g_wsgi._get_uwsgi = lambda: uwsgi_mod
                return g_wsgi._UWSGIChunkFile()
            return (chunk_file, g_utils.CooperativeReader,
                    lambda d, limit: g_utils.LimitingReader(d, limit),
                    'glance')
    return (_CopyUWSGIChunkFile, _CopyCooperativeReader,
            _CopyLimitingReader, 'copy')


def wrapped(reader, classes):
    """``reader`` wrapped as Glance hands an upload to the store."""
    _chunk, coop, limiting, _o = classes
    for _i in range(2):
        reader = limiting(coop(reader), 1 << 50)
    return reader


class _NoHash(object):
    def update(self, data):
        pass


class _Hashes(object):
    md5 = _NoHash()
    os_hash = _NoHash()
    verifier = None
    size = 0


def fill_parts(source, total, piece):
    """Read ``total`` bytes from ``source`` as the store does.

    :returns: the reading thread's CPU seconds.
    """
    buf = bytearray(PART)
    reader = s3_upload.ImageReader(source, total, _Hashes(), threaded=False,
                                   piece_size=piece)
    start = time.thread_time()
    got = 0
    while got < total:
        n = reader.readinto(buf)
        if not n:
            break
        got += n
    cpu = time.thread_time() - start
    reader.close()
    if got != total:
        raise RuntimeError('read %d of %d bytes' % (got, total))
    return cpu


def _socket_source(block, total, chunk):
    left, right = socket.socketpair()
    right.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 * MiB)

    def write():
        view = memoryview(block)
        sent = 0
        try:
            while sent < total:
                n = min(chunk, total - sent)
                right.sendall(view[:n])
                sent += n
        finally:
            right.close()
    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    return left.makefile('rb'), (left, writer)


def _close(handle):
    if handle is None:
        return
    if isinstance(handle, tuple):
        handle[0].close()
        handle[1].join()
    else:
        handle.close()


def make_source(kind, classes, block, total, chunk, path):
    """A fresh reader of ``total`` bytes of the given kind.

    :returns: ``(reader, handle to close)``
    """
    if kind == 'uwsgi-chunked':
        return wrapped(classes[0](FakeUWSGI(block, total, chunk)),
                       classes), None
    if kind in ('socket', 'socket-raw'):
        f, handle = _socket_source(block, total, chunk)
        return (f if kind == 'socket-raw' else wrapped(f, classes)), handle
    if kind in ('file', 'file-raw'):
        f = open(path, 'rb')
        return (f if kind == 'file-raw' else wrapped(f, classes)), f
    raise ValueError(kind)


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--mib', type=int, default=256,
                   help='bytes read per measurement, in MiB (default 256)')
    p.add_argument('--repeat', type=int, default=3,
                   help='alternating repetitions; the median is shown')
    p.add_argument('--chunk', type=int, default=64 * KiB,
                   help='HTTP chunk / socket write size (default 65536)')
    p.add_argument('--readers', default='uwsgi-chunked,socket,socket-raw,'
                   'file,file-raw')
    p.add_argument('--pieces', default=','.join(str(p) for p in PIECES),
                   help='piece sizes in bytes, comma-separated')
    p.add_argument('--glance', choices=('auto', 'copy', 'glance'),
                   default='auto')
    return p.parse_args(argv)


def _measure(args, classes, kinds, pieces, path):
    """Reading CPU s per GiB of every (reader, piece size), each run."""
    total = args.mib * MiB
    block = os.urandom(16 * MiB)
    results = {(k, p): [] for k in kinds for p in pieces}
    if any(k.startswith('file') for k in kinds):
        procs.write_repeated(path, block, total)
    for _r in range(args.repeat):
        # Alternate: every case once per round, so that load changes
        # touch every case alike.
        for kind in kinds:
            for piece in pieces:
                source, handle = make_source(kind, classes, block, total,
                                             args.chunk, path)
                try:
                    cpu = fill_parts(source, total, piece)
                finally:
                    _close(handle)
                results[(kind, piece)].append(cpu * GiB / total)
    return results


def _print_table(args, classes, kinds, pieces, results):
    load = ' '.join('%.2f' % x for x in os.getloadavg())
    print('readers: Glance classes from %s; %d MiB x %d, chunk %d; '
          'load average %s' % (classes[3], args.mib, args.repeat,
                               args.chunk, load))
    print('reading thread CPU s per GiB (median), by piece size:')
    print('%-14s' % 'reader' + ''.join('%9s' % _label(p) for p in pieces))
    for kind in kinds:
        row = [sorted(results[(kind, p)])[len(results[(kind, p)]) // 2]
               for p in pieces]
        print('%-14s' % kind + ''.join('%9.3f' % c for c in row))


def main(argv=None):
    args = parse_args(argv)
    classes = glance_classes(args.glance)
    kinds = args.readers.split(',')
    pieces = [int(p) for p in args.pieces.split(',')]
    with tempfile.TemporaryDirectory() as tmp:
        results = _measure(args, classes, kinds, pieces,
                           os.path.join(tmp, 'image'))
    _print_table(args, classes, kinds, pieces, results)
    return 0


def _label(piece):
    return ('%dM' % (piece // MiB)) if piece >= MiB else (
        '%dK' % (piece // KiB))


if __name__ == '__main__':
    sys.exit(main())
