#include "report/report.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/fs.h"
#include "base/xalloc.h"

#include "base/banned.h"

static const char *const status_names[] = {
    [REPORT_PASSED] = "passed",     [REPORT_FLAKY] = "flaky",
    [REPORT_FAILED] = "failed",     [REPORT_TIMEOUT] = "timeout",
    [REPORT_CRASHED] = "crashed",   [REPORT_NOT_RUNNABLE] = "not-runnable",
    [REPORT_CANCELED] = "canceled",
};

const char *report_status_name(enum report_status s)
{
	if ((unsigned)s >= sizeof(status_names) / sizeof(status_names[0]))
		BUG("report_status_name(%d)", (int)s);
	return status_names[s];
}

static const char *or_empty(const char *s)
{
	return s ? s : "";
}

static const char *or_default(const char *s, const char *def)
{
	return s && *s ? s : def;
}

struct counts {
	size_t by_status[REPORT_CANCELED + 1];
	size_t failures, errors, skipped;
	double duration;
};

/* Seconds clamped to what a report can print: NaN and negatives are 0. */
static double clamp_seconds(double s)
{
	if (!(s > 0))
		return 0;
	return s < 1e9 ? s : 1e9;
}

static void count_cases(struct counts *out, const struct report_case *cases, size_t n)
{
	memset(out, 0, sizeof(*out));
	for (size_t i = 0; i < n; i++) {
		enum report_status s = cases[i].status;
		report_status_name(s); /* BUG() on a status out of range */
		out->by_status[s]++;
		out->duration += clamp_seconds(cases[i].duration);
	}
	out->failures = out->by_status[REPORT_FAILED] + out->by_status[REPORT_TIMEOUT];
	out->errors = out->by_status[REPORT_CRASHED];
	out->skipped = out->by_status[REPORT_NOT_RUNNABLE] + out->by_status[REPORT_CANCELED];
}

/* The message of a case that did not pass, made up from its status when it has none. */
static void add_message(struct strbuf *sb, const struct report_case *c)
{
	if (c->message && *c->message) {
		strbuf_adds(sb, c->message);
		return;
	}
	switch (c->status) {
	case REPORT_FAILED:
		if (c->exit_code >= 0)
			strbuf_addf(sb, "exit %d", c->exit_code);
		else
			strbuf_adds(sb, "failed");
		break;
	case REPORT_TIMEOUT:
		strbuf_adds(sb, "timed out");
		break;
	case REPORT_NOT_RUNNABLE:
		strbuf_adds(sb, "not runnable");
		break;
	default:
		strbuf_adds(sb, report_status_name(c->status));
	}
}

/* "test_file args", the name a case goes by. */
static void add_test_name(struct strbuf *sb, const struct report_case *c)
{
	strbuf_adds(sb, or_empty(c->test_file));
	if (c->test_args && *c->test_args) {
		strbuf_addch(sb, ' ');
		strbuf_adds(sb, c->test_args);
	}
	if (c->variant && *c->variant) {
		strbuf_addch(sb, ' ');
		strbuf_adds(sb, c->variant);
	}
}

void report_add_duration(struct strbuf *out, double seconds)
{
	/* Rounded once per unit, so 59.96 s reads "1 min 00 s", not "60.0 s". */
	seconds = clamp_seconds(seconds);
	unsigned long long tenths = (unsigned long long)(seconds * 10 + 0.5);
	if (tenths < 600) {
		strbuf_addf(out, "%llu.%llu s", tenths / 10, tenths % 10);
		return;
	}
	unsigned long long s = (unsigned long long)(seconds + 0.5);
	if (s < 3600)
		strbuf_addf(out, "%llu min %02llu s", s / 60, s % 60);
	else
		strbuf_addf(out, "%llu h %02llu min", s / 3600, s / 60 % 60);
}

/* Text: UTF-8 and the characters XML allows. */

#define BAD_UTF8    UINT32_MAX
#define REPLACEMENT "\xef\xbf\xbd" /* U+FFFD */

/*
 * Decodes the UTF-8 character at p (n > 0 bytes) into *cp and returns its
 * length. An invalid sequence gives BAD_UTF8 and the length of its maximal
 * subpart (Unicode 15, 3.9, "U+FFFD Substitution of Maximal Subparts"), so
 * each bad stretch becomes one U+FFFD the way browsers and Python do it.
 * Overlong forms, surrogates and values past U+10FFFF are invalid.
 */
