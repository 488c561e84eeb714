/* The arithmetic of the report's timeline: lanes, scale, ticks, labels, bound; Mermaid's cut. */
#include "harness.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/strbuf.h"
#include "base/xalloc.h"
#include "report/html.h"
#include "report/runfile.h"
#include "report/timeline.h"

#define T0 1800000000.0

static struct report_attempt at(size_t test, unsigned attempt, double s, double e, unsigned gpus,
                                const char *ids)
{
	return (struct report_attempt){.test = test,
	                               .attempt = attempt,
	                               .status = REPORT_PASSED,
	                               .start = T0 + s,
	                               .end = T0 + e,
	                               .gpus = gpus,
	                               .gpu_ids = ids};
}

static void name_of(const struct timeline *t, size_t k, char *buf)
{
	timeline_lane_name(t, k, buf, 64);
}

static void lanes__every_gpu_then_packed_cpu_rows(void **state)
{
	(void)state;
	struct report_attempt a[] = {
	    at(0, 1, 0, 10, 2, "2,1"), /* lanes GPU 1 and 2, sorted */
	    at(1, 1, 0, 4, 0, ""),     /* CPU 1 */
	    at(2, 1, 2, 6, 0, ""),     /* overlaps test 1: CPU 2 */
	    at(3, 1, 4, 8, 0, ""),     /* test 1 is over by 4: CPU 1 again */
	    at(4, 1, 3, 5, 1, ""),     /* a GPU without its id: "GPU ?" */
	};
	struct timeline *t = timeline_new(a, 5, 4, T0, T0 + 10);
	char name[64];
	assert_int_equal(timeline_lanes(t), 4 + 2 + 1);
	const char *want[] = {"GPU 0", "GPU 1", "GPU 2", "GPU 3", "CPU 1", "CPU 2", "GPU ? 1"};
	for (size_t k = 0; k < 7; k++) {
		name_of(t, k, name);
		assert_string_equal(name, want[k]);
	}
	const size_t *l;
	assert_int_equal(timeline_attempt_lanes(t, 0, &l), 2);
	assert_int_equal(l[0], 1);
	assert_int_equal(l[1], 2);
	assert_int_equal(timeline_attempt_lanes(t, 1, &l), 1);
	assert_int_equal(l[0], 4);
	assert_int_equal(timeline_attempt_lanes(t, 2, &l), 1);
	assert_int_equal(l[0], 5);
	assert_int_equal(timeline_attempt_lanes(t, 3, &l), 1);
	assert_int_equal(l[0], 4);
	assert_int_equal(timeline_attempt_lanes(t, 4, &l), 1);
	assert_int_equal(l[0], 6);
	timeline_free(t);
}

static void lanes__cluster_nodes_by_name_then_id(void **state)
{
	(void)state;
	struct report_attempt a[] = {at(0, 1, 0, 1, 1, "5"), at(1, 1, 0, 1, 2, "0,1")};
	a[0].node = "node-b";
	a[1].node = "node-a";
	/* Every attempt on a node: no lanes for this machine; each node 0..max(seen, 4 - 1). */
	struct timeline *t = timeline_new(a, 2, 4, 0, 0);
	char name[64];
	assert_int_equal(timeline_lanes(t), 4 + 6);
	name_of(t, 0, name);
	assert_string_equal(name, "node-a GPU 0");
	name_of(t, 4, name);
	assert_string_equal(name, "node-b GPU 0");
	name_of(t, 9, name);
	assert_string_equal(name, "node-b GPU 5");
	const size_t *l;
	assert_int_equal(timeline_attempt_lanes(t, 0, &l), 1);
	assert_int_equal(l[0], 9);
	assert_int_equal(timeline_attempt_lanes(t, 1, &l), 2);
	assert_int_equal(l[0], 0);
	assert_int_equal(l[1], 1);
	/* t0 and t1 from the attempts */
	assert_true(timeline_t0(t) == T0);
	assert_true(timeline_t1(t) == T0 + 1);
	timeline_free(t);
}

static void lanes__repeated_or_bad_ids_count_once(void **state)
{
	(void)state;
	struct report_attempt a[] = {at(0, 1, 0, 1, 2, "3,3,x,")};
	struct timeline *t = timeline_new(a, 1, 2, 0, 0);
	assert_int_equal(timeline_lanes(t), 4); /* 0..3: the id seen widens the machine */
	const size_t *l;
	assert_int_equal(timeline_attempt_lanes(t, 0, &l), 1);
	assert_int_equal(l[0], 3);
	timeline_free(t);
}

