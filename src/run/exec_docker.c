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
#include "docker/dockerrun.h"
#include "run/exec_int.h"
#include "base/banned.h"

struct docker_exec {
	struct local_exec local; /* first: the handle is also a local one */
	char *container;         /* its name, to kill it; NULL once killed */
	char *cidfile;           /* docker run's --cidfile: removed with the handle */
	const sigset_t *mask;    /* docker kill's signal mask (gpuci's from before) */
};

/*
 * The inner script: `set -e; SETUP; exec "$@"`, so the test replaces the
 * shell and tini (--init) hands SIGTERM to the test itself. docker_setup
 * NULL: today's `pip install -e . --no-deps`; an empty list: none.
 */
static void inner_script(const struct run_test *t, struct strbuf *out)
{
	strbuf_adds(out, "set -e; ");
	if (!t->docker_setup)
		strbuf_adds(out, "pip install -e . --no-deps; ");
	for (size_t j = 0; t->docker_setup && t->docker_setup[j]; j++)
		strbuf_addf(out, "%s; ", t->docker_setup[j]);
	strbuf_adds(out, "exec \"$@\"");
}

/* --gpus's value for "0,1" (dockerrun_gpus_arg: quoted); nothing for "". */
static void gpus_value(const char *ids, struct strbuf *out)
{
	unsigned g[64];
	size_t n = 0;
	for (const char *p = ids; *p && n < sizeof(g) / sizeof(g[0]);) {
		char *end;
		unsigned long v = strtoul(p, &end, 10);
		if (end == p)
			break;
		g[n++] = (unsigned)v;
		p = *end == ',' ? end + 1 : end;
	}
	dockerrun_gpus_arg(g, n, out);
}

/*
 * `docker run --rm --init --name NAME --cidfile RUN_DIR/NAME.cid OPTS
 * [--gpus "device=IDS"] -v CWD:CWD -w CWD -e VAR... IMAGE bash -lc
 * 'set -e; SETUP; exec "$@"' bash ARGV` (struct run_test).
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
	char **argv = xcalloc(20 + no + 2 * nv + na, sizeof(*argv)); /* exactly: see below */
	size_t k = 0;
	struct strbuf dev = STRBUF_INIT, mount = STRBUF_INIT, cid = STRBUF_INIT,
	              script = STRBUF_INIT;
	strbuf_addf(&mount, "%s:%s", job->cwd, job->cwd);
	strbuf_addf(&cid, "%s/%s.cid", job->run_dir ? job->run_dir : job->cwd, job->name);
	(void)unlink(cid.buf); /* docker refuses a cidfile that exists */
	gpus_value(job->gpu_ids, &dev);
	inner_script(t, &script);
	argv[k++] = "docker";
	argv[k++] = "run";
	argv[k++] = "--rm";
	argv[k++] = "--init";
	argv[k++] = "--name";
	argv[k++] = (char *)job->name;
	argv[k++] = "--cidfile";
	argv[k++] = cid.buf;
	for (size_t j = 0; j < no; j++)
		argv[k++] = t->docker_opts[j];
	if (dev.len) {
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
	argv[k++] = script.buf;
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
	strbuf_release(&script);
	if (rc < 0) {
		strbuf_release(&cid);
		free(x);
		return -1;
	}
	x->container = xstrdup(job->name);
	x->cidfile = strbuf_detach(&cid, NULL);
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
	if (x->cidfile)
		(void)unlink(x->cidfile);
	free(x->cidfile);
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
