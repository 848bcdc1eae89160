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

"""Which S3 backends a Glance configuration has, found as Glance does.

Multi-store when ``enabled_backends`` is set (its ``s3`` backends),
single store otherwise (``[glance_store]`` with ``s3`` in ``stores`` or
as ``default_store``).
"""

from oslo_config import cfg

from glance_store import backend as single_backend
from glance_store.cmd.s3_check import model
from glance_store.i18n import _

# The names of the S3 driver's entry points (glance_store.drivers).
S3_STORE_TYPES = ('s3', 'glance.store.s3.Store')
SINGLE_STORE_SECTION = 'glance_store'


def _enabled_backends(conf):
    if 'enabled_backends' not in conf:
        conf.register_opt(cfg.DictOpt('enabled_backends'))
    try:
        return conf.enabled_backends or {}
    except cfg.Error as e:
        raise model.ConfigError(str(e))


def _is_s3(kind):
    return (kind or '').strip() in S3_STORE_TYPES


def _multi_store(enabled, wanted):
    s3_names = [name for name, kind in enabled.items() if _is_s3(kind)]
    if not wanted:
        if not s3_names:
            raise model.ConfigError(_(
                "no S3 backend: enabled_backends (%s) has no backend of "
                "type s3") % ', '.join('%s:%s' % kv
                                       for kv in sorted(enabled.items())))
        return s3_names
    if wanted not in enabled:
        raise model.ConfigError(_(
            "unknown backend %(name)s: enabled_backends has "
            "%(names)s") % {'name': wanted,
                            'names': ', '.join(sorted(enabled))})
    if wanted not in s3_names:
        raise model.ConfigError(_(
            "backend %(name)s is a %(kind)s store, not an S3 one") % {
                'name': wanted, 'kind': enabled[wanted]})
    return [wanted]


def _single_store(conf, wanted):
    try:
        single_backend.register_opts(conf)
        stores = [s.strip() for s in conf.glance_store.stores or []]
        default_store = conf.glance_store.default_store
    except cfg.Error as e:
        raise model.ConfigError(str(e))
    if not (any(_is_s3(s) for s in stores) or _is_s3(default_store)):
        raise model.ConfigError(_(
            "no S3 backend: enabled_backends is not set and "
            "[glance_store] has no s3 store (stores = %(stores)s, "
            "default_store = %(default)s)") % {
                'stores': ', '.join(stores), 'default': default_store})
    if wanted and wanted not in (SINGLE_STORE_SECTION, 's3'):
        raise model.ConfigError(_(
            "unknown backend %s: this is a single-store configuration, "
            "whose S3 store is glance_store") % wanted)
    return [None]


def find_s3_backends(conf, wanted=None):
    """The S3 backends of ``conf`` to check.

    :param conf: a parsed ``cfg.ConfigOpts`` of the Glance configuration.
    :param wanted: a backend name to check alone, or None for all.
    :returns: a list of backend names (keys of ``enabled_backends``), or
        ``[None]`` for the S3 store of a single-store configuration.
    :raises: ``model.ConfigError`` when there is no such S3 backend.
    """
    enabled = _enabled_backends(conf)
    if enabled:
        return _multi_store(enabled, wanted)
    return _single_store(conf, wanted)
