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

"""A real network path between an S3 client and Ceph RGW, made by the tests.

Three network namespaces of the test's own, joined by two veth pairs::

    client ns            wan ns                         server ns
    c0 10.213.N.1  <->  c1 [forwarder] s1  <->  s0 10.213.N.2 (RGW)

Both addresses live inside these namespaces only; nothing is added to the
host's own namespace.  The store, the operator tool and the upload child
run in the client namespace (``ip netns exec``), RGW in the server one,
started there by ``tools/s3_servers.py --bind-address``.

Shaping: ``tbf`` (the kernel's token bucket) limits the rate on c0 and
s0.  Delay, jitter and loss come from ``netpath_forwarder`` in the wan
namespace, a layer-2 forwarder that plays ``netem`` (the kernels here are
built without sch_netem, and ``tc qdisc add ... netem`` answers "qdisc
kind is unknown").  ``link_down`` sets s1 down: the server loses carrier,
frames towards it are lost, the client sees nothing but silence.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile

import glance_store

TOOLS = os.path.join(os.path.dirname(os.path.dirname(
    os.path.abspath(glance_store.__file__))), 'tools')
FORWARDER = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                         'netpath_forwarder.py')
START_TIMEOUT = 180


class NetPathError(Exception):
    """A set-up command failed; the message has its output."""


def _run(cmd, timeout=60, check=True):
    proc = subprocess.run(cmd, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, timeout=timeout)
    if check and proc.returncode != 0:
        raise NetPathError('%s failed (%d): %s' % (
            ' '.join(cmd), proc.returncode,
            proc.stdout.decode('utf-8', 'replace')[-2000:]))
    return proc.stdout.decode('utf-8', 'replace')


def unavailable():
    """Why network namespaces cannot be used here, or None."""
    if os.geteuid() != 0:
        return 'network namespaces need root'
    if not shutil.which('ip') or not shutil.which('tc'):
        return 'ip and tc (iproute2) are not installed'
    probe = 'gs-probe-%d' % os.getpid()
    try:
        _run(['ip', 'netns', 'add', probe])
    except (NetPathError, OSError) as e:
        return 'ip netns add does not work here: %s' % e
    _run(['ip', 'netns', 'del', probe], check=False)
    return None


class NetPath(object):
    """The three namespaces, the forwarder, shaping and RGW."""

    def __init__(self):
        tag = '%d' % os.getpid()
        self.ns = {'client': 'gs-cli-' + tag, 'wan': 'gs-wan-' + tag,
                   'server': 'gs-rgw-' + tag}
        octet = 20 + os.getpid() % 200
        self.client_ip = '10.213.%d.1' % octet
        self.server_ip = '10.213.%d.2' % octet
        self.forwarder = None
        self.forwarder_stats = None
        self.workdir = None
        self.rgw = None

    def prefix(self, role):
        """The command prefix that runs a command in a namespace."""
        return ['ip', 'netns', 'exec', self.ns[role]]

    def _ip(self, role, *args):
        return _run(['ip', '-n', self.ns[role]] + list(args))

    def _offload_off(self, role, *names):
        _run(self.prefix(role) + [sys.executable, FORWARDER,
                                  '--offload-off'] + list(names))

    def setup(self):
        """Create the namespaces and links, start the forwarder."""
        for name in self.ns.values():
            _run(['ip', 'netns', 'add', name])
        _run(['ip', 'link', 'add', 'c0', 'netns', self.ns['client'],
              'type', 'veth', 'peer', 'name', 'c1', 'netns',
              self.ns['wan']])
        _run(['ip', 'link', 'add', 's0', 'netns', self.ns['server'],
              'type', 'veth', 'peer', 'name', 's1', 'netns',
              self.ns['wan']])
        self._ip('client', 'addr', 'add', self.client_ip + '/24', 'dev',
                 'c0')
        self._ip('server', 'addr', 'add', self.server_ip + '/24', 'dev',
                 's0')
        for role, links in (('client', ('lo', 'c0')),
                            ('wan', ('lo', 'c1', 's1')),
                            ('server', ('lo', 's0'))):
            for link in links:
                self._ip(role, 'link', 'set', link, 'up')
        # Frames must cross the forwarder at the MTU, checksums filled in.
        self._offload_off('client', 'c0')
        self._offload_off('server', 's0')
        self._offload_off('wan', 'c1', 's1')
        self.start_forwarder()

    def start_forwarder(self, delay=0.0, jitter=0.0, loss=0.0, seed=7):
        """(Re)start the forwarder with this delay/jitter (s) and loss."""
        self.stop_forwarder()
        self.forwarder = subprocess.Popen(
            self.prefix('wan') + [sys.executable, FORWARDER, 'c1', 's1',
                                  str(delay), str(jitter), str(loss),
                                  str(seed)],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        line = self.forwarder.stdout.readline().decode().strip()
        if line != 'ready':
            raise NetPathError('the forwarder did not start: %s %s' % (
                line, self.forwarder.stdout.read().decode()))

    def stop_forwarder(self):
        """Stop the forwarder; its counters go to ``forwarder_stats``."""
        if self.forwarder is None:
            return None
        self.forwarder.terminate()
        out, _ = self.forwarder.communicate(timeout=30)
        self.forwarder = None
        lines = out.decode('utf-8', 'replace').strip().splitlines()
        try:
            self.forwarder_stats = json.loads(lines[-1])
        except (IndexError, ValueError):
            self.forwarder_stats = {'output': lines[-5:]}
        return self.forwarder_stats

    def shape(self, rate_mbit):
        """Limit both directions to ``rate_mbit`` with tbf."""
        for role, dev in (('client', 'c0'), ('server', 's0')):
            _run(['tc', '-n', self.ns[role], 'qdisc', 'replace', 'dev', dev,
                  'root', 'tbf', 'rate', '%dmbit' % rate_mbit, 'burst',
                  '64kb', 'latency', '400ms'])

    def unshape(self):
        for role, dev in (('client', 'c0'), ('server', 's0')):
            _run(['tc', '-n', self.ns[role], 'qdisc', 'del', 'dev', dev,
                  'root'], check=False)

    def link_down(self):
        self._ip('wan', 'link', 'set', 's1', 'down')

    def link_up(self):
        self._ip('wan', 'link', 'set', 's1', 'up')

    def tcp_counters(self, role='client'):
        """The namespace's TCP counters (/proc/net/snmp), as a dict."""
        text = _run(self.prefix(role) + ['cat', '/proc/net/snmp'])
        rows = [line.split()[1:] for line in text.splitlines()
                if line.startswith('Tcp:')]
        return dict(zip(rows[0], (int(v) for v in rows[1])))

    def start_rgw(self):
        """Start RGW in the server namespace; returns its server info."""
        self.workdir = tempfile.mkdtemp(prefix='gs-netpath-rgw-')
        _run(self.prefix('server') + [
            sys.executable, os.path.join(TOOLS, 's3_servers.py'), 'start',
            'rgw', '--workdir', self.workdir, '--bind-address',
            self.server_ip, '--memstore-gib', '2'], timeout=START_TIMEOUT)
        with open(os.path.join(self.workdir, 'server.json')) as f:
            self.rgw = json.load(f)
        return self.rgw

    def stop_rgw(self):
        if self.workdir is None:
            return
        _run([sys.executable, os.path.join(TOOLS, 's3_servers.py'), 'stop',
              '--workdir', self.workdir], check=False)
        shutil.rmtree(self.workdir, ignore_errors=True)
        self.workdir = None

    def teardown(self):
        """Stop everything started here and delete the namespaces."""
        try:
            self.stop_forwarder()
        finally:
            self.stop_rgw()
            for name in self.ns.values():
                _run(['ip', 'netns', 'del', name], check=False)
