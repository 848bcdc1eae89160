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

"""Leftover multipart uploads on real servers (Ceph RGW and LocalStack).

A child process uploads a multipart image through the store and is
killed with SIGKILL once a part has landed: the store cannot abort, the
upload stays open.  ``glance-store-s3-check --stale-uploads`` (run as a
subprocess, as an operator runs it) lists it, ``--abort`` removes it and
leaves the upload of a key that is not an image id alone, and
``--apply-lifecycle`` sets the rule that makes the backend do it.

What each backend did with the lifecycle rule is appended to the figures
file of ``leftovers_helpers``.
"""

import json
import os
import signal
import uuid

import fixtures
import testtools

from glance_store.cmd.s3_check import leftovers as s3_leftovers
from glance_store.tests.functional import leftovers_helpers as lh
from glance_store.tests.functional import servers

MiB = 1024 * 1024


class LeftoversTestBase(object):
    """The kill test and the stale-uploads mode against one server."""

    kind = None

    def setUp(self):
        super().setUp()
        self.server = servers.get_server(self.kind)
        self.admin = servers.client(
            self.server, 'http', request_checksum_calculation='when_required',
            response_checksum_validation='when_required')
        self.bucket = servers.unique_bucket('gs-leftovers')
        self.admin.create_bucket(Bucket=self.bucket)
        self.addCleanup(servers.delete_bucket, self.admin, self.bucket)
        self.addCleanup(self._delete_lifecycle)
        tmp = self.useFixture(fixtures.TempDir()).path
        self.conf_path = os.path.join(tmp, 'glance-api.conf')
        with open(self.conf_path, 'w') as f:
            f.write(lh.store_conf(self.server, self.bucket))

    def _delete_lifecycle(self):
        try:
            self.admin.delete_bucket_lifecycle(Bucket=self.bucket)
        except Exception:
            pass

    def kill_mid_upload(self, key):
        child = lh.start_child({'server': self.server,
                                'bucket': self.bucket, 'key': key,
                                'size': 12 * MiB, 'known_size': True,
                                'stall_after': 6 * MiB})
        try:
            upload_id = lh.wait_for_part(self.admin, self.bucket, key,
                                         child)
        finally:
            child.send_signal(signal.SIGKILL)
            child.communicate(timeout=30)
        self.assertEqual(-signal.SIGKILL, child.returncode)
        return upload_id

    def test_killed_upload_is_found_and_aborted(self):
        image = str(uuid.uuid4())
        upload_id = self.kill_mid_upload(image)
        # The leftover exists: the store could not abort it.
        self.assertIn((image, upload_id),
                      servers.list_open_uploads(self.admin, self.bucket))
        other = 'shared/not-an-image.bin'
        other_id = self.admin.create_multipart_upload(
            Bucket=self.bucket, Key=other)['UploadId']

        run = lh.run_tool(self, self.conf_path, '--stale-uploads',
                          '--older-than', '0', '--format', 'json')
        self.assertEqual(1, run.code, run)
        self.assertEqual([(image, upload_id)],
                         [(u['key'], u['upload_id'])
                          for u in run.doc['uploads']], run)
        self.assertGreaterEqual(run.doc['uploads'][0]['parts'], 1)
        self.assertGreaterEqual(run.doc['uploads'][0]['bytes'], 5 * MiB)

        run = lh.run_tool(self, self.conf_path, '--stale-uploads',
                          '--older-than', '0', '--abort')
        self.assertEqual(0, run.code, run)
        self.assertIn('aborted: 1 uploads', run.out)
        self.assertEqual([(other, other_id)],
                         servers.list_open_uploads(self.admin, self.bucket))
        self.assertNotIn(image, servers.list_keys(self.admin, self.bucket))

        run = lh.run_tool(self, self.conf_path, '--stale-uploads',
                          '--older-than', '0')
        self.assertEqual(0, run.code, run)

    def test_default_age_keeps_fresh_uploads(self):
        image = str(uuid.uuid4())
        self.admin.create_multipart_upload(Bucket=self.bucket, Key=image)
        run = lh.run_tool(self, self.conf_path, '--stale-uploads', '--abort')
        self.assertEqual(0, run.code, run)
        self.assertEqual([image], [k for k, _ in servers.list_open_uploads(
            self.admin, self.bucket)])

    def test_apply_lifecycle(self):
        before = lh.run_tool(self, self.conf_path, '--stale-uploads',
                             '--format', 'json')
        self.assertEqual(0, before.code, before)
        lifecycle = before.doc['lifecycle']
        lh.record('%s lifecycle before: supported=%s rules=%s' % (
            self.kind, lifecycle['supported'], lifecycle['abort_rules']))
        run = lh.run_tool(self, self.conf_path, '--stale-uploads',
                          '--apply-lifecycle', '3', '--format', 'json')
        lifecycle = run.doc['lifecycle']
        lh.record('%s --apply-lifecycle 3: exit %s, whole_bucket_days=%s, '
                  'error=%s' % (self.kind, run.code,
                                lifecycle['whole_bucket_days'],
                                lifecycle['error']))
        self.assertEqual(0, run.code, run)
        self.assertEqual(3, lifecycle['whole_bucket_days'], run)
        rules = self.admin.get_bucket_lifecycle_configuration(
            Bucket=self.bucket)['Rules']
        ours = [r for r in rules if r['ID'] == s3_leftovers.LIFECYCLE_RULE_ID]
        lh.record('%s reports back: %s' % (self.kind, json.dumps(
            ours, sort_keys=True)))
        self.assertEqual(
            [{'DaysAfterInitiation': 3}],
            [r['AbortIncompleteMultipartUpload'] for r in ours])


class TestLeftoversRGW(LeftoversTestBase, testtools.TestCase):
    kind = 'rgw'


class TestLeftoversLocalStack(LeftoversTestBase, testtools.TestCase):
    kind = 'localstack'
