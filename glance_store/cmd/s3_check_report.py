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

"""What glance-store-s3-check prints: table, JSON, recommendation.

The recommendation is the configuration with the strongest protection
among those whose every operation passed: ``always`` with the strongest
algorithm (SHA256 > SHA1 > CRC64NVME > CRC32C > CRC32), then
``when_supported``, then the switch off.
"""

import json

from glance_store._drivers import s3_checksums
from glance_store.cmd import s3_check_probe as probe
from glance_store.i18n import _

EXIT_OK = 0
EXIT_NOT_WORKING = 1
EXIT_USAGE = 2

# Strongest first.
ALGORITHM_STRENGTH = ('SHA256', 'SHA1', 'CRC64NVME', 'CRC32C', 'CRC32')


def rank(configuration):
    """Protection of a standard configuration (higher is stronger).

    None for a configuration that is not one of the standard ones (the
    backend's own settings when they are none of them): those are
    reported but never recommended.
    """
    key = configuration.key()
    if key == ('off',):
        return 0
    if key == ('on', s3_checksums.WHEN_SUPPORTED,
               s3_checksums.WHEN_SUPPORTED, None):
        return 10
    if key[:3] == ('on', s3_checksums.ALWAYS, s3_checksums.ALWAYS) and \
            key[3] in ALGORITHM_STRENGTH:
        return 20 + len(ALGORITHM_STRENGTH) - \
            ALGORITHM_STRENGTH.index(key[3])
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
    """The ``ConfigResult`` to recommend among ``configurations``, or None.

    ``configurations`` is a list of ``ConfigResult``.  The strongest
    protection that works, except on a backend that stores no checksum,
    where the switch-off mode is recommended (see stores_no_checksum).
    """
    if stores_no_checksum(configurations):
        for res in configurations:
            if res.works and not res.configuration.enabled and \
                    rank(res.configuration) is not None:
                return res
    best = None
    best_rank = None
    for res in configurations:
        r = rank(res.configuration)
        if r is None or not res.works:
            continue
        if best_rank is None or r > best_rank:
            best, best_rank = res, r
    return best


def snippet(section, configuration):
    """The configuration as lines to paste in ``[section]``."""
    lines = ['[%s]' % section]
    for name, value in configuration.options().items():
        lines.append('%s = %s' % (name, value))
    return '\n'.join(lines) + '\n'


def exit_code(results):
    """2 for a configuration error, 1 when a backend's settings fail."""
    if any(r.error_kind == 'config' for r in results):
        return EXIT_USAGE
    if not results or not all(r.current_works for r in results):
        return EXIT_NOT_WORKING
    return EXIT_OK


def error_line(result):
    return _("backend %(backend)s: %(error)s") % {
        'backend': result.backend, 'error': result.error}


def _describe(configuration):
    if configuration.label != 'current':
        return configuration.label
    c = configuration
    if not c.enabled:
        return 'off'
    text = '%s/%s' % (c.request, c.response)
    if s3_checksums.ALWAYS in (c.request.lower(), c.response.lower()):
        text += ' %s' % c.algorithm
    return text


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


def backend_dict(result):
    """The JSON-ready description of one ``BackendResult``."""
    rec = recommend(result.configurations)
    current = result.current
    return {
        'backend': result.backend,
        'section': result.section,
        'multi_store': result.multi_store,
        'endpoint': result.endpoint,
        'bucket': result.bucket,
        'error': result.error,
        'error_kind': result.error_kind,
        'steps': [_step_dict(s) for s in result.steps],
        'operations': list(probe.OPERATIONS),
        'configurations': [_config_dict(c) for c in result.configurations],
        'current': None if current is None else {
            'label': _describe(current),
            'options': current.options(),
            'works': result.current_works,
        },
        'recommendation': None if rec is None else {
            'label': rec.configuration.label,
            'backend_stores_no_checksum': stores_no_checksum(
                result.configurations),
            'options': rec.configuration.options(),
            'snippet': snippet(result.section, rec.configuration),
        },
        'cleanup': _step_dict(result.cleanup),
    }


def to_json(results, embedded=None):
    doc = {
        'exit_code': exit_code(results),
        'current_settings_work': bool(results) and all(
            r.current_works for r in results),
        'backends': [backend_dict(r) for r in results],
    }
    if embedded is not None:
        doc['embedded'] = embedded
        if not embedded.get('ok'):
            doc['exit_code'] = max(doc['exit_code'], EXIT_NOT_WORKING)
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


def render_backend(result):
    """The table of one backend, as a list of lines."""
    mode = _('multi-store') if result.multi_store else _('single store')
    lines = [_("Backend %(backend)s (%(mode)s, section [%(section)s]): "
               "endpoint %(endpoint)s, bucket %(bucket)s") % {
        'backend': result.backend, 'mode': mode,
        'section': result.section, 'endpoint': result.endpoint,
        'bucket': result.bucket}, '']
    lines += _columns([(s.name, 'ok' if s.ok else 'FAILED', s.detail)
                       for s in result.steps])
    if result.configurations:
        lines.append('')
        header = [_('configuration')] + list(probe.OPERATIONS) + \
            [_('stored checksum')]
        rows = [header]
        for res in result.configurations:
            label = _describe(res.configuration)
            if res.current:
                label = '* ' + label
            else:
                label = '  ' + label
            rows.append([label] + [res.results.get(op, '-')
                                   for op in probe.OPERATIONS] +
                        [res.stored_checksum or '-'])
        lines += _columns(rows)
        lines.append('  ' + _("(* = the backend's current settings; "
                              "stored checksum = what the backend returns "
                              "for the small object)"))
        failures = []
        for res in result.configurations:
            for op in probe.OPERATIONS:
                msg = res.messages.get(op)
                if msg and (res.configuration.label, msg) not in failures:
                    failures.append((res.configuration.label, msg))
        if failures:
            lines.append('')
            lines.append('  ' + _("Failures:"))
            for label, msg in failures:
                lines.append('    %s: %s' % (label, msg))
    lines.append('')
    current = result.current
    if result.error:
        lines.append(_("Current settings: not checked (%s)") % result.error)
    elif current is not None:
        if result.current_works:
            verdict = _("work")
        else:
            verdict = _("DO NOT WORK")
        lines.append(_("Current settings (%(label)s): %(verdict)s") % {
            'label': _describe(current), 'verdict': verdict})
    rec = recommend(result.configurations)
    if rec is not None:
        if stores_no_checksum(result.configurations):
            lines.append(_("The backend stores no checksum whatever the "
                           "settings: turning protection on would check "
                           "nothing more and only cost CPU."))
        lines.append(_("Recommended settings (%s), to paste in the "
                       "backend's section:") % rec.configuration.label)
        lines.append('')
        lines += ['    ' + line for line in
                  snippet(result.section, rec.configuration).splitlines()]
    elif result.configurations:
        lines.append(_("No checksum configuration works with this "
                       "backend: see the failures above."))
    if result.cleanup is not None:
        lines.append('')
        lines += _columns([(result.cleanup.name,
                            'ok' if result.cleanup.ok else 'FAILED',
                            result.cleanup.detail)])
    return lines


def render_table(results):
    """The report of every backend, as one string."""
    blocks = []
    for result in results:
        blocks.append('\n'.join(render_backend(result)))
    return '\n\n'.join(blocks) + '\n'
