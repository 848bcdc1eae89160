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

"""Reading S3 objects: chunked iteration with checksum validation.

Under ``always`` response validation a download is checked against the
checksum the backend stored (botocore checks single-part and full-object
ones itself; the store checks composite ones part by part).  With the
``MD5`` algorithm an object with no stored checksum is checked against
its ETag where the ETag is an MD5: the hex md5 of a single-part object,
or md5(concatenated part md5s)-N of a multipart one, whose part sizes
come from GetObjectAttributes or from a HeadObject per part number.  An
object encrypted with SSE-KMS or SSE-C has an ETag that is not the md5
of its data: those are told by the ``ServerSideEncryption`` (``aws:kms``,
``aws:kms:dsse``) and ``SSECustomerAlgorithm`` response fields and are
not checked against it.

A download that cannot be checked is served with a WARNING the first
time for a backend (its client) in this process and a DEBUG line after:
on a backend that stores no checksum it would otherwise fire on every
read.
"""

import base64
import logging
import re
import threading
import weakref

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


# The ETag of a single-part object whose data it is the md5 of, and of
# a multipart one (md5 of the part md5s, then the part count).
_MD5_ETAG = re.compile(r'^[0-9a-fA-F]{32}$')
_MULTIPART_ETAG = re.compile(r'^([0-9a-fA-F]{32})-([0-9]+)$')
# S3's largest part count.
_MAX_PARTS = 10000

# Which "served without validation" notices each backend (client) has
# logged at WARNING already: {client: set of kinds}.
_warned = weakref.WeakKeyDictionary()
_warned_lock = threading.Lock()


def _notice(client, kind, message, args):
    """Log ``message`` at WARNING the first time per client, then DEBUG.

    :param client: the backend's boto3 client (one per backend: a
        reconfigured backend, with a new client, warns again)
    :param kind: what the notice is about, e.g. 'no-checksum'
    :param message: the log format
    :param args: its arguments
    """
    with _warned_lock:
        try:
            kinds = _warned.setdefault(client, set())
        except TypeError:  # pragma: no cover - not weakly referenceable
            kinds = set()
        first = kind not in kinds
        kinds.add(kind)
    if first:
        LOG.warning(message + " (logged once for this backend; later "
                    "ones at DEBUG)", args)
    else:
        LOG.debug(message, args)


def etag_of(response):
    """The ETag of a response without its quotes, or ''."""
    return (response.get('ETag') or '').strip().strip('"')


def etag_is_md5(response):
    """Whether the response's ETag can be an md5 of the object's data.

    :param response: a GetObject or HeadObject response
    :returns: False for SSE-KMS and SSE-C objects (their ETag is not an
        md5 of the data) and for ETags of another form; True for a
        32-hex ETag or a multipart one (32 hex, '-', part count)
    """
    if (response.get('ServerSideEncryption') or '').startswith('aws:kms'):
        return False
    if response.get('SSECustomerAlgorithm'):
        return False
    etag = etag_of(response)
    return bool(_MD5_ETAG.match(etag) or _MULTIPART_ETAG.match(etag))


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
        # value None: no per-part value to check (an ETag's parts).
        if value is not None and self.current.b64digest() != value:
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


class _MultipartETagValidator(object):
    """Checks a multipart ETag: md5(concatenated part md5s)-N.

    :param expected: the ETag (hex md5, '-', part count)
    :param sizes: the size of each part, in order
    """

    algorithm = 'MD5'

    def __init__(self, expected, sizes):
        self.expected = expected.lower()
        self.validator = _CompositeValidator(
            'MD5', None, [(size, None) for size in sizes])

    def update(self, data):
        self.validator.update(data)

    def finish(self):
        v = self.validator
        if v.index != len(v.parts) or v.filled or not v.ok:
            return False
        whole = s3_checksums.Checksum('MD5')
        for digest in v.digests:
            whole.update(digest)
        got = '%s-%d' % (whole.digest().hex(), len(v.digests))
        return got == self.expected


def _sizes_from_attributes(client, bucket, key):
    """Part sizes from GetObjectAttributes, or None."""
    sizes = []
    marker = 0
    while True:
        resp = client.get_object_attributes(
            Bucket=bucket, Key=key, ObjectAttributes=['ObjectParts'],
            MaxParts=1000, PartNumberMarker=marker)
        info = resp.get('ObjectParts') or {}
        parts = info.get('Parts') or []
        if not parts:
            return None
        sizes.extend(part['Size'] for part in parts)
        if not info.get('IsTruncated'):
            return sizes
        marker = info.get('NextPartNumberMarker')


