/*
 * run: the supervisor of a suite. See run.h.
 *
 * One thread (the caller's) does everything but wait for GPUs: it polls a
 * signalfd (SIGCHLD, SIGINT, SIGTERM, SIGHUP) and a pipe from the one
 * acquirer thread, which blocks in lease_acquire() for the next test that
 * needs GPUs. Timeouts, kill deadlines and the live display are checked
 * each time poll() returns, with its timeout set to the nearest of them.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <regex.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "run/run.h"
#include "run/executor.h"
#include "base/fs.h"
#include "base/strbuf.h"
#include "base/xalloc.h"
#include "gpu/gpu.h"
#include "lease/lease.h"
#include "proc/proc.h"
#include "sched/sched.h"
#include "run/run_int.h"
#include "base/banned.h"

double run__mono(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double wall(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void run__set_str(char **dst, const char *s)
{
	free(*dst);
	*dst = xstrdup(s ? s : "");
}

/* ---- events ------------------------------------------------------------ */

bool run_event_ends_attempt(enum run_event_kind kind)
{
	return kind == RUN_EV_PASSED || kind == RUN_EV_FAILED || kind == RUN_EV_TIMED_OUT ||
	       kind == RUN_EV_CANCELED;
}

void run__emit(struct run *r, struct run_event *ev)
{
	if (!r->o->on_event)
		return;
	ev->now = run__mono();
	r->o->on_event(r->o->arg, ev);
}

/* An event of test i, with what every test event carries. */
void run__emit_test(struct run *r, enum run_event_kind kind, size_t i, const char *text)
{
	const struct run_test *t = &r->tests[i];
	struct run_event ev = {
	    .kind = kind,
	    .test = t,
	    .index = i,
	    .attempt = t->attempts,
	    .gpu_ids = t->gpu_ids ? t->gpu_ids : "",
	    .started = t->st->phase >= P_RUNNING ? t->st->start : 0,
	    .text = text,
	};
	run__emit(r, &ev);
}

static void emit_run(struct run *r, enum run_event_kind kind)
{
	struct run_event ev = {.kind = kind, .n = r->n, .signal = r->stopping};
	run__emit(r, &ev);
}

/* ---- starting and ending tests ----------------------------------------- */

char *run_log_path(const char *log_dir, size_t i, const char *test_file, unsigned attempt)
{
	struct strbuf s = STRBUF_INIT;
	strbuf_addf(&s, "%s/%zu-", log_dir, i + 1);
	/* The test's file name, made safe for a path. */
	const char *base = strrchr(test_file, '/');
	base = base ? base + 1 : test_file;
	for (const char *p = base; *p; p++)
		strbuf_addch(&s, (*p == '/' || *p == ' ' || (unsigned char)*p < 0x20) ? '_' : *p);
	if (s.len > 3 && !strcmp(s.buf + s.len - 3, ".py"))
		strbuf_setlen(&s, s.len - 3);
	if (attempt > 1)
		strbuf_addf(&s, ".attempt%u", attempt);
	strbuf_adds(&s, ".log");
	return strbuf_detach(&s, NULL);
}

