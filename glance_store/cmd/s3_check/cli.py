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

"""glance-store-s3-check: the command line, the only module that prints.

Reads the Glance configuration (``--config-file``, ``--config-dir``),
checks every S3 backend of it (or the one named by ``--backend``) and
prints the report.  With ``--embedded`` it runs against a local S3
server instead.

A mode is a function ``mode(conf, progress) -> exit code`` named in
``MODES`` with the option that selects it; the check of the configured
backends is the default mode.

Exit codes: 0 the current settings work, 1 they do not (or the backend
cannot be used), 2 usage or configuration error, 130 interrupted.
"""

import logging
import os
import signal
import sys
import traceback

from oslo_config import cfg

from glance_store._drivers import s3_redact
from glance_store.cmd.s3_check import backends as s3_backends
from glance_store.cmd.s3_check import embedded
from glance_store.cmd.s3_check import model
from glance_store.cmd.s3_check import probe
from glance_store.cmd.s3_check import report
from glance_store.cmd.s3_check import rollback
from glance_store.cmd.s3_check import stale
from glance_store.i18n import _

PROG = model.PROG
DEFAULT_CONFIG_FILE = '/etc/glance/glance-api.conf'

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
    cfg.BoolOpt('upstream-compatible', default=False,
                help=_("List the option values of the configuration that "
                       "upstream glance_store 5.7.0 refuses or ignores, "
                       "with what to write instead before rolling back "
                       "to it. Contacts no backend. Exit code 0 when the "
                       "configuration is safe to roll back with, 1 when "
                       "not.")),
    cfg.BoolOpt('debug', default=False,
                help=_("On an unexpected error, print its traceback "
                       "(with the S3 keys hidden) after the one-line "
                       "message.")),
]


class UsageExit(Exception):
    """A command line error already printed by argparse: exit code 2."""


def parse_args(argv, default_config_files=None):
    """A private ``ConfigOpts`` with the command line parsed.

    :param argv: the arguments, without the program name.
    :param default_config_files: the files read when none is given
        (default: /etc/glance/glance-api.conf when it exists).
    :returns: the parsed ``cfg.ConfigOpts``.
    :raises: ``model.ConfigError`` for a bad file or value, ``UsageExit``
        for a command line error argparse has printed.
    """
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
        raise model.ConfigError(_("configuration file not found: %s") %
                                ', '.join(e.config_files))
    except cfg.Error as e:
        raise model.ConfigError(str(e).strip().splitlines()[0])
    except SystemExit as e:
        # oslo.config exits with the message of a bad option value;
        # argparse has printed the usage error already.
        if isinstance(e.code, str):
            raise model.ConfigError(e.code)
        if e.code:
            raise UsageExit()
        raise
    return conf


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
    """A ``Progress`` on ``stream`` (stderr) when it is a terminal."""
    stream = stream or sys.stderr
    if not stream.isatty():
        return None
    return Progress(stream)


def _clear(progress):
    if progress is not None and hasattr(progress, 'clear'):
        progress.clear()


def run_checks(conf, backend_names, progress=None):
    """``probe.check_backend`` of each backend; the progress line cleared.

    :returns: a list of ``model.BackendResult``.
    """
    try:
        return [probe.check_backend(conf, name, progress=progress)
                for name in backend_names]
    finally:
        _clear(progress)


def emit(results, fmt, embedded_doc=None, out=None, err=None):
    """Print the report.

    :param results: a list of ``model.BackendResult``.
    :param fmt: ``table`` or ``json``.
    :param embedded_doc: the ``--embedded`` part of a JSON report.
    :returns: the exit code of the results.
    """
    out = out or sys.stdout
    err = err or sys.stderr
    if fmt == 'json':
        out.write(report.to_json(results, embedded_doc) + '\n')
        return report.exit_code(results)
    for result in results:
        if result.error:
            err.write('%s: %s\n' % (PROG, report.error_line(result)))
    shown = [r for r in results if not r.error]
    if shown:
        out.write(report.render_table(shown))
    return report.exit_code(results)


# --- the modes ------------------------------------------------------------

def _require_configuration(conf):
    if conf.image:
        raise model.ConfigError(_("--image is only used with --embedded"))
    if not conf.config_file and not conf.config_dir:
        raise model.ConfigError(_(
            "no configuration: give --config-file (for example "
            "%s) or --config-dir, or use --embedded") % DEFAULT_CONFIG_FILE)


