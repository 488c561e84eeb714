/* Shards of a selection for gpuci plan --shards and gpuci run --shard; see run_shard.h. */
#include "cli/run_shard.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/arena.h"
#include "base/strbuf.h"
#include "base/xalloc.h"
#include "db/history.h"
#include "report/report.h"
#include "base/banned.h"

/*
 * The partition's keys: job and identity (the same entry in two jobs is
 * two tests), in an arena the caller releases.
 */
static const char **keys_of(const struct run_cmd *c, struct arena *a)
{
	size_t n = c->prep.n;
	const char **keys = arena_alloc(a, (n ? n : 1) * sizeof(*keys));
	for (size_t i = 0; i < n; i++) {
		const struct run_test *t = &c->prep.tests[i];
		struct strbuf k = STRBUF_INIT;
		strbuf_addf(&k, "%s\n%s", t->job ? t->job : "", t->identity ? t->identity : "");
		keys[i] = arena_strndup(a, k.buf ? k.buf : "", k.len);
		strbuf_release(&k);
	}
	return keys;
}

/* The tasks of c's tests: their GPUs and expected durations (guessed: as without history). */
static struct sched_task *tasks_of(const struct run_cmd *c, bool guessed)
{
	size_t n = c->prep.n;
	struct sched_task *t = xcalloc(n ? n : 1, sizeof(*t));
	for (size_t i = 0; i < n; i++) {
		unsigned g = c->prep.tests[i].gpus;
		t[i] = (struct sched_task){g, guessed ? 60.0 * (g + 1) : c->prep.tests[i].expected};
	}
	return t;
}

static void compute(const struct run_cmd *c, const struct sched_task *t, const char **keys,
                    unsigned n, unsigned gpus, struct run_shards *out)
{
	size_t nt = c->prep.n;
	*out = (struct run_shards){.n = n, .gpus = gpus};
	out->of = xcalloc(nt ? nt : 1, sizeof(*out->of));
	out->count = xcalloc(n, sizeof(*out->count));
	out->makespan = xcalloc(n, sizeof(*out->makespan));
	shard_split(t, keys, nt, n, gpus, out->of, out->makespan);
	for (size_t i = 0; i < nt; i++) {
		out->count[out->of[i]]++;
		out->wide += t[i].gpus > gpus;
	}
	out->bound = shard_lower_bound(t, nt, n, gpus);
	out->digest = shard_digest(keys, out->of, nt, n);
}

void run_shards_compute(const struct run_cmd *c, unsigned n, unsigned gpus, struct run_shards *out)
{
	struct arena a = ARENA_INIT;
	const char **keys = keys_of(c, &a);
	struct sched_task *t = tasks_of(c, false);
	compute(c, t, keys, n, gpus, out);
	free(t);
	arena_release(&a);
}

void run_shards_release(struct run_shards *s)
{
	free(s->of);
	free(s->count);
	free(s->makespan);
	*s = (struct run_shards){0};
}

void run_shards_name(const struct run_shards *s, unsigned k, char *out, size_t size)
{
	snprintf(out, size, "%u/%u@%08x", k + 1, s->n, (unsigned)s->digest);
}

int run_cmd_shard_check(struct run_cmd *c, struct run_shard_state *st)
{
	*st = (struct run_shard_state){0};
	if (!c->o->shard)
		return EXIT_OK;
	if (shard_parse(c->o->shard, &st->spec, &c->d) < 0)
		return cli_usage_error(c->ctx, "run", &c->d);
	st->on = true;
	return EXIT_OK;
}

/*
 * Why this machine's partition is not the plan's: a G that reproduces the
 * plan's digest, or no history at all, else the durations or the selection.
 */
