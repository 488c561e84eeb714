/* The value model; Python's semantics are the reference throughout. */
#include "value/value.h"

#include "value/bigint.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/xalloc.h"
#include "base/banned.h"

struct value value_undef(const char *hint)
{
	struct value v = {.kind = V_UNDEF};
	v.str.s = hint;
	return v;
}

struct value value_str(struct arena *a, const char *s, size_t len)
{
	struct value v = {.kind = V_STR};
	v.str.s = arena_strndup(a, s, len);
	v.str.len = len;
	return v;
}

struct value value_str_static(const char *s)
{
	struct value v = {.kind = V_STR};
	v.str.s = s;
	v.str.len = strlen(s);
	return v;
}

struct value value_strbuf(struct arena *a, const struct strbuf *sb)
{
	return value_str(a, sb->buf, sb->len);
}

struct value value_list(struct arena *a, size_t n)
{
	struct value v = {.kind = V_LIST};
	v.list = arena_alloc(a, sizeof(*v.list));
	v.list->n = n;
	v.list->items = arena_alloc(a, (n ? n : 1) * sizeof(struct value));
	for (size_t i = 0; i < n; i++)
		v.list->items[i] = value_none();
	return v;
}

struct value value_dict(struct arena *a)
{
	struct value v = {.kind = V_DICT};
	v.dict = arena_alloc(a, sizeof(*v.dict));
	return v;
}

struct value value_dict_sized(struct arena *a, size_t cap)
{
	struct value v = value_dict(a);
	if (cap) {
		v.dict->keys = arena_alloc(a, cap * sizeof(struct value));
		v.dict->vals = arena_alloc(a, cap * sizeof(struct value));
		v.dict->cap = cap;
	}
	return v;
}

/* Python hashes 1, 1.0 and True alike: equal keys must hash alike. */
static uint64_t key_hash(struct value k)
{
	const double two63 = 9223372036854775808.0; /* 2**63, exact in a double */
	switch (k.kind) {
	case V_STR: {
		uint64_t h = 1469598103934665603ULL;
		for (size_t i = 0; i < k.str.len; i++)
			h = (h ^ (unsigned char)k.str.s[i]) * 1099511628211ULL;
		return h;
	}
	case V_BOOL:
		return (uint64_t)k.b * 0x9e3779b97f4a7c15ULL;
	case V_INT:
		return (uint64_t)k.i * 0x9e3779b97f4a7c15ULL;
	case V_FLOAT:
		if (k.f > -two63 && k.f < two63 && k.f == (double)(int64_t)k.f)
			return (uint64_t)(int64_t)k.f * 0x9e3779b97f4a7c15ULL;
		if (k.f - k.f == 0 && (k.f <= -two63 || k.f >= two63)) {
			/* integral, beyond int64_t: hashed as the bigint it equals */
			struct arena a = ARENA_INIT;
			struct value i;
			vint_from_double(&a, k.f, &i);
			uint64_t h = vint_hash(i);
			arena_release(&a);
			return h;
		}
		return 0x51ed270b27cf5a8dULL;
	case V_BIGINT:
		return vint_hash(k);
	default:
		return (uint64_t)k.kind;
	}
}

#define VDICT_INDEX_MIN 16

static void index_insert(struct vdict *d, size_t pos)
{
	size_t mask = d->index_cap - 1;
	size_t i = (size_t)key_hash(d->keys[pos]) & mask;
	while (d->index[i])
		i = (i + 1) & mask;
	d->index[i] = (uint32_t)pos + 1;
}

static void index_rebuild(struct arena *a, struct vdict *d, size_t cap)
{
	d->index = arena_alloc(a, cap * sizeof(*d->index));
	d->index_cap = cap;
	for (size_t i = 0; i < d->n; i++)
		index_insert(d, i);
}

struct value *vdict_get(const struct vdict *d, struct value key)
{
	if (d->index) {
		size_t mask = d->index_cap - 1;
		for (size_t i = (size_t)key_hash(key) & mask; d->index[i]; i = (i + 1) & mask)
			if (value_equal(d->keys[d->index[i] - 1], key))
				return &d->vals[d->index[i] - 1];
		return NULL;
	}
	for (size_t i = 0; i < d->n; i++)
		if (value_equal(d->keys[i], key))
			return &d->vals[i];
	return NULL;
}