def _size_of_part(client, bucket, key, number):
    return client.head_object(Bucket=bucket, Key=key,
                              PartNumber=number)


def part_sizes(client, bucket, key, count, total):
    """The size of each part of a multipart object, or None.

    A HeadObject of part 1 comes first: a backend that does not know part
    numbers (Swift's s3api answers 405, Ceph RGW 16 ignores them) gives
    no layout, and is never sent GetObjectAttributes, which such a
    backend may answer with the whole object (Swift 2.30 does).  Then
    GetObjectAttributes gives the sizes in one request per 1,000 parts;
    where it lists none, a HeadObject per part number does.

    :param client: the backend's boto3 client
    :param bucket: the object's bucket
    :param key: the object's key
    :param count: the part count (from the ETag)
    :param total: the object's size
    :returns: a list of ``count`` sizes adding up to ``total``, or None
        when the backend gives no such layout
    """
    errors = (boto_exc.ClientError, boto_exc.BotoCoreError)
    args = {'bucket': bucket, 'key': key}
    try:
        first = _size_of_part(client, bucket, key, 1)
    except errors as e:
        LOG.debug("HeadObject of part 1 of %(bucket)s/%(key)s failed: "
                  "%(error)s", dict(args, error=e))
        return None
    if first.get('PartsCount', count) != count or (
            count > 1 and first.get('ContentLength') == total):
        # Part numbers ignored: the answer is about the whole object.
        return None
    try:
        sizes = _sizes_from_attributes(client, bucket, key)
    except errors as e:
        LOG.debug("GetObjectAttributes of %(bucket)s/%(key)s failed "
                  "(%(error)s); asking each part's size",
                  dict(args, error=e))
        sizes = None
    if sizes is None or len(sizes) != count:
        try:
            sizes = [first['ContentLength']] + [
                _size_of_part(client, bucket, key, n)['ContentLength']
                for n in range(2, count + 1)]
        except errors as e:
            LOG.debug("HeadObject of the parts of %(bucket)s/%(key)s "
                      "failed: %(error)s", dict(args, error=e))
            return None
    if len(sizes) != count or sum(sizes) != total:
        return None
    return sizes


def _etag_validator(client, response, bucket, key):
    """An ETag (MD5) validator of the object, or None (and a notice)."""
    args = {'bucket': bucket, 'key': key}
    if not etag_is_md5(response):
        _notice(client, 'etag-not-md5',
                "S3 object %(bucket)s/%(key)s has no stored checksum and "
                "its ETag is not an MD5 of its data (SSE-KMS, SSE-C or "
                "another form): it is served without validation.", args)
        return None
    etag = etag_of(response)
    if _MD5_ETAG.match(etag):
        expected = base64.b64encode(bytes.fromhex(etag)).decode('ascii')
        return _WholeValidator('MD5', expected)
    count = int(_MULTIPART_ETAG.match(etag).group(2))
    sizes = None
    if 0 < count <= _MAX_PARTS:
        sizes = part_sizes(client, bucket, key, count,
                           response.get('ContentLength'))
    if sizes is None:
        _notice(client, 'no-part-layout',
                "S3 object %(bucket)s/%(key)s is a multipart object whose "
                "part sizes the backend does not give: it is served "
                "without validation of its MD5 ETag.", args)
        return None
    return _MultipartETagValidator(etag, sizes)


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
    under ``always``; with ``MD5``, MD5 ETags of objects with no stored
    checksum) and says when a download cannot be checked.

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
        if policy.algorithm == s3_checksums.MD5:
            return _etag_validator(client, response, bucket, key)
        _notice(client, 'no-checksum',
                "S3 object %(bucket)s/%(key)s has no stored checksum: "
                "it is served without validation.",
                {'bucket': bucket, 'key': key})
        return None
    if botocore_validates(response.get('Body')):
        return None
    return _stored_validator(client, algorithm, value, bucket, key)


def _stored_validator(client, algorithm, value, bucket, key):
    """The store's validator of a stored checksum botocore leaves."""
    args = {'bucket': bucket, 'key': key, 'alg': algorithm}
    reason = s3_checksums.unsupported_reason(algorithm)
    if reason:
        args['reason'] = reason
        LOG.warning("S3 object %(bucket)s/%(key)s carries a %(alg)s "
                    "checksum, which needs awscrt to check (%(reason)s): "
                    "served without validation.", args)
        return None
    if '-' in value:
        parts = _composite_parts(client, bucket, key, algorithm)
        if parts is None:
            LOG.warning("S3 object %(bucket)s/%(key)s has a composite "
                        "%(alg)s checksum whose parts are not available: "
                        "served without validation.", args)
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
