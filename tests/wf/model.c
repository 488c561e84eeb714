#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plan/plan.h"
#include "wf/model.h"

/* Parses text as a workflow named "w.yml"; fails the test on an error. */
static struct wf *load(const char *text)
{
	struct diag d = DIAG_INIT;
	struct wf *w = NULL;
	if (wf_parse(text, strlen(text), "w.yml", &w, &d) < 0)
		fail_msg("wf_parse: %s", d.msg.buf);
	diag_release(&d);
	return w;
}

/* Parses text that must fail; returns "line:col: message". */
static void expect_error(const char *text, const char *want)
{
	struct diag d = DIAG_INIT;
	struct wf *w = NULL;
	assert_int_equal(wf_parse(text, strlen(text), "w.yml", &w, &d), -1);
	assert_null(w);
	struct strbuf s = STRBUF_INIT;
	diag_format(&d, &s);
	if (!strstr(s.buf, want))
		fail_msg("error '%s' lacks '%s'", s.buf, want);
	strbuf_release(&s);
	diag_release(&d);
}

/* The matrix of the only job, expanded, as compact JSON. */
static void expect_matrix(const char *matrix_yaml, const char *want)
{
	struct strbuf text = STRBUF_INIT;
	strbuf_adds(&text, "on: push\njobs:\n  j:\n    runs-on: x\n    strategy:\n      matrix:\n");
	strbuf_adds(&text, matrix_yaml);
	struct wf *w = load(text.buf);
	struct arena a = ARENA_INIT;
	struct diag d = DIAG_INIT;
	const struct wf_job *j = wf_job_at(w, 0);
	struct value entries;
	assert_non_null(j->matrix);
	if (wf_matrix_expand(wf_value(j->matrix, &a), &a, &j->matrix->loc, &entries, &d) < 0)
		fail_msg("expand: %s", d.msg.buf);
	struct strbuf got = STRBUF_INIT;
	plan_json(entries, &got);
	assert_string_equal(got.buf, want);
	strbuf_release(&got);
	strbuf_release(&text);
	diag_release(&d);
	arena_release(&a);
	wf_free(w);
}

/* GitHub's documentation: "Using a multi-dimension matrix", first key outermost. */
static void matrix__product_in_key_order(void **state)
{
	expect_matrix(
	    "        version: [10, 12, 14]\n        os: [ubuntu-latest, windows-latest]\n",
	    "[{\"version\":10,\"os\":\"ubuntu-latest\"},"
	    "{\"version\":10,\"os\":\"windows-latest\"},"
	    "{\"version\":12,\"os\":\"ubuntu-latest\"},"
	    "{\"version\":12,\"os\":\"windows-latest\"},"
	    "{\"version\":14,\"os\":\"ubuntu-latest\"},"
	    "{\"version\":14,\"os\":\"windows-latest\"}]");
}

/* GitHub's documentation: "Example: Expanding configurations" (include rules). */
static void matrix__include_follows_the_documented_example(void **state)
{
	expect_matrix(
	    "        fruit: [apple, pear]\n"
	    "        animal: [cat, dog]\n"
	    "        include:\n"
	    "          - color: green\n"
	    "          - color: pink\n"
	    "            animal: cat\n"
	    "          - fruit: apple\n"
	    "            shape: circle\n"
	    "          - fruit: banana\n"
	    "          - fruit: banana\n"
	    "            animal: cat\n",
	    "[{\"fruit\":\"apple\",\"animal\":\"cat\",\"color\":\"pink\",\"shape\":\"circle\"},"
	    "{\"fruit\":\"apple\",\"animal\":\"dog\",\"color\":\"green\",\"shape\":\"circle\"},"
	    "{\"fruit\":\"pear\",\"animal\":\"cat\",\"color\":\"pink\"},"
	    "{\"fruit\":\"pear\",\"animal\":\"dog\",\"color\":\"green\"},"
	    "{\"fruit\":\"banana\"},"
	    "{\"fruit\":\"banana\",\"animal\":\"cat\"}]");
}

/* GitHub's documentation: "Excluding matrix configurations": 12 - 3 = 9. */
static void matrix__exclude_drops_partial_matches(void **state)
{
	expect_matrix("        os: [macos-latest, windows-latest]\n"
	              "        version: [12, 14, 16]\n"
	              "        environment: [staging, production]\n"
	              "        exclude:\n"
	              "          - os: macos-latest\n"
	              "            version: 12\n"
	              "            environment: production\n"
	              "          - os: windows-latest\n"
	              "            version: 16\n",
	              "[{\"os\":\"macos-latest\",\"version\":12,\"environment\":\"staging\"},"
	              "{\"os\":\"macos-latest\",\"version\":14,\"environment\":\"staging\"},"
	              "{\"os\":\"macos-latest\",\"version\":14,\"environment\":\"production\"},"
	              "{\"os\":\"macos-latest\",\"version\":16,\"environment\":\"staging\"},"
	              "{\"os\":\"macos-latest\",\"version\":16,\"environment\":\"production\"},"
	              "{\"os\":\"windows-latest\",\"version\":12,\"environment\":\"staging\"},"
	              "{\"os\":\"windows-latest\",\"version\":12,\"environment\":\"production\"},"
	              "{\"os\":\"windows-latest\",\"version\":14,\"environment\":\"staging\"},"
	              "{\"os\":\"windows-latest\",\"version\":14,\"environment\":\"production\"}]");
}

