/* test_budget.c -- unit tests of core/gate/budget.c (which budgets a job is held
 * against, and for how much) and core/store/ledger.c (holds, captures and releases in
 * budget_balances and budget_ledger) against a real MariaDB (tests/unit/testdb.h:
 * where it comes from, and why `make test` fails without it). The plan tests need no
 * database and run even when the database tests are skipped.
 *
 * budget_ledger.job_id references no table (sql/003_gatekeeping.sql), so the jobs here
 * are ids far above AUTO_INCREMENT ones, distinct per run, and the subjects are
 * "key:<tag>-<n>" / "tenant:<tag>-<n>": runs and tests never see each other's rows; the
 * rows of this run are deleted at the end. The ledger functions run inside the caller's
 * transaction, as the queue runs them. Balances are summed over months, so a test
 * that runs across midnight at the end of a month still adds up.
 *
 * The plan tests are a table: each is a case (plan_case) named like the test, run by
 * run_plan_case. Runs with cwd tests/unit. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth.h"
#include "budget.h"
#include "config.h"
#include "db.h"
#include "gate_fixtures.h"
#include "ledger.h"
#include "pricing.h"
#include "testdb.h"
#include "util.h"

static struct {
	struct testdb	 t;
} g;

#define NEED_DB()	TESTDB_NEED(&g.t)

/* ------------------------------------------------------------------ helpers */

/* A model priced per million tokens (micro-units). */
static struct aif_model
model_priced(int64_t input_per_mtok, int64_t output_per_mtok)
{
	struct aif_model m;

	memset(&m, 0, sizeof(m));
	m.id = (char *)"utest";
	m.pricing.input_per_mtok = input_per_mtok;
	m.pricing.output_per_mtok = output_per_mtok;
	return m;
}

/* A budget subject of this run: "<scope>:<tag>-<n>" limited to limit_micros. */
static struct aif_budget_subject
new_subject(const char *scope, int64_t limit_micros)
{
	struct aif_budget_subject s;
	char prefix[16];

	memset(&s, 0, sizeof(s));
	snprintf(prefix, sizeof(prefix), "%s:", scope);
	testdb_name(&g.t, s.subject, sizeof(s.subject), prefix, "");
	s.limit_micros = limit_micros;
	return s;
}

/* A job id of this run: budget_ledger.job_id references no table, so no jobs row. */
static uint64_t
new_job(void)
{
	return testdb_id(&g.t);
}

/* Holds in a transaction of its own, committed even when refused: what is left then
 * is what aif_ledger_hold itself left. */
static enum aif_err
hold(uint64_t job, const struct aif_budget_subject *s, size_t n, int64_t amount)
{
	enum aif_err err;

	assert_int_equal(aif_db_begin(g.t.db), AIF_OK);
	err = aif_ledger_hold(g.t.db, job, s, n, amount);
	if (err == AIF_OK || err == AIF_FORBIDDEN)
		assert_int_equal(aif_db_commit(g.t.db), AIF_OK);
	else
		aif_db_rollback(g.t.db);
	return err;
}

/* A new job holding `amount` on the n subjects s, which must allow it; its id. */
static uint64_t
held_job(const struct aif_budget_subject *s, size_t n, int64_t amount)
{
	uint64_t job = new_job();

	assert_int_equal(hold(job, s, n, amount), AIF_OK);
	return job;
}

/* A key's and a tenant's subject of this run, in the order of a plan. */
static void
key_and_tenant(struct aif_budget_subject s[2], int64_t key_limit, int64_t tenant_limit)
{
	s[0] = new_subject("key", key_limit);
	s[1] = new_subject("tenant", tenant_limit);
}

static void
capture(uint64_t job, int64_t actual)
{
	assert_int_equal(aif_db_begin(g.t.db), AIF_OK);
	assert_int_equal(aif_ledger_capture(g.t.db, job, actual), AIF_OK);
	assert_int_equal(aif_db_commit(g.t.db), AIF_OK);
}

