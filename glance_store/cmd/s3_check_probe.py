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
of ``[glance_store]``) and returns a ``BackendResult``:

1. the configuration: the store's required options are set;
2. the endpoint answers (an unsigned request, so TLS and the CA bundle
   are tested apart from the credentials);
3. the credentials work (ListObjectsV2 with MaxKeys=1);
4. the bucket exists, or is created when s3_store_create_bucket_on_put
   allows it;
5. every checksum configuration (switch off, when_supported, always with
   each available algorithm, and the backend's own settings when they are
   none of these): a store is built from the backend's options with the
   checksum options overridden, and its add / get / delete are used for a
   small object of unknown size (one PutObject), a two-part multipart
   upload of known size, a read back of both and their deletion.

Every object is written under ``KEY_PREFIX/<run id>/``; whatever the run
leaves there (objects and open multipart uploads) is removed at the end,
also after a failure or an interruption.
"""

import contextlib
import dataclasses
import hashlib
import io
import os
import signal
import threading
import uuid

import boto3
import botocore
from botocore import config as boto_config
from botocore import exceptions as boto_exc
from oslo_config import cfg
from oslo_utils import units

from glance_store._drivers import s3
from glance_store._drivers import s3_checksums
from glance_store._drivers import s3_errors
from glance_store import exceptions
from glance_store.i18n import _
from glance_store import location

KEY_PREFIX = 'glance-store-s3-check/'
SMALL_SIZE = 64 * units.Ki
PART_SIZE = 5 * units.Mi
# Two parts of exactly PART_SIZE each.
MULTIPART_SIZE = 2 * PART_SIZE
# Options (in MB) that make the store use multipart for MULTIPART_SIZE.
LARGE_OBJECT_SIZE_MB = 1
CHUNK_SIZE_MB = PART_SIZE // units.Mi

OK = 'ok'
SKIPPED = 'skipped'
OPERATIONS = ('put', 'multipart', 'get', 'delete')

ENABLE = 's3_store_enable_data_integrity_protection'
REQUEST = 's3_store_request_checksum_calculation'
RESPONSE = 's3_store_response_checksum_validation'
ALGORITHM = 's3_store_checksum_algorithm'

# Request timeouts of the endpoint step, which runs before anything else.
ENDPOINT_CONNECT_TIMEOUT = 10
ENDPOINT_READ_TIMEOUT = 30


def _normal_mode(mode):
    mode = (mode or s3_checksums.WHEN_REQUIRED).lower()
    # The store treats never exactly as when_required.
    return s3_checksums.WHEN_REQUIRED if mode == s3_checksums.NEVER \
        else mode


@dataclasses.dataclass
class Configuration(object):
    """One setting of the four checksum options."""

    label: str
    enabled: bool
    request: str = s3_checksums.WHEN_REQUIRED
    response: str = s3_checksums.WHEN_REQUIRED
    algorithm: str = s3_checksums.DEFAULT_ALGORITHM

    def overrides(self):
        """All four options, as set on the store for the test."""
        return {ENABLE: self.enabled, REQUEST: self.request,
                RESPONSE: self.response, ALGORITHM: self.algorithm}

    def options(self):
        """The options an operator sets for this configuration."""
        if not self.enabled:
            return {ENABLE: False}
        opts = {ENABLE: True, REQUEST: self.request,
                RESPONSE: self.response}
        if s3_checksums.ALWAYS in (self.request, self.response):
            opts[ALGORITHM] = self.algorithm
        return opts

    def key(self):
        """What the store does with it: equal keys, equal behaviour."""
        if not self.enabled:
            return ('off',)
        request = _normal_mode(self.request)
        response = _normal_mode(self.response)
        algorithm = None
        if s3_checksums.ALWAYS in (request, response):
            algorithm = self.algorithm.upper()
        return ('on', request, response, algorithm)

    @property
    def slug(self):
        return ''.join(c if c.isalnum() else '-'
                       for c in self.label.lower()).strip('-')


def available_algorithms():
    """The algorithms ``always`` can use here (CRT ones need awscrt)."""
    return [a for a in s3_checksums.ALGORITHMS
            if a not in s3_checksums.CRT_ALGORITHMS or
            s3_checksums.crt_available()]


def standard_configurations():
    """Switch off, when_supported, then always with each algorithm."""
    configs = [
        Configuration('off', False),
        Configuration('when_supported', True, s3_checksums.WHEN_SUPPORTED,
                      s3_checksums.WHEN_SUPPORTED),
    ]
    for algorithm in available_algorithms():
        configs.append(Configuration('always/%s' % algorithm, True,
                                     s3_checksums.ALWAYS,
                                     s3_checksums.ALWAYS, algorithm))
    return configs


@dataclasses.dataclass
class Step(object):
    """One connectivity step: endpoint, credentials, bucket, cleanup."""

    name: str
    ok: bool
    detail: str
    code: str = None


@dataclasses.dataclass
class ConfigResult(object):
    """The operations of one checksum configuration.

    ``results`` maps each of ``OPERATIONS`` to ``'ok'``, ``'skipped'``
    (nothing to do after an earlier failure) or the S3 error code (or
    the exception name when there is none); ``messages`` holds the
    store's message of each failure.
    """

    configuration: Configuration
    results: dict = dataclasses.field(default_factory=dict)
    messages: dict = dataclasses.field(default_factory=dict)
    # Algorithm of the checksum the backend stored and returns for the
    # small object ('none' when it returns none), None when not known.
    stored_checksum: str = None
    current: bool = False

    @property
    def works(self):
        return all(self.results.get(op) == OK for op in OPERATIONS)


@dataclasses.dataclass
class BackendResult(object):
    """Everything the check found out about one backend."""

    backend: str
    section: str
    multi_store: bool = False
    endpoint: str = None
    bucket: str = None
    steps: list = dataclasses.field(default_factory=list)
    configurations: list = dataclasses.field(default_factory=list)
    current: Configuration = None
    # A one-line reason when the check could not go through the
    # configurations; error_kind is 'config' (exit 2) or 'backend'.
    error: str = None
    error_kind: str = None
    cleanup: Step = None
    run_prefix: str = None

    @property
    def reachable(self):
        return self.error is None and all(s.ok for s in self.steps)

    @property
    def current_result(self):
        for c in self.configurations:
            if c.current:
                return c
        return None

    @property
    def current_works(self):
        current = self.current_result
        return bool(self.reachable and current is not None and
                    current.works)


def failure_code(error):
    """The S3 error code behind ``error`` (or the exception's name).

    The store turns botocore errors into glance_store exceptions; the
    botocore error is the cause or context of the one it raises.
    """
    seen = set()
    e = error
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        if isinstance(e, boto_exc.ClientError):
            return s3_errors.error_code(e)
        e = e.__cause__ or e.__context__
    e = error
    seen = set()
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        if isinstance(e, boto_exc.BotoCoreError):
            return type(e).__name__
        e = e.__cause__ or e.__context__
    return type(error).__name__


def _message(error):
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
        self.run_prefix = '%s%s/' % (KEY_PREFIX,
                                     run_id or uuid.uuid4().hex[:12])
        self.result = BackendResult(backend=self.group, section=self.group,
                                    multi_store=backend is not None,
                                    run_prefix=self.run_prefix)
        self.base = None
        self.bucket_checked = False
        self.created_bucket = False
        self.secrets = []
        self._small = None
        self._large = None

    # helpers ------------------------------------------------------------
    def _say(self, message):
        self.progress('[%s] %s' % (self.group, message))

    def scrub(self, text):
        """``text`` with any configured credential replaced by ***."""
        if text is None:
            return None
        text = str(text)
        for secret in self.secrets:
            if secret:
                text = text.replace(secret, '***')
        return text

    def _step(self, name, ok, detail, code=None):
        step = Step(name, ok, self.scrub(detail), code)
        self.result.steps.append(step)
        return step

    def _fail(self, name, detail, code=None, kind='backend'):
        self._step(name, False, detail, code)
        raise _Fatal(self.scrub(detail), kind)

    def make_store(self, configuration=None, small_parts=True):
        """A configured S3 store of this backend.

        With ``configuration`` its checksum options replace the
        backend's; with ``small_parts`` too the multipart thresholds are
        the smallest S3 allows, so that the check's objects use them.
        """
        store = s3.Store(self.conf, backend=self.backend)
        values = {}
        if configuration is not None:
            values.update(configuration.overrides())
        if small_parts:
            values['s3_store_large_object_size'] = LARGE_OBJECT_SIZE_MB
            values['s3_store_large_object_chunk_size'] = CHUNK_SIZE_MB
        with _overridden(self.conf, self.group, values):
            store.configure(re_raise_bsc=True)
        return store

    def _location(self, store, key):
        specs = {'scheme': store.scheme, 's3serviceurl': store.s3_netloc,
                 'bucket': store.bucket, 'key': key}
        return location.Location('s3', s3.StoreLocation, self.conf,
                                 store_specs=specs, backend=self.backend)

    # the steps ------------------------------------------------------------
    def run(self):
        self._configuration()
        self._endpoint()
        self._credentials()
        self._bucket()
        configs = standard_configurations()
        current = self.result.current
        matched = False
        for configuration in configs:
            if configuration.key() == current.key():
                matched = True
                break
        if not matched:
            configs.append(current)
        for configuration in configs:
            res = self._try_configuration(configuration)
            res.current = configuration.key() == current.key()
            self.result.configurations.append(res)

    def _configuration(self):
        self._say(_("reading the configuration"))
        try:
            store = s3.Store(self.conf, backend=self.backend)
            sc = store.store_conf
            self.secrets = [v for v in (sc.s3_store_secret_key,
                                        sc.s3_store_access_key) if v]
            self.result.current = Configuration(
                'current', bool(sc.s3_store_enable_data_integrity_protection),
                sc.s3_store_request_checksum_calculation,
                sc.s3_store_response_checksum_validation,
                sc.s3_store_checksum_algorithm)
            self.base = self.make_store(Configuration('off', False))
        except cfg.Error as e:
            raise _Fatal(self.scrub(_("configuration error: %s") % e),
                         'config')
        except exceptions.BadStoreConfiguration as e:
            raise _Fatal(self.scrub(e.msg), 'config')
        self.result.endpoint = self.base.endpoint_url
        self.result.bucket = self.base.bucket
        # Name the current configuration as the standard one it equals.
        for configuration in standard_configurations():
            if configuration.key() == self.result.current.key():
                self.result.current.label = configuration.label

    def _endpoint(self):
        st = self.base
        self._say(_("connecting to %s") % st.endpoint_url)
        config = boto_config.Config(
            signature_version=botocore.UNSIGNED,
            retries={'total_max_attempts': 1},
            connect_timeout=ENDPOINT_CONNECT_TIMEOUT,
            read_timeout=ENDPOINT_READ_TIMEOUT,
            s3={'addressing_style': st.bucket_url_format})
        client = boto3.session.Session().client(
            's3', endpoint_url=st.endpoint_url, region_name=st.region_name,
            use_ssl=st.use_https, verify=st.cacert or True, config=config)
        status = 200
        try:
            client.head_bucket(Bucket=st.bucket)
        except boto_exc.ClientError as e:
            status = s3_errors.http_status(e)
        except boto_exc.SSLError as e:
            self._fail('endpoint', _(
                "TLS with %(url)s failed: %(error)s. Check s3_store_cacert "
                "(%(ca)s) and s3_store_host.") % {
                    'url': st.endpoint_url, 'error': e,
                    'ca': st.cacert or _('system CAs')}, 'SSLError')
        except (boto_exc.EndpointConnectionError,
                boto_exc.ConnectTimeoutError) as e:
            self._fail('endpoint', _(
                "endpoint %(url)s does not answer (%(error)s). Check "
                "s3_store_host and the network.") % {
                    'url': st.endpoint_url, 'error': e},
                type(e).__name__)
        except boto_exc.BotoCoreError as e:
            self._fail('endpoint', _("endpoint %(url)s failed: %(error)s") %
                       {'url': st.endpoint_url, 'error': e},
                       type(e).__name__)
        finally:
            client.close()
        if st.use_https:
            tls = _("TLS verified with %s") % (
                st.cacert or _("the system CAs"))
        else:
            tls = _("plain HTTP, no TLS")
        self._step('endpoint', True, _(
            "%(url)s answers (HTTP %(status)s); %(tls)s") % {
                'url': st.endpoint_url, 'status': status, 'tls': tls})

    def _credentials(self):
        st = self.base
        self._say(_("checking the credentials"))
        self.bucket_exists = True
        try:
            st._s3_client.list_objects_v2(Bucket=st.bucket, MaxKeys=1,
                                          Prefix=KEY_PREFIX)
        except boto_exc.ClientError as e:
            code = s3_errors.error_code(e)
            if code == 'NoSuchBucket':
                self.bucket_exists = False
            elif code in s3_errors.CREDENTIAL_CODES:
                self._fail('credentials', _(
                    "the backend refused the credentials (%s): check "
                    "s3_store_access_key and s3_store_secret_key.") % code,
                    code)
            elif code in s3_errors.DENIED_CODES:
                self._fail('credentials', _(
                    "access to bucket %(bucket)s denied (%(code)s): check "
                    "the permissions of s3_store_access_key and the bucket "
                    "policy.") % {'bucket': st.bucket, 'code': code}, code)
            else:
                self._fail('credentials', _(
                    "listing bucket %(bucket)s failed: %(code)s (HTTP "
                    "%(status)s)") % {'bucket': st.bucket, 'code': code,
                                      'status': s3_errors.http_status(e)},
                    code)
        except boto_exc.BotoCoreError as e:
            self._fail('credentials', _("listing bucket %(bucket)s "
                                        "failed: %(error)s") % {
                'bucket': st.bucket, 'error': e}, type(e).__name__)
        self._step('credentials', True, _(
            "accepted (ListObjectsV2 on bucket %s)") % st.bucket)

    def _bucket(self):
        st = self.base
        if self.bucket_exists:
            self.bucket_checked = True
            self._step('bucket', True, _("%s exists") % st.bucket)
            return
        if not st.create_bucket_on_put:
            self._fail('bucket', _(
                "bucket %s does not exist; create it, or set "
                "s3_store_create_bucket_on_put = True to let the store "
                "create it.") % st.bucket, 'NoSuchBucket')
        self._say(_("creating bucket %s") % st.bucket)
        try:
            st.ensure_bucket(st._s3_client)
        except exceptions.GlanceStoreException as e:
            self._fail('bucket', _("creating bucket %(bucket)s failed "
                                   "(%(code)s): %(error)s") % {
                'bucket': st.bucket, 'code': failure_code(e),
                'error': _message(e)}, failure_code(e))
        self.bucket_checked = True
        self.created_bucket = True
        self._step('bucket', True, _(
            "%s created (s3_store_create_bucket_on_put = True); removed "
            "after the check if empty") % st.bucket)

    # the checksum configurations ------------------------------------------
    def _data(self):
        if self._small is None:
            self._small = os.urandom(SMALL_SIZE)
            self._large = os.urandom(MULTIPART_SIZE)
        return self._small, self._large

    def _try_configuration(self, configuration):
        res = ConfigResult(configuration)
        self._say(_("checksum configuration %s") % configuration.label)
        try:
            store = self.make_store(configuration)
        except (exceptions.GlanceStoreException, cfg.Error) as e:
            for op in OPERATIONS:
                res.results[op] = failure_code(e)
                res.messages[op] = self.scrub(_message(e))
            return res
        small, large = self._data()
        stored = []
        prefix = '%s%s-' % (self.run_prefix, configuration.slug)
        for op, key, data, size in (
                ('put', prefix + 'put', small, 0),
                ('multipart', prefix + 'multipart', large, len(large))):
            self._say('%s: %s' % (configuration.label, op))
            try:
                _uri, written, md5, _mh, _meta = store.add(
                    key, io.BytesIO(data), size, 'sha256')
                if written != len(data) or \
                        md5 != hashlib.md5(data).hexdigest():
                    raise exceptions.BackendException(
                        _("the store reported %d bytes or a wrong md5")
                        % written)
            except Exception as e:
                res.results[op] = failure_code(e)
                res.messages[op] = self.scrub(_message(e))
                continue
            res.results[op] = OK
            stored.append((key, data))
        if stored and stored[0][0].endswith('-put'):
            res.stored_checksum = self._stored_checksum(store, stored[0][0])
        for op, action in (('get', self._read_back),
                           ('delete', self._delete)):
            if not stored:
                res.results[op] = SKIPPED
                continue
            self._say('%s: %s' % (configuration.label, op))
            try:
                for key, data in stored:
                    action(store, key, data)
                res.results[op] = OK
            except Exception as e:
                res.results[op] = failure_code(e)
                res.messages[op] = self.scrub(_message(e))
        return res

    def _read_back(self, store, key, data):
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

    def _delete(self, store, key, data):
        store.delete(self._location(store, key))

    def _stored_checksum(self, store, key):
        try:
            head = store._s3_client.head_object(
                Bucket=store.bucket, Key=key, ChecksumMode='ENABLED')
        except (boto_exc.ClientError, boto_exc.BotoCoreError):
            return None
        for algorithm in s3_checksums.ALGORITHMS:
            if head.get(s3_checksums.param_name(algorithm)):
                return algorithm
        return 'none'

    # cleanup --------------------------------------------------------------
    def cleanup(self):
        """Remove every object and open multipart upload of this run."""
        if self.base is None or not self.bucket_checked:
            return
        client = self.base._s3_client
        bucket = self.base.bucket
        removed = aborted = 0
        errors = []
        try:
            token = None
            while True:
                params = {'Bucket': bucket, 'Prefix': self.run_prefix}
                if token:
                    params['ContinuationToken'] = token
                resp = client.list_objects_v2(**params)
                for obj in resp.get('Contents') or []:
                    client.delete_object(Bucket=bucket, Key=obj['Key'])
                    removed += 1
                token = resp.get('NextContinuationToken')
                if not resp.get('IsTruncated') or not token:
                    break
        except Exception as e:
            errors.append(_("removing objects: %s") % failure_code(e))
        try:
            markers = {}
            while True:
                resp = client.list_multipart_uploads(
                    Bucket=bucket, Prefix=self.run_prefix, **markers)
                for upload in resp.get('Uploads') or []:
                    client.abort_multipart_upload(
                        Bucket=bucket, Key=upload['Key'],
                        UploadId=upload['UploadId'])
                    aborted += 1
                if not resp.get('IsTruncated'):
                    break
                markers = {'KeyMarker': resp.get('NextKeyMarker'),
                           'UploadIdMarker': resp.get('NextUploadIdMarker')}
        except Exception as e:
            errors.append(_("aborting multipart uploads: %s") %
                          failure_code(e))
        detail = _("%(objects)d leftover objects removed, %(uploads)d open "
                   "multipart uploads aborted under %(prefix)s") % {
            'objects': removed, 'uploads': aborted,
            'prefix': self.run_prefix}
        if self.created_bucket:
            try:
                client.delete_bucket(Bucket=bucket)
                detail += _("; bucket %s removed") % bucket
            except (boto_exc.ClientError, boto_exc.BotoCoreError) as e:
                detail += _("; bucket %(bucket)s kept (%(code)s)") % {
                    'bucket': bucket, 'code': failure_code(e)}
        if errors:
            detail += '; ' + _("cleanup failed: %s") % ', '.join(errors)
        self.result.cleanup = Step('cleanup', not errors, self.scrub(detail))


class DataMismatch(exceptions.GlanceStoreException):
    message = _("Data read back differs from the data written")


def check_backend(conf, backend=None, progress=None, run_id=None):
    """Check one S3 backend; returns a ``BackendResult``.

    ``conf`` is a parsed ``cfg.ConfigOpts`` holding the Glance
    configuration; ``backend`` a key of ``enabled_backends`` (multi-store)
    or None for the S3 store of ``[glance_store]``.  ``progress`` is
    called with a short message before each step.  Never raises for a
    backend or configuration problem: ``result.error`` says what went
    wrong.  A KeyboardInterrupt propagates after the cleanup.
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
