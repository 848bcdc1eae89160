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

"""Single-store API: one store per scheme, configured in [glance_store]."""

import logging

from oslo_config import cfg

from glance_store import capabilities
from glance_store.common import drivers
from glance_store import exceptions
from glance_store.i18n import _
from glance_store import location

CONF = cfg.CONF
LOG = logging.getLogger(__name__)

_STORE_CFG_GROUP = 'glance_store'

# Shared with the multi-store API, which registers it in the same group.
CAPABILITIES_UPDATE_OPT = cfg.IntOpt(
    'store_capabilities_update_min_interval', default=0, min=0,
    help=_("Minimum seconds between two refreshes of a store's dynamic "
           "capabilities; 0 disables refreshing."))

_STORE_OPTS = [
    cfg.ListOpt('stores', default=['file', 'http'],
                deprecated_for_removal=True,
                deprecated_since='Rocky',
                deprecated_reason=_("Use enabled_backends (multi-store) "
                                    "to choose the stores to load."),
                help=_("Store drivers to load, by entry point name "
                       "(file, http, s3).")),
    cfg.StrOpt('default_store', default='file',
               choices=(
                   ('file', _('the filesystem store')),
                   ('filesystem', _('the filesystem store (its store '
                                    'name)')),
                   ('http', _('the read-only http store: new images '
                              'cannot be written there')),
                   ('https', _('the read-only http store, for https '
                               'locations')),
                   ('s3', _('the S3 store')),
                   ('swift', _('not shipped in this distribution')),
                   ('swift+http', _('not shipped in this distribution')),
                   ('swift+https', _('not shipped in this distribution')),
                   ('swift+config', _('not shipped in this '
                                      'distribution')),
                   ('rbd', _('not shipped in this distribution')),
                   ('cinder', _('not shipped in this distribution')),
                   ('vsphere', _('not shipped in this distribution'))),
               deprecated_for_removal=True,
               deprecated_since='Rocky',
               deprecated_reason=_("Use default_backend (multi-store)."),
               help=_("Scheme of the store new images are written to. "
                      "It must be served by one of the loaded stores; "
                      "this distribution ships file, http and s3.")),
    CAPABILITIES_UPDATE_OPT,
]


def _list_opts():
    """Options of [glance_store] and of every driver.

    The drivers installed, then the stand-ins of the stores not shipped
    (their options are accepted and ignored).
    """
    driver_opts = []
    seen = set()
    for store_entry in drivers.shipped_drivers():
        driver_cls = drivers.load_driver(None, store_entry,
                                         invoke_load=False)
        if driver_cls is None or driver_cls in seen:
            continue
        seen.add(driver_cls)
        for opt in getattr(driver_cls, 'OPTIONS', None) or []:
            if opt not in driver_opts:
                driver_opts.append(opt)
    # The stores not shipped: their options are accepted, as upstream
    # registers them, and ignored.
    for store_type in sorted(drivers.STAND_IN_MODULES):
        driver_opts.extend(drivers.stand_in_options(store_type))
    return [(_STORE_CFG_GROUP, _STORE_OPTS + driver_opts)]


def register_opts(conf):
    """Register the single-store options on ``conf``."""
    for group, opt_list in _list_opts():
        LOG.debug("Registering options for group %s", group)
        for opt in opt_list:
            conf.register_opt(opt, group=group)


class Indexable(object):
    """An iterator of chunks that also reports its total size.

    Indexing returns the next chunk: the object is read sequentially, it
    is not a random-access sequence.
    """

    def __init__(self, wrapped, size):
        self.wrapped = wrapped
        self.size = int(size) if size else 0
        self.cursor = 0
        self.chunk = None

    def __iter__(self):
        for self.chunk in self.wrapped:
            yield self.chunk

    def __getitem__(self, i):
        return self.another()

    def another(self):
        """Read another chunk from the wrapped iterator."""
        self.chunk = next(self.wrapped)
        return self.chunk

    def getvalue(self):
        """The current chunk."""
        return self.chunk

    def close(self):
        close = getattr(self.wrapped, 'close', None)
        if close:
            close()

    def __len__(self):
        return self.size


