/*
 * sched: longest first with EASY backfilling. See sched.h.
 */
#include <stdlib.h>
#include <string.h>

#include "sched/sched.h"
#include "base/xalloc.h"
#include "base/banned.h"

enum state { PENDING, RUNNING, DONE };

struct sched {
	unsigned total, cpu_slots;
	unsigned used_gpus, used_cpu;
	size_t n;
	struct sched_task *tasks;
	enum state *state;
	double *started;
	size_t *order; /* indexes in priority order */
};

/*
 * Priority orders tried: longest first, most GPU-seconds first, widest
 * first (then longest). Each suits other suites; the best for this one
 * is picked by simulating all of them on the expected durations.
 */
enum order { ORDER_LONGEST, ORDER_AREA, ORDER_WIDEST, NORDERS };

static const struct sched_task *cmp_tasks;
static enum order cmp_order;

static int by_priority(const void *a, const void *b)
{
	size_t i = *(const size_t *)a, j = *(const size_t *)b;
	const struct sched_task *p = &cmp_tasks[i], *q = &cmp_tasks[j];
	double x = p->expected, y = q->expected;
	if (cmp_order == ORDER_AREA) {
		x *= p->gpus ? p->gpus : 1;
		y *= q->gpus ? q->gpus : 1;
	} else if (cmp_order == ORDER_WIDEST && p->gpus != q->gpus) {
		return p->gpus > q->gpus ? -1 : 1;
	}
	if (x != y)
		return x > y ? -1 : 1;
	if (p->gpus != q->gpus) /* wider first among equals */
		return p->gpus > q->gpus ? -1 : 1;
	return i < j ? -1 : i > j;
}

/* The indexes of tasks in one heuristic order (qsort is not stable: the index breaks ties). */
static void heuristic(const struct sched_task *tasks, size_t n, enum order ord, size_t *perm)
{
	for (size_t i = 0; i < n; i++)
		perm[i] = i;
	cmp_tasks = tasks;
	cmp_order = ord;
	qsort(perm, n, sizeof(*perm), by_priority);
	cmp_tasks = NULL;
}

static struct sched *sched_new_perm(unsigned total_gpus, unsigned cpu_slots,
                                    const struct sched_task *tasks, size_t n, const size_t *perm)
{
	struct sched *s = xcalloc(1, sizeof(*s));
	s->total = total_gpus;
	s->cpu_slots = cpu_slots ? cpu_slots : 1;
	s->n = n;
	s->tasks = xcalloc(n ? n : 1, sizeof(*s->tasks));
	if (n)
		memcpy(s->tasks, tasks, n * sizeof(*tasks));
	s->state = xcalloc(n ? n : 1, sizeof(*s->state));
	s->started = xcalloc(n ? n : 1, sizeof(*s->started));
	s->order = xcalloc(n ? n : 1, sizeof(*s->order));
	if (n)
		memcpy(s->order, perm, n * sizeof(*perm));
	return s;
}

static double simulate_perm(unsigned total_gpus, unsigned cpu_slots, const struct sched_task *tasks,
                            const double *actual, size_t n, const size_t *perm);

/*
 * The priority order: the best of the three heuristics on the expected
 * durations, then improved by a bounded local search (swap two tests,
 * keep the swap when the simulated makespan shrinks), stopping at the
 * lower bound. Deterministic: a fixed pseudo-random sequence.
 */
struct sched *sched_new(unsigned total_gpus, unsigned cpu_slots, const struct sched_task *tasks,
                        size_t n)
{
	size_t *best = xcalloc(n ? n : 1, sizeof(*best)), *cand = xcalloc(n ? n : 1, sizeof(*cand));
	heuristic(tasks, n, ORDER_LONGEST, best);
	if (n > 1) {
		double bound = sched_lower_bound(total_gpus, tasks, n);
		double span = simulate_perm(total_gpus, cpu_slots, tasks, NULL, n, best);
		for (int o = 1; o < NORDERS; o++) {
			heuristic(tasks, n, (enum order)o, cand);
			double c = simulate_perm(total_gpus, cpu_slots, tasks, NULL, n, cand);
			if (c < span * (1 - 1e-9)) {
				span = c;
				memcpy(best, cand, n * sizeof(*best));
			}
		}
		/* About 4e5 task-steps of search at most: milliseconds. */
		size_t tries = 400000 / (n * n + 1);
		tries = tries > 1500 ? 1500 : tries;
		unsigned long long rng = 0x9e3779b97f4a7c15ull ^ n;
		for (size_t t = 0; t < tries && span > bound * (1 + 1e-9); t++) {
			memcpy(cand, best, n * sizeof(*cand));
			rng = rng * 6364136223846793005ull + 1442695040888963407ull;
			size_t a = (size_t)(rng >> 33) % n;
			rng = rng * 6364136223846793005ull + 1442695040888963407ull;
			size_t b = (size_t)(rng >> 33) % n;
			size_t x = cand[a];
			cand[a] = cand[b];
			cand[b] = x;
			double c = simulate_perm(total_gpus, cpu_slots, tasks, NULL, n, cand);
			if (c < span * (1 - 1e-9)) {
				span = c;
				memcpy(best, cand, n * sizeof(*best));
			}
		}
	}
	struct sched *s = sched_new_perm(total_gpus, cpu_slots, tasks, n, best);
	free(best);
	free(cand);
	return s;
}

