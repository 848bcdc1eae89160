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

"""Incomplete multipart uploads the store left behind, and their cure.

The store aborts its multipart upload on every failure it sees, but a
process killed mid-upload (OOM killer, reboot, ``kill -9``) cannot: the
upload stays open on the backend and keeps its parts' bytes until it is
aborted.  This module finds such leftovers (only uploads whose key is an
image id, which is what the store writes: a bucket may be shared), aborts
them, and manages the bucket lifecycle rule
(``AbortIncompleteMultipartUpload``) that makes the backend abort them by
itself.  It works through the store's public seam (``Store.client``,
``Store.settings``); the store's own start-up warning is
``glance_store._drivers.s3_leftovers``.
"""

import base64
import dataclasses
import datetime
import hashlib
import logging
import re

from botocore import exceptions as boto_exc

from glance_store._drivers import s3_errors
from glance_store._drivers import s3_leftovers

LOG = logging.getLogger(__name__)

_AGE = re.compile(r'^\s*(\d+)\s*([smhdw]?)\s*$', re.IGNORECASE)
_AGE_UNITS = {'s': 'seconds', 'm': 'minutes', 'h': 'hours', 'd': 'days',
              'w': 'weeks'}

DEFAULT_AGE = '24h'
LIFECYCLE_RULE_ID = 'glance-store-abort-incomplete-multipart-uploads'
is_image_key = s3_leftovers.is_image_key

# Error codes of a backend that has no lifecycle configuration support.
_LIFECYCLE_UNSUPPORTED = frozenset(('NotImplemented', 'MethodNotAllowed',
                                    '501', '405'))
_NO_LIFECYCLE = frozenset(('NoSuchLifecycleConfiguration',))
_GONE = frozenset(('NoSuchUpload', 'NoSuchKey', '404'))


class LifecycleUnsupported(Exception):
    """The backend does not support bucket lifecycle configuration."""


@dataclasses.dataclass(frozen=True)
class Leftover(object):
    """One incomplete multipart upload of an image."""

    key: str
    upload_id: str
    initiated: datetime.datetime
    parts: int = 0
    bytes: int = 0

    def as_dict(self):
        """A JSON-ready dict of this upload.

        :returns: dict with key, upload_id, initiated (ISO 8601), parts
            and bytes
        """
        return {'key': self.key, 'upload_id': self.upload_id,
                'initiated': self.initiated.isoformat(),
                'parts': self.parts, 'bytes': self.bytes}


@dataclasses.dataclass(frozen=True)
class AbortOutcome(object):
    """What aborting one leftover did."""

    leftover: Leftover
    aborted: bool
    error: str = None


@dataclasses.dataclass(frozen=True)
class LifecycleStatus(object):
    """The abort-incomplete-uploads rules of a bucket's lifecycle."""

    supported: bool
    rules: tuple = ()
    abort_rules: tuple = ()
    error: str = None

    @property
    def whole_bucket_days(self):
        """Days after which the whole bucket's uploads are aborted.

        :returns: the smallest DaysAfterInitiation of an enabled rule
            that covers every key, or None when no rule does
        """
        days = [r['AbortIncompleteMultipartUpload']['DaysAfterInitiation']
                for r in self.abort_rules if _covers_bucket(r)]
        return min(days) if days else None


def parse_age(text):
    """The age given as ``0``, ``90m``, ``24h``, ``7d`` or ``2w``.

    :param text: a number followed by s, m, h, d or w (a bare number is
        only accepted for 0)
    :returns: a ``datetime.timedelta``
    :raises ValueError: when ``text`` is not such an age
    """
    match = _AGE.match(text or '')
    if not match or (not match.group(2) and int(match.group(1))):
        raise ValueError("invalid age %r: use a number with a unit, such "
                         "as 0, 90m, 24h or 7d" % (text,))
    unit = _AGE_UNITS[(match.group(2) or 's').lower()]
    return datetime.timedelta(**{unit: int(match.group(1))})


