/*
 * run: runs a suite of tests on this machine's GPUs, as many at once as
 * they allow, each under its own lease (lease/lease.h, the protocol of
 * `gpuci lock`, so other users of the machine are served fairly too).
 *
 * The order comes from sched/sched.h. Each test runs under a keeper of its
 * own (proc_keeper_start: a child subreaper, so every process the test
 * starts stays under it, double-forked and setsid() ones too), with stdout
 * and stderr in its log file, the GPU environment of gpu_env() (its leased
 * GPUs; CUDA_VISIBLE_DEVICES set and empty for a test of no GPU), and only
 * its own lease's lock descriptors. A test that passes --timeout is sent
 * SIGTERM, then SIGKILL after kill_after, all its processes; when a test
 * ends, whatever it left behind is ended the same way, and only then do its
 * GPUs go back (the result line says how many it left). While a test waits
 * for GPUs that someone else holds, a line says who (pid, command, since
 * when). A failure is retried up to `retries` times
 * (only when its log matches retry_on, if set); a pass after a failure is
 * flaky. A test's output reaches its log through its keeper, masked (the
 * --secret values); a log that cannot be written (a full disk) leaves the
 * test's result as it was and its result line and message say so, with
 * the log's path and why. SIGINT, SIGTERM or SIGHUP stop the run: nothing new starts, every
 * running group is killed, every lease released, and run_suite returns
 * with the signal.
 */
#ifndef GPUCI_RUN_RUN_H
#define GPUCI_RUN_RUN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "base/diag.h"
#include "report/mask.h"
#include "report/report.h"

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
	 * --name NAME OPTS [--gpus device=IDS] -v CWD:CWD -w CWD -e VAR...
	 * IMAGE bash -lc 'pip install -e . --no-deps && exec "$@"' bash ARGV`,
	 * OPTS being the job's container options without their --gpus, the
	 * -e names those of docker_env (values come from env).
	 */
	const char *docker_image;
	char **docker_opts; /* NULL-terminated */
	char **docker_env;  /* NULL-terminated variable names */
	/* What happened (filled by run_suite; free with run_test_release). */
	enum report_status status;
	unsigned attempts;
	int exit_code; /* -1: did not run */
	double started_at, duration;
	char *gpu_ids; /* "0,1" or "" */
	char *log_path;
	char *message; /* why it failed, one line */
	int log_errno; /* why its log could not be written in full, or 0 */
	/* Internal state of the run. */
	struct run_state *st;
};

enum run_style {
	RUN_STYLE_LINES,  /* a line per event */
	RUN_STYLE_TTY,    /* a live block of running tests, redrawn */
	RUN_STYLE_GITHUB, /* lines, each test's log in ::group::, ::error per failure */
};

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
	enum run_style style;
	FILE *out;
	/*
	 * The run's id: each test's environment has GPUCI_RUN_ID=run_id, by
	 * which run_recover() knows the processes of a run that crashed.
	 */
	const char *run_id;
	/* Secrets: masked in the logs as they are written (NULL: none). */
	const struct report_mask *mask;
	/* Called after every attempt (history). */
	void (*on_attempt)(void *arg, const struct run_test *t);
	void *arg;
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

#endif
