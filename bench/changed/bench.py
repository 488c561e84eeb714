#!/usr/bin/python3
"""Benchmark of `gpuci changed` against the old detector's bash pipeline.

Run through bench/changed/run.sh.  Prints figures; asserts nothing.

Generates a repository of 5,000 test files (tests/test_*.py and
tests/plugin_contracts/test_*.py) and a PR branch that adds 250 and modifies
250 of them, with main moving on after the branch point; then times, as whole
processes, interleaved:

  gpuci:  gpuci changed --json --base main --head pr --max-jobs 500
  bash:   the `detect-changed-tests` step of examples/repo/.github/workflows/
          pr-test.yml.j2 (git diff --name-only --diff-filter=AM main...pr --
          PATTERNS, one `grep -m1 -oP` per file, JSON built by string
          concatenation, written to $GITHUB_OUTPUT), with origin/main...HEAD
          spelt main...pr

and checks that both list the same files.
"""
import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))

PATTERNS = ["tests/test_*.py", "tests/plugin_contracts/test_*.py"]

# The old detector, as the workflow step runs it (the template's values filled
# in: default 8 GPUs, the two patterns), reading the files of the checked-out
# PR branch. Its "detected ..." lines go to the job log, here /dev/null.
OLD_DETECTOR = r"""
set -euo pipefail
entries=""
while IFS= read -r f; do
  [ -n "$f" ] || continue
  n=$(grep -m1 -oP '^NUM_GPUS\s*=\s*\K[0-9]+' "$f" || true)
  n=${n:-8}
  echo "detected $f (NUM_GPUS=$n)"
  entries="$entries${entries:+,}{\"test_file\":\"${f#tests/}\",\"num_gpus\":$n}"
done < <(git diff --name-only --diff-filter=AM main...pr -- 'tests/test_*.py' 'tests/plugin_contracts/test_*.py')
if [ -n "$entries" ]; then has_tests=true; else has_tests=false; fi
echo "matrix={\"info\":[$entries]}" >> "$GITHUB_OUTPUT"
echo "has_tests=$has_tests" >> "$GITHUB_OUTPUT"
"""

GIT_ENV = dict(os.environ, GIT_CONFIG_GLOBAL="/dev/null", GIT_CONFIG_NOSYSTEM="1",
               GIT_AUTHOR_NAME="bench", GIT_AUTHOR_EMAIL="bench@example.com",
               GIT_COMMITTER_NAME="bench", GIT_COMMITTER_EMAIL="bench@example.com",
               LC_ALL="C")
for k in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE"):
    GIT_ENV.pop(k, None)

MODELS = ["qwen2p5_0p5B", "qwen3_4B", "qwen3_8B", "glm4_9B", "mimo_7B", "moonlight_16B_a3b",
          "qwen3_30B_A3B", "llama3_8B", "deepseek_v2_lite", "qwen3_235B_A22B"]


def git(cwd, *args):
    subprocess.run(["git", *args], cwd=cwd, env=GIT_ENV, check=True, stdout=subprocess.DEVNULL)


def test_source(i, gpus, trap, edit=0):
    """A test file of the usual shape: docstring, NUM_GPUS, prepare, execute, __main__."""
    doc = f'"""End-to-end test {i} of {MODELS[i % len(MODELS)]}.\n'
    if trap:
        # The docstring trap: grep takes this line, Python does not.
        doc += "\nNUM_GPUS = 1 was enough before the rework.\n"
    doc += '"""\n'
    body = [doc, "import os\n\nimport vime.utils.external_utils.command_utils as U\n\n",
            f"NUM_GPUS = {gpus}\n",
            f"MODEL_NAME = \"{MODELS[i % len(MODELS)]}\"\n\n\n",
            "def prepare():\n", "    U.exec_command(\"mkdir -p /root/models /root/datasets\")\n",
            f"    U.hf_download_dataset(\"zhuzilin/dapo-math-17k\")  # {i}\n\n\n",
            "def execute():\n", "    train_args = (\n"]
    for k in range(25):
        body.append(f"        \"--option-{k} {k * i % 97} \"\n")
    body += ["    )\n", f"    U.execute_train(train_args=train_args, num_gpus={gpus})"
             f"  # edit {edit}\n\n\n",
             "if __name__ == \"__main__\":\n", "    prepare()\n", "    execute()\n"]
    return "".join(body)


