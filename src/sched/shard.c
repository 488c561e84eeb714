/*
 * shard: a suite split into shards of balanced simulated makespan. See shard.h.
 */
#include <stdlib.h>
#include <string.h>

#include "sched/shard.h"
#include "base/xalloc.h"
#include "base/banned.h"

/*
 * What the search may spend. It weighs candidates with sched_estimate()
 * (the simulator without its local search: microseconds), then plays the
 * shards with sched_simulate() (up to milliseconds each) and tries a few
 * more improvements on those figures. Counted in simulations, not time,
 * so the result does not depend on the machine: about a tenth of a second
 * for hundreds of tests, milliseconds for a suite like vime's.
 */
#define SHARD_ESTIMATES 1500
#define SHARD_SIMULATES 12
/* Up to this many tests, the greedy is tried in each of its three orders. */
#define SHARD_MULTI_START 48

/* Float comparisons: strictly better means better by more than this share. */
#define EPS        1e-9
#define EXACT_MAX  14 /* two shards of at most this many tests: every split tried */
#define EXACT_KEEP 32 /* the best splits on estimates, played in full */

struct shard {
	size_t *idx; /* canonical positions, ascending */
	size_t n;
	double span;               /* simulated makespan */
	double gpu_area, cpu_area; /* GPU-seconds; CPU-only seconds */
};

struct split {
	const struct sched_task *t; /* in canonical order */
	size_t n;
	unsigned gpus, nshards;
	struct shard *sh;
	struct sched_task *buf; /* scratch for one shard's tasks */
	bool full;              /* sched_simulate(), else sched_estimate() */
	size_t sims, budget;    /* simulations made, allowed */
};

static const char *const *cmp_keys;

static int by_key(const void *a, const void *b)
{
	size_t i = *(const size_t *)a, j = *(const size_t *)b;
	int c = strcmp(cmp_keys[i], cmp_keys[j]);
	if (c)
		return c;
	return i < j ? -1 : i > j;
}

/* The positions of tasks in key order (ties: index), so input order does not matter. */
static size_t *canonical(const char *const *keys, size_t n)
{
	size_t *perm = xcalloc(n ? n : 1, sizeof(*perm));
	for (size_t i = 0; i < n; i++)
		perm[i] = i;
	cmp_keys = keys;
	qsort(perm, n, sizeof(*perm), by_key);
	cmp_keys = NULL;
	return perm;
}

static double area(const struct sched_task *t)
{
	return t->expected * (t->gpus ? t->gpus : 1);
}

/*
 * The simulated makespan of shard s without task `drop` and with task `add`
 * (each (size_t)-1: none), its tasks in canonical order.
 */
static double simulate(struct split *sp, const struct shard *s, size_t drop, size_t add)
{
	size_t m = 0;
	bool added = add == (size_t)-1;
	for (size_t i = 0; i < s->n; i++) {
		if (!added && add < s->idx[i]) {
			sp->buf[m++] = sp->t[add];
			added = true;
		}
		if (s->idx[i] != drop)
			sp->buf[m++] = sp->t[s->idx[i]];
	}
	if (!added)
		sp->buf[m++] = sp->t[add];
	sp->sims++;
	unsigned slots = sp->gpus ? sp->gpus : 1;
	return sp->full ? sched_simulate(sp->gpus, slots, sp->buf, NULL, m)
	                : sched_estimate(sp->gpus, slots, sp->buf, m);
}

static void shard_add(struct split *sp, struct shard *s, size_t i, double span)
{
	size_t at = s->n;
	while (at > 0 && s->idx[at - 1] > i)
		at--;
	memmove(s->idx + at + 1, s->idx + at, (s->n - at) * sizeof(*s->idx));
	s->idx[at] = i;
	s->n++;
	s->span = span;
	if (sp->t[i].gpus)
		s->gpu_area += area(&sp->t[i]);
	else
		s->cpu_area += area(&sp->t[i]);
}

static void shard_remove(struct split *sp, struct shard *s, size_t i, double span)
{
	size_t at = 0;
	while (at < s->n && s->idx[at] != i)
		at++;
	if (at == s->n)
		return;
	memmove(s->idx + at, s->idx + at + 1, (s->n - at - 1) * sizeof(*s->idx));
	s->n--;
	s->span = span;
	if (sp->t[i].gpus)
		s->gpu_area -= area(&sp->t[i]);
	else
		s->cpu_area -= area(&sp->t[i]);
}

