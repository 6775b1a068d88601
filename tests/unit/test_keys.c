/* test_keys.c -- unit tests of the API key lifecycle (core/gate/keys.c over
 * core/store/keystore.c) and of authentication (core/gate/auth.c) against a real MariaDB
 * (tests/unit/testdb.h: where it comes from, and why `make test` fails without it).
 *
 * Every key of a run is named "<tag>-<n>" and bills to tenant "<tag>-t", so runs and
 * tests never see each other's keys; the keys of this run are deleted at the end. The
 * configuration has no auth.pepper_file, so secrets are hashed with plain SHA-256.
 *
 * aif_auth_check caches each answer for AIF_AUTH_CACHE_MS (2 s): a key checked once
 * keeps being accepted by the same struct aif_auth for up to 2 s after it was revoked.
 * So every check that must see the database's current state (after a revocation, an
 * expiry, a rotation) uses a fresh struct aif_auth (check_fresh), and no assertion
 * depends on the cache running out. Times are checked against the database clock read
 * before and after the operation, never against a wait. Two tests break a create or a
 * rotation between its statements with a trigger of the scratch database
 * (fail_updates_of, for this run's key names only) to show that nothing is left half
 * done.
 *
 * A test's keys are struct tkey: the name and attributes it is created with, then the
 * JSON create or rotate returned, the id and the secret. Runs with cwd tests/unit. */
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

#include <jansson.h>

#include "apikey.h"
#include "auth.h"
#include "config.h"
#include "db.h"
#include "keys.h"
#include "testdb.h"
#include "util.h"

static struct {
	struct testdb	 t;
	struct aif_auth	*auth;
	char		 tenant[64];
	json_t		*made[256];	/* the JSON of every tkey, freed at the end */
	size_t		 nmade;
} g;

/* An id no key has. */
#define UNKNOWN_ID	(((uint64_t)1 << 40) + 12345)

#define NEED_DB()	TESTDB_NEED(&g.t)

/* ------------------------------------------------------------------ helpers */

/* A key of a test: its name and attributes (key_attrs), and once created or rotated into
 * (key_set) the JSON returned (the secret included), its id and its secret. The JSON
 * lives until the end of the run (group_teardown frees it). */
struct tkey {
	char			 name[96];
	struct aif_key_attrs	 a;
	json_t			*json;
	uint64_t		 id;
	char			 secret[AIF_KEY_LEN + 1];
};

/* An integer field (fails when absent or not an integer). */
static int64_t
jint(const json_t *o, const char *field)
{
	json_t *v = json_object_get(o, field);

	if (!json_is_integer(v))
		fail_msg("field \"%s\" is not an integer", field);
	return (int64_t)json_integer_value(v);
}

static const char *
jstr(const json_t *o, const char *field)
{
	json_t *v = json_object_get(o, field);

	if (!json_is_string(v))
		fail_msg("field \"%s\" is not a string", field);
	return json_string_value(v);
}

static void
assert_jnull(const json_t *o, const char *field)
{
	json_t *v = json_object_get(o, field);

	if (v == NULL || !json_is_null(v))
		fail_msg("field \"%s\" is not null", field);
}

/* The database clock, in whole seconds (as keys_show gives times) or microseconds. */
static int64_t
db_now_s(void)
{
	return testdb_i64(&g.t, "SELECT UNIX_TIMESTAMP(NOW(6))", NULL, 0);
}

static int64_t
db_now_us(void)
{
	return testdb_i64(&g.t, "SELECT CAST(UNIX_TIMESTAMP(NOW(6)) * 1000000 AS SIGNED)",
	    NULL, 0);
}

/* A time column of key id in microseconds; -1 when NULL. */
static int64_t
key_time_us(uint64_t id, const char *col)
{
	char sql[160];
	struct aif_dbp p[] = { AIF_P_I64(id) };

	snprintf(sql, sizeof(sql), "SELECT CAST(UNIX_TIMESTAMP(%s) * 1000000 AS SIGNED)"
	    " FROM api_keys WHERE id = ?", col);
	return testdb_i64(&g.t, sql, p, 1);
}

/* Attributes with nothing set but a fresh name, the role and this run's tenant. */
static void
key_attrs(struct tkey *k)
{
	memset(k, 0, sizeof(*k));
	testdb_name(&g.t, k->name, sizeof(k->name), "", "");
	k->a.name = k->name;
	k->a.role = "user";
	k->a.tenant = g.tenant;
	k->a.rpm = -1;
	k->a.tpm = -1;
	k->a.monthly_budget_micros = -1;
	k->a.max_priority = -1;
	k->a.expires_in_s = 0;
}

/* Takes the JSON of a create or rotate: its id (> 0) and its secret. */
static void
key_set(struct tkey *k, json_t *json)
{
	const char *secret = jstr(json, "key");
	int64_t id = jint(json, "id");

	assert_true(g.nmade < sizeof(g.made) / sizeof(g.made[0]));
	g.made[g.nmade++] = k->json = json;
	assert_true(id > 0);
	k->id = (uint64_t)id;
	assert_int_equal(strlen(secret), AIF_KEY_LEN);
	memcpy(k->secret, secret, AIF_KEY_LEN + 1);
}

/* Creates the key of k->a. */
static void
key_create(struct tkey *k)
{
	json_t *out = NULL;

	assert_int_equal(aif_keys_create(g.auth, g.t.db, &k->a, &out), AIF_OK);
	assert_non_null(out);
	key_set(k, out);
}

/* A key with nothing set (key_attrs), created. */
static void
key_new(struct tkey *k)
{
	key_attrs(k);
	key_create(k);
}

