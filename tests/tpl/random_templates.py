#!/usr/bin/env python3
"""Random templates over the supported grammar, rendered by Jinja2 and gpuci.

usage: random_templates.py GPUCI [--seed S] [--count N] [--keep DIR] [--index I]
       random_templates.py --self-test [--seed S] [--count N]

Each case is generated from (seed, index) alone, so `--seed S --index I`
regenerates exactly case I of a run. Templates are written to a temporary
folder; one oracle process (Debian's /usr/bin/python3 with jinja2) renders
them all, then `GPUCI render --stdout FILE` runs once per template and its
stdout must equal the oracle's body byte for byte (exit 0, empty stderr).
Templates the oracle rejects are skipped and counted; the generator tracks
types so that few are. On a difference it prints the seed, the index, the
template and both outputs, and with --keep DIR writes the template and a
minimized copy there. --self-test compares the oracle with a second oracle
process, to check the generator and the skip rate without the engine.
Closing line: `N passed, M failed`. Exit 77 (skip) without the oracle.
"""
import argparse
import concurrent.futures
import os
import random
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import oracle  # noqa: E402

INT_LIMIT = 10 ** 12      # no int value may grow past this (far inside int64)
STR_LIMIT = 400           # nor a string past this many characters
MAX_DETAILS = 5           # failures printed in full

# --------------------------------------------------------------------------
# Expressions carry a type and a bound so that what is generated renders.
#   int/float: b = bound on the absolute value
#   str/mstr:  n = bound on the length (mstr: a Markup, from e/safe/tojson)
#   lint/lstr: n = bound on the length, ne = known non-empty, b/sl = element bound
#   recs: list of {'name': str, 'n': int, 'ok'?: bool}; rec: one of them
#   dict: {str: int} with keys known present
#   bool, none, undef, any (printable only)

class E:
    __slots__ = ("code", "t", "atom", "b", "n", "ne", "keys")

    def __init__(self, code, t, atom=False, b=0, n=0, ne=False, keys=()):
        self.code, self.t, self.atom = code, t, atom
        self.b, self.n, self.ne, self.keys = b, n, ne, tuple(keys)

    def p(self):
        """The code, parenthesized unless it is an atom."""
        return self.code if self.atom else f"({self.code})"


SIMPLE_WORDS = ["abc", "Hello World", "gpu", "a,b,c", "x-y_z w(v)", "MiXeD cAsE",
                "ABC", "lower", "one two", "a  b   c", "", "build", "test", "b"]
FANCY_STRS = [  # (source literal, decoded length)
    (r"'it\'s'", 4), (r'"say \"hi\""', 8), (r"'tab\there'", 8), (r"'line\nbreak'", 10),
    (r"'back\\slash'", 10), ("'café'", 4), ("'中文'", 2), ("'🎉 party'", 7),
    ("' padded  '", 10), ("'<b>&amp;'", 8), ("'x >> y'", 6), ('"{# not #}"', 9),
    ("'50%'", 3), ("\"o'neil\"", 6), ("'Ünï'", 3),
]
NUM_STRS = ["'42'", "' 7 '", "'3.9'", "'-12'", "'abc'", "'1e3'", "''", "'0'", "'2.50'"]
FLOATS = ["0.0", "0.5", "1.5", "2.25", "0.1", "0.2", "3.14159", "1e20", "1e-05",
          "2.0", "100.0", "1e16", "123456.789", "0.125", "2.675", "1.0", "7.5"]
TEXT_PIECES = ["a", "text", " ", "  ", "\n", "\n", "\n\n", "\t", "x y", "é", "中文",
               "🎉", ".", ",", ":", ";", "!", "(", ")", "[", "]", "=", "+", "*", "/",
               "'", '"', "-", "_", "%", ">", "1", "42", "end", "\n  ", "  \n"]
RAW_PIECES = ["<< x >>", "<% if %>", "{# c #}", "<% for a in b %>", " ", "\n", "text",
              ">>", "%>", "#}", "<<- y ->>"]
KEYS = ["a", "b", "c", "name", "n", "x", "key", "é", "z9"]
SELECT_TESTS = ["eq", "ne", "gt", "ge", "lt", "le", "equalto", "greaterthan", "lessthan"]


