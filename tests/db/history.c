/*
 * db/history: the SQLite store of test results, and `gpuci history` on top
 * of it. What the module wrote is checked through a second connection of
 * our own (the test's own SQL through the same linked-in SQLite), so the tests do not take the
 * module's word for it.
 */
#include "harness.h"

#include <errno.h>
#include <grp.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "base/strbuf.h"
#include "cli/cli.h"
#include "db/history.h"

/* ---- a second connection ----------------------------------------------- */

/*
 * Every row sql returns from the file at path, columns joined by '|', rows
 * ending in '\n', NULL shown as "NULL". The caller frees the string.
 */
static char *sq_query(const char *path, const char *sql)
{
	sqlite3 *db;
	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		fail_msg("%s: %s", sql, sqlite3_errmsg(db));
	struct strbuf sb = STRBUF_INIT;
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		for (int i = 0; i < sqlite3_column_count(st); i++) {
			const unsigned char *s = sqlite3_column_text(st, i);
			strbuf_addf(&sb, "%s%s", i ? "|" : "", s ? (const char *)s : "NULL");
		}
		strbuf_addch(&sb, '\n');
	}
	assert_int_equal(rc, SQLITE_DONE);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return strbuf_detach(&sb, NULL);
}

static void sq_exec(const char *path, const char *sql)
{
	sqlite3 *db;
	assert_int_equal(
	    sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL),
	    SQLITE_OK);
	if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK)
		fail_msg("%s: %s", sql, sqlite3_errmsg(db));
	sqlite3_close(db);
}

static void assert_query(const char *path, const char *sql, const char *want)
{
	char *got = sq_query(path, sql);
	assert_string_equal(got, want);
	free(got);
}

/* ---- fixtures ---------------------------------------------------------- */

/* A history in a fresh folder; *dir is freed by harness_rmtree(). */
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

/* A passed attempt of file with args that took secs. */
static void record_time(struct history *h, const char *file, const char *args, const char *status,
                        double secs)
{
	struct history_result r = {.run_id = "r",
	                           .job = "unit",
	                           .test_file = file,
	                           .test_args = args,
	                           .status = status,
	                           .attempt = 1,
	                           .exit_code = 0,
	                           .started_at = 1000,
	                           .duration = secs};
	record(h, &r);
}

static char *report(struct history *h, const struct history_query *q, bool json)
{
	struct strbuf out = STRBUF_INIT;
	struct diag d = DIAG_INIT;
	if (history_report(h, q, json, &out, &d) < 0)
		fail_msg("%s", d.msg.buf);
	diag_release(&d);
	return strbuf_detach(&out, NULL);
}

static void assert_report(struct history *h, const struct history_query *q, bool json,
                          const char *want)
{
	char *got = report(h, q, json);
	assert_string_equal(got, want);
	free(got);
}

/*
 * Three attempts of two tests over two runs, at fixed times (the tests run
 * with TZ=UTC): tests/test_a.py passes on CPU; tests/test_b.py --fast fails
 * on GPUs 0,1, then passes on its retry (flaky).
 */
static void record_three(struct history *h)
{
	struct history_result a = {.run_id = "20261126-065501-1",
	                           .job = "unit",
	                           .test_file = "tests/test_a.py",
	                           .status = "passed",
	                           .attempt = 1,
	                           .exit_code = 0,
	                           .started_at = 1764140101.25,
	                           .duration = 1.5,
	                           .log_path = "logs/a.log",
	                           .host = "hostA"};
	struct history_result b1 = {.run_id = "20261126-065501-1",
	                            .job = "gpu",
	                            .test_file = "tests/test_b.py",
	                            .test_args = "--fast",
	                            .gpus = 2,
	                            .gpu_ids = "0,1",
	                            .status = "failed",
	                            .attempt = 1,
	                            .exit_code = 1,
	                            .started_at = 1764140111,
	                            .duration = 65,
	                            .log_path = "logs/b.1.log",
	                            .host = "hostA"};
	struct history_result b2 = b1;
	b2.status = "flaky";
	b2.attempt = 2;
	b2.exit_code = 0;
	b2.started_at = 1764140176.5;
	b2.duration = 3725;
	b2.log_path = "logs/b.2.log";
	record(h, &a);
	record(h, &b1);
	record(h, &b2);
}

/* ---- opening ----------------------------------------------------------- */

static void history_open__creates_the_folder_the_schema_and_wal(void **state)
{
	char *dir = harness_tmpdir();
	char *path = harness_path(dir, "a/.gpuci/history.db");
	struct history *h = NULL;
	struct diag d = DIAG_INIT;
	assert_int_equal(history_open(&h, path, &d), 0);
	assert_non_null(h);

	/* Seen from another connection while ours is open. */
	assert_query(path, "PRAGMA journal_mode", "wal\n");
	assert_query(path, "SELECT type, name FROM sqlite_master ORDER BY type, name",
	             "index|results_identity\nindex|results_key\nindex|results_run\n"
	             "index|results_started\nindex|sqlite_autoindex_meta_1\n"
	             "index|sqlite_autoindex_tests_1\nindex|tests_identity\n"
	             "table|meta\ntable|results\ntable|tests\n");
	assert_query(path, "SELECT group_concat(name, ',') FROM pragma_table_info('results')",
	             "id,run_id,job,test_file,test_args,gpus,gpu_ids,status,attempt,exit_code,"
	             "started_at,duration,log_path,host,identity,variant\n");
	assert_query(path, "SELECT group_concat(name, ',') FROM pragma_index_info('results_key')",
	             "test_file,test_args,identity,status,duration\n");
	assert_query(path, "SELECT group_concat(name, ',') FROM pragma_index_info('results_run')",
	             "run_id\n");
	assert_query(path, "SELECT key, value, typeof(value) FROM meta",
	             "schema_version|3|integer\n");
	history_close(h);

	/* WAL is kept in the file itself: bytes 18 and 19 of the header are 2. */
	unsigned char head[20];
	int fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(read(fd, head, sizeof(head)), sizeof(head));
	close(fd);
	assert_memory_equal(head, "SQLite format 3", 16);
	assert_int_equal(head[18], 2);
	assert_int_equal(head[19], 2);
	free(path);
	harness_rmtree(dir);
}

