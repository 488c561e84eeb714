#!/usr/bin/env python3
"""End-to-end tests of `gpuci render`: directories, the header, --check, errors.

Run: python3 tests/cli/render_test.py build/gpuci
"""
import os
import subprocess
import sys
import tempfile
import unittest

GPUCI = None
RULE = "#" * 80 + "\n"
HEADER = (RULE + "# This file is auto-generated from the .j2 file via gpuci render. "
          "Do not edit manually.\n" + RULE)

TEMPLATE = """<% set jobs = {'a': {'label': 'run-a'}, 'b': {'label': 'run-b'}} %>
name: PR Test
on: [pull_request]
jobs:
<% for name, c in jobs.items() %>
  << name >>:
    if: contains(github.event.pull_request.labels.*.name, '<< c.label >>')
    runs-on: ubuntu-latest
    steps:
      - run: echo ${{ github.sha }}
<% endfor %>
"""

BODY = """
name: PR Test
on: [pull_request]
jobs:

  a:
    if: contains(github.event.pull_request.labels.*.name, 'run-a')
    runs-on: ubuntu-latest
    steps:
      - run: echo ${{ github.sha }}

  b:
    if: contains(github.event.pull_request.labels.*.name, 'run-b')
    runs-on: ubuntu-latest
    steps:
      - run: echo ${{ github.sha }}
"""


