#!/usr/bin/env python3
"""End-to-end tests of `gpuci new-test`, on copies of examples/vime-mini.

A new test must come out as a module Python compiles, in the standard
pattern, whose NUM_GPUS `gpuci changed` and `gpuci lint` read back; the
template must change by exactly the added line; the rendered workflow must
plan the test under its label, and `gpuci run` must run it. Every refusal
must leave the repository as it was.

Run: python3 tests/cli/new_test_test.py build/gpuci
"""
import ast
import difflib
import json
import os
import re
import shutil
import sys
import unittest

from example_copy import ExampleCopy, run

GPUCI = None
WF = ".github/workflows/pr-test.yml"
TPL = WF + ".j2"
PROXIES = ["http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY"]


class Repo(ExampleCopy):
    def __init__(self):
        super().__init__(GPUCI, prefix="gpuci-new-test-")


class NewTest(unittest.TestCase):
    def setUp(self):
        self.repo = Repo()
        self.addCleanup(self.repo.close)

    def new_test(self, *args, ok=True):
        before = self.repo.snapshot()
        r = self.repo.gpuci("new-test", *args)
        if ok:
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        else:
            self.assertNotEqual(r.returncode, 0, r.stdout)
            self.assertEqual(self.repo.snapshot(), before, "a refusal changed files")
        return r

    def added_lines(self, old, new):
        """The lines of new that are not in old, and whether any old line went."""
        diff = list(difflib.ndiff(old.split("\n"), new.split("\n")))
        added = [l[2:] for l in diff if l.startswith("+ ")]
        removed = [l[2:] for l in diff if l.startswith("- ")]
        return added, removed

    def test_registered_test_end_to_end(self):
        old_tpl = self.repo.read(TPL)
        r = self.new_test("qwen3_8B_grpo", "--gpus", "4", "--job", "e2e-test-short",
                          "--model", "Qwen3-8B")
        path = "tests/test_qwen3_8B_grpo.py"
        self.assertIn(f"created {path} (NUM_GPUS = 4, from tests/ci/test_template.py)",
                      r.stdout)
        # The template: exactly one line more, in the list's own style, where it says.
        new_tpl = self.repo.read(TPL)
        added, removed = self.added_lines(old_tpl, new_tpl)
        self.assertEqual(removed, [])
        self.assertEqual(added, ["    {'test_file': 'test_qwen3_8B_grpo.py', 'num_gpus': 4},"])
        line = new_tpl.split("\n").index(added[0]) + 1
        self.assertIn(f"{TPL}:{line}: + {added[0].strip()}", r.stdout)
        self.assertIn("e2e-test-short's list short_tests (label run-ci-short)", r.stdout)
        self.assertIn("and job e2e-test-image (label run-ci-image)", r.stdout)
        self.assertIn(f"rendered {WF}", r.stdout)
        # The file: compiles; the standard pattern.
        src = self.repo.read(path)
        tree = ast.parse(src)
        self.assertTrue(ast.get_docstring(tree))
        top = {n.targets[0].id: n.value.value for n in tree.body if isinstance(n, ast.Assign)}
        self.assertEqual(top["NUM_GPUS"], 4)
        self.assertEqual(top["MODEL_NAME"], "Qwen3-8B")
        defs = [n.name for n in tree.body if isinstance(n, ast.FunctionDef)]
        self.assertEqual(defs, ["prepare", "execute"])
        self.assert_main_block(tree)
        # The workflow is current and plans the test under its label (and the image job's).
        self.assertEqual(self.repo.gpuci("render", "--check").returncode, 0)
        for label, job in (("run-ci-short", "e2e-test-short"), ("run-ci-image", "e2e-test-image")):
            p = json.loads(self.repo.gpuci("plan", "--label", label, "--json").stdout)
            entries = [e for j in p["jobs"] if j["name"] == job for e in j["matrix"]]
            mine = [e for e in entries if e["info"]["test_file"] == "test_qwen3_8B_grpo.py"]
            self.assertEqual(len(mine), 1, (job, entries))
            self.assertEqual(mine[0]["info"]["num_gpus"], 4)
        # lint reads it back: registered, right GPU count, clean.
        lint = self.repo.gpuci("lint")
        self.assertEqual(lint.returncode, 0, lint.stdout + lint.stderr)
        # gpuci run runs it as CI would (vime-mini's template simulates training).
        locks = os.path.join(self.repo.tmp, "locks")
        record = os.path.join(self.repo.tmp, "record")
        os.mkdir(locks)
        os.mkdir(record)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("VIME_MINI_", "GITHUB_"))}
        env.update(VIME_MINI_RECORD=record, VIME_MINI_SECONDS="0.2")
        r = run([GPUCI, "run", "--job", "e2e-test-short", "--test", "test_qwen3_8B_grpo.py",
                 "--gpus", "8", "--lock-path-pattern", os.path.join(locks, "gpu_{gpu_id}.lock"),
                 "--history", os.path.join(self.repo.tmp, "h.db")], self.repo.dir, env=env)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        with open(os.path.join(record, "runs.jsonl")) as f:
            runs = [json.loads(l) for l in f if l.strip()]
        self.assertEqual([(x["test"], len(x["gpus"]), x["outcome"]) for x in runs],
                         [("test_qwen3_8B_grpo.py", 4, "passed")])

    def assert_main_block(self, tree):
        main = [n for n in tree.body if isinstance(n, ast.If) and
                ast.unparse(n.test).replace("'", '"') == '__name__ == "__main__"']
        self.assertEqual(len(main), 1)
        calls = [ast.unparse(n) for n in ast.walk(main[0]) if isinstance(n, ast.Call)]
        self.assertIn("prepare()", calls)
        self.assertIn("execute()", calls)
        self.assertIn("os.environ.pop(proxy_var, None)", calls)
        body = ast.unparse(main[0])
        self.assertLess(body.index("prepare()"), body.index("os.environ.pop"))
        self.assertLess(body.index("os.environ.pop"), body.index("execute()"))
        loop = [n for n in ast.walk(main[0]) if isinstance(n, ast.For)][0]
        self.assertEqual([c.value for c in loop.iter.elts], PROXIES)

    def test_changed_reads_the_gpu_count_back(self):
        self.repo.git("init", "-q")
        self.repo.git("add", "-A")
        self.repo.git("commit", "-qm", "base")
        self.repo.git("checkout", "-qb", "pr")
        self.new_test("moe_probe", "--gpus", "2")
        self.repo.git("add", "-A")
        self.repo.git("commit", "-qm", "a test")
        r = self.repo.gpuci("changed", "--base", "main", "--json")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(json.loads(r.stdout)["info"],
                         [{"test_file": "tests/test_moe_probe.py", "num_gpus": 2}])

    def test_built_in_pattern(self):
        os.remove(self.repo.path("tests/ci/test_template.py"))
        r = self.new_test("plain", "--gpus", "8")
        self.assertIn("from the built-in pattern", r.stdout)
        src = self.repo.read("tests/test_plain.py")
        tree = ast.parse(src)
        self.assertTrue(ast.get_docstring(tree))
        names = [n.targets[0].id for n in tree.body if isinstance(n, ast.Assign)]
        self.assertEqual(names, ["MODEL_NAME", "NUM_GPUS"])
        self.assertEqual([n.name for n in tree.body if isinstance(n, ast.FunctionDef)],
                         ["prepare", "execute"])
        self.assert_main_block(tree)
        # Not registered: lint says so, and how to fix it.
        lint = json.loads(self.repo.gpuci("lint", "--json").stdout)["findings"]
        self.assertEqual([(f["rule"], f["file"]) for f in lint],
                         [("unregistered-test", "tests/test_plain.py")])
        # A test nobody wrote yet fails rather than passes.
        r = run([sys.executable, "tests/test_plain.py"], self.repo.dir)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("NotImplementedError", r.stderr)
        self.assertIn("--existing --job JOB", self.new_test("plain2", "--gpus", "1").stdout)

    def test_names(self):
        for name, path in (("a1", "tests/test_a1.py"), ("test_b2", "tests/test_b2.py"),
                           ("c3.py", "tests/test_c3.py"), ("tests/test_d4.py", "tests/test_d4.py"),
                           ("plugin_contracts/e5", "tests/plugin_contracts/test_e5.py"),
                           ("f6.7_8B", "tests/test_f6.7_8B.py"),
                           ("test_g9.5.py", "tests/test_g9.5.py"),
                           ("./tests/test_h1.0.py", "tests/test_h1.0.py"),
                           ("tests/plugin_contracts/test_i2.5.py",
                            "tests/plugin_contracts/test_i2.5.py"),
                           ("a-b+c@d=e,f%g", "tests/test_a-b+c@d=e,f%g.py")):
            r = self.new_test(name, "--gpus", "0")
            self.assertIn(f"created {path}", r.stdout)
            self.assertTrue(os.path.exists(self.repo.path(path)))
        for bad in ("../x", "x/../y", "", "nodir/x", "a b", "tests/", "test_", "x//y"):
            r = self.new_test(bad, "--gpus", "1", ok=False)
            self.assertEqual(r.returncode, 2, (bad, r.stderr))

    def test_refused_characters_say_which_and_why(self):
        for bad, why in (("a b", "'a b': a space (character 2) is refused: whitespace ends a "
                                 "shell word"),
                         ("a\tb", "'a\\x09b': byte 0x09 (at 2) is refused: whitespace"),
                         ("it's", "'it's': \"'\" (character 3) is refused: a quote ends the "
                                  "entry's string in the template"),
                         ('a"b', "'\"' (character 2) is refused: a quote"),
                         ("a\\b", "'\\' (character 2) is refused: a backslash"),
                         ("a$b", "'$' (character 2) is refused: special to the shell"),
                         ("a;b", "';' (character 2) is refused: special to the shell"),
                         ("a*b", "'*' (character 2) is refused: a glob"),
                         ("a:b", "':' (character 2) is refused: Windows"),
                         ("a\x01b", "byte 0x01 (at 2) is refused: a control character"),
                         ("qwén", "byte 0xc3 (at 3) is refused: only ASCII"),
                         ("../x", "'..' is refused"),
                         ("/abs/tests/test_x.py", "not an absolute path"),
                         ("tests/conftest.py", "not a test file: gpuci runs files named "
                                               "test_*.py"),
                         ("plugin_contracts/helper.py", "not a test file")):
            with self.subTest(bad=bad):
                r = self.new_test(bad, "--gpus", "1", ok=False)
                self.assertEqual(r.returncode, 2, r.stderr)
                self.assertIn("gpuci new-test: test name ", r.stderr)
                self.assertIn(why, r.stderr)

    def test_a_dotted_name_is_registered_and_planned(self):
        r = self.new_test("qwen3.5_probe", "--gpus", "4", "--job", "e2e-test-ckpt")
        self.assertIn("created tests/test_qwen3.5_probe.py (NUM_GPUS = 4", r.stdout)
        self.assertIn("{'test_file': 'test_qwen3.5_probe.py', 'num_gpus': 4}", r.stdout)
        self.assertIn("gpuci run --job e2e-test-ckpt --test test_qwen3.5_probe.py", r.stdout)
        ast.parse(self.repo.read("tests/test_qwen3.5_probe.py"))
        p = json.loads(self.repo.gpuci("plan", "--label", "run-ci-ckpt", "--json").stdout)
        mine = [e["info"] for j in p["jobs"] if j["name"] == "e2e-test-ckpt"
                for e in j["matrix"] if e["info"]["test_file"] == "test_qwen3.5_probe.py"]
        self.assertEqual(mine, [{"num_gpus": 4, "test_file": "test_qwen3.5_probe.py"}])
        self.assertEqual(self.repo.gpuci("render", "--check").returncode, 0)
        lint = self.repo.gpuci("lint")
        self.assertEqual(lint.returncode, 0, lint.stdout + lint.stderr)

    def test_existing_file_by_a_dotted_path(self):
        path = "tests/test_qwen2.5_0.5B_probe.py"
        shutil.copy(self.repo.path("tests/test_qwen2p5_0p5B_short.py"), self.repo.path(path))
        r = self.new_test(path, "--existing", "--job", "e2e-test-short")
        self.assertNotIn("created", r.stdout)
        self.assertIn("'test_file': 'test_qwen2.5_0.5B_probe.py', 'num_gpus': 4", r.stdout)
        # The file is written already: the next step is to run it, and commit the rest.
        self.assertIn("Next: run it here as CI would:\n  gpuci run --job e2e-test-short "
                      "--test test_qwen2.5_0.5B_probe.py\nand commit " + TPL + " and " + WF,
                      r.stdout)
        p = json.loads(self.repo.gpuci("plan", "--label", "run-ci-short", "--json").stdout)
        files = [e["info"]["test_file"] for j in p["jobs"] if j["name"] == "e2e-test-short"
                 for e in j["matrix"]]
        self.assertIn("test_qwen2.5_0.5B_probe.py", files)
        r = self.new_test("tests/test_qwen2.5_0.5B_nope.py", "--existing", "--job",
                          "e2e-test-short", ok=False)
        self.assertIn("tests/test_qwen2.5_0.5B_nope.py does not exist", r.stderr)

    def test_args_and_quotes(self):
        args = "--msg it's  \"quoted\" \\n"
        self.new_test("quoted", "--gpus", "2", "--job", "e2e-test-ckpt", "--args", args)
        p = json.loads(self.repo.gpuci("plan", "--label", "run-ci-ckpt", "--json").stdout)
        got = [e["info"] for j in p["jobs"] for e in j["matrix"]
               if e["info"]["test_file"] == "test_quoted.py"]
        self.assertEqual(got, [{"num_gpus": 2, "test_args": args, "test_file": "test_quoted.py"}])

    def test_inline_list_in_a_job(self):
        old = self.repo.read(TPL)
        self.new_test("plugin_contracts/test_plugin_loss_contracts", "--gpus", "0",
                      "--job", "plugin-contracts")
        added, removed = self.added_lines(old, self.repo.read(TPL))
        self.assertEqual(removed, [])
        self.assertEqual(added, ["            {'test_file': "
                                 "'plugin_contracts/test_plugin_loss_contracts.py', "
                                 "'num_gpus': 0},"])

    def test_existing_file(self):
        path = "tests/test_orphan.py"
        shutil.copy(self.repo.path("tests/test_glm4_9B.py"), self.repo.path(path))
        r = self.new_test("orphan", "--gpus", "4", "--existing", "--job", "e2e-test-short",
                          ok=False)
        self.assertIn("NUM_GPUS = 8, not 4", r.stderr)
        r = self.new_test("orphan", "--existing", "--job", "e2e-test-megatron")
        self.assertNotIn("created", r.stdout)
        self.assertIn("'test_file': 'test_orphan.py', 'num_gpus': 8", r.stdout)
        self.assertEqual(self.repo.gpuci("lint").returncode, 0)

    def test_refusals_change_nothing(self):
        r = self.new_test("glm4_9B", "--gpus", "8", ok=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn("never overwrites", r.stderr)
        r = self.new_test("img", "--gpus", "8", "--job", "e2e-test-image", ok=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn("short_tests", r.stderr)
        self.assertIn("nothing was changed", r.stderr)
        r = self.new_test("nojob", "--gpus", "8", "--job", "e2e-test-nope", ok=False)
        self.assertIn("e2e-test-megatron", r.stderr)  # names the jobs there are
        r = self.new_test("dup", "--gpus", "4", "--job", "e2e-test-short", ok=True)
        r = self.new_test("dup", "--existing", "--job", "e2e-test-short", ok=False)
        self.assertIn("already", r.stderr)
        r = self.new_test("x", ok=False)
        self.assertEqual(r.returncode, 2)
        self.assertIn("--gpus", r.stderr)
        r = self.new_test("x", "--gpus", "1", "--args", "--y", ok=False)
        self.assertEqual(r.returncode, 2)
        r = self.new_test("wide", "--gpus", "4097", ok=False)
        self.assertEqual(r.returncode, 2)
        self.assertIn("at most 4096", r.stderr)

    def test_a_template_that_does_not_set_num_gpus(self):
        self.repo.write("tests/ci/test_template.py", '"""<< name >>"""\nNUM_GPUS = 3\n')
        r = self.new_test("t", "--gpus", "2", "--job", "e2e-test-ckpt", ok=False)
        self.assertIn("tests/ci/test_template.py", r.stderr)
        self.assertIn("NUM_GPUS = 2", r.stderr)

    def test_a_stale_workflow_is_said(self):
        self.assertNotIn("note:", self.new_test("a", "--gpus", "1", "--job",
                                                "e2e-test-precision").stdout)
        self.repo.replace(TPL, "'timeout': 30,", "'timeout': 45,")
        r = self.new_test("b", "--gpus", "1", "--job", "e2e-test-precision")
        self.assertIn(f"note: {WF} was not current before", r.stdout)
        self.assertIn("timeout-minutes: 45", self.repo.read(WF))

    def test_the_workflow_keeps_its_header(self):
        rule = "#" * 80 + "\n"
        py = rule + ("# This file is auto-generated from the .j2 file via "
                     "generate_github_workflows.py. Do not edit manually.\n") + rule
        text = self.repo.read(WF)
        gpuci_header = text[:text.index(rule, 1) + len(rule)]
        self.repo.write(WF, py + text[len(gpuci_header):])
        r = self.new_test("kept", "--gpus", "1", "--job", "e2e-test-precision")
        self.assertNotIn("note:", r.stdout)  # current before, with the Python header
        after = self.repo.read(WF)
        self.assertTrue(after.startswith(py), after[:300])
        self.assertIn("test_kept.py", after)
        self.assertEqual(self.repo.gpuci("render", "--check").returncode, 0)

    def test_dry_run(self):
        before = self.repo.snapshot()
        r = self.repo.gpuci("new-test", "dry", "--gpus", "2", "--job", "e2e-test-ckpt",
                            "--dry-run")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("would create tests/test_dry.py", r.stdout)
        self.assertRegex(r.stdout, re.escape(TPL) + r":\d+: \+ \{'test_file': 'test_dry.py'")
        self.assertEqual(self.repo.snapshot(), before)

    def test_a_list_without_a_trailing_comma(self):
        self.repo.write(TPL, self.repo.read(TPL).replace(
            "{'test_file': 'test_qwen3_4B_precision.py', 'num_gpus': 2},\n]",
            "{'test_file': 'test_qwen3_4B_precision.py', 'num_gpus': 2}\n]"))
        self.assertEqual(self.repo.gpuci("render").returncode, 0)
        r = self.new_test("p", "--gpus", "1", "--job", "e2e-test-precision", ok=False)
        self.assertIn("comma", r.stderr)


def main():
    global GPUCI
    if len(sys.argv) < 2:
        sys.exit("usage: new_test_test.py PATH-TO-GPUCI")
    GPUCI = os.path.abspath(sys.argv.pop(1))
    unittest.main(verbosity=1)


if __name__ == "__main__":
    main()
