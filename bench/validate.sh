#!/usr/bin/env bash
# Benchmark of `dte validate` (load + type check + compile of the whole file) against raw
# libyaml event parsing of the same file, and against OpenStack's tosca-parser, in one run.
#
#   bench/validate.sh            # 1,000 and 10,000 node templates; results in bench/out/
#
# Needs: hyperfine, gcc, libyaml-dev, python3 with tosca-parser (scripts/install-deps.sh).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
if ! command -v swift >/dev/null && [[ -x /opt/swift/usr/bin/swift ]]; then export PATH=$PATH:/opt/swift/usr/bin; fi
OUT=bench/out
mkdir -p "$OUT"

swift build -c release --product dte >/dev/null
DTE=$(swift build -c release --show-bin-path)/dte
gcc -O2 -o "$OUT/yaml_events" bench/yaml_events.c -lyaml

for n in 1000 10000; do
  python3 bench/gen_templates.py "$n" "$OUT/twin-$n.yaml"
  "$DTE" validate "$OUT/twin-$n.yaml" >/dev/null   # must be valid, or the comparison means nothing
done

echo "== machine"
echo "$(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
ls -l "$OUT"/twin-*.yaml | awk '{print $5, $9}'

for n in 1000 10000; do
  echo "== $n node templates"
  hyperfine --warmup 2 --runs 15 -N \
    --export-json "$OUT/validate-$n.json" --export-markdown "$OUT/validate-$n.md" \
    -n "libyaml events (baseline)" "$OUT/yaml_events $OUT/twin-$n.yaml" \
    -n "dte validate" "$DTE validate $OUT/twin-$n.yaml"
done

echo "== tosca-parser, 1000 node templates (the reference parser; one run is enough at this speed)"
cat > "$OUT/toscaparser_load.py" <<'PY'
import sys
from toscaparser.tosca_template import ToscaTemplate
ToscaTemplate(sys.argv[1])
PY
hyperfine --runs 3 -N --export-json "$OUT/toscaparser-1000.json" \
  -n "tosca-parser" "python3 $OUT/toscaparser_load.py $OUT/twin-1000.yaml" \
  -n "dte validate" "$DTE validate $OUT/twin-1000.yaml"

echo "== tosca-parser, 10000 node templates (one run: it takes about a minute)"
hyperfine --runs 1 -N --export-json "$OUT/toscaparser-10000.json" \
  -n "tosca-parser" "python3 $OUT/toscaparser_load.py $OUT/twin-10000.yaml"

echo "== peak memory (max RSS), 10000 node templates"
/usr/bin/time -f "dte validate: %M KB" "$DTE" validate "$OUT/twin-10000.yaml" >/dev/null
/usr/bin/time -f "libyaml events: %M KB" "$OUT/yaml_events" "$OUT/twin-10000.yaml" >/dev/null

python3 - "$OUT" <<'PY'
import json, sys
out = sys.argv[1]
for n in (1000, 10000):
    r = {x["command"]: x for x in json.load(open(f"{out}/validate-{n}.json"))["results"]}
    base, dte = r["libyaml events (baseline)"]["median"], r["dte validate"]["median"]
    print(f"{n:>6} nodes: dte validate median {dte*1000:.0f} ms, libyaml {base*1000:.0f} ms, ratio {dte/base:.2f}x (target <= 5x)")
r = {x["command"]: x for x in json.load(open(f"{out}/toscaparser-1000.json"))["results"]}
tp, dte = r["tosca-parser"]["median"], r["dte validate"]["median"]
print(f"  1000 nodes: tosca-parser median {tp:.2f} s, dte validate {dte*1000:.0f} ms: {tp/dte:.0f}x faster")
tp10 = json.load(open(f"{out}/toscaparser-10000.json"))["results"][0]["median"]
dte10 = {x["command"]: x for x in json.load(open(f"{out}/validate-10000.json"))["results"]}["dte validate"]["median"]
print(f" 10000 nodes: tosca-parser {tp10:.1f} s, dte validate {dte10*1000:.0f} ms: {tp10/dte10:.0f}x faster (target >= 40x)")
PY
