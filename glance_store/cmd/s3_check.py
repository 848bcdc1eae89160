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

"""glance-store-s3-check: which checksum settings an S3 backend accepts.

Reads the Glance configuration (``--config-file``, ``--config-dir``),
checks every S3 backend of it (or the one named by ``--backend``) with
``s3_check_probe`` and prints the report of ``s3_check_report``.  With
``--embedded`` it runs against a local S3 server instead
(``s3_check_embedded``).

Exit codes: 0 the current settings work, 1 they do not (or the backend
cannot be used), 2 usage or configuration error, 130 interrupted.
"""

import logging
import os
import signal
import sys

from oslo_config import cfg

from glance_store import backend as single_backend
from glance_store.cmd import s3_check_probe as probe
from glance_store.cmd import s3_check_report as report
from glance_store.cmd import s3_check_stale as stale
from glance_store.i18n import _

PROG = 'glance-store-s3-check'
DEFAULT_CONFIG_FILE = '/etc/glance/glance-api.conf'
S3_STORE_TYPES = ('s3', 'glance.store.s3.Store')
EXIT_INTERRUPTED = 130

CLI_OPTS = [
    cfg.StrOpt('backend', metavar='NAME',
               help=_("Check only this backend (a key of "
                      "enabled_backends; glance_store in single-store "
                      "mode). Default: every S3 backend.")),
    cfg.StrOpt('format', default='table', choices=('table', 'json'),
               help=_("Output format: a table per backend, or one JSON "
                      "document.")),
    cfg.BoolOpt('embedded', default=False,
                help=_("Start a local S3 server (moto) on 127.0.0.1, "
                       "check it, and store, read back and delete an "
                       "image through the S3 store.")),
    cfg.StrOpt('image', metavar='FILE',
               help=_("With --embedded: the image file to store "
                      "(default: 12 MiB of generated data).")),
]


class ConfigError(Exception):
    """A usage or configuration error: one line, exit code 2."""


class UsageExit(Exception):
    """A command line error already printed by argparse: exit code 2."""


def parse_args(argv, default_config_files=None):
    """A private ``ConfigOpts`` with the command line parsed."""
    conf = cfg.ConfigOpts()
    conf.register_cli_opts(CLI_OPTS + stale.CLI_OPTS)
    if default_config_files is None:
        default_config_files = [DEFAULT_CONFIG_FILE] \
            if os.path.exists(DEFAULT_CONFIG_FILE) else []
    try:
        conf(argv, project='glance', prog=PROG,
             default_config_files=default_config_files,
             default_config_dirs=[],
             description=_("Check which S3 checksum settings the S3 "
                           "backends of a Glance configuration accept, "
                           "and recommend the settings to use."))
    except cfg.ConfigFilesNotFoundError as e:
        raise ConfigError(_("configuration file not found: %s") %
                          ', '.join(e.config_files))
    except cfg.Error as e:
        raise ConfigError(str(e).strip().splitlines()[0])
    except SystemExit as e:
        # oslo.config exits with the message of a bad option value.
        # argparse has printed the usage error already.
        if isinstance(e.code, str):
            raise ConfigError(e.code)
        if e.code:
            raise UsageExit()
        raise
    return conf


def find_s3_backends(conf, wanted=None):
    """Names of the S3 backends to check; None is the single store.

    Multi-store when ``enabled_backends`` is set (its ``s3`` backends),
    single store otherwise (``[glance_store]`` with ``s3`` in ``stores``
    or as ``default_store``).
    """
    if 'enabled_backends' not in conf:
        conf.register_opt(cfg.DictOpt('enabled_backends'))
    try:
        enabled = conf.enabled_backends or {}
    except cfg.Error as e:
        raise ConfigError(str(e))
    if enabled:
        s3_names = [name for name, kind in enabled.items()
                    if (kind or '').strip() in S3_STORE_TYPES]
        if wanted:
            if wanted not in enabled:
                raise ConfigError(_(
                    "unknown backend %(name)s: enabled_backends has "
                    "%(names)s") % {'name': wanted,
                                    'names': ', '.join(sorted(enabled))})
            if wanted not in s3_names:
                raise ConfigError(_(
                    "backend %(name)s is a %(kind)s store, not an S3 "
                    "one") % {'name': wanted, 'kind': enabled[wanted]})
            return [wanted]
        if not s3_names:
            raise ConfigError(_(
                "no S3 backend: enabled_backends (%s) has no backend of "
                "type s3") % ', '.join('%s:%s' % kv
                                       for kv in sorted(enabled.items())))
        return s3_names
    try:
        single_backend.register_opts(conf)
        stores = [s.strip() for s in conf.glance_store.stores or []]
        default_store = conf.glance_store.default_store
    except cfg.Error as e:
        raise ConfigError(str(e))
    if not (set(stores) & set(S3_STORE_TYPES) or default_store == 's3'):
        raise ConfigError(_(
            "no S3 backend: enabled_backends is not set and "
            "[glance_store] has no s3 store (stores = %(stores)s, "
            "default_store = %(default)s)") % {
                'stores': ', '.join(stores), 'default': default_store})
    if wanted and wanted not in ('glance_store', 's3'):
        raise ConfigError(_(
            "unknown backend %s: this is a single-store configuration, "
            "whose S3 store is glance_store") % wanted)
    return [None]


