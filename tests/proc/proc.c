#include "harness.h"

#include <errno.h>
#include <stdio.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "proc/proc.h"

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Runs argv as a job; returns proc_exit_code() and fills *res. */
static int run(char **argv, double kill_after, struct proc_result *res)
{
	struct proc_signals ps;
	struct diag d = DIAG_INIT;
	assert_int_equal(proc_signals_open(&ps, &d), 0);
	struct proc_job job = {.argv = argv, .kill_after = kill_after};
	assert_int_equal(proc_run(res, &job, &ps, &d), 0);
	proc_signals_close(&ps);
	return proc_exit_code(res);
}

static void proc_run__passes_on_the_exit_status(void **state)
{
	struct proc_result r;
	char *ok[] = {"true", NULL};
	assert_int_equal(run(ok, 10, &r), 0);
	char *three[] = {"sh", "-c", "exit 3", NULL};
	assert_int_equal(run(three, 10, &r), 3);
	char *killed[] = {"sh", "-c", "kill -9 $$", NULL};
	assert_int_equal(run(killed, 10, &r), 128 + 9);
}

static void proc_run__reports_a_command_that_cannot_run(void **state)
{
	struct proc_result r;
	char *missing[] = {"gpuci-no-such-command", NULL};
	assert_int_equal(run(missing, 10, &r), 127);
	assert_false(r.started);
	assert_int_equal(r.exec_errno, ENOENT);
	char *notexec[] = {"/tmp", NULL}; /* a directory: EACCES */
	assert_int_equal(run(notexec, 10, &r), 126);
}

static void proc_run__sets_the_environment_of_the_command(void **state)
{
	struct proc_signals ps;
	struct diag d = DIAG_INIT;
	assert_int_equal(proc_signals_open(&ps, &d), 0);
	char *argv[] = {"sh", "-c", "test \"$GPUCI_T\" = 0,2", NULL};
	char var[] = "GPUCI_T=0,2";
	char *env[] = {var, NULL};
	struct proc_job job = {.argv = argv, .setenv = env, .kill_after = 1};
	struct proc_result r;
	assert_int_equal(proc_run(&r, &job, &ps, &d), 0);
	proc_signals_close(&ps);
	assert_int_equal(proc_exit_code(&r), 0);
	assert_null(getenv("GPUCI_T")); /* only the command's environment */
}

static void proc_run__ends_processes_left_behind(void **state)
{
	struct proc_result r;
	char *argv[] = {"sh", "-c", "sleep 30 & sleep 30 & exit 0", NULL};
	double t0 = now();
	assert_int_equal(run(argv, 10, &r), 0);
	assert_true(now() - t0 < 5);
	assert_int_equal(r.ended, 2);
	assert_int_equal(r.killed, 0);
	pid_t *left;
	assert_int_equal(proc_descendants(getpid(), &left), 0);
	free(left);
}

static void proc_run__kills_what_ignores_sigterm_after_kill_after(void **state)
{
	char *dir = harness_tmpdir();
	char *ready = harness_path(dir, "ready");
	char script[512];
	/* The command exits only once its leftover ignores SIGTERM. */
	snprintf(script, sizeof(script),
	         "(trap '' TERM; touch %s; exec sleep 30) & "
	         "while [ ! -e %s ]; do sleep 0.01; done; exit 0",
	         ready, ready);
	char *argv[] = {"sh", "-c", script, NULL};
	struct proc_result r;
	double t0 = now();
	assert_int_equal(run(argv, 0.3, &r), 0);
	double took = now() - t0;
	assert_true(took >= 0.29);
	assert_true(took < 5);
	assert_int_equal(r.killed, 1);
	free(ready);
	harness_rmtree(dir);
}

static void proc_descendants__finds_grandchildren(void **state)
{
	pid_t child = fork();
	if (child == 0) {
		execlp("sh", "sh", "-c", "sleep 30 & wait", (char *)NULL);
		_exit(127);
	}
	pid_t *v = NULL;
	size_t n = 0;
	for (int i = 0; i < 200 && n < 2; i++) {
		free(v);
		usleep(5000);
		n = proc_descendants(getpid(), &v);
	}
	assert_int_equal(n, 2);
	for (size_t i = 0; i < n; i++)
		kill(v[i], SIGKILL);
	free(v);
	waitpid(child, NULL, 0);
}

