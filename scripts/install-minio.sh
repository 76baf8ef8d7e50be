#!/usr/bin/env bash
# Installs MinIO, a real S3-compatible server, for the tests (never shipped with etcd-steward):
# built with Go from the Go module proxy into
# $ETCD_STEWARD_CACHE (default ${XDG_CACHE_HOME:-$HOME/.cache}/etcd-steward)/minio/VERSION/minio.
# Idempotent; the first build takes a few minutes. `--plan` prints what would be built and roughly how
# long, and nothing when MinIO is there.
set -euo pipefail

# A pseudo-version of github.com/minio/minio (MinIO's release tags are not semver).
VERSION=v0.0.0-20260212201848-7aac2a2c5b7c

cache=${ETCD_STEWARD_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/etcd-steward}
dest="$cache/minio/$VERSION"
log() { printf 'install-minio: %s\n' "$*" >&2; }

if [[ -x $dest/minio && -f $dest/.complete ]]; then
  [[ ${1:-} == --plan ]] || log "MinIO already in $dest"
  exit 0
fi
if [[ ${1:-} == --plan ]]; then
  echo "building MinIO (first time ~3 min on 2 cores, more under load)"
  exit 0
fi
command -v go >/dev/null || { log "error: MinIO is built with Go, and 'go' is not on PATH"; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
start=$(date +%s)
log "building MinIO $VERSION with $(go version | cut -d' ' -f3) (first time: a few minutes)"
GOBIN="$work/bin" CGO_ENABLED=0 GOFLAGS=-mod=mod go install -trimpath -ldflags='-s -w' "github.com/minio/minio@$VERSION"
touch "$work/bin/.complete"
mkdir -p "$(dirname "$dest")"
rm -rf "$dest.tmp" && mv "$work/bin" "$dest.tmp" && rm -rf "$dest" && mv "$dest.tmp" "$dest"
log "installed MinIO in $dest ($(( $(date +%s) - start ))s)"
