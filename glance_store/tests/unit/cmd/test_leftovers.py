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

"""Tests of the tool's leftovers: finding, aborting, lifecycle rules.

Against moto's S3 server (real requests, real paginators); a Stubber for
the answers moto never gives (no lifecycle support, failed aborts).
"""

import datetime
from unittest import mock
import uuid

from botocore import exceptions as boto_exc
from botocore import stub

from glance_store.cmd.s3_check import leftovers
from glance_store.tests import base
from glance_store.tests.unit.s3 import fixtures as fx

MiB = 1024 * 1024
LATER = datetime.timedelta(hours=1)


def _now_plus(delta):
    return datetime.datetime.now(datetime.timezone.utc) + delta


class TestAge(base.StoreBaseTest):

    def test_ages(self):
        table = {
            '0': datetime.timedelta(0),
            '90m': datetime.timedelta(minutes=90),
            '24h': datetime.timedelta(hours=24),
            '7d': datetime.timedelta(days=7),
            '2w': datetime.timedelta(weeks=2),
            '30s': datetime.timedelta(seconds=30),
            '12H': datetime.timedelta(hours=12),
        }
        for text, expected in table.items():
            self.assertEqual(expected, leftovers.parse_age(text), text)

    def test_bad_ages(self):
        for text in ('', '5', '-1h', '1y', 'h', '1.5h', None):
            self.assertRaises(ValueError, leftovers.parse_age, text)

    def test_image_keys(self):
        self.assertTrue(leftovers.is_image_key(str(uuid.uuid4())))
        self.assertTrue(leftovers.is_image_key(str(uuid.uuid4()).upper()))
        for key in ('notes.txt', 'glance-store-s3-check/abc/small', '',
                    None, str(uuid.uuid4()) + '.bak',
                    'dir/' + str(uuid.uuid4())):
            self.assertFalse(leftovers.is_image_key(key), key)


class MotoBucket(fx.MotoServerMixin, base.StoreBaseTest):

    def setUp(self):
        super().setUp()
        self.client = self.moto.client()
        self.bucket = 'leftovers'
        self.client.create_bucket(Bucket=self.bucket)

    def start_upload(self, key, parts=2):
        return fx.start_upload(self.client, self.bucket, key, parts)

    def initiated(self):
        """When moto says the uploads started (it uses a fixed date)."""
        resp = self.client.list_multipart_uploads(Bucket=self.bucket)
        return resp['Uploads'][0]['Initiated']

    def open_uploads(self):
        resp = self.client.list_multipart_uploads(Bucket=self.bucket)
        return sorted((u['Key'], u['UploadId'])
                      for u in resp.get('Uploads', []))


