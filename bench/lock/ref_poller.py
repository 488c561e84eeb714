#!/usr/bin/python3
"""Reference implementation of the polling GPU lock (the algorithm of the old
gpu_lock_exec.py) used as the baseline in bench/lock.

Algorithm:
  * count mode: try flock(LOCK_EX|LOCK_NB) on GPU 0..total-1 in order, keep
    what was obtained until --count is reached; if not enough, close them all,
    sleep 5.0*random.random() seconds and retry until --timeout.
  * devices mode: for each requested device in order, retry the non-blocking
    lock with the same random sleep.
  * once acquired: set the env var, spawn the command with subprocess, poll it
    once a second, exit with its status.

On --timeout expiry a TimeoutError escapes (exit status 1), as in the
original.  Lock fds are made inheritable so the command holds them too.  Standard
library only.
"""
import argparse
import fcntl
import os
import random
import subprocess
import sys
import time

SLEEP_BACKOFF = 5.0
DEFAULT_PATTERN = "/dev/shm/custom_gpu_lock_{gpu_id}.lock"


class FdLock:
    def __init__(self, pattern, gpu_id):
        self.gpu_id = gpu_id
        self.path = pattern.format(gpu_id=gpu_id)
        self.f = None

    def open(self):
        self.f = open(self.path, "a+")
        os.set_inheritable(self.f.fileno(), True)

    def lock(self):
        fcntl.flock(self.f, fcntl.LOCK_EX | fcntl.LOCK_NB)

    def close(self):
        if self.f is not None:
            try:
                self.f.close()
            except OSError as e:
                print(f"Warning: failed to close {self.path}: {e}", file=sys.stderr, flush=True)
            self.f = None


def ensure_lock_files(pattern, n):
    d = os.path.dirname(pattern)
    if d:
        os.makedirs(d, exist_ok=True)
    for i in range(n):
        p = pattern.format(gpu_id=i)
        try:
            open(p, "a").close()
        except OSError as e:
            print(f"Warning: could not create lock file {p}: {e}", file=sys.stderr, flush=True)


def acquire_count(count, total, pattern, timeout):
    start = time.time()
    ensure_lock_files(pattern, total)
    while True:
        got = []
        for gpu_id in range(total):
            fl = FdLock(pattern, gpu_id)
            fl.open()
            try:
                fl.lock()
            except BlockingIOError:
                fl.close()
                continue
            got.append(fl)
            if len(got) == count:
                return got
        ids = [x.gpu_id for x in got]
        for fl in got:
            fl.close()
        if time.time() - start > timeout:
            raise TimeoutError(f"Timeout acquiring {count} GPUs (out of {total})")
        print(f"[gpu_lock_exec] try_acquire_count failed, sleep and retry (only got: {ids})", flush=True)
        time.sleep(SLEEP_BACKOFF * random.random())


def acquire_devices(devs, pattern, timeout):
    start = time.time()
    got = []
    try:
        ensure_lock_files(pattern, max(devs) + 1)
        for gpu_id in devs:
            fl = FdLock(pattern, gpu_id)
            fl.open()
            while True:
                try:
                    fl.lock()
                    break
                except BlockingIOError as e:
                    if time.time() - start > timeout:
                        fl.close()
                        raise TimeoutError(f"Timeout while waiting for GPU {gpu_id}") from e
                    time.sleep(SLEEP_BACKOFF * random.random())
            got.append(fl)
        return got
    except Exception as e:
        print(f"Error during specific GPU acquisition: {e}", file=sys.stderr, flush=True)
        for fl in got:
            fl.close()
        raise


def print_only(args):
    ensure_lock_files(args.lock_path_pattern, args.total_gpus)
    free = []
    for i in range(args.total_gpus):
        fl = FdLock(args.lock_path_pattern, i)
        try:
            fl.open()
            try:
                fl.lock()
                fcntl.flock(fl.f, fcntl.LOCK_UN)
                free.append(i)
            except BlockingIOError:
                pass
        except OSError as e:
            print(f"Warning: error while probing lock: {e}", file=sys.stderr, flush=True)
        finally:
            fl.close()
    print("Free GPUs:", ",".join(str(x) for x in free), flush=True)


def parse_args():
    p = argparse.ArgumentParser(description="reference polling GPU lock")
    p.add_argument("--count", type=int, default=None)
    p.add_argument("--devices", type=str, default=None)
    p.add_argument("--total-gpus", type=int, default=8)
    p.add_argument("--timeout", type=int, default=3600 * 24)
    p.add_argument("--target-env-name", type=str, default="CUDA_VISIBLE_DEVICES")
    p.add_argument("--lock-path-pattern", type=str, default=DEFAULT_PATTERN)
    p.add_argument("--print-only", action="store_true")
    p.add_argument("cmd", nargs=argparse.REMAINDER)
    args = p.parse_args()
    if args.cmd and args.cmd[0] == "--":
        args.cmd = args.cmd[1:]
    if "{gpu_id}" not in args.lock_path_pattern:
        p.error("--lock-path-pattern must contain '{gpu_id}'")
    if not args.cmd and not args.print_only:
        p.error("missing command to run; use -- before the command")
    if not args.print_only and not args.devices and args.count is None:
        p.error("one of --count or --devices is required")
    return args


def main():
    args = parse_args()
    if args.print_only:
        print_only(args)
        return 0
    if args.devices:
        devs = [int(x) for x in args.devices.split(",") if x.strip()]
        locks = acquire_devices(devs, args.lock_path_pattern, args.timeout)
    else:
        locks = acquire_count(args.count, args.total_gpus, args.lock_path_pattern, args.timeout)
    dev_list = ",".join(str(x.gpu_id) for x in locks)
    os.environ[args.target_env_name] = dev_list
    print(f"[gpu_lock_exec] Acquired GPUs: {dev_list}", flush=True)
    fds = [x.f.fileno() for x in locks]
    p = subprocess.Popen(args.cmd, pass_fds=fds)
    while p.poll() is None:
        time.sleep(1)
    return p.returncode if p.returncode >= 0 else 128 - p.returncode


if __name__ == "__main__":
    sys.exit(main())
