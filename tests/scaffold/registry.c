/* Unit tests of src/scaffold/registry.c. */
#include "harness.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/fs.h"
#include "base/xalloc.h"
#include "scaffold/registry.h"
#include "tpl/tpl.h"

/* Fixtures */

#define VIME "examples/vime-mini/.github/workflows/pr-test.yml.j2"
#define REPO "examples/repo/.github/workflows/pr-test.yml.j2"

/* The source tree: the tests are compiled with absolute paths, so __FILE__ locates it. */
static char *source_path(const char *name)
{
	const char *tail = strstr(__FILE__, "tests/scaffold/registry.c");
	struct strbuf sb = STRBUF_INIT;
	if (tail)
		strbuf_add(&sb, __FILE__, (size_t)(tail - __FILE__));
	strbuf_adds(&sb, name);
	return strbuf_detach(&sb, NULL);
}

static char *read_source(const char *name, size_t *len)
{
	char *path = source_path(name);
	struct strbuf sb = STRBUF_INIT;
	struct diag d = DIAG_INIT;
	if (fs_read_all(path, &sb, &d) < 0)
		fail_msg("cannot read %s: %s", path, d.msg.buf);
	diag_release(&d);
	free(path);
	return strbuf_detach(&sb, len);
}

/* Line n (1-based) of text, without its "\n" (a "\r" before it is kept); NULL past the end. */
static char *line_at(const char *text, unsigned n)
{
	const char *p = text;
	for (unsigned k = 1; k < n; k++) {
		p = strchr(p, '\n');
		if (!p)
			return NULL;
		p++;
	}
	const char *e = strchr(p, '\n');
	if (!*p && !e)
		return NULL;
	return xstrndup(p, e ? (size_t)(e - p) : strlen(p));
}

static size_t count_lines(const char *text)
{
	size_t n = 0;
	for (const char *p = text; *p; p++)
		n += *p == '\n';
	return n;
}

static size_t count_of(const char *hay, const char *needle)
{
	size_t n = 0;
	for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
		n++;
	return n;
}

static void scan_ok(const char *src, struct reg *r)
{
	struct diag d = DIAG_INIT;
	if (reg_scan(src, strlen(src), "t.j2", r, &d) != 0)
		fail_msg("reg_scan failed: %u: %s", d.loc.line, d.msg.buf);
	diag_release(&d);
}

static const struct reg_job *job(const struct reg *r, const char *id)
{
	const struct reg_job *j = reg_job_find(r, id);
	if (!j)
		fail_msg("no job %s", id);
	return j;
}

/* Checks that the entry's line holds its test_file (and test_args) as the template spells them. */
static void assert_entry_on_its_line(const char *src, const struct reg_entry *e)
{
	char *text = line_at(src, e->line);
	assert_non_null(text);
	assert_non_null(e->test_file);
	struct strbuf want = STRBUF_INIT;
	strbuf_addf(&want, "{'test_file': '%s'", e->test_file);
	if (!strstr(text, want.buf))
		fail_msg("line %u is \"%s\", not the entry of %s", e->line, text, e->test_file);
	if (e->test_args) {
		strbuf_reset(&want);
		strbuf_addf(&want, "'test_args': '%s'}", e->test_args);
		assert_non_null(strstr(text, want.buf));
	} else {
		assert_null(strstr(text, "test_args"));
	}
	strbuf_reset(&want);
	strbuf_addf(&want, "'num_gpus': %lld", (long long)e->num_gpus);
	assert_non_null(strstr(text, want.buf));
	strbuf_release(&want);
	free(text);
}

/* The list's line holds "NAME = [" for a named list, "'tests': [" for the other ones. */
static void assert_list_on_its_line(const char *src, const struct reg_list *l)
{
	char *text = line_at(src, l->line);
	assert_non_null(text);
	struct strbuf want = STRBUF_INIT;
	if (l->name)
		strbuf_addf(&want, "set %s = [", l->name);
	else
		strbuf_adds(&want, "'tests': [");
	if (!strstr(text, want.buf))
		fail_msg("line %u is \"%s\", not the list %s", l->line, text,
		         l->name ? l->name : "(inline)");
	strbuf_release(&want);
	free(text);
	for (size_t k = 0; k < l->n; k++)
		assert_entry_on_its_line(src, &l->entries[k]);
}

static void assert_job_on_its_line(const char *src, const struct reg_job *j)
{
	char *text = line_at(src, j->line);
	struct strbuf want = STRBUF_INIT;
	strbuf_addf(&want, "    '%s': {", j->id);
	if (!text || strncmp(text, want.buf, want.len) != 0)
		fail_msg("line %u is \"%s\", not job %s", j->line, text ? text : "(none)", j->id);
	strbuf_release(&want);
	free(text);
}

/*
 * Checks that new is old with one line inserted as line `line`, whose text
 * (without its line end) is want.
 */
static void assert_one_line_inserted(const char *old, const char *new, unsigned line,
                                     const char *want)
{
	size_t n = count_lines(old);
	assert_int_equal(count_lines(new), n + 1);
	assert_int_equal(strlen(new), strlen(old) + strlen(want) + 1 + (strstr(old, "\r\n") != 0));
	for (unsigned k = 1, o = 1; k <= n + 2; k++) {
		char *got = line_at(new, k);
		if (k == line) {
			assert_non_null(got);
			size_t len = strlen(got);
			if (len && got[len - 1] == '\r')
				got[len - 1] = '\0';
			assert_string_equal(got, want);
		} else {
			char *was = line_at(old, o++);
			if (!got || !was)
				assert_ptr_equal(got, was);
			else
				assert_string_equal(got, was);
			free(was);
		}
		free(got);
	}
}

/* Renders a template with the project's engine; fails the test on an error. */
static char *render(const char *src, size_t len)
{
	struct tpl *t = NULL;
	struct diag d = DIAG_INIT;
	struct strbuf out = STRBUF_INIT;
	if (tpl_compile(&t, src, len, "t.j2", NULL, &d) != 0 || tpl_render(t, &out, &d) != 0)
		fail_msg("the template does not render: %u: %s", d.loc.line, d.msg.buf);
	tpl_free(t);
	diag_release(&d);
	return strbuf_detach(&out, NULL);
}

struct added {
	int rc;
	char *out;
	char *msg;
	unsigned msg_line;
	struct reg_added info;
	char *text; /* info.text, copied before r is released */
	char *list_name;
};

static void added_free(struct added *a)
{
	free(a->out);
	free(a->msg);
	free(a->text);
	free(a->list_name);
}

/* Scans src and adds (test_file, gpus, args) to job. */
static struct added add(const char *src, const char *job_id, const char *test_file, int64_t gpus,
                        const char *args)
{
	struct added a = {0};
	struct reg r;
	struct diag d = DIAG_INIT;
	struct strbuf out = STRBUF_INIT;
	if (reg_scan(src, strlen(src), "t.j2", &r, &d) != 0)
		fail_msg("reg_scan failed: %u: %s", d.loc.line, d.msg.buf);
	struct reg_new e = {.test_file = test_file, .num_gpus = gpus, .test_args = args};
	a.rc = reg_add(&r, src, strlen(src), job_id, &e, &out, &a.info, &d);
	if (a.rc == 0) {
		assert_int_equal(d.code, DIAG_OK);
		a.text = xstrdup(a.info.text);
		a.list_name = a.info.list_name ? xstrdup(a.info.list_name) : NULL;
		a.info.text = a.info.list_name = NULL;
	} else {
		assert_int_equal(a.rc, -1);
		assert_int_equal(d.code, DIAG_INPUT);
		assert_string_equal(d.loc.file, "t.j2");
		assert_int_equal(out.len, 0);
		a.msg = xstrdup(d.msg.buf);
		a.msg_line = d.loc.line;
		/* One line, starting lower-case or with a job name. */
		assert_null(strchr(a.msg, '\n'));
		assert_false(a.msg[0] >= 'A' && a.msg[0] <= 'Z');
	}
	a.out = strbuf_detach(&out, NULL);
	reg_release(&r);
	diag_release(&d);
	return a;
}

