/*
 * db/history_report: what `gpuci history` shows, and the figures per test
 * (medians, counts) it and the scheduler read. See history.h.
 */
#include "db/history_int.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "base/banned.h"

#define DEFAULT_LIMIT 50

/* ---- per-test figures -------------------------------------------------- */

struct test_list {
	struct test_stats *v;
	size_t n, cap;
};

static void test_list_release(struct test_list *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free(l->v[i].test_file);
		free(l->v[i].test_args);
		free(l->v[i].identity);
		free(l->v[i].variant);
		free(l->v[i].last_status);
	}
	free(l->v);
	*l = (struct test_list){0};
}

static size_t timed_runs(const struct test_stats *t)
{
	return t->passed + t->flaky;
}

static const char sql_tests[] =
    "SELECT test_file, test_args, status, duration, started_at, identity, variant FROM attempts"
    " WHERE ?1 IS NULL OR gpuci_test_match(?1, test_file)"
    " ORDER BY test_file, test_args, identity, id";

/*
 * Every test whose file matches glob (NULL: all) with its counts, median and
 * last attempt, in one pass over the rows grouped by test, in record order
 * within a group, so that the last row of a group is its last attempt: for
 * a file without the tests table (older, read-only).
 */
static int scan_tests(struct history *h, const char *glob, struct test_list *out, struct diag *d)
{
	sqlite3_stmt *st;
	if (history__prepare(h, sql_tests, &st, "read", d) < 0)
		return -1;
	history__bind_str(st, 1, glob);
	struct dvec times = {0};
	struct test_stats *t = NULL;
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *file = history__col_text(st, 0), *args = history__col_text(st, 1);
		const char *status = history__col_text(st, 2);
		const char *identity = history__col_text(st, 5),
		           *variant = history__col_text(st, 6);
		if (!t || strcmp(t->test_file, file) != 0 || strcmp(t->test_args, args) != 0 ||
		    strcmp(t->identity, identity) != 0) {
			if (t)
				history__stats_finish(t, &times);
			if (out->n == out->cap) {
				out->cap = out->cap ? 2 * out->cap : 64;
				out->v = xrealloc(out->v, out->cap * sizeof(*out->v));
			}
			t = &out->v[out->n++];
			*t = (struct test_stats){.test_file = xstrdup(file),
			                         .test_args = xstrdup(args),
			                         .identity = xstrdup(identity)};
		}
		history__stats_add(t, &times, status, sqlite3_column_double(st, 3),
		                   sqlite3_column_double(st, 4), variant);
	}
	if (t)
		history__stats_finish(t, &times);
	free(times.v);
	if (rc != SQLITE_DONE)
		history__fail(d, h->db, rc, h->path, "read");
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

static const char sql_summary[] =
    "SELECT test_file, test_args, identity, variant, runs, passed, flaky, failed, median,"
    " last_status, last_started_at FROM tests"
    " WHERE ?1 IS NULL OR gpuci_test_match(?1, test_file)"
    " ORDER BY test_file, test_args, identity";

/* The same from the tests table: one row a test. */
static int collect_tests(struct history *h, const char *glob, struct test_list *out, struct diag *d)
{
	if (!h->summary)
		return scan_tests(h, glob, out, d);
	sqlite3_stmt *st;
	if (history__prepare(h, sql_summary, &st, "read", d) < 0)
		return -1;
	history__bind_str(st, 1, glob);
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (out->n == out->cap) {
			out->cap = out->cap ? 2 * out->cap : 64;
			out->v = xrealloc(out->v, out->cap * sizeof(*out->v));
		}
		out->v[out->n++] = (struct test_stats){
		    .test_file = xstrdup(history__col_text(st, 0)),
		    .test_args = xstrdup(history__col_text(st, 1)),
		    .identity = xstrdup(history__col_text(st, 2)),
		    .variant = xstrdup(history__col_text(st, 3)),
		    .runs = (size_t)sqlite3_column_int64(st, 4),
		    .passed = (size_t)sqlite3_column_int64(st, 5),
		    .flaky = (size_t)sqlite3_column_int64(st, 6),
		    .failed = (size_t)sqlite3_column_int64(st, 7),
		    .median = sqlite3_column_double(st, 8),
		    .last_status = xstrdup(history__col_text(st, 9)),
		    .last_started_at = sqlite3_column_double(st, 10),
		};
	}
	if (rc != SQLITE_DONE)
		history__fail(d, h->db, rc, h->path, "read");
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

