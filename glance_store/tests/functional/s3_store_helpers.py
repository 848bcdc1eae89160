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

"""Helpers of the store-level functional tests on real S3 servers.

* ``make_store``: a configured single-store ``s3.Store`` on a private
  ``cfg.ConfigOpts`` (nothing global is touched), pointed at a server from
  ``servers.load_servers()`` or at a proxy in front of it, with a 5 MB
  multipart threshold and 5 MB parts so that multipart uploads are cheap.
* ``Checksums``: named option sets of the checksum policy.
* ``image`` / ``digests`` / ``Reader``: image bytes, their md5 and sha512
  computed with hashlib alone, and a file-like reader that serves them in
  small pieces (optionally raising part way).
* ``S3StoreTestCase``: a test base with one unique bucket per test class
  and server, emptied after each test and deleted after the class.
"""

import collections
import hashlib
import io
import logging
import os
import random
import subprocess
import tempfile
import uuid

import fixtures
from oslo_config import cfg
from oslotest import base

from glance_store._drivers import s3
from glance_store._drivers import s3_checksums
from glance_store._drivers import s3_redact
from glance_store import location
from glance_store.tests.functional import servers

MiB = 1024 * 1024
# Multipart threshold and part size (MB) of the test stores.
LARGE_OBJECT_SIZE_MB = 5
CHUNK_SIZE_MB = 5
THREAD_POOLS = 4

DRIVER_LOGGER = 'glance_store._drivers'

Checksums = collections.namedtuple(
    'Checksums', 'name enabled request response algorithm')

# None: the option is not set at all, so the driver's defaults apply.
DEFAULTS = Checksums('defaults', None, None, None, None)
SWITCH_OFF = Checksums('switch off', False, 'when_required',
                       'when_required', 'CRC32')
WHEN_SUPPORTED = Checksums('when_supported', True, 'when_supported',
                           'when_supported', 'CRC32')
ALWAYS_CRC32 = Checksums('always CRC32', True, 'always', 'always', 'CRC32')
ALWAYS_SHA256 = Checksums('always SHA256', True, 'always', 'always',
                          'SHA256')
ALWAYS_CRC32C = Checksums('always CRC32C', True, 'always', 'always',
                          'CRC32C')


def second_always():
    """The second ``always`` algorithm of the matrix.

    CRC32C (full-object multipart checksums computed with awscrt) when
    awscrt is importable, else SHA256 (composite multipart checksums).
    """
    return ALWAYS_CRC32C if s3_checksums.crt_available() else ALWAYS_SHA256


def image(size, seed=None):
    """``size`` pseudo-random bytes (repeatable for a given seed)."""
    if not size:
        return b''
    rnd = random.Random(seed if seed is not None else size)
    return rnd.randbytes(size)


def digests(data):
    """(md5 hex, sha512 hex) of ``data``, computed here, not by the store."""
    return hashlib.md5(data).hexdigest(), hashlib.sha512(data).hexdigest()


class ReaderFailure(Exception):
    """Raised by ``Reader`` to play an image source that breaks."""


class Reader(object):
    """A file-like object serving ``data`` in pieces of ``piece`` bytes.

    With ``fail_after`` the read that would go past that many bytes
    raises ``ReaderFailure`` instead.
    """

    def __init__(self, data, piece=256 * 1024, fail_after=None):
        self.data = memoryview(data)
        self.piece = piece
        self.fail_after = fail_after
        self.pos = 0

    def read(self, size=-1):
        if size is None or size < 0:
            size = len(self.data)
        size = min(size, self.piece)
        end = min(self.pos + size, len(self.data))
        if self.fail_after is not None and end > self.fail_after:
            raise ReaderFailure('image source broke after %d bytes'
                                % self.pos)
        chunk = bytes(self.data[self.pos:end])
        self.pos = end
        return chunk


def make_conf():
    """A private ConfigOpts, parsed with no files and no arguments."""
    conf = cfg.ConfigOpts()
    conf([], project='glance_store_functional', default_config_files=[],
         default_config_dirs=[])
    return conf


def store_options(server, scheme='http', bucket=None, checksums=SWITCH_OFF,
                  endpoint=None, cacert=None, **overrides):
    """Option values of a test store for ``server``.

    ``endpoint`` replaces the server's own URL (a proxy's, for example);
    ``cacert`` the server's CA bundle (used for HTTPS endpoints only).
    """
    url = endpoint or servers.endpoint(server, scheme)
    opts = {
        's3_store_host': url,
        's3_store_access_key': server['access_key'],
        's3_store_secret_key': server['secret_key'],
        's3_store_bucket': bucket,
        's3_store_region_name': server.get('region') or 'us-east-1',
        's3_store_bucket_url_format': 'path',
        's3_store_large_object_size': LARGE_OBJECT_SIZE_MB,
        's3_store_large_object_chunk_size': CHUNK_SIZE_MB,
        's3_store_thread_pools': THREAD_POOLS,
        's3_store_create_bucket_on_put': False,
        's3_store_enable_data_integrity_protection': checksums.enabled,
        's3_store_request_checksum_calculation': checksums.request,
        's3_store_response_checksum_validation': checksums.response,
        's3_store_checksum_algorithm': checksums.algorithm,
    }
    if url.startswith('https://'):
        opts['s3_store_cacert'] = cacert or server['ca_bundle']
    opts.update(overrides)
    return opts


