/*
 * The docker executor: the test's command inside its image, on its leased
 * GPUs only, under the same keeper as a local test; see executor.h.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/strbuf.h"
#include "base/xalloc.h"
#include "run/exec_int.h"
#include "base/banned.h"

struct docker_exec {
	struct local_exec local; /* first: the handle is also a local one */
	char *container;         /* its name, to kill it; NULL once killed */
	const sigset_t *mask;    /* docker kill's signal mask (gpuci's from before) */
};

/*
 * `docker run --rm --name NAME OPTS [--gpus device=IDS] -v CWD:CWD -w CWD
 * -e VAR... IMAGE bash -lc 'pip install -e . --no-deps && exec "$@"' bash
 * ARGV` (struct run_test).
 */
static int docker_start(const struct run_exec_job *job, struct run_exec **out, struct diag *d)
{
	const struct run_test *t = job->test;
	size_t no = 0, nv = 0, na = 0;
	while (t->docker_opts && t->docker_opts[no])
		no++;
	while (t->docker_env && t->docker_env[nv])
		nv++;
	while (t->argv[na])
		na++;
	char **argv = xcalloc(17 + no + 2 * nv + na, sizeof(*argv)); /* exactly: see below */
	size_t k = 0;
	struct strbuf dev = STRBUF_INIT, mount = STRBUF_INIT;
	strbuf_addf(&mount, "%s:%s", job->cwd, job->cwd);
	argv[k++] = "docker";
	argv[k++] = "run";
	argv[k++] = "--rm";
	argv[k++] = "--name";
	argv[k++] = (char *)job->name;
	for (size_t j = 0; j < no; j++)
		argv[k++] = t->docker_opts[j];
	if (t->gpus) {
		strbuf_addf(&dev, "device=%s", job->gpu_ids);
		argv[k++] = "--gpus";
		argv[k++] = dev.buf;
	}
	argv[k++] = "-v";
	argv[k++] = mount.buf;
	argv[k++] = "-w";
	argv[k++] = (char *)job->cwd;
	for (size_t j = 0; j < nv; j++) {
		argv[k++] = "-e";
		argv[k++] = t->docker_env[j];
	}
	argv[k++] = (char *)t->docker_image;
	argv[k++] = "bash";
	argv[k++] = "-lc";
	argv[k++] = "pip install -e . --no-deps && exec \"$@\"";
	argv[k++] = "bash";
	for (size_t j = 0; j < na; j++)
		argv[k++] = t->argv[j];
	argv[k] = NULL;
	struct docker_exec *x = xcalloc(1, sizeof(*x));
	x->local.h.ex = &run_exec_docker;
	int rc = run_exec_local_start_argv(&x->local, job, argv, d);
	free(argv);
	strbuf_release(&dev);
	strbuf_release(&mount);
	if (rc < 0) {
		free(x);
		return -1;
	}
	x->container = xstrdup(job->name);
	x->mask = job->mask;
	*out = &x->local.h;
	return 0;
}

/*
 * A killed `docker run` client leaves its container running: kill the
 * container by name too (a child of ours, reaped like any other).
 */
static void docker_stop_due(struct run_exec *h)
{
	struct docker_exec *x = (struct docker_exec *)h;
	if (!x->container)
		return;
	int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	const struct proc_fd_map fds[] = {{devnull, 0}, {devnull, 1}, {devnull, 2}};
	char *argv[] = {"docker", "kill", x->container, NULL};
	struct proc_spawn_opts o = {.argv = argv,
	                            .fds = devnull >= 0 ? fds : NULL,
	                            .nfds = devnull >= 0 ? 3 : 0,
	                            .close_others = true,
	                            .mask = x->mask};
	pid_t pid;
	struct diag ignore = DIAG_INIT;
	(void)proc_spawn(&o, &pid, &ignore); /* no docker: the client's end is all there is */
	diag_release(&ignore);
	if (devnull >= 0)
		close(devnull);
	free(x->container);
	x->container = NULL;
}

static void docker_release(struct run_exec *h)
{
	struct docker_exec *x = (struct docker_exec *)h;
	free(x->container);
	free(x);
}

static void docker_reaped(struct run_exec *h, int wait_status)
{
	run_exec_local.reaped(h, wait_status);
}

static enum run_exec_state docker_state(struct run_exec *h)
{
	return run_exec_local.state(h);
}

static void docker_signal(struct run_exec *h, int sig)
{
	run_exec_local.signal(h, sig);
}

static void docker_kill(struct run_exec *h)
{
	run_exec_local.kill(h);
}

static void docker_result(struct run_exec *h, struct run_exec_result *out)
{
	run_exec_local.result(h, out);
}

const struct run_executor run_exec_docker = {
    .name = "docker",
    .start = docker_start,
    .reaped = docker_reaped,
    .state = docker_state,
    .signal = docker_signal,
    .stop_due = docker_stop_due,
    .kill = docker_kill,
    .result = docker_result,
    .release = docker_release,
};