void vdict_set(struct arena *a, struct vdict *d, struct value key, struct value val)
{
	struct value *old = vdict_get(d, key);
	if (old) {
		*old = val;
		return;
	}
	if (d->n == d->cap) {
		size_t cap = d->cap ? d->cap * 2 : 2; /* most frames hold a name or two */
		struct value *k = arena_alloc(a, cap * sizeof(*k));
		struct value *v = arena_alloc(a, cap * sizeof(*v));
		if (d->n) {
			memcpy(k, d->keys, d->n * sizeof(*k));
			memcpy(v, d->vals, d->n * sizeof(*v));
		}
		d->keys = k;
		d->vals = v;
		d->cap = cap;
	}
	d->keys[d->n] = key;
	d->vals[d->n++] = val;
	if (d->n >= VDICT_INDEX_MIN && d->n * 2 > d->index_cap)
		index_rebuild(a, d, d->index_cap ? d->index_cap * 2 : 64);
	else if (d->index)
		index_insert(d, d->n - 1);
}

bool value_truthy(struct value v)
{
	switch (v.kind) {
	case V_UNDEF:
	case V_NONE:
		return false;
	case V_BOOL:
		return v.b;
	case V_INT:
		return v.i != 0;
	case V_BIGINT:
		return true;
	case V_FLOAT:
		return v.f != 0.0;
	case V_STR:
		return v.str.len != 0;
	case V_LIST:
		return v.lazy == VL_GEN || v.list->n != 0;
	case V_DICT:
		return v.dict->n != 0;
	case V_FUNC:
		return true;
	}
	return false;
}

static bool is_number(struct value v)
{
	return vint_is(v) || v.kind == V_FLOAT;
}

bool value_equal(struct value a, struct value b)
{
	if (is_number(a) && is_number(b)) {
		int cmp;
		return vnum_cmp(a, b, &cmp) && cmp == 0; /* exact, as Python */
	}
	if (a.kind != b.kind)
		return false;
	switch (a.kind) {
	case V_UNDEF:
	case V_NONE:
		return true;
	case V_STR:
		return a.str.len == b.str.len && !memcmp(a.str.s, b.str.s, a.str.len);
	case V_LIST:
		if (a.lazy || b.lazy) /* generators and views: the same object only */
			return a.lazy == b.lazy && a.list == b.list;
		if (a.tuple != b.tuple || a.range != b.range || a.list->n != b.list->n)
			return false;
		for (size_t i = 0; i < a.list->n; i++)
			if (!value_equal(a.list->items[i], b.list->items[i]))
				return false;
		return true;
	case V_DICT:
		if (a.dict->n != b.dict->n)
			return false;
		for (size_t i = 0; i < a.dict->n; i++) {
			struct value *o = vdict_get(b.dict, a.dict->keys[i]);
			if (!o || !value_equal(a.dict->vals[i], *o))
				return false;
		}
		return true;
	case V_FUNC:
		return a.func == b.func;
	default:
		return false;
	}
}

uint32_t utf8_decode(const char **p, const char *end)
{
	const unsigned char *s = (const unsigned char *)*p;
	size_t n = utf8_step(*p, end);
	uint32_t c = s[0];
	if (n > 1) {
		c &= 0x7fu >> n;
		for (size_t i = 1; i < n; i++)
			c = (c << 6) | (s[i] & 0x3f);
	}
	*p += n;
	return c;
}

void utf8_put(struct strbuf *sb, uint32_t c)
{
	if (c < 0x80) {
		strbuf_addch(sb, (char)c);
	} else if (c < 0x800) {
		strbuf_addch(sb, (char)(0xc0 | (c >> 6)));
		strbuf_addch(sb, (char)(0x80 | (c & 0x3f)));
	} else if (c < 0x10000) {
		strbuf_addch(sb, (char)(0xe0 | (c >> 12)));
		strbuf_addch(sb, (char)(0x80 | ((c >> 6) & 0x3f)));
		strbuf_addch(sb, (char)(0x80 | (c & 0x3f)));
	} else {
		strbuf_addch(sb, (char)(0xf0 | (c >> 18)));
		strbuf_addch(sb, (char)(0x80 | ((c >> 12) & 0x3f)));
		strbuf_addch(sb, (char)(0x80 | ((c >> 6) & 0x3f)));
		strbuf_addch(sb, (char)(0x80 | (c & 0x3f)));
	}
}

