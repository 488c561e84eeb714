/*
 * db/history: test results in SQLite (see history.h).
 *
 * SQLite is linked in (statically where libsqlite3.a is installed, as on
 * Debian): history works in any image gpuci is copied into, with no
 * library of a given version to find there (doc/DESIGN.md, section 6).
 *
 * The schema (version 3):
 *
 *   meta(key TEXT PRIMARY KEY, value)      schema_version = 3; pruned_at =
 *                                          when a run last applied retention
 *   results(id INTEGER PRIMARY KEY,        one row per attempt, in the
 *           run_id, job, test_file,        order they were recorded
 *           test_args, gpus, gpu_ids,
 *           status, attempt, exit_code,    exit_code NULL: none (-1)
 *           started_at REAL, duration REAL,
 *           log_path, host,
 *           identity, variant)             the entry's identity and suffix
 *   tests(test_file, test_args, identity   one row per test: its counts,
 *         PRIMARY KEY, variant, runs,      median (NULL: none timed) and
 *         passed, flaky, failed, median,   last attempt, rewritten from its
 *         last_status, last_started_at)    attempts by every write that adds
 *                                          or removes some (history_summary.c)
 *   results_key ON results(test_file, test_args, identity, status, duration)
 *                                          a test's attempts, covered
 *   results_identity ON results(identity)  medians of attempts (older files)
 *   results_run ON results(run_id)         one run's results
 *   results_started ON results(started_at) pruning
 *   tests_identity ON tests(identity)      medians
 *
 * Version 1 had no identity and variant; version 2 no tests table. The
 * first writer upgrades a file in place (history__upgrade(): the columns,
 * then the tests table from every row; version 1 rows count for the test
 * of that file and args whatever its other keys). Until then (a reader, or
 * a writer that found the file locked) it is read as it is: a version 1
 * file through a view that shows identity and variant empty, and the
 * figures per test computed from the attempts. Every read of attempts goes
 * through the TEMP VIEW attempts, the results as version 3 has them.
 *
 * Concurrency: WAL mode (readers never wait for the writer, the writer
 * never waits for readers), a busy timeout for writers queueing behind one
 * another, and transactions that take the write lock when they begin
 * (BEGIN IMMEDIATE), as a deferred one that upgrades from read to write
 * fails with SQLITE_BUSY at once, without waiting, when another wrote in
 * between. Every SQL text is a constant: values travel as bound parameters.
 */
#include "db/history_int.h"

#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/xalloc.h"
#include "base/banned.h"

/* Read-only WAL databases (a history the user may read but not write). */
#define SQLITE_MIN_VERSION 3022000

#if SQLITE_VERSION_NUMBER < SQLITE_MIN_VERSION
#error "SQLite 3.22.0 or later is needed (read-only WAL databases)"
#endif

/* ---- errors ------------------------------------------------------------ */

/*
 * Fills d from a failed call (rc, its result; db may be NULL): what could
 * not be done to the history at path, why, and what to do where the user
 * can act on it.
 */
int history__fail(struct diag *d, sqlite3 *db, int rc, const char *path, const char *what)
{
	const char *msg = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
	int sys = db ? sqlite3_system_errno(db) : 0;
	switch (rc & 0xff) {
	case SQLITE_NOTADB:
		return diag_set(d, DIAG_INPUT,
		                "%s is not a gpuci history (not an SQLite database); move it "
		                "away, and the next gpuci run starts a new one",
		                path);
	case SQLITE_CORRUPT:
		return diag_set(d, DIAG_INPUT,
		                "%s is damaged (SQLite: %s); move it away, and the next gpuci run "
		                "starts a new one",
		                path, msg);
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return diag_set(d, DIAG_SYSTEM,
		                "cannot %s the history %s: another process holds it locked (%s)",
		                what, path, msg);
	case SQLITE_CANTOPEN:
	case SQLITE_IOERR:
	case SQLITE_READONLY:
	case SQLITE_PERM:
	case SQLITE_FULL:
		if (sys)
			return diag_set(d, DIAG_SYSTEM, "cannot %s the history %s: %s (%s)", what,
			                path, strerror(sys), msg);
		break;
	default:
		break;
	}
	return diag_set(d, DIAG_SYSTEM, "cannot %s the history %s: %s", what, path, msg);
}