class Gen:
    def __init__(self, rng):
        self.r = rng
        self.frames = [{}]     # name -> E describing the variable, or None (unusable)
        self.loops = 0         # enclosing for loops (loop.* available when > 0)
        self.macros = []       # (name, has_second_param)
        self.counter = 0
        self.in_macro = False

    # ---- helpers
    def chance(self, p):
        return self.r.random() < p

    def pick(self, seq):
        return self.r.choice(seq)

    def fresh(self, prefix="v"):
        self.counter += 1
        return f"{prefix}{self.counter}"

    def lookup_all(self, pred):
        seen, out = set(), []
        for frame in reversed(self.frames):
            for name, e in frame.items():
                if name in seen:
                    continue
                seen.add(name)
                if e is not None and pred(e):
                    out.append((name, e))
        return out

    def var(self, t, pred=lambda e: True):
        found = self.lookup_all(lambda e: e.t == t and pred(e))
        if not found:
            return None
        name, e = self.pick(found)
        return E(name, e.t, True, e.b, e.n, e.ne, e.keys)

    def bind(self, name, e):
        self.frames[-1][name] = E(name, e.t, True, e.b, e.n, e.ne, e.keys) if e else None

    def str_lit(self, fancy=0.25):
        if self.chance(fancy):
            code, n = self.pick(FANCY_STRS)
            return E(code, "str", True, n=n)
        w = self.pick(SIMPLE_WORDS)
        q = '"' if self.chance(0.2) else "'"
        return E(f"{q}{w}{q}", "str", True, n=len(w))

    def int_lit(self):
        if self.chance(0.05):
            v = self.pick([2 ** 31, 4294967296, 10 ** 9, -(2 ** 31), 123456789012])
        elif self.chance(0.7):
            v = self.r.randint(0, 12)
        else:
            v = self.r.randint(-20, 100)
        return E(str(v), "int", v >= 0, b=abs(v))

    def nonzero(self):
        return self.pick([1, 2, 3, 4, 5, 7, 10, -2, -3])

    # ---- one generator per type; d is the remaining depth
    def gen(self, t, d):
        for _ in range(30):
            e = getattr(self, "g_" + t)(d)
            if e is not None:
                return e
            d = max(0, d - 1)
        raise AssertionError(f"no expression of type {t}")

    def any_plain(self, d):
        return self.gen(self.pick(["int", "float", "str", "bool", "none", "lint", "lstr",
                                   "dict", "int", "str"]), d)

    def g_int(self, d):
        r = self.r.random()
        if d <= 0 or r < 0.25:
            k = self.r.random()
            if k < 0.45:
                return self.int_lit()
            if k < 0.8:
                return self.var("int")
            if self.loops and k < 0.95:
                return E("loop." + self.pick(["index", "index0", "length"]), "int", True, b=60)
            rec = self.var("rec")
            return rec and E(rec.code + self.pick([".n", "['n']"]), "int", True, b=100)
        k = self.r.randrange(17)
        if k == 0:
            a, b = self.gen("int", d - 1), self.gen("int", d - 1)
            op = self.pick(["+", "-"])
            return E(f"{a.p()} {op} {b.p()}", "int", b=a.b + b.b)
        if k == 1:
            a, b = self.gen("int", d - 1), self.gen("int", d - 1)
            if a.b * b.b > INT_LIMIT:
                return None
            return E(f"{a.p()} * {b.p()}", "int", b=a.b * b.b)
        if k == 2:
            a, n = self.gen("int", d - 1), self.nonzero()
            op = self.pick(["//", "%"])
            return E(f"{a.p()} {op} {n}" if n > 0 else f"{a.p()} {op} ({n})", "int",
                     b=a.b + abs(n))
        if k == 3:
            base, ex = self.r.randint(-6, 10), self.r.randint(0, 4)
            b = f"({base})" if base < 0 else str(base)
            return E(f"{b} ** {ex}", "int", b=abs(base) ** ex)
        if k == 4:
            s = self.gen(self.pick(["str", "lint", "lstr", "dict", "recs"]), d - 1)
            return E(f"{s.p()}|{self.pick(['length', 'count', 'length'])}", "int",
                     b=max(s.n, 50) if s.t != "dict" else 10)
        if k == 5:
            l = self.gen("lint", d - 1)
            if l.n * l.b > INT_LIMIT:
                return None
            return E(f"{l.p()}|sum", "int", b=l.n * l.b)
        if k == 6:
            l = self.gen("lint", d - 1)
            if not l.ne:
                return None
            f = self.pick(["min", "max", "first", "last"])
            return E(f"{l.p()}|{f}", "int", b=l.b)
        if k == 7:
            f = self.gen("float", d - 1)
            if f.b > INT_LIMIT:
                return None
            return E(f"{f.p()}|" + self.pick(["int", "round|int", "round(0, 'ceil')|int"]),
                     "int", b=int(f.b) + 1)
        if k == 8:
            return E(f"{self.pick(NUM_STRS)}|int" + self.pick(["", "(7)"]), "int", b=1000)
        if k == 9:
            a = self.gen("int", d - 1)
            return E(f"{a.p()}|abs", "int", b=a.b)
        if k == 10:
            a, b, c = self.gen("int", d - 1), self.gen("int", d - 1), self.gen("bool", d - 1)
            return E(f"{a.p()} if {c.p()} else {b.p()}", "int", b=max(a.b, b.b))
        if k == 11:
            dct = self.gen("dict", d - 1)
            if not dct.keys:
                return E(f"{dct.p()}.get('zz', 0)", "int", b=dct.b)
            key = self.pick(dct.keys)
            form = self.r.randrange(4)
            if form == 0 and key.isidentifier() and key.isascii():
                return E(f"{dct.p()}.{key}", "int", True, b=dct.b)
            if form == 1:
                return E(f"{dct.p()}.get('{key}', 0)", "int", True, b=dct.b)
            return E(f"{dct.p()}['{key}']", "int", True, b=dct.b)
        if k == 12:
            l = self.gen("lint", d - 1)
            if not l.ne:
                return None
            return E(f"{l.p()}[{self.pick(['0', '-1'])}]", "int", True, b=l.b)
        if k == 13:
            rs = self.gen("recs", d - 1)
            return E(f"{rs.p()}|sum(attribute='n')", "int", b=rs.n * 100)
        if k == 14:
            m = self.gen("mstr", d - 1)
            return E(f"{m.p()}|length", "int", b=m.n)
        if k == 15:
            a = self.gen("int", d - 1)
            if a.b > 10 ** 6:
                return None
            return E(f"{a.p()} ** 2", "int", b=a.b * a.b)
        a = self.gen("int", d - 1)
        return E(f"-{a.p()}", "int", b=a.b)

    def g_float(self, d):
        if d <= 0 or self.chance(0.3):
            if self.chance(0.6) or not self.var("float"):
                lit = self.pick(FLOATS)
                neg = self.chance(0.15)
                return E(("-" if neg else "") + lit, "float", not neg, b=float(lit))
            return self.var("float")
        k = self.r.randrange(10)
        if k == 0:
            a = self.gen(self.pick(["int", "float"]), d - 1)
            n = self.pick(["4", "3", "0.5", "(-2)", "7", "2.5", "10"])
            return E(f"{a.p()} / {n}", "float", b=a.b * 2 + 1)
        if k == 1:
            a, b = self.gen("float", d - 1), self.gen(self.pick(["int", "float"]), d - 1)
            op = self.pick(["+", "-", "*"])
            bound = a.b * b.b if op == "*" else a.b + b.b
            if bound > 1e200:
                return None
            return E(f"{a.p()} {op} {b.p()}" if self.chance(0.5) else f"{b.p()} {op} {a.p()}",
                     "float", b=bound)
        if k == 2:
            base = self.pick([2, 3, 10, -2, 4, 5])
            b = f"({base})" if base < 0 else str(base)
            return E(f"{b} ** {self.pick([-1, -2, -3])}", "float", b=1)
        if k == 3:
            a = self.gen("int", d - 1)
            return E(f"{a.p()}|float", "float", b=a.b)
        if k == 4:
            return E(f"{self.pick(NUM_STRS)}|float" + self.pick(["", "(1.5)"]), "float", b=1000)
        if k == 5:
            a = self.gen("float", d - 1)
            arg = self.pick(["", "(1)", "(2)", "(0, 'floor')", "(1, 'ceil')",
                             "(2, 'common')", "(method='floor')", "(3)"])
            return E(f"{a.p()}|round{arg}", "float", b=a.b + 1)
        if k == 6:
            a = self.gen("float", d - 1)
            return E(f"{a.p()}|abs", "float", b=a.b)
        if k == 7:
            a = self.gen("float", d - 1)
            op, n = self.pick(["//", "%"]), self.pick(["2", "3", "0.5", "(-2)", "1.5"])
            return E(f"{a.p()} {op} {n}", "float", b=a.b + 3)
        if k == 8:
            a, b, c = self.gen("float", d - 1), self.gen("float", d - 1), self.gen("bool", d - 1)
            return E(f"{a.p()} if {c.p()} else {b.p()}", "float", b=max(a.b, b.b))
        return E("0.1 + 0.2", "float", b=1)

    def g_str(self, d):
        if d <= 0 or self.chance(0.25):
            k = self.r.random()
            if k < 0.5 or self.in_macro and k < 0.7:
                return self.str_lit()
            if k < 0.85:
                return self.var("str")
            rec = self.var("rec")
            return rec and E(rec.code + self.pick([".name", "['name']"]), "str", True, n=20)
        k = self.r.randrange(22)
        if k == 0:
            a = self.gen(self.pick(["str", "int", "float", "bool", "none", "str", "mstr", "undef",
                                    "lint", "lstr"]), d - 1)
            b = self.gen(self.pick(["str", "int", "str", "float", "mstr", "undef"]), d - 1)
            return E(f"{a.p()} ~ {b.p()}", "str", n=self.len_of(a) + self.len_of(b))
        if k == 1:
            a, b = self.gen("str", d - 1), self.gen("str", d - 1)
            return E(f"{a.p()} + {b.p()}", "str", n=a.n + b.n)
        if k == 2:
            a, m = self.gen("str", d - 1), self.r.randint(0, 3)
            if a.n * m > STR_LIMIT:
                return None
            return E(f"{a.p()} * {m}", "str", n=a.n * m)
        if k == 3:
            a = self.gen("str", d - 1)
            f = self.pick(["upper", "lower", "title", "capitalize", "trim", "trim('a')"])
            return E(f"{a.p()}|{f}", "str", n=a.n)
        if k == 4:
            a = self.gen("str", d - 1)
            old = self.pick(["'a'", "' '", "'b'", "'é'", "'ab'", "''", "'\\n'"])
            new = self.pick(["'X'", "'--'", "''", "'中'"])
            cnt = self.pick(["", "", ", 1", ", 2"])
            n = (a.n + 1) * 3 if old == "''" else a.n * 2
            if n > STR_LIMIT:
                return None
            return E(f"{a.p()}|replace({old}, {new}{cnt})", "str", n=n)
        if k == 5:
            a = self.gen("str", d - 1)
            w = self.r.randint(0, 4)
            args = self.pick(["", f"({w})", f"({w}, true)", f"({w}, true, true)",
                              f"({w}, blank=true)", f"(width={w}, first=true)",
                              "(first=true)", f"({w}, false, true)"])
            n = a.n * 5 + 4
            if n > STR_LIMIT:
                return None
            return E(f"{a.p()}|indent{args}", "str", n=n)
        if k == 6:
            u = self.gen("undef", d - 1) if self.chance(0.6) else self.gen("str", d - 1)
            dflt = self.str_lit()
            extra = self.pick(["", "", ", true"])
            f = self.pick(["default", "d"])
            return E(f"{u.p()}|{f}({dflt.code}{extra})", "str", n=max(u.n, dflt.n))
        if k == 7:
            l = self.gen(self.pick(["lint", "lstr"]), d - 1)
            sep = self.pick(["", "', '", "'-'", "'\\n'", "' | '"])
            return E(f"{l.p()}|join({sep})", "str", n=self.len_of(l) * 4 + 10)
        if k == 8:
            rs = self.gen("recs", d - 1)
            form = self.pick(["|join(', ', attribute='name')", "|map(attribute='name')|join('/')",
                              "|map(attribute='n')|join(',')", "|join(attribute='n')"])
            return E(f"{rs.p()}{form}", "str", n=rs.n * 24)
        if k == 9:
            x = self.gen(self.pick(["int", "float", "bool", "none", "lint", "dict", "str"]), d - 1)
            return E(f"{x.p()}|string", "str", n=self.len_of(x))
        if k == 10:
            a = self.gen("str", d - 1)
            m = self.pick(["upper()", "lower()", "strip()", "replace('a', 'A')",
                           "replace(' ', '')", "strip('a')"])
            return E(f"{a.p()}.{m}", "str", True, n=a.n)
        if k == 11:
            args = [self.gen(self.pick(["int", "float", "str", "bool", "none", "lint"]), d - 1)
                    for _ in range(2)]
            fmt = self.pick(["'{}-{}'", "'{0}/{1}/{0}'", "'[{}] {}'", "\"{1}{0}\""])
            return E(f"{fmt}.format({args[0].code}, {args[1].code})", "str", True,
                     n=2 * sum(self.len_of(a) for a in args) + 8)
        if k == 12:
            a = self.gen("str", d - 1)
            sep = self.pick(["','", "' '", "'a'"])
            return E(f"{a.p()}.split({sep})|join('+')", "str", n=a.n * 2 + 2)
        if k == 13:
            l = self.gen("lstr", d - 1)
            if not l.ne:
                return None
            return E(f"{l.p()}|{self.pick(['first', 'last', 'min', 'max'])}", "str", n=l.b)
        if k == 14 and self.macros and not self.in_macro:
            return self.macro_call(d)
        if k == 15:
            a, b, c = self.gen("str", d - 1), self.gen("str", d - 1), self.gen("bool", d - 1)
            return E(f"{a.p()} if {c.p()} else {b.p()}", "str", n=max(a.n, b.n))
        if k == 16:
            l = self.gen("lstr", d - 1)
            return E(f"{l.p()}|map('upper')|join(',')", "str", n=self.len_of(l) * 3)
        if k == 17:
            dct = self.gen("dict", d - 1)
            form = self.pick(["|dictsort|string", "|join(',')", ".keys()|join",
                              "|dictsort(by='value')|map('string')|join(';')"])
            return E(f"{dct.p()}{form}", "str", n=200)
        if k == 18 and self.loops:
            return E("loop.index ~ '/' ~ loop.length", "str", n=6)
        if k == 19:
            l = self.gen("lint", d - 1)
            return E(f"{l.p()}|batch(2)|list|string", "str", n=self.len_of(l) * 3)
        if k == 20:
            return self.var("str")
        return self.str_lit(fancy=0.6)

    def len_of(self, e):
        if e.t in ("str", "mstr"):
            return e.n
        if e.t in ("int",):
            return len(str(e.b)) + 1
        if e.t in ("lint", "lstr", "recs"):
            return e.n * (e.b + 6 if e.t == "lstr" else 20) + 2
        return 40

    def g_mstr(self, d):
        k = self.r.randrange(5)
        if k == 0:
            x = self.gen(self.pick(["str", "int", "str", "mstr", "none"]), d - 1)
            return E(f"{x.p()}|{self.pick(['e', 'escape'])}", "mstr", n=self.len_of(x) * 6)
        if k == 1:
            x = self.gen("str", d - 1)
            return E(f"{x.p()}|safe", "mstr", n=x.n)
        if k == 2:
            x = self.gen(self.pick(["int", "float", "str", "bool", "none", "lint", "lstr",
                                    "dict", "recs"]), d - 1)
            arg = self.pick(["", "", "(indent=2)", "(2)", "(indent=0)"])
            n = self.len_of(x) * 8 + 10
            if n > STR_LIMIT * 4:
                return None
            return E(f"{x.p()}|tojson{arg}", "mstr", n=n)
        if k == 3 and d > 0:
            x = self.gen("mstr", d - 1)
            return E(f"{x.p()}|{self.pick(['upper', 'lower', 'trim', 'e'])}", "mstr", n=x.n)
        return E(f"{self.str_lit(0.7).code}|e", "mstr", n=60)

    def g_bool(self, d):
        if d <= 0 or self.chance(0.2):
            if self.loops and self.chance(0.3):
                return E("loop." + self.pick(["first", "last"]), "bool", True)
            v = self.var("bool")
            if v and self.chance(0.5):
                return v
            return E(self.pick(["true", "false", "True", "False"]), "bool", True)
        k = self.r.randrange(10)
        if k == 0:
            a, b = self.gen(self.pick(["int", "float"]), d - 1), self.gen(self.pick(["int", "float"]), d - 1)
            return E(f"{a.p()} {self.pick(['<', '<=', '>', '>=', '==', '!='])} {b.p()}", "bool")
        if k == 1:
            a, b = self.gen("str", d - 1), self.gen("str", d - 1)
            return E(f"{a.p()} {self.pick(['==', '!=', '<', '>='])} {b.p()}", "bool")
        if k == 2:
            t = self.pick(["lint", "lstr", "dict", "int", "none", "bool"])
            a, b = self.gen(t, d - 1), self.gen(t, d - 1)
            return E(f"{a.p()} {self.pick(['==', '!='])} {b.p()}", "bool")
        if k == 3:
            form = self.r.randrange(4)
            if form == 0:
                x, l = self.gen("int", d - 1), self.gen("lint", d - 1)
            elif form == 1:
                x, l = self.gen("str", d - 1), self.gen("lstr", d - 1)
            elif form == 2:
                x, l = self.gen("str", d - 1), self.gen("dict", d - 1)
            else:
                x, l = self.gen("str", d - 1), self.gen("str", d - 1)
            op = self.pick(["in", "not in", "is in", "is not in"])
            rhs = l.p()
            if op.startswith("is") and not l.code.isidentifier():
                rhs = f"({l.code})"  # a test's bare argument takes no .attr or [i]
            return E(f"{x.p()} {op} {rhs}", "bool")
        if k == 4:
            x = self.gen(self.pick(["int", "float", "str", "bool", "none", "undef", "lint",
                                    "lstr", "dict", "mstr"]), d - 1)
            test = self.pick(["defined", "undefined", "none", "string", "number", "mapping",
                              "sequence", "iterable", "true", "false", "boolean", "integer",
                              "float"])
            return E(f"{x.p()} is {self.pick(['', '', 'not '])}{test}", "bool")
        if k == 5:
            x = self.gen("int", d - 1)
            test = self.pick(["even", "odd", f"divisibleby({self.pick([1, 2, 3, 5, 7])})"])
            return E(f"{x.p()} is {self.pick(['', 'not '])}{test}", "bool")
        if k == 6:
            x = self.gen("str", d - 1)
            return E(f"{x.p()} is {self.pick(['', 'not '])}{self.pick(['lower', 'upper'])}", "bool")
        if k == 7:
            a, b = self.gen("bool", d - 1), self.gen(self.pick(["bool", "bool", "int", "str", "undef"]), d - 1)
            op = self.pick(["and", "or"])
            if b.t != "bool":  # keep the value a bool
                b = E(f"{b.p()} is defined" if b.t == "undef" else f"not {b.p()}", "bool")
            return E(f"{a.p()} {op} {b.p()}", "bool")
        if k == 8:
            a = self.gen(self.pick(["bool", "bool", "int", "str", "lint", "undef"]), d - 1)
            return E(f"not {a.p()}", "bool")
        a = self.gen("str", d - 1)
        m = self.pick(["startswith", "endswith"])
        return E(f"{a.p()}.{m}({self.str_lit(0.1).code})", "bool", True)

    def g_none(self, d):
        if d > 0 and self.chance(0.3):
            dct = self.gen("dict", d - 1)
            return E(f"{dct.p()}.get('zz')", "none", True)
        return E(self.pick(["none", "None"]), "none", True)

    def g_undef(self, d):
        k = self.r.randrange(4)
        if k == 0 or d <= 0:
            return E(self.pick(["nope", "missing", "undefined_var"]), "undef", True)
        if k == 1:
            dct = self.gen("dict", d - 1)
            return E(dct.p() + self.pick([".zz", "['zz']"]), "undef", True)
        if k == 2:
            l = self.gen("lint", d - 1)
            return E(f"{l.p()}[{l.n + 3}]", "undef", True)
        return E(f"'x' if {self.gen('bool', d - 1).p()} and false", "undef")

    def g_lint(self, d):
        if d <= 0 or self.chance(0.3):
            v = self.var("lint")
            if v and self.chance(0.5):
                return v
            items = [self.r.randint(-5, 20) for _ in range(self.r.randint(0, 5))]
            return E("[" + ", ".join(map(str, items)) + "]", "lint", True, n=len(items),
                     ne=bool(items), b=max([abs(i) for i in items], default=0))
        k = self.r.randrange(9)
        if k == 0:
            form = self.r.randrange(3)
            if form == 0:
                n = self.r.randint(0, 6)
                return E(f"range({n})|list", "lint", n=n, ne=n > 0, b=n)
            if form == 1:
                a, b = self.r.randint(-3, 4), self.r.randint(0, 8)
                return E(f"range({a}, {b})|list", "lint", n=max(0, b - a), ne=b > a, b=8)
            a, b, s = self.r.randint(0, 10), self.r.randint(-3, 12), self.pick([2, 3, -1, -2])
            n = len(range(a, b, s))
            return E(f"range({a}, {b}, {s})|list", "lint", n=n, ne=n > 0, b=12)
        if k == 1:
            l = self.gen("lint", d - 1)
            f = self.pick(["sort", "sort(reverse=true)", "unique|list", "list", "sort(true)",
                           "map('abs')|list"])
            return E(f"{l.p()}|{f}", "lint", n=l.n, ne=l.ne, b=l.b)
        if k == 2:
            a, b = self.gen("lint", d - 1), self.gen("lint", d - 1)
            return E(f"{a.p()} + {b.p()}", "lint", n=a.n + b.n, ne=a.ne or b.ne, b=max(a.b, b.b))
        if k == 3:
            rs = self.gen("recs", d - 1)
            return E(f"{rs.p()}|map(attribute='n')|list", "lint", n=rs.n, ne=rs.ne, b=100)
        if k == 4:
            dct = self.gen("dict", d - 1)
            return E(f"{dct.p()}.values()|list", "lint", n=10, ne=bool(dct.keys), b=dct.b)
        if k == 5:
            l = self.gen("lstr", d - 1)
            return E(f"{l.p()}|map('length')|list", "lint", n=l.n, ne=l.ne, b=l.b)
        if k == 6:
            items = [self.gen("int", d - 1) for _ in range(self.r.randint(1, 3))]
            return E("[" + ", ".join(i.code for i in items) + "]", "lint", True, n=len(items),
                     ne=True, b=max(i.b for i in items))
        if k == 7:
            l = self.gen("lstr", d - 1)
            return E(f"{l.p()}|map('int')|list", "lint", n=l.n, ne=l.ne, b=10 ** 12)
        return self.var("lint")

    def g_lstr(self, d):
        if d <= 0 or self.chance(0.3):
            v = self.var("lstr")
            if v and self.chance(0.5):
                return v
            items = [self.str_lit(0.15) for _ in range(self.r.randint(0, 4))]
            return E("[" + ", ".join(i.code for i in items) + "]", "lstr", True, n=len(items),
                     ne=bool(items), b=max([i.n for i in items], default=0))
        k = self.r.randrange(9)
        if k == 0:
            a = self.gen("str", d - 1)
            sep = self.pick(["','", "' '", "", "'a'"])
            return E(f"{a.p()}.split({sep})", "lstr", True, n=a.n + 1, ne=sep != "", b=a.n)
        if k == 1:
            l = self.gen("lstr", d - 1)
            f = self.pick(["sort", "sort(reverse=true)", "unique|list", "list", "sort(true)",
                           "map('upper')|list", "map('trim')|list"])
            return E(f"{l.p()}|{f}", "lstr", n=l.n, ne=l.ne, b=l.b)
        if k == 2:
            dct = self.gen("dict", d - 1)
            f = self.pick([".keys()|list", "|list", "|sort", "|sort(reverse=true)"])
            return E(f"{dct.p()}{f}", "lstr", n=10, ne=bool(dct.keys), b=4)
        if k == 3:
            rs = self.gen("recs", d - 1)
            return E(f"{rs.p()}|map(attribute='name')|list", "lstr", n=rs.n, ne=rs.ne, b=20)
        if k == 4:
            l = self.gen("lint", d - 1)
            return E(f"{l.p()}|map('string')|list", "lstr", n=l.n, ne=l.ne, b=len(str(l.b)) + 1)
        if k == 5:
            a = self.gen("str", d - 1)
            if a.n > 40:
                return None
            return E(f"{a.p()}|list", "lstr", n=a.n, b=1)
        if k == 6:
            a, b = self.gen("lstr", d - 1), self.gen("lstr", d - 1)
            return E(f"{a.p()} + {b.p()}", "lstr", n=a.n + b.n, ne=a.ne or b.ne, b=max(a.b, b.b))
        if k == 7:
            items = [self.gen("str", d - 1) for _ in range(self.r.randint(1, 3))]
            return E("[" + ", ".join(i.code for i in items) + "]", "lstr", True, n=len(items),
                     ne=True, b=max(i.n for i in items))
        return self.var("lstr")

    def rec_lit(self):
        name = self.pick(["ann", "bob", "Cy", "dee", "Eve", "ann", "中"])
        parts = [f"'name': '{name}'", f"'n': {self.r.randint(-3, 9)}"]
        if self.chance(0.8):
            parts.append(f"'ok': {self.pick(['true', 'false', '1', '0', 'none'])}")
        self.r.shuffle(parts)
        return "{" + ", ".join(parts) + "}"

    def g_recs(self, d):
        if d <= 0 or self.chance(0.4):
            v = self.var("recs")
            if v and self.chance(0.6):
                return v
            items = [self.rec_lit() for _ in range(self.r.randint(0, 4))]
            return E("[" + ", ".join(items) + "]", "recs", True, n=len(items), ne=bool(items))
        rs = self.gen("recs", d - 1)
        k = self.r.randrange(4)
        if k == 0:
            f = self.pick(["selectattr", "rejectattr"])
            return E(f"{rs.p()}|{f}('ok')|list", "recs", n=rs.n)
        if k == 1:
            f = self.pick(["selectattr", "rejectattr"])
            t = self.pick(SELECT_TESTS)
            return E(f"{rs.p()}|{f}('n', '{t}', {self.r.randint(-1, 6)})|list", "recs", n=rs.n)
        if k == 2:
            f = self.pick(["selectattr", "rejectattr"])
            t = self.pick(["even", "odd", "defined", "none"])
            attr = "ok" if t in ("defined", "none") else "n"
            return E(f"{rs.p()}|{f}('{attr}', '{t}')|list", "recs", n=rs.n)
        arg = self.pick(["attribute='n'", "attribute='name'", "attribute='n', reverse=true",
                         "attribute='name', reverse=true"])
        return E(f"{rs.p()}|sort({arg})", "recs", n=rs.n, ne=rs.ne)

    def dict_lit(self, multiline=False):
        keys = self.r.sample(KEYS, self.r.randint(0, 4))
        vals = [self.r.randint(-9, 50) for _ in keys]
        if multiline and keys:
            body = ",\n".join(f"  '{k}': {v}" for k, v in zip(keys, vals))
            code = "{\n" + body + ("," if self.chance(0.5) else "") + "\n}"
        else:
            code = "{" + ", ".join(f"'{k}': {v}" for k, v in zip(keys, vals)) + "}"
        return E(code, "dict", True, b=max([abs(v) for v in vals], default=0), keys=keys)

    def g_dict(self, d):
        v = self.var("dict")
        if v and self.chance(0.5):
            return v
        return self.dict_lit()

    def g_any(self, d):
        k = self.r.randrange(5)
        if k == 0:
            dct = self.gen("dict", d - 1)
            return E(f"{dct.p()}|dictsort" + self.pick(["", "(true)", "(by='value')",
                                                         "(reverse=true)"]), "any", n=200)
        if k == 1:
            l = self.gen(self.pick(["lint", "lstr"]), d - 1)
            return E(f"{l.p()}|batch({self.r.randint(1, 3)})|list", "any", n=200)
        if k == 2:
            dct = self.gen("dict", d - 1)
            return E(f"{dct.p()}.items()|list", "any", n=200)
        if k == 3:
            a, b = self.any_plain(d - 1), self.any_plain(d - 1)
            return E(f"({a.code}, {b.code})", "any", True, n=200)
        return self.gen(self.pick(["recs", "dict"]), d)

    def macro_call(self, d):
        name, second = self.pick(self.macros)
        a = self.gen("str", d - 1)
        if not second or self.chance(0.3):
            return E(f"{name}({a.code})", "str", True, n=300)
        b = self.gen("int", d - 1)
        form = self.pick([f"{a.code}, {b.code}", f"{a.code}, pb={b.code}",
                          f"pb={b.code}, pa={a.code}"])
        return E(f"{name}({form})", "str", True, n=300)

    # ---- statements
    def dash(self):
        return "-" if self.chance(0.18) else ""

    def block_tag(self, inner):
        return f"<%{self.dash()} {inner} {self.dash()}%>"

    def text(self):
        return "".join(self.pick(TEXT_PIECES) for _ in range(self.r.randint(1, 4)))

    def output(self, d):
        t = self.pick(["int", "float", "str", "str", "bool", "none", "lint", "lstr", "dict",
                       "mstr", "undef", "any", "str", "int", "recs"])
        e = self.gen(t, d)
        if self.chance(0.1):
            return f"<<{self.dash()}\n  {e.code}\n{self.dash()}>>"
        return f"<<{self.dash()} {e.code} {self.dash()}>>"

    def set_stmt(self, d):
        k = self.r.random()
        if k < 0.12:
            a = self.gen(self.pick(["int", "str", "bool"]), d)
            b = self.gen(self.pick(["int", "str", "lint"]), d)
            n1, n2 = self.fresh(), self.fresh()
            rhs = self.pick([f"{a.code}, {b.code}", f"[{a.code}, {b.code}]",
                             f"({a.code}, {b.code})"])
            s = self.block_tag(f"set {n1}, {n2} = {rhs}")
            self.bind(n1, a)
            self.bind(n2, b)
            return s
        if k < 0.22:
            e = self.dict_lit(multiline=True)
        elif k < 0.3:
            items = [self.rec_lit() for _ in range(self.r.randint(1, 4))]
            e = E("[\n  " + ",\n  ".join(items) + "\n]", "recs", True, n=len(items), ne=True)
        else:
            e = self.gen(self.pick(["int", "float", "str", "str", "bool", "lint", "lstr", "dict",
                                    "recs", "int"]), d)
        existing = self.lookup_all(lambda x: True)
        name = self.pick(existing)[0] if existing and self.chance(0.2) else self.fresh()
        if name.startswith(("loop", "pa", "pb")):
            name = self.fresh()
        s = self.block_tag(f"set {name} = {e.code}")
        self.bind(name, e)
        return s

    def body(self, depth, n):
        return "".join(self.stmt(depth) for _ in range(n))

    def with_frame(self, fn):
        self.frames.append({})
        try:
            return fn()
        finally:
            self.frames.pop()

    def if_stmt(self, depth):
        before = dict(self.frames[-1])
        touched = set()
        parts = []
        nbranch = 1 + self.r.randint(0, 2)
        for i in range(nbranch):
            cond = self.gen(self.pick(["bool", "bool", "bool", "int", "str", "lint", "undef"]), 2)
            kw = "if" if i == 0 else "elif"
            parts.append(self.block_tag(f"{kw} {cond.p()}"))  # no bare `a if b` here
            parts.append(self.body(depth + 1, self.r.randint(0, 3)))
            touched |= {k for k in self.frames[-1] if before.get(k) is not self.frames[-1][k]}
            self.frames[-1] = dict(before)
        if self.chance(0.5):
            parts.append(self.block_tag("else"))
            parts.append(self.body(depth + 1, self.r.randint(0, 3)))
            touched |= {k for k in self.frames[-1] if before.get(k) is not self.frames[-1][k]}
            self.frames[-1] = dict(before)
        parts.append(self.block_tag("endif"))
        for name in touched:  # maybe assigned: unusable from here on
            self.frames[-1][name] = None
        return "".join(parts)

    def for_stmt(self, depth):
        k = self.r.randrange(9)
        var = self.fresh("it")
        if k == 0:
            l = self.gen("lint", 2)
            head, binds = f"for {var} in {l.p()}", {var: E(var, "int", b=l.b)}
        elif k == 1:
            l = self.gen("lstr", 2)
            head, binds = f"for {var} in {l.p()}", {var: E(var, "str", n=max(l.b, 1))}
        elif k == 2:
            rs = self.gen("recs", 2)
            if self.chance(0.4):
                t = self.pick(SELECT_TESTS)
                src = f"{rs.p()}|selectattr('n', '{t}', {self.r.randint(0, 5)})"
            else:
                src = rs.p()
            head, binds = f"for {var} in {src}", {var: E(var, "rec")}
        elif k == 3:
            dct = self.gen("dict", 1)
            kv, vv = self.fresh("k"), self.fresh("val")
            src = self.pick([f"{dct.p()}.items()", f"{dct.p()}|dictsort",
                             f"{dct.p()}|dictsort(by='value')"])
            head = f"for {kv}, {vv} in {src}"
            binds = {kv: E(kv, "str", n=4), vv: E(vv, "int", b=dct.b)}
        elif k == 4:
            dct = self.gen("dict", 1)
            head, binds = f"for {var} in {dct.p()}", {var: E(var, "str", n=4)}
        elif k == 5:
            n = self.r.randint(0, 5)
            args = self.pick([f"{n}", f"1, {n + 1}", f"{n}, 0, -1", f"0, {2 * n}, 2"])
            head, binds = f"for {var} in range({args})", {var: E(var, "int", b=12)}
        elif k == 6:
            l = self.gen("lint", 1)
            head = f"for {var} in {l.p()}|batch({self.r.randint(1, 3)})"
            binds = {var: E(var, "lint", n=3, ne=True, b=l.b)}
        elif k == 7:
            a, b = self.fresh("a"), self.fresh("b")
            pairs = [f"[{self.r.randint(0, 9)}, '{self.pick(KEYS)}']" for _ in range(self.r.randint(0, 3))]
            head = f"for {a}, {b} in [{', '.join(pairs)}]"
            binds = {a: E(a, "int", b=9), b: E(b, "str", n=4)}
        else:
            s = self.gen("str", 1)
            head, binds = f"for {var} in {s.p()}.split()", {var: E(var, "str", n=s.n)}

        def inner():
            for name, e in binds.items():
                self.bind(name, e)
            self.loops += 1
            try:
                return self.body(depth + 1, self.r.randint(1, 3))
            finally:
                self.loops -= 1
        out = self.block_tag(head) + self.with_frame(inner)
        if self.chance(0.3):
            out += self.block_tag("else") + self.with_frame(lambda: self.body(depth + 1, self.r.randint(0, 2)))
        return out + self.block_tag("endfor")

    def macro_def(self):
        name = self.fresh("m")
        second = self.chance(0.7)
        params = "pa, pb=" + str(self.r.randint(0, 5)) if second else "pa"
        saved_frames, saved_loops = self.frames, self.loops
        self.frames, self.loops, self.in_macro = [{}], 0, True
        self.bind("pa", E("pa", "str", n=60))
        if second:
            self.bind("pb", E("pb", "int", b=1000))
        try:
            body = self.body(2, self.r.randint(1, 3))
        finally:
            self.frames, self.loops, self.in_macro = saved_frames, saved_loops, False
        self.macros.append((name, second))
        return self.block_tag(f"macro {name}({params})") + body + self.block_tag("endmacro")

    def filter_block(self, depth):
        f = self.pick(["upper", "lower", "title", "trim", "capitalize", "indent(2)",
                       "indent(4, true)", "replace('a', 'X')", "e", "upper|trim"])
        inner = self.with_frame(lambda: self.body(depth + 1, self.r.randint(1, 3)))
        return self.block_tag(f"filter {f}") + inner + self.block_tag("endfilter")

    def comment(self):
        txt = "".join(self.pick(TEXT_PIECES + RAW_PIECES[:4]) for _ in range(self.r.randint(0, 3)))
        txt = txt.replace("#}", "")
        return "{#" + self.dash() + txt + self.dash() + "#}"

    def raw(self):
        txt = "".join(self.pick(RAW_PIECES + TEXT_PIECES) for _ in range(self.r.randint(0, 4)))
        return self.block_tag("raw") + txt + self.block_tag("endraw")

    def stmt(self, depth):
        choices = [("text", 3), ("output", 5), ("set", 2), ("comment", 0.4), ("raw", 0.25)]
        if depth < 3:
            choices += [("if", 1.2), ("for", 1.2), ("filter", 0.3)]
        if depth == 0 and not self.in_macro and len(self.macros) < 2:
            choices.append(("macro", 0.4))
        total = sum(w for _, w in choices)
        x = self.r.random() * total
        for kind, w in choices:
            x -= w
            if x < 0:
                break
        ed = self.r.randint(1, 3)
        if kind == "text":
            return self.text()
        if kind == "output":
            return self.output(ed)
        if kind == "set":
            return self.set_stmt(ed)
        if kind == "comment":
            return self.comment()
        if kind == "raw":
            return self.raw()
        if kind == "if":
            return self.if_stmt(depth)
        if kind == "for":
            return self.for_stmt(depth)
        if kind == "filter":
            return self.filter_block(depth)
        return self.macro_def()


