#!/usr/bin/env python3
"""End-to-end tests of the history under `gpuci run`: another process holding
the file locked (an exclusive transaction kept open by python3's sqlite3, as
`sqlite3 history.db 'BEGIN EXCLUSIVE; ...'` would) must not stall the run or
lose its results; retention (`run --history-keep-days`, `history --prune`);
`history --import`.

Three 0.5 s tests of examples/vime-mini on 4 simulated GPUs, one after the
other; each test has its own copy, lock files and history.

Run: python3 tests/cli/history_test.py build/gpuci
"""
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import unittest
import xml.etree.ElementTree as ET

GPUCI = None
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXAMPLE = os.path.join(ROOT, "examples", "vime-mini")

# A holder: takes the write lock (EXCLUSIVE) on argv[1], says so on stdout,
# and keeps it until its stdin closes or argv[2] seconds have passed.
HOLDER = r"""
import select, sqlite3, sys
db = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=0)
if len(sys.argv) > 3:
    db.execute("PRAGMA journal_mode = " + sys.argv[3])
db.execute("BEGIN EXCLUSIVE")
db.execute("CREATE TABLE IF NOT EXISTS holder (x)")
print("held", flush=True)
select.select([sys.stdin], [], [], float(sys.argv[2]))
db.execute("ROLLBACK")
db.close()
"""

V2_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value);
CREATE TABLE results (id INTEGER PRIMARY KEY, run_id TEXT NOT NULL, job TEXT NOT NULL,
 test_file TEXT NOT NULL, test_args TEXT NOT NULL, gpus INTEGER NOT NULL,
 gpu_ids TEXT NOT NULL, status TEXT NOT NULL, attempt INTEGER NOT NULL,
 exit_code INTEGER, started_at REAL NOT NULL, duration REAL NOT NULL,
 log_path TEXT NOT NULL, host TEXT NOT NULL,
 identity TEXT NOT NULL DEFAULT '', variant TEXT NOT NULL DEFAULT '');
