#!/usr/bin/env bash
# Benchmarks of the GitOps core (issue targets: dte-plan over 10,000 resources without refresh
# ≤ 1 s, and ≤ 25 % over `dte validate` of the same repository, measured side by side in one
# hyperfine run; an apply of 1,000 pods to one site ≤ 10 s), on the local Slurm cluster.
#
#   bench/plan-apply.sh        # results in bench/out/plan-apply.txt
#   SCRATCH=.build-static bench/plan-apply.sh   # the static release build of bench/agent/run.sh
#
# The apply goes through a real dte-agent (release build, libslurm) that submits every job held,
# so the 1,000 jobs are real Slurm jobs that do not run; they are cancelled at the end.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
if ! command -v swift >/dev/null && [[ -x /opt/swift/usr/bin/swift ]]; then export PATH=$PATH:/opt/swift/usr/bin; fi
eval "$(scripts/dev-cluster.sh env)"
OUT=bench/out
mkdir -p "$OUT"
# SCRATCH=.build-static reuses the release build the agent benchmarks make (static Swift runtime).
SCRATCH=${SCRATCH:-.build}
STATIC=()
[[ $SCRATCH == .build ]] || STATIC=(--static-swift-stdlib)
swift build -c release "${STATIC[@]}" --scratch-path "$SCRATCH" --product dte >/dev/null
swift build -c release "${STATIC[@]}" --scratch-path "$SCRATCH" --product dte-agent >/dev/null
BIN=$(swift build -c release "${STATIC[@]}" --scratch-path "$SCRATCH" --show-bin-path)
PORT=4781
REPO=$(mktemp -d -t dte-bench.XXXXXX)
AGENT_PID=""
# The benchmark twin's pending (held) jobs, by id.
bench_jobs() { squeue -h -o '%i %j' | awk '$2 ~ /^plan-bench\./ {print $1}'; }
cleanup() {
  [[ -n $AGENT_PID ]] && kill "$AGENT_PID" 2>/dev/null && wait "$AGENT_PID" 2>/dev/null || true
  bench_jobs | xargs -r -n 500 scancel 2>/dev/null || true
  rm -rf "$REPO"
}
trap cleanup EXIT

mkdir -p "$REPO/templates/dte" "$REPO/sites"
echo "version: 1" > "$REPO/dte.yaml"
cp templates/dte/types.yaml "$REPO/templates/dte/"
cat > "$REPO/sites/benchsite.yaml" <<YAML
tosca_definitions_version: tosca_simple_yaml_1_3
imports: [../templates/dte/types.yaml]
topology_template:
  node_templates:
    benchsite:
      type: dte.nodes.Site.Slurm
      properties:
        agent: { endpoint: "http://127.0.0.1:$PORT" }
        runtimes: [apptainer, bwrap]
        partitions:
          - { name: batch, nodes: 1, cpus_per_node: 16, memory_per_node: 64 GB, max_walltime: 24 h, default: true }
        allocations:
          - { project: bench-dt, core_hours: 100000000, gpu_hours: 0 }
YAML

python3 bench/gen_templates.py 10000 "$REPO/templates/bench.yaml"
"$BIN/dte" validate -C "$REPO" >/dev/null

{
echo "== machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'); load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== dte validate and dte plan over 10,000 resources, side by side (plan: no refresh, empty state: 10,000 creates)"
hyperfine -N --warmup 1 --runs 10 --export-json "$OUT/plan-10000.json" \
  -n validate "$BIN/dte validate -C $REPO" \
  -n plan "$BIN/dte plan -C $REPO --refresh=false --state $REPO/empty.db"
} | tee "$OUT/plan-apply.txt"

python3 bench/gen_templates.py 1000 "$REPO/templates/bench.yaml"
"$BIN/dte-agent" serve --listen "127.0.0.1:$PORT" --data-dir "$REPO/agent" --runtime bwrap --partition batch --hold-jobs \
  >"$REPO/agent.log" 2>&1 &
AGENT_PID=$!
for _ in $(seq 1 50); do curl -fsS "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && break; sleep 0.2; done
{
echo "== dte apply of 1,000 pods to one site (real agent, held Slurm jobs), parallelism 32"
before=$(bench_jobs | wc -l)
start=$(date +%s.%N)
"$BIN/dte" apply -C "$REPO" --auto-approve --refresh=false --parallelism 32 --state "$REPO/apply.db" >"$REPO/apply.log"
end=$(date +%s.%N)
tail -n 1 "$REPO/apply.log"
python3 -c "print(f'apply of 1000 pods: {$end - $start:.2f} s')"
echo "Slurm jobs submitted: $(( $(bench_jobs | wc -l) - before ))"
} | tee -a "$OUT/plan-apply.txt"
python3 - "$OUT" <<'PY' | tee -a "$OUT/plan-apply.txt"
import json, sys
results = {r["command"]: r for r in json.load(open(f"{sys.argv[1]}/plan-10000.json"))["results"]}
v, r = results["validate"], results["plan"]
print(f"plan of 10,000 resources: median {r['median']*1000:.0f} ms (min {r['min']*1000:.0f}, max {r['max']*1000:.0f}) — target <= 1000 ms")
print(f"validate of the same repository: median {v['median']*1000:.0f} ms; plan / validate = {r['median'] / v['median']:.2f} — target <= 1.25")
PY