static void scale__median_bar_wide_enough_within_limits(void **state)
{
	(void)state;
	/* One attempt: the least width. */
	struct report_attempt one = at(0, 1, 0, 30, 1, "0");
	struct timeline *t = timeline_new(&one, 1, 1, T0, T0 + 30);
	assert_true(timeline_width(t) == TIMELINE_MIN_WIDTH);
	assert_true(fabs(timeline_pxps(t) * 30 - TIMELINE_MIN_WIDTH) < 1e-9);
	timeline_free(t);
	/* 500 attempts of 1 s over 100 s: 100 medians of 48 px. */
	struct report_attempt *a = xcalloc(500, sizeof(*a));
	for (size_t i = 0; i < 500; i++)
		a[i] = at(i, 1, (double)(i / 5), (double)(i / 5) + 1, 1, "0");
	t = timeline_new(a, 500, 8, T0, T0 + 100);
	assert_true(fabs(timeline_width(t) - 100 * TIMELINE_MEDIAN_PX) < 1e-6);
	timeline_free(t);
	/* 0.1 s tests over an hour: capped. */
	for (size_t i = 0; i < 500; i++)
		a[i] = at(i, 1, (double)i * 7, (double)i * 7 + 0.1, 1, "0");
	t = timeline_new(a, 500, 8, T0, T0 + 3600);
	assert_true(timeline_width(t) == TIMELINE_MAX_WIDTH);
	assert_true(fabs(timeline_pxps(t) - TIMELINE_MAX_WIDTH / 3600) < 1e-9);
	timeline_free(t);
	free(a);
}

static void ticks__smallest_nice_step_far_enough_apart(void **state)
{
	(void)state;
	assert_true(timeline_tick_step(10, 80) == 10); /* 8 s would do: 10 is the next */
	assert_true(timeline_tick_step(1000, 80) == 0.1);
	assert_true(timeline_tick_step(1.0 / 60, 80) == 7200); /* a pixel a minute */
	assert_true(timeline_tick_step(80.0 / 60, 80) == 60);
	assert_true(timeline_tick_step(1e-9, 80) == 21600); /* never 0 */
	for (double p = 0.001; p < 1e4; p *= 1.7) {
		double s = timeline_tick_step(p, 50);
		assert_true(s > 0);
		assert_true(s * p >= 50 || s == 21600);
	}
}

static void labels__fit_or_none(void **state)
{
	(void)state;
	assert_int_equal(timeline_label_fit(100, 5, 0, 40), 20);
	assert_int_equal(timeline_label_fit(100, 5, 0, 10), 10);
	assert_int_equal(timeline_label_fit(20, 5, 3, 10), 0); /* 2.8 characters: none */
	assert_int_equal(timeline_label_fit(21, 5, 3, 10), 3);
	assert_int_equal(timeline_label_fit(-5, 5, 3, 10), 0);
}

static void bound__the_larger_of_gpu_seconds_and_a_test_chain(void **state)
{
	(void)state;
	struct report_attempt a[] = {
	    at(0, 1, 0, 10, 4, "0,1,2,3"), at(1, 1, 0, 10, 4, "4,5,6,7"), at(2, 1, 10, 15, 1, "0"),
	    at(2, 2, 15, 20, 1, "0"), /* retried: 10 s in a row */
	};
	assert_true(fabs(timeline_busy(a, 4, 0, 0) - 90) < 1e-9);
	assert_true(fabs(timeline_bound(a, 4, 8) - 90.0 / 8) < 1e-9);
	assert_true(fabs(timeline_bound(a, 4, 16) - 10) < 1e-9); /* the chain */
	/* busy within a window */
	assert_true(fabs(timeline_busy(a, 4, T0 + 5, T0 + 12) - (5 * 4 * 2 + 2)) < 1e-9);
}

