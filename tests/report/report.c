#include "harness.h"

#include <errno.h>
#include <math.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/fs.h"
#include "base/xalloc.h"
#include "report/report.h"

extern char **environ;

/* Fixtures */

/* A suite whose report is the same bytes every time. */
static const struct report_suite fixed_suite = {
    .name = "ci",
    .tail_lines = 50,
    .started = 1764140101, /* 2025-11-26T06:55:01Z */
    .duration = -1,
    .hostname = "gpu-box",
};

/* One case of each status, without logs. */
static const struct report_case every_status[] = {
    {.job = "unit",
     .test_file = "tests/test_a.py",
     .test_args = "",
     .status = REPORT_PASSED,
     .attempts = 1,
     .duration = 1.5},
    {.job = "unit",
     .test_file = "tests/test_b.py",
     .test_args = "-k fast",
     .gpus = 2,
     .gpu_ids = "0,1",
     .status = REPORT_FLAKY,
     .attempts = 2,
     .duration = 2.25},
    {.job = "unit",
     .test_file = "tests/test_c.py",
     .test_args = "",
     .status = REPORT_FAILED,
     .attempts = 1,
     .exit_code = 1,
     .duration = 0.1234,
     .message = "exit 1"},
    {.job = "gpu",
     .test_file = "tests/test_d.py",
     .test_args = "",
     .gpus = 1,
     .gpu_ids = "3",
     .status = REPORT_TIMEOUT,
     .attempts = 1,
     .exit_code = 143,
     .duration = 30,
     .message = "timed out after 30 s"},
    {.job = "gpu",
     .test_file = "tests/test_e.py",
     .test_args = "",
     .status = REPORT_CRASHED,
     .attempts = 1,
     .exit_code = 139,
     .duration = 4,
     .message = "killed by SIGSEGV"},
    {.job = "gpu",
     .test_file = "tests/test_f.py",
     .test_args = "",
     .gpus = 8,
     .status = REPORT_NOT_RUNNABLE,
     .exit_code = -1,
     .message = "needs 8 GPUs, the machine has 4"},
    {.job = "gpu",
     .test_file = "tests/test_g.py",
     .test_args = "",
     .status = REPORT_CANCELED,
     .exit_code = -1,
     .message = NULL},
};
#define N_EVERY (sizeof(every_status) / sizeof(every_status[0]))

static char *render(const struct report_case *cases, size_t n, size_t tail_lines)
{
	struct report_suite s = fixed_suite;
	s.tail_lines = tail_lines;
	struct strbuf sb = STRBUF_INIT;
	report_junit_render(&sb, &s, cases, n);
	assert_false(strbuf_failed(&sb));
	return strbuf_detach(&sb, NULL);
}

static void write_file(const char *path, const void *data, size_t len)
{
	struct diag d = DIAG_INIT;
	assert_int_equal(fs_write_atomic(path, data, len, &d), 0);
	diag_release(&d);
}

/* tests/report/NAME: the tests are compiled with absolute paths, so __FILE__ locates it. */
static char *source_path(const char *name)
{
	const char *slash = strrchr(__FILE__, '/');
	struct strbuf sb = STRBUF_INIT;
	if (slash)
		strbuf_add(&sb, __FILE__, (size_t)(slash + 1 - __FILE__));
	strbuf_adds(&sb, name);
	if (access(sb.buf, R_OK) != 0)
		fail_msg("cannot find %s from __FILE__ (%s)", sb.buf, __FILE__);
	return strbuf_detach(&sb, NULL);
}

/*
 * Runs xmllint with args; its stdout, and its stderr too when both, into
 * out. Returns its exit status, or -1 when there is no xmllint to run.
 */
