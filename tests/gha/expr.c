/*
 * GitHub Actions expressions. Expected values come from GitHub's
 * documentation ("Evaluate expressions in workflows and actions") and,
 * where it is silent, from GitHub's runner (actions/runner,
 * src/Sdk/DTExpressions2), which the comments name.
 */
#include "harness.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "gha/expr.h"

/* ---- Fixtures ---- */

/* A compact, typed rendering of a value: 'str', 1.5, [a, b], {k: v}, <unknown: hint>. */
static void show(struct value v, struct strbuf *sb)
{
	switch (v.kind) {
	case V_UNDEF:
		strbuf_addf(sb, "<unknown: %s>", v.str.s ? v.str.s : "");
		break;
	case V_NONE:
		strbuf_adds(sb, "null");
		break;
	case V_STR:
		strbuf_addch(sb, '\'');
		strbuf_add(sb, v.str.s, v.str.len);
		strbuf_addch(sb, '\'');
		break;
	case V_LIST:
		strbuf_addch(sb, '[');
		for (size_t i = 0; i < v.list->n; i++) {
			if (i)
				strbuf_adds(sb, ", ");
			show(v.list->items[i], sb);
		}
		strbuf_addch(sb, ']');
		break;
	case V_DICT:
		strbuf_addch(sb, '{');
		for (size_t i = 0; i < v.dict->n; i++) {
			if (i)
				strbuf_adds(sb, ", ");
			gha_to_str(v.dict->keys[i], sb);
			strbuf_adds(sb, ": ");
			show(v.dict->vals[i], sb);
		}
		strbuf_addch(sb, '}');
		break;
	default:
		gha_to_str(v, sb);
		break;
	}
}

static struct value eval_in(struct arena *a, const char *src, const struct gha_ctx *ctx)
{
	struct diag d = DIAG_INIT;
	struct value v = value_none();
	struct gha_expr *e = gha_parse(a, src, strlen(src), NULL, &d);
	if (!e || gha_eval(e, ctx, a, &v, &d)) {
		fail_msg("%s: %s (column %u)", src, d.msg.buf, d.loc.col);
	}
	diag_release(&d);
	return v;
}

/* A value from JSON text, through fromJSON (itself tested below). */
static struct value json(struct arena *a, const char *text)
{
	struct strbuf sb = STRBUF_INIT;
	strbuf_adds(&sb, "fromJSON('");
	for (const char *p = text; *p; p++) {
		strbuf_addch(&sb, *p);
		if (*p == '\'')
			strbuf_addch(&sb, '\'');
	}
	strbuf_adds(&sb, "')");
	struct value v = eval_in(a, sb.buf, NULL);
	strbuf_release(&sb);
	return v;
}

static void put(struct arena *a, struct value dict, const char *key, struct value v)
{
	vdict_set(a, dict.dict, value_str_static(key), v);
}

/*
 * The contexts of the tests: the documentation's examples (labels, fruits,
 * vegetables), a job x whose output y is unknown, and a matrix.
 */
static struct gha_ctx make_ctx(struct arena *a, enum gha_status status)
{
	struct value c = value_dict(a);
	put(a, c, "github",
	    json(a,
	         "{\"event_name\": \"pull_request\", \"ref\": \"refs/heads/main\","
	         " \"event\": {\"pull_request\": {\"number\": 42, \"title\": \"Fix it\","
	         " \"labels\": [{\"name\": \"bug\"}, {\"name\": \"help wanted\"}]},"
	         " \"issue\": {\"labels\": [{\"name\": \"bug\"}, {\"name\": \"help wanted\"}]}}}"));
	put(a, c, "fruits",
	    json(a, "[{\"name\": \"apple\", \"quantity\": 1}, {\"name\": \"orange\", "
	            "\"quantity\": 2}, {\"name\": \"pear\", \"quantity\": 1}]"));
	put(a, c, "vegetables",
	    json(a, "{\"scallions\": {\"colors\": [\"green\", \"white\", \"red\"], "
	            "\"ediblePortions\": [\"roots\", \"stalks\"]}, \"beets\": {\"colors\": "
	            "[\"purple\", \"red\", \"gold\", \"white\", \"pink\"], \"ediblePortions\": "
	            "[\"roots\", \"stems\", \"leaves\"]}, \"artichokes\": {\"colors\": [\"green\", "
	            "\"purple\", \"red\", \"black\"], \"ediblePortions\": [\"hearts\", \"stems\", "
	            "\"leaves\"]}}"));
	put(a, c, "matrix",
	    json(a, "{\"os\": \"ubuntu-latest\", \"gpus\": 2, \"list\": [1, 2], \"info\": "
	            "{\"cuda\": \"12.4\"}}"));
	put(a, c, "job", json(a, "{\"status\": \"success\"}"));
	struct value out = value_dict(a), x = value_dict(a), needs = value_dict(a);
	put(a, out, "y", value_undef("output y of job x"));
	put(a, x, "outputs", out);
	put(a, x, "result", value_str_static("success"));
	put(a, needs, "x", x);
	put(a, c, "needs", needs);
	return (struct gha_ctx){.contexts = c, .status = status};
}

/* Evaluates src in the test contexts; its value must render as want. */
static void check(const char *src, const char *want)
{
	struct arena a = ARENA_INIT;
	struct gha_ctx ctx = make_ctx(&a, GHA_SUCCESS);
	struct strbuf sb = STRBUF_INIT;
	show(eval_in(&a, src, &ctx), &sb);
	if (strcmp(sb.buf, want))
		fail_msg("%s: got %s, want %s", src, sb.buf, want);
	strbuf_release(&sb);
	arena_release(&a);
}

