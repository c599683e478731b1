#!/usr/bin/env python3
"""A stand-in for one HTCondor access point and execute point, for dte-agent's conformance
tests on machines where HTCondor cannot be installed (Debian 12 ships no HTCondor daemons).

It is NOT HTCondor: it implements only the command-line surface dte-agent's HTCondorCLI
backend uses (the submit description itself is read by HTCondor's own parser from its Python
bindings), with HTCondor's output formats (`condor_submit -terse`, `-json` ads, JobStatus
and HoldReasonCode numbers): condor_submit, condor_q, condor_history, condor_rm,
condor_release and condor_status. Jobs run at once as local processes (vanilla universe,
shared filesystem), `hold = true` jobs wait for condor_release, `allowed_job_duration` puts
an overrunning job on hold with code 46. The queue lives in ./state next to this file, so a
test copies the folder to get its own pool.
"""
import fcntl
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.realpath(__file__))
STATE = os.path.join(HERE, "state")
QUEUE = os.path.join(STATE, "queue")
HISTORY = os.path.join(STATE, "history")
TOTAL_CPUS = os.cpu_count() or 1
TOTAL_MEMORY = 4096


def setup():
    os.makedirs(QUEUE, exist_ok=True)
    os.makedirs(HISTORY, exist_ok=True)


class Lock:
    def __enter__(self):
        self.handle = open(os.path.join(STATE, "lock"), "a+")
        fcntl.flock(self.handle, fcntl.LOCK_EX)
        return self

    def __exit__(self, *args):
        fcntl.flock(self.handle, fcntl.LOCK_UN)
        self.handle.close()


def path(folder, cluster):
    return os.path.join(folder, "%d.json" % cluster)


def load(folder, cluster):
    try:
        with open(path(folder, cluster)) as f:
            return json.load(f)
    except FileNotFoundError:
        return None


def save(folder, ad):
    target = path(folder, ad["ClusterId"])
    with open(target + ".tmp", "w") as f:
        json.dump(ad, f)
    os.replace(target + ".tmp", target)


def retire(ad):
    """Moves a job that left the queue to the history."""
    save(HISTORY, ad)
    try:
        os.remove(path(QUEUE, ad["ClusterId"]))
    except FileNotFoundError:
        pass


def all_ads(folder):
    ads = []
    for name in sorted(os.listdir(folder)):
        if name.endswith(".json"):
            with open(os.path.join(folder, name)) as f:
                ads.append(json.load(f))
    return ads


def parse_environment(value):
    """`"K='v' K2='a b'"` (the submit language's "new syntax", after macro expansion) into a
    dict: the whole value in double quotes, a double quote inside doubled; pairs separated by
    spaces; a value in single quotes may hold spaces, a single quote inside doubled."""
    value = value.strip()
    if value.startswith('"') and value.endswith('"'):
        value = value[1:-1].replace('""', '"')
    env = {}
    for key, quoted, bare in re.findall(r"(\w+)=(?:'((?:[^']|'')*)'|(\S*))", value):
        env[key] = quoted.replace("''", "'") if quoted or not bare else bare
    return env


def read_submit_file(name):
    """The submit description as HTCondor reads it: parsed and macro-expanded by HTCondor's own
    submit-language parser (htcondor2.Submit, from the PyPI wheel scripts/install-deps.sh
    installs); `+Attr`/`MY.Attr` values are evaluated by its ClassAd library."""
    try:
        import classad2
        import htcondor2
    except ImportError:
        sys.exit("fake condor: the htcondor Python bindings are missing (scripts/install-deps.sh installs them)")
    with open(name) as f:
        description = htcondor2.Submit(f.read())
    settings, custom = {}, {}
    for key in description.keys():
        value = description.expand(key)
        if key.startswith("MY."):
            custom[key[3:]] = classad2.ExprTree(value).eval()
        else:
            settings[key.lower()] = value
    return settings, custom


