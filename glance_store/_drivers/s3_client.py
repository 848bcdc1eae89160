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

"""The one place boto3 S3 clients are built, from ``S3Settings``.

The store's client, the check tool's probes and the start-up listing
all come from :func:`make_client`; what differs for one use (a short
timeout, one attempt, no signature) is passed as ``Config`` overrides,
never by building a client another way.
"""

import boto3
from botocore import config as boto_config

from glance_store._drivers import s3_signing

# Uploads that may share a backend's client at once, each with up to
# s3_store_thread_pools parts in flight: the client's connection pool
# holds that many connections (more are opened when needed, and closed
# after use instead of being kept).
CONCURRENT_UPLOADS = 4
MIN_POOL_CONNECTIONS = 10


def config_kwargs(settings, **overrides):
    """The keyword arguments of a backend's botocore ``Config``.

    In order, later ones winning: the store's defaults (addressing
    style, a connection pool sized for its uploads, standard retries),
    the transport options, the checksum policy, then ``overrides``.

    :param settings: an ``s3_settings.S3Settings``.
    :param overrides: ``Config`` arguments for one use.
    :returns: a dict.
    """
    kwargs = {
        's3': {'addressing_style': settings.addressing_style},
        'max_pool_connections': max(
            MIN_POOL_CONNECTIONS,
            settings.limits.max_in_flight * CONCURRENT_UPLOADS),
        # Explicit, so that behaviour does not change with botocore's
        # default: 3 attempts; BadDigest (corruption) is not retried.
        'retries': {'mode': 'standard'},
    }
    if settings.transport is not None:
        kwargs.update(settings.transport.config_kwargs())
    kwargs.update(settings.policy.client_config_kwargs())
    kwargs.update(overrides)
    return kwargs


def client_config(settings, **overrides):
    """The botocore ``Config`` of a backend's client.

    :param settings: an ``s3_settings.S3Settings``.
    :param overrides: ``Config`` arguments for one use.
    :returns: a ``botocore.config.Config``.
    """
    return boto_config.Config(**config_kwargs(settings, **overrides))


def make_client(settings, config=None, **overrides):
    """A boto3 S3 client for a backend.

    The configured credentials are always the ones used (never those of
    a legacy location URI); the checksum settings live in the client's
    own ``Config``, so they override the AWS_*_CHECKSUM_* environment
    variables for this client only.

    :param settings: an ``s3_settings.S3Settings``.
    :param config: the botocore ``Config`` to use; default:
        ``client_config(settings, **overrides)``.
    :param overrides: ``Config`` arguments for one use (for example
        ``connect_timeout``), when ``config`` is not given.
    :returns: a boto3 S3 client.
    :raises botocore.exceptions.InvalidRegionError: a region name
        botocore refuses.
    :raises ValueError: an endpoint botocore cannot use.
    """
    if config is None:
        config = client_config(settings, **overrides)
    session = boto3.session.Session(
        aws_access_key_id=settings.target.access_key,
        aws_secret_access_key=settings.target.secret_key,
        region_name=settings.region_name)
    client = session.client(
        's3', endpoint_url=settings.endpoint_url,
        region_name=settings.region_name, use_ssl=settings.use_https,
        verify=settings.verify, config=config)
    # botocore's own SigV4 signer, awscrt for the checksums (s3_signing).
    s3_signing.use_python_signer(client)
    return client
