"""The case corpus under cases/: discovery and the fixture files.

cases/NAME.j2 is a template. Its expectation is exactly one of:
  NAME.out  the body bytes Jinja2 renders (the template renders)
  NAME.err  line 1: the template line Jinja2 reports; line 2: the exception
            type and message, for humans (the template is rejected)
Any python3 may import this; the oracle itself runs in oracle.py.
"""
import fnmatch
import os

HERE = os.path.dirname(os.path.abspath(__file__))
CASES = os.path.join(HERE, "cases")


def case_names(patterns=()):
    """Sorted case names, filtered by glob or substring PATTERNS (any match)."""
    names = sorted(f[:-3] for f in os.listdir(CASES) if f.endswith(".j2"))
    if not patterns:
        return names
    return [n for n in names
            if any(fnmatch.fnmatchcase(n, p) or p in n for p in patterns)]


def template_path(name):
    return os.path.join(CASES, name + ".j2")


def expected_from_oracle(result):
    """(extension, bytes) that the oracle's RESULT says the fixture must hold."""
    if result["ok"]:
        return ".out", result["out"].encode("utf-8")
    return ".err", f"{result['line']}\n{result['type']}: {result['msg']}\n".encode("utf-8")


def stored(name):
    """[(extension, bytes)] of the fixture files present for NAME."""
    found = []
    for ext in (".out", ".err"):
        p = os.path.join(CASES, name + ext)
        if os.path.exists(p):
            with open(p, "rb") as f:
                found.append((ext, f.read()))
    return found


def err_line(data):
    """The line number stored in a .err fixture's first line."""
    return int(data.split(b"\n", 1)[0].strip())


def fixture_problem(name, result):
    """None when NAME's stored fixture is what the oracle says; else why not."""
    want_ext, want = expected_from_oracle(result)
    have = stored(name)
    if not have:
        return f"no fixture (want {want_ext})"
    if len(have) > 1:
        return "both .out and .err exist"
    ext, data = have[0]
    if ext != want_ext:
        if want_ext == ".err":
            return f"has .out but the oracle rejects it: line {result['line']}: " \
                   f"{result['type']}: {result['msg']}"
        return "has .err but the oracle renders it"
    if ext == ".err":
        # The message is for humans; the line number is what must agree,
        # but a changed message is still reported so the file stays truthful.
        if err_line(data) != result["line"]:
            return f".err says line {err_line(data)}, the oracle says {result['line']}"
    if data != want:
        return f"{ext} differs from the oracle's"
    return None


def write_fixture(name, result):
    """Write NAME's fixture from RESULT and remove the other kind; True if changed."""
    ext, data = expected_from_oracle(result)
    other = ".err" if ext == ".out" else ".out"
    changed = False
    other_path = os.path.join(CASES, name + other)
    if os.path.exists(other_path):
        os.remove(other_path)
        changed = True
    path = os.path.join(CASES, name + ext)
    old = None
    if os.path.exists(path):
        with open(path, "rb") as f:
            old = f.read()
    if old != data:
        with open(path, "wb") as f:
            f.write(data)
        changed = True
    return changed