static void history_open__again_keeps_what_was_recorded(void **state)
{
	char *dir, *path;
	struct history *h = open_fresh(&dir, &path);
	record_time(h, "tests/test_a.py", "", "passed", 2);
	history_close(h);
	struct diag d = DIAG_INIT;
	assert_int_equal(history_open(&h, path, &d), 0);
	record_time(h, "tests/test_a.py", "", "passed", 4);
	double m;
	bool found;
	assert_int_equal(history_median(h, NULL, "tests/test_a.py", "", &m, &found, &d), 0);
	assert_true(found);
	assert_true(m == 3);
	history_close(h);
	assert_query(path, "SELECT count(*) FROM results", "2\n");
	assert_query(path, "SELECT count(*) FROM meta", "1\n");
	free(path);
	harness_rmtree(dir);
}

static void history_open__in_a_file_that_is_not_a_folder_says_why(void **state)
{
	char *dir = harness_tmpdir();
	char *file = harness_path(dir, "plain");
	char *below = harness_path(dir, "plain/h.db");
	char *deeper = harness_path(dir, "plain/sub/h.db");
	assert_int_equal(close(open(file, O_WRONLY | O_CREAT, 0644)), 0);
	struct history *h = (struct history *)1;
	struct diag d = DIAG_INIT;
	struct strbuf want = STRBUF_INIT;

	assert_int_equal(history_open(&h, deeper, &d), -1);
	assert_null(h);
	assert_int_equal(d.code, DIAG_SYSTEM);
	strbuf_addf(&want, "cannot create the folder %s/plain/sub for the history %s: %s", dir,
	            deeper, strerror(ENOTDIR));
	assert_string_equal(d.msg.buf, want.buf);

	assert_int_equal(history_open(&h, below, &d), -1);
	assert_int_equal(d.code, DIAG_SYSTEM);
	strbuf_reset(&want);
	strbuf_addf(&want, "cannot open the history %s: %s", below, strerror(ENOTDIR));
	assert_string_equal(d.msg.buf, want.buf);

	/* A folder where the file should be. */
	assert_int_equal(history_open(&h, dir, &d), -1);
	assert_int_equal(d.code, DIAG_SYSTEM);
	strbuf_reset(&want);
	strbuf_addf(&want, "cannot open the history %s: %s", dir, strerror(EISDIR));
	assert_string_equal(d.msg.buf, want.buf);
	strbuf_release(&want);
	diag_release(&d);
	free(file);
	free(below);
	free(deeper);
	harness_rmtree(dir);
}

static void history_open__in_a_read_only_folder_says_why(void **state)
{
	if (geteuid() == 0)
		skip(); /* root writes anywhere */
	char *dir = harness_tmpdir();
	char *ro = harness_path(dir, "ro");
	char *path = harness_path(dir, "ro/h.db");
	char *sub = harness_path(dir, "ro/sub/h.db");
	assert_int_equal(mkdir(ro, 0555), 0);
	struct history *h;
	struct diag d = DIAG_INIT;
	struct strbuf want = STRBUF_INIT;
	assert_int_equal(history_open(&h, path, &d), -1);
	strbuf_addf(&want, "cannot open the history %s: %s", path, strerror(EACCES));
	assert_string_equal(d.msg.buf, want.buf);
	assert_int_equal(history_open(&h, sub, &d), -1);
	strbuf_reset(&want);
	strbuf_addf(&want, "cannot create the folder %s/ro/sub for the history %s: %s", dir, sub,
	            strerror(EACCES));
	assert_string_equal(d.msg.buf, want.buf);
	chmod(ro, 0755);
	strbuf_release(&want);
	diag_release(&d);
	free(ro);
	free(path);
	free(sub);
	harness_rmtree(dir);
}

static void history_open_read__reads_a_file_it_may_not_write(void **state)
{
	if (geteuid() == 0)
		skip(); /* root writes anywhere */
	char *dir, *path;
	struct history *h = open_fresh(&dir, &path);
	record_time(h, "tests/test_a.py", "", "passed", 3);
	history_close(h);
	assert_int_equal(chmod(path, 0444), 0);
	struct diag d = DIAG_INIT;
	bool missing, found;
	double m;
	assert_int_equal(history_open_read(&h, path, &missing, &d), 0);
	assert_int_equal(history_median(h, NULL, "tests/test_a.py", NULL, &m, &found, &d), 0);
	assert_true(found);
	assert_true(m == 3);
	history_close(h);
	/* To record, it must be writable. */
	struct strbuf want = STRBUF_INIT;
	strbuf_addf(&want, "cannot open the history %s: %s", path, strerror(EACCES));
	assert_int_equal(history_open(&h, path, &d), -1);
	assert_string_equal(d.msg.buf, want.buf);
	/* Nor may SQLite make the -shm file it reads a WAL file through: read as it is. */
	assert_int_equal(chmod(dir, 0555), 0);
	assert_int_equal(history_open_read(&h, path, &missing, &d), 0);
	assert_int_equal(history_median(h, NULL, "tests/test_a.py", NULL, &m, &found, &d), 0);
	assert_true(m == 3);
	history_close(h);
	assert_int_equal(chmod(dir, 0755), 0);
	strbuf_release(&want);
	diag_release(&d);
	free(path);
	harness_rmtree(dir);
}

/*
 * Root may write anywhere, so the two tests above skip under root; there,
 * this one runs them in the test binary again as nobody (65534). Skipped
 * when that user cannot run the binary (a build folder under /root).
 */
static void history__permission_tests_run_as_nobody_under_root(void **state)
{
	if (geteuid() != 0)
		skip(); /* they ran as they are */
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		if (setgroups(0, NULL) < 0 || setgid(65534) < 0 || setuid(65534) < 0)
			_exit(77);
		setenv("TMPDIR", "/tmp", 1);
		execl("/proc/self/exe", "test_db_history", "--permission-tests", (char *)NULL);
		_exit(77);
	}
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	if (WEXITSTATUS(status) == 77)
		skip();
	assert_int_equal(WEXITSTATUS(status), 0);
}

static void write_file(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	close(fd);
}

static void history_open__garbage_is_not_a_history(void **state)
{
	char *dir = harness_tmpdir();
	char *path = harness_path(dir, "history.db");
	unsigned char junk[4096];
	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = (unsigned char)(i * 7 + 3);
	struct strbuf want = STRBUF_INIT;
	strbuf_addf(&want,
	            "%s is not a gpuci history (not an SQLite database); move it away, and the "
	            "next gpuci run starts a new one",
	            path);
	/* A page of garbage, and a few bytes of text. */
	for (int round = 0; round < 2; round++) {
		write_file(path, round ? (const void *)"hello\n" : junk, round ? 6 : sizeof(junk));
		struct history *h = (struct history *)1;
		struct diag d = DIAG_INIT;
		bool missing = true;
		assert_int_equal(history_open(&h, path, &d), -1);
		assert_null(h);
		assert_int_equal(d.code, DIAG_INPUT);
		assert_string_equal(d.msg.buf, want.buf);
		assert_int_equal(history_open_read(&h, path, &missing, &d), -1);
		assert_false(missing);
		assert_string_equal(d.msg.buf, want.buf);
		diag_release(&d);
	}
	/* The file is left as it was. */
	struct stat sb;
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_size, 6);
	strbuf_release(&want);
	free(path);
	harness_rmtree(dir);
}

