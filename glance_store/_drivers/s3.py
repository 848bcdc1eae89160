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

"""The S3 store: images as objects in an S3 (or S3-compatible) bucket.

configure / add / get / get_size / delete sit on four helpers:
``s3_checksums`` (the checksum policy), ``s3_upload`` (the whole upload:
one PutObject or a multipart upload, with its limits and memory bound),
``s3_download`` (reading objects back with validation) and
``s3_errors`` (botocore errors as glance_store exceptions).
"""

import copy
import dataclasses
import logging
import re
import threading
import urllib.parse

import botocore
from botocore import exceptions as boto_exc
from oslo_config import cfg
from oslo_utils import units

from glance_store._drivers import s3_checksums
from glance_store._drivers import s3_client
from glance_store._drivers import s3_download
from glance_store._drivers import s3_errors
from glance_store._drivers import s3_leftovers
from glance_store._drivers import s3_redact
from glance_store._drivers import s3_settings
from glance_store._drivers import s3_transport
from glance_store._drivers import s3_upload
from glance_store import capabilities
from glance_store.common import utils
import glance_store.driver
from glance_store import exceptions
from glance_store.i18n import _
import glance_store.location

LOG = logging.getLogger(__name__)

MIN_BOTOCORE_VERSION = (1, 36, 0)
DEFAULT_LARGE_OBJECT_SIZE = s3_settings.DEFAULT_LARGE_OBJECT_SIZE  # MB
DEFAULT_LARGE_OBJECT_CHUNK_SIZE = \
    s3_settings.DEFAULT_LARGE_OBJECT_CHUNK_SIZE  # MB
DEFAULT_THREAD_POOLS = s3_settings.DEFAULT_THREAD_POOLS
DEFAULT_REGION = s3_settings.DEFAULT_REGION
CONCURRENT_UPLOADS = s3_client.CONCURRENT_UPLOADS
MIN_POOL_CONNECTIONS = s3_client.MIN_POOL_CONNECTIONS
# The settings of one backend (``Store.settings``) and the two parsers
# tools and tests know by these names.
S3Settings = s3_settings.S3Settings
region_from_host = s3_settings.region_from_host
split_host = s3_settings.split_host