static size_t utf8_next(const unsigned char *p, size_t n, uint32_t *cp)
{
	unsigned char c = p[0], lo = 0x80, hi = 0xbf;
	size_t more;
	uint32_t v;
	if (c < 0x80) {
		*cp = c;
		return 1;
	} else if (c >= 0xc2 && c <= 0xdf) {
		more = 1;
		v = c & 0x1f;
	} else if (c >= 0xe0 && c <= 0xef) {
		more = 2;
		v = c & 0x0f;
		lo = c == 0xe0 ? 0xa0 : 0x80; /* overlong */
		hi = c == 0xed ? 0x9f : 0xbf; /* surrogates */
	} else if (c >= 0xf0 && c <= 0xf4) {
		more = 3;
		v = c & 0x07;
		lo = c == 0xf0 ? 0x90 : 0x80; /* overlong */
		hi = c == 0xf4 ? 0x8f : 0xbf; /* past U+10FFFF */
	} else {
		*cp = BAD_UTF8;
		return 1;
	}
	for (size_t i = 1; i <= more; i++) {
		if (i >= n || p[i] < lo || p[i] > hi) {
			*cp = BAD_UTF8;
			return i;
		}
		v = v << 6 | (p[i] & 0x3f);
		lo = 0x80;
		hi = 0xbf;
	}
	*cp = v;
	return more + 1;
}

/*
 * Whether cp may appear in a report. XML 1.0 allows neither the C0
 * controls but tab, newline and return, nor U+FFFE and U+FFFF; DEL and the
 * C1 controls it allows, but XML 1.1 and GitHub's renderer do not, and no
 * log means them.
 */
static bool char_ok(uint32_t cp)
{
	if (cp == BAD_UTF8)
		return false;
	if (cp < 0x20)
		return cp == '\t' || cp == '\n' || cp == '\r';
	if (cp >= 0x7f && cp <= 0x9f)
		return false;
	return cp != 0xfffe && cp != 0xffff;
}

/*
 * The length of the ANSI control sequence (colours, cursor moves) at p, or
 * 0: CSI (ESC [ parameters intermediates final) and OSC (ESC ] ... BEL or
 * ESC \, as in terminal hyperlinks). Logs of tests run in a terminal are
 * full of them and they mean nothing in a report.
 */
static size_t ansi_len(const unsigned char *p, size_t n)
{
	if (n < 2 || p[0] != 0x1b)
		return 0;
	size_t i = 2;
	if (p[1] == '[') {
		while (i < n && p[i] >= 0x30 && p[i] <= 0x3f)
			i++;
		while (i < n && p[i] >= 0x20 && p[i] <= 0x2f)
			i++;
		return i < n && p[i] >= 0x40 && p[i] <= 0x7e ? i + 1 : 0;
	}
	if (p[1] == ']') {
		for (; i < n; i++) {
			if (p[i] == 0x07)
				return i + 1;
			if (p[i] == 0x1b)
				return i + 1 < n && p[i + 1] == '\\' ? i + 2 : 0;
		}
	}
	return 0;
}

/* XML */

/* report.h. All five special characters are escaped everywhere, so "]]>" never appears. */
void report_add_xml(struct strbuf *sb, const char *s, size_t len, unsigned flags)
{
	const unsigned char *p = (const unsigned char *)s, *end = p + len;
	bool attr = flags & REPORT_XML_ATTR;
	while (p < end) {
		size_t n = (flags & REPORT_XML_ANSI) ? ansi_len(p, (size_t)(end - p)) : 0;
		if (n) {
			p += n;
			continue;
		}
		uint32_t cp;
		n = utf8_next(p, (size_t)(end - p), &cp);
		switch (cp) {
		case '&':
			strbuf_adds(sb, "&amp;");
			break;
		case '<':
			strbuf_adds(sb, "&lt;");
			break;
		case '>':
			strbuf_adds(sb, "&gt;");
			break;
		case '"':
			strbuf_adds(sb, "&quot;");
			break;
		case '\'':
			strbuf_adds(sb, "&apos;");
			break;
		case '\t':
			strbuf_adds(sb, attr ? "&#9;" : "\t");
			break;
		case '\n':
			strbuf_adds(sb, attr ? "&#10;" : "\n");
			break;
		case '\r':
			strbuf_adds(sb, "&#13;");
			break;
		default:
			if (char_ok(cp))
				strbuf_add(sb, p, n);
			else
				strbuf_adds(sb, REPLACEMENT);
		}
		p += n;
	}
}

