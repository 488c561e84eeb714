#!/usr/bin/python3
"""Benchmark of `gpuci lint` on generated repositories of many test files.

Run through bench/lint/run.sh.  Prints figures; asserts nothing.

Each repository has one workflow (.github/workflows/pr-test.yml) whose job
`gpu` registers ENTRIES matrix entries, and FILES test files under
tests/gen/dNN/ (500 a folder), each a well-formed GPU test (NUM_GPUS,
prepare(), execute(), __main__). The files no entry registers are either
left out of everything (mode `unlisted`: each is an unreached-test
finding) or listed one per line in tests/ci/unregistered.txt (mode
`listed`, plus a few glob lines). For each mode, lint runs on the small
repository (--small files) and the large one (--large, 10x by default),
REPS times each, and the script prints the best wall time, the ratio
large/small (linear: 10; the target is within 12) and the peak RSS of the
gpuci process (os.wait4's rusage).
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

TEST = '''"""Generated GPU test {n}."""
NUM_GPUS = 1


def prepare():
    pass


def execute():
    pass


if __name__ == "__main__":
    prepare()
    execute()
'''


def path_of(i):
    return f"gen/d{i // 500:03d}/test_{i:06d}.py"


def make_repo(root, files, entries, mode):
    wf = os.path.join(root, ".github", "workflows")
    os.makedirs(wf)
    os.makedirs(os.path.join(root, "tests", "ci"))
    for i in range(files):
        p = os.path.join(root, "tests", path_of(i))
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "w") as f:
            f.write(TEST.format(n=i))
    items = ",\n".join(f'            {{"test_file": "{path_of(i)}", "num_gpus": 1}}'
                       for i in range(min(entries, files)))
    with open(os.path.join(wf, "pr-test.yml"), "w") as f:
        f.write(f"""name: PR Test
on:
  pull_request:
    types: [synchronize, labeled]
jobs:
  gpu:
    if: contains(github.event.pull_request.labels.*.name, 'run-ci-gpu')
    runs-on: self-hosted
    strategy:
      fail-fast: false
      matrix:
        info: [
{items}
        ]
    steps:
      - name: Execute
        run: python tests/${{{{ matrix.info.test_file }}}}
""")
    if mode == "listed":
        with open(os.path.join(root, "tests", "ci", "unregistered.txt"), "w") as f:
            f.write("# not run in CI\n")
            for i in range(entries, files):
                f.write(path_of(i) + "\n")
            f.write("gen/nothing-here/test_*.py\n")  # a glob (stale)
            f.write("gen/d000/test_0000[0-9].py\n")  # a glob that matches


def lint_once(gpuci, root):
    """(seconds, peak RSS in KiB, exit status) of one gpuci lint."""
    t0 = time.monotonic()
    p = subprocess.Popen([gpuci, "lint", "--json"], cwd=root, stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE)
    _, status, ru = os.wait4(p.pid, 0)
    dt = time.monotonic() - t0
    p.returncode = os.waitstatus_to_exitcode(status)
    err = p.stderr.read().decode()
    p.stderr.close()
    if p.returncode not in (0, 1):
        sys.exit(f"gpuci lint exited {p.returncode}: {err}")
    return dt, ru.ru_maxrss, p.returncode


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("gpuci")
    ap.add_argument("--small", type=int, default=2000)
    ap.add_argument("--large", type=int, default=20000)
    ap.add_argument("--entries", type=int, default=256)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--mode", action="append", choices=["unlisted", "listed"])
    ap.add_argument("--keep", action="store_true")
    a = ap.parse_args()
    gpuci = os.path.abspath(a.gpuci)
    modes = a.mode or ["unlisted", "listed"]
    tmp = tempfile.mkdtemp(prefix="gpuci-bench-lint-")
    print(f"gpuci lint, {a.entries} entries; best of {a.reps}; peak RSS of gpuci")
    try:
        for mode in modes:
            res = {}
            for n in (a.small, a.large):
                root = os.path.join(tmp, f"{mode}-{n}")
                make_repo(root, n, a.entries, mode)
                runs = [lint_once(gpuci, root) for _ in range(a.reps)]
                best = min(r[0] for r in runs)
                rss = max(r[1] for r in runs)
                res[n] = best
                print(f"  {mode:9} {n:6} files: {best * 1000:9.1f} ms  {rss / 1024:7.1f} MiB"
                      f"  (exit {runs[0][2]})")
            ratio = res[a.large] / res[a.small] if res[a.small] else float("inf")
            scale = a.large / a.small
            print(f"  {mode:9} ratio {ratio:.1f}x for {scale:g}x files"
                  f" (target within {1.2 * scale:g}x)")
    finally:
        if a.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
