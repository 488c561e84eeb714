/*
 * The renderer: runs the tree as Jinja2's generated Python code would.
 * Scoping follows Jinja2: a for loop's body gets a fresh scope on every
 * iteration, macros and filter blocks get their own, `if` gets none.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "tpl/tpl_int.h"
#include "value/bigint.h"
#include "value/pymath.h"
#include "base/xalloc.h"
#include "base/banned.h"

#define MAX_CALL_DEPTH 200

struct frame {
	struct frame *parent;
	struct vdict vars;
};

enum func_kind { F_MACRO, F_METHOD, F_RANGE, F_DICT, F_CYCLE, F_UNSUPPORTED };

struct vfunc {
	enum func_kind kind;
	const char *name;
	const struct node *macro;
	struct frame *closure;
	struct value self;
};

void tpl_failf(struct rctx *r, const char *fmt, ...)
{
	va_list ap;
	r->d->code = DIAG_INPUT;
	strbuf_reset(&r->d->msg);
	va_start(ap, fmt);
	strbuf_vaddf(&r->d->msg, fmt, ap);
	va_end(ap);
	r->d->loc = (struct srcloc){r->t->name, r->line, 0};
}

struct value tpl_strval(struct rctx *r, const struct strbuf *sb)
{
	r->oversize |= strbuf_failed(sb);
	return value_strbuf(r->a, sb);
}

static struct value undef_named(struct rctx *r, const char *name)
{
	struct strbuf sb = TPL_STRBUF(r);
	strbuf_addf(&sb, "'%s' is undefined", name);
	struct value v = value_undef(arena_strndup(r->a, sb.buf, sb.len));
	strbuf_release(&sb);
	return v;
}

/* Jinja2's object_type_repr: "dict object", "None", ... */
static void type_repr(struct value v, struct strbuf *sb)
{
	if (v.kind == V_NONE)
		strbuf_adds(sb, "None");
	else
		strbuf_addf(sb, "%s object", value_type_name(v));
}

static struct value undef_attr(struct rctx *r, struct value obj, const char *name)
{
	struct strbuf sb = TPL_STRBUF(r);
	strbuf_addch(&sb, '\'');
	type_repr(obj, &sb);
	strbuf_addf(&sb, "' has no attribute '%s'", name);
	struct value v = value_undef(arena_strndup(r->a, sb.buf, sb.len));
	strbuf_release(&sb);
	return v;
}

static struct value undef_item(struct rctx *r, struct value obj, struct value key)
{
	struct strbuf sb = TPL_STRBUF(r);
	strbuf_addch(&sb, '\'');
	type_repr(obj, &sb);
	strbuf_adds(&sb, "' has no element ");
	value_repr_into(key, &sb);
	struct value v = value_undef(arena_strndup(r->a, sb.buf, sb.len));
	strbuf_release(&sb);
	return v;
}

void tpl_str_into(struct rctx *r, struct value v, struct strbuf *sb, bool repr)
{
	if (v.kind == V_LIST || v.kind == V_DICT || v.kind == V_FUNC)
		r->unprintable |= !value_printable(v);
	if (repr)
		value_repr_into(v, sb);
	else
		value_str_into(v, sb);
}

struct value tpl_to_str(struct rctx *r, struct value v)
{
	if (v.kind == V_STR)
		return v;
	struct strbuf sb = TPL_STRBUF(r);
	tpl_str_into(r, v, &sb, false);
	struct value s = tpl_strval(r, &sb);
	strbuf_release(&sb);
	return s;
}

struct value tpl_escape(struct rctx *r, struct value v)
{
	if (v.kind == V_STR && v.safe)
		return v;
	struct value s = tpl_to_str(r, v);
	struct strbuf sb = TPL_STRBUF(r);
	for (size_t i = 0; i < s.str.len; i++) {
		char c = s.str.s[i];
		switch (c) {
		case '&':
			strbuf_adds(&sb, "&amp;");
			break;
		case '<':
			strbuf_adds(&sb, "&lt;");
			break;
		case '>':
			strbuf_adds(&sb, "&gt;");
			break;
		case '"':
			strbuf_adds(&sb, "&#34;");
			break;
		case '\'':
			strbuf_adds(&sb, "&#39;");
			break;
		default:
			strbuf_addch(&sb, c);
		}
	}
	struct value out = tpl_strval(r, &sb);
	out.safe = true;
	strbuf_release(&sb);
	return out;
}

static struct value mkfunc(struct rctx *r, enum func_kind kind, const char *name, struct value self)
{
	struct vfunc *f = arena_alloc(r->a, sizeof(*f));
	f->kind = kind;
	f->name = name;
	f->self = self;
	struct value v = {.kind = V_FUNC};
	v.func = f;
	return v;
}

/* ---- attribute and item access ---- */

static const char *const str_methods[] = {
    "startswith", "endswith",   "split",   "rsplit",  "strip",   "lstrip",  "rstrip",
    "replace",    "upper",      "lower",   "format",  "join",    "title",   "capitalize",
    "count",      "find",       "isdigit", "isalpha", "isalnum", "isspace", "islower",
    "isupper",    "splitlines", "zfill",   NULL};
static const char *const dict_methods[] = {"get", "items", "keys", "values", NULL};
static const char *const python_attrs_dict[] = {"pop",        "update",  "copy",     "clear",
                                                "setdefault", "popitem", "fromkeys", NULL};
static const char *const python_attrs_list[] = {"append", "extend",  "insert", "pop",
                                                "remove", "reverse", "sort",   "copy",
                                                "clear",  "index",   "count",  NULL};

static bool in_list(const char *const *list, const char *name)
{
	for (; *list; list++)
		if (!strcmp(*list, name))
			return true;
	return false;
}

/* Python attribute lookup: a method, or false when there is none. */
static bool python_attr(struct rctx *r, struct value v, const char *name, struct value *out)
{
	if (v.kind == V_STR && in_list(str_methods, name)) {
		*out = mkfunc(r, F_METHOD, name, v);
		return true;
	}
	if (v.kind == V_DICT && in_list(dict_methods, name)) {
		*out = mkfunc(r, F_METHOD, name, v);
		return true;
	}
	if ((v.kind == V_DICT && in_list(python_attrs_dict, name)) ||
	    (v.kind == V_LIST && in_list(python_attrs_list, name))) {
		*out = mkfunc(r, F_UNSUPPORTED, name, v);
		return true;
	}
	return false;
}

/* obj[key] in Python; false when Python raises (a miss). */
static bool python_item(struct rctx *r, struct value obj, struct value key, struct value *out)
{
	if (obj.kind == V_DICT) {
		struct value *v = vdict_get(obj.dict, key);
		if (v)
			*out = *v;
		return v != NULL;
	}
	if ((obj.kind == V_LIST || obj.kind == V_STR) && !obj.lazy &&
	    (key.kind == V_INT || key.kind == V_BOOL)) {
		int64_t i = key.kind == V_INT ? key.i : key.b;
		size_t n;
		value_length(obj, &n);
		if (i < 0)
			i += (int64_t)n;
		if (i < 0 || (size_t)i >= n)
			return false;
		if (obj.kind == V_LIST) {
			*out = obj.list->items[i];
			return true;
		}
		const char *p = obj.str.s, *end = p + obj.str.len;
		for (int64_t k = 0; k < i; k++)
			p += utf8_step(p, end);
		*out = value_str(r->a, p, utf8_step(p, end));
		return true;
	}
	return false;
}

