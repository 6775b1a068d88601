/* test_autoscale.c -- the autoscaler's decision table. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "autoscale.h"

static const struct aif_scale_policy P = {
	.min = 1, .max = 8, .target_per_unit = 10, .max_age_ms = 30000,
	.up_cooldown_ms = 10000, .down_cooldown_ms = 60000,
};

struct row {
	int	 current;
	int64_t	 depth, age, since_up, since_down;
	int	 desired, action;
};

static void
decisions_follow_the_table(void **state)
{
	static const struct row rows[] = {
		/* idle at the minimum: hold */
		{ 1, 0, 0, 999999, 999999, 1, 0 },
		/* 35 jobs, 10 per worker: 4 */
		{ 1, 35, 0, 999999, 999999, 4, 1 },
		/* never above max */
		{ 2, 500, 0, 999999, 999999, 8, 1 },
		/* up cooldown holds */
		{ 2, 500, 0, 1000, 999999, 2, 0 },
		/* too old a queue forces one more even when depth fits */
		{ 3, 20, 45000, 999999, 999999, 4, 1 },
		/* down one at a time, after the cooldown */
		{ 5, 10, 0, 999999, 999999, 4, -1 },
		/* down cooldown holds (also right after an up) */
		{ 5, 10, 0, 999999, 1000, 5, 0 },
		{ 5, 10, 0, 2000, 999999, 5, 0 },
		/* below min is fixed at once, to what the queue needs */
		{ 0, 0, 0, 0, 0, 1, 1 },
		{ 0, 35, 0, 0, 0, 4, 1 },
		/* above max too */
		{ 9, 0, 0, 0, 0, 8, -1 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct aif_scale_input in = { rows[i].current, rows[i].depth, rows[i].age,
		    rows[i].since_up, rows[i].since_down };
		struct aif_scale_decision d;
		aif_scale_decide(&P, &in, &d);
		if (d.desired != rows[i].desired || d.action != rows[i].action)
			fail_msg("row %zu: desired %d action %d, want %d %d (%s)", i, d.desired,
			    d.action, rows[i].desired, rows[i].action, d.reason);
	}
}

static void
decision_has_a_reason(void **state)
{
	struct aif_scale_input in = { 1, 35, 0, 999999, 999999 };
	struct aif_scale_decision d;

	(void)state;
	aif_scale_decide(&P, &in, &d);
	assert_true(d.reason[0] != '\0');
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(decisions_follow_the_table),
		cmocka_unit_test(decision_has_a_reason),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
