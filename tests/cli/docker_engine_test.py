"""The docker CLI against a real, private engine (issue 14, item 2).

    docker_engine_test.py DOCKERRUN_DUMP BUILD_DIR

What the docker executor will rely on, checked with the raw docker CLI
against the engine tests/harness/docker.py starts under BUILD_DIR/docker/:
the --gpus value docker/dockerrun.h builds ("device=0,1", quotes included)
against the unquoted one docker splits at the comma; the options dockerrun
reads from an Execute step shaped like vime's and slime's accepted by
`docker create` and seen by inspect; --init making a SIGTERM reach the test.
Exits 77 (skipped) with the reason where the engine cannot start.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "harness"))
import docker as harness  # noqa: E402  (tests/harness/docker.py)

DUMP = None
BUILD = None
ENG = None
STEP = os.path.join(HERE, "..", "docker", "fixtures", "execute-step.sh")

TRAP = ("import signal, sys, time\n"
        "def term(*_):\n"
        "    print('handler: got SIGTERM', flush=True)\n"
        "    sys.exit(0)\n"
        "signal.signal(signal.SIGTERM, term)\n"
        "print('ready', flush=True)\n"
        "time.sleep(300)\n")


def gpus_arg(ids):
    r = subprocess.run([DUMP, "--gpus", ",".join(str(i) for i in ids)], check=True,
                       stdout=subprocess.PIPE, text=True)
    return r.stdout.strip()


def inspect(cid):
    return json.loads(ENG.docker("inspect", cid).stdout)[0]


def device_ids(cid):
    reqs = inspect(cid)["HostConfig"]["DeviceRequests"] or []
    return [d for r in reqs for d in (r.get("DeviceIDs") or [])]


class DockerEngine(unittest.TestCase):
    def test_gpus_unquoted_is_split_at_the_comma(self):
        r = ENG.docker("create", "--network", "none", "--gpus", "device=0,1", ENG.image, "true",
                       check=False)
        if r.returncode == 0:
            cid = r.stdout.strip()
            self.assertEqual(device_ids(cid), ["0"])
            ENG.docker("rm", "-f", cid)
        else:
            self.assertIn("cannot set both Count and DeviceIDs", r.stderr)
        print(f"unquoted --gpus device=0,1: exit {r.returncode} {r.stderr.strip()}",
              file=sys.stderr)

    def test_gpus_quoted_gives_every_device(self):
        for n in (1, 2, 8):
            ids = list(range(8 - n, 8)) if n == 2 else list(range(n))
            arg = gpus_arg(ids)
            self.assertEqual(arg, '"device=' + ",".join(map(str, ids)) + '"')
            r = ENG.docker("create", "--network", "none", "--gpus", arg, ENG.image, "sh", "-c",
                           "echo $NVIDIA_VISIBLE_DEVICES")
            cid = r.stdout.strip()
            self.assertEqual(device_ids(cid), [str(i) for i in ids], f"{n} GPUs")
            # the runtime's hook is asked for exactly these devices
            out = ENG.docker("start", "-a", cid).stdout.strip()
            self.assertEqual(out, ",".join(map(str, ids)))
            with open(ENG.hook_log) as f:
                self.assertIn(f"id={cid} NVIDIA_VISIBLE_DEVICES={out}", f.read())
            ENG.docker("rm", "-f", cid)

    def test_options_read_from_an_execute_step_reach_the_container(self):
        r = subprocess.run([DUMP, STEP], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        got = json.loads(r.stdout)
        self.assertEqual(got["image"], ENG.image)
        self.assertEqual([o["name"] for o in got["drop"]], ["--pull", "--rm", "--gpus"])
        self.assertEqual(got["setup"], ["pip install -e . --no-deps --break-system-packages"])
        tmp = tempfile.mkdtemp(prefix="gpuci-dk-")
        self.addCleanup(shutil.rmtree, tmp, True)
        ws = os.path.join(tmp, "ws")
        for d in ("ws", "cache", "models"):
            os.makedirs(os.path.join(tmp, d))
        # what the executor does with them: $GITHUB_WORKSPACE is the checkout,
        # matrix values are the entry's, host paths exist
        matrix = {"TEST_FILE": "tests/test_x.py", "NUM_GPUS": "2"}
        args = []
        for o in got["keep"]:
            v = o["value"]
            if v is not None and o["expand"]:
                v = v.replace("$GITHUB_WORKSPACE", ws)
            if o.get("matrix"):
                v = f"{o['env_name']}={matrix[o['env_name']]}"
            if v is not None:
                v = v.replace("/mnt/ci", tmp)
            args += [o["name"]] if v is None else [o["name"], v]
        env = dict(ENG.env, http_proxy="http://proxy.invalid:3128", CI_COMMIT_NAME="abc")
        r = subprocess.run([ENG.cli, "create", *args, ENG.image, "true"], env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        cid = r.stdout.strip()
        self.addCleanup(ENG.docker, "rm", "-f", cid, check=False)
        i = inspect(cid)
        hc = i["HostConfig"]
        self.assertEqual(sorted(m["Destination"] for m in i["Mounts"]),
                         sorted([ws, "/data/cache", "/root/models", "/scratch"]))
        self.assertEqual(hc["Mounts"][0]["Target"], "/scratch")
        self.assertEqual(hc["Mounts"][0]["Type"], "tmpfs")
        self.assertEqual(hc["IpcMode"], "host")
        self.assertEqual(hc["NetworkMode"], "host")
        self.assertTrue(hc["Privileged"])
        self.assertEqual(hc["ShmSize"], 8 << 30)
        self.assertEqual({u["Name"]: u["Soft"] for u in hc["Ulimits"]},
                         {"memlock": -1, "stack": 67108864})
        self.assertEqual(hc["CapAdd"], ["SYS_NICE"])
        self.assertIn("seccomp=unconfined", hc["SecurityOpt"])  # --privileged adds label=disable
        names = {e.split("=", 1)[0]: e.split("=", 1)[1] for e in i["Config"]["Env"]}
        for k, v in {"http_proxy": "http://proxy.invalid:3128", "CI_COMMIT_NAME": "abc",
                     "TEST_FILE": "tests/test_x.py", "NUM_GPUS": "2", "MODE": "fast"}.items():
            self.assertEqual(names.get(k), v, k)
        self.assertEqual(i["Config"]["WorkingDir"], ws)
        # and the container starts with them: the workspace is mounted and cwd
        def start(args):
            return subprocess.run([ENG.cli, "run", "--rm", *args, ENG.image, "sh", "-c",
                                   "pwd; echo $NUM_GPUS; ls /root/models"], env=env,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        with open(os.path.join(tmp, "models", "m.bin"), "w"):
            pass
        r = start(args)
        if r.returncode != 0 and ("error setting rlimit type 8" in r.stderr
                                  or "unable to apply caps" in r.stderr):
            # a root without every capability (this VM lacks CAP_SYS_RESOURCE):
            # --privileged and memlock=-1 cannot start; everything else must
            print(f"without every capability: {r.stderr.strip()}", file=sys.stderr)
            k = args.index("memlock=-1")
            less = [a for a in args[:k - 1] + args[k + 1:] if a != "--privileged"]
            r = start(less)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.split(), [ws, "2", "m.bin"])

    def stop_time(self, *run_args):
        cid = ENG.docker("run", "-d", "--network", "none", *run_args).stdout.strip()
        self.addCleanup(ENG.docker, "rm", "-f", cid, check=False)
        deadline = time.monotonic() + 30
        while "ready" not in ENG.docker("logs", cid).stdout:
            self.assertLess(time.monotonic(), deadline, "container never ready")
            time.sleep(0.05)
        t0 = time.monotonic()
        ENG.docker("stop", "-t", "5", cid)
        took = time.monotonic() - t0
        return took, ENG.docker("logs", cid).stdout

    def test_init_lets_sigterm_reach_the_test(self):
        # the test's handler runs, under --init, with bash exec'ing it too
        took, logs = self.stop_time("--init", ENG.image, "python3", "-c", TRAP)
        self.assertLess(took, 3, logs)
        self.assertIn("handler: got SIGTERM", logs)
        took, logs = self.stop_time("--init", ENG.image, "bash", "-lc",
                                    'true; exec python3 -c "$0"', TRAP)
        self.assertLess(took, 3, logs)
        self.assertIn("handler: got SIGTERM", logs)
        # a shell as PID 1 ignores SIGTERM: docker waits the whole -t 5 and kills
        sleeper = ["sh", "-c", "echo ready; sleep 300; true"]
        took, _ = self.stop_time(ENG.image, *sleeper)
        self.assertGreater(took, 4.5)
        took, _ = self.stop_time("--init", ENG.image, *sleeper)
        self.assertLess(took, 3)
        TIMES["docker stop, --init"] = took

    def test_timings(self):
        for k in range(3):
            t0 = time.monotonic()
            ENG.docker("run", "--rm", "--network", "none", ENG.image, "true")
            TIMES[f"docker run --rm IMAGE true #{k + 1}"] = time.monotonic() - t0


TIMES = {}


def main():
    global DUMP, BUILD, ENG
    if len(sys.argv) < 3:
        print("usage: docker_engine_test.py DOCKERRUN_DUMP BUILD_DIR", file=sys.stderr)
        return 2
    DUMP, BUILD = sys.argv[1], sys.argv[2]
    del sys.argv[1:3]
    try:
        ENG = harness.Engine.start(BUILD)
    except harness.EngineUnavailable as e:
        print(f"SKIP: no private docker engine: {e}")
        return 77
    try:
        TIMES.update(ENG.timings)
        print(f"engine: {ENG.storage}, {ENG.sock}", file=sys.stderr)
        prog = unittest.main(exit=False, verbosity=2)
        ok = prog.result.wasSuccessful()
    finally:
        ENG.stop()
        procs, mounts, left = ENG.leftovers()
    for k, v in TIMES.items():
        print(f"time: {k}: {v:.2f} s", file=sys.stderr)
    if procs or mounts or left:
        print(f"left behind: processes {procs}, mounts {mounts}, folder {left}", file=sys.stderr)
        return 1
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
