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

"""Shared helpers of the glance-store-s3-check unit tests.

* ``CheckTestCase``: a moto S3 server per test class (the S3 fixtures'
  ``MotoServerMixin``), a fresh bucket name per test, configuration
  files written from templates, ``run_main`` (the tool in-process,
  stdout and stderr captured) and assertions (one line, no key, bucket
  empty).
* ``glance_verdict``: the same file through the store API as Glance
  drives it.
* ``inject``: a botocore event handler on the clients of the stores whose
  policy matches, through the store's public ``client``.
* ``TLSServer``: a TLS listener on 127.0.0.1 with a self-signed
  certificate, for scheme mistakes.
* ``matrix``: ``ConfigResult`` rows of the standard configurations for
  the report tests.

Test modules import this module, never each other.
"""

import datetime
import io
import ipaddress
import json
import logging
import os
import socket
import ssl
import textwrap
import threading
import uuid

from botocore import awsrequest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import serialization
from cryptography import x509
from cryptography.x509 import oid
import fixtures
from oslo_config import cfg
from oslotest import base

from glance_store._drivers import s3
from glance_store.cmd.s3_check import cli
from glance_store.cmd.s3_check import model
from glance_store import location
from glance_store import multi_backend
from glance_store.tests.unit.s3 import fixtures as s3_fixtures

ACCESS_KEY = 'AKIACHECKTESTACCESS'
SECRET_KEY = 'check/Secret@Key+doNotPrint0123'
BASIC = ['off', 'when_supported', 'always/CRC32', 'always/SHA1',
         'always/SHA256', 'always/MD5']

MULTI_CONF = """
    [DEFAULT]
    enabled_backends = local:file, objects:s3

    [glance_store]
    default_backend = objects

    [local]
    filesystem_store_datadir = %(tmp)s/images

    [objects]
    s3_store_host = %(endpoint)s
    s3_store_access_key = %(access)s
    s3_store_secret_key = %(secret)s
    s3_store_bucket = %(bucket)s
    s3_store_bucket_url_format = path
    """


def missing_content_length(request, **kwargs):
    """What Ceph RGW answers to boto3's streaming checksum uploads."""
    body = (b'<?xml version="1.0" encoding="UTF-8"?><Error>'
            b'<Code>MissingContentLength</Code><Message>You must provide '
            b'the Content-Length HTTP header.</Message></Error>')
    return awsrequest.AWSResponse(request.url, 411, {}, _Raw(body))


class _Raw(object):
    def __init__(self, data):
        self.data = data

    def stream(self, **kwargs):
        yield self.data


def inject(test, condition, event, handler):
    """Register ``handler`` on the client of every matching store.

    :param condition: called with each store once it is configured.
    """
    original = s3.Store.configure_add

    def configure_add(store):
        original(store)
        if condition(store):
            store.client.meta.events.register(event, handler)
    test.useFixture(fixtures.MonkeyPatch(
        'glance_store._drivers.s3.Store.configure_add', configure_add))


def policy_is(request=None, algorithm=None):
    """A condition of ``inject``: the store's request mode / algorithm."""
    def condition(store):
        policy = store.settings.policy
        return (request is None or policy.request == request) and (
            algorithm is None or (policy.precompute and
                                  policy.algorithm == algorithm))
    return condition


