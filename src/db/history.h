/*
 * db/history: every test result gpuci run records, in SQLite (the only
 * user of sqlite3, loaded with dlopen by the commands that keep history,
 * so others start without it). WAL mode: several runs on one machine may
 * write at once.
 *
 * Lifecycle: history_open() (to record, and to read what was recorded) or
 * history_open_read() (to read a history that must already exist), then any
 * number of history_record(), history_median*() and history_report() calls,
 * then history_close(). A handle belongs to one thread and one process: a
 * child that records opens its own (a forked copy of a handle must not be
 * used, as SQLite's locks belong to the process that took them).
 *
 * Errors: every fallible function returns 0 or -1 with d filled; messages
 * name the file. DIAG_SYSTEM: SQLite could not be loaded (libsqlite3-0),
 * the file or its folder cannot be made, read or written, or another
 * process held the lock for longer than the call waits (see each). DIAG_INPUT:
 * the file is not a gpuci history (not SQLite, damaged, written by a newer
 * gpuci, or a record with bad values). DIAG_USAGE: a query that asks for
 * two views at once.
 *
 * $GPUCI_LIBSQLITE3 names another SQLite library to load (a path, or a
 * soname); otherwise libsqlite3.so.0, then libsqlite3.so.
 */
#ifndef GPUCI_DB_HISTORY_H
#define GPUCI_DB_HISTORY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/diag.h"
#include "base/strbuf.h"

#define HISTORY_DEFAULT_PATH ".gpuci/history.db"

/* How long a writer waits for another one before history_record() fails. */
#define HISTORY_BUSY_TIMEOUT_MS 10000

/* What a history keeps by default: the attempts of the last 90 days. */
#define HISTORY_KEEP_DAYS_DEFAULT 90
/* history_prune_now_and_then(): at most once a day, at most this many attempts at a time. */
#define HISTORY_PRUNE_EVERY_S 86400
#define HISTORY_PRUNE_BATCH   20000

/* One attempt of one test. Strings are copied; NULL reads as empty. */
struct history_result {
	const char *run_id;    /* e.g. "20261126-065501-12345" */
	const char *job;       /* the workflow job (JUnit classname) */
	const char *test_file; /* as the matrix names it; must not be empty */
	const char *test_args; /* "" when none */
	unsigned gpus;         /* GPUs asked for */
	const char *gpu_ids;   /* "0,1,2,3" as leased, "" for CPU tests */
	const char *status; /* passed failed timeout flaky crashed skipped canceled not-runnable */
	unsigned attempt;   /* 1, 2, ... (retries) */
	int exit_code;      /* the test's exit status (128+N for signal N), -1 none */
	double started_at;  /* seconds since the epoch */
	double duration;    /* seconds, finite and >= 0 */
	const char *log_path;
	const char *host;     /* the machine it ran on; NULL: this one (gethostname) */
	const char *identity; /* the entry's plan_entry_identity(); NULL: none */
	const char *variant;  /* what tells it from entries of the same file and args, or NULL */
};

struct history;

/*
 * Opens the history at path to record and read, creating what is missing:
 * the folders above it (as mkdir -p), the file, the schema. Switches the
 * file to WAL mode (readers never wait; one writer at a time, the others
 * wait up to HISTORY_BUSY_TIMEOUT_MS). *out is NULL on failure; the caller
 * frees a handle with history_close().
 */
int history_open(struct history **out, const char *path, struct diag *d);
/*
 * history_open() that waits at most wait_ms for a lock another process
 * holds (instead of HISTORY_BUSY_TIMEOUT_MS), then fails (DIAG_SYSTEM).
 * A file of an older schema that another process holds locked opens all
 * the same, read as it is, and is upgraded by the first history_flush().
 * The handle keeps wait_ms as its busy timeout for reads.
 */
int history_open_wait(struct history **out, const char *path, unsigned wait_ms, struct diag *d);
/*
 * Opens an existing history to read it, creating nothing (no file, folder
 * or table). No file at path: returns 0 with *out NULL and *missing true, so
 * the caller can say "no history yet" without loading SQLite. A file that
 * exists but is not a gpuci history fails (DIAG_INPUT). history_record() on
 * such a handle is a BUG().
 */
