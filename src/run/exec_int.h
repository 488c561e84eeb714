/* The local executor's handle, which the docker one extends; private to src/run. */
#ifndef GPUCI_RUN_EXEC_INT_H
#define GPUCI_RUN_EXEC_INT_H

#include "proc/proc.h"
#include "run/executor.h"

struct local_exec {
	struct run_exec h;
	struct proc_keeper keeper;
	bool reaped;
	struct proc_result res;
};

/* Starts argv under a keeper for job into l (allocated by the caller). */
int run_exec_local_start_argv(struct local_exec *l, const struct run_exec_job *job,
                              char *const *argv, struct diag *d);

#endif
