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

"""--upstream-compatible: can this configuration go back to upstream?

Rolling Glance back to upstream glance_store 5.7.0 with this library's
option values still in ``glance-api.conf`` breaks the S3 backend: upstream
refuses the values it does not know (``always`` and ``never`` of the two
checksum options) when a store reads them, so every get, get_size and
delete fails, and it silently ignores the options it does not have (for
example ``s3_store_checksum_algorithm``).

This module reads the configuration files as text (no store is created,
no backend is contacted), looks at ``[glance_store]``,
``[backend_defaults]`` and every backend section (the keys of
``enabled_backends`` and the reserved stores), and lists each value
upstream refuses or ignores with what to write instead.

Upstream's option names are kept here, in ``UPSTREAM_OPTIONS``; the
options this library has and upstream lacks are derived from the options
the library registers, so a new option is covered without a change here.
"""

import collections
import glob
from importlib import metadata
import os

from oslo_config import cfg

from glance_store.cmd.s3_check import model
from glance_store.i18n import _

UPSTREAM_VERSION = '5.7.0'

# Every option name upstream glance_store 5.7.0 registers, for all its
# stores (``backend._list_opts`` and ``multi_backend._list_config_opts``
# of its release), so that the options of the stores this library only
# stands in for (swift, rbd, cinder, vmware) are not reported.
UPSTREAM_OPTIONS = frozenset((
    # [glance_store] and every backend group
    'stores', 'default_store', 'default_backend', 'store_description',
    'weight',
    # file
    'filesystem_store_datadir', 'filesystem_store_datadirs',
    'filesystem_store_metadata_file', 'filesystem_store_file_perm',
    'filesystem_store_chunk_size', 'filesystem_thin_provisioning',
    'filesystem_store_timeout', 'filesystem_store_thread_pool_size',
    'filesystem_store_threadpool_threshold',
    # http
    'https_ca_certificates_file', 'https_insecure',
    'http_proxy_information',
    # s3
    's3_store_host', 's3_store_region_name', 's3_store_access_key',
    's3_store_secret_key', 's3_store_bucket',
    's3_store_create_bucket_on_put', 's3_store_bucket_url_format',
    's3_store_large_object_size', 's3_store_large_object_chunk_size',
    's3_store_thread_pools', 's3_store_cacert',
    's3_store_enable_data_integrity_protection',
    's3_store_request_checksum_calculation',
    's3_store_response_checksum_validation',
    # rbd
    'rbd_store_chunk_size', 'rbd_store_pool', 'rbd_store_user',
    'rbd_store_ceph_conf', 'rados_connect_timeout', 'rbd_thin_provisioning',
    # swift
    'default_swift_reference', 'swift_store_auth_version',
    'swift_store_auth_address', 'swift_store_user', 'swift_store_key',
    'swift_store_config_file', 'swift_store_region',
    'swift_store_endpoint_type', 'swift_store_service_type',
    'swift_store_container', 'swift_store_large_object_size',
    'swift_store_large_object_chunk_size',
    'swift_store_create_container_on_put', 'swift_store_multi_tenant',
    'swift_store_multiple_containers_seed', 'swift_store_admin_tenants',
    'swift_store_ssl_compression', 'swift_store_retry_get_count',
    'swift_store_endpoint', 'swift_store_use_trusts',
    'swift_buffer_on_upload', 'swift_upload_buffer_dir',
    'swift_store_auth_insecure', 'swift_store_cacert',
    'swift_store_expire_soon_interval', 'swift_store_project_id',
    'swift_store_project_name', 'swift_store_application_credential_id',
    'swift_store_application_credential_secret',
    # cinder
    'cinder_catalog_info', 'cinder_endpoint_template',
    'cinder_os_region_name', 'cinder_ca_certificates_file',
    'cinder_http_retries', 'cinder_state_transition_timeout',
    'cinder_api_insecure', 'cinder_store_auth_address',
    'cinder_store_user_name', 'cinder_store_user_domain_name',
    'cinder_store_password', 'cinder_store_project_name',
    'cinder_store_project_domain_name', 'rootwrap_config',
    'cinder_volume_type', 'cinder_use_multipath', 'cinder_enforce_multipath',
    'cinder_mount_point_base', 'cinder_do_extend_attached',
    'cinder_attachment_retry_attempts',
    'cinder_store_application_credential_id',
    'cinder_store_application_credential_secret',
    # vmware
    'vmware_server_host', 'vmware_server_username',
    'vmware_server_password', 'vmware_api_retry_count',
    'vmware_task_poll_interval', 'vmware_store_image_dir',
    'vmware_ca_file', 'vmware_insecure', 'vmware_datastores',
))

