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

"""botocore errors -> glance_store exceptions an operator can act on.

:func:`to_store_error` is the one mapping. It tries the rules of
:data:`RULES` in order and uses the first that matches; each rule is a
predicate over the error, the glance_store exception class and the
message template. The order matters where two predicates can both match
(a ``NoSuchBucket`` met while reading an image is "not found", while
uploading it is a configuration error), so it is written once, here, and
a unit test pins it.

Messages say what to change and name the option; they never carry a key.
"""

import collections
import logging
import re

from botocore import exceptions as boto_exc

from glance_store import exceptions
from glance_store.i18n import _

LOG = logging.getLogger(__name__)

NOT_FOUND_CODES = ('404', 'NoSuchKey', 'NotFound', 'NoSuchUpload')
CREDENTIAL_CODES = ('InvalidAccessKeyId', 'SignatureDoesNotMatch',
                    'InvalidToken', 'ExpiredToken')
# The request was signed for another region than the bucket's.
REGION_CODES = ('AuthorizationHeaderMalformed', 'PermanentRedirect',
                'IllegalLocationConstraintException', '301')
DENIED_CODES = ('AccessDenied', '403', 'AllAccessDisabled')
CORRUPTION_CODES = ('BadDigest', 'InvalidDigest', 'XAmzContentSHA256Mismatch',
                    'InvalidChecksum')
NO_CONTENT_LENGTH_CODES = ('MissingContentLength', '411')
# How servers that do not implement aws-chunked say so (OpenStack Swift's
# s3api before 2.31 answers 501 NotImplemented "Transfering payloads in
# multiple chunks using aws-chunked is not supported."); matched together
# with a word of _CHUNKED_WORDS in the message, since NotImplemented alone
# also answers other unsupported requests.
NOT_IMPLEMENTED_CODES = ('NotImplemented', '501')
_CHUNKED_WORDS = ('aws-chunked', 'chunked', 'streaming-',
                  'x-amz-content-sha256', 'x-amz-trailer',
                  'x-amz-decoded-content-length')
# How servers refuse a checksum algorithm they do not know (LocalStack:
# InvalidRequest), matched with "algorithm ... unsupported" in the message.
ALGORITHM_REFUSED_CODES = ('InvalidRequest', 'InvalidArgument',
                           'NotImplemented', '400', '501')
# Actions on an existing image, whose bucket comes from its location.
READ_ACTIONS = ('reading', 'looking up', 'deleting')

CONNECTION_ERRORS = (boto_exc.EndpointConnectionError,
                     boto_exc.ConnectionClosedError,
                     boto_exc.ReadTimeoutError,
                     boto_exc.ConnectTimeoutError,
                     boto_exc.ProxyConnectionError)

# Words of an OpenSSL error that mean the TLS records themselves were
# damaged after the handshake: the bytes changed on the way.
_TAMPERED_TLS = ('bad record mac', 'decryption failed', 'bad_record_mac',
                 'decryption_failed')
# ... that mean the peer does not speak TLS at all (https:// to an HTTP
# port).
_NOT_TLS = ('wrong_version_number', 'wrong version number',
            'record layer failure', 'packet length too long',
            'http_request', 'unknown protocol')
_CERTIFICATE = ('certificate_verify_failed', 'certificate verify failed',
                'hostname mismatch', 'self-signed', 'self signed',
                'unable to get local issuer')


def error_code(error):
    """The S3 error code of an error.

    :param error: a botocore ``ClientError`` or any other exception.
    :returns: the S3 ``Code`` of a ``ClientError``, else its HTTP status
        as a string (``'Unknown'`` without one); for any other exception
        the name of its class.
    """
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
    """The HTTP status of a ``ClientError``.

    :param error: any exception.
    :returns: the status as an int, or None when ``error`` is not a
        ``ClientError`` or its response has none.
    """
    if isinstance(error, boto_exc.ClientError):
        return error.response.get('ResponseMetadata', {}).get(
            'HTTPStatusCode')
    return None


def is_not_found(error):
    """Whether ``error`` says the object (or bucket) does not exist.

    :param error: any exception.
    :returns: True for a ``ClientError`` with a not-found code or a 404.
    """
    return isinstance(error, boto_exc.ClientError) and (
        error_code(error) in NOT_FOUND_CODES or http_status(error) == 404)


