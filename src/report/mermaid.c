/* The run's timeline as a Mermaid gantt for a step summary; see html.h. */
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/xalloc.h"
#include "report/html.h"

#include "base/banned.h"

static const char *tag(enum report_status s)
{
	switch (s) {
	case REPORT_FLAKY:
		return "active, ";
	case REPORT_FAILED:
	case REPORT_TIMEOUT:
	case REPORT_CRASHED:
		return "crit, ";
	case REPORT_CANCELED:
	case REPORT_NOT_RUNNABLE:
		return "done, ";
	case REPORT_PASSED:
		break;
	}
	return "";
}

/* A task's name: what Mermaid reads as syntax or markup (: ; # % < >) becomes a space. */
static void task_name(struct strbuf *sb, const struct report_run *r, const struct report_attempt *a)
{
	const struct report_case *c = a->test < r->ncases ? &r->cases[a->test] : NULL;
	struct strbuf n = STRBUF_INIT;
	if (c) {
		const char *f = c->test_file ? c->test_file : "", *b = strrchr(f, '/');
		b = b ? b + 1 : f;
		size_t len = strlen(b);
		if (len > 3 && !strcmp(b + len - 3, ".py"))
			len -= 3;
		strbuf_add(&n, b, len);
		if (c->test_args && *c->test_args)
			strbuf_addf(&n, " %s", c->test_args);
	} else {
		strbuf_addf(&n, "test %zu", a->test + 1);
	}
	if (a->attempt > 1)
		strbuf_addf(&n, " (attempt %u)", a->attempt);
	size_t start = sb->len;
	bool space = true; /* no leading space, no runs of them */
	for (size_t i = 0; i < n.len && sb->len - start < 80; i++) {
		unsigned char ch = (unsigned char)n.buf[i];
		if (strchr(":;#%<>", ch) || ch < ' ' || ch == 0x7f)
			ch = ' ';
		if (ch == ' ' && space)
			continue;
		space = ch == ' ';
		strbuf_addch(sb, (char)ch);
	}
	while (sb->len > start && sb->buf[sb->len - 1] == ' ')
		strbuf_setlen(sb, sb->len - 1);
	if (sb->len == start)
		strbuf_adds(sb, "test");
	strbuf_release(&n);
}

static const struct report_attempt *sort_attempts;
static int by_start(const void *pa, const void *pb)
{
	size_t i = *(const size_t *)pa, j = *(const size_t *)pb;
	const struct report_attempt *a = &sort_attempts[i], *b = &sort_attempts[j];
	if (a->start != b->start)
		return a->start < b->start ? -1 : 1;
	return i < j ? -1 : i > j;
}
static int by_length(const void *pa, const void *pb) /* longest first, then start order */
{
	size_t i = *(const size_t *)pa, j = *(const size_t *)pb;
	double di = sort_attempts[i].end - sort_attempts[i].start;
	double dj = sort_attempts[j].end - sort_attempts[j].start;
	if (di != dj)
		return di > dj ? -1 : 1;
	return i < j ? -1 : i > j;
}

static long long ms(double t)
{
	return (long long)llround(t * 1000);
}

void report_mermaid(struct strbuf *out, const struct report_run *r, size_t max)
{
	size_t n = r->nattempts;
	if (!n)
		return;
	struct timeline *t = timeline_new(r->attempts, n, r->gpus, r->started, 0);
	size_t nl = timeline_lanes(t);
	/* place[i]: attempt i's place in start order, its N in aN_K */
	size_t *order = xcalloc(n, sizeof(*order)), *place = xcalloc(n, sizeof(*place));
	for (size_t i = 0; i < n; i++)
		order[i] = i;
	sort_attempts = r->attempts;
	qsort(order, n, sizeof(*order), by_start);
	for (size_t k = 0; k < n; k++)
		place[order[k]] = k;

	/* Each attempt's lines, and what they cost. */
	struct strbuf *lines = xcalloc(n, sizeof(*lines));
	for (size_t i = 0; i < n; i++) {
		const struct report_attempt *a = &r->attempts[i];
		const size_t *lanes;
		size_t k = timeline_attempt_lanes(t, i, &lanes);
		strbuf_init(&lines[i], 0);
		for (size_t j = 0; j < k; j++) {
			strbuf_adds(&lines[i], "    ");
			task_name(&lines[i], r, a);
			strbuf_addf(&lines[i], " :%sa%zu_%zu, %lld, %lld\n", tag(a->status),
			            place[i], lanes[j], ms(a->start), ms(fmax(a->end, a->start)));
		}
	}
	/* Past max, the longest attempts that fit (sections and the frame counted). */
	struct strbuf head = STRBUF_INIT;
	strbuf_addf(&head,
	            "```mermaid\n---\nconfig:\n  gantt:\n    displayMode: compact\n---\ngantt\n"
	            "    title gpuci run %s: GPU timeline\n    dateFormat x\n"
	            "    axisFormat %%H:%%M:%%S\n    todayMarker off\n",
	            r->run_id ? r->run_id : "");
	size_t cost = head.len + 8 + nl * 40 + 200; /* the end, each section line, the last note */
	bool *kept = xcalloc(n, sizeof(*kept));
	size_t nkept = 0;
	for (size_t i = 0; i < n; i++)
		order[i] = i;
	qsort(order, n, sizeof(*order), by_length);
	for (size_t k = 0; k < n; k++) {
		size_t i = order[k];
		if (cost + lines[i].len > max)
			continue;
		cost += lines[i].len;
		kept[i] = true;
		nkept++;
	}
	strbuf_add(out, head.buf, head.len);
	/* By lane, in start order within each. */
	qsort(order, n, sizeof(*order), by_start);
	for (size_t l = 0; l < nl; l++) {
		bool said = false;
		for (size_t k = 0; k < n; k++) {
			size_t i = order[k];
			const size_t *lanes;
			size_t m = timeline_attempt_lanes(t, i, &lanes);
			for (size_t j = 0; j < m && kept[i]; j++) {
				if (lanes[j] != l)
					continue;
				if (!said) {
					char name[96];
					timeline_lane_name(t, l, name, sizeof(name));
					strbuf_addf(out, "    section %s\n", name);
					said = true;
				}
				/* the attempt's line for this lane: its j-th */
				const char *p = lines[i].buf;
				for (size_t q = 0; q < j; q++)
					p = strchr(p, '\n') + 1;
				const char *e = strchr(p, '\n');
				strbuf_add(out, p, (size_t)(e - p) + 1);
			}
		}
	}
	strbuf_adds(out, "```\n\n");
	strbuf_adds(out, "Timeline: one row per GPU; red bars failed (or timed out), blue ones "
	                 "were flaky, grey ones were canceled.");
	if (nkept < n)
		strbuf_addf(out,
		            " The %zu shortest of %zu attempts are left out (Mermaid draws at most "
		            "50 000 characters); the run's report.html has them all.",
		            n - nkept, n);
	strbuf_adds(out, "\n\n");
	for (size_t i = 0; i < n; i++)
		strbuf_release(&lines[i]);
	free(lines);
	free(kept);
	free(order);
	free(place);
	strbuf_release(&head);
	timeline_free(t);
}
