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