static void say_mismatch(struct run_cmd *c, const struct run_shard_state *st)
{
	struct arena a = ARENA_INIT;
	const char **keys = keys_of(c, &a);
	struct sched_task *t = tasks_of(c, false), *guess = tasks_of(c, true);
	unsigned other_g = 0;
	bool no_history = false;
	struct run_shards p;
	for (unsigned g = 1; g <= 64 && !other_g; g++) {
		if (g == c->total)
			continue;
		compute(c, t, keys, st->spec.n, g, &p);
		if (p.digest == st->spec.digest)
			other_g = g;
		run_shards_release(&p);
	}
	if (!other_g && c->guessed < c->prep.n) {
		compute(c, guess, keys, st->spec.n, c->total, &p);
		no_history = p.digest == st->spec.digest;
		run_shards_release(&p);
	}
	free(t);
	free(guess);
	arena_release(&a);

	FILE *f = c->ctx->err;
	fprintf(f,
	        "gpuci run: --shard %s: this job's split of the %zu selected tests into %u shards "
	        "(digest %08x) is not the one gpuci plan --shards made (digest %08x); it was "
	        "computed for %u GPUs a machine, with the durations of %s (%zu of the tests have "
	        "a history)\n",
	        c->o->shard, c->prep.n, st->spec.n, (unsigned)st->parts.digest,
	        (unsigned)st->spec.digest, c->total,
	        c->history_path ? c->history_path : "no history", c->prep.n - c->guessed);
	if (other_g)
		fprintf(f,
		        "gpuci run: the plan's split is the one for machines of %u GPUs, and this "
		        "one has %u: give the plan job --gpus %u (or this one --gpus %u)\n",
		        other_g, c->total, c->total, other_g);
	else if (c->guessed == c->prep.n)
		fprintf(f, "gpuci run: this job has no history for these tests: restore the plan "
		           "job's (actions/cache/restore with its cache-matched-key) before gpuci "
		           "run, or give --history PATH\n");
	else if (no_history)
		fprintf(f, "gpuci run: the plan job had no history (every test guessed) and this "
		           "job has one: give every job of the workflow run the same history\n");
	else
		fprintf(f, "gpuci run: the history's durations (or the selection) differ from the "
		           "plan job's: another workflow run may have saved a newer history in "
		           "between. Restore exactly the plan job's history in every shard job "
		           "(actions/cache/restore with the plan job's cache-matched-key), with "
		           "the same selection options, or rerun the whole workflow\n");
	fprintf(f, "gpuci run: nothing was run (so that no test runs twice or never)\n");
}

/* The tests of c without a median in the history (asked again: few, and cheap). */
static size_t count_guessed(struct run_cmd *c)
{
	size_t g = 0;
	for (size_t i = 0; i < c->prep.n; i++) {
		const struct run_test *t = &c->prep.tests[i];
		double m;
		bool found = false;
		if (!c->hist || history_median(c->hist, t->identity, t->test_file, t->test_args, &m,
		                               &found, &c->d) < 0) {
			diag_release(&c->d);
			diag_init(&c->d);
			found = false;
		}
		g += !found;
	}
	return g;
}

int run_cmd_shard(struct run_cmd *c, struct run_shard_state *st)
{
	if (!st->on)
		return EXIT_OK;
	st->total = c->prep.n;
	run_shards_compute(c, st->spec.n, c->total, &st->parts);
	if (st->spec.has_digest && st->spec.digest != st->parts.digest) {
		say_mismatch(c, st);
		return EXIT_FAILED;
	}
	/* Only this shard's tests stay; the others are another job's. */
	size_t m = 0;
	for (size_t i = 0; i < c->prep.n; i++) {
		if (st->parts.of[i] == st->spec.k - 1)
			c->prep.tests[m++] = c->prep.tests[i];
		else
			run_test_release(&c->prep.tests[i]);
	}
	c->prep.n = m;
	/* How many of them have no history (for --dry-run's note). */
	if (c->guessed == st->total)
		c->guessed = m;
	else if (c->guessed)
		c->guessed = count_guessed(c);
	return EXIT_OK;
}

void run_cmd_shard_say(struct run_cmd *c, const struct run_shard_state *st)
{
	if (!st->on)
		return;
	unsigned k = st->spec.k - 1;
	struct strbuf d = STRBUF_INIT;
	report_add_duration(&d, st->parts.makespan[k]);
	fprintf(c->ctx->out, "shard %u of %u: %zu of %zu tests, predicted makespan %s on %u GPUs",
	        st->spec.k, st->spec.n, c->prep.n, st->total, d.buf ? d.buf : "0 s", c->total);
	size_t wide = 0;
	for (size_t i = 0; i < c->prep.n; i++)
		wide += c->prep.tests[i].gpus > c->total;
	if (wide)
		fprintf(c->ctx->out, " (%zu need%s more GPUs than a machine has: not runnable)",
		        wide, wide == 1 ? "s" : "");
	if (!c->prep.n)
		fprintf(c->ctx->out, " (more shards than the tests fill: nothing to run here)");
	fprintf(c->ctx->out, "\n");
	strbuf_release(&d);
}

void run_shard_state_release(struct run_shard_state *st)
{
	run_shards_release(&st->parts);
}