static struct report_case cases5[5] = {
    {.job = "j", .test_file = "tests/test_a.py", .test_args = "", .status = REPORT_PASSED},
    {.job = "j",
     .test_file = "tests/test_b:x#y;z.py",
     .test_args = "--n 1",
     .status = REPORT_FAILED},
    {.job = "j", .test_file = "test_c.py", .test_args = "", .status = REPORT_FLAKY},
    {.job = "j",
     .test_file = "<script>alert(1)</script>.py",
     .test_args = "",
     .status = REPORT_PASSED},
    {.job = "j", .test_file = "e.py", .test_args = "", .status = REPORT_CANCELED},
};

static size_t count(const char *hay, const char *needle)
{
	size_t n = 0;
	for (const char *p = hay; (p = strstr(p, needle)); p++)
		n++;
	return n;
}

static void mermaid__a_task_per_attempt_and_lane_tagged(void **state)
{
	(void)state;
	struct report_attempt a[] = {
	    at(0, 1, 0, 10, 2, "0,1"), at(1, 1, 1, 3, 1, "2"), at(2, 1, 3, 4, 1, "2"),
	    at(2, 2, 4, 6, 1, "3"),    at(4, 1, 6, 7, 0, ""),
	};
	a[1].status = REPORT_FAILED;
	a[2].status = REPORT_FAILED;
	a[3].status = REPORT_FLAKY;
	a[4].status = REPORT_CANCELED;
	struct report_run r = {.run_id = "R1",
	                       .gpus = 4,
	                       .started = T0,
	                       .cases = cases5,
	                       .ncases = 5,
	                       .attempts = a,
	                       .nattempts = 5};
	struct strbuf sb = STRBUF_INIT;
	report_mermaid(&sb, &r, REPORT_MERMAID_MAX);
	assert_non_null(strstr(sb.buf, "```mermaid\n"));
	assert_non_null(strstr(sb.buf, "dateFormat x\n"));
	assert_int_equal(count(sb.buf, "section "), 5); /* GPU 0..3, CPU 1 */
	assert_non_null(strstr(sb.buf, "    test_a :a0_0, 1800000000000, 1800000010000\n"));
	assert_non_null(strstr(sb.buf, "    test_a :a0_1, 1800000000000, 1800000010000\n"));
	/* : # ; of a name are not Mermaid syntax */
	assert_non_null(strstr(sb.buf, "    test_b x y z --n 1 :crit, a1_2, 1800000001000,"));
	assert_non_null(strstr(sb.buf, "test_c (attempt 2) :active, a3_3,"));
	assert_non_null(strstr(sb.buf, "e :done, a4_4,"));
	assert_null(strstr(sb.buf, "left out"));
	strbuf_release(&sb);
	report_mermaid(&sb, &(struct report_run){.nattempts = 0}, REPORT_MERMAID_MAX);
	assert_int_equal(sb.len, 0); /* nothing ran: nothing to draw */
	strbuf_release(&sb);
}

static void mermaid__past_the_budget_the_shortest_go(void **state)
{
	(void)state;
	size_t n = 2000;
	struct report_attempt *a = xcalloc(n, sizeof(*a));
	for (size_t i = 0; i < n; i++) /* durations 1..2000 ms x 10 */
		a[i] = at(i % 5, 1, (double)i, (double)i + 0.01 * (double)(i + 1), 1, "0");
	struct report_run r = {.run_id = "R",
	                       .gpus = 1,
	                       .started = T0,
	                       .cases = cases5,
	                       .ncases = 5,
	                       .attempts = a,
	                       .nattempts = n};
	struct strbuf sb = STRBUF_INIT;
	report_mermaid(&sb, &r, 20000);
	const char *end = strstr(sb.buf, "```\n\n");
	assert_non_null(end);
	assert_true((size_t)(end - sb.buf) <= 20000);
	size_t kept = count(sb.buf, " :");
	assert_true(kept > 50 && kept < n);
	char note[128];
	snprintf(note, sizeof(note), "The %zu shortest of %zu attempts are left out", n - kept, n);
	assert_non_null(strstr(sb.buf, note));
	/* the longest is kept, the shortest is not */
	char id[32];
	snprintf(id, sizeof(id), ":a%zu_0,", n - 1);
	assert_non_null(strstr(sb.buf, id));
	assert_null(strstr(sb.buf, ":a0_0,"));
	strbuf_release(&sb);
	free(a);
}

