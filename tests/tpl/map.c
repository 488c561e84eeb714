/*
 * Source maps (tpl_render_map): every output byte's template place,
 * checked against places computed here from the raw template text, not
 * from the engine's tokens.
 */
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tpl/tpl.h"

/* A template rendered with its map. */
struct mapped {
	struct strbuf out;
	struct tpl_map *map;
};

static void render_mapped(const char *src, size_t len, struct mapped *m)
{
	struct tpl *t;
	struct diag d = DIAG_INIT;
	m->out = (struct strbuf)STRBUF_INIT;
	m->map = NULL;
	if (tpl_compile(&t, src, len, "t.j2", NULL, &d) < 0)
		fail_msg("compile: %u: %s\n%s", d.loc.line, d.msg.buf, src);
	if (tpl_render_map(t, NULL, &m->out, &m->map, &d) < 0)
		fail_msg("render: %u: %s\n%s", d.loc.line, d.msg.buf, src);
	/* The map changes nothing in the output. */
	struct strbuf plain = STRBUF_INIT;
	assert_int_equal(tpl_render(t, &plain, &d), 0);
	assert_int_equal(plain.len, m->out.len);
	assert_memory_equal(plain.buf, m->out.buf, plain.len);
	strbuf_release(&plain);
	tpl_free(t);
	diag_release(&d);
}

static void release_mapped(struct mapped *m)
{
	strbuf_release(&m->out);
	tpl_map_free(m->map);
}

/*
 * The offset in the raw text src[0..len) of line:col, lines ended by
 * "\r\n", "\r" or "\n" as Jinja2 ends them; fails when col is past the
 * line (its line end counts as in it).
 */
static size_t raw_offset(const char *src, size_t len, unsigned line, unsigned col)
{
	size_t i = 0;
	for (unsigned l = 1; l < line; l++) {
		while (i < len && src[i] != '\n' && src[i] != '\r')
			i++;
		if (i >= len)
			fail_msg("line %u is past the template's end", line);
		i += src[i] == '\r' && i + 1 < len && src[i + 1] == '\n' ? 2 : 1;
	}
	size_t end = i;
	while (end < len && src[end] != '\n' && src[end] != '\r')
		end++;
	if (col < 1 || i + col - 1 > end)
		fail_msg("%u:%u is past the line's end", line, col);
	return i + col - 1;
}

/* Whether raw offset p is the first byte of a `<< ... >>` expression. */
static bool starts_expression(const char *src, size_t p)
{
	while (p > 0 && src[p - 1] == ' ')
		p--;
	if (p > 0 && (src[p - 1] == '-' || src[p - 1] == '+'))
		p--;
	return p >= 2 && src[p - 2] == '<' && src[p - 1] == '<';
}

/*
 * Checks every byte of the rendering of src, a template whose text is never
 * upper case and whose expressions each print one upper-case letter (and
 * are spelled from it): text bytes map to the template byte they copy,
 * expression bytes to the expression's first byte, which is that letter.
 * Returns how many bytes came from each.
 */
static void check_every_byte(const char *src, size_t len, size_t *ntext, size_t *nexpr)
{
	struct mapped m;
	render_mapped(src, len, &m);
	*ntext = *nexpr = 0;
	for (size_t k = 0; k < m.out.len; k++) {
		unsigned line, col;
		char o = m.out.buf[k];
		if (!tpl_map_find(m.map, k, &line, &col))
			fail_msg("output byte %zu ('%c') has no place\n%s", k, o, src);
		size_t p = raw_offset(src, len, line, col);
		char c = src[p];
		bool same = c == o || (o == '\n' && c == '\r');
		if (!same)
			fail_msg("output byte %zu '%c' maps to %u:%u, '%c'\n%s", k, o, line, col, c,
			         src);
		if (o >= 'A' && o <= 'Z') {
			if (!starts_expression(src, p))
				fail_msg(
				    "output byte %zu '%c' maps to %u:%u, not an expression\n%s", k,
				    o, line, col, src);
			(*nexpr)++;
		} else {
			(*ntext)++;
		}
	}
	unsigned line, col;
	assert_false(tpl_map_find(m.map, m.out.len, &line, &col));
	release_mapped(&m);
}

