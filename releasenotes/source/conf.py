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

"""Sphinx configuration of the glance_store release notes.

reno reads the notes from the git history: a note must be committed to
appear. The build needs no network access.
"""

extensions = [
    'reno.sphinxext',
]

try:
    import openstackdocstheme  # noqa: F401
except ImportError:
    _THEME = 'alabaster'
else:
    extensions.append('openstackdocstheme')
    _THEME = 'openstackdocs'

# openstackdocstheme
openstackdocs_repo_name = 'openstack/glance_store'
openstackdocs_bug_project = 'glance-store'
openstackdocs_bug_tag = 'releasenotes'
openstackdocs_auto_name = False

project = 'glance_store Release Notes'
copyright = '2025, the glance_store S3 project contributors'

source_suffix = '.rst'
master_doc = 'index'
exclude_patterns = []
pygments_style = 'native'

# Release notes are not versioned like the library.
version = ''
release = ''

html_theme = _THEME
htmlhelp_basename = 'GlanceStoreReleaseNotesdoc'
