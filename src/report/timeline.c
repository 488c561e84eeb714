#include "report/timeline.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/xalloc.h"

#include "base/banned.h"

struct timeline {
	struct timeline_lane *lanes;
	size_t nlanes;
	size_t *lane_of; /* every attempt's lanes, one after another */
	size_t *first;   /* attempt i's are lane_of[first[i] .. first[i + 1]) */
	double t0, t1, pxps, width;
};

static const char *node_of(const struct report_attempt *a)
{
	return a->node ? a->node : "";
}

/* Appends the ids of "0,1,3" (numbers only) to ids; returns how many. */
static size_t parse_ids(const char *s, unsigned *ids, size_t max)
{
	size_t n = 0;
	while (s && *s && n < max) {
		char *end;
		unsigned long v = strtoul(s, &end, 10);
		if (end != s && (*end == ',' || !*end) && v < 1u << 20 && *s >= '0' && *s <= '9')
			ids[n++] = (unsigned)v;
		s = strchr(s, ',');
		s = s ? s + 1 : NULL;
	}
	return n;
}

static int lane_cmp(const void *pa, const void *pb)
{
	const struct timeline_lane *a = pa, *b = pb;
	if (a->kind != b->kind)
		return (int)a->kind - (int)b->kind;
	bool la = !*a->node, lb = !*b->node; /* this machine first */
	if (la != lb)
		return la ? -1 : 1;
	int c = strcmp(a->node, b->node);
	if (c)
		return c;
	return a->gpu < b->gpu ? -1 : a->gpu > b->gpu;
}

static size_t find_lane(const struct timeline *t, enum timeline_lane_kind kind, const char *node,
                        unsigned gpu)
{
	struct timeline_lane key = {kind, node, gpu};
	const struct timeline_lane *l =
	    bsearch(&key, t->lanes, t->nlanes, sizeof(*t->lanes), lane_cmp);
	return l ? (size_t)(l - t->lanes) : (size_t)-1;
}

static void add_lane(struct timeline_lane **v, size_t *n, size_t *cap, enum timeline_lane_kind kind,
                     const char *node, unsigned gpu)
{
	if (*n == *cap) {
		*cap = *cap ? *cap * 2 : 16;
		*v = xrealloc(*v, *cap * sizeof(**v));
	}
	(*v)[(*n)++] = (struct timeline_lane){kind, node, gpu};
}

/* The GPU lanes: this machine's 0..gpus-1, each node's 0..max(seen, gpus-1). */
static void gpu_lanes(struct timeline *t, const struct report_attempt *a, size_t n, unsigned gpus,
                      size_t *cap)
{
	/* This machine's lanes, unless every attempt ran on a cluster's node. */
	bool here = !n;
	for (size_t i = 0; i < n && !here; i++)
		here = !*node_of(&a[i]);
	for (unsigned g = 0; here && g < gpus; g++)
		add_lane(&t->lanes, &t->nlanes, cap, TIMELINE_GPU, "", g);
	for (size_t i = 0; i < n; i++) {
		unsigned ids[256];
		size_t k = parse_ids(a[i].gpu_ids, ids, 256);
		for (size_t j = 0; j < k; j++) {
			bool have = false;
			for (size_t l = 0; l < t->nlanes && !have; l++)
				have = !strcmp(t->lanes[l].node, node_of(&a[i])) &&
				       t->lanes[l].gpu == ids[j];
			if (have)
				continue;
			/* a node's lanes: every id up to this one, and the machine's width */
			unsigned top = ids[j] + 1 > gpus ? ids[j] + 1 : gpus;
			for (unsigned g = 0; g < top; g++) {
				bool h = false;
				for (size_t l = 0; l < t->nlanes && !h; l++)
					h = !strcmp(t->lanes[l].node, node_of(&a[i])) &&
					    t->lanes[l].gpu == g;
				if (!h)
					add_lane(&t->lanes, &t->nlanes, cap, TIMELINE_GPU,
					         node_of(&a[i]), g);
			}
		}
	}
}

/* qsort() has no argument for its comparison: the attempts being packed. */
static const struct report_attempt *pack_base;
static const size_t *pack_which;

static int by_start(const void *pa, const void *pb)
{
	size_t i = *(const size_t *)pa, j = *(const size_t *)pb;
	const struct report_attempt *a = &pack_base[pack_which[i]], *b = &pack_base[pack_which[j]];
	if (a->start != b->start)
		return a->start < b->start ? -1 : 1;
	return i < j ? -1 : i > j;
}

