/* GPU readiness in lease_acquire(), against the fake NVML (tests/gpu/fake_nvml.c). */
#include "harness.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "gpu/gpu.h"
#include "lease/lease.h"

#define MIB (1024ULL * 1024ULL)

struct fx {
	char *dir, *pattern, *state;
	struct gpu_nvml *nvml;
	/* what on_busy was told */
	size_t told;
	unsigned told_gpu;
	pid_t told_pid;
};

static int setup(void **state)
{
	struct fx *fx = calloc(1, sizeof(*fx));
	fx->dir = harness_tmpdir();
	fx->pattern = harness_path(fx->dir, "gpu_{gpu_id}.lock");
	fx->state = harness_path(fx->dir, "nvml-state");
	setenv("FAKE_NVML_STATE", fx->state, 1);
	setenv("FAKE_NVML_COUNT", "4", 1);
	struct diag d = DIAG_INIT;
	assert_int_equal(gpu_nvml_open(&fx->nvml, FAKE_NVML_PATH, &d), 0);
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fx *fx = *state;
	gpu_nvml_close(fx->nvml);
	unsetenv("FAKE_NVML_STATE");
	unsetenv("FAKE_NVML_COUNT");
	free(fx->pattern);
	free(fx->state);
	harness_rmtree(fx->dir);
	free(fx);
	return 0;
}

