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

"""Read-only image store for images served by an HTTP(S) server.

Locations are the image's URL, ``http://[user:password@]host[:port]/path``
or ``https://...``.  Redirects are followed by the store itself (at most
``MAX_REDIRECTS``), so that each hop is checked and credentials are not
sent to another host.
"""

import logging
import socket
import threading
import time
import urllib.parse

from oslo_config import cfg
from oslo_utils import units
import requests
from requests import adapters
import urllib3
from urllib3 import connection

from glance_store import backend
from glance_store import capabilities
from glance_store import driver
from glance_store import exceptions
from glance_store.i18n import _
from glance_store import location

LOG = logging.getLogger(__name__)

MAX_REDIRECTS = 5
_REDIRECT_CODES = (301, 302, 303, 307, 308)
_SCHEMES = ('http', 'https')
# The largest Content-Length taken as a size (S3's and most servers'
# object size limits are far below): anything longer is a broken server.
MAX_CONTENT_LENGTH = 2 ** 63 - 1
# While the body streams, at least this much must arrive within each
# ``http_store_read_timeout`` (so a server trickling a byte at a time
# cannot hold a worker for days).
PROGRESS_BYTES = 64 * units.Ki

_HTTP_OPTS = [
    cfg.StrOpt('https_ca_certificates_file',
               help=_("""
CA bundle (PEM file) used to verify the certificates of HTTPS servers
images are read from.

When set, certificates are always verified against it, whatever
``https_insecure`` says. When unset, ``https_insecure`` decides.
""")),
    cfg.BoolOpt('https_insecure',
                default=True,
                help=_("""
Do not verify the certificate of HTTPS servers images are read from.

Only used when ``https_ca_certificates_file`` is not set. Set it to False
to verify certificates against the system's CA bundle.
""")),
    cfg.DictOpt('http_proxy_information',
                default={},
                help=_("""
Proxies to reach the image servers through, by URL scheme.

A comma-separated list of ``scheme:proxy_url`` pairs, for example
``http:http://proxy.example.com:3128,https:http://proxy.example.com:3128``.
Empty by default: the server is contacted directly (or through the proxy
given by the environment).
""")),
    cfg.FloatOpt('http_store_read_timeout',
                 default=60.0,
                 min=0.1,
                 help=_("""
Seconds to wait for an image's HTTP server before giving up.

Applies to connecting, to the response headers, which must all arrive
within it, and to the body: within each such period the server must
send at least 64 KiB (or the rest of the image). A server that stops
answering or trickles bytes then makes ``get`` fail with
``RemoteServiceUnavailable`` and ``get_size`` with ``BadStoreUri``
(Glance: "Invalid location"), both naming the URL, instead of holding
an API worker for good. The default, 60 seconds, is far beyond what a
healthy server takes.
""")),
]


def _bad_uri(reason):
    LOG.info("Malformed HTTP store URI: %s", reason)
    return exceptions.BadStoreUri(
        message=_("Malformed HTTP store URI: %s") % reason)


class StoreLocation(location.StoreLocation):
    """An ``http(s)://[user:password@]host[:port]/path`` location.

    ``user`` and ``password`` are kept as written in the URI (percent
    encoded) so that ``get_uri`` gives the same URI back; they never
    appear in logs or messages (see ``safe_uri``).
    """

    def process_specs(self):
        self.scheme = self.specs.get('scheme', 'http')
        self.netloc = self.specs['netloc']
        self.user = self.specs.get('user')
        self.password = self.specs.get('password')
        self.path = self.specs.get('path', '')

    def _get_credstring(self):
        if self.user:
            return '%s:%s@' % (self.user, self.password)
        return ''

    def get_uri(self):
        return "%s://%s%s%s" % (self.scheme, self._get_credstring(),
                                self.netloc, self.path)

    def safe_uri(self):
        """The URI without its credentials, for requests and logs."""
        return "%s://%s%s" % (self.scheme, self.netloc, self.path)

    def auth(self):
        """``(user, password)`` for HTTP basic auth, or None."""
        if not self.user:
            return None
        return (urllib.parse.unquote(self.user),
                urllib.parse.unquote(self.password or ''))

    def parse_uri(self, uri):
        if not isinstance(uri, str):
            raise _bad_uri(_("the URI is not a string"))
        self.validate_schemas(uri, ('https://', 'http://'))
        try:
            pieces = urllib.parse.urlsplit(uri)
        except ValueError:
            raise _bad_uri(_("the URI cannot be parsed"))
        if pieces.scheme not in _SCHEMES:
            raise _bad_uri(_("the scheme must be http or https"))

        netloc = pieces.netloc
        user = password = None
        if '@' in netloc:
            creds, netloc = netloc.rsplit('@', 1)
            user, sep, password = creds.partition(':')
            if not sep or not user:
                raise _bad_uri(_("credentials must be written as "
                                 "user:password@host"))
        if not netloc:
            raise _bad_uri(_("no host given"))
        try:
            host_part = urllib.parse.urlsplit('//' + netloc)
            hostname = host_part.hostname
            host_part.port  # raises ValueError for a bad port
        except ValueError:
            raise _bad_uri(_("the port is not a number from 0 to 65535"))
        if not hostname:
            raise _bad_uri(_("no host given"))

        path = pieces.path
        if pieces.query:
            path = '%s?%s' % (path, pieces.query)
        self.scheme = pieces.scheme
        self.netloc = netloc
        self.user = user
        self.password = password
        self.path = path


