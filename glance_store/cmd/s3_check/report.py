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

"""What glance-store-s3-check reports: ranking, recommendation, table, JSON.

The recommendation is the configuration with the strongest protection
among those whose every operation passed: ``always`` with the strongest
algorithm (SHA256 > SHA1 > CRC64NVME > CRC32C > CRC32), then
``when_supported``, then the switch off.  Functions here build text and
documents; they print nothing.
"""

import json

from oslo_utils import units

from glance_store.cmd.s3_check import model
from glance_store.i18n import _


def _ranked():
    """The standard configurations, weakest first."""
    by_label = {c.label: c for c in
                model.standard_configurations(only_available=False)}
    strongest = ['always/%s' % a for a in model.ALGORITHM_STRENGTH] + [
        'when_supported', 'off']
    return [by_label[label] for label in reversed(strongest)]


def rank(configuration):
    """Protection of a standard configuration (higher is stronger).

    :returns: an int, or None for a configuration that is none of the
        standard ones (the backend's own settings when they are none of
        them): those are reported but never recommended.
    """
    key = configuration.key()
    for position, standard in enumerate(_ranked()):
        if standard.key() == key:
            return position
    return None


def stores_no_checksum(configurations):
    """Whether the backend kept no checksum in any protected setting.

    Then turning protection on checks nothing end to end (Ceph RGW 16
    ignores checksum headers and returns none): it only costs CPU, and the
    switch-off mode is as protected (signed payloads, Content-MD5).
    """
    protected = [r for r in configurations
                 if r.works and r.configuration.enabled]
    return bool(protected) and all(r.stored_checksum == 'none'
                                   for r in protected)


def recommend(configurations):
    """The ``ConfigResult`` to recommend among ``configurations``.

    The strongest protection that works, except on a backend that stores
    no checksum, where the switch-off mode is recommended (see
    stores_no_checksum).

    :param configurations: a list of ``model.ConfigResult``.
    :returns: one of them, or None when no standard one works.
    """
    candidates = [r for r in configurations
                  if r.works and rank(r.configuration) is not None]
    if stores_no_checksum(configurations):
        off = [r for r in candidates if not r.configuration.enabled]
        if off:
            return off[0]
    if not candidates:
        return None
    return max(candidates, key=lambda r: rank(r.configuration))


def snippet(section, configuration):
    """The configuration as lines to paste in ``[section]``."""
    lines = ['[%s]' % section]
    for name, value in configuration.options().items():
        lines.append('%s = %s' % (name, value))
    return '\n'.join(lines) + '\n'


def exit_code(results):
    """2 for a configuration error, 1 when a backend's settings fail."""
    if any(r.error_kind == 'config' for r in results):
        return model.EXIT_USAGE
    if not results or not all(r.current_works for r in results):
        return model.EXIT_NOT_WORKING
    return model.EXIT_OK


def error_line(result):
    """The one line of a backend that could not be checked."""
    return _("backend %(backend)s: %(error)s") % {
        'backend': result.backend, 'error': result.error}


def describe(configuration):
    """The label of a configuration in the report."""
    c = configuration
    if c.label != 'current':
        return c.label
    if not c.enabled:
        return 'off'
    text = '%s/%s' % (c.request, c.response)
    if c.uses_algorithm:
        text += ' %s' % c.algorithm
    return text


def _mib(size):
    return '%g MiB' % (size / units.Mi)


def upload_line(upload):
    """What uploads use with the file, and what the check used."""
    return _("Uploads with these settings: multipart from %(threshold)s "
             "(s3_store_large_object_size), parts of %(part)s "
             "(s3_store_large_object_chunk_size), %(flight)d in flight "
             "(s3_store_thread_pools); the check's multipart upload uses "
             "two parts of %(check)s (S3's minimum, "
             "accepted like larger ones).") % {
        'threshold': _mib(upload['threshold']),
        'part': _mib(upload['part_size']),
        'flight': upload['parts_in_flight'],
        'check': _mib(upload['check_part_size'])}


# --- dictionaries (JSON) ---------------------------------------------------

def _config_dict(res):
    return {
        'label': res.configuration.label,
        'options': res.configuration.options(),
        'results': dict(res.results),
        'messages': dict(res.messages),
        'stored_checksum': res.stored_checksum,
        'works': res.works,
        'current': res.current,
    }


def _step_dict(step):
    if step is None:
        return None
    return {'name': step.name, 'ok': step.ok, 'detail': step.detail,
            'code': step.code}


def _current_dict(result):
    current = result.current
    if current is None:
        return None
    return {'label': describe(current), 'options': current.options(),
            'works': result.current_works}


def _recommendation_dict(result):
    rec = recommend(result.configurations)
    if rec is None:
        return None
    return {'label': rec.configuration.label,
            'backend_stores_no_checksum': stores_no_checksum(
                result.configurations),
            'options': rec.configuration.options(),
            'snippet': snippet(result.section, rec.configuration)}


def backend_dict(result):
    """The JSON-ready description of one ``model.BackendResult``."""
    return {
        'backend': result.backend,
        'section': result.section,
        'multi_store': result.multi_store,
        'endpoint': result.endpoint,
        'bucket': result.bucket,
        'network': result.network,
        'error': result.error,
        'error_kind': result.error_kind,
        'warnings': list(result.warnings),
        'upload': result.upload,
        'steps': [_step_dict(s) for s in result.steps],
        'operations': list(model.OPERATIONS),
        'configurations': [_config_dict(c) for c in result.configurations],
        'not_tried': [{'label': n.label, 'reason': n.reason}
                      for n in result.not_tried],
        'current': _current_dict(result),
        'recommendation': _recommendation_dict(result),
        'cleanup': _step_dict(result.cleanup),
    }


