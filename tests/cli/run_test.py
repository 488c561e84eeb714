#!/usr/bin/env python3
"""End-to-end tests of `gpuci run` on examples/vime-mini with 8 simulated GPUs.

Each test copies the example to a temporary directory (logs and history go
under its .gpuci/), uses its own lock files and its own record directory,
and checks what ran from the tests' own record (tests/ci/gpu_record.py): which
entries, with which arguments and environment, and that no two tests ever
held the same GPU at once.

Run: python3 tests/cli/run_test.py build/gpuci
"""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

GPUCI = None
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXAMPLE = os.path.join(ROOT, "examples", "vime-mini")
XSD = os.path.join(ROOT, "tests", "report", "junit.xsd")


class Repo:
    """A copy of the example with its own locks, record and history."""

    def __init__(self):
        self.tmp = tempfile.mkdtemp(prefix="gpuci-run-test.")
        self.root = os.path.join(self.tmp, "repo")
        shutil.copytree(EXAMPLE, self.root)
        self.record = os.path.join(self.tmp, "record")
        os.mkdir(self.record)
        self.locks = os.path.join(self.tmp, "locks")
        os.mkdir(self.locks)
        self.pattern = os.path.join(self.locks, "gpu_{gpu_id}.lock")
        self.history = os.path.join(self.tmp, "history.db")
        self.workflow = os.path.join(self.root, ".github", "workflows", "pr-test.yml")

    def env(self, **extra):
        e = {k: v for k, v in os.environ.items()
             if not k.startswith(("VIME_MINI_", "GITHUB_"))}
        e.update(VIME_MINI_RECORD=self.record, VIME_MINI_SECONDS="0.3")
        e.update(extra)
        return e

    def args(self, *args):
        return [GPUCI, "run", "--workflow", self.workflow, "--gpus", "8",
                "--lock-path-pattern", self.pattern, "--history", self.history,
                "--kill-after", "1", *args]

    def run(self, *args, env=None, timeout=120):
        return subprocess.run(self.args(*args), capture_output=True, text=True,
                              env=env or self.env(), cwd=self.root, timeout=timeout)

    def runs(self):
        path = os.path.join(self.record, "runs.jsonl")
        if not os.path.exists(path):
            return []
        with open(path) as f:
            return [json.loads(line) for line in f if line.strip()]

    def check_record(self):
        return subprocess.run([sys.executable, os.path.join(self.root, "tests", "ci",
                                                            "gpu_record.py"),
                               "check", self.record], capture_output=True, text=True)

    def close(self):
        shutil.rmtree(self.tmp, ignore_errors=True)


def plan_entries(repo, label):
    r = subprocess.run([GPUCI, "plan", "--workflow", repo.workflow, "--label", label, "--json"],
                       capture_output=True, text=True, check=True)
    out = []
    for job in json.loads(r.stdout)["jobs"]:
        for e in job["matrix"]:
            info = e.get("info", e)
            if "test_file" in info:
                out.append((job["name"], info["test_file"], info.get("test_args", ""),
                            info.get("num_gpus", 0)))
    return out


