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

"""Image store on a local (or mounted) filesystem.

Images are files named after the image id in one of the configured data
directories; their location URI is ``file://<absolute path>``.  An image
being written lives under a temporary name in the same directory and only
appears under its final name once all of its bytes are on disk.
"""

from concurrent import futures
import errno
import json
import logging
import os
import secrets
import stat
import threading

from oslo_config import cfg
from oslo_utils import units

from glance_store import capabilities
from glance_store.common import utils
from glance_store import driver
from glance_store import exceptions
from glance_store.i18n import _
from glance_store import location

LOG = logging.getLogger(__name__)

_SCHEMES = ('file', 'filesystem')
_TEMP_SUFFIX = '.part'

_FILESYSTEM_CONFIGS = [
    cfg.StrOpt('filesystem_store_datadir',
               default='/var/lib/glance/images',
               help=_("""
Directory in which the filesystem store writes image files.

The directory is created at start-up when it does not exist; the Glance
API service must be able to write in it. Do not set it together with
``filesystem_store_datadirs``, which replaces it.
""")),
    cfg.MultiStrOpt('filesystem_store_datadirs',
                    help=_("""
Several directories for the filesystem store, each as ``PATH:PRIORITY``.

Repeat the option once per directory. A new image goes to the directory
with the highest priority (an integer, 0 when omitted) that has enough
free space; among directories of equal priority, the one with the most
free space is used. Cannot be combined with ``filesystem_store_datadir``.
""")),
    cfg.StrOpt('filesystem_store_metadata_file',
               help=_("""
Path of a JSON file describing the storage behind the data directories.

The file holds either one object or a list of objects, each with at least
the string keys ``id`` and ``mountpoint``. The object whose mountpoint
contains an image's directory is returned to Glance as the metadata of
the image's location (a single object is returned for every image).
""")),
    cfg.IntOpt('filesystem_store_file_perm',
               default=0,
               help=_("""
Permission bits given to image files, written as octal digits (``640``).

0 (the default) keeps the mode given by the process umask. When set, the
mode must let the owner read the file; the data directories also get the
search (execute) bit for the group or others when the mode gives them
access, so that another service (for example Nova sharing the
filesystem) can open the images.
""")),
    cfg.IntOpt('filesystem_store_chunk_size',
               default=64 * units.Ki,
               min=1,
               help=_("""
Size in bytes of the pieces in which image data is read and written.
""")),
    cfg.BoolOpt('filesystem_thin_provisioning',
                default=False,
                help=_("""
Write images as sparse files.

When enabled, a piece of image data made only of zero bytes is not
written but skipped over, so that the filesystem allocates no blocks for
it. This saves space and time for images with large empty areas (raw
disk images), on filesystems that support sparse files.
""")),
    cfg.IntOpt('filesystem_store_timeout',
               default=0,
               min=0,
               help=_("""
Seconds after which a filesystem call of the store gives up.

0 (the default) calls the filesystem directly and waits as long as it
takes. A positive value runs reading an image's size, opening it,
deleting it and reading the free space of a directory in a pool of
threads and raises ``TimeoutError`` when the call takes longer, so that a
hung data directory (an NFS server gone away) does not hang the API
worker. Around 30 seconds suits network filesystems.
""")),
    cfg.IntOpt('filesystem_store_thread_pool_size',
               default=10,
               min=1,
               help=_("""
Number of threads of a store's pool for timed filesystem calls.

Used only when ``filesystem_store_timeout`` is positive. Calls stuck on a
hung filesystem keep their thread; once all threads are stuck, further
calls time out without reaching the filesystem.
""")),
    cfg.IntOpt('filesystem_store_threadpool_threshold',
               default=75,
               min=0,
               max=100,
               help=_("""
Percentage of busy pool threads from which a WARNING is logged.

Used only when ``filesystem_store_timeout`` is positive: the warning says
that the pool is getting full, usually because the storage is slow.
""")),
]

_DATADIR_DEFAULT = _FILESYSTEM_CONFIGS[0].default


