#!/usr/bin/env bash
# Installs Debian's `prometheus` package for the tests (gives /usr/bin/prometheus and promtool).
# The tests run their own Prometheus on a loopback port with a temp storage dir; the system
# service must not start, so when no /usr/sbin/policy-rc.d exists we put one in place for the
# install (exit 101 = "do not start services") and remove it again. Idempotent. `--plan` prints
# what would be installed, and nothing when Prometheus is there.
set -euo pipefail
# shellcheck source=lib/version.sh
source "$(dirname "$0")/lib/version.sh"
log() { printf 'install-prometheus: %s\n' "$*" >&2; }

if command -v prometheus >/dev/null && command -v promtool >/dev/null; then
  [[ ${1:-} == --plan ]] || log "prometheus already installed ($(version_line prometheus))"
  exit 0
fi
if [[ ${1:-} == --plan ]]; then
  echo "installing Debian's prometheus package (~1 min)"
  exit 0
fi
if [[ $(id -u) -ne 0 ]] || ! command -v apt-get >/dev/null; then
  log "please install Debian's 'prometheus' package (it provides prometheus and promtool)"
  exit 1
fi

policy=/usr/sbin/policy-rc.d
added_policy=
if [[ ! -e $policy ]]; then
  printf '#!/bin/sh\nexit 101\n' >"$policy"
  chmod 755 "$policy"
  added_policy=1
fi
cleanup() { if [[ -n $added_policy ]]; then rm -f "$policy"; fi; }
trap cleanup EXIT

[[ -n $(find /var/lib/apt/lists -maxdepth 1 -name '*Packages*' -print -quit 2>/dev/null) ]] || apt-get update -qq
log "installing Debian's prometheus package"
DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=900 install -y -qq --no-install-recommends prometheus >/dev/null
# Belt and braces: if a service manager started it anyway, stop it (tests run their own).
if command -v systemctl >/dev/null && [[ -d /run/systemd/system ]]; then
  systemctl disable --now prometheus.service >/dev/null 2>&1 || true
fi
log "installed $(version_line prometheus)"
