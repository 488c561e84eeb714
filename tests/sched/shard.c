#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sched/shard.h"

/* A fixed pseudo-random sequence (the suites are the same on every run). */
static unsigned next_rand(unsigned *seed)
{
	*seed = *seed * 1103515245u + 12345u;
	return *seed >> 16;
}

struct suite {
	size_t n;
	struct sched_task t[200];
	char names[200][16];
	const char *keys[200];
};

/* n tests of widths drawn from widths[0..nw), durations 1 to 20 s, named t000... */
static void make_suite(struct suite *s, size_t n, const unsigned *widths, size_t nw, unsigned *seed)
{
	s->n = n;
	for (size_t i = 0; i < n; i++) {
		unsigned g = widths[next_rand(seed) % nw];
		double d = 1 + next_rand(seed) % 20 + (next_rand(seed) % 100) / 100.0;
		s->t[i] = (struct sched_task){g, d};
		snprintf(s->names[i], sizeof(s->names[i]), "t%03u", (unsigned)(i % 1000));
		s->keys[i] = s->names[i];
	}
}

/* Shard k's tasks in key order, as shard_split simulates them. */
static double shard_span(const struct suite *s, const unsigned *of, unsigned k, unsigned gpus)
{
	struct sched_task buf[200];
	size_t m = 0;
	/* Names are t000, t001, ...: key order is index order. */
	for (size_t i = 0; i < s->n; i++)
		if (of[i] == k && s->t[i].gpus <= gpus)
			buf[m++] = s->t[i];
	return sched_simulate(gpus, gpus, buf, NULL, m);
}

/* Every test in exactly one shard, and each shard's makespan is its simulation's. */
static void split__exact_cover_and_makespans_are_simulated(void **state)
{
	static const unsigned widths[] = {0, 1, 2, 4, 8};
	unsigned seed = 7;
	for (int round = 0; round < 10; round++) {
		struct suite s;
		make_suite(&s, 20 + (size_t)round * 5, widths, 5, &seed);
		unsigned nshards = 2 + (unsigned)round % 4, of[200];
		double span[8];
		memset(of, 0xff, sizeof(of));
		shard_split(s.t, s.keys, s.n, nshards, 8, of, span);
		size_t count[8] = {0}, total = 0;
		for (size_t i = 0; i < s.n; i++) {
			assert_true(of[i] < nshards);
			count[of[i]]++;
		}
		for (unsigned k = 0; k < nshards; k++) {
			total += count[k];
			assert_true(count[k] > 0); /* many more tests than shards: none idle */
			assert_float_equal(span[k], shard_span(&s, of, k, 8), 1e-9);
		}
		assert_int_equal(total, s.n);
	}
}

/*
 * Two machines, a few tests: the split is as good as the best one there is
 * (every split played here in full), within what estimating costs; vime's
 * image-suite shape (bench/sched's mix, nominal durations) at 1.10x.
 */
static void split__two_machines_few_tests_get_the_best_split(void **state)
{
	(void)state;
	static const unsigned widths[] = {0, 1, 2, 4, 8};
	unsigned seed = 11;
	for (int round = 0; round < 4; round++) {
		struct suite s;
		make_suite(&s, 6 + (size_t)round, widths, 5, &seed);
		unsigned of[200], try[200];
		double span[2];
		shard_split(s.t, s.keys, s.n, 2, 8, of, span);
		double got = span[0] > span[1] ? span[0] : span[1], best = -1;
		for (uint32_t mask = 0; mask < (UINT32_C(1) << s.n); mask++) {
			for (size_t i = 0; i < s.n; i++)
				try[i] = mask >> i & 1;
			double a = shard_span(&s, try, 0, 8), b = shard_span(&s, try, 1, 8);
			double top = a > b ? a : b;
			if (best < 0 || top < best)
				best = top;
		}
		assert_true(got <= best * 1.02 + 1e-9);
	}
	static const unsigned g[] = {1, 2, 8, 4, 1, 2, 1, 4, 8, 1, 2, 4, 1, 1};
	static const double u[] = {19, 12, 5, 18, 16, 11, 4, 8, 3, 13, 9, 6, 10, 2};
	struct suite s = {.n = 14};
	for (size_t i = 0; i < s.n; i++) {
		s.t[i] = (struct sched_task){g[i], u[i] * 0.25};
		snprintf(s.names[i], sizeof(s.names[i]), "t%03u", (unsigned)i);
		s.keys[i] = s.names[i];
	}
	unsigned of[200];
	double span[2];
	shard_split(s.t, s.keys, s.n, 2, 8, of, span);
	double got = span[0] > span[1] ? span[0] : span[1];
	assert_true(got <= 1.10 * shard_lower_bound(s.t, s.n, 2, 8) + 1e-9);
}