# The values upstream 5.7.0 accepts for the options whose values this
# library extends (upstream compares them as written: case matters).
UPSTREAM_CHOICES = {
    's3_store_request_checksum_calculation': ('when_required',
                                              'when_supported'),
    's3_store_response_checksum_validation': ('when_required',
                                              'when_supported'),
}

# (option, value in lower case) -> what to write instead, and why.
_VALUE_ADVICE = {
    ('s3_store_request_checksum_calculation', 'always'): _(
        "write when_required (upstream sends no checksum of its own; "
        "when_supported makes botocore send CRC32 as an aws-chunked "
        "trailer, which only AWS S3 and AWS-grade servers accept)"),
    ('s3_store_request_checksum_calculation', 'never'): _(
        "write when_required (what never does here: no checksum unless "
        "S3 requires one)"),
    ('s3_store_response_checksum_validation', 'always'): _(
        "write when_supported (botocore then validates the objects whose "
        "stored checksum it can check) or when_required (no validation)"),
    ('s3_store_response_checksum_validation', 'never'): _(
        "write when_required (what never does here: no validation)"),
}

_OPTION_ADVICE = {
    's3_store_checksum_algorithm': _(
        "remove the line: upstream has no such option and computes no "
        "checksum of its own (MD5 included); with "
        "s3_store_request_checksum_calculation = when_supported botocore "
        "uses CRC32"),
}

# This library's option lists, as oslo-config-generator finds them.
OPTS_ENTRY_POINTS = ('glance.store', 'glance.multi_store')

RESERVED_STORES = ('os_glance_staging_store', 'os_glance_tasks_store')

Finding = collections.namedtuple(
    'Finding', 'path section option value kind advice')
Finding.__doc__ = """One option value upstream refuses or ignores.

``kind`` is ``refused`` or ``ignored``; ``advice`` says what to write
instead.
"""


def our_options():
    """Names of every option this library registers for its stores.

    Read through the ``oslo.config.opts`` entry points
    (``glance.store``, ``glance.multi_store``), as
    ``oslo-config-generator`` does.

    :returns: a set of option names.
    """
    names = set()
    for point in metadata.entry_points(group='oslo.config.opts'):
        if point.name in OPTS_ENTRY_POINTS:
            for _group, opts in point.load()():
                names.update(opt.dest for opt in opts)
    return names


def options_upstream_lacks():
    """Options of this library that upstream 5.7.0 does not have.

    :returns: a sorted list of option names.
    """
    return sorted(our_options() - UPSTREAM_OPTIONS)


def config_files(conf):
    """The files the tool reads, in the order oslo.config reads them.

    :param conf: the tool's parsed ``cfg.ConfigOpts``.
    :returns: a list of paths (``--config-file`` ones, then the
        ``*.conf`` files of each ``--config-dir`` in name order).
    """
    paths = list(conf.config_file or [])
    config_dir = conf.config_dir
    for directory in ([config_dir] if isinstance(config_dir, str)
                      else config_dir or []):
        paths.extend(sorted(glob.glob(os.path.join(directory, '*.conf'))))
    return paths


def parse_files(paths):
    """Options as written in the files, the last value of each winning.

    :param paths: configuration files.
    :returns: dict of section -> dict of option -> (path, value).
    :raises: ``cfg.ParseError`` for a file that is not valid ini syntax,
        ``OSError`` for a file that cannot be read.
    """
    merged = {}
    for path in paths:
        sections = {}
        cfg.ConfigParser(path, sections).parse()
        for section, options in sections.items():
            target = merged.setdefault(section, {})
            for option, values in options.items():
                if values:
                    target[option] = (path, values[-1])
    return merged


