/* keys.c -- API key lifecycle; see keys.h. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "keys.h"
#include "keystore.h"
#include "text.h"
#include "util.h"

#define INSERT_TRIES	3	/* a prefix or hash that exists is tried again with a new secret */

static json_t *
num_or_null(int64_t v, int set)
{
	return set ? json_integer((json_int_t)v) : json_null();
}

/* The public fields of a key (never its hash). New reference. */
static json_t *
row_json(const struct aif_key_row *k)
{
	return json_pack("{s:I,s:s,s:s,s:s,s:s,s:o,s:o,s:o,s:o,s:I,s:o,s:o,s:b,s:I,s:o}",
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
	    "active", k->active, "lineage_id", (json_int_t)k->lineage_id,
	    "replaces", num_or_null((int64_t)k->replaces_id, k->replaces_id > 0));
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

/* Makes a secret and inserts its row inside the caller's transaction: a key of its own
 * lineage with attributes a when pred_id is 0, else the successor of key pred_id. The
 * secret goes to key (wiped on error), the row's id to *id. */
static enum aif_err
insert_key(struct aif_auth *auth, struct aif_db *db, const struct aif_key_attrs *a,
    uint64_t pred_id, char key[AIF_KEY_LEN + 1], uint64_t *id)
{
	unsigned char hash[AIF_KEY_HASH_LEN];
	char prefix[AIF_KEY_DISPLAY_LEN + 1];
	enum aif_err err = AIF_CONFLICT;

	for (int tries = 0; tries < INSERT_TRIES && err == AIF_CONFLICT; tries++) {
		if ((err = aif_auth_new_secret(auth, key, hash, prefix)) != AIF_OK)
			break;
		err = pred_id == 0 ? aif_keystore_insert(db, prefix, hash, a, id) :
		    aif_keystore_insert_successor(db, prefix, hash, pred_id, id);
	}
	if (err != AIF_OK)
		memset(key, 0, AIF_KEY_LEN + 1);
	/* collisions every time: as unlikely as it sounds, but not a refusal */
	return err == AIF_CONFLICT ? AIF_UNAVAILABLE : err;
}

/* Reads new key id (inside the transaction), commits, and fills *out with its public
 * fields and its secret. On error the transaction is rolled back and *out is NULL. */
static enum aif_err
commit_new_key(struct aif_db *db, uint64_t id, const char *key, json_t **out)
{
	enum aif_err err;

	if ((err = aif_db_finish(db, aif_keys_show(db, id, out))) != AIF_OK) {
		json_decref(*out);
		*out = NULL;
		return err;
	}
	json_object_set_new(*out, "key", json_string(key));
	return AIF_OK;
}

/* Whether v is -1 (not set) or in 0..max. */
static int
unset_or_in(int64_t v, int64_t max)
{
	return v == -1 || (v >= 0 && v <= max);
}

enum aif_err
aif_keys_attrs_check(const struct aif_config *cfg, const struct aif_key_attrs *a,
    const char **field, const char **why)
{
	const char *w = NULL;

	*field = NULL;
	if (why != NULL)
		*why = NULL;
	if (!aif_name_valid(a->name, &w))
		*field = "name";
	else if (a->role == NULL || aif_cfg_role(cfg, a->role) == NULL)
		*field = "role";
	else if (a->tenant != NULL && !aif_name_valid(a->tenant, &w))
		*field = "tenant";
	else if (!unset_or_in(a->rpm, AIF_KEYS_RPM_MAX))
		*field = "rpm";
	else if (!unset_or_in(a->tpm, AIF_KEYS_TPM_MAX))
		*field = "tpm";
	else if (!unset_or_in(a->monthly_budget_micros, AIF_KEYS_BUDGET_MAX))
		*field = "monthly_budget_micros";
	else if (!unset_or_in(a->max_priority, AIF_KEYS_PRIORITY_MAX))
		*field = "max_priority";
	else if (a->expires_in_s < 0 || a->expires_in_s > AIF_KEYS_EXPIRY_MAX_S)
		*field = "expires_in_s";
	else
		return AIF_OK;
	if (why != NULL && (strcmp(*field, "name") == 0 || strcmp(*field, "tenant") == 0))
		*why = w;
	return AIF_INVALID;
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
	if ((err = aif_db_begin(db)) != AIF_OK)
		return err;
	if ((err = insert_key(auth, db, a, 0, key, &id)) != AIF_OK) {
		aif_db_rollback(db);
		return err;
	}
	err = commit_new_key(db, id, key, out);
	memset(key, 0, sizeof(key));
	return err;
}

enum aif_err
aif_keys_revoke(struct aif_db *db, uint64_t id)
{
	return aif_keystore_revoke(db, id);
}

enum aif_err
aif_keys_rotate(struct aif_auth *auth, struct aif_db *db, uint64_t id, int64_t grace_s,
    json_t **out, uint64_t *successor)
{
	char key[AIF_KEY_LEN + 1];
	struct aif_key_row old;
	uint64_t next = 0, new_id = 0;
	enum aif_err err;

	*out = NULL;
	if (successor != NULL)
		*successor = 0;
	if ((err = aif_db_begin(db)) != AIF_OK)
		return err;
	/* the lock orders concurrent rotations of this key: the later one sees the
	   earlier one's successor below. Only the newest live key of a lineage is
	   rotated, so a lineage is one chain: at most one live successor per key, and
	   never two branches. */
	if ((err = aif_keystore_lock(db, id, &old)) != AIF_OK)
		goto fail;
	if (!old.active) {
		err = AIF_FORBIDDEN;
		goto fail;
	}
	if ((err = aif_keystore_newer_live(db, old.lineage_id, id, &next)) == AIF_OK) {
		if (successor != NULL)
			*successor = next;
		err = AIF_CONFLICT;
		goto refused;
	}
	if (err != AIF_NOTFOUND ||
	    (err = insert_key(auth, db, NULL, id, key, &new_id)) != AIF_OK)
		goto fail;
	err = grace_s > 0 ? aif_keystore_expire_in(db, id, grace_s) :
	    aif_keystore_revoke(db, id);
	if (err != AIF_OK) {
		memset(key, 0, sizeof(key));
		goto fail;
	}
	err = commit_new_key(db, new_id, key, out);
	memset(key, 0, sizeof(key));
	return err == AIF_CONFLICT ? AIF_UNAVAILABLE : err;
fail:
	/* a lock wait timeout or deadlock is not the refusal AIF_CONFLICT stands for */
	if (err == AIF_CONFLICT)
		err = AIF_UNAVAILABLE;
refused:
	aif_db_rollback(db);
	return err;
}
