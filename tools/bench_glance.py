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

"""Benchmark through the real Glance API: upstream 5.7.0 against this library.

Glance 33 runs under uWSGI (one process, 4 threads, sqlite, no keystone:
``tools/glance_wsgi.py``, through the functional Glance env's harness)
twice, once in a virtualenv with
upstream glance_store 5.7.0 and once in a virtualenv with this library
(``--lib NAME=SOURCE`` adds more, e.g. the code of another branch), both
storing images in one S3 bucket of the Ceph RGW that ``tools/s3_servers.py
run --servers rgw`` started (memstore, over HTTP, default S3 options).

For each size, each repetition runs, for each library in turn (the order
alternates from one repetition to the next): a Content-Length upload
(``curl -T``), a download of that image, and a chunked upload
(``Transfer-Encoding: chunked``, what python-glanceclient sends; Glance
passes size 0 to the store), deleting each image afterwards.  Per case it
records the wall time of the request, the CPU seconds (user + system) of
the uWSGI process tree during it and the worker's peak RSS (``VmHWM``,
reset before each case through ``/proc/PID/clear_refs``).  It prints the
medians with their ratios to upstream, the targets of issue 22, and the
load average during the run.  Not a test: nothing asserts.

Usage (tox -e bench-glance does this)::

    python tools/s3_servers.py run --servers rgw -- \\
        python tools/bench_glance.py [--sizes 256,1024] [--repeat 3]

The virtualenvs are built once under ``--venvs`` and reused; the library
under test is reinstalled from its source at every run.  ``serve`` is the
internal sub-command that runs one Glance server inside a virtualenv.
"""

import argparse
import importlib.util
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid

import glance_wsgi  # tools/glance_wsgi.py, beside this script
import procs  # tools/procs.py, beside this script
import s3_servers  # tools/s3_servers.py, beside this script

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
HARNESS = os.path.join(ROOT, 'glance_store', 'tests', 'functional', 'glance',
                       'harness.py')

MiB = 1024 * 1024
GiB = 1024 * MiB
UPSTREAM = 'upstream'
MODES = ('content-length', 'download', 'chunked')
HEADERS = {
    'X-Identity-Status': 'Confirmed',
    'X-Roles': 'admin',
    'X-Project-Id': uuid.uuid4().hex,
    'X-User-Id': uuid.uuid4().hex,
    'X-Auth-Token': uuid.uuid4().hex,
}


def _log(msg):
    sys.stderr.write('bench-glance: %s\n' % msg)
    sys.stderr.flush()


# -- inside a virtualenv: one Glance server --------------------------------

def _load_launcher():
    spec = importlib.util.spec_from_file_location('bench_harness', HARNESS)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _create_bucket(options):
    # Created here without a LocationConstraint: upstream sends its
    # region as one, which RGW refuses.
    import boto3
    boto3.session.Session().client(
        's3', endpoint_url=options['s3_store_host'],
        aws_access_key_id=options['s3_store_access_key'],
        aws_secret_access_key=options['s3_store_secret_key'],
        region_name=options['s3_store_region_name']).create_bucket(
            Bucket=options['s3_store_bucket'])


def serve(args):
    """Run one Glance server until stdin closes; print its URL and PID.

    :param args: parsed ``serve`` arguments (``--workdir``, ``--options``
        as JSON of ``[glance_store]`` options, ``--threads``).
    :returns: 0
    """
    harness = _load_launcher()
    options = json.loads(args.options)
    _create_bucket(options)
    stores = harness.single_store(None, stores=('s3',), default_store='s3',
                                  options=options)
    server = harness.GlanceServer(
        args.workdir, stores, threads=args.threads,
        extra_conf={'DEFAULT': {'debug': False}})
    for item in args.env or ():
        key, _sep, value = item.partition('=')
        os.environ[key] = value
    server.start()
    try:
        print(json.dumps({'url': server.url, 'pid': server.process.pid,
                          'glance_store': server.loaded_glance_store()}),
              flush=True)
        sys.stdin.read()
    finally:
        server.stop()
    return 0


