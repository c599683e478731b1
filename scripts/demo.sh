#!/usr/bin/env bash
# The project's main job, on a fresh machine:
#
#   scripts/demo.sh
#
# 1. installs what DTE needs (scripts/install-deps.sh),
# 2. builds the `dte` command line (release),
# 3. validates the example repository (sites/, templates/, recipes/) as CI would, in all three
#    output formats, and shows that a broken twin is caught with file:line:column and a hint,
# 4. prints the resolved demo twin (`dte show templates/demo.yaml`).
#
# Planning and applying the demo twin on the local Slurm cluster arrive with dte-plan/dte-apply.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
if ! command -v swift >/dev/null && [[ -x /opt/swift/usr/bin/swift ]]; then
  export PATH=$PATH:/opt/swift/usr/bin
fi

step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }

step "installing dependencies"
scripts/install-deps.sh

step "building dte (release)"
swift build -c release --product dte
DTE=$(swift build -c release --show-bin-path)/dte

step "dte validate  (the whole repository: dte.yaml, sites/, templates/, recipes/)"
"$DTE" validate

step "dte validate --format sarif | head  (for code scanning in CI)"
"$DTE" validate --format sarif | head -n 12

step "a broken twin is caught before anything runs"
SCRATCH=$(mktemp -d)
trap 'rm -rf "$SCRATCH"' EXIT
mkdir -p "$SCRATCH/templates"
cp dte.yaml "$SCRATCH/"
cp -r templates/dte "$SCRATCH/templates/"
sed -e 's/memory: 128 MB/memory: 128 MBB/' -e 's/- after: hello/- after: helo/' templates/demo.yaml > "$SCRATCH/templates/demo.yaml"
set +e
"$DTE" validate -C "$SCRATCH"
status=$?
set -e
echo "(exit status $status: 1 means invalid)"

step "dte show templates/demo.yaml  (the resolved model)"
"$DTE" show templates/demo.yaml
