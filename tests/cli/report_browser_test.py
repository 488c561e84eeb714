#!/usr/bin/env python3
"""The HTML report of a real `gpuci run`, opened in headless Chromium.

vime-mini on 8 simulated GPUs with a failure, a crash, a flaky test (retried)
and CPU tests; its .gpuci/runs/RUN-ID/report.html loaded in Chromium
(tests/harness/browser.py: no network, the net log kept) and checked against
the run's history (`gpuci history --json`, this run's attempts):

- the screenshot is not blank (pixel statistics), the bars' colours on it;
- one g.attempt per attempt of the history, its status the history's, its
  rects on the lanes of exactly that attempt's GPUs (one CPU lane for a CPU
  test), within their lanes' bands, its start and end read back from x and
  width (data-t0, data-left, data-pxps) within 50 ms of the history's, its
  fill its status's legend colour;
- one table row per test, in the results table's order, with its status,
  attempts, duration, and a failure's log tail;
- the summary's figures; no request to the network, no external URL.

And a run of one test: one bar, labelled, the header there.
Skipped (77) with the reason where Chromium cannot run.

Run: python3 tests/cli/report_browser_test.py build/gpuci
"""
import os
import random
import re
import struct
import sys
import tempfile
import unittest
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "harness"))
sys.path.insert(0, HERE)
from browser import Browser, Unavailable, external_urls, parse_html, png_decode, skip  # noqa: E402
from report_run import (FAILING_RUN_ARGS, STATUSES, VimeRun, failing_run_env,  # noqa: E402
                        gpu_ids)

GPUCI = None
BROWSER = None
SIZE = (1400, 1000)
TOL = 0.05  # seconds: a bar's start and end against the history's


def colour(text):
    """#RRGGBB (lower case) of a CSS colour written #rgb or #rrggbb; None otherwise."""
    m = re.fullmatch(r"\s*#([0-9a-fA-F]{3}|[0-9a-fA-F]{6})\s*", text or "")
    if not m:
        return None
    h = m.group(1).lower()
    return "#" + ("".join(c * 2 for c in h) if len(h) == 3 else h)


def rgb(hexcol):
    return tuple(int(hexcol[i:i + 2], 16) for i in (1, 3, 5))


class Report:
    """A report.html as Chromium left its DOM, read by the contract."""

    def __init__(self, page):
        self.page, root = page, page.root
        self.svg = root.find("svg", id="timeline")
        if self.svg is None:
            raise AssertionError("no <svg id=\"timeline\">")
        a = self.svg.attrs
        self.t0, self.left, self.pxps = float(a["data-t0"]), float(a["data-left"]), \
            float(a["data-pxps"])
        self.top, self.lane_h = float(a["data-top"]), float(a["data-lane-h"])
        self.lanes = {int(g.get("data-lane")): g for g in self.svg.find_all("g", cls="lane")}
        self.attempts = root.find_all("g", cls="attempt")
        self.legend = {s.get("data-status"): colour(_style(s, "background"))
                       for s in root.find_all("span", cls="legend")}
        self.table = root.find("table", id="tests")
        self.rows = self.table.find_all("tr", cls="test") if self.table else []
        self.summary = root.find("dl", id="summary")

    def time_at(self, x):
        return self.t0 + (x - self.left) / self.pxps


def _style(node, prop):
    for part in (node.get("style") or "").split(";"):
        k, _, v = part.partition(":")
        if k.strip().lower() == prop:
            return v.strip()
    return None


def _num(node, name):
    v = node.get(name)
    if v is None:
        raise AssertionError(f"{node!r}: no {name}")
    return float(v)


