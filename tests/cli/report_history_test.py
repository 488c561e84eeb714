#!/usr/bin/env python3
"""End-to-end tests of `gpuci report --history`, the trends page.

A history made by the real `gpuci run` (four runs of the run-ci-short label
of examples/vime-mini on 12 simulated GPUs, lock files in a temporary
folder, 0.3 s tests): all passing; one flaky (VIME_MINI_FLAKY, retried);
one failing (VIME_MINI_FAIL); one crashing and one timing out. The page is
parsed with html.parser and checked against `gpuci history --json` (its
attempts, and its --flaky and --slowest figures): one row per test, the
counts, median and p90, one circle per attempt in time order with its
status, start, duration and colour, the y scale, the strip, the order, no
external URL. Then --test, --days (on a copy whose first run is moved 40
days back), the default output, and the errors.

Run: python3 tests/cli/report_history_test.py build/gpuci
"""
import html.parser
import json
import math
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import unittest

GPUCI = None
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXAMPLE = os.path.join(ROOT, "examples", "vime-mini")
FAILED = ("failed", "timeout", "crashed")


class Page(html.parser.HTMLParser):
    """The DOM hooks of a trends page: rows, their chart and strip, the legend."""

    def __init__(self, text):
        super().__init__(convert_charrefs=True)
        self.rows, self.legend, self.summary, self.tables = [], {}, {}, []
        self.tags, self.scripts = [], 0
        self._svg = None
        self._dd = None
        self.feed(text)
        self.close()

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags.append((tag, a))
        cls = a.get("class", "")
        if tag == "table":
            self.tables.append(a.get("id"))
        elif tag == "script":
            self.scripts += 1
        elif tag == "tr" and cls == "trend":
            self.rows.append({"attrs": a, "spark": None, "points": [], "strip": None,
                              "marks": []})
        elif tag == "svg" and cls in ("spark", "strip"):
            self.rows[-1][cls] = a
            self._svg = cls
        elif tag == "circle" and cls == "pt":
            assert self._svg == "spark"
            self.rows[-1]["points"].append(a)
        elif tag == "rect" and cls == "mark":
            assert self._svg == "strip"
            self.rows[-1]["marks"].append(a)
        elif tag == "span" and cls == "legend":
            self.legend[a["data-status"]] = a["style"]
        elif tag == "dd" and "data-key" in a:
            self._dd = a
            self.summary[a["data-key"]] = {"value": a.get("data-value"), "text": ""}

    def handle_endtag(self, tag):
        if tag == "svg":
            self._svg = None
        elif tag == "dd":
            self._dd = None

    def handle_data(self, data):
        if self._dd is not None:
            self.summary[self._dd["data-key"]]["text"] += data


def secs(x):
    return "%.3f" % x


def median(v):
    v = sorted(v)
    n = len(v)
    return v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2


def p90(v):
    v = sorted(v)
    return v[max(math.ceil(0.9 * len(v)), 1) - 1]


class Repo:
    def __init__(self):
        self.tmp = tempfile.mkdtemp(prefix="gpuci-report-history-test.")
        self.root = os.path.join(self.tmp, "repo")
        shutil.copytree(EXAMPLE, self.root)
        self.record = os.path.join(self.tmp, "record")
        os.mkdir(self.record)
        self.locks = os.path.join(self.tmp, "locks")
        os.mkdir(self.locks)
        self.pattern = os.path.join(self.locks, "gpu_{gpu_id}.lock")
        self.history = os.path.join(self.tmp, "h", "history.db")
        self.workflow = os.path.join(self.root, ".github", "workflows", "pr-test.yml")

    def run(self, *extra, **knobs):
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("VIME_MINI_", "GITHUB_"))}
        env.update(VIME_MINI_RECORD=self.record, VIME_MINI_SECONDS="0.3", GPUCI_NVML="")
        env.update(knobs)
        args = [GPUCI, "run", "--workflow", self.workflow, "--gpus", "12",
                "--lock-path-pattern", self.pattern, "--history", self.history,
                "--kill-after", "1", "--label", "run-ci-short", "--no-always", *extra]
        return subprocess.run(args, capture_output=True, text=True, env=env, cwd=self.root,
                              timeout=120)

    def close(self):
        shutil.rmtree(self.tmp, ignore_errors=True)


def gpuci(*args, cwd=None):
    return subprocess.run([GPUCI, *args], capture_output=True, text=True, timeout=60, cwd=cwd)


class ReportHistoryTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.repo = Repo()
        runs = [
            ((), {}, 0),
            (("--retries", "1", "--retry-on", "accuracy noise"),
             {"VIME_MINI_FLAKY": "--colocate"}, 0),
            ((), {"VIME_MINI_FAIL": "debug_rollout"}, 1),
            (("--timeout", "1.5"), {"VIME_MINI_CRASH": "--colocate",
                                    "VIME_MINI_HANG": "debug_rollout"}, 1),
        ]
        for extra, knobs, rc in runs:
            r = cls.repo.run(*extra, **knobs)
            if r.returncode != rc:
                cls.repo.close()
                raise AssertionError(f"gpuci run {extra} {knobs}: exit {r.returncode}\n"
                                     + r.stdout + r.stderr)
        cls.attempts = cls.history("--limit", "1000")
        cls.out = os.path.join(cls.repo.tmp, "trends.html")
        r = cls.report("-o", cls.out)
        if r.returncode != 0:
            cls.repo.close()
            raise AssertionError(r.stdout + r.stderr)
        cls.stdout = r.stdout
        with open(cls.out, encoding="utf-8") as f:
            cls.text = f.read()
        cls.page = Page(cls.text)

    @classmethod
    def tearDownClass(cls):
        cls.repo.close()

    @classmethod
    def history(cls, *args, path=None):
        r = gpuci("history", "--history", path or cls.repo.history, "--json", *args)
        assert r.returncode == 0, r.stderr
        return json.loads(r.stdout)

    @classmethod
    def report(cls, *args, path=None):
        return gpuci("report", "--history", "--history-file", path or cls.repo.history, *args)

    def by_test(self, attempts):
        """The history's attempts by test, each test's in time order."""
        by = {}
        for a in sorted(attempts, key=lambda a: (a["started_at"], a["id"])):
            by.setdefault((a["test_file"], a["test_args"], a["identity"]), []).append(a)
        return by

    def rows_by_test(self, page):
        out = {}
        for row in page.rows:
            a = row["attrs"]
            key = (a["data-test-file"], a["data-test-args"], a["data-identity"])
            self.assertNotIn(key, out)
            out[key] = row
        return out

    def test_the_history_has_every_status_the_page_draws(self):
        statuses = {a["status"] for a in self.attempts}
        self.assertEqual(statuses, {"passed", "failed", "flaky", "crashed", "timeout"})
        self.assertEqual(len(self.attempts), 13)  # 4 runs of 3, one retried

    def test_one_row_per_test_with_the_historys_counts_and_figures(self):
        tests = self.by_test(self.attempts)
        rows = self.rows_by_test(self.page)
        self.assertEqual(set(rows), set(tests))
        self.assertEqual(len(rows), 3)
        flaky = {(t["test_file"], t["test_args"], t["identity"]): t
                 for t in self.history("--flaky")}
        slowest = {(t["test_file"], t["test_args"], t["identity"]): t
                   for t in self.history("--slowest", "100")}
        self.assertTrue(flaky)
        for key, attempts in tests.items():
            a = rows[key]["attrs"]
            st = [x["status"] for x in attempts]
            timed = [x["duration"] for x in attempts if x["status"] in ("passed", "flaky")]
            want = {"data-runs": len(st), "data-passed": st.count("passed"),
                    "data-flaky": st.count("flaky"),
                    "data-failed": sum(st.count(s) for s in FAILED)}
            self.assertEqual({k: int(a[k]) for k in want}, want, key)
            self.assertEqual(a["data-variant"], attempts[-1]["variant"])
            self.assertTrue(timed, key)  # every test passed at least once
            # The history's own median, to the digit; p90 by nearest rank.
            self.assertEqual(a["data-median"], secs(slowest[key]["median"]))
            self.assertAlmostEqual(float(a["data-median"]), median(timed), delta=0.0015)
            self.assertAlmostEqual(float(a["data-p90"]), p90(timed), delta=0.0015)
            if key in flaky:
                for k in ("runs", "passed", "flaky", "failed"):
                    self.assertEqual(int(a["data-" + k]), flaky[key][k], (key, k))

    def test_each_attempt_is_a_point_in_time_order_with_its_colour(self):
        tests = self.by_test(self.attempts)
        rows = self.rows_by_test(self.page)
        colour = {s: re.fullmatch(r"background:(#[0-9a-f]{6})", v).group(1)
                  for s, v in self.page.legend.items()}
        self.assertEqual(set(colour), {"passed", "flaky", "failed", "timeout", "crashed",
                                       "not-runnable", "canceled"})
        self.assertEqual(len(set(colour.values())), len(colour))
        for key, attempts in tests.items():
            row = rows[key]
            pts = row["points"]
            self.assertEqual(int(row["spark"]["data-n"]), len(attempts))
            self.assertEqual([p["data-status"] for p in pts], [x["status"] for x in attempts])
            self.assertEqual([p["data-started"] for p in pts],
                             [secs(x["started_at"]) for x in attempts])
            self.assertEqual([p["data-duration"] for p in pts],
                             [secs(x["duration"]) for x in attempts])
            self.assertEqual([p["data-run"] for p in pts], [x["run_id"] for x in attempts])
            for p in pts:
                self.assertEqual(p["fill"], colour[p["data-status"]])
            # y: scaled to the test's longest attempt, 0 s at y0, ymax at y1.
            ymax = max(x["duration"] for x in attempts)
            self.assertAlmostEqual(float(row["spark"]["data-ymax"]), ymax, delta=0.0015)
            y0, y1 = float(row["spark"]["data-y0"]), float(row["spark"]["data-y1"])
            self.assertGreater(y0, y1)
            # Within the rounding: cy to 0.1 px, durations to the millisecond.
            slack = 0.051 + (y0 - y1) * 0.0011 / ymax
            for p, x in zip(pts, attempts):
                self.assertAlmostEqual(float(p["cy"]), y0 + (y1 - y0) * x["duration"] / ymax,
                                       delta=slack)
            xs = [float(p["cx"]) for p in pts]
            self.assertEqual(xs, sorted(xs))
            self.assertEqual(len(set(xs)), len(xs))
            # The strip: every result (fewer than its cap), newest last.
            self.assertEqual([m["data-status"] for m in row["marks"]],
                             [x["status"] for x in attempts])
            self.assertEqual(int(row["strip"]["data-n"]), len(attempts))

    def test_flakiest_first_then_slowest(self):
        keys = [(int(r["attrs"]["data-flaky"]) + int(r["attrs"]["data-failed"]),
                 float(r["attrs"]["data-median"])) for r in self.page.rows]
        self.assertEqual(keys, sorted(keys, reverse=True))
        self.assertGreater(keys[0][0], keys[-1][0])

    def test_self_contained_with_its_header_and_the_report_line(self):
        self.assertEqual(self.page.tables, ["trends"])
        self.assertLessEqual(self.page.scripts, 1)
        for bad in ("http:", "https:", "//"):
            self.assertNotIn(bad, self.text)
        for tag, a in self.page.tags:
            self.assertNotIn("src", a, tag)
            self.assertNotEqual(tag, "link")
        s = self.page.summary
        self.assertEqual(s["history"]["text"], self.repo.history)
        self.assertEqual(s["days"]["value"], "30")
        self.assertEqual(s["glob"]["value"], "")
        self.assertEqual(s["tests"]["value"], "3")
        self.assertRegex(s["generated"]["text"], r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$")
        lines = self.stdout.splitlines()
        self.assertEqual(lines[-1], "report: " + self.out)
        self.assertIn("3 tests, 13 attempts in the last 30 days", lines[0])

    def test_test_glob_keeps_the_matching_tests(self):
        out = os.path.join(self.repo.tmp, "glob.html")
        r = self.report("--test", "test_qwen2p5_0p5B_short*", "-o", out)
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(out, encoding="utf-8") as f:
            page = Page(f.read())
        files = sorted((r["attrs"]["data-test-file"], r["attrs"]["data-test-args"])
                       for r in page.rows)
        want = sorted({(a["test_file"], a["test_args"]) for a in self.attempts
                       if "short" in a["test_file"]})
        self.assertEqual(files, want)
        self.assertEqual(len(files), 2)
        self.assertEqual(page.summary["glob"]["value"], "test_qwen2p5_0p5B_short*")
        r = self.report("--test", "nothing*", "-o", out)
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(out, encoding="utf-8") as f:
            text = f.read()
        self.assertEqual(Page(text).rows, [])
        self.assertIn('id="empty"', text)

    def test_days_leave_older_attempts_out(self):
        # A copy whose first run started 40 days ago.
        old = os.path.join(self.repo.tmp, "old", "history.db")
        os.makedirs(os.path.dirname(old))
        src = sqlite3.connect(self.repo.history)
        dst = sqlite3.connect(old)
        src.backup(dst)
        src.close()
        first = min(self.attempts, key=lambda a: a["started_at"])["run_id"]
        dst.execute("UPDATE results SET started_at = started_at - 40 * 86400 WHERE run_id = ?",
                    (first,))
        dst.commit()
        dst.close()
        attempts = self.history("--limit", "1000", path=old)
        for days, keep in (("30", lambda a: a["run_id"] != first), ("60", lambda a: True)):
            # No -o: trends.html next to the history.
            r = self.report("--days", days, path=old)
            self.assertEqual(r.returncode, 0, r.stderr)
            out = os.path.join(os.path.dirname(old), "trends.html")
            self.assertEqual(r.stdout.splitlines()[-1], "report: " + out)
            with open(out, encoding="utf-8") as f:
                page = Page(f.read())
            tests = self.by_test([a for a in attempts if keep(a)])
            rows = self.rows_by_test(page)
            self.assertEqual(set(rows), set(tests))
            for key, want in tests.items():
                self.assertEqual([p["data-run"] for p in rows[key]["points"]],
                                 [a["run_id"] for a in want], (days, key))
                self.assertEqual(int(rows[key]["attrs"]["data-runs"]), len(want))
            self.assertEqual(page.summary["days"]["value"], days)
        self.assertEqual(sum(int(r["attrs"]["data-runs"]) for r in page.rows), len(attempts))

    def test_the_script_sorts_as_its_link_says(self):
        # The page's own script, run by a headless browser: #sort=K sorts at load.
        browser = next((b for b in ("chromium", "chromium-browser", "google-chrome")
                        if shutil.which(b)), None)
        if not browser:
            self.skipTest("no chromium to run the page's script (apt-get install chromium)")
        profile = tempfile.mkdtemp(dir=self.repo.tmp)

        def order(fragment):
            r = subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu",
                                "--user-data-dir=" + profile, "--dump-dom",
                                "file://" + self.out + fragment],
                               capture_output=True, text=True, timeout=90)
            if r.returncode != 0 or "<table" not in r.stdout:
                self.skipTest(f"{browser} could not load the page: {r.stderr[-300:]}")
            return [(row["attrs"]["data-test-file"], row["attrs"]["data-test-args"])
                    for row in Page(r.stdout).rows]

        rows = self.page.rows
        given = [(r["attrs"]["data-test-file"], r["attrs"]["data-test-args"]) for r in rows]
        self.assertEqual(order(""), given)
        by_name = sorted(given, key=lambda k: k[0] + " " + k[1])
        # The page's sort is stable: equal medians keep the page's own order.
        by_median = [k for k, _ in sorted(zip(given, rows),
                                          key=lambda p: -float(p[1]["attrs"]["data-median"]))]
        self.assertNotEqual(by_name, given)  # so that the sort is seen to happen
        self.assertEqual(order("#sort=name"), by_name)
        self.assertEqual(order("#sort=slow"), by_median)

    def test_errors(self):
        missing = os.path.join(self.repo.tmp, "none", "history.db")
        r = self.report(path=missing)
        self.assertEqual(r.returncode, 1)
        self.assertIn("no history yet at " + missing, r.stderr)
        self.assertFalse(os.path.exists(os.path.dirname(missing)))
        r = self.report("--days", "x")
        self.assertEqual(r.returncode, 2)
        self.assertIn("--days", r.stderr)
        r = self.report("some-run")  # a run's page, or the trends: not both
        self.assertEqual(r.returncode, 2)
        self.assertIn("--history", r.stderr)
        bad = os.path.join(self.repo.tmp, "bad.db")
        with open(bad, "w") as f:
            f.write("not a database at all, not even close" * 100)
        r = self.report(path=bad)
        self.assertEqual(r.returncode, 1)
        self.assertIn("is not a gpuci history", r.stderr)
        r = self.report("-o", os.path.join(self.repo.tmp, "no", "such", "dir", "t.html"))
        self.assertEqual(r.returncode, 1)
        self.assertIn("t.html", r.stderr)


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit("usage: report_history_test.py GPUCI")
    GPUCI = os.path.abspath(sys.argv.pop(1))
    unittest.main(verbosity=2)