/* vime's shape: one list-valued key of objects; include alone makes entries. */
static void matrix__list_of_objects_and_include_only(void **state)
{
	expect_matrix("        info: [{\"test_file\": \"a.py\", \"num_gpus\": 4}, {\"test_file\": "
	              "\"b.py\", \"num_gpus\": 8, \"test_args\": \"--x\"}]\n",
	              "[{\"info\":{\"test_file\":\"a.py\",\"num_gpus\":4}},"
	              "{\"info\":{\"test_file\":\"b.py\",\"num_gpus\":8,\"test_args\":\"--x\"}}]");
	expect_matrix("        include:\n          - a: 1\n          - a: 2\n            b: x\n",
	              "[{\"a\":1},{\"a\":2,\"b\":\"x\"}]");
	/* An exclude of objects compares them whole. */
	expect_matrix("        info: [{\"f\": 1}, {\"f\": 2}]\n        exclude:\n"
	              "          - info: {\"f\": 1}\n",
	              "[{\"info\":{\"f\":2}}]");
	/* An empty list makes no combinations. */
	expect_matrix("        a: []\n        b: [1]\n", "[]");
}

static void matrix__errors_name_the_matrix(void **state)
{
	const char *text = "on: push\njobs:\n  j:\n    runs-on: x\n    strategy:\n      matrix:\n"
	                   "        a: 1\n";
	struct wf *w = load(text);
	struct arena a = ARENA_INIT;
	struct diag d = DIAG_INIT;
	const struct wf_job *j = wf_job_at(w, 0);
	struct value entries;
	assert_int_equal(
	    wf_matrix_expand(wf_value(j->matrix, &a), &a, &j->matrix->loc, &entries, &d), -1);
	assert_non_null(strstr(d.msg.buf, "matrix key 'a' must be a list"));
	assert_int_equal(d.loc.line, 7);
	assert_int_equal(d.loc.col, 9);
	diag_release(&d);
	arena_release(&a);
	wf_free(w);
}

static void matrix__static_only_when_the_file_spells_it(void **state)
{
	(void)state;
	struct wf *w =
	    load("on: push\njobs:\n"
	         "  spelled:\n    strategy:\n      matrix:\n        info: [{f: a}, {f: b}]\n"
	         "  dynamic:\n    strategy:\n      matrix: ${{ fromJson(x) }}\n"
	         "  broken:\n    strategy:\n      matrix:\n        info: 3\n"
	         "  none:\n    runs-on: x\n");
	struct arena a = ARENA_INIT;
	struct value entries;
	assert_true(wf_job_static_matrix(wf_job_find(w, "spelled"), &a, &entries));
	struct strbuf got = STRBUF_INIT;
	plan_json(entries, &got);
	assert_string_equal(got.buf, "[{\"info\":{\"f\":\"a\"}},{\"info\":{\"f\":\"b\"}}]");
	assert_false(wf_job_static_matrix(wf_job_find(w, "dynamic"), &a, &entries));
	assert_false(wf_job_static_matrix(wf_job_find(w, "broken"), &a, &entries));
	assert_false(wf_job_static_matrix(wf_job_find(w, "none"), &a, &entries));
	strbuf_release(&got);
	arena_release(&a);
	wf_free(w);
}

static void value__plain_scalars_are_typed_as_yaml_core(void **state)
{
	struct wf *w = load("on: push\nenv: {a: 4, b: '4', c: true, d: ~, e: 1.5, f: 0x10, g: "
	                    "yes, h: -3, i: \"true\", j: .inf, k: 1e3}\njobs: {}\n");
	struct arena a = ARENA_INIT;
	struct strbuf s = STRBUF_INIT;
	plan_json(wf_value(wf_env(w), &a), &s);
	assert_string_equal(s.buf,
	                    "{\"a\":4,\"b\":\"4\",\"c\":true,\"d\":null,\"e\":1.5,\"f\":16,"
	                    "\"g\":\"yes\",\"h\":-3,\"i\":\"true\",\"j\":null,\"k\":1000.0}");
	strbuf_release(&s);
	arena_release(&a);
	wf_free(w);
}