int tpl_getattr(struct rctx *r, struct value v, const char *name, struct value *out)
{
	if (v.kind == V_UNDEF)
		return tpl_fail_undefined(r, v);
	if (python_attr(r, v, name, out))
		return 0;
	if (python_item(r, v, value_str_static(name), out))
		return 0;
	*out = undef_attr(r, v, name);
	return 0;
}

int tpl_getitem(struct rctx *r, struct value v, struct value key, struct value *out)
{
	if (v.kind == V_UNDEF)
		return tpl_fail_undefined(r, v);
	if (python_item(r, v, key, out))
		return 0;
	if (key.kind == V_STR && python_attr(r, v, key.str.s, out))
		return 0;
	*out = key.kind == V_STR ? undef_attr(r, v, key.str.s) : undef_item(r, v, key);
	return 0;
}

int tpl_iterate(struct rctx *r, struct value v, struct value *list_out)
{
	switch (v.kind) {
	case V_UNDEF:
		*list_out = value_list(r->a, 0);
		return 0;
	case V_LIST:
		*list_out = v;
		list_out->tuple = false;
		list_out->range = false;
		list_out->lazy = VL_NONE;
		return 0;
	case V_DICT: {
		struct value l = value_list(r->a, v.dict->n);
		for (size_t i = 0; i < v.dict->n; i++)
			l.list->items[i] = v.dict->keys[i];
		*list_out = l;
		return 0;
	}
	case V_STR: {
		size_t n;
		value_length(v, &n);
		struct value l = value_list(r->a, n);
		const char *p = v.str.s, *end = p + v.str.len;
		for (size_t i = 0; i < n; i++) {
			size_t w = utf8_step(p, end);
			l.list->items[i] = value_str(r->a, p, w);
			p += w;
		}
		*list_out = l;
		return 0;
	}
	default:
		return tpl_fail(r, "'%s' object is not iterable", value_type_name(v));
	}
}

/* ---- arithmetic ---- */

static bool numeric(struct value v)
{
	return vint_is(v) || v.kind == V_FLOAT;
}

/* float(v) of a number; VINT_OVERFLOW for an int too large. */
static int to_double(struct value v, double *out)
{
	if (v.kind == V_FLOAT) {
		*out = v.f;
		return 0;
	}
	return vint_to_double(v, out);
}

static int64_t i64(struct value v)
{
	return v.kind == V_INT ? v.i : (int64_t)v.b;
}

static const char *op_symbol(enum op op)
{
	switch (op) {
	case OP_ADD:
		return "+";
	case OP_SUB:
		return "-";
	case OP_MUL:
		return "*";
	case OP_DIV:
		return "/";
	case OP_FLOORDIV:
		return "//";
	case OP_MOD:
		return "%";
	case OP_POW:
		return "** or pow()";
	default:
		return "?";
	}
}

static int type_error(struct rctx *r, enum op op, struct value x, struct value y)
{
	return tpl_fail(r, "unsupported operand type(s) for %s: '%s' and '%s'", op_symbol(op),
	                value_type_name(x), value_type_name(y));
}

static int overflow(struct rctx *r)
{
	return tpl_fail(r, "an int beyond %d bits is not supported", VINT_MAX_BITS);
}

/* Python's float floor division and modulo (sign of the divisor). */
static void float_divmod(double a, double b, double *div, double *mod)
{
	double m = py_fmod(a, b);
	double d = (a - m) / b;
	if (m != 0) {
		if ((b < 0) != (m < 0)) {
			m += b;
			d -= 1.0;
		}
	} else {
		m = __builtin_copysign(0.0, b);
	}
	double fd;
	if (d != 0) {
		fd = py_floor(d);
		if (d - fd > 0.5)
			fd += 1.0;
	} else {
		fd = __builtin_copysign(0.0, a / b);
	}
	*div = fd;
	*mod = m;
}

static struct value concat_str(struct rctx *r, struct value x, struct value y)
{
	if (x.str.len + y.str.len > r->t->max_bytes) {
		r->oversize = true;
		return x;
	}
	/* Markup escapes what is added to it; plain strings stay plain. */
	bool safe = x.safe || y.safe;
	if (safe) {
		x = tpl_escape(r, x);
		y = tpl_escape(r, y);
	}
	char *s = arena_alloc(r->a, x.str.len + y.str.len + 1);
	memcpy(s, x.str.s, x.str.len);
	memcpy(s + x.str.len, y.str.s, y.str.len);
	struct value v = {.kind = V_STR, .safe = safe};
	v.str.s = s;
	v.str.len = x.str.len + y.str.len;
	return v;
}

static int repeat(struct rctx *r, struct value seq, int64_t times, struct value *out)
{
	if (times < 0)
		times = 0;
	size_t len;
	value_length(seq, &len);
	if (len == 0)
		times = 0; /* [] * 10**9 is [] at once, not after a billion copies */
	if (seq.kind == V_STR) {
		if (seq.str.len && (uint64_t)times > r->t->max_bytes / seq.str.len)
			return tpl_fail(r, "string repetition too large");
		struct strbuf sb = TPL_STRBUF(r);
		for (int64_t i = 0; i < times; i++)
			strbuf_add(&sb, seq.str.s, seq.str.len);
		*out = tpl_strval(r, &sb);
		out->safe = seq.safe;
		strbuf_release(&sb);
		return 0;
	}
	if (seq.list->n && (uint64_t)times > r->t->max_bytes / 16 / seq.list->n)
		return tpl_fail(r, "list repetition too large");
	struct value l = value_list(r->a, seq.list->n * (size_t)times);
	for (int64_t i = 0; i < times; i++)
		memcpy(l.list->items + (size_t)i * seq.list->n, seq.list->items,
		       seq.list->n * sizeof(struct value));
	l.tuple = seq.tuple;
	*out = l;
	return 0;
}

/*
 * Python's %d, %x, %X, %o of an int with the flags, width and precision in
 * spec ("%" then flags, digits, "." digits): sign, then the 0x/0o prefix of
 * '#', then digits padded to the precision; '-' pads on the right, '0'
 * between the prefix and the digits, else spaces on the left.
 */
static void format_int(struct value v, const char *spec, char conv, struct strbuf *out)
{
	bool left = false, zero = false, plus = false, space = false, alt = false;
	const char *p = spec + 1;
	for (; *p && strchr("-+ 0#", *p); p++) {
		left |= *p == '-';
		zero |= *p == '0';
		plus |= *p == '+';
		space |= *p == ' ';
		alt |= *p == '#';
	}
	size_t width = strtoul(p, NULL, 10), prec = 0;
	const char *dot = strchr(p, '.');
	if (dot)
		prec = strtoul(dot + 1, NULL, 10);
	struct strbuf digits = STRBUF_INIT, head = STRBUF_INIT;
	bool neg = vint_sign(v) < 0;
	if (conv == 'x' || conv == 'X' || conv == 'o')
		vint_mag_to_base(v, conv == 'o' ? 8 : 16, conv == 'X', &digits);
	else
		vint_to_str(v, &digits);
	if (neg && digits.buf[0] == '-') {
		memmove(digits.buf, digits.buf + 1, digits.len);
		digits.len--;
	}
	if (neg)
		strbuf_addch(&head, '-');
	else if (plus || space)
		strbuf_addch(&head, plus ? '+' : ' ');
	if (alt && conv != 'd' && conv != 'i' && conv != 'u')
		strbuf_adds(&head, conv == 'o' ? "0o" : conv == 'x' ? "0x" : "0X");
	size_t nd = digits.len > prec ? digits.len : prec, body = head.len + nd;
	size_t pad = width > body ? width - body : 0;
	if (!left && !zero)
		strbuf_addf(out, "%*s", (int)pad, "");
	strbuf_add(out, head.buf, head.len);
	for (size_t i = digits.len; i < nd + (!left && zero ? pad : 0); i++)
		strbuf_addch(out, '0');
	strbuf_add(out, digits.buf, digits.len);
	if (left)
		strbuf_addf(out, "%*s", (int)pad, "");
	strbuf_release(&digits);
	strbuf_release(&head);
}