/* Adds and checks that it fails, at line, with a message that holds each of words. */
static void assert_refused(const char *src, const char *job_id, const char *test_file,
                           const char *args, unsigned line, const char *const *words)
{
	struct added a = add(src, job_id, test_file, 1, args);
	if (a.rc == 0)
		fail_msg("added %s to %s as \"%s\"", test_file, job_id, a.text);
	for (; *words; words++)
		if (!strstr(a.msg, *words))
			fail_msg("the message \"%s\" does not say \"%s\"", a.msg, *words);
	assert_int_equal(a.msg_line, line);
	added_free(&a);
}

/* Tests */

static void reg_scan__vime_mini_has_every_job_and_list(void **state)
{
	(void)state;
	size_t len;
	char *src = read_source(VIME, &len);
	struct reg r;
	struct diag d = DIAG_INIT;
	assert_int_equal(reg_scan(src, len, "pr-test.yml.j2", &r, &d), 0);
	assert_string_equal(r.file, "pr-test.yml.j2");

	static const char *const ids[] = {"e2e-test-short",     "e2e-test-megatron",
	                                  "e2e-test-precision", "e2e-test-ckpt",
	                                  "e2e-test-image",     "plugin-contracts"};
	assert_int_equal(r.njobs, 6);
	for (size_t k = 0; k < r.njobs; k++) {
		assert_string_equal(r.jobs[k].id, ids[k]);
		assert_job_on_its_line(src, &r.jobs[k]);
		assert_ptr_equal(reg_job_find(&r, ids[k]), &r.jobs[k]);
	}
	assert_null(reg_job_find(&r, "e2e-test"));

	static const char *const names[] = {"short_tests", "megatron_tests", "precision_tests",
	                                    "ckpt_tests", NULL};
	static const size_t sizes[] = {3, 5, 2, 3, 3};
	assert_int_equal(r.nlists, 5);
	for (size_t k = 0; k < r.nlists; k++) {
		if (names[k])
			assert_string_equal(r.lists[k].name, names[k]);
		else
			assert_null(r.lists[k].name);
		assert_int_equal(r.lists[k].n, sizes[k]);
		assert_list_on_its_line(src, &r.lists[k]);
	}
	assert_int_equal(r.lists[0].line, 24);
	assert_int_equal(r.lists[4].line, 63);

	/* Each label job has its list; the image job the four, in order. */
	for (size_t k = 0; k < 4; k++) {
		assert_int_equal(r.jobs[k].nlists, 1);
		assert_ptr_equal(r.jobs[k].lists[0], &r.lists[k]);
		assert_null(r.jobs[k].why_not);
	}
	const struct reg_job *image = job(&r, "e2e-test-image");
	assert_int_equal(image->line, 52);
	assert_int_equal(image->nlists, 4);
	for (size_t k = 0; k < 4; k++)
		assert_ptr_equal(image->lists[k], &r.lists[k]);
	assert_non_null(image->why_not);
	assert_non_null(strstr(image->why_not, "short_tests + megatron_tests + precision_tests + "
	                                       "ckpt_tests"));
	const struct reg_job *plugin = job(&r, "plugin-contracts");
	assert_int_equal(plugin->nlists, 1);
	assert_ptr_equal(plugin->lists[0], &r.lists[4]);
	assert_null(plugin->why_not);

	/* Values as written. */
	const struct reg_entry *e = r.lists[0].entries;
	assert_string_equal(e[0].test_file, "test_qwen2p5_0p5B_short.py");
	assert_null(e[0].test_args);
	assert_int_equal(e[0].num_gpus, 4);
	assert_string_equal(e[1].test_args, "--colocate");
	e = r.lists[3].entries;
	assert_string_equal(e[2].test_args, "--ckpt-format torch_dist  --keep-hf");
	assert_int_equal(e[2].num_gpus, 2);
	assert_int_equal(e[2].line, 44);
	e = r.lists[4].entries;
	assert_string_equal(e[0].test_file, "plugin_contracts/test_plugin_rollout_contracts.py");
	assert_int_equal(e[0].num_gpus, 0);
	assert_int_equal(e[0].line, 64);

	reg_release(&r);
	assert_int_equal(r.njobs, 0);
	diag_release(&d);
	free(src);
}

static void reg_scan__repo_template_has_every_job_and_list(void **state)
{
	(void)state;
	size_t len;
	char *src = read_source(REPO, &len);
	struct reg r;
	struct diag d = DIAG_INIT;
	assert_int_equal(reg_scan(src, len, "pr-test.yml.j2", &r, &d), 0);

	static const char *const ids[] = {
	    "e2e-test-short", "e2e-test-megatron", "e2e-test-moe",    "e2e-test-precision",
	    "e2e-test-ckpt",  "e2e-test-image",    "plugin-contracts"};
	assert_int_equal(r.njobs, 7);
	for (size_t k = 0; k < r.njobs; k++) {
		assert_string_equal(r.jobs[k].id, ids[k]);
		assert_job_on_its_line(src, &r.jobs[k]);
		if (strcmp(ids[k], "e2e-test-image") != 0) {
			assert_null(r.jobs[k].why_not);
			assert_int_equal(r.jobs[k].nlists, 1);
		}
	}
	/* changed_patterns is a list of strings, not of entries. */
	static const char *const names[] = {
	    "short_tests", "megatron_tests", "precision_tests", "ckpt_tests", NULL, NULL};
	static const size_t sizes[] = {3, 5, 2, 3, 2, 3};
	assert_int_equal(r.nlists, 6);
	for (size_t k = 0; k < r.nlists; k++) {
		if (names[k])
			assert_string_equal(r.lists[k].name, names[k]);
		else
			assert_null(r.lists[k].name);
		assert_int_equal(r.lists[k].n, sizes[k]);
		assert_list_on_its_line(src, &r.lists[k]);
	}
	const struct reg_job *moe = job(&r, "e2e-test-moe");
	assert_ptr_equal(moe->lists[0], &r.lists[4]);
	const struct reg_entry *e = &moe->lists[0]->entries[1];
	assert_string_equal(e->test_file, "test_moonlight_16B_a3b.py");
	assert_string_equal(e->test_args, "--expert-model-parallel-size 8");
	assert_int_equal(e->num_gpus, 8);
	assert_int_equal(job(&r, "e2e-test-megatron")->lists[0]->entries[4].num_gpus, 1);

	const struct reg_job *image = job(&r, "e2e-test-image");
	assert_int_equal(image->nlists, 4);
	assert_non_null(image->why_not);
	for (size_t k = 0; k < 4; k++)
		assert_ptr_equal(image->lists[k], &r.lists[k]);
	reg_release(&r);
	diag_release(&d);
	free(src);
}