int history_open_read(struct history **out, const char *path, bool *missing, struct diag *d);
/* Closes the file and frees h (NULL is fine). */
void history_close(struct history *h);
/*
 * Appends one attempt, committed when it returns (durable against a crash
 * of gpuci; with synchronous=NORMAL, the last commits may be lost to a power
 * cut). status must be one of those listed above; duration and started_at
 * finite, duration >= 0; else DIAG_INPUT and nothing is written.
 */
int history_record(struct history *h, const struct history_result *r, struct diag *d);

/*
 * Writing without waiting: history_queue() checks r as history_record()
 * does and keeps a copy in memory (no I/O); history_flush() writes every
 * queued result in one transaction, waiting at most wait_ms for another
 * writer. Returns 0 when written, and 0 too when another process still
 * held the lock: the results stay queued (history_pending() counts them)
 * for the next flush. -1 on another failure; they stay queued as well.
 * history_close() drops what is still queued: history_save_pending()
 * writes it to a new history file at path (created as history_open()
 * does; the queue is emptied, *saved says how many), which
 * history_import() loads into h later, skipping attempts h already has
 * (same run_id, test, identity, attempt and start; *added, *skipped).
 */
int history_queue(struct history *h, const struct history_result *r, struct diag *d);
int history_flush(struct history *h, unsigned wait_ms, struct diag *d);
size_t history_pending(const struct history *h);
int history_save_pending(struct history *h, const char *path, size_t *saved, struct diag *d);
int history_import(struct history *h, const char *from, size_t *added, size_t *skipped,
                   struct diag *d);

/* What a prune removed. */
struct history_pruned {
	size_t removed; /* attempts */
	size_t tests;   /* tests that lost some (those that lost all are gone) */
	bool complete;  /* false: a batch limit left older attempts for later */
};
/*
 * Removes every attempt that started before `before` (seconds since the
 * epoch), waiting up to HISTORY_BUSY_TIMEOUT_MS for the write lock; the
 * per-test figures follow. Records when it ran (meta pruned_at), which
 * history_prune_now_and_then() counts from.
 */
int history_prune(struct history *h, double before, struct history_pruned *out, struct diag *d);
/*
 * The retention a writer applies now and then: when the last prune is
 * HISTORY_PRUNE_EVERY_S old (or never was), removes up to
 * HISTORY_PRUNE_BATCH attempts older than keep_days (0: keeps everything),
 * without waiting: a history another process holds is left for next time.
 */
int history_prune_now_and_then(struct history *h, unsigned keep_days, double now,
                               struct history_pruned *out, struct diag *d);

/*
 * The median duration of the passed (or flaky) attempts of one test: those
 * recorded with this identity, or with identity NULL or "", those of
 * test_file with these args (test_args NULL: any args). Attempts recorded
 * before identities existed count for their file and args. *found false
 * when there is none. An even count gives the mean of the two middle ones.
 */
int history_median(struct history *h, const char *identity, const char *test_file,
                   const char *test_args, double *out, bool *found, struct diag *d);
/*
 * The 90th percentile (nearest rank) of the same attempts as
 * history_median(): what a time limit is made from (a Slurm job's --time).
 */
int history_p90(struct history *h, const char *identity, const char *test_file,
                const char *test_args, double *out, bool *found, struct diag *d);
/*
 * The median over every test's own median, a test being one (test_file,
 * test_args, identity) with at least one passed or flaky attempt, so a test run a
 * thousand times weighs as much as one run once; *found false when empty.
 * What a scheduler can guess for a test it has never timed.
 */
int history_median_all(struct history *h, double *out, bool *found, struct diag *d);

/* What `gpuci history` lists. */
struct history_query {
	const char *test_glob; /* fnmatch() on test_file, or NULL (see below) */
	size_t slowest;        /* > 0: the N tests with the longest median */
	bool flaky;            /* tests that were flaky, or passed and failed */
	size_t limit;          /* the most recent N attempts (or flaky tests); 0: 50 */
};

