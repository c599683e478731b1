#!/usr/bin/env bash
# Usage and metrics benchmark of dte-agent on the development cluster (not a test):
#   1. usage of N finished jobs through one accounting query: `dte-agent usage` (the agent's
#      own collection code: one `sacct -j id,id,… --parsable2 --noheader`, parsed and checked),
#      ROUNDS times, median and largest; jobs are taken from accounting's finished ones (and, when it holds
#      fewer than N, that many `sbatch --wrap true` jobs are run first);
#   2. GET /metrics with BIG tracked pods (held jobs through POST /create), p50/p95 over
#      SCRAPES scrapes with curl.
# Writes bench/out/agent/usage.md. Jobs it creates are cancelled at the end.
# usage: bench/agent/usage.sh [N=1000] [BIG=10000]   (AGENT=path: measure that binary, no build)
set -euo pipefail
N=${1:-1000}
BIG=${2:-10000}
ROUNDS=${ROUNDS:-5}
SCRAPES=${SCRAPES:-200}
CONCURRENCY=${CONCURRENCY:-8}
PORT=${PORT:-4660}
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
eval "$(scripts/dev-cluster.sh env)"
out=bench/out/agent
mkdir -p "$out"
data=$(mktemp -d)
agent_pid=
cleanup() {
  [[ -n $agent_pid ]] && kill "$agent_pid" 2>/dev/null && wait "$agent_pid" 2>/dev/null
  scancel --name=dte-agent-usage-bench 2>/dev/null || true
  squeue -h -t pending,running -o '%i %j %k' 2>/dev/null \
    | awk '$2 ~ /^bench\.bench-[0-9]+$/ && $3 ~ /^dte-agent:/ {print $1}' | xargs -r -n 500 scancel 2>/dev/null || true
  rm -rf "$data"
}
trap cleanup EXIT

# The agent as a site installs it (release, static Swift runtime), unless AGENT names a binary.
agent=${AGENT:-}
if [[ -z $agent ]]; then
  echo "building dte-agent (release, static Swift runtime)…"
  scratch=${SCRATCH:-.build-static}
  swift build -c release --static-swift-stdlib --scratch-path "$scratch" --product dte-agent >/dev/null
  agent=$scratch/release/dte-agent
fi
cc -O2 -pthread -o "$out/loadgen" bench/agent/loadgen.c
loadgen=$out/loadgen
load() { awk '{print $1", "$2", "$3}' /proc/loadavg; }
echo "machine: $(nproc) cores, load average $(load)"

# 1. usage of N finished jobs in one query
finished() { sacct -X -n -P -a -S now-30days -E now -s CD,F,CA,TO,OOM -o JobID | grep -E '^[0-9]+$' | tail -n "$N"; }
if [[ $(finished | wc -l) -lt $N ]]; then
  echo "accounting holds fewer than $N finished jobs: running $N × sbatch --wrap true"
  for ((i = 0; i < N; i++)); do
    sbatch --parsable --job-name=dte-agent-usage-bench --mem=16M --output=/dev/null --wrap true >/dev/null
  done
  while squeue -h -n dte-agent-usage-bench | grep -q .; do sleep 2; done
  sleep 5
fi
finished > "$data/ids"
echo "usage of $(wc -l < "$data/ids") finished jobs, one sacct call, $ROUNDS rounds"
times=()
for ((r = 0; r < ROUNDS; r++)); do
  start=$(date +%s.%N)
  "$agent" usage < "$data/ids" > "$data/usage.json"
  end=$(date +%s.%N)
  times+=("$(echo "$end - $start" | bc -l)")
done
collected=$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))))' "$data/usage.json")
read -r usage_median usage_max < <(printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)], a[NR]}')
printf 'usage: %d of %d jobs in %.3f s (median), %.3f s (largest)\n' "$collected" "$N" "$usage_median" "$usage_max"

# 2. /metrics with BIG tracked pods
echo "GET /metrics with $BIG tracked pods"
"$agent" serve --listen "127.0.0.1:$PORT" --data-dir "$data/agent" --runtime none --hold-jobs --poll-interval 2 \
  --max-pods 100000 --log-level warning 2> "$out/usage-agent.log" &
agent_pid=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null && break; sleep 0.1; done
"$loadgen" create 127.0.0.1 "$PORT" "$BIG" "$CONCURRENCY" "$out/usage-create.json" >/dev/null
sleep 4
tracked=$(curl -sf "http://127.0.0.1:$PORT/metrics" | awk '$1 == "dte_agent_tracked_pods" {printf "%d", $2}')
for ((i = 0; i < SCRAPES; i++)); do
  curl -s -o /dev/null -w '%{time_total}\n' "http://127.0.0.1:$PORT/metrics"
done > "$data/scrapes"
read -r p50 p95 < <(sort -n "$data/scrapes" | awk '{a[NR]=$1} END {print a[int(NR*0.5)], a[int(NR*0.95)]}')
printf '/metrics: %s tracked pods, p50 %.1f ms, p95 %.1f ms over %d scrapes\n' "$tracked" "$(echo "$p50 * 1000" | bc -l)" \
  "$(echo "$p95 * 1000" | bc -l)" "$SCRAPES"

cat > "$out/usage.md" <<MD
| measure | result | target |
|---|---|---|
| usage of $N finished jobs, one \`sacct\` call (\`dte-agent usage\`, median of $ROUNDS) | $(printf '%.3f' "$usage_median") s (largest $(printf '%.3f' "$usage_max") s; $collected collected) | ≤ 2 s |
| \`GET /metrics\` with $tracked tracked pods, p50 / p95 of $SCRAPES | $(printf '%.1f' "$(echo "$p50 * 1000" | bc -l)") / $(printf '%.1f' "$(echo "$p95 * 1000" | bc -l)") ms | p50 ≤ 20 ms |

agent: $agent; machine: $(nproc) cores, load average at the end $(load)
MD
cat "$out/usage.md"
