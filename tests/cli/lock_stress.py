#!/usr/bin/env python3
"""End-to-end stress test of `gpuci lock`.

Usage: python3 tests/cli/lock_stress.py PATH/TO/gpuci

200 requests of random counts 1-8 against 8 simulated GPUs (lock files in a
private temporary directory), each holding its GPUs for a random 0-50 ms, with
10% of the gpuci processes killed with SIGKILL while their command holds the
GPUs.  Every job's command records its CUDA_VISIBLE_DEVICES and pid, and,
with CLOCK_MONOTONIC timestamps, when it started and when it ended.  A job's
interval runs from the first evidence that its command runs to its recorded
end (for a killed job without an end record: until its command was last seen
running); both ends are conservative, so an overlap is a real one.  The test
asserts that:

  * no GPU was ever held by two live jobs at once (command intervals of
    different jobs on the same GPU never overlap);
  * every request that was not killed exited 0, recorded both its start and
    its end, and was given exactly `count` distinct GPUs in 0..7;
  * when a (non-killed) gpuci exits, its command is already gone;
  * at the end nothing is left running (no gpuci, no job command) and every
    lock file can be locked again.

Environment:
  LOCK_STRESS_SEED      random seed (printed on every run, for reproduction)
  LOCK_STRESS_REQUESTS  number of requests (default 200)

Exit status 0 on success, 1 on failure (with the reasons on stderr).
"""

import collections
import fcntl
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time

TOTAL_GPUS = 8
MAX_HOLD_S = 0.050
KILL_FRACTION = 0.10
CONCURRENCY = 20          # gpuci processes in flight at once
LOCK_TIMEOUT_S = 120      # --timeout given to gpuci; nothing should hit it
WATCHDOG_S = 240          # hard limit for the whole test
ORPHAN_GRACE_S = 10.0     # how long a killed job's command may outlive its hold
POLL_S = 0.002

# The command every job runs: a shell that appends a "launch" record at once
# (a few ms after gpuci spawned it; the test timestamps the moment it sees
# that record, which is after the GPUs were acquired, and much earlier than a
# Python interpreter could start), then execs Python (same pid), which records
# its own CLOCK_MONOTONIC start, holds, and records its end.
# argv after `sh -c SCRIPT job`: RECORD_FILE PYTHON CODE HOLD_SECONDS.
JOB_SH = ('echo "launch $$ ${CUDA_VISIBLE_DEVICES-<unset>}" >> "$1" && '
          'exec "$2" -I -S -c "$3" "$1" "$4"')
# Each record is a single O_APPEND write, so a job killed mid-hold still
# leaves its earlier records behind.
JOB_CODE = r"""
import os, sys, time
path = sys.argv[1]
hold = float(sys.argv[2])
def rec(line):
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)
t0 = time.clock_gettime_ns(time.CLOCK_MONOTONIC)
with open('/proc/self/stat') as f:
    starttime = f.read().rsplit(')', 1)[1].split()[19]
rec('start %d %d %s %s\n' % (t0, os.getpid(), starttime,
                             os.environ.get('CUDA_VISIBLE_DEVICES', '<unset>')))
time.sleep(hold)
rec('end %d\n' % time.clock_gettime_ns(time.CLOCK_MONOTONIC))
"""


class WatchdogExpired(Exception):
    pass


def now_ns():
    return time.clock_gettime_ns(time.CLOCK_MONOTONIC)


def proc_alive(pid, starttime):
    """True if process `pid` with the given start time exists and is not a
    zombie (a zombie has finished running; it only waits to be reaped)."""
    try:
        with open('/proc/%d/stat' % pid) as f:
            data = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return False
    fields = data.rsplit(')', 1)[1].split()
    if fields[19] != starttime:
        return False  # pid reused by an unrelated process
    return fields[0] not in ('Z', 'X', 'x')