def free_port():
    sock = socket.socket()
    sock.bind(('127.0.0.1', 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


class TLSServer(object):
    """Accepts TLS connections on 127.0.0.1 and closes them.

    ``ca_path`` is the PEM of its self-signed certificate.
    """

    def __init__(self, directory):
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(oid.NameOID.COMMON_NAME,
                                             '127.0.0.1')])
        now = datetime.datetime.now(datetime.timezone.utc)
        cert = (x509.CertificateBuilder().subject_name(name)
                .issuer_name(name).public_key(key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(days=1))
                .not_valid_after(now + datetime.timedelta(days=1))
                .add_extension(x509.SubjectAlternativeName(
                    [x509.IPAddress(ipaddress.ip_address('127.0.0.1'))]),
                    critical=False)
                .sign(key, hashes.SHA256()))
        self.ca_path = os.path.join(directory, 'tls-ca.pem')
        key_path = os.path.join(directory, 'tls-key.pem')
        with open(self.ca_path, 'wb') as f:
            f.write(cert.public_bytes(serialization.Encoding.PEM))
        with open(key_path, 'wb') as f:
            f.write(key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption()))
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(self.ca_path, key_path)
        self.sock = socket.socket()
        self.sock.bind(('127.0.0.1', 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.stopped = False
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while not self.stopped:
            try:
                conn, _addr = self.sock.accept()
            except OSError:
                return
            try:
                with self.context.wrap_socket(conn, server_side=True):
                    pass
            except (OSError, ssl.SSLError):
                pass
            finally:
                conn.close()

    def stop(self):
        self.stopped = True
        self.sock.close()


class CheckTestCase(s3_fixtures.MotoServerMixin, base.BaseTestCase):
    """One moto server per class; the tool run in-process."""

    def setUp(self):
        super().setUp()
        self.endpoint = self.moto.url
        self.tmp = self.useFixture(fixtures.TempDir()).path
        self.bucket = 'check-%s' % uuid.uuid4().hex[:12]
        self.client = self.moto.client()
        # botocore's DEBUG lines hold whole request bodies (megabytes per
        # upload): formatting them would be most of the run time.
        for name in ('botocore', 'urllib3', 'werkzeug'):
            logger = logging.getLogger(name)
            self.addCleanup(logger.setLevel, logger.level)
            logger.setLevel(logging.WARNING)
        self.stdout = io.StringIO()
        self.stderr = io.StringIO()
        self.useFixture(fixtures.MonkeyPatch('sys.stdout', self.stdout))
        self.useFixture(fixtures.MonkeyPatch('sys.stderr', self.stderr))

    def no_crt(self):
        """Run as without awscrt: five configurations, faster."""
        self.useFixture(fixtures.MonkeyPatch(
            'glance_store._drivers.s3_checksums.crt_checksums', None))

    def create_bucket(self):
        self.client.create_bucket(Bucket=self.bucket)

    def write_conf(self, text, name='glance-api.conf', **values):
        params = {'endpoint': self.endpoint, 'bucket': self.bucket,
                  'access': ACCESS_KEY, 'secret': SECRET_KEY,
                  'tmp': self.tmp}
        params.update(values)
        path = os.path.join(self.tmp, name)
        with open(path, 'w') as f:
            f.write(textwrap.dedent(text) % params)
        return path

    def multi_conf(self, extra='', **values):
        return self.write_conf(textwrap.dedent(MULTI_CONF) +
                               textwrap.dedent(extra),
                               **values)

    def reset_output(self):
        for stream in (self.stdout, self.stderr):
            stream.seek(0)
            stream.truncate()

    def run_main(self, *args):
        """Exit code, stdout and stderr of the tool."""
        self.reset_output()
        code = cli.main(list(args))
        return code, self.stdout.getvalue(), self.stderr.getvalue()

    def run_json(self, path, *args):
        code, out, err = self.run_main('--config-file', path, '--format',
                                       'json', *args)
        return code, (json.loads(out) if out else None), err

    def assertOneLine(self, text):
        lines = [line for line in text.splitlines() if line.strip()]
        self.assertEqual(1, len(lines), text)
        self.assertNotIn('Traceback', text)
        return lines[0]

    def assertNoSecret(self, *texts, access_key=ACCESS_KEY):
        for text in texts:
            self.assertNotIn(SECRET_KEY, text)
            if access_key:
                self.assertNotIn(access_key, text)

    def assertBucketClean(self, bucket=None):
        bucket = bucket or self.bucket
        objects = self.client.list_objects_v2(Bucket=bucket)
        self.assertEqual([], [o['Key'] for o in objects.get('Contents', [])])
        uploads = self.client.list_multipart_uploads(Bucket=bucket)
        self.assertEqual([], uploads.get('Uploads', []))

    def bucket_exists(self, bucket=None):
        names = [b['Name'] for b in self.client.list_buckets()['Buckets']]
        return (bucket or self.bucket) in names


def glance_verdict(test, path, backend='objects', size=64 * 1024):
    """Whether Glance can store, read and delete an image with ``path``.

    Drives the store API as Glance does: register_store_opts,
    create_multi_stores, then add, get and delete on the backend's store.
    The registered stores are replaced for the test (``test``) only.

    :returns: ``(ok, message)``; ``message`` is the error Glance would
        get (None when ``ok``).
    """
    conf = cfg.ConfigOpts()
    conf([], project='glance', default_config_files=[path],
         default_config_dirs=[])
    data = os.urandom(size)
    test.useFixture(fixtures.MonkeyPatch(
        'glance_store.location.SCHEME_TO_CLS_BACKEND_MAP', {}))
    try:
        multi_backend.register_store_opts(conf)
        multi_backend.create_multi_stores(conf)
        store = multi_backend.get_store_from_store_identifier(backend)
        image_id = str(uuid.uuid4())
        uri, written, _md5, _mh, _meta = store.add(
            image_id, io.BytesIO(data), len(data), 'sha256')
        loc = location.get_location_from_uri_and_backend(
            uri, backend, conf=conf)
        read = b''.join(store.get(loc)[0])
        store.delete(loc)
    except Exception as e:
        return False, getattr(e, 'msg', None) or str(e)
    if written != len(data) or read != data:
        return False, 'the image read back differs'
    return True, None


def matrix(validated=None, **failing):
    """ConfigResults of the standard configurations (CRT ones included).

    ``failing`` maps a label (with '/' written '_') to the error code of
    its put. ``validated`` maps a label to the shapes whose downloads
    were validated (the others are unvalidated); without it, every
    ``always`` configuration validated every shape (a backend that keeps
    every checksum) and the others none.
    """
    results = []
    shapes = [shape for shape, _op in model.SHAPES]
    for configuration in model.standard_configurations(
            only_available=False):
        res = model.ConfigResult(configuration)
        code = failing.get(configuration.label.replace('/', '_'))
        for op in model.OPERATIONS:
            res.results[op] = model.OK
        if code:
            res.results['put'] = code
        if validated is None:
            good = shapes if configuration.label.startswith('always/') \
                else ()
        else:
            good = validated.get(configuration.label, ())
        for shape in shapes:
            res.validation[shape] = model.VALIDATED if shape in good \
                else model.UNVALIDATED
        results.append(res)
    return results
