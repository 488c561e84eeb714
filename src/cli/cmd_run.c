/*
 * gpuci run: a label's suite (or the changed tests, or everything) on this
 * machine, exactly as CI runs it, packed onto its GPUs.
 */
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <limits.h>
#include <regex.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/run_util.h"
#include "cli/run_view.h"
#include "db/history.h"
#include "gha/expr.h"
#include "gpu/gpu.h"
#include "lease/lease.h"
#include "plan/plan.h"
#include "report/mask.h"
#include "report/report.h"
#include "run/executor.h"
#include "run/prepare.h"
#include "run/recover.h"
#include "run/run.h"
#include "sched/sched.h"
#include "vcs/changed.h"
#include "wf/model.h"
#include "base/fs.h"
#include "base/xalloc.h"
#include "base/banned.h"

extern char **environ;

#define DEFAULT_WORKFLOW ".github/workflows/pr-test.yml"

static const char run_usage[] =
    "usage: gpuci run (--label L... | --changed | --all | --job NAME...) [--test GLOB]...\n"
    "                 [--gpus N] [--cpu-jobs N] [--timeout S] [--retries K [--retry-on RE]]\n"
    "                 [--junit FILE] [--history PATH] [--dry-run] [options]\n";

static const char run_description[] =
    "Runs the tests a workflow would run, on this machine, as its Execute step\n"
    "runs them: for each matrix entry with a test_file, `python tests/<test_file>\n"
    "<test_args>` (no tests/ added when the path has it; test_args split on\n"
    "whitespace, no quotes), from the repository root, with the job's env:\n"
    "evaluated for that entry (secrets empty unless --secret NAME passes one on),\n"
    "under a lease of num_gpus GPUs (the protocol of gpuci lock: runners and\n"
    "gpuci lock users on the machine are served fairly), CUDA_VISIBLE_DEVICES\n"
    "naming them and CUDA_DEVICE_ORDER=PCI_BUS_ID, as gpuci lock sets them.\n"
    "num_gpus 0 runs without a lease, with CUDA_VISIBLE_DEVICES set and empty\n"
    "(it sees no GPU). While a test waits for GPUs someone else holds, a WAIT\n"
    "line says who (pid, command, for how long).\n"
    "\n"
    "Selection: --label L (the jobs a pull request with these labels runs, the\n"
    "always-on ones too unless --no-always), --changed (the changed-tests job,\n"
    "from git), --all (a workflow_dispatch), --job NAME; --test GLOB narrows.\n"
    "\n"
    "Scheduling: as many tests at once as the GPUs allow (CPU-only tests up to\n"
    "--cpu-jobs), longest expected first, expected = the median of the test's\n"
    "past durations in the history; a wide test that waits gets GPUs reserved.\n"
    "--gpus N simulates a machine of N GPUs (GPUCI_TOTAL_GPUS gives the count\n"
    "only where NVML and /proc/driver/nvidia/gpus find no GPU).\n"
    "\n"
    "Each test's output goes to .gpuci/runs/RUN-ID/N-TEST.log (or --log-dir DIR;\n"
    "a log that cannot be written is reported, the test's result kept); a\n"
    "summary table ends the run; results go to the history (.gpuci/history.db,\n"
    "see gpuci history), to --junit FILE (checked before anything runs), and to\n"
    "$GITHUB_STEP_SUMMARY when set. --secret values are masked (***) in all of\n"
    "them and in what gpuci prints (::add-mask:: first under GitHub Actions).\n"
    "A test owns every process it starts, double-forked or setsid() ones too:\n"
    "when it exits, what it left behind gets SIGTERM, then SIGKILL after\n"
    "--kill-after S, its result line says how many, and its GPUs go back only\n"
    "then. --timeout S ends a test the same way after S seconds; --retries K reruns\n"
    "a failure (only when its log matches --retry-on RE); a pass after a failure\n"
    "is flaky. Ctrl-C stops everything, kills every test and frees every GPU.\n"
    "A run killed with its keepers (SIGKILL) leaves its tests running: the next\n"
    "run on the same lock files ends them first and says which.\n"
    "\n"
    "Exit status: 0 every test passed (flaky ones too); 1 a test failed or could\n"
    "not run; 2 usage; 130/143 stopped by SIGINT/SIGTERM.\n"
    "\n"
    "Examples:\n"
    "  gpuci run --label run-ci-short --dry-run\n"
    "  gpuci run --label run-ci-short --gpus 8\n"
    "  gpuci run --changed --base main\n"
    "  gpuci run --all --test 'test_qwen*' --retries 1 --retry-on 'accuracy noise'\n";

