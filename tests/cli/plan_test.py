#!/usr/bin/env python3
"""End-to-end tests of `gpuci plan` and `gpuci labels` on the example workflow.

The expected jobs and entries come from the template itself: Jinja2 (Debian's
python3-jinja2, run as /usr/bin/python3) evaluates pr-test.yml.j2 and hands
back its `jobs` dict, so the plan of the generated workflow is checked against
what the template author wrote, label by label. Without jinja2 those tests
are skipped; the others still run.

Run: python3 tests/cli/plan_test.py build/gpuci
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

GPUCI = None
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXAMPLE = os.path.join(ROOT, "examples", "repo")
WORKFLOW = os.path.join(EXAMPLE, ".github", "workflows", "pr-test.yml")
TEMPLATE = WORKFLOW + ".j2"
ORACLE_PYTHON = os.environ.get("TPL_ORACLE_PYTHON", "/usr/bin/python3")

# Evaluates the template's top-level `set`s with Jinja2 and prints `jobs`.
JOBS_SCRIPT = r"""
import json, sys, jinja2
env = jinja2.Environment(block_start_string="<%", block_end_string="%>",
                         variable_start_string="<<", variable_end_string=">>")
module = env.from_string(open(sys.argv[1], encoding="utf-8").read()).module
print(json.dumps(module.jobs))
"""


def template_jobs():
    """The template's jobs dict (ordered), or None without jinja2."""
    try:
        r = subprocess.run([ORACLE_PYTHON, "-c", JOBS_SCRIPT, TEMPLATE],
                           capture_output=True, text=True, timeout=60)
    except OSError:
        return None
    if r.returncode != 0:
        return None
    return json.loads(r.stdout, object_pairs_hook=lambda pairs: pairs)


def as_pairs(obj):
    """JSON text -> nested lists of (key, value) pairs: key order counts."""
    return json.loads(obj, object_pairs_hook=lambda pairs: pairs)


def pairs_get(pairs, key, default=None):
    for k, v in pairs:
        if k == key:
            return v
    return default


def gpuci(*args, cwd=None, env=None):
    return subprocess.run([GPUCI, *args], capture_output=True, text=True, cwd=cwd, env=env,
                          timeout=60)


def plan(*args, cwd=None):
    r = gpuci("plan", "--workflow", WORKFLOW, "--json", *args, cwd=cwd)
    if r.returncode != 0:
        raise AssertionError(f"gpuci plan {args} exited {r.returncode}: {r.stderr}")
    return json.loads(r.stdout), as_pairs(r.stdout)


JOBS = template_jobs()
needs_jinja = unittest.skipIf(JOBS is None, "needs /usr/bin/python3 with jinja2")