void sched_free(struct sched *s)
{
	if (!s)
		return;
	free(s->tasks);
	free(s->state);
	free(s->started);
	free(s->order);
	free(s);
}

bool sched_runnable(const struct sched *s, size_t i)
{
	return s->tasks[i].gpus <= s->total;
}

/* When a running task is expected to end: never before now. */
static double expected_end(const struct sched *s, size_t i, double now)
{
	double end = s->started[i] + s->tasks[i].expected;
	return end > now ? end : now;
}

/*
 * The head's reservation: the earliest time `need` GPUs are free, assuming
 * running tasks end as expected, and how many GPUs beyond its need are free
 * then.
 */
static void shadow(const struct sched *s, unsigned need, double now, double *when, unsigned *spare)
{
	unsigned free_now = s->total - s->used_gpus;
	if (free_now >= need) {
		*when = now;
		*spare = free_now - need;
		return;
	}
	/* Running GPU tasks by expected end; few, so a simple selection. */
	size_t cnt = 0;
	for (size_t i = 0; i < s->n; i++)
		if (s->state[i] == RUNNING && s->tasks[i].gpus)
			cnt++;
	size_t *run = xcalloc(cnt ? cnt : 1, sizeof(*run));
	size_t k = 0;
	for (size_t i = 0; i < s->n; i++)
		if (s->state[i] == RUNNING && s->tasks[i].gpus)
			run[k++] = i;
	unsigned avail = free_now;
	*when = now;
	for (size_t a = 0; a < cnt && avail < need; a++) {
		size_t best = a;
		for (size_t b = a + 1; b < cnt; b++)
			if (expected_end(s, run[b], now) < expected_end(s, run[best], now))
				best = b;
		size_t t = run[best];
		run[best] = run[a];
		run[a] = t;
		avail += s->tasks[t].gpus;
		*when = expected_end(s, t, now);
	}
	free(run);
	*spare = avail > need ? avail - need : 0;
}

long sched_next(struct sched *s, double now)
{
	/* CPU-only tasks first: they do not compete for GPUs. */
	if (s->used_cpu < s->cpu_slots)
		for (size_t k = 0; k < s->n; k++) {
			size_t i = s->order[k];
			if (s->state[i] == PENDING && s->tasks[i].gpus == 0)
				return (long)i;
		}
	unsigned free_gpus = s->total - s->used_gpus;
	bool head = false;
	double head_at = 0;
	unsigned spare = 0;
	for (size_t k = 0; k < s->n; k++) {
		size_t i = s->order[k];
		const struct sched_task *t = &s->tasks[i];
		if (s->state[i] != PENDING || t->gpus == 0 || t->gpus > s->total)
			continue;
		if (!head) {
			if (t->gpus <= free_gpus)
				return (long)i;
			head = true;
			shadow(s, t->gpus, now, &head_at, &spare);
			continue;
		}
		/* Backfill: fits now, and leaves the head's start alone. */
		if (t->gpus <= free_gpus && (now + t->expected <= head_at || t->gpus <= spare))
			return (long)i;
	}
	return -1;
}

void sched_start(struct sched *s, size_t i, double now)
{
	if (s->state[i] != PENDING)
		return;
	s->state[i] = RUNNING;
	s->started[i] = now;
	if (s->tasks[i].gpus)
		s->used_gpus += s->tasks[i].gpus;
	else
		s->used_cpu++;
}

void sched_done(struct sched *s, size_t i, double now)
{
	(void)now;
	if (s->state[i] != RUNNING)
		return;
	s->state[i] = DONE;
	if (s->tasks[i].gpus)
		s->used_gpus -= s->tasks[i].gpus;
	else
		s->used_cpu--;
}

void sched_requeue(struct sched *s, size_t i)
{
	if (s->state[i] == DONE)
		s->state[i] = PENDING;
}

