#include "harness.h"

#include <stdlib.h>
#include <string.h>

#include "base/strbuf.h"

static void strbuf__starts_empty_and_terminated(void **state)
{
	struct strbuf sb = STRBUF_INIT;
	assert_non_null(sb.buf);
	assert_string_equal(sb.buf, "");
	assert_int_equal(sb.len, 0);
	strbuf_release(&sb);
}

static void strbuf__appends_grow_and_format(void **state)
{
	struct strbuf sb = STRBUF_INIT;
	for (int i = 0; i < 1000; i++)
		strbuf_addf(&sb, "%d,", i);
	assert_int_equal(sb.len, strlen(sb.buf));
	assert_memory_equal(sb.buf, "0,1,2,", 6);
	assert_string_equal(sb.buf + sb.len - 4, "999,");
	strbuf_addch(&sb, 'x');
	strbuf_adds(&sb, "yz");
	assert_string_equal(sb.buf + sb.len - 3, "xyz");
	strbuf_release(&sb);
}

static void strbuf__failure_past_ceiling_sticks(void **state)
{
	struct strbuf sb;
	strbuf_init(&sb, 8);
	strbuf_adds(&sb, "12345");
	assert_false(strbuf_failed(&sb));
	strbuf_adds(&sb, "6789"); /* 9 > 8: refused */
	assert_true(strbuf_failed(&sb));
	assert_string_equal(sb.buf, "12345");
	strbuf_adds(&sb, "a"); /* would fit, but failure sticks */
	assert_string_equal(sb.buf, "12345");
	strbuf_reset(&sb);
	assert_false(strbuf_failed(&sb));
	strbuf_adds(&sb, "ok");
	assert_string_equal(sb.buf, "ok");
	strbuf_release(&sb);
}

static void strbuf__detach_hands_over_ownership(void **state)
{
	struct strbuf sb = STRBUF_INIT;
	size_t len;
	char *empty = strbuf_detach(&sb, &len);
	assert_string_equal(empty, "");
	assert_int_equal(len, 0);
	free(empty);
	strbuf_adds(&sb, "hello");
	char *s = strbuf_detach(&sb, &len);
	assert_string_equal(s, "hello");
	assert_int_equal(len, 5);
	assert_string_equal(sb.buf, "");
	free(s);
}

static void strbuf__json_escapes_quotes_controls_and_keeps_utf8(void **state)
{
	struct strbuf sb = STRBUF_INIT;
	assert_true(strbuf_add_json_str(&sb, "a\"b\\c\nd\te\x01 \xc3\xa9"));
	assert_string_equal(sb.buf, "\"a\\\"b\\\\c\\nd\\te\\u0001 \xc3\xa9\"");
	strbuf_release(&sb);
}

static void strbuf__json_replaces_bytes_that_are_not_utf8(void **state)
{
	struct strbuf sb = STRBUF_INIT;
	/* A lone continuation, an overlong '/', a surrogate, a cut 3-byte character. */
	assert_false(strbuf_add_json_str(&sb, "a\x80"
	                                      "b\xc0\xaf"
	                                      "c\xed\xa0\x80"
	                                      "d\xe2\x82"));
	assert_string_equal(sb.buf, "\"a\\ufffdb\\ufffd\\ufffdc\\ufffd\\ufffd\\ufffdd"
	                            "\\ufffd\\ufffd\"");
	assert_int_equal(strbuf_utf8_len((const unsigned char *)"\xe2\x82\xac"), 3);
	assert_int_equal(strbuf_utf8_len((const unsigned char *)"x"), 1);
	assert_int_equal(strbuf_utf8_len((const unsigned char *)"\xf4\x90\x80\x80"), 0);
	strbuf_release(&sb);
}

static void strbuf__setlen_truncates(void **state)
{
	struct strbuf sb = STRBUF_INIT;
	strbuf_adds(&sb, "abcdef");
	strbuf_setlen(&sb, 2);
	assert_string_equal(sb.buf, "ab");
	assert_int_equal(sb.len, 2);
	strbuf_release(&sb);
}

static void strbuf__quoted_quotes_only_what_needs_it(void **state)
{
	static const struct {
		const char *in, *out;
	} cases[] = {
	    {"tests/test_a b.py", "tests/test_a b.py"},
	    {"tests/tëst.py", "tests/tëst.py"},
	    {"a\nb", "\"a\\nb\""},
	    {"a\"b", "\"a\\\"b\""},
	    {"a\\b", "\"a\\\\b\""},
	    {"a\xff", "\"a\\377\""},
	    {"t\tx\x01", "\"t\\tx\\001\""},
	    {"csi\xc2\x9b", "\"csi\\302\\233\""},
	    {"\xc2\xa0nbsp", "\xc2\xa0nbsp"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct strbuf sb = STRBUF_INIT;
		strbuf_add_quoted(&sb, cases[i].in);
		assert_string_equal(sb.buf, cases[i].out);
		strbuf_release(&sb);
	}
}

static void strbuf__shown_escapes_controls_on_one_line(void **state)
{
	(void)state;
	static const struct {
		const char *in, *out;
		bool plain;
	} cases[] = {
	    {"tests/test_a b.py", "tests/test_a b.py", true},
	    {"a\\b \"q\"", "a\\b \"q\"", true},
	    {"tests/x\n::warning file=README.md::hi", "tests/x\\n::warning file=README.md::hi",
	     false},
	    {"\x1b[2Jclear\r", "\\033[2Jclear\\r", false},
	    {"bad\xff\xc3", "bad\\377\\303", false},
	    {"del\x7f", "del\\177", false},
	    {"ü", "ü", true},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct strbuf sb = STRBUF_INIT;
		assert_int_equal(strbuf_add_shown(&sb, cases[i].in), cases[i].plain);
		assert_string_equal(sb.buf, cases[i].out);
		assert_null(strchr(sb.buf, '\n'));
		strbuf_release(&sb);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(strbuf__starts_empty_and_terminated),
	    cmocka_unit_test(strbuf__appends_grow_and_format),
	    cmocka_unit_test(strbuf__failure_past_ceiling_sticks),
	    cmocka_unit_test(strbuf__detach_hands_over_ownership),
	    cmocka_unit_test(strbuf__json_escapes_quotes_controls_and_keeps_utf8),
	    cmocka_unit_test(strbuf__json_replaces_bytes_that_are_not_utf8),
	    cmocka_unit_test(strbuf__setlen_truncates),
	    cmocka_unit_test(strbuf__quoted_quotes_only_what_needs_it),
	    cmocka_unit_test(strbuf__shown_escapes_controls_on_one_line),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
