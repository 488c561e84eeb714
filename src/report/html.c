#include "report/html.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/xalloc.h"
#include "report/colour.h"

#include "base/banned.h"

/* The picture's geometry, in pixels. */
#define LEFT   132.0 /* lane names */
#define TOP    30.0  /* the axis */
#define LANE_H 22.0
#define BAR_H  16.0
#define CHAR_W 6.6 /* of the 11 px labels */
#define PAD    3.0
#define MIN_W  1.5 /* the narrowest bar */

/* The table's order when sorted by status: the worst first. */
static int severity(enum report_status s)
{
	static const int rank[] = {
	    [REPORT_CRASHED] = 0, [REPORT_FAILED] = 1,   [REPORT_TIMEOUT] = 2,
	    [REPORT_FLAKY] = 3,   [REPORT_CANCELED] = 4, [REPORT_NOT_RUNNABLE] = 5,
	    [REPORT_PASSED] = 6,
	};
	return rank[s];
}

static void esc(struct strbuf *sb, const char *s)
{
	if (s)
		report_add_xml(sb, s, strlen(s), 0);
}

static void attr(struct strbuf *sb, const char *name, const char *value)
{
	strbuf_addf(sb, " %s=\"", name);
	if (value)
		report_add_xml(sb, value, strlen(value), REPORT_XML_ATTR);
	strbuf_addch(sb, '"');
}

static void iso_time(char *buf, size_t n, double t)
{
	time_t s = (time_t)t;
	struct tm tm;
	if (!(t > 0) || !gmtime_r(&s, &tm) || !strftime(buf, n, "%Y-%m-%d %H:%M:%S UTC", &tm))
		snprintf(buf, n, "unknown");
}

/* The test as a bar's label: the file's name less .py, then its args. */
static void short_name(struct strbuf *sb, const struct report_case *c)
{
	const char *f = c->test_file ? c->test_file : "";
	const char *b = strrchr(f, '/');
	b = b ? b + 1 : f;
	size_t n = strlen(b);
	if (n > 3 && !strcmp(b + n - 3, ".py"))
		n -= 3;
	strbuf_add(sb, b, n);
	if (c->test_args && *c->test_args)
		strbuf_addf(sb, " %s", c->test_args);
	if (c->variant && *c->variant)
		strbuf_addf(sb, " [%s]", c->variant);
}

/* A log's link from the page: relative when it is in the page's folder. */
static void log_href(struct strbuf *sb, const struct report_run *r, const char *log)
{
	size_t n = r->base_dir ? strlen(r->base_dir) : 0;
	if (n && !strncmp(log, r->base_dir, n) && log[n] == '/')
		log += n + 1;
	for (const unsigned char *p = (const unsigned char *)log; *p; p++)
		if (*p == '%' || *p == '#' || *p == '?' || *p == '"' || *p <= ' ' || *p >= 0x7f)
			strbuf_addf(sb, "%%%02X", *p);
		else if (*p == '&')
			strbuf_adds(sb, "&amp;");
		else if (*p == '<')
			strbuf_adds(sb, "%3C");
		else if (*p == '>')
			strbuf_adds(sb, "%3E");
		else
			strbuf_addch(sb, (char)*p);
}

static void add_secs(struct strbuf *sb, double s)
{
	report_add_duration(sb, s > 0 ? s : 0);
}

static double run_end(const struct report_run *r)
{
	double end = r->ended;
	if (!(end > 0))
		for (size_t i = 0; i < r->nattempts; i++)
			end = fmax(end, r->attempts[i].end);
	return end;
}

static void dd(struct strbuf *sb, const char *key, const char *label, const char *value)
{
	strbuf_adds(sb, "<dt>");
	esc(sb, label);
	strbuf_addf(sb, "</dt><dd data-key=\"%s\">", key);
	esc(sb, value && *value ? value : "unknown");
	strbuf_adds(sb, "</dd>\n");
}