/* Python's %c: an int is a code point, a string must be one character. */
static int int_char(struct rctx *r, struct value v, struct strbuf *out)
{
	int64_t c;
	if (vint_is(v)) {
		if (!vint_to_i64(v, &c) || c < 0 || c > 0x10ffff)
			return tpl_fail(r, "%%c arg not in range(0x110000)");
		if (c >= 0xd800 && c <= 0xdfff)
			return tpl_fail(r, "%%c of a surrogate is not supported");
		utf8_put(out, (uint32_t)c);
		return 0;
	}
	size_t n;
	if (v.kind == V_STR && value_length(v, &n) && n == 1) {
		strbuf_add(out, v.str.s, v.str.len);
		return 0;
	}
	return tpl_fail(r, "%%c requires an int or a unicode character, not %s",
	                value_type_name(v));
}

/* ascii(): repr with each non-ASCII character escaped (\xNN, \uNNNN, \UNNNNNNNN). */
static void ascii_escape(struct strbuf *sb)
{
	struct strbuf o = STRBUF_INIT;
	const char *p = sb->buf, *end = p + sb->len;
	while (p < end) {
		uint32_t c = utf8_decode(&p, end);
		if (c < 0x80)
			strbuf_addch(&o, (char)c);
		else if (c < 0x100)
			strbuf_addf(&o, "\\x%02x", c);
		else if (c < 0x10000)
			strbuf_addf(&o, "\\u%04x", c);
		else
			strbuf_addf(&o, "\\U%08x", c);
	}
	strbuf_reset(sb);
	strbuf_add(sb, o.buf, o.len);
	strbuf_release(&o);
}

/*
 * Python's printf-style `fmt % args`, for the conversions templates use.
 * Each conversion is checked and rebuilt before it reaches C's printf, which
 * is why the format below may be a variable.
 */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
static int percent_format(struct rctx *r, struct value fmt, struct value args, struct value *out)
{
	bool tuple = args.kind == V_LIST && args.tuple;
	size_t nargs = tuple ? args.list->n : 1, next = 0;
	struct strbuf sb = TPL_STRBUF(r);
	const char *p = fmt.str.s, *end = p + fmt.str.len;
	bool used_mapping = false;
	while (p < end) {
		if (*p != '%') {
			strbuf_addch(&sb, *p++);
			continue;
		}
		p++;
		if (p < end && *p == '%') {
			strbuf_addch(&sb, '%');
			p++;
			continue;
		}
		struct value arg;
		if (p < end && *p == '(') {
			const char *close = memchr(p, ')', (size_t)(end - p));
			if (!close || args.kind != V_DICT) {
				strbuf_release(&sb);
				return tpl_fail(r, close ? "format requires a mapping"
				                         : "incomplete format key");
			}
			struct value key = value_str(r->a, p + 1, (size_t)(close - p - 1));
			struct value *v = vdict_get(args.dict, key);
			if (!v) {
				strbuf_release(&sb);
				return tpl_fail(r, "KeyError: '%s'", key.str.s);
			}
			arg = *v;
			used_mapping = true;
			p = close + 1;
		} else {
			if (next >= nargs) {
				strbuf_release(&sb);
				return tpl_fail(r, "not enough arguments for format string");
			}
			arg = tuple ? args.list->items[next] : args;
			next++;
		}
		char spec[64] = "%";
		size_t k = 1;
		while (p < end && strchr("-+ 0#", *p) && k < 20)
			spec[k++] = *p++;
		while (p < end && *p >= '0' && *p <= '9' && k < 40)
			spec[k++] = *p++;
		if (p < end && *p == '.') {
			spec[k++] = *p++;
			while (p < end && *p >= '0' && *p <= '9' && k < 60)
				spec[k++] = *p++;
		}
		/* A width or precision no string may reach is refused before printf pads it. */
		for (const char *q = spec + 1; *q; q++)
			if (*q >= '1' && *q <= '9' && strtoull(q, NULL, 10) > r->t->max_bytes) {
				strbuf_release(&sb);
				return tpl_fail(r, "format width or precision too large");
			}
		if (p >= end || *p == '*') {
			strbuf_release(&sb);
			return tpl_fail(r, p >= end ? "incomplete format"
			                            : "'*' in %% formats is not supported");
		}
		char conv = *p++;
		if (arg.kind == V_UNDEF && conv != 's') {
			strbuf_release(&sb);
			return tpl_fail_undefined(r, arg);
		}
		switch (conv) {
		case 's':
		case 'r':
		case 'a': {
			struct strbuf t = TPL_STRBUF(r);
			tpl_str_into(r, arg, &t, conv != 's');
			if (conv == 'a')
				ascii_escape(&t);
			spec[k++] = 's';
			spec[k] = '\0';
			strbuf_addf(&sb, spec, t.buf);
			strbuf_release(&t);
			break;
		}
		case 'd':
		case 'i':
		case 'u':
		case 'x':
		case 'X':
		case 'o':
		case 'c': {
			if (conv == 'c') {
				if (int_char(r, arg, &sb) < 0) {
					strbuf_release(&sb);
					return -1;
				}
				break;
			}
			struct value iv = arg;
			if (arg.kind == V_FLOAT && strchr("diu", conv)) {
				if (vint_from_double(r->a, arg.f, &iv)) {
					strbuf_release(&sb);
					return tpl_fail(
					    r, arg.f != arg.f
					           ? "cannot convert float NaN to integer"
					           : "cannot convert float infinity to integer");
				}
			} else if (!vint_is(arg)) {
				strbuf_release(&sb);
				return tpl_fail(r, "%%%c format: %s is required, not %s", conv,
				                strchr("diu", conv) ? "a real number"
				                                    : "an integer",
				                value_type_name(arg));
			}
			spec[k] = '\0';
			format_int(iv, spec, conv, &sb);
			break;
		}
		case 'f':
		case 'F':
		case 'e':
		case 'E':
		case 'g':
		case 'G': {
			double v;
			if (!numeric(arg)) {
				strbuf_release(&sb);
				return tpl_fail(r, "must be real number, not %s",
				                value_type_name(arg));
			}
			if (to_double(arg, &v)) {
				strbuf_release(&sb);
				return tpl_fail(r, "int too large to convert to float");
			}
			spec[k++] = conv;
			spec[k] = '\0';
			strbuf_addf(&sb, spec, v);
			break;
		}
		default:
			strbuf_release(&sb);
			return tpl_fail(r, "unsupported format character '%c'", conv);
		}
	}
	if (!used_mapping && tuple && next < nargs) {
		strbuf_release(&sb);
		return tpl_fail(r, "not all arguments converted during string formatting");
	}
	/* A dict, list or range is a mapping to Python's %: nothing left unconverted. */
	if (!used_mapping && !tuple && next == 0 && args.kind != V_DICT && args.kind != V_LIST &&
	    args.kind != V_UNDEF) {
		strbuf_release(&sb);
		return tpl_fail(r, "not all arguments converted during string formatting");
	}
	*out = tpl_strval(r, &sb);
	strbuf_release(&sb);
	return 0;
}
#pragma GCC diagnostic pop

