#!/usr/bin/env bash
# Benchmark of `dte validate` (load + type check + compile of the whole file) against raw
# libyaml event parsing of the same file, and against OpenStack's tosca-parser, in one run;
# then the ecosystem corpus (../shared/corpus/tosca) timed as a whole.
#
#   bench/validate.sh                        # release build in .build; results in bench/out/
#   SCRATCH=.build-static bench/validate.sh  # the static release build (--static-swift-stdlib)
#   RUNS=30 bench/validate.sh                # more runs on a noisy machine (default 20)
#
# Needs: hyperfine, gcc, libyaml-dev, python3 with tosca-parser (scripts/install-deps.sh).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
if ! command -v swift >/dev/null && [[ -x /opt/swift/usr/bin/swift ]]; then export PATH=$PATH:/opt/swift/usr/bin; fi
OUT=bench/out
RUNS=${RUNS:-20}
mkdir -p "$OUT"

SCRATCH=${SCRATCH:-.build}
STATIC=()
[[ $SCRATCH == .build ]] || STATIC=(--static-swift-stdlib)
swift build -c release "${STATIC[@]}" --scratch-path "$SCRATCH" --product dte >/dev/null
DTE=$(swift build -c release "${STATIC[@]}" --scratch-path "$SCRATCH" --show-bin-path)/dte
gcc -O2 -o "$OUT/yaml_events" bench/yaml_events.c -lyaml

for n in 1000 10000; do
  python3 bench/gen_templates.py "$n" "$OUT/twin-$n.yaml"
  "$DTE" validate "$OUT/twin-$n.yaml" >/dev/null   # must be valid, or the comparison means nothing
done
cat > "$OUT/toscaparser_load.py" <<'PY'
import sys
from toscaparser.tosca_template import ToscaTemplate
ToscaTemplate(sys.argv[1])
PY

echo "== machine"
echo "$(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
ls -l "$OUT"/twin-*.yaml | awk '{print $5, $9}'

for n in 1000 10000; do
  echo "== $n node templates: libyaml events and dte validate"
  hyperfine --warmup 2 --runs "$RUNS" -N \
    --export-json "$OUT/validate-$n.json" --export-markdown "$OUT/validate-$n.md" \
    -n "libyaml events (baseline)" "$OUT/yaml_events $OUT/twin-$n.yaml" \
    -n "dte validate" "$DTE validate $OUT/twin-$n.yaml"
done

echo "== tosca-parser and dte validate side by side, 1000 node templates"
hyperfine --runs 3 -N --export-json "$OUT/toscaparser-1000.json" \
  -n "tosca-parser" "python3 $OUT/toscaparser_load.py $OUT/twin-1000.yaml" \
  -n "dte validate" "$DTE validate $OUT/twin-1000.yaml"

echo "== tosca-parser and dte validate side by side, 10000 node templates (tosca-parser takes about a minute a run)"
hyperfine --runs "${TP_RUNS:-2}" -N --export-json "$OUT/toscaparser-10000.json" \
  -n "tosca-parser" "python3 $OUT/toscaparser_load.py $OUT/twin-10000.yaml" \
  -n "dte validate" "$DTE validate $OUT/twin-10000.yaml"

echo "== peak memory (max RSS), 10000 node templates"
/usr/bin/time -f "dte validate: %M KB" "$DTE" validate "$OUT/twin-10000.yaml" >/dev/null
/usr/bin/time -f "libyaml events: %M KB" "$OUT/yaml_events" "$OUT/twin-10000.yaml" >/dev/null

CORPUS=$ROOT/../shared/corpus/tosca/check.sh
if [[ -x $CORPUS ]]; then
  echo "== the ecosystem corpus, every template tosca-parser accepts (target: 10 s in all)"
  start=$(date +%s.%N)
  # the checker exits 1 for the one template DTE rejects on purpose (tosca-parser wrongly
  # accepts it): the time of the whole run is what is measured here
  { "$CORPUS" "$DTE" || true; } | tail -1
  echo "corpus: $(echo "$(date +%s.%N) - $start" | bc) s"
fi

python3 - "$OUT" <<'PY'
import json, sys
out = sys.argv[1]
def results(name):
    return {x["command"]: x for x in json.load(open(f"{out}/{name}.json"))["results"]}
for n in (1000, 10000):
    r = results(f"validate-{n}")
    b, d = r["libyaml events (baseline)"], r["dte validate"]
    print(f"{n:>6} nodes: dte validate median {d['median']*1000:.0f} ms (cpu {(d['user']+d['system'])*1000:.0f} ms), "
          f"libyaml {b['median']*1000:.0f} ms (cpu {(b['user']+b['system'])*1000:.0f} ms), ratio {d['median']/b['median']:.2f}x (target <= 3x at 10000)")
for n in (1000, 10000):
    r = results(f"toscaparser-{n}")
    tp, d = r["tosca-parser"]["median"], r["dte validate"]["median"]
    print(f"{n:>6} nodes: tosca-parser median {tp:.2f} s, dte validate {d*1000:.0f} ms: {tp/d:.0f}x faster (target >= 100x at 10000)")
PY