static void
release(uint64_t job)
{
	assert_int_equal(aif_db_begin(g.t.db), AIF_OK);
	assert_int_equal(aif_ledger_release(g.t.db, job), AIF_OK);
	assert_int_equal(aif_db_commit(g.t.db), AIF_OK);
}

/* SUM(expr) over a subject's balance rows; -1 when it has none. */
static int64_t
balance(const struct aif_budget_subject *s, const char *col)
{
	char sql[160];

	snprintf(sql, sizeof(sql), "SELECT SUM(%s) FROM budget_balances WHERE subject = ?",
	    col);
	return testdb_i64_str(&g.t, sql, s->subject);
}

static int64_t
held(const struct aif_budget_subject *s)
{
	return balance(s, "held_micros");
}

static int64_t
spent(const struct aif_budget_subject *s)
{
	return balance(s, "spent_micros");
}

/* Ledger rows of one job with this entry (and this subject; NULL: any). */
static int64_t
ledger_rows(uint64_t job, const char *entry, const struct aif_budget_subject *s)
{
	struct aif_dbp p[] = { AIF_P_I64(job), AIF_P_STR(entry),
	    AIF_P_STR(s != NULL ? s->subject : "") };

	if (s == NULL)
		return testdb_i64(&g.t, "SELECT COUNT(*) FROM budget_ledger WHERE job_id = ?"
		    " AND entry = ?", p, 2);
	return testdb_i64(&g.t, "SELECT COUNT(*) FROM budget_ledger WHERE job_id = ?"
	    " AND entry = ? AND subject = ?", p, 3);
}

/* The amount of the one ledger row of (job, entry, subject); -1 when not exactly one. */
static int64_t
ledger_amount(uint64_t job, const char *entry, const struct aif_budget_subject *s)
{
	struct aif_dbp p[] = { AIF_P_I64(job), AIF_P_STR(entry), AIF_P_STR(s->subject) };

	if (ledger_rows(job, entry, s) != 1)
		return -1;
	return testdb_i64(&g.t, "SELECT amount_micros FROM budget_ledger WHERE job_id = ?"
	    " AND entry = ? AND subject = ?", p, 3);
}

static void
assert_balance(const struct aif_budget_subject *s, int64_t want_held, int64_t want_spent)
{
	int64_t h = held(s), sp = spent(s);

	if (h != want_held || sp != want_spent)
		fail_msg("%s: held %" PRId64 " spent %" PRId64 ", want %" PRId64 " %" PRId64,
		    s->subject, h, sp, want_held, want_spent);
}

/* ------------------------------------------------------------------ setup */

static int
group_setup(void **state)
{
	(void)state;
	return testdb_open(&g.t, "test_budget", "");
}

/* Deletes the ledger and balance rows of this run's subjects. */
static int
group_teardown(void **state)
{
	(void)state;
	testdb_purge(&g.t, "DELETE FROM budget_ledger WHERE subject LIKE ?", "%:");
	testdb_purge(&g.t, "DELETE FROM budget_balances WHERE subject LIKE ?", "%:");
	testdb_close(&g.t);
	return 0;
}

/* ------------------------------------------------------------------ plan (no database) */

/* A plan test: key key_id (rotated from `lineage`; 0: never rotated) of tenant "team-a"
 * with its own monthly budget, its role's, and its tenant's when the tenant is listed
 * (-1: none), for `prompt` tokens and up to `max_out` more of a model priced `price`
 * (input, output) micros per million tokens. The plan must hold `hold` micros on
 * exactly the subjects in `want`, in order. */
struct plan_case {
	uint64_t	 key_id, lineage;
	int64_t		 key, role, tenant;		/* budgets */
	int		 listed;
	int64_t		 price[2], prompt, max_out;
	size_t		 n;
	struct { const char *subject; int64_t limit; } want[2];
	int64_t		 hold;
};

/* The job of most cases: 100 prompt tokens and up to 50 more at 2 and 6 micros a token,
 * a worst case of 100 * 2 + 50 * 6 = 500. */
#define JOB_100_50	.price = { 2000000, 6000000 }, .prompt = 100, .max_out = 50

