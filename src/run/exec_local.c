/* The local executor: a test as a process tree under a keeper; see executor.h. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/xalloc.h"
#include "run/exec_int.h"
#include "run/run_int.h"
#include "base/banned.h"

int run_exec_local_start_argv(struct local_exec *l, const struct run_exec_job *job,
                              char *const *argv, struct diag *d)
{
	/*
	 * A keeper owns every process the test starts (setsid() or not) and
	 * ends them when the test ends: the lease goes back only after that.
	 */
	struct proc_spawn ps = {
	    .argv = argv,
	    .env = job->env,
	    .cwd = job->cwd,
	    .out_fd = job->log_fd,
	    .filter = job->filter,
	    .filter_arg = job->filter_arg,
	    .keep_fds = job->keep_fds,
	    .nkeep = job->nkeep,
	    .kill_after = job->kill_after,
	    .mask = job->mask,
	};
	if (proc_keeper_start(&l->keeper, &ps, d) < 0)
		return -1;
	l->h.pid = l->keeper.pid;
	l->h.fd = -1;
	l->h.poll_every = 0;
	return 0;
}

/* A command to its end, its output captured (exec_int.h). */
int run__command(char *const *argv, char *const *env, const sigset_t *mask, double secs,
                 struct strbuf *out, struct strbuf *err, struct diag *d)
{
	int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	int po[2] = {-1, -1}, pe[2] = {-1, -1};
	if (devnull < 0 || pipe2(po, O_CLOEXEC) < 0 || pipe2(pe, O_CLOEXEC) < 0) {
		diag_errno(d, "pipe");
		goto fail;
	}
	const struct proc_fd_map fds[] = {{devnull, 0}, {po[1], 1}, {pe[1], 2}};
	struct proc_spawn_opts o = {
	    .argv = argv, .env = env, .fds = fds, .nfds = 3, .close_others = true, .mask = mask};
	pid_t pid;
	if (proc_spawn(&o, &pid, d) < 0)
		goto fail;
	close(po[1]);
	close(pe[1]);
	po[1] = pe[1] = -1;
	double until = run__mono() + secs;
	struct pollfd pf[2] = {{.fd = po[0], .events = POLLIN}, {.fd = pe[0], .events = POLLIN}};
	while (pf[0].fd >= 0 || pf[1].fd >= 0) {
		double left = until - run__mono();
		if (left <= 0) {
			kill(pid, SIGKILL);
			break;
		}
		if (poll(pf, 2, (int)(left * 1000) + 1) < 0 && errno != EINTR)
			break;
		for (int k = 0; k < 2; k++) {
			if (pf[k].fd < 0 || !pf[k].revents)
				continue;
			char buf[4096];
			ssize_t n = read(pf[k].fd, buf, sizeof(buf));
			if (n > 0) {
				struct strbuf *to = k ? err : out;
				if (to)
					strbuf_add(to, buf, (size_t)n);
			} else if (n == 0 || errno != EINTR) {
				pf[k].fd = -1;
			}
		}
	}
	int status = 0;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	close(po[0]);
	close(pe[0]);
	close(devnull);
	return status;
fail:
	for (int k = 0; k < 2; k++) {
		if (po[k] >= 0)
			close(po[k]);
		if (pe[k] >= 0)
			close(pe[k]);
	}
	if (devnull >= 0)
		close(devnull);
	return -1;
}

static int local_start(const struct run_exec_job *job, struct run_exec **out, struct diag *d)
{
	struct local_exec *l = xcalloc(1, sizeof(*l));
	l->h.ex = &run_exec_local;
	if (run_exec_local_start_argv(l, job, job->test->argv, d) < 0) {
		free(l);
		return -1;
	}
	*out = &l->h;
	return 0;
}

/* The keeper's process group: the test, and whatever a keeper killed early left. */
static bool group_alive(const struct local_exec *l)
{
	return l->h.pid > 0 && (kill(-l->h.pid, 0) == 0 || errno != ESRCH);
}

static void local_kill(struct run_exec *h)
{
	if (h->pid > 0)
		kill(-h->pid, SIGKILL);
}

static void local_reaped(struct run_exec *h, int wait_status)
{
	struct local_exec *l = (struct local_exec *)h;
	/* The keeper is gone, so is every process of the test... */
	proc_keeper_result(&l->keeper, wait_status, &l->res);
	l->reaped = true;
	/* ...but for a keeper killed before its time, which leaves some in its group. */
	if (group_alive(l))
		local_kill(h);
}

static enum run_exec_state local_state(struct run_exec *h)
{
	struct local_exec *l = (struct local_exec *)h;
	if (!l->reaped)
		return RUN_EXEC_RUNNING;
	return group_alive(l) ? RUN_EXEC_ENDING : RUN_EXEC_DONE;
}

/* The keeper passes it on to every process of the test. */
static void local_signal(struct run_exec *h, int sig)
{
	if (h->pid > 0)
		kill(h->pid, sig);
}

/* The keeper SIGKILLs what is left at kill_after itself. */
static void local_stop_due(struct run_exec *h)
{
	(void)h;
}

static void local_result(struct run_exec *h, struct run_exec_result *out)
{
	const struct proc_result *r = &((struct local_exec *)h)->res;
	*out = (struct run_exec_result){
	    .status = r->started ? r->status : (r->exec_errno == ENOENT ? 127 : 126) << 8,
	    .left = r->ended > r->killed ? r->ended : r->killed,
	    .killed = r->killed,
	    .log_errno = r->output_errno,
	    .log_lost = r->output_lost,
	};
}

static void local_release(struct run_exec *h)
{
	free(h);
}

const struct run_executor run_exec_local = {
    .name = "local",
    .start = local_start,
    .reaped = local_reaped,
    .state = local_state,
    .signal = local_signal,
    .stop_due = local_stop_due,
    .kill = local_kill,
    .result = local_result,
    .release = local_release,
};
