#include "harness.h"

#include <stdlib.h>
#include <string.h>

#include "docker/dockerrun.h"

/*
 * An Execute step in the shape vime and slime use (options, image and an
 * inner bash -lc script in the step's own run: block); names are made up.
 */
static const char STEP[] =
    "docker run --pull=always --rm \\\n" /* 1 */
    "  --privileged --cap-add SYS_NICE --security-opt seccomp=unconfined \\\n"
    "  --network host \\\n"
    "  --gpus all \\\n"
    "  --ipc=host --shm-size=8g \\\n" /* 5 */
    "  --ulimit memlock=-1 --ulimit stack=67108864 \\\n"
    "  --memory=0 --memory-swap=0 \\\n"
    "  -e http_proxy -e CI_TOKEN \\\n"
    "  -e TEST_FILE=\"${{ matrix.info.test_file }}\" \\\n"
    "  -e NUM_GPUS=\"${{ matrix.info.num_gpus }}\" \\\n" /* 10 */
    "  -e MODE=fast \\\n"
    "  -v \"$GITHUB_WORKSPACE:$GITHUB_WORKSPACE\" \\\n"
    "  -v /mnt/ci/models:/root/models \\\n"
    "  --mount type=tmpfs,destination=/scratch \\\n"
    "  -w \"$GITHUB_WORKSPACE\" \\\n" /* 15 */
    "  example/trainer:latest \\\n"
    "  bash -lc '\n"
    "    set -euo pipefail\n"
    "    pip install -e . --no-deps --break-system-packages\n"
    "    TEST_PATH=\"$TEST_FILE\"\n" /* 20 */
    "    if [[ \"$TEST_PATH\" != tests/* ]]; then TEST_PATH=\"tests/$TEST_PATH\"; fi\n"
    "    python tests/ci/gpu_lock_exec.py --count \"$NUM_GPUS\" -- python \"$TEST_PATH\"\n"
    "  '\n";

static struct dockerrun *read_ok(const char *s, unsigned line)
{
	struct dockerrun *dr;
	struct diag d = DIAG_INIT;
	if (dockerrun_read(s, strlen(s), "pr-test.yml", line, 11, &dr, &d) < 0)
		fail_msg("refused: %u:%u %s", d.loc.line, d.loc.col, d.msg.buf);
	diag_release(&d);
	return dr;
}

static char *refusal(const char *s)
{
	struct dockerrun *dr;
	struct diag d = DIAG_INIT;
	struct strbuf out = STRBUF_INIT;
	if (dockerrun_read(s, strlen(s), "s", 1, 1, &dr, &d) == 0) {
		dockerrun_free(dr);
		strbuf_adds(&out, "accepted");
	} else {
		assert_int_equal(d.code, DIAG_INPUT);
		strbuf_addf(&out, "%u:%u %s", d.loc.line, d.loc.col, d.msg.buf);
	}
	diag_release(&d);
	return strbuf_detach(&out, NULL);
}

static const struct dr_opt *find(const struct dr_opt *v, size_t n, const char *name, size_t nth)
{
	for (size_t k = 0; k < n; k++)
		if (!strcmp(v[k].name, name) && nth-- == 0)
			return &v[k];
	return NULL;
}

