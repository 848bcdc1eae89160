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

"""The S3 checksum policy and checksum arithmetic, without any client."""

import base64
import hashlib
import itertools
import random
from unittest import mock
import zlib

from awscrt import checksums as crt
from botocore import httpchecksum
from oslotest import base

from glance_store._drivers import s3_checksums as sc

MODES = ('when_required', 'when_supported', 'always', 'never')
ALGORITHMS = ('CRC32', 'CRC32C', 'CRC64NVME', 'SHA1', 'SHA256')
CRCS = ('CRC32', 'CRC32C', 'CRC64NVME')


def _b64(raw):
    return base64.b64encode(raw).decode('ascii')


def ref_int(algorithm, data):
    """The CRC of ``data`` as an integer, from an independent library."""
    if algorithm == 'CRC32':
        return zlib.crc32(data)
    if algorithm == 'CRC32C':
        return crt.crc32c(data)
    return crt.crc64nvme(data)


def ref_digest(algorithm, data):
    if algorithm in ('SHA1', 'SHA256'):
        return hashlib.new(algorithm.lower(), data).digest()
    width = 8 if algorithm == 'CRC64NVME' else 4
    return ref_int(algorithm, data).to_bytes(width, 'big')


def ref_b64(algorithm, data):
    return _b64(ref_digest(algorithm, data))


def case_variants(value):
    return {value, value.upper(), value.title(),
            ''.join(c.upper() if i % 2 else c for i, c in enumerate(value))}