_S3_OPTS = [
    cfg.StrOpt('s3_store_host',
               help=_("""
Address of the S3 endpoint: a URL such as https://s3.example.com:8443,
or a host name or host:port. A value without scheme means plain HTTP
(s3:// locations), as it always has; a WARNING then recommends
https://. Credentials (USER:SECRET@) are refused here: use
s3_store_access_key and s3_store_secret_key.

Related options:
    * s3_store_cacert
""")),
    cfg.StrOpt('s3_store_region_name', default='',
               help=_("""
Region of the bucket. When empty it is taken from an AWS host name
(s3.<region>.amazonaws.com), else us-east-1. Also used as the location
constraint of a bucket the store creates.
""")),
    cfg.StrOpt('s3_store_access_key', secret=True,
               help=_("Access key of the S3 account the store uses.")),
    cfg.StrOpt('s3_store_secret_key', secret=True,
               help=_("Secret key of the S3 account the store uses. "
                      "Never logged.")),
    cfg.StrOpt('s3_store_bucket',
               help=_("Bucket the images are stored in.")),
    cfg.BoolOpt('s3_store_create_bucket_on_put', default=False,
                help=_("""
Create the bucket on the first upload if it does not exist. When False a
missing bucket makes uploads fail with an error naming this option.
""")),
    cfg.StrOpt('s3_store_bucket_url_format', default='auto',
               choices=(('auto', _('virtual-hosted style when the bucket '
                                   'name allows it, else path style')),
                        ('virtual', _('bucket.host/key')),
                        ('path', _('host/bucket/key'))),
               help=_("How the bucket is addressed in request URLs. Most "
                      "S3-compatible servers (Ceph RGW, MinIO) need "
                      "'path'.")),
    cfg.IntOpt('s3_store_large_object_size',
               default=DEFAULT_LARGE_OBJECT_SIZE, min=0,
               help=_("""
Images of this size in MB or more are uploaded in parts (multipart
upload); smaller ones in one request; 0 sends every image in parts. An
image of unknown size is buffered up to this size before the choice is
made. The memory an upload holds is stated in the S3 guide ("Memory per
upload").
""")),
    cfg.IntOpt('s3_store_large_object_chunk_size',
               default=DEFAULT_LARGE_OBJECT_CHUNK_SIZE,
               help=_("""
Part size in MB of multipart uploads. A value below 5, S3's minimum part
size, is raised to 5 with a warning. The store raises it when needed so
that 10,000 parts cover the image.
""")),
    cfg.IntOpt('s3_store_thread_pools', default=DEFAULT_THREAD_POOLS,
               help=_("""
Parts of one multipart upload sent in parallel; a value below 1 is raised
to 1 with a warning. The memory an upload holds follows from it and the
part size: see "Memory per upload" in the S3 guide.
""")),
    cfg.StrOpt('s3_store_cacert', default='',
               help=_("CA bundle used to verify the endpoint's TLS "
                      "certificate; empty means the system CAs. The file "
                      "must exist and be readable when the store is "
                      "configured.")),
    cfg.BoolOpt('s3_store_enable_data_integrity_protection',
                default=False,
                help=_("""
Master switch of the S3 checksum features of boto3 >= 1.36 for this
backend.

False (the default): no checksum is computed, sent or validated in either
direction (boto3's when_required), whatever the two options below say;
requests look as they did before boto3 1.36 and work on every
S3-compatible backend, such as Ceph RGW, which refuses the streaming
checksum uploads of boto3 >= 1.36 with MissingContentLength.

True: s3_store_request_checksum_calculation and
s3_store_response_checksum_validation apply.

These options override the AWS_REQUEST_CHECKSUM_CALCULATION and
AWS_RESPONSE_CHECKSUM_VALIDATION environment variables for this backend.

Related options:
    * s3_store_request_checksum_calculation
    * s3_store_response_checksum_validation
    * s3_store_checksum_algorithm
""")),
    cfg.StrOpt('s3_store_request_checksum_calculation',
               default=s3_checksums.WHEN_REQUIRED, ignore_case=True,
               choices=(
                   ('when_required', _('no checksum unless S3 requires '
                                       'one for the operation')),
                   ('never', _('no checksum is sent; the same as '
                               'when_required, since none of the '
                               'requests the store makes needs one')),
                   ('when_supported', _('boto3 computes a CRC32 for every '
                                        'upload; over HTTPS it is sent as '
                                        'an aws-chunked trailer, which '
                                        'only AWS-grade servers accept')),
                   ('always', _('the store computes the checksum '
                                '(s3_store_checksum_algorithm) of every '
                                'upload and part and sends it as a '
                                'header with a Content-Length; accepted '
                                'by servers that ignore it')),
               ),
               help=_("""
When uploads carry a checksum the backend can verify. Only used when
s3_store_enable_data_integrity_protection is True.
""")),
    cfg.StrOpt('s3_store_response_checksum_validation',
               default=s3_checksums.WHEN_REQUIRED, ignore_case=True,
               choices=(
                   ('when_required', _('downloads are not validated')),
                   ('never', _('downloads are not validated; the same '
                               'as when_required')),
                   ('when_supported', _('boto3 asks for the stored '
                                        'checksum and validates '
                                        'single-part and full-object '
                                        'checksums')),
                   ('always', _('every whole download is checked against '
                                'the stored checksum, composite multipart '
                                'ones included; a download without stored '
                                'checksum is served with a warning')),
               ),
               help=_("""
When downloads are checked against the checksum the backend stored. A
mismatch fails the download. Only used when
s3_store_enable_data_integrity_protection is True.
""")),
    cfg.StrOpt('s3_store_checksum_algorithm',
               default=s3_checksums.DEFAULT_ALGORITHM, ignore_case=True,
               choices=(
                   ('CRC32', _('the default; needs nothing extra')),
                   ('CRC32C', _('needs the awscrt package')),
                   ('CRC64NVME', _('needs the awscrt package')),
                   ('SHA1', _('more CPU; multipart uploads get a '
                              'per-part (composite) checksum')),
                   ('SHA256', _('the most CPU; multipart uploads get a '
                                'per-part (composite) checksum')),
               ),
               help=_("""
Algorithm of the checksums the store computes when
s3_store_request_checksum_calculation is 'always'. With the CRC
algorithms a multipart upload is completed with a whole-object
(full-object) checksum; with SHA1 and SHA256 it gets a composite
checksum, made of the checksums of its parts, and no whole-object one.
""")),
    cfg.BoolOpt('s3_store_check_stale_uploads', default=True,
                help=_("""
At start-up, list the bucket's incomplete multipart uploads once (one
request, at most 1000 uploads, a few seconds at most) and log a WARNING
when uploads of images older than a day are found: interrupted uploads
keep their parts' storage until they are aborted. False skips the
request.
""")),
]


