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

"""Unit tests of the http store in single-store mode."""

import base64
import gzip
import io
import socketserver
import threading
import time
from unittest import mock

import fixtures
from oslo_utils import units
import requests
import requests_mock
from requests_mock.contrib import fixture as rm_fixture
import urllib3

from glance_store._drivers import http
from glance_store import backend
from glance_store import capabilities
from glance_store import exceptions
from glance_store import location
from glance_store.tests import base

BitMasks = capabilities.BitMasks
URL = 'http://images.example.com/path/image.img'


def basic_auth(user, password):
    token = base64.b64encode(('%s:%s' % (user, password)).encode())
    return 'Basic ' + token.decode()


class HttpStoreTestCase(base.StoreBaseTest):

    def setUp(self):
        super().setUp()
        self.config(stores=['http'], default_store='http')
        self.store = http.Store(self.conf)
        self.store.configure()
        self.register_store_schemes(self.store, 'http')
        self.mock = self.useFixture(rm_fixture.Fixture())
        # A GET without Content-Length makes the store ask a HEAD for the
        # size: by default these servers do not answer HEAD.
        self.mock.head(requests_mock.ANY, status_code=405)

    def _loc(self, uri=URL):
        return location.get_location_from_uri(uri, conf=self.conf)


class TestStoreLocation(HttpStoreTestCase):

    def _parse(self, uri):
        loc = http.StoreLocation({}, self.conf)
        loc.parse_uri(uri)
        return loc

    def test_plain(self):
        loc = self._parse(URL)
        self.assertEqual('http', loc.scheme)
        self.assertEqual('images.example.com', loc.netloc)
        self.assertEqual('/path/image.img', loc.path)
        self.assertIsNone(loc.user)
        self.assertIsNone(loc.auth())
        self.assertEqual(URL, loc.get_uri())
        self.assertEqual(URL, loc.safe_uri())

    def test_credentials_port_and_query(self):
        uri = 'https://us%40er:p%3Ass@host:8443/a/b?sig=1&x=2'
        loc = self._parse(uri)
        self.assertEqual('https', loc.scheme)
        self.assertEqual('host:8443', loc.netloc)
        self.assertEqual('us%40er', loc.user)
        self.assertEqual('p%3Ass', loc.password)
        self.assertEqual('/a/b?sig=1&x=2', loc.path)
        self.assertEqual(uri, loc.get_uri())
        self.assertEqual('https://host:8443/a/b?sig=1&x=2', loc.safe_uri())
        self.assertEqual(('us@er', 'p:ss'), loc.auth())

    def test_empty_password(self):
        loc = self._parse('http://user:@host/x')
        self.assertEqual(('user', ''), loc.auth())

    def test_specs(self):
        loc = http.StoreLocation({'netloc': 'h', 'path': '/p', 'user': 'u',
                                  'password': 'pw', 'scheme': 'https'},
                                 self.conf)
        self.assertEqual('https://u:pw@h/p', loc.get_uri())
        self.assertEqual('https://h/p', loc.safe_uri())

    def test_malformed(self):
        for uri in ('http://', 'http:///path', 'http://user:pass@/path',
                    'http://host:abc/x', 'http://host:99999/x',
                    'http://user@host/x', 'http://:pw@host/x',
                    'http://:80/x', 'ftp://host/x', 'https//host/x',
                    'http://[::1/x'):
            self.assertRaises(exceptions.BadStoreUri, self._parse, uri)

    def test_credentials_never_in_the_message(self):
        e = self.assertRaises(exceptions.BadStoreUri, self._parse,
                              'http://user:secret@host:port/x')
        self.assertNotIn('secret', e.msg)

    def test_not_a_string(self):
        self.assertRaises(exceptions.BadStoreUri, self._parse, 42)


