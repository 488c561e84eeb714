#!/usr/bin/env python3
"""End-to-end tests of `gpuci changed`, with git itself as the oracle.

Builds a repository with the git CLI (a main branch, a PR branch that adds,
modifies, deletes and renames tests, main advancing after the branch point),
then compares `gpuci changed --json` with what
`git diff --name-only -z --diff-filter=... main...pr -- PATTERNS` lists (less,
by default, the files whose own name does not match the pattern's last part,
checked with Python's fnmatch), and checks NUM_GPUS values, warnings,
--github-output, bare clones, errors. A second repository, shaped like
THUDM/slime's tests/test_agent/, checks the files left out and --git-pathspec.

Run: python3 tests/cli/changed_test.py build/gpuci
"""
import fnmatch
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

GPUCI = None
PATTERNS = ["tests/test_*.py", "tests/plugin_contracts/test_*.py"]

# git without the user's or the system's configuration, with fixed identities.
GIT_ENV = dict(os.environ, GIT_CONFIG_GLOBAL="/dev/null", GIT_CONFIG_NOSYSTEM="1",
               GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@example.com",
               GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@example.com",
               GIT_AUTHOR_DATE="2025-01-01T00:00:00Z", GIT_COMMITTER_DATE="2025-01-01T00:00:00Z",
               LC_ALL="C")
for k in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GITHUB_OUTPUT", "GPUCI_GIT"):
    GIT_ENV.pop(k, None)

# Enough lines that a rename keeps well above git's 50% similarity with one line changed.
BODY = "".join(f"def step_{i}():\n    return {i}\n\n" for i in range(40))


def git(cwd, *args, input=None):
    r = subprocess.run(["git", *args], cwd=cwd, env=GIT_ENV, capture_output=True, input=input,
                       timeout=60)
    if r.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)}: {r.stderr.decode(errors='replace')}")
    return r.stdout


def gpuci(*args, cwd=None, env=None):
    e = dict(GIT_ENV)
    if env:
        e.update(env)
    r = subprocess.run([GPUCI, "changed", *args], cwd=cwd, env=e, capture_output=True,
                       timeout=60)
    r.out = r.stdout.decode("utf-8")  # must always be UTF-8 (JSON)
    r.err = r.stderr.decode("utf-8", "replace")
    return r


def write(root, rel, data):
    path = os.path.join(os.fsencode(root), rel if isinstance(rel, bytes) else rel.encode())
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data.encode() if isinstance(data, str) else data)


def as_text(path_bytes):
    """A path as gpuci's JSON shows it: UTF-8, bad bytes as U+FFFD."""
    return path_bytes.decode("utf-8", "replace")


# ---- the repository --------------------------------------------------------

# What the PR branch's files hold (path -> expected num_gpus in the matrix).
EXPECTED_GPUS = {
    "tests/test_added.py": 4,
    "tests/test_mod.py": 3,
    "tests/plugin_contracts/test_contract.py": 0,
    "tests/test_ren_new.py": 2,
    "tests/test_renmod_new.py": 5,
    "tests/test_from_src.py": 1,
    "tests/test_docstring.py": 6,            # the docstring's NUM_GPUS = 2 does not count
    "tests/test_nonlit.py": 8,               # not a literal: default + warning
    "tests/test_absent.py": 8,               # no NUM_GPUS: default + warning
    "tests/test_cond.py": 8,                 # set under `if`: default + warning
    "tests/test_main_block.py": 1,           # the __main__ block's assignment does not count
    "tests/test_broken.py": 8,               # does not tokenize: default + warning
    "tests/test_with space.py": 1,
    'tests/test_dq"x.py': 1,
    "tests/test_sq'x.py": 1,
    "tests/test_back\\slash.py": 1,
    "tests/test_ünï.py": 1,
    "tests/test_new\nline.py": 1,
    "tests/test_tab\tx.py": 1,
    "tests/test_\ufffd.py": 1,               # the name holds byte 0xff
}


def build_repo(root):
    """main: a base commit; pr: the changes; main then advances on its own."""
    git(root, "init", "-q", "-b", "main")
    write(root, "tests/test_keep.py", "NUM_GPUS = 1\n")
    write(root, "tests/test_mod.py", "NUM_GPUS = 2\n" + BODY)
    write(root, "tests/test_del.py", "NUM_GPUS = 2\n")
    write(root, "tests/test_ren_old.py", "NUM_GPUS = 2\n" + BODY)
    write(root, "tests/test_renmod_old.py", "NUM_GPUS = 5\n" + BODY + "# old\n")
    write(root, "tests/test_tc.py", "NUM_GPUS = 1\n")
    write(root, "tests/plugin_contracts/test_contract.py", "NUM_GPUS = 0\nA = 1\n")
    write(root, "src/helper_mod.py", "NUM_GPUS = 1\n" + BODY)
    write(root, "README.md", "hi\n")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "base")

    git(root, "checkout", "-q", "-b", "pr")
    write(root, "tests/test_added.py", '"""A test."""\nimport os\n\nNUM_GPUS = 4\n')
    write(root, "tests/test_mod.py", "NUM_GPUS = 3\n" + BODY)
    write(root, "tests/plugin_contracts/test_contract.py", "NUM_GPUS = 0\nA = 2\n")
    os.remove(os.path.join(root, "tests/test_del.py"))
    git(root, "mv", "tests/test_ren_old.py", "tests/test_ren_new.py")
    git(root, "mv", "tests/test_renmod_old.py", "tests/test_renmod_new.py")
    write(root, "tests/test_renmod_new.py", "NUM_GPUS = 5\n" + BODY + "# new\n")
    # A rename from outside the patterns: git limits by pathspec first, so it is an 'A'.
    git(root, "mv", "src/helper_mod.py", "tests/test_from_src.py")
    # A type change: the file becomes a link.
    os.remove(os.path.join(root, "tests/test_tc.py"))
    os.symlink("test_keep.py", os.path.join(root, "tests/test_tc.py"))
    write(root, "tests/test_dir/helper.py", "x = 1\n")
    write(root, "tests/test_docstring.py",
          '"""Runs on\nNUM_GPUS = 2\nGPUs, says the old grep."""\n\nNUM_GPUS = 6\n')
    write(root, "tests/test_nonlit.py",
          'import os\n\nNUM_GPUS = int(os.environ.get("G", "2"))\n')
    write(root, "tests/test_absent.py", "def execute():\n    NUM_GPUS = 2\n")
    write(root, "tests/test_cond.py", "import sys\nif sys.argv:\n    NUM_GPUS = 2\n")
    write(root, "tests/test_main_block.py",
          'NUM_GPUS = 1\n\nif __name__ == "__main__":\n    NUM_GPUS = 3\n')
    write(root, "tests/test_broken.py", 'NUM_GPUS = 2\nx = """never closed\n')
    for name in ["tests/test_with space.py", 'tests/test_dq"x.py', "tests/test_sq'x.py",
                 "tests/test_back\\slash.py", "tests/test_ünï.py", "tests/test_new\nline.py",
                 "tests/test_tab\tx.py"]:
        write(root, name, f"NUM_GPUS = 1\n# {name!r}\n")
    write(root, b"tests/test_\xff.py", "NUM_GPUS = 1\n")
    # Outside the default patterns.
    write(root, "tests/sub/test_x.py", "NUM_GPUS = 1\n")
    write(root, "tests/test_x.txt", "NUM_GPUS = 1\n")
    write(root, "src/test_y.py", "NUM_GPUS = 1\n")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "pr")

    # main advances after the branch point: three dots must ignore this.
    git(root, "checkout", "-q", "main")
    write(root, "tests/test_mainonly.py", "NUM_GPUS = 1\n")
    write(root, "tests/test_keep.py", "NUM_GPUS = 7\n")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "main moves on")

    # A branch with more tests than a GitHub matrix holds.
    git(root, "checkout", "-q", "-b", "big", "pr")
    for i in range(257):
        write(root, f"tests/test_big_{i:03d}.py", f"NUM_GPUS = {i % 9}\n")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "big")

    # A branch with no history in common with main.
    git(root, "checkout", "-q", "--orphan", "orphan")
    git(root, "rm", "-rq", "--cached", ".")
    write(root, "tests/test_orphan.py", "NUM_GPUS = 1\n")
    git(root, "add", "tests/test_orphan.py")
    git(root, "commit", "-q", "-m", "orphan")
    git(root, "checkout", "-qf", "pr")
    git(root, "clean", "-qfdx")


