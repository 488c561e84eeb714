#!/usr/bin/env python3
"""The man pages and the bash completion, checked against the program.

Man pages: the build leaves them in BUILD/doc/man/ (BUILD: the folder of the
gpuci binary; GPUCI_MAN_DIR overrides it). Each command of `gpuci help` but
help and version has its page, which names the command and every option of
its --help; gpuci(1) lists every command and every environment variable the
sources read; every page renders without a warning.

Completion: completions/gpuci.bash is sourced in a plain `bash --norc`,
COMP_WORDS and COMP_CWORD are set as bash sets them, _gpuci is called and
COMPREPLY printed; the answers are compared with what gpuci itself says
(help, --help, labels --json, the workflow's jobs).

Set-up: `make demo`, `make demo-lock` and `make test` run tools/deps.sh once,
before building, for the build's packages and their own together; deps.sh
names everything missing in one apt-get line (checked against a fake dpkg
database through DPKG_ADMINDIR), and the README's set-up names no package it
does not install.

Tables: the README's label tables (and examples/vime-mini/README.md's) are
`gpuci labels --markdown` on examples/vime-mini; the lint rules, the lock
flags, the plan, new-test and lint examples and the render benchmark's
template are what gpuci and the files say.

References: every path of the repository, make target, gpuci command and
option that README.md and examples/README.md name exists.

Demo: examples/demo.sh runs (in a temporary DEMO_DIR); every path it prints
exists once it has ended, and the guess it explains is the one its first
dry-run shows.

Run: python3 tests/cli/docs_test.py build/gpuci
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

from example_copy import ExampleCopy

GPUCI = None
MAN_DIR = None
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
COMPLETION = os.path.join(ROOT, "completions", "gpuci.bash")
EXAMPLE = os.path.join(ROOT, "examples", "vime-mini")

# A second workflow, far from the example: other labels, other jobs, and
# jobs no label gates (one only on push, one on no pull request at all).
OTHER_WORKFLOW = """\
name: Other
on:
  pull_request:
  push:
jobs:
  alpha-job:
    if: contains(github.event.pull_request.labels.*.name, 'alpha-label')
    runs-on: ubuntu-latest
    steps:
      - run: echo a
  beta-job:
    if: contains(github.event.pull_request.labels.*.name, 'beta-label')
    runs-on: ubuntu-latest
    steps:
      - run: echo b
  always-job:
    runs-on: ubuntu-latest
    steps:
      - run: echo c
  push-only:
    if: github.event_name == 'push'
    runs-on: ubuntu-latest
    steps:
      - run: echo d
