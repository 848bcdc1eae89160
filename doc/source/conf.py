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

"""Sphinx configuration of the glance_store documentation.

The build needs no network access: no intersphinx, and the option
reference and the sample configuration files are generated from the
installed package's ``oslo.config.opts`` entry points.
"""

import os

_HERE = os.path.dirname(os.path.abspath(__file__))
_ETC = os.path.normpath(os.path.join(_HERE, '..', '..', 'etc'))

extensions = [
    'sphinx.ext.autodoc',
    'oslo_config.sphinxext',
    'oslo_config.sphinxconfiggen',
]

try:
    import openstackdocstheme  # noqa: F401
except ImportError:
    _THEME = 'alabaster'
else:
    extensions.append('openstackdocstheme')
    _THEME = 'openstackdocs'

# oslo_config.sphinxconfiggen: (generator config file, output base name
# relative to this directory); the outputs are .conf.sample files.
config_generator_config_file = [
    (os.path.join(_ETC, 'glance-store-config-generator.conf'),
     '_static/glance-store'),
    (os.path.join(_ETC, 'glance-multi-store-config-generator.conf'),
     '_static/glance-multi-store'),
]

# openstackdocstheme
openstackdocs_repo_name = 'openstack/glance_store'
openstackdocs_bug_project = 'glance-store'
openstackdocs_bug_tag = 'doc'
openstackdocs_auto_name = False

project = 'glance_store'
copyright = '2025, the glance_store S3 project contributors'

source_suffix = '.rst'
master_doc = 'index'
exclude_patterns = []
add_module_names = True
autodoc_member_order = 'bysource'
pygments_style = 'native'

html_theme = _THEME
htmlhelp_basename = 'glance_storedoc'

latex_documents = [
    ('index', 'doc-glance_store.tex', 'glance_store Documentation',
     'glance_store contributors', 'manual'),
]
