#!/usr/bin/env python3
"""Two `gpuci run --docker job` at once on the same lock files (issue 14).

    run_docker_pair_test.py GPUCI BUILD_DIR

Two temporary repositories, A and B, each with a job whose Execute step
runs its test in a container (the shape of tests/cli/run_docker_test.py),
six tests of 1 to 4 GPUs each. Both runs start at the same moment on the
same --lock-path-pattern (8 simulated GPUs) against the private engine
tests/harness/docker.py starts under BUILD_DIR/docker/. Each test records,
from inside its container, NVIDIA_VISIBLE_DEVICES (the devices its `--gpus`
asked the runtime's hook for) and time.time() at its start and end (the
host and its containers share the clock) into out/ of its repository, then
sleeps a second.

One test of each run, test_meet.py (1 GPU), waits inside its container for
the other run's test_meet.py to have started: so the two runs certainly ran
side by side (at most these two hold a GPU while waiting, 6 are left for
the other tests, none wider than 4, so neither waits for ever).

Asserts: both runs pass; every test saw as many GPUs as its num_gpus, those
of its history row; no two tests that ran at the same time, in either run,
shared a GPU; tests of the two runs did run at the same time; no container
is left; no lock is held or waited for afterwards (gpuci lock status).
Exits 77 (skipped) with the reason where the engine cannot start.
"""

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "harness"))
import docker as harness  # noqa: E402  (tests/harness/docker.py)

GPUCI = None
BUILD = None
ENG = None

# (test file, num_gpus): 13 GPUs' worth per run, 26 for both on 8 GPUs
TESTS = [("test_meet.py", 1), ("test_a.py", 4), ("test_b.py", 3), ("test_c.py", 2),
         ("test_d.py", 2), ("test_e.py", 1)]

WORKFLOW = """\
name: pr
on: {pull_request: {}, workflow_dispatch: {}}
jobs:
  gpu:
    runs-on: gpu
    strategy:
      fail-fast: false
      matrix:
        info:
@MATRIX@
    steps:
      - uses: actions/checkout@v4
      - name: Execute
        run: |
          docker run --rm \\
            --network none \\
            --gpus all \\
            -e TEST_FILE="${{ matrix.info.test_file }}" \\
            -e RUN=@RUN@ \\
            -e PEER=@PEER@ \\
            -v "$GITHUB_WORKSPACE:$GITHUB_WORKSPACE" \\
            -v "@SHARED@:/shared" \\
            -w "$GITHUB_WORKSPACE" \\
            @IMAGE@ \\
            bash -lc '
              set -euo pipefail
              python "tests/$TEST_FILE"
            '
"""

TEST = """\
import json, os, sys, time
start = time.time()
name = os.path.basename(sys.argv[0])
run, peer = os.environ["RUN"], os.environ["PEER"]
if name == "test_meet.py":
    open("/shared/%s.started" % run, "w").close()
    deadline = time.time() + 120
    while not os.path.exists("/shared/%s.started" % peer):
        if time.time() > deadline:
            sys.exit("run %s: run %s's test_meet.py never started" % (run, peer))
        time.sleep(0.05)
time.sleep(1)
with open(os.path.join("out", name + ".json"), "w") as f:
    json.dump({"run": run, "test": name, "nvidia": os.environ.get("NVIDIA_VISIBLE_DEVICES"),
               "start": start, "end": time.time()}, f)
"""


