#!/usr/bin/env python3
"""Differential fuzzing of `gpuci render` against Jinja2 (the oracle).

usage: fuzz/tpl_diff.py GPUCI [--seconds S] [--seed N] [--keep DIR] [--jobs J]

Makes templates by mutating the cases of tests/tpl/cases (and the libFuzzer
corpus in build-fuzz/fuzz-corpus-tpl when there is one) and by generating
expressions over numbers, strings, % formats, slices and filters; renders
each with `GPUCI render --stdout` and with the oracle of tests/tpl/oracle.py
(Debian's python3-jinja2, with the settings gpuci promises: <% %>, << >>,
{# #}, otherwise Jinja2's defaults). A finding is a template where
  - both render and the bytes differ (DIFF),
  - Jinja2 renders and gpuci fails without saying "not supported" (ERROR),
  - Jinja2 fails and gpuci renders (ACCEPT).
gpuci refusing with "not supported" is an allowed answer; both failing too.
Findings are printed and, with --keep DIR, written there as NAME.j2 with
the two answers in NAME.txt. Not part of CTest: it runs until --seconds.
Exit status 1 when there was a finding, 77 without the oracle.
"""
import argparse
import concurrent.futures
import glob
import os
import random
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "tpl"))
import oracle  # noqa: E402

INTS = ["0", "1", "-1", "2", "7", "10", "255", "9223372036854775807", "9223372036854775808",
        "-9223372036854775808", "18446744073709551616", "99999999999999999999", "2**64",
        "2**100", "-(2**70)", "10**20", "3**40", "0x_ff", "0b1010", "0o17", "1_000",
        "123456789012345678901234567890", "True", "False"]
FLOATS = ["0.0", "-0.0", "0.5", "1.5", "2.5", "1e19", "1e300", "-1e300", "1e-300", "3.14159",
          "2.675", "1e16", "123456.789", "1e308*10", "(1e308*10)-(1e308*10)"]
STRS = ["'abc'", "''", "'Hello World'", "'é'", "'ǅ'", "'İ'", "'ß'", "'ΑΣ'", "'ﬃ'", "'中文'",
        "'🎉'", "'42'", "' 7 '", "'3.9'", "'-12'", "'1e3'", "'0x10'", "'1_000'", "'nan'",
        "'inf'", "'99999999999999999999'", "'a,b,c'"]
LISTS = ["[1, 2, 3]", "[]", "['a', 'b']", "(1, 2)", "range(5)", "range(2, 10, 3)",
         "range(0)", "[3, 1, 2]", "'abcdef'", "{'a': 1, 'b': 2}"]
FORMATS = ["'%d'", "'%x'", "'%X'", "'%o'", "'%#x'", "'%#o'", "'%5d'", "'%-5d|'", "'%05d'",
           "'%+d'", "'% d'", "'%.3d'", "'%s'", "'%r'", "'%a'", "'%c'", "'%.2f'", "'%e'",
           "'%g'", "'%10.3f'", "'%i'", "'%u'", "'%%'"]
FILTERS = ["int", "float", "abs", "round", "round(1)", "round(-1)", "round(-400)",
           "round(2, 'floor')", "round(0, 'ceil')", "string", "length", "list", "first",
           "last", "lower", "upper", "title", "capitalize", "sum", "max", "min", "sort",
           "reverse", "join(',')", "tojson", "int(7)", "int(base=16)", "trim", "unique"]
BINOPS = ["+", "-", "*", "//", "%", "/", "**", "==", "!=", "<", ">", "<=", ">="]
SLICES = ["[1:]", "[:2]", "[::-1]", "[1:3]", "[-2:]", "[::2]", "[5:1:-1]", "[:-1]", "[::-2]",
          "[0]", "[-1]"]
TESTS = ["even", "odd", "integer", "number", "float", "divisibleby(3)", "lower", "upper"]


class Gen:
    def __init__(self, rng, seeds):
        self.r = rng
        self.seeds = seeds

    def atom(self, d):
        r = self.r
        k = r.random()
        if d <= 0 or k < 0.45:
            return r.choice(r.choice([INTS, INTS, FLOATS, STRS, LISTS]))
        if k < 0.6:
            op = r.choice(BINOPS)
            if op == "**":  # Python would compute 10**10**10 for ever: small exponents
                return f"({self.atom(d - 1)} ** {r.randint(-3, 70)})"
            return f"({self.atom(d - 1)} {op} {self.atom(d - 1)})"
        if k < 0.7:
            return f"({r.choice(FORMATS)} % {self.atom(d - 1)})"
        if k < 0.8:
            return f"{self.atom(d - 1)}|{r.choice(FILTERS)}"
        if k < 0.88:
            return f"({self.atom(d - 1)}){r.choice(SLICES)}"
        if k < 0.94:
            return f"({self.atom(d - 1)} is {r.choice(TESTS)})"
        return f"-({self.atom(d - 1)})"

    def expression_template(self):
        return "".join(f"<< {self.atom(3)} >>\n" for _ in range(self.r.randint(1, 3)))

    def mutate(self):
        """A seed with a literal, operator or filter swapped for one of ours."""
        s = self.r.choice(self.seeds)
        for _ in range(self.r.randint(1, 3)):
            if not s:
                break
            pos = self.r.randrange(len(s))
            end = min(len(s), pos + self.r.randint(1, 6))
            s = s[:pos] + self.r.choice([self.atom(1), self.r.choice(BINOPS[:5]),
                                         "|" + self.r.choice(FILTERS),
                                         self.r.choice(SLICES)]) + s[end:]
        return s

    def splice(self):
        """An expression of ours printed inside a seed (at a line end)."""
        s = self.r.choice(self.seeds)
        lines = s.split("\n")
        i = self.r.randrange(len(lines))
        lines.insert(i, f"<< {self.atom(2)} >>")
        return "\n".join(lines)

    def template(self):
        k = self.r.random()
        if k < 0.5 or not self.seeds:
            return self.expression_template()
        return self.mutate() if k < 0.8 else self.splice()


