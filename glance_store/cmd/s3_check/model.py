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

"""The data of glance-store-s3-check: configurations, results, exit codes.

Nothing here talks to a backend or prints.
"""

import dataclasses

from glance_store._drivers import s3_checksums
from glance_store._drivers import s3_redact

PROG = 'glance-store-s3-check'
# Every object the check writes is under KEY_PREFIX<run id>/.
KEY_PREFIX = 'glance-store-s3-check/'

OK = 'ok'
SKIPPED = 'skipped'
OPERATIONS = ('put', 'multipart', 'get', 'delete')

EXIT_OK = 0
EXIT_NOT_WORKING = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

# Strongest first (kept for rank(): it names the standard configurations).
ALGORITHM_STRENGTH = ('SHA256', 'SHA1', 'MD5', 'CRC64NVME', 'CRC32C',
                      'CRC32')
# The algorithms the check tries. MD5 (Content-MD5 on every upload and
# part, downloads checked against the MD5 ETag) is the one that validates
# downloads on backends that store no flexible checksum (Ceph RGW 16,
# Swift). SHA512 and XXHASH have CPU rows below but are not probed.
PROBED_ALGORITHMS = ('CRC32', 'CRC32C', 'CRC64NVME', 'SHA1', 'SHA256',
                     'MD5')

# The image shapes whose downloads the check reads back: (shape, the
# operation that wrote it).
SHAPES = (('small', 'put'), ('multipart', 'multipart'))
VALIDATED = 'validated'
UNVALIDATED = 'unvalidated'
NOT_READ = '-'

# CPU seconds per GiB of one pass of each algorithm (the store computes
# it on upload, and again on download when it validates), measured on one
# core of the CI machine (Python 3.11, zlib for CRC32, awscrt 0.38 for
# CRC32C / CRC64NVME, hashlib for the rest). The recommendation is the
# cheapest configuration that validates the most; an algorithm missing
# here costs UNKNOWN_CPU (ranked after every measured one). A new
# algorithm needs only a line here.
ALGORITHM_CPU = {
    'CRC32': 0.5,
    'CRC32C': 0.2,
    'CRC64NVME': 0.15,
    'SHA1': 0.7,
    'SHA256': 0.8,
    'MD5': 1.8,
    'SHA512': 1.9,
    # awscrt's XXHash (0.06-0.14 s measured) plus the copy of each slice
    # it needs (it takes bytes only).
    'XXHASH64': 0.25,
    'XXHASH3': 0.15,
    'XXHASH128': 0.2,
}
UNKNOWN_CPU = 10.0
# boto3's own checksum under when_supported (CRC32 by default).
WHEN_SUPPORTED_ALGORITHM = 'CRC32'


class ConfigError(Exception):
    """A usage or configuration error: one line, exit code 2."""


@dataclasses.dataclass
class Configuration(object):
    """One setting of the four checksum options."""

    label: str
    enabled: bool
    request: str = s3_checksums.WHEN_REQUIRED
    response: str = s3_checksums.WHEN_REQUIRED
    algorithm: str = s3_checksums.DEFAULT_ALGORITHM

    @classmethod
    def from_values(cls, label, values):
        """The configuration of option values read from a store.

        :param label: the name of the configuration in the report.
        :param values: a dict keyed by ``s3_checksums.OPTION_NAMES``.
        :returns: a ``Configuration``.
        """
        enabled, request, response, algorithm = (
            values.get(name) for name in s3_checksums.OPTION_NAMES)
        return cls(label, bool(enabled),
                   request or s3_checksums.WHEN_REQUIRED,
                   response or s3_checksums.WHEN_REQUIRED,
                   algorithm or s3_checksums.DEFAULT_ALGORITHM)

    def policy(self):
        """The driver's ``ChecksumPolicy`` of these values."""
        return s3_checksums.ChecksumPolicy.from_options(
            self.enabled, self.request, self.response, self.algorithm)

    def overrides(self):
        """All four options, as set on the store for the check."""
        return dict(zip(s3_checksums.OPTION_NAMES,
                        (self.enabled, self.request, self.response,
                         self.algorithm)))

    def options(self):
        """The options an operator sets for this configuration."""
        return self.policy().options()

    def key(self):
        """What the store does with it: equal keys, equal behaviour."""
        return self.policy().configuration_key()

    @property
    def uses_algorithm(self):
        """Whether the store computes or checks checksums itself."""
        policy = self.policy()
        return policy.precompute or policy.validate_always

    def cpu_per_gib(self):
        """CPU seconds per GiB the checksums of this configuration cost.

        :returns: 0 with protection off (Content-MD5 reuses Glance's md5),
            boto3's CRC32 under when_supported, else the algorithm's
            figure of ``ALGORITHM_CPU``.
        """
        policy = self.policy()
        if not policy.enabled:
            return 0.0
        if self.uses_algorithm:
            return ALGORITHM_CPU.get(self.algorithm, UNKNOWN_CPU)
        if s3_checksums.WHEN_SUPPORTED in (policy.request, policy.response):
            return ALGORITHM_CPU[WHEN_SUPPORTED_ALGORITHM]
        return 0.0

    @property
    def slug(self):
        return ''.join(c if c.isalnum() else '-'
                       for c in self.label.lower()).strip('-')


