#include "harness.h"

#include <errno.h>
#include <string.h>

#include "base/diag.h"

static void diag__set_returns_minus_one_and_keeps_message(void **state)
{
	struct diag d = DIAG_INIT;
	assert_int_equal(diag_set(&d, DIAG_USAGE, "bad %s %d", "count", 9), -1);
	assert_int_equal(d.code, DIAG_USAGE);
	assert_string_equal(d.msg.buf, "bad count 9");
	/* A second error replaces the first. */
	diag_set(&d, DIAG_INPUT, "other");
	assert_string_equal(d.msg.buf, "other");
	diag_release(&d);
}

static void diag__errno_appends_strerror(void **state)
{
	struct diag d = DIAG_INIT;
	errno = ENOENT;
	diag_errno(&d, "cannot open %s", "x");
	assert_int_equal(d.code, DIAG_SYSTEM);
	assert_string_equal(d.msg.buf, "cannot open x: No such file or directory");
	diag_release(&d);
}

static void diag__format_names_the_place(void **state)
{
	struct diag d = DIAG_INIT;
	struct strbuf out = STRBUF_INIT;
	diag_set(&d, DIAG_INPUT, "unexpected '}'");
	diag_format(&d, &out);
	assert_string_equal(out.buf, "unexpected '}'");
	strbuf_reset(&out);
	d.loc = (struct srcloc){"pr-test.yml.j2", 12, 7};
	diag_format(&d, &out);
	assert_string_equal(out.buf, "pr-test.yml.j2:12:7: unexpected '}'");
	strbuf_reset(&out);
	d.loc.col = 0;
	diag_format(&d, &out);
	assert_string_equal(out.buf, "pr-test.yml.j2:12: unexpected '}'");
	strbuf_release(&out);
	diag_release(&d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(diag__set_returns_minus_one_and_keeps_message),
	    cmocka_unit_test(diag__errno_appends_strerror),
	    cmocka_unit_test(diag__format_names_the_place),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