/* Runs constant SQL (schema, pragmas, BEGIN/COMMIT) that returns no rows. */
int history__exec(struct history *h, const char *sql, const char *what, struct diag *d)
{
	int rc = sqlite3_exec(h->db, sql, NULL, NULL, NULL);
	if (rc != SQLITE_OK)
		return history__fail(d, h->db, rc, h->path, what);
	return 0;
}

int history__prepare(struct history *h, const char *sql, sqlite3_stmt **st, const char *what,
                     struct diag *d)
{
	int rc = sqlite3_prepare_v2(h->db, sql, -1, st, NULL);
	if (rc != SQLITE_OK) {
		*st = NULL;
		return history__fail(d, h->db, rc, h->path, what);
	}
	return 0;
}

/* A text column, "" for NULL (and for SQLite out of memory). */
const char *history__col_text(sqlite3_stmt *st, int i)
{
	const unsigned char *s = sqlite3_column_text(st, i);
	return s ? (const char *)s : "";
}

/* Binds a C string: NULL becomes SQL NULL. SQLITE_STATIC: s outlives the step. */
int history__bind_str(sqlite3_stmt *st, int i, const char *s)
{
	return s ? sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC) : sqlite3_bind_null(st, i);
}

static int exec(struct history *h, const char *sql, const char *what, struct diag *d)
{
	return history__exec(h, sql, what, d);
}

/* ---- test globs ------------------------------------------------------ */

/*
 * Whether glob names test_file as it is, or with "tests/" removed from its
 * start or added to it when it has none: matrices name tests either way.
 * Matching "tests/" + file against "tests/X" is matching file against X,
 * so nothing is allocated.
 */
static bool test_matches(const char *glob, const char *file)
{
	static const char prefix[] = "tests/";
	const size_t plen = sizeof(prefix) - 1;
	if (fnmatch(glob, file, 0) == 0)
		return true;
	if (!strncmp(file, prefix, plen))
		return fnmatch(glob, file + plen, 0) == 0;
	return !strncmp(glob, prefix, plen) && fnmatch(glob + plen, file, 0) == 0;
}

/* gpuci_test_match(glob, test_file) in SQL: test_matches(). */
static void sql_test_match(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	(void)argc;
	const char *glob = (const char *)sqlite3_value_text(argv[0]);
	const char *file = (const char *)sqlite3_value_text(argv[1]);
	sqlite3_result_int(ctx, glob && file && test_matches(glob, file));
}

/* ---- opening ----------------------------------------------------------- */

/* Makes the folders above path that are missing, as mkdir -p would. */
static int make_parents(const char *path, struct diag *d)
{
	const char *slash = strrchr(path, '/');
	if (!slash || slash == path)
		return 0;
	char *dir = xstrndup(path, (size_t)(slash - path));
	struct stat sb;
	int rc = 0;
	/* An existing non-folder is left to the open that follows, which names the problem. */
	if (stat(dir, &sb) == 0)
		goto out;
	for (char *p = dir + 1;; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		char c = *p;
		*p = '\0';
		if (mkdir(dir, 0777) < 0 && errno != EEXIST) {
			rc = diag_errno(d, "cannot create the folder %s for the history %s", dir,
			                path);
			goto out;
		}
		*p = c;
		if (!c)
			break;
	}
out:
	free(dir);
	return rc;
}

static const char sql_insert[] =
    "INSERT INTO results (run_id, job, test_file, test_args, gpus, gpu_ids, status, attempt,"
    " exit_code, started_at, duration, log_path, host, identity, variant)"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)";

/* The results as version 2 has them, for every read (see the top). */
static const char sql_view_v2[] = "CREATE TEMP VIEW IF NOT EXISTS attempts AS"
                                  " SELECT * FROM main.results";
static const char sql_view_v1[] =
    "CREATE TEMP VIEW IF NOT EXISTS attempts AS"
    " SELECT id, run_id, job, test_file, test_args, gpus, gpu_ids, status, attempt,"
    " exit_code, started_at, duration, log_path, host, '' AS identity, '' AS variant"
    " FROM main.results";