/* src must fail, at parse or evaluation, with want in the message at col. */
static void check_err(const char *src, const char *want, unsigned col)
{
	struct arena a = ARENA_INIT;
	struct gha_ctx ctx = make_ctx(&a, GHA_SUCCESS);
	struct diag d = DIAG_INIT;
	struct value v;
	struct gha_expr *e = gha_parse(&a, src, strlen(src), NULL, &d);
	if (e && !gha_eval(e, &ctx, &a, &v, &d))
		fail_msg("%s: no error", src);
	if (!strstr(d.msg.buf, want))
		fail_msg("%s: got '%s', want '%s'", src, d.msg.buf, want);
	if (d.loc.col != col || d.loc.line != 1)
		fail_msg("%s: '%s' at %u:%u, want 1:%u", src, d.msg.buf, d.loc.line, d.loc.col,
		         col);
	assert_int_equal(d.code, DIAG_INPUT);
	diag_release(&d);
	arena_release(&a);
}

/* gha_eval_if of src with the given status: "true", "false" or "unknown: hint". */
static void check_if(const char *src, enum gha_status status, const char *want)
{
	struct arena a = ARENA_INIT;
	struct gha_ctx ctx = make_ctx(&a, status);
	struct diag d = DIAG_INIT;
	bool yes = true, unknown = true;
	const char *hint = "unset";
	if (gha_eval_if(src, strlen(src), NULL, &ctx, &a, &yes, &unknown, &hint, &d))
		fail_msg("if: %s: %s", src, d.msg.buf);
	char got[200];
	if (unknown)
		snprintf(got, sizeof(got), "unknown: %s", hint ? hint : "(null)");
	else
		snprintf(got, sizeof(got), "%s", yes ? "true" : "false");
	if (strcmp(got, want))
		fail_msg("if: %s: got %s, want %s", src, got, want);
	if (unknown)
		assert_false(yes);
	else
		assert_null(hint);
	diag_release(&d);
	arena_release(&a);
}

/* gha_interp of src: its value must render as want. */
static void check_interp(const char *src, const char *want)
{
	struct arena a = ARENA_INIT;
	struct gha_ctx ctx = make_ctx(&a, GHA_SUCCESS);
	struct diag d = DIAG_INIT;
	struct value v;
	if (gha_interp(src, strlen(src), NULL, &ctx, &a, &v, &d))
		fail_msg("interp: %s: %s", src, d.msg.buf);
	struct strbuf sb = STRBUF_INIT;
	show(v, &sb);
	if (strcmp(sb.buf, want))
		fail_msg("interp: %s: got %s, want %s", src, sb.buf, want);
	strbuf_release(&sb);
	diag_release(&d);
	arena_release(&a);
}

/* ---- Literals and operators ---- */

static void gha_eval__literals_follow_the_documented_forms(void **state)
{
	/* The documentation's "Example of literals". */
	check("null", "null");
	check("false", "false");
	check("true", "true");
	check("711", "711");
	check("-9.2", "-9.2");
	check("0xff", "255");
	check("-2.99e-2", "-0.0299");
	check("'It''s open source!'", "'It's open source!'");
	check("''", "''");
	check("1e3", "1000");
	check("+7", "7");
	check(".5", "0.5");
	check("NaN", "NaN");
	check("Infinity", "Infinity");
	check("-Infinity", "-Infinity");
	/* The keywords are case-sensitive: True is a (missing) context name. */
	check_err("True", "unrecognized named-value: 'True'", 1);
	/* Double quotes are an error, as the documentation says. */
	check_err("\"a\"", "unexpected symbol: '\"a\"'", 1);
	check_err("'abc", "unexpected symbol: ''abc'", 1);
	check_err("1x", "unexpected symbol: '1x'", 1);
}

static void gha_eval__numbers_print_as_github_does(void **state)
{
	/* .NET's "G15" (ExpressionConstants.NumberFormat): 15 significant digits. */
	check("format('{0}', 1.0)", "'1'");
	check("format('{0}', -0)", "'0'");
	check("format('{0}', 1.5)", "'1.5'");
	check("format('{0}', 100)", "'100'");
	check("format('{0}', 0.0001)", "'0.0001'");
	check("format('{0}', 0.00001)", "'1E-05'");
	check("format('{0}', 123456789012345)", "'123456789012345'");
	check("format('{0}', 1e15)", "'1E+15'");
	check("format('{0}', 1e21)", "'1E+21'");
	check("format('{0}', 1.5e300)", "'1.5E+300'");
	check("format('{0}', fromJSON('0.30000000000000004'))", "'0.3'");
	check("format('{0}', 1.2345678901234567)", "'1.23456789012346'");
	check("format('{0} {1} {2}', NaN, Infinity, -Infinity)", "'NaN Infinity -Infinity'");
	check("format('{0}', 0x7fffffffffff)", "'140737488355327'");
}

static void gha_eval__operators_have_githubs_precedence(void **state)
{
	check("!true == false", "true"); /* (!true) == false */
	check("1 < 2 == true", "true");
	check("true || false && false", "true");
	check("(true || false) && false", "false");
	check("!(1 == 2)", "true");
	check("!!'x'", "true");
	check("1 < 2 < 3", "true"); /* (1 < 2) < 3: true < 3, 1 < 3 */
	check("3 > 2 > 1", "false");
}

static void gha_eval__and_or_return_an_operand(void **state)
{
	check("'a' && 'b'", "'b'");
	check("'' && 'b'", "''");
	check("0 && 'b'", "0");
	check("'' || 'x'", "'x'");
	check("null || false", "false");
	check("'a' || fromJSON('x')", "'a'"); /* short-circuit: not evaluated */
	check("false && fromJSON('x')", "false");
	check("matrix.list || 1", "[1, 2]");
	check("1 && 2 && 3 && 4", "4");
}