class TimedCalls(object):
    """Run filesystem calls with a time limit, in a pool of threads.

    With a timeout of 0 calls run directly, without a pool.

    :param timeout: seconds a call may take (0: no limit)
    :param pool_size: number of threads of the pool
    :param threshold: percentage of busy threads that logs a WARNING
    """

    def __init__(self, timeout, pool_size, threshold):
        self.timeout = timeout
        self.pool_size = pool_size
        self.threshold = threshold
        self._busy = 0
        self._lock = threading.Lock()
        self._pool = None
        if timeout > 0:
            self._pool = futures.ThreadPoolExecutor(
                max_workers=pool_size,
                thread_name_prefix='glance-store-fs')

    def _finished(self, _future):
        with self._lock:
            self._busy -= 1

    def call(self, func, *args):
        """``func(*args)``, within the time limit.

        :param func: the filesystem function
        :param args: its arguments
        :returns: what ``func`` returns
        :raises: ``TimeoutError`` when the call takes too long; what
            ``func`` raises otherwise
        """
        if self._pool is None:
            return func(*args)
        with self._lock:
            self._busy += 1
            busy = self._busy
        if busy * 100 >= self.threshold * self.pool_size:
            LOG.warning("Filesystem store: %(busy)d of %(size)d threads "
                        "busy (warning threshold %(threshold)d%%); the "
                        "storage may be slow or hung.",
                        {'busy': min(busy, self.pool_size),
                         'size': self.pool_size,
                         'threshold': self.threshold})
        future = self._pool.submit(func, *args)
        future.add_done_callback(self._finished)
        try:
            return future.result(timeout=self.timeout)
        except futures.TimeoutError:
            future.cancel()
            LOG.error("Filesystem store: %(func)s%(args)r did not finish "
                      "within %(timeout)d seconds",
                      {'func': getattr(func, '__name__', func),
                       'args': args, 'timeout': self.timeout})
            raise exceptions.TimeoutError(timeout=self.timeout)

    def shutdown(self):
        """Stop the pool without waiting for stuck calls.

        :returns: None
        """
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)


def _uri_path(uri):
    """The absolute path of a ``file://`` or ``filesystem://`` URI."""
    for scheme in _SCHEMES:
        prefix = scheme + '://'
        if uri.startswith(prefix):
            return uri[len(prefix):]
    return None


class StoreLocation(location.StoreLocation):
    """A ``file:///absolute/path/of/the/image`` location."""

    def process_specs(self):
        self.scheme = self.specs.get('scheme', 'file')
        self.path = self.specs.get('path')

    def get_uri(self):
        return "file://%s" % self.path

    def parse_uri(self, uri):
        if not isinstance(uri, str):
            raise exceptions.BadStoreUri(
                message=_("A filesystem store URI must be a string."))
        self.validate_schemas(uri, ('file://', 'filesystem://'))
        path = _uri_path(uri)
        reason = None
        if not path:
            reason = _("No path given in the URI.")
        elif '\0' in path:
            reason = _("The path in the URI contains a NUL character.")
        elif not path.startswith('/'):
            # file://host/path or file://relative/path: this store only
            # handles local, absolute paths (file:///path).
            reason = _("The URI must be file:// followed by an absolute "
                       "path, without a host name.")
        if reason:
            LOG.info("Malformed filesystem store URI: %s", reason)
            raise exceptions.BadStoreUri(
                message=_("Malformed filesystem store URI: %s") % reason)
        self.scheme = uri.split('://', 1)[0]
        self.path = path


class ChunkedFile(object):
    """An iterator over (part of) a file, in chunks.

    The file is opened at creation, so that a missing file shows at once,
    and closed when the iteration ends, fails or ``close()`` is called.
    ``partial_length`` limits the number of bytes yielded.
    """

    def __init__(self, filepath, offset=0, chunk_size=64 * units.Ki,
                 partial_length=None):
        self.filepath = filepath
        self.chunk_size = chunk_size
        self.partial_length = partial_length
        self.fp = open(filepath, 'rb')
        try:
            if offset:
                self.fp.seek(offset)
        except Exception:
            self.close()
            raise

    def __iter__(self):
        try:
            remaining = self.partial_length
            while self.fp is not None:
                size = self.chunk_size
                if remaining is not None:
                    if remaining <= 0:
                        break
                    size = min(size, remaining)
                chunk = self.fp.read(size)
                if not chunk:
                    break
                if remaining is not None:
                    remaining -= len(chunk)
                yield chunk
        finally:
            self.close()

    def close(self):
        """Close the file; iteration stops."""
        fp, self.fp = self.fp, None
        if fp is not None:
            fp.close()


