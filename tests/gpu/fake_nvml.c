/*
 * A stand-in for libnvidia-ml.so.1: the calls gpuci makes.
 *
 *   FAKE_NVML_COUNT      the device count (nvmlInit_v2 fails when unset);
 *   FAKE_NVML_TOTAL_MIB  each GPU's memory (default 81920);
 *   FAKE_NVML_STATE      a file read at every query, so that a test changes
 *                        what runs on the GPUs while gpuci waits. Lines:
 *                          GPU USED_MIB [PID:MIB | PID:? | PID:MIB:g ...] [until=T]
 *                        PID:? is a process whose memory NVML cannot say,
 *                        :g one in the graphics list; until=T (seconds since
 *                        the epoch, may have decimals) makes the line count
 *                        only before T. The first line that counts for a GPU
 *                        wins; a GPU without one is idle. '#' starts a comment.
 *
 * Built twice: as libfake-nvml.so with every versioned call of a current
 * driver (memory _v2, processes _v3/_v2), and with FAKE_NVML_V1 as
 * libfake-nvml-v1.so with only the first calls, whose process struct is
 * smaller, as an old driver. The first memory call of the current driver
 * counts 300 MiB of reserved memory as used, as real ones do; _v2 does not.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SUCCESS           0
#define INVALID_ARGUMENT  2
#define INSUFFICIENT_SIZE 7
#define MIB               (1024ULL * 1024ULL)
#define MAXP              256
#define RESERVED          (300 * MIB)

struct proc_v1 {
	unsigned int pid;
	unsigned long long used;
};
struct proc_v2 {
	unsigned int pid;
	unsigned long long used;
	unsigned int gi, ci;
};
struct mem_v1 {
	unsigned long long total, free, used;
};
struct mem_v2 {
	unsigned int version;
	unsigned long long total, reserved, free, used;
};

struct fake_proc {
	unsigned long long bytes;
	unsigned pid;
	int graphics;
};

int nvmlInit_v2(void);
int nvmlDeviceGetCount_v2(unsigned int *count);
int nvmlShutdown(void);
int nvmlDeviceGetHandleByIndex_v2(unsigned int index, void **dev);
int nvmlDeviceGetMemoryInfo(void *dev, struct mem_v1 *m);
int nvmlDeviceGetComputeRunningProcesses(void *dev, unsigned int *n, struct proc_v1 *p);
int nvmlDeviceGetGraphicsRunningProcesses(void *dev, unsigned int *n, struct proc_v1 *p);
#ifndef FAKE_NVML_V1
int nvmlDeviceGetMemoryInfo_v2(void *dev, struct mem_v2 *m);
int nvmlDeviceGetComputeRunningProcesses_v3(void *dev, unsigned int *n, struct proc_v2 *p);
int nvmlDeviceGetComputeRunningProcesses_v2(void *dev, unsigned int *n, struct proc_v2 *p);
int nvmlDeviceGetGraphicsRunningProcesses_v3(void *dev, unsigned int *n, struct proc_v2 *p);
int nvmlDeviceGetGraphicsRunningProcesses_v2(void *dev, unsigned int *n, struct proc_v2 *p);
#endif

static unsigned count(void)
{
	const char *c = getenv("FAKE_NVML_COUNT");
	return c ? (unsigned)atoi(c) : 0;
}

int nvmlInit_v2(void)
{
	return getenv("FAKE_NVML_COUNT") ? SUCCESS : 1;
}

int nvmlDeviceGetCount_v2(unsigned int *n)
{
	*n = count();
	return SUCCESS;
}

int nvmlShutdown(void)
{
	return SUCCESS;
}

int nvmlDeviceGetHandleByIndex_v2(unsigned int index, void **dev)
{
	if (index >= count())
		return INVALID_ARGUMENT;
	*dev = (void *)(size_t)(index + 1);
	return SUCCESS;
}

/* GPU dev's state now: used memory and processes (which: 0 compute, 1 graphics). */
static void state(void *dev, unsigned long long *used, struct fake_proc *p, size_t *np)
{
	unsigned gpu = (unsigned)((size_t)dev - 1);
	*used = 0;
	*np = 0;
	const char *path = getenv("FAKE_NVML_STATE");
	FILE *f = path ? fopen(path, "r") : NULL;
	if (!f)
		return;
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	double now = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
	char line[8192];
	while (fgets(line, sizeof(line), f)) {
		char *hash = strchr(line, '#');
		if (hash)
			*hash = '\0';
		char *save = NULL;
		char *tok = strtok_r(line, " \t\n", &save);
		if (!tok || (unsigned)atoi(tok) != gpu)
			continue;
		tok = strtok_r(NULL, " \t\n", &save);
		unsigned long long mib = tok ? strtoull(tok, NULL, 10) : 0;
		size_t n = 0;
		int counts = 1;
		while ((tok = strtok_r(NULL, " \t\n", &save))) {
			if (!strncmp(tok, "until=", 6)) {
				counts = now < strtod(tok + 6, NULL);
				continue;
			}
			if (n == MAXP)
				continue;
			char *colon = strchr(tok, ':');
			p[n].pid = (unsigned)atoi(tok);
			p[n].bytes =
			    !colon || colon[1] == '?' ? ~0ULL : strtoull(colon + 1, NULL, 10) * MIB;
			p[n].graphics = colon && strstr(colon + 1, ":g") != NULL;
			n++;
		}
		if (counts) {
			*used = mib * MIB;
			*np = n;
			break;
		}
	}
	fclose(f);
}

