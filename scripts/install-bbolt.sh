#!/usr/bin/env bash
# Installs bbolt's own CLI (`bbolt check`, `keys`, `get`), a test companion for the bbolt writer
# (src/snapshot/bbolt-writer.ts; never shipped with etcd-steward): built with Go from the Go module
# proxy into $ETCD_STEWARD_CACHE (default ${XDG_CACHE_HOME:-$HOME/.cache}/etcd-steward)/bbolt/VERSION/bbolt.
# Idempotent; the build takes under a minute. `--plan` prints what would be built, nothing when it is there.
set -euo pipefail

# Keep in step with BBOLT_VERSION in src/testing/bbolt-cli.ts.
VERSION=v1.4.3

cache=${ETCD_STEWARD_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/etcd-steward}
dest="$cache/bbolt/$VERSION"
log() { printf 'install-bbolt: %s\n' "$*" >&2; }

if [[ -x $dest/bbolt ]]; then
  [[ ${1:-} == --plan ]] || log "bbolt already in $dest"
  exit 0
fi
if [[ ${1:-} == --plan ]]; then
  echo "building bbolt's CLI $VERSION (under a minute)"
  exit 0
fi
command -v go >/dev/null || { log "error: bbolt is built with Go, and 'go' is not on PATH"; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
GOBIN="$work/bin" CGO_ENABLED=0 GOFLAGS=-mod=mod go install -trimpath -ldflags='-s -w' "go.etcd.io/bbolt/cmd/bbolt@$VERSION"
mkdir -p "$(dirname "$dest")"
rm -rf "$dest.tmp" && mv "$work/bin" "$dest.tmp" && rm -rf "$dest" && mv "$dest.tmp" "$dest"
log "installed bbolt in $dest"
