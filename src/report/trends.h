/*
 * report/trends: the trends page of `gpuci report --history`, one
 * self-contained HTML file (inline CSS, SVG and a few lines of script, no
 * external URL): per test its counts over a window of days, the median
 * and p90 of its passed and flaky durations, a chart of its durations
 * over its attempts, and a strip of its last results.
 *
 * The input is its own (the caller turns the history's figures into it):
 * report/ knows nothing of db/.
 *
 * The DOM, for tools and tests:
 *   <dl id="summary"> with <dd data-key="history|days|since|glob|generated|tests">
 *   <span class="legend" data-status="S" style="background:#RRGGBB"> per status
 *   <table id="trends">, one <tr class="trend" data-test-file data-test-args
 *     data-variant data-identity data-runs data-passed data-flaky data-failed
 *     data-median data-p90 data-total data-shown> per test (median and p90
 *     "" when untimed; total the attempts in the window, shown those drawn),
 *     flakiest first (flaky + failed), then slowest (median), then by name
 *   in each row <svg class="spark" data-n="SHOWN" data-ymax="SECS"
 *     data-y0="Y of 0 s" data-y1="Y of ymax"> with <polyline class="line">,
 *     a <line class="median"> when timed, and one <circle class="pt"
 *     data-status data-duration data-started data-run> per attempt shown,
 *     oldest first, filled with its status's colour (report/colour.h)
 *   and <svg class="strip" data-n="N"> with one <rect class="mark"
 *     data-status> per one of the last TRENDS_STRIP_MAX attempts, newest last.
 * Seconds in data attributes have 3 decimals, as `gpuci history --json`.
 */
#ifndef GPUCI_REPORT_TRENDS_H
#define GPUCI_REPORT_TRENDS_H

#include <stdbool.h>
#include <stddef.h>

#include "base/strbuf.h"
#include "report/report.h"

/* The most attempts a chart draws by default: a test's last ones. */
#define TRENDS_MAX_POINTS 200
/* The most results a strip shows: the last ones. */
#define TRENDS_STRIP_MAX 50

/* A chart's size in pixels, and the margin inside it. */
#define TRENDS_CHART_W     240
#define TRENDS_CHART_H     48
#define TRENDS_CHART_PAD   4
#define TRENDS_POINT_R_MIN 1.2
#define TRENDS_POINT_R_MAX 2.5

/* One attempt. */
struct trends_point {
	double started_at; /* seconds since the epoch */
	double duration;   /* seconds */
	enum report_status status;
	const char *run_id; /* may be NULL */
};

/* One test over the window. */
struct trends_test {
	const char *test_file;
	const char *test_args; /* "" or NULL when none */
	const char *identity;  /* may be NULL */
	const char *variant;   /* what tells it from entries of the same file and args, or NULL */
	size_t runs, passed, flaky, failed; /* failed: failed, timeout, crashed */
	bool timed;                         /* median and p90 are valid */
	double median, p90;
	const struct trends_point *points; /* oldest first */
	size_t npoints;
};

/* What the header says. */
struct trends_page {
	const char *history;   /* the history file read */
	unsigned days;         /* the window */
	double since;          /* its start, seconds since the epoch */
	const char *test_glob; /* NULL: every test */
	double generated_at;   /* seconds since the epoch */
	size_t max_points;     /* per chart; 0: TRENDS_MAX_POINTS */
};

/*
 * The page's order: more flaky + failed attempts first, then the longer
 * median (an untimed test after every timed one), then by test_file,
 * test_args, variant, identity. A qsort()-style comparison.
 */
int trends_cmp(const struct trends_test *a, const struct trends_test *b);

/* Which attempts a chart draws, and its vertical scale. */
struct trends_chart {
	size_t first; /* the index of the first point drawn: the last `shown` are */
	size_t shown;
	double ymax; /* the longest duration drawn (0 when none is above 0): the top */
};

/*
 * The chart of n points with at most max drawn (0: TRENDS_MAX_POINTS).
 * Durations that are not finite or below 0 count as 0.
 */
void trends_chart_of(struct trends_chart *c, const struct trends_point *p, size_t n, size_t max);
/*
 * Where the i-th point drawn goes (0 <= i < shown): x evenly spaced
 * between the margins (the middle for one point), y from the bottom
 * margin (0 s, or everything when ymax is 0) to the top one (ymax).
 */
double trends_chart_x(const struct trends_chart *c, size_t i);
double trends_chart_y(const struct trends_chart *c, double duration);
/*
 * The radius of the points: 0.6 of their spacing, within
 * [TRENDS_POINT_R_MIN, TRENDS_POINT_R_MAX], so that 200 points stay apart.
 */
double trends_chart_radius(const struct trends_chart *c);

/* Appends the whole page, the tests in trends_cmp() order (the array is left as it is). */
void trends_render(struct strbuf *out, const struct trends_page *page,
                   const struct trends_test *tests, size_t n);

#endif
