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

"""Reading S3 objects: chunked iteration with checksum validation."""

import logging

from botocore import exceptions as boto_exc
from botocore import httpchecksum

from glance_store._drivers import s3_checksums
from glance_store._drivers import s3_errors
from glance_store import exceptions

LOG = logging.getLogger(__name__)


def stored_checksum(response):
    """The checksum a GetObject or HeadObject response carries.

    :param response: the response dict botocore returned.
    :returns: ``(algorithm, base64 value)``, or ``(None, None)`` when the
        backend returned no checksum.
    """
    for algorithm in s3_checksums.ALGORITHMS:
        value = response.get(s3_checksums.param_name(algorithm))
        if value:
            return algorithm, value
    return None, None


def botocore_validates(body):
    """Whether botocore wrapped the body to validate a checksum.

    :param body: the ``Body`` of a GetObject response.
    :returns: True when botocore checks the body's checksum itself.
    """
    return isinstance(body, httpchecksum.StreamingChecksumBody)


class _WholeValidator(object):
    """Checks the bytes of a full-object checksum the store computes."""

    def __init__(self, algorithm, expected):
        self.algorithm = algorithm
        self.expected = expected
        self.checksum = s3_checksums.Checksum(algorithm)

    def update(self, data):
        self.checksum.update(data)

    def finish(self):
        return self.checksum.b64digest() == self.expected


class _CompositeValidator(object):
    """Checks each part of a composite (``...-N``) multipart checksum."""

    def __init__(self, algorithm, expected, parts):
        self.algorithm = algorithm
        self.expected = expected
        # [(size, base64 part checksum)] in part order
        self.parts = list(parts)
        self.index = 0
        self.filled = 0
        self.digests = []
        self.current = s3_checksums.Checksum(algorithm)
        self.ok = True

    def _close_part(self):
        size, value = self.parts[self.index]
        if self.current.b64digest() != value:
            self.ok = False
        self.digests.append(self.current.digest())
        self.index += 1
        self.filled = 0
        self.current = s3_checksums.Checksum(self.algorithm)

    def update(self, data):
        view = memoryview(data)
        while len(view):
            if self.index >= len(self.parts):
                self.ok = False  # more data than the parts describe
                return
            size = self.parts[self.index][0]
            take = min(size - self.filled, len(view))
            self.current.update(view[:take])
            self.filled += take
            view = view[take:]
            if self.filled == size:
                self._close_part()

    def finish(self):
        if self.index != len(self.parts) or self.filled:
            return False
        combined = s3_checksums.composite_b64(self.algorithm, self.digests)
        return self.ok and combined == self.expected


def _composite_parts(client, bucket, key, algorithm):
    """Part sizes and checksums of a multipart object, or None."""
    parts = []
    marker = 0
    try:
        while True:
            resp = client.get_object_attributes(
                Bucket=bucket, Key=key, ObjectAttributes=['ObjectParts'],
                MaxParts=1000, PartNumberMarker=marker)
            info = resp.get('ObjectParts') or {}
            for part in info.get('Parts') or []:
                value = part.get(s3_checksums.param_name(algorithm))
                if not value:
                    return None
                parts.append((part['Size'], value))
            if not info.get('IsTruncated'):
                break
            marker = info.get('NextPartNumberMarker')
    except (boto_exc.ClientError, boto_exc.BotoCoreError) as e:
        LOG.warning("Could not list the parts of %(bucket)s/%(key)s to "
                    "check its composite checksum: %(error)s",
                    {'bucket': bucket, 'key': key, 'error': e})
        return None
    return parts or None