/*
 * First-fit rows for the attempts a[which[0..m)] (row[j] from 1, for
 * which[j]): the fewest rows in which none overlaps another. Returns how
 * many rows.
 */
static unsigned pack_rows(const struct report_attempt *a, const size_t *which, size_t m,
                          unsigned *row)
{
	size_t *order = xcalloc(m ? m : 1, sizeof(*order));
	for (size_t j = 0; j < m; j++)
		order[j] = j;
	pack_base = a;
	pack_which = which;
	qsort(order, m, sizeof(*order), by_start);
	double *free_at = xcalloc(m ? m : 1, sizeof(*free_at));
	unsigned rows = 0;
	for (size_t k = 0; k < m; k++) {
		const struct report_attempt *x = &a[which[order[k]]];
		unsigned r = 0;
		while (r < rows && free_at[r] > x->start)
			r++;
		if (r == rows)
			rows++;
		free_at[r] = x->end > x->start ? x->end : x->start;
		row[order[k]] = r + 1;
	}
	free(order);
	free(free_at);
	return rows;
}

static int cmp_double(const void *pa, const void *pb)
{
	double a = *(const double *)pa, b = *(const double *)pb;
	return a < b ? -1 : a > b;
}

struct timeline *timeline_new(const struct report_attempt *a, size_t n, unsigned gpus, double t0,
                              double t1)
{
	struct timeline *t = xcalloc(1, sizeof(*t));
	size_t cap = 0;
	gpu_lanes(t, a, n, gpus, &cap);

	/* Attempts of no GPU lane: of no GPU (CPU rows) or of GPUs never named ("GPU ?"). */
	size_t *cpu = xcalloc(n ? n : 1, sizeof(*cpu)), *unk = xcalloc(n ? n : 1, sizeof(*unk));
	size_t ncpu = 0, nunk = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned ids[256];
		if (parse_ids(a[i].gpu_ids, ids, 256))
			continue;
		if (a[i].gpus)
			unk[nunk++] = i;
		else
			cpu[ncpu++] = i;
	}
	unsigned *cpu_row = xcalloc(ncpu ? ncpu : 1, sizeof(*cpu_row));
	unsigned *unk_row = xcalloc(nunk ? nunk : 1, sizeof(*unk_row));
	unsigned ncr = pack_rows(a, cpu, ncpu, cpu_row), nur = pack_rows(a, unk, nunk, unk_row);
	for (unsigned r = 1; r <= ncr; r++)
		add_lane(&t->lanes, &t->nlanes, &cap, TIMELINE_CPU, "", r);
	for (unsigned r = 1; r <= nur; r++)
		add_lane(&t->lanes, &t->nlanes, &cap, TIMELINE_UNKNOWN, "", r);
	if (t->nlanes)
		qsort(t->lanes, t->nlanes, sizeof(*t->lanes), lane_cmp);

	/* Each attempt's lanes. */
	size_t total = 0;
	t->first = xcalloc(n + 1, sizeof(*t->first));
	for (size_t i = 0; i < n; i++) {
		unsigned ids[256];
		size_t k = parse_ids(a[i].gpu_ids, ids, 256);
		total += k ? k : 1;
	}
	t->lane_of = xcalloc(total ? total : 1, sizeof(*t->lane_of));
	size_t at = 0, ic = 0, iu = 0;
	for (size_t i = 0; i < n; i++) {
		t->first[i] = at;
		unsigned ids[256];
		size_t k = parse_ids(a[i].gpu_ids, ids, 256);
		for (size_t j = 0; j < k; j++) {
			size_t l = find_lane(t, TIMELINE_GPU, node_of(&a[i]), ids[j]);
			bool dup = false;
			for (size_t q = t->first[i]; q < at; q++)
				dup |= t->lane_of[q] == l;
			if (l != (size_t)-1 && !dup)
				t->lane_of[at++] = l;
		}
		if (!k && a[i].gpus)
			t->lane_of[at++] = find_lane(t, TIMELINE_UNKNOWN, "", unk_row[iu++]);
		else if (!k)
			t->lane_of[at++] = find_lane(t, TIMELINE_CPU, "", cpu_row[ic++]);
		/* sorted, for callers that walk them top to bottom */
		for (size_t p = t->first[i] + 1; p < at; p++)
			for (size_t q = p; q > t->first[i] && t->lane_of[q - 1] > t->lane_of[q];
			     q--) {
				size_t s = t->lane_of[q];
				t->lane_of[q] = t->lane_of[q - 1];
				t->lane_of[q - 1] = s;
			}
	}
	t->first[n] = at;
	free(cpu);
	free(unk);
	free(cpu_row);
	free(unk_row);

	/* The time scale. */
	if (!(t1 > t0) && n) {
		double lo = INFINITY, hi = -INFINITY;
		for (size_t i = 0; i < n; i++) {
			lo = fmin(lo, a[i].start);
			hi = fmax(hi, fmax(a[i].end, a[i].start));
		}
		t0 = t0 > 0 ? fmin(t0, lo) : lo;
		t1 = hi;
	}
	if (!(t1 > t0))
		t1 = t0 + 1;
	t->t0 = t0;
	t->t1 = t1;
	double span = t1 - t0, *d = xcalloc(n ? n : 1, sizeof(*d));
	size_t nd = 0;
	for (size_t i = 0; i < n; i++)
		if (a[i].end > a[i].start)
			d[nd++] = a[i].end - a[i].start;
	qsort(d, nd, sizeof(*d), cmp_double);
	double median = !nd ? 0 : nd % 2 ? d[nd / 2] : (d[nd / 2 - 1] + d[nd / 2]) / 2;
	free(d);
	double w = TIMELINE_MIN_WIDTH;
	if (median > 0)
		w = fmax(w, span / median * TIMELINE_MEDIAN_PX);
	t->width = fmin(w, TIMELINE_MAX_WIDTH);
	t->pxps = t->width / span;
	return t;
}

