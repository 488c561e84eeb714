/*
 * report/trends: the trends page (see trends.h). Text goes through
 * html_add() (escaped, invalid UTF-8 and control characters replaced);
 * numbers are printed with fixed decimals, so a page is the same bytes
 * for the same input.
 */
#include "report/trends.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/xalloc.h"
#include "report/colour.h"
#include "base/banned.h"

#define REPLACEMENT "\xef\xbf\xbd" /* U+FFFD */

/* The statuses in the legend's order. */
static const enum report_status legend[] = {
    REPORT_PASSED,  REPORT_FLAKY,        REPORT_FAILED,   REPORT_TIMEOUT,
    REPORT_CRASHED, REPORT_NOT_RUNNABLE, REPORT_CANCELED,
};

/* ---- arithmetic ------------------------------------------------------- */

static double clamp_duration(double s)
{
	return isfinite(s) && s > 0 ? s : 0;
}

static size_t flaky_failed(const struct trends_test *t)
{
	return t->flaky + t->failed;
}

static int cmp_str(const char *a, const char *b)
{
	return strcmp(a ? a : "", b ? b : "");
}

int trends_cmp(const struct trends_test *a, const struct trends_test *b)
{
	size_t fa = flaky_failed(a), fb = flaky_failed(b);
	if (fa != fb)
		return fa > fb ? -1 : 1;
	if (a->timed != b->timed)
		return a->timed ? -1 : 1;
	if (a->timed && a->median != b->median)
		return a->median > b->median ? -1 : 1;
	int c = cmp_str(a->test_file, b->test_file);
	c = c ? c : cmp_str(a->test_args, b->test_args);
	c = c ? c : cmp_str(a->variant, b->variant);
	return c ? c : cmp_str(a->identity, b->identity);
}

void trends_chart_of(struct trends_chart *c, const struct trends_point *p, size_t n, size_t max)
{
	if (!max)
		max = TRENDS_MAX_POINTS;
	c->shown = n < max ? n : max;
	c->first = n - c->shown;
	c->ymax = 0;
	for (size_t i = c->first; i < n; i++)
		if (clamp_duration(p[i].duration) > c->ymax)
			c->ymax = clamp_duration(p[i].duration);
}

double trends_chart_x(const struct trends_chart *c, size_t i)
{
	const double left = TRENDS_CHART_PAD, width = TRENDS_CHART_W - 2 * TRENDS_CHART_PAD;
	if (c->shown < 2)
		return left + width / 2;
	return left + width * (double)i / (double)(c->shown - 1);
}

double trends_chart_y(const struct trends_chart *c, double duration)
{
	const double bottom = TRENDS_CHART_H - TRENDS_CHART_PAD,
	             height = TRENDS_CHART_H - 2 * TRENDS_CHART_PAD;
	if (!(c->ymax > 0))
		return bottom;
	double f = clamp_duration(duration) / c->ymax;
	return bottom - height * (f > 1 ? 1 : f);
}

double trends_chart_radius(const struct trends_chart *c)
{
	const double width = TRENDS_CHART_W - 2 * TRENDS_CHART_PAD;
	if (c->shown < 2)
		return TRENDS_POINT_R_MAX;
	double r = 0.6 * width / (double)(c->shown - 1);
	return r > TRENDS_POINT_R_MAX   ? TRENDS_POINT_R_MAX
	       : r < TRENDS_POINT_R_MIN ? TRENDS_POINT_R_MIN
	                                : r;
}

/* ---- text ------------------------------------------------------------- */

/* s escaped for HTML text and attribute values (NULL: nothing), as report.h escapes XML. */
static void html_add(struct strbuf *sb, const char *s)
{
	if (s)
		report_add_xml(sb, s, strlen(s), REPORT_XML_ATTR);
}

/* ` name="VALUE"`, the value escaped. */
static void html_attr(struct strbuf *sb, const char *name, const char *value)
{
	strbuf_addf(sb, " %s=\"", name);
	html_add(sb, value);
	strbuf_addch(sb, '"');
}

/* ` name="SECS"` with 3 decimals, or "" when !valid. */
static void attr_secs(struct strbuf *sb, const char *name, double s, bool valid)
{
	if (valid && isfinite(s))
		strbuf_addf(sb, " %s=\"%.3f\"", name, s);
	else
		strbuf_addf(sb, " %s=\"\"", name);
}

