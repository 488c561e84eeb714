/*
 * run_shard: shards of a selection for N machines (sched/shard.h), as
 * `gpuci plan --shards N` writes them and `gpuci run --shard K/N[@DIGEST]`
 * runs one. Both compute the partition here, from the tests run_cmd_select()
 * prepared and the durations run_cmd_expected() gave them, so they agree
 * for the same selection, history and G. Private to src/cli.
 */
#ifndef GPUCI_CLI_RUN_SHARD_H
#define GPUCI_CLI_RUN_SHARD_H

#include <stdint.h>

#include "cli/run_util.h"
#include "sched/shard.h"

/* A partition of c->prep.tests; release with run_shards_release. */
struct run_shards {
	unsigned n, gpus;
	unsigned *of;     /* the shard (0..n-1) of each test */
	size_t *count;    /* tests per shard */
	double *makespan; /* predicted, per shard */
	double bound;     /* shard_lower_bound() */
	size_t wide;      /* tests wider than gpus (in shard 0) */
	uint32_t digest;
};

/* The partition of c->prep.tests into n shards for machines of gpus GPUs. */
void run_shards_compute(const struct run_cmd *c, unsigned n, unsigned gpus, struct run_shards *out);
void run_shards_release(struct run_shards *s);

/* "K/N@DIGEST" for shard k (from 0), into out (at least 32 bytes). */
void run_shards_name(const struct run_shards *s, unsigned k, char *out, size_t size);

/* gpuci run --shard: the spec, parsed first (before anything is read). */
struct run_shard_state {
	bool on;
	struct shard_spec spec;
	struct run_shards parts;
	size_t total; /* tests before the shard was taken */
};

/* Parses c->o->shard (none: st->on false); EXIT_OK or the usage error printed. */
int run_cmd_shard_check(struct run_cmd *c, struct run_shard_state *st);
/*
 * After run_cmd_machine: the partition on c->total GPUs; a digest that
 * differs from the spec's fails (said what differs and what to do) before
 * anything runs; else c->prep keeps only the shard's tests.
 */
int run_cmd_shard(struct run_cmd *c, struct run_shard_state *st);
/* "shard K of N: M of T tests, predicted makespan X on G GPUs" (nothing when off). */
void run_cmd_shard_say(struct run_cmd *c, const struct run_shard_state *st);
void run_shard_state_release(struct run_shard_state *st);

#endif
