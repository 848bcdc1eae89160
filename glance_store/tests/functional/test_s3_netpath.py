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

"""The S3 store over a real network path to Ceph RGW (see ``netpath``).

RGW runs in its own network namespace, the store (in a child process,
``upload_child``) and the operator tool in another, joined through a
third that delays, jitters and drops frames; tbf limits the rate.

* a shaped link (100 ms round trip: 50 ms +/- 5 ms each way, 1 % loss
  each way, 50 Mbit/s): single and multipart uploads of known and
  unknown size and their downloads stay byte-exact (md5, sha512);
* the link goes down for 5 s mid-multipart-upload and comes back: the
  upload completes, byte-exact;
* the link goes down for good: the upload fails within a bounded time
  with RemoteServiceUnavailable naming the endpoint, the log names the
  upload that could not be aborted, and once the link is back
  ``--stale-uploads --abort`` removes it.

The stores of the last two cases are configured with 4 s connect and read
timeouts (``s3_store_connect_timeout``, ``s3_store_read_timeout``; the
defaults are botocore's 60 s), so that a dead link shows within the
test's time.  Figures (throughput, botocore attempts, TCP
retransmissions, time to fail) go to the figures file of
``leftovers_helpers``.

Needs root and iproute2; skipped (with the reason) only when network
namespaces cannot be made and ``CI`` is not set.
"""

import os
import re
import threading
import time
import unittest
import uuid

import fixtures
import testtools

from glance_store.tests.functional import leftovers_helpers as lh
from glance_store.tests.functional import netpath
from glance_store.tests.functional import servers

MiB = 1024 * 1024
PART_MARKER = 'Started multipart upload'
SHORT_TIMEOUTS = {'s3_store_connect_timeout': 4, 's3_store_read_timeout': 4}


class _Stderr(object):
    """Reads a child's stderr in a thread; tells when a line shows up."""

    def __init__(self, child, marker):
        self.lines = []
        self.seen = threading.Event()
        self.marker = marker
        self.thread = threading.Thread(target=self._read, args=(child,),
                                       daemon=True)
        self.thread.start()

    def _read(self, child):
        for raw in child.stderr:
            line = raw.decode('utf-8', 'replace')
            self.lines.append(line)
            if self.marker in line:
                self.seen.set()

    def text(self):
        self.thread.join(30)
        return ''.join(self.lines)


