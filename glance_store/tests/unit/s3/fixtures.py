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

"""Shared helpers of the S3 store unit tests.

* ``store_options`` / ``configure_store``: a single-store S3 ``Store``
  configured on ``cfg.CONF`` (through a ``StoreBaseTest``'s ``config``, so
  overrides are undone after the test).
* ``Stubbed``: a ``botocore.stub.Stubber`` on a store's real client that
  also records the serialized request of every call (headers included),
  so tests see what would go on the wire without any server.
* ``Wire``: lets botocore build, checksum, encode and sign a request
  completely and answers it in the ``before-send`` event, for a store
  pointed at an address where nothing listens (``WIRE_HOST``).
* small response builders (``streaming_body``, ``head_object`` ...).

The API of this module is used by several test files: extend it, do not
change what exists.
"""

import base64
import dataclasses
import hashlib
import io
import logging
import os
import socket
import ssl
import subprocess
import threading
import zlib

from awscrt import checksums as crt
import boto3
from botocore import awsrequest
from botocore import exceptions as boto_exc
from botocore import response as boto_response
from botocore import stub
import fixtures
import urllib3

import glance_store as store
from glance_store._drivers import s3
from glance_store._drivers import s3_upload
from glance_store.cmd.s3_check import embedded
from glance_store import location
from glance_store.tests import base

ACCESS_KEY = 'AKIAFIXTUREACCESS'
# A secret with '/', '@' and '+', like real ones can have.
SECRET_KEY = 'fixture/Secret@Key+0123456789abcdef'
BUCKET = 'glance-images'
HOST = 's3.example.test'
REGION = 'us-east-1'
# Nothing listens there: requests are answered by ``Wire``.
WIRE_HOST = 'https://127.0.0.1:1'

ANY = stub.ANY


def store_options(**overrides):
    """Option values of a working S3 store, with ``overrides`` applied."""
    opts = {
        's3_store_host': 'https://' + HOST,
        's3_store_access_key': ACCESS_KEY,
        's3_store_secret_key': SECRET_KEY,
        's3_store_bucket': BUCKET,
        's3_store_check_stale_uploads': False,
    }
    opts.update(overrides)
    return opts


def configure_store(test, register_schemes=True, re_raise_bsc=False,
                    **overrides):
    """A configured single-store S3 ``Store`` on ``cfg.CONF``.

    ``test`` is a ``glance_store.tests.base.StoreBaseTest``; the options
    are ``store_options(**overrides)`` set with ``test.config`` (reset
    after the test).  An option given as None is unset (its override
    cleared).
    ``register_schemes`` registers the s3 schemes so that
    ``location.get_location_from_uri`` works.
    """
    conf = test.conf
    st = s3.Store(conf)  # registers the options in [glance_store]
    values = store_options(**overrides)
    for name, value in values.items():
        if value is None:
            conf.clear_override(name, 'glance_store')
        else:
            test.config(**{name: value})
    st.configure(re_raise_bsc=re_raise_bsc)
    if register_schemes:
        test.register_store_schemes(st, 's3')
    return st


def get_location(st, key, bucket=BUCKET, host=None, scheme=None):
    """A ``glance_store.location.Location`` of ``key`` in ``st``."""
    uri = '%s://%s/%s/%s' % (scheme or st.scheme, host or st.s3_netloc,
                             bucket, key)
    return location.get_location_from_uri(uri, conf=st.conf)


def md5_b64(data):
    """The base64 MD5 of ``data``, as ``Content-MD5`` carries it."""
    return base64.b64encode(hashlib.md5(data).digest()).decode('ascii')


class StubbedStoreTest(base.StoreBaseTest):
    """A single store's tests with Stubber expectations (``Stubbed``)."""

    def store(self, **opts):
        return configure_store(self, **opts)

    def policy_store(self, enabled, request, response, algorithm='CRC32',
                     **opts):
        return self.store(
            s3_store_enable_data_integrity_protection=enabled,
            s3_store_request_checksum_calculation=request,
            s3_store_response_checksum_validation=response,
            s3_store_checksum_algorithm=algorithm, **opts)

    def expect_new_object(self, stub, key):
        stub.add_response('head_bucket', {}, {'Bucket': BUCKET})
        stub.add_client_error('head_object', '404', 'Not Found', 404,
                              {'Bucket': BUCKET, 'Key': key})

    def expect_put(self, stub, key, data, checksum_params):
        params = {'Bucket': BUCKET, 'Key': key, 'Body': ANY,
                  'ContentMD5': md5_b64(data)}
        params.update(checksum_params)
        stub.add_response('put_object', {'ETag': '"put"'}, params)

    def add(self, st, key, data, size=None):
        return st.add(key, io.BytesIO(data),
                      len(data) if size is None else size, 'sha256')

    def read_all(self, st, key, **kw):
        it, size = st.get(get_location(st, key), **kw)
        return b''.join(it), size


