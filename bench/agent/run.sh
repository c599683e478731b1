#!/usr/bin/env bash
# dte-agent benchmark on the development cluster (not a test). Prints and writes
# bench/out/agent/results.md:
#   1. baseline: a shell loop of `sbatch --hold --wrap true`, N jobs;
#   2. dte-agent (release build, libslurm, --hold-jobs): N pods through POST /create,
#      CONCURRENCY clients, until every pod has its job id;
#   3. GET /status latency for those N pods (p50/p95 over ROUNDS calls), and for one pod over
#      SMALL_ROUNDS calls (what a request itself costs: parsing, authentication, routing);
#   4. agent memory (VmRSS) with BIG pods tracked: sampled every 0.5 s for 10 s (several
#      polls), median and largest sample, and the peak (VmHWM) of the whole run;
#   5. 2 and 3 again with OIDC on (alternated with 2–3, see ORDER below): every request carries a bearer token (ES256, from the
#      loopback issuer bench/agent/issuer.py), verified once and then cached until it expires.
# The client is bench/agent/loadgen.c (C, one thread and keep-alive connection per client),
# so that on a small machine the client takes little of the CPU the agent and slurmctld need.
# Every job it submits is held and cancelled at the end, so the cluster stays free.
# Each run appends one line with its figures to bench/out/agent/runs.tsv (every run is kept).
# ORDER=plain,plain runs without the OIDC turns (the token rows are then left out).
# usage: [AGENT=path] bench/agent/run.sh [N=1000] [CONCURRENCY=8] [BIG=10000]
set -euo pipefail
N=${1:-1000}
CONCURRENCY=${2:-8}
BIG=${3:-10000}
ROUNDS=${ROUNDS:-50}
SMALL_ROUNDS=${SMALL_ROUNDS:-2000}
PORT=${PORT:-4650}
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
eval "$(scripts/dev-cluster.sh env)"
out=bench/out/agent
mkdir -p "$out"
data=$(mktemp -d)
agent_pid=
issuer_pid=
cleanup() {
  [[ -n $agent_pid ]] && kill "$agent_pid" 2>/dev/null && wait "$agent_pid" 2>/dev/null
  [[ -n $issuer_pid ]] && kill "$issuer_pid" 2>/dev/null
  # Sweep what a timed-out scancel or an interrupted run left: the baseline's jobs by their
  # name, the agent's by its pods' names and the agent's comment.
  scancel --name=dte-agent-bench-baseline 2>/dev/null || true
  squeue -h -t pending,running -o '%i %j %k' 2>/dev/null \
    | awk '$2 ~ /^bench\.bench-[0-9]+$/ && $3 ~ /^dte-agent:/ {print $1}' | cancel_ids
  rm -rf "$data"
}
trap cleanup EXIT

cancel_ids() { # job ids on stdin, cancelled in chunks
  xargs -r -n 500 scancel 2>/dev/null || true
}

# The agent as a site installs it: a release build with the Swift runtime and Foundation linked
# in (docs/agent.md, "Running it"), so the edge node needs no Swift toolchain.
# AGENT=path runs a binary built that way already.
if [[ -n ${AGENT:-} ]]; then
  agent=$AGENT
else
  echo "building dte-agent (release, static Swift runtime)…"
  scratch=${SCRATCH:-.build-static}
  swift build -c release --static-swift-stdlib --scratch-path "$scratch" --product dte-agent >/dev/null
  agent=$scratch/release/dte-agent
fi
cc -O2 -pthread -o "$out/loadgen" bench/agent/loadgen.c
loadgen=$out/loadgen
load() { awk '{print $1", "$2", "$3}' /proc/loadavg; }
echo "machine: $(nproc) cores, $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo), load average $(load)"
load_start=$(load)

echo "baseline: $N × sbatch --hold --wrap true"
ids=$out/sbatch-ids.txt
: > "$ids"
start=$(date +%s.%N)
for ((i = 0; i < N; i++)); do
  sbatch --parsable --hold --job-name=dte-agent-bench-baseline --mem=16M --output=/dev/null --wrap true >> "$ids"
