/* run_prepare(): the tests of a suite from a workflow's plan (run/prepare.h). */
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/strbuf.h"
#include "plan/plan.h"
#include "report/report.h"
#include "run/prepare.h"
#include "wf/model.h"

static const char workflow[] =
    "name: t\n"
    "on: {pull_request: {}}\n"
    "env:\n"
    "  TOP: top\n"
    "  SHARED: from-workflow\n"
    "jobs:\n"
    "  unit:\n"
    "    runs-on: gpu\n"
    "    env:\n"
    "      SHARED: from-job\n"
    "      ARGS: '${{ matrix.info.test_args }}'\n"
    "      TOKEN: '${{ secrets.TOKEN }}'\n"
    "      OTHER: '${{ secrets.OTHER }}'\n"
    "    container:\n"
    "      image: example/img:1\n"
    "      options: --ipc=host --gpus all --shm-size 8g\n"
    "    strategy:\n"
    "      matrix:\n"
    "        info:\n"
    "          - {test_file: test_a.py, num_gpus: 2, test_args: '--x  1'}\n"
    "          - {test_file: test_a.py, num_gpus: 2, test_args: '--x  1', fp8: '1'}\n"
    "          - {test_file: tests/test_b.py}\n"
    "          - {test_file: ../escape.py}\n"
    "          - {test_file: test_link.py}\n"
    "          - {num_gpus: 1}\n"
    "  bare:\n"
    "    runs-on: cpu\n"
    "    strategy:\n"
    "      matrix:\n"
    "        info:\n"
    "          - {test_file: test_c.py}\n";

struct fixture {
	char *root;
	struct wf *w;
	struct plan p;
	struct run_prepared pr;
};

static void touch(const char *root, const char *name)
{
	char *path = harness_path(root, name);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fclose(f);
	free(path);
}

static void setup(struct fixture *fx)
{
	struct diag d = DIAG_INIT;
	memset(fx, 0, sizeof(*fx));
	fx->root = harness_tmpdir();
	char *tests = harness_path(fx->root, "tests");
	assert_int_equal(mkdir(tests, 0755), 0);
	free(tests);
	touch(fx->root, "tests/test_a.py");
	touch(fx->root, "tests/test_b.py");
	touch(fx->root, "tests/test_c.py");
	/* A symlink that leads out of the repository. */
	char *link = harness_path(fx->root, "tests/test_link.py");
	assert_int_equal(symlink("/etc/hostname", link), 0);
	free(link);
	assert_int_equal(wf_parse(workflow, sizeof(workflow) - 1, "pr.yml", &fx->w, &d), 0);
	struct plan_opts po = {.event = "pull_request"};
	assert_int_equal(plan_make(fx->w, &po, &fx->p, &d), 0);
	diag_release(&d);
}

static void teardown(struct fixture *fx)
{
	run_prepared_release(&fx->pr);
	plan_release(&fx->p);
	wf_free(fx->w);
	harness_rmtree(fx->root);
}

static const char *env_of(const struct run_test *t, const char *name)
{
	size_t len = strlen(name);
	const char *found = NULL;
	for (size_t i = 0; t->env && t->env[i]; i++)
		if (!strncmp(t->env[i], name, len) && t->env[i][len] == '=') {
			assert_null(found); /* each name once */
			found = t->env[i] + len + 1;
		}
	return found;
}

static int prepare(struct fixture *fx, struct run_prepare_opts *o)
{
	struct diag d = DIAG_INIT;
	static char *base[] = {"PATH=/nowhere", "SHARED=inherited", "KEEP=1",
	                       "TOKEN=s3cret",  "OTHER=not-passed", NULL};
	o->root = fx->root;
	if (!o->env)
		o->env = base;
	int rc = run_prepare(&fx->pr, fx->w, &fx->p, o, &d);
	diag_release(&d);
	return rc;
}