void sched_drain(struct sched *s)
{
	for (size_t i = 0; i < s->n; i++)
		if (s->state[i] == PENDING)
			s->state[i] = DONE;
}

size_t sched_pending(const struct sched *s)
{
	size_t c = 0;
	for (size_t i = 0; i < s->n; i++)
		c += s->state[i] == PENDING && sched_runnable(s, i);
	return c;
}

size_t sched_running(const struct sched *s)
{
	size_t c = 0;
	for (size_t i = 0; i < s->n; i++)
		c += s->state[i] == RUNNING;
	return c;
}

double sched_simulate(unsigned total_gpus, unsigned cpu_slots, const struct sched_task *tasks,
                      const double *actual, size_t n)
{
	/* The order sched_new picks, played with the true durations. */
	struct sched *probe = sched_new(total_gpus, cpu_slots, tasks, n);
	double span = simulate_perm(total_gpus, cpu_slots, tasks, actual, n, probe->order);
	sched_free(probe);
	return span;
}

double sched_estimate(unsigned total_gpus, unsigned cpu_slots, const struct sched_task *tasks,
                      size_t n)
{
	size_t *perm = xcalloc(n ? n : 1, sizeof(*perm));
	double best = 0;
	for (int o = 0; o < NORDERS; o++) {
		heuristic(tasks, n, (enum order)o, perm);
		double c = simulate_perm(total_gpus, cpu_slots, tasks, NULL, n, perm);
		if (o == 0 || c < best)
			best = c;
	}
	free(perm);
	return best;
}

/* Plays perm from time 0 (as simulate_perm); each task's start into starts when not NULL. */
static double play_perm(unsigned total_gpus, unsigned cpu_slots, const struct sched_task *tasks,
                        const double *actual, size_t n, const size_t *perm, double *starts)
{
	struct sched *s = sched_new_perm(total_gpus, cpu_slots, tasks, n, perm);
	double *end = xcalloc(n ? n : 1, sizeof(*end));
	double now = 0, makespan = 0;
	for (;;) {
		long i;
		while ((i = sched_next(s, now)) >= 0) {
			sched_start(s, (size_t)i, now);
			end[i] = now + (actual ? actual[i] : tasks[i].expected);
			if (starts)
				starts[i] = now;
		}
		/* Advance to the next end. */
		long first = -1;
		for (size_t k = 0; k < n; k++)
			if (s->state[k] == RUNNING && (first < 0 || end[k] < end[first]))
				first = (long)k;
		if (first < 0)
			break;
		now = end[first];
		if (now > makespan)
			makespan = now;
		for (size_t k = 0; k < n; k++)
			if (s->state[k] == RUNNING && end[k] <= now)
				sched_done(s, k, now);
	}
	free(end);
	sched_free(s);
	return makespan;
}

static double simulate_perm(unsigned total_gpus, unsigned cpu_slots, const struct sched_task *tasks,
                            const double *actual, size_t n, const size_t *perm)
{
	return play_perm(total_gpus, cpu_slots, tasks, actual, n, perm, NULL);
}

static const double *cmp_starts;

static int by_start(const void *a, const void *b)
{
	size_t i = *(const size_t *)a, j = *(const size_t *)b;
	if (cmp_starts[i] != cmp_starts[j])
		return cmp_starts[i] < cmp_starts[j] ? -1 : 1;
	return i < j ? -1 : i > j;
}

size_t sched_start_order(const struct sched *s, size_t *out)
{
	double *starts = xcalloc(s->n ? s->n : 1, sizeof(*starts));
	for (size_t i = 0; i < s->n; i++)
		starts[i] = -1;
	play_perm(s->total, s->cpu_slots, s->tasks, NULL, s->n, s->order, starts);
	size_t k = 0;
	for (size_t i = 0; i < s->n; i++)
		if (starts[i] >= 0)
			out[k++] = i;
	cmp_starts = starts;
	qsort(out, k, sizeof(*out), by_start);
	cmp_starts = NULL;
	free(starts);
	return k;
}

double sched_lower_bound(unsigned total_gpus, const struct sched_task *tasks, size_t n)
{
	double area = 0, longest = 0;
	for (size_t i = 0; i < n; i++) {
		if (!tasks[i].gpus || tasks[i].gpus > total_gpus)
			continue;
		area += tasks[i].gpus * tasks[i].expected;
		if (tasks[i].expected > longest)
			longest = tasks[i].expected;
	}
	double b = total_gpus ? area / total_gpus : 0;
	return b > longest ? b : longest;
}
