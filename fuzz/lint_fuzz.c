/*
 * libFuzzer target: the whole lint pipeline on a generated repository. The
 * input is split at lines "%%\n" into up to five parts: the workflow
 * (.github/workflows/pr-test.yml), a test file (tests/test_a.py), a second
 * one (tests/sub/test_b.py), tests/ci/unregistered.txt and
 * .github/gpuci.yml; a missing part is a missing file. They are written
 * into a temporary directory made once per process, then lint_run reads
 * it as gpuci lint does. Any crash, leak, sanitizer report or hang is a
 * bug; so is a failure without a message, a finding without a rule or
 * message, or counts that do not add up.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/diag.h"
#include "base/strbuf.h"
#include "fuzz.h"
#include "lint/lint.h"

static const char *const parts[] = {
    ".github/workflows/pr-test.yml", "tests/test_a.py",   "tests/sub/test_b.py",
    "tests/ci/unregistered.txt",     ".github/gpuci.yml",
};
#define NPARTS (sizeof(parts) / sizeof(*parts))

static char root[64];

static void make_root(void)
{
	if (root[0])
		return;
	strcpy(root, "/tmp/gpuci-lint-fuzz-XXXXXX");
	CHECK(mkdtemp(root) != NULL);
	static const char *const dirs[] = {"/.github", "/.github/workflows", "/tests", "/tests/sub",
	                                   "/tests/ci"};
	char p[128];
	for (size_t i = 0; i < sizeof(dirs) / sizeof(*dirs); i++) {
		snprintf(p, sizeof(p), "%s%s", root, dirs[i]);
		CHECK(mkdir(p, 0755) == 0);
	}
}

static void put(const char *rel, const char *data, size_t len, int present)
{
	char p[128];
	snprintf(p, sizeof(p), "%s/%s", root, rel);
	unlink(p);
	if (!present)
		return;
	FILE *f = fopen(p, "wb");
	CHECK(f != NULL);
	CHECK(fwrite(data, 1, len, f) == len || len == 0);
	CHECK(fclose(f) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	make_root();
	const char *s = (const char *)data, *end = s + size;
	for (size_t i = 0; i < NPARTS; i++) {
		const char *cut = NULL;
		for (const char *q = s; s && q + 3 <= end; q++)
			if ((q == (const char *)data || q[-1] == '\n') && !memcmp(q, "%%\n", 3)) {
				cut = q;
				break;
			}
		if (!s) {
			put(parts[i], "", 0, 0);
			continue;
		}
		size_t len = (size_t)((cut ? cut : end) - s);
		put(parts[i], s, len, 1);
		s = cut ? cut + 3 : NULL;
	}
	struct lint_opts o = {.workflow = ".github/workflows/pr-test.yml", .root = root};
	struct lint_report r;
	struct diag d = DIAG_INIT;
	if (lint_run(&o, &r, &d) < 0) {
		CHECK(d.code != DIAG_OK && d.msg.len > 0);
	} else {
		size_t errors = 0;
		for (size_t i = 0; i < r.n; i++) {
			const struct lint_finding *f = &r.findings[i];
			CHECK(f->file && f->rule && f->message && lint_rule_find(f->rule));
			errors += f->severity == LINT_ERROR;
		}
		CHECK(errors == r.nerrors && r.n == r.nerrors + r.nwarnings);
	}
	lint_report_release(&r);
	diag_release(&d);
	return 0;
}
