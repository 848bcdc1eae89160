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

"""One S3 backend's settings, read once from its options and frozen.

``configure_add`` reads the options in two steps: :func:`read_target`
(where the images go: endpoint, bucket, keys; enough for the store's
``url_prefix``, which Glance needs even when the rest fails), then
:func:`from_target` (TLS, region, addressing, checksum policy, upload
limits).  The result, an :class:`S3Settings`, is what the client factory
(``s3_client``), the store, the check tool and the start-up check use;
nothing re-reads the options or decides the scheme or TLS again.

A tool that needs other limits derives settings with
``dataclasses.replace`` instead of changing a store.
"""

import dataclasses
import logging
import os
import re
import typing
import urllib.parse

from oslo_utils import units

from glance_store._drivers import s3_checksums
from glance_store._drivers import s3_upload
from glance_store import exceptions
from glance_store.i18n import _

LOG = logging.getLogger(__name__)

DEFAULT_LARGE_OBJECT_SIZE = 100  # MB
DEFAULT_LARGE_OBJECT_CHUNK_SIZE = 10  # MB
DEFAULT_THREAD_POOLS = 10
DEFAULT_REGION = 'us-east-1'

# The limits of a store that has not read its options yet.
DEFAULT_LIMITS = s3_upload.UploadLimits(
    threshold=DEFAULT_LARGE_OBJECT_SIZE * units.Mi,
    part_size=DEFAULT_LARGE_OBJECT_CHUNK_SIZE * units.Mi,
    max_in_flight=DEFAULT_THREAD_POOLS)
# The checksum policy of a store that has not read its options yet.
DEFAULT_POLICY = s3_checksums.ChecksumPolicy()

_AWS_REGION = re.compile(r'(?:^|\.)s3[.-](?:dualstack\.)?([a-z0-9-]+)'
                         r'\.amazonaws\.com$')


def region_from_host(host):
    """The AWS region an S3 host name names.

    :param host: ``s3_store_host``, with or without scheme.
    :returns: the region, ``us-east-1`` for the global AWS names, or
        None for a host that is not an AWS one.
    """
    netloc = urllib.parse.urlsplit(
        host if '://' in host else 'http://' + host).hostname or ''
    if not netloc.endswith('.amazonaws.com'):
        return None
    m = _AWS_REGION.search(netloc)
    if m and m.group(1) not in ('external-1',):
        return m.group(1)
    return DEFAULT_REGION


@dataclasses.dataclass(frozen=True)
class Endpoint(object):
    """Where ``s3_store_host`` points, and how to reach it.

    ``netloc`` is the host, port and path without scheme (what location
    URIs hold); ``explicit`` is False when the option had no scheme.
    """

    netloc: str
    use_https: bool
    explicit: bool = True

    @property
    def url(self):
        """The endpoint URL boto3 gets: ``http[s]://netloc``."""
        return '%s://%s' % ('https' if self.use_https else 'http',
                            self.netloc)

    @property
    def scheme(self):
        """The scheme of this backend's locations: s3+https or s3."""
        return 's3+https' if self.use_https else 's3'


def split_host(host):
    """``(use_https, netloc)`` of ``s3_store_host``.

    A value without scheme means plain HTTP, as it does to upstream
    glance_store (``s3://`` locations).

    :param host: the option's value.
    :returns: a tuple ``(bool, str)``.
    """
    endpoint = parse_host(host)
    return endpoint.use_https, endpoint.netloc


def parse_host(host):
    """The ``Endpoint`` of ``s3_store_host``.

    :param host: the option's value.
    :returns: an ``Endpoint``; a value without scheme is plain HTTP.
    """
    host = host.strip()
    for prefix, https in (('https://', True), ('http://', False)):
        if host.lower().startswith(prefix):
            return Endpoint(host[len(prefix):].rstrip('/'), https)
    return Endpoint(host.rstrip('/'), False, explicit=False)


def has_credentials(host):
    """Whether ``s3_store_host`` holds ``USER[:SECRET]@`` before the host.

    :param host: the option's value.
    :returns: True when an ``@`` stands in the authority part.
    """
    rest = host.split('://', 1)[-1]
    return '@' in rest.split('/', 1)[0]