class ResponseIndexable(backend.Indexable):
    """The chunks of an HTTP response, with its size."""

    def another(self):
        try:
            return next(self.wrapped)
        except StopIteration:
            return b''


class ResponseChunks(object):
    """Iterator over the body of a streamed response, as sent.

    The bytes are the ones the server sent: a ``Content-Encoding`` is not
    decoded (the image is what the URL serves, as upstream).  With a
    known ``size`` no more than ``size`` bytes are yielded, and a body
    that ends before is an error; at least ``PROGRESS_BYTES`` must arrive
    within each ``timeout`` seconds.  The response (and its session) is
    closed when the body is exhausted, when reading it fails and when
    ``close()`` is called.

    :param session: the ``requests.Session`` to close at the end.
    :param response: the streamed ``requests.Response``.
    :param chunk_size: the most bytes one chunk holds.
    :param url: the URL (without credentials), for messages.
    :param size: the Content-Length, 0 when unknown.
    :param timeout: seconds allowed for each ``PROGRESS_BYTES``.
    """

    def __init__(self, session, response, chunk_size, url, size=0,
                 timeout=60.0):
        self.session = session
        self.response = response
        self.url = url
        self.size = size
        self.timeout = timeout
        self.chunk_size = chunk_size
        self.received = 0
        raw = response.raw
        self._read = getattr(raw, 'read1', None) or raw.read
        self._closed = False

    def __iter__(self):
        return self

    def _fail(self, reason):
        self.close()
        LOG.error(reason)
        raise exceptions.RemoteServiceUnavailable(message=reason)

    def _read_chunk(self):
        """Up to ``chunk_size`` bytes (fewer at the end); b'' at the end."""
        want = self.chunk_size
        if self.size:
            want = min(want, self.size - self.received)
        pieces = []
        got = progress = 0
        deadline = time.monotonic() + self.timeout
        while got < want:
            piece = self._read(want - got, decode_content=False)
            if not piece:
                break
            pieces.append(piece)
            got += len(piece)
            progress += len(piece)
            if progress >= PROGRESS_BYTES:
                progress = 0
                deadline = time.monotonic() + self.timeout
            elif got < want and time.monotonic() > deadline:
                self._fail(_("Reading the image from %(url)s failed: less "
                             "than %(min)d bytes in %(timeout)s seconds "
                             "(http_store_read_timeout)")
                           % {'url': self.url, 'min': PROGRESS_BYTES,
                              'timeout': self.timeout})
        return b''.join(pieces)

    def __next__(self):
        if self._closed:
            raise StopIteration
        try:
            chunk = self._read_chunk()
        except (requests.exceptions.RequestException,
                urllib3.exceptions.HTTPError, OSError) as e:
            self._fail(_("Reading the image from %(url)s failed: %(error)s")
                       % {'url': self.url, 'error': e})
        except BaseException:
            self.close()
            raise
        self.received += len(chunk)
        if chunk:
            if self.size and self.received >= self.size:
                # Never more than the size reported: stop here, whatever
                # else the server would send.
                self.close()
            return chunk
        if self.size and self.received < self.size:
            self._fail(_("Reading the image from %(url)s failed: the "
                         "server sent %(got)d of the %(size)d bytes it "
                         "announced") % {'url': self.url,
                                         'got': self.received,
                                         'size': self.size})
        self.close()
        raise StopIteration

    def close(self):
        """Close the response and the session (once).

        :returns: None
        """
        if self._closed:
            return
        self._closed = True
        try:
            self.response.close()
        finally:
            self.session.close()


