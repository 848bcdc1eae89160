#!/usr/bin/env python3
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

"""The migration job: an operator's switch to this library and back.

Runs in a venv holding Glance 33 (``tox -e functional-migration``), under
``tools/s3_servers.py run --servers rgw`` (Ceph RGW for the S3 backend):

1. Glance on upstream glance_store 5.7.0, a file and an S3 backend,
   stores images of every shape (small, multipart of known size, unknown
   size through chunked uploads, small and multipart) in each backend.
2. This project is installed as ``doc/source/install/index.rst`` says
   (``pip install <checkout>``, then ``pip check``), the S3 backend gets
   this library's checksum options (``always``, SHA256) and Glance
   restarts: every old image downloads byte for byte and is deleted (and
   its S3 object is gone); new images of every shape upload.
3. Rolling back as the page says: ``glance-store-s3-check
   --upstream-compatible`` must refuse the file (exit 1), then accept it
   once the values it lists are replaced (exit 0); upstream 5.7.0 is
   installed again (``pip install glance-store==5.7.0``, ``pip check``)
   and every image this library wrote downloads byte for byte.

Prints the counts (images, shapes, bytes compared) and the wall time;
exits 1 at the first difference.
"""

import argparse
import hashlib
import os
import subprocess
import sys
import tempfile
import time
import uuid

import boto3
from botocore import config as boto_config
import requests

import glance_wsgi  # noqa: I202  (tools/glance_wsgi.py, beside this one)
import s3_servers  # tools/s3_servers.py, beside this one

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
UPSTREAM = 'glance-store==5.7.0'
RESERVED_STORES = ('os_glance_staging_store', 'os_glance_tasks_store')

KiB = 1024
MiB = 1024 * KiB
# Multipart from 5 MB on (S3's smallest part): the job's images stay small.
THRESHOLD_MB = 5

# name -> (size, chunked): the shapes stored in every backend. A chunked
# request has no Content-Length: Glance passes size 0 ("unknown") to the
# store.
SHAPES = {
    'small': (100 * KiB + 7, False),
    'multipart': (12 * MiB + 11, False),
    'unknown-small': (64 * KiB + 3, True),
    'unknown-multipart': (11 * MiB + 5, True),
}

# What this library adds on the S3 backend after the switch (refused or
# ignored by upstream) and what the operator writes before rolling back,
# as glance-store-s3-check --upstream-compatible advises.
PROJECT_S3_OPTIONS = {
    's3_store_enable_data_integrity_protection': True,
    's3_store_request_checksum_calculation': 'always',
    's3_store_response_checksum_validation': 'always',
    's3_store_checksum_algorithm': 'SHA256',
}
ROLLBACK_S3_OPTIONS = {
    's3_store_enable_data_integrity_protection': True,
    's3_store_request_checksum_calculation': 'when_required',
    's3_store_response_checksum_validation': 'when_supported',
}


class JobError(Exception):
    pass


def log(message):
    print('migration: %s' % message, flush=True)


class Client(object):
    """Glance v2 requests carrying keystone-like identity headers."""

    def __init__(self, url):
        self.url = url
        self.headers = {
            'X-Identity-Status': 'Confirmed', 'X-Roles': 'admin',
            'X-Project-Id': uuid.uuid4().hex, 'X-User-Id': uuid.uuid4().hex,
            'X-Auth-Token': uuid.uuid4().hex}

    def request(self, method, path, headers=None, **kwargs):
        return requests.request(method, self.url + path, timeout=300,
                                headers=dict(self.headers, **(headers or {})),
                                **kwargs)

    def create_image(self, name):
        return self.request('POST', '/v2/images', json={
            'name': name, 'disk_format': 'raw', 'container_format': 'bare'})

    def get_image(self, image_id):
        return self.request('GET', '/v2/images/%s' % image_id)

    def upload(self, image_id, data, backend):
        return self.request('PUT', '/v2/images/%s/file' % image_id, data=data,
                            headers={'Content-Type':
                                     'application/octet-stream',
                                     'X-Image-Meta-Store': backend})

    def download(self, image_id):
        return self.request('GET', '/v2/images/%s/file' % image_id)

    def delete_image(self, image_id):
        return self.request('DELETE', '/v2/images/%s' % image_id)


def bin_path(name):
    return os.path.join(os.path.dirname(sys.executable), name)


