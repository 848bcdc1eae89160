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

"""Tests of the fault-injecting proxy against a tiny local HTTP server."""

import hashlib
import http.client
import http.server
import json
import os
import shutil
import socket
import ssl
import subprocess
import tempfile
import threading

import testtools

from glance_store.tests.functional import proxy as proxy_mod


def _pattern(size):
    return (bytes(range(256)) * (size // 256 + 1))[:size]


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'

    def log_message(self, *args):
        pass

    def _read_body(self):
        if 'chunked' in self.headers.get('Transfer-Encoding', ''):
            body = b''
            while True:
                size = int(self.rfile.readline().split(b';')[0], 16)
                if size == 0:
                    while self.rfile.readline() not in (b'\r\n', b''):
                        pass
                    return body
                body += self.rfile.read(size)
                self.rfile.readline()
        length = int(self.headers.get('Content-Length') or 0)
        body = self.rfile.read(length)
        if len(body) != length:
            raise ConnectionError('short body')
        return body

    def do_PUT(self):
        try:
            body = self._read_body()
        except (ConnectionError, ValueError):
            self.close_connection = True
            return
        self.server.received.append((self.path, body))
        answer = json.dumps({'sha256': hashlib.sha256(body).hexdigest(),
                             'length': len(body)}).encode()
        self.send_response(200)
        self.send_header('Content-Length', str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def do_GET(self):
        self.server.received.append((self.path, None))
        size = int(self.path.rsplit('/', 1)[-1] or 0)
        self.send_response(200)
        self.send_header('Content-Length', str(size))
        self.end_headers()
        self.wfile.write(_pattern(size))


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self):
        super().__init__(('127.0.0.1', 0), _Handler)
        self.received = []


class ProxyTestCase(testtools.TestCase):

    def setUp(self):
        super().setUp()
        self.server = _Server()
        thread = threading.Thread(target=self.server.serve_forever,
                                  args=(0.05,), daemon=True)
        thread.start()
        self.addCleanup(thread.join, 10)
        self.addCleanup(self.server.server_close)
        self.addCleanup(self.server.shutdown)
        self.proxy = self.make_proxy()

    def make_proxy(self, **kwargs):
        proxy = proxy_mod.TCPProxy('127.0.0.1', self.server.server_port,
                                   timeout=10, **kwargs)
        proxy.start()
        self.addCleanup(proxy.stop)
        return proxy

    def conn(self, proxy=None, timeout=10):
        proxy = proxy or self.proxy
        conn = http.client.HTTPConnection('127.0.0.1', proxy.port,
                                          timeout=timeout)
        self.addCleanup(conn.close)
        return conn

    def put(self, path, body, conn=None, **kwargs):
        conn = conn or self.conn()
        conn.request('PUT', path, body=body, **kwargs)
        resp = conn.getresponse()
        return resp, resp.read()

    def get(self, path, conn=None):
        conn = conn or self.conn()
        conn.request('GET', path)
        resp = conn.getresponse()
        return resp, resp.read()


class TestForwarding(ProxyTestCase):

    def test_one_request_per_connection(self):
        conn = self.conn()
        for size in (10, 100000):
            resp, body = self.get('/data/%d' % size, conn)
            self.assertEqual(200, resp.status)
            self.assertEqual(_pattern(size), body)
            self.assertEqual('close', resp.getheader('Connection'))
        stats = self.proxy.stats()
        self.assertEqual(2, stats['requests'])
        self.assertEqual(2, stats['connections'])
        self.assertEqual(['GET /data/10 HTTP/1.1',
                          'GET /data/100000 HTTP/1.1'], self.proxy.requests)
        self.assertGreater(stats['bytes_down'], 100010)

    def test_put_passes_unchanged(self):
        data = os.urandom(1024 * 1024)
        resp, body = self.put('/obj', data)
        self.assertEqual(200, resp.status)
        self.assertEqual(hashlib.sha256(data).hexdigest(),
                         json.loads(body)['sha256'])
        self.assertEqual([('/obj', data)], self.server.received)
        self.assertGreater(self.proxy.stats()['bytes_up'], len(data))

    def test_expect_continue_is_forwarded(self):
        data = _pattern(5000)
        resp, body = self.put('/obj', data,
                              headers={'Expect': '100-continue'})
        self.assertEqual(200, resp.status)
        self.assertEqual([('/obj', data)], self.server.received)


class TestCorruption(ProxyTestCase):

    def test_corrupt_request_flips_one_body_byte_once(self):
        data = _pattern(100000)
        rule = self.proxy.corrupt_request(offset=1000)
        self.put('/a', data)
        self.put('/b', data)
        (path_a, got_a), (path_b, got_b) = self.server.received
        diff = [i for i in range(len(data)) if got_a[i] != data[i]]
        self.assertEqual([1000], diff)
        self.assertEqual(data[1000] ^ 0xFF, got_a[1000])
        self.assertEqual(data, got_b)
        self.assertEqual(1, rule.fired)
        self.assertEqual(1, self.proxy.stats()['request_flips'])

    def test_corrupt_request_only_matching(self):
        data = _pattern(3000)
        self.proxy.corrupt_request(offset=5, match=r'^PUT /two ')
        self.put('/one', data)
        self.put('/two', data)
        received = dict(self.server.received)
        self.assertEqual(data, received['/one'])
        self.assertNotEqual(data, received['/two'])

    def test_corrupt_response_flips_one_body_byte(self):
        self.proxy.corrupt_response(offset=5000)
        resp, body = self.get('/data/100000')
        expected = _pattern(100000)
        diff = [i for i in range(len(body)) if body[i] != expected[i]]
        self.assertEqual([5000], diff)
        self.assertEqual(1, self.proxy.stats()['response_flips'])
        resp, body = self.get('/data/100000')
        self.assertEqual(expected, body)

    def test_offset_beyond_body_flips_nothing(self):
        self.proxy.corrupt_response(offset=10 ** 9)
        resp, body = self.get('/data/1000')
        self.assertEqual(_pattern(1000), body)
        self.assertEqual(0, self.proxy.stats()['response_flips'])


class TestDrop(ProxyTestCase):

    def test_drop_after_bytes(self):
        data = os.urandom(4 * 1024 * 1024)
        self.proxy.drop_request(after=300000)
        self.assertRaises((OSError, http.client.HTTPException),
                          self.put, '/obj', data)
        self.assertEqual([], self.server.received)
        self.assertEqual(1, self.proxy.stats()['drops'])
        # One time only: the next request goes through.
        resp, body = self.put('/obj', data)
        self.assertEqual(200, resp.status)
        self.assertEqual([('/obj', data)], self.server.received)


class TestInjectedErrors(ProxyTestCase):

    def test_fail_matching_request_only(self):
        self.proxy.fail_request(503, match=r'^PUT .*partNumber=2\b')
        resp, _ = self.put('/k?partNumber=1&uploadId=x', b'one')
        self.assertEqual(200, resp.status)
        resp, body = self.put('/k?partNumber=2&uploadId=x', b'two' * 1000)
        self.assertEqual(503, resp.status)
        self.assertEqual('close', resp.getheader('Connection'))
        self.assertEqual('application/xml', resp.getheader('Content-Type'))
        self.assertIn(b'<Code>SlowDown</Code>', body)
        self.assertEqual(['/k?partNumber=1&uploadId=x'],
                         [p for p, _ in self.server.received])
        resp, _ = self.put('/k?partNumber=2&uploadId=x', b'two')
        self.assertEqual(200, resp.status)
        self.assertEqual(1, self.proxy.stats()['responses_injected'])

    def test_fail_500_with_custom_code(self):
        self.proxy.fail_request(500, code='InternalError',
                                message='boom', times=2)
        for _ in range(2):
            resp, body = self.get('/data/10')
            self.assertEqual(500, resp.status)
            self.assertIn(b'<Message>boom</Message>', body)
        resp, body = self.get('/data/10')
        self.assertEqual(200, resp.status)
        self.assertEqual(1, len(self.server.received))

    def test_fail_before_body_with_expect_continue(self):
        self.proxy.fail_request(500)
        sock = socket.create_connection(('127.0.0.1', self.proxy.port),
                                        timeout=10)
        self.addCleanup(sock.close)
        sock.sendall(b'PUT /obj HTTP/1.1\r\nHost: x\r\n'
                     b'Content-Length: 1000000\r\n'
                     b'Expect: 100-continue\r\n\r\n')
        answer = b''
        while True:
            chunk = sock.recv(4096)
            if not chunk:
                break
            answer += chunk
        self.assertTrue(answer.startswith(b'HTTP/1.1 500 '), answer)
        self.assertIn(b'<Code>InternalError</Code>', answer)

    def test_fail_after_chunked_body(self):
        self.proxy.fail_request(503)
        chunks = iter([b'a' * 70000, b'b' * 10, b'c' * 5000])
        resp, body = self.put('/obj', chunks, encode_chunked=True)
        self.assertEqual(503, resp.status)
        self.assertEqual([], self.server.received)


class TestUnreachable(ProxyTestCase):

    def test_blackhole_then_passthrough(self):
        self.proxy.blackhole()
        self.assertRaises((TimeoutError, socket.timeout),
                          self.get, '/data/10', self.conn(timeout=0.5))
        self.assertEqual([], self.server.received)
        self.proxy.passthrough()
        resp, body = self.get('/data/10')
        self.assertEqual(_pattern(10), body)

    def test_refuse_then_passthrough(self):
        port = self.proxy.port
        self.proxy.refuse()
        self.assertRaises(ConnectionRefusedError, socket.create_connection,
                          ('127.0.0.1', port), 5)
        self.proxy.passthrough()
        self.assertEqual(port, self.proxy.port)
        resp, body = self.get('/data/10')
        self.assertEqual(200, resp.status)

    def test_stop_closes_hanging_connections(self):
        self.proxy.blackhole()
        sock = socket.create_connection(('127.0.0.1', self.proxy.port), 5)
        self.addCleanup(sock.close)
        sock.sendall(b'GET /data/10 HTTP/1.1\r\nHost: x\r\n\r\n')
        self.proxy.stop()
        sock.settimeout(5)
        try:
            self.assertEqual(b'', sock.recv(10))
        except ConnectionResetError:
            pass


class TestRawAndTLS(ProxyTestCase):

    def test_raw_mode_counts_from_first_byte_and_keeps_alive(self):
        proxy = self.make_proxy(http=False)
        head = b'PUT /raw HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n'
        proxy.corrupt_request(offset=len(head) + 10)
        sock = socket.create_connection(('127.0.0.1', proxy.port), 10)
        self.addCleanup(sock.close)
        sock.sendall(head + _pattern(100))
        resp = http.client.HTTPResponse(sock)
        resp.begin()
        resp.read()
        self.assertEqual(200, resp.status)
        sock.sendall(b'GET /data/20 HTTP/1.1\r\nHost: x\r\n\r\n')
        resp = http.client.HTTPResponse(sock)
        resp.begin()
        self.assertEqual(_pattern(20), resp.read())
        self.assertIsNone(resp.getheader('Connection'))
        self.assertEqual(1, proxy.stats()['connections'])
        self.assertEqual(0, proxy.stats()['requests'])
        (path, got), _ = self.server.received
        diff = [i for i in range(100) if got[i] != _pattern(100)[i]]
        self.assertEqual([10], diff)
        self.assertRaises(ValueError, proxy.fail_request, 500)
        self.assertRaises(ValueError, proxy.corrupt_request, 0, 'PUT')

    def _cert(self):
        if not shutil.which('openssl'):
            self.skipTest('openssl is needed')
        tmp = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, tmp)
        cert = os.path.join(tmp, 'cert.pem')
        key = os.path.join(tmp, 'key.pem')
        subprocess.run(
            ['openssl', 'req', '-x509', '-newkey', 'rsa:2048', '-nodes',
             '-keyout', key, '-out', cert, '-days', '2', '-subj',
             '/CN=localhost', '-addext',
             'subjectAltName=DNS:localhost,IP:127.0.0.1'],
            check=True, capture_output=True)
        return cert, key

    def test_tls_termination(self):
        cert, key = self._cert()
        proxy = self.make_proxy(tls_certfile=cert, tls_keyfile=key)
        self.assertTrue(proxy.url.startswith('https://127.0.0.1:'))
        ctx = ssl.create_default_context(cafile=cert)
        conn = http.client.HTTPSConnection('127.0.0.1', proxy.port,
                                           context=ctx, timeout=10)
        self.addCleanup(conn.close)
        data = os.urandom(300000)
        proxy.corrupt_response(offset=7)
        conn.request('PUT', '/tls', body=data)
        resp = conn.getresponse()
        body = resp.read()
        self.assertEqual(200, resp.status)
        self.assertEqual([('/tls', data)], self.server.received)
        # The answer is JSON with one flipped byte: no longer decodable.
        self.assertRaises(ValueError, json.loads, body)
        self.assertEqual(1, proxy.stats()['response_flips'])
