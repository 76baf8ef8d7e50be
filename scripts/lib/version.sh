# Sourced by the install scripts: asking a program for its version without racing it.
#
# `prog --version | head -1 | grep -q X` under `set -o pipefail` is a race: head (or grep -q)
# exits after the first line (match), the program is still writing, dies of SIGPIPE, and the
# pipeline fails although the version was right. So the output is read whole into a variable
# first and matched afterwards; no pipe is involved. src/scripts/version-check.test.ts runs these
# against a stand-in that writes many lines fast.

# version_output PROGRAM [ARG…] — prints everything `PROGRAM ARG… --version` writes (stdout and
# stderr); fails when the program fails.
version_output() {
  local out
  out=$("$@" --version 2>&1) || return 1
  printf '%s\n' "$out"
}

# version_line PROGRAM [ARG…] — the first line `PROGRAM --version` prints (for log messages);
# prints "unknown version" when the program fails.
version_line() {
  local out
  out=$(version_output "$@") || out="unknown version"
  printf '%s\n' "${out%%$'\n'*}"
}

# reports_version PROGRAM TEXT — true when `PROGRAM --version` succeeds and its output contains
# TEXT (e.g. "etcd Version: 3.6.16").
reports_version() {
  local out
  out=$(version_output "$1") || return 1
  [[ $out == *"$2"* ]]
}
