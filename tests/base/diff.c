#include "harness.h"

#include <string.h>

#include "base/diff.h"

static void diff(const char *a, const char *b, const char *want)
{
	struct strbuf out = STRBUF_INIT;
	diff_unified(&out, a, strlen(a), b, strlen(b), "a/f", "b/f");
	assert_string_equal(out.buf, want);
	strbuf_release(&out);
}

static void diff_unified__equal_texts_give_nothing(void **state)
{
	diff("a\nb\n", "a\nb\n", "");
	diff("", "", "");
}

static void diff_unified__one_change_with_context(void **state)
{
	diff("1\n2\n3\n4\n5\n6\n7\n8\n9\n", "1\n2\n3\n4\nfive\n6\n7\n8\n9\n",
	     "--- a/f\n+++ b/f\n@@ -2,7 +2,7 @@\n 2\n 3\n 4\n-5\n+five\n 6\n 7\n 8\n");
}

static void diff_unified__far_changes_make_two_hunks(void **state)
{
	diff("a\n1\n2\n3\n4\n5\n6\n7\n8\nz\n", "A\n1\n2\n3\n4\n5\n6\n7\n8\nZ\n",
	     "--- a/f\n+++ b/f\n@@ -1,4 +1,4 @@\n-a\n+A\n 1\n 2\n 3\n"
	     "@@ -7,4 +7,4 @@\n 6\n 7\n 8\n-z\n+Z\n");
}

static void diff_unified__from_nothing_and_missing_newline(void **state)
{
	diff("", "x\ny",
	     "--- a/f\n+++ b/f\n@@ -0,0 +1,2 @@\n+x\n+y\n\\ No newline at end of file\n");
	diff("x\n", "x", "--- a/f\n+++ b/f\n@@ -1 +1 @@\n-x\n+x\n\\ No newline at end of file\n");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(diff_unified__equal_texts_give_nothing),
	    cmocka_unit_test(diff_unified__one_change_with_context),
	    cmocka_unit_test(diff_unified__far_changes_make_two_hunks),
	    cmocka_unit_test(diff_unified__from_nothing_and_missing_newline),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
