#!/usr/bin/env bash
# Benchmark of a reconcile tick with nothing to apply (issue target: ≤ 200 ms, fetch excluded),
# and of the same tick watching a folder of 10,000 files (≤ 50 ms more):
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
REPO2=""
WATCHED=""
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
# The same repository with a data trigger on a folder of 10,000 files already seen (issue
# target: ≤ 50 ms per tick): each tick lists the folder and compares it with the seen files the
# state recorded (a new process each time, so it reads them from the state too). The difference
# of the two medians is what the watched folder costs a tick.
WATCHED=$(mktemp -d -t dte-bench-watched.XXXXXX)
trap 'rm -rf "$REPO" "$REPO2" "$WATCHED"' EXIT
REPO2=$(mktemp -d -t dte-bench-reconcile-trigger.XXXXXX)
cp -r "$REPO"/. "$REPO2/"
python3 - "$REPO2/templates/demo.yaml" "$WATCHED" <<'PY'
import sys
p, folder = sys.argv[1], sys.argv[2]
s = open(p).read()
policy = (f"    - demo-new-data:\n        type: dte.policies.Trigger\n"
          f"        properties: {{ location: \"{folder}\", pattern: \"*.nc\", debounce: 10 s }}\n        targets: [ hello ]\n")
s = s.replace("  policies:\n", "  policies:\n" + policy, 1)
open(p, "w").write(s)
for i in range(10000):
    open(f"{folder}/sample-{i:05d}.nc", "w").close()
PY
STATE2="$REPO2/.dte/state.db"
# one tick first: the state file exists and its migrations ran, as on a loop that is already
# going (with the trigger: the 10,000 files are recorded as seen)
"$BIN/dte" reconcile --once --local -C "$REPO" --state "$STATE" >/dev/null 2>&1
"$BIN/dte" reconcile --once --local -C "$REPO2" --state "$STATE2" >/dev/null 2>&1
hyperfine --warmup 2 --export-json "$OUT/reconcile.json" "$@" \
  -n "reconcile tick, nothing to apply (--local, manual)" \
  "$BIN/dte reconcile --once --local -C $REPO --state $STATE" \
  -n "the same with a trigger on a folder of 10,000 seen files" \
  "$BIN/dte reconcile --once --local -C $REPO2 --state $STATE2" | tee "$OUT/reconcile.txt"
