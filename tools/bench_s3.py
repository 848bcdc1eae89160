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

"""Benchmark of the S3 store: client CPU, throughput and memory.

Runs the store's public API (add with known and unknown size, get) against
a local S3 server (Ceph RGW started by tools/s3_servers.py by default, or
--endpoint) for each checksum configuration, and reports per case:

* cpu s/GiB: CPU seconds (user + system, all threads) of this process per
  GiB moved;
* floor s/GiB: md5 + sha512 over the same bytes in this process, the cost
  Glance cannot avoid (it needs both digests), measured in the same run;
* ratio: cpu / floor (uploads);
* MiB/s: wall throughput;
* rss MiB: peak resident memory growth during the case;
* busy%: share of all the machine's cores in use during the case (this
  client and the server together): near 100 the machine is the limit.

The table goes to stdout, the same data as JSON to --json.  Not a test:
nothing here asserts; the targets are printed next to the figures.
"""

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid

from oslo_config import cfg

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from glance_store._drivers import s3  # noqa: E402
from glance_store._drivers import s3_checksums  # noqa: E402
from glance_store import location  # noqa: E402

MiB = 1024 * 1024
GiB = 1024 * MiB
BLOCK = os.urandom(MiB)
PIECE_SIZE = 64 * 1024

CONFIGS = {
    'off': {'s3_store_enable_data_integrity_protection': False},
    'always-crc32': {
        's3_store_enable_data_integrity_protection': True,
        's3_store_request_checksum_calculation': 'always',
        's3_store_response_checksum_validation': 'always',
        's3_store_checksum_algorithm': 'CRC32'},
    'always-crc32c': {
        's3_store_enable_data_integrity_protection': True,
        's3_store_request_checksum_calculation': 'always',
        's3_store_response_checksum_validation': 'always',
        's3_store_checksum_algorithm': 'CRC32C'},
    'when_supported': {
        's3_store_enable_data_integrity_protection': True,
        's3_store_request_checksum_calculation': 'when_supported',
        's3_store_response_checksum_validation': 'when_supported'},
}


class GeneratedImage(object):
    """A readable of ``size`` bytes made of a random 1 MiB block.

    Returns at most 64 KiB per read, as a WSGI input does, and never holds
    the image: memory growth measured during an upload is the store's.
    The 64 KiB pieces are made once, so producing the data costs nothing
    and the CPU measured is the store's (a WSGI server's own cost of
    reading the request body is Glance's, on any store).
    """

    PIECE = PIECE_SIZE
    PIECES = [BLOCK[i:i + PIECE_SIZE] for i in range(0, MiB, PIECE_SIZE)]

    def __init__(self, size):
        self.size = size
        self.pos = 0

    def read(self, n=-1):
        left = self.size - self.pos
        if left <= 0:
            return b''
        off = self.pos % MiB
        piece = self.PIECES[off // self.PIECE]
        start = off % self.PIECE
        if n is None or n < 0:
            n = self.PIECE
        n = min(n, left, self.PIECE - start)
        self.pos += n
        if start == 0 and n == self.PIECE:
            return piece
        return piece[start:start + n]


class RssSampler(object):
    """Peak RSS growth over a block of code, sampled every 5 ms."""

    def __init__(self):
        self.peak = self.base = self._rss()
        self._stop = threading.Event()

    @staticmethod
    def _rss():
        with open('/proc/self/statm') as f:
            return int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE')

    def _run(self):
        while not self._stop.wait(0.005):
            self.peak = max(self.peak, self._rss())

    def __enter__(self):
        self.base = self.peak = self._rss()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._rss())

    @property
    def growth_mib(self):
        return (self.peak - self.base) / MiB


def machine_ticks():
    """(busy, total) CPU ticks of the whole machine, from /proc/stat."""
    with open('/proc/stat') as f:
        values = [int(v) for v in f.readline().split()[1:]]
    idle = values[3] + values[4]
    return sum(values) - idle, sum(values)