def make_store(server, scheme='http', bucket=None, checksums=SWITCH_OFF,
               endpoint=None, cacert=None, re_raise_bsc=True, **overrides):
    """A configured single-store ``s3.Store`` on a private ConfigOpts."""
    conf = make_conf()
    store = s3.Store(conf)
    for name, value in store_options(server, scheme, bucket, checksums,
                                     endpoint, cacert, **overrides).items():
        if value is not None:
            conf.set_override(name, value, group='glance_store')
    store.configure(re_raise_bsc=re_raise_bsc)
    return store


def retry_mode(store):
    """botocore's retry mode of the store's client ('legacy'/'standard').

    botocore 1.44 made 'standard' the default (3 attempts; BadDigest is
    not retried); before it was 'legacy' (5 attempts; BadDigest retried).
    """
    retries = store._s3_client.meta.config.retries or {}
    return retries.get('mode', 'legacy')


def total_attempts(store):
    """How many times botocore sends a request that keeps failing."""
    retries = store._s3_client.meta.config.retries or {}
    if 'total_max_attempts' in retries:
        return retries['total_max_attempts']
    return 3 if retry_mode(store) == 'standard' else 5


def retries_bad_digest(store):
    """botocore's legacy mode retries S3 BadDigest answers."""
    return retry_mode(store) == 'legacy'


def get_location(store, uri):
    """The ``Location`` of ``uri`` (as ``add`` returned it) for ``store``."""
    scheme = uri.split('://', 1)[0]
    return location.Location(scheme, s3.StoreLocation, store.conf, uri=uri)


def read_all(store, loc, offset=0, chunk_size=None):
    """The bytes ``store.get`` serves, and the size it announced."""
    iterator, size = store.get(loc, offset=offset, chunk_size=chunk_size)
    return b''.join(iterator), size


