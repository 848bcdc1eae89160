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

"""Multi-store API: named backends from ``enabled_backends``.

Each backend has its own option group; options it leaves unset fall back
to ``[backend_defaults]``.  Reserved stores (Glance's staging and tasks
stores) are filesystem stores added next to the operator's backends.
"""

import logging

from oslo_config import cfg

from glance_store import backend as single_backend
from glance_store import capabilities
from glance_store.common import drivers
from glance_store import driver as store_driver
from glance_store import exceptions
from glance_store.i18n import _
from glance_store import location

CONF = cfg.CONF
LOG = logging.getLogger(__name__)

_STORE_CFG_GROUP = 'glance_store'
_BACKEND_DEFAULTS_GROUP = store_driver.BACKEND_DEFAULTS_GROUP

_MULTI_BACKEND_OPTS = [
    cfg.StrOpt('default_backend',
               help=_("Name of the backend (a key of enabled_backends) "
                      "new images are written to when the request names "
                      "none.")),
    single_backend.CAPABILITIES_UPDATE_OPT,
]

# Options every backend group has, whatever its store type.
_BACKEND_COMMON_OPTS = [
    cfg.StrOpt('store_description',
               help=_("Description of this backend shown to users by "
                      "Glance's stores discovery API.")),
    cfg.IntOpt('weight', default=0,
               help=_("Preference of this backend when Glance orders the "
                      "locations of an image: higher is read first.")),
]

# backend name -> store type, for the reserved stores of this process.
# As upstream's, it only grows: create_multi_stores adds the reserved
# stores it is given, nothing removes them.
_RESERVED_STORES = {}
# backend name -> store type, for backends whose driver is not shipped
_UNAVAILABLE = {}


def _reserved_store_opts(name):
    return [
        cfg.StrOpt('filesystem_store_datadir',
                   default='/var/lib/glance/%s' % name,
                   help=_("Directory of the reserved store %s.") % name),
        cfg.MultiStrOpt('filesystem_store_datadirs',
                        help=_("Directories of the reserved store.")),
        cfg.IntOpt('filesystem_store_file_perm', default=0,
                   help=_("File mode of images in the reserved store.")),
    ]


def _list_driver_opts():
    """{store type: options} of every driver and stand-in."""
    result = {}
    for entry in drivers.shipped_drivers():
        if '.' in entry:  # legacy alias of a driver listed by its name
            continue
        cls = drivers.load_driver(None, entry, invoke_load=False)
        if cls is not None and cls.OPTIONS:
            result[entry] = list(cls.OPTIONS)
    for store_type in drivers.STAND_IN_MODULES:
        result[store_type] = drivers.stand_in_options(store_type)
    return result


def _list_config_opts():
    """Sample layout: [glance_store], one group per store type, defaults.

    Real deployments name their own groups (the keys of enabled_backends);
    the per-type groups show which options each store type takes.
    """
    driver_opts = _list_driver_opts()
    sample = [(_STORE_CFG_GROUP, _MULTI_BACKEND_OPTS)]
    defaults = []
    for store_type in sorted(driver_opts):
        sample.append((store_type, _BACKEND_COMMON_OPTS +
                       driver_opts[store_type]))
        for opt in driver_opts[store_type]:
            if opt not in defaults:
                defaults.append(opt)
    sample.append((_BACKEND_DEFAULTS_GROUP, defaults))
    return sample


def _all_backends(conf):
    backends = dict(conf.enabled_backends or {})
    backends.update(_RESERVED_STORES)
    return backends


def _register_opt(conf, opt, group):
    try:
        conf.register_opt(opt, group=group)
    except cfg.DuplicateOptError:
        pass


def _register_reserved_store_opts(conf, reserved_stores):
    for name in reserved_stores or {}:
        for opt in _reserved_store_opts(name) + _BACKEND_COMMON_OPTS:
            _register_opt(conf, opt, name)


def _register_backend_opts(conf, backend, store_type):
    """Register a backend's options; False if its driver is not shipped."""
    driver_cls = drivers.load_driver(None, store_type, invoke_load=False,
                                     backend=backend)
    if driver_cls is None:
        # A store not shipped: its options are accepted (a file or a
        # test that sets them loads) and never read.
        driver_opts = drivers.stand_in_options(store_type)
    else:
        driver_opts = list(driver_cls.OPTIONS or [])
    LOG.debug("Registering options for backend %s (%s)", backend,
              store_type)
    for opt in _BACKEND_COMMON_OPTS + driver_opts:
        _register_opt(conf, opt, backend)
    for opt in driver_opts:
        _register_opt(conf, opt, _BACKEND_DEFAULTS_GROUP)
    return driver_cls is not None


