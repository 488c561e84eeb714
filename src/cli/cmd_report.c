/*
 * gpuci report: a run's report.html drawn again (from its run.tsv, the
 * history's attempts and the logs), for a run that crashed too; with
 * --history, the page of trends (cli/report_history.c).
 */
#include <dirent.h>
#include <errno.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/fs.h"
#include "base/xalloc.h"
#include "cli/cli.h"
#include "cli/report_history.h"
#include "db/history.h"
#include "report/colour.h"
#include "report/html.h"
#include "report/runfile.h"

#include "base/banned.h"

extern char **environ;

static const char report_usage[] =
    "usage: gpuci report [RUN-ID | --last | --dir DIR] [-o FILE] [--open]\n"
    "       gpuci report --history [--test GLOB] [--days N] [-o FILE]\n";

static const char report_description[] =
    "Every gpuci run writes its report, .gpuci/runs/RUN-ID/report.html: one\n"
    "self-contained page (no script, font or picture from elsewhere: it opens\n"
    "from disk or as a CI artifact) with the run's header (repository, commit,\n"
    "selection, machine, GPUs, start, wall time, GPU utilisation, the lower\n"
    "bound of its attempts and the wall's ratio to it), its GPU timeline (a\n"
    "lane per GPU and lanes for tests of no GPU; each attempt a bar from its\n"
    "start to its end on the lanes of its GPUs, coloured by result, its test,\n"
    "duration and log on hover, a click going to its row; idle GPUs are the\n"
    "gaps) and its tests (a table sorted by a click on a column; a failure's\n"
    "last log lines under it).\n"
    "\n"
    "gpuci report draws that page again: for RUN-ID (a folder of .gpuci/runs/),\n"
    "the last run (--last, the default), or the run folder DIR (--dir: another\n"
    "--log-dir, an artifact downloaded). The run's attempts come from the\n"
    "history (the run folder's history-unsaved.db too), its tests and header\n"
    "from RUN-DIR/run.tsv, failures' lines from the logs; so a run whose gpuci\n"
    "was killed gets its page as well (what it had recorded, the rest shown as\n"
    "not run). The page goes to RUN-DIR/report.html, or -o FILE.\n"
    "\n"
    "--history writes a page of trends instead: per test, its duration over\n"
    "the runs of the last --days N days (a small chart each) and a mark per\n"
    "attempt (passed, failed, flaky...), flakiest first, then slowest; --test\n"
    "GLOB narrows to some tests (as gpuci history --test). Into\n"
    ".gpuci/trends.html by the history, or -o FILE.\n"
    "\n"
    "--open opens a run's page with xdg-open. The last line printed is\n"
    "`report: PATH`.\n"
    "\n"
    "Exit status: 0 written; 1 no such run, nothing to draw it from, or the page\n"
    "could not be written; 2 usage.\n"
    "\n"
    "Examples:\n"
    "  gpuci report                        # the last run's page, again\n"
    "  gpuci report 20261202-170937-5216 --open\n"
    "  gpuci report --dir artifacts/gpuci-run -o /tmp/run.html\n"
    "  gpuci report --history --days 14 --test 'test_qwen*'\n";

struct report_cli {
	const char *run_id, *dir, *output, *history, *test_glob;
	bool last, open, trends;
	unsigned days;
};

/* The newest run folder of runs (run ids sort by time); NULL: none. */
static char *last_run(const char *runs)
{
	DIR *d = opendir(runs);
	if (!d)
		return NULL;
	char *best = NULL;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		struct strbuf p = STRBUF_INIT;
		struct stat st;
		strbuf_addf(&p, "%s/%s/" REPORT_RUNFILE_NAME, runs, e->d_name);
		bool ok = stat(p.buf, &st) == 0;
		strbuf_release(&p);
		if (ok && (!best || strcmp(e->d_name, best) > 0)) {
			free(best);
			best = xstrdup(e->d_name);
		}
	}
	closedir(d);
	return best;
}

