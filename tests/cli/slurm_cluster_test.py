"""The Slurm clients against a real, private cluster (tests/harness/slurm.py).

    slurm_cluster_test.py GPUCI BUILD_DIR

What the Slurm executor will rely on, checked with the raw clients against
the one-node, 8-fake-GPU cluster the harness starts under BUILD_DIR/slurm/:
a batch job's GPUs (CUDA_VISIBLE_DEVICES, SLURM_JOB_GPUS, the GRES indices of
`scontrol -d show job`), none for a job without GPUs even when the submitter
had some, jobs queueing for GPUs (reasons Resources, then Priority), the state
and ExitCode of an ended job for an exit, a signal, a cancel and a time limit,
which scancel flags reach the batch script's child, two clusters side by side,
and stop() leaving nothing. Exits 77 (skipped) with the reason where the
cluster cannot start.
"""

import os
import re
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "harness"))
import slurm as harness  # noqa: E402  (tests/harness/slurm.py)

BUILD = None
C = None
TMP = None

# the batch script's child: says "ready", logs each signal; exits on the second TERM
CHILD = ("import signal, sys, time\n"
         "n = 0\n"
         "def h(sig, _):\n"
         "    global n\n"
         "    n += 1\n"
         "    print(f'child {sig}', flush=True)\n"
         "    if n == 2:\n"
         "        sys.exit(0)\n"
         "signal.signal(signal.SIGTERM, h)\n"
         "signal.signal(signal.SIGUSR1, h)\n"
         "print('ready', flush=True)\n"
         "while True:\n"
         "    time.sleep(0.05)\n")


def out_file(name):
    return os.path.join(TMP, name)


def read(path):
    try:
        with open(path) as f:
            return f.read()
    except FileNotFoundError:
        return ""


def wait_for(pred, what, timeout=10):
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def env_of(path):
    return dict(ln.split("=", 1) for ln in read(path).splitlines() if "=" in ln)


def listeners(ports):
    """{port: local address} of the TCP sockets listening on PORTS (/proc/net/tcp*)."""
    found = {}
    for name in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(name) as f:
            for ln in f.readlines()[1:]:
                local, st = ln.split()[1], ln.split()[3]
                addr, port = local.rsplit(":", 1)
                if st == "0A" and int(port, 16) in ports:
                    found[int(port, 16)] = addr
    return found