/* A key that expires in expires_in_s, created; its expires_at in microseconds. */
static int64_t
key_new_expiring(struct tkey *k, int64_t expires_in_s)
{
	int64_t expires;

	key_attrs(k);
	k->a.expires_in_s = expires_in_s;
	key_create(k);
	expires = key_time_us(k->id, "expires_at");
	assert_true(expires > 0);
	return expires;
}

/* A key with these limits of its own, created. */
static void
key_new_limited(struct tkey *k, int64_t rpm, int64_t tpm, int64_t budget,
    int max_priority)
{
	key_attrs(k);
	k->a.rpm = rpm;
	k->a.tpm = tpm;
	k->a.monthly_budget_micros = budget;
	k->a.max_priority = max_priority;
	key_create(k);
}

static json_t *
show(uint64_t id)
{
	json_t *out = NULL;

	assert_int_equal(aif_keys_show(g.t.db, id, &out), AIF_OK);
	assert_non_null(out);
	return out;
}

/* Moves the expiry of key id to a second ago (instead of waiting for it). */
static void
expire_now(uint64_t id)
{
	struct aif_dbp p[] = { AIF_P_I64(id) };
	uint64_t affected = 0;

	assert_int_equal(aif_db_exec(g.t.db, "UPDATE api_keys SET expires_at ="
	    " NOW(6) - INTERVAL 1 SECOND WHERE id = ?", p, 1, &affected, NULL), AIF_OK);
	assert_int_equal(affected, 1);
}

static void
assert_between(int64_t v, int64_t lo, int64_t hi, const char *what)
{
	if (v < lo || v > hi)
		fail_msg("%s: %" PRId64 " not in %" PRId64 "..%" PRId64, what, v, lo, hi);
}

/* Checks "<scheme> <key>" with a new authenticator (no cached answer). */
static enum aif_err
check_fresh(const char *scheme, const char *key, struct aif_principal *who)
{
	struct aif_auth *a = NULL;
	char header[128];
	enum aif_err err;

	assert_int_equal(aif_auth_new(g.t.cfg, &a), AIF_OK);
	snprintf(header, sizeof(header), "%s %s", scheme, key);
	err = aif_auth_check(a, g.t.db, header, who);
	aif_auth_free(a);
	return err;
}

/* "<scheme> <key>" authenticates (check_fresh) as key id; who that is. */
static struct aif_principal
auth_ok(const char *scheme, const char *key, uint64_t id)
{
	struct aif_principal who;

	assert_int_equal(check_fresh(scheme, key, &who), AIF_OK);
	assert_int_equal(who.key_id, id);
	return who;
}

/* Rotates key id with grace_s into *to; the live successor it reports must be none. */
static void
rotate_ok(struct tkey *to, uint64_t id, int64_t grace_s)
{
	json_t *out = NULL;
	uint64_t next = 12345;

	assert_int_equal(aif_keys_rotate(g.auth, g.t.db, id, grace_s, &out, &next), AIF_OK);
	assert_non_null(out);
	assert_int_equal(next, 0);
	key_set(to, out);
}

/* Rotates key id with grace_s into *to, without asking for the live successor. */
static void
rotate_no_next(struct tkey *to, uint64_t id, int64_t grace_s)
{
	json_t *out = NULL;

	assert_int_equal(aif_keys_rotate(g.auth, g.t.db, id, grace_s, &out, NULL), AIF_OK);
	assert_non_null(out);
	key_set(to, out);
}

/* Rotating key id is refused with `want`, and no JSON comes back; `next` as
 * aif_keys_rotate takes it (may be NULL). */
static void
assert_rotate_refused(uint64_t id, int64_t grace_s, uint64_t *next, enum aif_err want)
{
	json_t *out = (json_t *)&out;

	assert_int_equal(aif_keys_rotate(g.auth, g.t.db, id, grace_s, &out, next), want);
	assert_null(out);
}

/* Creating a key of attributes a is refused with `want`, and no JSON comes back. */
static void
assert_create_refused(const struct aif_key_attrs *a, enum aif_err want)
{
	json_t *out = (json_t *)&out;

	assert_int_equal(aif_keys_create(g.auth, g.t.db, a, &out), want);
	assert_null(out);
}

/* How many keys are named `name` (those of one lineage share it). */
static int64_t
keys_named(const char *name)
{
	return testdb_i64_str(&g.t, "SELECT COUNT(*) FROM api_keys WHERE name = ?", name);
}

/* A trigger of the scratch database that makes every UPDATE of the keys named `name`
 * fail, to break a create or a rotation between its statements. */
static void
fail_updates_of(const char *name)
{
	char sql[512];

	(void)aif_db_exec_plain(g.t.db, "DROP TRIGGER IF EXISTS utest_keys_fail_update", NULL);
	snprintf(sql, sizeof(sql), "CREATE TRIGGER utest_keys_fail_update BEFORE UPDATE ON"
	    " api_keys FOR EACH ROW IF NEW.name = '%s' THEN SIGNAL SQLSTATE '45000' SET"
	    " MESSAGE_TEXT = 'test_keys: update refused'; END IF", name);
	assert_int_equal(aif_db_exec_plain(g.t.db, sql, NULL), AIF_OK);
}

static void
drop_failing_trigger(void)
{
	assert_int_equal(aif_db_exec_plain(g.t.db,
	    "DROP TRIGGER IF EXISTS utest_keys_fail_update", NULL), AIF_OK);
}

/* ------------------------------------------------------------------ setup */

static int
group_setup(void **state)
{
	(void)state;
	if (testdb_open(&g.t, "test_keys", "") != 0)
		return -1;
	snprintf(g.tenant, sizeof(g.tenant), "%s-t", g.t.tag);
	if (g.t.db != NULL && (g.t.cfg->auth.pepper_file != NULL ||
	    aif_auth_new(g.t.cfg, &g.auth) != AIF_OK)) {
		testdb_close(&g.t);
		return -1;
	}
	return 0;
}