static void html__one_group_per_attempt_nothing_external(void **state)
{
	(void)state;
	struct report_attempt a[] = {at(0, 1, 0, 10, 2, "0,1"), at(3, 1, 1, 3, 1, "2")};
	struct report_run r = {.run_id = "R1",
	                       .gpus = 4,
	                       .started = T0,
	                       .cases = cases5,
	                       .ncases = 5,
	                       .attempts = a,
	                       .nattempts = 2};
	struct strbuf sb = STRBUF_INIT;
	report_html(&sb, &r);
	assert_false(strbuf_failed(&sb));
	assert_int_equal(count(sb.buf, "<g class=\"attempt\""), 2);
	assert_int_equal(count(sb.buf, "<rect class=\"bar\""), 3);
	assert_int_equal(count(sb.buf, "<tr class=\"test\""), 5);
	assert_int_equal(count(sb.buf, "<script>"), 1); /* ours; the test's name is escaped */
	assert_non_null(strstr(sb.buf, "&lt;script&gt;alert(1)&lt;/script&gt;"));
	assert_null(strstr(sb.buf, "http:"));
	assert_null(strstr(sb.buf, "https:"));
	assert_null(strstr(sb.buf, "src="));
	assert_non_null(strstr(sb.buf, "data-key=\"ratio\">1.00x<"));
	strbuf_release(&sb);
}

static void runfile__round_trip_and_errors_with_their_line(void **state)
{
	(void)state;
	char *dir = harness_tmpdir(), *p = harness_path(dir, "run.tsv");
	struct report_attempt a[] = {at(1, 2, 0, 1.5, 2, "0,1")};
	a[0].node = "n\t1";
	a[0].log_path = "/x/2-b.log";
	struct report_run r = {.run_id = "R",
	                       .repository = "o/r",
	                       .commit = "abc",
	                       .selection = "--label a\\b",
	                       .machine = "this machine",
	                       .gpus = 8,
	                       .started = T0,
	                       .ended = T0 + 2,
	                       .cases = cases5,
	                       .ncases = 5,
	                       .attempts = a,
	                       .nattempts = 1,
	                       .tail_lines = 7};
	struct diag d = DIAG_INIT;
	assert_int_equal(report_runfile_write(p, &r, &d), 0);
	struct report_runfile *f;
	assert_int_equal(report_runfile_read(&f, p, &d), 0);
	const struct report_run *q = report_runfile_run(f);
	assert_string_equal(q->selection, "--label a\\b");
	assert_int_equal(q->gpus, 8);
	assert_int_equal(q->tail_lines, 7);
	assert_true(q->ended == T0 + 2);
	assert_int_equal(q->ncases, 5);
	assert_string_equal(q->cases[1].test_file, "tests/test_b:x#y;z.py");
	assert_string_equal(q->cases[1].test_args, "--n 1");
	assert_int_equal(q->cases[1].status, REPORT_FAILED);
	assert_int_equal(q->nattempts, 1);
	assert_string_equal(q->attempts[0].node, "n\t1");
	assert_int_equal(q->attempts[0].attempt, 2);
	assert_true(q->attempts[0].end == T0 + 1.5);
	report_runfile_free(f);
	/* A broken record names its line; an unknown one is skipped. */
	FILE *w = fopen(p, "w");
	fputs("gpuci-run\t1\nfuture\tx\ty\ncase\tonly\n", w);
	fclose(w);
	assert_int_equal(report_runfile_read(&f, p, &d), -1);
	assert_non_null(strstr(d.msg.buf, "run.tsv:3:1:"));
	diag_release(&d);
	free(p);
	harness_rmtree(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(lanes__every_gpu_then_packed_cpu_rows),
	    cmocka_unit_test(lanes__cluster_nodes_by_name_then_id),
	    cmocka_unit_test(lanes__repeated_or_bad_ids_count_once),
	    cmocka_unit_test(scale__median_bar_wide_enough_within_limits),
	    cmocka_unit_test(ticks__smallest_nice_step_far_enough_apart),
	    cmocka_unit_test(labels__fit_or_none),
	    cmocka_unit_test(bound__the_larger_of_gpu_seconds_and_a_test_chain),
	    cmocka_unit_test(mermaid__a_task_per_attempt_and_lane_tagged),
	    cmocka_unit_test(mermaid__past_the_budget_the_shortest_go),
	    cmocka_unit_test(html__one_group_per_attempt_nothing_external),
	    cmocka_unit_test(runfile__round_trip_and_errors_with_their_line),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