/* Lowercase of ASCII and Latin-1 letters: what case folding compares by. */
static uint32_t fold(uint32_t c)
{
	if ((c >= 'A' && c <= 'Z') || (c >= 0xc0 && c <= 0xde && c != 0xd7))
		return c + 32;
	return c;
}

static int compare_str(struct value a, struct value b, bool fold_case)
{
	const char *p = a.str.s, *pe = p + a.str.len;
	const char *q = b.str.s, *qe = q + b.str.len;
	while (p < pe && q < qe) {
		uint32_t x = utf8_decode(&p, pe), y = utf8_decode(&q, qe);
		if (fold_case) {
			x = fold(x);
			y = fold(y);
		}
		if (x != y)
			return x < y ? -1 : 1;
	}
	return (p < pe) - (q < qe);
}

bool value_compare(struct value a, struct value b, bool fold_case, int *cmp)
{
	if (is_number(a) && is_number(b)) {
		if (!vnum_cmp(a, b, cmp))
			*cmp = 2; /* NaN: unordered, every comparison false, as Python */
		return true;
	}
	if (a.kind != b.kind)
		return false;
	if (a.kind == V_STR) {
		*cmp = compare_str(a, b, fold_case);
		return true;
	}
	/* Ranges, generators and views have no order, not even among themselves. */
	if (a.kind == V_LIST && a.tuple == b.tuple && !a.lazy && !b.lazy && !a.range && !b.range) {
		size_t n = a.list->n < b.list->n ? a.list->n : b.list->n;
		for (size_t i = 0; i < n; i++) {
			if (value_equal(a.list->items[i], b.list->items[i]))
				continue;
			return value_compare(a.list->items[i], b.list->items[i], fold_case, cmp);
		}
		*cmp = (a.list->n > b.list->n) - (a.list->n < b.list->n);
		return true;
	}
	return false;
}

static size_t utf8_count(const char *s, size_t len)
{
	size_t n = 0;
	for (const char *p = s, *end = s + len; p < end; p += utf8_step(p, end))
		n++;
	return n;
}

bool utf8_valid(const char *s, size_t len, size_t *bad)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;
	while (i < len) {
		unsigned char c = p[i];
		size_t n;
		uint32_t min, cp;
		if (c < 0x80) {
			i++;
			continue;
		} else if (c >= 0xc2 && c <= 0xdf) {
			n = 2;
			min = 0x80;
			cp = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			n = 3;
			min = 0x800;
			cp = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			n = 4;
			min = 0x10000;
			cp = c & 0x07;
		} else {
			*bad = i;
			return false;
		}
		if (i + n > len) {
			*bad = i;
			return false;
		}
		for (size_t k = 1; k < n; k++) {
			if ((p[i + k] & 0xc0) != 0x80) {
				*bad = i;
				return false;
			}
			cp = (cp << 6) | (p[i + k] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
			*bad = i;
			return false;
		}
		i += n;
	}
	return true;
}

bool value_length(struct value v, size_t *n)
{
	switch (v.kind) {
	case V_UNDEF:
		*n = 0;
		return true;
	case V_STR:
		*n = utf8_count(v.str.s, v.str.len);
		return true;
	case V_LIST:
		*n = v.list->n;
		return true;
	case V_DICT:
		*n = v.dict->n;
		return true;
	default:
		return false;
	}
}