/* Deletes this run's keys and frees their JSON. */
static int
group_teardown(void **state)
{
	(void)state;
	while (g.nmade > 0)
		json_decref(g.made[--g.nmade]);
	testdb_purge(&g.t, "DELETE FROM api_keys WHERE name LIKE ?", "");
	aif_auth_free(g.auth);
	g.auth = NULL;
	testdb_close(&g.t);
	return 0;
}

/* ------------------------------------------------------------------ create */

static void
create_returns_a_well_formed_secret_once(void **state)
{
	struct tkey k;
	json_t *s;

	(void)state;
	NEED_DB();
	key_new(&k);
	assert_true(aif_apikey_well_formed(k.secret, strlen(k.secret)));
	assert_memory_equal(k.secret, AIF_KEY_PREFIX, strlen(AIF_KEY_PREFIX));
	/* the prefix shown is the secret's first characters; the secret is not shown again */
	assert_int_equal(strlen(jstr(k.json, "key_prefix")), AIF_KEY_DISPLAY_LEN);
	assert_memory_equal(jstr(k.json, "key_prefix"), k.secret, AIF_KEY_DISPLAY_LEN);
	s = show(k.id);
	assert_null(json_object_get(s, "key"));
	json_decref(s);
}

static void
create_gives_distinct_secrets_and_ids(void **state)
{
	struct tkey k1, k2;

	(void)state;
	NEED_DB();
	key_new(&k1);
	key_new(&k2);
	assert_string_not_equal(k1.secret, k2.secret);
	assert_string_not_equal(jstr(k1.json, "key_prefix"), jstr(k2.json, "key_prefix"));
	assert_true(k1.id != k2.id);
}

static void
create_returns_null_for_limits_not_set(void **state)
{
	struct tkey k;

	(void)state;
	NEED_DB();
	key_new(&k);
	assert_string_equal(jstr(k.json, "name"), k.name);
	assert_string_equal(jstr(k.json, "role"), "user");
	assert_string_equal(jstr(k.json, "tenant"), g.tenant);
	assert_jnull(k.json, "rpm");
	assert_jnull(k.json, "tpm");
	assert_jnull(k.json, "monthly_budget_micros");
	assert_jnull(k.json, "max_priority");
	assert_jnull(k.json, "expires_at");
	assert_jnull(k.json, "revoked_at");
	assert_true(json_is_true(json_object_get(k.json, "active")));
	assert_true(jint(k.json, "created_at") > 0);
}

/* A key created with these limits of its own returns them as given, and no expiry. */
static void
assert_created_with_limits(int64_t rpm, int64_t tpm, int64_t budget, int max_priority)
{
	struct tkey k;

	key_new_limited(&k, rpm, tpm, budget, max_priority);
	assert_int_equal(jint(k.json, "rpm"), rpm);
	assert_int_equal(jint(k.json, "tpm"), tpm);
	assert_int_equal(jint(k.json, "monthly_budget_micros"), budget);
	assert_int_equal(jint(k.json, "max_priority"), max_priority);
	assert_jnull(k.json, "expires_at");
}

static void
create_returns_the_limits_as_given(void **state)
{
	(void)state;
	NEED_DB();
	assert_created_with_limits(60, 6000, 1234567, 7);
}

static void
create_keeps_limits_of_zero(void **state)
{
	(void)state;
	NEED_DB();
	assert_created_with_limits(0, 0, 0, 0);
}

static void
create_with_expiry_sets_expires_at(void **state)
{
	struct tkey k;
	int64_t before, after, created;

	(void)state;
	NEED_DB();
	key_attrs(&k);
	k.a.expires_in_s = 3600;
	before = db_now_s();
	key_create(&k);
	after = db_now_s();
	created = jint(k.json, "created_at");
	assert_between(created, before, after, "created_at");
	assert_between(jint(k.json, "expires_at"), before + 3600, after + 3600, "expires_at");
	assert_true(jint(k.json, "expires_at") >= created + 3600);
	assert_true(json_is_true(json_object_get(k.json, "active")));
}

static void
create_without_tenant_bills_to_default(void **state)
{
	struct tkey k;

	(void)state;
	NEED_DB();
	key_attrs(&k);
	k.a.tenant = NULL;
	key_create(&k);
	assert_string_equal(jstr(k.json, "tenant"), "default");
}

static void
create_without_name_or_role_is_invalid(void **state)
{
	struct tkey k;

	(void)state;
	NEED_DB();
	key_attrs(&k);
	k.a.name = NULL;
	assert_create_refused(&k.a, AIF_INVALID);
	k.a.name = k.name;
	k.a.role = NULL;
	assert_create_refused(&k.a, AIF_INVALID);
	assert_int_equal(keys_named(k.name), 0);
}