def run(cmd, check=True):
    log('$ %s' % ' '.join(cmd))
    env = dict(os.environ)
    env.pop('PYTHONPATH', None)
    env.pop('PBR_VERSION', None)
    result = subprocess.run(cmd, cwd=tempfile.gettempdir(), env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    if check and result.returncode != 0:
        raise JobError('%s failed (%d):\n%s' % (
            ' '.join(cmd), result.returncode, result.stdout[-4000:]))
    return result


def pip(*args):
    return run([sys.executable, '-m', 'pip', '--disable-pip-version-check']
               + list(args))


def rgw_info():
    return s3_servers.started_servers(('rgw',), JobError)['rgw']


def s3_client(rgw):
    return boto3.session.Session().client(
        's3', endpoint_url=rgw['https_endpoint'],
        aws_access_key_id=rgw['access_key'],
        aws_secret_access_key=rgw['secret_key'],
        region_name=rgw.get('region') or 'us-east-1',
        verify=rgw['ca_bundle'],
        config=boto_config.Config(
            s3={'addressing_style': 'path'},
            request_checksum_calculation='when_required',
            response_checksum_validation='when_required'))


def pattern(name, size):
    """Reproducible bytes that differ between images and offsets."""
    seed = hashlib.sha256(name.encode()).digest()
    block = b''.join(hashlib.sha256(seed + bytes([i])).digest()
                     for i in range(256))
    return (block * (size // len(block) + 1))[:size]


def chunks(data, size=256 * KiB):
    for start in range(0, len(data), size):
        yield data[start:start + size]


class Job(object):
    """The state of one run: server, images, counts."""

    def __init__(self, workdir, rgw):
        self.workdir = workdir
        self.rgw = rgw
        self.s3 = s3_client(rgw)
        self.bucket = 'gs-migration-%d' % os.getpid()
        self.images = {}   # image id -> (phase, backend, shape, bytes)
        self.compared = 0
        self.downloads = 0
        self.deleted = 0

    # --- the Glance configuration -----------------------------------------

    def s3_options(self, extra):
        options = glance_wsgi.s3_store_options(
            self.rgw, self.bucket, self.rgw['https_endpoint'],
            self.rgw['ca_bundle'],
            s3_store_large_object_size=THRESHOLD_MB,
            s3_store_large_object_chunk_size=THRESHOLD_MB)
        options.update(extra or {})
        return options

    def server(self, s3_extra=None):
        """The Glance API of the job (not started), its file written."""
        sections = {
            'DEFAULT': {'enabled_backends': 'local:file,objects:s3',
                        'debug': False,
                        'node_staging_uri': 'file://%s' % os.path.join(
                            self.workdir, 'staging')},
            'glance_store': {'default_backend': 'objects'},
            'local': {'filesystem_store_datadir': os.path.join(
                self.workdir, 'images')},
            'objects': self.s3_options(s3_extra),
        }
        for name in RESERVED_STORES:
            sections[name] = {'filesystem_store_datadir': os.path.join(
                self.workdir, 'reserved', name)}
        server = glance_wsgi.GlanceWsgi(self.workdir, sections)
        server.write_config()
        return server

    def start(self, s3_extra, expect_project):
        server = self.server(s3_extra)
        server.db_sync()
        server.start()
        probe = server.probe()
        if probe['marker'] != expect_project:
            server.stop()
            raise JobError('Glance loaded %s glance_store from %s' % (
                'this project\'s' if probe['marker'] else 'upstream',
                probe['file']))
        server.check_library(expect_ours=expect_project)
        log('Glance %s on %s glance_store %s (%s)' % (
            server.url, 'this project\'s' if expect_project else 'upstream',
            probe['version'], os.path.dirname(probe['file'])))
        return server

    # --- images -----------------------------------------------------------

    def store_all(self, server, phase):
        client = Client(server.url)
        for backend in ('local', 'objects'):
            for shape, (size, chunked) in SHAPES.items():
                self.store(client, phase, backend, shape, size, chunked)

    def store(self, client, phase, backend, shape, size, chunked):
        data = pattern('%s-%s-%s' % (phase, backend, shape), size)
        resp = client.create_image(name='%s-%s-%s' % (phase, backend, shape))
        if resp.status_code != 201:
            raise JobError('create image: %d %s' % (
                resp.status_code, resp.text[:500]))
        image_id = resp.json()['id']
        body = chunks(data) if chunked else data
        resp = client.upload(image_id, body, backend)
        if resp.status_code != 204:
            raise JobError('upload %s %s to %s: %d %s' % (
                phase, shape, backend, resp.status_code, resp.text[:500]))
        image = client.get_image(image_id).json()
        if image['status'] != 'active' or image['size'] != size or \
                image.get('stores') != backend:
            raise JobError('image %s after upload: %s' % (image_id, image))
        self.images[image_id] = (phase, backend, shape, data)

    def verify(self, server, phase):
        client = Client(server.url)
        for image_id, (img_phase, backend, shape, data) in \
                sorted(self.images.items()):
            if img_phase != phase:
                continue
            resp = client.download(image_id)
            if resp.status_code != 200 or resp.content != data:
                raise JobError(
                    '%s image %s (%s, %s, %d bytes) downloaded with %d: '
                    '%d bytes, equal: %s' % (
                        phase, image_id, backend, shape, len(data),
                        resp.status_code, len(resp.content),
                        resp.content == data))
            self.compared += len(data)
            self.downloads += 1

    def delete(self, server, phase):
        client = Client(server.url)
        for image_id in sorted(self.images):
            if self.images[image_id][0] != phase:
                continue
            resp = client.delete_image(image_id)
            if resp.status_code != 204:
                raise JobError('delete %s: %d %s' % (
                    image_id, resp.status_code, resp.text[:500]))
            if client.get_image(image_id).status_code != 404:
                raise JobError('image %s still there after delete'
                               % image_id)
            del self.images[image_id]
            self.deleted += 1

    def s3_keys(self):
        listing = self.s3.list_objects_v2(Bucket=self.bucket)
        uploads = self.s3.list_multipart_uploads(Bucket=self.bucket)
        return ({o['Key'] for o in listing.get('Contents', [])},
                uploads.get('Uploads', []))

    def check_backends(self):
        """The backends hold exactly the images known, no open upload."""
        keys, uploads = self.s3_keys()
        expected = {i for i, v in self.images.items() if v[1] == 'objects'}
        if keys != expected or uploads:
            raise JobError('bucket %s holds %s and %d open uploads; '
                           'expected %s' % (self.bucket, sorted(keys),
                                            len(uploads), sorted(expected)))
        files = set(os.listdir(os.path.join(self.workdir, 'images')))
        expected = {i for i, v in self.images.items() if v[1] == 'local'}
        if files != expected:
            raise JobError('the file backend holds %s; expected %s' % (
                sorted(files), sorted(expected)))

    def summary(self, phase):
        mine = [v for v in self.images.values() if v[0] == phase]
        return '%d %s images, %d bytes (%s)' % (
            len(mine), phase, sum(len(v[3]) for v in mine),
            ', '.join(sorted({'%s/%s' % (v[1], v[2]) for v in mine})))

    def cleanup(self):
        keys, uploads = self.s3_keys()
        for key in keys:
            self.s3.delete_object(Bucket=self.bucket, Key=key)
        for upload in uploads:
            self.s3.abort_multipart_upload(Bucket=self.bucket,
                                           Key=upload['Key'],
                                           UploadId=upload['UploadId'])
        self.s3.delete_bucket(Bucket=self.bucket)


def rollback_check(server, expect):
    """glance-store-s3-check --upstream-compatible on the server's file."""
    result = run([bin_path('glance-store-s3-check'), '--config-file',
                  server.conf_path, '--upstream-compatible'], check=False)
    for line in result.stdout.splitlines():
        log('  | %s' % line)
    if result.returncode != expect:
        raise JobError('--upstream-compatible exited %d, expected %d' % (
            result.returncode, expect))


def phase_upstream(job):
    log('phase 1: upstream glance_store 5.7.0 stores images')
    pip('install', '-q', UPSTREAM)
    server = job.start(None, expect_project=False)
    try:
        job.store_all(server, 'old')
        job.verify(server, 'old')
    finally:
        server.stop()
    job.check_backends()
    log('stored and read back %s' % job.summary('old'))


def phase_project(job):
    log('phase 2: this project installed as the install page says')
    pip('install', '-q', REPO)
    pip('check')
    server = job.start(PROJECT_S3_OPTIONS, expect_project=True)
    try:
        job.verify(server, 'old')
        log('this project read upstream\'s %s' % job.summary('old'))
        job.delete(server, 'old')
        job.check_backends()
        job.store_all(server, 'new')
        job.verify(server, 'new')
    finally:
        server.stop()
    job.check_backends()
    log('deleted them; stored and read back %s' % job.summary('new'))
    return server


def phase_rollback(job, previous):
    log('phase 3: rolling back to upstream as the install page says')
    rollback_check(previous, expect=1)
    fixed = job.server(ROLLBACK_S3_OPTIONS)
    rollback_check(fixed, expect=0)
    pip('install', '-q', UPSTREAM)
    pip('check')
    server = job.start(ROLLBACK_S3_OPTIONS, expect_project=False)
    try:
        job.verify(server, 'new')
        log('upstream read this project\'s %s' % job.summary('new'))
        job.delete(server, 'new')
    finally:
        server.stop()
    job.check_backends()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--workdir', help='keep the files here (default: a '
                        'temporary directory, removed)')
    args = parser.parse_args(argv)
    missing = glance_wsgi.missing_requirements()
    if missing:
        log('cannot run: missing %s' % missing)
        return 1
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix='gs-migration-') as tmp:
        job = Job(args.workdir or tmp, rgw_info())
        job.s3.create_bucket(Bucket=job.bucket)
        try:
            phase_upstream(job)
            previous = phase_project(job)
            phase_rollback(job, previous)
        except (JobError, glance_wsgi.LauncherError) as e:
            log('FAILED: %s' % e)
            log_path = os.path.join(job.workdir, 'glance-api.log')
            if os.path.exists(log_path):
                with open(log_path, 'rb') as f:
                    log('Glance log tail:\n%s' % f.read()[-6000:].decode(
                        'utf-8', 'replace'))
            return 1
        finally:
            job.cleanup()
    log('OK: %d images (%d shapes x 2 backends, written by upstream then '
        'by this project), %d downloads compared byte for byte (%d bytes), '
        '%d deletes; wall time %.0f s' % (
            2 * 2 * len(SHAPES), len(SHAPES), job.downloads, job.compared,
            job.deleted, time.monotonic() - started))
    return 0


if __name__ == '__main__':
    sys.exit(main())
