/*
 * db/history: test results in SQLite (see history.h).
 *
 * SQLite is loaded with dlopen, as vcs/git.c loads libgit2: only `gpuci run`
 * and `gpuci history` need it, so the other commands do not pay for loading
 * it on every start, and a machine without it still runs them. The calls go
 * through a table of pointers typed from <sqlite3.h> itself, which keeps the
 * compiler checking every call.
 *
 * The schema (version 1):
 *
 *   meta(key TEXT PRIMARY KEY, value)      one row: schema_version = 1
 *   results(id INTEGER PRIMARY KEY,        one row per attempt, in the
 *           run_id, job, test_file,        order they were recorded
 *           test_args, gpus, gpu_ids,
 *           status, attempt, exit_code,    exit_code NULL: none (-1)
 *           started_at REAL, duration REAL,
 *           log_path, host)
 *   results_test ON results(test_file, test_args)   medians, --slowest, --flaky
 *   results_run  ON results(run_id)                 one run's results
 *
 * Concurrency: WAL mode (readers never wait for the writer, the writer
 * never waits for readers), a busy timeout for writers queueing behind one
 * another, and transactions that take the write lock when they begin
 * (BEGIN IMMEDIATE), as a deferred one that upgrades from read to write
 * fails with SQLITE_BUSY at once, without waiting, when another wrote in
 * between. Every SQL text is a constant: values travel as bound parameters.
 */
#include "db/history.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "base/dl.h"
#include "base/xalloc.h"
#include "base/banned.h"

#define HISTORY_SCHEMA_VERSION 1
/* Read-only WAL databases (a history the user may read but not write). */
#define SQLITE_MIN_VERSION      3022000
#define SQLITE_MIN_VERSION_TEXT "3.22.0"
#define DEFAULT_LIMIT           50

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

/*
 * The loaded library: process-wide, like the dynamic loader's own state it
 * mirrors. Written once under pthread_once() before anyone reads it, never
 * changed after, so it is the one static here that is not per-call state.
 */
static struct sqlite_api api;
static bool api_ok;
static char api_error[512];
static pthread_once_t api_once = PTHREAD_ONCE_INIT;

/*
 * The first library that loads: $GPUCI_LIBSQLITE3 when set (another build,
 * or a path to test the failure with), else the soname of Debian's
 * libsqlite3-0, else the development symlink.
 */
static void *api_dlopen(void)
{
	static const char *const names[] = {"libsqlite3.so.0", "libsqlite3.so"};
	return dl_open_first("GPUCI_LIBSQLITE3", names, sizeof(names) / sizeof(names[0]), api_error,
	                     sizeof(api_error));
}

