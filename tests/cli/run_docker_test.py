#!/usr/bin/env python3
"""`gpuci run --docker job` against a real, private engine (issue 14, item 2).

    run_docker_test.py GPUCI BUILD_DIR

A small repository whose job has no container: but an Execute step shaped
like slime's (modelled on tests/docker/fixtures/execute-step.sh, without
--privileged and --ulimit memlock=-1, which a root lacking capabilities
cannot start). gpuci reads the step's image, options and setup, and runs
tests of 1, 2 and 8 GPUs on 8 simulated GPUs (a temporary
--lock-path-pattern) in the engine tests/harness/docker.py starts under
BUILD_DIR/docker/. Each test records, from inside its container, what the
runtime's hook was asked for (NVIDIA_VISIBLE_DEVICES); that must be the GPUs
its lease holds (the JUnit report's gpus property). After the run no
container is left. Exits 77 (skipped) with the reason where the engine
cannot start.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "harness"))
import docker as harness  # noqa: E402  (tests/harness/docker.py)

GPUCI = None
BUILD = None
ENG = None

WORKFLOW = """\
name: pr
on: {pull_request: {}, workflow_dispatch: {}}
jobs:
  gpu:
    runs-on: gpu
    strategy:
      fail-fast: false
      matrix:
        info:
          - {test_file: test_one.py, num_gpus: 1}
          - {test_file: test_two.py, num_gpus: 2}
          - {test_file: test_eight.py, num_gpus: 8}
    steps:
      - uses: actions/checkout@v4
      - name: Execute
        run: |
          docker run --pull=always --rm \\
            --network host \\
            --gpus all \\
            --ipc=host \\
            --shm-size=1g \\
            --ulimit stack=67108864 \\
            -e TEST_FILE="${{ matrix.info.test_file }}" \\
            -e NUM_GPUS="${{ matrix.info.num_gpus }}" \\
            -e MODE=fast \\
            -v "$GITHUB_WORKSPACE:$GITHUB_WORKSPACE" \\
            -v "$GITHUB_WORKSPACE/out:/out" \\
            -w "$GITHUB_WORKSPACE" \\
            @IMAGE@ \\
            bash -lc '
              set -euo pipefail
              echo ran >> /out/setup.log
              python "tests/$TEST_FILE"
            '
"""

TEST = """\
import json, os, sys
name = os.path.basename(sys.argv[0])
with open(os.path.join("/out", name + ".json"), "w") as f:
    json.dump({"nvidia": os.environ.get("NVIDIA_VISIBLE_DEVICES"),
               "mode": os.environ.get("MODE"), "cwd": os.getcwd()}, f)
