#!/usr/bin/env bash
# Debian's Chromium for the dashboard's browser tests (driven by playwright-core, which downloads
# no browser of its own). Idempotent: quick when /usr/bin/chromium is there. `--plan` prints what
# would be installed, and nothing when Chromium is there.
set -euo pipefail

if [[ -x /usr/bin/chromium ]]; then
  exit 0
fi
if [[ ${1:-} == --plan ]]; then
  echo "installing Debian's chromium package (~1–2 min)"
  exit 0
fi
if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
  [[ -n $(find /var/lib/apt/lists -maxdepth 1 -name '*Packages*' -print -quit 2>/dev/null) ]] || apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
else
  echo "install-chromium: please install Debian's chromium package (apt-get install chromium)" >&2
  exit 1
fi
