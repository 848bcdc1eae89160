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

"""The key search every functional S3 test runs (``NoKeyInLogs``).

It must find a key that escaped the store's redaction, whatever logger
and level, in the message, the arguments or a traceback; and it must
leave the test's own log capture as it was.
"""

import logging

import fixtures
import testtools

from glance_store.tests.functional import s3_store_helpers as helpers

# Access keys below 16 characters are masked only where they are a
# credential: written freely, they pass the redaction (by design), which
# is what lets this test see the search at work.
ACCESS = 'scanAccess01'
SECRET = 'scanSecretKey0123456789abcdefghijklmnopq'
SERVERS = {'fake': {'access_key': ACCESS, 'secret_key': SECRET},
           'cafile': '/not/a/server'}


class TestNoKeyInLogs(testtools.TestCase):

    def _scan(self):
        scan = helpers.NoKeyInLogs(SERVERS)
        scan.setUp()
        return scan

    def _finish(self, scan):
        return self.assertRaises(AssertionError, scan.cleanUp)

    def test_key_in_a_debug_message_is_found(self):
        scan = self._scan()
        logging.getLogger('botocore.endpoint').debug('sent %s', ACCESS)
        e = self._finish(scan)
        self.assertIn('botocore.endpoint', str(e))
        self.assertNotIn(ACCESS, str(e))

    def test_key_in_a_traceback_is_found(self):
        scan = self._scan()
        try:
            raise ValueError('body: <Owner>%s</Owner>' % ACCESS)
        except ValueError:
            logging.getLogger('urllib3.x').debug('failed', exc_info=True)
        self._finish(scan)

    def test_redacted_secret_is_not_a_finding(self):
        scan = self._scan()
        logging.getLogger('botocore.auth').debug('key %s', SECRET)
        scan.cleanUp()
        self.assertEqual([], scan.found)

    def test_capture_keeps_its_level(self):
        root = logging.getLogger()
        self.addCleanup(root.setLevel, root.level)
        root.setLevel(logging.WARNING)
        capture = self.useFixture(fixtures.FakeLogger(level=None))
        scan = self._scan()
        logging.getLogger('botocore.endpoint').debug('a body, not kept')
        logging.getLogger('glance_store').warning('kept')
        scan.cleanUp()
        self.assertEqual('kept\n', capture.output)
        self.assertEqual(logging.WARNING, root.level)

    def test_records_below_a_module_capture_are_searched(self):
        # The modules that read the driver's log at INFO capture with
        # LogCapture: the driver's DEBUG records are still made, and
        # searched, but not kept.
        scan = self._scan()
        capture = helpers.LogCapture()
        capture.setUp()
        driver = logging.getLogger(helpers.DRIVER_LOGGER + '.s3')
        driver.debug('part sent with %s', ACCESS)
        driver.info('kept')
        capture.cleanUp()
        self.assertEqual('kept\n', capture.output)
        e = self._finish(scan)
        self.assertIn(helpers.DRIVER_LOGGER + '.s3', str(e))
