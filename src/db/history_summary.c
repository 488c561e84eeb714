/*
 * db/history_summary: the tests table (what the history says of each test,
 * kept up to date by every writer), the medians the scheduler reads from
 * it, and pruning. See history.h and the schema in history.c.
 *
 * Why a table: the scheduler asks for the median of every test it runs,
 * and for the median over all tests, at the start of every run; computed
 * from the attempts, that is a scan of the whole history (1.7 s at a
 * million attempts). The tests table has one row per test, rewritten from
 * that test's own attempts (through results_key, which covers what that
 * reads) in the transaction that adds or removes some of them, so reading
 * it costs the same at any size, and writing one result costs a read of
 * that test's index entries.
 */
#include "db/history_int.h"

#include <math.h>
#include <string.h>
#include <time.h>

#include "base/banned.h"

const char history__sql_summary_schema[] =
    "CREATE TABLE IF NOT EXISTS tests ("
    " test_file TEXT NOT NULL,"
    " test_args TEXT NOT NULL,"
    " identity TEXT NOT NULL,"
    " variant TEXT NOT NULL,"
    " runs INTEGER NOT NULL,"
    " passed INTEGER NOT NULL,"
    " flaky INTEGER NOT NULL,"
    " failed INTEGER NOT NULL,"
    " median REAL," /* NULL: no passed or flaky attempt */
    " last_status TEXT NOT NULL,"
    " last_started_at REAL NOT NULL,"
    " PRIMARY KEY (test_file, test_args, identity));"
    "CREATE INDEX IF NOT EXISTS tests_identity ON tests (identity);"
    /* Covering what a refresh reads of every attempt: no lookup of the row. */
    "CREATE INDEX IF NOT EXISTS results_key"
    " ON results (test_file, test_args, identity, status, duration);"
    "CREATE INDEX IF NOT EXISTS results_started ON results (started_at);";

/* ---- per-test figures -------------------------------------------------- */

void history__stats_add(struct test_stats *t, struct dvec *times, const char *status,
                        double duration, double started_at, const char *variant)
{
	if (!t->variant || strcmp(t->variant, variant) != 0) {
		free(t->variant);
		t->variant = xstrdup(variant);
	}
	t->runs++;
	if (!strcmp(status, "passed"))
		t->passed++;
	else if (!strcmp(status, "flaky"))
		t->flaky++;
	else if (!strcmp(status, "failed") || !strcmp(status, "timeout") ||
	         !strcmp(status, "crashed"))
		t->failed++;
	if (!strcmp(status, "passed") || !strcmp(status, "flaky"))
		dvec_push(times, duration);
	if (!t->last_status || strcmp(t->last_status, status) != 0) {
		free(t->last_status);
		t->last_status = xstrdup(status);
	}
	t->last_started_at = started_at;
}

void history__stats_finish(struct test_stats *t, struct dvec *times)
{
	if (times->n) {
		qsort(times->v, times->n, sizeof(*times->v), cmp_double);
		t->median = median_sorted(times->v, times->n);
	}
	times->n = 0;
}

static void stats_release(struct test_stats *t)
{
	free(t->test_file);
	free(t->test_args);
	free(t->identity);
	free(t->variant);
	free(t->last_status);
	*t = (struct test_stats){0};
}

static const char sql_put[] =
    "INSERT OR REPLACE INTO tests (test_file, test_args, identity, variant, runs, passed, flaky,"
    " failed, median, last_status, last_started_at)"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)";

/* Writes t's row of the tests table. */
static int put_stats(struct history *h, const struct test_stats *t, struct diag *d)
{
	if (!h->put && history__prepare(h, sql_put, &h->put, "update", d) < 0)
		return -1;
	sqlite3_stmt *st = h->put;
	history__bind_str(st, 1, t->test_file);
	history__bind_str(st, 2, t->test_args);
	history__bind_str(st, 3, t->identity);
	history__bind_str(st, 4, str_or_empty(t->variant));
	sqlite3_bind_int64(st, 5, (sqlite3_int64)t->runs);
	sqlite3_bind_int64(st, 6, (sqlite3_int64)t->passed);
	sqlite3_bind_int64(st, 7, (sqlite3_int64)t->flaky);
	sqlite3_bind_int64(st, 8, (sqlite3_int64)t->failed);
	if (t->passed + t->flaky)
		sqlite3_bind_double(st, 9, t->median);
	else
		sqlite3_bind_null(st, 9);
	history__bind_str(st, 10, str_or_empty(t->last_status));
	sqlite3_bind_double(st, 11, t->last_started_at);
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : history__fail(d, h->db, rc, h->path, "update");
}

