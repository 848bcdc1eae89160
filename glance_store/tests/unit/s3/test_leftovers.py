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

"""Tests of s3_leftovers: the store's start-up warning.

The tool's finding, aborting and lifecycle code is tested in
``tests/unit/cmd/test_leftovers.py``.
"""

import datetime
import http.server
import threading
import time
from unittest import mock
import uuid

from botocore import exceptions as boto_exc
import fixtures

from glance_store._drivers import s3_leftovers as leftovers
from glance_store.tests import base
from glance_store.tests.unit.s3 import fixtures as fx

LATER = datetime.timedelta(hours=1)
EMPTY_LISTING = (b'<?xml version="1.0" encoding="UTF-8"?>'
                 b'<ListMultipartUploadsResult xmlns="http://s3.amazonaws'
                 b'.com/doc/2006-03-01/"><Bucket>b</Bucket><IsTruncated>'
                 b'false</IsTruncated></ListMultipartUploadsResult>')


def _now_plus(delta):
    return datetime.datetime.now(datetime.timezone.utc) + delta


class TestStartupWarning(fx.MotoServerMixin, base.StoreBaseTest):

    def setUp(self):
        super().setUp()
        self.client = self.moto.client()
        self.bucket = 'leftovers'
        self.client.create_bucket(Bucket=self.bucket)
        self.log = self.useFixture(fixtures.FakeLogger(
            name='glance_store._drivers.s3_leftovers'))

    def configure(self, check=True):
        return fx.configure_store(self, s3_store_host=self.moto.url,
                                  s3_store_bucket=self.bucket,
                                  s3_store_check_stale_uploads=check)

    def test_warns_at_start_up_naming_the_command(self):
        fx.start_upload(self.client, self.bucket, str(uuid.uuid4()), 1)
        fx.start_upload(self.client, self.bucket, 'not-an-image', 1)
        with mock.patch.object(leftovers, 'now',
                               return_value=_now_plus(100 * 365 * 24 *
                                                      LATER)):
            self.configure()
        self.assertIn('holds 1 incomplete multipart upload', self.log.output)
        self.assertIn('glance-store-s3-check --config-file', self.log.output)
        self.assertIn('--stale-uploads --abort', self.log.output)
        self.assertNotIn(fx.SECRET_KEY, self.log.output)

    def test_option_off_skips_the_listing(self):
        fx.start_upload(self.client, self.bucket, str(uuid.uuid4()), 1)
        with mock.patch.object(leftovers, 'now',
                               return_value=_now_plus(100 * 365 * 24 *
                                                      LATER)):
            self.configure(check=False)
        self.assertNotIn('incomplete multipart', self.log.output)

    def test_recent_uploads_are_not_reported(self):
        fx.start_upload(self.client, self.bucket, str(uuid.uuid4()), 1)
        initiated = self.client.list_multipart_uploads(
            Bucket=self.bucket)['Uploads'][0]['Initiated']
        with mock.patch.object(leftovers, 'now',
                               return_value=leftovers.aware(initiated) +
                               LATER):
            self.configure()
        self.assertNotIn('incomplete multipart', self.log.output)

    def test_one_listing_call(self):
        calls = []
        client = mock.Mock()
        client.list_multipart_uploads.side_effect = (
            lambda **kw: calls.append(kw) or {
                'IsTruncated': True,
                'Uploads': [{'Key': str(uuid.uuid4()), 'UploadId': 'u',
                             'Initiated': _now_plus(-30 * LATER)}]})
        count = leftovers.check_stale(client, 'b', 'ceph', 'ceph')
        self.assertEqual(1, count)
        self.assertEqual([{'Bucket': 'b',
                           'MaxUploads': leftovers.STARTUP_MAX_UPLOADS}],
                         calls)
        self.assertIn('at least 1', self.log.output)
        self.assertIn('--backend ceph', self.log.output)

    def test_listing_errors_are_only_debug(self):
        client = mock.Mock()
        client.list_multipart_uploads.side_effect = (
            boto_exc.EndpointConnectionError(endpoint_url='http://x'))
        self.assertIsNone(leftovers.check_stale(client, 'b', 's'))
        self.assertNotIn('WARNING', self.log.output)

    def test_image_keys(self):
        self.assertTrue(leftovers.is_image_key(str(uuid.uuid4())))
        self.assertTrue(leftovers.is_image_key(str(uuid.uuid4()).upper()))
        for key in ('notes.txt', 'glance-store-s3-check/abc/small', '',
                    None, str(uuid.uuid4()) + '.bak',
                    'dir/' + str(uuid.uuid4())):
            self.assertFalse(leftovers.is_image_key(key), key)


class _Counting(http.server.BaseHTTPRequestHandler):
    """Counts connections and requests; answers an empty listing.

    When the server is told to hang it answers nothing.
    """

    protocol_version = 'HTTP/1.1'

    def setup(self):
        super().setup()
        self.server.connections += 1

    def do_GET(self):
        self.server.requests.append(self.path)
        if self.server.hang:
            self.server.release.wait(60)
            return
        self.send_response(200)
        self.send_header('Content-Type', 'application/xml')
        self.send_header('Content-Length', str(len(EMPTY_LISTING)))
        self.end_headers()
        self.wfile.write(EMPTY_LISTING)

    def log_message(self, *args):
        pass


class TestStartupCost(base.StoreBaseTest):
    """Configuring a backend: one bounded listing, no thread.

    Nothing else goes on the network.
    """

    def setUp(self):
        super().setUp()
        # One thread serves the connections in turn: the threads the
        # store would start are the only new ones.
        self.server = http.server.HTTPServer(('127.0.0.1', 0), _Counting)
        self.server.connections = 0
        self.server.requests = []
        self.server.hang = False
        self.server.release = threading.Event()
        thread = threading.Thread(target=self.server.serve_forever,
                                  kwargs={'poll_interval': 0.05},
                                  daemon=True)
        thread.start()
        self.addCleanup(self.server.server_close)
        self.addCleanup(self.server.shutdown)
        self.addCleanup(self.server.release.set)

    def configure(self, check):
        return fx.configure_store(
            self, re_raise_bsc=True,
            s3_store_host='http://127.0.0.1:%d' % self.server.server_port,
            s3_store_bucket_url_format='path',
            s3_store_check_stale_uploads=check)

    def test_one_connection_and_no_thread(self):
        before = set(threading.enumerate())
        self.configure(check=True)
        self.assertEqual(before, set(threading.enumerate()))
        self.assertEqual(1, self.server.connections)
        self.assertEqual(1, len(self.server.requests))
        self.assertIn('uploads', self.server.requests[0])

    def test_no_connection_with_the_option_off(self):
        before = set(threading.enumerate())
        self.configure(check=False)
        self.assertEqual(before, set(threading.enumerate()))
        self.assertEqual(0, self.server.connections)

    def test_a_backend_that_never_answers_holds_start_up_briefly(self):
        self.server.hang = True
        started = time.monotonic()
        store = self.configure(check=True)
        elapsed = time.monotonic() - started
        # One read timeout, with room for building two clients on a busy
        # machine; the server would hold the request for a minute.
        self.assertLess(elapsed, leftovers.STARTUP_TIMEOUT + 8)
        self.assertEqual(1, len(self.server.requests))
        self.assertIsNotNone(store.client)