def store_sections(merged):
    """Sections whose options a store reads.

    :param merged: the result of ``parse_files``.
    :returns: a list of section names present in the files.
    """
    names = ['glance_store', 'backend_defaults']
    enabled = merged.get('DEFAULT', {}).get('enabled_backends')
    if enabled:
        for item in enabled[1].split(','):
            name = item.split(':', 1)[0].strip()
            if name:
                names.append(name)
        names.extend(RESERVED_STORES)
    return [name for name in dict.fromkeys(names) if name in merged]


def _check_option(path, section, option, value, lacking):
    if option in lacking:
        advice = _OPTION_ADVICE.get(option, _(
            "remove the line: upstream glance_store %s has no such "
            "option and ignores it (its effect is lost after the "
            "rollback)") % UPSTREAM_VERSION)
        return Finding(path, section, option, value, 'ignored', advice)
    choices = UPSTREAM_CHOICES.get(option)
    if choices is None or value in choices:
        return None
    advice = _VALUE_ADVICE.get((option, value.strip().lower()))
    if advice is None:
        if value.strip().lower() in choices:
            advice = _("write %s (upstream takes the values in lower case "
                       "only)") % value.strip().lower()
        else:
            advice = _("write one of %s") % ', '.join(choices)
    return Finding(path, section, option, value, 'refused', advice)


def find_problems(merged, lacking=None):
    """Every option value upstream 5.7.0 refuses or ignores.

    :param merged: the result of ``parse_files``.
    :param lacking: option names upstream lacks (default:
        ``options_upstream_lacks()``).
    :returns: a list of ``Finding``, in section then option order.
    """
    lacking = set(options_upstream_lacks() if lacking is None else lacking)
    found = []
    for section in store_sections(merged):
        for option, (path, value) in sorted(merged[section].items()):
            finding = _check_option(path, section, option, value, lacking)
            if finding is not None:
                found.append(finding)
    return found


def check(conf):
    """The findings for the configuration files the tool was given.

    :param conf: the tool's parsed ``cfg.ConfigOpts``.
    :returns: a list of ``Finding``.
    :raises: ``cfg.ParseError`` or ``OSError`` for a file that cannot be
        read as a configuration file.
    """
    return find_problems(parse_files(config_files(conf)))


def render(findings):
    """The report of ``--upstream-compatible``.

    :param findings: a list of ``Finding``.
    :returns: the text, one paragraph per finding, ending with a newline.
    """
    if not findings:
        return _("Rolling back to upstream glance_store %s: safe, the "
                 "configuration has no option value it refuses or "
                 "ignores.\n") % UPSTREAM_VERSION
    lines = [_("Rolling back to upstream glance_store %(version)s: NOT "
               "safe, %(count)d option value(s) to change first:") % {
                   'version': UPSTREAM_VERSION, 'count': len(findings)}]
    for f in findings:
        what = (_("refused (every read, size and delete of the backend "
                  "fails)") if f.kind == 'refused' else
                _("ignored by upstream"))
        lines.append('  [%s] %s = %s (%s): %s' % (
            f.section, f.option, f.value, os.path.basename(f.path), what))
        lines.append('      %s' % f.advice)
    return '\n'.join(lines) + '\n'


def summary_line(findings):
    """The one line every check prints about rolling back.

    :param findings: a list of ``Finding``.
    :returns: the line, ending with a newline.
    """
    if not findings:
        return _("Rollback to upstream glance_store %s: safe with this "
                 "configuration.\n") % UPSTREAM_VERSION
    return _("Rollback to upstream glance_store %(version)s: NOT safe, "
             "%(count)d option value(s) it refuses or ignores; run with "
             "--upstream-compatible for the list.\n") % {
                 'version': UPSTREAM_VERSION, 'count': len(findings)}


def exit_code(findings):
    """0 when the configuration is safe to roll back with, else 1.

    :param findings: a list of ``Finding``.
    :returns: the exit code.
    """
    return model.EXIT_NOT_WORKING if findings else model.EXIT_OK