# -- the driver: virtualenvs, servers, cases --------------------------------

def _run(cmd, **kwargs):
    _log('$ %s' % ' '.join(cmd))
    subprocess.run(cmd, check=True, **kwargs)


def ensure_venv(path, glance_spec, upstream, source, awscrt):
    """Build (once) a virtualenv with Glance, uWSGI and a glance_store.

    :param path: the virtualenv's directory.
    :param glance_spec: the pip requirement for Glance.
    :param upstream: the upstream glance_store version to pin (for the
        upstream virtualenv), or None.
    :param source: this library's source directory to install over
        upstream's, or None.
    :param awscrt: whether awscrt is installed too.
    :returns: the virtualenv's python.
    """
    python = os.path.join(path, 'bin', 'python')
    marker = os.path.join(path, '.bench-glance-ready')
    wanted = json.dumps([glance_spec, upstream, awscrt])
    ready = os.path.exists(marker) and open(marker).read() == wanted
    if not ready:
        if os.path.exists(path):
            shutil.rmtree(path)
        _run([sys.executable, '-m', 'venv', path])
        # boto3 is upstream's s3 extra and this library's requirement.
        reqs = [glance_spec, 'uwsgi', 'requests', 'boto3>=1.36.0',
                'wheel']
        if upstream:
            reqs.append('glance_store==%s' % upstream)
        if awscrt:
            reqs.append('awscrt')
        _run([python, '-m', 'pip', 'install', '-q'] + reqs)
        with open(marker, 'w') as f:
            f.write(wanted)
    if source:
        env = dict(os.environ)
        # Built with the venv's own setuptools, wheel and pbr: an
        # isolated build would fetch them again every time.
        _run([python, '-m', 'pip', 'install', '-q', '--no-deps',
              '--no-build-isolation', '--force-reinstall', source], env=env)
    return python


class Server(object):
    """One Glance server of one library, run by ``serve`` in its venv."""

    def __init__(self, name, python, workdir, options, threads, env):
        self.name = name
        self.profile_dir = None
        self.py_spy = None
        cmd = [python, os.path.abspath(__file__), 'serve', '--workdir',
               workdir, '--options', json.dumps(options), '--threads',
               str(threads)]
        for item in env:
            cmd += ['--env', item]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE)
        line = self.proc.stdout.readline()
        if not line:
            self.proc.wait()
            raise RuntimeError('the %s Glance server did not start (see '
                               '%s/glance-api.log)' % (name, workdir))
        info = json.loads(line)
        self.url = info['url']
        self.pid = info['pid']
        self.glance_store = info['glance_store']

    def stop(self):
        """Close stdin: ``serve`` stops uWSGI by PID and exits."""
        self.proc.stdin.close()
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(30)

    def tree(self):
        """PIDs of the uWSGI master and its descendants."""
        children = {}
        for entry in os.listdir('/proc'):
            if not entry.isdigit():
                continue
            try:
                with open('/proc/%s/stat' % entry) as f:
                    fields = f.read().rsplit(')', 1)[1].split()
            except OSError:
                continue
            children.setdefault(int(fields[1]), []).append(int(entry))
        pids, todo = [], [self.pid]
        while todo:
            pid = todo.pop()
            pids.append(pid)
            todo.extend(children.get(pid, ()))
        return pids

    def cpu(self):
        """CPU seconds (user + system) of the uWSGI tree so far."""
        ticks = os.sysconf('SC_CLK_TCK')
        total = 0
        for pid in self.tree():
            try:
                with open('/proc/%d/stat' % pid) as f:
                    fields = f.read().rsplit(')', 1)[1].split()
            except OSError:
                continue
            total += int(fields[11]) + int(fields[12])
        return total / ticks

    def reset_peak(self):
        """Reset the peak RSS of every process of the tree."""
        for pid in self.tree():
            try:
                with open('/proc/%d/clear_refs' % pid, 'w') as f:
                    f.write('5')
            except OSError:
                pass

    def peak_rss_mib(self):
        """The largest peak RSS of the tree's processes since the reset."""
        peak = 0
        for pid in self.tree():
            try:
                with open('/proc/%d/status' % pid) as f:
                    for line in f:
                        if line.startswith('VmHWM:'):
                            peak = max(peak, int(line.split()[1]))
            except OSError:
                continue
        return peak / 1024.0

    def api(self, method, path, body=None):
        data = None
        headers = dict(HEADERS)
        if body is not None:
            data = json.dumps(body).encode()
            headers['Content-Type'] = 'application/json'
        req = urllib.request.Request(self.url + path, data=data,
                                     headers=headers, method=method)
        with urllib.request.urlopen(req, timeout=120) as resp:
            text = resp.read()
        return json.loads(text) if text else None


