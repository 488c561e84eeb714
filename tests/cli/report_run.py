"""A real `gpuci run` of examples/vime-mini for the report tests (report_browser_test.py,
mermaid_test.py; run as scripts, so this module is found next to them).

    run = VimeRun.go(gpuci, "--label", "run-ci-ckpt", env=dict(VIME_MINI_FAIL="..."))
    run.run_id, run.report, run.table, run.attempts, run.tests()

8 simulated GPUs, lock files and history in the run's temp dir, the tests'
record of vime-mini in it too, VIME_MINI_SECONDS=0.3. What the run printed
gives its id (first line), its results table (the order of the report's test
indices) and `report: PATH` (its last lines); `gpuci history --json` the
attempts of that run id.
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VIME_MINI = os.path.join(ROOT, "examples", "vime-mini")
STATUSES = ("passed", "failed", "flaky", "timeout", "crashed", "canceled")
ROW = re.compile(r"^(%s)\s+(\S+)\s+(.+?)\s+(\d+)\s+(\S+ s|\S+)\s+(\S+)$" % "|".join(STATUSES))


class VimeRun:
    """One `gpuci run` on a fresh copy of vime-mini, and what it left."""

    def __init__(self, gpuci, prefix="gpuci-report-test.", make=None):
        """make(root): writes the repository instead of vime-mini (its workflow pr-test.yml)."""
        self.gpuci = os.path.abspath(gpuci)
        self.tmp = tempfile.mkdtemp(prefix=prefix)
        self.root = os.path.join(self.tmp, "repo")
        if make:
            os.makedirs(os.path.join(self.root, ".github", "workflows"))
            make(self.root)
        else:
            shutil.copytree(VIME_MINI, self.root)
        for d in ("record", "locks"):
            os.mkdir(os.path.join(self.tmp, d))
        self.history = os.path.join(self.tmp, "history.db")
        self.workflow = os.path.join(self.root, ".github", "workflows", "pr-test.yml")
        self.proc = None

    @classmethod
    def go(cls, gpuci, *args, env=None, timeout=120, prefix="gpuci-report-test.", make=None):
        r = cls(gpuci, prefix, make)
        r.run(*args, env=env, timeout=timeout)
        return r

    def env(self, extra=None):
        e = {k: v for k, v in os.environ.items()
             if not k.startswith(("VIME_MINI_", "GITHUB_", "RUNNER_"))}
        e.update(VIME_MINI_RECORD=os.path.join(self.tmp, "record"), VIME_MINI_SECONDS="0.3",
                 GPUCI_NVML="")
        e.update(extra or {})
        return e

    def run(self, *args, env=None, timeout=120):
        argv = [self.gpuci, "run", "--workflow", self.workflow, "--gpus", "8",
                "--lock-path-pattern", os.path.join(self.tmp, "locks", "gpu_{gpu_id}.lock"),
                "--history", self.history, "--kill-after", "1", *args]
        self.proc = subprocess.run(argv, capture_output=True, text=True, cwd=self.root,
                                   env=self.env(env), timeout=timeout)
        out = self.proc.stdout
        m = re.search(r"^gpuci run (\S+?):", out, re.M)
        self.run_id = m.group(1) if m else None
        reports = re.findall(r"^report: (.+)$", out, re.M)
        self.report_line = reports[-1].strip() if reports else None
        self.report = os.path.join(self.root, ".gpuci", "runs", self.run_id or "?", "report.html")
        self.table = [dict(zip(("status", "job", "test", "gpus", "duration", "log"),
                               m.groups())) for m in map(ROW.match, out.splitlines()) if m]
        h = subprocess.run([self.gpuci, "history", "--history", self.history, "--json",
                            "--limit", "100000"], capture_output=True, text=True, cwd=self.root,
                           env=self.env(), timeout=60)
        rows = json.loads(h.stdout) if h.returncode == 0 and h.stdout.strip() else []
        self.attempts = sorted((a for a in rows if a.get("run_id") == self.run_id),
                               key=lambda a: (a["started_at"], a["id"]))
        return self.proc

    def output(self):
        return (self.proc.stdout + self.proc.stderr) if self.proc else ""

    def tests(self):
        """The run's tests in its results table's order: [(row, [its attempts by number])].

        A row is tied to its attempts by the log of its last attempt (the table's LOG
        column), then to every attempt of the same job, file and arguments."""
        out = []
        for row in self.table:
            last = [a for a in self.attempts if a["log_path"] == row["log"]]
            if len(last) != 1:
                raise AssertionError(f"table row {row} matches {len(last)} attempts by its log")
            key = _key(last[0])
            out.append((row, sorted((a for a in self.attempts if _key(a) == key),
                                    key=lambda a: a["attempt"])))
        return out

    def index_of(self):
        """{history id: (test index, attempt number)} for every attempt of the run."""
        return {a["id"]: (i, a["attempt"]) for i, (_, atts) in enumerate(self.tests())
                for a in atts}

    def close(self):
        shutil.rmtree(self.tmp, ignore_errors=True)


def _key(a):
    return (a["job"], a["test_file"], a["test_args"])


def gpu_ids(a):
    """The GPU ids of a history attempt, as ints ([] for a CPU test)."""
    return sorted(int(x) for x in str(a.get("gpu_ids") or "").split(",") if x.strip())


def failing_run_env():
    """The knobs of the mixed run: a failure, a crash, a flaky test (retried)."""
    return {"VIME_MINI_FAIL": "test_qwen3_4B_precision",
            "VIME_MINI_FLAKY": "--async-save",
            "VIME_MINI_CRASH": "test_moonlight_16B_precision"}


FAILING_RUN_ARGS = ("--label", "run-ci-ckpt", "--label", "run-ci-precision",
                    "--retries", "1", "--retry-on", "accuracy noise")


if __name__ == "__main__":
    r = VimeRun.go(sys.argv[1], *FAILING_RUN_ARGS, env=failing_run_env())
    print(r.output())
    print(json.dumps(r.attempts, indent=1))
    print(r.tmp)