def measure(fn, out=None):
    """CPU seconds, wall seconds and RSS growth (MiB) of ``fn()``.

    ``out``, a dict, also gets ``busy``: the share of all the machine's
    cores in use meanwhile (client and server together), which tells
    whether a throughput figure is bounded by the machine.
    """
    with RssSampler() as rss:
        busy0, total0 = machine_ticks()
        cpu0, wall0 = time.process_time(), time.perf_counter()
        fn()
        cpu, wall = (time.process_time() - cpu0,
                     time.perf_counter() - wall0)
        busy1, total1 = machine_ticks()
    if out is not None:
        out['busy'] = 100.0 * (busy1 - busy0) / max(1, total1 - total0)
    return cpu, wall, rss.growth_mib


def floor_cost(size):
    """CPU seconds of md5 + sha512 over ``size`` bytes."""
    def run():
        md5, sha = hashlib.md5(), hashlib.sha512()
        left = size
        while left > 0:
            n = min(left, MiB)
            md5.update(BLOCK[:n])
            sha.update(BLOCK[:n])
            left -= n
    return measure(run)[0]


def make_store(server, transport, options, threads):
    conf = cfg.ConfigOpts()
    store = s3.Store(conf)
    endpoint = server['%s_endpoint' % transport]
    values = {
        's3_store_host': endpoint,
        's3_store_access_key': server['access_key'],
        's3_store_secret_key': server['secret_key'],
        's3_store_bucket': server.get('bucket', 'glance-bench'),
        's3_store_create_bucket_on_put': True,
        's3_store_bucket_url_format': 'path',
        's3_store_region_name': server.get('region', 'us-east-1'),
        's3_store_thread_pools': threads,
        's3_store_cacert': server.get('ca_bundle') or '',
    }
    values.update(options)
    for k, v in values.items():
        conf.set_override(k, v, 'glance_store')
    store.configure(re_raise_bsc=True)
    return store, conf


def run_case(store, conf, size, known, results, meta, gc):
    key = 'bench-%s' % uuid.uuid4()
    out = {}

    def add():
        out['uri'] = store.add(key, GeneratedImage(size),
                               size if known else 0, 'sha512')[0]
    load = {}
    cpu, wall, rss = measure(add, load)
    results.append(dict(meta, op='add-known' if known else 'add-unknown',
                        size_mib=size // MiB, cpu=cpu, wall=wall, rss=rss,
                        busy=load['busy']))
    if known:
        loc = location.Location('s3', s3.StoreLocation, conf,
                                uri=out['uri'])

        def get():
            it, _size = store.get(loc)
            for _chunk in it:
                pass
        cpu, wall, rss = measure(get, load)
        results.append(dict(meta, op='get', size_mib=size // MiB, cpu=cpu,
                            wall=wall, rss=rss, busy=load['busy']))
    loc = location.Location('s3', s3.StoreLocation, conf, uri=out['uri'])
    store.delete(loc)
    gc()


def start_rgw(args):
    workdir = tempfile.mkdtemp(prefix='bench-rgw-')
    subprocess.check_call([sys.executable, os.path.join(HERE,
                                                        's3_servers.py'),
                           'start', 'rgw', '--workdir', workdir,
                           '--memstore-gib', str(args.memstore_gib)])
    with open(os.path.join(workdir, 'server.json')) as f:
        info = json.load(f)
    info['workdir'] = workdir
    return info


def stop_server(info):
    subprocess.call([sys.executable, os.path.join(HERE, 's3_servers.py'),
                     'stop', '--workdir', info['workdir']])


