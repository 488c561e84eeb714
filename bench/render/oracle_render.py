#!/usr/bin/python3
"""Render a workflow template the way the Python generator does: the oracle for `gpuci render`.

usage: oracle_render.py [--body] FILE.j2

Prints the header (three lines) and the rendered body, as the generator writes
pr-test.yml; with --body, only the body (what `gpuci render --stdout` prints).
The template is loaded by name from its own directory, with the project's
delimiters, and rendered without a context. Needs Debian's python3-jinja2.
"""
import os
import sys

import jinja2

HEADER = (
    "#" * 80 + "\n"
    "# This file is auto-generated from the .j2 file via gpuci render. Do not edit manually.\n"
    + "#" * 80 + "\n"
)


def render(path):
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(os.path.dirname(os.path.abspath(path))),
        block_start_string="<%",
        block_end_string="%>",
        variable_start_string="<<",
        variable_end_string=">>",
    )
    return env.get_template(os.path.basename(path)).render()


def main(argv):
    args = argv[1:]
    body_only = "--body" in args
    files = [a for a in args if a != "--body"]
    if len(files) != 1 or any(a.startswith("-") for a in files):
        sys.stderr.write(__doc__.split("\n\n")[1] + "\n")
        return 2
    out = render(files[0])
    if not body_only:
        out = HEADER + out
    sys.stdout.buffer.write(out.encode("utf-8"))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