def procs_mentioning(text):
    """Pids of live (non-zombie) processes whose command line contains
    `text` (used with the private temporary directory, which appears in the
    argv of every gpuci and job command this test starts)."""
    found = []
    needle = text.encode()
    me = os.getpid()
    for name in os.listdir('/proc'):
        if not name.isdigit() or int(name) == me:
            continue
        try:
            with open('/proc/%s/cmdline' % name, 'rb') as f:
                cmdline = f.read()
            with open('/proc/%s/stat' % name) as f:
                state = f.read().rsplit(')', 1)[1].split()[0]
        except OSError:
            continue
        if needle in cmdline and state not in ('Z', 'X', 'x'):
            found.append((int(name), cmdline.replace(b'\0', b' ').decode(
                errors='replace').strip()))
    return found


class Job:
    def __init__(self, idx, count, hold, kill, kill_frac):
        self.idx = idx
        self.count = count
        self.hold = hold
        self.kill = kill              # chosen to be SIGKILLed
        self.kill_frac = kill_frac    # when, as a fraction of the hold
        self.rec_path = None
        self.err_path = None
        self.proc = None
        self.rc = None
        self.kill_at = None           # monotonic ns when the kill is due
        self.killed_ns = None         # monotonic ns when SIGKILL was sent
        self.rec_size = 0
        self.launch_seen_ns = None    # monotonic ns the launch record was seen
        self.launch_devices = None
        self.py_start = None
        self.start = None             # interval start (see read_records)
        self.end = None
        self.pid = None
        self.starttime = None
        self.devices = None
        self.alive_ns = None          # killed job: last time its command
                                      # was seen still running
        self.records_error = None

    def read_records(self):
        try:
            with open(self.rec_path) as f:
                lines = f.read().splitlines()
        except FileNotFoundError:
            lines = []
        self.py_start = self.end = self.launch_devices = None
        self.records_error = None
        for line in lines:
            parts = line.split()
            try:
                if parts[0] == 'launch' and len(parts) == 3 \
                        and self.launch_devices is None:
                    self.launch_devices = parts[2]
                elif parts[0] == 'start' and len(parts) == 5 \
                        and self.py_start is None:
                    self.py_start = int(parts[1])
                    if self.pid is not None and (self.pid, self.starttime) \
                            != (int(parts[2]), parts[3]):
                        raise ValueError
                    self.pid = int(parts[2])
                    self.starttime = parts[3]
                    self.devices = parts[4]
                elif parts[0] == 'end' and len(parts) == 2 \
                        and self.end is None and self.py_start is not None:
                    self.end = int(parts[1])
                else:
                    raise ValueError
            except (ValueError, IndexError):
                self.records_error = 'malformed record %r' % line
        if self.launch_devices is not None and self.devices is not None \
                and self.launch_devices != self.devices:
            self.records_error = 'CUDA_VISIBLE_DEVICES changed from %r to %r' \
                % (self.launch_devices, self.devices)
        if self.devices is None:
            self.devices = self.launch_devices
        # The job holds its GPUs from (at the latest) the first moment there
        # is evidence that its command runs.  Both candidates are after the
        # real acquisition, so using the earlier one cannot invent overlaps.
        starts = [t for t in (self.launch_seen_ns, self.py_start)
                  if t is not None]
        self.start = min(starts) if starts else None

    def poll_launch(self):
        """Timestamp the first sight of the launch record (cheap stat)."""
        if self.launch_seen_ns is not None:
            return True
        try:
            size = os.stat(self.rec_path).st_size
        except FileNotFoundError:
            return False
        if size == 0:
            return False
        self.launch_seen_ns = now_ns()
        # Remember the command's identity (pid plus start time, which exec
        # keeps) so that it can be tracked even if it is killed early.
        try:
            with open(self.rec_path) as f:
                first = f.readline().split()
            if first[0] == 'launch' and self.pid is None:
                pid = int(first[1])
                with open('/proc/%d/stat' % pid) as f:
                    self.starttime = f.read().rsplit(')', 1)[1].split()[19]
                self.pid = pid
        except (OSError, ValueError, IndexError):
            pass  # already gone, or malformed (reported later)
        return True

    def stderr_tail(self, limit=800):
        try:
            with open(self.err_path, errors='replace') as f:
                data = f.read()
        except OSError:
            return ''
        data = data.strip()
        return data[-limit:]

    def describe(self):
        return 'job %d (count %d, hold %.1f ms%s)' % (
            self.idx, self.count, self.hold * 1000,
            ', killed' if self.killed_ns is not None else '')