def streaming_body(data):
    """A botocore ``StreamingBody`` serving ``data``."""
    return boto_response.StreamingBody(io.BytesIO(data), len(data))


def head_object(size, **extra):
    resp = {'ContentLength': size, 'ETag': '"etag"'}
    resp.update(extra)
    return resp


def get_object(data, **extra):
    """A GetObject response serving ``data`` (``extra``: checksums...)."""
    resp = {'Body': streaming_body(data), 'ContentLength': len(data),
            'ETag': '"etag"'}
    resp.update(extra)
    return resp


class Stubbed(object):
    """A ``Stubber`` on ``client`` that records the serialized requests.

    ``requests`` is a list of ``(operation_name, request_dict)`` in call
    order; ``request_dict['headers']`` are the HTTP headers botocore built
    for the call (before signing).  Use as a context manager or call
    ``activate`` / ``deactivate``; ``test.addCleanup`` is not needed when
    created with ``Stubbed.for_test(test, client)``.
    """

    def __init__(self, client):
        self.client = client
        self.stubber = stub.Stubber(client)
        self.requests = []
        self._hook_id = 'glance-store-test-capture-%d' % id(self)

    @classmethod
    def for_test(cls, test, client):
        stubbed = cls(client)
        stubbed.activate()
        test.addCleanup(stubbed.deactivate)
        return stubbed

    def _capture(self, model, params, **kwargs):
        self.requests.append((model.name, params))

    def activate(self):
        # Registered first on the same event name as the Stubber (a more
        # specific name would run after it) so that it sees every call.
        self.client.meta.events.register_first(
            'before-call.*.*', self._capture, unique_id=self._hook_id)
        self.stubber.activate()

    def deactivate(self):
        self.stubber.deactivate()
        self.client.meta.events.unregister(
            'before-call.*.*', self._capture, unique_id=self._hook_id)

    def __enter__(self):
        self.activate()
        return self

    def __exit__(self, *exc):
        self.deactivate()

    # Stubber passthroughs ------------------------------------------------
    def add_response(self, method, response, expected_params=None):
        self.stubber.add_response(method, response, expected_params)

    def add_client_error(self, method, code='', message='',
                         http_status=400, expected_params=None,
                         response_meta=None):
        self.stubber.add_client_error(
            method, service_error_code=code, service_message=message,
            http_status_code=http_status, expected_params=expected_params,
            response_meta=response_meta)

    def assert_no_pending_responses(self):
        self.stubber.assert_no_pending_responses()

    # Recorded requests ---------------------------------------------------
    def operations(self):
        return [name for name, _params in self.requests]

    def headers(self, operation, index=0):
        """Lower-cased headers of the ``index``-th ``operation`` call."""
        found = [p for n, p in self.requests if n == operation]
        return {k.lower(): v for k, v in found[index]['headers'].items()}


class Wire(object):
    """Answer ``client``'s requests in its ``before-send`` event.

    botocore runs everything a real call runs (checksums, aws-chunked
    encoding, signing) and hands the prepared request to this object
    instead of the network.  ``sent`` is a list of ``(operation,
    AWSPreparedRequest, body_bytes)``; responses are queued per operation
    with ``add`` and an operation without a queued response fails the
    test with an AssertionError.
    """

    def __init__(self, client):
        self.client = client
        self.sent = []
        self._responses = {}

    @classmethod
    def for_test(cls, test, client):
        wire = cls(client)
        client.meta.events.register('before-send.s3', wire._send)
        test.addCleanup(client.meta.events.unregister, 'before-send.s3',
                        wire._send)
        return wire

    def add(self, operation, status=200, headers=None, body=b''):
        self._responses.setdefault(operation, []).append(
            (status, dict(headers or {}), body))

    def _send(self, request, event_name, **kwargs):
        operation = event_name.rsplit('.', 1)[-1]
        body = request.body
        if hasattr(body, 'read'):
            body = body.read()
        # A copy: the store may reuse its part buffers once a request is
        # done.
        self.sent.append((operation, request, bytes(body or b'')))
        queued = self._responses.get(operation)
        if not queued:
            raise AssertionError('unexpected %s request' % operation)
        status, headers, data = queued.pop(0)
        headers.setdefault('Content-Length', str(len(data)))
        raw = urllib3.HTTPResponse(body=io.BytesIO(data), headers=headers,
                                   status=status, preload_content=False)
        return awsrequest.AWSResponse(request.url, status, headers, raw)

    def requests(self, operation):
        """``[(lower-cased headers, body)]`` of ``operation``'s requests."""
        return [({k.lower(): (v.decode() if isinstance(v, bytes) else v)
                  for k, v in req.headers.items()}, body)
                for op, req, body in self.sent if op == operation]


