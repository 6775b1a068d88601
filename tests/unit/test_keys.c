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
 * done. Runs with cwd tests/unit. */
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
	struct aif_db	*db;
	struct aif_auth	*auth;
	char		*tag;
	char		 tenant[64];
	unsigned	 seq;
} g;

#define NEED_DB()	TESTDB_NEED(&g.t)

/* ------------------------------------------------------------------ helpers */

/* Attributes with nothing set but a fresh name, the role and this run's tenant. */
static struct aif_key_attrs
attrs(char *name, size_t cap)
{
	struct aif_key_attrs a;
	int n = snprintf(name, cap, "%s-%u", g.tag, ++g.seq);

	assert_true(n > 0 && (size_t)n < cap);
	memset(&a, 0, sizeof(a));
	a.name = name;
	a.role = "user";
	a.tenant = g.tenant;
	a.rpm = -1;
	a.tpm = -1;
	a.monthly_budget_micros = -1;
	a.max_priority = -1;
	a.expires_in_s = 0;
	return a;
}

static json_t *
create(const struct aif_key_attrs *a)
{
	json_t *out = NULL;

	assert_int_equal(aif_keys_create(g.auth, g.db, a, &out), AIF_OK);
	assert_non_null(out);
	return out;
}

static json_t *
show(uint64_t id)
{
	json_t *out = NULL;

	assert_int_equal(aif_keys_show(g.db, id, &out), AIF_OK);
	assert_non_null(out);
	return out;
}

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

static uint64_t
id_of(const json_t *o)
{
	int64_t id = jint(o, "id");

	assert_true(id > 0);
	return (uint64_t)id;
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
	err = aif_auth_check(a, g.db, header, who);
	aif_auth_free(a);
	return err;
}

/* The secret of a create/rotate result, copied. */
static void
secret_of(const json_t *o, char out[AIF_KEY_LEN + 1])
{
	const char *k = jstr(o, "key");

	assert_int_equal(strlen(k), AIF_KEY_LEN);
	memcpy(out, k, AIF_KEY_LEN + 1);
}

/* Rotates key id with grace_s; the new key's JSON (its secret included). */
static json_t *
rotate_ok(uint64_t id, int64_t grace_s)
{
	json_t *out = NULL;
	uint64_t next = 12345;

	assert_int_equal(aif_keys_rotate(g.auth, g.db, id, grace_s, &out, &next), AIF_OK);
	assert_non_null(out);
	assert_int_equal(next, 0);
	return out;
}

/* How many keys are named `name` (those of one lineage share it). */
static int64_t
keys_named(const char *name)
{
	struct aif_dbp p[] = { AIF_P_STR(name) };

	return testdb_i64(&g.t, "SELECT COUNT(*) FROM api_keys WHERE name = ?", p, 1);
}

/* A trigger of the scratch database that makes every UPDATE of the keys named `name`
 * fail, to break a create or a rotation between its statements. */
static void
fail_updates_of(const char *name)
{
	char sql[512];

	(void)aif_db_exec_plain(g.db, "DROP TRIGGER IF EXISTS utest_keys_fail_update", NULL);
	snprintf(sql, sizeof(sql), "CREATE TRIGGER utest_keys_fail_update BEFORE UPDATE ON"
	    " api_keys FOR EACH ROW IF NEW.name = '%s' THEN SIGNAL SQLSTATE '45000' SET"
	    " MESSAGE_TEXT = 'test_keys: update refused'; END IF", name);
	assert_int_equal(aif_db_exec_plain(g.db, sql, NULL), AIF_OK);
}

static void
drop_failing_trigger(void)
{
	assert_int_equal(aif_db_exec_plain(g.db,
	    "DROP TRIGGER IF EXISTS utest_keys_fail_update", NULL), AIF_OK);
}

/* ------------------------------------------------------------------ setup */

static int
group_setup(void **state)
{
	(void)state;
	if (g.t.skip_reason != NULL)
		return 0;
	if (testdb_open(&g.t, "test_keys", "") != 0) {
		testdb_close(&g.t);
		return -1;
	}
	if (g.t.cfg->auth.pepper_file != NULL ||
	    aif_auth_new(g.t.cfg, &g.auth) != AIF_OK) {
		testdb_close(&g.t);
		return -1;
	}
	g.db = g.t.db;
	g.tag = g.t.tag;
	snprintf(g.tenant, sizeof(g.tenant), "%s-t", g.tag);
	return 0;
}

static int
group_teardown(void **state)
{
	char like[96];

	(void)state;
	if (g.db != NULL) {
		struct aif_dbp p[1];
		snprintf(like, sizeof(like), "%s-%%", g.tag);
		p[0] = AIF_P_STR(like);
		(void)aif_db_exec(g.db, "DELETE FROM api_keys WHERE name LIKE ?", p, 1, NULL,
		    NULL);
	}
	aif_auth_free(g.auth);
	g.auth = NULL;
	testdb_close(&g.t);
	g.db = NULL;
	return 0;
}

