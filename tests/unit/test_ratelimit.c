/* test_ratelimit.c -- unit tests of core/gate/ratelimit.c (which limits a request
 * meets, their headers) and core/store/gcra.c (GCRA in the rate_limits table) against
 * a real MariaDB (tests/unit/testdb.h: where it comes from, and why `make test` fails
 * without it). The plan, header and duration tests need no database and run even when
 * the database tests are skipped.
 *
 * Every database test uses its own subjects: "t:<tag>-<n>:rpm" for direct GCRA checks,
 * key ids far above AUTO_INCREMENT ones (distinct per run) and tenants "<tag>-<n>" for
 * plans, so runs and tests never see each other's rows; the rows of this run are
 * deleted at the end.
 *
 * No assertion waits for time to pass. A fresh subject's results are exact (its row is
 * made by the statement that returns them). Where a test needs a bucket to be still
 * full (a refusal after a burst), the unit of time of its limit is 10 s or more and the
 * test takes a few milliseconds; results of a bucket already in use are checked for
 * consistency with each other, which holds however long the test takes.
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
#include "config.h"
#include "db.h"
#include "gate_fixtures.h"
#include "gcra.h"
#include "ratelimit.h"
#include "testdb.h"
#include "util.h"

#define PERIOD_US	60000000LL	/* GCRA period: one minute */
#define MAX_KEYS	256

static struct {
	struct testdb	 t;
	unsigned	 nkeys;		/* key ids of this run: t.id_base + 1 .. + nkeys */
} g;

#define NEED_DB()	TESTDB_NEED(&g.t)

/* ------------------------------------------------------------------ helpers */

/* A subject of this run: "t:<tag>-<n>:<unit>". */
static void
new_subject(char *buf, size_t cap, const char *unit)
{
	char suffix[16];

	snprintf(suffix, sizeof(suffix), ":%s", unit);
	testdb_name(&g.t, buf, cap, "t:", suffix);
}

/* A key id of this run (never an AUTO_INCREMENT one). */
static uint64_t
new_key_id(void)
{
	assert_true(g.nkeys < MAX_KEYS);
	return g.t.id_base + ++g.nkeys;
}

static void
check_init(struct aif_gcra_check *c, const char *subject, int64_t limit, int64_t cost)
{
	memset(c, 0, sizeof(*c));
	aif_strlcpy(c->subject, subject, sizeof(c->subject));
	c->limit = limit;
	c->cost = cost;
}

/* Charges one check; returns whether it was allowed. */
static int
charge1(struct aif_gcra_check *c)
{
	int allowed = -1;

	assert_int_equal(aif_gcra_charge(g.t.db, c, 1, &allowed), AIF_OK);
	assert_int_equal(allowed, c->allowed);
	return allowed;
}

/* A fresh check of `limit` on `subject` costing `cost`, charged; its result in *out. */
static int
charge(const char *subject, int64_t limit, int64_t cost, struct aif_gcra_check *out)
{
	check_init(out, subject, limit, cost);
	return charge1(out);
}

/* tat_us of a subject, or -1 when it has no row. */
static int64_t
tat_of(const char *subject)
{
	return testdb_i64_str(&g.t, "SELECT tat_us FROM rate_limits WHERE subject = ?",
	    subject);
}

static int64_t
rows_of(const char *subject)
{
	return testdb_i64_str(&g.t, "SELECT COUNT(*) FROM rate_limits WHERE subject = ?",
	    subject);
}

/* Checks that remaining, reset_ms and retry_after_ms of a charged check agree with
 * each other: all three come from the same "ahead" (tat - now, in us) that reset_ms
 * rounds up to ms, whatever time passed between charges. */
static void
assert_consistent(const struct aif_gcra_check *c)
{
	int64_t unit = PERIOD_US / c->limit;
	int64_t ahead_max = c->reset_ms * 1000;		/* ahead in (max - 1000, max] */
	int64_t ahead_min = ahead_max > 0 ? ahead_max - 999 : 0;
	int64_t rem_min = (PERIOD_US - ahead_max) / unit;
	int64_t rem_max = (PERIOD_US - ahead_min) / unit;

	if (rem_min < 0)
		rem_min = 0;
	if (c->remaining < rem_min || c->remaining > rem_max)
		fail_msg("%s: remaining %" PRId64 " with reset_ms %" PRId64 ", want %" PRId64
		    "..%" PRId64, c->subject, c->remaining, c->reset_ms, rem_min, rem_max);
	assert_true(c->reset_ms >= 0 && c->reset_ms <= PERIOD_US / 1000);
	if (c->allowed) {
		assert_int_equal(c->retry_after_ms, 0);
		/* an allowed charge leaves at least its own cost ahead */
		assert_true(ahead_max >= c->cost * unit);
	} else {
		/* it passes once ahead + cost * unit - period <= 0 */
		int64_t wait_min = ahead_min + c->cost * unit - PERIOD_US;
		int64_t wait_max = ahead_max + c->cost * unit - PERIOD_US;
		int64_t lo = wait_min > 0 ? (wait_min + 999) / 1000 : 1;
		int64_t hi = wait_max > 0 ? (wait_max + 999) / 1000 : 1;
		if (c->retry_after_ms < lo || c->retry_after_ms > hi)
			fail_msg("%s: retry_after_ms %" PRId64 " with reset_ms %" PRId64
			    ", want %" PRId64 "..%" PRId64, c->subject, c->retry_after_ms,
			    c->reset_ms, lo, hi);
	}
}