def _curl(args):
    cmd = ['curl', '-sS', '--fail', '-o', '/dev/null', '-w',
           '%{http_code}']
    for key, value in HEADERS.items():
        cmd += ['-H', '%s: %s' % (key, value)]
    t0 = time.monotonic()
    out = subprocess.run(cmd + args, check=True, stdout=subprocess.PIPE)
    return time.monotonic() - t0, out.stdout.decode()


def _start_profile(server, label):
    if not server.profile_dir:
        return None
    out = os.path.join(server.profile_dir,
                       '%s-%s.txt' % (server.name, label))
    return subprocess.Popen(
        [server.py_spy, 'record', '--pid', str(server.pid),
         '--subprocesses', '--nonblocking', '--format', 'raw', '--rate',
         '50', '--output', out], stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL)


def _stop_profile(proc):
    if proc is not None:
        proc.send_signal(signal.SIGINT)
        proc.wait(60)


def measure(server, fn, label=''):
    """Run ``fn`` and return its wall time, uWSGI CPU and peak RSS.

    With ``--py-spy``, the uWSGI tree is sampled meanwhile (py-spy runs
    outside the tree: its CPU is not counted).
    """
    server.reset_peak()
    profile = _start_profile(server, label)
    cpu0 = server.cpu()
    try:
        wall, _code = fn()
    finally:
        _stop_profile(profile)
    # The response is sent when the store is done; let the counters settle.
    time.sleep(0.05)
    return {'wall': wall, 'cpu': server.cpu() - cpu0,
            'rss': server.peak_rss_mib(),
            'load': os.getloadavg()[0]}


def new_image(server):
    return server.api('POST', '/v2/images', {
        'name': 'bench', 'disk_format': 'raw',
        'container_format': 'bare'})['id']