def submit(args):
    terse = "-terse" in args
    files = [a for a in args if not a.startswith("-")]
    if len(files) != 1:
        sys.exit("condor_submit: one submit file expected")
    settings, custom = read_submit_file(files[0])
    for required in ("executable", "initialdir", "output", "error"):
        if required not in settings:
            sys.exit("condor_submit: %s is not set" % required)
    with Lock():
        counter = os.path.join(STATE, "next")
        cluster = int(open(counter).read()) if os.path.exists(counter) else 1
        with open(counter, "w") as f:
            f.write(str(cluster + 1))
        now = int(time.time())
        held = settings.get("hold", "false").lower() == "true"
        ad = dict(custom)
        ad.update({
            "ClusterId": cluster, "ProcId": 0, "Owner": os.environ.get("USER", "nobody"),
            "Cmd": settings["executable"], "Iwd": settings["initialdir"], "Out": settings["output"],
            "Err": settings["error"], "RequestCpus": int(settings.get("request_cpus", "1")),
            "RequestMemory": int(settings.get("request_memory", "128")),
            "RequestGPUs": int(settings.get("request_gpus", "0")),
            "JobBatchName": settings.get("batch_name", ""), "QDate": now, "EnteredCurrentStatus": now,
            "JobStatus": 5 if held else 1, "FakeEnvironment": parse_environment(settings.get("environment", "")),
        })
        if "allowed_job_duration" in settings:
            ad["AllowedJobDuration"] = int(settings["allowed_job_duration"])
        if held:
            ad.update({"HoldReasonCode": 15, "HoldReason": "submitted on hold at user's request"})
        save(QUEUE, ad)
    if not held:
        start(cluster)
    print("%d.0 - %d.0" % (cluster, cluster) if terse else "1 job(s) submitted to cluster %d." % cluster)


def start(cluster):
    subprocess.Popen([sys.executable, os.path.realpath(__file__), "_run", str(cluster)],
                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                     start_new_session=True)


def run_job(cluster):
    """The execute point: runs one job and records how it ended."""
    with Lock():
        ad = load(QUEUE, cluster)
        if ad is None or ad["JobStatus"] != 1:
            return
        out = open(ad["Out"], "w")
        err = open(ad["Err"], "w")
        child = subprocess.Popen([ad["Cmd"]], cwd=ad["Iwd"], env=ad["FakeEnvironment"], stdin=subprocess.DEVNULL,
                                 stdout=out, stderr=err, start_new_session=True)
        ad.update({"JobStatus": 2, "JobCurrentStartDate": int(time.time()), "EnteredCurrentStatus": int(time.time()),
                   "FakePid": child.pid})
        save(QUEUE, ad)
    limit = ad.get("AllowedJobDuration")
    try:
        code = child.wait(timeout=limit)
        overran = False
    except subprocess.TimeoutExpired:
        os.killpg(child.pid, signal.SIGKILL)
        code = child.wait()
        overran = True
    with Lock():
        ad = load(QUEUE, cluster)
        if ad is None or ad["JobStatus"] != 2:
            return  # removed meanwhile
        now = int(time.time())
        ad.pop("FakePid", None)
        ad["EnteredCurrentStatus"] = now
        if overran:
            ad.update({"JobStatus": 5, "HoldReasonCode": 46, "HoldReason": "The job's allowed duration was exceeded."})
            save(QUEUE, ad)
            return
        ad.update({"JobStatus": 4, "CompletionDate": now})
        if code < 0:
            ad.update({"ExitBySignal": True, "ExitSignal": -code})
        else:
            ad.update({"ExitBySignal": False, "ExitCode": code})
        retire(ad)


def options(args):
    """(-json, attributes, constraint, cluster ids) of condor_q/condor_history."""
    attributes, constraint, ids, as_json = None, None, [], False
    i = 0
    while i < len(args):
        a = args[i]
        if a == "-json":
            as_json = True
        elif a in ("-attributes", "-af"):
            attributes = args[i + 1].split(",")
            i += 1
        elif a == "-constraint":
            constraint = args[i + 1]
            i += 1
        elif a in ("-allusers", "-nobatch"):
            pass
        elif a.startswith("-"):
            sys.exit("unsupported option %s" % a)
        else:
            ids.append(int(a.split(".")[0]))
        i += 1
    return as_json, attributes, constraint, ids


