/* Running a job and ending every process it started; see proc.h. */
#include "proc/proc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/xalloc.h"
#include "proc/proc_int.h"
#include "base/banned.h"

extern char **environ;

static void job_signal_set(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGHUP);
	sigaddset(set, SIGCHLD);
}

int proc_signals_open(struct proc_signals *ps, struct diag *d)
{
	sigset_t set;
	job_signal_set(&set);
	ps->received = 0;
	ps->from_tty = false;
	if (sigprocmask(SIG_BLOCK, &set, &ps->saved) < 0)
		return diag_errno(d, "sigprocmask");
	ps->fd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	if (ps->fd < 0) {
		int rc = diag_errno(d, "signalfd");
		sigprocmask(SIG_SETMASK, &ps->saved, NULL);
		return rc;
	}
	return 0;
}

void proc_signals_close(struct proc_signals *ps)
{
	if (ps->fd >= 0)
		close(ps->fd);
	ps->fd = -1;
	sigprocmask(SIG_SETMASK, &ps->saved, NULL);
}

/* Reads one pending signal; 0 when none. */
static int read_signal(struct proc_signals *ps, bool *from_tty)
{
	struct signalfd_siginfo si;
	ssize_t n = read(ps->fd, &si, sizeof(si));
	if (n != (ssize_t)sizeof(si))
		return 0;
	/* The terminal driver sends with SI_KERNEL; kill(1) and friends with SI_USER. */
	*from_tty = si.ssi_code == SI_KERNEL;
	return (int)si.ssi_signo;
}

int proc_signals_take(struct proc_signals *ps)
{
	int last = 0, sig;
	bool tty;
	while ((sig = read_signal(ps, &tty)))
		if (sig != SIGCHLD) {
			last = sig;
			ps->received = sig;
			ps->from_tty = tty;
		}
	return last;
}

static double mono_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct pinfo {
	pid_t pid, ppid, pgrp;
	bool zombie, mark;
};

static int cmp_pinfo(const void *a, const void *b)
{
	pid_t x = ((const struct pinfo *)a)->pid, y = ((const struct pinfo *)b)->pid;
	return (x > y) - (x < y);
}

static struct pinfo *find_pinfo(struct pinfo *v, size_t n, pid_t pid)
{
	struct pinfo key = {.pid = pid};
	return bsearch(&key, v, n, sizeof(*v), cmp_pinfo);
}

/* Reads pid, ppid, pgrp and state of every process; sorted by pid. */
static size_t read_processes(struct pinfo **out)
{
	*out = NULL;
	DIR *dir = opendir("/proc");
	if (!dir)
		return 0;
	size_t n = 0, cap = 0;
	struct dirent *e;
	while ((e = readdir(dir))) {
		if (e->d_name[0] < '0' || e->d_name[0] > '9')
			continue;
		char path[300], buf[512];
		snprintf(path, sizeof(path), "/proc/%s/stat", e->d_name);
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		ssize_t len = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (len <= 0)
			continue;
		buf[len] = '\0';
		char *p = strrchr(buf, ')');
		char state;
		int ppid, pgrp;
		if (!p || sscanf(p + 1, " %c %d %d", &state, &ppid, &pgrp) != 3)
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 256;
			*out = xrealloc(*out, cap * sizeof(**out));
		}
		(*out)[n++] = (struct pinfo){
		    .pid = (pid_t)atoi(e->d_name),
		    .ppid = ppid,
		    .pgrp = pgrp,
		    .zombie = state == 'Z' || state == 'X',
		};
	}
	closedir(dir);
	if (n)
		qsort(*out, n, sizeof(**out), cmp_pinfo);
	return n;
}

