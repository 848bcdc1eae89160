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

from botocore import exceptions as boto_exc
from oslo_config import cfg

from glance_store._drivers import s3
from glance_store._drivers import s3_errors
from glance_store._drivers import s3_redact
from glance_store.cmd.s3_check import leftovers
from glance_store.cmd.s3_check import model
from glance_store import exceptions
from glance_store.i18n import _


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


def _scrubber(store):
    return s3_redact.Redactor(store.store_conf.s3_store_secret_key,
                              store.store_conf.s3_store_access_key)


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
    :returns: a ``model.StaleResult``
    """
    result = model.StaleResult(backend or 'glance_store', older_than)
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