class TestStore(HttpStoreTestCase):

    def test_capabilities_and_options(self):
        self.assertTrue(self.store.is_capable(BitMasks.READ_ACCESS,
                                              BitMasks.DRIVER_REUSABLE))
        self.assertFalse(self.store.is_capable(BitMasks.WRITE_ACCESS))
        self.assertEqual(('http', 'https'), self.store.get_schemes())
        opts = {o.name: o for o in http.Store.OPTIONS}
        self.assertIsNone(opts['https_ca_certificates_file'].default)
        self.assertTrue(opts['https_insecure'].default)
        self.assertEqual({}, opts['http_proxy_information'].default)

    def test_get(self):
        body = b'x' * 100
        self.mock.get(URL, content=body,
                      headers={'Content-Length': '100'})
        it, size = self.store.get(self._loc())
        self.assertEqual(100, size)
        self.assertEqual(100, len(it))
        self.assertEqual(body, b''.join(it))
        req = self.mock.request_history[0]
        self.assertTrue(req.stream)
        self.assertNotIn('Authorization', req.headers)

    def test_get_in_chunks_closes_the_response(self):
        self.store.READ_CHUNKSIZE = 10
        self.mock.get(URL, content=b'a' * 25)
        it, size = self.store.get(self._loc())
        chunks = it.wrapped
        self.assertEqual([b'a' * 10, b'a' * 10, b'a' * 5], list(it))
        self.assertTrue(chunks._closed)
        self.assertEqual([], list(chunks))

    def test_another(self):
        self.mock.get(URL, content=b'abc')
        it, size = self.store.get(self._loc())
        self.assertEqual(b'abc', it.another())
        self.assertEqual(b'', it.another())

    def test_close_before_reading(self):
        self.mock.get(URL, content=b'abc')
        it, size = self.store.get(self._loc())
        chunks = it.wrapped
        with mock.patch.object(chunks.response, 'close') as close, \
                mock.patch.object(chunks.session, 'close') as s_close:
            it.close()
            it.close()
        close.assert_called_once_with()
        s_close.assert_called_once_with()
        self.assertRaises(StopIteration, next, chunks)

    def test_get_through_the_api(self):
        self.mock.get(URL, content=b'hello')
        it, size = backend.get_from_backend(URL)
        self.assertEqual(b'hello', b''.join(it))

    def test_credentials_sent_as_basic_auth(self):
        self.mock.get(URL, content=b'x')
        uri = URL.replace('http://', 'http://me:s%40cret@')
        it, size = self.store.get(self._loc(uri))
        self.assertEqual(b'x', b''.join(it))
        req = self.mock.request_history[0]
        self.assertEqual(basic_auth('me', 's@cret'),
                         req.headers['Authorization'])
        self.assertEqual(URL, req.url)

    def test_no_content_length_takes_the_head_size(self):
        # A chunked (or close-delimited) GET gives no size: the HEAD's is
        # the one get_size reported, and the iterator stops there.
        self.mock.get(URL, content=b'abcdefgh')
        self.mock.head(URL, headers={'Content-Length': '5'})
        it, size = self.store.get(self._loc())
        self.assertEqual(5, size)
        self.assertEqual(5, len(it))
        self.assertEqual(b'abcde', b''.join(it))
        self.assertEqual(['GET', 'HEAD'],
                         [r.method for r in self.mock.request_history])

    def test_no_size_anywhere(self):
        self.mock.get(URL, content=b'abcdefgh')
        self.mock.head(URL, status_code=405)
        it, size = self.store.get(self._loc())
        self.assertEqual(0, size)
        self.assertEqual(b'abcdefgh', b''.join(it))

    def test_empty_image_needs_no_head(self):
        self.mock.get(URL, content=b'', headers={'Content-Length': '0'})
        it, size = self.store.get(self._loc())
        self.assertEqual((0, b''), (size, b''.join(it)))
        self.assertEqual(['GET'],
                         [r.method for r in self.mock.request_history])

    def test_invalid_content_length(self):
        for value in ('many', '-5'):
            self.mock.reset()
            self.mock.head(URL, headers={'Content-Length': value})
            self.mock.get(URL, content=b'xyz',
                          headers={'Content-Length': value})
            self.assertEqual(0, self.store.get_size(self._loc()))
            it, size = self.store.get(self._loc())
            self.assertEqual((0, b'xyz'), (size, b''.join(it)))

    def test_redirects(self):
        self.store.READ_CHUNKSIZE = 1024
        for code in (301, 302, 303, 307, 308):
            target = 'http://images.example.com/r%d' % code
            self.mock.get(URL, status_code=code,
                          headers={'Location': target})
            self.mock.get(target, content=b'moved',
                          headers={'Content-Length': '5'})
            it, size = self.store.get(self._loc())
            self.assertEqual(5, size)
            self.assertEqual(b'moved', b''.join(it))
            self.assertEqual([URL, target],
                             [r.url for r in self.mock.request_history[-2:]])

    def test_relative_redirect_keeps_credentials(self):
        uri = 'http://me:pw@images.example.com/a/b'
        self.mock.get('http://images.example.com/a/b', status_code=302,
                      headers={'Location': '../c'})
        self.mock.get('http://images.example.com/c', content=b'ok')
        it, size = self.store.get(self._loc(uri))
        self.assertEqual(b'ok', b''.join(it))
        second = self.mock.request_history[1]
        self.assertEqual(basic_auth('me', 'pw'),
                         second.headers['Authorization'])

    def test_redirect_to_other_host_drops_credentials(self):
        uri = 'http://me:pw@images.example.com/a'
        self.mock.get('http://images.example.com/a', status_code=301,
                      headers={'Location': 'https://cdn.example.net/a'})
        self.mock.get('https://cdn.example.net/a', content=b'ok')
        it, size = self.store.get(self._loc(uri))
        self.assertEqual(b'ok', b''.join(it))
        second = self.mock.request_history[1]
        self.assertNotIn('Authorization', second.headers)

    def test_redirect_with_its_own_credentials(self):
        self.mock.get(URL, status_code=302,
                      headers={'Location': 'http://u2:p2@other/a'})
        self.mock.get('http://other/a', content=b'ok')
        it, size = self.store.get(self._loc())
        self.assertEqual(b'ok', b''.join(it))
        self.assertEqual(basic_auth('u2', 'p2'),
                         self.mock.request_history[1].headers[
                             'Authorization'])

    def _chain(self, hops, method='GET'):
        urls = [URL] + ['http://images.example.com/hop%d' % i
                        for i in range(1, hops + 1)]
        for here, there in zip(urls, urls[1:]):
            self.mock.register_uri(method, here, status_code=302,
                                   headers={'Location': there})
        self.mock.register_uri(method, urls[-1], content=b'end',
                               headers={'Content-Length': '3'})

    def test_five_redirects_are_followed(self):
        self._chain(5)
        it, size = self.store.get(self._loc())
        self.assertEqual(b'end', b''.join(it))
        self.assertEqual(6, self.mock.call_count)

    def test_six_redirects_are_too_many(self):
        self._chain(6)
        e = self.assertRaises(exceptions.MaxRedirectsExceeded,
                              self.store.get, self._loc())
        self.assertIn('5', e.msg)
        self.assertEqual(6, self.mock.call_count)

    def test_redirect_loop(self):
        self.mock.get(URL, status_code=302, headers={'Location': URL})
        self.assertRaises(exceptions.MaxRedirectsExceeded, self.store.get,
                          self._loc())

    def test_redirect_without_location(self):
        self.mock.get(URL, status_code=302)
        e = self.assertRaises(exceptions.BadStoreUri, self.store.get,
                              self._loc())
        self.assertIn('Location', e.msg)

    def test_redirect_to_another_scheme(self):
        self.mock.get(URL, status_code=302,
                      headers={'Location': 'ftp://host/file'})
        self.assertRaises(exceptions.BadStoreUri, self.store.get,
                          self._loc())

    def test_not_found(self):
        self.mock.get(URL, status_code=404)
        self.assertRaises(exceptions.NotFound, self.store.get, self._loc())

    def test_not_found_after_redirect(self):
        self.mock.get(URL, status_code=302,
                      headers={'Location': 'http://other/x'})
        self.mock.get('http://other/x', status_code=404)
        e = self.assertRaises(exceptions.NotFound, self.store.get,
                              self._loc())
        self.assertIn('http://other/x', e.msg)

    def test_server_errors(self):
        for code in (500, 502, 503, 504):
            self.mock.get(URL, status_code=code)
            e = self.assertRaises(exceptions.RemoteServiceUnavailable,
                                  self.store.get, self._loc())
            self.assertIn(str(code), e.msg)

    def test_other_client_errors(self):
        for code in (400, 401, 403, 410):
            self.mock.get(URL, status_code=code)
            e = self.assertRaises(exceptions.BadStoreUri, self.store.get,
                                  self._loc())
            self.assertIn(str(code), e.msg)

    def test_unexpected_status(self):
        self.mock.get(URL, status_code=304)
        self.assertRaises(exceptions.BadStoreUri, self.store.get,
                          self._loc())

    def test_connection_errors(self):
        for exc in (requests.exceptions.ConnectionError,
                    requests.exceptions.ConnectTimeout,
                    requests.exceptions.ReadTimeout,
                    requests.exceptions.SSLError,
                    requests.exceptions.ProxyError):
            self.mock.get(URL, exc=exc('boom'))
            e = self.assertRaises(exceptions.RemoteServiceUnavailable,
                                  self.store.get, self._loc())
            self.assertIn('images.example.com', e.msg)

    def test_connection_error_hides_credentials(self):
        uri = URL.replace('http://', 'http://me:topsecret@')
        self.mock.get(URL, exc=requests.exceptions.ConnectionError('x'))
        with mock.patch.object(http, 'LOG') as log:
            e = self.assertRaises(exceptions.RemoteServiceUnavailable,
                                  self.store.get, self._loc(uri))
        self.assertNotIn('topsecret', e.msg)
        self.assertNotIn('topsecret', str(log.mock_calls))

    def test_other_request_errors(self):
        self.mock.get(URL, exc=requests.exceptions.InvalidURL('bad'))
        self.assertRaises(exceptions.BadStoreUri, self.store.get,
                          self._loc())

    def test_error_while_reading(self):
        resp = mock.Mock(status_code=200, headers={'content-length': '6'})

        resp.raw.read1.side_effect = [
            b'abc', b'', urllib3.exceptions.ProtocolError('cut')]
        with mock.patch.object(requests.Session, 'request',
                               return_value=resp):
            it, size = self.store.get(self._loc())
            self.assertEqual(b'abc', next(iter(it)))
            self.assertRaises(exceptions.RemoteServiceUnavailable, next,
                              iter(it))
        resp.close.assert_called_once_with()

    def test_consumer_failure_closes(self):
        resp = mock.Mock(status_code=200, headers={'content-length': '10'})

        resp.raw.read1.side_effect = KeyboardInterrupt()
        with mock.patch.object(requests.Session, 'request',
                               return_value=resp):
            it, size = self.store.get(self._loc())
            self.assertRaises(KeyboardInterrupt, list, it)
        resp.close.assert_called_once_with()

    def test_error_status_closes_response_and_session(self):
        resp = mock.Mock(status_code=503, headers={})
        with mock.patch.object(requests.Session, 'request',
                               return_value=resp), \
                mock.patch.object(requests.Session, 'close') as s_close:
            self.assertRaises(exceptions.RemoteServiceUnavailable,
                              self.store.get, self._loc())
        resp.close.assert_called_once_with()
        s_close.assert_called_once_with()

    def test_ranged_get_not_supported(self):
        self.assertRaises(exceptions.StoreRandomGetNotSupported,
                          self.store.get, self._loc(), offset=10)
        self.assertRaises(exceptions.StoreRandomGetNotSupported,
                          self.store.get, self._loc(), chunk_size=10)
        self.assertEqual(0, self.mock.call_count)

    def test_add_refused(self):
        self.assertRaises(exceptions.StoreAddDisabled, self.store.add,
                          'img', io.BytesIO(b'x'), 1, 'md5')
        self.assertRaises(exceptions.StoreAddDisabled, self.store.add,
                          'img', io.BytesIO(b'x'), 1)

    def test_delete_refused(self):
        self.assertRaises(exceptions.StoreDeleteNotSupported,
                          self.store.delete, self._loc())
        self.assertRaises(exceptions.StoreDeleteNotSupported,
                          backend.delete_from_backend, URL)
        self.assertEqual(0, self.mock.call_count)

    def test_unreachable_add_and_delete_bodies(self):
        # Even if a capability bit were set by mistake, nothing is written.
        self.store.set_capabilities(BitMasks.WRITE_ACCESS)
        self.assertRaises(exceptions.StoreAddDisabled, self.store.add,
                          'img', io.BytesIO(b'x'), 1, 'md5')
        self.assertRaises(exceptions.StoreDeleteNotSupported,
                          self.store.delete, self._loc())


