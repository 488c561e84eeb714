#!/usr/bin/python3
"""Benchmark of `gpuci run` against `xargs -P8` running the same commands.

Run through bench/run/run.sh. Prints figures and the ratio; asserts nothing.

A temporary repository holds a generated workflow of N entries (test_file
tests/test_K.py, num_gpus 1) and N empty test files. `gpuci run --gpus 8`
runs them (a lease of one simulated GPU each, lock files in the temp dir,
history there too, logs under the repository's .gpuci/); the reference is `xargs -P8` running the
very commands gpuci runs (`PYTHON tests/test_K.py`, from the repository
root), with each one's output in a file as gpuci gives each a log (through
`sh -c 'exec ... > LOG'`), and, as a floor, without (`xargs -I{}`: one
fork and exec per test, output shared). With
--python true (the default) a test is a `true`-like zero-second command,
so the figure is gpuci's own cost per test; --python python3 adds the
interpreter's start-up to both sides.

The open-files limit is raised to its hard limit first (ulimit -n, as
printed), to show that no per-test cost grows with it.
"""
import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

WORKFLOW = """\
name: bench
on:
  pull_request:
    types: [labeled]
jobs:
  tests:
    if: contains(github.event.pull_request.labels.*.name, 'run-ci-bench')
    runs-on: self-hosted
    strategy:
      matrix:
        info: {matrix}
    steps:
      - run: echo
"""


def make_repo(tmp, n):
    root = os.path.join(tmp, "repo")
    os.makedirs(os.path.join(root, ".github", "workflows"))
    os.makedirs(os.path.join(root, "tests"))
    entries = [{"test_file": f"test_{k}.py", "num_gpus": 1} for k in range(n)]
    with open(os.path.join(root, ".github", "workflows", "pr-test.yml"), "w") as f:
        f.write(WORKFLOW.format(matrix=json.dumps(entries)))
    for k in range(n):
        with open(os.path.join(root, "tests", f"test_{k}.py"), "w") as f:
            f.write("NUM_GPUS = 1\n")
    return root


def run_gpuci(gpuci, root, tmp, python, i):
    locks = os.path.join(tmp, f"locks{i}")
    os.mkdir(locks)
    args = [gpuci, "run", "--label", "run-ci-bench", "--gpus", "8", "--python", python,
            "--lock-path-pattern", os.path.join(locks, "gpu_{gpu_id}.lock"),
            "--history", os.path.join(tmp, f"history{i}.db")]
    t0 = time.monotonic()
    r = subprocess.run(args, cwd=root, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True)
    took = time.monotonic() - t0
    if r.returncode != 0:
        sys.exit(f"bench: gpuci run failed ({r.returncode}):\n{r.stdout[-2000:]}\n{r.stderr}")
    return took


def run_xargs(root, tmp, python, n, i, logs):
    inp = "".join(f"{k}\n" for k in range(n))
    if logs:
        out = os.path.join(tmp, f"xlogs{i}")
        os.mkdir(out)
        # Each command with its output in a file of its own, as gpuci's logs.
        script = f'exec "$0" "tests/test_$1.py" > "{out}/$1.log" 2>&1'
        cmd = ["xargs", "-P8", "-n1", "sh", "-c", script, python]
    else:
        # The commands alone: one fork and exec each, output shared.
        cmd = ["xargs", "-P8", "-I{}", python, "tests/test_{}.py"]
    t0 = time.monotonic()
    r = subprocess.run(cmd, cwd=root, input=inp, text=True, capture_output=True)
    took = time.monotonic() - t0
    if r.returncode != 0:
        sys.exit(f"bench: xargs failed ({r.returncode}): {r.stderr}")
    return took


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gpuci", required=True)
    ap.add_argument("--tests", type=int, default=500)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--python", default="true", help="the interpreter gpuci runs (true)")
    a = ap.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    except (ValueError, OSError):
        pass
    nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    python = shutil.which(a.python) or a.python
    tmp = tempfile.mkdtemp(prefix="gpuci-bench-run.")
    try:
        root = make_repo(tmp, a.tests)
        g, x, b = [], [], []
        for i in range(a.rounds):  # interleaved, so load drifts hit all alike
            x.append(run_xargs(root, tmp, python, a.tests, i, True))
            b.append(run_xargs(root, tmp, python, a.tests, i, False))
            g.append(run_gpuci(os.path.abspath(a.gpuci), root, tmp, python, i))
        gm, xm, bm = statistics.median(g), statistics.median(x), statistics.median(b)
        print(f"{a.tests} tests of `{python} tests/test_K.py`, 8 at once, ulimit -n {nofile}, "
              f"{a.rounds} rounds (median):")
        print(f"  xargs -P8, a log each  {xm:7.3f} s   {1000 * xm / a.tests:6.2f} ms/test"
              f"   rounds {' '.join(f'{v:.3f}' for v in x)}")
        print(f"  xargs -P8, no logs     {bm:7.3f} s   {1000 * bm / a.tests:6.2f} ms/test"
              f"   rounds {' '.join(f'{v:.3f}' for v in b)}")
        print(f"  gpuci run --gpus 8     {gm:7.3f} s   {1000 * gm / a.tests:6.2f} ms/test"
              f"   rounds {' '.join(f'{v:.3f}' for v in g)}")
        print(f"  ratio gpuci/xargs      {gm / xm:7.2f}x   (a log each: the same work; "
              f"target <= 1.10x)")
        print(f"  ratio gpuci/xargs      {gm / bm:7.2f}x   (no logs: fork and exec alone)")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
