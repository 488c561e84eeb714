#!/usr/bin/env python3
"""End-to-end tests of `gpuci run` where things go wrong around it: a full
disk, a read-only checkout, an output path it cannot write, a crash of
gpuci with its keepers, file names that are not UTF-8, secrets, and a high
open-files limit.

Each test makes its own small repository (a workflow with a static matrix
and Python tests written here), simulated GPUs and lock files of its own.
Tests that need a mount namespace (unshare -m) or strace say why they skip.

Run: python3 tests/cli/run_harden_test.py build/gpuci
"""
import json
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

GPUCI = None
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

WORKFLOW = """\
name: harden
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

PRINT_OK = """\
NUM_GPUS = 1
print("a line of output")
"""

# Writes its pid, then sleeps holding its GPU (and ignores nothing).
SLEEPER = """\
import os, time
NUM_GPUS = 1
with open(os.path.join(os.environ["HARDEN_OUT"], "pid.tmp"), "w") as f:
    f.write(str(os.getpid()))
os.rename(os.path.join(os.environ["HARDEN_OUT"], "pid.tmp"),
          os.path.join(os.environ["HARDEN_OUT"], "pid"))
time.sleep(120)
"""

MARK = """\
import os
NUM_GPUS = 0
open(os.path.join(os.environ["HARDEN_OUT"], "ran"), "w").close()
"""

# Prints the secret in two writes (two reads of the pipe), then fails.
LEAK = """\
import os, sys, time
NUM_GPUS = 0
v = os.environ["HARDEN_TOKEN"]
sys.stdout.write("token=" + v[:4]); sys.stdout.flush(); time.sleep(0.2)
sys.stdout.write(v[4:] + " done\\n"); sys.stdout.flush()
sys.exit(1)
"""


class Repo:
    def __init__(self, entries, files):
        self.tmp = tempfile.mkdtemp(prefix="gpuci-run-harden.")
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
        self.history = os.path.join(self.tmp, "history.db")

    def env(self, **extra):
        e = {k: v for k, v in os.environ.items()
             if not k.startswith(("GITHUB_", "CUDA_", "HARDEN_"))}
        e["HARDEN_OUT"] = self.out
        e.update(extra)
        return e

    def args(self, *args, gpus=2):
        return [GPUCI, "run", "--workflow", self.workflow, "--gpus", str(gpus),
                "--lock-path-pattern", self.pattern, "--history", self.history,
                "--kill-after", "1", "--label", "run-ci-x", *args]

    def run(self, *args, gpus=2, env=None, timeout=60):
        return subprocess.run(self.args(*args, gpus=gpus), capture_output=True, text=True,
                              env=env or self.env(), cwd=self.root, timeout=timeout)

    def close(self):
        shutil.rmtree(self.tmp, ignore_errors=True)


def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except FileNotFoundError:
        return False


def can_unshare_mounts():
    """Whether `unshare -m` can mount here (root, or a user namespace); why not."""
    if not shutil.which("unshare"):
        return False, "no unshare(1)"
    r = subprocess.run(["unshare", "-m", "sh", "-c", "mount -t tmpfs -o size=4k tmpfs /mnt"],
                       capture_output=True, text=True)
    if r.returncode != 0:
        return False, "unshare -m cannot mount here (needs root): " + r.stderr.strip()
    return True, ""


def sh_quote(args):
    return " ".join("'" + a.replace("'", "'\\''") + "'" for a in args)


class LogWriteErrors(unittest.TestCase):
    def test_a_log_on_a_full_device_is_reported_and_the_pass_stands(self):
        repo = Repo([{"test_file": "test_print.py", "num_gpus": 1}],
                    {"test_print.py": PRINT_OK})
        self.addCleanup(repo.close)
        logs = os.path.join(repo.tmp, "logs")
        os.mkdir(logs)
        log = os.path.join(logs, "1-test_print.log")
        os.symlink("/dev/full", log)  # every write: ENOSPC
        r = repo.run("--log-dir", logs)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertRegex(r.stdout, r"PASS\s+test_print\.py")
        self.assertIn(f"log {log} incomplete: No space left on device", r.stdout)
        self.assertIn(log, r.stderr)
        self.assertIn("No space left on device", r.stderr)

    def test_a_full_filesystem_under_gpuci_is_reported(self):
        ok, why = can_unshare_mounts()
        if not ok:
            self.skipTest(why)
        repo = Repo([{"test_file": "test_print.py", "num_gpus": 1}],
                    {"test_print.py": PRINT_OK})
        self.addCleanup(repo.close)
        gpuci_dir = os.path.join(repo.root, ".gpuci")
        os.mkdir(gpuci_dir)
        # A one-page tmpfs on .gpuci, filled: folders and empty files fit, data does not.
        script = (f"mount -t tmpfs -o size=4k tmpfs {sh_quote([gpuci_dir])} && "
                  f"(head -c 65536 /dev/zero > {sh_quote([gpuci_dir + '/fill'])} "
                  f"2>/dev/null; true) && exec {sh_quote(repo.args())}")
        r = subprocess.run(["unshare", "-m", "sh", "-c", script], capture_output=True,
                           text=True, env=repo.env(), cwd=repo.root, timeout=60)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertRegex(r.stdout, r"PASS\s+test_print\.py")
        self.assertRegex(r.stdout, r"log \S+/1-test_print\.log incomplete: "
                                   r"No space left on device")


# Deletes the lock file of the GPU it was given, and with HARDEN_BOTH its
# second name too, as a careless admin would under a running job.
DELETER = """\
import os
NUM_GPUS = 1
gpu = os.environ["CUDA_VISIBLE_DEVICES"]
pattern = os.environ["HARDEN_PATTERN"]
os.unlink(pattern.replace("{gpu_id}", gpu))
if os.environ.get("HARDEN_BOTH"):
    os.unlink(pattern.replace("{gpu_id}", gpu + "-held"))
