#include "harness.h"

#include <stdlib.h>
#include <string.h>

#include "wf/gen.h"

#define RULE "################################################################################\n"
#define PY_HEADER                                                                                  \
	RULE "# This file is auto-generated from the .j2 file via generate_github_workflows.py. "  \
	     "Do not edit manually.\n" RULE

static const char tpl[] = "<% set n = 2 %>a: << n * 2 >>\nb: [<< 'x' >>]\n";
static const char body[] = "a: 4\nb: [x]";

static size_t hlen(const char *s)
{
	return wf_gen_header_len(s, strlen(s));
}

static void header__both_generators_headers_are_headers(void **state)
{
	(void)state;
	assert_int_equal(strlen(RULE), 81);
	assert_int_equal(hlen(wf_gen_header), strlen(wf_gen_header));
	assert_int_equal(hlen(PY_HEADER), strlen(PY_HEADER));
	assert_int_equal(hlen(PY_HEADER "jobs: {}\n"), strlen(PY_HEADER));
	/* The middle line may say anything, as long as it is a comment. */
	assert_int_equal(hlen(RULE "#\n" RULE "x"), 81 + 2 + 81);
	assert_int_equal(hlen(RULE "# é ✓\n" RULE), 81 + strlen("# é ✓\n") + 81);
	assert_int_equal(hlen(RULE RULE RULE), 3 * 81);
}

static void header__other_shapes_are_not_headers(void **state)
{
	(void)state;
	const char *r79 = RULE + 1, *shapes[] = {
	                                "",
	                                "#\n# x\n#\n",
	                                "name: x\n",
	                                RULE,
	                                RULE "# x\n",
	                                RULE "# x\n#####\n",
	                                RULE " # x\n" RULE,
	                                RULE "\n" RULE,
	                                RULE "x\n" RULE,
	                                RULE "# x\n" RULE "#", /* a 4th line of '#' is body */
	                            };
	for (size_t i = 0; i < sizeof(shapes) / sizeof(*shapes); i++)
		if (i < 9 && hlen(shapes[i]) != 0)
			fail_msg("shape %zu taken for a header", i);
	assert_int_equal(hlen(shapes[9]), 81 + 4 + 81);
	/* Rules of 79 or 81 '#', on either side. */
	struct strbuf s = STRBUF_INIT;
	strbuf_addf(&s, "%s# x\n%s", r79, r79);
	assert_int_equal(hlen(s.buf), 0);
	strbuf_reset(&s);
	strbuf_addf(&s, "#" RULE "# x\n#" RULE);
	assert_int_equal(hlen(s.buf), 0);
	strbuf_reset(&s);
	strbuf_addf(&s, RULE "# x\n%s", r79);
	assert_int_equal(hlen(s.buf), 0);
	/* CR LF line ends, and a rule cut short by the end of the text. */
	strbuf_reset(&s);
	strbuf_add(&s, RULE, 80);
	strbuf_adds(&s, "\r\n# x\r\n");
	strbuf_add(&s, RULE, 80);
	strbuf_adds(&s, "\r\n");
	assert_int_equal(hlen(s.buf), 0);
	assert_int_equal(wf_gen_header_len(PY_HEADER, strlen(PY_HEADER) - 1), 0);
	assert_int_equal(wf_gen_header_len(NULL, 0), 0);
	strbuf_release(&s);
}

/* wf_gen_update() of tpl against old (NULL: no file); returns its rc. */
static int update(const char *old, const char *header, struct strbuf *out, bool *current,
                  struct diag *d)
{
	const struct wf_gen_in in = {.tpl = tpl,
	                             .tpl_len = strlen(tpl),
	                             .tpl_name = "w.yml.j2",
	                             .old = old,
	                             .old_len = old ? strlen(old) : 0,
	                             .out_name = "w.yml",
	                             .header = header};
	strbuf_reset(out);
	return wf_gen_update(&in, out, current, d);
}

