/*
 * report/trends and report/colour: the chart's arithmetic (which points, the
 * scales), the page's order, and the page itself read back through its DOM
 * hooks (counted and parsed here, not compared with a stored copy).
 */
#include "harness.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/strbuf.h"
#include "report/colour.h"
#include "report/trends.h"

static const enum report_status all_statuses[] = {
    REPORT_PASSED,  REPORT_FLAKY,        REPORT_FAILED,   REPORT_TIMEOUT,
    REPORT_CRASHED, REPORT_NOT_RUNNABLE, REPORT_CANCELED,
};
#define NSTATUS (sizeof(all_statuses) / sizeof(all_statuses[0]))

/* How many times needle occurs in s. */
static size_t count(const char *s, const char *needle)
{
	size_t n = 0;
	for (const char *p = s; (p = strstr(p, needle)); p += strlen(needle))
		n++;
	return n;
}

/* The value of attribute name in the element that starts at the n-th `start` in s. */
static char *attr_of(const char *s, const char *start, size_t nth, const char *name)
{
	const char *p = s;
	for (size_t i = 0; i <= nth; i++) {
		p = strstr(p, start);
		if (!p)
			fail_msg("no %zu-th %s", nth, start);
		if (i < nth)
			p += strlen(start);
	}
	const char *end = strchr(p, '>');
	char key[64];
	snprintf(key, sizeof(key), " %s=\"", name);
	const char *a = strstr(p, key);
	if (!a || a > end)
		fail_msg("no %s in the %zu-th %s", name, nth, start);
	a += strlen(key);
	const char *q = strchr(a, '"');
	char *v = malloc((size_t)(q - a) + 1);
	memcpy(v, a, (size_t)(q - a));
	v[q - a] = '\0';
	return v;
}

static double attr_num(const char *s, const char *start, size_t nth, const char *name)
{
	char *v = attr_of(s, start, nth, name);
	double x = strtod(v, NULL);
	free(v);
	return x;
}

static void assert_attr(const char *s, const char *start, size_t nth, const char *name,
                        const char *want)
{
	char *v = attr_of(s, start, nth, name);
	assert_string_equal(v, want);
	free(v);
}

/* ---- colours ------------------------------------------------------------ */

static void report_status_colour__one_distinct_colour_per_status_and_names_read_back(void **state)
{
	for (size_t i = 0; i < NSTATUS; i++) {
		const char *c = report_status_colour(all_statuses[i]);
		assert_int_equal(strlen(c), 7);
		assert_int_equal(c[0], '#');
		assert_int_equal(strspn(c + 1, "0123456789abcdef"), 6);
		for (size_t j = 0; j < i; j++)
			assert_string_not_equal(c, report_status_colour(all_statuses[j]));
		enum report_status s = REPORT_CANCELED;
		assert_true(report_status_parse(report_status_name(all_statuses[i]), &s));
		assert_int_equal(s, all_statuses[i]);
	}
	enum report_status s = REPORT_PASSED;
	assert_true(report_status_parse("skipped", &s));
	assert_int_equal(s, REPORT_NOT_RUNNABLE);
	assert_false(report_status_parse("passd", &s));
	assert_false(report_status_parse("", &s));
}

/* ---- the chart's arithmetic ---------------------------------------------- */

