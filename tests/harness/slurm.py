"""A private one-node Slurm cluster for the end-to-end tests and benchmarks.

    from slurm import Cluster, ClusterUnavailable
    c = Cluster.start(build_dir, gpus=8, cpus=32)  # raises ClusterUnavailable(reason)
    subprocess.run(["sbatch", "--parsable", "--wrap", "true"], env=c.env)
    c.stop()                                        # no job, process or folder left

Debian's Slurm 22.05 (slurmctld, slurmd, slurm-client) and munge started by
hand as root, none of them under systemd, everything in a private folder
BUILD/slurm/c.XXXXXX/ (made at start, removed by stop): slurm.conf and
gres.conf, state, spool, logs, pid files, munged's key and socket, and the
fake GPUs, dev/gpu0..N-1 (mknod c 1 3, copies of /dev/null; symlinks to
/dev/null where mknod is refused). gres/gpu only sets CUDA_VISIBLE_DEVICES for
File= entries that are character or block devices.

Two clusters can run side by side (and beside other work on this machine):
the folder is unique and the two ports (slurmctld, slurmd) are picked free at
start. Loopback only: CommunicationParameters=NoCtldInAddrAny,NoInAddrAny
binds every socket (slurmctld, slurmd, each srun) to what the hostname
resolves to, so start() refuses when that is not 127.x. Accounting is off (no
slurmdbd): `sacct` fails, the state of an ended job comes from `scontrol show
job`, which keeps it for MinJobAge seconds (min_job_age, 300 by default as in
Slurm). KillWait=2 (SIGTERM to SIGKILL), advertised CPUs beyond the real ones
(SlurmdParameters=config_overrides) so that GPUs, not the machine's cores,
limit how many jobs run at once. fast=True (the default) sets FAST below as
SchedulerParameters, so that a batch job starts within a second of sbatch.
An ended job stays visible (`scontrol show job`, `squeue -t all`) for
MinJobAge seconds and up to about 30 s more (measured: 5 -> 9 s, 30 -> 59 s);
time limits are checked every 30 s from slurmctld's start.

Clients find the cluster through Cluster.env: SLURM_CONF set, every other
SLURM_*, SBATCH_*, SALLOC_* and SQUEUE_* variable unset (with SLURM_JOB_ID or
SLURM_JOBID set, srun would make a step in that job). Authentication is munge
with a private munged and key; auth/none (any local user may claim any uid:
tolerable on a loopback-only CI machine) where munged is missing or does not
start, said in Cluster.auth_note.
Also a command line: `python3 slurm.py up DIR` (starts a cluster in DIR,
prints the export line) / `down DIR` / `status DIR`.

Cluster.start raises ClusterUnavailable, for the caller to skip with, when it
cannot work here: not root, packages missing, the hostname not loopback, a
daemon that does not start (with its log's tail).
"""

import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from procs import alive as _alive, comm as _comm, kill_tree as _kill_tree  # noqa: E402
from procs import read0 as _read0  # noqa: E402

PACKAGES = "slurmctld slurmd slurm-client munge"
NODE = "node0"
MARK = ".gpuci-slurm"
# Batch jobs start on slurmctld's scheduling passes. Measured here (Slurm 22.05.8),
# sbatch to RUNNING on an idle cluster: by default 2.9 s for the first job after
# start and 2.5 s for later ones; with batch_sched_delay=0 (default 3 s) 2.9 s
# and 0.5 s; with bf_interval=1 too (default 30 s) 0.9 s and 0-1 s (the next
# backfill pass, 0.5 s on average). sched_min_interval=0 changed nothing
# measurable; neither did any of them change the ~1.0 s from a job's end to
# the start of a job pending behind it.
FAST = "batch_sched_delay=0,bf_interval=1"


class ClusterUnavailable(Exception):
    """The reason a private cluster cannot run on this machine."""


def _pids():
    return [int(p) for p in os.listdir("/proc") if p.isdigit()]


def _free_ports(n):
    """N distinct TCP ports free on 127.0.0.1 now, chosen by the kernel."""
    socks, ports = [], []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
            ports.append(s.getsockname()[1])
    finally:
        for s in socks:
            s.close()
    return ports


def _hostname_ip():
    """What the hostname resolves to, as Slurm's getaddrinfo(AI_ADDRCONFIG) sees it."""
    host = socket.gethostname()
    try:
        infos = socket.getaddrinfo(host, None, socket.AF_UNSPEC, socket.SOCK_STREAM, 0,
                                   socket.AI_ADDRCONFIG)
    except socket.gaierror as e:
        return host, [], str(e)
    return host, sorted({i[4][0] for i in infos}), ""


