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

"""tools/s3_servers.py: the helpers its starters and commands share.

Starting the servers themselves is what ``tox -e functional-s3`` does.
"""

import json
import os

import fixtures
from oslotest import base

from glance_store.tests.unit import tools  # noqa: F401  (sys.path)

import s3_servers  # noqa: E402,I100  (tools/s3_servers.py)


class TestStarted(base.BaseTestCase):

    def setUp(self):
        super().setUp()
        self.stop = self.useFixture(fixtures.MockPatchObject(
            s3_servers, 'stop_pids')).mock

    def info(self):
        return {'pids': [1, 2, 3], 'pid_start_times': {'1': 10}}

    def test_success_times_the_start(self):
        info = s3_servers._started(self.info(), lambda: None, 5.0, 2.0)
        self.assertEqual([1, 2, 3], info['pids'])
        self.assertEqual(3.0, info['venv_seconds'])
        self.assertIn('start_seconds', info)
        self.stop.assert_not_called()

    def test_newest_first_without_venv(self):
        info = s3_servers._started(self.info(), lambda: None, 5.0,
                                   newest_first=True)
        self.assertEqual([3, 2, 1], info['pids'])
        self.assertNotIn('venv_seconds', info)

    def test_failure_stops_the_processes(self):
        def wait():
            raise s3_servers.StartError('no answer', [])

        for newest_first, order in ((False, [1, 2, 3]), (True, [3, 2, 1])):
            self.stop.reset_mock()
            self.assertRaises(s3_servers.StartError, s3_servers._started,
                              self.info(), wait, 0, newest_first=newest_first)
            self.stop.assert_called_once_with(order, {'1': 10})


class TestStartedServers(base.BaseTestCase):

    def test_not_run_under_s3_servers(self):
        self.useFixture(fixtures.EnvironmentVariable('GS_FUNC_SERVERS'))
        e = self.assertRaises(KeyError, s3_servers.started_servers,
                              ('rgw', 'moto'), KeyError)
        self.assertIn('run --servers rgw,moto', str(e))

    def test_reads_the_file_and_names_what_lacks(self):
        path = os.path.join(self.useFixture(fixtures.TempDir()).path, 's')
        with open(path, 'w') as f:
            json.dump({'rgw': {'kind': 'rgw'}}, f)
        self.useFixture(fixtures.EnvironmentVariable('GS_FUNC_SERVERS', path))
        self.assertEqual({'kind': 'rgw'},
                         s3_servers.started_servers(('rgw',))['rgw'])
        e = self.assertRaises(s3_servers.StartError,
                              s3_servers.started_servers, ('rgw', 'moto'))
        self.assertIn('lacks moto', str(e))