class TestGetSize(HttpStoreTestCase):

    def test_get_size(self):
        self.mock.head(URL, headers={'Content-Length': '12345'})
        self.assertEqual(12345, self.store.get_size(self._loc()))
        self.assertEqual('HEAD', self.mock.request_history[0].method)

    def test_get_size_through_the_api(self):
        self.mock.head(URL, headers={'Content-Length': '7'})
        self.assertEqual(7, backend.get_size_from_backend(URL))

    def test_get_size_unreachable_is_bad_uri(self):
        # Glance answers "Invalid location" (400) for BadStoreUri; get
        # keeps RemoteServiceUnavailable.
        for exc in (requests.exceptions.ConnectionError,
                    requests.exceptions.ConnectTimeout):
            self.mock.head(URL, exc=exc('refused'))
            self.mock.get(URL, exc=exc('refused'))
            self.assertRaises(exceptions.BadStoreUri,
                              backend.get_size_from_backend, URL)
            self.assertRaises(exceptions.RemoteServiceUnavailable,
                              backend.get_from_backend, URL)

    def test_get_size_follows_redirects_with_head(self):
        self.mock.head(URL, status_code=307,
                       headers={'Location': '/elsewhere'})
        self.mock.head('http://images.example.com/elsewhere',
                       headers={'Content-Length': '42'})
        self.assertEqual(42, self.store.get_size(self._loc()))
        self.assertEqual(['HEAD', 'HEAD'],
                         [r.method for r in self.mock.request_history])

    def test_get_size_too_many_redirects(self):
        self.mock.head(URL, status_code=301, headers={'Location': URL})
        self.assertRaises(exceptions.MaxRedirectsExceeded,
                          self.store.get_size, self._loc())
        self.assertEqual(6, self.mock.call_count)

    def test_get_size_errors(self):
        self.mock.head(URL, status_code=404)
        self.assertRaises(exceptions.NotFound, self.store.get_size,
                          self._loc())
        self.mock.head(URL, status_code=500)
        self.assertRaises(exceptions.RemoteServiceUnavailable,
                          self.store.get_size, self._loc())
        self.mock.head(URL, status_code=403)
        self.assertRaises(exceptions.BadStoreUri, self.store.get_size,
                          self._loc())
        self.mock.head(URL, exc=requests.exceptions.ConnectionError)
        self.assertRaises(exceptions.BadStoreUri,
                          self.store.get_size, self._loc())

    def test_get_size_closes_response_and_session(self):
        resp = mock.Mock(status_code=200, headers={'content-length': '3'})
        with mock.patch.object(requests.Session, 'request',
                               return_value=resp), \
                mock.patch.object(requests.Session, 'close') as s_close:
            self.assertEqual(3, self.store.get_size(self._loc()))
        resp.close.assert_called_once_with()
        s_close.assert_called_once_with()


