/*
 * gpu: how many GPUs this machine has.
 *
 * Discovery tries, in order:
 *   1. NVML, loaded at run time with dlopen() (no build dependency);
 *   2. the entries of /proc/driver/nvidia/gpus/;
 *   3. the GPUCI_TOTAL_GPUS environment variable;
 *   4. a fallback of 8, flagged so the caller can warn.
 * Every source is a field of struct gpu_probe so tests can point them at
 * fakes; gpu_probe_default() fills in the real ones.
 */
#ifndef GPUCI_GPU_GPU_H
#define GPUCI_GPU_GPU_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "base/diag.h"
#include "base/strbuf.h"

enum gpu_source {
	GPU_SOURCE_NVML,
	GPU_SOURCE_PROC,
	GPU_SOURCE_ENV,
	GPU_SOURCE_FALLBACK,
};

struct gpu_probe {
	const char *nvml_lib;  /* soname or path to dlopen; NULL skips NVML */
	const char *proc_dir;  /* directory with one entry per GPU; NULL skips */
	const char *env_value; /* value of GPUCI_TOTAL_GPUS, or NULL */
};

#define GPU_FALLBACK_COUNT 8

/*
 * Fills p with the real sources: libnvidia-ml.so.1 (or $GPUCI_NVML: a path or
 * soname; empty means no NVML), /proc, the environment.
 */
void gpu_probe_default(struct gpu_probe *p);

/*
 * Counts the GPUs. On success stores the count and where it came from.
 * Fails (DIAG_INPUT) only when GPUCI_TOTAL_GPUS is set and not a number in
 * 1..4096; an NVML or /proc failure just moves on to the next source.
 */
int gpu_count(unsigned *out, enum gpu_source *src, const struct gpu_probe *p, struct diag *d);

/* "NVML", "/proc/driver/nvidia/gpus", "GPUCI_TOTAL_GPUS", "default". */
const char *gpu_source_name(enum gpu_source src);

/*
 * The environment of a job that holds GPUs ids[0..n), the one place gpuci
 * decides it (gpuci lock, gpuci run):
 *   VAR=0,3                   the GPUs, VAR being CUDA_VISIBLE_DEVICES or the
 *                             one the user named; set and EMPTY when n is 0,
 *                             so that a CPU-only test sees no GPU rather than
 *                             every GPU of the machine without a lease;
 *   CUDA_DEVICE_ORDER=PCI_BUS_ID  so that CUDA numbers GPUs as nvidia-smi,
 *                             NVML and the lock files do (CUDA's default
 *                             order, fastest first, can differ).
 * Fills env[0..GPU_ENV_N) with "NAME=VALUE" strings that point into buf
 * (reset first; do not change buf while they are in use).
 */
#define GPU_ENV_N           2
#define GPU_ENV_DEFAULT_VAR "CUDA_VISIBLE_DEVICES"
void gpu_env(struct strbuf *buf, const char *var, const unsigned *ids, size_t n,
             const char *env[GPU_ENV_N]);

/* Whether "NAME=VALUE" sets one of the variables gpu_env() decides (with var). */
bool gpu_env_owns(const char *entry, const char *var);

/* ---- readiness: what still runs on a GPU (NVML) ------------------------ */

/*
 * GPU numbers are NVML device indices: the lock files' ids are what
 * CUDA_VISIBLE_DEVICES gets (gpu_env()), CUDA_DEVICE_ORDER=PCI_BUS_ID makes
 * CUDA count in PCI bus order, and NVML's indices are in PCI bus order too
 * (NVML ignores CUDA_VISIBLE_DEVICES). In a container that sees a subset of
 * the GPUs, NVML renumbers them from 0, as CUDA does there.
 */
#define GPU_BYTES_UNKNOWN  (~0ULL) /* NVML cannot say (NVML_VALUE_NOT_AVAILABLE) */
#define GPU_USAGE_MAXPROCS 32

struct gpu_proc {
	pid_t pid;                /* in the host's pid namespace, as NVML says */
	unsigned long long bytes; /* GPU memory it holds, or GPU_BYTES_UNKNOWN */
	bool graphics;            /* only in the graphics list (not compute) */
};

struct gpu_usage {
	unsigned long long used_bytes, total_bytes;
	size_t nproc; /* processes on the GPU, compute and graphics, each once */
	/* The first min(nproc, GPU_USAGE_MAXPROCS), most memory first. */
	struct gpu_proc procs[GPU_USAGE_MAXPROCS];
};

struct gpu_nvml;

/*
 * Loads NVML (lib: a soname or a path) and initialises it; kept open so that
 * a wait can ask many times (nvmlInit can take a second without persistence
 * mode). Fails with DIAG_SYSTEM saying why (not found, a symbol missing, init
 * failed): the caller then does without readiness checks. A handle is used
 * by one thread at a time (gpu_usage() reuses its buffer).
 */
int gpu_nvml_open(struct gpu_nvml **out, const char *lib, struct diag *d);
void gpu_nvml_close(struct gpu_nvml *nv); /* NULL is allowed */

/*
 * What GPU index holds now: used and total memory (nvmlDeviceGetMemoryInfo_v2,
 * which counts the driver's reserved memory apart, else the v1 call), and
 * its compute and graphics processes (the _v3, _v2 or first call, whichever
 * the driver exports; the list grown while NVML says it is too small). Fails
 * with DIAG_SYSTEM (no such GPU, NVML error).
 */
int gpu_usage(struct gpu_nvml *nv, unsigned index, struct gpu_usage *out, struct diag *d);

/* Busy: any process on it, or more than idle_bytes of memory used. */
bool gpu_usage_busy(const struct gpu_usage *u, unsigned long long idle_bytes);

/*
 * Appends who holds what: "pid 4242 holds 1536 MiB, pid 77 (graphics) holds
 * ? MiB; 1600 of 143771 MiB used".
 */
void gpu_usage_describe(const struct gpu_usage *u, struct strbuf *sb);

#endif