def git_list(repo, base, head, diff_filter, patterns=PATTERNS, renames=None,
             git_pathspec=True):
    """git's own answer: the paths of `git diff --name-only -z base...head -- patterns`.

    git_pathspec False: only those some pattern reaches by the name rule,
    the file's own name matching the pattern's last part (fnmatch).
    """
    args = ["diff", "--name-only", "-z", f"--diff-filter={diff_filter}"]
    if renames:
        args.append("-M")
    out = git(repo, *args, f"{base}...{head}", "--", *patterns)
    paths = [as_text(p) for p in out.split(b"\0") if p]
    if git_pathspec:
        return paths
    keep = set()
    for p in patterns:
        for path in git_list(repo, base, head, diff_filter, [p], renames):
            if name_rule(p, path):
                keep.add(path)
    return [p for p in paths if p in keep]


def name_rule(pattern, path):
    """The oracle of the rule: no wildcard, or the name matches the last part."""
    if not re.search(r"[*?\[]", pattern):
        return True
    last = pattern.rstrip("/").rsplit("/", 1)[-1]
    return fnmatch.fnmatchcase(path.rsplit("/", 1)[-1], last)


def matrix(r):
    m = json.loads(r.out)
    assert list(m) == ["info", "left_out"], m
    for e in m["info"]:
        assert list(e) == ["test_file", "num_gpus"], e
    for e in m["left_out"]:
        assert list(e) == ["file", "pattern", "reason"], e
    return m["info"]


def left_out(r):
    return [e["file"] for e in json.loads(r.out)["left_out"]]


def gh_matrix(r):
    """The matrix line --github-output writes for the run r of --json: "info" alone."""
    return r.out[:r.out.index(',"left_out":')] + "}\n"