static void prepare__makes_argv_env_identity_and_gpus_of_each_entry(void **state)
{
	(void)state;
	struct fixture fx;
	setup(&fx);
	const char *secrets[] = {"TOKEN"};
	struct run_prepare_opts o = {.secrets = secrets, .nsecrets = 1};
	assert_int_equal(prepare(&fx, &o), 0);
	/* Six entries with a test_file (the one without is no test), in file order. */
	assert_int_equal(fx.pr.n, 6);
	const struct run_test *a = &fx.pr.tests[0];
	assert_string_equal(a->job, "unit");
	assert_string_equal(a->test_file, "test_a.py");
	assert_int_equal(a->gpus, 2);
	/* No python on PATH: python3; args split on blanks. */
	assert_string_equal(a->argv[0], "python3");
	assert_string_equal(a->argv[1], "tests/test_a.py");
	assert_string_equal(a->argv[2], "--x");
	assert_string_equal(a->argv[3], "1");
	assert_null(a->argv[4]);
	/* The job's env over the workflow's over the inherited one; secrets named only. */
	assert_string_equal(env_of(a, "TOP"), "top");
	assert_string_equal(env_of(a, "SHARED"), "from-job");
	assert_string_equal(env_of(a, "KEEP"), "1");
	assert_string_equal(env_of(a, "ARGS"), "--x  1");
	assert_string_equal(env_of(a, "TOKEN"), "s3cret");
	assert_string_equal(env_of(a, "OTHER"), "");
	/* Two entries of one file and args: told apart by their variant and identity. */
	const struct run_test *a2 = &fx.pr.tests[1];
	assert_non_null(a2->variant);
	assert_non_null(strstr(a2->variant, "fp8"));
	assert_non_null(strstr(a2->display, "test_a.py"));
	assert_string_not_equal(a->identity, a2->identity);
	assert_non_null(strstr(a2->identity, "\"fp8\""));
	/* A path with tests/ already: as is; no num_gpus: 0 GPUs. */
	const struct run_test *b = &fx.pr.tests[2];
	assert_string_equal(b->argv[1], "tests/test_b.py");
	assert_int_equal(b->gpus, 0);
	assert_null(b->argv[2]);
	/* No docker unless asked. */
	assert_null(a->docker_image);
	/* The other job: its own env only. */
	const struct run_test *c = &fx.pr.tests[5];
	assert_string_equal(c->job, "bare");
	assert_string_equal(env_of(c, "SHARED"), "from-workflow");
	assert_null(env_of(c, "ARGS"));
	teardown(&fx);
}

static void prepare__refuses_paths_that_leave_the_repository(void **state)
{
	(void)state;
	struct fixture fx;
	setup(&fx);
	struct run_prepare_opts o = {0};
	assert_int_equal(prepare(&fx, &o), 0);
	const struct run_test *esc = &fx.pr.tests[3], *link = &fx.pr.tests[4];
	assert_string_equal(esc->test_file, "../escape.py");
	assert_int_equal(esc->status, REPORT_NOT_RUNNABLE);
	assert_null(esc->argv);
	assert_non_null(esc->message);
	assert_string_equal(link->test_file, "test_link.py");
	assert_int_equal(link->status, REPORT_NOT_RUNNABLE);
	assert_null(link->argv);
	assert_non_null(strstr(link->message, "leads out of the repository"));
	teardown(&fx);
}

static void prepare__selects_jobs_and_tests(void **state)
{
	(void)state;
	struct fixture fx;
	setup(&fx);
	const char *jobs[] = {"unit"}, *globs[] = {"test_b*"};
	struct run_prepare_opts o = {
	    .jobs = jobs, .njobs = 1, .tests = globs, .ntests = 1, .python = "/opt/py"};
	assert_int_equal(prepare(&fx, &o), 0);
	/* The glob matches with or without tests/. */
	assert_int_equal(fx.pr.n, 1);
	assert_string_equal(fx.pr.tests[0].test_file, "tests/test_b.py");
	assert_string_equal(fx.pr.tests[0].argv[0], "/opt/py");
	teardown(&fx);
}