"""


class RunDocker(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="gpuci-run-docker.")
        self.addCleanup(shutil.rmtree, self.tmp, ignore_errors=True)
        self.root = os.path.realpath(os.path.join(self.tmp, "repo"))
        os.makedirs(os.path.join(self.root, ".github", "workflows"))
        os.makedirs(os.path.join(self.root, "tests"))
        os.makedirs(os.path.join(self.root, "out"))
        self.workflow = os.path.join(self.root, ".github", "workflows", "pr.yml")
        with open(self.workflow, "w") as f:
            f.write(WORKFLOW.replace("@IMAGE@", ENG.image))
        for t in ("test_one.py", "test_two.py", "test_eight.py"):
            with open(os.path.join(self.root, "tests", t), "w") as f:
                f.write(TEST)
        subprocess.run(["git", "init", "-q", self.root], check=True)
        subprocess.run(["git", "-C", self.root, "add", "."], check=True)
        subprocess.run(["git", "-C", self.root, "-c", "user.name=t", "-c", "user.email=t@t",
                        "commit", "-qm", "init"], check=True)
        locks = os.path.join(self.tmp, "locks")
        os.mkdir(locks)
        self.pattern = os.path.join(locks, "gpu_{gpu_id}.lock")
        self.env = dict(ENG.env)
        self.env["PATH"] = os.path.dirname(ENG.cli) + os.pathsep + self.env.get("PATH", "")
        for k in list(self.env):
            if k.startswith("GITHUB_"):
                del self.env[k]

    def run_gpuci(self, *args):
        argv = [GPUCI, "run", "--workflow", self.workflow, "--gpus", "8", "--lock-path-pattern",
                self.pattern, "--history", os.path.join(self.tmp, "history.db"),
                "--kill-after", "2", "--all", "--docker", "job", *args]
        return subprocess.run(argv, capture_output=True, text=True, env=self.env, cwd=self.root,
                              timeout=600)

    def test_dry_run_shows_the_image_and_options_and_their_places(self):
        r = self.run_gpuci("--dry-run")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        wf = self.workflow
        self.assertRegex(r.stdout, r"image %s  \(%s:29:13\)" % (re.escape(ENG.image),
                                                                re.escape(wf)))
        self.assertIn("option --network=host  (%s:18:13)" % wf, r.stdout)
        self.assertIn("option --ipc=host  (%s:20:13)" % wf, r.stdout)
        self.assertIn("option --env=MODE=fast  (%s:25:13)" % wf, r.stdout)
        self.assertIn("option --volume=%s/out:/out  (%s:27:13)" % (self.root, wf), r.stdout)
        self.assertIn("setup echo ran >> /out/setup.log", r.stdout)
        # dropped or left to gpuci: --pull, --rm, --gpus all, the matrix -e, the workspace
        self.assertNotIn("--pull", r.stdout)
        self.assertNotIn("TEST_FILE", r.stdout)
        self.assertNotIn("--volume=%s:%s" % (self.root, self.root), r.stdout)
        # a value gpuci cannot know: refused, the dry run says where and why
        bad = os.path.join(self.root, ".github", "workflows", "bad.yml")
        with open(bad, "w") as f:
            f.write(WORKFLOW.replace("@IMAGE@", ENG.image)
                    .replace("-e MODE=fast", '-v "$HOME/x:/x"'))
        r = subprocess.run([GPUCI, "run", "--workflow", bad, "--gpus", "8",
                            "--lock-path-pattern", self.pattern, "--all", "--docker", "job",
                            "--dry-run"], capture_output=True, text=True, env=self.env,
                           cwd=self.root, timeout=60)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(r.stdout.count("(refused)"), 3, r.stdout)
        self.assertIn("refused: --docker job: %s:25:13: $HOME/x:/x: a shell expansion that "
                      "gpuci cannot know before the run" % bad, r.stdout)

    def test_each_container_sees_exactly_its_leased_gpus(self):
        junit = os.path.join(self.tmp, "junit.xml")
        r = self.run_gpuci("--junit", junit)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        with open(junit) as f:
            xml = f.read()
        leased = dict(re.findall(r'<testcase[^>]*name="(test_\w+\.py)[^"]*"[^>]*>\s*'
                                 r'<properties>\s*<property name="gpus" value="([\d,]+)"', xml))
        self.assertEqual(sorted(leased), ["test_eight.py", "test_one.py", "test_two.py"], xml)
        for t, n in (("test_one.py", 1), ("test_two.py", 2), ("test_eight.py", 8)):
            with open(os.path.join(self.root, "out", t + ".json")) as f:
                got = json.load(f)
            self.assertEqual(got["nvidia"], leased[t], t)
            self.assertEqual(len(got["nvidia"].split(",")), n, t)
            self.assertEqual(got["mode"], "fast")
            self.assertEqual(got["cwd"], self.root)
        self.assertEqual(leased["test_eight.py"], "0,1,2,3,4,5,6,7")
        # the run's report (its last line): a bar per test, on the GPUs its container had
        last = r.stdout.rstrip("\n").split("\n")[-1]
        self.assertTrue(last.startswith("report: "), last)
        with open(last[len("report: "):]) as f:
            page = f.read()
        self.assertEqual(sorted(re.findall(r'<g class="attempt"[^>]* data-gpus="([\d,]*)"', page)),
                         sorted(leased.values()))
        # the Execute step's setup ran once before each test
        with open(os.path.join(self.root, "out", "setup.log")) as f:
            self.assertEqual(f.read().split(), ["ran"] * 3)
        # no container is left, nor the id files docker wrote (--cidfile, in the run's folder)
        self.assertEqual(ENG.docker("ps", "-aq").stdout.strip(), "")
        runs = os.path.join(self.root, ".gpuci", "runs")
        self.assertEqual(len(os.listdir(runs)), 1)
        self.assertEqual([f for d in os.listdir(runs) for f in os.listdir(os.path.join(runs, d))
                          if f.endswith(".cid")], [])

    def test_a_timeout_reaches_the_test_itself(self):
        # SIGTERM: gpuci -> the docker client -> tini (--init) -> the test (bash exec'd it)
        with open(os.path.join(self.root, "tests", "test_one.py"), "w") as f:
            f.write("import signal, sys, time\n"
                    "def term(*_):\n"
                    "    open('/out/term.txt', 'w').write('TERM')\n"
                    "    sys.exit(3)\n"
                    "signal.signal(signal.SIGTERM, term)\n"
                    "open('/out/ready.txt', 'w').write('ready')\n"
                    "time.sleep(120)\n")
        r = self.run_gpuci("--test", "test_one.py", "--timeout", "4", "--docker-setup", "")
        self.assertNotEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertRegex(r.stdout, r"timeout\s+gpu\s+test_one.py")
        self.assertTrue(os.path.exists(os.path.join(self.root, "out", "ready.txt")), r.stdout)
        with open(os.path.join(self.root, "out", "term.txt")) as f:
            self.assertEqual(f.read(), "TERM")
        self.assertEqual(ENG.docker("ps", "-aq").stdout.strip(), "")

    def test_docker_setup_empty_runs_no_setup(self):
        r = self.run_gpuci("--docker-setup", "", "--test", "test_one.py")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertFalse(os.path.exists(os.path.join(self.root, "out", "setup.log")))
        self.assertTrue(os.path.exists(os.path.join(self.root, "out", "test_one.py.json")))
        self.assertEqual(ENG.docker("ps", "-aq").stdout.strip(), "")


def use(gpuci, build, eng):
    global GPUCI, BUILD, ENG
    GPUCI, BUILD, ENG = gpuci, build, eng


def main():
    return harness.run_tests("run_docker_test.py", use)


if __name__ == "__main__":
    sys.exit(main())