def register_store_opts(conf, reserved_stores=None):
    """Register [glance_store], each backend group and the defaults.

    :param conf: the oslo.config object
    :param reserved_stores: ``{name: 'file'}`` of Glance's reserved stores
    :returns: None
    """
    LOG.debug("Registering options for group %s", _STORE_CFG_GROUP)
    if 'enabled_backends' not in conf:
        conf.register_opt(cfg.DictOpt('enabled_backends'))
    for opt in _MULTI_BACKEND_OPTS:
        _register_opt(conf, opt, _STORE_CFG_GROUP)
    _register_reserved_store_opts(conf, reserved_stores)

    _UNAVAILABLE.clear()
    for backend, store_type in (conf.enabled_backends or {}).items():
        if not _register_backend_opts(conf, backend, store_type):
            _UNAVAILABLE[backend] = store_type


def _load_multi_store(conf, store_entry, invoke_load=True, backend=None):
    return drivers.load_driver(conf, store_entry, invoke_load=invoke_load,
                               backend=backend)


def _load_multi_stores(conf, reserved_stores=None):
    backends = dict(conf.enabled_backends or {})
    if reserved_stores:
        backends.update(reserved_stores)
    for backend, store_entry in backends.items():
        try:
            store_instance = _load_multi_store(conf, store_entry,
                                               backend=backend)
            if not store_instance:
                _UNAVAILABLE[backend] = store_entry
                continue
            yield (store_entry, store_instance, backend)
        except exceptions.BadStoreConfiguration:
            continue


def create_multi_stores(conf=CONF, reserved_stores=None):
    """Load and configure every backend; return how many were loaded."""
    store_count = 0
    scheme_map = {}
    if reserved_stores:
        _RESERVED_STORES.update(reserved_stores)
    for (store_entry, store_instance,
         store_identifier) in _load_multi_stores(
            conf, reserved_stores=reserved_stores):
        try:
            schemes = store_instance.get_schemes()
            store_instance.configure(re_raise_bsc=False)
        except NotImplementedError:
            continue
        if not schemes:
            raise exceptions.BackendException(
                _('Store %s declares no URI scheme and cannot be '
                  'registered.') % store_entry)
        LOG.debug("Registering backend %s (%s) with schemes %s",
                  store_identifier, store_entry, schemes)
        loc_cls = store_instance.get_store_location_class()
        for scheme in schemes:
            scheme_map.setdefault(scheme, {})[store_identifier] = {
                'store': store_instance, 'location_class': loc_cls,
                'store_entry': store_entry}
        store_count += 1
    location.register_scheme_backend_map(scheme_map)
    return store_count


def verify_store():
    """Raise RuntimeError unless default_backend names a loaded backend."""
    store_id = CONF.glance_store.default_backend
    if not store_id:
        raise RuntimeError(_("The 'default_backend' option of "
                             "[glance_store] is not set."))
    try:
        get_store_from_store_identifier(store_id)
    except exceptions.UnknownScheme as e:
        raise RuntimeError(e.msg)


def _find_backend(store_identifier):
    """The registered entry of a backend of the current configuration.

    The scheme map keeps the entries of every earlier configuration of
    the process (as upstream's does): a backend name that was a file
    store before and is an http store now has both. The entry whose type
    is the backend's type now (in ``enabled_backends`` of the
    configuration the store was created with, or the reserved stores)
    is the one; none when the backend is no longer configured.
    """
    for scheme_backends in location.SCHEME_TO_CLS_BACKEND_MAP.values():
        info = scheme_backends.get(store_identifier)
        if info is None:
            continue
        conf = getattr(info['store'], 'conf', None) or CONF
        if _current_type(conf, store_identifier) == info['store_entry']:
            return info
    return None


def _current_type(conf, store_identifier):
    """The type ``store_identifier`` has now (None: not configured)."""
    if store_identifier in _RESERVED_STORES:
        return _RESERVED_STORES[store_identifier]
    try:
        backends = conf.enabled_backends or {}
    except (cfg.NoSuchOptError, AttributeError):
        return None
    return backends.get(store_identifier)


