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

"""Helpers shared by the drivers: hashing, readers, chunk iterators."""

import hashlib
import logging

from glance_store import exceptions
from glance_store.i18n import _

LOG = logging.getLogger(__name__)


def get_hasher(hash_algo, usedforsecurity=True):
    """A new hashlib object for ``hash_algo``.

    Raises ``UnknownHashingAlgo`` for a name hashlib does not know.  md5
    is asked for with ``usedforsecurity=False`` on FIPS systems: Glance
    uses it as a legacy checksum, not for security.
    """
    try:
        return hashlib.new(str(hash_algo), usedforsecurity=usedforsecurity)
    except (ValueError, TypeError):
        raise exceptions.UnknownHashingAlgo(algo=hash_algo)


def md5_hasher():
    return hashlib.md5(usedforsecurity=False)


class ImageHashes(object):
    """md5, the multihash and the verifier, fed once with every byte."""

    def __init__(self, hashing_algo, verifier=None):
        self.os_hash = get_hasher(hashing_algo, False)
        self.md5 = md5_hasher()
        self.verifier = verifier
        self.size = 0

    def update(self, data):
        self.md5.update(data)
        self.os_hash.update(data)
        if self.verifier:
            self.verifier.update(data)
        self.size += len(data)

    @property
    def checksum(self):
        return self.md5.hexdigest()

    @property
    def multihash(self):
        return self.os_hash.hexdigest()


def chunkreadable(iter, chunk_size=65536):
    """Wrap a readable or an iterable into an iterator of chunks."""
    return chunkiter(iter, chunk_size) if hasattr(iter, 'read') else iter


def chunkiter(fp, chunk_size=65536):
    """Yield ``chunk_size`` pieces of a readable until it is exhausted."""
    while True:
        chunk = fp.read(chunk_size)
        if chunk:
            yield chunk
        else:
            break


def read_exactly(reader, size):
    """Read up to ``size`` bytes, looping over short reads.

    File-like objects such as Glance's ``CooperativeReader`` may return
    fewer bytes than asked before the end; only an empty read means end.
    """
    parts = []
    remaining = size
    while remaining > 0:
        data = reader.read(remaining)
        if not data:
            break
        parts.append(data)
        remaining -= len(data)
    if len(parts) == 1:
        return parts[0]
    return b''.join(parts)


class LimitingReader(object):
    """Read from ``data`` and fail once more than ``limit`` bytes came."""

    def __init__(self, data, limit,
                 exception_class=exceptions.Invalid):
        self.data = data
        self.limit = limit
        self.bytes_read = 0
        self.exception_class = exception_class

    def __iter__(self):
        for chunk in self.data:
            self.bytes_read += len(chunk)
            if self.bytes_read > self.limit:
                raise self.exception_class(
                    _("Size exceeds the limit of %d bytes") % self.limit)
            yield chunk

    def read(self, i):
        result = self.data.read(i)
        self.bytes_read += len(result)
        if self.bytes_read > self.limit:
            raise self.exception_class(
                _("Size exceeds the limit of %d bytes") % self.limit)
        return result


class CooperativeReader(object):
    """A ``read(n)`` view of an iterator of chunks (or of a readable)."""

    def __init__(self, fd):
        self.fd = fd
        self.iterator = None
        if hasattr(fd, 'read'):
            self.read = fd.read
        else:
            self.iterator = iter(fd)
        self.buffer = b''
        self.position = 0

    def read(self, length=None):
        """Return at most ``length`` bytes; ``b''`` only at the end."""
        if self.iterator is None:  # pragma: no cover - replaced above
            return self.fd.read(length)
        if length is None or length < 0:
            result = self.buffer[self.position:] + b''.join(self.iterator)
            self.buffer = b''
            self.position = 0
            return result
        while self.position >= len(self.buffer):
            try:
                self.buffer = next(self.iterator)
                self.position = 0
            except StopIteration:
                self.buffer = b''
                self.position = 0
                return b''
        result = self.buffer[self.position:self.position + length]
        self.position += len(result)
        return result

    def __iter__(self):
        return chunkreadable(self)
