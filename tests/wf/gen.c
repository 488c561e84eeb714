#include "harness.h"

#include <stdlib.h>
#include <string.h>

#include "wf/gen.h"

#define RULE "################################################################################\n"
#define PY_HEADER                                                                                  \
	RULE "# This file is auto-generated from the .j2 file via generate_github_workflows.py. "  \
	     "Do not edit manually.\n" RULE

static const char tpl[] = "<% set n = 2 %>a: << n * 2 >>\nb: [<< 'x' >>]\n";
static const char tpl_body[] = "a: 4\nb: [x]";

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
	assert_int_equal(update(tpl_body, NULL, &out, &current, &d), 0);
	assert_int_equal(out.len, strlen(wf_gen_header) + strlen(tpl_body));
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

/* ---- the source map ------------------------------------------------------- */

/* slime's shape: a job written out, then one per registry entry, with the same script line. */
static const char slime_tpl[] =
    "<% set jobs = {\n"
    "    'e2e-test-short': {'label': 'run-ci-short', 'tests': [{'test_file': 'test_a.py', "
    "'num_gpus': 4}]},\n"
    "    'e2e-test-long': {'label': 'run-ci-long', 'tests': [{'test_file': 'test_b.py', "
    "'num_gpus': 8}]},\n"
    "} %>\n"
    "name: PR Test\n"
    "on: [pull_request]\n"
    "jobs:\n"
    "  cpu-unittest:\n"
    "    runs-on: ubuntu-latest\n"
    "    strategy:\n"
    "      matrix:\n"
    "        info: [{'test_file': 'test_c.py'}]\n"
    "    steps:\n"
    "      - name: Execute\n"
    "        run: |\n"
    "          python3 tests/${{ matrix.info.test_file }}\n"
    "<% for name, c in jobs.items() %>\n"
    "  << name >>:\n"
    "    if: contains(github.event.pull_request.labels.*.name, '<< c.label >>')\n"
    "    runs-on: self-hosted\n"
    "    strategy:\n"
    "      matrix:\n"
    "        info: << c.tests | tojson >>\n"
    "    steps:\n"
    "      - name: Execute\n"
    "        run: |\n"
    "          python3 tests/${{ matrix.info.test_file }}\n"
    "<% endfor %>\n";

static const char script[] = "          python3 tests/${{ matrix.info.test_file }}";

/* The 1-based numbers of the lines of text equal to line, at most max of them. */
static size_t lines_equal(const char *text, const char *line, unsigned *out, size_t max)
{
	size_t n = 0, len = strlen(line);
	unsigned no = 1;
	for (const char *p = text; *p && n < max; no++) {
		const char *nl = strchr(p, '\n');
		size_t k = nl ? (size_t)(nl - p) : strlen(p);
		if (k == len && !memcmp(p, line, len))
			out[n++] = no;
		if (!nl)
			break;
		p = nl + 1;
	}
	return n;
}

static struct wf_gen_srcmap *slime_map(void)
{
	struct wf_gen_srcmap *m = NULL;
	struct diag d = DIAG_INIT;
	if (wf_gen_srcmap_new(slime_tpl, strlen(slime_tpl), "pr-test.yml.j2", &m, &d) < 0)
		fail_msg("srcmap: %s", d.msg.buf);
	diag_release(&d);
	return m;
}

