/* The parts of gpuci run around the run itself; see run_util.h. */
#include "cli/run_util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/fs.h"
#include "base/strbuf.h"
#include "base/xalloc.h"
#include "cli/run_view.h"
#include "db/history.h"
#include "docker/dockerrun.h"
#include "gpu/gpu.h"
#include "lease/lease.h"
#include "plan/plan.h"
#include "run/recover.h"
#include "sched/sched.h"
#include "wf/model.h"
#include "base/banned.h"

/* mkdir that says which folder could not be made and why. */
int run_make_dir(const char *path, struct diag *d)
{
	struct stat sb;
	if (mkdir(path, 0755) == 0)
		return 0;
	int e = errno;
	if (e == EEXIST && stat(path, &sb) == 0 && S_ISDIR(sb.st_mode))
		return 0;
	errno = e == EEXIST ? ENOTDIR : e;
	return diag_errno(d, "cannot create %s", path);
}

/* make_dir for path and every missing folder above it. */
int run_make_dirs(const char *path, struct diag *d)
{
	struct strbuf p = STRBUF_INIT;
	strbuf_adds(&p, path);
	int rc = 0;
	for (size_t i = 1; i <= p.len && rc == 0; i++) {
		if (i < p.len && p.buf[i] != '/')
			continue;
		char c = p.buf[i];
		p.buf[i] = '\0';
		struct stat sb;
		if (stat(p.buf, &sb) < 0 || !S_ISDIR(sb.st_mode))
			rc = run_make_dir(p.buf, d);
		p.buf[i] = c;
	}
	strbuf_release(&p);
	return rc;
}

/*
 * Whether a report can be written at path, before anything runs: the
 * temporary file report_junit_write() renames into place, made and removed.
 */
int run_check_writable(const char *path, struct diag *d)
{
	struct stat sb;
	if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode)) {
		errno = EISDIR;
		return diag_errno(d, "cannot write %s", path);
	}
	struct strbuf tmp = STRBUF_INIT;
	strbuf_addf(&tmp, "%s.tmp-XXXXXX", path);
	int fd = mkostemp(tmp.buf, O_CLOEXEC);
	int rc = 0;
	if (fd < 0)
		rc = diag_errno(d, "cannot write %s", path);
	else {
		close(fd);
		unlink(tmp.buf);
	}
	strbuf_release(&tmp);
	return rc;
}

/* The cases as reports take them, every string masked (secrets). */
struct report_case run_case_of(const struct run_test *t)
{
	return (struct report_case){
	    .job = t->job,
	    .test_file = t->test_file,
	    .test_args = t->test_args,
	    .variant = t->variant,
	    .gpus = t->gpus,
	    .gpu_ids = t->gpu_ids ? t->gpu_ids : "",
	    .node = t->node,
	    .status = t->status,
	    .attempts = t->attempts,
	    .exit_code = t->exit_code,
	    .duration = t->duration,
	    .log_path = t->log_path,
	    .message = t->message ? t->message : "",
	};
}

void run_mask_case(struct report_case *c, const struct report_mask *m, struct arena *a)
{
	const char **f[] = {&c->job,     &c->test_file, &c->test_args, &c->variant,
	                    &c->gpu_ids, &c->node,      &c->log_path,  &c->message};
	for (size_t i = 0; i < sizeof(f) / sizeof(*f); i++) {
		if (!*f[i])
			continue;
		char *s = report_mask_dup(m, *f[i]);
		*f[i] = arena_strndup(a, s, strlen(s));
		free(s);
	}
}

/*
 * A run killed before it could end its tests (its keepers too) left them
 * running on their GPUs: end them now, and say so (recover.h).
 */
