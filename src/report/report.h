/*
 * report: the results of a gpuci run for people and tools: JUnit XML,
 * the Markdown of a GitHub step summary, and GitHub workflow commands
 * (::group::, ::error).
 */
#ifndef GPUCI_REPORT_REPORT_H
#define GPUCI_REPORT_REPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "base/diag.h"
#include "base/strbuf.h"

enum report_status {
	REPORT_PASSED,
	REPORT_FLAKY,        /* passed after failing */
	REPORT_FAILED,       /* exited non-zero */
	REPORT_TIMEOUT,      /* killed after --timeout */
	REPORT_CRASHED,      /* killed by a signal it did not ask for */
	REPORT_NOT_RUNNABLE, /* needs more GPUs than the machine has, or refused */
	REPORT_CANCELED,     /* not run or stopped: Ctrl-C / SIGTERM */
};

/* "passed", "flaky", ... as history and the summary spell them. */
const char *report_status_name(enum report_status s);

struct report_case {
	const char *job; /* JUnit classname */
	const char *test_file;
	const char *test_args; /* "" when none */
	const char *variant;   /* what tells it from entries of the same file and args, or NULL */
	unsigned gpus;
	const char *gpu_ids; /* "0,1" or "" */
	const char *node;    /* the cluster node it ran on, or NULL: this machine */
	enum report_status status;
	unsigned attempts;
	int exit_code;        /* -1 when it did not run */
	double duration;      /* seconds, of the last attempt */
	const char *log_path; /* may be NULL */
	const char *message;  /* one line: why it failed ("exit 1", "timed out after 30 s") */
};

/*
 * Writes JUnit XML (one <testsuite> named suite, one <testcase> per case,
 * classname = job, name = test_file, args and variant) to path, atomically. A
 * failure carries its message and the last lines of its log (at most
 * tail_lines, and 64 KiB), escaped for XML (invalid UTF-8 and control
 * characters replaced).
 *
 * The shape, which tests/report/junit.xsd describes:
 *
 *   <testsuites name tests failures errors skipped time>
 *     <testsuite name tests failures errors skipped time timestamp hostname>
 *       <testcase classname="JOB" name="TEST_FILE ARGS [VARIANT]" file="TEST_FILE" time>
 *         <properties>           gpus (the leased ids), attempts (when > 1)
 *         <failure message type="failed|timeout">LOG TAIL</failure>
 *         <error message type="crashed">LOG TAIL</error>
 *         <skipped message/>     not runnable or canceled
 *         <system-out>           "flaky: passed on attempt N"
 *
 * failures counts the failed and timed out, errors the crashed, skipped
 * the not runnable and canceled; flaky cases pass. The suite's time is the
 * sum of the cases' and its timestamp (UTC, no zone, as the Jenkins schema
 * wants) the time of writing: report_junit_write() takes better ones.
 * The log tail loses its ANSI colour and cursor sequences; when it is
 * not the whole log, a first line says so and names the log. tail_lines 0
 * puts no log in. A log that cannot be read is not an error: a note saying
 * why stands in its place. Fails (DIAG_SYSTEM) when the file cannot be
 * written, path untouched.
 */
int report_junit(const char *path, const char *suite, const struct report_case *cases, size_t n,
                 size_t tail_lines, struct diag *d);

/*
 * Appends the Markdown of a GitHub step summary to out: a heading with
 * title, a line of counts, a table of every case (status, job, test, args,
 * GPUs, duration, log), then the sections "Failures" (failed, timed out
 * and crashed, with their messages), "Flaky" and "Not run" (not runnable
 * and canceled), each only when it has an entry. Cells are escaped for
 * GitHub's Markdown (| and newlines, backticks in code spans), invalid
 * UTF-8 and control characters replaced.
 */
void report_markdown(struct strbuf *out, const char *title, const struct report_case *cases,
                     size_t n);

/* GitHub drops a step's whole summary when its file grows past 1 MiB. */
#define REPORT_SUMMARY_MAX ((size_t)1 << 20)

/*
 * Cuts the Markdown md to at most room bytes, at a line end, with a last
 * line saying it was cut and where the rest is; leaves it as it is when it
 * fits. A room too small for that line leaves md empty.
 */
void report_markdown_fit(struct strbuf *md, size_t room);

/*
 * GitHub workflow commands, one line each, escaped as the runner wants
 * them: % \r \n in data (%25 %0D %0A), and also : , in properties (%3A
 * %2C).
 *
 *   ::group::TITLE
 *   ::endgroup::
 *   ::error file=FILE,line=LINE,title=TITLE::MESSAGE
 *   ::warning file=FILE,line=LINE,title=TITLE::MESSAGE
 *
 * report_gh_error() leaves out a property that is NULL, "" or line 0.
 */
/* Whether gpuci runs in GitHub Actions (GITHUB_ACTIONS=true), where these commands count. */
bool report_in_github_actions(void);

void report_gh_group(FILE *f, const char *title);
void report_gh_endgroup(FILE *f);
void report_gh_error(FILE *f, const char *file, unsigned line, const char *title,
                     const char *message);
/* The same as ::warning. */
void report_gh_warning(FILE *f, const char *file, unsigned line, const char *title,
                       const char *message);

/* At most this many bytes of a log go into a report, per case. */
#define REPORT_TAIL_MAX ((size_t)64 * 1024)

/*
 * What report_junit() works out for itself, for callers that know better
 * (and tests, which want the same bytes every time).
 */
struct report_suite {
	const char *name;     /* NULL or "": "gpuci" */
	size_t tail_lines;    /* as report_junit() */
	double started;       /* seconds since the epoch; 0: now */
	double duration;      /* seconds of wall time; negative: the cases' sum */
	const char *hostname; /* NULL: gethostname() */
};

/* As report_junit(), with the suite described by s. */
int report_junit_write(const char *path, const struct report_suite *s,
                       const struct report_case *cases, size_t n, struct diag *d);

/*
 * Appends the JUnit XML of report_junit_write() to out; check
 * strbuf_failed(out) afterwards (a huge report can pass its ceiling).
 */
void report_junit_render(struct strbuf *out, const struct report_suite *s,
                         const struct report_case *cases, size_t n);

/*
 * Appends the end of the file at path to out, as it is (bytes, not
 * text): its last max_lines lines (a final newline ends the last line; it
 * does not start another), and at most max_bytes of them. When that cuts
 * the log, the cut falls at the start of a line where one is within
 * max_bytes (else after a UTF-8 character), and *cut is set. max_lines
 * or max_bytes 0: nothing, without opening the file. Fails, naming the
 * path, when the file cannot be read (DIAG_SYSTEM) or is not a regular
 * file (DIAG_INPUT: a FIFO would hang the report).
 */
int report_log_tail(struct strbuf *out, bool *cut, const char *path, size_t max_lines,
                    size_t max_bytes, struct diag *d);

/*
 * Appends s[0..len) escaped for XML and HTML: & < > " ' as references, \r
 * as one, what XML cannot hold as U+FFFD. REPORT_XML_ATTR: in an attribute
 * value (tabs and newlines as references too); REPORT_XML_ANSI: ANSI
 * colour and cursor sequences dropped (a log's).
 */
enum { REPORT_XML_ATTR = 1, REPORT_XML_ANSI = 2 };
void report_add_xml(struct strbuf *sb, const char *s, size_t len, unsigned flags);

/* Appends a duration for people: "0.4 s", "59.9 s", "3 min 04 s", "1 h 02 min". */
void report_add_duration(struct strbuf *out, double seconds);

#endif