def _tail(path, n=6):
    try:
        with open(path, errors="replace") as f:
            return " | ".join(f.read().strip().splitlines()[-n:])
    except OSError:
        return "(no log)"


class Cluster:
    def __init__(self, path):
        self.dir = os.path.abspath(path)
        self.conf = os.path.join(self.dir, "slurm.conf")
        self.node = NODE
        self.gpus = 0
        self.cpus = 0
        self.ports = ()
        self.auth = ""
        self.auth_note = ""   # why auth/none, when it is
        self.devices = ""     # "mknod" or "symlink"
        self.min_job_age = 0
        self.procs = {}
        self.timings = {}
        env = dict(os.environ, SLURM_CONF=self.conf)
        for k in [k for k in env if k.startswith(("SLURM_", "SBATCH_", "SALLOC_", "SQUEUE_"))]:
            if k != "SLURM_CONF":
                del env[k]
        self.env = env

    # -- files and processes of this cluster
    def _p(self, *parts):
        return os.path.join(self.dir, *parts)

    def _ours(self, pid):
        """PID alive and naming our folder in its command line or environment."""
        if not _alive(pid):
            return False
        mark = self.dir + "/"
        return any(mark in a for a in _read0(pid, "cmdline")) or \
            ("SLURM_CONF=" + self.conf) in _read0(pid, "environ")

    def _pidfile(self, name):
        try:
            with open(self._p("run", name + ".pid")) as f:
                return int(f.read().strip() or 0) or None
        except (OSError, ValueError):
            return None

    def _daemon_pids(self):
        return {n: self._pidfile(n) for n in ("munged", "slurmctld", "slurmd")}

    def run(self, *args, check=True, timeout=30, **kw):
        """Runs a Slurm client (sbatch, squeue, scontrol…) against this cluster
        (env=: another environment, which must name SLURM_CONF itself)."""
        kw.setdefault("env", self.env)
        r = subprocess.run(list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True, timeout=timeout, stdin=subprocess.DEVNULL, **kw)
        if check and r.returncode != 0:
            raise AssertionError(f"{' '.join(args)}: exit {r.returncode}: {r.stderr.strip()}")
        return r

    def sbatch(self, *args, **kw):
        """Submits a batch job (sbatch --parsable ARGS…); returns its id."""
        return self.run("sbatch", "--parsable", *args, **kw).stdout.strip().split(";")[0]

    def job(self, jobid):
        """`scontrol -d -o show job ID` as a dict ({} once the job is gone); the last
        of repeated keys wins, and values with spaces (JobName…) come back cut."""
        r = self.run("scontrol", "-d", "-o", "show", "job", str(jobid), check=False)
        if r.returncode != 0:
            return {}
        return dict(kv.partition("=")[::2] for kv in r.stdout.split() if "=" in kv)

    def state(self, jobid):
        """The job's state from squeue (-t all: ended jobs too, for MinJobAge
        seconds), '' when slurmctld has forgotten it."""
        r = self.run("squeue", "-h", "-t", "all", "-j", str(jobid), "-o", "%T", check=False)
        return r.stdout.strip() if r.returncode == 0 else ""

    def wait_state(self, jobid, *states, timeout=15):
        """Polls until the job is in one of STATES; returns it (AssertionError at
        the deadline)."""
        deadline = time.monotonic() + timeout
        while True:
            st = self.state(jobid)
            if st in states:
                return st
            if time.monotonic() > deadline:
                raise AssertionError(f"job {jobid}: {st or 'gone'} after {timeout} s, "
                                     f"not {'/'.join(states)}")
            time.sleep(0.05)

    def _ctld_up(self):
        try:
            r = self.run("scontrol", "ping", check=False, timeout=5)
        except subprocess.TimeoutExpired:
            return False
        return "is UP" in r.stdout

    def _node_state(self):
        try:
            r = self.run("sinfo", "-h", "-n", self.node, "-o", "%T", check=False, timeout=5)
        except subprocess.TimeoutExpired:
            return ""
        return r.stdout.strip()

    def up(self):
        pids = self._daemon_pids()
        need = ["slurmctld", "slurmd"] + (["munged"] if self.auth == "munge" else [])
        return all(pids[n] and self._ours(pids[n]) for n in need) and self._ctld_up()

    # -- start
    @classmethod
    def start(cls, build_dir, gpus=8, cpus=32, min_job_age=300, fast=True, auth=None,
              path=None, timeout=30):
        """Starts a cluster in a new folder under BUILD_DIR/slurm/ (or in PATH, which
        must be missing, empty or an earlier cluster's); ClusterUnavailable if it cannot.
        auth: "munge", "none", or None for munge where munged works, else none."""
        if os.geteuid() != 0:
            raise ClusterUnavailable("not root: slurmd and slurmctld run as root here "
                                     "(SlurmUser=root, mknod)")
        missing = [p for p, exe in (("slurmctld", "slurmctld"), ("slurmd", "slurmd"),
                                    ("slurm-client", "sbatch"), ("slurm-client", "scontrol"),
                                    ("munge", "munged"))
                   if not shutil.which(exe, path=os.environ.get("PATH", "") +
                                       ":/usr/sbin:/sbin")]
        missing = sorted(set(missing))
        if missing and not (auth == "none" and missing == ["munge"]):
            raise ClusterUnavailable(
                f"Slurm packages missing ({' '.join(missing)}): apt-get install -y "
                f"--no-install-recommends {PACKAGES}")
        host, ips, err = _hostname_ip()
        if not ips or not all(ip.startswith("127.") or ip == "::1" for ip in ips):
            raise ClusterUnavailable(
                f"hostname '{host}' resolves to {ips or err or 'nothing'}, not 127.x: the "
                f"daemons would not be loopback-only (NoInAddrAny binds to the hostname's "
                f"address); add '127.0.0.1 {host}' to /etc/hosts")
        if gpus < 1:
            raise ValueError("gpus must be >= 1")
        if path is None:
            base = os.path.join(os.path.abspath(build_dir), "slurm")
            os.makedirs(base, exist_ok=True)
            _reap_stale(base)
            path = tempfile.mkdtemp(prefix="c.", dir=base)
        else:
            os.makedirs(path, exist_ok=True)
        c = cls(path)
        if os.listdir(c.dir):
            if not os.path.exists(c._p(MARK)):
                raise ClusterUnavailable(f"{c.dir} is not empty and is no cluster's folder")
            c.stop()
            os.makedirs(c.dir)
        c.gpus, c.cpus, c.min_job_age = gpus, cpus, min_job_age
        try:
            c._start(auth, fast, missing, timeout)
        except BaseException:
            c.stop()
            raise
        return c

    def _start(self, auth, fast, missing, timeout):
        t0 = time.monotonic()
        with open(self._p(MARK), "w") as f:
            f.write(f"{os.getpid()}\n")
        for d in ("state", "spool", "log", "run", "dev", "munge"):
            os.makedirs(self._p(d))
        os.chmod(self.dir, 0o755)
        os.chmod(self._p("run"), 0o755)   # munged: the socket's folder needs o+x
        os.chmod(self._p("munge"), 0o700)
        self.devices = "mknod"
        for i in range(self.gpus):
            dev = self._p("dev", f"gpu{i}")
            try:
                os.mknod(dev, 0o666 | 0o020000, os.makedev(1, 3))
            except OSError:
                os.symlink("/dev/null", dev)
                self.devices = "symlink"
        sock = self._p("run", "munge.sock")
        if auth is None:
            if "munge" in missing:
                auth, self.auth_note = "none", "munged is not installed"
            elif len(sock) > 100:
                auth, self.auth_note = "none", f"munge socket path too long: {sock}"
            else:
                auth = "munge"
        self.auth = auth
        self.ports = tuple(_free_ports(2))
        self._write_conf(fast)
        if auth == "munge":
            why = self._start_munged(sock, timeout)
            if why:
                # munged unusable here: fall back to auth/none, and say so
                self.auth, self.auth_note = "none", f"munged did not start: {why}"
                self._write_conf(fast)
        self.timings["munged_s"] = time.monotonic() - t0
        for attempt in range(3):
            why = self._spawn("slurmctld", ["slurmctld", "-D", "-i", "-f", self.conf],
                              self._ctld_up, timeout)
            if not why:
                break
            if "Address already in use" not in why or attempt == 2:
                raise ClusterUnavailable(f"slurmctld did not start: {why}")
            self.ports = tuple(_free_ports(2))   # taken since we picked it: pick again
            self._write_conf(fast)
        self.timings["slurmctld_s"] = time.monotonic() - t0
        why = self._spawn("slurmd", ["slurmd", "-D", "-f", self.conf, "-N", self.node],
                          lambda: self._node_state() == "idle", timeout)
        if why:
            raise ClusterUnavailable(f"slurmd did not start: {why} (node state "
                                     f"'{self._node_state()}')")
        self.timings["up_s"] = time.monotonic() - t0

    def _write_conf(self, fast):
        if self.auth == "munge":
            auth = (f"AuthType=auth/munge\nCredType=cred/munge\n"
                    f"AuthInfo=socket={self._p('run', 'munge.sock')}\n")
        else:
            auth = "AuthType=auth/none\nCredType=cred/none\n"
        sched = f"SchedulerParameters={FAST}\n" if fast else ""
        with open(self.conf, "w") as f:
            f.write(f"""# a private test cluster (tests/harness/slurm.py)
ClusterName=gpuci
SlurmctldHost=localhost(127.0.0.1)
SlurmctldPort={self.ports[0]}
SlurmdPort={self.ports[1]}
CommunicationParameters=NoCtldInAddrAny,NoInAddrAny
SlurmUser=root
SlurmdUser=root
{auth}StateSaveLocation={self._p('state')}
SlurmdSpoolDir={self._p('spool')}
SlurmctldPidFile={self._p('run', 'slurmctld.pid')}
SlurmdPidFile={self._p('run', 'slurmd.pid')}
SlurmctldLogFile={self._p('log', 'slurmctld.log')}
SlurmdLogFile={self._p('log', 'slurmd.log')}
SlurmctldDebug=info
SlurmdDebug=info
MailProg=/bin/true
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
GresTypes=gpu
MpiDefault=none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SlurmdParameters=config_overrides
ReturnToService=2
{sched}KillWait=2
MinJobAge={self.min_job_age}
InactiveLimit=0
NodeName={self.node} NodeHostname=localhost NodeAddr=127.0.0.1 CPUs={self.cpus} \
Gres=gpu:{self.gpus} State=UNKNOWN
PartitionName=gpu Nodes={self.node} Default=YES MaxTime=INFINITE State=UP
""")
        with open(self._p("gres.conf"), "w") as f:
            f.write(f"AutoDetect=off\nNodeName={self.node} Name=gpu "
                    f"File={self._p('dev', 'gpu')}[0-{self.gpus - 1}]\n")

    def _start_munged(self, sock, timeout):
        with open(self._p("munge", "munge.key"), "wb") as f:
            f.write(os.urandom(1024))
        os.chmod(self._p("munge", "munge.key"), 0o600)
        return self._spawn("munged", [
            "munged", "-F", f"--socket={sock}", f"--key-file={self._p('munge', 'munge.key')}",
            f"--pid-file={self._p('run', 'munged.pid')}",
            f"--log-file={self._p('log', 'munged.log')}",
            f"--seed-file={self._p('munge', 'munged.seed')}"],
            lambda: os.path.exists(sock), timeout)

    def _spawn(self, name, argv, ready, timeout):
        """Starts daemon NAME in the foreground of a new session; '' once ready(),
        else why not (the tail of its logs)."""
        out = self._p("log", name + ".out")
        with open(out, "ab") as log:
            p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log,
                                 stderr=subprocess.STDOUT, env=self.env,
                                 start_new_session=True)
        self.procs[name] = p
        with open(self._p("run", name + ".pid"), "w") as f:
            f.write(f"{p.pid}\n")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if ready():
                return ""
            if p.poll() is not None:
                break
            time.sleep(0.05)
        alive = p.poll() is None
        self._stop_pid(p.pid)
        tail = _tail(self._p("log", name + ".log")) if name != "munged" else \
            _tail(self._p("log", "munged.log"))
        return (f"{'not ready after %d s' % timeout if alive else 'exited %s' % p.returncode}"
                f": {tail} {_tail(out, 3)}")

    # -- stop
    def _stop_pid(self, pid, grace=10):
        if not pid or not self._ours(pid):
            return
        try:
            os.kill(pid, signal.SIGTERM)
        except OSError:
            return
        deadline = time.monotonic() + grace
        while self._ours(pid) and time.monotonic() < deadline:
            for p in self.procs.values():
                p.poll()
            time.sleep(0.02)
        if self._ours(pid):
            _kill_tree(pid)

    def jobs(self):
        """Ids of this cluster's jobs that have not ended yet."""
        try:
            r = self.run("squeue", "-h", "-o", "%i", check=False, timeout=10)
        except subprocess.TimeoutExpired:
            return []
        return r.stdout.split() if r.returncode == 0 else []

    def stop(self):
        """Cancels every job (while slurmctld is up), kills this cluster's leftover
        slurmstepd and clients, stops the daemons, removes the folder."""
        if not os.path.isdir(self.dir):
            return
        if not os.path.exists(self._p(MARK)):
            if os.listdir(self.dir):
                raise RuntimeError(f"{self.dir} is no cluster's folder: not touching it")
            os.rmdir(self.dir)
            return
        pids = self._daemon_pids()
        if pids["slurmctld"] and self._ours(pids["slurmctld"]) and os.path.exists(self.conf):
            # an srun whose controller is gone hangs, and slurmstepd ignores SIGTERM:
            # end the jobs through slurmctld first
            ids = self.jobs()
            if ids:
                self.run("scancel", *ids, check=False, timeout=10)
                deadline = time.monotonic() + 10
                while self.jobs() and time.monotonic() < deadline:
                    time.sleep(0.05)
        conf = "SLURM_CONF=" + self.conf
        # slurmstepd (and its tasks) outlive slurmd by design
        for p in _pids():
            if _comm(p) == "slurmstepd" and conf in _read0(p, "environ"):
                _kill_tree(p)
        self._stop_pid(pids["slurmd"])
        self._stop_pid(pids["slurmctld"])
        self._stop_pid(pids["munged"])
        for p in _pids():
            if _comm(p) in ("srun", "salloc", "sattach", "sbatch", "slurmstepd") \
                    and conf in _read0(p, "environ"):
                _kill_tree(p)
        for p in self.procs.values():
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        self.procs = {}
        shutil.rmtree(self.dir, ignore_errors=True)

    def leftovers(self):
        """What stop() should have left none of: live processes naming our folder
        (command line or SLURM_CONF), and whether the folder is still there."""
        return [p for p in _pids() if p != os.getpid() and self._ours(p)], \
            os.path.exists(self.dir)