void run_recover_crashed(struct gpuci_ctx *ctx, const char *dir, double kill_after)
{
	struct run_crashed *c;
	size_t n;
	struct diag d = DIAG_INIT;
	if (run_recover(dir, kill_after, &c, &n, &d) < 0) {
		fprintf(ctx->err, "gpuci run: warning: %s\n", d.msg.buf);
		diag_release(&d);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		if (c[i].nleft)
			fprintf(ctx->err,
			        "gpuci run: run %s (pid %d, in %s) was killed before it ended its "
			        "tests; %zu of its processes were still running:\n",
			        c[i].run_id, (int)c[i].pid, c[i].root, c[i].nleft);
		for (size_t k = 0; k < c[i].nleft; k++) {
			const struct run_leftover *l = &c[i].left[k];
			fprintf(ctx->err, "  pid %d %s: %s%s%s\n", (int)l->pid,
			        l->how == RUN_LEFT_ENDED    ? "ended (SIGTERM)"
			        : l->how == RUN_LEFT_KILLED ? "killed (SIGKILL)"
			                                    : "could not be ended",
			        l->how == RUN_LEFT_CANNOT ? strerror(l->err) : "",
			        l->how == RUN_LEFT_CANNOT ? "; " : "", l->cmd);
		}
		if (c[i].removed)
			fprintf(ctx->err,
			        "gpuci run: run %s (pid %d, in %s) was killed before it ended its "
			        "tests; %zu of its %ss were left: %s\n",
			        c[i].run_id, (int)c[i].pid, c[i].root, c[i].removed, c[i].leftover,
			        strcmp(c[i].leftover, "job") ? "removed" : "canceled");
		if (c[i].sweep_error)
			fprintf(ctx->err,
			        "gpuci run: warning: run %s (pid %d, in %s) was killed; its "
			        "%ss could not be looked for (%s): its record "
			        "%s/gpuci-run-%s.run "
			        "stays for the next run (delete it once they are gone)\n",
			        c[i].run_id, (int)c[i].pid, c[i].root, c[i].leftover,
			        c[i].sweep_error, dir, c[i].run_id);
	}
	run_crashed_free(c, n);
	diag_release(&d);
}

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
	struct run_listener *sink = arg;
	struct history *h = sink->c->hist;
	const char *run_id = sink->c->run_id;
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
	    .host = t->node, /* a cluster's node; NULL: this machine */
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