/*
 * Prints the query's answer as a table (json false) or JSON into out.
 *
 * Views: the most recently recorded attempts, newest first (default);
 * with slowest, the tests (test_file + test_args) with the longest median
 * duration of passed/flaky attempts, longest first; with flaky, the tests
 * that had a flaky attempt or both a passed and a failed (failed, timeout,
 * crashed) one, most flaky + failed attempts first. slowest and flaky
 * together: DIAG_USAGE.
 *
 * test_glob is matched with fnmatch() without flags (so * matches '/') on
 * test_file, and on test_file with its leading "tests/" removed, or with
 * one added when it has none: 'test_glm*' and 'tests/test_glm*' both find
 * tests/test_glm.py and test_glm.py.
 *
 * JSON (one object per line inside an array; [] when nothing matches):
 *   attempts: [{"id":N,"run_id":S,"job":S,"test_file":S,"test_args":S,
 *               "gpus":N,"gpu_ids":S,"status":S,"attempt":N,
 *               "exit_code":N|null,"started_at":SECS,"time":"ISO 8601 UTC",
 *               "duration":SECS,"log_path":S,"host":S,"identity":S,
 *               "variant":S}, ...]
 *   tests (slowest, flaky): [{"test_file":S,"test_args":S,"identity":S,
 *               "variant":S,"runs":N,"passed":N,"flaky":N,"failed":N,
 *               "median":SECS|null,"last_status":S,"last_started_at":SECS}, ...]
 * A test is one (test_file, test_args, identity): two entries of one file
 * and args with other keys are two tests, shown with their variant.
 * runs counts every attempt; failed counts failed, timeout and crashed;
 * median is over the passed and flaky attempts. Seconds have 3 decimals;
 * bytes of text that are not UTF-8 become U+FFFD. The table shows local
 * time and ends with a line saying what was left out.
 */
int history_report(struct history *h, const struct history_query *q, bool json, struct strbuf *out,
                   struct diag *d);

/* ---- one run, and trends (history_runs.c, history_trends.c) ------------ */

/* One recorded attempt, read back; strings malloc'd, "" for none (never NULL). */
struct history_attempt {
	char *run_id, *job, *test_file, *test_args, *gpu_ids, *status, *log_path, *host, *identity,
	    *variant;
	unsigned gpus, attempt;
	int exit_code; /* -1: none (the test never ran) */
	double started_at, duration;
};

/*
 * Every attempt of run_id, by started_at, then attempt, then record order;
 * *out NULL and *n 0 when the run has none. The caller frees them with
 * history_attempts_free().
 */
int history_run_attempts(struct history *h, const char *run_id, struct history_attempt **out,
                         size_t *n, struct diag *d);
void history_attempts_free(struct history_attempt *a, size_t n);
/*
 * The run id of the most recently started attempt (the last recorded one
 * among those that started at the same time); *found false and *run_id
 * NULL on an empty history. The caller frees *run_id.
 */
int history_last_run(struct history *h, char **run_id, bool *found, struct diag *d);

/* One attempt of a test's trend. */
struct history_trend_point {
	double started_at, duration;
	char *status, *run_id;
};

/*
 * One test (test_file, test_args, identity, as history_report() counts
 * them) over a window: its attempts in time order (started_at, then record
 * order), and figures over those attempts alone: runs counts every one,
 * failed the failed, timed out and crashed; median and p90 (nearest rank,
 * as history_p90()) are over the passed and flaky ones, valid when timed
 * is true. variant is that of its last attempt.
 */
struct history_trend {
	char *test_file, *test_args, *identity, *variant;
	size_t runs, passed, flaky, failed;
	bool timed;
	double median, p90;
	struct history_trend_point *points;
	size_t npoints;
};

/*
 * Every test whose file matches test_glob (as history_query's; NULL: all)
 * with an attempt that started at or after since (seconds since the
 * epoch), by test_file, test_args, identity; *out NULL and *n 0 when none.
 * The caller frees them with history_trends_free().
 */
int history_trends(struct history *h, const char *test_glob, double since,
                   struct history_trend **out, size_t *n, struct diag *d);
void history_trends_free(struct history_trend *t, size_t n);

#endif
