#include "harness.h"

#include <stdlib.h>

#include "sched/sched.h"

/* Four 4-GPU tests on 8 GPUs: two at a time, no gap. */
static void simulate__equal_wide_tests_pack_exactly(void **state)
{
	struct sched_task t[4] = {{4, 10}, {4, 10}, {4, 10}, {4, 10}};
	assert_float_equal(sched_simulate(8, 2, t, NULL, 4), 20, 1e-9);
	assert_float_equal(sched_lower_bound(8, t, 4), 20, 1e-9);
	struct sched_task w[13];
	for (int i = 0; i < 13; i++)
		w[i] = (struct sched_task){8, 3 + i % 3};
	assert_float_equal(sched_simulate(8, 2, w, NULL, 13), sched_lower_bound(8, w, 13), 1e-9);
}

/* Longest first: the long test does not end up alone at the end. */
static void next__longest_first_and_cpu_tests_apart(void **state)
{
	struct sched_task t[4] = {{2, 1}, {2, 9}, {0, 5}, {0, 7}};
	struct sched *s = sched_new(2, 1, t, 4);
	assert_int_equal(sched_next(s, 0), 3); /* CPU slot: the longest CPU test */
	sched_start(s, 3, 0);
	assert_int_equal(sched_next(s, 0), 1); /* GPUs: the longest GPU test */
	sched_start(s, 1, 0);
	assert_int_equal(sched_next(s, 0), -1); /* no GPU and no CPU slot left */
	sched_done(s, 3, 7);
	assert_int_equal(sched_next(s, 7), 2);
	sched_start(s, 2, 7);
	assert_int_equal(sched_pending(s), 1);
	assert_int_equal(sched_running(s), 2);
	sched_free(s);
}

/* A wide head is not delayed by narrow tests that would outlast its reservation. */
static void next__backfills_only_what_ends_before_the_head(void **state)
{
	/* 0: 6 GPUs, running until t=10; 1: 8 GPUs for 30 s (the head); 2: 1 GPU for 20 s; 3: 1 GPU
	 * for 5 s. */
	struct sched_task t[4] = {{6, 10}, {8, 30}, {1, 20}, {1, 5}};
	struct sched *s = sched_new(8, 1, t, 4);
	sched_start(s, 0, 0);
	/* The head waits for test 0 until t=10; test 2 would end at 20: not now. */
	assert_int_equal(sched_next(s, 0), 3);
	sched_start(s, 3, 0);
	assert_int_equal(sched_next(s, 0), -1);
	sched_done(s, 3, 5);
	assert_int_equal(sched_next(s, 5), -1); /* 2 free GPUs, but 5 + 20 > 10 */
	sched_done(s, 0, 10);
	assert_int_equal(sched_next(s, 10), 1);
	sched_start(s, 1, 10);
	assert_int_equal(sched_next(s, 10), -1);
	sched_done(s, 1, 40);
	assert_int_equal(sched_next(s, 40), 2);
	sched_free(s);
}

/* Spare GPUs at the head's start may be used by anything. */
static void next__backfills_the_heads_spare_gpus(void **state)
{
	/* 0: 4 GPUs until t=10; 1: 6 GPUs for 60 s (the head); 2: 2 GPUs for 50 s. */
	struct sched_task t[3] = {{4, 10}, {6, 60}, {2, 50}};
	struct sched *s = sched_new(8, 1, t, 3);
	sched_start(s, 0, 0);
	/* At t=10 the head takes 6 of 8, leaving 2: the 50 s test may take them now. */
	assert_int_equal(sched_next(s, 0), 2);
	sched_start(s, 2, 0);
	assert_int_equal(sched_next(s, 0), -1);
	sched_free(s);
}

static void runnable__too_wide_is_never_returned(void **state)
{
	struct sched_task t[2] = {{16, 5}, {1, 1}};
	struct sched *s = sched_new(8, 1, t, 2);
	assert_false(sched_runnable(s, 0));
	assert_true(sched_runnable(s, 1));
	assert_int_equal(sched_next(s, 0), 1);
	sched_start(s, 1, 0);
	assert_int_equal(sched_next(s, 0), -1);
	assert_int_equal(sched_pending(s), 0);
	sched_free(s);
}

static void requeue_and_drain(void **state)
{
	struct sched_task t[2] = {{1, 1}, {1, 2}};
	struct sched *s = sched_new(1, 1, t, 2);
	assert_int_equal(sched_next(s, 0), 1);
	sched_start(s, 1, 0);
	sched_done(s, 1, 2);
	sched_requeue(s, 1); /* a retry */
	assert_int_equal(sched_next(s, 2), 1);
	sched_drain(s);
	assert_int_equal(sched_next(s, 2), -1);
	sched_free(s);
}

/*
 * Mixed widths and lengths (vime's label shapes): the schedule stays close
 * to the lower bound. Deterministic: simulated time, fixed instances.
 */
static void simulate__mixed_suites_stay_near_the_bound(void **state)
{
	static const unsigned widths[] = {1, 2, 4, 8};
	unsigned seed = 20261126;
	double worst = 0;
	for (int suite = 0; suite < 50; suite++) {
		struct sched_task t[24];
		for (int i = 0; i < 24; i++) {
			seed = seed * 1103515245u + 12345u;
			unsigned g = widths[(seed >> 16) % 4];
			seed = seed * 1103515245u + 12345u;
			t[i] = (struct sched_task){g, 1 + (seed >> 16) % 10};
		}
		double r = sched_simulate(8, 2, t, NULL, 24) / sched_lower_bound(8, t, 24);
		if (r > worst)
			worst = r;
	}
	print_message("worst makespan / lower bound over 50 mixed suites: %.3f\n", worst);
	assert_true(worst < 1.25);
}

static void start_order__is_the_plans_not_the_priority(void **state)
{
	(void)state;
	/*
	 * Longest first is A, B, C; the plan starts A, backfills C beside it
	 * (it ends before B's reservation) and starts B after A: A C B. The
	 * 8-GPU task never runs here and is left out.
	 */
	struct sched_task t[] = {{2, 10}, {4, 5}, {2, 3}, {8, 1}};
	struct sched *s = sched_new(4, 1, t, 4);
	size_t order[4];
	assert_int_equal(sched_start_order(s, order), 3);
	assert_int_equal(order[0], 0);
	assert_int_equal(order[1], 2);
	assert_int_equal(order[2], 1);
	/* Asking does not start anything: the first the scheduler hands out is still A. */
	assert_int_equal(sched_next(s, 0), 0);
	sched_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(simulate__equal_wide_tests_pack_exactly),
	    cmocka_unit_test(next__longest_first_and_cpu_tests_apart),
	    cmocka_unit_test(next__backfills_only_what_ends_before_the_head),
	    cmocka_unit_test(next__backfills_the_heads_spare_gpus),
	    cmocka_unit_test(runnable__too_wide_is_never_returned),
	    cmocka_unit_test(requeue_and_drain),
	    cmocka_unit_test(simulate__mixed_suites_stay_near_the_bound),
	    cmocka_unit_test(start_order__is_the_plans_not_the_priority),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