struct opts {
	const char *workflow, *python, *junit, *history, *pattern, *retry_on;
	const char *base, *head, *docker, *log_dir;
	struct cli_list labels, jobs, tests, secrets;
	bool no_always, changed, all, dry_run;
	unsigned gpus, cpu_jobs, retries;
	bool gpus_seen, cpu_seen;
	double timeout, kill_after;
};

/* The repository root: above .github/workflows/ of the workflow, else here. */
static char *repo_root(const char *workflow)
{
	char *real = realpath(workflow, NULL);
	if (real) {
		char *s = strstr(real, "/.github/workflows/");
		if (s) {
			*s = 0;
			return real;
		}
		free(real);
	}
	char cwd[PATH_MAX];
	return xstrdup(getcwd(cwd, sizeof(cwd)) ? cwd : ".");
}

/*
 * Keeps .gpuci/ (logs, history) out of version control without the user
 * editing .gitignore: a .gitignore of its own that ignores everything, as
 * tools with a cache folder do. One the user wrote is left alone.
 */
static void ignore_dir(const char *dir)
{
	static const char text[] = "# gpuci run's logs and history: not for version control\n*\n";
	struct strbuf p = STRBUF_INIT;
	struct diag d = DIAG_INIT;
	strbuf_addf(&p, "%s/.gitignore", dir);
	(void)fs_create_new(p.buf, text, sizeof(text) - 1, &d); /* there already: kept */
	diag_release(&d);
	strbuf_release(&p);
}

/*
 * How long a run waits for a history another process holds locked: at the
 * start, to read the medians (then it runs without them); after each
 * result, not at all (the result stays queued); at the end, for what is
 * still queued (then it is saved in the run's folder).
 */
#define HISTORY_OPEN_WAIT_MS  500
#define HISTORY_FINAL_WAIT_MS 2000

/* What on_attempt() records into. */
struct history_sink {
	struct history *h;
	const char *run_id;
	bool said_locked;
	double last_flush; /* CLOCK_MONOTONIC seconds of the last write, 0: none yet */
};

/*
 * Results are written together, at most every HISTORY_FLUSH_S (and at the
 * end): one transaction per result cost 0.5 ms each, a quarter of what a
 * short test costs gpuci. A crash loses at most that much of the record.
 */
#define HISTORY_FLUSH_S   0.25
#define HISTORY_FLUSH_MAX 256

static double sink_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void on_attempt(void *arg, const struct run_test *t)
{
	struct history_sink *sink = arg;
	struct history *h = sink->h;
	const char *run_id = sink->run_id;
	if (!h)
		return;
	struct history_result r = {
	    .run_id = run_id,
	    .job = t->job,
	    .test_file = t->test_file,
	    .test_args = t->test_args,
	    .gpus = t->gpus,
	    .gpu_ids = t->gpu_ids,
	    .status = report_status_name(t->status),
	    .attempt = t->attempts,
	    .exit_code = t->exit_code,
	    .started_at = t->started_at,
	    .duration = t->duration,
	    .log_path = t->log_path,
	    .identity = t->identity,
	    .variant = t->variant,
	};
	struct diag d = DIAG_INIT;
	if (history_queue(h, &r, &d) < 0) {
		fprintf(stderr, "gpuci run: warning: history: %s\n", d.msg.buf);
		diag_release(&d);
		return;
	}
	double now = sink_now();
	if (sink->last_flush && now - sink->last_flush < HISTORY_FLUSH_S &&
	    history_pending(h) < HISTORY_FLUSH_MAX) {
		diag_release(&d);
		return; /* written with the next ones, or by history_finish() */
	}
	sink->last_flush = now;
	/* Never waits: a locked history keeps the result queued for the next try. */
	if (history_flush(h, 0, &d) < 0)
		fprintf(stderr, "gpuci run: warning: history: %s\n", d.msg.buf);
	else if (history_pending(h) && !sink->said_locked)
		fprintf(stderr,
		        "gpuci run: warning: history: another process holds it locked; results "
		        "are kept and written when it is free\n");
	sink->said_locked |= history_pending(h) > 0;
	diag_release(&d);
}

