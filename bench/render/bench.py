#!/usr/bin/python3
"""Benchmark of `gpuci render --stdout` against python3 + jinja2 (oracle_render.py --body).

Run through bench/render/run.sh.  Prints figures; asserts nothing.

Both sides are timed as whole processes (spawn to exit, stdout written to a
file), interleaved, on the example template and on generated templates of
about 20 KB, 200 KB and 2 MB.  The generated ones are the example template
with its `jobs` dict scaled up: more jobs of the same shape, each with its own
list of tests.  They go into a temp dir that is removed at the end.
"""
import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
EXAMPLE = os.path.join(ROOT, "examples", "repo", ".github", "workflows", "pr-test.yml.j2")
ORACLE = os.path.join(HERE, "oracle_render.py")
PY = "/usr/bin/python3" if os.access("/usr/bin/python3", os.X_OK) else shutil.which("python3")

JOBS_OPEN = "<%- set jobs = {\n"
JOBS_CLOSE = "\n} -%>"

# Targets printed next to the figures (not checked: this script asserts nothing).
TARGET_RATIO = 50.0  # gpuci at least 50x faster than python3 + jinja2
TARGET_20K_MS = 3.0  # gpuci under 3 ms on the 20 KB template
TARGET_LINEAR = 1.5  # marginal cost per KB differs by less than this factor

MODELS = ["qwen2p5_0p5B", "qwen3_4B", "qwen3_8B", "glm4_9B", "mimo_7B", "moonlight_16B_a3b",
          "qwen3_30B_A3B", "llama3_8B", "deepseek_v2_lite", "qwen3_235B_A22B"]
KINDS = ["short", "ppo", "grpo", "mtp", "ckpt", "precision", "dapo", "async"]
ARGS = ["", "--async-save", "--colocate", "--micro-batch-size 2 --seed 7",
        "--expert-model-parallel-size 8", "", "--ckpt-format torch_dist", ""]


# --------------------------------------------------------------------------
# templates

def gen_job(i, tests_per_job):
    """One jobs-dict entry of the example's shape, as template text."""
    name = f"e2e-test-gen-{i:05d}"
    lines = [f"    '{name}': {{", f"        'label': 'run-ci-gen-{i:05d}',"]
    cpu = i % 11 == 10
    if cpu:
        lines += ["        'always': True,", "        'cpu': True,"]
    if i % 7 == 3:
        lines.append("        'image': test_image,")
    if i % 3 == 1:
        lines.append(f"        'timeout': {60 + 30 * (i % 5)},")
    if i % 5 == 2:
        lines.append("        'max_parallel': 2,")
    lines.append("        'tests': [")
    for k in range(tests_per_job):
        if cpu:
            entry = (f"{{'test_file': 'plugin_contracts/test_plugin_gen_{i:05d}_{k}_contracts.py', "
                     f"'num_gpus': 0}}")
        else:
            model = MODELS[(i + k) % len(MODELS)]
            kind = KINDS[(i * 3 + k) % len(KINDS)]
            gpus = (1, 2, 4, 8)[(i + 2 * k) % 4]
            entry = f"{{'test_file': 'test_{model}_{kind}_{i:05d}.py', 'num_gpus': {gpus}"
            args = ARGS[(i + k) % len(ARGS)]
            if args:
                entry += f", 'test_args': '{args}'"
            if "A3B" in model or "deepseek" in model:
                entry += ", 'use_deepep': '1'"
            entry += "}"
        lines.append(f"            {entry},")
    lines += ["        ],", "    },"]
    return "\n".join(lines) + "\n"


def split_example(text):
    start = text.find(JOBS_OPEN)
    end = text.find(JOBS_CLOSE, start)
    if start < 0 or end < 0:
        sys.exit(f"bench.py: cannot find the jobs dict ({JOBS_OPEN.strip()!r} ... "
                 f"{JOBS_CLOSE.strip()!r}) in {EXAMPLE}")
    head = text[: end + 1]  # up to and including the last entry's newline
    return head, text[end + 1:]


def make_template(head, tail, target_bytes, tests_per_job=6):
    """The example with generated jobs appended to its dict until it reaches target_bytes."""
    parts = [head]
    size = len(head.encode()) + len(tail.encode())
    i = 0
    while size < target_bytes:
        job = gen_job(i, tests_per_job)
        parts.append(job)
        size += len(job.encode())
        i += 1
    parts.append(tail)
    return "".join(parts), i


# --------------------------------------------------------------------------
# measuring