def random_rename_repo(root, seed):
    """A history where a branch deletes, adds, renames and edits many files at random.

    Tiny and large files, CRLF, binary bytes, shared
    and unique basenames, exact copies, links: the cases where rename
    detectors part ways.
    """
    import random
    rnd = random.Random(seed)
    words = ["alpha", "beta", "gamma", "delta", "NUM_GPUS = 4", "import os", "x = 1", "", "#"]

    def content():
        kind = rnd.random()
        if kind < 0.15:
            return rnd.choice(["", "x\n", "NUM_GPUS = 2\n", "a\nb\n"]).encode()
        lines = [rnd.choice(words) + (str(rnd.randrange(5)) if rnd.random() < 0.3 else "")
                 for _ in range(rnd.randrange(1, 120))]
        nl = "\r\n" if rnd.random() < 0.1 else "\n"
        # Every file ends with a newline: git before 2.44 ignored a final
        # incomplete line when scoring, later git (and gpuci) count it.
        text = nl.join(lines) + nl
        data = text.encode()
        if rnd.random() < 0.05:
            data = b"\0" + data
        return data

    def mutate(data):
        lines = data.split(b"\n")
        for _ in range(rnd.randrange(0, max(1, len(lines) // 2))):
            op = rnd.random()
            i = rnd.randrange(len(lines))
            if op < 0.4:
                lines[i] = rnd.choice(words).encode()
            elif op < 0.7:
                lines.insert(i, rnd.choice(words).encode())
            elif len(lines) > 1:
                del lines[i]
        return b"\n".join(lines).rstrip(b"\n") + b"\n"

    dirs = ["tests", "tests/a", "tests/b", "src"]
    names = [f"test_{w}{i}.py" for w in ("x", "y", "z") for i in range(4)]
    git(root, "init", "-q", "-b", "main")
    files = {}
    for _ in range(40):
        path = f"{rnd.choice(dirs)}/{rnd.choice(names)}"
        files[path] = content()
    for path, data in files.items():
        write(root, path, data)
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "base")
    git(root, "checkout", "-q", "-b", "pr")
    for path, data in list(files.items()):
        r = rnd.random()
        full = os.path.join(root, path)
        if r < 0.35:  # renamed, maybe edited
            os.remove(full)
            new = f"{rnd.choice(dirs)}/{rnd.choice(names)}"
            if not os.path.exists(os.path.join(root, new)) and new not in files:
                write(root, new, data if rnd.random() < 0.3 else mutate(data))
        elif r < 0.45:
            os.remove(full)
        elif r < 0.55:
            write(root, path, mutate(data))
        elif r < 0.58:
            os.remove(full)
            os.symlink("elsewhere", full)
    for _ in range(10):
        new = f"{rnd.choice(dirs)}/{rnd.choice(names)}"
        if not os.path.lexists(os.path.join(root, new)):
            src = rnd.choice(list(files.values()))
            write(root, new, src if rnd.random() < 0.3 else mutate(src))
    git(root, "add", "-A")
    git(root, "commit", "-q", "--allow-empty", "-m", "pr")


class ChangedTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="gpuci-changed-")
        cls.root = cls.tmp.name
        cls.repo = os.path.join(cls.root, "repo")
        os.mkdir(cls.repo)
        build_repo(cls.repo)
        # A clone on the PR branch, with origin/main for the defaults.
        cls.clone = os.path.join(cls.root, "clone")
        git(cls.root, "clone", "-q", cls.repo, cls.clone)
        git(cls.clone, "checkout", "-q", "pr")

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def changed(self, *args, **kw):
        return gpuci("--base", "main", "--head", "pr", *args, cwd=kw.pop("cwd", self.repo), **kw)

    # ---- which files ---------------------------------------------------

    def test_default_lists_what_git_lists_with_renames_in_git_order(self):
        r = self.changed("--json")
        self.assertEqual(r.returncode, 0, r.err)
        got = [e["test_file"] for e in matrix(r)]
        self.assertEqual(got, git_list(self.repo, "main", "pr", "AMR", renames=True,
                                       git_pathspec=False))
        # What git's `*` reaches across '/' only is left out, and said so.
        everything = git_list(self.repo, "main", "pr", "AMR", renames=True)
        self.assertEqual(left_out(r), [p for p in everything if p not in got])
        self.assertEqual(left_out(r), ["tests/test_dir/helper.py"])
        r = self.changed("--json", "--git-pathspec")
        self.assertEqual([e["test_file"] for e in matrix(r)], everything)
        self.assertEqual(left_out(r), [])
        self.assertIn("tests/test_ren_new.py", got)
        self.assertIn("tests/test_renmod_new.py", got)
        for absent in ("tests/test_del.py", "tests/test_ren_old.py", "tests/test_mainonly.py",
                       "tests/test_keep.py", "tests/sub/test_x.py", "tests/test_x.txt",
                       "src/test_y.py", "tests/test_tc.py"):
            self.assertNotIn(absent, got)

    def test_renames_match_git_on_random_histories(self):
        # git's own pairing (exact, then unique basenames at 75%, then the
        # scored matrix at 50%) decides what is 'A' and what is 'R'.
        for seed in range(16):
            with self.subTest(seed=seed):
                root = os.path.join(self.root, f"random{seed}")
                os.mkdir(root)
                random_rename_repo(root, seed)
                status = git(root, "diff", "--name-status", "-z", "-M", "main...pr")
                for f in ("A", "R", "M", "T", "AMR"):
                    r = gpuci("--base", "main", "--head", "pr", "--json", "--diff-filter", f,
                              "--pattern", "*", cwd=root)
                    self.assertEqual(r.returncode, 0, r.err)
                    want = git_list(root, "main", "pr", f, patterns=["*"], renames=True)
                    self.assertEqual([e["test_file"] for e in matrix(r)], want,
                                     f"filter {f}; git says:\n"
                                     + status.decode(errors="replace").replace("\0", " "))
                # The pairs themselves: "(from OLD, N% similar)" against git's RNNN OLD NEW.
                r = gpuci("--base", "main", "--head", "pr", "--diff-filter", "R", "--pattern",
                          "*", cwd=root)
                pairs = re.findall(r"^  R +\d+ GPUs? +(.*?)  \(from (.*?), (\d+)% similar\)",
                                   r.err, re.M)
                got = sorted(f"{old}, {pct}% similar {new}" for new, old, pct in pairs)
                fields = status.split(b"\0")
                want, i = [], 0
                while i < len(fields) - 1:
                    st = fields[i].decode()
                    if st.startswith("R"):
                        old, new = fields[i + 1].decode(), fields[i + 2].decode()
                        want.append(f"{old}, {int(st[1:])}% similar {new}")
                        i += 3
                    else:
                        i += 2
                self.assertEqual(got, sorted(want))
                shutil.rmtree(root)

    def test_diff_filter_am_is_the_old_detector_exactly(self):
        r = self.changed("--json", "--diff-filter", "AM", "--git-pathspec")
        self.assertEqual(r.returncode, 0, r.err)
        got = [e["test_file"] for e in matrix(r)]
        # The old step: `git diff --name-only --diff-filter=AM origin/main...HEAD -- PATTERNS`,
        # with git's default rename detection, so renamed tests were left out.
        self.assertEqual(got, git_list(self.repo, "main", "pr", "AM"))
        self.assertNotIn("tests/test_ren_new.py", got)
        self.assertIn("tests/test_dir/helper.py", got)
        r = self.changed("--json", "--diff-filter", "AM")
        self.assertEqual([e["test_file"] for e in matrix(r)],
                         git_list(self.repo, "main", "pr", "AM", git_pathspec=False))

    def test_other_filters_agree_with_git(self):
        for f in ("A", "M", "R", "T", "AMRT", "a", "r", "Mr", "am", "ACMRTUXB"):
            with self.subTest(filter=f):
                r = self.changed("--json", "--diff-filter", f)
                self.assertEqual(r.returncode, 0, r.err)
                want = git_list(self.repo, "main", "pr", f, renames=True, git_pathspec=False)
                if f.islower():  # git would list deletions too; gpuci never does
                    deleted = git_list(self.repo, "main", "pr", "D", renames=True)
                    want = [p for p in want if p not in deleted]
                self.assertEqual([e["test_file"] for e in matrix(r)], want)

    def test_deleted_cannot_be_asked_for(self):
        for f in ("D", "AD", "z", "*", "A1", ""):
            with self.subTest(filter=f):
                r = self.changed("--diff-filter", f)
                self.assertEqual(r.returncode, 2, r.err)
                self.assertEqual(len(r.err.splitlines()), 1, r.err)
                self.assertEqual(r.out, "")
        self.assertIn("deleted", self.changed("--diff-filter", "D").err)

    def test_patterns_override_the_defaults(self):
        r = self.changed("--json", "--pattern", "tests/sub/*.py", "--pattern", "src/test_*.py",
                         "--pattern", "./tests/test_x.txt")
        self.assertEqual(r.returncode, 0, r.err)
        got = [e["test_file"] for e in matrix(r)]
        self.assertEqual(got, ["src/test_y.py", "tests/sub/test_x.py", "tests/test_x.txt"])
        self.assertEqual(got, git_list(self.repo, "main", "pr", "AMR", renames=True,
                                       patterns=["tests/sub/*.py", "src/test_*.py",
                                                 "tests/test_x.txt"]))
        # A folder name matches everything under it, as in git.
        r = self.changed("--json", "--pattern", "tests/plugin_contracts")
        self.assertEqual([e["test_file"] for e in matrix(r)],
                         ["tests/plugin_contracts/test_contract.py"])

    def test_bad_patterns_are_usage_errors(self):
        for p in ("", ":(exclude)tests/x.py", "/tests/test_*.py"):
            with self.subTest(pattern=p):
                r = self.changed("--pattern", p)
                self.assertEqual(r.returncode, 2, r.err)
                self.assertEqual(len(r.err.splitlines()), 1, r.err)

    # ---- GPU counts and warnings ---------------------------------------

    def test_num_gpus_as_python_sees_it_and_warnings_name_the_place(self):
        r = self.changed("--json")
        self.assertEqual(r.returncode, 0, r.err)
        got = {e["test_file"]: e["num_gpus"] for e in matrix(r)}
        self.assertEqual(got, EXPECTED_GPUS)
        warnings = [l[len("gpuci changed: warning: "):] for l in r.err.splitlines()
                    if l.startswith("gpuci changed: warning: ")]
        self.assertIn("tests/test_nonlit.py:3: NUM_GPUS is not an int literal; using 8",
                      warnings)
        self.assertIn("tests/test_absent.py: no top-level NUM_GPUS; using 8", warnings)
        self.assertTrue(any(w.startswith("tests/test_cond.py:3: ") and w.endswith("; using 8")
                            for w in warnings), warnings)
        self.assertTrue(any(w.startswith("tests/test_broken.py:2:") and w.endswith("; using 8")
                            for w in warnings), warnings)
        self.assertIn('"tests/test_\\377.py": the path is not valid UTF-8; the JSON matrix '
                      "shows U+FFFD for its bad bytes", warnings)
        self.assertEqual(len(warnings), 5, warnings)  # no others: literals are silent
        # The listing: one line per test with its status, GPUs and path.
        self.assertIn("  A   4 GPUs  tests/test_added.py\n", r.err)
        self.assertIn("  R   2 GPUs  tests/test_ren_new.py  (from tests/test_ren_old.py, 100% "
                      "similar)\n", r.err)
        self.assertIn("  A   8 GPUs  tests/test_absent.py  (default)\n", r.err)
        self.assertIn('  A   1 GPU   "tests/test_new\\nline.py"\n', r.err)

    def test_warnings_are_annotations_under_github_actions(self):
        r = self.changed("--json", env={"GITHUB_ACTIONS": "true"})
        self.assertEqual(r.returncode, 0, r.err)
        matrix(r)  # stdout stays JSON
        ann = [l for l in r.err.splitlines() if l.startswith("::warning ")]
        self.assertIn("::warning file=tests/test_nonlit.py,line=3,title=gpuci changed%3A "
                      "NUM_GPUS::tests/test_nonlit.py:3: NUM_GPUS is not an int literal; "
                      "using 8", ann)
        self.assertIn("::warning file=tests/test_absent.py,title=gpuci changed%3A NUM_GPUS::"
                      "tests/test_absent.py: no top-level NUM_GPUS; using 8", ann)
        self.assertIn("::warning file=tests/test_dir/helper.py,title=gpuci changed%3A left out::"
                      "'tests/test_*.py' matches it only because git's * crosses '/'; its "
                      "name is not test_*.py (--git-pathspec keeps git's meaning)", ann)
        # Every defaulted file and the one left out, not the UTF-8 note.
        self.assertEqual(len(ann), 5, ann)
        self.assertNotIn("::warning", self.changed("--json").err)

    def test_default_gpus_is_used_and_named(self):
        r = self.changed("--json", "--default-gpus", "2", "--diff-filter", "A",
                         "--pattern", "tests/test_absent.py")
        self.assertEqual(r.returncode, 0, r.err)
        self.assertEqual(matrix(r), [{"test_file": "tests/test_absent.py", "num_gpus": 2}])
        self.assertIn("tests/test_absent.py: no top-level NUM_GPUS; using 2", r.err)

    def test_json_escapes_every_byte_a_path_may_hold(self):
        r = self.changed("--json", "--pattern", "tests/test_new*", "--pattern", "tests/test_dq*",
                         "--pattern", "tests/test_back*", "--pattern", "tests/test_\xfc*",
                         "--pattern", "tests/test_tab*")
        self.assertEqual(r.returncode, 0, r.err)
        self.assertIn(r'{"test_file":"tests/test_new\nline.py","num_gpus":1}', r.out)
        self.assertIn(r'{"test_file":"tests/test_dq\"x.py","num_gpus":1}', r.out)
        self.assertIn(r'{"test_file":"tests/test_back\\slash.py","num_gpus":1}', r.out)
        self.assertIn(r'{"test_file":"tests/test_tab\tx.py","num_gpus":1}', r.out)
        r = self.changed("--json")
        self.assertIn('"tests/test_ünï.py"', r.out)  # UTF-8 kept as is
        self.assertIn(r'"tests/test_\ufffd.py"', r.out)  # 0xff is not UTF-8
        self.assertTrue(r.out.endswith("]}\n"))
        self.assertNotIn(" ", gh_matrix(r).replace("test_with space", ""))

    # ---- outputs -------------------------------------------------------

    def test_github_output_appends_has_tests_and_the_matrix(self):
        out = os.path.join(self.root, "gh_out")
        with open(out, "w") as f:
            f.write("before=1\n")
        r = self.changed("--github-output", env={"GITHUB_OUTPUT": out})
        self.assertEqual(r.returncode, 0, r.err)
        self.assertEqual(r.out, "")
        # The lines are as they were: the matrix alone, no "left_out".
        want = gh_matrix(self.changed("--json"))
        with open(out, encoding="utf-8") as f:
            self.assertEqual(f.read(), f"before=1\nhas_tests=true\nmatrix={want}")
        self.assertEqual(list(json.loads(want)), ["info"])
        # No tests: has_tests=false and an empty matrix, exit 0.
        r = gpuci("--base", "pr", "--head", "pr", "--github-output", cwd=self.repo,
                  env={"GITHUB_OUTPUT": out})
        self.assertEqual(r.returncode, 0, r.err)
        self.assertIn("no test file", r.err)
        with open(out, encoding="utf-8") as f:
            self.assertTrue(f.read().endswith('has_tests=false\nmatrix={"info":[]}\n'))
        os.remove(out)

    def test_github_output_without_the_variable_is_an_error(self):
        r = self.changed("--github-output")
        self.assertEqual(r.returncode, 2)
        self.assertEqual(r.err.count("\n"), 1, r.err)
        self.assertIn("GITHUB_OUTPUT", r.err)
        r = self.changed("--github-output", env={"GITHUB_OUTPUT": ""})
        self.assertEqual(r.returncode, 2)

    def test_no_tests_is_exit_zero_and_an_empty_matrix(self):
        r = gpuci("--base", "pr", "--head", "pr", "--json", cwd=self.repo)
        self.assertEqual((r.returncode, r.out), (0, '{"info":[],"left_out":[]}\n'), r.err)

    def test_more_than_256_is_an_error_unless_max_jobs_allows_it(self):
        out = os.path.join(self.root, "gh_big")
        r = gpuci("--base", "main", "--head", "big", "--json", "--github-output", cwd=self.repo,
                  env={"GITHUB_OUTPUT": out})
        self.assertEqual(r.returncode, 1)
        self.assertEqual(r.out, "")
        self.assertFalse(os.path.exists(out))
        last = r.err.splitlines()[-1]
        self.assertIn("more than the 256 jobs a GitHub Actions matrix may hold", last)
        self.assertIn("--max-jobs", last)
        r = gpuci("--base", "main", "--head", "big", "--json", "--max-jobs", "300",
                  cwd=self.repo)
        self.assertEqual(r.returncode, 0, r.err)
        m = matrix(r)
        self.assertEqual(len(m), len(EXPECTED_GPUS) + 257)
        self.assertIn({"test_file": "tests/test_big_256.py", "num_gpus": 256 % 9}, m)
        r = gpuci("--base", "main", "--head", "big", "--max-jobs", "0", cwd=self.repo)
        self.assertEqual(r.returncode, 2)

    # ---- where it reads from -------------------------------------------

    def test_defaults_are_origin_main_and_head(self):
        r = gpuci("--json", cwd=self.clone)
        self.assertEqual(r.returncode, 0, r.err)
        self.assertEqual(r.out, self.changed("--json").out)
        self.assertIn("in origin/main...HEAD", r.err)

    def test_a_bare_clone_gives_the_same_answer(self):
        bare = os.path.join(self.root, "bare.git")
        if not os.path.exists(bare):
            git(self.root, "clone", "-q", "--bare", self.repo, bare)
        want = self.changed("--json").out
        r = gpuci("--base", "main", "--head", "pr", "--json", "--repo", bare)
        self.assertEqual((r.returncode, r.out), (0, want), r.err)
        r = gpuci("--base", "main", "--head", "pr", "--json", cwd=bare)
        self.assertEqual((r.returncode, r.out), (0, want), r.err)

    def test_uncommitted_edits_do_not_count(self):
        work = os.path.join(self.root, "dirty")
        git(self.root, "clone", "-q", self.repo, work)
        git(work, "checkout", "-q", "pr")
        want = gpuci("--json", cwd=work).out
        write(work, "tests/test_added.py", "NUM_GPUS = 7\n")       # edited, not committed
        write(work, "tests/test_untracked.py", "NUM_GPUS = 1\n")   # untracked
        write(work, "tests/test_staged.py", "NUM_GPUS = 1\n")
        git(work, "add", "tests/test_staged.py")                    # staged only
        r = gpuci("--json", cwd=work)
        self.assertEqual((r.returncode, r.out), (0, want), r.err)
        self.assertIn({"test_file": "tests/test_added.py", "num_gpus": 4}, matrix(r))
        shutil.rmtree(work)

    def test_repo_option_from_another_directory(self):
        sub = os.path.join(self.clone, "tests", "plugin_contracts")
        r = gpuci("--json", "--repo", sub, cwd="/")
        self.assertEqual(r.returncode, 0, r.err)
        self.assertEqual(r.out, gpuci("--json", cwd=self.clone).out)
        # From a subfolder, paths stay relative to the top, patterns too.
        r2 = gpuci("--json", cwd=sub)
        self.assertEqual(r2.out, r.out)

    # ---- errors ----------------------------------------------------------

    def assert_one_line_error(self, r, code, *fragments):
        self.assertEqual(r.returncode, code, r.err)
        self.assertEqual(r.out, "")
        self.assertEqual(r.err.count("\n"), 1, r.err)
        self.assertTrue(r.err.startswith("gpuci changed: "), r.err)
        for f in fragments:
            self.assertIn(f, r.err)

    def test_bad_revision_is_exit_2_with_one_line(self):
        self.assert_one_line_error(gpuci("--base", "nope", "--json", cwd=self.repo), 2,
                                   "unknown revision 'nope'")
        self.assert_one_line_error(gpuci("--base", "main", "--head", "no/such", cwd=self.repo),
                                   2, "unknown revision 'no/such'")
        # The default base is missing in a repository without a remote: say how to get it.
        self.assert_one_line_error(gpuci(cwd=self.repo), 2, "'origin/main'",
                                   "git fetch origin main")
        tree = git(self.repo, "rev-parse", "main^{tree}").decode().strip()
        self.assert_one_line_error(gpuci("--base", tree, cwd=self.repo), 2, "not name a commit")
        # git says no more than "missing" for a missing @{-N}: gpuci says what it means.
        r = gpuci("--base", "@{-99}", cwd=self.repo)
        self.assert_one_line_error(r, 2, "unknown revision '@{-99}'", "earlier checkout")

    def test_not_a_repository_is_exit_2_with_one_line(self):
        empty = os.path.join(self.root, "empty")
        os.makedirs(empty, exist_ok=True)
        self.assert_one_line_error(gpuci("--repo", empty, "--base", "main"), 2,
                                   "not a git repository")
        self.assert_one_line_error(gpuci("--repo", os.path.join(self.root, "missing")), 2,
                                   "not a git repository")

    def test_no_merge_base_is_exit_2_with_one_line(self):
        self.assert_one_line_error(gpuci("--base", "main", "--head", "orphan", cwd=self.repo),
                                   2, "no merge base of 'main' and 'orphan'")
        # A shallow clone (actions/checkout's default depth) stops before the branch point.
        shallow = os.path.join(self.root, "shallow")
        git(self.root, "clone", "-q", "--depth", "1", "-b", "pr", "file://" + self.repo,
            shallow)
        git(shallow, "fetch", "-q", "--depth", "1", "origin", "main:refs/remotes/origin/main")
        r = gpuci(cwd=shallow)
        self.assert_one_line_error(r, 2, "no merge base of 'origin/main' and 'HEAD'", "shallow",
                                   "fetch-depth: 0")
        shutil.rmtree(shallow)

    def test_usage_errors(self):
        for args in (["--nope"], ["extra"], ["--default-gpus", "-1"], ["--max-jobs", "x"],
                     ["--base"]):
            with self.subTest(args=args):
                r = gpuci(*args, cwd=self.repo)
                self.assertEqual(r.returncode, 2, r.err)
                self.assertIn("gpuci changed: ", r.err)

    def test_missing_git_says_what_was_tried_and_what_to_install(self):
        r = self.changed("--json", env={"GPUCI_GIT": "/nonexistent/git"})
        self.assert_one_line_error(r, 1, "cannot run git: '/nonexistent/git' (from $GPUCI_GIT)",
                                   "No such file or directory", "apt-get install -y git")
        # Not on PATH: the message names PATH, as that is what was searched.
        r = self.changed("--json", env={"GPUCI_GIT": "gpuci-no-such-git"})
        self.assert_one_line_error(r, 1, "'gpuci-no-such-git' (from $GPUCI_GIT) was not found "
                                   "on PATH (PATH=" + GIT_ENV["PATH"] + ")",
                                   "apt-get install -y git")
        # $GPUCI_GIT names the git that runs: the real one by its path works.
        r = self.changed("--json", env={"GPUCI_GIT": shutil.which("git")})
        self.assertEqual((r.returncode, r.out), (0, self.changed("--json").out), r.err)

    def wrapped_git(self, name, script):
        """A $GPUCI_GIT that runs git, except as script says (sh, $REAL is git)."""
        path = os.path.join(self.root, name)
        with open(path, "w") as f:
            f.write(f"#!/bin/sh\nREAL={shutil.which('git')}\n{script}\nexec \"$REAL\" \"$@\"\n")
        os.chmod(path, 0o755)
        return path

    def test_git_dying_mid_batch_is_a_clean_error(self):
        # cat-file killed once it has sent n bytes: while resolving, then while
        # reading files. (The wrapper keeps no copy of the socket past that.)
        cut = self.wrapped_git("cut-git", 'case " $* " in *" cat-file "*) '
                               'f="$CUTDIR/fifo.$$"; mkfifo "$f"; "$REAL" "$@" >"$f" & g=$!; '
                               'head -c "$CUT" <"$f"; kill -9 $g; rm -f "$f"; exit 0;; esac')
        for n in ("0", "150", "400", "2000"):
            with self.subTest(cut=n):
                r = self.changed("--json", env={"GPUCI_GIT": cut, "CUT": n, "CUTDIR": self.root})
                self.assert_one_line_error(r, 1, "git cat-file --batch ended while reading "
                                           "objects")
        # Killed outright once it has read its first question.
        kill = self.wrapped_git("kill-git", 'case " $* " in *" cat-file "*) '
                                'read line; kill -9 $$;; esac')
        r = self.changed("--json", env={"GPUCI_GIT": kill})
        self.assert_one_line_error(r, 1, "git cat-file --batch ended", "killed by signal 9")

    def test_malformed_git_output_is_a_system_error_naming_it(self):
        bad = self.wrapped_git("bad-git", 'case " $* " in *" diff-tree "*) '
                               "printf ':100644 100644 xyz M\\000tests/test_a.py\\000'; "
                               "exit 0;; esac")
        r = self.changed("--json", env={"GPUCI_GIT": bad})
        self.assert_one_line_error(r, 1, "git diff-tree -z --raw printed a record gpuci cannot "
                                   "read at byte 0", ":100644 100644 xyz M")

    def test_revisions_are_never_options_nor_several_lines(self):
        marker = os.path.join(self.root, "written-by-git")
        for rev in (f"--output={marker}", "-h", "--all", "-"):
            with self.subTest(rev=rev):
                r = gpuci("--base", rev, "--head", "pr", "--json", cwd=self.repo)
                self.assert_one_line_error(r, 2, f"unknown revision '{rev}'")
        self.assertFalse(os.path.exists(marker))
        r = gpuci("--base", "main\npr", "--head", "pr", cwd=self.repo)
        self.assertEqual(r.returncode, 2, r.err)
        self.assertIn("a revision cannot hold a newline", r.err)
        # git ends cat-file on some names (no upstream here): still a bad revision.
        r = gpuci("--base", "main@{upstream}", "--head", "pr", cwd=self.repo)
        self.assert_one_line_error(r, 2, "unknown revision 'main@{upstream}'", "no upstream")

    def test_environment_cannot_change_what_patterns_mean(self):
        want = self.changed("--json")
        self.assertEqual(want.returncode, 0, want.err)
        for var in ("GIT_LITERAL_PATHSPECS", "GIT_GLOB_PATHSPECS", "GIT_ICASE_PATHSPECS"):
            with self.subTest(var=var):
                r = self.changed("--json", env={var: "1"})
                self.assertEqual((r.returncode, r.out), (0, want.out), r.err)
        # --repo names the repository: a GIT_DIR elsewhere does not redirect it.
        r = gpuci("--base", "main", "--head", "pr", "--json", "--repo", self.repo, cwd="/",
                  env={"GIT_DIR": os.path.join(self.root, "nowhere"),
                       "GIT_INDEX_FILE": "/nonexistent"})
        self.assertEqual((r.returncode, r.out), (0, want.out), r.err)
        # Without --repo, GIT_DIR is honoured, as git itself would.
        r = gpuci("--base", "main", "--head", "pr", "--json", cwd="/",
                  env={"GIT_DIR": os.path.join(self.repo, ".git")})
        self.assertEqual((r.returncode, r.out), (0, want.out), r.err)

    def test_sha256_repository(self):
        root = os.path.join(self.root, "sha256")
        os.makedirs(root)
        try:
            git(root, "init", "-q", "--object-format=sha256", "-b", "main")
        except RuntimeError as e:
            self.skipTest(f"this git cannot make a SHA-256 repository: {e}")
        write(root, "tests/test_old.py", "NUM_GPUS = 2\n" + BODY)
        write(root, "tests/test_keep.py", "NUM_GPUS = 1\n")
        git(root, "add", "-A")
        git(root, "commit", "-q", "-m", "base")
        git(root, "checkout", "-q", "-b", "pr")
        git(root, "mv", "tests/test_old.py", "tests/test_new.py")
        write(root, "tests/test_keep.py", "NUM_GPUS = 3\n")
        write(root, "tests/test_added.py", "NUM_GPUS = 4\n")
        git(root, "add", "-A")
        git(root, "commit", "-q", "-m", "pr")
        r = gpuci("--base", "main", "--head", "pr", "--json", cwd=root)
        self.assertEqual(r.returncode, 0, r.err)
        self.assertEqual(matrix(r), [{"test_file": "tests/test_added.py", "num_gpus": 4},
                                     {"test_file": "tests/test_keep.py", "num_gpus": 3},
                                     {"test_file": "tests/test_new.py", "num_gpus": 2}])
        r = gpuci("--base", "main", "--head", "pr", cwd=root)
        mb = git(root, "merge-base", "main", "pr").decode().strip()
        self.assertEqual(len(mb), 64)
        self.assertIn(f"(merge base {mb[:12]})", r.err)
        self.assertIn("R   2 GPUs  tests/test_new.py  (from tests/test_old.py, 100% similar)",
                      r.err)

    def test_repository_of_another_user_is_refused_with_gits_advice(self):
        if os.geteuid() != 0:
            self.skipTest("needs root to give a repository to another user "
                          "(the suite also runs as a normal user)")
        other = os.path.join(self.root, "other")
        shutil.copytree(self.repo, other, symlinks=True)
        for top, dirs, files in os.walk(other):
            for n in dirs + files:
                os.lchown(os.path.join(top, n), 65534, 65534)
        os.lchown(other, 65534, 65534)
        try:
            r = gpuci("--base", "main", "--head", "pr", "--repo", other)
            self.assert_one_line_error(r, 1, "cannot open the git repository at",
                                       "dubious ownership",
                                       "git config --global --add safe.directory")
        finally:
            shutil.rmtree(other)

    def test_help_teaches_the_command(self):
        for argv in ([GPUCI, "changed", "--help"], [GPUCI, "help", "changed"]):
            r = subprocess.run(argv, capture_output=True, text=True, timeout=30)
            self.assertEqual(r.returncode, 0)
            self.assertIn("usage: gpuci changed", r.stdout)
            self.assertIn("--github-output", r.stdout)
            self.assertIn("Exit status", r.stdout)
        r = subprocess.run([GPUCI, "help"], capture_output=True, text=True, timeout=30)
        self.assertRegex(r.stdout, r"\n  changed +list the test files")


# ---- helpers that git's `*` reaches across '/' -------------------------------

AGENT_FILES = {
    "tests/test_agent/__init__.py": "",
    "tests/test_agent/_fakes.py": "class Fake:\n    pass\n",
    "tests/test_agent/test_x.py": "NUM_GPUS = 2\n",
    "tests/test_y.py": "NUM_GPUS = 1\n",
}
LEFT_OUT = ["tests/test_agent/__init__.py", "tests/test_agent/_fakes.py"]
REASON = ("'tests/test_*.py' matches it only because git's * crosses '/'; its name is not "
          "test_*.py")

# A workflow whose detect step is DETECT (indented for a `run: |` block).
WORKFLOW = """on: pull_request
jobs:
  detect:
    runs-on: x
    outputs:
      matrix: ${{ steps.d.outputs.matrix }}
      has_tests: ${{ steps.d.outputs.has_tests }}
    steps:
      - id: d
        shell: bash
        run: |
DETECT
  run:
    needs: detect
    if: needs.detect.outputs.has_tests == 'true'
    runs-on: x
    strategy:
      matrix: ${{ fromJson(needs.detect.outputs.matrix) }}
    steps:
      - run: python ${{ matrix.info.test_file }}
"""

# THUDM/slime's step, as .github/workflows/pr-test.yml has it.
OLD_DETECTOR = r"""CHANGED=$(git diff --name-only --diff-filter=AM origin/main...HEAD -- 'tests/test_*.py' 'tests/plugin_contracts/test_*.py' || true)
if [ -z "$CHANGED" ]; then
  echo "has_tests=false" >> $GITHUB_OUTPUT
  echo 'matrix={"info":[]}' >> $GITHUB_OUTPUT
else
  MATRIX="["
  FIRST=true
  for filepath in $CHANGED; do
    NGPU=$(grep -oP '^NUM_GPUS\s*=\s*\K\d+' "$filepath" | head -1)
    NGPU=${NGPU:-8}
    if [ "$FIRST" = true ]; then FIRST=false; else MATRIX+=","; fi
    MATRIX+="{\"test_file\":\"$filepath\",\"num_gpus\":$NGPU}"
  done
  MATRIX+="]"
  echo "has_tests=true" >> $GITHUB_OUTPUT
  echo "matrix={\"info\":$MATRIX}" >> $GITHUB_OUTPUT
fi"""


@unittest.skipIf(shutil.which("git") is None, "needs git")
class LeftOutTest(unittest.TestCase):
    """A branch adding a test package with its __init__.py and a helper, as slime has."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="gpuci-changed-agent-")
        cls.repo = os.path.join(cls.tmp.name, "repo")
        os.mkdir(cls.repo)
        git(cls.repo, "init", "-q", "-b", "main")
        write(cls.repo, "README.md", "hi\n")
        git(cls.repo, "add", "-A")
        git(cls.repo, "commit", "-q", "-m", "base")
        git(cls.repo, "checkout", "-q", "-b", "pr")
        for path, text in AGENT_FILES.items():
            write(cls.repo, path, text)
        git(cls.repo, "add", "-A")
        git(cls.repo, "commit", "-q", "-m", "pr")
        # A helper whose name tries to inject a workflow command.
        git(cls.repo, "checkout", "-q", "-b", "evil")
        write(cls.repo, "tests/test_agent/x\n::error::pwned.py", "x = 1\n")
        git(cls.repo, "add", "-A")
        git(cls.repo, "commit", "-q", "-m", "evil")
        git(cls.repo, "checkout", "-q", "pr")

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def changed(self, *args, head="pr", **kw):
        return gpuci("--base", "main", "--head", head, *args, cwd=self.repo, **kw)

    def test_default_lists_the_tests_and_names_the_helpers_left_out(self):
        r = self.changed("--json")
        self.assertEqual(r.returncode, 0, r.err)
        self.assertEqual(matrix(r), [{"test_file": "tests/test_agent/test_x.py", "num_gpus": 2},
                                     {"test_file": "tests/test_y.py", "num_gpus": 1}])
        lines = [l for l in r.err.splitlines() if l.startswith("gpuci changed: left out ")]
        self.assertEqual(lines, [f"gpuci changed: left out {p}: {REASON} (--git-pathspec keeps "
                                 "git's meaning)" for p in LEFT_OUT])
        self.assertEqual(json.loads(r.out)["left_out"], [
            {"file": p, "pattern": "tests/test_*.py", "reason": REASON} for p in LEFT_OUT])
        # Nothing read from the helpers: no NUM_GPUS warning about them.
        self.assertNotIn("warning", r.err)
        # The same with the listing only.
        self.assertEqual(self.changed().err, r.err)

    def test_git_pathspec_lists_what_git_lists(self):
        r = self.changed("--json", "--git-pathspec", "--diff-filter", "AM")
        self.assertEqual(r.returncode, 0, r.err)
        got = [e["test_file"] for e in matrix(r)]
        want = git_list(self.repo, "main", "pr", "AM")
        self.assertEqual(got, want)
        self.assertEqual(sorted(got), sorted(AGENT_FILES))
        self.assertEqual(left_out(r), [])
        self.assertNotIn("left out", r.err)
        # Each helper is listed with a warning that says why it should not be.
        for p in LEFT_OUT:
            self.assertIn(f"gpuci changed: warning: {p}: listed as a test (8 GPUs), but {REASON} "
                          "(gpuci changed without --git-pathspec leaves it out)\n", r.err)
        self.assertEqual(r.out, self.changed("--json", "--git-pathspec").out)

    def test_github_output_keeps_its_shape(self):
        out = os.path.join(self.tmp.name, "gh_out")
        runs = [((), ["tests/test_agent/test_x.py", "tests/test_y.py"]),
                (("--git-pathspec",), git_list(self.repo, "main", "pr", "AMR"))]
        for args, files in runs:
            with self.subTest(args=args):
                r = self.changed("--github-output", *args, env={"GITHUB_OUTPUT": out})
                self.assertEqual((r.returncode, r.out), (0, ""), r.err)
                with open(out, encoding="utf-8") as f:
                    lines = f.read().split("\n")
                os.remove(out)
                self.assertEqual(len(lines), 3, lines)
                self.assertEqual(lines[0], "has_tests=true")
                self.assertTrue(lines[1].startswith('matrix={"info":[{"test_file":'), lines)
                self.assertEqual(lines[2], "")
                m = json.loads(lines[1][len("matrix="):])
                self.assertEqual(list(m), ["info"])
                self.assertEqual([e["test_file"] for e in m["info"]], files)
                self.assertEqual(lines[1], "matrix=" + gh_matrix(self.changed("--json", *args))
                                 .rstrip("\n"))

    def test_a_name_cannot_inject_a_workflow_command(self):
        evil = "tests/test_agent/x\n::error::pwned.py"
        r = self.changed("--json", head="evil", env={"GITHUB_ACTIONS": "true"})
        self.assertEqual(r.returncode, 0, r.err)
        self.assertIn(evil, left_out(r))
        self.assertIn('gpuci changed: left out "tests/test_agent/x\\n::error::pwned.py": ',
                      r.err)
        self.assertEqual([l for l in r.err.splitlines() if l.startswith("::error")], [])
        self.assertIn("::warning file=tests/test_agent/x%0A%3A%3Aerror%3A%3Apwned.py,title="
                      "gpuci changed%3A left out::" + REASON, r.err)
        r = self.changed("--json", "--git-pathspec", head="evil", env={"GITHUB_ACTIONS": "true"})
        self.assertIn(evil, [e["test_file"] for e in matrix(r)])
        self.assertEqual([l for l in r.err.splitlines() if l.startswith("::error")], [])

    def test_patterns_of_every_shape(self):
        cases = [
            # (pattern, listed, left out)
            ("tests/test_*.py", ["tests/test_agent/test_x.py", "tests/test_y.py"], LEFT_OUT),
            ("./tests/test_*.py", ["tests/test_agent/test_x.py", "tests/test_y.py"], LEFT_OUT),
            ("tests/*.py", sorted(AGENT_FILES), []),         # every name is *.py
            ("tests/test_agent", sorted(AGENT_FILES)[:3], []),  # a folder: all of it
            ("tests/test_agent/_fakes.py", ["tests/test_agent/_fakes.py"], []),
            ("tests/test_?.py", ["tests/test_y.py"], []),
            ("tests/*/test_*.py", ["tests/test_agent/test_x.py"], []),
            ("*", sorted(AGENT_FILES), []),
            ("test_*.py", [], []),                           # anchored at the top
        ]
        for pattern, listed, out in cases:
            with self.subTest(pattern=pattern):
                r = self.changed("--json", "--pattern", pattern)
                self.assertEqual(r.returncode, 0, r.err)
                self.assertEqual([e["test_file"] for e in matrix(r)], listed)
                self.assertEqual(left_out(r), out)
                self.assertEqual(listed, git_list(self.repo, "main", "pr", "AMR",
                                                  [pattern.removeprefix("./")],
                                                  git_pathspec=False))
                r = self.changed("--json", "--pattern", pattern, "--git-pathspec")
                self.assertEqual([e["test_file"] for e in matrix(r)],
                                 git_list(self.repo, "main", "pr", "AMR",
                                          [pattern.removeprefix("./")]))
        for p in ("!tests/x.py", "#x", ".", "tests/../x", "a//b", "x "):
            with self.subTest(pattern=p):
                r = self.changed("--pattern", p)
                self.assertEqual(r.returncode, 2, r.err)
                self.assertEqual(len(r.err.splitlines()), 1, r.err)

    # ---- gpuci plan --changed: the detect step's own options -------------

    def plan(self, detect):
        wf = os.path.join(self.tmp.name, "wf.yml")
        body = "\n".join("          " + l for l in detect.splitlines())
        with open(wf, "w") as f:
            f.write(WORKFLOW.replace("DETECT", body))
        r = subprocess.run([GPUCI, "plan", "--workflow", wf, "--changed", "--base", "main",
                            "--json"], cwd=self.repo, env=GIT_ENV, capture_output=True,
                           text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        jobs = {j["name"]: j for j in json.loads(r.stdout)["jobs"]}
        return [e["info"]["test_file"] for e in jobs["run"]["matrix"]], r.stderr

    def test_plan_follows_the_detect_steps_flags(self):
        files, err = self.plan("gpuci changed --github-output")
        self.assertEqual(files, ["tests/test_agent/test_x.py", "tests/test_y.py"])
        self.assertNotIn("listed as a test", err)
        # The flag, also on a continued line.
        for step in ("gpuci changed --github-output --git-pathspec",
                     "gpuci changed --github-output \\\n  --git-pathspec"):
            with self.subTest(step=step):
                files, err = self.plan(step)
                self.assertEqual(files, git_list(self.repo, "main", "pr", "AMR"))
                for p in LEFT_OUT:
                    self.assertIn(f"gpuci plan: warning: {p}: listed as a test (8 GPUs)", err)
        # Another option after a continued line is read too.
        files, _ = self.plan("gpuci changed --github-output \\\n  --pattern 'tests/test_y*'")
        self.assertEqual(files, ["tests/test_y.py"])

    def test_plan_of_the_old_detector_is_what_ci_runs(self):
        # The old step hands git its pathspecs: CI runs the helpers as tests,
        # with 8 GPUs. The plan shows that, and warns about each.
        files, err = self.plan(OLD_DETECTOR)
        self.assertEqual(["tests/" + f for f in files], git_list(self.repo, "main", "pr", "AM"))
        for p in LEFT_OUT:
            self.assertIn(f"gpuci plan: warning: {p}: listed as a test (8 GPUs), but {REASON}",
                          err)


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit("usage: changed_test.py PATH_TO_GPUCI")
    GPUCI = os.path.abspath(sys.argv.pop(1))
    unittest.main(verbosity=2)