/* Version 1 to 2, in the caller's write transaction. */
static const char sql_upgrade_v1[] =
    "ALTER TABLE results ADD COLUMN identity TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE results ADD COLUMN variant TEXT NOT NULL DEFAULT '';"
    "CREATE INDEX IF NOT EXISTS results_identity ON results (identity);";

/* Version 2 to 3: the tests table (filled by history__summary_rebuild()), the indexes. */
static const char sql_upgrade_v2[] = "DROP INDEX IF EXISTS results_test;"
                                     "CREATE INDEX IF NOT EXISTS results_run ON results (run_id);";

/*
 * Everything IF NOT EXISTS, so that two runs making the file at once (each
 * in its own IMMEDIATE transaction, one after the other) both succeed.
 */
static const char sql_schema[] =
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value);"
    "CREATE TABLE IF NOT EXISTS results ("
    " id INTEGER PRIMARY KEY,"
    " run_id TEXT NOT NULL,"
    " job TEXT NOT NULL,"
    " test_file TEXT NOT NULL,"
    " test_args TEXT NOT NULL,"
    " gpus INTEGER NOT NULL,"
    " gpu_ids TEXT NOT NULL,"
    " status TEXT NOT NULL,"
    " attempt INTEGER NOT NULL,"
    " exit_code INTEGER,"
    " started_at REAL NOT NULL,"
    " duration REAL NOT NULL,"
    " log_path TEXT NOT NULL,"
    " host TEXT NOT NULL,"
    " identity TEXT NOT NULL DEFAULT '',"
    " variant TEXT NOT NULL DEFAULT '');"
    "CREATE INDEX IF NOT EXISTS results_identity ON results (identity);"
    "CREATE INDEX IF NOT EXISTS results_run ON results (run_id);";

/*
 * Opens the connection: extended error codes, the busy timeout, our SQL
 * function. uri, when not NULL, is what SQLite opens instead of path (which
 * the messages still name).
 */
static int connect_db(struct history **out, const char *path, const char *uri, int flags,
                      unsigned wait_ms, struct diag *d)
{
	struct history *h = xcalloc(1, sizeof(*h));
	h->path = xstrdup(path);
	char host[256] = "";
	if (gethostname(host, sizeof(host) - 1) < 0)
		host[0] = '\0';
	h->host = xstrdup(host);
	*out = h;
	int rc = sqlite3_open_v2(uri ? uri : path, &h->db, flags, NULL);
	if (rc != SQLITE_OK)
		return history__fail(d, h->db, rc, path, "open");
	sqlite3_extended_result_codes(h->db, 1);
	h->wait_ms = wait_ms;
	sqlite3_busy_timeout(h->db, (int)wait_ms);
	rc = sqlite3_create_function_v2(h->db, "gpuci_test_match", 2,
	                                SQLITE_UTF8 | SQLITE_DETERMINISTIC, NULL, sql_test_match,
	                                NULL, NULL, NULL);
	if (rc != SQLITE_OK)
		return history__fail(d, h->db, rc, path, "open");
	return 0;
}

