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

* ``model``: configurations, results (``StaleResult`` too), the exit
  codes; the redactor is the driver's ``s3_redact.Redactor``;
* ``backends``: the S3 backends of a Glance configuration;
* ``leftovers``: incomplete multipart uploads (find, abort) and the
  bucket lifecycle rule, on a store's ``client`` and ``settings``;
* ``probe``: the checks of one backend, through the S3 store's public
  surface (``Store.settings``, ``Store.client``, ``Store.ensure_bucket``,
  ``Store.derive``) and ``s3_client``;
* ``report``: ranking, recommendation, table and JSON, and the
  stale-uploads report;
* ``stale``: the ``--stale-uploads`` mode (returns data);
* ``embedded``: the ``--embedded`` mode and ``EmbeddedServer`` (moto in
  this process, also the unit tests' S3 server);
* ``cli``: arguments, exit codes; the only module that prints.
"""
