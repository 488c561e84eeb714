#!/usr/bin/env python3
"""End-to-end tests of GPU readiness in `gpuci lock` (issue 14): the real
binary with the fake NVML of tests/gpu/fake_nvml.c ($GPUCI_NVML), whose GPUs
get processes and memory from a state file the test rewrites.

Run: python3 tests/cli/ready_test.py build/gpuci build/tests/libfake-nvml.so
"""
import json
import os
import subprocess
import sys
import tempfile
import time
import unittest

GPUCI = None
FAKE_NVML = None


class ReadyTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="gpuci-ready-")
        self.dir = self.tmp.name
        self.pattern = os.path.join(self.dir, "gpu_{gpu_id}.lock")
        self.state = os.path.join(self.dir, "nvml-state")
        self.write_state("")
        self.env = dict(os.environ)
        self.env.pop("GPUCI_DEBUG", None)
        self.env.update(GPUCI_NVML=FAKE_NVML, FAKE_NVML_COUNT="4",
                        FAKE_NVML_STATE=self.state)
        self.procs = []

    def tearDown(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
            p.wait()
        self.tmp.cleanup()

    def write_state(self, text):
        tmp = self.state + ".new"
        with open(tmp, "w") as f:
            f.write(text)
        os.replace(tmp, self.state)  # the fake never reads half a file

    def args(self, *args):
        return [GPUCI, "lock", "--total-gpus", "4", "--lock-path-pattern", self.pattern,
                *args]

    def lock(self, *args, env=None, timeout=60):
        t0 = time.monotonic()
        r = subprocess.run(self.args(*args), env=env or self.env, capture_output=True,
                           text=True, timeout=timeout)
        return r, time.monotonic() - t0

    def start(self, *args):
        p = subprocess.Popen(self.args(*args), env=self.env, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
        self.procs.append(p)
        return p

    def status(self):
        r = subprocess.run([GPUCI, "lock", "status", "--json", "--total-gpus", "4",
                            "--lock-path-pattern", self.pattern], env=self.env,
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        return json.loads(r.stdout)

    def test_a_gpu_busy_for_2s_is_waited_for_then_handed_out(self):
        self.write_state(f"0 30000 4242:30000 until={time.time() + 2}\n")
        p = self.start("--devices", "0", "--", "sh", "-c", "echo gpus=$CUDA_VISIBLE_DEVICES")
        time.sleep(1)
        # While it waits, the lock is held: nobody else can be given GPU 0.
        st = self.status()
        self.assertEqual(st["gpus"][0]["state"], "reserved", st)
        self.assertEqual(st["gpus"][0]["pid"], p.pid)
        out, err = p.communicate(timeout=60)
        self.assertEqual(p.returncode, 0, err)
        self.assertEqual(out, "gpus=0\n")
        self.assertIn("GPU 0 is busy: pid 4242 holds 30000 MiB; 30000 of 81920 MiB used; "
                      "waiting up to 120s", err)
        self.assertEqual(err.count("is busy"), 1, err)  # told once, not at each poll
        waited = float(err.split("acquired GPUs 0 after ")[1].split("s")[0])
        self.assertGreaterEqual(waited, 1.8)
        self.assertLess(waited, 30)

    def test_busy_forever_fails_after_wait_idle_naming_the_holder(self):
        self.write_state("1 2000 777:2000\n")
        marker = os.path.join(self.dir, "ran")
        r, took = self.lock("--devices", "1", "--wait-idle", "1", "--", "touch", marker)
        self.assertEqual(r.returncode, 75, r.stderr)
        self.assertGreaterEqual(took, 1)
        self.assertIn("GPU 1 is still busy after 1s: pid 777 holds 2000 MiB", r.stderr)
        self.assertFalse(os.path.exists(marker))
        self.assertEqual(self.status()["gpus"][1]["state"], "free")

    def test_busy_warn_runs_the_command_with_a_warning(self):
        self.write_state("1 2000 777:2000\n")
        r, _ = self.lock("--devices", "1", "--wait-idle", "0.5", "--busy=warn", "--", "true")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("warning: GPU 1 is still busy after", r.stderr)
        self.assertIn("pid 777", r.stderr)

    def test_wait_idle_0_hands_it_out_at_once(self):
        self.write_state("0 30000 4242:30000\n")
        r, took = self.lock("--devices", "0", "--wait-idle", "0", "--", "true")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertNotIn("busy", r.stderr)
        self.assertLess(took, 5)

    def test_memory_alone_makes_a_gpu_busy_above_idle_mem(self):
        self.write_state("2 1000\n")  # no process NVML can see (another pid namespace)
        r, _ = self.lock("--devices", "2", "--wait-idle", "0.3", "--", "true")
        self.assertEqual(r.returncode, 75, r.stderr)
        self.assertIn("no process NVML can see; 1000 of 81920 MiB used", r.stderr)
        r, _ = self.lock("--devices", "2", "--wait-idle", "0.3", "--idle-mem", "2000", "--",
                         "true")
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_without_nvml_no_check_and_one_debug_line(self):
        self.write_state("0 30000 4242:30000\n")
        env = dict(self.env, GPUCI_NVML=os.path.join(self.dir, "no-libnvidia-ml.so"))
        r, took = self.lock("--devices", "0", "--", "true", env=env)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertNotIn("debug", r.stderr)
        self.assertLess(took, 5)
        env["GPUCI_DEBUG"] = "1"
        r, _ = self.lock("--devices", "0", "--", "true", env=env)
        self.assertEqual(r.returncode, 0, r.stderr)
        lines = [l for l in r.stderr.splitlines() if "debug:" in l]
        self.assertEqual(len(lines), 1, r.stderr)
        self.assertIn("GPU readiness not checked: cannot load NVML", lines[0])
        self.assertNotIn("busy", r.stderr)

    def test_a_two_gpu_request_waits_for_its_busy_gpu(self):
        self.write_state(f"1 5000 321:5000 until={time.time() + 2}\n")
        r, took = self.lock("--devices", "0,1", "--", "sh", "-c",
                            "echo $CUDA_VISIBLE_DEVICES")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, "0,1\n")
        self.assertIn("GPU 1 is busy: pid 321 holds 5000 MiB", r.stderr)
        self.assertNotIn("GPU 0 is busy", r.stderr)
        self.assertGreaterEqual(took, 1.8)

    def test_a_count_request_takes_idle_gpus_instead_of_waiting(self):
        self.write_state("0 9000 11:9000\n2 9000 13:9000\n")
        r, took = self.lock("--count", "2", "--", "sh", "-c", "echo $CUDA_VISIBLE_DEVICES")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, "1,3\n")
        self.assertNotIn("busy", r.stderr)  # nothing was waited for
        self.assertLess(took, 10)

    def test_the_queue_behind_a_waiting_request_keeps_its_order(self):
        # A waits for GPU 0 to drain; B, a later request for any 1 GPU of a
        # 1-GPU machine, gets it only after A is done.
        self.write_state(f"0 30000 4242:30000 until={time.time() + 1.5}\n")
        log = os.path.join(self.dir, "log")
        a = self.start("--devices", "0", "--", "sh", "-c", f"echo A >> {log}; sleep 0.3")
        time.sleep(0.5)
        b = subprocess.Popen([GPUCI, "lock", "--total-gpus", "1", "--count", "1",
                              "--lock-path-pattern", self.pattern, "--", "sh", "-c",
                              f"echo B >> {log}"], env=self.env, stderr=subprocess.PIPE,
                             text=True)
        self.procs.append(b)
        _, berr = b.communicate(timeout=60)
        _, aerr = a.communicate(timeout=60)
        self.assertEqual((a.returncode, b.returncode), (0, 0), aerr + berr)
        with open(log) as f:
            self.assertEqual(f.read(), "A\nB\n")
        self.assertIn("behind 1 earlier request", berr)

    def test_bad_busy_value_is_a_usage_error(self):
        r, _ = self.lock("--count", "1", "--busy", "maybe", "--", "true")
        self.assertEqual(r.returncode, 2)
        self.assertIn("--busy expects fail or warn, not 'maybe'", r.stderr)


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit("usage: ready_test.py PATH/TO/gpuci PATH/TO/libfake-nvml.so")
    GPUCI = os.path.abspath(sys.argv.pop(1))
    FAKE_NVML = os.path.abspath(sys.argv.pop(1))
    unittest.main(verbosity=2)
