#!/usr/bin/env python3
"""End-to-end tests of shards: `gpuci plan --shards N` and `gpuci run --shard K/N`.

On a copy of examples/vime-mini (simulated tests, 0.2 s each), 8 simulated
GPUs, lock files and histories in a temporary directory:
  - the N shards of run-ci-image's selection (N = 2, 3), run one after
    another, each from its own copy of one history (as a cache restore
    gives every shard job), run together exactly the tests of one unsharded
    run: the JUnit testcases and the histories' new attempts, none twice;
  - plan --shards --json is a matrix GitHub's fromJson takes (include, one
    entry per shard, scalar values, one line), and its digests are the ones
    run --shard accepts;
  - the shard histories imported into one (gpuci history --import) give the
    history of one unsharded run;
  - a history changed since the plan makes its digest refused, before
    anything runs;
  - --shard and --shards errors exit 2.

Run: python3 tests/cli/shard_test.py build/gpuci
"""
import collections
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest
import xml.etree.ElementTree as ET

GPUCI = None
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXAMPLE = os.path.join(ROOT, "examples", "vime-mini")
LABEL = "run-ci-image"


class Repo:
    def __init__(self):
        self.tmp = tempfile.mkdtemp(prefix="gpuci-shard-test.")
        self.root = os.path.join(self.tmp, "repo")
        shutil.copytree(EXAMPLE, self.root)
        self.record = os.path.join(self.tmp, "record")
        os.mkdir(self.record)
        locks = os.path.join(self.tmp, "locks")
        os.mkdir(locks)
        self.pattern = os.path.join(locks, "gpu_{gpu_id}.lock")
        self.workflow = os.path.join(self.root, ".github", "workflows", "pr-test.yml")

    def path(self, name):
        return os.path.join(self.tmp, name)

    def env(self, seconds="0.2"):
        e = {k: v for k, v in os.environ.items()
             if not k.startswith(("VIME_MINI_", "GITHUB_", "GPUCI_TOTAL"))}
        e.update(VIME_MINI_RECORD=self.record, VIME_MINI_SECONDS=seconds)
        return e

    def gpuci(self, *args, seconds="0.2"):
        return subprocess.run([GPUCI, *args], capture_output=True, text=True, cwd=self.root,
                              env=self.env(seconds), timeout=120)

    def run(self, history, *args, seconds="0.2"):
        return self.gpuci("run", "--workflow", self.workflow, "--label", LABEL, "--gpus", "8",
                          "--lock-path-pattern", self.pattern, "--history", history,
                          "--kill-after", "1", *args, seconds=seconds)

    def plan(self, history, n, *args):
        return self.gpuci("plan", "--workflow", self.workflow, "--label", LABEL, "--shards",
                          str(n), "--gpus", "8", "--history", history, *args)

    def attempts(self, history):
        r = self.gpuci("history", "--history", history, "--json", "--limit", "100000")
        assert r.returncode == 0, r.stderr
        return json.loads(r.stdout)

    def close(self):
        shutil.rmtree(self.tmp, ignore_errors=True)


def testcases(path):
    return collections.Counter((tc.get("classname"), tc.get("name"))
                               for tc in ET.parse(path).getroot().iter("testcase"))


def attempt_key(a):
    """What an attempt says of its test, without when, where and how long."""
    return (a["job"], a["identity"], a["gpus"], a["status"], a["attempt"])


def slowest(repo, history):
    """gpuci history --slowest: each test, its args, runs and last status (not the medians)."""
    r = repo.gpuci("history", "--history", history, "--slowest", "100")
    assert r.returncode == 0, r.stderr
    rows = []
    for line in r.stdout.splitlines()[1:]:
        if line.startswith("("):
            continue
        cols = line.split()
        rows.append((cols[0], cols[-3], cols[-1]))  # test, runs, last
    return sorted(rows)


def check_matrix(test, text, n):
    """A matrix strategy.matrix: ${{ fromJson(...) }} takes: one line, include only."""
    test.assertEqual(text.count("\n"), 1, "one line for $GITHUB_OUTPUT")
    test.assertLess(len(text.encode()), 1 << 20)
    m = json.loads(text)
    test.assertIsInstance(m, dict)
    test.assertEqual(list(m), ["include"])  # any other key would be a matrix dimension
    test.assertEqual(len(m["include"]), n)
    test.assertLessEqual(len(m["include"]), 256)
    digests = set()
    for k, e in enumerate(m["include"]):
        test.assertIsInstance(e, dict)
        for v in e.values():
            test.assertIsInstance(v, (str, int, float))
        g = re.fullmatch(r"(\d+)/(\d+)@([0-9a-f]{8})", e["shard"])
        test.assertIsNotNone(g, e)
        test.assertEqual((int(g.group(1)), int(g.group(2))), (k + 1, n))
        digests.add(g.group(3))
        test.assertIsInstance(e["tests"], int)
        test.assertGreaterEqual(e["makespan"], 0)
    test.assertEqual(len(digests), 1, "one split, one digest")
    return m["include"]


class ShardTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.repo = Repo()
        r = cls.repo
        # One unsharded run: its history is what every later job restores.
        cls.seed = r.path("seed.db")
        res = r.run(cls.seed, "--junit", r.path("unsharded.xml"))
        assert res.returncode == 0, res.stdout + res.stderr
        cls.unsharded_cases = testcases(r.path("unsharded.xml"))
        cls.unsharded = collections.Counter(attempt_key(a) for a in r.attempts(cls.seed))
        cls.seed_runs = {a["run_id"] for a in r.attempts(cls.seed)}
        # A second unsharded run on top of the seed: what a merged history should equal.
        cls.twice = r.path("twice.db")
        shutil.copy(cls.seed, cls.twice)
        res = r.run(cls.twice)
        assert res.returncode == 0, res.stdout + res.stderr

    @classmethod
    def tearDownClass(cls):
        cls.repo.close()

    def test_shards_together_run_one_unsharded_run(self):
        r = self.repo
        self.assertGreater(sum(self.unsharded_cases.values()), 10)
        self.assertEqual(max(self.unsharded_cases.values()), 1)
        for n in (2, 3):
            with self.subTest(n=n):
                p = r.plan(self.seed, n, "--json")
                self.assertEqual(p.returncode, 0, p.stderr)
                entries = check_matrix(self, p.stdout, n)
                cases = collections.Counter()
                new = collections.Counter()
                merged = r.path(f"merged-{n}.db")
                shutil.copy(self.seed, merged)
                for k, e in enumerate(entries):
                    # Each shard job restores the same history, runs, uploads its own.
                    h = r.path(f"shard-{n}-{k + 1}.db")
                    shutil.copy(self.seed, h)
                    dry = r.run(h, "--shard", e["shard"], "--dry-run")
                    self.assertEqual(dry.returncode, 0, dry.stdout + dry.stderr)
                    self.assertRegex(dry.stdout, rf"^shard {k + 1} of {n}: {e['tests']} of "
                                     rf"\d+ tests, predicted makespan [\d.]+ s on 8 GPUs")
                    junit = r.path(f"junit-{n}-{k + 1}.xml")
                    res = r.run(h, "--shard", e["shard"], "--junit", junit)
                    self.assertEqual(res.returncode, 0, res.stdout + res.stderr)
                    got = testcases(junit)
                    self.assertEqual(sum(got.values()), e["tests"])
                    cases += got
                    mine = [a for a in r.attempts(h) if a["run_id"] not in self.seed_runs]
                    self.assertEqual(len({a["run_id"] for a in mine}), 1 if mine else 0)
                    new += collections.Counter(attempt_key(a) for a in mine)
                    imp = r.gpuci("history", "--history", merged, "--import", h)
                    self.assertEqual(imp.returncode, 0, imp.stdout + imp.stderr)
                self.assertEqual(cases, self.unsharded_cases)  # each test once, none left out
                self.assertEqual(new, self.unsharded)
                # The merged history: the seed and one run's worth more, as two unsharded runs.
                self.assertEqual(collections.Counter(attempt_key(a) for a in r.attempts(merged)),
                                 collections.Counter(attempt_key(a)
                                                     for a in r.attempts(self.twice)))
                self.assertEqual(slowest(r, merged), slowest(r, self.twice))

    def test_plan_and_run_agree_and_a_changed_history_is_refused(self):
        r = self.repo
        p = r.plan(self.seed, 2, "--json")
        self.assertEqual(p.returncode, 0, p.stderr)
        entries = check_matrix(self, p.stdout, 2)
        human = r.plan(self.seed, 2)
        self.assertEqual(human.returncode, 0, human.stderr)
        for e in entries:
            self.assertIn(f"shard {e['shard']}: {e['tests']} test", human.stdout)
        # Without a digest, the same shard.
        for k, e in enumerate(entries):
            a = r.run(self.seed, "--shard", e["shard"], "--dry-run")
            b = r.run(self.seed, "--shard", f"{k + 1}/2", "--dry-run")
            self.assertEqual(a.returncode, 0, a.stderr)
            self.assertEqual(a.stdout, b.stdout)
        # Another workflow run saved a newer history: one test got much slower.
        changed = r.path("changed.db")
        shutil.copy(self.seed, changed)
        for _ in range(2):
            res = r.run(changed, "--test", "test_glm4_9B.py", seconds="1.5")
            self.assertEqual(res.returncode, 0, res.stdout + res.stderr)
        p2 = r.plan(changed, 2, "--json")
        self.assertEqual(p2.returncode, 0, p2.stderr)
        new_entries = check_matrix(self, p2.stdout, 2)
        self.assertNotEqual(new_entries[0]["shard"], entries[0]["shard"])
        before = len(r.attempts(changed))
        junit = r.path("refused.xml")
        res = r.run(changed, "--shard", entries[0]["shard"], "--junit", junit)
        self.assertEqual(res.returncode, 1, res.stdout + res.stderr)
        self.assertIn("is not the one gpuci plan --shards made", res.stderr)
        self.assertIn("cache-matched-key", res.stderr)
        self.assertIn("nothing was run", res.stderr)
        self.assertFalse(os.path.exists(junit))
        self.assertEqual(len(r.attempts(changed)), before)
        # The plan's split for other machines is named as the cause.
        p4 = r.plan(self.seed, 2, "--json", "--gpus", "4")
        v4 = json.loads(p4.stdout)["include"][0]["shard"]
        res = r.run(self.seed, "--shard", v4, "--dry-run")
        self.assertEqual(res.returncode, 1, res.stdout + res.stderr)
        self.assertIn("machines of 4 GPUs", res.stderr)

    def test_too_wide_and_more_shards_than_tests(self):
        r = self.repo
        p = r.gpuci("plan", "--workflow", r.workflow, "--label", LABEL, "--shards", "40",
                    "--gpus", "4", "--history", self.seed, "--json")
        self.assertEqual(p.returncode, 0, p.stderr)
        entries = check_matrix(self, p.stdout, 40)
        total = sum(self.unsharded_cases.values())
        self.assertEqual(sum(e["tests"] for e in entries), total)
        self.assertIn("needs 8 GPUs and a shard machine has 4", p.stderr)
        self.assertTrue(any(e["tests"] == 0 for e in entries))
        # The 8-GPU tests are shard 1's, reported not runnable there as today.
        res = r.gpuci("run", "--workflow", r.workflow, "--label", LABEL, "--gpus", "4",
                      "--history", self.seed, "--lock-path-pattern", r.pattern,
                      "--shard", entries[0]["shard"], "--dry-run")
        self.assertEqual(res.returncode, 0, res.stdout + res.stderr)
        self.assertIn("not runnable", res.stdout)
        self.assertIn("test_glm4_9B.py", res.stdout)
        empty = next(e for e in entries if e["tests"] == 0)
        junit = r.path("empty.xml")
        res = r.gpuci("run", "--workflow", r.workflow, "--label", LABEL, "--gpus", "4",
                      "--history", r.path("empty.db"), "--lock-path-pattern", r.pattern,
                      "--shard", empty["shard"].split("@")[0], "--junit", junit)
        # Without the seed's durations the split is another: no digest, so accepted.
        self.assertEqual(res.returncode, 0, res.stdout + res.stderr)
        self.assertIn("shard", res.stdout)

    def test_errors_exit_2(self):
        r = self.repo
        for bad in ("0/2", "3/2", "x/y", "1/257", "1/2@xyz", "2"):
            with self.subTest(shard=bad):
                res = r.run(self.seed, "--shard", bad, "--dry-run")
                self.assertEqual(res.returncode, 2, res.stdout + res.stderr)
                self.assertIn("--shard", res.stderr)
                self.assertEqual(res.stdout, "")
        for n in ("0", "257"):
            res = r.plan(self.seed, n, "--json")
            self.assertEqual(res.returncode, 2, res.stderr)
            self.assertIn("256", res.stderr)
        res = r.gpuci("plan", "--workflow", r.workflow, "--label", LABEL, "--gpus", "8")
        self.assertEqual(res.returncode, 2)
        self.assertIn("--shards", res.stderr)


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit("usage: shard_test.py path/to/gpuci")
    GPUCI = os.path.abspath(sys.argv.pop(1))
    unittest.main(verbosity=2)