CREATE INDEX results_test ON results (test_file, test_args);
CREATE INDEX results_identity ON results (identity);
CREATE INDEX results_run ON results (run_id);
INSERT INTO meta VALUES ('schema_version', 2);
"""


class Repo:
    def __init__(self):
        self.tmp = tempfile.mkdtemp(prefix="gpuci-history-test.")
        self.root = os.path.join(self.tmp, "repo")
        shutil.copytree(EXAMPLE, self.root)
        self.record = os.path.join(self.tmp, "record")
        os.mkdir(self.record)
        self.locks = os.path.join(self.tmp, "locks")
        os.mkdir(self.locks)
        self.pattern = os.path.join(self.locks, "gpu_{gpu_id}.lock")
        self.history = os.path.join(self.tmp, "history.db")
        self.junit = os.path.join(self.tmp, "junit.xml")
        self.workflow = os.path.join(self.root, ".github", "workflows", "pr-test.yml")

    def run(self, *extra, timeout=120):
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("VIME_MINI_", "GITHUB_"))}
        env.update(VIME_MINI_RECORD=self.record, VIME_MINI_SECONDS="0.5")
        args = [GPUCI, "run", "--workflow", self.workflow, "--gpus", "4",
                "--lock-path-pattern", self.pattern, "--history", self.history,
                "--kill-after", "1", "--label", "run-ci-short", "--no-always",
                "--junit", self.junit, *extra]
        t = time.monotonic()
        r = subprocess.run(args, capture_output=True, text=True, env=env, cwd=self.root,
                           timeout=timeout)
        r.wall = time.monotonic() - t
        return r

    def durations(self):
        return [float(c.get("time")) for c in ET.parse(self.junit).iter("testcase")]

    def hold(self, seconds, journal=None):
        args = [sys.executable, "-c", HOLDER, self.history, str(seconds)]
        if journal:
            args.append(journal)
        p = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        if p.stdout.readline().strip() != "held":
            raise RuntimeError("the holder could not take the lock")
        return p

    def history_cmd(self, *args):
        return subprocess.run([GPUCI, "history", "--history", self.history, *args],
                              capture_output=True, text=True, timeout=60)

    def attempts(self):
        r = self.history_cmd("--json", "--limit", "1000")
        return json.loads(r.stdout)

    def query(self, sql, args=()):
        db = sqlite3.connect(self.history)
        try:
            return db.execute(sql, args).fetchall()
        finally:
            db.close()

    def close(self):
        shutil.rmtree(self.tmp, ignore_errors=True)


def release(p):
    p.stdin.close()
    p.wait(timeout=30)
    p.stdout.close()


class HistoryLockTest(unittest.TestCase):
    def setUp(self):
        self.repo = Repo()
        # A first run makes the history (and gives the tests a median).
        r = self.repo.run()
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

    def tearDown(self):
        self.repo.close()

    def check_fast(self, r):
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        durations = self.repo.durations()
        self.assertEqual(len(durations), 3)
        for d in durations:
            self.assertLess(d, 3.0, r.stdout + r.stderr)  # 0.5 s each, not 10.5
        self.assertLess(r.wall, 12.0, r.stderr)

    def run_ids(self):
        return sorted({a["run_id"] for a in self.repo.attempts()})

    def test_locked_for_the_whole_run_saves_the_results_and_says_where(self):
        holder = self.repo.hold(300)
        try:
            r = self.repo.run()
            self.check_fast(r)
            self.assertIn("another process holds it locked", r.stderr)
            self.assertIn("3 results could not be written", r.stderr)
            saved = [os.path.join(dp, f) for dp, _, fs in
                     os.walk(os.path.join(self.repo.root, ".gpuci", "runs"))
                     for f in fs if f == "history-unsaved.db"]
            self.assertEqual(len(saved), 1, r.stderr)
            self.assertIn(saved[0], r.stderr)
            self.assertIn("gpuci history --import " + saved[0], r.stderr)
        finally:
            release(holder)
        self.assertEqual(len(self.run_ids()), 1)  # only the first run's, so far
        i = self.repo.history_cmd("--import", saved[0])
        self.assertEqual(i.returncode, 0, i.stderr)
        self.assertIn("imported 3 attempts", i.stdout)
        self.assertEqual(len(self.run_ids()), 2)
        self.assertEqual(len(self.repo.attempts()), 6)
        # Importing again adds nothing.
        i = self.repo.history_cmd("--import", saved[0])
        self.assertIn("imported 0 attempts", i.stdout)
        self.assertIn("3 already there", i.stdout)
        self.assertEqual(len(self.repo.attempts()), 6)
        s = json.loads(self.repo.history_cmd("--slowest", "5", "--json").stdout)
        self.assertEqual(sorted(t["runs"] for t in s), [2, 2, 2])

    def test_lock_released_during_the_run_writes_every_result(self):
        holder = self.repo.hold(1.0)
        r = self.repo.run()
        release(holder)
        self.check_fast(r)
        self.assertNotIn("could not be written", r.stderr)
        self.assertEqual(len(self.repo.attempts()), 6, r.stderr)
        self.assertEqual(len(self.run_ids()), 2)

    def test_a_history_locked_in_rollback_mode_runs_without_it_at_once(self):
        # Not WAL: the holder's lock keeps readers out too; the run must not wait 10 s
        # for the medians.
        os.remove(self.repo.history)
        for ext in ("-wal", "-shm"):
            if os.path.exists(self.repo.history + ext):
                os.remove(self.repo.history + ext)
        db = sqlite3.connect(self.repo.history)
        db.executescript(V2_SCHEMA)
        db.close()
        holder = self.repo.hold(300, journal="DELETE")
        try:
            r = self.repo.run()
            self.check_fast(r)
            self.assertLess(r.wall, 8.0)
            self.assertIn("running without history", r.stderr)
        finally:
            release(holder)

    def test_a_version_2_history_locked_at_the_start_is_read_and_upgraded_later(self):
        os.remove(self.repo.history)
        for ext in ("-wal", "-shm"):
            if os.path.exists(self.repo.history + ext):
                os.remove(self.repo.history + ext)
        db = sqlite3.connect(self.repo.history)
        db.executescript(V2_SCHEMA)
        db.execute("PRAGMA journal_mode = WAL")
        db.execute("INSERT INTO results VALUES (1, 'old', 'e2e-test-short',"
                   " 'test_qwen2p5_0p5B_debug_rollout.py', '', 4, '0,1,2,3', 'passed', 1, 0,"
                   " ?, 123.0, '', 'h', '', '')", (time.time() - 3600,))
        db.commit()
        db.close()
        holder = self.repo.hold(1.0)
        d = self.repo.run("--dry-run")
        self.assertEqual(d.returncode, 0, d.stderr)
        self.assertIn("~2 min 03 s", d.stdout)  # the v2 row's 123 s, read while locked
        r = self.repo.run()
        release(holder)
        self.check_fast(r)
        self.assertEqual(self.repo.query("SELECT value FROM meta WHERE key = 'schema_version'"),
                         [(3,)])
        self.assertEqual(len(self.repo.attempts()), 4)
        self.assertEqual(self.repo.query("SELECT runs FROM tests WHERE test_file ="
                                         " 'test_qwen2p5_0p5B_debug_rollout.py'"
                                         " AND identity = ''"), [(1,)])


class RetentionTest(unittest.TestCase):
    def setUp(self):
        self.repo = Repo()
        r = self.repo.run()
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

    def tearDown(self):
        self.repo.close()

    def add_old(self, days, n=5):
        db = sqlite3.connect(self.repo.history)
        for i in range(n):
            db.execute("INSERT INTO results (run_id, job, test_file, test_args, gpus, gpu_ids,"
                       " status, attempt, exit_code, started_at, duration, log_path, host)"
                       " VALUES ('old', 'j', 'tests/test_gone.py', '', 1, '0', 'passed', 1, 0,"
                       " ?, 1000, '', 'h')", (time.time() - days * 86400 - i,))
        db.commit()
        db.close()

    def test_prune_removes_what_is_older_and_says_so(self):
        self.add_old(200)
        self.add_old(20, n=2)
        r = self.repo.history_cmd("--prune", "--keep-days", "100")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("removed 5 attempts older than 100 days", r.stdout)
        self.assertEqual(self.repo.query("SELECT COUNT(*) FROM results"), [(5,)])
        r = self.repo.history_cmd("--prune", "--keep-days", "10")
        self.assertIn("removed 2 attempts older than 10 days", r.stdout)
        self.assertIn("1 test lost some", r.stdout)
        self.assertEqual(self.repo.query("SELECT COUNT(*) FROM results"), [(3,)])
        r = self.repo.history_cmd("--prune")  # 90 days: nothing left to remove
        self.assertIn("removed 0 attempts older than 90 days", r.stdout)
        bad = self.repo.history_cmd("--keep-days", "3")
        self.assertEqual(bad.returncode, 2)

    def test_run_prunes_now_and_then_by_its_keep_days(self):
        # The first run has pruned (nothing) just now: another prune waits a day.
        self.add_old(200)
        r = self.repo.run()
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.repo.query("SELECT COUNT(*) FROM results WHERE run_id = 'old'"),
                         [(5,)])
        db = sqlite3.connect(self.repo.history)
        db.execute("UPDATE meta SET value = ? WHERE key = 'pruned_at'",
                   (time.time() - 2 * 86400,))
        db.commit()
        db.close()
        r = self.repo.run("--history-keep-days", "0")  # keeps everything
        self.assertEqual(self.repo.query("SELECT COUNT(*) FROM results WHERE run_id = 'old'"),
                         [(5,)])
        r = self.repo.run("--history-keep-days", "100")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.repo.query("SELECT COUNT(*) FROM results WHERE run_id = 'old'"),
                         [(0,)])
        self.assertEqual(self.repo.query("SELECT COUNT(*) FROM tests WHERE test_file ="
                                         " 'tests/test_gone.py'"), [(0,)])
        self.assertEqual(self.repo.query("SELECT COUNT(*) FROM results"), [(12,)])  # 4 runs


if __name__ == "__main__":
    GPUCI = os.path.abspath(sys.argv.pop(1))
    unittest.main(verbosity=2)