/* Marks the descendants of root; returns how many live ones there are. */
static size_t mark_descendants(struct pinfo *v, size_t n, pid_t root)
{
	bool changed = true;
	while (changed) {
		changed = false;
		for (size_t i = 0; i < n; i++) {
			if (v[i].mark)
				continue;
			struct pinfo *parent =
			    v[i].ppid == root ? NULL : find_pinfo(v, n, v[i].ppid);
			if (v[i].ppid == root || (parent && parent->mark)) {
				v[i].mark = true;
				changed = true;
			}
		}
	}
	size_t live = 0;
	for (size_t i = 0; i < n; i++)
		live += v[i].mark && !v[i].zombie;
	return live;
}

size_t proc_descendants(pid_t root, pid_t **out)
{
	struct pinfo *v;
	size_t n = read_processes(&v);
	size_t live = mark_descendants(v, n, root);
	*out = xmalloc((live ? live : 1) * sizeof(**out));
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		if (v[i].mark && !v[i].zombie)
			(*out)[k++] = v[i].pid;
	free(v);
	return k;
}

struct pidset {
	pid_t *v;
	size_t n, cap;
};

static bool pidset_has(const struct pidset *s, pid_t pid)
{
	for (size_t i = 0; i < s->n; i++)
		if (s->v[i] == pid)
			return true;
	return false;
}

static void pidset_add(struct pidset *s, pid_t pid)
{
	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 16;
		s->v = xrealloc(s->v, s->cap * sizeof(*s->v));
	}
	s->v[s->n++] = pid;
}

/*
 * Sends sig to every live descendant; skip_pgrp (when > 0) spares those of
 * that process group. With a `seen` set, pids in it are skipped and every
 * pid signalled is added. Returns how many were signalled.
 */
static unsigned signal_job(int sig, pid_t skip_pgrp, struct pidset *seen)
{
	struct pinfo *v;
	size_t n = read_processes(&v);
	mark_descendants(v, n, getpid());
	unsigned sent = 0;
	for (size_t i = 0; i < n; i++) {
		if (!v[i].mark || v[i].zombie)
			continue;
		if (skip_pgrp > 0 && v[i].pgrp == skip_pgrp)
			continue;
		if (seen && pidset_has(seen, v[i].pid))
			continue;
		if (kill(v[i].pid, sig) == 0) {
			sent++;
			if (seen)
				pidset_add(seen, v[i].pid);
		}
	}
	free(v);
	return sent;
}

/* The copy of the command's output (struct proc_output). */
struct relay {
	const struct proc_output *o;
	int rfd; /* the pipe's read end, -1 once at its end */
	struct strbuf buf;
	int err;
	unsigned long long lost;
};

static void relay_write(struct relay *r, const char *p, size_t n)
{
	if (r->err) {
		r->lost += n;
		return;
	}
	while (n) {
		ssize_t w = write(r->o->fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			r->err = w < 0 ? errno : EIO;
			r->lost += n;
			return;
		}
		p += w;
		n -= (size_t)w;
	}
}

static void relay_put(struct relay *r, const char *p, size_t n, bool eof)
{
	if (!r->o->filter) {
		relay_write(r, p, n);
		return;
	}
	strbuf_reset(&r->buf);
	r->o->filter(r->o->arg, p, n, eof, &r->buf);
	relay_write(r, r->buf.buf ? r->buf.buf : "", r->buf.len);
}

/* Copies what the pipe holds; at its end (or with `last`), closes it. */
static void relay_pump(struct relay *r, bool last)
{
	char chunk[65536];
	while (r->rfd >= 0) {
		ssize_t n = read(r->rfd, chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n > 0) {
			relay_put(r, chunk, (size_t)n, false);
			continue;
		}
		if (n < 0 && errno == EAGAIN && !last)
			return;
		/* The end (every writer gone), or nothing more to wait for. */
		relay_put(r, "", 0, true);
		close(r->rfd);
		r->rfd = -1;
	}
}

/* Reaps every child that has exited; notes the command's status. */
static bool reap(pid_t main_pid, bool *main_done, int *status)
{
	for (;;) {
		int st;
		pid_t pid = waitpid(-1, &st, WNOHANG);
		if (pid > 0) {
			if (pid == main_pid) {
				*main_done = true;
				*status = st;
			}
			continue;
		}
		if (pid < 0 && errno == EINTR)
			continue;
		return pid < 0 && errno == ECHILD; /* true: no child left at all */
	}
}

