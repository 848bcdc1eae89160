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

"""A real forward proxy (Debian's ``tinyproxy``) for functional tests.

It listens on 127.0.0.1 with a login, its own configuration and log, and
is stopped by PID. Needs ``tinyproxy`` (``tools/install_functional_deps.sh``);
the tests using it skip without it, unless in CI, where they fail.
"""

import os
import shutil
import socket
import subprocess
import time
import unittest

import fixtures

from glance_store.tests.functional import servers

PROXY_USER = 'glance'
PROXY_PASSWORD = 'tiny-Proxy-Passw0rd'

TINYPROXY_CONF = """\
Port {port}
Listen 127.0.0.1
Timeout 120
LogFile "{log}"
LogLevel Info
PidFile "{pid}"
MaxClients 20
Allow 127.0.0.1
BasicAuth {user} {password}
DisableViaHeader Yes
"""


def _free_port():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


class TinyProxy(fixtures.Fixture):
    """tinyproxy on 127.0.0.1 with a login, its own config and log."""

    def _setUp(self):
        binary = shutil.which('tinyproxy')
        if binary is None:
            message = ('tinyproxy is not installed (tools/'
                       'install_functional_deps.sh)')
            if servers.in_ci():
                raise AssertionError(message)
            raise unittest.SkipTest(message)
        tmp = self.useFixture(fixtures.TempDir()).path
        self.port = _free_port()
        self.log_path = os.path.join(tmp, 'tinyproxy.log')
        conf = os.path.join(tmp, 'tinyproxy.conf')
        with open(conf, 'w') as f:
            f.write(TINYPROXY_CONF.format(
                port=self.port, log=self.log_path,
                pid=os.path.join(tmp, 'tinyproxy.pid'), user=PROXY_USER,
                password=PROXY_PASSWORD))
        # -d: stay in the foreground, so the PID is the one to stop.
        self.process = subprocess.Popen(
            [binary, '-d', '-c', conf], stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        self.addCleanup(self._stop)
        deadline = time.monotonic() + 30
        while True:
            if self.process.poll() is not None:
                raise AssertionError('tinyproxy exited with %s: %s' % (
                    self.process.returncode, self.log()))
            try:
                socket.create_connection(('127.0.0.1', self.port), 1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        self.url = 'http://%s:%s@127.0.0.1:%d' % (
            PROXY_USER, PROXY_PASSWORD, self.port)

    def _stop(self):
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def log(self):
        try:
            with open(self.log_path) as f:
                return f.read()
        except FileNotFoundError:
            return ''

    def requests(self):
        """The request lines tinyproxy logged (method and URL)."""
        marker = 'Request (file descriptor '
        return [line.split('): ', 1)[1] for line in self.log().splitlines()
                if marker in line]
