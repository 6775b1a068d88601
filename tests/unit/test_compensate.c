/* test_compensate.c -- unit tests of workers/compensate.c: the backoff shared by
 * compensation steps and job retries (min(initial * pct^(attempt-1), max), exact in
 * integers, never past the maximum, no overflow for many attempts). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "compensate.h"

static void
backoff_grows_by_its_coefficient(void **state)
{
	(void)state;
	/* the retry policy's defaults: 500 ms, x2, at most 10 s */
	assert_int_equal(aif_compensate_backoff_ms(500, 200, 10000, 1), 500);
	assert_int_equal(aif_compensate_backoff_ms(500, 200, 10000, 2), 1000);
	assert_int_equal(aif_compensate_backoff_ms(500, 200, 10000, 3), 2000);
	assert_int_equal(aif_compensate_backoff_ms(500, 200, 10000, 5), 8000);
	/* a coefficient of 1.5 */
	assert_int_equal(aif_compensate_backoff_ms(1000, 150, 60000, 3), 2250);
	/* 1.0: constant */
	assert_int_equal(aif_compensate_backoff_ms(700, 100, 60000, 9), 700);
	/* attempt 0 (not yet tried) is the initial delay too */
	assert_int_equal(aif_compensate_backoff_ms(500, 200, 10000, 0), 500);
}

static void
backoff_stops_at_its_maximum(void **state)
{
	(void)state;
	assert_int_equal(aif_compensate_backoff_ms(500, 200, 10000, 6), 10000);
	assert_int_equal(aif_compensate_backoff_ms(500, 200, 10000, 1000000), 10000);
	assert_int_equal(aif_compensate_backoff_ms(500, 1000, 3000, 2), 3000);
	/* an initial delay above the maximum is the maximum */
	assert_int_equal(aif_compensate_backoff_ms(20000, 200, 10000, 1), 10000);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(backoff_grows_by_its_coefficient),
		cmocka_unit_test(backoff_stops_at_its_maximum),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