static void jobs__fields_needs_and_order(void **state)
{
	struct wf *w =
	    load("name: T\n"
	         "on:\n  pull_request:\n  workflow_dispatch:\n    inputs: {x: {default: a}}\n"
	         "jobs:\n"
	         "  last:\n    needs: [first, mid]\n    if: always()\n    runs-on: [a, b]\n"
	         "  mid:\n    needs: first\n    runs-on: x\n"
	         "    container: {image: img:1}\n"
	         "    steps:\n      - name: S\n        id: s\n        run: echo\n"
	         "      - uses: actions/checkout@v4\n"
	         "  first:\n    runs-on: x\n    container: img:2\n"
	         "    outputs: {m: '${{ steps.s.outputs.m }}'}\n");
	assert_int_equal(wf_njobs(w), 3);
	const struct wf_job *last = wf_job_at(w, 0), *mid = wf_job_at(w, 1);
	assert_string_equal(last->id, "last");
	assert_int_equal(last->loc.line, 7);
	assert_int_equal(last->nneeds, 2);
	assert_string_equal(last->needs[1], "mid");
	assert_string_equal(wf_str(last->if_), "always()");
	assert_int_equal(mid->nneeds, 1);
	assert_string_equal(wf_str(mid->image), "img:1");
	assert_string_equal(wf_str(wf_job_find(w, "first")->image), "img:2");
	assert_int_equal(mid->nsteps, 2);
	assert_string_equal(mid->steps[0].id, "s");
	assert_null(mid->steps[1].name);
	/* Each job after what it needs: first, mid, last. */
	const size_t *order = wf_job_order(w);
	assert_int_equal(order[0], 2);
	assert_int_equal(order[1], 1);
	assert_int_equal(order[2], 0);
	const struct wf_node *cfg;
	assert_true(wf_on(w, "workflow_dispatch", &cfg));
	assert_non_null(wf_get(cfg, "inputs"));
	assert_true(wf_on(w, "pull_request", NULL));
	assert_false(wf_on(w, "push", NULL));
	wf_free(w);

	w = load("on: [push, pull_request]\njobs: {a: {runs-on: x}}\n");
	assert_true(wf_on(w, "pull_request", NULL));
	assert_false(wf_on(w, "workflow_dispatch", NULL));
	wf_free(w);
}

static void errors__carry_file_line_and_column(void **state)
{
	expect_error("on: push\njobs:\n  a:\n    runs-on: [x\n", "w.yml:");
	expect_error("on: push\n", "w.yml:1:1: the workflow has no 'jobs'");
	expect_error("on: push\njobs: [a]\n", "w.yml:2:7: 'jobs' must be a mapping");
	expect_error("on: push\njobs:\n  a:\n    needs: [b]\n", "w.yml:4:13: job 'a' needs 'b'");
	expect_error("on: push\njobs:\n  a: {needs: b}\n  b: {needs: a}\n", "need each other");
	expect_error("on: push\njobs:\n  a: {runs-on: x}\n  a: {runs-on: y}\n",
	             "w.yml:4:3: duplicate key 'a'");
	expect_error("on: push\njobs:\n  a: 3\n", "w.yml:3:6: job 'a' must be a mapping");
	expect_error("on: push\njobs:\n  a:\n    steps: {x: 1}\n", "steps must be a list");
	expect_error("- a\n", "a workflow must be a mapping");
	expect_error("", "the workflow is empty");
}

static void load__reads_a_file_and_names_it(void **state)
{
	char *dir = harness_tmpdir();
	char *path = harness_path(dir, "bad.yml");
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs("on: push\njobs:\n  a:\n    needs: nope\n", f);
	fclose(f);
	struct wf *w = NULL;
	struct diag d = DIAG_INIT;
	assert_int_equal(wf_load(path, &w, &d), -1);
	assert_string_equal(d.loc.file, path);
	assert_int_equal(d.loc.line, 4);
	diag_release(&d);
	char *missing = harness_path(dir, "missing.yml");
	assert_int_equal(wf_load(missing, &w, &d), -1);
	assert_non_null(strstr(d.msg.buf, "missing.yml"));
	diag_release(&d);
	free(missing);
	free(path);
	harness_rmtree(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(matrix__product_in_key_order),
	    cmocka_unit_test(matrix__include_follows_the_documented_example),
	    cmocka_unit_test(matrix__exclude_drops_partial_matches),
	    cmocka_unit_test(matrix__list_of_objects_and_include_only),
	    cmocka_unit_test(matrix__errors_name_the_matrix),
	    cmocka_unit_test(value__plain_scalars_are_typed_as_yaml_core),
	    cmocka_unit_test(jobs__fields_needs_and_order),
	    cmocka_unit_test(matrix__static_only_when_the_file_spells_it),
	    cmocka_unit_test(errors__carry_file_line_and_column),
	    cmocka_unit_test(load__reads_a_file_and_names_it),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
