#!/usr/bin/env bash
# Everything `npm test` needs beyond npm packages, installed when missing (idempotent, quick when
# all is there): the etcd lines 3.5, 3.6, 3.7, openssl (tests make their own certificates) and
# MinIO (the real S3-protocol server the storage tests talk to).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

apt_install() { # package... — installs with apt-get when we may (root), else says what to install
  if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
    [[ -n $(find /var/lib/apt/lists -maxdepth 1 -name '*Packages*' -print -quit 2>/dev/null) ]] || apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
  else
    echo "install-test-deps: please install: $*" >&2
    exit 1
  fi
}

command -v openssl >/dev/null || apt_install openssl
bash "$here/install-etcd.sh" ${STEWARD_TEST_LINES:+${STEWARD_TEST_LINES//,/ }}
bash "$here/install-minio.sh"
bash "$here/install-prometheus.sh"
bash "$here/install-chromium.sh"
bash "$here/install-kube-apiserver.sh"
