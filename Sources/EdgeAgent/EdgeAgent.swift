/// The HPC-edge agent: HTTP API, pod store, job scripts and backends.
public enum EdgeAgent {}
