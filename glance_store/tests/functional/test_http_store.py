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

"""The http store through a real forward proxy (tinyproxy).

A stdlib HTTP server on 127.0.0.1 serves an image with a Content-Length,
one whose GET streams without end (only its HEAD gives the size) and one
that sends its headers a byte at a time; the store reaches it through
tinyproxy, as ``http_proxy_information`` says, and gets the exact image,
stops at the size, and gives up on the trickled head in bounded time.
"""

import hashlib
import http.server
import os
import threading
import time

from oslo_config import cfg
import testtools

import glance_store
from glance_store._drivers import http as http_store
from glance_store import exceptions
from glance_store import location
from glance_store.tests.functional import tinyproxy

IMAGE = os.urandom(3 * 1024 * 1024 + 17)
HEAD_SIZE = 1024 * 1024


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'

    def log_message(self, *args):
        pass

    def do_HEAD(self):
        size = HEAD_SIZE if self.path == '/endless' else len(IMAGE)
        self.send_response(200)
        self.send_header('Content-Length', str(size))
        self.end_headers()

    def do_GET(self):
        try:
            self._get(self.server.stop)
        except OSError:
            pass  # the store (or the proxy) closed the connection

    def _get(self, stop):
        if self.path == '/image':
            self.send_response(200)
            self.send_header('Content-Length', str(len(IMAGE)))
            self.end_headers()
            self.wfile.write(IMAGE)
        elif self.path == '/endless':
            # No Content-Length: the body would end with the connection,
            # which this server never closes by itself.
            self.send_response(200)
            self.send_header('Connection', 'close')
            self.end_headers()
            while not stop.is_set():
                self.wfile.write(b'e' * 65536)
        elif self.path == '/trickle':
            self.wfile.write(b'HTTP/1.1 200 OK\r\nX-Slow: ')
            self.wfile.flush()
            for _ in range(300):  # 15 s: a store that waits would fail
                if stop.wait(0.05):
                    return
                self.wfile.write(b'a')
                self.wfile.flush()
        else:
            self.send_error(404)


class TestHttpStoreThroughProxy(testtools.TestCase):

    def setUp(self):
        super().setUp()
        self.proxy = self.useFixture(tinyproxy.TinyProxy())
        server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), _Handler)
        server.daemon_threads = True
        server.stop = threading.Event()
        thread = threading.Thread(target=server.serve_forever,
                                  kwargs={'poll_interval': 0.05})
        thread.start()
        self.addCleanup(thread.join)
        self.addCleanup(server.server_close)
        self.addCleanup(server.shutdown)
        self.addCleanup(server.stop.set)
        self.base = 'http://127.0.0.1:%d' % server.server_address[1]

        self.conf = cfg.ConfigOpts()
        self.conf([], project='glance')
        glance_store.register_opts(self.conf)
        self.conf.set_override('http_proxy_information',
                               {'http': self.proxy.url}, 'glance_store')
        self.conf.set_override('http_store_read_timeout', 2, 'glance_store')
        self.store = http_store.Store(self.conf)
        self.store.configure()

    def _loc(self, path):
        return location.Location('http', http_store.StoreLocation,
                                 self.conf, uri=self.base + path)

    def _proxied(self, path):
        return [line for line in self.proxy.requests() if path in line]

    def test_image_through_the_proxy(self):
        loc = self._loc('/image')
        self.assertEqual(len(IMAGE), self.store.get_size(loc))
        it, size = self.store.get(loc)
        data = b''.join(it)
        self.assertEqual(len(IMAGE), size)
        self.assertEqual(hashlib.sha256(IMAGE).hexdigest(),
                         hashlib.sha256(data).hexdigest())
        self.assertEqual(2, len(self._proxied('/image')))

    def test_endless_body_stops_at_the_head_size(self):
        loc = self._loc('/endless')
        it, size = self.store.get(loc)
        self.assertEqual(HEAD_SIZE, size)
        self.assertEqual(b'e' * HEAD_SIZE, b''.join(it))
        # The GET, then the HEAD that gave the size, both via the proxy.
        self.assertEqual(2, len(self._proxied('/endless')))

    def test_trickled_head_gives_up(self):
        loc = self._loc('/trickle')
        start = time.monotonic()
        e = self.assertRaises(exceptions.RemoteServiceUnavailable,
                              self.store.get, loc)
        self.assertLess(time.monotonic() - start, 10)
        self.assertIn('http_store_read_timeout', str(e))
        self.assertEqual(1, len(self._proxied('/trickle')))