@dataclasses.dataclass(frozen=True)
class Target(object):
    """Where a backend's images go: endpoint, bucket and account.

    The keys are left out of ``repr`` so that no trace or log of the
    object shows them.
    """

    endpoint: Endpoint
    bucket: str
    access_key: str = dataclasses.field(repr=False)
    secret_key: str = dataclasses.field(repr=False)

    @property
    def url_prefix(self):
        """``scheme://netloc/bucket/``: the start of every location."""
        return '%s://%s/%s/' % (self.endpoint.scheme, self.endpoint.netloc,
                                self.bucket)


@dataclasses.dataclass(frozen=True)
class S3Settings(object):
    """Everything one configured S3 backend uses (``Store.settings``).

    ``cacert`` is None for the system CAs; ``policy`` is the backend's
    ``s3_checksums.ChecksumPolicy``, ``limits`` its
    ``s3_upload.UploadLimits``; ``transport`` holds the transport options
    (proxy, timeouts, retries) as an object with ``config_kwargs()``, or
    None for botocore's defaults.  The keys are not in ``repr``.
    """

    target: Target
    region_name: str
    cacert: typing.Optional[str]
    addressing_style: str
    create_bucket_on_put: bool
    policy: s3_checksums.ChecksumPolicy
    limits: s3_upload.UploadLimits
    check_stale_uploads: bool = True
    transport: typing.Any = None

    @property
    def endpoint_url(self):
        """The endpoint URL boto3 gets."""
        return self.target.endpoint.url

    @property
    def use_https(self):
        """Whether the endpoint is reached over TLS."""
        return self.target.endpoint.use_https

    @property
    def netloc(self):
        """Host, port and path of the endpoint, without scheme."""
        return self.target.endpoint.netloc

    @property
    def scheme(self):
        """The scheme of this backend's locations."""
        return self.target.endpoint.scheme

    @property
    def bucket(self):
        """The bucket the images go to."""
        return self.target.bucket

    @property
    def verify(self):
        """The ``verify`` argument of a boto3 client: CA path or True."""
        return self.cacert or True


def _bad(store_name, reason):
    return exceptions.BadStoreConfiguration(store_name=store_name,
                                            reason=reason)


def _required(store_conf, store_name, name):
    value = getattr(store_conf, name)
    if value is None or value == '':
        reason = _("option %s is not set.") % name
        LOG.error(reason)
        raise _bad(store_name, reason)
    return value


def read_target(store_conf, store_name):
    """Read the endpoint, bucket and keys of a backend.

    :param store_conf: the backend's option group.
    :param store_name: the backend's name, for messages.
    :returns: a ``Target``.
    :raises glance_store.exceptions.BadStoreConfiguration: an option is
        missing, or ``s3_store_host`` holds credentials (the message
        names the option and never shows the value).
    """
    host = _required(store_conf, store_name, 's3_store_host')
    if has_credentials(host):
        raise _bad(store_name, _(
            "s3_store_host holds credentials (USER:SECRET@ before the "
            "host name); write only [https://]host[:port] there and set "
            "s3_store_access_key and s3_store_secret_key."))
    access_key = _required(store_conf, store_name, 's3_store_access_key')
    secret_key = _required(store_conf, store_name, 's3_store_secret_key')
    bucket = _required(store_conf, store_name, 's3_store_bucket')
    endpoint = parse_host(host)
    if not endpoint.explicit:
        LOG.warning("S3 backend %(store)s: s3_store_host = %(host)s has "
                    "no scheme, so it means plain HTTP (s3:// locations), "
                    "as it does to upstream glance_store; write "
                    "https://%(host)s to encrypt the traffic.",
                    {'store': store_name, 'host': endpoint.netloc})
    return Target(endpoint, bucket, access_key, secret_key)


def _raised(store_name, option, value, used, why):
    LOG.warning("S3 backend %(store)s: %(option)s = %(value)s %(why)s; "
                "using %(used)s.",
                {'store': store_name, 'option': option, 'value': value,
                 'why': why, 'used': used})
    return used