def to_json(results, embedded=None):
    """The JSON document of the run.

    :param results: a list of ``model.BackendResult``.
    :param embedded: the ``--embedded`` part (a dict), or None.
    :returns: the document as a string.
    """
    doc = {
        'exit_code': exit_code(results),
        'current_settings_work': bool(results) and all(
            r.current_works for r in results),
        'backends': [backend_dict(r) for r in results],
    }
    if embedded is not None:
        doc['embedded'] = embedded
        if not embedded.get('ok'):
            doc['exit_code'] = max(doc['exit_code'], model.EXIT_NOT_WORKING)
    return json.dumps(doc, indent=2, sort_keys=False)


# --- table ----------------------------------------------------------------

def _columns(rows, indent='  '):
    if not rows:
        return []
    widths = [max(len(str(row[i])) for row in rows)
              for i in range(len(rows[0]))]
    lines = []
    for row in rows:
        cells = [str(c).ljust(w) for c, w in zip(row, widths)]
        lines.append((indent + '  '.join(cells)).rstrip())
    return lines


def _status(ok):
    return 'ok' if ok else 'FAILED'


def _header(result):
    mode = _('multi-store') if result.multi_store else _('single store')
    return [_("Backend %(backend)s (%(mode)s, section [%(section)s]): "
              "endpoint %(endpoint)s, bucket %(bucket)s") % {
        'backend': result.backend, 'mode': mode,
        'section': result.section, 'endpoint': result.endpoint,
        'bucket': result.bucket}] + _network(result) + ['']


def _network(result):
    if not result.network:
        return []
    return ['  ' + _("network: %s") % result.network]


def _warnings(result):
    if not result.warnings:
        return []
    lines = ['  ' + _("Glance logs these warnings for this backend:")]
    lines += ['    %s' % w for w in result.warnings]
    return lines + ['']


def _matrix(result):
    header = [_('configuration')] + list(model.OPERATIONS) + \
        [_('stored checksum')]
    rows = [header]
    for res in result.configurations:
        mark = '* ' if res.current else '  '
        rows.append([mark + describe(res.configuration)] +
                    [res.results.get(op, '-') for op in model.OPERATIONS] +
                    [res.stored_checksum or '-'])
    lines = [''] + _columns(rows)
    lines.append('  ' + _("(* = the backend's current settings; "
                          "stored checksum = what the backend returns "
                          "for the small object)"))
    return lines


def _not_tried(result):
    return ['  ' + _("Not tried here: %(label)s: %(reason)s") % {
        'label': n.label, 'reason': n.reason} for n in result.not_tried]


def _failures(result):
    failures = []
    for res in result.configurations:
        for op in model.OPERATIONS:
            msg = res.messages.get(op)
            if msg and (res.configuration.label, msg) not in failures:
                failures.append((res.configuration.label, msg))
    if not failures:
        return []
    return ['', '  ' + _("Failures:")] + [
        '    %s: %s' % failure for failure in failures]


def _verdict(result):
    if result.error:
        return [_("Current settings: not checked (%s)") % result.error]
    if result.current is None:
        return []
    verdict = _("work") if result.current_works else _("DO NOT WORK")
    return [_("Current settings (%(label)s): %(verdict)s") % {
        'label': describe(result.current), 'verdict': verdict}]


def _recommendation(result):
    rec = recommend(result.configurations)
    if rec is None:
        if result.configurations:
            return [_("No checksum configuration works with this "
                      "backend: see the failures above.")]
        return []
    lines = []
    if stores_no_checksum(result.configurations):
        lines.append(_("The backend stores no checksum whatever the "
                       "settings: turning protection on would check "
                       "nothing more and only cost CPU."))
    lines.append(_("Recommended settings (%s), to paste in the "
                   "backend's section:") % rec.configuration.label)
    lines.append('')
    lines += ['    ' + line for line in
              snippet(result.section, rec.configuration).splitlines()]
    return lines


def _cleanup(result):
    if result.cleanup is None:
        return []
    c = result.cleanup
    return [''] + _columns([(c.name, _status(c.ok), c.detail)])


def render_backend(result):
    """The table of one backend, as a list of lines."""
    lines = _header(result) + _warnings(result)
    lines += _columns([(s.name, _status(s.ok), s.detail)
                       for s in result.steps])
    if result.configurations:
        lines += _matrix(result) + _not_tried(result) + _failures(result)
    if result.upload and result.configurations:
        lines += ['', '  ' + upload_line(result.upload)]
    lines.append('')
    lines += _verdict(result) + _recommendation(result) + _cleanup(result)
    return lines


def render_table(results):
    """The report of every backend, as one string."""
    return '\n\n'.join('\n'.join(render_backend(r)) for r in results) + '\n'


# --- the --embedded parts ---------------------------------------------------

def render_embedded_config(endpoint, path, text):
    """The heading and the (redacted) temporary configuration."""
    heading = _("Local S3 server (moto) at %(endpoint)s; temporary "
                "configuration %(path)s:") % {
        'endpoint': endpoint, 'path': path}
    body = ''.join('    ' + line + '\n' for line in text.splitlines())
    return heading + '\n\n' + body + '\n'


def render_round_trip(embedded):
    """The image round trip of ``--embedded`` (a dict), as a string."""
    lines = [_("Image round trip through the S3 store (backend %(backend)s, "
               "settings %(settings)s):") % embedded, '']
    width = max(len(s['name']) for s in embedded['steps'])
    for s in embedded['steps']:
        lines.append('  %s  %-6s %s' % (s['name'].ljust(width),
                                        _status(s['ok']), s['detail']))
    lines.append('')
    lines.append(_("Round trip: %s") % (_('verified') if embedded['ok']
                                        else _('FAILED')))
    return '\n'.join(lines) + '\n'