def main():
    if len(sys.argv) != 2:
        print('usage: lock_stress.py PATH/TO/gpuci', file=sys.stderr)
        return 2
    gpuci = os.path.abspath(sys.argv[1])
    if not os.access(gpuci, os.X_OK):
        print('lock_stress: FAIL: %s is not an executable' % gpuci,
              file=sys.stderr)
        return 1

    seed_env = os.environ.get('LOCK_STRESS_SEED')
    seed = int(seed_env) if seed_env else random.SystemRandom().randrange(
        1 << 32)
    nreq = int(os.environ.get('LOCK_STRESS_REQUESTS', '200'))
    print('lock_stress: seed %d (set LOCK_STRESS_SEED=%d to reproduce)'
          % (seed, seed), flush=True)
    rng = random.Random(seed)

    tmpdir = tempfile.mkdtemp(prefix='gpuci-lock-stress-')
    jobs = []

    def on_alarm(signum, frame):
        raise WatchdogExpired()

    signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(WATCHDOG_S + 30)  # backstop behind the polling deadline
    try:
        failures = run(gpuci, tmpdir, rng, nreq, jobs)
    except WatchdogExpired:
        failures = ['watchdog: test did not finish within %d s '
                    '(hang in gpuci lock?)' % WATCHDOG_S]
        failures += describe_stuck(jobs)
    finally:
        signal.alarm(0)
        kill_everything(jobs, tmpdir)
        shutil.rmtree(tmpdir, ignore_errors=True)

    if failures:
        for f in failures:
            print('lock_stress: FAIL: %s' % f, file=sys.stderr)
        print('lock_stress: FAILED (seed %d; rerun with LOCK_STRESS_SEED=%d)'
              % (seed, seed), file=sys.stderr)
        return 1
    return 0


def describe_stuck(jobs):
    stuck = [j for j in jobs if j.proc is not None and j.proc.poll() is None]
    # Jobs whose command was launched first: those are the likely culprits.
    stuck.sort(key=lambda j: (j.launch_seen_ns is None, j.idx))
    out = []
    for j in stuck[:10]:
        out.append('%s: gpuci (pid %d) still running, %s; stderr: %r'
                   % (j.describe(), j.proc.pid,
                      'its command was launched' if j.launch_seen_ns
                      is not None else 'its command was never launched',
                      j.stderr_tail(300)))
    if len(stuck) > 10:
        out.append('... and %d more gpuci processes still running'
                   % (len(stuck) - 10))
    return out


def kill_everything(jobs, tmpdir):
    """Kill and reap whatever this test started that is still around."""
    for j in jobs:
        if j.proc is not None and j.proc.poll() is None:
            for fn in (lambda: os.killpg(j.proc.pid, signal.SIGKILL),
                       lambda: j.proc.kill()):
                try:
                    fn()
                except OSError:
                    pass
        if j.pid is not None and proc_alive(j.pid, j.starttime):
            try:
                os.kill(j.pid, signal.SIGKILL)
            except OSError:
                pass
    for pid, _ in procs_mentioning(tmpdir):
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    for j in jobs:
        if j.proc is not None and j.proc.returncode is None:
            try:
                j.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass


def child_env():
    env = dict(os.environ)
    env.pop('CUDA_VISIBLE_DEVICES', None)
    for k in list(env):
        if k.startswith('GPUCI_'):
            env.pop(k)
    return env


def base_cmd(gpuci, pattern):
    return [gpuci, 'lock', '--total-gpus', str(TOTAL_GPUS),
            '--lock-path-pattern', pattern, '--timeout', str(LOCK_TIMEOUT_S),
            '-q']


