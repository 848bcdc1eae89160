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
import weakref

from oslo_config import cfg
from oslo_config import types
from oslo_utils import importutils
from oslo_utils import units

from glance_store import capabilities
from glance_store import exceptions
from glance_store.i18n import _

LOG = logging.getLogger(__name__)

# Option groups in which a backend's unset options fall back to
# ``[backend_defaults]`` (multi-store only).
BACKEND_DEFAULTS_GROUP = 'backend_defaults'

# What a string option whose value oslo.config cannot substitute (a bare
# '$') reads as once a store has found it: no '$', nothing of the value.
UNREADABLE_VALUE = '<unreadable value: see the glance_store error>'

# What oslo.config raises on a value it cannot substitute.
_SUBSTITUTION_ERRORS = (cfg.NoSuchOptError, cfg.TemplateSubstitutionError,
                        RecursionError)


class _UnreadableOptions(object):
    """The options found unreadable, per configuration object.

    Once found, an option is masked in its configuration object (see
    ``BackendGroupConfiguration._mask_unreadable``): every store reading
    it later, through any view of the same object, must still refuse it,
    for as long as it reads as the mask.  The objects are held weakly.
    """

    def __init__(self):
        self._found = {}

    def add(self, conf, group, name, mask):
        """Record option ``name`` of ``group`` of ``conf`` as unreadable.

        :param conf: the ``cfg.ConfigOpts`` object
        :param group: the option's group name
        :param name: the option's name
        :param mask: the value the option now reads as
        :returns: None
        """
        key = id(conf)
        if key not in self._found:
            ref = weakref.ref(conf, lambda _ref: self._found.pop(key, None))
            self._found[key] = (ref, {})
        self._found[key][1][(group, name)] = mask

    def holds(self, conf, group, name, value):
        """Whether an option read as ``value`` is a recorded mask.

        :param conf: the ``cfg.ConfigOpts`` object
        :param group: the option's group name
        :param name: the option's name
        :param value: what the option reads as now
        :returns: True if :meth:`add` recorded it for this very object
            and it still reads as the mask (a reset configuration, or one
            given a readable value, reads as something else)
        """
        ref, found = self._found.get(id(conf), (None, {}))
        if ref is None or ref() is not conf or (group, name) not in found:
            return False
        return value == found[(group, name)]

    def discard(self, conf, group, name):
        """Forget option ``name`` of ``group`` of ``conf``.

        :param conf: the ``cfg.ConfigOpts`` object
        :param group: the option's group name
        :param name: the option's name
        :returns: None
        """
        ref, found = self._found.get(id(conf), (None, {}))
        if ref is not None and ref() is conf:
            found.pop((group, name), None)


_UNREADABLE = _UnreadableOptions()


def _register(conf, opt, group):
    """Register ``opt`` in ``group``; False if another one has its name."""
    try:
        conf.register_opt(opt, group=group)
    except cfg.DuplicateOptError:
        return False
    return True


