#!/usr/bin/env bash
# Builds the etcd-steward image (the repo's Dockerfile) with buildah on a machine that cannot pull
# from a registry: the base is Debian made with debootstrap from the machine's apt mirror, etcd is
# what scripts/install-etcd.sh built, Node is this machine's `node` (Debian's own nodejs package is
# older than 20), the package is this checkout's build.
#
#   scripts/build-image.sh [LINE]        LINE: the etcd line inside (3.5 | 3.6 | 3.7; default 3.6)
#   scripts/build-image.sh --skip-npm-build 3.6   use the dist/ already built (the image test does)
#
# Tags localhost/etcd-steward:<package version>-etcd<line> (and …-etcd<x.y.z>), prints that name
# on stdout as the last line, its size and the build time on stderr. Push it to your registry with
#   buildah push --storage-driver vfs localhost/etcd-steward:0.1.0-etcd3.6 docker://REGISTRY/etcd-steward:0.1.0-etcd3.6
# First run: installs buildah and debootstrap with apt when missing (root), makes the Debian base
# (~1–2 min, cached as a tar under the tool's cache dir), builds etcd when missing. Later runs take
# well under a minute. STORAGE_DRIVER (default vfs) and DEBIAN_MIRROR override what is detected.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
cache=${ETCD_STEWARD_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/etcd-steward}
suite=bookworm
base_image=localhost/etcd-steward-base:$suite
storage=${STORAGE_DRIVER:-vfs}

log() { printf 'build-image: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }
bah() { buildah --storage-driver "$storage" "$@"; }

npm_build=1
line=3.6
for arg in "$@"; do
  case $arg in
    --skip-npm-build) npm_build= ;;
    -h | --help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) die "unknown option $arg (see --help)" ;;
    *) line=$arg ;;
  esac
done
start=$(date +%s)