class TestPolicyMatrix(base.BaseTestCase):
    """master switch x request value x response value (any case)."""

    def _expected(self, enabled, request, response):
        def botocore(mode):
            return 'when_supported' if mode == 'when_supported' \
                else 'when_required'
        if not enabled:
            ignored = []
            if request != 'when_required':
                ignored.append(('s3_store_request_checksum_calculation',
                                request))
            if response != 'when_required':
                ignored.append(('s3_store_response_checksum_validation',
                                response))
            return {'config': {'request_checksum_calculation':
                               'when_required',
                               'response_checksum_validation':
                               'when_required'},
                    'request': 'when_required', 'response': 'when_required',
                    'precompute': False, 'validate_always': False,
                    'ignored': tuple(ignored)}
        return {'config': {'request_checksum_calculation': botocore(request),
                           'response_checksum_validation':
                           botocore(response)},
                'request': request, 'response': response,
                'precompute': request == 'always',
                'validate_always': response == 'always',
                'ignored': ()}

    def test_matrix(self):
        count = 0
        for enabled, request, response in itertools.product(
                (False, True), MODES, MODES):
            exp = self._expected(enabled, request, response)
            for req_v, resp_v in zip(sorted(case_variants(request)),
                                     sorted(case_variants(response))):
                count += 1
                with self.subTest(enabled=enabled, request=req_v,
                                  response=resp_v):
                    p = sc.ChecksumPolicy.from_options(enabled, req_v,
                                                       resp_v)
                    self.assertEqual(enabled, p.enabled)
                    self.assertEqual(exp['config'],
                                     p.client_config_kwargs())
                    # botocore knows only these two values.
                    for v in p.client_config_kwargs().values():
                        self.assertIn(v, ('when_supported',
                                          'when_required'))
                    self.assertEqual(exp['request'], p.request)
                    self.assertEqual(exp['response'], p.response)
                    self.assertEqual(exp['precompute'], p.precompute)
                    self.assertEqual(exp['validate_always'],
                                     p.validate_always)
                    self.assertEqual(exp['ignored'], p.ignored)
        self.assertGreaterEqual(count, 2 * 4 * 4 * 3)

    def test_algorithm_ignored_when_off(self):
        p = sc.ChecksumPolicy.from_options(False, 'always', 'never',
                                           'sha256')
        self.assertEqual('SHA256', p.algorithm)
        self.assertEqual(
            (('s3_store_request_checksum_calculation', 'always'),
             ('s3_store_response_checksum_validation', 'never'),
             ('s3_store_checksum_algorithm', 'SHA256')), p.ignored)
        self.assertFalse(p.needs_crt)
        self.assertEqual({}, p.put_params(b'x'))

    def test_defaults(self):
        for p in (sc.ChecksumPolicy(),
                  sc.ChecksumPolicy.from_options(False),
                  sc.ChecksumPolicy.from_options(False, None, None, None)):
            self.assertFalse(p.enabled)
            self.assertEqual('CRC32', p.algorithm)
            self.assertEqual((), p.ignored)
            self.assertEqual(
                {'request_checksum_calculation': 'when_required',
                 'response_checksum_validation': 'when_required'},
                p.client_config_kwargs())

    def test_algorithm_case_insensitive(self):
        for alg in ALGORITHMS:
            for v in case_variants(alg.lower()):
                with self.subTest(value=v):
                    p = sc.ChecksumPolicy.from_options(True, 'always',
                                                       'always', v)
                    self.assertEqual(alg, p.algorithm)

    def test_invalid_values(self):
        for args in ((True, 'sometimes', 'always'),
                     (True, 'always', 'when-supported'),
                     (False, 'bogus', 'when_required'),
                     (True, 'always', 'always', 'BLAKE2B')):
            with self.subTest(args=args):
                self.assertRaises(ValueError,
                                  sc.ChecksumPolicy.from_options, *args)

    def test_needs_crt(self):
        for alg, enabled, req, resp, expected in (
                ('CRC32C', True, 'always', 'when_required', True),
                ('CRC64NVME', True, 'when_required', 'always', True),
                ('CRC64NVME', True, 'when_supported', 'when_supported',
                 False),
                ('CRC32C', False, 'always', 'always', False),
                ('CRC32', True, 'always', 'always', False),
                ('SHA256', True, 'always', 'always', False)):
            with self.subTest(alg=alg, enabled=enabled, req=req, resp=resp):
                p = sc.ChecksumPolicy.from_options(enabled, req, resp, alg)
                self.assertEqual(expected, p.needs_crt)

    def test_describe(self):
        off = sc.ChecksumPolicy.from_options(False, 'always', 'always')
        self.assertIn('off', off.describe())
        self.assertNotIn('CRC32', off.describe())
        for req, resp in itertools.product(MODES, MODES):
            with self.subTest(request=req, response=resp):
                p = sc.ChecksumPolicy.from_options(True, req, resp,
                                                   'SHA1')
                text = p.describe()
                self.assertTrue(text.startswith(
                    'data integrity protection on'))
                self.assertEqual(req == 'always', 'SHA1' in text)
                self.assertEqual(req == 'when_supported',
                                 'aws-chunked' in text)
                if req in ('never', 'when_required'):
                    self.assertIn('uploads carry no checksum (%s)' % req,
                                  text)
                if resp in ('never', 'when_required'):
                    self.assertIn('downloads are not validated (%s)'
                                  % resp, text)
                self.assertEqual(resp == 'always',
                                 'every full download' in text)
                self.assertEqual(resp == 'when_supported',
                                 'validated by boto3' in text)


