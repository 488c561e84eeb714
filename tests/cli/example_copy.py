"""A temporary copy of an example repository, for end-to-end tests to change.

Shared by lint_test.py and new_test_test.py (run as scripts, so this
module is found next to them).
"""
import os
import shutil
import subprocess
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VIME_MINI = os.path.join(ROOT, "examples", "vime-mini")


def run(cmd, cwd, env=None, timeout=120):
    return subprocess.run(cmd, capture_output=True, text=True, cwd=cwd, env=env, timeout=timeout)


class ExampleCopy:
    """examples/vime-mini (or another example) copied to a fresh directory."""

    def __init__(self, gpuci, example=VIME_MINI, prefix="gpuci-example-"):
        self.gpuci_path = gpuci
        self.tmp = tempfile.mkdtemp(prefix=prefix)
        self.dir = os.path.join(self.tmp, "repo")
        shutil.copytree(example, self.dir)

    def close(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def path(self, rel):
        return os.path.join(self.dir, rel)

    def read(self, rel):
        with open(self.path(rel), encoding="utf-8") as f:
            return f.read()

    def write(self, rel, text):
        os.makedirs(os.path.dirname(self.path(rel)), exist_ok=True)
        with open(self.path(rel), "w", encoding="utf-8") as f:
            f.write(text)

    def replace(self, rel, old, new, count=1):
        text = self.read(rel)
        if old not in text:
            raise AssertionError(f"{rel}: no {old!r}")
        self.write(rel, text.replace(old, new, count))

    def line_of(self, rel, needle, nth=0):
        """The 1-based line of the nth line of rel that holds needle."""
        hits = [i + 1 for i, l in enumerate(self.read(rel).split("\n")) if needle in l]
        if len(hits) <= nth:
            raise AssertionError(f"{rel}: {needle!r} not found {nth + 1} times")
        return hits[nth]

    def gpuci(self, *args, env=None):
        return run([self.gpuci_path, *args], self.dir, env=env)

    def snapshot(self):
        """Every file's bytes, to prove that nothing changed."""
        out = {}
        for top, _, files in os.walk(self.dir):
            for name in files:
                p = os.path.join(top, name)
                with open(p, "rb") as f:
                    out[os.path.relpath(p, self.dir)] = f.read()
        return out

    def git(self, *args):
        r = run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "-c",
                 "init.defaultBranch=main", *args], self.dir)
        if r.returncode != 0:
            raise AssertionError(f"git {args}: {r.stderr}")
        return r.stdout
