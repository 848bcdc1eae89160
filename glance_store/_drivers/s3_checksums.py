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

"""Checksum policy of the S3 store: option values -> what boto3 does.

botocore >= 1.36 knows two values for each direction, ``when_supported``
and ``when_required``.  The store offers four (``never``,
``when_required``, ``when_supported``, ``always``) behind a master switch:

* switch off: both directions ``when_required``, no checksum parameter;
  requests look as they did with boto3 < 1.36;
* ``never`` / ``when_required``: botocore's ``when_required``;
* ``when_supported``: botocore's ``when_supported`` (over HTTPS uploads
  become aws-chunked with a trailing checksum, which only AWS-grade
  servers accept);
* ``always``: botocore stays at ``when_required`` and the store does the
  work: it computes the checksum itself and sends it as a plain
  ``x-amz-checksum-*`` header with a Content-Length (request side), or
  asks for and checks every stored checksum (response side).

This module is pure policy: it builds the ``botocore.config.Config``
arguments and the extra parameters of each request, and knows how to
compute and combine checksums.  It makes no network call.
"""

import base64
import dataclasses
import functools
import hashlib
import zlib

import botocore
from botocore import session as boto_session

try:
    from awscrt import checksums as crt_checksums
except ImportError:  # pragma: no cover - depends on the environment
    crt_checksums = None

NEVER = 'never'
WHEN_REQUIRED = 'when_required'
WHEN_SUPPORTED = 'when_supported'
ALWAYS = 'always'
MODES = (WHEN_REQUIRED, WHEN_SUPPORTED, ALWAYS, NEVER)

MD5 = 'MD5'
XXHASH_ALGORITHMS = ('XXHASH64', 'XXHASH3', 'XXHASH128')
ALGORITHMS = ('CRC32', 'CRC32C', 'CRC64NVME', 'SHA1', 'SHA256',
              'SHA512') + XXHASH_ALGORITHMS + (MD5,)
CRT_ALGORITHMS = ('CRC32C', 'CRC64NVME') + XXHASH_ALGORITHMS
# Algorithms S3 can combine into a whole-object ("full object") checksum
# of a multipart upload; the others (hashes) are only composite.
FULL_OBJECT_ALGORITHMS = ('CRC32', 'CRC32C', 'CRC64NVME')
# Algorithms the S3 API of botocore < 1.42 does not have (no
# ``ChecksumSHA512`` parameter): usable only where the installed botocore
# knows them.
NEW_API_ALGORITHMS = ('SHA512',) + XXHASH_ALGORITHMS
DEFAULT_ALGORITHM = 'CRC32'

# The options ChecksumPolicy.from_options reads, in its argument order.
ENABLE_OPTION = 's3_store_enable_data_integrity_protection'
REQUEST_OPTION = 's3_store_request_checksum_calculation'
RESPONSE_OPTION = 's3_store_response_checksum_validation'
ALGORITHM_OPTION = 's3_store_checksum_algorithm'
OPTION_NAMES = (ENABLE_OPTION, REQUEST_OPTION, RESPONSE_OPTION,
                ALGORITHM_OPTION)


def crt_available():
    return crt_checksums is not None


@functools.lru_cache(maxsize=1)
def _botocore_s3_parameters():
    """The checksum parameters of PutObject in the installed botocore."""
    model = boto_session.get_session().get_service_model('s3')
    members = model.operation_model('PutObject').input_shape.members
    return frozenset(name for name in members if name.startswith('Checksum'))


def botocore_knows(algorithm):
    """Whether the installed botocore can send ``algorithm``'s checksum.

    :param algorithm: an upper-case algorithm name, e.g. 'SHA512'
    :returns: True when botocore's S3 model has the ``Checksum<ALGO>``
        parameter (SHA512 and XXHASH came with botocore 1.42)
    """
    return param_name(algorithm) in _botocore_s3_parameters()


def unsupported_reason(algorithm):
    """Why this process cannot use ``algorithm``, or None when it can.

    :param algorithm: one of ``ALGORITHMS``
    :returns: None, or a sentence naming what is missing (botocore too
        old, awscrt missing or too old)
    """
    if algorithm in NEW_API_ALGORITHMS and not botocore_knows(algorithm):
        return ('%(alg)s checksums need botocore >= 1.42 (installed: '
                '%(found)s)' % {'alg': algorithm,
                                'found': botocore.__version__})
    if algorithm in CRT_ALGORITHMS and crt_checksums is None:
        return '%s needs the awscrt package, which is not installed' % (
            algorithm)
    if algorithm in XXHASH_ALGORITHMS and \
            getattr(crt_checksums, 'XXHash', None) is None:
        return '%s needs awscrt >= 0.31.2, which has XXHash' % algorithm
    return None