static void
assert_plan(const struct plan_case *pc)
{
	struct aif_principal who = gate_principal(pc->key_id, "team-a", -1, -1, pc->key);
	struct aif_role role = gate_role(-1, -1, pc->role);
	struct aif_tenant t = gate_tenant("team-a", -1, -1, pc->tenant);
	struct aif_model m = model_priced(pc->price[0], pc->price[1]);
	struct aif_budget_plan p;

	if (pc->lineage != 0)
		who.lineage_id = pc->lineage;
	aif_budget_plan(&who, &role, pc->listed ? &t : NULL, &m, pc->prompt, pc->max_out,
	    &p);
	assert_int_equal(p.n, pc->n);
	for (size_t i = 0; i < p.n; i++) {
		assert_string_equal(p.subject[i].subject, pc->want[i].subject);
		assert_int_equal(p.subject[i].limit_micros, pc->want[i].limit);
	}
	assert_int_equal(p.hold_micros, pc->hold);
}

static void
run_plan_case(void **state)
{
	assert_plan(*state);
}

/* A test of the table: the case of that name. */
#define PLAN_TEST(pc)	{ #pc, run_plan_case, NULL, NULL, (void *)&(pc) }

static const struct plan_case plan_holds_against_the_keys_own_budget = {
	.key_id = 12, .key = 5000, .role = 1000, JOB_100_50,
	.n = 1, .want = { { "key:12", 5000 } }, .hold = 500,
};

/* key 13 was rotated from key 12 */
static const struct plan_case plan_holds_a_rotated_key_against_its_lineages_budget = {
	.key_id = 13, .lineage = 12, .key = 5000, .role = 1000, JOB_100_50,
	.n = 1, .want = { { "key:12", 5000 } }, .hold = 500,
};

static const struct plan_case plan_uses_the_roles_budget_when_the_key_has_none = {
	.key_id = 12, .key = -1, .role = 1000, JOB_100_50,
	.n = 1, .want = { { "key:12", 1000 } }, .hold = 500,
};

static const struct plan_case plan_keeps_a_keys_own_budget_of_zero = {
	.key_id = 12, .key = 0, .role = 1000, JOB_100_50,
	.n = 1, .want = { { "key:12", 0 } }, .hold = 500,
};

static const struct plan_case plan_adds_a_listed_tenant_with_a_budget = {
	.key_id = 12, .key = 5000, .role = 1000, .listed = 1, .tenant = 20000, JOB_100_50,
	.n = 2, .want = { { "key:12", 5000 }, { "tenant:team-a", 20000 } }, .hold = 500,
};

static const struct plan_case plan_holds_against_the_tenant_alone_when_the_key_has_no_budget = {
	.key_id = 12, .key = -1, .role = -1, .listed = 1, .tenant = 20000, JOB_100_50,
	.n = 1, .want = { { "tenant:team-a", 20000 } }, .hold = 500,
};

static const struct plan_case plan_ignores_a_listed_tenant_without_a_budget = {
	.key_id = 12, .key = 5000, .role = 1000, .listed = 1, .tenant = -1, JOB_100_50,
	.n = 1, .want = { { "key:12", 5000 } }, .hold = 500,
};

/* whether the tenant is listed (without a budget) or not */
static void
plan_without_any_budget_holds_nothing(void **state)
{
	static const struct plan_case listed = {
		.key_id = 12, .key = -1, .role = -1, .listed = 1, .tenant = -1, JOB_100_50,
		.n = 0, .hold = 0,
	}, unlisted = {
		.key_id = 12, .key = -1, .role = -1, JOB_100_50, .n = 0, .hold = 0,
	};

	(void)state;
	assert_plan(&listed);
	assert_plan(&unlisted);
}

static const struct plan_case plan_of_a_free_model_holds_nothing = {
	.key_id = 12, .key = 5000, .role = 1000, .listed = 1, .tenant = 20000,
	.price = { 0, 0 }, .prompt = 100000, .max_out = 4096, .n = 0, .hold = 0,
};