class HarnessTest(unittest.TestCase):
    """The harness can fail: the decoder, the pixels and the net log on known pages."""

    def test_png_decoder_reads_every_filter(self):
        rnd = random.Random(16)
        for channels, ctype in ((1, 0), (2, 4), (3, 2), (4, 6)):
            w, h = 7, 10
            rows = [bytes(rnd.randrange(256) for _ in range(w * channels)) for _ in range(h)]
            img = png_decode(_encode_png(w, h, ctype, channels, rows))
            self.assertEqual((img.width, img.height, img.channels), (w, h, channels))
            self.assertEqual(img.rows, rows)

    def test_known_page_pixels_and_requests(self):
        with tempfile.TemporaryDirectory() as d:
            page = os.path.join(d, "known.html")
            with open(page, "w") as f:
                f.write('<body style="margin:0;background:#fff">'
                        '<div style="width:100px;height:50px;background:#e03030"></div>'
                        '<img src="http://example.invalid/x.png"></body>')
            p = BROWSER.load(page, screenshot=(300, 200))
            self.assertEqual(round(p.image.share((0xe0, 0x30, 0x30)) * 300 * 200), 5000)
            s = p.image.stats()
            self.assertEqual(s["background"], (255, 255, 255))
            # The broken image's icon adds a few pixels, no more.
            self.assertTrue(5000 / 60000 <= s["non_background"] < 5400 / 60000, s)
            urls = [r["url"] for r in p.page_requests()]
            self.assertIn("http://example.invalid/x.png", urls)
            with open(page) as f:
                self.assertTrue(external_urls(f.read()))


def _encode_png(w, h, ctype, channels, rows):
    """A PNG of rows, each row with the next filter type (0-4), for the decoder's test."""
    raw, prev = bytearray(), bytes(w * channels)
    for y, row in enumerate(rows):
        f = y % 5
        out = bytearray()
        for x, v in enumerate(row):
            a = row[x - channels] if x >= channels else 0
            b = prev[x]
            c = prev[x - channels] if x >= channels else 0
            if f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
            else:
                pred = (0, a, b, (a + b) >> 1)[f]
            out.append((v - pred) & 255)
        raw += bytes([f]) + out
        prev = row

    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + \
            struct.pack(">I", zlib.crc32(kind + body))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, ctype, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(bytes(raw))) + chunk(b"IEND", b""))