static void
stored_row_holds_only_the_hash(void **state)
{
	struct tkey k;
	unsigned char hash[AIF_KEY_HASH_LEN];
	struct aif_dbrows *rows = NULL;

	(void)state;
	NEED_DB();
	key_new(&k);
	{
		/* every column of the row: neither the secret nor its secret part (past the
		 * public prefix) appears in any of them */
		struct aif_dbp p[] = { AIF_P_I64(k.id) };
		aif_db_want_names(g.t.db, 1);	/* to say which column */
		assert_int_equal(aif_db_query(g.t.db, "SELECT * FROM api_keys WHERE id = ?", p,
		    1, &rows), AIF_OK);
		aif_db_want_names(g.t.db, 0);
	}
	assert_int_equal(rows->nrows, 1);
	assert_true(rows->ncols >= 5);
	for (size_t c = 0; c < rows->ncols; c++) {
		const char *cell = aif_dbrows_get(rows, 0, c);
		size_t len = rows->lens[c];
		if (cell == NULL)
			continue;
		if (memmem(cell, len, k.secret, AIF_KEY_LEN) != NULL ||
		    memmem(cell, len, k.secret + AIF_KEY_DISPLAY_LEN,
		    AIF_KEY_LEN - AIF_KEY_DISPLAY_LEN) != NULL)
			fail_msg("column %s holds the secret", rows->names[c]);
	}
	aif_dbrows_free(rows);
	/* what is stored is SHA-256 of the secret (no pepper configured) */
	aif_apikey_hash(NULL, 0, k.secret, AIF_KEY_LEN, hash);
	{
		struct aif_dbp p[] = { AIF_P_I64(k.id),
		    AIF_P_STRN((const char *)hash, sizeof(hash)), AIF_P_STR(k.secret) };
		assert_int_equal(testdb_i64(&g.t, "SELECT COUNT(*) FROM api_keys WHERE id = ?"
		    " AND secret_hash = ?", p, 2), 1);
		/* and no text column of any row of the table contains the secret */
		assert_int_equal(testdb_i64(&g.t, "SELECT COUNT(*) FROM api_keys WHERE"
		    " LOCATE(?, CONCAT_WS('|', key_prefix, name, role, tenant,"
		    " HEX(secret_hash))) > 0", p + 2, 1), 0);
	}
}

static void
create_starts_a_lineage_of_its_own(void **state)
{
	struct tkey k;
	struct aif_principal who;

	(void)state;
	NEED_DB();
	key_new(&k);
	assert_int_equal(jint(k.json, "lineage_id"), k.id);
	assert_jnull(k.json, "replaces");
	who = auth_ok("Bearer", k.secret, k.id);
	assert_int_equal(who.lineage_id, k.id);
}

static void
create_leaves_no_row_when_a_later_statement_fails(void **state)
{
	struct tkey k;
	json_t *out = (json_t *)&out;

	(void)state;
	NEED_DB();
	key_attrs(&k);
	/* the row is inserted, then its lineage set by an UPDATE: make that one fail */
	fail_updates_of(k.name);
	assert_int_not_equal(aif_keys_create(g.auth, g.t.db, &k.a, &out), AIF_OK);
	drop_failing_trigger();
	assert_null(out);
	assert_int_equal(keys_named(k.name), 0);
	/* and the connection is usable again, outside any transaction */
	key_create(&k);
	assert_int_equal(keys_named(k.name), 1);
}

/* The attribute checks of create (aifctl keys create, POST /admin/keys): each field
 * is refused by name, the first in order; a name's refusal says why. */
static void
attrs_check_names_the_field_refused(void **state)
{
	static const struct {
		const char	*field;
		const char	*name, *role, *tenant;
		int64_t		 rpm, tpm, budget, expires;
		int		 prio;
	} cases[] = {
		{ NULL, "ok", "user", NULL, -1, -1, -1, 0, -1 },
		{ NULL, "ok", "user", "team", AIF_KEYS_RPM_MAX, AIF_KEYS_TPM_MAX,
		    AIF_KEYS_BUDGET_MAX, AIF_KEYS_EXPIRY_MAX_S, 9 },
		{ NULL, "ok", "user", NULL, 0, 0, 0, 0, 0 },
		{ "name", NULL, "user", NULL, -1, -1, -1, 0, -1 },
		{ "name", " padded", "user", NULL, -1, -1, -1, 0, -1 },
		{ "role", "ok", NULL, NULL, -1, -1, -1, 0, -1 },
		{ "role", "ok", "nobody", NULL, -1, -1, -1, 0, -1 },
		{ "tenant", "ok", "user", "bad\x01", -1, -1, -1, 0, -1 },
		{ "rpm", "ok", "user", NULL, AIF_KEYS_RPM_MAX + 1, -1, -1, 0, -1 },
		{ "rpm", "ok", "user", NULL, -2, -1, -1, 0, -1 },
		{ "tpm", "ok", "user", NULL, -1, AIF_KEYS_TPM_MAX + 1, -1, 0, -1 },
		{ "monthly_budget_micros", "ok", "user", NULL, -1, -1, AIF_KEYS_BUDGET_MAX + 1,
		    0, -1 },
		{ "max_priority", "ok", "user", NULL, -1, -1, -1, 0, 10 },
		{ "expires_in_s", "ok", "user", NULL, -1, -1, -1, AIF_KEYS_EXPIRY_MAX_S + 1,
		    -1 },
		{ "expires_in_s", "ok", "user", NULL, -1, -1, -1, -1, -1 },
		/* the first refused in order: name before role before tenant */
		{ "name", "", "nobody", "bad\x01", -2, -1, -1, 0, -1 },
	};

	(void)state;
	NEED_DB();
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct aif_key_attrs a = { .name = cases[i].name, .role = cases[i].role,
		    .tenant = cases[i].tenant, .rpm = cases[i].rpm, .tpm = cases[i].tpm,
		    .monthly_budget_micros = cases[i].budget,
		    .max_priority = cases[i].prio, .expires_in_s = cases[i].expires };
		const char *field = "x", *why = "x";
		enum aif_err err = aif_keys_attrs_check(g.t.cfg, &a, &field, &why);
		if (cases[i].field == NULL) {
			if (err != AIF_OK)
				fail_msg("case %zu refused (%s)", i, field ? field : "?");
			assert_null(field);
			assert_null(why);
			continue;
		}
		assert_int_equal(err, AIF_INVALID);
		if (field == NULL || strcmp(field, cases[i].field) != 0)
			fail_msg("case %zu: field %s, want %s", i, field ? field : "NULL",
			    cases[i].field);
		if (strcmp(field, "name") == 0 || strcmp(field, "tenant") == 0)
			assert_non_null(why);
		else
			assert_null(why);
	}
}