static void gha_eval__coerces_mismatched_types_to_numbers(void **state)
{
	/* The documentation's conversion table: null 0, true 1, false 0. */
	check("null == 0", "true");
	check("true == 1", "true");
	check("false == 0", "true");
	check("false == null", "true");
	/* Strings by JavaScript's Number(): '' is 0, hex, whitespace, else NaN. */
	check("'' == 0", "true");
	check("'0x10' == 16", "true");
	check("' 12 ' == 12", "true");
	check("'1e3' == 1000", "true");
	check("'-1.5' == -1.5", "true");
	check("'Infinity' == Infinity", "true");
	check("'0o17' == 15", "true");
	check("'0b101' == 5", "true");
	check("'12abc' == 12", "false");
	check("'abc' == 0", "false");
	check("'-0x1' == -1", "false");
	/* Booleans become numbers before strings do: true == 'true' is 1 == NaN. */
	check("true == 'true'", "false");
	check("true == '1'", "true");
	check("null == ''", "true");
	/* Arrays and objects are NaN, never equal to a primitive. */
	check("fromJSON('[]') == 0", "false");
	check("fromJSON('{}') == null", "false");
	check("fromJSON('[1]') == '1'", "false");
}

static void gha_eval__nan_compares_false(void **state)
{
	check("NaN == NaN", "false");
	check("NaN != NaN", "true");
	check("NaN < 1", "false");
	check("NaN >= NaN", "false");
	check("'abc' < 1", "false");
	check("'abc' >= 1", "false");
	check("fromJSON('[]') < 1", "false");
}

static void gha_eval__compares_strings_ignoring_case(void **state)
{
	check("'abc' == 'ABC'", "true");
	check("'abc' != 'ABC'", "false");
	check("'a' < 'B'", "true");
	check("'B' > 'a'", "true");
	check("'abc' <= 'ABC'", "true");
	check("'\xc3\xa9t\xc3\xa9' == '\xc3\x89T\xc3\x89'", "true"); /* été, ÉTÉ */
	check("'\xce\xb1' == '\xce\x91'", "true");                   /* alpha */
	check("'\xd0\xb4' == '\xd0\x94'", "true");                   /* de */
	check("github.event_name == 'PULL_REQUEST'", "true");
	check("true > false", "true");
	check("false < true", "true");
	check("true >= true", "true");
}

static void gha_eval__compares_arrays_and_objects_by_identity(void **state)
{
	check("github.event == github.event", "true");
	check("github.event.pull_request.labels == github.event.issue.labels", "false");
	check("fromJSON('[]') == fromJSON('[]')", "false");
	check("fromJSON('{}') != fromJSON('{}')", "true");
	check("matrix.list == matrix.list", "true");
}

static void gha_eval__not_follows_truthiness(void **state)
{
	/* Falsy: false, 0, -0, "", '', null; and NaN as in GitHub's runner. */
	check("!false", "true");
	check("!0", "true");
	check("!-0", "true");
	check("!''", "true");
	check("!null", "true");
	check("!NaN", "true");
	check("!'0'", "false");
	check("!'false'", "false");
	check("!fromJSON('[]')", "false");
	check("!fromJSON('{}')", "false");
	check("!0.5", "false");
}

/* ---- Property dereference and object filters ---- */

static void gha_eval__dereferences_ignoring_case(void **state)
{
	check("github.event_name", "'pull_request'");
	check("GitHub.EVENT_NAME", "'pull_request'");
	check("github['event_name']", "'pull_request'");
	check("github['EVENT_name']", "'pull_request'");
	check("github.event.pull_request.number", "42");
	check("matrix.info.cuda", "'12.4'");
	check("matrix['in' && 'info']['cuda']", "'12.4'");
	check("vegetables.beets.ediblePortions[0]", "'roots'");
}

static void gha_eval__missing_members_are_null(void **state)
{
	check("github.nope", "null");
	check("github.nope.deeper", "null");
	check("matrix.list[2]", "null");
	check("matrix.list[-1]", "null");
	check("matrix.list['x']", "null");
	check("matrix.list[1]", "2");
	check("matrix.list['1']", "2");  /* the index as a number */
	check("matrix.list[1.7]", "2");  /* floored */
	check("matrix.list[true]", "2"); /* true is 1 */
	check("matrix.os.length", "null");
	check("matrix.os[0]", "null");
	check("github[github]", "null");
	check("fromJSON('{\"1\": \"one\"}')[1]", "'one'"); /* the key as a string */
	check("(matrix).os", "'ubuntu-latest'");
	check("fromJSON('[[1, 2]]')[0][1]", "2");
}

static void gha_eval__star_filters_arrays_and_objects(void **state)
{
	/* The documentation's object filter examples. */
	check("fruits.*.name", "['apple', 'orange', 'pear']");
	check("fruits[*].quantity", "[1, 2, 1]");
	check("vegetables.*.ediblePortions",
	      "[['roots', 'stalks'], ['roots', 'stems', 'leaves'], ['hearts', 'stems', 'leaves']]");
	check("github.event.pull_request.labels.*.name", "['bug', 'help wanted']");
	check("contains(vegetables.*.ediblePortions.*, 'stems')", "true");
	check("matrix.*", "['ubuntu-latest', 2, [1, 2], {cuda: '12.4'}]");
	check("fruits.*.nope", "[]");
	check("matrix.os.*", "[]");
	/* An index after * applies to each item: [0] of strings finds nothing. */
	check("fruits.*.name[0]", "[]");
	check("vegetables.*.colors[0]", "['green', 'purple', 'green']");
	check("(fruits.*).name", "['apple', 'orange', 'pear']");
	/* Once through a function the result is a plain array again. */
	check("fromJSON(toJSON(fruits.*.name))[0]", "'apple'");
}