/* ------------------------------------------------------------------ create */

static void
create_returns_a_well_formed_secret_once(void **state)
{
	char name[96], key[AIF_KEY_LEN + 1];
	struct aif_key_attrs a = attrs(name, sizeof(name));
	json_t *k, *s;

	(void)state;
	NEED_DB();
	k = create(&a);
	secret_of(k, key);
	assert_true(aif_apikey_well_formed(key, strlen(key)));
	assert_memory_equal(key, AIF_KEY_PREFIX, strlen(AIF_KEY_PREFIX));
	/* the prefix shown is the secret's first characters; the secret is not shown again */
	assert_int_equal(strlen(jstr(k, "key_prefix")), AIF_KEY_DISPLAY_LEN);
	assert_memory_equal(jstr(k, "key_prefix"), key, AIF_KEY_DISPLAY_LEN);
	s = show(id_of(k));
	assert_null(json_object_get(s, "key"));
	json_decref(s);
	json_decref(k);
}

static void
create_gives_distinct_secrets_and_ids(void **state)
{
	char n1[96], n2[96], k1[AIF_KEY_LEN + 1], k2[AIF_KEY_LEN + 1];
	struct aif_key_attrs a1 = attrs(n1, sizeof(n1)), a2 = attrs(n2, sizeof(n2));
	json_t *j1, *j2;

	(void)state;
	NEED_DB();
	j1 = create(&a1);
	j2 = create(&a2);
	secret_of(j1, k1);
	secret_of(j2, k2);
	assert_string_not_equal(k1, k2);
	assert_string_not_equal(jstr(j1, "key_prefix"), jstr(j2, "key_prefix"));
	assert_true(id_of(j1) != id_of(j2));
	json_decref(j1);
	json_decref(j2);
}

static void
create_returns_null_for_limits_not_set(void **state)
{
	char name[96];
	struct aif_key_attrs a = attrs(name, sizeof(name));
	json_t *k;

	(void)state;
	NEED_DB();
	k = create(&a);
	assert_string_equal(jstr(k, "name"), name);
	assert_string_equal(jstr(k, "role"), "user");
	assert_string_equal(jstr(k, "tenant"), g.tenant);
	assert_jnull(k, "rpm");
	assert_jnull(k, "tpm");
	assert_jnull(k, "monthly_budget_micros");
	assert_jnull(k, "max_priority");
	assert_jnull(k, "expires_at");
	assert_jnull(k, "revoked_at");
	assert_true(json_is_true(json_object_get(k, "active")));
	assert_true(jint(k, "created_at") > 0);
	json_decref(k);
}

static void
create_returns_the_limits_as_given(void **state)
{
	char name[96];
	struct aif_key_attrs a = attrs(name, sizeof(name));
	json_t *k;

	(void)state;
	NEED_DB();
	a.rpm = 60;
	a.tpm = 6000;
	a.monthly_budget_micros = 1234567;
	a.max_priority = 7;
	k = create(&a);
	assert_int_equal(jint(k, "rpm"), 60);
	assert_int_equal(jint(k, "tpm"), 6000);
	assert_int_equal(jint(k, "monthly_budget_micros"), 1234567);
	assert_int_equal(jint(k, "max_priority"), 7);
	assert_jnull(k, "expires_at");
	json_decref(k);
}

static void
create_keeps_limits_of_zero(void **state)
{
	char name[96];
	struct aif_key_attrs a = attrs(name, sizeof(name));
	json_t *k;

	(void)state;
	NEED_DB();
	a.rpm = 0;
	a.tpm = 0;
	a.monthly_budget_micros = 0;
	a.max_priority = 0;
	k = create(&a);
	assert_int_equal(jint(k, "rpm"), 0);
	assert_int_equal(jint(k, "tpm"), 0);
	assert_int_equal(jint(k, "monthly_budget_micros"), 0);
	assert_int_equal(jint(k, "max_priority"), 0);
	json_decref(k);
}

static void
create_with_expiry_sets_expires_at(void **state)
{
	char name[96];
	struct aif_key_attrs a = attrs(name, sizeof(name));
	int64_t before, after, created;
	json_t *k;

	(void)state;
	NEED_DB();
	a.expires_in_s = 3600;
	before = db_now_s();
	k = create(&a);
	after = db_now_s();
	created = jint(k, "created_at");
	assert_between(created, before, after, "created_at");
	assert_between(jint(k, "expires_at"), before + 3600, after + 3600, "expires_at");
	assert_true(jint(k, "expires_at") >= created + 3600);
	assert_true(json_is_true(json_object_get(k, "active")));
	json_decref(k);
}

