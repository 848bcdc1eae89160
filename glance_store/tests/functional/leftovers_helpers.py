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

"""Helpers of the leftover-upload and network-path functional tests.

* ``run_tool``: glance-store-s3-check as a subprocess (optionally inside
  a network namespace), its exit code, output and JSON report;
* ``store_conf``: a single-store glance-api.conf for a test server;
* ``start_child`` / ``wait_for_part``: the upload child process
  (``upload_child``) and the moment a part of its upload has landed;
* ``record``: one line of measured figures, appended to
  ``$GS_LEFTOVERS_FIGURES`` (default /tmp/gs-leftovers-figures.txt),
  which ``.ci/run`` prints after the functional tests.
"""

import json
import os
import subprocess
import sys
import time

import testtools

from glance_store.tests.functional import servers

TOOL = 'glance-store-s3-check'
TOOL_TIMEOUT = 120
FIGURES = os.environ.get('GS_LEFTOVERS_FIGURES',
                         '/tmp/gs-leftovers-figures.txt')


def tool_command():
    """The console script next to the test interpreter, else python -c."""
    candidate = os.path.join(os.path.dirname(sys.executable), TOOL)
    if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
        return [candidate]
    return [sys.executable, '-c',
            'import sys; from glance_store.cmd import s3_check; '
            'sys.exit(s3_check.main())']


def record(line):
    with open(FIGURES, 'a') as f:
        f.write(line.rstrip() + '\n')


def store_conf(server, bucket, scheme='http'):
    """A single-store glance-api.conf for ``server``'s bucket."""
    lines = ['[glance_store]', 'stores = s3', 'default_store = s3',
             's3_store_host = %s' % servers.endpoint(server, scheme),
             's3_store_access_key = %s' % server['access_key'],
             's3_store_secret_key = %s' % server['secret_key'],
             's3_store_bucket = %s' % bucket,
             's3_store_bucket_url_format = path',
             's3_store_region_name = %s' % (server.get('region') or
                                            'us-east-1'),
             's3_store_large_object_size = 5',
             's3_store_large_object_chunk_size = 5']
    if scheme == 'https':
        lines.append('s3_store_cacert = %s' % server['ca_bundle'])
    return '\n'.join(lines) + '\n'


class ToolRun(object):

    def __init__(self, cmd, proc):
        self.cmd = cmd
        self.code = proc.returncode
        self.out = proc.stdout.decode('utf-8', 'replace')
        self.err = proc.stderr.decode('utf-8', 'replace')
        self.doc = None
        if '--format' in cmd and self.code in (0, 1) and self.out.strip():
            self.doc = json.loads(self.out)['backends'][0]

    def __str__(self):
        return 'exit %s\n--- stdout\n%s\n--- stderr\n%s' % (
            self.code, self.out[-4000:], self.err[-4000:])


def run_tool(test, conf_path, *args, prefix=()):
    cmd = list(prefix) + tool_command() + ['--config-file', conf_path] + \
        list(args)
    env = dict(os.environ)
    for name in ('AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY',
                 'AWS_PROFILE', 'AWS_CA_BUNDLE'):
        env.pop(name, None)
    proc = subprocess.run(cmd, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, env=env,
                          timeout=TOOL_TIMEOUT)
    run = ToolRun(cmd, proc)
    test.addDetail('tool-%d' % len(test.getDetails()),
                   testtools.content.text_content('%s\n%s' % (
                       ' '.join(cmd), run)))
    test.assertNotIn('Traceback', run.err, run)
    return run


def start_child(job, prefix=()):
    """The upload child process (see upload_child), its output piped."""
    cmd = list(prefix) + [sys.executable, '-m',
                          'glance_store.tests.functional.upload_child',
                          json.dumps(job)]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)


def child_result(child, timeout=240):
    """The last JSON line the child printed, and its stderr.

    Fails when the child found a key in one of its log records.
    """
    out, err = child.communicate(timeout=timeout)
    lines = [line for line in out.decode('utf-8', 'replace').splitlines()
             if line.startswith('{')]
    if not lines:
        raise AssertionError('the upload child printed nothing (exit %s): '
                             '%s' % (child.returncode, err[-4000:]))
    result = json.loads(lines[-1])
    if result.get('keys_in_log'):
        raise AssertionError('a key reached the upload child\'s log: %s'
                             % result['keys_in_log'])
    return result, err.decode('utf-8', 'replace')


def wait_for_part(admin, bucket, key, child, timeout=90):
    """The upload id of ``key`` once a part of it has landed."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if child.poll() is not None:
            raise AssertionError('the upload child exited early: %s'
                                 % (child.communicate(),))
        for open_key, upload_id in servers.list_open_uploads(admin, bucket):
            if open_key != key:
                continue
            parts = admin.list_parts(Bucket=bucket, Key=key,
                                     UploadId=upload_id).get('Parts', [])
            if parts:
                return upload_id
        time.sleep(0.2)
    raise AssertionError('no part of %s landed in %ds' % (key, timeout))