def missing_bucket(store_name, bucket):
    """The error for a bucket that is missing while creation is off.

    :param store_name: the backend's name, for the message.
    :param bucket: the bucket's name.
    :returns: a ``BadStoreConfiguration`` naming
        ``s3_store_create_bucket_on_put``.
    """
    return exceptions.BadStoreConfiguration(
        store_name=store_name,
        reason=_("bucket %(bucket)s does not exist; create it, or set "
                 "s3_store_create_bucket_on_put = True to let the store "
                 "create it.") % {'bucket': bucket})


def sentence(text):
    """``text`` without its closing full stops, to embed in a sentence.

    :param text: any object; it is converted with ``str``.
    :returns: the text, stripped of trailing spaces and dots.
    """
    return str(text).rstrip().rstrip('.')


def expected_region(error):
    """The region S3 said the bucket is in, when it said it.

    :param error: a ``ClientError`` (anything else gives None).
    :returns: the region name, or None.
    """
    if not isinstance(error, boto_exc.ClientError):
        return None
    err = error.response.get('Error', {}) or {}
    headers = error.response.get('ResponseMetadata', {}).get(
        'HTTPHeaders', {}) or {}
    region = err.get('Region') or headers.get('x-amz-bucket-region')
    if region:
        return region
    match = (re.search(r"expecting '([a-z0-9-]+)'", err.get('Message') or '')
             or re.search(r'\bs3[.-]([a-z0-9-]+)\.amazonaws\.com',
                          err.get('Endpoint') or ''))
    return match.group(1) if match else None


def _refuses_chunked(ctx):
    """A NotImplemented answer about aws-chunked uploads."""
    text = (ctx.values['message'] or '').lower()
    return ctx.has_code(NOT_IMPLEMENTED_CODES) and any(
        word in text for word in _CHUNKED_WORDS)


def _refuses_algorithm(ctx):
    """An answer saying the checksum algorithm is not supported.

    LocalStack: InvalidRequest "Checksum algorithm provided is
    unsupported" to a CreateMultipartUpload with SHA512 or an XXHASH.
    """
    text = (ctx.values['message'] or '').lower()
    return (ctx.has_code(ALGORITHM_REFUSED_CODES) and 'algorithm' in text
            and ('unsupported' in text or 'not supported' in text))


def _tls_kind(error):
    text = str(error).lower()
    for kind, words in (('tampered', _TAMPERED_TLS), ('not_tls', _NOT_TLS),
                        ('certificate', _CERTIFICATE)):
        if any(word in text for word in words):
            return kind
    return 'other'


def _plain_http_to_tls(error, endpoint):
    """An http:// endpoint whose server hung up or answered garbage."""
    if not (endpoint or '').startswith('http://'):
        return False
    if isinstance(error, boto_exc.ConnectionClosedError):
        return True
    text = str(error).lower()
    return ('badstatusline' in text or 'remotedisconnected' in text or
            'connection aborted' in text or 'https port' in text)


class Context(object):
    """What the rules look at: the error and where it happened."""

    def __init__(self, error, store_name, action, bucket, key, endpoint,
                 algorithm):
        self.error = error
        self.code = error_code(error)
        self.action = action
        self.client_error = isinstance(error, boto_exc.ClientError)
        self.endpoint = endpoint
        message = ''
        if self.client_error:
            message = (error.response.get('Error', {}) or {}).get(
                'Message', '')
        self.values = {
            'store': store_name, 'action': action, 'code': self.code,
            'target': '%s/%s' % (bucket, key) if key else bucket,
            'bucket': bucket, 'endpoint': endpoint or _('the endpoint'),
            'error': sentence(error), 'status': http_status(error),
            'message': sentence(message),
            'region_fix': self._region_fix(error),
            'algorithm': algorithm or _('response'),
            'object': 's3 object %s/%s' % (bucket, key) if key else bucket,
        }

    @staticmethod
    def _region_fix(error):
        region = expected_region(error)
        if region:
            return 's3_store_region_name = %s' % region
        return _("s3_store_region_name to the bucket's region (S3 did not "
                 "say which)")

    def has_code(self, codes):
        return self.client_error and self.code in codes


# The answer to a server that refuses boto3's aws-chunked uploads, whatever
# its way of saying so (RGW 16: 411; Swift 2.30: 501).
CHUNKED_REFUSED = _(
    "S3 backend %(store)s refused the upload of %(target)s with "
    "%(code)s: it does not accept the streaming (aws-chunked) "
    "checksum uploads of boto3 >= 1.36. Set "
    "s3_store_request_checksum_calculation = always (checksum sent "
    "as a header) or when_required, or turn "
    "s3_store_enable_data_integrity_protection off, for this "
    "backend.")