class TestSessionOptions(HttpStoreTestCase):

    def _request(self):
        self.mock.get(URL, content=b'x')
        it, size = self.store.get(self._loc())
        list(it)
        return self.mock.request_history[-1]

    def test_insecure_by_default(self):
        self.assertFalse(self._request().verify)

    def test_insecure_despite_ca_bundle_environment(self):
        self.useFixture(fixtures.EnvironmentVariable(
            'REQUESTS_CA_BUNDLE', '/env/ca.pem'))
        self.useFixture(fixtures.EnvironmentVariable(
            'CURL_CA_BUNDLE', '/env/ca.pem'))
        self.assertFalse(self._request().verify)
        self.config(https_ca_certificates_file='/etc/ssl/my-ca.pem')
        self.assertEqual('/etc/ssl/my-ca.pem', self._request().verify)

    def test_verify_with_system_cas(self):
        self.config(https_insecure=False)
        self.assertTrue(self._request().verify)

    def test_ca_file_wins(self):
        self.config(https_ca_certificates_file='/etc/ssl/my-ca.pem',
                    https_insecure=True)
        self.assertEqual('/etc/ssl/my-ca.pem', self._request().verify)

    def test_proxies(self):
        proxies = {'http': 'http://proxy:3128',
                   'https': 'http://proxy:3129'}
        self.config(http_proxy_information=proxies)
        req = self._request()
        self.assertEqual('http://proxy:3128', req.proxies['http'])
        self.assertEqual('http://proxy:3129', req.proxies['https'])

    def test_proxy_option_parsing(self):
        self.conf.set_default(
            'http_proxy_information',
            'http:http://p:1,https:http://p:2', group='glance_store')
        self.addCleanup(self.conf.set_default, 'http_proxy_information',
                        {}, group='glance_store')
        self.assertEqual({'http': 'http://p:1', 'https': 'http://p:2'},
                         self.conf.glance_store.http_proxy_information)


