/*
 * run: runs a suite of tests on this machine's GPUs, as many at once as
 * they allow, each under its own lease (lease/lease.h, the protocol of
 * `gpuci lock`, so other users of the machine are served fairly too).
 *
 * The order comes from sched/sched.h. Each attempt runs through an
 * executor (run/executor.h; run_exec_local by default: a keeper of its own,
 * proc_keeper_start, a child subreaper, so every process the test starts
 * stays under it, double-forked and setsid() ones too), with stdout and
 * stderr in its log file, the GPU environment of gpu_env() (its leased
 * GPUs; CUDA_VISIBLE_DEVICES set and empty for a test of no GPU), and only
 * its own lease's lock descriptors. A test that passes --timeout is sent
 * SIGTERM, then SIGKILL after kill_after, all its processes; when a test
 * ends, whatever it left behind is ended the same way, and only then do its
 * GPUs go back (its END event says how many it left). While a test waits
 * for GPUs that someone else holds, a WAITING event says who (pid,
 * command, since when). A failure is retried up to `retries` times (only
 * when its log matches retry_on, if set); a pass after a failure is flaky.
 * A test's output reaches its log through its keeper, masked (the
 * --secret values); a log that cannot be written (a full disk) leaves the
 * test's result as it was and its message says so, with the log's path
 * and why. SIGINT, SIGTERM or SIGHUP stop the run: nothing new starts,
 * every running attempt is ended, every lease released, and run_suite
 * returns with the signal. run_suite prints nothing: what happens is told
 * to run_opts.on_event (struct run_event below).
 */
#ifndef GPUCI_RUN_RUN_H
#define GPUCI_RUN_RUN_H

#include <stdbool.h>
#include <stddef.h>

#include "base/diag.h"
#include "report/mask.h"
#include "report/report.h"

struct run_executor;

struct run_test {
	/* What to run (the caller's; not freed here). */
	const char *job;
	const char *test_file;
	const char *test_args;
	const char *identity; /* the whole entry (plan_entry_identity) */
	const char *variant;  /* what tells it from entries of the same file and args, or NULL */
	const char *display;  /* "test_file args [variant]", for people */
	char **argv;          /* NULL-terminated; argv[0] looked up in PATH */
	char **env;           /* NULL-terminated environment of the test */
	unsigned gpus;
	double expected; /* seconds */
	/*
	 * Docker mode (docker_image set): the test runs as `docker run --rm
	 * --init --name NAME --cidfile RUN_DIR/NAME.cid OPTS [--gpus
	 * "device=IDS"] -v CWD:CWD -w CWD -e VAR... IMAGE bash -lc 'set -e;
	 * SETUP; exec "$@"' bash ARGV`, OPTS being the container options
	 * without their --gpus, the -e names those of docker_env (values come
	 * from env), SETUP docker_setup's commands (NULL: `pip install -e .
	 * --no-deps`; an empty list: none).
	 */
	const char *docker_image;
	char **docker_opts;  /* NULL-terminated */
	char **docker_env;   /* NULL-terminated variable names */
	char **docker_setup; /* NULL-terminated, or NULL: the default (above) */
	/* Where the image and each option came from ("file:line:col"), or NULL. */
	const char *docker_image_from;
	char **docker_opts_from; /* parallel to docker_opts, or NULL */
	/*
	 * Slurm mode (run_exec_slurm): its sbatch options (--partition, the
	 * --slurm-opt ones; NULL-terminated, or NULL) and its time limit in
	 * whole minutes (sbatch --time; 0: the partition's default).
	 */
	char **slurm_opts;
	unsigned time_limit;
	/* What happened (filled by run_suite; free with run_test_release). */
	enum report_status status;
	unsigned attempts;
	int exit_code; /* -1: did not run */
	double started_at, duration;
	char *gpu_ids; /* "0,1" or "" */
	char *node;    /* where it ran, for a cluster's executor; else NULL */
	char *log_path;
	char *message; /* why it failed, one line */
	int log_errno; /* why its log could not be written in full, or 0 */
	/* Internal state of the run. */
	struct run_state *st;
};

/*
 * What run_suite() tells its caller as it goes (run_opts.on_event), in the
 * order it happens. The library prints nothing: the terminal lines, the
 * live block, GitHub groups and annotations are the cli's (cli/run_view.c).
 *
 * For each test, one of:
 *   SKIPPED FINISHED                      not runnable here (too many GPUs)
 *   [WAITING|BUSY...] STARTED [OUTPUT...] END  an attempt, END being PASSED,
 *                                         FAILED, TIMED_OUT or CANCELED
 *   then RETRIED and another attempt, or FINISHED (its last result).
 * An attempt that never started (its GPUs could not be had, or the run
 * stopped while it waited) is an END with ran false and no STARTED; a
 * test the stop left queued has only its FINISHED (ran false), before DONE.
 * Around them: BEGIN first, DONE last, STOPPING when a signal stops the
 * run, IDLE each time the loop is about to wait (a moment to redraw), and
 * WARNING when lock files were deleted under a running test.
 *
 * OUTPUT is "its log grew", not a line: the log is written by the test's
 * keeper, another process, so the supervisor never holds the bytes; a
 * line per event would mean a second copy of every byte through a pipe to
 * the supervisor. Its size is looked at (stat) when the loop wakes, at
 * most every RUN_OUTPUT_EVERY seconds per test; a listener that wants the
 * lines reads the log from the size it last saw.
 */