/* ---- Functions ---- */

static void gha_eval__contains_ignores_case(void **state)
{
	/* The documentation's examples. */
	check("contains('Hello world', 'llo')", "true");
	check("contains(github.event.issue.labels.*.name, 'bug')", "true");
	check("contains(fromJSON('[\"push\", \"pull_request\"]'), github.event_name)", "true");
	check("contains('Hello world', 'LLO')", "true");
	check("contains('Hello world', 'xyz')", "false");
	check("contains('Hello', '')", "true");
	check("contains(fromJSON('[\"BUG\"]'), 'bug')", "true");
	check("contains(fromJSON('[1, 2]'), '2')", "true"); /* loose equality */
	check("contains(fromJSON('[[1]]'), 1)", "false");
	check("contains(123, 2)", "true"); /* primitives as strings */
	check("contains(true, 'ru')", "true");
	check("contains(null, '')", "true");
	check("contains(github.event, 'x')", "false");
	check("contains('Object', github.event)", "false");
}

static void gha_eval__starts_and_ends_with_ignore_case(void **state)
{
	check("startsWith('Hello world', 'He')", "true");
	check("startsWith('Hello world', 'he')", "true");
	check("startsWith('Hello world', 'world')", "false");
	check("endsWith('Hello world', 'ld')", "true");
	check("endsWith('Hello world', 'LD')", "true");
	check("endsWith('Hello world', 'Hello')", "false");
	check("startsWith('ab', 'abc')", "false");
	check("startsWith('x', '')", "true");
	check("endsWith(12.5, '.5')", "true");
	check("startsWith(matrix.list, 'A')", "false");
	check("STARTSWITH('abc', 'A')", "true"); /* function names ignore case */
}

static void gha_eval__format_replaces_and_escapes_braces(void **state)
{
	/* The documentation's examples. */
	check("format('Hello {0} {1} {2}', 'Mona', 'the', 'Octocat')", "'Hello Mona the Octocat'");
	check("format('{{Hello {0} {1} {2}!}}', 'Mona', 'the', 'Octocat')",
	      "'{Hello Mona the Octocat!}'");
	check("format('{0}{0}{1}', 'a', 'b')", "'aab'");
	check("format('{1}-{0}', 1, 2)", "'2-1'");
	check("format('plain')", "'plain'");
	check("format('{0} {1} {2} {3}', null, true, matrix.list, github)", "' true Array Object'");
	check("format('{00}', 'x')", "'x'");
	check("format('}}{{')", "'}{'");
	check("format('{0}', 'a', fromJSON('bad'))", "'a'"); /* unreferenced: not evaluated */
	check_err("format('{0', 1)", "invalid format string: '{0'", 1);
	check_err("format('{0} }', 1)", "invalid format string", 1);
	check_err("format('{x}', 1)", "invalid format string", 1);
	check_err("format('{}', 1)", "invalid format string", 1);
	check_err("format('{256}', 1)", "invalid format string", 1);
	check_err("format('{1}', 1)", "references more arguments than were supplied", 1);
	check_err("format('{0:D}', 1)", "format specifiers 'D' are not valid for a Number", 1);
	check_err("format()", "too few parameters supplied to format()", 1);
}

static void gha_eval__join_joins_arrays_with_a_separator(void **state)
{
	/* The documentation's example. */
	check("join(github.event.issue.labels.*.name, ', ')", "'bug, help wanted'");
	check("join(fruits.*.name)", "'apple,orange,pear'");
	check("join(matrix.list, 1)", "'112'");
	check("join(matrix.list, github)", "'1,2'"); /* a non-primitive: the default */
	check("join('abc')", "'abc'");
	check("join('abc', '-')", "'abc'");
	check("join(null)", "''");
	check("join(github)", "''");
	check("join(fromJSON('[]'), '-')", "''");
	check("join(fromJSON('[null, true, 1.5, [], {}]'), ' ')", "' true 1.5 Array Object'");
}

static void gha_eval__to_json_pretty_prints_like_github(void **state)
{
	/* The documentation's example: toJSON(job). */
	check("toJSON(job)", "'{\n  \"status\": \"success\"\n}'");
	check("toJSON(matrix)",
	      "'{\n  \"os\": \"ubuntu-latest\",\n  \"gpus\": 2,\n  \"list\": [\n"
	      "    1,\n    2\n  ],\n  \"info\": {\n    \"cuda\": \"12.4\"\n  }\n}'");
	check("toJSON(fromJSON('[]'))", "'[]'");
	check("toJSON(fromJSON('{}'))", "'{}'");
	check("toJSON(fromJSON('[[], {}]'))", "'[\n  [],\n  {}\n]'");
	check("toJSON(null)", "'null'");
	check("toJSON(true)", "'true'");
	check("toJSON(1.5)", "'1.5'");
	check("toJSON('a\"b\\c')", "'\"a\\\"b\\\\c\"'");
	check("toJSON(fromJSON('\"\\n\\t\\u0001\\u00e9\"'))", "'\"\\n\\t\\u0001\xc3\xa9\"'");
}

