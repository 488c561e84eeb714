#!/usr/bin/env python3
"""End-to-end tests of `gpuci lint`, on copies of examples/vime-mini.

The example is clean; each rule gets a failing fixture (one mutation of a
copy that the rule must report, at the line to fix) and a passing one (a
near miss it must not report).

Run: python3 tests/cli/lint_test.py build/gpuci
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
RULES = ["missing-test-file", "gpu-count-mismatch", "unregistered-test", "stale-unregistered",
         "test-pattern", "cpu-test", "one-job-per-label", "unreachable-job", "stale-workflow",
         "duplicate-entry", "script-injection", "cancel-on-label"]


def gpuci(*args, cwd):
    return run([GPUCI, *args], cwd)


class Repo(ExampleCopy):
    """A copy of vime-mini to break."""

    def __init__(self):
        super().__init__(GPUCI, prefix="gpuci-lint-")

    def render(self):
        r = self.gpuci("render")
        if r.returncode != 0:
            raise AssertionError(f"gpuci render failed: {r.stderr}")

    def lint(self, *args):
        r = self.gpuci("lint", "--json", *args)
        if r.returncode not in (0, 1):
            raise AssertionError(f"gpuci lint exited {r.returncode}: {r.stderr}")
        out = json.loads(r.stdout)
        if (r.returncode == 1) != bool(out["findings"]):
            raise AssertionError(f"exit {r.returncode} with findings {out['findings']}")
        return out["findings"]


class LintTestCase(unittest.TestCase):
    def setUp(self):
        self.repo = Repo()
        self.addCleanup(self.repo.close)

    def findings(self, rule):
        return [f for f in self.repo.lint("--rule", rule) if f["rule"] == rule]

    def assert_one(self, rule, file, line, *words):
        got = self.findings(rule)
        self.assertEqual(len(got), 1, got)
        f = got[0]
        self.assertEqual((f["file"], f["line"]), (file, line), f)
        for w in words:
            self.assertIn(w, f["message"])
        return f

    def assert_none(self, rule):
        self.assertEqual(self.findings(rule), [])


class Whole(LintTestCase):
    def test_the_example_is_clean(self):
        r = gpuci("lint", cwd=self.repo.dir)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(r.stdout, "")
        m = re.search(r"no findings \((\d+) test files, (\d+) matrix entries\)", r.stderr)
        self.assertTrue(m, r.stderr)
        files = len([f for f in os.listdir(self.repo.path("tests")) if f.startswith("test_")])
        files += len(os.listdir(self.repo.path("tests/plugin_contracts")))
        self.assertEqual(int(m.group(1)), files)
        self.assertGreater(int(m.group(2)), 20)

    def test_text_output_and_exit_status(self):
        self.repo.replace(TPL, "{'test_file': 'test_glm4_9B.py', 'num_gpus': 8}",
                          "{'test_file': 'test_glm4_9B.py', 'num_gpus': 4}")
        self.repo.render()
        r = gpuci("lint", cwd=self.repo.dir)
        self.assertEqual(r.returncode, 1)
        line = self.repo.line_of(TPL, "'test_glm4_9B.py', 'num_gpus': 4")
        self.assertRegex(r.stdout, rf"^{re.escape(TPL)}:{line}: .* \[gpu-count-mismatch\]\n")
        self.assertIn("1 finding (1 gpu-count-mismatch)", r.stderr)
        # Under GitHub Actions, also an annotation on that line.
        env = dict(os.environ, GITHUB_ACTIONS="true")
        r = run([GPUCI, "lint"], self.repo.dir, env=env)
        ann = [l for l in r.stdout.splitlines() if l.startswith("::error ")]
        self.assertEqual(len(ann), 1, r.stdout)
        self.assertTrue(ann[0].startswith(
            f"::error file={TPL},line={line},title=gpuci lint%3A gpu-count-mismatch::"), ann[0])

    def test_rules_are_listed_and_selectable(self):
        r = gpuci("lint", "--list-rules", cwd=self.repo.dir)
        self.assertEqual(r.returncode, 0)
        self.assertEqual([l.split()[0] for l in r.stdout.splitlines()], RULES)
        h = gpuci("lint", "--help", cwd=self.repo.dir).stdout
        for rule in RULES:
            self.assertIn(rule, h)
        r = gpuci("lint", "--rule", "no-such-rule", cwd=self.repo.dir)
        self.assertEqual(r.returncode, 2)
        self.assertIn("no-such-rule", r.stderr)
        # Only the rules asked for run.
        self.repo.write("tests/test_orphan.py", "NUM_GPUS = 1\n")
        self.assertEqual({f["rule"] for f in self.repo.lint()}, {"unregistered-test",
                                                               "test-pattern"})
        self.assertEqual({f["rule"] for f in self.repo.lint("--rule", "test-pattern")},
                         {"test-pattern"})

    def test_unreadable_workflow_is_an_error(self):
        r = gpuci("lint", "--workflow", "nope.yml", cwd=self.repo.dir)
        self.assertEqual(r.returncode, 1)
        self.assertIn("nope.yml", r.stderr)
        self.repo.write(WF, "jobs: [\n")
        r = gpuci("lint", cwd=self.repo.dir)
        self.assertEqual(r.returncode, 1)
        self.assertRegex(r.stderr, re.escape(WF) + r":\d+:\d+:")


class Registry(LintTestCase):
    def test_missing_test_file(self):
        self.repo.replace(TPL, "    {'test_file': 'test_mimo_7B_mtp.py', 'num_gpus': 8},\n",
                          "    {'test_file': 'test_mimo_7B_mtp.py', 'num_gpus': 8},\n"
                          "    {'test_file': 'test_nope.py', 'num_gpus': 8},\n")
        self.repo.render()
        self.assert_one("missing-test-file", TPL, self.repo.line_of(TPL, "test_nope.py"),
                        "tests/test_nope.py does not exist", "e2e-test-megatron")

    def test_missing_test_file_passes_with_a_tests_prefix(self):
        self.repo.replace(TPL, "{'test_file': 'test_glm4_9B.py'",
                          "{'test_file': 'tests/test_glm4_9B.py'")
        self.repo.render()
        self.assert_none("missing-test-file")

    def test_gpu_count_mismatch(self):
        self.repo.replace(TPL, "{'test_file': 'test_glm4_9B.py', 'num_gpus': 8}",
                          "{'test_file': 'test_glm4_9B.py', 'num_gpus': 4}")
        self.repo.render()
        file_line = self.repo.line_of("tests/test_glm4_9B.py", "NUM_GPUS = 8")
        self.assert_one("gpu-count-mismatch", TPL,
                        self.repo.line_of(TPL, "'test_glm4_9B.py', 'num_gpus': 4"),
                        "num_gpus 4", f"tests/test_glm4_9B.py:{file_line} sets NUM_GPUS = 8")

    def test_gpu_count_agrees(self):
        self.repo.replace(TPL, "{'test_file': 'test_glm4_9B.py', 'num_gpus': 8}",
                          "{'test_file': 'test_glm4_9B.py', 'num_gpus': 4}")
        self.repo.replace("tests/test_glm4_9B.py", "NUM_GPUS = 8", "NUM_GPUS = 4")
        self.repo.render()
        self.assert_none("gpu-count-mismatch")

    def test_duplicate_entry(self):
        entry = "    {'test_file': 'test_glm4_9B.py', 'num_gpus': 8},\n"
        self.repo.replace(TPL, entry, entry + entry)
        self.repo.render()
        first = self.repo.line_of(TPL, entry.strip())
        self.assert_one("duplicate-entry", TPL, first + 1, "twice in job e2e-test-megatron",
                        f"first at {TPL}:{first}")

    def test_same_file_with_other_args_is_no_duplicate(self):
        entry = "    {'test_file': 'test_glm4_9B.py', 'num_gpus': 8},\n"
        self.repo.replace(TPL, entry, entry + entry.replace("8}", "8, 'test_args': '--x'}"))
        self.repo.render()
        self.assert_none("duplicate-entry")

    def test_duplicate_in_a_workflow_without_template(self):
        os.remove(self.repo.path(TPL))
        text = self.repo.read(WF)
        block = re.search(r"( +- num_gpus: 8\n +test_file: test_glm4_9B.py\n)", text)
        if not block:  # tojson(indent=2) writes JSON objects inside the YAML
            block = re.search(r'( +\{\n +"num_gpus": 8,\n +"test_file": "test_glm4_9B.py"\n +\},\n)',
                              text)
        self.assertTrue(block, "the glm4 entry in the generated workflow")
        self.repo.write(WF, text.replace(block.group(1), block.group(1) * 2, 1))
        got = self.findings("duplicate-entry")
        self.assertEqual(len(got), 1, got)
        self.assertEqual(got[0]["file"], WF)


class Files(LintTestCase):
    ORPHAN = ('"""An orphan."""\nNUM_GPUS = 2\n\n\ndef prepare():\n    pass\n\n\n'
              'def execute():\n    pass\n\n\nif __name__ == "__main__":\n    execute()\n')

    def test_unregistered_test(self):
        self.repo.write("tests/test_orphan.py", self.ORPHAN)
        self.repo.write("tests/plugin_contracts/test_lonely_contracts.py",
                        'NUM_GPUS = 0\nif __name__ == "__main__":\n    pass\n')
        got = self.findings("unregistered-test")
        self.assertEqual(sorted(f["file"] for f in got),
                         ["tests/plugin_contracts/test_lonely_contracts.py",
                          "tests/test_orphan.py"])
        self.assertIn("unregistered.txt", got[0]["message"])

    def test_unregistered_test_listed(self):
        self.repo.write("tests/test_orphan.py", self.ORPHAN)
        self.repo.write("tests/test_orphan2.py", self.ORPHAN)
        self.repo.write("tests/ci/unregistered.txt",
                        "# run by hand\ntest_orphan.py\ntests/test_orphan2*.py  # a glob\n")
        self.assert_none("unregistered-test")
        self.assert_none("stale-unregistered")

    def test_stale_unregistered(self):
        self.repo.write("tests/ci/unregistered.txt",
                        "# comment\n\ntest_gone.py\ntests/test_glm4_9B.py\n")
        got = self.findings("stale-unregistered")
        self.assertEqual([(f["file"], f["line"]) for f in got],
                         [("tests/ci/unregistered.txt", 3), ("tests/ci/unregistered.txt", 4)])
        self.assertIn("matches no test file", got[0]["message"])
        self.assertIn("registered in job e2e-test-megatron", got[1]["message"])

    def test_test_pattern(self):
        path = "tests/test_glm4_9B.py"
        self.repo.replace(path, "def execute():", "def run():")
        self.repo.replace(path, 'if __name__ == "__main__":', "if True:")
        got = self.findings("test-pattern")
        self.assertEqual([f["file"] for f in got], [path, path], got)
        text = " ".join(f["message"] for f in got)
        self.assertIn("def execute()", text)
        self.assertIn("__main__", text)

    def test_test_pattern_non_literal_gpus(self):
        path = "tests/test_qwen3_4B_ppo.py"
        self.repo.replace(path, "NUM_GPUS = 8", 'NUM_GPUS = int(os.environ.get("N", "8"))')
        self.assert_one("test-pattern", path, self.repo.line_of(path, "NUM_GPUS = int"),
                        "not an int literal")

    def test_test_pattern_import_error(self):
        path = "tests/test_qwen3_4B_ppo.py"
        self.repo.replace(path, 'MODEL_NAME = "Qwen3-4B"', 'MODEL_NAME = "Qwen3-4B')
        f = self.assert_one("test-pattern", path, self.repo.line_of(path, "MODEL_NAME ="),
                            "Python cannot import it")
        self.assertGreater(f["col"], 0)

    def test_test_pattern_passes(self):
        self.assert_none("test-pattern")
        # A CPU test needs no prepare/execute.
        self.assertNotIn("def prepare", self.repo.read(
            "tests/plugin_contracts/test_plugin_reward_contracts.py"))

    def test_cpu_test_without_main(self):
        path = "tests/plugin_contracts/test_plugin_reward_contracts.py"
        text = self.repo.read(path)
        self.repo.write(path, text[:text.index('if __name__ == "__main__":')])
        self.assert_one("cpu-test", path, 0, "no if __name__", "run none of its tests")

    def test_cpu_test_in_a_job_that_always_locks(self):
        self.repo.replace(TPL, "    {'test_file': 'test_mimo_7B_mtp.py', 'num_gpus': 8},\n",
                          "    {'test_file': 'test_mimo_7B_mtp.py', 'num_gpus': 8},\n"
                          "    {'test_file': 'plugin_contracts/test_plugin_reward_contracts.py',"
                          " 'num_gpus': 0},\n")
        self.repo.render()
        lines = self.repo.read(WF).split("\n")
        job = lines.index("  e2e-test-megatron:")
        lock = next(i + 1 for i in range(job, len(lines))
                    if 'gpuci lock --count "$TEST_GPUS"' in lines[i])
        self.assert_one("cpu-test", TPL,
                        self.repo.line_of(TPL, "'plugin_contracts/test_plugin_reward"),
                        "always takes a GPU lease", f"{WF}:{lock}", "e2e-test-megatron")

    def test_cpu_test_in_a_job_whose_lock_is_guarded(self):
        self.repo.replace(TPL, "    {'test_file': 'test_mimo_7B_mtp.py', 'num_gpus': 8},\n",
                          "    {'test_file': 'test_mimo_7B_mtp.py', 'num_gpus': 8},\n"
                          "    {'test_file': 'plugin_contracts/test_plugin_reward_contracts.py',"
                          " 'num_gpus': 0},\n")
        # Every GPU job's Execute skips the lock for 0 GPUs, as e2e-test-changed's does.
        self.repo.replace(TPL, "      <<- execute_step() >>", "      <<- execute_step(lock='auto') >>")
        self.repo.render()
        self.assert_none("cpu-test")


class Workflow(LintTestCase):
    def test_label_gates_one_job(self):
        self.repo.replace(TPL, "'label': 'run-ci-ckpt'", "'label': 'run-ci-precision'")
        self.repo.render()
        got = self.findings("one-job-per-label")
        self.assertEqual(len(got), 1, got)
        job_line = self.repo.line_of(WF, "  e2e-test-ckpt:")
        self.assertEqual(got[0]["file"], WF)
        self.assertGreater(got[0]["line"], job_line)
        self.assertIn("run-ci-precision", got[0]["message"])
        self.assertIn("e2e-test-ckpt", got[0]["message"])
        self.assertIn("e2e-test-precision", got[0]["message"])

    def test_label_reaching_a_second_job_through_needs_is_fine(self):
        # run-ci-changed runs detect-changed-tests and, through needs, e2e-test-changed.
        r = gpuci("labels", "--json", cwd=self.repo.dir)
        changed = [l for l in json.loads(r.stdout)["labels"] if l["label"] == "run-ci-changed"]
        self.assertEqual(len(changed[0]["jobs"]), 2)
        self.assert_none("one-job-per-label")

    UNREACHABLE = ("  nightly-only:\n"
                   "    if: github.event_name == 'schedule'\n"
                   "    runs-on: ubuntu-latest\n"
                   "    steps:\n"
                   "      - run: echo nightly\n")

    def test_unreachable_job(self):
        self.repo.replace(WF, "\njobs:\n", "\njobs:\n" + self.UNREACHABLE)
        self.assert_one("unreachable-job", WF,
                        self.repo.line_of(WF, "if: github.event_name == 'schedule'"),
                        "nightly-only")

    def test_job_reachable_from_a_listed_event(self):
        self.repo.replace(WF, "\njobs:\n", "\njobs:\n" + self.UNREACHABLE)
        self.repo.replace(WF, "\non:\n", "\non:\n  schedule:\n    - cron: '0 3 * * *'\n")
        self.assert_none("unreachable-job")

    def test_stale_workflow(self):
        self.repo.replace(TPL, "'timeout': 30,", "'timeout': 45,")
        f = self.assert_one("stale-workflow", WF, self.repo.line_of(WF, "timeout-minutes: 30"),
                            "gpuci render")
        self.assertEqual(f["col"], 0)

    def test_template_that_does_not_render(self):
        self.repo.replace(TPL, "<%- endmacro %>", "<%- endmacr %>")
        got = self.findings("stale-workflow")
        self.assertEqual(len(got), 1, got)
        self.assertEqual(got[0]["file"], TPL)
        self.assertIn("does not render", got[0]["message"])

    def test_rendered_workflow_is_current(self):
        self.repo.replace(TPL, "'timeout': 30,", "'timeout': 45,")
        self.repo.render()
        self.assert_none("stale-workflow")

    def test_script_injection(self):
        self.repo.replace(WF, '          set -f  # $TEST_ARGS',
                          '          echo "testing ${{ matrix.info.test_file }}"\n'
                          '          set -f  # $TEST_ARGS')
        self.repo.replace(WF, 'echo "every PR test job passed or was skipped"',
                          'echo "${{ github.event.pull_request.title }} passed"')
        got = self.findings("script-injection")
        lines = [i + 1 for i, l in enumerate(self.repo.read(WF).split("\n"))
                 if "${{ matrix.info.test_file }}\"" in l and "echo" in l]
        want = [(l, 25) for l in lines]
        title = self.repo.line_of(WF, "github.event.pull_request.title")
        want.append((title, 17))
        self.assertEqual(sorted((f["line"], f["col"]) for f in got), sorted(want))
        self.assertTrue(all("env:" in f["message"] for f in got))

    def test_script_injection_in_a_template_macro_is_one_finding_there(self):
        # The Execute macro serves every GPU job: one line to fix, one finding, at the
        # template's line, though << >> makes the rendered line differ from it.
        self.repo.replace(TPL, "          set -f  # $TEST_ARGS",
                          "          echo \"<< 'testing' >> ${{ matrix.info.test_file }}\"\n"
                          "          set -f  # $TEST_ARGS")
        self.repo.render()
        line = self.repo.line_of(TPL, "<< 'testing' >> ${{ matrix.info.test_file }}")
        col = self.repo.read(TPL).split("\n")[line - 1].index("${{") + 1
        got = self.findings("script-injection")
        self.assertEqual([(f["file"], f["line"], f["col"]) for f in got], [(TPL, line, col)])

    def test_trusted_values_and_env_are_fine(self):
        self.repo.replace(WF, '          set -f  # $TEST_ARGS',
                          '          echo "${{ github.sha }} ${{ inputs.job_filter }}"\n'
                          "          echo '${{ github.event_name }}'\n"
                          '          set -f  # $TEST_ARGS')
        self.assert_none("script-injection")

    def test_cancel_on_label(self):
        self.repo.replace(TPL, "-${{ github.event.action == 'labeled' && github.event.label.name"
                               " || 'push' }}", "")
        self.repo.render()
        self.assert_one("cancel-on-label", WF, self.repo.line_of(WF, "concurrency:"),
                        "cancel-in-progress", "run-ci-short")

    def test_cancel_on_label_without_labeled_events(self):
        self.repo.replace(TPL, "-${{ github.event.action == 'labeled' && github.event.label.name"
                               " || 'push' }}", "")
        self.repo.replace(TPL, "types: [synchronize, labeled]", "types: [synchronize]")
        self.repo.render()
        self.assert_none("cancel-on-label")

    def test_cancel_on_label_in_a_job(self):
        self.repo.replace(TPL, "\nconcurrency:\n", "\nx-concurrency:\n")
        self.repo.replace(TPL, "    timeout-minutes: << config.timeout >>\n",
                          "    timeout-minutes: << config.timeout >>\n"
                          "    concurrency:\n"
                          "      group: << job_name >>-${{ github.event.pull_request.number }}\n"
                          "      cancel-in-progress: true\n")
        self.repo.render()
        got = self.findings("cancel-on-label")
        self.assertTrue(got)
        self.assertTrue(all("job " in f["message"] for f in got), got)


def main():
    global GPUCI
    if len(sys.argv) < 2:
        sys.exit("usage: lint_test.py PATH-TO-GPUCI")
    GPUCI = os.path.abspath(sys.argv.pop(1))
    unittest.main(verbosity=1)


if __name__ == "__main__":
    main()
