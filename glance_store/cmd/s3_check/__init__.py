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

"""glance-store-s3-check: which checksum settings an S3 backend accepts.

Layers, each importing only those above it:

* ``model``: configurations, results, exit codes, redaction;
* ``backends``: the S3 backends of a Glance configuration;
* ``probe``: the checks of one backend, through the S3 store's public
  surface (``Store.settings``, ``Store.client``, ``Store.ensure_bucket``);
* ``report``: ranking, recommendation, table and JSON;
* ``embedded``: the ``--embedded`` mode (a local S3 server);
* ``cli``: arguments, exit codes; the only module that prints.
"""
