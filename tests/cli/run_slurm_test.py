#!/usr/bin/env python3
"""`gpuci run --slurm` against a real, private Slurm cluster (issue 15, item 1).

    run_slurm_test.py GPUCI BUILD_DIR

tests/harness/slurm.py starts slurmctld, slurmd and munged under BUILD_DIR on
loopback, free ports, one node of 8 fake GPUs; the tests run copies of
examples/vime-mini on it, whose simulated tests check and record the GPUs
they were given (tests/ci/gpu_record.py: CUDA_VISIBLE_DEVICES must name
exactly num_gpus GPUs that no running test holds). Checked: every test got
its GPU count and no GPU was shared; exit codes, retries and flaky tests
come out as in a local run of the same suite (JUnit and history); --timeout
and Ctrl-C leave no job in squeue; after a SIGKILL of gpuci the next run
cancels the dead run's jobs; sbatch's refusals are usage errors; --dry-run
prints the sbatch lines. Exits 77 (skipped) with the reason where the
cluster cannot start.
"""

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import unittest
import xml.etree.ElementTree as ET

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "harness"))
from example_copy import ExampleCopy  # noqa: E402
import slurm as harness  # noqa: E402  (tests/harness/slurm.py)

GPUCI = None
CLUSTER = None


def squeue_names():
    """The names of the jobs the cluster still has queued or running."""
    r = subprocess.run(["squeue", "-h", "-o", "%j"], capture_output=True, text=True,
                       env=CLUSTER.env, timeout=30)
    if r.returncode != 0:
        raise AssertionError("squeue failed: " + r.stderr)
    return [line for line in r.stdout.split() if line]


def wait_queue_empty(secs=20):
    """The queue's names once it is empty, or what is left after secs."""
    until = time.monotonic() + secs
    while True:
        names = squeue_names()
        if not names or time.monotonic() > until:
            return names
        time.sleep(0.3)


def junit_cases(path):
    """{(classname, name): status} of a JUnit file."""
    out = {}
    for tc in ET.parse(path).getroot().iter("testcase"):
        if tc.find("failure") is not None or tc.find("error") is not None:
            status = "failed"
        elif tc.find("skipped") is not None:
            status = "skipped"
        else:
            status = "passed"
        out[(tc.get("classname"), tc.get("name"))] = status
    return out


def history_rows(path):
    """Sorted (test_file, test_args, status, attempt, exit code, GPUs) of every attempt."""
    con = sqlite3.connect(path)
    try:
        rows = con.execute("SELECT test_file, test_args, status, attempt, exit_code, gpus"
                           " FROM results").fetchall()
    finally:
        con.close()
    return sorted(rows)