static void history_open__damaged_pages_are_reported_not_crashed_on(void **state)
{
	char *dir, *path;
	struct history *h = open_fresh(&dir, &path);
	for (int i = 0; i < 300; i++)
		record_time(h, "tests/test_a_rather_long_name_to_fill_pages.py", "--x", "passed",
		            i);
	history_close(h);
	/* Keep the 100-byte header and the first page's start, scramble the rest. */
	struct stat sb;
	assert_int_equal(stat(path, &sb), 0);
	assert_true(sb.st_size > 8192);
	int fd = open(path, O_WRONLY);
	assert_true(fd >= 0);
	unsigned char junk[4096];
	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = (unsigned char)(i * 13 + 5);
	for (off_t off = 4096; off < sb.st_size; off += (off_t)sizeof(junk))
		assert_int_equal(pwrite(fd, junk, sizeof(junk), off), sizeof(junk));
	close(fd);

	/* Opening or reading fails with a message: which step notices may vary. */
	struct diag d = DIAG_INIT;
	bool missing;
	int rc = history_open_read(&h, path, &missing, &d);
	if (rc == 0) {
		struct strbuf out = STRBUF_INIT;
		struct history_query q = {.slowest = 3};
		rc = history_report(h, &q, false, &out, &d);
		strbuf_release(&out);
		history_close(h);
	}
	assert_int_equal(rc, -1);
	assert_int_equal(d.code, DIAG_INPUT);
	assert_non_null(strstr(d.msg.buf, path));
	assert_non_null(strstr(d.msg.buf, "is damaged (SQLite: "));
	diag_release(&d);
	free(path);
	harness_rmtree(dir);
}

static void history_open_read__a_missing_file_is_no_error_and_stays_missing(void **state)
{
	char *dir = harness_tmpdir();
	char *path = harness_path(dir, "no/history.db");
	struct history *h = (struct history *)1;
	bool missing = false;
	struct diag d = DIAG_INIT;
	assert_int_equal(history_open_read(&h, path, &missing, &d), 0);
	assert_null(h);
	assert_true(missing);
	char *sub = harness_path(dir, "no");
	struct stat sb;
	assert_int_equal(stat(sub, &sb), -1);
	free(sub);
	free(path);
	harness_rmtree(dir);
}

static void history_open_read__refuses_other_databases_and_newer_schemas(void **state)
{
	char *dir = harness_tmpdir();
	char *other = harness_path(dir, "other.db");
	char *newer = harness_path(dir, "newer.db");
	sq_exec(other, "CREATE TABLE t (x)");
	struct history *h;
	bool missing;
	struct diag d = DIAG_INIT;
	struct strbuf want = STRBUF_INIT;
	assert_int_equal(history_open_read(&h, other, &missing, &d), -1);
	assert_int_equal(d.code, DIAG_INPUT);
	strbuf_addf(&want, "%s is not a gpuci history (no results table)", other);
	assert_string_equal(d.msg.buf, want.buf);

	assert_int_equal(history_open(&h, newer, &d), 0);
	history_close(h);
	sq_exec(newer, "UPDATE meta SET value = 4 WHERE key = 'schema_version'");
	strbuf_reset(&want);
	strbuf_addf(&want,
	            "%s was written by a newer gpuci (history schema 4; this gpuci knows 3): "
	            "use that gpuci, or move the file away",
	            newer);
	assert_int_equal(history_open_read(&h, newer, &missing, &d), -1);
	assert_string_equal(d.msg.buf, want.buf);
	assert_int_equal(history_open(&h, newer, &d), -1);
	assert_string_equal(d.msg.buf, want.buf);
	strbuf_release(&want);
	diag_release(&d);
	free(other);
	free(newer);
	harness_rmtree(dir);
}

/* ---- recording --------------------------------------------------------- */

static void history_record__keeps_every_field(void **state)
{
	char *dir, *path;
	struct history *h = open_fresh(&dir, &path);
	record_three(h);
	/* NULL strings read as empty, exit code -1 as NULL, no host as this machine's. */
	struct history_result bare = {
	    .test_file = "tests/test_c.py", .status = "not-runnable", .gpus = 16, .exit_code = -1};
	record(h, &bare);
	history_close(h);
	char host[256] = "";
	gethostname(host, sizeof(host) - 1);
	struct strbuf want = STRBUF_INIT;
	strbuf_addf(&want,
	            "1|20261126-065501-1|unit|tests/test_a.py||0||passed|1|0|1764140101.25|1.5|"
	            "logs/a.log|hostA||\n"
	            "2|20261126-065501-1|gpu|tests/test_b.py|--fast|2|0,1|failed|1|1|1764140111.0|"
	            "65.0|logs/b.1.log|hostA||\n"
	            "3|20261126-065501-1|gpu|tests/test_b.py|--fast|2|0,1|flaky|2|0|1764140176.5|"
	            "3725.0|logs/b.2.log|hostA||\n"
	            "4|||tests/test_c.py||16||not-runnable|0|NULL|0.0|0.0||%s||\n",
	            host);
	assert_query(path, "SELECT * FROM results ORDER BY id", want.buf);
	assert_query(path, "SELECT DISTINCT typeof(started_at), typeof(duration) FROM results",
	             "real|real\n");
	strbuf_release(&want);
	free(path);
	harness_rmtree(dir);
}

