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

"""Access to the S3 servers started by tools/s3_servers.py.

``tools/s3_servers.py run --servers rgw,localstack -- CMD`` starts the
servers and passes the path of a JSON file describing them to CMD in
``GS_FUNC_SERVERS``. Without it the functional tests are skipped, unless
the environment variable ``CI`` is set (to anything but ``""``, ``0`` or
``false``): in CI a missing server is a failure, never a silent skip.
"""

import json
import os
import unittest
import uuid

import boto3
from botocore import config as boto_config

ENV_VAR = 'GS_FUNC_SERVERS'


def in_ci():
    return os.environ.get('CI', '').strip().lower() not in ('', '0', 'false')


def _unavailable(reason):
    if in_ci():
        raise AssertionError('%s; CI is set, so this is a failure: run the '
                             'tests through tools/s3_servers.py (tox -e '
                             'functional-s3)' % reason)
    raise unittest.SkipTest('%s (run them with tox -e functional-s3)'
                            % reason)


def load_servers():
    """Return {kind: server info} or skip (fail in CI) without servers."""
    path = os.environ.get(ENV_VAR)
    if not path:
        _unavailable('%s is not set: no S3 servers for functional tests'
                     % ENV_VAR)
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError) as e:
        # The variable is set but wrong: that is always an error.
        raise AssertionError('cannot read %s=%s: %s' % (ENV_VAR, path, e))


def get_server(kind):
    """The info of one server kind ('rgw', 'localstack', 'moto')."""
    servers = load_servers()
    if kind not in servers:
        _unavailable('no %s server in %s (servers: %s)'
                     % (kind, os.environ.get(ENV_VAR),
                        ', '.join(sorted(servers)) or 'none'))
    return servers[kind]


def endpoint(server, scheme='https'):
    url = server.get('%s_endpoint' % scheme)
    if not url:
        raise unittest.SkipTest('%s has no %s endpoint'
                                % (server['kind'], scheme))
    return url


def client(server, scheme='https', **config_kwargs):
    """A plain boto3 S3 client for a server (path-style addressing).

    ``config_kwargs`` go to ``botocore.config.Config``; nothing else is
    set, so boto3's own defaults apply.
    """
    s3_config = dict(config_kwargs.pop('s3', None) or {})
    s3_config.setdefault('addressing_style', 'path')
    config = boto_config.Config(s3=s3_config, **config_kwargs)
    session = boto3.session.Session()
    return session.client(
        's3',
        endpoint_url=endpoint(server, scheme),
        aws_access_key_id=server['access_key'],
        aws_secret_access_key=server['secret_key'],
        region_name=server.get('region') or 'us-east-1',
        verify=server['ca_bundle'] if scheme == 'https' else None,
        config=config)


def unique_bucket(prefix='gs-func'):
    """A bucket name no other test uses (S3 naming rules)."""
    return ('%s-%s' % (prefix, uuid.uuid4().hex[:16])).lower()


def list_open_uploads(s3, bucket):
    """The multipart uploads still open in a bucket, as (key, id)."""
    uploads = []
    kwargs = {'Bucket': bucket}
    while True:
        resp = s3.list_multipart_uploads(**kwargs)
        uploads.extend((u['Key'], u['UploadId'])
                       for u in resp.get('Uploads', []))
        if not resp.get('IsTruncated'):
            return uploads
        kwargs['KeyMarker'] = resp.get('NextKeyMarker')
        kwargs['UploadIdMarker'] = resp.get('NextUploadIdMarker')


def list_keys(s3, bucket):
    keys = []
    for page in s3.get_paginator('list_objects_v2').paginate(Bucket=bucket):
        keys.extend(o['Key'] for o in page.get('Contents', []))
    return keys


def empty_bucket(s3, bucket):
    """Delete every object of a bucket and abort its open uploads."""
    for key, upload_id in list_open_uploads(s3, bucket):
        s3.abort_multipart_upload(Bucket=bucket, Key=key,
                                  UploadId=upload_id)
    for key in list_keys(s3, bucket):
        s3.delete_object(Bucket=bucket, Key=key)


def delete_bucket(s3, bucket):
    """Empty and delete a bucket; a missing bucket is not an error."""
    try:
        empty_bucket(s3, bucket)
        s3.delete_bucket(Bucket=bucket)
    except s3.exceptions.NoSuchBucket:
        pass
