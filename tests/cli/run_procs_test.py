#!/usr/bin/env python3
"""End-to-end tests of what `gpuci run` owns: every process a test starts,
the environment each test sees, and saying who holds the GPUs it waits for.

A small repository made by each test (a workflow with a static matrix and
Python tests written here), simulated GPUs, lock files of its own.

Run: python3 tests/cli/run_procs_test.py build/gpuci
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
import unittest

GPUCI = None

WORKFLOW = """\
name: procs
on:
  pull_request:
    types: [labeled]
jobs:
  tests:
    if: contains(github.event.pull_request.labels.*.name, 'run-ci-x')
    runs-on: self-hosted
    strategy:
      matrix:
        info: {matrix}
    steps:
      - run: echo
"""

# Forks a child that leaves the process group and the session (setsid) and
# forks again, so the grandchild is nobody's child but the nearest subreaper's;
# the grandchild writes its pid and sleeps, holding what it inherited (the GPU
# lock descriptors among them). The test itself exits 0 at once.
ESCAPE = """\
import os, sys, time
NUM_GPUS = 2

def main():
    out = os.environ["PROCS_OUT"]
    pid = os.fork()
    if pid == 0:
        os.setsid()
        if os.fork() == 0:
            with open(os.path.join(out, "escaped.tmp"), "w") as f:
                f.write(str(os.getpid()))
            os.rename(os.path.join(out, "escaped.tmp"), os.path.join(out, "escaped"))
            time.sleep(120)
        os._exit(0)
    os.waitpid(pid, 0)
    while not os.path.exists(os.path.join(out, "escaped")):
        time.sleep(0.01)

if __name__ == "__main__":
    main()
"""

# Writes the GPU variables it sees, keyed by its first argument.
ENV = """\
import json, os, sys
NUM_GPUS = 0

if __name__ == "__main__":
    name = sys.argv[1]
    seen = {k: os.environ.get(k) for k in ("CUDA_VISIBLE_DEVICES", "CUDA_DEVICE_ORDER")}
    with open(os.path.join(os.environ["PROCS_OUT"], name + ".json"), "w") as f:
        json.dump(seen, f)
"""

SLEEP = """\
import time
NUM_GPUS = 2

if __name__ == "__main__":
    time.sleep(0.2)