def _load_store(conf, store_entry, invoke_load=True):
    return drivers.load_driver(conf, store_entry, invoke_load=invoke_load)


def _load_stores(conf):
    # In configuration order, without duplicates: when two stores serve
    # the same scheme, the one listed first wins, every time.
    for store_entry in dict.fromkeys(conf.glance_store.stores):
        try:
            store_instance = _load_store(conf, store_entry)
            if not store_instance:
                continue
            yield (store_entry, store_instance)
        except exceptions.BadStoreConfiguration:
            continue


def _scheme_entries(store_entry, store_instance):
    schemes = store_instance.get_schemes()
    if not schemes:
        raise exceptions.BackendException(
            _('Store %s declares no URI scheme and cannot be registered.')
            % store_entry)
    LOG.debug("Registering store %s with schemes %s", store_entry, schemes)
    loc_cls = store_instance.get_store_location_class()
    return {scheme: {'store': store_instance, 'location_class': loc_cls,
                     'store_entry': store_entry} for scheme in schemes}


def create_stores(conf=CONF):
    """Load and configure the stores in ``stores``.

    Called again (with a new configuration), the new stores replace the
    ones registered before for the same schemes.

    :param conf: the oslo.config object holding [glance_store]
    :returns: the number of stores loaded
    """
    store_count = 0
    scheme_map = {}
    for (store_entry, store_instance) in _load_stores(conf):
        try:
            store_instance.get_schemes()
            store_instance.configure(re_raise_bsc=False)
        except NotImplementedError:
            continue
        entries = _scheme_entries(store_entry, store_instance)
        for scheme, info in entries.items():
            # Within one call the store listed first keeps the scheme.
            scheme_map.setdefault(scheme, info)
        store_count += 1
    location.register_scheme_map(scheme_map)
    return store_count


def verify_default_store():
    """Raise RuntimeError unless a loaded store serves default_store."""
    scheme = CONF.glance_store.default_store
    try:
        get_store_from_scheme(scheme)
    except exceptions.UnknownScheme:
        if scheme in drivers.NOT_SHIPPED:
            raise RuntimeError(drivers.not_available_message(scheme))
        raise RuntimeError(_("No loaded store serves default_store "
                             "'%s'; add its driver to 'stores'.") % scheme)


def get_known_schemes():
    """The schemes served by the loaded stores."""
    return list(location.SCHEME_TO_CLS_MAP.keys())


def get_store_from_scheme(scheme):
    """The store serving ``scheme``; ``UnknownScheme`` if there is none."""
    if scheme not in location.SCHEME_TO_CLS_MAP:
        raise exceptions.UnknownScheme(scheme=scheme)
    scheme_info = location.SCHEME_TO_CLS_MAP[scheme]
    store = scheme_info['store']
    if not store.is_capable(capabilities.BitMasks.DRIVER_REUSABLE):
        # The driver keeps per-call state: give each caller a fresh one.
        store_entry = scheme_info['store_entry']
        store = _load_store(store.conf, store_entry, invoke_load=True)
        store.configure()
    return store


def get_store_from_uri(uri):
    """The store serving the scheme of ``uri``."""
    scheme = uri[0:uri.find('/') - 1]
    return get_store_from_scheme(scheme)


def get_from_backend(uri, offset=0, chunk_size=None, context=None):
    """``(iterator, size)`` of the image at ``uri``."""
    loc = location.get_location_from_uri(uri, conf=CONF)
    store = get_store_from_uri(uri)
    return store.get(loc, offset=offset, chunk_size=chunk_size,
                     context=context)


