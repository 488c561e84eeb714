#include "gpu/gpu.h"

#include <dirent.h>
#include <stdbool.h>
#include <dlfcn.h>
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/xalloc.h"
#include "base/banned.h"

#define GPU_MAX 4096

void gpu_probe_default(struct gpu_probe *p)
{
	const char *lib = getenv("GPUCI_NVML");
	p->nvml_lib = !lib ? "libnvidia-ml.so.1" : *lib ? lib : NULL;
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

/* ---- readiness ---------------------------------------------------------- */

#define NVML_ERROR_INSUFFICIENT_SIZE 7
#define NVML_VALUE_NOT_AVAILABLE     (~0ULL)

/* nvmlMemory_t and nvmlMemory_v2_t. */
struct nvml_mem_v1 {
	unsigned long long total, free, used;
};
struct nvml_mem_v2 {
	unsigned int version;
	unsigned long long total, reserved, free, used;
};
#define NVML_MEM_V2_VERSION ((unsigned)(sizeof(struct nvml_mem_v2) | (2u << 24)))

/* nvmlProcessInfo_v1_t (the first call) and nvmlProcessInfo_t (_v2, _v3). */
struct nvml_proc_v1 {
	unsigned int pid;
	unsigned long long used;
};
struct nvml_proc_v2 {
	unsigned int pid;
	unsigned long long used;
	unsigned int gpu_instance, compute_instance;
};

typedef int (*nvml_handle_fn)(unsigned int, void **);
typedef int (*nvml_mem_fn)(void *, void *);
typedef int (*nvml_procs_fn)(void *, unsigned int *, void *);

struct gpu_nvml {
	void *lib;
	nvml_shutdown_fn shutdown;
	nvml_handle_fn handle;
	nvml_mem_fn mem_v1, mem_v2;
	nvml_procs_fn procs[2]; /* compute, graphics */
	size_t proc_size[2];    /* sizeof the struct each fills */
	void *buf;
	size_t cap; /* entries buf holds (of the larger struct) */
};

static void *sym_first(void *h, const char *const *names, size_t *which)
{
	for (size_t i = 0; names[i]; i++) {
		void *f = dlsym(h, names[i]);
		if (f) {
			*which = i;
			return f;
		}
	}
	return NULL;
}

int gpu_nvml_open(struct gpu_nvml **out, const char *lib, struct diag *d)
{
	*out = NULL;
	if (!lib)
		return diag_set(d, DIAG_SYSTEM, "no NVML library");
	void *h = dlopen(lib, RTLD_NOW | RTLD_LOCAL);
	if (!h)
		return diag_set(d, DIAG_SYSTEM, "cannot load NVML: %s", dlerror());
	static const char *const compute[] = {"nvmlDeviceGetComputeRunningProcesses_v3",
	                                      "nvmlDeviceGetComputeRunningProcesses_v2",
	                                      "nvmlDeviceGetComputeRunningProcesses", NULL};
	static const char *const graphics[] = {"nvmlDeviceGetGraphicsRunningProcesses_v3",
	                                       "nvmlDeviceGetGraphicsRunningProcesses_v2",
	                                       "nvmlDeviceGetGraphicsRunningProcesses", NULL};
	struct gpu_nvml *nv = xcalloc(1, sizeof(*nv));
	nv->lib = h;
	nvml_init_fn init = (nvml_init_fn)dlsym(h, "nvmlInit_v2");
	nv->shutdown = (nvml_shutdown_fn)dlsym(h, "nvmlShutdown");
	nv->handle = (nvml_handle_fn)dlsym(h, "nvmlDeviceGetHandleByIndex_v2");
	nv->mem_v1 = (nvml_mem_fn)dlsym(h, "nvmlDeviceGetMemoryInfo");
	nv->mem_v2 = (nvml_mem_fn)dlsym(h, "nvmlDeviceGetMemoryInfo_v2");
	size_t cw = 0, gw = 0;
	nv->procs[0] = (nvml_procs_fn)sym_first(h, compute, &cw);
	nv->procs[1] = (nvml_procs_fn)sym_first(h, graphics, &gw);
	const char *missing = !init                        ? "nvmlInit_v2"
	                      : !nv->shutdown              ? "nvmlShutdown"
	                      : !nv->handle                ? "nvmlDeviceGetHandleByIndex_v2"
	                      : !nv->mem_v1 && !nv->mem_v2 ? "nvmlDeviceGetMemoryInfo"
	                      : !nv->procs[0]              ? compute[2]
	                                                   : NULL;
	if (missing) {
		diag_set(d, DIAG_SYSTEM, "%s: no %s", lib, missing);
		dlclose(h);
		free(nv);
		return -1;
	}
	int rc = init();
	if (rc != 0) {
		diag_set(d, DIAG_SYSTEM, "%s: nvmlInit_v2 failed (NVML error %d)", lib, rc);
		dlclose(h);
		free(nv);
		return -1;
	}
	nv->proc_size[0] = cw == 2 ? sizeof(struct nvml_proc_v1) : sizeof(struct nvml_proc_v2);
	nv->proc_size[1] = gw == 2 ? sizeof(struct nvml_proc_v1) : sizeof(struct nvml_proc_v2);
	*out = nv;
	return 0;
}

void gpu_nvml_close(struct gpu_nvml *nv)
{
	if (!nv)
		return;
	nv->shutdown();
	dlclose(nv->lib);
	free(nv->buf);
	free(nv);
}

static void add_proc(struct gpu_usage *u, pid_t pid, unsigned long long bytes, bool graphics)
{
	size_t n = u->nproc < GPU_USAGE_MAXPROCS ? u->nproc : GPU_USAGE_MAXPROCS;
	for (size_t i = 0; i < n; i++)
		if (u->procs[i].pid == pid) { /* in both lists: compute, its memory known */
			if (!graphics)
				u->procs[i].graphics = false;
			if (u->procs[i].bytes == GPU_BYTES_UNKNOWN)
				u->procs[i].bytes = bytes;
			return;
		}
	u->nproc++;
	/* Keep the largest: insert in order, dropping the smallest when full. */
	unsigned long long key = bytes == GPU_BYTES_UNKNOWN ? 0 : bytes;
	size_t at = n;
	while (at > 0) {
		unsigned long long b = u->procs[at - 1].bytes;
		if ((b == GPU_BYTES_UNKNOWN ? 0 : b) >= key)
			break;
		at--;
	}
	if (at >= GPU_USAGE_MAXPROCS)
		return;
	size_t last = n < GPU_USAGE_MAXPROCS ? n : GPU_USAGE_MAXPROCS - 1;
	memmove(&u->procs[at + 1], &u->procs[at], (last - at) * sizeof(u->procs[0]));
	u->procs[at] = (struct gpu_proc){.pid = pid, .bytes = bytes, .graphics = graphics};
}

/* One process list (which: 0 compute, 1 graphics), grown while too small. */
static int read_procs(struct gpu_nvml *nv, void *dev, int which, unsigned index,
                      struct gpu_usage *u, struct diag *d)
{
	if (!nv->procs[which])
		return 0;
	if (!nv->buf) {
		nv->cap = 16;
		nv->buf = xmalloc(nv->cap * sizeof(struct nvml_proc_v2));
	}
	int rc = NVML_ERROR_INSUFFICIENT_SIZE;
	unsigned int n = 0;
	for (int tries = 0; tries < 8 && rc == NVML_ERROR_INSUFFICIENT_SIZE; tries++) {
		n = (unsigned int)nv->cap;
		rc = nv->procs[which](dev, &n, nv->buf);
		if (rc == NVML_ERROR_INSUFFICIENT_SIZE) {
			/* n is what it needs now; more may start meanwhile. */
			size_t want = (size_t)n + 16 > nv->cap * 2 ? (size_t)n + 16 : nv->cap * 2;
			if (want > 65536)
				break;
			nv->cap = want;
			nv->buf = xrealloc(nv->buf, nv->cap * sizeof(struct nvml_proc_v2));
		}
	}
	if (rc != 0)
		return diag_set(d, DIAG_SYSTEM,
		                "GPU %u: cannot list its %s processes (NVML error %d)", index,
		                which ? "graphics" : "compute", rc);
	for (unsigned int i = 0; i < n && i < nv->cap; i++) {
		const char *e = (const char *)nv->buf + (size_t)i * nv->proc_size[which];
		unsigned int pid;
		unsigned long long used;
		/* pid and used are at the same offsets in both layouts. */
		memcpy(&pid, e + offsetof(struct nvml_proc_v1, pid), sizeof(pid));
		memcpy(&used, e + offsetof(struct nvml_proc_v1, used), sizeof(used));
		add_proc(u, (pid_t)pid, used == NVML_VALUE_NOT_AVAILABLE ? GPU_BYTES_UNKNOWN : used,
		         which == 1);
	}
	return 0;
}

int gpu_usage(struct gpu_nvml *nv, unsigned index, struct gpu_usage *out, struct diag *d)
{
	memset(out, 0, sizeof(*out));
	void *dev = NULL;
	int rc = nv->handle(index, &dev);
	if (rc != 0)
		return diag_set(d, DIAG_SYSTEM, "GPU %u: not an NVML device (NVML error %d)", index,
		                rc);
	rc = -1;
	if (nv->mem_v2) {
		struct nvml_mem_v2 m = {.version = NVML_MEM_V2_VERSION};
		rc = nv->mem_v2(dev, &m);
		if (rc == 0) {
			out->used_bytes = m.used;
			out->total_bytes = m.total;
		}
	}
	if (rc != 0 && nv->mem_v1) {
		struct nvml_mem_v1 m = {0};
		rc = nv->mem_v1(dev, &m);
		if (rc == 0) {
			out->used_bytes = m.used;
			out->total_bytes = m.total;
		}
	}
	if (rc != 0)
		return diag_set(d, DIAG_SYSTEM, "GPU %u: cannot read its memory (NVML error %d)",
		                index, rc);
	if (read_procs(nv, dev, 0, index, out, d) < 0 || read_procs(nv, dev, 1, index, out, d) < 0)
		return -1;
	return 0;
}

bool gpu_usage_busy(const struct gpu_usage *u, unsigned long long idle_bytes)
{
	return u->nproc > 0 || u->used_bytes > idle_bytes;
}

#define MIB (1024ULL * 1024ULL)

void gpu_usage_describe(const struct gpu_usage *u, struct strbuf *sb)
{
	size_t n = u->nproc < GPU_USAGE_MAXPROCS ? u->nproc : GPU_USAGE_MAXPROCS;
	for (size_t i = 0; i < n; i++) {
		const struct gpu_proc *p = &u->procs[i];
		strbuf_addf(sb, "%spid %d%s holds ", i ? ", " : "", (int)p->pid,
		            p->graphics ? " (graphics)" : "");
		if (p->bytes == GPU_BYTES_UNKNOWN)
			strbuf_adds(sb, "? MiB");
		else
			strbuf_addf(sb, "%llu MiB", (p->bytes + MIB - 1) / MIB);
	}
	if (u->nproc > n)
		strbuf_addf(sb, " and %zu more", u->nproc - n);
	if (n == 0)
		strbuf_adds(sb, "no process NVML can see");
	strbuf_addf(sb, "; %llu of %llu MiB used", (u->used_bytes + MIB - 1) / MIB,
	            u->total_bytes / MIB);
}
