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

"""The checks of glance-store-s3-check against one S3 backend.

``check_backend(conf, backend)`` takes a parsed ``cfg.ConfigOpts`` and a
backend name (a key of ``enabled_backends``, or None for the single store
of ``[glance_store]``) and returns a ``model.BackendResult``:

1. the configuration: an S3 store is configured from the file exactly as
   Glance configures it (same values, same warnings, same errors);
2. the endpoint answers (an unsigned request, so TLS and the CA bundle
   are tested apart from the credentials);
3. the credentials work (ListObjectsV2 with MaxKeys=1);
4. the bucket exists, or is created by the store when
   s3_store_create_bucket_on_put allows it;
5. every checksum configuration (switch off, when_supported, always with
   each available algorithm, and the file's own settings when they are
   none of these): a store is configured from the file with only the
   checksum options replaced (the file's own settings: nothing replaced),
   and its add / get / delete are used for a small object of unknown size
   (one PutObject), a two-part multipart upload of known size, a read
   back of both and their deletion.  The multipart upload uses parts of
   S3's minimum size instead of the file's larger ones, which S3 treats
   alike, so that the check stays small.

The store is only used through its public surface (``settings``,
``client``, ``ensure_bucket``, ``add``, ``get``, ``delete``); its
messages come from ``s3_errors``.  Every object is written under
``model.KEY_PREFIX<run id>/``; whatever the run leaves there (objects and
open multipart uploads) is removed at the end, also after a failure or an
interruption.
"""

import contextlib
import dataclasses
import hashlib
import io
import logging
import os
import signal
import threading
import uuid

import botocore
from botocore import exceptions as boto_exc
from oslo_config import cfg
from oslo_utils import units

from glance_store._drivers import s3
from glance_store._drivers import s3_checksums
from glance_store._drivers import s3_client
from glance_store._drivers import s3_download
from glance_store._drivers import s3_errors
from glance_store.cmd.s3_check import model
from glance_store import exceptions
from glance_store.i18n import _
from glance_store import location

SMALL_SIZE = 64 * units.Ki
# The check's multipart upload: this many parts of the smallest size the
# store's limits allow (S3's minimum).
MULTIPART_PARTS = 2

# Request timeouts of the endpoint step, which runs before anything else.
ENDPOINT_CONNECT_TIMEOUT = 10
ENDPOINT_READ_TIMEOUT = 30

BOTO_ERRORS = (boto_exc.ClientError, boto_exc.BotoCoreError)
# The loggers whose warnings Glance would show for this backend.
STORE_LOGGER = 'glance_store'
DRIVER_LOGGER = 'glance_store._drivers'
# The words of every notice the store logs (at WARNING, or DEBUG once
# said) when it serves a download it could not check.
UNVALIDATED_NOTICE = 'without validation'
# How backends without ListMultipartUploads answer it.
NOT_IMPLEMENTED_CODES = ('NotImplemented', '501')


class DataMismatch(exceptions.GlanceStoreException):
    message = _("Data read back differs from the data written")


def _chain(error):
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        yield error
        error = error.__cause__ or error.__context__


def failure_code(error):
    """The S3 error code behind ``error`` (or the exception's name).

    The store turns botocore errors into glance_store exceptions; the
    botocore error is the cause or context of the one it raises.

    :param error: an exception.
    :returns: the S3 error code of the first ``ClientError`` in the chain,
        else the name of the first botocore error, else the name of
        ``error``'s class.
    """
    chain = list(_chain(error))
    for e in chain:
        if isinstance(e, boto_exc.ClientError):
            return s3_errors.error_code(e)
    for e in chain:
        if isinstance(e, boto_exc.BotoCoreError):
            return type(e).__name__
    return type(error).__name__


def error_text(error):
    """The message of ``error``: a glance_store one's ``msg`` first."""
    return getattr(error, 'msg', None) or str(error) or \
        type(error).__name__