def param_name(algorithm):
    """``ChecksumCRC32`` and friends: the boto3 parameter / response key."""
    return 'Checksum' + algorithm


# --- computing checksums -------------------------------------------------

# Reflected polynomials and widths of the CRCs S3 uses.
_CRC_PARAMS = {
    'CRC32': (0xEDB88320, 32),
    'CRC32C': (0x82F63B78, 32),
    'CRC64NVME': (0x9A6C9329AC4BC9B5, 64),
}


# awscrt's constructors of the XXHASH algorithms (awscrt >= 0.31.2).
_XXHASH_FACTORIES = {
    'XXHASH64': 'new_xxhash64',
    'XXHASH3': 'new_xxhash3_64',
    'XXHASH128': 'new_xxhash3_128',
}


def _xxhash(algorithm):
    xxhash = getattr(crt_checksums, 'XXHash', None)
    if xxhash is None:
        raise RuntimeError(
            '%s needs awscrt >= 0.31.2 (pip install -U awscrt)' % algorithm)
    return getattr(xxhash, _XXHASH_FACTORIES[algorithm])()


class Checksum(object):
    """Incremental checksum of one algorithm, S3's base64 encoding."""

    def __init__(self, algorithm, digest=None, length=0):
        self.algorithm = algorithm
        self.length = length
        self._crc = None
        self._hash = None
        self._xxhash = None
        # A digest computed elsewhere: finished, takes no more data.
        self._digest = None if digest is None else bytes(digest)
        if digest is not None:
            return
        if algorithm in _CRC_PARAMS:
            self._crc = 0
            if algorithm in CRT_ALGORITHMS and crt_checksums is None:
                raise RuntimeError(
                    '%s needs the awscrt package (pip install awscrt)'
                    % algorithm)
        elif algorithm in _XXHASH_FACTORIES:
            if crt_checksums is None:
                raise RuntimeError(
                    '%s needs the awscrt package (pip install awscrt)'
                    % algorithm)
            self._xxhash = _xxhash(algorithm)
        else:
            self._hash = hashlib.new(algorithm.lower(),
                                     usedforsecurity=False)

    @classmethod
    def of_digest(cls, algorithm, digest, length):
        """A finished checksum whose digest was computed elsewhere.

        :param algorithm: the algorithm of ``digest``
        :param digest: the raw digest (bytes)
        :param length: how many bytes it covers
        :returns: a ``Checksum`` that takes no more data
        """
        return cls(algorithm, digest=digest, length=length)

    def update(self, data):
        if self._digest is not None:
            raise ValueError('the %s checksum is finished' % self.algorithm)
        self.length += len(data)
        if self._hash is not None:
            self._hash.update(data)
        elif self._xxhash is not None:
            # awscrt's XXHash takes bytes only (no memoryview or
            # bytearray): a copy of the slice.
            self._xxhash.update(data if isinstance(data, bytes)
                                else bytes(data))
        elif self.algorithm == 'CRC32':
            self._crc = zlib.crc32(data, self._crc)
        elif self.algorithm == 'CRC32C':
            self._crc = crt_checksums.crc32c(data, self._crc)
        else:
            self._crc = crt_checksums.crc64nvme(data, self._crc)
        return self

    @property
    def crc(self):
        """The CRC as an integer (CRC algorithms only)."""
        return self._crc

    def digest(self):
        if self._digest is not None:
            return self._digest
        if self._hash is not None:
            return self._hash.digest()
        if self._xxhash is not None:
            # awscrt's finalize ends the hash: keep its value.
            self._digest = self._xxhash.finalize()
            return self._digest
        width = _CRC_PARAMS[self.algorithm][1]
        return self._crc.to_bytes(width // 8, 'big')

    def b64digest(self):
        return base64.b64encode(self.digest()).decode('ascii')


def compute(algorithm, data):
    """Base64 checksum of ``data`` (bytes or memoryview)."""
    return Checksum(algorithm).update(data).b64digest()


def _gf2_times(matrix, vector):
    result = 0
    i = 0
    while vector:
        if vector & 1:
            result ^= matrix[i]
        vector >>= 1
        i += 1
    return result


def _gf2_square(matrix):
    return [_gf2_times(matrix, row) for row in matrix]


def _gf2_product(a, b):
    """The GF(2) matrix product a.b (matrices as lists of column ints)."""
    return [_gf2_times(a, column) for column in b]


@functools.lru_cache(maxsize=32)
def _zero_bytes_operator(algorithm, length):
    """The matrix that appends ``length`` zero bytes to a CRC register.

    Cached: the parts of an upload have the same length, so combining
    their CRCs costs one matrix-vector product each.
    """
    poly, width = _CRC_PARAMS[algorithm]
    op = [poly] + [1 << i for i in range(width - 1)]  # one zero bit
    for _ in range(3):  # one zero byte
        op = _gf2_square(op)
    result = None
    while length:
        if length & 1:
            result = op if result is None else _gf2_product(op, result)
        length >>= 1
        if length:
            op = _gf2_square(op)
    return result


def _gf2_crc_combine(algorithm, crc1, crc2, len2):
    if len2 <= 0:
        return crc1
    return _gf2_times(_zero_bytes_operator(algorithm, len2), crc1) ^ crc2


def _crt_combiners():
    """awscrt's native combine functions, by algorithm (awscrt >= 0.29)."""
    names = {'CRC32': 'combine_crc32', 'CRC32C': 'combine_crc32c',
             'CRC64NVME': 'combine_crc64nvme'}
    found = {}
    for algorithm, name in names.items():
        fn = getattr(crt_checksums, name, None)
        if fn is not None:
            found[algorithm] = fn
    return found


_CRT_COMBINE = _crt_combiners()


def crc_combine(algorithm, crc1, crc2, len2):
    """CRC of A+B from crc(A), crc(B) and len(B), for reflected CRCs.

    Lets the store build a whole-object CRC from the part CRCs its
    workers computed, without reading every byte a second time.  Uses
    awscrt's combine where awscrt is loaded and has it; otherwise the
    GF(2) form here: appending len(B) zero bytes to crc(A) is a linear
    map over GF(2).

    :param algorithm: 'CRC32', 'CRC32C' or 'CRC64NVME'
    :param crc1: the CRC of A, an integer
    :param crc2: the CRC of B, an integer
    :param len2: the length of B in bytes
    :returns: the CRC of A followed by B, an integer
    """
    combine = _CRT_COMBINE.get(algorithm)
    if combine is not None:
        return combine(crc1, crc2, len2) if len2 > 0 else crc1
    return _gf2_crc_combine(algorithm, crc1, crc2, len2)


def combined_b64(algorithm, parts):
    """Whole-object base64 CRC from the part CRCs.

    :param algorithm: 'CRC32', 'CRC32C' or 'CRC64NVME'
    :param parts: ``[(crc_int, length), ...]`` in object order
    :returns: S3's base64 encoding of the whole-object CRC
    """
    crc = 0
    for part_crc, length in parts:
        crc = crc_combine(algorithm, crc, part_crc, length)
    width = _CRC_PARAMS[algorithm][1]
    return base64.b64encode(crc.to_bytes(width // 8, 'big')).decode()


def composite_b64(algorithm, part_digests):
    """S3's composite checksum: checksum of the part digests, "-N"."""
    c = Checksum(algorithm)
    for d in part_digests:
        c.update(d)
    return '%s-%d' % (c.b64digest(), len(part_digests))


def parts_without_checksums(parts):
    """The ``Parts`` of a CompleteMultipartUpload without checksum elements.

    For servers whose schema refuses them (OpenStack Swift's s3api before
    2.31 answers MalformedXML): the part checksums were already sent with
    each UploadPart, the completion then names only ETags and numbers.

    :param parts: ``[{'ETag': ..., 'PartNumber': ..., 'Checksum...': ...}]``
    :returns: a new list of ``{'ETag': ..., 'PartNumber': ...}``.
    """
    return [{'ETag': p['ETag'], 'PartNumber': p['PartNumber']}
            for p in parts]


# --- the policy ----------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class ChecksumPolicy(object):
    """The effective checksum behaviour of one S3 backend."""

    enabled: bool = False
    request: str = WHEN_REQUIRED
    response: str = WHEN_REQUIRED
    algorithm: str = DEFAULT_ALGORITHM
    # Values the operator set that the master switch makes ineffective.
    ignored: tuple = ()

    @classmethod
    def from_options(cls, enabled, request=WHEN_REQUIRED,
                     response=WHEN_REQUIRED, algorithm=DEFAULT_ALGORITHM):
        request = (request or WHEN_REQUIRED).lower()
        response = (response or WHEN_REQUIRED).lower()
        algorithm = (algorithm or DEFAULT_ALGORITHM).upper()
        for value in (request, response):
            if value not in MODES:
                raise ValueError('unknown checksum mode %r' % value)
        if algorithm not in ALGORITHMS:
            raise ValueError('unknown checksum algorithm %r' % algorithm)
        if enabled:
            return cls(True, request, response, algorithm)
        ignored = tuple(
            (name, value) for name, value, default in (
                (REQUEST_OPTION, request, WHEN_REQUIRED),
                (RESPONSE_OPTION, response, WHEN_REQUIRED),
                (ALGORITHM_OPTION, algorithm, DEFAULT_ALGORITHM))
            if value != default)
        return cls(False, WHEN_REQUIRED, WHEN_REQUIRED, algorithm, ignored)

    def options(self):
        """The option values an operator sets to get this policy.

        :returns: a dict of option name to value: the switch alone when it
            is off, the algorithm only when the store computes or checks
            checksums itself (``always``).
        """
        if not self.enabled:
            return {ENABLE_OPTION: False}
        values = {ENABLE_OPTION: True, REQUEST_OPTION: self.request,
                  RESPONSE_OPTION: self.response}
        if self.precompute or self.validate_always:
            values[ALGORITHM_OPTION] = self.algorithm
        return values

    def configuration_key(self):
        """What the store does under this policy, as a comparable value.

        Two policies with equal keys make the store send, ask for and
        check exactly the same things (``never`` and ``when_required``
        are one behaviour; the algorithm counts only where the store uses
        it).

        :returns: a hashable tuple.
        """
        algorithm = self.algorithm if (
            self.precompute or self.validate_always) else None
        return (self.enabled,
                tuple(sorted(self.client_config_kwargs().items())),
                self.precompute, self.validate_always, algorithm)

    # botocore.config.Config(**policy.client_config_kwargs())
    def client_config_kwargs(self):
        def botocore_value(mode):
            return WHEN_SUPPORTED if mode == WHEN_SUPPORTED else \
                WHEN_REQUIRED
        return {
            'request_checksum_calculation': botocore_value(self.request),
            'response_checksum_validation': botocore_value(self.response),
        }

    @property
    def precompute(self):
        """The store computes request checksums itself (``always``)."""
        return self.request == ALWAYS

    @property
    def validate_always(self):
        """The store checks every download it can (``always``)."""
        return self.response == ALWAYS

    @property
    def needs_crt(self):
        return self.enabled and self.algorithm in CRT_ALGORITHMS and (
            self.precompute or self.validate_always)

    def check_supported(self):
        """Refuse an algorithm this process cannot compute or send.

        Only where the store uses the algorithm (``always`` in either
        direction); CRC32C and CRC64NVME without awscrt are left to
        ``needs_crt``.

        :raises ValueError: the installed botocore does not know the
            algorithm (SHA512, XXHASH), or awscrt lacks XXHash; the
            message names the option, the reason and what to do.
        """
        if not self.enabled or not (self.precompute or
                                    self.validate_always):
            return
        if self.algorithm not in NEW_API_ALGORITHMS:
            return
        reason = unsupported_reason(self.algorithm)
        if reason:
            raise ValueError(
                '%(option)s = %(alg)s cannot be used here: %(reason)s; '
                'upgrade boto3/botocore (and awscrt) or choose another '
                'algorithm.' % {'option': ALGORITHM_OPTION,
                                'alg': self.algorithm, 'reason': reason})

    @property
    def full_object(self):
        return self.algorithm in FULL_OBJECT_ALGORITHMS

    @property
    def content_md5(self):
        """Every request carries Content-MD5 and nothing else (``MD5``)."""
        return self.precompute and self.algorithm == MD5

    @property
    def part_digest(self):
        """The hashlib name of the per-part digest, or None.

        Only ``MD5``: the upload computes each part's md5 (its
        Content-MD5) on its digest workers while the part is read, next
        to Glance's digests, not on the thread that sends the part.
        """
        return 'md5' if self.content_md5 else None

    # Extra request parameters -----------------------------------------
    def put_params(self, body, known=None):
        """Parameters of a PutObject of ``body``.

        :param body: the whole object
        :param known: optional ``{ALGORITHM: raw digest}`` of ``body``
            already computed (Glance's md5 and multihash): reused instead
            of reading the body again
        :returns: a dict of PutObject parameters; empty under ``MD5``,
            whose Content-MD5 the upload always sends
        """
        if not self.precompute or self.algorithm == MD5:
            return {}
        digest = (known or {}).get(self.algorithm)
        value = (base64.b64encode(digest).decode('ascii') if digest
                 else compute(self.algorithm, body))
        # ChecksumAlgorithm next to the value only adds the
        # x-amz-sdk-checksum-algorithm header: botocore computes nothing
        # when a checksum header is already set, so no aws-chunked body.
        return {'ChecksumAlgorithm': self.algorithm,
                param_name(self.algorithm): value}

    def create_multipart_params(self):
        if not self.precompute or self.algorithm == MD5:
            return {}
        return {'ChecksumAlgorithm': self.algorithm,
                'ChecksumType': 'FULL_OBJECT' if self.full_object
                else 'COMPOSITE'}

    def part_checksum(self, body, digest=None):
        """A ``Checksum`` of one part, or None when nothing is sent.

        :param body: the part
        :param digest: the part's raw digest when it was computed while
            the part was read (see ``part_digest``), else None
        :returns: a ``Checksum``, or None
        """
        if not self.precompute:
            return None
        if digest is not None:
            return Checksum.of_digest(self.algorithm, digest, len(body))
        return Checksum(self.algorithm).update(body)

    def part_params(self, checksum):
        if checksum is None:
            return {}
        if self.algorithm == MD5:
            return {'ContentMD5': checksum.b64digest()}
        return {'ChecksumAlgorithm': self.algorithm,
                param_name(self.algorithm): checksum.b64digest()}

    def completed_part(self, checksum):
        """What a part's entry of CompleteMultipartUpload carries.

        :param checksum: what ``part_checksum`` returned for the part
        :returns: ``{'Checksum<ALGO>': value}``, or an empty dict (no
            checksum, or ``MD5``: the ETag of the part already is its md5)
        """
        if checksum is None or self.algorithm == MD5:
            return {}
        return {param_name(self.algorithm): checksum.b64digest()}

    def complete_params(self, part_checksums):
        """Whole-object parameters of CompleteMultipartUpload."""
        if not self.precompute:
            return {}
        if self.full_object:
            value = combined_b64(self.algorithm,
                                 [(c.crc, c.length) for c in part_checksums])
            return {param_name(self.algorithm): value,
                    'ChecksumType': 'FULL_OBJECT'}
        return {}

    def sends_complete_checksums(self, parts):
        """Whether a CompleteMultipartUpload carries ``Checksum*`` elements.

        :param parts: the ``Parts`` list of the completion.
        :returns: True when the parts or the whole object name a checksum.
        """
        return self.precompute and any(
            name.startswith('Checksum') for part in parts for name in part)

    def get_params(self, ranged=False):
        """GetObject parameters: ask for the stored checksum."""
        if self.validate_always and not ranged:
            return {'ChecksumMode': 'ENABLED'}
        return {}

    def describe(self):
        if not self.enabled:
            return ('data integrity protection off: no checksum is sent '
                    'or validated (boto3 when_required in both '
                    'directions)')
        parts = []
        if self.content_md5:
            parts.append('every upload and part carries a Content-MD5 '
                         'computed by the store')
        elif self.request == ALWAYS:
            parts.append('uploads carry a %s checksum computed by the '
                         'store, sent as a header' % self.algorithm)
        elif self.request == WHEN_SUPPORTED:
            parts.append('uploads carry a checksum computed by boto3 '
                         '(aws-chunked over HTTPS)')
        else:
            parts.append('uploads carry no checksum (%s)' % self.request)
        if self.response == ALWAYS and self.algorithm == MD5:
            parts.append('every full download is checked against the '
                         'stored checksum, else against an MD5 ETag')
        elif self.response == ALWAYS:
            parts.append('every full download is checked against the '
                         'stored checksum')
        elif self.response == WHEN_SUPPORTED:
            parts.append('downloads are validated by boto3 when the '
                         'backend returns a checksum')
        else:
            parts.append('downloads are not validated (%s)' % self.response)
        return 'data integrity protection on: ' + '; '.join(parts)
