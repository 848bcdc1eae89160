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

"""The version every build reports (setup.cfg, setup.py and pbr).

Glance 33 requires ``glance-store>=5.3.0``; upstream's newest release is
5.7.0. A build without ``PBR_VERSION`` (the tox environments set none)
must report setup.cfg's version, a final release above both.
"""

import configparser
from importlib import metadata
import os
import re

from oslotest import base

import glance_store

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(
    glance_store.__file__)))
GLANCE_33_MINIMUM = (5, 3, 0)
UPSTREAM_NEWEST = (5, 7, 0)


def setup_cfg_version():
    parser = configparser.RawConfigParser()
    if not parser.read(os.path.join(ROOT, 'setup.cfg')):
        return None
    return parser.get('metadata', 'version', fallback=None)


class TestVersion(base.BaseTestCase):

    def setUp(self):
        super(TestVersion, self).setUp()
        self.version = setup_cfg_version()
        if self.version is None and not os.path.exists(
                os.path.join(ROOT, 'setup.py')):
            self.skipTest('not a source tree (no setup.cfg)')

    def test_setup_cfg_has_a_final_release_version(self):
        self.assertIsNotNone(self.version, 'setup.cfg [metadata] version')
        self.assertRegex(self.version, r'^\d+\.\d+\.\d+$')

    def test_above_what_glance_requires_and_upstream_newest(self):
        numbers = tuple(int(n) for n in re.findall(r'\d+', self.version))
        self.assertGreaterEqual(numbers, GLANCE_33_MINIMUM)
        self.assertGreater(numbers, UPSTREAM_NEWEST)

    def test_installed_metadata_has_it(self):
        # The tox environment's build of this tree, without PBR_VERSION:
        # pbr alone would have made 0.0.1.devN or X.Y.Z.devN of it.
        self.assertEqual(self.version, metadata.version('glance_store'))