def generate(seed, index):
    """The template of case INDEX under SEED (str)."""
    rng = random.Random(f"{seed}:{index}")
    g = Gen(rng)
    src = "".join(g.stmt(0) for _ in range(rng.randint(2, 10)))
    src += rng.choice(["", "\n", "\n", "\n\n", " \n"])
    if rng.random() < 0.05:
        src = src.replace("\n", "\r\n")
    return src


# --------------------------------------------------------------------------
# Running

def run_gpuci(gpuci, path):
    try:
        r = subprocess.run([gpuci, "render", "--stdout", path], capture_output=True, timeout=10)
    except subprocess.TimeoutExpired:
        return (None, b"", b"timed out after 10s")
    return (r.returncode, r.stdout, r.stderr)


def agrees(engine, oracle_out):
    rc, out, err = engine
    return rc == 0 and not err and out == oracle_out.encode("utf-8")


class SelfEngine:
    """The oracle again, in a second process, reading the files."""

    def __init__(self):
        self.client = oracle.Client()

    def run_many(self, paths):
        res = self.client.ask_many([{"path": p} for p in paths])
        return [(0, r["out"].encode("utf-8"), b"") if r["ok"]
                else (1, b"", f"gpuci render: {p}:{r['line']}: {r['msg']}".encode())
                for p, r in zip(paths, res)]

    def run(self, path):
        return self.run_many([path])[0]

    def close(self):
        self.client.close()