def _cut(sock):
    """Shut ``sock`` down so that a read blocked on it returns at once."""
    try:
        # The plain socket's shutdown, also for TLS sockets: nothing is
        # sent, the reader just sees the end.
        socket.socket.shutdown(sock, socket.SHUT_RDWR)
    except OSError:
        pass


class _HeadDeadline(object):
    """Connection mixin: the response head must arrive within the timeout.

    The socket timeout bounds each wait for a byte; a server sending its
    status line and headers a byte at a time would pass every such wait.
    The read timeout the pool sets on the connection is used here as a
    deadline for the whole head: when it passes, the socket is shut down
    and the response fails with a timeout (requests' ``ReadTimeout``).
    """

    def getresponse(self, *args, **kwargs):
        limit = self.timeout
        if self.sock is None or not isinstance(limit, (int, float)):
            return super().getresponse(*args, **kwargs)
        lock = threading.Lock()
        state = {'done': False, 'expired': False}

        def expire(sock=self.sock):
            with lock:
                if not state['done']:
                    state['expired'] = True
                    _cut(sock)

        timer = threading.Timer(limit, expire)
        timer.daemon = True
        timer.start()
        response = None
        try:
            response = super().getresponse(*args, **kwargs)
        except Exception:
            if not state['expired']:
                raise
        finally:
            with lock:
                state['done'] = True
            timer.cancel()
        if state['expired']:
            # The head was cut short (http.client takes the end of the
            # stream for the end of the headers): never use it.
            if response is not None:
                response.close()
            raise TimeoutError("no complete response head within %s "
                               "seconds" % limit)
        return response


class _HTTPConnection(_HeadDeadline, connection.HTTPConnection):
    pass


class _HTTPSConnection(_HeadDeadline, connection.HTTPSConnection):
    pass


class _HTTPPool(urllib3.HTTPConnectionPool):
    ConnectionCls = _HTTPConnection


class _HTTPSPool(urllib3.HTTPSConnectionPool):
    ConnectionCls = _HTTPSConnection


_POOLS = {'http': _HTTPPool, 'https': _HTTPSPool}


class DeadlineAdapter(adapters.HTTPAdapter):
    """requests' adapter, with a deadline for each response head.

    Direct connections and those through an HTTP(S) proxy use
    connections that give up when the whole response head has not
    arrived within the read timeout (SOCKS proxies keep urllib3's own).
    """

    def init_poolmanager(self, *args, **kwargs):
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = _POOLS

    def proxy_manager_for(self, proxy, **proxy_kwargs):
        """The pool manager for ``proxy``, with the deadline connections.

        :param proxy: the proxy URL.
        :param proxy_kwargs: passed to requests' own method.
        :returns: a urllib3 ``ProxyManager``.
        """
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        if not proxy.lower().startswith('socks'):
            manager.pool_classes_by_scheme = _POOLS
        return manager


