/* cli/nvml: NVML for the readiness check of gpuci lock and gpuci run (cli.h). */
#include <stdlib.h>

#include "cli/cli.h"
#include "gpu/gpu.h"
#include "base/banned.h"

struct gpu_nvml *cli_open_nvml(const char *cmd, double wait_idle, struct gpuci_ctx *ctx)
{
	if (wait_idle <= 0)
		return NULL;
	struct gpu_probe probe;
	gpu_probe_default(&probe);
	struct gpu_nvml *nv = NULL;
	struct diag d = DIAG_INIT;
	if (gpu_nvml_open(&nv, probe.nvml_lib, &d) < 0) {
		const char *dbg = getenv("GPUCI_DEBUG");
		if (dbg && *dbg)
			fprintf(ctx->err, "gpuci %s: debug: GPU readiness not checked: %s\n", cmd,
			        d.msg.buf);
		nv = NULL;
	}
	diag_release(&d);
	return nv;
}