static void gha_eval__from_json_reads_json(void **state)
{
	check("fromJSON('{\"a\": [1, 2.5, \"x\", null, true, false]}')",
	      "{a: [1, 2.5, 'x', null, true, false]}");
	check("fromJSON(' 42 ')", "42");
	check("fromJSON('\"\\u00e9\\ud83d\\ude00\"')", "'\xc3\xa9\xf0\x9f\x98\x80'");
	check("fromJSON('true') == true", "true");
	check("fromJSON('-1e2')", "-100");
	check("fromJSON('{\"A\": 1}').a", "1");
	check("fromJSON('{\"a\": 1, \"a\": 2}').a", "2");
	check("fromJSON(toJSON(matrix)).info.cuda", "'12.4'");
	check_err("fromJSON('')", "fromJSON: unexpected end of input", 1);
	check_err("fromJSON('{\"a\" 1}')", "fromJSON: expected ':' at offset 5", 1);
	check_err("fromJSON('[1,]')", "fromJSON: unexpected character at offset 3", 1);
	check_err("fromJSON('1 2')", "fromJSON: unexpected data after the JSON value", 1);
	check_err("fromJSON('01')", "unexpected data after", 1);
	check_err("fromJSON('\"abc')", "unterminated string", 1);
	check_err("1 == fromJSON('x')", "fromJSON: unexpected character at offset 0", 6);
}

static void gha_eval__case_picks_the_first_true_predicate(void **state)
{
	check("case(true, 'first', 'default')", "'first'");
	check("case(false, 'first', 'default')", "'default'");
	check("case(false, 'first', true, 'second', 'default')", "'second'");
	check("case(github.ref == 'refs/heads/main', 'main', 'other')", "'main'");
	check("case(true, 1, fromJSON('bad'))", "1"); /* the rest not evaluated */
	check_err("case(1, 'a', 'b')", "predicate must evaluate to a boolean", 6);
	check_err("case(true, 'a')", "too few parameters supplied to case()", 1);
	check_err("case(true, 'a', false, 'b')", "odd number of parameters", 1);
}

static void gha_eval__status_functions_read_the_status(void **state)
{
	check("success()", "true");
	check("failure()", "false");
	check("cancelled()", "false");
	check("always()", "true");
	check_err("success(1)", "too many parameters supplied to success()", 1);
	check_err("hashFiles('**/x')", "hashFiles() is not supported", 1);
}

/* ---- Unknown values ---- */

static void gha_eval__unknown_values_propagate(void **state)
{
	const char *u = "<unknown: output y of job x>";
	check("needs.x.outputs.y", u);
	check("needs.x.outputs.y == 'a'", u);
	check("'a' != needs.x.outputs.y", u);
	check("!needs.x.outputs.y", u);
	check("needs.x.outputs.y.z", u);
	check("needs.x.outputs[needs.x.outputs.y]", u);
	check("contains(needs.x.outputs.y, 'a')", u);
	check("contains('abc', needs.x.outputs.y)", u);
	check("startsWith(needs.x.outputs.y, 'a')", u);
	check("format('{0}!', needs.x.outputs.y)", u);
	check("format(needs.x.outputs.y)", u);
	check("join(needs.*.outputs.y)", u);
	check("toJSON(needs)", u);
	check("fromJSON(needs.x.outputs.y)", u);
	check("case(needs.x.outputs.y == 'a', 1, 2)", u);
	check("needs.x.outputs.y && true", u);
	check("true && needs.x.outputs.y", u);
	check("false || needs.x.outputs.y", u);
	check("needs.*.outputs.*", "["
	                           "<unknown: output y of job x>"
	                           "]");
	check("contains(needs.*.outputs.y, 'a')", u);
	/* Results known without the unknown value stay known. */
	check("false && needs.x.outputs.y", "false");
	check("true || needs.x.outputs.y", "true");
	check("needs.x.outputs.missing", "null");
	check("needs.x.result", "'success'");
	check("format('{0}', 'a', needs.x.outputs.y)", "'a'");
	check("contains(github, needs.x.outputs.y)", "false");
	check("matrix.os[needs.x.outputs.y]", "null");
	check("contains(fromJSON('[\"a\"]'), needs.x.outputs.y)", u);
	check("join(matrix.list, needs.x.outputs.y)", u);
	check("join(fromJSON('[\"a\"]'), needs.x.outputs.y)", "'a'");
	/* A context GitHub defines but the caller did not give is unknown. */
	check("runner.os", "<unknown: the runner context is not known here>");
	check_err("nosuch.thing", "unrecognized named-value: 'nosuch'", 1);
	check_err("1 == foo", "unrecognized named-value: 'foo'", 6);
}

/* ---- Errors ---- */

static void gha_parse__errors_name_the_fault_and_its_column(void **state)
{
	check_err("foo(1)", "unrecognized function: 'foo'", 1);
	check_err("1 == bar(2)", "unrecognized function: 'bar'", 6);
	check_err("contains('a')", "too few parameters supplied to contains() (2 expected)", 1);
	check_err("toJSON(1, 2)", "too many parameters supplied to toJSON() (1 at most)", 1);
	check_err("1 +", "unexpected symbol: '+'", 3);
	check_err("a ==", "unexpected end of expression", 5);
	check_err("", "an expression was expected", 1);
	check_err("   ", "an expression was expected", 4);
	check_err("(1", "unexpected end of expression", 3);
	check_err("(1))", "unexpected symbol: ')'", 4);
	check_err("github.", "unexpected end of expression", 8);
	check_err("github.'x'", "unexpected symbol: ''x''", 8);
	check_err("github[", "unexpected end of expression", 8);
	check_err("github[1", "unexpected end of expression", 9);
	check_err("github[*", "unexpected end of expression", 9);
	check_err("github.a(1)", "unexpected symbol: '('", 9);
	check_err("'a'.length", "unexpected symbol: '.'", 4);
	check_err("'a'[0]", "unexpected symbol: '['", 4);
	check_err("1 = 1", "unexpected symbol: '='", 3);
	check_err("a & b", "unexpected symbol: '&'", 3);
	check_err("a | b", "unexpected symbol: '|'", 3);
	check_err("*", "unexpected symbol: '*'", 1);
	check_err("a b", "unexpected symbol: 'b'", 3);
	check_err("contains('a' 'b')", "unexpected symbol: ''b''", 14);
	check_err("contains('a',)", "unexpected symbol: ')'", 14);
	check_err("a}}", "unexpected symbol: 'a}}'", 1);
	check_err("true()", "unexpected symbol: '('", 5);
	check_err("-", "unexpected symbol: '-'", 1);

	/* With a place: line and column of src[0] plus the offset. */
	struct arena a = ARENA_INIT;
	struct diag d = DIAG_INIT;
	struct srcloc where = {"ci.yml", 7, 12};
	assert_null(gha_parse(&a, "1 == nope(2)", 12, &where, &d));
	assert_string_equal(d.loc.file, "ci.yml");
	assert_int_equal(d.loc.line, 7);
	assert_int_equal(d.loc.col, 17);
	struct strbuf sb = STRBUF_INIT;
	diag_format(&d, &sb);
	assert_string_equal(sb.buf, "ci.yml:7:17: unrecognized function: 'nope'");
	strbuf_release(&sb);
	diag_release(&d);
	arena_release(&a);
}