static int xmllint(const char *const *args, struct strbuf *out, bool both)
{
	char *argv[16] = {"xmllint"};
	size_t argc = 1;
	for (; args[argc - 1]; argc++) {
		assert_true(argc < 15);
		argv[argc] = (char *)args[argc - 1];
	}
	int fds[2];
	assert_int_equal(pipe(fds), 0);
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
	if (both)
		posix_spawn_file_actions_adddup2(&fa, fds[1], 2);
	posix_spawn_file_actions_addclose(&fa, fds[0]);
	posix_spawn_file_actions_addclose(&fa, fds[1]);
	pid_t pid;
	int err = posix_spawnp(&pid, "xmllint", &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(fds[1]);
	int status = -1;
	if (!err) {
		char buf[4096];
		ssize_t n;
		while ((n = read(fds[0], buf, sizeof(buf))) > 0 || (n < 0 && errno == EINTR))
			if (n > 0)
				strbuf_add(out, buf, (size_t)n);
		while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
			;
	}
	close(fds[0]);
	if (err || (WIFEXITED(status) && WEXITSTATUS(status) == 127))
		return -1;
	assert_true(WIFEXITED(status));
	return WEXITSTATUS(status);
}

static bool warned_no_xmllint;

static bool no_xmllint(void)
{
	if (!warned_no_xmllint)
		print_message("xmllint not found (apt-get install libxml2-utils): "
		              "reports not checked against tests/report/junit.xsd\n");
	warned_no_xmllint = true;
	return true;
}

/* Checks the file at path against tests/report/junit.xsd. */
static void assert_valid_junit(const char *path)
{
	char *xsd = source_path("junit.xsd");
	const char *args[] = {"--noout", "--schema", xsd, path, NULL};
	struct strbuf said = STRBUF_INIT;
	int rc = xmllint(args, &said, true);
	if (rc < 0)
		no_xmllint();
	else if (rc != 0)
		fail_msg("%s does not validate against %s (xmllint exit %d):\n%s", path, xsd, rc,
		         said.buf);
	strbuf_release(&said);
	free(xsd);
}

/* As assert_valid_junit, for text. */
static void assert_valid_junit_text(const char *xml)
{
	char *dir = harness_tmpdir();
	char *path = harness_path(dir, "report.xml");
	write_file(path, xml, strlen(xml));
	assert_valid_junit(path);
	free(path);
	harness_rmtree(dir);
}

/*
 * The string value of an XPath expression over the file, as an XML parser
 * reads it (entities and references undone); false without xmllint.
 */
static bool xpath_string(const char *path, const char *expr, struct strbuf *out)
{
	/* A mark after the value, as xmllint adds a newline or not by version. */
	struct strbuf e = STRBUF_INIT;
	strbuf_addf(&e, "concat(string(%s), '<end>')", expr);
	const char *args[] = {"--xpath", e.buf, path, NULL};
	int rc = xmllint(args, out, false);
	strbuf_release(&e);
	if (rc < 0)
		return !no_xmllint();
	assert_int_equal(rc, 0);
	char *end = strstr(out->buf, "<end>");
	assert_non_null(end);
	strbuf_setlen(out, (size_t)(end - out->buf));
	return true;
}

/* Whether s holds "]]>" outside of its entities (it never should). */
static void assert_no_cdata_end(const char *s)
{
	assert_null(strstr(s, "]]>"));
}

/* report_status_name */

static void report_status_name__spells_as_history(void **state)
{
	assert_string_equal(report_status_name(REPORT_PASSED), "passed");
	assert_string_equal(report_status_name(REPORT_FLAKY), "flaky");
	assert_string_equal(report_status_name(REPORT_FAILED), "failed");
	assert_string_equal(report_status_name(REPORT_TIMEOUT), "timeout");
	assert_string_equal(report_status_name(REPORT_CRASHED), "crashed");
	assert_string_equal(report_status_name(REPORT_NOT_RUNNABLE), "not-runnable");
	assert_string_equal(report_status_name(REPORT_CANCELED), "canceled");
}

/* JUnit */

static void report_junit__each_status_has_its_element(void **state)
{
	char *xml = render(every_status, N_EVERY, 50);
	assert_string_equal(
	    xml,
	    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
	    "<testsuites name=\"ci\" tests=\"7\" failures=\"2\" errors=\"1\" skipped=\"2\" "
	    "time=\"37.873\">\n"
	    "  <testsuite name=\"ci\" tests=\"7\" failures=\"2\" errors=\"1\" skipped=\"2\" "
	    "time=\"37.873\" timestamp=\"2025-11-26T06:55:01\" hostname=\"gpu-box\">\n"
	    "    <testcase classname=\"unit\" name=\"tests/test_a.py\" file=\"tests/test_a.py\" "
	    "time=\"1.500\"/>\n"
	    "    <testcase classname=\"unit\" name=\"tests/test_b.py -k fast\" "
	    "file=\"tests/test_b.py\" time=\"2.250\">\n"
	    "      <properties>\n"
	    "        <property name=\"gpus\" value=\"0,1\"/>\n"
	    "        <property name=\"attempts\" value=\"2\"/>\n"
	    "      </properties>\n"
	    "      <system-out>flaky: passed on attempt 2</system-out>\n"
	    "    </testcase>\n"
	    "    <testcase classname=\"unit\" name=\"tests/test_c.py\" file=\"tests/test_c.py\" "
	    "time=\"0.123\">\n"
	    "      <failure message=\"exit 1\" type=\"failed\"/>\n"
	    "    </testcase>\n"
	    "    <testcase classname=\"gpu\" name=\"tests/test_d.py\" file=\"tests/test_d.py\" "
	    "time=\"30.000\">\n"
	    "      <properties>\n"
	    "        <property name=\"gpus\" value=\"3\"/>\n"
	    "      </properties>\n"
	    "      <failure message=\"timed out after 30 s\" type=\"timeout\"/>\n"
	    "    </testcase>\n"
	    "    <testcase classname=\"gpu\" name=\"tests/test_e.py\" file=\"tests/test_e.py\" "
	    "time=\"4.000\">\n"
	    "      <error message=\"killed by SIGSEGV\" type=\"crashed\"/>\n"
	    "    </testcase>\n"
	    "    <testcase classname=\"gpu\" name=\"tests/test_f.py\" file=\"tests/test_f.py\" "
	    "time=\"0.000\">\n"
	    "      <skipped message=\"needs 8 GPUs, the machine has 4\"/>\n"
	    "    </testcase>\n"
	    "    <testcase classname=\"gpu\" name=\"tests/test_g.py\" file=\"tests/test_g.py\" "
	    "time=\"0.000\">\n"
	    "      <skipped message=\"canceled\"/>\n"
	    "    </testcase>\n"
	    "  </testsuite>\n"
	    "</testsuites>\n");
	assert_valid_junit_text(xml);
	free(xml);
}

static void report_junit__missing_messages_are_made_up(void **state)
{
	struct report_case c[] = {
	    {.job = "j", .test_file = "t.py", .status = REPORT_FAILED, .exit_code = 2},
	    {.job = "j", .test_file = "t.py", .status = REPORT_FAILED, .exit_code = -1},
	    {.job = "j", .test_file = "t.py", .status = REPORT_TIMEOUT, .message = ""},
	    {.job = "j", .test_file = "t.py", .status = REPORT_CRASHED},
	    {.job = "j", .test_file = "t.py", .status = REPORT_NOT_RUNNABLE},
	};
	char *xml = render(c, 5, 50);
	assert_non_null(strstr(xml, "<failure message=\"exit 2\" type=\"failed\"/>"));
	assert_non_null(strstr(xml, "<failure message=\"failed\" type=\"failed\"/>"));
	assert_non_null(strstr(xml, "<failure message=\"timed out\" type=\"timeout\"/>"));
	assert_non_null(strstr(xml, "<error message=\"crashed\" type=\"crashed\"/>"));
	assert_non_null(strstr(xml, "<skipped message=\"not runnable\"/>"));
	/* Test args NULL reads as none; the name is the file alone. */
	assert_non_null(strstr(xml, "name=\"t.py\" file=\"t.py\""));
	assert_valid_junit_text(xml);
	free(xml);
}

static void report_junit__empty_suite_validates(void **state)
{
	char *xml = render(NULL, 0, 50);
	assert_non_null(strstr(xml,
	                       "<testsuites name=\"ci\" tests=\"0\" failures=\"0\" errors=\"0\" "
	                       "skipped=\"0\" time=\"0.000\">\n"));
	assert_non_null(strstr(xml, "hostname=\"gpu-box\"/>\n</testsuites>\n"));
	assert_valid_junit_text(xml);
	free(xml);
}

static void report_junit__suite_time_is_given_or_summed(void **state)
{
	struct report_suite s = fixed_suite;
	s.duration = 12.3456;
	struct strbuf sb = STRBUF_INIT;
	report_junit_render(&sb, &s, every_status, 2);
	assert_non_null(strstr(sb.buf, "tests=\"2\" failures=\"0\" errors=\"0\" skipped=\"0\" "
	                               "time=\"12.346\">"));
	strbuf_reset(&sb);
	/* NaN and negative durations count as 0; names default. */
	struct report_case c[] = {
	    {.test_file = "x.py", .status = REPORT_PASSED, .duration = -5},
	    {.test_file = "", .status = REPORT_PASSED, .duration = NAN},
	};
	s.name = "";
	s.duration = -1;
	s.hostname = "";
	report_junit_render(&sb, &s, c, 2);
	assert_non_null(strstr(sb.buf, "<testsuites name=\"gpuci\""));
	assert_non_null(strstr(sb.buf, "time=\"0.000\" timestamp="));
	assert_non_null(strstr(sb.buf, "hostname=\"localhost\""));
	assert_non_null(strstr(sb.buf, "<testcase classname=\"gpuci\" name=\"x.py\""));
	assert_non_null(
	    strstr(sb.buf, "<testcase classname=\"gpuci\" name=\"(unnamed)\" time=\"0.000\"/>"));
	assert_valid_junit_text(sb.buf);
	strbuf_release(&sb);
}

static void report_junit__now_and_this_host_by_default(void **state)
{
	struct report_suite s = fixed_suite;
	s.started = 0;
	s.hostname = NULL;
	struct strbuf sb = STRBUF_INIT;
	report_junit_render(&sb, &s, every_status, 1);
	assert_null(strstr(sb.buf, "2025-11-26T06:55:01"));
	assert_null(strstr(sb.buf, "gpu-box"));
	assert_valid_junit_text(sb.buf);
	strbuf_release(&sb);
}

static void report_junit__escapes_hostile_names(void **state)
{
	struct report_case c = {
	    .job = "a&b<c>\"d'e",
	    .test_file = "t]]>x.py",
	    .test_args = "--n='1 2'\t\"q\"\r\nnext\x01\x1b[31m\x7f",
	    .gpu_ids = "0&1",
	    .status = REPORT_FAILED,
	    .message = "bad \xff byte & <tag> ]]>",
	    .exit_code = 1,
	};
	char *xml = render(&c, 1, 50);
	assert_non_null(strstr(xml, "classname=\"a&amp;b&lt;c&gt;&quot;d&apos;e\""));
	assert_non_null(strstr(xml, " name=\"t]]&gt;x.py --n=&apos;1 2&apos;&#9;&quot;q&quot;"
	                            "&#13;&#10;next\xef\xbf\xbd\xef\xbf\xbd[31m\xef\xbf\xbd\""));
	assert_non_null(strstr(xml, "<property name=\"gpus\" value=\"0&amp;1\"/>"));
	assert_non_null(strstr(xml, "message=\"bad \xef\xbf\xbd byte &amp; &lt;tag&gt; ]]&gt;\""));
	assert_no_cdata_end(xml);

	/* What a parser reads back is the name with the bad bytes replaced. */
	char *dir = harness_tmpdir();
	char *path = harness_path(dir, "junit.xml");
	write_file(path, xml, strlen(xml));
	assert_valid_junit(path);
	struct strbuf got = STRBUF_INIT;
	if (xpath_string(path, "//testcase/@name", &got))
		assert_string_equal(got.buf, "t]]>x.py --n='1 2'\t\"q\"\r\nnext\xef\xbf\xbd\xef\xbf"
		                             "\xbd[31m\xef\xbf\xbd");
	strbuf_reset(&got);
	if (xpath_string(path, "//testcase/@classname", &got))
		assert_string_equal(got.buf, "a&b<c>\"d'e");
	strbuf_release(&got);
	free(path);
	harness_rmtree(dir);
	free(xml);
}

static void report_junit__replaces_invalid_utf8_by_maximal_subparts(void **state)
{
	static const struct {
		const char *in, *out;
	} cases[] = {
	    {"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80",
	     "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"},
	    {"a\xffz", "a\xef\xbf\xbdz"},
	    {"a\xc0\xafz", "a\xef\xbf\xbd\xef\xbf\xbdz"}, /* overlong '/' */
	    {"a\xe0\x80z", "a\xef\xbf\xbd\xef\xbf\xbdz"}, /* overlong start */
	    {"a\xe2\x82z", "a\xef\xbf\xbdz"},             /* truncated: one U+FFFD */
	    {"a\xed\xa0\x80z", "a\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbdz"}, /* surrogate */
	    {"a\xf4\x90\x80\x80z", "a\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbdz"},
	    {"a\xf0\x9f\x98", "a\xef\xbf\xbd"},   /* cut at the end */
	    {"a\xef\xbf\xbez", "a\xef\xbf\xbdz"}, /* U+FFFE is no XML character */
	    {"a\xc2\x85z", "a\xef\xbf\xbdz"},     /* C1 control */
	    {"a\xef\xbf\xbdz", "a\xef\xbf\xbdz"}, /* U+FFFD itself stays */
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct report_case c = {.job = "j", .test_file = cases[i].in};
		char *xml = render(&c, 1, 50);
		struct strbuf want = STRBUF_INIT;
		strbuf_addf(&want, " name=\"%s\"", cases[i].out);
		if (!strstr(xml, want.buf))
			fail_msg("case %zu: %s not in\n%s", i, want.buf, xml);
		strbuf_release(&want);
		free(xml);
	}
}

static void report_junit__failure_text_is_the_log_tail(void **state)
{
	char *dir = harness_tmpdir();
	char *log = harness_path(dir, "1-test.log");
	struct strbuf sb = STRBUF_INIT;
	for (int i = 1; i <= 1000; i++)
		strbuf_addf(&sb, "line %d\n", i);
	write_file(log, sb.buf, sb.len);
	struct report_case c = {.job = "j",
	                        .test_file = "t.py",
	                        .status = REPORT_FAILED,
	                        .exit_code = 1,
	                        .message = "exit 1",
	                        .log_path = log};
	char *xml = render(&c, 1, 3);
	strbuf_reset(&sb);
	strbuf_addf(&sb,
	            "<failure message=\"exit 1\" type=\"failed\">[gpuci: earlier lines left out; "
	            "the whole log is %s]\nline 998\nline 999\nline 1000\n</failure>",
	            log);
	assert_non_null(strstr(xml, sb.buf));
	free(xml);

	/* tail_lines 0: no log at all. */
	xml = render(&c, 1, 0);
	assert_non_null(strstr(xml, "<failure message=\"exit 1\" type=\"failed\"/>"));
	free(xml);

	/* The whole log when it is short enough, without a note. */
	write_file(log, "one\ntwo", 7);
	c.status = REPORT_CRASHED;
	xml = render(&c, 1, 3);
	assert_non_null(strstr(xml, "type=\"crashed\">one\ntwo</error>"));
	free(xml);

	/* Passed, flaky and skipped cases carry no log. */
	c.status = REPORT_FLAKY;
	c.attempts = 3;
	xml = render(&c, 1, 3);
	assert_null(strstr(xml, "one"));
	assert_non_null(strstr(xml, "<system-out>flaky: passed on attempt 3</system-out>"));
	free(xml);

	strbuf_release(&sb);
	free(log);
	harness_rmtree(dir);
}

static void report_junit__missing_log_leaves_a_note(void **state)
{
	struct report_case c = {.job = "j",
	                        .test_file = "t.py",
	                        .status = REPORT_TIMEOUT,
	                        .message = "timed out after 5 s",
	                        .log_path = "/nonexistent/9.log"};
	char *xml = render(&c, 1, 10);
	assert_non_null(strstr(xml, "type=\"timeout\">[gpuci: cannot read log /nonexistent/9.log: "
	                            "No such file or directory]\n</failure>"));
	free(xml);

	/* A folder where the log should be is not read either. */
	c.log_path = "/";
	xml = render(&c, 1, 10);
	assert_non_null(strstr(xml, "[gpuci: cannot read log /: not a regular file]"));
	assert_valid_junit_text(xml);
	free(xml);
}

static void report_junit__escapes_hostile_logs(void **state)
{
	char *dir = harness_tmpdir();
	char *log = harness_path(dir, "evil.log");
	static const char evil[] = "\x1b[1;31mFAILED\x1b[0m <b>&amp;</b> ]]> ]]]]><![CDATA[x]]>\n"
	                           "nul\0byte \x07 bell\r\n"
	                           "\x1b]8;;http://x\x07link\x1b]8;;\x1b\\ \x1b(B\n"
	                           "\xc3\x28 bad \xf8\x88\x80\x80\x80 tail\xe2\x82";
	write_file(log, evil, sizeof(evil) - 1);
	struct report_case c = {.job = "j",
	                        .test_file = "t.py",
	                        .status = REPORT_FAILED,
	                        .exit_code = 1,
	                        .message = "exit 1",
	                        .log_path = log};
	char *xml = render(&c, 1, 50);
	assert_no_cdata_end(xml);
	assert_null(strstr(xml, "<b>"));
	assert_null(strstr(xml, "<![CDATA["));
	assert_null(strchr(xml, '\x1b'));
	assert_null(strchr(xml, '\x07'));
	const char *want =
	    "FAILED &lt;b&gt;&amp;amp;&lt;/b&gt; ]]&gt; ]]]]&gt;&lt;![CDATA[x]]&gt;\n"
	    "nul\xef\xbf\xbd"
	    "byte \xef\xbf\xbd bell&#13;\n"
	    "link \xef\xbf\xbd(B\n"
	    "\xef\xbf\xbd( bad \xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef"
	    "\xbf\xbd tail\xef\xbf\xbd</failure>";
	if (!strstr(xml, want))
		fail_msg("escaped log not found in\n%s", xml);

	char *path = harness_path(dir, "junit.xml");
	write_file(path, xml, strlen(xml));
	assert_valid_junit(path);
	struct strbuf got = STRBUF_INIT;
	if (xpath_string(path, "//failure", &got))
		assert_string_equal(got.buf,
		                    "FAILED <b>&amp;</b> ]]> ]]]]><![CDATA[x]]>\n"
		                    "nul\xef\xbf\xbd"
		                    "byte \xef\xbf\xbd bell\r\n"
		                    "link \xef\xbf\xbd(B\n"
		                    "\xef\xbf\xbd( bad \xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf"
		                    "\xbd\xef\xbf\xbd tail\xef\xbf\xbd");
	strbuf_release(&got);
	free(path);
	free(xml);
	free(log);
	harness_rmtree(dir);
}

static void report_junit__writes_atomically_or_says_why(void **state)
{
	char *dir = harness_tmpdir();
	char *path = harness_path(dir, "junit.xml");
	struct diag d = DIAG_INIT;
	assert_int_equal(report_junit(path, "suite", every_status, N_EVERY, 20, &d), 0);
	struct strbuf got = STRBUF_INIT;
	assert_int_equal(fs_read_all(path, &got, &d), 0);
	assert_non_null(strstr(got.buf, "<testsuites name=\"suite\" tests=\"7\""));
	assert_valid_junit(path);

	/* Rewritten whole; no temporary file left behind. */
	assert_int_equal(report_junit(path, "again", every_status, 1, 20, &d), 0);
	strbuf_reset(&got);
	assert_int_equal(fs_read_all(path, &got, &d), 0);
	assert_non_null(strstr(got.buf, "<testsuites name=\"again\" tests=\"1\""));
	assert_valid_junit(path);

	char *missing = harness_path(dir, "no/such/dir/junit.xml");
	assert_int_equal(report_junit(missing, "s", every_status, N_EVERY, 20, &d), -1);
	assert_int_equal(d.code, DIAG_SYSTEM);
	assert_non_null(strstr(d.msg.buf, missing));
	assert_non_null(strstr(d.msg.buf, "No such file or directory"));

	diag_release(&d);
	strbuf_release(&got);
	free(missing);
	free(path);
	harness_rmtree(dir);
}

static void report_junit__many_reports_validate(void **state)
{
	char *dir = harness_tmpdir();
	char *log = harness_path(dir, "x.log");
	struct strbuf sb = STRBUF_INIT;
	for (int i = 0; i < 5000; i++)
		strbuf_addf(&sb, "%d \xce\xb1\xce\xb2 <%c> \x1b[2K%s\n", i, 'a' + i % 26,
		            i % 7 ? "" : "\x01\xff]]>");
	write_file(log, sb.buf, sb.len);
	struct report_case c[N_EVERY];
	memcpy(c, every_status, sizeof(c));
	for (size_t i = 0; i < N_EVERY; i++)
		c[i].log_path = log;
	c[2].log_path = "/nonexistent";
	char *path = harness_path(dir, "r.xml");
	struct diag d = DIAG_INIT;
	static const size_t tails[] = {0, 1, 10, 100000};
	for (size_t t = 0; t < 4; t++) {
		struct report_suite s = fixed_suite;
		s.tail_lines = tails[t];
		assert_int_equal(report_junit_write(path, &s, c, N_EVERY, &d), 0);
		assert_valid_junit(path);
		strbuf_reset(&sb);
		assert_int_equal(fs_read_all(path, &sb, &d), 0);
		assert_no_cdata_end(sb.buf);
	}
	diag_release(&d);
	strbuf_release(&sb);
	free(path);
	free(log);
	harness_rmtree(dir);
}

/* Log tails */

static void tail_of(const char *dir, const char *data, size_t len, size_t lines, size_t bytes,
                    struct strbuf *out, bool *cut)
{
	char *log = harness_path(dir, "t.log");
	write_file(log, data, len);
	struct diag d = DIAG_INIT;
	strbuf_reset(out);
	assert_int_equal(report_log_tail(out, cut, log, lines, bytes, &d), 0);
	assert_true(out->len <= bytes);
	diag_release(&d);
	free(log);
}

static void report_log_tail__counts_lines_from_the_end(void **state)
{
	char *dir = harness_tmpdir();
	struct strbuf got = STRBUF_INIT;
	bool cut;
	tail_of(dir, "a\nb\nc\n", 6, 2, 1024, &got, &cut);
	assert_string_equal(got.buf, "b\nc\n"); /* the final newline starts no line */
	assert_true(cut);
	tail_of(dir, "a\nb\nc", 5, 2, 1024, &got, &cut);
	assert_string_equal(got.buf, "b\nc");
	assert_true(cut);
	tail_of(dir, "a\nb\nc\n", 6, 3, 1024, &got, &cut);
	assert_string_equal(got.buf, "a\nb\nc\n");
	assert_false(cut);
	tail_of(dir, "a\n\n\n", 4, 2, 1024, &got, &cut);
	assert_string_equal(got.buf, "\n\n");
	tail_of(dir, "", 0, 5, 1024, &got, &cut);
	assert_string_equal(got.buf, "");
	assert_false(cut);
	tail_of(dir, "abc", 3, 0, 1024, &got, &cut);
	assert_string_equal(got.buf, "");
	strbuf_release(&got);
	harness_rmtree(dir);
}

static void report_log_tail__cuts_at_a_line_within_the_bytes(void **state)
{
	char *dir = harness_tmpdir();
	struct strbuf got = STRBUF_INIT;
	bool cut;
	/* 10 bytes: "3333\n4444\n" fits exactly, line 2 does not. */
	tail_of(dir, "1111\n2222\n3333\n4444\n", 20, 100, 10, &got, &cut);
	assert_string_equal(got.buf, "3333\n4444\n");
	assert_true(cut);
	/* 9 bytes: only the last line is whole. */
	tail_of(dir, "1111\n2222\n3333\n4444\n", 20, 100, 9, &got, &cut);
	assert_string_equal(got.buf, "4444\n");
	/* Exactly the size: all of it, not cut. */
	tail_of(dir, "1111\n2222\n", 10, 100, 10, &got, &cut);
	assert_string_equal(got.buf, "1111\n2222\n");
	assert_false(cut);
	/* One line longer than the limit: its end, from a character boundary. */
	tail_of(dir, "x\n\xce\xb1\xce\xb2\xce\xb3\xce\xb4\n", 11, 100, 5, &got, &cut);
	assert_string_equal(got.buf, "\xce\xb3\xce\xb4\n");
	assert_true(cut);
	tail_of(dir, "\xce\xb1\xce\xb2\xce\xb3", 6, 100, 3, &got, &cut);
	assert_string_equal(got.buf, "\xce\xb3");
	strbuf_release(&got);
	harness_rmtree(dir);
}

static void report_log_tail__keeps_64k_of_a_big_log(void **state)
{
	char *dir = harness_tmpdir();
	struct strbuf big = STRBUF_INIT, got = STRBUF_INIT;
	for (int i = 0; i < 200000; i++) /* about 2.5 MiB */
		strbuf_addf(&big, "line %06d\n", i);
	bool cut;
	tail_of(dir, big.buf, big.len, 1000000, REPORT_TAIL_MAX, &got, &cut);
	assert_true(cut);
	assert_true(got.len <= REPORT_TAIL_MAX);
	assert_true(got.len > REPORT_TAIL_MAX - 12);
	assert_memory_equal(got.buf, "line ", 5); /* starts with a whole line */
	assert_string_equal(got.buf + got.len - 12, "line 199999\n");
	/* A line limit within the bytes wins. */
	tail_of(dir, big.buf, big.len, 2, REPORT_TAIL_MAX, &got, &cut);
	assert_string_equal(got.buf, "line 199998\nline 199999\n");

	/* One 1 MiB line of 2-byte characters: a whole character starts it. */
	strbuf_reset(&big);
	for (int i = 0; i < 1 << 19; i++)
		strbuf_adds(&big, "\xc3\xa9");
	strbuf_adds(&big, "!");
	tail_of(dir, big.buf, big.len, 10, REPORT_TAIL_MAX, &got, &cut);
	assert_true(cut);
	assert_int_equal(got.len, REPORT_TAIL_MAX - 1);
	assert_int_equal((unsigned char)got.buf[0], 0xc3);
	assert_int_equal(got.buf[got.len - 1], '!');

	/* In the report, with the 64 KiB limit and the note. */
	char *log = harness_path(dir, "t.log");
	struct report_case c = {.job = "j",
	                        .test_file = "t.py",
	                        .status = REPORT_FAILED,
	                        .exit_code = 1,
	                        .log_path = log};
	char *xml = render(&c, 1, 1000000);
	assert_non_null(strstr(xml, "[gpuci: earlier lines left out"));
	assert_true(strlen(xml) < REPORT_TAIL_MAX + 1024);
	assert_valid_junit_text(xml);
	free(xml);
	free(log);
	strbuf_release(&got);
	strbuf_release(&big);
	harness_rmtree(dir);
}

static void report_log_tail__fails_on_a_missing_file(void **state)
{
	struct strbuf got = STRBUF_INIT;
	struct diag d = DIAG_INIT;
	bool cut = true;
	assert_int_equal(report_log_tail(&got, &cut, "/nonexistent/x.log", 10, 100, &d), -1);
	assert_int_equal(d.code, DIAG_SYSTEM);
	assert_string_equal(d.msg.buf,
	                    "cannot read log /nonexistent/x.log: No such file or directory");
	assert_false(cut);
	assert_string_equal(got.buf, "");
	diag_release(&d);
	strbuf_release(&got);
}

/* Markdown */

static void report_add_duration__reads_like_a_person(void **state)
{
	static const struct {
		double s;
		const char *want;
	} cases[] = {
	    {0, "0.0 s"},           {0.04, "0.0 s"},
	    {1.23, "1.2 s"},        {1.25001, "1.3 s"},
	    {59.94, "59.9 s"},      {59.96, "1 min 00 s"},
	    {184, "3 min 04 s"},    {3599.4, "59 min 59 s"},
	    {3599.6, "1 h 00 min"}, {3720, "1 h 02 min"},
	    {90061, "25 h 01 min"}, {-3, "0.0 s"},
	    {NAN, "0.0 s"},         {1e300, "277777 h 46 min"},
	};
	struct strbuf sb = STRBUF_INIT;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		strbuf_reset(&sb);
		report_add_duration(&sb, cases[i].s);
		assert_string_equal(sb.buf, cases[i].want);
	}
	strbuf_release(&sb);
}