class SlurmCluster(unittest.TestCase):
    def test_loopback_only(self):
        self.assertEqual(listeners(C.ports), {p: "0100007F" for p in C.ports})

    def test_batch_job_gets_its_gpus(self):
        f = out_file("gpus2.env")
        jid = C.sbatch("--gres=gpu:2", "-o", f, "--wrap", "env; sleep 1")
        C.wait_state(jid, "RUNNING", "COMPLETING", "COMPLETED")
        gres = C.job(jid).get("GRES", "")
        C.wait_state(jid, "COMPLETED")
        env = env_of(f)
        ids = env.get("CUDA_VISIBLE_DEVICES", "").split(",")
        self.assertEqual(len(ids), 2, env.get("CUDA_VISIBLE_DEVICES"))
        self.assertEqual(env.get("SLURM_JOB_GPUS"), env["CUDA_VISIBLE_DEVICES"])
        self.assertEqual(env.get("SLURM_GPUS_ON_NODE"), "2")
        m = re.fullmatch(r"gpu:2\(IDX:(\d+)-(\d+)\)", gres)
        self.assertIsNotNone(m, gres)
        self.assertEqual(ids, [str(i) for i in range(int(m[1]), int(m[2]) + 1)])
        job = C.job(jid)   # ended: the indices are gone, the node stays
        self.assertEqual((job["JobState"], job["ExitCode"], job["NodeList"], job["GRES"]),
                         ("COMPLETED", "0:0", C.node, ""))

    def test_job_without_gpus_gets_no_cuda_visible_devices(self):
        f = out_file("gpus0.env")
        env = dict(C.env, CUDA_VISIBLE_DEVICES="5,6", GPUCI_PROBE="passed")
        jid = C.sbatch("--export=ALL", "-o", f, "--wrap", "env", env=env)
        C.wait_state(jid, "COMPLETED")
        got = env_of(f)
        self.assertEqual(got.get("GPUCI_PROBE"), "passed")   # --export=ALL works...
        self.assertNotIn("CUDA_VISIBLE_DEVICES", got)        # ...but Slurm drops this one
        self.assertNotIn("SLURM_JOB_GPUS", got)

    def test_gpu_jobs_queue(self):
        a = C.sbatch("--gres=gpu:8", "-o", "/dev/null", "--wrap", "sleep 30")
        b = C.sbatch("--gres=gpu:8", "-o", "/dev/null", "--wrap", "true")
        c = C.sbatch("--gres=gpu:1", "-o", "/dev/null", "--wrap", "true")
        try:
            C.wait_state(a, "RUNNING")
            wait_for(lambda: C.job(c).get("Reason") == "Priority", "job c's reason")
            r = C.run("squeue", "-h", "-j", f"{a},{b},{c}", "-o", "%i|%T|%r|%N")
            rows = sorted(r.stdout.split())
            self.assertEqual(rows, sorted([f"{a}|RUNNING|None|{C.node}",
                                           f"{b}|PENDING|Resources|", f"{c}|PENDING|Priority|"]))
        finally:
            C.run("scancel", a, b, c)
        for j in (a, b, c):
            C.wait_state(j, "CANCELLED")

    def test_exit_codes(self):
        jobs = {
            "ok": C.sbatch("-o", "/dev/null", "--wrap", "exit 0"),
            "exit3": C.sbatch("-o", "/dev/null", "--wrap", "exit 3"),
            "segv": C.sbatch("-o", "/dev/null", "--wrap", "kill -SEGV $$"),
            "segv_child": C.sbatch("-o", "/dev/null", "--wrap",
                                   f"{sys.executable} -c 'import os; os.kill(os.getpid(), 11)'"),
            "cancel": C.sbatch("-o", "/dev/null", "--wrap", "sleep 300"),
            "pending": C.sbatch("-o", "/dev/null", "--hold", "--wrap", "true"),
        }
        C.wait_state(jobs["cancel"], "RUNNING")
        C.run("scancel", jobs["cancel"], jobs["pending"])
        want = {"ok": ("COMPLETED", "None", "0:0"),
                "exit3": ("FAILED", "NonZeroExitCode", "3:0"),
                # the batch shell itself killed by a signal: Slurm says "launch failure"
                "segv": ("FAILED", "JobLaunchFailure", "0:11"),
                "segv_child": ("FAILED", "NonZeroExitCode", "139:0"),   # sh: 128 + 11
                "cancel": ("CANCELLED", "None", "0:15"),
                "pending": ("CANCELLED", "JobHeldUser", "0:0")}
        for k, jid in jobs.items():
            C.wait_state(jid, want[k][0])
            got = ended(jid)
            if k == "cancel" and got[2] == "0:9":
                # SIGTERM, then SIGKILL after KillWait: a loaded machine may see the second
                got = got[:2] + ("0:15",)
            self.assertEqual(got, want[k], k)

    def test_scancel_signal_reaches_the_child_with_full(self):
        log = out_file("signals.log")
        jid = submit_trap(log)
        try:
            wait_for(lambda: "ready" in read(log), "the child to start")
            C.run("scancel", "--signal=TERM", jid)   # the steps only: a batch job has none
            time.sleep(1)
            self.assertEqual(read(log), "ready\n")
            self.assertEqual(C.state(jid), "RUNNING")
            C.run("scancel", "--signal=TERM", "--full", jid)
            wait_for(lambda: "child 15" in read(log) and "shell TERM" in read(log),
                     "SIGTERM in the shell and its child")
            time.sleep(0.5)
            self.assertEqual(C.state(jid), "RUNNING")   # both trapped it: still running
            C.run("scancel", "--signal=TERM", "--full", jid)   # the child's second: it exits
            C.wait_state(jid, "COMPLETED")
        finally:
            C.run("scancel", jid, check=False)
        self.assertEqual(read(log).split("\n")[-2], "shell done")

    def test_second_cluster_beside_and_stop_leaves_nothing(self):
        c2 = harness.Cluster.start(BUILD, gpus=2, cpus=4)
        srun = None
        try:
            self.assertNotEqual(c2.dir, C.dir)
            self.assertFalse(set(c2.ports) & set(C.ports))
            f = out_file("c2.env")
            a = c2.sbatch("-J", "c2-running", "--gres=gpu:2", "-o", f, "--wrap", "env; sleep 300")
            b = c2.sbatch("-J", "c2-pending", "--gres=gpu:1", "-o", "/dev/null", "--wrap", "true")
            srun = subprocess.Popen(["srun", "-Q", "--input=none", "--gres=gpu:1", "sleep", "300"],
                                    env=c2.env, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL)
            c2.wait_state(a, "RUNNING")
            wait_for(lambda: len(c2.jobs()) == 3, "the srun's job")
            self.assertEqual(c2.job(b)["JobState"], "PENDING")
            wait_for(lambda: "CUDA_VISIBLE_DEVICES" in env_of(f), "c2's job env")
            self.assertEqual(env_of(f)["CUDA_VISIBLE_DEVICES"], "0,1")
            names = C.run("squeue", "-h", "-o", "%j").stdout.split()
            self.assertNotIn("c2-running", names)
        finally:
            t0 = time.monotonic()
            c2.stop()
            took = time.monotonic() - t0
        self.assertEqual(c2.leftovers(), ([], False))
        self.assertIsNotNone(srun.wait(timeout=5))
        self.assertLess(took, 10)
        self.assertIn("is UP", C.run("scontrol", "ping").stdout)   # the first one lives on


    def test_time_limit(self):
        """Submitted at the start (use()): slurmctld checks time limits every 30 s from
        its start, and a limit is whole minutes (--time=1 ends 60-90 s after the start),
        so their limits were set to 0 as soon as they ran: ended at the 30 s check."""
        trap, plain = EARLY["trap"], EARLY["plain"]
        C.wait_state(plain, "TIMEOUT", timeout=40)
        C.wait_state(trap, "TIMEOUT", timeout=10)
        self.assertEqual(ended(plain), ("TIMEOUT", "TimeLimit", "0:15"))
        # the script and its child got SIGTERM, trapped it, and KillWait later SIGKILL
        self.assertEqual(ended(trap), ("TIMEOUT", "TimeLimit", "0:9"))
        log = read(EARLY["trap_log"])
        self.assertIn("child 15", log)
        self.assertIn("shell TERM", log)
        self.assertIn("DUE TO TIME LIMIT", log)   # slurmstepd writes this to the job's output
        self.assertNotIn("shell done", log)