static void srcmap__a_line_twice_in_the_template_maps_to_each_its_own(void **state)
{
	(void)state;
	unsigned in_tpl[4];
	assert_int_equal(lines_equal(slime_tpl, script, in_tpl, 4), 2);
	struct wf_gen_srcmap *m = slime_map();
	size_t len;
	const char *body = wf_gen_srcmap_body(m, &len);
	/* The body is what render writes after the header. */
	struct strbuf file = STRBUF_INIT;
	struct diag d = DIAG_INIT;
	assert_int_equal(wf_gen_file(slime_tpl, strlen(slime_tpl), "t", "w", &file, &d), 0);
	assert_int_equal(file.len, strlen(wf_gen_header) + len);
	assert_memory_equal(file.buf + strlen(wf_gen_header), body, len);
	/* Three jobs run the script: the written-out one, then the two of the loop. */
	unsigned in_body[4];
	assert_int_equal(lines_equal(body, script, in_body, 4), 3);
	unsigned col = (unsigned)(strstr(script, "${{") - script) + 1;
	for (size_t i = 0; i < 3; i++) {
		unsigned tl = 0, tc = 0;
		assert_true(wf_gen_srcmap_find(m, in_body[i] + WF_GEN_HEADER_LINES, col, &tl, &tc));
		assert_int_equal(tl, in_tpl[i == 0 ? 0 : 1]);
		assert_int_equal(tc, col);
		/* Every byte of the line, its "\n" included, is on that template line. */
		for (unsigned c = 1; c <= strlen(script) + 1; c++) {
			assert_true(
			    wf_gen_srcmap_find(m, in_body[i] + WF_GEN_HEADER_LINES, c, &tl, &tc));
			assert_int_equal(tl, in_tpl[i == 0 ? 0 : 1]);
			assert_int_equal(tc, c);
		}
		assert_false(wf_gen_srcmap_find(m, in_body[i] + WF_GEN_HEADER_LINES,
		                                (unsigned)strlen(script) + 2, &tl, &tc));
	}
	strbuf_release(&file);
	diag_release(&d);
	wf_gen_srcmap_free(m);
}

static void srcmap__expressions_the_header_and_whole_lines(void **state)
{
	(void)state;
	struct wf_gen_srcmap *m = slime_map();
	size_t len;
	const char *body = wf_gen_srcmap_body(m, &len);
	unsigned tl = 99, tc = 99;
	/* The header has no template place. */
	for (unsigned line = 0; line <= WF_GEN_HEADER_LINES; line++)
		assert_false(wf_gen_srcmap_find(m, line, 1, &tl, &tc));
	assert_int_equal(tl, 99);
	/* A label the loop printed maps to the expression that printed it. */
	const char *if_line = "    if: contains(github.event.pull_request.labels.*.name, "
	                      "'<< c.label >>')";
	unsigned tpl_if[2], got[2];
	assert_int_equal(lines_equal(slime_tpl, if_line, tpl_if, 2), 1);
	const char *label = strstr(body, "'run-ci-long'");
	assert_non_null(label);
	unsigned line = 1 + WF_GEN_HEADER_LINES;
	for (const char *p = body; p < label; p++)
		line += *p == '\n';
	const char *bol = label;
	while (bol > body && bol[-1] != '\n')
		bol--;
	unsigned col = (unsigned)(label - bol) + 2; /* the r after the quote */
	for (unsigned k = 0; k < strlen("run-ci-long"); k++) {
		assert_true(wf_gen_srcmap_find(m, line, col + k, &tl, &tc));
		assert_int_equal(tl, tpl_if[0]);
		assert_int_equal(tc, (unsigned)(strstr(if_line, "c.label") - if_line) + 1);
	}
	/* col 0: the whole line, placed by its first byte. */
	assert_true(wf_gen_srcmap_find(m, line, 0, &tl, &tc));
	assert_int_equal(tl, tpl_if[0]);
	assert_int_equal(tc, 0);
	/* `name: PR Test` is line 5 of the template and 1 + its place in the body. */
	const char *name = strstr(body, "name: PR Test");
	line = 1 + WF_GEN_HEADER_LINES;
	for (const char *p = body; p < name; p++)
		line += *p == '\n';
	assert_int_equal(lines_equal(slime_tpl, "name: PR Test", got, 2), 1);
	assert_true(wf_gen_srcmap_find(m, line, 1, &tl, &tc));
	assert_int_equal(tl, got[0]);
	assert_int_equal(tc, 1);
	/* Past the body. */
	unsigned nlines = 1;
	for (size_t i = 0; i < len; i++)
		nlines += body[i] == '\n';
	assert_false(wf_gen_srcmap_find(m, nlines + WF_GEN_HEADER_LINES + 1, 1, &tl, &tc));
	wf_gen_srcmap_free(m);
	wf_gen_srcmap_free(NULL);
	/* A template that fails gives no map. */
	struct diag d = DIAG_INIT;
	m = (struct wf_gen_srcmap *)&d;
	assert_int_equal(wf_gen_srcmap_new("<< 1 // 0 >>", 12, "t.j2", &m, &d), -1);
	assert_null(m);
	assert_int_equal(d.loc.line, 1);
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
	    cmocka_unit_test(srcmap__a_line_twice_in_the_template_maps_to_each_its_own),
	    cmocka_unit_test(srcmap__expressions_the_header_and_whole_lines),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
