/*
 * dockerrun_dump: what docker/dockerrun.h reads, as JSON, for the
 * end-to-end test against a real engine (tests/cli/docker_engine_test.py).
 *
 *   dockerrun_dump STEP.sh       {"image":..., "keep":[...], "drop":[...], "setup":[...]}
 *   dockerrun_dump --gpus 0,1    the --gpus value dockerrun_gpus_arg() makes
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/fs.h"
#include "docker/dockerrun.h"

static void opts(struct strbuf *out, const char *key, const struct dr_opt *v, size_t n)
{
	strbuf_addf(out, ", \"%s\": [", key);
	for (size_t k = 0; k < n; k++) {
		strbuf_addf(out, "%s{\"name\": ", k ? ", " : "");
		strbuf_add_json_str(out, v[k].name);
		strbuf_adds(out, ", \"value\": ");
		if (v[k].value)
			strbuf_add_json_str(out, v[k].value);
		else
			strbuf_adds(out, "null");
		strbuf_addf(
		    out, ", \"line\": %u, \"col\": %u, \"expand\": %s, \"gha\": %s, \"matrix\": %s",
		    v[k].line, v[k].col, v[k].flags & DR_EXPAND ? "true" : "false",
		    v[k].flags & DR_GHA ? "true" : "false",
		    v[k].flags & DR_MATRIX ? "true" : "false");
		if (v[k].env_name) {
			strbuf_adds(out, ", \"env_name\": ");
			strbuf_add_json_str(out, v[k].env_name);
		}
		if (v[k].why) {
			strbuf_adds(out, ", \"why\": ");
			strbuf_add_json_str(out, v[k].why);
		}
		strbuf_adds(out, "}");
	}
	strbuf_adds(out, "]");
}

int main(int argc, char **argv)
{
	struct strbuf out = STRBUF_INIT;
	if (argc == 3 && !strcmp(argv[1], "--gpus")) {
		unsigned ids[64];
		size_t n = 0;
		for (char *p = argv[2]; *p && n < 64;) {
			ids[n++] = (unsigned)strtoul(p, &p, 10);
			if (*p == ',')
				p++;
		}
		dockerrun_gpus_arg(ids, n, &out);
		puts(out.buf);
		strbuf_release(&out);
		return 0;
	}
	if (argc != 2) {
		fputs("usage: dockerrun_dump STEP.sh | --gpus 0,1\n", stderr);
		return 2;
	}
	struct strbuf text = STRBUF_INIT;
	struct diag d = DIAG_INIT;
	struct dockerrun *dr;
	if (fs_read_all(argv[1], &text, &d) < 0 ||
	    dockerrun_read(text.buf, text.len, argv[1], 1, 1, &dr, &d) < 0) {
		diag_format(&d, &out);
		fprintf(stderr, "dockerrun_dump: %s\n", out.buf);
		return 1;
	}
	strbuf_adds(&out, "{\"image\": ");
	strbuf_add_json_str(&out, dr->image);
	opts(&out, "keep", dr->keep, dr->nkeep);
	opts(&out, "drop", dr->drop, dr->ndrop);
	strbuf_adds(&out, ", \"setup\": [");
	for (size_t k = 0; k < dr->nsetup; k++) {
		strbuf_adds(&out, k ? ", " : "");
		strbuf_add_json_str(&out, dr->setup[k].text);
	}
	strbuf_adds(&out, "]}");
	puts(out.buf);
	dockerrun_free(dr);
	strbuf_release(&text);
	strbuf_release(&out);
	diag_release(&d);
	return 0;
}
