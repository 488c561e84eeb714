/* wf/yaml: the limits a YAML file meets as it is read (bombs, depth, wide mappings). */
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/arena.h"
#include "wf/model.h"
#include "wf/wf.h"

/* Parses text as a workflow that must fail; checks "w.yml:LINE:COL: ..." holds want. */
static void expect_error(const char *text, const char *want)
{
	struct diag d = DIAG_INIT;
	struct wf *w = NULL;
	assert_int_equal(wf_parse(text, strlen(text), "w.yml", &w, &d), -1);
	assert_null(w);
	assert_int_equal(d.code, DIAG_INPUT);
	struct strbuf s = STRBUF_INIT;
	diag_format(&d, &s);
	if (!strstr(s.buf, want))
		fail_msg("error '%s' lacks '%s'", s.buf, want);
	strbuf_release(&s);
	diag_release(&d);
}

static const char JOBS[] = "jobs:\n  j:\n    runs-on: x\n";

/* 10 levels of 9 aliases each: 9^9 strings once expanded. */
static void bombs__billion_laughs_is_refused_at_the_alias(void **state)
{
	(void)state;
	struct strbuf t = STRBUF_INIT;
	strbuf_adds(&t, "on: push\na0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
	for (int i = 1; i < 10; i++) {
		strbuf_addf(&t, "a%d: &a%d [", i, i);
		for (int k = 0; k < 9; k++)
			strbuf_addf(&t, "%s*a%d", k ? ", " : "", i - 1);
		strbuf_adds(&t, "]\n");
	}
	strbuf_adds(&t, JOBS);
	/* a5 is 600k nodes expanded: the second alias of it (a6, line 8) goes over. */
	expect_error(t.buf, "w.yml:8:15: YAML aliases expand to more than 1000000 nodes");
	strbuf_release(&t);
}

static void bombs__merge_keys_count_as_aliases(void **state)
{
	(void)state;
	struct strbuf t = STRBUF_INIT;
	strbuf_adds(&t, "on: push\nm0: &m0 {a: 1, b: 2, c: 3, d: 4, e: 5, f: 6, g: 7, h: 8}\n");
	for (int i = 1; i < 10; i++) {
		strbuf_addf(&t, "m%d: &m%d {<<: *m%d", i, i, i - 1);
		for (int k = 0; k < 8; k++)
			strbuf_addf(&t, ", k%d: *m%d", k, i - 1);
		strbuf_adds(&t, "}\n");
	}
	strbuf_adds(&t, JOBS);
	expect_error(t.buf, "YAML aliases expand to more than 1000000 nodes");
	strbuf_release(&t);
}

static void bombs__aliases_below_the_cap_are_shared_not_copied(void **state)
{
	(void)state;
	const char *text = "on: push\nx: &x {k: [1, 2]}\ny: *x\njobs:\n  j: {runs-on: *x}\n";
	struct diag d = DIAG_INIT;
	struct wf *w = NULL;
	assert_int_equal(wf_parse(text, strlen(text), "w.yml", &w, &d), 0);
	const struct wf_node *x = wf_get(wf_root(w), "x");
	assert_non_null(x);
	assert_ptr_equal(wf_get(wf_root(w), "y"), x);
	assert_ptr_equal(wf_job_at(w, 0)->runs_on, x);
	assert_int_equal(x->loc.line, 2);
	wf_free(w);
	diag_release(&d);
}

static void aliases__undefined_and_redefined(void **state)
{
	(void)state;
	expect_error("on: push\na: *nope\njobs: {}\n",
	             "w.yml:2:4: not valid YAML: found undefined alias 'nope'");
	/* An alias inside its own anchor is undefined: no cycle. */
	expect_error("on: push\na: &a [*a]\njobs: {}\n", "undefined alias 'a'");
	const char *text = "on: push\na: &v one\nb: &v two\nc: *v\njobs: {}\n";
	struct diag d = DIAG_INIT;
	struct wf *w = NULL;
	assert_int_equal(wf_parse(text, strlen(text), "w.yml", &w, &d), 0);
	assert_string_equal(wf_str(wf_get(wf_root(w), "c")), "two");
	wf_free(w);
}

/* text: `on: push`, then n nested flow sequences holding jobs. */
static char *nested(int n)
{
	struct strbuf t = STRBUF_INIT;
	strbuf_adds(&t, "on: push\nx: ");
	for (int i = 0; i < n; i++)
		strbuf_addch(&t, '[');
	for (int i = 0; i < n; i++)
		strbuf_addch(&t, ']');
	strbuf_adds(&t, "\njobs: {}\n");
	return strbuf_detach(&t, NULL);
}

static void depth__is_checked_as_the_text_is_read(void **state)
{
	(void)state;
	/* The root mapping is level 1: 255 sequences under it are the most. */
	char *ok = nested(WF_MAX_DEPTH - 1), *over = nested(WF_MAX_DEPTH);
	struct diag d = DIAG_INIT;
	struct wf *w = NULL;
	assert_int_equal(wf_parse(ok, strlen(ok), "w.yml", &w, &d), 0);
	wf_free(w);
	expect_error(over, "w.yml:2:259: YAML nested deeper than 256 levels");
	free(ok);
	free(over);
	/* 100000 levels: libyaml's scanner is quadratic in them; we stop at 257. */
	char *deep = nested(100000);
	alarm(60);
	expect_error(deep, "w.yml:2:259: YAML nested deeper than 256 levels");
	assert_int_equal(wf_check_yaml(deep, strlen(deep), "w.yml", &d), -1);
	alarm(0);
	assert_non_null(strstr(d.msg.buf, "nested deeper than 256"));
	assert_int_equal(d.loc.col, 259);
	diag_release(&d);
	free(deep);
}

static void depth__counts_what_an_alias_brings(void **state)
{
	(void)state;
	/* An anchor 200 deep is fine where it is, too deep 100 levels down. */
	struct strbuf t = STRBUF_INIT;
	strbuf_adds(&t, "on: push\na: &a ");
	for (int i = 0; i < 200; i++)
		strbuf_addch(&t, '[');
	for (int i = 0; i < 200; i++)
		strbuf_addch(&t, ']');
	strbuf_adds(&t, "\nb: ");
	for (int i = 0; i < 100; i++)
		strbuf_addch(&t, '[');
	strbuf_adds(&t, "*a");
	for (int i = 0; i < 100; i++)
		strbuf_addch(&t, ']');
	strbuf_adds(&t, "\njobs: {}\n");
	expect_error(t.buf, "w.yml:3:104: YAML nested deeper than 256 levels");
	strbuf_release(&t);
}

static void keys__duplicates_are_found_in_linear_time(void **state)
{
	(void)state;
	expect_error("on: push\nx: {a: 1, b: 2, a: 3}\njobs: {}\n",
	             "w.yml:2:17: duplicate key 'a'");
	expect_error("on: push\nx: {[a]: 1}\njobs: {}\n",
	             "w.yml:2:5: a mapping key must be a scalar");
	/* 200000 keys; the last repeats the 42nd. */
	struct strbuf t = STRBUF_INIT;
	strbuf_adds(&t, "on: push\njobs: {}\nenv:\n");
	for (int i = 0; i < 200000; i++)
		strbuf_addf(&t, "  K%d: v\n", i);
	size_t clean = t.len;
	alarm(60); /* quadratic, it took minutes */
	struct diag d = DIAG_INIT;
	struct wf *w = NULL;
	assert_int_equal(wf_parse(t.buf, t.len, "w.yml", &w, &d), 0);
	assert_int_equal(wf_env(w)->len, 200000);
	assert_string_equal(wf_str(wf_get(wf_env(w), "K199999")), "v");
	wf_free(w);
	strbuf_adds(&t, "  K41: again\n");
	expect_error(t.buf, "w.yml:200004:3: duplicate key 'K41'");
	alarm(0);
	/* Keys that differ after a NUL are different keys. */
	strbuf_setlen(&t, clean);
	strbuf_release(&t);
	expect_error("on: push\nx: {\"a\\0b\": 1, k1: 1, k2: 2, k3: 3, k4: 4, k5: 5, k6: 6, k7: 7, "
	             "k8: 8, \"a\\0c\": 2, \"a\\0b\": 3}\njobs: {}\n",
	             "duplicate key 'a'");
}

static void loader__first_document_and_empty_streams(void **state)
{
	(void)state;
	expect_error("", "w.yml:1:1: the workflow is empty");
	expect_error("# only a comment\n", "the workflow is empty");
	const char *two = "on: push\njobs: {}\n---\nnot: [valid\n";
	struct diag d = DIAG_INIT;
	struct wf *w = NULL;
	assert_int_equal(wf_parse(two, strlen(two), "w.yml", &w, &d), 0);
	wf_free(w);
	expect_error("on: push\njobs: {a: [1, 2}\n", "w.yml:2:");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(bombs__billion_laughs_is_refused_at_the_alias),
	    cmocka_unit_test(bombs__merge_keys_count_as_aliases),
	    cmocka_unit_test(bombs__aliases_below_the_cap_are_shared_not_copied),
	    cmocka_unit_test(aliases__undefined_and_redefined),
	    cmocka_unit_test(depth__is_checked_as_the_text_is_read),
	    cmocka_unit_test(depth__counts_what_an_alias_brings),
	    cmocka_unit_test(keys__duplicates_are_found_in_linear_time),
	    cmocka_unit_test(loader__first_document_and_empty_streams),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
