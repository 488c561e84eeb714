#!/usr/bin/python3
"""Benchmark of `gpuci lock` against the reference poller (ref_poller.py).

Run through bench/lock/run.sh.  Prints figures; asserts nothing.

All timestamps are CLOCK_MONOTONIC nanoseconds written by the `stamp` helper
(stamp.c, compiled into the temp dir) as the first action of a job command
("S" line) and right before it exits ("E" line).  Lock files always live in a
fresh temp dir passed with --lock-path-pattern.
"""
import argparse
import math
import select
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REF = os.path.join(HERE, "ref_poller.py")
PY = "/usr/bin/python3"

PROBLEMS = []  # (tool, text): anything odd seen while measuring
TMP_ROOT = None
STAMP = None


def now_ns():
    return time.monotonic_ns()


def problem(tool, text):
    PROBLEMS.append((tool, text))
    print(f"    !! {tool}: {text}", flush=True)


def pct(vals, p):
    """Nearest-rank percentile."""
    if not vals:
        return float("nan")
    s = sorted(vals)
    k = max(1, math.ceil(p / 100.0 * len(s)))
    return s[k - 1]


def fmt_ms(v, digits=2):
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "n/a"
    if v >= 10000:
        return f"{v / 1000:.1f} s"
    return f"{v:.{digits}f} ms"


# --------------------------------------------------------------------------
# tools under test

class Tool:
    def __init__(self, name, prefix):
        self.name = name
        self.prefix = prefix

    def cmd(self, pattern, total, command, count=None, devices=None):
        argv = list(self.prefix)
        if count is not None:
            argv += ["--count", str(count)]
        if devices is not None:
            argv += ["--devices", devices]
        argv += ["--total-gpus", str(total), "--lock-path-pattern", pattern, "--"]
        return argv + list(command)


def gpuci_tool(path):
    return Tool("gpuci", [path, "lock", "-q"])


def ref_tool():
    return Tool("reference", [PY, REF])


# --------------------------------------------------------------------------
# processes

class Job:
    """A spawned lock process, reaped with wait4 to get its rusage."""

    def __init__(self, tool, argv, errf):
        self.tool = tool
        self.t_spawn = now_ns()
        self.p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                  stderr=errf, close_fds=True)
        self.pid = self.p.pid
        self.rc = None
        self.cpu_ns = None
        self.t_exit = None

    def _done(self, status, ru):
        self.rc = os.waitstatus_to_exitcode(status)
        self.p.returncode = self.rc
        self.cpu_ns = int((ru.ru_utime + ru.ru_stime) * 1e9)
        self.t_exit = now_ns()

    def reap(self, timeout=None):
        """Wait for exit; True if it exited, False on timeout (still running)."""
        if self.rc is not None:
            return True
        if timeout is None:
            pid, status, ru = os.wait4(self.pid, 0)
            self._done(status, ru)
            return True
        deadline = time.monotonic() + timeout
        pfd = None
        try:
            pfd = os.pidfd_open(self.pid)
        except (AttributeError, OSError):
            pass
        try:
            while True:
                pid, status, ru = os.wait4(self.pid, os.WNOHANG)
                if pid:
                    self._done(status, ru)
                    return True
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                if pfd is not None:  # sleep until the process exits
                    select.select([pfd], [], [], left)
                else:
                    time.sleep(min(left, 0.002))
        finally:
            if pfd is not None:
                os.close(pfd)

    def kill(self):
        if self.rc is None:
            for pid in [self.pid] + tree_pids(self.pid)[1:]:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            self.reap(5)


def spawn(tool, argv, errf):
    return Job(tool, argv, errf)


def check_rcs(tool, jobs, what, expect=0):
    bad = [j.rc for j in jobs if j.rc is not None and j.rc != expect]
    if bad:
        problem(tool.name, f"{what}: {len(bad)}/{len(jobs)} exited non-zero (e.g. {bad[:5]})")


def ppid_map():
    m = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                s = f.read()
        except OSError:
            continue
        rest = s[s.rindex(")") + 2:].split()
        m.setdefault(int(rest[1]), []).append(int(d))
    return m