"""


class Repo:
    def __init__(self, entries, files):
        self.tmp = tempfile.mkdtemp(prefix="gpuci-run-procs.")
        self.root = os.path.join(self.tmp, "repo")
        os.makedirs(os.path.join(self.root, ".github", "workflows"))
        os.makedirs(os.path.join(self.root, "tests"))
        self.workflow = os.path.join(self.root, ".github", "workflows", "pr-test.yml")
        with open(self.workflow, "w") as f:
            f.write(WORKFLOW.format(matrix=json.dumps(entries)))
        for name, text in files.items():
            with open(os.path.join(self.root, "tests", name), "w") as f:
                f.write(text)
        self.out = os.path.join(self.tmp, "out")
        os.mkdir(self.out)
        os.mkdir(os.path.join(self.tmp, "locks"))
        self.pattern = os.path.join(self.tmp, "locks", "gpu_{gpu_id}.lock")

    def env(self):
        e = {k: v for k, v in os.environ.items()
             if not k.startswith(("GITHUB_", "CUDA_"))}
        e["PROCS_OUT"] = self.out
        return e

    def args(self, *args, gpus=2):
        return [GPUCI, "run", "--workflow", self.workflow, "--gpus", str(gpus),
                "--lock-path-pattern", self.pattern,
                "--history", os.path.join(self.tmp, "history.db"), "--kill-after", "2",
                "--label", "run-ci-x", *args]

    def run(self, *args, gpus=2, timeout=60):
        return subprocess.run(self.args(*args, gpus=gpus), capture_output=True, text=True,
                              env=self.env(), cwd=self.root, timeout=timeout)

    def held(self, total=2):
        st = subprocess.run([GPUCI, "lock", "status", "--json", "--total-gpus", str(total),
                             "--lock-path-pattern", self.pattern],
                            capture_output=True, text=True, check=True)
        return [g["gpu"] for g in json.loads(st.stdout)["gpus"] if g.get("held")]

    def close(self):
        shutil.rmtree(self.tmp, ignore_errors=True)


def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except FileNotFoundError:
        return False


class RunOwnsItsProcesses(unittest.TestCase):
    def test_an_escaped_process_is_ended_before_the_gpus_go_back(self):
        repo = Repo([{"test_file": "test_escape.py", "num_gpus": 2}],
                    {"test_escape.py": ESCAPE})
        self.addCleanup(repo.close)
        t0 = time.time()
        r = repo.run()
        took = time.time() - t0
        with open(os.path.join(repo.out, "escaped")) as f:
            pid = int(f.read())
        if alive(pid):  # never leave it behind, whatever the test says
            os.kill(pid, 9)
            self.fail(f"the escaped process {pid} outlived gpuci run: {r.stdout}")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        # Ended at once (SIGTERM when the test exited), not after its 120 s sleep.
        self.assertLess(took, 60)
        self.assertRegex(r.stdout, r"PASS\s+test_escape\.py.*1 process left behind ended")
        self.assertEqual(repo.held(), [], "the GPUs are free once the run is over")
        # And the next run gets them without waiting.
        r = repo.run()
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertNotIn("WAIT", r.stdout)

    def test_every_test_sees_the_device_order_and_a_cpu_test_no_gpu(self):
        repo = Repo([{"test_file": "test_env.py", "num_gpus": 0, "test_args": "cpu"},
                     {"test_file": "test_env.py", "num_gpus": 1, "test_args": "gpu"}],
                    {"test_env.py": ENV})
        self.addCleanup(repo.close)
        env = repo.env()
        env["CUDA_VISIBLE_DEVICES"] = "0,1,2,3"  # what the machine's shell had: not passed on
        r = subprocess.run(repo.args(), capture_output=True, text=True, env=env,
                           cwd=repo.root, timeout=60)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        with open(os.path.join(repo.out, "cpu.json")) as f:
            cpu = json.load(f)
        with open(os.path.join(repo.out, "gpu.json")) as f:
            gpu = json.load(f)
        self.assertEqual(cpu["CUDA_VISIBLE_DEVICES"], "")  # set, and empty: no GPU
        self.assertRegex(gpu["CUDA_VISIBLE_DEVICES"], r"^[01]$")
        self.assertEqual(cpu["CUDA_DEVICE_ORDER"], "PCI_BUS_ID")
        self.assertEqual(gpu["CUDA_DEVICE_ORDER"], "PCI_BUS_ID")
        # gpuci lock decides the same way.
        lk = subprocess.run([GPUCI, "lock", "--count", "1", "--total-gpus", "2",
                             "--lock-path-pattern", repo.pattern, "--", sys.executable, "-c",
                             "import os; print(os.environ['CUDA_VISIBLE_DEVICES'],"
                             " os.environ['CUDA_DEVICE_ORDER'])"],
                            capture_output=True, text=True, env=env, timeout=60)
        self.assertEqual(lk.returncode, 0, lk.stderr)
        self.assertRegex(lk.stdout.strip(), r"^[01] PCI_BUS_ID$")

    def test_a_wait_for_gpus_held_by_someone_else_says_who(self):
        repo = Repo([{"test_file": "test_sleep.py", "num_gpus": 2}],
                    {"test_sleep.py": SLEEP})
        self.addCleanup(repo.close)
        ready = os.path.join(repo.out, "holding")
        holder = subprocess.Popen(
            [GPUCI, "lock", "--devices", "1", "--total-gpus", "2", "--lock-path-pattern",
             repo.pattern, "-q", "--", "sh", "-c", f"touch {ready}; sleep 3"],
            env=repo.env())
        self.addCleanup(holder.kill)
        deadline = time.time() + 30
        while not os.path.exists(ready) and time.time() < deadline:
            time.sleep(0.05)
        self.assertTrue(os.path.exists(ready))
        r = repo.run()
        holder.wait(timeout=30)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        # The line names the GPU, the holder's pid and what it runs.
        self.assertRegex(r.stdout, rf"WAIT\s+test_sleep\.py\s+GPU 1 held by pid {holder.pid}"
                                   r" for [0-9.]+ s: .*sleep 3")


if __name__ == "__main__":
    GPUCI = os.path.abspath(sys.argv.pop(1))
    unittest.main(verbosity=2)
