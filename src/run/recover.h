/*
 * recover: what a `gpuci run` that was killed before it could end its
 * tests left running, found and ended by the next run on the same GPUs.
 *
 * A run whose keepers die with it (SIGKILL of gpuci and its keepers: the
 * OOM killer, `pkill -9 gpuci`) leaves its tests running, re-parented
 * away, still holding their GPU locks (the lock descriptors are theirs
 * too), with nobody to end them. So:
 *
 *   - every test's environment has GPUCI_RUN_ID=RUN-ID (run_opts.run_id),
 *     which its children inherit, setsid() and double-forked ones too;
 *   - a run writes a record, gpuci-run-RUN-ID.run (run id, pid, root), in
 *     the folder of the lock files (run_record_dir(): the GPUs' folder,
 *     shared by every checkout that uses them), and holds an exclusive
 *     flock() on it while it runs; it removes the record when it ends;
 *   - run_recover(), before a run starts anything, takes each record it
 *     can lock (so the run that wrote it is gone: the kernel dropped its
 *     lock), finds every process whose environment carries that run's id
 *     (/proc/PID/environ), sends them SIGTERM, SIGKILL kill_after seconds
 *     later, and removes the record once none is left. A process it may
 *     not signal or read is reported with its pid, and the record stays
 *     for the next run;
 *   - then, for a run of the docker executor, the executor's sweep
 *     (run/executor.h) removes its containers left behind (a killed
 *     client's, in Created state too), with the DOCKER_HOST the record
 *     names; one that cannot look (no engine) keeps the record too.
 *
 * A record that cannot be written (a read-only folder) only means that a
 * crash of that run would leave its tests to be ended by hand.
 */
#ifndef GPUCI_RUN_RECOVER_H
#define GPUCI_RUN_RECOVER_H

#include <stddef.h>
#include <sys/types.h>

#include "base/diag.h"

/* The folder of the lock files of pattern (a malloc'd string). */
char *run_record_dir(const char *lock_pattern);

struct run_record;
/*
 * Writes the record of this run and locks it; with the executor's name
 * (run/executor.h; "docker": with $DOCKER_HOST) and the run's folder, for
 * run_recover to sweep its containers and their files. DIAG_SYSTEM when it
 * cannot.
 */
struct run_record_info {
	const char *run_id, *root;
	const char *run_dir;  /* its folder (logs, docker's cidfiles) */
	const char *executor; /* run/executor.h's name; NULL: local */
};
int run_record_create(struct run_record **out, const char *dir, const struct run_record_info *info,
                      struct diag *d);
/* The run is over: the record goes. NULL is fine. */
void run_record_remove(struct run_record *r);

enum run_left_how {
	RUN_LEFT_ENDED,  /* gone after SIGTERM */
	RUN_LEFT_KILLED, /* needed SIGKILL */
	RUN_LEFT_CANNOT, /* still there: err says why (EPERM, ETIMEDOUT) */
};

struct run_leftover {
	pid_t pid;
	char *cmd; /* its command line, for people */
	enum run_left_how how;
	int err;
};

struct run_crashed {
	char *run_id, *root; /* as recorded */
	pid_t pid;           /* the gpuci that wrote the record */
	struct run_leftover *left;
	size_t nleft;
	char *executor, *docker_host, *slurm_conf, *run_dir; /* as recorded, or NULL */
	size_t removed;       /* what its executor's sweep removed (containers, jobs) */
	const char *leftover; /* what those are: "container", "job" (executor.h) */
	char *sweep_error;    /* why the sweep could not look, or NULL */
};

/*
 * Ends what the crashed runs recorded in dir left, as above. Fills *out
 * with the crashed runs that had processes or containers left (*n of them; free with
 * run_crashed_free, which frees the array too). Fails only when dir cannot be read (not when it is
 * missing: no run ever wrote there).
 */
int run_recover(const char *dir, double kill_after, struct run_crashed **out, size_t *n,
                struct diag *d);
void run_crashed_free(struct run_crashed *v, size_t n);

#endif
