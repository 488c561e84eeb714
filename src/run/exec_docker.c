/*
 * The docker executor: the test's command inside its image, on its leased
 * GPUs only, under the same keeper as a local test; see executor.h.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/strbuf.h"
#include "base/xalloc.h"
#include "docker/dockerrun.h"
#include "run/exec_int.h"
#include "run/run_int.h"
#include "base/banned.h"

struct docker_exec {
	struct local_exec local; /* first: the handle is also a local one */
	char *name;              /* the container's name */
	bool killed;             /* docker kill sent */
	bool stopped;            /* a stop was asked for (signal()) */
	bool checked;            /* DONE: what the client left was removed */
	char *cidfile;           /* docker run's --cidfile: removed with the handle */
	char **env;              /* the client's environment (DOCKER_HOST), for docker rm */
	const sigset_t *mask;    /* docker kill's signal mask (gpuci's from before) */
};

/*
 * The inner script: `set -e`, each setup command on a line of its own (a
 * comment ending one ends there), `exec "$@"`, so the test replaces the
 * shell and tini (--init) hands SIGTERM to the test itself. docker_setup
 * NULL: the default `pip install -e . --no-deps`; an empty list: none.
 */
static void inner_script(const struct run_test *t, struct strbuf *out)
{
	strbuf_adds(out, "set -e\n");
	if (!t->docker_setup)
		strbuf_adds(out, "pip install -e . --no-deps\n");
	for (size_t j = 0; t->docker_setup && t->docker_setup[j]; j++)
		strbuf_addf(out, "%s\n", t->docker_setup[j]);
	strbuf_adds(out, "exec \"$@\"");
}