class TestNetworkPath(testtools.TestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        reason = netpath.unavailable()
        if reason:
            if servers.in_ci():
                raise AssertionError('%s; CI is set, so this is a failure'
                                     % reason)
            raise unittest.SkipTest(reason)
        cls.path = netpath.NetPath()
        try:
            cls.path.setup()
            cls.rgw = cls.path.start_rgw()
        except BaseException:
            cls.path.teardown()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.path.teardown()
        super().tearDownClass()

    def setUp(self):
        super().setUp()
        self.bucket = servers.unique_bucket('gs-netpath')
        self.addCleanup(self.path.unshape)
        self.addCleanup(self.path.start_forwarder)
        self.addCleanup(self.path.link_up)
        tmp = self.useFixture(fixtures.TempDir()).path
        self.conf_path = os.path.join(tmp, 'glance-api.conf')
        with open(self.conf_path, 'w') as f:
            f.write(lh.store_conf(self.rgw, self.bucket))

    def job(self, size, known=True, **extra):
        job = {'server': self.rgw, 'bucket': self.bucket,
               'key': str(uuid.uuid4()), 'size': size, 'known_size': known,
               'overrides': {'s3_store_create_bucket_on_put': True}}
        job.update(extra)
        return job

    def client_child(self, job):
        return lh.start_child(job, prefix=self.path.prefix('client'))

    def assertByteExact(self, result, download=True):
        self.assertNotIn('error', result, result)
        self.assertEqual(result['sent_md5'], result['md5'], result)
        if download:
            self.assertEqual(result['sent_md5'], result['read_md5'], result)
            self.assertEqual(result['sent_sha512'], result['read_sha512'],
                             result)

    @staticmethod
    def retries(result):
        """botocore retries: attempts sent minus calls made."""
        return sum(sent - calls
                   for calls, sent in result['attempts'].values())

    def test_shaped_link_stays_byte_exact(self):
        self.path.start_forwarder(delay=0.05, jitter=0.005, loss=0.01)
        self.path.shape(50)
        cases = (('single, known size', 4 * MiB, True),
                 ('single, unknown size', 4 * MiB, False),
                 ('multipart, known size', 12 * MiB, True),
                 ('multipart, unknown size', 12 * MiB, False))
        for label, size, known in cases:
            before = self.path.tcp_counters()
            result, err = lh.child_result(self.client_child(
                self.job(size, known, download=True)))
            after = self.path.tcp_counters()
            self.addDetail(label, testtools.content.text_content(err))
            self.assertByteExact(result)
            self.assertEqual(size, result['size'])
            lh.record(
                'netpath shaped (RTT 100+/-10 ms, 1%% loss each way, 50 '
                'Mbit/s) %s %d MiB: upload %.1f Mbit/s, download %.1f '
                'Mbit/s, botocore retries %d, TCP segments retransmitted '
                '%d (client side)' % (
                    label, size // MiB,
                    size * 8 / 1e6 / result['upload_seconds'],
                    size * 8 / 1e6 / result['download_seconds'],
                    self.retries(result),
                    after['RetransSegs'] - before['RetransSegs']))
        stats = self.path.stop_forwarder()
        lh.record('netpath shaped: forwarder %s' % stats)
        self.assertGreater(stats['dropped'], 0, stats)

    def start_and_cut(self, size, **options):
        child = self.client_child(self.job(
            size, True, download=True, overrides={
                's3_store_create_bucket_on_put': True,
                's3_store_thread_pools': 2, **SHORT_TIMEOUTS, **options}))
        stderr = _Stderr(child, PART_MARKER)
        if not stderr.seen.wait(120):
            child.kill()
            self.fail('the multipart upload did not start: %s'
                      % stderr.text())
        time.sleep(0.5)
        self.path.link_down()
        return child, stderr

    def test_link_down_for_5s_mid_upload_completes(self):
        self.path.shape(20)
        before = self.path.tcp_counters()
        # botocore's standard mode allows 3 attempts; when the peer closes
        # the connection at once they can all fall inside the 5 s outage
        # (seen once in CI), so this backend allows 5, as an operator
        # does with the option.
        child, stderr = self.start_and_cut(12 * MiB,
                                           s3_store_retry_max_attempts=5)
        time.sleep(5)
        self.path.link_up()
        result, rest = lh.child_result(child)
        after = self.path.tcp_counters()
        self.addDetail('child log', testtools.content.text_content(
            stderr.text() + rest))
        self.assertByteExact(result)
        lh.record(
            'netpath link down 5 s mid-multipart (12 MiB, 20 Mbit/s, 4 s '
            'timeouts): completed in %.1f s, botocore retries %d (%s), TCP '
            'segments retransmitted %d' % (
                result['upload_seconds'], self.retries(result),
                result['attempts'],
                after['RetransSegs'] - before['RetransSegs']))

    def test_link_down_for_good_fails_then_tool_cleans(self):
        self.path.shape(20)
        child, stderr = self.start_and_cut(12 * MiB)
        result, rest = lh.child_result(child)
        # communicate() and the reader thread share the child's stderr.
        log = stderr.text() + rest
        self.addDetail('child log', testtools.content.text_content(log))
        self.assertEqual('RemoteServiceUnavailable',
                         result.get('error_class'), result)
        self.assertIn(self.rgw['http_endpoint'], result['error'])
        match = re.search(r'Could not abort multipart upload (\S+) of ',
                          log)
        self.assertIsNotNone(match, log)
        upload_id = match.group(1)
        lh.record('netpath link down for good (4 s timeouts, 3 attempts): '
                  'upload failed after %.1f s with %s; the log names upload '
                  '%s as not aborted' % (result['failed_after'],
                                         result['error_class'], upload_id))

        self.path.link_up()
        prefix = self.path.prefix('client')
        run = lh.run_tool(self, self.conf_path, '--stale-uploads',
                          '--older-than', '0', '--abort', '--format', 'json',
                          prefix=prefix)
        self.assertEqual(0, run.code, run)
        self.assertIn(upload_id, [u['upload_id']
                                  for u in run.doc['abort']['aborted']])
        run = lh.run_tool(self, self.conf_path, '--stale-uploads',
                          '--older-than', '0', prefix=prefix)
        self.assertEqual(0, run.code, run)