static void report_markdown__table_then_sections(void **state)
{
	struct report_case c[N_EVERY];
	memcpy(c, every_status, sizeof(c));
	c[2].log_path = "logs/3-test_c.log";
	c[3].duration = 184;
	struct strbuf sb = STRBUF_INIT;
	report_markdown(&sb, "gpuci run: push", c, N_EVERY);
	assert_string_equal(
	    sb.buf, "## gpuci run: push\n"
	            "\n"
	            "7 tests: 1 passed, 1 failed, 1 flaky, 1 timed out, 1 not runnable, 1 crashed, "
	            "1 canceled\n"
	            "\n"
	            "| Status | Job | Test | Args | GPUs | Duration | Log |\n"
	            "|---|---|---|---|---|---|---|\n"
	            "| passed | unit | `tests/test_a.py` |  |  | 1.5 s |  |\n"
	            "| flaky | unit | `tests/test_b.py` | `-k fast` | 0,1 | 2.3 s |  |\n"
	            "| failed | unit | `tests/test_c.py` |  |  | 0.1 s | `logs/3-test_c.log` |\n"
	            "| timeout | gpu | `tests/test_d.py` |  | 3 | 3 min 04 s |  |\n"
	            "| crashed | gpu | `tests/test_e.py` |  |  | 4.0 s |  |\n"
	            "| not-runnable | gpu | `tests/test_f.py` |  | (8) |  |  |\n"
	            "| canceled | gpu | `tests/test_g.py` |  |  |  |  |\n"
	            "\n"
	            "### Failures\n"
	            "\n"
	            "- **unit** `tests/test_c.py` (failed): exit 1\n"
	            "- **gpu** `tests/test_d.py` (timeout): timed out after 30 s\n"
	            "- **gpu** `tests/test_e.py` (crashed): killed by SIGSEGV\n"
	            "\n"
	            "### Flaky\n"
	            "\n"
	            "- **unit** `tests/test_b.py -k fast`: passed on attempt 2\n"
	            "\n"
	            "### Not run\n"
	            "\n"
	            "- **gpu** `tests/test_f.py` (not-runnable): needs 8 GPUs, the machine has 4\n"
	            "- **gpu** `tests/test_g.py` (canceled): canceled\n");
	strbuf_release(&sb);
}