static void reg_entry_line__finds_entries_through_the_jobs_lists(void **state)
{
	(void)state;
	size_t len;
	char *src = read_source(VIME, &len);
	struct reg r;
	scan_ok(src, &r);
	assert_int_equal(
	    reg_entry_line(&r, "e2e-test-short", "test_qwen2p5_0p5B_short.py", NULL, 0), 25);
	assert_int_equal(reg_entry_line(&r, "e2e-test-short", "test_qwen2p5_0p5B_short.py", "", 0),
	                 25);
	assert_int_equal(
	    reg_entry_line(&r, "e2e-test-short", "test_qwen2p5_0p5B_short.py", "--colocate", 0),
	    26);
	assert_int_equal(
	    reg_entry_line(&r, "e2e-test-short", "test_qwen2p5_0p5B_short.py", NULL, 1), 0);
	/* Through the image job's sum, in the lists' order. */
	assert_int_equal(reg_entry_line(&r, "e2e-test-image", "test_qwen3_4B_ckpt.py",
	                                "--ckpt-format torch_dist  --keep-hf", 0),
	                 44);
	assert_int_equal(reg_entry_line(&r, "e2e-test-image", "test_glm4_9B.py", NULL, 0), 30);
	assert_int_equal(reg_entry_line(&r, "plugin-contracts",
	                                "plugin_contracts/test_plugin_reward_contracts.py", NULL,
	                                0),
	                 65);
	/* Not in that job, no such job, no such args. */
	assert_int_equal(reg_entry_line(&r, "e2e-test-short", "test_glm4_9B.py", NULL, 0), 0);
	assert_int_equal(reg_entry_line(&r, "nightly", "test_glm4_9B.py", NULL, 0), 0);
	assert_int_equal(
	    reg_entry_line(&r, "e2e-test-ckpt", "test_qwen3_4B_ckpt.py", "--keep-hf", 0), 0);
	reg_release(&r);
	free(src);

	/* The nth of the same test, across the parts of a sum. */
	const char *dup = "<%- set a = [\n"
	                  "    {'test_file': 'x.py', 'num_gpus': 1},\n"
	                  "    {'test_file': 'x.py', 'num_gpus': 2},\n"
	                  "] %>\n"
	                  "<%- set jobs = {\n"
	                  "    'j': {'tests': a + [\n"
	                  "        {'test_file': 'x.py', 'num_gpus': 4, 'test_args': ''},\n"
	                  "        {'test_file': 'x.py', 'num_gpus': 4, 'test_args': '-k'},\n"
	                  "    ]},\n"
	                  "} %>\n";
	scan_ok(dup, &r);
	assert_int_equal(r.njobs, 1);
	assert_int_equal(r.jobs[0].nlists, 2);
	assert_int_equal(reg_entry_line(&r, "j", "x.py", NULL, 0), 2);
	assert_int_equal(reg_entry_line(&r, "j", "x.py", NULL, 1), 3);
	assert_int_equal(reg_entry_line(&r, "j", "x.py", "", 2), 7);
	assert_int_equal(reg_entry_line(&r, "j", "x.py", NULL, 3), 0);
	assert_int_equal(reg_entry_line(&r, "j", "x.py", "-k", 0), 8);
	assert_int_equal(reg_entry_line(&r, "j", "x.py", "-k", 1), 0);
	assert_string_equal(r.jobs[0].lists[1]->entries[0].test_args, "");
	reg_release(&r);
}

/* The rendering of new is that of old with each occurrence of block inserted n times. */
static void assert_rendering_adds(const char *old, const char *new, const char *block, size_t n)
{
	char *a = render(old, strlen(old));
	char *b = render(new, strlen(new));
	assert_int_equal(count_of(a, block), 0);
	assert_int_equal(count_of(b, block), n);
	/* Taking the blocks out gives the old rendering back. */
	struct strbuf cut = STRBUF_INIT;
	const char *p = b, *q;
	while ((q = strstr(p, block))) {
		strbuf_add(&cut, p, (size_t)(q - p));
		p = q + strlen(block);
	}
	strbuf_adds(&cut, p);
	assert_string_equal(cut.buf, a);
	strbuf_release(&cut);
	free(a);
	free(b);
}

static void reg_add__inline_list_gets_one_line_in_its_style(void **state)
{
	(void)state;
	char *src = read_source(VIME, NULL);
	struct added a =
	    add(src, "plugin-contracts", "plugin_contracts/test_plugin_new.py", 0, NULL);
	assert_int_equal(a.rc, 0);
	const char *want = "            {'test_file': 'plugin_contracts/test_plugin_new.py', "
	                   "'num_gpus': 0},";
	assert_string_equal(a.text, want);
	assert_int_equal(a.info.line, 67);
	assert_null(a.list_name);
	assert_one_line_inserted(src, a.out, a.info.line, want);
	/* tojson(indent=2) | indent(10), in the job's matrix only. */
	assert_rendering_adds(
	    src, a.out,
	    ",\n            {\n              \"num_gpus\": 0,\n              "
	    "\"test_file\": \"plugin_contracts/test_plugin_new.py\"\n            }",
	    1);
	added_free(&a);
	free(src);
}

static void reg_add__named_list_reaches_every_job_that_uses_it(void **state)
{
	(void)state;
	char *src = read_source(VIME, NULL);
	struct added a = add(src, "e2e-test-short", "test_new_short.py", 2, "--fast  --x=1");
	assert_int_equal(a.rc, 0);
	const char *want = "    {'test_file': 'test_new_short.py', 'num_gpus': 2, 'test_args': "
	                   "'--fast  --x=1'},";
	assert_string_equal(a.text, want);
	assert_int_equal(a.info.line, 28);
	assert_string_equal(a.list_name, "short_tests");
	assert_one_line_inserted(src, a.out, a.info.line, want);
	/* e2e-test-short and e2e-test-image (short_tests + ...) both run it. */
	assert_rendering_adds(src, a.out,
	                      ",\n            {\n              \"num_gpus\": 2,\n              "
	                      "\"test_args\": \"--fast  --x=1\",\n              "
	                      "\"test_file\": \"test_new_short.py\"\n            }",
	                      2);

	/* The result scans, and has the entry where info says. */
	struct reg r;
	scan_ok(a.out, &r);
	assert_int_equal(
	    reg_entry_line(&r, "e2e-test-short", "test_new_short.py", "--fast  --x=1", 0), 28);
	assert_int_equal(
	    reg_entry_line(&r, "e2e-test-image", "test_new_short.py", "--fast  --x=1", 0), 28);
	assert_int_equal(job(&r, "e2e-test-short")->lists[0]->n, 4);
	reg_release(&r);
	added_free(&a);

	/* An empty test_args is none. */
	a = add(src, "e2e-test-ckpt", "test_y.py", 8, "");
	assert_int_equal(a.rc, 0);
	assert_string_equal(a.text, "    {'test_file': 'test_y.py', 'num_gpus': 8},");
	assert_int_equal(a.info.line, 45);
	assert_string_equal(a.list_name, "ckpt_tests");
	added_free(&a);
	free(src);
}