/* The place of output byte k, as "line:col". */
static const char *place(const struct mapped *m, size_t k)
{
	static char buf[32];
	unsigned line, col;
	if (!tpl_map_find(m->map, k, &line, &col))
		return "none";
	snprintf(buf, sizeof(buf), "%u:%u", line, col);
	return buf;
}

/* Asserts the places of output bytes from..to (inclusive) are all want. */
static void expect_places(const struct mapped *m, size_t from, size_t to, const char *want)
{
	for (size_t k = from; k <= to; k++)
		if (strcmp(place(m, k), want) != 0)
			fail_msg("output byte %zu '%c': %s, want %s", k, m->out.buf[k], place(m, k),
			         want);
}

static const char sets[] = "<% set Q = 'QQ' %><% set R = 'R' %><% set S = 'SSS' %>";

static void map__text_and_expressions_on_many_lines(void **state)
{
	(void)state;
	struct strbuf src = STRBUF_INIT;
	strbuf_adds(&src, sets);
	strbuf_adds(&src, "jobs:\n  a:\n    run: << Q >> x <<R>>\n\n  b: <<- S ->>  !\nend\n");
	size_t nt, ne;
	check_every_byte(src.buf, src.len, &nt, &ne);
	assert_int_equal(ne, 6);
	assert_int_equal(nt, strlen("jobs:\n  a:\n    run:  x \n\n  b:!\nend"));
	struct mapped m;
	render_mapped(src.buf, src.len, &m);
	assert_string_equal(m.out.buf, "jobs:\n  a:\n    run: QQ x R\n\n  b:SSS!\nend");
	size_t at = strlen(sets);
	char want[32];
	snprintf(want, sizeof(want), "1:%zu", at + 1);
	expect_places(&m, 0, 0, want); /* 'j' */
	snprintf(want, sizeof(want), "1:%zu", at + 6);
	expect_places(&m, 5, 5, want); /* the "\n" ending line 1 */
	expect_places(&m, 6, 6, "2:1");
	expect_places(&m, 20, 21, "3:13"); /* QQ */
	expect_places(&m, 22, 22, "3:17");
	expect_places(&m, 25, 25, "3:22"); /* R, written <<R>> */
	expect_places(&m, 32, 34, "5:10"); /* SSS, after <<- */
	expect_places(&m, 35, 35, "5:17"); /* !, after ->> stripped the spaces */
	release_mapped(&m);
	strbuf_release(&src);
}

static void map__exact_places(void **state)
{
	(void)state;
	const char *src = "ab\n"
	                  "c << Q >>d\n"
	                  "<% for i in [1, 2] %>"
	                  "-<< i >>-\n"
	                  "<% endfor %>"
	                  "e";
	struct mapped m;
	/* No sets: Q is undefined and prints nothing. */
	render_mapped(src, strlen(src), &m);
	assert_string_equal(m.out.buf, "ab\nc d\n-1-\n-2-\ne");
	expect_places(&m, 0, 0, "1:1");
	expect_places(&m, 1, 1, "1:2");
	expect_places(&m, 2, 2, "1:3"); /* the "\n" */
	expect_places(&m, 3, 3, "2:1");
	expect_places(&m, 4, 4, "2:2");
	expect_places(&m, 5, 5, "2:10"); /* d: Q printed nothing */
	expect_places(&m, 6, 6, "2:11");
	/* Each iteration's text maps to the same places. */
	for (size_t it = 0; it < 2; it++) {
		size_t b = 7 + 4 * it;
		expect_places(&m, b, b, "3:22");
		expect_places(&m, b + 1, b + 1, "3:26"); /* i: the expression */
		expect_places(&m, b + 2, b + 2, "3:30");
		expect_places(&m, b + 3, b + 3, "3:31");
	}
	expect_places(&m, 15, 15, "4:13");
	release_mapped(&m);
}

