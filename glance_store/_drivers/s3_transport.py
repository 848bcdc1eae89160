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

"""How one S3 backend reaches its endpoint: proxies, timeouts, retries.

Every value goes in the backend's own botocore ``Config`` (see
:meth:`TransportSettings.config_kwargs`), never in the process
environment, so two backends of one Glance API can differ: one behind a
corporate proxy with long timeouts, another on the local network, direct.

Left unset, each option keeps what the store did before it existed:
botocore's proxies from the environment (``HTTP_PROXY``, ``HTTPS_PROXY``,
``NO_PROXY``), botocore's 60 second timeouts, and botocore's ``standard``
retry mode with its number of attempts (3, or ``AWS_MAX_ATTEMPTS``).
"""

import dataclasses
import typing
import urllib.parse

from oslo_config import cfg

from glance_store._drivers import s3_redact
from glance_store import exceptions
from glance_store.i18n import _

RETRY_MODES = ('legacy', 'standard', 'adaptive')
# The mode the store has always set explicitly, whatever botocore's own
# default (legacy before botocore 1.44): kept when the option is unset.
DEFAULT_RETRY_MODE = 'standard'
# botocore's default connect and read timeouts, in seconds.
BOTOCORE_TIMEOUT = 60.0
# An upper bound on s3_store_retry_max_attempts (botocore has none): it
# catches typing mistakes such as 1000.
MAX_ATTEMPTS = 100
PROXY_SCHEMES = ('http', 'https')

OPTIONS = [
    cfg.StrOpt('s3_store_http_proxy', default='', secret=True,
               help=_("""
Proxy for this backend's requests to an http:// endpoint, as a URL such
as http://proxy.example.com:3128 or http://user:password@proxy:3128.

Empty (the default): the proxy of the HTTP_PROXY environment variable,
if any, as before this option existed. When set, this backend no longer
reads HTTP_PROXY, HTTPS_PROXY or NO_PROXY, and other backends of the same
process are not affected. The value is hidden in logs (it may hold a
password).

Related options:
    * s3_store_https_proxy
""")),
    cfg.StrOpt('s3_store_https_proxy', default='', secret=True,
               help=_("""
Proxy for this backend's requests to an https:// endpoint (the proxy
opens a tunnel with CONNECT; TLS stays end to end), as a URL such as
http://proxy.example.com:3128.

Empty (the default): the proxy of the HTTPS_PROXY environment variable,
if any, as before this option existed. When set, this backend no longer
reads HTTP_PROXY, HTTPS_PROXY or NO_PROXY, and other backends of the same
process are not affected. The value is hidden in logs (it may hold a
password).

Related options:
    * s3_store_http_proxy
""")),
    cfg.FloatOpt('s3_store_connect_timeout', default=BOTOCORE_TIMEOUT,
                 help=_("""
Seconds to wait for a connection to the endpoint (or to the proxy) to be
established before the attempt fails. The default is botocore's.
Each retry (s3_store_retry_max_attempts) waits this long again.

Related options:
    * s3_store_read_timeout
    * s3_store_retry_max_attempts
""")),
    cfg.FloatOpt('s3_store_read_timeout', default=BOTOCORE_TIMEOUT,
                 help=_("""
Seconds to wait for the endpoint to answer, or to send the next bytes of
an answer, before the attempt fails. The default is botocore's. An
endpoint that accepts connections and never answers makes an upload fail
after about s3_store_read_timeout x s3_store_retry_max_attempts.

Related options:
    * s3_store_connect_timeout
    * s3_store_retry_max_attempts
""")),
    cfg.IntOpt('s3_store_retry_max_attempts', default=None,
               help=_("""
How many times at most a request is sent, the first time included
(1 = never retried). Unset (the default): botocore's number for the retry
mode (3 for standard and adaptive, 5 for legacy) or AWS_MAX_ATTEMPTS, as
before this option existed. A checksum mismatch (BadDigest) is never
retried.

Related options:
    * s3_store_retry_mode
""")),
    cfg.StrOpt('s3_store_retry_mode', default=DEFAULT_RETRY_MODE,
               choices=(
                   ('legacy', _("botocore's original retries")),
                   ('standard', _('retries throttling and transient errors '
                                  'with exponential back-off; what the '
                                  'store has always used')),
                   ('adaptive', _('standard, and slows this backend down '
                                  'on the client side when throttled')),
               ),
               help=_("""
Which botocore retry strategy this backend uses. The default, standard,
is what the store has always set, whatever botocore's own default (legacy
before botocore 1.44).

Related options:
    * s3_store_retry_max_attempts
""")),
]


def _bad(store_name, option, value, why):
    return exceptions.BadStoreConfiguration(
        store_name=store_name,
        reason=_("%(option)s = %(value)s: %(why)s") % {
            'option': option, 'value': value, 'why': why})


def _read(conf, store_name, option):
    """An option's value; a value oslo.config refuses names the option."""
    try:
        return getattr(conf, option)
    except ValueError as e:
        raise exceptions.BadStoreConfiguration(
            store_name=store_name,
            reason=_("%(option)s: %(error)s") % {'option': option,
                                                 'error': e})


