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
 * that runs across midnight at the end of a month still adds up. Runs with cwd
 * tests/unit. */
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
#include "ledger.h"
#include "pricing.h"
#include "testdb.h"
#include "util.h"

static struct {
	struct testdb	 t;
	struct aif_db	*db;
	char		*tag;
	uint64_t	 job_base;	/* job ids of this run: job_base + 1 .. */
	unsigned	 seq;
} g;

#define NEED_DB()	TESTDB_NEED(&g.t)

/* ------------------------------------------------------------------ helpers */

static struct aif_principal
principal(uint64_t key_id, const char *tenant, int64_t budget)
{
	struct aif_principal who;

	memset(&who, 0, sizeof(who));
	who.key_id = key_id;
	who.lineage_id = key_id;	/* a key never rotated is its own lineage */
	aif_strlcpy(who.tenant, tenant, sizeof(who.tenant));
	aif_strlcpy(who.role, "user", sizeof(who.role));
	who.max_priority = -1;
	who.rpm = -1;
	who.tpm = -1;
	who.monthly_budget_micros = budget;
	return who;
}

static struct aif_role
role_with(int64_t budget)
{
	struct aif_role r;

	memset(&r, 0, sizeof(r));
	r.name = (char *)"user";
	r.rpm = -1;
	r.tpm = -1;
	r.monthly_budget_micros = budget;
	return r;
}

static struct aif_tenant
tenant_with(const char *name, int64_t budget)
{
	struct aif_tenant t;

	memset(&t, 0, sizeof(t));
	t.name = (char *)name;
	t.rpm = -1;
	t.tpm = -1;
	t.monthly_budget_micros = budget;
	return t;
}

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
	int n;

	memset(&s, 0, sizeof(s));
	n = snprintf(s.subject, sizeof(s.subject), "%s:%s-%u", scope, g.tag, ++g.seq);
	assert_true(n > 0 && (size_t)n < sizeof(s.subject));
	s.limit_micros = limit_micros;
	return s;
}

static uint64_t
new_job(void)
{
	return g.job_base + ++g.seq;
}

/* Holds in a transaction of its own, committed even when refused: what is left then
 * is what aif_ledger_hold itself left. */
static enum aif_err
hold(uint64_t job, const struct aif_budget_subject *s, size_t n, int64_t amount)
{
	enum aif_err err;

	assert_int_equal(aif_db_begin(g.db), AIF_OK);
	err = aif_ledger_hold(g.db, job, s, n, amount);
	if (err == AIF_OK || err == AIF_FORBIDDEN)
		assert_int_equal(aif_db_commit(g.db), AIF_OK);
	else
		aif_db_rollback(g.db);
	return err;
}

static void
capture(uint64_t job, int64_t actual)
{
	assert_int_equal(aif_db_begin(g.db), AIF_OK);
	assert_int_equal(aif_ledger_capture(g.db, job, actual), AIF_OK);
	assert_int_equal(aif_db_commit(g.db), AIF_OK);
}

static void
release(uint64_t job)
{
	assert_int_equal(aif_db_begin(g.db), AIF_OK);
	assert_int_equal(aif_ledger_release(g.db, job), AIF_OK);
	assert_int_equal(aif_db_commit(g.db), AIF_OK);
}

/* SUM(expr) over a subject's balance rows; -1 when it has none. */
static int64_t
balance(const struct aif_budget_subject *s, const char *col)
{
	char sql[160];
	struct aif_dbp p[] = { AIF_P_STR(s->subject) };

	snprintf(sql, sizeof(sql), "SELECT SUM(%s) FROM budget_balances WHERE subject = ?",
	    col);
	return testdb_i64(&g.t, sql, p, 1);
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
	unsigned char rnd[3];

	(void)state;
	if (g.t.skip_reason != NULL) {
		g.tag = (char *)"utest-nodb";
		return 0;
	}
	if (testdb_open(&g.t, "test_budget", "") != 0 ||
	    aif_random_bytes(rnd, sizeof(rnd)) != AIF_OK) {
		testdb_close(&g.t);
		return -1;
	}
	g.db = g.t.db;
	g.tag = g.t.tag;
	/* job ids far above AUTO_INCREMENT ones (no jobs row exists for them) */
	g.job_base = ((uint64_t)1 << 40) +
	    (((uint64_t)rnd[0] << 16 | (uint64_t)rnd[1] << 8 | rnd[2]) << 12) +
	    ((uint64_t)getpid() & 0xf) * 256;
	return 0;
}

