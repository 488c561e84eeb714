#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "gpu/gpu.h"

static void touch(const char *dir, const char *name)
{
	char *p = harness_path(dir, name);
	mkdir(p, 0755);
	free(p);
}

static void gpu_count__nvml_comes_first(void **state)
{
	char *dir = harness_tmpdir();
	touch(dir, "0000:01:00.0");
	setenv("FAKE_NVML_COUNT", "4", 1);
	struct gpu_probe p = {.nvml_lib = FAKE_NVML_PATH, .proc_dir = dir, .env_value = "2"};
	unsigned n;
	enum gpu_source src;
	struct diag d = DIAG_INIT;
	assert_int_equal(gpu_count(&n, &src, &p, &d), 0);
	assert_int_equal(n, 4);
	assert_int_equal(src, GPU_SOURCE_NVML);
	assert_string_equal(gpu_source_name(src), "NVML");
	unsetenv("FAKE_NVML_COUNT");
	harness_rmtree(dir);
}

static void gpu_count__failed_nvml_falls_back_to_proc(void **state)
{
	char *dir = harness_tmpdir();
	touch(dir, "0000:01:00.0");
	touch(dir, "0000:02:00.0");
	touch(dir, "0000:03:00.0");
	unsetenv("FAKE_NVML_COUNT"); /* the fake's init fails */
	struct gpu_probe p = {.nvml_lib = FAKE_NVML_PATH, .proc_dir = dir, .env_value = "2"};
	unsigned n;
	enum gpu_source src;
	struct diag d = DIAG_INIT;
	assert_int_equal(gpu_count(&n, &src, &p, &d), 0);
	assert_int_equal(n, 3);
	assert_int_equal(src, GPU_SOURCE_PROC);
	harness_rmtree(dir);
}

static void gpu_count__missing_library_and_proc_use_env(void **state)
{
	struct gpu_probe p = {.nvml_lib = "libgpuci-no-such-nvml.so.1",
	                      .proc_dir = "/nonexistent/gpus",
	                      .env_value = "6"};
	unsigned n;
	enum gpu_source src;
	struct diag d = DIAG_INIT;
	assert_int_equal(gpu_count(&n, &src, &p, &d), 0);
	assert_int_equal(n, 6);
	assert_int_equal(src, GPU_SOURCE_ENV);
}

static void gpu_count__empty_proc_dir_is_no_gpu(void **state)
{
	char *dir = harness_tmpdir();
	struct gpu_probe p = {.nvml_lib = NULL, .proc_dir = dir, .env_value = NULL};
	unsigned n;
	enum gpu_source src;
	struct diag d = DIAG_INIT;
	assert_int_equal(gpu_count(&n, &src, &p, &d), 0);
	assert_int_equal(n, GPU_FALLBACK_COUNT);
	assert_int_equal(src, GPU_SOURCE_FALLBACK);
	harness_rmtree(dir);
}

static void gpu_count__bad_env_is_an_error(void **state)
{
	const char *bad[] = {"0", "-1", "eight", "8x", "99999"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		struct gpu_probe p = {.env_value = bad[i]};
		unsigned n;
		enum gpu_source src;
		struct diag d = DIAG_INIT;
		assert_int_equal(gpu_count(&n, &src, &p, &d), -1);
		assert_int_equal(d.code, DIAG_INPUT);
		assert_non_null(strstr(d.msg.buf, "GPUCI_TOTAL_GPUS"));
		diag_release(&d);
	}
}

static void gpu_env__names_the_gpus_and_the_order(void **state)
{
	struct strbuf b = STRBUF_INIT;
	const char *env[GPU_ENV_N];
	unsigned ids[] = {0, 3};
	gpu_env(&b, GPU_ENV_DEFAULT_VAR, ids, 2, env);
	assert_string_equal(env[0], "CUDA_VISIBLE_DEVICES=0,3");
	assert_string_equal(env[1], "CUDA_DEVICE_ORDER=PCI_BUS_ID");
	/* No GPU: set and empty, so that nothing is visible. */
	gpu_env(&b, "MY_GPUS", NULL, 0, env);
	assert_string_equal(env[0], "MY_GPUS=");
	assert_string_equal(env[1], "CUDA_DEVICE_ORDER=PCI_BUS_ID");
	assert_true(gpu_env_owns("MY_GPUS=1", "MY_GPUS"));
	assert_true(gpu_env_owns("CUDA_DEVICE_ORDER=FASTEST_FIRST", "MY_GPUS"));
	assert_false(gpu_env_owns("MY_GPUS_X=1", "MY_GPUS"));
	assert_false(gpu_env_owns("CUDA_VISIBLE_DEVICES=1", "MY_GPUS"));
	strbuf_release(&b);
}