def run(gpuci, tmpdir, rng, nreq, jobs):
    pattern = os.path.join(tmpdir, 'gpu_{gpu_id}.lock')
    env = child_env()
    t_begin = time.monotonic()
    deadline = t_begin + WATCHDOG_S

    # Smoke check first, so that a basic breakage gives one clear message
    # instead of 200 identical failures.
    try:
        smoke = subprocess.run(
            base_cmd(gpuci, pattern) + ['--count', '1', '--', 'true'],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, env=env, timeout=60)
    except subprocess.TimeoutExpired:
        return ['smoke check `gpuci lock --count 1 -- true` did not finish '
                'within 60 s']
    if smoke.returncode != 0:
        return ['smoke check `gpuci lock --count 1 -- true` exited %d; '
                'stderr: %s' % (smoke.returncode,
                                smoke.stderr.decode(errors='replace').strip())]

    nkill = int(round(nreq * KILL_FRACTION))
    kill_set = set(rng.sample(range(nreq), nkill))
    for i in range(nreq):
        jobs.append(Job(i, rng.randint(1, TOTAL_GPUS),
                        rng.uniform(0.0, MAX_HOLD_S), i in kill_set,
                        rng.random()))

    failures = []
    pending = collections.deque(jobs)
    running = []
    orphans = []      # killed jobs whose command may still be running

    def finish(j):
        j.read_records()
        if j.records_error:
            failures.append('%s: %s' % (j.describe(), j.records_error))
        if j.rc == -signal.SIGKILL and j.killed_ns is not None:
            orphans.append(j)
            return
        # Not killed (or the kill came too late to matter): gpuci must have
        # waited for its command, so the command must already be gone.
        if j.rc != 0:
            failures.append('%s: gpuci exited %s (expected 0); stderr: %s'
                            % (j.describe(), j.rc, j.stderr_tail()))
        missing = [name for name, v in (('launch', j.launch_devices),
                                        ('start', j.py_start),
                                        ('end', j.end)) if v is None]
        if missing:
            failures.append('%s: missing %s record%s'
                            % (j.describe(), ' and '.join(missing),
                               's' if len(missing) > 1 else ''))
        if j.pid is not None and proc_alive(j.pid, j.starttime):
            failures.append('%s: gpuci exited while its command (pid %d) was '
                            'still running' % (j.describe(), j.pid))

    while pending or running or orphans:
        if time.monotonic() > deadline:
            raise WatchdogExpired()
        while pending and len(running) < CONCURRENCY:
            j = pending.popleft()
            j.rec_path = os.path.join(tmpdir, 'job_%d.rec' % j.idx)
            j.err_path = os.path.join(tmpdir, 'job_%d.err' % j.idx)
            cmd = base_cmd(gpuci, pattern) + [
                '--count', str(j.count), '--',
                '/bin/sh', '-c', JOB_SH, 'job', j.rec_path, sys.executable,
                JOB_CODE, '%.6f' % j.hold]
            with open(j.err_path, 'wb') as err:
                j.proc = subprocess.Popen(
                    cmd, stdin=subprocess.DEVNULL, stdout=err, stderr=err,
                    env=env, start_new_session=True)
            running.append(j)

        still = []
        for j in running:
            j.rc = j.proc.poll()
            if j.rc is not None:
                finish(j)
                continue
            still.append(j)
            launched = j.poll_launch()
            if not j.kill or j.killed_ns is not None:
                continue
            t = now_ns()
            if j.kill_at is None and launched:
                # Kill at a random moment while the command holds (its
                # hold starts only after the interpreter is up, so this is
                # always before the command ends).
                j.kill_at = t + int(j.kill_frac * j.hold * 1e9)
            if j.kill_at is not None and t >= j.kill_at:
                j.killed_ns = now_ns()
                j.proc.send_signal(signal.SIGKILL)
        running = still

        left = []
        for j in orphans:
            t = now_ns()
            if j.pid is not None and proc_alive(j.pid, j.starttime):
                j.alive_ns = t
                if t > j.start + int((j.hold + ORPHAN_GRACE_S) * 1e9):
                    failures.append('%s: its command (pid %d) still runs %.0f '
                                    's after its hold ended'
                                    % (j.describe(), j.pid, ORPHAN_GRACE_S))
                    continue
                left.append(j)
            else:
                j.read_records()
        orphans = left

        time.sleep(POLL_S)

    elapsed = time.monotonic() - t_begin
    killed = [j for j in jobs if j.rc == -signal.SIGKILL
              and j.killed_ns is not None]
    finished = [j for j in jobs if j not in killed]
    landed = sum(1 for j in killed
                 if j.end is None or j.killed_ns < j.end)

    for j in jobs:
        if j.rc == -signal.SIGKILL and j.killed_ns is None:
            failures.append('%s: gpuci died of SIGKILL that this test did not '
                            'send' % j.describe())

    # GPUs handed to each finished request.
    for j in finished:
        if j.devices is None:
            continue
        try:
            ids = [int(x) for x in j.devices.split(',')]
        except ValueError:
            ids = None
        if ids is None or len(ids) != j.count or len(set(ids)) != j.count \
                or any(i < 0 or i >= TOTAL_GPUS for i in ids):
            failures.append('%s: CUDA_VISIBLE_DEVICES=%r, expected %d distinct '
                            'GPUs in 0..%d' % (j.describe(), j.devices,
                                               j.count, TOTAL_GPUS - 1))

    # Exclusivity: per GPU, intervals of different jobs must not overlap.
    per_gpu = collections.defaultdict(list)
    for j in jobs:
        if j.start is None or j.devices is None:
            continue
        end = j.end
        if end is None:
            # A killed job whose command died without recording its end:
            # it held its GPUs at least until it was last seen running.
            end = max(j.start, j.alive_ns or 0)
        if end < j.start:
            failures.append('%s: end before start' % j.describe())
            continue
        try:
            ids = {int(x) for x in j.devices.split(',')}
        except ValueError:
            continue
        for g in ids:
            per_gpu[g].append((j.start, end, j))
    overlaps = collections.OrderedDict()   # (job a, job b) -> GPUs
    for g in sorted(per_gpu):
        ivs = sorted(per_gpu[g], key=lambda iv: (iv[0], iv[1]))
        for n, a in enumerate(ivs):
            for b in ivs[n + 1:]:
                if b[0] >= a[1]:
                    break
                key = (a[2].idx, b[2].idx)
                overlaps.setdefault(key, [a, b, []])[2].append(g)
    for n, (a, b, gpus) in enumerate(overlaps.values()):
        if n == 10:
            failures.append('... and %d more overlapping pairs'
                            % (len(overlaps) - 10))
            break
        failures.append(
            'GPU %s held by two live jobs: %s [%d, %d] and %s [%d, %d] '
            '(overlap %.3f ms)' % (','.join(map(str, gpus)), a[2].describe(),
                                   a[0], a[1], b[2].describe(), b[0], b[1],
                                   (min(a[1], b[1]) - b[0]) / 1e6))

    # Nothing may be left running.
    for j in jobs:
        if j.proc.returncode is None:
            failures.append('%s: gpuci (pid %d) not reaped'
                            % (j.describe(), j.proc.pid))
        if j.pid is not None and proc_alive(j.pid, j.starttime):
            failures.append('%s: command (pid %d) still running at the end'
                            % (j.describe(), j.pid))
    for pid, cmdline in procs_mentioning(tmpdir)[:10]:
        failures.append('process left running: pid %d: %s'
                        % (pid, cmdline[:200]))

    # Every lock file must be free again.
    for g in range(TOTAL_GPUS):
        path = pattern.replace('{gpu_id}', str(g))
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            failures.append('lock file %s is still locked' % path)
        finally:
            os.close(fd)

    if nkill and not killed:
        failures.append('none of the %d kill targets was actually killed '
                        'while running; the test did not exercise kills'
                        % nkill)

    print('lock_stress: %d requests, %d killed (%d while holding), '
          '%d finished, %d overlaps, %.1f s'
          % (len(jobs), len(killed), landed, len(finished), len(overlaps),
             elapsed), flush=True)
    return failures


if __name__ == '__main__':
    sys.exit(main())
