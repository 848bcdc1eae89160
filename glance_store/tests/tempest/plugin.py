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

"""Tempest plugin entry point: glance_store's S3 store scenarios."""

import os

from tempest import config
from tempest.test_discover import plugins

from glance_store.tests.tempest import config as plugin_config


class GlanceStoreTempestPlugin(plugins.TempestPlugin):
    """Registers the scenario tests and their option group."""

    def load_tests(self):
        """Where tempest discovers this plugin's tests.

        :returns: (directory of the tests, top-level directory of the
                  package that holds them)
        """
        here = os.path.dirname(os.path.abspath(__file__))
        # .../glance_store/tests/tempest -> the directory above glance_store
        top = os.path.dirname(os.path.dirname(os.path.dirname(here)))
        return os.path.join(here, 'tests'), top

    def register_opts(self, conf):
        """Register the plugin's options with tempest's configuration.

        :param conf: tempest's ``oslo.config`` object
        """
        config.register_opt_group(conf, plugin_config.group,
                                  plugin_config.opts)

    def get_opt_lists(self):
        """The plugin's options, for tempest's sample configuration.

        :returns: list of (group name, list of options)
        """
        return [(plugin_config.group.name, plugin_config.opts)]