/*
 * What no simulation of shard s less `drop` plus `add` can beat: its
 * longest task, its GPU-seconds and CPU-seconds over G. Used to skip
 * simulations that cannot win.
 */
static double cheap_bound(const struct split *sp, const struct shard *s, size_t drop, size_t add)
{
	double g = s->gpu_area, c = s->cpu_area, longest = 0;
	const struct sched_task *a = &sp->t[add], *d = drop == (size_t)-1 ? NULL : &sp->t[drop];
	*(a->gpus ? &g : &c) += area(a);
	if (d)
		*(d->gpus ? &g : &c) -= area(d);
	for (size_t i = 0; i < s->n; i++)
		if (s->idx[i] != drop && sp->t[s->idx[i]].expected > longest)
			longest = sp->t[s->idx[i]].expected;
	if (a->expected > longest)
		longest = a->expected;
	double slots = sp->gpus ? sp->gpus : 1;
	double b = g / slots > c / slots ? g / slots : c / slots;
	return b > longest ? b : longest;
}

static const struct sched_task *cmp_tasks;

/* The greedy's orders: most GPU-seconds first, longest first, widest first. */
enum order { BY_AREA, BY_LONGEST, BY_WIDEST, NORDERS };
static enum order cmp_order;

/* Most GPU-seconds (or longest, or widest) first, then longest, widest, canonical position. */
static int by_weight(const void *a, const void *b)
{
	size_t i = *(const size_t *)a, j = *(const size_t *)b;
	const struct sched_task *p = &cmp_tasks[i], *q = &cmp_tasks[j];
	if (cmp_order == BY_WIDEST && p->gpus != q->gpus)
		return p->gpus > q->gpus ? -1 : 1;
	double x = area(p), y = area(q);
	if (cmp_order == BY_AREA && x != y)
		return x > y ? -1 : 1;
	if (p->expected != q->expected)
		return p->expected > q->expected ? -1 : 1;
	if (p->gpus != q->gpus)
		return p->gpus > q->gpus ? -1 : 1;
	return i < j ? -1 : i > j;
}

/* Shard indexes by current makespan, then index (insertion sort: few shards, often sorted). */
static void by_span(const struct split *sp, unsigned *ord)
{
	for (unsigned k = 0; k < sp->nshards; k++) {
		unsigned at = k;
		while (at > 0 && sp->sh[ord[at - 1]].span > sp->sh[k].span)
			at--;
		memmove(ord + at + 1, ord + at, (k - at) * sizeof(*ord));
		ord[at] = k;
	}
}

/*
 * Longest processing time first onto the shard whose simulated makespan is
 * the smallest with it, ties to the lower index. Shards are weighed least
 * loaded first; one already as slow as the best so far is not simulated
 * (adding a test does not make a shard faster), nor one whose cheap bound
 * says it cannot win.
 */
static void greedy(struct split *sp, unsigned *of, enum order how)
{
	size_t *order = xcalloc(sp->n ? sp->n : 1, sizeof(*order)), m = 0;
	unsigned *ord = xcalloc(sp->nshards, sizeof(*ord));
	for (size_t i = 0; i < sp->n; i++)
		if (sp->t[i].gpus <= sp->gpus)
			order[m++] = i;
		else
			of[i] = 0; /* runs nowhere: shard 0 reports it */
	cmp_tasks = sp->t;
	cmp_order = how;
	qsort(order, m, sizeof(*order), by_weight);
	cmp_tasks = NULL;
	for (size_t r = 0; r < m; r++) {
		size_t i = order[r];
		double best = 0;
		unsigned at = 0;
		bool have = false, tried_empty = false;
		by_span(sp, ord);
		for (unsigned j = 0; j < sp->nshards; j++) {
			unsigned k = ord[j];
			struct shard *s = &sp->sh[k];
			if (have && s->span >= best * (1 - EPS))
				break; /* this one and all after it */
			if (!s->n && tried_empty)
				continue; /* every empty shard gives the same */
			tried_empty |= !s->n;
			if (have && cheap_bound(sp, s, (size_t)-1, i) >= best * (1 + EPS))
				continue;
			double span = simulate(sp, s, (size_t)-1, i);
			if (!have || span < best * (1 - EPS) ||
			    (span <= best * (1 + EPS) && k < at)) {
				best = span;
				at = k;
				have = true;
			}
		}
		shard_add(sp, &sp->sh[at], i, best);
		of[i] = at;
	}
	free(ord);
	free(order);
}