#define MIB (1024ULL * 1024ULL)

/* Writes the fake's state file in a new temp dir and points the fake at it. */
static char *fake_state(char **dir, const char *text)
{
	*dir = harness_tmpdir();
	char *path = harness_path(*dir, "state");
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	setenv("FAKE_NVML_STATE", path, 1);
	setenv("FAKE_NVML_COUNT", "4", 1);
	return path;
}

static void fake_done(char *dir, char *path)
{
	unsetenv("FAKE_NVML_STATE");
	unsetenv("FAKE_NVML_COUNT");
	free(path);
	harness_rmtree(dir);
}

static void gpu_usage__memory_and_processes(void **state)
{
	char *dir;
	char *path = fake_state(&dir, "# GPU USED_MIB PROCS\n"
	                              "1 5000 4242:1536 77:?:g 4242:1536:g\n"
	                              "2 400\n");
	struct gpu_nvml *nv;
	struct diag d = DIAG_INIT;
	assert_int_equal(gpu_nvml_open(&nv, FAKE_NVML_PATH, &d), 0);
	struct gpu_usage u;
	assert_int_equal(gpu_usage(nv, 1, &u, &d), 0);
	assert_int_equal(u.used_bytes, 5000 * MIB);
	assert_int_equal(u.total_bytes, 81920 * MIB);
	/* 4242 is in both lists: once, as compute, largest first. */
	assert_int_equal(u.nproc, 2);
	assert_int_equal(u.procs[0].pid, 4242);
	assert_int_equal(u.procs[0].bytes, 1536 * MIB);
	assert_false(u.procs[0].graphics);
	assert_int_equal(u.procs[1].pid, 77);
	assert_int_equal(u.procs[1].bytes, GPU_BYTES_UNKNOWN);
	assert_true(u.procs[1].graphics);
	assert_true(gpu_usage_busy(&u, 256 * MIB));
	struct strbuf sb = STRBUF_INIT;
	gpu_usage_describe(&u, &sb);
	assert_string_equal(sb.buf, "pid 4242 holds 1536 MiB, pid 77 (graphics) holds ? MiB; "
	                            "5000 of 81920 MiB used");
	/* No process, memory alone decides. */
	assert_int_equal(gpu_usage(nv, 2, &u, &d), 0);
	assert_int_equal(u.nproc, 0);
	assert_true(gpu_usage_busy(&u, 256 * MIB));
	assert_false(gpu_usage_busy(&u, 512 * MIB));
	/* Idle: _v2's used leaves out the 300 MiB the first call counts as used. */
	assert_int_equal(gpu_usage(nv, 0, &u, &d), 0);
	assert_int_equal(u.used_bytes, 0);
	assert_false(gpu_usage_busy(&u, 0));
	strbuf_reset(&sb);
	gpu_usage_describe(&u, &sb);
	assert_string_equal(sb.buf, "no process NVML can see; 0 of 81920 MiB used");
	/* A GPU NVML does not have. */
	assert_int_equal(gpu_usage(nv, 4, &u, &d), -1);
	assert_int_equal(d.code, DIAG_SYSTEM);
	assert_non_null(strstr(d.msg.buf, "GPU 4"));
	diag_release(&d);
	strbuf_release(&sb);
	gpu_nvml_close(nv);
	fake_done(dir, path);
}

/* The state file is read at each call: a process that ends is gone. */
static void gpu_usage__follows_changes(void **state)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	char text[256];
	snprintf(text, sizeof(text), "0 9000 31:9000 until=%lld\n3 0 32:1 until=%lld\n",
	         (long long)ts.tv_sec + 3600, (long long)ts.tv_sec - 1);
	char *dir;
	char *path = fake_state(&dir, text);
	struct gpu_nvml *nv;
	struct diag d = DIAG_INIT;
	assert_int_equal(gpu_nvml_open(&nv, FAKE_NVML_PATH, &d), 0);
	struct gpu_usage u;
	assert_int_equal(gpu_usage(nv, 0, &u, &d), 0);
	assert_int_equal(u.nproc, 1);
	assert_int_equal(gpu_usage(nv, 3, &u, &d), 0); /* its line has expired */
	assert_int_equal(u.nproc, 0);
	FILE *f = fopen(path, "w");
	fputs("0 0\n", f);
	fclose(f);
	assert_int_equal(gpu_usage(nv, 0, &u, &d), 0);
	assert_int_equal(u.nproc, 0);
	assert_false(gpu_usage_busy(&u, 256 * MIB));
	gpu_nvml_close(nv);
	fake_done(dir, path);
}

/*
 * More processes than the first buffer holds (NVML_ERROR_INSUFFICIENT_SIZE,
 * the list grown), more than a usage keeps: the largest are kept, all counted.
 */