static void api_load(void)
{
	void *h = api_dlopen();
	if (!h)
		return;
#define SQLITE_API_LOAD(f)                                                                         \
	api.f = (__typeof__(f) *)dlsym(h, #f);                                                     \
	if (!api.f) {                                                                              \
		snprintf(api_error, sizeof(api_error), "%s has no %s", "libsqlite3", #f);          \
		return;                                                                            \
	}
	SQLITE_API_FUNCS(SQLITE_API_LOAD)
#undef SQLITE_API_LOAD
	if (api.sqlite3_libversion_number() < SQLITE_MIN_VERSION) {
		snprintf(api_error, sizeof(api_error), "found SQLite %s, need %s or later",
		         api.sqlite3_libversion(), SQLITE_MIN_VERSION_TEXT);
		return;
	}
	/* The handle stays open for the life of the process, as the table points into it. */
	api_ok = true;
}

static int api_require(struct diag *d)
{
	pthread_once(&api_once, api_load);
	if (!api_ok)
		return diag_set(d, DIAG_SYSTEM,
		                "SQLite is needed to keep the test history and could not be loaded "
		                "(apt-get install libsqlite3-0): %s",
		                api_error);
	return 0;
}

struct history {
	sqlite3 *db;
	char *path;
	char *host;           /* this machine's name, for results that give none */
	sqlite3_stmt *insert; /* NULL when opened with history_open_read() */
	sqlite3_stmt *median;
};

/* ---- errors ------------------------------------------------------------ */

/*
 * Fills d from a failed call (rc, its result; db may be NULL): what could
 * not be done to the history at path, why, and what to do where the user
 * can act on it.
 */
static int db_fail(struct diag *d, sqlite3 *db, int rc, const char *path, const char *what)
{
	const char *msg = db ? api.sqlite3_errmsg(db) : api.sqlite3_errstr(rc);
	int sys = db ? api.sqlite3_system_errno(db) : 0;
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
		                "cannot %s the history %s: another process kept it locked for "
		                "more than %d s (%s)",
		                what, path, HISTORY_BUSY_TIMEOUT_MS / 1000, msg);
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
static int exec(struct history *h, const char *sql, const char *what, struct diag *d)
{
	int rc = api.sqlite3_exec(h->db, sql, NULL, NULL, NULL);
	if (rc != SQLITE_OK)
		return db_fail(d, h->db, rc, h->path, what);
	return 0;
}

static int prepare(struct history *h, const char *sql, sqlite3_stmt **st, const char *what,
                   struct diag *d)
{
	int rc = api.sqlite3_prepare_v2(h->db, sql, -1, st, NULL);
	if (rc != SQLITE_OK) {
		*st = NULL;
		return db_fail(d, h->db, rc, h->path, what);
	}
	return 0;
}

/* A text column, "" for NULL (and for SQLite out of memory). */
static const char *col_text(sqlite3_stmt *st, int i)
{
	const unsigned char *s = api.sqlite3_column_text(st, i);
	return s ? (const char *)s : "";
}

/* Binds a C string: NULL becomes SQL NULL. SQLITE_STATIC: s outlives the step. */
static int bind_str(sqlite3_stmt *st, int i, const char *s)
{
	return s ? api.sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC)
	         : api.sqlite3_bind_null(st, i);
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
	const char *glob = (const char *)api.sqlite3_value_text(argv[0]);
	const char *file = (const char *)api.sqlite3_value_text(argv[1]);
	api.sqlite3_result_int(ctx, glob && file && test_matches(glob, file));
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
    " exit_code, started_at, duration, log_path, host)"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)";

static const char sql_median[] = "SELECT duration FROM results"
                                 " WHERE test_file = ?1 AND (?2 IS NULL OR test_args = ?2)"
                                 " AND status IN ('passed', 'flaky') ORDER BY duration";

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
    " host TEXT NOT NULL);"
    "CREATE INDEX IF NOT EXISTS results_test ON results (test_file, test_args);"
    "CREATE INDEX IF NOT EXISTS results_run ON results (run_id);"
    "INSERT OR IGNORE INTO meta (key, value) VALUES ('schema_version', 1);";

/*
 * Opens the connection: extended error codes, the busy timeout, our SQL
 * function. uri, when not NULL, is what SQLite opens instead of path (which
 * the messages still name).
 */
static int connect_db(struct history **out, const char *path, const char *uri, int flags,
                      struct diag *d)
{
	struct history *h = xcalloc(1, sizeof(*h));
	h->path = xstrdup(path);
	char host[256] = "";
	if (gethostname(host, sizeof(host) - 1) < 0)
		host[0] = '\0';
	h->host = xstrdup(host);
	*out = h;
	int rc = api.sqlite3_open_v2(uri ? uri : path, &h->db, flags, NULL);
	if (rc != SQLITE_OK)
		return db_fail(d, h->db, rc, path, "open");
	api.sqlite3_extended_result_codes(h->db, 1);
	api.sqlite3_busy_timeout(h->db, HISTORY_BUSY_TIMEOUT_MS);
	rc = api.sqlite3_create_function_v2(h->db, "gpuci_test_match", 2,
	                                    SQLITE_UTF8 | SQLITE_DETERMINISTIC, NULL,
	                                    sql_test_match, NULL, NULL, NULL);
	if (rc != SQLITE_OK)
		return db_fail(d, h->db, rc, path, "open");
	return 0;
}

/* Whether the file has a table of that name (a new, empty file has none). */
static int has_table(struct history *h, const char *name, bool *yes, struct diag *d)
{
	sqlite3_stmt *st;
	if (prepare(h, "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1", &st,
	            "read", d) < 0)
		return -1;
	bind_str(st, 1, name);
	int rc = api.sqlite3_step(st);
	*yes = rc == SQLITE_ROW;
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		db_fail(d, h->db, rc, h->path, "read");
	api.sqlite3_finalize(st);
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
	if (api.sqlite3_prepare_v2(h->db, "SELECT value FROM meta WHERE key = 'schema_version'", -1,
	                           &st, NULL) != SQLITE_OK)
		return diag_set(d, DIAG_INPUT,
		                "%s is an SQLite database but not a gpuci history (%s)", h->path,
		                api.sqlite3_errmsg(h->db));
	int rc = api.sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*version = api.sqlite3_column_type(st, 0) == SQLITE_INTEGER
		               ? api.sqlite3_column_int64(st, 0)
		               : -1;
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		db_fail(d, h->db, rc, h->path, "read");
	api.sqlite3_finalize(st);
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

/* Creates the tables when missing; a no-op, without the write lock, when present. */
static int ensure_schema(struct history *h, struct diag *d)
{
	long long version;
	bool results;
	if (read_version(h, &version, d) < 0 || check_version(h, version, d) < 0 ||
	    has_table(h, "results", &results, d) < 0)
		return -1;
	if (version == HISTORY_SCHEMA_VERSION && results)
		return 0;
	if (exec(h, "BEGIN IMMEDIATE", "create", d) < 0)
		return -1;
	if (exec(h, sql_schema, "create", d) < 0) {
		api.sqlite3_exec(h->db, "ROLLBACK", NULL, NULL, NULL);
		return -1;
	}
	if (exec(h, "COMMIT", "create", d) < 0) {
		api.sqlite3_exec(h->db, "ROLLBACK", NULL, NULL, NULL);
		return -1;
	}
	/* Another gpuci may have made the file first, and with another version. */
	if (read_version(h, &version, d) < 0 || check_version(h, version, d) < 0)
		return -1;
	return 0;
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
static int set_wal(struct history *h, struct diag *d)
{
	long long deadline = now_ms() + HISTORY_BUSY_TIMEOUT_MS;
	unsigned pause_ms = 1;
	int rc;
	for (;;) {
		sqlite3_stmt *st;
		if (prepare(h, "PRAGMA journal_mode = WAL", &st, "open", d) < 0)
			return -1;
		rc = api.sqlite3_step(st);
		api.sqlite3_finalize(st);
		if ((rc & 0xff) != SQLITE_BUSY || now_ms() >= deadline)
			break;
		nanosleep(&(struct timespec){.tv_nsec = pause_ms * 1000000L}, NULL);
		if (pause_ms < 32)
			pause_ms *= 2;
	}
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return db_fail(d, h->db, rc, h->path, "open");
	/* In WAL mode, NORMAL syncs at checkpoints only: a crash of gpuci loses nothing. */
	return exec(h, "PRAGMA synchronous = NORMAL", "open", d);
}

int history_open(struct history **out, const char *path, struct diag *d)
{
	*out = NULL;
	if (api_require(d) < 0 || make_parents(path, d) < 0)
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
	if (connect_db(&h, path, NULL, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, d) < 0 ||
	    set_wal(h, d) < 0 || ensure_schema(h, d) < 0 ||
	    prepare(h, sql_insert, &h->insert, "open", d) < 0 ||
	    prepare(h, sql_median, &h->median, "open", d) < 0) {
		history_close(h);
		return -1;
	}
	*out = h;
	return 0;
}

/* Opens path (or uri, see connect_db()) for reading and checks it is a history. */
static int open_read_as(struct history **out, const char *path, const char *uri, int flags,
                        struct diag *d)
{
	struct history *h;
	long long version;
	bool results = false;
	if (connect_db(&h, path, uri, flags, d) < 0 || read_version(h, &version, d) < 0 ||
	    check_version(h, version, d) < 0 || has_table(h, "results", &results, d) < 0)
		goto fail;
	if (!results) {
		diag_set(d, DIAG_INPUT, "%s is not a gpuci history (no results table)", path);
		goto fail;
	}
	if (prepare(h, sql_median, &h->median, "read", d) < 0)
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
	if (api_require(d) < 0)
		return -1;
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
		api.sqlite3_finalize(h->insert);
		api.sqlite3_finalize(h->median);
		/* The last connection to close folds the WAL into the file and removes it. */
		api.sqlite3_close_v2(h->db);
	}
	free(h->path);
	free(h->host);
	free(h);
}

/* ---- recording --------------------------------------------------------- */

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

/* Empty for NULL, as history.h promises. */
static const char *str_or_empty(const char *s)
{
	return s ? s : "";
}

int history_record(struct history *h, const struct history_result *r, struct diag *d)
{
	if (!h->insert)
		BUG("history_record() on a history opened with history_open_read()");
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
	sqlite3_stmt *st = h->insert;
	bind_str(st, 1, str_or_empty(r->run_id));
	bind_str(st, 2, str_or_empty(r->job));
	bind_str(st, 3, r->test_file);
	bind_str(st, 4, str_or_empty(r->test_args));
	api.sqlite3_bind_int64(st, 5, r->gpus);
	bind_str(st, 6, str_or_empty(r->gpu_ids));
	bind_str(st, 7, status);
	api.sqlite3_bind_int64(st, 8, r->attempt);
	if (r->exit_code == -1)
		api.sqlite3_bind_null(st, 9);
	else
		api.sqlite3_bind_int64(st, 9, r->exit_code);
	api.sqlite3_bind_double(st, 10, r->started_at);
	api.sqlite3_bind_double(st, 11, r->duration);
	bind_str(st, 12, str_or_empty(r->log_path));
	bind_str(st, 13, r->host ? r->host : h->host);
	/* Autocommit: the insert takes the write lock, waiting behind other writers. */
	int rc = api.sqlite3_step(st);
	api.sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		return db_fail(d, h->db, rc, h->path, "record a result in");
	return 0;
}

/* ---- medians ----------------------------------------------------------- */

/* A growable array of durations. */
struct dvec {
	double *v;
	size_t n, cap;
};

static void dvec_push(struct dvec *a, double x)
{
	if (a->n == a->cap) {
		a->cap = a->cap ? 2 * a->cap : 16;
		a->v = xrealloc(a->v, a->cap * sizeof(*a->v));
	}
	a->v[a->n++] = x;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* The median of n > 0 sorted values: the middle one, or the mean of the two. */
static double median_sorted(const double *v, size_t n)
{
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

int history_median(struct history *h, const char *test_file, const char *test_args, double *out,
                   bool *found, struct diag *d)
{
	sqlite3_stmt *st = h->median;
	struct dvec times = {0};
	*found = false;
	bind_str(st, 1, test_file);
	bind_str(st, 2, test_args);
	int rc;
	while ((rc = api.sqlite3_step(st)) == SQLITE_ROW)
		dvec_push(&times, api.sqlite3_column_double(st, 0));
	api.sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		free(times.v);
		return db_fail(d, h->db, rc, h->path, "read");
	}
	/* Sorted by the query already. */
	if (times.n) {
		*out = median_sorted(times.v, times.n);
		*found = true;
	}
	free(times.v);
	return 0;
}

/* ---- per-test figures -------------------------------------------------- */

/* What the history says of one test (test_file + test_args). */
struct test_stats {
	char *test_file, *test_args;
	size_t runs;   /* attempts of any status */
	size_t passed; /* attempts that passed ... */
	size_t flaky;  /* ... passed after failing ... */
	size_t failed; /* ... or failed, timed out, crashed */
	double median; /* of the passed and flaky attempts, when there are some */
	char *last_status;
	double last_started_at;
};

struct test_list {
	struct test_stats *v;
	size_t n, cap;
};

static void test_list_release(struct test_list *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free(l->v[i].test_file);
		free(l->v[i].test_args);
		free(l->v[i].last_status);
	}
	free(l->v);
	*l = (struct test_list){0};
}

static size_t timed_runs(const struct test_stats *t)
{
	return t->passed + t->flaky;
}

/* Closes a test's group: its median from the durations gathered, which are then dropped. */
static void test_finish(struct test_stats *t, struct dvec *times)
{
	if (times->n) {
		qsort(times->v, times->n, sizeof(*times->v), cmp_double);
		t->median = median_sorted(times->v, times->n);
	}
	times->n = 0;
}

static const char sql_tests[] =
    "SELECT test_file, test_args, status, duration, started_at FROM results"
    " WHERE ?1 IS NULL OR gpuci_test_match(?1, test_file)"
    " ORDER BY test_file, test_args, id";

/*
 * Every test whose file matches glob (NULL: all) with its counts, median and
 * last attempt, in one pass over the rows grouped by test, in record order
 * within a group, so that the last row of a group is its last attempt.
 */
static int collect_tests(struct history *h, const char *glob, struct test_list *out, struct diag *d)
{
	sqlite3_stmt *st;
	if (prepare(h, sql_tests, &st, "read", d) < 0)
		return -1;
	bind_str(st, 1, glob);
	struct dvec times = {0};
	struct test_stats *t = NULL;
	int rc;
	while ((rc = api.sqlite3_step(st)) == SQLITE_ROW) {
		const char *file = col_text(st, 0), *args = col_text(st, 1);
		const char *status = col_text(st, 2);
		if (!t || strcmp(t->test_file, file) != 0 || strcmp(t->test_args, args) != 0) {
			if (t)
				test_finish(t, &times);
			if (out->n == out->cap) {
				out->cap = out->cap ? 2 * out->cap : 64;
				out->v = xrealloc(out->v, out->cap * sizeof(*out->v));
			}
			t = &out->v[out->n++];
			*t = (struct test_stats){.test_file = xstrdup(file),
			                         .test_args = xstrdup(args)};
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
			dvec_push(&times, api.sqlite3_column_double(st, 3));
		if (!t->last_status || strcmp(t->last_status, status) != 0) {
			free(t->last_status);
			t->last_status = xstrdup(status);
		}
		t->last_started_at = api.sqlite3_column_double(st, 4);
	}
	if (t)
		test_finish(t, &times);
	free(times.v);
	if (rc != SQLITE_DONE)
		db_fail(d, h->db, rc, h->path, "read");
	api.sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

int history_median_all(struct history *h, double *out, bool *found, struct diag *d)
{
	struct test_list tests = {0};
	*found = false;
	if (collect_tests(h, NULL, &tests, d) < 0)
		return -1;
	struct dvec medians = {0};
	for (size_t i = 0; i < tests.n; i++)
		if (timed_runs(&tests.v[i]))
			dvec_push(&medians, tests.v[i].median);
	if (medians.n) {
		qsort(medians.v, medians.n, sizeof(*medians.v), cmp_double);
		*out = median_sorted(medians.v, medians.n);
		*found = true;
	}
	free(medians.v);
	test_list_release(&tests);
	return 0;
}

/* ---- output helpers ---------------------------------------------------- */

/* The length of the valid UTF-8 character at p, 0 when p does not start one. */
static size_t utf8_len(const unsigned char *p)
{
	unsigned c = p[0];
	size_t n;
	uint32_t cp, min;
	if (c >= 0xc2 && c <= 0xdf)
		n = 2, cp = c & 0x1f, min = 0x80;
	else if (c >= 0xe0 && c <= 0xef)
		n = 3, cp = c & 0x0f, min = 0x800;
	else if (c >= 0xf0 && c <= 0xf4)
		n = 4, cp = c & 0x07, min = 0x10000;
	else
		return 0;
	/* The terminating NUL is no continuation byte, so this stops at the end. */
	for (size_t i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (p[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

/* Appends s as a JSON string; bytes that are not UTF-8 become U+FFFD, so the JSON stays valid. */
static void json_str(struct strbuf *sb, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	strbuf_addch(sb, '"');
	while (*p) {
		if (*p >= 0x80) {
			size_t n = utf8_len(p);
			if (n) {
				strbuf_add(sb, p, n);
				p += n;
			} else {
				strbuf_adds(sb, "\\ufffd");
				p++;
			}
			continue;
		}
		switch (*p) {
		case '"':
			strbuf_adds(sb, "\\\"");
			break;
		case '\\':
			strbuf_adds(sb, "\\\\");
			break;
		case '\n':
			strbuf_adds(sb, "\\n");
			break;
		case '\t':
			strbuf_adds(sb, "\\t");
			break;
		default:
			if (*p < 0x20 || *p == 0x7f)
				strbuf_addf(sb, "\\u%04x", *p);
			else
				strbuf_addch(sb, (char)*p);
		}
		p++;
	}
	strbuf_addch(sb, '"');
}

/* Seconds for JSON: to the millisecond, and null for what is not finite. */
static void json_secs(struct strbuf *sb, double s)
{
	if (isfinite(s))
		strbuf_addf(sb, "%.3f", s);
	else
		strbuf_adds(sb, "null");
}

/* A duration for people: 0.42s, 12.3s, 4m05s, 1h02m. */
static void fmt_duration(char *buf, size_t n, double s)
{
	if (!isfinite(s) || s < 0)
		snprintf(buf, n, "?");
	else if (s < 9.995)
		snprintf(buf, n, "%.2fs", s);
	else if (s < 59.95)
		snprintf(buf, n, "%.1fs", s);
	else if (s < 1e9) {
		/* Rounded by hand: gpuci does not link libm for lround(). */
		long r = (long)(s + 0.5);
		if (r < 3600)
			snprintf(buf, n, "%ldm%02lds", r / 60, r % 60);
		else
			snprintf(buf, n, "%ldh%02ldm", r / 3600, r / 60 % 60);
	} else
		snprintf(buf, n, "%.3gs", s);
}

/* Seconds since the epoch as local time, or UTC in ISO 8601 for JSON. */
static void fmt_time(char *buf, size_t n, double t, bool utc)
{
	struct tm tm;
	/* Guarded: converting a double out of time_t's range is undefined. */
	if (!isfinite(t) || t < 0 || t >= 1e12) {
		snprintf(buf, n, "?");
		return;
	}
	time_t tt = (time_t)t;
	if (utc ? !gmtime_r(&tt, &tm) : !localtime_r(&tt, &tm))
		snprintf(buf, n, "?");
	else
		strftime(buf, n, utc ? "%Y-%m-%dT%H:%M:%SZ" : "%Y-%m-%d %H:%M:%S", &tm);
}

/*
 * A text table: cells added row by row, printed with each column as wide
 * as its widest cell, two spaces apart; align has an 'l' or 'r' a column.
 */
struct table {
	size_t ncols;
	const char *align;
	char **cells;
	size_t n, cap;
};

static void table_add(struct table *t, const char *s)
{
	if (t->n == t->cap) {
		t->cap = t->cap ? 2 * t->cap : 64;
		t->cells = xrealloc(t->cells, t->cap * sizeof(*t->cells));
	}
	/* A control character would break the line or the terminal: shown as '?'. */
	char *c = xstrdup(s);
	for (char *p = c; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	t->cells[t->n++] = c;
}

static void table_addf(struct table *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void table_addf(struct table *t, const char *fmt, ...)
{
	struct strbuf sb = STRBUF_INIT;
	va_list ap;
	va_start(ap, fmt);
	strbuf_vaddf(&sb, fmt, ap);
	va_end(ap);
	table_add(t, sb.buf);
	strbuf_release(&sb);
}

/* Columns on a terminal: UTF-8 continuation bytes take none. */
static size_t text_width(const char *s)
{
	size_t w = 0;
	for (; *s; s++)
		w += ((unsigned char)*s & 0xc0) != 0x80;
	return w;
}

static void table_print(const struct table *t, struct strbuf *out)
{
	size_t *width = xcalloc(t->ncols, sizeof(*width));
	for (size_t i = 0; i < t->n; i++) {
		size_t w = text_width(t->cells[i]);
		if (w > width[i % t->ncols])
			width[i % t->ncols] = w;
	}
	for (size_t i = 0; i < t->n; i++) {
		size_t col = i % t->ncols;
		size_t pad = width[col] - text_width(t->cells[i]);
		bool last = col == t->ncols - 1;
		if (t->align[col] == 'r')
			strbuf_addf(out, "%*s", (int)pad, "");
		strbuf_adds(out, t->cells[i]);
		if (last)
			strbuf_addch(out, '\n');
		else
			strbuf_addf(out, "%*s", (int)(t->align[col] == 'r' ? 2 : pad + 2), "");
	}
	free(width);
}

static void table_release(struct table *t)
{
	for (size_t i = 0; i < t->n; i++)
		free(t->cells[i]);
	free(t->cells);
}

/* " of tests matching 'GLOB'" for the closing lines, or "". */
static void add_glob_note(struct strbuf *out, const char *glob)
{
	if (glob)
		strbuf_addf(out, " of tests matching '%s'", glob);
}

/* ---- the views --------------------------------------------------------- */

static const char sql_recent[] =
    "SELECT id, run_id, job, test_file, test_args, gpus, gpu_ids, status, attempt, exit_code,"
    " started_at, duration, log_path, host FROM results"
    " WHERE ?1 IS NULL OR gpuci_test_match(?1, test_file)"
    " ORDER BY id DESC LIMIT ?2";

static const char sql_count[] = "SELECT COUNT(*) FROM results"
                                " WHERE ?1 IS NULL OR gpuci_test_match(?1, test_file)";

/* The number of attempts of the tests matching glob (NULL: all). */
static int count_attempts(struct history *h, const char *glob, size_t *out, struct diag *d)
{
	sqlite3_stmt *st;
	if (prepare(h, sql_count, &st, "read", d) < 0)
		return -1;
	bind_str(st, 1, glob);
	int rc = api.sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*out = (size_t)api.sqlite3_column_int64(st, 0);
	else
		db_fail(d, h->db, rc, h->path, "read");
	api.sqlite3_finalize(st);
	return rc == SQLITE_ROW ? 0 : -1;
}

/* One attempt as a JSON object (the columns of sql_recent). */
static void json_attempt(struct strbuf *out, sqlite3_stmt *st)
{
	char iso[32];
	fmt_time(iso, sizeof(iso), api.sqlite3_column_double(st, 10), true);
	strbuf_addf(out, "{\"id\":%lld,\"run_id\":", (long long)api.sqlite3_column_int64(st, 0));
	json_str(out, col_text(st, 1));
	strbuf_adds(out, ",\"job\":");
	json_str(out, col_text(st, 2));
	strbuf_adds(out, ",\"test_file\":");
	json_str(out, col_text(st, 3));
	strbuf_adds(out, ",\"test_args\":");
	json_str(out, col_text(st, 4));
	strbuf_addf(out, ",\"gpus\":%lld,\"gpu_ids\":", (long long)api.sqlite3_column_int64(st, 5));
	json_str(out, col_text(st, 6));
	strbuf_adds(out, ",\"status\":");
	json_str(out, col_text(st, 7));
	strbuf_addf(out,
	            ",\"attempt\":%lld,\"exit_code\":", (long long)api.sqlite3_column_int64(st, 8));
	if (api.sqlite3_column_type(st, 9) == SQLITE_NULL)
		strbuf_adds(out, "null");
	else
		strbuf_addf(out, "%lld", (long long)api.sqlite3_column_int64(st, 9));
	strbuf_adds(out, ",\"started_at\":");
	json_secs(out, api.sqlite3_column_double(st, 10));
	strbuf_addf(out, ",\"time\":\"%s\",\"duration\":", iso);
	json_secs(out, api.sqlite3_column_double(st, 11));
	strbuf_adds(out, ",\"log_path\":");
	json_str(out, col_text(st, 12));
	strbuf_adds(out, ",\"host\":");
	json_str(out, col_text(st, 13));
	strbuf_addch(out, '}');
}

/* One attempt as a table row: TIME RUN JOB TEST GPUS STATUS TRY DURATION LOG. */
static void row_attempt(struct table *t, sqlite3_stmt *st)
{
	char when[32], took[32];
	fmt_time(when, sizeof(when), api.sqlite3_column_double(st, 10), false);
	fmt_duration(took, sizeof(took), api.sqlite3_column_double(st, 11));
	table_add(t, when);
	table_add(t, col_text(st, 1));
	table_add(t, col_text(st, 2));
	const char *args = col_text(st, 4);
	table_addf(t, "%s%s%s", col_text(st, 3), *args ? " " : "", args);
	long long gpus = api.sqlite3_column_int64(st, 5);
	const char *ids = col_text(st, 6);
	if (*ids)
		table_addf(t, "%lld (%s)", gpus, ids);
	else if (gpus)
		table_addf(t, "%lld", gpus);
	else
		table_add(t, "-");
	table_add(t, col_text(st, 7));
	table_addf(t, "%lld", (long long)api.sqlite3_column_int64(st, 8));
	table_add(t, took);
	table_add(t, col_text(st, 12));
}

static int report_recent(struct history *h, const struct history_query *q, bool json,
                         struct strbuf *out, struct diag *d)
{
	size_t limit = q->limit ? q->limit : DEFAULT_LIMIT, total = 0, shown = 0;
	sqlite3_stmt *st;
	if (!json && count_attempts(h, q->test_glob, &total, d) < 0)
		return -1;
	if (prepare(h, sql_recent, &st, "read", d) < 0)
		return -1;
	bind_str(st, 1, q->test_glob);
	api.sqlite3_bind_int64(st, 2, limit > INT64_MAX ? INT64_MAX : (sqlite3_int64)limit);
	struct table t = {.ncols = 9, .align = "llllllrrl"};
	static const char *const head[] = {"TIME",   "RUN", "JOB",      "TEST", "GPUS",
	                                   "STATUS", "TRY", "DURATION", "LOG"};
	for (size_t i = 0; i < t.ncols && !json; i++)
		table_add(&t, head[i]);
	if (json)
		strbuf_addch(out, '[');
	int rc;
	while ((rc = api.sqlite3_step(st)) == SQLITE_ROW) {
		if (json) {
			strbuf_adds(out, shown ? ",\n  " : "\n  ");
			json_attempt(out, st);
		} else {
			row_attempt(&t, st);
		}
		shown++;
	}
	if (rc != SQLITE_DONE) {
		db_fail(d, h->db, rc, h->path, "read");
	} else if (json) {
		strbuf_adds(out, shown ? "\n]\n" : "]\n");
	} else if (!shown) {
		strbuf_adds(out, "no attempt recorded");
		add_glob_note(out, q->test_glob);
		strbuf_addf(out, " in %s\n", h->path);
	} else {
		table_print(&t, out);
		if (shown < total) {
			strbuf_addf(out, "(the %zu most recent of %zu attempts", shown, total);
			add_glob_note(out, q->test_glob);
			strbuf_adds(out, "; --limit N shows more)\n");
		}
	}
	table_release(&t);
	api.sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

/* One test as a JSON object (see history.h). */
static void json_test(struct strbuf *out, const struct test_stats *s)
{
	strbuf_adds(out, "{\"test_file\":");
	json_str(out, s->test_file);
	strbuf_adds(out, ",\"test_args\":");
	json_str(out, s->test_args);
	strbuf_addf(out, ",\"runs\":%zu,\"passed\":%zu,\"flaky\":%zu,\"failed\":%zu,\"median\":",
	            s->runs, s->passed, s->flaky, s->failed);
	if (timed_runs(s))
		json_secs(out, s->median);
	else
		strbuf_adds(out, "null");
	strbuf_adds(out, ",\"last_status\":");
	json_str(out, s->last_status);
	strbuf_adds(out, ",\"last_started_at\":");
	json_secs(out, s->last_started_at);
	strbuf_addch(out, '}');
}

/* Longest median first; ties by name, so the order is the same every time. */
static int cmp_slowest(const void *a, const void *b)
{
	const struct test_stats *x = a, *y = b;
	if (x->median != y->median)
		return x->median < y->median ? 1 : -1;
	int c = strcmp(x->test_file, y->test_file);
	return c ? c : strcmp(x->test_args, y->test_args);
}

/* Most flaky + failed attempts first, then the most attempts, then by name. */
static int cmp_flaky(const void *a, const void *b)
{
	const struct test_stats *x = a, *y = b;
	size_t bx = x->flaky + x->failed, by = y->flaky + y->failed;
	if (bx != by)
		return bx < by ? 1 : -1;
	if (x->runs != y->runs)
		return x->runs < y->runs ? 1 : -1;
	int c = strcmp(x->test_file, y->test_file);
	return c ? c : strcmp(x->test_args, y->test_args);
}

static bool is_flaky(const struct test_stats *s)
{
	return s->flaky || (s->passed && s->failed);
}

/* --slowest and --flaky: the tests that qualify, sorted, at most max of them. */
static int report_tests(struct history *h, const struct history_query *q, bool json,
                        struct strbuf *out, struct diag *d)
{
	struct test_list all = {0};
	if (collect_tests(h, q->test_glob, &all, d) < 0)
		return -1;
	size_t attempts = 0, kept = 0;
	/* Keep the qualifying tests at the front, in place; release the others. */
	for (size_t i = 0; i < all.n; i++) {
		struct test_stats *s = &all.v[i];
		attempts += s->runs;
		if (q->slowest ? timed_runs(s) > 0 : is_flaky(s)) {
			struct test_stats tmp = all.v[kept];
			all.v[kept++] = *s;
			*s = tmp;
		}
	}
	if (kept > 1)
		qsort(all.v, kept, sizeof(*all.v), q->slowest ? cmp_slowest : cmp_flaky);
	size_t max = q->slowest ? q->slowest : q->limit ? q->limit : DEFAULT_LIMIT;
	size_t shown = kept < max ? kept : max;
	if (json) {
		strbuf_addch(out, '[');
		for (size_t i = 0; i < shown; i++) {
			strbuf_adds(out, i ? ",\n  " : "\n  ");
			json_test(out, &all.v[i]);
		}
		strbuf_adds(out, shown ? "\n]\n" : "]\n");
	} else if (!shown) {
		strbuf_addf(out, "%s among the %zu attempt%s",
		            q->slowest ? "nothing to time: no passed attempt" : "no flaky test",
		            attempts, attempts == 1 ? "" : "s");
		add_glob_note(out, q->test_glob);
		strbuf_addf(out, " in %s\n", h->path);
	} else {
		struct table t = {.ncols = q->slowest ? 5 : 7,
		                  .align = q->slowest ? "llrrl" : "llrrrrl"};
		static const char *const slow_head[] = {"TEST", "ARGS", "RUNS", "MEDIAN", "LAST"};
		static const char *const flaky_head[] = {"TEST",  "ARGS",   "RUNS", "PASSED",
		                                         "FLAKY", "FAILED", "LAST"};
		for (size_t i = 0; i < t.ncols; i++)
			table_add(&t, q->slowest ? slow_head[i] : flaky_head[i]);
		for (size_t i = 0; i < shown; i++) {
			const struct test_stats *s = &all.v[i];
			table_add(&t, s->test_file);
			table_add(&t, *s->test_args ? s->test_args : "-");
			table_addf(&t, "%zu", s->runs);
			if (q->slowest) {
				char took[32];
				fmt_duration(took, sizeof(took), s->median);
				table_add(&t, took);
			} else {
				table_addf(&t, "%zu", s->passed);
				table_addf(&t, "%zu", s->flaky);
				table_addf(&t, "%zu", s->failed);
			}
			table_add(&t, s->last_status);
		}
		table_print(&t, out);
		table_release(&t);
		if (shown < kept) {
			strbuf_addf(out, "(%zu of %zu %s tests", shown, kept,
			            q->slowest ? "timed" : "flaky");
			add_glob_note(out, q->test_glob);
			strbuf_adds(out, q->slowest ? ")\n" : "; --limit N shows more)\n");
		}
	}
	test_list_release(&all);
	return 0;
}

int history_report(struct history *h, const struct history_query *q, bool json, struct strbuf *out,
                   struct diag *d)
{
	if (q->slowest && q->flaky)
		return diag_set(d, DIAG_USAGE,
		                "the slowest and the flaky tests are two views: ask "
		                "for one at a time");
	if (q->slowest || q->flaky)
		return report_tests(h, q, json, out, d);
	return report_recent(h, q, json, out, d);
}