"""
OTHER_LABELS = {"alpha-label", "beta-label"}
OTHER_JOBS = {"alpha-job", "beta-job", "always-job", "push-only"}


def gpuci(*args, cwd=None):
    return subprocess.run([GPUCI, *args], capture_output=True, text=True, timeout=30, cwd=cwd)


def help_commands():
    """The command names of `gpuci help`, in order."""
    r = gpuci("help")
    assert r.returncode == 0, r.stderr
    section = r.stdout.split("\nCommands:\n", 1)[1].split("\n\n", 1)[0]
    names = [m.group(1) for m in re.finditer(r"^  ([a-z][a-z0-9-]*) +\S", section, re.M)]
    assert names, r.stdout
    return names


OPTION_LINE = re.compile(r"^  (?:-([A-Za-z0-9]), |    )--([A-Za-z0-9][A-Za-z0-9-]*)"
                         r"(?: ([^ ]+))?(?: {2,}|$)")


def help_options(*cmd):
    """[(short or None, long, arg or None)] of the Options: of `gpuci CMD --help`."""
    r = gpuci(*cmd, "--help")
    assert r.returncode == 0, (cmd, r.stderr)
    assert "\nOptions:\n" in r.stdout, cmd
    opts = []
    for line in r.stdout.split("\nOptions:\n", 1)[1].splitlines():
        m = OPTION_LINE.match(line)
        if m:
            opts.append((m.group(1), "--" + m.group(2), m.group(3)))
    assert opts, (cmd, r.stdout)
    return opts


def usage_command(cmd):
    """The command words of the first usage line of `gpuci CMD --help`."""
    first = gpuci(cmd, "--help").stdout.splitlines()[0]
    m = re.match(r"usage: gpuci ([a-z][a-z0-9-]*)", first)
    assert m, first
    return m.group(1)


def page_path(name):
    return os.path.join(MAN_DIR, name + ".1")


def page_text(name):
    """The roff of a page, with font changes and escapes taken out."""
    with open(page_path(name), encoding="utf-8") as f:
        roff = f.read()
    text = re.sub(r"\\f[BIRP]|\\f\(..|\\&|\\c", "", roff)
    text = text.replace("\\-", "-").replace("\\(aq", "'").replace("\\\\", "\\")
    return text


def names_option(text, opt):
    return re.search(r"(?<![\w-])" + re.escape(opt) + r"(?![\w-])", text) is not None


class ManPagesTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not os.path.isdir(MAN_DIR):
            raise AssertionError(
                f"no man pages in {MAN_DIR}: the build makes them with scdoc "
                "(apt-get install -y scdoc, then run cmake again and build)")
        cls.commands = [c for c in help_commands() if c not in ("help", "version")]

    def test_every_command_has_a_page_and_so_has_gpuci(self):
        missing = [p for p in ["gpuci"] + [f"gpuci-{c}" for c in self.commands]
                   if not os.path.isfile(page_path(p))]
        self.assertEqual(missing, [], f"pages missing in {MAN_DIR}")

    def test_no_page_without_a_command(self):
        pages = {f[:-2] for f in os.listdir(MAN_DIR) if f.endswith(".1")}
        self.assertEqual(pages - {"gpuci"} - {f"gpuci-{c}" for c in self.commands}, set())

    def test_each_page_is_roff_with_its_title(self):
        for name in ["gpuci"] + [f"gpuci-{c}" for c in self.commands]:
            with self.subTest(page=name):
                with open(page_path(name), encoding="utf-8") as f:
                    lines = [ln for ln in f.read().splitlines()
                             if ln and not ln.startswith(('.\\"', ".ie", ".el", ".ds", ".nh",
                                                           ".ad"))]
                self.assertTrue(lines and lines[0].startswith(".TH"), lines[:3])
                self.assertRegex(lines[0], rf'^\.TH "{re.escape(name)}" "1"')
                text = page_text(name)
                for section in ("NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS", "EXIT STATUS",
                                "EXAMPLES", "SEE ALSO"):
                    self.assertIn(f"\n.SH {section}\n", text)

    def test_each_command_page_names_its_command_and_every_option(self):
        for cmd in self.commands:
            with self.subTest(command=cmd):
                text = page_text(f"gpuci-{cmd}")
                name = usage_command(cmd)
                self.assertEqual(name, cmd)
                name_section = text.split(".SH NAME", 1)[1].split(".SH", 1)[0]
                self.assertIn(f"gpuci-{name} - ", name_section)
                synopsis = text.split(".SH SYNOPSIS", 1)[1].split(".SH", 1)[0]
                self.assertIn(f"gpuci {name}", synopsis)
                options = text.split(".SH OPTIONS", 1)[1].split("\n.SH", 1)[0]
                opts = help_options(cmd)
                if cmd == "lock":
                    opts += help_options("lock", "status")
                for short, long, arg in opts:
                    self.assertTrue(names_option(options, long),
                                    f"gpuci-{cmd}(1) OPTIONS does not name {long}")
                    if short:
                        self.assertTrue(names_option(options, "-" + short),
                                        f"gpuci-{cmd}(1) OPTIONS does not name -{short}")
                    if arg:
                        self.assertRegex(options, re.escape(long) + r"(=| )" + re.escape(arg),
                                         f"gpuci-{cmd}(1): {long} without its {arg}")

    def test_gpuci_page_lists_every_command_and_global_option(self):
        text = page_text("gpuci")
        commands = text.split(".SH COMMANDS", 1)[1].split("\n.SH", 1)[0]
        for cmd in help_commands():
            self.assertRegex(commands, rf"(?m)^{re.escape(cmd)}( |$)",
                             f"gpuci(1) COMMANDS does not list {cmd}")
        listed = set(re.findall(r"(?m)^([a-z][a-z0-9-]*)(?: |$)", commands))
        self.assertEqual(listed - set(help_commands()), set(), "commands gpuci does not have")
        for opt in ("-h", "--help", "-V", "--version"):
            self.assertTrue(names_option(text, opt), opt)

    def test_gpuci_page_names_every_variable_and_default_file_of_the_sources(self):
        variables, files = set(), set()
        for folder, _, names in os.walk(os.path.join(ROOT, "src")):
            for n in names:
                if not n.endswith((".c", ".h")):
                    continue
                with open(os.path.join(folder, n), encoding="utf-8", errors="replace") as f:
                    src = f.read()
                variables |= set(re.findall(r'getenv\("([A-Za-z_][A-Za-z0-9_]*)"\)', src))
                files |= set(re.findall(
                    r'#define (?:HISTORY_DEFAULT_PATH|LEASE_DEFAULT_PATTERN|DEFAULT_WORKFLOW)'
                    r' "([^"]+)"', src))
        self.assertIn("GPUCI_TOTAL_GPUS", variables)
        self.assertGreaterEqual(len(files), 3, files)
        env = page_text("gpuci").split(".SH ENVIRONMENT", 1)[1].split("\n.SH", 1)[0]
        for v in sorted(variables):
            self.assertRegex(env, rf"(?<![\w]){v}(?![\w])", f"gpuci(1) ENVIRONMENT lacks {v}")
        text = page_text("gpuci")
        for f in sorted(files):
            self.assertIn(f, text, f"gpuci(1) does not mention {f}")
        self.assertIn(".gpuci/runs/", text)

    def test_see_also_names_only_pages_that_exist(self):
        for page in os.listdir(MAN_DIR):
            text = page_text(page[:-2])
            see = text.split(".SH SEE ALSO", 1)[1]
            for ref in re.findall(r"(gpuci(?:-[a-z-]+)?)\(1\)", see):
                self.assertTrue(os.path.isfile(page_path(ref)), f"{page}: {ref}(1)")

    def test_pages_render_without_warnings(self):
        man, groff = shutil.which("man"), shutil.which("groff")
        if not man and not groff:
            self.skipTest("neither man nor groff is installed")
        env = dict(os.environ, MANWIDTH="80", LC_ALL="C.UTF-8", MAN_KEEP_STDERR="1")
        for page in sorted(os.listdir(MAN_DIR)):
            path = os.path.join(MAN_DIR, page)
            with self.subTest(page=page):
                if man:
                    r = subprocess.run([man, "--warnings", "-l", path], capture_output=True,
                                       text=True, timeout=60, env=env)
                else:
                    r = subprocess.run([groff, "-man", "-ww", "-z", path],
                                       capture_output=True, text=True, timeout=60, env=env)
                self.assertEqual(r.returncode, 0, r.stderr)
                self.assertEqual(r.stderr, "")
                if man:
                    self.assertIn("NAME", r.stdout)
                    # No scdoc markup left over: an _X_ that did not underline.
                    stray = re.findall(r"(?<![\w])_[A-Za-z][\w.-]*_(?![\w])", r.stdout)
                    self.assertEqual(stray, [], "scdoc underline left in the text")


class CompletionTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="gpuci-docs-")
        cls.repo = os.path.join(cls.tmp, "vime-mini")
        shutil.copytree(EXAMPLE, cls.repo, symlinks=True)
        wf_dir = os.path.join(cls.repo, ".github", "workflows")
        # Files that --workflow completion must leave out, and one it keeps.
        for name in ("notes.txt", "ci.yaml"):
            with open(os.path.join(wf_dir, name), "w") as f:
                f.write("x: 1\n" if name.endswith(".yaml") else "notes\n")
        cls.other = os.path.join(cls.tmp, "other")
        os.makedirs(os.path.join(cls.other, ".github", "workflows"))
        cls.other_wf = os.path.join(cls.other, ".github", "workflows", "other.yml")
        with open(cls.other_wf, "w") as f:
            f.write(OTHER_WORKFLOW)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def complete(self, *words, cwd=None):
        """COMPREPLY for `gpuci WORDS...`, the last word being completed."""
        script = ('source "$1"; shift; COMP_WORDS=("$@"); '
                  'COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); '
                  'COMP_LINE="${COMP_WORDS[*]}"; COMP_POINT=${#COMP_LINE}; '
                  '_gpuci; printf "%s\\n" "${COMPREPLY[@]}"')
        r = subprocess.run(["bash", "--norc", "--noprofile", "-c", script, "bash", COMPLETION,
                            GPUCI, *words], capture_output=True, text=True, timeout=60,
                           cwd=cwd or self.repo)
        self.assertEqual((r.returncode, r.stderr), (0, ""), words)
        return [w for w in r.stdout.split("\n") if w]

    def labels_of(self, *args):
        r = gpuci("labels", "--json", *args, cwd=self.repo)
        self.assertEqual(r.returncode, 0, r.stderr)
        return {entry["label"] for entry in json.loads(r.stdout)["labels"]}

    def example_jobs(self):
        """The job ids of the example's workflow, read from the YAML itself."""
        with open(os.path.join(self.repo, ".github", "workflows", "pr-test.yml")) as f:
            text = f.read()
        jobs = text.split("\njobs:\n", 1)[1]
        return set(re.findall(r"(?m)^  ([A-Za-z0-9_-]+):\s*$", jobs))

    def test_commands_are_those_of_gpuci_help(self):
        self.assertEqual(self.complete(""), help_commands())
        self.assertEqual(self.complete("l"), [c for c in help_commands() if c.startswith("l")])
        self.assertEqual(set(self.complete("--")), {"--help", "--version"})

    def test_help_completes_commands(self):
        self.assertEqual(self.complete("help", ""), help_commands())
        self.assertEqual(self.complete("help", "r"),
                         [c for c in help_commands() if c.startswith("r")])
        self.assertEqual(self.complete("help", "run", ""), [])
        self.assertEqual(self.complete("frobnicate", ""), [])

    def test_options_are_those_of_each_commands_help(self):
        for cmd in [c for c in help_commands() if c not in ("help", "version")]:
            with self.subTest(command=cmd):
                want = {long for _, long, _ in help_options(cmd)}
                self.assertEqual(set(self.complete(cmd, "-")), want)
                self.assertEqual(set(self.complete(cmd, "--")), want)
        for cmd, before in (("run", ["--all", "-w", ".github/workflows/pr-test.yml"]),
                            ("lint", ["--json"])):
            with self.subTest(command=cmd, after=before):
                want = {long for _, long, _ in help_options(cmd)}
                self.assertEqual(set(self.complete(cmd, *before, "--")), want)
        want = {long for _, long, _ in help_options("lock", "status")}
        self.assertEqual(set(self.complete("lock", "status", "--")), want)
        self.assertIn("--json", want)

    def test_an_option_prefix_completes_to_the_option(self):
        self.assertEqual(self.complete("run", "--la"), ["--label"])
        self.assertEqual(self.complete("run", "--dry"), ["--dry-run"])
        self.assertEqual(self.complete("lint", "--list"), ["--list-rules"])
        self.assertEqual(self.complete("run", "--zzz"), [])

    def test_label_values_are_the_workflows_labels(self):
        labels = self.labels_of()
        self.assertIn("run-ci-short", labels)
        self.assertEqual(set(self.complete("run", "--label", "")), labels)
        self.assertEqual(set(self.complete("plan", "-l", "")), labels)
        self.assertEqual(set(self.complete("run", "--label", "run-ci-m")),
                         {lb for lb in labels if lb.startswith("run-ci-m")})
        # --label=VALUE, split at "=" as bash does by default, and unsplit.
        self.assertEqual(set(self.complete("run", "--label", "=", "")), labels)
        self.assertEqual(set(self.complete("run", "--label", "=", "run-ci-s")),
                         {lb for lb in labels if lb.startswith("run-ci-s")})
        self.assertEqual(set(self.complete("run", "--label=run-ci-s")),
                         {"--label=" + lb for lb in labels if lb.startswith("run-ci-s")})

    def test_label_values_follow_the_workflow_on_the_command_line(self):
        want = self.labels_of("--workflow", self.other_wf)
        self.assertEqual(want, OTHER_LABELS)
        for flag in (["--workflow", self.other_wf], ["-w", self.other_wf],
                     ["--workflow", "=", self.other_wf], ["--workflow=" + self.other_wf]):
            with self.subTest(flag=flag):
                self.assertEqual(set(self.complete("run", *flag, "--label", "")), want)
        # A relative path, from elsewhere.
        rel = os.path.relpath(self.other_wf, self.repo)
        self.assertEqual(set(self.complete("plan", "-w", rel, "-l", "a")), {"alpha-label"})
        # The last --workflow counts, as for gpuci.
        self.assertEqual(set(self.complete("run", "-w", self.other_wf, "-w",
                                           ".github/workflows/pr-test.yml", "--label", "")),
                         self.labels_of())

    def test_job_values_are_every_job_of_the_workflow(self):
        jobs = self.example_jobs()
        self.assertIn("e2e-test-short", jobs)
        self.assertIn("pr-test-summary", jobs)
        self.assertEqual(set(self.complete("run", "--job", "")), jobs)
        self.assertEqual(set(self.complete("run", "-j", "e2e-test-c")),
                         {j for j in jobs if j.startswith("e2e-test-c")})
        self.assertEqual(set(self.complete("run", "-w", self.other_wf, "--job", "")), OTHER_JOBS)
        self.assertEqual(set(self.complete("new-test", "x", "--job", "")), jobs)

    def test_workflow_values_are_yaml_files(self):
        got = set(self.complete("run", "--workflow", ".github/workflows/"))
        self.assertEqual(got, {".github/workflows/pr-test.yml", ".github/workflows/ci.yaml"})
        self.assertEqual(set(self.complete("labels", "-w", ".git")), {".github"})

    def test_test_values_are_the_test_files(self):
        # Not tests: a helper module, and tests/ci/ (the CI's own scripts).
        with open(os.path.join(self.repo, "tests", "helpers.py"), "w") as f:
            f.write("")
        every = []
        for folder, dirs, files in os.walk(os.path.join(self.repo, "tests")):
            rel = os.path.relpath(folder, os.path.join(self.repo, "tests"))
            if rel == "ci":
                continue
            every += [f if rel == "." else f"{rel}/{f}" for f in files
                      if f.startswith("test_") and f.endswith(".py")]
        self.assertEqual(self.complete("run", "--test", ""), sorted(every))
        self.assertEqual(self.complete("history", "--test", ""), sorted(every))
        want = sorted(f for f in os.listdir(os.path.join(self.repo, "tests"))
                      if f.startswith("test_q") and f.endswith(".py"))
        self.assertTrue(want)
        self.assertEqual(self.complete("run", "--test", "test_q"), want)
        got = self.complete("run", "-t", "plugin_contracts/")
        self.assertEqual(got, sorted(
            "plugin_contracts/" + f
            for f in os.listdir(os.path.join(self.repo, "tests", "plugin_contracts"))
            if f.startswith("test_") and f.endswith(".py")))

    def test_junit_values_are_files(self):
        os.makedirs(os.path.join(self.repo, "reports"), exist_ok=True)
        self.assertEqual(self.complete("run", "--junit", "repo"), ["reports"])

    def test_rule_values_are_the_lint_rules(self):
        r = gpuci("lint", "--list-rules", cwd=self.repo)
        rules = [ln.split()[0] for ln in r.stdout.splitlines() if ln.strip()]
        if r.returncode != 0 or not rules:
            self.skipTest(f"gpuci lint --list-rules does not work yet: {r.stderr.strip()}")
        self.assertEqual(set(self.complete("lint", "--rule", "")), set(rules))
        self.assertEqual(set(self.complete("lint", "-r", "gpu")),
                         {x for x in rules if x.startswith("gpu")})

    def test_lock_completes_status_options_then_a_command(self):
        self.assertIn("status", self.complete("lock", ""))
        self.assertIn("--count", self.complete("lock", ""))
        self.assertIn("bash", self.complete("lock", "--count", "1", "--", "bas"))
        self.assertIn("bash", self.complete("lock", "--", "bas"))
        # After the command: its arguments, files here.
        self.assertEqual(self.complete("lock", "--count", "2", "--", "python", "tes"),
                         ["tests"])
        # --count's value is not the command.
        self.assertEqual(self.complete("lock", "--count", ""), [])


