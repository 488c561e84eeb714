/*
 * run_util: the parts of `gpuci run` (cmd_run.c) around the run itself:
 * the folders and files it writes, checked before anything runs; masking
 * the cases of the reports; what a crashed run left. Private to src/cli.
 */
#ifndef GPUCI_CLI_RUN_UTIL_H
#define GPUCI_CLI_RUN_UTIL_H

#include <stdbool.h>

#include "base/arena.h"
#include "base/diag.h"
#include "cli/cli.h"
#include "report/mask.h"
#include "report/report.h"
#include "run/prepare.h"
#include "run/run.h"

/* mkdir that says which folder could not be made and why (there already: fine). */
int run_make_dir(const char *path, struct diag *d);
/* run_make_dir for path and every missing folder above it. */
int run_make_dirs(const char *path, struct diag *d);
/* Whether a report can be written at path (report_junit_write's temporary file). */
int run_check_writable(const char *path, struct diag *d);
/* The report's case of t, as it stands (its strings t's). */
struct report_case run_case_of(const struct run_test *t);
/* Every string of c masked, copied into a. */
void run_mask_case(struct report_case *c, const struct report_mask *m, struct arena *a);
/* Ends what crashed runs recorded in dir left (run/recover.h); says so on ctx->err. */
void run_recover_crashed(struct gpuci_ctx *ctx, const char *dir, double kill_after);

/* ---- the phases of `gpuci run`, in the order cmd_run.c calls them ---- */

struct history;
struct run_view;

/* The options of gpuci run (cmd_run.c's table fills them). */
struct run_cli_opts {
	const char *workflow, *python, *junit, *history, *pattern, *retry_on;
	const char *base, *head, *docker, *docker_setup, *log_dir;
	struct cli_list labels, jobs, tests, secrets, docker_opts;
	bool no_always, changed, all, dry_run;
	/* --slurm [--partition P] [--slurm-opt ARG]... (run_slurm.c) */
	bool slurm;
	const char *partition;
	struct cli_list slurm_opts;
	unsigned gpus, cpu_jobs, retries, keep_days;
	bool gpus_seen, cpu_seen;
	const char *shard; /* --shard K/N[@DIGEST] (cli/run_shard.h), or NULL */
	double timeout, kill_after;
	/* GPU readiness, as gpuci lock's: --wait-idle S, --idle-mem MIB, --busy fail|warn. */
	double wait_idle;
	unsigned idle_mem;
	const char *busy;
};

/* A run's state between the phases; run_cmd_release frees it. */
struct run_cmd {
	const char *name;      /* the command errors name: NULL for "run" (gpuci plan --shards) */
	struct gpuci_ctx *ctx; /* masked when there are secrets */
	const struct run_cli_opts *o;
	const struct report_mask *mask; /* the --secret values */
	struct diag d;
	struct wf *w;
	struct plan *p;           /* NULL until planned */
	struct run_prepared prep; /* the tests (run/prepare.h) */
	struct arena a;
	char *root, *log_dir, *history_path;
	char *lock_dir; /* run_record_dir(): the lock files' folder */
	struct history *hist;
	unsigned total, cpu; /* GPUs, CPU-only tests at once */
	double all_median;
	bool have_all;
	size_t guessed; /* tests without a history */
	char run_id[64];
	const char *summary;       /* $GITHUB_STEP_SUMMARY */
	char machine[160];         /* where it runs, when not this machine ("Slurm ..."), or "" */
	char **slurm_opts;         /* each job's sbatch options (--partition, --slurm-opt) */
	struct run_report *report; /* run_report.c's, from run_report_begin */
};

/*
 * Each returns EXIT_OK to go on, else the exit status (what went wrong
 * printed): the options that go together and their values; the workflow, its plan and the tests
 * (run_prepare); the machine and the expected durations (the history); what the run writes
 * (--junit, the summary, the log folder), checked before anything runs;
 * the results (the table, JUnit, the summary) and the run's exit status.
 */
int run_cmd_check(struct run_cmd *c);
int run_cmd_select(struct run_cmd *c);
int run_cmd_machine(struct run_cmd *c);
/*
 * The expected durations (run_test.expected), as run_cmd_machine fills them
 * and gpuci plan --shards too: the test's median in the history, else the
 * median of all, else 60 s x (GPUs + 1). Opens the history (not made when
 * missing under --dry-run); a history that cannot be read is a warning.
 */
void run_cmd_expected(struct run_cmd *c);
void run_cmd_dry_run(struct run_cmd *c);
int run_cmd_outputs(struct run_cmd *c);
int run_cmd_results(struct run_cmd *c, int stopped);
void run_cmd_release(struct run_cmd *c);

/*
 * gpuci run --slurm (run_slurm.c): its options (from run_cmd_check); the
 * cluster's widest node as c->total and the jobs' options checked by
 * sbatch --test-only (from run_cmd_machine); each test's time limit
 * (history p90) and options; a test's sbatch line for --dry-run.
 */
int run_slurm_check(struct run_cmd *c);
int run_slurm_machine(struct run_cmd *c);
void run_slurm_limits(struct run_cmd *c);
void run_slurm_dry_run(struct run_cmd *c, size_t i);

/*
 * The run's report (run_report.c): run_report_begin once the tests and
 * the run's folder are known (the run's start; RUN-DIR/run.tsv written for
 * `gpuci report`); run_report_attempt for each attempt that ran (test: its
 * index in c->prep.tests); run_report_cases with the results' cases (kept
 * until run_report_write); run_report_summary fits the step summary's
 * Markdown md and the timeline's Mermaid block into room bytes;
 * run_report_write writes run.tsv again and RUN-DIR/report.html, and says
 * `report: PATH`.
 */
#define RUN_REPORT_TAIL_LINES 40
void run_report_begin(struct run_cmd *c);
void run_report_attempt(struct run_cmd *c, size_t test, const struct run_test *t);
void run_report_cases(struct run_cmd *c, const struct report_case *cases);
void run_report_summary(struct run_cmd *c, struct strbuf *md, size_t room);
int run_report_write(struct run_cmd *c);
void run_report_free(struct run_cmd *c);

/* What hears the run's events: the history, then the view (run_opts.on_event). */
struct run_listener {
	struct run_cmd *c;
	struct run_view *view;
	const size_t *map; /* the run's tests (ev->index) to c->prep.tests */
	bool said_locked;
	double last_flush; /* CLOCK_MONOTONIC seconds of the last write, 0: none yet */
};
void run_cmd_on_event(void *listener, const struct run_event *ev);

#endif
