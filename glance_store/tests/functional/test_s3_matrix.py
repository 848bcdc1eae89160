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

"""The S3 store on real servers: servers x checksum options x image shapes.

Every cell goes through the store's public API: ``add``, ``get`` (whole
and ranged), ``get_size`` and ``delete``. The expected outcome is a
byte-exact round trip with the right md5 and sha512 multihash, except for
``when_supported`` uploads over HTTPS to servers that refuse boto3's
aws-chunked uploads (Ceph RGW 16: 411 MissingContentLength, bug 2121144;
Swift 2.30's s3api: 501 NotImplemented), where the store must raise a
BackendException naming the checksum option and leave nothing in the
bucket. Servers: Ceph RGW, LocalStack, SeaweedFS and OpenStack Swift's
s3api (each skipped, or failed in CI, when tools/s3_servers.py did not
start it).

Each test covers one (server, checksum configuration) row and writes its
cells to a directory of the run; every test then rewrites the whole table
to /tmp/gs-func-matrix.txt (and next to the servers' JSON file), so after
the run that file holds the table of every row that ran.
"""

import glob
import json
import os
import time

import fixtures
from testtools import content

from glance_store import exceptions
from glance_store.tests.functional import s3_store_helpers as helpers

MiB = helpers.MiB
TABLE_FILE = '/tmp/gs-func-matrix.txt'

SERVERS = (
    ('rgw', 'https', 'RGW https'),
    ('rgw', 'http', 'RGW http'),
    ('localstack', 'https', 'LocalStack https'),
    ('localstack', 'http', 'LocalStack http'),
    ('seaweedfs', 'https', 'SeaweedFS https'),
    ('seaweedfs', 'http', 'SeaweedFS http'),
    ('swift', 'https', 'Swift s3api https'),
    ('swift', 'http', 'Swift s3api http'),
)
# What each server answers to boto3's aws-chunked uploads over HTTPS
# (when_supported), when it refuses them.
CHUNKED_REFUSALS = {
    'rgw': ('MissingContentLength', '411'),
    'swift': ('NotImplemented', '501'),
}
# Servers that keep the checksum the store sends (HEAD shows it), and
# servers that keep none.
STORE_CHECKSUMS = ('localstack', 'seaweedfs')
STORE_NO_CHECKSUM = ('rgw', 'swift')
UNVALIDATED = 'without validation'
CONFIGS = (
    ('off', helpers.SWITCH_OFF),
    ('when_supported', helpers.WHEN_SUPPORTED),
    ('always_crc32', helpers.ALWAYS_CRC32),
    ('always_2nd', helpers.second_always()),
)
# (label, bytes, declared size): 0 declared means unknown (chunked upload).
SHAPES = (
    ('0 B', 0, 0),
    ('1 MiB known', 1 * MiB, 1 * MiB),
    ('1 MiB unknown', 1 * MiB, 0),
    ('12 MiB multipart known', 12 * MiB, 12 * MiB),
    ('12 MiB multipart unknown', 12 * MiB, 0),
)
OPTION_NAME = 's3_store_request_checksum_calculation'


def expects_refusal(kind, scheme, checksums):
    """Servers that refuse boto3's aws-chunked uploads (HTTPS only)."""
    return (kind in CHUNKED_REFUSALS and scheme == 'https' and
            checksums.enabled and checksums.request == 'when_supported')