class TestFindAndAbort(MotoBucket):

    def test_lists_image_uploads_with_parts_and_bytes(self):
        image = str(uuid.uuid4())
        upload_id = self.start_upload(image, parts=2)
        self.start_upload('shared/other-tool-object', parts=1)
        found = leftovers.find_leftovers(self.client, self.bucket,
                                         datetime.timedelta(0),
                                         now=_now_plus(LATER))
        self.assertEqual([(image, upload_id, 2, 10 * MiB)],
                         [(f.key, f.upload_id, f.parts, f.bytes)
                          for f in found])
        self.assertEqual({'key', 'upload_id', 'initiated', 'parts',
                          'bytes'}, set(found[0].as_dict()))

    def test_age_cut_off(self):
        self.start_upload(str(uuid.uuid4()), parts=1)
        now = self.initiated() + LATER
        self.assertEqual([], leftovers.find_leftovers(
            self.client, self.bucket, datetime.timedelta(days=1), now=now))
        self.assertEqual(1, len(leftovers.find_leftovers(
            self.client, self.bucket, datetime.timedelta(minutes=59),
            now=now)))

    def test_paginates_uploads_and_parts(self):
        a, b = sorted(str(uuid.uuid4()) for _ in range(2))
        then = _now_plus(-LATER)
        stubber = stub.Stubber(self.client)
        stubber.add_response(
            'list_multipart_uploads',
            {'IsTruncated': True, 'NextKeyMarker': a,
             'NextUploadIdMarker': 'ua',
             'Uploads': [{'Key': a, 'UploadId': 'ua', 'Initiated': then}]},
            {'Bucket': self.bucket})
        stubber.add_response(
            'list_parts',
            {'IsTruncated': True, 'NextPartNumberMarker': 1,
             'Parts': [{'PartNumber': 1, 'Size': 5 * MiB}]},
            {'Bucket': self.bucket, 'Key': a, 'UploadId': 'ua'})
        stubber.add_response(
            'list_parts',
            {'IsTruncated': False,
             'Parts': [{'PartNumber': 2, 'Size': 3}]},
            {'Bucket': self.bucket, 'Key': a, 'UploadId': 'ua',
             'PartNumberMarker': 1})
        stubber.add_response(
            'list_multipart_uploads',
            {'IsTruncated': False,
             'Uploads': [{'Key': b, 'UploadId': 'ub', 'Initiated': then},
                         {'Key': 'other', 'UploadId': 'uo',
                          'Initiated': then}]},
            {'Bucket': self.bucket, 'KeyMarker': a,
             'UploadIdMarker': 'ua'})
        stubber.add_response(
            'list_parts', {'IsTruncated': False, 'Parts': []},
            {'Bucket': self.bucket, 'Key': b, 'UploadId': 'ub'})
        with stubber:
            found = leftovers.find_leftovers(self.client, self.bucket,
                                             datetime.timedelta(0))
            stubber.assert_no_pending_responses()
        self.assertEqual([(a, 'ua', 2, 5 * MiB + 3), (b, 'ub', 0, 0)],
                         sorted((f.key, f.upload_id, f.parts, f.bytes)
                                for f in found))

    def test_abort_frees_image_uploads_only(self):
        image = str(uuid.uuid4())
        self.start_upload(image, parts=1)
        other_id = self.start_upload('backups/db.tar', parts=1)
        found = leftovers.find_leftovers(self.client, self.bucket,
                                         datetime.timedelta(0),
                                         now=_now_plus(LATER))
        outcomes = leftovers.abort(self.client, self.bucket, found)
        self.assertEqual([(image, True, None)],
                         [(o.leftover.key, o.aborted, o.error)
                          for o in outcomes])
        self.assertEqual([('backups/db.tar', other_id)],
                         self.open_uploads())
        self.assertEqual([], leftovers.find_leftovers(
            self.client, self.bucket, datetime.timedelta(0),
            now=_now_plus(LATER)))

    def test_abort_of_a_vanished_upload_counts_as_done(self):
        gone = leftovers.Leftover(str(uuid.uuid4()), 'no-such-upload',
                                  _now_plus(-LATER))
        stubber = stub.Stubber(self.client)
        stubber.add_client_error('abort_multipart_upload', 'NoSuchUpload',
                                 http_status_code=404)
        with stubber:
            outcomes = leftovers.abort(self.client, self.bucket, [gone])
        self.assertEqual([True], [o.aborted for o in outcomes])

    def test_abort_failures_say_why(self):
        images = [leftovers.Leftover(str(uuid.uuid4()), 'u%d' % i,
                                     _now_plus(-LATER)) for i in range(3)]
        calls = iter([
            boto_exc.ClientError({'Error': {'Code': 'AccessDenied',
                                            'Message': 'Access Denied'}},
                                 'AbortMultipartUpload'),
            {},
            boto_exc.EndpointConnectionError(endpoint_url='http://s3.test'),
        ])

        def fake_abort(**kwargs):
            result = next(calls)
            if isinstance(result, Exception):
                raise result
            return result

        with mock.patch.object(self.client, 'abort_multipart_upload',
                               side_effect=fake_abort):
            outcomes = leftovers.abort(self.client, self.bucket, images)
        self.assertEqual([False, True, False],
                         [o.aborted for o in outcomes])
        self.assertIn('AccessDenied', outcomes[0].error)
        self.assertIn('http://s3.test', outcomes[2].error)

    def test_upload_finished_while_listing_is_skipped(self):
        image = str(uuid.uuid4())
        self.start_upload(image, parts=1)
        error = boto_exc.ClientError({'Error': {'Code': 'NoSuchUpload'}},
                                     'ListParts')
        with mock.patch.object(leftovers, 'held_by', side_effect=error):
            found = leftovers.find_leftovers(self.client, self.bucket,
                                             datetime.timedelta(0),
                                             now=_now_plus(LATER))
        self.assertEqual([], found)