done
end=$(date +%s.%N)
sbatch_seconds=$(echo "$end - $start" | bc -l)
cut -d';' -f1 "$ids" | cancel_ids
sbatch_rate=$(echo "$N / $sbatch_seconds" | bc -l)
printf 'sbatch loop: %d jobs in %.2f s = %.0f jobs/s\n' "$N" "$sbatch_seconds" "$sbatch_rate"

# The agent runs under an account of its own, as on a site (docs/agent.md): its poll then asks
# slurmctld for its own jobs only, not for every job of the cluster (here: the baseline's, other
# tests'). As root, the script creates that account once.
run_as=()
if [[ $(id -u) == 0 ]]; then
  bench_user=${BENCH_USER:-dte-agent-bench}
  id "$bench_user" >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin "$bench_user"
  chown "$bench_user" "$data"
  # setpriv execs the agent in place, so $! is the agent's pid (memory is read from /proc).
  run_as=(setpriv --reuid="$bench_user" --regid="$(id -g "$bench_user")" --clear-groups)
fi
start_agent() { # DATA-DIR [more agent flags]
  local dir=$1
  shift
  "${run_as[@]}" "$agent" serve --listen "127.0.0.1:$PORT" --data-dir "$dir" --runtime none --hold-jobs \
    --poll-interval 2 --max-pods 100000 --log-level warning "$@" 2> "$out/agent.log" &
  agent_pid=$!
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null && return 0; sleep 0.1; done
  echo "the agent did not start; see $out/agent.log" >&2
  exit 1
}
stop_agent() { kill "$agent_pid"; wait "$agent_pid" 2>/dev/null || true; agent_pid=; }

# Steps 2–3 without and with tokens, in the order ORDER names. The default runs each twice, as
# plain, tokens, tokens, plain: whichever runs right after many cancelled jobs meets a busier
# slurmctld, so each side gets an early and a late turn and is reported as the mean of its two.
ORDER=${ORDER:-plain,tokens,tokens,plain}
issuer_port=$((PORT + 1))
refused=
load_create=-
turn=0
run_plain() {
  turn=$((turn + 1))
  echo "[$turn] dte-agent: $N pods through POST /create ($CONCURRENCY clients)"
  start_agent "$data/a$turn"
  "$loadgen" create 127.0.0.1 "$PORT" "$N" "$CONCURRENCY" "$out/create-plain-$turn.json"
  load_create=$(load)
  sleep 3   # let the poller see every job once
  "$loadgen" status 127.0.0.1 "$PORT" "$out/create-plain-$turn.json" "$ROUNDS" "$out/status-plain-$turn.json"
  STATUS_PODS=1 "$loadgen" status 127.0.0.1 "$PORT" "$out/create-plain-$turn.json" "$SMALL_ROUNDS" "$out/one-plain-$turn.json"
  stop_agent
  python3 -c "import json; print('\n'.join(json.load(open('$out/create-plain-$turn.json'))['jobs']))" | cancel_ids
}
run_tokens() {
  turn=$((turn + 1))
  echo "[$turn] dte-agent with OIDC on: $N pods through POST /create ($CONCURRENCY clients), each request with a bearer token"
  python3 bench/agent/issuer.py "$issuer_port" "$data/token" > "$out/issuer.txt" &
  issuer_pid=$!
  for _ in $(seq 50); do [[ -s $data/token ]] && curl -sf "http://127.0.0.1:$issuer_port/jwks" >/dev/null && break; sleep 0.1; done
  start_agent "$data/t$turn" --oidc-issuer "http://127.0.0.1:$issuer_port" --oidc-audience dte-bench \
    --entitlement "urn:mace:egi.eu:group:dte-bench"
  DTE_TOKEN=$(cat "$data/token") "$loadgen" create 127.0.0.1 "$PORT" "$N" "$CONCURRENCY" "$out/create-tokens-$turn.json"
  sleep 3
  DTE_TOKEN=$(cat "$data/token") "$loadgen" status 127.0.0.1 "$PORT" "$out/create-tokens-$turn.json" "$ROUNDS" "$out/status-tokens-$turn.json"
  DTE_TOKEN=$(cat "$data/token") STATUS_PODS=1 "$loadgen" status 127.0.0.1 "$PORT" "$out/create-tokens-$turn.json" "$SMALL_ROUNDS" "$out/one-tokens-$turn.json"
  # Without the token the same agent refuses (the run above was authenticated, not open).
  refused=$(curl -s -o /dev/null -w '%{http_code}' -X POST --data '[]' "http://127.0.0.1:$PORT/status")
  stop_agent
  kill "$issuer_pid" 2>/dev/null || true
  issuer_pid=
  rm -f "$data/token"
  python3 -c "import json; print('\n'.join(json.load(open('$out/create-tokens-$turn.json'))['jobs']))" | cancel_ids
}
rm -f "$out"/create-plain-*.json "$out"/create-tokens-*.json "$out"/status-plain-*.json "$out"/status-tokens-*.json "$out"/one-*.json
IFS=, read -ra turns <<< "$ORDER"
for t in "${turns[@]}"; do
  case $t in
    plain) run_plain ;;
    tokens) run_tokens ;;
    *) echo "ORDER is a comma-separated list of plain and tokens" >&2; exit 64 ;;
  esac
