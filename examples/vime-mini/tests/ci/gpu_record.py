"""The shared record of vime-mini's simulated GPU tests.

Every GPU test ends its execute() with train(). Training is a sleep, but the
GPUs are checked for real: train() exits 1 with the reason unless
CUDA_VISIBLE_DEVICES names exactly NUM_GPUS distinct GPU indices, none of
them held by another test that is still running. So a runner that hands out
the wrong GPUs, or the same GPU twice, makes a test fail, and the log lets a
test of the runner prove afterwards that no two tests ever shared a GPU.

The record is a directory, $VIME_MINI_RECORD (default
<tempdir>/vime-mini-record-<uid>, so TMPDIR moves it), shared by every test
on the machine:

  holdings.json  the live holdings, {"holders": [{"test", "args", "pid",
                 "gpus", "since"}]}. A test reads it, drops holders whose pid
                 is gone (a test killed by SIGKILL leaves its entry behind),
                 checks its GPUs are free, adds itself, and removes itself
                 when it ends; all of it under flock() on holdings.lock.
  runs.jsonl     append-only log, one JSON object per line and per run:
                   {"test": "test_qwen3_4B_ckpt.py", "args": ["--async-save"],
                    "pid": 4242, "gpus": [2, 3], "start": 1718000000.12,
                    "end": 1718000002.13, "ok": true, "outcome": "passed",
                    "env": {"VIME_TEST_JOB": "e2e-test-ckpt", ...}}
                 start and end are time.time(); env holds every VIME_TEST_*
                 variable (what the job's env: gave the test). outcome is
                 passed; failed; terminated (SIGTERM or SIGINT: logged, then
                 the test dies of that signal); crashed (VIME_MINI_CRASH:
                 logged just before the SIGKILL, its holding left behind as
                 a killed test's would be); or refused: the GPUs were
                 wrong, nothing was held (start == end) and "reason" says why.
  flaky-*        one marker per run that VIME_MINI_FLAKY made fail once.

Knobs, read from the environment:

  VIME_MINI_SECONDS=2      how long training takes, in seconds
  VIME_MINI_FAIL=S         the run fails after training: "loss diverged"
  VIME_MINI_FLAKY=S        the run fails its first attempt, "accuracy noise:
                           retrying is fine", and passes the next ones
  VIME_MINI_HANG=S         the run trains for VIME_MINI_HANG_SECONDS (3600)
  VIME_MINI_CRASH=S        the run kills itself with SIGKILL halfway through

S is a comma-separated list of substrings of the run's name, its file name
and arguments: "test_qwen3_4B_ckpt.py --async-save" is matched by "ckpt",
"4B_ckpt.py --async" and "--async-save", "test_glm4_9B.py" by "glm4".

Run as a script on the record (of $VIME_MINI_RECORD, or the directory given):
  python3 tests/ci/gpu_record.py check [DIR]   exit 1 if two runs overlapped
                                               on a GPU or a run was refused
  python3 tests/ci/gpu_record.py show [DIR]    print the log, one run a line
  python3 tests/ci/gpu_record.py reset [DIR]   empty the record
"""
import contextlib
import fcntl
import hashlib
import itertools
import json
import os
import shutil
import signal
import sys
import tempfile
import time


def record_dir():
    default = os.path.join(tempfile.gettempdir(), f"vime-mini-record-{os.getuid()}")
    path = os.environ.get("VIME_MINI_RECORD") or default
    os.makedirs(path, exist_ok=True)
    return path


class Terminated(BaseException):
    """SIGTERM or SIGINT arrived: the run ends, logged, then dies of the signal."""

    def __init__(self, signum):
        super().__init__(signum)
        self.signum = signum