void value_float_repr(double f, struct strbuf *out)
{
	if (isnan(f)) {
		strbuf_adds(out, "nan");
		return;
	}
	if (isinf(f)) {
		strbuf_adds(out, f < 0 ? "-inf" : "inf");
		return;
	}
	/* The shortest %e that reads back as f: Python's repr digits. */
	char buf[64];
	int prec;
	for (prec = 1; prec <= 17; prec++) {
		snprintf(buf, sizeof(buf), "%.*e", prec - 1, f);
		if (strtod(buf, NULL) == f)
			break;
	}
	/* buf is [-]d[.ddd]e[+-]XX */
	const char *p = buf;
	bool neg = *p == '-';
	if (neg)
		p++;
	char digits[32] = "0"; /* %e writes at least one digit: nd ends up >= 1 */
	size_t nd = 0;
	for (; *p && *p != 'e'; p++)
		if (*p != '.')
			digits[nd++] = *p;
	int exp = atoi(p + 1);
	while (nd > 1 && digits[nd - 1] == '0')
		nd--;
	if (neg)
		strbuf_addch(out, '-');
	if (exp >= -4 && exp < 16) {
		if (exp < 0) {
			strbuf_adds(out, "0.");
			for (int i = -1; i > exp; i--)
				strbuf_addch(out, '0');
			strbuf_add(out, digits, nd);
		} else {
			for (int i = 0; i <= exp; i++)
				strbuf_addch(out, (size_t)i < nd ? digits[i] : '0');
			strbuf_addch(out, '.');
			if ((size_t)exp + 1 < nd)
				strbuf_add(out, digits + exp + 1, nd - (size_t)exp - 1);
			else
				strbuf_addch(out, '0');
		}
	} else {
		strbuf_addch(out, digits[0]);
		if (nd > 1) {
			strbuf_addch(out, '.');
			strbuf_add(out, digits + 1, nd - 1);
		}
		strbuf_addf(out, "e%c%02d", exp < 0 ? '-' : '+', exp < 0 ? -exp : exp);
	}
}

void value_str_into(struct value v, struct strbuf *out)
{
	switch (v.kind) {
	case V_UNDEF:
		return;
	case V_NONE:
		strbuf_adds(out, "None");
		return;
	case V_BOOL:
		strbuf_adds(out, v.b ? "True" : "False");
		return;
	case V_INT:
		strbuf_addf(out, "%lld", (long long)v.i);
		return;
	case V_BIGINT:
		vint_to_str(v, out);
		return;
	case V_FLOAT:
		value_float_repr(v.f, out);
		return;
	case V_STR:
		strbuf_add(out, v.str.s, v.str.len);
		return;
	default:
		value_repr_into(v, out);
	}
}

/* Whether Python's str.isprintable() holds for code point c (the cases we meet). */
static bool py_printable(uint32_t c)
{
	if (c < 0x20 || c == 0x7f)
		return false;
	if (c >= 0x80 && c <= 0xa0)
		return false;
	if (c == 0xad || (c >= 0x2000 && c <= 0x200f) || (c >= 0x2028 && c <= 0x202f) ||
	    (c >= 0x205f && c <= 0x206f) || c == 0x3000 || c == 0xfeff || c == 0x1680 ||
	    (c >= 0xd800 && c <= 0xdfff))
		return false;
	return true;
}

static void repr_str(const char *s, size_t len, struct strbuf *out)
{
	bool sq = memchr(s, '\'', len) != NULL, dq = memchr(s, '"', len) != NULL;
	char quote = sq && !dq ? '"' : '\'';
	strbuf_addch(out, quote);
	const char *p = s, *end = p + len;
	while (p < end) {
		const char *start = p;
		uint32_t c = utf8_decode(&p, end);
		if (c == (uint32_t)quote || c == '\\')
			strbuf_addf(out, "\\%c", (char)c);
		else if (c == '\n')
			strbuf_adds(out, "\\n");
		else if (c == '\r')
			strbuf_adds(out, "\\r");
		else if (c == '\t')
			strbuf_adds(out, "\\t");
		else if (py_printable(c))
			strbuf_add(out, start, (size_t)(p - start));
		else if (c < 0x100)
			strbuf_addf(out, "\\x%02x", c);
		else if (c < 0x10000)
			strbuf_addf(out, "\\u%04x", c);
		else
			strbuf_addf(out, "\\U%08x", c);
	}
	strbuf_addch(out, quote);
}