"""


class DeletedLockFiles(unittest.TestCase):
    def run_deleter(self, both):
        repo = Repo([{"test_file": "test_del.py", "num_gpus": 1}], {"test_del.py": DELETER})
        self.addCleanup(repo.close)
        extra = {"HARDEN_PATTERN": repo.pattern}
        if both:
            extra["HARDEN_BOTH"] = "1"
        return repo.run(env=repo.env(**extra))

    def test_a_test_whose_lock_file_was_deleted_is_told_it_was_still_safe(self):
        r = self.run_deleter(both=False)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertRegex(r.stdout, r"warning +test_del.py .*witness still keeps")
        self.assertNotIn("WARNING", r.stdout)

    def test_a_test_whose_lock_file_and_witness_were_deleted_says_so_loudly(self):
        r = self.run_deleter(both=True)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertRegex(r.stdout, r"WARNING +test_del.py .*another job may be given")


class OutputPaths(unittest.TestCase):
    def test_a_read_only_checkout_says_which_folder_and_what_to_do(self):
        ok, why = can_unshare_mounts()
        if not ok:
            self.skipTest(why)
        repo = Repo([{"test_file": "test_mark.py", "num_gpus": 0}], {"test_mark.py": MARK})
        self.addCleanup(repo.close)
        q = sh_quote([repo.root])
        script = (f"mount --bind {q} {q} && mount -o remount,bind,ro {q} && "
                  f"exec {sh_quote(repo.args())}")
        r = subprocess.run(["unshare", "-m", "sh", "-c", script], capture_output=True,
                           text=True, env=repo.env(), cwd=repo.tmp, timeout=60)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn(os.path.join(repo.root, ".gpuci"), r.stderr)
        self.assertIn("Read-only file system", r.stderr)
        self.assertIn("--log-dir", r.stderr)
        self.assertNotIn("No such file or directory", r.stderr)
        self.assertFalse(os.path.exists(os.path.join(repo.out, "ran")))
        # And --log-dir elsewhere runs it.
        logs = os.path.join(repo.tmp, "logs")
        script = (f"mount --bind {q} {q} && mount -o remount,bind,ro {q} && "
                  f"exec {sh_quote(repo.args('--log-dir', logs))}")
        r = subprocess.run(["unshare", "-m", "sh", "-c", script], capture_output=True,
                           text=True, env=repo.env(), cwd=repo.tmp, timeout=60)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertTrue(os.path.exists(os.path.join(logs, "1-test_mark.log")))

    def test_an_unwritable_junit_path_fails_before_anything_runs(self):
        repo = Repo([{"test_file": "test_mark.py", "num_gpus": 0}], {"test_mark.py": MARK})
        self.addCleanup(repo.close)
        junit = os.path.join(repo.tmp, "no-such-folder", "junit.xml")
        r = repo.run("--junit", junit)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn(junit, r.stderr)
        self.assertIn("No such file or directory", r.stderr)
        self.assertFalse(os.path.exists(os.path.join(repo.out, "ran")),
                         "a test ran although its report could not be written")
        # A folder where the file should be, the same.
        os.mkdir(os.path.join(repo.tmp, "dir.xml"))
        r = repo.run("--junit", os.path.join(repo.tmp, "dir.xml"))
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("Is a directory", r.stderr)
        self.assertFalse(os.path.exists(os.path.join(repo.out, "ran")))
        # A good path: the run, and the report, and no probe file left.
        good = os.path.join(repo.tmp, "junit.xml")
        r = repo.run("--junit", good)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertTrue(os.path.exists(good))
        self.assertEqual([n for n in os.listdir(repo.tmp) if ".tmp-" in n], [])


class CrashedRuns(unittest.TestCase):
    def start_and_wait_for_the_test(self, repo):
        g = subprocess.Popen(repo.args(gpus=1), stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, env=repo.env(), cwd=repo.root)
        self.addCleanup(lambda: g.poll() is None and g.kill())
        path = os.path.join(repo.out, "pid")
        deadline = time.time() + 30
        while not os.path.exists(path) and time.time() < deadline:
            time.sleep(0.05)
        with open(path) as f:
            pid = int(f.read())
        self.addCleanup(lambda: alive(pid) and os.kill(pid, signal.SIGKILL))
        os.unlink(path)
        return g, pid

    def wait_stopped(self, pid):
        deadline = time.time() + 15
        while time.time() < deadline:
            with open(f"/proc/{pid}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] in ("T", "t"):
                    return
            time.sleep(0.01)
        self.fail(f"setup: pid {pid} did not stop")

    def parent(self, pid):
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[1])

    def test_sigkill_of_gpuci_alone_ends_its_tests(self):
        # The keeper's PR_SET_PDEATHSIG: gpuci's death is the keeper's SIGTERM.
        repo = Repo([{"test_file": "test_sleep.py", "num_gpus": 1}],
                    {"test_sleep.py": SLEEPER})
        self.addCleanup(repo.close)
        g, pid = self.start_and_wait_for_the_test(repo)
        g.send_signal(signal.SIGKILL)
        g.wait()
        deadline = time.time() + 15
        while alive(pid) and time.time() < deadline:
            time.sleep(0.05)
        self.assertFalse(alive(pid), "the test outlived gpuci run's SIGKILL")

    def test_the_next_run_ends_what_a_run_killed_with_its_keepers_left(self):
        repo = Repo([{"test_file": "test_sleep.py", "num_gpus": 1}],
                    {"test_sleep.py": SLEEPER})
        self.addCleanup(repo.close)
        g, pid = self.start_and_wait_for_the_test(repo)
        keeper = self.parent(pid)
        self.assertNotEqual(keeper, g.pid)
        # As the OOM killer or `pkill -9 gpuci` would: gpuci and its keepers at
        # once. gpuci is stopped first, so that it does not see its keeper die
        # (it would end the keeper's group); the keeper is not: a group left
        # with a stopped member when gpuci dies is sent SIGHUP by the kernel.
        g.send_signal(signal.SIGSTOP)
        self.wait_stopped(g.pid)
        os.kill(keeper, signal.SIGKILL)
        g.send_signal(signal.SIGKILL)
        g.wait()
        time.sleep(0.5)
        self.assertTrue(alive(pid), "setup: the test should be left running")
        # The next run needs that GPU: it ends the leftover and runs.
        with open(os.path.join(repo.root, "tests", "test_sleep.py"), "w") as f:
            f.write(PRINT_OK)
        try:
            r = repo.run(gpus=1, timeout=30)
        except subprocess.TimeoutExpired:
            self.fail("the next run waited for the GPU a crashed run's test holds")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertFalse(alive(pid))
        self.assertIn(f"(pid {g.pid}, in {repo.root}) was killed before it ended its tests",
                      r.stderr)
        self.assertRegex(r.stderr, rf"pid {pid} ended \(SIGTERM\): \S*python\S* "
                                   r"tests/test_sleep\.py")
        self.assertEqual([n for n in os.listdir(os.path.dirname(repo.pattern))
                          if n.startswith("gpuci-run-")], [], "records are removed")
        # Said once: the run after that finds nothing.
        r = repo.run(gpus=1)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertNotIn("was killed", r.stderr)


class Names(unittest.TestCase):
    def test_a_changed_test_whose_name_is_not_utf8_runs_at_its_real_path(self):
        tmp = tempfile.mkdtemp(prefix="gpuci-run-harden.")
        self.addCleanup(shutil.rmtree, tmp, True)
        root = os.path.join(tmp, "repo")
        shutil.copytree(os.path.join(ROOT, "examples", "vime-mini"), root)
        record = os.path.join(tmp, "record")
        os.mkdir(record)
        os.mkdir(os.path.join(tmp, "locks"))
        git = ["git", "-c", "user.name=t", "-c", "user.email=t@e", "-c",
               "init.defaultBranch=main"]
        for cmd in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "base"],
                    ["checkout", "-qb", "pr"]):
            subprocess.run(git + cmd, cwd=root, check=True, capture_output=True)
        with open(os.path.join(root, "tests", "test_qwen3_4B_precision.py")) as f:
            text = f.read().replace("NUM_GPUS = 2", "NUM_GPUS = 1")
        name = b"test_caf\xe9.py"  # Latin-1, not UTF-8
        with open(os.path.join(os.fsencode(root), b"tests", name), "w") as f:
            f.write(text)
        for cmd in (["add", "-A"], ["commit", "-qm", "pr"]):
            subprocess.run(git + cmd, cwd=root, check=True, capture_output=True)
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("VIME_MINI_", "GITHUB_"))}
        env.update(VIME_MINI_RECORD=record, VIME_MINI_SECONDS="0.1")
        r = subprocess.run([GPUCI, "run", "--changed", "--base", "main", "--gpus", "8",
                            "--lock-path-pattern", os.path.join(tmp, "locks", "g_{gpu_id}"),
                            "--history", os.path.join(tmp, "h.db")],
                           capture_output=True, env=env, cwd=root, timeout=60)
        out = r.stdout.decode(errors="replace") + r.stderr.decode(errors="replace")
        self.assertEqual(r.returncode, 0, out)
        with open(os.path.join(record, "runs.jsonl")) as f:
            runs = [json.loads(line) for line in f if line.strip()]
        self.assertEqual([x["test"] for x in runs], [os.fsdecode(name)])


class Secrets(unittest.TestCase):
    def test_a_secret_is_masked_in_logs_reports_and_output(self):
        token = "s3cr-et-ToKeN-42"
        repo = Repo([{"test_file": "test_leak.py", "num_gpus": 0}], {"test_leak.py": LEAK})
        self.addCleanup(repo.close)
        summary = os.path.join(repo.tmp, "summary.md")
        junit = os.path.join(repo.tmp, "junit.xml")
        env = repo.env(HARDEN_TOKEN=token, GITHUB_ACTIONS="true",
                       GITHUB_STEP_SUMMARY=summary)
        r = repo.run("--secret", "HARDEN_TOKEN", "--junit", junit, env=env)
        logs = re.search(r"logs in (\S+)", r.stdout).group(1)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        # The runner learns it before anything else, and never sees it again.
        self.assertEqual(r.stdout.splitlines()[0], f"::add-mask::{token}")
        self.assertEqual(r.stdout.count(token), 1, r.stdout)
        self.assertNotIn(token, r.stderr)
        self.assertIn("token=*** done", r.stdout)  # the log in its ::group::
        with open(os.path.join(logs, "1-test_leak.log")) as f:
            log = f.read()
        self.assertEqual(log, "token=*** done\n")
        for path in (junit, summary):
            with open(path) as f:
                self.assertNotIn(token, f.read(), path)
        with open(junit) as f:
            self.assertIn("token=*** done", f.read())
        # Without GitHub Actions: no workflow command, still masked.
        r = repo.run("--secret", "HARDEN_TOKEN", env=repo.env(HARDEN_TOKEN=token))
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertNotIn("::add-mask::", r.stdout)
        self.assertNotIn(token, r.stdout + r.stderr)


class DescriptorLimit(unittest.TestCase):
    def test_no_per_test_close_loop_up_to_the_open_files_limit(self):
        if not shutil.which("strace"):
            self.skipTest("no strace")
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        want = hard if hard != resource.RLIM_INFINITY else 1 << 20
        if want < 4096:
            self.skipTest(f"the open-files hard limit ({hard}) is too low to tell")
        n = 10
        repo = Repo([{"test_file": "test_print.py", "num_gpus": 1, "test_args": str(k)}
                     for k in range(n)], {"test_print.py": PRINT_OK})
        self.addCleanup(repo.close)
        counts = os.path.join(repo.tmp, "strace.txt")

        def raise_limit():
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))

        env = repo.env()  # LeakSanitizer cannot run under ptrace: off, if built with it
        env["ASAN_OPTIONS"] = (env.get("ASAN_OPTIONS", "") + ":detect_leaks=0").lstrip(":")
        r = subprocess.run(["strace", "-f", "-c", "-o", counts, "-e",
                            "trace=close,close_range", *repo.args("--python", "true")],
                           capture_output=True, text=True, env=env, cwd=repo.root,
                           timeout=120, preexec_fn=raise_limit)
        if r.returncode != 0 and "ptrace" in r.stderr:
            self.skipTest("strace cannot trace here: " + r.stderr.strip()[:200])
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        calls = 0
        with open(counts) as f:
            for line in f:
                m = re.match(r"\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:\d+\s+)?(close|close_range)$",
                             line)
                if m:
                    calls += int(m.group(1))
        self.assertGreater(calls, 0, "strace counted no close calls")
        # A few dozen per test at most; a loop to the limit is thousands.
        self.assertLess(calls / n, 200, f"{calls} close calls for {n} tests, "
                                        f"open-files limit {want}")

    def test_tests_granted_at_once_make_no_inotify_instance(self):
        # Closing an inotify instance waits for an RCU grace period (10-20 ms):
        # one per lease serialised gpuci run to ~15 ms a test. A lease granted
        # without sleeping must make none.
        if not shutil.which("strace"):
            self.skipTest("no strace")
        n = 10
        repo = Repo([{"test_file": "test_print.py", "num_gpus": 1, "test_args": str(k)}
                     for k in range(n)], {"test_print.py": PRINT_OK})
        self.addCleanup(repo.close)
        counts = os.path.join(repo.tmp, "strace.txt")
        env = repo.env()
        env["ASAN_OPTIONS"] = (env.get("ASAN_OPTIONS", "") + ":detect_leaks=0").lstrip(":")
        r = subprocess.run(["strace", "-f", "-c", "-o", counts, "-e",
                            "trace=inotify_init1,close",
                            *repo.args("--python", "true", gpus=8)],
                           capture_output=True, text=True, env=env, cwd=repo.root,
                           timeout=120)
        if r.returncode != 0 and "ptrace" in r.stderr:
            self.skipTest("strace cannot trace here: " + r.stderr.strip()[:200])
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        inits = 0
        with open(counts) as f:
            text = f.read()
        for line in text.splitlines():
            m = re.match(r"\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:\d+\s+)?inotify_init1$", line)
            if m:
                inits += int(m.group(1))
        self.assertIn("close", text)  # strace counted
        self.assertLess(inits, n, f"{inits} inotify instances for {n} tests:\n{text}")


if __name__ == "__main__":
    GPUCI = os.path.abspath(sys.argv.pop(1))
    unittest.main()