def train(test_file, model, num_gpus, options):
    """Runs one simulated training of test_file on its GPUs; exits 1 on failure.

    options: the test's parsed arguments, printed with the raw ones.
    """
    test = os.path.basename(test_file)
    args = sys.argv[1:]
    name = " ".join([test] + args)
    env = {k: v for k, v in sorted(os.environ.items()) if k.startswith("VIME_TEST_")}
    print(f"[{test}] {model}: args {args} -> {options}", flush=True)
    print(f"[{test}] env {env}", flush=True)

    run = {"test": test, "args": args, "pid": os.getpid(), "gpus": [], "env": env}
    _claim(run, num_gpus)
    print(f"[{test}] training on GPUs {run['gpus']}", flush=True)
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, _raise_terminated)
    try:
        _simulate(name, run)
        run["outcome"] = "passed"
    except Terminated as e:
        run["outcome"] = "terminated"
        _release(run)
        print(f"[{test}] terminated by signal {e.signum}", flush=True)
        signal.signal(e.signum, signal.SIG_DFL)
        os.kill(os.getpid(), e.signum)
        sys.exit(128 + e.signum)  # not reached: the signal kills the test
    finally:
        run.setdefault("outcome", "failed")
        _release(run)
    print(f"[{test}] passed", flush=True)


def _raise_terminated(signum, frame):
    raise Terminated(signum)


def _fail(run, message):
    print(f"[{run['test']}] FAILED: {message}", file=sys.stderr, flush=True)
    sys.exit(1)


def _knob(variable, name):
    """Whether the env variable lists a substring of the run's name."""
    return any(s and s in name for s in os.environ.get(variable, "").split(","))