static int vint_fail(struct rctx *r, int rc, enum op op)
{
	if (rc == VINT_ZERODIV)
		return tpl_fail(r, op == OP_MOD   ? "integer modulo by zero"
		                   : op == OP_DIV ? "division by zero"
		                                  : "integer division or modulo by zero");
	if (rc == VINT_OVERFLOW)
		return tpl_fail(r, op == OP_DIV ? "integer division result too large for a float"
		                                : "int too large to convert to float");
	return overflow(r);
}

/* Python's int op int: exact, beyond 64 bits too (value/bigint.h). */
static int int_binop(struct rctx *r, enum op op, struct value x, struct value y, struct value *out)
{
	static const enum vint_op vops[] = {
	    [OP_ADD] = VINT_ADD,           [OP_SUB] = VINT_SUB, [OP_MUL] = VINT_MUL,
	    [OP_FLOORDIV] = VINT_FLOORDIV, [OP_MOD] = VINT_MOD, [OP_POW] = VINT_POW};
	int64_t a, b, res;
	bool small = vint_to_i64(x, &a) && vint_to_i64(y, &b);
	int rc;
	switch (op) {
	case OP_ADD:
		if (small && !__builtin_add_overflow(a, b, &res))
			break;
		goto big;
	case OP_SUB:
		if (small && !__builtin_sub_overflow(a, b, &res))
			break;
		goto big;
	case OP_MUL:
		if (small && !__builtin_mul_overflow(a, b, &res))
			break;
		goto big;
	case OP_DIV: {
		double q;
		if ((rc = vint_truediv(x, y, &q)))
			return vint_fail(r, rc, op);
		*out = value_float(q);
		return 0;
	}
	case OP_FLOORDIV:
	case OP_MOD:
		if (!small || b == 0 || (a == INT64_MIN && b == -1))
			goto big;
		res = a / b;
		int64_t m = a % b;
		if (m != 0 && ((m < 0) != (b < 0))) {
			res -= 1;
			m += b;
		}
		if (op == OP_MOD)
			res = m;
		break;
	case OP_POW:
		if (vint_sign(y) < 0) {
			double fa, fb;
			if ((rc = vint_to_double(x, &fa)) || (rc = vint_to_double(y, &fb)))
				return vint_fail(r, rc, op);
			if (fa == 0)
				return tpl_fail(r, "0.0 cannot be raised to a negative power");
			*out = value_float(py_pow(fa, fb));
			if (out->f - out->f != 0 && fa - fa == 0 && fb - fb == 0)
				return tpl_fail(r, "(34, 'Numerical result out of range')");
			return 0;
		}
		goto big;
	default:
		return type_error(r, op, x, y);
	}
	*out = value_int(res);
	return 0;
big:
	if ((rc = vint_arith(r->a, vops[op], x, y, out)))
		return vint_fail(r, rc, op);
	return 0;
}

int tpl_binop(struct rctx *r, enum op op, struct value x, struct value y, struct value *out)
{
	if (x.kind == V_UNDEF)
		return tpl_fail_undefined(r, x);
	/* str % Undefined: Undefined has __getitem__, so Python takes it for a mapping. */
	if (op == OP_MOD && x.kind == V_STR && y.kind == V_UNDEF)
		return percent_format(r, x, y, out);
	if (y.kind == V_UNDEF)
		return tpl_fail_undefined(r, y);
	if (vint_is(x) && vint_is(y))
		return int_binop(r, op, x, y, out);
	if (numeric(x) && numeric(y)) {
		double fa, fb;
		int rc;
		if ((rc = to_double(x, &fa)) || (rc = to_double(y, &fb)))
			return vint_fail(r, rc, OP_ADD);
		switch (op) {
		case OP_ADD:
			*out = value_float(fa + fb);
			return 0;
		case OP_SUB:
			*out = value_float(fa - fb);
			return 0;
		case OP_MUL:
			*out = value_float(fa * fb);
			return 0;
		case OP_DIV:
			if (fb == 0)
				return tpl_fail(r, "float division by zero");
			*out = value_float(fa / fb);
			return 0;
		case OP_FLOORDIV:
		case OP_MOD:
			if (fb == 0)
				return tpl_fail(r, op == OP_MOD ? "float modulo"
				                                : "float floor division by zero");
			double d, m;
			float_divmod(fa, fb, &d, &m);
			*out = value_float(op == OP_MOD ? m : d);
			return 0;
		case OP_POW:
			if (fa == 0 && fb < 0)
				return tpl_fail(r, "0.0 cannot be raised to a negative power");
			if (fa < 0 && fb != py_floor(fb))
				return tpl_fail(r, "complex results are not supported");
			*out = value_float(py_pow(fa, fb));
			if (out->f - out->f != 0 && fa - fa == 0 && fb - fb == 0)
				return tpl_fail(r, "(34, 'Numerical result out of range')");
			return 0;
		default:
			break;
		}
	}
	if (op == OP_ADD && x.kind == V_STR && y.kind == V_STR) {
		*out = concat_str(r, x, y);
		return 0;
	}
	if (op == OP_ADD && x.kind == V_LIST && y.kind == V_LIST && x.tuple == y.tuple &&
	    !x.range && !y.range && !x.lazy && !y.lazy) {
		struct value l = value_list(r->a, x.list->n + y.list->n);
		memcpy(l.list->items, x.list->items, x.list->n * sizeof(struct value));
		memcpy(l.list->items + x.list->n, y.list->items, y.list->n * sizeof(struct value));
		l.tuple = x.tuple;
		*out = l;
		return 0;
	}
	if (op == OP_MUL && (x.kind == V_STR || (x.kind == V_LIST && !x.range && !x.lazy)) &&
	    (y.kind == V_INT || y.kind == V_BOOL))
		return repeat(r, x, i64(y), out);
	if (op == OP_MUL && (y.kind == V_STR || (y.kind == V_LIST && !y.range && !y.lazy)) &&
	    (x.kind == V_INT || x.kind == V_BOOL))
		return repeat(r, y, i64(x), out);
	if (op == OP_MOD && x.kind == V_STR)
		return percent_format(r, x, y, out);
	return type_error(r, op, x, y);
}

/* ---- evaluation ---- */

static int eval(struct rctx *r, struct frame *f, const struct node *n, struct value *out);

static struct value *lookup(struct frame *f, struct value key)
{
	for (; f; f = f->parent) {
		struct value *v = vdict_get(&f->vars, key);
		if (v)
			return v;
	}
	return NULL;
}