def tree_pids(pid, m=None):
    m = m if m is not None else ppid_map()
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(m.get(p, []))
    return out


def proc_state(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            s = f.read()
        return s[s.rindex(")") + 2]
    except OSError:
        return None


def proc_cpu_ns(pid):
    """On-CPU time of all threads of pid (ns, from schedstat)."""
    tot = 0
    try:
        for t in os.listdir(f"/proc/{pid}/task"):
            try:
                with open(f"/proc/{pid}/task/{t}/schedstat") as f:
                    tot += int(f.read().split()[0])
            except OSError:
                pass
    except OSError:
        pass
    return tot


def tree_cpu_ns(pids):
    m = ppid_map()
    seen = set()
    tot = 0
    for p in pids:
        for q in tree_pids(p, m):
            if q not in seen:
                seen.add(q)
                tot += proc_cpu_ns(q)
    return tot


def wait_blocked(pids, min_wait, timeout=60.0):
    """Wait until every pid sleeps and burnt no CPU over 30 ms."""
    time.sleep(min_wait)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(proc_state(p) in ("S", None) for p in pids):
            c0 = tree_cpu_ns(pids)
            time.sleep(0.03)
            if c0 == tree_cpu_ns(pids) and all(proc_state(p) in ("S", None) for p in pids):
                return True
        else:
            time.sleep(0.01)
    return False


def leftovers(tool, scope=None):
    """Processes still alive whose command line names scope (a temp dir)."""
    scope = scope or TMP_ROOT
    found = []
    me = os.getpid()
    for d in os.listdir("/proc"):
        if not d.isdigit() or int(d) == me:
            continue
        try:
            with open(f"/proc/{d}/cmdline", "rb") as f:
                cl = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if scope in cl:
            found.append((int(d), cl.strip()))
    if found and tool is not None:
        problem(tool.name, f"{len(found)} leftover process(es), e.g. {found[0][1][:120]!r}")
        for pid, _ in found:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.1)


# --------------------------------------------------------------------------
# stamp logs

def read_log(path):
    jobs = {}
    try:
        with open(path) as f:
            lines = f.read().splitlines()
    except FileNotFoundError:
        return jobs
    for ln in lines:
        parts = ln.split()
        if len(parts) < 3:
            continue
        j = jobs.setdefault(parts[2], {})
        if parts[0] == "S":
            j["S"] = int(parts[1])
            j["dev"] = [] if parts[4] == "-" else [int(x) for x in parts[4].split(",")]
        elif parts[0] == "E":
            j["E"] = int(parts[1])
            j["cpu"] = int(parts[3])
    return jobs