/* The same keys, durations and widths give the same partition, whatever their order. */
static void split__deterministic_and_independent_of_input_order(void **state)
{
	static const unsigned widths[] = {1, 2, 4, 8};
	unsigned seed = 11;
	struct suite s, r;
	make_suite(&s, 40, widths, 4, &seed);
	unsigned of[200], again[200], rof[200];
	double span[4], span2[4], rspan[4];
	shard_split(s.t, s.keys, s.n, 4, 8, of, span);
	shard_split(s.t, s.keys, s.n, 4, 8, again, span2);
	assert_memory_equal(of, again, s.n * sizeof(*of));
	assert_memory_equal(span, span2, sizeof(span));
	/* Reversed input: each test keeps its shard. */
	r.n = s.n;
	for (size_t i = 0; i < s.n; i++) {
		r.t[i] = s.t[s.n - 1 - i];
		r.keys[i] = s.keys[s.n - 1 - i];
	}
	shard_split(r.t, r.keys, r.n, 4, 8, rof, rspan);
	for (size_t i = 0; i < s.n; i++)
		assert_int_equal(rof[s.n - 1 - i], of[i]);
	for (int k = 0; k < 4; k++)
		assert_float_equal(rspan[k], span[k], 0);
	assert_int_equal(shard_digest(r.keys, rof, r.n, 4), shard_digest(s.keys, of, s.n, 4));
}

static double worst_ratio(const unsigned *widths, size_t nw, size_t n, unsigned nshards,
                          unsigned seed, int suites, double *mean)
{
	double worst = 0, sum = 0;
	for (int k = 0; k < suites; k++) {
		struct suite s;
		make_suite(&s, n, widths, nw, &seed);
		unsigned of[200];
		double span[8], top = 0;
		shard_split(s.t, s.keys, s.n, nshards, 8, of, span);
		for (unsigned j = 0; j < nshards; j++)
			top = span[j] > top ? span[j] : top;
		double r = top / shard_lower_bound(s.t, s.n, nshards, 8);
		sum += r;
		worst = r > worst ? r : worst;
	}
	*mean = sum / suites;
	return worst;
}

/*
 * Balance against the lower bound max(GPU-seconds / (N x G), the longest
 * test). For 1-GPU tests the N machines are N x G identical processors and
 * the greedy split is LPT over them, within Graham's 4/3 - 1/(3NG) of the
 * optimum; the improvement pass and the simulator's own search do better
 * on suites of many tests per machine, so we ask the issue's target: 1.10
 * at worst, 1.05 on average, for 1-GPU and for mixed widths (1, 2, 4, 8
 * GPUs) alike. A round-robin split of the same mixed suites misses it.
 */
static void split__balanced_against_the_lower_bound(void **state)
{
	static const unsigned ones[] = {1}, mixed[] = {1, 2, 4, 8};
	static const struct {
		const unsigned *widths;
		size_t nw, n;
		unsigned nshards, seed;
	} cases[] = {
	    {ones, 1, 60, 2, 3}, {ones, 1, 120, 4, 5}, {mixed, 4, 40, 2, 9}, {mixed, 4, 80, 4, 13}};
	for (size_t c = 0; c < sizeof(cases) / sizeof(*cases); c++) {
		double mean, worst = worst_ratio(cases[c].widths, cases[c].nw, cases[c].n,
		                                 cases[c].nshards, cases[c].seed, 10, &mean);
		print_message("%s tests, %zu on %u x 8 GPUs: worst %.3f, mean %.3f\n",
		              cases[c].nw == 1 ? "1-GPU" : "mixed", cases[c].n, cases[c].nshards,
		              worst, mean);
		assert_true(worst <= 1.10 && mean <= 1.05);
	}

	/* The same bound defeats a round-robin split of these suites. */
	unsigned seed = 9;
	double rr_worst = 0;
	for (int k = 0; k < 10; k++) {
		struct suite s;
		make_suite(&s, 40, mixed, 4, &seed);
		unsigned of[200];
		double top = 0;
		for (size_t i = 0; i < s.n; i++)
			of[i] = (unsigned)(i % 2);
		for (unsigned j = 0; j < 2; j++) {
			double sp = shard_span(&s, of, j, 8);
			top = sp > top ? sp : top;
		}
		double r = top / shard_lower_bound(s.t, s.n, 2, 8);
		rr_worst = r > rr_worst ? r : rr_worst;
	}
	print_message("round robin, the same mixed suites: worst %.3f\n", rr_worst);
	assert_true(rr_worst > 1.10);
}

/* A test wider than a machine goes to shard 0 and counts nothing. */
static void split__too_wide_in_shard_zero_and_not_counted(void **state)
{
	struct sched_task t[4] = {{16, 100}, {8, 10}, {8, 10}, {4, 5}};
	const char *keys[4] = {"wide", "a", "b", "c"};
	unsigned of[4];
	double span[2];
	shard_split(t, keys, 4, 2, 8, of, span);
	assert_int_equal(of[0], 0);
	/* The two 8-GPU tests apart, the 4-GPU one with either: 15 and 10. */
	assert_int_not_equal(of[1], of[2]);
	double top = span[0] > span[1] ? span[0] : span[1];
	assert_float_equal(top, 15, 1e-9);
	assert_float_equal(shard_lower_bound(t, 4, 2, 8), 180.0 / 16, 1e-9);
}