class PlanOnTheExample(unittest.TestCase):
    def label_jobs(self):
        return [(name, cfg) for name, cfg in JOBS]

    @needs_jinja
    def test_each_label_runs_its_job_with_the_template_entries(self):
        labels = [pairs_get(cfg, "label") for _, cfg in self.label_jobs()
                  if not pairs_get(cfg, "always")]
        always = [name for name, cfg in self.label_jobs() if pairs_get(cfg, "always")]
        self.assertGreaterEqual(len(labels), 5)
        for label in labels:
            with self.subTest(label=label):
                p, pp = plan("--label", label)
                want = [name for name, cfg in self.label_jobs()
                        if pairs_get(cfg, "label") == label or name in always]
                want.append("pr-test-summary")  # if: always()
                self.assertEqual([j["name"] for j in p["jobs"]], want)
                self.assertEqual(p["event"], "pull_request")
                self.assertEqual(p["labels"], [label])
                total = 0
                for job, jp in zip(p["jobs"], pairs_get(pp, "jobs")):
                    cfg = dict(self.label_jobs()).get(job["name"])
                    if cfg is None:  # pr-test-summary: no matrix
                        self.assertEqual(job["matrix"], [])
                        continue
                    tests = pairs_get(cfg, "tests")
                    # Each entry as the workflow spells it: {"info": {...}}, keys in the
                    # workflow's order (the template writes them with tojson: sorted).
                    self.assertEqual(pairs_get(jp, "matrix"),
                                     [[("info", sorted(t))] for t in tests])
                    gpus = sum(pairs_get(t, "num_gpus") for t in tests)
                    self.assertEqual(job["gpus"], gpus)
                    total += gpus
                self.assertEqual(p["gpus"], total)
                skipped = {j["name"] for j in p["skipped"]}
                self.assertIn("detect-changed-tests", skipped)
                self.assertIn("e2e-test-changed", skipped)

    @needs_jinja
    def test_no_label_runs_the_always_on_jobs_only(self):
        p, _ = plan()
        always = [name for name, cfg in self.label_jobs() if pairs_get(cfg, "always")]
        self.assertEqual([j["name"] for j in p["jobs"]], always + ["pr-test-summary"])
        reasons = {j["name"]: j["reason"] for j in p["skipped"]}
        self.assertIn("if:", reasons["e2e-test-short"])
        self.assertIn("needs 'detect-changed-tests'", reasons["e2e-test-changed"])

    @needs_jinja
    def test_two_labels_run_both_jobs(self):
        p, _ = plan("--label", "run-ci-short", "--label", "run-ci-ckpt")
        names = [j["name"] for j in p["jobs"]]
        self.assertIn("e2e-test-short", names)
        self.assertIn("e2e-test-ckpt", names)
        self.assertNotIn("e2e-test-megatron", names)

    def test_changed_label_without_changed_is_undetermined(self):
        p, _ = plan("--label", "run-ci-changed")
        names = [j["name"] for j in p["jobs"]]
        self.assertIn("detect-changed-tests", names)
        self.assertNotIn("e2e-test-changed", names)
        und = {j["name"]: j["reason"] for j in p["undetermined"]}
        self.assertIn("has_tests", und["e2e-test-changed"])
        self.assertIn("detect-changed-tests", und["e2e-test-changed"])
        self.assertIn("--changed", und["e2e-test-changed"])

    @needs_jinja
    def test_workflow_dispatch_runs_every_job_or_the_filtered_one(self):
        p, _ = plan("--event", "workflow_dispatch")
        names = [j["name"] for j in p["jobs"]]
        self.assertEqual(names, [name for name, _ in self.label_jobs()] + ["pr-test-summary"])
        p, _ = plan("--event", "workflow_dispatch", "--input", "job_filter=e2e-test-ckpt")
        self.assertEqual([j["name"] for j in p["jobs"]], ["e2e-test-ckpt", "pr-test-summary"])

    def test_bad_inputs_and_flags_are_usage_errors(self):
        for args, msg in [
            (["--event", "workflow_dispatch", "--input", "nope=1"], "no input 'nope'"),
            (["--event", "workflow_dispatch", "--input", "infinite_run=maybe"], "boolean"),
            (["--event", "workflow_dispatch", "--input", "job_filter=zzz"], "choice"),
            (["--event", "workflow_dispatch", "--input", "novalue"], "KEY=VALUE"),
            (["--event", "push", "--label", "x"], "pull_request"),
            (["--base", "main"], "--changed"),
            (["--bogus"], "unknown option"),
        ]:
            with self.subTest(args=args):
                r = gpuci("plan", "--workflow", WORKFLOW, *args)
                self.assertEqual(r.returncode, 2, r.stderr)
                self.assertIn(msg, r.stderr)

    def test_an_event_the_workflow_ignores_runs_nothing(self):
        r = gpuci("plan", "--workflow", WORKFLOW, "--event", "push", "--json")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(json.loads(r.stdout)["jobs"], [])
        self.assertIn("does not run on push", r.stderr)

    def test_human_output_lists_entries_and_totals(self):
        r = gpuci("plan", "--workflow", WORKFLOW, "--label", "run-ci-ckpt")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("pull_request with label run-ci-ckpt", r.stdout)
        self.assertIn("e2e-test-ckpt (self-hosted): 3 entries, 6 GPUs", r.stdout)
        self.assertIn("test_glm4_9B_ckpt.py --async-save", r.stdout)
        self.assertIn("Skipped:", r.stdout)
        self.assertRegex(r.stdout, r"\d+ jobs run, \d+ matrix entries, 6 GPUs in all")

    def test_errors_name_the_place(self):
        with tempfile.TemporaryDirectory() as d:
            bad = os.path.join(d, "w.yml")
            with open(bad, "w") as f:
                f.write("on: pull_request\njobs:\n  a:\n    runs-on: x\n"
                        "    if: contains(github.event_name, 'x') &&\n")
            r = gpuci("plan", "--workflow", bad)
            self.assertEqual(r.returncode, 1)
            self.assertIn(bad + ":5:", r.stderr)
            self.assertEqual(len(r.stderr.strip().splitlines()), 1, r.stderr)
            r = gpuci("plan", "--workflow", os.path.join(d, "missing.yml"))
            self.assertEqual(r.returncode, 1)
            self.assertIn("missing.yml", r.stderr)

    def test_needs_chain_and_status_functions(self):
        with tempfile.TemporaryDirectory() as d:
            wf = os.path.join(d, "w.yml")
            with open(wf, "w") as f:
                f.write("on: pull_request\njobs:\n"
                        "  a: {runs-on: x, if: \"contains(github.event.pull_request.labels.*.name, 'go')\"}\n"
                        "  b: {runs-on: x, needs: a}\n"
                        "  c: {runs-on: x, needs: b, if: '!cancelled()'}\n"
                        "  d: {runs-on: x, needs: b, if: 'success() || failure()'}\n"
                        "  e: {runs-on: x, needs: [a], if: \"always() && github.event_name == 'push'\"}\n")
            for labels, want in [([], ["c"]), (["go"], ["a", "b", "c", "d"])]:
                args = sum((["--label", l] for l in labels), [])
                r = gpuci("plan", "--workflow", wf, "--json", *args)
                self.assertEqual(r.returncode, 0, r.stderr)
                self.assertEqual([j["name"] for j in json.loads(r.stdout)["jobs"]], want)

    def test_matrix_from_json_and_include(self):
        with tempfile.TemporaryDirectory() as d:
            wf = os.path.join(d, "w.yml")
            with open(wf, "w") as f:
                f.write("on: workflow_dispatch\njobs:\n  a:\n    runs-on: x\n    strategy:\n"
                        "      matrix:\n"
                        "        info: ${{ fromJson('[{\"test_file\":\"t.py\",\"num_gpus\":2}]') }}\n"
                        "        include: [{extra: 1}]\n")
            r = gpuci("plan", "--workflow", wf, "--event", "workflow_dispatch", "--json")
            self.assertEqual(r.returncode, 0, r.stderr)
            job = json.loads(r.stdout)["jobs"][0]
            self.assertEqual(job["matrix"],
                             [{"info": {"test_file": "t.py", "num_gpus": 2}, "extra": 1}])
            self.assertEqual(job["gpus"], 2)