/* Every test, refreshed from its attempts (one pass over results_key). */
int history__summary_rebuild(struct history *h, struct diag *d)
{
	sqlite3_stmt *st;
	if (history__exec(h, "DELETE FROM tests", "update", d) < 0 ||
	    history__prepare(h,
	                     "SELECT DISTINCT test_file, test_args, identity FROM results"
	                     " ORDER BY test_file, test_args, identity",
	                     &st, "update", d) < 0)
		return -1;
	int rc = SQLITE_DONE, err = 0;
	while (!err && (rc = sqlite3_step(st)) == SQLITE_ROW)
		err =
		    history__summary_refresh(h, history__col_text(st, 0), history__col_text(st, 1),
		                             history__col_text(st, 2), d);
	if (!err && rc != SQLITE_DONE)
		err = history__fail(d, h->db, rc, h->path, "update");
	sqlite3_finalize(st);
	return err;
}

int history__summary_refresh(struct history *h, const char *file, const char *args,
                             const char *identity, struct diag *d)
{
	if (!h->refresh && history__prepare(h,
	                                    "SELECT status, duration, id FROM results"
	                                    " WHERE test_file = ?1 AND test_args = ?2"
	                                    " AND identity = ?3",
	                                    &h->refresh, "update", d) < 0)
		return -1;
	if (!h->last && history__prepare(h,
	                                 "SELECT status, started_at, variant FROM results"
	                                 " WHERE id = ?1",
	                                 &h->last, "update", d) < 0)
		return -1;
	sqlite3_stmt *st = h->refresh;
	history__bind_str(st, 1, file);
	history__bind_str(st, 2, args);
	history__bind_str(st, 3, identity);
	struct test_stats t = {
	    .test_file = xstrdup(file), .test_args = xstrdup(args), .identity = xstrdup(identity)};
	struct dvec times = {0};
	sqlite3_int64 last = -1;
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		history__stats_add(&t, &times, history__col_text(st, 0),
		                   sqlite3_column_double(st, 1), 0, "");
		if (sqlite3_column_int64(st, 2) > last)
			last = sqlite3_column_int64(st, 2);
	}
	sqlite3_reset(st);
	int err = rc == SQLITE_DONE ? 0 : history__fail(d, h->db, rc, h->path, "update");
	/* The index is in no id order: the last attempt is the one with the largest id. */
	if (!err && t.runs) {
		sqlite3_bind_int64(h->last, 1, last);
		rc = sqlite3_step(h->last);
		if (rc == SQLITE_ROW) {
			free(t.last_status);
			free(t.variant);
			t.last_status = xstrdup(history__col_text(h->last, 0));
			t.last_started_at = sqlite3_column_double(h->last, 1);
			t.variant = xstrdup(history__col_text(h->last, 2));
		} else {
			err = history__fail(d, h->db, rc, h->path, "update");
		}
		sqlite3_reset(h->last);
	}
	history__stats_finish(&t, &times);
	if (!err && t.runs)
		err = put_stats(h, &t, d);
	else if (!err) {
		/* Every attempt pruned: the test goes too. */
		sqlite3_stmt *del;
		if ((err = history__prepare(
		         h,
		         "DELETE FROM tests WHERE test_file = ?1 AND test_args = ?2"
		         " AND identity = ?3",
		         &del, "update", d)) == 0) {
			history__bind_str(del, 1, file);
			history__bind_str(del, 2, args);
			history__bind_str(del, 3, identity);
			rc = sqlite3_step(del);
			if (rc != SQLITE_DONE)
				err = history__fail(d, h->db, rc, h->path, "update");
			sqlite3_finalize(del);
		}
	}
	stats_release(&t);
	free(times.v);
	return err;
}

/* ---- medians ----------------------------------------------------------- */

/*
 * A test's durations from its attempts: its own rows (by identity), and
 * the rows of its file and args recorded before identities existed
 * (identity ''); with no identity asked, those of the file and args. Two
 * branches, so that each reads through its index (results_identity,
 * results_key) where one OR would scan the table.
 */
static const char sql_median[] =
    "SELECT duration FROM attempts"
    " WHERE ?3 IS NOT NULL AND ?3 != '' AND identity = ?3 AND status IN ('passed', 'flaky')"
    " UNION ALL SELECT duration FROM attempts"
    " WHERE (?3 IS NULL OR ?3 = '' OR identity = '') AND test_file = ?1"
    "  AND (?2 IS NULL OR test_args = ?2) AND status IN ('passed', 'flaky')"
    " ORDER BY 1";

