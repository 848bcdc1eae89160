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

"""Options of this project's tempest plugin (``[glance_store_tests]``)."""

from oslo_config import cfg

group = cfg.OptGroup(
    name='glance_store_tests',
    title="glance_store's S3 store scenarios",
    help='How the tempest plugin of glance_store finds and sizes its '
         'images.')

opts = [
    cfg.IntOpt('large_object_size', default=5 * 1024 * 1024, min=1,
               help='Multipart threshold of the S3 backends under test, in '
                    'bytes (their s3_store_large_object_size, which is '
                    'given in MB). Images below it are stored with one '
                    'PutObject, images above it with a multipart upload.'),
    cfg.ListOpt('store_types', default=['s3'],
                help='Store types (the "type" field of '
                     'GET /v2/info/stores/detail) whose backends the '
                     'scenarios run on.'),
    cfg.DictOpt('fallback_store_types', default={},
                help='Store id to store type, used only when '
                     'GET /v2/info/stores/detail answers with an error '
                     '(test_stores_detail fails in that case all the '
                     'same), e.g. "rgw:s3,local:file,web:http".'),
    cfg.IntOpt('copy_timeout', default=300, min=1,
               help='Seconds to wait for an import or copy-image task to '
                    'reach every requested store.'),
]