static unsigned slowest(const struct split *sp)
{
	unsigned c = 0;
	for (unsigned k = 1; k < sp->nshards; k++)
		if (sp->sh[k].span > sp->sh[c].span * (1 + EPS))
			c = k;
	return c;
}

/*
 * One improvement of the slowest shard c: a task moved to another shard,
 * else two tasks swapped, kept when both shards end below c's makespan.
 * Whether one was found.
 */
static bool improve_once(struct split *sp, unsigned *of, unsigned c)
{
	struct shard *sc = &sp->sh[c];
	double top = sc->span;
	for (int swap = 0; swap < 2; swap++)
		for (size_t ai = 0; ai < sc->n; ai++) {
			size_t a = sc->idx[ai];
			for (unsigned k = 0; k < sp->nshards; k++) {
				struct shard *sb = &sp->sh[k];
				if (k == c)
					continue;
				for (size_t xi = 0; xi < (swap ? sb->n : 1); xi++) {
					size_t x = swap ? sb->idx[xi] : (size_t)-1;
					if (sp->sims >= sp->budget)
						return false;
					/* A swap for a heavier task leaves c no lighter. */
					if (swap && area(&sp->t[x]) >= area(&sp->t[a]))
						continue;
					if (cheap_bound(sp, sb, x, a) >= top * (1 - EPS))
						continue;
					double nb = simulate(sp, sb, x, a);
					if (nb >= top * (1 - EPS))
						continue;
					double nc = simulate(sp, sc, a, x);
					if (nc >= top * (1 - EPS))
						continue;
					shard_remove(sp, sc, a, nc);
					if (swap) {
						shard_remove(sp, sb, x, nb);
						shard_add(sp, sc, x, nc);
						of[x] = c;
					}
					shard_add(sp, sb, a, nb);
					of[a] = k;
					return true;
				}
			}
		}
	return false;
}

/* One try: the greedy in one order, improved on estimates, then on simulations. */
static double one_try(struct split *sp, unsigned *of, enum order ord, double bound)
{
	for (unsigned k = 0; k < sp->nshards; k++)
		sp->sh[k] = (struct shard){.idx = sp->sh[k].idx};
	greedy(sp, of, ord);
	for (int phase = 0; phase < 2; phase++) {
		sp->full = phase == 1;
		sp->sims = 0;
		sp->budget = sp->full ? SHARD_SIMULATES : SHARD_ESTIMATES;
		for (unsigned k = 0; sp->full && k < sp->nshards; k++)
			sp->sh[k].span =
			    sp->sh[k].n ? simulate(sp, &sp->sh[k], (size_t)-1, (size_t)-1) : 0;
		sp->sims = 0;
		for (;;) {
			unsigned c = slowest(sp);
			if (sp->sh[c].span <= bound * (1 + EPS) || !improve_once(sp, of, c))
				break;
		}
	}
	return sp->sh[slowest(sp)].span;
}

/*
 * Shards 0 and 1 made of the runnable tasks r[0..m): r[0] in shard 0,
 * r[j] in shard bit j-1 of mask; with full, their makespans simulated.
 */
static void split_two(struct split *sp, const size_t *r, size_t m, uint32_t mask, bool full)
{
	for (unsigned k = 0; k < 2; k++)
		sp->sh[k] = (struct shard){.idx = sp->sh[k].idx};
	for (size_t j = 0; j < m; j++)
		shard_add(sp, &sp->sh[j && (mask >> (j - 1) & 1) ? 1 : 0], r[j], 0);
	sp->full = full;
	for (unsigned k = 0; full && k < 2; k++)
		sp->sh[k].span = sp->sh[k].n ? simulate(sp, &sp->sh[k], (size_t)-1, (size_t)-1) : 0;
}

/*
 * Two shards of at most EXACT_MAX runnable tasks: every split (the first
 * task in shard 0, the others either way; 2^13 for 14 tests) weighed on
 * estimates, a shard skipped when its cheap bound cannot beat the best so
 * far; the EXACT_KEEP best played in full, the best of those kept. Its
 * slowest shard's simulated makespan and the split in of; -1 when the
 * suite is too large for it.
 */