def wait_started(log, tag, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        j = read_log(log).get(tag)
        if j and "S" in j:
            return True
        time.sleep(0.001)
    return False


def exclusion_violations(jobs):
    per = {}
    for j in jobs.values():
        if "S" in j and "E" in j:
            for g in j["dev"]:
                per.setdefault(g, []).append((j["S"], j["E"]))
    bad = 0
    for ivs in per.values():
        ivs.sort()
        for a, b in zip(ivs, ivs[1:]):
            if b[0] < a[1]:
                bad += 1
    return bad


class Env:
    """Fresh lock dir, log, fifo and stderr file for one measurement."""

    def __init__(self, tool, label):
        self.dir = tempfile.mkdtemp(prefix=f"{tool.name}-{label}-", dir=TMP_ROOT)
        self.pattern = os.path.join(self.dir, "gpu_{gpu_id}.lock")
        self.log = os.path.join(self.dir, "stamps.log")
        self.fifo = os.path.join(self.dir, "release.fifo")
        os.mkfifo(self.fifo)
        self.errpath = os.path.join(self.dir, "stderr.log")
        self.errf = open(self.errpath, "ab")
        self.tool = tool

    def release(self, timeout=10.0):
        """Make the holder's `stamp -w fifo` return (opens + closes the fifo)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                fd = os.open(self.fifo, os.O_WRONLY | os.O_NONBLOCK)
                os.close(fd)
                return True
            except OSError:
                if time.monotonic() >= deadline:
                    return False
                time.sleep(0.0005)

    def close(self):
        self.errf.close()
        with open(self.errpath, "rb") as f:
            err = f.read().decode(errors="replace").strip()
        if err:
            first = err.splitlines()[0]
            problem(self.tool.name, f"stderr output ({len(err.splitlines())} lines), first: {first[:150]!r}")


# --------------------------------------------------------------------------
# 1. hand-off latency, one holder -> one waiter, 8 of 8 GPUs

def bench_handoff(tool, n, min_wait):
    env = Env(tool, "handoff")
    lats = []
    jobs = []
    for i in range(n):
        a = spawn(tool, tool.cmd(env.pattern, 8, [STAMP, "-w", env.fifo, env.log, f"A{i}"], count=8), env.errf)
        jobs.append(a)
        if not wait_started(env.log, f"A{i}", 30):
            problem(tool.name, "hand-off: holder did not start within 30 s")
            a.kill()
            break
        b = spawn(tool, tool.cmd(env.pattern, 8, [STAMP, env.log, f"B{i}"], count=8), env.errf)
        jobs.append(b)
        if not wait_blocked([b.pid], min_wait, 2):
            problem(tool.name, "hand-off: waiter still burning CPU 2 s after start")
        if wait_started(env.log, f"B{i}", 0):
            problem(tool.name, "hand-off: waiter started while holder still held the GPUs")
        env.release()
        if not b.reap(60):
            problem(tool.name, "hand-off: waiter did not finish within 60 s")
            b.kill()
        a.reap(30) or a.kill()
        lg = read_log(env.log)
        try:
            lats.append((lg[f"B{i}"]["S"] - lg[f"A{i}"]["E"]) / 1e6)
        except KeyError:
            pass
    check_rcs(tool, jobs, "hand-off")
    env.close()
    leftovers(tool, env.dir)
    return lats


# --------------------------------------------------------------------------
# 2. an 8-GPU request behind 8 loops of 1-GPU jobs

def bench_stream(tool, runs, cap, warmup):
    res = []
    for r in range(runs):
        env = Env(tool, f"stream{r}")
        stop = threading.Event()
        loop_jobs = []
        lock = threading.Lock()

        def loop(k):
            j = 0
            while not stop.is_set():
                job = spawn(tool, tool.cmd(env.pattern, 8, [STAMP, "-t", "0.3", env.log, f"L{k}.{j}"],
                                           count=1), env.errf)
                with lock:
                    loop_jobs.append(job)
                if not job.reap(cap + 30):
                    job.kill()
                j += 1

        threads = [threading.Thread(target=loop, args=(k,), daemon=True) for k in range(8)]
        for t in threads:
            t.start()
        time.sleep(warmup)
        t0 = now_ns()
        big = spawn(tool, tool.cmd(env.pattern, 8, [STAMP, env.log, "BIG"], count=8), env.errf)
        got = big.reap(cap)
        if not got:
            big.kill()
        stop.set()
        for t in threads:
            t.join(60)
        lg = read_log(env.log)
        acq = lg.get("BIG", {}).get("S")
        small = [v for k, v in lg.items() if k.startswith("L") and "S" in v]
        d = {"acquired": acq is not None, "wait": (acq - t0) / 1e6 if acq else None,
             "jobs": len(small)}
        if acq:
            before = [v for v in small if v["S"] < acq]
            held_at_arrival = [v for v in small if v["S"] < t0]
            d["after_release"] = (acq - max(v.get("E", 0) for v in before)) / 1e6 if before else 0.0
            last_held = max((v.get("E", 0) for v in held_at_arrival), default=t0)
            d["after_held_release"] = (acq - max(last_held, t0)) / 1e6
            d["overtakes"] = sum(1 for v in small if t0 + 2_000_000 < v["S"] < acq)
            if lg["BIG"].get("dev") != list(range(8)):
                problem(tool.name, f"8-GPU job saw CUDA_VISIBLE_DEVICES={lg['BIG'].get('dev')}")
        else:
            d["overtakes"] = sum(1 for v in small if v["S"] > t0)
        viol = exclusion_violations(lg)
        if viol:
            problem(tool.name, f"stream: {viol} overlapping holds of the same GPU")
        check_rcs(tool, loop_jobs, "stream 1-GPU jobs")
        if got:
            check_rcs(tool, [big], "stream 8-GPU job")
        env.close()
        leftovers(tool, env.dir)
        res.append(d)
        if d["acquired"]:
            print(f"    run {r + 1}: waited {fmt_ms(d['wait'])}; {fmt_ms(d['after_held_release'])} after the "
                  f"GPUs held at arrival were freed; {d['overtakes']} 1-GPU jobs started in between",
                  flush=True)
        else:
            print(f"    run {r + 1}: NOT acquired within {cap:.0f} s; {d['overtakes']} 1-GPU jobs started "
                  f"meanwhile", flush=True)
    return res


# --------------------------------------------------------------------------
# 3. CPU burnt by a blocked waiter (all tools side by side, concurrently)

def bench_waitcpu(tools, secs):
    st = []
    for tool in tools:
        env = Env(tool, "waitcpu")
        h = spawn(tool, tool.cmd(env.pattern, 8, [STAMP, "-w", env.fifo, env.log, "H"], count=8), env.errf)
        if not wait_started(env.log, "H", 30):
            problem(tool.name, "wait-cpu: holder did not start")
        w = spawn(tool, tool.cmd(env.pattern, 8, [STAMP, env.log, "W"], count=8), env.errf)
        st.append([tool, env, h, w])
    for s in st:
        if not wait_blocked([s[3].pid], 0.3, 2):
            problem(s[0].name, "wait-cpu: waiter still burning CPU 2 s after start")
    time.sleep(0.5)
    t0 = now_ns()
    c0 = [tree_cpu_ns([s[3].pid]) for s in st]
    time.sleep(secs)
    t1 = now_ns()
    c1 = [tree_cpu_ns([s[3].pid]) for s in st]
    out = {}
    for i, (tool, env, h, w) in enumerate(st):
        if "S" in read_log(env.log).get("W", {}):
            problem(tool.name, "wait-cpu: waiter got the GPUs while the holder held them")
        env.release()
        w.reap(60) or w.kill()
        h.reap(30) or h.kill()
        check_rcs(tool, [h, w], "wait-cpu")
        env.close()
        leftovers(tool, env.dir)
        per_min = (c1[i] - c0[i]) / 1e9 / ((t1 - t0) / 1e9) * 60
        out[tool.name] = {"per_min": per_min, "total": w.cpu_ns / 1e9 if w.cpu_ns is not None else None}
        print(f"    {tool.name:9s}: {per_min:.5f} CPU-s per waiting minute "
              f"(measured over {(t1 - t0) / 1e9:.1f} s; whole waiter life incl. start-up: "
              f"{out[tool.name]['total']:.4f} CPU-s)", flush=True)
    return out


# --------------------------------------------------------------------------
# 4. `lock --count 1 -- true` wall time

def bench_true(tool, n):
    env = Env(tool, "true")
    times = []
    rcs = []
    argv = tool.cmd(env.pattern, 8, ["true"], count=1)
    base = []
    for _ in range(n):
        t = time.perf_counter()
        rc = subprocess.call(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=env.errf)
        times.append((time.perf_counter() - t) * 1000)
        rcs.append(rc)
        # interleaved baseline: the harness spawning plain `true`
        t = time.perf_counter()
        subprocess.call(["true"], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
        base.append((time.perf_counter() - t) * 1000)
    bad = [r for r in rcs if r != 0]
    if bad:
        problem(tool.name, f"`-- true`: {len(bad)}/{n} exited non-zero (e.g. {bad[:5]})")
    env.close()
    leftovers(tool, env.dir)
    return times, statistics.median(base)


# --------------------------------------------------------------------------
# 5. scale: 64 GPUs, W queued whole-machine requests

def bench_scale(tool, w, hold, min_wait, cap):
    env = Env(tool, f"scale{w}")
    h = spawn(tool, tool.cmd(env.pattern, 64, [STAMP, "-w", env.fifo, env.log, "H"], count=64), env.errf)
    if not wait_started(env.log, "H", 30):
        problem(tool.name, f"scale W={w}: holder did not start")
    t_sp = time.monotonic()
    ws = [spawn(tool, tool.cmd(env.pattern, 64, [STAMP, "-t", str(hold), env.log, f"W{i}"], count=64),
                env.errf) for i in range(w)]
    spawn_s = time.monotonic() - t_sp
    if not wait_blocked([j.pid for j in ws], min_wait, 10 + w * 0.02):
        problem(tool.name, f"scale W={w}: waiters still burning CPU {10 + w * 0.02:.0f} s after start")
    pre_cpu = tree_cpu_ns([j.pid for j in ws]) / 1e9
    t_rel = now_ns()
    env.release()
    deadline = time.monotonic() + cap
    timed_out = 0
    for j in ws:
        if not j.reap(max(0.0, deadline - time.monotonic())):
            timed_out += 1
    for j in ws:
        if j.rc is None:
            j.kill()
    h.reap(30) or h.kill()
    t_end = now_ns()
    lg = read_log(env.log)
    check_rcs(tool, [h] + [j for j in ws if j.rc is not None], f"scale W={w}")
    env.close()
    leftovers(tool, env.dir)
    done = sorted((v for k, v in lg.items() if k.startswith("W") and "S" in v and "E" in v),
                  key=lambda v: v["S"])
    chain = [lg["H"]] + done if "H" in lg and "E" in lg["H"] else done
    lats = [(b["S"] - a["E"]) / 1e6 for a, b in zip(chain, chain[1:])]
    overlap = sum(1 for x in lats if x < 0)
    if overlap:
        problem(tool.name, f"scale W={w}: {overlap} whole-machine jobs overlapped")
    cmd_cpu = sum(v.get("cpu", 0) for v in done) / 1e9
    tot = sum(j.cpu_ns for j in ws if j.cpu_ns is not None) / 1e9 - cmd_cpu
    r = {"w": w, "done": len(done), "timed_out": timed_out, "p50": pct(lats, 50), "p99": pct(lats, 99),
         "max": max(lats) if lats else float("nan"), "cpu_total": tot, "cpu_pre": pre_cpu,
         "spawn_s": spawn_s, "drain_s": (t_end - t_rel) / 1e9}
    print(f"    W={w:4d}: hand-off p50 {fmt_ms(r['p50'])}, p99 {fmt_ms(r['p99'])}, max {fmt_ms(r['max'])}; "
          f"waiters' CPU {tot:.3f} s total ({tot / max(1, w) * 1000:.2f} ms each, {pre_cpu:.3f} s of it "
          f"before the release); {len(done)}/{w} ran, drained in {r['drain_s']:.2f} s", flush=True)
    return r


# --------------------------------------------------------------------------

def on_sigterm(signum, frame):
    raise KeyboardInterrupt


def build_stamp(tmp):
    out = os.path.join(tmp, "stamp")
    src = os.path.join(HERE, "stamp.c")
    cc = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if not cc:
        sys.exit("bench: a C compiler (cc) is needed to build the stamp helper")
    for extra in (["-static"], []):
        r = subprocess.run([cc, "-O2", *extra, "-o", out, src], capture_output=True)
        if r.returncode == 0:
            return out
    sys.exit("bench: could not build stamp helper:\n" + r.stderr.decode())


def row(metric, g, r, target, ratio=""):
    return (metric, g, r, target, ratio)


def ratio(a, b):
    if a is None or b is None or a <= 0 or (isinstance(b, float) and math.isnan(b)):
        return ""
    return f"{b / a:,.0f}x" if b / a >= 10 else f"{b / a:.1f}x"


def print_table(rows):
    hdr = ("metric", "gpuci", "reference", "target (gpuci)", "ref/gpuci")
    w = [max(len(str(x[i])) for x in rows + [hdr]) for i in range(5)]
    line = "  ".join("-" * n for n in w)
    print(line)
    print("  ".join(str(h).ljust(n) for h, n in zip(hdr, w)))
    print(line)
    for r in rows:
        print("  ".join(str(c).ljust(n) for c, n in zip(r, w)))
    print(line)


def main():
    global TMP_ROOT, STAMP
    ap = argparse.ArgumentParser()
    ap.add_argument("gpuci")
    ap.add_argument("--quick", action="store_true", help="fewer reference samples, shorter waits")
    ap.add_argument("--no-ref", action="store_true", help="skip the reference poller")
    a = ap.parse_args()

    q = a.quick
    cfg = {
        "handoff_g": 30, "handoff_r": 5 if q else 20,
        "stream_runs_g": 3, "stream_runs_r": 1 if q else 3, "stream_cap_r": 15.0 if q else 30.0,
        "wait_s": 5.0 if q else 10.0,
        "true_g": 50, "true_r": 2 if q else 3,
        "scale_w": [10, 50, 100, 250, 500], "scale_ref_w": [] if q else [10],
        "hold": 0.002,
    }
    TMP_ROOT = tempfile.mkdtemp(prefix="gpuci-lock-bench-")
    signal.signal(signal.SIGTERM, on_sigterm)
    STAMP = build_stamp(TMP_ROOT)
    g = gpuci_tool(os.path.abspath(a.gpuci))
    ref = None if a.no_ref else ref_tool()
    tools = [g] + ([ref] if ref else [])
    start = time.monotonic()
    print(f"gpuci lock benchmark  (binary: {g.prefix[0]}; reference: {REF})")
    print(f"{os.cpu_count()} CPUs, python {sys.version.split()[0]}, {'quick' if q else 'full'} mode, "
          f"temp dir {TMP_ROOT}", flush=True)
    try:
        R = {}
        print("\n[1] hand-off latency: holder of 8/8 GPUs exits -> queued 8-GPU waiter's command starts")
        for t in tools:
            n = cfg["handoff_g"] if t is g else cfg["handoff_r"]
            lats = bench_handoff(t, n, 0.05 if t is g else 0.3)
            R[("handoff", t.name)] = lats
            if lats:
                print(f"    {t.name:9s}: n={len(lats)}  p50 {fmt_ms(pct(lats, 50))}  p99 {fmt_ms(pct(lats, 99))}  "
                      f"min {fmt_ms(min(lats))}  max {fmt_ms(max(lats))}", flush=True)

        print("\n[2] 8-GPU request arriving behind 8 loops of `lock --count 1 -- sleep 0.3`")
        for t in tools:
            print(f"  {t.name}:", flush=True)
            if t is g:
                R[("stream", t.name)] = bench_stream(t, cfg["stream_runs_g"], 30.0, 1.0)
            else:
                R[("stream", t.name)] = bench_stream(t, cfg["stream_runs_r"], cfg["stream_cap_r"], 3.0)

        print(f"\n[3] CPU used by a waiter blocked behind a holder ({cfg['wait_s']:.0f} s, scaled to a minute)")
        R["waitcpu"] = bench_waitcpu(tools, cfg["wait_s"])

        print("\n[4] wall time of `lock --count 1 -- true` (uncontended)")
        for t in tools:
            n = cfg["true_g"] if t is g else cfg["true_r"]
            ts, base = bench_true(t, n)
            R[("true", t.name)] = ts
            print(f"    {t.name:9s}: n={n}  median {fmt_ms(statistics.median(ts))}  "
                  f"p90 {fmt_ms(pct(ts, 90))}  max {fmt_ms(max(ts))}   (plain `true` spawned by this "
                  f"harness, interleaved: median {fmt_ms(base)})", flush=True)

        print(f"\n[5] scale: 64 GPUs, one holder of all 64 + W queued `--count 64` jobs, each holding "
              f"{cfg['hold'] * 1000:.0f} ms; hand-off = next job start - previous job exit")
        for t in tools:
            ws = cfg["scale_w"] if t is g else cfg["scale_ref_w"]
            if not ws:
                continue
            print(f"  {t.name}:", flush=True)
            R[("scale", t.name)] = [bench_scale(t, w, cfg["hold"], 0.05 if t is g else 0.5,
                                                60.0 if t is g else 120.0) for w in ws]
        sc = R.get(("scale", g.name), [])
        if len(sc) >= 2:
            a0, a1 = sc[0], sc[-1]
            print(f"  gpuci growth W={a0['w']}->{a1['w']} ({a1['w'] / a0['w']:.0f}x waiters): "
                  f"p50 x{a1['p50'] / a0['p50']:.1f}, p99 x{a1['p99'] / a0['p99']:.1f}, "
                  f"CPU per waiter x{(a1['cpu_total'] / a1['w']) / max(1e-9, a0['cpu_total'] / a0['w']):.1f}")

        # ---- summary
        rn = ref.name if ref else None

        def get(key):
            return R.get((key, rn)) if rn else None

        rows = []
        hg, hr = R.get(("handoff", g.name)), get("handoff")
        for p in (50, 99):
            vg = pct(hg, p) if hg else None
            vr = pct(hr, p) if hr else None
            rows.append(row(f"hand-off p{p}", fmt_ms(vg), fmt_ms(vr), "", ratio(vg, vr)))

        def stream_cells(res, key):
            if not res:
                return "n/a"
            ok = [x for x in res if x["acquired"]]
            if key == "got":
                return f"{len(ok)}/{len(res)} runs"
            if not ok:
                return "never"
            v = max(x[key] for x in ok)
            return fmt_ms(v) + ("" if len(ok) == len(res) else " (+misses)")

        sg, sr = R.get(("stream", g.name)), get("stream")
        cap_r = cfg["stream_cap_r"]
        rows.append(row("8-GPU job behind 1-GPU stream: got GPUs", stream_cells(sg, "got"),
                        stream_cells(sr, "got") + (f" in {cap_r:.0f}s" if sr else ""), "all runs"))
        rows.append(row("  worst total wait", stream_cells(sg, "wait"), stream_cells(sr, "wait"), ""))
        rows.append(row("  worst wait after held GPUs freed", stream_cells(sg, "after_held_release"),
                        stream_cells(sr, "after_held_release"), "< 1 s"))
        rows.append(row("  1-GPU jobs started ahead of it (max)",
                        str(max(x["overtakes"] for x in sg)) if sg else "n/a",
                        str(max(x["overtakes"] for x in sr)) if sr else "n/a", "0"))
        wc = R["waitcpu"]
        cg = wc.get(g.name, {}).get("per_min")
        cr = wc.get(rn, {}).get("per_min") if rn else None
        rows.append(row("waiter CPU per waiting minute", f"{cg:.5f} s" if cg is not None else "n/a",
                        f"{cr:.5f} s" if cr is not None else "n/a", "< 0.01 s", ratio(cg, cr)))
        tg, tr = R.get(("true", g.name)), get("true")
        mg = statistics.median(tg) if tg else None
        mr = statistics.median(tr) if tr else None
        rows.append(row("`--count 1 -- true` wall (median)", fmt_ms(mg), fmt_ms(mr), "< 5 ms", ratio(mg, mr)))
        scr = {x["w"]: x for x in (get("scale") or [])}
        for x in R.get(("scale", g.name), []):
            y = scr.get(x["w"])
            tgt = "< 10 ms" if x["w"] == 500 else ""
            rows.append(row(f"scale W={x['w']}: hand-off p50 / p99",
                            f"{fmt_ms(x['p50'])} / {fmt_ms(x['p99'])}",
                            f"{fmt_ms(y['p50'])} / {fmt_ms(y['p99'])}" if y else "-",
                            ("p50 " + tgt) if tgt else "", ratio(x["p50"], y["p50"]) if y else ""))
            rows.append(row(f"scale W={x['w']}: waiters' CPU total",
                            f"{x['cpu_total']:.3f} s", f"{y['cpu_total']:.3f} s" if y else "-", "",
                            ratio(x["cpu_total"], y["cpu_total"]) if y else ""))
        leftovers(Tool("harness", []))
        print(f"\nSummary (ref/gpuci = reference value / gpuci value; elapsed "
              f"{time.monotonic() - start:.0f} s)")
        print_table(rows)
        if PROBLEMS:
            print("\nThings that looked wrong:")
            for t, p in PROBLEMS:
                print(f"  - {t}: {p}")
        else:
            print("\nNo non-zero exits, stderr output, overlapping holds or leftover processes seen.")
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
    finally:
        leftovers(None)  # interrupted runs: kill whatever is left, quietly
        shutil.rmtree(TMP_ROOT, ignore_errors=True)


if __name__ == "__main__":
    main()