static void trends_chart_of__draws_the_last_points_scaled_to_their_longest(void **state)
{
	struct trends_point p[500];
	for (size_t i = 0; i < 500; i++)
		p[i] = (struct trends_point){.started_at = (double)i, .duration = (double)(i % 7)};
	p[10].duration = 1e6; /* before the drawn ones: not the scale */
	p[450].duration = 42;
	struct trends_chart c;
	trends_chart_of(&c, p, 500, 0);
	assert_int_equal(c.shown, TRENDS_MAX_POINTS);
	assert_int_equal(c.first, 500 - TRENDS_MAX_POINTS);
	assert_true(c.ymax == 42);
	trends_chart_of(&c, p, 500, 20);
	assert_int_equal(c.shown, 20);
	assert_int_equal(c.first, 480);
	assert_true(c.ymax == 6);
	/* Fewer points than the cap: all of them. */
	trends_chart_of(&c, p, 12, 200);
	assert_int_equal(c.shown, 12);
	assert_int_equal(c.first, 0);
	assert_true(c.ymax == 1e6);
	/* None; or durations that are not numbers, or negative: 0 s. */
	trends_chart_of(&c, p, 0, 200);
	assert_int_equal(c.shown, 0);
	assert_true(c.ymax == 0);
	struct trends_point odd[] = {{.duration = NAN}, {.duration = -5}, {.duration = INFINITY}};
	trends_chart_of(&c, odd, 3, 0);
	assert_true(c.ymax == 0);
}

static void trends_chart_x_y__margins_middle_and_clamping(void **state)
{
	const double pad = TRENDS_CHART_PAD, w = TRENDS_CHART_W, h = TRENDS_CHART_H;
	struct trends_chart c = {.shown = 1, .ymax = 10};
	assert_true(trends_chart_x(&c, 0) == w / 2);
	c.shown = 3;
	assert_true(trends_chart_x(&c, 0) == pad);
	assert_true(trends_chart_x(&c, 1) == w / 2);
	assert_true(trends_chart_x(&c, 2) == w - pad);
	c.shown = 200;
	for (size_t i = 1; i < 200; i++)
		assert_true(trends_chart_x(&c, i) > trends_chart_x(&c, i - 1));
	assert_true(trends_chart_x(&c, 199) == w - pad);
	/* y: 0 s at the bottom margin, ymax at the top one, linear between. */
	assert_true(trends_chart_y(&c, 0) == h - pad);
	assert_true(trends_chart_y(&c, 10) == pad);
	assert_true(trends_chart_y(&c, 5) == h / 2);
	assert_true(fabs(trends_chart_y(&c, 2.5) - (h - pad - (h - 2 * pad) / 4)) < 1e-9);
	assert_true(trends_chart_y(&c, 1000) == pad);
	assert_true(trends_chart_y(&c, -1) == h - pad);
	assert_true(trends_chart_y(&c, NAN) == h - pad);
	/* Points: as large as allowed when few, smaller as they crowd, never below the floor. */
	c.shown = 1;
	assert_true(trends_chart_radius(&c) == TRENDS_POINT_R_MAX);
	c.shown = 10;
	assert_true(trends_chart_radius(&c) == TRENDS_POINT_R_MAX);
	c.shown = 100;
	double r100 = trends_chart_radius(&c);
	assert_true(fabs(r100 - 0.6 * (w - 2 * pad) / 99) < 1e-9);
	assert_true(r100 < TRENDS_POINT_R_MAX && r100 > TRENDS_POINT_R_MIN);
	c.shown = 200;
	assert_true(trends_chart_radius(&c) == TRENDS_POINT_R_MIN);
	/* Every duration 0: all at the bottom, not a division by zero. */
	c.ymax = 0;
	assert_true(trends_chart_y(&c, 0) == h - pad);
}

/* ---- order -------------------------------------------------------------- */