# A workflow of the shapes real repositories have (vime's and slime's): one
# test file registered twice with other keys, always-on CPU jobs, a job of
# one script and no matrix, a job gated on the PR's title, one on a comment.
SHAPES = """\
name: shapes
on:
  pull_request:
    types: [opened, synchronize, labeled]
  issue_comment:
    types: [created]
jobs:
  e2e-test-megatron:
    if: contains(github.event.pull_request.labels.*.name, 'run-ci-megatron')
    runs-on: self-hosted
    strategy:
      matrix:
        info: [{"num_gpus": 8, "test_file": "test_qwen3_30B_A3B_r3.py", "use_deepep": "1", "use_fp8_rollout": "1", "enable_eval": "0"},
               {"num_gpus": 8, "test_file": "test_qwen3_30B_A3B_r3.py", "enable_eval": "0"},
               {"num_gpus": 8, "test_file": "test_qwen3_4B_ckpt.py"},
               {"num_gpus": 8, "test_file": "test_qwen3_4B_ckpt.py", "test_args": "--async-save"}]
    steps: [{run: echo}]
  cpu-unittest:
    if: github.event_name == 'pull_request'
    runs-on: ubuntu-latest
    strategy:
      matrix:
        info: [{"num_gpus": 0, "test_file": "test_a.py"}, {"num_gpus": 0, "test_file": "test_b.py"}]
    steps: [{run: echo}]
  e2e-test-unit:
    if: github.event_name == 'pull_request'
    runs-on: self-hosted
    steps: [{run: python -m pytest tests/unit tests/utils}]
  release:
    if: contains(github.event.pull_request.title, '[release]')
    runs-on: ubuntu-latest
    steps: [{run: echo}]
  slash:
    if: github.event.issue.pull_request && contains(github.event.comment.body, '/run-lint')
    runs-on: ubuntu-latest
    steps: [{run: echo}]
"""


