#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

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

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(gpu_count__nvml_comes_first),
	    cmocka_unit_test(gpu_count__failed_nvml_falls_back_to_proc),
	    cmocka_unit_test(gpu_count__missing_library_and_proc_use_env),
	    cmocka_unit_test(gpu_count__empty_proc_dir_is_no_gpu),
	    cmocka_unit_test(gpu_count__bad_env_is_an_error),
	    cmocka_unit_test(gpu_env__names_the_gpus_and_the_order),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