static void
create_without_tenant_bills_to_default(void **state)
{
	char name[96];
	struct aif_key_attrs a = attrs(name, sizeof(name));
	json_t *k;

	(void)state;
	NEED_DB();
	a.tenant = NULL;
	k = create(&a);
	assert_string_equal(jstr(k, "tenant"), "default");
	json_decref(k);
}

static void
create_without_name_or_role_is_invalid(void **state)
{
	char name[96];
	struct aif_key_attrs a = attrs(name, sizeof(name));
	json_t *out = (json_t *)&out;
	struct aif_dbp p[] = { AIF_P_STR(name) };

	(void)state;
	NEED_DB();
	a.name = NULL;
	assert_int_equal(aif_keys_create(g.auth, g.db, &a, &out), AIF_INVALID);
	assert_null(out);
	a.name = name;
	a.role = NULL;
	out = (json_t *)&out;
	assert_int_equal(aif_keys_create(g.auth, g.db, &a, &out), AIF_INVALID);
	assert_null(out);
	assert_int_equal(testdb_i64(&g.t, "SELECT COUNT(*) FROM api_keys WHERE name = ?",
	    p, 1), 0);
}

static void
stored_row_holds_only_the_hash(void **state)
{
	char name[96], key[AIF_KEY_LEN + 1];
	struct aif_key_attrs a = attrs(name, sizeof(name));
	unsigned char hash[AIF_KEY_HASH_LEN];
	struct aif_dbrows *rows = NULL;
	json_t *k;
	uint64_t id;

	(void)state;
	NEED_DB();
	k = create(&a);
	secret_of(k, key);
	id = id_of(k);
	json_decref(k);
	{
		/* every column of the row: neither the secret nor its secret part (past the
		 * public prefix) appears in any of them */
		struct aif_dbp p[] = { AIF_P_I64(id) };
		assert_int_equal(aif_db_query(g.db, "SELECT * FROM api_keys WHERE id = ?", p, 1,
		    &rows), AIF_OK);
	}
	assert_int_equal(rows->nrows, 1);
	assert_true(rows->ncols >= 5);
	for (size_t c = 0; c < rows->ncols; c++) {
		const char *cell = aif_dbrows_get(rows, 0, c);
		size_t len = rows->lens[c];
		if (cell == NULL)
			continue;
		if (memmem(cell, len, key, AIF_KEY_LEN) != NULL ||
		    memmem(cell, len, key + AIF_KEY_DISPLAY_LEN,
		    AIF_KEY_LEN - AIF_KEY_DISPLAY_LEN) != NULL)
			fail_msg("column %s holds the secret", rows->names[c]);
	}
	aif_dbrows_free(rows);
	/* what is stored is SHA-256 of the secret (no pepper configured) */
	aif_apikey_hash(NULL, 0, key, AIF_KEY_LEN, hash);
	{
		struct aif_dbp p[] = { AIF_P_I64(id),
		    AIF_P_STRN((const char *)hash, sizeof(hash)), AIF_P_STR(key) };
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
	char name[96], key[AIF_KEY_LEN + 1];
	struct aif_key_attrs a = attrs(name, sizeof(name));
	struct aif_principal who;
	json_t *k;

	(void)state;
	NEED_DB();
	k = create(&a);
	secret_of(k, key);
	assert_int_equal(jint(k, "lineage_id"), id_of(k));
	assert_jnull(k, "replaces");
	assert_int_equal(check_fresh("Bearer", key, &who), AIF_OK);
	assert_int_equal(who.key_id, id_of(k));
	assert_int_equal(who.lineage_id, id_of(k));
	json_decref(k);
}

static void
create_leaves_no_row_when_a_later_statement_fails(void **state)
{
	char name[96];
	struct aif_key_attrs a = attrs(name, sizeof(name));
	json_t *out = (json_t *)&out;

	(void)state;
	NEED_DB();
	/* the row is inserted, then its lineage set by an UPDATE: make that one fail */
	fail_updates_of(name);
	assert_int_not_equal(aif_keys_create(g.auth, g.db, &a, &out), AIF_OK);
	drop_failing_trigger();
	assert_null(out);
	assert_int_equal(keys_named(name), 0);
	/* and the connection is usable again, outside any transaction */
	out = create(&a);
	assert_int_equal(keys_named(name), 1);
	json_decref(out);
}

/* ------------------------------------------------------------------ list, show */

static void
list_is_newest_first_without_secrets(void **state)
{
	char names[3][96];
	uint64_t ids[3];
	size_t pos[3] = { SIZE_MAX, SIZE_MAX, SIZE_MAX };
	json_t *list = NULL, *v;
	int64_t prev = INT64_MAX;
	size_t i;

	(void)state;
	NEED_DB();
	for (i = 0; i < 3; i++) {
		struct aif_key_attrs a = attrs(names[i], sizeof(names[i]));
		json_t *k = create(&a);
		ids[i] = id_of(k);
		json_decref(k);
	}
	assert_int_equal(aif_keys_list(g.db, 1000, &list), AIF_OK);
	assert_true(json_is_array(list));
	json_array_foreach(list, i, v) {
		int64_t id = jint(v, "id");
		if (id >= prev)
			fail_msg("list: id %" PRId64 " after %" PRId64, id, prev);
		prev = id;
		assert_null(json_object_get(v, "key"));
		assert_null(json_object_get(v, "secret_hash"));
		for (size_t k = 0; k < 3; k++)
			if ((uint64_t)id == ids[k])
				pos[k] = i;
	}
	/* ours are there, the newest first */
	assert_true(pos[2] < pos[1] && pos[1] < pos[0] && pos[0] != SIZE_MAX);
	assert_true((uint64_t)jint(json_array_get(list, 0), "id") >= ids[2]);
	json_decref(list);
}

static void
list_returns_at_most_limit(void **state)
{
	char n1[96], n2[96];
	struct aif_key_attrs a1 = attrs(n1, sizeof(n1)), a2 = attrs(n2, sizeof(n2));
	json_t *list = NULL;

	(void)state;
	NEED_DB();
	json_decref(create(&a1));
	json_decref(create(&a2));
	assert_int_equal(aif_keys_list(g.db, 1, &list), AIF_OK);
	assert_int_equal(json_array_size(list), 1);
	json_decref(list);
}

static void
show_returns_the_public_fields_of_the_key(void **state)
{
	char name[96];
	struct aif_key_attrs a = attrs(name, sizeof(name));
	json_t *k, *s;
	const char *field;
	json_t *v;

	(void)state;
	NEED_DB();
	a.tpm = 500;
	k = create(&a);
	s = show(id_of(k));
	/* the same object as create's, less the secret */
	assert_int_equal(json_object_size(s) + 1, json_object_size(k));
	json_object_foreach(k, field, v) {
		if (strcmp(field, "key") == 0)
			continue;
		if (!json_equal(v, json_object_get(s, field)))
			fail_msg("field \"%s\" differs", field);
	}
	json_decref(s);
	json_decref(k);
}

static void
show_of_an_unknown_id_is_notfound(void **state)
{
	json_t *out = (json_t *)&out;

	(void)state;
	NEED_DB();
	assert_int_equal(aif_keys_show(g.db, ((uint64_t)1 << 40) + 12345, &out),
	    AIF_NOTFOUND);
	assert_null(out);
}

/* ------------------------------------------------------------------ revoke */

static void
revoke_sets_revoked_at_now(void **state)
{
	char name[96];
	struct aif_key_attrs a = attrs(name, sizeof(name));
	int64_t before, after;
	json_t *k, *s;
	uint64_t id;

	(void)state;
	NEED_DB();
	k = create(&a);
	id = id_of(k);
	before = db_now_us();
	assert_int_equal(aif_keys_revoke(g.db, id), AIF_OK);
	after = db_now_us();
	assert_between(key_time_us(id, "revoked_at"), before, after, "revoked_at");
	s = show(id);
	assert_false(json_is_true(json_object_get(s, "active")));
	assert_between(jint(s, "revoked_at"), before / 1000000, after / 1000000, "revoked_at");
	json_decref(s);
	json_decref(k);
}

static void
revoke_is_idempotent(void **state)
{
	char name[96];
	struct aif_key_attrs a = attrs(name, sizeof(name));
	int64_t first;
	json_t *k;
	uint64_t id;

	(void)state;
	NEED_DB();
	k = create(&a);
	id = id_of(k);
	json_decref(k);
	assert_int_equal(aif_keys_revoke(g.db, id), AIF_OK);
	first = key_time_us(id, "revoked_at");
	assert_true(first > 0);
	assert_int_equal(aif_keys_revoke(g.db, id), AIF_OK);
	assert_int_equal(key_time_us(id, "revoked_at"), first);
}

static void
revoke_of_an_unknown_id_is_notfound(void **state)
{
	(void)state;
	NEED_DB();
	assert_int_equal(aif_keys_revoke(g.db, ((uint64_t)1 << 40) + 12345), AIF_NOTFOUND);
}

static void
revoked_key_fails_authentication(void **state)
{
	char name[96], key[AIF_KEY_LEN + 1];
	struct aif_key_attrs a = attrs(name, sizeof(name));
	struct aif_principal who;
	json_t *k;
	uint64_t id;

	(void)state;
	NEED_DB();
	k = create(&a);
	secret_of(k, key);
	id = id_of(k);
	json_decref(k);
	assert_int_equal(check_fresh("Bearer", key, &who), AIF_OK);
	assert_int_equal(aif_keys_revoke(g.db, id), AIF_OK);
	/* a new authenticator: the old one may answer from its 2 s cache */
	assert_int_equal(check_fresh("Bearer", key, &who), AIF_AUTH);
	assert_int_equal(who.key_id, 0);
}

static void
expired_key_fails_authentication(void **state)
{
	char name[96], key[AIF_KEY_LEN + 1];
	struct aif_key_attrs a = attrs(name, sizeof(name));
	struct aif_principal who;
	json_t *k, *s;
	uint64_t id;

	(void)state;
	NEED_DB();
	a.expires_in_s = 3600;
	k = create(&a);
	secret_of(k, key);
	id = id_of(k);
	json_decref(k);
	assert_int_equal(check_fresh("Bearer", key, &who), AIF_OK);
	{
		/* the hour has passed (moved in the row, not waited for) */
		struct aif_dbp p[] = { AIF_P_I64(id) };
		uint64_t affected = 0;
		assert_int_equal(aif_db_exec(g.db, "UPDATE api_keys SET expires_at ="
		    " NOW(6) - INTERVAL 1 SECOND WHERE id = ?", p, 1, &affected, NULL), AIF_OK);
		assert_int_equal(affected, 1);
	}
	assert_int_equal(check_fresh("Bearer", key, &who), AIF_AUTH);
	s = show(id);
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
	char name[96], old_key[AIF_KEY_LEN + 1], new_key[AIF_KEY_LEN + 1];
	struct aif_key_attrs a = attrs(name, sizeof(name));
	json_t *old, *new = NULL;

	(void)state;
	NEED_DB();
	a.rpm = 30;
	a.tpm = 4000;
	a.monthly_budget_micros = 999;
	a.max_priority = 2;
	old = create(&a);
	secret_of(old, old_key);
	assert_int_equal(aif_keys_rotate(g.auth, g.db, id_of(old), 3600, &new, NULL), AIF_OK);
	assert_non_null(new);
	secret_of(new, new_key);
	assert_true(aif_apikey_well_formed(new_key, strlen(new_key)));
	assert_string_not_equal(new_key, old_key);
	assert_true(id_of(new) != id_of(old));
	assert_int_equal(jint(new, "replaces"), id_of(old));
	for (size_t i = 0; i < sizeof(same) / sizeof(same[0]); i++)
		if (!json_equal(json_object_get(old, same[i]), json_object_get(new, same[i])))
			fail_msg("field \"%s\" differs", same[i]);
	assert_jnull(new, "expires_at");
	assert_jnull(new, "revoked_at");
	assert_true(json_is_true(json_object_get(new, "active")));
	json_decref(new);
	json_decref(old);
}

static void
rotate_with_grace_lets_the_old_key_expire_within_grace(void **state)
{
	char name[96], old_key[AIF_KEY_LEN + 1], new_key[AIF_KEY_LEN + 1];
	struct aif_key_attrs a = attrs(name, sizeof(name));
	struct aif_principal who;
	int64_t before, after;
	json_t *old, *new = NULL, *s;
	uint64_t id;

	(void)state;
	NEED_DB();
	old = create(&a);
	secret_of(old, old_key);
	id = id_of(old);
	before = db_now_us();
	assert_int_equal(aif_keys_rotate(g.auth, g.db, id, 600, &new, NULL), AIF_OK);
	after = db_now_us();
	secret_of(new, new_key);
	assert_between(key_time_us(id, "expires_at"), before + 600 * 1000000LL,
	    after + 600 * 1000000LL, "expires_at");
	s = show(id);
	assert_jnull(s, "revoked_at");
	assert_true(json_is_true(json_object_get(s, "active")));
	/* both keys work during the grace period */
	assert_int_equal(check_fresh("Bearer", old_key, &who), AIF_OK);
	assert_int_equal(who.key_id, id);
	assert_int_equal(check_fresh("Bearer", new_key, &who), AIF_OK);
	assert_int_equal(who.key_id, id_of(new));
	json_decref(s);
	json_decref(new);
	json_decref(old);
}

static void
rotate_with_zero_grace_revokes_the_old_key_now(void **state)
{
	char name[96], old_key[AIF_KEY_LEN + 1], new_key[AIF_KEY_LEN + 1];
	struct aif_key_attrs a = attrs(name, sizeof(name));
	struct aif_principal who;
	int64_t before, after;
	json_t *old, *new = NULL, *s;
	uint64_t id;

	(void)state;
	NEED_DB();
	old = create(&a);
	secret_of(old, old_key);
	id = id_of(old);
	assert_int_equal(check_fresh("Bearer", old_key, &who), AIF_OK);
	before = db_now_us();
	assert_int_equal(aif_keys_rotate(g.auth, g.db, id, 0, &new, NULL), AIF_OK);
	after = db_now_us();
	secret_of(new, new_key);
	assert_between(key_time_us(id, "revoked_at"), before, after, "revoked_at");
	s = show(id);
	assert_false(json_is_true(json_object_get(s, "active")));
	assert_jnull(s, "expires_at");
	assert_int_equal(check_fresh("Bearer", old_key, &who), AIF_AUTH);
	assert_int_equal(check_fresh("Bearer", new_key, &who), AIF_OK);
	assert_int_equal(who.key_id, id_of(new));
	json_decref(s);
	json_decref(new);
	json_decref(old);
}

static void
rotate_keeps_an_earlier_expiry_of_the_old_key(void **state)
{
	char name[96];
	struct aif_key_attrs a = attrs(name, sizeof(name));
	json_t *old, *new = NULL;
	int64_t expires;
	uint64_t id;

	(void)state;
	NEED_DB();
	a.expires_in_s = 60;
	old = create(&a);
	id = id_of(old);
	expires = key_time_us(id, "expires_at");
	assert_true(expires > 0);
	assert_int_equal(aif_keys_rotate(g.auth, g.db, id, 3600, &new, NULL), AIF_OK);
	assert_int_equal(key_time_us(id, "expires_at"), expires);
	json_decref(new);
	json_decref(old);
}

static void
rotate_gives_the_new_key_the_old_keys_expiry(void **state)
{
	char name[96];
	struct aif_key_attrs a = attrs(name, sizeof(name));
	json_t *old, *new;
	int64_t expires;

	(void)state;
	NEED_DB();
	a.expires_in_s = 7200;
	old = create(&a);
	expires = key_time_us(id_of(old), "expires_at");
	assert_true(expires > 0);
	new = rotate_ok(id_of(old), 60);
	/* the successor keeps the date; the old key goes within the grace period */
	assert_int_equal(key_time_us(id_of(new), "expires_at"), expires);
	assert_true(key_time_us(id_of(old), "expires_at") < expires);
	assert_int_equal(jint(new, "expires_at"), jint(old, "expires_at"));
	json_decref(new);
	json_decref(old);
}

static void
rotate_keeps_the_lineage_along_the_chain(void **state)
{
	char name[96], k2[AIF_KEY_LEN + 1], k3[AIF_KEY_LEN + 1];
	struct aif_key_attrs a = attrs(name, sizeof(name));
	struct aif_principal who;
	json_t *first, *second, *third;

	(void)state;
	NEED_DB();
	first = create(&a);
	second = rotate_ok(id_of(first), 600);
	third = rotate_ok(id_of(second), 600);
	secret_of(second, k2);
	secret_of(third, k3);
	assert_int_equal(jint(second, "replaces"), id_of(first));
	assert_int_equal(jint(third, "replaces"), id_of(second));
	assert_int_equal(jint(second, "lineage_id"), id_of(first));
	assert_int_equal(jint(third, "lineage_id"), id_of(first));
	/* authentication: the key presented, and the lineage that budgets and jobs name */
	assert_int_equal(check_fresh("Bearer", k2, &who), AIF_OK);
	assert_int_equal(who.key_id, id_of(second));
	assert_int_equal(who.lineage_id, id_of(first));
	assert_int_equal(check_fresh("Bearer", k3, &who), AIF_OK);
	assert_int_equal(who.key_id, id_of(third));
	assert_int_equal(who.lineage_id, id_of(first));
	json_decref(third);
	json_decref(second);
	json_decref(first);
}

static void
rotate_of_a_revoked_key_is_refused(void **state)
{
	char name[96];
	struct aif_key_attrs a = attrs(name, sizeof(name));
	json_t *k, *out = (json_t *)&out;
	uint64_t next = 12345;

	(void)state;
	NEED_DB();
	k = create(&a);
	assert_int_equal(aif_keys_revoke(g.db, id_of(k)), AIF_OK);
	assert_int_equal(aif_keys_rotate(g.auth, g.db, id_of(k), 600, &out, &next),
	    AIF_FORBIDDEN);
	assert_null(out);
	assert_int_equal(next, 0);
	assert_int_equal(keys_named(name), 1);
	json_decref(k);
}

static void
rotate_of_an_expired_key_is_refused(void **state)
{
	char name[96];
	struct aif_key_attrs a = attrs(name, sizeof(name));
	json_t *k, *out = (json_t *)&out;
	struct aif_dbp p[1];

	(void)state;
	NEED_DB();
	a.expires_in_s = 3600;
	k = create(&a);
	p[0] = AIF_P_I64(id_of(k));
	assert_int_equal(aif_db_exec(g.db, "UPDATE api_keys SET expires_at ="
	    " NOW(6) - INTERVAL 1 SECOND WHERE id = ?", p, 1, NULL, NULL), AIF_OK);
	assert_int_equal(aif_keys_rotate(g.auth, g.db, id_of(k), 0, &out, NULL),
	    AIF_FORBIDDEN);
	assert_null(out);
	assert_int_equal(keys_named(name), 1);
	json_decref(k);
}

static void
rotate_of_a_key_revoked_by_its_rotation_is_refused(void **state)
{
	char name[96];
	struct aif_key_attrs a = attrs(name, sizeof(name));
	json_t *old, *new, *out = (json_t *)&out;

	(void)state;
	NEED_DB();
	old = create(&a);
	new = rotate_ok(id_of(old), 0);
	assert_int_equal(aif_keys_rotate(g.auth, g.db, id_of(old), 0, &out, NULL),
	    AIF_FORBIDDEN);
	assert_null(out);
	assert_int_equal(keys_named(name), 2);
	json_decref(new);
	json_decref(old);
}

static void
rotate_twice_is_refused_while_the_first_successor_lives(void **state)
{
	char name[96];
	struct aif_key_attrs a = attrs(name, sizeof(name));
	json_t *old, *new, *out = (json_t *)&out;
	uint64_t next = 0;
	int64_t expires;

	(void)state;
	NEED_DB();
	old = create(&a);
	new = rotate_ok(id_of(old), 600);
	expires = key_time_us(id_of(old), "expires_at");
	assert_int_equal(aif_keys_rotate(g.auth, g.db, id_of(old), 0, &out, &next),
	    AIF_CONFLICT);
	assert_null(out);
	assert_int_equal(next, id_of(new));
	/* nothing changed: no third key, the old one keeps its grace period */
	assert_int_equal(keys_named(name), 2);
	assert_int_equal(key_time_us(id_of(old), "expires_at"), expires);
	assert_int_equal(key_time_us(id_of(old), "revoked_at"), -1);
	json_decref(new);
	json_decref(old);
}

static void
rotate_of_an_older_key_of_a_lineage_is_refused(void **state)
{
	char name[96];
	struct aif_key_attrs a = attrs(name, sizeof(name));
	json_t *first, *second, *third, *out = (json_t *)&out;
	uint64_t next = 0;

	(void)state;
	NEED_DB();
	/* first (in its grace period) -> second (revoked by its rotation) -> third: first
	   has no live successor of its own, but the lineage's newest live key is third */
	first = create(&a);
	second = rotate_ok(id_of(first), 600);
	third = rotate_ok(id_of(second), 0);
	assert_int_equal(aif_keys_rotate(g.auth, g.db, id_of(first), 600, &out, &next),
	    AIF_CONFLICT);
	assert_null(out);
	assert_int_equal(next, id_of(third));
	assert_int_equal(keys_named(name), 3);
	json_decref(third);
	json_decref(second);
	json_decref(first);
}

static void
rotate_again_is_allowed_once_the_successor_is_revoked(void **state)
{
	char name[96];
	struct aif_key_attrs a = attrs(name, sizeof(name));
	json_t *old, *bad, *again;

	(void)state;
	NEED_DB();
	old = create(&a);
	bad = rotate_ok(id_of(old), 600);
	assert_int_equal(aif_keys_revoke(g.db, id_of(bad)), AIF_OK);
	again = rotate_ok(id_of(old), 600);
	assert_true(id_of(again) != id_of(bad));
	assert_int_equal(jint(again, "replaces"), id_of(old));
	assert_int_equal(jint(again, "lineage_id"), id_of(old));
	json_decref(again);
	json_decref(bad);
	json_decref(old);
}

static void
rotate_leaves_nothing_when_a_later_statement_fails(void **state)
{
	char name[96], key[AIF_KEY_LEN + 1];
	struct aif_key_attrs a = attrs(name, sizeof(name));
	struct aif_principal who;
	json_t *old, *out = (json_t *)&out;

	(void)state;
	NEED_DB();
	old = create(&a);
	secret_of(old, key);
	/* the successor is inserted, then the old key's expiry set: make that one fail */
	fail_updates_of(name);
	assert_int_not_equal(aif_keys_rotate(g.auth, g.db, id_of(old), 0, &out, NULL),
	    AIF_OK);
	drop_failing_trigger();
	assert_null(out);
	assert_int_equal(keys_named(name), 1);
	assert_int_equal(check_fresh("Bearer", key, &who), AIF_OK);
	/* and the key can be rotated once the fault is gone */
	out = rotate_ok(id_of(old), 0);
	assert_int_equal(keys_named(name), 2);
	json_decref(out);
	json_decref(old);
}

static void
rotate_of_an_unknown_id_is_notfound(void **state)
{
	json_t *out = (json_t *)&out;

	(void)state;
	NEED_DB();
	assert_int_equal(aif_keys_rotate(g.auth, g.db, ((uint64_t)1 << 40) + 12345, 60,
	    &out, NULL), AIF_NOTFOUND);
	assert_null(out);
}

/* ------------------------------------------------------------------ auth */

static void
auth_accepts_the_key_and_returns_its_principal(void **state)
{
	char name[96], key[AIF_KEY_LEN + 1];
	struct aif_key_attrs a = attrs(name, sizeof(name));
	struct aif_principal who;
	json_t *k;

	(void)state;
	NEED_DB();
	a.rpm = 60;
	a.tpm = 7000;
	a.monthly_budget_micros = 500;
	a.max_priority = 3;
	k = create(&a);
	secret_of(k, key);
	assert_int_equal(check_fresh("Bearer", key, &who), AIF_OK);
	assert_int_equal(who.key_id, id_of(k));
	assert_string_equal(who.key_prefix, jstr(k, "key_prefix"));
	assert_string_equal(who.name, name);
	assert_string_equal(who.role, "user");
	assert_string_equal(who.tenant, g.tenant);
	assert_int_equal(who.max_priority, 3);
	assert_int_equal(who.rpm, 60);
	assert_int_equal(who.tpm, 7000);
	assert_int_equal(who.monthly_budget_micros, 500);
	json_decref(k);
}

static void
auth_returns_minus_one_for_unset_limits(void **state)
{
	char name[96], key[AIF_KEY_LEN + 1];
	struct aif_key_attrs a = attrs(name, sizeof(name));
	struct aif_principal who;
	json_t *k;

	(void)state;
	NEED_DB();
	k = create(&a);
	secret_of(k, key);
	json_decref(k);
	assert_int_equal(aif_auth_check(g.auth, g.db, "Bearer x", &who), AIF_AUTH);
	assert_int_equal(check_fresh("Bearer", key, &who), AIF_OK);
	assert_int_equal(who.max_priority, -1);
	assert_int_equal(who.rpm, -1);
	assert_int_equal(who.tpm, -1);
	assert_int_equal(who.monthly_budget_micros, -1);
}

static void
auth_accepts_the_scheme_in_any_case(void **state)
{
	char name[96], key[AIF_KEY_LEN + 1];
	struct aif_key_attrs a = attrs(name, sizeof(name));
	struct aif_principal who;
	json_t *k;

	(void)state;
	NEED_DB();
	k = create(&a);
	secret_of(k, key);
	assert_int_equal(check_fresh("bearer", key, &who), AIF_OK);
	assert_int_equal(who.key_id, id_of(k));
	assert_int_equal(check_fresh("BEARER", key, &who), AIF_OK);
	assert_int_equal(who.key_id, id_of(k));
	json_decref(k);
}

static void
auth_refuses_a_malformed_key(void **state)
{
	char name[96], key[AIF_KEY_LEN + 1], bad[AIF_KEY_LEN + 2], header[128];
	struct aif_key_attrs a = attrs(name, sizeof(name));
	struct aif_principal who;
	json_t *k;

	(void)state;
	NEED_DB();
	k = create(&a);
	secret_of(k, key);
	json_decref(k);
	assert_int_equal(aif_auth_check(g.auth, g.db, NULL, &who), AIF_AUTH);
	assert_int_equal(aif_auth_check(g.auth, g.db, "", &who), AIF_AUTH);
	assert_int_equal(aif_auth_check(g.auth, g.db, "Bearer", &who), AIF_AUTH);
	assert_int_equal(aif_auth_check(g.auth, g.db, "Bearer ", &who), AIF_AUTH);
	assert_int_equal(check_fresh("Basic", key, &who), AIF_AUTH);
	assert_int_equal(aif_auth_check(g.auth, g.db, key, &who), AIF_AUTH); /* no scheme */
	/* the real key with a changed checksum, cut short, lengthened, a bad character */
	memcpy(bad, key, sizeof(key));
	bad[AIF_KEY_LEN - 1] = bad[AIF_KEY_LEN - 1] == 'A' ? 'B' : 'A';
	assert_int_equal(check_fresh("Bearer", bad, &who), AIF_AUTH);
	memcpy(bad, key, sizeof(key));
	bad[AIF_KEY_LEN - 1] = '\0';
	assert_int_equal(check_fresh("Bearer", bad, &who), AIF_AUTH);
	snprintf(bad, sizeof(bad), "%sA", key);
	assert_int_equal(check_fresh("Bearer", bad, &who), AIF_AUTH);
	memcpy(bad, key, sizeof(key));
	bad[10] = '-';
	assert_int_equal(check_fresh("Bearer", bad, &who), AIF_AUTH);
	snprintf(header, sizeof(header), "Bearer %s", key);
	header[7] = 'x';			/* "xif_..." */
	assert_int_equal(aif_auth_check(g.auth, g.db, header, &who), AIF_AUTH);
	assert_int_equal(who.key_id, 0);
	/* and the key itself still passes, so the refusals were about the form */
	assert_int_equal(check_fresh("Bearer", key, &who), AIF_OK);
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
	assert_int_equal(aif_auth_check(g.auth, g.db, "Bearer x", &who), AIF_AUTH);
	{
		char header[128];
		snprintf(header, sizeof(header), "Bearer %s", key);
		/* twice with the same authenticator: the second from its cache, same answer */
		assert_int_equal(aif_auth_check(g.auth, g.db, header, &who), AIF_AUTH);
		assert_int_equal(aif_auth_check(g.auth, g.db, header, &who), AIF_AUTH);
	}
	assert_int_equal(who.key_id, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
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