def gpuci(*args, cwd=None):
    return subprocess.run([GPUCI, "render", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=30)


class RenderTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="gpuci-render-")
        self.repo = self.tmp.name
        self.wf = os.path.join(self.repo, ".github", "workflows")
        os.makedirs(self.wf)
        self.write("pr-test.yml.j2", TEMPLATE)

    def tearDown(self):
        self.tmp.cleanup()

    def write(self, name, text):
        with open(os.path.join(self.wf, name), "w") as f:
            f.write(text)

    def read(self, name):
        with open(os.path.join(self.wf, name)) as f:
            return f.read()

    def test_renders_every_template_with_the_header(self):
        self.write("other.yml.j2", "x: << 1 + 1 >>\n")
        self.write("notes.j2", "not a workflow")
        self.write("nested.yml", "untouched: true\n")
        r = gpuci(cwd=self.repo)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.read("pr-test.yml"), HEADER + BODY)
        self.assertEqual(self.read("other.yml"), HEADER + "x: 2")
        self.assertFalse(os.path.exists(os.path.join(self.wf, "notes")))
        self.assertIn("wrote .github/workflows/other.yml", r.stderr)
        # A second run changes nothing and says so.
        before = os.stat(os.path.join(self.wf, "pr-test.yml")).st_mtime_ns
        r = gpuci(cwd=self.repo)
        self.assertEqual(r.returncode, 0)
        self.assertIn("2 workflows already current", r.stderr)
        self.assertEqual(os.stat(os.path.join(self.wf, "pr-test.yml")).st_mtime_ns, before)

    def test_stdout_prints_the_body_only(self):
        r = gpuci("--stdout", os.path.join(self.wf, "pr-test.yml.j2"))
        self.assertEqual((r.returncode, r.stdout, r.stderr), (0, BODY, ""))

    def test_check_passes_when_current_and_writes_nothing(self):
        self.assertEqual(gpuci(self.wf).returncode, 0)
        r = gpuci("--check", self.wf)
        self.assertEqual((r.returncode, r.stdout), (0, ""), r.stderr)

    def test_check_prints_a_diff_and_fails_when_stale_or_missing(self):
        gpuci(self.wf)
        self.write("pr-test.yml.j2", TEMPLATE.replace("ubuntu-latest", "self-hosted"))
        self.write("new.yml.j2", "a: 1\n")
        stale = self.read("pr-test.yml")
        r = gpuci("--check", self.wf)
        self.assertEqual(r.returncode, 1)
        path = os.path.join(self.wf, "pr-test.yml")
        self.assertIn(f"--- a/{path}\n+++ b/{path}\n", r.stdout)
        self.assertIn("-    runs-on: ubuntu-latest\n+    runs-on: self-hosted\n", r.stdout)
        self.assertIn(f"--- /dev/null\n+++ b/{os.path.join(self.wf, 'new.yml')}\n", r.stdout)
        self.assertIn("2 of 2 workflows are not current", r.stderr)
        self.assertEqual(self.read("pr-test.yml"), stale)  # nothing written
        self.assertFalse(os.path.exists(os.path.join(self.wf, "new.yml")))

    def test_check_diff_applies_with_git_apply(self):
        gpuci(self.wf)
        self.write("pr-test.yml.j2", TEMPLATE.replace("run-b", "run-bee"))
        r = gpuci("--check", ".github/workflows", cwd=self.repo)
        self.assertEqual(r.returncode, 1)
        patch = os.path.join(self.repo, "fix.patch")
        with open(patch, "w") as f:
            f.write(r.stdout)
        a = subprocess.run(["git", "apply", "--unsafe-paths", "fix.patch"], cwd=self.repo,
                           capture_output=True, text=True)
        self.assertEqual(a.returncode, 0, a.stderr)
        self.assertEqual(gpuci("--check", ".github/workflows", cwd=self.repo).returncode, 0)

    def test_template_error_names_file_and_line_and_keeps_the_old_output(self):
        gpuci(self.wf)
        good = self.read("pr-test.yml")
        self.write("pr-test.yml.j2", TEMPLATE.replace("<< c.label >>", "<< c.label | nofilter >>"))
        r = gpuci(self.wf)
        self.assertEqual(r.returncode, 1)
        tpath = os.path.join(self.wf, "pr-test.yml.j2")
        self.assertEqual(r.stderr, f"gpuci render: {tpath}:7: No filter named 'nofilter'.\n")
        self.assertEqual(self.read("pr-test.yml"), good)
        self.assertEqual([n for n in os.listdir(self.wf) if ".tmp" in n], [])

    def test_runtime_error_names_the_line(self):
        self.write("pr-test.yml.j2", "a: 1\nb: << 1 // 0 >>\n")
        r = gpuci("--stdout", os.path.join(self.wf, "pr-test.yml.j2"))
        self.assertEqual(r.returncode, 1)
        self.assertRegex(r.stderr, r"pr-test\.yml\.j2:2: ")
        self.assertEqual(r.stdout, "")

    def test_output_that_is_not_yaml_is_refused_with_its_place(self):
        self.write("pr-test.yml.j2", "a: 1\nb: [1, 2\nc: 3\n")
        r = gpuci(self.wf)
        self.assertEqual(r.returncode, 1)
        out = os.path.join(self.wf, "pr-test.yml")
        self.assertRegex(r.stderr, rf"^gpuci render: {out}:\d+:\d+: not valid YAML")
        self.assertFalse(os.path.exists(out))

    def test_not_supported_features_fail_instead_of_rendering_differently(self):
        self.write("pr-test.yml.j2", "a: 1\n<% include 'x.j2' %>\n")
        r = gpuci(self.wf)
        self.assertEqual(r.returncode, 1)
        self.assertIn(":2: the 'include' tag is not supported", r.stderr)

    def test_output_cap_names_the_line_and_max_output_raises_it(self):
        path = os.path.join(self.wf, "big.yml.j2")
        self.write("big.yml.j2", "a: 1\n<% for i in range(100000) %><< 'x' * 1000 >><% endfor %>\n")
        r = gpuci("--stdout", path)
        self.assertEqual(r.returncode, 1)
        self.assertIn("big.yml.j2:2: output beyond 67108864 bytes", r.stderr)
        self.assertIn("--max-output", r.stderr)
        r = gpuci("--max-output", "200M", "--stdout", path)
        self.assertEqual((r.returncode, len(r.stdout), r.stderr), (0, 5 + 100000 * 1000, ""))
        r = gpuci("--max-output", "1K", "--stdout", path)
        self.assertEqual(r.returncode, 1)
        for bad in ("x", "0", "12Q", "-1"):
            r = gpuci("--max-output", bad, "--stdout", path)
            self.assertEqual(r.returncode, 2, bad)
            self.assertIn("--max-output", r.stderr)

    def test_nested_loops_fail_at_the_memory_bound_instead_of_exhausting_memory(self):
        path = os.path.join(self.wf, "loops.yml.j2")
        self.write("loops.yml.j2", "a: 1\n\n<% for i in range(100000) %><% for j in range(100000) %>"
                   "x<% endfor %><% endfor %>\n")
        r = gpuci("--max-output", "4M", "--stdout", path)
        self.assertEqual(r.returncode, 1)
        self.assertRegex(r.stderr, r"loops.yml.j2:3: (render needs more than 64 MiB of memory"
                         r"|output beyond 4194304 bytes)")

    def test_ints_beyond_the_bigint_bound_are_refused_as_not_supported(self):
        path = os.path.join(self.wf, "pow.yml.j2")
        self.write("pow.yml.j2", "a: << 2 ** 13999 > 0 >>\nb: << 2 ** 14001 >>\n")
        r = gpuci("--stdout", path)
        self.assertEqual(r.returncode, 1)
        self.assertIn("pow.yml.j2:2: an int beyond 14000 bits is not supported", r.stderr)

    def test_usage_errors(self):
        r = gpuci("--stdout", "x.j2", self.wf)
        self.assertEqual(r.returncode, 2)
        r = gpuci(self.wf, self.wf)
        self.assertEqual(r.returncode, 2)
        self.assertIn("one DIR at most", r.stderr)
        r = gpuci(os.path.join(self.repo, "nope"))
        self.assertEqual(r.returncode, 1)
        self.assertIn("cannot read directory", r.stderr)
        empty = os.path.join(self.repo, "empty")
        os.makedirs(empty)
        r = gpuci(empty)
        self.assertEqual(r.returncode, 1)
        self.assertIn("no *.yml.j2 template", r.stderr)

    def test_keeps_the_mode_of_an_existing_output(self):
        gpuci(self.wf)
        out = os.path.join(self.wf, "pr-test.yml")
        os.chmod(out, 0o600)
        self.write("pr-test.yml.j2", TEMPLATE + "# more\n")
        self.assertEqual(gpuci(self.wf).returncode, 0)
        self.assertEqual(os.stat(out).st_mode & 0o777, 0o600)
        self.assertTrue(self.read("pr-test.yml").endswith("# more"))


