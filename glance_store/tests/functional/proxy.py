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

"""A fault-injecting TCP proxy on 127.0.0.1 for functional tests.

The proxy sits between a client (the store, or boto3) and an S3 server and
forwards bytes both ways. At run time a test can make it:

* flip one byte of a request body or of a response body
  (:meth:`TCPProxy.corrupt_request`, :meth:`TCPProxy.corrupt_response`);
* cut the connection after some request body bytes went upstream
  (:meth:`TCPProxy.drop_request`);
* answer a canned S3 error (500, 503, ...) instead of the server
  (:meth:`TCPProxy.fail_request`);
* stop forwarding (:meth:`TCPProxy.blackhole`) or refuse connections
  (:meth:`TCPProxy.refuse`), so that the endpoint becomes unreachable.

Faults are rules: each applies to the next ``times`` requests whose request
line (``"PUT /bucket/key?partNumber=2&uploadId=... HTTP/1.1"``) matches
the regular expression ``match`` (``None`` matches every request).

In HTTP mode (the default) the proxy reads the head of each request and
handles exactly one request per client connection: it rewrites the
``Connection`` header of the request and of the response to ``close``, so
the client opens a new connection for its next request and request
boundaries never have to be guessed from a body. Offsets of the corrupting
and dropping faults count body bytes, after the head.

In raw mode (``http=False``) bytes are forwarded untouched (for example
TLS records between a client and an HTTPS server); rules must then have
``match=None`` and offsets count from the first byte of the connection.

With ``tls_certfile``/``tls_keyfile`` the proxy serves HTTPS to the client
and talks plain HTTP upstream, as a TLS-terminating load balancer does.

botocore retries 500/503 answers and dropped connections: a one-time fault
is then invisible to the caller. Give the client
``retries={'total_max_attempts': 1}`` or the rule a larger ``times``.
"""

import itertools
import re
import select
import socket
import ssl
import struct
import threading

_HEAD_END = b'\r\n\r\n'
_MAX_HEAD = 64 * 1024
_CHUNK = 64 * 1024

_REASONS = {
    400: 'Bad Request',
    403: 'Forbidden',
    404: 'Not Found',
    500: 'Internal Server Error',
    502: 'Bad Gateway',
    503: 'Service Unavailable',
    504: 'Gateway Timeout',
}
_DEFAULT_CODES = {
    500: ('InternalError',
          'We encountered an internal error. Please try again.'),
    503: ('SlowDown', 'Please reduce your request rate.'),
}


class Rule(object):
    """One fault: what to do to the next ``times`` matching requests."""

    def __init__(self, action, match=None, times=1, offset=0, status=None,
                 code=None, message=None):
        self.action = action
        self.pattern = re.compile(match) if match else None
        self.remaining = times
        self.offset = offset
        self.status = status
        self.code = code
        self.message = message
        self.fired = 0

    def matches(self, request_line):
        if self.remaining is not None and self.remaining <= 0:
            return False
        if self.pattern is None:
            return True
        return (request_line is not None and
                self.pattern.search(request_line) is not None)

    def take(self):
        if self.remaining is not None:
            self.remaining -= 1
        self.fired += 1


def _abort(sock):
    """Close a socket with a TCP reset."""
    if sock is None:
        return
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                        struct.pack('ii', 1, 0))
    except OSError:
        pass
    try:
        sock.close()
    except OSError:
        pass


def _close(sock):
    if sock is None:
        return
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    try:
        sock.close()
    except OSError:
        pass


def _connection_close(head):
    """Return the head (ending with CRLFCRLF) with Connection: close."""
    lines = head[:-len(_HEAD_END)].split(b'\r\n')
    kept = [lines[0]]
    for line in lines[1:]:
        name = line.split(b':', 1)[0].strip().lower()
        if name not in (b'connection', b'keep-alive'):
            kept.append(line)
    kept.append(b'Connection: close')
    return b'\r\n'.join(kept) + _HEAD_END


def _headers(head):
    result = {}
    for line in head[:-len(_HEAD_END)].split(b'\r\n')[1:]:
        if b':' in line:
            name, value = line.split(b':', 1)
            result[name.strip().lower().decode('latin-1')] = (
                value.strip().decode('latin-1'))
    return result