def check_mode(conf, progress):
    """The default mode: check the backends of the configuration."""
    _require_configuration(conf)
    names = s3_backends.find_s3_backends(conf, conf.backend)
    code = emit(run_checks(conf, names, progress), conf.format)
    if conf.format != 'json':
        sys.stdout.write(rollback.summary_line(_rollback_findings(conf)))
    return code


def _rollback_findings(conf):
    try:
        return rollback.check(conf)
    except (cfg.Error, OSError) as e:
        raise model.ConfigError(str(e).strip().splitlines()[0])


def upstream_compatible_mode(conf, progress):
    """--upstream-compatible: can the files go back to upstream 5.7.0?

    :returns: 0 when they can, 1 when a value must change first.
    """
    _require_configuration(conf)
    findings = _rollback_findings(conf)
    sys.stdout.write(rollback.render(findings))
    return rollback.exit_code(findings)


def embedded_mode(conf, progress):
    """--embedded: the check and an image round trip on a local server."""
    fmt = conf.format
    with embedded.Session(conf.image) as session:
        if fmt != 'json':
            sys.stdout.write(report.render_embedded_config(
                session.endpoint, session.path, session.config_text()))
            sys.stdout.flush()
        checked = session.conf()
        results = run_checks(
            checked, s3_backends.find_s3_backends(checked), progress)
        trip = session.round_trip(checked, results, progress)
        _clear(progress)
        code = emit(results, fmt, trip if fmt == 'json' else None)
        if fmt != 'json':
            sys.stdout.write('\n' + report.render_round_trip(trip))
    if not trip['ok']:
        code = max(code, model.EXIT_NOT_WORKING)
    return code


def stale_mode(conf, progress):
    """--stale-uploads: report (and abort) leftover multipart uploads.

    :returns: the exit code (0 none left, 1 some, 2 configuration error).
    """
    age = stale.validate(conf)
    _require_configuration(conf)
    results = [stale.check_backend(conf, name, age, conf.abort,
                                   conf.apply_lifecycle)
               for name in s3_backends.find_s3_backends(conf, conf.backend)]
    if conf.format == 'json':
        sys.stdout.write(report.stale_json(results) + '\n')
    for result in results:
        if result.error:
            sys.stderr.write('%s: backend %s: %s\n' % (
                PROG, result.backend, result.error))
        elif conf.format != 'json':
            sys.stdout.write(report.render_stale(result))
    return report.stale_exit_code(results)


# (option, mode): the first mode whose option is set runs.
MODES = (
    ('embedded', embedded_mode),
    ('stale_uploads', stale_mode),
    ('upstream_compatible', upstream_compatible_mode),
)


def select_mode(conf):
    """The mode function the parsed command line asks for."""
    for option, mode in MODES:
        if conf[option]:
            return mode
    return check_mode


# --- main -----------------------------------------------------------------

def _interrupted(signum, frame):
    raise KeyboardInterrupt()


def _fail(message, code=model.EXIT_USAGE):
    sys.stderr.write('%s: %s\n' % (PROG, message))
    return code


def _unexpected(error, debug):
    if debug:
        sys.stderr.write(s3_redact.redact(traceback.format_exc()))
    return _fail(_("unexpected error: %(type)s: %(error)s%(hint)s") % {
        'type': type(error).__name__, 'error': s3_redact.redact(str(error)),
        'hint': '' if debug else _(" (--debug prints the traceback)")},
        model.EXIT_NOT_WORKING)


def _run(argv):
    conf = None
    try:
        conf = parse_args(argv)
        try:
            stale.validate(conf)
        except ValueError as e:
            raise model.ConfigError(str(e))
        return select_mode(conf)(conf, progress_printer())
    except model.ConfigError as e:
        return _fail(str(e))
    except UsageExit:
        return model.EXIT_USAGE
    except KeyboardInterrupt:
        return _fail(_("interrupted; the objects written by the check "
                       "were removed"), model.EXIT_INTERRUPTED)
    except Exception as e:
        # A bug or an unforeseen error: one line; the traceback with
        # --debug.
        return _unexpected(e, conf is not None and conf.debug)


def main(argv=None):
    """The console script ``glance-store-s3-check``.

    :param argv: the arguments (default: ``sys.argv[1:]``).
    :returns: the exit code.
    """
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
        return _run(argv)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


if __name__ == '__main__':
    sys.exit(main())
