/* Option parsing from a table; see cli.h. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "base/xalloc.h"
#include "base/banned.h"

static int store(const struct cli_option *o, const char *val, struct diag *d)
{
	char *end;
	errno = 0;
	switch (o->kind) {
	case CLI_OPT_FLAG:
		*(bool *)o->value = true;
		break;
	case CLI_OPT_UINT: {
		unsigned long v = strtoul(val, &end, 10);
		if (errno || end == val || *end || val[0] == '-' || v > 1000000000UL)
			return diag_set(d, DIAG_USAGE, "--%s expects a whole number, not '%s'",
			                o->name, val);
		*(unsigned *)o->value = (unsigned)v;
		break;
	}
	case CLI_OPT_SECS: {
		double v = strtod(val, &end);
		if (errno || end == val || *end || !isfinite(v) || v < 0)
			return diag_set(d, DIAG_USAGE,
			                "--%s expects seconds (e.g. 30 or 0.5), not '%s'", o->name,
			                val);
		*(double *)o->value = v;
		break;
	}
	case CLI_OPT_STRING:
		*(const char **)o->value = val;
		break;
	case CLI_OPT_LIST: {
		struct cli_list *l = o->value;
		l->items = xrealloc(l->items, (l->n + 1) * sizeof(*l->items));
		l->items[l->n++] = val;
		break;
	}
	}
	if (o->seen)
		*o->seen = true;
	return 0;
}

int cli_parse(int argc, char **argv, const struct cli_option *opts, bool stop_at_arg, int *rest,
              bool *help, struct diag *d)
{
	*help = false;
	int i = 1;
	for (; i < argc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "--")) {
			i++;
			break;
		}
		if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			*help = true;
			continue;
		}
		if (a[0] != '-' || a[1] == '\0') {
			if (stop_at_arg)
				break;
			return diag_set(d, DIAG_USAGE, "unexpected argument '%s'", a);
		}
		const struct cli_option *o = NULL;
		const char *val = NULL;
		if (a[1] == '-') {
			const char *name = a + 2;
			const char *eq = strchr(name, '=');
			size_t len = eq ? (size_t)(eq - name) : strlen(name);
			for (const struct cli_option *p = opts; p->name; p++)
				if (strlen(p->name) == len && !strncmp(p->name, name, len))
					o = p;
			if (!o)
				return diag_set(d, DIAG_USAGE, "unknown option '--%.*s'", (int)len,
				                name);
			if (eq) {
				if (o->kind == CLI_OPT_FLAG)
					return diag_set(d, DIAG_USAGE, "--%s takes no value",
					                o->name);
				val = eq + 1;
			}
		} else {
			for (const struct cli_option *p = opts; p->name; p++)
				if (p->letter && p->letter == a[1])
					o = p;
			if (!o || (a[2] && o->kind == CLI_OPT_FLAG))
				return diag_set(d, DIAG_USAGE, "unknown option '%s'", a);
			if (a[2])
				val = a + 2;
		}
		if (o->kind != CLI_OPT_FLAG && !val) {
			if (i + 1 >= argc)
				return diag_set(d, DIAG_USAGE, "--%s needs a value (%s)", o->name,
				                o->arg ? o->arg : "VALUE");
			val = argv[++i];
		}
		if (store(o, val, d) < 0)
			return -1;
	}
	*rest = i;
	return 0;
}

void cli_print_options(FILE *f, const struct cli_option *opts)
{
	for (const struct cli_option *o = opts; o->name; o++) {
		char left[64];
		int n = snprintf(left, sizeof(left), "%s%c%s--%s%s%s", o->letter ? "-" : "",
		                 o->letter ? o->letter : ' ', o->letter ? ", " : "  ", o->name,
		                 o->arg ? " " : "", o->arg ? o->arg : "");
		if (!o->letter)
			n = snprintf(left, sizeof(left), "    --%s%s%s", o->name, o->arg ? " " : "",
			             o->arg ? o->arg : "");
		fprintf(f, "  %-28s %s\n", left, o->help);
		(void)n;
	}
	fprintf(f, "  %-28s %s\n", "-h, --help", "show this help");
}

int cli_usage_error(struct gpuci_ctx *ctx, const char *cmd, const struct diag *d)
{
	struct strbuf sb = STRBUF_INIT;
	fprintf(ctx->err, "gpuci %s: %s\n", cmd, cli_shown(&sb, d->msg.buf));
	strbuf_release(&sb);
	fprintf(ctx->err, "Try 'gpuci %s --help'.\n", cmd);
	return EXIT_USAGE;
}

const char *cli_shown(struct strbuf *sb, const char *s)
{
	strbuf_reset(sb);
	strbuf_add_shown(sb, s ? s : "");
	return sb->buf ? sb->buf : "";
}

void cli_error(struct gpuci_ctx *ctx, const char *cmd, const struct diag *d)
{
	struct strbuf sb = STRBUF_INIT;
	diag_format(d, &sb);
	fprintf(ctx->err, "gpuci %s: %s\n", cmd, sb.buf);
	strbuf_release(&sb);
}
