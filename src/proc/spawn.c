/* The one way gpuci starts a program; see proc_spawn() in proc.h. */
#include "proc/proc.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "proc/proc_int.h"
#include "base/banned.h"

extern char **environ;

/* The lowest descriptor close_others closes: above every dup2 target (and 2). */
static int close_from(const struct proc_spawn_opts *o)
{
	int lo = 3;
	for (size_t i = 0; i < o->nfds; i++)
		if (o->fds[i].to + 1 > lo)
			lo = o->fds[i].to + 1;
	return lo;
}

/* Whether every signal of sigignore is ignored here already (a spawned child keeps that). */
static bool ignored_already(const sigset_t *sigignore)
{
	if (!sigignore)
		return true;
	for (int sig = 1; sig < NSIG; sig++) {
		if (sigismember(sigignore, sig) != 1)
			continue;
		struct sigaction sa;
		if (sigaction(sig, NULL, &sa) < 0 || sa.sa_handler != SIG_IGN)
			return false;
	}
	return true;
}

static int spawn_posix(const struct proc_spawn_opts *o, pid_t *pid)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	posix_spawn_file_actions_init(&fa);
	for (size_t i = 0; i < o->nfds; i++)
		posix_spawn_file_actions_adddup2(&fa, o->fds[i].from, o->fds[i].to);
	if (o->close_others)
		posix_spawn_file_actions_addclosefrom_np(&fa, close_from(o));
	if (o->cwd)
		posix_spawn_file_actions_addchdir_np(&fa, o->cwd);
	posix_spawnattr_init(&at);
	sigset_t none;
	sigemptyset(&none);
	short flags = POSIX_SPAWN_SETSIGMASK;
	posix_spawnattr_setsigmask(&at, o->mask ? o->mask : &none);
	if (o->sigdefault) {
		posix_spawnattr_setsigdefault(&at, o->sigdefault);
		flags |= POSIX_SPAWN_SETSIGDEF;
	}
	if (o->new_pgroup) {
		posix_spawnattr_setpgroup(&at, 0);
		flags |= POSIX_SPAWN_SETPGROUP;
	}
	if (o->new_session)
		flags |= POSIX_SPAWN_SETSID;
	posix_spawnattr_setflags(&at, flags);
	int e = posix_spawnp(pid, o->argv[0], &fa, &at, o->argv, o->env ? o->env : environ);
	posix_spawnattr_destroy(&at);
	posix_spawn_file_actions_destroy(&fa);
	return e;
}

/* In the forked child: everything spawn_posix does, and what it cannot. */
static _Noreturn void child(const struct proc_spawn_opts *o, int errfd, pid_t parent)
{
	if (o->new_session)
		setsid();
	else if (o->new_pgroup)
		setpgid(0, 0);
	if (o->pdeathsig) {
		prctl(PR_SET_PDEATHSIG, o->pdeathsig);
		if (getppid() != parent)
			_exit(127); /* gpuci died before the prctl */
	}
	for (size_t i = 0; i < o->nfds; i++)
		if (dup2(o->fds[i].from, o->fds[i].to) < 0)
			goto fail;
	if (o->close_others) {
		int keep = errfd;
		proc_close_all_but((unsigned)close_from(o), &keep, 1);
	}
	if (o->cwd && chdir(o->cwd) < 0)
		goto fail;
	for (int sig = 1; sig < NSIG; sig++) {
		if (o->sigdefault && sigismember(o->sigdefault, sig) == 1)
			signal(sig, SIG_DFL);
		if (o->sigignore && sigismember(o->sigignore, sig) == 1)
			signal(sig, SIG_IGN);
	}
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, o->mask ? o->mask : &none, NULL);
	if (o->env)
		environ = (char **)o->env;
	execvp(o->argv[0], o->argv);
fail:;
	int err = errno;
	ssize_t w = write(errfd, &err, sizeof(err));
	(void)w;
	_exit(127);
}

static int spawn_fork(const struct proc_spawn_opts *o, pid_t *pid)
{
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0)
		return errno;
	pid_t parent = getpid();
	pid_t c = fork();
	if (c < 0) {
		int e = errno;
		close(p[0]);
		close(p[1]);
		return e;
	}
	if (c == 0) {
		close(p[0]);
		child(o, p[1], parent);
	}
	close(p[1]);
	int err = 0;
	ssize_t n;
	while ((n = read(p[0], &err, sizeof(err))) < 0 && errno == EINTR)
		;
	close(p[0]);
	if (n == (ssize_t)sizeof(err)) {
		/* exec failed: the child is gone, reaped here as posix_spawn would. */
		while (waitpid(c, NULL, 0) < 0 && errno == EINTR)
			;
		return err;
	}
	*pid = c;
	return 0;
}

int proc_spawn(const struct proc_spawn_opts *o, pid_t *pid, struct diag *d)
{
	bool fork_needed = o->pdeathsig || !ignored_already(o->sigignore);
	int e = fork_needed ? spawn_fork(o, pid) : spawn_posix(o, pid);
	if (!e)
		return 0;
	errno = e;
	diag_errno(d, "cannot run %s", o->argv[0]);
	errno = e;
	return -1;
}