class TestChecksumValues(base.BaseTestCase):

    DATA = (b'', b'a', b'123456789', bytes(range(256)) * 37,
            random.Random(7).randbytes(100003))

    def test_known_check_values(self):
        # The published "check" values of each CRC (input "123456789").
        for alg, value in (('CRC32', 0xCBF43926), ('CRC32C', 0xE3069283),
                           ('CRC64NVME', 0xAE8B14860A799888)):
            with self.subTest(alg=alg):
                c = sc.Checksum(alg).update(b'123456789')
                self.assertEqual(value, c.crc)
                self.assertEqual(ref_int(alg, b'123456789'), value)

    def test_every_algorithm_against_reference(self):
        for alg, data in itertools.product(ALGORITHMS, self.DATA):
            with self.subTest(alg=alg, size=len(data)):
                self.assertEqual(ref_b64(alg, data), sc.compute(alg, data))
                self.assertEqual(ref_b64(alg, data),
                                 sc.compute(alg, memoryview(data)))
                c = sc.Checksum(alg)
                rng = random.Random(len(data))
                pos = 0
                while pos < len(data):
                    step = rng.randint(0, 5000)
                    c.update(data[pos:pos + step])
                    pos += step
                self.assertEqual(ref_digest(alg, data), c.digest())
                self.assertEqual(ref_b64(alg, data), c.b64digest())
                self.assertEqual(len(data), c.length)
                if alg in CRCS:
                    self.assertEqual(ref_int(alg, data), c.crc)

    def test_empty_input(self):
        expected = {'CRC32': 'AAAAAA==', 'CRC32C': 'AAAAAA==',
                    'CRC64NVME': 'AAAAAAAAAAA=',
                    'SHA1': _b64(hashlib.sha1(b'').digest()),
                    'SHA256': _b64(hashlib.sha256(b'').digest())}
        for alg in ALGORITHMS:
            with self.subTest(alg=alg):
                self.assertEqual(expected[alg], sc.compute(alg, b''))

    def test_crt_missing(self):
        with mock.patch.object(sc, 'crt_checksums', None):
            self.assertFalse(sc.crt_available())
            for alg in ('CRC32C', 'CRC64NVME'):
                with self.subTest(alg=alg):
                    e = self.assertRaises(RuntimeError, sc.Checksum, alg)
                    self.assertIn('awscrt', str(e))
            # The others do not need it.
            self.assertEqual(ref_b64('CRC32', b'x'),
                             sc.compute('CRC32', b'x'))
        self.assertTrue(sc.crt_available())

    def test_names(self):
        self.assertEqual('ChecksumCRC64NVME', sc.param_name('CRC64NVME'))


class TestCombine(base.BaseTestCase):

    def _pieces(self, rng, data):
        cuts = sorted(rng.randint(0, len(data))
                      for _ in range(rng.randint(0, 6)))
        # Duplicate cut points give zero-length pieces on purpose.
        cuts += [cuts[-1]] if cuts else [0]
        bounds = [0] + cuts + [len(data)]
        return [data[a:b] for a, b in zip(bounds, bounds[1:])]

    def test_combine_equals_checksum_of_concatenation(self):
        rng = random.Random(2024)
        for alg in CRCS:
            for trial in range(25):
                data = rng.randbytes(rng.choice((0, 1, 17, 4096, 70001)))
                pieces = self._pieces(rng, data)
                self.assertEqual(data, b''.join(pieces))
                with self.subTest(alg=alg, trial=trial,
                                  sizes=[len(p) for p in pieces]):
                    crc = 0
                    for p in pieces:
                        crc = sc.crc_combine(alg, crc, ref_int(alg, p),
                                             len(p))
                    self.assertEqual(ref_int(alg, data), crc)
                    parts = [(ref_int(alg, p), len(p)) for p in pieces]
                    self.assertEqual(ref_b64(alg, data),
                                     sc.combined_b64(alg, parts))

    def test_combine_two_pieces(self):
        for alg in CRCS:
            for a, b in ((b'', b''), (b'abc', b''), (b'', b'abc'),
                         (b'hello ', b'world')):
                with self.subTest(alg=alg, a=a, b=b):
                    self.assertEqual(
                        ref_int(alg, a + b),
                        sc.crc_combine(alg, ref_int(alg, a),
                                       ref_int(alg, b), len(b)))

    def test_both_combiners_for_part_layouts(self):
        # awscrt's combine where it has one, and the GF(2) fallback used
        # without awscrt, both equal zlib's / awscrt's CRC of the whole.
        mib = 1024 * 1024
        data = random.Random(7).randbytes(3 * mib + 12345)
        layouts = {
            'tiny': [1, 2, 3],
            'one part': [len(data)],
            'exact multiple': [mib, mib, mib],
            'ragged last part': [mib, mib, mib, 12345],
            'growing': [1, 10, 100, 1000, 10000, 100000],
            'empty parts': [0, mib, 0, 5],
        }
        for alg in CRCS:
            for name, sizes in layouts.items():
                pieces, pos = [], 0
                for n in sizes:
                    pieces.append(data[pos:pos + n])
                    pos += n
                whole = b''.join(pieces)
                parts = [(ref_int(alg, p), len(p)) for p in pieces]
                for crt_combine in (True, False):
                    table = sc._CRT_COMBINE if crt_combine else {}
                    with self.subTest(alg=alg, layout=name,
                                      awscrt=crt_combine), \
                            mock.patch.object(sc, '_CRT_COMBINE', table):
                        self.assertEqual(ref_b64(alg, whole),
                                         sc.combined_b64(alg, parts))

    def test_awscrt_combine_used_when_loaded(self):
        self.assertEqual({'CRC32': crt.combine_crc32,
                          'CRC32C': crt.combine_crc32c,
                          'CRC64NVME': crt.combine_crc64nvme},
                         sc._CRT_COMBINE)
        with mock.patch.object(sc, '_gf2_crc_combine') as gf2:
            for alg in CRCS:
                self.assertEqual(ref_int(alg, b'ab'),
                                 sc.crc_combine(alg, ref_int(alg, b'a'),
                                                ref_int(alg, b'b'), 1))
        gf2.assert_not_called()

    def test_no_awscrt_combine_without_awscrt(self):
        with mock.patch.object(sc, 'crt_checksums', None):
            self.assertEqual({}, sc._crt_combiners())

    def test_combined_b64_no_parts(self):
        self.assertEqual(ref_b64('CRC64NVME', b''),
                         sc.combined_b64('CRC64NVME', []))

    def test_composite(self):
        rng = random.Random(5)
        for alg in ALGORITHMS:
            parts = [rng.randbytes(n) for n in (10, 0, 333)]
            digests = [ref_digest(alg, p) for p in parts]
            expected = '%s-3' % ref_b64(alg, b''.join(digests))
            with self.subTest(alg=alg):
                self.assertEqual(expected, sc.composite_b64(alg, digests))