/* Only the lookup that authenticates reads a key's secret hash: a read by id or the
 * list carries none. */
static void
reads_other_than_by_hash_carry_no_hash(void **state)
{
	struct tkey k;
	struct aif_key_row row, *rows = NULL;
	size_t n = 0;

	(void)state;
	NEED_DB();
	key_new(&k);
	memset(&row, 0xff, sizeof(row));
	assert_int_equal(aif_keystore_get(g.t.db, k.id, &row), AIF_OK);
	assert_int_equal(row.id, k.id);
	assert_int_equal(row.secret_hash_len, 0);
	assert_int_equal(aif_keystore_list(g.t.db, 1000, &rows, &n), AIF_OK);
	assert_true(n >= 1);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(rows[i].secret_hash_len, 0);
	free(rows);
}

/* ------------------------------------------------------------------ list, show */

static void
list_is_newest_first_without_secrets(void **state)
{
	struct tkey k[3];
	size_t pos[3] = { SIZE_MAX, SIZE_MAX, SIZE_MAX };
	json_t *list = NULL, *v;
	int64_t prev = INT64_MAX;
	size_t i;

	(void)state;
	NEED_DB();
	for (i = 0; i < 3; i++)
		key_new(&k[i]);
	assert_int_equal(aif_keys_list(g.t.db, 1000, &list), AIF_OK);
	assert_true(json_is_array(list));
	json_array_foreach(list, i, v) {
		int64_t id = jint(v, "id");
		if (id >= prev)
			fail_msg("list: id %" PRId64 " after %" PRId64, id, prev);
		prev = id;
		assert_null(json_object_get(v, "key"));
		assert_null(json_object_get(v, "secret_hash"));
		for (size_t n = 0; n < 3; n++)
			if ((uint64_t)id == k[n].id)
				pos[n] = i;
	}
	/* ours are there, the newest first */
	assert_true(pos[2] < pos[1] && pos[1] < pos[0] && pos[0] != SIZE_MAX);
	assert_true((uint64_t)jint(json_array_get(list, 0), "id") >= k[2].id);
	json_decref(list);
}

static void
list_returns_at_most_limit(void **state)
{
	struct tkey k1, k2;
	json_t *list = NULL;

	(void)state;
	NEED_DB();
	key_new(&k1);
	key_new(&k2);
	assert_int_equal(aif_keys_list(g.t.db, 1, &list), AIF_OK);
	assert_int_equal(json_array_size(list), 1);
	json_decref(list);
}

static void
show_returns_the_public_fields_of_the_key(void **state)
{
	struct tkey k;
	json_t *s;
	const char *field;
	json_t *v;

	(void)state;
	NEED_DB();
	key_attrs(&k);
	k.a.tpm = 500;
	key_create(&k);
	s = show(k.id);
	/* the same object as create's, less the secret */
	assert_int_equal(json_object_size(s) + 1, json_object_size(k.json));
	json_object_foreach(k.json, field, v) {
		if (strcmp(field, "key") == 0)
			continue;
		if (!json_equal(v, json_object_get(s, field)))
			fail_msg("field \"%s\" differs", field);
	}
	json_decref(s);
}

static void
show_of_an_unknown_id_is_notfound(void **state)
{
	json_t *out = (json_t *)&out;

	(void)state;
	NEED_DB();
	assert_int_equal(aif_keys_show(g.t.db, UNKNOWN_ID, &out), AIF_NOTFOUND);
	assert_null(out);
}

/* ------------------------------------------------------------------ revoke */

static void
revoke_sets_revoked_at_now(void **state)
{
	struct tkey k;
	int64_t before, after;
	json_t *s;

	(void)state;
	NEED_DB();
	key_new(&k);
	before = db_now_us();
	assert_int_equal(aif_keys_revoke(g.t.db, k.id), AIF_OK);
	after = db_now_us();
	assert_between(key_time_us(k.id, "revoked_at"), before, after, "revoked_at");
	s = show(k.id);
	assert_false(json_is_true(json_object_get(s, "active")));
	assert_between(jint(s, "revoked_at"), before / 1000000, after / 1000000, "revoked_at");
	json_decref(s);
}

static void
revoke_is_idempotent(void **state)
{
	struct tkey k;
	int64_t first;

	(void)state;
	NEED_DB();
	key_new(&k);
	assert_int_equal(aif_keys_revoke(g.t.db, k.id), AIF_OK);
	first = key_time_us(k.id, "revoked_at");
	assert_true(first > 0);
	assert_int_equal(aif_keys_revoke(g.t.db, k.id), AIF_OK);
	assert_int_equal(key_time_us(k.id, "revoked_at"), first);
}

static void
revoke_of_an_unknown_id_is_notfound(void **state)
{
	(void)state;
	NEED_DB();
	assert_int_equal(aif_keys_revoke(g.t.db, UNKNOWN_ID), AIF_NOTFOUND);
}

static void
revoked_key_fails_authentication(void **state)
{
	struct tkey k;
	struct aif_principal who;

	(void)state;
	NEED_DB();
	key_new(&k);
	(void)auth_ok("Bearer", k.secret, k.id);
	assert_int_equal(aif_keys_revoke(g.t.db, k.id), AIF_OK);
	/* a new authenticator: the old one may answer from its 2 s cache */
	assert_int_equal(check_fresh("Bearer", k.secret, &who), AIF_AUTH);
	assert_int_equal(who.key_id, 0);
}

