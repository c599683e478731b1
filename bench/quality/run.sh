#!/usr/bin/env bash
# Benchmark of `dte quality` on a checkout without configured commands (the target: ≤ 1 s),
# against `git rev-parse HEAD` on the same checkout (process start plus one git call: the floor
# of any git-aware check), in one hyperfine run.
#
#   bench/quality/run.sh          # results in bench/out/quality/
#   SCRATCH=.build-static bench/quality/run.sh   # the static release build of bench/agent/run.sh
#
# The checkout is a clone of this repository (its own LICENSE, README, … and no quality:
# section in its dte.yaml). Needs: hyperfine, git.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
if ! command -v swift >/dev/null && [[ -x /opt/swift/usr/bin/swift ]]; then export PATH=$PATH:/opt/swift/usr/bin; fi
OUT=bench/out/quality
rm -rf "$OUT"
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)

CONFIG=${CONFIG:-release}
SCRATCH=${SCRATCH:-.build}
STATIC=()
[[ $SCRATCH == .build ]] || STATIC=(--static-swift-stdlib)
swift build -c "$CONFIG" "${STATIC[@]}" --scratch-path "$SCRATCH" --product dte >/dev/null
DTE=$(swift build -c "$CONFIG" "${STATIC[@]}" --scratch-path "$SCRATCH" --show-bin-path)/dte

git clone --quiet --no-hardlinks "$ROOT" "$OUT/checkout"
# No configured commands: drop a quality: section if the repository has one.
python3 - "$OUT/checkout/dte.yaml" <<'PY'
import sys, re
p = sys.argv[1]
text = open(p).read()
open(p, "w").write(re.sub(r"(?ms)^quality:.*?(?=^\S|\Z)", "", text))
PY
"$DTE" quality -C "$OUT/checkout" . >/dev/null   # must assess, or the timing means nothing

echo "== machine"
echo "$(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg); dte built in $CONFIG"
echo "checkout: $(git -C "$OUT/checkout" ls-files | wc -l) files"

hyperfine --warmup 3 --runs 20 -N \
  --export-json "$OUT/quality.json" --export-markdown "$OUT/quality.md" \
  -n "git rev-parse HEAD (baseline)" "git -C $OUT/checkout rev-parse HEAD" \
  -n "dte quality . (in place)" "$DTE quality -C $OUT/checkout ." \
  -n "dte quality file:// (ls-remote + shallow clone)" "$DTE quality -C $OUT/checkout file://$OUT/checkout"

# The clone on its own: the floor of assessing a URL.
hyperfine --warmup 2 --runs 20 -N --prepare "rm -rf $OUT/clone" \
  --export-json "$OUT/clone.json" --export-markdown "$OUT/clone.md" \
  -n "git clone --depth 1 file:// (baseline)" "git clone --quiet --depth 1 --no-tags file://$OUT/checkout $OUT/clone" \
  -n "dte quality file://" "$DTE quality -C $OUT/checkout file://$OUT/checkout"
