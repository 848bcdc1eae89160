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

"""The cinder store is not shipped: importable, refuses to be used.

Its third-party libraries are not imported; their module-level names
exist as None so that code patching them (as Glance's tests do) works.
"""

from oslo_config import cfg

from glance_store._drivers import _unavailable
from glance_store.i18n import _


def _help(text):
    return _unavailable.ignored_option_help('cinder', text)


# Upstream 5.7.0's cinder options: names, types and defaults.
_CINDER_OPTS = [
    cfg.StrOpt('cinder_catalog_info', default='volumev3::publicURL',
               help=_help(_("Catalog lookup of the Cinder endpoint, as "
                            "type:name:interface."))),
    cfg.StrOpt('cinder_endpoint_template',
               help=_help(_("Cinder endpoint URL template, instead of the "
                            "catalog."))),
    cfg.StrOpt('cinder_os_region_name', deprecated_name='os_region_name',
               help=_help(_("Region of the Cinder endpoint."))),
    cfg.StrOpt('cinder_ca_certificates_file',
               help=_help(_("CA bundle to verify Cinder with."))),
    cfg.IntOpt('cinder_http_retries', default=3,
               help=_help(_("Retries of a failed Cinder call."))),
    cfg.IntOpt('cinder_state_transition_timeout', default=300,
               help=_help(_("Seconds to wait for a volume to change "
                            "state."))),
    cfg.BoolOpt('cinder_api_insecure', default=False,
                help=_help(_("Skip verifying Cinder's certificate."))),
    cfg.StrOpt('cinder_store_auth_address',
               help=_help(_("Keystone URL of the volume owner."))),
    cfg.StrOpt('cinder_store_user_name',
               help=_help(_("User owning the image volumes."))),
    cfg.StrOpt('cinder_store_user_domain_name', default='Default',
               help=_help(_("Domain of that user."))),
    cfg.StrOpt('cinder_store_password', secret=True,
               help=_help(_("Password of that user."))),
    cfg.StrOpt('cinder_store_application_credential_id',
               help=_help(_("Application credential ID of that user."))),
    cfg.StrOpt('cinder_store_application_credential_secret', secret=True,
               help=_help(_("Application credential secret of that "
                            "user."))),
    cfg.StrOpt('cinder_store_project_name',
               help=_help(_("Project owning the image volumes."))),
    cfg.StrOpt('cinder_store_project_domain_name', default='Default',
               help=_help(_("Domain of that project."))),
    cfg.StrOpt('rootwrap_config', default='/etc/glance/rootwrap.conf',
               help=_help(_("Rootwrap configuration file for attaching "
                            "volumes."))),
    cfg.StrOpt('cinder_volume_type',
               help=_help(_("Volume type of new image volumes."))),
    cfg.BoolOpt('cinder_enforce_multipath', default=False,
                help=_help(_("Fail when multipath is not available."))),
    cfg.BoolOpt('cinder_use_multipath', default=False,
                help=_help(_("Attach volumes through multipath."))),
    cfg.StrOpt('cinder_mount_point_base', default='/var/lib/glance/mnt',
               help=_help(_("Directory NFS volumes are mounted under."))),
    cfg.BoolOpt('cinder_do_extend_attached', default=False,
                help=_help(_("Extend volumes while attached."))),
    cfg.IntOpt('cinder_attachment_retry_attempts', default=5, min=1,
               help=_help(_("Attempts to attach a volume."))),
]

cinderclient = None

Store = _unavailable.unavailable_store_class('cinder', __name__,
                                             options=_CINDER_OPTS)