static void report_markdown_fit__cuts_at_a_line_end_with_a_note(void **state)
{
	(void)state;
	struct strbuf sb = STRBUF_INIT, orig = STRBUF_INIT;
	for (int i = 0; i < 5000; i++)
		strbuf_addf(&sb, "| passed | job | tests/test_%04d.py | | 8 | 1m 2s | log |\n", i);
	strbuf_add(&orig, sb.buf, sb.len);
	report_markdown_fit(&sb, sb.len); /* fits: untouched */
	assert_int_equal(sb.len, orig.len);
	report_markdown_fit(&sb, 100000);
	assert_true(sb.len <= 100000);
	assert_true(sb.len > 100000 - 200); /* cut at the last line end that leaves room */
	const char *note = strstr(sb.buf, "\n_The summary is cut here");
	assert_non_null(note);
	/* What is kept is the original's first whole lines, then the note alone. */
	size_t kept = (size_t)(note - sb.buf);
	assert_true(kept > 0 && sb.buf[kept - 1] == '\n');
	assert_memory_equal(sb.buf, orig.buf, kept);
	assert_null(strchr(note + 1, '|'));
	report_markdown_fit(&sb, 10); /* no room for the note: nothing */
	assert_int_equal(sb.len, 0);
	strbuf_release(&sb);
	strbuf_release(&orig);
}

