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

"""Stand-ins for the upstream stores this distribution does not ship.

Upstream glance_store has swift, rbd, cinder and vmware stores; code
written for it (Glance's own test base among it) imports their modules.
These modules import without the stores' third-party libraries, and their
store classes refuse to be configured or used with one clear message.

Each stand-in declares the options of the store it stands in for
(upstream 5.7.0's names, types and defaults), so that a configuration
file or a test that sets them in a backend's group or in
``[glance_store]`` loads; the values are never used.
"""

from glance_store.common import drivers
from glance_store import driver
from glance_store import exceptions
from glance_store.i18n import _


def ignored_option_help(store_type, text):
    """The help of a stand-in's option: upstream's meaning, then "ignored".

    :param store_type: the store's name (swift, rbd, ...)
    :param text: what the option sets in that store
    :returns: the help string
    """
    return '%s %s' % (text, _("Read by the %s store, which this "
                              "distribution does not ship: accepted and "
                              "ignored.") % store_type)


def unavailable_store_class(store_type, module, class_name='Store',
                            options=None):
    """A store class whose every operation says it is not shipped.

    :param store_type: the store's name (swift, rbd, ...)
    :param module: the name of the module defining the class
    :param class_name: the name the class has in its module
    :param options: the ``cfg.Opt`` list of the store stood in for, kept
        as the class's ``OPTIONS`` (registered, never read)
    :returns: a subclass of glance_store.driver.Store
    """

    def _refuse(self, *args, **kwargs):
        raise exceptions.UnsupportedBackend(
            drivers.not_available_message(store_type,
                                          backend=self.backend_group))

    namespace = {
        '__module__': module,
        '__doc__': ("The %s store, not available in this distribution: "
                    "every operation raises UnsupportedBackend."
                    % store_type),
        'OPTIONS': list(options) if options else None,
        'MULTI_BACKEND_SUPPORT': True,
    }
    for name in ('configure', 'configure_add', 'get_schemes', 'get',
                 'get_size', 'add', 'delete', 'set_acls'):
        namespace[name] = _refuse
    return type(class_name, (driver.Store,), namespace)