static void bind(struct rctx *r, struct frame *f, const char *name, struct value v)
{
	vdict_set(r->a, &f->vars, value_str_static(name), v);
}

static int eval_args(struct rctx *r, struct frame *f, const struct node *n, struct args *out)
{
	out->n = n->nkids;
	out->v = arena_alloc(r->a, (n->nkids ? n->nkids : 1) * sizeof(*out->v));
	for (size_t i = 0; i < n->nkids; i++)
		if (eval(r, f, n->kids[i], &out->v[i]) < 0)
			return -1;
	out->nkw = n->nkw;
	out->kwnames = n->kwnames;
	out->kwvals = arena_alloc(r->a, (n->nkw ? n->nkw : 1) * sizeof(*out->kwvals));
	for (size_t i = 0; i < n->nkw; i++)
		if (eval(r, f, n->kwvals[i], &out->kwvals[i]) < 0)
			return -1;
	return 0;
}

static int compare_op(struct rctx *r, enum op op, struct value x, struct value y, bool *res)
{
	if (op == OP_EQ || op == OP_NE) {
		bool eq = value_equal(x, y);
		*res = op == OP_EQ ? eq : !eq;
		return 0;
	}
	if (op == OP_IN || op == OP_NOTIN) {
		bool found = false;
		if (y.kind == V_STR) {
			if (x.kind == V_UNDEF)
				return tpl_fail_undefined(r, x);
			if (x.kind != V_STR)
				return tpl_fail(
				    r, "'in <string>' requires string as left operand, not %s",
				    value_type_name(x));
			found = x.str.len == 0 || memmem(y.str.s, y.str.len, x.str.s, x.str.len);
		} else if (y.kind == V_LIST) {
			for (size_t i = 0; i < y.list->n && !found; i++)
				found = value_equal(x, y.list->items[i]);
		} else if (y.kind == V_DICT) {
			found = vdict_get(y.dict, x) != NULL;
		} else if (y.kind != V_UNDEF) {
			return tpl_fail(r, "argument of type '%s' is not iterable",
			                value_type_name(y));
		}
		*res = op == OP_IN ? found : !found;
		return 0;
	}
	if (x.kind == V_UNDEF)
		return tpl_fail_undefined(r, x);
	if (y.kind == V_UNDEF)
		return tpl_fail_undefined(r, y);
	int cmp;
	if (!value_compare(x, y, false, &cmp)) {
		const char *sym = op == OP_LT     ? "<"
		                  : op == OP_LTEQ ? "<="
		                  : op == OP_GT   ? ">"
		                                  : ">=";
		return tpl_fail(r, "'%s' not supported between instances of '%s' and '%s'", sym,
		                value_type_name(x), value_type_name(y));
	}
	*res = cmp == 2        ? false /* NaN */
	       : op == OP_LT   ? cmp < 0
	       : op == OP_LTEQ ? cmp <= 0
	       : op == OP_GT   ? cmp > 0
	                       : cmp >= 0;
	return 0;
}

static int eval_filter(struct rctx *r, struct frame *f, const struct node *n, struct value subject,
                       struct value *out)
{
	struct args args;
	if (eval_args(r, f, n, &args) < 0)
		return -1;
	return tpl_apply_filter(r, n->name, subject, &args, out);
}

/* Evaluates a filter chain whose innermost subject is E_BLOCKVAL = blockval. */
static int eval_chain(struct rctx *r, struct frame *f, const struct node *n, struct value blockval,
                      struct value *out)
{
	if (n->kind == E_BLOCKVAL) {
		*out = blockval;
		return 0;
	}
	struct value subject;
	if (eval_chain(r, f, n->a, blockval, &subject) < 0)
		return -1;
	r->line = n->line;
	return eval_filter(r, f, n, subject, out);
}

/*
 * Steps, and memory: the arena grows by chunks of 64 KiB (a new newest
 * chunk each time), counted as they appear; the values of one render may
 * take TPL_MEMORY_FACTOR times max_bytes.
 */
/*
 * The C stack a render may use: half the stack limit (8 MiB when there is
 * none). The depth limits (macro calls, expressions) keep an optimised
 * build far below it (about 3.5 KiB a macro level); a build without
 * optimisation under AddressSanitizer spends some 100 KiB a level and
 * would overflow before them.
 */