def _reap_stale(base):
    """Removes clusters under BASE that a crashed run left: none of their daemons
    alive, and made over two minutes ago (a cluster being started has none yet)."""
    for d in glob.glob(os.path.join(base, "c.*")):
        c = Cluster(d)
        try:
            age = time.time() - os.stat(c._p(MARK)).st_mtime
        except OSError:
            age = time.time() - os.stat(d).st_mtime
            if age > 120 and not os.listdir(d):
                os.rmdir(d)
            continue
        if age > 120 and not any(p and c._ours(p) for p in c._daemon_pids().values()):
            c.stop()


def run_tests(name, use, **start_kw):
    """The main() of a test file against a private cluster: argv is NAME GPUCI
    BUILD_DIR [unittest args]; starts a cluster under BUILD_DIR (exit 77 with the
    reason where it cannot), calls use(gpuci, build, cluster), runs the file's
    unittest cases, stops the cluster, and fails when it left anything."""
    import unittest
    if len(sys.argv) < 3:
        print(f"usage: {name} GPUCI BUILD_DIR", file=sys.stderr)
        return 2
    gpuci, build = os.path.abspath(sys.argv[1]), sys.argv[2]
    del sys.argv[1:3]
    try:
        c = Cluster.start(build, **start_kw)
    except ClusterUnavailable as e:
        print(f"SKIP: no private Slurm cluster: {e}")
        return 77
    if c.auth_note:
        print(f"note: auth/none: {c.auth_note}")
    use(gpuci, build, c)
    try:
        prog = unittest.main(module="__main__", exit=False, verbosity=2)
        ok = prog.result.wasSuccessful()
    finally:
        t0 = time.monotonic()
        c.stop()
        procs, left = c.leftovers()
        print(f"cluster stopped in {time.monotonic() - t0:.2f} s")
    if procs or left:
        print(f"left behind: processes {procs}, folder {left}", file=sys.stderr)
        return 1
    return 0 if ok else 1


def main(argv):
    if len(argv) != 3 or argv[1] not in ("up", "down", "status"):
        print("usage: slurm.py up|down|status DIR", file=sys.stderr)
        return 2
    d = os.path.abspath(argv[2])
    if argv[1] == "down":
        Cluster(d).stop()
        return 0
    if argv[1] == "status":
        c = Cluster(d)
        with open(c.conf) as f:
            c.auth = "munge" if "auth/munge" in f.read() else "none"
        up = c.up()
        print("up" if up else "down")
        return 0 if up else 1
    try:
        c = Cluster.start(os.path.dirname(d), path=d)
    except ClusterUnavailable as e:
        print(f"slurm.py: {e}", file=sys.stderr)
        return 77
    note = f" ({c.auth_note})" if c.auth_note else ""
    print(f"export SLURM_CONF={c.conf}  # ports {c.ports[0]}/{c.ports[1]} auth/{c.auth}{note}"
          f" gpus={c.gpus} devices={c.devices} up in {c.timings['up_s']:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
