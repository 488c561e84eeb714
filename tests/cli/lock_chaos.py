#!/usr/bin/env python3
"""Chaos test of `gpuci lock`: its files deleted and made anew under it.

Usage: python3 tests/cli/lock_chaos.py PATH/TO/gpuci

200 random requests (a mix of --count 1-8 and --devices subsets) against 8
simulated GPUs, lock files in a private temporary directory, at most 16 in
flight, while a chaos thread deletes, at random moments, a GPU's lock file or
the queue file, and sometimes creates an empty one in its place at once.
Every job's command records in a witness file outside the lock directory
its GPUs and CLOCK_MONOTONIC times when it starts and before it ends (so a
record's interval lies inside the time the job held its GPUs). Asserts:

  * no GPU was held by two live jobs at once (no two intervals of different
    jobs on one GPU overlap);
  * every request finished (exit 0, given what it asked for) or timed out
    with the reason on stderr, and few timed out (a deadlock makes many);
  * no job printed the loud WARNING of a GPU that lost its lock;
  * at the end `lock status` accounts for every GPU: all 8 free, nobody
    waiting, and every lock file can be locked again.

Environment: LOCK_CHAOS_SEED (printed on every run), LOCK_CHAOS_REQUESTS,
LOCK_CHAOS_WATCHDOG (seconds, default 90), LOCK_CHAOS_VERBOSE (the slowest
requests), LOCK_CHAOS_GDB (backtraces of requests stuck at the watchdog).
Exit status 0 on success, 1 on failure (reasons on stderr).
"""
import collections
import fcntl
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time

TOTAL = 8
CONCURRENCY = 16
TIMEOUT_S = 25  # --timeout of each request
MAX_TIMED_OUT = 0.05  # fraction of requests allowed to time out
WATCHDOG_S = int(os.environ.get("LOCK_CHAOS_WATCHDOG", "90"))