DEPS = os.path.join(ROOT, "tools", "deps.sh")


def fake_dpkg(tmp, installed):
    """A dpkg database (for DPKG_ADMINDIR) in which only `installed` are installed."""
    os.makedirs(os.path.join(tmp, "info"), exist_ok=True)
    os.makedirs(os.path.join(tmp, "updates"), exist_ok=True)
    with open(os.path.join(tmp, "status"), "w") as f:
        for pkg in installed:
            f.write(f"Package: {pkg}\nStatus: install ok installed\nVersion: 1\n"
                    "Architecture: all\n\n")
    return tmp


class SetupTest(unittest.TestCase):
    """The README's set-up: `make demo` and `make test` ask once, before building."""

    @classmethod
    def setUpClass(cls):
        if not shutil.which("make") or not shutil.which("dpkg-query"):
            raise unittest.SkipTest("needs make and dpkg-query (Debian)")
        cls.tmp = tempfile.mkdtemp(prefix="gpuci-setup-")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def needs(self, *groups):
        r = subprocess.run([DEPS, "--list", *groups], capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        return r.stdout.split()

    def deps_print(self, installed, *groups):
        env = dict(os.environ, DPKG_ADMINDIR=fake_dpkg(
            tempfile.mkdtemp(dir=self.tmp), installed))
        return subprocess.run([DEPS, "--print", *groups], capture_output=True, text=True,
                              timeout=60, env=env)

    def test_each_target_checks_all_it_needs_before_building(self):
        for target, group in (("demo", "demo"), ("demo-lock", "demo"), ("test", "test"),
                              ("build", "build"), ("dist", "dist")):
            with self.subTest(target=target):
                r = subprocess.run(["make", "-n", "-s", "-C", ROOT, target], capture_output=True,
                                   text=True, timeout=60)
                self.assertEqual(r.returncode, 0, r.stderr)
                lines = [ln.strip() for ln in r.stdout.splitlines() if ln.strip()]
                deps = [i for i, ln in enumerate(lines) if ln.startswith("tools/deps.sh")]
                self.assertEqual(len(deps), 1, f"make {target} checks its needs once: {lines}")
                self.assertEqual(lines[deps[0]].split()[1:], [group], lines)
                first_build = next(i for i, ln in enumerate(lines) if ln.startswith("cmake"))
                self.assertLess(deps[0], first_build, f"make {target}: {lines}")

    def test_groups_add_to_the_build(self):
        build = self.needs("build")
        for group in ("demo", "test", "dist"):
            self.assertEqual(self.needs(group)[:len(build)], build)
            self.assertGreater(len(self.needs(group)), len(build), group)
        self.assertIn("python3", self.needs("demo"))  # the example's tests are Python
        both = self.needs("demo", "test")
        self.assertEqual(len(both), len(set(both)))
        self.assertEqual(set(both), set(self.needs("demo")) | set(self.needs("test")))

    def test_one_apt_get_line_names_everything_missing(self):
        for group in ("build", "demo", "test"):
            want = self.needs(group)
            for installed in ([], want[::2]):
                with self.subTest(group=group, installed=len(installed)):
                    r = self.deps_print(installed, group)
                    self.assertEqual(r.returncode, 1, r.stderr)
                    lines = [ln for ln in r.stderr.splitlines() if "apt-get install" in ln]
                    self.assertEqual(len(lines), 1, r.stderr)
                    named = lines[0].split("--no-install-recommends", 1)[1].split()
                    self.assertEqual(named, [p for p in want if p not in installed])
        r = self.deps_print(self.needs("demo", "test"), "demo", "test")
        self.assertEqual((r.returncode, r.stderr), (0, ""))

    def test_the_readme_names_only_packages_the_set_up_installs(self):
        with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as f:
            readme = f.read()
        setup = readme.split("\n## Set-up\n", 1)[1].split("\n## ", 1)[0]
        # Every one-word `name` there but apt-get and gpuci's own is a package.
        named = {n for n in re.findall(r"`([a-z0-9][a-z0-9.+-]*)`", setup)
                 if n != "apt-get" and not n.startswith("gpuci")}
        self.assertIn("python3", named)
        self.assertEqual(named - set(self.needs("demo", "test")), set(),
                         "README's set-up names packages tools/deps.sh does not install")

DEMO = os.path.join(ROOT, "examples", "demo.sh")
DRY_LINE = re.compile(r"^\s+(\S+)\s+(.+?)\s+(\d+) GPUs?\s+~(.+)$")


def seconds(text):
    """Seconds of gpuci's human durations: '5 min 00 s', '2.2 s', '1 h 02 min'."""
    total, units = 0.0, {"h": 3600, "min": 60, "s": 1}
    for num, unit in re.findall(r"([\d.]+) (h|min|s)\b", text):
        total += float(num) * units[unit]
    return total


class DemoTest(unittest.TestCase):
    """examples/demo.sh (make demo): what it says at the end is true when it ends."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="gpuci-demo-test-")
        cls.dir = os.path.join(cls.tmp, "demo")
        env = dict(os.environ, GPUCI=GPUCI, DEMO_DIR=cls.dir, VIME_MINI_SECONDS="0.3",
                   TMPDIR=cls.tmp)
        env.pop("GITHUB_ACTIONS", None)
        env.pop("GITHUB_STEP_SUMMARY", None)
        cls.r = subprocess.run([DEMO], capture_output=True, text=True, timeout=120, env=env,
                               cwd=cls.tmp)
        cls.env = env

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def test_it_passes(self):
        self.assertEqual(self.r.returncode, 0, self.r.stdout + self.r.stderr)

    def test_every_path_it_prints_exists_when_it_has_ended(self):
        paths = set(re.findall(r"(/\S+)", self.r.stdout))
        logs = [p for p in paths if p.endswith(".log")]
        self.assertGreaterEqual(len(logs), 2, self.r.stdout)
        for p in sorted(paths):
            if p.startswith(self.tmp):
                with self.subTest(path=p):
                    self.assertTrue(os.path.exists(p.rstrip(".,:;)")), p)
        tail = self.r.stdout.rstrip("\n").splitlines()[-6:]
        self.assertTrue(any(os.path.join(self.dir, "vime-mini", ".gpuci", "runs") in ln
                            for ln in tail), tail)
        self.assertTrue(any(ln.strip().endswith("history.db") for ln in tail), tail)

    def dry_runs(self):
        """[[(test, gpus, seconds)]] of each dry-run the demo shows."""
        runs, cur = [], None
        for line in self.r.stdout.splitlines():
            if re.match(r"^\s+\d+ tests? on \d+ GPUs? \(", line):
                cur = []
                runs.append(cur)
            elif cur is not None and (m := DRY_LINE.match(line)):
                cur.append((m.group(2), int(m.group(3)), seconds(m.group(4))))
            else:
                cur = None
        return runs

    def test_the_guess_it_explains_is_the_one_shown_then_history_replaces_it(self):
        m = re.search(r"guessed at (\d+) s x \(GPUs \+ (\d+)\)", self.r.stdout)
        self.assertTrue(m, self.r.stdout)
        per, plus = int(m.group(1)), int(m.group(2))
        runs = self.dry_runs()
        self.assertEqual(len(runs), 2, self.r.stdout)
        before, after = runs
        self.assertTrue(before)
        self.assertEqual([t for t, _, _ in before], [t for t, _, _ in after])
        for test, gpus, secs in before:
            self.assertEqual(secs, per * (gpus + plus), test)
        # After the run: the durations it measured (the tests train 0.3 s here).
        table = self.r.stdout.split("\nSTATUS ", 1)[1].split("\n\n", 1)[0]
        for test, gpus, secs in after:
            self.assertLess(secs, 30, test)
            self.assertIn(test, table)

    def test_it_replaces_only_its_own_folder(self):
        other = os.path.join(self.tmp, "not-a-demo")
        os.makedirs(other)
        keep = os.path.join(other, "keep")
        open(keep, "w").close()
        r = subprocess.run([DEMO], capture_output=True, text=True, timeout=60,
                           env=dict(self.env, DEMO_DIR=other))
        self.assertEqual(r.returncode, 1)
        self.assertIn("is not a demo folder", r.stderr)
        self.assertTrue(os.path.exists(keep))


READMES = [os.path.join(ROOT, "README.md"), os.path.join(ROOT, "examples", "README.md")]
# Paths under these are the repository's own (tests/... and .github/... in a
# README are mostly the user's repository: vime's tests/ci/gpu_lock_exec.py).
OWN_PREFIXES = ("src/", "bench/", "examples/", "fuzz/", "doc/", "tools/", ".ci/", "completions/",
                "tests/cli/", "tests/tpl/", "tests/py/", "tests/report/", "tests/harness/")
STOP_TOKENS = {"--", "|", "||", "&&", ";", "#", ">", ">>", "2>&1", "<"}


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def code_spans(text):
    """The code of a Markdown text: each line of its fenced blocks, each inline `span`."""
    spans, fenced = [], False
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
            continue
        if fenced:
            spans.append(line.strip())
        else:
            spans += re.findall(r"`([^`]+)`", line)
    return spans


def gpuci_invocations(span):
    """[(command, [words after it])] for each `gpuci CMD ...` in a line of code."""
    words = span.replace('"', " ").split()
    out = []
    for i, w in enumerate(words):
        if w not in ("gpuci", "$GPUCI", "build/gpuci") or i + 1 >= len(words):
            continue
        cmd = words[i + 1]
        if not re.fullmatch(r"[a-z][a-z-]*", cmd):  # "gpuci lint: 2 findings", an output
            continue
        rest = []
        for w2 in words[i + 2:]:
            if w2 in STOP_TOKENS or w2.startswith("#"):
                break
            rest.append(w2)
        out.append((cmd, rest))
    return out


def mentioned_paths(span):
    """The words of a line of code that look like paths."""
    for w in span.split():
        w = w.strip("'\"(),;:").rstrip(".")
        w = re.sub(r":\d+(:\d+)?$", "", w)
        if "/" in w or re.fullmatch(r"[A-Za-z0-9_.-]+\.(md|sh|py|c|h|txt|xsd|j2)", w):
            yield w


class ReadmeReferencesTest(unittest.TestCase):
    """README.md and examples/README.md name only what exists."""

    @staticmethod
    def exists(here, path):
        """Under the README's folder or the root; for examples/README.md also a bare file
        name anywhere below examples/, and a tests/ path in one of the examples."""
        path = path.rstrip("/")
        if os.path.exists(os.path.join(here, path)) or os.path.exists(os.path.join(ROOT, path)):
            return True
        if "/" not in path and here != ROOT:
            return any(path in files or path in dirs for _, dirs, files in os.walk(here))
        return here != ROOT and any(os.path.exists(os.path.join(here, ex, path))
                                    for ex in os.listdir(here))

    def test_every_path_of_the_repository_they_name_exists(self):
        for readme in READMES:
            here = os.path.dirname(readme)
            for span in code_spans(read(readme)):
                for path in mentioned_paths(span):
                    if re.search(r"[*?<>{}\[\]$|]|RUN-ID|NAME", path) or path.startswith(
                            ("build/", "/", "http")):
                        continue
                    own = path.startswith(OWN_PREFIXES) or (
                        "/" not in path and path.endswith(".md")) or here != ROOT
                    if not own:
                        continue
                    with self.subTest(readme=os.path.relpath(readme, ROOT), path=path):
                        self.assertTrue(self.exists(here, path), f"{path} does not exist")

    def test_every_make_target_they_name_exists(self):
        targets = set(re.findall(r"(?m)^([a-z][\w-]*):", read(os.path.join(ROOT, "Makefile"))))
        self.assertIn("demo", targets)
        for readme in READMES:
            for span in code_spans(read(readme)):
                for m in re.finditer(r"(?:^|[\s(])make ([a-z][\w-]*)", span):
                    with self.subTest(readme=os.path.relpath(readme, ROOT), span=span):
                        self.assertIn(m.group(1), targets)

    def test_every_gpuci_command_and_option_they_name_exists(self):
        commands = help_commands()
        options, valued = {}, {}
        for readme in READMES:
            seen = 0
            for span in code_spans(read(readme)):
                for cmd, rest in gpuci_invocations(span):
                    seen += 1
                    with self.subTest(readme=os.path.relpath(readme, ROOT), span=span):
                        self.assertIn(cmd, commands)
                        if cmd == "help":
                            if rest and not rest[0].isupper():
                                self.assertIn(rest[0], commands)
                            continue
                        key = (cmd, "status") if cmd == "lock" and rest[:1] == ["status"] \
                            else (cmd,)
                        if key not in options:
                            opts = help_options(*key)
                            options[key] = ({long for _, long, _ in opts} |
                                            {"-" + short for short, _, _ in opts if short})
                            valued[key] = ({long for _, long, arg in opts if arg} |
                                           {"-" + short for short, _, arg in opts
                                            if short and arg})
                        value_next = False
                        for w in rest:
                            if value_next:  # an option's value (--docker-opt -v), not an option
                                value_next = False
                                continue
                            if re.fullmatch(r"--[a-z][a-z-]*(=.*)?|-[A-Za-z]", w):
                                self.assertIn(w.split("=", 1)[0], options[key],
                                              f"gpuci {' '.join(key)} has no {w}")
                                value_next = "=" not in w and w in valued[key]
            self.assertGreater(seen, 0, readme)


TABLE_READMES = [os.path.join(ROOT, "README.md"), os.path.join(EXAMPLE, "README.md")]


def tables(text):
    """[(first line's index, [lines])] of each Markdown table of text."""
    out, lines = [], text.splitlines()
    i = 0
    while i < len(lines):
        if lines[i].startswith("|"):
            j = i
            while j < len(lines) and lines[j].startswith("|"):
                j += 1
            out.append((i, lines[i:j]))
            i = j
        else:
            i += 1
    return out


def cells(row):
    return [c.strip() for c in row.strip().strip("|").split("|")]


def fenced_blocks(text):
    """[(info string, [lines])] of each fenced code block of text."""
    out, cur, info = [], None, None
    for line in text.splitlines():
        if line.startswith("```"):
            if cur is None:
                cur, info = [], line[3:].strip()
            else:
                out.append((info, cur))
                cur = None
        elif cur is not None:
            cur.append(line)
    return out


def after_table(text, index, table):
    """The first non-blank line after a table, or ''."""
    rest = text.splitlines()[index + len(table):]
    return next((ln for ln in rest if ln.strip()), "")


class ReadmeTablesTest(unittest.TestCase):
    """The READMEs' tables and examples of output are what gpuci prints on the example."""

    maxDiff = None

    @classmethod
    def setUpClass(cls):
        r = gpuci("labels", "--markdown", cwd=EXAMPLE)
        assert r.returncode == 0, r.stderr
        out = r.stdout.rstrip("\n").splitlines()
        cls.labels_table = [ln for ln in out if ln.startswith("|")]
        cls.always = [ln for ln in out if ln.startswith("Always on")]
        assert cls.labels_table and len(cls.always) == 1, r.stdout
        cls.readme = read(os.path.join(ROOT, "README.md"))

    def expected_labels(self):
        return "\n".join(self.labels_table + ["", self.always[0]])

    def test_the_ci_labels_table_is_gpuci_labels_markdown_on_the_example(self):
        section = self.readme.split("\n## CI labels\n", 1)[1].split("\n## ", 1)[0]
        self.assertIn("examples/vime-mini", section)
        found = tables(section)
        self.assertTrue(found, "no table under CI labels")
        index, table = found[0]
        got = "\n".join(table + ["", after_table(section, index, table)])
        self.assertEqual(got, self.expected_labels(),
                         "README's CI labels table is not what `gpuci labels --markdown` "
                         "prints on examples/vime-mini; paste its output")

    def test_every_label_table_is_the_examples(self):
        seen = 0
        for readme in TABLE_READMES:
            text = read(readme)
            for index, table in tables(text):
                if cells(table[0])[:2] != ["Label", "Job"]:
                    continue
                seen += 1
                with self.subTest(readme=os.path.relpath(readme, ROOT), line=index + 1):
                    self.assertEqual(table, self.labels_table)
                    following = after_table(text, index, table)
                    if following.startswith("Always on"):
                        self.assertEqual(following, self.always[0])
        self.assertGreaterEqual(seen, 2)

    def test_the_lint_rules_table_is_gpuci_lint_list_rules(self):
        r = gpuci("lint", "--list-rules")
        self.assertEqual(r.returncode, 0, r.stderr)
        rules = [ln.split()[0] for ln in r.stdout.splitlines() if ln.strip()]
        found = [t for _, t in tables(self.readme) if cells(t[0])[:2] == ["Rule", "Finds"]]
        self.assertEqual(len(found), 1)
        self.assertEqual([cells(row)[0].strip("`") for row in found[0][2:]], rules)

    def test_the_lock_flags_table_is_gpuci_lock_help(self):
        help_text = gpuci("lock", "--help").stdout.split("\nOptions:\n", 1)[1]
        want = {long for _, long, _ in help_options("lock")} - {"--help"}
        found = [t for _, t in tables(self.readme) if cells(t[0])[:2] == ["flag", "default"]]
        self.assertEqual(len(found), 1)
        flags = set()
        for row in found[0][2:]:
            flag, default = cells(row)[:2]
            longs = re.findall(r"--[a-z][a-z-]*", flag)
            self.assertEqual(len(longs), 1, row)
            flags.add(longs[0])
            if default:
                line = next(ln for ln in help_text.splitlines()
                            if re.search(re.escape(longs[0]) + r"(?![\w-])", ln))
                self.assertRegex(line, r"\(default:? " + re.escape(default.strip("`")) + r"\)",
                                 f"README: {longs[0]} defaults to {default}")
        self.assertEqual(flags, want)

    def test_the_plan_example_is_gpuci_plan_on_the_example(self):
        blocks = [b for _, b in fenced_blocks(self.readme)
                  if b and re.match(r"pull_request with labels? ", b[0])]
        self.assertEqual(len(blocks), 1)
        block = blocks[0]
        labels = re.match(r"pull_request with labels? (.+?) \(", block[0]).group(1).split(", ")
        args = [a for lb in labels for a in ("--label", lb)]
        r = gpuci("plan", *args, cwd=EXAMPLE)
        self.assertEqual(r.returncode, 0, r.stderr)
        shown = block[:-1] if block[-1].strip() == "..." else block
        self.assertEqual(shown, r.stdout.splitlines()[:len(shown)],
                         f"README's plan example is not `gpuci plan {' '.join(args)}` on "
                         "examples/vime-mini")

    def test_the_new_test_example_is_what_new_test_prints_on_the_example(self):
        blocks = fenced_blocks(self.readme)
        i = next(k for k, (info, b) in enumerate(blocks)
                 if info == "sh" and len(b) == 1 and b[0].startswith("gpuci new-test "))
        cmd, shown = blocks[i][1][0].split()[1:], blocks[i + 1][1]
        repo = ExampleCopy(GPUCI)
        try:
            r = repo.gpuci(*cmd)
        finally:
            repo.close()
        self.assertEqual(r.returncode, 0, r.stderr)
        got = r.stdout.split("\n\n", 1)[0].splitlines()
        self.assertEqual(shown, got, "README's new-test example is not what `gpuci "
                         f"{' '.join(cmd)}` prints on examples/vime-mini")

    def test_the_lint_example_is_what_lint_prints_on_the_example_so_broken(self):
        block = next(b for _, b in fenced_blocks(self.readme) if b and b[0] == "$ gpuci lint")
        findings = [ln for ln in block[1:] if not ln.startswith("gpuci lint: ")]
        summary = [ln for ln in block[1:] if ln.startswith("gpuci lint: ")]
        repo = ExampleCopy(GPUCI)
        try:
            # Break a copy of the example the way the findings say.
            for ln in findings:
                m = re.match(r"(\S+\.j2):(\d+): error: (\S+) \(job \S+\) has num_gpus (\d+) but",
                             ln)
                if m:
                    lines = repo.read(m.group(1)).split("\n")
                    at = int(m.group(2)) - 1
                    self.assertIn(m.group(3), lines[at], f"README's lint example: {ln}")
                    lines[at] = re.sub(r"('num_gpus': )\d+", r"\g<1>" + m.group(4), lines[at])
                    repo.write(m.group(1), "\n".join(lines))
                    self.assertEqual(repo.gpuci("render").returncode, 0)
                    continue
                m = re.match(r"(tests/\S+\.py): warning: in no job ", ln)
                self.assertTrue(m, f"README's lint example: a finding this test cannot make: {ln}")
                model = sorted(f for f in os.listdir(repo.path("tests"))
                               if f.startswith("test_") and f.endswith(".py"))[0]
                repo.write(m.group(1), repo.read(os.path.join("tests", model)))
            r = repo.gpuci("lint")
        finally:
            repo.close()
        errors = [ln for ln in findings if re.match(r"\S+: error: ", ln)]
        self.assertEqual(r.returncode, 1 if errors else 0, r.stderr)
        self.assertEqual(r.stdout.splitlines(), findings)
        self.assertEqual(r.stderr.splitlines(), summary)

    def test_every_label_and_job_they_name_is_the_examples(self):
        def names(example):
            r = gpuci("labels", "--json", cwd=example)
            self.assertEqual(r.returncode, 0, r.stderr)
            labels = {e["label"] for e in json.loads(r.stdout)["labels"]}
            r = gpuci("plan", "--json", "--event", "workflow_dispatch", cwd=example)
            self.assertEqual(r.returncode, 0, r.stderr)
            plan = json.loads(r.stdout)
            jobs = {j["name"] for key in ("jobs", "skipped", "undetermined")
                    for j in plan.get(key, [])}
            return labels, jobs

        labels, jobs = names(EXAMPLE)
        other = names(os.path.join(ROOT, "examples", "repo"))
        for readme, (want_labels, want_jobs) in (
                (os.path.join(ROOT, "README.md"), (labels, jobs)),
                (os.path.join(ROOT, "examples", "README.md"),
                 (labels | other[0], jobs | other[1]))):
            text = read(readme)
            named_labels = set(re.findall(r"\brun-ci-[a-z0-9-]*[a-z0-9]", text))
            named_jobs = set(re.findall(r"\b(?:e2e-test|detect)-[a-z0-9-]*[a-z0-9]", text))
            with self.subTest(readme=os.path.relpath(readme, ROOT)):
                self.assertEqual(named_labels - want_labels, set(), "labels the example lacks")
                self.assertEqual(named_jobs - want_jobs, set(), "jobs the example lacks")

    def test_the_render_benchmark_names_the_template_it_measures(self):
        row = next(ln for _, t in tables(self.readme) for ln in t
                   if "pr-test.yml.j2" in ln and "KB" in ln)
        m = re.search(r"`(examples/[^`]+\.j2)` \((\d+) KB, (\d+) lines\)", row)
        self.assertTrue(m, row)
        with open(os.path.join(ROOT, m.group(1)), "rb") as f:
            data = f.read()
        self.assertEqual(round(len(data) / 1024), int(m.group(2)), row)
        self.assertEqual(data.count(b"\n"), int(m.group(3)), row)
        with open(os.path.join(ROOT, "bench", "render", "bench.py"), encoding="utf-8") as f:
            bench = f.read()
        example = os.path.dirname(os.path.dirname(os.path.dirname(m.group(1))))
        self.assertIn(f'"{example.split("/")[1]}"', bench, "bench/render measures another file")


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit("usage: docs_test.py PATH/TO/gpuci")
    GPUCI = os.path.abspath(sys.argv.pop(1))
    MAN_DIR = os.environ.get("GPUCI_MAN_DIR") or os.path.join(os.path.dirname(GPUCI), "doc",
                                                              "man")
    unittest.main(verbosity=2)
