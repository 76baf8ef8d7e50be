#!/usr/bin/env bash
# Installs real etcd binaries (etcd, etcdctl, etcdutl) of the supported release lines into the
# tool's cache: $ETCD_STEWARD_CACHE (default ${XDG_CACHE_HOME:-$HOME/.cache}/etcd-steward)/etcd/vX.Y.Z/.
#
#   scripts/install-etcd.sh            all supported lines (3.5 3.6 3.7)
#   scripts/install-etcd.sh 3.6 3.7    only these lines
#
# 3.6 and 3.7 are built with Go from the Go module proxy (wrapper module in tools/etcd);
# 3.5 is taken from Debian 13's etcd-server/etcd-client packages (extracted, not installed).
# Idempotent: a version already installed is left alone, so a second run takes a second.
set -euo pipefail

# The release of each line we install; bump here (the code finds any vX.Y.* in the cache).
declare -A GO_VERSION=([3.6]=v3.6.16 [3.7]=v3.7.3)

here=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=lib/version.sh
source "$here/scripts/lib/version.sh"
cache=${ETCD_STEWARD_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/etcd-steward}
mkdir -p "$cache/etcd"

log() { printf 'install-etcd: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

installed() { # dir -> true when all three binaries are there and the install finished
  [[ -f "$1/.complete" && -x "$1/etcd" && -x "$1/etcdctl" && -x "$1/etcdutl" ]]
}

build_with_go() { # line
  local line=$1 version=${GO_VERSION[$1]} dest="$cache/etcd/${GO_VERSION[$1]}"
  if installed "$dest"; then log "etcd $version already in $dest"; return; fi
  command -v go >/dev/null || die "etcd $line is built with Go, and 'go' is not on PATH: install Go ≥ 1.24 (https://go.dev/dl) and run again"
  local work; work=$(mktemp -d)
  trap 'rm -rf "$work"' RETURN
  cp -r "$here/tools/etcd/." "$work/"
  sed -i -E "s#^(\s*go\.etcd\.io/etcd/[a-z]+/v3) v[^ ]+#\1 ${version}#" "$work/go.mod"
  log "building etcd $version with $(go version | cut -d' ' -f3) (first time: a few minutes)"
  ( cd "$work" && GOFLAGS=-mod=mod go mod tidy >/dev/null 2>&1 || (cd "$work" && GOFLAGS=-mod=mod go mod tidy) )
  mkdir -p "$work/out"
  for cmd in etcd etcdctl etcdutl; do
    ( cd "$work" && CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o "out/$cmd" "./$cmd" )
  done
  reports_version "$work/out/etcd" "etcd Version: ${version#v}" ||
    die "built etcd does not report version $version: $(version_line "$work/out/etcd")"
  touch "$work/out/.complete"
  rm -rf "$dest.tmp" && mv "$work/out" "$dest.tmp" && rm -rf "$dest" && mv "$dest.tmp" "$dest"
  log "installed etcd $version in $dest"
}

debian_mirror() { # prints the Debian mirror this machine's apt uses (never hard-coded)
  local f m
  for f in /etc/apt/sources.list.d/debian.sources /etc/apt/sources.list.d/*.sources; do
    [[ -f $f ]] || continue
    m=$(awk '/^URIs:/ {for (i = 2; i <= NF; i++) if ($i !~ /security/) {print $i; exit}}' "$f")
    [[ -n $m ]] && { echo "$m"; return; }
  done
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [[ -f $f ]] || continue
    m=$(awk '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i ~ /^https?:/ && $i !~ /security/) {print $i; exit} }' "$f")
    [[ -n $m ]] && { echo "$m"; return; }
  done
  return 1
}

install_from_debian() {
  local existing
  existing=$(ls -d "$cache"/etcd/v3.5.* 2>/dev/null | sort -V | tail -1 || true)
  if [[ -n $existing ]] && installed "$existing"; then log "etcd 3.5 already in $existing"; return; fi
  command -v apt-get >/dev/null || die "etcd 3.5 comes from Debian's packages and apt-get is missing; put etcd 3.5 on PATH or set ETCD_BIN"
  local work; work=$(mktemp -d)
  trap 'rm -rf "$work"' RETURN
  local codename; codename=$(. /etc/os-release; echo "${VERSION_CODENAME:-}")
  local -a apt=(apt-get -q -o APT::Sandbox::User=root)
  if [[ $codename != trixie ]]; then
    # Debian 12 and others: a private package list for trixie, leaving the system's apt alone.
    local mirror; mirror=$(debian_mirror) || die "cannot find a Debian mirror in /etc/apt; set ETCD_BIN to an etcd 3.5 binary"
    local state="$cache/apt-trixie"
    mkdir -p "$state/lists/partial" "$state/cache/archives/partial"
    echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror trixie main" > "$state/sources.list"
    apt+=(-o "Dir::Etc::sourcelist=$state/sources.list" -o Dir::Etc::sourceparts=- \
          -o "Dir::State::Lists=$state/lists" -o "Dir::Cache=$state/cache")
    log "fetching the trixie package list into $state"
    "${apt[@]}" update >/dev/null || die "apt-get update for trixie failed (see above)"
  fi
  ( cd "$work" && "${apt[@]}" download etcd-server etcd-client >/dev/null ) || die "apt-get download etcd-server etcd-client failed"
  local deb version
  for deb in "$work"/*.deb; do dpkg-deb -x "$deb" "$work/root"; done
  version=$(version_line "$work/root/usr/bin/etcd") && version=${version#etcd Version: }
  [[ $version == 3.5.* ]] || die "Debian's etcd-server reports version '$version', expected 3.5.x"
  local dest="$cache/etcd/v$version"
  mkdir -p "$work/out"
  for cmd in etcd etcdctl etcdutl; do cp "$work/root/usr/bin/$cmd" "$work/out/$cmd"; done
  touch "$work/out/.complete"
  rm -rf "$dest" && mv "$work/out" "$dest"
  log "installed etcd v$version (Debian) in $dest"
}

lines=("$@")
[[ ${#lines[@]} -gt 0 ]] || lines=(3.5 3.6 3.7)
for line in "${lines[@]}"; do
  case $line in
    3.5) install_from_debian ;;
    3.6|3.7) build_with_go "$line" ;;
    3.4|3.3|3.2) die "etcd $line is out of support; etcd-steward supports 3.5, 3.6 and 3.7" ;;
    *) die "unknown etcd line '$line'; supported: 3.5 3.6 3.7" ;;
  esac
done
