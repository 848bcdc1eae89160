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

"""Base class of every store driver."""

import functools
import logging

from oslo_config import cfg
from oslo_utils import importutils
from oslo_utils import units

from glance_store import capabilities
from glance_store import exceptions
from glance_store.i18n import _

LOG = logging.getLogger(__name__)

# Option groups in which a backend's unset options fall back to
# ``[backend_defaults]`` (multi-store only).
BACKEND_DEFAULTS_GROUP = 'backend_defaults'

_DEFAULT_LOCATIONS = frozenset()
try:
    _DEFAULT_LOCATIONS = frozenset([cfg.Locations.opt_default,
                                    cfg.Locations.set_default])
except AttributeError:  # pragma: no cover - very old oslo.config
    pass


class BackendGroupConfiguration(object):
    """Read a store's options from its group, with a fallback group.

    In multi-store mode each backend has its own option group.  An option
    the operator did not set there takes the value set in
    ``[backend_defaults]``, if any, and the option default otherwise.  In
    single-store mode the group is ``[glance_store]`` and there is no
    fallback.
    """

    def __init__(self, store_opts, config_group=None, conf=None):
        self.conf = conf or cfg.CONF
        self.store_opts = list(store_opts or [])
        self.backend_group = config_group or 'glance_store'
        self._fallback = (BACKEND_DEFAULTS_GROUP
                          if config_group else None)
        # Options the group registered itself with a default of its own
        # (the reserved stores' directories): that default beats the
        # fallback group, so Glance's staging and tasks stores never land
        # in the images directory set in [backend_defaults].
        self._own_defaults = frozenset()

    def _is_default(self, name, group):
        try:
            loc = self.conf.get_location(name, group)
        except (cfg.NoSuchOptError, cfg.NoSuchGroupError):
            return True
        if loc is None or loc.location in _DEFAULT_LOCATIONS:
            return True
        if loc.location == getattr(cfg.Locations, 'set_override', None):
            # oslo.config keeps reporting set_override after
            # clear_override (and reset): check that one is still there.
            try:
                info = self.conf._get_opt_info(name, group)
            except Exception:  # pragma: no cover - private API changed
                return False
            return info.get('override') is None
        return False

    def __getattr__(self, name):
        if name.startswith('_'):
            raise AttributeError(name)
        value = getattr(self.conf[self.backend_group], name)
        fallback = self._fallback
        if fallback and name not in self._own_defaults and \
                self._is_default(name, self.backend_group) and \
                fallback in self.conf and \
                name in self.conf[fallback] and \
                not self._is_default(name, fallback):
            return getattr(self.conf[fallback], name)
        return value

    def __getitem__(self, name):
        return self.__getattr__(name)


class Store(capabilities.StoreCapability):
    """A storage backend: configure, then get / get_size / add / delete."""

    OPTIONS = None
    MULTI_BACKEND_SUPPORT = False
    READ_CHUNKSIZE = 4 * units.Mi  # 4M
    WRITE_CHUNKSIZE = READ_CHUNKSIZE

    def __init__(self, conf, backend=None):
        """Register the driver's options; configure() makes it usable."""
        super(Store, self).__init__()
        self.conf = conf
        self.backend_group = backend
        self.store_location_class = None
        self._url_prefix = None

        own_defaults = set()
        if self.OPTIONS is not None and conf is not None:
            group = backend or 'glance_store'
            groups = [group, BACKEND_DEFAULTS_GROUP] if backend else [group]
            for grp in groups:
                for opt in self.OPTIONS:
                    try:
                        conf.register_opt(opt, group=grp)
                    except cfg.DuplicateOptError:
                        # Already registered with another default, as the
                        # reserved stores' datadir is: keep that one.
                        if grp == group:
                            own_defaults.add(opt.dest)
        self.store_conf = BackendGroupConfiguration(
            self.OPTIONS, config_group=backend, conf=conf)
        self.store_conf._own_defaults = frozenset(own_defaults)

    def configure(self, re_raise_bsc=False):
        """Configure the store; a bad configuration disables writes.

        The API keeps serving reads from a store whose write side is not
        configured correctly, unless ``re_raise_bsc`` asks for the error.
        """
        try:
            self.configure_add()
        except exceptions.BadStoreConfiguration as e:
            self.unset_capabilities(capabilities.BitMasks.WRITE_ACCESS)
            LOG.warning(_("Adding images to store %(store)s is disabled: "
                          "%(reason)s"),
                        {'store': self.backend_group or
                         self.__class__.__module__.split('.')[-1],
                         'reason': e.msg})
            if re_raise_bsc:
                raise
        finally:
            self.update_capabilities()

    @property
    def url_prefix(self):
        return self._url_prefix

    @property
    def weight(self):
        if self.backend_group is None:
            return 0
        try:
            return self.conf[self.backend_group].weight
        except (cfg.NoSuchOptError, cfg.NoSuchGroupError, AttributeError):
            return 0

    def get_schemes(self):
        """The URI schemes this store handles."""
        raise NotImplementedError

    def get_store_location_class(self):
        """The StoreLocation class of this store's URIs."""
        if not self.store_location_class:
            class_name = "%s.StoreLocation" % (self.__module__)
            LOG.debug("Late loading location class %s", class_name)
            self.store_location_class = importutils.import_class(class_name)
        return self.store_location_class

    def configure_add(self):
        """Check and apply the options needed to add images.

        Raises ``BadStoreConfiguration`` when they are not usable.
        """

    @capabilities.check
    def get(self, location, offset=0, chunk_size=None, context=None):
        """Return ``(iterator, size)`` of the image at ``location``."""
        raise NotImplementedError

    def get_size(self, location, context=None):
        """Return the size in bytes of the image at ``location``."""
        raise NotImplementedError

    @capabilities.check
    def add(self, image_id, image_file, image_size, hashing_algo,
            context=None, verifier=None):
        """Store an image.

        Returns ``(uri, bytes_written, md5_hex, multihash_hex, metadata)``.
        """
        raise NotImplementedError

    @capabilities.check
    def delete(self, location, context=None):
        """Delete the image at ``location``."""
        raise NotImplementedError

    def set_acls(self, location, public=False, read_tenants=None,
                 write_tenants=None, context=None):
        """Set read and write access to an image, where supported."""
        raise NotImplementedError


def back_compat_add(store_add_fun):
    """Accept the pre-multihash ``add`` signature as well as the new one.

    Old callers use ``add(image_id, image_file, image_size, context=None,
    verifier=None)`` and expect ``(uri, size, checksum, metadata)``; new
    callers pass ``hashing_algo`` after ``image_size`` and get the
    multihash too.
    """

    @functools.wraps(store_add_fun)
    def add_adapter(*args, **kwargs):
        # args[0] is the store instance; the algorithm, when given
        # positionally, is the fifth argument and always a string.
        new_style = 'hashing_algo' in kwargs or (
            len(args) >= 5 and isinstance(args[4], str))
        if new_style:
            return store_add_fun(*args, **kwargs)
        args = list(args)
        if len(args) >= 5:
            # An old positional call: the fifth argument is the context.
            kwargs.setdefault('context', args[4])
            if len(args) >= 6:
                kwargs.setdefault('verifier', args[5])
            args = args[:4]
        kwargs['hashing_algo'] = 'md5'
        result = store_add_fun(*args, **kwargs)
        location, size, checksum, _multihash, metadata = result
        return location, size, checksum, metadata

    return add_adapter