/* The median of the attempts, or with q > 0 their q-quantile (nearest rank). */
static int quantile_from_attempts(struct history *h, const char *identity, const char *test_file,
                                  const char *test_args, double q, double *out, bool *found,
                                  struct diag *d)
{
	if (!h->median && history__prepare(h, sql_median, &h->median, "read", d) < 0)
		return -1;
	sqlite3_stmt *st = h->median;
	struct dvec times = {0};
	history__bind_str(st, 1, test_file);
	history__bind_str(st, 2, test_args);
	history__bind_str(st, 3, identity);
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		dvec_push(&times, sqlite3_column_double(st, 0));
	sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		free(times.v);
		return history__fail(d, h->db, rc, h->path, "read");
	}
	/* Sorted by the query already. */
	if (times.n) {
		size_t rank = (size_t)(q * (double)times.n + 0.999999);
		*out = q > 0 ? times.v[rank ? rank - 1 : 0] : median_sorted(times.v, times.n);
		*found = true;
	}
	free(times.v);
	return 0;
}

static int median_from_attempts(struct history *h, const char *identity, const char *test_file,
                                const char *test_args, double *out, bool *found, struct diag *d)
{
	return quantile_from_attempts(h, identity, test_file, test_args, 0, out, found, d);
}

int history_p90(struct history *h, const char *identity, const char *test_file,
                const char *test_args, double *out, bool *found, struct diag *d)
{
	*found = false;
	return quantile_from_attempts(h, identity, test_file, test_args, 0.9, out, found, d);
}

/*
 * The tests rows with a median that answer the question: the identity's
 * own (n = 1, *m its median), and whether any row of the same file and
 * args without identity has timed attempts too (*legacy: then the answer
 * mixes both, and only the attempts give it). With no identity: every
 * test of the file (and args), whose medians cannot be combined when n > 1.
 */
static const char sql_summary_own[] = "SELECT median FROM tests WHERE identity = ?1"
                                      " AND median IS NOT NULL";
static const char sql_summary_file[] = "SELECT median, identity FROM tests WHERE test_file = ?1"
                                       " AND (?2 IS NULL OR test_args = ?2)"
                                       " AND median IS NOT NULL";

static int summary_rows(struct history *h, const char *sql, const char *a, const char *b,
                        bool count_legacy, size_t *n, double *m, bool *legacy, struct diag *d)
{
	sqlite3_stmt *st;
	if (history__prepare(h, sql, &st, "read", d) < 0)
		return -1;
	history__bind_str(st, 1, a);
	if (b || count_legacy)
		history__bind_str(st, 2, b);
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (count_legacy) {
			*legacy |= !*history__col_text(st, 1);
			continue;
		}
		*m = sqlite3_column_double(st, 0);
		(*n)++;
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : history__fail(d, h->db, rc, h->path, "read");
}

int history_median(struct history *h, const char *identity, const char *test_file,
                   const char *test_args, double *out, bool *found, struct diag *d)
{
	*found = false;
	if (!h->summary)
		return median_from_attempts(h, identity, test_file, test_args, out, found, d);
	size_t n = 0;
	double m = 0;
	bool legacy = false;
	if (identity && *identity) {
		if (summary_rows(h, sql_summary_own, identity, NULL, false, &n, &m, &legacy, d) <
		        0 ||
		    summary_rows(h, sql_summary_file, test_file, test_args, true, &n, &m, &legacy,
		                 d) < 0)
			return -1;
	} else if (summary_rows(h, sql_summary_file, test_file, test_args, false, &n, &m, &legacy,
	                        d) < 0) {
		return -1;
	}
	if (legacy || n > 1)
		return median_from_attempts(h, identity, test_file, test_args, out, found, d);
	if (n == 1) {
		*out = m;
		*found = true;
	}
	return 0;
}

int history_median_all(struct history *h, double *out, bool *found, struct diag *d)
{
	*found = false;
	if (!h->summary)
		return history__median_all_scan(h, out, found, d);
	sqlite3_stmt *st;
	if (history__prepare(h, "SELECT median FROM tests WHERE median IS NOT NULL ORDER BY median",
	                     &st, "read", d) < 0)
		return -1;
	struct dvec medians = {0};
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		dvec_push(&medians, sqlite3_column_double(st, 0));
	sqlite3_finalize(st);
	if (rc == SQLITE_DONE && medians.n) {
		*out = median_sorted(medians.v, medians.n);
		*found = true;
	}
	free(medians.v);
	return rc == SQLITE_DONE ? 0 : history__fail(d, h->db, rc, h->path, "read");
}