static void trends_cmp__flakiest_then_slowest_then_name(void **state)
{
	struct trends_test steady_slow = {.test_file = "a.py", .timed = true, .median = 100};
	struct trends_test steady_fast = {.test_file = "b.py", .timed = true, .median = 1};
	struct trends_test untimed = {.test_file = "0.py", .timed = false, .median = 1e9};
	struct trends_test flaky_fast = {
	    .test_file = "c.py", .flaky = 1, .failed = 1, .timed = true, .median = 1};
	struct trends_test failing = {.test_file = "d.py", .failed = 3};
	struct trends_test same_args = {
	    .test_file = "a.py", .test_args = "--x", .timed = true, .median = 100};
	assert_true(trends_cmp(&failing, &flaky_fast) < 0);      /* 3 > 2 */
	assert_true(trends_cmp(&flaky_fast, &steady_slow) < 0);  /* 2 > 0 */
	assert_true(trends_cmp(&steady_slow, &steady_fast) < 0); /* 100 s > 1 s */
	assert_true(trends_cmp(&steady_fast, &untimed) < 0);     /* timed first */
	assert_true(trends_cmp(&steady_slow, &same_args) < 0);   /* "" < "--x" */
	assert_true(trends_cmp(&same_args, &steady_slow) > 0);
	assert_int_equal(trends_cmp(&steady_slow, &steady_slow), 0);
}

/* ---- the page ----------------------------------------------------------- */

static char *render(const struct trends_page *pg, const struct trends_test *t, size_t n)
{
	struct strbuf out = STRBUF_INIT;
	trends_render(&out, pg, t, n);
	assert_false(strbuf_failed(&out));
	return strbuf_detach(&out, NULL);
}

/* Nothing the page loads or links leaves the file. */
static void assert_self_contained(const char *page)
{
	assert_null(strstr(page, "http:"));
	assert_null(strstr(page, "https:"));
	assert_null(strstr(page, "//"));
	assert_null(strstr(page, " src="));
	assert_null(strstr(page, "<link"));
	assert_int_equal(count(page, "<script>"), 1);
}