static void dockerrun__reads_a_slime_shaped_step(void **state)
{
	struct dockerrun *dr = read_ok(STEP, 100);
	assert_string_equal(dr->image, "example/trainer:latest");
	assert_int_equal(dr->image_line, 115);
	assert_int_equal(dr->image_col, 3);
	assert_int_equal(dr->line, 100);
	assert_int_equal(dr->col, 11);

	const char *kept[] = {"--privileged", "--cap-add",     "--security-opt", "--network",
	                      "--ipc",        "--shm-size",    "--ulimit",       "--ulimit",
	                      "--memory",     "--memory-swap", "--env",          "--env",
	                      "--env",        "--env",         "--env",          "--volume",
	                      "--volume",     "--mount",       "--workdir"};
	assert_int_equal(dr->nkeep, sizeof(kept) / sizeof(*kept));
	for (size_t k = 0; k < dr->nkeep; k++)
		assert_string_equal(dr->keep[k].name, kept[k]);
	const struct dr_opt *o = find(dr->keep, dr->nkeep, "--ulimit", 1);
	assert_string_equal(o->value, "stack=67108864");
	assert_int_equal(o->line, 105);
	assert_int_equal(o->col, 23);
	o = find(dr->keep, dr->nkeep, "--shm-size", 0);
	assert_string_equal(o->value, "8g");
	assert_null(find(dr->keep, dr->nkeep, "--privileged", 0)->value);

	o = find(dr->keep, dr->nkeep, "--env", 1);
	assert_string_equal(o->env_name, "CI_TOKEN");
	assert_int_equal(o->flags, 0);
	o = find(dr->keep, dr->nkeep, "--env", 2);
	assert_string_equal(o->env_name, "TEST_FILE");
	assert_string_equal(o->value, "TEST_FILE=${{ matrix.info.test_file }}");
	assert_int_equal(o->flags, DR_GHA | DR_MATRIX);
	o = find(dr->keep, dr->nkeep, "--env", 4);
	assert_string_equal(o->value, "MODE=fast");
	assert_int_equal(o->flags, 0);
	o = find(dr->keep, dr->nkeep, "--volume", 0);
	assert_string_equal(o->value, "$GITHUB_WORKSPACE:$GITHUB_WORKSPACE");
	assert_int_equal(o->flags, DR_EXPAND);
	assert_string_equal(find(dr->keep, dr->nkeep, "--volume", 1)->value,
	                    "/mnt/ci/models:/root/models");

	assert_int_equal(dr->ndrop, 3);
	assert_string_equal(dr->drop[0].name, "--pull");
	assert_string_equal(dr->drop[0].value, "always");
	assert_string_equal(dr->drop[1].name, "--rm");
	assert_string_equal(dr->drop[2].name, "--gpus");
	assert_string_equal(dr->drop[2].value, "all");
	assert_int_equal(dr->drop[2].line, 103);
	assert_non_null(strstr(dr->drop[2].why, "leases"));

	assert_int_equal(dr->ncmd, 3);
	assert_string_equal(dr->cmd[0].text, "bash");
	assert_int_equal(dr->inner_line, 116);
	assert_int_equal(dr->inner_col, 13);
	assert_int_equal(dr->nsetup, 1);
	assert_string_equal(dr->setup[0].text,
	                    "pip install -e . --no-deps --break-system-packages");
	assert_int_equal(dr->setup[0].line, 118);
	assert_int_equal(dr->setup[0].col, 5);
	/* the if line is nested: the test starts there */
	assert_string_equal(dr->test, "[[ \"$TEST_PATH\" != tests/* ]]");
	assert_int_equal(dr->test_line, 120);
	dockerrun_free(dr);
}

static void dockerrun__values_are_never_taken_for_the_image(void **state)
{
	struct dockerrun *dr =
	    read_ok("docker run -it -eA=1 -v/a:/b --name x -u 1000 --entrypoint sh img -c 'id'", 1);
	assert_string_equal(dr->image, "img");
	assert_int_equal(dr->ndrop, 3); /* -i, -t, --name */
	assert_string_equal(dr->drop[0].name, "--interactive");
	assert_string_equal(dr->drop[1].name, "--tty");
	assert_string_equal(dr->drop[2].name, "--name");
	assert_int_equal(dr->nkeep, 4);
	assert_string_equal(dr->keep[0].value, "A=1");
	assert_string_equal(dr->keep[1].value, "/a:/b");
	assert_string_equal(dr->keep[2].name, "--user");
	assert_string_equal(dr->keep[3].value, "sh");
	/* not a shell: no inner script */
	assert_null(dr->inner);
	dockerrun_free(dr);

	dr = read_ok("set -e\nif true; then\n  docker container run --init -- img true\nfi\n", 1);
	assert_string_equal(dr->image, "img");
	assert_int_equal(dr->line, 3);
	assert_int_equal(dr->ndrop, 1);
	assert_int_equal(dr->nkeep, 0);
	assert_int_equal(dr->ncmd, 1);
	dockerrun_free(dr);

	dr = read_ok("docker run img sh -euc 'apt-get update; make; pytest -x'", 1);
	assert_int_equal(dr->nsetup, 2);
	assert_string_equal(dr->setup[1].text, "make");
	assert_string_equal(dr->test, "pytest -x");
	dockerrun_free(dr);
}

