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

"""The S3 guide's "Symptoms and fixes" table against the code.

Each row's message is what the store produces for that mistake: the
test builds the botocore error (or the configuration) of each row, maps
it as the store does, and compares the result with the row, so the table
cannot drift from the code. ``<error>`` and ``<upload id>`` in a row
stand for botocore's own text and the upload's id.
"""

import io
import logging
import os
import re

from botocore import exceptions as boto_exc
import fixtures

import glance_store as store
from glance_store._drivers import s3_errors
from glance_store import exceptions
from glance_store.tests import base
from glance_store.tests.unit.s3 import fixtures as s3fx

GUIDE = os.path.join(os.path.dirname(__file__), '..', '..', '..', '..',
                     'doc', 'source', 'configuration', 's3.rst')
STORE = 'rgw'
ENDPOINT = 'https://rgw.example.com:8443'
BUCKET = 'glance'
KEY = '<image-id>'


def read_table(path=GUIDE):
    """{mistake: message} of the guide's "Symptoms and fixes" table."""
    with open(path) as f:
        text = f.read()
    start = text.index('.. _s3-symptoms:')
    end = text.index('\n\n\n', text.index('.. list-table::', start))
    table = text[start:end]
    rows = {}
    for row in table.split('\n   * - ')[2:]:
        cells = row.split('\n     - ')
        mistake = ' '.join(cells[0].split())
        message = ' '.join(cells[1].split())
        rows[mistake] = message.strip('`')
    return rows


def client_error(code, status, message='', operation='PutObject',
                 **error):
    error.update({'Code': code, 'Message': message})
    return boto_exc.ClientError(
        {'Error': error,
         'ResponseMetadata': {'HTTPStatusCode': status, 'HTTPHeaders': {}}},
        operation)


def mapped(error, endpoint=ENDPOINT, action='uploading'):
    e = s3_errors.to_store_error(error, STORE, action, BUCKET, KEY,
                                 endpoint=endpoint)
    return str(e), str(error)


WRONG_VERSION = boto_exc.SSLError(
    endpoint_url=ENDPOINT + '/glance',
    error='[SSL: WRONG_VERSION_NUMBER] wrong version number (_ssl.c:1000)')
NOT_TRUSTED = boto_exc.SSLError(
    endpoint_url=ENDPOINT + '/glance',
    error='[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: '
          'self-signed certificate (_ssl.c:1000)')

# mistake (the table's first column) -> () -> (message, botocore's text)
MAPPED = {
    'Region: requests signed for another region': lambda: mapped(
        client_error('AuthorizationHeaderMalformed', 400,
                     "The authorization header is malformed; the region "
                     "'us-east-1' is wrong; expecting 'eu-west-1'",
                     Region='eu-west-1')),
    'Region: bucket in another region (HTTP 301)': lambda: mapped(
        client_error('PermanentRedirect', 301,
                     'The bucket you are attempting to access must be '
                     'addressed using the specified endpoint.',
                     Endpoint='glance.s3.eu-west-1.amazonaws.com')),
    'Scheme: https:// to a plain-HTTP port': lambda: mapped(
        WRONG_VERSION),
    'Scheme: http:// to a TLS port': lambda: mapped(
        boto_exc.ConnectionClosedError(
            endpoint_url='http://rgw.example.com:8443/glance'),
        endpoint='http://rgw.example.com:8443'),
    'CA file: certificate not trusted': lambda: mapped(NOT_TRUSTED),
    'Checksums: MissingContentLength (HTTP 411)': lambda: mapped(
        client_error('MissingContentLength', 411,
                     'You must provide the Content-Length HTTP header.')),
    'Checksums: algorithm not supported by the server': lambda: mapped(
        client_error('InvalidRequest', 400,
                     'Checksum algorithm provided is unsupported. Please '
                     'try again with any of the valid types: [CRC32, '
                     'CRC32C, CRC64NVME, SHA1, SHA256]',
                     operation='CreateMultipartUpload')),
    'Timeouts: no answer in time': lambda: mapped(
        boto_exc.ReadTimeoutError(
            endpoint_url='http://rgw.example.com:8080/glance/<image-id>'),
        endpoint='http://rgw.example.com:8080'),
    'Credentials: wrong access or secret key': lambda: mapped(
        client_error('InvalidAccessKeyId', 403,
                     'The AWS Access Key Id you provided does not exist in '
                     'our records.')),
    'Bucket: missing, creation off': lambda: mapped(
        client_error('NoSuchBucket', 404,
                     'The specified bucket does not exist')),
    'Data altered on the way (BadDigest)': lambda: mapped(
        client_error('BadDigest', 400,
                     'The Content-MD5 you specified did not match what we '
                     'received.')),
}


