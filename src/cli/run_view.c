/* What gpuci run shows while it runs; see run_view.h. */
#include "cli/run_view.h"

#include <stdbool.h>
#include <stdlib.h>
#include <time.h>

#include "base/diag.h"
#include "base/fs.h"
#include "base/strbuf.h"
#include "base/xalloc.h"
#include "report/report.h"
#include "base/banned.h"

struct view_test {
	bool running;
	double start; /* CLOCK_MONOTONIC, of the running attempt */
};

struct run_view {
	enum run_style style;
	FILE *out;
	struct view_test *tests;
	const struct run_test **test; /* as the events name them */
	size_t n, running, finished, passed;
	bool stopping;
	size_t drawn_lines;
	double t0;
};

struct run_view *run_view_new(enum run_style style, FILE *out)
{
	struct run_view *v = xcalloc(1, sizeof(*v));
	v->style = style;
	v->out = out;
	return v;
}

void run_view_free(struct run_view *v)
{
	if (!v)
		return;
	free(v->tests);
	free(v->test);
	free(v);
}

double run_view_idle_every(const struct run_view *v)
{
	return v->style == RUN_STYLE_TTY ? 0.5 : 5;
}

static double mono(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void clear_block(struct run_view *v)
{
	if (v->style == RUN_STYLE_TTY && v->drawn_lines) {
		fprintf(v->out, "\033[%zuA\033[J", v->drawn_lines);
		v->drawn_lines = 0;
	}
}

/* The live block: running tests with their GPUs and time, then the counts. */
static void draw_block(struct run_view *v)
{
	if (v->style != RUN_STYLE_TTY)
		return;
	clear_block(v);
	double now = mono();
	size_t lines = 0;
	for (size_t i = 0; i < v->n; i++) {
		const struct run_test *t = v->test[i];
		if (!v->tests[i].running || !t)
			continue;
		fprintf(v->out, "  running  %-50s GPUs %-12s %6.1f s\n", t->display,
		        t->gpus ? t->gpu_ids : "-", now - v->tests[i].start);
		lines++;
	}
	size_t queued = v->stopping ? 0 : v->n - v->running - v->finished;
	fprintf(v->out, "  %zu queued, %zu passed, %zu failed, %.0f s\n", queued, v->passed,
	        v->finished - v->passed, now - v->t0);
	fflush(v->out);
	v->drawn_lines = lines + 1;
}

static void line(struct run_view *v, const char *what, const struct run_test *t, const char *extra)
{
	clear_block(v);
	time_t now = time(NULL);
	struct tm tm;
	localtime_r(&now, &tm);
	/* No test: a line about the run. */
	fprintf(v->out, "%02d:%02d:%02d %-7s %s%s%s\n", tm.tm_hour, tm.tm_min, tm.tm_sec, what,
	        t ? t->display : "", t && extra && *extra ? "  " : "", extra ? extra : "");
	fflush(v->out);
}

/* Under GitHub Actions: the log folded in a group, and an error annotation. */
static void github_log(struct run_view *v, const struct run_test *t)
{
	if (v->style != RUN_STYLE_GITHUB)
		return;
	struct strbuf title = STRBUF_INIT, log = STRBUF_INIT;
	struct diag d = DIAG_INIT;
	strbuf_addf(&title, "%s %s", report_status_name(t->status), t->display);
	report_gh_group(v->out, title.buf);
	if (t->log_path && fs_read_all(t->log_path, &log, &d) == 0)
		fwrite(log.buf, 1, log.len, v->out);
	if (log.len && log.buf[log.len - 1] != '\n')
		fputc('\n', v->out);
	report_gh_endgroup(v->out);
	if (t->status != REPORT_PASSED && t->status != REPORT_FLAKY)
		report_gh_error(v->out, t->test_file, 0, t->display, t->message);
	strbuf_release(&title);
	strbuf_release(&log);
	diag_release(&d);
}

static void started(struct run_view *v, const struct run_event *ev)
{
	const struct run_test *t = ev->test;
	v->tests[ev->index] = (struct view_test){.running = true, .start = ev->started};
	v->running++;
	struct strbuf extra = STRBUF_INIT;
	if (ev->node && *ev->node)
		strbuf_addf(&extra, "on %s, ", ev->node);
	if (t->gpus)
		strbuf_addf(&extra, "GPUs %s", ev->gpu_ids);
	else
		strbuf_adds(&extra, "no GPU");
	if (ev->attempt > 1)
		strbuf_addf(&extra, ", attempt %u", ev->attempt);
	line(v, "start", t, extra.buf);
	strbuf_release(&extra);
}

/* The result line of an attempt that ran. */
static void ended(struct run_view *v, const struct run_event *ev)
{
	const struct run_test *t = ev->test;
	if (!ev->ran) {
		/* Never started: a failure to get GPUs is said, a stop is not. */
		if (ev->kind == RUN_EV_FAILED)
			line(v, "FAIL", t, ev->text);
		return;
	}
	if (v->tests[ev->index].running) {
		v->tests[ev->index].running = false;
		v->running--;
	}
	bool failed = ev->kind != RUN_EV_PASSED;
	struct strbuf extra = STRBUF_INIT;
	strbuf_addf(&extra, "%.1f s", ev->duration);
	if (t->message && *t->message)
		strbuf_addf(&extra, ", %s", t->message);
	if (ev->left)
		strbuf_addf(&extra, ", %u process%s left behind ended%s", ev->left,
		            ev->left == 1 ? "" : "es", ev->killed ? " (some needed SIGKILL)" : "");
	if (failed && !t->log_errno)
		strbuf_addf(&extra, ", log %s", t->log_path);
	if (ev->retrying)
		strbuf_adds(&extra, "; retrying");
	static const char *const words[] = {"PASS",  "FLAKY", "FAIL",  "TIMEOUT",
	                                    "CRASH", "SKIP",  "CANCEL"};
	line(v, words[t->status], t, extra.buf);
	strbuf_release(&extra);
}

void run_view_event(void *arg, const struct run_event *ev)
{
	struct run_view *v = arg;
	const struct run_test *t = ev->test;
	switch (ev->kind) {
	case RUN_EV_BEGIN:
		v->n = ev->n;
		v->tests = xcalloc(ev->n ? ev->n : 1, sizeof(*v->tests));
		v->test = xcalloc(ev->n ? ev->n : 1, sizeof(const struct run_test *));
		v->t0 = ev->now;
		break;
	case RUN_EV_SKIPPED:
		line(v, "SKIP", t, ev->text);
		break;
	case RUN_EV_WAITING:
		line(v, "WAIT", t, ev->text);
		break;
	case RUN_EV_BUSY: /* its GPUs are won but busy: waited for, or handed out anyway */
		line(v, ev->serious ? "warning" : "BUSY", t, ev->text);
		if (ev->serious && v->style == RUN_STYLE_GITHUB)
			report_gh_warning(v->out, t->test_file, 0, "gpuci run: GPU busy", ev->text);
		break;
	case RUN_EV_STARTED:
		v->test[ev->index] = t;
		started(v, ev);
		break;
	case RUN_EV_PASSED:
	case RUN_EV_FAILED:
	case RUN_EV_TIMED_OUT:
	case RUN_EV_CANCELED:
		ended(v, ev);
		break;
	case RUN_EV_FINISHED:
		v->finished++;
		v->passed += t->status == REPORT_PASSED || t->status == REPORT_FLAKY;
		if (ev->ran)
			github_log(v, t);
		break;
	case RUN_EV_WARNING:
		line(v, ev->serious ? "WARNING" : "warning", t, ev->text);
		if (v->style == RUN_STYLE_GITHUB)
			report_gh_warning(v->out, t ? t->test_file : NULL, 0,
			                  t ? "gpuci run: lock files deleted" : "gpuci run",
			                  ev->text);
		break;
	case RUN_EV_STOPPING:
		v->stopping = true;
		break;
	case RUN_EV_IDLE:
		draw_block(v);
		break;
	case RUN_EV_DONE:
		clear_block(v);
		break;
	case RUN_EV_OUTPUT:
	case RUN_EV_RETRIED:
		break;
	}
}
