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

"""Image locations: a URI, parsed by the location class of its store.

``SCHEME_TO_CLS_MAP`` maps a scheme to the store serving it (single store);
``SCHEME_TO_CLS_BACKEND_MAP`` maps a scheme, then a backend name, to the
store serving it (multi store).  Each value is a dict with the keys
``store``, ``location_class`` and ``store_entry``.
"""

import logging
import urllib.parse

from oslo_config import cfg

from glance_store import exceptions
from glance_store.i18n import _

CONF = cfg.CONF
LOG = logging.getLogger(__name__)

SCHEME_TO_CLS_MAP = {}
SCHEME_TO_CLS_BACKEND_MAP = {}


def _scheme_of(uri):
    if not isinstance(uri, str):
        # urlparse() accepts bytes and None and returns a bytes scheme.
        raise exceptions.BadStoreUri(uri=repr(uri))
    try:
        return urllib.parse.urlparse(uri).scheme
    except (ValueError, AttributeError, TypeError):
        raise exceptions.BadStoreUri(uri='<unparseable>')


def get_location_from_uri(uri, conf=CONF):
    """A ``Location`` for ``uri`` from the single-store scheme map.

    Raises ``UnknownScheme`` when no store serves the scheme and
    ``BadStoreUri`` when the URI is malformed for that store.
    """
    scheme = _scheme_of(uri)
    if scheme not in SCHEME_TO_CLS_MAP:
        raise exceptions.UnknownScheme(scheme=scheme)
    scheme_info = SCHEME_TO_CLS_MAP[scheme]
    return Location(scheme, scheme_info['location_class'], conf, uri=uri)


def get_location_from_uri_and_backend(uri, backend, conf=CONF):
    """A ``Location`` for ``uri`` served by backend ``backend``."""
    scheme = _scheme_of(uri)
    if scheme not in SCHEME_TO_CLS_BACKEND_MAP:
        raise exceptions.UnknownScheme(scheme=scheme)
    try:
        scheme_info = SCHEME_TO_CLS_BACKEND_MAP[scheme][backend]
    except KeyError:
        raise exceptions.UnknownScheme(scheme=backend)
    return Location(scheme, scheme_info['location_class'], conf, uri=uri,
                    backend=backend)


def register_scheme_map(scheme_map):
    """Register ``{scheme: info}`` in the single-store map.

    An entry replaces the one already registered for the scheme, so that
    stores created again (with a new configuration) are the ones used.

    :param scheme_map: ``{scheme: {'store', 'location_class',
        'store_entry'}}``
    :returns: None
    """
    for (k, v) in scheme_map.items():
        LOG.debug("Registering scheme %s with %s", k, v)
        SCHEME_TO_CLS_MAP[k] = v


def register_scheme_backend_map(scheme_map):
    """Register ``{scheme: {backend: info}}`` in the multi-store map.

    Backends of a scheme not named in ``scheme_map`` stay registered; an
    entry for a backend already registered replaces it.

    :param scheme_map: ``{scheme: {backend: info}}``
    :returns: None
    """
    for (k, v) in scheme_map.items():
        backends = SCHEME_TO_CLS_BACKEND_MAP.setdefault(k, {})
        for backend, info in v.items():
            LOG.debug("Registering scheme %s for backend %s", k, backend)
            backends[backend] = info


class Location(object):
    """Where an image is, and which store class can read it."""

    def __init__(self, store_name, store_location_class, conf, uri=None,
                 image_id=None, store_specs=None, backend=None):
        self.store_name = store_name
        self.image_id = image_id
        self.store_specs = store_specs or {}
        self.conf = conf
        self.backend_group = backend
        self.store_location = store_location_class(
            self.store_specs, conf, backend_group=backend)
        if uri:
            self.store_location.parse_uri(uri)

    def get_store_uri(self):
        """The URI the store uses for this image."""
        return self.store_location.get_uri()

    def get_uri(self):
        return None


class StoreLocation(object):
    """Base class of a store's URI parser and builder."""

    def __init__(self, store_specs, conf, backend_group=None):
        self.conf = conf
        self.specs = store_specs
        self.backend_group = backend_group
        if self.specs:
            self.process_specs()

    def process_specs(self):
        """Set attributes from ``self.specs``."""

    def get_uri(self):
        """The URI of this location."""

    def parse_uri(self, uri):
        """Set attributes from ``uri``; ``BadStoreUri`` if malformed."""

    @staticmethod
    def validate_schemas(uri, valid_schemas):
        """Raise ``BadStoreUri`` unless ``uri`` uses one of the schemes."""
        for valid_schema in valid_schemas:
            if uri.startswith(valid_schema):
                return
        reason = _("The URI must start with one of: %s") % ', '.join(
            valid_schemas)
        LOG.warning(reason)
        raise exceptions.BadStoreUri(message=reason)