class TestRequestParams(base.BaseTestCase):

    BODY = b'some image bytes' * 1000

    def test_always_params_per_algorithm(self):
        for alg in ALGORITHMS:
            with self.subTest(alg=alg):
                p = sc.ChecksumPolicy.from_options(True, 'always',
                                                   'always', alg)
                name = 'Checksum' + alg
                self.assertEqual(
                    {'ChecksumAlgorithm': alg,
                     name: ref_b64(alg, self.BODY)},
                    p.put_params(self.BODY))
                full = alg in CRCS
                self.assertEqual(full, p.full_object)
                self.assertEqual(
                    {'ChecksumAlgorithm': alg,
                     'ChecksumType': 'FULL_OBJECT' if full
                     else 'COMPOSITE'},
                    p.create_multipart_params())
                parts = [self.BODY[:7000], self.BODY[7000:]]
                cks = [p.part_checksum(part) for part in parts]
                for part, ck in zip(parts, cks):
                    self.assertEqual(
                        {'ChecksumAlgorithm': alg,
                         name: ref_b64(alg, part)}, p.part_params(ck))
                if full:
                    self.assertEqual(
                        {name: ref_b64(alg, self.BODY),
                         'ChecksumType': 'FULL_OBJECT'},
                        p.complete_params(cks))
                else:
                    self.assertEqual({}, p.complete_params(cks))
                self.assertEqual({'ChecksumMode': 'ENABLED'},
                                 p.get_params())
                self.assertEqual({}, p.get_params(ranged=True))

    def test_no_params_unless_always(self):
        for enabled, req, resp in itertools.product(
                (False, True), MODES, MODES):
            p = sc.ChecksumPolicy.from_options(enabled, req, resp,
                                               'SHA256')
            with self.subTest(enabled=enabled, request=req, response=resp):
                if not (enabled and req == 'always'):
                    self.assertEqual({}, p.put_params(self.BODY))
                    self.assertEqual({}, p.create_multipart_params())
                    self.assertIsNone(p.part_checksum(self.BODY))
                    self.assertEqual({}, p.part_params(None))
                    self.assertEqual({}, p.complete_params([]))
                if not (enabled and resp == 'always'):
                    self.assertEqual({}, p.get_params())
                    self.assertEqual({}, p.get_params(ranged=True))