/* More shards than tests: one test each, the rest empty. */
static void split__more_shards_than_tests(void **state)
{
	struct sched_task t[3] = {{8, 30}, {8, 20}, {8, 10}};
	const char *keys[3] = {"x", "y", "z"};
	unsigned of[3];
	double span[5];
	shard_split(t, keys, 3, 5, 8, of, span);
	int used[5] = {0};
	for (int i = 0; i < 3; i++)
		used[of[i]]++;
	int empty = 0;
	for (int k = 0; k < 5; k++) {
		assert_true(used[k] <= 1);
		empty += !used[k];
		if (!used[k])
			assert_float_equal(span[k], 0, 0);
	}
	assert_int_equal(empty, 2);
	double top = 0;
	for (int k = 0; k < 5; k++)
		top = span[k] > top ? span[k] : top;
	assert_float_equal(top, 30, 1e-9);
}

/* One shard is the whole suite, as gpuci run would play it on G CPU slots. */
static void split__one_shard_is_the_whole_suite(void **state)
{
	static const unsigned widths[] = {0, 1, 2, 4, 8};
	unsigned seed = 5, of[200];
	struct suite s;
	make_suite(&s, 30, widths, 5, &seed);
	double span;
	shard_split(s.t, s.keys, s.n, 1, 8, of, &span);
	for (size_t i = 0; i < s.n; i++)
		assert_int_equal(of[i], 0);
	assert_float_equal(span, sched_simulate(8, 8, s.t, NULL, s.n), 1e-9);
}

static void digest__follows_the_partition(void **state)
{
	const char *keys[3] = {"a", "b", "c"};
	unsigned p[3] = {0, 1, 1}, q[3] = {0, 1, 0};
	uint32_t d = shard_digest(keys, p, 3, 2);
	assert_int_equal(d, shard_digest(keys, p, 3, 2));
	assert_int_not_equal(d, shard_digest(keys, q, 3, 2));
	assert_int_not_equal(d, shard_digest(keys, p, 3, 3)); /* another N */
	const char *other[3] = {"a", "b", "d"};
	assert_int_not_equal(d, shard_digest(other, p, 3, 2)); /* another selection */
	const char *swapped[3] = {"b", "a", "c"};
	unsigned ps[3] = {1, 0, 1}; /* the same partition given in another order */
	assert_int_equal(d, shard_digest(swapped, ps, 3, 2));
}

static void parse__forms_and_errors(void **state)
{
	struct shard_spec s;
	struct diag d = DIAG_INIT;
	assert_int_equal(shard_parse("2/4", &s, &d), 0);
	assert_int_equal(s.k, 2);
	assert_int_equal(s.n, 4);
	assert_false(s.has_digest);
	assert_int_equal(shard_parse("1/1@0123abCD", &s, &d), 0);
	assert_true(s.has_digest);
	assert_int_equal(s.digest, 0x0123abcdu);
	assert_int_equal(shard_parse("256/256", &s, &d), 0);
	static const char *const bad[] = {"0/2",
	                                  "3/2",
	                                  "x/y",
	                                  "2",
	                                  "/2",
	                                  "1/",
	                                  "1/0",
	                                  "1/257",
	                                  "1/2@",
	                                  "1/2@12345",
	                                  "1/2@0123456789",
	                                  "1/2@0123abcg",
	                                  "1/2x",
	                                  "-1/2",
	                                  "99999999999/2",
	                                  ""};
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		diag_release(&d);
		diag_init(&d);
		assert_int_equal(shard_parse(bad[i], &s, &d), -1);
		assert_int_equal(d.code, DIAG_USAGE);
		assert_non_null(strstr(d.msg.buf, "--shard"));
	}
	diag_release(&d);
	diag_init(&d);
	shard_parse("0/2", &s, &d);
	assert_non_null(strstr(d.msg.buf, "from 1 to N"));
	diag_release(&d);
	diag_init(&d);
	shard_parse("1/300", &s, &d);
	assert_non_null(strstr(d.msg.buf, "256"));
	diag_release(&d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(split__exact_cover_and_makespans_are_simulated),
	    cmocka_unit_test(split__deterministic_and_independent_of_input_order),
	    cmocka_unit_test(split__balanced_against_the_lower_bound),
	    cmocka_unit_test(split__two_machines_few_tests_get_the_best_split),
	    cmocka_unit_test(split__too_wide_in_shard_zero_and_not_counted),
	    cmocka_unit_test(split__more_shards_than_tests),
	    cmocka_unit_test(split__one_shard_is_the_whole_suite),
	    cmocka_unit_test(digest__follows_the_partition),
	    cmocka_unit_test(parse__forms_and_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