static void history_record__refuses_bad_values_and_writes_nothing(void **state)
{
	char *dir, *path;
	struct history *h = open_fresh(&dir, &path);
	struct diag d = DIAG_INIT;
	struct history_result r = {.test_file = "tests/test_a.py", .status = "passd"};
	assert_int_equal(history_record(h, &r, &d), -1);
	assert_int_equal(d.code, DIAG_INPUT);
	struct strbuf want = STRBUF_INIT;
	strbuf_addf(&want,
	            "cannot record tests/test_a.py in %s: unknown status 'passd' (passed, failed, "
	            "timeout, flaky, crashed, skipped, canceled, not-runnable)",
	            path);
	assert_string_equal(d.msg.buf, want.buf);
	r.status = "passed";
	r.duration = -1;
	assert_int_equal(history_record(h, &r, &d), -1);
	assert_non_null(strstr(d.msg.buf, "must be finite, the duration >= 0"));
	r.duration = NAN;
	assert_int_equal(history_record(h, &r, &d), -1);
	r.duration = 1;
	r.started_at = INFINITY;
	assert_int_equal(history_record(h, &r, &d), -1);
	r.started_at = 0;
	r.test_file = "";
	assert_int_equal(history_record(h, &r, &d), -1);
	assert_non_null(strstr(d.msg.buf, "without a test file"));
	history_close(h);
	assert_query(path, "SELECT count(*) FROM results", "0\n");
	strbuf_release(&want);
	diag_release(&d);
	free(path);
	harness_rmtree(dir);
}

/* ---- medians ----------------------------------------------------------- */

static double median_of(struct history *h, const char *file, const char *args, bool *found)
{
	struct diag d = DIAG_INIT;
	double m = -1;
	if (history_median(h, NULL, file, args, &m, found, &d) < 0)
		fail_msg("%s", d.msg.buf);
	return m;
}

static void history_median__odd_even_and_only_passed_or_flaky(void **state)
{
	char *dir, *path;
	struct history *h = open_fresh(&dir, &path);
	bool found = true;
	median_of(h, "tests/test_a.py", "", &found);
	assert_false(found);

	/* Odd: the middle one, whatever the order they came in. */
	record_time(h, "tests/test_a.py", "", "passed", 30);
	record_time(h, "tests/test_a.py", "", "passed", 10);
	record_time(h, "tests/test_a.py", "", "flaky", 20);
	/* Neither counts: a failure or a timeout says nothing of how long a pass takes. */
	record_time(h, "tests/test_a.py", "", "failed", 1);
	record_time(h, "tests/test_a.py", "", "timeout", 1000);
	record_time(h, "tests/test_a.py", "", "crashed", 2);
	record_time(h, "tests/test_a.py", "", "canceled", 3);
	assert_true(median_of(h, "tests/test_a.py", "", &found) == 20);
	assert_true(found);

	/* Even: the mean of the two middle ones. */
	record_time(h, "tests/test_a.py", "", "passed", 25);
	assert_true(median_of(h, "tests/test_a.py", "", &found) == 22.5);

	/* Args make another test; NULL args take all. */
	record_time(h, "tests/test_a.py", "--big", "passed", 100);
	record_time(h, "tests/test_a.py", "--big", "passed", 101);
	assert_true(median_of(h, "tests/test_a.py", "--big", &found) == 100.5);
	assert_true(median_of(h, "tests/test_a.py", "", &found) == 22.5);
	/* 10 20 25 30 100 101 */
	assert_true(median_of(h, "tests/test_a.py", NULL, &found) == 27.5);
	assert_true(found);

	/* A test that only failed has none; so has an unknown one. */
	record_time(h, "tests/test_b.py", "", "failed", 5);
	median_of(h, "tests/test_b.py", "", &found);
	assert_false(found);
	median_of(h, "tests/test_zzz.py", NULL, &found);
	assert_false(found);
	history_close(h);
	free(path);
	harness_rmtree(dir);
}

static void history_median_all__is_the_median_of_each_tests_median(void **state)
{
	char *dir, *path;
	struct history *h = open_fresh(&dir, &path);
	struct diag d = DIAG_INIT;
	double m = -1;
	bool found = true;
	assert_int_equal(history_median_all(h, &m, &found, &d), 0);
	assert_false(found);

	/* test_a weighs as much as test_b, however often it ran. */
	for (int i = 0; i < 50; i++)
		record_time(h, "tests/test_a.py", "", "passed", 1 + i % 3); /* median 2 */
	record_time(h, "tests/test_b.py", "", "passed", 10);                /* 10 */
	record_time(h, "tests/test_c.py", "", "passed", 100);               /* 150 */
	record_time(h, "tests/test_c.py", "", "flaky", 200);
	record_time(h, "tests/test_d.py", "", "failed", 9999); /* no median */
	assert_int_equal(history_median_all(h, &m, &found, &d), 0);
	assert_true(found);
	assert_true(m == 10);
	/* Four medians 2 4 10 150: the mean of 4 and 10. Args make a test. */
	record_time(h, "tests/test_b.py", "--other", "passed", 4);
	assert_int_equal(history_median_all(h, &m, &found, &d), 0);
	assert_true(m == 7);
	history_close(h);
	free(path);
	harness_rmtree(dir);
}

/* ---- reports ----------------------------------------------------------- */

static void history_report__recent_attempts_as_a_table(void **state)
{
	char *dir, *path;
	struct history *h = open_fresh(&dir, &path);
	struct history_query q = {0};
	struct strbuf want = STRBUF_INIT;
	strbuf_addf(&want, "no attempt recorded in %s\n", path);
	assert_report(h, &q, false, want.buf);
	record_three(h);
	assert_report(h, &q, false,
	              "TIME                 RUN                JOB   TEST                    GPUS  "
	              "   STATUS  "
	              "TRY  DURATION  LOG\n"
	              "2025-11-26 06:56:16  20261126-065501-1  gpu   tests/test_b.py --fast  2 "
	              "(0,1)  flaky     "
	              "2     1h02m  logs/b.2.log\n"
	              "2025-11-26 06:55:11  20261126-065501-1  gpu   tests/test_b.py --fast  2 "
	              "(0,1)  failed    "
	              "1     1m05s  logs/b.1.log\n"
	              "2025-11-26 06:55:01  20261126-065501-1  unit  tests/test_a.py         -     "
	              "   passed    "
	              "1     1.50s  logs/a.log\n");
	q.limit = 2;
	assert_report(
	    h, &q, false,
	    "TIME                 RUN                JOB  TEST                    GPUS     STATUS  "
	    "TRY  DURATION  LOG\n"
	    "2025-11-26 06:56:16  20261126-065501-1  gpu  tests/test_b.py --fast  2 (0,1)  flaky   "
	    "  "
	    "2     1h02m  logs/b.2.log\n"
	    "2025-11-26 06:55:11  20261126-065501-1  gpu  tests/test_b.py --fast  2 (0,1)  failed  "
	    "  "
	    "1     1m05s  logs/b.1.log\n"
	    "(the 2 most recent of 3 attempts; --limit N shows more)\n");
	history_close(h);
	strbuf_release(&want);
	free(path);
	harness_rmtree(dir);
}