static void prepare__docker_takes_the_jobs_image_and_options_without_gpus(void **state)
{
	(void)state;
	struct fixture fx;
	setup(&fx);
	struct run_prepare_opts o = {.docker = "job"};
	assert_int_equal(prepare(&fx, &o), 0);
	const struct run_test *a = &fx.pr.tests[0];
	assert_string_equal(a->docker_image, "example/img:1");
	assert_string_equal(a->docker_opts[0], "--ipc=host");
	assert_string_equal(a->docker_opts[1], "--shm-size");
	assert_string_equal(a->docker_opts[2], "8g");
	assert_null(a->docker_opts[3]);
	/* The job env's names, passed with -e (values from the env). */
	size_t n = 0;
	while (a->docker_env[n])
		n++;
	assert_int_equal(n, 6);
	assert_string_equal(a->docker_env[0], "TOP");
	assert_string_equal(a->docker_env[2], "SHARED");
	/* A job with no container image: refused, and why. */
	const struct run_test *c = &fx.pr.tests[5];
	assert_null(c->argv);
	assert_int_equal(c->status, REPORT_NOT_RUNNABLE);
	assert_string_equal(c->message, "--docker job: job 'bare' names no container image and no "
	                                "step runs `docker run`");
	teardown(&fx);
}

static const char execute_wf[] =
    "on: {pull_request: {}}\n"
    "jobs:\n"
    "  ex:\n"
    "    runs-on: gpu\n"
    "    strategy:\n"
    "      matrix:\n"
    "        info:\n"
    "          - {test_file: test_a.py, num_gpus: 2}\n"
    "    steps:\n"
    "      - uses: actions/checkout@v4\n"
    "      - name: Execute\n"
    "        run: |\n"
    "\n"                                                   /* a blank first line, as slime's */
    "          docker run --rm --gpus all --ipc=host \\\n" /* 14 */
    "            -e TEST_FILE=\"${{ matrix.info.test_file }}\" \\\n" /* 15 */
    "            -e MODE=fast \\\n"                                  /* 16 */
    "            -v \"$GITHUB_WORKSPACE:$GITHUB_WORKSPACE\" \\\n"    /* 17 */
    "            -v \"${GITHUB_WORKSPACE}/cache:/cache\" \\\n"       /* 18 */
    "            -w \"$GITHUB_WORKSPACE\" \\\n"                      /* 19 */
    "            img/x:2 bash -lc '\n"                               /* 20 */
    "              pip install -e . --no-deps\n"
    "              python \"tests/$TEST_FILE\"\n"
    "            '\n"
    "  bad:\n"
    "    runs-on: gpu\n"
    "    strategy:\n"
    "      matrix:\n"
    "        info:\n"
    "          - {test_file: test_b.py, num_gpus: 1}\n"
    "    steps:\n"
    "      - run: docker run -v \"$HOME:/h\" img/y:1 python tests/test_b.py\n"; /* 31 */