/* Appends ` name="value"`. */
static void xml_attr(struct strbuf *sb, const char *name, const char *value)
{
	strbuf_addf(sb, " %s=\"", name);
	report_add_xml(sb, value, strlen(value), REPORT_XML_ATTR);
	strbuf_addch(sb, '"');
}

/* Appends ` name="S.mmm"`: seconds as xs:decimal, whatever the locale. */
static void xml_attr_seconds(struct strbuf *sb, const char *name, double seconds)
{
	unsigned long long ms = (unsigned long long)(clamp_seconds(seconds) * 1000 + 0.5);
	strbuf_addf(sb, " %s=\"%llu.%03llu\"", name, ms / 1000, ms % 1000);
}

static void xml_counts(struct strbuf *sb, size_t n, const struct counts *k)
{
	strbuf_addf(sb, " tests=\"%zu\" failures=\"%zu\" errors=\"%zu\" skipped=\"%zu\"", n,
	            k->failures, k->errors, k->skipped);
}

/* Appends the log tail of a failed case, as the text of its <failure> or <error>. */
static void xml_log_tail(struct strbuf *sb, const struct report_case *c, size_t tail_lines)
{
	if (!c->log_path || !tail_lines)
		return;
	struct strbuf tail = STRBUF_INIT;
	struct diag d = DIAG_INIT;
	bool cut;
	if (report_log_tail(&tail, &cut, c->log_path, tail_lines, REPORT_TAIL_MAX, &d) < 0) {
		strbuf_addf(&tail, "[gpuci: %s]\n", d.msg.buf);
		cut = false;
	}
	if (cut) {
		struct strbuf note = STRBUF_INIT;
		strbuf_addf(&note, "[gpuci: earlier lines left out; the whole log is %s]\n",
		            c->log_path);
		report_add_xml(sb, note.buf, note.len, 0);
		strbuf_release(&note);
	}
	report_add_xml(sb, tail.buf, tail.len, REPORT_XML_ANSI);
	strbuf_release(&tail);
	diag_release(&d);
}

/* Appends <failure>, <error> or <skipped>, whichever the case has. */
static void xml_outcome(struct strbuf *sb, const struct report_case *c, size_t tail_lines)
{
	const char *elem, *type = NULL;
	switch (c->status) {
	case REPORT_FAILED:
		elem = "failure";
		type = "failed";
		break;
	case REPORT_TIMEOUT:
		elem = "failure";
		type = "timeout";
		break;
	case REPORT_CRASHED:
		elem = "error";
		type = "crashed";
		break;
	case REPORT_NOT_RUNNABLE:
	case REPORT_CANCELED:
		elem = "skipped";
		break;
	default:
		return;
	}
	struct strbuf text = STRBUF_INIT;
	add_message(&text, c);
	strbuf_addf(sb, "      <%s", elem);
	xml_attr(sb, "message", text.buf);
	if (type)
		xml_attr(sb, "type", type);
	strbuf_reset(&text);
	if (type)
		xml_log_tail(&text, c, tail_lines);
	if (text.len)
		strbuf_addf(sb, ">%s</%s>\n", text.buf, elem);
	else
		strbuf_adds(sb, "/>\n");
	strbuf_release(&text);
}

