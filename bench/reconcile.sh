#!/usr/bin/env bash
# Benchmark of a reconcile tick with nothing to apply (issue target: ≤ 200 ms, fetch excluded):
# `dte reconcile --once --local` on a copy of the example repository (this repository's
# dte.yaml, sites/, templates/, recipes/), sync mode manual, so the tick compiles, plans,
# runs the hooks and records itself, and applies nothing. Its sites are remote ones no agent
# answers for here; the state holds nothing of theirs, so no site is asked (no refresh). The
# quality gate is turned off in the copy: it asks the twins' public source repositories over
# the network (git ls-remote), which is not part of a tick's own cost (and unreachable here).
#
#   bench/reconcile.sh               # results in bench/out/reconcile.txt (and .json)
#   bench/reconcile.sh --runs 2      # extra arguments go to hyperfine
#   CONFIG=debug bench/reconcile.sh --runs 2   # a smoke run on the debug build (not a measurement)
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
if ! command -v swift >/dev/null && [[ -x /opt/swift/usr/bin/swift ]]; then export PATH=$PATH:/opt/swift/usr/bin; fi
OUT=bench/out
mkdir -p "$OUT"
CONFIG=${CONFIG:-release}
# SCRATCH=.build-static reuses the static release build of the agent benchmarks.
SCRATCH=${SCRATCH:-.build}
STATIC=()
[[ $SCRATCH == .build ]] || STATIC=(--static-swift-stdlib)
swift build -c "$CONFIG" "${STATIC[@]}" --scratch-path "$SCRATCH" --product dte >/dev/null
BIN=$(swift build -c "$CONFIG" "${STATIC[@]}" --scratch-path "$SCRATCH" --show-bin-path)
REPO=$(mktemp -d -t dte-bench-reconcile.XXXXXX)
trap 'rm -rf "$REPO"' EXIT
cp -r dte.yaml sites templates recipes "$REPO/"
# the same repository, its sync policy made explicit: plan only
python3 - "$REPO/dte.yaml" <<'PY'
import re, sys
p = sys.argv[1]
s = open(p).read()
s = re.sub(r"(?ms)^sync:.*?(?=^\S|\Z)", "", s) + "\nsync: { mode: manual, prune: false, self_heal: false }\n"
if not re.search(r"(?m)^hooks:", s):
    s += "hooks:\n  quality: { enabled: false }\n"
open(p, "w").write(s)
PY
STATE="$REPO/.dte/state.db"
# one tick first: the state file exists and its migrations ran, as on a loop that is already going
"$BIN/dte" reconcile --once --local -C "$REPO" --state "$STATE" >/dev/null 2>&1
hyperfine --warmup 2 --export-json "$OUT/reconcile.json" "$@" \
  -n "reconcile tick, nothing to apply (--local, manual)" \
  "$BIN/dte reconcile --once --local -C $REPO --state $STATE" | tee "$OUT/reconcile.txt"
