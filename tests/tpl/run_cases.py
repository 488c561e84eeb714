#!/usr/bin/env python3
"""Run the template corpus under cases/ against `gpuci render`.

usage: run_cases.py GPUCI [--only PATTERN]... [-k] [--no-oracle] [-q]

For each cases/NAME.j2 it runs `GPUCI render --stdout NAME.j2` and checks:
  NAME.out  exit 0, empty stderr, stdout equal to the file byte for byte
            (a short unified diff is printed on a mismatch);
  NAME.err  exit 1 and a stderr line `gpuci render: ...NAME.j2:LINE: ...`
            with LINE the first line of the .err file.
When the oracle (/usr/bin/python3 with jinja2) is there, every selected
fixture is also checked against it, as `gen_expected.py --check` does.
Prints one line per failing case, then `N passed, M failed`; exits 0 only
when M is 0. The run always goes through every selected case; -k is
accepted for habit's sake.
"""
import argparse
import concurrent.futures
import difflib
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fixtures  # noqa: E402
import oracle  # noqa: E402

TIMEOUT_S = 10
DIFF_LINES = 30


def visible(line):
    """A diff line with its invisible characters shown."""
    body = line[:-1] if line.endswith("\n") else line
    body = body.replace("\t", "\\t").replace("\r", "\\r")
    stripped = body.rstrip(" ")
    if len(stripped) != len(body):
        body = stripped + "\u00b7" * (len(body) - len(stripped))  # trailing spaces
    if not line.endswith("\n"):
        body += "  \\ (no newline)"
    return body


def short_diff(want, got):
    w = want.decode("utf-8", "replace").splitlines(keepends=True)
    g = got.decode("utf-8", "replace").splitlines(keepends=True)
    lines = list(difflib.unified_diff(w, g, "expected", "gpuci", n=2))
    out = []
    for d in lines[:DIFF_LINES]:
        if d.startswith(("---", "+++", "@@")):
            out.append("    " + d.rstrip("\n"))
        else:
            out.append("    " + d[0] + visible(d[1:]))
    if len(lines) > DIFF_LINES:
        out.append(f"    ... {len(lines) - DIFF_LINES} more diff lines")
    if not lines:
        out.append(f"    (bytes differ invisibly: expected {want[:80]!r}, got {got[:80]!r})")
    return "\n".join(out)


def first_line(text, limit=200):
    text = text.strip()
    line = text.splitlines()[0] if text else ""
    return line if len(line) <= limit else line[:limit] + "..."


def run_engine(gpuci, name):
    """Return a list of problems (strings) for NAME against GPUCI."""
    path = fixtures.template_path(name)
    have = fixtures.stored(name)
    if len(have) != 1:
        return ["no fixture" if not have else "both .out and .err exist"]
    ext, data = have[0]
    try:
        r = subprocess.run([gpuci, "render", "--stdout", path],
                           capture_output=True, timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return [f"timed out after {TIMEOUT_S}s"]
    err = r.stderr.decode("utf-8", "replace")
    tag = " (not supported)" if "not supported" in err else ""
    if ext == ".out":
        problems = []
        if r.returncode != 0:
            problems.append(f"exit {r.returncode}, want 0{tag}: {first_line(err) or '(no stderr)'}")
        elif err:
            problems.append(f"unexpected stderr: {first_line(err)}")
        if r.returncode == 0 and r.stdout != data:
            problems.append("stdout differs\n" + short_diff(data, r.stdout))
        return problems
    line = fixtures.err_line(data)
    want = re.compile(r"^gpuci render: .*" + re.escape(name) + r"\.j2:" + str(line) + r": ", re.M)
    problems = []
    if r.returncode != 1:
        problems.append(f"exit {r.returncode}, want 1 (rejected at line {line})")
    if not want.search(err):
        problems.append(f"stderr lacks 'gpuci render: ...{name}.j2:{line}: ...'; "
                        f"got: {first_line(err) or '(empty)'}")
    return problems


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("gpuci")
    ap.add_argument("--only", action="append", default=[], metavar="PATTERN",
                    help="run the cases whose name matches PATTERN (glob or substring); repeatable")
    ap.add_argument("-k", "--keep-going", action="store_true",
                    help="keep going after a failure (always the case)")
    ap.add_argument("--no-oracle", action="store_true",
                    help="skip re-checking the fixtures against the oracle")
    ap.add_argument("-q", "--quiet", action="store_true", help="no diffs, one line per failure")
    args = ap.parse_args()

    gpuci = os.path.abspath(args.gpuci)
    if not os.access(gpuci, os.X_OK):
        print(f"run_cases: {args.gpuci}: not an executable", file=sys.stderr)
        return 2
    names = fixtures.case_names(args.only)
    if not names:
        print("run_cases: no case matches", file=sys.stderr)
        return 2

    stale = {}
    if args.no_oracle:
        pass
    elif oracle.available():
        client = oracle.Client()
        try:
            results = client.ask_many([{"path": fixtures.template_path(n)} for n in names])
        finally:
            client.close()
        for n, res in zip(names, results):
            why = fixtures.fixture_problem(n, res)
            if why:
                stale[n] = "fixture disagrees with the oracle (gen_expected.py): " + why
    else:
        print(f"note: no oracle ({oracle.ORACLE_PYTHON} with jinja2); "
              "fixtures are not re-checked")

    workers = max(2, os.cpu_count() or 2)
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        engine = list(pool.map(lambda n: run_engine(gpuci, n), names))

    failed = 0
    for name, problems in zip(names, engine):
        if name in stale:
            problems = problems + [stale[name]]
        if not problems:
            continue
        failed += 1
        head, *rest = problems[0].split("\n", 1)
        extra = "; ".join(p.split("\n", 1)[0] for p in problems[1:])
        print(f"FAIL {name}: {head}" + (f"; {extra}" if extra else ""))
        if not args.quiet:
            for p in problems:
                if "\n" in p:
                    print(p.split("\n", 1)[1])
    print(f"{len(names) - failed} passed, {failed} failed")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
