/*
 * proc: runs one command as a job and makes sure it is over when it is over.
 *
 * Lifecycle of proc_run():
 *   1. gpuci becomes a child subreaper (PR_SET_CHILD_SUBREAPER), so every
 *      process the command leaves behind is re-parented to gpuci rather than
 *      to init, and can be waited for.
 *   2. The command is started with fork + execvp (never through a shell), in
 *      gpuci's own process group so that a terminal's Ctrl-C and job control
 *      reach it as they would without gpuci.
 *   3. SIGINT, SIGTERM and SIGHUP received by gpuci are sent on to every
 *      process of the job (a signal that came from the terminal already
 *      reached those in the foreground group, and is sent only to the rest).
 *      From the first such signal, the job has kill_after seconds to end
 *      before everything left is killed with SIGKILL.
 *   4. When the command exits, every descendant still running gets SIGTERM,
 *      then SIGKILL after kill_after seconds. proc_run() returns only when no
 *      descendant is left, so a caller may then release what the job held.
 *
 * The one process-wide state: signals are taken through a signalfd, which
 * needs them blocked; proc_signals_open() does that and the caller passes
 * the descriptor to proc_run() (and may poll it earlier, e.g. while waiting
 * for GPUs, to notice Ctrl-C).
 */
#ifndef GPUCI_PROC_PROC_H
#define GPUCI_PROC_PROC_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "base/diag.h"
#include "base/strbuf.h"

struct proc_signals {
	int fd;         /* signalfd for SIGINT, SIGTERM, SIGHUP, SIGCHLD */
	sigset_t saved; /* the mask before, restored in the command */
	int received;   /* the last terminating signal taken, or 0 */
	bool from_tty;  /* whether that signal came from the terminal */
};

/* Blocks the job-control signals and opens the signalfd. */
int proc_signals_open(struct proc_signals *ps, struct diag *d);
void proc_signals_close(struct proc_signals *ps);
/*
 * Reads pending signals without waiting. Returns the last terminating one
 * (SIGINT, SIGTERM or SIGHUP) read, 0 if none; SIGCHLD is consumed silently.
 */
int proc_signals_take(struct proc_signals *ps);

/*
 * proc_spawn: the one way gpuci starts a program (git, a job's command,
 * docker kill): never through a shell, argv[0] searched on PATH, with
 *   - env as its whole environment (NULL: gpuci's),
 *   - cwd (NULL: gpuci's),
 *   - fds: dup2(from, to) for each pair, in order (stdin, stdout, stderr
 *     of the child); with close_others, every other descriptor above the
 *     highest `to` is closed in the child (gpuci opens its own descriptors
 *     close-on-exec; this is for a child that must hold nothing of gpuci's
 *     whatever another part left open);
 *   - mask as its signal mask (NULL: empty), the signals of sigdefault
 *     reset to SIG_DFL, those of sigignore set to SIG_IGN;
 *   - optionally a process group of its own (setpgid) or a session
 *     (setsid), and PR_SET_PDEATHSIG (a signal it gets when gpuci dies).
 * It is a posix_spawnp() (a vfork: no copy of gpuci's page tables per
 * child), except for what posix_spawn cannot do (pdeathsig, a sigignore
 * gpuci does not have already): then a fork and exec, with a close-on-exec
 * pipe that brings exec's errno back. The only fork without exec in gpuci
 * is the keeper (proc_keeper_start() below), which stays in this module.
 */
struct proc_fd_map {
	int from, to;
};

struct proc_spawn_opts {
	char *const *argv;
	char *const *env;
	const char *cwd;
	const struct proc_fd_map *fds;
	size_t nfds;
	bool close_others;
	const sigset_t *mask;
	const sigset_t *sigdefault;
	const sigset_t *sigignore;
	bool new_pgroup;
	bool new_session;
	int pdeathsig; /* 0: none */
};

/*
 * Starts o->argv; *pid is the child's, to wait for. Returns 0, or -1
 * (DIAG_SYSTEM "cannot run ARGV0: why") with errno the cause, exec's own
 * (ENOENT: not found) included: nothing was started then.
 */
int proc_spawn(const struct proc_spawn_opts *o, pid_t *pid, struct diag *d);

/*
 * Where a job's output goes when proc_run() copies it (a keeper's log):
 * the command's stdout and stderr are a pipe, which proc_run() reads and
 * writes to fd, through filter when set (it appends what to write for each
 * chunk read, and at eof what it held back). A write that fails does not
 * reach the command: the rest of the output is read and dropped, and the
 * result says why (output_errno) and how much (output_lost).
 */
