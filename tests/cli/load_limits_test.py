#!/usr/bin/env python3
"""End-to-end tests of what the workflow loader, plan and lint refuse, on copies of
examples/vime-mini: YAML alias bombs, deep nesting and wide mappings (refused
at their place, fast), FIFOs where a file is expected (refused, never waited
on), num_gpus that is no whole number of GPUs, plan-time errors in lint (the
place survives the workflow's memory), and lint on many test files.

Each check runs the binary with a timeout: before these fixes the bombs ran
out of memory, the FIFOs blocked forever and lint took seconds per thousand
files.

Run: python3 tests/cli/load_limits_test.py build/gpuci
"""
import json
import os
import re
import sys
import unittest

from example_copy import ExampleCopy, run

GPUCI = None
WF = ".github/workflows/pr-test.yml"
TPL = WF + ".j2"
JOB = """jobs:
  unit:
    runs-on: ubuntu-latest
    steps:
      - run: echo hi
"""


class Repo(ExampleCopy):
    def __init__(self):
        super().__init__(GPUCI, prefix="gpuci-limits-")

    def gpuci(self, *args, timeout=60):
        return run([GPUCI, *args], self.dir, timeout=timeout)


class Base(unittest.TestCase):
    def setUp(self):
        self.repo = Repo()
        self.addCleanup(self.repo.close)
        self.lock = os.path.join(self.repo.tmp, "lock_{gpu_id}")

    def commands(self, wf):
        """Every command that loads the workflow wf, as argument lists."""
        return [["plan", "--workflow", wf], ["labels", "--workflow", wf],
                ["run", "--dry-run", "--all", "--gpus", "8", "--lock-path-pattern",
                 self.lock, "--workflow", wf],
                ["lint", "--workflow", wf]]

    def assert_refused(self, args, where, *words, timeout=60):
        r = self.repo.gpuci(*args, timeout=timeout)
        self.assertEqual(r.returncode, 1, f"{args}: {r.stdout}{r.stderr}")
        self.assertRegex(r.stderr, where, args)
        for w in words:
            self.assertIn(w, r.stderr, args)
        return r


class YamlLimits(Base):
    def write_all_commands_refuse(self, text, where, *words):
        wf = ".github/workflows/bad.yml"
        self.repo.write(wf, text)
        for args in self.commands(wf):
            self.assert_refused(args, "gpuci [a-z]+: " + re.escape(wf) + where, *words)

    def test_billion_laughs(self):
        lines = ["on: [pull_request]", "a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
        for i in range(1, 10):
            lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]")
        self.write_all_commands_refuse("\n".join(lines) + "\n" + JOB, r":8:15: ",
                                       "YAML aliases expand to more than 1000000 nodes")

    def test_merge_key_bomb(self):
        lines = ["on: [pull_request]", "m0: &m0 {a: 1, b: 2, c: 3, d: 4, e: 5, f: 6, g: 7}"]
        for i in range(1, 10):
            lines.append(f"m{i}: &m{i} {{<<: *m{i - 1}, " +
                         ", ".join(f"k{k}: *m{i - 1}" for k in range(8)) + "}")
        self.write_all_commands_refuse("\n".join(lines) + "\n" + JOB, r":\d+:\d+: ",
                                       "YAML aliases expand")

    def test_deep_nesting_stops_at_the_limit(self):
        self.write_all_commands_refuse(
            "on: [pull_request]\nx: " + "[" * 100000 + "]" * 100000 + "\n" + JOB,
            r":2:259: ", "YAML nested deeper than 256 levels")

    def test_wide_mapping_and_its_duplicate_key(self):
        env = "".join(f"  K{i}: v\n" for i in range(200000))
        wf = ".github/workflows/wide.yml"
        self.repo.write(wf, "on: [pull_request]\nenv:\n" + env + JOB)
        r = self.repo.gpuci("plan", "--workflow", wf)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.repo.write(wf, "on: [pull_request]\nenv:\n" + env + "  K7: again\n" + JOB)
        self.assert_refused(["plan", "--workflow", wf], re.escape(wf) + ":200003:3: ",
                            "duplicate key 'K7'")