static void xml_case(struct strbuf *sb, const struct report_case *c, size_t tail_lines)
{
	struct strbuf name = STRBUF_INIT;
	add_test_name(&name, c);
	strbuf_adds(sb, "    <testcase");
	/* Neither may be empty (the schema's xs:token minLength 1). */
	xml_attr(sb, "classname", or_default(c->job, "gpuci"));
	xml_attr(sb, "name", or_default(name.buf, "(unnamed)"));
	if (c->test_file && *c->test_file)
		xml_attr(sb, "file", c->test_file);
	xml_attr_seconds(sb, "time", c->duration);
	strbuf_release(&name);

	bool gpus = c->gpu_ids && *c->gpu_ids, attempts = c->attempts > 1;
	bool node = c->node && *c->node;
	if (!gpus && !attempts && !node && c->status == REPORT_PASSED) {
		strbuf_adds(sb, "/>\n");
		return;
	}
	strbuf_adds(sb, ">\n");
	if (gpus || attempts || node) {
		strbuf_adds(sb, "      <properties>\n");
		if (node) {
			strbuf_adds(sb, "        <property name=\"node\"");
			xml_attr(sb, "value", c->node);
			strbuf_adds(sb, "/>\n");
		}
		if (gpus) {
			strbuf_adds(sb, "        <property name=\"gpus\"");
			xml_attr(sb, "value", c->gpu_ids);
			strbuf_adds(sb, "/>\n");
		}
		if (attempts)
			strbuf_addf(sb, "        <property name=\"attempts\" value=\"%u\"/>\n",
			            c->attempts);
		strbuf_adds(sb, "      </properties>\n");
	}
	xml_outcome(sb, c, tail_lines);
	if (c->status == REPORT_FLAKY)
		strbuf_addf(sb, "      <system-out>flaky: passed on attempt %u</system-out>\n",
		            c->attempts);
	strbuf_adds(sb, "    </testcase>\n");
}

void report_junit_render(struct strbuf *out, const struct report_suite *s,
                         const struct report_case *cases, size_t n)
{
	struct counts k;
	count_cases(&k, cases, n);
	const char *name = or_default(s->name, "gpuci");
	double wall = s->duration >= 0 ? s->duration : k.duration;

	strbuf_adds(out, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites");
	xml_attr(out, "name", name);
	xml_counts(out, n, &k);
	xml_attr_seconds(out, "time", wall);
	strbuf_adds(out, ">\n  <testsuite");
	xml_attr(out, "name", name);
	xml_counts(out, n, &k);
	xml_attr_seconds(out, "time", wall);

	/* UTC without a zone: the Jenkins schema's pattern allows none. */
	time_t t = s->started > 0 && s->started < 1e11 ? (time_t)s->started : time(NULL);
	struct tm tm;
	if (!gmtime_r(&t, &tm)) {
		t = 0;
		gmtime_r(&t, &tm);
	}
	strbuf_addf(out, " timestamp=\"%04d-%02d-%02dT%02d:%02d:%02d\"", tm.tm_year + 1900,
	            tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);

	if (s->hostname) {
		xml_attr(out, "hostname", or_default(s->hostname, "localhost"));
	} else {
		char host[256];
		if (gethostname(host, sizeof(host)) < 0)
			host[0] = '\0';
		host[sizeof(host) - 1] = '\0';
		xml_attr(out, "hostname", or_default(host, "localhost"));
	}
	strbuf_adds(out, n ? ">\n" : "/>\n");
	for (size_t i = 0; i < n; i++)
		xml_case(out, &cases[i], s->tail_lines);
	if (n)
		strbuf_adds(out, "  </testsuite>\n");
	strbuf_adds(out, "</testsuites>\n");
}

int report_junit_write(const char *path, const struct report_suite *s,
                       const struct report_case *cases, size_t n, struct diag *d)
{
	struct strbuf xml = STRBUF_INIT;
	report_junit_render(&xml, s, cases, n);
	if (strbuf_failed(&xml)) {
		/* Only hostile logs get here (64 KiB each, escaped): do without them. */
		struct report_suite bare = *s;
		bare.tail_lines = 0;
		strbuf_reset(&xml);
		report_junit_render(&xml, &bare, cases, n);
	}
	int rc;
	if (strbuf_failed(&xml))
		rc =
		    diag_set(d, DIAG_INPUT, "cannot write %s: too many tests for one report", path);
	else
		rc = fs_write_atomic(path, xml.buf, xml.len, d);
	strbuf_release(&xml);
	return rc;
}

int report_junit(const char *path, const char *suite, const struct report_case *cases, size_t n,
                 size_t tail_lines, struct diag *d)
{
	const struct report_suite s = {
	    .name = suite,
	    .tail_lines = tail_lines,
	    .duration = -1,
	};
	return report_junit_write(path, &s, cases, n, d);
}

/* Log tails */

/*
 * Reads what is left of fd into buf, keeping only the last keep bytes (so
 * a log that grows while it is read cannot make it grow without end).
 * *dropped is set when bytes were let go.
 */
static int read_last(int fd, struct strbuf *buf, size_t keep, bool *dropped)
{
	const size_t chunk = 65536;
	for (;;) {
		strbuf_grow(buf, chunk);
		if (strbuf_failed(buf))
			return -1;
		ssize_t n = read(fd, buf->buf + buf->len, chunk);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0)
			break;
		buf->len += (size_t)n;
		buf->buf[buf->len] = '\0';
		if (buf->len >= 2 * keep + chunk) {
			memmove(buf->buf, buf->buf + buf->len - keep, keep);
			strbuf_setlen(buf, keep);
			*dropped = true;
		}
	}
	if (buf->len > keep) {
		memmove(buf->buf, buf->buf + buf->len - keep, keep);
		strbuf_setlen(buf, keep);
		*dropped = true;
	}
	return 0;
}

