/*
 * value: the value model shared by templates, expressions and JSON.
 *
 * Values follow Python's semantics, since the templates gpuci renders are
 * Jinja2 templates and their output must match Python's byte for byte: an
 * int is a Python int (64-bit here), a float prints as Python's repr, a
 * dict keeps insertion order, a string is UTF-8 and may be "safe" (Jinja's
 * Markup). Undefined is Jinja's default Undefined: it prints as nothing, is
 * falsy, and fails when used for more.
 *
 * Values are small and passed by copy; what they point to (strings, lists,
 * dicts) lives in an arena owned by the caller and is never mutated after
 * it is built, so values can be shared freely. Everything dies with the
 * arena.
 */
#ifndef GPUCI_VALUE_VALUE_H
#define GPUCI_VALUE_VALUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/arena.h"
#include "base/strbuf.h"

enum value_kind {
	V_UNDEF,
	V_NONE,
	V_BOOL,
	V_INT,
	V_FLOAT,
	V_STR,
	V_LIST, /* list or tuple */
	V_DICT,
	V_FUNC,   /* something callable: a macro, a bound method, a builtin */
	V_BIGINT, /* an int beyond int64_t (value/bigint.h); only templates make them */
};

/*
 * What a list stands for when Python has no list there: a generator or
 * iterator (from |batch, |map, |select, |reverse...: always true, no len,
 * no items by index, printed as an address, which gpuci refuses to print),
 * or a view of a dict (.items(), .keys(), .values(): printed as
 * dict_items([...]) and the like).
 */
enum value_lazy { VL_NONE, VL_GEN, VL_ITEMS, VL_KEYS, VL_VALUES };

struct vlist;
struct vdict;
struct vfunc;
struct bigint;

struct value {
	enum value_kind kind;
	bool safe;    /* V_STR: Markup, not to be escaped again */
	bool tuple;   /* V_LIST: a tuple (prints with parentheses) */
	bool range;   /* V_LIST: a Python range (list->start, stop, step; prints as one) */
	uint8_t lazy; /* V_LIST: enum value_lazy, what Python has instead of a list */
	union {
		bool b;
		int64_t i;
		double f;
		struct {
			const char *s; /* V_STR: UTF-8, NUL-terminated; V_UNDEF: hint */
			size_t len;
		} str;
		struct vlist *list;
		struct vdict *dict;
		struct vfunc *func;
		const struct bigint *big;
	};
};

struct vlist {
	size_t n;
	struct value *items;
	int64_t start, stop, step; /* the arguments of a range, as given */
};

struct vdict {
	size_t n, cap;
	struct value *keys, *vals;
	/* Past a few keys, an open-addressing index of positions + 1 (0: empty). */
	uint32_t *index;
	size_t index_cap;
};

static inline struct value value_none(void)
{
	return (struct value){.kind = V_NONE};
}

static inline struct value value_bool(bool b)
{
	return (struct value){.kind = V_BOOL, .b = b};
}

static inline struct value value_int(int64_t i)
{
	return (struct value){.kind = V_INT, .i = i};
}

static inline struct value value_float(double f)
{
	return (struct value){.kind = V_FLOAT, .f = f};
}

/*
 * The length of the UTF-8 character at p (p < end): its lead byte's length
 * when that many continuation bytes follow within end, else 1, so that any
 * byte string is walked without reading past its end.
 */
static inline size_t utf8_step(const char *p, const char *end)
{
	unsigned char c = (unsigned char)*p;
	size_t n = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 1;
	if (n > (size_t)(end - p))
		return 1;
	for (size_t i = 1; i < n; i++)
		if (((unsigned char)p[i] & 0xc0) != 0x80)
			return 1;
	return n;
}

/* Decodes the character at *p (p < end) and moves *p past it (utf8_step). */
uint32_t utf8_decode(const char **p, const char *end);
/* Appends code point c encoded as UTF-8. */
void utf8_put(struct strbuf *sb, uint32_t c);

/*
 * Whether s[0..len) is UTF-8 as Python's decoder accepts it (no overlong
 * forms, no surrogates, nothing past U+10FFFF). Stores the offset of the
 * first bad byte in *bad otherwise.
 */
bool utf8_valid(const char *s, size_t len, size_t *bad);

/* An undefined value; hint is the message a use of it fails with (or NULL). */
struct value value_undef(const char *hint);
/* A string value of s[0..len), copied into the arena. */
struct value value_str(struct arena *a, const char *s, size_t len);
/* A string value that takes s as it is (s must live as long as the value). */
struct value value_str_static(const char *s);
struct value value_strbuf(struct arena *a, const struct strbuf *sb);
struct value value_list(struct arena *a, size_t n); /* n items, all none */
struct value value_dict(struct arena *a);

/* A dict with room for cap keys before it grows. */
struct value value_dict_sized(struct arena *a, size_t cap);
/* Dicts: lookup returns NULL when missing; set replaces or appends. */
struct value *vdict_get(const struct vdict *d, struct value key);
void vdict_set(struct arena *a, struct vdict *d, struct value key, struct value val);

/* Python's bool(v). */
bool value_truthy(struct value v);
/* Python's ==. */
bool value_equal(struct value a, struct value b);
/*
 * Python's <: stores -1, 0 or 1 in *cmp, or 2 where a NaN makes the two
 * unordered (<, <=, > and >= all false); false when the two cannot be
 * ordered (a TypeError in Python). fold_case compares strings lowercased.
 */
bool value_compare(struct value a, struct value b, bool fold_case, int *cmp);
/* Python's len(v), in code points for strings; false when it has none. */
bool value_length(struct value v, size_t *n);

/* Python's str(v) appended to out (undefined: nothing). */
void value_str_into(struct value v, struct strbuf *out);
/* Python's repr(v) appended to out. */
void value_repr_into(struct value v, struct strbuf *out);
/* The shortest repr of a double, as Python prints floats. */
void value_float_repr(double f, struct strbuf *out);

/*
 * json.dumps(v, sort_keys=True, indent=indent) (indent < 0: none), as
 * Python writes it (ensure_ascii). Fails (returns false, with the Python
 * message in err) for what JSON cannot hold.
 */
bool value_to_json(struct value v, int indent, struct strbuf *out, struct strbuf *err);

/* False when v is or holds a generator (VL_GEN) or a function: Python prints an address. */
bool value_printable(struct value v);

/* The Python type name, for messages: "int", "str", "dict", ... */
const char *value_type_name(struct value v);

#endif