void value_repr_into(struct value v, struct strbuf *out)
{
	switch (v.kind) {
	case V_UNDEF:
		strbuf_adds(out, "Undefined");
		return;
	case V_STR:
		if (v.safe) {
			strbuf_adds(out, "Markup(");
			repr_str(v.str.s, v.str.len, out);
			strbuf_addch(out, ')');
		} else {
			repr_str(v.str.s, v.str.len, out);
		}
		return;
	case V_LIST:
		if (v.lazy == VL_GEN) {
			strbuf_adds(out,
			            "<generator>"); /* not Python's: value_printable() is false */
			return;
		}
		if (v.lazy) {
			static const char *const views[] = {"", "", "dict_items(", "dict_keys(",
			                                    "dict_values("};
			strbuf_adds(out, views[v.lazy]);
			struct value l = v;
			l.lazy = VL_NONE;
			value_repr_into(l, out);
			strbuf_addch(out, ')');
			return;
		}
		if (v.range) {
			strbuf_addf(out, "range(%lld, %lld", (long long)v.list->start,
			            (long long)v.list->stop);
			if (v.list->step != 1)
				strbuf_addf(out, ", %lld", (long long)v.list->step);
			strbuf_addch(out, ')');
			return;
		}
		strbuf_addch(out, v.tuple ? '(' : '[');
		for (size_t i = 0; i < v.list->n; i++) {
			if (i)
				strbuf_adds(out, ", ");
			value_repr_into(v.list->items[i], out);
		}
		if (v.tuple && v.list->n == 1)
			strbuf_addch(out, ',');
		strbuf_addch(out, v.tuple ? ')' : ']');
		return;
	case V_DICT:
		strbuf_addch(out, '{');
		for (size_t i = 0; i < v.dict->n; i++) {
			if (i)
				strbuf_adds(out, ", ");
			value_repr_into(v.dict->keys[i], out);
			strbuf_adds(out, ": ");
			value_repr_into(v.dict->vals[i], out);
		}
		strbuf_addch(out, '}');
		return;
	case V_FUNC:
		strbuf_adds(out, "<function>");
		return;
	default:
		value_str_into(v, out);
	}
}

static bool printable(struct value v, int depth)
{
	if (depth > 200)
		return true;
	if (v.kind == V_FUNC)
		return false;
	if (v.kind == V_LIST) {
		if (v.lazy == VL_GEN)
			return false;
		for (size_t i = 0; i < v.list->n; i++)
			if (!printable(v.list->items[i], depth + 1))
				return false;
	} else if (v.kind == V_DICT) {
		for (size_t i = 0; i < v.dict->n; i++)
			if (!printable(v.dict->keys[i], depth + 1) ||
			    !printable(v.dict->vals[i], depth + 1))
				return false;
	}
	return true;
}

bool value_printable(struct value v)
{
	return printable(v, 0);
}

const char *value_type_name(struct value v)
{
	switch (v.kind) {
	case V_UNDEF:
		return "Undefined";
	case V_NONE:
		return "NoneType";
	case V_BOOL:
		return "bool";
	case V_INT:
	case V_BIGINT:
		return "int";
	case V_FLOAT:
		return "float";
	case V_STR:
		return v.safe ? "Markup" : "str";
	case V_LIST:
		if (v.lazy)
			return (const char *[]){"list", "generator", "dict_items", "dict_keys",
			                        "dict_values"}[v.lazy];
		return v.range ? "range" : v.tuple ? "tuple" : "list";
	case V_DICT:
		return "dict";
	case V_FUNC:
		return "function";
	}
	return "object";
}

/* ---- JSON, as Python's json.dumps(sort_keys=True, ensure_ascii=True) ---- */

static void json_str(const char *s, size_t len, struct strbuf *out)
{
	strbuf_addch(out, '"');
	const char *p = s, *end = p + len;
	while (p < end) {
		uint32_t c = utf8_decode(&p, end);
		switch (c) {
		case '"':
			strbuf_adds(out, "\\\"");
			break;
		case '\\':
			strbuf_adds(out, "\\\\");
			break;
		case '\n':
			strbuf_adds(out, "\\n");
			break;
		case '\r':
			strbuf_adds(out, "\\r");
			break;
		case '\t':
			strbuf_adds(out, "\\t");
			break;
		case '\b':
			strbuf_adds(out, "\\b");
			break;
		case '\f':
			strbuf_adds(out, "\\f");
			break;
		default:
			if (c < 0x20 || c > 0x7e) {
				if (c >= 0x10000) {
					c -= 0x10000;
					strbuf_addf(out, "\\u%04x\\u%04x", 0xd800 + (c >> 10),
					            0xdc00 + (c & 0x3ff));
				} else {
					strbuf_addf(out, "\\u%04x", c);
				}
			} else {
				strbuf_addch(out, (char)c);
			}
		}
	}
	strbuf_addch(out, '"');
}

static void json_newline(struct strbuf *out, int indent, int depth)
{
	strbuf_addch(out, '\n');
	for (int i = 0; i < indent * depth; i++)
		strbuf_addch(out, ' ');
}