done

echo "dte-agent memory with $BIG tracked pods"
start_agent "$data/b"
"$loadgen" create 127.0.0.1 "$PORT" "$BIG" "$CONCURRENCY" "$out/create-big.json"
sleep 3
: > "$out/rss.txt"
for _ in $(seq 20); do awk '/VmRSS/ {r=$2} /RssAnon/ {a=$2} END {print r, a}' "/proc/$agent_pid/status" >> "$out/rss.txt"; sleep 0.5; done
rss_kib=$(sort -n "$out/rss.txt" | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
rss_max_kib=$(sort -n "$out/rss.txt" | tail -1 | cut -d' ' -f1)
anon_kib=$(awk '{print $2}' "$out/rss.txt" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
hwm_kib=$(awk '/VmHWM/ {print $2}' "/proc/$agent_pid/status")
slurm_jobs=$(squeue -h -t all -o %i | wc -l)
stop_agent
python3 -c "import json; print('\n'.join(json.load(open('$out/create-big.json'))['jobs']))" | cancel_ids

python3 - "$out" "$sbatch_seconds" "$N" "$rss_kib" "$hwm_kib" "$BIG" "$rss_max_kib" "$slurm_jobs" "$load_start" "$load_create" "$refused" "$anon_kib" "$ORDER" <<'PY'
import json, sys
out, sbatch_seconds, n, rss, hwm, big = sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
rss_max, slurm_jobs, load_start, load_create, refused = int(sys.argv[7]), int(sys.argv[8]), sys.argv[9], sys.argv[10], sys.argv[11]
anon, order = int(sys.argv[12]), sys.argv[13]
import glob
def mean_of(kind, label, key):
    """The mean of `key` over this side's turns, and the values one by one."""
    values = [json.load(open(f))[key] for f in sorted(glob.glob(f"{out}/{kind}-{label}-*.json"))]
    return sum(values) / len(values), values
def side(label):
    rate, rates = mean_of("create", label, "pods_per_second")
    p50, p50s = mean_of("status", label, "p50_ms")
    p95, _ = mean_of("status", label, "p95_ms")
    one, ones = mean_of("one", label, "p50_ms")
    first = json.load(open(sorted(glob.glob(f"{out}/create-{label}-*.json"))[0]))
    answered = json.load(open(sorted(glob.glob(f"{out}/status-{label}-*.json"))[0]))
    return {"pods_per_second": rate, "rates": rates, "p50_ms": p50, "p50s": p50s, "p95_ms": p95, "one_ms": one, "ones": ones,
            "concurrency": first["concurrency"], "seconds": n / rate,
            "errors": sum(json.load(open(f))["errors"] for f in glob.glob(f"{out}/create-{label}-*.json")),
            "answered": answered["answered"], "rounds": answered["rounds"]}
def each(values, unit):
    return " / ".join(f"{v:.1f}" if unit == "ms" else f"{v:.0f}" for v in values)
create = status = side("plain")
with_tokens = bool(glob.glob(f"{out}/create-tokens-*.json"))
create_t = status_t = side("tokens") if with_tokens else None
big_create = json.load(open(f"{out}/create-big.json"))
sbatch_rate = n / sbatch_seconds
ratio = create["pods_per_second"] / sbatch_rate
lines = [
    "| measure | result | target |",
    "|---|---|---|",
    f"| shell loop of `sbatch --hold --wrap true`, {n} jobs | {sbatch_rate:.0f} jobs/s ({sbatch_seconds:.2f} s) | baseline |",
    f"| dte-agent `/create` → job id, {n} pods, {create['concurrency']} clients | {create['pods_per_second']:.0f} pods/s (mean of {each(create['rates'], '')}; {create['errors']} errors) = **{ratio:.1f}×** the loop | ≥ 5× |",
    f"| `/status` for {status['answered']} pods | p50 **{status['p50_ms']:.1f} ms** (mean of {each(status['p50s'], 'ms')}), p95 {status['p95_ms']:.1f} ms ({status['rounds']} calls each) | p50 ≤ 10 ms |",
]
if with_tokens:
    lines += [
        f"| with OIDC tokens: `/create` → job id, {n} pods | {create_t['pods_per_second']:.0f} pods/s (mean of {each(create_t['rates'], '')}; {create_t['errors']} errors) = {create_t['pods_per_second'] / create['pods_per_second']:.2f} of the run without tokens | ≥ 0.90 |",
        f"| with OIDC tokens: `/status` | p50 {status_t['p50_ms']:.1f} ms (mean of {each(status_t['p50s'], 'ms')}), p95 {status_t['p95_ms']:.1f} ms = {status_t['p50_ms'] / status['p50_ms']:.2f} of the p50 without tokens (without a token: HTTP {refused}) | ≤ 1.10 |",
        f"| `/status` for one pod, {json.load(open(sorted(glob.glob(f'{out}/one-plain-*.json'))[0]))['rounds']} calls one after another: the cost of a request | without tokens p50 {create['one_ms'] * 1000:.0f} µs (mean of {' / '.join(f'{v * 1000:.0f}' for v in create['ones'])}); with tokens {create_t['one_ms'] * 1000:.0f} µs (mean of {' / '.join(f'{v * 1000:.0f}' for v in create_t['ones'])}) = {create_t['one_ms'] / create['one_ms']:.2f} | ≤ 1.10 |",
    ]
else:
    lines.append(f"| `/status` for one pod, {json.load(open(sorted(glob.glob(f'{out}/one-plain-*.json'))[0]))['rounds']} calls one after another: the cost of a request | p50 {create['one_ms'] * 1000:.0f} µs (mean of {' / '.join(f'{v * 1000:.0f}' for v in create['ones'])}) | — |")
lines += [
    f"| agent memory with {big} tracked pods ({big_create['pods_per_second']:.0f} pods/s) | VmRSS median **{rss / 1024:.1f} MiB** of 20 samples over 10 s (largest {rss_max / 1024:.1f} MiB; of it anonymous, i.e. not the binary's pages: {anon / 1024:.1f} MiB); peak of the run {hwm / 1024:.1f} MiB | ≤ 64 MiB |",
    "",
    f"Order: {order}. Load average at the start: {load_start}; after the plain run's creates: {load_create}. Jobs in slurmctld's memory at the end: {slurm_jobs}.",
]
# One line per run, appended, so that every run's figures are kept (bench/out/agent/runs.tsv).
import os, time
runs = f"{out}/runs.tsv"
new_file = not os.path.exists(runs)
with open(runs, "a") as f:
    if new_file:
        f.write("time\tsbatch_jobs_s\tagent_pods_s\tratio\tstatus_p50_ms\tstatus_p95_ms\trss_median_mib\trss_max_mib\tanon_median_mib\thwm_mib\tload_start\tslurm_jobs\n")
    f.write(f"{time.strftime('%H:%M')}\t{sbatch_rate:.0f}\t{create['pods_per_second']:.0f}\t{ratio:.2f}\t{status['p50_ms']:.1f}\t{status['p95_ms']:.1f}\t"
            f"{rss / 1024:.1f}\t{rss_max / 1024:.1f}\t{anon / 1024:.1f}\t{hwm / 1024:.1f}\t{load_start}\t{slurm_jobs}\n")
open(f"{out}/results.md", "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
PY