static void
assert_check(const struct aif_gcra_check *c, const char *subject, int64_t limit,
    int64_t cost)
{
	assert_string_equal(c->subject, subject);
	assert_int_equal(c->limit, limit);
	assert_int_equal(c->cost, cost);
}

/* An applied check for the header tests. */
static struct aif_gcra_check
result(const char *subject, int64_t limit, int64_t remaining, int64_t reset_ms)
{
	struct aif_gcra_check c;

	check_init(&c, subject, limit, 1);
	c.allowed = 1;
	c.remaining = remaining;
	c.reset_ms = reset_ms;
	return c;
}

/* ------------------------------------------------------------------ setup */

static int
group_setup(void **state)
{
	(void)state;
	return testdb_open(&g.t, "test_ratelimit", "");
}

/* Deletes the rows of this run's subjects, tenants and keys. */
static int
group_teardown(void **state)
{
	static const char del[] = "DELETE FROM rate_limits WHERE subject LIKE ?";
	char like[96];

	(void)state;
	testdb_purge(&g.t, del, "%:");
	for (unsigned i = 1; i <= g.nkeys; i++) {
		snprintf(like, sizeof(like), "key:%" PRIu64 ":%%", g.t.id_base + i);
		testdb_delete_like(&g.t, del, like);
	}
	testdb_close(&g.t);
	return 0;
}

/* ------------------------------------------------------------------ plan (no database) */

/* A plan test: key key_id (rotated from `lineage`; 0: never rotated) of tenant "team-a"
 * with its own rpm and tpm, its role's, and its tenant's when the tenant is listed. The
 * plan for 42 tokens must make exactly the checks in `want`, in order; a check is the
 * key's exactly when its subject starts with "key:". Limits: -1 unlimited. */
struct plan_case {
	uint64_t	 key_id, lineage;
	int64_t		 key[2], role[2], tenant[2];	/* { rpm, tpm } */
	int		 listed;
	size_t		 n;
	struct { const char *subject; int64_t limit, cost; } want[4];
};

static void
run_plan_case(void **state)
{
	const struct plan_case *pc = *state;
	struct aif_principal who = gate_principal(pc->key_id, "team-a", pc->key[0],
	    pc->key[1], -1);
	struct aif_role role = gate_role(pc->role[0], pc->role[1], -1);
	struct aif_tenant t = gate_tenant("team-a", pc->tenant[0], pc->tenant[1], -1);
	struct aif_rl_plan p;

	if (pc->lineage != 0)
		who.lineage_id = pc->lineage;
	aif_rl_plan(&who, &role, pc->listed ? &t : NULL, 42, &p);
	assert_int_equal(p.n, pc->n);
	for (size_t i = 0; i < p.n; i++) {
		const char *subject = pc->want[i].subject;
		assert_check(&p.c[i], subject, pc->want[i].limit, pc->want[i].cost);
		assert_int_equal(aif_rl_is_key(&p.c[i]) != 0,
		    strncmp(subject, "key:", 4) == 0);
	}
}

/* A test of the table: the case of that name. */
#define PLAN_TEST(pc)	{ #pc, run_plan_case, NULL, NULL, (void *)&(pc) }

static const struct plan_case plan_uses_the_keys_own_limits_over_the_roles = {
	.key_id = 12, .key = { 10, 1000 }, .role = { 5, 500 },
	.n = 2, .want = { { "key:12:rpm", 10, 1 }, { "key:12:tpm", 1000, 42 } },
};

/* key 13 was rotated from key 12 */
static const struct plan_case plan_limits_a_rotated_key_in_its_lineages_buckets = {
	.key_id = 13, .lineage = 12, .key = { 10, 1000 }, .role = { 5, 500 },
	.n = 2, .want = { { "key:12:rpm", 10, 1 }, { "key:12:tpm", 1000, 42 } },
};

static const struct plan_case plan_uses_the_roles_defaults_when_the_key_has_no_limits = {
	.key_id = 12, .key = { -1, -1 }, .role = { 5, 500 },
	.n = 2, .want = { { "key:12:rpm", 5, 1 }, { "key:12:tpm", 500, 42 } },
};

