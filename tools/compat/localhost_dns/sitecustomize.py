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

"""Resolve ``localhost.`` as ``localhost`` in Glance's test processes.

Glance 33 appends a dot to every web-download and http location host
before it resolves it. This machine's resolver answers ``localhost`` from
/etc/hosts but not the fully qualified ``localhost.``, so the Glance tests
that serve an image from a local http.server fail for a reason that has
nothing to do with the store library. tools/compat/run_compat.py puts
this directory on PYTHONPATH for the ``stestr run`` of Glance's functional
tests only: no other process and no other host name is affected.
"""

import socket

_real_getaddrinfo = socket.getaddrinfo


def _getaddrinfo(host, *args, **kwargs):
    """Look ``localhost.`` up as ``localhost``; other names unchanged.

    :param host: the host name or address to resolve
    :returns: what socket.getaddrinfo returns for it
    :raises socket.gaierror: when the name cannot be resolved
    """
    if host in ('localhost.', b'localhost.'):
        host = host[:-1]
    return _real_getaddrinfo(host, *args, **kwargs)


socket.getaddrinfo = _getaddrinfo