def self_signed_cert(directory):
    """A throw-away certificate and key for 127.0.0.1 / localhost."""
    cert = os.path.join(directory, 'proxy-cert.pem')
    key = os.path.join(directory, 'proxy-key.pem')
    subprocess.run(
        ['openssl', 'req', '-x509', '-newkey', 'rsa:2048', '-nodes',
         '-keyout', key, '-out', cert, '-days', '2', '-subj',
         '/CN=localhost', '-addext',
         'subjectAltName=DNS:localhost,IP:127.0.0.1'],
        check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return cert, key


def unique_key(prefix='image'):
    return '%s-%s' % (prefix, uuid.uuid4())


class NoKeyInLogs(fixtures.Fixture):
    """Fails the test when any log record made during it holds a key.

    Every logger runs at DEBUG for the test (botocore's and urllib3's
    request logs included), and every record is searched as it is made,
    after the store's redaction: its message with the arguments, an
    attached traceback and the stack. Nothing is kept but the names of
    the loggers at fault, and the handlers already on the root logger
    (the test's log capture) keep the level they had, so the captured log
    does not grow with the request bodies botocore logs at DEBUG.

    Keys shorter than 8 characters (LocalStack's ``test``) would match
    ordinary words and are not searched for.

    :param servers: the server descriptions (``access_key``,
        ``secret_key``) of the functional environment.
    """

    MIN_KEY = 8

    def __init__(self, servers):
        super().__init__()
        infos = [i for i in servers.values() if isinstance(i, dict)]
        self._pairs = [(i.get('access_key'), i.get('secret_key'))
                       for i in infos]
        self.keys = sorted({k for pair in self._pairs for k in pair
                            if k and len(k) >= self.MIN_KEY})
        self.found = []

    def _setUp(self):
        # A configured store registers its keys before its first request;
        # the tests' own admin clients use them before any store exists.
        for access_key, secret_key in self._pairs:
            s3_redact.register_keys(access_key, secret_key)
        root = logging.getLogger()
        for handler in list(root.handlers):
            self.addCleanup(handler.setLevel, handler.level)
            handler.setLevel(max(handler.level, root.getEffectiveLevel()))
        self.addCleanup(root.setLevel, root.level)
        root.setLevel(logging.DEBUG)
        previous = logging.getLogRecordFactory()

        def factory(*args, **kwargs):
            record = previous(*args, **kwargs)
            self._scan(record)
            return record

        logging.setLogRecordFactory(factory)
        self.addCleanup(logging.setLogRecordFactory, previous)
        self.addCleanup(self._check)

    def _scan(self, record):
        try:
            parts = [record.getMessage()]
        except Exception:
            parts = [str(record.msg), repr(record.args)]
        parts += [record.exc_text or '', record.stack_info or '']
        if record.exc_info and record.exc_info[0] is not None:
            parts.append(logging.Formatter().formatException(
                record.exc_info))
        for part in parts:
            for key in self.keys:
                if key in part:
                    self.found.append('%s (%s, key %s...)' % (
                        record.name, record.levelname, key[:3]))

    def _check(self):
        if self.found:
            raise AssertionError('a key reached the log: %s'
                                 % sorted(set(self.found)))


class LogCapture(fixtures.Fixture):
    """The records of one logger at ``level`` and above, as text.

    Unlike ``fixtures.FakeLogger`` it leaves the logger's level alone, so
    the records below ``level`` are still made (at DEBUG under
    ``NoKeyInLogs``) and searched for keys; only the capture skips them.

    :param name: the logger ('' for the root logger)
    :param level: the lowest level captured
    :param format: the capture's ``logging.Formatter`` format
    """

    def __init__(self, name=DRIVER_LOGGER, level=logging.INFO,
                 format='%(message)s'):
        super().__init__()
        self._name = name
        self._level = level
        self._format = format
        self._stream = None

    def _setUp(self):
        self._stream = io.StringIO()
        handler = logging.StreamHandler(self._stream)
        handler.setLevel(self._level)
        handler.setFormatter(logging.Formatter(self._format))
        self.useFixture(fixtures.LogHandler(handler, name=self._name,
                                            nuke_handlers=False))

    @property
    def output(self):
        """Everything captured so far."""
        return self._stream.getvalue()


class S3StoreTestCase(base.BaseTestCase):
    """One unique bucket per (test class, server, scheme).

    ``self.bucket_of(kind)`` creates it on first use; every bucket used
    is emptied (objects and open uploads) after each test and deleted
    after the class.
    """

    _buckets = None

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls._buckets = {}

    @classmethod
    def tearDownClass(cls):
        for (kind, _scheme), (admin, bucket) in (cls._buckets or {}).items():
            try:
                servers.delete_bucket(admin, bucket)
            except Exception:  # pragma: no cover - best effort clean-up
                pass
        cls._buckets = {}
        super().tearDownClass()

    def setUp(self):
        super().setUp()
        self.servers = servers.load_servers()
        self.useFixture(NoKeyInLogs(self.servers))
        self.tmp = self.useFixture(fixtures.TempDir()).path

    def server(self, kind):
        return servers.get_server(kind)

    def admin(self, kind):
        """A plain boto3 client (no checksums) to look at the bucket."""
        return servers.client(self.server(kind), 'http',
                              request_checksum_calculation='when_required',
                              response_checksum_validation='when_required')

    def bucket_of(self, kind):
        entry = self._buckets.get((kind, 'http'))
        if entry is None:
            admin = self.admin(kind)
            bucket = servers.unique_bucket('gs-%s' % kind)
            admin.create_bucket(Bucket=bucket)
            entry = (admin, bucket)
            self._buckets[(kind, 'http')] = entry
        self.addCleanup(servers.empty_bucket, entry[0], entry[1])
        return entry[1]

    def store(self, kind, scheme='http', checksums=SWITCH_OFF, **kwargs):
        bucket = kwargs.pop('bucket', None) or self.bucket_of(kind)
        return make_store(self.server(kind), scheme, bucket, checksums,
                          **kwargs)

    def add(self, store, data, size=None, key=None, piece=256 * 1024):
        """``store.add`` of ``data``; ``size`` defaults to the real size."""
        key = key or unique_key()
        size = len(data) if size is None else size
        return key, store.add(key, Reader(data, piece), size, 'sha512')

    def assertStored(self, store, uri, data):
        """The object of ``uri`` holds exactly ``data``."""
        loc = get_location(store, uri)
        got, size = read_all(store, loc)
        self.assertEqual(len(data), size)
        self.assertEqual(len(data), len(got))
        self.assertEqual(hashlib.sha512(data).hexdigest(),
                         hashlib.sha512(got).hexdigest())
        self.assertEqual(len(data), store.get_size(loc))
        return loc

    def assertAdded(self, result, data):
        """``add`` returned the right size, md5 and multihash."""
        uri, written, md5_hex, multihash, metadata = result
        md5_expected, sha512_expected = digests(data)
        self.assertEqual(len(data), written)
        self.assertEqual(md5_expected, md5_hex)
        self.assertEqual(sha512_expected, multihash)
        self.assertEqual({}, metadata)
        return uri

    def assertNothingLeft(self, kind, key=None):
        """No object (``key``, or any) and no open multipart upload."""
        admin, bucket = self._buckets[(kind, 'http')]
        keys = servers.list_keys(admin, bucket)
        if key is None:
            self.assertEqual([], keys)
        else:
            self.assertNotIn(key, keys)
        self.assertEqual([], servers.list_open_uploads(admin, bucket))

    def head(self, kind, key, **kwargs):
        admin, bucket = self._buckets[(kind, 'http')]
        return admin.head_object(Bucket=bucket, Key=key, **kwargs)


def matrix_dir():
    """Where the matrix tests of this run leave their rows."""
    path = os.environ.get(servers.ENV_VAR)
    base_dir = os.path.dirname(os.path.abspath(path)) if path else \
        tempfile.gettempdir()
    directory = os.path.join(base_dir, 'gs-func-matrix.d')
    os.makedirs(directory, exist_ok=True)
    return directory