static void reg_add__text_is_kept_in_the_registry(void **state)
{
	(void)state;
	const char *src = "<% set jobs = {\n"
	                  "  'j': {'tests': [\n"
	                  "    {'test_file': 'a.py', 'num_gpus': 1},\n"
	                  "  ]},\n"
	                  "} %>\n";
	struct reg r;
	struct diag d = DIAG_INIT;
	struct strbuf out = STRBUF_INIT;
	struct reg_added info = {0};
	struct reg_new e = {.test_file = "b.py", .num_gpus = 3};
	scan_ok(src, &r);
	strbuf_adds(&out, "kept:");
	assert_int_equal(reg_add(&r, src, strlen(src), "j", &e, &out, &info, &d), 0);
	/* out is appended to. */
	assert_int_equal(strncmp(out.buf, "kept:<% set jobs", 16), 0);
	assert_string_equal(info.text, "    {'test_file': 'b.py', 'num_gpus': 3},");
	assert_int_equal(info.line, 4);
	/* The template itself may go; the text lives with r. */
	strbuf_release(&out);
	assert_string_equal(info.text, "    {'test_file': 'b.py', 'num_gpus': 3},");
	reg_release(&r);
	diag_release(&d);
}

static void reg_add__copies_quotes_and_spacing(void **state)
{
	(void)state;
	const char *dq = "<%- set jobs = {\n"
	                 "\t\"j\": {\"tests\": [\n"
	                 "\t\t{\"test_file\": \"a.py\", \"num_gpus\": 1},\n"
	                 "\t]},\n"
	                 "} %>\n";
	struct added a = add(dq, "j", "b.py", 2, "-v");
	assert_int_equal(a.rc, 0);
	const char *want = "\t\t{\"test_file\": \"b.py\", \"num_gpus\": 2, \"test_args\": \"-v\"},";
	assert_string_equal(a.text, want);
	assert_one_line_inserted(dq, a.out, 4, want);
	added_free(&a);

	const char *tight = "<%- set jobs = {\n"
	                    "  'j': {'tests': [\n"
	                    "      { 'test_file' :'a.py' ,'num_gpus' :1 } ,\n"
	                    "  ]},\n"
	                    "} %>\n";
	a = add(tight, "j", "b.py", 2, NULL);
	assert_int_equal(a.rc, 0);
	want = "      { 'test_file' :'b.py' ,'num_gpus' :2 } ,";
	assert_string_equal(a.text, want);
	assert_one_line_inserted(tight, a.out, 4, want);
	added_free(&a);

	/* The first key's quote rules, whatever the others use. */
	const char *mixed = "<%- set jobs = {\n"
	                    "  'j': {'tests': [\n"
	                    "    {'test_file': \"a.py\", 'num_gpus': 1},\n"
	                    "    {\"test_file\": 'a.py', \"num_gpus\": 1, 'test_args': '-x', },\n"
	                    "  ]},\n"
	                    "} %>\n";
	a = add(mixed, "j", "b.py", 2, NULL);
	assert_int_equal(a.rc, 0);
	assert_string_equal(a.text, "    {\"test_file\": \"b.py\", \"num_gpus\": 2, },");
	added_free(&a);

	/* A "tests/" prefix is the caller's: it is written as given. */
	const char *prefixed = "<%- set t = [\n"
	                       "  {'test_file': 'tests/test_a.py', 'num_gpus': 1},\n"
	                       "] %>\n"
	                       "<%- set jobs = {'j': {'tests': t}} %>\n";
	a = add(prefixed, "j", "tests/test_b.py", 4, NULL);
	assert_int_equal(a.rc, 0);
	assert_string_equal(a.text, "  {'test_file': 'tests/test_b.py', 'num_gpus': 4},");
	assert_int_equal(a.info.line, 3);
	assert_string_equal(a.list_name, "t");
	added_free(&a);
}

static void reg_add__last_entry_over_several_lines(void **state)
{
	(void)state;
	const char *src = "<%- set jobs = {\n"
	                  "    'j': {'tests': [\n"
	                  "        {'test_file': 'a.py', 'num_gpus': 1},\n"
	                  "        {'test_file': 'b.py',\n"
	                  "         'num_gpus': 2,\n"
	                  "         'test_args': 'x'},\n"
	                  "    ]},\n"
	                  "} %>\n";
	struct added a = add(src, "j", "c.py", 3, NULL);
	assert_int_equal(a.rc, 0);
	const char *want = "        {'test_file': 'c.py', 'num_gpus': 3},";
	assert_string_equal(a.text, want);
	assert_int_equal(a.info.line, 7);
	assert_one_line_inserted(src, a.out, 7, want);
	added_free(&a);
}

static void reg_add__keeps_crlf_line_ends(void **state)
{
	(void)state;
	const char *src = "<%- set jobs = {\r\n"
	                  "    'j': {'tests': [\r\n"
	                  "        {'test_file': 'a.py', 'num_gpus': 1},\r\n"
	                  "    ]},\r\n"
	                  "} %>\r\n"
	                  "<< jobs.j.tests | length >>\r\n";
	struct added a = add(src, "j", "b.py", 1, NULL);
	assert_int_equal(a.rc, 0);
	assert_int_equal(a.info.line, 4);
	assert_non_null(
	    strstr(a.out, "1},\r\n        {'test_file': 'b.py', 'num_gpus': 1},\r\n    ]"));
	assert_one_line_inserted(src, a.out, 4, a.text);
	char *out = render(a.out, strlen(a.out));
	assert_string_equal(out, "\n2");
	free(out);
	added_free(&a);
}

/* Adds test_file and args to a small template and checks what tpl makes of them. */
static void assert_round_trip(const char *q, const char *test_file, const char *args)
{
	struct strbuf src = STRBUF_INIT;
	strbuf_addf(&src,
	            "<%%- set jobs = {\n"
	            "    %sj%s: {%stests%s: [\n"
	            "        {%stest_file%s: %sa.py%s, %snum_gpus%s: 1},\n"
	            "    ]},\n"
	            "} -%%>\n"
	            "<%% for t in jobs.j.tests %%>[<< t.test_file >>|<< t.test_args >>|<< "
	            "t.num_gpus >>]<%% endfor %%>",
	            q, q, q, q, q, q, q, q, q, q);
	struct added a = add(src.buf, "j", test_file, 7, args);
	assert_int_equal(a.rc, 0);
	assert_int_equal(a.info.line, 4);
	assert_null(strchr(a.text, '\n'));
	assert_one_line_inserted(src.buf, a.out, 4, a.text);
	char *got = render(a.out, strlen(a.out));
	struct strbuf want = STRBUF_INIT;
	strbuf_addf(&want, "[a.py||1][%s|%s|7]", test_file, args ? args : "");
	assert_string_equal(got, want.buf);
	/* And the scanner reads them back. */
	struct reg r;
	scan_ok(a.out, &r);
	assert_int_equal(reg_entry_line(&r, "j", test_file, args, 0), 4);
	reg_release(&r);
	free(got);
	strbuf_release(&want);
	strbuf_release(&src);
	added_free(&a);
}

static void reg_add__escapes_what_the_quote_needs(void **state)
{
	(void)state;
	const char *args = "--name 'it''s' --path \"C:\\dir\\\" \\n --tab\there\x01 caf\xc3\xa9";
	assert_round_trip("'", "test_a.py", args);
	assert_round_trip("\"", "test_a.py", args);
	assert_round_trip("'", "dir\\it's \"q\".py", "x\ny\r\\");
	assert_round_trip("\"", "%>-%><<>>{#.py", NULL);

	const char *src = "<%- set jobs = {\n"
	                  "    'j': {'tests': [\n"
	                  "        {'test_file': 'a.py', 'num_gpus': 1},\n"
	                  "    ]},\n"
	                  "} %>\n";
	struct added a = add(src, "j", "it's.py", 1, "a\\b\"c");
	assert_int_equal(a.rc, 0);
	assert_string_equal(a.text, "        {'test_file': 'it\\'s.py', 'num_gpus': 1, "
	                            "'test_args': 'a\\\\b\"c'},");
	added_free(&a);
}

