/*
 * shard: a suite split into N shards for N machines of G GPUs each (N
 * GitHub runner hosts, one matrix job each), balanced on the makespan each
 * shard would have on its machine as sched_simulate() predicts it.
 *
 * The algorithm: longest processing time first over shards, then local
 * improvement. The tasks are taken most GPU-seconds first (a CPU-only
 * test counts as one GPU: a machine is taken to run G of them at once),
 * then longest, widest, and by key (up to 48 tests, also longest first
 * and widest first, the best of the three kept); each goes to the shard
 * whose simulated makespan is the smallest with it added (ties: the less
 * loaded shard, then the lower index). Then a bounded improvement pass: a
 * task of the slowest shard moved to another shard, or swapped with a
 * lighter one of another shard, is kept when both shards end below the
 * slowest one's makespan; it stops at the lower bound, when nothing
 * helps, or after a fixed number of simulations. Two shards of at most 14
 * tests (a small label on two hosts, where one bad move costs most):
 * every split is tried (2^13 at most, on estimates, pruned by cheap
 * bounds, the 32 best played in full; about 0.1 s) and the best kept when
 * it beats the above. The search weighs candidates with sched_estimate()
 * (the simulator without its own local search), then the shards are
 * played with sched_simulate() and improved a little more on those
 * figures, which are the ones reported. Simulating the shard, not summing
 * its GPU-seconds, is the point: an 8-GPU test and eight 1-GPU tests of
 * the same GPU-seconds pack differently on one machine, and the simulator
 * is what gpuci run follows.
 *
 * Deterministic: the same keys, durations, GPU counts, N and G give the
 * same partition (no clock, no randomness; the input order does not
 * matter, the keys do). CPU-only tests are simulated on G CPU slots,
 * whatever the machine computing the partition has, so a plan job and the
 * shard jobs agree.
 *
 * A task wider than G can run on no shard's machine: it goes to shard 0
 * (which reports it as not runnable) and counts nothing. Shards may be
 * empty (N larger than the tests). Pure: no printing, no I/O.
 */
#ifndef GPUCI_SCHED_SHARD_H
#define GPUCI_SCHED_SHARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/diag.h"
#include "sched/sched.h"

/* At most this many shards: GitHub's limit of jobs in one matrix. */
#define SHARD_MAX 256

/*
 * Splits tasks[0..n) (keys[i] naming task i; equal keys are told apart by
 * index) into nshards (1..SHARD_MAX) shards for machines of gpus GPUs:
 * shard_of[i] in 0..nshards-1 for every i; makespan[k] (NULL: not wanted)
 * the predicted makespan of shard k.
 */
void shard_split(const struct sched_task *tasks, const char *const *keys, size_t n,
                 unsigned nshards, unsigned gpus, unsigned *shard_of, double *makespan);

/*
 * max(sum of GPU-seconds / (nshards * gpus), the longest runnable task): no
 * partition's slowest shard beats it. Tasks wider than gpus are left out.
 */
double shard_lower_bound(const struct sched_task *tasks, size_t n, unsigned nshards, unsigned gpus);

/*
 * The digest of a partition: 32 bits over nshards and, in key order, each
 * task's key and shard. Any other partition of the same tests, or another
 * selection, gives another digest (but for a 2^-32 chance).
 */
uint32_t shard_digest(const char *const *keys, const unsigned *shard_of, size_t n,
                      unsigned nshards);

/* "K/N" or "K/N@DIGEST" (8 hex digits), as --shard takes it. */
struct shard_spec {
	unsigned k, n; /* 1 <= k <= n <= SHARD_MAX */
	bool has_digest;
	uint32_t digest;
};

/* Parses s; -1 with a usage message (DIAG_USAGE) that says what is wrong. */
int shard_parse(const char *s, struct shard_spec *out, struct diag *d);

#endif
