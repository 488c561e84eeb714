/*
 * db/history_int.h: what the files of db/ share (not for other modules):
 * the SQLite functions as loaded, the handle, and small helpers.
 */
#ifndef GPUCI_DB_HISTORY_INT_H
#define GPUCI_DB_HISTORY_INT_H

#include <stdlib.h>

#include <sqlite3.h>

#include "db/history.h"
#include "base/xalloc.h"

/* The SQLite functions gpuci calls; each becomes a member of struct sqlite_api. */
#define SQLITE_API_FUNCS(X)                                                                        \
	X(sqlite3_libversion)                                                                      \
	X(sqlite3_libversion_number)                                                               \
	X(sqlite3_open_v2)                                                                         \
	X(sqlite3_close_v2)                                                                        \
	X(sqlite3_errmsg)                                                                          \
	X(sqlite3_errstr)                                                                          \
	X(sqlite3_system_errno)                                                                    \
	X(sqlite3_extended_result_codes)                                                           \
	X(sqlite3_busy_timeout)                                                                    \
	X(sqlite3_exec)                                                                            \
	X(sqlite3_prepare_v2)                                                                      \
	X(sqlite3_bind_text)                                                                       \
	X(sqlite3_bind_int64)                                                                      \
	X(sqlite3_bind_double)                                                                     \
	X(sqlite3_bind_null)                                                                       \
	X(sqlite3_step)                                                                            \
	X(sqlite3_reset)                                                                           \
	X(sqlite3_finalize)                                                                        \
	X(sqlite3_column_text)                                                                     \
	X(sqlite3_column_int64)                                                                    \
	X(sqlite3_column_double)                                                                   \
	X(sqlite3_column_type)                                                                     \
	X(sqlite3_create_function_v2)                                                              \
	X(sqlite3_value_text)                                                                      \
	X(sqlite3_result_int)

struct sqlite_api {
#define SQLITE_API_MEMBER(f) __typeof__(f) *(f);
	SQLITE_API_FUNCS(SQLITE_API_MEMBER)
#undef SQLITE_API_MEMBER
};

/* The loaded library (history.c): written once under pthread_once(). */
extern struct sqlite_api history__api;
#define api history__api

struct history {
	sqlite3 *db;
	char *path;
	char *host;           /* this machine's name, for results that give none */
	sqlite3_stmt *insert; /* NULL when opened with history_open_read() */
	sqlite3_stmt *median;
};

/* Fills d from a failed SQLite call rc on db (may be NULL) about the history at path. */
int history__fail(struct diag *d, sqlite3 *db, int rc, const char *path, const char *what);
int history__prepare(struct history *h, const char *sql, sqlite3_stmt **st, const char *what,
                     struct diag *d);
/* A text column, "" for NULL. */
const char *history__col_text(sqlite3_stmt *st, int i);
/* Binds a C string (NULL: SQL NULL), which must outlive the step. */
int history__bind_str(sqlite3_stmt *st, int i, const char *s);

/* A growable array of durations. */
struct dvec {
	double *v;
	size_t n, cap;
};

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
