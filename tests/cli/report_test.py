#!/usr/bin/env python3
"""End-to-end tests of the run's report without a browser: `gpuci run` writes
RUN-DIR/report.html and run.tsv and says where as its last line; `gpuci
report` draws the same page again from the history; a run whose gpuci was
SIGKILLed gets its page too, with what it recorded; under GitHub Actions the
step summary has the timeline as a Mermaid gantt with one task per attempt
and GPU; usage errors.

examples/vime-mini on 8 simulated GPUs, short tests, lock files in a
temporary folder.

Run: python3 tests/cli/report_test.py build/gpuci
"""
import html.parser
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "harness"))
from procs import read0  # noqa: E402  (tests/harness/procs.py)

GPUCI = None
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXAMPLE = os.path.join(ROOT, "examples", "vime-mini")


class Page(html.parser.HTMLParser):
    """The report's attempts (g.attempt with their rects), lanes and rows."""

    def __init__(self, text):
        super().__init__()
        self.attempts, self.lanes, self.rows, self.note = [], {}, [], None
        self._in_note = False
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        cls = a.get("class", "")
        if tag == "g" and cls == "attempt":
            self.attempts.append({**a, "rects": []})
        elif tag == "rect" and cls == "bar":
            self.attempts[-1]["rects"].append(a)
        elif tag == "g" and cls == "lane":
            self.lanes[a["data-lane"]] = a
        elif tag == "tr" and cls == "test":
            self.rows.append(a)
        elif tag == "p" and cls == "note":
            self._in_note = True

    def handle_data(self, data):
        if self._in_note:
            self.note = (self.note or "") + data

    def handle_endtag(self, tag):
        if tag == "p":
            self._in_note = False


def key(a):
    return (a["data-test"], a["data-attempt"], a["data-status"], a["data-gpus"])


class ReportTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="gpuci-report-")
        self.repo = os.path.join(self.tmp, "repo")
        shutil.copytree(EXAMPLE, self.repo)
        os.makedirs(os.path.join(self.tmp, "locks"))
        self.env = dict(os.environ, VIME_MINI_RECORD=os.path.join(self.tmp, "record"),
                        VIME_MINI_SECONDS="0.3")
        for k in ("GITHUB_ACTIONS", "GITHUB_STEP_SUMMARY", "GITHUB_REPOSITORY", "GITHUB_SHA"):
            self.env.pop(k, None)

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def gpuci(self, *args, env=None, timeout=120):
        return subprocess.run([GPUCI, *args], cwd=self.repo, env=env or self.env,
                              capture_output=True, text=True, timeout=timeout)

    def run_args(self, *extra):
        return ["run", "--label", "run-ci-short", "--gpus", "8", "--lock-path-pattern",
                os.path.join(self.tmp, "locks", "gpu_{gpu_id}.lock"), *extra]

    def history(self, run_id):
        r = self.gpuci("history", "--json", "--limit", "1000")
        self.assertEqual(r.returncode, 0, r.stderr)
        return [a for a in json.loads(r.stdout) if a["run_id"] == run_id]

    def test_run_writes_the_page_and_report_draws_it_again(self):
        env = dict(self.env, VIME_MINI_FAIL="debug_rollout", VIME_MINI_FLAKY="--colocate")
        r = self.gpuci(*self.run_args("--retries", "1"), env=env)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        last = r.stdout.rstrip("\n").split("\n")[-1]
        m = re.fullmatch(r"report: (.*/\.gpuci/runs/([^/]+)/report\.html)", last)
        self.assertIsNotNone(m, last)
        path, run_id = m.group(1), m.group(2)
        with open(path, encoding="utf-8") as f:
            first = Page(f.read())
        recorded = self.history(run_id)
        # one group per recorded attempt (the failure retried: 2 + flaky 2 + 4 others)
        self.assertEqual(len(first.attempts), len(recorded))
        self.assertEqual(len(recorded), 8)
        self.assertEqual(sorted(a["data-status"] for a in first.attempts),
                         sorted(a["status"] for a in recorded))
        self.assertEqual(len(first.rows), 6)
        self.assertEqual({r["data-status"] for r in first.rows}, {"passed", "failed", "flaky"})
        with open(path, encoding="utf-8") as f:
            text = f.read()
        self.assertIn('<details class="tail">', text)   # the failure's last lines
        self.assertIn("loss diverged", text)
        self.assertNotRegex(text, r"https?:|src=|//[a-z]")
        # drawn again, from the history: the same attempts on the same lanes
        os.rename(path, path + ".first")
        r = self.gpuci("report")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.rstrip("\n").split("\n")[-1], "report: " + path)
        with open(path, encoding="utf-8") as f:
            again = Page(f.read())
        self.assertEqual(sorted(map(key, again.attempts)), sorted(map(key, first.attempts)))
        for a, b in zip(sorted(first.attempts, key=key), sorted(again.attempts, key=key)):
            self.assertEqual([x["data-lane"] for x in a["rects"]],
                             [x["data-lane"] for x in b["rects"]])
            self.assertAlmostEqual(float(a["data-start"]), float(b["data-start"]), delta=0.002)
            self.assertAlmostEqual(float(a["data-end"]), float(b["data-end"]), delta=0.002)
        self.assertIsNone(again.note)
        # by id, into another file
        out = os.path.join(self.tmp, "again.html")
        r = self.gpuci("report", run_id, "-o", out)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertTrue(os.path.getsize(out) > 1000)

    def test_a_killed_run_gets_its_page_from_what_it_recorded(self):
        env = dict(self.env, VIME_MINI_HANG="--colocate", VIME_MINI_HANG_SECONDS="60")
        p = subprocess.Popen([GPUCI, *self.run_args()], cwd=self.repo, env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        run_id = None
        deadline = time.time() + 60
        try:
            # wait until the history has the short tests' attempts
            while time.time() < deadline:
                runs = os.listdir(os.path.join(self.repo, ".gpuci", "runs")) \
                    if os.path.isdir(os.path.join(self.repo, ".gpuci", "runs")) else []
                if runs:
                    run_id = runs[0]
                    if os.path.exists(os.path.join(self.repo, ".gpuci", "history.db")) and \
                            len(self.history(run_id)) >= 5:
                        break
                time.sleep(0.2)
            self.assertIsNotNone(run_id)
            os.kill(p.pid, signal.SIGKILL)
            p.communicate(timeout=30)
        finally:
            if p.poll() is None:
                p.kill()
                p.communicate()
            # what the killed run left (the next run's recovery would end it): by its run id
            for pid in [int(d) for d in os.listdir("/proc") if d.isdigit()]:
                if run_id and f"GPUCI_RUN_ID={run_id}" in read0(pid, "environ"):
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except OSError:
                        pass
        r = self.gpuci("report", "--last")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("(the run did not end)", r.stdout)
        with open(os.path.join(self.repo, ".gpuci", "runs", run_id, "report.html"),
                  encoding="utf-8") as f:
            page = Page(f.read())
        self.assertIsNotNone(page.note)
        self.assertIn("did not end", page.note)
        self.assertEqual(len(page.attempts), len(self.history(run_id)))
        statuses = {r["data-test"]: r["data-status"] for r in page.rows}
        self.assertEqual(len(statuses), 6)
        self.assertIn("canceled", statuses.values())   # the hung one: never recorded
        self.assertEqual(list(statuses.values()).count("passed"), 5)

    def test_step_summary_has_the_timeline(self):
        summary = os.path.join(self.tmp, "summary.md")
        env = dict(self.env, GITHUB_ACTIONS="true", GITHUB_STEP_SUMMARY=summary)
        r = self.gpuci(*self.run_args(), env=env)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        with open(summary, encoding="utf-8") as f:
            md = f.read()
        m = re.search(r"```mermaid\n(.*?)```\n", md, re.S)
        self.assertIsNotNone(m, md)
        block = m.group(1)
        self.assertIn("gantt", block)
        tasks = re.findall(r"^    (.*) :(?:[a-z]+, )*a(\d+)_(\d+), (\d+), (\d+)$", block, re.M)
        run_id = re.search(r"gpuci run (\S+):", block).group(1)
        recorded = self.history(run_id)
        want = sum(max(1, len([g for g in a["gpu_ids"].split(",") if g])) for a in recorded)
        self.assertEqual(len(tasks), want)                        # a task per attempt and GPU
        self.assertEqual(len({t[1] for t in tasks}), len(recorded))  # every attempt
        sections = re.findall(r"^    section (.*)$", block, re.M)
        self.assertEqual(sections[:8], [f"GPU {g}" for g in range(8)])
        for a in recorded:  # each attempt's start, to the millisecond
            self.assertIn(str(round(a["started_at"] * 1000)), block)

    def test_usage(self):
        r = self.gpuci("report")
        self.assertEqual(r.returncode, 1)
        self.assertIn("no .gpuci folder", r.stderr)
        for args, words in [(["report", "a", "--last"], "one at a time"),
                            (["report", "--history", "--last"], "--history draws"),
                            (["report", "--days", "3"], "--days is for --history"),
                            (["report", "../x"], "not a run id")]:
            r = self.gpuci(*args)
            self.assertEqual(r.returncode, 2, args)
            self.assertIn(words, r.stderr)
        r = self.gpuci("report", "--help")
        self.assertEqual(r.returncode, 0)
        self.assertIn("report.html", r.stdout)
        os.makedirs(os.path.join(self.repo, ".gpuci", "runs"))
        r = self.gpuci("report", "nope")
        self.assertEqual(r.returncode, 1)
        self.assertIn("no run nope", r.stderr)


if __name__ == "__main__":
    GPUCI = os.path.abspath(sys.argv.pop(1))
    unittest.main()