static void header(struct strbuf *sb, const struct report_run *r)
{
	double start = r->started, end = run_end(r), wall = end > start ? end - start : 0;
	double busy = timeline_busy(r->attempts, r->nattempts, 0, 0);
	double bound = timeline_bound(r->attempts, r->nattempts, r->gpus);
	struct strbuf v = STRBUF_INIT;
	char buf[64];

	strbuf_adds(sb, "<dl id=\"summary\">\n");
	dd(sb, "repository", "Repository", r->repository);
	dd(sb, "commit", "Commit", r->commit);
	dd(sb, "selection", "Selection", r->selection);
	dd(sb, "machine", "Machine", r->machine);
	snprintf(buf, sizeof(buf), "%u", r->gpus);
	dd(sb, "gpus", "GPUs", buf);
	iso_time(buf, sizeof(buf), start);
	dd(sb, "started", "Started", buf);
	add_secs(&v, wall);
	dd(sb, "wall", "Wall time", v.buf);
	strbuf_reset(&v);
	if (r->gpus && wall > 0)
		strbuf_addf(&v, "%.0f%% (%.0f busy GPU-seconds of %u x %.0f)",
		            100 * busy / (r->gpus * wall), busy, r->gpus, wall);
	dd(sb, "utilisation", "GPU utilisation", v.buf);
	strbuf_reset(&v);
	add_secs(&v, bound);
	strbuf_adds(&v, " (no order of these attempts ends sooner)");
	dd(sb, "bound", "Lower bound", v.buf);
	strbuf_reset(&v);
	if (bound > 0 && wall > 0)
		strbuf_addf(&v, "%.2fx", wall / bound);
	dd(sb, "ratio", "Wall / bound", v.buf);
	strbuf_reset(&v);
	size_t by[REPORT_CANCELED + 1] = {0};
	for (size_t i = 0; i < r->ncases; i++)
		by[r->cases[i].status]++;
	strbuf_addf(&v, "%zu", r->ncases);
	for (int s = 0; s <= REPORT_CANCELED; s++)
		if (by[s])
			strbuf_addf(&v, ", %zu %s", by[s],
			            report_status_name((enum report_status)s));
	strbuf_addf(&v, "; %zu attempt%s", r->nattempts, r->nattempts == 1 ? "" : "s");
	dd(sb, "tests", "Tests", v.buf);
	strbuf_adds(sb, "</dl>\n");
	strbuf_release(&v);
}

static void legend(struct strbuf *sb)
{
	static const enum report_status shown[] = {REPORT_PASSED,  REPORT_FLAKY,   REPORT_FAILED,
	                                           REPORT_TIMEOUT, REPORT_CRASHED, REPORT_CANCELED};
	strbuf_adds(sb, "<p class=\"legends\">");
	for (size_t i = 0; i < sizeof(shown) / sizeof(shown[0]); i++)
		strbuf_addf(
		    sb,
		    "<span class=\"legend\" data-status=\"%s\" style=\"background:%s\"></span> "
		    "%s &nbsp; ",
		    report_status_name(shown[i]), report_status_colour(shown[i]),
		    report_status_name(shown[i]));
	strbuf_adds(sb, "<span class=\"gap\"></span> idle</p>\n");
}

static void axis(struct strbuf *sb, const struct timeline *t, double height)
{
	double pxps = timeline_pxps(t), span = timeline_t1(t) - timeline_t0(t);
	double step = timeline_tick_step(pxps, 80);
	for (long i = 0; (double)i * step <= span + 1e-9; i++) {
		double s = (double)i * step, x = LEFT + s * pxps;
		strbuf_addf(
		    sb, "<line class=\"tick\" x1=\"%.3f\" y1=\"%.0f\" x2=\"%.3f\" y2=\"%.3f\"/>", x,
		    TOP - 6, x, height);
		strbuf_addf(sb, "<text class=\"tick\" x=\"%.3f\" y=\"%.0f\">", x + 2, TOP - 10);
		if (step >= 60)
			strbuf_addf(sb, "%.0f:%02.0f", floor(s / 60), fmod(s, 60));
		else
			strbuf_addf(sb, step < 1 ? "%.1f s" : "%.0f s", s);
		strbuf_adds(sb, "</text>");
	}
	strbuf_adds(sb, "\n");
}

/* UTF-8 characters in s (bytes that do not continue one). */
static size_t chars_of(const char *s)
{
	size_t n = 0;
	for (; s && *s; s++)
		n += ((unsigned char)*s & 0xc0) != 0x80;
	return n;
}