# One rule: a name (for tests and logs), a predicate over a Context, the
# glance_store exception class and its message template (filled from
# Context.values). A BadStoreConfiguration template is the reason.
Rule = collections.namedtuple('Rule', 'name matches exc_class template')

RULES = (
    Rule('checksum-while-reading',
         lambda c: isinstance(c.error, boto_exc.FlexibleChecksumError),
         exceptions.ChecksumMismatch, exceptions.ChecksumMismatch.message),
    Rule('read-timeout',
         lambda c: isinstance(c.error, boto_exc.ReadTimeoutError),
         exceptions.RemoteServiceUnavailable,
         _("S3 backend %(store)s at %(endpoint)s did not answer within "
           "s3_store_read_timeout while %(action)s %(target)s (%(error)s), "
           "in each of s3_store_retry_max_attempts attempts. Raise "
           "s3_store_read_timeout for a slow server; otherwise check "
           "s3_store_host (its scheme too: plain http:// to an HTTPS port "
           "can also go unanswered) and the network.")),
    Rule('connect-timeout',
         lambda c: isinstance(c.error, boto_exc.ConnectTimeoutError),
         exceptions.RemoteServiceUnavailable,
         _("S3 backend %(store)s at %(endpoint)s could not be connected "
           "to within s3_store_connect_timeout while %(action)s "
           "%(target)s (%(error)s). Check s3_store_host and the network, "
           "or raise s3_store_connect_timeout.")),
    Rule('plain-http-to-tls-port',
         lambda c: not c.client_error and _plain_http_to_tls(c.error,
                                                             c.endpoint),
         exceptions.RemoteServiceUnavailable,
         _("S3 backend %(store)s at %(endpoint)s closed the connection or "
           "answered something that is not HTTP while %(action)s "
           "%(target)s (%(error)s). If that port serves HTTPS, write "
           "https:// in s3_store_host.")),
    Rule('unreachable',
         lambda c: isinstance(c.error, CONNECTION_ERRORS),
         exceptions.RemoteServiceUnavailable,
         _("S3 backend %(store)s could not be reached while %(action)s "
           "%(target)s: %(error)s. Check s3_store_host and the network.")),
    Rule('https-to-plain-http-port',
         lambda c: isinstance(c.error, boto_exc.SSLError) and
         _tls_kind(c.error) == 'not_tls',
         exceptions.RemoteServiceUnavailable,
         _("S3 backend %(store)s at %(endpoint)s does not answer in TLS "
           "while %(action)s %(target)s (%(error)s): the port serves plain "
           "HTTP. Write http:// in s3_store_host, or use the server's "
           "HTTPS port.")),
    Rule('tls-certificate',
         lambda c: isinstance(c.error, boto_exc.SSLError) and
         _tls_kind(c.error) == 'certificate',
         exceptions.RemoteServiceUnavailable,
         _("The TLS certificate of S3 backend %(store)s at %(endpoint)s "
           "could not be verified while %(action)s %(target)s "
           "(%(error)s). Set s3_store_cacert to the CA bundle that signed "
           "it, and check that the host name in s3_store_host is one the "
           "certificate names.")),
    Rule('tls-tampered',
         lambda c: isinstance(c.error, boto_exc.SSLError) and
         _tls_kind(c.error) == 'tampered',
         exceptions.RemoteServiceUnavailable,
         _("TLS with S3 backend %(store)s failed in the middle of %(action)s "
           "%(target)s (%(error)s): the data was altered on the network, "
           "and nothing was stored or served.")),
    Rule('tls-other',
         lambda c: isinstance(c.error, boto_exc.SSLError),
         exceptions.RemoteServiceUnavailable,
         _("TLS with S3 backend %(store)s at %(endpoint)s failed while "
           "%(action)s %(target)s: %(error)s. Check the scheme in "
           "s3_store_host and s3_store_cacert.")),
    Rule('other-botocore-error',
         lambda c: not c.client_error,
         exceptions.BackendException,
         _("S3 backend %(store)s failed while %(action)s %(target)s: "
           "%(error)s.")),
    Rule('missing-content-length',
         lambda c: c.has_code(NO_CONTENT_LENGTH_CODES),
         exceptions.BackendException,
         CHUNKED_REFUSED),
    Rule('aws-chunked-not-implemented', _refuses_chunked,
         exceptions.BackendException,
         CHUNKED_REFUSED),
    Rule('wrong-region',
         lambda c: c.has_code(REGION_CODES),
         exceptions.BadStoreConfiguration,
         _("the S3 backend answered %(code)s while %(action)s %(target)s: "
           "the bucket is in another region than the one the store signs its "
           "requests for. Set %(region_fix)s.")),
    Rule('credentials',
         lambda c: c.has_code(CREDENTIAL_CODES),
         exceptions.BadStoreConfiguration,
         _("the S3 backend refused the credentials (%(code)s) while "
           "%(action)s %(target)s; check s3_store_access_key and "
           "s3_store_secret_key.")),
    # The bucket of an image comes from its location: an image whose
    # bucket is not on this backend is not here (a multi-store search
    # goes on to the next backend); it is no configuration error.
    Rule('image-bucket-missing',
         lambda c: c.has_code(('NoSuchBucket',)) and
         c.action in READ_ACTIONS,
         exceptions.NotFound,
         _("Object %(target)s was not found in S3 backend %(store)s: its "
           "bucket does not exist there.")),
    Rule('bucket-missing',
         lambda c: c.has_code(('NoSuchBucket',)),
         exceptions.BadStoreConfiguration,
         _("bucket %(bucket)s does not exist; create it, or set "
           "s3_store_create_bucket_on_put = True to let the store create "
           "it.")),
    Rule('denied',
         lambda c: c.has_code(DENIED_CODES),
         exceptions.Forbidden,
         _("S3 backend %(store)s denied access (%(code)s) while %(action)s "
           "%(target)s; check the bucket policy and the permissions of "
           "s3_store_access_key.")),
    Rule('corrupted-upload',
         lambda c: c.has_code(CORRUPTION_CODES),
         exceptions.ChecksumMismatch,
         _("S3 backend %(store)s rejected %(target)s with %(code)s: the "
           "data was corrupted in transit and nothing was stored.")),
    Rule('checksum-algorithm-unsupported',
         _refuses_algorithm,
         exceptions.BackendException,
         _("S3 backend %(store)s refused the checksum algorithm the store "
           "asked for (%(code)s while %(action)s %(target)s: %(message)s). "
           "Set s3_store_checksum_algorithm to one this backend supports "
           "(glance-store-s3-check lists what works), for this backend.")),
    Rule('not-found',
         lambda c: is_not_found(c.error),
         exceptions.NotFound,
         _("Object %(target)s was not found in S3 backend %(store)s.")),
    Rule('too-large',
         lambda c: c.has_code(('EntityTooLarge',)),
         exceptions.StorageFull,
         _("S3 backend %(store)s refused %(target)s as too large.")),
    Rule('any-other-answer',
         lambda c: True,
         exceptions.BackendException,
         _("S3 backend %(store)s answered %(code)s (HTTP %(status)s) while "
           "%(action)s %(target)s: %(message)s.")),
)


