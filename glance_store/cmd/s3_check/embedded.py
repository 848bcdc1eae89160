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

"""glance-store-s3-check --embedded: the check against a local S3 server.

``Session`` starts moto's S3 server in this process on 127.0.0.1 (a free
port) and writes a temporary multi-store Glance configuration for it; the
caller runs the same check as against a real backend on it
(``Session.conf``), then ``Session.round_trip`` stores an image through
the S3 store with the recommended settings, reads it back, compares its
md5 and sha512 with values computed independently, deletes it and
verifies that it is gone.  This module returns data; it prints nothing.
"""

import hashlib
import io
import logging
import os
import secrets
import shutil
import tempfile
import urllib.request
import uuid

from oslo_config import cfg
from oslo_utils import units

from glance_store.cmd.s3_check import model
from glance_store.cmd.s3_check import probe
from glance_store.cmd.s3_check import report
from glance_store import exceptions
from glance_store.i18n import _
from glance_store import location

BACKEND = 'embedded'
BUCKET = 'glance-images'
GENERATED_SIZE = 12 * units.Mi
READ_SIZE = units.Mi

CONFIG_TEMPLATE = """\
[DEFAULT]
enabled_backends = %(backend)s:s3

[glance_store]
default_backend = %(backend)s

[%(backend)s]
s3_store_host = %(endpoint)s
s3_store_access_key = %(access)s
s3_store_secret_key = %(secret)s
s3_store_bucket = %(bucket)s
s3_store_bucket_url_format = path
s3_store_create_bucket_on_put = True
s3_store_large_object_size = 5
s3_store_large_object_chunk_size = 5
"""


class EmbeddedServer(object):
    """moto's S3 server in a thread of this process, on 127.0.0.1.

    Also the in-process S3 server of the unit tests.
    """

    def __init__(self):
        from moto import server as moto_server  # noqa: H306
        # One log line per request otherwise.
        logging.getLogger('werkzeug').setLevel(logging.ERROR)
        self.server = moto_server.ThreadedMotoServer(
            ip_address='127.0.0.1', port=0, verbose=False)
        self.endpoint = self.netloc = None

    def start(self):
        """Start the server on a free port.

        :returns: self, with ``endpoint`` (``http://127.0.0.1:PORT``) and
            ``netloc`` set.
        """
        self.server.start()
        host, port = self.server.get_host_and_port()
        self.netloc = '%s:%d' % (host, port)
        self.endpoint = 'http://' + self.netloc
        return self

    def reset(self):
        """Remove every bucket and object (moto's reset call).

        :returns: None.
        """
        req = urllib.request.Request(self.endpoint + '/moto-api/reset',
                                     method='POST')
        with urllib.request.urlopen(req) as resp:
            resp.read()

    def stop(self):
        """Stop the server.

        :returns: None.
        """
        self.server.stop()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def write_config(directory, endpoint):
    """Write the temporary glance-api.conf.

    :param directory: where to write it.
    :param endpoint: the URL of the S3 server.
    :returns: its path and the ``(access, secret)`` keys written in it.
    """
    credentials = ('embedded-' + secrets.token_hex(4),
                   secrets.token_urlsafe(24))
    path = os.path.join(directory, 'glance-api.conf')
    with open(path, 'w') as f:
        f.write(CONFIG_TEMPLATE % {
            'backend': BACKEND, 'endpoint': endpoint,
            'access': credentials[0], 'secret': credentials[1],
            'bucket': BUCKET})
    return path, credentials


def _digests(chunks):
    """md5 hex, sha512 hex and byte count of an iterable of chunks."""
    md5 = hashlib.md5()
    sha512 = hashlib.sha512()
    size = 0
    for chunk in chunks:
        md5.update(chunk)
        sha512.update(chunk)
        size += len(chunk)
    return md5.hexdigest(), sha512.hexdigest(), size


class Image(object):
    """The image to store: a file, or generated data."""

    def __init__(self, path=None):
        self.path = path
        if path is None:
            self._data = os.urandom(GENERATED_SIZE)
            self.size = len(self._data)
            self.description = _("%d bytes of generated data") % self.size
        else:
            self._data = None
            self.size = os.path.getsize(path)
            self.description = _("%(path)s, %(size)d bytes") % {
                'path': path, 'size': self.size}

    def open(self):
        if self._data is not None:
            return io.BytesIO(self._data)
        return open(self.path, 'rb')

    def digests(self):
        """md5 and sha512 hex digests, read apart from the store."""
        with self.open() as f:
            md5, sha512, _size = _digests(iter(lambda: f.read(READ_SIZE),
                                               b''))
        return md5, sha512


def _matches(same):
    return _('matches') if same else _('DIFFERS')


