#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/strbuf.h"
#include "report/mask.h"

static struct report_mask *mask_of(const char *const *values)
{
	struct report_mask *m = report_mask_new();
	for (; *values; values++)
		report_mask_add(m, *values);
	return m;
}

static void check_apply(struct report_mask *m, const char *in, const char *want)
{
	struct strbuf out = STRBUF_INIT;
	report_mask_apply(m, in, strlen(in), &out);
	assert_string_equal(out.buf, want);
	strbuf_release(&out);
}

static void report_mask_apply__replaces_every_value(void **state)
{
	const char *v[] = {"hunter2", "abc", NULL};
	struct report_mask *m = mask_of(v);
	assert_int_equal(report_mask_count(m), 2);
	check_apply(m, "pw=hunter2 hunter2x abc", "pw=*** ***x ***");
	check_apply(m, "hunter", "hunter");
	check_apply(m, "", "");
	report_mask_free(m);
}

static void report_mask_apply__the_longest_value_first(void **state)
{
	/* "ab" is a prefix of "abcd": masking "ab" first would show "cd". */
	const char *v[] = {"ab", "abcd", NULL};
	struct report_mask *m = mask_of(v);
	check_apply(m, "xabcdx ab", "x***x ***");
	report_mask_free(m);
}

static void report_mask_add__empty_ignored_lines_of_a_multiline_value(void **state)
{
	const char *v[] = {"", "line one\r\nline two", NULL};
	struct report_mask *m = mask_of(v);
	assert_int_equal(report_mask_count(m), 3); /* whole, and each line */
	check_apply(m, "[line one]", "[***]");
	check_apply(m, "line one\r\nline two", "***");
	report_mask_free(m);
	struct report_mask *none = report_mask_new();
	check_apply(none, "anything", "anything");
	report_mask_free(none);
	check_apply(NULL, "anything", "anything");
}

/* The text cut in two at every place: the same as masking it whole. */
static void report_mask_stream__a_value_split_between_writes(void **state)
{
	const char *v[] = {"s3cret", "s3", NULL};
	struct report_mask *m = mask_of(v);
	const char *text = "a s3cret, s3, s3c and s3cret.";
	struct strbuf whole = STRBUF_INIT;
	report_mask_apply(m, text, strlen(text), &whole);
	assert_string_equal(whole.buf, "a ***, ***, ***c and ***.");
	for (size_t cut = 0; cut <= strlen(text); cut++) {
		for (size_t cut2 = cut; cut2 <= strlen(text); cut2++) {
			struct report_mask_stream *s = report_mask_stream_new(m);
			struct strbuf out = STRBUF_INIT;
			report_mask_stream_write(s, text, cut, false, &out);
			report_mask_stream_write(s, text + cut, cut2 - cut, false, &out);
			report_mask_stream_write(s, text + cut2, strlen(text) - cut2, false, &out);
			report_mask_stream_write(s, "", 0, true, &out);
			assert_string_equal(out.buf, whole.buf);
			strbuf_release(&out);
			report_mask_stream_free(s);
		}
	}
	/* What may start a value is held back, and given out at eof. */
	struct report_mask_stream *s = report_mask_stream_new(m);
	struct strbuf out = STRBUF_INIT;
	report_mask_stream_write(s, "x s3cr", 6, false, &out);
	assert_string_equal(out.buf, "x ");
	report_mask_stream_write(s, "", 0, true, &out);
	assert_string_equal(out.buf, "x ***cr");
	strbuf_release(&out);
	report_mask_stream_free(s);
	strbuf_release(&whole);
	report_mask_free(m);
}

static void report_mask_file__masks_what_is_printed(void **state)
{
	const char *v[] = {"tok-123", NULL};
	struct report_mask *m = mask_of(v);
	char *buf = NULL;
	size_t len = 0;
	FILE *under = open_memstream(&buf, &len);
	assert_non_null(under);
	FILE *f = report_mask_file(m, under);
	assert_non_null(f);
	fprintf(f, "a tok-");
	fflush(f);
	fprintf(f, "123 b\n");
	fprintf(f, "tok-12");
	assert_int_equal(fclose(f), 0);
	fclose(under);
	assert_string_equal(buf, "a *** b\ntok-12");
	free(buf);
	report_mask_free(m);
}

static void report_gh_add_mask__one_command_a_line(void **state)
{
	const char *v[] = {"50%off", "two\nlines", NULL};
	struct report_mask *m = mask_of(v);
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	report_gh_add_mask(f, m);
	fclose(f);
	/* Longest first; the two-line value by its lines; % escaped as the runner wants. */
	assert_string_equal(buf, "::add-mask::50%25off\n::add-mask::lines\n::add-mask::two\n");
	free(buf);
	report_mask_free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(report_mask_apply__replaces_every_value),
	    cmocka_unit_test(report_mask_apply__the_longest_value_first),
	    cmocka_unit_test(report_mask_add__empty_ignored_lines_of_a_multiline_value),
	    cmocka_unit_test(report_mask_stream__a_value_split_between_writes),
	    cmocka_unit_test(report_mask_file__masks_what_is_printed),
	    cmocka_unit_test(report_gh_add_mask__one_command_a_line),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
