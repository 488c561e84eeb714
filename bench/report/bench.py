#!/usr/bin/python3
"""Benchmark of report.html at scale: a 500-test run's page in headless Chromium
against a 1-test run's, loaded the same way in the same invocation.

Run through bench/report/run.sh.  Prints figures; asserts nothing.

It generates a repository in a temp dir (.github/workflows/pr-test.yml, one
job `suite` run by the label `run-bench`, whose matrix lists --tests entries
of tests/test_t.py with 1, 2 or 4 GPUs, each sleeping 20-80 ms, one in 100
failing), runs `gpuci run --gpus 8` on it (simulated GPUs, lock files and
history in the temp dir, under GitHub Actions' variables so that the step
summary's Mermaid block is written too), and the same with a one-entry
workflow. Then, alternating, --reps times each:

  in-page:  a local page loads the report in an iframe and writes the time
            from setting its src to its load event (real clock: no virtual
            time) into its DOM, read back with --dump-dom;
  process:  Chromium started on the report, a screenshot taken (so it is
            laid out and painted), the process's wall time.

Medians are printed with the ratio of the 500-test report to the 1-test one,
and the report's size in bytes against a ceiling of 2 MiB; also the Mermaid
block's size against mermaid's 50 000-character limit and what gpuci said
it left out.
"""
import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "harness"))
from browser import Browser, Unavailable, mermaid_js  # noqa: E402

PY = "/usr/bin/python3" if os.access("/usr/bin/python3", os.X_OK) else (shutil.which("python3") or sys.executable)
LABEL = "run-bench"
CEILING = 2 * 1024 * 1024
MERMAID_LIMIT = 50000
GPUS = (1, 1, 2, 1, 4, 1, 2, 1)
PROBLEMS = []

TEST = '''"""Synthetic test of bench/report: sleeps --seconds S, fails with --fail."""
import sys
import time

NUM_GPUS = 1


def main():
    s = float(sys.argv[sys.argv.index("--seconds") + 1])
    time.sleep(s)
    if "--fail" in sys.argv:
        print("synthetic failure: loss diverged (bench/report)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
'''

WAITER = """<!DOCTYPE html><html><body><pre id="t">pending</pre>
<iframe id="f" width="1400" height="900"></iframe><script>
const f = document.getElementById("f"), t0 = performance.now();
f.onload = () => { document.getElementById("t").textContent = "loaded " + (performance.now() - t0); };
f.src = %s;
</script></body></html>
"""


MERMAID_PAGE = """<!DOCTYPE html><html><head><script src=%s></script></head><body>
<div id="out" data-state="pending"></div><pre id="error"></pre><script>
const SRC = %s, out = document.getElementById("out"), t0 = performance.now();
mermaid.initialize({startOnLoad: false});
mermaid.render("gantt", SRC).then(r => { out.dataset.ms = performance.now() - t0;
  out.innerHTML = r.svg; out.dataset.state = "ok"; })
  .catch(e => { out.dataset.state = "error"; document.getElementById("error").textContent = String(e); });
</script></body></html>
"""


def problem(text):
    PROBLEMS.append(text)
    print(f"    !! {text}", flush=True)


def make_repo(root, n):
    os.makedirs(os.path.join(root, ".github", "workflows"))
    os.makedirs(os.path.join(root, "tests"))
    with open(os.path.join(root, "tests", "test_t.py"), "w") as f:
        f.write(TEST)
    entries = []
    for k in range(n):
        args = f"--k {k} --seconds {0.02 + (k % 7) * 0.01:.2f}" + (" --fail" if k % 100 == 99 else "")
        entries.append(f"          - {{test_file: test_t.py, num_gpus: {GPUS[k % len(GPUS)]}, "
                       f"test_args: '{args}'}}\n")
    wf = os.path.join(root, ".github", "workflows", "pr-test.yml")
    with open(wf, "w") as f:
        f.write("name: bench-report\n"
                "on:\n  pull_request:\n    types: [labeled]\n"
                "jobs:\n"
                "  suite:\n"
                f"    if: contains(github.event.pull_request.labels.*.name, '{LABEL}')\n"
                "    runs-on: self-hosted\n"
                "    strategy:\n      fail-fast: false\n      matrix:\n        info:\n"
                + "".join(entries) +
                "    steps:\n"
                "      - name: Execute\n"
                "        run: gpuci lock --count \"${{ matrix.info.num_gpus }}\" -- "
                "python \"tests/${{ matrix.info.test_file }}\" ${{ matrix.info.test_args }}\n")
    return wf