/* Seconds since the epoch in UTC, "2026-11-26 06:55:01 UTC", or "?". */
static void add_time(struct strbuf *sb, double t)
{
	struct tm tm;
	char buf[40];
	/* Guarded: converting a double out of time_t's range is undefined. */
	if (!isfinite(t) || t < 0 || t >= 1e12) {
		strbuf_addch(sb, '?');
		return;
	}
	time_t tt = (time_t)t;
	if (gmtime_r(&tt, &tm) && strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S UTC", &tm))
		strbuf_adds(sb, buf);
	else
		strbuf_addch(sb, '?');
}

/* The test's name for people: file, args, variant. */
static void add_name(struct strbuf *sb, const struct trends_test *t)
{
	strbuf_adds(sb, "<code>");
	html_add(sb, t->test_file);
	strbuf_adds(sb, "</code>");
	if (t->test_args && *t->test_args) {
		strbuf_adds(sb, " <span class=\"args\">");
		html_add(sb, t->test_args);
		strbuf_adds(sb, "</span>");
	}
	if (t->variant && *t->variant) {
		strbuf_adds(sb, " <span class=\"variant\">");
		html_add(sb, t->variant);
		strbuf_adds(sb, "</span>");
	}
}

static void add_duration_cell(struct strbuf *sb, bool valid, double s)
{
	strbuf_adds(sb, "<td class=\"num\">");
	if (valid)
		report_add_duration(sb, s);
	else
		strbuf_adds(sb, "&ndash;");
	strbuf_adds(sb, "</td>");
}

/* ---- the page --------------------------------------------------------- */

static const char style[] =
    "body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#1f2328;background:#fff}"
    "h1{font-size:1.4em;margin:0 0 .5em}"
    "dl#summary{display:grid;grid-template-columns:max-content auto;gap:.1em 1em;margin:0 0 1em}"
    "dt{color:#59636e}dd{margin:0}"
    ".legend{display:inline-block;color:#fff;padding:0 .5em;margin-right:.3em;border-radius:3px;"
    "font-size:.85em}.legend[data-status=not-runnable]{color:#1f2328}"
    ".note{color:#59636e;font-size:.9em;max-width:60em}"
    "#controls{margin:.8em 0}#controls button{margin-right:.3em}"
    "table#trends{border-collapse:collapse}"
    "#trends th{position:sticky;top:0;background:#f6f8fa;text-align:left;"
    "border-bottom:1px solid #d1d9e0;padding:4px 8px;font-weight:600}"
    "#trends td{border-bottom:1px solid #eef1f4;padding:3px 8px;vertical-align:middle}"
    "#trends td.num{text-align:right;white-space:nowrap;font-variant-numeric:tabular-nums}"
    "#trends td.name{max-width:32em;overflow-wrap:anywhere}"
    ".args,.variant{color:#59636e}.cut{display:block;color:#9a6700;font-size:.8em}"
    "svg.spark{background:#fafbfc;border:1px solid #eef1f4}"
    "svg.spark .line{fill:none;stroke:#afb8c1;stroke-width:1}"
    "svg.spark .median{stroke:#59636e;stroke-width:1;stroke-dasharray:3 3}"
    "#empty{font-style:italic}"
    "#tip{position:fixed;display:none;background:#1f2328;color:#fff;padding:2px 6px;"
    "border-radius:3px;font-size:12px;pointer-events:none;white-space:nowrap}";

/* Sorting by a column and filtering by name: the rows' data attributes. */
static const char script[] =
    "(function(){\n"
    "var body=document.querySelector('#trends tbody');\n"
    "function num(r,k){var v=r.getAttribute(k);return v===''?-1:parseFloat(v);}\n"
    "function key(r){return r.getAttribute('data-test-file')+' "
    "'+r.getAttribute('data-test-args');}\n"
    "var keys={flaky:function(a,b){return num(b,'data-flaky')+num(b,'data-failed')-"
    "num(a,'data-flaky')-num(a,'data-failed')||num(b,'data-median')-num(a,'data-median');},\n"
    " slow:function(a,b){return num(b,'data-median')-num(a,'data-median');},\n"
    " name:function(a,b){return key(a).localeCompare(key(b));}};\n"
    "function sortBy(k){var rows=Array.prototype.slice.call(body.rows);\n"
    " rows.sort(keys[k]);rows.forEach(function(r){body.appendChild(r);});}\n"
    "document.querySelectorAll('#controls button').forEach(function(btn){\n"
    " btn.addEventListener('click',function(){var k=btn.getAttribute('data-sort');\n"
    "  sortBy(k);location.hash='sort='+k;});});\n"
    "var m=/^#sort=(\\w+)$/.exec(location.hash);if(m&&keys[m[1]])sortBy(m[1]);\n"
    "var f=document.getElementById('filter');\n"
    "f.addEventListener('input',function(){var q=f.value.toLowerCase();\n"
    " Array.prototype.forEach.call(body.rows,function(r){\n"
    "  var s=key(r).toLowerCase();\n"
    "  r.style.display=s.indexOf(q)<0?'none':'';});});\n"
    "var tip=document.getElementById('tip');\n"
    "function dur(d){if(d<60)return d.toFixed(1)+' s';var s=Math.round(d);\n"
    " return s<3600?Math.floor(s/60)+' min '+('0'+s%60).slice(-2)+' s':\n"
    "  Math.floor(s/3600)+' h '+('0'+Math.floor(s/60)%60).slice(-2)+' min';}\n"
    "document.addEventListener('mouseover',function(e){var t=e.target;\n"
    " if(!t.getAttribute||!t.hasAttribute('data-started')){tip.style.display='none';return;}\n"
    " var when=new Date(parseFloat(t.getAttribute('data-started'))*1000);\n"
    " tip.textContent=when.toISOString().replace('T',' ').slice(0,19)+' UTC: '+\n"
    "  t.getAttribute('data-status')+' in '+dur(parseFloat(t.getAttribute('data-duration')))+\n"
    "  (t.getAttribute('data-run')?', run '+t.getAttribute('data-run'):'');\n"
    " tip.style.left=(e.clientX+12)+'px';tip.style.top=(e.clientY+12)+'px';\n"
    " tip.style.display='block';});\n"
    "})();\n";

static void render_header(struct strbuf *out, const struct trends_page *pg, size_t n, size_t max)
{
	strbuf_adds(out,
	            "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
	            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
	            "<title>gpuci trends</title>\n<style>");
	strbuf_adds(out, style);
	strbuf_adds(out, "</style>\n</head>\n<body>\n<h1>Test trends</h1>\n<dl id=\"summary\">\n");
	strbuf_adds(out, "<dt>history</dt><dd data-key=\"history\">");
	html_add(out, pg->history);
	strbuf_addf(out,
	            "</dd>\n<dt>window</dt><dd data-key=\"days\" data-value=\"%u\">the last %u "
	            "day%s</dd>\n",
	            pg->days, pg->days, pg->days == 1 ? "" : "s");
	strbuf_addf(out, "<dt>since</dt><dd data-key=\"since\" data-value=\"%.3f\">",
	            isfinite(pg->since) ? pg->since : 0);
	add_time(out, pg->since);
	strbuf_adds(out, "</dd>\n<dt>tests</dt><dd data-key=\"glob\"");
	html_attr(out, "data-value", pg->test_glob ? pg->test_glob : "");
	strbuf_addch(out, '>');
	if (pg->test_glob) {
		strbuf_adds(out, "matching <code>");
		html_add(out, pg->test_glob);
		strbuf_adds(out, "</code>");
	} else {
		strbuf_adds(out, "all");
	}
	strbuf_addf(
	    out, "</dd>\n<dt>shown</dt><dd data-key=\"tests\" data-value=\"%zu\">%zu test%s</dd>\n",
	    n, n, n == 1 ? "" : "s");
	strbuf_addf(out, "<dt>generated</dt><dd data-key=\"generated\" data-value=\"%.3f\">",
	            isfinite(pg->generated_at) ? pg->generated_at : 0);
	add_time(out, pg->generated_at);
	strbuf_adds(out, "</dd>\n</dl>\n<p>");
	for (size_t i = 0; i < sizeof(legend) / sizeof(legend[0]); i++)
		strbuf_addf(
		    out,
		    "<span class=\"legend\" data-status=\"%s\" style=\"background:%s\">%s</span>",
		    report_status_name(legend[i]), report_status_colour(legend[i]),
		    report_status_name(legend[i]));
	strbuf_addf(
	    out,
	    "</p>\n<p class=\"note\">One row a test (its file, args and other matrix keys), "
	    "flakiest first (flaky + failed attempts), then slowest (median). Counts, "
	    "median and p90 are over the window's attempts; median and p90 over the passed "
	    "and flaky ones. Each chart draws a test's durations, oldest left, at most its "
	    "last %zu attempts, from 0 at the bottom to that test's longest drawn attempt "
	    "at the top; the dashed line is the median. The squares are the last %d "
	    "results, newest last.</p>\n",
	    max, TRENDS_STRIP_MAX);
	strbuf_adds(out, "<div id=\"controls\">sort: <button data-sort=\"flaky\">flakiest</button>"
	                 "<button data-sort=\"slow\">slowest</button>"
	                 "<button data-sort=\"name\">name</button> filter: "
	                 "<input id=\"filter\" type=\"search\" placeholder=\"test file or args\">"
	                 "</div>\n");
}

/* The chart of one test's durations. */
static void render_spark(struct strbuf *out, const struct trends_test *t, size_t max)
{
	struct trends_chart c;
	trends_chart_of(&c, t->points, t->npoints, max);
	strbuf_addf(out,
	            "<svg class=\"spark\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
	            "data-n=\"%zu\" data-ymax=\"%.3f\" data-y0=\"%.1f\" data-y1=\"%.1f\">",
	            TRENDS_CHART_W, TRENDS_CHART_H, TRENDS_CHART_W, TRENDS_CHART_H, c.shown, c.ymax,
	            trends_chart_y(&c, 0), (double)TRENDS_CHART_PAD);
	strbuf_addf(out, "<title>the last %zu attempt%s, from 0 s at the bottom to ", c.shown,
	            c.shown == 1 ? "" : "s");
	report_add_duration(out, c.ymax);
	strbuf_adds(out, " at the top</title>");
	if (c.shown > 1) {
		strbuf_adds(out, "<polyline class=\"line\" points=\"");
		for (size_t i = 0; i < c.shown; i++)
			strbuf_addf(out, "%s%.1f,%.1f", i ? " " : "", trends_chart_x(&c, i),
			            trends_chart_y(&c, t->points[c.first + i].duration));
		strbuf_adds(out, "\"/>");
	}
	if (t->timed && c.ymax > 0) {
		double y = trends_chart_y(&c, t->median);
		strbuf_addf(out,
		            "<line class=\"median\" x1=\"%d\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\"/>",
		            TRENDS_CHART_PAD, TRENDS_CHART_W - TRENDS_CHART_PAD, y, y);
	}
	double r = trends_chart_radius(&c);
	for (size_t i = 0; i < c.shown; i++) {
		const struct trends_point *p = &t->points[c.first + i];
		const char *status = report_status_name(p->status);
		strbuf_addf(out,
		            "<circle class=\"pt\" cx=\"%.1f\" cy=\"%.1f\" r=\"%.1f\" fill=\"%s\" "
		            "data-status=\"%s\"",
		            trends_chart_x(&c, i), trends_chart_y(&c, p->duration), r,
		            report_status_colour(p->status), status);
		attr_secs(out, "data-duration", p->duration, true);
		attr_secs(out, "data-started", p->started_at, true);
		html_attr(out, "data-run", p->run_id ? p->run_id : "");
		strbuf_adds(out, "/>");
	}
	strbuf_adds(out, "</svg>");
}

/* The last results as squares, newest last. */
static void render_strip(struct strbuf *out, const struct trends_test *t)
{
	size_t shown = t->npoints < TRENDS_STRIP_MAX ? t->npoints : TRENDS_STRIP_MAX;
	size_t first = t->npoints - shown;
	strbuf_addf(out,
	            "<svg class=\"strip\" width=\"%zu\" height=\"10\" viewBox=\"0 0 %zu 10\" "
	            "data-n=\"%zu\">",
	            shown ? shown * 7 - 1 : 1, shown ? shown * 7 - 1 : 1, shown);
	for (size_t i = 0; i < shown; i++) {
		const struct trends_point *p = &t->points[first + i];
		strbuf_addf(out,
		            "<rect class=\"mark\" x=\"%zu\" y=\"2\" width=\"6\" height=\"6\" "
		            "fill=\"%s\" data-status=\"%s\"",
		            i * 7, report_status_colour(p->status), report_status_name(p->status));
		attr_secs(out, "data-duration", p->duration, true);
		attr_secs(out, "data-started", p->started_at, true);
		html_attr(out, "data-run", p->run_id ? p->run_id : "");
		strbuf_adds(out, "/>");
	}
	strbuf_adds(out, "</svg>");
}

static void render_row(struct strbuf *out, const struct trends_test *t, size_t max)
{
	size_t shown = t->npoints < max ? t->npoints : max;
	strbuf_adds(out, "<tr class=\"trend\"");
	html_attr(out, "data-test-file", t->test_file);
	html_attr(out, "data-test-args", t->test_args ? t->test_args : "");
	html_attr(out, "data-variant", t->variant ? t->variant : "");
	html_attr(out, "data-identity", t->identity ? t->identity : "");
	strbuf_addf(out,
	            " data-runs=\"%zu\" data-passed=\"%zu\" data-flaky=\"%zu\" data-failed=\"%zu\"",
	            t->runs, t->passed, t->flaky, t->failed);
	attr_secs(out, "data-median", t->median, t->timed);
	attr_secs(out, "data-p90", t->p90, t->timed);
	strbuf_addf(out, " data-total=\"%zu\" data-shown=\"%zu\">\n<td class=\"name\">", t->npoints,
	            shown);
	add_name(out, t);
	if (shown < t->npoints)
		strbuf_addf(out, "<span class=\"cut\">chart: the last %zu of %zu attempts</span>",
		            shown, t->npoints);
	strbuf_addf(out,
	            "</td><td class=\"num\">%zu</td><td class=\"num\">%zu</td>"
	            "<td class=\"num\">%zu</td><td class=\"num\">%zu</td>",
	            t->runs, t->passed, t->flaky, t->failed);
	add_duration_cell(out, t->timed, t->median);
	add_duration_cell(out, t->timed, t->p90);
	strbuf_adds(out, "<td>");
	render_spark(out, t, max);
	strbuf_adds(out, "</td><td>");
	render_strip(out, t);
	strbuf_adds(out, "</td></tr>\n");
}

static int cmp_ptr(const void *a, const void *b)
{
	return trends_cmp(*(const struct trends_test *const *)a,
	                  *(const struct trends_test *const *)b);
}

void trends_render(struct strbuf *out, const struct trends_page *page,
                   const struct trends_test *tests, size_t n)
{
	size_t max = page->max_points ? page->max_points : TRENDS_MAX_POINTS;
	render_header(out, page, n, max);
	const struct trends_test **order = xcalloc(n ? n : 1, sizeof(const struct trends_test *));
	for (size_t i = 0; i < n; i++)
		order[i] = &tests[i];
	qsort(order, n, sizeof(const struct trends_test *), cmp_ptr);
	if (!n) {
		strbuf_addf(out, "<p id=\"empty\">No attempt recorded in the last %u day%s",
		            page->days, page->days == 1 ? "" : "s");
		if (page->test_glob) {
			strbuf_adds(out, " of tests matching <code>");
			html_add(out, page->test_glob);
			strbuf_adds(out, "</code>");
		}
		strbuf_adds(out, ".</p>\n");
	}
	strbuf_adds(out, "<table id=\"trends\">\n<thead><tr><th>test</th><th>runs</th>"
	                 "<th>passed</th><th>flaky</th><th>failed</th><th>median</th><th>p90</th>"
	                 "<th>duration over attempts</th><th>last results</th></tr></thead>\n"
	                 "<tbody>\n");
	for (size_t i = 0; i < n; i++)
		render_row(out, order[i], max);
	strbuf_adds(out, "</tbody>\n</table>\n<div id=\"tip\"></div>\n<script>\n");
	strbuf_adds(out, script);
	strbuf_adds(out, "</script>\n</body>\n</html>\n");
	free(order);
}