def matcher(constraint):
    """The constraint forms dte-agent sends; anything else is refused, not guessed."""
    if constraint is None:
        return lambda ad: True
    m = re.fullmatch(r'substr\(DTEComment, 0, (\d+)\) =\?= "((?:[^"\\]|\\.)*)"', constraint)
    if m:
        prefix = re.sub(r'\\(.)', r'\1', m.group(2))
        return lambda ad: isinstance(ad.get("DTEComment"), str) and ad["DTEComment"][:int(m.group(1))] == prefix
    if re.fullmatch(r"ClusterId == \d+( \|\| ClusterId == \d+)*", constraint):
        wanted = {int(x) for x in re.findall(r"\d+", constraint)}
        return lambda ad: ad["ClusterId"] in wanted
    sys.exit("fake condor: unsupported constraint %r" % constraint)


def show(folder, args):
    as_json, attributes, constraint, ids = options(args)
    if not as_json:
        sys.exit("fake condor: only -json output is implemented")
    match = matcher(constraint)
    with Lock():
        ads = [ad for ad in all_ads(folder) if match(ad) and (not ids or ad["ClusterId"] in ids)]
    if attributes:
        ads = [{k: ad[k] for k in attributes if k in ad} for ad in ads]
    if ads:  # like condor_q, nothing at all when no job matches
        print(json.dumps(ads, indent=2))


def remove(args):
    ids = [int(a.split(".")[0]) for a in args if not a.startswith("-")]
    missing = []
    with Lock():
        for cluster in ids:
            ad = load(QUEUE, cluster)
            if ad is None:
                missing.append(cluster)
                continue
            if "FakePid" in ad:
                try:
                    os.killpg(ad.pop("FakePid"), signal.SIGTERM)
                except ProcessLookupError:
                    pass
            ad.update({"JobStatus": 3, "EnteredCurrentStatus": int(time.time()),
                       "RemoveReason": "via condor_rm (by user %s)" % os.environ.get("USER", "nobody")})
            retire(ad)
            print("Job %d.0 marked for removal" % cluster)
    for cluster in missing:
        print("Job %d.0 not found" % cluster, file=sys.stderr)
    sys.exit(1 if missing else 0)


def release(args):
    ids = [int(a.split(".")[0]) for a in args if not a.startswith("-")]
    started, failed = [], False
    with Lock():
        for cluster in ids:
            ad = load(QUEUE, cluster)
            if ad is None or ad["JobStatus"] != 5:
                print("Job %d.0 not held to be released" % cluster, file=sys.stderr)
                failed = True
                continue
            for key in ("HoldReasonCode", "HoldReason"):
                ad.pop(key, None)
            ad.update({"JobStatus": 1, "EnteredCurrentStatus": int(time.time())})
            save(QUEUE, ad)
            started.append(cluster)
            print("Job %d.0 released" % cluster)
    for cluster in started:
        start(cluster)
    sys.exit(1 if failed else 0)


def status(args):
    with Lock():
        running = [ad for ad in all_ads(QUEUE) if ad["JobStatus"] == 2]
    cpus = TOTAL_CPUS - sum(ad["RequestCpus"] for ad in running)
    memory = TOTAL_MEMORY - sum(ad["RequestMemory"] for ad in running)
    slot = {"Machine": socket.gethostname(), "State": "Unclaimed", "SlotType": "Partitionable",
            "PartitionableSlot": True, "Cpus": max(0, cpus), "Memory": max(0, memory), "GPUs": 0,
            "TotalSlotCpus": TOTAL_CPUS, "TotalSlotMemory": TOTAL_MEMORY, "TotalSlotGPUs": 0}
    print(json.dumps([slot], indent=2))


def main():
    command, args = sys.argv[1], sys.argv[2:]
    if command != "_expand":  # reading a description needs no pool
        setup()
    if command == "_run":
        run_job(int(args[0]))
    elif command == "_expand":
        # For tests: what HTCondor's parser makes of a submit description, as JSON.
        settings, custom = read_submit_file(args[0])
        print(json.dumps({"settings": settings, "custom": custom,
                          "environment": parse_environment(settings.get("environment", ""))}))
    elif command == "condor_submit":
        submit(args)
    elif command == "condor_q":
        show(QUEUE, args)
    elif command == "condor_history":
        show(HISTORY, args)
    elif command == "condor_rm":
        remove(args)
    elif command == "condor_release":
        release(args)
    elif command == "condor_status":
        status(args)
    else:
        sys.exit("fake condor: unknown command %s" % command)


if __name__ == "__main__":
    main()