/* history_median_all() for a file without the tests table. */
int history__median_all_scan(struct history *h, double *out, bool *found, struct diag *d)
{
	struct test_list tests = {0};
	*found = false;
	if (scan_tests(h, NULL, &tests, d) < 0)
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
	/* A control character would break the line or the terminal: escaped. */
	struct strbuf sb = STRBUF_INIT;
	strbuf_add_shown(&sb, s);
	t->cells[t->n++] = strbuf_detach(&sb, NULL);
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
    " started_at, duration, log_path, host, identity, variant FROM attempts"
    " WHERE ?1 IS NULL OR gpuci_test_match(?1, test_file)"
    " ORDER BY id DESC LIMIT ?2";

static const char sql_count[] = "SELECT COUNT(*) FROM attempts"
                                " WHERE ?1 IS NULL OR gpuci_test_match(?1, test_file)";
/* The same from the tests table, without reading every attempt. */
static const char sql_count_summary[] = "SELECT COALESCE(SUM(runs), 0) FROM tests"
                                        " WHERE ?1 IS NULL OR gpuci_test_match(?1, test_file)";

/* The number of attempts of the tests matching glob (NULL: all). */
static int count_attempts(struct history *h, const char *glob, size_t *out, struct diag *d)
{
	sqlite3_stmt *st;
	if (history__prepare(h, h->summary ? sql_count_summary : sql_count, &st, "read", d) < 0)
		return -1;
	history__bind_str(st, 1, glob);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*out = (size_t)sqlite3_column_int64(st, 0);
	else
		history__fail(d, h->db, rc, h->path, "read");
	sqlite3_finalize(st);
	return rc == SQLITE_ROW ? 0 : -1;
}

/* One attempt as a JSON object (the columns of sql_recent). */
static void json_attempt(struct strbuf *out, sqlite3_stmt *st)
{
	char iso[32];
	fmt_time(iso, sizeof(iso), sqlite3_column_double(st, 10), true);
	strbuf_addf(out, "{\"id\":%lld,\"run_id\":", (long long)sqlite3_column_int64(st, 0));
	strbuf_add_json_str(out, history__col_text(st, 1));
	strbuf_adds(out, ",\"job\":");
	strbuf_add_json_str(out, history__col_text(st, 2));
	strbuf_adds(out, ",\"test_file\":");
	strbuf_add_json_str(out, history__col_text(st, 3));
	strbuf_adds(out, ",\"test_args\":");
	strbuf_add_json_str(out, history__col_text(st, 4));
	strbuf_addf(out, ",\"gpus\":%lld,\"gpu_ids\":", (long long)sqlite3_column_int64(st, 5));
	strbuf_add_json_str(out, history__col_text(st, 6));
	strbuf_adds(out, ",\"status\":");
	strbuf_add_json_str(out, history__col_text(st, 7));
	strbuf_addf(out,
	            ",\"attempt\":%lld,\"exit_code\":", (long long)sqlite3_column_int64(st, 8));
	if (sqlite3_column_type(st, 9) == SQLITE_NULL)
		strbuf_adds(out, "null");
	else
		strbuf_addf(out, "%lld", (long long)sqlite3_column_int64(st, 9));
	strbuf_adds(out, ",\"started_at\":");
	json_secs(out, sqlite3_column_double(st, 10));
	strbuf_addf(out, ",\"time\":\"%s\",\"duration\":", iso);
	json_secs(out, sqlite3_column_double(st, 11));
	strbuf_adds(out, ",\"log_path\":");
	strbuf_add_json_str(out, history__col_text(st, 12));
	strbuf_adds(out, ",\"host\":");
	strbuf_add_json_str(out, history__col_text(st, 13));
	strbuf_adds(out, ",\"identity\":");
	strbuf_add_json_str(out, history__col_text(st, 14));
	strbuf_adds(out, ",\"variant\":");
	strbuf_add_json_str(out, history__col_text(st, 15));
	strbuf_addch(out, '}');
}

/* One attempt as a table row: TIME RUN JOB TEST GPUS STATUS TRY DURATION LOG. */
static void row_attempt(struct table *t, sqlite3_stmt *st)
{
	char when[32], took[32];
	fmt_time(when, sizeof(when), sqlite3_column_double(st, 10), false);
	fmt_duration(took, sizeof(took), sqlite3_column_double(st, 11));
	table_add(t, when);
	table_add(t, history__col_text(st, 1));
	table_add(t, history__col_text(st, 2));
	const char *args = history__col_text(st, 4), *variant = history__col_text(st, 15);
	table_addf(t, "%s%s%s%s%s", history__col_text(st, 3), *args ? " " : "", args,
	           *variant ? " " : "", variant);
	long long gpus = sqlite3_column_int64(st, 5);
	const char *ids = history__col_text(st, 6);
	if (*ids)
		table_addf(t, "%lld (%s)", gpus, ids);
	else if (gpus)
		table_addf(t, "%lld", gpus);
	else
		table_add(t, "-");
	table_add(t, history__col_text(st, 7));
	table_addf(t, "%lld", (long long)sqlite3_column_int64(st, 8));
	table_add(t, took);
	table_add(t, history__col_text(st, 12));
}

static int report_recent(struct history *h, const struct history_query *q, bool json,
                         struct strbuf *out, struct diag *d)
{
	size_t limit = q->limit ? q->limit : DEFAULT_LIMIT, total = 0, shown = 0;
	sqlite3_stmt *st;
	if (!json && count_attempts(h, q->test_glob, &total, d) < 0)
		return -1;
	if (history__prepare(h, sql_recent, &st, "read", d) < 0)
		return -1;
	history__bind_str(st, 1, q->test_glob);
	sqlite3_bind_int64(st, 2, limit > INT64_MAX ? INT64_MAX : (sqlite3_int64)limit);
	struct table t = {.ncols = 9, .align = "llllllrrl"};
	static const char *const head[] = {"TIME",   "RUN", "JOB",      "TEST", "GPUS",
	                                   "STATUS", "TRY", "DURATION", "LOG"};
	for (size_t i = 0; i < t.ncols && !json; i++)
		table_add(&t, head[i]);
	if (json)
		strbuf_addch(out, '[');
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (json) {
			strbuf_adds(out, shown ? ",\n  " : "\n  ");
			json_attempt(out, st);
		} else {
			row_attempt(&t, st);
		}
		shown++;
	}
	if (rc != SQLITE_DONE) {
		history__fail(d, h->db, rc, h->path, "read");
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
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

/* One test as a JSON object (see history.h). */
static void json_test(struct strbuf *out, const struct test_stats *s)
{
	strbuf_adds(out, "{\"test_file\":");
	strbuf_add_json_str(out, s->test_file);
	strbuf_adds(out, ",\"test_args\":");
	strbuf_add_json_str(out, s->test_args);
	strbuf_adds(out, ",\"identity\":");
	strbuf_add_json_str(out, s->identity);
	strbuf_adds(out, ",\"variant\":");
	strbuf_add_json_str(out, s->variant);
	strbuf_addf(out, ",\"runs\":%zu,\"passed\":%zu,\"flaky\":%zu,\"failed\":%zu,\"median\":",
	            s->runs, s->passed, s->flaky, s->failed);
	if (timed_runs(s))
		json_secs(out, s->median);
	else
		strbuf_adds(out, "null");
	strbuf_adds(out, ",\"last_status\":");
	strbuf_add_json_str(out, s->last_status);
	strbuf_adds(out, ",\"last_started_at\":");
	json_secs(out, s->last_started_at);
	strbuf_addch(out, '}');
}

static int cmp_names(const struct test_stats *x, const struct test_stats *y)
{
	int c = strcmp(x->test_file, y->test_file);
	c = c ? c : strcmp(x->test_args, y->test_args);
	return c ? c : strcmp(x->identity, y->identity);
}

/* Longest median first; ties by name, so the order is the same every time. */
static int cmp_slowest(const void *a, const void *b)
{
	const struct test_stats *x = a, *y = b;
	if (x->median != y->median)
		return x->median < y->median ? 1 : -1;
	return cmp_names(x, y);
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
	return cmp_names(x, y);
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
			table_addf(&t, "%s%s%s", s->test_file, *s->variant ? " " : "", s->variant);
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