def get_store_from_store_identifier(store_identifier):
    """The store of backend ``store_identifier``.

    Raises ``UnknownScheme`` naming the backend when it is not loaded.
    """
    scheme_info = _find_backend(store_identifier)
    if scheme_info is None:
        if store_identifier in _UNAVAILABLE:
            msg = drivers.not_available_message(
                _UNAVAILABLE[store_identifier], backend=store_identifier)
        else:
            msg = _("No backend named '%s' is enabled.") % store_identifier
        raise exceptions.UnknownScheme(msg)
    store = scheme_info['store']
    if not store.is_capable(capabilities.BitMasks.DRIVER_REUSABLE):
        store = _load_multi_store(store.conf, scheme_info['store_entry'],
                                  backend=store_identifier)
        store.configure()
    return store


def get_store_weight(store_identifier):
    """The ``weight`` of a backend."""
    return get_store_from_store_identifier(store_identifier).weight


def add(conf, image_id, data, size, backend, context=None, verifier=None):
    if not backend:
        backend = conf.glance_store.default_backend
    store = get_store_from_store_identifier(backend)
    result = single_backend.store_add_to_backend(
        image_id, data, size, store, context, verifier)
    return _with_store_metadata(result, backend, 3)


def add_with_multihash(conf, image_id, data, size, backend, hashing_algo,
                       scheme=None, context=None, verifier=None):
    """Add an image to ``backend`` (default_backend if None).

    Returns ``(uri, size, md5, multihash, metadata)``; metadata holds
    ``{'store': backend}``.
    """
    if not backend:
        backend = conf.glance_store.default_backend
    store = get_store_from_store_identifier(backend)
    result = single_backend.store_add_to_backend_with_multihash(
        image_id, data, size, hashing_algo, store, context, verifier)
    return _with_store_metadata(result, backend, 4)


def _with_store_metadata(result, backend, index):
    result = list(result)
    metadata = dict(result[index] or {})
    metadata['store'] = backend
    result[index] = metadata
    return tuple(result)


def _candidate_backends(uri):
    backends = _all_backends(CONF) if 'enabled_backends' in CONF else {}
    for backend, info in [(b, _find_backend(b)) for b in backends]:
        if info is None:
            continue
        store = info['store']
        if any(uri.startswith(scheme + ':')
               for scheme in store.get_schemes()):
            yield backend


def _call_on_backend(uri, backend, op, **kwargs):
    if backend:
        loc = location.get_location_from_uri_and_backend(uri, backend,
                                                         conf=CONF)
        store = get_store_from_store_identifier(backend)
        return getattr(store, op)(loc, **kwargs)
    LOG.warning(_("No backend given for %s; searching every backend that "
                  "serves the URI's scheme."), op)
    for candidate in _candidate_backends(uri):
        try:
            loc = location.get_location_from_uri_and_backend(
                uri, candidate, conf=CONF)
            store = get_store_from_store_identifier(candidate)
            return getattr(store, op)(loc, **kwargs)
        except exceptions.NotFound:
            continue
    raise exceptions.NotFound(_("The image is not in any enabled "
                                "backend."))


def get(uri, backend, offset=0, chunk_size=None, context=None):
    """``(iterator, size)`` of the image at ``uri``."""
    return _call_on_backend(uri, backend, 'get', offset=offset,
                            chunk_size=chunk_size, context=context)


def delete(uri, backend, context=None):
    """Delete the image at ``uri``."""
    return _call_on_backend(uri, backend, 'delete', context=context)


def get_size_from_uri_and_backend(uri, backend, context=None):
    """Size in bytes of the image at ``uri`` in ``backend``."""
    loc = location.get_location_from_uri_and_backend(uri, backend,
                                                     conf=CONF)
    store = get_store_from_store_identifier(backend)
    return store.get_size(loc, context=context)


def set_acls_for_multi_store(location_uri, backend, public=False,
                             read_tenants=None, write_tenants=None,
                             context=None):
    loc = location.get_location_from_uri_and_backend(location_uri, backend,
                                                     conf=CONF)
    store = get_store_from_store_identifier(backend)
    try:
        store.set_acls(loc, public=public,
                       read_tenants=read_tenants or [],
                       write_tenants=write_tenants, context=context)
    except NotImplementedError:
        LOG.debug("Backend %s does not implement set_acls; skipped.",
                  backend)


def get_known_schemes_for_multi_store():
    """The schemes served by the loaded backends."""
    return location.SCHEME_TO_CLS_BACKEND_MAP.keys()


# The helpers shared with the single-store API, under their usual names.
check_location_metadata = single_backend.check_location_metadata
store_add_to_backend = single_backend.store_add_to_backend
store_add_to_backend_with_multihash = \
    single_backend.store_add_to_backend_with_multihash