def held_by(client, bucket, key, upload_id):
    """Parts and bytes an incomplete multipart upload holds.

    :param client: a boto3 S3 client
    :param bucket: the bucket name
    :param key: the upload's key
    :param upload_id: the upload's id
    :returns: ``(parts, bytes)``
    :raises botocore.exceptions.ClientError: when the backend refuses
    """
    parts = size = 0
    paginator = client.get_paginator('list_parts')
    for page in paginator.paginate(Bucket=bucket, Key=key,
                                   UploadId=upload_id):
        for part in page.get('Parts') or ():
            parts += 1
            size += part.get('Size', 0)
    return parts, size


def find_leftovers(client, bucket, older_than, now=None):
    """Incomplete multipart uploads of images started before a cut-off.

    Only uploads whose key is an image id are returned; uploads of any
    other key are never looked at further.

    :param client: a boto3 S3 client
    :param bucket: the bucket name
    :param older_than: a ``datetime.timedelta``: uploads initiated more
        than this long ago are returned
    :param now: the current time (aware datetime); default: now
    :returns: a list of ``Leftover``, oldest first
    :raises botocore.exceptions.ClientError: when listing is refused
    :raises botocore.exceptions.BotoCoreError: when the backend cannot
        be reached
    """
    cutoff = (now or s3_leftovers.now()) - older_than
    paginator = client.get_paginator('list_multipart_uploads')
    found = []
    for upload in s3_leftovers.image_uploads(
            paginator.paginate(Bucket=bucket), cutoff):
        try:
            parts, size = held_by(client, bucket, upload['Key'],
                                  upload['UploadId'])
        except boto_exc.ClientError as e:
            if s3_errors.error_code(e) not in _GONE:
                raise
            continue  # finished or aborted since it was listed
        found.append(Leftover(upload['Key'], upload['UploadId'],
                              s3_leftovers.aware(upload['Initiated']),
                              parts, size))
    found.sort(key=lambda leftover: leftover.initiated)
    return found


def _reason(error):
    code = (s3_errors.error_code(error)
            if isinstance(error, boto_exc.ClientError) else None)
    text = str(error)
    return '%s: %s' % (code, text) if code and code not in text else text


def abort(client, bucket, leftovers):
    """Abort incomplete multipart uploads.

    An upload that is already gone (``NoSuchUpload``) counts as aborted.

    :param client: a boto3 S3 client
    :param bucket: the bucket name
    :param leftovers: the ``Leftover`` objects to abort
    :returns: a list of ``AbortOutcome``, one per leftover, saying
        whether it was aborted or why not
    """
    outcomes = []
    for leftover in leftovers:
        try:
            client.abort_multipart_upload(Bucket=bucket, Key=leftover.key,
                                          UploadId=leftover.upload_id)
        except boto_exc.ClientError as e:
            if s3_errors.error_code(e) in _GONE:
                outcomes.append(AbortOutcome(leftover, True))
            else:
                outcomes.append(AbortOutcome(leftover, False, _reason(e)))
            continue
        except boto_exc.BotoCoreError as e:
            outcomes.append(AbortOutcome(leftover, False, _reason(e)))
            continue
        LOG.info("Aborted leftover multipart upload %(id)s of "
                 "%(bucket)s/%(key)s (%(parts)d parts, %(bytes)d bytes)",
                 {'id': leftover.upload_id, 'bucket': bucket,
                  'key': leftover.key, 'parts': leftover.parts,
                  'bytes': leftover.bytes})
        outcomes.append(AbortOutcome(leftover, True))
    return outcomes


# --- lifecycle -------------------------------------------------------------

def _covers_bucket(rule):
    flt = rule.get('Filter')
    if flt is None:
        return not rule.get('Prefix')
    return set(flt) <= {'Prefix'} and not flt.get('Prefix')


def _unsupported(error, bucket):
    return LifecycleUnsupported(
        "the backend does not support bucket lifecycle configuration "
        "(%s on bucket %s): abort leftover uploads with --stale-uploads "
        "--abort instead, for example from cron" % (_reason(error), bucket))


