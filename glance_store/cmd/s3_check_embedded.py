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

Starts moto's S3 server in this process on 127.0.0.1 (a free port),
writes a temporary multi-store Glance configuration for it, runs the
same check as against a real backend, then stores an image through the
S3 store with the recommended settings, reads it back, compares its md5
and sha512 with values computed independently, deletes it and verifies
that it is gone.
"""

import hashlib
import io
import logging
import os
import secrets
import shutil
import sys
import tempfile
import uuid

from oslo_config import cfg
from oslo_utils import units

from glance_store._drivers import s3
from glance_store.cmd import s3_check
from glance_store.cmd import s3_check_probe as probe
from glance_store.cmd import s3_check_report as report
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
    """moto's S3 server in a thread of this process, on 127.0.0.1."""

    def __init__(self):
        from moto import server as moto_server  # noqa: H306
        # One log line per request otherwise.
        logging.getLogger('werkzeug').setLevel(logging.ERROR)
        self.server = moto_server.ThreadedMotoServer(
            ip_address='127.0.0.1', port=0, verbose=False)
        self.endpoint = None

    def __enter__(self):
        self.server.start()
        host, port = self.server.get_host_and_port()
        self.endpoint = 'http://%s:%d' % (host, port)
        return self

    def __exit__(self, *exc):
        self.server.stop()


