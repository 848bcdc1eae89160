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

import io
import urllib.request

import boto3
from botocore import awsrequest
from botocore import response as boto_response
from botocore import stub
from moto import server as moto_server
import urllib3

from glance_store._drivers import s3
from glance_store import location

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
        's3_store_host': HOST,
        's3_store_access_key': ACCESS_KEY,
        's3_store_secret_key': SECRET_KEY,
        's3_store_bucket': BUCKET,
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


class MotoServer(object):
    """moto's S3 server in a thread on 127.0.0.1, a free port."""

    def __init__(self):
        self.server = moto_server.ThreadedMotoServer('127.0.0.1', 0,
                                                     verbose=False)
        self.server.start()
        host, port = self.server.get_host_and_port()
        self.netloc = '%s:%d' % (host, port)
        self.url = 'http://' + self.netloc

    def reset(self):
        req = urllib.request.Request(self.url + '/moto-api/reset',
                                     method='POST')
        with urllib.request.urlopen(req) as resp:
            resp.read()

    def client(self):
        """A plain client to look at what the store left on the server."""
        return boto3.client('s3', endpoint_url=self.url,
                            aws_access_key_id='inspector',
                            aws_secret_access_key='inspector',
                            region_name='us-east-1')

    def stop(self):
        self.server.stop()


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