static void report_markdown__only_sections_with_entries(void **state)
{
	struct strbuf sb = STRBUF_INIT;
	report_markdown(&sb, "t", every_status, 1);
	assert_string_equal(sb.buf, "## t\n\n1 test: 1 passed, 0 failed, 0 flaky, 0 timed out, "
	                            "0 not runnable\n\n"
	                            "| Status | Job | Test | Args | GPUs | Duration | Log |\n"
	                            "|---|---|---|---|---|---|---|\n"
	                            "| passed | unit | `tests/test_a.py` |  |  | 1.5 s |  |\n");
	strbuf_reset(&sb);
	report_markdown(&sb, NULL, NULL, 0);
	assert_string_equal(sb.buf, "## gpuci run\n\nNo tests ran.\n");
	strbuf_release(&sb);
}

static void report_markdown__escapes_cells_and_code_spans(void **state)
{
	struct report_case c = {
	    .job = "a|b*c*_d_ <i>\n[x](y)",
	    .test_file = "t`x`|y.py",
	    .test_args = "`start",
	    .gpu_ids = "0|1",
	    .status = REPORT_FAILED,
	    .exit_code = 1,
	    .log_path = " spaced ",
	    .message = "bad | pipe\nand `tick` \xff",
	};
	struct strbuf sb = STRBUF_INIT;
	report_markdown(&sb, "title\nwith # line", &c, 1);
	const char *want_row =
	    "| failed | a\\|b\\*c\\*\\_d\\_ \\<i\\> \\[x\\](y) | ``t`x`\\|y.py`` | "
	    "`` `start `` | 0\\|1 | 0.0 s | `  spaced  ` |\n";
	if (!strstr(sb.buf, want_row))
		fail_msg("row not found in\n%s", sb.buf);
	assert_memory_equal(sb.buf, "## title with \\# line\n\n", 23);
	/* Outside the table | stays as it is in code, escaped in text. */
	const char *want_item = "- **a\\|b\\*c\\*\\_d\\_ \\<i\\> \\[x\\](y)** ``t`x`|y.py `start`` "
	                        "(failed): bad \\| pipe and \\`tick\\` \xef\xbf\xbd\n";
	if (!strstr(sb.buf, want_item))
		fail_msg("item not found in\n%s", sb.buf);
	/* One line per row: no raw newline inside the table. */
	const char *table = strstr(sb.buf, "|---|");
	assert_non_null(table);
	assert_memory_equal(strchr(table, '\n') + 1, "| failed |", 10);
	strbuf_release(&sb);
}

