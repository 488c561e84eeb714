/*
 * lease: GPUs held by one job, over the same per-GPU flock() files as
 * gpu_lock_exec.py, granted first come, first served.
 *
 * Files (P is the pattern, `{gpu_id}` replaced as shown):
 *   P(0), P(1), ...   one per GPU. A GPU is held while someone holds an
 *                     exclusive flock() on its file: gpuci and the Python
 *                     script exclude each other.
 *   P(queue)          the waiting queue: arrival order, who waits for what
 *                     and since when, and who holds which GPU. Changed only
 *                     under an exclusive flock() on the file itself, held
 *                     for microseconds.
 *   P(ticket-SEQ)     one per waiter, flock()ed by that waiter for as long
 *                     as it waits: a waiter is alive exactly while its
 *                     ticket is locked, whatever killed it.
 *   P(N-held)         the witness of held GPU N: a hard link to the file its
 *                     holder locked, made while the path still named it and
 *                     checked by every requester after locking the path, so
 *                     that a lock file deleted or replaced under its holder
 *                     never lets a second job take the GPU.
 *
 * Deleted files: every operation on the queue locks the file its path names
 * now (fstat of the descriptor against lstat of the path); a waiter whose
 * line is gone from it joins again in arrival order. A lock file that cannot
 * be used takes only its GPU out of service. doc/DESIGN.md, section 5, has
 * the argument.
 *
 * Fairness: waiters are served in arrival order. Only the oldest live waiter
 * (the head) takes GPUs: it takes every free GPU it can use, holds them as a
 * reservation, and waits for the rest, so a wide request is never starved by
 * a stream of narrow ones. Every other waiter sleeps until the waiter just
 * ahead of it leaves the queue (granted, timed out, or dead).
 *
 * Wake-ups: all sleeping is a blocking flock() in a waiter thread: on its
 * predecessor's ticket (shared) or, for the head, on each GPU it still needs
 * (exclusive). The kernel wakes exactly that thread when the lock is
 * released, by unlock, close or the death of every process holding it, so a
 * release wakes only the one waiter it can serve, within microseconds, and
 * nothing polls. inotify tells a waiter at once that its queue file or ticket
 * lost its name; the head also checks once a second that it is still the
 * head, and a waiter behind another every 10 s, as a safety net.
 *
 * Lifetime: the GPU lock descriptors of a granted lease are open WITHOUT
 * FD_CLOEXEC on purpose. A command started after lease_acquire() inherits
 * them, and the kernel keeps each lock while any process holding the open
 * file description lives. So if gpuci is killed with SIGKILL, no other
 * requester can take the GPUs while any process of the job that kept the
 * descriptors still runs. A process that closes descriptors it inherited (a
 * daemon closing everything) gives up that protection; while gpuci lives it
 * waits for every descendant anyway before calling lease_free().
 */
#ifndef GPUCI_LEASE_LEASE_H
#define GPUCI_LEASE_LEASE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "base/diag.h"
#include "base/strbuf.h"
#include "gpu/gpu.h"

/* The default of gpu_lock_exec.py, shared with it on one machine. */
#define LEASE_DEFAULT_PATTERN "/dev/shm/custom_gpu_lock_{gpu_id}.lock"
#define LEASE_PLACEHOLDER     "{gpu_id}"
#define LEASE_MAX_GPUS        4096

/*
 * Readiness defaults (doc/DESIGN.md has the reasons): a GPU is busy while
 * NVML lists a process on it or more than 256 MiB are used (a CUDA context
 * alone takes 300-500 MiB, an idle GPU a few MiB besides the driver's
 * reserved memory); a busy GPU is waited for 120 s, long enough for a
 * container's teardown or a server's exit, then the request fails.
 */
#define LEASE_DEFAULT_WAIT_IDLE 120.0
#define LEASE_DEFAULT_IDLE_MIB  256u

struct lease_spec {
	const char *pattern;     /* lock path pattern, contains {gpu_id} */
	unsigned total;          /* GPUs on the machine, for count requests */
	unsigned count;          /* any `count` GPUs; 0 when devices is used */
	const unsigned *devices; /* exactly these GPUs, or NULL */
	size_t ndevices;
	double timeout;   /* seconds to wait; negative waits forever */
	int cancel_fd;    /* the wait ends when readable; -1: none */
	const char *what; /* the job's command line, shown by status */
	/*
	 * Called at most once, when the request has to sleep: with the number
	 * of requests queued ahead of it, and the GPUs it already holds as a
	 * reservation (when it is the oldest). NULL: nobody is told.
	 */
	void (*on_wait)(void *arg, size_t ahead, size_t reserved);
	void *on_wait_arg;
	/*
	 * Whether lease_watch_fd() is wanted. Closing an inotify instance costs
	 * the kernel an RCU grace period (10-20 ms here), so a caller that takes
	 * many leases in one thread (gpuci run) leaves it false and calls
	 * lease_check() at release only.
	 */
	bool watch;
	/*
	 * GPU readiness. With nvml (opened by the caller, gpu_nvml_open()) and
	 * wait_idle > 0, GPUs whose locks were won are handed out only once
	 * NVML shows no process on them and at most idle_bytes used: they are
	 * asked again every 250 ms for up to wait_idle seconds (never past
	 * timeout), their locks held meanwhile and the request still at the
	 * head of the queue. A count request trades a busy GPU for an idle free
	 * one when it can. Still busy at the end: fails with DIAG_TIMEOUT naming
	 * the pids, or, with busy_warn, goes on with the warning in
	 * lease_warning(). A GPU NVML cannot ask about is handed out, warned.
	 * nvml NULL or wait_idle 0: no check.
	 */
	struct gpu_nvml *nvml;
	double wait_idle;
	unsigned long long idle_bytes;
	bool busy_warn;
	/*
	 * Called when a GPU is found busy, and again when the processes on it
	 * change (not for each poll): who holds how much. NULL: nobody is told.
	 */
	void (*on_busy)(void *arg, unsigned gpu, const struct gpu_usage *u);
	void *on_busy_arg;
};