static void trends_render__rows_in_order_with_counts_and_figures(void **state)
{
	struct trends_point pa[3] = {
	    {.started_at = 1000, .duration = 2, .status = REPORT_PASSED, .run_id = "r1"},
	    {.started_at = 2000, .duration = 8, .status = REPORT_FAILED, .run_id = "r2"},
	    {.started_at = 3000.25, .duration = 4, .status = REPORT_FLAKY, .run_id = "r3"},
	};
	struct trends_point pb[1] = {{.started_at = 1500, .duration = 60, .status = REPORT_PASSED}};
	struct trends_test t[2] = {
	    {.test_file = "tests/test_b.py",
	     .test_args = "--big",
	     .variant = "[x=1]",
	     .identity = "{\"b\":1}",
	     .runs = 1,
	     .passed = 1,
	     .timed = true,
	     .median = 60,
	     .p90 = 60,
	     .points = pb,
	     .npoints = 1},
	    {.test_file = "tests/test_a.py",
	     .runs = 3,
	     .passed = 1,
	     .flaky = 1,
	     .failed = 1,
	     .timed = true,
	     .median = 3,
	     .p90 = 4,
	     .points = pa,
	     .npoints = 3},
	};
	struct trends_page pg = {.history = "/h/.gpuci/history.db",
	                         .days = 30,
	                         .since = 0,
	                         .test_glob = "test_*",
	                         .generated_at = 1764140101};
	char *page = render(&pg, t, 2);
	assert_self_contained(page);
	assert_int_equal(count(page, "<table id=\"trends\">"), 1);
	assert_int_equal(count(page, "<tr class=\"trend\""), 2);
	/* The flaky one first, though given second. */
	assert_attr(page, "<tr class=\"trend\"", 0, "data-test-file", "tests/test_a.py");
	assert_attr(page, "<tr class=\"trend\"", 0, "data-runs", "3");
	assert_attr(page, "<tr class=\"trend\"", 0, "data-passed", "1");
	assert_attr(page, "<tr class=\"trend\"", 0, "data-flaky", "1");
	assert_attr(page, "<tr class=\"trend\"", 0, "data-failed", "1");
	assert_attr(page, "<tr class=\"trend\"", 0, "data-median", "3.000");
	assert_attr(page, "<tr class=\"trend\"", 0, "data-p90", "4.000");
	assert_attr(page, "<tr class=\"trend\"", 1, "data-test-args", "--big");
	assert_attr(page, "<tr class=\"trend\"", 1, "data-variant", "[x=1]");
	assert_attr(page, "<tr class=\"trend\"", 1, "data-identity", "{&quot;b&quot;:1}");
	/* One chart a row, one circle a point, in time order, coloured by status. */
	assert_int_equal(count(page, "<svg class=\"spark\""), 2);
	assert_attr(page, "<svg class=\"spark\"", 0, "data-n", "3");
	assert_attr(page, "<svg class=\"spark\"", 1, "data-n", "1");
	assert_int_equal(count(page, "<circle class=\"pt\""), 4);
	const char *status[] = {"passed", "failed", "flaky"};
	const char *started[] = {"1000.000", "2000.000", "3000.250"};
	for (size_t i = 0; i < 3; i++) {
		assert_attr(page, "<circle class=\"pt\"", i, "data-status", status[i]);
		assert_attr(page, "<circle class=\"pt\"", i, "data-started", started[i]);
		assert_attr(page, "<circle class=\"pt\"", i, "fill",
		            report_status_colour(pa[i].status));
	}
	assert_attr(page, "<circle class=\"pt\"", 1, "data-duration", "8.000");
	/* The longest at the top margin, the others in proportion from y0. */
	assert_attr(page, "<svg class=\"spark\"", 0, "data-ymax", "8.000");
	double y0 = attr_num(page, "<svg class=\"spark\"", 0, "data-y0");
	double y1 = attr_num(page, "<svg class=\"spark\"", 0, "data-y1");
	assert_true(y0 > y1);
	for (size_t i = 0; i < 3; i++) {
		double cy = attr_num(page, "<circle class=\"pt\"", i, "cy");
		assert_true(fabs(cy - (y0 + (y1 - y0) * pa[i].duration / 8)) <= 0.05);
	}
	assert_true(attr_num(page, "<circle class=\"pt\"", 0, "cx") <
	            attr_num(page, "<circle class=\"pt\"", 2, "cx"));
	/* The strip: one mark a result. */
	assert_int_equal(count(page, "<rect class=\"mark\""), 4);
	assert_attr(page, "<rect class=\"mark\"", 2, "data-status", "flaky");
	/* The header and the legend. */
	assert_non_null(strstr(page, "/h/.gpuci/history.db"));
	assert_attr(page, "<dd data-key=\"days\"", 0, "data-value", "30");
	assert_attr(page, "<dd data-key=\"glob\"", 0, "data-value", "test_*");
	assert_non_null(strstr(page, "2025-11-26 06:55:01 UTC"));
	for (size_t i = 0; i < NSTATUS; i++) {
		struct strbuf want = STRBUF_INIT;
		strbuf_addf(
		    &want, "<span class=\"legend\" data-status=\"%s\" style=\"background:%s\">",
		    report_status_name(all_statuses[i]), report_status_colour(all_statuses[i]));
		assert_int_equal(count(page, want.buf), 1);
		strbuf_release(&want);
	}
	assert_null(strstr(page, "id=\"empty\""));
	free(page);
}