static const struct plan_case plan_keeps_a_keys_own_limit_of_zero = {
	.key_id = 12, .key = { 0, -1 }, .role = { 5, 500 },
	.n = 2, .want = { { "key:12:rpm", 0, 1 }, { "key:12:tpm", 500, 42 } },
};

static const struct plan_case plan_adds_tenant_checks_for_a_listed_tenant = {
	.key_id = 12, .key = { 10, 1000 }, .role = { 5, 500 },
	.listed = 1, .tenant = { 100, 20000 },
	.n = 4, .want = { { "key:12:rpm", 10, 1 }, { "key:12:tpm", 1000, 42 },
	    { "tenant:team-a:rpm", 100, 1 }, { "tenant:team-a:tpm", 20000, 42 } },
};

/* only the key's checks */
static const struct plan_case plan_adds_no_tenant_check_for_an_unlisted_tenant = {
	.key_id = 12, .key = { 10, 1000 }, .role = { 5, 500 },
	.n = 2, .want = { { "key:12:rpm", 10, 1 }, { "key:12:tpm", 1000, 42 } },
};

static const struct plan_case plan_of_unlimited_key_role_and_tenant_is_empty = {
	.key_id = 12, .key = { -1, -1 }, .role = { -1, -1 },
	.listed = 1, .tenant = { -1, -1 }, .n = 0,
};

static const struct plan_case plan_skips_each_unlimited_limit = {
	.key_id = 12, .key = { -1, 1000 }, .role = { -1, 500 },
	.listed = 1, .tenant = { 100, -1 },
	.n = 2, .want = { { "key:12:tpm", 1000, 42 }, { "tenant:team-a:rpm", 100, 1 } },
};

static void
plan_token_cost_is_the_estimate_and_at_least_one(void **state)
{
	static const struct { int64_t tokens, cost; } cases[] = {
		{ 7, 7 }, { 1, 1 }, { 0, 1 }, { -5, 1 }, { 123456789, 123456789 },
	};
	struct aif_principal who = gate_principal(12, "team-a", 10, 1000, -1);
	struct aif_role role = gate_role(5, 500, -1);
	struct aif_tenant t = gate_tenant("team-a", 100, 20000, -1);
	struct aif_rl_plan p;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		aif_rl_plan(&who, &role, &t, cases[i].tokens, &p);
		assert_int_equal(p.n, 4);
		for (size_t k = 0; k < p.n; k++) {
			int64_t want = aif_rl_is_requests(&p.c[k]) ? 1 : cases[i].cost;
			if (p.c[k].cost != want)
				fail_msg("tokens %" PRId64 ", %s: cost %" PRId64 ", want %" PRId64,
				    cases[i].tokens, p.c[k].subject, p.c[k].cost, want);
		}
	}
}

static void
checks_are_classified_by_subject(void **state)
{
	struct aif_gcra_check c;

	(void)state;
	check_init(&c, "key:12:rpm", 1, 1);
	assert_true(aif_rl_is_requests(&c));
	assert_true(aif_rl_is_key(&c));
	check_init(&c, "key:12:tpm", 1, 1);
	assert_false(aif_rl_is_requests(&c));
	assert_true(aif_rl_is_key(&c));
	check_init(&c, "tenant:key:rpm", 1, 1);
	assert_true(aif_rl_is_requests(&c));
	assert_false(aif_rl_is_key(&c));
	check_init(&c, "tenant:rpm:tpm", 1, 1);
	assert_false(aif_rl_is_requests(&c));
	assert_false(aif_rl_is_key(&c));
}

static void
refused_is_the_first_refused_check_or_null(void **state)
{
	struct aif_rl_plan p;

	(void)state;
	memset(&p, 0, sizeof(p));
	p.n = 3;
	for (size_t i = 0; i < p.n; i++)
		p.c[i].allowed = 1;
	assert_null(aif_rl_refused(&p));
	p.c[1].allowed = 0;
	p.c[2].allowed = 0;
	assert_ptr_equal(aif_rl_refused(&p), &p.c[1]);
	p.n = 0;
	assert_null(aif_rl_refused(&p));
}

static void
apply_of_an_empty_plan_allows_without_the_database(void **state)
{
	struct aif_rl_plan p;
	int allowed = 0;

	(void)state;
	memset(&p, 0, sizeof(p));
	/* no database handle at all: an empty plan must not need one */
	assert_int_equal(aif_rl_apply(NULL, &p, &allowed), AIF_OK);
	assert_int_equal(allowed, 1);
}

/* ------------------------------------------------------------------ durations */

static void
assert_duration(int64_t ms, const char *want)
{
	char buf[64];

	memset(buf, 'x', sizeof(buf));
	aif_rl_go_duration(ms, buf, sizeof(buf));
	if (strcmp(buf, want) != 0)
		fail_msg("%" PRId64 " ms: \"%s\", want \"%s\"", ms, buf, want);
}

static void
go_duration_of_zero_or_less_is_0s(void **state)
{
	(void)state;
	assert_duration(0, "0s");
	assert_duration(-1, "0s");
	assert_duration(-60000, "0s");
}