def _simulate(name, run):
    seconds = float(os.environ.get("VIME_MINI_SECONDS", "2"))
    if _knob("VIME_MINI_HANG", name):
        seconds = float(os.environ.get("VIME_MINI_HANG_SECONDS", "3600"))
        print(f"[{run['test']}] VIME_MINI_HANG: training for {seconds:g} s", flush=True)
    if _knob("VIME_MINI_CRASH", name):
        time.sleep(seconds / 2)
        run["outcome"] = "crashed"
        _release(run, keep_holding=True)  # as if killed: the next test finds this pid gone
        print(f"[{run['test']}] VIME_MINI_CRASH: killing myself with SIGKILL", flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
    time.sleep(seconds)
    if _knob("VIME_MINI_FAIL", name):
        _fail(run, "loss diverged at step 3 (12.7 > 2.0) (VIME_MINI_FAIL)")
    if _knob("VIME_MINI_FLAKY", name):
        marker = os.path.join(record_dir(), "flaky-" + hashlib.sha1(name.encode()).hexdigest()[:16])
        try:
            os.close(os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        except FileExistsError:
            print(f"[{run['test']}] VIME_MINI_FLAKY: a retry, it passes", flush=True)
        else:
            _fail(run, "accuracy 0.61 < 0.62 on the first attempt: accuracy noise: "
                  "retrying is fine (VIME_MINI_FLAKY)")


@contextlib.contextmanager
def _locked():
    """The record directory, with holdings.lock held."""
    path = record_dir()
    fd = os.open(os.path.join(path, "holdings.lock"), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield path
    finally:
        os.close(fd)


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _read_holders(path):
    try:
        with open(os.path.join(path, "holdings.json"), encoding="utf-8") as f:
            return json.load(f)["holders"]
    except FileNotFoundError:
        return []


def _write_holders(path, holders):
    tmp = os.path.join(path, f"holdings.json.{os.getpid()}")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump({"holders": holders}, f)
    os.replace(tmp, os.path.join(path, "holdings.json"))


def _log(path, run):
    keys = ("test", "args", "pid", "gpus", "start", "end", "ok", "outcome", "reason", "env")
    line = json.dumps({k: run[k] for k in keys if k in run}) + "\n"
    with open(os.path.join(path, "runs.jsonl"), "a", encoding="utf-8") as f:
        f.write(line)


def _claim(run, num_gpus):
    """Checks CUDA_VISIBLE_DEVICES and takes its GPUs into the holdings, or exits 1."""
    raw = os.environ.get("CUDA_VISIBLE_DEVICES")
    ids = raw.split(",") if raw else []
    reason = None
    if raw is None:
        reason = (f"CUDA_VISIBLE_DEVICES is not set, but this test needs {num_gpus} GPU(s); "
                  f"run it under `gpuci lock --count {num_gpus}`")
    elif not all(i.strip().isdigit() for i in ids):
        reason = f"CUDA_VISIBLE_DEVICES={raw!r} is not a list of GPU indices"
    else:
        run["gpus"] = [int(i) for i in ids]
        if len(set(run["gpus"])) != len(run["gpus"]):
            reason = f"CUDA_VISIBLE_DEVICES={raw!r} names a GPU twice"
        elif len(ids) != num_gpus:
            reason = (f"CUDA_VISIBLE_DEVICES={raw!r} names {len(ids)} GPU(s), but this test "
                      f"needs {num_gpus} (NUM_GPUS = {num_gpus}); run it under "
                      f"`gpuci lock --count {num_gpus}`")
    with _locked() as path:
        holders = [h for h in _read_holders(path) if h["pid"] != run["pid"] and _alive(h["pid"])]
        for h in holders:
            shared = sorted(set(h["gpus"]) & set(run["gpus"]))
            if shared and not reason:
                reason = (f"GPU(s) {shared} held by {' '.join([h['test']] + h['args'])} "
                          f"(pid {h['pid']}), which is still running")
        run["start"] = time.time()
        if reason:
            run.update(end=run["start"], ok=False, outcome="refused", reason=reason)
            _log(path, run)
        else:
            holders.append({k: run[k] for k in ("test", "args", "pid", "gpus")} | {"since": run["start"]})
            _write_holders(path, holders)
    if reason:
        _fail(run, reason)


def _release(run, keep_holding=False):
    """Logs the run and drops its holding, once."""
    if "end" in run:
        return
    with _locked() as path:
        run["end"] = time.time()
        run["ok"] = run["outcome"] == "passed"
        if not keep_holding:
            _write_holders(path, [h for h in _read_holders(path) if h["pid"] != run["pid"]])
        _log(path, run)


def load_runs(path=None):
    """The logged runs, oldest first."""
    try:
        with open(os.path.join(path or record_dir(), "runs.jsonl"), encoding="utf-8") as f:
            return [json.loads(line) for line in f if line.strip()]
    except FileNotFoundError:
        return []


def problems(runs):
    """What proves a runner wrong: refused runs, and runs overlapping on a GPU."""
    found = [f"refused: {' '.join([r['test']] + r['args'])}: {r['reason']}"
             for r in runs if r["outcome"] == "refused"]
    held = [r for r in runs if r["outcome"] != "refused"]
    for a, b in itertools.combinations(held, 2):
        shared = sorted(set(a["gpus"]) & set(b["gpus"]))
        if shared and a["start"] < b["end"] and b["start"] < a["end"]:
            found.append(f"overlap on GPU(s) {shared}: {' '.join([a['test']] + a['args'])} "
                         f"(pid {a['pid']}) and {' '.join([b['test']] + b['args'])} (pid {b['pid']})")
    return found


def main(argv):
    if len(argv) not in (2, 3) or argv[1] not in ("check", "show", "reset"):
        print(f"usage: {argv[0]} check|show|reset [DIR]", file=sys.stderr)
        return 2
    path = argv[2] if len(argv) == 3 else record_dir()
    if argv[1] == "reset":
        shutil.rmtree(path, ignore_errors=True)
        return 0
    runs = load_runs(path)
    if argv[1] == "show":
        t0 = min((r["start"] for r in runs), default=0)
        for r in runs:
            print(f"{r['start'] - t0:8.3f} {r['end'] - r['start']:7.3f}s  {r['outcome']:10} "
                  f"gpus {','.join(map(str, r['gpus'])) or '-':16} "
                  f"{' '.join([r['test']] + r['args'])}")
        return 0
    found = problems(runs)
    for p in found:
        print(p)
    gpus = sorted({g for r in runs for g in r["gpus"]})
    print(f"{len(runs)} run(s) on GPU(s) {gpus}: "
          f"{'no two shared a GPU' if not found else f'{len(found)} problem(s)'}")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