struct lease;

/*
 * Checks a pattern: it must contain {gpu_id}. Fails with DIAG_USAGE.
 */
int lease_check_pattern(const char *pattern, struct diag *d);

/*
 * Replaces every {gpu_id} in pattern by id (a number, "queue", ...).
 * Returns a string the caller frees.
 */
char *lease_path(const char *pattern, const char *id);

/*
 * Waits for and takes the GPUs of spec. On success *out is a lease the caller
 * ends with lease_free(). Fails with:
 *   DIAG_TIMEOUT   spec->timeout passed first;
 *   DIAG_CANCELED  spec->cancel_fd became readable first;
 *   DIAG_USAGE     the request cannot ever be met (count above total, ...);
 *   DIAG_INPUT     a lock file is a symlink or not a regular file;
 *   DIAG_SYSTEM    a system call failed.
 * On failure nothing is held and the caller's queue entry is gone.
 * Process-wide effect: the first call installs a no-op SIGUSR2 handler
 * (without SA_RESTART). The signal is only ever sent, with pthread_kill(),
 * to lease's own waiter threads, to interrupt their flock(); the process's
 * other threads are not affected.
 */
int lease_acquire(struct lease **out, const struct lease_spec *spec, struct diag *d);

/* The GPUs held, ascending; the array lives as long as the lease. */
size_t lease_gpus(const struct lease *l, const unsigned **gpus);
/*
 * The lock descriptors held, one per GPU (not FD_CLOEXEC). A process that
 * runs several leases' jobs keeps these in each job's child and closes the
 * other leases' ones, or a finished job's GPUs stay locked by the others.
 */
size_t lease_fds(const struct lease *l, const int **fds);
/* Seconds spent waiting in lease_acquire(). */
double lease_waited(const struct lease *l);
/*
 * Warnings met while acquiring (queue not writable, a GPU out of service
 * because its lock file cannot be used), "; " between them, or NULL.
 */
const char *lease_warning(const struct lease *l);

/*
 * Whether the lease still keeps other requesters out of its GPUs. Lock files
 * can be deleted by whoever may write their folder (root, for /dev/shm): a
 * lock on a deleted file is no lock on its path. Each held GPU's file has a
 * second name, its witness (P(N-held)), that a requester checks after locking
 * the path (doc/DESIGN.md, section 5), so a GPU is only lost when both names
 * are gone. Appends a sentence to *why for each GPU whose file lost a name,
 * and returns how many GPUs are lost: another job may be given those. A job
 * holder calls it at release, and whenever lease_watch_fd() is readable
 * (which it drains).
 */
size_t lease_check(const struct lease *l, struct strbuf *why);
/*
 * An inotify descriptor (CLOEXEC, non-blocking) that becomes readable when a
 * held lock file loses a name; -1 when inotify is not available or the spec
 * did not ask for it (lease_spec.watch). Owned by the lease, closed by
 * lease_free() after the locks are released.
 */
int lease_watch_fd(const struct lease *l);

/*
 * Releases the GPUs in this process (the lock is gone once every process
 * that inherited the descriptors has closed them too) and frees the lease.
 * NULL is allowed.
 */
void lease_free(struct lease *l);

/*
 * Which of GPUs 0..total-1 can be taken right now: tries each lock without
 * waiting and lets it go at once (what --print-only reports). Stores a
 * malloc'd ascending array the caller frees. A GPU whose lock file cannot be
 * used is not free: *warn says why ("; " between GPUs).
 */
int lease_probe_free(unsigned **out, size_t *n, const char *pattern, unsigned total,
                     struct strbuf *warn, struct diag *d);

/*
 * A snapshot of the lock files, for `gpuci lock status`. Transparent on
 * purpose: it is a report the CLI prints field by field, not state to guard.
 */
struct lease_gpu_state {
	unsigned gpu;
	bool exists;     /* the lock file exists */
	bool held;       /* someone holds an exclusive flock() on it */
	pid_t pid;       /* who took the lock (/proc/locks); 0 if free or unknown */
	bool pid_alive;  /* that process still runs (else: its job holds it) */
	char *cmd;       /* command recorded by gpuci, or the pid's cmdline */
	double held_for; /* seconds, -1 when unknown */
	long waiter;     /* queue position (1 = head) of a waiter reserving it, or 0 */
	bool unusable;   /* its lock file cannot be used: out of service */
	bool witness;    /* held through its witness: the lock file was replaced */
	char *problem;   /* why it is out of service, or NULL */
	/*
	 * A process that still holds a lock on this GPU's deleted lock file,
	 * whose witness is gone too: the GPU may be given to two jobs. 0: none.
	 */
	pid_t lost_pid;
};

struct lease_waiter_state {
	unsigned long seq;
	pid_t pid;
	unsigned count; /* GPUs wanted (the number of devices when explicit) */
	char *devices;  /* "0,2" for explicit requests, NULL otherwise */
	double waited;  /* seconds since it queued */
	char *cmd;
};

struct lease_status {
	size_t ngpus;
	struct lease_gpu_state *gpus;
	size_t nwaiters;
	struct lease_waiter_state *waiters;
};

/*
 * Reads the snapshot. Removes, on the way, the ticket files of waiters that
 * died (nobody else may be left to do it).
 */
int lease_status_read(struct lease_status **out, const char *pattern, unsigned total,
                      struct diag *d);
void lease_status_free(struct lease_status *st);

#endif