static void update__keeps_an_existing_header_and_compares_the_body(void **state)
{
	(void)state;
	struct strbuf out = STRBUF_INIT;
	struct diag d = DIAG_INIT;
	bool current = true;
	/* No file: gpuci's header; never current. */
	assert_int_equal(update(NULL, NULL, &out, &current, &d), 0);
	assert_string_equal(out.buf, "" RULE "# This file is auto-generated from the .j2 file via "
	                             "gpuci render. Do not edit manually.\n" RULE "a: 4\nb: [x]");
	assert_false(current);
	/* The Python generator's file: kept byte for byte, current. */
	assert_int_equal(update(PY_HEADER "a: 4\nb: [x]", NULL, &out, &current, &d), 0);
	assert_string_equal(out.buf, PY_HEADER "a: 4\nb: [x]");
	assert_true(current);
	/* A changed body is stale; the header still stays. */
	assert_int_equal(update(PY_HEADER "a: 5\nb: [x]", NULL, &out, &current, &d), 0);
	assert_string_equal(out.buf, PY_HEADER "a: 4\nb: [x]");
	assert_false(current);
	assert_int_equal(update(PY_HEADER "a: 4\nb: [x]\n", NULL, &out, &current, &d), 0);
	assert_false(current);
	/* No header: gpuci's, and stale even when the rest is the body. */
	assert_int_equal(update(body, NULL, &out, &current, &d), 0);
	assert_int_equal(out.len, strlen(wf_gen_header) + strlen(body));
	assert_memory_equal(out.buf, wf_gen_header, strlen(wf_gen_header));
	assert_false(current);
	assert_int_equal(update("#####\n# x\n#####\na: 4\nb: [x]", NULL, &out, &current, &d), 0);
	assert_false(current);
	/* current may be NULL. */
	assert_int_equal(update(PY_HEADER "a: 4\nb: [x]", NULL, &out, NULL, &d), 0);
	strbuf_release(&out);
	diag_release(&d);
}

static void update__a_header_text_replaces_every_header(void **state)
{
	(void)state;
	struct strbuf out = STRBUF_INIT;
	struct diag d = DIAG_INIT;
	bool current = true;
	const char *mine = RULE "# made by hand\n" RULE "a: 4\nb: [x]";
	assert_int_equal(update(PY_HEADER "a: 4\nb: [x]", "made by hand", &out, &current, &d), 0);
	assert_string_equal(out.buf, mine);
	assert_false(current);
	assert_int_equal(update(mine, "made by hand", &out, &current, &d), 0);
	assert_string_equal(out.buf, mine);
	assert_true(current);
	assert_int_equal(update(NULL, "", &out, &current, &d), 0);
	assert_string_equal(out.buf, RULE "#\n" RULE "a: 4\nb: [x]");
	assert_int_equal(update(mine, "two\nlines", &out, &current, &d), -1);
	assert_int_equal(d.code, DIAG_USAGE);
	assert_false(current);
	strbuf_release(&out);
	diag_release(&d);
}

static void update__errors_name_the_template_or_the_workflow(void **state)
{
	(void)state;
	struct strbuf out = STRBUF_INIT;
	struct diag d = DIAG_INIT;
	bool current = true;
	const struct wf_gen_in bad_tpl = {.tpl = "a: 1\n<< x | nofilter >>\n",
	                                  .tpl_len = 21,
	                                  .tpl_name = "t.j2",
	                                  .out_name = "t"};
	assert_int_equal(wf_gen_update(&bad_tpl, &out, &current, &d), -1);
	assert_false(current);
	assert_string_equal(d.loc.file, "t.j2");
	assert_int_equal(d.loc.line, 2);
	/* The YAML check counts lines of the whole file, header included. */
	const char *src = "a: 1\nb: [1, 2\nc: 3\n";
	const struct wf_gen_in bad_yaml = {.tpl = src,
	                                   .tpl_len = strlen(src),
	                                   .tpl_name = "t.j2",
	                                   .old = PY_HEADER,
	                                   .old_len = strlen(PY_HEADER),
	                                   .out_name = "t.yml"};
	assert_int_equal(wf_gen_update(&bad_yaml, &out, &current, &d), -1);
	assert_string_equal(d.loc.file, "t.yml");
	assert_true(d.loc.line > 3);
	strbuf_release(&out);
	diag_release(&d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(header__both_generators_headers_are_headers),
	    cmocka_unit_test(header__other_shapes_are_not_headers),
	    cmocka_unit_test(update__keeps_an_existing_header_and_compares_the_body),
	    cmocka_unit_test(update__a_header_text_replaces_every_header),
	    cmocka_unit_test(update__errors_name_the_template_or_the_workflow),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
