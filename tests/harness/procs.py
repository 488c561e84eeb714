"""/proc helpers shared by the private services of the tests (docker.py, slurm.py).

    from procs import alive, cmdline, read0, comm, children, kill_tree
"""
import glob
import os
import signal


def stat_state(pid):
    """The state letter of /proc/PID/stat ("R", "S", "Z", ...), "" when there is none."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return ""


def alive(pid):
    """PID exists and is no zombie (PID 1 may reap orphans late here)."""
    return stat_state(pid) not in ("", "Z", "X")


def read0(pid, what):
    """/proc/PID/WHAT (cmdline, environ) as its NUL-separated strings; [] when unreadable."""
    try:
        with open(f"/proc/{pid}/{what}", "rb") as f:
            return [x.decode(errors="replace") for x in f.read().split(b"\0") if x]
    except OSError:
        return []


def cmdline(pid):
    """PID's command line, its arguments joined by spaces; "" when unreadable."""
    return " ".join(read0(pid, "cmdline"))


def comm(pid):
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return ""


def children(pid):
    out = []
    for task in glob.glob(f"/proc/{pid}/task/*/children"):
        try:
            with open(task) as f:
                out += [int(x) for x in f.read().split()]
        except OSError:
            pass
    return out


def kill_tree(pid):
    """SIGKILLs PID's descendants (stopped first so they cannot fork on), then PID."""
    try:
        os.kill(pid, signal.SIGSTOP)
    except OSError:
        pass
    for c in children(pid):
        kill_tree(c)
    try:
        os.kill(pid, signal.SIGKILL)
    except OSError:
        pass
