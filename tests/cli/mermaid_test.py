#!/usr/bin/env python3
"""The step summary's Mermaid gantt, rendered by mermaid itself in headless Chromium.

`gpuci run` under GitHub Actions (GITHUB_ACTIONS=true, GITHUB_STEP_SUMMARY a
file) on vime-mini (8 simulated GPUs, a failure, a crash, a flaky test
retried, CPU tests) writes a ```mermaid gantt block into the summary. It is
rendered by npm's mermaid@11 browser build (tests/harness/browser.py
installs it once into $GPUCI_NPM_CACHE, default BUILD/npm-cache), loaded
by a local page through file:// in Chromium, and checked:

- mermaid renders it (no error, an SVG), asking no network;
- one task per attempt and lane it occupies, ids aN_k: N every attempt of
  the history in start order, its start and end (epoch ms) the history's
  within 50 ms; k its lanes, the lanes of report.html, one section each
  (GPU g for the GPU lanes, CPU), the GPUs of each task the attempt's;
- tags by status (flaky active, failed/timeout/crashed crit, canceled done,
  passed none), in the source and in the rendered classes;
- a task rect in the SVG for each task, a section title for each section.

Skipped (77) with the reason where Chromium cannot run or npm cannot install
mermaid.

Run: python3 tests/cli/mermaid_test.py build/gpuci build
"""
import json
import os
import re
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "harness"))
sys.path.insert(0, HERE)
from browser import Browser, Unavailable, mermaid_js, parse_html, skip  # noqa: E402
from report_run import FAILING_RUN_ARGS, VimeRun, failing_run_env, gpu_ids  # noqa: E402

GPUCI = BUILD = BROWSER = MERMAID = None
TOL_MS = 50
MERMAID_MAX = 50000  # mermaid's maxTextSize, its default
CUT_TESTS = 60
TAGS = {"passed": set(), "flaky": {"active"}, "failed": {"crit"}, "timeout": {"crit"},
        "crashed": {"crit"}, "canceled": {"done"}}
# mermaid's classes of a task's rect (a section index after each): task, active,
# crit, done, activeCrit, doneCrit.
RENDERED = {"active": {"active"}, "crit": {"crit"}, "done": {"done"},
            "activeCrit": {"active", "crit"}, "doneCrit": {"done", "crit"}}
PAGE = """<!DOCTYPE html><html><head><meta charset="utf-8">
<script src="%(js)s"></script></head><body>
<div id="out" data-state="pending"></div><pre id="error"></pre>
<script>
const SRC = %(src)s;
const out = document.getElementById("out");
mermaid.initialize({startOnLoad: false});
mermaid.parse(SRC)
  .then(() => mermaid.render("gantt", SRC))
  .then(r => { out.innerHTML = r.svg; out.dataset.state = "ok"; })
  .catch(e => { out.dataset.state = "error";
                document.getElementById("error").textContent = String(e && e.message || e); });
</script></body></html>
"""


def mermaid_blocks(text):
    return re.findall(r"^```mermaid[ \t]*\n(.*?)^```[ \t]*$", text, re.M | re.S)


def parse_gantt(src):
    """The gantt's sections [(name, [task])], a task {label, tags, id, n, k, start, end}."""
    sections, head = [], []
    for line in src.splitlines():
        s = line.strip()
        if not s or s.startswith("%%"):
            continue
        if s.startswith("section "):
            sections.append((s[len("section "):].strip(), []))
            continue
        if not sections:
            head.append(s)
            continue
        label, colon, meta = s.partition(":")
        if not colon:
            raise AssertionError(f"not a task line: {line!r}")
        parts = [p.strip() for p in meta.split(",")]
        tags = {p for p in parts if p in ("active", "crit", "done", "milestone")}
        rest = [p for p in parts if p not in tags]
        if len(rest) != 3 or not re.fullmatch(r"a(\d+)_(\d+)", rest[0]):
            raise AssertionError(f"task without id, start, end: {line!r}")
        n, k = map(int, re.fullmatch(r"a(\d+)_(\d+)", rest[0]).groups())
        start = int(rest[1])
        end = _end(rest[2], start)
        sections[-1][1].append({"label": label.strip(), "tags": tags, "id": rest[0], "n": n,
                                "k": k, "start": start, "end": end})
    return head, sections