static int
group_teardown(void **state)
{
	char like[96];

	(void)state;
	if (g.db != NULL) {
		struct aif_dbp p[1];
		snprintf(like, sizeof(like), "%%:%s-%%", g.tag);
		p[0] = AIF_P_STR(like);
		(void)aif_db_exec(g.db, "DELETE FROM budget_ledger WHERE subject LIKE ?", p, 1,
		    NULL, NULL);
		(void)aif_db_exec(g.db, "DELETE FROM budget_balances WHERE subject LIKE ?", p,
		    1, NULL, NULL);
	}
	testdb_close(&g.t);
	g.db = NULL;
	return 0;
}

/* ------------------------------------------------------------------ plan (no database) */

static void
plan_holds_against_the_keys_own_budget(void **state)
{
	struct aif_principal who = principal(12, "team-a", 5000);
	struct aif_role role = role_with(1000);
	struct aif_model m = model_priced(2000000, 6000000);	/* 2 and 6 per token */
	struct aif_budget_plan p;

	(void)state;
	aif_budget_plan(&who, &role, NULL, &m, 100, 50, &p);
	assert_int_equal(p.n, 1);
	assert_string_equal(p.subject[0].subject, "key:12");
	assert_int_equal(p.subject[0].limit_micros, 5000);
	assert_int_equal(p.hold_micros, 100 * 2 + 50 * 6);
}

static void
plan_holds_a_rotated_key_against_its_lineages_budget(void **state)
{
	struct aif_principal who = principal(13, "team-a", 5000);
	struct aif_role role = role_with(1000);
	struct aif_model m = model_priced(2000000, 6000000);
	struct aif_budget_plan p;

	(void)state;
	who.lineage_id = 12;		/* key 13 was rotated from key 12 */
	aif_budget_plan(&who, &role, NULL, &m, 100, 50, &p);
	assert_int_equal(p.n, 1);
	assert_string_equal(p.subject[0].subject, "key:12");
	assert_int_equal(p.subject[0].limit_micros, 5000);
}

static void
plan_uses_the_roles_budget_when_the_key_has_none(void **state)
{
	struct aif_principal who = principal(12, "team-a", -1);
	struct aif_role role = role_with(1000);
	struct aif_model m = model_priced(2000000, 6000000);
	struct aif_budget_plan p;

	(void)state;
	aif_budget_plan(&who, &role, NULL, &m, 100, 50, &p);
	assert_int_equal(p.n, 1);
	assert_string_equal(p.subject[0].subject, "key:12");
	assert_int_equal(p.subject[0].limit_micros, 1000);
}

static void
plan_keeps_a_keys_own_budget_of_zero(void **state)
{
	struct aif_principal who = principal(12, "team-a", 0);
	struct aif_role role = role_with(1000);
	struct aif_model m = model_priced(2000000, 6000000);
	struct aif_budget_plan p;

	(void)state;
	aif_budget_plan(&who, &role, NULL, &m, 100, 50, &p);
	assert_int_equal(p.n, 1);
	assert_int_equal(p.subject[0].limit_micros, 0);
	assert_int_equal(p.hold_micros, 500);
}

static void
plan_adds_a_listed_tenant_with_a_budget(void **state)
{
	struct aif_principal who = principal(12, "team-a", 5000);
	struct aif_role role = role_with(1000);
	struct aif_tenant t = tenant_with("team-a", 20000);
	struct aif_model m = model_priced(2000000, 6000000);
	struct aif_budget_plan p;

	(void)state;
	aif_budget_plan(&who, &role, &t, &m, 100, 50, &p);
	assert_int_equal(p.n, 2);
	assert_string_equal(p.subject[0].subject, "key:12");
	assert_int_equal(p.subject[0].limit_micros, 5000);
	assert_string_equal(p.subject[1].subject, "tenant:team-a");
	assert_int_equal(p.subject[1].limit_micros, 20000);
	assert_int_equal(p.hold_micros, 500);
}

