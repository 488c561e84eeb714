/*
 * executor: where and how one attempt of a prepared test runs, behind one
 * interface, so run_suite() (run/run.h) schedules, leases, times out and
 * retries the same whatever runs the test:
 *
 *   run_exec_local   the test as a local process tree under a keeper
 *                    (proc_keeper_start: a subreaper that ends whatever the
 *                    test leaves, then exits); the handle's pid is the
 *                    keeper, reaped by run_suite on SIGCHLD.
 *   run_exec_docker  the same keeper, running `docker run --rm --init
 *                    --name NAME --label gpuci.run=RUN_ID ... IMAGE bash
 *                    -lc 'SETUP; exec "$@"' bash ARGV` (run/run.h, struct
 *                    run_test), `docker kill NAME` when the kill_after of a
 *                    stop has passed, and `docker rm -f NAME` before it is
 *                    DONE when its client did not end by itself (a killed
 *                    client leaves its container running, or created).
 *
 *   run_exec_slurm   one Slurm batch job per attempt (run/exec_slurm.c):
 *                    `sbatch --gres=gpu:N --time=M ...` of a script that
 *                    execs the test; Slurm places it (places, below).
 *
 * A cluster executor (Slurm) has no local process for its test: its
 * handle's pid is -1 and it gives a descriptor to poll (fd) or an
 * interval (poll_every) at which run_suite asks state(). One that places
 * (places true) chooses the GPUs itself: run_suite leases none, starts
 * (submits) every test at once in the scheduler's order, and the attempt
 * is QUEUED until state() says it runs; where() says why it waits, and
 * then its node and GPUs. signal() is `scancel --full --signal`, kill()
 * `scancel --signal=KILL`, result() reads the job's exit status
 * (scontrol, else sacct), release() removes what the job left (its
 * files).
 *
 * After the run (and for a crashed run, run_recover), sweep() removes what
 * is left of it outside gpuci's processes: the containers labelled with
 * its id, those whose creation a killed client left under way included;
 * a cluster's jobs.
 *
 * Lifecycle of one attempt (run_suite does it):
 *   1. start(job): the attempt runs; *out is its handle (RUNNING).
 *   2. The test's main part ends: reaped(status) when its pid is reaped,
 *      else state() says so. state() is then ENDING (what it left is being
 *      ended) and result() is known, then DONE: nothing of it is left, its
 *      GPUs may go to the next test.
 *   3. Stopping it (a timeout, a cancel): signal(SIGTERM); kill_after
 *      seconds later stop_due(); if it is still not DONE some seconds
 *      after that, kill() (SIGKILL to everything of it), again until DONE.
 *   4. release(): cleans up after it, frees the handle.
 */
#ifndef GPUCI_RUN_EXECUTOR_H
#define GPUCI_RUN_EXECUTOR_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "base/diag.h"
#include "base/strbuf.h"
#include "run/run.h"

/* One attempt of a test, as run_suite hands it to an executor. */
struct run_exec_job {
	const struct run_test *test; /* argv, docker image and options */
	size_t index;                /* of the test in the suite */
	char *const *env;            /* its whole environment: the test's, its GPUs, the run id */
	const char *gpu_ids;         /* its leased GPUs, "0,1", "" for none */
	const int *keep_fds;         /* the lease's lock descriptors: held while it runs */
	size_t nkeep;
	const char *cwd;     /* the repository root */
	const char *name;    /* unique per run, test and attempt: gpuci-PID-N-ATTEMPT */
	const char *run_id;  /* the run's (run_opts.run_id): docker's label gpuci.run */
	const char *run_dir; /* the run's folder (its logs): docker's --cidfile; NULL: cwd */
	int log_fd;          /* its stdout and stderr; the executor keeps its own copy */
	double kill_after;
	const sigset_t *mask; /* gpuci's signal mask from before run_suite */
	/* What the output passes through on its way to the log (struct proc_output). */
	void (*filter)(void *arg, const char *buf, size_t len, bool eof, struct strbuf *out);
	void *filter_arg;
	/* The secrets behind filter, for an executor that masks as it copies (NULL: none). */
	const struct report_mask *secrets;
};