/* What hears the run's events: the history, then the view. */
struct run_listener {
	struct history_sink *sink;
	struct run_view *view;
};

static void on_event(void *arg, const struct run_event *ev)
{
	struct run_listener *l = arg;
	if (run_event_ends_attempt(ev->kind) && ev->ran)
		on_attempt(l->sink, ev->test);
	run_view_event(l->view, ev);
}

/*
 * The end of a run's history: what is still queued, written with a bounded
 * wait, else saved in the run's folder (and said where); then the
 * retention, now and then.
 */
static void history_finish(struct gpuci_ctx *ctx, struct history *h, const char *log_dir,
                           unsigned keep_days)
{
	struct diag d = DIAG_INIT;
	if (history_pending(h) && history_flush(h, HISTORY_FINAL_WAIT_MS, &d) < 0) {
		fprintf(ctx->err, "gpuci run: warning: history: %s\n", d.msg.buf);
		diag_release(&d);
		diag_init(&d);
	}
	size_t left = history_pending(h), saved = 0;
	if (left) {
		struct strbuf p = STRBUF_INIT;
		strbuf_addf(&p, "%s/history-unsaved.db", log_dir);
		if (history_save_pending(h, p.buf, &saved, &d) == 0)
			fprintf(
			    ctx->err,
			    "gpuci run: warning: history: %zu result%s could not be written (the "
			    "history was locked); saved in %s: load %s with `gpuci history "
			    "--import %s`\n",
			    saved, saved == 1 ? "" : "s", p.buf, saved == 1 ? "it" : "them", p.buf);
		else
			fprintf(ctx->err,
			        "gpuci run: warning: history: %zu result%s lost: the history was "
			        "locked, and %s\n",
			        left, left == 1 ? "" : "s", d.msg.buf);
		strbuf_release(&p);
		diag_release(&d);
		return;
	}
	struct history_pruned pr;
	if (history_prune_now_and_then(h, keep_days, (double)time(NULL), &pr, &d) < 0)
		fprintf(ctx->err, "gpuci run: warning: history: %s\n", d.msg.buf);
	diag_release(&d);
}

/* A duration for people ("1.2 s", "3 min 04 s"), as the reports write it. */
static void human_secs(double s, char *buf, size_t n)
{
	struct strbuf sb = STRBUF_INIT;
	report_add_duration(&sb, s);
	snprintf(buf, n, "%s", sb.buf ? sb.buf : "");
	strbuf_release(&sb);
}

