/* test_buf.c -- unit tests of core/base/buf.c: the capped growable buffer appends and
 * stays a string, refuses to pass its cap without changing, never allocates past the
 * cap + 1, and grows by doubling (few reallocations for many appends). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "buf.h"

static void
appends_stay_a_string(void **state)
{
	struct aif_buf b = { 0 };

	(void)state;
	assert_int_equal(aif_buf_add(&b, "abc", 3, 100), AIF_OK);
	assert_int_equal(aif_buf_add(&b, "de", 2, 100), AIF_OK);
	assert_int_equal(b.len, 5);
	assert_string_equal(b.p, "abcde");
	assert_true(b.cap >= b.len + 1);
	aif_buf_free(&b);
	assert_null(b.p);
	assert_int_equal(b.len, 0);
	assert_int_equal(b.cap, 0);
}

static void
empty_append_makes_a_string(void **state)
{
	struct aif_buf b = { 0 };

	(void)state;
	assert_int_equal(aif_buf_add(&b, NULL, 0, 10), AIF_OK);
	assert_non_null(b.p);
	assert_string_equal(b.p, "");
	aif_buf_free(&b);
}

static void
exactly_max_fits_one_more_is_refused(void **state)
{
	struct aif_buf b = { 0 };

	(void)state;
	assert_int_equal(aif_buf_add(&b, "0123456789", 10, 10), AIF_OK);
	assert_int_equal(aif_buf_add(&b, "x", 1, 10), AIF_TOOBIG);
	assert_int_equal(b.len, 10);
	assert_string_equal(b.p, "0123456789");
	assert_int_equal(aif_buf_add(&b, NULL, 0, 10), AIF_OK);
	aif_buf_free(&b);
}

static void
refused_append_leaves_the_buffer_unchanged(void **state)
{
	struct aif_buf b = { 0 };
	char *before;
	size_t cap;

	(void)state;
	assert_int_equal(aif_buf_add(&b, "keep", 4, 8), AIF_OK);
	before = b.p;
	cap = b.cap;
	assert_int_equal(aif_buf_add(&b, "too long", 8, 8), AIF_TOOBIG);
	assert_ptr_equal(b.p, before);
	assert_int_equal(b.cap, cap);
	assert_int_equal(b.len, 4);
	assert_string_equal(b.p, "keep");
	/* a length that would overflow is refused, not wrapped */
	assert_int_equal(aif_buf_add(&b, "x", SIZE_MAX, SIZE_MAX), AIF_TOOBIG);
	assert_int_equal(b.len, 4);
	aif_buf_free(&b);
}

static void
capacity_never_passes_the_cap(void **state)
{
	struct aif_buf b = { 0 };

	(void)state;
	for (int i = 0; i < 1000; i++) {
		assert_int_equal(aif_buf_add(&b, "y", 1, 1000), AIF_OK);
		assert_true(b.cap <= 1001);
	}
	assert_int_equal(b.len, 1000);
	assert_int_equal(aif_buf_add(&b, "y", 1, 1000), AIF_TOOBIG);
	aif_buf_free(&b);
	/* a cap below the first allocation */
	assert_int_equal(aif_buf_add(&b, "ab", 2, 3), AIF_OK);
	assert_true(b.cap <= 4);
	aif_buf_free(&b);
}

static void
growth_doubles(void **state)
{
	struct aif_buf b = { 0 };
	size_t last = 0, grew = 0;

	(void)state;
	for (int i = 0; i < 100000; i++) {
		assert_int_equal(aif_buf_add(&b, "z", 1, 1u << 20), AIF_OK);
		if (b.cap != last) {
			grew++;
			last = b.cap;
		}
	}
	/* 64 -> 128 -> ... -> 131072: 12 allocations for 100000 appends */
	assert_true(grew <= 12);
	assert_int_equal(b.len, 100000);
	aif_buf_free(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(appends_stay_a_string),
		cmocka_unit_test(empty_append_makes_a_string),
		cmocka_unit_test(exactly_max_fits_one_more_is_refused),
		cmocka_unit_test(refused_append_leaves_the_buffer_unchanged),
		cmocka_unit_test(capacity_never_passes_the_cap),
		cmocka_unit_test(growth_doubles),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
