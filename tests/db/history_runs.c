/*
 * db/history_runs and db/history_trends: one run's attempts, the last run,
 * and each test's attempts over a window. Figures are checked against
 * history_median() and history_p90() (another code path over the same
 * rows) and against sums worked out here from what was recorded.
 */
#include "harness.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "base/strbuf.h"
#include "db/history.h"

/* ---- fixtures ---------------------------------------------------------- */

static struct history *open_fresh(char **dir, char **path)
{
	*dir = harness_tmpdir();
	*path = harness_path(*dir, "history.db");
	struct history *h = NULL;
	struct diag d = DIAG_INIT;
	if (history_open(&h, *path, &d) < 0)
		fail_msg("%s", d.msg.buf);
	diag_release(&d);
	return h;
}

static void record(struct history *h, const struct history_result *r)
{
	struct diag d = DIAG_INIT;
	if (history_record(h, r, &d) < 0)
		fail_msg("%s", d.msg.buf);
	diag_release(&d);
}

static void close_and_remove(struct history *h, char *dir, char *path)
{
	history_close(h);
	free(path);
	harness_rmtree(dir);
}

/* ---- one run ------------------------------------------------------------ */

static void history_run_attempts__one_runs_attempts_in_start_order_every_field(void **state)
{
	char *dir, *path;
	struct history *h = open_fresh(&dir, &path);
	struct history_result b2 = {.run_id = "run-1",
	                            .job = "gpu",
	                            .test_file = "tests/test_b.py",
	                            .test_args = "--fast",
	                            .gpus = 2,
	                            .gpu_ids = "0,1",
	                            .status = "flaky",
	                            .attempt = 2,
	                            .exit_code = 0,
	                            .started_at = 1200.5,
	                            .duration = 30.25,
	                            .log_path = "logs/b.2.log",
	                            .host = "hostA",
	                            .identity = "{\"test_file\":\"tests/test_b.py\"}",
	                            .variant = "[x=1]"};
	/* Recorded out of start order; another run in between. */
	record(h, &b2);
	struct history_result other = {.run_id = "run-2",
	                               .test_file = "tests/test_a.py",
	                               .status = "passed",
	                               .attempt = 1,
	                               .started_at = 1100,
	                               .duration = 1};
	record(h, &other);
	struct history_result b1 = b2;
	b1.status = "failed";
	b1.attempt = 1;
	b1.exit_code = 1;
	b1.started_at = 1150;
	b1.log_path = "logs/b.1.log";
	record(h, &b1);
	/* Same start as b1, a later attempt number, no strings at all, no exit code. */
	struct history_result bare = {.run_id = "run-1",
	                              .test_file = "tests/test_c.py",
	                              .status = "canceled",
	                              .attempt = 3,
	                              .exit_code = -1,
	                              .started_at = 1150};
	record(h, &bare);

	struct history_attempt *a;
	size_t n;
	struct diag d = DIAG_INIT;
	assert_int_equal(history_run_attempts(h, "run-1", &a, &n, &d), 0);
	assert_int_equal(n, 3);
	assert_string_equal(a[0].status, "failed");
	assert_int_equal(a[0].attempt, 1);
	assert_string_equal(a[0].log_path, "logs/b.1.log");
	assert_string_equal(a[1].status, "canceled");
	assert_string_equal(a[2].status, "flaky");
	/* Every field of one attempt comes back as recorded. */
	const struct history_attempt *x = &a[2];
	assert_string_equal(x->run_id, "run-1");
	assert_string_equal(x->job, "gpu");
	assert_string_equal(x->test_file, "tests/test_b.py");
	assert_string_equal(x->test_args, "--fast");
	assert_int_equal(x->gpus, 2);
	assert_string_equal(x->gpu_ids, "0,1");
	assert_int_equal(x->attempt, 2);
	assert_int_equal(x->exit_code, 0);
	assert_true(x->started_at == 1200.5);
	assert_true(x->duration == 30.25);
	assert_string_equal(x->host, "hostA");
	assert_string_equal(x->identity, "{\"test_file\":\"tests/test_b.py\"}");
	assert_string_equal(x->variant, "[x=1]");
	assert_int_equal(a[0].exit_code, 1);
	/* Nothing recorded reads as "", no exit code as -1, no host as this machine's. */
	x = &a[1];
	assert_string_equal(x->job, "");
	assert_string_equal(x->test_args, "");
	assert_string_equal(x->gpu_ids, "");
	assert_string_equal(x->log_path, "");
	assert_string_equal(x->identity, "");
	assert_string_equal(x->variant, "");
	assert_int_equal(x->exit_code, -1);
	char host[256] = "";
	gethostname(host, sizeof(host) - 1);
	assert_string_equal(x->host, host);
	history_attempts_free(a, n);

	assert_int_equal(history_run_attempts(h, "run-2", &a, &n, &d), 0);
	assert_int_equal(n, 1);
	assert_string_equal(a[0].test_file, "tests/test_a.py");
	history_attempts_free(a, n);
	/* A run the history does not have: none, and nothing to free. */
	assert_int_equal(history_run_attempts(h, "run-3", &a, &n, &d), 0);
	assert_int_equal(n, 0);
	assert_null(a);
	history_attempts_free(a, n);
	diag_release(&d);
	close_and_remove(h, dir, path);
}