static void gpu_usage__many_processes(void **state)
{
	struct strbuf text = STRBUF_INIT;
	strbuf_adds(&text, "2 100000");
	for (int i = 1; i <= 100; i++)
		strbuf_addf(&text, " %d:%d", 1000 + i, i);
	strbuf_addch(&text, '\n');
	char *dir;
	char *path = fake_state(&dir, text.buf);
	strbuf_release(&text);
	const char *libs[] = {FAKE_NVML_PATH, FAKE_NVML_V1_PATH};
	for (size_t k = 0; k < 2; k++) {
		struct gpu_nvml *nv;
		struct diag d = DIAG_INIT;
		assert_int_equal(gpu_nvml_open(&nv, libs[k], &d), 0);
		struct gpu_usage u;
		assert_int_equal(gpu_usage(nv, 2, &u, &d), 0);
		assert_int_equal(u.nproc, 100);
		for (size_t i = 0; i < GPU_USAGE_MAXPROCS; i++) {
			assert_int_equal(u.procs[i].pid, 1100 - (int)i);
			assert_int_equal(u.procs[i].bytes, (100 - i) * MIB);
		}
		struct strbuf sb = STRBUF_INIT;
		gpu_usage_describe(&u, &sb);
		assert_non_null(strstr(sb.buf, " and 68 more; 100000 of 81920 MiB used"));
		strbuf_release(&sb);
		gpu_nvml_close(nv);
	}
	fake_done(dir, path);
}

/* An old driver: the first calls only, a 16-byte process struct. */
static void gpu_usage__first_calls_only(void **state)
{
	char *dir;
	char *path = fake_state(&dir, "1 700 10:300 11:400\n");
	struct gpu_nvml *nv;
	struct diag d = DIAG_INIT;
	assert_int_equal(gpu_nvml_open(&nv, FAKE_NVML_V1_PATH, &d), 0);
	struct gpu_usage u;
	assert_int_equal(gpu_usage(nv, 1, &u, &d), 0);
	assert_int_equal(u.used_bytes, 700 * MIB);
	assert_int_equal(u.nproc, 2);
	assert_int_equal(u.procs[0].pid, 11);
	assert_int_equal(u.procs[0].bytes, 400 * MIB);
	assert_int_equal(u.procs[1].pid, 10);
	assert_int_equal(u.procs[1].bytes, 300 * MIB);
	gpu_nvml_close(nv);
	fake_done(dir, path);
}

static void gpu_nvml_open__says_why_not(void **state)
{
	struct gpu_nvml *nv;
	struct diag d = DIAG_INIT;
	assert_int_equal(gpu_nvml_open(&nv, "libgpuci-no-such-nvml.so.1", &d), -1);
	assert_null(nv);
	assert_non_null(strstr(d.msg.buf, "cannot load NVML"));
	diag_release(&d);
	unsetenv("FAKE_NVML_COUNT"); /* the fake's init fails */
	assert_int_equal(gpu_nvml_open(&nv, FAKE_NVML_PATH, &d), -1);
	assert_non_null(strstr(d.msg.buf, "nvmlInit_v2 failed"));
	diag_release(&d);
}

static void gpu_probe_default__gpuci_nvml(void **state)
{
	struct gpu_probe p;
	unsetenv("GPUCI_NVML");
	gpu_probe_default(&p);
	assert_string_equal(p.nvml_lib, "libnvidia-ml.so.1");
	setenv("GPUCI_NVML", "/opt/x/libnvidia-ml.so", 1);
	gpu_probe_default(&p);
	assert_string_equal(p.nvml_lib, "/opt/x/libnvidia-ml.so");
	setenv("GPUCI_NVML", "", 1);
	gpu_probe_default(&p);
	assert_null(p.nvml_lib);
	unsetenv("GPUCI_NVML");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(gpu_count__nvml_comes_first),
	    cmocka_unit_test(gpu_count__failed_nvml_falls_back_to_proc),
	    cmocka_unit_test(gpu_count__missing_library_and_proc_use_env),
	    cmocka_unit_test(gpu_count__empty_proc_dir_is_no_gpu),
	    cmocka_unit_test(gpu_count__bad_env_is_an_error),
	    cmocka_unit_test(gpu_env__names_the_gpus_and_the_order),
	    cmocka_unit_test(gpu_usage__memory_and_processes),
	    cmocka_unit_test(gpu_usage__follows_changes),
	    cmocka_unit_test(gpu_usage__many_processes),
	    cmocka_unit_test(gpu_usage__first_calls_only),
	    cmocka_unit_test(gpu_nvml_open__says_why_not),
	    cmocka_unit_test(gpu_probe_default__gpuci_nvml),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
