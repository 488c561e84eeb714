#include "harness.h"

#include <string.h>

#include "gha/expr.h"
#include "plan/plan.h"

/* An entry from JSON, through the expression evaluator's fromJSON. */
static struct value entry(struct arena *a, const char *json)
{
	struct strbuf e = STRBUF_INIT;
	strbuf_adds(&e, "${{ fromJSON('");
	strbuf_adds(&e, json);
	strbuf_adds(&e, "') }}");
	struct gha_ctx g = {.contexts = value_dict(a), .status = GHA_SUCCESS};
	struct diag d = DIAG_INIT;
	struct value v;
	struct srcloc at = {"test", 1, 1};
	assert_int_equal(gha_interp(e.buf, e.len, &at, &g, a, &v, &d), 0);
	assert_int_equal(v.kind, V_DICT);
	strbuf_release(&e);
	diag_release(&d);
	return v;
}

static char *identity(struct arena *a, const char *json)
{
	struct strbuf s = STRBUF_INIT;
	plan_entry_identity(entry(a, json), &s);
	char *r = arena_strndup(a, s.buf, s.len);
	strbuf_release(&s);
	return r;
}

static void identity__is_the_whole_entry_in_a_canonical_form(void **state)
{
	struct arena a = ARENA_INIT;
	/* Key order and the tests/ prefix do not make another test. */
	assert_string_equal(
	    identity(&a, "{\"info\":{\"num_gpus\":8,\"test_file\":\"test_r3.py\"}}"),
	    identity(&a, "{\"info\":{\"test_file\":\"tests/test_r3.py\",\"num_gpus\":8}}"));
	assert_string_equal(identity(&a, "{\"test_file\":\"test_r3.py\",\"num_gpus\":8}"),
	                    "{\"num_gpus\":8,\"test_file\":\"tests/test_r3.py\"}");
	/* Any other key does. */
	assert_string_not_equal(
	    identity(&a, "{\"info\":{\"test_file\":\"test_r3.py\",\"use_deepep\":\"1\"}}"),
	    identity(&a, "{\"info\":{\"test_file\":\"test_r3.py\"}}"));
	assert_string_not_equal(
	    identity(&a, "{\"info\":{\"test_file\":\"test_r3.py\"},\"py\":\"3.10\"}"),
	    identity(&a, "{\"info\":{\"test_file\":\"test_r3.py\"},\"py\":\"3.11\"}"));
	arena_release(&a);
}

static void variants__name_what_differs_between_entries_that_share_file_and_args(void **state)
{
	struct arena a = ARENA_INIT;
	struct value e[5] = {
	    entry(&a, "{\"info\":{\"test_file\":\"test_r3.py\",\"num_gpus\":8,\"use_deepep\":\"1\","
	              "\"use_fp8_rollout\":\"1\",\"enable_eval\":\"0\"}}"),
	    entry(&a,
	          "{\"info\":{\"test_file\":\"test_r3.py\",\"num_gpus\":8,\"enable_eval\":\"0\"}}"),
	    entry(&a, "{\"info\":{\"test_file\":\"test_ckpt.py\",\"num_gpus\":8}}"),
	    entry(&a, "{\"info\":{\"test_file\":\"test_ckpt.py\",\"num_gpus\":8,"
	              "\"test_args\":\"--async-save\"}}"),
	    entry(&a,
	          "{\"info\":{\"test_file\":\"test_r3.py\",\"num_gpus\":8,\"enable_eval\":\"1\"}}"),
	};
	const char *suffix[5];
	plan_entry_variants(e, 5, &a, suffix);
	/* enable_eval differs only from the last; use_deepep and use_fp8_rollout from the second.
	 */
	assert_string_equal(suffix[0], "[enable_eval=0 use_deepep=1 use_fp8_rollout=1]");
	assert_string_equal(suffix[1], "[enable_eval=0; without use_deepep, use_fp8_rollout]");
	assert_string_equal(suffix[4], "[enable_eval=1; without use_deepep, use_fp8_rollout]");
	/* Different args already tell them apart. */
	assert_null(suffix[2]);
	assert_null(suffix[3]);
	/* Two entries alike but for one key: only that key. */
	plan_entry_variants(e, 2, &a, suffix);
	assert_string_equal(suffix[0], "[use_deepep=1 use_fp8_rollout=1]");
	assert_string_equal(suffix[1], "[without use_deepep, use_fp8_rollout]");
	/* An exact copy is numbered. */
	struct value twice[2] = {e[2], e[2]};
	plan_entry_variants(twice, 2, &a, suffix);
	assert_string_equal(suffix[0], "[#1]");
	assert_string_equal(suffix[1], "[#2]");
	arena_release(&a);
}

static void gpus__only_whole_numbers_up_to_the_bound(void **state)
{
	(void)state;
	struct arena a = ARENA_INIT;
	struct value bad;
	static const char *const good[] = {
	    "{\"test_file\":\"t.py\"}",       "{\"num_gpus\":0}",     "{\"num_gpus\":8}",
	    "{\"info\":{\"num_gpus\":4096}}", "{\"num_gpus\":\"4\"}",
	};
	for (size_t i = 0; i < sizeof(good) / sizeof(*good); i++)
		assert_true(plan_entry_gpus_valid(entry(&a, good[i]), PLAN_MAX_GPUS, &bad));
	/* Each of these ran as 0 GPUs: no lease, every GPU visible. */
	static const char *const wrong[] = {
	    "{\"num_gpus\":-1}",     "{\"num_gpus\":1.5}",           "{\"num_gpus\":true}",
	    "{\"num_gpus\":1e30}",   "{\"num_gpus\":[1]}",           "{\"num_gpus\":null}",
	    "{\"num_gpus\":\"-1\"}", "{\"num_gpus\":\"2x\"}",        "{\"num_gpus\":\"\"}",
	    "{\"num_gpus\":4097}",   "{\"info\":{\"num_gpus\":{}}}",
	};
	for (size_t i = 0; i < sizeof(wrong) / sizeof(*wrong); i++)
		if (plan_entry_gpus_valid(entry(&a, wrong[i]), PLAN_MAX_GPUS, &bad))
			fail_msg("%s passes", wrong[i]);
	assert_false(plan_entry_gpus_valid(entry(&a, "{\"num_gpus\":-1}"), PLAN_MAX_GPUS, &bad));
	assert_int_equal(bad.kind, V_INT);
	assert_int_equal(bad.i, -1);
	/* A machine's own bound. */
	assert_false(plan_entry_gpus_valid(entry(&a, "{\"num_gpus\":9}"), 8, &bad));
	arena_release(&a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(identity__is_the_whole_entry_in_a_canonical_form),
	    cmocka_unit_test(variants__name_what_differs_between_entries_that_share_file_and_args),
	    cmocka_unit_test(gpus__only_whole_numbers_up_to_the_bound),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
