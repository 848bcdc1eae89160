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

"""A layer-2 forwarder between two interfaces that delays and drops frames.

Standard library only; run inside the "wan" network namespace of
``netpath``, between the interface facing the client and the one facing
the server.  It plays what ``tc qdisc netem delay D J loss L`` does on
both veth ends, for kernels built without sch_netem (the machines here):
every Ethernet frame, in each direction, is held ``delay`` +/- ``jitter``
seconds (kept in order within a direction, as netem does with a rate)
and dropped with probability ``loss``.  The rate limit is the kernel's
own ``tbf`` on the veth ends.  A frame that cannot be sent (the link is
down) is lost, as on a cable.

Usage: netpath_forwarder.py IF_CLIENT IF_SERVER DELAY JITTER LOSS SEED
       netpath_forwarder.py --offload-off IF...

The second form turns checksum and segmentation offloads off on the
interfaces (the ethtool ioctls, as ``ethtool -K IF tx off sg off tso off
gso off``) so that frames cross the forwarder at the link's MTU with
their checksums filled in.

It prints one line ``ready`` once both sockets are bound, and on SIGTERM
one JSON line with its counters before it exits.
"""

import array
import fcntl
import heapq
import json
import random
import select
import signal
import socket
import sys
import time

ETH_P_ALL = 0x0003
PACKET_OUTGOING = 4
FRAME_MAX = 65536


SIOCETHTOOL = 0x8946
# ETHTOOL_STXCSUM, ETHTOOL_SSG, ETHTOOL_STSO, ETHTOOL_SGSO, ETHTOOL_SGRO
OFFLOAD_SETTERS = (0x17, 0x19, 0x1f, 0x24, 0x2c)


def offload_off(names):
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        for name in names:
            for cmd in OFFLOAD_SETTERS:
                value = array.array('I', [cmd, 0])
                address, _ = value.buffer_info()
                ifreq = (name.encode().ljust(16, b'\0') +
                         address.to_bytes(8, sys.byteorder) +
                         b'\0' * 16)
                fcntl.ioctl(sock, SIOCETHTOOL, ifreq)
    finally:
        sock.close()


class Forwarder(object):

    def __init__(self, client_if, server_if, delay, jitter, loss, seed):
        self.delay, self.jitter, self.loss = delay, jitter, loss
        self.rnd = random.Random(seed)
        self.client = self._bind(client_if)
        self.server = self._bind(server_if)
        self.queue = []
        self.seq = 0
        self.last_due = {}
        self.stats = {'to_server': 0, 'to_client': 0, 'dropped': 0,
                      'send_errors': 0, 'recv_errors': 0,
                      'largest_frame': 0}
        self.running = True

    @staticmethod
    def _bind(name):
        sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW,
                             socket.htons(ETH_P_ALL))
        sock.bind((name, 0))
        sock.setblocking(False)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        return sock

    def _send(self, sock, frame):
        try:
            sock.send(frame)
        except OSError:
            # The link is down (ip link set ... down): the frame is lost,
            # as on a real cable.
            self.stats['send_errors'] += 1

    def _forward(self, out, frame, now):
        self.stats['to_server' if out is self.server else 'to_client'] += 1
        if self.loss and self.rnd.random() < self.loss:
            self.stats['dropped'] += 1
            return
        if not self.delay:
            self._send(out, frame)
            return
        due = now + self.delay + self.rnd.uniform(-self.jitter, self.jitter)
        due = max(due, self.last_due.get(out, 0.0))
        self.last_due[out] = due
        self.seq += 1
        heapq.heappush(self.queue, (due, self.seq, out, frame))

    def _drain(self, sock, now):
        out = self.server if sock is self.client else self.client
        while True:
            try:
                frame, addr = sock.recvfrom(FRAME_MAX)
            except BlockingIOError:
                return
            except OSError:
                # ENETDOWN once when the interface went down.
                self.stats['recv_errors'] += 1
                return
            if addr[2] == PACKET_OUTGOING:
                continue
            self.stats['largest_frame'] = max(self.stats['largest_frame'],
                                              len(frame))
            self._forward(out, frame, now)

    def _release(self, now):
        while self.queue and self.queue[0][0] <= now:
            _, _, out, frame = heapq.heappop(self.queue)
            self._send(out, frame)

    def run(self):
        sockets = [self.client, self.server]
        while self.running:
            now = time.monotonic()
            self._release(now)
            timeout = 0.5
            if self.queue:
                timeout = max(0.0, self.queue[0][0] - now)
            try:
                readable, _, _ = select.select(sockets, [], [], timeout)
            except InterruptedError:
                continue
            now = time.monotonic()
            for sock in readable:
                self._drain(sock, now)


def main(argv):
    if argv and argv[0] == '--offload-off':
        offload_off(argv[1:])
        return 0
    client_if, server_if = argv[0], argv[1]
    delay, jitter, loss = float(argv[2]), float(argv[3]), float(argv[4])
    forwarder = Forwarder(client_if, server_if, delay, jitter, loss,
                          int(argv[5]))

    def stop(signum, frame):
        forwarder.running = False

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print('ready', flush=True)
    forwarder.run()
    print(json.dumps(forwarder.stats), flush=True)
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