/* environ with each "NAME=VALUE" of setenv replacing or adding its name (a malloc'd array). */
static char **env_with(char *const *base, char *const *setenv)
{
	size_t m = 0, n = 0;
	while (base && base[m])
		m++;
	while (setenv && setenv[n])
		n++;
	char **env = xmalloc((m + n + 1) * sizeof(*env));
	for (size_t i = 0; i < m; i++)
		env[i] = base[i];
	for (size_t j = 0; j < n; j++) {
		size_t klen = strcspn(setenv[j], "="), q = 0;
		for (; q < m; q++)
			if (!strncmp(env[q], setenv[j], klen) && env[q][klen] == '=')
				break;
		env[q] = setenv[j];
		m += q == m;
	}
	env[m] = NULL;
	return env;
}

/*
 * Starts a job's command (its output to the pipe wfd when >= 0) with
 * gpuci's signal mask from before, SIGUSR2 to default and SIGPIPE to
 * default or ignored. Returns 0, or the errno of the spawn (exec's too).
 */
static int start_command(const struct proc_job *job, const struct proc_signals *ps, int wfd,
                         pid_t *pid)
{
	struct proc_fd_map out[2] = {{wfd, 1}, {wfd, 2}};
	sigset_t def, ign;
	sigemptyset(&def);
	sigemptyset(&ign);
	sigaddset(&def, SIGUSR2);
	sigaddset(job->ignore_sigpipe ? &ign : &def, SIGPIPE);
	char **env = job->setenv ? env_with(job->env ? job->env : environ, job->setenv) : NULL;
	struct proc_spawn_opts o = {
	    .argv = job->argv,
	    .env = env ? env : job->env,
	    .fds = wfd >= 0 ? out : NULL,
	    .nfds = wfd >= 0 ? 2 : 0,
	    .mask = &ps->saved,
	    .sigdefault = &def,
	    .sigignore = &ign,
	};
	struct diag d = DIAG_INIT;
	int e = proc_spawn(&o, pid, &d) < 0 ? errno : 0;
	diag_release(&d);
	free(env);
	return e;
}

int proc_run(struct proc_result *out, const struct proc_job *job, struct proc_signals *ps,
             struct diag *d)
{
	*out = (struct proc_result){0};
	if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0)
		return diag_errno(d, "cannot become a child subreaper");

	int ofd[2] = {-1, -1};
	if (job->output && pipe2(ofd, O_CLOEXEC) < 0)
		return diag_errno(d, "pipe");
	pid_t pid = -1;
	struct relay rl = {.o = job->output, .rfd = ofd[0], .buf = STRBUF_INIT};
	int e = start_command(job, ps, ofd[1], &pid);
	out->started = e == 0;
	out->exec_errno = e;
	if (ofd[1] >= 0) {
		close(ofd[1]);
		fcntl(ofd[0], F_SETFL, O_NONBLOCK);
	}

	bool main_done = false, cleanup = false;
	double kill_at = 0; /* when leftovers get SIGKILL; 0: not yet decided */
	struct pidset termed = {0}, killed = {0};
	for (;;) {
		int sig;
		bool tty;
		while ((sig = read_signal(ps, &tty))) {
			if (sig == SIGCHLD)
				continue;
			ps->received = out->signal = sig;
			ps->from_tty = tty;
			/* From the terminal, the foreground group has it already. */
			signal_job(sig, tty ? getpgrp() : 0, sig == SIGTERM ? &termed : NULL);
			if (!kill_at)
				kill_at = mono_now() + job->kill_after;
		}
		relay_pump(&rl, false);
		bool none_left = reap(pid, &main_done, &out->status);
		if (none_left)
			break;
		if (main_done && !cleanup) {
			cleanup = true;
			if (!kill_at)
				kill_at = mono_now() + job->kill_after;
		}
		if (cleanup)
			out->ended += signal_job(SIGTERM, 0, &termed);
		int timeout = -1;
		if (kill_at) {
			double left = kill_at - mono_now();
			if (left <= 0) {
				out->killed += signal_job(SIGKILL, 0, &killed);
				timeout = 10; /* until they are reaped */
			} else {
				timeout = (int)(left * 1000) + 1;
			}
		}
		if (cleanup && (timeout < 0 || timeout > 50))
			timeout = 50; /* look for processes started by the leftovers */
		struct pollfd p[2] = {{.fd = ps->fd, .events = POLLIN},
		                      {.fd = rl.rfd, .events = POLLIN}};
		poll(p, rl.rfd >= 0 ? 2 : 1, timeout);
	}
	/* Nobody is left to write: what the pipe holds, then its end. */
	relay_pump(&rl, true);
	out->output_errno = rl.err;
	out->output_lost = rl.lost;
	strbuf_release(&rl.buf);
	free(termed.v);
	free(killed.v);
	return 0;
}