def _end(text, start):
    if re.fullmatch(r"\d+", text):
        return int(text)
    m = re.fullmatch(r"(\d+(?:\.\d+)?)(ms|s|m|h)", text)
    if not m:
        raise AssertionError(f"task end {text!r}: neither epoch ms nor a duration")
    return start + float(m.group(1)) * {"ms": 1, "s": 1e3, "m": 6e4, "h": 3.6e6}[m.group(2)]


class MermaidTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="gpuci-mermaid.")
        cls.summary = os.path.join(cls.tmp.name, "step-summary.md")
        open(cls.summary, "w").close()
        cls.vrun = VimeRun.go(GPUCI, *FAILING_RUN_ARGS,
                              env=dict(failing_run_env(), GITHUB_ACTIONS="true",
                                       GITHUB_STEP_SUMMARY=cls.summary))
        with open(cls.summary, encoding="utf-8") as f:
            cls.text = f.read()
        blocks = mermaid_blocks(cls.text)
        cls.src = blocks[0] if len(blocks) == 1 else None
        cls.page = render_page(cls.tmp.name, cls.src) if cls.src is not None else None

    @classmethod
    def tearDownClass(cls):
        cls.vrun.close()
        cls.tmp.cleanup()

    def setUp(self):
        self.assertEqual(self.vrun.proc.returncode, 1, self.vrun.output())
        statuses = {a["status"] for a in self.vrun.attempts}
        self.assertTrue({"passed", "failed", "flaky", "crashed"} <= statuses, statuses)
        self.assertEqual(len(mermaid_blocks(self.text)), 1, f"summary:\n{self.text}")

    @property
    def sections(self):
        return parse_gantt(self.src)[1]

    @property
    def tasks(self):
        return [t for _, ts in self.sections for t in ts]

    def test_renders_without_error(self):
        out = self.page.root.by_id("out")
        err = self.page.root.by_id("error").text()
        self.assertEqual(out.get("data-state"), "ok", f"mermaid: {err}\n{self.src}")
        self.assertIsNotNone(out.find("svg"))
        self.assertEqual(self.page.page_requests(), [])
        head = [l.strip() for l in self.src.splitlines() if l.strip()]
        if head[0] == "---":  # front matter (mermaid's config)
            head = head[head.index("---", 1) + 1:]
        self.assertEqual(head[0], "gantt")
        self.assertIn("dateFormat x", head[:head.index(next(l for l in head
                                                            if l.startswith("section ")))])

    def test_one_task_per_attempt_and_lane(self):
        attempts = self.vrun.attempts
        self.assertEqual(len(self.tasks), sum(max(1, len(gpu_ids(a))) for a in attempts))
        self.assertEqual(len({t["id"] for t in self.tasks}), len(self.tasks))
        by_n = {}
        for t in self.tasks:
            by_n.setdefault(t["n"], []).append(t)
        self.assertEqual(sorted(by_n), list(range(len(attempts))))
        # N in start order: attempt N's start is the Nth smallest, to the ms.
        starts = [by_n[n][0]["start"] for n in sorted(by_n)]
        self.assertEqual(starts, sorted(starts))
        left = list(attempts)
        for n in sorted(by_n):
            ts = by_n[n]
            with self.subTest(n=n):
                self.assertEqual(len({(t["start"], t["end"]) for t in ts}), 1, ts)
                self.assertEqual(len({t["k"] for t in ts}), len(ts), ts)
                gpus = sorted(self.gpu_of_section(t) for t in ts)
                match = [a for a in left
                         if abs(a["started_at"] * 1000 - ts[0]["start"]) <= TOL_MS
                         and abs((a["started_at"] + a["duration"]) * 1000 - ts[0]["end"]) <= TOL_MS
                         and (gpu_ids(a) or [None]) == gpus]
                self.assertTrue(match, f"no attempt of the history is task a{n}_*: {ts}")
                a = match[0]
                left.remove(a)
                for t in ts:
                    self.assertEqual(t["tags"], TAGS[a["status"]], (a["status"], t))
        self.assertEqual(left, [])

    def gpu_of_section(self, task):
        """The GPU id of the section holding task (None for a CPU section)."""
        name = next(n for n, ts in self.sections if task in ts)
        m = re.fullmatch(r"(?:\S+ )?GPU (\d+)", name)
        if m:
            return int(m.group(1))
        self.assertRegex(name, r"^(\S+ )?CPU\b")
        return None

    def test_a_section_per_lane(self):
        lanes_of = [sorted({t["k"] for t in ts}) for _, ts in self.sections]
        for (name, _), ks in zip(self.sections, lanes_of):
            self.assertEqual(len(ks), 1, f"section {name}: lanes {ks}, not one")
        ks = [k[0] for k in lanes_of]
        self.assertEqual(len(ks), len(set(ks)), f"a lane in two sections: {ks}")
        gpu = [n for n, _ in self.sections if re.search(r"GPU \d+$", n)]
        self.assertEqual(len(gpu), len(set(gpu)))
        used = {g for a in self.vrun.attempts for g in gpu_ids(a)}
        self.assertTrue(used <= {int(n.split()[-1]) for n in gpu}, (used, gpu))
        # The lanes are report.html's: lane k of section GPU g has data-gpu g there.
        with open(self.vrun.report, encoding="utf-8") as f:
            lanes = {int(g.get("data-lane")): g
                     for g in parse_html(f.read()).find_all("g", cls="lane")}
        for (name, _), k in zip(self.sections, ks):
            self.assertIn(k, lanes)
            want = name.split()[-1] if re.search(r"GPU \d+$", name) else ""
            self.assertEqual(lanes[k].get("data-gpu"), want, (name, k))

    def test_rendered_tasks_and_sections(self):
        svg = self.page.root.by_id("out").find("svg")
        self.assertIsNotNone(svg)
        rects = [r for r in svg.find_all("rect") if "task" in r.classes()
                 and re.search(r"-a\d+_\d+$", r.get("id", ""))]
        self.assertEqual(sorted(r.get("id").rsplit("-", 1)[1] for r in rects),
                         sorted(t["id"] for t in self.tasks))
        want = {t["id"]: t["tags"] for t in self.tasks}
        for r in rects:
            tags = set()
            for c in r.classes():
                tags |= RENDERED.get(re.sub(r"\d+$", "", c), set())
            self.assertEqual(tags, want[r.get("id").rsplit("-", 1)[1]], r)
        titles = [t.text().strip() for t in svg.find_all("text") if "sectionTitle" in t.classes()]
        # mermaid draws sections of one name (the CPU lanes' "CPU") as one
        names = []
        for n, _ in self.sections:
            names += [n] if n not in names else []
        self.assertEqual(titles, names)


