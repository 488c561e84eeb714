#!/usr/bin/python3
"""Benchmark of `gpuci run --slurm`: a suite on one Slurm node of 8 GPUs.

Run through bench/sched/run.sh (after bench.py's lines) or by itself:
    slurm.py GPUCI [--scale F] [--reps N] [--suite NAME]... [--keep]

Starts a private one-node cluster (tests/harness/slurm.py: 8 fake GPUs,
loopback, batch_sched_delay=0 and bf_interval=1, as a CI cluster would be
tuned), generates bench.py's suites, and runs each with `gpuci run --slurm`
cold (no history: 60-minute limits, guessed order) and warm (the history's
durations and p90 limits). Makespan is wall clock from spawn to exit; the
lower bound is bench.py's, max(sum(gpus * duration) / 8, longest). Slurm
starts a pending job only on a scheduler pass (about once a second here),
so each wave of tests costs about a second: the target is 1.15x, and the
durations are bench.py's x6 by default (--scale; the mix's bound 60 s, its
tests 3-28 s), as a second per wave on tests of 0.5-5 s would measure the
scheduler pass and not the placement. Needs root (the harness's daemons);
prints the reason and exits 0 otherwise.
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "harness"))
import bench  # noqa: E402  (bench/sched/bench.py: the suites, the repository, the checks)
import slurm as harness  # noqa: E402  (tests/harness/slurm.py)

TARGET = 1.15


def run(gpuci, cluster, repo, wf, tmp, tag, tests, timeout):
    bench.clear_record(repo)
    env = bench.child_env()
    env.update(cluster.env)
    argv = [gpuci, "run", "--slurm", "--workflow", wf, "--label", bench.LABEL,
            "--history", os.path.join(tmp, "history.db"), "--python", bench.PY,
            "--lock-path-pattern", os.path.join(tmp, "locks", "{gpu_id}.lock")]
    log_path = os.path.join(tmp, f"gpuci-{tag}.log")
    t0 = time.monotonic()
    with open(log_path, "wb") as log:
        p = subprocess.Popen(argv, cwd=repo, env=env, stdin=subprocess.DEVNULL, stdout=log,
                             stderr=subprocess.STDOUT, start_new_session=True)
        try:
            rc = p.wait(timeout)
        except subprocess.TimeoutExpired:
            bench.kill_group(p)
            p.wait()
            rc = None
    t1 = time.monotonic()
    if rc != 0:
        with open(log_path, errors="replace") as f:
            tail = f.read()[-600:].strip()
        bench.problem(f"gpuci --slurm {tag}: exit {rc}: ...{tail}")
    recs = bench.read_record(repo)
    bench.check_records(f"gpuci --slurm {tag}", recs, len(tests))
    return bench.Result("gpuci --slurm", t1 - t0, recs, t0, t1)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("gpuci")
    ap.add_argument("--scale", type=float, default=6.0)
    ap.add_argument("--reps", type=int, default=1)
    ap.add_argument("--suite", action="append", default=None,
                    help="only suites whose name contains this (default: mix)")
    ap.add_argument("--keep", action="store_true")
    opts = ap.parse_args()
    gpuci = os.path.abspath(opts.gpuci)
    want = opts.suite or ["mix"]
    suites = [s for s in bench.SUITES if any(x in s[0] for x in want)]
    tmp_root = tempfile.mkdtemp(prefix="gpuci-sched-slurm.")
    try:
        cluster = harness.Cluster.start(tmp_root, gpus=bench.TOTAL)
    except harness.ClusterUnavailable as e:
        print(f"== Slurm: skipped: no private Slurm cluster: {e}")
        shutil.rmtree(tmp_root, ignore_errors=True)
        return 0
    rows = []
    try:
        print(f"Slurm: one node of {bench.TOTAL} GPUs (tests/harness/slurm.py, "
              f"SchedulerParameters=batch_sched_delay=0,bf_interval=1); "
              f"gpuci run --slurm, durations x{opts.scale:g}")
        for name, what, unit, shape in suites:
            tests = [(g, u * unit * opts.scale) for g, u in shape]
            bound = bench.lower_bound(tests)
            tmp = os.path.join(tmp_root, re.sub(r"[^A-Za-z0-9]+", "-", name).strip("-"))
            repo = os.path.join(tmp, "repo")
            wf = bench.make_repo(repo, tests)
            os.makedirs(os.path.join(tmp, "locks"))
            print(f"== {name} on Slurm: {len(tests)} tests, lower bound {bound:.1f} s",
                  flush=True)
            timeout = 10 * bound + 120
            cold = run(gpuci, cluster, repo, wf, tmp, "cold", tests, timeout)
            print(bench.fmt_run("slurm cold", cold, bound), flush=True)
            warm = []
            for i in range(opts.reps):
                w = run(gpuci, cluster, repo, wf, tmp, f"warm{i + 1}", tests, timeout)
                warm.append(w)
                print(bench.fmt_run(f"slurm warm {i + 1}", w, bound), flush=True)
            rows.append((name, bound, bench.median_run(warm)))
            if opts.keep:
                print(f"    kept {tmp}")
    finally:
        cluster.stop()
        if not opts.keep:
            shutil.rmtree(tmp_root, ignore_errors=True)
    for name, bound, w in rows:
        ratio = w.makespan / bound
        verdict = "met" if ratio <= TARGET else f"MISSED by {ratio / TARGET * 100 - 100:.0f}%"
        print(f"Slurm, 1 node x {bench.TOTAL} GPUs, {name}: {w.makespan:.1f} s, lower bound "
              f"{bound:.1f} s, {ratio:.2f}x (target {TARGET:.2f}x: {verdict})")
    if bench.PROBLEMS:
        print(f"{len(bench.PROBLEMS)} problem(s) above")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