class RunTest(unittest.TestCase):
    def setUp(self):
        self.repo = Repo()

    def tearDown(self):
        self.repo.close()

    def test_each_label_runs_its_entries_with_args_and_env(self):
        for label in ["run-ci-short", "run-ci-ckpt", "run-ci-precision"]:
            with self.subTest(label=label):
                shutil.rmtree(self.repo.record)
                os.mkdir(self.repo.record)
                r = self.repo.run("--label", label)
                self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
                entries = plan_entries(self.repo, label)
                # GPU tests leave a record; CPU contract tests show in the summary.
                want = sorted((j, os.path.basename(f), a.split())
                              for j, f, a, g in entries if g)
                runs = self.repo.runs()
                cpu = [(j, f) for j, f, a, g in entries if not g]
                self.assertTrue(cpu)  # the always-on contract tests come along
                for j, f in cpu:
                    self.assertRegex(r.stdout, rf"passed\s+{j}\s+{f}")
                for x in runs:
                    self.assertEqual(len(x["gpus"]), len(set(x["gpus"])))
                got = sorted((x["env"].get("VIME_TEST_JOB"), os.path.basename(x["test"]),
                              x["args"]) for x in runs)
                self.assertEqual(got, want)
                for x in runs:
                    self.assertEqual(x["outcome"], "passed", x)
                self.assertEqual(self.repo.check_record().returncode, 0,
                                 self.repo.check_record().stdout)
                self.assertIn("passed", r.stdout)

    def test_no_two_tests_share_a_gpu_under_load(self):
        r = self.repo.run("--label", "run-ci-image", env=self.repo.env(VIME_MINI_SECONDS="0.5"))
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        runs = self.repo.runs()
        self.assertGreaterEqual(len(runs), 13)
        c = self.repo.check_record()
        self.assertEqual(c.returncode, 0, c.stdout + c.stderr)
        # More than one test at a time: packing, not a queue of one.
        spans = sorted((x["start"], x["end"]) for x in runs if x["gpus"])
        self.assertTrue(any(b[0] < a[1] for a, b in zip(spans, spans[1:])))

    def test_dry_run_runs_nothing(self):
        r = self.repo.run("--label", "run-ci-ckpt", "--dry-run")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.repo.runs(), [])
        self.assertIn("--async-save", r.stdout)
        self.assertIn("GPU", r.stdout)

    def test_failure_flaky_timeout_and_crash_are_reported(self):
        junit = os.path.join(self.repo.tmp, "junit.xml")
        env = self.repo.env(VIME_MINI_FAIL="test_qwen3_4B_precision",
                            VIME_MINI_FLAKY="--async-save",
                            VIME_MINI_HANG="torch_dist",
                            VIME_MINI_CRASH="test_moonlight_16B_precision")
        r = self.repo.run("--label", "run-ci-ckpt", "--label", "run-ci-precision",
                          "--no-always", "--timeout", "5", "--retries", "1",
                          "--retry-on", "accuracy noise", "--junit", junit, env=env)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        status = {}
        for line in r.stdout.splitlines():
            parts = line.split()
            if parts and parts[0] in ("passed", "failed", "flaky", "timeout", "crashed"):
                status[" ".join(parts[2:4])] = parts[0]
        text = r.stdout
        self.assertRegex(text, r"failed\s+e2e-test-precision\s+test_qwen3_4B_precision")
        self.assertRegex(text, r"flaky\s+e2e-test-ckpt\s+test_qwen3_4B_ckpt.py --async-save")
        self.assertRegex(text, r"timeout\s+e2e-test-ckpt\s+test_qwen3_4B_ckpt.py --ckpt-format")
        self.assertRegex(text, r"crashed\s+e2e-test-precision\s+test_moonlight_16B_precision")
        # The failure was not retried (its log does not match --retry-on).
        fails = [x for x in self.repo.runs() if "qwen3_4B_precision" in x["test"]]
        self.assertEqual(len(fails), 1)
        # JUnit: one testcase per entry, valid against the schema shipped.
        with open(junit) as f:
            xml = f.read()
        self.assertEqual(xml.count("<testcase"), 5)
        if shutil.which("xmllint") and os.path.exists(XSD):
            v = subprocess.run(["xmllint", "--noout", "--schema", XSD, junit],
                               capture_output=True, text=True)
            self.assertEqual(v.returncode, 0, v.stderr)
        # History: one row per attempt, the flaky test twice.
        h = subprocess.run([GPUCI, "history", "--history", self.repo.history, "--json"],
                           capture_output=True, text=True)
        self.assertEqual(h.returncode, 0, h.stderr)
        rows = json.loads(h.stdout)
        rows = rows if isinstance(rows, list) else rows.get("results", rows.get("rows", []))
        self.assertEqual(len(rows), 6, rows)

    def test_history_is_found_from_any_folder_of_the_repository(self):
        # Without --history, run keeps it at the repository's top, and history
        # finds it there from a folder below, as git finds .git.
        args = [a for a in self.repo.args("--label", "run-ci-precision", "--no-always")
                if a not in ("--history", self.repo.history)]
        r = subprocess.run(args, capture_output=True, text=True, env=self.repo.env(),
                           cwd=self.repo.root, timeout=120)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertTrue(os.path.exists(os.path.join(self.repo.root, ".gpuci", "history.db")))
        # .gpuci/ keeps itself out of git: nothing to add to the repository's .gitignore.
        if shutil.which("git"):
            subprocess.run(["git", "init", "-q"], cwd=self.repo.root, check=True)
            st = subprocess.run(["git", "status", "--porcelain", "--untracked-files=all"],
                                capture_output=True, text=True, cwd=self.repo.root, check=True)
            self.assertNotIn(".gpuci", st.stdout)
            self.assertIn("tests/", st.stdout)  # the rest is seen
        for cwd in (self.repo.root, os.path.join(self.repo.root, "tests", "plugin_contracts")):
            h = subprocess.run([GPUCI, "history", "--json"], capture_output=True, text=True,
                               cwd=cwd)
            self.assertEqual(h.returncode, 0, h.stderr)
            self.assertEqual(len(json.loads(h.stdout)), 2, (cwd, h.stdout))
        # Outside any repository there is none, and that is said (unless a folder
        # above the temporary one has a history of its own).
        above, d = False, self.repo.tmp
        while d != os.path.dirname(d):
            above |= os.path.exists(os.path.join(d, ".gpuci", "history.db"))
            d = os.path.dirname(d)
        if not above:
            h = subprocess.run([GPUCI, "history"], capture_output=True, text=True,
                               cwd=self.repo.tmp)
            self.assertEqual(h.returncode, 0, h.stderr)
            self.assertIn("no history yet", h.stderr)

    def test_ctrl_c_leaves_nothing_running_or_locked(self):
        self.stop_mid_run(signal.SIGINT, 130)

    def test_sigterm_leaves_nothing_running_or_locked(self):
        self.stop_mid_run(signal.SIGTERM, 143)

    def test_terminal_shows_a_live_block(self):
        import pty
        master, slave = pty.openpty()
        p = subprocess.Popen(self.repo.args("--label", "run-ci-short", "--no-always"),
                             stdout=slave, stderr=slave, env=self.repo.env(VIME_MINI_SECONDS="1"),
                             cwd=self.repo.root)
        os.close(slave)
        out = b""
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
        p.wait(timeout=60)
        os.close(master)
        text = out.decode(errors="replace")
        self.assertEqual(p.returncode, 0, text)
        self.assertIn("running  test_qwen2p5_0p5B_short.py", text)  # the live block
        self.assertRegex(text, r"\d+ queued, \d+ passed, 0 failed")
        self.assertIn("\x1b[", text)  # redrawn in place
        self.assertRegex(text, r"passed\s+e2e-test-short")

    def stop_mid_run(self, sig, code):
        env = self.repo.env(VIME_MINI_SECONDS="30")
        p = subprocess.Popen(self.repo.args("--label", "run-ci-short", "--no-always"),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env=env, cwd=self.repo.root)
        deadline = time.time() + 20
        while time.time() < deadline:
            holders = os.path.join(self.repo.record, "holdings.json")
            if os.path.exists(holders):
                with open(holders) as f:
                    if len(json.load(f).get("holders", [])) >= 2:
                        break
            time.sleep(0.1)
        p.send_signal(sig)
        out, err = p.communicate(timeout=30)
        self.assertEqual(p.returncode, code, out + err)
        self.assertRegex(out, r"canceled\s+e2e-test-short")  # stopped, not failed
        pids = [x["pid"] for x in self.repo.runs()]
        self.assertTrue(pids)
        for pid in pids:
            self.assertFalse(os.path.exists(f"/proc/{pid}"), f"test {pid} still runs")
        st = subprocess.run([GPUCI, "lock", "status", "--json", "--total-gpus", "8",
                             "--lock-path-pattern", self.repo.pattern],
                            capture_output=True, text=True)
        self.assertEqual(st.returncode, 0, st.stderr)
        self.assertFalse(any(g.get("held") for g in json.loads(st.stdout)["gpus"]), st.stdout)

    def test_not_runnable_and_escaping_entries_are_reported_and_the_rest_run(self):
        with open(self.repo.workflow) as f:
            wf = f.read()
        # One entry that leaves the repository, one through a symlink out of it.
        os.symlink("/etc", os.path.join(self.repo.root, "tests", "out"))
        wf = wf.replace('"test_file": "test_qwen3_4B_precision.py"',
                        '"test_file": "../../etc/passwd"', 1)
        wf = wf.replace('"test_file": "test_moonlight_16B_precision.py"',
                        '"test_file": "out/passwd"', 1)
        self.assertEqual(wf.count("etc/passwd") + wf.count("out/passwd"), 2)
        with open(self.repo.workflow, "w") as f:
            f.write(wf)
        r = self.repo.run("--label", "run-ci-precision", "--label", "run-ci-short",
                          "--no-always")
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("leaves the repository", r.stdout)
        self.assertIn("out of the repository", r.stdout)
        self.assertEqual(len([x for x in self.repo.runs() if x["outcome"] == "passed"]), 3)
        # A machine of 2 GPUs cannot run the 4-GPU tests: said, and the rest goes on.
        r = subprocess.run([GPUCI, "run", "--workflow", self.repo.workflow, "--gpus", "2",
                            "--lock-path-pattern", self.repo.pattern, "--history",
                            self.repo.history, "--label", "run-ci-short"],
                           capture_output=True, text=True, env=self.repo.env(),
                           cwd=self.repo.root, timeout=120)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertRegex(r.stdout, r"not-runnable\s+e2e-test-short")
        self.assertIn("needs 4 GPUs; this machine has 2", r.stdout)
        self.assertRegex(r.stdout, r"passed\s+plugin-contracts")

    def test_github_actions_mode_groups_logs_and_writes_the_summary(self):
        summary = os.path.join(self.repo.tmp, "summary.md")
        env = self.repo.env(GITHUB_ACTIONS="true", GITHUB_STEP_SUMMARY=summary,
                            VIME_MINI_FAIL="debug_rollout")
        r = self.repo.run("--label", "run-ci-short", "--no-always", env=env)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertEqual(r.stdout.count("::group::"), 3)
        self.assertEqual(r.stdout.count("::endgroup::"), 3)
        self.assertIn("::error", r.stdout)
        self.assertIn("loss diverged", r.stdout)  # the failing test's log, in its group
        with open(summary) as f:
            md = f.read()
        self.assertIn("test_qwen2p5_0p5B_debug_rollout.py", md)
        self.assertIn("|", md)
        # Earlier steps filled the file almost to GitHub's 1 MiB: the table is cut to fit.
        earlier = "x" * ((1 << 20) - 700) + "\n"
        with open(summary, "w") as f:
            f.write(earlier)
        self.repo.run("--label", "run-ci-short", "--no-always", env=env)
        with open(summary) as f:
            md = f.read()
        self.assertLessEqual(len(md.encode()), 1 << 20)
        self.assertTrue(md.startswith(earlier))
        self.assertIn("## gpuci run", md)
        self.assertIn("cut here", md)

    def test_job_env_is_evaluated_per_entry_and_secrets_pass_only_when_asked(self):
        wf = os.path.join(self.repo.root, ".github", "workflows", "env.yml")
        with open(wf, "w") as f:
            f.write("on: workflow_dispatch\njobs:\n  j:\n    runs-on: x\n"
                    "    strategy:\n      matrix:\n        info:\n"
                    "          - {test_file: test_env.py, num_gpus: 1, test_args: 'a  b'}\n"
                    "          - {test_file: tests/test_env.py, num_gpus: 0, flag: 'on'}\n"
                    "    env:\n      TOKEN: ${{ secrets.HF_TOKEN }}\n"
                    "      FLAG: ${{ matrix.info.flag || 'off' }}\n"
                    "      WHO: ${{ github.event_name }}-${{ matrix.info.num_gpus }}\n")
        with open(os.path.join(self.repo.root, "tests", "test_env.py"), "w") as f:
            f.write("import json, os, sys\nNUM_GPUS = 1\n"
                    "with open(os.environ['OUT'] + str(os.getpid()), 'w') as f:\n"
                    "    json.dump({'argv': sys.argv[1:], 'cwd': os.getcwd(),\n"
                    "               'cvd': os.environ.get('CUDA_VISIBLE_DEVICES'),\n"
                    "               **{k: os.environ.get(k) for k in ('TOKEN', 'FLAG', 'WHO')}}, f)\n")
        out = os.path.join(self.repo.tmp, "env-")
        for secret in (False, True):
            for name in os.listdir(self.repo.tmp):
                if name.startswith("env-"):
                    os.unlink(os.path.join(self.repo.tmp, name))
            args = ["--all", "--workflow", wf] + (["--secret", "HF_TOKEN"] if secret else [])
            r = subprocess.run([GPUCI, "run", "--gpus", "8", "--lock-path-pattern",
                                self.repo.pattern, "--history", self.repo.history, *args],
                               capture_output=True, text=True, cwd=self.repo.root,
                               env=self.repo.env(OUT=out, HF_TOKEN="hf-123"), timeout=60)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            got = []
            for name in os.listdir(self.repo.tmp):
                if name.startswith("env-"):
                    with open(os.path.join(self.repo.tmp, name)) as f:
                        got.append(json.load(f))
            got.sort(key=lambda g: g["WHO"])
            self.assertEqual(len(got), 2)
            gpu, cpu = got[1], got[0]
            self.assertEqual(gpu["argv"], ["a", "b"])  # split on blanks, no empty words
            self.assertEqual(len(gpu["cvd"].split(",")), 1)
            self.assertEqual((gpu["FLAG"], gpu["WHO"]), ("off", "workflow_dispatch-1"))
            self.assertEqual((cpu["FLAG"], cpu["WHO"], cpu["argv"]),
                             ("on", "workflow_dispatch-0", []))
            self.assertEqual(os.path.realpath(gpu["cwd"]), os.path.realpath(self.repo.root))
            self.assertEqual(gpu["TOKEN"], "hf-123" if secret else "")

    def test_changed_runs_the_branchs_tests(self):
        git = ["git", "-c", "user.name=t", "-c", "user.email=t@e", "-c", "init.defaultBranch=main"]
        root = self.repo.root
        for cmd in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "base"],
                    ["checkout", "-qb", "pr"]):
            subprocess.run(git + cmd, cwd=root, check=True, capture_output=True)
        src = os.path.join(root, "tests", "test_qwen3_4B_precision.py")
        with open(src) as f:
            text = f.read()
        with open(os.path.join(root, "tests", "test_new_thing.py"), "w") as f:
            f.write(text.replace("NUM_GPUS = 2", "NUM_GPUS = 3"))
        for cmd in (["add", "-A"], ["commit", "-qm", "pr"]):
            subprocess.run(git + cmd, cwd=root, check=True, capture_output=True)
        r = self.repo.run("--changed", "--base", "main")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        runs = self.repo.runs()
        self.assertEqual([(os.path.basename(x["test"]), len(x["gpus"])) for x in runs],
                         [("test_new_thing.py", 3)])
        self.assertEqual(runs[0]["env"].get("VIME_TEST_JOB"), "e2e-test-changed")
        # The label does the same: it runs the changed-tests job with its tests.
        shutil.rmtree(self.repo.record)
        os.mkdir(self.repo.record)
        r = self.repo.run("--label", "run-ci-changed", "--base", "main", "--no-always")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual([(os.path.basename(x["test"]), x["env"].get("VIME_TEST_JOB"))
                          for x in self.repo.runs()], [("test_new_thing.py", "e2e-test-changed")])
        # And says what to give when git cannot tell.
        r = self.repo.run("--label", "run-ci-changed", "--base", "no-such-base", "--dry-run")
        self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
        self.assertIn("no-such-base", r.stderr)

    def test_entries_of_one_file_are_told_apart_and_timed_apart(self):
        # vime registers one file twice, with and without DeepEP (the job's env
        # passes use_deepep on).
        tpl = self.repo.workflow + ".j2"
        with open(tpl) as f:
            text = f.read()
        one = "    {'test_file': 'test_qwen3_30B_A3B_deepep.py', 'num_gpus': 8, 'use_deepep': '1'},\n"
        self.assertIn(one, text)
        with open(tpl, "w") as f:
            f.write(text.replace(one, one + one.replace(", 'use_deepep': '1'", "")))
        subprocess.run([GPUCI, "render"], cwd=self.repo.root, check=True, capture_output=True)
        junit = os.path.join(self.repo.tmp, "junit.xml")
        r = self.repo.run("--label", "run-ci-megatron", "--no-always", "--test",
                          "test_qwen3_30B*", "--junit", junit)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        deepep = sorted(x["env"].get("VIME_TEST_USE_DEEPEP") for x in self.repo.runs())
        self.assertEqual(deepep, ["0", "1"])
        self.assertRegex(r.stdout, r"passed\s+e2e-test-megatron\s+test_qwen3_30B_A3B_deepep.py"
                                   r" \[use_deepep=1\]")
        self.assertRegex(r.stdout, r"passed\s+e2e-test-megatron\s+test_qwen3_30B_A3B_deepep.py"
                                   r" \[without use_deepep\]")
        with open(junit) as f:
            names = re.findall(r'<testcase [^>]*name="([^"]*)"', f.read())
        self.assertEqual(sorted(names), ["test_qwen3_30B_A3B_deepep.py [use_deepep=1]",
                                         "test_qwen3_30B_A3B_deepep.py [without use_deepep]"])
        h = subprocess.run([GPUCI, "history", "--history", self.repo.history, "--json"],
                           capture_output=True, text=True, check=True)
        rows = json.loads(h.stdout)
        self.assertEqual(len({x["identity"] for x in rows}), 2, rows)
        self.assertEqual(sorted(x["variant"] for x in rows),
                         ["[use_deepep=1]", "[without use_deepep]"])

    def test_jobs_without_a_matrix_are_named_not_dropped(self):
        with open(self.repo.workflow) as f:
            text = f.read()
        with open(self.repo.workflow, "w") as f:
            f.write(text.replace("\njobs:\n", "\njobs:\n"
                                 "  e2e-test-unit:\n"
                                 "    if: github.event_name == 'pull_request'\n"
                                 "    runs-on: self-hosted\n"
                                 "    steps:\n"
                                 "      - run: python -m pytest tests/unit tests/utils\n", 1))
        r = self.repo.run("--label", "run-ci-ckpt", "--dry-run")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertRegex(r.stdout, r"Not run:\n\s+e2e-test-unit\s+not run by gpuci run: no matrix")
        self.assertIn("no history yet", r.stdout)  # the estimate says what it is
        r = self.repo.run("--label", "run-ci-ckpt", "--no-always")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertNotIn("e2e-test-unit", r.stdout)  # always on, left out
        r = self.repo.run("--label", "run-ci-ckpt")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertRegex(r.stdout, r"e2e-test-unit\s+not run by gpuci run: no matrix")

    def test_docker_mode_runs_the_exact_docker_command(self):
        # No Docker engine here: a stand-in `docker` records its argv.
        bindir = os.path.join(self.repo.tmp, "bin")
        os.mkdir(bindir)
        log = os.path.join(self.repo.tmp, "docker.jsonl")
        with open(os.path.join(bindir, "docker"), "w") as f:
            f.write("#!%s\nimport json, os, sys\n"
                    "with open(%r, 'a') as f:\n"
                    "    f.write(json.dumps({'argv': sys.argv[1:], "
                    "'env': {k: os.environ.get(k) for k in ('VIME_TEST_JOB', 'HF_TOKEN')}}) + '\\n')\n"
                    % (sys.executable, log))
        os.chmod(os.path.join(bindir, "docker"), 0o755)
        env = self.repo.env(PATH=bindir + os.pathsep + os.environ["PATH"])
        r = self.repo.run("--label", "run-ci-ckpt", "--no-always", "--docker", "job", env=env)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        with open(log) as f:
            calls = [json.loads(line) for line in f]
        runs = [c for c in calls if c["argv"][0] == "run"]
        self.assertEqual(len(runs), 3)
        # After the tests, one look for what the run left: by the run's label.
        run_id = re.search(r"gpuci run (\S+):", r.stdout).group(1)
        self.assertEqual([c["argv"] for c in calls if c["argv"][0] != "run"],
                         [["ps", "-a", "--no-trunc", "--filter", "label=gpuci.run=" + run_id,
                           "--format", "{{.ID}} {{.Names}}"]])
        root = os.path.realpath(self.repo.root)
        call = next(c for c in runs if "--async-save" in c["argv"])
        argv = call["argv"]
        self.assertEqual(argv[:4], ["run", "--rm", "--init", "--name"])
        self.assertRegex(argv[4], r"^gpuci-\d+-\d+-1$")
        # The container's id file is in the run's folder, named after it.
        self.assertEqual(argv[5], "--cidfile")
        self.assertTrue(argv[6].endswith("/" + argv[4] + ".cid"), argv[6])
        self.assertEqual(argv[7:9], ["--label", "gpuci.run=" + run_id])
        # The job's options, without its --gpus all, then the leased devices.
        opts = argv[9:argv.index("-v", argv.index("--network=host"))]
        self.assertNotIn("all", opts)
        self.assertIn("--shm-size=32g", opts)
        gi = argv.index("--gpus")
        self.assertRegex(argv[gi + 1], r'^"device=\d,\d"$')  # quoted: docker splits at ","
        vi = argv.index(root + ":" + root)
        self.assertEqual(argv[vi - 1], "-v")
        self.assertEqual(argv[vi + 1:vi + 3], ["-w", root])
        self.assertIn("VIME_TEST_JOB", argv)
        self.assertEqual(call["env"]["VIME_TEST_JOB"], "e2e-test-ckpt")
        ii = argv.index("ghcr.io/example-org/vime:latest")
        self.assertEqual(argv[ii + 1:], ["bash", "-lc",
                                         'set -e\npip install -e . --no-deps\nexec "$@"', "bash",
                                         argv[ii + 5], "tests/test_qwen3_4B_ckpt.py",
                                         "--async-save"])
        # Inside, the leased GPUs are numbered from 0; GPUCI_GPUS has the host's numbers.
        self.assertIn("CUDA_VISIBLE_DEVICES=0,1", argv)
        self.assertIn("GPUCI_GPUS", argv)
        self.assertIn("GPUCI_RUN_ID", argv)
        self.assertRegex(argv[ii + 5], r"python3?$")
        # A job without an image cannot run in --docker job mode: said, not guessed.
        wf = os.path.join(self.repo.root, ".github", "workflows", "bare.yml")
        with open(wf, "w") as f:
            f.write("on: workflow_dispatch\njobs:\n  bare:\n    runs-on: x\n    strategy:\n"
                    "      matrix: {info: [{test_file: test_glm4_9B.py, num_gpus: 8}]}\n")
        r = subprocess.run(self.repo.args("--all", "--docker", "job")[:2] +
                           ["--workflow", wf] + self.repo.args("--all", "--docker", "job")[4:],
                           capture_output=True, text=True, env=env, cwd=self.repo.root,
                           timeout=60)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("job 'bare' names no container image", r.stdout)
        # An image named on the command line serves any job.
        r = subprocess.run(self.repo.args("--all", "--docker", "img:1")[:2] +
                           ["--workflow", wf] + self.repo.args("--all", "--docker", "img:1")[4:],
                           capture_output=True, text=True, env=env, cwd=self.repo.root,
                           timeout=60)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        with open(log) as f:
            last = [json.loads(ln)["argv"] for ln in f.read().splitlines()
                    if json.loads(ln)["argv"][0] == "run"][-1]
        self.assertIn("img:1", last)
        self.assertIn('"device=0,1,2,3,4,5,6,7"', last)

    def test_usage_errors(self):
        for args, msg in [([], "say what to run"),
                          (["--label", "x", "--all"], "one at a time"),
                          (["--label", "run-ci-short", "--retry-on", "x"], "give --retries K"),
                          (["--label", "run-ci-short", "--retries", "1", "--retry-on", "(",
                            "--dry-run"], "--retry-on '('")]:
            with self.subTest(args=args):
                r = self.repo.run(*args)
                self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
                self.assertIn(msg, r.stderr)


if __name__ == "__main__":
    GPUCI = os.path.abspath(sys.argv.pop(1))
    unittest.main(verbosity=2)
