/*
 * The Slurm executor (run/executor.h, run/exec_slurm.c) against stand-in
 * Slurm commands: sbatch records its arguments and prints a job id;
 * squeue, scontrol, sacct and sinfo print what the test wrote in their
 * files (or fail when there is none); scancel records its arguments. The
 * real cluster is e2e/run_slurm's.
 */
#include "harness.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/fs.h"
#include "base/strbuf.h"
#include "run/executor.h"

struct fake {
	char *dir, *bin, *calls;
	struct strbuf path; /* PATH=BIN:/usr/bin:/bin */
	char *old_path;
};

static void write_file(const char *path, const char *text, mode_t mode)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	assert_int_equal(chmod(path, mode), 0);
}

/* Writes what the stand-in command name prints next (NULL: it fails). */
static void answer(struct fake *fk, const char *name, const char *text)
{
	char *p = harness_path(fk->dir, name);
	if (text)
		write_file(p, text, 0644);
	else
		unlink(p);
	free(p);
}

static void fake_up(struct fake *fk)
{
	fk->dir = harness_tmpdir();
	fk->bin = harness_path(fk->dir, "bin");
	fk->calls = harness_path(fk->dir, "calls");
	assert_int_equal(mkdir(fk->bin, 0755), 0);
	static const char *const names[] = {"squeue", "scontrol", "sacct", "sinfo"};
	for (size_t i = 0; i < 4; i++) {
		struct strbuf s = STRBUF_INIT;
		strbuf_addf(&s,
		            "#!/bin/sh\necho %s \"$@\" >> %s\n[ -f %s/%s ] || { echo '%s: error: "
		            "no answer' >&2; exit 1; }\ncat %s/%s\n",
		            names[i], fk->calls, fk->dir, names[i], names[i], fk->dir, names[i]);
		char *p = harness_path(fk->bin, names[i]);
		write_file(p, s.buf, 0755);
		free(p);
		strbuf_release(&s);
	}
	struct strbuf s = STRBUF_INIT;
	strbuf_addf(&s,
	            "#!/bin/sh\necho sbatch \"$@\" >> %s\n[ -f %s/refuse ] && { cat %s/refuse >&2; "
	            "exit 1; }\necho '42;cluster'\n",
	            fk->calls, fk->dir, fk->dir);
	char *p = harness_path(fk->bin, "sbatch");
	write_file(p, s.buf, 0755);
	free(p);
	strbuf_reset(&s);
	strbuf_addf(&s, "#!/bin/sh\necho scancel \"$@\" >> %s\n", fk->calls);
	p = harness_path(fk->bin, "scancel");
	write_file(p, s.buf, 0755);
	free(p);
	strbuf_release(&s);
	fk->path = (struct strbuf)STRBUF_INIT;
	strbuf_addf(&fk->path, "PATH=%s:/usr/bin:/bin", fk->bin);
	const char *p0 = getenv("PATH");
	fk->old_path = p0 ? strdup(p0) : NULL;
	setenv("PATH", fk->path.buf + 5, 1); /* sinfo and sweep run with gpuci's env */
}

static void fake_down(struct fake *fk)
{
	if (fk->old_path)
		setenv("PATH", fk->old_path, 1);
	free(fk->old_path);
	harness_rmtree(fk->dir); /* frees it */
	free(fk->bin);
	free(fk->calls);
	strbuf_release(&fk->path);
}

static void calls(struct fake *fk, struct strbuf *out)
{
	strbuf_reset(out);
	struct diag d = DIAG_INIT;
	assert_int_equal(fs_read_all(fk->calls, out, &d), 0);
	diag_release(&d);
}

/* The state once the executor has asked squeue again (it asks at most once a second). */
static enum run_exec_state next_state(struct run_exec *h)
{
	usleep(1050000);
	return h->ex->state(h);
}