static void history_report__recent_attempts_as_json(void **state)
{
	char *dir, *path;
	struct history *h = open_fresh(&dir, &path);
	struct history_query q = {.limit = 2};
	assert_report(h, &q, true, "[]\n");
	record_three(h);
	struct history_result odd = {.run_id = "r\"2",
	                             .test_file = "tests/t\xff\n.py",
	                             .status = "not-runnable",
	                             .exit_code = -1,
	                             .host = "h\xc3\xa9"};
	record(h, &odd);
	assert_report(
	    h, &q, true,
	    "[\n"
	    "  {\"id\":4,\"run_id\":\"r\\\"2\",\"job\":\"\",\"test_file\":\"tests/t\\ufffd\\n.py\","
	    "\"test_args\":\"\",\"gpus\":0,\"gpu_ids\":\"\",\"status\":\"not-runnable\","
	    "\"attempt\":0,\"exit_code\":null,\"started_at\":0.000,"
	    "\"time\":\"1970-01-01T00:00:00Z\",\"duration\":0.000,\"log_path\":\"\","
	    "\"host\":\"h\xc3\xa9\",\"identity\":\"\",\"variant\":\"\"},\n"
	    "  {\"id\":3,\"run_id\":\"20261126-065501-1\",\"job\":\"gpu\","
	    "\"test_file\":\"tests/test_b.py\",\"test_args\":\"--fast\",\"gpus\":2,"
	    "\"gpu_ids\":\"0,1\",\"status\":\"flaky\",\"attempt\":2,\"exit_code\":0,"
	    "\"started_at\":1764140176.500,\"time\":\"2025-11-26T06:56:16Z\","
	    "\"duration\":3725.000,\"log_path\":\"logs/b.2.log\",\"host\":\"hostA\","
	    "\"identity\":\"\",\"variant\":\"\"}\n"
	    "]\n");
	history_close(h);
	free(path);
	harness_rmtree(dir);
}

static void history_report__slowest_tests(void **state)
{
	char *dir, *path;
	struct history *h = open_fresh(&dir, &path);
	struct history_query q = {.slowest = 2};
	struct strbuf want = STRBUF_INIT;
	strbuf_addf(&want, "nothing to time: no passed attempt among the 0 attempts in %s\n", path);
	assert_report(h, &q, false, want.buf);
	assert_report(h, &q, true, "[]\n");
	record_three(h);
	record_time(h, "tests/test_a.py", "", "passed", 2.5);
	record_time(h, "tests/test_c.py", "", "failed", 99999); /* never passed: not listed */
	assert_report(h, &q, false,
	              "TEST             ARGS    RUNS  MEDIAN  LAST\n"
	              "tests/test_b.py  --fast     2   1h02m  flaky\n"
	              "tests/test_a.py  -          2   2.00s  passed\n");
	q.slowest = 1;
	assert_report(h, &q, false,
	              "TEST             ARGS    RUNS  MEDIAN  LAST\n"
	              "tests/test_b.py  --fast     2   1h02m  flaky\n"
	              "(1 of 2 timed tests)\n");
	assert_report(
	    h, &q, true,
	    "[\n"
	    "  {\"test_file\":\"tests/test_b.py\",\"test_args\":\"--fast\",\"identity\":\"\","
	    "\"variant\":\"\",\"runs\":2,"
	    "\"passed\":0,\"flaky\":1,\"failed\":1,\"median\":3725.000,"
	    "\"last_status\":\"flaky\",\"last_started_at\":1764140176.500}\n"
	    "]\n");
	history_close(h);
	strbuf_release(&want);
	free(path);
	harness_rmtree(dir);
}

static void history_report__flaky_tests(void **state)
{
	char *dir, *path;
	struct history *h = open_fresh(&dir, &path);
	struct history_query q = {.flaky = true};
	record_three(h);
	/* Passed and failed in separate runs: flaky too. Only failing, or only passing: not. */
	record_time(h, "tests/test_c.py", "", "passed", 1);
	record_time(h, "tests/test_c.py", "", "timeout", 1);
	record_time(h, "tests/test_c.py", "", "crashed", 1);
	record_time(h, "tests/test_d.py", "", "failed", 1);
	record_time(h, "tests/test_d.py", "", "failed", 1);
	assert_report(h, &q, false,
	              "TEST             ARGS    RUNS  PASSED  FLAKY  FAILED  LAST\n"
	              "tests/test_c.py  -          3       1      0       2  crashed\n"
	              "tests/test_b.py  --fast     2       0      1       1  flaky\n");
	q.limit = 1;
	assert_report(h, &q, false,
	              "TEST             ARGS  RUNS  PASSED  FLAKY  FAILED  LAST\n"
	              "tests/test_c.py  -        3       1      0       2  crashed\n"
	              "(1 of 2 flaky tests; --limit N shows more)\n");
	assert_report(h, &q, true,
	              "[\n"
	              "  {\"test_file\":\"tests/test_c.py\",\"test_args\":\"\",\"identity\":\"\","
	              "\"variant\":\"\",\"runs\":3,"
	              "\"passed\":1,\"flaky\":0,\"failed\":2,\"median\":1.000,"
	              "\"last_status\":\"crashed\",\"last_started_at\":1000.000}\n"
	              "]\n");
	q.test_glob = "test_d*";
	assert_report(h, &q, true, "[]\n");
	struct strbuf want = STRBUF_INIT;
	strbuf_addf(&want, "no flaky test among the 2 attempts of tests matching 'test_d*' in %s\n",
	            path);
	assert_report(h, &q, false, want.buf);
	history_close(h);
	strbuf_release(&want);
	free(path);
	harness_rmtree(dir);
}

/* The test files (one a line) of the attempts a glob keeps, newest first. */
static char *files_matching(struct history *h, const char *glob)
{
	struct history_query q = {.test_glob = glob, .limit = 100};
	char *json = report(h, &q, true);
	struct strbuf files = STRBUF_INIT;
	for (const char *p = json; (p = strstr(p, "\"test_file\":\"")); p++) {
		p += strlen("\"test_file\":\"");
		strbuf_add(&files, p, strcspn(p, "\""));
		strbuf_addch(&files, '\n');
	}
	free(json);
	return strbuf_detach(&files, NULL);
}

static void assert_matching(struct history *h, const char *glob, const char *want)
{
	char *got = files_matching(h, glob);
	assert_string_equal(got, want);
	free(got);
}