def load_seeds():
    seeds = []
    paths = glob.glob(os.path.join(ROOT, "tests", "tpl", "cases", "*.j2"))
    paths += glob.glob(os.path.join(ROOT, "build-fuzz", "fuzz-corpus-tpl", "*"))[:2000]
    for p in paths:
        try:
            with open(p, "rb") as f:
                seeds.append(f.read(4096).decode("utf-8"))
        except (OSError, UnicodeDecodeError):
            pass
    return seeds


class Oracle:
    """oracle.Client with a watchdog: a template Jinja2 computes for ever is skipped."""

    def __init__(self):
        self.client = oracle.Client()

    def restart(self):
        self.client.proc.kill()
        self.client.proc.wait()
        self.client = oracle.Client()

    def _ask(self, reqs, timeout):
        import threading
        box = []
        def ask():
            try:
                box.append(self.client.ask_many(reqs))
            except (ValueError, OSError):  # the oracle was killed meanwhile
                pass
        t = threading.Thread(target=ask, daemon=True)
        t.start()
        t.join(timeout)
        if t.is_alive() or not box:
            self.restart()
            return None
        return box[0]

    def ask_many(self, reqs):
        got = self._ask(reqs, 60)
        if got is not None:
            return got
        out = []
        for r in reqs:  # one by one, to find the one that hangs
            one = self._ask([r], 10)
            out.append(one[0] if one else {"ok": False, "type": "Timeout", "msg": "", "line": 0,
                                           "timeout": True})
        return out

    def close(self):
        self.client.close()


def run_gpuci(gpuci, path):
    try:
        r = subprocess.run([gpuci, "render", "--max-output", "1M", "--stdout", path],
                           capture_output=True, timeout=20)
    except subprocess.TimeoutExpired:
        return {"ok": False, "err": "timeout", "supported": True}
    err = r.stderr.decode("utf-8", "replace")
    if r.returncode == 0:
        return {"ok": True, "out": r.stdout}
    return {"ok": False, "err": err.strip(), "supported": "not supported" not in err
            and "beyond" not in err and "steps" not in err and "memory" not in err}


def judge(want, got):
    """None when the answers agree, else the kind of finding."""
    if want["ok"] and got["ok"]:
        return None if want["out"].encode("utf-8") == got["out"] else "DIFF"
    if want.get("timeout"):
        return None
    # Jinja2's optimizer folds a constant NaN or infinity into its Python code
    # as `nan` or `inf`, a NameError when it runs: Jinja2's bug, not a finding.
    if not want["ok"] and want["type"] == "NameError" and want["msg"] in (
            "name 'nan' is not defined", "name 'inf' is not defined"):
        return None
    if want["ok"]:
        return "ERROR" if got["supported"] else None
    if got["ok"]:
        return "ACCEPT"
    return None


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("gpuci")
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--keep", metavar="DIR")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--batch", type=int, default=64)
    args = ap.parse_args()
    if not oracle.available():
        print("tpl_diff: no oracle (/usr/bin/python3 with jinja2)", file=sys.stderr)
        return 77
    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    print(f"tpl_diff: seed {seed}")
    gen = Gen(random.Random(seed), load_seeds())
    client = Oracle()
    tmp = tempfile.mkdtemp(prefix="tpl_diff.")
    if args.keep:
        os.makedirs(args.keep, exist_ok=True)
    deadline = time.time() + args.seconds
    total = findings = refused = 0
    seen = set()
    with concurrent.futures.ThreadPoolExecutor(args.jobs) as pool:
        while time.time() < deadline:
            srcs = [gen.template() for _ in range(args.batch)]
            paths = []
            for i, s in enumerate(srcs):
                p = os.path.join(tmp, f"t{i}.j2")
                with open(p, "w", encoding="utf-8") as f:
                    f.write(s)
                paths.append(p)
            wants = client.ask_many([{"source": s} for s in srcs])
            gots = list(pool.map(lambda p: run_gpuci(args.gpuci, p), paths))
            for s, want, got in zip(srcs, wants, gots):
                total += 1
                if not got["ok"] and not got.get("supported", True):
                    refused += 1
                kind = judge(want, got)
                if not kind or s in seen:
                    continue
                seen.add(s)
                findings += 1
                w = want.get("out") if want["ok"] else f"{want['type']}: {want['msg']}"
                g = got["out"].decode("utf-8", "replace") if got["ok"] else got["err"]
                print(f"{kind}: {s!r}\n  jinja2: {w!r}\n  gpuci:  {g!r}")
                if args.keep:
                    name = f"{kind.lower()}_{seed}_{total}"
                    with open(os.path.join(args.keep, name + ".j2"), "w", encoding="utf-8") as f:
                        f.write(s)
                    with open(os.path.join(args.keep, name + ".txt"), "w", encoding="utf-8") as f:
                        f.write(f"jinja2: {w!r}\ngpuci:  {g!r}\n")
    client.close()
    print(f"tpl_diff: {total} templates, {findings} findings, {refused} refused as not supported")
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
