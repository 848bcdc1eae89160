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

"""The swift store is not shipped: importable, refuses to be used.

Its third-party libraries are not imported; their module-level names
exist as None so that code patching them (as Glance's tests do) works.
"""

from oslo_config import cfg

from glance_store._drivers import _unavailable
from glance_store.i18n import _


def _help(text):
    return _unavailable.ignored_option_help('swift', text)


_USE_REFERENCES = _("Use the swift_store_config_file references.")

# Upstream 5.7.0's swift options: names, types and defaults.
_SWIFT_OPTS = [
    cfg.BoolOpt('swift_store_auth_insecure', default=False,
                help=_help(_("Skip verifying Swift's certificate."))),
    cfg.StrOpt('swift_store_cacert',
               help=_help(_("CA bundle to verify Swift with."))),
    cfg.StrOpt('swift_store_region',
               help=_help(_("Region of the Swift endpoint."))),
    cfg.StrOpt('swift_store_endpoint',
               help=_help(_("Swift URL to use instead of the catalog's."))),
    cfg.StrOpt('swift_store_endpoint_type', default='publicURL',
               choices=('publicURL', 'adminURL', 'internalURL'),
               help=_help(_("Catalog interface of the Swift endpoint."))),
    cfg.StrOpt('swift_store_service_type', default='object-store',
               help=_help(_("Catalog service type of Swift."))),
    cfg.StrOpt('swift_store_container', default='glance',
               help=_help(_("Container (or container prefix) images are "
                            "stored in."))),
    cfg.IntOpt('swift_store_large_object_size', default=5120, min=1,
               help=_help(_("Image size in MiB above which images are "
                            "segmented."))),
    cfg.IntOpt('swift_store_large_object_chunk_size', default=200, min=1,
               help=_help(_("Segment size in MiB."))),
    cfg.BoolOpt('swift_store_create_container_on_put', default=False,
                help=_help(_("Create a missing container on upload."))),
    cfg.BoolOpt('swift_store_multi_tenant', default=False,
                help=_help(_("Store images in the owner's account."))),
    cfg.IntOpt('swift_store_multiple_containers_seed', default=0, max=32,
               help=_help(_("Characters of the image ID that name its "
                            "container (0: one container)."))),
    cfg.ListOpt('swift_store_admin_tenants', default=[],
                help=_help(_("Projects granted access to every image "
                             "(multi-tenant mode)."))),
    cfg.BoolOpt('swift_store_ssl_compression', default=True,
                help=_help(_("Compress HTTPS traffic with Swift."))),
    cfg.IntOpt('swift_store_retry_get_count', default=0,
               help=_help(_("Retries of an interrupted download."))),
    cfg.IntOpt('swift_store_expire_soon_interval', default=60,
               help=_help(_("Seconds before token expiry at which a new "
                            "token is fetched."))),
    cfg.BoolOpt('swift_store_use_trusts', default=True,
                help=_help(_("Use Keystone trusts in multi-tenant mode."))),
    cfg.BoolOpt('swift_buffer_on_upload', default=False,
                help=_help(_("Buffer segments on disk before uploading "
                             "them."))),
    cfg.StrOpt('default_swift_reference', default='ref1',
               help=_help(_("Reference in swift_store_config_file that "
                            "holds the credentials."))),
    cfg.StrOpt('swift_store_auth_version', default='3', choices=('3',),
               deprecated_for_removal=True, deprecated_reason=_USE_REFERENCES,
               help=_help(_("Keystone API version."))),
    cfg.StrOpt('swift_store_auth_address',
               deprecated_for_removal=True, deprecated_reason=_USE_REFERENCES,
               help=_help(_("Keystone URL."))),
    cfg.StrOpt('swift_store_user', secret=True,
               deprecated_for_removal=True, deprecated_reason=_USE_REFERENCES,
               help=_help(_("User name."))),
    cfg.StrOpt('swift_store_key', secret=True,
               deprecated_for_removal=True, deprecated_reason=_USE_REFERENCES,
               help=_help(_("Password."))),
    cfg.StrOpt('swift_store_application_credential_id', secret=True,
               help=_help(_("Application credential ID."))),
    cfg.StrOpt('swift_store_application_credential_secret', secret=True,
               help=_help(_("Application credential secret."))),
    cfg.StrOpt('swift_store_project_name',
               deprecated_for_removal=True, deprecated_reason=_USE_REFERENCES,
               help=_help(_("Project name."))),
    cfg.StrOpt('swift_store_project_id',
               deprecated_for_removal=True, deprecated_reason=_USE_REFERENCES,
               help=_help(_("Project ID."))),
    cfg.StrOpt('swift_store_config_file',
               help=_help(_("File of named Swift credential "
                            "references."))),
    cfg.StrOpt('swift_upload_buffer_dir',
               help=_help(_("Directory segments are buffered in."))),
]

swiftclient = None


def _stand_in(class_name):
    return _unavailable.unavailable_store_class(
        'swift', __name__, class_name, options=_SWIFT_OPTS)


Store = _stand_in('Store')
BaseStore = _stand_in('BaseStore')
SingleTenantStore = _stand_in('SingleTenantStore')
MultiTenantStore = _stand_in('MultiTenantStore')