class RunDockerPair(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="gpuci-run-docker-pair.")
        self.addCleanup(shutil.rmtree, self.tmp, ignore_errors=True)
        shared = os.path.join(self.tmp, "shared")
        os.mkdir(shared)
        locks = os.path.join(self.tmp, "locks")
        os.mkdir(locks)
        self.pattern = os.path.join(locks, "gpu_{gpu_id}.lock")
        self.roots = {}
        for run, peer in (("A", "B"), ("B", "A")):
            root = os.path.realpath(os.path.join(self.tmp, "repo" + run))
            os.makedirs(os.path.join(root, ".github", "workflows"))
            os.makedirs(os.path.join(root, "tests"))
            os.makedirs(os.path.join(root, "out"))
            matrix = "\n".join("          - {test_file: %s, num_gpus: %d}" % t for t in TESTS)
            with open(os.path.join(root, ".github", "workflows", "pr.yml"), "w") as f:
                f.write(WORKFLOW.replace("@MATRIX@", matrix).replace("@RUN@", run)
                        .replace("@PEER@", peer).replace("@SHARED@", shared)
                        .replace("@IMAGE@", ENG.image))
            for t, _ in TESTS:
                with open(os.path.join(root, "tests", t), "w") as f:
                    f.write(TEST)
            subprocess.run(["git", "init", "-q", root], check=True)
            subprocess.run(["git", "-C", root, "add", "."], check=True)
            subprocess.run(["git", "-C", root, "-c", "user.name=t", "-c", "user.email=t@t",
                            "commit", "-qm", "init"], check=True)
            self.roots[run] = root
        self.env = dict(ENG.env, GPUCI_NVML="")  # simulated GPUs: no NVML readiness check
        self.env["PATH"] = os.path.dirname(ENG.cli) + os.pathsep + self.env.get("PATH", "")
        for k in list(self.env):
            if k.startswith("GITHUB_"):
                del self.env[k]

    def start_gpuci(self, run, pattern):
        root = self.roots[run]
        argv = [GPUCI, "run", "--workflow", os.path.join(root, ".github", "workflows", "pr.yml"),
                "--gpus", "8", "--lock-path-pattern", pattern,
                "--history", os.path.join(self.tmp, "history%s.db" % run),
                "--kill-after", "2", "--timeout", "300", "--all", "--docker", "job"]
        return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True, env=self.env, cwd=root)

    def test_two_runs_at_once_share_the_gpus_and_never_a_gpu(self):
        t0 = time.monotonic()
        procs = {run: self.start_gpuci(run, self.pattern) for run in ("A", "B")}
        outs = {}
        for run, p in procs.items():
            try:
                outs[run] = p.communicate(timeout=600)[0]
            except subprocess.TimeoutExpired:
                for q in procs.values():
                    q.kill()
                raise
        took = time.monotonic() - t0
        for run in ("A", "B"):
            self.assertEqual(procs[run].returncode, 0, "run %s:\n%s" % (run, outs[run]))

        recs = []
        want = dict(TESTS)
        for run in ("A", "B"):
            db = sqlite3.connect(os.path.join(self.tmp, "history%s.db" % run))
            leased = dict(db.execute("SELECT test_file, gpu_ids FROM results"))
            db.close()
            self.assertEqual(sorted(leased), sorted(want), run)
            for t, n in TESTS:
                with open(os.path.join(self.roots[run], "out", t + ".json")) as f:
                    r = json.load(f)
                self.assertEqual(r["run"], run)
                ids = r["nvidia"].split(",") if r["nvidia"] else []
                self.assertEqual(len(ids), n, (run, t, r["nvidia"]))
                self.assertEqual(len(set(ids)), n, (run, t, r["nvidia"]))
                self.assertEqual(r["nvidia"], leased[t], (run, t))
                self.assertTrue(all(0 <= int(g) < 8 for g in ids), (run, t, r["nvidia"]))
                self.assertLess(r["start"], r["end"])
                r["gpus"] = set(ids)
                recs.append(r)

        # two tests that ran at the same time never share a GPU (their leases
        # were held from before their containers started to after they went)
        cross = 0
        for i, x in enumerate(recs):
            for y in recs[i + 1:]:
                if x["start"] < y["end"] and y["start"] < x["end"]:
                    self.assertEqual(x["gpus"] & y["gpus"], set(),
                                     "%s/%s %s and %s/%s %s ran at the same time" %
                                     (x["run"], x["test"], sorted(x["gpus"]),
                                      y["run"], y["test"], sorted(y["gpus"])))
                    cross += x["run"] != y["run"]
        # else this proves nothing (test_meet.py makes sure of it)
        self.assertGreater(cross, 0, "the two runs never ran tests at the same time")

        self.assertEqual(ENG.docker("ps", "-aq").stdout.strip(), "")
        r = subprocess.run([GPUCI, "lock", "status", "--json", "--lock-path-pattern",
                            self.pattern, "--total-gpus", "8"], capture_output=True, text=True,
                           env=self.env, timeout=60)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        st = json.loads(r.stdout)
        self.assertEqual(len(st["gpus"]), 8, st)
        self.assertEqual([g for g in st["gpus"] if g["state"] != "free"], [], st)
        self.assertEqual(st["waiters"], [], st)
        print("\n  both runs in %.1f s, %d pairs of tests of the two runs ran at the same time"
              % (took, cross), file=sys.stderr)


def use(gpuci, build, eng):
    global GPUCI, BUILD, ENG
    GPUCI, BUILD, ENG = gpuci, build, eng


def main():
    return harness.run_tests("run_docker_pair_test.py", use)


if __name__ == "__main__":
    sys.exit(main())