static void gha_parse__limits_depth_and_length(void **state)
{
	struct arena a = ARENA_INIT;
	struct diag d = DIAG_INIT;
	struct strbuf sb = STRBUF_INIT;

	/* 49 nots over a literal: 50 nodes deep, GitHub's limit. */
	for (int i = 0; i < 49; i++)
		strbuf_addch(&sb, '!');
	strbuf_adds(&sb, "true");
	assert_non_null(gha_parse(&a, sb.buf, sb.len, NULL, &d));
	strbuf_reset(&sb);
	for (int i = 0; i < 50; i++)
		strbuf_addch(&sb, '!');
	strbuf_adds(&sb, "true");
	assert_null(gha_parse(&a, sb.buf, sb.len, NULL, &d));
	assert_string_equal(d.msg.buf, "exceeded max expression depth 50");

	/* A long chain of properties is as deep as it is long. */
	strbuf_reset(&sb);
	strbuf_adds(&sb, "github");
	for (int i = 0; i < 60; i++)
		strbuf_adds(&sb, ".a");
	assert_null(gha_parse(&a, sb.buf, sb.len, NULL, &d));
	assert_string_equal(d.msg.buf, "exceeded max expression depth 50");

	/* Parentheses make no node, but their nesting is bounded too. */
	strbuf_reset(&sb);
	for (int i = 0; i < 150; i++)
		strbuf_addch(&sb, '(');
	strbuf_addch(&sb, '1');
	for (int i = 0; i < 150; i++)
		strbuf_addch(&sb, ')');
	assert_non_null(gha_parse(&a, sb.buf, sb.len, NULL, &d));
	for (int round = 0; round < 2; round++) {
		strbuf_reset(&sb);
		for (int i = 0; i < 10000; i++)
			strbuf_adds(&sb, round ? "a[" : "(");
		assert_null(gha_parse(&a, sb.buf, sb.len, NULL, &d));
		assert_non_null(strstr(d.msg.buf, "nested deeper than 200 levels"));
	}

	/* && and || chains are flat: one node, however long. */
	strbuf_reset(&sb);
	strbuf_adds(&sb, "true");
	for (int i = 0; i < 2000; i++)
		strbuf_adds(&sb, " && true");
	assert_non_null(gha_parse(&a, sb.buf, sb.len, NULL, &d));

	strbuf_reset(&sb);
	strbuf_adds(&sb, "'");
	for (int i = 0; i < 21000; i++)
		strbuf_addch(&sb, 'x');
	strbuf_adds(&sb, "'");
	assert_null(gha_parse(&a, sb.buf, sb.len, NULL, &d));
	assert_string_equal(d.msg.buf, "exceeded max expression length 21000");

	strbuf_release(&sb);
	diag_release(&d);
	arena_release(&a);
}

static void gha_eval__stops_at_the_memory_limit(void **state)
{
	/* Each level multiplies by 16: 16^6 bytes is past 8 MiB. */
	struct strbuf sb = STRBUF_INIT;
	for (int i = 0; i < 6; i++)
		strbuf_adds(&sb, "format('{0}{0}{0}{0}{0}{0}{0}{0}{0}{0}{0}{0}{0}{0}{0}{0}', ");
	strbuf_adds(&sb, "'x'");
	for (int i = 0; i < 6; i++)
		strbuf_addch(&sb, ')');
	check_err(sb.buf, "more than 8 MiB of memory", 1);
	strbuf_release(&sb);
}

static void gha_uses_status__finds_status_functions(void **state)
{
	struct arena a = ARENA_INIT;
	struct diag d = DIAG_INIT;
	const char *with[] = {"success()", "always() && x", "!cancelled()", "FAILURE() || a",
	                      "format('{0}', always())"};
	const char *without[] = {"true", "github.success", "'failure()'", "a.always"};
	for (size_t i = 0; i < sizeof(with) / sizeof(with[0]); i++)
		assert_true(gha_uses_status(gha_parse(&a, with[i], strlen(with[i]), NULL, &d)));
	for (size_t i = 0; i < sizeof(without) / sizeof(without[0]); i++)
		assert_false(
		    gha_uses_status(gha_parse(&a, without[i], strlen(without[i]), NULL, &d)));
	diag_release(&d);
	arena_release(&a);
}

/* ---- if: and ${{ }} ---- */

