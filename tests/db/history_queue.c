/*
 * db/history: writing without waiting (history_queue/flush, save, import),
 * the tests table the readers go through, and pruning. What the module
 * wrote is checked through a second connection of our own (the same
 * SQLite, linked in), which also plays the other process that holds
 * the file locked.
 */
#include "harness.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sqlite3.h>

#include "base/strbuf.h"
#include "db/history.h"

/* ---- a second connection ----------------------------------------------- */

static sqlite3 *sq_open(const char *path)
{
	sqlite3 *db;
	assert_int_equal(
	    sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL),
	    SQLITE_OK);
	return db;
}

static void sq_run(sqlite3 *db, const char *sql)
{
	if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK)
		fail_msg("%s: %s", sql, sqlite3_errmsg(db));
}

static void sq_exec(const char *path, const char *sql)
{
	sqlite3 *db = sq_open(path);
	sq_run(db, sql);
	sqlite3_close(db);
}

/* Every row sql returns, columns joined by '|', rows ending in '\n'. The caller frees it. */
static char *sq_query(const char *path, const char *sql)
{
	sqlite3 *db = sq_open(path);
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		fail_msg("%s: %s", sql, sqlite3_errmsg(db));
	struct strbuf sb = STRBUF_INIT;
	while (sqlite3_step(st) == SQLITE_ROW) {
		for (int i = 0; i < sqlite3_column_count(st); i++) {
			const unsigned char *s = sqlite3_column_text(st, i);
			strbuf_addf(&sb, "%s%s", i ? "|" : "", s ? (const char *)s : "NULL");
		}
		strbuf_addch(&sb, '\n');
	}
	sqlite3_finalize(st);
	sqlite3_close(db);
	return strbuf_detach(&sb, NULL);
}

static void assert_query(const char *path, const char *sql, const char *want)
{
	char *got = sq_query(path, sql);
	assert_string_equal(got, want);
	free(got);
}

/* Another process's exclusive transaction, kept open until holder_release(). */
static sqlite3 *holder_take(const char *path)
{
	sqlite3 *db = sq_open(path);
	sq_run(db, "BEGIN EXCLUSIVE; CREATE TABLE IF NOT EXISTS holder (x)");
	return db;
}