int cmd_run(int argc, char **argv, struct gpuci_ctx *ctx)
{
	struct opts o = {
	    .workflow = DEFAULT_WORKFLOW, .pattern = LEASE_DEFAULT_PATTERN, .kill_after = 10};
	unsigned keep_days = HISTORY_KEEP_DAYS_DEFAULT;
	const struct cli_option opts[] = {
	    {"workflow", 'w', CLI_OPT_STRING, &o.workflow, "FILE",
	     "the workflow (default " DEFAULT_WORKFLOW ")", NULL},
	    {"label", 'l', CLI_OPT_LIST, &o.labels, "L",
	     "run what a PR with label L runs (repeatable)", NULL},
	    {"no-always", 0, CLI_OPT_FLAG, &o.no_always, NULL, "leave the always-on jobs out",
	     NULL},
	    {"changed", 0, CLI_OPT_FLAG, &o.changed, NULL,
	     "run the tests this branch adds or changes", NULL},
	    {"base", 0, CLI_OPT_STRING, &o.base, "REV", "with --changed: the base (origin/main)",
	     NULL},
	    {"head", 0, CLI_OPT_STRING, &o.head, "REV", "with --changed: the head (HEAD)", NULL},
	    {"all", 0, CLI_OPT_FLAG, &o.all, NULL, "run every job (a workflow_dispatch)", NULL},
	    {"job", 'j', CLI_OPT_LIST, &o.jobs, "NAME", "only this job (repeatable)", NULL},
	    {"test", 't', CLI_OPT_LIST, &o.tests, "GLOB", "only matching test files (repeatable)",
	     NULL},
	    {"dry-run", 'n', CLI_OPT_FLAG, &o.dry_run, NULL, "print what would run, run nothing",
	     NULL},
	    {"gpus", 0, CLI_OPT_UINT, &o.gpus, "N", "simulate a machine of N GPUs", &o.gpus_seen},
	    {"cpu-jobs", 0, CLI_OPT_UINT, &o.cpu_jobs, "N", "CPU-only tests at once (cores)",
	     &o.cpu_seen},
	    {"timeout", 0, CLI_OPT_SECS, &o.timeout, "S", "kill a test after S seconds", NULL},
	    {"retries", 0, CLI_OPT_UINT, &o.retries, "K", "rerun a failed test up to K times",
	     NULL},
	    {"retry-on", 0, CLI_OPT_STRING, &o.retry_on, "RE",
	     "retry only failures whose log matches RE", NULL},
	    {"kill-after", 0, CLI_OPT_SECS, &o.kill_after, "S",
	     "SIGTERM to SIGKILL for a test's leftovers (10)", NULL},
	    {"python", 0, CLI_OPT_STRING, &o.python, "PATH",
	     "the interpreter (python, else python3)", NULL},
	    {"secret", 0, CLI_OPT_LIST, &o.secrets, "NAME", "pass this secret from the environment",
	     NULL},
	    {"docker", 0, CLI_OPT_STRING, &o.docker, "IMAGE",
	     "run each test in IMAGE (job: the job's container image)", NULL},
	    {"junit", 0, CLI_OPT_STRING, &o.junit, "FILE", "write JUnit XML", NULL},
	    {"log-dir", 0, CLI_OPT_STRING, &o.log_dir, "DIR",
	     "the tests' logs go here (.gpuci/runs/RUN-ID)", NULL},
	    {"history", 0, CLI_OPT_STRING, &o.history, "PATH",
	     "the history database (.gpuci/history.db)", NULL},
	    {"history-keep-days", 0, CLI_OPT_UINT, &keep_days, "N",
	     "prune attempts older than N days now and then (90; 0 keeps all)", NULL},
	    {"lock-path-pattern", 0, CLI_OPT_STRING, &o.pattern, "P",
	     "lock files, {gpu_id} replaced (default " LEASE_DEFAULT_PATTERN ")", NULL},
	    {0},
	};
	struct diag d = DIAG_INIT;
	int rest, rc = EXIT_OK;
	bool help;
	struct wf *w = NULL;
	struct plan p = {0};
	struct arena a = ARENA_INIT;
	struct run_test *tests = NULL;
	size_t nt = 0;
	struct history *hist = NULL;
	char *root = NULL, *log_dir = NULL, *history_path = NULL;
	struct run_prepared prep = {
	    .not_run = STRBUF_INIT, .arena = ARENA_INIT, .envs = STRBUF_INIT};
	bool planned = false;
	struct report_mask *mask = report_mask_new();
	struct run_record *record = NULL;
	struct gpuci_ctx mctx;
	FILE *tty_out = ctx->out, *masked_out = NULL, *masked_err = NULL;

	if (cli_parse(argc, argv, opts, false, &rest, &help, &d) < 0) {
		rc = cli_usage_error(ctx, "run", &d);
		goto out;
	}
	if (help) {
		fprintf(ctx->out, "%s\n%s\nOptions:\n", run_usage, run_description);
		cli_print_options(ctx->out, opts);
		goto out;
	}
	/*
	 * Secrets first: under GitHub Actions the runner learns them before
	 * anything else is printed, and all gpuci writes from here is masked.
	 */
	for (size_t i = 0; i < o.secrets.n; i++)
		report_mask_add(mask, getenv(o.secrets.items[i]));
	if (report_mask_count(mask)) {
		if (report_in_github_actions())
			report_gh_add_mask(ctx->out, mask);
		masked_out = report_mask_file(mask, ctx->out);
		masked_err = report_mask_file(mask, ctx->err);
		mctx = *ctx;
		if (masked_out)
			mctx.out = masked_out;
		if (masked_err)
			mctx.err = masked_err;
		ctx = &mctx;
	}
	int modes = (o.labels.n > 0) + o.changed + o.all;
	if (modes > 1 || (!modes && !o.jobs.n)) {
		diag_set(&d, DIAG_USAGE,
		         modes ? "--label, --changed and --all: one at a time"
		               : "say what to run: --label L, --changed, --all or --job NAME");
		rc = cli_usage_error(ctx, "run", &d);
		goto out;
	}
	if (o.retry_on && !o.retries) {
		diag_set(&d, DIAG_USAGE,
		         "--retry-on says which failures to retry: give --retries K");
		rc = cli_usage_error(ctx, "run", &d);
		goto out;
	}
	if (o.retry_on) { /* a bad pattern is a usage error, --dry-run or not */
		regex_t re;
		int e = regcomp(&re, o.retry_on, REG_EXTENDED | REG_NOSUB | REG_NEWLINE);
		if (e) {
			char buf[256];
			regerror(e, &re, buf, sizeof(buf));
			diag_set(&d, DIAG_USAGE, "--retry-on '%s': %s", o.retry_on, buf);
			rc = cli_usage_error(ctx, "run", &d);
			goto out;
		}
		regfree(&re);
	}
	if (lease_check_pattern(o.pattern, &d) < 0) {
		rc = cli_usage_error(ctx, "run", &d);
		goto out;
	}
	if (wf_load(o.workflow, &w, &d) < 0) {
		cli_error(ctx, "run", &d);
		rc = EXIT_FAILED;
		goto out;
	}
	root = repo_root(o.workflow);

	/* Selection: a plan of the event, then the jobs asked for. */
	/*
	 * With labels, a detect job that runs (run-ci-changed) gets its outputs
	 * computed from git, as with --changed: only when it runs.
	 */
	struct plan_opts po = {.event = o.all ? "workflow_dispatch" : "pull_request",
	                       .labels = o.labels.items,
	                       .nlabels = o.labels.n,
	                       .mark_always = o.no_always,
	                       .changed = o.changed || o.labels.n,
	                       .changed_opts = {.base = o.base, .head = o.head, .repo = root}};
	struct plan_catalogue cat = {0};
	bool have_cat = false;
	if (o.changed || (!o.labels.n && !o.all)) {
		/* Every label on, so the changed-tests job (or any --job) can run. */
		if (plan_catalogue(w, &cat, &d) < 0) {
			cli_error(ctx, "run", &d);
			rc = EXIT_FAILED;
			goto out;
		}
		have_cat = true;
		const char **all = arena_alloc(&a, (cat.nlabels + 1) * sizeof(*all));
		for (size_t i = 0; i < cat.nlabels; i++)
			all[i] = cat.labels[i].label;
		po.labels = all;
		po.nlabels = cat.nlabels;
	}
	int prc = plan_make(w, &po, &p, &d);
	planned = true;
	if (have_cat)
		plan_catalogue_release(&cat);
	if (prc < 0) {
		if (d.code == DIAG_USAGE)
			rc = cli_usage_error(ctx, "run", &d);
		else {
			cli_error(ctx, "run", &d);
			rc = EXIT_FAILED;
		}
		if (p.changed_tried && !o.changed)
			fprintf(
			    ctx->err,
			    "gpuci run: a job of these labels runs the tests this branch "
			    "changes, found from git as gpuci changed finds them: give the "
			    "base (--base REV, default origin/main), or leave that label out\n");
		goto out;
	}
	if (p.changed_done)
		for (size_t i = 0; i < p.changed.nwarnings; i++)
			fprintf(ctx->err, "gpuci run: warning: %s\n", p.changed.warnings[i]);

	struct run_prepare_opts pro = {
	    .root = root,
	    .jobs = (const char *const *)o.jobs.items,
	    .njobs = o.jobs.n,
	    .tests = (const char *const *)o.tests.items,
	    .ntests = o.tests.n,
	    .changed = o.changed,
	    .python = o.python,
	    .docker = o.docker,
	    .secrets = (const char *const *)o.secrets.items,
	    .nsecrets = o.secrets.n,
	};
	if (run_prepare(&prep, w, &p, &pro, &d) < 0) {
		cli_error(ctx, "run", &d);
		rc = EXIT_FAILED;
		goto out;
	}
	tests = prep.tests;
	nt = prep.n;

	/* The machine. */
	unsigned total = o.gpus;
	if (!o.gpus_seen) {
		struct gpu_probe probe;
		gpu_probe_default(&probe);
		enum gpu_source src;
		if (gpu_count(&total, &src, &probe, &d) < 0) {
			cli_error(ctx, "run", &d);
			rc = EXIT_FAILED;
			goto out;
		}
	}
	unsigned cpu = o.cpu_seen ? o.cpu_jobs : (unsigned)sysconf(_SC_NPROCESSORS_ONLN);

	/* Expected durations: history, else the median of all, else by GPUs. */
	if (o.history)
		history_path = xstrdup(o.history);
	else {
		struct strbuf hp = STRBUF_INIT;
		strbuf_addf(&hp, "%s/" HISTORY_DEFAULT_PATH, root);
		history_path = strbuf_detach(&hp, NULL);
	}
	if (!o.dry_run || access(history_path, R_OK) == 0) {
		if (history_open_wait(&hist, history_path, HISTORY_OPEN_WAIT_MS, &d) < 0) {
			fprintf(ctx->err, "gpuci run: warning: running without history: %s\n",
			        d.msg.buf);
			diag_release(&d);
			diag_init(&d);
			hist = NULL;
		}
	}
	double all_median = 0;
	bool have_all = false;
	size_t guessed = 0;
	if (hist && history_median_all(hist, &all_median, &have_all, &d) < 0) {
		fprintf(ctx->err, "gpuci run: warning: running without history: %s\n", d.msg.buf);
		diag_release(&d);
		diag_init(&d);
		history_close(hist);
		hist = NULL;
		have_all = false;
	}
	for (size_t i = 0; i < nt; i++) {
		double m = 0;
		bool found = false;
		/* A history that stops answering (locked) is not asked again. */
		if (hist && history_median(hist, tests[i].identity, tests[i].test_file,
		                           tests[i].test_args, &m, &found, &d) < 0) {
			fprintf(ctx->err, "gpuci run: warning: running without history: %s\n",
			        d.msg.buf);
			diag_release(&d);
			diag_init(&d);
			history_close(hist);
			hist = NULL;
			found = false;
		}
		tests[i].expected = found ? m : have_all ? all_median : 60.0 * (tests[i].gpus + 1);
		guessed += !found;
	}

	if (!nt) {
		fprintf(ctx->err,
		        "gpuci run: nothing to run: no selected job has a test_file entry\n");
		if (prep.not_run.len)
			fprintf(ctx->err, "%s", prep.not_run.buf);
		rc = EXIT_FAILED;
		goto out;
	}
	if (o.dry_run) {
		unsigned gpus_total = 0;
		fprintf(ctx->out, "%zu test%s on %u GPU%s (%s):\n", nt, nt == 1 ? "" : "s", total,
		        total == 1 ? "" : "s", o.workflow);
		for (size_t i = 0; i < nt; i++) {
			char e[32];
			human_secs(tests[i].expected, e, sizeof(e));
			const char *state = tests[i].status == REPORT_NOT_RUNNABLE ? "  (refused)"
			                    : tests[i].gpus > total ? "  (not runnable here)"
			                                            : "";
			fprintf(ctx->out, "  %-22s %-50s %2u GPU%s  ~%s%s\n", tests[i].job,
			        tests[i].display, tests[i].gpus, tests[i].gpus == 1 ? " " : "s", e,
			        state);
			gpus_total += tests[i].gpus;
		}
		struct sched_task *st = xcalloc(nt, sizeof(*st));
		for (size_t i = 0; i < nt; i++)
			st[i] = (struct sched_task){tests[i].gpus, tests[i].expected};
		char e[32], b[32];
		unsigned cpus = o.cpu_seen ? o.cpu_jobs : cpu;
		human_secs(sched_simulate(total, cpus ? cpus : 1, st, NULL, nt), e, sizeof(e));
		human_secs(sched_lower_bound(total, st, nt), b, sizeof(b));
		free(st);
		fprintf(
		    ctx->out,
		    "%u GPUs asked in all; expected to take %s on %u GPUs (no schedule beats %s)\n",
		    gpus_total, e, total, b);
		if (guessed)
			fprintf(ctx->out,
			        "(%zu of %zu tests have no history yet: each is guessed at %s; "
			        "a run records real durations)\n",
			        guessed, nt,
			        have_all ? "the median of the tests that have one"
			                 : "60 s x (its GPUs + 1), only to order them");
		if (prep.not_run.len)
			fprintf(ctx->out, "Not run:\n%s", prep.not_run.buf);
		goto out;
	}

	/* Run. */
	time_t now = time(NULL);
	struct tm tm;
	localtime_r(&now, &tm);
	char run_id[64];
	snprintf(run_id, sizeof(run_id), "%04d%02d%02d-%02d%02d%02d-%d", tm.tm_year + 1900,
	         tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)getpid());
	/* What the run writes, checked before anything runs. */
	if (o.junit && run_check_writable(o.junit, &d) < 0) {
		cli_error(ctx, "run", &d);
		fprintf(ctx->err, "gpuci run: --junit FILE: give a file in a folder gpuci can "
		                  "write; nothing was run\n");
		rc = EXIT_FAILED;
		goto out;
	}
	const char *summary = getenv("GITHUB_STEP_SUMMARY");
	if (summary && *summary) {
		int fd = open(summary, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
		if (fd < 0)
			fprintf(ctx->err, "gpuci run: warning: cannot append to %s: %s\n", summary,
			        strerror(errno));
		else
			close(fd);
	}
	if (o.log_dir) {
		log_dir = xstrdup(o.log_dir);
		if (run_make_dirs(log_dir, &d) < 0) {
			cli_error(ctx, "run", &d);
			rc = EXIT_FAILED;
			goto out;
		}
	} else {
		struct strbuf ld = STRBUF_INIT;
		strbuf_addf(&ld, "%s/.gpuci", root);
		int mrc = run_make_dir(ld.buf, &d);
		if (mrc == 0) {
			ignore_dir(ld.buf);
			strbuf_adds(&ld, "/runs");
			mrc = run_make_dir(ld.buf, &d);
		}
		strbuf_addf(&ld, "/%s", run_id);
		log_dir = strbuf_detach(&ld, NULL);
		if (mrc == 0)
			mrc = run_make_dir(log_dir, &d);
		if (mrc < 0) {
			cli_error(ctx, "run", &d);
			fprintf(ctx->err,
			        "gpuci run: the logs go under .gpuci/ of the repository: give "
			        "--log-dir DIR (and --history PATH) in a folder gpuci can write\n");
			rc = EXIT_FAILED;
			goto out;
		}
	}
	struct history_sink sink = {hist, run_id, false, 0};
	struct run_view *view = run_view_new(report_in_github_actions() ? RUN_STYLE_GITHUB
	                                     : isatty(fileno(tty_out))  ? RUN_STYLE_TTY
	                                                                : RUN_STYLE_LINES,
	                                     ctx->out);
	struct run_listener listener = {&sink, view};
	struct run_opts ro = {
	    .cwd = root,
	    .log_dir = log_dir,
	    .total_gpus = total,
	    .cpu_jobs = cpu ? cpu : 1,
	    .lock_pattern = o.pattern,
	    .timeout = o.timeout,
	    .retries = o.retries,
	    .retry_on = o.retry_on,
	    .kill_after = o.kill_after,
	    .run_id = run_id,
	    .mask = mask,
	    .executor = o.docker ? &run_exec_docker : &run_exec_local,
	    .on_event = on_event,
	    .arg = &listener,
	    .idle_every = run_view_idle_every(view),
	};
	/* Refused entries are not handed to the runner. */
	struct run_test *runnable = xcalloc(nt, sizeof(*runnable));
	size_t nr = 0;
	size_t *map = xcalloc(nt, sizeof(*map));
	for (size_t i = 0; i < nt; i++)
		if (tests[i].argv) {
			map[nr] = i;
			runnable[nr++] = tests[i];
		}
	/* Before anything starts: what a crashed run left, then our own record. */
	char *record_dir = run_record_dir(o.pattern);
	run_recover_crashed(ctx, record_dir, o.kill_after);
	if (run_record_create(&record, record_dir, run_id, root, &d) < 0) {
		fprintf(ctx->err,
		        "gpuci run: warning: %s (were this run killed, the next could not end "
		        "what it left running)\n",
		        d.msg.buf);
		diag_release(&d);
		diag_init(&d);
	}
	free(record_dir);
	fprintf(ctx->out, "gpuci run %s: %zu test%s on %u GPU%s, logs in %s\n", run_id, nt,
	        nt == 1 ? "" : "s", total, total == 1 ? "" : "s", log_dir);
	if (prep.not_run.len)
		fprintf(ctx->out, "Not run:\n%s", prep.not_run.buf);
	int stopped = 0;
	int src = run_suite(&ro, runnable, nr, &stopped, &d);
	/* Nothing of this run is left running: no record for the next to find. */
	run_record_remove(record);
	record = NULL;
	run_view_free(view);
	for (size_t k = 0; k < nr; k++)
		tests[map[k]] = runnable[k];
	free(runnable);
	free(map);
	if (src < 0) {
		cli_error(ctx, "run", &d);
		rc = d.code == DIAG_USAGE ? EXIT_USAGE : EXIT_FAILED;
		goto out;
	}

	/* Results. */
	struct report_case *cases = xcalloc(nt, sizeof(*cases));
	bool ok = true;
	fprintf(ctx->out, "\n%-8s %-22s %-50s %4s %12s  %s\n", "STATUS", "JOB", "TEST", "GPUS",
	        "DURATION", "LOG");
	for (size_t i = 0; i < nt; i++) {
		struct run_test *t = &tests[i];
		cases[i] = (struct report_case){
		    .job = t->job,
		    .test_file = t->test_file,
		    .test_args = t->test_args,
		    .variant = t->variant,
		    .gpus = t->gpus,
		    .gpu_ids = t->gpu_ids ? t->gpu_ids : "",
		    .status = t->status,
		    .attempts = t->attempts,
		    .exit_code = t->exit_code,
		    .duration = t->duration,
		    .log_path = t->log_path,
		    .message = t->message ? t->message : "",
		};
		if (report_mask_count(mask))
			run_mask_case(&cases[i], mask, &a);
		if (t->status != REPORT_PASSED && t->status != REPORT_FLAKY)
			ok = false;
		char dur[32];
		human_secs(t->duration, dur, sizeof(dur));
		struct strbuf q = STRBUF_INIT, q2 = STRBUF_INIT;
		fprintf(ctx->out, "%-8s %-22s %-50s %4u %12s  %s\n", report_status_name(t->status),
		        cli_shown(&q, t->job), t->display, t->gpus, t->attempts ? dur : "-",
		        cli_shown(&q2, t->log_path ? t->log_path : (t->message ? t->message : "")));
		strbuf_release(&q);
		strbuf_release(&q2);
	}
	for (size_t i = 0; i < nt; i++)
		if (tests[i].log_errno)
			fprintf(
			    ctx->err,
			    "gpuci run: warning: the log of %s is incomplete: %s: %s (its result "
			    "is the test's own)\n",
			    tests[i].display, tests[i].log_path ? tests[i].log_path : "",
			    strerror(tests[i].log_errno));
	if (o.junit && report_junit(o.junit, "gpuci run", cases, nt, 200, &d) < 0) {
		cli_error(ctx, "run", &d);
		ok = false;
	}
	if (summary && *summary) {
		struct strbuf md = STRBUF_INIT;
		report_markdown(&md, "gpuci run", cases, nt);
		/* Within GitHub's limit for the whole file, other steps' parts included. */
		struct stat st;
		size_t used = stat(summary, &st) == 0 ? (size_t)st.st_size : 0;
		report_markdown_fit(&md, used < REPORT_SUMMARY_MAX ? REPORT_SUMMARY_MAX - used : 0);
		FILE *f = fopen(summary, "a");
		if (f) {
			fwrite(md.buf, 1, md.len, f);
			fclose(f);
		} else {
			fprintf(ctx->err, "gpuci run: warning: cannot append to %s\n", summary);
		}
		strbuf_release(&md);
	}
	free(cases);
	rc = stopped ? 128 + stopped : ok ? EXIT_OK : EXIT_FAILED;
out:
	run_prepared_release(&prep);
	if (hist && log_dir)
		history_finish(ctx, hist, log_dir, keep_days);
	history_close(hist);
	if (planned)
		plan_release(&p);
	wf_free(w);
	arena_release(&a);
	free(root);
	free(log_dir);
	free(history_path);
	free(o.labels.items);
	free(o.jobs.items);
	free(o.tests.items);
	free(o.secrets.items);
	diag_release(&d);
	run_record_remove(record);
	if (masked_out)
		fclose(masked_out);
	if (masked_err)
		fclose(masked_err);
	report_mask_free(mask);
	return rc;
}
