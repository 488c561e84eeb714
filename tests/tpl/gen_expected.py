#!/usr/bin/env python3
"""(Re)write every cases/NAME.out / NAME.err from the Jinja2 oracle.

usage: gen_expected.py [--check] [PATTERN...]

Without --check: for each case (or those matching PATTERN, a glob or a
substring of the name) write NAME.out when the oracle renders the template,
NAME.err when it raises, and remove the other kind. Prints what changed.
With --check: write nothing; list each case whose stored fixture is not what
the oracle says now and exit 1 if there is any.

The oracle is Debian's /usr/bin/python3 with python3-jinja2 (override with
TPL_ORACLE_PYTHON); this script itself may run under any python3.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fixtures  # noqa: E402
import oracle  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--check", action="store_true",
                    help="write nothing; exit 1 listing stale fixtures")
    ap.add_argument("patterns", nargs="*", metavar="PATTERN")
    args = ap.parse_args()

    if not oracle.available():
        sys.exit(f"gen_expected: the oracle needs {oracle.ORACLE_PYTHON} with jinja2 "
                 "(apt-get install -y python3-jinja2)")
    names = fixtures.case_names(args.patterns)
    if not names:
        sys.exit("gen_expected: no case matches")
    client = oracle.Client()
    try:
        results = client.ask_many([{"path": fixtures.template_path(n)} for n in names])
    finally:
        client.close()

    if args.check:
        stale = 0
        for name, res in zip(names, results):
            why = fixtures.fixture_problem(name, res)
            if why:
                stale += 1
                print(f"{name}: {why}")
        print(f"{len(names)} cases checked, {stale} stale")
        return 1 if stale else 0

    changed = 0
    counts = {".out": 0, ".err": 0}
    for name, res in zip(names, results):
        ext, _ = fixtures.expected_from_oracle(res)
        counts[ext] += 1
        if fixtures.write_fixture(name, res):
            changed += 1
            print(f"wrote {name}{ext}")
    print(f"{len(names)} cases: {counts['.out']} render, {counts['.err']} rejected; "
          f"{changed} fixture(s) changed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
