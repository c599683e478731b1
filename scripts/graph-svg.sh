#!/usr/bin/env bash
# Draws the repository `dte init` makes (the demo twin on the local development cluster) with
# `dte graph` and Graphviz's dot into docs/example-graph.svg, the picture in the README.
# Needs a built dte (swift build) and dot (graphviz; scripts/install-deps.sh installs it).
#   scripts/graph-svg.sh [OUTPUT.svg]
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-docs/example-graph.svg}
dte=${DTE:-$(swift build --show-bin-path)/dte}
[[ -x $dte ]] || { echo "graph-svg: no dte at $dte; run swift build first (or set DTE)" >&2; exit 1; }
command -v dot > /dev/null || { echo "graph-svg: dot is missing; install graphviz (scripts/install-deps.sh)" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$dte" init "$tmp/example" > /dev/null
# Relative to the example, so the picture does not depend on where it was drawn.
(cd "$tmp/example" && NO_COLOR=1 "$dte" graph --state "$tmp/state.db" -o graph.svg)
# dot writes its version into a comment; keep it, it says what drew the file.
mv "$tmp/example/graph.svg" "$out"
echo "wrote $out"
