#!/usr/bin/python3
"""Benchmark of the docker executor: what `gpuci run --docker` adds per test.

Run through bench/docker/run.sh. Prints figures and ratios; asserts nothing.

Against the private engine of tests/harness/docker.py (dockerd under
BUILD/docker/, a fake NVIDIA hook, the test image), in one invocation,
interleaved over R rounds so that load on the machine hits every side
alike, each side running N tests ONE AFTER ANOTHER (the reference is a
sequential loop of `docker run`, so gpuci must not run containers side by
side either, or its parallelism would hide its per-test cost):

  bare true     N x `docker run --rm IMAGE true`: the reference, a
                container's start and removal alone.
  bare test     N x `docker run --rm -v R:R -w R IMAGE python tests/test_K.py`:
                the very test gpuci runs, without gpuci (python's start-up
                in the container included, as on gpuci's side).
  gpuci         `gpuci run --docker IMAGE --docker-setup '' --gpus 8
                --cpu-jobs 1` on a workflow of N tests of num_gpus 0: CPU-only
                tests one at a time, each container without --gpus, as the
                bare reference.
  bare --gpus   `bare test` with --gpus "device=0": through the (fake) NVIDIA
                runtime hook, as gpuci's 1-GPU containers.
  gpuci 1 GPU   the same workflow with num_gpus 1 on `--gpus 1`: the one
                GPU's lock makes the tests run one after another, each under a
                lease, its container with --gpus "device=0".

Each test writes time.time() at its start and end to out/test_K.json in the
repository (mounted at the same path; host and container share the clock).
Per test, on gpuci's side, against the history database's row of the
attempt (started_at: when gpuci started the `docker run` client; duration:
until it reaped it): start = test start - started_at (the container's start
as gpuci sees it), tail = started_at + duration - test end (the container's
removal), gap = from one test's end to the next one's start_at (gpuci's own
scheduling). On the bare side, start and tail are measured around the
`docker run` client the same way. Medians over all tests of all rounds.
"""
import argparse
import json
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "harness"))
import docker as harness  # noqa: E402  (tests/harness/docker.py)

WORKFLOW = """\
name: bench
on: {{workflow_dispatch: {{}}}}
jobs:
  tests:
    runs-on: self-hosted
    strategy:
      matrix:
        info: {matrix}
    steps:
      - run: echo
"""

TEST = """\
import json, os, sys, time
t = time.time()
name = os.path.basename(sys.argv[0])
with open(os.path.join("out", name + ".json"), "w") as f:
    json.dump({"start": t, "nvidia": os.environ.get("NVIDIA_VISIBLE_DEVICES"),
               "end": time.time()}, f)
"""


def make_repo(tmp, n):
    root = os.path.realpath(os.path.join(tmp, "repo"))
    wfdir = os.path.join(root, ".github", "workflows")
    os.makedirs(wfdir)
    os.makedirs(os.path.join(root, "tests"))
    os.makedirs(os.path.join(root, "out"))
    for gpus, name in ((0, "cpu.yml"), (1, "gpu.yml")):
        entries = [{"test_file": f"test_{k}.py", "num_gpus": gpus} for k in range(n)]
        with open(os.path.join(wfdir, name), "w") as f:
            f.write(WORKFLOW.format(matrix=json.dumps(entries)))
    for k in range(n):
        with open(os.path.join(root, "tests", f"test_{k}.py"), "w") as f:
            f.write(TEST)
    return root


def clear_out(root):
    out = os.path.join(root, "out")
    for f in os.listdir(out):
        os.unlink(os.path.join(out, f))


def read_out(root, k):
    with open(os.path.join(root, "out", f"test_{k}.py.json")) as f:
        return json.load(f)


def bare(eng, root, n, what):
    """N sequential `docker run`s; returns (wall, [start], [tail]) (none for 'true')."""
    clear_out(root)
    base = [eng.cli, "run", "--rm"]
    if what == "gpus":
        base += ["--gpus", '"device=0"']
    starts, tails = [], []
    t0 = time.monotonic()
    for k in range(n):
        if what in ("test", "gpus"):
            argv = base + ["-v", f"{root}:{root}", "-w", root, eng.image, "python",
                           f"tests/test_{k}.py"]
        else:
            argv = base + [eng.image, "true"]
        w0 = time.time()
        r = subprocess.run(argv, env=eng.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True, timeout=300)
        w1 = time.time()
        if r.returncode != 0:
            sys.exit(f"bench: {' '.join(argv)}: exit {r.returncode}: {r.stderr}")
        if what in ("test", "gpus"):
            got = read_out(root, k)
            starts.append(got["start"] - w0)
            tails.append(w1 - got["end"])
    return time.monotonic() - t0, starts, tails