static void holder_release(sqlite3 *db)
{
	sq_run(db, "ROLLBACK");
	sqlite3_close(db);
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* ---- fixtures ---------------------------------------------------------- */

static struct history *open_at(const char *path)
{
	struct history *h = NULL;
	struct diag d = DIAG_INIT;
	if (history_open(&h, path, &d) < 0)
		fail_msg("%s", d.msg.buf);
	diag_release(&d);
	return h;
}

static struct history_result result(const char *file, const char *status, double start, double secs)
{
	return (struct history_result){.run_id = "r",
	                               .job = "unit",
	                               .test_file = file,
	                               .status = status,
	                               .attempt = 1,
	                               .exit_code = 0,
	                               .started_at = start,
	                               .duration = secs,
	                               .identity = file};
}

static void record(struct history *h, const char *file, const char *status, double start,
                   double secs)
{
	struct history_result r = result(file, status, start, secs);
	struct diag d = DIAG_INIT;
	if (history_record(h, &r, &d) < 0)
		fail_msg("%s", d.msg.buf);
	diag_release(&d);
}

static double median_of(struct history *h, const char *file, bool *found)
{
	double m = -1;
	struct diag d = DIAG_INIT;
	assert_int_equal(history_median(h, file, file, "", &m, found, &d), 0);
	diag_release(&d);
	return m;
}

/* ---- a locked history -------------------------------------------------- */

static void history_flush__a_locked_history_keeps_results_queued_without_waiting(void **state)
{
	char *dir = harness_tmpdir();
	char *path = harness_path(dir, "history.db");
	struct history *h = open_at(path);
	sqlite3 *other = holder_take(path);
	struct diag d = DIAG_INIT;
	double t0 = now_s();
	for (int i = 0; i < 3; i++) {
		struct history_result r = result("tests/test_a.py", "passed", 1000 + i, 1 + i);
		assert_int_equal(history_queue(h, &r, &d), 0);
		assert_int_equal(history_flush(h, 0, &d), 0);
		assert_int_equal(history_pending(h), (size_t)i + 1);
	}
	/* A bounded wait gives up on time too. */
	assert_int_equal(history_flush(h, 200, &d), 0);
	double took = now_s() - t0;
	assert_true(took < 2.0);
	assert_true(took >= 0.2);
	assert_int_equal(history_pending(h), 3);
	/* Nothing written yet (WAL: a reader sees the file while the other holds it). */
	assert_query(path, "SELECT count(*) FROM results", "0\n");
	holder_release(other);
	/* Free again: the next flush writes them all, with the test's figures. */
	assert_int_equal(history_flush(h, 0, &d), 0);
	assert_int_equal(history_pending(h), 0);
	assert_query(path, "SELECT count(*), sum(duration) FROM results", "3|6.0\n");
	assert_query(path, "SELECT test_file, runs, passed, median FROM tests",
	             "tests/test_a.py|3|3|2.0\n");
	history_close(h);
	diag_release(&d);
	free(path);
	harness_rmtree(dir);
}

static void history_save_pending__and_import_load_what_a_lock_kept_out(void **state)
{
	char *dir = harness_tmpdir();
	char *path = harness_path(dir, "history.db");
	char *saved_path = harness_path(dir, "runs/r/history-unsaved.db");
	struct history *h = open_at(path);
	record(h, "tests/test_a.py", "passed", 900, 4);
	sqlite3 *other = holder_take(path);
	struct diag d = DIAG_INIT;
	struct history_result r1 = result("tests/test_a.py", "passed", 1000, 2);
	struct history_result r2 = result("tests/test_b.py", "failed", 1001, 7);
	r2.exit_code = -1;
	assert_int_equal(history_queue(h, &r1, &d), 0);
	assert_int_equal(history_queue(h, &r2, &d), 0);
	assert_int_equal(history_flush(h, 0, &d), 0);
	size_t saved = 0;
	assert_int_equal(history_save_pending(h, saved_path, &saved, &d), 0);
	assert_int_equal(saved, 2);
	assert_int_equal(history_pending(h), 0);
	history_close(h);
	holder_release(other);
	assert_query(saved_path, "SELECT test_file, status, exit_code, duration FROM results",
	             "tests/test_a.py|passed|0|2.0\ntests/test_b.py|failed|NULL|7.0\n");

	h = open_at(path);
	size_t added = 0, skipped = 0;
	assert_int_equal(history_import(h, saved_path, &added, &skipped, &d), 0);
	assert_int_equal(added, 2);
	assert_int_equal(skipped, 0);
	assert_int_equal(history_import(h, saved_path, &added, &skipped, &d), 0);
	assert_int_equal(added, 0);
	assert_int_equal(skipped, 2);
	assert_query(path, "SELECT count(*) FROM results", "3\n");
	bool found;
	assert_true(median_of(h, "tests/test_a.py", &found) == 3.0 && found);
	assert_query(path, "SELECT test_file, runs, failed, median FROM tests ORDER BY 1",
	             "tests/test_a.py|2|0|3.0\ntests/test_b.py|1|1|NULL\n");
	history_close(h);
	diag_release(&d);
	free(saved_path);
	free(path);
	harness_rmtree(dir);
}

/* A history as gpuci wrote it before the tests table: schema 2. */
static const char schema_v2[] =
    "PRAGMA journal_mode = WAL;"
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value);"
    "CREATE TABLE results (id INTEGER PRIMARY KEY, run_id TEXT NOT NULL, job TEXT NOT NULL,"
    " test_file TEXT NOT NULL, test_args TEXT NOT NULL, gpus INTEGER NOT NULL,"
    " gpu_ids TEXT NOT NULL, status TEXT NOT NULL, attempt INTEGER NOT NULL,"
    " exit_code INTEGER, started_at REAL NOT NULL, duration REAL NOT NULL,"
    " log_path TEXT NOT NULL, host TEXT NOT NULL,"
    " identity TEXT NOT NULL DEFAULT '', variant TEXT NOT NULL DEFAULT '');"
    "CREATE INDEX results_test ON results (test_file, test_args);"
    "CREATE INDEX results_identity ON results (identity);"
    "CREATE INDEX results_run ON results (run_id);"
    "INSERT INTO meta VALUES ('schema_version', 2);"
    "INSERT INTO results VALUES (1, 'r', 'j', 'tests/test_a.py', '', 1, '', 'passed', 1, 0,"
    " 1000, 10, '', 'h', 'tests/test_a.py', '');"
    "INSERT INTO results VALUES (2, 'r', 'j', 'tests/test_a.py', '', 1, '', 'passed', 1, 0,"
    " 1001, 20, '', 'h', 'tests/test_a.py', '');";

