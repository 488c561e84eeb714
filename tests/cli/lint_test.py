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
RULES = ["missing-test-file", "gpu-count-mismatch", "unregistered-test", "unreached-test",
         "stale-unregistered",
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
        errors = [f for f in out["findings"] if f["severity"] == "error"]
        strict = "--strict" in args
        if (r.returncode == 1) != bool(out["findings"] if strict else errors):
            raise AssertionError(f"exit {r.returncode} with findings {out['findings']}")
        if out["errors"] != len(errors) or out["warnings"] != len(out["findings"]) - len(errors):
            raise AssertionError(f"counts {out['errors']}/{out['warnings']}: {out['findings']}")
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
        self.assertRegex(r.stdout,
                         rf"^{re.escape(TPL)}:{line}: error: .* \[gpu-count-mismatch\]\n")
        self.assertIn("1 error, 0 warnings (1 gpu-count-mismatch)", r.stderr)
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
        f = self.assert_one("cpu-test", TPL,
                            self.repo.line_of(TPL, "'plugin_contracts/test_plugin_reward"),
                            "always takes a GPU lease", "e2e-test-megatron")
        # The lock it names is the template's line that writes it (the workflow is current).
        where = re.search(rf"\({re.escape(TPL)}:(\d+)\)", f["message"])
        self.assertTrue(where, f["message"])
        line = self.repo.read(TPL).split("\n")[int(where.group(1)) - 1]
        self.assertIn('gpuci lock --count "$TEST_GPUS"', line)

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
        # At the if: the template writes for every label job (the workflow is current).
        self.assertEqual(got[0]["file"], TPL)
        self.assertIn("if:", self.repo.read(TPL).split("\n")[got[0]["line"] - 1])
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
        # In every Execute step; only the changed-tests job's matrix comes from the PR
        # (its file names): the others' matrices are the workflow's own values.
        self.repo.replace(WF, '          set -f  # $TEST_ARGS',
                          '          echo "testing ${{ matrix.info.test_file }}'
                          ' on ${{ matrix.info.num_gpus }}"\n'
                          '          set -f  # $TEST_ARGS', count=-1)
        self.repo.replace(WF, 'echo "every PR test job passed or was skipped"',
                          'echo "${{ github.event.pull_request.title }} passed"')
        got = self.findings("script-injection")
        changed = self.repo.line_of(WF, "  e2e-test-changed:")
        echo = [i + 1 for i, l in enumerate(self.repo.read(WF).split("\n"))
                if "echo \"testing ${{ matrix.info.test_file }}" in l and i + 1 > changed]
        title = self.repo.line_of(WF, "github.event.pull_request.title")
        self.assertEqual(sorted((f["line"], f["col"]) for f in got),
                         sorted([(echo[0], 25), (title, 17)]))  # num_gpus is a number
        self.assertTrue(all("env:" in f["message"] and f["severity"] == "error" for f in got))
        self.assertIn("detect-changed-tests", [f for f in got if f["line"] == echo[0]][0]["message"])

    def test_script_injection_in_a_template_macro_is_one_finding_there(self):
        # The Execute macro serves every GPU job: one line to fix, one finding, at the
        # template's line (the changed-tests job is the one whose matrix the PR writes).
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
                          '          echo ${{ github.event.issue.number }} ${{ github.run_id }}\n'
                          '          echo ${{ github.event.pull_request.number }}\n'
                          '          echo ${{ github.event.pull_request.head.sha }}\n'
                          '          set -f  # $TEST_ARGS')
        self.assert_none("script-injection")

    def test_what_a_pr_writes_is_untrusted_and_step_outputs_are_warned_of(self):
        self.repo.replace(WF, 'echo "every PR test job passed or was skipped"',
                          'git push origin HEAD:${{ steps.get_branch.outputs.branch_name }}\n'
                          '          echo ${{ github.event.pull_request.head.ref }}\n'
                          '          echo "${{ github.event[\'comment\'][\'body\'] }}"\n'
                          '          echo \'${{ toJSON(github.event.pull_request) }}\'')
        self.repo.replace(WF, "      - name: Check results\n",
                          "      - name: Get PR branch name\n        id: get_branch\n"
                          "        run: echo branch_name=x >> $GITHUB_OUTPUT\n"
                          "      - name: Check results\n")
        got = {f["line"]: f for f in self.findings("script-injection")}
        push = self.repo.line_of(WF, "steps.get_branch.outputs.branch_name")
        self.assertEqual(got[push]["severity"], "warning")
        self.assertIn("step get_branch ('Get PR branch name')", got[push]["message"])
        for needle in ("head.ref", "['body']", "toJSON(github.event.pull_request)"):
            f = got[self.repo.line_of(WF, needle)]
            self.assertEqual(f["severity"], "error", f)
        self.assertIn("branch name", got[self.repo.line_of(WF, "head.ref")]["message"])

    # The label workflow vime-mini recommends, and the two that go wrong.
    ONE_GROUP_PER_PR = "${{ github.workflow }}-${{ github.event.pull_request.number || github.ref }}"
    LABELED_GATE = ("(github.event.action == 'labeled' && github.event.label.name == "
                    "'<< config.label >>' ||\n      github.event.action != 'labeled' && "
                    "contains(github.event.pull_request.labels.*.name, '<< config.label >>'))")
    CONTAINS_GATE = "contains(github.event.pull_request.labels.*.name, '<< config.label >>')"
    JOB_GROUP = ("    concurrency:\n      group: ${{ github.workflow }}-${{ "
                 "github.event.pull_request.number || github.ref }}-<< job_name >>-${{ "
                 "toJSON(matrix.info) }}\n      cancel-in-progress: true\n")

    def workflow_group(self, group):
        text = self.repo.read(TPL)
        old = re.search(r"\nconcurrency:\n  group: (.*)\n", text).group(1)
        self.repo.replace(TPL, "\nconcurrency:\n  group: " + old, "\nconcurrency:\n  group: " + group)

    def test_the_recommended_label_workflow_is_clean(self):
        self.assert_none("cancel-on-label")
        # And does what it says: adding a label runs exactly its jobs.
        r = self.repo.gpuci("plan", "--json", "--label", "run-ci-short", "--added", "run-ci-ckpt")
        jobs = [j["name"] for j in json.loads(r.stdout)["jobs"]]
        self.assertEqual([j for j in jobs if j.startswith("e2e")], ["e2e-test-ckpt"])

    def test_cancel_on_label_one_group_per_pr(self):
        # vime's: adding a label cancels the run the first one started.
        self.workflow_group(self.ONE_GROUP_PER_PR)
        self.repo.render()
        f = self.assert_one("cancel-on-label", TPL, self.repo.line_of(TPL, "concurrency:"),
                            "cancel-in-progress", "cancels the jobs label run-ci-short started",
                            "Label workflows")
        self.assertEqual(f["severity"], "error")

    def test_cancel_on_label_when_the_label_is_in_the_group_but_jobs_run_again(self):
        # The half fix: nothing is cancelled, but the second label's run carries both
        # labels and runs the first one's jobs again.
        self.workflow_group(self.ONE_GROUP_PER_PR + "-${{ github.event.action == 'labeled'"
                            " && github.event.label.name || 'push' }}")
        self.repo.replace(TPL, self.LABELED_GATE, self.CONTAINS_GATE)
        self.repo.replace(TPL, self.JOB_GROUP, "")
        self.repo.render()
        got = self.findings("cancel-on-label")
        again = [f for f in got if "again, though" in f["message"]]
        self.assertEqual(len(again), 1, got)
        self.assertIn("runs job e2e-test-short (run-ci-short's: 3 entries, 12 GPUs) again",
                      again[0]["message"])
        self.assertEqual(again[0]["file"], TPL)  # at the if: the template writes

    def test_cancel_on_label_when_a_push_leaves_label_runs_going(self):
        # Label runs of their own, but no job groups: a push runs the jobs again while
        # the label's run on the old commit goes on.
        self.repo.replace(TPL, self.JOB_GROUP, "")
        self.repo.render()
        got = self.findings("cancel-on-label")
        self.assertEqual(len(got), 1, got)
        self.assertIn("a push to a PR labeled run-ci-short runs job e2e-test-short again",
                      got[0]["message"])
        self.assertIn("toJSON(matrix)", got[0]["message"])

    def test_cancel_on_label_without_labeled_events(self):
        self.workflow_group(self.ONE_GROUP_PER_PR)
        self.repo.replace(TPL, "types: [opened, reopened, synchronize, labeled]",
                          "types: [opened, reopened, synchronize]")
        self.repo.render()
        self.assert_none("cancel-on-label")

    def test_cancel_on_label_in_a_job(self):
        # A job group of the PR alone (no entry): the second label's run of that job,
        # which the contains() gate starts, cancels the first's.
        self.workflow_group(self.ONE_GROUP_PER_PR + "-${{ github.run_id }}")
        self.repo.replace(TPL, self.LABELED_GATE, self.CONTAINS_GATE)
        self.repo.replace(TPL, self.JOB_GROUP,
                          "    concurrency:\n"
                          "      group: << job_name >>-${{ github.event.pull_request.number }}\n"
                          "      cancel-in-progress: true\n")
        self.repo.render()
        got = self.findings("cancel-on-label")
        self.assertTrue(got)
        self.assertTrue(all(f["message"].startswith("job ") for f in got), got)