class ReportTest(unittest.TestCase):
    """The mixed run's report (one run, loaded once, for every check)."""

    @classmethod
    def setUpClass(cls):
        cls.vrun = VimeRun.go(GPUCI, *FAILING_RUN_ARGS, env=failing_run_env())
        cls.page = None
        if os.path.isfile(cls.vrun.report):
            cls.page = BROWSER.load(cls.vrun.report, screenshot=SIZE)

    @classmethod
    def tearDownClass(cls):
        cls.vrun.close()

    def setUp(self):
        out = self.vrun.output()
        self.assertEqual(self.vrun.proc.returncode, 1, out)  # a failure and a crash
        self.assertTrue(self.vrun.run_id, out)
        statuses = {a["status"] for a in self.vrun.attempts}
        self.assertTrue({"passed", "failed", "flaky", "crashed"} <= statuses, statuses)
        self.assertTrue(any(not gpu_ids(a) for a in self.vrun.attempts))  # CPU tests
        self.assertIsNotNone(self.vrun.report_line, f"no `report: PATH` line:\n{out}")
        self.assertEqual(os.path.realpath(self.vrun.report_line), os.path.realpath(self.vrun.report))
        self.assertIsNotNone(self.page, f"no {self.vrun.report}")
        self.r = Report(self.page)

    def test_screenshot_is_not_blank(self):
        s = self.page.image.stats()
        self.assertEqual((s["width"], s["height"]), SIZE)
        self.assertGreaterEqual(s["distinct"], 8, s["distinct"])
        self.assertGreater(s["non_background"], 0.02, s["non_background"])
        # The bars' colours are on it: the viewport shows the timeline.
        for status in {a["status"] for a in self.vrun.attempts}:
            c = self.r.legend.get(status)
            self.assertTrue(c, f"no legend colour for {status}")
            self.assertGreater(self.page.image.share(rgb(c), tol=2), 0.0002,
                               f"{status}'s colour {c} is not on the screenshot")

    def test_one_attempt_group_per_history_attempt(self):
        index = self.vrun.index_of()
        want = sorted(index.values())
        got = sorted((int(g.get("data-test")), int(g.get("data-attempt")))
                     for g in self.r.attempts)
        self.assertEqual(got, want)
        self.assertEqual(len(self.r.attempts), len(self.vrun.attempts))

    def groups(self):
        """[(history attempt, its g.attempt)], by (data-test, data-attempt)."""
        by = {(int(g.get("data-test")), int(g.get("data-attempt"))): g for g in self.r.attempts}
        index = self.vrun.index_of()
        return [(a, by[index[a["id"]]]) for a in self.vrun.attempts if index[a["id"]] in by]

    def test_lanes_gpu_lanes_first(self):
        ks = sorted(self.r.lanes)
        self.assertEqual(ks, list(range(len(ks))))
        gpu = [self.r.lanes[k].get("data-gpu") for k in ks]
        n = sum(1 for g in gpu if g != "")
        self.assertTrue(all(g != "" for g in gpu[:n]) and all(g == "" for g in gpu[n:]), gpu)
        ids = [int(g) for g in gpu[:n]]
        self.assertEqual(ids, sorted(ids))
        used = {g for a in self.vrun.attempts for g in gpu_ids(a)}
        self.assertTrue(used <= set(ids) <= set(range(8)), (used, ids))
        for k in ks[:n]:
            self.assertEqual(self.r.lanes[k].get("data-name"), f"GPU {gpu[k]}")
        for k in ks[n:]:
            self.assertTrue(self.r.lanes[k].get("data-name", "").startswith("CPU"))

    def test_bars_on_the_lanes_of_their_gpus(self):
        pairs = self.groups()
        self.assertEqual(len(pairs), len(self.vrun.attempts))
        for a, g in pairs:
            with self.subTest(attempt=a["id"], log=os.path.basename(a["log_path"])):
                rects = g.find_all("rect", cls="bar")
                ids = gpu_ids(a)
                self.assertEqual(len(rects), max(1, len(ids)))
                lanes = [self.r.lanes[int(x.get("data-lane"))] for x in rects]
                self.assertEqual(sorted(l.get("data-gpu") for l in lanes),
                                 sorted(str(i) for i in ids) if ids else [""])
                self.assertEqual(sorted(int(x) for x in g.get("data-gpus", "").split(",") if x),
                                 ids)
                for x in rects:
                    k = int(x.get("data-lane"))
                    y, h = _num(x, "y"), _num(x, "height")
                    lo, hi = self.r.top + k * self.r.lane_h, self.r.top + (k + 1) * self.r.lane_h
                    self.assertTrue(lo - 0.01 <= y and y + h <= hi + 0.01 and h > 0,
                                    f"lane {k} [{lo}, {hi}): y {y} height {h}")

    def test_bar_times_match_history(self):
        for a, g in self.groups():
            start, end = a["started_at"], a["started_at"] + a["duration"]
            with self.subTest(attempt=a["id"], log=os.path.basename(a["log_path"])):
                self.assertAlmostEqual(float(g.get("data-start")), start, delta=TOL)
                self.assertAlmostEqual(float(g.get("data-end")), end, delta=TOL)
                for x in g.find_all("rect", cls="bar"):
                    x0, w = _num(x, "x"), _num(x, "width")
                    self.assertAlmostEqual(self.r.time_at(x0), start, delta=TOL)
                    self.assertAlmostEqual(self.r.time_at(x0 + w), end, delta=TOL)

    def test_status_and_fill_are_the_legend_colours(self):
        cols = [c for c in self.r.legend.values()]
        self.assertTrue(set(STATUSES) >= set(self.r.legend), self.r.legend)
        self.assertEqual(len(set(cols)), len(cols), f"two statuses share a colour: {self.r.legend}")
        for a, g in self.groups():
            with self.subTest(attempt=a["id"], log=os.path.basename(a["log_path"])):
                self.assertEqual(g.get("data-status"), a["status"])
                self.assertIn(a["status"], self.r.legend)
                for x in g.find_all("rect", cls="bar"):
                    fill = colour(x.get("fill")) or colour(_style(x, "fill"))
                    self.assertEqual(fill, self.r.legend[a["status"]])
                self.assertTrue(g.find("title") and g.find("title").text().strip())
                log = g.get("data-log", "")
                self.assertEqual(os.path.realpath(os.path.join(os.path.dirname(self.vrun.report),
                                                               log)),
                                 os.path.realpath(a["log_path"]))

    def test_table_one_row_per_test(self):
        tests = self.vrun.tests()
        self.assertEqual([int(r.get("data-test")) for r in self.r.rows], list(range(len(tests))))
        for tr, (row, atts) in zip(self.r.rows, tests):
            with self.subTest(test=row["test"]):
                self.assertEqual(tr.get("data-status"), row["status"])
                self.assertEqual(int(tr.get("data-attempts")), len(atts))
                self.assertAlmostEqual(float(tr.get("data-duration")), atts[-1]["duration"],
                                       delta=TOL)
                self.assertIn(row["test"].split()[0], tr.text())
                tail = tr.find("details", cls="tail")
                if row["status"] in ("failed", "timeout", "crashed"):
                    self.assertTrue(tail and tail.find("pre"), f"no log tail for {row}")
                if "precision" in row["test"] and row["status"] == "failed":
                    self.assertIn("loss diverged", tail.find("pre").text())

    def test_summary(self):
        self.assertIsNotNone(self.r.summary, "no <dl id=\"summary\">")
        dd = {d.get("data-key"): d.text().strip() for d in self.r.summary.find_all("dd")}
        for key in ("utilisation", "bound", "ratio", "wall", "gpus"):
            self.assertTrue(dd.get(key), f"summary: no {key} in {dd}")
        self.assertRegex(dd["gpus"], r"\b8\b")

    def test_no_network_no_external_url(self):
        self.assertEqual(self.page.page_requests(), [])
        with open(self.vrun.report, encoding="utf-8") as f:
            text = f.read()
        self.assertEqual(external_urls(text), [])
        self.assertEqual(external_urls(self.page.dom), [])
        # Logs are linked relatively, and the links lead to the logs.
        base = os.path.dirname(self.vrun.report)
        for a in parse_html(text).find_all("a", href=True):
            href = a.get("href")
            if href.startswith("#"):
                continue
            self.assertFalse(re.match(r"^([a-z]+:|/)", href), href)
            self.assertTrue(os.path.exists(os.path.join(base, href.split("#")[0])), href)