def ended(jid):
    """(JobState, Reason, ExitCode) of an ended job, from scontrol show job."""
    j = C.job(jid)
    return j["JobState"], j["Reason"], j["ExitCode"]


def submit_trap(log, *args):
    """A batch job whose script and child (CHILD) log the signals they trap."""
    script = out_file("trap.sh")
    if not os.path.exists(script):
        with open(script, "w") as f:
            f.write(f"#!/bin/sh\ntrap 'echo shell TERM' TERM\n"
                    f"{sys.executable} -c \"$CHILD\" &\n"
                    "while kill -0 $! 2>/dev/null; do wait $!; done\necho shell done\n")
    return C.sbatch("-o", log, *args, script, env=dict(C.env, CHILD=CHILD))


EARLY = {}


def use(gpuci, build, cluster):
    global BUILD, C, TMP
    BUILD, C = build, cluster
    TMP = tempfile.mkdtemp(prefix="jobs.", dir=cluster.dir)   # goes with stop()
    EARLY["trap_log"] = out_file("timelimit.log")
    EARLY["trap"] = submit_trap(EARLY["trap_log"], "--time=1")
    EARLY["plain"] = C.sbatch("-o", "/dev/null", "--time=1", "--wrap", "sleep 300")
    for jid in (EARLY["trap"], EARLY["plain"]):
        C.wait_state(jid, "RUNNING")
        C.run("scontrol", "update", f"jobid={jid}", "timelimit=0")
    wait_for(lambda: "ready" in read(EARLY["trap_log"]), "the child to start")


if __name__ == "__main__":
    sys.exit(harness.run_tests("slurm_cluster_test.py", use))
