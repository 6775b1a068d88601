/* keys.c -- API key lifecycle; see keys.h. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "keys.h"
#include "util.h"

#define KEY_COLS \
	"SELECT id, key_prefix, name, role, tenant, max_priority, rpm_limit, tpm_limit," \
	" monthly_budget_micros, UNIX_TIMESTAMP(created_at)," \
	" UNIX_TIMESTAMP(expires_at), UNIX_TIMESTAMP(revoked_at)," \
	" (revoked_at IS NULL AND (expires_at IS NULL OR expires_at > NOW(6))) FROM api_keys "

static json_t *
num_or_null(const char *cell)
{
	int64_t v;

	if (cell == NULL)
		return json_null();
	/* UNIX_TIMESTAMP(DATETIME(6)) has decimals: keep the seconds */
	v = strtoll(cell, NULL, 10);
	return json_integer(v);
}

static json_t *
row_json(const struct aif_dbrows *rows, size_t r)
{
	return json_pack("{s:o,s:s,s:s,s:s,s:s,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:b}",
	    "id", num_or_null(aif_dbrows_get(rows, r, 0)),
	    "key_prefix", aif_dbrows_get(rows, r, 1),
	    "name", aif_dbrows_get(rows, r, 2),
	    "role", aif_dbrows_get(rows, r, 3),
	    "tenant", aif_dbrows_get(rows, r, 4),
	    "max_priority", num_or_null(aif_dbrows_get(rows, r, 5)),
	    "rpm", num_or_null(aif_dbrows_get(rows, r, 6)),
	    "tpm", num_or_null(aif_dbrows_get(rows, r, 7)),
	    "monthly_budget_micros", num_or_null(aif_dbrows_get(rows, r, 8)),
	    "created_at", num_or_null(aif_dbrows_get(rows, r, 9)),
	    "expires_at", num_or_null(aif_dbrows_get(rows, r, 10)),
	    "revoked_at", num_or_null(aif_dbrows_get(rows, r, 11)),
	    "active", aif_dbrows_get(rows, r, 12) != NULL &&
	    strcmp(aif_dbrows_get(rows, r, 12), "1") == 0);
}

enum aif_err
aif_keys_show(struct aif_db *db, uint64_t id, json_t **out)
{
	static const char sql[] = KEY_COLS "WHERE id = ?";
	struct aif_dbp p[] = { AIF_P_I64(id) };
	struct aif_dbrows *rows = NULL;
	enum aif_err err;

	*out = NULL;
	if ((err = aif_db_query(db, sql, p, 1, &rows)) != AIF_OK)
		return err;
	if (rows->nrows == 0) {
		aif_dbrows_free(rows);
		return AIF_NOTFOUND;
	}
	*out = row_json(rows, 0);
	aif_dbrows_free(rows);
	return *out != NULL ? AIF_OK : AIF_NOMEM;
}

enum aif_err
aif_keys_list(struct aif_db *db, int limit, json_t **out)
{
	static const char sql[] = KEY_COLS "ORDER BY id DESC LIMIT ?";
	struct aif_dbp p[] = { AIF_P_I64(limit) };
	struct aif_dbrows *rows = NULL;
	enum aif_err err;

	*out = NULL;
	if ((err = aif_db_query(db, sql, p, 1, &rows)) != AIF_OK)
		return err;
	*out = json_array();
	for (size_t r = 0; *out != NULL && r < rows->nrows; r++)
		json_array_append_new(*out, row_json(rows, r));
	aif_dbrows_free(rows);
	return *out != NULL ? AIF_OK : AIF_NOMEM;
}

static enum aif_err
set_attrs(struct aif_db *db, uint64_t id, const struct aif_key_attrs *a)
{
	static const char sql[] =
	    "UPDATE api_keys SET rpm_limit = ?, tpm_limit = ?, monthly_budget_micros = ?,"
	    " max_priority = ?, expires_at = IF(? > 0, NOW(6) + INTERVAL ? SECOND, NULL)"
	    " WHERE id = ?";
	struct aif_dbp p[] = {
		a->rpm >= 0 ? AIF_P_I64(a->rpm) : AIF_P_NULL(),
		a->tpm >= 0 ? AIF_P_I64(a->tpm) : AIF_P_NULL(),
		a->monthly_budget_micros >= 0 ? AIF_P_I64(a->monthly_budget_micros) :
		    AIF_P_NULL(),
		a->max_priority >= 0 ? AIF_P_I64(a->max_priority) : AIF_P_NULL(),
		AIF_P_I64(a->expires_in_s), AIF_P_I64(a->expires_in_s), AIF_P_I64(id),
	};

	return aif_db_exec(db, sql, p, 7, NULL, NULL);
}