class TestLifecycle(MotoBucket):

    def test_no_lifecycle(self):
        status = leftovers.lifecycle_status(self.client, self.bucket)
        self.assertTrue(status.supported)
        self.assertEqual((), status.rules)
        self.assertIsNone(status.whole_bucket_days)

    def test_apply_keeps_existing_rules(self):
        expire_logs = {'ID': 'expire-logs', 'Status': 'Enabled',
                       'Filter': {'Prefix': 'logs/'},
                       'Expiration': {'Days': 30}}
        self.client.put_bucket_lifecycle_configuration(
            Bucket=self.bucket,
            LifecycleConfiguration={'Rules': [expire_logs]})
        written = leftovers.apply_abort_rule(self.client, self.bucket, 3)
        self.assertEqual(['expire-logs', leftovers.LIFECYCLE_RULE_ID],
                         [r['ID'] for r in written])
        status = leftovers.lifecycle_status(self.client, self.bucket)
        self.assertEqual({'expire-logs', leftovers.LIFECYCLE_RULE_ID},
                         {r['ID'] for r in status.rules})
        self.assertEqual(3, status.whole_bucket_days)

    def test_apply_twice_replaces_our_rule(self):
        leftovers.apply_abort_rule(self.client, self.bucket, 7)
        leftovers.apply_abort_rule(self.client, self.bucket, 2)
        status = leftovers.lifecycle_status(self.client, self.bucket)
        self.assertEqual(1, len(status.rules))
        self.assertEqual(2, status.whole_bucket_days)

    def test_sends_content_md5(self):
        sent = []
        self.client.meta.events.register(
            'before-send.s3.PutBucketLifecycleConfiguration',
            lambda request, **kw: sent.append(dict(request.headers)))
        leftovers.apply_abort_rule(self.client, self.bucket, 1)
        self.assertIn('Content-MD5', sent[0])

    def test_a_prefix_rule_does_not_cover_the_bucket(self):
        rule = {'ID': 'tmp', 'Status': 'Enabled',
                'Filter': {'Prefix': 'tmp/'},
                'AbortIncompleteMultipartUpload': {'DaysAfterInitiation': 1}}
        disabled = dict(leftovers.abort_rule(1), ID='off',
                        Status='Disabled')
        self.client.put_bucket_lifecycle_configuration(
            Bucket=self.bucket,
            LifecycleConfiguration={'Rules': [rule, disabled]})
        status = leftovers.lifecycle_status(self.client, self.bucket)
        self.assertEqual(['tmp'], [r['ID'] for r in status.abort_rules])
        self.assertIsNone(status.whole_bucket_days)

    def test_rule_needs_a_day(self):
        self.assertRaises(ValueError, leftovers.abort_rule, 0)
        self.assertEqual(
            {'ID': leftovers.LIFECYCLE_RULE_ID, 'Status': 'Enabled',
             'Filter': {'Prefix': ''},
             'AbortIncompleteMultipartUpload': {'DaysAfterInitiation': 5}},
            leftovers.abort_rule('5'))

    def test_unsupported_backend(self):
        stubber = stub.Stubber(self.client)
        stubber.add_client_error('get_bucket_lifecycle_configuration',
                                 'NotImplemented', 'not implemented',
                                 http_status_code=501)
        stubber.add_client_error('get_bucket_lifecycle_configuration',
                                 'NotImplemented', 'not implemented',
                                 http_status_code=501)
        with stubber:
            status = leftovers.lifecycle_status(self.client, self.bucket)
            error = self.assertRaises(leftovers.LifecycleUnsupported,
                                      leftovers.apply_abort_rule,
                                      self.client, self.bucket, 1)
        self.assertFalse(status.supported)
        self.assertIn('does not support bucket lifecycle', status.error)
        self.assertIn('--stale-uploads --abort', str(error))

    def test_put_refused_as_unsupported(self):
        stubber = stub.Stubber(self.client)
        stubber.add_client_error('get_bucket_lifecycle_configuration',
                                 'NoSuchLifecycleConfiguration',
                                 http_status_code=404)
        stubber.add_client_error('put_bucket_lifecycle_configuration',
                                 'MethodNotAllowed', http_status_code=405)
        with stubber:
            self.assertRaises(leftovers.LifecycleUnsupported,
                              leftovers.apply_abort_rule,
                              self.client, self.bucket, 1)

    def test_other_errors_are_raised(self):
        stubber = stub.Stubber(self.client)
        stubber.add_client_error('get_bucket_lifecycle_configuration',
                                 'AccessDenied', http_status_code=403)
        with stubber:
            self.assertRaises(boto_exc.ClientError,
                              leftovers.lifecycle_status,
                              self.client, self.bucket)