def read_limits(store_conf, store_name):
    """The upload limits of a backend, raised to values that work.

    :param store_conf: the backend's option group.
    :param store_name: the backend's name, for messages.
    :returns: an ``s3_upload.UploadLimits`` in bytes; a part size below
        S3's minimum or no upload thread is raised with a WARNING.
    """
    chunk = store_conf.s3_store_large_object_chunk_size
    minimum = s3_upload.S3_MIN_PART_SIZE // units.Mi
    if chunk < minimum:
        chunk = _raised(store_name, 's3_store_large_object_chunk_size',
                        chunk, minimum,
                        _("is below S3's minimum part size (5 MB)"))
    threads = store_conf.s3_store_thread_pools
    if threads < 1:
        threads = _raised(store_name, 's3_store_thread_pools', threads, 1,
                          _("leaves no thread to send parts"))
    return s3_upload.UploadLimits(
        threshold=store_conf.s3_store_large_object_size * units.Mi,
        part_size=chunk * units.Mi, max_in_flight=threads)


def read_cacert(path, store_name):
    """``s3_store_cacert`` checked now, not at the first upload.

    :param path: the option's value.
    :param store_name: the backend's name, for messages.
    :returns: the path, or None for the system CAs.
    :raises glance_store.exceptions.BadStoreConfiguration: the file is
        missing or unreadable.
    """
    if not path:
        return None
    if not os.path.isfile(path) or not os.access(path, os.R_OK):
        problem = (_("is not readable") if os.path.isfile(path)
                   else _("does not exist"))
        raise _bad(store_name, _(
            "s3_store_cacert = %(path)s: the file %(problem)s; set it to "
            "the CA bundle that signed the endpoint's certificate, or "
            "leave it empty to use the system CAs.") % {
                'path': path, 'problem': problem})
    return path


def read_policy(store_conf, store_name):
    """The checksum policy of a backend.

    :param store_conf: the backend's option group.
    :param store_name: the backend's name, for messages.
    :returns: an ``s3_checksums.ChecksumPolicy``.
    :raises glance_store.exceptions.BadStoreConfiguration: the values do
        not make a policy, or the algorithm needs awscrt or a newer
        botocore, which is not installed.
    :raises ValueError: oslo.config's error for a value it refuses (it
        must stop the start-up, not only disable writes).
    """
    # Read outside the try: oslo.config's error for a bad value is a
    # ValueError too.
    values = [getattr(store_conf, name)
              for name in s3_checksums.OPTION_NAMES]
    try:
        policy = s3_checksums.ChecksumPolicy.from_options(*values)
        # SHA512 / XXHASH where botocore or awscrt lack them.
        policy.check_supported()
    except ValueError as e:
        raise _bad(store_name, str(e))
    if policy.needs_crt and not s3_checksums.crt_available():
        raise _bad(store_name, _(
            "s3_store_checksum_algorithm %s needs the awscrt package, "
            "which is not installed (pip install awscrt, or choose CRC32, "
            "SHA1 or SHA256).") % policy.algorithm)
    return policy


def from_target(target, store_conf, store_name, transport=None):
    """The whole settings of a backend whose target was read.

    :param target: the ``Target`` from ``read_target``.
    :param store_conf: the backend's option group.
    :param store_name: the backend's name, for messages.
    :param transport: the transport settings (an object with
        ``config_kwargs()``), or None.
    :returns: an ``S3Settings``.
    :raises glance_store.exceptions.BadStoreConfiguration: see
        ``read_cacert`` and ``read_policy``.
    """
    region = (store_conf.s3_store_region_name or
              region_from_host(target.endpoint.netloc) or DEFAULT_REGION)
    return S3Settings(
        target=target, region_name=region,
        cacert=read_cacert(store_conf.s3_store_cacert, store_name),
        addressing_style=store_conf.s3_store_bucket_url_format,
        create_bucket_on_put=store_conf.s3_store_create_bucket_on_put,
        limits=read_limits(store_conf, store_name),
        policy=read_policy(store_conf, store_name),
        check_stale_uploads=store_conf.s3_store_check_stale_uploads,
        transport=transport)


def from_conf(store_conf, store_name, transport=None):
    """Read all the settings of a backend at once.

    :param store_conf: the backend's option group.
    :param store_name: the backend's name, for messages.
    :param transport: the transport settings, or None.
    :returns: an ``S3Settings``.
    :raises glance_store.exceptions.BadStoreConfiguration: see
        ``read_target`` and ``from_target``.
    """
    return from_target(read_target(store_conf, store_name), store_conf,
                       store_name, transport)