static size_t stack_budget(void)
{
	size_t lim = (size_t)8 << 20;
	struct rlimit rl;
	if (getrlimit(RLIMIT_STACK, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
	    rl.rlim_cur < ((rlim_t)1 << 30))
		lim = (size_t)rl.rlim_cur;
	return lim / 2;
}

static bool over_budget(struct rctx *r)
{
	uintptr_t sp = (uintptr_t)__builtin_frame_address(0);
	if (r->stack_base > sp && r->stack_base - sp > r->stack_budget) {
		tpl_failf(r,
		          "template nested too deeply: its macro calls and expressions would use "
		          "more than %zu KiB of stack",
		          r->stack_budget >> 10);
		return true;
	}
	if (++r->steps > r->t->max_steps) {
		tpl_failf(r, "template took more than %llu evaluation steps", r->t->max_steps);
		return true;
	}
	if ((const void *)r->a->head != r->last_chunk) {
		r->last_chunk = r->a->head;
		size_t mem = r->t->max_bytes * TPL_MEMORY_FACTOR;
		if (mem < TPL_MIN_MEMORY || mem / TPL_MEMORY_FACTOR != r->t->max_bytes)
			mem = mem < TPL_MIN_MEMORY ? TPL_MIN_MEMORY : SIZE_MAX;
		if (++r->chunks > mem / ((size_t)64 << 10) + 1) {
			tpl_failf(
			    r,
			    "render needs more than %zu MiB of memory (%d times the output cap; "
			    "gpuci render --max-output raises it)",
			    mem >> 20, TPL_MEMORY_FACTOR);
			return true;
		}
	}
	return false;
}

static int eval_node(struct rctx *r, struct frame *f, const struct node *n, struct value *out);

/*
 * Trees are walked recursively, and a long chain (a.b().c()... or
 * 1+1+1+...) makes a deep tree: bound the depth instead of the C stack.
 */
#define MAX_EVAL_DEPTH 1000

static int eval(struct rctx *r, struct frame *f, const struct node *n, struct value *out)
{
	if (over_budget(r))
		return -1;
	if (r->eval_depth >= MAX_EVAL_DEPTH)
		return tpl_fail(r, "expression nested more than %d deep", MAX_EVAL_DEPTH);
	r->eval_depth++;
	int rc = eval_node(r, f, n, out);
	r->eval_depth--;
	return rc;
}

static int eval_node(struct rctx *r, struct frame *f, const struct node *n, struct value *out)
{
	struct value x, y;
	switch (n->kind) {
	case E_CONST:
		*out = n->val;
		return 0;
	case E_NAME: {
		struct value *v = lookup(f, n->val);
		if (v) {
			*out = *v;
			return 0;
		}
		if (!strcmp(n->name, "range"))
			*out = mkfunc(r, F_RANGE, "range", value_none());
		else if (!strcmp(n->name, "dict"))
			*out = mkfunc(r, F_DICT, "dict", value_none());
		else if (!strcmp(n->name, "lipsum") || !strcmp(n->name, "cycler") ||
		         !strcmp(n->name, "joiner") || !strcmp(n->name, "namespace"))
			*out = mkfunc(r, F_UNSUPPORTED, n->name, value_none());
		else
			*out = undef_named(r, n->name);
		return 0;
	}
	case E_LIST:
	case E_TUPLE: {
		struct value l = value_list(r->a, n->nkids);
		l.tuple = n->kind == E_TUPLE;
		for (size_t i = 0; i < n->nkids; i++)
			if (eval(r, f, n->kids[i], &l.list->items[i]) < 0)
				return -1;
		*out = l;
		return 0;
	}
	case E_DICT: {
		struct value d = value_dict(r->a);
		for (size_t i = 0; i + 1 < n->nkids; i += 2) {
			if (eval(r, f, n->kids[i], &x) < 0 || eval(r, f, n->kids[i + 1], &y) < 0)
				return -1;
			if (x.kind == V_LIST && !x.tuple)
				return tpl_fail(r, "unhashable type: 'list'");
			if (x.kind == V_DICT)
				return tpl_fail(r, "unhashable type: 'dict'");
			vdict_set(r->a, d.dict, x, y);
		}
		*out = d;
		return 0;
	}
	case E_GETATTR:
		if (eval(r, f, n->a, &x) < 0)
			return -1;
		return tpl_getattr(r, x, n->name, out);
	case E_GETITEM:
		if (eval(r, f, n->a, &x) < 0)
			return -1;
		if (n->b->kind == E_SLICE) {
			struct value sl[3] = {value_none(), value_none(), value_none()};
			const struct node *parts[3] = {n->b->a, n->b->b, n->b->c};
			for (int i = 0; i < 3; i++)
				if (parts[i] && eval(r, f, parts[i], &sl[i]) < 0)
					return -1;
			return tpl_slice(r, x, sl, out);
		}
		if (eval(r, f, n->b, &y) < 0)
			return -1;
		return tpl_getitem(r, x, y, out);
	case E_CALL: {
		struct args args;
		if (eval(r, f, n->a, &x) < 0 || eval_args(r, f, n, &args) < 0)
			return -1;
		return tpl_call(r, x, &args, out);
	}
	case E_FILTER:
		if (eval(r, f, n->a, &x) < 0)
			return -1;
		return eval_filter(r, f, n, x, out);
	case E_TEST: {
		struct args args;
		bool res;
		if (eval(r, f, n->a, &x) < 0 || eval_args(r, f, n, &args) < 0 ||
		    tpl_apply_test(r, n->name, x, &args, &res) < 0)
			return -1;
		*out = value_bool(n->negated ? !res : res);
		return 0;
	}
	case E_UNARY:
		if (eval(r, f, n->a, &x) < 0)
			return -1;
		if (n->op == OP_NOT) {
			*out = value_bool(!value_truthy(x));
			return 0;
		}
		if (x.kind == V_UNDEF)
			return tpl_fail_undefined(r, x);
		if (x.kind == V_FLOAT)
			*out = value_float(n->op == OP_NEG ? -x.f : x.f);
		else if (vint_is(x))
			*out =
			    n->op == OP_NEG ? vint_neg(r->a, x) : vint_neg(r->a, vint_neg(r->a, x));
		else
			return tpl_fail(r, "bad operand type for unary %s: '%s'",
			                n->op == OP_NEG ? "-" : "+", value_type_name(x));
		return 0;
	case E_BINARY:
		if (eval(r, f, n->a, &x) < 0)
			return -1;
		if (n->op == OP_AND || n->op == OP_OR) {
			bool t = value_truthy(x);
			if ((n->op == OP_AND && !t) || (n->op == OP_OR && t)) {
				*out = x;
				return 0;
			}
			return eval(r, f, n->b, out);
		}
		if (eval(r, f, n->b, &y) < 0)
			return -1;
		if (n->op == OP_TILDE) {
			struct strbuf sb = TPL_STRBUF(r);
			tpl_str_into(r, x, &sb, false);
			tpl_str_into(r, y, &sb, false);
			*out = tpl_strval(r, &sb);
			strbuf_release(&sb);
			return 0;
		}
		return tpl_binop(r, n->op, x, y, out);
	case E_COMPARE: {
		if (eval(r, f, n->a, &x) < 0)
			return -1;
		bool res = true;
		for (size_t i = 0; i < n->nkids && res; i++) {
			if (eval(r, f, n->kids[i], &y) < 0 ||
			    compare_op(r, n->ops[i], x, y, &res) < 0)
				return -1;
			x = y;
		}
		*out = value_bool(res);
		return 0;
	}
	case E_COND:
		if (eval(r, f, n->a, &x) < 0)
			return -1;
		if (value_truthy(x))
			return eval(r, f, n->b, out);
		if (n->c)
			return eval(r, f, n->c, out);
		*out =
		    value_undef("the inline if-expression on line evaluated to false and no else "
		                "section was defined.");
		return 0;
	default:
		return tpl_fail(r, "internal error: statement in expression");
	}
}

/* ---- calls ---- */

static int exec_body(struct rctx *r, struct frame *f, struct node **body, size_t n,
                     struct strbuf *out);

static int call_macro(struct rctx *r, const struct vfunc *fn, const struct args *a,
                      struct value *out)
{
	const struct node *m = fn->macro;
	if (a->n > m->nparams)
		return tpl_fail(r, "macro '%s' takes not more than %zu argument(s)", m->name,
		                (size_t)m->nparams);
	if (r->depth >= MAX_CALL_DEPTH)
		return tpl_fail(r, "macro calls nested deeper than %d", MAX_CALL_DEPTH);
	struct frame *mf = arena_alloc(r->a, sizeof(*mf));
	mf->parent = fn->closure;
	for (size_t k = 0; k < a->nkw; k++) {
		bool known = false;
		for (size_t i = 0; i < m->nparams; i++)
			known |= !strcmp(m->params[i], a->kwnames[k]);
		if (!known)
			return tpl_fail(r, "macro '%s' takes no keyword argument '%s'", m->name,
			                a->kwnames[k]);
	}
	unsigned line = r->line;
	for (size_t i = 0; i < m->nparams; i++) {
		struct value v;
		bool have = false;
		if (i < a->n) {
			v = a->v[i];
			have = true;
		}
		for (size_t k = 0; k < a->nkw; k++)
			if (!strcmp(m->params[i], a->kwnames[k])) {
				if (have)
					return tpl_fail(
					    r, "macro '%s' got multiple values for argument '%s'",
					    m->name, m->params[i]);
				v = a->kwvals[k];
				have = true;
			}
		if (!have) {
			if (m->defaults[i]) {
				if (eval(r, mf, m->defaults[i], &v) < 0)
					return -1;
			} else {
				struct strbuf sb = TPL_STRBUF(r);
				strbuf_addf(&sb, "parameter '%s' was not provided", m->params[i]);
				v = value_undef(arena_strndup(r->a, sb.buf, sb.len));
				strbuf_release(&sb);
			}
		}
		bind(r, mf, m->params[i], v);
	}
	struct strbuf sb = TPL_STRBUF(r);
	void *saved = r->map ? tpl_map_body_begin(r->map, &sb) : NULL;
	r->depth++;
	int rc = exec_body(r, mf, m->body, m->nbody, &sb);
	r->depth--;
	r->line = line;
	if (rc == 0)
		*out = tpl_strval(r, &sb); /* Markup only under autoescape, which is off */
	if (r->map)
		tpl_map_body_end(r->map, saved, rc == 0 ? *out : value_none());
	strbuf_release(&sb);
	return rc;
}

static int call_range(struct rctx *r, const struct args *a, struct value *out)
{
	if (a->nkw)
		return tpl_fail(r, "range() takes no keyword arguments");
	if (a->n < 1 || a->n > 3)
		return tpl_fail(r, "range expected at most 3 arguments, got %zu", a->n);
	int64_t v[3] = {0};
	for (size_t i = 0; i < a->n; i++) {
		if (a->v[i].kind == V_UNDEF)
			return tpl_fail_undefined(r, a->v[i]);
		if (a->v[i].kind == V_BIGINT)
			return tpl_fail(r, "range() of an int beyond 64 bits is not supported");
		if (a->v[i].kind != V_INT && a->v[i].kind != V_BOOL)
			return tpl_fail(r, "'%s' object cannot be interpreted as an integer",
			                value_type_name(a->v[i]));
		v[i] = i64(a->v[i]);
	}
	int64_t start = a->n == 1 ? 0 : v[0], stop = a->n == 1 ? v[0] : v[1];
	int64_t step = a->n == 3 ? v[2] : 1;
	if (step == 0)
		return tpl_fail(r, "range() arg 3 must not be zero");
	/* In unsigned arithmetic: stop - start may not fit in int64_t. */
	uint64_t count = 0;
	if (step > 0 && stop > start)
		count = ((uint64_t)stop - (uint64_t)start - 1) / (uint64_t)step + 1;
	else if (step < 0 && stop < start)
		count = ((uint64_t)start - (uint64_t)stop - 1) / ((uint64_t)0 - (uint64_t)step) + 1;
	/* Jinja2's sandbox-free range is plain Python range; bound it all the same. */
	if (count > r->t->max_bytes / 16)
		return tpl_fail(r, "range too large");
	struct value l = value_list(r->a, (size_t)count);
	for (uint64_t i = 0; i < count; i++)
		l.list->items[i] = value_int((int64_t)((uint64_t)start + i * (uint64_t)step));
	l.range = true;
	l.list->start = start;
	l.list->stop = stop;
	l.list->step = step;
	*out = l;
	return 0;
}

int tpl_call(struct rctx *r, struct value fn, const struct args *a, struct value *out)
{
	if (fn.kind == V_UNDEF)
		return tpl_fail_undefined(r, fn);
	if (fn.kind != V_FUNC)
		return tpl_fail(r, "'%s' object is not callable", value_type_name(fn));
	const struct vfunc *f = fn.func;
	switch (f->kind) {
	case F_MACRO:
		return call_macro(r, f, a, out);
	case F_RANGE:
		return call_range(r, a, out);
	case F_DICT: {
		if (a->n)
			return tpl_fail(r, "dict() with positional arguments is not supported");
		struct value d = value_dict(r->a);
		for (size_t i = 0; i < a->nkw; i++)
			vdict_set(r->a, d.dict, value_str_static(a->kwnames[i]), a->kwvals[i]);
		*out = d;
		return 0;
	}
	case F_CYCLE: {
		if (a->nkw || a->n == 0)
			return tpl_fail(r, "no items for cycling given");
		int64_t idx = i64(f->self);
		*out = a->v[idx % (int64_t)a->n];
		return 0;
	}
	case F_METHOD:
		return tpl_call_method(r, f->self, f->name, a, out);
	case F_UNSUPPORTED:
		return tpl_fail(r, "'%s' is not supported by gpuci render", f->name);
	}
	return tpl_fail(r, "internal error: bad callable");
}

/* ---- statements ---- */

static int assign(struct rctx *r, struct frame *f, const struct node *target, struct value v)
{
	if (target->kind == E_NAME) {
		bind(r, f, target->name, v);
		return 0;
	}
	/* Tuple unpacking. */
	struct value items;
	if (v.kind == V_UNDEF)
		return tpl_fail_undefined(r, v);
	if (v.kind == V_LIST || v.kind == V_STR || v.kind == V_DICT) {
		if (tpl_iterate(r, v, &items) < 0)
			return -1;
	} else {
		return tpl_fail(r, "cannot unpack non-iterable %s object", value_type_name(v));
	}
	if (items.list->n != target->nkids)
		return items.list->n > target->nkids
		           ? tpl_fail(r, "too many values to unpack (expected %zu)", target->nkids)
		           : tpl_fail(r, "not enough values to unpack (expected %zu, got %zu)",
		                      target->nkids, items.list->n);
	for (size_t i = 0; i < target->nkids; i++)
		bind(r, f, target->kids[i]->name, items.list->items[i]);
	return 0;
}

static struct value loop_key(const char *name, size_t len)
{
	struct value v = {.kind = V_STR};
	v.str.s = name;
	v.str.len = len;
	return v;
}

/* The `loop` of one iteration: a dict made at its size, keys known unique. */
static struct value loop_object(struct rctx *r, const struct value *items, size_t i, size_t n)
{
#define KEY(s) loop_key(s, sizeof(s) - 1)
	const struct value keys[] = {
	    KEY("index"),  KEY("index0"),   KEY("revindex"), KEY("revindex0"),
	    KEY("first"),  KEY("last"),     KEY("length"),   KEY("depth"),
	    KEY("depth0"), KEY("previtem"), KEY("nextitem"), KEY("cycle"),
	};
#undef KEY
	const struct value vals[] = {
	    value_int((int64_t)i + 1),
	    value_int((int64_t)i),
	    value_int((int64_t)(n - i)),
	    value_int((int64_t)(n - i - 1)),
	    value_bool(i == 0),
	    value_bool(i + 1 == n),
	    value_int((int64_t)n),
	    value_int(1),
	    value_int(0),
	    i > 0 ? items[i - 1] : value_undef("there is no previous item"),
	    i + 1 < n ? items[i + 1] : value_undef("there is no next item"),
	    mkfunc(r, F_CYCLE, "cycle", value_int((int64_t)i)),
	};
	size_t k = sizeof(keys) / sizeof(*keys);
	struct value d = value_dict_sized(r->a, k);
	memcpy(d.dict->keys, keys, sizeof(keys));
	memcpy(d.dict->vals, vals, sizeof(vals));
	d.dict->n = k;
	return d;
}

static int exec_for(struct rctx *r, struct frame *f, const struct node *n, struct strbuf *out)
{
	struct value it, items;
	r->line = n->line;
	if (eval(r, f, n->a, &it) < 0 || tpl_iterate(r, it, &items) < 0)
		return -1;
	size_t count = items.list->n;
	struct value *vals = items.list->items;
	if (n->b) {
		/* `for x in xs if cond`: filter first, so loop.length counts what is left. */
		struct value *kept = arena_alloc(r->a, (count ? count : 1) * sizeof(*kept));
		size_t k = 0;
		for (size_t i = 0; i < count; i++) {
			struct frame *lf = arena_alloc(r->a, sizeof(*lf));
			lf->parent = f;
			struct value c;
			r->line = n->line;
			if (assign(r, lf, n->target, vals[i]) < 0 || eval(r, lf, n->b, &c) < 0)
				return -1;
			if (value_truthy(c))
				kept[k++] = vals[i];
		}
		vals = kept;
		count = k;
	}
	for (size_t i = 0; i < count; i++) {
		struct frame *lf = arena_alloc(r->a, sizeof(*lf));
		lf->parent = f;
		r->line = n->line;
		if (assign(r, lf, n->target, vals[i]) < 0)
			return -1;
		if (n->uses_loop)
			bind(r, lf, "loop", loop_object(r, vals, i, count));
		if (exec_body(r, lf, n->body, n->nbody, out) < 0)
			return -1;
	}
	if (count == 0 && n->norelse) {
		struct frame *ef = arena_alloc(r->a, sizeof(*ef));
		ef->parent = f;
		return exec_body(r, ef, n->orelse, n->norelse, out);
	}
	return 0;
}

static int exec_node(struct rctx *r, struct frame *f, const struct node *n, struct strbuf *out)
{
	struct value v;
	if (over_budget(r))
		return -1;
	switch (n->kind) {
	case N_TEXT: {
		size_t at = out->len;
		strbuf_add(out, n->val.str.s, n->val.str.len);
		if (r->map)
			tpl_map_text(r->map, out, at, n->off);
		return 0;
	}
	case N_OUTPUT: {
		r->line = n->line;
		if (eval(r, f, n->a, &v) < 0)
			return -1;
		size_t at = out->len;
		tpl_str_into(r, v, out, false);
		if (r->map)
			tpl_map_value(r->map, out, at, v, n->off);
		return 0;
	}
	case N_IF:
		r->line = n->line;
		if (eval(r, f, n->a, &v) < 0)
			return -1;
		if (value_truthy(v))
			return exec_body(r, f, n->body, n->nbody, out);
		return exec_body(r, f, n->orelse, n->norelse, out);
	case N_FOR:
		return exec_for(r, f, n, out);
	case N_SET:
		r->line = n->line;
		if (eval(r, f, n->a, &v) < 0)
			return -1;
		return assign(r, f, n->target, v);
	case N_SETBLOCK:
	case N_FILTERBLOCK: {
		struct frame *bf = arena_alloc(r->a, sizeof(*bf));
		bf->parent = f;
		struct strbuf sb = TPL_STRBUF(r);
		void *saved = r->map ? tpl_map_body_begin(r->map, &sb) : NULL;
		int rc = exec_body(r, bf, n->body, n->nbody, &sb);
		struct value body = tpl_strval(r, &sb);
		if (r->map)
			tpl_map_body_end(r->map, saved, rc == 0 ? body : value_none());
		strbuf_release(&sb);
		if (rc < 0)
			return -1;
		if (n->b) {
			r->line = n->line;
			if (eval_chain(r, f, n->b, body, &v) < 0)
				return -1;
		} else {
			v = body;
		}
		if (n->kind == N_SETBLOCK)
			return assign(r, f, n->target, v);
		size_t at = out->len;
		tpl_str_into(r, v, out, false);
		if (r->map)
			tpl_map_value(r->map, out, at, v, n->off);
		return 0;
	}
	case N_MACRO: {
		struct vfunc *fn = arena_alloc(r->a, sizeof(*fn));
		fn->kind = F_MACRO;
		fn->name = n->name;
		fn->macro = n;
		fn->closure = f;
		struct value mv = {.kind = V_FUNC};
		mv.func = fn;
		bind(r, f, n->name, mv);
		return 0;
	}
	default:
		return tpl_fail(r, "internal error: expression as statement");
	}
}

static int exec_body(struct rctx *r, struct frame *f, struct node **body, size_t n,
                     struct strbuf *out)
{
	for (size_t i = 0; i < n; i++) {
		if (exec_node(r, f, body[i], out) < 0)
			return -1;
		if (r->unprintable) {
			r->line = body[i]->line;
			return tpl_fail(r,
			                "printing a generator or iterator (what |batch, |map, "
			                "|select, |unique, |items or |reverse give) or a function "
			                "is not supported: Jinja2 prints its address; add |list");
		}
		if (r->oversize) {
			r->line = body[i]->line;
			return tpl_fail(r, "a string grew beyond %zu bytes", r->t->max_bytes);
		}
		if (strbuf_failed(out)) {
			r->line = body[i]->line;
			return tpl_fail(
			    r,
			    "output beyond %zu bytes, the cap (gpuci render --max-output "
			    "raises it)",
			    r->t->max_bytes);
		}
	}
	return 0;
}

static size_t default_max_bytes = TPL_DEFAULT_MAX_BYTES;

void tpl_set_default_max_bytes(size_t max_bytes)
{
	default_max_bytes = max_bytes ? max_bytes : TPL_DEFAULT_MAX_BYTES;
}

void tpl_set_limits(struct tpl *t, size_t max_bytes, unsigned long long max_steps)
{
	t->max_bytes = max_bytes;
	t->max_steps = max_steps;
}

int tpl_render(const struct tpl *t, struct strbuf *out, struct diag *d)
{
	return tpl_render_vars(t, NULL, out, d);
}

int tpl_render_vars(const struct tpl *t, const struct vdict *vars, struct strbuf *out,
                    struct diag *d)
{
	return tpl_render_into(t, vars, out, NULL, d);
}

int tpl_render_into(const struct tpl *t, const struct vdict *vars, struct strbuf *out,
                    struct tpl_mapper *m, struct diag *d)
{
	struct arena a = ARENA_INIT;
	struct rctx r = {.a = &a,
	                 .t = t,
	                 .d = d,
	                 .line = 1,
	                 .map = m,
	                 .stack_base = (uintptr_t)__builtin_frame_address(0),
	                 .stack_budget = stack_budget()};
	/* The variables are a frame around the template's own: `set` shadows them. */
	struct frame globals = {0};
	if (vars)
		globals.vars = *vars;
	struct frame top = {.parent = vars ? &globals : NULL};
	size_t old_max = out->max;
	if (!out->max || out->max > out->len + t->max_bytes)
		out->max = out->len + t->max_bytes;
	int rc = exec_body(&r, &top, t->body, t->nbody, out);
	out->max = old_max;
	arena_release(&a);
	return rc;
}

void tpl_syntax_default(struct tpl_syntax *s)
{
	*s = (struct tpl_syntax){"<%", "%>", "<<", ">>", "{#", "#}"};
}

int tpl_compile(struct tpl **out, const char *src, size_t len, const char *name,
                const struct tpl_syntax *syntax, struct diag *d)
{
	struct tpl_syntax def;
	if (!syntax) {
		tpl_syntax_default(&def);
		syntax = &def;
	}
	struct tpl *t = xcalloc(1, sizeof(*t));
	t->name = name;
	t->max_bytes = default_max_bytes;
	t->max_steps = TPL_DEFAULT_MAX_STEPS;
	struct tokens toks;
	if (tpl_lex(&toks, &t->arena, src, len, syntax, name, d) < 0) {
		free(toks.v);
		tpl_free(t);
		return -1;
	}
	t->src = toks.src;
	t->len = toks.len;
	int rc = tpl_parse(t, &toks, d);
	free(toks.v);
	if (rc < 0) {
		tpl_free(t);
		return -1;
	}
	*out = t;
	return 0;
}

void tpl_free(struct tpl *t)
{
	if (!t)
		return;
	arena_release(&t->arena);
	free(t);
}