static void
plan_holds_against_the_tenant_alone_when_the_key_has_no_budget(void **state)
{
	struct aif_principal who = principal(12, "team-a", -1);
	struct aif_role role = role_with(-1);
	struct aif_tenant t = tenant_with("team-a", 20000);
	struct aif_model m = model_priced(2000000, 6000000);
	struct aif_budget_plan p;

	(void)state;
	aif_budget_plan(&who, &role, &t, &m, 100, 50, &p);
	assert_int_equal(p.n, 1);
	assert_string_equal(p.subject[0].subject, "tenant:team-a");
	assert_int_equal(p.hold_micros, 500);
}

static void
plan_ignores_a_listed_tenant_without_a_budget(void **state)
{
	struct aif_principal who = principal(12, "team-a", 5000);
	struct aif_role role = role_with(1000);
	struct aif_tenant t = tenant_with("team-a", -1);
	struct aif_model m = model_priced(2000000, 6000000);
	struct aif_budget_plan p;

	(void)state;
	aif_budget_plan(&who, &role, &t, &m, 100, 50, &p);
	assert_int_equal(p.n, 1);
	assert_string_equal(p.subject[0].subject, "key:12");
}

static void
plan_without_any_budget_holds_nothing(void **state)
{
	struct aif_principal who = principal(12, "team-a", -1);
	struct aif_role role = role_with(-1);
	struct aif_tenant t = tenant_with("team-a", -1);
	struct aif_model m = model_priced(2000000, 6000000);
	struct aif_budget_plan p;

	(void)state;
	aif_budget_plan(&who, &role, &t, &m, 100, 50, &p);
	assert_int_equal(p.n, 0);
	assert_int_equal(p.hold_micros, 0);
	aif_budget_plan(&who, &role, NULL, &m, 100, 50, &p);
	assert_int_equal(p.n, 0);
	assert_int_equal(p.hold_micros, 0);
}

static void
plan_of_a_free_model_holds_nothing(void **state)
{
	struct aif_principal who = principal(12, "team-a", 5000);
	struct aif_role role = role_with(1000);
	struct aif_tenant t = tenant_with("team-a", 20000);
	struct aif_model m = model_priced(0, 0);
	struct aif_budget_plan p;

	(void)state;
	aif_budget_plan(&who, &role, &t, &m, 100000, 4096, &p);
	assert_int_equal(p.n, 0);
	assert_int_equal(p.hold_micros, 0);
}

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
	struct aif_principal who = principal(12, "team-a", INT64_MAX / 4);
	struct aif_role role = role_with(-1);
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
	s[0] = new_subject("key", 1000);
	s[1] = new_subject("tenant", 5000);
	job = new_job();
	assert_int_equal(hold(job, s, 2, 300), AIF_OK);
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
	assert_int_equal(hold(new_job(), &s, 1, 100), AIF_OK);
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
	assert_int_equal(hold(new_job(), &s, 1, 400), AIF_OK);
	assert_int_equal(hold(new_job(), &s, 1, 600), AIF_OK);
	assert_balance(&s, 1000, 0);
}

static void
hold_that_would_pass_the_limit_is_forbidden_and_holds_nothing(void **state)
{
	struct aif_budget_subject s = new_subject("key", 1000);
	uint64_t first = new_job(), second = new_job();

	(void)state;
	NEED_DB();
	assert_int_equal(hold(first, &s, 1, 600), AIF_OK);
	assert_int_equal(hold(second, &s, 1, 401), AIF_FORBIDDEN);
	assert_balance(&s, 600, 0);
	assert_int_equal(ledger_rows(second, "hold", NULL), 0);
}