def _directory_space(path):
    """``os.statvfs`` of ``path``, which must be a directory.

    :param path: a data directory.
    :returns: the ``os.statvfs_result``.
    :raises NotADirectoryError: ``path`` is not a directory.
    :raises OSError: ``path`` cannot be examined.
    """
    if not stat.S_ISDIR(os.stat(path).st_mode):
        raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR),
                                 path)
    return os.statvfs(path)


def _check_image_id(image_id):
    """Refuse an image id that is not a single path component.

    :param image_id: the id Glance gives (a UUID).
    :raises glance_store.exceptions.Invalid: the id is empty, ``.`` or
        ``..``, or holds a ``/`` or a NUL character: written as a file
        name it would land outside the data directory.
    """
    name = str(image_id)
    if (not name or name in ('.', '..') or '/' in name or '\0' in name
            or os.path.isabs(name) or (os.altsep and os.altsep in name)):
        raise exceptions.Invalid(
            _("The image id %r cannot be a file name: it must be a single "
              "path component (no '/', not '.' or '..').") % name[:80])


def _write_all(fd, data):
    """Write all of ``data`` to ``fd``, looping over partial writes."""
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


class Store(driver.Store):
    """The ``file`` store: images are files in local directories."""

    _CAPABILITIES = (capabilities.BitMasks.READ_RANDOM |
                     capabilities.BitMasks.WRITE_ACCESS |
                     capabilities.BitMasks.DRIVER_REUSABLE)
    OPTIONS = _FILESYSTEM_CONFIGS
    MULTI_BACKEND_SUPPORT = True
    READ_CHUNKSIZE = 64 * units.Ki
    WRITE_CHUNKSIZE = READ_CHUNKSIZE
    FILESYSTEM_STORE_METADATA = None

    def __init__(self, conf, backend=None):
        super(Store, self).__init__(conf, backend=backend)
        self.datadir = None
        self.multiple_datadirs = False
        self.priority_data_map = {}
        self.priority_list = []
        self._file_perm = 0
        # Filesystem calls that may hang on a dead NFS server go through
        # it (direct calls until configured with a timeout).
        self.timed = TimedCalls(0, 1, 100)
        # What Glance's GET /v2/info/stores/detail shows of a file store
        # (with datadir): set from the options by configure().
        self.chunk_size = self.READ_CHUNKSIZE
        self.thin_provisioning = False

    def get_schemes(self):
        return _SCHEMES

    @property
    def _store_name(self):
        return self.backend_group or 'filesystem'

    def _bad_config(self, reason):
        LOG.error("Filesystem store %(store)s: %(reason)s",
                  {'store': self._store_name, 'reason': reason})
        return exceptions.BadStoreConfiguration(store_name=self._store_name,
                                                reason=reason)

    def _chunk_size(self):
        try:
            return self.store_conf.filesystem_store_chunk_size
        except (cfg.NoSuchOptError, cfg.NoSuchGroupError):
            return self.READ_CHUNKSIZE

    # -- configuration -------------------------------------------------

    def _operator_datadir(self, group):
        """The ``filesystem_store_datadir`` the operator set in ``group``.

        None when it is unset or has a default value (the option's, or
        the one Glance's reserved stores register).
        """
        try:
            value = self.conf[group].filesystem_store_datadir
        except (cfg.NoSuchOptError, cfg.NoSuchGroupError):
            return None
        if not value or value in (_DATADIR_DEFAULT,
                                  '/var/lib/glance/%s' % group):
            return None
        return value

    def _datadirs_conflict(self):
        """True if the operator set both datadir options at one level.

        ``filesystem_store_datadir`` has a default, so it only conflicts
        with ``filesystem_store_datadirs`` when given another value: in
        the store's own group, or in ``[backend_defaults]`` when the list
        comes from there too.
        """
        own = self.store_conf.backend_group
        if self._operator_datadir(own):
            return True
        if not self.backend_group:
            return False
        try:
            own_dirs = self.conf[own].filesystem_store_datadirs
        except (cfg.NoSuchOptError, cfg.NoSuchGroupError):
            own_dirs = None
        return not own_dirs and bool(
            self._operator_datadir(driver.BACKEND_DEFAULTS_GROUP))

    def _parse_datadir(self, value):
        """``PATH[:PRIORITY]`` -> (path, priority)."""
        path, priority = value.strip(), 0
        if ':' in path:
            head, tail = path.rsplit(':', 1)
            tail = tail.strip()
            if tail:
                try:
                    priority = int(tail)
                except ValueError:
                    raise self._bad_config(
                        _("Invalid priority %(priority)r for directory "
                          "%(dir)s in filesystem_store_datadirs: it must "
                          "be an integer.") % {'priority': tail,
                                               'dir': head})
            path = head.strip()
        if not path:
            raise self._bad_config(
                _("An entry of filesystem_store_datadirs has no "
                  "directory: %r") % value)
        return path, priority

    def _priority_map(self, datadirs):
        """{priority: [directory, ...]} from ``filesystem_store_datadirs``.

        A directory listed twice with one priority is used once (with a
        warning); with two priorities it is a configuration error.
        """
        priority_map = {}
        seen = {}
        for value in datadirs:
            path, priority = self._parse_datadir(value)
            real = os.path.realpath(path)
            if real in seen:
                if seen[real] != priority:
                    raise self._bad_config(
                        _("Directory %(dir)s is listed in "
                          "filesystem_store_datadirs with two priorities "
                          "(%(one)d and %(two)d); give it one.")
                        % {'dir': path, 'one': seen[real],
                           'two': priority})
                LOG.warning("Filesystem store %(store)s: directory %(dir)s "
                            "is listed more than once in "
                            "filesystem_store_datadirs; it is used once.",
                            {'store': self._store_name, 'dir': path})
                continue
            seen[real] = priority
            priority_map.setdefault(priority, []).append(path)
        return priority_map

    def _file_perm_from_conf(self):
        value = self.store_conf.filesystem_store_file_perm
        if not value or value <= 0:
            return 0
        try:
            perm = int(str(value), 8)
        except ValueError:
            raise self._bad_config(
                _("filesystem_store_file_perm %s is not a file mode: write "
                  "it with octal digits, such as 640.") % value)
        if perm > 0o7777:
            raise self._bad_config(
                _("filesystem_store_file_perm %s is not a file mode: write "
                  "it with octal digits, such as 640.") % value)
        if not perm & stat.S_IRUSR:
            raise self._bad_config(
                _("filesystem_store_file_perm %s does not let the owner "
                  "read the image files; Glance could not serve them.")
                % value)
        return perm

    def _prepare_directory(self, path):
        """Create ``path`` if needed and check that Glance can write in it."""
        if not os.path.isdir(path):
            LOG.info("Creating image directory %s", path)
            try:
                os.makedirs(path, exist_ok=True)
            except OSError as e:
                raise self._bad_config(
                    _("Cannot create the image directory %(dir)s: "
                      "%(error)s") % {'dir': path,
                                      'error': e.strerror or e})
            if not os.path.isdir(path):
                raise self._bad_config(
                    _("Cannot create the image directory %s.") % path)
        if not os.access(path, os.W_OK | os.X_OK):
            raise self._bad_config(
                _("The image directory %s is not writable by the Glance "
                  "service: give its user write permission on it.") % path)
        self._set_exec_permission(path)

    def _set_exec_permission(self, path):
        """Let the group / others traverse ``path`` if images are theirs."""
        perm = self._file_perm
        if not perm:
            return
        try:
            mode = os.stat(path).st_mode
            new_mode = mode
            if perm & stat.S_IRWXG:
                new_mode |= stat.S_IXGRP
            if perm & stat.S_IRWXO:
                new_mode |= stat.S_IXOTH
            if new_mode != mode:
                os.chmod(path, stat.S_IMODE(new_mode))
        except OSError as e:
            LOG.warning("Could not set the search permission of image "
                        "directory %(dir)s: %(error)s",
                        {'dir': path, 'error': e})

    def _load_metadata(self, path):
        """Read and check the metadata file (a dict or a list of dicts)."""
        from glance_store import backend  # noqa: avoid an import cycle

        try:
            with open(path, 'r') as fp:
                metadata = json.load(fp)
        except OSError as e:
            raise self._bad_config(
                _("Cannot read the metadata file %(file)s: %(error)s")
                % {'file': path, 'error': e.strerror or e})
        except ValueError as e:
            raise self._bad_config(
                _("The metadata file %(file)s is not valid JSON: %(error)s")
                % {'file': path, 'error': e})

        entries = metadata if isinstance(metadata, list) else [metadata]
        if not entries:
            raise self._bad_config(
                _("The metadata file %s holds an empty list.") % path)
        for entry in entries:
            if not isinstance(entry, dict):
                raise self._bad_config(
                    _("The metadata file %s must hold a JSON object or a "
                      "list of JSON objects.") % path)
            for key in ('id', 'mountpoint'):
                if not isinstance(entry.get(key), str) or not entry[key]:
                    raise self._bad_config(
                        _("Every object of the metadata file %(file)s "
                          "needs a string '%(key)s'.")
                        % {'file': path, 'key': key})
            try:
                backend.check_location_metadata(entry)
            except exceptions.BackendException as e:
                raise self._bad_config(
                    _("The metadata file %(file)s has a value that is not "
                      "a string, list or object: %(error)s")
                    % {'file': path, 'error': e})
        # One object is one mountpoint: the same rule as a list of them.
        return entries

    def _set_timed_calls(self):
        conf = self.store_conf
        self.timed.shutdown()
        self.timed = TimedCalls(conf.filesystem_store_timeout,
                                conf.filesystem_store_thread_pool_size,
                                conf.filesystem_store_threadpool_threshold)

    def configure_add(self):
        """Check the data directories and options used to add images.

        :returns: None
        :raises: ``BadStoreConfiguration`` naming the option to change
        """
        conf = self.store_conf
        datadir = conf.filesystem_store_datadir
        datadirs = conf.filesystem_store_datadirs

        if datadirs and datadir and self._datadirs_conflict():
            raise self._bad_config(
                _("Both filesystem_store_datadir and "
                  "filesystem_store_datadirs are set; use only one of "
                  "them."))
        if not datadirs and not datadir:
            raise self._bad_config(
                _("No image directory: set filesystem_store_datadir or "
                  "filesystem_store_datadirs."))

        self._file_perm = self._file_perm_from_conf()
        self._set_timed_calls()
        self.chunk_size = conf.filesystem_store_chunk_size
        self.thin_provisioning = conf.filesystem_thin_provisioning
        self.READ_CHUNKSIZE = self.WRITE_CHUNKSIZE = self.chunk_size

        if datadirs:
            priority_map = self._priority_map(datadirs)
        else:
            priority_map = {0: [datadir]}

        for paths in priority_map.values():
            for path in paths:
                self._prepare_directory(path)

        metadata = None
        metadata_file = conf.filesystem_store_metadata_file
        if metadata_file:
            metadata = self._load_metadata(metadata_file)

        self.multiple_datadirs = bool(datadirs)
        self.priority_data_map = priority_map
        self.priority_list = sorted(priority_map, reverse=True)
        self.datadir = priority_map[self.priority_list[0]][0]
        self.FILESYSTEM_STORE_METADATA = metadata
        self._url_prefix = "file://%s" % self.datadir

    # -- reading -------------------------------------------------------

    @staticmethod
    def _path_of(location):
        return location.store_location.path

    def _open_error(self, e, filepath):
        if isinstance(e, (FileNotFoundError, NotADirectoryError,
                          IsADirectoryError)):
            LOG.debug("No image file at %s", filepath)
            return exceptions.NotFound(image=filepath)
        if isinstance(e, PermissionError):
            return exceptions.Forbidden(
                message=_("The image file %s cannot be read by the Glance "
                          "service.") % filepath)
        return None

    def _open(self, filepath, offset):
        chunked = ChunkedFile(filepath, offset=offset,
                              chunk_size=self._chunk_size())
        try:
            return chunked, os.fstat(chunked.fp.fileno()).st_size
        except BaseException:
            chunked.close()
            raise

    @capabilities.check
    def get(self, location, offset=0, chunk_size=None, context=None):
        """``(iterator, size)``; size is the number of bytes yielded."""
        filepath = self._path_of(location)
        offset = offset or 0
        try:
            chunked, filesize = self.timed.call(self._open, filepath,
                                                offset)
        except OSError as e:
            error = self._open_error(e, filepath)
            if error is None:
                raise
            raise error
        length = max(0, filesize - offset)
        if chunk_size:
            length = min(length, chunk_size)
        chunked.partial_length = length
        LOG.debug("Reading %(length)d bytes at offset %(offset)d of %(path)s",
                  {'length': length, 'offset': offset, 'path': filepath})
        return chunked, length

    def get_size(self, location, context=None):
        """Size in bytes of the image file."""
        filepath = self._path_of(location)
        try:
            st = self.timed.call(os.stat, filepath)
        except OSError as e:
            error = self._open_error(e, filepath)
            if error is None:
                raise
            raise error
        if not stat.S_ISREG(st.st_mode):
            raise exceptions.NotFound(image=filepath)
        return st.st_size

    # -- deleting ------------------------------------------------------

    @capabilities.check
    def delete(self, location, context=None):
        """Remove the image file."""
        filepath = self._path_of(location)
        try:
            LOG.debug("Deleting image file %s", filepath)
            self.timed.call(os.unlink, filepath)
        except FileNotFoundError:
            raise exceptions.NotFound(image=filepath)
        except OSError as e:
            raise exceptions.Forbidden(
                message=_("Cannot delete the image file %(path)s: "
                          "%(error)s") % {'path': filepath,
                                          'error': e.strerror or e})

    # -- writing -------------------------------------------------------

    def _free_space(self, path, missing):
        """Free bytes of ``path``; None (and ``missing`` noted) if unusable.

        A directory that is gone or is no longer a directory is added to
        ``missing``, so that the error can name it.
        """
        try:
            st = self.timed.call(_directory_space, path)
        except OSError as e:
            if e.errno in (errno.ENOENT, errno.ENOTDIR):
                missing.append(path)
            LOG.warning("Cannot read the free space of %(dir)s: %(error)s",
                        {'dir': path, 'error': e})
            return None
        return st.f_bavail * st.f_frsize

    def _missing_datadir(self, paths):
        return self._bad_config(
            _("the image directory %(dirs)s does not exist or is not a "
              "directory (removed or replaced after the start?): recreate "
              "it or change filesystem_store_datadir / "
              "filesystem_store_datadirs") % {'dirs': ', '.join(paths)})

    def _find_best_datadir(self, image_size):
        """The directory a new image of ``image_size`` bytes goes to."""
        if not self.priority_list:
            raise exceptions.StoreAddDisabled(
                reason=self.add_disabled_reason)
        missing = []
        for priority in self.priority_list:
            candidates = []
            for path in self.priority_data_map[priority]:
                free = self._free_space(path, missing)
                if free is None:
                    continue
                if image_size and free < image_size:
                    continue
                candidates.append((free, path))
            if candidates:
                return max(candidates, key=lambda c: c[0])[1]
        if missing:
            raise self._missing_datadir(missing)
        LOG.error("No image directory of store %(store)s has %(size)d "
                  "bytes free", {'store': self._store_name,
                                 'size': image_size})
        raise exceptions.StorageFull()

    def _metadata_for(self, filepath):
        metadata = self.FILESYSTEM_STORE_METADATA
        if not metadata:
            return {}
        best = None
        for entry in metadata:
            mount = os.path.join(entry['mountpoint'], '')
            if filepath.startswith(mount) and (
                    best is None or
                    len(mount) > len(os.path.join(best['mountpoint'], ''))):
                best = entry
        if best is None:
            LOG.warning("No entry of the metadata file has a mountpoint "
                        "containing %s", filepath)
            return {}
        return dict(best)

    @staticmethod
    def _storage_error(e):
        """The glance_store exception for a failed filesystem write."""
        if e.errno in (errno.ENOSPC, errno.EFBIG, errno.EDQUOT):
            return exceptions.StorageFull()
        if e.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
            return exceptions.StorageWriteDenied()
        return None

    @staticmethod
    def _create_temp_file(datadir, image_id):
        """Open a new temporary file in ``datadir``; (fd, path)."""
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL
        flags |= getattr(os, 'O_CLOEXEC', 0)
        while True:
            path = os.path.join(datadir, '.%s.%s%s' % (
                image_id, secrets.token_hex(8), _TEMP_SUFFIX))
            try:
                # 0o666 and the umask: the mode a plain open() would give.
                return os.open(path, flags, 0o666), path
            except FileExistsError:  # pragma: no cover - 64 random bits
                continue

    def _write_image(self, fd, image_file, image_size, hashes):
        """Copy the image data to ``fd``; return the number of bytes."""
        thin = self.store_conf.filesystem_thin_provisioning
        bytes_written = 0
        for chunk in utils.chunkreadable(image_file, self._chunk_size()):
            length = len(chunk)
            if not length:
                continue
            if image_size and bytes_written + length > image_size:
                raise exceptions.Invalid(
                    _("Size exceeds the declared image size of %(size)d "
                      "bytes: more data was received.")
                    % {'size': image_size})
            hashes.update(chunk)
            if thin and chunk.count(0) == length:
                os.lseek(fd, length, os.SEEK_CUR)
            else:
                _write_all(fd, chunk)
            bytes_written += length
        if thin:
            # A trailing hole is not allocated by lseek alone.
            os.ftruncate(fd, bytes_written)
        if image_size and bytes_written != image_size:
            raise exceptions.Invalid(
                _("Size mismatch: %(declared)d bytes were declared but "
                  "%(received)d were received.")
                % {'declared': image_size, 'received': bytes_written})
        return bytes_written

    def _set_file_perm(self, path):
        if not self._file_perm:
            return
        try:
            os.chmod(path, self._file_perm)
        except OSError as e:
            LOG.warning("Could not set the mode of image file %(path)s: "
                        "%(error)s", {'path': path, 'error': e})

    @staticmethod
    def _publish(temp_path, filepath):
        """Give the finished temporary file its final name, never clobbering.

        A hard link fails if the final name exists; filesystems without
        hard links fall back to a rename after a check.
        """
        try:
            os.link(temp_path, filepath)
        except FileExistsError:
            raise exceptions.Duplicate(image=filepath)
        except OSError as e:
            if e.errno not in (errno.EPERM, errno.EOPNOTSUPP,
                               errno.ENOTSUP, errno.EXDEV, errno.EMLINK,
                               errno.ENOSYS):
                raise
            if os.path.lexists(filepath):
                raise exceptions.Duplicate(image=filepath)
            os.rename(temp_path, filepath)
            return
        try:
            os.unlink(temp_path)
        except OSError as e:  # pragma: no cover - we just created it
            LOG.warning("Could not remove temporary file %(path)s: "
                        "%(error)s", {'path': temp_path, 'error': e})

    @staticmethod
    def _discard(fd, temp_path):
        if fd is not None:
            try:
                os.close(fd)
            except OSError:  # pragma: no cover - closing our own fd
                pass
        try:
            os.unlink(temp_path)
        except FileNotFoundError:
            pass
        except OSError as e:
            LOG.error("Could not remove temporary file %(path)s of a "
                      "failed upload: %(error)s",
                      {'path': temp_path, 'error': e})

    @driver.back_compat_add
    @capabilities.check
    def add(self, image_id, image_file, image_size, hashing_algo,
            context=None, verifier=None):
        """Write an image to the best data directory.

        Returns ``(uri, bytes_written, md5_hex, multihash_hex, metadata)``.
        Raises ``Duplicate`` if the image exists, ``StorageFull`` when
        there is no room, ``StorageWriteDenied`` when writing is not
        allowed, ``Invalid`` when the data does not have the declared
        size or ``image_id`` is not a single path component (refused
        before anything is written), and ``BadStoreConfiguration`` naming
        the directory when it was removed or replaced by a file; in every
        failure nothing is left in the directory.
        """
        _check_image_id(image_id)
        hashes = utils.ImageHashes(hashing_algo, verifier)
        # None, 0 (and nonsense negative sizes) mean "unknown size".
        image_size = image_size if image_size and image_size > 0 else 0
        datadir = self._find_best_datadir(image_size)
        filepath = os.path.join(datadir, str(image_id))
        if os.path.lexists(filepath):
            raise exceptions.Duplicate(image=filepath)

        fd = temp_path = None
        try:
            fd, temp_path = self._create_temp_file(datadir, image_id)
            bytes_written = self._write_image(fd, image_file, image_size,
                                              hashes)
            os.fsync(fd)
            os.close(fd)
            fd = None
            self._set_file_perm(temp_path)
            self._publish(temp_path, filepath)
        except OSError as e:
            if temp_path is not None:
                self._discard(fd, temp_path)
            error = self._storage_error(e)
            if temp_path is None and e.errno in (errno.ENOENT,
                                                 errno.ENOTDIR):
                # The directory went away since it was chosen.
                error = self._missing_datadir([datadir])
            if error is None:
                raise
            LOG.error("Writing image %(image)s to %(dir)s failed: "
                      "%(error)s", {'image': image_id, 'dir': datadir,
                                    'error': e})
            raise error from e
        except BaseException:
            if temp_path is not None:
                self._discard(fd, temp_path)
            raise

        metadata = self._metadata_for(filepath)
        if self.backend_group:
            metadata['store'] = self.backend_group
        LOG.debug("Wrote image %(image)s (%(size)d bytes) to %(path)s",
                  {'image': image_id, 'size': bytes_written,
                   'path': filepath})
        return ("file://%s" % filepath, bytes_written, hashes.checksum,
                hashes.multihash, metadata)
