#include "harness.h"

#include <string.h>

#include "cli/cli.h"

struct vals {
	bool flag, count_seen;
	unsigned count;
	double secs;
	const char *str;
};

#define OPTS(v)                                                                                    \
	const struct cli_option opts[] = {                                                         \
	    {"flag", 'f', CLI_OPT_FLAG, &(v).flag, NULL, "a flag", NULL},                          \
	    {"count", 'n', CLI_OPT_UINT, &(v).count, "N", "a count", &(v).count_seen},             \
	    {"secs", 0, CLI_OPT_SECS, &(v).secs, "S", "seconds", NULL},                            \
	    {"str", 0, CLI_OPT_STRING, &(v).str, "S", "a string", NULL},                           \
	    {0},                                                                                   \
	}

static void cli_parse__long_short_and_equals_forms(void **state)
{
	struct vals v = {0};
	OPTS(v);
	char *argv[] = {"x",   "--count=4", "-f",  "--secs", "0.5", "--str",
	                "a b", "--",        "cmd", "-f",     NULL};
	int rest;
	bool help;
	struct diag d = DIAG_INIT;
	assert_int_equal(cli_parse(10, argv, opts, true, &rest, &help, &d), 0);
	assert_true(v.flag);
	assert_true(v.count_seen);
	assert_int_equal(v.count, 4);
	assert_true(v.secs == 0.5);
	assert_string_equal(v.str, "a b");
	assert_int_equal(rest, 8);
	assert_string_equal(argv[rest], "cmd");
	assert_false(help);
}

static void cli_parse__stops_at_the_first_argument_of_a_command(void **state)
{
	struct vals v = {0};
	OPTS(v);
	char *argv[] = {"x", "-n", "2", "python", "--flag", NULL};
	int rest;
	bool help;
	struct diag d = DIAG_INIT;
	assert_int_equal(cli_parse(5, argv, opts, true, &rest, &help, &d), 0);
	assert_int_equal(rest, 3);
	assert_false(v.flag);
	assert_int_equal(cli_parse(5, argv, opts, false, &rest, &help, &d), -1);
	assert_string_equal(d.msg.buf, "unexpected argument 'python'");
	diag_release(&d);
}

static void cli_parse__rejects_bad_values_with_the_option_name(void **state)
{
	struct vals v = {0};
	OPTS(v);
	struct {
		char *arg, *val;
		const char *msg;
	} cases[] = {
	    {"--count", "-1", "--count expects a whole number, not '-1'"},
	    {"--count", "2x", "--count expects a whole number, not '2x'"},
	    {"--secs", "soon", "--secs expects seconds (e.g. 30 or 0.5), not 'soon'"},
	    {"--secs", "-3", "--secs expects seconds (e.g. 30 or 0.5), not '-3'"},
	    {"--bogus", "1", "unknown option '--bogus'"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		char *argv[] = {"x", cases[i].arg, cases[i].val, NULL};
		int rest;
		bool help;
		struct diag d = DIAG_INIT;
		assert_int_equal(cli_parse(3, argv, opts, true, &rest, &help, &d), -1);
		assert_int_equal(d.code, DIAG_USAGE);
		assert_string_equal(d.msg.buf, cases[i].msg);
		diag_release(&d);
	}
	char *missing[] = {"x", "--count", NULL};
	int rest;
	bool help;
	struct diag d = DIAG_INIT;
	assert_int_equal(cli_parse(2, missing, opts, true, &rest, &help, &d), -1);
	assert_string_equal(d.msg.buf, "--count needs a value (N)");
	diag_release(&d);
}

static void cli_find__knows_every_table_entry(void **state)
{
	for (const struct cli_command *c = cli_commands; c->name; c++) {
		assert_ptr_equal(cli_find(c->name), c);
		assert_non_null(c->summary);
	}
	assert_null(cli_find("nope"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(cli_parse__long_short_and_equals_forms),
	    cmocka_unit_test(cli_parse__stops_at_the_first_argument_of_a_command),
	    cmocka_unit_test(cli_parse__rejects_bad_values_with_the_option_name),
	    cmocka_unit_test(cli_find__knows_every_table_entry),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
