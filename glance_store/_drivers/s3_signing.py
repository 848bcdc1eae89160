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

"""Sign one S3 client's requests with botocore's pure-Python SigV4 signer.

When awscrt is installed (this library recommends it for CRC32C and
CRC64NVME), botocore signs every request through awscrt
(``CrtS3SigV4Auth``), which costs more CPU per GiB uploaded than its own
signer (over HTTP the signature covers the SHA-256 of each body: see
the performance page of the contributor guide for the figures).  The
only switch botocore offers, ``BOTO_DISABLE_CRT``, is process-wide and
also turns awscrt's checksums off.

``use_python_signer`` keeps awscrt for the checksums and has one client
sign the way botocore does without awscrt: botocore looks signers up by
name in ``botocore.auth.AUTH_TYPE_MAPS`` and lets a ``choose-signer``
handler pick the name per request, so this module adds names of its own
bound to botocore's pure-Python classes and registers, on the given
client's events only, a handler that picks them where botocore would
have picked ``s3v4``.  Other clients of the process are left alone.
"""

import botocore.auth
import botocore.handlers

# This module's signer names, each bound to botocore's pure-Python class
# for the name botocore itself would use (``s3v4`` plus the suffixes
# botocore appends for presigned URLs and POSTs).
PREFIX = 'glance-store-py-'
PYTHON_SIGNERS = {
    's3v4': botocore.auth.S3SigV4Auth,
    's3v4-query': botocore.auth.S3SigV4QueryAuth,
    's3v4-presign-post': botocore.auth.S3SigV4PostAuth,
}
HANDLER_ID = 'glance-store-python-signer'


def _register_names():
    for name, cls in PYTHON_SIGNERS.items():
        botocore.auth.AUTH_TYPE_MAPS.setdefault(PREFIX + name, cls)


def crt_signs():
    """Whether botocore signs S3 requests through awscrt here.

    :returns: True when botocore's ``s3v4`` signer is not its
        pure-Python ``S3SigV4Auth`` (awscrt installed and not disabled).
    """
    return botocore.auth.AUTH_TYPE_MAPS.get('s3v4') is not \
        botocore.auth.S3SigV4Auth


def _choose_python_signer(signature_version=None, context=None,
                          signing_name=None, **kwargs):
    # What botocore would choose: the operation's own auth type, else
    # the client's default; then the same name with our prefix.
    chosen = botocore.handlers.set_operation_specific_signer(
        context=context if context is not None else {},
        signing_name=signing_name) or signature_version
    if isinstance(chosen, str) and chosen in PYTHON_SIGNERS:
        return PREFIX + chosen
    return None


def use_python_signer(client):
    """Have ``client`` sign with botocore's pure-Python SigV4 signer.

    Does nothing when botocore signs without awscrt anyway.

    :param client: a botocore/boto3 S3 client.
    :returns: True if the client's signer was changed, else False.
    """
    if not crt_signs():
        return False
    _register_names()
    client.meta.events.register_first('choose-signer.s3',
                                      _choose_python_signer,
                                      unique_id=HANDLER_ID)
    return True