static void history_last_run__the_latest_start_not_the_latest_record(void **state)
{
	char *dir, *path;
	struct history *h = open_fresh(&dir, &path);
	char *id = (char *)"unset";
	bool found = true;
	struct diag d = DIAG_INIT;
	assert_int_equal(history_last_run(h, &id, &found, &d), 0);
	assert_false(found);
	assert_null(id);

	struct history_result r = {.run_id = "late",
	                           .test_file = "tests/test_a.py",
	                           .status = "passed",
	                           .attempt = 1,
	                           .started_at = 5000,
	                           .duration = 1};
	record(h, &r);
	/* Recorded after, started before (an imported older run). */
	r.run_id = "early";
	r.started_at = 4000;
	record(h, &r);
	assert_int_equal(history_last_run(h, &id, &found, &d), 0);
	assert_true(found);
	assert_string_equal(id, "late");
	free(id);
	/* Two starts at once: the one recorded last. */
	r.run_id = "tie-1";
	r.started_at = 6000;
	record(h, &r);
	r.run_id = "tie-2";
	record(h, &r);
	assert_int_equal(history_last_run(h, &id, &found, &d), 0);
	assert_string_equal(id, "tie-2");
	free(id);
	diag_release(&d);
	close_and_remove(h, dir, path);
}

static void history_run__reads_a_schema_1_file_without_writing(void **state)
{
	char *dir = harness_tmpdir();
	char *path = harness_path(dir, "v1.db");
	sqlite3 *db;
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(
	    sqlite3_exec(
	        db,
	        "CREATE TABLE meta (key TEXT PRIMARY KEY, value);"
	        "CREATE TABLE results (id INTEGER PRIMARY KEY, run_id TEXT NOT NULL, job TEXT NOT "
	        "NULL, test_file TEXT NOT NULL, test_args TEXT NOT NULL, gpus INTEGER NOT NULL,"
	        " gpu_ids TEXT NOT NULL, status TEXT NOT NULL, attempt INTEGER NOT NULL,"
	        " exit_code INTEGER, started_at REAL NOT NULL, duration REAL NOT NULL,"
	        " log_path TEXT NOT NULL, host TEXT NOT NULL);"
	        "INSERT INTO meta VALUES ('schema_version', 1);"
	        "INSERT INTO results VALUES (1, 'r', 'j', 'test_r3.py', '', 8, '', 'passed', 1, "
	        "NULL, 1000, 10, '', 'h');",
	        NULL, NULL, NULL),
	    SQLITE_OK);
	sqlite3_close(db);
	struct history *h;
	bool missing, found;
	struct diag d = DIAG_INIT;
	assert_int_equal(history_open_read(&h, path, &missing, &d), 0);
	char *id;
	assert_int_equal(history_last_run(h, &id, &found, &d), 0);
	assert_string_equal(id, "r");
	struct history_attempt *a;
	size_t n;
	assert_int_equal(history_run_attempts(h, id, &a, &n, &d), 0);
	assert_int_equal(n, 1);
	assert_string_equal(a[0].identity, "");
	assert_int_equal(a[0].exit_code, -1);
	history_attempts_free(a, n);
	struct history_trend *t;
	assert_int_equal(history_trends(h, NULL, 0, &t, &n, &d), 0);
	assert_int_equal(n, 1);
	assert_true(t[0].timed && t[0].median == 10 && t[0].p90 == 10);
	history_trends_free(t, n);
	free(id);
	diag_release(&d);
	close_and_remove(h, dir, path);
}