static void map__whitespace_control_and_raw_blocks(void **state)
{
	(void)state;
	const char *src = "a  \n <%- if true -%>  \n b <%- endif +%> c\n"
	                  "<% raw -%>  << x >> <%- endraw %>|{#- gone -#}  |";
	struct mapped m;
	render_mapped(src, strlen(src), &m);
	assert_string_equal(m.out.buf, "ab c\n<< x >>||");
	expect_places(&m, 0, 0, "1:1");
	expect_places(&m, 1, 1, "3:2"); /* b: after the stripped "  \n " */
	expect_places(&m, 2, 2, "3:17");
	expect_places(&m, 3, 3, "3:18");
	expect_places(&m, 4, 4, "3:19");
	for (size_t k = 0; k < 7; k++) {
		char want[16];
		snprintf(want, sizeof(want), "4:%zu", 13 + k);
		expect_places(&m, 5 + k, 5 + k, want);
	}
	expect_places(&m, 12, 12, "4:34");
	expect_places(&m, 13, 13, "4:49");
	size_t nt, ne;
	check_every_byte(src, strlen(src), &nt, &ne);
	assert_int_equal(nt, strlen("ab c\n<< x >>||"));
	release_mapped(&m);
}

static void map__crlf_and_lone_cr_end_lines(void **state)
{
	(void)state;
	const char *src = "<% set Q = 'Q' %>a\r\nb << Q >>\rc\r\n\r\n";
	struct mapped m;
	render_mapped(src, strlen(src), &m);
	assert_string_equal(m.out.buf, "a\nb Q\nc\n");
	expect_places(&m, 0, 0, "1:18");
	expect_places(&m, 1, 1, "1:19");
	expect_places(&m, 2, 2, "2:1");
	expect_places(&m, 4, 4, "2:6");
	expect_places(&m, 5, 5, "2:10");
	expect_places(&m, 6, 6, "3:1");
	expect_places(&m, 7, 7, "3:2");
	size_t nt, ne;
	check_every_byte(src, strlen(src), &nt, &ne);
	assert_int_equal(ne, 1);
	release_mapped(&m);
}

static void map__macro_text_maps_into_the_macro_body(void **state)
{
	(void)state;
	const char *src = "<% macro MAC(a, b='R') %>hi << a >>, << b >>!\n"
	                  "<% endmacro %>"
	                  "x: << MAC('Q') >>y: << MAC('S', b=MAC('Q')) >>\n"
	                  "<% set v = MAC('Q') %>z: << v >>\n"
	                  "up: << MAC('Q') | upper >>\n"
	                  "<% set blk %>in block << 'Q' >><% endset %>w: << blk >>\n"
	                  "<% filter upper %>f << 'Q' >><% endfilter %>";
	struct mapped m;
	render_mapped(src, strlen(src), &m);
	const char *out = m.out.buf;
	assert_string_equal(out, "x: hi Q, R!\ny: hi S, hi Q, R!\n!\n\nz: hi Q, R!\n\n"
	                         "up: HI Q, R!\n\nw: in block Q\nF Q");
	/* The macro's text maps into its body, for every call printed as it is. */
	const char *at = out;
	for (int call = 0; call < 4; call++) {
		at = strstr(at, "hi ");
		assert_non_null(at);
		size_t k = (size_t)(at - out);
		expect_places(&m, k, k, "1:26");         /* h */
		expect_places(&m, k + 2, k + 2, "1:28"); /* the space */
		expect_places(&m, k + 3, k + 3, "1:32"); /* the argument: `a` in the body */
		at += 3;
	}
	/* b=MAC('Q'): the inner call's text is in the body too, through `<< b >>`. */
	size_t inner = (size_t)(strstr(out, "S, hi Q") - out) + 3;
	expect_places(&m, inner, inner, "1:26");
	/* Changed by a filter: the bytes map to the expression that printed them. */
	size_t up = (size_t)(strstr(out, "HI Q") - out);
	expect_places(&m, up, up + 6, "4:8");
	/* A block set maps into the block; a filter block to its tag. */
	size_t w = (size_t)(strstr(out, "in block") - out);
	expect_places(&m, w, w, "5:14");
	expect_places(&m, w + 9, w + 9, "5:26");
	size_t f = (size_t)(strstr(out, "F Q") - out);
	expect_places(&m, f, f + 2, "6:11");
	release_mapped(&m);
}