static void
go_duration_below_a_second_is_in_ms(void **state)
{
	(void)state;
	assert_duration(1, "1ms");
	assert_duration(12, "12ms");
	assert_duration(999, "999ms");
}

static void
go_duration_of_seconds_keeps_only_significant_decimals(void **state)
{
	(void)state;
	assert_duration(1000, "1s");
	assert_duration(1500, "1.5s");
	assert_duration(1250, "1.25s");
	assert_duration(1050, "1.05s");
	assert_duration(1005, "1.005s");
	assert_duration(1001, "1.001s");
	assert_duration(59999, "59.999s");
}

static void
go_duration_above_a_minute_shows_every_smaller_unit(void **state)
{
	(void)state;
	assert_duration(60000, "1m0s");
	assert_duration(360000, "6m0s");
	assert_duration(61500, "1m1.5s");
	assert_duration(3600000, "1h0m0s");
	assert_duration(3723500, "1h2m3.5s");
	assert_duration(90061001, "25h1m1.001s");
}

/* ------------------------------------------------------------------ headers */

#define REQ_KEY_LINES	"x-ratelimit-limit-requests: 10\r\n" \
			"x-ratelimit-remaining-requests: 3\r\n" \
			"x-ratelimit-reset-requests: 6s\r\n"
#define TOK_KEY_LINES	"x-ratelimit-limit-tokens: 1000\r\n" \
			"x-ratelimit-remaining-tokens: 958\r\n" \
			"x-ratelimit-reset-tokens: 2.52s\r\n"

/* A plan with the tenant's checks before the key's, so "first" is not "the key's". */
static void
tenant_first_plan(struct aif_rl_plan *p)
{
	memset(p, 0, sizeof(*p));
	p->c[0] = result("tenant:team-a:rpm", 100, 50, 1500);
	p->c[1] = result("tenant:team-a:tpm", 20000, 19000, 180000);
	p->c[2] = result("key:12:rpm", 10, 3, 6000);
	p->c[3] = result("key:12:tpm", 1000, 958, 2520);
	p->n = 4;
}

static void
headers_pick_the_keys_limits_over_the_tenants(void **state)
{
	struct aif_rl_plan p;
	char buf[512] = "";

	(void)state;
	tenant_first_plan(&p);
	aif_rl_headers(&p, buf, sizeof(buf));
	assert_string_equal(buf, REQ_KEY_LINES TOK_KEY_LINES);
}

static void
headers_use_the_tenants_limit_when_the_key_has_none(void **state)
{
	struct aif_rl_plan p;
	char buf[512] = "";

	(void)state;
	memset(&p, 0, sizeof(p));
	p.c[0] = result("key:12:tpm", 1000, 958, 2520);
	p.c[1] = result("tenant:team-a:rpm", 100, 50, 1500);
	p.n = 2;
	aif_rl_headers(&p, buf, sizeof(buf));
	assert_string_equal(buf,
	    "x-ratelimit-limit-requests: 100\r\n"
	    "x-ratelimit-remaining-requests: 50\r\n"
	    "x-ratelimit-reset-requests: 1.5s\r\n" TOK_KEY_LINES);
}

static void
headers_of_an_empty_plan_add_nothing(void **state)
{
	struct aif_rl_plan p;
	char buf[64] = "X-Kept: 1\r\n";

	(void)state;
	memset(&p, 0, sizeof(p));
	aif_rl_headers(&p, buf, sizeof(buf));
	assert_string_equal(buf, "X-Kept: 1\r\n");
}

static void
headers_are_appended_after_existing_lines(void **state)
{
	struct aif_rl_plan p;
	char buf[512] = "X-Kept: 1\r\n";

	(void)state;
	tenant_first_plan(&p);
	aif_rl_headers(&p, buf, sizeof(buf));
	assert_string_equal(buf, "X-Kept: 1\r\n" REQ_KEY_LINES TOK_KEY_LINES);
}

static void
headers_in_a_tiny_buffer_are_whole_lines_or_nothing(void **state)
{
	static const char req[] = REQ_KEY_LINES, all[] = REQ_KEY_LINES TOK_KEY_LINES;
	struct aif_rl_plan p;
	char buf[512];

	(void)state;
	tenant_first_plan(&p);
	/* every capacity from 1 byte to room for everything */
	for (size_t cap = 1; cap <= sizeof(all); cap++) {
		const char *want = cap >= sizeof(all) ? all : cap >= sizeof(req) ? req : "";
		memset(buf, '#', sizeof(buf));
		buf[0] = '\0';
		aif_rl_headers(&p, buf, cap);
		if (strlen(buf) >= cap || strcmp(buf, want) != 0)
			fail_msg("cap %zu: \"%s\", want \"%s\"", cap, buf, want);
		/* nothing written past cap */
		for (size_t i = cap; i < sizeof(buf); i++)
			if (buf[i] != '#')
				fail_msg("cap %zu: byte %zu written", cap, i);
	}
}