enum aif_err
aif_keys_create(struct aif_auth *auth, struct aif_db *db, const struct aif_key_attrs *a,
    json_t **out)
{
	char key[AIF_KEY_LEN + 1];
	uint64_t id = 0;
	enum aif_err err;

	*out = NULL;
	if (a->name == NULL || a->role == NULL)
		return AIF_INVALID;
	if ((err = aif_auth_create_key(auth, db, a->name, a->role, a->tenant, key, &id)) !=
	    AIF_OK)
		return err;
	if ((err = set_attrs(db, id, a)) != AIF_OK ||
	    (err = aif_keys_show(db, id, out)) != AIF_OK) {
		memset(key, 0, sizeof(key));
		return err;
	}
	json_object_set_new(*out, "key", json_string(key));
	memset(key, 0, sizeof(key));
	return AIF_OK;
}

enum aif_err
aif_keys_revoke(struct aif_db *db, uint64_t id)
{
	static const char sql[] =
	    "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, NOW(6)) WHERE id = ?";
	struct aif_dbp p[] = { AIF_P_I64(id) };
	uint64_t affected = 0;
	enum aif_err err;

	if ((err = aif_db_exec(db, sql, p, 1, &affected, NULL)) != AIF_OK)
		return err;
	return affected == 1 ? AIF_OK : AIF_NOTFOUND;
}

enum aif_err
aif_keys_rotate(struct aif_auth *auth, struct aif_db *db, uint64_t id, int64_t grace_s,
    json_t **out)
{
	static const char expire[] =
	    "UPDATE api_keys SET expires_at = LEAST(COALESCE(expires_at, NOW(6) +"
	    " INTERVAL ? SECOND), NOW(6) + INTERVAL ? SECOND) WHERE id = ?";
	json_t *old = NULL;
	struct aif_key_attrs a;
	enum aif_err err;

	*out = NULL;
	if ((err = aif_keys_show(db, id, &old)) != AIF_OK)
		return err;
	memset(&a, 0, sizeof(a));
	a.name = json_string_value(json_object_get(old, "name"));
	a.role = json_string_value(json_object_get(old, "role"));
	a.tenant = json_string_value(json_object_get(old, "tenant"));
	a.rpm = json_is_integer(json_object_get(old, "rpm")) ?
	    json_integer_value(json_object_get(old, "rpm")) : -1;
	a.tpm = json_is_integer(json_object_get(old, "tpm")) ?
	    json_integer_value(json_object_get(old, "tpm")) : -1;
	a.monthly_budget_micros = json_is_integer(json_object_get(old,
	    "monthly_budget_micros")) ?
	    json_integer_value(json_object_get(old, "monthly_budget_micros")) : -1;
	a.max_priority = json_is_integer(json_object_get(old, "max_priority")) ?
	    (int)json_integer_value(json_object_get(old, "max_priority")) : -1;
	a.expires_in_s = 0;
	if ((err = aif_db_begin(db)) != AIF_OK)
		goto out;
	if ((err = aif_keys_create(auth, db, &a, out)) != AIF_OK)
		goto fail;
	if (grace_s > 0) {
		struct aif_dbp p[] = { AIF_P_I64(grace_s), AIF_P_I64(grace_s), AIF_P_I64(id) };
		err = aif_db_exec(db, expire, p, 3, NULL, NULL);
	} else {
		err = aif_keys_revoke(db, id);
	}
	if (err != AIF_OK || (err = aif_db_commit(db)) != AIF_OK)
		goto fail;
	json_object_set_new(*out, "replaces", json_integer((json_int_t)id));
	goto out;
fail:
	aif_db_rollback(db);
	json_decref(*out);
	*out = NULL;
out:
	json_decref(old);
	return err;
}