/* Waits for the keeper and gives the job's result. */
static void keeper_wait(struct proc_keeper *k, struct proc_result *res)
{
	int status;
	assert_int_equal(waitpid(k->pid, &status, 0), k->pid);
	proc_keeper_result(k, status, res);
}

static void proc_keeper__owns_a_setsid_double_fork(void **state)
{
	/* The grandchild leaves the session; its pid goes to a file; it sleeps. */
	char file[] = "/tmp/gpuci-keeper-XXXXXX";
	int fd = mkstemp(file);
	assert_true(fd >= 0);
	close(fd);
	char script[512];
	snprintf(script, sizeof(script),
	         "setsid sh -c 'sh -c \"echo \\$\\$ > %s; exec sleep 60\" &' ; "
	         "while [ ! -s %s ]; do sleep 0.01; done; exit 4",
	         file, file);
	char *argv[] = {"sh", "-c", script, NULL};
	extern char **environ;
	sigset_t none;
	sigemptyset(&none);
	struct proc_spawn sp = {
	    .argv = argv, .env = environ, .out_fd = 2, .kill_after = 5, .mask = &none};
	struct proc_keeper k;
	struct diag d = DIAG_INIT;
	double t0 = now();
	assert_int_equal(proc_keeper_start(&k, &sp, &d), 0);
	struct proc_result res;
	keeper_wait(&k, &res);
	assert_true(now() - t0 < 30); /* ended when the command ended, not after 60 s */
	assert_true(res.started);
	assert_true(WIFEXITED(res.status));
	assert_int_equal(WEXITSTATUS(res.status), 4);
	assert_int_equal(res.ended, 1);
	FILE *f = fopen(file, "r");
	assert_non_null(f);
	int pid = 0;
	assert_int_equal(fscanf(f, "%d", &pid), 1);
	fclose(f);
	unlink(file);
	/* Gone when the keeper is: nobody else may be left holding what it held. */
	assert_true(kill(pid, 0) < 0 && errno == ESRCH);
}

static void proc_keeper__reports_a_command_that_cannot_run(void **state)
{
	char *argv[] = {"gpuci-no-such-command", NULL};
	extern char **environ;
	sigset_t none;
	sigemptyset(&none);
	int fds[2];
	assert_int_equal(pipe(fds), 0);
	struct proc_spawn sp = {
	    .argv = argv, .env = environ, .out_fd = fds[1], .kill_after = 1, .mask = &none};
	struct proc_keeper k;
	struct diag d = DIAG_INIT;
	assert_int_equal(proc_keeper_start(&k, &sp, &d), 0);
	close(fds[1]);
	struct proc_result res;
	keeper_wait(&k, &res);
	assert_false(res.started);
	assert_int_equal(res.exec_errno, ENOENT);
	char buf[256] = {0};
	assert_true(read(fds[0], buf, sizeof(buf) - 1) > 0);
	close(fds[0]);
	assert_non_null(strstr(buf, "cannot run gpuci-no-such-command"));
}

/* Runs argv under a keeper with its output to out_fd (and filter); waits. */
static void keeper_run(char **argv, int out_fd, const int *keep, size_t nkeep,
                       void (*filter)(void *, const char *, size_t, bool, struct strbuf *),
                       void *arg, struct proc_result *res)
{
	extern char **environ;
	sigset_t none;
	sigemptyset(&none);
	struct proc_spawn sp = {.argv = argv,
	                        .env = environ,
	                        .out_fd = out_fd,
	                        .keep_fds = keep,
	                        .nkeep = nkeep,
	                        .kill_after = 1,
	                        .mask = &none,
	                        .filter = filter,
	                        .filter_arg = arg};
	struct proc_keeper k;
	struct diag d = DIAG_INIT;
	assert_int_equal(proc_keeper_start(&k, &sp, &d), 0);
	keeper_wait(&k, res);
}

