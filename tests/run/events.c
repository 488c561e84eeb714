/* The events of run_suite() (run/run.h), from tiny suites of `sh -c` tests. */
#include "harness.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/strbuf.h"
#include "report/report.h"
#include "run/executor.h"
#include "run/run.h"

/* What a listener saw: one line per event, "KIND index attempt [extra]". */
struct seen {
	struct strbuf all;
	size_t output_of[8];
	unsigned long long output_size;
	bool begin_first, done_last, idle;
	size_t count;
};

static const char *kind_name(enum run_event_kind k)
{
	static const char *const names[] = {"BEGIN",     "SKIPPED",  "WAITING", "BUSY",
	                                    "STARTED",   "OUTPUT",   "PASSED",  "FAILED",
	                                    "TIMED_OUT", "CANCELED", "RETRIED", "FINISHED",
	                                    "WARNING",   "STOPPING", "IDLE",    "DONE"};
	_Static_assert(sizeof(names) / sizeof(names[0]) == RUN_EV_DONE + 1, "a name per kind");
	return names[k];
}

static void listen(void *arg, const struct run_event *ev)
{
	struct seen *s = arg;
	if (s->count++ == 0)
		s->begin_first = ev->kind == RUN_EV_BEGIN;
	s->done_last = ev->kind == RUN_EV_DONE;
	if (ev->kind == RUN_EV_IDLE) {
		s->idle = true;
		return; /* as often as the loop waits: not part of the order */
	}
	if (ev->kind == RUN_EV_OUTPUT) {
		s->output_of[ev->index]++;
		s->output_size = ev->log_size;
		return;
	}
	if (ev->test) {
		strbuf_addf(&s->all, "%s %zu %u", kind_name(ev->kind), ev->index, ev->attempt);
		if (ev->kind == RUN_EV_STARTED && ev->test->gpus)
			strbuf_addf(&s->all, " gpus=%s", ev->gpu_ids);
		if (run_event_ends_attempt(ev->kind)) {
			strbuf_addf(&s->all, "%s%s", ev->ran ? " ran" : "",
			            ev->retrying ? " retrying" : "");
			assert_true(!ev->ran || ev->duration >= 0);
			assert_true(!ev->ran || ev->started > 0);
		}
		strbuf_addch(&s->all, '\n');
	} else if (ev->kind != RUN_EV_BEGIN && ev->kind != RUN_EV_DONE) {
		strbuf_addf(&s->all, "%s\n", kind_name(ev->kind));
	}
}

struct suite {
	char *dir, *logs, *pattern;
	struct run_opts o;
	struct seen seen;
};

static void suite_init(struct suite *s, unsigned gpus)
{
	memset(s, 0, sizeof(*s));
	s->dir = harness_tmpdir();
	s->logs = harness_path(s->dir, "logs");
	s->pattern = harness_path(s->dir, "gpu_{gpu_id}.lock");
	s->seen.all = (struct strbuf)STRBUF_INIT;
	s->o = (struct run_opts){
	    .cwd = s->dir,
	    .log_dir = s->logs,
	    .total_gpus = gpus,
	    .cpu_jobs = 1, /* one at a time: a fixed order */
	    .lock_pattern = s->pattern,
	    .kill_after = 1,
	    .run_id = "events-test",
	    .on_event = listen,
	    .arg = &s->seen,
	    .idle_every = 0.1,
	};
}

static void suite_release(struct suite *s, struct run_test *t, size_t n)
{
	for (size_t i = 0; i < n; i++)
		run_test_release(&t[i]);
	strbuf_release(&s->seen.all);
	free(s->logs);
	free(s->pattern);
	harness_rmtree(s->dir);
}

static char *sh_env[] = {"PATH=/usr/bin:/bin", NULL};

static struct run_test sh_test(const char *name, char **argv, unsigned gpus)
{
	return (struct run_test){.job = "j",
	                         .test_file = name,
	                         .test_args = "",
	                         .identity = name,
	                         .display = name,
	                         .argv = argv,
	                         .env = sh_env,
	                         .gpus = gpus,
	                         .expected = 1};
}

static void run(struct suite *s, struct run_test *t, size_t n)
{
	int stopped = -1;
	struct diag d = DIAG_INIT;
	assert_int_equal(run_suite(&s->o, t, n, &stopped, &d), 0);
	assert_int_equal(stopped, 0);
	diag_release(&d);
	assert_true(s->seen.begin_first);
	assert_true(s->seen.done_last);
}

