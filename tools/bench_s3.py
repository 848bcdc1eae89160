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

``--endpoint null`` starts a null S3 server instead (a separate process
that accepts the upload calls and discards the bytes), so that the
store's own pipeline is measured alone; gets are not measured there.
Each case also reports the rate of md5 + sha512 run one after the other
over the same bytes right after it (floor MiB/s) and the upload's rate
against it (x floor): above 1 the digests overlap.

The table goes to stdout, the same data as JSON to --json.  Not a test:
nothing here asserts; the targets are printed next to the figures.
"""

import argparse
import hashlib
import http.server
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import uuid
import zlib

from oslo_config import cfg
import procs
import s3_servers  # tools/s3_servers.py, beside this script

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
    'always-md5': {
        's3_store_enable_data_integrity_protection': True,
        's3_store_request_checksum_calculation': 'always',
        's3_store_response_checksum_validation': 'always',
        's3_store_checksum_algorithm': 'MD5'},
    'always-sha512': {
        's3_store_enable_data_integrity_protection': True,
        's3_store_request_checksum_calculation': 'always',
        's3_store_response_checksum_validation': 'always',
        's3_store_checksum_algorithm': 'SHA512'},
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


def machine_ticks():
    """(busy, total) CPU ticks of the whole machine, from /proc/stat."""
    with open('/proc/stat') as f:
        values = [int(v) for v in f.readline().split()[1:]]
    idle = values[3] + values[4]
    return sum(values) - idle, sum(values)


# --- the null S3 endpoint ---------------------------------------------------

S3_NS = 'http://s3.amazonaws.com/doc/2006-03-01/'
NULL_ETAG = '"d41d8cd98f00b204e9800998ecf8427e"'


class NullS3Handler(http.server.BaseHTTPRequestHandler):
    """Just enough of S3 for the store's uploads; every byte is dropped.

    Bodies are read into one reused buffer per connection thread, so the
    server costs a socket read per MiB.  Object sizes are remembered (not
    their bytes) so that HEAD and DELETE answer as S3 does.
    """

    protocol_version = 'HTTP/1.1'
    objects = {}
    uploads = {}
    lock = threading.Lock()
    local = threading.local()

    def log_message(self, *args):
        pass

    def _drain(self):
        buf = getattr(self.local, 'buf', None)
        if buf is None:
            buf = self.local.buf = memoryview(bytearray(MiB))
        if 'chunked' in self.headers.get('Transfer-Encoding', ''):
            total = 0
            while True:
                n = int(self.rfile.readline().split(b';')[0], 16)
                total += self._skip(buf, n)
                self.rfile.readline()
                if n == 0:
                    return total
        return self._skip(buf, int(self.headers.get('Content-Length') or 0))

    def _skip(self, buf, n):
        total = 0
        while n > 0:
            got = self.rfile.readinto(buf[:min(n, len(buf))])
            if not got:
                break
            n -= got
            total += got
        return total

    def _answer(self, status, body=b'', headers=()):
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        if body and self.command != 'HEAD':
            self.wfile.write(body)

    def _xml(self, tag, **fields):
        inner = ''.join('<%s>%s</%s>' % (k, v, k) for k, v in fields.items())
        body = ('<?xml version="1.0" encoding="UTF-8"?><%s xmlns="%s">%s'
                '</%s>' % (tag, S3_NS, inner, tag)).encode()
        self._answer(200, body, [('Content-Type', 'application/xml')])

    def _target(self):
        url = urllib.parse.urlsplit(self.path)
        query = urllib.parse.parse_qs(url.query, keep_blank_values=True)
        path = urllib.parse.unquote(url.path).lstrip('/')
        return path, query

    def do_PUT(self):
        path, query = self._target()
        n = self._drain()
        with self.lock:
            if 'uploadId' in query:
                self.uploads[query['uploadId'][0]] += n
            elif '/' in path:
                self.objects[path] = n
        self._answer(200, headers=[('ETag', NULL_ETAG)])

    def do_POST(self):
        path, query = self._target()
        self._drain()
        bucket, _sep, key = path.partition('/')
        if 'uploads' in query:
            upload_id = uuid.uuid4().hex
            with self.lock:
                self.uploads[upload_id] = 0
            return self._xml('InitiateMultipartUploadResult', Bucket=bucket,
                             Key=key, UploadId=upload_id)
        with self.lock:
            self.objects[path] = self.uploads.pop(query['uploadId'][0])
        self._xml('CompleteMultipartUploadResult', Bucket=bucket, Key=key,
                  ETag=NULL_ETAG.replace('"', '&quot;'))

    def do_DELETE(self):
        path, query = self._target()
        self._drain()
        with self.lock:
            if 'uploadId' in query:
                self.uploads.pop(query['uploadId'][0], None)
            else:
                self.objects.pop(path, None)
        self._answer(204)

    def do_HEAD(self):
        path, _query = self._target()
        if '/' not in path:
            return self._answer(200)
        with self.lock:
            size = self.objects.get(path)
        if size is None:
            return self._answer(404)
        self.send_response(200)
        self.send_header('Content-Length', str(size))
        self.send_header('ETag', NULL_ETAG)
        self.end_headers()

    def do_GET(self):
        self._drain()
        self._answer(501)


def serve_null():
    """Run the null S3 server on a free port; print the port, serve."""
    server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), NullS3Handler)
    server.daemon_threads = True
    print(server.server_address[1], flush=True)
    server.serve_forever()


def start_null():
    proc = subprocess.Popen([sys.executable, os.path.abspath(__file__),
                             '--serve-null'], stdout=subprocess.PIPE)
    port = int(proc.stdout.readline())
    return {'http_endpoint': 'http://127.0.0.1:%d' % port,
            'access_key': 'null', 'secret_key': 'null', 'proc': proc}


def stop_null(info):
    info['proc'].terminate()
    info['proc'].wait()


def measure(fn, out=None):
    """CPU seconds, wall seconds and RSS growth (MiB) of ``fn()``.

    ``out``, a dict, also gets ``busy``: the share of all the machine's
    cores in use meanwhile (client and server together), which tells
    whether a throughput figure is bounded by the machine.
    """
    with procs.RssPeak() as rss:
        busy0, total0 = machine_ticks()
        cpu0, wall0 = time.process_time(), time.perf_counter()
        fn()
        cpu, wall = (time.process_time() - cpu0,
                     time.perf_counter() - wall0)
        busy1, total1 = machine_ticks()
    if out is not None:
        out['busy'] = 100.0 * (busy1 - busy0) / max(1, total1 - total0)
    return cpu, wall, rss.growth / MiB


def floor_cost(size):
    """CPU and wall seconds of md5 then sha512 over ``size`` bytes.

    One MiB at a time, one digest after the other on this thread: what
    the store would cost and take if it hashed sequentially.
    """
    def run():
        md5, sha = hashlib.md5(), hashlib.sha512()
        left = size
        while left > 0:
            n = min(left, MiB)
            md5.update(BLOCK[:n])
            sha.update(BLOCK[:n])
            left -= n
    cpu, wall, _rss = measure(run)
    return cpu, wall


def digest_rates(size=256 * MiB):
    """MiB/s of each digest alone on one thread over ``size`` bytes."""
    def crc(fn):
        def run():
            value = 0
            for _ in range(size // MiB):
                value = fn(BLOCK, value)
        return run

    def hashed(name):
        def run():
            h = hashlib.new(name)
            for _ in range(size // MiB):
                h.update(BLOCK)
        return run
    cases = [('md5', hashed('md5')), ('sha512', hashed('sha512')),
             ('sha256', hashed('sha256')), ('sha1', hashed('sha1')),
             ('crc32', crc(zlib.crc32))]
    crt = s3_checksums.crt_checksums
    if crt is not None:
        cases += [('crc32c', crc(crt.crc32c)),
                  ('crc64nvme', crc(crt.crc64nvme))]
    rates = {}
    for name, fn in cases:
        wall = measure(fn)[1]
        rates[name] = size / MiB / wall
    return rates


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


def run_case(store, conf, size, known, results, meta, gc, get=True):
    key = 'bench-%s' % uuid.uuid4()
    out = {}

    def add():
        out['uri'] = store.add(key, GeneratedImage(size),
                               size if known else 0, 'sha512')[0]
    load = {}
    cpu, wall, rss = measure(add, load)
    busy = load['busy']
    # The sequential digests over the same bytes, right after the upload,
    # so that both see the same machine.
    floor_cpu, floor_wall = floor_cost(size)
    results.append(dict(meta, op='add-known' if known else 'add-unknown',
                        size_mib=size // MiB, cpu=cpu, wall=wall, rss=rss,
                        busy=busy, floor_cpu=floor_cpu,
                        floor_wall=floor_wall))
    if known and get:
        loc = location.Location('s3', s3.StoreLocation, conf,
                                uri=out['uri'])

        def get():
            it, _size = store.get(loc)
            for _chunk in it:
                pass
        cpu, wall, rss = measure(get, load)
        results.append(dict(meta, op='get', size_mib=size // MiB, cpu=cpu,
                            wall=wall, rss=rss, busy=load['busy'],
                            floor_cpu=floor_cpu, floor_wall=floor_wall))
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


def summarize(results):
    lines = []
    hdr = ('%-6s %-15s %-11s %6s %9s %7s %6s %7s %7s %6s %7s %5s' %
           ('proto', 'config', 'op', 'MiB', 'cpu s/GiB', 'floor', 'ratio',
            'MiB/s', 'floor/s', 'xfloor', 'rss MiB', 'busy%'))
    lines.append(hdr)
    lines.append('-' * len(hdr))
    for r in results:
        gib = r['size_mib'] / 1024.0
        upload = r['op'].startswith('add')
        r['cpu_per_gib'] = r['cpu'] / gib
        r['floor_per_gib'] = r['floor_cpu'] / gib
        r['ratio'] = (r['cpu_per_gib'] / r['floor_per_gib']
                      if upload else None)
        r['mib_s'] = r['size_mib'] / r['wall'] if r['wall'] else 0
        r['floor_mib_s'] = r['size_mib'] / r['floor_wall']
        r['x_floor'] = r['mib_s'] / r['floor_mib_s'] if upload else None
        lines.append('%-6s %-15s %-11s %6d %9.2f %7.2f %6s %7.1f %7.1f %6s '
                     '%7.1f %5.0f' % (
                         r['proto'],
                         r['config'] + ('' if r['threads'] != 1 else '/1t'),
                         r['op'], r['size_mib'], r['cpu_per_gib'],
                         r['floor_per_gib'],
                         '%.2f' % r['ratio'] if upload else '-',
                         r['mib_s'], r['floor_mib_s'],
                         '%.2f' % r['x_floor'] if upload else '-',
                         r['rss'], r['busy']))
    return '\n'.join(lines)


def small_unknown_memory(server, proto, concurrency, below=MiB):
    """Peak RSS growth of concurrent unknown-size uploads below threshold.

    Each is one PutObject of the buffered parts.
    ``concurrency`` uploads of ``s3_store_large_object_size - below``
    bytes run at once on one store, as concurrent Glance requests do.

    :returns: a dict: concurrency, size_mib, rss (MiB), the documented
        bound per upload (bound_mib) and the measured growth per upload.
    """
    store, conf = make_store(server, proto, CONFIGS['off'], 10)
    size = store.s3_store_large_object_size - below
    limits = store.upload_limits
    first = next(limits.part_sizes(0))
    bound = limits.buffer_count(first) * first
    keys = ['bench-small-%s' % uuid.uuid4() for _i in range(concurrency)]
    uris, errors = [], []

    def one(key):
        try:
            uris.append(store.add(key, GeneratedImage(size), 0,
                                  'sha512')[0])
        except Exception as e:
            errors.append(e)

    def run():
        threads = [threading.Thread(target=one, args=(k,)) for k in keys]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    # The first upload of a process also creates the S3 client (botocore
    # loads its service models: about 4 MiB, once per process, not per
    # upload). One tiny upload first keeps that out of the figure.
    warm = store.add('bench-small-warm-%s' % uuid.uuid4(),
                     GeneratedImage(1), 0, 'sha512')[0]
    store.delete(location.Location('s3', s3.StoreLocation, conf, uri=warm))
    _cpu, wall, rss = measure(run)
    for uri in uris:
        store.delete(location.Location('s3', s3.StoreLocation, conf,
                                       uri=uri))
    if errors:
        raise errors[0]
    return {'op': 'add-small-unknown', 'proto': proto,
            'concurrency': concurrency, 'size_mib': size / MiB,
            'rss': rss, 'rss_per_upload': rss / concurrency,
            'bound_mib': bound / MiB, 'wall': wall}


def report_small_unknown(args, server, transports):
    """Measure and print ``small_unknown_memory`` for each concurrency."""
    found = []
    for n in [int(c) for c in args.small_unknown.split(',') if c]:
        r = small_unknown_memory(server, transports[0], n)
        found.append(r)
        print('unknown size %.0f MiB (below the threshold) x %d '
              'concurrent: rss +%.0f MiB (%.0f MiB per upload; documented '
              'bound %.0f MiB per upload)' % (
                  r['size_mib'], n, r['rss'], r['rss_per_upload'],
                  r['bound_mib']))
    return found


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--endpoint', help='use this S3 server (http:// or '
                   'https://) instead of starting Ceph RGW; "null": a '
                   'server that discards the bytes (uploads only)')
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
    p.add_argument('--no-parallel', action='store_true',
                   help='skip the 1 thread / --threads comparison')
    p.add_argument('--memstore-gib', type=int, default=12)
    p.add_argument('--json', default='bench_s3.json')
    p.add_argument('--small-unknown', default='1,16',
                   help='concurrencies of unknown-size uploads just below '
                   'the threshold measured for memory (default: 1,16; '
                   'empty: none)')
    p.add_argument('--only-small-unknown', action='store_true',
                   help='measure only those (fast: use with --endpoint '
                   'null)')
    p.add_argument('--serve-null', action='store_true',
                   help=argparse.SUPPRESS)
    return p.parse_args(argv)


def start_server(args):
    """The server to measure against and its transports."""
    if args.endpoint == 'null':
        return start_null(), ['http']
    if args.endpoint:
        proto = args.endpoint.split('://')[0]
        return {'%s_endpoint' % proto: args.endpoint,
                'access_key': args.access_key,
                'secret_key': args.secret_key,
                'ca_bundle': args.ca_bundle}, [proto]
    return start_rgw(args), args.transports.split(',')


class _Run(object):
    """What every case of one benchmark run shares."""

    def __init__(self, args, server, results):
        self.args = args
        self.server = server
        self.results = results
        self.gc = s3_servers.rgw_gc(server)
        self.get = args.endpoint != 'null'

    def measure(self, proto, config, threads, sizes, kinds=(True, False),
                label=None):
        """Each size, of known and/or unknown size, with one store."""
        store, conf = make_store(self.server, proto, CONFIGS[config],
                                 threads)
        meta = {'proto': proto, 'config': label or config,
                'threads': threads}
        for size in sizes:
            for known in kinds:
                run_case(store, conf, size, known, self.results, meta,
                         self.gc, self.get)
        return store


def _sizes(spec):
    return [int(s) * MiB for s in spec.split(',') if s]


def _configs(spec):
    configs = [c for c in spec.split(',') if c]
    if 'always-crc32c' in configs and not s3_checksums.crt_available():
        print('skipping always-crc32c: awscrt is not installed')
        configs.remove('always-crc32c')
    return configs


def _run_transport(run, proto, configs, sizes, skipped):
    store = None
    for name in configs:
        try:
            store = run.measure(proto, name, run.args.threads, sizes)
        except Exception as e:  # e.g. when_supported on RGW/HTTPS
            skipped.append('%s %s: %s' % (proto, name, e))
    if run.args.no_parallel or not sizes:
        return store
    # Parallel parts versus one part at a time, same data.
    for threads in (1, run.args.threads):
        store = run.measure(proto, 'off', threads, [max(sizes)],
                            kinds=(False,), label='off-parallel')
    return store


def run_all(args, server, transports, results, skipped):
    """Every configured case; returns the last store used (or None)."""
    run = _Run(args, server, results)
    sizes = _sizes(args.sizes)
    configs = _configs(args.configs)
    store = None
    for proto in transports:
        store = _run_transport(run, proto, configs, sizes, skipped) or store
    # Memory of unknown-size uploads does not grow with the image.
    for size in _sizes(args.memory_sizes):
        store = run.measure(transports[0], 'off', args.threads, [size],
                            kinds=(False,), label='off-memory')
    return store


def main(argv=None):
    args = parse_args(argv)
    if args.serve_null:
        return serve_null()
    server, transports = start_server(args)
    results, skipped = [], []
    try:
        small = report_small_unknown(args, server, transports)
        if args.only_small_unknown:
            return small
        store = run_all(args, server, transports, results, skipped)
        rates = digest_rates()
    finally:
        if args.endpoint == 'null':
            stop_null(server)
        elif not args.endpoint:
            stop_server(server)
    print('endpoint: %s; %d cores' % (args.endpoint or 'rgw (started here)',
                                      os.cpu_count()))
    print(summarize(results))
    for line in skipped:
        print('not measured:', line)
    print('one digest alone, one thread (MiB/s): ' + ', '.join(
        '%s %.0f' % kv for kv in rates.items()))
    if store is not None:
        part = store.s3_store_large_object_chunk_size / MiB
        print('memory bound for unknown size: (%d + 2) x %d MiB + 64 MiB '
              '= %d MiB' % (args.threads, part,
                            (args.threads + 2) * part + 64))
    with open(args.json, 'w') as f:
        json.dump({'results': results, 'skipped': skipped,
                   'digest_rates': rates, 'small_unknown': small}, f,
                  indent=2)
    print('wrote', args.json)


if __name__ == '__main__':
    main()