def run_gpuci(gpuci, eng, root, tmp, n, gpus, i):
    """One sequential `gpuci run --docker`; returns (wall, [start], [tail], [gap])."""
    clear_out(root)
    tag = f"{'gpu' if gpus else 'cpu'}{i}"
    locks = os.path.join(tmp, "locks-" + tag)
    os.mkdir(locks)
    history = os.path.join(tmp, f"history-{tag}.db")
    wf = os.path.join(root, ".github", "workflows", "gpu.yml" if gpus else "cpu.yml")
    argv = [gpuci, "run", "--workflow", wf, "--all", "--docker", eng.image,
            "--docker-setup", "", "--lock-path-pattern", os.path.join(locks, "gpu_{gpu_id}.lock"),
            "--history", history]
    argv += ["--gpus", "1"] if gpus else ["--gpus", "8", "--cpu-jobs", "1"]
    env = dict(eng.env, GPUCI_NVML="")  # simulated GPUs: no readiness check on real ones
    env["PATH"] = os.path.dirname(eng.cli) + os.pathsep + env.get("PATH", "")
    for k in list(env):
        if k.startswith("GITHUB_"):
            del env[k]
    t0 = time.monotonic()
    r = subprocess.run(argv, cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True, timeout=900)
    took = time.monotonic() - t0
    if r.returncode != 0:
        sys.exit(f"bench: gpuci run failed ({r.returncode}):\n{r.stdout[-3000:]}\n{r.stderr}")
    db = sqlite3.connect(history)
    rows = db.execute("SELECT test_file, started_at, duration, status FROM results "
                      "ORDER BY started_at").fetchall()
    db.close()
    if len(rows) != n or any(s != "passed" for *_, s in rows):
        sys.exit(f"bench: gpuci's history has {len(rows)} rows, not {n} passed ones: {rows}")
    starts, tails, gaps = [], [], []
    prev_end = None
    for test_file, started, duration, _ in rows:
        got = read_out(root, int(test_file[len("test_"):-len(".py")]))
        if gpus and got["nvidia"] != "0":
            sys.exit(f"bench: {test_file} saw NVIDIA_VISIBLE_DEVICES={got['nvidia']!r}, not '0'")
        starts.append(got["start"] - started)
        tails.append(started + duration - got["end"])
        if prev_end is not None:
            gaps.append(started - prev_end)
        prev_end = started + duration
    return took, starts, tails, gaps


def ms(values):
    return f"{1000 * statistics.median(values):6.1f} ms" if values else "     -   "


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gpuci", required=True)
    ap.add_argument("--build", required=True, help="the build dir: the engine goes in BUILD/docker")
    ap.add_argument("--tests", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args()
    if a.tests < 1 or a.rounds < 1:
        sys.exit("bench: --tests and --rounds must be at least 1")
    gpuci = os.path.abspath(a.gpuci)
    if not os.access(gpuci, os.X_OK):
        sys.exit(f"bench: no gpuci at {gpuci} (build it, or give --gpuci PATH)")
    try:
        eng = harness.Engine.start(a.build)
    except harness.EngineUnavailable as e:
        print(f"bench/docker: SKIPPED: no private docker engine: {e}")
        return 77
    tmp = tempfile.mkdtemp(prefix="gpuci-bench-docker.")
    sides = ["bare true", "bare test", "gpuci", "bare --gpus", "gpuci 1 GPU"]
    wall = {s: [] for s in sides}
    start = {s: [] for s in sides}
    tail = {s: [] for s in sides}
    gap = {s: [] for s in sides}
    try:
        root = make_repo(tmp, a.tests)
        eng.docker("run", "--rm", eng.image, "true")  # the first container after the import
        for i in range(a.rounds):  # interleaved, so load drifts hit all alike
            for side in sides:
                if side.startswith("gpuci"):
                    w, st, tl, gp = run_gpuci(gpuci, eng, root, tmp, a.tests,
                                              side == "gpuci 1 GPU", i)
                    gap[side] += gp
                else:
                    w, st, tl = bare(eng, root, a.tests, side.split()[1].lstrip("-"))
                wall[side].append(w)
                start[side] += st
                tail[side] += tl
        left = eng.docker("ps", "-aq").stdout.split()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        eng.stop()
    med = {s: statistics.median(wall[s]) for s in sides}
    n = a.tests
    labels = {
        "bare true": "docker run --rm IMAGE true",
        "bare test": "docker run --rm -v -w IMAGE python T",
        "gpuci": "gpuci run --docker, num_gpus 0",
        "bare --gpus": "docker run --gpus device=0 ... python T",
        "gpuci 1 GPU": "gpuci run --docker, 1 GPU, --gpus 1",
    }
    print(f"{n} tests one after another, {a.rounds} rounds (median), engine {eng.storage}, "
          f"image {eng.image}:")
    print(f"  {'':40} {'wall':>9} {'per test':>12}   {'start':>9}  {'tail':>9}  {'gap':>9}"
          f"   rounds")
    for s in sides:
        print(f"  {labels[s]:40} {med[s]:7.3f} s {1000 * med[s] / n:7.1f} ms/test"
              f"  {ms(start[s])} {ms(tail[s])} {ms(gap[s])}"
              f"   {' '.join(f'{v:.3f}' for v in wall[s])}")
    print(f"  ratio gpuci/bare true            {med['gpuci'] / med['bare true']:6.2f}x"
          f"   ({1000 * (med['gpuci'] - med['bare true']) / n:+.1f} ms/test: gpuci, "
          f"its options and the test's python)")
    print(f"  ratio gpuci/bare test            {med['gpuci'] / med['bare test']:6.2f}x"
          f"   ({1000 * (med['gpuci'] - med['bare test']) / n:+.1f} ms/test: the same "
          f"test; gpuci's own cost)")
    print(f"  ratio gpuci 1 GPU/bare --gpus    {med['gpuci 1 GPU'] / med['bare --gpus']:6.2f}x"
          f"   ({1000 * (med['gpuci 1 GPU'] - med['bare --gpus']) / n:+.1f} ms/test: with "
          f"the hook on both; gpuci's lease)")
    print("  start: the test's first line - the docker run client's spawn; tail: its exit - "
          "the test's last line;")
    print("  gap: gpuci's reaping of one test to its spawn of the next")
    if left:
        print(f"  NOTE: containers left on the engine after the runs: {left}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