class PlanOnRealShapes(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="gpuci-plan-shapes.")
        self.wf = os.path.join(self.tmp, "pr-test.yml")
        with open(self.wf, "w") as f:
            f.write(SHAPES)
        self.addCleanup(shutil.rmtree, self.tmp, True)

    def plan(self, *args, json_out=True):
        r = gpuci("plan", "--workflow", self.wf, *(["--json"] if json_out else []), *args)
        self.assertEqual(r.returncode, 0, r.stderr)
        return json.loads(r.stdout) if json_out else r.stdout

    def test_entries_of_one_file_show_what_tells_them_apart(self):
        out = self.plan("--label", "run-ci-megatron", json_out=False)
        lines = [re.sub(r"\s+\d+ GPUs?$", "", l.strip()) for l in out.splitlines()
                 if "test_qwen3" in l]
        self.assertEqual(lines, [
            "test_qwen3_30B_A3B_r3.py [use_deepep=1 use_fp8_rollout=1]",
            "test_qwen3_30B_A3B_r3.py [without use_deepep, use_fp8_rollout]",
            "test_qwen3_4B_ckpt.py",  # args already tell these two apart
            "test_qwen3_4B_ckpt.py --async-save"])
        # The JSON keeps each entry as the workflow spells it.
        job = self.plan("--label", "run-ci-megatron")["jobs"][0]
        self.assertEqual(job["matrix"][1], {"info": {"num_gpus": 8, "test_file":
                                                     "test_qwen3_30B_A3B_r3.py",
                                                     "enable_eval": "0"}})

    def test_no_always_leaves_out_what_every_pr_runs(self):
        full = self.plan("--label", "run-ci-megatron")
        self.assertEqual([(j["name"], j["always"]) for j in full["jobs"]],
                         [("e2e-test-megatron", False), ("cpu-unittest", True),
                          ("e2e-test-unit", True)])
        only = self.plan("--label", "run-ci-megatron", "--no-always")
        self.assertEqual([j["name"] for j in only["jobs"]], ["e2e-test-megatron"])
        text = self.plan("--label", "run-ci-megatron", "--no-always", json_out=False)
        self.assertNotIn("test_a.py", text)
        self.assertIn("(2 always-on jobs left out: --no-always)", text)

    def test_a_job_without_a_matrix_says_gpuci_run_does_not_run_it(self):
        text = self.plan(json_out=False)
        self.assertIn("e2e-test-unit (self-hosted): not run by gpuci run: no matrix", text)
        job = [j for j in self.plan()["jobs"] if j["name"] == "e2e-test-unit"][0]
        self.assertEqual(job["not_run"], "no matrix")

    def test_what_people_write_is_undetermined_not_skipped(self):
        p = self.plan()
        why = {j["name"]: j["reason"] for j in p["undetermined"]}
        self.assertIn("release", why)
        self.assertIn("the pull request's title", why["release"])
        p = self.plan("--event", "issue_comment")
        why = {j["name"]: j["reason"] for j in p["undetermined"]}
        self.assertIn("slash", why)
        self.assertIn("pull request", why["slash"])

    def test_added_is_a_labeled_event_on_top_of_the_labels(self):
        both = self.plan("--label", "run-ci-x", "--added", "run-ci-megatron")
        self.assertEqual(both["labels"], ["run-ci-x"])
        self.assertIn("e2e-test-megatron", [j["name"] for j in both["jobs"]])
        r = gpuci("plan", "--workflow", self.wf, "--added", "x", "--action", "synchronize")
        self.assertEqual(r.returncode, 2)
        self.assertIn("--added is a labeled event", r.stderr)
        r = gpuci("plan", "--workflow", self.wf, "--event", "push", "--added", "x")
        self.assertEqual(r.returncode, 2)


