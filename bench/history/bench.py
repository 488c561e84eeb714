#!/usr/bin/python3
"""Benchmark of how `gpuci run` and `gpuci history` scale with the size of the history.

Run through bench/history/run.sh.  Prints figures; asserts nothing.

It copies examples/vime-mini to a temp dir, runs its run-ci-short label once
for real (0.01 s tests) to learn the identities gpuci records, then writes
histories of --small and --large attempts (default 10k and 1M) directly with
python3's sqlite3, in the schema gpuci 2 wrote (version 2, what a user has
from before): the workflow's own tests plus synthetic ones (--tests in all),
passed/failed/flaky attempts spread over the last 60 days, durations around a
per-test mean.  For each size it times, as the median of --reps runs:

  upgrade    the first `gpuci run --dry-run` on the version 2 file, which
             upgrades it to version 3 (the tests table built from every row):
             once per file
  dry-run    `gpuci run --dry-run --label run-ci-short` (reads a median per
             test and the median of all)
  slowest    `gpuci history --slowest 20`
  recent     `gpuci history` (the last 50 attempts)

and prints large/small for each (wall clock, and the CPU time of the child,
which the load of a shared machine disturbs less), against the target of 2x
for dry-run; the runs of the two sizes alternate.  With
--ref OLD_GPUCI it times the same commands with that binary (a gpuci from
before schema 3, which reads version 2 as it is) on its own copy of each
file, in the same invocation, and prints new/old.
"""
import argparse
import os
import random
import resource
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
EXAMPLE = os.path.join(ROOT, "examples", "vime-mini")
TARGET = 2.0

V2_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value);
CREATE TABLE results (id INTEGER PRIMARY KEY, run_id TEXT NOT NULL, job TEXT NOT NULL,
 test_file TEXT NOT NULL, test_args TEXT NOT NULL, gpus INTEGER NOT NULL,
 gpu_ids TEXT NOT NULL, status TEXT NOT NULL, attempt INTEGER NOT NULL,
 exit_code INTEGER, started_at REAL NOT NULL, duration REAL NOT NULL,
 log_path TEXT NOT NULL, host TEXT NOT NULL,
 identity TEXT NOT NULL DEFAULT '', variant TEXT NOT NULL DEFAULT '');
