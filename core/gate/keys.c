/* keys.c -- API key lifecycle; see keys.h. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "keys.h"
#include "keystore.h"
#include "util.h"

static json_t *
num_or_null(int64_t v, int set)
{
	return set ? json_integer((json_int_t)v) : json_null();
}

/* The public fields of a key (never its hash). New reference. */
static json_t *
row_json(const struct aif_key_row *k)
{
	return json_pack("{s:I,s:s,s:s,s:s,s:s,s:o,s:o,s:o,s:o,s:I,s:o,s:o,s:b}",
	    "id", (json_int_t)k->id, "key_prefix", k->key_prefix, "name", k->name,
	    "role", k->role, "tenant", k->tenant,
	    "max_priority", num_or_null(k->max_priority, k->max_priority >= 0),
	    "rpm", num_or_null(k->rpm, k->rpm >= 0),
	    "tpm", num_or_null(k->tpm, k->tpm >= 0),
	    "monthly_budget_micros", num_or_null(k->monthly_budget_micros,
	    k->monthly_budget_micros >= 0),
	    "created_at", (json_int_t)k->created_at,
	    "expires_at", num_or_null(k->expires_at, k->expires_at > 0),
	    "revoked_at", num_or_null(k->revoked_at, k->revoked_at > 0),
	    "active", k->active);
}

enum aif_err
aif_keys_show(struct aif_db *db, uint64_t id, json_t **out)
{
	struct aif_key_row k;
	enum aif_err err;

	*out = NULL;
	if ((err = aif_keystore_get(db, id, &k)) != AIF_OK)
		return err;
	*out = row_json(&k);
	return *out != NULL ? AIF_OK : AIF_NOMEM;
}

enum aif_err
aif_keys_list(struct aif_db *db, int limit, json_t **out)
{
	struct aif_key_row *rows = NULL;
	size_t n = 0;
	enum aif_err err;

	*out = NULL;
	if ((err = aif_keystore_list(db, limit, &rows, &n)) != AIF_OK)
		return err;
	*out = json_array();
	for (size_t r = 0; *out != NULL && r < n; r++)
		json_array_append_new(*out, row_json(&rows[r]));
	free(rows);
	return *out != NULL ? AIF_OK : AIF_NOMEM;
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
	if ((err = aif_keystore_set_limits(db, id, a->rpm, a->tpm, a->monthly_budget_micros,
	    a->max_priority, a->expires_in_s)) != AIF_OK ||
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
	return aif_keystore_revoke(db, id);
}

enum aif_err
aif_keys_rotate(struct aif_auth *auth, struct aif_db *db, uint64_t id, int64_t grace_s,
    json_t **out)
{
	struct aif_key_row old;
	struct aif_key_attrs a;
	enum aif_err err;

	*out = NULL;
	if ((err = aif_keystore_get(db, id, &old)) != AIF_OK)
		return err;
	memset(&a, 0, sizeof(a));
	a.name = old.name;
	a.role = old.role;
	a.tenant = old.tenant;
	a.rpm = old.rpm;
	a.tpm = old.tpm;
	a.monthly_budget_micros = old.monthly_budget_micros;
	a.max_priority = old.max_priority;
	a.expires_in_s = 0;
	if ((err = aif_db_begin(db)) != AIF_OK)
		return err;
	if ((err = aif_keys_create(auth, db, &a, out)) != AIF_OK)
		goto fail;
	if (grace_s > 0)
		err = aif_keystore_expire_in(db, id, grace_s);
	else
		err = aif_keystore_revoke(db, id);
	if (err != AIF_OK || (err = aif_db_commit(db)) != AIF_OK)
		goto fail;
	json_object_set_new(*out, "replaces", json_integer((json_int_t)id));
	return AIF_OK;
fail:
	aif_db_rollback(db);
	json_decref(*out);
	*out = NULL;
	return err;
}
