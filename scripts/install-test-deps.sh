#!/usr/bin/env bash
# Everything `npm test` needs beyond npm packages, installed when missing: the etcd lines 3.5, 3.6,
# 3.7, MinIO (the real S3 server), kube-apiserver, and Debian's openssl, iproute2 (the partition tests'
# network namespaces), prometheus, chromium, buildah and debootstrap (the image test builds the
# container image with them).
#
# Quick and quiet when all is there. Otherwise it says first what is missing and roughly how long
# each takes, then runs the independent installs side by side (the Go builds each on their own,
# the apt installs one after another in one job, since apt takes one at a time), each into its
# own log file, and on a failure prints the end of the failing install's log.
# STEWARD_TEST_LINES=3.6,3.7 limits the etcd lines. `--plan` prints what is missing and exits.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
etcd_args=(${STEWARD_TEST_LINES:+${STEWARD_TEST_LINES//,/ }})

log() { printf 'install-test-deps: %s\n' "$*" >&2; }

# Debian packages whose command is missing: install_debian COMMAND:PACKAGE…
install_debian() {
  local missing=() pair
  for pair in "$@"; do command -v "${pair%%:*}" >/dev/null || missing+=("${pair#*:}"); done
  [[ ${#missing[@]} -gt 0 ]] || return 0
  if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
    [[ -n $(find /var/lib/apt/lists -maxdepth 1 -name '*Packages*' -print -quit 2>/dev/null) ]] || apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=900 install -y -qq "${missing[@]}" >/dev/null
  else
    echo "install-test-deps: please install: ${missing[*]}" >&2
    return 1
  fi
}
DEBIAN_TOOLS=(openssl:openssl ip:iproute2 buildah:buildah debootstrap:debootstrap)

# Each job: its name, then what it prints with --plan (empty when nothing is missing).
declare -A plan=()
plan[etcd]=$(bash "$here/install-etcd.sh" --plan "${etcd_args[@]}")
plan[minio]=$(bash "$here/install-minio.sh" --plan)
plan[kube-apiserver]=$(bash "$here/install-kube-apiserver.sh" --plan)
plan[bbolt]=$(bash "$here/install-bbolt.sh" --plan) # bbolt's CLI checks the bbolt writer's files
plan[packages]=$(
  for pair in "${DEBIAN_TOOLS[@]}"; do
    command -v "${pair%%:*}" >/dev/null || echo "installing Debian's ${pair#*:} package (seconds to a minute)"
  done
  bash "$here/install-prometheus.sh" --plan
  bash "$here/install-chromium.sh" --plan
)

run_job() { # name
  case $1 in
    etcd) bash "$here/install-etcd.sh" "${etcd_args[@]}" ;;
    minio) bash "$here/install-minio.sh" ;;
    kube-apiserver) bash "$here/install-kube-apiserver.sh" ;;
    bbolt) bash "$here/install-bbolt.sh" ;;
    packages) install_debian "${DEBIAN_TOOLS[@]}" && bash "$here/install-prometheus.sh" && bash "$here/install-chromium.sh" ;;
  esac
}

missing=()
for name in etcd minio kube-apiserver bbolt packages; do [[ -z ${plan[$name]} ]] || missing+=("$name"); done
[[ ${#missing[@]} -gt 0 ]] || exit 0
if [[ ${1:-} == --plan ]]; then
  for name in "${missing[@]}"; do printf '%s\n' "${plan[$name]}"; done
  exit 0
fi

logs=$(mktemp -d "${TMPDIR:-/tmp}/etcd-steward-deps.XXXXXX")
log "first run: installing what the tests need, side by side (logs in $logs/):"
for name in "${missing[@]}"; do
  while IFS= read -r line; do log "  - $line"; done <<<"${plan[$name]}"
done
[[ -z ${plan[kube-apiserver]} ]] || log "  kube-apiserver sets the pace; the others finish while it builds"

start=$(date +%s)
declare -A job_of=()
for name in "${missing[@]}"; do
  run_job "$name" >"$logs/$name.log" 2>&1 &
  job_of[$!]=$name
done

failed=()
while [[ ${#job_of[@]} -gt 0 ]]; do
  pid=
  if wait -n -p pid "${!job_of[@]}"; then status=0; else status=$?; fi
  [[ -n $pid ]] || break
  name=${job_of[$pid]}
  unset "job_of[$pid]"
  elapsed=$(( $(date +%s) - start ))
  if [[ $status -eq 0 ]]; then
    log "$name: done after $((elapsed / 60))m$((elapsed % 60))s"
  else
    log "$name: FAILED (exit $status) after $((elapsed / 60))m$((elapsed % 60))s; the end of $logs/$name.log:"
    tail -n 25 "$logs/$name.log" | sed "s/^/  $name| /" >&2
    failed+=("$name")
  fi
done

if [[ ${#failed[@]} -gt 0 ]]; then
  log "failed: ${failed[*]} (full logs in $logs/); fix the cause and run again: the finished installs are kept"
  exit 1
fi
rm -rf "$logs"
log "all installed"
