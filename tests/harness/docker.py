"""A private Docker engine for the end-to-end tests (issue 14).

    from docker import Engine, EngineUnavailable
    eng = Engine.start(build_dir)      # raises EngineUnavailable(reason)
    eng.docker("run", "--rm", eng.image, "true")
    eng.stop()                         # no container, mount or process left

Debian's docker.io (dockerd 20.10 + containerd + runc) started by hand with
everything under BUILD/docker/: the socket, the pidfile, the exec root, the
data root, its log and a fake `nvidia-container-runtime-hook` on dockerd's
PATH, so that dockerd registers its "nvidia" device driver and `--gpus`
behaves as on a GPU host (the request reaches the OCI hook, which logs the
NVIDIA_VISIBLE_DEVICES it was given to BUILD/docker/fake-nvidia-hook.log,
and maps no device). No bridge, no iptables: containers use
`--network none` or `--network host`. The default socket is never touched:
every docker command gets DOCKER_HOST from Engine.env.

overlay2, or vfs where overlay2 cannot mount on the build tree's file system.
The image (IMAGE, below) is a minbase bookworm with python3, pip and git made
once with debootstrap into BUILD/docker-cache/rootfs.tar ($GPUCI_DOCKER_CACHE
to share it between build trees), kept across runs (BUILD/docker/ is not), and `docker import`ed at each start.

Engine.start raises EngineUnavailable, for the caller to skip with, when it
cannot work here: not root, docker.io or debootstrap not installed, no
access to the Debian archive, dockerd not starting. Also a command line:
`python3 docker.py up BUILD` (prints the export line) / `down BUILD`.
"""

import glob
import os
import re
import shutil
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from debian import debian_mirror  # noqa: E402  (tests/harness/debian.py)
from procs import alive as _alive, cmdline as _cmdline, kill_tree as _kill_tree  # noqa: E402

IMAGE = "gpuci-test/bookworm:1"
PACKAGES = "python3,python3-pip,python-is-python3,git"

HOOK = r"""#!/bin/sh
# fake NVIDIA OCI prestart hook: runc gives the state JSON on stdin; log, allow
state=$(cat)
b=$(printf '%s' "$state" | sed -n 's/.*"bundle":"\([^"]*\)".*/\1/p')
id=$(printf '%s' "$state" | sed -n 's/.*"id":"\([^"]*\)".*/\1/p')
nvd=$(grep -o '"NVIDIA_VISIBLE_DEVICES=[^"]*"' "$b/config.json" 2>/dev/null | tr -d '"')
echo "$1 id=$id $nvd" >> "@LOG@"
exit 0
"""


class EngineUnavailable(Exception):
    """The reason a private engine cannot run on this machine."""


def docker_cli():
    """Debian's docker CLI (20.10, the engine's own version), else any on PATH."""
    if os.access("/usr/bin/docker", os.X_OK):
        return "/usr/bin/docker"
    return shutil.which("docker")


def rootfs_tar(build):
    """The cached image root: BUILD/docker-cache/rootfs.tar (or $GPUCI_DOCKER_CACHE/,
    to share one between build trees), made once.

    Returns (path, seconds spent building it: 0 when cached)."""
    cache = os.environ.get("GPUCI_DOCKER_CACHE") or os.path.join(os.path.abspath(build),
                                                                   "docker-cache")
    tar = os.path.join(cache, "rootfs.tar")
    if os.path.isfile(tar) and os.path.getsize(tar) > 0:
        return tar, 0.0
    if not shutil.which("debootstrap"):
        raise EngineUnavailable("no debootstrap to make the test image: "
                                "apt-get install -y debootstrap")
    os.makedirs(cache, exist_ok=True)
    root = os.path.join(cache, "root.new")
    shutil.rmtree(root, ignore_errors=True)
    t0 = time.monotonic()
    r = subprocess.run(["debootstrap", "--variant=minbase", "--include=" + PACKAGES,
                        "bookworm", root, debian_mirror()],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                       timeout=1200)
    if r.returncode != 0:
        shutil.rmtree(root, ignore_errors=True)
        last = r.stdout.strip().splitlines()[-1:] if r.stdout else []
        raise EngineUnavailable("debootstrap could not make the test image (no access to "
                                f"the Debian archive?): {last}")
    for pat in ("var/cache/apt/archives/*.deb", "var/lib/apt/lists/*_*", "usr/share/doc/*",
                "usr/share/locale/*", "usr/lib/python3*/EXTERNALLY-MANAGED"):
        for p in glob.glob(os.path.join(root, pat)):
            if os.path.isdir(p) and not os.path.islink(p):
                shutil.rmtree(p, ignore_errors=True)
            else:
                os.unlink(p)
    subprocess.run(["tar", "-C", root, "-cf", tar + ".tmp", "."], check=True)
    os.rename(tar + ".tmp", tar)
    shutil.rmtree(root, ignore_errors=True)
    return tar, time.monotonic() - t0