struct proc_output {
	int fd;
	void (*filter)(void *arg, const char *buf, size_t len, bool eof, struct strbuf *out);
	void *arg;
};

struct proc_job {
	char *const *argv;                /* the command; argv[0] is looked up in PATH */
	char *const *env;                 /* its whole environment; NULL: gpuci's own */
	char *const *setenv;              /* "NAME=VALUE" entries added to the environment */
	double kill_after;                /* seconds between SIGTERM and SIGKILL */
	bool ignore_sigpipe;              /* run it with SIGPIPE ignored (else default) */
	const struct proc_output *output; /* NULL: the command writes where gpuci does */
};

struct proc_result {
	int status;   /* raw wait status of the command, when it ran */
	bool started; /* false: exec failed (exec_errno says why) */
	int exec_errno;
	int signal;                     /* terminating signal gpuci received, or 0 */
	unsigned killed;                /* leftover processes that needed SIGKILL */
	unsigned ended;                 /* leftover processes that were sent SIGTERM */
	int output_errno;               /* why writing the output failed (proc_output), or 0 */
	unsigned long long output_lost; /* bytes of output not written after that */
};

/*
 * Runs the job as described above. Returns 0 once the command and every
 * descendant are gone; -1 (DIAG_SYSTEM) only when the command could not be
 * started at all (fork failed).
 */
int proc_run(struct proc_result *out, const struct proc_job *job, struct proc_signals *ps,
             struct diag *d);

/*
 * The exit status a wrapper should pass on: the command's exit code, 128+N
 * when it was killed by signal N, 127 when it was not found, 126 when it
 * could not be executed; 128+N when gpuci itself was stopped by signal N.
 */
int proc_exit_code(const struct proc_result *r);

/*
 * A command started under a keeper, for a caller that runs several jobs at
 * once (gpuci run) and so cannot be the subreaper of each itself:
 *
 *   gpuci ── keeper (a forked gpuci: new process group, child subreaper)
 *                └── the command ── whatever it starts, setsid() or not
 *
 * The keeper runs proc_run() for the command: whatever the command starts
 * stays the keeper's descendant however it double-forks, is sent SIGTERM
 * when the command exits and SIGKILL kill_after seconds later, and the
 * keeper exits only when the last one is gone. So the keeper's exit means
 * the job is over, and descriptors it was given (GPU locks) are released
 * by it last. A SIGTERM (or SIGINT, SIGHUP) sent to the keeper goes on to
 * every process of the job, with the same kill_after. When gpuci itself
 * dies, the keeper gets SIGTERM (PR_SET_PDEATHSIG) and ends the job.
 * The keeper copies the command's output to out_fd (struct proc_output),
 * so a log that cannot be written (a full disk) is reported, not a
 * failure of the command's own writes.
 */
struct proc_spawn {
	char *const *argv; /* argv[0] looked up in PATH */
	char *const *env;  /* the command's whole environment */
	const char *cwd;   /* its working directory; NULL: gpuci's */
	int out_fd;        /* its stdout and stderr (stdin is /dev/null), through a pipe */
	/* What the keeper passes the output through (struct proc_output); NULL: as is. */
	void (*filter)(void *arg, const char *buf, size_t len, bool eof, struct strbuf *out);
	void *filter_arg;    /* the keeper's copy (it is a fork): may hold state */
	const int *keep_fds; /* descriptors it inherits besides 0-2 (all others closed) */
	size_t nkeep;
	double kill_after;
	const sigset_t *mask; /* the signal mask it starts with */
};

struct proc_keeper {
	pid_t pid;     /* the keeper: wait for it, signal it */
	int report_fd; /* its report (private to proc) */
};

/*
 * Starts a keeper for s. A command that cannot be executed is the keeper's
 * business: it says so on out_fd ("gpuci: cannot run X: ...") and reports
 * it. Fails (DIAG_SYSTEM) only when fork or a pipe fails.
 */
int proc_keeper_start(struct proc_keeper *k, const struct proc_spawn *s, struct diag *d);
/*
 * The job's result once waitpid() has returned the keeper with wait_status:
 * the command's status and the leftovers the keeper ended. A keeper that
 * died without reporting (SIGKILL) gives its own status. Closes the report.
 */
void proc_keeper_result(struct proc_keeper *k, int wait_status, struct proc_result *out);

/*
 * The pids of every live descendant of process `root` (found through
 * /proc), excluding zombies. Stores a malloc'd array; returns its length.
 */
size_t proc_descendants(pid_t root, pid_t **out);

#endif