/* --docker job, no container: the Execute step's image, options and setup, with places. */
static void prepare__docker_job_reads_the_execute_steps_docker_run(void **state)
{
	(void)state;
	struct fixture fx;
	struct diag d = DIAG_INIT;
	memset(&fx, 0, sizeof(fx));
	fx.root = harness_tmpdir();
	char *tests = harness_path(fx.root, "tests");
	assert_int_equal(mkdir(tests, 0755), 0);
	free(tests);
	touch(fx.root, "tests/test_a.py");
	touch(fx.root, "tests/test_b.py");
	char *file = harness_path(fx.root, "pr.yml");
	FILE *f = fopen(file, "w");
	assert_non_null(f);
	fputs(execute_wf, f);
	fclose(f);
	assert_int_equal(wf_parse(execute_wf, sizeof(execute_wf) - 1, file, &fx.w, &d), 0);
	struct plan_opts po = {.event = "pull_request"};
	assert_int_equal(plan_make(fx.w, &po, &fx.p, &d), 0);
	struct run_prepare_opts o = {.docker = "job"};
	assert_int_equal(prepare(&fx, &o), 0);
	assert_int_equal(fx.pr.n, 2);
	const struct run_test *a = &fx.pr.tests[0];
	assert_non_null(a->argv);
	assert_string_equal(a->docker_image, "img/x:2");
	struct strbuf want = STRBUF_INIT;
	strbuf_addf(&want, "%s:20:13", file);
	assert_string_equal(a->docker_image_from, want.buf);
	/*
	 * --rm and --gpus dropped, the matrix -e left to gpuci, the workspace's
	 * mount and -w left to the executor, the workspace as the root.
	 */
	assert_string_equal(a->docker_opts[0], "--ipc=host");
	strbuf_reset(&want);
	strbuf_addf(&want, "%s:14:38", file);
	assert_string_equal(a->docker_opts_from[0], want.buf);
	assert_string_equal(a->docker_opts[1], "--env=MODE=fast");
	strbuf_reset(&want);
	strbuf_addf(&want, "%s:16:13", file); /* a later line of the block: its indent counted */
	assert_string_equal(a->docker_opts_from[1], want.buf);
	strbuf_reset(&want);
	strbuf_addf(&want, "--volume=%s/cache:/cache", fx.root);
	assert_string_equal(a->docker_opts[2], want.buf);
	assert_null(a->docker_opts[3]);
	assert_string_equal(a->docker_setup[0], "pip install -e . --no-deps");
	assert_null(a->docker_setup[1]);
	/* Another expansion: refused, with its place and why. */
	const struct run_test *b = &fx.pr.tests[1];
	assert_null(b->argv);
	assert_int_equal(b->status, REPORT_NOT_RUNNABLE);
	strbuf_reset(&want);
	strbuf_addf(&want, "--docker job: %s:31:", file);
	assert_memory_equal(b->message, want.buf, want.len);
	assert_non_null(strstr(b->message, "$HOME:/h: a shell expansion that gpuci cannot know"));
	/* --docker-setup '': no setup at all. */
	run_prepared_release(&fx.pr);
	o.docker_setup = "";
	assert_int_equal(prepare(&fx, &o), 0);
	assert_null(fx.pr.tests[0].docker_setup[0]);
	run_prepared_release(&fx.pr);
	o.docker_setup = "make dev";
	assert_int_equal(prepare(&fx, &o), 0);
	assert_string_equal(fx.pr.tests[0].docker_setup[0], "make dev");
	assert_null(fx.pr.tests[0].docker_setup[1]);
	strbuf_release(&want);
	diag_release(&d);
	free(file);
	teardown(&fx);
}

/* Whether t has option opt, and from where. */
static const char *opt_from(const struct run_test *t, const char *opt)
{
	for (size_t j = 0; t->docker_opts && t->docker_opts[j]; j++)
		if (!strcmp(t->docker_opts[j], opt))
			return t->docker_opts_from[j];
	return NULL;
}

static size_t nopts(const struct run_test *t)
{
	size_t n = 0;
	while (t->docker_opts && t->docker_opts[n])
		n++;
	return n;
}

/*
 * The image and options from one place (--docker IMAGE, else the job's),
 * then --docker-opt, then the lock files' folder unless it is visible.
 */
