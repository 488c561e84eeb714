#!/usr/bin/env python3
"""End-to-end tests of gpuci's own surface: version, help, the command table.

Run: python3 tests/cli/cli_test.py build/gpuci
"""
import os
import re
import subprocess
import sys
import unittest

GPUCI = None
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def gpuci(*args):
    return subprocess.run([GPUCI, *args], capture_output=True, text=True, timeout=30)


class CliTest(unittest.TestCase):
    def test_version_matches_the_project_version(self):
        with open(os.path.join(ROOT, "CMakeLists.txt")) as f:
            version = re.search(r"project\(gpuci VERSION ([0-9.]+)", f.read()).group(1)
        # The commit the binary was built from, when built from a git checkout.
        head = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short=12", "HEAD"],
                              capture_output=True, text=True)
        head = head.stdout.strip() if head.returncode == 0 else None
        for flag in ("--version", "-V", "version"):
            r = gpuci(flag)
            self.assertEqual(r.returncode, 0)
            m = re.fullmatch(rf"gpuci {re.escape(version)}"
                             r"(?: \(commit ([0-9a-f]{12})(-dirty)?\))?\n", r.stdout)
            self.assertTrue(m, r.stdout)
            if head:
                self.assertEqual(m.group(1), head, r.stdout)

    def test_help_lists_every_command(self):
        r = gpuci("help")
        self.assertEqual(r.returncode, 0)
        for name in ("lock", "help", "version"):
            self.assertRegex(r.stdout, rf"\n  {name} +\S")
        self.assertEqual(gpuci("--help").stdout, r.stdout)

    def test_no_arguments_is_a_usage_error_that_shows_help(self):
        r = gpuci()
        self.assertEqual(r.returncode, 2)
        self.assertIn("usage: gpuci <command>", r.stdout)

    def test_help_of_a_command_is_its_dash_dash_help(self):
        r = gpuci("help", "lock")
        self.assertEqual(r.returncode, 0)
        self.assertEqual(r.stdout, gpuci("lock", "--help").stdout)
        for text in ("first come, first served", "reservation", "--kill-after",
                     "Exit status", "75", "SIGKILL", "/dev/shm/custom_gpu_lock_{gpu_id}.lock"):
            self.assertIn(text, r.stdout)
        self.assertIn("--json", gpuci("lock", "status", "--help").stdout)

    def test_unknown_command_or_help_topic_exits_2(self):
        r = gpuci("frobnicate")
        self.assertEqual(r.returncode, 2)
        self.assertEqual(r.stderr, "gpuci: 'frobnicate' is not a gpuci command. See 'gpuci help'.\n")
        self.assertEqual(gpuci("help", "frobnicate").returncode, 2)


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit("usage: cli_test.py PATH/TO/gpuci")
    GPUCI = os.path.abspath(sys.argv.pop(1))
    unittest.main(verbosity=2)
