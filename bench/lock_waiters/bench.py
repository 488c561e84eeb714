#!/usr/bin/python3
"""Waiter CPU of `gpuci lock` against the length of the queue.

Run through bench/lock_waiters/run.sh.  Prints figures; asserts nothing.

For each N (default 10, 100, 500): one job holds all GPUs, N requests
`lock --count 1 -- true` queue behind it (all N are in the queue before it is
released), the holder is released and all N run in turn.  The figure is the
user+sys CPU of each waiter process (wait4() rusage, its `true` included), as
the mean over the N waiters, and its ratio to the N=10 run of the same
invocation.  Lock files go in a fresh temp dir (--lock-path-pattern).
"""
import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time


def status(gpuci, pattern, total):
    out = subprocess.run([gpuci, "lock", "status", "--json", "--total-gpus", str(total),
                          "--lock-path-pattern", pattern], capture_output=True, text=True)
    try:
        return json.loads(out.stdout)
    except ValueError:
        return None


def one_run(gpuci, n, total, tmp, gap=0.0):
    d = tempfile.mkdtemp(prefix=f"w{n}-", dir=tmp)
    pattern = os.path.join(d, "gpu_{gpu_id}.lock")
    base = [gpuci, "lock", "-q", "--total-gpus", str(total), "--lock-path-pattern", pattern]
    holder = subprocess.Popen(base + ["--count", str(total), "--", "sleep", "3600"])
    end = time.monotonic() + 30
    while time.monotonic() < end:
        s = status(gpuci, pattern, total)
        if s and all(g["state"] == "held" for g in s["gpus"]):
            break
        time.sleep(0.02)
    pids = []
    devnull = subprocess.DEVNULL
    for _ in range(n):
        p = os.posix_spawn(gpuci, base + ["--count", "1", "--timeout", "600", "--", "true"],
                           os.environ, file_actions=[(os.POSIX_SPAWN_DUP2, os.open(os.devnull, os.O_RDWR), 1)])
        pids.append(p)
        if gap:
            time.sleep(gap)
    end = time.monotonic() + 60 + n * 0.1
    queued = 0
    while time.monotonic() < end:
        s = status(gpuci, pattern, total)
        queued = len(s["waiters"]) if s else 0
        if queued >= n:
            break
        time.sleep(0.05)
    t0 = time.monotonic()
    holder.send_signal(signal.SIGTERM)
    holder.wait()
    cpu, bad = 0.0, 0
    for p in pids:
        _, st, ru = os.wait4(p, 0)
        cpu += ru.ru_utime + ru.ru_stime
        bad += os.waitstatus_to_exitcode(st) != 0
    drain = time.monotonic() - t0
    shutil.rmtree(d, ignore_errors=True)
    return cpu / n, drain, queued, bad


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("gpuci")
    ap.add_argument("--sizes", default="10,100,500")
    ap.add_argument("--reps", type=int, default=3, help="runs per size; the median is shown")
    ap.add_argument("--total", type=int, default=4)
    ap.add_argument("--gap", type=float, default=0.0,
                    help="seconds between two waiters' starts (default 0: all at once)")
    a = ap.parse_args()
    gpuci = os.path.abspath(a.gpuci)
    sizes = [int(x) for x in a.sizes.split(",")]
    tmp = tempfile.mkdtemp(prefix="gpuci-bench-waiters-")
    try:
        rows = []
        for n in sizes:
            runs = sorted(one_run(gpuci, n, a.total, tmp, a.gap) for _ in range(a.reps))
            per, drain, queued, bad = runs[len(runs) // 2]
            rows.append((n, per, drain, queued, bad))
            print(f"  N={n:4d}: {per * 1000:.2f} ms CPU per waiter (median of {a.reps}), "
                  f"{queued}/{n} queued before the release, drained in {drain:.2f} s, "
                  f"{bad} failed", flush=True)
        ref = rows[0][1]
        print(f"\nwaiter CPU (user+sys) per waiter, ratio to N={rows[0][0]} (target ~1.0):")
        for n, per, *_ in rows:
            print(f"  N={n:4d}  {per * 1000:7.2f} ms   x{per / ref:.2f}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