/* Variables the executor sets in the container itself (not passed from the job). */
static bool own_var(const char *name)
{
	static const char *const own[] = {
	    "CUDA_VISIBLE_DEVICES", "CUDA_DEVICE_ORDER", "NVIDIA_VISIBLE_DEVICES",
	    "GPUCI_RUN_ID",         "GPUCI_GPUS",        NULL};
	for (size_t k = 0; own[k]; k++)
		if (!strcmp(name, own[k]))
			return true;
	return false;
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
 * `docker run --rm --init --name NAME --cidfile RUN_DIR/NAME.cid --label
 * gpuci.run=RUN_ID OPTS [--gpus "device=IDS"] -v CWD:CWD -w CWD -e VAR...
 * -e CUDA_VISIBLE_DEVICES=0..N-1 ... IMAGE bash -lc SCRIPT bash ARGV`
 * (struct run_test): inside, the runtime numbers the leased GPUs from 0.
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
	char **argv = xcalloc(40 + no + 2 * nv + na, sizeof(*argv)); /* exactly: see below */
	size_t k = 0;
	struct strbuf dev = STRBUF_INIT, mount = STRBUF_INIT, cid = STRBUF_INIT,
	              script = STRBUF_INIT, label = STRBUF_INIT, cvd = STRBUF_INIT;
	strbuf_addf(&mount, "%s:%s", job->cwd, job->cwd);
	strbuf_addf(&cid, "%s/%s.cid", job->run_dir ? job->run_dir : job->cwd, job->name);
	strbuf_addf(&label, "gpuci.run=%s", job->run_id ? job->run_id : "");
	(void)unlink(cid.buf); /* docker refuses a cidfile that exists */
	gpus_value(job->gpu_ids, &dev);
	/* The leased GPUs as the container numbers them: 0..N-1. */
	strbuf_adds(&cvd, "CUDA_VISIBLE_DEVICES=");
	size_t ngpus = *job->gpu_ids ? 1 : 0;
	for (const char *p = job->gpu_ids; *p; p++)
		ngpus += *p == ',';
	for (size_t g = 0; g < ngpus; g++)
		strbuf_addf(&cvd, "%s%zu", g ? "," : "", g);
	inner_script(t, &script);
	argv[k++] = "docker";
	argv[k++] = "run";
	argv[k++] = "--rm";
	argv[k++] = "--init";
	argv[k++] = "--name";
	argv[k++] = (char *)job->name;
	argv[k++] = "--cidfile";
	argv[k++] = cid.buf;
	if (job->run_id) {
		argv[k++] = "--label";
		argv[k++] = label.buf;
	}
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
		if (own_var(t->docker_env[j]))
			continue;
		argv[k++] = "-e";
		argv[k++] = t->docker_env[j];
	}
	argv[k++] = "-e";
	argv[k++] = cvd.buf;
	argv[k++] = "-e";
	argv[k++] = "CUDA_DEVICE_ORDER=PCI_BUS_ID";
	argv[k++] = "-e";
	argv[k++] = "GPUCI_GPUS"; /* the host's numbers, from the job's env */
	argv[k++] = "-e";
	argv[k++] = "GPUCI_RUN_ID";
	if (!dev.len) {
		/* No GPU, even where the image says NVIDIA_VISIBLE_DEVICES=all. */
		argv[k++] = "-e";
		argv[k++] = "NVIDIA_VISIBLE_DEVICES=void";
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
	strbuf_release(&label);
	strbuf_release(&cvd);
	if (rc < 0) {
		strbuf_release(&cid);
		free(x);
		return -1;
	}
	x->name = xstrdup(job->name);
	x->cidfile = strbuf_detach(&cid, NULL);
	x->mask = job->mask;
	size_t ne = 0;
	while (job->env && job->env[ne])
		ne++;
	x->env = xcalloc(ne + 1, sizeof(*x->env));
	for (size_t j = 0; j < ne; j++)
		x->env[j] = xstrdup(job->env[j]);
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
	if (x->killed)
		return;
	int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	const struct proc_fd_map fds[] = {{devnull, 0}, {devnull, 1}, {devnull, 2}};
	char *argv[] = {"docker", "kill", x->name, NULL};
	struct proc_spawn_opts o = {.argv = argv,
	                            .env = x->env,
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
	x->killed = true;
}

/* Whether path is a file docker made but did not write: its container was being created. */
static bool cidfile_pending(const char *path)
{
	struct stat sb;
	return stat(path, &sb) == 0 && S_ISREG(sb.st_mode) && sb.st_size == 0;
}

static void docker_release(struct run_exec *h)
{
	struct docker_exec *x = (struct docker_exec *)h;
	/* One left empty is the sweep's (run_exec_docker.sweep): its container may yet appear. */
	if (x->cidfile && !cidfile_pending(x->cidfile))
		(void)unlink(x->cidfile);
	free(x->cidfile);
	free(x->name);
	for (size_t j = 0; x->env && x->env[j]; j++)
		free(x->env[j]);
	free(x->env);
	free(x);
}

static void docker_reaped(struct run_exec *h, int wait_status)
{
	run_exec_local.reaped(h, wait_status);
}

/*
 * DONE once the client and its container are gone: a client that did not
 * end by itself (a stop, a signal) may leave its container running or
 * created, so it is removed before the GPUs go to another test.
 */
static enum run_exec_state docker_state(struct run_exec *h)
{
	struct docker_exec *x = (struct docker_exec *)h;
	enum run_exec_state st = run_exec_local.state(h);
	if (st != RUN_EXEC_DONE || x->checked)
		return st;
	x->checked = true;
	const struct proc_result *r = &x->local.res;
	if (!x->stopped && r->started && !WIFSIGNALED(r->status))
		return st;
	char *argv[] = {"docker", "rm", "-f", x->name, NULL};
	struct diag ignore = DIAG_INIT;
	(void)run__command(argv, x->env, x->mask, 30, NULL, NULL, &ignore);
	diag_release(&ignore);
	return st;
}

static void docker_signal(struct run_exec *h, int sig)
{
	((struct docker_exec *)h)->stopped = true;
	run_exec_local.signal(h, sig);
}

static void docker_kill(struct run_exec *h)
{
	((struct docker_exec *)h)->stopped = true;
	run_exec_local.kill(h);
}

static void docker_result(struct run_exec *h, struct run_exec_result *out)
{
	run_exec_local.result(h, out);
}

/*
 * The *.cid files in dir: those docker made and never wrote, listed by
 * container name in names (how many returned); with remove, every one goes.
 */
static size_t scan_cidfiles(const char *dir, struct strbuf *names, bool remove)
{
	strbuf_reset(names);
	DIR *dh = dir ? opendir(dir) : NULL;
	if (!dh)
		return 0;
	size_t n = 0;
	struct dirent *e;
	while ((e = readdir(dh))) {
		size_t len = strlen(e->d_name);
		if (len < 5 || strcmp(e->d_name + len - 4, ".cid") != 0)
			continue;
		struct strbuf p = STRBUF_INIT;
		strbuf_addf(&p, "%s/%s", dir, e->d_name);
		if (remove) {
			(void)unlink(p.buf);
		} else if (cidfile_pending(p.buf)) {
			strbuf_add(names, e->d_name, len - 4);
			strbuf_addch(names, '\n');
			n++;
		}
		strbuf_release(&p);
	}
	closedir(dh);
	return n;
}

/*
 * Every container labelled gpuci.run=RUN_ID goes (docker rm -f), and, for
 * each cidfile a killed client left empty in run_dir, the container whose
 * creation was under way then: waited for up to s->wait seconds (the
 * engine finishes a create its client left), then removed too. Then every
 * cidfile in run_dir goes: none of the run's attempts runs any more.
 */
static int docker_sweep(const struct run_sweep *s, size_t *removed, struct diag *d)
{
	*removed = 0;
	struct strbuf filter = STRBUF_INIT, out = STRBUF_INIT, err = STRBUF_INIT,
	              pending = STRBUF_INIT;
	strbuf_addf(&filter, "label=gpuci.run=%s", s->run_id);
	double until = run__mono() + s->wait;
	int rc = 0;
	for (;;) {
		char *ps[] = {"docker",   "ps",       "-a",       "--no-trunc",
		              "--filter", filter.buf, "--format", "{{.ID}} {{.Names}}",
		              NULL};
		strbuf_reset(&out);
		strbuf_reset(&err);
		int st = run__command(ps, s->env, s->mask, 30, &out, &err, d);
		if (st < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
			if (st >= 0) {
				while (err.len && (err.buf[err.len - 1] == '\n'))
					strbuf_setlen(&err, err.len - 1);
				diag_set(d, DIAG_SYSTEM, "docker ps: %s",
				         err.len ? err.buf : "failed");
			}
			rc = -1;
			break;
		}
		for (char *line = out.buf; line && *line;) {
			char *nl = strchr(line, '\n');
			if (nl)
				*nl = '\0';
			char *sp = strchr(line, ' ');
			if (sp) {
				*sp = '\0';
				char *rm[] = {"docker", "rm", "-f", line, NULL};
				struct diag ignore = DIAG_INIT;
				int r = run__command(rm, s->env, s->mask, 30, NULL, NULL, &ignore);
				diag_release(&ignore);
				*removed += r >= 0 && WIFEXITED(r) && WEXITSTATUS(r) == 0;
				if (s->run_dir) {
					struct strbuf p = STRBUF_INIT;
					strbuf_addf(&p, "%s/%s.cid", s->run_dir, sp + 1);
					(void)unlink(p.buf);
					strbuf_release(&p);
				}
			}
			line = nl ? nl + 1 : NULL;
		}
		if (!scan_cidfiles(s->run_dir, &pending, false) || run__mono() >= until)
			break;
		struct timespec ts = {0, 200L * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	/* The run is over: every container id file goes (given up on, never to come too). */
	scan_cidfiles(s->run_dir, &pending, true);
	strbuf_release(&filter);
	strbuf_release(&out);
	strbuf_release(&err);
	strbuf_release(&pending);
	return rc;
}

const struct run_executor run_exec_docker = {
    .name = "docker",
    .leftover = "container",
    .start = docker_start,
    .reaped = docker_reaped,
    .state = docker_state,
    .signal = docker_signal,
    .stop_due = docker_stop_due,
    .kill = docker_kill,
    .result = docker_result,
    .release = docker_release,
    .sweep = docker_sweep,
};