class Engine:
    def __init__(self, build):
        self.build = os.path.abspath(build)
        self.dir = os.path.join(self.build, "docker")
        self.sock = os.path.join(self.dir, "docker.sock")
        self.pidfile = os.path.join(self.dir, "docker.pid")
        self.hook_log = os.path.join(self.dir, "fake-nvidia-hook.log")
        self.cli = docker_cli()
        self.env = dict(os.environ, DOCKER_HOST="unix://" + self.sock)
        self.image = IMAGE
        self.storage = None
        self.proc = None
        self.timings = {}

    # -- running the CLI against this engine
    def docker(self, *args, check=True, timeout=120, **kw):
        r = subprocess.run([self.cli, *args], env=self.env, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, timeout=timeout, **kw)
        if check and r.returncode != 0:
            raise AssertionError(f"docker {' '.join(args)}: exit {r.returncode}: {r.stderr}")
        return r

    def _up(self):
        try:
            return self.docker("version", check=False, timeout=5).returncode == 0
        except subprocess.TimeoutExpired:
            return False

    def _ours(self, pid):
        return _alive(pid) and (self.dir + "/") in _cmdline(pid)

    @classmethod
    def start(cls, build):
        """Starts a private engine with IMAGE imported; EngineUnavailable if it cannot."""
        if os.geteuid() != 0:
            raise EngineUnavailable("not root: dockerd needs root")
        if not shutil.which("dockerd") and not os.access("/usr/sbin/dockerd", os.X_OK):
            raise EngineUnavailable("no dockerd: apt-get install -y docker.io")
        eng = cls(build)
        if not eng.cli:
            raise EngineUnavailable("no docker CLI: apt-get install -y docker.io")
        if len(eng.sock) > 100:
            raise EngineUnavailable(f"socket path too long for a unix socket: {eng.sock}")
        tar, built = rootfs_tar(build)
        eng.timings["image_build_s"] = built
        eng.stop()  # what a crashed earlier run left
        t0 = time.monotonic()
        why = ""
        for storage in ("overlay2", "vfs"):
            why = eng._start_dockerd(storage)
            if not why:
                break
        else:
            eng.stop()
            raise EngineUnavailable(f"dockerd did not start: {why}")
        eng.timings["engine_start_s"] = time.monotonic() - t0
        t0 = time.monotonic()
        r = eng.docker("import", tar, eng.image, check=False, timeout=600)
        if r.returncode != 0:
            eng.stop()
            raise EngineUnavailable(f"docker import failed: {r.stderr.strip()}")
        eng.timings["image_import_s"] = time.monotonic() - t0
        return eng

    def _start_dockerd(self, storage):
        """Starts dockerd with this storage driver; '' when up, else why not."""
        os.makedirs(os.path.join(self.dir, "bin"), exist_ok=True)
        with open(os.path.join(self.dir, "daemon.json"), "w") as f:
            f.write("{}\n")  # not /etc/docker/daemon.json
        hook = os.path.join(self.dir, "bin", "nvidia-container-runtime-hook")
        with open(hook, "w") as f:
            f.write(HOOK.replace("@LOG@", self.hook_log))
        os.chmod(hook, 0o755)
        env = dict(os.environ)
        env.pop("DOCKER_HOST", None)
        env["PATH"] = os.path.join(self.dir, "bin") + ":" + env.get(
            "PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        log = open(os.path.join(self.dir, "dockerd.log"), "w")
        self.proc = subprocess.Popen(
            ["dockerd", "--config-file", os.path.join(self.dir, "daemon.json"),
             "-H", "unix://" + self.sock, "--exec-root", os.path.join(self.dir, "exec"),
             "--data-root", os.path.join(self.dir, "data"), "--pidfile", self.pidfile,
             "--iptables=false", "--ip6tables=false", "--bridge=none",
             "--storage-driver=" + storage],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env,
            start_new_session=True)
        log.close()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self._up():
                self.storage = storage
                return ""
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        with open(os.path.join(self.dir, "dockerd.log")) as f:
            tail = " | ".join(f.read().strip().splitlines()[-3:])
        self.stop()
        return f"{storage}: {tail}"

    def stop(self):
        """Removes every container, stops dockerd and what it started, unmounts, deletes."""
        if not os.path.isdir(self.dir):
            return
        if self._up():
            ids = self.docker("ps", "-aq", check=False).stdout.split()
            if ids:
                self.docker("rm", "-f", *ids, check=False)
        pid = None
        try:
            with open(self.pidfile) as f:
                pid = int(f.read().strip() or 0) or None
        except (OSError, ValueError):
            pass
        if pid is None and self.proc is not None:
            pid = self.proc.pid
        if pid and self._ours(pid):
            os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + 15
            while self._ours(pid) and time.monotonic() < deadline:
                time.sleep(0.05)
            if self._ours(pid):
                _kill_tree(pid)
        if self.proc is not None:
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
            self.proc = None
        # after a dockerd crash: containerd and shims naming our folder, and the
        # container processes under each shim (they outlive it otherwise)
        for p in os.listdir("/proc"):
            if p.isdigit() and "containerd" in _cmdline(int(p)) and self._ours(int(p)):
                _kill_tree(int(p))
        with open("/proc/mounts") as f:
            mounts = [ln.split()[1] for ln in f]
        for m in sorted((m for m in mounts if m.startswith(self.dir + "/")), reverse=True):
            if subprocess.run(["umount", m], stderr=subprocess.DEVNULL).returncode != 0:
                subprocess.run(["umount", "-l", m], stderr=subprocess.DEVNULL)
        shutil.rmtree(self.dir, ignore_errors=True)

    def leftovers(self):
        """What stop() should have left none of: processes naming our folder, mounts."""
        procs = [int(p) for p in os.listdir("/proc")
                 if p.isdigit() and self._ours(int(p))]
        with open("/proc/mounts") as f:
            mounts = [ln.split()[1] for ln in f if ln.split()[1].startswith(self.dir + "/")]
        return procs, mounts, os.path.exists(self.dir)


def run_tests(name, use):
    """The main() of a test file against a private engine: argv is NAME GPUCI
    BUILD_DIR [unittest args]; starts the engine under BUILD_DIR (exit 77 with
    the reason where it cannot), calls use(gpuci, build, engine), runs the
    file's unittest cases, stops the engine, and fails when it left anything."""
    import unittest
    if len(sys.argv) < 3:
        print(f"usage: {name} GPUCI BUILD_DIR", file=sys.stderr)
        return 2
    gpuci, build = os.path.abspath(sys.argv[1]), sys.argv[2]
    del sys.argv[1:3]
    try:
        eng = Engine.start(build)
    except EngineUnavailable as e:
        print(f"SKIP: no private docker engine: {e}")
        return 77
    use(gpuci, build, eng)
    try:
        prog = unittest.main(module="__main__", exit=False, verbosity=2)
        ok = prog.result.wasSuccessful()
    finally:
        eng.stop()
        procs, mounts, left = eng.leftovers()
    if procs or mounts or left:
        print(f"left behind: processes {procs}, mounts {mounts}, folder {left}", file=sys.stderr)
        return 1
    return 0 if ok else 1


def main(argv):
    if len(argv) != 3 or argv[1] not in ("up", "down", "image"):
        print("usage: docker.py up|down|image BUILD", file=sys.stderr)
        return 2
    if argv[1] == "image":
        tar, s = rootfs_tar(argv[2])
        print(f"{tar} ({s:.1f} s)")
        return 0
    if argv[1] == "down":
        Engine(argv[2]).stop()
        return 0
    try:
        eng = Engine.start(argv[2])
    except EngineUnavailable as e:
        print(f"docker.py: {e}", file=sys.stderr)
        return 77
    print(f"export DOCKER_HOST=unix://{eng.sock}  # {eng.storage} {eng.timings}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
