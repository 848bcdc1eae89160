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

"""Small data helpers for the tests."""

import io


class FakeReader(object):
    """A readable that returns at most ``max_read`` bytes per read().

    Glance hands the store readers that return short reads; the store
    must not take a short read for the end of the image.
    """

    def __init__(self, data, max_read=None, fail_after=None,
                 exc=IOError):
        self._buf = io.BytesIO(data)
        self.max_read = max_read
        self.fail_after = fail_after
        self.exc = exc
        self.bytes_read = 0

    def read(self, size=-1):
        if self.fail_after is not None and \
                self.bytes_read >= self.fail_after:
            raise self.exc("reader failed after %d bytes" % self.bytes_read)
        if self.max_read and (size is None or size < 0 or
                              size > self.max_read):
            size = self.max_read
        data = self._buf.read(size)
        self.bytes_read += len(data)
        return data


def pattern_bytes(size, seed=0):
    """``size`` bytes of a repeating, non-zero pattern (deterministic)."""
    block = bytes((i * 7 + seed) % 251 + 1 for i in range(4096))
    full, rest = divmod(size, len(block))
    return block * full + block[:rest]
