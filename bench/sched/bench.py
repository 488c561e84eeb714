#!/usr/bin/python3
"""Benchmark of `gpuci run`'s scheduling against the old way (one lock poller per test).

Run through bench/sched/run.sh.  Prints figures; asserts nothing.

For each synthetic suite (tests that sleep known durations) it generates a
repository in a temp dir: .github/workflows/pr-test.yml, one job `suite` run
by the label `run-bench` whose matrix lists the tests, and tests/test_NN.py
files that check CUDA_VISIBLE_DEVICES names NUM_GPUS GPUs, sleep their
duration and log when they ran on which GPUs. Then, on 8 simulated GPUs:

  gpuci cold:  gpuci run --label run-bench --gpus 8 with an empty history
  gpuci warm:  the same again, the durations now in the history
  old way:     8 runners (threads) take the tests in file order, each test
               under ref_poller.py (bench/lock: the old gpu_lock_exec.py
               algorithm, a non-blocking flock try on every GPU and a random
               0-5 s sleep between tries), the job keeping its GPUs HOLD s
               after the test ends

Makespan is wall clock from spawn to exit (gpuci) or from the runners' start
to the last one's end (old way).  The lower bound is max(sum(gpus *
duration) / 8, longest duration) over the nominal durations.
"""
import argparse
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque

HERE = os.path.dirname(os.path.abspath(__file__))
REF = os.path.join(os.path.dirname(HERE), "lock", "ref_poller.py")
PY = "/usr/bin/python3" if os.access("/usr/bin/python3", os.X_OK) else (shutil.which("python3") or sys.executable)
TOTAL = 8
LABEL = "run-bench"
TARGET = 1.05
SHARDS = (2, 4)      # simulated machines of TOTAL GPUs each, for `gpuci plan --shards`
SHARD_TARGET = 1.10

PROBLEMS = []

# name, what it mirrors, unit in seconds (at --scale 1), [(gpus, units)] in file order.
# Each suite's lower bound is about 10 s at --scale 1, and a schedule meeting it exists.
SUITES = [
    ("4x 4-GPU", "vime's run-ci-short shape (4-GPU tests)", 1.5,
     [(4, 2), (4, 3), (4, 4), (4, 5)]),
    ("13x 8-GPU", "vime's megatron/8-GPU shape (13 tests, one at a time)", 0.16,
     [(8, u) for u in (5, 3, 7, 4, 6, 5, 3, 7, 4, 6, 5, 3, 7)]),
    # An exact packing of 8 GPUs x 40 units exists: the two 8-GPU tests (5 + 3), then
    # GPUs 0-3: 18 + 8 + 6, GPUs 4-5: 12 + 11 + 9, GPU 6: 19 + 13, GPU 7: 16 + 10 + 4 + 2.
    # No two durations are equal, so the order longest-first gives is not left to noise.
    ("mix 1/2/4/8", "1-, 2-, 4- and 8-GPU tests, durations 1x to 10x (vime's image-suite shape)",
     0.25,
     [(1, 19), (2, 12), (8, 5), (4, 18), (1, 16), (2, 11), (1, 4), (4, 8), (8, 3), (1, 13),
      (2, 9), (4, 6), (1, 10), (1, 2)]),
]

TEST_TEMPLATE = '''"""Synthetic test {k} of bench/sched: {gpus} GPU(s) for {seconds:.3f} s."""
import json
import os
import sys
import time

T0 = time.monotonic()
NUM_GPUS = {gpus}
SECONDS = {seconds!r}
RECORD = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, ".bench", "record.jsonl")


def age():
    """Seconds since this process was forked (so interpreter start-up counts as test time)."""
    with open("/proc/self/stat") as f:
        stat = f.read()
    ticks = int(stat[stat.rindex(")") + 2:].split()[19])
    hz = os.sysconf("SC_CLK_TCK")  # the fork time is known to a tick: take the tick's middle
    a = time.clock_gettime(time.CLOCK_BOOTTIME) - (ticks + 0.5) / hz
    return a if -1.0 / hz <= a < 1.0 else 0.0  # an odd clock: count from here


def main():
    raw = os.environ.get("CUDA_VISIBLE_DEVICES", "")
    ids = [x.strip() for x in raw.split(",") if x.strip()]
    ok = len(ids) == NUM_GPUS and len(set(ids)) == NUM_GPUS and all(x.isdigit() for x in ids)
    start = time.monotonic() - age()
    if ok:
        time.sleep(max(0.0, start + SECONDS - time.monotonic()))
    rec = {{"k": {k}, "gpus": [int(x) for x in ids if x.isdigit()], "want": NUM_GPUS,
           "start": start, "t0": T0, "end": time.monotonic(), "ok": ok, "cvd": raw}}
    fd = os.open(RECORD, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (json.dumps(rec) + "\\n").encode())
    finally:
        os.close(fd)
    if not ok:
        print(f"CUDA_VISIBLE_DEVICES={{raw!r}}, but this test needs {{NUM_GPUS}} GPU(s)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
'''