static void
retry_headers_give_whole_seconds_rounded_up_and_ms(void **state)
{
	static const struct { int64_t ms; const char *want; } cases[] = {
		{ 1500, "Retry-After: 2\r\nretry-after-ms: 1500\r\n" },
		{ 2000, "Retry-After: 2\r\nretry-after-ms: 2000\r\n" },
		{ 1, "Retry-After: 1\r\nretry-after-ms: 1\r\n" },
		{ 60000, "Retry-After: 60\r\nretry-after-ms: 60000\r\n" },
	};
	struct aif_gcra_check c;
	char buf[128];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		check_init(&c, "key:12:rpm", 10, 1);
		c.retry_after_ms = cases[i].ms;
		aif_strlcpy(buf, "X-Kept: 1\r\n", sizeof(buf));
		aif_rl_retry_headers(&c, buf, sizeof(buf));
		if (strncmp(buf, "X-Kept: 1\r\n", 11) != 0 || strcmp(buf + 11, cases[i].want) != 0)
			fail_msg("%" PRId64 " ms: \"%s\"", cases[i].ms, buf);
	}
}

static void
retry_headers_in_a_tiny_buffer_add_nothing(void **state)
{
	static const char want[] = "X: 1\r\nRetry-After: 2\r\nretry-after-ms: 1500\r\n";
	struct aif_gcra_check c;
	char buf[128];

	(void)state;
	check_init(&c, "key:12:rpm", 10, 1);
	c.retry_after_ms = 1500;
	for (size_t cap = sizeof("X: 1\r\n"); cap <= sizeof(want); cap++) {
		memset(buf, '#', sizeof(buf));
		aif_strlcpy(buf, "X: 1\r\n", sizeof(buf));
		aif_rl_retry_headers(&c, buf, cap);
		if (strcmp(buf, cap >= sizeof(want) ? want : "X: 1\r\n") != 0)
			fail_msg("cap %zu: \"%s\"", cap, buf);
		for (size_t i = cap; i < sizeof(buf); i++)
			if (buf[i] != '#')
				fail_msg("cap %zu: byte %zu written", cap, i);
	}
}

/* ------------------------------------------------------------------ GCRA (database) */

static void
fresh_subject_reports_exact_remaining_and_reset(void **state)
{
	char s[128];
	struct aif_gcra_check c;

	(void)state;
	NEED_DB();
	new_subject(s, sizeof(s), "tpm");
	/* limit 6 per minute: one unit is 10 s; 2 of them are 20 s ahead */
	assert_true(charge(s, 6, 2, &c));
	assert_int_equal(c.remaining, 4);
	assert_int_equal(c.reset_ms, 20000);
	assert_int_equal(c.retry_after_ms, 0);
	assert_int_equal(rows_of(s), 1);
}

static void
limit_admits_a_burst_of_n_then_refuses(void **state)
{
	char tenant[64], want[128];
	struct aif_principal who;
	struct aif_role role = gate_role(3, -1, -1);
	struct aif_rl_plan p;
	const struct aif_gcra_check *refused;
	int allowed = -1;

	(void)state;
	NEED_DB();
	testdb_name(&g.t, tenant, sizeof(tenant), "", "");
	who = gate_principal(new_key_id(), tenant, -1, -1, -1);
	/* 3 per minute (20 s a request): the whole burst passes at once */
	for (int64_t i = 1; i <= 3; i++) {
		aif_rl_plan(&who, &role, NULL, 1, &p);
		assert_int_equal(p.n, 1);
		assert_int_equal(aif_rl_apply(g.t.db, &p, &allowed), AIF_OK);
		if (!allowed || p.c[0].remaining != 3 - i)
			fail_msg("request %" PRId64 ": allowed %d remaining %" PRId64, i, allowed,
			    p.c[0].remaining);
		assert_consistent(&p.c[0]);
	}
	aif_rl_plan(&who, &role, NULL, 1, &p);
	assert_int_equal(aif_rl_apply(g.t.db, &p, &allowed), AIF_OK);
	assert_int_equal(allowed, 0);
	assert_non_null(refused = aif_rl_refused(&p));
	snprintf(want, sizeof(want), "key:%" PRIu64 ":rpm", who.key_id);
	assert_string_equal(refused->subject, want);
	assert_int_equal(refused->remaining, 0);
	assert_true(refused->retry_after_ms > 0 && refused->retry_after_ms <= 20000);
	assert_consistent(refused);
}

static void
refused_check_does_not_move_the_bucket(void **state)
{
	char s[128];
	struct aif_gcra_check c;
	int64_t tat;

	(void)state;
	NEED_DB();
	new_subject(s, sizeof(s), "rpm");
	assert_true(charge(s, 1, 1, &c));	/* full for a minute */
	tat = tat_of(s);
	assert_true(tat > 0);
	assert_false(charge(s, 1, 1, &c));
	assert_int_equal(tat_of(s), tat);
	assert_consistent(&c);
}

