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

"""CPU per GiB of signing S3 uploads: awscrt's SigV4 signer against botocore's.

Signs UploadPart-like requests (PUT of a ``--part-mib`` body) with
``botocore.crt.auth.CrtS3SigV4Auth`` (what botocore uses when awscrt is
installed) and ``botocore.auth.S3SigV4Auth`` (its pure-Python signer, what
``glance_store._drivers.s3_signing`` selects per client), over HTTP (the
signature covers the SHA-256 of the body) and over HTTPS with a
Content-MD5 header (unsigned payload, as botocore does when a checksum
header is present), alternating, and prints the median CPU seconds per
GiB signed.  Not a test: nothing asserts.
"""

import argparse
import os
import statistics
import sys
import time

from botocore import auth
from botocore import awsrequest
from botocore import credentials

MiB = 1024 * 1024
GiB = 1024 * MiB


def _signers():
    signers = {'python': auth.S3SigV4Auth}
    try:
        from botocore.crt import auth as crt_auth
        signers['awscrt'] = crt_auth.CrtS3SigV4Auth
    except ImportError:
        pass
    return signers


def sign_cost(cls, body, scheme, count):
    """CPU seconds per GiB of ``count`` signatures of a PUT of ``body``.

    :returns: seconds of process CPU per GiB of body signed.
    """
    creds = credentials.Credentials('AKIDBENCHBENCHBENCH0',
                                    'bench-secret-bench-secret-bench-secre')
    signer = cls(creds, 's3', 'us-east-1')
    headers = {'Content-Length': str(len(body))}
    if scheme == 'https':
        # The value is not checked here; its presence is what counts.
        headers['Content-MD5'] = '1B2M2Y8AsgTpgAmY7PhCfg=='
    start = time.process_time()
    for i in range(count):
        req = awsrequest.AWSRequest(
            method='PUT', url='%s://127.0.0.1:8000/b/k?partNumber=%d'
            '&uploadId=x' % (scheme, i + 1), data=body,
            headers=headers)
        # A streaming body (as UploadPart's) with a checksum over HTTPS.
        req.context['has_streaming_input'] = True
        signer.add_auth(req)
    return (time.process_time() - start) * GiB / (count * len(body))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--part-mib', type=int, default=10)
    p.add_argument('--parts', type=int, default=26,
                   help='signatures per measurement (default 26)')
    p.add_argument('--repeat', type=int, default=5)
    args = p.parse_args(argv)
    body = os.urandom(args.part_mib * MiB)
    signers = _signers()
    results = {}
    for _r in range(args.repeat):
        for scheme in ('http', 'https'):
            for name, cls in signers.items():
                results.setdefault((name, scheme), []).append(
                    sign_cost(cls, body, scheme, args.parts))
    print('signing CPU s per GiB (median of %d; %d MiB bodies; load %.2f)'
          % (args.repeat, args.part_mib, os.getloadavg()[0]))
    for (name, scheme), values in sorted(results.items()):
        median = statistics.median(values)
        print('  %-7s %-6s %.3f' % (name, scheme, median))
    return 0


if __name__ == '__main__':
    sys.exit(main())