static void dockerrun__refusals_say_why_and_where(void **state)
{
	struct {
		const char *script, *want;
	} cases[] = {
	    {"echo hi\npython t.py", "1:1 no docker run command in the step"},
	    {"docker run a x\ndocker run b y",
	     "2:1 several docker run commands in the step (the first at 1:1): give --docker IMAGE"},
	    {"docker run --rm \"$IMAGE\" x", "1:17 the image '$IMAGE' is an expression only known "
	                                     "at run time: give --docker IMAGE"},
	    {"docker run ${{ matrix.image }}",
	     "1:12 the image '${{ matrix.image }}' is an expression only known at run time: give "
	     "--docker IMAGE"},
	    {"docker run --frobnicate 3 img", "1:12 unknown docker run option '--frobnicate' (not "
	                                      "in docker 20.10's docker run --help)"},
	    {"docker run -Z img",
	     "1:12 unknown docker run option '-Z' (not in docker 20.10's docker run --help)"},
	    {"docker run --rm -v", "1:17 docker run option '-v' without its value"},
	    {"docker run --rm", "1:1 docker run without an image"},
	    {"docker run -- --rm", "1:15 '--rm' is not an image name"},
	    {"docker run ''", "1:12 '' is not an image name"},
	    {"docker run img bash -c 'x \"y'", "1:27 unterminated double quote"},
	    {"docker run 'img", "1:12 unterminated single quote"},
	};
	for (size_t k = 0; k < sizeof(cases) / sizeof(*cases); k++) {
		char *got = refusal(cases[k].script);
		assert_string_equal(got, cases[k].want);
		free(got);
	}
}

/* --docker-opt ARG: one docker argument each, read by the same table. */
static void dockerrun__opts_one_argument_each(void **state)
{
	(void)state;
	const char *ok[] = {"--shm-size=16g", "-v",    "/data:/data", "--ipc",
	                    "host",           "-eX=1", "--privileged"};
	struct dockerrun *dr;
	struct diag d = DIAG_INIT;
	assert_int_equal(dockerrun_read_opts(ok, 7, "--docker-opt", &dr, &d), 0);
	assert_int_equal(dr->nkeep, 5);
	assert_string_equal(dr->keep[0].name, "--shm-size");
	assert_string_equal(dr->keep[0].value, "16g");
	assert_string_equal(dr->keep[1].name, "--volume");
	assert_string_equal(dr->keep[1].value, "/data:/data");
	assert_string_equal(dr->keep[2].value, "host");
	assert_string_equal(dr->keep[3].env_name, "X");
	assert_null(dr->keep[4].value);
	dockerrun_free(dr);
	static const struct {
		const char *args[2];
		size_t n;
		const char *msg;
	} bad[] = {
	    {{"--shm-size 8g"},
	     1,
	     "--docker-opt '--shm-size 8g': unknown docker run option '--shm-size 8g' (not in "
	     "docker 20.10's docker run --help); each --docker-opt is one argument: "
	     "--docker-opt --shm-size=8g"},
	    {{"--shm-size"},
	     1,
	     "--docker-opt '--shm-size': docker run option '--shm-size' without its value"},
	    {{"-v", "/a:/b"}, 1, "--docker-opt '-v': docker run option '-v' without its value"},
	    {{"--ipc=host", "img"},
	     2,
	     "--docker-opt 'img': 'img' is not a docker run option (each --docker-opt is one "
	     "argument: --docker-opt --shm-size=8g, or --docker-opt -v --docker-opt "
	     "/data:/data)"},
	    {{"--rm"}, 1, "--docker-opt '--rm': --rm: gpuci removes its containers itself"},
	    {{"-v", "$HOME:/h"},
	     2,
	     "--docker-opt '-v': --volume=$HOME:/h: a shell expansion that gpuci does not make "
	     "(let your shell expand it)"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		assert_int_equal(
		    dockerrun_read_opts(bad[i].args, bad[i].n, "--docker-opt", &dr, &d), -1);
		assert_int_equal(d.code, DIAG_USAGE);
		assert_string_equal(d.msg.buf, bad[i].msg);
		assert_null(d.loc.file);
		diag_release(&d);
		diag_init(&d);
	}
}

static void dockerrun__gpus_argument_keeps_its_quotes(void **state)
{
	struct strbuf sb = STRBUF_INIT;
	unsigned one[] = {3}, two[] = {0, 1};
	dockerrun_gpus_arg(two, 2, &sb);
	assert_string_equal(sb.buf, "\"device=0,1\"");
	strbuf_reset(&sb);
	dockerrun_gpus_arg(one, 1, &sb);
	assert_string_equal(sb.buf, "\"device=3\"");
	strbuf_reset(&sb);
	dockerrun_gpus_arg(one, 0, &sb);
	assert_string_equal(sb.buf, "");
	strbuf_release(&sb);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(dockerrun__reads_a_slime_shaped_step),
	    cmocka_unit_test(dockerrun__values_are_never_taken_for_the_image),
	    cmocka_unit_test(dockerrun__refusals_say_why_and_where),
	    cmocka_unit_test(dockerrun__gpus_argument_keeps_its_quotes),
	    cmocka_unit_test(dockerrun__opts_one_argument_each),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