static double exact_two(struct split *sp, unsigned *of)
{
	size_t r[EXACT_MAX], m = 0;
	for (size_t i = 0; i < sp->n; i++) {
		if (sp->t[i].gpus > sp->gpus)
			continue;
		if (m == EXACT_MAX)
			return -1;
		r[m++] = i;
	}
	if (m < 2)
		return -1;
	/* The EXACT_KEEP best splits on estimates, best first (ties: the lower mask). */
	uint32_t keep[EXACT_KEEP];
	double kept[EXACT_KEEP];
	size_t nkeep = 0;
	for (uint32_t mask = 0; mask < (UINT32_C(1) << (m - 1)); mask++) {
		split_two(sp, r, m, mask, false);
		double worst = nkeep == EXACT_KEEP ? kept[nkeep - 1] : -1, top = 0;
		bool lost = false;
		for (unsigned k = 0; k < 2 && !lost; k++) {
			struct shard *sh = &sp->sh[k];
			if (!sh->n)
				continue;
			/* Its own cheap bound: less its last task, plus it again. */
			size_t last = sh->idx[sh->n - 1];
			if (worst >= 0 && cheap_bound(sp, sh, last, last) >= worst * (1 - EPS)) {
				lost = true;
				break;
			}
			double span = simulate(sp, sh, (size_t)-1, (size_t)-1);
			if (span > top)
				top = span;
			lost = worst >= 0 && top >= worst * (1 - EPS);
		}
		if (lost)
			continue;
		size_t at = nkeep < EXACT_KEEP ? nkeep++ : EXACT_KEEP - 1;
		while (at > 0 && kept[at - 1] > top * (1 + EPS)) {
			kept[at] = kept[at - 1];
			keep[at] = keep[at - 1];
			at--;
		}
		kept[at] = top;
		keep[at] = mask;
	}
	/* Those played in full: the best of them (ties: the better estimate). */
	double best = -1;
	uint32_t best_mask = 0;
	for (size_t j = 0; j < nkeep; j++) {
		split_two(sp, r, m, keep[j], true);
		double top = sp->sh[0].span > sp->sh[1].span ? sp->sh[0].span : sp->sh[1].span;
		if (best < 0 || top < best * (1 - EPS)) {
			best = top;
			best_mask = keep[j];
		}
	}
	split_two(sp, r, m, best_mask, true);
	for (size_t i = 0; i < sp->n; i++)
		of[i] = 0; /* the wide ones too: shard 0 reports them */
	for (size_t j = 1; j < m; j++)
		of[r[j]] = best_mask >> (j - 1) & 1;
	return best;
}

void shard_split(const struct sched_task *tasks, const char *const *keys, size_t n,
                 unsigned nshards, unsigned gpus, unsigned *shard_of, double *makespan)
{
	if (nshards == 0)
		nshards = 1;
	size_t *perm = canonical(keys, n);
	struct sched_task *ct = xcalloc(n ? n : 1, sizeof(*ct));
	for (size_t i = 0; i < n; i++)
		ct[i] = tasks[perm[i]];
	struct split sp = {.t = ct, .n = n, .gpus = gpus, .nshards = nshards};
	sp.sh = xcalloc(nshards, sizeof(*sp.sh));
	for (unsigned k = 0; k < nshards; k++)
		sp.sh[k].idx = xcalloc(n ? n : 1, sizeof(*sp.sh[k].idx));
	sp.buf = xcalloc(n + 1, sizeof(*sp.buf));
	unsigned *of = xcalloc(n ? n : 1, sizeof(*of)), *best = xcalloc(n ? n : 1, sizeof(*best));
	double *spans = xcalloc(nshards, sizeof(*spans)), top = 0;
	double bound = shard_lower_bound(ct, n, nshards, gpus);

	/*
	 * The best of the three orders (the first on ties), as sched_new picks
	 * its order; on suites of many tests, where each try costs more and the
	 * first is the best nearly always, the first alone.
	 */
	int tries = n <= SHARD_MULTI_START ? NORDERS : 1;
	for (int o = 0; o < tries; o++) {
		double t = one_try(&sp, of, (enum order)o, bound);
		if (o == 0 || t < top * (1 - EPS)) {
			top = t;
			memcpy(best, of, (n ? n : 1) * sizeof(*best));
			for (unsigned k = 0; k < nshards; k++)
				spans[k] = sp.sh[k].span;
		}
		if (top <= bound * (1 + EPS))
			break;
	}
	/* Two machines and a few tests: the best split there is, when it is better. */
	if (nshards == 2 && top > bound * (1 + EPS)) {
		double t = exact_two(&sp, of);
		if (t >= 0 && t < top * (1 - EPS)) {
			memcpy(best, of, (n ? n : 1) * sizeof(*best));
			for (unsigned k = 0; k < nshards; k++)
				spans[k] = sp.sh[k].span;
		}
	}

	for (size_t i = 0; i < n; i++)
		shard_of[perm[i]] = best[i];
	for (unsigned k = 0; makespan && k < nshards; k++)
		makespan[k] = spans[k];
	for (unsigned k = 0; k < nshards; k++)
		free(sp.sh[k].idx);
	free(sp.sh);
	free(sp.buf);
	free(of);
	free(best);
	free(spans);
	free(ct);
	free(perm);
}