def problem(text):
    PROBLEMS.append(text)
    print(f"    !! {text}", flush=True)


def lower_bound(tests):
    return max(sum(g * d for g, d in tests) / TOTAL, max(d for _, d in tests))


def make_repo(root, tests):
    os.makedirs(os.path.join(root, ".github", "workflows"))
    os.makedirs(os.path.join(root, "tests"))
    os.makedirs(os.path.join(root, ".bench"))
    entries = []
    for k, (g, d) in enumerate(tests):
        name = f"test_{k:02d}.py"
        with open(os.path.join(root, "tests", name), "w") as f:
            f.write(TEST_TEMPLATE.format(k=k, gpus=g, seconds=round(d, 3)))
        entries.append(f"          - {{test_file: {name}, num_gpus: {g}, test_args: ''}}\n")
    with open(os.path.join(root, ".github", "workflows", "pr-test.yml"), "w") as f:
        f.write("name: bench-sched\n"
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
    return os.path.join(root, ".github", "workflows", "pr-test.yml")


def child_env():
    env = dict(os.environ)
    for k in ("GITHUB_ACTIONS", "GITHUB_STEP_SUMMARY", "CUDA_VISIBLE_DEVICES",
              "GPUCI_TOTAL_GPUS"):
        env.pop(k, None)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def read_record(repo):
    path = os.path.join(repo, ".bench", "record.jsonl")
    try:
        with open(path) as f:
            return [json.loads(line) for line in f if line.strip()]
    except FileNotFoundError:
        return []


def clear_record(repo):
    try:
        os.remove(os.path.join(repo, ".bench", "record.jsonl"))
    except FileNotFoundError:
        pass


def kill_group(p):
    try:
        os.killpg(p.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


class Result:
    def __init__(self, tool, makespan, recs, t0, t1, extra=""):
        self.tool = tool
        self.makespan = makespan
        self.recs = recs
        self.t0, self.t1 = t0, t1
        self.extra = extra

    def busy_area(self):
        return sum(len(r["gpus"]) * (r["end"] - r["start"]) for r in self.recs if r["ok"])

    def idle(self):
        if not self.makespan:
            return float("nan")
        # start is known to +-half a clock tick: a tiny negative share is noise
        return max(0.0, 1.0 - self.busy_area() / (TOTAL * self.makespan))

    def handoffs(self):
        """For each test that followed others on its GPUs: its start minus the last end there."""
        gaps = []
        for r in self.recs:
            prev = [q["end"] for q in self.recs
                    if q is not r and set(q["gpus"]) & set(r["gpus"]) and q["end"] <= r["t0"]]
            if prev:  # start is estimated to a clock tick: never below 0
                gaps.append(max(0.0, r["start"] - max(prev)))
        return gaps


def check_records(tool, recs, n):
    """Each test ran once, on the GPUs it asked for, and no two shared a GPU.

    The overlap check uses t0 (the test's first statement, exact), not start (its fork,
    estimated to a clock tick)."""
    seen = {}
    for r in recs:
        seen[r["k"]] = seen.get(r["k"], 0) + 1
        if not r["ok"]:
            problem(f"{tool}: test_{r['k']:02d} got CUDA_VISIBLE_DEVICES={r['cvd']!r}, "
                    f"needs {r['want']} GPU(s)")
    missing = [k for k in range(n) if k not in seen]
    twice = [k for k, c in seen.items() if c > 1]
    if missing:
        problem(f"{tool}: {len(missing)} test(s) never ran, e.g. test_{missing[0]:02d}")
    if twice:
        problem(f"{tool}: {len(twice)} test(s) ran more than once, e.g. test_{twice[0]:02d}")
    per = {}
    for r in recs:
        for g in r["gpus"]:
            per.setdefault(g, []).append((r["t0"], r["end"], r["k"]))
    for g, ivs in sorted(per.items()):
        ivs.sort()
        for a, b in zip(ivs, ivs[1:]):
            if b[0] < a[1]:
                problem(f"{tool}: GPU {g} held by test_{a[2]:02d} and test_{b[2]:02d} at once "
                        f"({(a[1] - b[0]) * 1000:.0f} ms)")


# --------------------------------------------------------------------------
# gpuci

def run_pty(argv, cwd, env, log_path, timeout):
    """Runs argv with a pseudo-terminal as stdout/stderr (the live-display style)."""
    import pty
    master, slave = pty.openpty()
    p = subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=slave,
                         stderr=slave, start_new_session=True)
    os.close(slave)

    def drain():
        with open(log_path, "wb") as f:
            while True:
                try:
                    b = os.read(master, 65536)
                except OSError:
                    break
                if not b:
                    break
                f.write(b)

    th = threading.Thread(target=drain, daemon=True)
    th.start()
    try:
        rc = p.wait(timeout)
    except subprocess.TimeoutExpired:
        kill_group(p)
        p.wait()
        rc = None
    th.join(5)
    os.close(master)
    return p, rc


def gpuci_argv(gpuci, wf, tmp):
    return [gpuci, "run", "--workflow", wf, "--label", LABEL, "--gpus", str(TOTAL),
            "--lock-path-pattern", os.path.join(tmp, "locks-gpuci", "{gpu_id}.lock"),
            "--history", os.path.join(tmp, "history.db"), "--cpu-jobs", "2", "--python", PY]


def run_gpuci(gpuci, repo, wf, tmp, tag, tests, tty, timeout):
    clear_record(repo)
    argv = gpuci_argv(gpuci, wf, tmp)
    log_path = os.path.join(tmp, f"gpuci-{tag}.log")
    env = child_env()
    t0 = time.monotonic()
    if tty:
        p, rc = run_pty(argv, repo, env, log_path, timeout)
    else:
        with open(log_path, "wb") as log:
            p = subprocess.Popen(argv, cwd=repo, env=env, stdin=subprocess.DEVNULL, stdout=log,
                                 stderr=subprocess.STDOUT, start_new_session=True)
            try:
                rc = p.wait(timeout)
            except subprocess.TimeoutExpired:
                kill_group(p)
                p.wait()
                rc = None
    t1 = time.monotonic()
    kill_group(p)  # anything it left behind in its session
    if rc is None:
        problem(f"gpuci {tag}: still running after {timeout:.0f} s, killed (log {log_path})")
    elif rc != 0:
        with open(log_path, errors="replace") as f:
            tail = f.read()[-600:].strip()
        problem(f"gpuci {tag}: exit {rc}: ...{tail}")
    recs = read_record(repo)
    check_records(f"gpuci {tag}", recs, len(tests))
    return Result("gpuci", t1 - t0, recs, t0, t1)


def gpuci_plan(gpuci, repo, wf, tmp):
    """What gpuci's own schedule of the history's durations gives (--dry-run)."""
    argv = gpuci_argv(gpuci, wf, tmp) + ["--dry-run"]
    out = subprocess.run(argv, cwd=repo, env=child_env(), stdin=subprocess.DEVNULL,
                         capture_output=True, text=True)
    m = re.search(r"expected to take (.+?) on \d+ GPU", out.stdout)
    if not m:
        problem(f"gpuci --dry-run: no plan in its output (exit {out.returncode}): "
                f"{(out.stdout + out.stderr).strip()[-300:]}")
        return None
    s = m.group(1)
    mm = re.fullmatch(r"([\d.]+) s", s) or re.fullmatch(r"(\d+) min (\d+) s", s)
    if not mm:
        return None
    if len(mm.groups()) == 1:
        return float(mm.group(1))
    return int(mm.group(1)) * 60 + int(mm.group(2))


def gpuci_shards(gpuci, repo, wf, tmp, n):
    """The predicted makespan of each of n shards (gpuci plan --shards n --json), or None."""
    argv = [gpuci, "plan", "--workflow", wf, "--label", LABEL, "--shards", str(n), "--gpus",
            str(TOTAL), "--history", os.path.join(tmp, "history.db"), "--json"]
    out = subprocess.run(argv, cwd=repo, env=child_env(), stdin=subprocess.DEVNULL,
                         capture_output=True, text=True)
    try:
        return [e["makespan"] for e in json.loads(out.stdout)["include"]]
    except (ValueError, KeyError, TypeError):
        problem(f"gpuci plan --shards {n}: no matrix in its output (exit {out.returncode}): "
                f"{(out.stdout + out.stderr).strip()[-300:]}")
        return None


def shard_bound(tests, n):
    """No split into n shards of TOTAL GPUs beats this: GPU-seconds / (n x TOTAL), longest."""
    return max(sum(g * d for g, d in tests) / (n * TOTAL), max(d for _, d in tests))


def history_tests(tmp, tests):
    """tests with the history's median durations, those the plan splits (nominal where none)."""
    import sqlite3
    try:
        con = sqlite3.connect(os.path.join(tmp, "history.db"))
        med = dict(con.execute("SELECT test_file, median FROM tests WHERE median IS NOT NULL"))
        con.close()
    except sqlite3.Error:
        med = {}
    return [(g, med.get(f"test_{k:02d}.py", d)) for k, (g, d) in enumerate(tests)]


# --------------------------------------------------------------------------
# the old way

def run_old(repo, tmp, tag, tests, hold, timeout):
    """8 runners take the tests in file order; each test under the polling lock."""
    clear_record(repo)
    pattern = os.path.join(tmp, "locks-ref", "{gpu_id}.lock")
    logdir = os.path.join(tmp, f"old-{tag}")
    os.makedirs(logdir, exist_ok=True)
    env = child_env()
    queue = deque(range(len(tests)))
    mu = threading.Lock()
    picked, rcs, live = {}, {}, {}
    t0 = time.monotonic()
    deadline = t0 + timeout
    wrapper = '"$1" "$2"; rc=$?; sleep "$3"; exit $rc'

    def runner():
        while True:
            with mu:
                if not queue or time.monotonic() > deadline:
                    return
                k = queue.popleft()
                picked[k] = time.monotonic()
            g = tests[k][0]
            argv = [PY, REF, "--count", str(g), "--total-gpus", str(TOTAL), "--lock-path-pattern",
                    pattern, "--", "/bin/sh", "-c", wrapper, "sh", PY, f"tests/test_{k:02d}.py",
                    f"{hold:g}"]
            with open(os.path.join(logdir, f"test_{k:02d}.log"), "wb") as log:
                p = subprocess.Popen(argv, cwd=repo, env=env, stdin=subprocess.DEVNULL,
                                     stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
                with mu:
                    live[k] = p
                try:
                    rc = p.wait(max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    kill_group(p)
                    p.wait()
                    rc = None
                kill_group(p)
            with mu:
                rcs[k] = rc
                live.pop(k, None)

    threads = [threading.Thread(target=runner) for _ in range(TOTAL)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    t1 = time.monotonic()
    bad = {k: rc for k, rc in rcs.items() if rc != 0}
    if any(rc is None for rc in bad.values()) or queue:
        problem(f"old way {tag}: not done after {timeout:.0f} s, stopped")
    elif bad:
        problem(f"old way {tag}: {len(bad)} test(s) exited non-zero, e.g. test_{min(bad):02d}: "
                f"exit {bad[min(bad)]}")
    recs = read_record(repo)
    check_records(f"old way {tag}", recs, len(tests))
    retries = 0
    for k in rcs:
        with open(os.path.join(logdir, f"test_{k:02d}.log"), errors="replace") as f:
            retries += f.read().count("try_acquire_count failed")
    by_k = {r["k"]: r for r in recs}
    waits8 = [by_k[k]["start"] - picked[k] for k in by_k if tests[k][0] == TOTAL and k in picked]
    extra = f"{retries} lock retries"
    if waits8:
        extra += (f"; {TOTAL}-GPU tests waited {statistics.mean(waits8):.1f} s on average "
                  f"(max {max(waits8):.1f} s) from pick-up to start")
    return Result("old way", t1 - t0, recs, t0, t1, extra)


# --------------------------------------------------------------------------

def fmt_run(name, r, bound):
    gaps = r.handoffs()
    s = f"    {name:<14} {r.makespan:6.1f} s  {r.makespan / bound:5.2f}x  idle {r.idle():4.0%}"
    if gaps:
        s += (f"  GPUs free before the next test: {statistics.mean(gaps):.2f} s mean, "
              f"{max(gaps):.2f} s max ({len(gaps)} hand-offs)")
    if r.extra:
        s += f"; {r.extra}"
    return s


def median_run(runs):
    """The run with the median makespan (the lower one of the middle two)."""
    s = sorted(runs, key=lambda r: r.makespan)
    return s[(len(s) - 1) // 2]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("gpuci")
    ap.add_argument("--quick", action="store_true",
                    help="one repetition, durations scaled by 0.6")
    ap.add_argument("--keep", action="store_true", help="keep the generated repositories")
    ap.add_argument("--scale", type=float, default=None,
                    help="multiply every duration (default 1, 0.6 with --quick)")
    ap.add_argument("--reps", type=int, default=None,
                    help="warm and old-way runs per suite (default 2, 1 with --quick)")
    ap.add_argument("--hold", type=float, default=1.0,
                    help="old way: seconds a job keeps its GPUs after its test ends (1)")
    ap.add_argument("--tty", action="store_true",
                    help="run gpuci with a pseudo-terminal as its output (its live display)")
    ap.add_argument("--suite", action="append", default=None,
                    help="only suites whose name contains this (repeatable)")
    opts = ap.parse_args()
    gpuci = os.path.abspath(opts.gpuci)
    scale = opts.scale if opts.scale is not None else (0.6 if opts.quick else 1.0)
    reps = opts.reps if opts.reps is not None else (1 if opts.quick else 2)
    if not os.path.exists(REF):
        print(f"bench.py: the reference poller is missing: {REF}", file=sys.stderr)
        return 2
    suites = [s for s in SUITES if not opts.suite or any(x in s[0] for x in opts.suite)]

    print(f"gpuci:   {gpuci} run --label {LABEL} --gpus {TOTAL} --cpu-jobs 2 "
          f"(--lock-path-pattern and --history in a temp dir); output to "
          f"{'a pseudo-terminal' if opts.tty else 'a file (no terminal, as in CI)'}")
    print(f"old way: {TOTAL} runners take the tests in file order; each runs "
          f"ref_poller.py --count N -- python3 tests/test_NN.py (random 0-5 s retry sleep, "
          f"child polled once a second), its GPUs kept {opts.hold:g} s after the test ends")
    print(f"tests sleep their nominal duration (x{scale:g}); bound = max(sum(gpus*duration)/"
          f"{TOTAL}, longest); idle = 1 - sum(gpus*actual)/({TOTAL}*makespan); "
          f"{reps} warm and old-way run(s) per suite")
    load = os.getloadavg()[0]
    print(f"load average {load:.2f} on {os.cpu_count()} CPUs"
          + (" (busy: figures will be inflated)" if load > 1.0 else ""))
    print(flush=True)

    rows = []
    tmp_root = tempfile.mkdtemp(prefix="gpuci-sched-bench.")
    try:
        for name, what, unit, shape in suites:
            tests = [(g, u * unit * scale) for g, u in shape]
            bound = lower_bound(tests)
            tmp = os.path.join(tmp_root, re.sub(r"[^A-Za-z0-9]+", "-", name).strip("-"))
            repo = os.path.join(tmp, "repo")
            wf = make_repo(repo, tests)
            for d in ("locks-gpuci", "locks-ref"):
                os.makedirs(os.path.join(tmp, d))
            ds = [d for _, d in tests]
            counts = {}
            for g, _ in tests:
                counts[g] = counts.get(g, 0) + 1
            mix = ", ".join(f"{c}x {g}-GPU" for g, c in sorted(counts.items()))
            print(f"== {name}: {what}")
            print(f"   {len(tests)} tests ({mix}), {min(ds):.2f}-{max(ds):.2f} s each; "
                  f"lower bound {bound:.1f} s", flush=True)
            timeout = 10 * bound + 120

            cold = run_gpuci(gpuci, repo, wf, tmp, "cold", tests, opts.tty, timeout)
            print(fmt_run("gpuci cold", cold, bound), flush=True)
            warm, old = [], []
            for i in range(reps):
                w = run_gpuci(gpuci, repo, wf, tmp, f"warm{i + 1}", tests, opts.tty, timeout)
                warm.append(w)
                print(fmt_run(f"gpuci warm {i + 1}", w, bound), flush=True)
                o = run_old(repo, tmp, f"{i + 1}", tests, opts.hold, timeout)
                old.append(o)
                print(fmt_run(f"old way {i + 1}", o, bound), flush=True)
            plan = gpuci_plan(gpuci, repo, wf, tmp)
            if plan is not None:
                print(f"    gpuci's plan of the history's durations (--dry-run): {plan:.1f} s, "
                      f"{plan / bound:.2f}x the bound")
            sharded = {}
            for n in SHARDS:
                spans = gpuci_shards(gpuci, repo, wf, tmp, n)
                if spans is not None:
                    # The bound of the durations the plan splits (the history's: each
                    # test's process start and exit included), and of the nominal ones.
                    sb, nb = shard_bound(history_tests(tmp, tests), n), shard_bound(tests, n)
                    sharded[n] = (max(spans), sb)
                    print(f"    sharded on {n} machines (plan --shards {n}): slowest shard "
                          f"{max(spans):.2f} s, bound {sb:.2f} s on the history's durations "
                          f"({nb:.2f} s nominal), {max(spans) / sb:.2f}x "
                          f"(shards {', '.join(f'{x:.2f}' for x in spans)} s)")
            print(flush=True)
            rows.append((name, len(tests), bound, plan, cold, warm, old, sharded))
            if opts.keep:
                print(f"    kept {tmp}\n")
    finally:
        if not opts.keep:
            shutil.rmtree(tmp_root, ignore_errors=True)

    print(f"Makespans (s), ratio to the lower bound, GPU idle share; warm and old way: "
          f"{'the median of ' + str(reps) + ' runs (the faster of the middle two)' if reps > 1 else 'one run'}")
    h1 = (f"{'suite':<12} {'tests':>5} {'bound':>6} | {'plan':>11} | {'gpuci cold':>18} | "
          f"{'gpuci warm':>18} | {'old way':>18} | {'warm <= 1.05x':<13}")
    print(h1)
    print("-" * len(h1))
    for name, n, bound, plan, cold, warm, old, _ in rows:
        w, o = median_run(warm), median_run(old)

        def cell(r):
            return f"{r.makespan:6.1f} {r.makespan / bound:5.2f}x {r.idle():4.0%}"

        pl = f"{plan:5.1f} {plan / bound:4.2f}x" if plan is not None else f"{'n/a':>11}"
        ok = w.makespan / bound <= TARGET
        verdict = "met" if ok else f"MISSED by {w.makespan / bound / TARGET * 100 - 100:.0f}%"
        print(f"{name:<12} {n:>5} {bound:6.1f} | {pl:>11} | {cell(cold):>18} | {cell(w):>18} | "
              f"{cell(o):>18} | {verdict}")
    print()
    print("plan: gpuci run --dry-run's schedule of the history's durations (the scheduler alone,"
          " no process costs)")
    print(f"old way / gpuci warm: "
          + ", ".join(f"{name} {median_run(old).makespan / median_run(warm).makespan:.2f}x"
                      for name, _, _, _, _, warm, old, _ in rows))
    print()
    print(f"Sharded: gpuci plan --shards N --gpus {TOTAL} on the warm history, the slowest "
          f"shard's predicted makespan against max(GPU-seconds / (N x {TOTAL}), longest test) "
          f"of the same durations")
    h2 = f"{'suite':<12} " + " | ".join(f"{'N = ' + str(k):>22}" for k in SHARDS) + \
        f" | {'<= ' + format(SHARD_TARGET, '.2f') + 'x':<9}"
    print(h2)
    print("-" * len(h2))
    for name, _, _, _, _, _, _, sharded in rows:
        cells, ok = [], True
        for k in SHARDS:
            if k in sharded:
                top, sb = sharded[k]
                cells.append(f"{top:5.2f} / {sb:5.2f} s {top / sb:4.2f}x")
                ok = ok and top / sb <= SHARD_TARGET
            else:
                cells.append(f"{'n/a':>22}")
                ok = False
        print(f"{name:<12} " + " | ".join(f"{c:>22}" for c in cells) +
              f" | {'met' if ok else 'MISSED'}")
    print()
    if PROBLEMS:
        print("Things that looked wrong:")
        for p in PROBLEMS:
            print(f"  - {p}")
    else:
        print("Things that looked wrong: none (every test ran once, on the GPUs it asked for, "
              "no GPU shared)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