def write_config(directory, endpoint):
    """Write the temporary glance-api.conf.

    Returns its path and the credentials written in it.
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


class _Image(object):
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


def image_round_trip(conf, backend, image, configuration=None,
                     progress=None):
    """Store, read back, compare, delete ``image``; a list of steps.

    Each step is a dict ``{'name', 'ok', 'detail'}``; the round trip
    stops at the first failed step.
    """
    steps = []
    say = progress or (lambda message: None)

    def step(name, ok, detail):
        steps.append({'name': name, 'ok': ok, 'detail': detail})
        return ok

    try:
        store = probe.Prober(conf, backend).make_store(configuration,
                                                       small_parts=False)
    except (exceptions.GlanceStoreException, cfg.Error) as e:
        step('configure', False, probe._message(e))
        return steps

    md5, sha512 = image.digests()
    step('image', True, _("%(desc)s; md5 %(md5)s, sha512 %(sha)s...") % {
        'desc': image.description, 'md5': md5, 'sha': sha512[:32]})
    image_id = str(uuid.uuid4())
    say(_("storing image %s") % image_id)
    try:
        with image.open() as f:
            uri, written, got_md5, got_sha512, _meta = store.add(
                image_id, f, image.size, 'sha512')
    except Exception as e:
        step('store', False, '%s: %s' % (probe.failure_code(e),
                                         probe._message(e)))
        return steps
    head = store._s3_client.head_object(Bucket=store.bucket, Key=image_id)
    etag = head.get('ETag', '').strip('"')
    parts = etag.rsplit('-', 1)[1] if '-' in etag else None
    how = _("multipart upload, %s parts") % parts if parts else \
        _("single PutObject")
    ok = written == image.size and got_md5 == md5 and got_sha512 == sha512
    if not step('store', ok, _(
            "%(uri)s: %(written)d bytes (%(how)s); md5 and sha512 reported "
            "by the store %(match)s") % {
                'uri': uri, 'written': written, 'how': how,
                'match': _('match') if ok else _('DIFFER')}):
        return steps

    loc = location.Location(
        's3', s3.StoreLocation, conf, backend=backend,
        store_specs={'scheme': store.scheme,
                     's3serviceurl': store.s3_netloc,
                     'bucket': store.bucket, 'key': image_id})
    say(_("reading image %s back") % image_id)
    try:
        iterator, size = store.get(loc)
        read_md5, read_sha512, got = _digests(iterator)
    except Exception as e:
        step('read back', False, '%s: %s' % (probe.failure_code(e),
                                             probe._message(e)))
        return steps
    ok = got == image.size and read_md5 == md5 and \
        read_sha512 == sha512
    if not step('read back', ok, _(
            "%(got)d bytes; md5 %(md5)s, sha512 %(sha)s") % {
                'got': got,
                'md5': _('matches') if read_md5 == md5
                else _('DIFFERS'),
                'sha': _('matches') if read_sha512 == sha512
                else _('DIFFERS')}):
        return steps

    say(_("deleting image %s") % image_id)
    try:
        store.delete(loc)
    except Exception as e:
        step('delete', False, '%s: %s' % (probe.failure_code(e),
                                          probe._message(e)))
        return steps
    step('delete', True, _("deleted"))
    try:
        store.get_size(loc)
    except exceptions.NotFound:
        step('verify gone', True, _("the object no longer exists "
                                    "(HeadObject: not found)"))
    except Exception as e:
        step('verify gone', False, '%s: %s' % (probe.failure_code(e),
                                               probe._message(e)))
    else:
        step('verify gone', False, _("the object still exists"))
    return steps


def render_round_trip(embedded):
    lines = [_("Image round trip through the S3 store (backend %(backend)s, "
               "settings %(settings)s):") % embedded, '']
    width = max(len(s['name']) for s in embedded['steps'])
    for s in embedded['steps']:
        lines.append('  %s  %-6s %s' % (s['name'].ljust(width),
                                        'ok' if s['ok'] else 'FAILED',
                                        s['detail']))
    lines.append('')
    lines.append(_("Round trip: %s") % (_('verified') if embedded['ok']
                                        else _('FAILED')))
    return '\n'.join(lines) + '\n'


def run(image_path=None, fmt='table', progress=None, out=None, err=None):
    """The --embedded mode; returns the exit code."""
    out = out or sys.stdout
    err = err or sys.stderr
    if image_path is not None and not os.path.isfile(image_path):
        err.write('%s: %s\n' % (s3_check.PROG,
                                _("image file not found: %s") % image_path))
        return report.EXIT_USAGE
    try:
        server = EmbeddedServer()
    except ImportError as e:
        err.write('%s: %s\n' % (s3_check.PROG, _(
            "--embedded needs moto's S3 server, which is not installed "
            "(%s): pip install 'moto[server]', or run it with tox -e "
            "check") % e))
        return report.EXIT_USAGE
    directory = tempfile.mkdtemp(prefix='glance-store-s3-check-')
    try:
        with server:
            path, credentials = write_config(directory, server.endpoint)
            if fmt != 'json':
                with open(path) as f:
                    shown = f.read()
                for value in credentials:
                    shown = shown.replace(value, '***')
                out.write(_("Local S3 server (moto) at %(endpoint)s; "
                            "temporary configuration %(path)s:") % {
                    'endpoint': server.endpoint, 'path': path} + '\n\n')
                out.write(''.join('    ' + line + '\n'
                                  for line in shown.splitlines()) + '\n')
                out.flush()
            conf = cfg.ConfigOpts()
            conf([], project='glance', default_config_files=[path],
                 default_config_dirs=[])
            backends = s3_check.find_s3_backends(conf)
            results = s3_check.run_checks(conf, backends, progress)
            rec = report.recommend(results[0].configurations)
            embedded = {'backend': BACKEND, 'endpoint': server.endpoint,
                        'settings': rec.configuration.label if rec
                        else _('current')}
            steps = image_round_trip(
                conf, BACKEND, _Image(image_path),
                rec.configuration if rec else None, progress)
            if progress is not None and hasattr(progress, 'clear'):
                progress.clear()
            embedded['steps'] = steps
            embedded['ok'] = bool(steps) and all(s['ok'] for s in steps) \
                and steps[-1]['name'] == 'verify gone'
            code = s3_check.emit(results, fmt, embedded if fmt == 'json'
                                 else None, out, err)
            if fmt != 'json':
                out.write('\n' + render_round_trip(embedded))
            if not embedded['ok']:
                code = max(code, report.EXIT_NOT_WORKING)
            return code
    finally:
        shutil.rmtree(directory, ignore_errors=True)