double shard_lower_bound(const struct sched_task *tasks, size_t n, unsigned nshards, unsigned gpus)
{
	double gpu_area = 0, longest = 0;
	for (size_t i = 0; i < n; i++) {
		if (tasks[i].gpus > gpus)
			continue;
		gpu_area += tasks[i].gpus * tasks[i].expected;
		if (tasks[i].expected > longest)
			longest = tasks[i].expected;
	}
	double cap = (double)(nshards ? nshards : 1) * (gpus ? gpus : 1);
	return gpu_area / cap > longest ? gpu_area / cap : longest;
}

/* FNV-1a, 64 bits. */
static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
	const unsigned char *b = p;
	for (size_t i = 0; i < n; i++) {
		h ^= b[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

static uint64_t fnv_u32(uint64_t h, uint32_t v)
{
	unsigned char b[4] = {(unsigned char)v, (unsigned char)(v >> 8), (unsigned char)(v >> 16),
	                      (unsigned char)(v >> 24)};
	return fnv(h, b, sizeof(b));
}

uint32_t shard_digest(const char *const *keys, const unsigned *shard_of, size_t n, unsigned nshards)
{
	static const char tag[] = "gpuci shard 1";
	size_t *perm = canonical(keys, n);
	uint64_t h = fnv(0xcbf29ce484222325ull, tag, sizeof(tag));
	h = fnv_u32(h, nshards);
	for (size_t r = 0; r < n; r++) {
		size_t i = perm[r];
		h = fnv(h, keys[i], strlen(keys[i]) + 1);
		h = fnv_u32(h, shard_of[i]);
	}
	free(perm);
	return (uint32_t)(h >> 32) ^ (uint32_t)h;
}

/* A decimal number of at most 9 digits at *p; false when there is none. */
static bool number(const char **p, unsigned *out)
{
	unsigned v = 0, digits = 0;
	while (**p >= '0' && **p <= '9' && digits < 10) {
		v = v * 10 + (unsigned)(**p - '0');
		(*p)++;
		digits++;
	}
	*out = v;
	return digits > 0 && digits < 10;
}

static int hexval(char c)
{
	return c >= '0' && c <= '9'   ? c - '0'
	       : c >= 'a' && c <= 'f' ? c - 'a' + 10
	       : c >= 'A' && c <= 'F' ? c - 'A' + 10
	                              : -1;
}

int shard_parse(const char *s, struct shard_spec *out, struct diag *d)
{
	static const char form[] = "K/N (shard K of N, as 2/4) or K/N@DIGEST as gpuci plan "
	                           "--shards writes it";
	const char *p = s;
	*out = (struct shard_spec){0};
	if (!number(&p, &out->k) || *p++ != '/' || !number(&p, &out->n) || (*p && *p != '@'))
		return diag_set(d, DIAG_USAGE, "--shard '%s': expected %s", s, form);
	if (*p == '@') {
		p++;
		uint32_t v = 0;
		size_t len = 0;
		for (; len < 9 && hexval(p[len]) >= 0; len++)
			v = v << 4 | (uint32_t)hexval(p[len]);
		if (len != 8 || p[len])
			return diag_set(
			    d, DIAG_USAGE,
			    "--shard '%s': the digest after @ is 8 hex digits, as gpuci "
			    "plan --shards writes it",
			    s);
		out->has_digest = true;
		out->digest = v;
	}
	if (out->n == 0 || out->n > SHARD_MAX)
		return diag_set(d, DIAG_USAGE,
		                "--shard '%s': N is the number of shards, 1 to %d (GitHub's limit "
		                "of jobs in a matrix)",
		                s, SHARD_MAX);
	if (out->k == 0 || out->k > out->n)
		return diag_set(
		    d, DIAG_USAGE,
		    "--shard '%s': K is the shard, from 1 to N (%u): shards count from 1", s,
		    out->n);
	return 0;
}
