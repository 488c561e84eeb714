/*
 * gpuci report --history: the history's tests over the last days as one
 * HTML page (see report_history.h): db/ reads them, report/trends.c draws
 * them, this file turns one into the other.
 */
#include "cli/report_history.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/fs.h"
#include "base/xalloc.h"
#include "db/history.h"
#include "report/colour.h"
#include "report/trends.h"
#include "base/banned.h"

/* trends.html in the folder of the history file. */
static char *default_output(const char *history)
{
	const char *slash = strrchr(history, '/');
	struct strbuf sb = STRBUF_INIT;
	if (slash)
		strbuf_add(&sb, history, (size_t)(slash - history) + 1);
	strbuf_adds(&sb, "trends.html");
	return strbuf_detach(&sb, NULL);
}

static double now_epoch(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The history's tests as the page's: pointers into h, points in one array. */
static struct trends_test *convert(const struct history_trend *h, size_t n,
                                   struct trends_point **points_out, size_t *attempts)
{
	size_t total = 0;
	for (size_t i = 0; i < n; i++)
		total += h[i].npoints;
	struct trends_test *t = xcalloc(n ? n : 1, sizeof(*t));
	struct trends_point *pts = xcalloc(total ? total : 1, sizeof(*pts));
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		t[i] = (struct trends_test){
		    .test_file = h[i].test_file,
		    .test_args = h[i].test_args,
		    .identity = h[i].identity,
		    .variant = h[i].variant,
		    .runs = h[i].runs,
		    .passed = h[i].passed,
		    .flaky = h[i].flaky,
		    .failed = h[i].failed,
		    .timed = h[i].timed,
		    .median = h[i].median,
		    .p90 = h[i].p90,
		    .points = pts + k,
		    .npoints = h[i].npoints,
		};
		for (size_t j = 0; j < h[i].npoints; j++, k++) {
			const struct history_trend_point *p = &h[i].points[j];
			enum report_status s;
			/* The history refuses other statuses; one written by hand reads as not run.
			 */
			if (!report_status_parse(p->status, &s))
				s = REPORT_NOT_RUNNABLE;
			pts[k] = (struct trends_point){.started_at = p->started_at,
			                               .duration = p->duration,
			                               .status = s,
			                               .run_id = p->run_id};
		}
	}
	*points_out = pts;
	*attempts = total;
	return t;
}

int report_history_main(struct gpuci_ctx *ctx, const struct report_history_opts *o)
{
	char *found = NULL, *output = NULL;
	const char *path = o->history;
	if (!path || !*path)
		path = found = cli_find_history();
	unsigned days = o->days ? o->days : REPORT_HISTORY_DAYS_DEFAULT;
	struct diag d = DIAG_INIT;
	struct history *h = NULL;
	struct history_trend *trends = NULL;
	struct trends_test *tests = NULL;
	struct trends_point *points = NULL;
	struct strbuf page = STRBUF_INIT, shown = STRBUF_INIT;
	size_t n = 0, attempts = 0;
	bool missing = false;
	int rc = EXIT_FAILED;
	double now = now_epoch(), since = now - (double)days * 86400.0;

	if (history_open_read(&h, path, &missing, &d) < 0) {
		cli_error(ctx, "report", &d);
		goto out;
	}
	if (missing) {
		fprintf(ctx->err, "gpuci report: no history yet at %s; gpuci run records one\n",
		        cli_shown(&shown, path));
		goto out;
	}
	if (history_trends(h, o->test_glob, since, &trends, &n, &d) < 0) {
		cli_error(ctx, "report", &d);
		goto out;
	}
	tests = convert(trends, n, &points, &attempts);
	struct trends_page pg = {
	    .history = path,
	    .days = days,
	    .since = since,
	    .test_glob = o->test_glob,
	    .generated_at = now,
	};
	trends_render(&page, &pg, tests, n);
	if (strbuf_failed(&page)) {
		fprintf(ctx->err, "gpuci report: the page is too large; narrow it with --test or "
		                  "--days\n");
		goto out;
	}
	output = o->output && *o->output ? xstrdup(o->output) : default_output(path);
	if (fs_write_atomic(output, page.buf, page.len, &d) < 0) {
		cli_error(ctx, "report", &d);
		goto out;
	}
	fprintf(ctx->out, "%zu test%s, %zu attempt%s in the last %u day%s", n, n == 1 ? "" : "s",
	        attempts, attempts == 1 ? "" : "s", days, days == 1 ? "" : "s");
	if (o->test_glob)
		fprintf(ctx->out, " matching '%s'", cli_shown(&shown, o->test_glob));
	fprintf(ctx->out, " (%s)\n", cli_shown(&shown, path));
	fprintf(ctx->out, "report: %s\n", cli_shown(&shown, output));
	rc = EXIT_OK;
out:
	free(tests);
	free(points);
	history_trends_free(trends, n);
	history_close(h);
	strbuf_release(&page);
	strbuf_release(&shown);
	diag_release(&d);
	free(output);
	free(found);
	return rc;
}