/* The case of a recorded attempt: same job, file, args and variant. */
static size_t case_of(const struct report_run *r, const struct history_attempt *a)
{
	for (size_t i = 0; i < r->ncases; i++) {
		const struct report_case *c = &r->cases[i];
		if (!strcmp(c->job ? c->job : "", a->job) &&
		    !strcmp(c->test_file ? c->test_file : "", a->test_file) &&
		    !strcmp(c->test_args ? c->test_args : "", a->test_args) &&
		    !strcmp(c->variant ? c->variant : "", a->variant))
			return i;
	}
	return (size_t)-1;
}

/* Appends the attempts of run_id in the history at path (when it has any) to *v. */
static void history_attempts(struct gpuci_ctx *ctx, const char *path, const char *run_id,
                             struct history_attempt **v, size_t *n)
{
	struct history *h = NULL;
	struct diag d = DIAG_INIT;
	bool missing = false;
	if (history_open_read(&h, path, &missing, &d) < 0) {
		fprintf(ctx->err, "gpuci report: warning: %s\n", d.msg.buf);
	} else if (h) {
		struct history_attempt *a = NULL;
		size_t k = 0;
		if (history_run_attempts(h, run_id, &a, &k, &d) < 0)
			fprintf(ctx->err, "gpuci report: warning: %s\n", d.msg.buf);
		*v = xrealloc(*v, (*n + k + 1) * sizeof(**v));
		memcpy(*v + *n, a, k * sizeof(*a));
		*n += k;
		free(a); /* the strings moved to *v */
	}
	history_close(h);
	diag_release(&d);
}

static void open_page(struct gpuci_ctx *ctx, const char *path)
{
	char *argv[] = {(char *)"xdg-open", (char *)path, NULL};
	pid_t pid;
	int rc = posix_spawnp(&pid, "xdg-open", NULL, NULL, argv, environ);
	int st = 0;
	if (rc == 0 && waitpid(pid, &st, 0) == pid && WIFEXITED(st) && !WEXITSTATUS(st))
		return;
	fprintf(ctx->err, "gpuci report: could not open it (%s): open %s in a browser\n",
	        rc ? strerror(rc) : "xdg-open failed", path);
}

/*
 * The run of dir as run.tsv describes it, its attempts replaced by the
 * history's when it has them (the history is the record; run.tsv has the
 * attempts only when the run ended), its tests' results from their last
 * attempts when the run did not end.
 */