class Fifos(Base):
    def fifo(self, rel):
        p = self.repo.path(rel)
        os.unlink(p) if os.path.exists(p) else None
        os.mkfifo(p)

    def test_template_fifo(self):
        self.fifo(TPL)
        for args in (["render"], ["render", "--check"], ["render", "--stdout", TPL]):
            self.assert_refused(args, re.escape(TPL), "not a regular file", timeout=20)

    def test_workflow_fifo(self):
        self.fifo(WF)
        for args in (["plan"], ["lint"], ["labels"],
                     ["run", "--dry-run", "--all", "--gpus", "8", "--lock-path-pattern",
                      self.lock]):
            self.assert_refused(args, re.escape(WF), "not a regular file", timeout=20)

    def test_unregistered_fifo(self):
        self.fifo("tests/ci/unregistered.txt")
        r = self.assert_refused(["lint"], "1 error", timeout=20)
        self.assertIn("tests/ci/unregistered.txt: error: cannot read", r.stdout)
        self.assertIn("not a regular file", r.stdout)


class NumGpus(Base):
    def test_values_that_ran_as_zero_gpus_are_refused_at_their_place(self):
        text = self.repo.read(WF)
        line = self.repo.line_of(WF, '"num_gpus": 4')
        col = self.repo.read(WF).split("\n")[line - 1].index("4") + 1
        for bad, shown in (("-1", "-1"), ("1.5", "1.5"), ("true", "true"), ("1e30", "1e+30"),
                           ("[1]", "[1]"), ("5000", "5000"), ('"x"', '"x"')):
            self.repo.write(WF, text.replace('"num_gpus": 4', f'"num_gpus": {bad}', 1))
            want = (f"num_gpus must be a whole number of GPUs from 0 to 4096, not {shown}")
            for args in (["plan", "--label", "run-ci-short"], ["labels"],
                         ["run", "--dry-run", "--gpus", "8", "--lock-path-pattern", self.lock,
                          "--label", "run-ci-short"]):
                self.assert_refused(args, re.escape(f"{WF}:{line}:{col}: "), want,
                                    "job 'e2e-test-short'")
        self.repo.write(WF, text.replace('"num_gpus": 4', '"num_gpus": "4"', 1))
        r = self.repo.gpuci("plan", "--label", "run-ci-short")
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_lint_names_the_template_entry(self):
        self.repo.replace(TPL, "'num_gpus': 4}", "'num_gpus': -1}")
        line = self.repo.line_of(TPL, "'num_gpus': -1}")
        self.assertEqual(self.repo.gpuci("render").returncode, 0)
        self.assert_refused(["lint"], re.escape(f"gpuci lint: {TPL}:{line}: "),
                            "num_gpus must be a whole number of GPUs from 0 to 4096, not -1")


class LintPlanErrors(Base):
    def test_a_plan_time_error_keeps_its_place(self):
        """The place pointed into the workflow's memory, freed before it was printed."""
        wf = ".github/workflows/bad-if.yml"
        self.repo.write(wf, "on: [pull_request]\njobs:\n  unit:\n    runs-on: x\n"
                            "    if: ${{ contains( }}\n    steps:\n      - run: echo hi\n")
        r = self.assert_refused(["lint", "--workflow", wf],
                                r"^gpuci lint: " + re.escape(wf) + r":5:\d+: ")
        self.assertNotIn("AddressSanitizer", r.stderr)
        self.assert_refused(["plan", "--workflow", wf], r"^gpuci plan: " + re.escape(wf) + ":5:")


class LintScale(Base):
    def test_twenty_thousand_listed_files(self):
        """One per line in unregistered.txt: every file against every line took 22 s."""
        names = [f"tests/gen/d{i // 500:03d}/test_{i:06d}.py" for i in range(20000)]
        for n in names:
            p = self.repo.path(n)
            os.makedirs(os.path.dirname(p), exist_ok=True)
            with open(p, "w") as f:
                f.write("NUM_GPUS = 1\n")
        self.repo.write("tests/ci/unregistered.txt",
                        "".join(n[len("tests/"):] + "\n" for n in names) +
                        "gen/d000/test_00000[0-4].py\n"  # a glob: these five twice
                        "tests/gen/d001/test_000500.py\n"  # listed twice
                        "gen/none/test_*.py\n")  # stale
        r = self.repo.gpuci("lint", "--json", timeout=15)
        findings = json.loads(r.stdout)["findings"]
        stale = [f for f in findings if f["rule"] == "stale-unregistered"]
        self.assertEqual([(f["line"], f["message"]) for f in stale],
                         [(20003, "tests/gen/none/test_*.py matches no test file: remove the line")])
        unlisted = [f for f in findings if f["file"].startswith("tests/gen/") and f["rule"] in
                    ("unreached-test", "unregistered-test")]
        self.assertEqual(unlisted, [])


def main():
    global GPUCI
    GPUCI = os.path.abspath(sys.argv.pop(1))
    unittest.main(verbosity=1)


if __name__ == "__main__":
    main()