class RoundTrip(object):
    """Store, read back, compare, delete an image through the S3 store."""

    def __init__(self, conf, backend, image, progress=None):
        self.conf = conf
        self.backend = backend
        self.image = image
        self.say = progress or (lambda message: None)
        self.store = None
        self.image_id = str(uuid.uuid4())
        self.uri = None
        self.md5 = self.sha512 = None

    def _location(self):
        return location.Location(
            's3', self.store.get_store_location_class(), self.conf,
            uri=self.uri, backend=self.backend)

    def _digest_image(self):
        self.md5, self.sha512 = self.image.digests()
        return True, _("%(desc)s; md5 %(md5)s, sha512 %(sha)s...") % {
            'desc': self.image.description, 'md5': self.md5,
            'sha': self.sha512[:32]}

    def _how_stored(self):
        head = self.store.client.head_object(
            Bucket=self.store.settings.bucket, Key=self.image_id)
        etag = head.get('ETag', '').strip('"')
        if '-' in etag:
            return _("multipart upload, %s parts") % etag.rsplit('-', 1)[1]
        return _("single PutObject")

    def _store_image(self):
        self.say(_("storing image %s") % self.image_id)
        with self.image.open() as f:
            self.uri, written, md5, sha512, _meta = self.store.add(
                self.image_id, f, self.image.size, 'sha512')
        ok = written == self.image.size and md5 == self.md5 and \
            sha512 == self.sha512
        return ok, _("%(uri)s: %(written)d bytes (%(how)s); md5 and sha512 "
                     "reported by the store %(match)s") % {
            'uri': self.uri, 'written': written, 'how': self._how_stored(),
            'match': _('match') if ok else _('DIFFER')}

    def _read_back(self):
        self.say(_("reading image %s back") % self.image_id)
        iterator, _size = self.store.get(self._location())
        md5, sha512, got = _digests(iterator)
        ok = got == self.image.size and md5 == self.md5 and \
            sha512 == self.sha512
        return ok, _("%(got)d bytes; md5 %(md5)s, sha512 %(sha)s") % {
            'got': got, 'md5': _matches(md5 == self.md5),
            'sha': _matches(sha512 == self.sha512)}

    def _delete(self):
        self.say(_("deleting image %s") % self.image_id)
        self.store.delete(self._location())
        return True, _("deleted")

    def _verify_gone(self):
        try:
            self.store.get_size(self._location())
        except exceptions.NotFound:
            return True, _("the object no longer exists (HeadObject: not "
                           "found)")
        return False, _("the object still exists")

    def run(self, configuration=None):
        """The steps, a list of dicts ``{'name', 'ok', 'detail'}``.

        :param configuration: the ``model.Configuration`` whose checksum
            options replace the file's; None for the file's.
        :returns: the steps up to the first failed one.
        """
        try:
            self.store = probe.Prober(self.conf, self.backend).make_store(
                configuration)
        except (exceptions.GlanceStoreException, cfg.Error) as e:
            return [{'name': 'configure', 'ok': False,
                     'detail': probe.error_text(e)}]
        steps = []
        for name, action in (('image', self._digest_image),
                             ('store', self._store_image),
                             ('read back', self._read_back),
                             ('delete', self._delete),
                             ('verify gone', self._verify_gone)):
            try:
                ok, detail = action()
            except Exception as e:
                ok, detail = False, '%s: %s' % (probe.failure_code(e),
                                                probe.error_text(e))
            steps.append({'name': name, 'ok': ok, 'detail': detail})
            if not ok:
                break
        return steps


def image_round_trip(conf, backend, image, configuration=None,
                     progress=None):
    """Store, read back, compare, delete ``image``; a list of steps.

    :param conf: the parsed configuration holding ``backend``.
    :param backend: the name of the S3 backend.
    :param image: an ``Image``.
    :param configuration: see ``RoundTrip.run``.
    :param progress: called with a short message before each step.
    :returns: a list of dicts ``{'name', 'ok', 'detail'}``; the round trip
        stops at the first failed step.
    """
    return RoundTrip(conf, backend, image, progress).run(configuration)


class Session(object):
    """A local S3 server and a temporary configuration for it.

    Use as a context manager: entering starts the server and writes the
    configuration, leaving stops it and removes the configuration.

    :raises: ``model.ConfigError`` when the image file does not exist or
        moto's server is not installed.
    """

    def __init__(self, image_path=None):
        if image_path is not None and not os.path.isfile(image_path):
            raise model.ConfigError(_("image file not found: %s") %
                                    image_path)
        self.image_path = image_path
        try:
            self.server = EmbeddedServer()
        except ImportError as e:
            raise model.ConfigError(_(
                "--embedded needs moto's S3 server, which is not installed "
                "(%s): pip install 'moto[server]', or run it with tox -e "
                "check") % e)
        self.directory = None
        self.path = None
        self.redact = model.Redactor()

    def __enter__(self):
        self.directory = tempfile.mkdtemp(prefix='glance-store-s3-check-')
        try:
            self.server.__enter__()
            self.path, (access, secret) = write_config(self.directory,
                                                       self.server.endpoint)
        except BaseException:
            self.__exit__()
            raise
        self.redact = model.Redactor(secret, access)
        return self

    def __exit__(self, *exc):
        try:
            if self.server.endpoint is not None:
                self.server.__exit__(*exc)
        finally:
            shutil.rmtree(self.directory, ignore_errors=True)

    @property
    def endpoint(self):
        return self.server.endpoint

    def config_text(self):
        """The temporary configuration, keys hidden."""
        with open(self.path) as f:
            return self.redact(f.read())

    def conf(self):
        """The temporary configuration, parsed."""
        conf = cfg.ConfigOpts()
        conf([], project='glance', default_config_files=[self.path],
             default_config_dirs=[])
        return conf

    def round_trip(self, conf, results, progress=None):
        """The image round trip with the recommended settings.

        :param conf: the parsed configuration (``conf()``) the check ran
            on.
        :param results: the check's list of ``model.BackendResult``.
        :param progress: called with a short message before each step.
        :returns: the ``embedded`` dict of the report: backend, endpoint,
            settings, steps and ok.
        """
        rec = report.recommend(results[0].configurations) if results \
            else None
        steps = image_round_trip(conf, BACKEND, Image(self.image_path),
                                 rec.configuration if rec else None,
                                 progress)
        return {'backend': BACKEND, 'endpoint': self.endpoint,
                'settings': rec.configuration.label if rec
                else _('current'),
                'steps': steps,
                'ok': bool(steps) and all(s['ok'] for s in steps) and
                steps[-1]['name'] == 'verify gone'}
