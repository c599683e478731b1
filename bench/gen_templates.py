#!/usr/bin/env python3
"""Generates a large, valid DTE twin for the validate/compile benchmark.

usage: gen_templates.py N OUT.yaml

The file imports the DTE types (OUT's folder's dte/types.yaml when there is one, else this
project's, by a path relative to OUT's folder), declares one twin and N
batch jobs, each with an image, a command, env, resources, a walltime, the twin requirement
and (every second job) an `after` requirement on the previous one, plus inputs read through
get_input — so the checker does the same work per node as on hand-written twins.
"""
import os
import sys


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: gen_templates.py N OUT.yaml")
    n = int(sys.argv[1])
    out = sys.argv[2]
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    # the repository's own copy when OUT sits in a scratch repository's templates/ (imports must
    # stay inside the repository), else this project's
    here = os.path.dirname(os.path.abspath(out))
    if os.path.exists(os.path.join(here, "dte", "types.yaml")):
        types = "dte/types.yaml"
    else:
        types = os.path.relpath(os.path.join(repo, "templates", "dte", "types.yaml"), here)
    lines = [
        "tosca_definitions_version: tosca_simple_yaml_1_3",
        f"description: generated benchmark twin with {n} components",
        "imports:",
        f"  - {types}",
        "topology_template:",
        "  inputs:",
        "    region:",
        "      type: string",
        "      default: humber",
        "      constraints:",
        "        - valid_values: [humber, thames, severn]",
        "    memory:",
        "      type: scalar-unit.size",
        "      default: 2 GB",
        "      constraints:",
        "        - less_or_equal: 64 GB",
        "  node_templates:",
        "    plan-bench:",
        "      type: dte.nodes.DigitalTwin",
        "      properties:",
        "        project: bench-dt",
        "        source: https://github.com/example/bench-twin",
    ]
    for i in range(n):
        lines += [
            f"    job-{i:05d}:",
            "      type: dte.nodes.BatchJob",
            f"      description: generated job number {i} of the benchmark twin, with a realistic amount of text",
            "      properties:",
            f"        image: docker://ghcr.io/example/flood-prep:1.{i % 10}",
            f"        command: [prep, --region, {{ get_input: region }}, --chunk, '{i}', --output, /data/out/chunk-{i:05d}.nc]",
            "        env:",
            f"          CHUNK: '{i}'",
            "          LOG_LEVEL: info",
            "          OMP_NUM_THREADS: '4'",
            f"        cpus: {1 + i % 8}",
            "        memory: { get_input: memory }",
            f"        walltime: {1 + i % 4} h",
            "        runtime: apptainer",
            "      requirements:",
            "        - twin: plan-bench",
        ]
        if i % 2 == 1:
            lines.append(f"        - after: job-{i - 1:05d}")
    with open(out, "w") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
