/* The executors (run/executor.h): local and docker, one attempt each. */
#include "harness.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/fs.h"
#include "base/strbuf.h"
#include "run/executor.h"

/* Waits for h's pid, then for DONE; returns its result. */
static struct run_exec_result finish(struct run_exec *h)
{
	int st;
	assert_int_equal(waitpid(h->pid, &st, 0), h->pid);
	h->ex->reaped(h, st);
	for (int i = 0; i < 200 && h->ex->state(h) != RUN_EXEC_DONE; i++)
		usleep(10000);
	assert_int_equal(h->ex->state(h), RUN_EXEC_DONE);
	struct run_exec_result r;
	h->ex->result(h, &r);
	return r;
}

static void read_file(const char *path, struct strbuf *out)
{
	struct diag d = DIAG_INIT;
	assert_int_equal(fs_read_all(path, out, &d), 0);
	diag_release(&d);
}

static void local__runs_the_test_with_its_env_and_log(void **state)
{
	(void)state;
	char *dir = harness_tmpdir(), *log = harness_path(dir, "log");
	int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	char *argv[] = {"sh", "-c", "echo \"$X in $(pwd)\"; exit 4", NULL};
	char *env[] = {"X=x", "PATH=/usr/bin:/bin", NULL};
	struct run_test t = {.argv = argv};
	sigset_t none;
	sigemptyset(&none);
	struct run_exec_job job = {.test = &t,
	                           .env = env,
	                           .gpu_ids = "",
	                           .cwd = dir,
	                           .name = "gpuci-1-1-1",
	                           .log_fd = fd,
	                           .kill_after = 1,
	                           .mask = &none};
	struct run_exec *h;
	struct diag d = DIAG_INIT;
	assert_int_equal(run_exec_local.start(&job, &h, &d), 0);
	close(fd);
	assert_true(h->pid > 0);
	assert_int_equal(h->ex->state(h), RUN_EXEC_RUNNING);
	struct run_exec_result r = finish(h);
	assert_true(WIFEXITED(r.status));
	assert_int_equal(WEXITSTATUS(r.status), 4);
	struct strbuf out = STRBUF_INIT, want = STRBUF_INIT;
	read_file(log, &out);
	strbuf_addf(&want, "x in %s\n", dir);
	assert_string_equal(out.buf, want.buf);
	h->ex->release(h);
	strbuf_release(&out);
	strbuf_release(&want);
	diag_release(&d);
	free(log);
	harness_rmtree(dir);
}

static void docker__runs_docker_run_and_kills_the_container_when_a_stop_is_due(void **state)
{
	(void)state;
	char *dir = harness_tmpdir(), *log = harness_path(dir, "log");
	char *calls = harness_path(dir, "calls"), *bin = harness_path(dir, "bin");
	assert_int_equal(mkdir(bin, 0755), 0);
	/* A stand-in docker: records its argv; `run` ignores SIGTERM, as a client may. */
	struct strbuf script = STRBUF_INIT, path = STRBUF_INIT;
	strbuf_addf(&script,
	            "#!/bin/sh\nfor a in \"$@\"; do printf '%%s\\n' \"$a\"; done >> %s\n"
	            "echo -- >> %s\n[ \"$1\" = run ] && { trap '' TERM; sleep 30; }\nexit 0\n",
	            calls, calls);
	char *docker = harness_path(bin, "docker");
	FILE *f = fopen(docker, "w");
	assert_non_null(f);
	fputs(script.buf, f);
	fclose(f);
	assert_int_equal(chmod(docker, 0755), 0);
	strbuf_addf(&path, "PATH=%s:/usr/bin:/bin", bin);
	const char *path0 = getenv("PATH");
	char *old_path = path0 ? strdup(path0) : NULL;
	setenv("PATH", path.buf + 5, 1); /* for docker kill, which runs with gpuci's env */

	int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	char *argv[] = {"python3", "tests/test_x.py", "--fast", NULL};
	char *opts[] = {"--ipc=host", NULL}, *names[] = {"FOO", NULL};
	char *setup[] = {"pip install -e .", "make -C ext", NULL};
	char *env[] = {path.buf, "FOO=1", NULL};
	struct run_test t = {.argv = argv,
	                     .gpus = 2,
	                     .docker_image = "img:1",
	                     .docker_opts = opts,
	                     .docker_env = names,
	                     .docker_setup = setup};
	sigset_t none;
	sigemptyset(&none);
	struct run_exec_job job = {.test = &t,
	                           .env = env,
	                           .gpu_ids = "0,1",
	                           .cwd = dir,
	                           .name = "gpuci-7-2-1",
	                           .run_id = "r-1",
	                           .log_fd = fd,
	                           .kill_after = 0.5,
	                           .mask = &none};
	struct run_exec *h;
	struct diag d = DIAG_INIT;
	assert_int_equal(run_exec_docker.start(&job, &h, &d), 0);
	close(fd);
	usleep(300000); /* docker run is up */
	h->ex->signal(h, SIGTERM);
	h->ex->stop_due(h);
	struct run_exec_result r = finish(h);
	/* The client ignored SIGTERM: the keeper needed SIGKILL after kill_after. */
	assert_true(r.killed > 0 || WIFSIGNALED(r.status));
	h->ex->release(h);
	struct strbuf got = STRBUF_INIT, want = STRBUF_INIT;
	read_file(calls, &got);
	strbuf_addf(
	    &want,
	    "run\n--rm\n--init\n--name\ngpuci-7-2-1\n--cidfile\n%s/gpuci-7-2-1.cid\n"
	    "--label\ngpuci.run=r-1\n--ipc=host\n--gpus\n\"device=0,1\"\n-v\n%s:%s\n"
	    "-w\n%s\n-e\nFOO\n-e\nCUDA_VISIBLE_DEVICES=0,1\n-e\nCUDA_DEVICE_ORDER=PCI_BUS_ID\n"
	    "-e\nGPUCI_GPUS\n-e\nGPUCI_RUN_ID\nimg:1\nbash\n-lc\n"
	    "set -e\npip install -e .\nmake -C ext\nexec \"$@\"\n"
	    "bash\npython3\ntests/test_x.py\n--fast\n--\n"
	    "rm\n-f\ngpuci-7-2-1\n--\n",
	    dir, dir, dir, dir);
	/*
	 * docker kill NAME comes after (or, racing the client's start, before)
	 * it; a stopped client's container is removed (rm -f) before DONE.
	 */
	const char *kill = "kill\ngpuci-7-2-1\n--\n";
	char *at = strstr(got.buf, kill);
	assert_non_null(at);
	memmove(at, at + strlen(kill), strlen(at + strlen(kill)) + 1);
	assert_string_equal(got.buf, want.buf);
	if (old_path)
		setenv("PATH", old_path, 1);
	free(old_path);
	strbuf_release(&got);
	strbuf_release(&want);
	strbuf_release(&script);
	strbuf_release(&path);
	diag_release(&d);
	free(docker);
	free(calls);
	free(bin);
	free(log);
	harness_rmtree(dir);
}