static void
expired_key_fails_authentication(void **state)
{
	struct tkey k;
	struct aif_principal who;
	json_t *s;

	(void)state;
	NEED_DB();
	(void)key_new_expiring(&k, 3600);
	(void)auth_ok("Bearer", k.secret, k.id);
	expire_now(k.id);		/* the hour has passed */
	assert_int_equal(check_fresh("Bearer", k.secret, &who), AIF_AUTH);
	s = show(k.id);
	assert_false(json_is_true(json_object_get(s, "active")));
	assert_jnull(s, "revoked_at");
	json_decref(s);
}

/* ------------------------------------------------------------------ rotate */

static void
rotate_gives_a_new_key_with_the_same_attributes(void **state)
{
	static const char *const same[] = {
		"name", "role", "tenant", "rpm", "tpm", "monthly_budget_micros", "max_priority",
	};
	struct tkey old, new;

	(void)state;
	NEED_DB();
	key_new_limited(&old, 30, 4000, 999, 2);
	rotate_no_next(&new, old.id, 3600);
	assert_true(aif_apikey_well_formed(new.secret, strlen(new.secret)));
	assert_string_not_equal(new.secret, old.secret);
	assert_true(new.id != old.id);
	assert_int_equal(jint(new.json, "replaces"), old.id);
	for (size_t i = 0; i < sizeof(same) / sizeof(same[0]); i++)
		if (!json_equal(json_object_get(old.json, same[i]),
		    json_object_get(new.json, same[i])))
			fail_msg("field \"%s\" differs", same[i]);
	assert_jnull(new.json, "expires_at");
	assert_jnull(new.json, "revoked_at");
	assert_true(json_is_true(json_object_get(new.json, "active")));
}

static void
rotate_with_grace_lets_the_old_key_expire_within_grace(void **state)
{
	struct tkey old, new;
	int64_t before, after;
	json_t *s;

	(void)state;
	NEED_DB();
	key_new(&old);
	before = db_now_us();
	rotate_no_next(&new, old.id, 600);
	after = db_now_us();
	assert_between(key_time_us(old.id, "expires_at"), before + 600 * 1000000LL,
	    after + 600 * 1000000LL, "expires_at");
	s = show(old.id);
	assert_jnull(s, "revoked_at");
	assert_true(json_is_true(json_object_get(s, "active")));
	/* both keys work during the grace period */
	(void)auth_ok("Bearer", old.secret, old.id);
	(void)auth_ok("Bearer", new.secret, new.id);
	json_decref(s);
}

static void
rotate_with_zero_grace_revokes_the_old_key_now(void **state)
{
	struct tkey old, new;
	struct aif_principal who;
	int64_t before, after;
	json_t *s;

	(void)state;
	NEED_DB();
	key_new(&old);
	(void)auth_ok("Bearer", old.secret, old.id);
	before = db_now_us();
	rotate_no_next(&new, old.id, 0);
	after = db_now_us();
	assert_between(key_time_us(old.id, "revoked_at"), before, after, "revoked_at");
	s = show(old.id);
	assert_false(json_is_true(json_object_get(s, "active")));
	assert_jnull(s, "expires_at");
	assert_int_equal(check_fresh("Bearer", old.secret, &who), AIF_AUTH);
	(void)auth_ok("Bearer", new.secret, new.id);
	json_decref(s);
}

static void
rotate_keeps_an_earlier_expiry_of_the_old_key(void **state)
{
	struct tkey old, new;
	int64_t expires;

	(void)state;
	NEED_DB();
	expires = key_new_expiring(&old, 60);
	rotate_no_next(&new, old.id, 3600);
	assert_int_equal(key_time_us(old.id, "expires_at"), expires);
}

static void
rotate_gives_the_new_key_the_old_keys_expiry(void **state)
{
	struct tkey old, new;
	int64_t expires;

	(void)state;
	NEED_DB();
	expires = key_new_expiring(&old, 7200);
	rotate_ok(&new, old.id, 60);
	/* the successor keeps the date; the old key goes within the grace period */
	assert_int_equal(key_time_us(new.id, "expires_at"), expires);
	assert_true(key_time_us(old.id, "expires_at") < expires);
	assert_int_equal(jint(new.json, "expires_at"), jint(old.json, "expires_at"));
}

static void
rotate_keeps_the_lineage_along_the_chain(void **state)
{
	struct tkey first, second, third;
	struct aif_principal who;

	(void)state;
	NEED_DB();
	key_new(&first);
	rotate_ok(&second, first.id, 600);
	rotate_ok(&third, second.id, 600);
	assert_int_equal(jint(second.json, "replaces"), first.id);
	assert_int_equal(jint(third.json, "replaces"), second.id);
	assert_int_equal(jint(second.json, "lineage_id"), first.id);
	assert_int_equal(jint(third.json, "lineage_id"), first.id);
	/* authentication: the key presented, and the lineage that budgets and jobs name */
	who = auth_ok("Bearer", second.secret, second.id);
	assert_int_equal(who.lineage_id, first.id);
	who = auth_ok("Bearer", third.secret, third.id);
	assert_int_equal(who.lineage_id, first.id);
}

static void
rotate_of_a_revoked_key_is_refused(void **state)
{
	struct tkey k;
	uint64_t next = 12345;

	(void)state;
	NEED_DB();
	key_new(&k);
	assert_int_equal(aif_keys_revoke(g.t.db, k.id), AIF_OK);
	assert_rotate_refused(k.id, 600, &next, AIF_FORBIDDEN);
	assert_int_equal(next, 0);
	assert_int_equal(keys_named(k.name), 1);
}

static void
rotate_of_an_expired_key_is_refused(void **state)
{
	struct tkey k;

	(void)state;
	NEED_DB();
	(void)key_new_expiring(&k, 3600);
	expire_now(k.id);
	assert_rotate_refused(k.id, 0, NULL, AIF_FORBIDDEN);
	assert_int_equal(keys_named(k.name), 1);
}

