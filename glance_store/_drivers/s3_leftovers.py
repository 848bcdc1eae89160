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

"""The store's start-up check for incomplete multipart uploads.

A process killed mid-upload cannot abort its multipart upload, which
keeps its parts' storage until someone aborts it.  When a backend is
configured (``s3_store_check_stale_uploads``, default on) the store
makes one bounded listing call and logs a WARNING naming the command
that cleans up.  Finding, aborting and the lifecycle rule are the check
tool's (``glance_store.cmd.s3_check.leftovers``).
"""

import datetime
import logging
import re

from glance_store._drivers import s3_client

LOG = logging.getLogger(__name__)

# An image id as Glance makes it (a UUID, any case, with dashes).
_IMAGE_KEY = re.compile(r'^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-'
                        r'[0-9a-f]{4}-[0-9a-f]{12}$', re.IGNORECASE)

CLEAN_COMMAND = ('glance-store-s3-check --config-file /etc/glance/'
                 'glance-api.conf%(backend)s --stale-uploads --abort')

# Uploads older than this are reported.  The one listing call gets one
# attempt with these timeouts, so a slow or unreachable backend holds
# start-up a few seconds at most.
STARTUP_STALE_AGE = datetime.timedelta(days=1)
STARTUP_TIMEOUT = 2.0
STARTUP_MAX_UPLOADS = 1000
STARTUP_CLIENT_CONFIG = {
    'connect_timeout': STARTUP_TIMEOUT, 'read_timeout': STARTUP_TIMEOUT,
    'retries': {'total_max_attempts': 1}, 'max_pool_connections': 1}


def is_image_key(key):
    """Whether ``key`` is an image id, the only keys the store writes.

    :param key: an object key
    :returns: True for a UUID (what Glance uses as image id)
    """
    return bool(_IMAGE_KEY.match(key or ''))


def aware(when):
    """``when`` as an aware datetime (naive ones are UTC).

    :param when: a ``datetime.datetime``
    :returns: the same instant, with a time zone
    """
    if when.tzinfo is None:
        return when.replace(tzinfo=datetime.timezone.utc)
    return when


def now():
    """The current time, aware, in UTC.

    :returns: a ``datetime.datetime``
    """
    return datetime.datetime.now(datetime.timezone.utc)


def image_uploads(pages, cutoff):
    """The uploads of images initiated at or before a cut-off.

    :param pages: ``ListMultipartUploads`` answers
    :param cutoff: an aware ``datetime.datetime``
    :returns: an iterator of the upload dicts whose key is an image id
    """
    for page in pages:
        for upload in page.get('Uploads') or ():
            if (is_image_key(upload.get('Key')) and
                    aware(upload['Initiated']) <= cutoff):
                yield upload


def clean_command(backend=None):
    """The command that aborts a backend's leftover uploads.

    :param backend: the backend name in multi-store mode, or None
    :returns: the command line, as text
    """
    return CLEAN_COMMAND % {
        'backend': ' --backend %s' % backend if backend else ''}


def check_stale(client, bucket, store_name, backend=None, when=None):
    """One listing call; log a WARNING when stale image uploads exist.

    :param client: a boto3 S3 client
    :param bucket: the store's bucket
    :param store_name: the backend name used in log messages
    :param backend: the multi-store backend name, or None
    :param when: the current time (aware datetime); default: now
    :returns: the number of stale image uploads seen (in the first
        ``STARTUP_MAX_UPLOADS`` uploads of the bucket), or None when the
        listing failed (logged at DEBUG: the check is advisory)
    """
    try:
        page = client.list_multipart_uploads(
            Bucket=bucket, MaxUploads=STARTUP_MAX_UPLOADS)
    except Exception as e:
        LOG.debug("S3 backend %(store)s: could not list the incomplete "
                  "uploads of bucket %(bucket)s: %(err)s",
                  {'store': store_name, 'bucket': bucket, 'err': e})
        return None
    cutoff = (when or now()) - STARTUP_STALE_AGE
    count = sum(1 for _ in image_uploads([page], cutoff))
    if count:
        LOG.warning(
            "S3 backend %(store)s: bucket %(bucket)s holds %(more)s%(n)d "
            "incomplete multipart upload(s) of images started more than a "
            "day ago, left by interrupted uploads; they keep their parts' "
            "storage until aborted. Remove them with '%(command)s', or let "
            "the backend do it with a lifecycle rule (--stale-uploads "
            "--apply-lifecycle DAYS).",
            {'store': store_name, 'bucket': bucket, 'n': count,
             'more': 'at least ' if page.get('IsTruncated') else '',
             'command': clean_command(backend)})
    return count


def warn_stale_uploads(settings, store_name, backend=None):
    """The store's start-up check for stale image uploads.

    Runs ``check_stale`` in the calling thread on a client of its own
    from ``s3_client.make_client`` with ``STARTUP_CLIENT_CONFIG`` (one
    attempt, short timeouts, one connection), closed at once, so the
    store's pool keeps no connection of it and start-up waits a few
    seconds at most.

    :param settings: the backend's ``s3_settings.S3Settings``
    :param store_name: the backend name used in log messages
    :param backend: the multi-store backend name, or None
    :returns: what ``check_stale`` returns
    """
    try:
        client = s3_client.make_client(settings, **STARTUP_CLIENT_CONFIG)
    except Exception as e:
        LOG.debug("S3 backend %(store)s: no client for the start-up "
                  "listing: %(err)s", {'store': store_name, 'err': e})
        return None
    try:
        return check_stale(client, settings.bucket, store_name, backend)
    finally:
        client.close()
