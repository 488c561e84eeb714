#!/usr/bin/env python3
"""End-to-end tests of `gpuci lock`: the real binary, lock files in a temp dir.

Run: python3 tests/cli/lock_test.py build/gpuci
"""
import fcntl
import json
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

GPUCI = None

# A holder written the way gpu_lock_exec.py takes its locks: open(path, "a+")
# and an exclusive non-blocking flock per GPU; prints "ready", holds until stdin closes.
PY_HOLDER = r"""
import fcntl, sys
fds = []
for gpu in sys.argv[2].split(","):
    f = open(sys.argv[1].format(gpu_id=int(gpu)), "a+")
    fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    fds.append(f)
print("ready", flush=True)
sys.stdin.read()
"""


def wait_until(pred, timeout=10.0, step=0.01):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(step)
    return pred()


def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except FileNotFoundError:
        return False


class LockTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="gpuci-e2e-")
        self.dir = self.tmp.name
        self.pattern = os.path.join(self.dir, "gpu_{gpu_id}.lock")
        self.procs = []

    def tearDown(self):
        for p in self.procs:
            if p.poll() is None:
                # SIGTERM lets gpuci end its job too; SIGKILL would leave it running.
                p.terminate()
                try:
                    p.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
            for f in (p.stdin, p.stdout, p.stderr):
                if f:
                    f.close()
        self.tmp.cleanup()

    def path(self, gpu):
        return self.pattern.format(gpu_id=gpu)

    def args(self, *extra, total=4):
        return [GPUCI, "lock", "--total-gpus", str(total), "--lock-path-pattern",
                self.pattern, *extra]

    def run_lock(self, *extra, total=4, timeout=30, env=None):
        return subprocess.run(self.args(*extra, total=total), capture_output=True, text=True,
                              timeout=timeout, env=env)

    def start(self, *extra, total=4, **kw):
        p = subprocess.Popen(self.args(*extra, total=total), stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, **kw)
        self.procs.append(p)
        return p

    def status(self, total=4):
        out = subprocess.run([GPUCI, "lock", "status", "--json", "--total-gpus", str(total),
                              "--lock-path-pattern", self.pattern],
                             capture_output=True, text=True, check=True).stdout
        return json.loads(out)

    def py_holder(self, gpus):
        p = subprocess.Popen([sys.executable, "-c", PY_HOLDER, self.pattern, gpus],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.procs.append(p)
        self.assertEqual(p.stdout.readline().strip(), "ready")
        return p

    def gpu_free(self, gpu):
        with open(self.path(gpu), "a+") as f:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return True
            except BlockingIOError:
                return False

    # -- the command and its environment ------------------------------------

    def test_command_sees_its_gpus_and_pci_bus_order(self):
        r = self.run_lock("--count", "2", "--", "sh", "-c",
                          'echo "$CUDA_VISIBLE_DEVICES $CUDA_DEVICE_ORDER"')
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, "0,1 PCI_BUS_ID\n")
        self.assertIn("acquired GPUs 0,1", r.stderr)

    def test_target_env_name_and_devices(self):
        r = self.run_lock("-q", "--devices", "3,1", "--target-env-name", "HIP_VISIBLE_DEVICES",
                          "--", "sh", "-c", 'echo "$HIP_VISIBLE_DEVICES"')
        self.assertEqual((r.returncode, r.stdout, r.stderr), (0, "1,3\n", ""))

    def test_command_runs_without_a_shell(self):
        r = self.run_lock("-q", "--count", "1", "--", "printf", "%s|", "a b", "$HOME", "*")
        self.assertEqual(r.stdout, "a b|$HOME|*|")

    def test_command_gets_default_signal_dispositions(self):
        r = self.run_lock("-q", "--count", "1", "--", "grep", "-E", "^Sig(Ign|Blk)",
                          "/proc/self/status")
        masks = dict(line.split(":\t") for line in r.stdout.splitlines())
        sigpipe, sigint, sigchld = 1 << (13 - 1), 1 << (2 - 1), 1 << (17 - 1)
        self.assertEqual(int(masks["SigIgn"], 16) & (sigpipe | sigint), 0, r.stdout)
        self.assertEqual(int(masks["SigBlk"], 16) & (sigint | sigchld), 0, r.stdout)

    def test_exit_status_is_passed_on(self):
        self.assertEqual(self.run_lock("--count", "1", "--", "sh", "-c", "exit 7").returncode, 7)
        self.assertEqual(self.run_lock("--count", "1", "--", "sh", "-c",
                                       "kill -TERM $$").returncode, 128 + 15)
        r = self.run_lock("--count", "1", "--", "gpuci-no-such-program")
        self.assertEqual(r.returncode, 127)
        self.assertIn("cannot run 'gpuci-no-such-program'", r.stderr)

    # -- usage errors: one clear line, exit 2 --------------------------------

    def test_usage_errors_exit_2_with_one_line(self):
        cases = [
            (["--count", "1", "--lock-path-pattern", "/tmp/x_{i}.lock", "--", "true"],
             "must contain {gpu_id}"),
            (["--count", "5", "--", "true"], "--count 5 is more than the 4 GPUs"),
            (["--count", "1"], "no command to run"),
            (["--", "true"], "--count N"),
            (["--count", "1", "--devices", "0", "--", "true"], "not both"),
            (["--count", "two", "--", "true"], "--count expects a whole number"),
            (["--devices", "0,x", "--", "true"], "--devices expects GPU numbers"),
            (["--devices", "4", "--", "true"], "only 4"),
            (["--devices", "0,,1", "--", "true"], "--devices expects GPU numbers"),
            (["--devices", ",1", "--", "true"], "--devices expects GPU numbers"),
            (["--devices", "1,", "--", "true"], "--devices expects GPU numbers"),
            (["--frobnicate", "--", "true"], "unknown option '--frobnicate'"),
            (["--count", "1", "--timeout", "soon", "--", "true"], "--timeout expects seconds"),
        ]
        for extra, msg in cases:
            with self.subTest(extra=extra):
                r = self.run_lock(*extra)
                self.assertEqual(r.returncode, 2, r.stderr)
                self.assertIn(msg, r.stderr)
                self.assertTrue(r.stderr.startswith("gpuci lock: "), r.stderr)
                self.assertEqual(r.stdout, "")

    def test_total_comes_from_gpuci_total_gpus_without_a_gpu(self):
        if os.path.exists("/proc/driver/nvidia/gpus"):
            self.skipTest("a real GPU is present")
        env = dict(os.environ, GPUCI_TOTAL_GPUS="3")
        r = subprocess.run([GPUCI, "lock", "--lock-path-pattern", self.pattern, "--count", "4",
                            "--", "true"], capture_output=True, text=True, env=env)
        self.assertEqual(r.returncode, 2)
        self.assertIn("more than the 3 GPUs", r.stderr)
        env.pop("GPUCI_TOTAL_GPUS")
        r = subprocess.run([GPUCI, "lock", "--lock-path-pattern", self.pattern, "--print-only"],
                           capture_output=True, text=True, env=env)
        self.assertIn("assuming 8", r.stderr)
        self.assertEqual(r.stdout, "Free GPUs: 0,1,2,3,4,5,6,7\n")

    def test_devices_are_checked_against_a_discovered_total(self):
        if os.path.exists("/proc/driver/nvidia/gpus"):
            self.skipTest("a real GPU is present")
        env = dict(os.environ, GPUCI_TOTAL_GPUS="8")
        r = subprocess.run([GPUCI, "lock", "--lock-path-pattern", self.pattern, "--devices", "8",
                            "--", "true"], capture_output=True, text=True, env=env)
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("--devices names GPU 8, but there are only 8", r.stderr)
        r = subprocess.run([GPUCI, "lock", "-q", "--lock-path-pattern", self.pattern,
                            "--devices", "7", "--", "true"], capture_output=True, text=True,
                           env=env)
        self.assertEqual((r.returncode, r.stderr), (0, ""))

    # -- interop with gpu_lock_exec.py's flock -------------------------------

    def test_python_flock_holders_and_gpuci_exclude_each_other(self):
        holder = self.py_holder("0,2")
        r = self.run_lock("--print-only")
        self.assertEqual(r.stdout, "Free GPUs: 1,3\n")
        r = self.run_lock("-q", "--count", "2", "--", "sh", "-c", "echo $CUDA_VISIBLE_DEVICES")
        self.assertEqual(r.stdout, "1,3\n")
        r = self.run_lock("--devices", "2", "--timeout", "0.3", "--", "true")
        self.assertEqual(r.returncode, 75)
        self.assertIn("timed out after 0.3s waiting for GPUs 2", r.stderr)
        # The other way round: while gpuci holds GPU 1, Python cannot take it.
        g = self.start("-q", "--devices", "1", "--", "sleep", "30")
        self.assertTrue(wait_until(lambda: not self.gpu_free(1)))
        s = self.status()
        self.assertEqual(s["gpus"][0]["pid"], holder.pid)
        self.assertEqual(s["gpus"][1]["pid"], g.pid)
        self.assertEqual(s["gpus"][3]["state"], "free")
        holder.stdin.close()
        holder.wait()
        self.assertTrue(wait_until(lambda: self.gpu_free(0)))

    def test_waiter_is_woken_when_a_python_holder_exits(self):
        holder = self.py_holder("0,1,2,3")
        w = self.start("-q", "--count", "4", "--", "true")
        self.assertTrue(wait_until(lambda: len(self.status()["waiters"]) == 1))
        holder.stdin.close()
        self.assertEqual(w.wait(timeout=10), 0)

    # -- order and reservation -----------------------------------------------

    def test_waiters_are_served_in_arrival_order(self):
        log = os.path.join(self.dir, "order")
        hold = self.start("-q", "--count", "4", "--", "sleep", "30")
        self.assertTrue(wait_until(lambda: not self.gpu_free(3)))
        waiters = []
        # Any two neighbours need more than the 4 GPUs, so the commands cannot overlap.
        for i, count in enumerate([4, 3, 2, 4, 3]):
            waiters.append(self.start("-q", "--count", str(count), "--", "sh", "-c",
                                      f"echo {i} >> {log}; sleep 0.05"))
            self.assertTrue(wait_until(lambda: len(self.status()["waiters"]) == i + 1))
        self.assertEqual([w["count"] for w in self.status()["waiters"]], [4, 3, 2, 4, 3])
        hold.send_signal(signal.SIGTERM)
        hold.wait()
        for w in waiters:
            self.assertEqual(w.wait(timeout=30), 0)
        with open(log) as f:
            self.assertEqual(f.read().split(), ["0", "1", "2", "3", "4"])

    def test_wide_request_reserves_gpus_so_narrow_ones_cannot_starve_it(self):
        small = self.start("-q", "--devices", "0", "--", "sleep", "30")
        self.assertTrue(wait_until(lambda: not self.gpu_free(0)))
        wide = self.start("--count", "4", "--", "true")
        self.assertTrue(wait_until(lambda: len(self.status()["waiters"]) == 1))
        self.assertTrue(wait_until(
            lambda: [g["state"] for g in self.status()["gpus"]] ==
            ["held", "reserved", "reserved", "reserved"]))
        # Three GPUs are free of jobs, yet a 1-GPU request queues behind the wide one.
        r = self.run_lock("--count", "1", "--timeout", "0.5", "--", "true")
        self.assertEqual(r.returncode, 75)
        small.send_signal(signal.SIGTERM)
        self.assertEqual(wide.wait(timeout=10), 0)
        # It said once why it slept, and what it had reserved meanwhile.
        err = wide.stderr.read()
        self.assertEqual(err.count("waiting for"), 1, err)
        self.assertIn("gpuci lock: waiting for 4 of 4 GPUs, first in line, 3 reserved so far", err)

    # -- a lease lasts as long as the job ------------------------------------

    def test_processes_left_behind_are_ended_before_release(self):
        pidfile = os.path.join(self.dir, "bg")
        r = self.run_lock("--count", "1", "--kill-after", "5", "--", "bash", "-c",
                          f"sleep 30 & echo $! > {pidfile}; sleep 0.2")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("ended 1 process(es) the command left behind", r.stderr)
        with open(pidfile) as f:
            self.assertFalse(alive(int(f.read())))
        self.assertTrue(self.gpu_free(0))

    def test_sigterm_reaches_the_job_and_survivors_are_killed(self):
        pidfile = os.path.join(self.dir, "child")
        script = (f"(trap '' TERM; exec sleep 30) & echo $! > {pidfile}; "
                  "trap 'exit 0' TERM; wait; wait")
        g = self.start("--count", "1", "--kill-after", "0.5", "--", "bash", "-c", script)
        self.assertTrue(wait_until(lambda: os.path.exists(pidfile) and os.path.getsize(pidfile)))
        with open(pidfile) as f:
            child = int(f.read())
        time.sleep(0.1)
        g.send_signal(signal.SIGTERM)
        # The command exits cleanly on SIGTERM, its child lives on: the GPU stays held.
        time.sleep(0.2)
        self.assertTrue(alive(child))
        self.assertFalse(self.gpu_free(0))
        self.assertEqual(g.wait(timeout=10), 128 + 15)
        self.assertFalse(alive(child))
        self.assertTrue(self.gpu_free(0))

    def test_sigint_from_kill_goes_to_the_job(self):
        marker = os.path.join(self.dir, "interrupted")
        script = ("import sys, time\n"
                  "try:\n    print('up', flush=True); time.sleep(30)\n"
                  f"except KeyboardInterrupt:\n    open({marker!r}, 'w').close()\n")
        g = self.start("-q", "--count", "1", "--", sys.executable, "-c", script)
        self.assertEqual(g.stdout.readline(), "up\n")
        g.send_signal(signal.SIGINT)
        self.assertEqual(g.wait(timeout=10), 130)
        self.assertTrue(os.path.exists(marker))

    def test_ctrl_c_on_a_terminal_reaches_the_job_once(self):
        import pty
        count = os.path.join(self.dir, "sigints")
        script = ("import signal, time\n"
                  "n = []\n"
                  "signal.signal(signal.SIGINT, lambda *a: n.append(1))\n"
                  "print('up', flush=True)\n"
                  "while not n: time.sleep(0.01)\n"
                  "time.sleep(0.5)\n"
                  f"open({count!r}, 'w').write(str(len(n)))\n"
                  "raise SystemExit(3)\n")
        pid, master = pty.fork()
        if pid == 0:
            os.execv(GPUCI, self.args("-q", "--count", "1", "--", sys.executable, "-c", script))
        try:
            out = b""
            while b"up" not in out:
                out += os.read(master, 1024)
            os.write(master, b"\x03")  # the terminal sends SIGINT to the foreground group
            _, status = os.waitpid(pid, 0)
        finally:
            os.close(master)
        self.assertEqual(os.waitstatus_to_exitcode(status), 130)
        with open(count) as f:
            self.assertEqual(f.read(), "1", "the job got the terminal's SIGINT more than once")

    def test_sighup_goes_to_the_job(self):
        marker = os.path.join(self.dir, "hup")
        script = ("import signal, sys, time\n"
                  f"signal.signal(signal.SIGHUP, lambda *a: (open({marker!r}, 'w').close(), sys.exit(0)))\n"
                  "print('up', flush=True); time.sleep(30)\n")
        g = self.start("-q", "--count", "1", "--", sys.executable, "-c", script)
        self.assertEqual(g.stdout.readline(), "up\n")
        g.send_signal(signal.SIGHUP)
        self.assertEqual(g.wait(timeout=10), 128 + signal.SIGHUP)
        self.assertTrue(os.path.exists(marker))

    def test_a_waiter_behind_others_says_so(self):
        self.start("-q", "--count", "4", "--", "sleep", "30")
        self.assertTrue(wait_until(lambda: not self.gpu_free(3)))
        self.start("-q", "--count", "2", "--", "true")
        self.assertTrue(wait_until(lambda: len(self.status()["waiters"]) == 1))
        w = self.start("--devices", "1,2", "--timeout", "0.3", "--", "true")
        self.assertEqual(w.wait(timeout=10), 75)
        self.assertEqual(w.stderr.read(),
                         "gpuci lock: waiting for GPUs 1,2, behind 1 earlier request "
                         "(see 'gpuci lock status')\n"
                         "gpuci lock: timed out after 0.3s waiting for GPUs 1,2\n")

    def test_gpus_stay_held_while_the_job_outlives_a_sigkilled_gpuci(self):
        pidfile = os.path.join(self.dir, "job")
        g = self.start("-q", "--count", "2", "--", "bash", "-c",
                       f"sleep 30 & echo $! > {pidfile}; wait")
        self.assertTrue(wait_until(lambda: os.path.exists(pidfile) and os.path.getsize(pidfile)))
        with open(pidfile) as f:
            job = int(f.read())
        g.kill()
        g.wait()
        r = self.run_lock("--count", "3", "--timeout", "0.3", "--", "true")
        self.assertEqual(r.returncode, 75, "GPUs were handed out while the job still ran")
        r = self.run_lock("-q", "--count", "2", "--", "sh", "-c", "echo $CUDA_VISIBLE_DEVICES")
        self.assertEqual(r.stdout, "2,3\n")
        gpus = self.status()["gpus"]
        self.assertEqual([x["state"] for x in gpus[:2]], ["held", "held"])
        self.assertFalse(gpus[0]["pid_alive"])
        os.kill(job, signal.SIGKILL)
        # Waiting is woken by the job's death; no polling delay.
        t0 = time.monotonic()
        self.assertTrue(wait_until(lambda: self.gpu_free(0) and self.gpu_free(1)))
        self.assertLess(time.monotonic() - t0, 5)

    def test_interrupted_waiter_leaves_the_queue(self):
        self.start("-q", "--count", "4", "--", "sleep", "30")
        self.assertTrue(wait_until(lambda: not self.gpu_free(3)))
        w = self.start("-q", "--count", "1", "--", "true")
        self.assertTrue(wait_until(lambda: len(self.status()["waiters"]) == 1))
        w.send_signal(signal.SIGTERM)
        self.assertEqual(w.wait(timeout=10), 143)
        self.assertEqual(self.status()["waiters"], [])

    # -- status --------------------------------------------------------------

    def test_status_lists_holders_and_waiters(self):
        self.start("-q", "--devices", "1", "--", "sleep", "30")
        self.assertTrue(wait_until(lambda: not self.gpu_free(1)))
        self.start("-q", "--count", "4", "--", "python3", "tests/test_big.py")
        self.assertTrue(wait_until(lambda: len(self.status()["waiters"]) == 1))
        s = self.status()
        self.assertEqual(s["gpus"][1]["command"], "sleep 30")
        self.assertEqual(s["waiters"][0]["count"], 4)
        self.assertEqual(s["waiters"][0]["command"], "python3 tests/test_big.py")
        text = subprocess.run([GPUCI, "lock", "status", "--total-gpus", "4",
                               "--lock-path-pattern", self.pattern],
                              capture_output=True, text=True).stdout
        self.assertIn("0 of 4 GPUs free, 1 waiting", text)
        self.assertIn("sleep 30", text)
        self.assertIn("4 GPUs", text)
        self.assertIn("(for waiter 1)", text)

    def test_status_shows_control_characters_escaped_and_json_is_utf8(self):
        evil = b"\x1b[31mred\xff\x07"
        p = subprocess.Popen([os.fsencode(GPUCI), *map(os.fsencode, self.args(
            "-q", "--devices", "0", "--", "sh", "-c", "sleep 30", "x")[1:]), evil],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.procs.append(p)
        self.assertTrue(wait_until(lambda: not self.gpu_free(0)))
        raw = subprocess.run([GPUCI, "lock", "status", "--json", "--total-gpus", "4",
                              "--lock-path-pattern", self.pattern],
                             capture_output=True, check=True).stdout
        s = json.loads(raw.decode("utf-8"))  # strict: invalid UTF-8 raises
        self.assertIn("\x1b[31mred", s["gpus"][0]["command"])
        text = subprocess.run([GPUCI, "lock", "status", "--total-gpus", "4",
                               "--lock-path-pattern", self.pattern],
                              capture_output=True, check=True).stdout
        self.assertNotIn(b"\x1b", text)
        self.assertNotIn(b"\x07", text)
        self.assertIn(b"x \\x1b[31mred\\xff\\x07", text)

    # -- lock files deleted or replaced under the protocol --------------------

    def test_a_deleted_lock_file_never_gives_the_gpu_twice(self):
        a = self.start("--devices", "0", "--", "sleep", "30")
        self.assertTrue(wait_until(lambda: not self.gpu_free(0)))
        os.unlink(self.path(0))
        r = self.run_lock("--devices", "0", "--timeout", "0.5", "--", "echo", "got")
        self.assertEqual((r.returncode, r.stdout), (75, ""), r.stderr)
        r = self.run_lock("--count", "4", "--timeout", "0.3", "--", "echo", "got")
        self.assertEqual((r.returncode, r.stdout), (75, ""), r.stderr)
        self.assertEqual(self.run_lock("--print-only").stdout, "Free GPUs: 1,2,3\n")
        g = self.status()["gpus"][0]
        self.assertEqual((g["state"], g["pid"], g.get("lock_file_replaced")),
                         ("held", a.pid, True))
        # The holder noticed, and said it is still safe.
        w = self.start("--devices", "0", "--", "echo", "got")
        a.send_signal(signal.SIGTERM)
        self.assertEqual(w.wait(timeout=10), 0)
        self.assertEqual(w.stdout.read(), "got\n")
        a.wait()
        err = a.stderr.read()
        self.assertIn("the lock file of GPU 0 was deleted or replaced; its witness still "
                      "keeps other requests out", err)
        self.assertNotIn("WARNING", err)

    def test_a_holder_whose_lock_file_and_witness_are_deleted_says_so_loudly(self):
        a = self.start("--devices", "0", "--", "sleep", "30")
        self.assertTrue(wait_until(lambda: not self.gpu_free(0)))
        os.unlink(self.path(0))
        os.unlink(self.pattern.format(gpu_id="0-held"))
        time.sleep(0.3)
        # Status says it too, where the GPU now looks free.
        g = self.status()["gpus"][0]
        self.assertEqual((g["state"], g.get("lost_holder")), ("free", a.pid))
        text = subprocess.run([GPUCI, "lock", "status", "--total-gpus", "4",
                               "--lock-path-pattern", self.pattern],
                              capture_output=True, text=True).stdout
        self.assertIn(f"0    WARNING: pid {a.pid} holds a lock on its deleted lock file", text)
        self.assertNotIn("WARNING", text.split("\n0    WARNING")[0])
        a.send_signal(signal.SIGTERM)
        a.wait()
        self.assertIn("gpuci lock: WARNING: the lock file of GPU 0 and its witness were "
                      "deleted or replaced while this job holds it: another job may be "
                      "given GPU 0", a.stderr.read())

    def test_waiters_of_a_deleted_queue_join_the_new_one_in_arrival_order(self):
        holder = self.py_holder("0")
        first = self.start("-q", "--count", "4", "--", "true")
        self.assertTrue(wait_until(
            lambda: [g["state"] for g in self.status()["gpus"]] ==
            ["held", "reserved", "reserved", "reserved"]))
        os.unlink(self.pattern.format(gpu_id="queue"))
        second = self.start("-q", "--count", "4", "--", "true")
        # The first waiter comes back into the new queue, ahead of the second.
        self.assertTrue(wait_until(
            lambda: [w["pid"] for w in self.status()["waiters"]] == [first.pid, second.pid],
            timeout=5), self.status())
        self.assertEqual([g.get("waiter") for g in self.status()["gpus"]][1:], [1, 1, 1])
        holder.stdin.close()
        self.assertEqual(first.wait(timeout=10), 0)
        self.assertEqual(second.wait(timeout=10), 0)

    def unusable_kinds(self):
        def symlink(p):
            os.symlink(os.path.join(self.dir, "elsewhere"), p)

        def fifo(p):
            os.mkfifo(p)

        def directory(p):
            os.mkdir(p)
        return {"symlink": (symlink, "is a symbolic link"), "fifo": (fifo, "not a regular file"),
                "directory": (directory, "Is a directory")}

    def test_an_unusable_lock_file_takes_only_its_gpu_out_of_service(self):
        for kind, (make, why) in self.unusable_kinds().items():
            with self.subTest(kind=kind):
                path = self.path(0)
                make(path)
                r = self.run_lock("--count", "3", "--", "sh", "-c", "echo $CUDA_VISIBLE_DEVICES")
                self.assertEqual((r.returncode, r.stdout), (0, "1,2,3\n"), r.stderr)
                self.assertIn("warning: GPU 0 is out of service: ", r.stderr)
                self.assertIn(why, r.stderr)
                r = self.run_lock("--count", "4", "--", "true")
                self.assertEqual(r.returncode, 1, r.stderr)
                self.assertIn("cannot take 4 GPUs: only 3 of 4 can be used", r.stderr)
                r = self.run_lock("--print-only")
                self.assertEqual((r.returncode, r.stdout), (0, "Free GPUs: 1,2,3\n"), r.stderr)
                self.assertIn("GPU 0 is out of service", r.stderr)
                g = self.status()["gpus"][0]
                self.assertEqual(g["state"], "unusable")
                self.assertIn(why, g["problem"])
                text = subprocess.run([GPUCI, "lock", "status", "--total-gpus", "4",
                                       "--lock-path-pattern", self.pattern],
                                      capture_output=True, text=True).stdout
                self.assertIn("3 of 4 GPUs free, 0 waiting, 1 out of service", text)
                self.assertIn("0    unusable  (out of service: ", text)
                r = self.run_lock("--devices", "0", "--", "true")
                self.assertEqual(r.returncode, 1, r.stderr)
                if os.path.isdir(path):
                    os.rmdir(path)
                else:
                    os.unlink(path)

    def test_tickets_of_killed_waiters_are_removed(self):
        hold = self.start("-q", "--count", "4", "--", "sleep", "30")
        self.assertTrue(wait_until(lambda: not self.gpu_free(3)))
        ws = [self.start("-q", "--count", "1", "--", "true") for _ in range(3)]
        self.assertTrue(wait_until(lambda: len(self.status()["waiters"]) == 3))

        def tickets():
            return sorted(f for f in os.listdir(self.dir) if "ticket-" in f)
        self.assertEqual(len(tickets()), 3)
        for w in ws:
            w.kill()
            w.wait()
        time.sleep(0.3)
        self.assertEqual(self.status()["waiters"], [])
        self.assertEqual(tickets(), [], "status left the tickets of killed waiters")
        # The next requester removes them too.
        ws = [self.start("-q", "--count", "1", "--", "true") for _ in range(2)]
        self.assertTrue(wait_until(lambda: len(self.status()["waiters"]) == 2))
        for w in ws:
            w.kill()
            w.wait()
        time.sleep(0.3)
        hold.send_signal(signal.SIGTERM)
        hold.wait()
        self.assertEqual(self.run_lock("-q", "--count", "1", "--", "true").returncode, 0)
        self.assertEqual(tickets(), [], "the next requester left the tickets of killed waiters")

    # -- a shared machine ----------------------------------------------------

    def other_user_setup(self, name="nobody"):
        """(run-as keywords, gpuci, lock pattern) for a second user, or skip saying why.

        That user must reach the binary and the lock files: under a 0700 folder
        (a clone in /root) it cannot reach build/gpuci, so the binary (it needs
        only system libraries, libasan's too) is copied into a
        folder of its own, 0755 up to a temporary folder of the system's, and
        the lock files go next to it in a sticky 1777 folder, like /dev/shm.
        """
        if os.geteuid() != 0:
            self.skipTest("needs root to act as a second user")
        try:
            pw = pwd.getpwnam(name)
        except KeyError:
            self.skipTest(f"no user {name!r} to act as a second user")
        # The user's own groups only: root's supplementary groups would let it
        # into folders it could not enter on its own.
        as_user = {"user": pw.pw_uid, "group": pw.pw_gid, "extra_groups": []}
        tried = []
        for base in dict.fromkeys([tempfile.gettempdir(), "/tmp"]):
            top = tempfile.mkdtemp(prefix="gpuci-e2e-user-", dir=base)
            self.addCleanup(shutil.rmtree, top, ignore_errors=True)
            os.chmod(top, 0o755)
            os.mkdir(os.path.join(top, "bin"), 0o755)
            binary = os.path.join(top, "bin", "gpuci")
            shutil.copy(GPUCI, binary)
            os.chmod(binary, 0o755)
            locks = os.path.join(top, "locks")
            os.mkdir(locks)
            os.chmod(locks, 0o1777)
            # Can the user run the copy and write in the lock folder? (/bin/sh:
            # the test's own Python may sit where the user cannot reach.)
            probe = subprocess.run(["/bin/sh", "-c", 'test -x "$1" && test -w "$2" && test -x "$2"',
                                    "sh", binary, locks], cwd="/", **as_user)
            if probe.returncode == 0:
                return as_user, binary, os.path.join(locks, "gpu_{gpu_id}.lock")
            tried.append(top)
        self.skipTest(f"user {name!r} cannot run a copy of gpuci nor write lock files "
                      f"in {' or '.join(tried)} (a folder above it is closed to that user)")

    def test_another_user_shares_the_files_of_the_first(self):
        as_user, binary, self.pattern = self.other_user_setup()
        # Lock files made by the Python script under umask 022: read-only to others.
        for gpu in range(4):
            with open(self.path(gpu), "a"):
                os.chmod(self.path(gpu), 0o644)
        self.assertEqual(self.run_lock("-q", "--count", "1", "--", "true").returncode, 0)

        def other_args(*extra):
            return [binary, *self.args(*extra)[1:]]

        holder = subprocess.Popen(other_args("-q", "--count", "3", "--", "sleep", "30"),
                                  cwd="/", stderr=subprocess.PIPE, text=True, **as_user)
        self.procs.append(holder)
        if not wait_until(lambda: not self.gpu_free(2) or holder.poll() is not None):
            self.fail("the second user's gpuci never took GPU 2")
        if holder.poll() is not None:
            self.fail(f"the second user's gpuci ended: {holder.stderr.read()}")
        gpus = self.status()["gpus"]
        self.assertEqual([g["pid"] for g in gpus[:3]], [holder.pid] * 3)
        w = subprocess.run(other_args("--count", "2", "--timeout", "0.3", "--", "true"),
                           cwd="/", capture_output=True, text=True, **as_user)
        self.assertEqual(w.returncode, 75, w.stderr)
        self.assertNotIn("warning", w.stderr)  # the queue was usable by the second user

    def test_another_users_unreadable_lock_file_takes_only_its_gpu_out(self):
        as_user, binary, self.pattern = self.other_user_setup()
        with open(self.path(0), "w"):
            os.chmod(self.path(0), 0o600)  # root's, closed to the second user

        def other(*extra):
            return subprocess.run([binary, *self.args(*extra)[1:]], cwd="/", capture_output=True,
                                  text=True, **as_user)
        r = other("--count", "3", "--", "sh", "-c", "echo $CUDA_VISIBLE_DEVICES")
        self.assertEqual((r.returncode, r.stdout), (0, "1,2,3\n"), r.stderr)
        self.assertIn("warning: GPU 0 is out of service: cannot open", r.stderr)
        r = other("--count", "4", "--", "true")
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("only 3 of 4 can be used", r.stderr)
        r = other("--print-only")
        self.assertEqual(r.stdout, "Free GPUs: 1,2,3\n", r.stderr)

    def test_a_planted_symlink_is_refused_and_never_written_through(self):
        victim = os.path.join(self.dir, "victim")
        os.symlink(victim, self.path(0))
        r = self.run_lock("--devices", "0", "--", "true")
        self.assertEqual(r.returncode, 1)
        self.assertIn("is a symbolic link; refusing to use it", r.stderr)
        self.assertFalse(os.path.exists(victim))


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit("usage: lock_test.py PATH/TO/gpuci")
    GPUCI = os.path.abspath(sys.argv.pop(1))
    unittest.main(verbosity=2)