WIDE_TEST = """import sys, time
NUM_GPUS = 8
time.sleep(float(sys.argv[sys.argv.index("--seconds") + 1]))
"""


def make_wide(root, n=CUT_TESTS):
    """n 8-GPU tests (so 8 tasks each), their names long: a gantt past mermaid's limit."""
    os.makedirs(os.path.join(root, "tests"))
    with open(os.path.join(root, "tests", "test_wide.py"), "w") as f:
        f.write(WIDE_TEST)
    pad = "-" * 60
    entries = "".join(f"          - {{test_file: test_wide.py, num_gpus: 8, test_args: "
                      f"'--k {k} --seconds {0.01 + (k % 5) * 0.02:.2f} --pad{pad}'}}\n"
                      for k in range(n))
    with open(os.path.join(root, ".github", "workflows", "pr-test.yml"), "w") as f:
        f.write("name: wide\non:\n  pull_request:\n    types: [labeled]\njobs:\n  wide:\n"
                "    if: contains(github.event.pull_request.labels.*.name, 'run-wide')\n"
                "    runs-on: self-hosted\n    strategy:\n      matrix:\n        info:\n"
                + entries + "    steps:\n      - name: Execute\n        run: gpuci lock --count "
                "${{ matrix.info.num_gpus }} -- python tests/${{ matrix.info.test_file }} "
                "${{ matrix.info.test_args }}\n")