static void bar(struct strbuf *sb, const struct report_run *r, const struct timeline *t, size_t i)
{
	const struct report_attempt *a = &r->attempts[i];
	const struct report_case *c = a->test < r->ncases ? &r->cases[a->test] : NULL;
	double pxps = timeline_pxps(t), t0 = timeline_t0(t);
	double x = LEFT + (a->start - t0) * pxps, w = (fmax(a->end, a->start) - a->start) * pxps;
	w = fmax(w, MIN_W); /* an attempt shorter than a pixel still shows */
	struct strbuf name = STRBUF_INIT;
	if (c)
		short_name(&name, c);

	strbuf_addf(sb, "<a href=\"#t%zu\">", a->test);
	strbuf_addf(sb,
	            "<g class=\"attempt\" data-test=\"%zu\" data-attempt=\"%u\" data-status=\"%s\" "
	            "data-start=\"%.3f\" data-end=\"%.3f\"",
	            a->test, a->attempt, report_status_name(a->status), a->start,
	            fmax(a->end, a->start));
	attr(sb, "data-gpus", a->gpu_ids ? a->gpu_ids : "");
	attr(sb, "data-node", a->node ? a->node : "");
	attr(sb, "data-log", a->log_path ? a->log_path : "");
	strbuf_adds(sb, "><title>");
	esc(sb, name.buf);
	strbuf_addf(sb, " (attempt %u): %s, ", a->attempt, report_status_name(a->status));
	struct strbuf d = STRBUF_INIT;
	add_secs(&d, a->end - a->start);
	esc(sb, d.buf);
	strbuf_release(&d);
	if (a->gpu_ids && *a->gpu_ids) {
		strbuf_addf(sb, ", GPU%s ", strchr(a->gpu_ids, ',') ? "s" : "");
		esc(sb, a->gpu_ids);
	}
	if (a->node && *a->node) {
		strbuf_adds(sb, " on ");
		esc(sb, a->node);
	}
	if (a->log_path) {
		strbuf_adds(sb, "\nlog: ");
		esc(sb, a->log_path);
	}
	strbuf_adds(sb, "</title>");
	const size_t *lanes;
	size_t nl = timeline_attempt_lanes(t, i, &lanes);
	for (size_t k = 0; k < nl; k++) {
		double y = TOP + (double)lanes[k] * LANE_H + (LANE_H - BAR_H) / 2;
		strbuf_addf(
		    sb,
		    "<rect class=\"bar\" data-lane=\"%zu\" x=\"%.3f\" y=\"%.1f\" width=\"%.3f\" "
		    "height=\"%.0f\" fill=\"%s\"/>",
		    lanes[k], x, y, w, BAR_H, report_status_colour(a->status));
		/* one label an attempt, on its first lane: 8 copies of a name are noise */
		size_t fit = k ? 0 : timeline_label_fit(w, CHAR_W, PAD, chars_of(name.buf));
		if (!fit)
			continue;
		/* fit counts characters: cut at a character's start */
		const char *s = name.buf;
		struct strbuf lab = STRBUF_INIT;
		size_t bytes = 0, chars = 0;
		while (s[bytes] && chars < fit) {
			bytes++;
			while (((unsigned char)s[bytes] & 0xc0) == 0x80)
				bytes++;
			chars++;
		}
		strbuf_add(&lab, s, bytes);
		if (s[bytes] && bytes >= 2) { /* cut: the last character becomes an ellipsis */
			size_t b = lab.len - 1;
			while (b > 0 && ((unsigned char)lab.buf[b] & 0xc0) == 0x80)
				b--;
			strbuf_setlen(&lab, b);
			strbuf_adds(&lab, "\u2026");
		}
		strbuf_addf(sb, "<text class=\"label\" x=\"%.3f\" y=\"%.1f\">", x + PAD,
		            y + BAR_H - 4);
		esc(sb, lab.buf);
		strbuf_adds(sb, "</text>");
		strbuf_release(&lab);
	}
	strbuf_adds(sb, "</g></a>\n");
	strbuf_release(&name);
}