/* ---- trends ------------------------------------------------------------ */

/*
 * Durations and statuses of tests/test_a.py over 12 attempts, one a day
 * from day 1, recorded newest first (record order is not time order).
 */
static const struct {
	const char *status;
	double duration;
} a_days[] = {
    {"passed", 5},   {"passed", 1},   {"failed", 100}, {"passed", 3},
    {"timeout", 60}, {"flaky", 10},   {"passed", 2},   {"crashed", 0.5},
    {"passed", 4},   {"canceled", 0}, {"passed", 7.5}, {"passed", 6},
};
#define NA  (sizeof(a_days) / sizeof(a_days[0]))
#define DAY 86400.0

static void record_a(struct history *h)
{
	for (size_t i = NA; i-- > 0;) {
		char run[32];
		snprintf(run, sizeof(run), "run-%zu", i);
		struct history_result r = {.run_id = run,
		                           .test_file = "tests/test_a.py",
		                           .status = a_days[i].status,
		                           .attempt = 1,
		                           .started_at = (double)(i + 1) * DAY,
		                           .duration = a_days[i].duration,
		                           .identity = "{a}",
		                           .variant = i == NA - 1 ? "[last]" : "[older]"};
		record(h, &r);
	}
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static void history_trends__counts_median_p90_and_points_of_a_window(void **state)
{
	char *dir, *path;
	struct history *h = open_fresh(&dir, &path);
	record_a(h);
	struct history_trend *t;
	size_t n;
	struct diag d = DIAG_INIT;
	/* Everything: the same median and p90 as the history's own. */
	assert_int_equal(history_trends(h, NULL, 0, &t, &n, &d), 0);
	assert_int_equal(n, 1);
	assert_string_equal(t[0].test_file, "tests/test_a.py");
	assert_string_equal(t[0].test_args, "");
	assert_string_equal(t[0].identity, "{a}");
	assert_string_equal(t[0].variant, "[last]");
	assert_int_equal(t[0].runs, NA);
	assert_int_equal(t[0].passed, 7);
	assert_int_equal(t[0].flaky, 1);
	assert_int_equal(t[0].failed, 3); /* failed, timeout, crashed; not canceled */
	double m, p;
	bool found;
	assert_int_equal(history_median(h, "{a}", "tests/test_a.py", "", &m, &found, &d), 0);
	assert_true(found);
	assert_int_equal(history_p90(h, "{a}", "tests/test_a.py", "", &p, &found, &d), 0);
	assert_true(t[0].timed);
	assert_true(t[0].median == m);
	assert_true(t[0].p90 == p);
	assert_true(m == 4.5); /* 1 2 3 4 5 6 7.5 10 */
	assert_true(p == 10);  /* rank ceil(0.9 * 8) = 8 */
	assert_int_equal(t[0].npoints, NA);
	for (size_t i = 0; i < NA; i++) {
		assert_true(t[0].points[i].started_at == (double)(i + 1) * DAY);
		assert_true(t[0].points[i].duration == a_days[i].duration);
		assert_string_equal(t[0].points[i].status, a_days[i].status);
		char run[16];
		snprintf(run, sizeof(run), "run-%zu", i);
		assert_string_equal(t[0].points[i].run_id, run);
	}
	history_trends_free(t, n);

	/* From day 5 on: the figures are the window's alone. */
	double since = 5 * DAY;
	assert_int_equal(history_trends(h, NULL, since, &t, &n, &d), 0);
	assert_int_equal(n, 1);
	double times[NA];
	size_t nt = 0, runs = 0, passed = 0, flaky = 0, failed = 0;
	for (size_t i = 4; i < NA; i++) {
		const char *s = a_days[i].status;
		runs++;
		passed += !strcmp(s, "passed");
		flaky += !strcmp(s, "flaky");
		failed += !strcmp(s, "failed") || !strcmp(s, "timeout") || !strcmp(s, "crashed");
		if (!strcmp(s, "passed") || !strcmp(s, "flaky"))
			times[nt++] = a_days[i].duration;
	}
	qsort(times, nt, sizeof(*times), cmp_d);
	assert_int_equal(t[0].runs, runs);
	assert_int_equal(t[0].npoints, runs);
	assert_true(t[0].points[0].started_at == since);
	assert_int_equal(t[0].passed, passed);
	assert_int_equal(t[0].flaky, flaky);
	assert_int_equal(t[0].failed, failed);
	double want_median = nt % 2 ? times[nt / 2] : (times[nt / 2 - 1] + times[nt / 2]) / 2;
	assert_true(t[0].median == want_median);
	assert_true(t[0].p90 == times[(size_t)ceil(0.9 * (double)nt) - 1]);
	history_trends_free(t, n);

	/* After the last attempt: nothing. */
	assert_int_equal(history_trends(h, NULL, 13 * DAY, &t, &n, &d), 0);
	assert_int_equal(n, 0);
	assert_null(t);
	diag_release(&d);
	close_and_remove(h, dir, path);
}

static void history_trends__one_test_per_file_args_identity_and_the_glob(void **state)
{
	char *dir, *path;
	struct history *h = open_fresh(&dir, &path);
	struct history_result r = {.run_id = "r",
	                           .test_file = "tests/test_b.py",
	                           .status = "failed",
	                           .attempt = 1,
	                           .started_at = 100,
	                           .duration = 3};
	record(h, &r); /* no identity */
	r.identity = "{b}";
	r.status = "passed";
	record(h, &r);
	r.test_args = "--fast";
	r.identity = "{b fast}";
	record(h, &r);
	r.test_file = "test_top.py"; /* no tests/ folder */
	r.test_args = "";
	r.identity = "{top}";
	record(h, &r);
	struct history_trend *t;
	size_t n;
	struct diag d = DIAG_INIT;
	assert_int_equal(history_trends(h, NULL, 0, &t, &n, &d), 0);
	assert_int_equal(n, 4);
	/* By file, args, identity. */
	assert_string_equal(t[0].test_file, "test_top.py");
	assert_string_equal(t[1].identity, "");
	assert_int_equal(t[1].failed, 1);
	assert_false(t[1].timed);
	assert_string_equal(t[2].identity, "{b}");
	assert_int_equal(t[2].passed, 1);
	assert_string_equal(t[3].test_args, "--fast");
	history_trends_free(t, n);
	/* The glob as history_query's: with or without tests/. */
	assert_int_equal(history_trends(h, "test_b*", 0, &t, &n, &d), 0);
	assert_int_equal(n, 3);
	history_trends_free(t, n);
	assert_int_equal(history_trends(h, "tests/test_top*", 0, &t, &n, &d), 0);
	assert_int_equal(n, 1);
	assert_string_equal(t[0].test_file, "test_top.py");
	history_trends_free(t, n);
	assert_int_equal(history_trends(h, "nothing*", 0, &t, &n, &d), 0);
	assert_int_equal(n, 0);
	diag_release(&d);
	close_and_remove(h, dir, path);
}

int main(void)
{
	setenv("TZ", "UTC", 1);
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(history_run_attempts__one_runs_attempts_in_start_order_every_field),
	    cmocka_unit_test(history_last_run__the_latest_start_not_the_latest_record),
	    cmocka_unit_test(history_run__reads_a_schema_1_file_without_writing),
	    cmocka_unit_test(history_trends__counts_median_p90_and_points_of_a_window),
	    cmocka_unit_test(history_trends__one_test_per_file_args_identity_and_the_glob),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