class MotoServer(embedded.EmbeddedServer):
    """moto's S3 server in a thread on 127.0.0.1, started at once.

    The check tool's own helper, with a client to inspect the server.
    """

    def __init__(self):
        super().__init__()
        self.start()
        self.url = self.endpoint

    def client(self):
        """A plain client to look at what the store left on the server."""
        return boto3.client('s3', endpoint_url=self.url,
                            aws_access_key_id='inspector',
                            aws_secret_access_key='inspector',
                            region_name='us-east-1')


class MotoServerMixin(object):
    """One moto server per test class, emptied before each test."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.moto = MotoServer()

    @classmethod
    def tearDownClass(cls):
        cls.moto.stop()
        super().tearDownClass()

    def setUp(self):
        super().setUp()
        self.moto.reset()


KiB = 1024
# Small sizes keep the tests fast: S3's 5 MiB part minimum is lowered
# for the store and for moto alike.
PART = 64 * KiB
THRESHOLD = 256 * KiB


def small_limits(store, threshold=THRESHOLD, part_size=PART,
                 max_in_flight=None, **limits):
    """Give ``store`` upload limits of a few KiB (S3 wants 5 MiB parts).

    Parts may be as small as 1 KiB and the largest object is small enough
    for an image of unknown size to start with 1 KiB parts too; moto must
    be told to accept small parts as well (``moto_small_parts``).
    """
    values = dict(threshold=threshold, part_size=part_size,
                  max_in_flight=max_in_flight or store.s3_store_thread_pools,
                  min_part_size=1 * KiB,
                  max_object_size=1023000 * KiB)
    values.update(limits)
    # The fixture changes the configured store in place, because the
    # module API functions use the store they registered; product code
    # derives a store instead (``Store.derive``).
    store._settings = dataclasses.replace(
        store.settings, limits=s3_upload.UploadLimits(**values))
    return store


def moto_small_parts(test):
    """Let moto accept parts below S3's 5 MiB minimum."""
    test.useFixture(fixtures.MonkeyPatch(
        'moto.s3.models.S3_UPLOAD_PART_MIN_SIZE', 1 * KiB))


def client_error(code, status, operation='UploadPart', message='failed'):
    return boto_exc.ClientError(
        {'Error': {'Code': code, 'Message': message},
         'ResponseMetadata': {'HTTPStatusCode': status}}, operation)


class RecordingClient(object):
    """A proxy of a real client: records calls, injects failures.

    ``failures`` maps a method name to ``f(kwargs) -> exception or
    None``; a returned exception is raised instead of making the call.
    """

    def __init__(self, client, failures=None):
        self._client = client
        self.failures = dict(failures or {})
        self.calls = []
        self.returned = {}
        self._lock = threading.Lock()

    @property
    def meta(self):
        return self._client.meta

    def __getattr__(self, name):
        method = getattr(self._client, name)

        def call(**kwargs):
            recorded = dict(kwargs)
            body = recorded.pop('Body', None)
            if body is not None:
                recorded['BodyLength'] = len(body)
            with self._lock:
                self.calls.append((name, recorded))
            fail = self.failures.get(name)
            error = fail(kwargs) if fail else None
            if error is not None:
                raise error
            result = method(**kwargs)
            with self._lock:
                self.returned.setdefault(name, []).append(result)
            return result
        return call

    def names(self):
        return [n for n, _kw in self.calls]

    def of(self, name):
        return [kw for n, kw in self.calls if n == name]


class LogRecords(fixtures.Fixture):
    """The log records of every logger, DEBUG and up, as records."""

    def _setUp(self):
        self.records = []
        handler = logging.Handler(logging.DEBUG)
        handler.emit = self.records.append
        root = logging.getLogger()
        old_level = root.level
        root.addHandler(handler)
        root.setLevel(logging.DEBUG)
        self.addCleanup(root.setLevel, old_level)
        self.addCleanup(root.removeHandler, handler)


class CountingVerifier(object):
    """A signature verifier that counts and hashes what it is fed."""

    def __init__(self):
        self.size = 0
        self.updates = 0
        self.sha = hashlib.sha256()

    def update(self, data):
        self.size += len(data)
        self.updates += 1
        self.sha.update(data)


