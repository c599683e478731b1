#!/usr/bin/env bash
# Fuzzes what dte-agent does with bytes it does not control (request bodies → job scripts,
# status and log files a job writes, the config file, bearer tokens, quantities):
#
#   scripts/fuzz.sh [SECONDS]        default 300
#
# Builds `agent-fuzz` with libFuzzer (-sanitize=fuzzer; a debug build: quicker to build, every
# overflow and bounds check in place) in .build-fuzz, then runs it for SECONDS
# over the committed seed corpus Fuzz/corpus (new interesting inputs are kept in
# .build-fuzz/corpus, not committed). A crash is saved as Fuzz/crashes/crash-<sha1> and makes the
# script fail; once fixed, move the file to Fuzz/regressions/ so the tests replay it
# (Tests/EdgeAgentTests/FuzzRegressionTests.swift runs every file of both folders).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
if ! command -v swift >/dev/null && [[ -x /opt/swift/usr/bin/swift ]]; then
  export PATH=$PATH:/opt/swift/usr/bin
fi
SECONDS_TO_RUN=${1:-300}
[[ $SECONDS_TO_RUN =~ ^[0-9]+$ && $SECONDS_TO_RUN -gt 0 ]] || { echo "usage: scripts/fuzz.sh [SECONDS > 0]" >&2; exit 64; }

swift build -c debug --scratch-path .build-fuzz --product agent-fuzz \
  -Xswiftc -sanitize=fuzzer -Xswiftc -parse-as-library -Xswiftc -DFUZZING -Xswiftc -use-ld=lld
BIN=$(swift build -c debug --scratch-path .build-fuzz --show-bin-path)/agent-fuzz

mkdir -p .build-fuzz/corpus Fuzz/crashes
# Inputs over 64 KiB add nothing the bounds checks do not already cover; 10 s per input at most.
"$BIN" .build-fuzz/corpus Fuzz/corpus Fuzz/regressions \
  -max_total_time="$SECONDS_TO_RUN" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
  -artifact_prefix=Fuzz/crashes/ -print_final_stats=1