static void
plan_hold_is_the_worst_case_price(void **state)
{
	static const struct { int64_t in, out, prompt, max_out; } cases[] = {
		{ 1500000, 2000003, 1234, 777 },	/* rounds up */
		{ 1, 1, 1, 0 },				/* 1e-6 micros: 1 */
		{ 0, 30000000, 5000, 4096 },		/* output only */
		{ 250000, 0, 7, 100000 },		/* input only */
		{ 3000000, 15000000, 0, 8192 },
	};
	struct aif_principal who = gate_principal(12, "team-a", -1, -1, INT64_MAX / 4);
	struct aif_role role = gate_role(-1, -1, -1);
	struct aif_budget_plan p;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct aif_model m = model_priced(cases[i].in, cases[i].out);
		/* ceil((prompt * in + max_out * out) / 1e6), all small enough for int64 */
		int64_t want = (cases[i].prompt * cases[i].in + cases[i].max_out * cases[i].out +
		    999999) / 1000000;
		aif_budget_plan(&who, &role, NULL, &m, cases[i].prompt, cases[i].max_out, &p);
		assert_int_equal(aif_price_micros(&m.pricing, cases[i].prompt,
		    cases[i].max_out), want);
		if (p.hold_micros != want || p.n != 1)
			fail_msg("case %zu: hold %" PRId64 " (n %zu), want %" PRId64, i,
			    p.hold_micros, p.n, want);
	}
}

/* ------------------------------------------------------------------ ledger (database) */

static void
hold_within_the_limit_is_held_on_every_subject(void **state)
{
	struct aif_budget_subject s[2];
	uint64_t job;

	(void)state;
	NEED_DB();
	key_and_tenant(s, 1000, 5000);
	job = held_job(s, 2, 300);
	for (size_t i = 0; i < 2; i++) {
		assert_balance(&s[i], 300, 0);
		assert_int_equal(ledger_amount(job, "hold", &s[i]), 300);
	}
	assert_int_equal(ledger_rows(job, "hold", NULL), 2);
	assert_int_equal(ledger_rows(job, "capture", NULL), 0);
	assert_int_equal(ledger_rows(job, "release", NULL), 0);
}

static void
hold_records_the_subjects_limit(void **state)
{
	struct aif_budget_subject s = new_subject("key", 1000);

	(void)state;
	NEED_DB();
	(void)held_job(&s, 1, 100);
	assert_int_equal(balance(&s, "limit_micros"), 1000);
	/* the limit of the next hold is the one in force (a lowered budget applies) */
	s.limit_micros = 150;
	assert_int_equal(hold(new_job(), &s, 1, 100), AIF_FORBIDDEN);
	assert_int_equal(balance(&s, "limit_micros"), 150);
	assert_balance(&s, 100, 0);
}

static void
hold_up_to_exactly_the_limit_is_allowed(void **state)
{
	struct aif_budget_subject s = new_subject("key", 1000);

	(void)state;
	NEED_DB();
	(void)held_job(&s, 1, 400);
	(void)held_job(&s, 1, 600);
	assert_balance(&s, 1000, 0);
}

static void
hold_that_would_pass_the_limit_is_forbidden_and_holds_nothing(void **state)
{
	struct aif_budget_subject s = new_subject("key", 1000);
	uint64_t second = new_job();

	(void)state;
	NEED_DB();
	(void)held_job(&s, 1, 600);
	assert_int_equal(hold(second, &s, 1, 401), AIF_FORBIDDEN);
	assert_balance(&s, 600, 0);
	assert_int_equal(ledger_rows(second, "hold", NULL), 0);
}

static void
hold_refused_on_the_second_subject_leaves_the_first_untouched(void **state)
{
	struct aif_budget_subject s[2];
	uint64_t job = new_job();

	(void)state;
	NEED_DB();
	key_and_tenant(s, 1000, 100);
	(void)held_job(&s[1], 1, 100);		/* the tenant is full */
	assert_int_equal(hold(job, s, 2, 50), AIF_FORBIDDEN);
	/* committed as it was left: the key's hold was undone by the function itself */
	assert_balance(&s[0], 0, 0);
	assert_balance(&s[1], 100, 0);
	assert_int_equal(ledger_rows(job, "hold", NULL), 0);
}