# A repository in the shape of THUDM/slime and vllm-project/vime: a test
# registry in `set` statements, one job per entry of a dict, and a workflow
# written by their generate_github_workflows.py.
SLIME_TEMPLATE = """<% set short_tests = [
    {'test_file': 'test_qwen2.5_0.5B_short.py', 'num_gpus': 4},
    {'test_file': 'test_glm4.7_30B_A3B_pd_mooncake.py', 'num_gpus': 8, 'use_deepep': '1'},
] %>
<% set jobs = {
    'e2e-test-short': {'label': 'run-ci-short', 'tests': short_tests},
    'e2e-test-ckpt': {
      'label': 'run-ci-ckpt',
      'tests': [
        {'test_file': 'test_qwen3_4B_ckpt.py', 'test_args': '--async-save', 'num_gpus': 2},
      ],
    },
} %>
name: PR Test

on:
  pull_request:
    types: [synchronize, labeled]

jobs:
<% for name, c in jobs.items() %>
  << name >>:
    if: contains(github.event.pull_request.labels.*.name, '<< c.label >>')
    runs-on: self-hosted
    strategy:
      fail-fast: false
      matrix:
        info: << c.tests | tojson >>
    steps:
      - name: Execute
        shell: bash
        run: python3 tests/${{ matrix.info.test_file }} ${{ matrix.info.test_args }}
<% endfor %>
"""

# Their generator, as both repositories have it (the loader's directory is
# passed in instead of Path(__file__).parent).
PY_GENERATOR = r'''
import sys
from pathlib import Path
import jinja2

workflows_dir = Path(sys.argv[1])
env = jinja2.Environment(
    loader=jinja2.FileSystemLoader(str(workflows_dir)),
    block_start_string="<%",
    block_end_string="%>",
    variable_start_string="<<",
    variable_end_string=">>",
)
for template_path in workflows_dir.glob("*.yml.j2"):
    template = env.get_template(template_path.name)
    content = template.render()
    yaml_path = template_path.with_suffix("")
    with open(yaml_path, "w") as f:
        f.write(
            "#" * 80
            + "\n# This file is auto-generated from the .j2 file via generate_github_workflows.py. Do not edit manually.\n"
            + "#" * 80
            + "\n"
        )
        f.write(content)
'''

