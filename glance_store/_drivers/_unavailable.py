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
"""

from glance_store.common import drivers
from glance_store import driver
from glance_store import exceptions


def unavailable_store_class(store_type, module, class_name='Store'):
    """A store class whose every operation says it is not shipped.

    :param store_type: the store's name (swift, rbd, ...)
    :param module: the name of the module defining the class
    :param class_name: the name the class has in its module
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
        'OPTIONS': None,
        'MULTI_BACKEND_SUPPORT': True,
    }
    for name in ('configure', 'configure_add', 'get_schemes', 'get',
                 'get_size', 'add', 'delete', 'set_acls'):
        namespace[name] = _refuse
    return type(class_name, (driver.Store,), namespace)