class S3MotoTestBase(MotoServerMixin, base.StoreBaseTest):
    """A single-store S3 store on moto's server with small parts."""

    def setUp(self):
        super().setUp()
        moto_small_parts(self)
        self.inspect = self.moto.client()
        # botocore's and urllib3's DEBUG records hold whole request
        # bodies: captured, one test's log outgrew what subunit can carry
        # (4.7 MB). The key-in-logs tests (test_logging) keep DEBUG.
        for name in ('botocore', 'urllib3', 's3transfer'):
            logger = logging.getLogger(name)
            self.addCleanup(logger.setLevel, logger.level)
            logger.setLevel(logging.INFO)

    def make_store(self, failures=None, thread_pools=3, **overrides):
        opts = dict(s3_store_host=self.moto.url,
                    s3_store_bucket_url_format='path',
                    s3_store_create_bucket_on_put=True,
                    s3_store_thread_pools=thread_pools)
        opts.update(overrides)
        store = configure_store(self, re_raise_bsc=True, **opts)
        small_limits(store)
        self.client = RecordingClient(store._s3_client, failures)
        store._s3_client = self.client
        return store

    def stored(self, key):
        return self.inspect.get_object(
            Bucket=BUCKET, Key=key)['Body'].read()

    def assertNothingLeft(self):
        listing = self.inspect.list_objects_v2(Bucket=BUCKET)
        self.assertEqual([], listing.get('Contents', []))
        uploads = self.inspect.list_multipart_uploads(
            Bucket=BUCKET)
        self.assertEqual([], uploads.get('Uploads', []))


RESERVED = {'os_glance_staging_store': 'file',
            'os_glance_tasks_store': 'file'}


def _text(value):
    return value.decode() if isinstance(value, bytes) else value


def write_config(path, sections):
    with open(path, 'w') as f:
        for name, values in sections.items():
            f.write('[%s]\n' % name)
            for k, v in values.items():
                f.write('%s = %s\n' % (k, v))


class ConfigFileMixin(object):
    """Tests that parse a written glance-api.conf into ``self.conf``."""

    def load(self, sections):
        """Write ``sections`` ({group: {option: value}}) and parse it."""
        path = os.path.join(self.test_dir, 'glance-api.conf')
        write_config(path, sections)
        self.conf(['--config-file', path], project='glance',
                  default_config_files=[])
        self.addCleanup(self.conf.clear)
        return path

    load_config = load

    def warnings(self):
        """The WARNING lines of ``self.log`` (a ``FakeLogger``).

        oslo.config's deprecation warnings (once per process) aside.
        """
        return [line for line in self.log.output.splitlines()
                if line.startswith('WARNING ') and
                'Deprecated:' not in line]


def glance_sections(test_dir, endpoint, aws=None, rgw=None, defaults=None):
    """The sections of a glance-api.conf with the mixed multi-store."""
    sections = {
        'DEFAULT': {'enabled_backends': 'aws:s3, rgw:s3, files:file'},
        'glance_store': {'default_backend': 'aws'},
        'os_glance_staging_store': {
            'filesystem_store_datadir': os.path.join(test_dir, 'staging')},
        'os_glance_tasks_store': {
            'filesystem_store_datadir': os.path.join(test_dir, 'tasks')},
        'backend_defaults': {
            # Shared by both S3 backends.
            's3_store_access_key': ACCESS_KEY,
            's3_store_secret_key': SECRET_KEY,
            's3_store_bucket_url_format': 'path',
            's3_store_create_bucket_on_put': 'True',
            # Checksum defaults a backend may override.
            's3_store_enable_data_integrity_protection': 'True',
            's3_store_response_checksum_validation': 'when_supported',
            's3_store_checksum_algorithm': 'SHA256',
        },
        'aws': {
            's3_store_host': endpoint,
            's3_store_bucket': 'aws-images',
            's3_store_enable_data_integrity_protection': 'True',
            's3_store_request_checksum_calculation': 'always',
            's3_store_response_checksum_validation': 'always',
            's3_store_checksum_algorithm': 'CRC32',
        },
        'rgw': {
            's3_store_host': endpoint,
            's3_store_bucket': 'rgw-images',
            's3_store_enable_data_integrity_protection': 'False',
        },
        'files': {
            'filesystem_store_datadir': os.path.join(test_dir, 'files')},
    }
    for name, values in (('aws', aws), ('rgw', rgw),
                         ('backend_defaults', defaults)):
        if values is not None:
            sections[name] = values
    return sections


