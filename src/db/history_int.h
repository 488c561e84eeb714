/*
 * db/history_int.h: what the files of db/ share (not for other modules):
 * the handle and small helpers.
 */
#ifndef GPUCI_DB_HISTORY_INT_H
#define GPUCI_DB_HISTORY_INT_H

#include <stdlib.h>

#include <sqlite3.h>

#include "db/history.h"
#include "base/xalloc.h"

/* The schema this gpuci writes (see history.c). */
#define HISTORY_SCHEMA_VERSION      3
#define HISTORY_SCHEMA_VERSION_TEXT "3"

/* A growable array of durations. */
struct dvec {
	double *v;
	size_t n, cap;
};

/* A result waiting to be written: a struct history_result with its strings owned. */
struct pending_row {
	struct history_result r;
};

struct history {
	sqlite3 *db;
	char *path;
	char *host;           /* this machine's name, for results that give none */
	sqlite3_stmt *insert; /* NULL when opened with history_open_read() */
	sqlite3_stmt *median;
	sqlite3_stmt *refresh, *last,
	    *put;          /* history__summary_refresh(), prepared when first used */
	bool writer;       /* opened with history_open*() */
	unsigned wait_ms;  /* the busy timeout it was opened with */
	long long version; /* the schema the file has (HISTORY_SCHEMA_VERSION once upgraded) */
	bool summary;      /* the file has the tests table, up to date (version 3) */
	bool upgrade;      /* a writer that could not upgrade yet: the first flush does */
	struct pending_row *pending; /* queued by history_queue(), oldest first */
	size_t npending, cap_pending;
};

/*
 * What the history says of one test: test_file + test_args + identity (the
 * whole entry; '' for attempts recorded before identities were), shown
 * with the variant its last attempt was recorded with. The tests table
 * keeps these figures per test; history_report.c reads them.
 */
struct test_stats {
	char *test_file, *test_args, *identity, *variant;
	size_t runs;   /* attempts of any status */
	size_t passed; /* attempts that passed ... */
	size_t flaky;  /* ... passed after failing ... */
	size_t failed; /* ... or failed, timed out, crashed */
	double median; /* of the passed and flaky attempts, when there are some */
	char *last_status;
	double last_started_at;
};

/* Fills d from a failed SQLite call rc on db (may be NULL) about the history at path. */
int history__fail(struct diag *d, sqlite3 *db, int rc, const char *path, const char *what);
int history__prepare(struct history *h, const char *sql, sqlite3_stmt **st, const char *what,
                     struct diag *d);
/* Runs constant SQL that returns no rows. */
int history__exec(struct history *h, const char *sql, const char *what, struct diag *d);
/* The tests table and its indexes, and filling it from every row (history_summary.c). */
extern const char history__sql_summary_schema[];
int history__summary_rebuild(struct history *h, struct diag *d);
/* Recomputes the tests row of one test from its attempts, in the caller's transaction. */
int history__summary_refresh(struct history *h, const char *file, const char *args,
                             const char *identity, struct diag *d);
/* Inserts one row with the insert statement (no transaction of its own). */
int history__insert(struct history *h, const struct history_result *r, struct diag *d);
/* Checks a result before it is queued or written. */
int history__check(struct history *h, const struct history_result *r, struct diag *d);
/* The first writer's upgrade to the current schema, in the caller's write transaction. */
int history__upgrade(struct history *h, struct diag *d);
/* history_median_all() from the attempts, for a file without the tests table. */
int history__median_all_scan(struct history *h, double *out, bool *found, struct diag *d);
/* Adds one attempt to t; t->median is set by history__stats_finish(). */
void history__stats_add(struct test_stats *t, struct dvec *times, const char *status,
                        double duration, double started_at, const char *variant);
void history__stats_finish(struct test_stats *t, struct dvec *times);
/* Frees the queued rows [from, from + n) and closes the gap. */
void history__drop_pending(struct history *h, size_t from, size_t n);
/* Empty for NULL, as history.h promises. */
static inline const char *str_or_empty(const char *s)
{
	return s ? s : "";
}
/* A text column, "" for NULL. */
const char *history__col_text(sqlite3_stmt *st, int i);
/* Binds a C string (NULL: SQL NULL), which must outlive the step. */
int history__bind_str(sqlite3_stmt *st, int i, const char *s);

static inline void dvec_push(struct dvec *a, double x)
{
	if (a->n == a->cap) {
		a->cap = a->cap ? 2 * a->cap : 16;
		a->v = xrealloc(a->v, a->cap * sizeof(*a->v));
	}
	a->v[a->n++] = x;
}

static inline int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* The median of n > 0 sorted values: the middle one, or the mean of the two. */
static inline double median_sorted(const double *v, size_t n)
{
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

#endif