static void proc_keeper__a_log_write_error_is_its_own_not_the_commands(void **state)
{
	/* /dev/full: every write fails with ENOSPC, as on a full disk. */
	int full = open("/dev/full", O_WRONLY | O_CLOEXEC);
	assert_true(full >= 0);
	char *argv[] = {"sh", "-c", "echo a line; echo another; exit 0", NULL};
	struct proc_result res;
	keeper_run(argv, full, NULL, 0, NULL, NULL, &res);
	close(full);
	assert_true(res.started);
	assert_true(WIFEXITED(res.status));
	assert_int_equal(WEXITSTATUS(res.status), 0); /* its own writes went well */
	assert_int_equal(res.output_errno, ENOSPC);
	assert_int_equal(res.output_lost, strlen("a line\nanother\n"));
}

/* A filter that upper-cases what it is given. */
static void upper(void *arg, const char *buf, size_t n, bool eof, struct strbuf *out)
{
	(void)eof;
	*(int *)arg += 1;
	for (size_t i = 0; i < n; i++)
		strbuf_addch(out, buf[i] >= 'a' && buf[i] <= 'z' ? buf[i] - 32 : buf[i]);
}

static void proc_keeper__copies_the_output_through_its_filter(void **state)
{
	int fds[2];
	assert_int_equal(pipe(fds), 0);
	char *argv[] = {"sh", "-c", "echo out; echo err >&2", NULL};
	int calls = 0;
	struct proc_result res;
	keeper_run(argv, fds[1], NULL, 0, upper, &calls, &res);
	close(fds[1]);
	char buf[64] = {0};
	ssize_t n = 0, r;
	while ((r = read(fds[0], buf + n, sizeof(buf) - 1 - (size_t)n)) > 0)
		n += r;
	close(fds[0]);
	assert_string_equal(buf, "OUT\nERR\n");
	assert_int_equal(res.output_errno, 0);
	assert_int_equal(calls, 0); /* the keeper's copy was called, not ours */
}

static void proc_keeper__closes_every_descriptor_but_the_kept_ones(void **state)
{
	/* Descriptors far apart, near the open-files limit: one kept, one not. */
	struct rlimit rl;
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
	int hi = rl.rlim_cur > 4096 ? 4000 : (int)rl.rlim_cur - 10;
	int p[2];
	assert_int_equal(pipe(p), 0);
	assert_int_equal(dup2(p[0], hi), hi);
	assert_int_equal(dup2(p[0], hi - 7), hi - 7);
	assert_int_equal(dup2(p[0], 40), 40);
	char script[256];
	snprintf(script, sizeof(script),
	         "test -e /proc/self/fd/%d && test ! -e /proc/self/fd/%d && "
	         "test ! -e /proc/self/fd/40 && test ! -e /proc/self/fd/%d",
	         hi - 7, hi, p[1]);
	char *argv[] = {"sh", "-c", script, NULL};
	int keep[] = {hi - 7};
	struct proc_result res;
	keeper_run(argv, 2, keep, 1, NULL, NULL, &res);
	assert_true(WIFEXITED(res.status));
	assert_int_equal(WEXITSTATUS(res.status), 0);
	close(hi);
	close(hi - 7);
	close(40);
	close(p[0]);
	close(p[1]);
}

