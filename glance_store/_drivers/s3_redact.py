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

"""Keep the S3 keys out of every log record of the process.

botocore logs each request it sends at DEBUG, ``Authorization`` header
included (``Credential=<access key>/...``), and the body of error answers,
which S3 fills with ``<AWSAccessKeyId>``. Filters on a few named loggers
would miss the child loggers botocore creates later, and handler filters
the handlers oslo.log sets up later; so :func:`install` wraps the
process's log record factory once, and every record, whatever its logger
and handler, is cleaned when it is made:

* every configured secret key is replaced wherever it occurs;
* an access key is replaced where it is a credential (``Credential=``,
  ``X-Amz-Credential=``, ``AWSAccessKeyId``), and anywhere when it is
  long enough (16 characters and more, like AWS keys) not to be a word of
  other text, such as the bucket name ``glance-images`` with the access
  key ``glance``.

The store registers its keys with :func:`register_keys` when it is
configured.
"""

import logging
import re
import threading

MASK = '***'
# Shorter access keys are replaced only where they are a credential.
MIN_FREE_ACCESS_KEY = 16

_CREDENTIAL_RES = (
    # Authorization: AWS4-HMAC-SHA256 Credential=AKIA.../date/region/s3/...
    # and presigned URLs' X-Amz-Credential=AKIA...%2Fdate...
    re.compile(r'(Credential=)[^/\s,&\'"%]+'),
    # S3's error bodies and botocore's parsed error dicts.
    re.compile(r'(<AWSAccessKeyId>)[^<]*'),
    re.compile(r'''(['"]AWSAccessKeyId['"]:\s*['"])[^'"]*'''),
    # SigV2 headers: Authorization: AWS AKIA...:signature
    re.compile(r'(\bAWS )[A-Za-z0-9+/=_-]+(?=:)'),
)

_lock = threading.Lock()
_secrets = frozenset()
_free_access_keys = frozenset()
_previous_factory = None


def register_keys(access_key, secret_key):
    """Keep these keys out of every log record from now on.

    :param access_key: an access key (None or empty is ignored).
    :param secret_key: a secret key (None or empty is ignored).
    """
    global _secrets, _free_access_keys
    with _lock:
        if secret_key:
            _secrets = _secrets | {secret_key}
        if access_key and len(access_key) >= MIN_FREE_ACCESS_KEY:
            _free_access_keys = _free_access_keys | {access_key}
    install()


def redact(text):
    """``text`` with the registered keys and every credential masked.

    :param text: a string.
    :returns: the string, keys replaced with ``***``.
    """
    for value in _secrets | _free_access_keys:
        if value in text:
            text = text.replace(value, MASK)
    if 'Credential' in text or 'AWS' in text:
        for regex in _CREDENTIAL_RES:
            text = regex.sub(r'\1' + MASK, text)
    return text


def _clean(record):
    try:
        message = record.getMessage()
    except Exception:
        # A record whose arguments do not fit its format: logging reports
        # that itself when the record is emitted.
        return record
    clean = redact(message)
    if clean != message:
        record.msg = clean
        record.args = ()
    return record


def _factory(*args, **kwargs):
    return _clean(_previous_factory(*args, **kwargs))


def install():
    """Wrap the log record factory (idempotent).

    A factory installed after this one usually wraps it (the logging
    documentation asks factories to chain), so it is left alone; a
    factory reset to ``logging.LogRecord`` is wrapped again.

    :returns: None.
    """
    global _previous_factory
    with _lock:
        current = logging.getLogRecordFactory()
        if current is _factory:
            return
        if _previous_factory is not None and current is not \
                logging.LogRecord:
            return
        _previous_factory = current
        logging.setLogRecordFactory(_factory)


def redact_uri(uri):
    """``uri`` with any credentials before the host removed.

    For S3 location URIs in messages and logs: legacy locations hold
    ``ACCESS:SECRET@`` (a secret may itself hold ``/`` or ``@``, so
    everything before the last ``@`` goes).

    :param uri: a URI, as text.
    :returns: the URI with ``***@`` in place of the credentials.
    """
    if '@' not in uri:
        return uri
    if '://' not in uri:
        # Malformed (s3:/KEY:SECRET@host/...): hide what precedes '@'.
        return MASK + '@' + uri.rsplit('@', 1)[1]
    scheme, rest = uri.split('://', 1)
    return '%s://%s@%s' % (scheme, MASK, rest.rsplit('@', 1)[1])


# Characters of a key: a secret next to one of them is part of some other
# word, not the key itself.
_KEY_CHARS = r'A-Za-z0-9/+=_.\-'
# Where a credential is printed: an access key is only hidden there, so
# that a short one ("glance") leaves "glance-images" alone.
_ACCESS_KEY_CONTEXT = (r'(Credential=|AWSAccessKeyId[>=:"\' ]*|'
                       r'access_key(?:_id)?\s*[=:]\s*|://)')


class Redactor(object):
    """Hides given keys in printed text.

    For the check tool's table, JSON and stale-uploads report.

    The secret key is replaced wherever it stands as a value of its own;
    the access key only where a credential is printed (``Credential=``,
    ``access_key = ``, ``ACCESS:SECRET@`` in a URI); neither is replaced
    inside other words.
    """

    MASK = MASK

    def __init__(self, secret_key=None, access_key=None):
        self.patterns = []
        if secret_key:
            self.patterns.append(re.compile(
                r'()(?<![%s])%s(?![%s])' % (_KEY_CHARS, re.escape(secret_key),
                                            _KEY_CHARS)))
        if access_key:
            self.patterns.append(re.compile(
                r'%s%s(?![A-Za-z0-9])' % (_ACCESS_KEY_CONTEXT,
                                          re.escape(access_key))))

    def __call__(self, text):
        """``text`` with the keys hidden.

        :param text: any object (printed as ``str``), or None.
        :returns: the text with the keys replaced by ``***``; None for
            None.
        """
        if text is None:
            return None
        text = str(text)
        for pattern in self.patterns:
            text = pattern.sub(lambda m: m.group(1) + self.MASK, text)
        return text