static int draw_run(struct gpuci_ctx *ctx, const char *dir, const char *history, const char *out)
{
	struct strbuf p = STRBUF_INIT;
	struct diag d = DIAG_INIT;
	struct report_runfile *f = NULL;
	strbuf_addf(&p, "%s/" REPORT_RUNFILE_NAME, dir);
	if (report_runfile_read(&f, p.buf, &d) < 0) {
		cli_error(ctx, "report", &d);
		if (d.code == DIAG_SYSTEM)
			fprintf(ctx->err,
			        "gpuci report: %s is not the folder of a run of this gpuci (each "
			        "run writes its run.tsv there)\n",
			        dir);
		strbuf_release(&p);
		diag_release(&d);
		return EXIT_FAILED;
	}
	struct report_run run = *report_runfile_run(f);
	struct history_attempt *ha = NULL;
	size_t nh = 0;
	if (history)
		history_attempts(ctx, history, run.run_id ? run.run_id : "", &ha, &nh);
	strbuf_reset(&p);
	strbuf_addf(&p, "%s/history-unsaved.db", dir);
	if (access(p.buf, F_OK) == 0)
		history_attempts(ctx, p.buf, run.run_id ? run.run_id : "", &ha, &nh);

	struct report_case *cases = xcalloc(run.ncases + 1, sizeof(*cases));
	memcpy(cases, run.cases, run.ncases * sizeof(*cases));
	struct report_attempt *att = NULL;
	size_t na = 0;
	if (nh) {
		att = xcalloc(nh, sizeof(*att));
		for (size_t i = 0; i < nh; i++) {
			enum report_status st;
			size_t c = case_of(&run, &ha[i]);
			if (c == (size_t)-1 || !report_status_parse(ha[i].status, &st))
				continue;
			att[na++] = (struct report_attempt){
			    .test = c,
			    .attempt = ha[i].attempt,
			    .status = st,
			    .start = ha[i].started_at,
			    .end = ha[i].started_at + ha[i].duration,
			    .gpus = ha[i].gpus,
			    .gpu_ids = ha[i].gpu_ids,
			    .node = ha[i].host && *ha[i].host && run.machine &&
			                    strncmp(run.machine, "this machine", 12) != 0
			                ? ha[i].host
			                : NULL,
			    .log_path = ha[i].log_path,
			};
		}
		run.attempts = att;
		run.nattempts = na;
	}
	if (!(run.ended > 0)) {
		/* It did not end: each test as its last recorded attempt left it. */
		for (size_t i = 0; i < run.nattempts; i++) {
			const struct report_attempt *a = &run.attempts[i];
			struct report_case *c = &cases[a->test];
			if (a->attempt < c->attempts)
				continue;
			c->attempts = a->attempt;
			c->status = a->status;
			c->duration = a->end - a->start;
			c->gpu_ids = a->gpu_ids;
			c->log_path = a->log_path;
			c->message = a->status == REPORT_PASSED || a->status == REPORT_FLAKY
			                 ? ""
			                 : report_status_name(a->status);
		}
		run.note =
		    "This run did not end (its gpuci was killed, or is still running): drawn "
		    "from what it recorded; tests with no recorded attempt are shown as not "
		    "run.";
	}
	run.cases = cases;
	run.base_dir = dir;

	strbuf_reset(&p);
	if (out)
		strbuf_adds(&p, out);
	else
		strbuf_addf(&p, "%s/report.html", dir);
	struct strbuf page = STRBUF_INIT;
	report_html(&page, &run);
	int rc = EXIT_OK;
	if (strbuf_failed(&page) || fs_write_atomic(p.buf, page.buf, page.len, &d) < 0) {
		if (strbuf_failed(&page))
			diag_set(&d, DIAG_SYSTEM, "%s: the page is too large", p.buf);
		cli_error(ctx, "report", &d);
		rc = EXIT_FAILED;
	} else {
		fprintf(ctx->out, "%zu test%s, %zu attempt%s%s\nreport: %s\n", run.ncases,
		        run.ncases == 1 ? "" : "s", run.nattempts, run.nattempts == 1 ? "" : "s",
		        run.ended > 0 ? "" : " (the run did not end)", p.buf);
	}
	strbuf_release(&page);
	free(att);
	free(cases);
	history_attempts_free(ha, nh);
	report_runfile_free(f);
	strbuf_release(&p);
	diag_release(&d);
	return rc;
}

static int usage_error(struct gpuci_ctx *ctx, struct diag *d)
{
	int rc = cli_usage_error(ctx, "report", d);
	diag_release(d);
	return rc;
}

