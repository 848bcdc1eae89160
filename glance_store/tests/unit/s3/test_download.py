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

"""Unit tests of s3_download: bodies botocore validates, the iterator.

* ``botocore_validates`` knows botocore's validating body by its class
  (subclasses included), not by its name;
* the iterator names the algorithm it was given when botocore's own
  validation fails, whatever botocore's message says;
* a body that fails to close does not fail a download that was served.
"""

import io
import logging

from botocore import exceptions as boto_exc
from botocore import httpchecksum
import fixtures

from glance_store._drivers import s3_download
from glance_store import exceptions
from glance_store.tests import base


class _Body(object):

    def __init__(self, chunks, error=None, close_error=None):
        self.chunks = list(chunks)
        self.error = error
        self.close_error = close_error
        self.closed = False

    def read(self, size):
        if self.chunks:
            return self.chunks.pop(0)
        if self.error is not None:
            raise self.error
        return b''

    def close(self):
        self.closed = True
        if self.close_error is not None:
            raise self.close_error


class BotocoreValidatesTest(base.StoreBaseTest):

    def test_by_class(self):
        body = httpchecksum.StreamingChecksumBody(
            io.BytesIO(b'abc'), 3, httpchecksum.Crc32Checksum(), 'x')

        class Sub(httpchecksum.StreamingChecksumBody):
            pass
        sub = Sub(io.BytesIO(b'abc'), 3, httpchecksum.Crc32Checksum(), 'x')

        class StreamingChecksumBody(object):
            """Same name, another class."""
        self.assertTrue(s3_download.botocore_validates(body))
        self.assertTrue(s3_download.botocore_validates(sub))
        self.assertFalse(s3_download.botocore_validates(
            StreamingChecksumBody()))
        self.assertFalse(s3_download.botocore_validates(io.BytesIO()))


class ObjectIteratorTest(base.StoreBaseTest):

    def _iterator(self, body, algorithm=None):
        return s3_download.ObjectIterator(body, 4, None, 's3', 'bkt', 'key',
                                          algorithm=algorithm)

    def test_algorithm_given_not_parsed(self):
        # botocore's message names crc32; the stored checksum is SHA256.
        error = boto_exc.FlexibleChecksumError(
            error_msg='Expected checksum x did not match calculated '
                      'checksum: y (crc32)')
        body = _Body([b'data'], error=error)
        e = self.assertRaises(exceptions.ChecksumMismatch, list,
                              self._iterator(body, 'SHA256'))
        self.assertIn('SHA256', e.msg)
        self.assertNotIn('CRC32', e.msg)
        self.assertIn('bkt/key', e.msg)
        self.assertTrue(body.closed)

    def test_connection_error_while_reading(self):
        body = _Body([b'data'], error=boto_exc.ReadTimeoutError(
            endpoint_url='https://s3.example.test'))
        e = self.assertRaises(exceptions.RemoteServiceUnavailable, list,
                              self._iterator(body))
        self.assertIn('bkt/key', e.msg)

    def test_close_failure_does_not_fail_the_download(self):
        log = self.useFixture(fixtures.FakeLogger(level=logging.DEBUG))
        body = _Body([b'da', b'ta'], close_error=OSError('gone'))
        self.assertEqual(b'data', b''.join(self._iterator(body)))
        self.assertTrue(body.closed)
        self.assertIn('gone', log.output)