@contextlib.contextmanager
def sigint_deferred():
    """Let a cleanup finish: a Ctrl-C during it is raised afterwards."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received = []

    def _record(signum, frame):
        received.append(signum)

    old = signal.signal(signal.SIGINT, _record)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old)
    if received:
        raise KeyboardInterrupt()


@contextlib.contextmanager
def _overridden(conf, group, values):
    for name, value in values.items():
        conf.set_override(name, value, group=group)
    try:
        yield
    finally:
        for name in values:
            conf.clear_override(name, group=group)


class _Collect(logging.Handler):
    def __init__(self):
        super().__init__(logging.WARNING)
        self.lines = []

    def emit(self, record):
        line = record.getMessage()
        if line not in self.lines:
            self.lines.append(line)


@contextlib.contextmanager
def captured_warnings():
    """The WARNING (and worse) lines the store logs meanwhile.

    :returns: (as the context's value) the list the lines are added to.
    """
    logger = logging.getLogger(STORE_LOGGER)
    handler = _Collect()
    level = logger.level
    if logger.getEffectiveLevel() > logging.WARNING:
        logger.setLevel(logging.WARNING)
    logger.addHandler(handler)
    try:
        yield handler.lines
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


class _Count(logging.Handler):
    def __init__(self, words):
        super().__init__(logging.DEBUG)
        self.words = words
        self.count = 0

    def emit(self, record):
        if self.words in record.getMessage():
            self.count += 1


@contextlib.contextmanager
def unvalidated_notices():
    """Counts the store's "served without validation" notices meanwhile.

    The driver's logger is lowered to DEBUG for the while (the store says
    it at DEBUG after the first WARNING of a backend).

    :returns: (as the context's value) a handler whose ``count`` grows.
    """
    logger = logging.getLogger(DRIVER_LOGGER)
    handler = _Count(UNVALIDATED_NOTICE)
    level = logger.level
    logger.setLevel(logging.DEBUG)
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def botocore_checks(stored_value):
    """Whether boto3 itself validates a download (when_supported).

    :param stored_value: the stored checksum HEAD returned, or None.
    :returns: True for a full-object checksum (a composite ``...-N`` one
        is skipped by botocore).
    """
    return bool(stored_value) and '-' not in stored_value


def upload_limits(store):
    """What the store's uploads use, in bytes (for the report).

    :param store: a configured S3 ``Store``.
    :returns: a dict with ``threshold``, ``part_size`` and
        ``parts_in_flight`` of the store's ``upload_limits``, and
        ``check_part_size``, the part size of the check's multipart
        upload (the smallest the limits allow).
    """
    limits = store.upload_limits
    return {'threshold': limits.threshold,
            'part_size': limits.part_size,
            'parts_in_flight': limits.max_in_flight,
            'check_part_size': limits.min_part_size}


def use_small_parts(store):
    """The store with multipart uploads in parts of the minimum size.

    Only the threshold and the part size change, to the smallest part
    the store's limits allow (S3's minimum), which S3 accepts as it
    accepts a larger one; everything else stays as configured, and
    ``store`` itself is left as it is.

    :param store: a configured S3 ``Store``.
    :returns: a ``Store`` derived from it (``Store.derive``).
    """
    limits = store.settings.limits
    return store.derive(limits=dataclasses.replace(
        limits, threshold=limits.min_part_size,
        part_size=limits.min_part_size))


class _Fatal(Exception):
    """Ends the check of a backend with a one-line reason."""

    def __init__(self, message, kind='backend'):
        super().__init__(message)
        self.message = message
        self.kind = kind


class Prober(object):
    """Runs the checks of one backend; see ``check_backend``."""

    def __init__(self, conf, backend=None, progress=None, run_id=None):
        self.conf = conf
        self.backend = backend
        self.group = backend or 'glance_store'
        self.progress = progress or (lambda message: None)
        self.run_prefix = '%s%s/' % (model.KEY_PREFIX,
                                     run_id or uuid.uuid4().hex[:12])
        self.result = model.BackendResult(
            backend=self.group, section=self.group,
            multi_store=backend is not None, run_prefix=self.run_prefix)
        self.base = None
        self.glance_store = None
        self.glance_error = None
        self.bucket_exists = True
        self.bucket_checked = False
        self.created_bucket = False
        self.scrub = model.Redactor()
        self._small = None
        self._large = None

    # helpers ------------------------------------------------------------
    def _say(self, message):
        self.progress('[%s] %s' % (self.group, message))

    def _step(self, name, ok, detail, code=None):
        step = model.Step(name, ok, self.scrub(detail), code)
        self.result.steps.append(step)
        return step

    def _fail(self, name, detail, code=None, kind='backend'):
        self._step(name, False, detail, code)
        raise _Fatal(self.scrub(detail), kind)

    def _fail_with(self, name, error, action):
        """Fail step ``name`` with the store's description of ``error``."""
        store_error = s3_errors.to_store_error(
            error, self.base.store_name, action, self.base.settings.bucket,
            endpoint=self.base.settings.endpoint_url)
        self._fail(name, error_text(store_error), failure_code(error))

    def make_store(self, configuration=None):
        """A configured S3 store of this backend, as Glance builds it.

        :param configuration: a ``model.Configuration`` whose checksum
            options replace the file's; None for the file as it is.
        :returns: the configured ``s3.Store``.
        :raises: ``BadStoreConfiguration`` (the store's write side cannot
            work) or ``cfg.Error`` (a value oslo.config refuses).
        """
        store = s3.Store(self.conf, backend=self.backend)
        values = configuration.overrides() if configuration else {}
        # The start-up listing ran once, when the file was read as Glance
        # reads it (``_as_glance``); the check's stores skip it.
        values['s3_store_check_stale_uploads'] = False
        with _overridden(self.conf, self.group, values):
            store.configure(re_raise_bsc=True)
        return store

    def _location(self, store, key):
        # From the parts, not from the URI add returned: the check's keys
        # hold '/', which an S3 URI cannot tell from the bucket's.
        specs = {'scheme': store.scheme, 's3serviceurl': store.s3_netloc,
                 'bucket': store.settings.bucket, 'key': key}
        return location.Location('s3', store.get_store_location_class(),
                                 self.conf, store_specs=specs,
                                 backend=self.backend)

    # the steps ------------------------------------------------------------
    def run(self):
        self._configuration()
        self._endpoint()
        self._credentials()
        self._bucket()
        current = self.result.current
        configs = model.standard_configurations()
        if not any(c.key() == current.key() for c in configs):
            configs.append(current)
        for configuration in configs:
            res = self._try_configuration(configuration)
            res.current = configuration.key() == current.key()
            self.result.configurations.append(res)
        self.result.not_tried = self._not_tried()

    def _as_glance(self):
        """The store configured from the file alone, as Glance does."""
        store = s3.Store(self.conf, backend=self.backend)
        sc = store.store_conf
        try:
            self.scrub = model.Redactor(sc.s3_store_secret_key,
                                        sc.s3_store_access_key)
            with captured_warnings() as warnings:
                try:
                    store.configure(re_raise_bsc=True)
                except exceptions.BadStoreConfiguration as e:
                    self.glance_error = e
            values = {name: getattr(sc, name)
                      for name in s3_checksums.OPTION_NAMES}
        except cfg.Error as e:
            raise _Fatal(self.scrub(_("configuration error: %s") % e),
                         'config')
        self.result.warnings = [self.scrub(w) for w in warnings]
        self.result.current = model.Configuration.from_values('current',
                                                              values)
        if self.glance_error is None:
            self.glance_store = store
            self.result.upload = upload_limits(store)

    def _configuration(self):
        self._say(_("reading the configuration"))
        self._as_glance()
        try:
            self.base = self.make_store(model.Configuration('off', False))
        except cfg.Error as e:
            raise _Fatal(self.scrub(_("configuration error: %s") % e),
                         'config')
        except exceptions.BadStoreConfiguration as e:
            raise _Fatal(self.scrub(e.msg), 'config')
        settings = self.base.settings
        self.result.endpoint = settings.endpoint_url
        self.result.bucket = settings.bucket
        if settings.transport is not None:
            self.result.network = settings.transport.describe()
        # Name the current configuration as the standard one it equals.
        for configuration in model.standard_configurations():
            if configuration.key() == self.result.current.key():
                self.result.current.label = configuration.label

    def _endpoint_client(self, settings):
        return s3_client.make_client(
            settings, signature_version=botocore.UNSIGNED,
            retries={'total_max_attempts': 1},
            connect_timeout=ENDPOINT_CONNECT_TIMEOUT,
            read_timeout=ENDPOINT_READ_TIMEOUT)

    def _endpoint(self):
        settings = self.base.settings
        self._say(_("connecting to %s") % settings.endpoint_url)
        client = self._endpoint_client(settings)
        status = 200
        try:
            client.head_bucket(Bucket=settings.bucket)
        except boto_exc.ClientError as e:
            status = s3_errors.http_status(e)
        except boto_exc.BotoCoreError as e:
            self._fail_with('endpoint', e, 'checking bucket')
        finally:
            client.close()
        if settings.use_https:
            tls = _("TLS verified with %s") % (
                settings.cacert or _("the system CAs"))
        else:
            tls = _("plain HTTP, no TLS")
        self._step('endpoint', True, _(
            "%(url)s answers (HTTP %(status)s; any answer to this unsigned "
            "request will do, a 403 or 404 is expected); %(tls)s") % {
                'url': settings.endpoint_url, 'status': status, 'tls': tls})

    def _credentials(self):
        settings = self.base.settings
        self._say(_("checking the credentials"))
        try:
            self.base.client.list_objects_v2(
                Bucket=settings.bucket, MaxKeys=1, Prefix=model.KEY_PREFIX)
        except boto_exc.ClientError as e:
            if not s3_errors.is_not_found(e):
                self._fail_with('credentials', e, 'listing bucket')
            self.bucket_exists = False
        except boto_exc.BotoCoreError as e:
            self._fail_with('credentials', e, 'listing bucket')
        self._step('credentials', True, _(
            "accepted (ListObjectsV2 on bucket %s)") % settings.bucket)

    def _bucket(self):
        settings = self.base.settings
        if self.bucket_exists:
            self.bucket_checked = True
            self._step('bucket', True, _("%s exists") % settings.bucket)
            return
        if not settings.create_bucket_on_put:
            self._fail('bucket', s3_errors.missing_bucket(
                self.base.store_name, settings.bucket).msg, 'NoSuchBucket')
        self._say(_("creating bucket %s") % settings.bucket)
        try:
            self.base.ensure_bucket()
        except exceptions.GlanceStoreException as e:
            self._fail('bucket', _("creating bucket %(bucket)s failed "
                                   "(%(code)s): %(error)s") % {
                'bucket': settings.bucket, 'code': failure_code(e),
                'error': error_text(e)}, failure_code(e))
        self.bucket_checked = True
        self.created_bucket = True
        self._step('bucket', True, _(
            "%s created (s3_store_create_bucket_on_put = True); removed "
            "after the check if empty") % settings.bucket)

    # the checksum configurations ------------------------------------------
    def _data(self, store):
        if self._small is None:
            self._small = os.urandom(SMALL_SIZE)
            self._large = os.urandom(
                MULTIPART_PARTS * store.upload_limits.min_part_size)
        return self._small, self._large

    def _row_store(self, configuration):
        """The store of one row, or the error of its set-up."""
        if configuration.key() == self.result.current.key():
            return self.glance_store, self.glance_error
        try:
            return self.make_store(configuration), None
        except (exceptions.GlanceStoreException, cfg.Error) as e:
            return None, e

    def _failed(self, res, op, error):
        res.results[op] = failure_code(error)
        res.messages[op] = self.scrub(error_text(error))

    def _try_configuration(self, configuration):
        res = model.ConfigResult(configuration)
        self._say(_("checksum configuration %s") % configuration.label)
        store, error = self._row_store(configuration)
        if error is not None:
            res.fail_all(failure_code(error), self.scrub(error_text(error)))
            return res
        store = use_small_parts(store)
        stored = self._uploads(store, configuration, res)
        values = {}
        for _uri, key, _data in stored:
            shape = self._shape(key)
            res.stored_checksums[shape], values[key] = \
                self._stored_checksum(store, key)
        if res.results['put'] == model.OK:
            res.stored_checksum = res.stored_checksums.get('small')

        def read_back(store, uri, key, data):
            validated = self._read_back(store, uri, key, data,
                                        values.get(key))
            res.validation[self._shape(key)] = (
                model.VALIDATED if validated else model.UNVALIDATED)

        for op, action in (('get', read_back), ('delete', self._delete)):
            self._run_on_stored(res, op, action, store, stored)
        return res

    @staticmethod
    def _shape(key):
        """The shape of ``model.SHAPES`` a key of the check holds."""
        for shape, op in model.SHAPES:
            if key.endswith('-' + op):
                return shape
        return None

    def _uploads(self, store, configuration, res):
        """The put and multipart operations; ``[(uri, key, data)]``."""
        small, large = self._data(store)
        prefix = '%s%s-' % (self.run_prefix, configuration.slug)
        stored = []
        for op, data, size in (('put', small, 0),
                               ('multipart', large, len(large))):
            self._say('%s: %s' % (configuration.label, op))
            key = prefix + op
            try:
                stored.append((self._add(store, key, data, size), key,
                               data))
            except Exception as e:
                self._failed(res, op, e)
                continue
            res.results[op] = model.OK
        return stored

    def _run_on_stored(self, res, op, action, store, stored):
        if not stored:
            res.results[op] = model.SKIPPED
            return
        self._say('%s: %s' % (res.configuration.label, op))
        try:
            for uri, key, data in stored:
                action(store, uri, key, data)
        except Exception as e:
            self._failed(res, op, e)
            return
        res.results[op] = model.OK

    @staticmethod
    def _add(store, key, data, size):
        uri, written, md5, _mh, _meta = store.add(
            key, io.BytesIO(data), size, 'sha256')
        if written != len(data) or md5 != hashlib.md5(data).hexdigest():
            raise DataMismatch(
                _("the store reported %d bytes or a wrong md5") % written)
        return uri

    def _read_back(self, store, uri, key, data, stored_value=None):
        """Read ``key`` back, compare; whether the store validated it.

        :returns: True when the download was checked against a checksum:
            under ``always`` response validation, unless the store said it
            served it without validation; under ``when_supported``, when
            the backend returns a full-object checksum (boto3 checks it).
        """
        policy = store.settings.policy
        with unvalidated_notices() as notices:
            iterator, size = store.get(self._location(store, key))
            digest = hashlib.sha256()
            got = 0
            for chunk in iterator:
                digest.update(chunk)
                got += len(chunk)
        if got != len(data) or digest.digest() != \
                hashlib.sha256(data).digest():
            raise DataMismatch(
                _("object %(key)s read back differs from what was "
                  "written (%(got)d of %(size)d bytes)") % {
                    'key': key, 'got': got, 'size': len(data)})
        if policy.validate_always:
            return notices.count == 0
        if policy.response == s3_checksums.WHEN_SUPPORTED:
            return botocore_checks(stored_value)
        return False

    def _delete(self, store, uri, key, data):
        store.delete(self._location(store, key))

    @staticmethod
    def _stored_checksum(store, key):
        """``(algorithm or 'none', value)`` HEAD shows; (None, None)."""
        try:
            head = store.client.head_object(
                Bucket=store.settings.bucket, Key=key,
                ChecksumMode='ENABLED')
        except BOTO_ERRORS:
            return None, None
        algorithm, value = s3_download.stored_checksum(head)
        return algorithm or 'none', value

    def _not_tried(self):
        """The standard configurations this machine cannot try, and why.

        The reason is the store's own: each is configured and refused.
        """
        missing = []
        for configuration in model.unavailable_configurations():
            try:
                self.make_store(configuration)
            except (exceptions.GlanceStoreException, cfg.Error) as e:
                missing.append(model.NotTried(
                    configuration.label, self.scrub(error_text(e))))
        return missing

    # cleanup --------------------------------------------------------------
    def _remove_objects(self, client, bucket):
        removed = 0
        pages = client.get_paginator('list_objects_v2').paginate(
            Bucket=bucket, Prefix=self.run_prefix)
        for page in pages:
            for obj in page.get('Contents') or []:
                client.delete_object(Bucket=bucket, Key=obj['Key'])
                removed += 1
        return removed

    def _abort_uploads(self, client, bucket):
        """Abort this run's open uploads; None without ListMultipartUploads.

        A backend that does not implement ListMultipartUploads (s3rver)
        has no multipart upload to list: nothing to abort, not a failure.
        """
        aborted = 0
        pages = client.get_paginator('list_multipart_uploads').paginate(
            Bucket=bucket, Prefix=self.run_prefix)
        try:
            pages = list(pages)
        except boto_exc.ClientError as e:
            if s3_errors.error_code(e) in NOT_IMPLEMENTED_CODES:
                return None
            raise
        for page in pages:
            for upload in page.get('Uploads') or []:
                client.abort_multipart_upload(
                    Bucket=bucket, Key=upload['Key'],
                    UploadId=upload['UploadId'])
                aborted += 1
        return aborted

    @staticmethod
    def _remove_bucket(client, bucket):
        try:
            client.delete_bucket(Bucket=bucket)
        except BOTO_ERRORS as e:
            return _("; bucket %(bucket)s kept (%(code)s)") % {
                'bucket': bucket, 'code': failure_code(e)}
        return _("; bucket %s removed") % bucket

    def cleanup(self):
        """Remove every object and open multipart upload of this run."""
        if self.base is None or not self.bucket_checked:
            return
        client = self.base.client
        bucket = self.base.settings.bucket
        errors = []
        counts = []
        for what, remove in ((_("removing objects"), self._remove_objects),
                             (_("aborting multipart uploads"),
                              self._abort_uploads)):
            try:
                counts.append(remove(client, bucket))
            except Exception as e:
                counts.append(0)
                errors.append('%s: %s' % (what, failure_code(e)))
        if counts[1] is None:
            detail = _("%(objects)d leftover objects removed under "
                       "%(prefix)s; aborting multipart uploads: not "
                       "supported by this backend; nothing to abort (it "
                       "has no ListMultipartUploads)") % {
                'objects': counts[0], 'prefix': self.run_prefix}
        else:
            detail = _("%(objects)d leftover objects removed, %(uploads)d "
                       "open multipart uploads aborted under "
                       "%(prefix)s") % {
                'objects': counts[0], 'uploads': counts[1],
                'prefix': self.run_prefix}
        if self.created_bucket:
            detail += self._remove_bucket(client, bucket)
        if errors:
            detail += '; ' + _("cleanup failed: %s") % ', '.join(errors)
        self.result.cleanup = model.Step('cleanup', not errors,
                                         self.scrub(detail))


def check_backend(conf, backend=None, progress=None, run_id=None):
    """Check one S3 backend.

    :param conf: a parsed ``cfg.ConfigOpts`` holding the Glance
        configuration.
    :param backend: a key of ``enabled_backends`` (multi-store), or None
        for the S3 store of ``[glance_store]``.
    :param progress: called with a short message before each step.
    :param run_id: the name of this run's key prefix (default: random).
    :returns: a ``model.BackendResult``; a backend or configuration
        problem is in its ``error``, never raised.
    :raises: KeyboardInterrupt, after the cleanup.
    """
    prober = Prober(conf, backend, progress, run_id)
    try:
        prober.run()
    except _Fatal as e:
        prober.result.error = e.message
        prober.result.error_kind = e.kind
    finally:
        with sigint_deferred():
            prober.cleanup()
    return prober.result