int cmd_report(int argc, char **argv, struct gpuci_ctx *ctx)
{
	struct report_cli o = {0};
	bool help, days_seen = false;
	int rest;
	struct diag d = DIAG_INIT;
	const struct cli_option opts[] = {
	    {"last", 0, CLI_OPT_FLAG, &o.last, NULL, "the last run's page (the default)", NULL},
	    {"dir", 0, CLI_OPT_STRING, &o.dir, "DIR", "the run in folder DIR (its run.tsv)", NULL},
	    {"output", 'o', CLI_OPT_STRING, &o.output, "FILE",
	     "write the page to FILE (default: the run's report.html)", NULL},
	    {"open", 0, CLI_OPT_FLAG, &o.open, NULL, "open the page with xdg-open", NULL},
	    {"history", 0, CLI_OPT_FLAG, &o.trends, NULL, "the page of trends of the history",
	     NULL},
	    {"test", 0, CLI_OPT_STRING, &o.test_glob, "GLOB", "with --history: these tests only",
	     NULL},
	    {"days", 0, CLI_OPT_UINT, &o.days, "N", "with --history: the last N days (30)",
	     &days_seen},
	    {"history-file", 0, CLI_OPT_STRING, &o.history, "PATH",
	     "the history (default: .gpuci/history.db here or above)", NULL},
	    {0},
	};
	if (cli_parse(argc, argv, opts, true, &rest, &help, &d) < 0)
		return usage_error(ctx, &d);
	if (rest < argc) {
		o.run_id = argv[rest];
		bool help2;
		int rest2;
		if (cli_parse(argc - rest, argv + rest, opts, false, &rest2, &help2, &d) < 0)
			return usage_error(ctx, &d);
		help |= help2;
	}
	if (help) {
		fprintf(ctx->out, "%s\n%s\nOptions:\n", report_usage, report_description);
		cli_print_options(ctx->out, opts);
		return EXIT_OK;
	}
	if ((!!o.run_id + o.last + !!o.dir) > 1 || (o.trends && (o.run_id || o.last || o.dir))) {
		diag_set(&d, DIAG_USAGE,
		         o.trends
		             ? "--history draws the history, not a run: give no RUN-ID, --last "
		               "or --dir"
		             : "RUN-ID, --last and --dir: one at a time");
		return usage_error(ctx, &d);
	}
	if (days_seen && !o.days) {
		diag_set(&d, DIAG_USAGE, "--days must be 1 or more");
		return usage_error(ctx, &d);
	}
	if (!o.trends && (o.test_glob || days_seen)) {
		diag_set(&d, DIAG_USAGE, "--%s is for --history", o.test_glob ? "test" : "days");
		return usage_error(ctx, &d);
	}
	if (o.run_id && (!*o.run_id || strchr(o.run_id, '/') || !strcmp(o.run_id, "..") ||
	                 !strcmp(o.run_id, "."))) {
		diag_set(&d, DIAG_USAGE, "'%s' is not a run id (a folder name of .gpuci/runs/)",
		         o.run_id);
		return usage_error(ctx, &d);
	}
	char *history = o.history ? xstrdup(o.history) : cli_find_history();
	int rc;
	if (o.trends) {
		struct report_history_opts ho = {.history = history,
		                                 .test_glob = o.test_glob,
		                                 .output = o.output,
		                                 .days = o.days};
		rc = report_history_main(ctx, &ho);
		free(history);
		return rc;
	}
	char *dir = NULL;
	if (o.dir) {
		dir = xstrdup(o.dir);
	} else {
		char *g = cli_find_above(".gpuci");
		if (!g) {
			fprintf(ctx->err,
			        "gpuci report: no .gpuci folder here or above: run gpuci run "
			        "first, or give --dir DIR\n");
			free(history);
			return EXIT_FAILED;
		}
		struct strbuf runs = STRBUF_INIT;
		strbuf_addf(&runs, "%s/runs", g);
		char *id = o.run_id ? xstrdup(o.run_id) : last_run(runs.buf);
		if (!id) {
			fprintf(ctx->err, "gpuci report: no run in %s yet\n", runs.buf);
			strbuf_release(&runs);
			free(g);
			free(history);
			return EXIT_FAILED;
		}
		strbuf_addf(&runs, "/%s", id);
		dir = strbuf_detach(&runs, NULL);
		free(id);
		free(g);
		struct stat st;
		if (stat(dir, &st) < 0) {
			fprintf(ctx->err, "gpuci report: no run %s: %s (%s)\n", o.run_id, dir,
			        strerror(errno));
			free(dir);
			free(history);
			return EXIT_FAILED;
		}
	}
	rc = draw_run(ctx, dir, history, o.output);
	if (rc == EXIT_OK && o.open) {
		struct strbuf p = STRBUF_INIT;
		if (o.output)
			strbuf_adds(&p, o.output);
		else
			strbuf_addf(&p, "%s/report.html", dir);
		open_page(ctx, p.buf);
		strbuf_release(&p);
	}
	free(dir);
	free(history);
	return rc;
}