def write(root, rel, text):
    path = os.path.join(root, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)


def make_repo(root, nfiles, nadd, nmod, seed=1):
    """main with nfiles tests; pr adds nadd and modifies nmod; main then moves on."""
    rnd = random.Random(seed)
    git(root, "init", "-q", "-b", "main")
    paths = []
    for i in range(nfiles):
        rel = (f"tests/plugin_contracts/test_contract_{i:05d}.py" if i % 10 == 9
               else f"tests/test_{MODELS[i % len(MODELS)]}_{i:05d}.py")
        gpus = 0 if i % 10 == 9 else rnd.choice((1, 2, 4, 8))
        write(root, rel, test_source(i, gpus, trap=i % 50 == 7))
        paths.append((rel, i, gpus))
    write(root, "README.md", "bench\n")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "base")

    git(root, "checkout", "-q", "-b", "pr")
    for rel, i, gpus in rnd.sample(paths, nmod):
        write(root, rel, test_source(i, gpus, trap=i % 50 == 7, edit=1))
    for k in range(nadd):
        i = nfiles + k
        rel = (f"tests/plugin_contracts/test_contract_{i:05d}.py" if k % 10 == 9
               else f"tests/test_new_{MODELS[i % len(MODELS)]}_{i:05d}.py")
        write(root, rel, test_source(i, rnd.choice((1, 2, 4, 8)), trap=k % 50 == 7))
    write(root, "src/vime/change.py", "x = 1\n")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "pr")

    # main moves on: three dots must not see these.
    git(root, "checkout", "-q", "main")
    for rel, i, gpus in rnd.sample(paths, 50):
        write(root, rel, test_source(i, gpus, trap=False, edit=2))
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "main moves on")
    # The old detector reads the work tree: check out the PR, as CI does.
    git(root, "checkout", "-q", "pr")
    git(root, "gc", "-q")  # a packed repository, like a fresh clone