enum run_event_kind {
	RUN_EV_BEGIN,   /* before anything: n tests */
	RUN_EV_SKIPPED, /* text: why (needs N GPUs; this machine has M) */
	RUN_EV_WAITING, /* its GPUs are held or asked for by others, or its cluster job is
	                   queued: text says who or why */
	RUN_EV_BUSY, /* text: a GPU won is busy (NVML), waited for; serious: still busy, handed out
	                anyway (--busy=warn) */
	RUN_EV_STARTED,   /* attempt, gpu_ids */
	RUN_EV_OUTPUT,    /* its log grew: log_size bytes now */
	RUN_EV_PASSED,    /* END: status PASSED, or FLAKY after a failure */
	RUN_EV_FAILED,    /* END: status FAILED or CRASHED, or (not started) no GPUs */
	RUN_EV_TIMED_OUT, /* END: ran past run_opts.timeout, ended */
	RUN_EV_CANCELED,  /* END: the run was stopped */
	RUN_EV_RETRIED,   /* the failure runs again (the next attempt is queued) */
	RUN_EV_FINISHED,  /* the test's result is final */
	RUN_EV_WARNING,   /* text: lock files deleted under it; serious: its GPUs were not safe */
	RUN_EV_STOPPING,  /* signal: nothing new starts, everything running is ended */
	RUN_EV_IDLE,      /* the loop is about to wait */
	RUN_EV_DONE,      /* the run is over */
};

#define RUN_OUTPUT_EVERY 0.5

struct run_event {
	enum run_event_kind kind;
	const struct run_test *test; /* NULL for BEGIN, STOPPING, IDLE, DONE */
	size_t index;                /* of test in the suite */
	size_t n;                    /* BEGIN: how many tests */
	unsigned attempt;            /* from 1 */
	const char *gpu_ids;         /* "0,1", "" for none */
	const char *node;            /* STARTED on a cluster: where; else NULL */
	double now;                  /* CLOCK_MONOTONIC seconds */
	double started;              /* the attempt's start (same clock), 0 if it did not */
	double duration;             /* END: the attempt's */
	bool ran;                    /* END, FINISHED: the (last) attempt started */
	bool retrying;               /* END: RETRIED follows */
	unsigned left, killed;       /* END: processes left behind, ended / needing SIGKILL */
	unsigned long long log_size; /* OUTPUT */
	const char *text;            /* SKIPPED, WAITING, BUSY, WARNING, FAILED not started */
	bool serious;                /* WARNING, BUSY */
	int signal;                  /* STOPPING */
};

/* Whether kind ends an attempt (PASSED, FAILED, TIMED_OUT, CANCELED). */
bool run_event_ends_attempt(enum run_event_kind kind);

struct run_opts {
	const char *cwd;     /* the repository root: the tests' working directory */
	const char *log_dir; /* made when missing; logs are <n>-<test>.log */
	unsigned total_gpus;
	unsigned cpu_jobs;        /* CPU-only tests at once */
	const char *lock_pattern; /* lease lock files */
	double timeout;           /* per attempt; 0: none */
	unsigned retries;
	const char *retry_on; /* POSIX extended regex matched on the log, or NULL */
	double kill_after;
	/*
	 * The run's id: each test's environment has GPUCI_RUN_ID=run_id, by
	 * which run_recover() knows the processes of a run that crashed.
	 */
	const char *run_id;
	/* Secrets: masked in the logs as they are written (NULL: none). */
	const struct report_mask *mask;
	/* What runs each test (run/executor.h); NULL: run_exec_local. */
	const struct run_executor *executor;
	/* Told everything above (NULL: nobody listens); IDLE at least every idle_every s (0: 5). */
	void (*on_event)(void *arg, const struct run_event *ev);
	void *arg;
	double idle_every;
	/*
	 * GPU readiness (lease_spec's fields of the same names): with nvml (the
	 * caller's, gpu_nvml_open(); used by the one thread that waits for GPUs)
	 * and wait_idle > 0, a test's GPUs are handed out once NVML shows them
	 * idle, waited for up to wait_idle s (BUSY events say who holds them);
	 * still busy: the attempt fails, naming the pids, or with busy_warn it
	 * runs with a BUSY event (serious). NULL or 0: no check.
	 */
	struct gpu_nvml *nvml;
	double wait_idle;
	unsigned long long idle_bytes;
	bool busy_warn;
};

/*
 * Runs tests[0..n). Returns 0 when the run is over (each test has its
 * status; those not started are canceled or not runnable), with *stopped
 * set to the signal that stopped it, or 0. -1 only when it could not run
 * at all (a bad regex, the log folder, signals).
 */
int run_suite(const struct run_opts *o, struct run_test *tests, size_t n, int *stopped,
              struct diag *d);
void run_test_release(struct run_test *t);

/* The log of attempt (from 1) of test i: LOG_DIR/<i+1>-<file name less .py>[.attemptN].log. */
char *run_log_path(const char *log_dir, size_t i, const char *test_file, unsigned attempt);

#endif