class CutTest(unittest.TestCase):
    """A gantt past mermaid's 50 000 characters: the shortest attempts left out, said so."""

    def test_past_the_limit_the_shortest_are_left_out(self):
        with tempfile.TemporaryDirectory(prefix="gpuci-mermaid-cut.") as d:
            summary = os.path.join(d, "step-summary.md")
            open(summary, "w").close()
            run = VimeRun.go(GPUCI, "--label", "run-wide", make=make_wide,
                             env=dict(GITHUB_ACTIONS="true", GITHUB_STEP_SUMMARY=summary))
            try:
                self.assertEqual(run.proc.returncode, 0, run.output())
                self.assertEqual(len(run.attempts), CUT_TESTS, run.output())
                with open(summary, encoding="utf-8") as f:
                    text = f.read()
                blocks = mermaid_blocks(text)
                self.assertEqual(len(blocks), 1, text[:2000])
                src = blocks[0]
                self.assertLessEqual(len(src), MERMAID_MAX)
                tasks = [t for _, ts in parse_gantt(src)[1] for t in ts]
                kept = sorted({t["n"] for t in tasks})
                for n in kept:
                    self.assertEqual(sum(1 for t in tasks if t["n"] == n), 8)
                left = CUT_TESTS - len(kept)
                self.assertGreater(left, 0, f"{len(src)} characters, nothing left out")
                after = text[text.index(src) + len(src):]
                self.assertRegex(after, rf"\b{left}\b[^\n]*\b{CUT_TESTS}\b",
                                 "the line after the block does not say how many are left out")
                # N is the start order: the kept attempts are the history's by start.
                by_start = run.attempts
                dur = [a["duration"] for a in by_start]
                out = [dur[i] for i in range(CUT_TESTS) if i not in kept]
                inn = [dur[i] for i in kept]
                for n in kept:
                    t = next(t for t in tasks if t["n"] == n)
                    self.assertAlmostEqual(t["start"], by_start[n]["started_at"] * 1000,
                                           delta=TOL_MS)
                self.assertLessEqual(max(out), max(inn))
                self.assertLess(sum(out) / len(out), sum(inn) / len(inn), (out, inn))
                page = render_page(d, src)
                self.assertEqual(page.root.by_id("out").get("data-state"), "ok",
                                 page.root.by_id("error").text())
                svg = page.root.by_id("out").find("svg")
                self.assertEqual(len([r for r in svg.find_all("rect") if "task" in r.classes()]),
                                 len(tasks))
            finally:
                run.close()


def render_page(d, src):
    """src rendered by mermaid in Chromium, from a page in folder d."""
    page = os.path.join(d, "render.html")
    with open(page, "w", encoding="utf-8") as f:
        f.write(PAGE % {"js": "file://" + MERMAID, "src": json.dumps(src).replace("</", "<\\/")})
    return BROWSER.load(page, budget_ms=20000, timeout=90)


def main():
    global GPUCI, BUILD, BROWSER, MERMAID
    if len(sys.argv) < 3:
        print("usage: mermaid_test.py GPUCI BUILD_DIR", file=sys.stderr)
        return 2
    GPUCI, BUILD = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    del sys.argv[1:3]
    tmp = tempfile.TemporaryDirectory(prefix="gpuci-browser.")
    try:
        BROWSER = Browser.start(tmp.name)
        MERMAID = mermaid_js(BUILD)
    except Unavailable as e:
        skip(str(e))
    try:
        prog = unittest.main(module="__main__", exit=False, verbosity=2)
    finally:
        tmp.cleanup()
    return 0 if prog.result.wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main())