static void events__a_pass_and_a_failure_in_order(void **state)
{
	(void)state;
	struct suite s;
	suite_init(&s, 0);
	char *ok[] = {"sh", "-c", "exit 0", NULL}, *bad[] = {"sh", "-c", "exit 3", NULL};
	struct run_test t[] = {sh_test("ok", ok, 0), sh_test("bad", bad, 0)};
	t[0].expected = 2; /* longest first: ok, then bad */
	run(&s, t, 2);
	assert_string_equal(s.seen.all.buf, "STARTED 0 1\n"
	                                    "PASSED 0 1 ran\n"
	                                    "FINISHED 0 1\n"
	                                    "STARTED 1 1\n"
	                                    "FAILED 1 1 ran\n"
	                                    "FINISHED 1 1\n");
	assert_int_equal(t[0].status, REPORT_PASSED);
	assert_int_equal(t[1].status, REPORT_FAILED);
	assert_int_equal(t[1].exit_code, 3);
	assert_true(s.seen.idle);
	suite_release(&s, t, 2);
}

static void events__a_failure_retried_then_passing_is_flaky(void **state)
{
	(void)state;
	struct suite s;
	suite_init(&s, 0);
	s.o.retries = 2;
	struct strbuf script = STRBUF_INIT;
	/* Fails the first time (no marker yet), passes the second. */
	strbuf_addf(&script, "if [ -e %s/marker ]; then exit 0; fi; : > %s/marker; exit 1", s.dir,
	            s.dir);
	char *flaky[] = {"sh", "-c", script.buf, NULL};
	struct run_test t[] = {sh_test("flaky", flaky, 0)};
	run(&s, t, 1);
	assert_string_equal(s.seen.all.buf, "STARTED 0 1\n"
	                                    "FAILED 0 1 ran retrying\n"
	                                    "RETRIED 0 1\n"
	                                    "STARTED 0 2\n"
	                                    "PASSED 0 2 ran\n"
	                                    "FINISHED 0 2\n");
	assert_int_equal(t[0].status, REPORT_FLAKY);
	assert_int_equal(t[0].attempts, 2);
	strbuf_release(&script);
	suite_release(&s, t, 1);
}

static void events__a_timeout_ends_the_test(void **state)
{
	(void)state;
	struct suite s;
	suite_init(&s, 0);
	s.o.timeout = 0.3;
	char *slow[] = {"sh", "-c", "echo hello; sleep 20", NULL};
	struct run_test t[] = {sh_test("slow", slow, 0)};
	run(&s, t, 1);
	assert_string_equal(s.seen.all.buf, "STARTED 0 1\n"
	                                    "TIMED_OUT 0 1 ran\n"
	                                    "FINISHED 0 1\n");
	assert_int_equal(t[0].status, REPORT_TIMEOUT);
	assert_true(t[0].duration < 10);
	suite_release(&s, t, 1);
}

/* A listener that stops the run (as Ctrl-C would) once the first test starts. */
static void stop_on_start(void *arg, const struct run_event *ev)
{
	if (ev->kind == RUN_EV_STARTED)
		kill(getpid(), SIGTERM); /* blocked: read from run_suite's signalfd */
	listen(arg, ev);
}

static void events__a_stop_cancels_what_runs_and_what_waits(void **state)
{
	(void)state;
	struct suite s;
	suite_init(&s, 0);
	s.o.on_event = stop_on_start;
	char *slow[] = {"sh", "-c", "sleep 20", NULL};
	struct run_test t[] = {sh_test("slow", slow, 0), sh_test("next", slow, 0)};
	t[0].expected = 2;
	int stopped = 0;
	struct diag d = DIAG_INIT;
	assert_int_equal(run_suite(&s.o, t, 2, &stopped, &d), 0);
	assert_int_equal(stopped, SIGTERM);
	assert_string_equal(s.seen.all.buf, "STARTED 0 1\n"
	                                    "STOPPING\n"
	                                    "CANCELED 0 1 ran\n"
	                                    "FINISHED 0 1\n"
	                                    "FINISHED 1 0\n");
	assert_int_equal(t[0].status, REPORT_CANCELED);
	assert_int_equal(t[1].status, REPORT_CANCELED);
	assert_int_equal(t[1].attempts, 0);
	diag_release(&d);
	suite_release(&s, t, 2);
}

static void events__output_says_the_log_grew(void **state)
{
	(void)state;
	struct suite s;
	suite_init(&s, 0);
	char *talk[] = {"sh", "-c", "echo hello; sleep 1.5", NULL};
	struct run_test t[] = {sh_test("talk", talk, 0)};
	run(&s, t, 1);
	assert_true(s.seen.output_of[0] >= 1);
	assert_int_equal(s.seen.output_size, 6); /* "hello\n" */
	suite_release(&s, t, 1);
}