def run_lib_size(server, path, results, gc, rep=0):
    """The three cases of one library and one image file."""
    url = server.url + '/v2/images/%s/file'
    size = os.path.getsize(path)
    tag = '%dM-%d-' % (size // MiB, rep)
    image = new_image(server)
    results['content-length'].append(measure(server, lambda: _curl(
        ['-X', 'PUT', '-H', 'Content-Type: application/octet-stream',
         '-T', path, url % image]), tag + 'content-length'))
    info = server.api('GET', '/v2/images/%s' % image)
    if info.get('size') != size or info.get('status') != 'active':
        raise RuntimeError('upload of %s: %s' % (path, info))
    results['download'].append(measure(server, lambda: _curl(
        [url % image]), tag + 'download'))
    server.api('DELETE', '/v2/images/%s' % image)
    gc()
    image = new_image(server)
    results['chunked'].append(measure(server, lambda: _curl(
        ['-X', 'PUT', '-H', 'Content-Type: application/octet-stream',
         '-H', 'Transfer-Encoding: chunked', '-T', path, url % image]),
        tag + 'chunked'))
    info = server.api('GET', '/v2/images/%s' % image)
    if info.get('size') != size or info.get('status') != 'active':
        raise RuntimeError('chunked upload of %s: %s' % (path, info))
    server.api('DELETE', '/v2/images/%s' % image)
    gc()


def store_options(rgw, bucket):
    """Glance's S3 options: RGW's plain HTTP endpoint, one bucket."""
    return glance_wsgi.s3_store_options(rgw, bucket, rgw['http_endpoint'])


def _median(values):
    return statistics.median(values) if values else float('nan')


def summarize(results, libs, sizes, loads):
    """The table: medians per case, ratios to upstream, the targets."""
    lines = ['load average (1 min) during the cases: min %.2f median %.2f '
             'max %.2f' % (min(loads), _median(loads), max(loads)),
             '%-6s %-15s %-10s %8s %8s %9s %8s %7s %7s %6s' % (
                 'size', 'case', 'library', 'wall s', 'cpu s', 'cpu s/GiB',
                 'rss MiB', 'x wall', 'x cpu', 'runs')]
    for size in sizes:
        for mode in MODES:
            base = results[(UPSTREAM, size, mode)]
            bwall = _median([r['wall'] for r in base])
            bcpu = _median([r['cpu'] for r in base])
            for lib in libs:
                rs = results[(lib, size, mode)]
                wall = _median([r['wall'] for r in rs])
                cpu = _median([r['cpu'] for r in rs])
                lines.append('%-6s %-15s %-10s %8.2f %8.2f %9.2f %8.0f '
                             '%7.2f %7.2f %6d' % (
                                 '%dM' % (size // MiB), mode, lib, wall, cpu,
                                 cpu * GiB / size,
                                 max(r['rss'] for r in rs), wall / bwall,
                                 cpu / bcpu, len(rs)))
    lines.append('targets (issue 22), per library against upstream:')
    for lib in libs:
        if lib == UPSTREAM:
            continue
        for size in sizes:
            def cpu(who, mode):
                return _median([r['cpu'] for r in results[(who, size,
                                                           mode)]])
            cl = cpu(lib, 'content-length') / cpu(UPSTREAM, 'content-length')
            ch = cpu(lib, 'chunked') / cpu(UPSTREAM, 'content-length')
            dl = cpu(lib, 'download') / cpu(UPSTREAM, 'download')
            lines.append(
                '  %s %dM: content-length upload cpu %.2fx (<= 0.85: %s); '
                'chunked upload cpu / upstream content-length cpu %.2fx '
                '(<= 1: %s); download cpu %.2fx (<= 0.5: %s)' % (
                    lib, size // MiB, cl, _ok(cl <= 0.85), ch,
                    _ok(ch <= 1.0), dl, _ok(dl <= 0.5)))
    return '\n'.join(lines)


def _ok(flag):
    return 'met' if flag else 'NOT met'


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest='command')
    s = sub.add_parser('serve', help='internal: one Glance server')
    s.add_argument('--workdir', required=True)
    s.add_argument('--options', required=True)
    s.add_argument('--threads', type=int, default=4)
    s.add_argument('--env', action='append')
    b = sub.add_parser('run', help='the benchmark (the default)')
    b.add_argument('--sizes', default='256,1024',
                   help='image sizes in MiB, comma-separated')
    b.add_argument('--repeat', type=int, default=2)
    b.add_argument('--lib', action='append', default=[],
                   help='NAME=SOURCE: a library to measure (default: '
                   'this=the source tree); repeatable')
    b.add_argument('--upstream', default='5.7.0')
    b.add_argument('--glance', default='glance>=33,<34')
    b.add_argument('--venvs', default=os.path.join(ROOT, '.tox',
                                                   'bench-glance-venvs'))
    b.add_argument('--awscrt', action='store_true',
                   help='install awscrt in every virtualenv')
    b.add_argument('--server-env', action='append', default=[],
                   help='KEY=VALUE in the uWSGI environment of every '
                   'server (e.g. BOTO_DISABLE_CRT=true)')
    b.add_argument('--threads', type=int, default=4)
    b.add_argument('--json', help='write the raw results here')
    b.add_argument('--py-spy', metavar='DIR',
                   help='profile every case of the libraries other than '
                   'upstream with py-spy (on the PATH) into DIR, as raw '
                   'collapsed stacks')
    if not argv or argv[0] not in ('serve', 'run', '-h', '--help'):
        argv = ['run'] + list(argv or [])
    return p.parse_args(argv)


def _servers_info():
    path = os.environ.get('GS_FUNC_SERVERS')
    if not path:
        raise SystemExit('GS_FUNC_SERVERS is not set: run this through '
                         'tools/s3_servers.py run --servers rgw -- ... '
                         '(tox -e bench-glance does)')
    with open(path) as f:
        return json.load(f)['rgw']


def _start_servers(args, libs, rgw, workdir, servers):
    """One Glance server per library, each in its own virtualenv.

    ``servers`` (name -> Server) is filled as they start, so that the
    caller stops those that did when a later one fails.
    """
    for name, source in libs:
        python = ensure_venv(os.path.join(args.venvs, name), args.glance,
                             args.upstream, source, args.awscrt)
        wd = os.path.join(workdir, name)
        os.makedirs(wd)
        servers[name] = Server(name, python, wd, store_options(
            rgw, 'bench-glance-%s' % uuid.uuid4().hex[:8]),
            args.threads, args.server_env)
        if args.py_spy and name != UPSTREAM:
            os.makedirs(args.py_spy, exist_ok=True)
            servers[name].profile_dir = args.py_spy
            servers[name].py_spy = shutil.which('py-spy')
        _log('%s: %s, glance_store from %s' % (
            name, servers[name].url, servers[name].glance_store))


def _run_once(server, path, size, rep, gc, results, loads):
    per = {m: [] for m in MODES}
    run_lib_size(server, path, per, gc, rep)
    for mode in MODES:
        results.setdefault((server.name, size, mode), []).extend(per[mode])
        loads.append(per[mode][0]['load'])
    done = ', '.join('%s %.1fs/%.1fcpu' % (
        m, per[m][0]['wall'], per[m][0]['cpu']) for m in MODES)
    _log('rep %d %dM %s: %s' % (rep + 1, size // MiB, server.name, done))


def _run_reps(args, servers, names, paths, gc):
    """Every size with every library, the order alternating per rep."""
    results, loads = {}, []
    for rep in range(args.repeat):
        order = names if rep % 2 == 0 else list(reversed(names))
        for size, path in paths.items():
            for name in order:
                _run_once(servers[name], path, size, rep, gc, results, loads)
    return results, loads


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.command == 'serve':
        return serve(args)
    rgw = _servers_info()
    libs = [(UPSTREAM, None)] + [tuple(x.split('=', 1)) for x in
                                 (args.lib or ['this=%s' % ROOT])]
    sizes = [int(s) * MiB for s in args.sizes.split(',')]
    names = [n for n, _s in libs]
    workdir = tempfile.mkdtemp(prefix='bench-glance-')
    servers = {}
    try:
        _start_servers(args, libs, rgw, workdir, servers)
        paths = {}
        for size in sizes:
            paths[size] = os.path.join(workdir, 'image-%d' % size)
            procs.write_repeated(paths[size], os.urandom(16 * MiB), size)
        results, loads = _run_reps(args, servers, names, paths,
                                   s3_servers.rgw_gc(rgw))
    finally:
        for server in servers.values():
            server.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    print(summarize(results, names, sizes, loads))
    if args.json:
        with open(args.json, 'w') as f:
            json.dump([{'lib': k[0], 'size': k[1], 'case': k[2], 'runs': v}
                       for k, v in results.items()], f, indent=1)
    return 0


if __name__ == '__main__':
    sys.exit(main())