enum run_exec_state {
	RUN_EXEC_QUEUED, /* a cluster's: submitted, not yet running (where() says why) */
	RUN_EXEC_RUNNING,
	RUN_EXEC_ENDING, /* its result is known; what it left is being ended */
	RUN_EXEC_DONE,   /* nothing of it is left */
};

struct run_exec_result {
	int status;                  /* wait status of the test's main process */
	unsigned left, killed;       /* processes it left behind, ended / needing SIGKILL */
	int log_errno;               /* why its log could not be written in full, or 0 */
	unsigned long long log_lost; /* bytes of output that did not reach it */
	bool timed_out;              /* the cluster ended it at its time limit */
	double started_at, ended_at; /* wall clock, as the cluster timed it; 0: gpuci's clock */
	char note[160];              /* what the cluster said about its end, or "" */
};

/* Where a placed attempt (a cluster's) is: why it waits, or where it runs. */
struct run_exec_place {
	bool ran;          /* it started on a node (it may have ended since) */
	char node[64];     /* where, or "" */
	char gpu_ids[128]; /* its GPUs as the node numbers them, "0,1"; "" none */
	char job[32];      /* the cluster's id of it, or "" */
	char why[128];     /* queued: why it waits ("Resources", "Priority") */
};

struct run_executor;

/* What sweep() is given. */
struct run_sweep {
	const char *run_id;
	const char *run_dir;  /* the run's folder (cidfiles), or NULL */
	char *const *env;     /* docker's environment (DOCKER_HOST); NULL: gpuci's */
	const sigset_t *mask; /* children's signal mask */
	double wait;          /* seconds to wait for creations a killed client left */
};

/* The handle of a started attempt; an executor's own data follows it. */
struct run_exec {
	const struct run_executor *ex;
	pid_t pid;         /* a child of gpuci to reap, or -1: none (a cluster job) */
	int fd;            /* readable when its state may have changed, or -1 */
	double poll_every; /* with neither: ask state() this often (seconds) */
};

struct run_executor {
	const char *name;
	bool places;          /* the cluster places attempts: no lease, QUEUED first (above) */
	const char *leftover; /* what sweep() removes: "container", "job" */
	int (*start)(const struct run_exec_job *job, struct run_exec **out, struct diag *d);
	void (*reaped)(struct run_exec *h, int wait_status);
	enum run_exec_state (*state)(struct run_exec *h);
	void (*signal)(struct run_exec *h, int sig);
	void (*stop_due)(struct run_exec *h);
	void (*kill)(struct run_exec *h);
	void (*result)(struct run_exec *h, struct run_exec_result *out);
	void (*release)(struct run_exec *h);
	/* Removes what of run s->run_id is left (above), *removed how many; NULL: none is. */
	int (*sweep)(const struct run_sweep *s, size_t *removed, struct diag *d);
	/* A placed attempt's place (NULL for executors that do not place). */
	void (*where)(struct run_exec *h, struct run_exec_place *out);
};

extern const struct run_executor run_exec_local;
extern const struct run_executor run_exec_docker;
extern const struct run_executor run_exec_slurm;

/*
 * What the Slurm executor would submit for test t (index in the suite) of
 * run run_id: the sbatch line and the script's lines after its header,
 * for --dry-run.
 */
void run_exec_slurm_describe(const struct run_test *t, size_t index, const char *run_id,
                             const char *cwd, const char *run_dir, struct strbuf *out);
/*
 * What sinfo says of partition (NULL: the default one): the GPUs of its
 * widest node (gres gpu) and its nodes. DIAG_USAGE for a partition that
 * is not there.
 */
int run_exec_slurm_probe(const char *partition, unsigned *gpus, unsigned *nodes, struct diag *d);
/* Whether `sbatch --test-only OPTS` takes opts (NULL-terminated); DIAG_USAGE with its words. */
int run_exec_slurm_check(char *const *opts, struct diag *d);

#endif