static void gha_eval_if__implies_success_without_a_status_function(void **state)
{
	check_if("true", GHA_SUCCESS, "true");
	check_if("${{ true }}", GHA_SUCCESS, "true");
	check_if("  ${{ github.event_name == 'pull_request' }}  ", GHA_SUCCESS, "true");
	check_if("github.event_name == 'push'", GHA_SUCCESS, "false");
	check_if("", GHA_SUCCESS, "true");
	check_if("", GHA_FAILURE, "false");
	check_if("true", GHA_FAILURE, "false");
	check_if("fromJSON('bad')", GHA_FAILURE, "false"); /* never evaluated */
	check_if("failure()", GHA_FAILURE, "true");
	check_if("always()", GHA_FAILURE, "true");
	check_if("${{ always() }}", GHA_CANCELLED, "true");
	check_if("cancelled()", GHA_CANCELLED, "true");
	check_if("success() || failure()", GHA_FAILURE, "true");
	check_if("!cancelled()", GHA_FAILURE, "true");
	check_if("true", GHA_SKIPPED, "false");
	check_if("success()", GHA_SKIPPED, "false");
	check_if("failure()", GHA_SKIPPED, "false");
	check_if("always()", GHA_SKIPPED, "true");
	check_if("'0'", GHA_SUCCESS, "true");
	check_if("0", GHA_SUCCESS, "false");
	check_if("github.nope", GHA_SUCCESS, "false");
}

static void gha_eval_if__treats_partial_interpolation_as_a_string(void **state)
{
	/* GitHub splices the parts into a string, which is true unless empty. */
	check_if("${{ false }} == true", GHA_SUCCESS, "true");
	check_if("github.event_name == '${{ 'nope' }}'", GHA_SUCCESS, "true");
	check_if("${{ '' }}${{ '' }}", GHA_SUCCESS, "false");
	check_if("${{ false }} ${{ false }}", GHA_SUCCESS, "true");
	check_if("${{ false }} x", GHA_FAILURE, "false");
	check_if("${{ failure() }} x", GHA_FAILURE, "true");
	check_if("${{ needs.x.outputs.y }}-x", GHA_SUCCESS, "unknown: output y of job x");
}

static void gha_eval_if__reports_unknown_with_its_hint(void **state)
{
	check_if("needs.x.outputs.y == 'a'", GHA_SUCCESS, "unknown: output y of job x");
	check_if("${{ needs.x.outputs.y }}", GHA_SUCCESS, "unknown: output y of job x");
	check_if("needs.x.outputs.y == 'a' || true", GHA_SUCCESS, "true");
	check_if("needs.x.outputs.y == 'a' && false", GHA_SUCCESS, "false");
	check_if("!(needs.x.outputs.y && false)", GHA_SUCCESS, "true");
	check_if("needs.x.outputs.y == 'a' && true", GHA_SUCCESS, "unknown: output y of job x");
	check_if("needs.x.outputs.y", GHA_FAILURE, "false");
	check_if("always() && needs.x.outputs.y", GHA_FAILURE, "unknown: output y of job x");
	check_if("needs.x.result == 'success'", GHA_SUCCESS, "true");
	check_if("runner.os == 'Linux'", GHA_SUCCESS,
	         "unknown: the runner context is not known here");
}

static void gha_eval_if__reports_errors_with_their_place(void **state)
{
	struct arena a = ARENA_INIT;
	struct gha_ctx ctx = make_ctx(&a, GHA_SUCCESS);
	struct diag d = DIAG_INIT;
	struct srcloc where = {"w.yml", 4, 9};
	bool yes, unknown;
	const char *hint;
	const char *src = "${{ nope() }}";
	assert_int_equal(gha_eval_if(src, strlen(src), &where, &ctx, &a, &yes, &unknown, &hint, &d),
	                 -1);
	assert_string_equal(d.msg.buf, "unrecognized function: 'nope'");
	assert_int_equal(d.loc.line, 4);
	assert_int_equal(d.loc.col, 13);
	src = "  a == ";
	assert_int_equal(gha_eval_if(src, strlen(src), NULL, &ctx, &a, &yes, &unknown, &hint, &d),
	                 -1);
	assert_string_equal(d.msg.buf, "unexpected end of expression");
	assert_int_equal(d.loc.col, 7);
	diag_release(&d);
	arena_release(&a);
}

static void gha_interp__gives_a_lone_expression_its_value(void **state)
{
	check_interp("${{ matrix.list }}", "[1, 2]");
	check_interp("${{matrix.gpus}}", "2");
	check_interp("${{   fromJSON('{\"a\": null}')  }}", "{a: null}");
	check_interp("${{ null }}", "null");
	check_interp("${{ needs.x.outputs.y }}", "<unknown: output y of job x>");
	check_interp("no expressions here", "'no expressions here'");
	check_interp("", "''");
	check_interp("$ {{ not one }}", "'$ {{ not one }}'");
}

static void gha_interp__splices_string_forms(void **state)
{
	check_interp("os: ${{ matrix.os }}, gpus: ${{ matrix.gpus }}",
	             "'os: ubuntu-latest, gpus: 2'");
	check_interp(" ${{ matrix.os }}", "' ubuntu-latest'");
	check_interp("[${{ null }}]", "'[]'");
	check_interp("${{ true }}/${{ 1.50 }}", "'true/1.5'");
	check_interp("${{ matrix.list }} ${{ github }}", "'Array Object'");
	check_interp("${{ '}}' }}", "'}}'");
	check_interp("a ${{ format('{0}}}', 1) }} b", "'a 1} b'");
	check_interp("${{ 'x' }}}", "'x}'");
	check_interp("${{ 'a' }}${{ 'b' }}", "'ab'");
	check_interp("v${{ needs.x.outputs.y }}", "<unknown: output y of job x>");

	struct arena a = ARENA_INIT;
	struct diag d = DIAG_INIT;
	struct value v;
	const char *src = "ok ${{ 'x' }} then ${{ 1 == }}";
	assert_int_equal(gha_interp(src, strlen(src), NULL, NULL, &a, &v, &d), -1);
	assert_string_equal(d.msg.buf, "unexpected end of expression");
	assert_int_equal(d.loc.col, 29);
	src = "x ${{ 'a }}";
	assert_int_equal(gha_interp(src, strlen(src), NULL, NULL, &a, &v, &d), -1);
	assert_non_null(strstr(d.msg.buf, "expression not closed"));
	assert_int_equal(d.loc.col, 3);
	diag_release(&d);
	arena_release(&a);
}

