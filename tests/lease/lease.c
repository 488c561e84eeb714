#include "harness.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lease/lease.h"

struct fx {
	char *dir;
	char *pattern;
};

static int setup(void **state)
{
	struct fx *fx = calloc(1, sizeof(*fx));
	fx->dir = harness_tmpdir();
	fx->pattern = harness_path(fx->dir, "gpu_{gpu_id}.lock");
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fx *fx = *state;
	free(fx->pattern);
	harness_rmtree(fx->dir);
	free(fx);
	return 0;
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static struct lease *take(struct fx *fx, unsigned count, unsigned total, double timeout,
                          struct diag *d)
{
	struct lease_spec spec = {.pattern = fx->pattern,
	                          .total = total,
	                          .count = count,
	                          .timeout = timeout,
	                          .cancel_fd = -1,
	                          .what = "test"};
	struct lease *l = NULL;
	lease_acquire(&l, &spec, d);
	return l;
}

/* Holds GPU `gpu` with a plain flock(), as gpu_lock_exec.py does. */
static int hold_plain(struct fx *fx, unsigned gpu)
{
	char id[16];
	snprintf(id, sizeof(id), "%u", gpu);
	char *path = lease_path(fx->pattern, id);
	int fd = open(path, O_RDWR | O_CREAT | O_APPEND, 0644);
	free(path);
	assert_true(fd >= 0);
	assert_int_equal(flock(fd, LOCK_EX | LOCK_NB), 0);
	return fd;
}

static void gpu_list(struct lease *l, char *buf, size_t size)
{
	const unsigned *g;
	size_t n = lease_gpus(l, &g);
	buf[0] = '\0';
	size_t used = 0;
	for (size_t i = 0; i < n; i++)
		used += (size_t)snprintf(buf + used, size - used, "%s%u", i ? "," : "", g[i]);
}

static void acquire__takes_the_lowest_free_gpus(void **state)
{
	struct fx *fx = *state;
	int held = hold_plain(fx, 0);
	struct diag d = DIAG_INIT;
	struct lease *l = take(fx, 2, 4, 5, &d);
	assert_non_null(l);
	char buf[64];
	gpu_list(l, buf, sizeof(buf));
	assert_string_equal(buf, "1,2");
	lease_free(l);
	close(held);
}

static void acquire__exact_devices_in_any_order(void **state)
{
	struct fx *fx = *state;
	unsigned devs[] = {3, 1};
	struct lease_spec spec = {.pattern = fx->pattern,
	                          .devices = devs,
	                          .ndevices = 2,
	                          .timeout = 5,
	                          .cancel_fd = -1,
	                          .what = "t"};
	struct lease *l;
	struct diag d = DIAG_INIT;
	assert_int_equal(lease_acquire(&l, &spec, &d), 0);
	char buf[64];
	gpu_list(l, buf, sizeof(buf));
	assert_string_equal(buf, "1,3");
	unsigned *free_gpus;
	size_t n;
	struct strbuf warn = STRBUF_INIT;
	assert_int_equal(lease_probe_free(&free_gpus, &n, fx->pattern, 4, &warn, &d), 0);
	assert_int_equal(warn.len, 0);
	strbuf_release(&warn);
	assert_int_equal(n, 2);
	assert_int_equal(free_gpus[0], 0);
	assert_int_equal(free_gpus[1], 2);
	free(free_gpus);
	lease_free(l);
}

static void acquire__times_out_and_leaves_nothing_held(void **state)
{
	struct fx *fx = *state;
	struct diag d = DIAG_INIT;
	struct lease *all = take(fx, 2, 2, 5, &d);
	assert_non_null(all);
	double t0 = now();
	struct lease *l = take(fx, 1, 2, 0.2, &d);
	assert_null(l);
	assert_int_equal(d.code, DIAG_TIMEOUT);
	assert_non_null(strstr(d.msg.buf, "timed out"));
	assert_true(now() - t0 >= 0.19);
	lease_free(all);
	/* The timed-out waiter left the queue: the next one is served at once. */
	l = take(fx, 2, 2, 0, &d);
	assert_non_null(l);
	lease_free(l);
	diag_release(&d);
}

static void acquire__count_above_total_is_a_usage_error(void **state)
{
	struct fx *fx = *state;
	struct diag d = DIAG_INIT;
	assert_null(take(fx, 9, 8, 5, &d));
	assert_int_equal(d.code, DIAG_USAGE);
	diag_release(&d);
}

static void acquire__cancel_fd_ends_the_wait(void **state)
{
	struct fx *fx = *state;
	struct diag d = DIAG_INIT;
	struct lease *all = take(fx, 1, 1, 5, &d);
	int p[2];
	assert_int_equal(pipe(p), 0);
	assert_int_equal(write(p[1], "x", 1), 1);
	struct lease_spec spec = {.pattern = fx->pattern,
	                          .total = 1,
	                          .count = 1,
	                          .timeout = -1,
	                          .cancel_fd = p[0],
	                          .what = "t"};
	struct lease *l;
	assert_int_equal(lease_acquire(&l, &spec, &d), -1);
	assert_int_equal(d.code, DIAG_CANCELED);
	close(p[0]);
	close(p[1]);
	lease_free(all);
	diag_release(&d);
}

static void acquire__wakes_when_a_killed_holder_dies(void **state)
{
	struct fx *fx = *state;
	int go[2];
	assert_int_equal(pipe(go), 0);
	pid_t pid = fork();
	if (pid == 0) {
		struct diag d = DIAG_INIT;
		struct lease *l = take(fx, 2, 2, 5, &d);
		(void)l;
		assert_int_equal(write(go[1], "x", 1), 1);
		pause();
		_exit(0);
	}
	char c;
	assert_int_equal(read(go[0], &c, 1), 1);
	struct diag d = DIAG_INIT;
	assert_null(take(fx, 1, 2, 0.05, &d)); /* really held */
	kill(pid, SIGKILL);
	double t0 = now();
	struct lease *l = take(fx, 2, 2, 30, &d);
	assert_non_null(l);
	/* Woken by the kernel, not by the 10 s safety re-check. */
	assert_true(now() - t0 < 5);
	lease_free(l);
	waitpid(pid, NULL, 0);
	diag_release(&d);
	close(go[0]);
	close(go[1]);
}

/* Starts a child that asks for `count` GPUs and reports its index when served. */
static pid_t waiter(struct fx *fx, unsigned count, unsigned total, int report, char tag,
                    double hold)
{
	pid_t pid = fork();
	if (pid == 0) {
		/* Drop the parent's lock descriptors: fork() shares them. */
		for (int fd = 3; fd < 1024; fd++)
			if (fd != report)
				close(fd);
		struct diag d = DIAG_INIT;
		struct lease *l = take(fx, count, total, 30, &d);
		if (!l)
			_exit(1);
		if (write(report, &tag, 1) != 1)
			_exit(2);
		struct timespec ts = {0, (long)(hold * 1e9)};
		nanosleep(&ts, NULL);
		lease_free(l);
		_exit(0);
	}
	return pid;
}

static size_t waiting(struct fx *fx, unsigned total)
{
	struct lease_status *st;
	struct diag d = DIAG_INIT;
	assert_int_equal(lease_status_read(&st, fx->pattern, total, &d), 0);
	size_t n = st->nwaiters;
	lease_status_free(st);
	return n;
}

static void wait_for_waiters(struct fx *fx, unsigned total, size_t n)
{
	for (int i = 0; i < 2000 && waiting(fx, total) < n; i++)
		usleep(1000);
	assert_int_equal(waiting(fx, total), n);
}

static void acquire__serves_waiters_in_arrival_order(void **state)
{
	struct fx *fx = *state;
	struct diag d = DIAG_INIT;
	struct lease *all = take(fx, 2, 2, 5, &d);
	int p[2];
	assert_int_equal(pipe(p), 0);
	pid_t pids[4];
	const char tags[] = "abcd";
	unsigned counts[] = {2, 1, 2, 1};
	for (int i = 0; i < 4; i++) {
		pids[i] = waiter(fx, counts[i], 2, p[1], tags[i], 0.02);
		wait_for_waiters(fx, 2, (size_t)i + 1);
	}
	lease_free(all);
	char order[5] = {0};
	for (int i = 0; i < 4; i++)
		assert_int_equal(read(p[0], &order[i], 1), 1);
	assert_string_equal(order, "abcd");
	for (int i = 0; i < 4; i++) {
		int st;
		waitpid(pids[i], &st, 0);
		assert_int_equal(WEXITSTATUS(st), 0);
	}
	close(p[0]);
	close(p[1]);
}

static void acquire__head_reserves_freed_gpus_so_wide_requests_are_not_starved(void **state)
{
	struct fx *fx = *state;
	int gpu0 = hold_plain(fx, 0);
	int p[2];
	assert_int_equal(pipe(p), 0);
	pid_t wide = waiter(fx, 2, 2, p[1], 'W', 0);
	wait_for_waiters(fx, 2, 1);
	/* GPU 1 is free but reserved by the wide head: a 1-GPU request waits. */
	struct diag d = DIAG_INIT;
	double t0 = now();
	assert_null(take(fx, 1, 2, 0.3, &d));
	assert_int_equal(d.code, DIAG_TIMEOUT);
	assert_true(now() - t0 >= 0.29);
	struct lease_status *st;
	assert_int_equal(lease_status_read(&st, fx->pattern, 2, &d), 0);
	assert_true(st->gpus[1].held);
	assert_int_equal(st->gpus[1].waiter, 1);
	assert_int_equal(st->gpus[1].pid, wide);
	lease_status_free(st);
	close(gpu0);
	char c;
	assert_int_equal(read(p[0], &c, 1), 1);
	assert_int_equal(c, 'W');
	waitpid(wide, NULL, 0);
	close(p[0]);
	close(p[1]);
	diag_release(&d);
}

static void acquire__skips_a_waiter_killed_in_the_queue(void **state)
{
	struct fx *fx = *state;
	struct diag d = DIAG_INIT;
	struct lease *all = take(fx, 1, 1, 5, &d);
	int p[2];
	assert_int_equal(pipe(p), 0);
	pid_t a = waiter(fx, 1, 1, p[1], 'a', 0);
	wait_for_waiters(fx, 1, 1);
	pid_t b = waiter(fx, 1, 1, p[1], 'b', 0);
	wait_for_waiters(fx, 1, 2);
	pid_t c = waiter(fx, 1, 1, p[1], 'c', 0);
	wait_for_waiters(fx, 1, 3);
	kill(b, SIGKILL);
	waitpid(b, NULL, 0);
	wait_for_waiters(fx, 1, 2);
	lease_free(all);
	char order[3] = {0};
	assert_int_equal(read(p[0], &order[0], 1), 1);
	assert_int_equal(read(p[0], &order[1], 1), 1);
	assert_string_equal(order, "ac");
	waitpid(a, NULL, 0);
	waitpid(c, NULL, 0);
	close(p[0]);
	close(p[1]);
}

static void lease__locks_outlive_gpuci_in_the_job_that_inherited_them(void **state)
{
	struct fx *fx = *state;
	struct diag d = DIAG_INIT;
	struct lease *l = take(fx, 1, 1, 5, &d);
	assert_non_null(l);
	pid_t job = fork();
	if (job == 0) {
		execlp("sleep", "sleep", "0.3", (char *)NULL);
		_exit(127);
	}
	lease_free(l); /* as if gpuci died: only the job holds the lock now */
	assert_null(take(fx, 1, 1, 0.05, &d));
	assert_int_equal(d.code, DIAG_TIMEOUT);
	waitpid(job, NULL, 0);
	l = take(fx, 1, 1, 0, &d);
	assert_non_null(l);
	lease_free(l);
	diag_release(&d);
}

static void acquire__a_stuck_queue_holder_cannot_block_the_timeout(void **state)
{
	struct fx *fx = *state;
	char *qpath = lease_path(fx->pattern, "queue");
	int qfd = open(qpath, O_RDWR | O_CREAT, 0666);
	free(qpath);
	assert_true(qfd >= 0);
	/* As if a gpuci process was stopped while it held the queue. */
	assert_int_equal(flock(qfd, LOCK_EX | LOCK_NB), 0);
	struct diag d = DIAG_INIT;
	double t0 = now();
	assert_null(take(fx, 1, 2, 0.3, &d));
	assert_int_equal(d.code, DIAG_TIMEOUT);
	assert_true(now() - t0 < 5);
	close(qfd);
	struct lease *l = take(fx, 1, 2, 5, &d);
	assert_non_null(l);
	lease_free(l);
	diag_release(&d);
}

/* A lock file deleted under its holder: its witness keeps the GPU out of reach. */
static void lease__a_deleted_lock_file_keeps_its_gpu_out_of_reach(void **state)
{
	struct fx *fx = *state;
	unsigned dev0[] = {0};
	struct lease_spec spec = {.pattern = fx->pattern,
	                          .total = 2,
	                          .devices = dev0,
	                          .ndevices = 1,
	                          .timeout = 5,
	                          .cancel_fd = -1,
	                          .what = "a"};
	struct lease *a, *b = NULL;
	struct diag d = DIAG_INIT;
	assert_int_equal(lease_acquire(&a, &spec, &d), 0);
	struct strbuf why = STRBUF_INIT;
	assert_int_equal(lease_check(a, &why), 0);
	assert_int_equal(why.len, 0);
	char *path = lease_path(fx->pattern, "0");
	char *witness = lease_path(fx->pattern, "0-held");
	assert_int_equal(unlink(path), 0);
	spec.timeout = 0.2;
	assert_int_equal(lease_acquire(&b, &spec, &d), -1);
	assert_int_equal(d.code, DIAG_TIMEOUT);
	diag_release(&d);
	assert_int_equal(lease_check(a, &why), 0);
	assert_non_null(strstr(why.buf, "the lock file of GPU 0 was deleted or replaced"));
	/* Both names gone: nothing can keep others out any more, and it says so. */
	strbuf_reset(&why);
	assert_int_equal(unlink(witness), 0);
	assert_int_equal(lease_check(a, &why), 1);
	assert_non_null(strstr(why.buf, "another job may be given GPU 0"));
	lease_free(a);
	d = (struct diag)DIAG_INIT;
	spec.timeout = 1;
	assert_int_equal(lease_acquire(&b, &spec, &d), 0);
	lease_free(b);
	strbuf_release(&why);
	free(path);
	free(witness);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(acquire__takes_the_lowest_free_gpus, setup, teardown),
	    cmocka_unit_test_setup_teardown(acquire__exact_devices_in_any_order, setup, teardown),
	    cmocka_unit_test_setup_teardown(acquire__times_out_and_leaves_nothing_held, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(acquire__count_above_total_is_a_usage_error, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(acquire__cancel_fd_ends_the_wait, setup, teardown),
	    cmocka_unit_test_setup_teardown(acquire__wakes_when_a_killed_holder_dies, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(acquire__serves_waiters_in_arrival_order, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(
	        acquire__head_reserves_freed_gpus_so_wide_requests_are_not_starved, setup,
	        teardown),
	    cmocka_unit_test_setup_teardown(acquire__skips_a_waiter_killed_in_the_queue, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(
	        lease__locks_outlive_gpuci_in_the_job_that_inherited_them, setup, teardown),
	    cmocka_unit_test_setup_teardown(acquire__a_stuck_queue_holder_cannot_block_the_timeout,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(lease__a_deleted_lock_file_keeps_its_gpu_out_of_reach,
	                                    setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
