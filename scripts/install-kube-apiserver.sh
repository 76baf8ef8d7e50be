#!/usr/bin/env bash
# Builds kube-apiserver (for the tests that talk to a real Kubernetes API server) into the tool's
# cache: $ETCD_STEWARD_CACHE (default ${XDG_CACHE_HOME:-$HOME/.cache}/etcd-steward)/kube-apiserver/vX.Y.Z/.
#
#   scripts/install-kube-apiserver.sh            the pinned version below
#   scripts/install-kube-apiserver.sh v1.36.3    another k8s.io/kubernetes release the proxy serves
#   scripts/install-kube-apiserver.sh --plan     print what would be built and roughly how long
#
# Built with Go from the Go module proxy (wrapper module in tools/kube-apiserver): a copy of the
# wrapper gets k8s.io/kubernetes at the version and every staging module (k8s.io/api, …) at the
# matching v0.Y.Z, read from that release's own go.mod. Idempotent: a version already installed is
# left alone. The build runs under `nice`; a first build takes several minutes.
set -euo pipefail

plan=
[[ ${1:-} == --plan ]] && { plan=1; shift; }
version=${1:-v1.36.3}
[[ $version =~ ^v1\.([0-9]+)\.([0-9]+)$ ]] || { echo "install-kube-apiserver: error: version '$version' is not v1.Y.Z (e.g. v1.36.3)" >&2; exit 1; }
staging="v0.${BASH_REMATCH[1]}.${BASH_REMATCH[2]}"

here=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=lib/version.sh
source "$here/scripts/lib/version.sh"
cache=${ETCD_STEWARD_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/etcd-steward}
dest="$cache/kube-apiserver/$version"

log() { printf 'install-kube-apiserver: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

if [[ -f "$dest/.complete" && -x "$dest/kube-apiserver" ]]; then
  [[ -n $plan ]] || log "kube-apiserver $version already in $dest"
  exit 0
fi
if [[ -n $plan ]]; then
  # Measured: 20–25 min on 2 cores with other builds running beside it.
  echo "building kube-apiserver $version (first time ~15–25 min on 2 cores)"
  exit 0
fi
command -v go >/dev/null || die "kube-apiserver is built with Go, and 'go' is not on PATH: install Go ≥ 1.26 (https://go.dev/dl) and run again"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp -r "$here/tools/kube-apiserver/." "$work/"
cd "$work"

# The staging modules of this release, from its own go.mod (`k8s.io/x => ./staging/src/k8s.io/x`).
gomod=$(GOFLAGS=-mod=mod go mod download -json "k8s.io/kubernetes@$version" | sed -n 's/^\s*"GoMod": "\(.*\)",\?$/\1/p')
[[ -f $gomod ]] || die "the Go module proxy did not serve k8s.io/kubernetes@$version"
{
  sed '/^replace (/,$d' go.mod | sed -E "s#^require k8s.io/kubernetes v[^ ]+#require k8s.io/kubernetes $version#"
  echo "replace ("
  grep -E '^\s*k8s\.io/[^ ]+ => \./staging/' "$gomod" | awk -v v="$staging" '{printf "\t%s => %s %s\n", $1, $1, v}'
  echo ")"
} > go.mod.new && mv go.mod.new go.mod

log "building kube-apiserver $version with $(go version | cut -d' ' -f3) (first time: several minutes)"
start=$(date +%s)
GOFLAGS=-mod=mod nice go mod tidy >/dev/null 2>&1 || GOFLAGS=-mod=mod nice go mod tidy
mkdir -p out
CGO_ENABLED=0 nice go build -trimpath -ldflags="-s -w -X k8s.io/component-base/version.gitVersion=$version -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=${BASH_REMATCH[1]}" -o out/kube-apiserver .
reports_version out/kube-apiserver "$version" || die "built kube-apiserver does not report version $version ($(version_line out/kube-apiserver))"
touch out/.complete
mkdir -p "$cache/kube-apiserver"
rm -rf "$dest.tmp" && mv out "$dest.tmp" && rm -rf "$dest" && mv "$dest.tmp" "$dest"
log "installed kube-apiserver $version in $dest ($(( $(date +%s) - start ))s)"
