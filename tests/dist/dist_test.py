#!/usr/bin/env python3
"""make dist, and each artifact installed where a user would install it.

Usage: dist_test.py PATH/TO/BUILD/gpuci

Builds the `dist` target of the binary's build folder (packaging/dist.sh),
then:
- the binary loads nothing but libc and libm at start, and no glibc symbol
  newer than 2.34 (objdump); every library any command loads at run time
  (the dynamic loader's own log, LD_DEBUG) is one gpuci documents;
- the tarball holds the binary, every man page, the completion, LICENSE and
  README, and its binary runs from where it is unpacked;
- the .deb's Depends is the glibc that objdump finds, its files are in
  Debian's places, and it installs with dpkg -i into a fresh Debian root
  (debootstrap --variant=minbase bookworm, once, cached in the build folder)
  that has git and python3 but no libgit2, no libyaml and no libsqlite3;
  there gpuci changed, render --check, plan, lint, run and history work on
  examples/vime-mini (root only: debootstrap and chroot need it);
- the wheel installs with pip into a fresh venv, puts gpuci on the venv's
  PATH, shows its metadata in `pip show`, and `gpuci changed --json` works
  from there; pip uninstall takes it away again;
- building twice gives the same bytes (timestamps are the commit's).

What it cannot do it skips with the reason: a sanitizer build (not
distributable), missing packaging tools, no root for the fresh root.
"""
import fnmatch
import glob
import gzip
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import unittest
import zipfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "harness"))
from debian import debian_mirror  # noqa: E402  (tests/harness/debian.py)

BIN = os.path.abspath(sys.argv.pop(1)) if len(sys.argv) > 1 else "build/gpuci"
BUILD = os.path.dirname(BIN)
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXAMPLE = os.path.join(ROOT, "examples", "vime-mini")
DIST = os.path.join(BUILD, "dist")
# The oldest glibc gpuci promises to run on (README "Installing").
GLIBC_FLOOR = (2, 34)
# What the binary may load, at start or later (doc/DESIGN.md, section 6):
# the C library and libm, NVML where the machine has NVIDIA's driver, and
# the C library's own name-service modules.
ALLOWED_LIBS = re.compile(r"^(libc\.so\.6|libm\.so\.6|libnvidia-ml\.so\.1|libnss_\w+\.so\.2)$")
GIT_ENV = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"}
for k in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GITHUB_ACTIONS", "GITHUB_OUTPUT",
          "GITHUB_STEP_SUMMARY"):
    os.environ.pop(k, None)


def run(args, check=True, timeout=300, **kw):
    r = subprocess.run(args, capture_output=True, text=True, timeout=timeout, **kw)
    if check and r.returncode != 0:
        raise AssertionError(f"{args}: rc {r.returncode}\n{r.stdout}\n{r.stderr}")
    return r


def needed(path):
    out = run(["objdump", "-p", path]).stdout
    return re.findall(r"^\s*NEEDED\s+(\S+)", out, re.M)


def glibc_max(path):
    out = run(["objdump", "-T", path]).stdout
    versions = {tuple(int(x) for x in v.split(".")) for v in re.findall(r"GLIBC_([\d.]+)", out)}
    return max(versions)


def project_version():
    with open(os.path.join(ROOT, "CMakeLists.txt")) as f:
        return re.search(r"project\(gpuci VERSION (\S+)", f.read()).group(1)


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def wheel_python():
    """Debian's python3 first (its wheel, pip and venv are what the user has)."""
    for p in ("/usr/bin/python3", sys.executable):
        if os.path.exists(p) and run([p, "-c", "import wheel, venv, ensurepip"],
                                     check=False).returncode == 0:
            return p
    return None


def make_repo(path):
    """A git repository with main and a branch that adds one test of 2 GPUs."""
    env = dict(os.environ, **GIT_ENV)
    run(["git", "init", "-q", "-b", "main", path], env=env)
    os.makedirs(os.path.join(path, "tests"))
    with open(os.path.join(path, "tests", "test_old.py"), "w") as f:
        f.write("NUM_GPUS = 1\n")
    run(["git", "-C", path, "add", "."], env=env)
    run(["git", "-C", path, "commit", "-q", "-m", "main"], env=env)
    run(["git", "-C", path, "checkout", "-q", "-b", "pr"], env=env)
    with open(os.path.join(path, "tests", "test_new.py"), "w") as f:
        f.write('"""A new test."""\nNUM_GPUS = 2\n')
    run(["git", "-C", path, "add", "."], env=env)
    run(["git", "-C", path, "commit", "-q", "-m", "pr"], env=env)