static void
hold_refused_on_the_second_subject_leaves_the_first_untouched(void **state)
{
	struct aif_budget_subject s[2];
	uint64_t filler = new_job(), job = new_job();

	(void)state;
	NEED_DB();
	s[0] = new_subject("key", 1000);
	s[1] = new_subject("tenant", 100);
	assert_int_equal(hold(filler, &s[1], 1, 100), AIF_OK);	/* the tenant is full */
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
	uint64_t filler = new_job(), job = new_job();
	int64_t second;

	(void)state;
	NEED_DB();
	s[0] = new_subject("key", 100);
	s[1] = new_subject("tenant", 1000);
	assert_int_equal(hold(filler, &s[0], 1, 50), AIF_OK);
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
	uint64_t job = new_job();

	(void)state;
	NEED_DB();
	s[0] = new_subject("key", 1000);
	s[1] = new_subject("tenant", 5000);
	assert_int_equal(hold(job, s, 2, 500), AIF_OK);
	capture(job, 320);
	for (size_t i = 0; i < 2; i++) {
		assert_balance(&s[i], 0, 320);
		assert_int_equal(ledger_amount(job, "capture", &s[i]), 320);
		assert_int_equal(ledger_amount(job, "release", &s[i]), 180);
		assert_int_equal(ledger_amount(job, "hold", &s[i]), 500);
	}
}

static void
capture_above_the_hold_spends_only_the_hold(void **state)
{
	struct aif_budget_subject s = new_subject("key", 1000);
	uint64_t job = new_job();

	(void)state;
	NEED_DB();
	assert_int_equal(hold(job, &s, 1, 100), AIF_OK);
	capture(job, 150);
	/* a capture never passes its hold: the budget cannot be overspent after the
	   fact (the queue records the excess as a budget_overage event) */
	assert_balance(&s, 0, 100);
	assert_int_equal(ledger_amount(job, "capture", &s), 100);
	assert_int_equal(ledger_amount(job, "release", &s), 0);
}

static void
capture_of_a_negative_cost_spends_nothing(void **state)
{
	struct aif_budget_subject s = new_subject("key", 1000);
	uint64_t job = new_job();

	(void)state;
	NEED_DB();
	assert_int_equal(hold(job, &s, 1, 100), AIF_OK);
	capture(job, -40);
	assert_balance(&s, 0, 0);
	assert_int_equal(ledger_amount(job, "capture", &s), 0);
	assert_int_equal(ledger_amount(job, "release", &s), 100);
}

static void
release_gives_back_the_whole_hold(void **state)
{
	struct aif_budget_subject s[2];
	uint64_t job = new_job();

	(void)state;
	NEED_DB();
	s[0] = new_subject("key", 1000);
	s[1] = new_subject("tenant", 5000);
	assert_int_equal(hold(job, s, 2, 400), AIF_OK);
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
	uint64_t a = new_job(), b = new_job(), c = new_job();

	(void)state;
	NEED_DB();
	assert_int_equal(hold(a, &s, 1, 300), AIF_OK);
	assert_int_equal(hold(b, &s, 1, 200), AIF_OK);
	assert_int_equal(hold(c, &s, 1, 100), AIF_OK);
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
	uint64_t held_job = new_job(), other = new_job();

	(void)state;
	NEED_DB();
	assert_int_equal(hold(held_job, &s, 1, 300), AIF_OK);
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
	assert_int_equal(hold(new_job(), &s, 1, 150), AIF_OK);	/* exactly the rest */
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
	assert_int_equal(hold(new_job(), &s, 1, 100), AIF_OK);
	assert_int_equal(aif_db_begin(g.db), AIF_OK);
	assert_int_equal(aif_ledger_hold(g.db, job, &s, 1, 300), AIF_OK);
	aif_db_rollback(g.db);
	assert_balance(&s, 100, 0);
	assert_int_equal(ledger_rows(job, "hold", NULL), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		/* no database */
		cmocka_unit_test(plan_holds_against_the_keys_own_budget),
		cmocka_unit_test(plan_holds_a_rotated_key_against_its_lineages_budget),
		cmocka_unit_test(plan_uses_the_roles_budget_when_the_key_has_none),
		cmocka_unit_test(plan_keeps_a_keys_own_budget_of_zero),
		cmocka_unit_test(plan_adds_a_listed_tenant_with_a_budget),
		cmocka_unit_test(plan_holds_against_the_tenant_alone_when_the_key_has_no_budget),
		cmocka_unit_test(plan_ignores_a_listed_tenant_without_a_budget),
		cmocka_unit_test(plan_without_any_budget_holds_nothing),
		cmocka_unit_test(plan_of_a_free_model_holds_nothing),
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