/* GitHub workflow commands */

/* Runs one of the report_gh_* calls on a memory stream and returns what it wrote. */
static char *gh(void (*call)(FILE *, const void *), const void *arg)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	assert_non_null(f);
	call(f, arg);
	assert_int_equal(fclose(f), 0);
	return buf;
}

static void call_group(FILE *f, const void *arg)
{
	report_gh_group(f, arg);
}

static void call_endgroup(FILE *f, const void *arg)
{
	report_gh_endgroup(f);
}

struct gh_error_args {
	const char *file;
	unsigned line;
	const char *title, *message;
};

static void call_error(FILE *f, const void *arg)
{
	const struct gh_error_args *a = arg;
	report_gh_error(f, a->file, a->line, a->title, a->message);
}

static void report_gh__escapes_data_and_properties(void **state)
{
	char *s = gh(call_group, "tests/a.py --x=1,2: 100%\r\nnext");
	assert_string_equal(s, "::group::tests/a.py --x=1,2: 100%25%0D%0Anext\n");
	free(s);
	s = gh(call_endgroup, NULL);
	assert_string_equal(s, "::endgroup::\n");
	free(s);

	struct gh_error_args a = {"tests/a,b:c.py", 12, "unit: t.py, 50%", "exit 1: 100%\nsee log"};
	s = gh(call_error, &a);
	assert_string_equal(s, "::error file=tests/a%2Cb%3Ac.py,line=12,title=unit%3A t.py%2C "
	                       "50%25::exit 1: 100%25%0Asee log\n");
	free(s);

	struct gh_error_args only_title = {NULL, 0, "t", "m"};
	s = gh(call_error, &only_title);
	assert_string_equal(s, "::error title=t::m\n");
	free(s);
	struct gh_error_args only_line = {"", 3, "", NULL};
	s = gh(call_error, &only_line);
	assert_string_equal(s, "::error line=3::\n");
	free(s);
	struct gh_error_args none = {NULL, 0, NULL, "plain"};
	s = gh(call_error, &none);
	assert_string_equal(s, "::error::plain\n");
	free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(report_status_name__spells_as_history),
	    cmocka_unit_test(report_junit__each_status_has_its_element),
	    cmocka_unit_test(report_junit__missing_messages_are_made_up),
	    cmocka_unit_test(report_junit__empty_suite_validates),
	    cmocka_unit_test(report_junit__suite_time_is_given_or_summed),
	    cmocka_unit_test(report_junit__now_and_this_host_by_default),
	    cmocka_unit_test(report_junit__escapes_hostile_names),
	    cmocka_unit_test(report_junit__replaces_invalid_utf8_by_maximal_subparts),
	    cmocka_unit_test(report_junit__failure_text_is_the_log_tail),
	    cmocka_unit_test(report_junit__missing_log_leaves_a_note),
	    cmocka_unit_test(report_junit__escapes_hostile_logs),
	    cmocka_unit_test(report_junit__writes_atomically_or_says_why),
	    cmocka_unit_test(report_junit__many_reports_validate),
	    cmocka_unit_test(report_log_tail__counts_lines_from_the_end),
	    cmocka_unit_test(report_log_tail__cuts_at_a_line_within_the_bytes),
	    cmocka_unit_test(report_log_tail__keeps_64k_of_a_big_log),
	    cmocka_unit_test(report_log_tail__fails_on_a_missing_file),
	    cmocka_unit_test(report_add_duration__reads_like_a_person),
	    cmocka_unit_test(report_markdown__table_then_sections),
	    cmocka_unit_test(report_markdown__only_sections_with_entries),
	    cmocka_unit_test(report_markdown_fit__cuts_at_a_line_end_with_a_note),
	    cmocka_unit_test(report_markdown__escapes_cells_and_code_spans),
	    cmocka_unit_test(report_gh__escapes_data_and_properties),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