class RawServer(object):
    """A stdlib TCP server on 127.0.0.1 answering with ``handler(sock)``.

    The handler gets the connected socket after the request headers were
    read, and writes whatever (possibly broken) answer the test needs.
    """

    def __init__(self, handler):
        stop = self.stop = threading.Event()

        class Handler(socketserver.BaseRequestHandler):
            def handle(self):
                data = b''
                while b'\r\n\r\n' not in data:
                    piece = self.request.recv(4096)
                    if not piece:
                        return
                    data += piece
                try:
                    handler(self.request, data, stop)
                except OSError:
                    pass

        self.server = socketserver.ThreadingTCPServer(('127.0.0.1', 0),
                                                      Handler)
        self.server.daemon_threads = True
        self.url = 'http://127.0.0.1:%d/image' % self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       kwargs={'poll_interval': 0.05})
        self.thread.start()

    def close(self):
        self.stop.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


class TestHostileServers(HttpStoreTestCase):
    """A real HTTP server (stdlib) that misbehaves."""

    def setUp(self):
        super().setUp()
        # The requests_mock fixture of the base class would catch these.
        self.mock.stop()
        self.config(http_store_read_timeout=0.5)

    def _serve(self, handler):
        server = RawServer(handler)
        self.addCleanup(server.close)
        return server.url

    def _get_all(self, url):
        it, size = self.store.get(self._loc(url))
        return b''.join(it), size

    def test_gzip_body_is_not_decoded(self):
        raw = gzip.compress(b'\0' * (8 * units.Mi))
        requests_seen = []

        def handler(sock, request, stop):
            requests_seen.append(request.lower())
            sock.sendall(b'HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\n'
                         b'Content-Length: %d\r\nConnection: close\r\n\r\n'
                         % len(raw) + raw)
        data, size = self._get_all(self._serve(handler))
        self.assertEqual(len(raw), size)
        self.assertEqual(raw, data)
        # The store asked for the bytes as they are.
        self.assertIn(b'accept-encoding: identity\r\n', requests_seen[0])

    @staticmethod
    def _silent(sock, request, stop):
        stop.wait(10)

    def test_silent_server_get_size_times_out(self):
        url = self._serve(self._silent)
        start = time.monotonic()
        e = self.assertRaises(exceptions.BadStoreUri, self.store.get_size,
                              self._loc(url))
        self.assertLess(time.monotonic() - start, 5)
        self.assertIn(url, str(e))

    def test_silent_server_get_times_out(self):
        url = self._serve(self._silent)
        e = self.assertRaises(exceptions.RemoteServiceUnavailable,
                              self.store.get, self._loc(url))
        self.assertIn(url, str(e))

    def test_stops_after_headers(self):
        def handler(sock, request, stop):
            sock.sendall(b'HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n')
            stop.wait(10)
        it, size = self.store.get(self._loc(self._serve(handler)))
        self.assertEqual(100, size)
        e = self.assertRaises(exceptions.RemoteServiceUnavailable, list, it)
        self.assertIn('127.0.0.1', str(e))

    def test_stops_mid_body(self):
        def handler(sock, request, stop):
            sock.sendall(b'HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n'
                         + b'x' * 10)
            stop.wait(10)
        it, size = self.store.get(self._loc(self._serve(handler)))
        self.assertRaises(exceptions.RemoteServiceUnavailable, list, it)

    def test_trickling_body(self):
        def handler(sock, request, stop):
            sock.sendall(b'HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n')
            while not stop.wait(0.05):
                sock.sendall(b'x')
        it, size = self.store.get(self._loc(self._serve(handler)))
        start = time.monotonic()
        e = self.assertRaises(exceptions.RemoteServiceUnavailable, list, it)
        self.assertLess(time.monotonic() - start, 5)
        self.assertIn('http_store_read_timeout', str(e))

    def test_short_body_is_an_error(self):
        def handler(sock, request, stop):
            sock.sendall(b'HTTP/1.1 200 OK\r\nContent-Length: 100\r\n'
                         b'Connection: close\r\n\r\n' + b'x' * 10)
        it, size = self.store.get(self._loc(self._serve(handler)))
        self.assertRaises(exceptions.RemoteServiceUnavailable, list, it)

    def test_get_stops_at_the_size(self):
        def handler(sock, request, stop):
            # A chunked body that never ends, announced as 5 bytes.
            sock.sendall(b'HTTP/1.1 200 OK\r\nContent-Length: 5\r\n'
                         b'Transfer-Encoding: chunked\r\n\r\n')
            while not stop.is_set():
                sock.sendall(b'1000\r\n' + b'y' * 4096 + b'\r\n')
        data, size = self._get_all(self._serve(handler))
        self.assertEqual(5, size)
        self.assertEqual(b'yyyyy', data)

    def test_endless_body_stops_at_the_head_size(self):
        def handler(sock, request, stop):
            if request.startswith(b'HEAD'):
                sock.sendall(b'HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n'
                             b'Connection: close\r\n\r\n')
                return
            # No Content-Length: the body runs until the connection ends,
            # which this server never does.
            sock.sendall(b'HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n')
            while not stop.is_set():
                sock.sendall(b'z' * 4096)
        url = self._serve(handler)
        self.assertEqual(1000, self.store.get_size(self._loc(url)))
        data, size = self._get_all(url)
        self.assertEqual(1000, size)
        self.assertEqual(b'z' * 1000, data)

    def test_endless_chunked_body_stops_at_the_head_size(self):
        def handler(sock, request, stop):
            if request.startswith(b'HEAD'):
                sock.sendall(b'HTTP/1.1 200 OK\r\nContent-Length: 10\r\n'
                             b'\r\n')
                return
            sock.sendall(b'HTTP/1.1 200 OK\r\n'
                         b'Transfer-Encoding: chunked\r\n\r\n')
            while not stop.is_set():
                sock.sendall(b'1000\r\n' + b'y' * 4096 + b'\r\n')
        data, size = self._get_all(self._serve(handler))
        self.assertEqual((10, b'y' * 10), (size, data))

    @staticmethod
    def _trickled_head(sock, request, stop):
        # A valid status line, then one header byte at a time, each well
        # within the read timeout, never ending.
        sock.sendall(b'HTTP/1.1 200 OK\r\nX-Slow: ')
        for _ in range(200):  # 10 s, so that a store that waits fails
            if stop.wait(0.05):
                return
            sock.sendall(b'a')

    def test_trickled_head_get_times_out(self):
        url = self._serve(self._trickled_head)
        start = time.monotonic()
        e = self.assertRaises(exceptions.RemoteServiceUnavailable,
                              self.store.get, self._loc(url))
        self.assertLess(time.monotonic() - start, 5)
        self.assertIn(url, str(e))
        self.assertIn('http_store_read_timeout', str(e))

    def test_trickled_head_get_size_times_out(self):
        url = self._serve(self._trickled_head)
        start = time.monotonic()
        e = self.assertRaises(exceptions.BadStoreUri, self.store.get_size,
                              self._loc(url))
        self.assertLess(time.monotonic() - start, 5)
        self.assertIn('http_store_read_timeout', str(e))

    def test_slow_but_complete_head_is_served(self):
        def handler(sock, request, stop):
            for piece in (b'HTTP/1.1 200 OK\r\n', b'Content-Length: 3\r\n',
                          b'\r\nabc'):
                time.sleep(0.1)
                sock.sendall(piece)
        data, size = self._get_all(self._serve(handler))
        self.assertEqual((3, b'abc'), (size, data))

    def test_malformed_redirect(self):
        def handler(sock, request, stop):
            sock.sendall(b'HTTP/1.1 302 Found\r\nLocation: http://[::1:bad/x'
                         b'\r\nContent-Length: 0\r\n\r\n')
        url = self._serve(handler)
        e = self.assertRaises(exceptions.BadStoreUri, self.store.get_size,
                              self._loc(url))
        self.assertIn(url, str(e))

    def test_absurd_content_length(self):
        def handler(sock, request, stop):
            sock.sendall(b'HTTP/1.1 200 OK\r\nContent-Length: %s\r\n\r\n'
                         % (b'9' * 30))
        url = self._serve(handler)
        e = self.assertRaises(exceptions.BadStoreUri, self.store.get_size,
                              self._loc(url))
        self.assertIn(url, str(e))
        self.assertRaises(exceptions.BadStoreUri, self.store.get,
                          self._loc(url))

    def test_content_length_at_the_limit_is_a_size(self):
        def handler(sock, request, stop):
            sock.sendall(b'HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n'
                         % http.MAX_CONTENT_LENGTH)
        url = self._serve(handler)
        self.assertEqual(http.MAX_CONTENT_LENGTH,
                         self.store.get_size(self._loc(url)))
