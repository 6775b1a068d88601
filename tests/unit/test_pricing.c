/* test_pricing.c -- unit tests of core/gate/pricing.c: the exact integer cost of a job.
 * Every expected value below is computed by hand from
 * ceil((prompt * input_per_mtok + completion * output_per_mtok) / 1e6). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "pricing.h"

struct price_case {
	const char	*name;
	int64_t		 input_per_mtok;
	int64_t		 output_per_mtok;
	int64_t		 prompt;
	int64_t		 completion;
	int64_t		 want;
};

static void
run_cases(const struct price_case *c, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct aif_pricing p = { c[i].input_per_mtok, c[i].output_per_mtok };
		int64_t got = aif_price_micros(&p, c[i].prompt, c[i].completion);

		if (got != c[i].want)
			fail_msg("%s: got %lld, want %lld", c[i].name, (long long)got,
			    (long long)c[i].want);
	}
}

static void
hand_computed_costs_match(void **state)
{
	static const struct price_case cases[] = {
		/* 0.9 + 9.6 = 10.5 -> 11 */
		{ "demo-chat 6+16", 150000, 600000, 6, 16, 11 },
		/* 9 * 0.15 + 3 * 0.6 = 1.35 + 1.8 = 3.15 -> 4 */
		{ "demo-chat 9+3", 150000, 600000, 9, 3, 4 },
		/* 1000 * 0.05 + 500 * 0.1 = 50 + 50 = 100, exact */
		{ "demo-small 1000+500", 50000, 100000, 1000, 500, 100 },
		/* 1M prompt tokens at 2.5/M = 2.5 units = 2500000 micros */
		{ "one million prompt", 2500000, 10000000, 1000000, 0, 2500000 },
		/* 1M completion tokens at 10/M */
		{ "one million completion", 2500000, 10000000, 0, 1000000, 10000000 },
		/* 123457 * 3 + 98765 * 7 = 370371 + 691355 = 1061726 -> 1.061726 -> 2 */
		{ "odd counts", 3, 7, 123457, 98765, 2 },
		{ "nothing used", 150000, 600000, 0, 0, 0 },
	};

	(void)state;
	run_cases(cases, sizeof(cases) / sizeof(cases[0]));
}

static void
division_rounds_up_exactly_at_the_boundary(void **state)
{
	static const struct price_case cases[] = {
		{ "one micro-unit of a million", 1, 0, 1, 0, 1 },
		{ "just under one", 1, 0, 999999, 0, 1 },
		{ "exactly one", 1, 0, 1000000, 0, 1 },
		{ "just over one", 1, 0, 1000001, 0, 2 },
		{ "exactly two", 1, 0, 2000000, 0, 2 },
		{ "just over two via completion", 0, 1, 0, 2000001, 3 },
		/* the two halves are summed before rounding: 0.5 + 0.5 = 1, not 2 */
		{ "halves add before rounding", 1, 1, 500000, 500000, 1 },
	};

	(void)state;
	run_cases(cases, sizeof(cases) / sizeof(cases[0]));
}

static void
zero_prices_cost_nothing(void **state)
{
	static const struct price_case cases[] = {
		{ "free model", 0, 0, 1000000, 1000000, 0 },
		{ "free model, huge counts", 0, 0, INT64_MAX, INT64_MAX, 0 },
		{ "free input", 0, 600000, 1000000, 0, 0 },
		{ "free output", 150000, 0, 0, 1000000, 0 },
		{ "free output still bills input", 150000, 0, 1000000, 1000000, 150000 },
	};

	(void)state;
	run_cases(cases, sizeof(cases) / sizeof(cases[0]));
}

static void
negative_token_counts_count_as_zero(void **state)
{
	static const struct price_case cases[] = {
		{ "negative prompt", 150000, 600000, -6, 16, 10 },	/* 9.6 -> 10 */
		{ "negative completion", 150000, 600000, 6, -16, 1 },	/* 0.9 -> 1 */
		{ "both negative", 150000, 600000, -1, -1, 0 },
		{ "INT64_MIN prompt", 150000, 600000, INT64_MIN, 0, 0 },
		{ "INT64_MIN completion", 150000, 600000, 0, INT64_MIN, 0 },
	};

	(void)state;
	run_cases(cases, sizeof(cases) / sizeof(cases[0]));
}

static void
huge_counts_are_exact_below_int64_max(void **state)
{
	static const struct price_case cases[] = {
		/* INT64_MAX / 1e6 = 9223372036854.775807 -> 9223372036855 */
		{ "max prompt at 1/M", 1, 0, INT64_MAX, 0, 9223372036855LL },
		/* (2^62 * 1e6) / 1e6 = 2^62: the product exceeds int64 but not the result */
		{ "product beyond int64", 1000000, 0, INT64_C(4611686018427387904), 0,
		    INT64_C(4611686018427387904) },
		/* INT64_MAX * 1e6 / 1e6 lands exactly on INT64_MAX */
		{ "exactly INT64_MAX", 1000000, 0, INT64_MAX, 0, INT64_MAX },
	};

	(void)state;
	run_cases(cases, sizeof(cases) / sizeof(cases[0]));
}

static void
huge_counts_saturate_at_int64_max(void **state)
{
	static const struct price_case cases[] = {
		{ "one micro over", 1000001, 0, INT64_MAX, 0, INT64_MAX },
		{ "max prompt and price", INT64_MAX, 0, INT64_MAX, 0, INT64_MAX },
		{ "max completion and price", 0, INT64_MAX, 0, INT64_MAX, INT64_MAX },
		/* 2 * (2^63-1)^2 is just under 2^127: must not overflow 128 bits */
		{ "everything at max", INT64_MAX, INT64_MAX, INT64_MAX, INT64_MAX,
		    INT64_MAX },
		/* two halves each just within int64 whose sum is not */
		{ "sum of two halves", 1000000, 1000000, INT64_MAX / 2 + 1,
		    INT64_MAX / 2 + 1, INT64_MAX },
	};

	(void)state;
	run_cases(cases, sizeof(cases) / sizeof(cases[0]));
}

static void
pricing_is_not_modified(void **state)
{
	struct aif_pricing p = { 150000, 600000 };

	(void)state;
	(void)aif_price_micros(&p, 6, 16);
	assert_int_equal(p.input_per_mtok, 150000);
	assert_int_equal(p.output_per_mtok, 600000);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(hand_computed_costs_match),
		cmocka_unit_test(division_rounds_up_exactly_at_the_boundary),
		cmocka_unit_test(zero_prices_cost_nothing),
		cmocka_unit_test(negative_token_counts_count_as_zero),
		cmocka_unit_test(huge_counts_are_exact_below_int64_max),
		cmocka_unit_test(huge_counts_saturate_at_int64_max),
		cmocka_unit_test(pricing_is_not_modified),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