static void
history_open_wait__a_locked_v2_file_is_read_and_upgraded_by_the_first_flush(void **state)
{
	char *dir = harness_tmpdir();
	char *path = harness_path(dir, "history.db");
	sq_exec(path, schema_v2);
	sqlite3 *other = holder_take(path);
	struct history *h = NULL;
	struct diag d = DIAG_INIT;
	double t0 = now_s();
	assert_int_equal(history_open_wait(&h, path, 100, &d), 0);
	assert_true(now_s() - t0 < 2.0);
	bool found;
	assert_true(median_of(h, "tests/test_a.py", &found) == 15.0 && found);
	double all = 0;
	assert_int_equal(history_median_all(h, &all, &found, &d), 0);
	assert_true(found && all == 15.0);
	struct history_result r = result("tests/test_a.py", "passed", 1002, 30);
	assert_int_equal(history_queue(h, &r, &d), 0);
	assert_int_equal(history_flush(h, 0, &d), 0);
	assert_int_equal(history_pending(h), 1);
	holder_release(other);
	assert_query(path, "SELECT value FROM meta WHERE key = 'schema_version'", "2\n");
	assert_int_equal(history_flush(h, 0, &d), 0);
	assert_int_equal(history_pending(h), 0);
	assert_query(path, "SELECT value FROM meta WHERE key = 'schema_version'", "3\n");
	assert_query(path, "SELECT runs, median FROM tests", "3|20.0\n");
	assert_true(median_of(h, "tests/test_a.py", &found) == 20.0 && found);
	history_close(h);
	diag_release(&d);
	free(path);
	harness_rmtree(dir);
}

static void history_open_wait__a_file_locked_to_readers_fails_within_the_wait(void **state)
{
	char *dir = harness_tmpdir();
	char *path = harness_path(dir, "history.db");
	sq_exec(path, "PRAGMA journal_mode = DELETE; CREATE TABLE meta (key TEXT PRIMARY KEY,"
	              " value)");
	/* Rollback journal: an exclusive lock keeps readers out too. */
	sqlite3 *other = holder_take(path);
	sq_run(other, "INSERT INTO meta VALUES ('x', 1)");
	struct history *h = NULL;
	struct diag d = DIAG_INIT;
	double t0 = now_s();
	assert_int_equal(history_open_wait(&h, path, 300, &d), -1);
	double took = now_s() - t0;
	assert_true(took < 3.0);
	assert_null(h);
	assert_int_equal(d.code, DIAG_SYSTEM);
	assert_non_null(strstr(d.msg.buf, "locked"));
	holder_release(other);
	diag_release(&d);
	free(path);
	harness_rmtree(dir);
}

/* ---- the tests table --------------------------------------------------- */

static void history_median_all__reads_the_tests_table_not_every_attempt(void **state)
{
	char *dir = harness_tmpdir();
	char *path = harness_path(dir, "history.db");
	struct history *h = open_at(path);
	record(h, "tests/test_a.py", "passed", 1000, 10);
	record(h, "tests/test_b.py", "passed", 1000, 30);
	/* Attempts written behind gpuci's back are not in the figures it reads. */
	sq_exec(path, "INSERT INTO results (run_id, job, test_file, test_args, gpus, gpu_ids,"
	              " status, attempt, started_at, duration, log_path, host, identity)"
	              " VALUES ('x', 'j', 'tests/test_c.py', '', 0, '', 'passed', 1, 1, 1000, '',"
	              " 'h', 'tests/test_c.py')");
	double m = 0;
	bool found;
	struct diag d = DIAG_INIT;
	assert_int_equal(history_median_all(h, &m, &found, &d), 0);
	assert_true(found && m == 20);
	(void)median_of(h, "tests/test_c.py", &found);
	assert_false(found);
	/* The writer's next result for that test brings its figures up to date. */
	record(h, "tests/test_c.py", "passed", 1001, 1000);
	assert_int_equal(history_median_all(h, &m, &found, &d), 0);
	assert_true(found && m == 30);
	history_close(h);
	diag_release(&d);
	free(path);
	harness_rmtree(dir);
}

/* The tests table against the attempts, recomputed here from scratch. */
static void assert_tests_table_matches(const char *path)
{
	assert_query(path,
	             "SELECT t.test_file, t.runs, t.passed, t.flaky, t.failed FROM tests t"
	             " EXCEPT SELECT test_file, count(*), sum(status = 'passed'),"
	             " sum(status = 'flaky'), sum(status IN ('failed', 'timeout', 'crashed'))"
	             " FROM results GROUP BY test_file, test_args, identity",
	             "");
	assert_query(path,
	             "SELECT (SELECT count(*) FROM tests) = (SELECT count(*) FROM (SELECT DISTINCT"
	             " test_file, test_args, identity FROM results))",
	             "1\n");
	/* Medians: middle value(s) of each test's passed and flaky durations. */
	assert_query(path,
	             "WITH d AS (SELECT test_file f, duration x, row_number() OVER (PARTITION BY"
	             " test_file ORDER BY duration) i, count(*) OVER (PARTITION BY test_file) n"
	             " FROM results WHERE status IN ('passed', 'flaky')),"
	             " m AS (SELECT f, avg(x) med FROM d WHERE i IN ((n + 1) / 2, (n + 2) / 2)"
	             " GROUP BY f)"
	             " SELECT t.test_file FROM tests t LEFT JOIN m ON m.f = t.test_file"
	             " WHERE NOT (t.median IS m.med OR abs(t.median - m.med) < 1e-9)",
	             "");
}