static struct run_exec *start(struct fake *fk, struct run_test *t, const char *log, char **env,
                              sigset_t *none)
{
	int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	sigemptyset(none);
	struct run_exec_job job = {.test = t,
	                           .index = 2,
	                           .env = env,
	                           .gpu_ids = "",
	                           .cwd = fk->dir,
	                           .name = "gpuci-1-3-1",
	                           .run_id = "r-1",
	                           .run_dir = fk->dir,
	                           .log_fd = fd,
	                           .kill_after = 1,
	                           .mask = none};
	struct run_exec *h;
	struct diag d = DIAG_INIT;
	assert_int_equal(run_exec_slurm.start(&job, &h, &d), 0);
	diag_release(&d);
	close(fd);
	assert_int_equal(h->pid, -1);
	return h;
}

static void slurm__submits_follows_the_queue_and_reads_the_end(void **state)
{
	(void)state;
	struct fake fk;
	fake_up(&fk);
	char *log = harness_path(fk.dir, "3-test_x.log");
	char *argv[] = {"python3", "tests/test_x.py", "--a b", "it's", NULL};
	char *opts[] = {"--partition=gpu", "--qos=ci", NULL};
	char *env[] = {fk.path.buf, "FOO=1", "SLURM_JOB_ID=9", NULL};
	struct run_test t = {.argv = argv,
	                     .test_file = "tests/test_x.py",
	                     .display = "test_x.py",
	                     .gpus = 2,
	                     .attempts = 1,
	                     .log_path = log,
	                     .slurm_opts = opts,
	                     .time_limit = 7};
	sigset_t none;
	answer(&fk, "squeue", "42|PENDING|Resources|\n");
	struct run_exec *h = start(&fk, &t, log, env, &none);

	struct strbuf s = STRBUF_INIT;
	calls(&fk, &s);
	assert_non_null(
	    strstr(s.buf, "sbatch --parsable --job-name=gpuci.r-1.3.1.test_x --chdir="));
	assert_non_null(strstr(s.buf, " --output="));
	assert_non_null(strstr(s.buf, "3-test_x.log --open-mode=append --no-requeue --gres=gpu:2 "
	                              "--time=7 --partition=gpu --qos=ci "));
	char *script = harness_path(fk.dir, "gpuci.r-1.3.1.test_x.sbatch");
	struct strbuf text = STRBUF_INIT;
	struct diag d = DIAG_INIT;
	assert_int_equal(fs_read_all(script, &text, &d), 0);
	assert_non_null(strstr(text.buf, "#!/bin/bash\n"));
	assert_non_null(strstr(text.buf, "export GPUCI_GPUS=\"${SLURM_JOB_GPUS:-"));
	assert_non_null(strstr(text.buf, "exec python3 tests/test_x.py '--a b' 'it'\\''s'\n"));

	/* Queued, with Slurm's reason. */
	assert_int_equal(h->ex->state(h), RUN_EXEC_QUEUED);
	struct run_exec_place where;
	h->ex->where(h, &where);
	assert_false(where.ran);
	assert_string_equal(where.job, "42");
	assert_string_equal(where.why, "Resources");

	/* Running on node7, GPUs 3 and 4 of it. */
	answer(&fk, "squeue", "42|RUNNING|None|node7\n");
	answer(&fk, "scontrol",
	       "JobId=42 JobName=x\n   JobState=RUNNING Reason=None Dependency=(null)\n"
	       "     Nodes=node7 CPU_IDs=0 Mem=0 GRES=gpu:2(IDX:3-4)\n");
	assert_int_equal(next_state(h), RUN_EXEC_RUNNING);
	h->ex->where(h, &where);
	assert_true(where.ran);
	assert_string_equal(where.node, "node7");
	assert_string_equal(where.gpu_ids, "3,4");

	/* A stop: scancel --full --signal=15 of a running job. */
	h->ex->signal(h, SIGTERM);
	calls(&fk, &s);
	assert_non_null(strstr(s.buf, "scancel --full --signal=15 42\n"));

	/* Missed by a squeue while scontrol still has it running: still running. */
	answer(&fk, "squeue", "");
	assert_int_equal(next_state(h), RUN_EXEC_RUNNING);
	/* Completing: the test is over, Slurm still holds its GPUs. */
	answer(&fk, "squeue", "42|COMPLETING|None|node7\n");
	answer(&fk, "scontrol", "   JobState=COMPLETING Reason=None\n   ExitCode=0:9\n");
	assert_int_equal(next_state(h), RUN_EXEC_RUNNING);

	/* Gone from the queue: its end from scontrol, killed by signal 9. */
	answer(&fk, "squeue", "");
	answer(&fk, "scontrol",
	       "JobId=42\n   JobState=FAILED Reason=NonZeroExitCode\n   ExitCode=0:9\n"
	       "   StartTime=2026-12-02T10:00:00 EndTime=2026-12-02T10:00:05 Deadline=N/A\n");
	assert_int_equal(next_state(h), RUN_EXEC_DONE);
	struct run_exec_result r;
	h->ex->result(h, &r);
	assert_true(WIFSIGNALED(r.status));
	assert_int_equal(WTERMSIG(r.status), 9);
	assert_false(r.timed_out);
	assert_string_equal(r.note, "");
	assert_true(r.ended_at - r.started_at > 4.5 && r.ended_at - r.started_at < 5.5);
	h->ex->release(h);

	strbuf_release(&s);
	strbuf_release(&text);
	diag_release(&d);
	free(script);
	free(log);
	fake_down(&fk);
}