static void events__gpus_started_on_and_skipped_when_too_many(void **state)
{
	(void)state;
	struct suite s;
	suite_init(&s, 2);
	char *ok[] = {"sh", "-c", "exit 0", NULL};
	struct run_test t[] = {sh_test("wide", ok, 4), sh_test("two", ok, 2)};
	run(&s, t, 2);
	assert_string_equal(s.seen.all.buf, "SKIPPED 0 0\n"
	                                    "FINISHED 0 0\n"
	                                    "STARTED 1 1 gpus=0,1\n"
	                                    "PASSED 1 1 ran\n"
	                                    "FINISHED 1 1\n");
	assert_int_equal(t[0].status, REPORT_NOT_RUNNABLE);
	assert_string_equal(t[1].gpu_ids, "0,1");
	suite_release(&s, t, 2);
}

/*
 * An executor with no local process, as a cluster one would be: its test
 * "runs" for 0.3 s, asked for its state every 0.05 s; exit code = index.
 */
struct remote {
	struct run_exec h;
	struct timespec end;
	int code;
	int signals;
};

static int remote_signals;
static const struct run_executor remote;

static int remote_start(const struct run_exec_job *job, struct run_exec **out, struct diag *d)
{
	(void)d;
	struct remote *x = calloc(1, sizeof(*x));
	assert_non_null(x);
	x->h = (struct run_exec){.ex = &remote, .pid = -1, .fd = -1, .poll_every = 0.05};
	clock_gettime(CLOCK_MONOTONIC, &x->end);
	x->end.tv_nsec += 300000000;
	if (x->end.tv_nsec >= 1000000000) {
		x->end.tv_sec++;
		x->end.tv_nsec -= 1000000000;
	}
	x->code = (int)job->index;
	*out = &x->h;
	return 0;
}

static enum run_exec_state remote_state(struct run_exec *h)
{
	struct remote *x = (struct remote *)h;
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	bool over = now.tv_sec > x->end.tv_sec ||
	            (now.tv_sec == x->end.tv_sec && now.tv_nsec >= x->end.tv_nsec);
	return over || x->signals ? RUN_EXEC_DONE : RUN_EXEC_RUNNING;
}

static void remote_signal(struct run_exec *h, int sig)
{
	(void)sig;
	((struct remote *)h)->signals++;
	remote_signals++;
}

static void remote_reaped(struct run_exec *h, int st)
{
	(void)h;
	(void)st;
	fail_msg("an executor with no pid is never reaped");
}

static void remote_nothing(struct run_exec *h)
{
	(void)h;
}

static void remote_result(struct run_exec *h, struct run_exec_result *out)
{
	struct remote *x = (struct remote *)h;
	*out = (struct run_exec_result){.status = x->signals ? SIGTERM : x->code << 8};
}

static void remote_release(struct run_exec *h)
{
	free(h);
}

static const struct run_executor remote = {
    .name = "remote",
    .start = remote_start,
    .reaped = remote_reaped,
    .state = remote_state,
    .signal = remote_signal,
    .stop_due = remote_nothing,
    .kill = remote_nothing,
    .result = remote_result,
    .release = remote_release,
};

static void events__an_executor_with_no_local_process_is_polled(void **state)
{
	(void)state;
	struct suite s;
	suite_init(&s, 0);
	s.o.executor = &remote;
	char *none[] = {"unused", NULL};
	struct run_test t[] = {sh_test("zero", none, 0), sh_test("one", none, 0)};
	t[0].expected = 2;
	run(&s, t, 2);
	assert_string_equal(s.seen.all.buf, "STARTED 0 1\n"
	                                    "PASSED 0 1 ran\n"
	                                    "FINISHED 0 1\n"
	                                    "STARTED 1 1\n"
	                                    "FAILED 1 1 ran\n"
	                                    "FINISHED 1 1\n");
	assert_int_equal(t[1].exit_code, 1);
	assert_true(t[0].duration >= 0.29);
	/* A timeout reaches it through signal(). */
	suite_release(&s, t, 2);
	suite_init(&s, 0);
	s.o.executor = &remote;
	s.o.timeout = 0.1;
	struct run_test u[] = {sh_test("slow", none, 0)};
	remote_signals = 0;
	run(&s, u, 1);
	assert_int_equal(remote_signals, 1);
	assert_int_equal(u[0].status, REPORT_TIMEOUT);
	suite_release(&s, u, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(events__a_pass_and_a_failure_in_order),
	    cmocka_unit_test(events__a_failure_retried_then_passing_is_flaky),
	    cmocka_unit_test(events__a_timeout_ends_the_test),
	    cmocka_unit_test(events__a_stop_cancels_what_runs_and_what_waits),
	    cmocka_unit_test(events__output_says_the_log_grew),
	    cmocka_unit_test(events__gpus_started_on_and_skipped_when_too_many),
	    cmocka_unit_test(events__an_executor_with_no_local_process_is_polled),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