# The algorithms botocore 1.42 added, with botocore's own implementation
# of each as the reference.
NEW_ALGORITHMS = {
    'SHA512': httpchecksum.Sha512Checksum,
    'XXHASH64': httpchecksum.CrtXxhash64Checksum,
    'XXHASH3': httpchecksum.CrtXxhash3Checksum,
    'XXHASH128': httpchecksum.CrtXxhash128Checksum,
}


def botocore_b64(algorithm, data):
    checksum = NEW_ALGORITHMS[algorithm]()
    checksum.update(bytes(data))
    return _b64(checksum.digest())


class TestNewAlgorithms(base.BaseTestCase):
    """SHA512, the XXHASH family and MD5."""

    BODY = random.Random(5).randbytes(20000)

    def test_values_match_botocore(self):
        for alg in NEW_ALGORITHMS:
            for data in (b'', b'hello', self.BODY):
                with self.subTest(alg=alg, size=len(data)):
                    c = sc.Checksum(alg)
                    # A bytearray view, as the part buffers are.
                    c.update(memoryview(bytearray(data))[:7])
                    c.update(memoryview(bytearray(data))[7:])
                    self.assertEqual(botocore_b64(alg, data), c.b64digest())
                    # digest() twice gives the same value (awscrt's
                    # finalize ends the hash).
                    self.assertEqual(c.digest(), c.digest())
                    self.assertEqual(len(data), c.length)
        # A published value: XXH64("hello", seed 0).
        self.assertEqual('26c7827d889f6da3',
                         sc.Checksum('XXHASH64').update(b'hello')
                         .digest().hex())
        self.assertEqual(_b64(hashlib.md5(self.BODY).digest()),
                         sc.compute('MD5', self.BODY))

    def test_of_digest(self):
        c = sc.Checksum.of_digest('MD5', hashlib.md5(b'abc').digest(), 3)
        self.assertEqual(_b64(hashlib.md5(b'abc').digest()), c.b64digest())
        self.assertEqual(3, c.length)
        self.assertRaises(ValueError, c.update, b'more')

    def test_hash_params(self):
        for alg in NEW_ALGORITHMS:
            with self.subTest(alg=alg):
                p = sc.ChecksumPolicy.from_options(True, 'always',
                                                   'always', alg)
                name = 'Checksum' + alg
                self.assertEqual(
                    {'ChecksumAlgorithm': alg,
                     name: botocore_b64(alg, self.BODY)},
                    p.put_params(self.BODY))
                self.assertFalse(p.full_object)
                self.assertEqual({'ChecksumAlgorithm': alg,
                                  'ChecksumType': 'COMPOSITE'},
                                 p.create_multipart_params())
                ck = p.part_checksum(self.BODY[:100])
                value = botocore_b64(alg, self.BODY[:100])
                self.assertEqual({'ChecksumAlgorithm': alg, name: value},
                                 p.part_params(ck))
                self.assertEqual({name: value}, p.completed_part(ck))
                self.assertEqual({}, p.complete_params([ck]))
                self.assertIsNone(p.part_digest)

    def test_put_reuses_known_digest(self):
        p = sc.ChecksumPolicy.from_options(True, 'always', 'always',
                                           'SHA512')
        known = {'SHA512': hashlib.sha512(self.BODY).digest(),
                 'MD5': b'unused'}
        with mock.patch.object(sc, 'compute',
                               side_effect=AssertionError('recomputed')):
            self.assertEqual(
                {'ChecksumAlgorithm': 'SHA512',
                 'ChecksumSHA512': _b64(known['SHA512'])},
                p.put_params(self.BODY, known))
        # Another multihash: computed.
        self.assertEqual(botocore_b64('SHA512', self.BODY),
                         p.put_params(self.BODY, {'SHA256': b'x'})[
                             'ChecksumSHA512'])

    def test_md5_params(self):
        p = sc.ChecksumPolicy.from_options(True, 'always', 'always', 'MD5')
        self.assertTrue(p.content_md5)
        self.assertEqual('md5', p.part_digest)
        # The upload sends Content-MD5 on PutObject itself.
        self.assertEqual({}, p.put_params(self.BODY))
        self.assertEqual({}, p.create_multipart_params())
        part = self.BODY[:999]
        digest = hashlib.md5(part).digest()
        ck = p.part_checksum(part, digest)
        self.assertEqual({'ContentMD5': _b64(digest)}, p.part_params(ck))
        self.assertEqual({'ContentMD5': _b64(digest)},
                         p.part_params(p.part_checksum(part)))
        self.assertEqual({}, p.completed_part(ck))
        self.assertEqual({}, p.complete_params([ck]))
        self.assertEqual({'ChecksumMode': 'ENABLED'}, p.get_params())
        self.assertIn('Content-MD5', p.describe())
        self.assertIn('MD5 ETag', p.describe())
        # Not computing anything unless always.
        p = sc.ChecksumPolicy.from_options(True, 'when_supported',
                                           'always', 'MD5')
        self.assertFalse(p.content_md5)
        self.assertIsNone(p.part_digest)
        self.assertIsNone(p.part_checksum(part))

    def test_supported_here(self):
        for alg in sc.ALGORITHMS:
            with self.subTest(alg=alg):
                self.assertIsNone(sc.unsupported_reason(alg))
                sc.ChecksumPolicy.from_options(
                    True, 'always', 'always', alg).check_supported()

    def test_refused_with_an_old_botocore(self):
        with mock.patch.object(sc, 'botocore_knows', return_value=False), \
                mock.patch('botocore.__version__', '1.40.1'):
            for alg in NEW_ALGORITHMS:
                for req, resp in (('always', 'never'),
                                  ('when_required', 'always')):
                    with self.subTest(alg=alg, request=req, response=resp):
                        p = sc.ChecksumPolicy.from_options(True, req, resp,
                                                           alg)
                        e = self.assertRaises(ValueError,
                                              p.check_supported)
                        self.assertIn('s3_store_checksum_algorithm', str(e))
                        self.assertIn(alg, str(e))
                        self.assertIn('botocore >= 1.42', str(e))
                        self.assertIn('1.40.1', str(e))
            # Where the store does not use the algorithm, nothing to do;
            # the old algorithms and MD5 never need it.
            sc.ChecksumPolicy.from_options(
                True, 'when_supported', 'when_supported',
                'SHA512').check_supported()
            sc.ChecksumPolicy.from_options(
                False, 'always', 'always', 'SHA512').check_supported()
            for alg in ALGORITHMS + ('MD5',):
                sc.ChecksumPolicy.from_options(
                    True, 'always', 'always', alg).check_supported()

    def test_xxhash_refused_without_awscrt(self):
        old_crt = mock.Mock(spec=['crc32c', 'crc64nvme'])
        for crt_module, expected in ((None, 'not installed'),
                                     (old_crt, '0.31.2')):
            with mock.patch.object(sc, 'crt_checksums', crt_module):
                for alg in sc.XXHASH_ALGORITHMS:
                    with self.subTest(alg=alg, expected=expected):
                        p = sc.ChecksumPolicy.from_options(
                            True, 'always', 'always', alg)
                        e = self.assertRaises(ValueError,
                                              p.check_supported)
                        self.assertIn(expected, str(e))
                        self.assertIn(alg, str(e))
                        self.assertRaises(RuntimeError, sc.Checksum, alg)
                # SHA512 needs no awscrt.
                sc.ChecksumPolicy.from_options(
                    True, 'always', 'always', 'SHA512').check_supported()

    def test_botocore_knows(self):
        self.assertTrue(sc.botocore_knows('SHA512'))
        self.assertTrue(sc.botocore_knows('CRC32'))
        self.assertFalse(sc.botocore_knows('BLAKE2B'))