def check_changed(test, out):
    matrix = json.loads(out)
    test.assertEqual([(t["test_file"], t["num_gpus"]) for t in matrix["info"]],
                     [("tests/test_new.py", 2)], out)


class Dist(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if any(lib.startswith(("libasan", "libubsan")) for lib in needed(BIN)):
            raise unittest.SkipTest("a sanitizer build is not distributable; e2e/dist runs "
                                    "in the normal build (make test)")
        missing = [pkg for tool, pkg in (("objdump", "binutils"), ("dpkg-deb", "dpkg"),
                                         ("dpkg-shlibdeps", "dpkg-dev"), ("git", "git"))
                   if not shutil.which(tool)]
        cls.python = wheel_python()
        if not cls.python:
            missing.append("python3-wheel python3-venv")
        if missing:
            raise unittest.SkipTest("make dist needs: apt-get install -y " + " ".join(missing))
        cls.version = project_version()
        r = run(["cmake", "--build", BUILD, "--target", "dist"], check=False, timeout=600)
        if r.returncode != 0:
            raise AssertionError(f"make dist failed:\n{r.stdout}\n{r.stderr}")
        v = cls.version
        cls.tarball = os.path.join(DIST, f"gpuci-{v}-linux-x86_64.tar.gz")
        cls.deb = glob.glob(os.path.join(DIST, f"gpuci_{v}_*.deb"))
        cls.deb = cls.deb[0] if len(cls.deb) == 1 else None
        cls.wheel = os.path.join(DIST, f"gpuci-{v}-py3-none-manylinux_2_34_x86_64.whl")
        cls.tmp = tempfile.mkdtemp(prefix="gpuci-dist-")
        cls.pages = sorted(os.path.basename(p)
                           for p in glob.glob(os.path.join(BUILD, "doc", "man", "*.1")))

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def mkdtemp(self):
        return tempfile.mkdtemp(dir=self.tmp)

    def test_artifacts_are_named_by_the_one_version(self):
        for path in (self.tarball, self.deb, self.wheel):
            self.assertTrue(path and os.path.isfile(path), f"{path} in {os.listdir(DIST)}")
        said = run([BIN, "--version"]).stdout
        self.assertTrue(said.startswith(f"gpuci {self.version} (commit "), said)

    def test_the_binary_needs_nothing_but_glibc(self):
        for lib in needed(BIN):
            self.assertIn(lib, ("libc.so.6", "libm.so.6"))
        self.assertLessEqual(glibc_max(BIN), GLIBC_FLOOR)

    def test_libraries_loaded_at_run_time_are_the_documented_ones(self):
        work = self.mkdtemp()
        repo = os.path.join(work, "repo")
        shutil.copytree(EXAMPLE, repo)
        locks = os.path.join(work, "locks")
        os.mkdir(locks)
        git = os.path.join(work, "git")
        make_repo(git)
        logs = os.path.join(work, "ld")
        os.mkdir(logs)
        env = dict(os.environ, LD_DEBUG="libs", LD_DEBUG_OUTPUT=os.path.join(logs, "ld"),
                   VIME_MINI_SECONDS="0", VIME_MINI_RECORD=os.path.join(work, "record"))
        pattern = os.path.join(locks, "gpu_{gpu_id}.lock")
        for args, cwd in ((["--version"], repo), (["render", "--check"], repo),
                          (["lint"], repo), (["labels"], repo),
                          (["plan", "--label", "run-ci-short"], repo),
                          (["run", "--label", "run-ci-short", "--gpus", "8",
                            "--lock-path-pattern", pattern], repo),
                          (["history"], repo),
                          (["lock", "status", "--lock-path-pattern", pattern,
                            "--total-gpus", "8"], repo),
                          (["changed", "--base", "main", "--json"], git)):
            r = run([BIN, *args], check=False, cwd=cwd, env=env)
            self.assertEqual(r.returncode, 0, f"{args}: {r.stdout}\n{r.stderr}")
        seen = set()
        for path in glob.glob(os.path.join(logs, "ld.*")):
            with open(path, errors="replace") as f:
                text = f.read()
            program = re.search(r"initialize program: (\S+)", text)
            if program and os.path.basename(program.group(1)) == "gpuci":
                seen |= set(re.findall(r"find library=(\S+) \[", text))
        self.assertIn("libc.so.6", seen)
        self.assertEqual({lib for lib in seen if not ALLOWED_LIBS.match(lib)}, set(), seen)

    def test_the_tarball_runs_where_it_is_unpacked(self):
        where = self.mkdtemp()
        with tarfile.open(self.tarball) as t:
            names = t.getnames()
            for m in t.getmembers():
                self.assertEqual((m.uid, m.gid), (0, 0), m.name)
            t.extractall(where)
        top = f"gpuci-{self.version}-linux-x86_64"
        want = {f"{top}/bin/gpuci", f"{top}/LICENSE", f"{top}/README.md",
                f"{top}/share/bash-completion/completions/gpuci"}
        want |= {f"{top}/share/man/man1/{p}" for p in self.pages}
        self.assertEqual(want - set(names), set())
        self.assertGreaterEqual(len(self.pages), 10)
        exe = os.path.join(where, top, "bin", "gpuci")
        self.assertEqual(needed(exe), needed(BIN))
        self.assertEqual(run([exe, "--version"]).stdout, run([BIN, "--version"]).stdout)

    def readme_installing(self):
        with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as f:
            return f.read().split("\n## Installing\n", 1)[1].split("\n## ", 1)[0]

    def test_the_readme_names_the_files_this_version_makes(self):
        text = self.readme_installing()
        named = set(re.findall(r"gpuci[-_][\w.+-]*?\.(?:whl|deb|tar\.gz)", text))
        made = {os.path.basename(p) for p in (self.tarball, self.deb, self.wheel)}
        self.assertEqual(named, made)

    def test_the_readmes_tarball_line_installs_under_a_prefix(self):
        line = next(ln for ln in self.readme_installing().splitlines()
                    if "| sudo tar " in ln)
        tar = line.split("| sudo ", 1)[1]
        prefix = self.mkdtemp()
        with open(self.tarball, "rb") as f:
            r = subprocess.run(["sh", "-c", tar.replace("/usr/local", prefix)], stdin=f,
                               capture_output=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(sorted(os.listdir(prefix)), ["bin", "share"])
        self.assertEqual(run([os.path.join(prefix, "bin", "gpuci"), "--version"]).stdout,
                         run([BIN, "--version"]).stdout)
        self.assertTrue(os.path.isfile(os.path.join(prefix, "share", "man", "man1", "gpuci.1")))

    def test_the_deb_depends_on_the_glibc_objdump_finds(self):
        fields = {f: run(["dpkg-deb", "-f", self.deb, f]).stdout.strip()
                  for f in ("Package", "Version", "Architecture", "Depends", "Recommends")}
        self.assertEqual(fields["Package"], "gpuci")
        self.assertEqual(fields["Version"], self.version)
        self.assertEqual(fields["Architecture"], run(["dpkg", "--print-architecture"]).stdout.strip())
        self.assertIn("git", fields["Recommends"])
        m = re.fullmatch(r"libc6 \(>= ([\d.]+)\)", fields["Depends"])
        self.assertIsNotNone(m, fields["Depends"])
        self.assertEqual(tuple(int(x) for x in m.group(1).split(".")), glibc_max(BIN))

    def test_the_deb_puts_files_in_debian_places(self):
        where = self.mkdtemp()
        run(["dpkg-deb", "-x", self.deb, where])
        for rel in ["usr/bin/gpuci", "usr/share/bash-completion/completions/gpuci",
                    "usr/share/doc/gpuci/copyright", "usr/share/doc/gpuci/changelog.gz"] + \
                [f"usr/share/man/man1/{p}.gz" for p in self.pages]:
            self.assertTrue(os.path.isfile(os.path.join(where, rel)), rel)
        with gzip.open(os.path.join(where, "usr/share/man/man1/gpuci.1.gz"), "rt") as f:
            self.assertIn(".TH", f.read())
        self.assertEqual(run([os.path.join(where, "usr/bin/gpuci"), "--version"]).stdout,
                         run([BIN, "--version"]).stdout)

    def test_the_wheel_puts_gpuci_on_the_path_of_a_venv(self):
        with zipfile.ZipFile(self.wheel) as z:
            self.assertIn(f"gpuci-{self.version}.data/scripts/gpuci", z.namelist())
        venv = os.path.join(self.mkdtemp(), "venv")
        run([self.python, "-m", "venv", venv])
        pip = [os.path.join(venv, "bin", "python"), "-m", "pip", "--disable-pip-version-check",
               "--no-input"]
        run([*pip, "install", "--no-index", "--no-cache-dir", self.wheel])
        exe = os.path.join(venv, "bin", "gpuci")
        self.assertTrue(os.access(exe, os.X_OK), exe)
        env = dict(os.environ, PATH=os.path.join(venv, "bin") + ":/usr/bin:/bin")
        self.assertEqual(shutil.which("gpuci", path=env["PATH"]), exe)
        self.assertEqual(run(["gpuci", "--version"], env=env).stdout,
                         run([BIN, "--version"]).stdout)
        show = dict(ln.split(": ", 1) for ln in
                    run([*pip, "show", "gpuci"]).stdout.splitlines() if ": " in ln)
        self.assertEqual(show["Name"], "gpuci")
        self.assertEqual(show["Version"], self.version)
        self.assertEqual(show["License"], "Apache-2.0")
        self.assertTrue(show["Summary"].startswith("GPU CI"), show)
        self.assertTrue(show["Home-page"].startswith("https://"), show)
        self.assertTrue(os.path.isfile(os.path.join(venv, "share", "man", "man1", "gpuci.1")))
        git = os.path.join(self.mkdtemp(), "repo")
        make_repo(git)
        check_changed(self, run(["gpuci", "changed", "--base", "main", "--json"], cwd=git,
                                env=env).stdout)
        run([*pip, "uninstall", "-y", "gpuci"])
        self.assertFalse(os.path.exists(exe))

    def test_building_twice_gives_the_same_bytes(self):
        out = self.mkdtemp()
        run([os.path.join(ROOT, "packaging", "dist.sh"), "--build", BUILD, "--version",
             self.version, "--arch", "x86_64", "--out", out])
        for path in (self.tarball, self.deb, self.wheel):
            self.assertEqual(sha256(os.path.join(out, os.path.basename(path))), sha256(path),
                             os.path.basename(path))


class OwnWorkflows(unittest.TestCase):
    """gpuci's own CI and release workflows: valid, and the release ships what dist makes."""

    WORKFLOWS = os.path.join(ROOT, ".github", "workflows")

    def test_each_passes_gpuci_lint_strict(self):
        files = sorted(glob.glob(os.path.join(self.WORKFLOWS, "*.yml")))
        self.assertEqual([os.path.basename(f) for f in files], ["ci.yml", "release.yml"])
        for path in files:
            r = run([BIN, "lint", "--strict", "--workflow", path], check=False, cwd=ROOT)
            self.assertEqual((r.returncode, r.stdout), (0, ""), f"{path}: {r.stderr}")

    def test_ci_runs_ci_run(self):
        with open(os.path.join(self.WORKFLOWS, "ci.yml")) as f:
            self.assertRegex(f.read(), r"(?m)^\s+\.ci/run$")

    def test_the_release_attaches_the_three_files_of_make_dist(self):
        with open(os.path.join(self.WORKFLOWS, "release.yml")) as f:
            text = f.read()
        self.assertRegex(text, r"(?m)^\s+make dist$")
        globs = re.findall(r"(?m)^\s+(build/dist/\S+)$", text)
        self.assertEqual(len(globs), 3, text)
        v = project_version()
        made = [f"build/dist/gpuci-{v}-linux-x86_64.tar.gz", f"build/dist/gpuci_{v}_amd64.deb",
                f"build/dist/gpuci-{v}-py3-none-manylinux_2_34_x86_64.whl"]
        for name in made:
            self.assertEqual(len([g for g in globs if fnmatch.fnmatch(name, g)]), 1, name)


class FreshRoot(unittest.TestCase):
    """The .deb in a fresh Debian 12 with git and python3, and nothing of gpuci's libraries."""

    @classmethod
    def setUpClass(cls):
        if any(lib.startswith(("libasan", "libubsan")) for lib in needed(BIN)):
            raise unittest.SkipTest("a sanitizer build is not distributable")
        if os.geteuid() != 0:
            raise unittest.SkipTest("installing the .deb into a fresh root needs root "
                                    "(debootstrap, chroot); the other dist tests ran")
        missing = [p for p in ("debootstrap", "unshare", "chroot", "dpkg-deb")
                   if not shutil.which(p)]
        if missing:
            raise unittest.SkipTest("needs " + ", ".join(missing) +
                                    ": apt-get install -y debootstrap")
        debs = glob.glob(os.path.join(DIST, f"gpuci_{project_version()}_*.deb"))
        if len(debs) != 1:
            run(["cmake", "--build", BUILD, "--target", "dist"], timeout=600)
            debs = glob.glob(os.path.join(DIST, f"gpuci_{project_version()}_*.deb"))
        cls.deb = debs[0]
        cls.root = fresh_root()

    def chroot(self, script, check=True, **env):
        """Runs sh -c script in the root, with /proc mounted for it alone."""
        setup = f'mount -t proc proc "{self.root}/proc" && exec chroot "{self.root}" ' \
                '/usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LC_ALL=C.UTF-8 '
        setup += " ".join(f"{k}={v}" for k, v in env.items())
        return run(["unshare", "--mount", "--propagation", "private", "sh", "-c",
                    setup + ' /bin/sh -ec "$0"', script], check=check)

    def test_everything_works_without_gpuci_libraries(self):
        # What the root has and has not.
        libs = os.listdir(os.path.join(self.root, "usr/lib/x86_64-linux-gnu"))
        self.assertEqual([lib for lib in libs if re.match(r"lib(git2|yaml|sqlite3)", lib)], [])
        self.chroot("command -v git && command -v python3")
        shutil.copy(self.deb, os.path.join(self.root, "tmp", "gpuci.deb"))
        self.chroot("dpkg -i /tmp/gpuci.deb >/dev/null && rm /tmp/gpuci.deb")
        self.addCleanup(self.chroot, "dpkg --purge gpuci >/dev/null", False)
        self.assertTrue(self.chroot("dpkg -s gpuci").stdout.find("Status: install ok installed") >= 0)
        self.assertEqual(self.chroot("gpuci --version").stdout, run([BIN, "--version"]).stdout)
        self.assertTrue(os.path.isfile(os.path.join(self.root, "usr/share/man/man1/gpuci.1.gz")))

        work = os.path.join(self.root, "tmp", "w")
        shutil.rmtree(work, ignore_errors=True)
        os.makedirs(work)
        self.addCleanup(shutil.rmtree, work, True)
        shutil.copytree(EXAMPLE, os.path.join(work, "vime-mini"))
        os.mkdir(os.path.join(work, "locks"))
        git_env = " ".join(f"{k}={v}" for k, v in GIT_ENV.items())
        self.chroot(f"cd /tmp/w/vime-mini && export {git_env} && git init -q -b main . && "
                    "git add . && git commit -q -m main && git checkout -q -b pr && "
                    "echo '# touched' >> tests/test_qwen2p5_0p5B_short.py && git add . && "
                    "git commit -q -m pr")
        cd = "cd /tmp/w/vime-mini && "
        with open(os.path.join(EXAMPLE, "tests", "test_qwen2p5_0p5B_short.py")) as f:
            gpus = int(re.search(r"(?m)^NUM_GPUS = (\d+)$", f.read()).group(1))
        matrix = json.loads(self.chroot(cd + "gpuci changed --base main --json").stdout)
        self.assertEqual([(t["test_file"], t["num_gpus"]) for t in matrix["info"]],
                         [("tests/test_qwen2p5_0p5B_short.py", gpus)], matrix)
        self.chroot(cd + "gpuci render --check")
        self.assertIn("test_qwen2p5_0p5B_short.py",
                      self.chroot(cd + "gpuci plan --label run-ci-short").stdout)
        self.chroot(cd + "gpuci lint")
        r = self.chroot(cd + "gpuci run --label run-ci-short --gpus 8 --lock-path-pattern "
                        "'/tmp/w/locks/gpu_{gpu_id}.lock'", check=False,
                        VIME_MINI_SECONDS="0", VIME_MINI_RECORD="/tmp/w/record")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        passed = [ln for ln in r.stdout.splitlines() if ln.startswith("passed ")]
        self.assertGreater(len(passed), 0, r.stdout)
        # History is built in: the run's attempts are there, one per test it ran.
        r = self.chroot(cd + "gpuci history --json")
        rows = json.loads(r.stdout)
        self.assertEqual(len(rows), len(passed), r.stdout)
        self.assertEqual({row["status"] for row in rows}, {"passed"}, r.stdout)


def fresh_root():
    """build/dist-root/bookworm: minbase + git + python3, less libsqlite3 (python3 pulls it)."""
    root = os.path.join(BUILD, "dist-root", "bookworm")
    if os.path.isfile(os.path.join(root, ".gpuci-ready")):
        return root
    tmp = root + ".new"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(os.path.dirname(root), exist_ok=True)
    r = run(["debootstrap", "--variant=minbase", "--include=git,python3", "bookworm", tmp,
             debian_mirror()], check=False, timeout=900)
    if r.returncode != 0:
        shutil.rmtree(tmp, ignore_errors=True)
        raise unittest.SkipTest("debootstrap could not make a Debian root (no access to the "
                                f"Debian archive?): {r.stderr.strip().splitlines()[-1:]}")
    run(["chroot", tmp, "dpkg", "--purge", "--force-depends", "libsqlite3-0"])
    run(["chroot", tmp, "apt-get", "clean"])
    with open(os.path.join(tmp, ".gpuci-ready"), "w"):
        pass
    shutil.rmtree(root, ignore_errors=True)
    os.rename(tmp, root)
    return root


if __name__ == "__main__":
    unittest.main(verbosity=2)