def spawn_time(argv, cwd, env, out_path, err_path):
    """Wall time in ms of one whole process, and its exit status."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
    actions = [(os.POSIX_SPAWN_OPEN, 1, out_path, flags, 0o644),
               (os.POSIX_SPAWN_OPEN, 2, err_path, flags, 0o644)]
    old = os.getcwd()
    os.chdir(cwd)
    try:
        t0 = time.perf_counter()
        pid = os.posix_spawn(argv[0], argv, env, file_actions=actions)
        _, status = os.waitpid(pid, 0)
        t1 = time.perf_counter()
    finally:
        os.chdir(old)
    return (t1 - t0) * 1000.0, os.waitstatus_to_exitcode(status)


def med(v):
    return statistics.median(v) if v else None


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("gpuci")
    ap.add_argument("--quick", action="store_true", help="5 runs each instead of 15")
    ap.add_argument("--keep", action="store_true", help="keep the generated repository")
    ap.add_argument("--files", type=int, default=5000)
    ap.add_argument("--changed", type=int, default=500)
    opts = ap.parse_args()
    gpuci = os.path.abspath(opts.gpuci)
    runs = 5 if opts.quick else 15
    bash = shutil.which("bash")

    tmp = tempfile.mkdtemp(prefix="gpuci-changed-bench.")
    try:
        repo = os.path.join(tmp, "repo")
        os.mkdir(repo)
        t0 = time.perf_counter()
        make_repo(repo, opts.files, opts.changed // 2, opts.changed - opts.changed // 2)
        setup_s = time.perf_counter() - t0
        script = os.path.join(tmp, "old_detector.sh")
        with open(script, "w") as f:
            f.write(OLD_DETECTOR)
        gh_out = os.path.join(tmp, "github_output")
        env = dict(GIT_ENV, GITHUB_OUTPUT=gh_out)
        # 500 tests is past GitHub's 256-job matrix (the old step would have
        # failed in the run job); --max-jobs lets gpuci list them all.
        g_argv = [gpuci, "changed", "--json", "--base", "main", "--head", "pr",
                  "--max-jobs", str(max(256, opts.changed))]
        b_argv = [bash, script]
        g_out, g_err = os.path.join(tmp, "g.out"), os.path.join(tmp, "g.err")
        b_out, b_err = os.path.join(tmp, "b.out"), os.path.join(tmp, "b.err")

        # Untimed first runs: warm the page cache, keep the outputs to compare.
        _, grc = spawn_time(g_argv, repo, env, g_out, g_err)
        _, brc = spawn_time(b_argv, repo, env, b_out, b_err)
        floor = sorted(spawn_time(["/bin/true"], repo, env, os.devnull, os.devnull)[0]
                       for _ in range(20))

        print(f"gpuci:  {' '.join(g_argv)}")
        print("bash:   the detect-changed-tests step of pr-test.yml.j2 "
              "(git diff --diff-filter=AM + grep -m1 -oP per file)")
        print(f"repo:   {opts.files} test files on main, the PR adds {opts.changed // 2} and "
              f"modifies {opts.changed - opts.changed // 2}; main moves on after the branch "
              f"point; packed (built in {setup_s:.1f} s)")
        print(f"timing: whole process, spawn to exit, output to /dev/null; median of {runs} "
              f"interleaved runs; spawn floor (/bin/true) {statistics.median(floor):.2f} ms")
        load = os.getloadavg()[0]
        print(f"load average {load:.2f} on {os.cpu_count()} CPUs"
              + (" (busy: figures will be inflated)" if load > 0.5 else ""))
        print()

        if grc != 0 or brc != 0:
            for name, rc, err in (("gpuci", grc, g_err), ("bash", brc, b_err)):
                if rc != 0:
                    with open(err, errors="replace") as f:
                        print(f"{name} failed (exit {rc}): {f.read().strip()[:500]}")
            return 1
        with open(g_out) as f:
            g_matrix = json.load(f)["info"]
        with open(gh_out) as f:
            line = next(l for l in f if l.startswith("matrix="))
        b_matrix = json.loads(line[len("matrix="):])["info"]

        g_times, b_times = [], []
        for _ in range(runs):
            ms, rc = spawn_time(g_argv, repo, env, os.devnull, os.devnull)
            if rc == 0:
                g_times.append(ms)
            os.remove(gh_out)
            ms, rc = spawn_time(b_argv, repo, env, os.devnull, os.devnull)
            if rc == 0:
                b_times.append(ms)

        g, b = med(g_times), med(b_times)
        hdr = f"{'detector':<10} {'tests':>6} {'median ms':>10} {'min ms':>8} {'max ms':>8}"
        print(hdr)
        print("-" * len(hdr))
        for name, n, v in (("gpuci", len(g_matrix), g_times), ("bash", len(b_matrix), b_times)):
            print(f"{name:<10} {n:>6} {med(v):>10.1f} {min(v):>8.1f} {max(v):>8.1f}")
        print()
        print(f"bash / gpuci: {b / g:.1f}x")

        # The old detector drops the tests/ prefix; gpuci gives paths as git does.
        g_files = [e["test_file"] for e in g_matrix]
        b_files = ["tests/" + e["test_file"] for e in b_matrix]
        print()
        if g_files == b_files:
            print(f"file lists: the same ({len(g_files)} files, same order)")
        else:
            only_g = sorted(set(g_files) - set(b_files))
            only_b = sorted(set(b_files) - set(g_files))
            print(f"file lists: DIFFER: {len(only_g)} only in gpuci, {len(only_b)} only in bash"
                  + ("" if only_g or only_b else " (same files, different order)"))
            for p in (only_g + only_b)[:10]:
                print(f"    {p}")
        # NUM_GPUS: grep takes the first column-0 match, docstrings included.
        g_gpus = {e["test_file"]: e["num_gpus"] for e in g_matrix}
        diff = [p for p, e in zip(b_files, b_matrix) if g_gpus.get(p) != e["num_gpus"]]
        traps = set()
        for p in b_files:
            with open(os.path.join(repo, p)) as f:  # the work tree holds pr
                if "\nNUM_GPUS = 1 was" in f.read():
                    traps.add(p)
        others = [p for p in diff if p not in traps]
        print(f"NUM_GPUS: {len(b_files) - len(diff)} the same, {len(diff)} differ; "
              f"{len(traps)} changed files hold a column-0 'NUM_GPUS = 1' line in their "
              f"docstring, which grep reads and Python does not")
        if others:
            print(f"    !! {len(others)} differ elsewhere, e.g. {others[:3]}")
        if opts.keep:
            print(f"repository kept in {repo}")
    finally:
        if not opts.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