int report_log_tail(struct strbuf *out, bool *cut, const char *path, size_t max_lines,
                    size_t max_bytes, struct diag *d)
{
	*cut = false;
	if (!max_lines || !max_bytes)
		return 0;
	if (max_bytes > STRBUF_DEFAULT_MAX / 4)
		max_bytes = STRBUF_DEFAULT_MAX / 4;
	/* O_NONBLOCK: a FIFO in its place must not hang the report. */
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return diag_errno(d, "cannot read log %s", path);
	struct stat st;
	if (fstat(fd, &st) < 0) {
		int rc = diag_errno(d, "cannot read log %s", path);
		close(fd);
		return rc;
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		return diag_set(d, DIAG_INPUT, "cannot read log %s: not a regular file", path);
	}

	/*
	 * One byte more than max_bytes: when it is a newline, the first line
	 * of the rest is whole.
	 */
	size_t keep = max_bytes + 1;
	bool dropped = false;
	if ((uintmax_t)st.st_size > keep) {
		if (lseek(fd, st.st_size - (off_t)keep, SEEK_SET) < 0) {
			int rc = diag_errno(d, "cannot read log %s", path);
			close(fd);
			return rc;
		}
		dropped = true;
	}
	struct strbuf buf = STRBUF_INIT;
	if (read_last(fd, &buf, keep, &dropped) < 0) {
		int rc = strbuf_failed(&buf) ? diag_set(d, DIAG_INPUT, "%s: too large", path)
		                             : diag_errno(d, "cannot read log %s", path);
		close(fd);
		strbuf_release(&buf);
		return rc;
	}
	close(fd);

	const char *t = buf.buf;
	size_t len = buf.len;
	if (dropped || len > max_bytes) {
		/* Cut after a newline (but not the final one), else after a character. */
		const char *nl = len > 1 ? memchr(t, '\n', len - 1) : NULL;
		if (nl) {
			len -= (size_t)(nl + 1 - t);
			t = nl + 1;
		} else {
			size_t skip = len > max_bytes ? len - max_bytes : 0;
			while (skip < len && ((unsigned char)t[skip] & 0xc0) == 0x80 && skip < 4)
				skip++;
			t += skip;
			len -= skip;
		}
		*cut = true;
	}
	/* Count lines from the end; a final newline ends the last line. */
	size_t lines = 0;
	for (size_t i = len && t[len - 1] == '\n' ? len - 1 : len; i > 0; i--) {
		if (t[i - 1] == '\n' && ++lines == max_lines) {
			t += i;
			len -= i;
			*cut = true;
			break;
		}
	}
	strbuf_add(out, t, len);
	strbuf_release(&buf);
	return 0;
}

/* Markdown */

/*
 * Appends s as Markdown: invalid UTF-8 and controls as U+FFFD, line breaks
 * and tabs as spaces, and, in a table, | as \| (GitHub unescapes it before
 * it reads the cell, code spans included). Outside code, the characters
 * that could start markup are backslash-escaped.
 */