static void prepare__docker_options_in_order_with_their_origins(void **state)
{
	(void)state;
	struct fixture fx;
	setup(&fx);
	const char *extra[] = {"--shm-size=16g", "-v", "/d:/d"};
	struct run_prepare_opts o = {
	    .docker = "other/img:2", .docker_opts = extra, .ndocker_opts = 3, .lock_dir = "/l/k"};
	assert_int_equal(prepare(&fx, &o), 0);
	const struct run_test *a = &fx.pr.tests[0];
	assert_string_equal(a->docker_image, "other/img:2");
	assert_string_equal(a->docker_image_from, "--docker");
	/* An image of one's own: none of the job's options. */
	assert_int_equal(nopts(a), 3);
	assert_string_equal(a->docker_opts[0], "--shm-size=16g");
	assert_string_equal(a->docker_opts_from[0], "--docker-opt");
	assert_string_equal(a->docker_opts[1], "--volume=/d:/d");
	assert_string_equal(opt_from(a, "--volume=/l/k:/l/k"), "gpuci: the lock files' folder");
	run_prepared_release(&fx.pr);

	/* The job's: its container options first, --docker-opt after (docker takes the last). */
	o.docker = "job";
	o.lock_dir = "/dev/shm";
	assert_int_equal(prepare(&fx, &o), 0);
	a = &fx.pr.tests[0];
	assert_string_equal(a->docker_image, "example/img:1");
	assert_int_equal(nopts(a), 5); /* /dev/shm with --ipc=host: seen already */
	assert_string_equal(a->docker_opts[0], "--ipc=host");
	assert_string_equal(a->docker_opts_from[0], "pr.yml:16:16 container options");
	assert_string_equal(a->docker_opts[1], "--shm-size");
	assert_string_equal(a->docker_opts[2], "8g");
	assert_string_equal(a->docker_opts[3], "--shm-size=16g");
	assert_string_equal(a->docker_opts_from[3], "--docker-opt");
	run_prepared_release(&fx.pr);

	/* /dev/shm without --ipc=host: mounted; a folder mounted there already: not twice. */
	o.docker = "other/img:2";
	assert_int_equal(prepare(&fx, &o), 0);
	assert_non_null(opt_from(&fx.pr.tests[0], "--volume=/dev/shm:/dev/shm"));
	run_prepared_release(&fx.pr);
	o.lock_dir = "/d";
	assert_int_equal(prepare(&fx, &o), 0);
	assert_int_equal(nopts(&fx.pr.tests[0]), 2);
	run_prepared_release(&fx.pr);

	/* One gpuci gives itself: the test is refused, saying why. */
	const char *gpus[] = {"--gpus=all"};
	o.docker_opts = gpus;
	o.ndocker_opts = 1;
	assert_int_equal(prepare(&fx, &o), 0);
	assert_null(fx.pr.tests[0].argv);
	assert_string_equal(
	    fx.pr.tests[0].message,
	    "--docker job: --docker-opt '--gpus=all': --gpus: gpuci leases the GPUs "
	    "and gives --gpus itself");
	teardown(&fx);
}

static void prepare__fails_with_the_place_of_an_env_that_cannot_be_evaluated(void **state)
{
	(void)state;
	static const char bad[] = "on: {pull_request: {}}\n"
	                          "jobs:\n"
	                          "  j:\n"
	                          "    runs-on: x\n"
	                          "    env:\n"
	                          "      X: '${{ nosuch( }}'\n"
	                          "    strategy: {matrix: {info: [{test_file: t.py}]}}\n";
	struct wf *w;
	struct plan p;
	struct run_prepared pr;
	struct diag d = DIAG_INIT;
	assert_int_equal(wf_parse(bad, sizeof(bad) - 1, "bad.yml", &w, &d), 0);
	struct plan_opts po = {0};
	assert_int_equal(plan_make(w, &po, &p, &d), 0);
	char *base[] = {NULL};
	struct run_prepare_opts o = {.root = "/tmp", .env = base};
	assert_int_equal(run_prepare(&pr, w, &p, &o, &d), -1);
	assert_string_equal(d.loc.file, "bad.yml");
	assert_int_equal(d.loc.line, 6);
	run_prepared_release(&pr);
	plan_release(&p);
	wf_free(w);
	diag_release(&d);
}

static void find_python__prefers_python_on_path(void **state)
{
	(void)state;
	char *dir = harness_tmpdir();
	char *py = harness_path(dir, "python");
	FILE *f = fopen(py, "w");
	assert_non_null(f);
	fclose(f);
	assert_string_equal(run_find_python(dir), "python3"); /* not executable */
	assert_int_equal(chmod(py, 0755), 0);
	struct strbuf path = STRBUF_INIT;
	strbuf_addf(&path, "/nowhere:%s", dir);
	assert_string_equal(run_find_python(path.buf), "python");
	assert_string_equal(run_find_python(NULL), "python3");
	strbuf_release(&path);
	free(py);
	harness_rmtree(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(prepare__makes_argv_env_identity_and_gpus_of_each_entry),
	    cmocka_unit_test(prepare__refuses_paths_that_leave_the_repository),
	    cmocka_unit_test(prepare__selects_jobs_and_tests),
	    cmocka_unit_test(prepare__docker_takes_the_jobs_image_and_options_without_gpus),
	    cmocka_unit_test(prepare__docker_job_reads_the_execute_steps_docker_run),
	    cmocka_unit_test(prepare__docker_options_in_order_with_their_origins),
	    cmocka_unit_test(prepare__fails_with_the_place_of_an_env_that_cannot_be_evaluated),
	    cmocka_unit_test(find_python__prefers_python_on_path),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
