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

"""botocore errors -> glance_store exceptions an operator can act on."""

import logging

from botocore import exceptions as boto_exc

from glance_store import exceptions
from glance_store.i18n import _

LOG = logging.getLogger(__name__)

NOT_FOUND_CODES = ('404', 'NoSuchKey', 'NotFound', 'NoSuchUpload')
CREDENTIAL_CODES = ('InvalidAccessKeyId', 'SignatureDoesNotMatch',
                    'InvalidToken', 'ExpiredToken',
                    'AuthorizationHeaderMalformed')
DENIED_CODES = ('AccessDenied', '403', 'AllAccessDisabled')
CORRUPTION_CODES = ('BadDigest', 'InvalidDigest', 'XAmzContentSHA256Mismatch',
                    'InvalidChecksum')
NO_CONTENT_LENGTH_CODES = ('MissingContentLength', '411')
# Actions on an existing image, whose bucket comes from its location.
READ_ACTIONS = ('reading', 'looking up', 'deleting')


def error_code(error):
    """The S3 error code of a ClientError (or the HTTP status)."""
    if isinstance(error, boto_exc.ClientError):
        err = error.response.get('Error', {}) or {}
        code = err.get('Code')
        if code:
            return str(code)
        status = error.response.get('ResponseMetadata', {}).get(
            'HTTPStatusCode')
        return str(status) if status else 'Unknown'
    return type(error).__name__


def http_status(error):
    if isinstance(error, boto_exc.ClientError):
        return error.response.get('ResponseMetadata', {}).get(
            'HTTPStatusCode')
    return None


def is_not_found(error):
    return isinstance(error, boto_exc.ClientError) and (
        error_code(error) in NOT_FOUND_CODES or http_status(error) == 404)


def missing_bucket(store_name, bucket):
    """The error for a bucket that is missing while creation is off."""
    return exceptions.BadStoreConfiguration(
        store_name=store_name,
        reason=_("bucket %(bucket)s does not exist; create it, or set "
                 "s3_store_create_bucket_on_put = True to let the store "
                 "create it.") % {'bucket': bucket})


def to_store_error(error, store_name, action, bucket, key=None):
    """A glance_store exception for ``error`` raised while ``action``.

    ``action`` is a short phrase ("uploading", "reading", "deleting") used
    in the message.  Messages say what to change; they never carry
    credentials.
    """
    target = '%s/%s' % (bucket, key) if key else bucket
    code = error_code(error)
    if isinstance(error, exceptions.GlanceStoreException):
        return error
    if isinstance(error, boto_exc.FlexibleChecksumError):
        return exceptions.ChecksumMismatch(
            object='s3 object %s' % target,
            algorithm=_algorithm_of(error))
    if isinstance(error, (boto_exc.EndpointConnectionError,
                          boto_exc.ConnectionClosedError,
                          boto_exc.ReadTimeoutError,
                          boto_exc.ConnectTimeoutError,
                          boto_exc.ProxyConnectionError)):
        return exceptions.RemoteServiceUnavailable(
            _("S3 backend %(store)s could not be reached while %(action)s "
              "%(target)s: %(error)s. Check s3_store_host and the "
              "network.") % {'store': store_name, 'action': action,
                             'target': target, 'error': error})
    if isinstance(error, boto_exc.SSLError):
        return exceptions.RemoteServiceUnavailable(
            _("TLS with S3 backend %(store)s failed while %(action)s "
              "%(target)s: %(error)s. A certificate error means "
              "s3_store_cacert (the CA bundle) or s3_store_host is wrong; "
              "an error in the middle of a transfer (such as 'bad record "
              "mac') means the data was altered on the network, and "
              "nothing was stored.") % {
                'store': store_name, 'action': action, 'target': target,
                'error': error})
    if not isinstance(error, boto_exc.ClientError):
        return exceptions.BackendException(
            _("S3 backend %(store)s failed while %(action)s %(target)s: "
              "%(error)s") % {'store': store_name, 'action': action,
                              'target': target, 'error': error})
    if code in NO_CONTENT_LENGTH_CODES:
        return exceptions.BackendException(
            _("S3 backend %(store)s refused the upload of %(target)s with "
              "%(code)s: it does not accept the streaming (aws-chunked) "
              "checksum uploads of boto3 >= 1.36. Set "
              "s3_store_request_checksum_calculation = always (checksum "
              "sent as a header) or when_required, or turn "
              "s3_store_enable_data_integrity_protection off, for this "
              "backend.") % {'store': store_name, 'target': target,
                             'code': code})
    if code in CREDENTIAL_CODES:
        return exceptions.BadStoreConfiguration(
            store_name=store_name,
            reason=_("the S3 backend refused the credentials (%(code)s) "
                     "while %(action)s %(target)s; check "
                     "s3_store_access_key and s3_store_secret_key.") % {
                'code': code, 'action': action, 'target': target})
    if code == 'NoSuchBucket' and action in READ_ACTIONS:
        # The bucket comes from the image location: an image whose bucket
        # is not on this backend is not here (a multi-store search goes
        # on to the next backend), not a configuration error.
        return exceptions.NotFound(
            _("Object %(target)s was not found in S3 backend %(store)s: "
              "its bucket does not exist there.") % {
                'target': target, 'store': store_name})
    if code == 'NoSuchBucket':
        return missing_bucket(store_name, bucket)
    if code in DENIED_CODES:
        return exceptions.Forbidden(
            _("S3 backend %(store)s denied access (%(code)s) while "
              "%(action)s %(target)s; check the bucket policy and the "
              "permissions of s3_store_access_key.") % {
                'store': store_name, 'code': code, 'action': action,
                'target': target})
    if code in CORRUPTION_CODES:
        return exceptions.ChecksumMismatch(
            _("S3 backend %(store)s rejected %(target)s with %(code)s: the "
              "data was corrupted in transit and nothing was stored.") % {
                'store': store_name, 'target': target, 'code': code})
    if is_not_found(error):
        return exceptions.NotFound(
            _("Object %(target)s was not found in S3 backend "
              "%(store)s.") % {'target': target, 'store': store_name})
    if code == 'EntityTooLarge':
        return exceptions.StorageFull(
            _("S3 backend %(store)s refused %(target)s as too large.") % {
                'store': store_name, 'target': target})
    return exceptions.BackendException(
        _("S3 backend %(store)s answered %(code)s (HTTP %(status)s) while "
          "%(action)s %(target)s: %(message)s") % {
            'store': store_name, 'code': code, 'status': http_status(error),
            'action': action, 'target': target,
            'message': error.response.get('Error', {}).get('Message', '')})


def _algorithm_of(error):
    text = str(error)
    for name in ('CRC64NVME', 'CRC32C', 'CRC32', 'SHA256', 'SHA1'):
        if name.lower() in text.lower():
            return name
    return 'checksum'