def make_validator(client, policy, response, bucket, key, ranged):
    """The validator the store itself must run on a download, or None.

    botocore validates single-part and full-object checksums when checksum
    mode is on; the store covers what it does not (composite checksums,
    under ``always``) and says when a download cannot be checked.

    :param client: the store's boto3 client (to list the parts of a
        composite checksum).
    :param policy: the backend's ``ChecksumPolicy``.
    :param response: the GetObject response.
    :param bucket: the object's bucket.
    :param key: the object's key.
    :param ranged: whether only a range was asked for (never validated).
    :returns: an object with ``update(data)`` and ``finish() -> bool``,
        or None when the store has nothing to check.
    """
    if not policy.validate_always or ranged:
        return None
    algorithm, value = stored_checksum(response)
    if algorithm is None:
        LOG.warning("S3 object %(bucket)s/%(key)s has no stored checksum: "
                    "it is served without validation.",
                    {'bucket': bucket, 'key': key})
        return None
    if botocore_validates(response.get('Body')):
        return None
    if algorithm in s3_checksums.CRT_ALGORITHMS and \
            not s3_checksums.crt_available():
        LOG.warning("S3 object %(bucket)s/%(key)s carries a %(alg)s "
                    "checksum, which needs awscrt to check: served "
                    "without validation.",
                    {'bucket': bucket, 'key': key, 'alg': algorithm})
        return None
    if '-' in value:
        parts = _composite_parts(client, bucket, key, algorithm)
        if parts is None:
            LOG.warning("S3 object %(bucket)s/%(key)s has a composite "
                        "%(alg)s checksum whose parts are not available: "
                        "served without validation.",
                        {'bucket': bucket, 'key': key, 'alg': algorithm})
            return None
        return _CompositeValidator(algorithm, value, parts)
    return _WholeValidator(algorithm, value)


class ObjectIterator(object):
    """Iterate over an S3 object body in chunks; close it when done.

    :param body: the response's streaming body.
    :param chunk_size: bytes per chunk read.
    :param validator: what :func:`make_validator` returned, or None.
    :param store_name: the backend's name, for messages.
    :param bucket: the object's bucket.
    :param key: the object's key.
    :param algorithm: the algorithm of the stored checksum, named when
        botocore's own validation fails.
    :raises glance_store.exceptions.ChecksumMismatch: at the end of the
        data when it does not match the stored checksum.
    """

    def __init__(self, body, chunk_size, validator, store_name, bucket,
                 key, algorithm=None):
        self.body = body
        # Algorithm of the stored checksum, named when botocore's own
        # validation fails (its error does not say which one).
        self.algorithm = algorithm
        self.chunk_size = chunk_size
        self.validator = validator
        self.store_name = store_name
        self.bucket = bucket
        self.key = key
        self.closed = False

    def __iter__(self):
        try:
            while True:
                try:
                    chunk = self.body.read(self.chunk_size)
                except boto_exc.BotoCoreError as e:
                    # FlexibleChecksumError is one: botocore's own
                    # validation failed; its message does not name the
                    # algorithm reliably, the stored checksum does.
                    raise s3_errors.to_store_error(
                        e, self.store_name, 'reading', self.bucket,
                        self.key, algorithm=self.algorithm)
                if not chunk:
                    break
                if self.validator is not None:
                    self.validator.update(chunk)
                yield chunk
            if self.validator is not None and not self.validator.finish():
                LOG.error("Checksum mismatch reading S3 object "
                          "%(bucket)s/%(key)s (%(alg)s)",
                          {'bucket': self.bucket, 'key': self.key,
                           'alg': self.validator.algorithm})
                raise exceptions.ChecksumMismatch(
                    object='s3 object %s/%s' % (self.bucket, self.key),
                    algorithm=self.validator.algorithm)
        finally:
            self.close()

    def close(self):
        if not self.closed:
            self.closed = True
            try:
                self.body.close()
            except Exception as e:
                # The data was served (or the consumer stopped); a body
                # that fails to close only loses its connection.
                LOG.debug("Closing the body of S3 object %(bucket)s/"
                          "%(key)s failed: %(error)s",
                          {'bucket': self.bucket, 'key': self.key,
                           'error': e})
