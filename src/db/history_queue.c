/*
 * db/history_queue: writing. Results are queued in memory and written in
 * one transaction by history_flush(), which waits for another writer only
 * as long as its caller says: gpuci run flushes after every result without
 * waiting, so that a history another process holds locked never stalls
 * its scheduler, and at the end with a bounded wait, saving what is still
 * queued to a file of its own that history_import() loads later. Pruning
 * lives here too, as the other writer of the results. See history.h.
 */
#include "db/history_int.h"

#include <math.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/banned.h"

static const char *const status_names[] = {
    "passed", "failed", "timeout", "flaky", "crashed", "skipped", "canceled", "not-runnable",
};

static bool status_known(const char *s)
{
	for (size_t i = 0; i < sizeof(status_names) / sizeof(status_names[0]); i++)
		if (!strcmp(s, status_names[i]))
			return true;
	return false;
}

int history__check(struct history *h, const struct history_result *r, struct diag *d)
{
	const char *status = str_or_empty(r->status);
	if (!r->test_file || !*r->test_file)
		return diag_set(d, DIAG_INPUT, "cannot record a result without a test file in %s",
		                h->path);
	if (!status_known(status))
		return diag_set(d, DIAG_INPUT,
		                "cannot record %s in %s: unknown status '%s' (passed, failed, "
		                "timeout, flaky, crashed, skipped, canceled, not-runnable)",
		                r->test_file, h->path, status);
	if (!isfinite(r->started_at) || !isfinite(r->duration) || r->duration < 0)
		return diag_set(d, DIAG_INPUT,
		                "cannot record %s in %s: start %g and duration %g must be finite, "
		                "the duration >= 0",
		                r->test_file, h->path, r->started_at, r->duration);
	return 0;
}

static char *dup_or_null(const char *s)
{
	return s ? xstrdup(s) : NULL;
}

int history_queue(struct history *h, const struct history_result *r, struct diag *d)
{
	if (!h->writer)
		BUG("history_queue() on a history opened with history_open_read()");
	if (history__check(h, r, d) < 0)
		return -1;
	if (h->npending == h->cap_pending) {
		h->cap_pending = h->cap_pending ? 2 * h->cap_pending : 16;
		h->pending = xrealloc(h->pending, h->cap_pending * sizeof(*h->pending));
	}
	struct history_result *q = &h->pending[h->npending++].r;
	*q = *r;
	q->run_id = dup_or_null(r->run_id);
	q->job = dup_or_null(r->job);
	q->test_file = xstrdup(r->test_file);
	q->test_args = dup_or_null(r->test_args);
	q->gpu_ids = dup_or_null(r->gpu_ids);
	q->status = xstrdup(r->status);
	q->log_path = dup_or_null(r->log_path);
	/* This machine's name now, not the one of whoever flushes. */
	q->host = xstrdup(r->host ? r->host : h->host);
	q->identity = dup_or_null(r->identity);
	q->variant = dup_or_null(r->variant);
	return 0;
}

void history__drop_pending(struct history *h, size_t from, size_t n)
{
	if (!n)
		return;
	for (size_t i = from; i < from + n; i++) {
		struct history_result *q = &h->pending[i].r;
		free((char *)q->run_id);
		free((char *)q->job);
		free((char *)q->test_file);
		free((char *)q->test_args);
		free((char *)q->gpu_ids);
		free((char *)q->status);
		free((char *)q->log_path);
		free((char *)q->host);
		free((char *)q->identity);
		free((char *)q->variant);
	}
	memmove(h->pending + from, h->pending + from + n,
	        (h->npending - from - n) * sizeof(*h->pending));
	h->npending -= n;
}

size_t history_pending(const struct history *h)
{
	return h ? h->npending : 0;
}

/*
 * BEGIN IMMEDIATE waiting at most wait_ms for the write lock. *locked true
 * (and 0) when another process kept it; then nothing is begun.
 */