static void md_add(struct strbuf *sb, const char *s, bool code, bool table)
{
	const unsigned char *p = (const unsigned char *)s, *end = p + strlen(s);
	while (p < end) {
		uint32_t cp;
		size_t n = utf8_next(p, (size_t)(end - p), &cp);
		if (cp == '\n' || cp == '\r' || cp == '\t')
			strbuf_addch(sb, ' ');
		else if (cp == '|' && table)
			strbuf_adds(sb, "\\|");
		else if (!code && cp < 0x80 && strchr("\\`*_[]<>~&#!|", (int)cp)) {
			strbuf_addch(sb, '\\');
			strbuf_addch(sb, (char)cp);
		} else if (char_ok(cp))
			strbuf_add(sb, p, n);
		else
			strbuf_adds(sb, REPLACEMENT);
		p += n;
	}
}

/*
 * Appends s as a code span: fenced by one backtick more than its longest
 * run of them, padded with a space where it starts or ends with a backtick
 * or is wrapped in spaces (the parser strips one space from each side).
 */
static void md_code(struct strbuf *sb, const char *s, bool table)
{
	struct strbuf body = STRBUF_INIT;
	md_add(&body, s, true, table);
	if (!body.len) {
		strbuf_release(&body);
		return;
	}
	size_t run = 0, longest = 0;
	for (size_t i = 0; i < body.len; i++) {
		run = body.buf[i] == '`' ? run + 1 : 0;
		if (run > longest)
			longest = run;
	}
	char first = body.buf[0], last = body.buf[body.len - 1];
	bool pad = first == '`' || last == '`' ||
	           (first == ' ' && last == ' ' && strspn(body.buf, " ") < body.len);
	for (size_t i = 0; i <= longest; i++)
		strbuf_addch(sb, '`');
	if (pad)
		strbuf_addch(sb, ' ');
	strbuf_add(sb, body.buf, body.len);
	if (pad)
		strbuf_addch(sb, ' ');
	for (size_t i = 0; i <= longest; i++)
		strbuf_addch(sb, '`');
	strbuf_release(&body);
}

static void md_row(struct strbuf *sb, const struct report_case *c)
{
	strbuf_addf(sb, "| %s | ", report_status_name(c->status));
	md_add(sb, or_empty(c->job), false, true);
	strbuf_adds(sb, " | ");
	md_code(sb, or_empty(c->test_file), true);
	if (c->variant && *c->variant) {
		strbuf_addch(sb, ' ');
		md_add(sb, c->variant, false, true);
	}
	strbuf_adds(sb, " | ");
	md_code(sb, or_empty(c->test_args), true);
	strbuf_adds(sb, " | ");
	if (c->gpu_ids && *c->gpu_ids)
		md_add(sb, c->gpu_ids, false, true);
	else if (c->gpus)
		strbuf_addf(sb, "(%u)", c->gpus); /* asked for, none leased */
	strbuf_adds(sb, " | ");
	if (c->exit_code >= 0 || c->duration > 0)
		report_add_duration(sb, c->duration);
	strbuf_adds(sb, " | ");
	md_code(sb, or_empty(c->log_path), true);
	strbuf_adds(sb, " |\n");
}

/* "- **job** `test args` (status): message" */
static void md_item(struct strbuf *sb, const struct report_case *c, bool status)
{
	strbuf_adds(sb, "- ");
	if (c->job && *c->job) {
		strbuf_adds(sb, "**");
		md_add(sb, c->job, false, false);
		strbuf_adds(sb, "** ");
	}
	struct strbuf name = STRBUF_INIT;
	add_test_name(&name, c);
	md_code(sb, name.buf, false);
	if (status)
		strbuf_addf(sb, " (%s)", report_status_name(c->status));
	strbuf_adds(sb, ": ");
	strbuf_reset(&name);
	if (c->status == REPORT_FLAKY)
		strbuf_addf(&name, "passed on attempt %u", c->attempts);
	else
		add_message(&name, c);
	md_add(sb, name.buf, false, false);
	strbuf_addch(sb, '\n');
	strbuf_release(&name);
}

/* Appends the "### heading" and an item for each case whose status is in mask. */
static void md_section(struct strbuf *sb, const char *heading, const struct report_case *cases,
                       size_t n, unsigned mask, bool status)
{
	bool any = false;
	for (size_t i = 0; i < n; i++) {
		if (!(mask & 1u << cases[i].status))
			continue;
		if (!any)
			strbuf_addf(sb, "\n### %s\n\n", heading);
		any = true;
		md_item(sb, &cases[i], status);
	}
}

