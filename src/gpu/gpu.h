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

#include "base/diag.h"

enum gpu_source {
	GPU_SOURCE_NVML,
	GPU_SOURCE_PROC,
	GPU_SOURCE_ENV,
	GPU_SOURCE_FALLBACK,
};

struct gpu_probe {
	const char *nvml_lib;  /* soname to dlopen; NULL skips NVML */
	const char *proc_dir;  /* directory with one entry per GPU; NULL skips */
	const char *env_value; /* value of GPUCI_TOTAL_GPUS, or NULL */
};

#define GPU_FALLBACK_COUNT 8

/* Fills p with the real sources: libnvidia-ml.so.1, /proc, the environment. */
void gpu_probe_default(struct gpu_probe *p);

/*
 * Counts the GPUs. On success stores the count and where it came from.
 * Fails (DIAG_INPUT) only when GPUCI_TOTAL_GPUS is set and not a number in
 * 1..4096; an NVML or /proc failure just moves on to the next source.
 */
int gpu_count(unsigned *out, enum gpu_source *src, const struct gpu_probe *p, struct diag *d);

/* "NVML", "/proc/driver/nvidia/gpus", "GPUCI_TOTAL_GPUS", "default". */
const char *gpu_source_name(enum gpu_source src);

#endif