static void slurm__time_limits_node_failures_and_sacct(void **state)
{
	(void)state;
	struct fake fk;
	fake_up(&fk);
	char *log = harness_path(fk.dir, "3-test_x.log");
	char *argv[] = {"python3", "t.py", NULL};
	char *env[] = {fk.path.buf, NULL};
	struct run_test t = {.argv = argv, .test_file = "t.py", .display = "t.py", .log_path = log};
	sigset_t none;
	struct run_exec_result r;

	/* No GPU: no --gres, an empty CUDA_VISIBLE_DEVICES; no time limit given: no --time. */
	answer(&fk, "squeue", "42|TIMEOUT|TimeLimit|node1\n");
	struct run_exec *h = start(&fk, &t, log, env, &none);
	struct strbuf s = STRBUF_INIT;
	calls(&fk, &s);
	assert_null(strstr(s.buf, "--gres"));
	assert_null(strstr(s.buf, "--time"));
	/* Over at the first look; scontrol does not know it any more, sacct does. */
	answer(&fk, "sacct", "TIMEOUT|0:15\n");
	assert_int_equal(next_state(h), RUN_EXEC_DONE);
	h->ex->result(h, &r);
	assert_true(r.timed_out);
	assert_non_null(strstr(r.note, "time limit"));
	struct run_exec_place where;
	h->ex->where(h, &where);
	assert_true(where.ran);
	h->ex->release(h);

	/* A node failure: failed, and the message says so, whatever the exit code. */
	answer(&fk, "sacct", NULL);
	answer(&fk, "squeue", "42|NODE_FAIL|NodeDown|node1\n");
	answer(&fk, "scontrol", "   JobState=NODE_FAIL Reason=NodeDown\n   ExitCode=0:0\n");
	h = start(&fk, &t, log, env, &none);
	assert_int_equal(next_state(h), RUN_EXEC_DONE);
	h->ex->result(h, &r);
	assert_true(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 1);
	assert_string_equal(r.note, "Slurm job 42: NODE_FAIL, NodeDown");
	h->ex->release(h);

	/* Canceled while pending: it never ran. Nothing knows its end: said. */
	answer(&fk, "scontrol", NULL);
	answer(&fk, "squeue", "42|CANCELLED|None|\n");
	h = start(&fk, &t, log, env, &none);
	assert_int_equal(next_state(h), RUN_EXEC_DONE);
	h->ex->where(h, &where);
	assert_false(where.ran);
	h->ex->result(h, &r);
	assert_non_null(strstr(r.note, "the end of Slurm job 42 is unknown"));
	h->ex->release(h);

	strbuf_release(&s);
	free(log);
	fake_down(&fk);
}