def spawn_time(argv, out_path, err_path):
    """Wall time in ms of one whole process, stdout and stderr to the given paths; and its exit status."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
    actions = [(os.POSIX_SPAWN_OPEN, 1, out_path, flags, 0o644),
               (os.POSIX_SPAWN_OPEN, 2, err_path, flags, 0o644)]
    t0 = time.perf_counter()
    pid = os.posix_spawn(argv[0], argv, os.environ, file_actions=actions)
    _, status = os.waitpid(pid, 0)
    t1 = time.perf_counter()
    return (t1 - t0) * 1000.0, os.waitstatus_to_exitcode(status)


def read(path):
    with open(path, "rb") as f:
        return f.read()


def first_difference(a, b):
    """Text naming the first line where byte strings a and b differ."""
    la, lb = a.split(b"\n"), b.split(b"\n")
    for n, (x, y) in enumerate(zip(la, lb), 1):
        if x != y:
            return f"line {n}:\n        gpuci:  {x[:160]!r}\n        python: {y[:160]!r}"
    n = min(len(la), len(lb))
    return (f"one output is a prefix of the other: gpuci {len(a)} bytes, python {len(b)} bytes; "
            f"they part after line {n}")


def stderr_head(path, lines=4):
    text = read(path).decode("utf-8", "replace").strip().splitlines()
    return " | ".join(text[:lines]) or "(no stderr)"


class Result:
    def __init__(self, name, path, runs):
        self.name, self.path, self.runs = name, path, runs
        self.size = os.path.getsize(path)
        self.out_size = None
        self.gpuci = []
        self.python = []
        self.identical = None
        self.note = ""


def measure(name, path, runs, gpuci, tmp):
    r = Result(name, path, runs)
    g_argv = [gpuci, "render", "--stdout", path]
    p_argv = [PY, ORACLE, "--body", path]
    g_out, g_err = os.path.join(tmp, "gpuci.out"), os.path.join(tmp, "gpuci.err")
    p_out, p_err = os.path.join(tmp, "python.out"), os.path.join(tmp, "python.err")

    # Untimed first run of each: warms the page cache and gives the outputs to compare.
    _, prc = spawn_time(p_argv, p_out, p_err)
    if prc != 0:
        r.note = f"python failed (exit {prc}): {stderr_head(p_err)}"
        return r
    want = read(p_out)
    r.out_size = len(want)
    _, grc = spawn_time(g_argv, g_out, g_err)
    gpuci_ok = grc == 0
    if not gpuci_ok:
        r.note = f"gpuci failed (exit {grc}): {stderr_head(g_err)}"
    else:
        got = read(g_out)
        r.identical = got == want
        if not r.identical:
            r.note = "outputs differ at " + first_difference(got, want)

    # Timed runs write to /dev/null: a file on disk would add the file system's
    # truncate and write-back to both sides.  Interleaved, so both see the same machine.
    for _ in range(runs):
        if gpuci_ok:
            ms, rc = spawn_time(g_argv, os.devnull, os.devnull)
            if rc == 0:
                r.gpuci.append(ms)
        ms, rc = spawn_time(p_argv, os.devnull, os.devnull)
        if rc == 0:
            r.python.append(ms)
    return r


def med(vals):
    return statistics.median(vals) if vals else None


def fmt_ms(v):
    if v is None:
        return "n/a"
    if v >= 100:
        return f"{v:.0f}"
    if v >= 10:
        return f"{v:.1f}"
    return f"{v:.2f}"


def fmt_kb(n):
    if n is None:
        return "n/a"
    return f"{n / 1024:.1f} KB" if n < 1024 * 1024 else f"{n / 1024 / 1024:.2f} MB"


# --------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("gpuci")
    ap.add_argument("--quick", action="store_true", help="fewer runs (10/10/3/2)")
    ap.add_argument("--keep", action="store_true", help="keep the generated templates")
    opts = ap.parse_args()
    gpuci = os.path.abspath(opts.gpuci)
    runs = (10, 10, 3, 2) if opts.quick else (30, 30, 10, 5)

    with open(EXAMPLE, encoding="utf-8") as f:
        head, tail = split_example(f.read())

    tmp = tempfile.mkdtemp(prefix="gpuci-render-bench.")
    try:
        cases = [("example", EXAMPLE, runs[0])]
        for label, target, n in (("gen-20KB", 20 * 1024, runs[1]),
                                 ("gen-200KB", 200 * 1024, runs[2]),
                                 ("gen-2MB", 2 * 1024 * 1024, runs[3])):
            text, jobs = make_template(head, tail, target)
            path = os.path.join(tmp, f"{label}.yml.j2")
            with open(path, "w", encoding="utf-8") as f:
                f.write(text)
            cases.append((f"{label} (+{jobs} jobs)", path, n))

        floor = sorted(spawn_time(["/bin/true"], os.devnull, os.devnull)[0] for _ in range(30))
        print(f"gpuci:  {gpuci}")
        print(f"python: {PY} {os.path.relpath(ORACLE, ROOT)} --body (jinja2)")
        print(f"timing: whole process, spawn to exit, stdout to /dev/null; median of N interleaved runs;"
              f" spawn floor (/bin/true) {statistics.median(floor):.2f} ms")
        load = os.getloadavg()[0]
        print(f"load average {load:.2f} on {os.cpu_count()} CPUs"
              + (" (busy: figures will be inflated)" if load > 0.5 else ""))
        print()

        results = []
        hdr = (f"{'template':<24} {'size':>10} {'output':>10} {'N':>3} {'gpuci ms':>9} "
               f"{'python ms':>10} {'py/gpuci':>9}  identical")
        print(hdr)
        print("-" * len(hdr))
        for name, path, n in cases:
            r = measure(name, path, n, gpuci, tmp)
            results.append(r)
            g, p = med(r.gpuci), med(r.python)
            ratio = f"{p / g:.0f}x" if g and p else "n/a"
            ident = {True: "yes", False: "NO", None: "n/a"}[r.identical]
            print(f"{name:<24} {fmt_kb(r.size):>10} {fmt_kb(r.out_size):>10} {n:>3} {fmt_ms(g):>9} "
                  f"{fmt_ms(p):>10} {ratio:>9}  {ident}", flush=True)
            if r.note:
                print(f"    !! {r.note}", flush=True)

        print()
        print("targets")
        # The target is set on the real-world template (the example); the
        # generated sizes are there to show how time grows, and are reported.
        ex = results[0]
        if ex.gpuci and ex.python:
            ratio = med(ex.python) / med(ex.gpuci)
            verdict = "met" if ratio >= TARGET_RATIO else "MISSED"
            print(f"  gpuci >= {TARGET_RATIO:.0f}x faster than python on the example:  "
                  f"{ratio:.0f}x: {verdict}")
            others = [(r.name, med(r.python) / med(r.gpuci)) for r in results[1:]
                      if r.gpuci and r.python]
            if others:
                print("    (for information, generated templates: " +
                      ", ".join(f"{n} {x:.0f}x" for n, x in others) + ")")
        else:
            print(f"  gpuci >= {TARGET_RATIO:.0f}x faster than python:  n/a (no gpuci timings)")
        r20 = results[1]
        g20 = med(r20.gpuci)
        if g20 is not None:
            verdict = "met" if g20 < TARGET_20K_MS else "MISSED"
            print(f"  gpuci < {TARGET_20K_MS:.0f} ms on 20 KB:              {g20:.2f} ms: {verdict}")
        else:
            print(f"  gpuci < {TARGET_20K_MS:.0f} ms on 20 KB:              n/a")

        gen = results[1:]
        if all(r.gpuci for r in gen):
            per_kb = [med(r.gpuci) * 1000 / (r.size / 1024) for r in gen]
            print("  linear growth: gpuci us per KB of template: "
                  + ", ".join(f"{fmt_kb(r.size)} {v:.1f}" for r, v in zip(gen, per_kb)))
            (a, b, c) = gen
            s1 = (med(b.gpuci) - med(a.gpuci)) * 1000 / ((b.size - a.size) / 1024)
            s2 = (med(c.gpuci) - med(b.gpuci)) * 1000 / ((c.size - b.size) / 1024)
            growth = med(c.gpuci) / med(b.gpuci)
            lin = s2 / s1 if s1 > 0 else float("inf")
            verdict = "met" if 1 / TARGET_LINEAR <= lin <= TARGET_LINEAR else "MISSED"
            print(f"    marginal us per KB: 20 KB->200 KB {s1:.1f}, 200 KB->2 MB {s2:.1f} "
                  f"(ratio {lin:.2f}; linear within {TARGET_LINEAR}x: {verdict})")
            print(f"    2 MB / 200 KB: time x{growth:.1f} for size x{c.size / b.size:.1f}")
            pyk = [med(r.python) * 1000 / (r.size / 1024) for r in gen if r.python]
            if len(pyk) == 3:
                print("    python us per KB, for comparison: "
                      + ", ".join(f"{fmt_kb(r.size)} {v:.1f}" for r, v in zip(gen, pyk)))
        else:
            print("  linear growth: n/a (no gpuci timings on every generated template)")

        bad = [r for r in results if r.identical is not True]
        print()
        if not bad:
            print("outputs: byte-identical to python3 + jinja2 on every template")
        else:
            print("outputs: NOT byte-identical (or not produced) on: " + ", ".join(r.name for r in bad))
        if opts.keep:
            print(f"templates kept in {tmp}")
    finally:
        if not opts.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