def run_gpuci(gpuci, tmp, tag, n):
    repo = os.path.join(tmp, f"repo-{tag}")
    wf = make_repo(repo, n)
    summary = os.path.join(tmp, f"summary-{tag}.md")
    open(summary, "w").close()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("GITHUB_", "RUNNER_")) and k not in ("CUDA_VISIBLE_DEVICES",
                                                                    "GPUCI_TOTAL_GPUS")}
    env.update(GITHUB_ACTIONS="true", GITHUB_STEP_SUMMARY=summary, GPUCI_NVML="",
               PYTHONDONTWRITEBYTECODE="1")
    argv = [gpuci, "run", "--workflow", wf, "--label", LABEL, "--gpus", "8",
            "--lock-path-pattern", os.path.join(tmp, f"locks-{tag}", "{gpu_id}.lock"),
            "--history", os.path.join(tmp, f"history-{tag}.db"), "--cpu-jobs", "2",
            "--python", PY]
    os.makedirs(os.path.join(tmp, f"locks-{tag}"))
    t0 = time.monotonic()
    p = subprocess.run(argv, cwd=repo, env=env, capture_output=True, text=True, timeout=900)
    wall = time.monotonic() - t0
    want = 0 if n < 100 else 1  # one in 100 fails
    if p.returncode != want:
        problem(f"gpuci run ({n} tests): exit {p.returncode}, not {want}: "
                f"{(p.stdout + p.stderr)[-500:]}")
    m = re.findall(r"^report: (.+)$", p.stdout, re.M)
    if not m or not os.path.isfile(m[-1].strip()):
        problem(f"gpuci run ({n} tests) wrote no report (no `report: PATH` line)")
        return None, wall, summary, p.stdout
    return m[-1].strip(), wall, summary, p.stdout


def mermaid_figures(summary):
    with open(summary, encoding="utf-8") as f:
        text = f.read()
    blocks = re.findall(r"^```mermaid[ \t]*\n(.*?)^```[ \t]*$", text, re.M | re.S)
    if len(blocks) != 1:
        problem(f"the step summary has {len(blocks)} Mermaid blocks, not 1")
        return None
    after = text[text.index(blocks[0]) + len(blocks[0]):].split("\n")[1:]
    note = next((l.strip() for l in after if l.strip()), "")
    tasks = len(re.findall(r":\s*(?:(?:active|crit|done),\s*)*a\d+_\d+,", blocks[0]))
    return blocks[0], tasks, note


