/* The local executor's handle, which the docker one extends; private to src/run. */
#ifndef GPUCI_RUN_EXEC_INT_H
#define GPUCI_RUN_EXEC_INT_H

#include <signal.h>

#include "base/strbuf.h"
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

/*
 * Runs argv (docker ..., squeue ...) to its end, at most secs seconds
 * (then SIGKILL), stdin /dev/null, its stdout into out (NULL: dropped),
 * stderr into err (NULL: dropped). Returns its wait status, or -1 (d says
 * why) when it could not start.
 */
int run__command(char *const *argv, char *const *env, const sigset_t *mask, double secs,
                 struct strbuf *out, struct strbuf *err, struct diag *d);

#endif