void timeline_free(struct timeline *t)
{
	if (!t)
		return;
	free(t->lanes);
	free(t->lane_of);
	free(t->first);
	free(t);
}

size_t timeline_lanes(const struct timeline *t)
{
	return t->nlanes;
}

const struct timeline_lane *timeline_lane(const struct timeline *t, size_t k)
{
	if (k >= t->nlanes)
		BUG("timeline_lane(%zu) of %zu", k, t->nlanes);
	return &t->lanes[k];
}

void timeline_lane_name(const struct timeline *t, size_t k, char *buf, size_t size)
{
	const struct timeline_lane *l = timeline_lane(t, k);
	switch (l->kind) {
	case TIMELINE_GPU:
		snprintf(buf, size, "%s%sGPU %u", l->node, *l->node ? " " : "", l->gpu);
		break;
	case TIMELINE_CPU:
		snprintf(buf, size, "CPU %u", l->gpu);
		break;
	case TIMELINE_UNKNOWN:
		snprintf(buf, size, "GPU ? %u", l->gpu);
		break;
	}
}

size_t timeline_attempt_lanes(const struct timeline *t, size_t i, const size_t **lanes)
{
	*lanes = t->lane_of + t->first[i];
	return t->first[i + 1] - t->first[i];
}

double timeline_t0(const struct timeline *t)
{
	return t->t0;
}

double timeline_t1(const struct timeline *t)
{
	return t->t1;
}

double timeline_pxps(const struct timeline *t)
{
	return t->pxps;
}

double timeline_width(const struct timeline *t)
{
	return t->width;
}

double timeline_tick_step(double pxps, double min_px)
{
	static const double steps[] = {0.1, 0.2, 0.5, 1,   2,    5,    10,   15,    30,   60,
	                               120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600};
	size_t n = sizeof(steps) / sizeof(steps[0]);
	for (size_t i = 0; i < n; i++)
		if (steps[i] * pxps >= min_px)
			return steps[i];
	return steps[n - 1];
}

size_t timeline_label_fit(double width_px, double char_px, double pad_px, size_t len)
{
	if (!(char_px > 0))
		return 0;
	double room = (width_px - 2 * pad_px) / char_px;
	if (!(room >= 3))
		return 0;
	return room >= (double)len ? len : (size_t)room;
}

double timeline_busy(const struct report_attempt *a, size_t n, double t0, double t1)
{
	double busy = 0;
	for (size_t i = 0; i < n; i++) {
		double s = a[i].start, e = a[i].end;
		if (t1 > t0) {
			s = fmax(s, t0);
			e = fmin(e, t1);
		}
		if (e > s)
			busy += (e - s) * a[i].gpus;
	}
	return busy;
}

double timeline_bound(const struct report_attempt *a, size_t n, unsigned gpus)
{
	double chain = 0;
	for (size_t i = 0; i < n; i++) {
		double c = 0;
		for (size_t j = 0; j < n; j++)
			if (a[j].test == a[i].test && a[j].end > a[j].start)
				c += a[j].end - a[j].start;
		chain = fmax(chain, c);
	}
	double busy = timeline_busy(a, n, 0, 0);
	return gpus ? fmax(chain, busy / gpus) : chain;
}