static void timeline_svg(struct strbuf *sb, const struct report_run *r)
{
	struct timeline *t =
	    timeline_new(r->attempts, r->nattempts, r->gpus, r->started, run_end(r));
	size_t nl = timeline_lanes(t);
	/* 40 px on the right: room for the last tick's label */
	double w = LEFT + timeline_width(t) + 40, h = TOP + (double)nl * LANE_H + 6;
	strbuf_addf(sb,
	            "<div class=\"scroll\"><svg id=\"timeline\" width=\"%.0f\" height=\"%.0f\" "
	            "data-t0=\"%.3f\" data-left=\"%.0f\" "
	            "data-pxps=\"%.9g\" data-top=\"%.0f\" data-lane-h=\"%.0f\">\n",
	            w, h, timeline_t0(t), LEFT, timeline_pxps(t), TOP, LANE_H);
	for (size_t k = 0; k < nl; k++) {
		const struct timeline_lane *l = timeline_lane(t, k);
		char name[96], gpu[16] = "";
		timeline_lane_name(t, k, name, sizeof(name));
		if (l->kind == TIMELINE_GPU)
			snprintf(gpu, sizeof(gpu), "%u", l->gpu);
		double y = TOP + (double)k * LANE_H;
		strbuf_addf(sb, "<g class=\"lane\" data-lane=\"%zu\"", k);
		attr(sb, "data-name", name);
		attr(sb, "data-gpu", gpu);
		attr(sb, "data-node", l->node);
		strbuf_addf(sb,
		            "><rect class=\"lane%s\" x=\"%.0f\" y=\"%.0f\" width=\"%.3f\" "
		            "height=\"%.0f\"/><text class=\"lane\" x=\"6\" y=\"%.0f\">",
		            k % 2 ? " odd" : "", LEFT, y, timeline_width(t), LANE_H,
		            y + LANE_H - 7);
		esc(sb, name);
		strbuf_adds(sb, "</text></g>\n");
	}
	axis(sb, t, h - 6);
	for (size_t i = 0; i < r->nattempts; i++)
		bar(sb, r, t, i);
	strbuf_adds(sb, "</svg></div>\n");
	if (!r->nattempts)
		strbuf_adds(sb, "<p>No attempt ran.</p>\n");
	timeline_free(t);
}

static void table(struct strbuf *sb, const struct report_run *r)
{
	strbuf_adds(sb, "<table id=\"tests\"><thead><tr><th>#</th><th>Status</th><th>Job</th>"
	                "<th>Test</th><th>GPUs</th><th>GPU ids</th><th>Attempts</th>"
	                "<th>Duration</th><th>Log</th></tr></thead><tbody>\n");
	for (size_t i = 0; i < r->ncases; i++) {
		const struct report_case *c = &r->cases[i];
		strbuf_addf(sb,
		            "<tr class=\"test\" id=\"t%zu\" data-test=\"%zu\" data-status=\"%s\" "
		            "data-duration=\"%.3f\" data-attempts=\"%u\">",
		            i, i, report_status_name(c->status), c->duration > 0 ? c->duration : 0,
		            c->attempts);
		strbuf_addf(sb,
		            "<td data-v=\"%zu\">%zu</td><td data-v=\"%d\"><span class=\"st\" "
		            "style=\"background:%s\"></span>%s</td><td>",
		            i, i + 1, severity(c->status), report_status_colour(c->status),
		            report_status_name(c->status));
		esc(sb, c->job);
		strbuf_adds(sb, "</td><td>");
		esc(sb, c->test_file);
		if (c->test_args && *c->test_args) {
			strbuf_adds(sb, " ");
			esc(sb, c->test_args);
		}
		if (c->variant && *c->variant) {
			strbuf_adds(sb, " [");
			esc(sb, c->variant);
			strbuf_adds(sb, "]");
		}
		if (c->message && *c->message && c->status != REPORT_PASSED) {
			strbuf_adds(sb, "<div class=\"msg\">");
			esc(sb, c->message);
			strbuf_adds(sb, "</div>");
		}
		bool failed = c->status == REPORT_FAILED || c->status == REPORT_TIMEOUT ||
		              c->status == REPORT_CRASHED;
		if (failed && c->log_path && r->tail_lines) {
			struct strbuf tail = STRBUF_INIT;
			struct diag d = DIAG_INIT;
			bool cut = false;
			if (report_log_tail(&tail, &cut, c->log_path, r->tail_lines,
			                    REPORT_TAIL_MAX, &d) < 0)
				strbuf_addf(&tail, "[gpuci: %s]\n", d.msg.buf);
			if (cut)
				strbuf_addf(
				    sb,
				    "<details class=\"tail\"><summary>the last %zu lines of its "
				    "log</summary><pre>",
				    r->tail_lines);
			else
				strbuf_adds(
				    sb, "<details class=\"tail\"><summary>its log</summary><pre>");
			report_add_xml(sb, tail.buf ? tail.buf : "", tail.len, REPORT_XML_ANSI);
			strbuf_adds(sb, "</pre></details>");
			strbuf_release(&tail);
			diag_release(&d);
		}
		strbuf_addf(sb, "</td><td data-v=\"%u\">%u</td><td>", c->gpus, c->gpus);
		esc(sb, c->gpu_ids);
		if (c->node && *c->node) {
			strbuf_adds(sb, " on ");
			esc(sb, c->node);
		}
		strbuf_addf(sb, "</td><td data-v=\"%u\">%u</td><td data-v=\"%.3f\">", c->attempts,
		            c->attempts, c->attempts ? c->duration : -1);
		if (c->attempts)
			add_secs(sb, c->duration);
		else
			strbuf_adds(sb, "-");
		strbuf_adds(sb, "</td><td>");
		if (c->log_path) {
			strbuf_adds(sb, "<a href=\"");
			log_href(sb, r, c->log_path);
			strbuf_adds(sb, "\">");
			const char *b = strrchr(c->log_path, '/');
			esc(sb, b ? b + 1 : c->log_path);
			strbuf_adds(sb, "</a>");
		}
		strbuf_adds(sb, "</td></tr>\n");
	}
	strbuf_adds(sb, "</tbody></table>\n");
}