class Progress(object):
    """One status line on a terminal, rewritten at each step."""

    def __init__(self, stream):
        self.stream = stream
        self.shown = False

    def __call__(self, message):
        self.stream.write('\r\x1b[K... %s' % message[:100])
        self.stream.flush()
        self.shown = True

    def clear(self):
        if self.shown:
            self.stream.write('\r\x1b[K')
            self.stream.flush()
            self.shown = False


def progress_printer(stream=None):
    """A ``Progress`` on stderr when it is a terminal, else None."""
    stream = stream or sys.stderr
    if not stream.isatty():
        return None
    return Progress(stream)


def run_checks(conf, backends, progress=None):
    try:
        return [probe.check_backend(conf, name, progress=progress)
                for name in backends]
    finally:
        if progress is not None and hasattr(progress, 'clear'):
            progress.clear()


def emit(results, fmt, embedded=None, out=None, err=None):
    """Print the report; returns the exit code."""
    out = out or sys.stdout
    err = err or sys.stderr
    code = report.exit_code(results)
    if fmt == 'json':
        out.write(report.to_json(results, embedded) + '\n')
    else:
        for result in results:
            if result.error:
                err.write('%s: %s\n' % (PROG, report.error_line(result)))
        shown = [r for r in results if not r.error]
        if shown:
            out.write(report.render_table(shown))
    return code


def stale_uploads(conf, age, out=None, err=None):
    """The --stale-uploads mode: report (and abort) leftover uploads.

    :param conf: the parsed ``ConfigOpts``
    :param age: the validated --older-than value
    :returns: the exit code (0 none left, 1 some, 2 configuration error)
    """
    out, err = out or sys.stdout, err or sys.stderr
    results = [stale.check_backend(conf, name, age, conf.abort,
                                   conf.apply_lifecycle)
               for name in find_s3_backends(conf, conf.backend)]
    if conf.format == 'json':
        out.write(stale.to_json(results) + '\n')
    for result in results:
        if result.error:
            err.write('%s: backend %s: %s\n' % (PROG, result.backend,
                                                result.error))
        elif conf.format != 'json':
            out.write(stale.render_text(result))
    return stale.exit_code(results)


def _interrupted(signum, frame):
    raise KeyboardInterrupt()


def _fail(message, code=report.EXIT_USAGE):
    sys.stderr.write('%s: %s\n' % (PROG, message))
    return code


def main(argv=None):
    if argv is None:
        argv = sys.argv[1:]
    # The driver's log lines (a failed upload is logged as an error) are
    # not part of the report.
    logging.getLogger().addHandler(logging.NullHandler())
    previous = {}
    try:
        for signum in (signal.SIGINT, signal.SIGTERM):
            previous[signum] = signal.signal(signum, _interrupted)
    except ValueError:  # pragma: no cover - not in the main thread
        pass
    try:
        return _main(argv)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _main(argv):
    try:
        conf = parse_args(argv)
        try:
            age = stale.validate(conf)
        except ValueError as e:
            raise ConfigError(str(e))
        progress = progress_printer()
        if conf.embedded:
            from glance_store.cmd import s3_check_embedded
            return s3_check_embedded.run(conf.image, conf.format,
                                         progress=progress)
        if conf.image:
            raise ConfigError(_("--image is only used with --embedded"))
        if not conf.config_file and not conf.config_dir:
            raise ConfigError(_(
                "no configuration: give --config-file (for example "
                "%s) or --config-dir, or use --embedded") %
                DEFAULT_CONFIG_FILE)
        if age:
            return stale_uploads(conf, age)
        backends = find_s3_backends(conf, conf.backend)
        results = run_checks(conf, backends, progress)
        return emit(results, conf.format)
    except ConfigError as e:
        return _fail(str(e))
    except UsageExit:
        return report.EXIT_USAGE
    except KeyboardInterrupt:
        return _fail(_("interrupted; the objects written by the check "
                       "were removed"), EXIT_INTERRUPTED)
    except Exception as e:
        # A bug or an unforeseen error: one line, no traceback.
        return _fail(_("unexpected error: %(type)s: %(error)s") % {
            'type': type(e).__name__, 'error': e},
            report.EXIT_NOT_WORKING)


if __name__ == '__main__':
    sys.exit(main())
