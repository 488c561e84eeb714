#!/usr/bin/env python3
"""End-to-end tests of GPU readiness in `gpuci run` (issue 14): the real binary
with the fake NVML of tests/gpu/fake_nvml.c ($GPUCI_NVML) on a fake 2-GPU
machine, whose GPUs get processes and memory from a state file; a 1-GPU test.

Run: python3 tests/cli/run_ready_test.py build/gpuci build/tests/libfake-nvml.so
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

GPUCI = None
FAKE_NVML = None

WORKFLOW = """\
name: ready
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

# Writes the GPUs it was given and when it started.
GPU_TEST = """\
import json, os, time
NUM_GPUS = 1

if __name__ == "__main__":
    with open(os.path.join(os.environ["READY_OUT"], "ran.json"), "w") as f:
        json.dump({"gpus": os.environ.get("CUDA_VISIBLE_DEVICES"), "at": time.time()}, f)
"""


class RunReadyTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="gpuci-run-ready.")
        self.root = os.path.join(self.tmp, "repo")
        os.makedirs(os.path.join(self.root, ".github", "workflows"))
        os.makedirs(os.path.join(self.root, "tests"))
        self.workflow = os.path.join(self.root, ".github", "workflows", "pr-test.yml")
        with open(self.workflow, "w") as f:
            f.write(WORKFLOW.format(matrix=json.dumps([{"test_file": "test_gpu.py",
                                                        "num_gpus": 1}])))
        with open(os.path.join(self.root, "tests", "test_gpu.py"), "w") as f:
            f.write(GPU_TEST)
        self.out = os.path.join(self.tmp, "out")
        os.mkdir(self.out)
        os.mkdir(os.path.join(self.tmp, "locks"))
        self.pattern = os.path.join(self.tmp, "locks", "gpu_{gpu_id}.lock")
        self.state = os.path.join(self.tmp, "nvml-state")
        self.write_state("")
        self.env = {k: v for k, v in os.environ.items()
                    if not k.startswith(("GITHUB_", "CUDA_", "GPUCI_DEBUG"))}
        self.env.update(READY_OUT=self.out, GPUCI_NVML=FAKE_NVML, FAKE_NVML_COUNT="2",
                        FAKE_NVML_STATE=self.state)

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def write_state(self, text):
        tmp = self.state + ".new"
        with open(tmp, "w") as f:
            f.write(text)
        os.replace(tmp, self.state)  # the fake never reads half a file

    def run_gpuci(self, *args, gpus=1, env=None):
        t0 = time.monotonic()
        r = subprocess.run([GPUCI, "run", "--workflow", self.workflow, "--gpus", str(gpus),
                            "--lock-path-pattern", self.pattern,
                            "--history", os.path.join(self.tmp, "history.db"),
                            "--kill-after", "1", "--label", "run-ci-x", *args],
                           capture_output=True, text=True, env=env or self.env,
                           cwd=self.root, timeout=120)
        return r, time.monotonic() - t0

    def ran(self):
        path = os.path.join(self.out, "ran.json")
        if not os.path.exists(path):
            return None
        with open(path) as f:
            return json.load(f)

    def test_a_gpu_busy_for_2s_is_waited_for_then_the_test_runs(self):
        until = time.time() + 2
        self.write_state(f"0 30000 4242:30000 until={until}\n")
        r, took = self.run_gpuci()
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertRegex(r.stdout, r"BUSY\s+test_gpu\.py  GPU 0 is busy: pid 4242 holds "
                         r"30000 MiB; 30000 of 81920 MiB used; waiting up to 120s for it "
                         r"to be idle \(--wait-idle\)")
        # The BUSY line comes before the test starts, and the test starts after the wait.
        self.assertLess(r.stdout.index("BUSY"), r.stdout.index("start"))
        ran = self.ran()
        self.assertEqual(ran["gpus"], "0")
        self.assertGreaterEqual(ran["at"], until - 0.1)
        self.assertGreaterEqual(took, 1.5)
        self.assertNotIn("warning", r.stdout)

    def test_busy_forever_fails_after_wait_idle_naming_the_pid(self):
        self.write_state("0 30000 4242:30000\n")
        r, took = self.run_gpuci("--wait-idle", "1")
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIsNone(self.ran())
        self.assertRegex(r.stdout, r"FAIL\s+test_gpu\.py  GPU 0 is still busy after 1s: pid "
                         r"4242 holds 30000 MiB")
        self.assertIn("--wait-idle", r.stdout)
        self.assertLess(took, 30)
        self.assertEqual(self.held(), [])  # nothing is left held

    def test_busy_warn_runs_it_with_a_warning(self):
        self.write_state("0 30000 4242:30000\n")
        r, _ = self.run_gpuci("--wait-idle", "1", "--busy", "warn")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(self.ran()["gpus"], "0")
        self.assertRegex(r.stdout, r"warning\s+test_gpu\.py  GPU 0 is still busy after 1s: "
                         r"pid 4242 holds 30000 MiB.*\(handed out anyway: --busy=warn\)")

    def test_busy_warn_under_github_actions_is_an_annotation(self):
        self.write_state("0 30000 4242:30000\n")
        env = dict(self.env, GITHUB_ACTIONS="true")
        r, _ = self.run_gpuci("--wait-idle", "1", "--busy=warn", env=env)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("::warning file=test_gpu.py,title=gpuci run%3A GPU busy::GPU 0 is still "
                      "busy after 1s: pid 4242", r.stdout)

    def test_wait_idle_0_runs_at_once(self):
        self.write_state("0 30000 4242:30000\n")
        r, took = self.run_gpuci("--wait-idle", "0")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(self.ran()["gpus"], "0")
        self.assertNotIn("BUSY", r.stdout)
        self.assertLess(took, 30)

    def test_memory_alone_is_busy_above_idle_mem(self):
        self.write_state("0 1000\n")
        r, _ = self.run_gpuci("--wait-idle", "1", "--idle-mem", "2000")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertNotIn("BUSY", r.stdout)
        r, _ = self.run_gpuci("--wait-idle", "1", "--idle-mem", "500")
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("GPU 0 is still busy", r.stdout)

    def test_on_two_gpus_the_idle_one_is_taken_instead(self):
        self.write_state("0 30000 4242:30000\n")
        r, took = self.run_gpuci("--wait-idle", "60", gpus=2)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(self.ran()["gpus"], "1")
        self.assertLess(took, 30)

    def test_without_nvml_no_check_and_one_debug_line(self):
        self.write_state("0 30000 4242:30000\n")
        env = dict(self.env, GPUCI_NVML=os.path.join(self.tmp, "no-such-nvml.so"))
        r, _ = self.run_gpuci("--wait-idle", "1", env=env)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertNotIn("readiness", r.stderr)
        env["GPUCI_DEBUG"] = "1"
        r, _ = self.run_gpuci("--wait-idle", "1", env=env)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(r.stderr.count("gpuci run: debug: GPU readiness not checked"), 1,
                         r.stderr)

    def test_ctrl_c_while_a_gpu_is_busy_stops_at_once_holding_nothing(self):
        self.write_state("0 30000 4242:30000\n")
        p = subprocess.Popen([GPUCI, "run", "--workflow", self.workflow, "--gpus", "1",
                              "--lock-path-pattern", self.pattern,
                              "--history", os.path.join(self.tmp, "history.db"),
                              "--label", "run-ci-x", "--wait-idle", "100"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env=self.env, cwd=self.root)
        try:
            deadline = time.monotonic() + 30
            # Wait until it holds GPU 0's lock (reserved: the wait for idle holds it).
            while time.monotonic() < deadline and not self.held():
                time.sleep(0.1)
            self.assertEqual(self.held(), [0])
            t0 = time.monotonic()
            p.send_signal(signal.SIGINT)
            out, err = p.communicate(timeout=30)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
        self.assertEqual(p.returncode, 130, out + err)
        self.assertLess(time.monotonic() - t0, 10)
        self.assertIn("BUSY", out)
        self.assertIsNone(self.ran())
        self.assertEqual(self.held(), [])

    def held(self):
        st = subprocess.run([GPUCI, "lock", "status", "--json", "--total-gpus", "2",
                             "--lock-path-pattern", self.pattern], capture_output=True,
                            text=True, check=True, env=self.env)
        return [g["gpu"] for g in json.loads(st.stdout)["gpus"] if g["state"] != "free"]

    def test_bad_busy_value_is_a_usage_error(self):
        r, _ = self.run_gpuci("--busy", "maybe", "--dry-run")
        self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
        self.assertIn("--busy expects fail or warn, not 'maybe'", r.stderr)


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit("usage: run_ready_test.py GPUCI FAKE_NVML")
    GPUCI = os.path.abspath(sys.argv.pop(1))
    FAKE_NVML = os.path.abspath(sys.argv.pop(1))
    unittest.main(verbosity=2)
