/*
 * libFuzzer target: arbitrary bytes as a workflow template, scanned for its
 * test registry (scaffold/registry.h); then one entry added to every job
 * that says it can take one. Any crash, leak, sanitizer report or hang is a
 * bug; so is an edit that is not exactly one new line, or whose entry a
 * scan of the new text does not find at the line reg_add reported.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "fuzz.h"
#include "scaffold/registry.h"

/* Lines as Jinja counts them: \n, \r\n and a lone \r end one. */
static unsigned count_lines(const char *s, size_t n)
{
	unsigned lines = 1;
	for (size_t i = 0; i < n; i++)
		lines += s[i] == '\n' || (s[i] == '\r' && (i + 1 == n || s[i + 1] != '\n'));
	return lines;
}

/*
 * out is src with something inserted (the common prefix and suffix cover
 * src) that holds exactly one more line end.
 */
static void check_one_line_added(const char *src, size_t len, const struct strbuf *out)
{
	CHECK(out->len > len);
	size_t pre = 0, suf = 0;
	while (pre < len && src[pre] == out->buf[pre])
		pre++;
	while (suf < len && src[len - 1 - suf] == out->buf[out->len - 1 - suf])
		suf++;
	CHECK(pre + suf >= len);
	CHECK(count_lines(out->buf, out->len) == count_lines(src, len) + 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *src = (const char *)data;
	unsigned lines = count_lines(src, size);
	struct reg r;
	struct diag d = DIAG_INIT;
	if (reg_scan(src, size, "f.yml.j2", &r, &d) < 0) {
		CHECK(d.code == DIAG_INPUT && d.msg.len > 0);
		reg_release(&r);
		diag_release(&d);
		return 0;
	}
	for (size_t i = 0; i < r.nlists; i++)
		for (size_t k = 0; k < r.lists[i].n; k++)
			CHECK(r.lists[i].entries[k].line >= 1 &&
			      r.lists[i].entries[k].line <= lines);
	for (size_t j = 0; j < r.njobs && j < 8; j++) {
		const struct reg_job *job = &r.jobs[j];
		CHECK(job->line >= 1 && job->line <= lines);
		struct reg_new e = {
		    .test_file = "test_fuzz'\".py", .num_gpus = 3, .test_args = "--a \\ 'b'"};
		struct strbuf out = STRBUF_INIT;
		struct reg_added info;
		struct diag ad = DIAG_INIT;
		int rc = reg_add(&r, src, size, job->id, &e, &out, &info, &ad);
		if (rc < 0) {
			CHECK(ad.code == DIAG_INPUT && ad.msg.len > 0);
		} else {
			CHECK(!job->why_not);
			check_one_line_added(src, size, &out);
			struct reg r2;
			struct diag d2 = DIAG_INIT;
			CHECK(reg_scan(out.buf, out.len, "f.yml.j2", &r2, &d2) == 0);
			CHECK(reg_entry_line(&r2, job->id, e.test_file, e.test_args, 0) ==
			      info.line);
			reg_release(&r2);
			diag_release(&d2);
		}
		strbuf_release(&out);
		diag_release(&ad);
	}
	reg_release(&r);
	diag_release(&d);
	return 0;
}