static int begin_write(struct history *h, unsigned wait_ms, bool *locked, struct diag *d)
{
	*locked = false;
	sqlite3_busy_timeout(h->db, (int)wait_ms);
	int rc = sqlite3_exec(h->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
	sqlite3_busy_timeout(h->db, (int)h->wait_ms);
	if ((rc & 0xff) == SQLITE_BUSY) {
		*locked = true;
		return 0;
	}
	if (rc != SQLITE_OK)
		return history__fail(d, h->db, rc, h->path, "write");
	/* A file another process held locked when it was opened is upgraded by its first writer. */
	if (h->upgrade) {
		long long was = h->version;
		if (history__upgrade(h, d) < 0) {
			sqlite3_exec(h->db, "ROLLBACK", NULL, NULL, NULL);
			h->version = was;
			h->summary = false;
			return -1;
		}
	}
	return 0;
}

/* COMMIT, or ROLLBACK after a failure (err < 0). */
static int end_write(struct history *h, int err, struct diag *d)
{
	if (err == 0 && history__exec(h, "COMMIT", "write", d) == 0)
		return 0;
	sqlite3_exec(h->db, "ROLLBACK", NULL, NULL, NULL);
	return -1;
}

/* Whether pending row i is the first of its test among [0, i]. */
static bool first_of_test(const struct history *h, size_t i)
{
	const struct history_result *r = &h->pending[i].r;
	for (size_t j = 0; j < i; j++) {
		const struct history_result *o = &h->pending[j].r;
		if (!strcmp(o->test_file, r->test_file) &&
		    !strcmp(str_or_empty(o->test_args), str_or_empty(r->test_args)) &&
		    !strcmp(str_or_empty(o->identity), str_or_empty(r->identity)))
			return false;
	}
	return true;
}

int history_flush(struct history *h, unsigned wait_ms, struct diag *d)
{
	if (!h->npending)
		return 0;
	bool locked;
	bool upgrading = h->upgrade;
	if (begin_write(h, wait_ms, &locked, d) < 0)
		return -1;
	if (locked)
		return 0;
	int err = 0;
	for (size_t i = 0; i < h->npending && !err; i++)
		err = history__insert(h, &h->pending[i].r, d);
	for (size_t i = 0; i < h->npending && !err; i++) {
		const struct history_result *r = &h->pending[i].r;
		if (h->summary && first_of_test(h, i))
			err = history__summary_refresh(h, r->test_file, str_or_empty(r->test_args),
			                               str_or_empty(r->identity), d);
	}
	if (end_write(h, err, d) < 0) {
		if (upgrading && !h->upgrade) {
			/* The upgrade was rolled back with the rows: the next flush tries it again.
			 */
			h->upgrade = true;
			h->summary = false;
		}
		return -1;
	}
	history__drop_pending(h, 0, h->npending);
	return 0;
}

int history_record(struct history *h, const struct history_result *r, struct diag *d)
{
	if (!h->writer)
		BUG("history_record() on a history opened with history_open_read()");
	size_t before = h->npending;
	if (history_queue(h, r, d) < 0)
		return -1;
	if (history_flush(h, HISTORY_BUSY_TIMEOUT_MS, d) < 0 || h->npending) {
		if (d->code == DIAG_OK)
			diag_set(
			    d, DIAG_SYSTEM,
			    "cannot record a result in the history %s: another process held it "
			    "locked for more than %d s",
			    h->path, HISTORY_BUSY_TIMEOUT_MS / 1000);
		/* Nothing is written: this result leaves the queue again. */
		if (h->npending > before)
			history__drop_pending(h, before, h->npending - before);
		return -1;
	}
	return 0;
}

int history_save_pending(struct history *h, const char *path, size_t *saved, struct diag *d)
{
	*saved = 0;
	if (!h->npending)
		return 0;
	struct history *to;
	if (history_open(&to, path, d) < 0)
		return -1;
	for (size_t i = 0; i < h->npending; i++)
		history_queue(to, &h->pending[i].r, d);
	int rc = history_flush(to, HISTORY_BUSY_TIMEOUT_MS, d);
	if (rc == 0 && to->npending)
		rc = diag_set(d, DIAG_SYSTEM, "cannot write %s: another process holds it locked",
		              path);
	if (rc == 0) {
		*saved = h->npending;
		history__drop_pending(h, 0, h->npending);
	}
	history_close(to);
	return rc;
}

/* ---- importing --------------------------------------------------------- */

static const char sql_import_rows[] =
    "SELECT run_id, job, test_file, test_args, gpus, gpu_ids, status, attempt, exit_code,"
    " started_at, duration, log_path, host, identity, variant FROM attempts ORDER BY id";

/* Whether the history already has this attempt (the same run, test, try and start). */
static const char sql_import_has[] =
    "SELECT 1 FROM results WHERE run_id = ?1 AND test_file = ?2 AND test_args = ?3"
    " AND identity = ?4 AND attempt = ?5 AND started_at = ?6 LIMIT 1";

int history_import(struct history *h, const char *from, size_t *added, size_t *skipped,
                   struct diag *d)
{
	*added = *skipped = 0;
	struct history *src;
	bool missing;
	if (history_open_read(&src, from, &missing, d) < 0)
		return -1;
	if (missing)
		return diag_set(d, DIAG_INPUT, "cannot import %s: no such file", from);
	sqlite3_stmt *rows = NULL, *has = NULL;
	int err = 0;
	if (history__prepare(src, sql_import_rows, &rows, "read", d) < 0 ||
	    history__prepare(h, sql_import_has, &has, "read", d) < 0) {
		err = -1;
		goto out;
	}
	int rc;
	size_t before = h->npending;
	while ((rc = sqlite3_step(rows)) == SQLITE_ROW) {
		struct history_result r = {
		    .run_id = history__col_text(rows, 0),
		    .job = history__col_text(rows, 1),
		    .test_file = history__col_text(rows, 2),
		    .test_args = history__col_text(rows, 3),
		    .gpus = (unsigned)sqlite3_column_int64(rows, 4),
		    .gpu_ids = history__col_text(rows, 5),
		    .status = history__col_text(rows, 6),
		    .attempt = (unsigned)sqlite3_column_int64(rows, 7),
		    .exit_code = sqlite3_column_type(rows, 8) == SQLITE_NULL
		                     ? -1
		                     : (int)sqlite3_column_int64(rows, 8),
		    .started_at = sqlite3_column_double(rows, 9),
		    .duration = sqlite3_column_double(rows, 10),
		    .log_path = history__col_text(rows, 11),
		    .host = history__col_text(rows, 12),
		    .identity = history__col_text(rows, 13),
		    .variant = history__col_text(rows, 14),
		};
		history__bind_str(has, 1, r.run_id);
		history__bind_str(has, 2, r.test_file);
		history__bind_str(has, 3, r.test_args);
		history__bind_str(has, 4, r.identity);
		sqlite3_bind_int64(has, 5, r.attempt);
		sqlite3_bind_double(has, 6, r.started_at);
		int hr = sqlite3_step(has);
		sqlite3_reset(has);
		if (hr == SQLITE_ROW) {
			(*skipped)++;
			continue;
		}
		if (hr != SQLITE_DONE) {
			err = history__fail(d, h->db, hr, h->path, "read");
			break;
		}
		if ((err = history_queue(h, &r, d)) < 0)
			break;
	}
	if (!err && rc != SQLITE_DONE)
		err = history__fail(d, src->db, rc, from, "read");
	size_t queued = h->npending - before;
	if (!err && history_flush(h, HISTORY_BUSY_TIMEOUT_MS, d) < 0)
		err = -1;
	if (!err && h->npending)
		err =
		    diag_set(d, DIAG_SYSTEM,
		             "cannot import into %s: another process held it locked for more than "
		             "%d s",
		             h->path, HISTORY_BUSY_TIMEOUT_MS / 1000);
	if (err && h->npending > before)
		history__drop_pending(h, before, h->npending - before);
	if (!err)
		*added = queued;
out:
	sqlite3_finalize(rows);
	sqlite3_finalize(has);
	history_close(src);
	return err;
}

/* ---- pruning ----------------------------------------------------------- */

/* The tests that lose attempts: refreshed once their attempts are gone. */
struct key_list {
	char **v; /* file, args, identity, file, ... */
	size_t n, cap;
};

static void key_push(struct key_list *k, const char *s)
{
	if (k->n == k->cap) {
		k->cap = k->cap ? 2 * k->cap : 48;
		k->v = xrealloc(k->v, k->cap * sizeof(*k->v));
	}
	k->v[k->n++] = xstrdup(s);
}

static const char sql_prune_pick[] =
    "INSERT INTO temp.prune_ids SELECT id FROM results WHERE started_at < ?1"
    " ORDER BY started_at LIMIT ?2";
static const char sql_prune_keys[] = "SELECT DISTINCT test_file, test_args, identity FROM results"
                                     " WHERE id IN (SELECT id FROM temp.prune_ids)";

/* Step one statement that returns no rows, with ?1 = before and ?2 = max when it has them. */
static int step_once(struct history *h, const char *sql, double before, long long max,
                     struct diag *d)
{
	sqlite3_stmt *st;
	if (history__prepare(h, sql, &st, "prune", d) < 0)
		return -1;
	sqlite3_bind_double(st, 1, before);
	sqlite3_bind_int64(st, 2, max);
	int rc = sqlite3_step(st);
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : history__fail(d, h->db, rc, h->path, "prune");
}

/*
 * Removes at most max (< 0: all) attempts started before `before`, oldest
 * first, and refreshes the tests that lost some; with mark, records when
 * (meta pruned_at = now) unless max cut it short. *locked: another process
 * held the write lock for wait_ms, nothing done.
 */
static int prune(struct history *h, double before, long long max, unsigned wait_ms, double now,
                 bool mark, struct history_pruned *out, bool *locked, struct diag *d)
{
	*out = (struct history_pruned){0};
	if (!h->writer)
		BUG("history_prune() on a history opened with history_open_read()");
	if (begin_write(h, wait_ms, locked, d) < 0)
		return -1;
	if (*locked)
		return 0;
	struct key_list keys = {0};
	sqlite3_stmt *st = NULL;
	int err =
	    history__exec(h,
	                  "CREATE TEMP TABLE IF NOT EXISTS prune_ids (id INTEGER PRIMARY KEY);"
	                  "DELETE FROM temp.prune_ids",
	                  "prune", d);
	if (!err)
		err = step_once(h, sql_prune_pick, before, max, d);
	if (!err)
		err = history__prepare(h, sql_prune_keys, &st, "prune", d);
	int rc = SQLITE_DONE;
	while (!err && (rc = sqlite3_step(st)) == SQLITE_ROW)
		for (int c = 0; c < 3; c++)
			key_push(&keys, history__col_text(st, c));
	if (!err && rc != SQLITE_DONE)
		err = history__fail(d, h->db, rc, h->path, "prune");
	sqlite3_finalize(st);
	if (!err)
		err = history__exec(
		    h, "DELETE FROM results WHERE id IN (SELECT id FROM temp.prune_ids)", "prune",
		    d);
	if (!err)
		out->removed = (size_t)sqlite3_changes(h->db);
	out->tests = keys.n / 3;
	for (size_t i = 0; !err && i < keys.n; i += 3)
		err = history__summary_refresh(h, keys.v[i], keys.v[i + 1], keys.v[i + 2], d);
	if (!err && mark && (max < 0 || out->removed < (size_t)max))
		err = step_once(h,
		                "INSERT OR REPLACE INTO meta (key, value) VALUES ('pruned_at', ?1)",
		                now, 0, d);
	for (size_t i = 0; i < keys.n; i++)
		free(keys.v[i]);
	free(keys.v);
	if (end_write(h, err, d) < 0) {
		*out = (struct history_pruned){0};
		return -1;
	}
	out->complete = max < 0 || out->removed < (size_t)max;
	return 0;
}

int history_prune(struct history *h, double before, struct history_pruned *out, struct diag *d)
{
	bool locked;
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	if (prune(h, before, -1, HISTORY_BUSY_TIMEOUT_MS, (double)ts.tv_sec, true, out, &locked,
	          d) < 0)
		return -1;
	if (locked)
		return diag_set(d, DIAG_SYSTEM,
		                "cannot prune the history %s: another process held it locked for "
		                "more than %d s",
		                h->path, HISTORY_BUSY_TIMEOUT_MS / 1000);
	return 0;
}

int history_prune_now_and_then(struct history *h, unsigned keep_days, double now,
                               struct history_pruned *out, struct diag *d)
{
	*out = (struct history_pruned){0};
	if (!keep_days || !h->summary)
		return 0;
	sqlite3_stmt *st;
	if (history__prepare(h, "SELECT value FROM meta WHERE key = 'pruned_at'", &st, "read", d) <
	    0)
		return -1;
	double last = 0;
	if (sqlite3_step(st) == SQLITE_ROW)
		last = sqlite3_column_double(st, 0);
	sqlite3_finalize(st);
	if (now - last < HISTORY_PRUNE_EVERY_S && now >= last)
		return 0;
	bool locked;
	/* Without waiting: another writer now means another run, which prunes in turn. */
	return prune(h, now - keep_days * 86400.0, HISTORY_PRUNE_BATCH, 0, now, true, out, &locked,
	             d);
}