def fill(row, error_text='', upload_id=''):
    return row.replace('<error>', s3_errors.sentence(error_text)).replace(
        '<upload id>', upload_id)


class SymptomsTableTest(base.MultiStoreBaseTest):

    def setUp(self):
        super().setUp()
        self.rows = read_table()

    def test_every_row_is_checked(self):
        checked = set(MAPPED) | {
            'Region: a name botocore refuses', 'CA file: path missing',
            'Orphaned multipart upload'}
        self.assertEqual(checked, set(self.rows))

    def test_mapped_messages(self):
        for mistake, build in MAPPED.items():
            message, error_text = build()
            self.assertEqual(fill(self.rows[mistake], error_text), message,
                             mistake)

    def _configure(self, **values):
        options = s3fx.store_options(s3_store_host=ENDPOINT,
                                     s3_store_bucket=BUCKET)
        options.update(values)
        self.set_backends({STORE: 's3'}, STORE)
        for name, value in options.items():
            self.config(group=STORE, **{name: value})
        store.create_multi_stores(self.conf)
        return store.get_store_from_store_identifier(STORE)

    def _disabled_reason(self, **values):
        log = self.useFixture(fixtures.FakeLogger(level=logging.WARNING))
        self._configure(**values)
        prefix = 'Adding images to store %s is disabled: ' % STORE
        line = [x for x in log.output.splitlines() if prefix in x][0]
        # The reason logged is the exception's message.
        return line.split(prefix, 1)[1]

    def test_region_name_refused(self):
        self.assertEqual(
            self.rows['Region: a name botocore refuses'],
            self._disabled_reason(s3_store_region_name='custom_region_name'))

    def test_ca_file_missing(self):
        self.assertEqual(
            self.rows['CA file: path missing'],
            self._disabled_reason(s3_store_cacert='/etc/glance/rgw-ca.pem'))

    def test_orphaned_upload(self):
        # Every image is a multipart upload (threshold 0); its part fails,
        # then so does the abort.
        st = self._configure(s3_store_large_object_size=0,
                             s3_store_thread_pools=1)
        records = self.useFixture(fixtures.FakeLogger(level=logging.ERROR))
        stub = s3fx.Stubbed.for_test(self, st._s3_client)
        stub.add_response('head_bucket', {})
        stub.add_client_error('head_object', '404', '', 404)
        stub.add_response('create_multipart_upload',
                          {'UploadId': 'UPLOAD-1', 'Bucket': BUCKET,
                           'Key': KEY})
        stub.add_client_error('upload_part', 'InternalError', 'boom', 500)
        stub.add_client_error('abort_multipart_upload', 'InternalError',
                              'down', 500)
        self.assertRaises(exceptions.BackendException,
                          store.add_with_multihash,
                          self.conf, KEY, io.BytesIO(b'data'), 4, STORE,
                          'sha256')
        line = [x for x in records.output.splitlines()
                if 'Could not abort' in x][0]
        error_text = re.search(r'\((An error occurred[^)]*\)[^)]*)\)',
                               line).group(1)
        self.assertEqual(
            fill(self.rows['Orphaned multipart upload'], error_text,
                 'UPLOAD-1'), line)