class MultiStoreS3Base(MotoServerMixin, base.MultiStoreBaseTest):

    def setUp(self):
        super().setUp()
        self.inspect = self.moto.client()

    def load(self, **sections):
        """Parse the glance-api.conf and create the stores, as Glance."""
        path = os.path.join(self.test_dir, 'glance-api.conf')
        write_config(path, glance_sections(self.test_dir, self.moto.url,
                                           **sections))
        self.conf(['--config-file', path], project='glance',
                  default_config_files=[])
        self.addCleanup(self.conf.clear)
        store.register_store_opts(self.conf, reserved_stores=RESERVED)
        count = store.create_multi_stores(self.conf,
                                          reserved_stores=RESERVED)
        store.verify_store()
        return count

    def backend(self, name):
        return store.get_store_from_store_identifier(name)


def start_upload(client, bucket, key, parts=1):
    """Leave an open multipart upload of ``parts`` 5 MiB parts.

    :returns: its upload id.
    """
    upload_id = client.create_multipart_upload(
        Bucket=bucket, Key=key)['UploadId']
    for number in range(1, parts + 1):
        client.upload_part(Bucket=bucket, Key=key, UploadId=upload_id,
                           PartNumber=number, Body=b'x' * (5 * 1024 * 1024))
    return upload_id


def self_signed(directory):
    """A self-signed certificate for 127.0.0.1: ``(cert, key)`` paths."""
    cert = os.path.join(directory, 'cert.pem')
    key = os.path.join(directory, 'key.pem')
    subprocess.run(
        ['openssl', 'req', '-x509', '-newkey', 'rsa:2048', '-nodes',
         '-keyout', key, '-out', cert, '-days', '1', '-subj',
         '/CN=127.0.0.1'], check=True, capture_output=True)
    return cert, key


class TLSServer(object):
    """A TLS port on 127.0.0.1 that drops what is not TLS."""

    def __init__(self, cert, key):
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(cert, key)
        self.sock = socket.socket()
        self.sock.bind(('127.0.0.1', 0))
        self.sock.listen(8)
        self.netloc = '127.0.0.1:%d' % self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while True:
            try:
                conn, _addr = self.sock.accept()
            except OSError:
                return
            try:
                with self.context.wrap_socket(conn, server_side=True):
                    pass
            except (ssl.SSLError, OSError):
                conn.close()

    def stop(self):
        self.sock.close()


# Reference checksums and sample images for the checksum tests
# (test_s3 and test_download).
# The flexible checksum algorithms of botocore 1.36.
ALGORITHMS = ('CRC32', 'CRC32C', 'CRC64NVME', 'SHA1', 'SHA256')
CRCS = ('CRC32', 'CRC32C', 'CRC64NVME')
# The algorithms of botocore >= 1.42 (composite for multipart uploads).
NEW_ALGORITHMS = ('SHA512', 'XXHASH64', 'XXHASH3', 'XXHASH128')
XXHASH = {'XXHASH64': 'compute_xxhash64', 'XXHASH3': 'compute_xxhash3_64',
          'XXHASH128': 'compute_xxhash3_128'}

# Multipart tests of the checksums use small parts (UploadLimits below
# S3's minimum).
SAMPLE_PART = 1024
SAMPLE_THRESHOLD = 2 * SAMPLE_PART
SMALL = bytes(range(256)) * 3 + b'tail'           # one PutObject
LARGE = bytes((i * 31) % 251 for i in range(2 * SAMPLE_PART + 500))  # 3 parts


def b64(raw):
    """``raw`` in base64, as S3 writes checksums."""
    return base64.b64encode(raw).decode('ascii')


def ref_checksum(algorithm, data):
    """S3's base64 checksum of ``data``, from independent libraries."""
    if algorithm == 'CRC32':
        return b64(zlib.crc32(data).to_bytes(4, 'big'))
    if algorithm == 'CRC32C':
        return b64(crt.crc32c(data).to_bytes(4, 'big'))
    if algorithm == 'CRC64NVME':
        return b64(crt.crc64nvme(data).to_bytes(8, 'big'))
    if algorithm in XXHASH:
        return b64(getattr(crt.XXHash, XXHASH[algorithm])(bytes(data)))
    return b64(hashlib.new(algorithm.lower(), data).digest())


def ref_digest(algorithm, data):
    """The raw digest of ``ref_checksum``."""
    return base64.b64decode(ref_checksum(algorithm, data))


def split_parts(data):
    """``data`` in ``SAMPLE_PART``-sized parts."""
    return [data[i:i + SAMPLE_PART]
            for i in range(0, len(data), SAMPLE_PART)]
