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

"""A child process that uploads one image through the S3 store.

Run as ``python -m glance_store.tests.functional.upload_child JOB`` where
JOB is a JSON object: ``server`` (an entry of servers.json, or one made
by ``netpath``), ``bucket``, ``key``, ``size``, ``known_size`` (pass the
size to ``add`` or 0), ``stall_after`` (bytes after which the image
source stops sending until the process is killed; null for none),
``overrides`` (store options, e.g. ``s3_store_read_timeout`` to bound the
client on a dead link) and ``download`` (read the image back).  The
store's log goes to stderr (DEBUG: it names the multipart upload when it
starts).

It prints one JSON line: the store's answer, md5 and sha512 of what was
sent and read back, the elapsed seconds, the request attempts botocore
made per operation (so retries show) and, on failure, the exception's
class and message, and the loggers of any log record (every logger at
DEBUG) that held one of the server's keys.  The functional tests kill it
mid-upload or let it run through a shaped network path.
"""

import hashlib
import json
import logging
import sys
import threading
import time

from glance_store.tests.functional import s3_store_helpers as helpers


class StallingReader(object):
    """Serves ``size`` bytes; stops for good after ``stall_after``."""

    def __init__(self, size, stall_after=None, seed=13):
        self.data = helpers.image(size, seed)
        self.pos = 0
        self.stall_after = stall_after

    def read(self, size=-1):
        if size is None or size < 0:
            size = len(self.data)
        end = min(self.pos + min(size, 256 * 1024), len(self.data))
        if self.stall_after is not None and end > self.stall_after:
            print(json.dumps({'stalled_at': self.pos}), flush=True)
            threading.Event().wait()
        chunk = self.data[self.pos:end]
        self.pos = end
        return chunk


def _count_attempts(client, counts):
    def before_send(request, event_name=None, **kwargs):
        op = event_name.rsplit('.', 1)[-1]
        counts.setdefault(op, [0, 0])[1] += 1

    def before_call(event_name=None, **kwargs):
        op = event_name.rsplit('.', 1)[-1]
        counts.setdefault(op, [0, 0])[0] += 1

    client.meta.events.register('before-send.s3', before_send)
    client.meta.events.register('before-call.s3', before_call)


def _to_stderr(record):
    # stderr gets the store's own records and warnings, not botocore's
    # DEBUG request logs the key search below turns on.
    return (record.levelno >= logging.WARNING or
            record.name.startswith('glance_store'))


def _search_logs_for_keys(server):
    scan = helpers.NoKeyInLogs({'server': server})
    scan.setUp()
    for handler in logging.getLogger().handlers:
        handler.setLevel(logging.NOTSET)
        handler.addFilter(_to_stderr)
    return scan


def run(job):
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr,
                        format='%(levelname)s %(name)s %(message)s')
    logging.getLogger('glance_store').setLevel(logging.DEBUG)
    # Every record, at DEBUG, searched for the server's keys (reported in
    # the result: a killed child reports nothing).
    scan = _search_logs_for_keys(job['server'])
    store = helpers.make_store(job['server'], job.get('scheme', 'http'),
                               job['bucket'], **job.get('overrides', {}))
    counts = {}
    _count_attempts(store._s3_client, counts)
    reader = StallingReader(job['size'], job.get('stall_after'))
    sent = hashlib.md5(reader.data).hexdigest(), hashlib.sha512(
        reader.data).hexdigest()
    out = {'sent_md5': sent[0], 'sent_sha512': sent[1]}
    t0 = time.monotonic()
    try:
        uri, size, md5, _, _ = store.add(
            job['key'], reader, job['size'] if job.get('known_size') else 0,
            'sha512')
        out.update(uri=uri, size=size, md5=md5,
                   upload_seconds=time.monotonic() - t0)
        if job.get('download'):
            t1 = time.monotonic()
            data, _ = helpers.read_all(store,
                                       helpers.get_location(store, uri))
            out.update(read_md5=hashlib.md5(data).hexdigest(),
                       read_sha512=hashlib.sha512(data).hexdigest(),
                       download_seconds=time.monotonic() - t1)
    except Exception as e:
        out.update(error_class=type(e).__name__, error=str(e),
                   failed_after=time.monotonic() - t0)
    out['attempts'] = counts
    out['keys_in_log'] = sorted(set(scan.found))
    print(json.dumps(out), flush=True)
    return 0


if __name__ == '__main__':
    sys.exit(run(json.loads(sys.argv[1])))
