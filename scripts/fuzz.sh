#!/usr/bin/env bash
# Fuzzes what DTE does with bytes it does not control, with libFuzzer:
#
#   scripts/fuzz.sh [agent|compiler] [SECONDS]        default: agent, 300
#
# agent:    dte-agent's request bodies → job scripts, status and log files a job writes, its config
#           file and interLink's SlurmConfig.yaml, bearer tokens, annotation values (quantities,
#           times, sbatch flags, runtime options, mounts, mpi-flags) (`agent-fuzz`; seeds Fuzz/corpus, fixed crashes
#           Fuzz/regressions, replayed by Tests/EdgeAgentTests/FuzzRegressionTests.swift).
# compiler: a TOSCA file through the YAML loader and the whole compiler, as `dte validate` reads a
#           pull request (`compiler-fuzz`; seeds Fuzz/compiler/corpus, fixed crashes
#           Fuzz/compiler/regressions, replayed by Tests/DTECompilerTests/FuzzRegressionTests.swift).
#
# Builds the target with -sanitize=fuzzer (a debug build: quicker to build, every overflow and
# bounds check in place) in .build-fuzz, then runs it for SECONDS over the committed seeds (new
# interesting inputs are kept in .build-fuzz/corpus-TARGET, not committed). A crash is saved in the
# target's crashes/ folder (Fuzz/crashes or Fuzz/compiler/crashes) as crash-<sha1> and makes the
# script fail; once fixed, move the file to the regressions/ folder beside it so the tests replay it.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
if ! command -v swift >/dev/null && [[ -x /opt/swift/usr/bin/swift ]]; then
  export PATH=$PATH:/opt/swift/usr/bin
fi
usage() { echo "usage: scripts/fuzz.sh [agent|compiler] [SECONDS > 0]" >&2; exit 64; }
TARGET=agent
if [[ ${1:-} == agent || ${1:-} == compiler ]]; then TARGET=$1; shift; fi
SECONDS_TO_RUN=${1:-300}
[[ $# -le 1 && $SECONDS_TO_RUN =~ ^[0-9]+$ && $SECONDS_TO_RUN -gt 0 ]] || usage
case $TARGET in
  agent) PRODUCT=agent-fuzz; FOLDER=Fuzz; CORPUS=.build-fuzz/corpus ;;
  compiler) PRODUCT=compiler-fuzz; FOLDER=Fuzz/compiler; CORPUS=.build-fuzz/corpus-compiler ;;
esac

swift build -c debug --scratch-path .build-fuzz --product "$PRODUCT" \
  -Xswiftc -sanitize=fuzzer -Xswiftc -parse-as-library -Xswiftc -DFUZZING -Xswiftc -use-ld=lld
BIN=$(swift build -c debug --scratch-path .build-fuzz --show-bin-path)/$PRODUCT

mkdir -p "$CORPUS" "$FOLDER/crashes" "$FOLDER/regressions"
# Inputs over 64 KiB add nothing the bounds checks do not already cover; 10 s per input at most.
"$BIN" "$CORPUS" "$FOLDER/corpus" "$FOLDER/regressions" \
  -max_total_time="$SECONDS_TO_RUN" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
  -artifact_prefix="$FOLDER/crashes/" -print_final_stats=1