static void
refused_multi_subject_check_charges_nothing(void **state)
{
	char tenant[64], tsubj[200], ksubj[200];
	struct aif_principal who;
	struct aif_role role = gate_role(3, -1, -1);
	struct aif_tenant t;
	struct aif_gcra_check probe;
	struct aif_rl_plan p;
	const struct aif_gcra_check *refused;
	int64_t key_tat, key_remaining;
	int allowed = -1;

	(void)state;
	NEED_DB();
	testdb_name(&g.t, tenant, sizeof(tenant), "", "");
	t = gate_tenant(tenant, 1, -1, -1);
	who = gate_principal(new_key_id(), tenant, -1, -1, -1);
	snprintf(ksubj, sizeof(ksubj), "key:%" PRIu64 ":rpm", who.key_id);
	snprintf(tsubj, sizeof(tsubj), "tenant:%s:rpm", tenant);
	/* the key has used 1 of 3, the tenant 1 of 1 (full for a minute) */
	assert_true(charge(ksubj, 3, 1, &probe));
	key_remaining = probe.remaining;
	assert_int_equal(key_remaining, 2);
	assert_true(charge(tsubj, 1, 1, &probe));
	key_tat = tat_of(ksubj);
	assert_true(key_tat > 0);

	aif_rl_plan(&who, &role, &t, 1, &p);
	assert_int_equal(p.n, 2);
	assert_int_equal(aif_rl_apply(g.t.db, &p, &allowed), AIF_OK);
	assert_int_equal(allowed, 0);
	assert_non_null(refused = aif_rl_refused(&p));
	assert_string_equal(refused->subject, tsubj);
	assert_false(aif_rl_is_key(refused));

	/* the key's state is what it was, and its next request sees one less, not two */
	assert_int_equal(tat_of(ksubj), key_tat);
	assert_true(charge(ksubj, 3, 1, &probe));
	assert_int_equal(probe.remaining, key_remaining - 1);
}

static void
remaining_and_reset_stay_consistent_over_charges(void **state)
{
	static const int64_t costs[] = { 1, 2, 1, 1, 3, 1, 1 };
	char s[128];
	struct aif_gcra_check c;
	int refusals = 0;

	(void)state;
	NEED_DB();
	new_subject(s, sizeof(s), "tpm");
	/* limit 6 (10 s a token): 1+2+1+1 pass, then 3 does not fit, then 1 does */
	for (size_t i = 0; i < sizeof(costs) / sizeof(costs[0]); i++) {
		int ok = charge(s, 6, costs[i], &c);
		assert_consistent(&c);
		refusals += !ok;
	}
	assert_true(refusals >= 1);
}

static void
cost_above_the_limit_is_refused_without_touching_the_database(void **state)
{
	char a[128], b[128];
	struct aif_gcra_check c[2];
	int allowed = -1;

	(void)state;
	NEED_DB();
	new_subject(a, sizeof(a), "tpm");
	new_subject(b, sizeof(b), "tpm");
	check_init(&c[0], a, 5, 3);
	check_init(&c[1], b, 5, 6);
	assert_int_equal(aif_gcra_charge(g.t.db, c, 2, &allowed), AIF_OK);
	assert_int_equal(allowed, 0);
	assert_int_equal(c[1].allowed, 0);
	assert_int_equal(c[1].retry_after_ms, 60000);
	assert_int_equal(c[0].allowed, 1);
	assert_int_equal(c[0].remaining, 5);
	/* neither subject got a row: no statement ran */
	assert_int_equal(rows_of(a), 0);
	assert_int_equal(rows_of(b), 0);
}

static void
limit_of_zero_refuses_everything_without_a_row(void **state)
{
	char s[128];
	struct aif_gcra_check c;

	(void)state;
	NEED_DB();
	new_subject(s, sizeof(s), "rpm");
	assert_false(charge(s, 0, 1, &c));
	assert_int_equal(c.retry_after_ms, 60000);
	assert_int_equal(rows_of(s), 0);
}

static void
charge_rejects_a_negative_limit_and_too_many_subjects(void **state)
{
	char s[128];
	struct aif_gcra_check c[AIF_GCRA_SUBJECTS_MAX + 1];
	int allowed = -1;

	(void)state;
	NEED_DB();
	new_subject(s, sizeof(s), "rpm");
	check_init(&c[0], s, -1, 1);
	assert_int_equal(aif_gcra_charge(g.t.db, c, 1, &allowed), AIF_INVALID);
	for (size_t i = 0; i < AIF_GCRA_SUBJECTS_MAX + 1; i++)
		check_init(&c[i], s, 5, 1);
	assert_int_equal(aif_gcra_charge(g.t.db, c, AIF_GCRA_SUBJECTS_MAX + 1, &allowed),
	    AIF_TOOBIG);
	assert_int_equal(rows_of(s), 0);
}