def git(*args, cwd):
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True,
                   env={**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@e",
                        "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@e",
                        "GIT_CONFIG_GLOBAL": "/dev/null", "GIT_CONFIG_NOSYSTEM": "1"})


@unittest.skipIf(shutil.which("git") is None, "needs git")
class PlanChanged(unittest.TestCase):
    """--changed computes the detect job's outputs from the repository."""

    def test_changed_tests_are_planned_with_their_gpus(self):
        with tempfile.TemporaryDirectory() as d:
            repo = os.path.join(d, "repo")
            shutil.copytree(EXAMPLE, repo)
            git("init", "-q", "-b", "main", cwd=repo)
            git("add", "-A", cwd=repo)
            git("commit", "-qm", "base", cwd=repo)
            git("checkout", "-qb", "pr", cwd=repo)
            with open(os.path.join(repo, "tests", "test_new_feature.py"), "w") as f:
                f.write('"""NUM_GPUS = 9 in a docstring does not count."""\nNUM_GPUS = 2\n')
            with open(os.path.join(repo, "tests", "test_glm4_9B.py"), "a") as f:
                f.write("\n# touched\n")
            git("add", "-A", cwd=repo)
            git("commit", "-qm", "pr", cwd=repo)
            wf = os.path.join(repo, ".github", "workflows", "pr-test.yml")
            r = gpuci("plan", "--workflow", wf, "--label", "run-ci-changed", "--changed",
                      "--base", "main", "--json", cwd=repo)
            self.assertEqual(r.returncode, 0, r.stderr)
            p = json.loads(r.stdout)
            jobs = {j["name"]: j for j in p["jobs"]}
            self.assertIn("e2e-test-changed", jobs)
            with open(os.path.join(repo, "tests", "test_glm4_9B.py")) as f:
                glm = int(next(l for l in f if l.startswith("NUM_GPUS")).split("=")[1])
            # The example's detector is the old bash step: test_file without tests/.
            self.assertEqual(jobs["e2e-test-changed"]["matrix"], [
                {"info": {"test_file": "test_glm4_9B.py", "num_gpus": glm}},
                {"info": {"test_file": "test_new_feature.py", "num_gpus": 2}},
            ])
            self.assertEqual(jobs["e2e-test-changed"]["gpus"], glm + 2)
            # No change: has_tests is false, so the changed-tests job is skipped.
            r = gpuci("plan", "--workflow", wf, "--label", "run-ci-changed", "--changed",
                      "--base", "pr", "--json", cwd=repo)
            self.assertEqual(r.returncode, 0, r.stderr)
            p = json.loads(r.stdout)
            self.assertIn("e2e-test-changed", {j["name"] for j in p["skipped"]})
            # A detect step running gpuci changed: its options are read off the
            # script (here a pattern that leaves test_glm4_9B.py out).
            wf2 = os.path.join(d, "gpuci.yml")
            with open(wf2, "w") as f:
                f.write("on: pull_request\njobs:\n"
                        "  detect:\n    runs-on: x\n"
                        "    outputs: {matrix: '${{ steps.d.outputs.matrix }}',"
                        " any: '${{ steps.d.outputs.has_tests }}'}\n"
                        "    steps:\n      - id: d\n"
                        "        run: gpuci changed --github-output --pattern 'tests/test_new*.py'\n"
                        "  run:\n    needs: detect\n    if: needs.detect.outputs.any == 'true'\n"
                        "    runs-on: x\n    strategy:\n"
                        "      matrix: ${{ fromJson(needs.detect.outputs.matrix) }}\n")
            r = gpuci("plan", "--workflow", wf2, "--changed", "--base", "main", "--json",
                      cwd=repo)
            self.assertEqual(r.returncode, 0, r.stderr)
            jobs = {j["name"]: j for j in json.loads(r.stdout)["jobs"]}
            self.assertEqual(jobs["run"]["matrix"], [
                {"info": {"test_file": "tests/test_new_feature.py", "num_gpus": 2}}])
            r = gpuci("plan", "--workflow", wf2, "--json", cwd=repo)
            self.assertEqual([j["name"] for j in json.loads(r.stdout)["undetermined"]], ["run"])
            # A bad base is the change detection's usage error.
            r = gpuci("plan", "--workflow", wf, "--label", "run-ci-changed", "--changed",
                      "--base", "nope", cwd=repo)
            self.assertNotEqual(r.returncode, 0)
            self.assertIn("nope", r.stderr)