def rgw_gc(info):
    conf = os.path.join(info.get('workdir', ''), 'ceph.conf')
    if not os.path.exists(conf):
        return lambda: None

    def gc():
        subprocess.call(['radosgw-admin', '-c', conf, '-n', 'client.admin',
                         'gc', 'process', '--include-all'],
                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return gc


def summarize(results, floors):
    lines = []
    hdr = ('%-6s %-15s %-11s %7s %9s %9s %6s %8s %8s %6s' %
           ('proto', 'config', 'op', 'MiB', 'cpu s/GiB', 'floor', 'ratio',
            'MiB/s', 'rss MiB', 'busy%'))
    lines.append(hdr)
    lines.append('-' * len(hdr))
    for r in results:
        gib = r['size_mib'] / 1024.0
        r['cpu_per_gib'] = r['cpu'] / gib
        r['floor_per_gib'] = floors[r['size_mib']] / gib
        r['ratio'] = (r['cpu_per_gib'] / r['floor_per_gib']
                      if r['op'].startswith('add') else None)
        r['mib_s'] = r['size_mib'] / r['wall'] if r['wall'] else 0
        lines.append('%-6s %-15s %-11s %7d %9.2f %9.2f %6s %8.1f %8.1f '
                     '%6.0f' % (
                         r['proto'],
                         r['config'] + ('' if r['threads'] != 1 else '/1t'),
                         r['op'], r['size_mib'], r['cpu_per_gib'],
                         r['floor_per_gib'],
                         '%.2f' % r['ratio'] if r['ratio'] is not None
                         else '-', r['mib_s'], r['rss'], r['busy']))
    return '\n'.join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--endpoint', help='use this S3 server (http:// or '
                   'https://) instead of starting Ceph RGW')
    p.add_argument('--access-key', default=os.environ.get('BENCH_ACCESS_KEY'))
    p.add_argument('--secret-key', default=os.environ.get('BENCH_SECRET_KEY'))
    p.add_argument('--ca-bundle', default='')
    p.add_argument('--sizes', default='1,256,1024',
                   help='image sizes in MiB (default: 1,256,1024)')
    p.add_argument('--memory-sizes', default='1024,4096',
                   help='unknown-size uploads measured for memory (MiB)')
    p.add_argument('--configs', default=','.join(CONFIGS))
    p.add_argument('--transports', default='http,https')
    p.add_argument('--threads', type=int, default=10)
    p.add_argument('--memstore-gib', type=int, default=12)
    p.add_argument('--json', default='bench_s3.json')
    args = p.parse_args(argv)

    if args.endpoint:
        proto = args.endpoint.split('://')[0]
        server = {'%s_endpoint' % proto: args.endpoint,
                  'access_key': args.access_key,
                  'secret_key': args.secret_key,
                  'ca_bundle': args.ca_bundle}
        transports = [proto]
    else:
        server = start_rgw(args)
        transports = args.transports.split(',')
    gc = rgw_gc(server)
    sizes = [int(s) * MiB for s in args.sizes.split(',') if s]
    configs = [c for c in args.configs.split(',') if c]
    if 'always-crc32c' in configs and not s3_checksums.crt_available():
        print('skipping always-crc32c: awscrt is not installed')
        configs.remove('always-crc32c')
    results, skipped = [], []
    try:
        for proto in transports:
            for name in configs:
                store, conf = make_store(server, proto, CONFIGS[name],
                                         args.threads)
                meta = {'proto': proto, 'config': name,
                        'threads': args.threads}
                try:
                    for size in sizes:
                        for known in (True, False):
                            run_case(store, conf, size, known, results,
                                     meta, gc)
                except Exception as e:  # e.g. when_supported on RGW/HTTPS
                    skipped.append('%s %s: %s' % (proto, name, e))
            # Parallel parts versus one part at a time, same data.
            big = max(sizes)
            for threads in (1, args.threads):
                store, conf = make_store(server, proto, CONFIGS['off'],
                                         threads)
                meta = {'proto': proto, 'config': 'off-parallel',
                        'threads': threads}
                run_case(store, conf, big, False, results, meta, gc)
        # Memory of unknown-size uploads does not grow with the image.
        proto = transports[0]
        store, conf = make_store(server, proto, CONFIGS['off'],
                                 args.threads)
        for size in [int(s) * MiB for s in args.memory_sizes.split(',')
                     if s]:
            meta = {'proto': proto, 'config': 'off-memory',
                    'threads': args.threads}
            run_case(store, conf, size, False, results, meta, gc)
        floors = {r['size_mib']: floor_cost(r['size_mib'] * MiB)
                  for r in results}
    finally:
        if not args.endpoint:
            stop_server(server)
    print(summarize(results, floors))
    for line in skipped:
        print('not measured:', line)
    part = store.s3_store_large_object_chunk_size / MiB
    print('memory bound for unknown size: (%d + 2) x %d MiB + 64 MiB = '
          '%d MiB' % (args.threads, part, (args.threads + 2) * part + 64))
    with open(args.json, 'w') as f:
        json.dump({'results': results, 'skipped': skipped,
                   'floors_s': floors}, f, indent=2)
    print('wrote', args.json)


if __name__ == '__main__':
    main()