int proc_exit_code(const struct proc_result *r)
{
	if (r->signal)
		return 128 + r->signal;
	if (!r->started)
		return r->exec_errno == ENOENT ? 127 : 126;
	if (WIFEXITED(r->status))
		return WEXITSTATUS(r->status);
	if (WIFSIGNALED(r->status))
		return 128 + WTERMSIG(r->status);
	return 1;
}

/* ---- keepers ---------------------------------------------------------------- */

/* What a keeper writes on its report pipe before it exits. */
struct keeper_report {
	int status, exec_errno, signal;
	unsigned ended, killed;
	bool started;
	int output_errno;
	unsigned long long output_lost;
};

static int cmp_int(const void *a, const void *b)
{
	int x = *(const int *)a, y = *(const int *)b;
	return (x > y) - (x < y);
}

/* Closes every descriptor in [lo, hi]: close_range(2), else those /proc/self/fd lists. */
static void close_between(unsigned lo, unsigned hi)
{
	if (lo > hi)
		return;
	if (close_range(lo, hi, 0) == 0)
		return;
	/* No close_range (ENOSYS: kernel before 5.9): the descriptors that exist. */
	DIR *dir = opendir("/proc/self/fd");
	if (!dir) {
		long max = sysconf(_SC_OPEN_MAX);
		for (long fd = lo; fd <= (long)hi && fd < (max < 0 ? 1024 : max); fd++)
			close((int)fd);
		return;
	}
	int self = dirfd(dir);
	int *fds = NULL;
	size_t n = 0, cap = 0;
	struct dirent *e;
	while ((e = readdir(dir))) {
		if (e->d_name[0] < '0' || e->d_name[0] > '9')
			continue;
		long fd = strtol(e->d_name, NULL, 10);
		if (fd == self || fd < (long)lo || fd > (long)hi)
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			fds = xrealloc(fds, cap * sizeof(*fds));
		}
		fds[n++] = (int)fd;
	}
	closedir(dir);
	for (size_t i = 0; i < n; i++)
		close(fds[i]);
	free(fds);
}

void proc_close_all_but(unsigned lo, const int *keep, size_t nkeep)
{
	int *k = xmalloc((nkeep + 1) * sizeof(*k));
	size_t n = 0;
	for (size_t j = 0; j < nkeep; j++)
		if (keep[j] >= 0 && (unsigned)keep[j] >= lo)
			k[n++] = keep[j];
	qsort(k, n, sizeof(*k), cmp_int);
	for (size_t j = 0; j < n; j++) {
		if ((unsigned)k[j] > lo)
			close_between(lo, (unsigned)k[j] - 1);
		if ((unsigned)k[j] + 1 > lo)
			lo = (unsigned)k[j] + 1;
	}
	close_between(lo, ~0U);
	free(k);
}