/* Corrects `subject` alone by delta tokens: its tat moves by delta tokens of a limit of
 * `limit` (a token is PERIOD_US / limit). */
static void
correct_one(const char *subject, int64_t limit, int64_t delta)
{
	int64_t tat = tat_of(subject);

	assert_int_equal(aif_gcra_correct(g.t.db, &subject, 1, delta), AIF_OK);
	assert_int_equal(tat_of(subject), tat + delta * (PERIOD_US / limit));
}

static void
correct_with_negative_delta_gives_capacity_back(void **state)
{
	char s[128];
	struct aif_gcra_check c;

	(void)state;
	NEED_DB();
	new_subject(s, sizeof(s), "tpm");
	/* limit 6 (10 s a token), all 6 charged: 3 more do not fit */
	assert_true(charge(s, 6, 6, &c));
	assert_int_equal(c.remaining, 0);
	assert_false(charge(s, 6, 3, &c));
	correct_one(s, 6, -3);
	assert_true(charge(s, 6, 3, &c));
	assert_consistent(&c);
}

static void
correct_with_positive_delta_takes_more(void **state)
{
	char s[128];
	struct aif_gcra_check c;

	(void)state;
	NEED_DB();
	new_subject(s, sizeof(s), "tpm");
	/* limit 6 (10 s a token): 3 charged, 3 more taken afterwards -> full */
	assert_true(charge(s, 6, 3, &c));
	assert_int_equal(c.remaining, 3);
	correct_one(s, 6, 3);
	assert_false(charge(s, 6, 1, &c));
	assert_int_equal(c.remaining, 0);
	assert_consistent(&c);
}

static void
correct_applies_to_every_subject_given(void **state)
{
	char a[128], b[128], other[128];
	const char *subjects[2];
	struct aif_gcra_check c;
	int64_t tat_a, tat_b, tat_other;

	(void)state;
	NEED_DB();
	new_subject(a, sizeof(a), "tpm");
	new_subject(b, sizeof(b), "tpm");
	new_subject(other, sizeof(other), "tpm");
	subjects[0] = a;
	subjects[1] = b;
	assert_true(charge(a, 6, 3, &c));
	assert_true(charge(b, 60, 3, &c));
	assert_true(charge(other, 6, 3, &c));
	tat_a = tat_of(a);
	tat_b = tat_of(b);
	tat_other = tat_of(other);
	assert_int_equal(aif_gcra_correct(g.t.db, subjects, 2, -2), AIF_OK);
	assert_int_equal(tat_of(a), tat_a - 2 * (PERIOD_US / 6));
	assert_int_equal(tat_of(b), tat_b - 2 * (PERIOD_US / 60));
	assert_int_equal(tat_of(other), tat_other);
}

static void
correct_of_zero_or_of_an_unknown_subject_changes_nothing(void **state)
{
	char s[128], unknown[128];
	const char *subjects[1] = { unknown };
	struct aif_gcra_check c;

	(void)state;
	NEED_DB();
	new_subject(s, sizeof(s), "tpm");
	new_subject(unknown, sizeof(unknown), "tpm");
	assert_true(charge(s, 6, 3, &c));
	correct_one(s, 6, 0);			/* its tat stays */
	assert_int_equal(aif_gcra_correct(g.t.db, subjects, 1, 5), AIF_OK);
	assert_int_equal(rows_of(unknown), 0);
}

/* Corrections of many jobs: those of one subject are summed into one (whatever their
 * order), those that sum to nothing leave their subject alone, every subject moves by
 * its own sum, and the batch is merged in place. */
static void
correct_each_sums_the_corrections_of_a_subject(void **state)
{
	char a[128], b[128], zero[128];
	struct aif_gcra_delta d[5];
	struct aif_gcra_check c;
	int64_t tat_a, tat_b, tat_zero;
	size_t n = AIF_NELEM(d);

	(void)state;
	NEED_DB();
	new_subject(a, sizeof(a), "tpm");
	new_subject(b, sizeof(b), "tpm");
	new_subject(zero, sizeof(zero), "tpm");
	assert_true(charge(a, 6, 3, &c));
	assert_true(charge(b, 60, 3, &c));
	assert_true(charge(zero, 6, 3, &c));
	tat_a = tat_of(a);
	tat_b = tat_of(b);
	tat_zero = tat_of(zero);
	aif_strlcpy(d[0].subject, a, sizeof(d[0].subject));
	d[0].tokens = -2;
	aif_strlcpy(d[1].subject, zero, sizeof(d[1].subject));
	d[1].tokens = 4;
	aif_strlcpy(d[2].subject, b, sizeof(d[2].subject));
	d[2].tokens = 5;
	aif_strlcpy(d[3].subject, a, sizeof(d[3].subject));
	d[3].tokens = 1;
	aif_strlcpy(d[4].subject, zero, sizeof(d[4].subject));
	d[4].tokens = -4;
	assert_int_equal(aif_gcra_correct_each(g.t.db, d, &n), AIF_OK);
	assert_int_equal(n, 2);				/* a and b; zero summed to 0 */
	assert_int_equal(tat_of(a), tat_a - 1 * (PERIOD_US / 6));
	assert_int_equal(tat_of(b), tat_b + 5 * (PERIOD_US / 60));
	assert_int_equal(tat_of(zero), tat_zero);
}