static unsigned long long total(void)
{
	const char *t = getenv("FAKE_NVML_TOTAL_MIB");
	return (t ? strtoull(t, NULL, 10) : 81920) * MIB;
}

int nvmlDeviceGetMemoryInfo(void *dev, struct mem_v1 *m)
{
	struct fake_proc p[MAXP];
	size_t n;
	state(dev, &m->used, p, &n);
#ifndef FAKE_NVML_V1
	m->used += RESERVED; /* a current driver counts its reserved memory as used here */
#endif
	m->total = total();
	m->free = m->total - m->used;
	return SUCCESS;
}

/* Fills list which (0 compute, 1 graphics) with entries of size sz. */
static int procs(void *dev, int which, unsigned int *n, void *out, size_t sz)
{
	struct fake_proc p[MAXP];
	size_t np;
	unsigned long long used;
	state(dev, &used, p, &np);
	unsigned k = 0;
	for (size_t i = 0; i < np; i++)
		k += p[i].graphics == which;
	if (*n < k) {
		*n = k;
		return INSUFFICIENT_SIZE;
	}
	unsigned j = 0;
	for (size_t i = 0; i < np; i++) {
		if (p[i].graphics != which)
			continue;
		struct proc_v2 e = {.pid = p[i].pid, .used = p[i].bytes, .gi = ~0u, .ci = ~0u};
		memcpy((char *)out + (size_t)j++ * sz, &e, sz);
	}
	*n = k;
	return SUCCESS;
}

int nvmlDeviceGetComputeRunningProcesses(void *dev, unsigned int *n, struct proc_v1 *p)
{
	return procs(dev, 0, n, p, sizeof(*p));
}

int nvmlDeviceGetGraphicsRunningProcesses(void *dev, unsigned int *n, struct proc_v1 *p)
{
	return procs(dev, 1, n, p, sizeof(*p));
}

#ifndef FAKE_NVML_V1
int nvmlDeviceGetMemoryInfo_v2(void *dev, struct mem_v2 *m)
{
	if (m->version != (unsigned)(sizeof(*m) | (2u << 24)))
		return INVALID_ARGUMENT;
	struct fake_proc p[MAXP];
	size_t n;
	state(dev, &m->used, p, &n);
	m->total = total();
	m->reserved = RESERVED; /* v2 counts it apart from used */
	m->free = m->total - m->reserved - m->used;
	return SUCCESS;
}

int nvmlDeviceGetComputeRunningProcesses_v3(void *dev, unsigned int *n, struct proc_v2 *p)
{
	return procs(dev, 0, n, p, sizeof(*p));
}

int nvmlDeviceGetComputeRunningProcesses_v2(void *dev, unsigned int *n, struct proc_v2 *p)
{
	return procs(dev, 0, n, p, sizeof(*p));
}

int nvmlDeviceGetGraphicsRunningProcesses_v3(void *dev, unsigned int *n, struct proc_v2 *p)
{
	return procs(dev, 1, n, p, sizeof(*p));
}

int nvmlDeviceGetGraphicsRunningProcesses_v2(void *dev, unsigned int *n, struct proc_v2 *p)
{
	return procs(dev, 1, n, p, sizeof(*p));
}
#endif