static void
rotate_of_a_key_revoked_by_its_rotation_is_refused(void **state)
{
	struct tkey old, new;

	(void)state;
	NEED_DB();
	key_new(&old);
	rotate_ok(&new, old.id, 0);
	assert_rotate_refused(old.id, 0, NULL, AIF_FORBIDDEN);
	assert_int_equal(keys_named(old.name), 2);
}

static void
rotate_twice_is_refused_while_the_first_successor_lives(void **state)
{
	struct tkey old, new;
	uint64_t next = 0;
	int64_t expires;

	(void)state;
	NEED_DB();
	key_new(&old);
	rotate_ok(&new, old.id, 600);
	expires = key_time_us(old.id, "expires_at");
	assert_rotate_refused(old.id, 0, &next, AIF_CONFLICT);
	assert_int_equal(next, new.id);
	/* nothing changed: no third key, the old one keeps its grace period */
	assert_int_equal(keys_named(old.name), 2);
	assert_int_equal(key_time_us(old.id, "expires_at"), expires);
	assert_int_equal(key_time_us(old.id, "revoked_at"), -1);
}

static void
rotate_of_an_older_key_of_a_lineage_is_refused(void **state)
{
	struct tkey first, second, third;
	uint64_t next = 0;

	(void)state;
	NEED_DB();
	/* first (in its grace period) -> second (revoked by its rotation) -> third: first
	   has no live successor of its own, but the lineage's newest live key is third */
	key_new(&first);
	rotate_ok(&second, first.id, 600);
	rotate_ok(&third, second.id, 0);
	assert_rotate_refused(first.id, 600, &next, AIF_CONFLICT);
	assert_int_equal(next, third.id);
	assert_int_equal(keys_named(first.name), 3);
}

static void
rotate_again_is_allowed_once_the_successor_is_revoked(void **state)
{
	struct tkey old, bad, again;

	(void)state;
	NEED_DB();
	key_new(&old);
	rotate_ok(&bad, old.id, 600);
	assert_int_equal(aif_keys_revoke(g.t.db, bad.id), AIF_OK);
	rotate_ok(&again, old.id, 600);
	assert_true(again.id != bad.id);
	assert_int_equal(jint(again.json, "replaces"), old.id);
	assert_int_equal(jint(again.json, "lineage_id"), old.id);
}

static void
rotate_leaves_nothing_when_a_later_statement_fails(void **state)
{
	struct tkey old, new;
	json_t *out = (json_t *)&out;

	(void)state;
	NEED_DB();
	key_new(&old);
	/* the successor is inserted, then the old key's expiry set: make that one fail */
	fail_updates_of(old.name);
	assert_int_not_equal(aif_keys_rotate(g.auth, g.t.db, old.id, 0, &out, NULL),
	    AIF_OK);
	drop_failing_trigger();
	assert_null(out);
	assert_int_equal(keys_named(old.name), 1);
	(void)auth_ok("Bearer", old.secret, old.id);
	/* and the key can be rotated once the fault is gone */
	rotate_ok(&new, old.id, 0);
	assert_int_equal(keys_named(old.name), 2);
}

static void
rotate_of_an_unknown_id_is_notfound(void **state)
{
	(void)state;
	NEED_DB();
	assert_rotate_refused(UNKNOWN_ID, 60, NULL, AIF_NOTFOUND);
}

/* ------------------------------------------------------------------ auth */

static void
auth_accepts_the_key_and_returns_its_principal(void **state)
{
	struct tkey k;
	struct aif_principal who;

	(void)state;
	NEED_DB();
	key_new_limited(&k, 60, 7000, 500, 3);
	who = auth_ok("Bearer", k.secret, k.id);
	assert_string_equal(who.key_prefix, jstr(k.json, "key_prefix"));
	assert_string_equal(who.name, k.name);
	assert_string_equal(who.role, "user");
	assert_string_equal(who.tenant, g.tenant);
	assert_int_equal(who.max_priority, 3);
	assert_int_equal(who.rpm, 60);
	assert_int_equal(who.tpm, 7000);
	assert_int_equal(who.monthly_budget_micros, 500);
}

static void
auth_returns_minus_one_for_unset_limits(void **state)
{
	struct tkey k;
	struct aif_principal who;

	(void)state;
	NEED_DB();
	key_new(&k);
	assert_int_equal(aif_auth_check(g.auth, g.t.db, "Bearer x", &who), AIF_AUTH);
	who = auth_ok("Bearer", k.secret, k.id);
	assert_int_equal(who.max_priority, -1);
	assert_int_equal(who.rpm, -1);
	assert_int_equal(who.tpm, -1);
	assert_int_equal(who.monthly_budget_micros, -1);
}

static void
auth_accepts_the_scheme_in_any_case(void **state)
{
	struct tkey k;

	(void)state;
	NEED_DB();
	key_new(&k);
	(void)auth_ok("bearer", k.secret, k.id);
	(void)auth_ok("BEARER", k.secret, k.id);
}