static void slurm__a_refused_job_fails_its_attempt_only(void **state)
{
	(void)state;
	struct fake fk;
	fake_up(&fk);
	char *log = harness_path(fk.dir, "3-test_x.log");
	char *refuse = harness_path(fk.dir, "refuse");
	write_file(refuse,
	           "sbatch: error: Batch job submission failed: Requested node configuration "
	           "is not available\n",
	           0644);
	char *argv[] = {"python3", "t.py", NULL};
	char *env[] = {fk.path.buf, NULL};
	struct run_test t = {
	    .argv = argv, .test_file = "t.py", .display = "t.py", .gpus = 9, .log_path = log};
	sigset_t none;
	struct run_exec *h = start(&fk, &t, log, env, &none);
	assert_int_equal(h->ex->state(h), RUN_EXEC_DONE);
	struct run_exec_place where;
	h->ex->where(h, &where);
	assert_false(where.ran);
	struct run_exec_result r;
	h->ex->result(h, &r);
	assert_string_equal(r.note, "sbatch: sbatch: error: Batch job submission failed: Requested "
	                            "node configuration is not available");
	h->ex->release(h);
	struct strbuf s = STRBUF_INIT;
	struct diag d = DIAG_INIT;
	assert_int_equal(fs_read_all(log, &s, &d), 0);
	assert_non_null(strstr(s.buf, "gpuci: sbatch: sbatch: error: Batch job submission failed"));
	strbuf_release(&s);
	diag_release(&d);
	free(refuse);
	free(log);
	fake_down(&fk);
}

static void slurm__probe_reads_the_widest_node_of_a_partition(void **state)
{
	(void)state;
	struct fake fk;
	fake_up(&fk);
	answer(&fk, "sinfo",
	       "gpu*|gpu:8(S:0-1)|2\ngpu*|gpu:4|3\ncpu|(null)|4\n"
	       "mixed|gpu:a100:4(S:0),gpu:v100:2|1\n");
	unsigned g, n;
	struct diag d = DIAG_INIT;
	assert_int_equal(run_exec_slurm_probe(NULL, &g, &n, &d), 0);
	assert_int_equal(g, 8);
	assert_int_equal(n, 5);
	assert_int_equal(run_exec_slurm_probe("mixed", &g, &n, &d), 0);
	assert_int_equal(g, 6);
	assert_int_equal(run_exec_slurm_probe("cpu", &g, &n, &d), 0);
	assert_int_equal(g, 0);
	assert_int_equal(run_exec_slurm_probe("nope", &g, &n, &d), -1);
	assert_int_equal(d.code, DIAG_USAGE);
	assert_non_null(strstr(d.msg.buf, "no partition 'nope'"));
	diag_release(&d);
	diag_init(&d);
	answer(&fk, "sinfo", NULL);
	assert_int_equal(run_exec_slurm_probe(NULL, &g, &n, &d), -1);
	assert_non_null(strstr(d.msg.buf, "sinfo: sinfo: error: no answer"));
	diag_release(&d);
	fake_down(&fk);
}

static void slurm__sweep_cancels_the_runs_jobs_only(void **state)
{
	(void)state;
	struct fake fk;
	fake_up(&fk);
	answer(&fk, "squeue",
	       "5|gpuci.r-1.1.1.test_a\n6|train\n7|gpuci.r-10.1.1.test_b\n"
	       "8|gpuci.r-1.2.2.test_c\n");
	char *env[] = {fk.path.buf, NULL};
	struct run_sweep s = {.run_id = "r-1", .env = env};
	size_t removed = 0;
	struct diag d = DIAG_INIT;
	assert_int_equal(run_exec_slurm.sweep(&s, &removed, &d), 0);
	assert_int_equal(removed, 2);
	struct strbuf c = STRBUF_INIT;
	calls(&fk, &c);
	assert_non_null(strstr(c.buf, "scancel 5 8\n"));
	answer(&fk, "squeue", NULL);
	assert_int_equal(run_exec_slurm.sweep(&s, &removed, &d), -1);
	strbuf_release(&c);
	diag_release(&d);
	fake_down(&fk);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(slurm__submits_follows_the_queue_and_reads_the_end),
	    cmocka_unit_test(slurm__time_limits_node_failures_and_sacct),
	    cmocka_unit_test(slurm__a_refused_job_fails_its_attempt_only),
	    cmocka_unit_test(slurm__probe_reads_the_widest_node_of_a_partition),
	    cmocka_unit_test(slurm__sweep_cancels_the_runs_jobs_only),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
