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

"""Exceptions raised by glance_store.

Every ``GlanceStoreException`` keeps its class-level ``message`` template
and exposes the formatted text as ``.msg``, which is what Glance shows.
"""

import urllib.parse

from glance_store.i18n import _


class BackendException(Exception):
    """A store or driver failed in a way not covered below."""


class UnsupportedBackend(BackendException):
    """A backend type this distribution does not ship."""


class RedirectException(Exception):
    """The remote side answered with a redirect to ``url``."""

    def __init__(self, url):
        self.url = urllib.parse.urlparse(url)
        super().__init__(url)


class GlanceStoreException(Exception):
    """Base class: ``message`` is a template filled from keyword args."""

    message = _('An unknown error occurred in the image store')

    def __init__(self, message=None, **kwargs):
        if not message:
            message = self.message
        if kwargs:
            try:
                message = message % kwargs
            except (KeyError, TypeError, ValueError):
                # A template and its arguments that do not match must not
                # hide the original failure: keep the raw template.
                pass
        self.msg = str(message)
        super().__init__(self.msg)

    def __str__(self):
        return self.msg


class MissingCredentialError(GlanceStoreException):
    message = _("A required credential is missing: %(required)s")


class BadAuthStrategy(GlanceStoreException):
    message = _('Expected auth strategy "%(expected)s", got '
                '"%(received)s"')


class AuthorizationRedirect(GlanceStoreException):
    message = _("Authorization is redirected to %(uri)s.")


class NotFound(GlanceStoreException):
    message = _("Image %(image)s was not found")


class UnknownHashingAlgo(GlanceStoreException):
    message = _("Hashing algorithm %(algo)s is not known")


class UnknownScheme(GlanceStoreException):
    message = _("No store handles the scheme '%(scheme)s' of this URI")


class BadStoreUri(GlanceStoreException):
    message = _("Malformed store URI: %(uri)s")


class Duplicate(GlanceStoreException):
    message = _("An image %(image)s is already stored")


class StorageFull(GlanceStoreException):
    message = _("The image storage has not enough free space.")


class StorageWriteDenied(GlanceStoreException):
    message = _("Writing to the image storage was denied.")


class AuthBadRequest(GlanceStoreException):
    message = _("Bad request or connection error to the auth service at "
                "%(url)s.")


class AuthUrlNotFound(GlanceStoreException):
    message = _("No auth service found at %(url)s.")


class AuthorizationFailure(GlanceStoreException):
    message = _("Authorization failed.")


class NotAuthenticated(GlanceStoreException):
    message = _("Not authenticated.")


class Forbidden(GlanceStoreException):
    message = _("This action is not allowed.")


class Invalid(GlanceStoreException):
    message = _("The data supplied is not valid.")


class BadStoreConfiguration(GlanceStoreException):
    message = _("Store %(store_name)s is not configured correctly: "
                "%(reason)s")

    def __init__(self, message=None, **kwargs):
        self.store_name = kwargs.get('store_name')
        self.reason = kwargs.get('reason')
        # ``option``: the option to change, named in the message when the
        # reason does not name it already.
        self.option = kwargs.pop('option', None)
        super().__init__(message, **kwargs)
        if self.option and self.option not in self.msg:
            self.msg = _("%(msg)s (option %(option)s)") % {
                'msg': self.msg, 'option': self.option}
            self.args = (self.msg,)


class DriverLoadFailure(GlanceStoreException):
    message = _("Store driver %(driver_name)s could not be loaded.")


class StoreDeleteNotSupported(GlanceStoreException):
    message = _("This store cannot delete images.")


class StoreGetNotSupported(GlanceStoreException):
    message = _("This store cannot read images.")


class StoreRandomGetNotSupported(StoreGetNotSupported):
    message = _("This store cannot read part of an image (offset "
                "%(offset)s, length %(chunk_size)s).")


class StoreAddDisabled(GlanceStoreException):
    message = _("Adding images to this store is disabled because its "
                "configuration failed.")

    def __init__(self, message=None, reason=None, **kwargs):
        # ``reason``: why the configuration failed, as the
        # BadStoreConfiguration raised then said it (store and option).
        self.reason = reason
        if reason and not message:
            message = _("Adding images to this store is disabled because "
                        "its configuration failed: %s") % reason
        super().__init__(message, **kwargs)


class MaxRedirectsExceeded(GlanceStoreException):
    message = _("More than %(redirects)s redirects were followed.")


class NoServiceEndpoint(GlanceStoreException):
    message = _("The service catalog has no image endpoint.")


class RegionAmbiguity(GlanceStoreException):
    message = _("Several image services match region %(region)s; "
                "configure a region.")


class RemoteServiceUnavailable(GlanceStoreException):
    message = _("The server holding the image cannot be reached.")


class HasSnapshot(GlanceStoreException):
    message = _("The image has snapshots and cannot be deleted.")


class InUseByStore(GlanceStoreException):
    message = _("The image is in use outside of Glance and cannot be "
                "deleted.")


class HostNotInitialized(GlanceStoreException):
    message = _("Store host %(host)s is not initialized.")


class TimeoutError(GlanceStoreException):
    # Glance catches glance_store.exceptions.TimeoutError on upload,
    # download and delete (503), so the name must exist.
    message = _("The image store did not complete the operation within "
                "%(timeout)s seconds; check the health of the storage and "
                "the connection to it.")


class ChecksumMismatch(GlanceStoreException):
    """Data read back does not match the checksum the backend stored.

    Not in upstream glance_store: raised by the S3 driver when response
    checksum validation finds corrupted data.  It subclasses
    ``BackendException`` semantics through ``GlanceStoreException`` so that
    callers catching the base class still see it.
    """

    message = _("Integrity check failed for %(object)s: the %(algorithm)s "
                "checksum of the data does not match the one stored by "
                "the backend. The data was corrupted; it is not served "
                "as valid.")