static void
auth_refuses_a_malformed_key(void **state)
{
	struct tkey k;
	char bad[AIF_KEY_LEN + 2], header[128];
	struct aif_principal who;

	(void)state;
	NEED_DB();
	key_new(&k);
	assert_int_equal(aif_auth_check(g.auth, g.t.db, NULL, &who), AIF_AUTH);
	assert_int_equal(aif_auth_check(g.auth, g.t.db, "", &who), AIF_AUTH);
	assert_int_equal(aif_auth_check(g.auth, g.t.db, "Bearer", &who), AIF_AUTH);
	assert_int_equal(aif_auth_check(g.auth, g.t.db, "Bearer ", &who), AIF_AUTH);
	assert_int_equal(check_fresh("Basic", k.secret, &who), AIF_AUTH);
	assert_int_equal(aif_auth_check(g.auth, g.t.db, k.secret, &who), AIF_AUTH); /* no scheme */
	/* the real key with a changed checksum, cut short, lengthened, a bad character */
	memcpy(bad, k.secret, sizeof(k.secret));
	bad[AIF_KEY_LEN - 1] = bad[AIF_KEY_LEN - 1] == 'A' ? 'B' : 'A';
	assert_int_equal(check_fresh("Bearer", bad, &who), AIF_AUTH);
	memcpy(bad, k.secret, sizeof(k.secret));
	bad[AIF_KEY_LEN - 1] = '\0';
	assert_int_equal(check_fresh("Bearer", bad, &who), AIF_AUTH);
	snprintf(bad, sizeof(bad), "%sA", k.secret);
	assert_int_equal(check_fresh("Bearer", bad, &who), AIF_AUTH);
	memcpy(bad, k.secret, sizeof(k.secret));
	bad[10] = '-';
	assert_int_equal(check_fresh("Bearer", bad, &who), AIF_AUTH);
	snprintf(header, sizeof(header), "Bearer %s", k.secret);
	header[7] = 'x';			/* "xif_..." */
	assert_int_equal(aif_auth_check(g.auth, g.t.db, header, &who), AIF_AUTH);
	assert_int_equal(who.key_id, 0);
	/* and the key itself still passes, so the refusals were about the form */
	assert_int_equal(check_fresh("Bearer", k.secret, &who), AIF_OK);
}

static void
auth_refuses_an_unknown_well_formed_key(void **state)
{
	char key[AIF_KEY_LEN + 1];
	struct aif_principal who;

	(void)state;
	NEED_DB();
	assert_int_equal(aif_apikey_generate(key), AIF_OK);
	assert_true(aif_apikey_well_formed(key, strlen(key)));
	assert_int_equal(check_fresh("Bearer", key, &who), AIF_AUTH);
	assert_int_equal(aif_auth_check(g.auth, g.t.db, "Bearer x", &who), AIF_AUTH);
	{
		char header[128];
		snprintf(header, sizeof(header), "Bearer %s", key);
		/* twice with the same authenticator: the second from its cache, same answer */
		assert_int_equal(aif_auth_check(g.auth, g.t.db, header, &who), AIF_AUTH);
		assert_int_equal(aif_auth_check(g.auth, g.t.db, header, &who), AIF_AUTH);
	}
	assert_int_equal(who.key_id, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(attrs_check_names_the_field_refused),
		cmocka_unit_test(reads_other_than_by_hash_carry_no_hash),
		cmocka_unit_test(create_returns_a_well_formed_secret_once),
		cmocka_unit_test(create_gives_distinct_secrets_and_ids),
		cmocka_unit_test(create_returns_null_for_limits_not_set),
		cmocka_unit_test(create_returns_the_limits_as_given),
		cmocka_unit_test(create_keeps_limits_of_zero),
		cmocka_unit_test(create_with_expiry_sets_expires_at),
		cmocka_unit_test(create_without_tenant_bills_to_default),
		cmocka_unit_test(create_without_name_or_role_is_invalid),
		cmocka_unit_test(create_starts_a_lineage_of_its_own),
		cmocka_unit_test(create_leaves_no_row_when_a_later_statement_fails),
		cmocka_unit_test(stored_row_holds_only_the_hash),
		cmocka_unit_test(list_is_newest_first_without_secrets),
		cmocka_unit_test(list_returns_at_most_limit),
		cmocka_unit_test(show_returns_the_public_fields_of_the_key),
		cmocka_unit_test(show_of_an_unknown_id_is_notfound),
		cmocka_unit_test(revoke_sets_revoked_at_now),
		cmocka_unit_test(revoke_is_idempotent),
		cmocka_unit_test(revoke_of_an_unknown_id_is_notfound),
		cmocka_unit_test(revoked_key_fails_authentication),
		cmocka_unit_test(expired_key_fails_authentication),
		cmocka_unit_test(rotate_gives_a_new_key_with_the_same_attributes),
		cmocka_unit_test(rotate_with_grace_lets_the_old_key_expire_within_grace),
		cmocka_unit_test(rotate_with_zero_grace_revokes_the_old_key_now),
		cmocka_unit_test(rotate_keeps_an_earlier_expiry_of_the_old_key),
		cmocka_unit_test(rotate_gives_the_new_key_the_old_keys_expiry),
		cmocka_unit_test(rotate_keeps_the_lineage_along_the_chain),
		cmocka_unit_test(rotate_of_a_revoked_key_is_refused),
		cmocka_unit_test(rotate_of_an_expired_key_is_refused),
		cmocka_unit_test(rotate_of_a_key_revoked_by_its_rotation_is_refused),
		cmocka_unit_test(rotate_twice_is_refused_while_the_first_successor_lives),
		cmocka_unit_test(rotate_of_an_older_key_of_a_lineage_is_refused),
		cmocka_unit_test(rotate_again_is_allowed_once_the_successor_is_revoked),
		cmocka_unit_test(rotate_leaves_nothing_when_a_later_statement_fails),
		cmocka_unit_test(rotate_of_an_unknown_id_is_notfound),
		cmocka_unit_test(auth_accepts_the_key_and_returns_its_principal),
		cmocka_unit_test(auth_returns_minus_one_for_unset_limits),
		cmocka_unit_test(auth_accepts_the_scheme_in_any_case),
		cmocka_unit_test(auth_refuses_a_malformed_key),
		cmocka_unit_test(auth_refuses_an_unknown_well_formed_key),
	};
	if (testdb_check(&g.t, "test_keys") != 0)
		return 1;
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