/* In the keeper: keep fds 0-2, the listed ones and `also`, close the rest. */
static void close_all_but(const int *keep, size_t nkeep, int also)
{
	int *k = xmalloc((nkeep + 1) * sizeof(*k));
	if (nkeep)
		memcpy(k, keep, nkeep * sizeof(*k));
	k[nkeep] = also;
	proc_close_all_but(3, k, nkeep + 1);
	free(k);
}

static void keeper_main(const struct proc_spawn *s, int report, pid_t parent)
{
	/* The job ends with gpuci: nobody would collect it otherwise. */
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (getppid() != parent)
		_exit(127);
	int devnull = open("/dev/null", O_RDONLY);
	if (devnull > 0) {
		dup2(devnull, 0);
		close(devnull);
	}
	dup2(s->out_fd, 1);
	dup2(s->out_fd, 2);
	close_all_but(s->keep_fds, s->nkeep, report);
	if (s->cwd && chdir(s->cwd) < 0) {
		dprintf(2, "gpuci: cannot enter %s: %s\n", s->cwd, strerror(errno));
		_exit(126);
	}
	/* Signals: blocked (inherited) and read through a signalfd of our own. */
	struct proc_signals ps;
	struct diag d = DIAG_INIT;
	if (proc_signals_open(&ps, &d) < 0) {
		dprintf(2, "gpuci: %s\n", d.msg.buf);
		_exit(126);
	}
	ps.saved = *s->mask;
	/* A log that is a pipe whose reader left is a failed write, not our death. */
	signal(SIGPIPE, SIG_IGN);
	struct proc_output output = {.fd = 1, .filter = s->filter, .arg = s->filter_arg};
	struct proc_job job = {
	    .argv = s->argv, .env = s->env, .kill_after = s->kill_after, .output = &output};
	struct proc_result res;
	struct keeper_report rep = {.status = -1};
	if (proc_run(&res, &job, &ps, &d) == 0) {
		if (!res.started)
			dprintf(2, "gpuci: cannot run %s: %s\n", s->argv[0],
			        strerror(res.exec_errno));
		rep = (struct keeper_report){res.status,       res.exec_errno, res.signal,
		                             res.ended,        res.killed,     res.started,
		                             res.output_errno, res.output_lost};
	} else {
		dprintf(2, "gpuci: %s\n", d.msg.buf);
	}
	ssize_t w = write(report, &rep, sizeof(rep));
	(void)w;
	_exit(0);
}

int proc_keeper_start(struct proc_keeper *k, const struct proc_spawn *s, struct diag *d)
{
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0)
		return diag_errno(d, "pipe");
	pid_t parent = getpid();
	pid_t pid = fork();
	if (pid < 0) {
		close(p[0]);
		close(p[1]);
		return diag_errno(d, "cannot fork");
	}
	if (pid == 0) {
		setpgid(0, 0);
		close(p[0]);
		keeper_main(s, p[1], parent);
	}
	setpgid(pid, pid); /* also here: no race with a signal to the group */
	close(p[1]);
	k->pid = pid;
	k->report_fd = p[0];
	return 0;
}

void proc_keeper_result(struct proc_keeper *k, int wait_status, struct proc_result *out)
{
	*out = (struct proc_result){.status = wait_status, .started = true};
	struct keeper_report rep = {0};
	ssize_t n = -1;
	if (k->report_fd >= 0) {
		while ((n = read(k->report_fd, &rep, sizeof(rep))) < 0 && errno == EINTR)
			;
		close(k->report_fd);
		k->report_fd = -1;
	}
	if (n == (ssize_t)sizeof(rep) && rep.status != -1) {
		out->status = rep.status;
		out->started = rep.started;
		out->exec_errno = rep.exec_errno;
		out->ended = rep.ended;
		out->killed = rep.killed;
		out->output_errno = rep.output_errno;
		out->output_lost = rep.output_lost;
	} else if (n == (ssize_t)sizeof(rep)) {
		out->status = 126 << 8; /* the keeper could not run it */
	}
}
