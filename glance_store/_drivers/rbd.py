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

"""The rbd store is not shipped: importable, refuses to be used.

Its third-party libraries are not imported; their module-level names
exist as None so that code patching them (as Glance's tests do) works.
"""

from oslo_config import cfg

from glance_store._drivers import _unavailable
from glance_store.i18n import _


def _help(text):
    return _unavailable.ignored_option_help('rbd', text)


# Upstream 5.7.0's rbd options: names, types and defaults.
_RBD_OPTS = [
    cfg.IntOpt('rbd_store_chunk_size', default=8, min=1,
               help=_help(_("Size in MiB of the RADOS objects an image is "
                            "split into."))),
    cfg.StrOpt('rbd_store_pool', default='images',
               help=_help(_("RADOS pool the images are stored in."))),
    cfg.StrOpt('rbd_store_user',
               help=_help(_("Ceph user to connect as."))),
    cfg.StrOpt('rbd_store_ceph_conf', default='',
               help=_help(_("Path of the Ceph configuration file."))),
    cfg.IntOpt('rados_connect_timeout', default=-1,
               help=_help(_("Seconds to wait for the cluster; -1 waits "
                            "forever."))),
    cfg.BoolOpt('rbd_thin_provisioning', default=False,
                help=_help(_("Skip writing runs of zero bytes."))),
]

rados = None
rbd = None

Store = _unavailable.unavailable_store_class('rbd', __name__,
                                             options=_RBD_OPTS)