static void reg_add__refuses_a_sum_and_names_the_owners(void **state)
{
	(void)state;
	char *src = read_source(VIME, NULL);
	static const char *const words[] = {
	    "e2e-test-image's tests are short_tests + megatron_tests + ",
	    "megatron_tests + precision_tests + ckpt_tests: ",
	    "add the test to the job that owns one of those lists",
	    "(e2e-test-short, e2e-test-megatron, e2e-test-precision, e2e-test-ckpt)",
	    "it reaches e2e-test-image through it",
	    NULL};
	assert_refused(src, "e2e-test-image", "test_new.py", NULL, 52, words);
	free(src);

	/* No job owns a part: the message still says what to do. */
	const char *lone = "<%- set jobs = {\n"
	                   "    'j': {'tests': [\n"
	                   "        {'test_file': 'a.py', 'num_gpus': 1},\n"
	                   "    ] + [\n"
	                   "        {'test_file': 'b.py', 'num_gpus': 1},\n"
	                   "    ]},\n"
	                   "} %>\n";
	static const char *const lone_words[] = {"j's tests are [...] (line 2) + [...] (line 4)",
	                                         "owns one of those lists", NULL};
	assert_refused(lone, "j", "c.py", NULL, 2, lone_words);
	struct reg r;
	scan_ok(lone, &r);
	assert_int_equal(r.jobs[0].nlists, 2);
	assert_int_equal(r.nlists, 2);
	assert_int_equal(r.lists[1].entries[0].line, 5);
	reg_release(&r);
}

static void reg_add__refuses_a_test_already_there(void **state)
{
	(void)state;
	char *src = read_source(VIME, NULL);
	static const char *const plain[] = {"test_qwen2p5_0p5B_short.py",
	                                    "already registered at t.j2:25", NULL};
	assert_refused(src, "e2e-test-short", "test_qwen2p5_0p5B_short.py", NULL, 48, plain);
	assert_refused(src, "e2e-test-short", "test_qwen2p5_0p5B_short.py", "", 48, plain);
	static const char *const args[] = {"--colocate", "already registered at t.j2:26", NULL};
	assert_refused(src, "e2e-test-short", "test_qwen2p5_0p5B_short.py", "--colocate", 48, args);
	static const char *const inl[] = {"already registered at t.j2:65", NULL};
	assert_refused(src, "plugin-contracts", "plugin_contracts/test_plugin_reward_contracts.py",
	               NULL, 58, inl);
	/* Other args are another test. */
	struct added a = add(src, "e2e-test-short", "test_qwen2p5_0p5B_short.py", 4, "--other");
	assert_int_equal(a.rc, 0);
	added_free(&a);
	free(src);
}

static void reg_add__refuses_what_it_cannot_do_safely(void **state)
{
	(void)state;
	static const char *const empty[] = {"j's tests list", "is empty", "by hand", NULL};
	assert_refused("<% set jobs = {\n  'j': {'tests': [\n  ]},\n} %>", "j", "a.py", NULL, 2,
	               empty);
	static const char *const empty_named[] = {"j's tests list `t`", "is empty", NULL};
	assert_refused("<% set t = [] %>\n<% set jobs = {\n  'j': {'tests': t},\n} %>", "j", "a.py",
	               NULL, 3, empty_named);

	static const char *const one_line[] = {"one line", "a line of its own", NULL};
	assert_refused("<% set jobs = {\n"
	               "  'j': {'tests': [{'test_file': 'a.py', 'num_gpus': 1},\n"
	               "  ]},\n"
	               "} %>",
	               "j", "b.py", NULL, 2, one_line);
	assert_refused("<% set t = [{'test_file': 'a.py', 'num_gpus': 1}] %>\n"
	               "<% set jobs = {'j': {'tests': t}} %>",
	               "j", "b.py", NULL, 2, one_line);

	static const char *const no_comma[] = {"no comma after its last entry (line 4)", "add one",
	                                       NULL};
	assert_refused("<% set jobs = {\n"
	               "  'j': {'tests': [\n"
	               "    {'test_file': 'a.py', 'num_gpus': 1},\n"
	               "    {'test_file': 'b.py', 'num_gpus': 1}\n"
	               "  ]},\n"
	               "} %>",
	               "j", "c.py", NULL, 2, no_comma);

	static const char *const shared[] = {"shared with another item (line 3)", NULL};
	static const char *const shared4[] = {"shared with another item (line 4)", NULL};
	assert_refused("<% set jobs = {\n"
	               "  'j': {'tests': [\n"
	               "    {'test_file': 'a.py', 'num_gpus': 1}, {'test_file': 'b.py', "
	               "'num_gpus': 1},\n"
	               "  ]},\n"
	               "} %>",
	               "j", "c.py", NULL, 2, shared);
	assert_refused("<% set jobs = {\n"
	               "  'j': {'tests': [\n"
	               "    {'test_file': 'a.py',\n"
	               "     'num_gpus': 1}, {'test_file': 'b.py', 'num_gpus': 1},\n"
	               "  ]},\n"
	               "} %>",
	               "j", "c.py", NULL, 2, shared4);
	assert_refused("<% set jobs = {\n"
	               "  'j': {'tests': [\n"
	               "    x, {'test_file': 'b.py', 'num_gpus': 1},\n"
	               "  ]},\n"
	               "} %>",
	               "j", "c.py", NULL, 2, shared);

	static const char *const after[] = {"more text after its last entry's comma (line 3)",
	                                    NULL};
	assert_refused("<% set jobs = {\n"
	               "  'j': {'tests': [\n"
	               "    {'test_file': 'a.py', 'num_gpus': 1}, ]},\n"
	               "} %>",
	               "j", "c.py", NULL, 2, after);

	static const char *const not_entry[] = {"not a test entry", NULL};
	assert_refused("<% set jobs = {\n"
	               "  'j': {'tests': [\n"
	               "    {'test_file': 'a.py', 'num_gpus': 1},\n"
	               "    more,\n"
	               "  ]},\n"
	               "} %>",
	               "j", "c.py", NULL, 2, not_entry);

	static const char *const twice[] = {"j's tests are t, which is set 2 times (lines 1, 4)",
	                                    "keep one `set t = [...]`", NULL};
	const char *set_twice = "<% set t = [\n"
	                        "  {'test_file': 'a.py', 'num_gpus': 1},\n"
	                        "] %>\n"
	                        "<% set t = [\n"
	                        "  {'test_file': 'b.py', 'num_gpus': 1},\n"
	                        "] %>\n"
	                        "<% set jobs = {\n"
	                        "  'j': {'tests': t},\n"
	                        "  'k': {'tests': [\n"
	                        "    {'test_file': 'c.py', 'num_gpus': 1},\n"
	                        "  ]},\n"
	                        "} %>";
	assert_refused(set_twice, "j", "c.py", NULL, 8, twice);
	struct reg r;
	scan_ok(set_twice, &r);
	assert_int_equal(r.nlists, 3);
	/* The last `set` before the registry is the one it reads. */
	assert_ptr_equal(job(&r, "j")->lists[0], &r.lists[1]);
	assert_null(job(&r, "k")->why_not);
	reg_release(&r);

	static const char *const unknown[] = {"no job nightly in the test registry",
	                                      "name one of j, k", NULL};
	assert_refused(set_twice, "nightly", "c.py", NULL, 0, unknown);

	static const char *const none[] = {"no test registry", NULL};
	assert_refused("<% set x = [1, 2] %>\nname: x\n", "j", "c.py", NULL, 0, none);
	assert_refused("", "j", "c.py", NULL, 0, none);

	static const char *const dup_job[] = {"there are 2 jobs named j (lines 2, 5)", NULL};
	assert_refused("<% set jobs = {\n"
	               "  'j': {'tests': [\n"
	               "    {'test_file': 'a.py', 'num_gpus': 1},\n"
	               "  ]},\n"
	               "  'j': {'tests': []},\n"
	               "} %>",
	               "j", "c.py", NULL, 2, dup_job);

	static const char *const no_tests[] = {"no 'tests' list", NULL};
	static const char *const other[] = {"not a list, the name of one or a sum", NULL};
	static const char *const unset[] = {"j's tests are nope, which no `set` statement sets",
	                                    NULL};
	const char *odd = "<% set s = 'x' %>\n"
	                  "<% set jobs = {\n"
	                  "  'i': {'label': 'a'},\n"
	                  "  'j': {'tests': nope},\n"
	                  "  'k': {'tests': t | list},\n"
	                  "  'l': {'tests': s},\n"
	                  "  'm': {'tests': [\n"
	                  "    {'test_file': 'a.py', 'num_gpus': 1},\n"
	                  "  ] + nope},\n"
	                  "} %>";
	assert_refused(odd, "i", "c.py", NULL, 3, no_tests);
	assert_refused(odd, "j", "c.py", NULL, 4, unset);
	assert_refused(odd, "k", "c.py", NULL, 5, other);
	static const char *const not_list_l[] = {"l's tests are s, which is not set to a list",
	                                         NULL};
	assert_refused(odd, "l", "c.py", NULL, 6, not_list_l);
	static const char *const unset_m[] = {"m's tests are nope", NULL};
	assert_refused(odd, "m", "c.py", NULL, 7, unset_m);
	scan_ok(odd, &r);
	assert_int_equal(r.njobs, 5);
	for (size_t k = 0; k < r.njobs; k++) {
		assert_int_equal(r.jobs[k].nlists, 0);
		assert_non_null(r.jobs[k].why_not);
	}
	reg_release(&r);

	/* What the caller gives. */
	const char *ok = "<% set jobs = {\n"
	                 "  'j': {'tests': [\n"
	                 "    {'test_file': 'a.py', 'num_gpus': 1},\n"
	                 "  ]},\n"
	                 "} %>";
	static const char *const no_file[] = {"no test file", NULL};
	assert_refused(ok, "j", "", NULL, 2, no_file);
	struct added a = add(ok, "j", "b.py", -1, NULL);
	assert_int_equal(a.rc, -1);
	assert_non_null(strstr(a.msg, "0 or more"));
	added_free(&a);
}

