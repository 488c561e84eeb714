/*
 * sched: which test starts next on a machine of G GPUs and C CPU slots.
 *
 * A priority order, with EASY backfilling: walking the pending tests in
 * that order, each that fits the free GPUs starts; the first that
 * does not fit becomes the head and gets a reservation at the earliest
 * time the running tests' expected ends free enough GPUs for it. A later
 * test may still start now, but only if it is expected to end before that
 * time or uses GPUs the head will not need then; so narrow tests fill the
 * gaps and a wide test is never starved. Tests without GPUs take CPU slots
 * only, longest first.
 *
 * The order: the best of longest expected first, most GPU-seconds first
 * and widest first, played on the expected durations, then improved by a
 * bounded local search (swaps kept when the simulated makespan shrinks),
 * stopping at the lower bound; deterministic, milliseconds.
 *
 * Pure bookkeeping on expected durations: the caller says what started and
 * ended, and when; sched_simulate() plays a whole suite for tests and
 * benchmarks.
 */
#ifndef GPUCI_SCHED_SCHED_H
#define GPUCI_SCHED_SCHED_H

#include <stdbool.h>
#include <stddef.h>

struct sched_task {
	unsigned gpus;   /* 0: a CPU-only test */
	double expected; /* seconds */
};

struct sched;

/* tasks is copied. A task needing more than total GPUs is never returned. */
struct sched *sched_new(unsigned total_gpus, unsigned cpu_slots, const struct sched_task *tasks,
                        size_t n);
void sched_free(struct sched *s);

/* Whether task i can ever run here (gpus <= total). */
bool sched_runnable(const struct sched *s, size_t i);

/*
 * The next task to start at time now, or -1 when none may start now. Call
 * sched_start() for it, then ask again.
 */
long sched_next(struct sched *s, double now);
void sched_start(struct sched *s, size_t i, double now);
/* Task i ended at now: its GPUs or CPU slot are free again. */
void sched_done(struct sched *s, size_t i, double now);
/* Task i is to run again (a retry): pending, as before it first started. */
void sched_requeue(struct sched *s, size_t i);
/* Drops every pending task (a stop): sched_next returns -1 from now on. */
void sched_drain(struct sched *s);

size_t sched_pending(const struct sched *s); /* runnable, not started */
size_t sched_running(const struct sched *s);

/*
 * Plays the suite with these true durations (actual[i], or the expected
 * ones when NULL) from time 0, starting tasks as sched_next says; returns
 * the makespan. Unrunnable tasks are left out.
 */
double sched_simulate(unsigned total_gpus, unsigned cpu_slots, const struct sched_task *tasks,
                      const double *actual, size_t n);

/*
 * The runnable tasks of s in the order its plan (sched_new's, played on
 * the expected durations from time 0) starts them, ties by index; returns
 * how many. out has room for every task. What a cluster that places the
 * tasks itself is given as its queue's priorities: submitted in this
 * order, a first-come queue with backfill follows the plan.
 */
size_t sched_start_order(const struct sched *s, size_t *out);

/*
 * sched_simulate() without its local search: the best of the three
 * priority orders played on the expected durations. Never below
 * sched_simulate()'s makespan, and about a thousand times cheaper: for
 * searches that weigh many candidate suites (sched/shard.h).
 */
double sched_estimate(unsigned total_gpus, unsigned cpu_slots, const struct sched_task *tasks,
                      size_t n);

/* max(sum(gpus * expected) / total, the longest GPU task): no schedule beats it. */
double sched_lower_bound(unsigned total_gpus, const struct sched_task *tasks, size_t n);

#endif
