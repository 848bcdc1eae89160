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

"""Driver loading shared by the single-store and multi-store APIs."""

import importlib
import logging

from stevedore import driver
from stevedore import exception as stevedore_exc
from stevedore import extension

from glance_store.i18n import _

LOG = logging.getLogger(__name__)

DRIVER_NAMESPACE = 'glance_store.drivers'

# Store types of upstream glance_store that this distribution does not
# ship; configuring one gives a clear error instead of a traceback.
NOT_SHIPPED = {
    'swift': 'swift', 'swift+http': 'swift', 'swift+https': 'swift',
    'swift+config': 'swift', 'rbd': 'rbd', 'cinder': 'cinder',
    'vsphere': 'vmware', 'vmware': 'vmware',
    'glance.store.swift.Store': 'swift', 'glance.store.rbd.Store': 'rbd',
    'glance.store.cinder.Store': 'cinder',
    'glance.store.vmware_datastore.Store': 'vmware',
}

# The modules standing in for them (importable, declaring upstream's
# options, refusing every operation).
STAND_IN_MODULES = {
    'cinder': 'glance_store._drivers.cinder',
    'rbd': 'glance_store._drivers.rbd',
    'swift': 'glance_store._drivers.swift',
    'vmware': 'glance_store._drivers.vmware_datastore',
}


def stand_in_options(store_entry):
    """The options upstream's store ``store_entry`` takes.

    :param store_entry: a store type or entry point name (``rbd``,
        ``glance.store.swift.Store``, ...)
    :returns: the stand-in's ``cfg.Opt`` list; empty for a name that is
        not one of the stores not shipped
    """
    name = NOT_SHIPPED.get(store_entry)
    if name is None:
        return []
    module = importlib.import_module(STAND_IN_MODULES[name])
    return list(module.Store.OPTIONS or [])


def shipped_drivers():
    """Names of the driver entry points installed with this package."""
    mgr = extension.ExtensionManager(DRIVER_NAMESPACE)
    return sorted(mgr.names())


def not_available_message(store_entry, backend=None):
    name = NOT_SHIPPED.get(store_entry, store_entry)
    available = ', '.join(n for n in shipped_drivers() if '.' not in n)
    if backend:
        return _("Backend '%(backend)s' uses the '%(name)s' store, which "
                 "is not available in this distribution of glance_store "
                 "(available stores: %(available)s).") % {
            'backend': backend, 'name': name, 'available': available}
    return _("The '%(name)s' store is not available in this distribution "
             "of glance_store (available stores: %(available)s).") % {
        'name': name, 'available': available}


def load_driver(conf, store_entry, invoke_load=True, backend=None):
    """Load driver ``store_entry``; None (logged) if it is not available.

    With ``invoke_load`` the driver class is instantiated with ``conf``
    (and ``backend=`` in multi-store mode); otherwise the class itself is
    returned.
    """
    kwds = {'backend': backend} if backend else {}
    try:
        LOG.debug("Loading store driver %s", store_entry)
        mgr = driver.DriverManager(DRIVER_NAMESPACE, store_entry,
                                   invoke_args=[conf], invoke_kwds=kwds,
                                   invoke_on_load=invoke_load)
        return mgr.driver
    except stevedore_exc.NoMatches:
        LOG.error(not_available_message(store_entry, backend))
    except (RuntimeError, ImportError) as e:
        LOG.error(_("Store driver %(driver)s could not be loaded and is "
                    "disabled: %(error)s"),
                  {'driver': store_entry, 'error': e})
    return None
