#!/usr/bin/env python3
"""dte-agent benchmark client (not a test).

usage: bench.py create  URL N CONCURRENCY OUT.json   create N trivial pods, time /create until every job id
       bench.py status  URL UIDS.json ROUNDS OUT.json time /status for all pods in UIDS.json, ROUNDS times

Pods are created concurrently (CONCURRENCY connections, keep-alive), each a one-container pod
running `true`; the agent is started with --hold-jobs so Slurm queues the jobs without running them.
"""
import http.client
import json
import statistics
import sys
import threading
import time
import urllib.parse
import uuid


def connection(url):
    parts = urllib.parse.urlsplit(url)
    return http.client.HTTPConnection(parts.hostname, parts.port, timeout=120)


def pod(uid, i):
    return {
        "pod": {"metadata": {"name": f"bench-{i}", "namespace": "bench", "uid": uid},
                "spec": {"containers": [{"name": "main", "image": "busybox", "command": ["true"],
                                         "resources": {"requests": {"cpu": "100m", "memory": "16Mi"}}}]}},
        "container": [{"name": "main", "configMaps": None, "secrets": None, "projectedvolumemaps": None}],
        "jobConfig": {},
    }


def create(url, n, concurrency, out):
    uids = [str(uuid.uuid4()) for _ in range(n)]
    bodies = [json.dumps(pod(uid, i)).encode() for i, uid in enumerate(uids)]
    jobs = [None] * n
    errors = []
    lock = threading.Lock()
    cursor = [0]

    def worker():
        conn = connection(url)
        while True:
            with lock:
                i = cursor[0]
                cursor[0] += 1
            if i >= n:
                break
            conn.request("POST", "/create", body=bodies[i], headers={"Content-Type": "application/json"})
            response = conn.getresponse()
            data = response.read()
            if response.status != 200:
                errors.append((response.status, data[:200].decode(errors="replace")))
            else:
                jobs[i] = json.loads(data)["PodJID"]
        conn.close()

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    result = {"pods": n, "concurrency": concurrency, "seconds": elapsed, "pods_per_second": n / elapsed,
              "errors": len(errors), "first_errors": errors[:3], "uids": uids,
              "jobs": [j for j in jobs if j is not None]}
    json.dump(result, open(out, "w"))
    print(f"created {n - len(errors)}/{n} pods in {elapsed:.2f} s: {n / elapsed:.0f} pods/s ({len(errors)} errors)")


def status(url, uids_file, rounds, out):
    uids = json.load(open(uids_file))["uids"]
    body = json.dumps([{"metadata": {"uid": u, "name": "", "namespace": "bench"}} for u in uids]).encode()
    conn = connection(url)
    times = []
    count = 0
    for _ in range(rounds):
        start = time.perf_counter()
        conn.request("GET", "/status", body=body, headers={"Content-Type": "application/json"})
        response = conn.getresponse()
        data = response.read()
        times.append((time.perf_counter() - start) * 1000)
        count = len(json.loads(data))
    times.sort()
    result = {"pods": len(uids), "answered": count, "rounds": rounds,
              "p50_ms": statistics.median(times), "p95_ms": times[int(0.95 * (len(times) - 1))],
              "max_ms": times[-1]}
    json.dump(result, open(out, "w"))
    print(f"/status for {count} pods: p50 {result['p50_ms']:.1f} ms, p95 {result['p95_ms']:.1f} ms")


if __name__ == "__main__":
    if len(sys.argv) >= 6 and sys.argv[1] == "create":
        create(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5])
    elif len(sys.argv) >= 6 and sys.argv[1] == "status":
        status(sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5])
    else:
        sys.exit(__doc__)