JOB = r"""
import sys, time, os
rec, hold = sys.argv[1], float(sys.argv[2])
gpus = os.environ.get("CUDA_VISIBLE_DEVICES", "")
def put(kind):
    fd = os.open(rec, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    os.write(fd, f"{kind} {os.getpid()} {gpus} {time.monotonic_ns()}\n".encode())
    os.close(fd)
put("S")
time.sleep(hold)
put("E")
"""


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: lock_chaos.py PATH/TO/gpuci")
    gpuci = os.path.abspath(sys.argv[1])
    seed = int(os.environ.get("LOCK_CHAOS_SEED", random.randrange(1 << 30)))
    nreq = int(os.environ.get("LOCK_CHAOS_REQUESTS", "200"))
    print(f"lock_chaos: seed {seed}, {nreq} requests", flush=True)
    rnd = random.Random(seed)
    top = tempfile.mkdtemp(prefix="gpuci-chaos-")
    locks = os.path.join(top, "locks")
    os.mkdir(locks)
    pattern = os.path.join(locks, "gpu_{gpu_id}.lock")
    witness = os.path.join(top, "witness")
    failures = []
    stop = threading.Event()
    chaos_log = []

    def chaos():
        r = random.Random(seed + 1)
        while not stop.wait(r.uniform(0.02, 0.15)):
            name = "queue" if r.random() < 0.4 else str(r.randrange(TOTAL))
            path = pattern.format(gpu_id=name)
            try:
                os.unlink(path)
            except FileNotFoundError:
                continue
            if r.random() < 0.5:
                open(path, "a").close()
            chaos_log.append(name)

    reqs = []
    for i in range(nreq):
        if rnd.random() < 0.6:
            want = ["--count", str(rnd.randint(1, TOTAL))]
        else:
            devs = rnd.sample(range(TOTAL), rnd.randint(1, 4))
            want = ["--devices", ",".join(map(str, devs))]
        reqs.append((want, rnd.uniform(0, 0.1)))

    results = [None] * nreq
    t_start = time.monotonic()
    th = threading.Thread(target=chaos, daemon=True)
    th.start()
    running = {}
    began = {}
    took = {}
    nxt = 0
    try:
        while nxt < nreq or running:
            if time.monotonic() - t_start > WATCHDOG_S:
                failures.append(f"watchdog: {len(running)} requests still running after "
                                f"{WATCHDOG_S}s")
                st = subprocess.run([gpuci, "lock", "status", "--total-gpus", str(TOTAL),
                                     "--lock-path-pattern", pattern], capture_output=True,
                                    text=True).stdout
                failures.append("status then:\n" + st + "files: " + " ".join(sorted(os.listdir(locks))))
                for i, p in running.items():
                    threads = []
                    for t in os.listdir(f"/proc/{p.pid}/task"):
                        with open(f"/proc/{p.pid}/task/{t}/wchan") as f:
                            threads.append(f.read())
                    failures.append(f"stuck: request {i} {reqs[i][0]} pid {p.pid}: {threads}")
                    if os.environ.get("LOCK_CHAOS_GDB"):
                        bt = subprocess.run(["gdb", "-p", str(p.pid), "-batch", "-ex",
                                             "thread apply all bt"], capture_output=True,
                                            text=True).stdout
                        failures.append(bt[-3000:])
                    p.kill()
                break
            while nxt < nreq and len(running) < CONCURRENCY:
                want, hold = reqs[nxt]
                argv = [gpuci, "lock", "--total-gpus", str(TOTAL), "--lock-path-pattern", pattern,
                        "--timeout", str(TIMEOUT_S), *want, "--", sys.executable, "-I", "-S",
                        "-c", JOB, witness, f"{hold:.3f}"]
                began[nxt] = time.monotonic()
                running[nxt] = subprocess.Popen(argv, stdout=subprocess.DEVNULL,
                                                stderr=subprocess.PIPE, text=True)
                nxt += 1
            for i, p in list(running.items()):
                if p.poll() is not None:
                    results[i] = (p.returncode, p.stderr.read())
                    took[i] = time.monotonic() - began[i]
                    p.stderr.close()
                    del running[i]
            time.sleep(0.005)
    finally:
        stop.set()
        th.join()
    elapsed = time.monotonic() - t_start

    # Every request finished or timed out saying so.
    timed_out = 0
    for i, res in enumerate(results):
        if res is None:
            continue
        rc, err = res
        if "WARNING" in err:
            failures.append(f"request {i} {reqs[i][0]}: {err.strip()}")
        if rc == 75 and "timed out after" in err:
            timed_out += 1
            print(f"lock_chaos: request {i} {reqs[i][0]} timed out: {err.strip()}", flush=True)
        elif rc != 0:
            failures.append(f"request {i} {reqs[i][0]} exited {rc}: {err.strip()}")
    if timed_out > MAX_TIMED_OUT * nreq:
        failures.append(f"{timed_out} of {nreq} requests timed out (a deadlock?)")

    if os.environ.get("LOCK_CHAOS_VERBOSE"):
        for i in sorted(took, key=took.get)[-5:]:
            print(f"lock_chaos: request {i} {reqs[i][0]} took {took[i]:.1f}s: "
                  f"{results[i][1].strip()}")

    # No GPU held by two live jobs at once.
    spans = collections.defaultdict(dict)
    try:
        with open(witness) as f:
            lines = f.read().split("\n")
    except FileNotFoundError:
        lines = []
    for line in lines:
        if not line:
            continue
        kind, pid, gpus, t = line.split(" ")
        spans[pid].setdefault("gpus", gpus)
        spans[pid][kind] = int(t)
    per_gpu = collections.defaultdict(list)
    for pid, s in spans.items():
        if "S" not in s or "E" not in s:
            failures.append(f"job {pid} recorded {sorted(s)} only")
            continue
        for g in s["gpus"].split(","):
            per_gpu[int(g)].append((s["S"], s["E"], pid))
    overlaps = 0
    for g, iv in per_gpu.items():
        iv.sort()
        for (s1, e1, p1), (s2, e2, p2) in zip(iv, iv[1:]):
            if s2 < e1:
                overlaps += 1
                failures.append(f"GPU {g}: jobs {p1} and {p2} held it at once "
                                f"({(e1 - s2) / 1e6:.1f} ms)")
    done = sum(1 for r in results if r and r[0] == 0)
    if len(spans) != done:
        failures.append(f"{done} requests succeeded but {len(spans)} jobs recorded")

    # Status accounts for every GPU.
    st = subprocess.run([gpuci, "lock", "status", "--json", "--total-gpus", str(TOTAL),
                         "--lock-path-pattern", pattern], capture_output=True, text=True)
    try:
        s = json.loads(st.stdout)
        states = [g["state"] for g in s["gpus"]]
        if states != ["free"] * TOTAL or s["waiters"]:
            failures.append(f"status at the end: {states}, {len(s['waiters'])} waiting")
    except ValueError:
        failures.append(f"status --json: {st.stdout!r} {st.stderr!r}")
    for g in range(TOTAL):
        path = pattern.format(gpu_id=g)
        if os.path.exists(path):
            with open(path, "a") as f:
                try:
                    fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    failures.append(f"GPU {g} is still locked at the end")

    print(f"lock_chaos: {done} ran, {timed_out} timed out, {len(chaos_log)} files deleted "
          f"({chaos_log.count('queue')} queue), {overlaps} overlaps, {elapsed:.1f}s", flush=True)
    shutil.rmtree(top, ignore_errors=True)
    if failures:
        for f in failures[:40]:
            print("lock_chaos: FAIL: " + f, file=sys.stderr)
        print(f"lock_chaos: reproduce with LOCK_CHAOS_SEED={seed}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