def always(algorithm):
    """The standard ``always/<algorithm>`` configuration."""
    return Configuration('always/%s' % algorithm, True, s3_checksums.ALWAYS,
                         s3_checksums.ALWAYS, algorithm)


def available(algorithm):
    """Whether the store can use ``algorithm`` here.

    :param algorithm: one of ``s3_checksums.ALGORITHMS``
    :returns: False where awscrt (CRC32C, CRC64NVME, XXHASH) or a
        botocore that knows it (SHA512, XXHASH) is missing
    """
    return s3_checksums.unsupported_reason(algorithm) is None


def standard_configurations(only_available=True):
    """Switch off, when_supported, then always with each algorithm.

    :param only_available: leave out the algorithms that cannot be used
        here (see ``available``).
    :returns: a list of ``Configuration``.
    """
    configs = [
        Configuration('off', False),
        Configuration('when_supported', True, s3_checksums.WHEN_SUPPORTED,
                      s3_checksums.WHEN_SUPPORTED),
    ]
    configs += [always(a) for a in PROBED_ALGORITHMS
                if available(a) or not only_available]
    return configs


def unavailable_configurations():
    """The standard configurations left out here (see available)."""
    return [always(a) for a in PROBED_ALGORITHMS if not available(a)]


@dataclasses.dataclass
class Step(object):
    """One connectivity step: endpoint, credentials, bucket, cleanup."""

    name: str
    ok: bool
    detail: str
    code: str = None


@dataclasses.dataclass
class ConfigResult(object):
    """The operations of one checksum configuration.

    ``results`` maps each of ``OPERATIONS`` to ``'ok'``, ``'skipped'``
    (nothing to do after an earlier failure) or the S3 error code (or
    the exception name when there is none); ``messages`` holds the
    store's message of each failure.
    """

    configuration: Configuration
    results: dict = dataclasses.field(default_factory=dict)
    messages: dict = dataclasses.field(default_factory=dict)
    # Algorithm of the checksum the backend stored and returns for the
    # small object ('none' when it returns none), None when not known.
    stored_checksum: str = None
    current: bool = False
    # Per shape of SHAPES: the algorithm of the stored checksum ('none')
    # and whether the full download was checked (VALIDATED / UNVALIDATED).
    stored_checksums: dict = dataclasses.field(default_factory=dict)
    validation: dict = dataclasses.field(default_factory=dict)

    def validation_of(self, shape):
        """``validated``, ``unvalidated`` or ``-`` (not read back)."""
        return self.validation.get(shape, NOT_READ)

    def validates(self, shape):
        return self.validation_of(shape) == VALIDATED

    @property
    def works(self):
        return all(self.results.get(op) == OK for op in OPERATIONS)

    def fail_all(self, code, message):
        """Every operation failed with ``code`` (the store's set-up)."""
        for op in OPERATIONS:
            self.results[op] = code
            self.messages[op] = message


@dataclasses.dataclass
class NotTried(object):
    """A standard configuration this machine cannot try, and why."""

    label: str
    reason: str


@dataclasses.dataclass
class BackendResult(object):
    """Everything the check found out about one backend."""

    backend: str
    section: str
    multi_store: bool = False
    endpoint: str = None
    bucket: str = None
    # The backend's proxies, timeouts and retries, passwords masked.
    network: str = None
    steps: list = dataclasses.field(default_factory=list)
    configurations: list = dataclasses.field(default_factory=list)
    current: Configuration = None
    # The WARNING lines the store logs when Glance configures it from the
    # same file (a value raised to the nearest working one, for example).
    warnings: list = dataclasses.field(default_factory=list)
    # What Glance's uploads use with this file, and what the check used.
    upload: dict = None
    not_tried: list = dataclasses.field(default_factory=list)
    # A one-line reason when the check could not go through the
    # configurations; error_kind is 'config' (exit 2) or 'backend'.
    error: str = None
    error_kind: str = None
    cleanup: Step = None
    run_prefix: str = None

    @property
    def reachable(self):
        return self.error is None and all(s.ok for s in self.steps)

    @property
    def current_result(self):
        for c in self.configurations:
            if c.current:
                return c
        return None

    @property
    def current_works(self):
        current = self.current_result
        return bool(self.reachable and current is not None and
                    current.works)


# The tool's text and JSON hide the keys with the driver's redactor.
Redactor = s3_redact.Redactor


@dataclasses.dataclass
class StaleResult(object):
    """What the stale-uploads mode found and did on one backend."""

    backend: str
    older_than: str
    bucket: str = None
    endpoint: str = None
    uploads: list = dataclasses.field(default_factory=list)
    outcomes: list = None
    # a leftovers.LifecycleStatus
    lifecycle: object = None
    applied_days: int = None
    lifecycle_error: str = None
    error: str = None
    error_kind: str = None

    @property
    def remaining(self):
        """Leftovers still open after this run.

        :returns: the ``Leftover`` objects not aborted
        """
        if self.outcomes is None:
            return list(self.uploads)
        return [o.leftover for o in self.outcomes if not o.aborted]