static void reg_add__refuses_a_template_other_than_the_scanned_one(void **state)
{
	(void)state;
	const char *src = "<% set jobs = {\n"
	                  "  'j': {'tests': [\n"
	                  "    {'test_file': 'a.py', 'num_gpus': 1},\n"
	                  "  ]},\n"
	                  "} %>";
	struct reg r;
	struct diag d = DIAG_INIT;
	struct strbuf out = STRBUF_INIT;
	struct reg_added info;
	struct reg_new e = {.test_file = "b.py", .num_gpus = 1};
	scan_ok(src, &r);
	assert_int_equal(reg_add(&r, "", 0, "j", &e, &out, &info, &d), -1);
	assert_int_equal(d.code, DIAG_INPUT);
	assert_non_null(strstr(d.msg.buf, "read it again"));
	assert_int_equal(out.len, 0);
	reg_release(&r);
	diag_release(&d);
}

static void reg_scan__reads_only_set_statements_as_tpl_lexes_them(void **state)
{
	(void)state;
	const char *src =
	    "{# <% set jobs = {'c': {'tests': []}} %> #}\n"                    /* 1 */
	    "<% raw %><% set jobs = {'r': {'tests': []}} %><% endraw %>\n"     /* 2 */
	    "<< '<% set jobs = {\\'e\\': {\\'tests\\': []}} %>' >>\n"          /* 3 */
	    "<%- set t = [\n"                                                  /* 4 */
	    "    {'test_file': 'a%>b.py', 'num_gpus': 0x1_0},\n"               /* 5 */
	    "    {'test_file': \"c-%>\\\"d\\\".py\", 'num_gpus': 1_000},\n"    /* 6 */
	    "    {'test_file': 'multi\n"                                       /* 7 */
	    "line.py', 'num_gpus': 2, 'test_args': '\\x41\\u00e9\\'\\\\'},\n"  /* 8 */
	    "    {'test_file': 'e.py', 'num_gpus': -1 + 3},\n"                 /* 9 */
	    "    {'test_file': f, 'num_gpus': 2.0, 'test_args': 3},\n"         /* 10 */
	    "    'not an entry',\n"                                            /* 11 */
	    "    {'test_file': 'g.py', 'num_gpus': 1, 'test_file': 'h.py'},\n" /* 12 */
	    "] -%>\n"                                                          /* 13 */
	    "{#- <% set t = [] %> -#}\n"                                       /* 14 */
	    "<%+ set jobs = {'j': {'label': '%>', 'tests': t}} +%>\n";         /* 15 */
	struct reg r;
	scan_ok(src, &r);
	assert_int_equal(r.njobs, 1);
	assert_string_equal(r.jobs[0].id, "j");
	assert_int_equal(r.jobs[0].line, 15);
	assert_null(r.jobs[0].why_not);
	assert_int_equal(r.nlists, 1);
	const struct reg_list *t = &r.lists[0];
	assert_string_equal(t->name, "t");
	assert_int_equal(t->line, 4);
	assert_int_equal(t->n, 6);
	assert_string_equal(t->entries[0].test_file, "a%>b.py");
	assert_int_equal(t->entries[0].num_gpus, 16);
	assert_int_equal(t->entries[0].line, 5);
	assert_string_equal(t->entries[1].test_file, "c-%>\"d\".py");
	assert_int_equal(t->entries[1].num_gpus, 1000);
	assert_string_equal(t->entries[2].test_file, "multi\nline.py");
	assert_string_equal(t->entries[2].test_args, "A\xc3\xa9'\\");
	assert_int_equal(t->entries[2].line, 7);
	assert_int_equal(t->entries[3].num_gpus, -1);
	assert_int_equal(t->entries[3].line, 9);
	assert_null(t->entries[4].test_file);
	assert_null(t->entries[4].test_args);
	assert_int_equal(t->entries[4].num_gpus, -1);
	/* A key written twice: the last one counts, as in Jinja2. */
	assert_string_equal(t->entries[5].test_file, "h.py");
	assert_int_equal(t->entries[5].line, 12);
	assert_int_equal(reg_entry_line(&r, "j", "h.py", NULL, 0), 12);
	reg_release(&r);

	/* tpl renders the same list: the scanner's reading of the strings is Jinja2's. */
	const char *same = "<%- set t = [\n"
	                   "    {'test_file': 'a%>b.py', 'num_gpus': 0x1_0},\n"
	                   "    {'test_file': \"c-%>\\\"d\\\".py\", 'num_gpus': 1_000},\n"
	                   "] -%>\n"
	                   "<% for e in t %>[<< e.test_file >>:<< e.num_gpus >>]<% endfor %>";
	char *out = render(same, strlen(same));
	assert_string_equal(out, "[a%>b.py:16][c-%>\"d\".py:1000]");
	free(out);
}

