/*
 * db/history_trends: each test's attempts over a window of time, with its
 * counts and durations there, for the trends page of `gpuci report
 * --history` (see history.h).
 */
#include "db/history_int.h"

#include <string.h>

#include "base/banned.h"

/*
 * The window through results_started, grouped by test in memory's sort;
 * within a test in time order, record order between attempts that
 * started at once.
 */
static const char sql_trends[] =
    "SELECT test_file, test_args, identity, variant, status, duration, started_at, run_id"
    " FROM attempts WHERE started_at >= ?2"
    " AND (?1 IS NULL OR gpuci_test_match(?1, test_file))"
    " ORDER BY test_file, test_args, identity, started_at, id";

static void trend_release(struct history_trend *t)
{
	free(t->test_file);
	free(t->test_args);
	free(t->identity);
	free(t->variant);
	for (size_t i = 0; i < t->npoints; i++) {
		free(t->points[i].status);
		free(t->points[i].run_id);
	}
	free(t->points);
}

void history_trends_free(struct history_trend *t, size_t n)
{
	for (size_t i = 0; i < n; i++)
		trend_release(&t[i]);
	free(t);
}

/* The counts, median and p90 of t from its attempts (times: their passed/flaky durations). */
static void trend_finish(struct history_trend *t, struct test_stats *s, struct dvec *times)
{
	t->runs = s->runs;
	t->passed = s->passed;
	t->flaky = s->flaky;
	t->failed = s->failed;
	t->variant = s->variant ? s->variant : xstrdup("");
	free(s->last_status);
	*s = (struct test_stats){0};
	if (times->n) {
		qsort(times->v, times->n, sizeof(*times->v), cmp_double);
		t->timed = true;
		t->median = median_sorted(times->v, times->n);
		/* Nearest rank, as history_p90(). */
		size_t rank = (size_t)(0.9 * (double)times->n + 0.999999);
		t->p90 = times->v[rank ? rank - 1 : 0];
	}
	times->n = 0;
}

int history_trends(struct history *h, const char *test_glob, double since,
                   struct history_trend **out, size_t *n, struct diag *d)
{
	*out = NULL;
	*n = 0;
	sqlite3_stmt *st;
	if (history__prepare(h, sql_trends, &st, "read", d) < 0)
		return -1;
	history__bind_str(st, 1, test_glob);
	sqlite3_bind_double(st, 2, since);
	struct history_trend *v = NULL, *t = NULL;
	size_t len = 0, cap = 0, pcap = 0;
	struct test_stats s = {0};
	struct dvec times = {0};
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *file = history__col_text(st, 0), *args = history__col_text(st, 1);
		const char *identity = history__col_text(st, 2);
		if (!t || strcmp(t->test_file, file) != 0 || strcmp(t->test_args, args) != 0 ||
		    strcmp(t->identity, identity) != 0) {
			if (t)
				trend_finish(t, &s, &times);
			if (len == cap) {
				cap = cap ? 2 * cap : 64;
				v = xrealloc(v, cap * sizeof(*v));
			}
			t = &v[len++];
			*t = (struct history_trend){.test_file = xstrdup(file),
			                            .test_args = xstrdup(args),
			                            .identity = xstrdup(identity)};
			pcap = 0;
		}
		const char *status = history__col_text(st, 4);
		double duration = sqlite3_column_double(st, 5);
		double started = sqlite3_column_double(st, 6);
		history__stats_add(&s, &times, status, duration, started, history__col_text(st, 3));
		if (t->npoints == pcap) {
			pcap = pcap ? 2 * pcap : 16;
			t->points = xrealloc(t->points, pcap * sizeof(*t->points));
		}
		t->points[t->npoints++] = (struct history_trend_point){
		    .started_at = started,
		    .duration = duration,
		    .status = xstrdup(status),
		    .run_id = xstrdup(history__col_text(st, 7)),
		};
	}
	if (t)
		trend_finish(t, &s, &times);
	sqlite3_finalize(st);
	free(times.v);
	if (rc != SQLITE_DONE) {
		free(s.variant);
		free(s.last_status);
		history_trends_free(v, len);
		return history__fail(d, h->db, rc, h->path, "read");
	}
	*out = v;
	*n = len;
	return 0;
}