class Engine:
    def __init__(self, gpuci):
        self.gpuci = gpuci

    def run_many(self, paths):
        with concurrent.futures.ThreadPoolExecutor(max(2, os.cpu_count() or 2)) as pool:
            return list(pool.map(lambda p: run_gpuci(self.gpuci, p), paths))

    def run(self, path):
        return run_gpuci(self.gpuci, path)

    def close(self):
        pass


def tokens(src):
    """Split a template into text and tag pieces, for the minimizer."""
    import re
    return [t for t in re.split(r"(<%.*?%>|<<.*?>>|\{#.*?#\})", src, flags=re.S) if t]


def failure_kind(engine_result):
    """How gpuci went wrong: its exit status and whether it wrote to stderr."""
    rc, _, err = engine_result
    return (rc, bool(err))


BLOCK_ENDS = {"if": "endif", "for": "endfor", "macro": "endmacro", "filter": "endfilter",
              "raw": "endraw"}


def block_pairs(toks):
    """(open, end) token indexes of the statement blocks in TOKS."""
    import re
    stack, pairs = [], []
    for i, t in enumerate(toks):
        m = re.match(r"<%-?\s*(\w+)", t)
        if not m:
            continue
        word = m.group(1)
        if word in BLOCK_ENDS:
            stack.append((word, i))
        elif stack and word == BLOCK_ENDS[stack[-1][0]]:
            pairs.append((stack.pop()[1], i))
    return pairs


