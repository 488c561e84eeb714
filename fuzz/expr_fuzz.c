/*
 * libFuzzer target: arbitrary bytes as a GitHub Actions expression,
 * parsed and evaluated against a small fixed context, then as a string
 * for gha_interp and as an if: condition for gha_eval_if. Any crash,
 * leak, sanitizer report or hang is a bug; errors are fine. Everything
 * lives in one arena, released per input.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "fuzz.h"
#include "gha/expr.h"

static void put(struct arena *a, struct value dict, const char *key, struct value v)
{
	vdict_set(a, dict.dict, value_str_static(key), v);
}

static struct value label(struct arena *a, const char *name)
{
	struct value d = value_dict(a);
	put(a, d, "name", value_str_static(name));
	return d;
}

/*
 * github.event_name, github.event.pull_request.labels[*].name, needs.x
 * with an unknown output y, and matrix.info; the status varies with the
 * input so that all status functions get both answers.
 */
static struct gha_ctx make_ctx(struct arena *a, unsigned char salt)
{
	struct value labels = value_list(a, 3);
	labels.list->items[0] = label(a, "bug");
	labels.list->items[1] = label(a, "GPU");
	labels.list->items[2] = value_none();
	struct value pr = value_dict(a), event = value_dict(a), github = value_dict(a);
	put(a, pr, "labels", labels);
	put(a, pr, "number", value_int(42));
	put(a, event, "pull_request", pr);
	put(a, github, "event", event);
	put(a, github, "event_name", value_str_static("pull_request"));

	struct value outputs = value_dict(a), x = value_dict(a), needs = value_dict(a);
	put(a, outputs, "y", value_undef("output y of job x"));
	put(a, x, "outputs", outputs);
	put(a, x, "result", value_str_static("success"));
	put(a, needs, "x", x);

	struct value info = value_dict(a), list = value_list(a, 2), matrix = value_dict(a);
	list.list->items[0] = value_float(1.5);
	list.list->items[1] = value_bool(true);
	put(a, info, "cuda", value_str_static("12.4"));
	put(a, info, "list", list);
	put(a, matrix, "info", info);

	struct value c = value_dict(a);
	put(a, c, "github", github);
	put(a, c, "needs", needs);
	put(a, c, "matrix", matrix);
	return (struct gha_ctx){.contexts = c, .status = (enum gha_status)(salt % 4)};
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *src = (const char *)data;
	struct arena a = ARENA_INIT;
	struct gha_ctx ctx = make_ctx(&a, size ? data[0] : 0);
	struct srcloc where = {"fuzz.yml", 3, 7};
	struct diag d = DIAG_INIT;
	struct value v;

	struct gha_expr *e = gha_parse(&a, src, size, &where, &d);
	if (e) {
		(void)gha_uses_status(e);
		if (!gha_eval(e, &ctx, &a, &v, &d)) {
			struct strbuf sb = STRBUF_INIT;
			gha_to_str(v, &sb);
			(void)gha_truthy(v);
			strbuf_release(&sb);
		}
	}
	(void)gha_interp(src, size, size & 1 ? &where : NULL, &ctx, &a, &v, &d);

	bool yes, unknown;
	const char *hint;
	if (!gha_eval_if(src, size, NULL, &ctx, &a, &yes, &unknown, &hint, &d) && unknown && hint)
		(void)strlen(hint);

	diag_release(&d);
	arena_release(&a);
	return 0;
}