static void history_prune__removes_old_attempts_and_keeps_the_figures_true(void **state)
{
	char *dir = harness_tmpdir();
	char *path = harness_path(dir, "history.db");
	struct history *h = open_at(path);
	static const char *const files[] = {"tests/test_a.py", "tests/test_b.py",
	                                    "tests/test_c.py"};
	static const char *const statuses[] = {"passed", "failed", "flaky", "passed", "timeout"};
	unsigned seed = 12345;
	for (int i = 0; i < 300; i++) {
		seed = seed * 1103515245 + 12345;
		/* test_c only in the old half: pruning removes it altogether. */
		const char *f = files[(seed >> 8) % (i < 150 ? 3 : 2)];
		record(h, f, statuses[(seed >> 4) % 5], 1000 + i,
		       (double)((seed >> 12) % 1000) / 10);
	}
	assert_tests_table_matches(path);
	struct history_pruned pr;
	struct diag d = DIAG_INIT;
	assert_int_equal(history_prune(h, 1150, &pr, &d), 0);
	assert_int_equal(pr.removed, 150);
	assert_int_equal(pr.tests, 3);
	assert_true(pr.complete);
	assert_query(path, "SELECT count(*), min(started_at) FROM results", "150|1150.0\n");
	assert_query(path, "SELECT count(*) FROM tests WHERE test_file = 'tests/test_c.py'", "0\n");
	assert_tests_table_matches(path);
	bool found;
	(void)median_of(h, "tests/test_c.py", &found);
	assert_false(found);
	assert_int_equal(history_prune(h, 1150, &pr, &d), 0);
	assert_int_equal(pr.removed, 0);
	history_close(h);
	diag_release(&d);
	free(path);
	harness_rmtree(dir);
}

static void history_prune_now_and_then__once_a_day_in_batches(void **state)
{
	char *dir = harness_tmpdir();
	char *path = harness_path(dir, "history.db");
	struct history *h = open_at(path);
	double now = 100 * 86400.0;
	record(h, "tests/test_a.py", "passed", now - 50 * 86400, 1);
	record(h, "tests/test_a.py", "passed", now - 5 * 86400, 2);
	struct history_pruned pr;
	struct diag d = DIAG_INIT;
	/* 0 keeps everything. */
	assert_int_equal(history_prune_now_and_then(h, 0, now, &pr, &d), 0);
	assert_int_equal(pr.removed, 0);
	assert_int_equal(history_prune_now_and_then(h, 30, now, &pr, &d), 0);
	assert_int_equal(pr.removed, 1);
	assert_query(path, "SELECT count(*) FROM results", "1\n");
	/* Within a day of the last prune: nothing, though something is old enough now. */
	assert_int_equal(history_prune_now_and_then(h, 1, now + 3600, &pr, &d), 0);
	assert_int_equal(pr.removed, 0);
	assert_int_equal(history_prune_now_and_then(h, 1, now + 86400, &pr, &d), 0);
	assert_int_equal(pr.removed, 1);
	/* A locked history is left for later, without waiting. */
	record(h, "tests/test_a.py", "passed", now, 3);
	sqlite3 *other = holder_take(path);
	double t0 = now_s();
	assert_int_equal(history_prune_now_and_then(h, 1, now + 10 * 86400, &pr, &d), 0);
	assert_true(now_s() - t0 < 1.0);
	assert_int_equal(pr.removed, 0);
	holder_release(other);
	assert_query(path, "SELECT count(*) FROM results", "1\n");
	history_close(h);
	diag_release(&d);
	free(path);
	harness_rmtree(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(history_flush__a_locked_history_keeps_results_queued_without_waiting),
	    cmocka_unit_test(history_save_pending__and_import_load_what_a_lock_kept_out),
	    cmocka_unit_test(
	        history_open_wait__a_locked_v2_file_is_read_and_upgraded_by_the_first_flush),
	    cmocka_unit_test(history_open_wait__a_file_locked_to_readers_fails_within_the_wait),
	    cmocka_unit_test(history_median_all__reads_the_tests_table_not_every_attempt),
	    cmocka_unit_test(history_prune__removes_old_attempts_and_keeps_the_figures_true),
	    cmocka_unit_test(history_prune_now_and_then__once_a_day_in_batches),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