static void history_report__test_glob_with_or_without_tests_prefix(void **state)
{
	char *dir, *path;
	struct history *h = open_fresh(&dir, &path);
	record_time(h, "tests/test_glm.py", "", "passed", 1);
	record_time(h, "test_glm_bare.py", "", "passed", 1);
	record_time(h, "tests/models/test_glm_big.py", "", "passed", 1);
	record_time(h, "tests/test_other.py", "", "passed", 1);
	assert_matching(h, "test_glm*", "test_glm_bare.py\ntests/test_glm.py\n");
	assert_matching(h, "tests/test_glm*", "test_glm_bare.py\ntests/test_glm.py\n");
	/* fnmatch without flags: * takes '/' too. */
	assert_matching(h, "*glm*",
	                "tests/models/test_glm_big.py\ntest_glm_bare.py\ntests/test_glm.py\n");
	assert_matching(h, "tests/*/test_*.py", "tests/models/test_glm_big.py\n");
	assert_matching(h, "test_other.py", "tests/test_other.py\n");
	assert_matching(h, "other", "");
	assert_matching(h, "[", "");

	/* The table says what the glob left out. */
	struct history_query q = {.test_glob = "test_glm*", .limit = 1};
	char *table = report(h, &q, false);
	assert_non_null(strstr(table,
	                       "(the 1 most recent of 2 attempts of tests matching 'test_glm*'; "
	                       "--limit N shows more)\n"));
	free(table);
	q.slowest = 5;
	q.limit = 0;
	q.test_glob = "*glm_big*";
	table = report(h, &q, false);
	assert_string_equal(table, "TEST                          ARGS  RUNS  MEDIAN  LAST\n"
	                           "tests/models/test_glm_big.py  -        1   1.00s  passed\n");
	free(table);
	history_close(h);
	free(path);
	harness_rmtree(dir);
}

static void history_report__slowest_and_flaky_together_is_a_usage_error(void **state)
{
	char *dir, *path;
	struct history *h = open_fresh(&dir, &path);
	struct history_query q = {.slowest = 1, .flaky = true};
	struct strbuf out = STRBUF_INIT;
	struct diag d = DIAG_INIT;
	assert_int_equal(history_report(h, &q, false, &out, &d), -1);
	assert_int_equal(d.code, DIAG_USAGE);
	assert_string_equal(out.buf, "");
	history_close(h);
	diag_release(&d);
	free(path);
	harness_rmtree(dir);
}

static void history_report__read_only_handle_reads_what_a_writer_wrote(void **state)
{
	char *dir, *path;
	struct history *w = open_fresh(&dir, &path);
	record_three(w);
	/* While the writer still holds the file open, its WAL not folded in yet. */
	struct history *r;
	bool missing = true;
	struct diag d = DIAG_INIT;
	assert_int_equal(history_open_read(&r, path, &missing, &d), 0);
	assert_false(missing);
	double m;
	bool found;
	assert_int_equal(history_median(r, NULL, "tests/test_b.py", "--fast", &m, &found, &d), 0);
	assert_true(found);
	assert_true(m == 3725);
	record_time(w, "tests/test_b.py", "--fast", "passed", 1);
	assert_int_equal(history_median(r, NULL, "tests/test_b.py", "--fast", &m, &found, &d), 0);
	assert_true(m == 1863);
	history_close(r);
	history_close(w);
	free(path);
	harness_rmtree(dir);
}

/* ---- concurrency -------------------------------------------------------- */

#define WRITERS      4
#define RESULTS_EACH 200

/*
 * A child: waits for the start signal, then opens (the file may not exist
 * yet: all of them may create it at once) and records its results. Plain
 * exits, not cmocka assertions: this is another process.
 */
static void writer_child(const char *path, int start_fd, int id)
{
	char c;
	if (read(start_fd, &c, 1) != 1)
		_exit(3);
	struct history *h;
	struct diag d = DIAG_INIT;
	if (history_open(&h, path, &d) < 0) {
		fprintf(stderr, "writer %d: %s\n", id, d.msg.buf);
		_exit(1);
	}
	char run[32], file[64];
	snprintf(run, sizeof(run), "run-%d", id);
	for (int i = 0; i < RESULTS_EACH; i++) {
		snprintf(file, sizeof(file), "tests/test_%d.py", i % 10);
		struct history_result r = {.run_id = run,
		                           .job = "unit",
		                           .test_file = file,
		                           .status = "passed",
		                           .attempt = 1,
		                           .started_at = i,
		                           .duration = i};
		if (history_record(h, &r, &d) < 0) {
			fprintf(stderr, "writer %d, result %d: %s\n", id, i, d.msg.buf);
			_exit(2);
		}
	}
	history_close(h);
	_exit(0);
}

static void history__concurrent_writers_lose_nothing(void **state)
{
	char *dir = harness_tmpdir();
	char *path = harness_path(dir, ".gpuci/history.db");
	int start[2];
	assert_int_equal(pipe(start), 0);
	pid_t pids[WRITERS];
	for (int i = 0; i < WRITERS; i++) {
		pids[i] = fork();
		assert_true(pids[i] >= 0);
		if (pids[i] == 0) {
			close(start[1]);
			writer_child(path, start[0], i);
		}
	}
	close(start[0]);
	/* All at once: one byte each, read the moment it arrives. */
	char go[WRITERS] = {0};
	assert_int_equal(write(start[1], go, sizeof(go)), sizeof(go));
	close(start[1]);
	for (int i = 0; i < WRITERS; i++) {
		int status;
		assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
		assert_true(WIFEXITED(status));
		assert_int_equal(WEXITSTATUS(status), 0);
	}
	assert_query(path, "SELECT count(*), count(DISTINCT run_id) FROM results", "800|4\n");
	assert_query(path, "SELECT run_id, count(*), sum(duration) FROM results GROUP BY run_id",
	             "run-0|200|19900.0\nrun-1|200|19900.0\nrun-2|200|19900.0\n"
	             "run-3|200|19900.0\n");
	assert_query(path, "SELECT count(*) FROM meta", "1\n");
	assert_query(path, "PRAGMA integrity_check", "ok\n");
	free(path);
	harness_rmtree(dir);
}

/* ---- gpuci history ------------------------------------------------------ */

struct cli_run {
	int rc;
	char *out, *err;
};