class BackendGroupConfiguration(object):
    """A store's options, read from its group with a fallback group.

    In multi-store mode each backend has its own option group.  The
    options are registered there and in ``[backend_defaults]``; in the
    backend's group their default is None, so that an option the operator
    did not set there takes its value from ``[backend_defaults]`` (the
    value set there, or the option's default).  In single-store mode
    (``config_group`` None) the options are read from ``[glance_store]``
    alone; they are registered in ``[backend_defaults]`` as well.

    An option the group already has under another definition (the data
    directory Glance's reserved stores register with a default of their
    own) keeps it: that default beats ``[backend_defaults]``.

    :param store_opts: the ``cfg.Opt`` objects of the store
    :param config_group: the backend's group name (None: single store)
    :param conf: the ``cfg.ConfigOpts`` object (``cfg.CONF`` if None)
    """

    def __init__(self, store_opts, config_group=None, conf=None):
        self.conf = conf or cfg.CONF
        self.config_group = config_group
        self.backend_group = config_group or 'glance_store'
        self.shared_group = (BACKEND_DEFAULTS_GROUP
                             if config_group else None)
        self._opts = {}
        self.append_config_values(store_opts or [])

    @property
    def store_opts(self):
        """The options registered through this object."""
        return list(self._opts.values())

    def append_config_values(self, store_opts):
        """Register more options, as the constructor does.

        :param store_opts: ``cfg.Opt`` objects
        :returns: None
        """
        group = self.backend_group
        for opt in store_opts:
            self._opts[opt.dest] = opt
            own = _register(self.conf, opt, group)
            # Registered in [backend_defaults] in single-store mode too,
            # as upstream does (code that sets overrides there works),
            # but only read from there in multi-store mode.
            _register(self.conf, opt, BACKEND_DEFAULTS_GROUP)
            if not self.shared_group or group == self.shared_group:
                continue
            if own:
                # Unset in the backend's group means "ask the fallback".
                self.conf.set_default(opt.dest, None, group=group)

    def set_default(self, opt_name, default):
        """Set the default of an option in the fallback group.

        :param opt_name: the option's name
        :param default: its new default
        :returns: None
        """
        self.conf.set_default(opt_name, default,
                              group=self.shared_group or self.backend_group)

    def get(self, key, default=None):
        """The value of option ``key``, or ``default`` if there is none.

        :param key: the option's name
        :param default: returned when no such option is registered
        :returns: the option's value
        """
        try:
            return self.__getattr__(key)
        except (AttributeError, cfg.NoSuchOptError, cfg.NoSuchGroupError):
            return default

    def _substitution_error(self, name, group, log=True):
        """The error for a value oslo.config cannot substitute.

        oslo.config reads ``$name`` in a value as a reference to another
        option: an unknown name (a secret key with a ``$``) raises
        ``NoSuchOptError`` naming part of the value.  The store is
        refused instead, naming the option and the fix, never the value.
        """
        reason = (_("the value of option %(opt)s in [%(group)s] cannot be "
                    "read: oslo.config takes '$' as the start of a "
                    "reference to another option. Write each literal '$' "
                    "as '$$'.") % {'opt': name, 'group': group})
        if log:
            LOG.error(reason)
        return exceptions.BadStoreConfiguration(
            store_name=self.config_group or 'glance_store', reason=reason)

    def _mask_unreadable(self, name, group):
        """Make an unreadable option readable, and remember it is not.

        Whoever reads the option next gets a value instead of the error
        (Glance with ``debug`` on logs every option at start-up, and that
        error would stop the API and show part of the value): a string
        option reads as UNREADABLE_VALUE, any other as None.  Every store
        on this configuration still refuses it.
        """
        mask = None
        if isinstance(getattr(self._opts[name], 'type', None), types.String):
            mask = UNREADABLE_VALUE
        try:
            self.conf.set_override(name, mask, group=group)
        except (ValueError, TypeError):
            # A string option with choices or a pattern.
            mask = None
            self.conf.set_override(name, mask, group=group)
        _UNREADABLE.add(self.conf, group, name, mask)

    def _read(self, group, name):
        try:
            value = getattr(self.conf[group], name)
        except _SUBSTITUTION_ERRORS:
            if name not in self._opts:
                raise
            # Handled after the except block: oslo.log adds the exception
            # being handled to an error record, and oslo.config's message
            # holds part of the value.
        else:
            if not _UNREADABLE.holds(self.conf, group, name, value):
                return value
            if not self._still_unreadable(group, name):
                return getattr(self.conf[group], name)
            # Found (and logged) before.
            raise self._substitution_error(name, group, log=False)
        self._mask_unreadable(name, group)
        raise self._substitution_error(name, group)

    def _still_unreadable(self, group, name):
        """Whether a masked option still holds the unreadable value.

        A mask that is not a distinct value (None) cannot tell a masked
        option from one that is unset since the configuration was reset
        and loaded again (tests do that with one configuration object):
        the mask is taken off and the value read again.

        :returns: True (masked again) if oslo.config still cannot read it
        """
        self.conf.clear_override(name, group=group)
        try:
            getattr(self.conf[group], name)
        except _SUBSTITUTION_ERRORS:
            self._mask_unreadable(name, group)
            return True
        _UNREADABLE.discard(self.conf, group, name)
        return False

    def find_unreadable(self):
        """Read every option once, to find those that cannot be read.

        Each one found is logged (option and group, never the value) and
        masked as :meth:`_read` does, so that a later reading of the whole
        configuration (Glance's start-up dump of every option with
        ``debug`` on) does not fail on an option the store itself has not
        read yet.  Other errors are left to the code reading the option.

        :returns: list of the names of the options that cannot be read
        """
        unreadable = []
        for name in list(self._opts):
            try:
                self.__getattr__(name)
            except exceptions.BadStoreConfiguration:
                unreadable.append(name)
            except (cfg.Error, ValueError):
                pass
        return unreadable

    def __getattr__(self, name):
        if name.startswith('_'):
            raise AttributeError(name)
        value = self._read(self.backend_group, name)
        unset = value is None or (value == [] and getattr(
            self._opts.get(name), 'multi', False))
        if unset and self.shared_group:
            shared = self.conf[self.shared_group]
            if name in shared:
                return self._read(self.shared_group, name)
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

        # Without a configuration object (option listing), register
        # nothing: the store is only inspected.
        opts = (self.OPTIONS or []) if conf is not None else []
        self.store_conf = BackendGroupConfiguration(
            opts, config_group=backend, conf=conf)
        self._add_disabled_reason = None

    def configure(self, re_raise_bsc=False):
        """Configure the store; a bad configuration disables writes.

        The API keeps serving reads from a store whose write side is not
        configured correctly, unless ``re_raise_bsc`` asks for the error.
        The reason is kept: every refused ``add`` repeats it in its
        ``StoreAddDisabled`` message.

        :param re_raise_bsc: raise the ``BadStoreConfiguration`` too
        :returns: None
        :raises: ``BadStoreConfiguration`` with ``re_raise_bsc``
        """
        self.store_conf.find_unreadable()
        try:
            self.configure_add()
            self._add_disabled_reason = None
        except exceptions.BadStoreConfiguration as e:
            self.unset_capabilities(capabilities.BitMasks.WRITE_ACCESS)
            self._add_disabled_reason = e.msg
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
    def add_disabled_reason(self):
        """Why the last configuration disabled writes (None if it did not).

        :returns: the message of the ``BadStoreConfiguration``, or None
        """
        return self._add_disabled_reason

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