static void reg_scan__counts_every_kind_of_line_end(void **state)
{
	(void)state;
	const char *src = "<% set jobs = {\r"
	                  "'j': {'tests': [\r\n"
	                  "  {'test_file': 'a.py', 'num_gpus': 1},\n"
	                  "  {'test_file': 'b.py', 'num_gpus': 1},\r"
	                  "]},\n"
	                  "} %>";
	struct reg r;
	scan_ok(src, &r);
	assert_int_equal(r.jobs[0].line, 2);
	assert_int_equal(r.lists[0].line, 2);
	assert_int_equal(r.lists[0].entries[0].line, 3);
	assert_int_equal(r.lists[0].entries[1].line, 4);
	reg_release(&r);
	struct added a = add(src, "j", "c.py", 1, NULL);
	assert_int_equal(a.rc, 0);
	assert_int_equal(a.info.line, 5);
	assert_non_null(strstr(a.out, "1},\r  {'test_file': 'c.py', 'num_gpus': 1},\r]},"));
	added_free(&a);
}

static void reg_scan__fails_on_a_registry_it_cannot_tokenize(void **state)
{
	(void)state;
	static const struct {
		const char *src;
		unsigned line;
		const char *word;
	} cases[] = {
	    /* The messages are tpl's lexer's (Jinja2's), but for a tag not closed. */
	    {"<% set jobs = {\n 'j': {'tests': [\n  {'test_file': 'a.py\n", 3,
	     "unexpected char \"'\""},
	    {"x\n<%- set jobs = {'j': {'tests': [\n", 2, "not closed"},
	    {"<% set t = [\n {'test_file': 'a\\x4'},\n] %>", 2, "escape"},
	    {"<% set t = [\n {'num_gpus': 99999999999999999999},\n] %>", 2, "too large"},
	    {"<% set t = [\n {'num_gpus': 1 ? 2},\n] %>", 2, "unexpected char '?'"},
	    {"<% set t = {\n 'a': 1}} %>", 2, "unexpected '}'"},
	    {"<% set jobs = {'j': {'tests': []}}\n", 1, "not closed"},
	};
	for (size_t k = 0; k < sizeof(cases) / sizeof(*cases); k++) {
		struct reg r;
		struct diag d = DIAG_INIT;
		assert_int_equal(reg_scan(cases[k].src, strlen(cases[k].src), "t.j2", &r, &d), -1);
		assert_int_equal(d.code, DIAG_INPUT);
		assert_string_equal(d.loc.file, "t.j2");
		if (d.loc.line != cases[k].line || !strstr(d.msg.buf, cases[k].word))
			fail_msg("case %zu: %u: %s", k, d.loc.line, d.msg.buf);
		reg_release(&r);
		diag_release(&d);
	}

	/* Elsewhere, what tpl would refuse ends the scan without an error. */
	static const char *const quiet[] = {
	    "<< 'abc >>\n<% set jobs = {'j': {'tests': []}} %>",
	    "<% if x ] %>\n<% set jobs = {'j': {'tests': []}} %>",
	    "<% set s = 'abc %>\n<% set jobs = {'j': {'tests': []}} %>",
	    "{# open\n<% set jobs = {'j': {'tests': []}} %>",
	    "<% raw %>\n<% set jobs = {'j': {'tests': []}} %>",
	    "<% set jobs = 1 + {'j': {'tests': []}} ",
	};
	for (size_t k = 0; k < sizeof(quiet) / sizeof(*quiet); k++) {
		struct reg r;
		struct diag d = DIAG_INIT;
		assert_int_equal(reg_scan(quiet[k], strlen(quiet[k]), "t.j2", &r, &d), 0);
		assert_int_equal(r.njobs, 0);
		reg_release(&r);
		diag_release(&d);
	}
}

static void reg_scan__survives_deep_nesting(void **state)
{
	(void)state;
	size_t depth = 100000;
	struct strbuf sb = STRBUF_INIT;
	strbuf_adds(&sb, "<% set deep = ");
	for (size_t k = 0; k < depth; k++)
		strbuf_addch(&sb, k % 2 ? '[' : '{');
	for (size_t k = depth; k-- > 0;)
		strbuf_addch(&sb, k % 2 ? ']' : '}');
	strbuf_adds(&sb, " %>\n<% set jobs = {'j': {'x': [[[[[[]]]]]], 'tests': [\n"
	                 "  {'test_file': 'a.py', 'num_gpus': 1},\n]}} %>");
	struct reg r;
	scan_ok(sb.buf, &r);
	assert_int_equal(r.njobs, 1);
	assert_int_equal(r.jobs[0].line, 2);
	assert_int_equal(reg_entry_line(&r, "j", "a.py", NULL, 0), 3);
	reg_release(&r);

	/* Past the depth limit a registry is not read, not crashed on. */
	strbuf_reset(&sb);
	strbuf_adds(&sb, "<% set jobs = {'j': {'tests': [");
	for (size_t k = 0; k < 300; k++)
		strbuf_adds(&sb, "{'a': [");
	for (size_t k = 0; k < 300; k++)
		strbuf_adds(&sb, "]}");
	strbuf_adds(&sb, "]}} %>");
	scan_ok(sb.buf, &r);
	assert_int_equal(r.njobs, 1);
	assert_int_equal(r.jobs[0].nlists, 1);
	assert_int_equal(r.jobs[0].lists[0]->n, 1);
	reg_release(&r);
	strbuf_release(&sb);
}

/* A fixed-seed generator, so that a failure can be replayed. */
static uint64_t rng_state;

static uint32_t rng(void)
{
	rng_state = rng_state * 6364136223846793005ULL + 1442695040888963407ULL;
	return (uint32_t)(rng_state >> 33);
}

/*
 * What must hold for any input: a scan ends; what it gives points inside
 * itself; an add that succeeds inserts one line that the scanner then finds.
 */