/* Runs `gpuci history ARGS...` in this process, capturing its output. */
static struct cli_run run_cli(const char *const *args)
{
	char *argv[16] = {"history"};
	int argc = 1;
	for (; args[argc - 1]; argc++)
		argv[argc] = (char *)args[argc - 1];
	struct cli_run r = {0};
	size_t nout, nerr;
	struct gpuci_ctx ctx = {.progname = "gpuci",
	                        .out = open_memstream(&r.out, &nout),
	                        .err = open_memstream(&r.err, &nerr)};
	r.rc = cmd_history(argc, argv, &ctx);
	fclose(ctx.out);
	fclose(ctx.err);
	return r;
}

static void cli_run_release(struct cli_run *r)
{
	free(r->out);
	free(r->err);
}

static void cmd_history__no_history_yet_is_not_an_error(void **state)
{
	char *dir = harness_tmpdir();
	char *path = harness_path(dir, ".gpuci/history.db");
	struct strbuf want = STRBUF_INIT;
	strbuf_addf(&want, "gpuci history: no history yet at %s; gpuci run records one\n", path);
	struct cli_run r = run_cli((const char *const[]){"--history", path, NULL});
	assert_int_equal(r.rc, 0);
	assert_string_equal(r.out, "");
	assert_string_equal(r.err, want.buf);
	cli_run_release(&r);
	r = run_cli((const char *const[]){"--history", path, "--flaky", "--json", NULL});
	assert_int_equal(r.rc, 0);
	assert_string_equal(r.out, "[]\n");
	assert_string_equal(r.err, want.buf);
	cli_run_release(&r);
	char *sub = harness_path(dir, ".gpuci");
	struct stat sb;
	assert_int_equal(stat(sub, &sb), -1); /* nothing made */
	free(sub);
	strbuf_release(&want);
	free(path);
	harness_rmtree(dir);
}

static void cmd_history__lists_each_view(void **state)
{
	char *dir, *path;
	struct history *h = open_fresh(&dir, &path);
	record_three(h);
	history_close(h);
	struct cli_run r = run_cli((const char *const[]){"--history", path, "--limit", "1", NULL});
	assert_int_equal(r.rc, 0);
	assert_string_equal(r.err, "");
	assert_non_null(strstr(r.out, "tests/test_b.py --fast  2 (0,1)  flaky"));
	assert_non_null(strstr(r.out, "(the 1 most recent of 3 attempts; --limit N shows more)"));
	cli_run_release(&r);
	r = run_cli(
	    (const char *const[]){"--history", path, "--slowest", "5", "--test", "test_a*", NULL});
	assert_int_equal(r.rc, 0);
	assert_string_equal(r.out, "TEST             ARGS  RUNS  MEDIAN  LAST\n"
	                           "tests/test_a.py  -        1   1.50s  passed\n");
	cli_run_release(&r);
	r = run_cli((const char *const[]){"--history", path, "--flaky", "--json", NULL});
	assert_int_equal(r.rc, 0);
	assert_non_null(strstr(r.out, "[\n  {\"test_file\":\"tests/test_b.py\""));
	cli_run_release(&r);
	free(path);
	harness_rmtree(dir);
}

static void cmd_history__usage_errors_exit_2(void **state)
{
	static const char *const cases[][4] = {
	    {"--slowest", "0", NULL},
	    {"--limit", "0", NULL},
	    {"--slowest", "3", "--flaky", NULL},
	    {"--slowest", "3", "--limit", "4"},
	    {"test_a*", NULL},
	    {"--slowest", "x", NULL},
	    {"--history", "", NULL},
	};
	static const char *const messages[] = {
	    "gpuci history: --slowest must be 1 or more\n",
	    "gpuci history: --limit must be 1 or more\n",
	    "gpuci history: --slowest and --flaky are two views; ask for one\n",
	    "gpuci history: --slowest N already says how many tests; drop --limit\n",
	    "gpuci history: unexpected argument 'test_a*' (a glob goes after --test)\n",
	    "gpuci history: --slowest expects a whole number, not 'x'\n",
	    "gpuci history: --history needs a file name\n",
	};
	for (size_t i = 0; i < sizeof(messages) / sizeof(messages[0]); i++) {
		const char *args[6] = {0};
		for (size_t k = 0; k < 4 && cases[i][k]; k++)
			args[k] = cases[i][k];
		struct cli_run r = run_cli(args);
		assert_int_equal(r.rc, EXIT_USAGE);
		assert_string_equal(r.out, "");
		struct strbuf want = STRBUF_INIT;
		strbuf_addf(&want, "%sTry 'gpuci history --help'.\n", messages[i]);
		assert_string_equal(r.err, want.buf);
		strbuf_release(&want);
		cli_run_release(&r);
	}
}

static void cmd_history__a_broken_file_exits_1_with_the_reason(void **state)
{
	char *dir = harness_tmpdir();
	char *path = harness_path(dir, "history.db");
	write_file(path, "not sqlite at all, just text\n", 29);
	struct cli_run r = run_cli((const char *const[]){"--history", path, "--json", NULL});
	assert_int_equal(r.rc, EXIT_FAILED);
	assert_string_equal(r.out, "");
	struct strbuf want = STRBUF_INIT;
	strbuf_addf(&want,
	            "gpuci history: %s is not a gpuci history (not an SQLite database); move it "
	            "away, and the next gpuci run starts a new one\n",
	            path);
	assert_string_equal(r.err, want.buf);
	strbuf_release(&want);
	cli_run_release(&r);
	free(path);
	harness_rmtree(dir);
}

static void cmd_history__help_documents_the_json(void **state)
{
	struct cli_run r = run_cli((const char *const[]){"--help", NULL});
	assert_int_equal(r.rc, 0);
	assert_non_null(strstr(r.out, "usage: gpuci history"));
	assert_non_null(strstr(r.out, "\"last_status\":"));
	assert_non_null(strstr(r.out, "--slowest N"));
	cli_run_release(&r);
}

/* A history as the first gpuci wrote it: schema 1, no identity. */
static const char schema_v1[] =
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value);"
    "CREATE TABLE results (id INTEGER PRIMARY KEY, run_id TEXT NOT NULL, job TEXT NOT NULL,"
    " test_file TEXT NOT NULL, test_args TEXT NOT NULL, gpus INTEGER NOT NULL,"
    " gpu_ids TEXT NOT NULL, status TEXT NOT NULL, attempt INTEGER NOT NULL,"
    " exit_code INTEGER, started_at REAL NOT NULL, duration REAL NOT NULL,"
    " log_path TEXT NOT NULL, host TEXT NOT NULL);"
    "INSERT INTO meta VALUES ('schema_version', 1);"
    "INSERT INTO results VALUES (1, 'r', 'j', 'test_r3.py', '', 8, '', 'passed', 1, 0,"
    " 1000, 10, '', 'h');";