static const char style[] =
    "body{font:14px/1.4 system-ui,sans-serif;margin:16px 24px;color:#1f2328}"
    "h1{font-size:20px;margin:0 0 8px}"
    "dl#summary{display:grid;grid-template-columns:max-content auto;gap:2px 16px;margin:0 0 12px}"
    "dt{color:#59636e}dd{margin:0}"
    ".note{background:#fff8c5;border:1px solid #d4a72c;padding:6px 10px;border-radius:6px}"
    ".legend,.st,.gap{display:inline-block;width:12px;height:12px;border-radius:2px;"
    "vertical-align:-1px;margin-right:4px}"
    ".gap{background:#f6f8fa;border:1px solid #d0d7de}"
    ".scroll{overflow-x:auto;border:1px solid #d0d7de;border-radius:6px;margin:8px 0 16px}"
    "svg text{font:11px system-ui,sans-serif}"
    "text.lane{fill:#1f2328}text.tick{fill:#59636e}"
    "text.label{fill:#fff;pointer-events:none}"
    "rect.lane{fill:#f6f8fa}rect.lane.odd{fill:#eef1f4}"
    "line.tick{stroke:#d0d7de;stroke-width:1}"
    "rect.bar{stroke:#fff;stroke-width:0.5}g.attempt:hover rect.bar{stroke:#000;stroke-width:1.5}"
    "table{border-collapse:collapse;width:100%}"
    "th,td{border-bottom:1px solid #d0d7de;padding:3px 8px;text-align:left;vertical-align:top}"
    "td{white-space:nowrap}td:nth-child(4){white-space:normal;width:100%}"
    "th{cursor:pointer;user-select:none;background:#f6f8fa}th:hover{background:#eaeef2}"
    "tr:target{background:#fff8c5}"
    ".msg{color:#cf222e}details pre{max-height:24em;overflow:auto;background:#f6f8fa;"
    "padding:6px;font-size:12px;white-space:pre-wrap}";

/* Sorts the table by the column clicked (again: the other way), by data-v or text. */
static const char script[] =
    "document.querySelectorAll('#tests th').forEach(function(th,i){th.onclick=function(){"
    "var tb=document.querySelector('#tests tbody'),rows=Array.prototype.slice.call(tb.rows),"
    "dir=th.getAttribute('data-dir')==='1'?-1:1;th.setAttribute('data-dir',dir===1?'1':'0');"
    "function v(r){var c=r.cells[i];return c.hasAttribute('data-v')?"
    "parseFloat(c.getAttribute('data-v')):c.textContent}"
    "rows.sort(function(a,b){var x=v(a),y=v(b);return (x<y?-1:x>y?1:0)*dir});"
    "rows.forEach(function(r){tb.appendChild(r)})}})";

void report_html(struct strbuf *out, const struct report_run *r)
{
	strbuf_adds(out,
	            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
	            "<meta name=\"viewport\" content=\"width=device-width\">\n<title>gpuci run ");
	esc(out, r->run_id);
	strbuf_addf(out, "</title>\n<style>%s</style></head><body>\n<h1>gpuci run ", style);
	esc(out, r->run_id);
	strbuf_adds(out, "</h1>\n");
	if (r->note && *r->note) {
		strbuf_adds(out, "<p class=\"note\">");
		esc(out, r->note);
		strbuf_adds(out, "</p>\n");
	}
	header(out, r);
	legend(out);
	timeline_svg(out, r);
	table(out, r);
	strbuf_addf(out, "<script>%s</script>\n</body></html>\n", script);
}