def _lifecycle_rules(client, bucket):
    try:
        resp = client.get_bucket_lifecycle_configuration(Bucket=bucket)
    except boto_exc.ClientError as e:
        code = s3_errors.error_code(e)
        if code in _NO_LIFECYCLE:
            return []
        if code in _LIFECYCLE_UNSUPPORTED:
            raise _unsupported(e, bucket)
        raise
    return list(resp.get('Rules') or ())


def lifecycle_status(client, bucket):
    """Whether the bucket's lifecycle aborts incomplete uploads.

    :param client: a boto3 S3 client
    :param bucket: the bucket name
    :returns: a ``LifecycleStatus``; ``supported`` is False (with the
        reason in ``error``) when the backend has no lifecycle support
    :raises botocore.exceptions.ClientError: on any other refusal
    """
    try:
        rules = _lifecycle_rules(client, bucket)
    except LifecycleUnsupported as e:
        return LifecycleStatus(False, error=str(e))
    aborting = tuple(r for r in rules
                     if r.get('Status') == 'Enabled' and
                     'AbortIncompleteMultipartUpload' in r)
    return LifecycleStatus(True, tuple(rules), aborting)


def abort_rule(days):
    """The lifecycle rule that aborts the bucket's incomplete uploads.

    :param days: days after initiation (at least 1)
    :returns: the rule, as ``PutBucketLifecycleConfiguration`` takes it
    :raises ValueError: when ``days`` is below 1
    """
    if int(days) < 1:
        raise ValueError("the lifecycle rule needs at least 1 day, got %s"
                         % days)
    return {'ID': LIFECYCLE_RULE_ID, 'Status': 'Enabled',
            'Filter': {'Prefix': ''},
            'AbortIncompleteMultipartUpload': {
                'DaysAfterInitiation': int(days)}}


def _add_content_md5(request, **kwargs):
    # S3's API long required Content-MD5 on this call and servers built
    # to that API may still; boto3 >= 1.36 sends a CRC32 instead.  Both
    # cost nothing on a body this small (Ceph RGW 16.2 accepts either).
    body = request.body or b''
    if isinstance(body, str):
        body = body.encode('utf-8')
    if 'Content-MD5' not in request.headers:
        request.headers['Content-MD5'] = base64.b64encode(
            hashlib.md5(body, usedforsecurity=False).digest()).decode()


def apply_abort_rule(client, bucket, days):
    """Add the abort rule to the bucket's lifecycle, keeping the others.

    Reads the lifecycle, replaces a previous rule of ours (same ID) or
    appends ours, and writes the whole configuration back.

    :param client: a boto3 S3 client
    :param bucket: the bucket name
    :param days: days after initiation (at least 1)
    :returns: the rules written
    :raises LifecycleUnsupported: when the backend has no lifecycle
        configuration support
    :raises ValueError: when ``days`` is below 1
    :raises botocore.exceptions.ClientError: on any other refusal
    """
    rule = abort_rule(days)
    rules = [r for r in _lifecycle_rules(client, bucket)
             if r.get('ID') != LIFECYCLE_RULE_ID] + [rule]
    event = 'before-sign.s3.PutBucketLifecycleConfiguration'
    client.meta.events.register(event, _add_content_md5)
    try:
        client.put_bucket_lifecycle_configuration(
            Bucket=bucket, LifecycleConfiguration={'Rules': rules})
    except boto_exc.ClientError as e:
        if s3_errors.error_code(e) in _LIFECYCLE_UNSUPPORTED:
            raise _unsupported(e, bucket)
        raise
    finally:
        client.meta.events.unregister(event, _add_content_md5)
    return rules


@dataclasses.dataclass(frozen=True)
class BucketRef(object):
    """What the tools need to reach a store's bucket."""

    client: object
    bucket: str
    endpoint: str
    store_name: str


def bucket_of(store):
    """The client, bucket and endpoint of a configured S3 store.

    :param store: a configured S3 ``Store``
    :returns: a ``BucketRef``
    """
    settings = store.settings
    return BucketRef(store.client, settings.bucket, settings.endpoint_url,
                     store.store_name)