static void map__offsets_count_from_what_the_render_appends(void **state)
{
	(void)state;
	struct tpl *t;
	struct diag d = DIAG_INIT;
	const char *src = "ab";
	assert_int_equal(tpl_compile(&t, src, 2, "t.j2", NULL, &d), 0);
	struct strbuf out = STRBUF_INIT;
	strbuf_adds(&out, "header\n");
	struct tpl_map *map;
	assert_int_equal(tpl_render_map(t, NULL, &out, &map, &d), 0);
	tpl_free(t); /* the map outlives the template */
	assert_string_equal(out.buf, "header\nab");
	unsigned line, col;
	assert_true(tpl_map_find(map, 1, &line, &col));
	assert_int_equal(line, 1);
	assert_int_equal(col, 2);
	assert_false(tpl_map_find(map, 2, &line, &col));
	assert_false(tpl_map_find(NULL, 0, &line, &col));
	tpl_map_free(map);
	tpl_map_free(NULL);
	/* A failed render gives no map. */
	assert_int_equal(tpl_compile(&t, "a<< 1 // 0 >>", 13, "t.j2", NULL, &d), 0);
	map = (struct tpl_map *)&out;
	assert_int_equal(tpl_render_map(t, NULL, &out, &map, &d), -1);
	assert_null(map);
	tpl_free(t);
	/* An empty output maps nothing. */
	assert_int_equal(tpl_compile(&t, "<% if false %>x<% endif %>", 26, "t.j2", NULL, &d), 0);
	strbuf_reset(&out);
	assert_int_equal(tpl_render_map(t, NULL, &out, &map, &d), 0);
	assert_false(tpl_map_find(map, 0, &line, &col));
	tpl_map_free(map);
	tpl_free(t);
	strbuf_release(&out);
	diag_release(&d);
}

/* ---- random templates ---------------------------------------------------- */

static unsigned long long rng_state;

static unsigned rnd(unsigned n)
{
	rng_state = rng_state * 6364136223846793005ULL + 1442695040888963407ULL;
	return (unsigned)((rng_state >> 33) % n);
}

static void add_text(struct strbuf *sb, bool crlf)
{
	/* Never upper case; no piece makes a delimiter with its neighbour. */
	static const char *const pieces[] = {"a", "bc", " ",  "  ", "-", ": ", "x.y", "< ",
	                                     "%", "#",  "{ ", "}",  ">", "\n", "\n  "};
	for (unsigned n = 1 + rnd(5); n > 0; n--) {
		const char *p = pieces[rnd(sizeof(pieces) / sizeof(*pieces))];
		if (crlf && p[0] == '\n') {
			strbuf_adds(sb, "\r\n");
			p++;
		}
		strbuf_adds(sb, p);
	}
}

/* A delimiter with whitespace control at random: "-" always, "+" where allowed. */
static void add_open(struct strbuf *sb, const char *open, bool plus)
{
	static const char *const ctl[] = {"", "", "-", "+"};
	strbuf_adds(sb, open);
	strbuf_adds(sb, ctl[rnd(plus ? 4 : 3)]);
	strbuf_adds(sb, rnd(2) ? " " : "");
}

static void add_close(struct strbuf *sb, const char *close, bool plus)
{
	static const char *const ctl[] = {"", "", "-", "+"};
	strbuf_adds(sb, rnd(2) ? " " : "");
	strbuf_adds(sb, ctl[rnd(plus ? 4 : 3)]);
	strbuf_adds(sb, close);
}