static void gha_to_str__and_truthy_match_github(void **state)
{
	struct strbuf sb = STRBUF_INIT;
	gha_to_str(value_none(), &sb);
	gha_to_str(value_bool(false), &sb);
	gha_to_str(value_float(-0.0), &sb);
	gha_to_str(value_float(2.5), &sb);
	gha_to_str(value_int(-12), &sb);
	gha_to_str(value_undef("h"), &sb);
	assert_string_equal(sb.buf, "false02.5-12");
	strbuf_release(&sb);
	assert_false(gha_truthy(value_float(-0.0)));
	assert_false(gha_truthy(value_float(NAN)));
	assert_false(gha_truthy(value_str_static("")));
	assert_false(gha_truthy(value_none()));
	assert_false(gha_truthy(value_undef(NULL)));
	assert_true(gha_truthy(value_str_static("false")));
	struct arena a = ARENA_INIT;
	assert_true(gha_truthy(value_list(&a, 0)));
	assert_true(gha_truthy(value_dict(&a)));
	arena_release(&a);
}

static void gha_eval__survives_hostile_input(void **state)
{
	/* Odd bytes, NULs and truncations: errors, never crashes. */
	static const char *const inputs[] = {
	    "\xff\xfe",
	    "'\xc3",
	    "a.\xc3\xa9",
	    "fromJSON('\\u')",
	    "fromJSON('[[[[')",
	    "format('{',",
	    "a[*].*[*]",
	    "!!!!!!!",
	    "((((",
	    "0x",
	    "0x1g",
	    "1e",
	    "..1",
	    ".",
	    "a..b",
	    "matrix.list[*][*]",
	    "toJSON(github.*.*.*)",
	    "join(fruits.*.*, fruits)",
	    "contains(fruits.*, fruits[0])",
	};
	struct arena a = ARENA_INIT;
	struct gha_ctx ctx = make_ctx(&a, GHA_SUCCESS);
	for (size_t i = 0; i < sizeof(inputs) / sizeof(inputs[0]); i++) {
		struct diag d = DIAG_INIT;
		struct value v;
		struct gha_expr *e = gha_parse(&a, inputs[i], strlen(inputs[i]), NULL, &d);
		if (e)
			(void)gha_eval(e, &ctx, &a, &v, &d);
		diag_release(&d);
	}
	/* A NUL inside an expression is a byte like others. */
	struct diag d = DIAG_INIT;
	assert_null(gha_parse(&a, "1 \0 2", 5, NULL, &d));
	struct value v;
	assert_int_equal(gha_interp("'\0'${{ 1 }}", 11, NULL, &ctx, &a, &v, &d), 0);
	assert_int_equal(v.kind, V_STR);
	assert_int_equal(v.str.len, 4);
	diag_release(&d);
	arena_release(&a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(gha_eval__literals_follow_the_documented_forms),
	    cmocka_unit_test(gha_eval__numbers_print_as_github_does),
	    cmocka_unit_test(gha_eval__operators_have_githubs_precedence),
	    cmocka_unit_test(gha_eval__and_or_return_an_operand),
	    cmocka_unit_test(gha_eval__coerces_mismatched_types_to_numbers),
	    cmocka_unit_test(gha_eval__nan_compares_false),
	    cmocka_unit_test(gha_eval__compares_strings_ignoring_case),
	    cmocka_unit_test(gha_eval__compares_arrays_and_objects_by_identity),
	    cmocka_unit_test(gha_eval__not_follows_truthiness),
	    cmocka_unit_test(gha_eval__dereferences_ignoring_case),
	    cmocka_unit_test(gha_eval__missing_members_are_null),
	    cmocka_unit_test(gha_eval__star_filters_arrays_and_objects),
	    cmocka_unit_test(gha_eval__contains_ignores_case),
	    cmocka_unit_test(gha_eval__starts_and_ends_with_ignore_case),
	    cmocka_unit_test(gha_eval__format_replaces_and_escapes_braces),
	    cmocka_unit_test(gha_eval__join_joins_arrays_with_a_separator),
	    cmocka_unit_test(gha_eval__to_json_pretty_prints_like_github),
	    cmocka_unit_test(gha_eval__from_json_reads_json),
	    cmocka_unit_test(gha_eval__case_picks_the_first_true_predicate),
	    cmocka_unit_test(gha_eval__status_functions_read_the_status),
	    cmocka_unit_test(gha_eval__unknown_values_propagate),
	    cmocka_unit_test(gha_parse__errors_name_the_fault_and_its_column),
	    cmocka_unit_test(gha_parse__limits_depth_and_length),
	    cmocka_unit_test(gha_eval__stops_at_the_memory_limit),
	    cmocka_unit_test(gha_uses_status__finds_status_functions),
	    cmocka_unit_test(gha_eval_if__implies_success_without_a_status_function),
	    cmocka_unit_test(gha_eval_if__treats_partial_interpolation_as_a_string),
	    cmocka_unit_test(gha_eval_if__reports_unknown_with_its_hint),
	    cmocka_unit_test(gha_eval_if__reports_errors_with_their_place),
	    cmocka_unit_test(gha_interp__gives_a_lone_expression_its_value),
	    cmocka_unit_test(gha_interp__splices_string_forms),
	    cmocka_unit_test(gha_to_str__and_truthy_match_github),
	    cmocka_unit_test(gha_eval__survives_hostile_input),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
