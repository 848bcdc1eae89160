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

"""The operator's mistakes of issue 10: the tool, and Glance, on one file.

Each case writes a real configuration file with one mistake, runs the
tool on it (``main()`` in-process) and checks what the operator sees:
the exit code, the option named, no key printed, nothing left in the
bucket.  Then the same file goes through the store API as Glance drives
it (``create_multi_stores``, then add / get / delete on the backend):
the tool must give the same verdict as Glance on every file.
"""

import os

from glance_store.tests.unit.cmd import fixtures

# Exit codes: 0 works, 1 does not work, 2 configuration error.
OK, NOT_WORKING, CONFIG = 0, 1, 2


class OperatorCase(object):
    """One configuration file with a mistake, and what must be said."""

    def __init__(self, name, extra='', option=None, codes=(OK,),
                 not_said=(), said=(), **values):
        self.name = name
        # Phrases the table must hold.
        self.said = said
        self.extra = extra
        self.option = option
        # The exit codes Glance's own verdict allows: 0 when Glance works
        # with the file, else 1 or 2.
        self.codes = codes
        self.not_said = not_said
        self.values = values


class VerdictTestCase(fixtures.CheckTestCase):

    def setUp(self):
        super().setUp()
        self.no_crt()
        self.tls = fixtures.TLSServer(self.tmp)
        self.addCleanup(self.tls.stop)

    def cases(self):
        moto_port = int(self.endpoint.rsplit(':', 1)[1])
        tls = 'https://127.0.0.1:%d' % self.tls.port
        return [
            # Upstream starts with both: raised to S3's minimum with a
            # warning, and every image multipart.
            OperatorCase('chunk size below S3 minimum',
                         's3_store_large_object_chunk_size = 1\n',
                         option='s3_store_large_object_chunk_size',
                         said=('s3_store_large_object_chunk_size = 1 is below',
                               'using 5', 'parts of 5 MiB')),
            OperatorCase('large object size 0',
                         's3_store_large_object_size = 0\n',
                         said=('multipart from 0 MiB '
                               '(s3_store_large_object_size)',)),
            OperatorCase('short access key', access='glance',
                         bucket='glance-images'),
            OperatorCase('https to a plain HTTP port',
                         endpoint='https://127.0.0.1:%d' % moto_port,
                         option='s3_store_host', codes=(NOT_WORKING,),
                         not_said=('altered',)),
            OperatorCase('http to a TLS port',
                         endpoint='http://127.0.0.1:%d' % self.tls.port,
                         option='s3_store_host', codes=(NOT_WORKING,),
                         not_said=('altered',)),
            OperatorCase('missing CA file', endpoint=tls,
                         extra='s3_store_cacert = %s\n' % os.path.join(
                             self.tmp, 'no-such-ca.pem'),
                         option='s3_store_cacert',
                         codes=(NOT_WORKING, CONFIG),
                         not_said=('altered',)),
        ]

    def write_case(self, case):
        values = dict(case.values)
        if 'bucket' in values:
            self.bucket = values['bucket']
        self.client.create_bucket(Bucket=self.bucket)
        return self.multi_conf(case.extra, **values)

    def run_tool(self, case, path):
        code, table, err = self.run_main('--config-file', path)
        json_code, doc, json_err = self.run_json(path)
        self.assertEqual(code, json_code, case.name)
        self.assertEqual(code, doc['exit_code'], case.name)
        return code, table + err, self.stdout.getvalue() + json_err


class TestOperatorMistakes(VerdictTestCase):
    """What the operator sees, and the same verdict as Glance's."""

    def check(self, name):
        (case,) = [c for c in self.cases() if c.name == name]
        path = self.write_case(case)
        glance_ok, glance_error = fixtures.glance_verdict(self, path)
        self.assertBucketClean()
        code, table, json_text = self.run_tool(case, path)
        report = '%s: Glance %s; the tool exits %d:\n%s' % (
            case.name, glance_error or 'works', code, table)
        # The tool gives the same verdict Glance gives on the same file.
        self.assertEqual(glance_ok, code == OK, report)
        self.assertIn(code, case.codes, report)
        for phrase in case.said:
            self.assertIn(phrase, table, report)
        for text in (table, json_text):
            if case.option:
                self.assertIn(case.option, text, report)
            for phrase in case.not_said:
                self.assertNotIn(phrase, text, report)
            self.assertNoSecret(text, access_key=None if 'access' in
                                case.values else fixtures.ACCESS_KEY)
        self.assertBucketClean()
        return table, json_text

    def test_chunk_size_below_s3_minimum(self):
        self.check('chunk size below S3 minimum')

    def test_large_object_size_0(self):
        self.check('large object size 0')

    def test_short_access_key_leaves_names_intact(self):
        table, json_text = self.check('short access key')
        for text in (table, json_text):
            self.assertIn('bucket glance-images', text)
            self.assertIn('glance-store-s3-check/', text)
            self.assertNotIn('***-', text)

    def test_https_to_a_plain_http_port(self):
        self.check('https to a plain HTTP port')

    def test_http_to_a_tls_port(self):
        self.check('http to a TLS port')

    def test_missing_ca_file(self):
        table, _json = self.check('missing CA file')
        self.assertIn(os.path.join(self.tmp, 'no-such-ca.pem'), table)