class _Connection(object):
    """One client connection and its upstream connection."""

    def __init__(self, proxy, client):
        self.proxy = proxy
        self.client = client
        self.upstream = None
        self.rules = []
        self.body_up = 0
        self.body_down = 0
        self.down_head = b''
        self.down_in_body = not proxy.http
        self.blackholed = False
        self.closed = False

    # -- helpers --

    def _rule(self, action):
        for rule in self.rules:
            if rule.action == action:
                return rule
        return None

    def _recv_head(self):
        """Read from the client up to the end of the request head."""
        data = b''
        while _HEAD_END not in data:
            if len(data) > _MAX_HEAD:
                return None, data
            chunk = self.client.recv(_CHUNK)
            if not chunk:
                return None, data
            data += chunk
        end = data.index(_HEAD_END) + len(_HEAD_END)
        return data[:end], data[end:]

    def close(self, abort=False):
        self.closed = True
        for sock in (self.client, self.upstream):
            if abort:
                _abort(sock)
            else:
                _close(sock)

    # -- main loop --

    def run(self):
        try:
            self._run()
        except (OSError, ssl.SSLError, ValueError):
            self.close(abort=True)
        finally:
            if not self.closed:
                self.close()
            self.proxy._forget(self)

    def _run(self):
        proxy = self.proxy
        if proxy._ssl_context is not None:
            self.client.settimeout(proxy.timeout)
            self.client = proxy._ssl_context.wrap_socket(
                self.client, server_side=True)
        self.client.settimeout(proxy.timeout)
        if proxy.mode == 'blackhole':
            self.blackholed = True
            return self._loop()
        rest = b''
        request_line = None
        if proxy.http:
            head, rest = self._recv_head()
            if head is None:
                # Not HTTP after all (or the client left): forward as is.
                head = b''
            else:
                request_line = head.split(b'\r\n', 1)[0].decode('latin-1')
                proxy._count_request(request_line)
        else:
            head = b''
        self.rules = proxy._take_rules(request_line)
        respond = self._rule('respond')
        if respond is not None:
            return self._respond(respond, head, rest)
        if proxy.mode == 'blackhole':
            self.blackholed = True
            return self._loop()
        self.upstream = socket.create_connection(proxy.upstream,
                                                 timeout=proxy.timeout)
        if head:
            head = _connection_close(head)
            proxy._count('bytes_up', len(head))
            self.upstream.sendall(head)
        else:
            # No HTTP head: the bytes read so far are stream bytes.
            rest = head + rest
        if rest and not self._up(rest):
            return
        self._loop()

    def _loop(self):
        readers = [self.client]
        if self.upstream is not None:
            readers.append(self.upstream)
        while readers and not self.proxy._stopping.is_set():
            if self.proxy.mode == 'blackhole':
                self.blackholed = True
            ready = self._ready(readers)
            if ready is None:
                return
            for sock in ready:
                if not self._relay(sock, readers):
                    return

    def _ready(self, readers):
        """The sockets with bytes to read; None when the proxy closed."""
        ready = [s for s in readers
                 if isinstance(s, ssl.SSLSocket) and s.pending()]
        if ready:
            return ready
        if self.closed:
            return None
        return select.select(readers, [], [], 0.2)[0]

    def _relay(self, sock, readers):
        """Pass on what ``sock`` has; False when the connection ends."""
        try:
            data = sock.recv(_CHUNK)
        except ssl.SSLWantReadError:
            return True
        except (OSError, ssl.SSLError):
            # A reset on one side is passed on as a reset.
            self.close(abort=True)
            return False
        if sock is self.client:
            return self._from_client(data, readers)
        if not data:
            # The server is done: so is this connection.
            self.close()
            return False
        if not self.blackholed:
            self._down(data)
        return True

    def _from_client(self, data, readers):
        if data:
            return self.blackholed or self._up(data)
        readers.remove(self.client)
        if self.upstream is None:
            return False
        try:
            self.upstream.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        return True

    # -- client to server --

    def _up(self, data):
        """Forward request bytes; False if the connection was dropped."""
        proxy = self.proxy
        start = self.body_up
        end = start + len(data)
        flip = self._rule('flip_request')
        if flip is not None and start <= flip.offset < end:
            data = bytearray(data)
            data[flip.offset - start] ^= 0xFF
            data = bytes(data)
            proxy._count('request_flips')
        drop = self._rule('drop_request')
        if drop is not None and end > drop.offset:
            keep = data[:max(0, drop.offset - start)]
            proxy._count('drops')
            if keep:
                proxy._count('bytes_up', len(keep))
                self.upstream.sendall(keep)
            self.close(abort=True)
            return False
        self.body_up = end
        proxy._count('bytes_up', len(data))
        self.upstream.sendall(data)
        return True

    # -- server to client --

    def _down(self, data):
        proxy = self.proxy
        if not self.down_in_body:
            data = self._down_head(data)
            if not data:
                return
        start = self.body_down
        self.body_down += len(data)
        flip = self._rule('flip_response')
        if flip is not None and start <= flip.offset < self.body_down:
            data = bytearray(data)
            data[flip.offset - start] ^= 0xFF
            data = bytes(data)
            proxy._count('response_flips')
        proxy._count('bytes_down', len(data))
        self.client.sendall(data)

    def _down_head(self, data):
        """Pass on the answer's head (with ``Connection: close``).

        :returns: the body bytes that followed it, or b'' while the head
            is not complete.
        """
        self.down_head += data
        out = b''
        while not self.down_in_body and _HEAD_END in self.down_head:
            end = self.down_head.index(_HEAD_END) + len(_HEAD_END)
            head, self.down_head = (self.down_head[:end],
                                    self.down_head[end:])
            status = head.split(b' ', 2)[1:2]
            if status and status[0].startswith(b'1'):
                out += head  # 100 Continue: a final head follows
            else:
                out += _connection_close(head)
                self.down_in_body = True
        if not self.down_in_body and len(self.down_head) > _MAX_HEAD:
            self.down_in_body = True  # not HTTP: give up parsing
            out += self.down_head
            self.down_head = b''
        if out:
            self.proxy._count('bytes_down', len(out))
            self.client.sendall(out)
        if not self.down_in_body:
            return b''
        data, self.down_head = self.down_head, b''
        return data

    # -- canned answers --

    def _respond(self, rule, head, rest):
        headers = _headers(head)
        if headers.get('expect', '').lower() != '100-continue':
            self._consume_body(headers, rest)
        status = rule.status
        code, message = _DEFAULT_CODES.get(
            status, ('ServiceUnavailable', 'Injected failure.'))
        code = rule.code or code
        message = rule.message or message
        request_id = 'gsproxy-%d' % next(self.proxy._ids)
        body = ('<?xml version="1.0" encoding="UTF-8"?>\n'
                '<Error><Code>%s</Code><Message>%s</Message>'
                '<RequestId>%s</RequestId></Error>'
                % (code, message, request_id)).encode('utf-8')
        response = ('HTTP/1.1 %d %s\r\n'
                    'Content-Type: application/xml\r\n'
                    'Content-Length: %d\r\n'
                    'x-amz-request-id: %s\r\n'
                    'Connection: close\r\n\r\n'
                    % (status, _REASONS.get(status, 'Error'), len(body),
                       request_id)).encode('latin-1') + body
        # Count first: the client may look at the counters as soon as it
        # has the answer.
        self.proxy._count('bytes_down', len(response))
        self.proxy._count('responses_injected')
        self.client.sendall(response)
        self.close()

    def _consume_body(self, headers, data):
        """Read and drop the request body so the client sees the answer."""
        if 'chunked' in headers.get('transfer-encoding', '').lower():
            self._consume_chunked(data)
            return
        remaining = int(headers.get('content-length') or 0) - len(data)
        while remaining > 0:
            chunk = self.client.recv(min(_CHUNK, remaining))
            if not chunk:
                return
            remaining -= len(chunk)

    def _consume_chunked(self, buf):
        def need(n):
            nonlocal buf
            while len(buf) < n:
                chunk = self.client.recv(_CHUNK)
                if not chunk:
                    raise EOFError()
                buf += chunk

        def line():
            nonlocal buf
            while b'\r\n' not in buf:
                need(len(buf) + 1)
            text, buf = buf.split(b'\r\n', 1)
            return text

        try:
            while True:
                size = int(line().split(b';', 1)[0].strip() or b'0', 16)
                if size == 0:
                    while line():  # trailers end with an empty line
                        pass
                    return
                need(size + 2)
                buf = buf[size + 2:]
        except (EOFError, ValueError):
            return