static void
hold_refused_on_the_first_subject_holds_nothing_on_the_second(void **state)
{
	struct aif_budget_subject s[2];
	uint64_t job = new_job();
	int64_t second;

	(void)state;
	NEED_DB();
	key_and_tenant(s, 100, 1000);
	(void)held_job(&s[0], 1, 50);
	assert_int_equal(hold(job, s, 2, 51), AIF_FORBIDDEN);
	assert_balance(&s[0], 50, 0);
	second = held(&s[1]);		/* -1: no row was even made */
	assert_true(second == -1 || second == 0);
	assert_int_equal(ledger_rows(job, "hold", NULL), 0);
}

static void
capture_spends_the_actual_cost_and_releases_the_rest(void **state)
{
	struct aif_budget_subject s[2];
	uint64_t job;

	(void)state;
	NEED_DB();
	key_and_tenant(s, 1000, 5000);
	job = held_job(s, 2, 500);
	capture(job, 320);
	for (size_t i = 0; i < 2; i++) {
		assert_balance(&s[i], 0, 320);
		assert_int_equal(ledger_amount(job, "capture", &s[i]), 320);
		assert_int_equal(ledger_amount(job, "release", &s[i]), 180);
		assert_int_equal(ledger_amount(job, "hold", &s[i]), 500);
	}
}

/* A job holding `amount` on a key's subject captures `actual`: it spends `spent` and
 * releases the rest. */
static void
assert_capture(int64_t amount, int64_t actual, int64_t spent)
{
	struct aif_budget_subject s = new_subject("key", 1000);
	uint64_t job = held_job(&s, 1, amount);

	capture(job, actual);
	assert_balance(&s, 0, spent);
	assert_int_equal(ledger_amount(job, "capture", &s), spent);
	assert_int_equal(ledger_amount(job, "release", &s), amount - spent);
}

static void
capture_above_the_hold_spends_only_the_hold(void **state)
{
	(void)state;
	NEED_DB();
	/* a capture never passes its hold: the budget cannot be overspent after the
	   fact (the queue records the excess as a budget_overage event) */
	assert_capture(100, 150, 100);
}

static void
capture_of_a_negative_cost_spends_nothing(void **state)
{
	(void)state;
	NEED_DB();
	assert_capture(100, -40, 0);
}

static void
release_gives_back_the_whole_hold(void **state)
{
	struct aif_budget_subject s[2];
	uint64_t job;

	(void)state;
	NEED_DB();
	key_and_tenant(s, 1000, 5000);
	job = held_job(s, 2, 400);
	release(job);
	for (size_t i = 0; i < 2; i++) {
		assert_balance(&s[i], 0, 0);
		assert_int_equal(ledger_amount(job, "release", &s[i]), 400);
	}
	assert_int_equal(ledger_rows(job, "capture", NULL), 0);
}

static void
settling_one_job_leaves_the_other_jobs_holds(void **state)
{
	struct aif_budget_subject s = new_subject("key", 1000);
	uint64_t a, b, c;

	(void)state;
	NEED_DB();
	a = held_job(&s, 1, 300);
	b = held_job(&s, 1, 200);
	c = held_job(&s, 1, 100);
	capture(a, 120);
	assert_balance(&s, 300, 120);
	release(b);
	assert_balance(&s, 100, 120);
	assert_int_equal(ledger_rows(c, "release", NULL), 0);
	assert_int_equal(ledger_rows(c, "capture", NULL), 0);
}

static void
capture_or_release_of_a_job_without_holds_does_nothing(void **state)
{
	struct aif_budget_subject s = new_subject("key", 1000);
	uint64_t other = new_job();

	(void)state;
	NEED_DB();
	(void)held_job(&s, 1, 300);
	capture(other, 50);
	release(other);
	assert_balance(&s, 300, 0);
	assert_int_equal(ledger_rows(other, "capture", NULL), 0);
	assert_int_equal(ledger_rows(other, "release", NULL), 0);
}