/* A statement tag: open, body, close. */
static void add_tag(struct strbuf *sb, const char *body)
{
	add_open(sb, "<%", true);
	strbuf_adds(sb, body);
	add_close(sb, "%>", strcmp(body, "raw") != 0); /* Jinja2 has no "raw +%>" */
}

static void add_expr(struct strbuf *sb, const char *e)
{
	add_open(sb, "<<", false);
	strbuf_adds(sb, e);
	add_close(sb, ">>", false);
}

/*
 * One random piece of template. Expressions print upper-case letters and
 * start with the letter they print (Q prints "QQ"), or call MAC, whose body
 * is pieces too (mac: inside it, where MAC is not called).
 */
static void add_piece(struct strbuf *sb, int depth, bool crlf, bool mac)
{
	switch (depth > 2 ? rnd(2) : rnd(9)) {
	case 0:
		add_text(sb, crlf);
		break;
	case 1: {
		static const char *const vars[] = {"Q", "R", "S", "T", "MAC()", "MAC('Q')"};
		add_expr(sb, vars[rnd(mac ? 4 : 6)]);
		break;
	}
	case 2:
		add_tag(sb, "for i in [1, 2]");
		add_piece(sb, depth + 1, crlf, mac);
		add_piece(sb, depth + 1, crlf, mac);
		add_tag(sb, "endfor");
		break;
	case 3:
		add_tag(sb, rnd(2) ? "if true" : "if false");
		add_piece(sb, depth + 1, crlf, mac);
		add_tag(sb, "else");
		add_piece(sb, depth + 1, crlf, mac);
		add_tag(sb, "endif");
		break;
	case 4:
		add_tag(sb, "raw");
		add_text(sb, crlf);
		strbuf_adds(sb, "<< q >>");
		add_tag(sb, "endraw");
		break;
	case 5:
		add_open(sb, "{#", true);
		strbuf_adds(sb, "Q << R >>");
		add_close(sb, "#}", true);
		break;
	case 6:
		add_tag(sb, "set T");
		add_piece(sb, depth + 1, crlf, mac);
		add_tag(sb, "endset");
		add_expr(sb, "T");
		break;
	default:
		add_text(sb, crlf);
		add_piece(sb, depth + 1, crlf, mac);
	}
}

static void map__random_templates_map_every_byte(void **state)
{
	(void)state;
	rng_state = 20261126;
	size_t total_text = 0, total_expr = 0;
	for (int n = 0; n < 3000; n++) {
		bool crlf = rnd(4) == 0;
		struct strbuf sb = STRBUF_INIT;
		strbuf_adds(&sb, "<% set Q = 'QQ' %><% set R = 'R' %><% set S = 'SSS' %>");
		strbuf_adds(&sb, "<% set T = 'TT' %><% macro MAC(a='S') %>");
		add_piece(&sb, 1, crlf, true);
		add_piece(&sb, 1, crlf, true);
		strbuf_adds(&sb, "<% endmacro %>");
		for (unsigned k = 1 + rnd(6); k > 0; k--)
			add_piece(&sb, 0, crlf, false);
		size_t nt, ne;
		check_every_byte(sb.buf, sb.len, &nt, &ne);
		total_text += nt;
		total_expr += ne;
		strbuf_release(&sb);
	}
	/* The templates exercised both kinds, many times. */
	assert_true(total_text > 10000);
	assert_true(total_expr > 10000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(map__text_and_expressions_on_many_lines),
	    cmocka_unit_test(map__exact_places),
	    cmocka_unit_test(map__whitespace_control_and_raw_blocks),
	    cmocka_unit_test(map__crlf_and_lone_cr_end_lines),
	    cmocka_unit_test(map__macro_text_maps_into_the_macro_body),
	    cmocka_unit_test(map__offsets_count_from_what_the_render_appends),
	    cmocka_unit_test(map__random_templates_map_every_byte),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
