#!/usr/bin/env python3
"""Interleaved timing of `dte validate` builds against libyaml's event parse of the same file.

hyperfine runs all runs of one command, then all of the next: on a machine whose speed drifts
from minute to minute (a shared virtual machine), the ratio then measures the drift as much as
the code. Here each round runs every command once, in turn (the order rotating), and the ratio
of each run to the libyaml run of its own round is reported beside the ratio of medians.

    python3 bench/interleaved.py ROUNDS FILE DTE [DTE ...]
    python3 bench/interleaved.py 20 bench/out/twin-10000.yaml .build-static/release/dte /tmp/dte-before

Needs bench/out/yaml_events (bench/validate.sh builds it).
"""
import os
import resource
import statistics
import subprocess
import sys
import time


def main():
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    rounds, path, binaries = int(sys.argv[1]), sys.argv[2], sys.argv[3:]
    here = os.path.dirname(os.path.abspath(__file__))
    commands = [("libyaml events", [os.path.join(here, "out", "yaml_events"), path])]
    commands += [(b, [b, "validate", path]) for b in binaries]
    wall = {name: [] for name, _ in commands}
    cpu = {name: [] for name, _ in commands}
    for _, argv in commands:  # one warm-up each
        subprocess.run(argv, stdout=subprocess.DEVNULL)
    for r in range(rounds):
        k = r % len(commands)
        for name, argv in commands[k:] + commands[:k]:
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            start = time.perf_counter()
            subprocess.run(argv, stdout=subprocess.DEVNULL)
            wall[name].append(time.perf_counter() - start)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu[name].append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    base = statistics.median(wall["libyaml events"])
    with open("/proc/loadavg") as f:
        print(f"{rounds} rounds, load average at the end: {' '.join(f.read().split()[:3])}")
    for name, _ in commands:
        paired = statistics.median(a / b for a, b in zip(wall[name], wall["libyaml events"]))
        print(f"{name:40} median {statistics.median(wall[name]) * 1000:7.1f} ms  cpu {statistics.median(cpu[name]) * 1000:7.1f} ms"
              f"  ratio of medians {statistics.median(wall[name]) / base:5.2f}  median of paired ratios {paired:5.2f}")


if __name__ == "__main__":
    main()