static size_t check_any(const char *src, size_t len)
{
	size_t added_ok = 0;
	struct reg r;
	struct diag d = DIAG_INIT;
	int rc = reg_scan(src, len, "t.j2", &r, &d);
	if (rc < 0) {
		assert_int_equal(d.code, DIAG_INPUT);
		assert_true(d.loc.line >= 1);
		reg_release(&r);
		diag_release(&d);
		return 0;
	}
	size_t lines = 1;
	for (size_t k = 0; k < len; k++)
		lines += src[k] == '\n' || (src[k] == '\r' && (k + 1 >= len || src[k + 1] != '\n'));
	for (size_t k = 0; k < r.nlists; k++) {
		assert_true(r.lists[k].line >= 1 && r.lists[k].line <= lines);
		for (size_t e = 0; e < r.lists[k].n; e++)
			assert_true(r.lists[k].entries[e].line >= r.lists[k].line &&
			            r.lists[k].entries[e].line <= lines);
	}
	for (size_t k = 0; k < r.njobs && k < 8; k++) {
		const struct reg_job *j = &r.jobs[k];
		assert_true(j->line >= 1 && j->line <= lines);
		for (size_t l = 0; l < j->nlists; l++)
			assert_true(j->lists[l] >= r.lists && j->lists[l] < r.lists + r.nlists);
		if (memchr(src, '\0', len))
			continue; /* a C string job id cannot say which */
		struct strbuf out = STRBUF_INIT;
		struct reg_added info;
		const char *args = k % 2 ? "-a 'q' \"\\" : NULL;
		struct reg_new e = {.test_file = "fz.py", .num_gpus = 3, .test_args = args};
		if (reg_add(&r, src, len, j->id, &e, &out, &info, &d) == 0) {
			assert_null(j->why_not);
			/* out is src with the line and its end inserted somewhere. */
			size_t added = out.len - len, pre = 0, suf = 0;
			assert_true(added == strlen(info.text) + 1 ||
			            added == strlen(info.text) + 2);
			while (pre < len && out.buf[pre] == src[pre])
				pre++;
			while (suf < len && out.buf[out.len - 1 - suf] == src[len - 1 - suf])
				suf++;
			assert_true(pre + suf >= len);
			struct reg again;
			struct diag d2 = DIAG_INIT;
			assert_int_equal(reg_scan(out.buf, out.len, "t.j2", &again, &d2), 0);
			assert_int_equal(again.njobs, r.njobs);
			assert_int_equal(reg_entry_line(&again, j->id, "fz.py", args, 0),
			                 info.line);
			reg_release(&again);
			diag_release(&d2);
			added_ok++;
		} else {
			assert_int_equal(d.code, DIAG_INPUT);
			assert_int_equal(out.len, 0);
		}
		strbuf_release(&out);
	}
	reg_release(&r);
	diag_release(&d);
	return added_ok;
}

static void reg_scan__random_text_neither_crashes_nor_lies(void **state)
{
	(void)state;
	/* Pieces of templates, split at '`'. */
	static const char all[] =
	    "<%`<%-`%>`-%>`+%>`<<`>>`{#`#}` set `=`[`]`{`}`(`)`,`:`+`'`\"`\\`"
	    "\n`\r`  `jobs`t`'tests'`'j'`1`0x`1_`2.5`|` raw ` endraw `\t`"
	    "'test_file'`'a.py'`<% set t = [\n`<% set jobs = {'j': {'tests': `"
	    "{'test_file': 'a.py', 'num_gpus': 1},\n`x";
	const char *pieces[64];
	size_t len[64], npieces = 0;
	for (const char *p = all; *p && npieces < 64; npieces++) {
		const char *e = strchr(p, '`');
		pieces[npieces] = p;
		len[npieces] = e ? (size_t)(e - p) : strlen(p);
		p += len[npieces] + (e != NULL);
	}
	assert_int_equal(npieces, 44);
	size_t added = 0;
	rng_state = 20251126;
	struct strbuf sb = STRBUF_INIT;
	for (int round = 0; round < 4000; round++) {
		strbuf_reset(&sb);
		size_t n = rng() % 40;
		if (round % 4 == 0) {
			/* A registry, with a few pieces at a few places of it. */
			static const char *const skeleton[] = {
			    "<% set t = [\n",
			    "  {'test_file': 'a.py', 'num_gpus': 1},\n",
			    "] %>\n",
			    "<% set jobs = {\n",
			    "  'j': {'tests': [\n",
			    "    {'test_file': 'b.py', 'num_gpus': 1},\n",
			    "  ]},\n",
			    "  'k': {'tests': t},\n",
			    "} %>\n"};
			for (size_t k = 0; k < sizeof(skeleton) / sizeof(*skeleton); k++) {
				strbuf_adds(&sb, skeleton[k]);
				for (size_t m = rng() % 8; m < 2; m++) {
					size_t pick = rng() % npieces;
					strbuf_add(&sb, pieces[pick], len[pick]);
				}
			}
			n = 0;
		}
		for (size_t k = 0; k < n; k++) {
			if (round % 4 == 3) {
				strbuf_addch(&sb, (char)(rng() & 0xff)); /* any byte */
			} else {
				size_t pick = rng() % npieces;
				strbuf_add(&sb, pieces[pick], len[pick]);
			}
		}
		added += check_any(sb.buf, sb.len);
	}
	/* Not all of them fail early: some templates get their line. */
	print_message("%zu lines added\n", added);
	assert_true(added >= 10);
	strbuf_release(&sb);
}

static void reg_scan__mutated_templates_neither_crash_nor_lie(void **state)
{
	(void)state;
	size_t len;
	char *src = read_source(VIME, &len);
	size_t added = check_any(src, len);
	assert_int_equal(added, 5);
	static const char alphabet[] = "[]{}(),:+'\"\\\n%<>-#= ax0";
	rng_state = 7;
	struct strbuf sb = STRBUF_INIT;
	for (int round = 0; round < 600; round++) {
		strbuf_reset(&sb);
		strbuf_add(&sb, src, len);
		size_t edits = 1 + rng() % 4;
		for (size_t k = 0; k < edits && sb.len; k++) {
			size_t at = rng() % sb.len;
			switch (rng() % 3) {
			case 0: /* delete a few bytes */
				memmove(sb.buf + at, sb.buf + at + (at + 3 < sb.len ? 3 : 0),
				        sb.len - at - (at + 3 < sb.len ? 3 : 0));
				strbuf_setlen(&sb, sb.len - (at + 3 < sb.len ? 3 : 0));
				break;
			case 1: /* change one */
				sb.buf[at] = alphabet[rng() % (sizeof(alphabet) - 1)];
				break;
			default: /* truncate */
				strbuf_setlen(&sb, at);
			}
		}
		added += check_any(sb.buf, sb.len);
	}
	print_message("%zu lines added\n", added);
	assert_true(added >= 100);
	strbuf_release(&sb);
	free(src);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(reg_scan__vime_mini_has_every_job_and_list),
	    cmocka_unit_test(reg_scan__repo_template_has_every_job_and_list),
	    cmocka_unit_test(reg_entry_line__finds_entries_through_the_jobs_lists),
	    cmocka_unit_test(reg_add__inline_list_gets_one_line_in_its_style),
	    cmocka_unit_test(reg_add__named_list_reaches_every_job_that_uses_it),
	    cmocka_unit_test(reg_add__text_is_kept_in_the_registry),
	    cmocka_unit_test(reg_add__copies_quotes_and_spacing),
	    cmocka_unit_test(reg_add__last_entry_over_several_lines),
	    cmocka_unit_test(reg_add__keeps_crlf_line_ends),
	    cmocka_unit_test(reg_add__escapes_what_the_quote_needs),
	    cmocka_unit_test(reg_add__refuses_a_sum_and_names_the_owners),
	    cmocka_unit_test(reg_add__refuses_a_test_already_there),
	    cmocka_unit_test(reg_add__refuses_what_it_cannot_do_safely),
	    cmocka_unit_test(reg_add__refuses_a_template_other_than_the_scanned_one),
	    cmocka_unit_test(reg_scan__reads_only_set_statements_as_tpl_lexes_them),
	    cmocka_unit_test(reg_scan__counts_every_kind_of_line_end),
	    cmocka_unit_test(reg_scan__fails_on_a_registry_it_cannot_tokenize),
	    cmocka_unit_test(reg_scan__survives_deep_nesting),
	    cmocka_unit_test(reg_scan__random_text_neither_crashes_nor_lies),
	    cmocka_unit_test(reg_scan__mutated_templates_neither_crash_nor_lie),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
