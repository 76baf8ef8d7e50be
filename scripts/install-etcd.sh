#!/usr/bin/env bash
# Installs real etcd binaries (etcd, etcdctl, etcdutl) into the tool's cache:
# $ETCD_STEWARD_CACHE (default ${XDG_CACHE_HOME:-$HOME/.cache}/etcd-steward)/etcd/vX.Y.Z/.
#
#   scripts/install-etcd.sh                 the default release of every supported line (3.5 3.6 3.7)
#   scripts/install-etcd.sh 3.6 3.7         the default release of these lines
#   scripts/install-etcd.sh 3.5.16          one exact release (any the Go module proxy serves)
#   scripts/install-etcd.sh --plan [ARG…]   print what would be built and roughly how long; build nothing
#   scripts/install-etcd.sh --version-of 3.6  print the release a line (or version) resolves to: v3.6.16
#
# Every line is built with Go from the Go module proxy (wrapper module in tools/etcd; 3.5 with the
# build tag etcd3_5 for its own etcdutl main). Idempotent: a release already installed is left
# alone, so a second run takes a second.
set -euo pipefail

# The release of each line installed by default; bump here (the code runs the newest vX.Y.* in
# the cache, see src/runtime/etcd-binaries.ts).
declare -A DEFAULT_VERSION=([3.5]=v3.5.36 [3.6]=v3.6.16 [3.7]=v3.7.3)
SUPPORTED="3.5 3.6 3.7"

here=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=lib/version.sh
source "$here/scripts/lib/version.sh"
cache=${ETCD_STEWARD_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/etcd-steward}

log() { printf 'install-etcd: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

installed() { # dir -> true when all three binaries are there and the install finished
  [[ -f "$1/.complete" && -x "$1/etcd" && -x "$1/etcdctl" && -x "$1/etcdutl" ]]
}

version_of() { # LINE or VERSION -> vX.Y.Z (dies on a line out of support)
  local arg=${1#v} line
  [[ $arg =~ ^([0-9]+\.[0-9]+)(\.[0-9]+)?$ ]] || die "'$1' is neither a release line (3.6) nor a version (3.5.16)"
  line=${BASH_REMATCH[1]}
  case " $SUPPORTED " in
    *" $line "*) ;;
    *) case $line in
         3.[0-4]) die "etcd $line is out of support; etcd-steward supports ${SUPPORTED// /, }" ;;
         *) die "unknown etcd line '$line'; supported: ${SUPPORTED// /, }" ;;
       esac ;;
  esac
  if [[ -n ${BASH_REMATCH[2]} ]]; then echo "v$arg"; else echo "${DEFAULT_VERSION[$line]}"; fi
}

build_with_go() { # vX.Y.Z
  local version=$1 dest="$cache/etcd/$1" tags=
  if installed "$dest"; then log "etcd $version already in $dest"; return; fi
  command -v go >/dev/null || die "etcd is built with Go, and 'go' is not on PATH: install Go ≥ 1.24 (https://go.dev/dl) and run again"
  [[ $version == v3.5.* ]] && tags=etcd3_5
  local work start; work=$(mktemp -d); start=$(date +%s)
  trap 'rm -rf "$work"' RETURN
  cp -r "$here/tools/etcd/." "$work/"
  sed -i -E "s#^(\s*go\.etcd\.io/etcd/[a-z]+/v3) v[^ ]+#\1 ${version}#" "$work/go.mod"
  log "building etcd $version with $(go version | cut -d' ' -f3) (first time: a few minutes)"
  ( cd "$work" && GOFLAGS=-mod=mod go mod tidy >/dev/null 2>&1 || (cd "$work" && GOFLAGS=-mod=mod go mod tidy) ) ||
    die "the Go module proxy did not serve etcd $version (see above)"
  # Early 3.5 patches' etcdutl package has no `check` command (tools/etcd/etcdutl/nocheck_3_5.go).
  if [[ -n $tags ]]; then
    local pkg; pkg=$(cd "$work" && GOFLAGS=-mod=mod go list -m -f '{{.Dir}}' go.etcd.io/etcd/etcdutl/v3)
    [[ -f $pkg/etcdutl/check_command.go ]] || tags+=,etcdutl_nocheck
  fi
  mkdir -p "$work/out"
  for cmd in etcd etcdctl etcdutl; do
    ( cd "$work" && CGO_ENABLED=0 go build -tags="$tags" -trimpath -ldflags='-s -w' -o "out/$cmd" "./$cmd" )
  done
  reports_version "$work/out/etcd" "etcd Version: ${version#v}" ||
    die "built etcd does not report version $version: $(version_line "$work/out/etcd")"
  touch "$work/out/.complete"
  mkdir -p "$cache/etcd"
  rm -rf "$dest.tmp" && mv "$work/out" "$dest.tmp" && rm -rf "$dest" && mv "$dest.tmp" "$dest"
  log "installed etcd $version in $dest ($(( $(date +%s) - start ))s)"
}

if [[ ${1:-} == --version-of ]]; then version_of "${2:?--version-of needs a line, e.g. 3.6}"; exit 0; fi
plan=
[[ ${1:-} == --plan ]] && { plan=1; shift; }
args=("$@")
[[ ${#args[@]} -gt 0 ]] || read -ra args <<<"$SUPPORTED"
versions=()
for arg in "${args[@]}"; do versions+=("$(version_of "$arg")"); done
for version in "${versions[@]}"; do
  if [[ -n $plan ]]; then
    # Measured on 2 cores: 3.6 + 3.7 in about 1.5 min together on an idle machine.
    installed "$cache/etcd/$version" || echo "building etcd $version (first time ~1–2 min on 2 cores, more under load)"
  else
    build_with_go "$version"
  fi
done
