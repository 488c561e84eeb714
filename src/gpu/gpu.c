#include "gpu/gpu.h"

#include <dirent.h>
#include <stdbool.h>
#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/banned.h"

#define GPU_MAX 4096

void gpu_probe_default(struct gpu_probe *p)
{
	p->nvml_lib = "libnvidia-ml.so.1";
	p->proc_dir = "/proc/driver/nvidia/gpus";
	p->env_value = getenv("GPUCI_TOTAL_GPUS");
}

/*
 * NVML's C API, declared by hand so that building needs no NVIDIA header.
 * All three calls return 0 (NVML_SUCCESS) on success.
 */
typedef int (*nvml_init_fn)(void);
typedef int (*nvml_count_fn)(unsigned int *);
typedef int (*nvml_shutdown_fn)(void);

static int count_nvml(const char *lib, unsigned *out)
{
	void *h = dlopen(lib, RTLD_NOW | RTLD_LOCAL);
	if (!h)
		return -1;
	int ret = -1;
	nvml_init_fn init = (nvml_init_fn)dlsym(h, "nvmlInit_v2");
	nvml_count_fn count = (nvml_count_fn)dlsym(h, "nvmlDeviceGetCount_v2");
	nvml_shutdown_fn shutdown = (nvml_shutdown_fn)dlsym(h, "nvmlShutdown");
	if (init && count && shutdown && init() == 0) {
		unsigned n = 0;
		if (count(&n) == 0 && n > 0 && n <= GPU_MAX) {
			*out = n;
			ret = 0;
		}
		shutdown();
	}
	dlclose(h);
	return ret;
}

static int count_proc(const char *dir, unsigned *out)
{
	DIR *d = opendir(dir);
	if (!d)
		return -1;
	unsigned n = 0;
	struct dirent *e;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	if (n == 0 || n > GPU_MAX)
		return -1;
	*out = n;
	return 0;
}

int gpu_count(unsigned *out, enum gpu_source *src, const struct gpu_probe *p, struct diag *d)
{
	if (p->nvml_lib && count_nvml(p->nvml_lib, out) == 0) {
		*src = GPU_SOURCE_NVML;
		return 0;
	}
	if (p->proc_dir && count_proc(p->proc_dir, out) == 0) {
		*src = GPU_SOURCE_PROC;
		return 0;
	}
	if (p->env_value && *p->env_value) {
		char *end;
		errno = 0;
		long v = strtol(p->env_value, &end, 10);
		if (errno || *end || end == p->env_value || v < 1 || v > GPU_MAX)
			return diag_set(
			    d, DIAG_INPUT,
			    "GPUCI_TOTAL_GPUS=%s: expected a number of GPUs from 1 to %d",
			    p->env_value, GPU_MAX);
		*out = (unsigned)v;
		*src = GPU_SOURCE_ENV;
		return 0;
	}
	*out = GPU_FALLBACK_COUNT;
	*src = GPU_SOURCE_FALLBACK;
	return 0;
}

const char *gpu_source_name(enum gpu_source src)
{
	switch (src) {
	case GPU_SOURCE_NVML:
		return "NVML";
	case GPU_SOURCE_PROC:
		return "/proc/driver/nvidia/gpus";
	case GPU_SOURCE_ENV:
		return "GPUCI_TOTAL_GPUS";
	case GPU_SOURCE_FALLBACK:
		return "default";
	}
	return "?";
}

void gpu_env(struct strbuf *buf, const char *var, const unsigned *ids, size_t n,
             const char *env[GPU_ENV_N])
{
	strbuf_reset(buf);
	strbuf_addf(buf, "%s=", var);
	for (size_t i = 0; i < n; i++)
		strbuf_addf(buf, "%s%u", i ? "," : "", ids[i]);
	size_t order = buf->len + 1;
	strbuf_addch(buf, '\0');
	strbuf_adds(buf, "CUDA_DEVICE_ORDER=PCI_BUS_ID");
	env[0] = buf->buf;
	env[1] = buf->buf + order;
}

static bool sets(const char *entry, const char *name)
{
	size_t n = strlen(name);
	return !strncmp(entry, name, n) && entry[n] == '=';
}

bool gpu_env_owns(const char *entry, const char *var)
{
	return sets(entry, var) || sets(entry, "CUDA_DEVICE_ORDER");
}