/* Spawns o, waits for it; returns its exit code, and its stdout in out. */
static int spawn_wait(struct proc_spawn_opts *o, struct strbuf *out)
{
	int p[2];
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	struct proc_fd_map fds[] = {{p[1], 1}};
	o->fds = fds;
	o->nfds = 1;
	pid_t pid;
	struct diag d = DIAG_INIT;
	assert_int_equal(proc_spawn(o, &pid, &d), 0);
	close(p[1]);
	char buf[512];
	ssize_t n;
	while ((n = read(p[0], buf, sizeof(buf))) > 0)
		strbuf_add(out, buf, (size_t)n);
	close(p[0]);
	int st;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	diag_release(&d);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static void proc_spawn__maps_fds_sets_cwd_env_and_closes_the_rest(void **state)
{
	(void)state;
	int leak = open("/dev/null", O_RDONLY); /* not close-on-exec */
	assert_true(leak > 2);
	struct strbuf cmd = STRBUF_INIT, out = STRBUF_INIT;
	strbuf_addf(&cmd, "pwd; echo \"$X\"; [ -e /proc/self/fd/%d ] && echo open || echo closed",
	            leak);
	char *argv[] = {"sh", "-c", cmd.buf, NULL};
	char *env[] = {"X=from-env", "PATH=/usr/bin:/bin", NULL};
	struct proc_spawn_opts o = {.argv = argv, .env = env, .cwd = "/"};
	assert_int_equal(spawn_wait(&o, &out), 0);
	assert_string_equal(out.buf, "/\nfrom-env\nopen\n");
	/* close_others: the child holds nothing of ours. */
	strbuf_reset(&out);
	o.close_others = true;
	assert_int_equal(spawn_wait(&o, &out), 0);
	assert_string_equal(out.buf, "/\nfrom-env\nclosed\n");
	/* The same through the fork path (pdeathsig). */
	strbuf_reset(&out);
	o.pdeathsig = SIGTERM;
	assert_int_equal(spawn_wait(&o, &out), 0);
	assert_string_equal(out.buf, "/\nfrom-env\nclosed\n");
	close(leak);
	strbuf_release(&cmd);
	strbuf_release(&out);
}

static void proc_spawn__says_why_a_program_cannot_run(void **state)
{
	(void)state;
	char *argv[] = {"gpuci-no-such-program", NULL};
	for (int pdeath = 0; pdeath < 2; pdeath++) {
		struct proc_spawn_opts o = {.argv = argv, .pdeathsig = pdeath ? SIGTERM : 0};
		pid_t pid = -1;
		struct diag d = DIAG_INIT;
		assert_int_equal(proc_spawn(&o, &pid, &d), -1);
		assert_int_equal(errno, ENOENT);
		assert_non_null(strstr(d.msg.buf, "cannot run gpuci-no-such-program"));
		diag_release(&d);
	}
}

static void proc_spawn__resets_and_ignores_signals_as_asked(void **state)
{
	(void)state;
	/* SIGPIPE ignored in the child (the fork path: we do not ignore it here). */
	char *argv[] = {"sh", "-c", "grep -E '^SigIgn' /proc/self/status", NULL};
	sigset_t ign;
	sigemptyset(&ign);
	sigaddset(&ign, SIGPIPE);
	struct strbuf out = STRBUF_INIT;
	struct proc_spawn_opts o = {.argv = argv, .sigignore = &ign};
	assert_int_equal(spawn_wait(&o, &out), 0);
	/* SigIgn is a hex mask: bit SIGPIPE-1 (13: 0x1000). */
	unsigned long long mask = strtoull(strchr(out.buf, ':') + 1, NULL, 16);
	assert_true(mask & (1ULL << (SIGPIPE - 1)));
	strbuf_release(&out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(proc_run__passes_on_the_exit_status),
	    cmocka_unit_test(proc_run__reports_a_command_that_cannot_run),
	    cmocka_unit_test(proc_run__sets_the_environment_of_the_command),
	    cmocka_unit_test(proc_run__ends_processes_left_behind),
	    cmocka_unit_test(proc_run__kills_what_ignores_sigterm_after_kill_after),
	    cmocka_unit_test(proc_descendants__finds_grandchildren),
	    cmocka_unit_test(proc_keeper__owns_a_setsid_double_fork),
	    cmocka_unit_test(proc_keeper__reports_a_command_that_cannot_run),
	    cmocka_unit_test(proc_keeper__a_log_write_error_is_its_own_not_the_commands),
	    cmocka_unit_test(proc_keeper__copies_the_output_through_its_filter),
	    cmocka_unit_test(proc_keeper__closes_every_descriptor_but_the_kept_ones),
	    cmocka_unit_test(proc_spawn__maps_fds_sets_cwd_env_and_closes_the_rest),
	    cmocka_unit_test(proc_spawn__says_why_a_program_cannot_run),
	    cmocka_unit_test(proc_spawn__resets_and_ignores_signals_as_asked),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