def _botocore_version():
    parts = re.findall(r'\d+', botocore.__version__)[:3]
    return tuple(int(p) for p in parts)


class StoreLocation(glance_store.location.StoreLocation):
    """``s3[+https]://host[:port][/path]/bucket/key``.

    Locations are written without credentials.  Legacy locations with
    ``ACCESS:SECRET@`` before the host are still read; their credentials
    are kept only because old callers may look for them, are never used
    by the store (the configured ones are) and never logged.
    """

    def process_specs(self):
        self.scheme = self.specs.get('scheme', 's3')
        self.accesskey = self.specs.get('accesskey')
        self.secretkey = self.specs.get('secretkey')
        s3_host = self.specs.get('s3serviceurl')
        self.bucket = self.specs.get('bucket')
        self.key = self.specs.get('key')
        if s3_host.startswith('https://'):
            self.scheme = 's3+https'
            s3_host = s3_host[len('https://'):]
        elif s3_host.startswith('http://'):
            s3_host = s3_host[len('http://'):]
        self.s3serviceurl = s3_host.strip('/')

    def get_uri(self):
        """The location URI, always without credentials.

        :returns: ``scheme://host[:port]/bucket/key``.
        """
        return "%s://%s/%s/%s" % (self.scheme, self.s3serviceurl,
                                  self.bucket, self.key)

    # ``uri`` with any credentials removed, for messages and logs.
    redact = staticmethod(s3_redact.redact_uri)

    def _bad(self, uri, reason):
        msg = _("Malformed S3 location %(uri)s: %(reason)s") % {
            'uri': self.redact(uri), 'reason': reason}
        LOG.info(msg)
        raise exceptions.BadStoreUri(message=msg)

    def parse_uri(self, uri):
        """Read ``s3[+http|+https]://[ACCESS:SECRET@]host/bucket/key``.

        :param uri: the location URI.
        :raises glance_store.exceptions.BadStoreUri: for another scheme,
            two schemes (``s3://https://...``), malformed credentials or
            a missing host, bucket or key; the message holds no
            credential.
        """
        if not isinstance(uri, str) or '://' not in uri:
            self._bad(str(uri), _("no scheme"))
        scheme, rest = uri.split('://', 1)
        if scheme not in ('s3', 's3+http', 's3+https'):
            self._bad(uri, _("the scheme must be s3, s3+http or "
                             "s3+https"))
        self.scheme = scheme
        self.accesskey = self.secretkey = None
        if '@' in rest:
            # Legacy form: credentials before the last '@' (a secret may
            # itself hold '/' or '@'); keys are image ids without '@'.
            creds, rest = rest.rsplit('@', 1)
            if ':' not in creds:
                self._bad(uri, _("credentials must be ACCESS:SECRET"))
            access, secret = creds.split(':', 1)
            self.accesskey = urllib.parse.unquote(access)
            self.secretkey = urllib.parse.unquote(secret)
        if '://' in rest:
            self._bad(uri, _("it holds two schemes; write "
                             "s3+https://host/bucket/key for HTTPS or "
                             "s3://host/bucket/key for HTTP"))
        parts = rest.split('/')
        if len(parts) < 3 or not all(parts[-2:]) or not parts[0]:
            self._bad(uri, _("expected host/bucket/key"))
        self.key = parts[-1]
        self.bucket = parts[-2]
        self.s3serviceurl = '/'.join(parts[:-2]).strip('/')


