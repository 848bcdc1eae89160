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

from glance_store._drivers import _unavailable

rados = None
rbd = None

Store = _unavailable.unavailable_store_class('rbd', __name__)
