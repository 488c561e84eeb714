/* value/bigint: exact Python ints beyond 64 bits, checked against Python's answers. */
#include "harness.h"

#include <string.h>

#include "value/bigint.h"

static struct value parse(struct arena *a, const char *s)
{
	struct value v;
	assert_int_equal(vint_parse(a, s, strlen(s), 0, &v), VINT_OK);
	return v;
}

static void check(struct value v, const char *want)
{
	struct strbuf sb = STRBUF_INIT;
	vint_to_str(v, &sb);
	assert_string_equal(sb.buf, want);
	strbuf_release(&sb);
}

static void arith(enum vint_op op, const char *x, const char *y, const char *want)
{
	struct arena a = ARENA_INIT;
	struct value r;
	assert_int_equal(vint_arith(&a, op, parse(&a, x), parse(&a, y), &r), VINT_OK);
	check(r, want);
	arena_release(&a);
}

static void vint_arith__matches_python(void **state)
{
	(void)state;
	arith(VINT_ADD, "9223372036854775807", "1", "9223372036854775808");
	arith(VINT_SUB, "-9223372036854775808", "1", "-9223372036854775809");
	arith(VINT_MUL, "123456789012345678901234567890", "987654321098765432109876543210",
	      "121932631137021795226185032733622923332237463801111263526900");
	arith(VINT_FLOORDIV, "100000000000000000000000000000000000000000000000000",
	      "10000000000000000000000007", "9999999999999999999999993");
	arith(VINT_MOD, "-100000000000000000000000000000000000000000000000000",
	      "10000000000000000000000007", "9999999999999999999999958");
	arith(VINT_FLOORDIV, "-18446744073709551616", "3", "-6148914691236517206");
	arith(VINT_MOD, "18446744073709551616", "-7", "-5");
	arith(VINT_POW, "3", "100", "515377520732011331036461129765621272702107522001");
	arith(VINT_SUB, "18446744073709551616", "18446744073709551616", "0");
	/* a big base to a small power (the fuzzer found the buffer too small for e == 0) */
	arith(VINT_POW, "1393796574908163946345982392040522594123776", "0", "1");
	arith(VINT_POW, "1393796574908163946345982392040522594123776", "1",
	      "1393796574908163946345982392040522594123776");
	arith(VINT_POW, "-18446744073709551616", "3",
	      "-6277101735386680763835789423207666416102355444464034512896");
}

static void vint_arith__refuses_past_the_bound_and_division_by_zero(void **state)
{
	(void)state;
	struct arena a = ARENA_INIT;
	struct value r;
	assert_int_equal(vint_arith(&a, VINT_POW, value_int(2), value_int(14001), &r),
	                 VINT_TOO_BIG);
	assert_int_equal(vint_arith(&a, VINT_POW, value_int(2), value_int(13999), &r), VINT_OK);
	assert_int_equal(
	    vint_arith(&a, VINT_MOD, parse(&a, "99999999999999999999"), value_int(0), &r),
	    VINT_ZERODIV);
	arena_release(&a);
}

static void vint_results_that_fit_are_int64(void **state)
{
	(void)state;
	struct arena a = ARENA_INIT;
	struct value r;
	vint_arith(&a, VINT_SUB, parse(&a, "9223372036854775808"), value_int(1), &r);
	assert_int_equal(r.kind, V_INT);
	assert_true(r.i == INT64_MAX);
	r = vint_neg(&a, value_int(INT64_MIN));
	assert_int_equal(r.kind, V_BIGINT);
	check(r, "9223372036854775808");
	arena_release(&a);
}

static void vint_floats_convert_exactly(void **state)
{
	(void)state;
	struct arena a = ARENA_INIT;
	struct value r;
	assert_int_equal(vint_from_double(&a, 1e19, &r), VINT_OK);
	check(r, "10000000000000000000");
	assert_int_equal(vint_from_double(&a, -1e300, &r), VINT_OK);
	check(r,
	      "-100000000000000005250476025520442024870446858110815915491585411551180245798890819"
	      "578637137508044786404370444383288387817694252323536043057564479218478670698284838"
	      "720092657580373783023379478809005936895323497079994508111903896764088007465274278"
	      "0142494579258788820056842838115669472196386865459400540160");
	assert_int_equal(vint_from_double(&a, 1.0 / 0.0, &r), VINT_OVERFLOW);
	double f;
	assert_int_equal(vint_to_double(parse(&a, "9007199254740993"), &f), VINT_OK);
	assert_true(f == 9007199254740992.0); /* ties to even */
	assert_int_equal(vint_truediv(parse(&a, "100000000000000000000"), value_int(3), &f),
	                 VINT_OK);
	assert_true(f == 3.333333333333333e+19);
	int cmp;
	assert_true(vnum_cmp(parse(&a, "9007199254740993"), value_float(9007199254740992.0), &cmp));
	assert_int_equal(cmp, 1);
	assert_false(vnum_cmp(value_int(1), value_float(0.0 / 0.0), &cmp));
	arena_release(&a);
}

static void vint_parse__python_syntax(void **state)
{
	(void)state;
	struct arena a = ARENA_INIT;
	struct value r;
	assert_int_equal(vint_parse(&a, " -1_000 ", 8, 10, &r), VINT_OK);
	check(r, "-1000");
	assert_int_equal(vint_parse(&a, "0x_ff", 5, 16, &r), VINT_OK);
	check(r, "255");
	assert_int_equal(vint_parse(&a, "0x10", 4, 10, &r), VINT_INVALID);
	assert_int_equal(vint_parse(&a, "1__0", 4, 10, &r), VINT_INVALID);
	assert_int_equal(vint_parse(&a, "010", 3, 0, &r), VINT_INVALID);
	assert_int_equal(vint_parse(&a, "_1", 2, 10, &r), VINT_INVALID);
	/* Past the bound, a bad digit still makes it invalid (then Python tries float()). */
	struct strbuf big = STRBUF_INIT;
	for (int i = 0; i < 5000; i++)
		strbuf_addch(&big, '9');
	assert_int_equal(vint_parse(&a, big.buf, big.len, 10, &r), VINT_TOO_BIG);
	strbuf_addch(&big, 'x');
	assert_int_equal(vint_parse(&a, big.buf, big.len, 10, &r), VINT_INVALID);
	strbuf_release(&big);
	struct strbuf hex = STRBUF_INIT;
	vint_mag_to_base(parse(&a, "-1180591620717411303424"), 16, false, &hex);
	assert_string_equal(hex.buf, "400000000000000000");
	strbuf_release(&hex);
	arena_release(&a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(vint_arith__matches_python),
	    cmocka_unit_test(vint_arith__refuses_past_the_bound_and_division_by_zero),
	    cmocka_unit_test(vint_results_that_fit_are_int64),
	    cmocka_unit_test(vint_floats_convert_exactly),
	    cmocka_unit_test(vint_parse__python_syntax),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