class Store(glance_store.driver.Store):
    """Images as objects in an S3 bucket."""

    _CAPABILITIES = (capabilities.BitMasks.READ_RANDOM |
                     capabilities.BitMasks.WRITE_ACCESS |
                     capabilities.BitMasks.DRIVER_REUSABLE)
    OPTIONS = _S3_OPTS + s3_transport.OPTIONS
    MULTI_BACKEND_SUPPORT = True
    EXAMPLE_URL = "s3+https://<HOST>/<BUCKET>/<OBJ>"
    READ_CHUNKSIZE = 1 * units.Mi
    WRITE_CHUNKSIZE = READ_CHUNKSIZE

    def __init__(self, conf, backend=None):
        super().__init__(conf, backend=backend)
        self._s3_client = None
        self._client_lock = threading.Lock()
        self._settings = None
        self._target = None

    @property
    def store_name(self):
        return self.backend_group or 's3'

    def get_schemes(self):
        return ('s3', 's3+http', 's3+https')

    # Upstream's attribute names, read-only views of the settings ----------
    def _view(self, read, default=None):
        settings = self._settings
        return default if settings is None else read(settings)

    @property
    def policy(self):
        """The backend's ``s3_checksums.ChecksumPolicy``."""
        return self._view(lambda s: s.policy, s3_settings.DEFAULT_POLICY)

    @property
    def upload_limits(self):
        """The backend's ``s3_upload.UploadLimits`` (bytes)."""
        return self._view(lambda s: s.limits, s3_settings.DEFAULT_LIMITS)

    @property
    def s3_store_large_object_size(self):
        """Images this big (bytes) or bigger go multipart (Glance)."""
        return self.upload_limits.threshold

    @property
    def s3_store_large_object_chunk_size(self):
        """The part size in bytes (Glance reads it)."""
        return self.upload_limits.part_size

    @property
    def s3_store_thread_pools(self):
        """Parts of one upload in flight (Glance reads it)."""
        return self.upload_limits.max_in_flight

    def _target_view(self, read):
        target = self._target
        if target is None:
            raise AttributeError("the S3 store is not configured")
        return read(target)

    s3_host = property(lambda self: self._target_view(
        lambda t: t.endpoint.url if t.endpoint.explicit
        else t.endpoint.netloc))
    access_key = property(lambda self: self._target_view(
        lambda t: t.access_key))
    secret_key = property(lambda self: self._target_view(
        lambda t: t.secret_key))
    bucket = property(lambda self: self._target_view(lambda t: t.bucket))
    use_https = property(lambda self: self._target_view(
        lambda t: t.endpoint.use_https))
    s3_netloc = property(lambda self: self._target_view(
        lambda t: t.endpoint.netloc))
    scheme = property(lambda self: self._target_view(
        lambda t: t.endpoint.scheme))
    endpoint_url = property(lambda self: self._target_view(
        lambda t: t.endpoint.url))
    region_name = property(lambda self: self._view(lambda s: s.region_name))
    bucket_url_format = property(lambda self: self._view(
        lambda s: s.addressing_style))
    cacert = property(lambda self: self._view(lambda s: s.cacert))
    create_bucket_on_put = property(lambda self: self._view(
        lambda s: s.create_bucket_on_put))

    # configuration --------------------------------------------------------
    def configure(self, re_raise_bsc=False):
        version = _botocore_version()
        if version < MIN_BOTOCORE_VERSION:
            # No silent fallback: without these botocore options the
            # checksum settings could not be honoured.
            raise exceptions.BadStoreConfiguration(
                store_name=self.store_name,
                reason=_("botocore %(found)s is installed; the S3 store "
                         "needs botocore >= %(needed)s (boto3 >= 1.36) for "
                         "its checksum options.") % {
                    'found': botocore.__version__,
                    'needed': '.'.join(map(str, MIN_BOTOCORE_VERSION))})
        super().configure(re_raise_bsc=re_raise_bsc)

    def configure_add(self):
        """Read this backend's options into its settings; build its client.

        Values upstream glance_store accepts but that cannot work as
        written (a part size below S3's minimum, no upload thread) are
        raised to the nearest working value with a warning; the store's
        ``s3_store_large_object_size``, ``s3_store_large_object_chunk_size``
        (bytes) and ``s3_store_thread_pools`` attributes show the values
        used.  With ``s3_store_check_stale_uploads`` the bucket's
        incomplete uploads are listed once (``s3_leftovers``).

        :returns: None.
        :raises glance_store.exceptions.BadStoreConfiguration: when an
            option is missing or unusable (the reason names it), when the
            CA file cannot be read, or when botocore refuses to build the
            client (for example a region name it does not accept); the
            caller, ``configure``, then disables this backend's writes.
        """
        conf = self.store_conf
        self._settings = None
        target = s3_settings.read_target(conf, self.store_name)
        s3_redact.register_keys(target.access_key, target.secret_key)
        self._target = target
        # Known before anything below can fail: Glance maps this backend's
        # locations by it even when its writes end up disabled.
        self._url_prefix = target.url_prefix
        transport = s3_transport.TransportSettings.from_conf(
            conf, self.store_name)
        settings = s3_settings.from_target(target, conf, self.store_name,
                                           transport)
        if settings.policy.ignored:
            LOG.warning(
                "S3 backend %(store)s: %(settings)s ignored because "
                "s3_store_enable_data_integrity_protection is False.",
                {'store': self.store_name,
                 'settings': ', '.join('%s = %s' % kv
                                       for kv in settings.policy.ignored)})
        LOG.info("S3 backend %(store)s (%(endpoint)s, bucket %(bucket)s): "
                 "%(policy)s; network: %(transport)s",
                 {'store': self.store_name,
                  'endpoint': settings.endpoint_url,
                  'bucket': settings.bucket,
                  'policy': settings.policy.describe(),
                  'transport': transport.describe()})
        self._settings = settings
        self._s3_client = self._build_client()
        if settings.check_stale_uploads:
            s3_leftovers.warn_stale_uploads(settings, self.store_name,
                                            self.backend_group)

    def _build_client(self):
        """The client, or BadStoreConfiguration saying which option."""
        try:
            return self._create_s3_client()
        except boto_exc.InvalidRegionError:
            reason = _("s3_store_region_name = %s is not a region name "
                       "botocore accepts (letters, digits and hyphens); "
                       "set it to the region of the bucket, or leave it "
                       "empty for us-east-1.") % self.region_name
        except ValueError as e:
            # botocore: "Invalid endpoint: ..."
            reason = _("s3_store_host = %(host)s cannot be used as an "
                       "endpoint (%(error)s); write it as "
                       "https://host[:port] or http://host[:port].") % {
                'host': self.s3_host, 'error': s3_errors.sentence(e)}
        except Exception as e:
            reason = _("the S3 client could not be built (%s); check "
                       "s3_store_host, s3_store_region_name and "
                       "s3_store_cacert.") % s3_errors.sentence(e)
        raise exceptions.BadStoreConfiguration(store_name=self.store_name,
                                               reason=reason)

    def _client_config(self):
        """The botocore ``Config`` of this backend's client."""
        return s3_client.client_config(self._settings)

    def _create_s3_client(self):
        """Build this backend's boto3 client with ``s3_client``.

        The checksum settings go in the client's own ``Config``
        (``_client_config``): they override the AWS_*_CHECKSUM_*
        environment variables for this backend only, and other boto3
        users of the process are left as they are. The configured
        credentials are always the ones used (never those of a legacy
        location URI).

        :returns: a boto3 S3 client.
        :raises botocore.exceptions.InvalidRegionError: for a region name
            botocore refuses; ``configure_add`` turns this and any other
            error into ``BadStoreConfiguration``.
        """
        return s3_client.make_client(self._settings,
                                     config=self._client_config())

    def _client(self):
        if self._s3_client is not None:
            return self._s3_client
        # Concurrent first requests configure the store once.
        with self._client_lock:
            if self._s3_client is None:
                try:
                    self.configure_add()
                except exceptions.BadStoreConfiguration as e:
                    raise exceptions.RemoteServiceUnavailable(e.msg)
        return self._s3_client

    # The public surface of tools (glance-store-s3-check) ------------------
    @property
    def settings(self):
        """The settings configure_add read, as a frozen ``S3Settings``.

        :returns: an ``s3_settings.S3Settings``.
        :raises: ``RemoteServiceUnavailable`` when the store's
            configuration is not usable.
        """
        self._client()
        return self._settings

    @property
    def client(self):
        """The store's boto3 S3 client (built by configure_add).

        :returns: a botocore S3 client.
        :raises: ``RemoteServiceUnavailable`` when the store's
            configuration is not usable.
        """
        return self._client()

    def derive(self, **changes):
        """A copy of this configured store with other settings.

        The copy shares the client (build one with ``s3_client`` when
        the changes need another); this store is left as it is.

        :param changes: ``S3Settings`` fields to replace, as
            ``dataclasses.replace`` takes them (for example ``limits``).
        :returns: a new ``Store``.
        :raises: ``RemoteServiceUnavailable`` when the store's
            configuration is not usable.
        """
        settings = dataclasses.replace(self.settings, **changes)
        twin = copy.copy(self)
        # The copy is this store's own kind: its settings set directly.
        twin.__dict__.update(_settings=settings)
        return twin

    def _location(self, key):
        return StoreLocation({'scheme': self.scheme,
                              's3serviceurl': self.s3_netloc,
                              'bucket': self.bucket, 'key': key},
                             self.conf, backend_group=self.backend_group)

    def _error(self, e, action, bucket, key=None):
        return s3_errors.to_store_error(e, self.store_name, action,
                                        bucket, key,
                                        endpoint=getattr(
                                            self, 'endpoint_url', None))

    # read side --------------------------------------------------------------
    @capabilities.check
    def get(self, location, offset=0, chunk_size=None, context=None):
        """Read an image, or a byte range of it.

        :param location: a ``glance_store.location.Location`` whose
            ``store_location`` is this module's ``StoreLocation``.
        :param offset: first byte to read.
        :param chunk_size: number of bytes to read from ``offset``; with
            ``offset`` 0 and None (the default) the whole image.
        :param context: the request context (unused).
        :returns: ``(iterator, size)``: an iterator of ``bytes`` chunks
            that closes the response when done, and the size in bytes of
            what it yields.
        :raises glance_store.exceptions.NotFound: no such object (or
            bucket) on this backend.
        :raises glance_store.exceptions.ChecksumMismatch: while iterating,
            when response checksum validation finds altered data.
        :raises glance_store.exceptions.RemoteServiceUnavailable: the
            backend cannot be reached, or its configuration failed.
        :raises glance_store.exceptions.GlanceStoreException: any other
            error, as ``s3_errors.to_store_error`` maps it.
        """
        loc = location.store_location
        client = self._client()
        ranged = bool(offset or chunk_size)
        params = self.policy.get_params(ranged=ranged)
        if ranged:
            end = '' if not chunk_size else str(offset + chunk_size - 1)
            params['Range'] = 'bytes=%d-%s' % (offset, end)
        try:
            resp = client.get_object(Bucket=loc.bucket, Key=loc.key,
                                     **params)
        except (boto_exc.ClientError, boto_exc.BotoCoreError) as e:
            raise self._error(e, 'reading', loc.bucket, loc.key)
        validator = s3_download.make_validator(
            client, self.policy, resp, loc.bucket, loc.key, ranged)
        iterator = s3_download.ObjectIterator(
            resp['Body'], self.READ_CHUNKSIZE, validator, self.store_name,
            loc.bucket, loc.key,
            algorithm=s3_download.stored_checksum(resp)[0])
        return iterator, resp['ContentLength']

    def _head(self, client, bucket, key):
        try:
            return client.head_object(Bucket=bucket, Key=key)
        except (boto_exc.ClientError, boto_exc.BotoCoreError) as e:
            raise self._error(e, 'looking up', bucket, key)

    def get_size(self, location, context=None):
        """The size of an image, from a HeadObject request.

        :param location: a ``glance_store.location.Location`` of this
            store.
        :param context: the request context (unused).
        :returns: the size in bytes.
        :raises glance_store.exceptions.NotFound: no such object.
        :raises glance_store.exceptions.GlanceStoreException: any other
            error, as ``s3_errors.to_store_error`` maps it.
        """
        loc = location.store_location
        return self._head(self._client(), loc.bucket, loc.key)[
            'ContentLength']

    @capabilities.check
    def delete(self, location, context=None):
        """Delete an image's object.

        :param location: a ``glance_store.location.Location`` of this
            store.
        :param context: the request context (unused).
        :returns: None.
        :raises glance_store.exceptions.NotFound: no such object (S3
            deletes succeed on missing keys, so the store looks first).
        :raises glance_store.exceptions.Forbidden: the backend denied it.
        :raises glance_store.exceptions.GlanceStoreException: any other
            error, as ``s3_errors.to_store_error`` maps it.
        """
        loc = location.store_location
        client = self._client()
        self._head(client, loc.bucket, loc.key)
        try:
            client.delete_object(Bucket=loc.bucket, Key=loc.key)
        except (boto_exc.ClientError, boto_exc.BotoCoreError) as e:
            raise self._error(e, 'deleting', loc.bucket, loc.key)
        LOG.debug("Deleted %s", loc.get_uri())

    # write side -------------------------------------------------------------
    def ensure_bucket(self, client=None):
        """Check that the bucket exists; create it when the options allow.

        :param client: the boto3 client to use (default: the store's).
        :raises: ``BadStoreConfiguration`` when the bucket is missing and
            s3_store_create_bucket_on_put is False, or the credentials are
            refused; another glance_store exception (``s3_errors``) when
            the backend fails.
        """
        client = client or self._client()
        try:
            client.head_bucket(Bucket=self.bucket)
            return
        except boto_exc.ClientError as e:
            if s3_errors.http_status(e) == 403:
                # HEAD answers carry no body, so no error code: ask again
                # with a request whose answer says why (wrong credentials
                # or a policy).
                self._explain_denied(client, e)
            if not s3_errors.is_not_found(e):
                raise self._error(e, 'checking bucket', self.bucket)
        except boto_exc.BotoCoreError as e:
            raise self._error(e, 'checking bucket', self.bucket)
        if not self.create_bucket_on_put:
            raise s3_errors.missing_bucket(self.store_name, self.bucket)
        params = {'Bucket': self.bucket}
        if self.region_name != DEFAULT_REGION:
            params['CreateBucketConfiguration'] = {
                'LocationConstraint': self.region_name}
        try:
            client.create_bucket(**params)
            LOG.info("Created bucket %(bucket)s on S3 backend %(store)s",
                     {'bucket': self.bucket, 'store': self.store_name})
        except boto_exc.ClientError as e:
            if s3_errors.error_code(e) not in ('BucketAlreadyOwnedByYou',):
                raise self._error(e, 'creating bucket', self.bucket)

    def _explain_denied(self, client, head_error):
        try:
            client.list_objects_v2(Bucket=self.bucket, MaxKeys=1)
        except (boto_exc.ClientError, boto_exc.BotoCoreError) as e:
            raise self._error(e, 'checking bucket', self.bucket)
        raise self._error(head_error, 'checking bucket', self.bucket)

    def _exists(self, client, key):
        try:
            client.head_object(Bucket=self.bucket, Key=key)
            return True
        except boto_exc.ClientError as e:
            if s3_errors.is_not_found(e):
                return False
            raise self._error(e, 'looking up', self.bucket, key)

    def _upload_error(self, e, loc):
        error = self._error(e, 'uploading', self.bucket, loc.key)
        LOG.error("Upload of %(uri)s to S3 backend %(store)s failed: "
                  "%(error)s", {'uri': loc.get_uri(), 'store': self.store_name,
                                'error': getattr(error, 'msg', error)})
        return error

    @glance_store.driver.back_compat_add
    @capabilities.check
    def add(self, image_id, image_file, image_size, hashing_algo,
            context=None, verifier=None):
        """Store an image as object ``image_id`` of the bucket.

        :param image_id: the image's id, used as the object key.
        :param image_file: a file-like object with ``read``.
        :param image_size: the size in bytes, or 0 when unknown (chunked
            uploads): the store then buffers up to
            ``s3_store_large_object_size`` before choosing between one
            PutObject and a multipart upload.
        :param hashing_algo: the hashlib name of the multihash.
        :param context: the request context (unused).
        :param verifier: an optional signature verifier; it sees every
            byte.
        :returns: ``(uri, bytes_written, md5_hex, multihash_hex,
            metadata)``; ``metadata`` is ``{'store': backend}`` in
            multi-store mode, else empty.
        :raises glance_store.exceptions.Duplicate: the object exists.
        :raises glance_store.exceptions.Invalid: the data is longer or
            shorter than ``image_size``.
        :raises glance_store.exceptions.StoreAddDisabled: the backend's
            configuration failed.
        :raises glance_store.exceptions.BadStoreConfiguration: the bucket
            is missing and may not be created, the credentials or the
            region are wrong (the message names the option).
        :raises glance_store.exceptions.GlanceStoreException: any other
            error, as ``s3_errors.to_store_error`` maps it; a multipart
            upload that fails is aborted.
        """
        hashes = utils.ImageHashes(hashing_algo, verifier)
        client = self._client()
        loc = self._location(image_id)
        reader = s3_upload.ImageReader(image_file, image_size, hashes)
        try:
            self.ensure_bucket(client)
            if self._exists(client, image_id):
                raise exceptions.Duplicate(image=loc.get_uri())
            s3_upload.upload(client, self.bucket, image_id, reader,
                             image_size, self.policy, self.upload_limits,
                             store_name=self.store_name)
        except (boto_exc.ClientError, boto_exc.BotoCoreError) as e:
            raise self._upload_error(e, loc)
        finally:
            # Stops the digest workers, whatever happened.
            reader.close()
        LOG.debug("Wrote %(size)d bytes to %(uri)s",
                  {'size': hashes.size, 'uri': loc.get_uri()})
        metadata = {}
        if self.backend_group:
            metadata['store'] = self.backend_group
        return (loc.get_uri(), hashes.size, hashes.checksum,
                hashes.multihash, metadata)
