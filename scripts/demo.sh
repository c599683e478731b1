#!/usr/bin/env bash
# The project's main job, on a fresh machine:
#
#   scripts/demo.sh
#
# 1. installs what DTE needs and starts the local Slurm cluster (munge, MariaDB, slurmdbd,
#    slurmctld, slurmd, two fake GPUs),
# 2. builds dte and dte-agent,
# 3. validates the example repository as CI would (and shows a broken twin being caught),
# 4. starts dte-agent for the local site on 127.0.0.1:4555 (stopped again at the end),
# 5. plans the demo twin on the local site (the plan a pull request would show), saves it,
#    applies exactly that plan, and plans again (no changes),
# 6. shows the demo twin's Slurm jobs and their output (dte logs), records their final states,
#    prints the twin's outputs (dte output) and its graph (dte graph).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
if ! command -v swift >/dev/null && [[ -x /opt/swift/usr/bin/swift ]]; then
  export PATH=$PATH:/opt/swift/usr/bin
fi

step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }
WORK=$(mktemp -d -t dte-demo.XXXXXX)
AGENT_PID=""
cleanup() {
  if [[ -n $AGENT_PID ]] && kill -0 "$AGENT_PID" 2>/dev/null; then
    kill "$AGENT_PID" && wait "$AGENT_PID" 2>/dev/null || true
    echo "(dte-agent stopped)"
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

step "installing dependencies and starting the local Slurm cluster"
scripts/install-deps.sh
scripts/dev-cluster.sh start
eval "$(scripts/dev-cluster.sh env)"
sinfo

step "building dte and dte-agent"
swift build --product dte
swift build --product dte-agent
BIN=$(swift build --show-bin-path)
DTE=$BIN/dte

step "dte validate  (the whole repository: dte.yaml, sites/, templates/, recipes/)"
"$DTE" validate

step "a broken twin is caught before anything runs"
mkdir -p "$WORK/broken/templates"
cp dte.yaml "$WORK/broken/"
cp -r templates/dte "$WORK/broken/templates/"
sed -e 's/memory: 128 MB/memory: 128 MBB/' -e 's/- after: hello/- after: helo/' templates/demo.yaml > "$WORK/broken/templates/demo.yaml"
set +e
"$DTE" validate -C "$WORK/broken"
echo "(exit status $?: 1 means invalid)"
set -e

step "starting dte-agent for site local on 127.0.0.1:4555 (runtime bwrap, partition batch)"
if curl -fsS http://127.0.0.1:4555/healthz >/dev/null 2>&1; then
  echo "error: something already listens on 127.0.0.1:4555; stop it first" >&2
  exit 1
fi
"$BIN/dte-agent" serve --listen 127.0.0.1:4555 --data-dir "$WORK/agent" --runtime bwrap --partition batch \
  --poll-interval 1 >"$WORK/agent.log" 2>&1 &
AGENT_PID=$!
for _ in $(seq 1 50); do curl -fsS http://127.0.0.1:4555/healthz >/dev/null 2>&1 && break; sleep 0.2; done
curl -fsS -X POST http://127.0.0.1:4555/status -d '[]'; echo

STATE=(--state "$WORK/state.db")
step "dte plan --site local --out plan.json  (what a pull request shows)"
"$DTE" plan --site local "${STATE[@]}" --out "$WORK/plan.json"

step "dte apply plan.json  (exactly the reviewed plan)"
"$DTE" apply "$WORK/plan.json" "${STATE[@]}"

step "dte plan again: nothing left to do"
"$DTE" plan --site local "${STATE[@]}" --detailed-exitcode

step "the demo twin's Slurm jobs (hello → estimate-pi → summary, chained with afterok)"
for _ in $(seq 1 90); do
  [[ -z $(squeue -h -n demo.hello,demo.estimate-pi,demo.summary -o %i) ]] && break
  sleep 1
done
sacct -X -n --name=demo.hello,demo.estimate-pi,demo.summary -S now-10minutes -o JobID,JobName%20,State,Elapsed,ExitCode | tail -n 3
"$DTE" status --site local "${STATE[@]}"

step "their output: dte logs ADDRESS  (through the agent's /getLogs)"
while IFS=$'\t' read -r address _; do
  [[ $address == twin.demo.* ]] || continue
  echo "--- $address"
  "$DTE" logs "$address" "${STATE[@]}" || true
done < <("$DTE" state list "${STATE[@]}" | grep -v '^#')

step "dte apply --auto-approve: nothing to change; what the agent reports is recorded"
"$DTE" apply --auto-approve --site local "${STATE[@]}"

step "dte output  (the twin's outputs, from what the agent reported)"
"$DTE" output "${STATE[@]}"

step "dte graph --format text --twin demo"
"$DTE" graph --format text --twin demo "${STATE[@]}"