PY_HEADER = (RULE + "# This file is auto-generated from the .j2 file via "
             "generate_github_workflows.py. Do not edit manually.\n" + RULE)


class PythonGeneratedTest(unittest.TestCase):
    """A workflow the Python generator wrote, then gpuci render on it."""

    def setUp(self):
        probe = subprocess.run(["/usr/bin/python3", "-c", "import jinja2"], capture_output=True)
        if probe.returncode != 0:
            self.skipTest("Debian's python3-jinja2 is not installed")
        self.tmp = tempfile.TemporaryDirectory(prefix="gpuci-render-py-")
        self.addCleanup(self.tmp.cleanup)
        self.repo = self.tmp.name
        self.wf = os.path.join(self.repo, ".github", "workflows")
        os.makedirs(self.wf)
        self.write("pr-test.yml.j2", SLIME_TEMPLATE)
        self.python_generate()

    def python_generate(self):
        subprocess.run(["/usr/bin/python3", "-c", PY_GENERATOR, self.wf], check=True,
                       capture_output=True)

    def path(self, name="pr-test.yml"):
        return os.path.join(self.wf, name)

    def write(self, name, text):
        with open(self.path(name), "w") as f:
            f.write(text)

    def read(self, name="pr-test.yml"):
        with open(self.path(name)) as f:
            return f.read()

    def check(self, *args):
        return gpuci("--check", *args, cwd=self.repo)

    def git_apply(self, patch):
        """Applies a patch (bytes, or text without CRs) with git apply."""
        with open(os.path.join(self.repo, "fix.patch"), "wb") as f:
            f.write(patch if isinstance(patch, bytes) else patch.encode())
        a = subprocess.run(["git", "apply", "--unsafe-paths", "fix.patch"], cwd=self.repo,
                           capture_output=True, text=True)
        self.assertEqual(a.returncode, 0, a.stderr)

    def test_the_fixture_is_what_the_python_generator_writes(self):
        text = self.read()
        self.assertTrue(text.startswith(PY_HEADER))
        self.assertIn("test_glm4.7_30B_A3B_pd_mooncake.py", text)
        self.assertEqual(text[len(PY_HEADER):], gpuci("--stdout", self.path("pr-test.yml.j2")).stdout)

    def test_check_passes_and_render_leaves_the_file_byte_identical(self):
        before = self.read()
        r = self.check()
        self.assertEqual((r.returncode, r.stdout), (0, ""), r.stderr)
        mtime = os.stat(self.path()).st_mtime_ns
        r = gpuci(cwd=self.repo)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("1 workflow already current", r.stderr)
        self.assertEqual(self.read(), before)
        self.assertEqual(os.stat(self.path()).st_mtime_ns, mtime)

    def test_a_changed_body_is_caught_and_the_header_kept(self):
        self.write("pr-test.yml.j2", SLIME_TEMPLATE.replace("self-hosted", "gpu-runner"))
        r = self.check()
        self.assertEqual(r.returncode, 1)
        self.assertIn("-    runs-on: self-hosted\n+    runs-on: gpu-runner\n", r.stdout)
        self.assertNotIn("gpuci render. Do not edit", r.stdout)  # no hunk for the header
        self.assertIn("pr-test.yml is stale\n", r.stderr)
        self.git_apply(r.stdout)
        self.python_generate()
        expected = self.read()
        self.assertEqual(self.check().returncode, 0)
        # render writes what the Python generator writes, header and all.
        self.write("pr-test.yml.j2", SLIME_TEMPLATE.replace("run-ci-ckpt", "run-ci-ckpt2"))
        self.python_generate()
        expected = self.read()
        self.write("pr-test.yml", expected.replace("run-ci-ckpt2", "run-ci-ckpt"))
        self.assertEqual(self.check().returncode, 1)
        self.assertEqual(gpuci(cwd=self.repo).returncode, 0)
        self.assertEqual(self.read(), expected)
        # An edit by hand of the generated body is stale too.
        self.write("pr-test.yml", expected + "# edited\n")
        self.assertEqual(self.check().returncode, 1)

    def test_header_text(self):
        r = gpuci("--header", "Generated; edit pr-test.yml.j2 and run gpuci render.", cwd=self.repo)
        self.assertEqual(r.returncode, 0, r.stderr)
        mine = RULE + "# Generated; edit pr-test.yml.j2 and run gpuci render.\n" + RULE
        text = self.read()
        self.assertTrue(text.startswith(mine), text[:300])
        self.assertEqual(text[len(mine):], gpuci("--stdout", self.path("pr-test.yml.j2")).stdout)
        self.assertEqual(self.check("--header", "Generated; edit pr-test.yml.j2 and run gpuci render.").returncode, 0)
        self.assertEqual(self.check().returncode, 0)  # any header of the shape is kept
        r = self.check("--header", "other")
        self.assertEqual(r.returncode, 1)
        self.assertIn("-# Generated; edit pr-test.yml.j2 and run gpuci render.\n+# other\n", r.stdout)
        self.assertIn("run 'gpuci render --header 'other''", r.stderr)
        self.git_apply(r.stdout)
        self.assertEqual(self.check("--header", "other").returncode, 0)
        # Usage errors.
        for args in (["--header", "a\nb"], ["--stdout", self.path("pr-test.yml.j2"), "--header", "x"]):
            r = gpuci(*args, cwd=self.repo)
            self.assertEqual(r.returncode, 2, args)
            self.assertEqual(self.read().count(RULE), 2)

    def test_a_new_file_gets_gpuci_header(self):
        self.write("other.yml.j2", "x: << 1 + 1 >>\n")
        r = self.check()
        self.assertEqual(r.returncode, 1)
        self.assertIn("other.yml is missing", r.stderr)
        self.assertIn("--- /dev/null\n", r.stdout)
        self.assertEqual(gpuci(cwd=self.repo).returncode, 0)
        self.assertEqual(self.read("other.yml"), HEADER + "x: 2")
        self.assertTrue(self.read().startswith(PY_HEADER))
        self.assertEqual(self.check().returncode, 0)

    def test_a_file_without_the_header_shape_is_stale(self):
        body = self.read()[len(PY_HEADER):]
        for name, text in (("no header", body),
                           ("79 #", "#" * 79 + "\n# x\n" + "#" * 79 + "\n" + body),
                           ("CR LF", PY_HEADER.replace("\n", "\r\n") + body),
                           ("two lines", RULE + "# x\n" + body)):
            with self.subTest(name):
                with open(self.path(), "w", newline="") as f:
                    f.write(text)
                # Bytes: text mode would read the patch's CR LF as LF.
                r = subprocess.run([GPUCI, "render", "--check"], capture_output=True,
                                   cwd=self.repo, timeout=30)
                self.assertEqual(r.returncode, 1, r.stderr)
                self.assertIn(b"stale (no generated header)", r.stderr)
                self.git_apply(r.stdout)
                self.assertEqual(self.read(), HEADER + body)
                self.assertEqual(self.check().returncode, 0)


class ExampleTest(unittest.TestCase):
    ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    WF = os.path.join(ROOT, "examples", "repo", ".github", "workflows")

    def test_example_workflow_is_current(self):
        r = gpuci("--check", self.WF)
        self.assertEqual((r.returncode, r.stdout), (0, ""), r.stderr)

    def test_example_workflow_renders_as_jinja2_does(self):
        probe = subprocess.run(["/usr/bin/python3", "-c", "import jinja2"], capture_output=True)
        if probe.returncode != 0:
            self.skipTest("Debian's python3-jinja2 is not installed")
        src = os.path.join(self.WF, "pr-test.yml.j2")
        oracle = subprocess.run(["/usr/bin/python3", os.path.join(self.ROOT, "bench", "render",
                                                                  "oracle_render.py"),
                                 "--body", src], capture_output=True, text=True, check=True)
        mine = gpuci("--stdout", src)
        self.assertEqual(mine.returncode, 0, mine.stderr)
        self.assertGreater(len(mine.stdout.splitlines()), 300)
        self.assertEqual(mine.stdout, oracle.stdout)


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit("usage: render_test.py PATH/TO/gpuci")
    GPUCI = os.path.abspath(sys.argv.pop(1))
    unittest.main(verbosity=2)