/* A dict key as json.dumps writes it: str as is, numbers and bools as text. */
static bool json_key(struct value k, struct strbuf *out, struct strbuf *err)
{
	struct strbuf sb = STRBUF_INIT;
	switch (k.kind) {
	case V_STR:
		json_str(k.str.s, k.str.len, out);
		return true;
	case V_INT:
	case V_BIGINT:
	case V_FLOAT:
		value_str_into(k, &sb);
		break;
	case V_BOOL:
		strbuf_adds(&sb, k.b ? "true" : "false");
		break;
	case V_NONE:
		strbuf_adds(&sb, "null");
		break;
	default:
		strbuf_addf(err, "keys must be str, int, float, bool or None, not %s",
		            value_type_name(k));
		return false;
	}
	json_str(sb.buf, sb.len, out);
	strbuf_release(&sb);
	return true;
}

static bool json_value(struct value v, int indent, int depth, struct strbuf *out,
                       struct strbuf *err)
{
	switch (v.kind) {
	case V_NONE:
		strbuf_adds(out, "null");
		return true;
	case V_BOOL:
		strbuf_adds(out, v.b ? "true" : "false");
		return true;
	case V_INT:
		strbuf_addf(out, "%lld", (long long)v.i);
		return true;
	case V_BIGINT:
		vint_to_str(v, out);
		return true;
	case V_FLOAT:
		if (isnan(v.f))
			strbuf_adds(out, "NaN");
		else if (isinf(v.f))
			strbuf_adds(out, v.f < 0 ? "-Infinity" : "Infinity");
		else
			value_float_repr(v.f, out);
		return true;
	case V_STR:
		json_str(v.str.s, v.str.len, out);
		return true;
	case V_LIST:
		if (v.range || v.lazy) {
			strbuf_addf(err, "Object of type %s is not JSON serializable",
			            value_type_name(v));
			return false;
		}
		if (v.list->n == 0) {
			strbuf_adds(out, "[]");
			return true;
		}
		strbuf_addch(out, '[');
		for (size_t i = 0; i < v.list->n; i++) {
			if (i)
				strbuf_adds(out, indent >= 0 ? "," : ", ");
			if (indent >= 0)
				json_newline(out, indent, depth + 1);
			if (!json_value(v.list->items[i], indent, depth + 1, out, err))
				return false;
		}
		if (indent >= 0)
			json_newline(out, indent, depth);
		strbuf_addch(out, ']');
		return true;
	case V_DICT: {
		if (v.dict->n == 0) {
			strbuf_adds(out, "{}");
			return true;
		}
		/* sort_keys: an insertion sort of indices, stable like Python's. */
		size_t n = v.dict->n;
		size_t *order = xmalloc(n * sizeof(*order));
		for (size_t i = 0; i < n; i++) {
			size_t j = i;
			int cmp = 0;
			while (j > 0) {
				if (!value_compare(v.dict->keys[order[j - 1]], v.dict->keys[i],
				                   false, &cmp)) {
					strbuf_addf(err,
					            "'<' not supported between instances of '%s' "
					            "and '%s'",
					            value_type_name(v.dict->keys[i]),
					            value_type_name(v.dict->keys[order[j - 1]]));
					free(order);
					return false;
				}
				if (cmp <= 0)
					break;
				order[j] = order[j - 1];
				j--;
			}
			order[j] = i;
		}
		strbuf_addch(out, '{');
		bool ok = true;
		for (size_t k = 0; k < n && ok; k++) {
			if (k)
				strbuf_adds(out, indent >= 0 ? "," : ", ");
			if (indent >= 0)
				json_newline(out, indent, depth + 1);
			ok = json_key(v.dict->keys[order[k]], out, err);
			if (ok) {
				strbuf_adds(out, ": ");
				ok =
				    json_value(v.dict->vals[order[k]], indent, depth + 1, out, err);
			}
		}
		free(order);
		if (!ok)
			return false;
		if (indent >= 0)
			json_newline(out, indent, depth);
		strbuf_addch(out, '}');
		return true;
	}
	default:
		strbuf_addf(err, "Object of type %s is not JSON serializable", value_type_name(v));
		return false;
	}
}

bool value_to_json(struct value v, int indent, struct strbuf *out, struct strbuf *err)
{
	return json_value(v, indent, 0, out, err);
}
