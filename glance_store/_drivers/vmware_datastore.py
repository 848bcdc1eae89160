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

"""The vmware store is not shipped: importable, refuses to be used.

Its third-party libraries are not imported; their module-level names
exist as None so that code patching them (as Glance's tests do) works.
"""

from oslo_config import cfg

from glance_store._drivers import _unavailable
from glance_store.i18n import _


def _help(text):
    return _unavailable.ignored_option_help('vmware', text)


# Upstream 5.7.0's vmware options: names, types and defaults.
_VMWARE_OPTS = [
    cfg.HostAddressOpt('vmware_server_host',
                       help=_help(_("vCenter or ESXi host address."))),
    cfg.StrOpt('vmware_server_username',
               help=_help(_("User name on the VMware server."))),
    cfg.StrOpt('vmware_server_password', secret=True,
               help=_help(_("Password on the VMware server."))),
    cfg.IntOpt('vmware_api_retry_count', default=10, min=1,
               help=_help(_("Attempts of a failed VMware API call."))),
    cfg.IntOpt('vmware_task_poll_interval', default=5, min=1,
               help=_help(_("Seconds between two polls of a VMware "
                            "task."))),
    cfg.StrOpt('vmware_store_image_dir', default='/openstack_glance',
               help=_help(_("Datastore directory images are kept in."))),
    cfg.BoolOpt('vmware_insecure', default=False,
                deprecated_name='vmware_api_insecure',
                help=_help(_("Skip verifying the server's certificate."))),
    cfg.StrOpt('vmware_ca_file',
               help=_help(_("CA bundle to verify the server with."))),
    cfg.MultiStrOpt('vmware_datastores',
                    help=_help(_("Datastores to store images in, as "
                                 "datacenter:datastore:weight."))),
]

api = None
vim_util = None

Store = _unavailable.unavailable_store_class('vmware', __name__,
                                             options=_VMWARE_OPTS)