class TCPProxy(object):
    """A threaded TCP proxy on 127.0.0.1 that can inject faults.

    Counters are updated before the bytes they count are sent, so a client
    that has its answer can read them.

    Use it as a context manager::

        with TCPProxy('127.0.0.1', port) as proxy:
            client = make_client(proxy.url)
            proxy.fail_request(503, match=r'^PUT .*partNumber=2')
    """

    def __init__(self, upstream_host, upstream_port, http=True,
                 tls_certfile=None, tls_keyfile=None, timeout=60,
                 listen_port=0):
        self.upstream = (upstream_host, int(upstream_port))
        self.http = http
        self.timeout = timeout
        self.mode = 'forward'
        self._ssl_context = None
        if tls_certfile:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(tls_certfile, tls_keyfile)
            self._ssl_context = ctx
        self._lock = threading.Lock()
        self._listener_changed = threading.Condition(self._lock)
        self._rules = []
        self._connections = set()
        self._threads = []
        self._stopping = threading.Event()
        self._ids = itertools.count(1)
        self._listener = None
        self._accept_thread = None
        self.port = listen_port
        self.requests = []
        self.counters = dict.fromkeys(
            ('connections', 'bytes_up', 'bytes_down', 'request_flips',
             'response_flips', 'drops', 'responses_injected'), 0)

    # -- life cycle --

    @property
    def scheme(self):
        return 'https' if self._ssl_context else 'http'

    @property
    def url(self):
        return '%s://127.0.0.1:%d' % (self.scheme, self.port)

    def url_for(self, host):
        """The proxy's URL with another name for 127.0.0.1 (localhost)."""
        return '%s://%s:%d' % (self.scheme, host, self.port)

    def _listen(self):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(('127.0.0.1', self.port))
        sock.listen(128)
        self.port = sock.getsockname()[1]
        return sock

    def start(self):
        self._listener = self._listen()
        self._accept_thread = threading.Thread(
            target=self._accept_loop, name='gs-proxy-accept', daemon=True)
        self._accept_thread.start()
        return self

    def stop(self):
        self._stopping.set()
        if self._accept_thread is not None:
            self._accept_thread.join(10)
        with self._lock:
            connections = list(self._connections)
            threads = list(self._threads)
        for conn in connections:
            conn.close(abort=True)
        for thread in threads:
            thread.join(10)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info):
        self.stop()

    def _accept_loop(self):
        while not self._stopping.is_set():
            with self._lock:
                want = self.mode != 'refuse'
                if want and self._listener is None:
                    self._listener = self._listen()
                elif not want and self._listener is not None:
                    self._listener.close()
                    self._listener = None
                listener = self._listener
                self._listener_changed.notify_all()
            if listener is None:
                self._stopping.wait(0.02)
                continue
            ready, _, _ = select.select([listener], [], [], 0.02)
            if not ready:
                continue
            try:
                client, _addr = listener.accept()
            except OSError:
                continue
            conn = _Connection(self, client)
            thread = threading.Thread(target=conn.run, name='gs-proxy-conn',
                                      daemon=True)
            with self._lock:
                self._connections.add(conn)
                self._threads = [t for t in self._threads if t.is_alive()]
                self._threads.append(thread)
                self.counters['connections'] += 1
            thread.start()
        with self._lock:
            if self._listener is not None:
                self._listener.close()
                self._listener = None

    def _forget(self, conn):
        with self._lock:
            self._connections.discard(conn)

    # -- counters --

    def _count(self, name, amount=1):
        with self._lock:
            self.counters[name] += amount

    def _count_request(self, request_line):
        with self._lock:
            self.requests.append(request_line)

    def stats(self):
        """A snapshot of the counters, with the number of requests."""
        with self._lock:
            result = dict(self.counters)
            result['requests'] = len(self.requests)
        return result

    def requests_matching(self, pattern):
        regex = re.compile(pattern)
        with self._lock:
            return [r for r in self.requests if regex.search(r)]

    # -- modes and faults --

    def _take_rules(self, request_line):
        taken = []
        with self._lock:
            for rule in self._rules:
                if any(r.action == rule.action for r in taken):
                    continue
                if rule.matches(request_line):
                    rule.take()
                    taken.append(rule)
        return taken

    def _add(self, rule):
        if rule.pattern is not None and not self.http:
            raise ValueError('a raw proxy cannot match request lines')
        with self._lock:
            self._rules.append(rule)
        return rule

    def _set_mode(self, mode):
        with self._lock:
            self.mode = mode
            if self._accept_thread is None:
                return
            want_listener = mode != 'refuse'
            while ((self._listener is not None) != want_listener and
                   not self._stopping.is_set()):
                self._listener_changed.wait(1)

    def passthrough(self):
        """Forget every fault; forward everything; accept connections."""
        with self._lock:
            self._rules = []
        self._set_mode('forward')

    def corrupt_request(self, offset=0, match=None, times=1):
        """Flip (xor 0xFF) request body byte number ``offset``."""
        return self._add(Rule('flip_request', match, times, offset=offset))

    def corrupt_response(self, offset=0, match=None, times=1):
        """Flip (xor 0xFF) response body byte number ``offset``."""
        return self._add(Rule('flip_response', match, times, offset=offset))

    def drop_request(self, after=0, match=None, times=1):
        """Reset both sides once ``after`` body bytes went upstream."""
        return self._add(Rule('drop_request', match, times, offset=after))

    def fail_request(self, status=500, match=None, times=1, code=None,
                     message=None):
        """Answer ``status`` with an S3 error body instead of the server.

        The request never reaches the server. Its body is read and
        dropped first (unless it waits for ``100 Continue``), so the
        client reads the answer rather than a broken pipe.
        """
        if not self.http:
            raise ValueError('a raw proxy cannot answer HTTP requests')
        return self._add(Rule('respond', match, times, status=status,
                              code=code, message=message))

    def blackhole(self):
        """Stop forwarding: connections hang, open or new, until stop()."""
        self._set_mode('blackhole')

    def refuse(self, abort_existing=True):
        """Close the listening socket; new connections are refused."""
        self._set_mode('refuse')
        if abort_existing:
            with self._lock:
                connections = list(self._connections)
            for conn in connections:
                conn.close(abort=True)
