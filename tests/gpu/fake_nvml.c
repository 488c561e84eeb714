/*
 * A stand-in for libnvidia-ml.so.1: the three calls gpuci makes, with the
 * device count taken from FAKE_NVML_COUNT (init fails when it is unset).
 */
#include <stdlib.h>

int nvmlInit_v2(void);
int nvmlDeviceGetCount_v2(unsigned int *count);
int nvmlShutdown(void);

int nvmlInit_v2(void)
{
	return getenv("FAKE_NVML_COUNT") ? 0 : 1;
}

int nvmlDeviceGetCount_v2(unsigned int *count)
{
	*count = (unsigned)atoi(getenv("FAKE_NVML_COUNT"));
	return 0;
}

int nvmlShutdown(void)
{
	return 0;
}