def _proxy(conf, store_name, option):
    url = (_read(conf, store_name, option) or '').strip()
    if not url:
        return None
    try:
        parsed = urllib.parse.urlsplit(url)
        # ``port`` raises ValueError for a port that is not a number.
        usable = (parsed.scheme in PROXY_SCHEMES and bool(parsed.hostname)
                  and parsed.port != 0)
    except ValueError as e:
        raise _bad(store_name, option, mask_password(url), str(e))
    if not usable:
        raise _bad(store_name, option, mask_password(url), _(
            "not a proxy URL; write it as http://host:port (or "
            "http://user:password@host:port), or leave it empty to use "
            "the environment's proxy"))
    # The password, when there is one, stays out of every log record.
    s3_redact.register_keys(None, parsed.password)
    return url


def _timeout(conf, store_name, option):
    value = _read(conf, store_name, option)
    if value is None or value <= 0:
        raise _bad(store_name, option, value, _(
            "must be a number of seconds above 0 (botocore's default is "
            "%d)") % BOTOCORE_TIMEOUT)
    return float(value)


def _attempts(conf, store_name):
    option = 's3_store_retry_max_attempts'
    value = _read(conf, store_name, option)
    if value is not None and not 1 <= value <= MAX_ATTEMPTS:
        raise _bad(store_name, option, value, _(
            "must be between 1 (no retry) and %d, or unset for "
            "botocore's default") % MAX_ATTEMPTS)
    return value


def mask_password(url):
    """A proxy URL with its password (if any) replaced with ``***``.

    :param url: a URL.
    :returns: the URL to show.
    """
    try:
        parsed = urllib.parse.urlsplit(url)
        password = parsed.password
    except ValueError:
        return url
    if not password:
        return url
    netloc = parsed.netloc.replace(':%s@' % password,
                                   ':%s@' % s3_redact.MASK, 1)
    return urllib.parse.urlunsplit(parsed._replace(netloc=netloc))


@dataclasses.dataclass(frozen=True)
class TransportSettings(object):
    """One backend's proxies, timeouts and retries, checked.

    ``http_proxy`` and ``https_proxy`` are None to use the environment's;
    ``max_attempts`` is None for botocore's default.
    """

    http_proxy: typing.Optional[str] = None
    https_proxy: typing.Optional[str] = None
    connect_timeout: float = BOTOCORE_TIMEOUT
    read_timeout: float = BOTOCORE_TIMEOUT
    max_attempts: typing.Optional[int] = None
    retry_mode: str = DEFAULT_RETRY_MODE

    @classmethod
    def from_conf(cls, conf, store_name):
        """Read and check a backend's transport options.

        :param conf: the backend's option group (``store.store_conf``).
        :param store_name: the backend's name, for errors.
        :returns: a ``TransportSettings``.
        :raises glance_store.exceptions.BadStoreConfiguration: naming the
            option whose value cannot be used.
        """
        mode = _read(conf, store_name, 's3_store_retry_mode')
        return cls(
            http_proxy=_proxy(conf, store_name, 's3_store_http_proxy'),
            https_proxy=_proxy(conf, store_name, 's3_store_https_proxy'),
            connect_timeout=_timeout(conf, store_name,
                                     's3_store_connect_timeout'),
            read_timeout=_timeout(conf, store_name, 's3_store_read_timeout'),
            max_attempts=_attempts(conf, store_name),
            retry_mode=mode or DEFAULT_RETRY_MODE)

    @property
    def proxies(self):
        """botocore's ``proxies``: endpoint scheme -> proxy URL, or None.

        None leaves botocore to read the environment's proxies.
        """
        proxies = {scheme: url for scheme, url in (
            ('http', self.http_proxy), ('https', self.https_proxy)) if url}
        return proxies or None

    def retries(self):
        """botocore's ``retries``: the mode, and the attempts if set."""
        retries = {'mode': self.retry_mode}
        if self.max_attempts is not None:
            retries['total_max_attempts'] = self.max_attempts
        return retries

    def config_kwargs(self):
        """Keyword arguments of ``botocore.config.Config`` for them.

        :returns: a dict with ``connect_timeout``, ``read_timeout``,
            ``retries`` and, when a proxy is set, ``proxies``.
        """
        kwargs = {'connect_timeout': self.connect_timeout,
                  'read_timeout': self.read_timeout,
                  'retries': self.retries()}
        if self.proxies:
            kwargs['proxies'] = self.proxies
        return kwargs

    def describe(self):
        """One line for logs and the check tool, passwords masked.

        :returns: a string.
        """
        if self.proxies:
            proxy = ', '.join('%s via %s' % (scheme, mask_password(url))
                              for scheme, url in self.proxies.items())
        else:
            proxy = _("proxies from the environment")
        attempts = (str(self.max_attempts) if self.max_attempts is not None
                    else _("botocore's default"))
        return _("%(proxy)s; connect timeout %(connect)g s, read timeout "
                 "%(read)g s; retries %(mode)s, attempts %(attempts)s") % {
            'proxy': proxy, 'connect': self.connect_timeout,
            'read': self.read_timeout, 'mode': self.retry_mode,
            'attempts': attempts}