static void trends_render__caps_each_chart_and_says_so(void **state)
{
	size_t n = 500;
	struct trends_point *p = calloc(n, sizeof(*p));
	for (size_t i = 0; i < n; i++)
		p[i] = (struct trends_point){.started_at = 1e9 + (double)i,
		                             .duration = 1 + (double)(i % 10),
		                             .status = i % 3 ? REPORT_PASSED : REPORT_TIMEOUT};
	p[n - 1].status = REPORT_CRASHED;
	struct trends_test t = {
	    .test_file = "tests/test_many.py", .runs = n, .points = p, .npoints = n};
	struct trends_page pg = {.history = "h.db", .days = 7};
	char *page = render(&pg, &t, 1);
	assert_int_equal(count(page, "<circle class=\"pt\""), TRENDS_MAX_POINTS);
	assert_attr(page, "<svg class=\"spark\"", 0, "data-n", "200");
	assert_attr(page, "<tr class=\"trend\"", 0, "data-total", "500");
	assert_attr(page, "<tr class=\"trend\"", 0, "data-shown", "200");
	assert_non_null(strstr(page, "the last 200 of 500 attempts"));
	/* The last ones: the first drawn is attempt 300. */
	char want[32];
	snprintf(want, sizeof(want), "%.3f", 1e9 + 300);
	assert_attr(page, "<circle class=\"pt\"", 0, "data-started", want);
	/* Untimed: no median, no dashed line. */
	assert_attr(page, "<tr class=\"trend\"", 0, "data-median", "");
	assert_null(strstr(page, "class=\"median\""));
	/* The strip: the last TRENDS_STRIP_MAX, newest last. */
	assert_int_equal(count(page, "<rect class=\"mark\""), TRENDS_STRIP_MAX);
	assert_attr(page, "<rect class=\"mark\"", TRENDS_STRIP_MAX - 1, "data-status", "crashed");
	free(page);
	/* A smaller cap given by the caller. */
	pg.max_points = 30;
	page = render(&pg, &t, 1);
	assert_int_equal(count(page, "<circle class=\"pt\""), 30);
	assert_non_null(strstr(page, "the last 30 of 500 attempts"));
	free(page);
	free(p);
}

static void trends_render__escapes_names_and_says_when_empty(void **state)
{
	struct trends_point p = {
	    .started_at = 5, .duration = 1, .status = REPORT_PASSED, .run_id = "<r>"};
	struct trends_test t = {.test_file = "tests/<script>alert(1)</script>.py",
	                        .test_args = "--a=\"b\" & 'c' \x01 \xff",
	                        .runs = 1,
	                        .passed = 1,
	                        .points = &p,
	                        .npoints = 1};
	struct trends_page pg = {.history = "a&b.db", .days = 1, .test_glob = "<g>"};
	char *page = render(&pg, &t, 1);
	assert_int_equal(count(page, "<script>"), 1); /* the page's own */
	assert_non_null(strstr(page, "&lt;script&gt;alert(1)&lt;/script&gt;"));
	assert_attr(page, "<tr class=\"trend\"", 0, "data-test-args",
	            "--a=&quot;b&quot; &amp; &apos;c&apos; \xef\xbf\xbd \xef\xbf\xbd");
	assert_attr(page, "<circle class=\"pt\"", 0, "data-run", "&lt;r&gt;");
	assert_non_null(strstr(page, "a&amp;b.db"));
	assert_null(strstr(page, "<g>"));
	/* One point: in the middle. */
	char want[16];
	snprintf(want, sizeof(want), "%.1f", TRENDS_CHART_W / 2.0);
	assert_attr(page, "<circle class=\"pt\"", 0, "cx", want);
	free(page);

	page = render(&pg, NULL, 0);
	assert_self_contained(page);
	assert_non_null(strstr(page, "<p id=\"empty\">No attempt recorded in the last 1 day of "
	                             "tests matching <code>&lt;g&gt;</code>"));
	assert_int_equal(count(page, "<table id=\"trends\">"), 1);
	assert_int_equal(count(page, "<tr class=\"trend\""), 0);
	free(page);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(
	        report_status_colour__one_distinct_colour_per_status_and_names_read_back),
	    cmocka_unit_test(trends_chart_of__draws_the_last_points_scaled_to_their_longest),
	    cmocka_unit_test(trends_chart_x_y__margins_middle_and_clamping),
	    cmocka_unit_test(trends_cmp__flakiest_then_slowest_then_name),
	    cmocka_unit_test(trends_render__rows_in_order_with_counts_and_figures),
	    cmocka_unit_test(trends_render__caps_each_chart_and_says_so),
	    cmocka_unit_test(trends_render__escapes_names_and_says_when_empty),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