# 1. Tools: buildah and debootstrap from Debian.
missing=()
command -v buildah >/dev/null || missing+=(buildah)
command -v debootstrap >/dev/null || missing+=(debootstrap)
if [[ ${#missing[@]} -gt 0 ]]; then
  [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null ||
    die "please install: ${missing[*]} (Debian/Ubuntu: apt-get install ${missing[*]})"
  log "installing ${missing[*]} with apt (a minute)"
  [[ -n $(find /var/lib/apt/lists -maxdepth 1 -name '*Packages*' -print -quit 2>/dev/null) ]] || apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=900 install -y -qq "${missing[@]}" >/dev/null
fi

# 2. The etcd binaries of the line (built once by the install script).
version=$(bash "$here/scripts/install-etcd.sh" --version-of "$line")
line=$(cut -d. -f1,2 <<<"${version#v}")
bash "$here/scripts/install-etcd.sh" "$version"
etcd_dir=$cache/etcd/$version

# 3. Node 20+ from this machine (a single binary linked against glibc and libstdc++, both in the base).
node_bin=$(command -v node) || die "node is not on PATH: install Node 20 or newer"
node_bin=$(readlink -f "$node_bin")
node_major=$("$node_bin" -p 'process.versions.node.split(".")[0]')
[[ $node_major -ge 20 ]] || die "$node_bin is Node $node_major; the image needs Node 20 or newer"

# 4. The package, built.
cd "$here"
if [[ -n $npm_build ]]; then
  if [[ ! -d node_modules ]]; then
    log "npm ci (first build of this clone; its prepare step runs npm run build)"
    npm ci --no-audit --no-fund >&2
  else
    log "npm run build"
    npm run build >&2
  fi
fi
[[ -f dist/bundle/etcd-steward.mjs && -f dist/web/index.html ]] || die "dist/ is not built: run npm run build"
pkg_version=$(node -p 'require("./package.json").version')
revision=$(git -C "$here" rev-parse HEAD 2>/dev/null || echo unknown)

# 5. The Debian base: debootstrap --variant=minbase from the machine's mirror, trimmed like the
# official slim images (no docs, man pages, locales, apt lists), cached as a tar.
mirror() { # the Debian mirror of the machine's apt sources (deb822 or one-line format)
  local uri
  uri=$(awk -v suite="$suite" '
    /^URIs:/ { uris = $2 } /^Suites:/ { for (i = 2; i <= NF; i++) if ($i == suite) found = uris }
    /^$/ { uris = "" } END { print found }' /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
  [[ -n $uri ]] || uri=$(awk -v suite="$suite" '$1 == "deb" && $3 == suite { print $2; exit }' \
    /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null || true)
  echo "${uri:-http://deb.debian.org/debian}"
}
base_tar=$cache/image/debian-$suite-minbase.tar
if [[ ! -f $base_tar ]]; then
  [[ $(id -u) -eq 0 ]] || die "debootstrap needs root to make the Debian base; run once as root"
  url=${DEBIAN_MIRROR:-$(mirror)}
  log "making the Debian $suite base with debootstrap from $url (1–2 min, once)"
  rootfs=$(mktemp -d "${TMPDIR:-/tmp}/etcd-steward-rootfs.XXXXXX")
  trap 'rm -rf "$rootfs"' EXIT
  debootstrap --variant=minbase "$suite" "$rootfs" "$url" >"$rootfs.log" 2>&1 ||
    { tail -n 20 "$rootfs.log" >&2; die "debootstrap failed (log above)"; }
  rm -f "$rootfs.log"
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/lib/apt/lists/* \
    "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/* "$rootfs"/usr/share/locale/*
  mkdir -p "$cache/image"
  tar -C "$rootfs" -cf "$base_tar.tmp" . && mv "$base_tar.tmp" "$base_tar"
  rm -rf "$rootfs"
  trap - EXIT
fi
# The base image in buildah's storage, (re)imported when the cached tar is newer.
base_stamp=$(stat -c %Y "$base_tar")
if [[ $(bah inspect --type image --format '{{index .ImageAnnotations "io.etcd-steward.base-stamp"}}' "$base_image" 2>/dev/null || true) != "$base_stamp" ]]; then
  log "importing the base into buildah ($storage storage) as $base_image"
  old_base=$(bah images --quiet --no-trunc "$base_image" 2>/dev/null || true)
  ctr=$(bah from scratch)
  bah add "$ctr" "$base_tar" / >/dev/null
  bah config --annotation "io.etcd-steward.base-stamp=$base_stamp" --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "$ctr"
  bah commit -q --rm "$ctr" "$base_image" >/dev/null
  [[ -z $old_base ]] || bah rmi "$old_base" >/dev/null 2>&1 || true # the one it replaces, unless in use
fi

# 6. The build context: only what the Dockerfile's context stages copy.
context=$(mktemp -d "${TMPDIR:-/tmp}/etcd-steward-image.XXXXXX")
trap 'rm -rf "$context"' EXIT
mkdir -p "$context/local/app/dist" "$context/local/etcd"
cp -r bin proto package.json "$context/local/app/"
cp -r dist/bundle dist/web "$context/local/app/dist/"
cp "$etcd_dir/etcd" "$etcd_dir/etcdctl" "$etcd_dir/etcdutl" "$context/local/etcd/"
cp "$node_bin" "$context/local/node"

name=localhost/etcd-steward:$pkg_version-etcd$line
dangling() { bah images --quiet --no-trunc --filter dangling=true | sort; }
dangling_before=$(dangling)
log "building $name (etcd ${version#v}, Node $("$node_bin" --version), $storage storage, chroot isolation)"
bah bud --isolation chroot --quiet -f "$here/Dockerfile" \
  --build-arg BASE_IMAGE="$base_image" \
  --build-arg APP_FROM=context --build-arg ETCD_FROM=context --build-arg NODE_FROM=context \
  --build-arg ETCD_VERSION="${version#v}" --build-arg TARGETARCH="$(dpkg --print-architecture 2>/dev/null || echo amd64)" \
  --build-arg VERSION="$pkg_version" --build-arg REVISION="$revision" \
  -t "$name" -t "localhost/etcd-steward:$pkg_version-etcd${version#v}" \
  "$context" >&2
# The build's own leftovers: its stages' images and the image the tag pointed at before.
# (buildah keeps a working container on each stage it copied from: those go first.)
for id in $(comm -13 <(echo "$dangling_before") <(dangling)); do
  bah containers --all --notruncate --format '{{.ContainerID}} {{.ImageID}}' |
    awk -v id="${id#sha256:}" '$2 == id { print $1 }' | xargs -r buildah --storage-driver "$storage" rm >/dev/null || true
  bah rmi "$id" >/dev/null || log "warning: could not remove the build's intermediate image $id"
done
size=$(bah images --format '{{.Size}}' "$name")
size=${size%%$'\n'*}
log "built $name ($size) in $(( $(date +%s) - start ))s"
echo "$name"
