#!/usr/bin/env python3
"""End-to-end: data from a pull request (file names, labels, matrix values)
never becomes a GitHub workflow command in what gpuci prints.

Under GITHUB_ACTIONS=true the runner reads every line of a step's output
that starts with "::" (after blanks) as a command. A test file whose name
holds a newline followed by "::warning ..." must come out as one line with
the newline escaped, in lint, changed, plan --changed, run --changed and
plan --label; gpuci's own annotations carry it percent-encoded.

Run: python3 tests/cli/inject_test.py build/gpuci
"""
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from example_copy import ExampleCopy  # noqa: E402

GPUCI = None
INJECTED = "::warning file=README.md::injected"
# What gpuci itself prints as workflow commands.
OWN = ("::group::", "::endgroup::", "::error ", "::error::", "::warning ", "::warning::",
       "::add-mask::")


def git(cwd, *args):
    subprocess.run(["git", "-c", "user.email=t@t", "-c", "user.name=t", *args], cwd=cwd,
                   check=True, capture_output=True)


class Injection(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.ex = ExampleCopy(GPUCI, prefix="gpuci-inject-")
        cls.dir = cls.ex.dir
        cls.locks = tempfile.mkdtemp(prefix="gpuci-inject-locks-")
        git(cls.dir, "init", "-q", "-b", "main")
        git(cls.dir, "add", "-A")
        git(cls.dir, "commit", "-qm", "base")
        git(cls.dir, "checkout", "-qb", "pr")
        name = "tests/test_x\n" + INJECTED + ".py"
        with open(os.path.join(cls.dir, name), "w") as f:
            f.write("NUM_GPUS = 1\n\nif __name__ == '__main__':\n    pass\n")
        git(cls.dir, "add", "-A")
        git(cls.dir, "commit", "-qm", "a hostile name")

    @classmethod
    def tearDownClass(cls):
        cls.ex.close()
        shutil.rmtree(cls.locks, ignore_errors=True)

    def gpuci(self, *args):
        env = dict(os.environ, GITHUB_ACTIONS="true")
        for k in ("GITHUB_OUTPUT", "GITHUB_STEP_SUMMARY"):
            env.pop(k, None)
        r = subprocess.run([GPUCI, *args], cwd=self.dir, env=env, capture_output=True,
                           timeout=120)
        return r, (r.stdout + r.stderr).decode("utf-8", "replace")

    def assert_no_injected_command(self, out, must_mention=True):
        for line in out.splitlines():
            s = line.lstrip()
            if not s.startswith("::") and not s.startswith("##["):
                continue
            self.assertFalse(s.startswith(INJECTED), "injected command: %r\n%s" % (line, out))
            self.assertTrue(s.startswith(OWN), "unexpected command line: %r\n%s" % (line, out))
        if must_mention:
            # The name is still shown, escaped, not dropped.
            self.assertIn("test_x\\n" + INJECTED, out)

    def test_lint(self):
        r, out = self.gpuci("lint")
        self.assert_no_injected_command(out)
        # gpuci's own annotation names the file, percent-encoded.
        self.assertIn("file=tests/test_x%0A%3A%3Awarning", out)

    def test_changed(self):
        r, out = self.gpuci("changed", "--base", "main")
        self.assertEqual(r.returncode, 0, out)
        self.assert_no_injected_command(out)

    def test_plan_changed(self):
        r, out = self.gpuci("plan", "--label", "run-ci-changed", "--changed", "--base", "main")
        self.assertEqual(r.returncode, 0, out)
        self.assert_no_injected_command(out)

    def test_run_changed(self):
        pattern = os.path.join(self.locks, "gpu_{gpu_id}.lock")
        for dry in (["--dry-run"], []):
            r, out = self.gpuci("run", "--changed", "--base", "main", "--gpus", "8",
                                "--lock-path-pattern", pattern, *dry)
            self.assertEqual(r.returncode, 0, out)
            self.assert_no_injected_command(out)

    def test_plan_label(self):
        r, out = self.gpuci("plan", "--label", "run-ci-short\n" + INJECTED)
        self.assertEqual(r.returncode, 0, out)
        self.assert_no_injected_command(out, must_mention=False)
        self.assertIn("run-ci-short\\n" + INJECTED, out)


if __name__ == "__main__":
    GPUCI = os.path.abspath(sys.argv.pop(1))
    unittest.main()