class RealShapes(LintTestCase):
    """What slime's and vime's own repositories have, and how a repository says "not here"."""

    PYTEST_GPU = ('"""A pytest-style GPU test."""\nNUM_GPUS = 2\n\n\ndef test_forward():\n'
                  '    pass\n\n\nif __name__ == "__main__":\n    test_forward()\n')

    def register(self, entry, job_list="megatron_tests"):
        anchor = "    {'test_file': 'test_mimo_7B_mtp.py', 'num_gpus': 8},\n"
        self.repo.replace(TPL, anchor, anchor + "    " + entry + ",\n")
        self.repo.render()

    def test_one_file_with_other_keys_is_no_duplicate(self):
        # vime's test_qwen3_30B_A3B_r3.py, with and without DeepEP.
        self.register("{'test_file': 'test_qwen3_30B_A3B_deepep.py', 'num_gpus': 8}")
        self.assert_none("duplicate-entry")
        self.register("{'test_file': 'test_qwen3_30B_A3B_deepep.py', 'num_gpus': 8}")
        got = self.findings("duplicate-entry")
        self.assertEqual(len(got), 1, got)
        self.assertIn("every key alike", got[0]["message"])

    def test_pytest_style_gpu_tests_need_no_prepare_and_execute(self):
        self.repo.write("tests/test_forward_gpu.py", self.PYTEST_GPU)
        self.register("{'test_file': 'test_forward_gpu.py', 'num_gpus': 2}")
        self.assert_none("test-pattern")
        # Unless the repository says every GPU test follows the pattern.
        self.repo.write(".github/gpuci.yml", "lint:\n  prepare-execute: always\n")
        got = self.findings("test-pattern")
        self.assertEqual([(f["file"], f["severity"]) for f in got],
                         [("tests/test_forward_gpu.py", "warning")])
        self.assertIn("prepare() nor def execute()", got[0]["message"])
        self.repo.write(".github/gpuci.yml", "lint:\n  prepare-execute: never\n")
        self.repo.replace("tests/test_glm4_9B.py", "def execute():", "def run():")
        self.assert_none("test-pattern")

    def test_the_pattern_is_asked_only_where_the_repository_follows_it(self):
        # Most GPU tests without prepare()/execute(): the repository does not follow it.
        for name in ("test_glm4_9B.py", "test_qwen3_4B_ppo.py", "test_mimo_7B_mtp.py",
                     "test_moonlight_16B_a3b.py", "test_qwen3_30B_A3B_deepep.py",
                     "test_qwen2p5_0p5B_short.py", "test_qwen2p5_0p5B_debug_rollout.py",
                     "test_qwen3_4B_ckpt.py", "test_moonlight_16B_precision.py",
                     "test_qwen3_4B_precision.py"):
            self.repo.replace("tests/" + name, "def prepare():", "def download():")
        self.assert_none("test-pattern")

    def test_a_file_no_job_and_no_pattern_reaches(self):
        self.repo.write("tests/utils/test_mask_utils.py", self.PYTEST_GPU)
        f = self.assert_one("unreached-test", "tests/utils/test_mask_utils.py", 0,
                            "never runs in CI", "'tests/test_*.py'")
        self.assertEqual(f["severity"], "error")
        # Not under unregistered-test: run-ci-changed does not run it either.
        self.assert_none("unregistered-test")
        # A helper next to tests is no test.
        self.repo.write("tests/test_agent/_fakes.py", "x = 1\n")
        self.repo.write("tests/test_agent/__init__.py", "")
        self.assertEqual([g["file"] for g in self.repo.lint() if "test_agent" in g["file"]], [])

    def test_a_job_that_runs_the_folder_reaches_it(self):
        # vime's e2e-test-unit: `python -m pytest tests/unit tests/utils` in one job.
        self.repo.write("tests/utils/test_mask_utils.py", self.PYTEST_GPU)
        self.repo.replace(WF, '          echo "every PR test job passed or was skipped"',
                          '          echo "every PR test job passed or was skipped"\n'
                          '          python -m pytest tests/unit tests/utils')
        self.assert_none("unreached-test")
        self.assert_none("test-pattern")  # run by pytest, not as `python FILE`

    def test_a_test_in_a_folder_run_ci_changed_reaches(self):
        # The pattern's folder part keeps git's meaning: tests/test_*.py reaches
        # tests/test_agent/test_x.py (its own name is test_*.py).
        self.repo.write("tests/test_agent/test_adapters.py", "NUM_GPUS = 0\n")
        f = self.assert_one("unregistered-test", "tests/test_agent/test_adapters.py", 0)
        self.assertEqual(f["severity"], "warning")
        # A CPU test without a __main__ block runs nothing under run-ci-changed.
        self.assert_one("cpu-test", "tests/test_agent/test_adapters.py", 0, "run none")

    def test_a_registered_cpu_test_without_num_gpus_or_main(self):
        # slime's agent tests: num_gpus 0 in their job, no NUM_GPUS, no __main__.
        self.repo.write("tests/test_agent/test_harness.py", "def test_x():\n    pass\n")
        self.repo.replace(TPL, "            {'test_file': 'plugin_contracts/test_plugin_path_loading_contracts.py', 'num_gpus': 0},\n",
                          "            {'test_file': 'plugin_contracts/test_plugin_path_loading_contracts.py', 'num_gpus': 0},\n"
                          "            {'test_file': 'test_agent/test_harness.py', 'num_gpus': 0},\n")
        self.repo.render()
        self.assert_one("cpu-test", "tests/test_agent/test_harness.py", 0,
                        "num_gpus 0 in its job", "run none of its tests")
        got = self.findings("test-pattern")
        self.assertEqual(len(got), 1, got)
        self.assertIn("job plugin-contracts runs it with 0 GPUs", got[0]["message"])

    def test_jobs_gated_on_what_people_write_are_not_unreachable(self):
        self.repo.replace(WF, "\njobs:\n", "\njobs:\n"
                          "  release:\n"
                          "    if: contains(github.event.pull_request.title, '[release]')\n"
                          "    runs-on: ubuntu-latest\n    steps:\n      - run: echo\n"
                          "  forks-not:\n"
                          "    if: github.repository == 'example-org/vime-mini'\n"
                          "    runs-on: ubuntu-latest\n    steps:\n      - run: echo\n")
        self.assert_none("unreachable-job")

    def test_config_turns_rules_off_and_changes_severities(self):
        self.repo.write("tests/test_orphan.py", Files.ORPHAN)
        self.assertEqual({f["rule"] for f in self.repo.lint()}, {"unregistered-test"})
        r = gpuci("lint", cwd=self.repo.dir)
        self.assertEqual(r.returncode, 0, r.stdout)  # a warning
        self.assertIn("warning:", r.stdout)
        self.assertEqual(gpuci("lint", "--strict", cwd=self.repo.dir).returncode, 1)
        self.repo.write(".github/gpuci.yml",
                        "# gpuci's settings\nlint:\n  severity:\n    unregistered-test: error\n")
        self.assertEqual([f["severity"] for f in self.repo.lint()], ["error"])
        self.repo.write(".github/gpuci.yml", "lint:\n  disable: [unregistered-test]\n")
        self.assertEqual(self.repo.lint(), [])
        self.repo.write(".github/gpuci.yml",
                        "lint:\n  ignore:\n    - files: ['tests/test_orph*.py']\n"
                        "      rules: [unregistered-test]\n")
        self.assertEqual(self.repo.lint(), [])
        self.repo.write(".github/gpuci.yml", "lint:\n  ignore:\n    - files: ['tests/**']\n")
        self.assertEqual(self.repo.lint(), [])
        self.repo.write(".github/gpuci.yml", "# nothing yet\n")
        self.assertEqual(len(self.repo.lint()), 1)

    def test_config_mistakes_are_errors_with_their_place(self):
        for text, place, words in [
                ("lint:\n  disable: [no-such-rule]\n", ":2:13:", "no rule 'no-such-rule'"),
                ("lint:\n  disabled: [test-pattern]\n", ":2:3:", "unknown key 'disabled'"),
                ("lint:\n  severity: {test-pattern: fatal}\n", ":2:28:", "error or warning"),
                ("lint:\n  prepare-execute: sometimes\n", ":2:20:", "auto, always or never"),
                ("lint: [\n", ":", "")]:
            with self.subTest(text=text):
                self.repo.write(".github/gpuci.yml", text)
                r = gpuci("lint", cwd=self.repo.dir)
                self.assertEqual(r.returncode, 1, r.stderr)
                self.assertIn(".github/gpuci.yml" + place, r.stderr)
                self.assertIn(words, r.stderr)

    def test_comments_turn_rules_off_in_a_file_or_on_a_line(self):
        path = "tests/test_qwen3_4B_ppo.py"
        self.repo.replace(path, "NUM_GPUS = 8", 'NUM_GPUS = int(os.environ.get("N", "8"))')
        self.assertEqual(len(self.findings("test-pattern")), 1)
        self.repo.replace(path, 'NUM_GPUS = int(os.environ.get("N", "8"))',
                          'NUM_GPUS = int(os.environ.get("N", "8"))  # gpuci: disable=test-pattern')
        self.assert_none("test-pattern")
        self.repo.replace(path, "  # gpuci: disable=test-pattern", "")
        self.repo.write(path, "# gpuci: disable=gpu-count-mismatch,test-pattern\n" +
                        self.repo.read(path))
        self.assert_none("test-pattern")
        # On another line it is about that line only.
        self.repo.replace(path, "# gpuci: disable=gpu-count-mismatch,test-pattern\n",
                          "x = 1  # gpuci: disable=test-pattern\n")
        self.assertEqual(len(self.findings("test-pattern")), 1)

    def test_the_old_generators_header_is_current(self):
        text = self.repo.read(WF).split("\n", 3)
        self.repo.write(WF, "\n".join([text[0], "# This file is auto-generated from the .j2 "
                                       "file via generate_github_workflows.py. Do not edit "
                                       "manually.", text[2], text[3]]))
        self.assert_none("stale-workflow")

    def test_a_workflow_that_runs_no_test_says_nothing_of_test_files(self):
        self.repo.write(".github/workflows/docs.yml",
                        "on: {push: {branches: [main]}}\njobs:\n  deploy:\n"
                        "    runs-on: ubuntu-latest\n    steps:\n      - run: make docs\n")
        self.repo.write("tests/test_orphan.py", Files.ORPHAN)
        r = gpuci("lint", "--workflow", ".github/workflows/docs.yml", "--json", cwd=self.repo.dir)
        self.assertEqual(json.loads(r.stdout)["findings"], [])


def main():
    global GPUCI
    if len(sys.argv) < 2:
        sys.exit("usage: lint_test.py PATH-TO-GPUCI")
    GPUCI = os.path.abspath(sys.argv.pop(1))
    unittest.main(verbosity=1)


if __name__ == "__main__":
    main()