def minimize(src, client, engine, workdir, kind, budget=400):
    """A smaller template on which the engine still disagrees with the oracle
    the same way (same KIND of failure, see failure_kind)."""
    path = os.path.join(workdir, "min.j2")

    def failing(candidate):
        res = client.render(candidate)
        if not res["ok"]:
            return False
        with open(path, "wb") as f:
            f.write(candidate.encode("utf-8"))
        got = engine.run(path)
        return not agrees(got, res["out"]) and failure_kind(got) == kind

    toks = tokens(src)
    tries = 0

    def attempt(cand):
        nonlocal tries
        tries += 1
        return bool(cand) and failing("".join(cand))

    def block_pass():
        """Drop whole blocks, or just their tags, biggest first."""
        nonlocal toks
        changed = True
        while changed and tries < budget:
            changed = False
            for j, i in sorted(block_pairs(toks), key=lambda p: p[0] - p[1]):
                if tries >= budget:
                    break
                for cand in (toks[:j] + toks[i + 1:], toks[:j] + toks[j + 1:i] + toks[i + 1:]):
                    if attempt(cand):
                        toks, changed = cand, True
                        break
                if changed:
                    break

    def chunk_pass():
        nonlocal toks
        chunk = max(1, len(toks) // 2)
        while chunk >= 1 and tries < budget:
            i, progress = 0, False
            while i < len(toks) and tries < budget:
                cand = toks[:i] + toks[i + chunk:]
                if attempt(cand):
                    toks, progress = cand, True
                else:
                    i += chunk
            if not progress:
                chunk //= 2

    def text_pass():
        """Shorten the text pieces from their start."""
        nonlocal toks
        for i in range(len(toks)):
            if toks[i].startswith(("<%", "<<", "{#")):
                continue
            while len(toks[i]) > 1 and tries < budget:
                cand = toks[:i] + [toks[i][1:]] + toks[i + 1:]
                if not attempt(cand):
                    break
                toks = cand

    before = None
    while before != toks and tries < budget:
        before = list(toks)
        block_pass()
        chunk_pass()
        text_pass()
    return "".join(toks)


def show(label, data):
    if isinstance(data, bytes):
        data = data.decode("utf-8", "replace")
    print(f"--- {label} ({len(data)} chars) ---")
    print(data.replace("\r", "\\r") + ("" if data.endswith("\n") else "\n\\ (no newline)"))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("gpuci", nargs="?")
    ap.add_argument("--seed", default=None, help="seed (default: random, printed)")
    ap.add_argument("--count", type=int, default=2000)
    ap.add_argument("--index", type=int, default=None, help="run only case INDEX of the seed")
    ap.add_argument("--keep", metavar="DIR", help="write failing templates (and minimized ones) here")
    ap.add_argument("--self-test", action="store_true",
                    help="compare the oracle with itself (no GPUCI needed)")
    ap.add_argument("--print", dest="print_only", action="store_true",
                    help="print the templates instead of running them")
    ap.add_argument("-v", "--verbose", action="store_true", help="show why skipped cases were skipped")
    args = ap.parse_args()

    seed = args.seed if args.seed is not None else str(random.SystemRandom().randrange(10 ** 9))
    indexes = [args.index] if args.index is not None else list(range(args.count))
    if args.print_only:
        for i in indexes:
            print(f"=== seed {seed} case {i} ===")
            print(generate(seed, i))
        return 0
    if not args.self_test and not args.gpuci:
        ap.error("GPUCI is required (or --self-test)")
    if not oracle.available():
        print(f"random_templates: skipped: no oracle ({oracle.ORACLE_PYTHON} with jinja2)")
        return 77
    gpuci = None
    if not args.self_test:
        gpuci = os.path.abspath(args.gpuci)
        if not os.access(gpuci, os.X_OK):
            print(f"random_templates: {args.gpuci}: not an executable", file=sys.stderr)
            return 2

    print(f"random_templates: seed {seed}, {len(indexes)} cases "
          f"(reproduce: --seed {seed} [--index I])")
    workdir = tempfile.mkdtemp(prefix="gpuci-tpl-")
    client = oracle.Client()
    engine = SelfEngine() if args.self_test else Engine(gpuci)
    try:
        sources, paths = [], []
        for i in indexes:
            src = generate(seed, i)
            p = os.path.join(workdir, f"case{i}.j2")
            with open(p, "wb") as f:
                f.write(src.encode("utf-8"))
            sources.append(src)
            paths.append(p)
        results = client.ask_many([{"path": p} for p in paths])
        live = [k for k, r in enumerate(results) if r["ok"]]
        skipped = len(indexes) - len(live)
        if args.verbose:
            from collections import Counter
            why = Counter(f"{r['type']}: {r['msg']}" for r in results if not r["ok"])
            for msg, n in why.most_common(15):
                print(f"  skipped {n}x {msg}")
        outs = engine.run_many([paths[k] for k in live])

        failed = 0
        for k, got in zip(live, outs):
            want = results[k]["out"]
            if agrees(got, want):
                continue
            failed += 1
            i = indexes[k]
            rc, out, err = got
            print(f"FAIL seed {seed} case {i}: "
                  + (f"exit {rc}: {err.decode('utf-8', 'replace').strip()[:200]}" if rc != 0
                     else "stderr not empty" if err else "output differs"))
            if failed <= MAX_DETAILS:
                show("template", sources[k])
                show("oracle", want)
                show("gpuci", out)
            if args.keep:
                os.makedirs(args.keep, exist_ok=True)
                base = os.path.join(args.keep, f"seed{seed}_case{i}")
                with open(base + ".j2", "wb") as f:
                    f.write(sources[k].encode("utf-8"))
                small = minimize(sources[k], client, engine, workdir, failure_kind(got))
                with open(base + ".min.j2", "wb") as f:
                    f.write(small.encode("utf-8"))
                with open(base + ".min.out", "wb") as f:
                    f.write(client.render(small)["out"].encode("utf-8"))
                if failed <= MAX_DETAILS:
                    show("minimized", small)
        total = len(indexes)
        print(f"skipped {skipped} of {total} templates the oracle rejects "
              f"({100.0 * skipped / max(total, 1):.1f}%)")
        print(f"{len(live) - failed} passed, {failed} failed")
        return 0 if failed == 0 else 1
    finally:
        client.close()
        engine.close()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