static void history__schema_1_is_read_as_it_is_and_upgraded_by_a_writer(void **state)
{
	char *dir = harness_tmpdir();
	char *path = harness_path(dir, "v1.db");
	sq_exec(path, schema_v1);
	struct history *h;
	bool missing;
	struct diag d = DIAG_INIT;
	/* Read as it is: nothing written, the old row counts for its file and args. */
	assert_int_equal(history_open_read(&h, path, &missing, &d), 0);
	double m;
	bool found;
	assert_int_equal(history_median(h, "{\"x\":1}", "test_r3.py", "", &m, &found, &d), 0);
	assert_true(found && m == 10);
	struct strbuf out = STRBUF_INIT;
	struct history_query q = {0};
	assert_int_equal(history_report(h, &q, true, &out, &d), 0);
	assert_non_null(strstr(out.buf, "\"identity\":\"\",\"variant\":\"\""));
	history_close(h);
	assert_query(path, "SELECT value FROM meta", "1\n");
	/* A writer upgrades it in place, keeping the row. */
	assert_int_equal(history_open(&h, path, &d), 0);
	history_close(h);
	assert_query(path, "SELECT value FROM meta", "3\n");
	assert_query(path, "SELECT test_file, identity, variant FROM results", "test_r3.py||\n");
	/* With its tests table filled from the rows it had. */
	assert_query(path, "SELECT test_file, identity, runs, passed, median FROM tests",
	             "test_r3.py||1|1|10.0\n");
	strbuf_release(&out);
	diag_release(&d);
	free(path);
	harness_rmtree(dir);
}

static void history_median__keys_durations_by_identity(void **state)
{
	char *dir, *path;
	struct history *h = open_fresh(&dir, &path);
	/* One file, two entries: their durations are their own. */
	struct history_result r = {.run_id = "r",
	                           .job = "j",
	                           .test_file = "test_r3.py",
	                           .status = "passed",
	                           .attempt = 1,
	                           .started_at = 1000,
	                           .duration = 10,
	                           .identity = "{\"deepep\":\"1\"}",
	                           .variant = "[use_deepep=1]"};
	record(h, &r);
	r.duration = 100;
	r.identity = "{}";
	r.variant = "[without use_deepep]";
	record(h, &r);
	double m;
	bool found;
	struct diag d = DIAG_INIT;
	assert_int_equal(history_median(h, "{\"deepep\":\"1\"}", "test_r3.py", "", &m, &found, &d),
	                 0);
	assert_true(found && m == 10);
	assert_int_equal(history_median(h, "{}", "test_r3.py", "", &m, &found, &d), 0);
	assert_true(found && m == 100);
	/* An identity never recorded has no history, though its file has. */
	assert_int_equal(history_median(h, "{\"other\":1}", "test_r3.py", "", &m, &found, &d), 0);
	assert_false(found);
	/* Two tests in the slowest view, each with its variant. */
	struct strbuf out = STRBUF_INIT;
	struct history_query q = {.slowest = 5};
	assert_int_equal(history_report(h, &q, false, &out, &d), 0);
	assert_non_null(strstr(out.buf, "test_r3.py [use_deepep=1]"));
	assert_non_null(strstr(out.buf, "test_r3.py [without use_deepep]"));
	strbuf_release(&out);
	diag_release(&d);
	history_close(h);
	free(path);
	harness_rmtree(dir);
}

int main(int argc, char **argv)
{
	/* Fixed times in the expected tables. */
	setenv("TZ", "UTC", 1);
	tzset();
	const struct CMUnitTest permission_tests[] = {
	    cmocka_unit_test(history_open__in_a_read_only_folder_says_why),
	    cmocka_unit_test(history_open_read__reads_a_file_it_may_not_write),
	};
	/* Run by history__permission_tests_run_as_nobody_under_root. */
	if (argc == 2 && !strcmp(argv[1], "--permission-tests"))
		return cmocka_run_group_tests(permission_tests, NULL, NULL) ? 1 : 0;
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(history_open__creates_the_folder_the_schema_and_wal),
	    cmocka_unit_test(history_open__again_keeps_what_was_recorded),
	    cmocka_unit_test(history_open__in_a_file_that_is_not_a_folder_says_why),
	    cmocka_unit_test(history_open__in_a_read_only_folder_says_why),
	    cmocka_unit_test(history_open_read__reads_a_file_it_may_not_write),
	    cmocka_unit_test(history__permission_tests_run_as_nobody_under_root),
	    cmocka_unit_test(history_open__garbage_is_not_a_history),
	    cmocka_unit_test(history_open__damaged_pages_are_reported_not_crashed_on),
	    cmocka_unit_test(history_open_read__a_missing_file_is_no_error_and_stays_missing),
	    cmocka_unit_test(history_open_read__refuses_other_databases_and_newer_schemas),
	    cmocka_unit_test(history_record__keeps_every_field),
	    cmocka_unit_test(history_record__refuses_bad_values_and_writes_nothing),
	    cmocka_unit_test(history_median__odd_even_and_only_passed_or_flaky),
	    cmocka_unit_test(history_median__keys_durations_by_identity),
	    cmocka_unit_test(history__schema_1_is_read_as_it_is_and_upgraded_by_a_writer),
	    cmocka_unit_test(history_median_all__is_the_median_of_each_tests_median),
	    cmocka_unit_test(history_report__recent_attempts_as_a_table),
	    cmocka_unit_test(history_report__recent_attempts_as_json),
	    cmocka_unit_test(history_report__slowest_tests),
	    cmocka_unit_test(history_report__flaky_tests),
	    cmocka_unit_test(history_report__test_glob_with_or_without_tests_prefix),
	    cmocka_unit_test(history_report__slowest_and_flaky_together_is_a_usage_error),
	    cmocka_unit_test(history_report__read_only_handle_reads_what_a_writer_wrote),
	    cmocka_unit_test(history__concurrent_writers_lose_nothing),
	    cmocka_unit_test(cmd_history__no_history_yet_is_not_an_error),
	    cmocka_unit_test(cmd_history__lists_each_view),
	    cmocka_unit_test(cmd_history__usage_errors_exit_2),
	    cmocka_unit_test(cmd_history__a_broken_file_exits_1_with_the_reason),
	    cmocka_unit_test(cmd_history__help_documents_the_json),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