/* No GPUs: no --gpus at all; no setup given: today's pip install. */
static void docker__without_gpus_passes_no_gpus_and_the_default_setup(void **state)
{
	(void)state;
	char *dir = harness_tmpdir(), *log = harness_path(dir, "log");
	char *calls = harness_path(dir, "calls"), *bin = harness_path(dir, "bin");
	assert_int_equal(mkdir(bin, 0755), 0);
	char *docker = harness_path(bin, "docker");
	FILE *f = fopen(docker, "w");
	assert_non_null(f);
	fprintf(f, "#!/bin/sh\nfor a in \"$@\"; do printf '%%s\\n' \"$a\"; done > %s\n", calls);
	fclose(f);
	assert_int_equal(chmod(docker, 0755), 0);
	struct strbuf path = STRBUF_INIT;
	strbuf_addf(&path, "PATH=%s:/usr/bin:/bin", bin);
	const char *path0 = getenv("PATH");
	char *old_path = path0 ? strdup(path0) : NULL;
	setenv("PATH", path.buf + 5, 1); /* docker is looked up in gpuci's PATH */
	int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	char *argv[] = {"python3", "tests/test_y.py", NULL};
	char *env[] = {path.buf, NULL};
	struct run_test t = {.argv = argv, .docker_image = "img:2"};
	sigset_t none;
	sigemptyset(&none);
	struct run_exec_job job = {.test = &t,
	                           .env = env,
	                           .gpu_ids = "",
	                           .cwd = dir,
	                           .name = "gpuci-7-1-2",
	                           .run_dir = bin,
	                           .log_fd = fd,
	                           .kill_after = 1,
	                           .mask = &none};
	struct run_exec *h;
	struct diag d = DIAG_INIT;
	assert_int_equal(run_exec_docker.start(&job, &h, &d), 0);
	close(fd);
	struct run_exec_result r = finish(h);
	assert_true(WIFEXITED(r.status));
	h->ex->release(h);
	struct strbuf got = STRBUF_INIT, want = STRBUF_INIT;
	read_file(calls, &got);
	strbuf_addf(
	    &want,
	    "run\n--rm\n--init\n--name\ngpuci-7-1-2\n--cidfile\n%s/gpuci-7-1-2.cid\n"
	    "-v\n%s:%s\n-w\n%s\n-e\nCUDA_VISIBLE_DEVICES=\n-e\n"
	    "CUDA_DEVICE_ORDER=PCI_BUS_ID\n-e\nGPUCI_GPUS\n-e\nGPUCI_RUN_ID\n-e\n"
	    "NVIDIA_VISIBLE_DEVICES=void\nimg:2\nbash\n-lc\n"
	    "set -e\npip install -e . --no-deps\nexec \"$@\"\nbash\npython3\ntests/test_y.py\n",
	    bin, dir, dir, dir);
	assert_string_equal(got.buf, want.buf);
	if (old_path)
		setenv("PATH", old_path, 1);
	free(old_path);
	strbuf_release(&got);
	strbuf_release(&want);
	strbuf_release(&path);
	diag_release(&d);
	free(docker);
	free(calls);
	free(bin);
	free(log);
	harness_rmtree(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(local__runs_the_test_with_its_env_and_log),
	    cmocka_unit_test(docker__runs_docker_run_and_kills_the_container_when_a_stop_is_due),
	    cmocka_unit_test(docker__without_gpus_passes_no_gpus_and_the_default_setup),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