void report_markdown(struct strbuf *out, const char *title, const struct report_case *cases,
                     size_t n)
{
	struct counts k;
	count_cases(&k, cases, n);
	strbuf_adds(out, "## ");
	md_add(out, or_default(title, "gpuci run"), false, false);
	strbuf_adds(out, "\n\n");
	if (!n) {
		strbuf_adds(out, "No tests ran.\n");
		return;
	}
	const size_t *b = k.by_status;
	strbuf_addf(
	    out, "%zu test%s: %zu passed, %zu failed, %zu flaky, %zu timed out, %zu not runnable",
	    n, n == 1 ? "" : "s", b[REPORT_PASSED], b[REPORT_FAILED], b[REPORT_FLAKY],
	    b[REPORT_TIMEOUT], b[REPORT_NOT_RUNNABLE]);
	if (b[REPORT_CRASHED])
		strbuf_addf(out, ", %zu crashed", b[REPORT_CRASHED]);
	if (b[REPORT_CANCELED])
		strbuf_addf(out, ", %zu canceled", b[REPORT_CANCELED]);
	strbuf_adds(out, "\n\n| Status | Job | Test | Args | GPUs | Duration | Log |\n"
	                 "|---|---|---|---|---|---|---|\n");
	for (size_t i = 0; i < n; i++)
		md_row(out, &cases[i]);
	md_section(out, "Failures", cases, n,
	           1u << REPORT_FAILED | 1u << REPORT_TIMEOUT | 1u << REPORT_CRASHED, true);
	md_section(out, "Flaky", cases, n, 1u << REPORT_FLAKY, false);
	md_section(out, "Not run", cases, n, 1u << REPORT_NOT_RUNNABLE | 1u << REPORT_CANCELED,
	           true);
}

void report_markdown_fit(struct strbuf *md, size_t room)
{
	static const char note[] = "\n_The summary is cut here: GitHub takes at most 1 MiB. "
	                           "Every result is in the logs and in --junit._\n";
	if (md->len <= room)
		return;
	if (room < sizeof(note)) {
		strbuf_setlen(md, 0);
		return;
	}
	size_t keep = room - (sizeof(note) - 1);
	while (keep && md->buf[keep - 1] != '\n')
		keep--;
	strbuf_setlen(md, keep);
	strbuf_adds(md, note);
}

/* GitHub workflow commands */

static void gh_escape(FILE *f, const char *s, bool property)
{
	for (; *s; s++) {
		switch (*s) {
		case '%':
			fputs("%25", f);
			break;
		case '\r':
			fputs("%0D", f);
			break;
		case '\n':
			fputs("%0A", f);
			break;
		case ':':
			fputs(property ? "%3A" : ":", f);
			break;
		case ',':
			fputs(property ? "%2C" : ",", f);
			break;
		default:
			putc(*s, f);
		}
	}
}

void report_gh_group(FILE *f, const char *title)
{
	fputs("::group::", f);
	gh_escape(f, or_empty(title), false);
	putc('\n', f);
}

void report_gh_endgroup(FILE *f)
{
	fputs("::endgroup::\n", f);
}

bool report_in_github_actions(void)
{
	const char *v = getenv("GITHUB_ACTIONS");
	return v && !strcmp(v, "true");
}

static void gh_annotation(FILE *f, const char *level, const char *file, unsigned line,
                          const char *title, const char *message)
{
	char sep = ' ';
	fprintf(f, "::%s", level);
	if (file && *file) {
		fprintf(f, "%cfile=", sep);
		gh_escape(f, file, true);
		sep = ',';
	}
	if (line) {
		fprintf(f, "%cline=%u", sep, line);
		sep = ',';
	}
	if (title && *title) {
		fprintf(f, "%ctitle=", sep);
		gh_escape(f, title, true);
	}
	fputs("::", f);
	gh_escape(f, or_empty(message), false);
	putc('\n', f);
}

void report_gh_error(FILE *f, const char *file, unsigned line, const char *title,
                     const char *message)
{
	gh_annotation(f, "error", file, line, title, message);
}

void report_gh_warning(FILE *f, const char *file, unsigned line, const char *title,
                       const char *message)
{
	gh_annotation(f, "warning", file, line, title, message);
}