static double wall(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double mono(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void write_state(struct fx *fx, const char *text)
{
	FILE *f = fopen(fx->state, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void on_busy(void *arg, unsigned gpu, const struct gpu_usage *u)
{
	struct fx *fx = arg;
	fx->told++;
	fx->told_gpu = gpu;
	fx->told_pid = u->nproc ? u->procs[0].pid : 0;
}

static struct lease_spec spec_for(struct fx *fx, const unsigned *devices, size_t n, unsigned count,
                                  double wait_idle)
{
	return (struct lease_spec){.pattern = fx->pattern,
	                           .total = 4,
	                           .count = count,
	                           .devices = devices,
	                           .ndevices = n,
	                           .timeout = 30,
	                           .cancel_fd = -1,
	                           .what = "test",
	                           .nvml = fx->nvml,
	                           .wait_idle = wait_idle,
	                           .idle_bytes = LEASE_DEFAULT_IDLE_MIB * MIB,
	                           .on_busy = on_busy,
	                           .on_busy_arg = fx};
}

static void ready__a_gpu_busy_for_a_while_is_waited_for(void **state)
{
	struct fx *fx = *state;
	char text[128];
	snprintf(text, sizeof(text), "2 30000 4242:30000 until=%.3f\n", wall() + 0.6);
	write_state(fx, text);
	unsigned dev[] = {2};
	struct lease_spec spec = spec_for(fx, dev, 1, 0, 10);
	struct lease *l;
	struct diag d = DIAG_INIT;
	double t0 = mono();
	assert_int_equal(lease_acquire(&l, &spec, &d), 0);
	double took = mono() - t0;
	assert_true(took >= 0.5);
	assert_true(took < 5);
	assert_int_equal(fx->told, 1); /* once, not at every poll */
	assert_int_equal(fx->told_gpu, 2);
	assert_int_equal(fx->told_pid, 4242);
	assert_null(lease_warning(l));
	lease_free(l);
}

/* Held while waited for: nobody else takes it meanwhile. */
struct bg {
	struct lease_spec spec;
	struct lease *l;
	int rc;
	struct diag d;
};

static void *bg_acquire(void *arg)
{
	struct bg *b = arg;
	b->rc = lease_acquire(&b->l, &b->spec, &b->d);
	return NULL;
}

static void ready__the_lock_is_held_while_waiting(void **state)
{
	struct fx *fx = *state;
	char text[128];
	snprintf(text, sizeof(text), "1 0 99:500 until=%.3f\n", wall() + 1.0);
	write_state(fx, text);
	unsigned dev[] = {1};
	struct bg b = {.spec = spec_for(fx, dev, 1, 0, 10), .d = DIAG_INIT};
	b.spec.on_busy = NULL;
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, bg_acquire, &b), 0);
	usleep(400 * 1000);
	unsigned *freeg;
	size_t n;
	struct strbuf warn = STRBUF_INIT;
	struct diag d = DIAG_INIT;
	assert_int_equal(lease_probe_free(&freeg, &n, fx->pattern, 4, &warn, &d), 0);
	assert_int_equal(n, 3); /* GPU 1 is held by the waiting request */
	for (size_t i = 0; i < n; i++)
		assert_int_not_equal(freeg[i], 1);
	free(freeg);
	strbuf_release(&warn);
	pthread_join(th, NULL);
	assert_int_equal(b.rc, 0);
	lease_free(b.l);
}

static void ready__busy_forever_fails_naming_the_holder(void **state)
{
	struct fx *fx = *state;
	write_state(fx, "0 1000 777:1000\n");
	unsigned dev[] = {0};
	struct lease_spec spec = spec_for(fx, dev, 1, 0, 0.5);
	struct lease *l;
	struct diag d = DIAG_INIT;
	double t0 = mono();
	assert_int_equal(lease_acquire(&l, &spec, &d), -1);
	assert_true(mono() - t0 >= 0.45);
	assert_int_equal(d.code, DIAG_TIMEOUT);
	assert_non_null(strstr(d.msg.buf, "GPU 0 is still busy"));
	assert_non_null(strstr(d.msg.buf, "pid 777 holds 1000 MiB"));
	diag_release(&d);
	/* Nothing is held: without the check it is taken at once. */
	spec.wait_idle = 0;
	t0 = mono();
	assert_int_equal(lease_acquire(&l, &spec, &d), 0);
	assert_true(mono() - t0 < 0.3);
	lease_free(l);
}

static void ready__busy_warn_hands_it_out_with_a_warning(void **state)
{
	struct fx *fx = *state;
	write_state(fx, "3 2048 55:2048\n");
	unsigned dev[] = {3};
	struct lease_spec spec = spec_for(fx, dev, 1, 0, 0.3);
	spec.busy_warn = true;
	struct lease *l;
	struct diag d = DIAG_INIT;
	assert_int_equal(lease_acquire(&l, &spec, &d), 0);
	assert_non_null(lease_warning(l));
	assert_non_null(strstr(lease_warning(l), "pid 55 holds 2048 MiB"));
	assert_non_null(strstr(lease_warning(l), "--busy=warn"));
	lease_free(l);
}

/* Memory alone: a context NVML lists no process for (another pid namespace). */
static void ready__used_memory_over_the_threshold_is_busy(void **state)
{
	struct fx *fx = *state;
	write_state(fx, "0 300\n1 200\n");
	unsigned dev[] = {0};
	struct lease_spec spec = spec_for(fx, dev, 1, 0, 0.3);
	struct lease *l;
	struct diag d = DIAG_INIT;
	assert_int_equal(lease_acquire(&l, &spec, &d), -1);
	assert_non_null(strstr(d.msg.buf, "no process NVML can see; 300 of 81920 MiB used"));
	diag_release(&d);
	dev[0] = 1; /* 200 MiB: under 256 */
	assert_int_equal(lease_acquire(&l, &spec, &d), 0);
	lease_free(l);
	dev[0] = 0; /* a higher threshold */
	spec.idle_bytes = 512 * MIB;
	assert_int_equal(lease_acquire(&l, &spec, &d), 0);
	lease_free(l);
}

/* --count: a busy GPU is traded for an idle free one, without waiting. */
static void ready__a_count_request_takes_an_idle_gpu_instead(void **state)
{
	struct fx *fx = *state;
	write_state(fx, "0 9000 11:9000\n1 9000 12:9000\n");
	struct lease_spec spec = spec_for(fx, NULL, 0, 2, 5);
	struct lease *l;
	struct diag d = DIAG_INIT;
	double t0 = mono();
	assert_int_equal(lease_acquire(&l, &spec, &d), 0);
	assert_true(mono() - t0 < 1);
	const unsigned *g;
	assert_int_equal(lease_gpus(l, &g), 2);
	assert_int_equal(g[0], 2);
	assert_int_equal(g[1], 3);
	assert_int_equal(fx->told, 0); /* nothing was waited for */
	lease_free(l);
	/* Every GPU busy: it waits, holding some, and fails naming them. */
	write_state(fx, "0 9000 11:9000\n1 9000 12:9000\n2 9000 13:9000\n3 9000 14:9000\n");
	spec.count = 1;
	spec.wait_idle = 0.3;
	assert_int_equal(lease_acquire(&l, &spec, &d), -1);
	assert_int_equal(d.code, DIAG_TIMEOUT);
	assert_non_null(strstr(d.msg.buf, "still busy"));
	assert_true(fx->told >= 1);
	diag_release(&d);
}

/* Two GPUs, one busy: the request waits for it with both held. */
static void ready__a_multi_gpu_request_waits_for_its_busy_gpu(void **state)
{
	struct fx *fx = *state;
	char text[128];
	snprintf(text, sizeof(text), "1 5000 321:5000 until=%.3f\n", wall() + 0.6);
	write_state(fx, text);
	unsigned dev[] = {0, 1};
	struct lease_spec spec = spec_for(fx, dev, 2, 0, 10);
	struct lease *l;
	struct diag d = DIAG_INIT;
	double t0 = mono();
	assert_int_equal(lease_acquire(&l, &spec, &d), 0);
	assert_true(mono() - t0 >= 0.5);
	assert_int_equal(fx->told, 1);
	assert_int_equal(fx->told_gpu, 1);
	assert_int_equal(fx->told_pid, 321);
	lease_free(l);
}

/* The request's own --timeout ends the wait too. */
static void ready__never_waits_past_the_timeout(void **state)
{
	struct fx *fx = *state;
	write_state(fx, "0 1000 9:1000\n");
	unsigned dev[] = {0};
	struct lease_spec spec = spec_for(fx, dev, 1, 0, 60);
	spec.timeout = 0.4;
	struct lease *l;
	struct diag d = DIAG_INIT;
	double t0 = mono();
	assert_int_equal(lease_acquire(&l, &spec, &d), -1);
	assert_true(mono() - t0 < 5);
	assert_non_null(strstr(d.msg.buf, "pid 9"));
	diag_release(&d);
}

/* A GPU NVML does not know (beyond its count): handed out, with a warning. */
static void ready__a_gpu_nvml_cannot_ask_about_is_warned(void **state)
{
	struct fx *fx = *state;
	setenv("FAKE_NVML_COUNT", "2", 1);
	write_state(fx, "");
	unsigned dev[] = {3};
	struct lease_spec spec = spec_for(fx, dev, 1, 0, 5);
	struct lease *l;
	struct diag d = DIAG_INIT;
	assert_int_equal(lease_acquire(&l, &spec, &d), 0);
	assert_non_null(lease_warning(l));
	assert_non_null(strstr(lease_warning(l), "GPU 3 handed out without a readiness check"));
	lease_free(l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(ready__a_gpu_busy_for_a_while_is_waited_for, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(ready__the_lock_is_held_while_waiting, setup, teardown),
	    cmocka_unit_test_setup_teardown(ready__busy_forever_fails_naming_the_holder, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(ready__busy_warn_hands_it_out_with_a_warning, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(ready__used_memory_over_the_threshold_is_busy, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(ready__a_count_request_takes_an_idle_gpu_instead, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(ready__a_multi_gpu_request_waits_for_its_busy_gpu,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(ready__never_waits_past_the_timeout, setup, teardown),
	    cmocka_unit_test_setup_teardown(ready__a_gpu_nvml_cannot_ask_about_is_warned, setup,
	                                    teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