class OneTestReportTest(unittest.TestCase):
    def test_one_test_report_is_readable(self):
        run = VimeRun.go(GPUCI, "--label", "run-ci-precision", "--no-always",
                         "--test", "test_qwen3_4B_precision.py")
        try:
            self.assertEqual(run.proc.returncode, 0, run.output())
            self.assertEqual(len(run.attempts), 1, run.output())
            self.assertTrue(os.path.isfile(run.report), run.output())
            page = BROWSER.load(run.report, screenshot=SIZE)
            r = Report(page)
            self.assertEqual(len(r.attempts), 1)
            bars = r.attempts[0].find_all("rect", cls="bar")
            self.assertEqual(len(bars), 2)  # a 2-GPU test
            w = _num(bars[0], "width")
            svg_w = float(r.svg.get("width") or 0) or SIZE[0]
            self.assertGreater(w, 0.3 * (svg_w - r.left), "the lone bar is not most of the width")
            self.assertTrue(r.attempts[0].find("text"), "the lone bar has no label")
            self.assertIn("test_qwen3_4B_precision", r.attempts[0].find("title").text())
            self.assertEqual(len(r.rows), 1)
            self.assertIsNotNone(r.summary, "no header (<dl id=\"summary\">)")
            dd = {d.get("data-key"): d.text().strip() for d in r.summary.find_all("dd")}
            self.assertTrue(dd.get("wall") and dd.get("gpus"), dd)
            s = page.image.stats()
            self.assertGreater(s["non_background"], 0.01, s)
            self.assertGreater(page.image.share(rgb(r.legend["passed"]), tol=2), 0.001)
            self.assertEqual(page.page_requests(), [])
        finally:
            run.close()


def main():
    global GPUCI, BROWSER
    if len(sys.argv) < 2:
        print("usage: report_browser_test.py GPUCI", file=sys.stderr)
        return 2
    GPUCI = os.path.abspath(sys.argv.pop(1))
    tmp = tempfile.TemporaryDirectory(prefix="gpuci-browser.")
    try:
        BROWSER = Browser.start(tmp.name)
    except Unavailable as e:
        skip(f"no headless Chromium: {e}")
    try:
        prog = unittest.main(module="__main__", exit=False, verbosity=2)
    finally:
        tmp.cleanup()
    return 0 if prog.result.wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main())