/* More subjects than one statement corrects (32): every one of them moves. */
static void
correct_each_corrects_more_subjects_than_one_statement_takes(void **state)
{
	enum { N = 40 };
	char s[N][128];
	struct aif_gcra_delta d[N];
	struct aif_gcra_check c;
	int64_t tat[N];
	size_t n = N;

	(void)state;
	NEED_DB();
	for (size_t i = 0; i < N; i++) {
		new_subject(s[i], sizeof(s[i]), "tpm");
		assert_true(charge(s[i], 6, 3, &c));
		tat[i] = tat_of(s[i]);
		aif_strlcpy(d[i].subject, s[i], sizeof(d[i].subject));
		d[i].tokens = -1;
	}
	assert_int_equal(aif_gcra_correct_each(g.t.db, d, &n), AIF_OK);
	assert_int_equal(n, N);
	for (size_t i = 0; i < N; i++)
		assert_int_equal(tat_of(s[i]), tat[i] - PERIOD_US / 6);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		/* no database */
		PLAN_TEST(plan_uses_the_keys_own_limits_over_the_roles),
		PLAN_TEST(plan_limits_a_rotated_key_in_its_lineages_buckets),
		PLAN_TEST(plan_uses_the_roles_defaults_when_the_key_has_no_limits),
		PLAN_TEST(plan_keeps_a_keys_own_limit_of_zero),
		PLAN_TEST(plan_adds_tenant_checks_for_a_listed_tenant),
		PLAN_TEST(plan_adds_no_tenant_check_for_an_unlisted_tenant),
		PLAN_TEST(plan_of_unlimited_key_role_and_tenant_is_empty),
		PLAN_TEST(plan_skips_each_unlimited_limit),
		cmocka_unit_test(plan_token_cost_is_the_estimate_and_at_least_one),
		cmocka_unit_test(checks_are_classified_by_subject),
		cmocka_unit_test(refused_is_the_first_refused_check_or_null),
		cmocka_unit_test(apply_of_an_empty_plan_allows_without_the_database),
		cmocka_unit_test(go_duration_of_zero_or_less_is_0s),
		cmocka_unit_test(go_duration_below_a_second_is_in_ms),
		cmocka_unit_test(go_duration_of_seconds_keeps_only_significant_decimals),
		cmocka_unit_test(go_duration_above_a_minute_shows_every_smaller_unit),
		cmocka_unit_test(headers_pick_the_keys_limits_over_the_tenants),
		cmocka_unit_test(headers_use_the_tenants_limit_when_the_key_has_none),
		cmocka_unit_test(headers_of_an_empty_plan_add_nothing),
		cmocka_unit_test(headers_are_appended_after_existing_lines),
		cmocka_unit_test(headers_in_a_tiny_buffer_are_whole_lines_or_nothing),
		cmocka_unit_test(retry_headers_give_whole_seconds_rounded_up_and_ms),
		cmocka_unit_test(retry_headers_in_a_tiny_buffer_add_nothing),
		/* database */
		cmocka_unit_test(fresh_subject_reports_exact_remaining_and_reset),
		cmocka_unit_test(limit_admits_a_burst_of_n_then_refuses),
		cmocka_unit_test(refused_check_does_not_move_the_bucket),
		cmocka_unit_test(refused_multi_subject_check_charges_nothing),
		cmocka_unit_test(remaining_and_reset_stay_consistent_over_charges),
		cmocka_unit_test(cost_above_the_limit_is_refused_without_touching_the_database),
		cmocka_unit_test(limit_of_zero_refuses_everything_without_a_row),
		cmocka_unit_test(charge_rejects_a_negative_limit_and_too_many_subjects),
		cmocka_unit_test(correct_with_negative_delta_gives_capacity_back),
		cmocka_unit_test(correct_with_positive_delta_takes_more),
		cmocka_unit_test(correct_applies_to_every_subject_given),
		cmocka_unit_test(correct_of_zero_or_of_an_unknown_subject_changes_nothing),
		cmocka_unit_test(correct_each_sums_the_corrections_of_a_subject),
		cmocka_unit_test(correct_each_corrects_more_subjects_than_one_statement_takes),
	};
	if (testdb_check(&g.t, "test_ratelimit") != 0)
		return 1;
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