def ranges(size):
    """(offset, chunk_size) pairs to read back, for an object of size."""
    if not size:
        return []
    result = [(size // 3, 4096), (size - 1000, None), (0, 1)]
    if size > helpers.CHUNK_SIZE_MB * MiB:
        # Across the boundary of the first two parts.
        result.append((helpers.CHUNK_SIZE_MB * MiB - 100, 200))
    return result


class TestS3Matrix(helpers.S3StoreTestCase):

    def _stored_checksum(self, kind, key):
        """The checksum HEAD (checksum mode on) shows, as text."""
        head = self.head(kind, key, ChecksumMode='ENABLED')
        for name in ('CRC32', 'CRC32C', 'CRC64NVME', 'SHA1', 'SHA256'):
            if head.get('Checksum' + name):
                kind_ = head.get('ChecksumType') or '?'
                return '%s %s' % (name, kind_)
        return 'none'

    def _round_trip(self, store, kind, checksums, data, declared, log):
        key = helpers.unique_key('matrix')
        result = store.add(key, helpers.Reader(data), declared, 'sha512')
        uri = self.assertAdded(result, data)
        self.assertTrue(uri.startswith(store.url_prefix), uri)
        self.assertTrue(uri.endswith('/' + key), uri)
        stored = self._stored_checksum(kind, key)

        before = log.output.count(UNVALIDATED)
        loc = self.assertStored(store, uri, data)
        unvalidated = log.output.count(UNVALIDATED) - before
        outcome = 'ok'
        if checksums.response == 'always':
            outcome = 'ok, unvalidated' if unvalidated else 'ok, validated'
            if kind in STORE_CHECKSUMS:
                # A stored full-object checksum (or a composite one with
                # its parts) is always checked.
                self.assertEqual(0, unvalidated, stored)
        else:
            self.assertEqual(0, unvalidated)
        if checksums.request == 'always' and kind in STORE_CHECKSUMS:
            # The checksum the store sent is the one the server kept.
            self.assertTrue(stored.startswith(checksums.algorithm + ' '),
                            stored)
        if kind in STORE_NO_CHECKSUM:
            self.assertEqual('none', stored)

        for offset, chunk_size in ranges(len(data)):
            got, size = helpers.read_all(store, loc, offset, chunk_size)
            end = len(data) if chunk_size is None else offset + chunk_size
            self.assertEqual(data[offset:end], got,
                             'range %s+%s' % (offset, chunk_size))
            self.assertEqual(end - offset, size)

        store.delete(loc)
        self.assertRaises(exceptions.NotFound, store.get_size, loc)
        self.assertNothingLeft(kind, key)
        return outcome, stored

    def _refused(self, store, kind, data, declared):
        key = helpers.unique_key('matrix')
        exc = self.assertRaises(exceptions.BackendException, store.add,
                                key, helpers.Reader(data), declared,
                                'sha512')
        code, status = CHUNKED_REFUSALS[kind]
        self.assertIn(OPTION_NAME, str(exc))
        self.assertIn(code, str(exc))
        self.assertNothingLeft(kind, key)
        return 'refused (%s), clean' % status, '-'

    def _row(self, kind, scheme, label, config_id, checksums):
        server = self.server(kind)
        store = self.store(kind, scheme, checksums)
        self.assertEqual(scheme == 'https', store.use_https)
        self.assertEqual(helpers.servers.endpoint(server, scheme),
                         store.endpoint_url)
        log = self.useFixture(fixtures.FakeLogger(
            name=helpers.DRIVER_LOGGER, level='DEBUG'))
        refuse = expects_refusal(kind, scheme, checksums)
        cells = []
        failures = []
        for shape, size, declared in SHAPES:
            data = helpers.image(size, seed=size + declared)
            start = time.monotonic()
            try:
                if refuse:
                    outcome, stored = self._refused(store, kind, data,
                                                    declared)
                else:
                    outcome, stored = self._round_trip(
                        store, kind, checksums, data, declared, log)
            except Exception as e:
                outcome, stored = 'FAIL %s' % type(e).__name__, '?'
                failures.append('%s: %r' % (shape, e))
            cells.append({'shape': shape, 'outcome': outcome,
                          'stored': stored,
                          'seconds': round(time.monotonic() - start, 2)})
        self._record(label, config_id, checksums, cells)
        if failures:
            self.fail('%s / %s:\n%s' % (label, checksums.name,
                                        '\n'.join(failures)))

    def _record(self, label, config_id, checksums, cells):
        directory = helpers.matrix_dir()
        row = {'server': label, 'config': checksums.name,
               'order': [s[2] for s in SERVERS].index(label) * 10 +
               [c[0] for c in CONFIGS].index(config_id),
               'cells': cells}
        path = os.path.join(directory, '%s-%s.json' % (
            label.replace(' ', '_'), config_id))
        with open(path, 'w') as f:
            json.dump(row, f)
        rows = []
        for name in glob.glob(os.path.join(directory, '*.json')):
            with open(name) as f:
                rows.append(json.load(f))
        rows.sort(key=lambda r: r['order'])
        table = render(rows)
        self.addDetailUniqueName('matrix', content.text_content(table))
        for target in (TABLE_FILE,
                       os.path.join(os.path.dirname(directory),
                                    'gs-func-matrix.txt')):
            tmp = target + '.%d.tmp' % os.getpid()
            with open(tmp, 'w') as f:
                f.write(table)
            os.replace(tmp, target)


def render(rows):
    """A Markdown table: one row per (server, configuration)."""
    header = ['server', 'checksums'] + [s[0] for s in SHAPES] + [
        'stored checksum (1 MiB / 12 MiB)', 'seconds']
    lines = ['| ' + ' | '.join(header) + ' |',
             '|' + '|'.join('---' for _h in header) + '|']
    for row in rows:
        cells = row['cells']
        single = next((c['stored'] for c in cells
                       if c['shape'] == '1 MiB known'), '?')
        multi = next((c['stored'] for c in cells
                      if c['shape'] == '12 MiB multipart known'), '?')
        stored = single if single == multi else '%s / %s' % (single, multi)
        seconds = sum(c['seconds'] for c in cells)
        lines.append('| ' + ' | '.join(
            [row['server'], row['config']] + [c['outcome'] for c in cells] +
            [stored, '%.1f' % seconds]) + ' |')
    lines.append('')
    lines.append('ok = add returned the right size, md5 and sha512; get '
                 '(whole and %s), get_size and delete were byte-exact; '
                 'nothing left in the bucket; validated / unvalidated = '
                 'the full download was (not) checked against a checksum '
                 '(response validation always). refused (411/501), clean '
                 '= BackendException naming %s, no object and no open '
                 'multipart upload left. Multipart threshold and part size '
                 '%d MiB.' % ('ranged', OPTION_NAME,
                              helpers.CHUNK_SIZE_MB))
    return '\n'.join(lines) + '\n'


def _make_test(kind, scheme, label, config_id, checksums):
    def test(self):
        self._row(kind, scheme, label, config_id, checksums)
    test.__doc__ = '%s, %s' % (label, checksums.name)
    return test


for _kind, _scheme, _label in SERVERS:
    for _config_id, _checksums in CONFIGS:
        setattr(TestS3Matrix, 'test_%s_%s_%s' % (_kind, _scheme, _config_id),
                _make_test(_kind, _scheme, _label, _config_id, _checksums))
