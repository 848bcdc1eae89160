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

"""The ``--stale-uploads`` mode of glance-store-s3-check.

Finds the incomplete multipart uploads of images that interrupted
uploads left in each S3 backend's bucket, aborts them with ``--abort``,
reports the bucket's lifecycle rule and adds one with
``--apply-lifecycle DAYS``.  The work is done by ``leftovers``; this
module runs it per backend and returns data; ``report`` renders it.
"""

import dataclasses
import json

from botocore import exceptions as boto_exc
from oslo_config import cfg

from glance_store._drivers import s3
from glance_store._drivers import s3_errors
from glance_store.cmd.s3_check import leftovers
from glance_store import exceptions
from glance_store.i18n import _

EXIT_NONE = 0
EXIT_SOME = 1
EXIT_USAGE = 2
EXAMPLE_DAYS = 7

CLI_OPTS = [
    cfg.BoolOpt('stale-uploads', default=False,
                help=_("List the incomplete multipart uploads of images "
                       "(keys that are image ids) older than "
                       "--older-than in each S3 backend's bucket, and "
                       "report the bucket's lifecycle rule. Exit 0 when "
                       "there are none, 1 when there are some.")),
    cfg.StrOpt('older-than', metavar='AGE', default=None,
               help=_("With --stale-uploads: only uploads initiated more "
                      "than AGE ago (0, 90m, 24h, 7d; default %s).")
               % leftovers.DEFAULT_AGE),
    cfg.BoolOpt('abort', default=False,
                help=_("With --stale-uploads: abort the uploads found "
                       "and report what was freed.")),
    cfg.IntOpt('apply-lifecycle', metavar='DAYS', min=1,
               help=_("With --stale-uploads: add a lifecycle rule that "
                      "makes the backend abort incomplete multipart "
                      "uploads DAYS days after they started, keeping the "
                      "bucket's other rules.")),
]


def validate(conf):
    """Check the stale-uploads options of a parsed command line.

    :param conf: the parsed ``ConfigOpts`` (with ``CLI_OPTS``)
    :returns: the age to use, as text
    :raises ValueError: on a usage error, with a one-line message
    """
    if not conf.stale_uploads:
        used = [name for name, value in (
            ('--older-than', conf.older_than), ('--abort', conf.abort),
            ('--apply-lifecycle', conf.apply_lifecycle)) if value]
        if used:
            raise ValueError(_("%s is only used with --stale-uploads")
                             % ', '.join(used))
        return None
    if conf.embedded:
        raise ValueError(_("--stale-uploads checks configured backends; "
                           "it cannot be used with --embedded"))
    age = conf.older_than or leftovers.DEFAULT_AGE
    leftovers.parse_age(age)
    return age


@dataclasses.dataclass
class StaleResult(object):
    """What the stale-uploads mode found and did on one backend."""

    backend: str
    older_than: str
    bucket: str = None
    endpoint: str = None
    uploads: list = dataclasses.field(default_factory=list)
    outcomes: list = None
    lifecycle: leftovers.LifecycleStatus = None
    applied_days: int = None
    lifecycle_error: str = None
    error: str = None
    error_kind: str = None

    @property
    def remaining(self):
        """Leftovers still open after this run.

        :returns: the ``Leftover`` objects not aborted
        """
        if self.outcomes is None:
            return list(self.uploads)
        return [o.leftover for o in self.outcomes if not o.aborted]


def _scrubber(store):
    secrets = [v for v in (store.store_conf.s3_store_secret_key,
                           store.store_conf.s3_store_access_key) if v]

    def scrub(text):
        text = str(text)
        for secret in secrets:
            text = text.replace(secret, '***')
        return text
    return scrub


def _store(conf, backend):
    store = s3.Store(conf, backend=backend)
    store.configure(re_raise_bsc=True)
    return store


def _lifecycle(ref, result, apply_days):
    if apply_days is not None:
        try:
            leftovers.apply_abort_rule(ref.client, ref.bucket,
                                          apply_days)
            result.applied_days = apply_days
        except leftovers.LifecycleUnsupported as e:
            result.lifecycle_error = str(e)
    result.lifecycle = leftovers.lifecycle_status(ref.client,
                                                     ref.bucket)


def check_backend(conf, backend, older_than, abort=False, apply_days=None):
    """Run the stale-uploads mode on one S3 backend.

    :param conf: the ``ConfigOpts`` holding the Glance configuration
    :param backend: the backend name, or None for the single store
    :param older_than: the age as given (``24h``...), already validated
    :param abort: abort the leftovers found
    :param apply_days: add the lifecycle abort rule with this many days
    :returns: a ``StaleResult``
    """
    result = StaleResult(backend or 'glance_store', older_than)
    try:
        store = _store(conf, backend)
    except cfg.Error as e:
        result.error, result.error_kind = str(e), 'config'
        return result
    except exceptions.BadStoreConfiguration as e:
        result.error, result.error_kind = e.msg, 'config'
        return result
    scrub = _scrubber(store)
    ref = leftovers.bucket_of(store)
    result.bucket, result.endpoint = ref.bucket, ref.endpoint
    try:
        result.uploads = leftovers.find_leftovers(
            ref.client, ref.bucket, leftovers.parse_age(older_than))
        if abort:
            result.outcomes = leftovers.abort(ref.client, ref.bucket,
                                                 result.uploads)
        _lifecycle(ref, result, apply_days)
    except (boto_exc.ClientError, boto_exc.BotoCoreError) as e:
        error = s3_errors.to_store_error(e, ref.store_name,
                                         'listing uploads in', ref.bucket)
        result.error = scrub(getattr(error, 'msg', error))
        result.error_kind = 'backend'
    return result


