#!/usr/bin/python3
"""A stand-in for `gpuci render --stdout FILE` built on the Jinja2 oracle.

It exists to test this folder's scripts without the engine:
    run_cases.py tests/tpl/fake_gpuci.py
It answers like the contract says: the body on stdout and exit 0, or
`gpuci render: PATH:LINE: message` on stderr and exit 1.
Set FAKE_GPUCI_BREAK=1 to make it append a stray byte, to see failures.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import oracle  # noqa: E402


def main(argv):
    if len(argv) != 3 or argv[:2] != ["render", "--stdout"]:
        print("usage: fake_gpuci.py render --stdout FILE.j2", file=sys.stderr)
        return 2
    path = argv[2]
    r = oracle.render_path(path)
    if not r["ok"]:
        print(f"gpuci render: {path}:{r['line']}: {r['type']}: {r['msg']}", file=sys.stderr)
        return 1
    out = r["out"].encode("utf-8")
    if os.environ.get("FAKE_GPUCI_BREAK"):
        out += b"!"
    sys.stdout.buffer.write(out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
