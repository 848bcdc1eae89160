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

The recommendation is, among the standard configurations whose every
operation passed, the one whose downloads were validated for the
multipart object, then for the small object, and among equals the
cheapest in CPU (``model.ALGORITHM_CPU``): a backend that keeps full-object
CRCs gets the cheapest CRC, one that keeps no flexible checksum (Ceph RGW
16, Swift) ``always/MD5`` when its MD5 ETags validated a download there,
else the switch-off mode, and a configuration that leaves multipart
images unvalidated (SeaweedFS's composite SHA checksums) is never chosen
while another one validates them.  Functions here build text and
documents; they print nothing.
"""

import json

from oslo_utils import units

from glance_store._drivers import s3_checksums
from glance_store.cmd.s3_check import leftovers
from glance_store.cmd.s3_check import model
from glance_store.i18n import _


def _strength(configuration):
    if not configuration.enabled:
        return -2
    if not configuration.uses_algorithm:
        return -1
    order = model.ALGORITHM_STRENGTH
    if configuration.algorithm in order:
        return len(order) - order.index(configuration.algorithm)
    return 0  # an algorithm without a place: the weakest always one


def _ranked():
    """The standard configurations, weakest first."""
    return sorted(model.standard_configurations(only_available=False),
                  key=_strength)


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

    Ceph RGW 16 and Swift ignore the flexible checksum headers and return
    none: there only ``always/MD5`` can validate a download (against the
    MD5 ETag); every other protected setting checks nothing more than the
    switch-off mode (signed payloads, Content-MD5) and only costs CPU.

    :param configurations: a list of ``model.ConfigResult``.
    :returns: True when every working protected setting returned no
        stored checksum for the small object.
    """
    protected = [r for r in configurations
                 if r.works and r.configuration.enabled]
    return bool(protected) and all(r.stored_checksum == 'none'
                                   for r in protected)


def preference(result):
    """How much a working configuration is worth: compare with ``max``.

    :param result: a ``model.ConfigResult``.
    :returns: a tuple: multipart download validated, small download
        validated, minus the CPU cost per GiB, then the protection rank
        (the stronger of two equally cheap ones).
    """
    return tuple([result.validates(shape) for shape, _op in
                  reversed(model.SHAPES)] +
                 [-result.configuration.cpu_per_gib(),
                  rank(result.configuration)])


def recommend(configurations):
    """The ``ConfigResult`` to recommend among ``configurations``.

    The standard configuration that works and validates the most shapes
    (multipart first), the cheapest among those (see ``preference``).

    :param configurations: a list of ``model.ConfigResult``.
    :returns: one of them, or None when no standard one works.
    """
    candidates = [r for r in configurations
                  if r.works and rank(r.configuration) is not None]
    if not candidates:
        return None
    return max(candidates, key=preference)


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
        'stored_checksums': {shape: res.stored_checksums.get(shape)
                             for shape, _op in model.SHAPES},
        'validation': {shape: res.validation_of(shape)
                       for shape, _op in model.SHAPES},
        'cpu_seconds_per_gib': res.configuration.cpu_per_gib(),
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
            'validation': {shape: rec.validation_of(shape)
                           for shape, _op in model.SHAPES},
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


def _stored(res):
    values = [res.stored_checksums.get(shape) or '-'
              for shape, _op in model.SHAPES]
    return values[0] if len(set(values)) == 1 else ' / '.join(values)


def _matrix(result):
    shapes = [shape for shape, _op in model.SHAPES]
    header = [_('configuration')] + list(model.OPERATIONS) + \
        [_('download %s') % shape for shape in shapes] + \
        [_('stored checksum')]
    rows = [header]
    for res in result.configurations:
        mark = '* ' if res.current else '  '
        rows.append([mark + describe(res.configuration)] +
                    [res.results.get(op, '-') for op in model.OPERATIONS] +
                    [res.validation_of(shape) for shape in shapes] +
                    [_stored(res)])
    lines = [''] + _columns(rows)
    lines.append('  ' + _("(* = the backend's current settings; download "
                          "= whether reading the object back was checked "
                          "against a checksum; stored checksum = what the "
                          "backend returns, %s)") % ' / '.join(shapes))
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


def _validation_lines(result, rec):
    """What the recommendation validates, when it is not everything."""
    unvalidated = [shape for shape, _op in model.SHAPES
                   if not rec.validates(shape)]
    no_checksum = stores_no_checksum(result.configurations)
    if no_checksum and len(unvalidated) == len(model.SHAPES):
        return [_("The backend stores no checksum whatever the settings "
                  "and no MD5 ETag could be checked: turning protection "
                  "on would check nothing more and only cost CPU.")]
    lines = []
    if no_checksum and rec.configuration.uses_algorithm and \
            rec.configuration.algorithm == s3_checksums.MD5:
        lines.append(_("The backend stores no flexible checksum: only "
                       "the MD5 ETags it returns validate downloads here "
                       "(s3_store_checksum_algorithm = MD5)."))
    if unvalidated:
        lines.append(_("No working configuration validates the download "
                       "of every shape here (%s unvalidated): the "
                       "cheapest of those that validate the most is "
                       "recommended.") % ', '.join(unvalidated))
    return lines


def _recommendation(result):
    rec = recommend(result.configurations)
    if rec is None:
        if result.configurations:
            return [_("No checksum configuration works with this "
                      "backend: see the failures above.")]
        return []
    lines = _validation_lines(result, rec)
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


# --- the --stale-uploads mode ----------------------------------------------

# The days of the lifecycle rule shown as an example.
STALE_EXAMPLE_DAYS = 7


def stale_exit_code(results):
    """The command's exit code for these results.

    :param results: the ``model.StaleResult`` of every backend
    :returns: 2 on a configuration error, 1 when a backend failed, an
        upload is still open or the lifecycle rule could not be added,
        else 0
    """
    if any(r.error_kind == 'config' for r in results):
        return model.EXIT_USAGE
    if any(r.error or r.remaining or r.lifecycle_error for r in results):
        return model.EXIT_NOT_WORKING
    return model.EXIT_OK


def _stale_totals(uploads):
    return {'uploads': len(uploads),
            'parts': sum(x.parts for x in uploads),
            'bytes': sum(x.bytes for x in uploads)}


def _lifecycle_dict(result):
    status = result.lifecycle
    if status is None:
        return None
    return {'supported': status.supported,
            'abort_rules': list(status.abort_rules),
            'whole_bucket_days': status.whole_bucket_days,
            'rule_to_add': leftovers.abort_rule(
                result.applied_days or STALE_EXAMPLE_DAYS),
            'applied_days': result.applied_days,
            'error': status.error or result.lifecycle_error}


def _outcomes_dict(result):
    if result.outcomes is None:
        return None
    freed = [o.leftover for o in result.outcomes if o.aborted]
    return {'freed': _stale_totals(freed),
            'aborted': [x.as_dict() for x in freed],
            'failed': [dict(o.leftover.as_dict(), error=o.error)
                       for o in result.outcomes if not o.aborted]}


def stale_dict(result):
    """A JSON-ready dict of one backend's result.

    :param result: a ``model.StaleResult``
    :returns: a dict
    """
    return {'backend': result.backend, 'endpoint': result.endpoint,
            'bucket': result.bucket, 'older_than': result.older_than,
            'uploads': [x.as_dict() for x in result.uploads],
            'totals': _stale_totals(result.uploads),
            'abort': _outcomes_dict(result),
            'lifecycle': _lifecycle_dict(result),
            'remaining': len(result.remaining),
            'error': result.error}


def stale_json(results):
    """The JSON document of ``--stale-uploads --format json``.

    :param results: the ``model.StaleResult`` of every backend
    :returns: the document, as text
    """
    return json.dumps({'mode': 'stale-uploads',
                       'exit_code': stale_exit_code(results),
                       'backends': [stale_dict(r) for r in results]},
                      indent=2, sort_keys=True)


def _upload_lines(result):
    totals = _stale_totals(result.uploads)
    lines = ['  incomplete multipart uploads of images initiated more than '
             '%s ago: %d (%d parts, %s held)'
             % (result.older_than, totals['uploads'], totals['parts'],
                '%.1f MiB' % (totals['bytes'] / units.Mi))]
    for x in result.uploads:
        lines.append('    %s  upload %s  initiated %s  %d parts  %d bytes'
                     % (x.key, x.upload_id, x.initiated.isoformat(),
                        x.parts, x.bytes))
    return lines


def _abort_lines(result):
    if result.outcomes is None:
        return ['  (--abort removes them)'] if result.uploads else []
    freed = _stale_totals([o.leftover for o in result.outcomes
                           if o.aborted])
    lines = ['  aborted: %d uploads, %d parts, %d bytes freed'
             % (freed['uploads'], freed['parts'], freed['bytes'])]
    for o in result.outcomes:
        if not o.aborted:
            lines.append('  could not abort %s (upload %s): %s'
                         % (o.leftover.key, o.leftover.upload_id, o.error))
    return lines


def _lifecycle_lines(result):
    status = result.lifecycle
    lines = []
    if result.lifecycle_error:
        lines.append('  lifecycle: --apply-lifecycle refused: %s'
                     % result.lifecycle_error)
    elif result.applied_days is not None:
        lines.append('  lifecycle: rule %s added (abort after %d days), '
                     'existing rules kept'
                     % (leftovers.LIFECYCLE_RULE_ID, result.applied_days))
    if status is None:
        return lines
    if not status.supported:
        lines.append('  lifecycle: %s' % status.error)
    elif status.whole_bucket_days is not None:
        lines.append('  lifecycle: the backend aborts incomplete multipart '
                     'uploads after %d days' % status.whole_bucket_days)
    else:
        lines.append('  lifecycle: no rule aborts incomplete multipart '
                     'uploads of the whole bucket; the rule to add '
                     '(--apply-lifecycle DAYS), here with %d days:'
                     % STALE_EXAMPLE_DAYS)
        lines.append('    ' + json.dumps(
            {'Rules': [leftovers.abort_rule(STALE_EXAMPLE_DAYS)]}))
    return lines


def render_stale(result):
    """The text report of one backend.

    :param result: a ``model.StaleResult`` without error
    :returns: the report, as text ending in a newline
    """
    lines = ['Backend %s: endpoint %s, bucket %s'
             % (result.backend, result.endpoint, result.bucket)]
    lines += _upload_lines(result)
    lines += _abort_lines(result)
    lines += _lifecycle_lines(result)
    return '\n'.join(lines) + '\n'