def exit_code(results):
    """The command's exit code for these results.

    :param results: the ``StaleResult`` of every backend
    :returns: 2 on a configuration error, 1 when a backend failed, an
        upload is still open or the lifecycle rule could not be added,
        else 0
    """
    if any(r.error_kind == 'config' for r in results):
        return EXIT_USAGE
    if any(r.error or r.remaining or r.lifecycle_error for r in results):
        return EXIT_SOME
    return EXIT_NONE


def _totals(leftovers):
    return {'uploads': len(leftovers),
            'parts': sum(x.parts for x in leftovers),
            'bytes': sum(x.bytes for x in leftovers)}


def _lifecycle_dict(result):
    status = result.lifecycle
    if status is None:
        return None
    return {'supported': status.supported,
            'abort_rules': list(status.abort_rules),
            'whole_bucket_days': status.whole_bucket_days,
            'rule_to_add': leftovers.abort_rule(
                result.applied_days or EXAMPLE_DAYS),
            'applied_days': result.applied_days,
            'error': status.error or result.lifecycle_error}


def _outcomes_dict(result):
    if result.outcomes is None:
        return None
    freed = [o.leftover for o in result.outcomes if o.aborted]
    return {'freed': _totals(freed),
            'aborted': [x.as_dict() for x in freed],
            'failed': [dict(o.leftover.as_dict(), error=o.error)
                       for o in result.outcomes if not o.aborted]}


def as_dict(result):
    """A JSON-ready dict of one backend's result.

    :param result: a ``StaleResult``
    :returns: a dict
    """
    return {'backend': result.backend, 'endpoint': result.endpoint,
            'bucket': result.bucket, 'older_than': result.older_than,
            'uploads': [x.as_dict() for x in result.uploads],
            'totals': _totals(result.uploads),
            'abort': _outcomes_dict(result),
            'lifecycle': _lifecycle_dict(result),
            'remaining': len(result.remaining),
            'error': result.error}


def to_json(results):
    """The JSON document of ``--stale-uploads --format json``.

    :param results: the ``StaleResult`` of every backend
    :returns: the document, as text
    """
    return json.dumps({'mode': 'stale-uploads',
                       'exit_code': exit_code(results),
                       'backends': [as_dict(r) for r in results]},
                      indent=2, sort_keys=True)


def _size(count):
    return '%.1f MiB' % (count / (1024.0 * 1024.0))


def _upload_lines(result):
    totals = _totals(result.uploads)
    lines = ['  incomplete multipart uploads of images initiated more than '
             '%s ago: %d (%d parts, %s held)'
             % (result.older_than, totals['uploads'], totals['parts'],
                _size(totals['bytes']))]
    for x in result.uploads:
        lines.append('    %s  upload %s  initiated %s  %d parts  %d bytes'
                     % (x.key, x.upload_id, x.initiated.isoformat(),
                        x.parts, x.bytes))
    return lines


def _abort_lines(result):
    if result.outcomes is None:
        return ['  (--abort removes them)'] if result.uploads else []
    freed = _totals([o.leftover for o in result.outcomes if o.aborted])
    lines = ['  aborted: %d uploads, %d parts, %d bytes freed'
             % (freed['uploads'], freed['parts'], freed['bytes'])]
    for o in result.outcomes:
        if not o.aborted:
            lines.append('  could not abort %s (upload %s): %s'
                         % (o.leftover.key, o.leftover.upload_id, o.error))
    return lines


def _lifecycle_lines(result):
    status = result.lifecycle
    lines = []
    if result.lifecycle_error:
        lines.append('  lifecycle: --apply-lifecycle refused: %s'
                     % result.lifecycle_error)
    elif result.applied_days is not None:
        lines.append('  lifecycle: rule %s added (abort after %d days), '
                     'existing rules kept'
                     % (leftovers.LIFECYCLE_RULE_ID, result.applied_days))
    if status is None:
        return lines
    if not status.supported:
        lines.append('  lifecycle: %s' % status.error)
    elif status.whole_bucket_days is not None:
        lines.append('  lifecycle: the backend aborts incomplete multipart '
                     'uploads after %d days' % status.whole_bucket_days)
    else:
        lines.append('  lifecycle: no rule aborts incomplete multipart '
                     'uploads of the whole bucket; the rule to add '
                     '(--apply-lifecycle DAYS), here with %d days:'
                     % EXAMPLE_DAYS)
        lines.append('    ' + json.dumps(
            {'Rules': [leftovers.abort_rule(EXAMPLE_DAYS)]}))
    return lines


def render_text(result):
    """The text report of one backend.

    :param result: a ``StaleResult`` without error
    :returns: the report, as text ending in a newline
    """
    lines = ['Backend %s: endpoint %s, bucket %s'
             % (result.backend, result.endpoint, result.bucket)]
    lines += _upload_lines(result)
    lines += _abort_lines(result)
    lines += _lifecycle_lines(result)
    return '\n'.join(lines) + '\n'
