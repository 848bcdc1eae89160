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

from glance_store._drivers import s3_leftovers

# Unit tests configure S3 stores on hosts where nothing listens: the
# store's start-up listing of stale uploads is off here (its own tests
# turn it on).
s3_leftovers.STARTUP_CHECK_ENABLED = False