def find_rule(error, store_name, action, bucket, key=None, endpoint=None,
              algorithm=None):
    """The first rule of :data:`RULES` that matches ``error``.

    :param error: the botocore exception.
    :param store_name: the backend's name.
    :param action: what the store was doing ("uploading", "reading").
    :param bucket: the bucket.
    :param key: the object's key, or None for a bucket operation.
    :param endpoint: the endpoint URL, which some hints depend on.
    :param algorithm: the checksum algorithm known to the caller.
    :returns: ``(rule, context)``.
    """
    ctx = Context(error, store_name, action, bucket, key, endpoint,
                  algorithm)
    for rule in RULES:
        if rule.matches(ctx):
            return rule, ctx
    raise AssertionError('the last rule matches everything')


def to_store_error(error, store_name, action, bucket, key=None,
                   endpoint=None, algorithm=None):
    """A glance_store exception for ``error`` raised while ``action``.

    :param error: the exception botocore raised (a glance_store exception
        is returned as it is).
    :param store_name: the backend's name, for the message.
    :param action: a short phrase ("uploading", "reading", "deleting")
        used in the message; the read actions of :data:`READ_ACTIONS`
        make a missing bucket "not found".
    :param bucket: the bucket of the operation.
    :param key: the object's key, or None for a bucket operation.
    :param endpoint: the endpoint URL; with it, scheme mistakes get a
        precise hint.
    :param algorithm: the checksum algorithm the caller knows (a download
        names the one the object's stored checksum uses).
    :returns: the glance_store exception (or ``BackendException``) to
        raise; its message says what to change and holds no key.
    """
    if isinstance(error, exceptions.GlanceStoreException):
        return error
    rule, ctx = find_rule(error, store_name, action, bucket, key,
                          endpoint, algorithm)
    message = rule.template % ctx.values
    if rule.exc_class is exceptions.BadStoreConfiguration:
        return exceptions.BadStoreConfiguration(store_name=store_name,
                                                reason=message)
    return rule.exc_class(message)