/* Whether the file has a table of that name (a new, empty file has none). */
static int has_table(struct history *h, const char *name, bool *yes, struct diag *d)
{
	sqlite3_stmt *st;
	if (history__prepare(h, "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1",
	                     &st, "read", d) < 0)
		return -1;
	history__bind_str(st, 1, name);
	int rc = sqlite3_step(st);
	*yes = rc == SQLITE_ROW;
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		history__fail(d, h->db, rc, h->path, "read");
	sqlite3_finalize(st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}

/*
 * The schema version the file says it has: 0 when it has no meta table or
 * no version in it (a new file), -1 when the version is not a number.
 */
static int read_version(struct history *h, long long *version, struct diag *d)
{
	bool yes;
	*version = 0;
	if (has_table(h, "meta", &yes, d) < 0)
		return -1;
	if (!yes)
		return 0;
	sqlite3_stmt *st;
	/* A meta table of someone else's shape fails here: not ours. */
	if (sqlite3_prepare_v2(h->db, "SELECT value FROM meta WHERE key = 'schema_version'", -1,
	                       &st, NULL) != SQLITE_OK)
		return diag_set(d, DIAG_INPUT,
		                "%s is an SQLite database but not a gpuci history (%s)", h->path,
		                sqlite3_errmsg(h->db));
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*version =
		    sqlite3_column_type(st, 0) == SQLITE_INTEGER ? sqlite3_column_int64(st, 0) : -1;
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		history__fail(d, h->db, rc, h->path, "read");
	sqlite3_finalize(st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}

/* Refuses a version this gpuci cannot read. */
static int check_version(struct history *h, long long version, struct diag *d)
{
	if (version > HISTORY_SCHEMA_VERSION)
		return diag_set(d, DIAG_INPUT,
		                "%s was written by a newer gpuci (history schema %lld; this gpuci "
		                "knows %d): use that gpuci, or move the file away",
		                h->path, version, HISTORY_SCHEMA_VERSION);
	if (version < 0)
		return diag_set(d, DIAG_INPUT,
		                "%s is not a gpuci history (its schema_version is not a number)",
		                h->path);
	return 0;
}

/* The view every read goes through, for the schema the file has now. */
static int make_view(struct history *h, const char *what, struct diag *d)
{
	return exec(h, "DROP VIEW IF EXISTS temp.attempts", what, d) < 0 ||
	               exec(h, h->version == 1 ? sql_view_v1 : sql_view_v2, what, d) < 0
	           ? -1
	           : 0;
}

/*
 * To the current schema from version 1 or 2 (as read under the caller's
 * write transaction): the columns of version 2, then the tests
 * table filled from every row. Once per file, by the first writer.
 */
int history__upgrade(struct history *h, struct diag *d)
{
	/* Read again: another gpuci may have upgraded it since this one looked. */
	long long version;
	if (read_version(h, &version, d) < 0 || check_version(h, version, d) < 0)
		return -1;
	h->version = version;
	if (version == HISTORY_SCHEMA_VERSION) {
		h->summary = true;
		h->upgrade = false;
		return make_view(h, "upgrade", d);
	}
	if (h->version == 1 && exec(h, sql_upgrade_v1, "upgrade", d) < 0)
		return -1;
	if (exec(h, sql_upgrade_v2, "upgrade", d) < 0 ||
	    exec(h, history__sql_summary_schema, "upgrade", d) < 0 ||
	    history__summary_rebuild(h, d) < 0 ||
	    exec(h,
	         "UPDATE meta SET value = " HISTORY_SCHEMA_VERSION_TEXT
	         " WHERE key = 'schema_version'",
	         "upgrade", d) < 0)
		return -1;
	h->version = HISTORY_SCHEMA_VERSION;
	h->summary = true;
	h->upgrade = false;
	return make_view(h, "upgrade", d);
}

/*
 * Creates the tables when missing, or upgrades an older file; a no-op,
 * without the write lock, when the file is current. A version 1 or 2 file
 * another process holds locked is left as it is, read through its view,
 * and upgraded by the first history_flush() that gets the lock.
 */
static int ensure_schema(struct history *h, struct diag *d)
{
	long long version;
	bool results;
	if (read_version(h, &version, d) < 0 || check_version(h, version, d) < 0 ||
	    has_table(h, "results", &results, d) < 0)
		return -1;
	h->version = version;
	if (version == HISTORY_SCHEMA_VERSION && results) {
		h->summary = true;
		return make_view(h, "open", d);
	}
	int rc = sqlite3_exec(h->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
	if ((rc & 0xff) == SQLITE_BUSY && results && (version == 1 || version == 2)) {
		h->upgrade = true;
		return make_view(h, "open", d);
	}
	if (rc != SQLITE_OK)
		return history__fail(d, h->db, rc, h->path, "create");
	/* Under the write lock: what another gpuci may have done meanwhile. */
	if (read_version(h, &version, d) < 0 || check_version(h, version, d) < 0 ||
	    has_table(h, "results", &results, d) < 0)
		goto fail;
	h->version = version;
	if (version == HISTORY_SCHEMA_VERSION && results)
		;
	else if (results && (version == 1 || version == 2)) {
		if (history__upgrade(h, d) < 0)
			goto fail;
	} else if (exec(h, sql_schema, "create", d) < 0 ||
	           exec(h, history__sql_summary_schema, "create", d) < 0 ||
	           exec(h,
	                "INSERT OR IGNORE INTO meta (key, value) VALUES "
	                "('schema_version', " HISTORY_SCHEMA_VERSION_TEXT ")",
	                "create", d) < 0)
		goto fail;
	if (exec(h, "COMMIT", "create", d) < 0)
		goto fail;
	if (read_version(h, &version, d) < 0 || check_version(h, version, d) < 0)
		return -1;
	h->version = version;
	h->summary = true;
	return make_view(h, "open", d);
fail:
	sqlite3_exec(h->db, "ROLLBACK", NULL, NULL, NULL);
	/* A failed upgrade leaves the file as it was: read it so. */
	h->summary = false;
	return -1;
}

/* Milliseconds since some fixed point, for deadlines. */
static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * WAL, for good: the mode is kept in the file. A file system without the
 * shared memory WAL needs (some network ones) answers with another mode;
 * that is still correct, only readers then wait for the writer too.
 *
 * The switch upgrades a read lock to a write lock, and when two processes
 * try at once (runs started together on a new file), SQLite answers one of
 * them SQLITE_BUSY at once rather than risk a deadlock, without calling the
 * busy handler; so this waits by hand, to the same deadline.
 */
static int set_wal(struct history *h, unsigned wait_ms, struct diag *d)
{
	long long deadline = now_ms() + wait_ms;
	unsigned pause_ms = 1;
	int rc;
	for (;;) {
		sqlite3_stmt *st;
		if (history__prepare(h, "PRAGMA journal_mode = WAL", &st, "open", d) < 0)
			return -1;
		rc = sqlite3_step(st);
		sqlite3_finalize(st);
		if ((rc & 0xff) != SQLITE_BUSY || now_ms() >= deadline)
			break;
		nanosleep(&(struct timespec){.tv_nsec = pause_ms * 1000000L}, NULL);
		if (pause_ms < 32)
			pause_ms *= 2;
	}
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return history__fail(d, h->db, rc, h->path, "open");
	/* In WAL mode, NORMAL syncs at checkpoints only: a crash of gpuci loses nothing. */
	return exec(h, "PRAGMA synchronous = NORMAL", "open", d);
}

int history_open(struct history **out, const char *path, struct diag *d)
{
	return history_open_wait(out, path, HISTORY_BUSY_TIMEOUT_MS, d);
}

int history_open_wait(struct history **out, const char *path, unsigned wait_ms, struct diag *d)
{
	*out = NULL;
	if (make_parents(path, d) < 0)
		return -1;
	/*
	 * Made (or tried for writing) here first, for the reason: SQLite falls
	 * back to read-only on EACCES and then reports the errno of that retry.
	 * An empty file is an empty database.
	 */
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
	if (fd < 0)
		return diag_errno(d, "cannot open the history %s", path);
	close(fd);
	struct history *h;
	if (connect_db(&h, path, NULL, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, wait_ms, d) <
	        0 ||
	    set_wal(h, wait_ms, d) < 0 || ensure_schema(h, d) < 0) {
		history_close(h);
		return -1;
	}
	h->writer = true;
	*out = h;
	return 0;
}

/* The insert, prepared when first needed (a version 1 file has no identity column before its
 * upgrade). */
int history__insert(struct history *h, const struct history_result *r, struct diag *d)
{
	if (!h->insert && history__prepare(h, sql_insert, &h->insert, "record a result in", d) < 0)
		return -1;
	sqlite3_stmt *st = h->insert;
	history__bind_str(st, 1, str_or_empty(r->run_id));
	history__bind_str(st, 2, str_or_empty(r->job));
	history__bind_str(st, 3, r->test_file);
	history__bind_str(st, 4, str_or_empty(r->test_args));
	sqlite3_bind_int64(st, 5, r->gpus);
	history__bind_str(st, 6, str_or_empty(r->gpu_ids));
	history__bind_str(st, 7, str_or_empty(r->status));
	sqlite3_bind_int64(st, 8, r->attempt);
	if (r->exit_code == -1)
		sqlite3_bind_null(st, 9);
	else
		sqlite3_bind_int64(st, 9, r->exit_code);
	sqlite3_bind_double(st, 10, r->started_at);
	sqlite3_bind_double(st, 11, r->duration);
	history__bind_str(st, 12, str_or_empty(r->log_path));
	history__bind_str(st, 13, r->host ? r->host : h->host);
	history__bind_str(st, 14, str_or_empty(r->identity));
	history__bind_str(st, 15, str_or_empty(r->variant));
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		return history__fail(d, h->db, rc, h->path, "record a result in");
	return 0;
}

/* Opens path (or uri, see connect_db()) for reading and checks it is a history. */
static int open_read_as(struct history **out, const char *path, const char *uri, int flags,
                        struct diag *d)
{
	struct history *h;
	long long version;
	bool results = false;
	if (connect_db(&h, path, uri, flags, HISTORY_BUSY_TIMEOUT_MS, d) < 0 ||
	    read_version(h, &version, d) < 0 || check_version(h, version, d) < 0 ||
	    has_table(h, "results", &results, d) < 0)
		goto fail;
	if (!results) {
		diag_set(d, DIAG_INPUT, "%s is not a gpuci history (no results table)", path);
		goto fail;
	}
	h->version = version;
	h->summary = version == HISTORY_SCHEMA_VERSION;
	if (make_view(h, "read", d) < 0)
		goto fail;
	*out = h;
	return 0;
fail:
	history_close(h);
	return -1;
}

/* Whether this user may make files in the folder of path. */
static bool folder_writable(const char *path)
{
	const char *slash = strrchr(path, '/');
	if (!slash)
		return access(".", W_OK) == 0;
	if (slash == path)
		return access("/", W_OK) == 0;
	char *dir = xstrndup(path, (size_t)(slash - path));
	bool ok = access(dir, W_OK) == 0;
	free(dir);
	return ok;
}

/* "file:PATH?immutable=1", PATH percent-encoded but for '/' and the unreserved characters. */
static void immutable_uri(struct strbuf *sb, const char *path)
{
	strbuf_adds(sb, "file:");
	for (const unsigned char *p = (const unsigned char *)path; *p; p++) {
		unsigned char c = *p;
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '/' || c == '-' || c == '.' || c == '_' || c == '~')
			strbuf_addch(sb, (char)c);
		else
			strbuf_addf(sb, "%%%02X", c);
	}
	strbuf_adds(sb, "?immutable=1");
}

int history_open_read(struct history **out, const char *path, bool *missing, struct diag *d)
{
	*out = NULL;
	*missing = false;
	struct stat sb;
	if (stat(path, &sb) < 0) {
		if (errno == ENOENT) {
			*missing = true;
			return 0;
		}
		return diag_errno(d, "cannot read the history %s", path);
	}
	if (S_ISDIR(sb.st_mode))
		return diag_set(d, DIAG_INPUT, "%s is a folder, not a gpuci history", path);
	/*
	 * READWRITE without CREATE: nothing is made, and SQLite falls back to
	 * read-only by itself for a file the user may not write. Reading a WAL
	 * file writes its -shm index, which a read-only open would leave behind.
	 */
	if (open_read_as(out, path, NULL, SQLITE_OPEN_READWRITE, d) == 0)
		return 0;
	/*
	 * In a folder this user may not write (another user's history, its
	 * runs over), SQLite cannot make the -shm index a WAL file is read
	 * through, so the file is read as it is on disk, immutable. A run
	 * writing it now would have left its -shm, which SQLite can read, and
	 * the first try would have worked.
	 */
	if (folder_writable(path))
		return -1;
	struct strbuf uri = STRBUF_INIT;
	immutable_uri(&uri, path);
	int rc = open_read_as(out, path, uri.buf, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, d);
	strbuf_release(&uri);
	return rc;
}

void history_close(struct history *h)
{
	if (!h)
		return;
	if (h->db) {
		sqlite3_finalize(h->insert);
		sqlite3_finalize(h->median);
		sqlite3_finalize(h->refresh);
		sqlite3_finalize(h->last);
		sqlite3_finalize(h->put);
		/* The last connection to close folds the WAL into the file and removes it. */
		sqlite3_close_v2(h->db);
	}
	history__drop_pending(h, 0, h->npending);
	free(h->pending);
	free(h->path);
	free(h->host);
	free(h);
}