class SlurmRun(unittest.TestCase):
    def setUp(self):
        self.repo = ExampleCopy(GPUCI, prefix="gpuci-slurm-")
        self.tmp = tempfile.mkdtemp(prefix="gpuci-slurm-t-")
        self.record = os.path.join(self.tmp, "record")
        self.locks = os.path.join(self.tmp, "locks")
        self.env = dict(CLUSTER.env)
        self.env.update({"VIME_MINI_RECORD": self.record, "VIME_MINI_SECONDS": "1",
                         "TMPDIR": self.tmp})
        for k in ("GITHUB_ACTIONS", "GITHUB_STEP_SUMMARY"):
            self.env.pop(k, None)

    def tearDown(self):
        names = squeue_names()
        if names:
            subprocess.run(["scancel", "-u", str(os.getuid())], env=CLUSTER.env, timeout=30)
        self.repo.close()
        subprocess.run(["rm", "-rf", self.tmp])
        self.assertEqual(names, [], "jobs left in the queue")

    def gpuci(self, *args, env=None, timeout=300, slurm=True):
        cmd = [GPUCI, "run"] + (["--slurm"] if slurm else []) + list(args) + [
            "--lock-path-pattern", os.path.join(self.locks, "gpu{gpu_id}.lock")]
        return subprocess.run(cmd, capture_output=True, text=True, cwd=self.repo.dir,
                              env=env or self.env, timeout=timeout)

    def check_record(self):
        r = subprocess.run([sys.executable, self.repo.path("tests/ci/gpu_record.py"), "check",
                            self.record], capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        runs = []
        with open(os.path.join(self.record, "runs.jsonl")) as f:
            for line in f:
                runs.append(json.loads(line))
        return runs

    def test_each_test_gets_its_gpus_and_none_is_shared(self):
        junit = os.path.join(self.tmp, "slurm.xml")
        r = self.gpuci("--label", "run-ci-image", "--no-always", "--junit", junit)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("on Slurm", r.stdout)
        runs = self.check_record()
        self.assertEqual(len(runs), 13, runs)
        # GPU counts as the matrix says (gpu_record refuses others: check passed above).
        plan = subprocess.run([GPUCI, "plan", "--label", "run-ci-image", "--no-always", "--json"],
                              capture_output=True, text=True, cwd=self.repo.dir, timeout=60)
        want = sorted(int(e["info"]["num_gpus"]) for j in json.loads(plan.stdout)["jobs"]
                      for e in j["matrix"])
        got = sorted(len(run["gpus"]) for run in runs)
        self.assertEqual(got, want)
        cases = junit_cases(junit)
        self.assertEqual(len(cases), 13)
        self.assertEqual(set(cases.values()), {"passed"})
        # the run's report: a bar per job, on lanes of the node that ran it
        last = r.stdout.rstrip("\n").split("\n")[-1]
        self.assertTrue(last.startswith("report: "), last)
        with open(last[len("report: "):]) as f:
            page = f.read()
        nodes = re.findall(r'<g class="attempt"[^>]* data-node="([^"]*)"', page)
        self.assertEqual(len(nodes), 13)
        self.assertNotIn("", nodes)
        lanes = re.findall(r'<g class="lane"[^>]* data-name="([^"]*)"', page)
        self.assertTrue(lanes and all(n.startswith(nodes[0] + " GPU ") for n in lanes), lanes)
        self.assertEqual(wait_queue_empty(), [])

    def test_exit_codes_retries_and_history_match_a_local_run(self):
        knobs = {"VIME_MINI_FAIL": "colocate", "VIME_MINI_FLAKY": "debug_rollout"}
        out = {}
        for mode in ("slurm", "local"):
            env = dict(self.env, **knobs)
            env["VIME_MINI_RECORD"] = os.path.join(self.tmp, "record-" + mode)
            hist = os.path.join(self.tmp, mode + ".db")
            junit = os.path.join(self.tmp, mode + ".xml")
            args = ["--label", "run-ci-short", "--retries", "1", "--junit", junit,
                    "--history", hist]
            if mode == "local":
                args += ["--gpus", "8"]
            r = self.gpuci(*args, env=env, slurm=mode == "slurm")
            self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
            out[mode] = (junit_cases(junit), history_rows(hist), r.stdout)
        self.assertEqual(out["slurm"][0], out["local"][0])
        self.assertEqual(out["slurm"][1], out["local"][1])
        statuses = sorted(row[2] for row in out["slurm"][1])
        self.assertIn("flaky", statuses)
        self.assertIn("failed", statuses)
        self.assertIn("exit 1", out["slurm"][2])

    def test_timeout_leaves_no_job(self):
        env = dict(self.env, VIME_MINI_HANG="short.py --colocate")
        junit = os.path.join(self.tmp, "t.xml")
        t0 = time.monotonic()
        r = self.gpuci("--label", "run-ci-short", "--no-always", "--timeout", "3",
                       "--kill-after", "2", "--junit", junit, env=env)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertLess(time.monotonic() - t0, 60)
        self.assertRegex(r.stdout, r"timeout +e2e-test-short +test_qwen2p5_0p5B_short.py --colocate")
        self.assertEqual(squeue_names(), [])
        statuses = junit_cases(junit)
        self.assertEqual(statuses[("e2e-test-short", "test_qwen2p5_0p5B_short.py --colocate")],
                         "failed")

    def test_ctrl_c_cancels_every_job(self):
        env = dict(self.env, VIME_MINI_HANG="short")
        p = subprocess.Popen([GPUCI, "run", "--slurm", "--label", "run-ci-image", "--no-always",
                              "--lock-path-pattern", os.path.join(self.locks, "g{gpu_id}")],
                             cwd=self.repo.dir, env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True)
        until = time.monotonic() + 30
        while len(squeue_names()) < 13 and time.monotonic() < until:
            time.sleep(0.2)
        time.sleep(2)  # some running, the others pending
        self.assertGreater(len(squeue_names()), 0)
        p.send_signal(signal.SIGINT)
        out, _ = p.communicate(timeout=60)
        self.assertEqual(p.returncode, 130, out)
        self.assertEqual(squeue_names(), [], out)
        self.assertIn("canceled", out)

    def test_the_next_run_cancels_a_killed_runs_jobs(self):
        env = dict(self.env, VIME_MINI_HANG="short")
        p = subprocess.Popen([GPUCI, "run", "--slurm", "--label", "run-ci-image", "--no-always",
                              "--lock-path-pattern", os.path.join(self.locks, "gpu{gpu_id}.lock")],
                             cwd=self.repo.dir, env=env, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        until = time.monotonic() + 30
        while len(squeue_names()) < 13 and time.monotonic() < until:
            time.sleep(0.2)
        p.kill()
        p.wait()
        left = squeue_names()
        self.assertEqual(len(left), 13, left)
        self.assertTrue(all(n.startswith("gpuci.") for n in left), left)
        r = self.gpuci("--label", "run-ci-precision", "--no-always")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertRegex(r.stderr, r"was killed before it ended its tests; \d+ of its jobs were "
                                   r"left: canceled")
        self.assertEqual(wait_queue_empty(), [])

    def test_secrets_are_masked_in_the_logs_slurm_writes(self):
        env = dict(self.env, MODEL_SECRET="Qwen2.5-0.5B-Instruct")
        logs = os.path.join(self.tmp, "logs")
        r = self.gpuci("--label", "run-ci-short", "--no-always", "--test", "*debug_rollout*",
                       "--secret", "MODEL_SECRET", "--log-dir", logs, env=env)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        names = sorted(os.listdir(logs))
        log = [n for n in names if n.endswith(".log")]
        self.assertEqual(len(log), 1, names)
        self.assertEqual([n for n in names if n.endswith(".out")], [], names)  # copied, removed
        with open(os.path.join(logs, log[0])) as f:
            text = f.read()
        self.assertIn("] ***: args", text)
        self.assertIn("training on GPUs", text)
        self.assertNotIn("Qwen2.5-0.5B-Instruct", text)

    def test_sbatch_refusals_are_usage_errors(self):
        r = self.gpuci("--label", "run-ci-short", "--slurm-opt=--no-such-option")
        self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
        self.assertIn("sbatch refuses", r.stderr)
        r = self.gpuci("--label", "run-ci-short", "--slurm-opt=--gres=gpu:1")
        self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
        self.assertIn("--gres=gpu:N from num_gpus", r.stderr)
        r = self.gpuci("--label", "run-ci-short", "--partition", "nope")
        self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
        self.assertIn("no partition 'nope'", r.stderr)
        r = self.gpuci("--label", "run-ci-short", "--partition", "gpu", "--dry-run")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("sbatch --parsable", r.stdout)
        self.assertIn("--gres=gpu:4", r.stdout)
        self.assertIn("--partition=gpu", r.stdout)
        self.assertIn("export CUDA_VISIBLE_DEVICES= GPUCI_GPUS=", r.stdout)  # the 0-GPU ones


def use(gpuci, build, cluster):
    global GPUCI, CLUSTER
    GPUCI, CLUSTER = gpuci, cluster


if __name__ == "__main__":
    # The harness's main: the cluster started (77 with the reason when it cannot), these
    # cases run, the cluster stopped, and a failure when it left a process or a folder.
    sys.exit(harness.run_tests("run_slurm_test.py", use))