void run_cmd_on_event(void *arg, const struct run_event *ev)
{
	struct run_listener *l = arg;
	if (run_event_ends_attempt(ev->kind) && ev->ran) {
		on_attempt(l, ev->test);
		run_report_attempt(l->c, l->map ? l->map[ev->index] : ev->index, ev->test);
	}
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

/* ---- the phases of gpuci run (cmd_run.c) -------------------------------- */

int run_cmd_check(struct run_cmd *c)
{
	struct gpuci_ctx *ctx = c->ctx;
	const struct run_cli_opts *o = c->o;
	int modes = (o->labels.n > 0) + o->changed + o->all;
	if (modes > 1 || (!modes && !o->jobs.n)) {
		diag_set(&c->d, DIAG_USAGE,
		         modes ? "--label, --changed and --all: one at a time"
		               : "say what to run: --label L, --changed, --all or --job NAME");
		return cli_usage_error(ctx, "run", &c->d);
	}
	if (o->retry_on && !o->retries) {
		diag_set(&c->d, DIAG_USAGE,
		         "--retry-on says which failures to retry: give --retries K");
		return cli_usage_error(ctx, "run", &c->d);
	}
	if (o->retry_on) { /* a bad pattern is a usage error, --dry-run or not */
		regex_t re;
		int e = regcomp(&re, o->retry_on, REG_EXTENDED | REG_NOSUB | REG_NEWLINE);
		if (e) {
			char buf[256];
			regerror(e, &re, buf, sizeof(buf));
			diag_set(&c->d, DIAG_USAGE, "--retry-on '%s': %s", o->retry_on, buf);
			return cli_usage_error(ctx, "run", &c->d);
		}
		regfree(&re);
	}
	if (lease_check_pattern(o->pattern, &c->d) < 0) {
		return cli_usage_error(ctx, "run", &c->d);
	}
	if (strcmp(o->busy, "fail") != 0 && strcmp(o->busy, "warn") != 0) {
		diag_set(&c->d, DIAG_USAGE, "--busy expects fail or warn, not '%s'", o->busy);
		return cli_usage_error(ctx, "run", &c->d);
	}
	if ((o->docker_opts.n || o->docker_setup) && !o->docker) {
		diag_set(&c->d, DIAG_USAGE,
		         "%s is for containers: give --docker IMAGE or --docker job",
		         o->docker_opts.n ? "--docker-opt" : "--docker-setup");
		return cli_usage_error(ctx, "run", &c->d);
	}
	struct dockerrun *dr;
	if (o->docker_opts.n &&
	    dockerrun_read_opts((const char *const *)o->docker_opts.items, o->docker_opts.n,
	                        "--docker-opt", &dr, &c->d) < 0)
		return cli_usage_error(ctx, "run", &c->d);
	if (o->docker_opts.n)
		dockerrun_free(dr);
	return run_slurm_check(c);
}

int run_cmd_select(struct run_cmd *c)
{
	struct gpuci_ctx *ctx = c->ctx;
	const struct run_cli_opts *o = c->o;
	const char *cmd = c->name ? c->name : "run";
	if (wf_load(o->workflow, &c->w, &c->d) < 0) {
		cli_error(ctx, cmd, &c->d);
		return EXIT_FAILED;
	}
	c->root = repo_root(o->workflow);
	c->lock_dir = run_record_dir(o->pattern);

	/* Selection: a plan of the event, then the jobs asked for. */
	/*
	 * With labels, a detect job that runs (run-ci-changed) gets its outputs
	 * computed from git, as with --changed: only when it runs.
	 */
	struct plan_opts po = {.event = o->all ? "workflow_dispatch" : "pull_request",
	                       .labels = o->labels.items,
	                       .nlabels = o->labels.n,
	                       .mark_always = o->no_always,
	                       .changed = o->changed || o->labels.n,
	                       .changed_opts = {.base = o->base, .head = o->head, .repo = c->root}};
	struct plan_catalogue cat = {0};
	bool have_cat = false;
	if (o->changed || (!o->labels.n && !o->all)) {
		/* Every label on, so the changed-tests job (or any --job) can run. */
		if (plan_catalogue(c->w, &cat, &c->d) < 0) {
			cli_error(ctx, cmd, &c->d);
			return EXIT_FAILED;
		}
		have_cat = true;
		const char **all = arena_alloc(&c->a, (cat.nlabels + 1) * sizeof(*all));
		for (size_t i = 0; i < cat.nlabels; i++)
			all[i] = cat.labels[i].label;
		po.labels = all;
		po.nlabels = cat.nlabels;
	}
	c->p = xcalloc(1, sizeof(*c->p));
	int prc = plan_make(c->w, &po, c->p, &c->d);
	if (have_cat)
		plan_catalogue_release(&cat);
	if (prc < 0) {
		int rc;
		if (c->d.code == DIAG_USAGE)
			rc = cli_usage_error(ctx, cmd, &c->d);
		else {
			cli_error(ctx, cmd, &c->d);
			rc = EXIT_FAILED;
		}
		if (c->p->changed_tried && !o->changed)
			fprintf(ctx->err,
			        "gpuci %s: a job of these labels runs the tests this branch "
			        "changes, found from git as gpuci changed finds them: give the "
			        "base (--base REV, default origin/main), or leave that label out\n",
			        cmd);
		return rc;
	}
	if (c->p->changed_done)
		for (size_t i = 0; i < c->p->changed.nwarnings; i++)
			fprintf(ctx->err, "gpuci %s: warning: %s\n", cmd,
			        c->p->changed.warnings[i]);

	struct run_prepare_opts pro = {
	    .root = c->root,
	    .jobs = (const char *const *)o->jobs.items,
	    .njobs = o->jobs.n,
	    .tests = (const char *const *)o->tests.items,
	    .ntests = o->tests.n,
	    .changed = o->changed,
	    .python = o->python,
	    .docker = o->docker,
	    .docker_setup = o->docker_setup,
	    .docker_opts = (const char *const *)o->docker_opts.items,
	    .ndocker_opts = o->docker_opts.n,
	    .lock_dir = c->lock_dir,
	    .secrets = (const char *const *)o->secrets.items,
	    .nsecrets = o->secrets.n,
	};
	if (run_prepare(&c->prep, c->w, c->p, &pro, &c->d) < 0) {
		cli_error(ctx, cmd, &c->d);
		return EXIT_FAILED;
	}
	return EXIT_OK;
}

int run_cmd_machine(struct run_cmd *c)
{
	struct gpuci_ctx *ctx = c->ctx;
	const struct run_cli_opts *o = c->o;
	/* The machine. */
	c->total = o->gpus;
	int src_rc;
	if (o->slurm && (src_rc = run_slurm_machine(c)) != EXIT_OK)
		return src_rc;
	if (!o->gpus_seen && !o->slurm) {
		struct gpu_probe probe;
		gpu_probe_default(&probe);
		enum gpu_source src;
		if (gpu_count(&c->total, &src, &probe, &c->d) < 0) {
			cli_error(ctx, "run", &c->d);
			return EXIT_FAILED;
		}
	}
	if (!o->slurm)
		c->cpu = o->cpu_seen ? o->cpu_jobs : (unsigned)sysconf(_SC_NPROCESSORS_ONLN);

	run_cmd_expected(c);
	if (o->slurm)
		run_slurm_limits(c);

	if (!c->prep.n) {
		fprintf(ctx->err,
		        "gpuci run: nothing to run: no selected job has a test_file entry\n");
		if (c->prep.not_run.len)
			fprintf(ctx->err, "%s", c->prep.not_run.buf);
		return EXIT_FAILED;
	}
	return EXIT_OK;
}

void run_cmd_expected(struct run_cmd *c)
{
	struct gpuci_ctx *ctx = c->ctx;
	const struct run_cli_opts *o = c->o;
	const char *cmd = c->name ? c->name : "run";
	if (o->history)
		c->history_path = xstrdup(o->history);
	else {
		struct strbuf hp = STRBUF_INIT;
		strbuf_addf(&hp, "%s/" HISTORY_DEFAULT_PATH, c->root);
		c->history_path = strbuf_detach(&hp, NULL);
	}
	if (!o->dry_run || access(c->history_path, R_OK) == 0) {
		if (history_open_wait(&c->hist, c->history_path, HISTORY_OPEN_WAIT_MS, &c->d) < 0) {
			fprintf(ctx->err, "gpuci %s: warning: running without history: %s\n", cmd,
			        c->d.msg.buf);
			diag_release(&c->d);
			diag_init(&c->d);
			c->hist = NULL;
		}
	}
	c->all_median = 0;
	c->have_all = false;
	c->guessed = 0;
	if (c->hist && history_median_all(c->hist, &c->all_median, &c->have_all, &c->d) < 0) {
		fprintf(ctx->err, "gpuci %s: warning: running without history: %s\n", cmd,
		        c->d.msg.buf);
		diag_release(&c->d);
		diag_init(&c->d);
		history_close(c->hist);
		c->hist = NULL;
		c->have_all = false;
	}
	for (size_t i = 0; i < c->prep.n; i++) {
		double m = 0;
		bool found = false;
		/* A history that stops answering (locked) is not asked again. */
		if (c->hist &&
		    history_median(c->hist, c->prep.tests[i].identity, c->prep.tests[i].test_file,
		                   c->prep.tests[i].test_args, &m, &found, &c->d) < 0) {
			fprintf(ctx->err, "gpuci %s: warning: running without history: %s\n", cmd,
			        c->d.msg.buf);
			diag_release(&c->d);
			diag_init(&c->d);
			history_close(c->hist);
			c->hist = NULL;
			found = false;
		}
		c->prep.tests[i].expected = found         ? m
		                            : c->have_all ? c->all_median
		                                          : 60.0 * (c->prep.tests[i].gpus + 1);
		c->guessed += !found;
	}
}

/* A docker test's image, options and setup, each with where it came from. */
static void dry_run_docker(struct gpuci_ctx *ctx, const struct run_test *t)
{
	if (t->status == REPORT_NOT_RUNNABLE && t->message)
		fprintf(ctx->out, "      refused: %s\n", t->message);
	if (!t->docker_image || !t->argv)
		return;
	fprintf(ctx->out, "      image %s  (%s)\n", t->docker_image,
	        t->docker_image_from ? t->docker_image_from : "--docker");
	for (size_t j = 0; t->docker_opts && t->docker_opts[j]; j++)
		fprintf(ctx->out, "      option %s  (%s)\n", t->docker_opts[j],
		        t->docker_opts_from ? t->docker_opts_from[j]
		                            : "the job's container options");
	if (!t->docker_setup)
		fprintf(ctx->out, "      setup pip install -e . --no-deps  (the default)\n");
	for (size_t j = 0; t->docker_setup && t->docker_setup[j]; j++)
		fprintf(ctx->out, "      setup %s\n", t->docker_setup[j]);
	if (t->gpus)
		fprintf(ctx->out,
		        "      gpuci --gpus \"device=<its %u leased GPUs>\" -e "
		        "CUDA_VISIBLE_DEVICES=0..%u -e GPUCI_GPUS=<their host numbers>\n",
		        t->gpus, t->gpus - 1);
	else
		fprintf(ctx->out, "      gpuci no GPU: -e CUDA_VISIBLE_DEVICES= -e "
		                  "NVIDIA_VISIBLE_DEVICES=void\n");
}

void run_cmd_dry_run(struct run_cmd *c)
{
	struct gpuci_ctx *ctx = c->ctx;
	const struct run_cli_opts *o = c->o;
	unsigned gpus_total = 0;
	if (*c->machine)
		fprintf(ctx->out, "%zu test%s on %s (%s):\n", c->prep.n, c->prep.n == 1 ? "" : "s",
		        c->machine, o->workflow);
	else
		fprintf(ctx->out, "%zu test%s on %u GPU%s (%s):\n", c->prep.n,
		        c->prep.n == 1 ? "" : "s", c->total, c->total == 1 ? "" : "s", o->workflow);
	for (size_t i = 0; i < c->prep.n; i++) {
		char e[32];
		human_secs(c->prep.tests[i].expected, e, sizeof(e));
		const char *state = c->prep.tests[i].status == REPORT_NOT_RUNNABLE ? "  (refused)"
		                    : c->prep.tests[i].gpus > c->total ? "  (not runnable here)"
		                                                       : "";
		fprintf(ctx->out, "  %-22s %-50s %2u GPU%s  ~%s%s\n", c->prep.tests[i].job,
		        c->prep.tests[i].display, c->prep.tests[i].gpus,
		        c->prep.tests[i].gpus == 1 ? " " : "s", e, state);
		gpus_total += c->prep.tests[i].gpus;
		dry_run_docker(ctx, &c->prep.tests[i]);
		if (o->slurm)
			run_slurm_dry_run(c, i);
	}
	struct sched_task *st = xcalloc(c->prep.n, sizeof(*st));
	for (size_t i = 0; i < c->prep.n; i++)
		st[i] = (struct sched_task){c->prep.tests[i].gpus, c->prep.tests[i].expected};
	char e[32], b[32];
	unsigned cpus = o->cpu_seen ? o->cpu_jobs : c->cpu;
	human_secs(sched_simulate(c->total, cpus ? cpus : 1, st, NULL, c->prep.n), e, sizeof(e));
	human_secs(sched_lower_bound(c->total, st, c->prep.n), b, sizeof(b));
	free(st);
	fprintf(ctx->out,
	        "%u GPUs asked in all; expected to take %s on %u GPUs (no schedule beats %s)\n",
	        gpus_total, e, c->total, b);
	if (c->guessed)
		fprintf(ctx->out,
		        "(%zu of %zu tests have no history yet: each is guessed at %s; "
		        "a run records real durations)\n",
		        c->guessed, c->prep.n,
		        c->have_all ? "the median of the tests that have one"
		                    : "60 s x (its GPUs + 1), only to order them");
	if (c->prep.not_run.len)
		fprintf(ctx->out, "Not run:\n%s", c->prep.not_run.buf);
}

int run_cmd_outputs(struct run_cmd *c)
{
	struct gpuci_ctx *ctx = c->ctx;
	const struct run_cli_opts *o = c->o;
	/* What the run writes, checked before anything runs. */
	if (o->junit && run_check_writable(o->junit, &c->d) < 0) {
		cli_error(ctx, "run", &c->d);
		fprintf(ctx->err, "gpuci run: --junit FILE: give a file in a folder gpuci can "
		                  "write; nothing was run\n");
		return EXIT_FAILED;
	}
	c->summary = getenv("GITHUB_STEP_SUMMARY");
	if (c->summary && *c->summary) {
		int fd = open(c->summary, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
		if (fd < 0)
			fprintf(ctx->err, "gpuci run: warning: cannot append to %s: %s\n",
			        c->summary, strerror(errno));
		else
			close(fd);
	}
	if (o->log_dir) {
		c->log_dir = xstrdup(o->log_dir);
		if (run_make_dirs(c->log_dir, &c->d) < 0) {
			cli_error(ctx, "run", &c->d);
			return EXIT_FAILED;
		}
	} else {
		struct strbuf ld = STRBUF_INIT;
		strbuf_addf(&ld, "%s/.gpuci", c->root);
		int mrc = run_make_dir(ld.buf, &c->d);
		if (mrc == 0) {
			ignore_dir(ld.buf);
			strbuf_adds(&ld, "/runs");
			mrc = run_make_dir(ld.buf, &c->d);
		}
		strbuf_addf(&ld, "/%s", c->run_id);
		c->log_dir = strbuf_detach(&ld, NULL);
		if (mrc == 0)
			mrc = run_make_dir(c->log_dir, &c->d);
		if (mrc < 0) {
			cli_error(ctx, "run", &c->d);
			fprintf(ctx->err,
			        "gpuci run: the logs go under .gpuci/ of the repository: give "
			        "--log-dir DIR (and --history PATH) in a folder gpuci can write\n");
			return EXIT_FAILED;
		}
	}
	return EXIT_OK;
}

int run_cmd_results(struct run_cmd *c, int stopped)
{
	struct gpuci_ctx *ctx = c->ctx;
	const struct run_cli_opts *o = c->o;
	/* Results. */
	struct report_case *cases = xcalloc(c->prep.n, sizeof(*cases));
	bool ok = true;
	fprintf(ctx->out, "\n%-8s %-22s %-50s %4s %12s  %s\n", "STATUS", "JOB", "TEST", "GPUS",
	        "DURATION", "LOG");
	for (size_t i = 0; i < c->prep.n; i++) {
		struct run_test *t = &c->prep.tests[i];
		cases[i] = run_case_of(t);
		if (report_mask_count(c->mask))
			run_mask_case(&cases[i], c->mask, &c->a);
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
	for (size_t i = 0; i < c->prep.n; i++)
		if (c->prep.tests[i].log_errno)
			fprintf(
			    ctx->err,
			    "gpuci run: warning: the log of %s is incomplete: %s: %s (its result "
			    "is the test's own)\n",
			    c->prep.tests[i].display,
			    c->prep.tests[i].log_path ? c->prep.tests[i].log_path : "",
			    strerror(c->prep.tests[i].log_errno));
	if (o->junit && report_junit(o->junit, "gpuci run", cases, c->prep.n, 200, &c->d) < 0) {
		cli_error(ctx, "run", &c->d);
		ok = false;
	}
	run_report_cases(c, cases);
	if (c->summary && *c->summary) {
		struct strbuf md = STRBUF_INIT;
		report_markdown(&md, "gpuci run", cases, c->prep.n);
		/* Within GitHub's limit for the whole file, other steps' parts included. */
		struct stat st;
		size_t used = stat(c->summary, &st) == 0 ? (size_t)st.st_size : 0;
		run_report_summary(c, &md,
		                   used < REPORT_SUMMARY_MAX ? REPORT_SUMMARY_MAX - used : 0);
		FILE *f = fopen(c->summary, "a");
		if (f) {
			fwrite(md.buf, 1, md.len, f);
			fclose(f);
		} else {
			fprintf(ctx->err, "gpuci run: warning: cannot append to %s\n", c->summary);
		}
		strbuf_release(&md);
	}
	run_report_write(c);
	free(cases);
	return stopped ? 128 + stopped : ok ? EXIT_OK : EXIT_FAILED;
}

void run_cmd_release(struct run_cmd *c)
{
	run_report_free(c);
	run_prepared_release(&c->prep);
	if (c->hist && c->log_dir)
		history_finish(c->ctx, c->hist, c->log_dir, c->o->keep_days);
	history_close(c->hist);
	if (c->p)
		plan_release(c->p);
	free(c->p);
	wf_free(c->w);
	arena_release(&c->a);
	free(c->root);
	free(c->lock_dir);
	free(c->log_dir);
	free(c->history_path);
	diag_release(&c->d);
}