class Labels(unittest.TestCase):
    @needs_jinja
    def test_catalogue_matches_the_template(self):
        r = gpuci("labels", "--workflow", WORKFLOW, "--json")
        self.assertEqual(r.returncode, 0, r.stderr)
        cat = json.loads(r.stdout)
        want = [(pairs_get(cfg, "label"), name) for name, cfg in JOBS
                if not pairs_get(cfg, "always")]
        got = [(l["label"], j["job"]) for l in cat["labels"] for j in l["jobs"]]
        self.assertEqual(got[:len(want)], want)
        self.assertEqual(got[len(want):], [("run-ci-changed", "detect-changed-tests"),
                                           ("run-ci-changed", "e2e-test-changed")])
        by_job = {j["job"]: j for l in cat["labels"] for j in l["jobs"]}
        for name, cfg in JOBS:
            if pairs_get(cfg, "always"):
                continue
            gpus = [pairs_get(t, "num_gpus") for t in pairs_get(cfg, "tests")]
            j = by_job[name]
            self.assertEqual((j["tests"], j["gpus_min"], j["gpus_max"], j["gpus"]),
                             (len(gpus), min(gpus), max(gpus), sum(gpus)), name)
        self.assertTrue(by_job["e2e-test-changed"]["dynamic"])
        self.assertEqual([j["job"] for j in cat["always"]],
                         [name for name, cfg in JOBS if pairs_get(cfg, "always")]
                         + ["pr-test-summary"])

    def test_markdown_table(self):
        r = gpuci("labels", "--workflow", WORKFLOW, "--markdown")
        self.assertEqual(r.returncode, 0, r.stderr)
        lines = r.stdout.splitlines()
        self.assertEqual(lines[0], "| Label | Job | Tests | GPUs per test | GPUs in all |")
        self.assertIn("| `run-ci-ckpt` | `e2e-test-ckpt` | 3 | 2 | 6 |", lines)
        self.assertIn("| `run-ci-megatron` | `e2e-test-megatron` | 5 | 1-8 | 33 |", lines)
        self.assertTrue(any(l.startswith("Always on") and "`plugin-contracts`" in l
                            for l in lines))

    def test_labels_are_found_by_evaluation_not_text(self):
        with tempfile.TemporaryDirectory() as d:
            wf = os.path.join(d, "w.yml")
            with open(wf, "w") as f:
                f.write("on: pull_request\njobs:\n"
                        "  a: {runs-on: x, if: \"contains(github.event.pull_request.labels.*.name, 'run-a')\"}\n"
                        "  b: {runs-on: x, if: \"github.event_name == 'push' && contains(github.event.pull_request.labels.*.name, 'never')\"}\n"
                        "  c: {runs-on: x, if: \"!contains(github.event.pull_request.labels.*.name, 'skip-c')\"}\n")
            r = gpuci("labels", "--workflow", wf, "--json")
            self.assertEqual(r.returncode, 0, r.stderr)
            cat = json.loads(r.stdout)
            self.assertEqual([l["label"] for l in cat["labels"]], ["run-a"])
            self.assertEqual([j["job"] for j in cat["always"]], ["c"])


if __name__ == "__main__":
    GPUCI = os.path.abspath(sys.argv.pop(1))
    unittest.main(verbosity=2)