def get_size_from_backend(uri, context=None):
    """Size in bytes of the image at ``uri``."""
    loc = location.get_location_from_uri(uri, conf=CONF)
    store = get_store_from_uri(uri)
    return store.get_size(loc, context=context)


def delete_from_backend(uri, context=None):
    """Delete the image at ``uri``."""
    loc = location.get_location_from_uri(uri, conf=CONF)
    store = get_store_from_uri(uri)
    return store.delete(loc, context=context)


def get_store_from_location(uri):
    """The store name (scheme) of a location URI."""
    loc = location.get_location_from_uri(uri, conf=CONF)
    return loc.store_name


def check_location_metadata(val, key=''):
    """Raise BackendException unless ``val`` is made of dicts, lists, str.

    ``key`` names the offending entry in the message.
    """
    if isinstance(val, dict):
        for key in val:
            check_location_metadata(val[key], key=key)
    elif isinstance(val, list):
        for ndx, v in enumerate(val):
            check_location_metadata(v, key='%s[%d]' % (key, ndx))
    elif not isinstance(val, str):
        raise exceptions.BackendException(
            _("Location metadata %(key)s is of type %(type)s; only dict, "
              "list and str are allowed.") % {'key': key, 'type': type(val)})


def _check_metadata(store, metadata):
    if not isinstance(metadata, dict):
        msg = (_("Store driver %(driver)s returned metadata that is not "
                 "a dict: %(metadata)s") %
               {'driver': store, 'metadata': metadata})
        LOG.error(msg)
        raise exceptions.BackendException(msg)
    try:
        check_location_metadata(metadata)
    except exceptions.BackendException as e:
        msg = (_("Store driver %(driver)s returned bad metadata "
                 "%(metadata)s: %(e)s") %
               {'driver': store, 'metadata': metadata, 'e': e})
        LOG.error(msg)
        raise exceptions.BackendException(msg)


def store_add_to_backend(image_id, data, size, store, context=None,
                         verifier=None):
    """Add an image with ``store``; return ``(uri, size, md5, metadata)``."""
    (location_uri, size, checksum, metadata) = store.add(
        image_id, data, size, context=context, verifier=verifier)
    if metadata is not None:
        _check_metadata(store, metadata)
    return (location_uri, size, checksum, metadata)


def store_add_to_backend_with_multihash(
        image_id, data, size, hashing_algo, store,
        context=None, verifier=None):
    """Add an image; return ``(uri, size, md5, multihash, metadata)``."""
    (location_uri, size, checksum, multihash, metadata) = store.add(
        image_id, data, size, hashing_algo,
        context=context, verifier=verifier)
    if metadata is not None:
        _check_metadata(store, metadata)
    return (location_uri, size, checksum, multihash, metadata)


def add_to_backend(conf, image_id, data, size, scheme=None, context=None,
                   verifier=None):
    if scheme is None:
        scheme = conf['glance_store']['default_store']
    store = get_store_from_scheme(scheme)
    return store_add_to_backend(image_id, data, size, store, context,
                                verifier)


def add_to_backend_with_multihash(conf, image_id, data, size, hashing_algo,
                                  scheme=None, context=None, verifier=None):
    if scheme is None:
        scheme = conf['glance_store']['default_store']
    store = get_store_from_scheme(scheme)
    return store_add_to_backend_with_multihash(
        image_id, data, size, hashing_algo, store, context, verifier)


def set_acls(location_uri, public=False, read_tenants=None,
             write_tenants=None, context=None):
    """Set image access where the store supports it (else a no-op)."""
    loc = location.get_location_from_uri(location_uri, conf=CONF)
    scheme = get_store_from_location(location_uri)
    store = get_store_from_scheme(scheme)
    try:
        store.set_acls(loc, public=public,
                       read_tenants=read_tenants or [],
                       write_tenants=write_tenants, context=context)
    except NotImplementedError:
        LOG.debug("Store %s does not implement set_acls; skipped.", scheme)