class Store(driver.Store):
    """The ``http`` store: read images from HTTP(S) URLs."""

    _CAPABILITIES = (capabilities.BitMasks.READ_ACCESS |
                     capabilities.BitMasks.DRIVER_REUSABLE)
    OPTIONS = _HTTP_OPTS
    MULTI_BACKEND_SUPPORT = True

    def __init__(self, conf, backend=None):
        super(Store, self).__init__(conf, backend=backend)
        if self.backend_group:
            # Glance maps a location to its backend by this prefix: it
            # matches http:// and https:// URLs alike.
            self._url_prefix = 'http'

    def get_schemes(self):
        return _SCHEMES

    @capabilities.check
    def get(self, location, offset=0, chunk_size=None, context=None):
        """``(iterator, size)`` of the image at an HTTP(S) URL.

        The size is the GET's Content-Length; without one (a chunked or
        close-delimited body) it is the one a HEAD of the same URL gives,
        as ``get_size`` reports it. The iterator yields no more than that
        size and fails when the body ends before it; with no size at all
        it yields the body to its end.

        :param location: the ``Location`` of the image
        :param offset: unused (ranged reads are not supported)
        :param chunk_size: unused (the store's ``READ_CHUNKSIZE`` is used)
        :param context: the request context (unused)
        :returns: ``(iterator, size)``, size 0 when unknown
        :raises: ``RemoteServiceUnavailable`` when the server cannot be
            reached or fails, ``NotFound`` on HTTP 404, ``BadStoreUri`` on
            other errors
        """
        session, resp, loc, length = self._query(
            location.store_location, 'GET')
        if length is None:
            length = self._head_size(loc)
        timeout = self.store_conf.http_store_read_timeout
        chunks = ResponseChunks(session, resp, self.READ_CHUNKSIZE,
                                loc.safe_uri(), size=length or 0,
                                timeout=timeout)
        return ResponseIndexable(chunks, length or 0), length or 0

    def get_size(self, location, context=None):
        """The Content-Length the server gives for the image URL.

        :param location: the ``Location`` of the image
        :param context: the request context (unused)
        :returns: the size in bytes, 0 when the server does not say
        :raises: ``BadStoreUri`` when the server cannot be reached (Glance
            answers "Invalid location"), ``NotFound`` on HTTP 404
        """
        return self._size(location.store_location) or 0

    def _size(self, loc):
        """The HEAD's Content-Length for ``loc``, None when not given."""
        session, resp, _loc, length = self._query(
            loc, 'HEAD', unreachable=exceptions.BadStoreUri)
        try:
            resp.close()
        finally:
            session.close()
        return length

    def _head_size(self, loc):
        """The size a HEAD gives, for a GET that gave none; None if none.

        A server that does not answer HEAD (or fails it) leaves the size
        unknown: the GET already succeeded.
        """
        try:
            return self._size(loc)
        except exceptions.GlanceStoreException as e:
            LOG.debug("HTTP store: no size from a HEAD of %(url)s: %(e)s",
                      {'url': loc.safe_uri(), 'e': e})
            return None

    @driver.back_compat_add
    @capabilities.check
    def add(self, image_id, image_file, image_size, hashing_algo,
            context=None, verifier=None):
        """Not possible: the store is read-only (refused by the check)."""
        raise exceptions.StoreAddDisabled()

    @capabilities.check
    def delete(self, location, context=None):
        """Not possible: the store is read-only (refused by the check)."""
        raise exceptions.StoreDeleteNotSupported()

    # -- requests --------------------------------------------------------

    def _session(self):
        conf = self.store_conf
        session = requests.Session()
        # The image is the bytes the URL serves: ask for them as they are
        # (requests offers gzip by default); a Content-Encoding a server
        # sends anyway is kept, not decoded (see ResponseChunks).
        session.headers['Accept-Encoding'] = 'identity'
        deadline = DeadlineAdapter()
        session.mount('http://', deadline)
        session.mount('https://', deadline)
        ca_file = conf.https_ca_certificates_file
        session.verify = ca_file if ca_file else not conf.https_insecure
        proxies = conf.http_proxy_information
        if proxies:
            session.proxies.update(proxies)
        return session

    def _request(self, session, verb, loc,
                 unreachable=exceptions.RemoteServiceUnavailable):
        url = loc.safe_uri()
        timeout = self.store_conf.http_store_read_timeout
        LOG.debug("HTTP store: %(verb)s %(url)s", {'verb': verb, 'url': url})
        start = time.monotonic()
        try:
            # verify and proxies are passed again per request: requests
            # lets REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE override the
            # session's verify setting otherwise.
            return session.request(verb, url, auth=loc.auth(), stream=True,
                                   allow_redirects=False, timeout=timeout,
                                   verify=session.verify,
                                   proxies=dict(session.proxies))
        except (requests.exceptions.ConnectionError,
                requests.exceptions.Timeout) as e:
            if (isinstance(e, requests.exceptions.Timeout) or
                    time.monotonic() - start >= timeout):
                reason = (_("The HTTP server of the image at %(url)s did "
                            "not answer within %(timeout)s seconds "
                            "(http_store_read_timeout).")
                          % {'url': url, 'timeout': timeout})
            else:
                reason = (_("The HTTP server of the image at %(url)s cannot "
                            "be reached: %(error)s") % {'url': url,
                                                        'error': e})
            LOG.warning(reason)
            raise unreachable(message=reason)
        except requests.exceptions.RequestException as e:
            reason = (_("The image URL %(url)s cannot be requested: "
                        "%(error)s") % {'url': url, 'error': e})
            LOG.info(reason)
            raise exceptions.BadStoreUri(message=reason)
        except ValueError:
            # requests parses a redirect's Location even when it does not
            # follow it: a malformed one raises here.
            reason = (_("The image URL %(url)s answered with a malformed "
                        "URL (a redirect's Location).") % {'url': url})
            LOG.info(reason)
            raise exceptions.BadStoreUri(message=reason) from None

    def _redirect_location(self, loc, resp):
        """The StoreLocation a redirect response points to."""
        url = loc.safe_uri()
        target = resp.headers.get('location')
        if not target:
            raise exceptions.BadStoreUri(
                message=_("%(url)s answered a redirect (HTTP %(status)d) "
                          "without a Location header.")
                % {'url': url, 'status': resp.status_code})
        new_loc = StoreLocation({}, self.conf,
                                backend_group=self.backend_group)
        try:
            new_loc.parse_uri(urllib.parse.urljoin(url, target))
        except (ValueError, exceptions.BadStoreUri):
            reason = (_("%(url)s redirects to a malformed URL (HTTP "
                        "%(status)d).") % {'url': url,
                                           'status': resp.status_code})
            LOG.info(reason)
            raise exceptions.BadStoreUri(message=reason) from None
        if new_loc.user is None:
            old = urllib.parse.urlsplit(url)
            new = urllib.parse.urlsplit(new_loc.safe_uri())
            if (old.scheme, old.netloc) == (new.scheme, new.netloc):
                # Same server: keep the credentials, as a browser would.
                new_loc.user, new_loc.password = loc.user, loc.password
        LOG.debug("HTTP store: %(url)s redirects to %(new)s",
                  {'url': url, 'new': new_loc.safe_uri()})
        return new_loc

    @staticmethod
    def _check_status(resp, url):
        status = resp.status_code
        if 200 <= status < 300:
            return
        if status == 404:
            reason = _("No image at %s (HTTP 404).") % url
            LOG.debug(reason)
            raise exceptions.NotFound(message=reason)
        if status >= 500:
            reason = (_("The HTTP server of the image at %(url)s failed "
                        "with HTTP %(status)d; try again later.")
                      % {'url': url, 'status': status})
            LOG.warning(reason)
            raise exceptions.RemoteServiceUnavailable(message=reason)
        reason = (_("The image URL %(url)s answered HTTP %(status)d.")
                  % {'url': url, 'status': status})
        LOG.info(reason)
        raise exceptions.BadStoreUri(message=reason)

    @staticmethod
    def _content_length(resp, url):
        """The response's Content-Length; None when missing or invalid."""
        value = resp.headers.get('content-length')
        if value is None:
            return None
        try:
            length = int(value)
        except ValueError:
            length = -1
        if length < 0:
            LOG.warning("%(url)s sent an invalid Content-Length %(value)r",
                        {'url': url, 'value': value[:40]})
            return None
        if length > MAX_CONTENT_LENGTH:
            reason = (_("%(url)s announced an impossible Content-Length "
                        "(%(digits)d digits).")
                      % {'url': url, 'digits': len(value.strip())})
            LOG.warning(reason)
            raise exceptions.BadStoreUri(message=reason)
        return length

    def _query(self, loc, verb,
               unreachable=exceptions.RemoteServiceUnavailable):
        """Send ``verb`` to the ``StoreLocation`` ``loc``, following redirects.

        ``unreachable`` is the exception raised when the server cannot be
        reached.

        Returns ``(session, response, final_loc, content_length)``, the
        length None when the response gives none; the caller closes the
        response and the session.
        """
        session = self._session()
        try:
            resp, loc = self._follow(session, verb, loc, unreachable)
            url = loc.safe_uri()
            try:
                self._check_status(resp, url)
                length = self._content_length(resp, url)
            except Exception:
                resp.close()
                raise
            return session, resp, loc, length
        except BaseException:
            session.close()
            raise

    def _follow(self, session, verb, loc, unreachable):
        """``(response, loc)`` of the first answer that is no redirect."""
        first = loc.safe_uri()
        redirects = 0
        while True:
            resp = self._request(session, verb, loc, unreachable=unreachable)
            if resp.status_code not in _REDIRECT_CODES:
                return resp, loc
            resp.close()
            if redirects >= MAX_REDIRECTS:
                LOG.warning("HTTP store: more than %(max)d redirects for "
                            "%(url)s", {'max': MAX_REDIRECTS, 'url': first})
                raise exceptions.MaxRedirectsExceeded(
                    redirects=MAX_REDIRECTS)
            loc = self._redirect_location(loc, resp)
            redirects += 1
