#include "harness.h"

#include <math.h>
#include <string.h>

#include "value/value.h"

static void check_float(double f, const char *want)
{
	struct strbuf sb = STRBUF_INIT;
	value_float_repr(f, &sb);
	assert_string_equal(sb.buf, want);
	strbuf_release(&sb);
}

static void value_float_repr__matches_python_repr(void **state)
{
	check_float(0.1 + 0.2, "0.30000000000000004");
	check_float(1.0, "1.0");
	check_float(-0.0, "-0.0");
	check_float(100.0, "100.0");
	check_float(2.5, "2.5");
	check_float(1e16, "1e+16");
	check_float(1e15, "1000000000000000.0");
	check_float(1.5e-5, "1.5e-05");
	check_float(0.0001, "0.0001");
	check_float(123456789.123, "123456789.123");
	check_float(1.7976931348623157e308, "1.7976931348623157e+308");
	check_float(5e-324, "5e-324");
	check_float(INFINITY, "inf");
	check_float(NAN, "nan");
}

static void value_str__prints_as_python_str(void **state)
{
	struct arena a = ARENA_INIT;
	struct value l = value_list(&a, 5);
	l.list->items[0] = value_str_static("it's");
	l.list->items[1] = value_none();
	l.list->items[2] = value_bool(true);
	l.list->items[3] = value_float(1.5);
	struct value t = value_list(&a, 1);
	t.tuple = true;
	t.list->items[0] = value_int(-3);
	l.list->items[4] = t;
	struct strbuf sb = STRBUF_INIT;
	value_str_into(l, &sb);
	assert_string_equal(sb.buf, "[\"it's\", None, True, 1.5, (-3,)]");
	strbuf_reset(&sb);
	struct value d = value_dict(&a);
	vdict_set(&a, d.dict, value_str_static("b"), value_str_static("x\ny"));
	vdict_set(&a, d.dict, value_str_static("a"), value_int(1));
	vdict_set(&a, d.dict, value_str_static("b"),
	          value_str_static("z")); /* replaces, keeps place */
	value_str_into(d, &sb);
	assert_string_equal(sb.buf, "{'b': 'z', 'a': 1}");
	strbuf_release(&sb);
	arena_release(&a);
}

static void value_to_json__sorts_keys_and_escapes_like_json_dumps(void **state)
{
	struct arena a = ARENA_INIT;
	struct value d = value_dict(&a);
	vdict_set(&a, d.dict, value_str_static("z"), value_list(&a, 0));
	vdict_set(&a, d.dict, value_str_static("a"), value_str_static("\xc3\xa9\"\\\n\x01"));
	vdict_set(&a, d.dict, value_str_static("m"), value_float(0.5));
	struct strbuf out = STRBUF_INIT, err = STRBUF_INIT;
	assert_true(value_to_json(d, -1, &out, &err));
	assert_string_equal(out.buf,
	                    "{\"a\": \"\\u00e9\\\"\\\\\\n\\u0001\", \"m\": 0.5, \"z\": []}");
	strbuf_reset(&out);
	assert_true(value_to_json(d, 2, &out, &err));
	assert_string_equal(out.buf, "{\n  \"a\": \"\\u00e9\\\"\\\\\\n\\u0001\",\n  \"m\": 0.5,\n"
	                             "  \"z\": []\n}");
	strbuf_reset(&out);
	assert_true(value_to_json(value_str_static("\xf0\x9f\x98\x80"), -1, &out, &err));
	assert_string_equal(out.buf, "\"\\ud83d\\ude00\"");
	strbuf_release(&out);
	strbuf_release(&err);
	arena_release(&a);
}

static void value_to_json__refuses_undefined_and_mixed_keys(void **state)
{
	struct arena a = ARENA_INIT;
	struct strbuf out = STRBUF_INIT, err = STRBUF_INIT;
	assert_false(value_to_json(value_undef(NULL), -1, &out, &err));
	assert_string_equal(err.buf, "Object of type Undefined is not JSON serializable");
	strbuf_reset(&err);
	struct value d = value_dict(&a);
	vdict_set(&a, d.dict, value_str_static("a"), value_int(1));
	vdict_set(&a, d.dict, value_int(1), value_int(2));
	assert_false(value_to_json(d, -1, &out, &err));
	assert_non_null(strstr(err.buf, "not supported between instances"));
	strbuf_release(&out);
	strbuf_release(&err);
	arena_release(&a);
}

static void value_equal__and_compare_follow_python(void **state)
{
	assert_true(value_equal(value_int(1), value_float(1.0)));
	assert_true(value_equal(value_bool(true), value_int(1)));
	assert_false(value_equal(value_str_static("1"), value_int(1)));
	assert_false(value_equal(value_none(), value_bool(false)));
	int cmp;
	assert_true(value_compare(value_str_static("B"), value_str_static("a"), false, &cmp));
	assert_true(cmp < 0);
	assert_true(value_compare(value_str_static("B"), value_str_static("a"), true, &cmp));
	assert_true(cmp > 0);
	assert_false(value_compare(value_str_static("a"), value_int(1), false, &cmp));
	assert_false(value_truthy(value_float(0.0)));
	assert_true(value_truthy(value_str_static(" ")));
	size_t n;
	assert_true(value_length(value_str_static("h\xc3\xa9llo"), &n));
	assert_int_equal(n, 5);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(value_float_repr__matches_python_repr),
	    cmocka_unit_test(value_str__prints_as_python_str),
	    cmocka_unit_test(value_to_json__sorts_keys_and_escapes_like_json_dumps),
	    cmocka_unit_test(value_to_json__refuses_undefined_and_mixed_keys),
	    cmocka_unit_test(value_equal__and_compare_follow_python),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