int run__spawn(struct run *r, size_t i, struct diag *d)
{
	struct run_test *t = &r->tests[i];
	struct run_state *st = t->st;
	t->attempts++;
	free(t->log_path);
	t->log_path = run_log_path(r->o->log_dir, i, t->test_file, t->attempts);
	int logfd = open(t->log_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (logfd < 0)
		return diag_errno(d, "cannot create %s", t->log_path);

	/* The environment: the test's, with its GPUs (none: set and empty). */
	size_t ne = 0;
	while (t->env && t->env[ne])
		ne++;
	char **env = xcalloc(ne + GPU_ENV_N + 3, sizeof(*env));
	size_t k = 0;
	for (size_t j = 0; j < ne; j++)
		if (!gpu_env_owns(t->env[j], GPU_ENV_DEFAULT_VAR) &&
		    strncmp(t->env[j], "GPUCI_RUN_ID=", 13) != 0 &&
		    strncmp(t->env[j], "GPUCI_GPUS=", 11) != 0)
			env[k++] = t->env[j];
	struct strbuf marker = STRBUF_INIT;
	if (r->o->run_id) {
		strbuf_addf(&marker, "GPUCI_RUN_ID=%s", r->o->run_id);
		env[k++] = marker.buf;
	}
	struct strbuf cvd = STRBUF_INIT;
	const int *fds = NULL;
	size_t nfds = 0;
	const unsigned *g = NULL;
	size_t ng = st->lease ? lease_gpus(st->lease, &g) : 0;
	const char *genv[GPU_ENV_N];
	gpu_env(&cvd, GPU_ENV_DEFAULT_VAR, g, ng, genv);
	/* A cluster that places the test gives it its GPUs' variables itself. */
	for (size_t j = 0; j < GPU_ENV_N && !r->places; j++)
		env[k++] = (char *)genv[j];
	/* The lease in the host's numbers, also where a container renumbers. */
	struct strbuf hostg = STRBUF_INIT;
	strbuf_addf(&hostg, "GPUCI_GPUS=%s", strchr(genv[0], '=') + 1);
	if (!r->places)
		env[k++] = hostg.buf;
	env[k] = NULL;
	run__set_str(&t->gpu_ids, r->places ? "" : strchr(genv[0], '=') + 1);
	if (st->lease)
		nfds = lease_fds(st->lease, &fds);

	struct strbuf name = STRBUF_INIT;
	strbuf_addf(&name, "gpuci-%d-%zu-%u", (int)getpid(), i + 1, t->attempts);
	struct run_exec_job job = {
	    .test = t,
	    .index = i,
	    .env = env,
	    .gpu_ids = t->gpu_ids,
	    .keep_fds = fds,
	    .nkeep = nfds,
	    .cwd = r->o->cwd,
	    .name = name.buf,
	    .run_id = r->o->run_id,
	    .run_dir = r->o->log_dir,
	    .log_fd = logfd,
	    .kill_after = r->o->kill_after,
	    .mask = &r->sig.saved,
	    .secrets = r->o->mask,
	};
	/* The local and docker executors mask in a fork, with their own copy of the stream. */
	struct report_mask_stream *ms = NULL;
	if (report_mask_count(r->o->mask)) {
		ms = report_mask_stream_new(r->o->mask);
		job.filter = report_mask_filter;
		job.filter_arg = ms;
	}
	const struct run_executor *ex = r->o->executor ? r->o->executor : &run_exec_local;
	int krc = ex->start(&job, &st->exec, d);
	report_mask_stream_free(ms);
	close(logfd);
	free(env);
	strbuf_release(&marker);
	strbuf_release(&cvd);
	strbuf_release(&hostg);
	strbuf_release(&name);
	if (krc < 0) {
		st->exec = NULL;
		return -1;
	}
	st->stop_due_sent = false;
	st->poll_at = 0;
	st->kill_at = st->force_at = 0;
	st->left = st->killed = 0;
	st->log_errno = 0;
	st->log_lost = 0;
	st->timed_out = false;
	st->ran = false;
	st->why[0] = st->note[0] = '\0';
	st->log_size = 0;
	st->start = 0;
	st->ran_from = st->ran_to = 0;
	if (r->places) {
		st->phase = P_QUEUED; /* submitted: STARTED when it runs (placed()) */
		st->queued_at = run__mono();
		return 0;
	}
	st->phase = P_RUNNING;
	st->start = run__mono();
	st->deadline = r->o->timeout > 0 ? st->start + r->o->timeout : 0;
	st->log_at = st->start + RUN_OUTPUT_EVERY;
	st->ran = true;
	t->started_at = wall();
	run__emit_test(r, RUN_EV_STARTED, i, NULL);
	return 0;
}

/*
 * A queued attempt (a cluster's) asked for its state: WAITING when its
 * reason changed; STARTED, with its node and GPUs, once it runs (or ran:
 * it may have ended between two looks).
 */
static void placed(struct run *r, size_t i, enum run_exec_state s)
{
	struct run_test *t = &r->tests[i];
	struct run_state *st = t->st;
	struct run_exec_place where = {0};
	if (st->exec->ex->where)
		st->exec->ex->where(st->exec, &where);
	if (s == RUN_EXEC_QUEUED) {
		/* Said once it waits past a scheduler's pass or two, and when why changes. */
		if (run__mono() - st->queued_at >= QUEUED_QUIET &&
		    strcmp(where.why, st->why) != 0) {
			snprintf(st->why, sizeof(st->why), "%s", where.why);
			struct strbuf m = STRBUF_INIT;
			bool why = *where.why && strcmp(where.why, "None") != 0;
			strbuf_addf(&m, "%s job %s queued%s%s", st->exec->ex->name, where.job,
			            why ? ": " : "", why ? where.why : "");
			run__emit_test(r, RUN_EV_WAITING, i, m.buf);
			strbuf_release(&m);
		}
		return;
	}
	st->phase = P_RUNNING;
	if (!where.ran)
		return; /* ended before it ran: an END that did not start */
	st->ran = true;
	st->start = run__mono();
	st->deadline = r->o->timeout > 0 ? st->start + r->o->timeout : 0;
	st->log_at = st->start + RUN_OUTPUT_EVERY;
	t->started_at = wall();
	run__set_str(&t->gpu_ids, where.gpu_ids);
	run__set_str(&t->node, where.node);
	struct run_event ev = {
	    .kind = RUN_EV_STARTED,
	    .test = t,
	    .index = i,
	    .attempt = t->attempts,
	    .gpu_ids = t->gpu_ids,
	    .node = t->node,
	    .started = st->start,
	};
	run__emit(r, &ev);
}

/* Whether the test's log matches --retry-on. */
static bool log_matches(struct run *r, const struct run_test *t)
{
	if (!r->have_re)
		return true;
	struct strbuf log = STRBUF_INIT;
	struct diag d = DIAG_INIT;
	bool m = fs_read_all(t->log_path, &log, &d) == 0 &&
	         regexec(&r->retry_re, log.buf ? log.buf : "", 0, NULL, 0) == 0;
	strbuf_release(&log);
	diag_release(&d);
	return m;
}

/* The main process and its group are gone: decide, retry or finish. */
static void finish(struct run *r, size_t i)
{
	struct run_test *t = &r->tests[i];
	struct run_state *st = t->st;
	/* Someone deleted lock files under the test: say whether its GPUs were safe. */
	struct strbuf lost = STRBUF_INIT;
	size_t nlost = st->lease ? lease_check(st->lease, &lost) : 0;
	if (lost.len) {
		struct run_event ev = {.kind = RUN_EV_WARNING,
		                       .test = t,
		                       .index = i,
		                       .attempt = t->attempts,
		                       .gpu_ids = t->gpu_ids,
		                       .started = st->start,
		                       .text = lost.buf,
		                       .serious = nlost > 0};
		run__emit(r, &ev);
	}
	strbuf_release(&lost);
	lease_free(st->lease);
	st->lease = NULL;
	if (st->exec)
		st->exec->ex->release(st->exec);
	st->exec = NULL;
	t->duration = !st->ran                                        ? 0
	              : st->ran_to > st->ran_from && st->ran_from > 0 ? st->ran_to - st->ran_from
	                                                              : run__mono() - st->start;
	if (st->ran && st->ran_from > 0)
		t->started_at = st->ran_from;
	sched_done(r->sched, i, run__mono() - r->t0);
	struct strbuf msg = STRBUF_INIT;
	int s = st->status;
	bool failed = true;
	if (!st->ran) {
		/* A cluster job that ended before it ran (canceled in the queue, refused). */
		t->status = r->stopping || st->stopped ? REPORT_CANCELED : REPORT_FAILED;
		strbuf_adds(&msg, st->note[0] ? st->note : "its job ended before it ran");
	} else if (st->timed_out) {
		t->status = REPORT_TIMEOUT;
		strbuf_addf(&msg, "timed out after %.0f s", r->o->timeout);
	} else if (WIFSIGNALED(s)) {
		t->status = r->stopping ? REPORT_CANCELED : REPORT_CRASHED;
		strbuf_addf(&msg, "killed by signal %d (%s)", WTERMSIG(s), strsignal(WTERMSIG(s)));
	} else if (WEXITSTATUS(s) == 0) {
		t->status = t->attempts > 1 ? REPORT_FLAKY : REPORT_PASSED;
		failed = false;
		if (t->attempts > 1)
			strbuf_addf(&msg, "passed on attempt %u", t->attempts);
	} else {
		t->status = r->stopping ? REPORT_CANCELED : REPORT_FAILED;
		strbuf_addf(&msg, "exit %d", WEXITSTATUS(s));
	}
	t->exit_code = !st->ran ? -1 : WIFSIGNALED(s) ? 128 + WTERMSIG(s) : WEXITSTATUS(s);
	if (st->ran && st->note[0])
		strbuf_addf(&msg, "%s%s", msg.len ? "; " : "", st->note);
	t->log_errno = st->log_errno;
	if (st->log_errno) {
		/* The test's result stands; its log is short, and this says why. */
		strbuf_addf(&msg, "%slog %s incomplete: %s (%llu bytes of output not written)",
		            msg.len ? "; " : "", t->log_path, strerror(st->log_errno),
		            st->log_lost);
	}
	run__set_str(&t->message, msg.buf);
	strbuf_release(&msg);

	bool retry = failed && !r->stopping && t->status != REPORT_CANCELED &&
	             t->attempts <= r->o->retries && log_matches(r, t);
	struct run_event ev = {
	    .kind = t->status == REPORT_TIMEOUT    ? RUN_EV_TIMED_OUT
	            : t->status == REPORT_CANCELED ? RUN_EV_CANCELED
	            : failed                       ? RUN_EV_FAILED
	                                           : RUN_EV_PASSED,
	    .test = t,
	    .index = i,
	    .attempt = t->attempts,
	    .gpu_ids = t->gpu_ids,
	    .started = st->start,
	    .duration = t->duration,
	    .ran = st->ran,
	    .text = st->ran ? NULL : t->message, /* why it never ran */
	    .retrying = retry,
	    .left = st->left,
	    .killed = st->killed,
	};
	run__emit(r, &ev);
	if (retry) {
		st->phase = P_PENDING;
		sched_requeue(r->sched, i);
		ev.kind = RUN_EV_RETRIED;
		run__emit(r, &ev);
		return;
	}
	ev.kind = RUN_EV_FINISHED;
	run__emit(r, &ev);
	st->phase = P_DONE;
	r->done++;
}

/* Asks the test to stop: SIGTERM, SIGKILL after kill_after (by its executor). */
static void ask_stop(struct run *r, struct run_state *st, double now)
{
	if (st->exec)
		st->exec->ex->signal(st->exec, SIGTERM);
	if (!st->kill_at) {
		st->kill_at = now + r->o->kill_after;
		st->force_at = st->kill_at + KEEPER_GRACE;
	}
}

/* The last resort for an attempt that did not end: SIGKILL to all of it. */
static void kill_all(const struct run_state *st)
{
	if (st->exec)
		st->exec->ex->kill(st->exec);
}

static bool exec_done(const struct run_state *st)
{
	return !st->exec || st->exec->ex->state(st->exec) == RUN_EXEC_DONE;
}

/* The attempt's main part is over: its result, and what it left is being ended. */
static void ended(struct run_state *st)
{
	struct run_exec_result res;
	st->exec->ex->result(st->exec, &res);
	st->status = res.status;
	st->left = res.left;
	st->killed = res.killed;
	st->log_errno = res.log_errno;
	st->log_lost = res.log_lost;
	if (res.timed_out)
		st->timed_out = true;
	st->ran_from = res.started_at;
	st->ran_to = res.ended_at;
	snprintf(st->note, sizeof(st->note), "%s", res.note);
	st->phase = P_ENDING;
	if (st->exec->ex->state(st->exec) == RUN_EXEC_ENDING)
		st->force_at = run__mono() + 1;
}

static void reap(struct run *r)
{
	for (;;) {
		int status;
		pid_t pid = waitpid(-1, &status, WNOHANG);
		if (pid <= 0)
			break;
		for (size_t i = 0; i < r->n; i++) {
			struct run_state *st = r->tests[i].st;
			if (!st->exec || st->exec->pid != pid || st->phase != P_RUNNING)
				continue;
			st->exec->ex->reaped(st->exec, status);
			ended(st);
		}
	}
}

static void stop_all(struct run *r, int sig)
{
	if (r->stopping)
		return;
	r->stopping = sig;
	sched_drain(r->sched);
	emit_run(r, RUN_EV_STOPPING);
	char c = 1;
	while (write(r->cancel_pipe[1], &c, 1) < 0 && errno == EINTR)
		;
	double now = run__mono();
	for (size_t i = 0; i < r->n; i++) {
		struct run_state *st = r->tests[i].st;
		if (st->phase == P_QUEUED || st->phase == P_RUNNING || st->phase == P_ENDING) {
			st->stopped = true;
			ask_stop(r, st, now);
		}
	}
}

/* A cluster's: every test not started yet (retries too) is submitted, in the plan's order. */
static int submit_all(struct run *r, struct diag *d)
{
	for (size_t k = 0; k < r->norder && !r->stopping; k++) {
		size_t i = r->order[k];
		if (r->tests[i].st->phase != P_PENDING)
			continue;
		sched_start(r->sched, i, run__mono() - r->t0); /* its bookkeeping only */
		if (run__spawn(r, i, d) < 0)
			return -1;
	}
	return 0;
}

/* Starts what the scheduler allows: CPU tests at once, one lease request at a time. */
static int start_ready(struct run *r, struct diag *d)
{
	if (r->places)
		return submit_all(r, d);
	while (!r->stopping) {
		long i = sched_next(r->sched, run__mono() - r->t0);
		if (i < 0)
			return 0;
		struct run_test *t = &r->tests[i];
		if (t->gpus && r->acq.busy)
			return 0; /* the one outstanding request first */
		sched_start(r->sched, (size_t)i, run__mono() - r->t0);
		if (!t->gpus) {
			if (run__spawn(r, (size_t)i, d) < 0)
				return -1;
			continue;
		}
		t->st->phase = P_ACQUIRING;
		if (run__acquire_start(r, (size_t)i, d) < 0)
			return -1;
	}
	return 0;
}

/* OUTPUT when the log of running test i is longer than it was. */
static void log_grew(struct run *r, size_t i, double now)
{
	struct run_test *t = &r->tests[i];
	struct run_state *st = t->st;
	struct stat sb;
	st->log_at = now + RUN_OUTPUT_EVERY;
	if (!t->log_path || stat(t->log_path, &sb) < 0 ||
	    (unsigned long long)sb.st_size <= st->log_size)
		return;
	st->log_size = (unsigned long long)sb.st_size;
	struct run_event ev = {.kind = RUN_EV_OUTPUT,
	                       .test = t,
	                       .index = i,
	                       .attempt = t->attempts,
	                       .gpu_ids = t->gpu_ids,
	                       .started = st->start,
	                       .log_size = st->log_size};
	run__emit(r, &ev);
}

/* Timeouts, kill deadlines, groups that emptied; the next time to look. */
static double tick(struct run *r)
{
	double now = run__mono(), next = now + (r->o->idle_every > 0 ? r->o->idle_every : 5);
	for (size_t i = 0; i < r->n; i++) {
		struct run_test *t = &r->tests[i];
		struct run_state *st = t->st;
		if (st->phase == P_RUNNING && st->deadline && now >= st->deadline &&
		    !st->timed_out) {
			st->timed_out = true;
			ask_stop(r, st, now);
		}
		bool live =
		    st->phase == P_QUEUED || st->phase == P_RUNNING || st->phase == P_ENDING;
		if (live && st->kill_at && now >= st->kill_at && !st->stop_due_sent) {
			st->stop_due_sent = true;
			st->exec->ex->stop_due(st->exec); /* docker: the container too */
		}
		if (live && st->force_at && now >= st->force_at) {
			kill_all(st);
			st->force_at = now + 1; /* again, in case of a fork race */
		}
		/* An attempt with no local process: its state, now and then. */
		bool polled = st->phase == P_QUEUED || st->phase == P_RUNNING;
		if (polled && st->exec->pid < 0 && now >= st->poll_at) {
			st->poll_at = now + (st->exec->poll_every > 0 ? st->exec->poll_every : 60);
			enum run_exec_state s = st->exec->ex->state(st->exec);
			if (st->phase == P_QUEUED)
				placed(r, i, s);
			if (st->phase == P_RUNNING && s != RUN_EXEC_RUNNING)
				ended(st);
		}
		if (st->phase == P_RUNNING && now >= st->log_at && r->o->on_event)
			log_grew(r, i, now);
		if (st->phase == P_ENDING && exec_done(st)) {
			finish(r, i);
			next = now; /* its GPUs are free: look for the next test at once */
		}
		if (st->phase == P_RUNNING && st->deadline && !st->timed_out && st->deadline < next)
			next = st->deadline;
		live = st->phase == P_QUEUED || st->phase == P_RUNNING || st->phase == P_ENDING;
		polled = st->phase == P_QUEUED || st->phase == P_RUNNING;
		if (live && st->kill_at && !st->stop_due_sent && st->kill_at < next)
			next = st->kill_at;
		if (polled && st->exec->pid < 0 && st->poll_at < next)
			next = st->poll_at;
		if (live && st->force_at && st->force_at < next)
			next = st->force_at;
		if (st->phase == P_ENDING && now + 0.05 < next)
			next = now + 0.05; /* leftovers in its group: look again soon */
	}
	return next;
}

static bool all_done(struct run *r)
{
	for (size_t i = 0; i < r->n; i++) {
		enum phase p = r->tests[i].st->phase;
		if (p == P_ACQUIRING || p == P_QUEUED || p == P_RUNNING || p == P_ENDING)
			return false;
		if (p == P_PENDING && !r->stopping && sched_runnable(r->sched, i))
			return false;
	}
	return !r->acq.busy;
}

static int loop(struct run *r, struct diag *d)
{
	for (;;) {
		if (start_ready(r, d) < 0)
			return -1;
		double next = tick(r);
		if (all_done(r))
			return 0;
		emit_run(r, RUN_EV_IDLE);
		struct pollfd *pf = r->pf;
		pf[0] = (struct pollfd){.fd = r->sig.fd, .events = POLLIN};
		pf[1] = (struct pollfd){.fd = r->acq.done_pipe[0], .events = POLLIN};
		pf[2] = (struct pollfd){.fd = r->acq.wait_pipe[0], .events = POLLIN};
		/* Executors with no local process may give a descriptor to watch. */
		size_t npf = 3;
		for (size_t i = 0; i < r->n; i++) {
			const struct run_state *st = r->tests[i].st;
			if ((st->phase == P_QUEUED || st->phase == P_RUNNING) &&
			    st->exec->pid < 0 && st->exec->fd >= 0)
				pf[npf++] = (struct pollfd){.fd = st->exec->fd, .events = POLLIN};
		}
		double wait = next - run__mono();
		int ms = wait <= 0 ? 0 : wait > 60 ? 60000 : (int)(wait * 1000) + 1;
		int n = poll(pf, npf, ms);
		for (size_t k = 3; n > 0 && k < npf; k++)
			if (pf[k].revents)
				for (size_t i = 0; i < r->n; i++)
					if (r->tests[i].st->exec &&
					    r->tests[i].st->exec->fd == pf[k].fd)
						r->tests[i].st->poll_at = 0; /* ask its state now */
		if (n < 0 && errno != EINTR)
			return diag_errno(d, "poll");
		if (n > 0 && (pf[0].revents & POLLIN)) {
			int sig = proc_signals_take(&r->sig);
			reap(r);
			if (sig)
				stop_all(r, sig);
		}
		if (n > 0 && (pf[2].revents & POLLIN))
			run__say_who_holds(r);
		if (n > 0 && (pf[1].revents & POLLIN) && r->acq.busy)
			if (run__acquired(r, d) < 0)
				return -1;
	}
}

/* What the executor left of the run outside its processes goes (executor.h); said when any. */
static void sweep(struct run *r)
{
	const struct run_executor *ex = r->o->executor ? r->o->executor : &run_exec_local;
	if (!ex->sweep || !r->o->run_id)
		return;
	struct run_sweep s = {
	    .run_id = r->o->run_id, .run_dir = r->o->log_dir, .mask = &r->sig.saved, .wait = 10};
	size_t removed = 0;
	struct diag d = DIAG_INIT;
	struct strbuf m = STRBUF_INIT;
	if (ex->sweep(&s, &removed, &d) < 0)
		strbuf_addf(&m, "%s: cannot look for what the run left: %s", ex->name,
		            d.msg.buf ? d.msg.buf : "");
	else if (removed)
		strbuf_addf(&m, "%s: removed %zu %s%s the run left", ex->name, removed,
		            ex->leftover ? ex->leftover : "thing", removed == 1 ? "" : "s");
	if (m.len) {
		struct run_event ev = {.kind = RUN_EV_WARNING, .text = m.buf, .serious = true};
		run__emit(r, &ev);
	}
	strbuf_release(&m);
	diag_release(&d);
}

int run_suite(const struct run_opts *o, struct run_test *tests, size_t n, int *stopped,
              struct diag *d)
{
	*stopped = 0;
	struct run r = {.o = o, .tests = tests, .n = n};
	r.acq.done_pipe[0] = r.acq.done_pipe[1] = r.cancel_pipe[0] = r.cancel_pipe[1] = -1;
	r.acq.wait_pipe[0] = r.acq.wait_pipe[1] = -1;
	diag_init(&r.acq.d);
	int rc = -1;
	if (o->retry_on) {
		int e = regcomp(&r.retry_re, o->retry_on, REG_EXTENDED | REG_NOSUB | REG_NEWLINE);
		if (e) {
			char buf[256];
			regerror(e, &r.retry_re, buf, sizeof(buf));
			return diag_set(d, DIAG_USAGE, "--retry-on '%s': %s", o->retry_on, buf);
		}
		r.have_re = true;
	}
	pthread_mutex_init(&r.acq.busy_mu, NULL);
	r.acq.busy_text = (struct strbuf)STRBUF_INIT;
	if (mkdir(o->log_dir, 0755) < 0 && errno != EEXIST) {
		diag_errno(d, "cannot make %s", o->log_dir);
		goto out;
	}
	if (pipe2(r.acq.done_pipe, O_CLOEXEC) < 0 || pipe2(r.cancel_pipe, O_CLOEXEC) < 0 ||
	    pipe2(r.acq.wait_pipe, O_CLOEXEC | O_NONBLOCK) < 0) {
		diag_errno(d, "pipe");
		goto out;
	}
	if (proc_signals_open(&r.sig, d) < 0)
		goto out;
	prctl(PR_SET_CHILD_SUBREAPER, 1);

	const struct run_executor *ex = o->executor ? o->executor : &run_exec_local;
	r.places = ex->places;
	struct sched_task *st = xcalloc(n ? n : 1, sizeof(*st));
	for (size_t i = 0; i < n; i++) {
		st[i] = (struct sched_task){tests[i].gpus, tests[i].expected};
		tests[i].st = xcalloc(1, sizeof(*tests[i].st));
		tests[i].exit_code = -1;
		tests[i].status = REPORT_CANCELED;
		run__set_str(&tests[i].gpu_ids, "");
	}
	r.sched = sched_new(o->total_gpus, o->cpu_jobs, st, n);
	/*
	 * A cluster that places the tests takes them all at once, in the order
	 * the plan for its widest node (total_gpus) starts them: its queue,
	 * first come first served with backfill, then follows the plan.
	 */
	if (r.places) {
		r.order = xcalloc(n ? n : 1, sizeof(*r.order));
		r.norder = sched_start_order(r.sched, r.order);
	}
	r.pf = xcalloc(n + 3, sizeof(*r.pf));
	free(st);
	r.t0 = run__mono();
	emit_run(&r, RUN_EV_BEGIN);
	for (size_t i = 0; i < n; i++)
		if (tests[i].gpus > o->total_gpus) {
			tests[i].status = REPORT_NOT_RUNNABLE;
			tests[i].st->phase = P_DONE;
			struct strbuf m = STRBUF_INIT;
			if (r.places)
				strbuf_addf(
				    &m, "needs %u GPUs; no node of the %s cluster has more than %u",
				    tests[i].gpus, ex->name, o->total_gpus);
			else
				strbuf_addf(&m, "needs %u GPUs; this machine has %u", tests[i].gpus,
				            o->total_gpus);
			run__set_str(&tests[i].message, m.buf);
			strbuf_release(&m);
			run__emit_test(&r, RUN_EV_SKIPPED, i, tests[i].message);
			run__emit_test(&r, RUN_EV_FINISHED, i, NULL);
		}
	rc = loop(&r, d);
	int sig = r.stopping;
	if (rc < 0)
		stop_all(&r, SIGTERM);
	/* Whatever happened, nothing is left running or held. */
	while (!all_done(&r)) {
		double next = tick(&r);
		struct pollfd pf[2] = {{.fd = r.sig.fd, .events = POLLIN},
		                       {.fd = r.acq.done_pipe[0], .events = POLLIN}};
		double wait = next - run__mono();
		if (poll(pf, 2, wait <= 0 ? 0 : (int)(wait * 1000) + 1) > 0) {
			proc_signals_take(&r.sig);
			reap(&r);
			if (pf[1].revents & POLLIN && r.acq.busy) {
				struct diag ignore = DIAG_INIT;
				run__acquired(&r, &ignore);
				diag_release(&ignore);
			}
		}
	}
	/*
	 * Keepers end their tests' processes; only one killed before its time
	 * leaves orphans, re-parented here (a subreaper): none outlives the run.
	 */
	pid_t *left;
	size_t nleft = proc_descendants(getpid(), &left);
	for (size_t i = 0; i < nleft; i++)
		kill(left[i], SIGKILL);
	free(left);
	while (nleft && waitpid(-1, NULL, 0) > 0)
		;
	sweep(&r);
	/* What the stop left unstarted is over too (its status: CANCELED, or its last). */
	for (size_t i = 0; i < n; i++)
		if (tests[i].st->phase == P_PENDING) {
			tests[i].st->phase = P_DONE;
			run__emit_test(&r, RUN_EV_FINISHED, i, NULL);
		}
	emit_run(&r, RUN_EV_DONE);
	*stopped = sig;
	sched_free(r.sched);
	proc_signals_close(&r.sig);
out:
	for (size_t i = 0; i < n; i++) {
		if (tests[i].st && tests[i].st->exec)
			tests[i].st->exec->ex->release(tests[i].st->exec);
		free(tests[i].st);
		tests[i].st = NULL;
	}
	free(r.pf);
	free(r.order);
	if (r.have_re)
		regfree(&r.retry_re);
	for (int k = 0; k < 2; k++) {
		if (r.acq.done_pipe[k] >= 0)
			close(r.acq.done_pipe[k]);
		if (r.cancel_pipe[k] >= 0)
			close(r.cancel_pipe[k]);
		if (r.acq.wait_pipe[k] >= 0)
			close(r.acq.wait_pipe[k]);
	}
	diag_release(&r.acq.d);
	strbuf_release(&r.acq.busy_text);
	pthread_mutex_destroy(&r.acq.busy_mu);
	return rc;
}

void run_test_release(struct run_test *t)
{
	free(t->gpu_ids);
	free(t->node);
	free(t->log_path);
	free(t->message);
	t->gpu_ids = t->node = t->log_path = t->message = NULL;
}