def render_mermaid(b, tmp, src):
    """Renders src with npm's mermaid in Chromium: (seconds in the page, error or None)."""
    try:
        js = mermaid_js(os.path.join(ROOT, "build"))
    except Unavailable as e:
        return None, f"not rendered: {e}"
    page = os.path.join(tmp, "mermaid.html")
    with open(page, "w") as f:
        f.write(MERMAID_PAGE % (json.dumps("file://" + js), json.dumps(src).replace("</", "<\\/")))
    p = b.load(page, budget_ms=60000, timeout=120)
    out = p.root.by_id("out")
    if out is None or out.get("data-state") != "ok":
        return None, "mermaid: " + (p.root.by_id("error").text() if p.root.by_id("error") else "?")
    return float(out.get("data-ms")) / 1000, None


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tests", type=int, default=500)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("gpuci")
    a = ap.parse_args()
    gpuci = os.path.abspath(a.gpuci)
    tmp = tempfile.mkdtemp(prefix="gpuci-bench-report.")
    try:
        try:
            b = Browser.start(tmp)
        except Unavailable as e:
            print(f"bench/report: no headless Chromium, nothing measured: {e}")
            return 0
        print(f"Chromium: {b.exe}; {a.tests} tests vs 1, {a.reps} loads each, 8 simulated GPUs")
        big, wall_big, summary, _ = run_gpuci(gpuci, tmp, "big", a.tests)
        one, wall_one, _, _ = run_gpuci(gpuci, tmp, "one", 1)
        print(f"gpuci run: {a.tests} tests in {wall_big:.1f} s, 1 test in {wall_one:.1f} s")
        if not big or not one:
            return 1
        size_big, size_one = os.path.getsize(big), os.path.getsize(one)
        page = b.load(big)
        groups = len(page.root.find_all("g", cls="attempt"))
        rows = len(page.root.find_all("tr", cls="test"))
        if groups != a.tests or rows != a.tests:
            problem(f"{a.tests}-test report: {groups} attempt groups, {rows} table rows")
        if page.page_requests():
            problem(f"the report asked the network: {page.page_requests()[:3]}")
        inpage = {"big": [], "one": []}
        proc = {"big": [], "one": []}
        for r in range(a.reps):
            for tag, path in (("big", big), ("one", one)):
                w = os.path.join(tmp, f"waiter-{tag}.html")
                with open(w, "w") as f:
                    f.write(WAITER % json.dumps("file://" + path))
                p = b.load(w, budget_ms=None)
                m = re.search(r"loaded ([\d.]+)", p.dom or "")
                if not m:
                    problem(f"in-page load of the {tag} report: no time in {p.dom[:200]!r}")
                else:
                    inpage[tag].append(float(m.group(1)) / 1000)
                t0 = time.monotonic()
                b.load(path, screenshot=(1400, 900), budget_ms=None, dom=False)
                proc[tag].append(time.monotonic() - t0)
        print()
        print(f"{'':28}{a.tests:>6} tests {'1 test':>12} {'ratio':>8}")
        for name, d in (("in-page load (iframe)", inpage), ("chromium + screenshot", proc)):
            if d["big"] and d["one"]:
                x, y = statistics.median(d["big"]), statistics.median(d["one"])
                print(f"{name:28}{x * 1000:9.0f} ms {y * 1000:9.0f} ms {x / y:7.2f}x")
        print(f"{'report.html size':28}{size_big:9d} B  {size_one:9d} B  {size_big / size_one:7.1f}x")
        verdict = "within" if size_big <= CEILING else "OVER"
        print(f"size of the {a.tests}-test report: {size_big} bytes, {size_big / CEILING:.0%} of the "
              f"{CEILING} (2 MiB) ceiling: {verdict}; {size_big / a.tests:.0f} bytes a test")
        mf = mermaid_figures(summary)
        if mf:
            src, tasks, note = mf
            chars = len(src)
            print(f"Mermaid block: {chars} characters ({chars / MERMAID_LIMIT:.0%} of mermaid's "
                  f"{MERMAID_LIMIT}), {tasks} tasks; after it: {note or '(nothing)'}")
            if chars > MERMAID_LIMIT:
                problem(f"the Mermaid block is {chars} characters, over mermaid's {MERMAID_LIMIT}")
            secs, err = render_mermaid(b, tmp, src)
            if secs is not None:
                print(f"Mermaid block rendered by mermaid@11 in Chromium in {secs * 1000:.0f} ms "
                      "(virtual time: a rough figure)")
            elif err.startswith("mermaid:"):
                problem(f"the Mermaid block does not render: {err}")
            else:
                print(f"Mermaid block {err}")
        print()
        print("Things that looked wrong:" if PROBLEMS else "Things that looked wrong: none")
        for t in PROBLEMS:
            print(f"  - {t}")
        if a.keep:
            print(f"kept: {tmp}")
        return 1 if PROBLEMS else 0
    finally:
        if not a.keep:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
