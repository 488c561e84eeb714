#!/usr/bin/python3
"""The reference renderer: Jinja2 configured the way `gpuci render` promises.

This module needs jinja2, which Debian's /usr/bin/python3 has
(apt-get install -y python3-jinja2); the other scripts in this folder may run
under any python3 and talk to it as a subprocess, one JSON object per line:

    request:  {"source": "TEMPLATE TEXT"}       or  {"path": "FILE.j2"}
    response: {"ok": true,  "out": "BODY"}
              {"ok": false, "line": N, "type": "UndefinedError", "msg": "..."}

Run `oracle.py --serve` for that loop, or `oracle.py FILE.j2` to see one result.
"""
import json
import os
import sys
import traceback

try:
    import jinja2
except ImportError:  # a client-only import from another python3
    jinja2 = None

ORACLE_PYTHON = os.environ.get("TPL_ORACLE_PYTHON", "/usr/bin/python3")


def environment():
    return jinja2.Environment(
        block_start_string="<%", block_end_string="%>",
        variable_start_string="<<", variable_end_string=">>")


ENV = environment() if jinja2 else None


def _first_line(text):
    text = str(text).strip()
    return text.splitlines()[0] if text else ""


def render(source):
    """Render SOURCE (a str) with no context; return a response dict."""
    try:
        out = ENV.from_string(source).render()
        out.encode("utf-8")  # a lone surrogate from an escape cannot be written
        return {"ok": True, "out": out}
    except jinja2.TemplateSyntaxError as e:  # TemplateAssertionError too
        return {"ok": False, "line": e.lineno or 0, "type": type(e).__name__,
                "msg": _first_line(e.message)}
    except Exception as e:  # noqa: BLE001 -- any render-time failure counts
        frames = [f for f in traceback.extract_tb(e.__traceback__)
                  if f.filename == "<template>"]
        return {"ok": False, "line": frames[-1].lineno if frames else 0,
                "type": type(e).__name__, "msg": _first_line(e)}


def render_path(path):
    with open(path, "rb") as f:
        return render(f.read().decode("utf-8"))


def handle(req):
    try:
        if "path" in req:
            return render_path(req["path"])
        return render(req["source"])
    except Exception as e:  # noqa: BLE001 -- e.g. a file that is not UTF-8
        return {"ok": False, "line": 0, "type": type(e).__name__, "msg": _first_line(e)}


def serve():
    for line in sys.stdin:
        if not line.strip():
            continue
        sys.stdout.write(json.dumps(handle(json.loads(line))) + "\n")
        sys.stdout.flush()


class Client:
    """A running `oracle.py --serve`, usable from any python3."""

    def __init__(self, python=ORACLE_PYTHON):
        import subprocess
        self.proc = subprocess.Popen(
            [python, os.path.abspath(__file__), "--serve"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, encoding="utf-8")

    def ask(self, req):
        self.proc.stdin.write(json.dumps(req) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("the oracle process ended")
        return json.loads(line)

    def ask_many(self, reqs):
        """Pipeline many requests; the oracle's pipe is drained by a thread."""
        import threading
        out = []

        def reader():
            for _ in reqs:
                out.append(json.loads(self.proc.stdout.readline()))
        t = threading.Thread(target=reader)
        t.start()
        for r in reqs:
            self.proc.stdin.write(json.dumps(r) + "\n")
        self.proc.stdin.flush()
        t.join()
        return out

    def render(self, source):
        return self.ask({"source": source})

    def render_path(self, path):
        return self.ask({"path": path})

    def close(self):
        if self.proc.poll() is None:
            self.proc.stdin.close()
            self.proc.wait()


def available(python=ORACLE_PYTHON):
    """True when PYTHON can import jinja2 (the oracle can run)."""
    import subprocess
    try:
        r = subprocess.run([python, "-c", "import jinja2"], capture_output=True, timeout=60)
    except OSError:
        return False
    return r.returncode == 0


if __name__ == "__main__":
    if sys.argv[1:] == ["--serve"]:
        serve()
    elif len(sys.argv) == 2:
        r = render_path(sys.argv[1])
        if r["ok"]:
            sys.stdout.write(r["out"])
        else:
            sys.exit(f"{sys.argv[1]}:{r['line']}: {r['type']}: {r['msg']}")
    else:
        sys.exit("usage: oracle.py --serve | oracle.py FILE.j2")
