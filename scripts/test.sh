#!/usr/bin/env bash
# The project's one test command (CI runs it through .ci/run; the README points here):
#
#   scripts/test.sh [swift test arguments...]     e.g. scripts/test.sh --filter DTEModelTests
#
# 1. installs what the build and the tests need (scripts/install-deps.sh; ~1 s when present),
# 2. starts the real single-node Slurm dev cluster (scripts/dev-cluster.sh start; no-op when up),
# 3. swift build --build-tests,
# 4. swift test, with the arguments given here.
# The dev cluster is left running afterwards (stop it with scripts/dev-cluster.sh stop).
# Works from any directory; exits non-zero on the first failure.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

# Swift lives in /opt/swift on the project's machines; make sure it is found.
if ! command -v swift >/dev/null && [[ -x /opt/swift/usr/bin/swift ]]; then
  export PATH=$PATH:/opt/swift/usr/bin
fi

CURRENT=""
T_START=$SECONDS
T_SECTION=$SECONDS

section() {
  end_section
  CURRENT=$1
  T_SECTION=$SECONDS
  printf '\n==== %s ====\n' "$CURRENT"
}

end_section() {
  if [[ -n $CURRENT ]]; then
    printf -- '---- %s: ok (%d s)\n' "$CURRENT" $((SECONDS - T_SECTION))
  fi
}

on_exit() {
  local rc=$?
  if ((rc != 0)); then
    printf '\n==== FAILED: %s (exit %d, after %d s) ====\n' "${CURRENT:-setup}" "$rc" $((SECONDS - T_START)) >&2
  fi
}
trap on_exit EXIT

section "install dependencies (scripts/install-deps.sh)"
scripts/install-deps.sh

section "dev Slurm cluster (scripts/dev-cluster.sh start)"
scripts/dev-cluster.sh start
eval "$(scripts/dev-cluster.sh env)"
echo "SLURM_CONF=$SLURM_CONF"

section "swift build --build-tests"
swift --version 2>&1 | head -n 1
swift build --build-tests

section "swift test${*:+ $*}"
# Nothing is printed after a passing `swift test`: its summary stays the closing lines.
swift test "$@"