static void
many_holds_never_let_held_plus_spent_pass_the_limit(void **state)
{
	struct aif_budget_subject s = new_subject("key", 1000);
	uint64_t jobs[8];
	int ok = 0, refused = 0;

	(void)state;
	NEED_DB();
	for (size_t i = 0; i < 8; i++) {
		enum aif_err err;
		jobs[i] = new_job();
		err = hold(jobs[i], &s, 1, 300);
		assert_true(err == AIF_OK || err == AIF_FORBIDDEN);
		ok += err == AIF_OK;
		refused += err == AIF_FORBIDDEN;
		assert_true(held(&s) + spent(&s) <= 1000);
		if (i == 4)			/* the first job ends cheaper than held */
			capture(jobs[0], 250);
	}
	/* 3 holds fit (900); after 250 is spent one more does not (250 + 600 + 300) */
	assert_int_equal(ok, 3);
	assert_int_equal(refused, 5);
	assert_balance(&s, 600, 250);
	(void)held_job(&s, 1, 150);		/* exactly the rest */
	assert_balance(&s, 750, 250);
	assert_int_equal(hold(new_job(), &s, 1, 1), AIF_FORBIDDEN);
	assert_true(held(&s) + spent(&s) <= 1000);
}

static void
rolled_back_hold_leaves_nothing(void **state)
{
	struct aif_budget_subject s = new_subject("key", 1000);
	uint64_t job = new_job();

	(void)state;
	NEED_DB();
	(void)held_job(&s, 1, 100);
	assert_int_equal(aif_db_begin(g.t.db), AIF_OK);
	assert_int_equal(aif_ledger_hold(g.t.db, job, &s, 1, 300), AIF_OK);
	aif_db_rollback(g.t.db);
	assert_balance(&s, 100, 0);
	assert_int_equal(ledger_rows(job, "hold", NULL), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		/* no database */
		PLAN_TEST(plan_holds_against_the_keys_own_budget),
		PLAN_TEST(plan_holds_a_rotated_key_against_its_lineages_budget),
		PLAN_TEST(plan_uses_the_roles_budget_when_the_key_has_none),
		PLAN_TEST(plan_keeps_a_keys_own_budget_of_zero),
		PLAN_TEST(plan_adds_a_listed_tenant_with_a_budget),
		PLAN_TEST(plan_holds_against_the_tenant_alone_when_the_key_has_no_budget),
		PLAN_TEST(plan_ignores_a_listed_tenant_without_a_budget),
		cmocka_unit_test(plan_without_any_budget_holds_nothing),
		PLAN_TEST(plan_of_a_free_model_holds_nothing),
		cmocka_unit_test(plan_hold_is_the_worst_case_price),
		/* database */
		cmocka_unit_test(hold_within_the_limit_is_held_on_every_subject),
		cmocka_unit_test(hold_records_the_subjects_limit),
		cmocka_unit_test(hold_up_to_exactly_the_limit_is_allowed),
		cmocka_unit_test(hold_that_would_pass_the_limit_is_forbidden_and_holds_nothing),
		cmocka_unit_test(hold_refused_on_the_second_subject_leaves_the_first_untouched),
		cmocka_unit_test(hold_refused_on_the_first_subject_holds_nothing_on_the_second),
		cmocka_unit_test(capture_spends_the_actual_cost_and_releases_the_rest),
		cmocka_unit_test(capture_above_the_hold_spends_only_the_hold),
		cmocka_unit_test(capture_of_a_negative_cost_spends_nothing),
		cmocka_unit_test(release_gives_back_the_whole_hold),
		cmocka_unit_test(settling_one_job_leaves_the_other_jobs_holds),
		cmocka_unit_test(capture_or_release_of_a_job_without_holds_does_nothing),
		cmocka_unit_test(many_holds_never_let_held_plus_spent_pass_the_limit),
		cmocka_unit_test(rolled_back_hold_leaves_nothing),
	};
	if (testdb_check(&g.t, "test_budget") != 0)
		return 1;
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
