/*
 * db/history_runs: one run's attempts read back, and which run was the
 * last, for the report of a run (see history.h).
 */
#include "db/history_int.h"

#include <limits.h>
#include <string.h>

#include "base/banned.h"

/* Through results_run (the run's rows), sorted in memory: a run has few. */
static const char sql_run[] =
    "SELECT run_id, job, test_file, test_args, gpus, gpu_ids, status, attempt, exit_code,"
    " started_at, duration, log_path, host, identity, variant FROM attempts"
    " WHERE run_id = ?1 ORDER BY started_at, attempt, id";

/* A count column as unsigned, clamped (the schema keeps any integer). */
static unsigned col_unsigned(sqlite3_stmt *st, int i)
{
	sqlite3_int64 v = sqlite3_column_int64(st, i);
	return v < 0 ? 0 : v > UINT_MAX ? UINT_MAX : (unsigned)v;
}

static int col_exit_code(sqlite3_stmt *st, int i)
{
	if (sqlite3_column_type(st, i) == SQLITE_NULL)
		return -1;
	sqlite3_int64 v = sqlite3_column_int64(st, i);
	return v < INT_MIN || v > INT_MAX ? -1 : (int)v;
}

static void attempt_release(struct history_attempt *a)
{
	free(a->run_id);
	free(a->job);
	free(a->test_file);
	free(a->test_args);
	free(a->gpu_ids);
	free(a->status);
	free(a->log_path);
	free(a->host);
	free(a->identity);
	free(a->variant);
}

void history_attempts_free(struct history_attempt *a, size_t n)
{
	for (size_t i = 0; i < n; i++)
		attempt_release(&a[i]);
	free(a);
}

int history_run_attempts(struct history *h, const char *run_id, struct history_attempt **out,
                         size_t *n, struct diag *d)
{
	*out = NULL;
	*n = 0;
	sqlite3_stmt *st;
	if (history__prepare(h, sql_run, &st, "read", d) < 0)
		return -1;
	history__bind_str(st, 1, str_or_empty(run_id));
	struct history_attempt *v = NULL;
	size_t len = 0, cap = 0;
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (len == cap) {
			cap = cap ? 2 * cap : 16;
			v = xrealloc(v, cap * sizeof(*v));
		}
		v[len++] = (struct history_attempt){
		    .run_id = xstrdup(history__col_text(st, 0)),
		    .job = xstrdup(history__col_text(st, 1)),
		    .test_file = xstrdup(history__col_text(st, 2)),
		    .test_args = xstrdup(history__col_text(st, 3)),
		    .gpus = col_unsigned(st, 4),
		    .gpu_ids = xstrdup(history__col_text(st, 5)),
		    .status = xstrdup(history__col_text(st, 6)),
		    .attempt = col_unsigned(st, 7),
		    .exit_code = col_exit_code(st, 8),
		    .started_at = sqlite3_column_double(st, 9),
		    .duration = sqlite3_column_double(st, 10),
		    .log_path = xstrdup(history__col_text(st, 11)),
		    .host = xstrdup(history__col_text(st, 12)),
		    .identity = xstrdup(history__col_text(st, 13)),
		    .variant = xstrdup(history__col_text(st, 14)),
		};
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		history_attempts_free(v, len);
		return history__fail(d, h->db, rc, h->path, "read");
	}
	*out = v;
	*n = len;
	return 0;
}

/* Through results_started (newest first), where the file has it. */
static const char sql_last[] = "SELECT run_id FROM attempts ORDER BY started_at DESC, id DESC"
                               " LIMIT 1";

int history_last_run(struct history *h, char **run_id, bool *found, struct diag *d)
{
	*run_id = NULL;
	*found = false;
	sqlite3_stmt *st;
	if (history__prepare(h, sql_last, &st, "read", d) < 0)
		return -1;
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*run_id = xstrdup(history__col_text(st, 0));
		*found = true;
	}
	sqlite3_finalize(st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0
	                                             : history__fail(d, h->db, rc, h->path, "read");
}
