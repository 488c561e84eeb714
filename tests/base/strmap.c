#include "harness.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "base/strmap.h"

static void strmap__puts_gets_and_replaces(void **state)
{
	(void)state;
	struct strmap m = STRMAP_INIT;
	assert_null(strmap_get(&m, "a", 1)); /* empty: no table yet */
	int one = 1, two = 2, three = 3;
	assert_null(strmap_put(&m, "a", 1, &one));
	assert_null(strmap_put(&m, "ab", 2, &two));
	assert_ptr_equal(strmap_get(&m, "a", 1), &one);
	assert_ptr_equal(strmap_get(&m, "ab", 2), &two);
	assert_null(strmap_get(&m, "b", 1));
	assert_ptr_equal(strmap_put(&m, "a", 1, &three), &one); /* the old value back */
	assert_ptr_equal(strmap_get(&m, "a", 1), &three);
	assert_int_equal(m.n, 2);
	/* Lengths count: a NUL inside a key is a byte like another. */
	assert_null(strmap_put(&m, "a\0b", 3, &one));
	assert_null(strmap_put(&m, "a\0c", 3, &two));
	assert_ptr_equal(strmap_get(&m, "a\0b", 3), &one);
	assert_ptr_equal(strmap_get(&m, "a\0c", 3), &two);
	assert_null(strmap_get(&m, "", 0));
	strmap_release(&m);
	assert_int_equal(m.cap, 0);
}

static void strmap__grows_and_keeps_everything(void **state)
{
	(void)state;
	enum { N = 100000 };
	static char keys[N][16];
	struct strmap m = STRMAP_INIT;
	for (uintptr_t i = 0; i < N; i++) {
		snprintf(keys[i], sizeof(keys[i]), "tests/t%lu", (unsigned long)i);
		assert_null(strmap_put(&m, keys[i], strlen(keys[i]), (void *)(i + 1)));
	}
	assert_int_equal(m.n, N);
	assert_true(m.cap >= 2 * N);
	for (uintptr_t i = 0; i < N; i++)
		assert_int_equal((uintptr_t)strmap_get(&m, keys[i], strlen(keys[i])), i + 1);
	assert_null(strmap_get(&m, "tests/t100000", 13));
	strmap_release(&m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(strmap__puts_gets_and_replaces),
	    cmocka_unit_test(strmap__grows_and_keeps_everything),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