INSERT INTO meta VALUES ('schema_version', 2);
"""
V2_INDEXES = """
CREATE INDEX results_test ON results (test_file, test_args);
CREATE INDEX results_identity ON results (identity);
CREATE INDEX results_run ON results (run_id);
"""


def child_cpu():
    u = resource.getrusage(resource.RUSAGE_CHILDREN)
    return u.ru_utime + u.ru_stime


def run(cmd, cwd, env=None):
    c = child_cpu()
    t = time.monotonic()
    r = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    dt = time.monotonic() - t
    if r.returncode != 0:
        sys.exit(f"bench: {' '.join(cmd)} failed ({r.returncode}):\n{r.stdout}{r.stderr}")
    r.cpu = child_cpu() - c
    return dt, r


def learn_tests(gpuci, repo, tmp):
    """The (job, file, args, gpus, identity, variant) gpuci records for run-ci-short."""
    hist = os.path.join(tmp, "learn.db")
    env = dict(os.environ, VIME_MINI_SECONDS="0.01", VIME_MINI_RECORD=os.path.join(tmp, "rec"))
    os.makedirs(env["VIME_MINI_RECORD"], exist_ok=True)
    locks = os.path.join(tmp, "locks")
    os.makedirs(locks, exist_ok=True)
    run([gpuci, "run", "--label", "run-ci-short", "--gpus", "8", "--history", hist,
         "--lock-path-pattern", os.path.join(locks, "g{gpu_id}.lock"), "--kill-after", "1"],
        repo, env)
    db = sqlite3.connect(hist)
    rows = db.execute("SELECT DISTINCT job, test_file, test_args, gpus, identity, variant"
                      " FROM results").fetchall()
    db.close()
    return rows


def make_history(path, n, ntests, real, seed):
    rnd = random.Random(seed)
    tests = list(real)
    for i in range(ntests - len(tests)):
        tests.append(("synthetic", f"tests/test_synthetic_{i:04d}.py", "", rnd.choice((0, 1, 2, 4, 8)),
                      f'{{"test_file":"tests/test_synthetic_{i:04d}.py"}}', ""))
    means = [rnd.uniform(5, 900) for _ in tests]
    now = time.time()
    db = sqlite3.connect(path)
    db.executescript(V2_SCHEMA)
    statuses = ["passed"] * 90 + ["failed"] * 6 + ["flaky"] * 3 + ["timeout"]

    def rows():
        for i in range(n):
            k = rnd.randrange(len(tests))
            job, f, a, g, ident, var = tests[k]
            st = rnd.choice(statuses)
            start = now - 60 * 86400 * (n - i) / n
            yield (f"run-{i // 50}", job, f, a, g, "", st, 1 + (st == "flaky"),
                   0 if st in ("passed", "flaky") else 1, start,
                   max(0.1, rnd.gauss(means[k], means[k] * 0.1)), "", "bench-host", ident, var)

    db.executemany("INSERT INTO results (run_id, job, test_file, test_args, gpus, gpu_ids,"
                   " status, attempt, exit_code, started_at, duration, log_path, host,"
                   " identity, variant) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", rows())
    db.executescript(V2_INDEXES)
    db.commit()
    db.execute("PRAGMA journal_mode = WAL")
    db.close()


COMMANDS = {
    "dry-run": lambda g, h: [g, "run", "--dry-run", "--label", "run-ci-short", "--gpus", "8",
                             "--history", h],
    "slowest": lambda g, h: [g, "history", "--history", h, "--slowest", "20"],
    "recent": lambda g, h: [g, "history", "--history", h],
}


def measure(gpuci, repo, hists, reps):
    """{(size, what): (wall, cpu)} medians; the sizes' runs alternate, so that the load of a
    shared machine falls on both alike. "upgrade" is the first dry run of each file."""
    out = {}
    for size, h in hists.items():
        dt, r = run(COMMANDS["dry-run"](gpuci, h), repo)
        out[(size, "upgrade")] = (dt, r.cpu)
    for what, cmd in COMMANDS.items():
        walls = {size: [] for size in hists}
        cpus = {size: [] for size in hists}
        for _ in range(reps):
            for size, h in hists.items():
                dt, r = run(cmd(gpuci, h), repo)
                walls[size].append(dt)
                cpus[size].append(r.cpu)
        for size in hists:
            out[(size, what)] = (statistics.median(walls[size]), statistics.median(cpus[size]))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("gpuci")
    ap.add_argument("--ref", help="an older gpuci to time the same way")
    ap.add_argument("--small", type=int, default=10_000)
    ap.add_argument("--large", type=int, default=1_000_000)
    ap.add_argument("--tests", type=int, default=200)
    ap.add_argument("--reps", type=int, default=15)
    ap.add_argument("--keep", action="store_true")
    a = ap.parse_args()
    gpuci = os.path.abspath(a.gpuci)
    tmp = tempfile.mkdtemp(prefix="gpuci-bench-history.")
    try:
        repo = os.path.join(tmp, "repo")
        shutil.copytree(EXAMPLE, repo)
        real = learn_tests(gpuci, repo, tmp)
        bases = {}
        for label, n in (("small", a.small), ("large", a.large)):
            base = os.path.join(tmp, f"{label}-v2.db")
            t = time.monotonic()
            make_history(base, n, a.tests, real, seed=n)
            print(f"{label}: {n} attempts of {a.tests} tests written in "
                  f"{time.monotonic() - t:.1f} s ({os.path.getsize(base) / 1e6:.0f} MB)",
                  flush=True)
            bases[label] = base
        res = {}
        whos = [("new", gpuci)] + ([("old", os.path.abspath(a.ref))] if a.ref else [])
        for who, binary in whos:
            hists = {}
            for label, base in bases.items():
                hists[label] = os.path.join(tmp, f"{label}-{who}.db")
                shutil.copy(base, hists[label])
            for (label, what), v in measure(binary, repo, hists, a.reps).items():
                res[(who, label, what)] = v
            for h in hists.values():
                os.remove(h)
        print()
        print(f"median of {a.reps} runs (small and large alternating), wall seconds"
              f" [CPU seconds]; {a.small} vs {a.large} attempts, {a.tests} tests")
        names = [w for w, _ in whos]
        print(f"{'':8} " + " ".join(f"{w + ' ' + l:>19}" for w in names
                                    for l in ("small", "large")) + "   large/small wall [CPU]")
        for what in ("upgrade", "dry-run", "slowest", "recent"):
            cells = " ".join(f"{res[(w, l, what)][0]:9.4f} [{res[(w, l, what)][1]:7.4f}]"
                             for w in names for l in ("small", "large"))
            ratios = "  ".join(
                f"{w} {res[(w, 'large', what)][0] / res[(w, 'small', what)][0]:.2f}x"
                f" [{res[(w, 'large', what)][1] / max(res[(w, 'small', what)][1], 1e-6):.2f}x]"
                for w in names)
            print(f"{what:8} {cells}   {ratios}")
        r = res[("new", "large", "dry-run")][0] / res[("new", "small", "dry-run")][0]
        print(f"\ndry-run large/small: {r:.2f}x wall (target <= {TARGET:.0f}x): "
              f"{'met' if r <= TARGET else 'NOT met'}")
        if a.ref:
            for what in ("dry-run", "slowest"):
                o, nw = res[("old", "large", what)][0], res[("new", "large", what)][0]
                print(f"{what} at {a.large} attempts: new {nw:.4f} s, old {o:.4f} s "
                      f"({o / nw:.0f}x faster)")
        print("(upgrade: the first dry run of each file, which moves a version 2 file to"
              " version 3 once; the old gpuci reads version 2 as it is)")
    finally:
        if a.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
