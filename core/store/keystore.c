/* keystore.c -- the api_keys table and key lineage; see keystore.h. */
#include <stdlib.h>
#include <string.h>

#include "keystore.h"
#include "util.h"

/* A row inserted with lineage_id 0 (by a program older than sql/009) is its own
 * lineage. The secret's hash is read only by the lookup that authenticates (KEY_HASH):
 * the list of every key does not carry it. */
#define KEY_SELECT \
	"SELECT id, IF(lineage_id = 0, id, lineage_id), COALESCE(replaces_id, 0)," \
	" key_prefix, name, role, tenant, COALESCE(max_priority, -1)," \
	" COALESCE(rpm_limit, -1), COALESCE(tpm_limit, -1)," \
	" COALESCE(monthly_budget_micros, -1), UNIX_TIMESTAMP(created_at)," \
	" COALESCE(UNIX_TIMESTAMP(expires_at), 0), COALESCE(UNIX_TIMESTAMP(revoked_at), 0)," \
	" (revoked_at IS NULL AND (expires_at IS NULL OR expires_at > NOW(6)))"
#define KEY_COLS	KEY_SELECT " FROM api_keys "
#define KEY_HASH	KEY_SELECT ", secret_hash FROM api_keys "
enum {
	KC_ID, KC_LINEAGE, KC_REPLACES, KC_PREFIX, KC_NAME, KC_ROLE, KC_TENANT,
	KC_MAX_PRIORITY, KC_RPM, KC_TPM, KC_BUDGET, KC_CREATED, KC_EXPIRES, KC_REVOKED,
	KC_ACTIVE, KC_HASH
};

static void
fill(struct aif_key_row *k, const struct aif_dbrows *rows, size_t r)
{
	const char *hash = rows->ncols > KC_HASH ? aif_dbrows_get(rows, r, KC_HASH) : NULL;
	size_t hlen = hash != NULL ? rows->lens[r * rows->ncols + KC_HASH] : 0;

	memset(k, 0, sizeof(*k));
	k->id = (uint64_t)aif_dbrows_i64(rows, r, KC_ID);
	k->lineage_id = (uint64_t)aif_dbrows_i64(rows, r, KC_LINEAGE);
	k->replaces_id = (uint64_t)aif_dbrows_i64(rows, r, KC_REPLACES);
	aif_dbrows_copy(rows, r, KC_PREFIX, k->key_prefix, sizeof(k->key_prefix));
	aif_dbrows_copy(rows, r, KC_NAME, k->name, sizeof(k->name));
	aif_dbrows_copy(rows, r, KC_ROLE, k->role, sizeof(k->role));
	aif_dbrows_copy(rows, r, KC_TENANT, k->tenant, sizeof(k->tenant));
	k->max_priority = (int)aif_dbrows_i64(rows, r, KC_MAX_PRIORITY);
	k->rpm = aif_dbrows_i64(rows, r, KC_RPM);
	k->tpm = aif_dbrows_i64(rows, r, KC_TPM);
	k->monthly_budget_micros = aif_dbrows_i64(rows, r, KC_BUDGET);
	k->created_at = aif_dbrows_i64(rows, r, KC_CREATED);
	k->expires_at = aif_dbrows_i64(rows, r, KC_EXPIRES);
	k->revoked_at = aif_dbrows_i64(rows, r, KC_REVOKED);
	k->active = aif_dbrows_i64(rows, r, KC_ACTIVE) == 1;
	if (hash != NULL && hlen == AIF_KEYSTORE_HASH_LEN) {
		memcpy(k->secret_hash, hash, hlen);
		k->secret_hash_len = hlen;
	}
}

/* Runs a KEY_COLS or KEY_HASH query expected to give at most one row. */
static enum aif_err
one(struct aif_db *db, const char *sql, const struct aif_dbp *p, size_t np,
    struct aif_key_row *out)
{
	struct aif_dbrows *rows = NULL;
	enum aif_err err;

	if ((err = aif_db_query(db, sql, p, np, &rows)) != AIF_OK)
		return err;
	if (rows->nrows == 1)
		fill(out, rows, 0);
	else
		err = AIF_NOTFOUND;
	aif_dbrows_free(rows);
	return err;
}

enum aif_err
aif_keystore_by_hash(struct aif_db *db, const unsigned char hash[AIF_KEYSTORE_HASH_LEN],
    struct aif_key_row *out)
{
	static const char sql[] = KEY_HASH "WHERE secret_hash = ? AND revoked_at IS NULL"
	    " AND (expires_at IS NULL OR expires_at > NOW(6))";
	struct aif_dbp p[] = { AIF_P_STRN((const char *)hash, AIF_KEYSTORE_HASH_LEN) };

	return one(db, sql, p, AIF_NELEM(p), out);
}

enum aif_err
aif_keystore_get(struct aif_db *db, uint64_t id, struct aif_key_row *out)
{
	static const char sql[] = KEY_COLS "WHERE id = ?";
	struct aif_dbp p[] = { AIF_P_I64(id) };

	return one(db, sql, p, AIF_NELEM(p), out);
}

enum aif_err
aif_keystore_list(struct aif_db *db, int limit, struct aif_key_row **out, size_t *n)
{
	static const char sql[] = KEY_COLS "ORDER BY id DESC LIMIT ?";
	struct aif_dbp p[] = { AIF_P_I64(limit) };
	struct aif_dbrows *rows = NULL;
	enum aif_err err;

	*out = NULL;
	*n = 0;
	if ((err = AIF_DB_QUERY(db, sql, p, &rows)) != AIF_OK)
		return err;
	if (rows->nrows > 0 && (*out = calloc(rows->nrows, sizeof(**out))) == NULL)
		err = AIF_NOMEM;
	for (size_t r = 0; err == AIF_OK && r < rows->nrows; r++)
		fill(&(*out)[r], rows, r);
	if (err == AIF_OK)
		*n = rows->nrows;
	aif_dbrows_free(rows);
	return err;
}

/* A failed INSERT of a key: a duplicate prefix or hash stays AIF_CONFLICT (the
 * statement alone was rolled back); a deadlock or lock timeout lost the caller's
 * transaction, which a retry of the statement alone must not continue. */
static enum aif_err
insert_err(struct aif_db *db, enum aif_err err)
{
	if (err == AIF_CONFLICT && !aif_db_last_was_duplicate(db))
		return AIF_UNAVAILABLE;
	return err;
}

enum aif_err
aif_keystore_insert(struct aif_db *db, const char *prefix,
    const unsigned char hash[AIF_KEYSTORE_HASH_LEN], const struct aif_keystore_attrs *a,
    uint64_t *id)
{
	static const char sql[] =
	    "INSERT INTO api_keys (key_prefix, secret_hash, name, role, tenant, max_priority,"
	    " rpm_limit, tpm_limit, monthly_budget_micros, expires_at)"
	    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, NOW(6) + INTERVAL NULLIF(GREATEST(?, 0), 0) SECOND)";
	static const char lineage[] =
	    "UPDATE api_keys SET lineage_id = id WHERE id = ?";
	struct aif_dbp p[] = {
		AIF_P_STR(prefix), AIF_P_STRN((const char *)hash, AIF_KEYSTORE_HASH_LEN),
		AIF_P_STR(a->name), AIF_P_STR(a->role),
		AIF_P_STR(a->tenant != NULL ? a->tenant : "default"),
		a->max_priority >= 0 ? AIF_P_I64(a->max_priority) : AIF_P_NULL(),
		a->rpm >= 0 ? AIF_P_I64(a->rpm) : AIF_P_NULL(),
		a->tpm >= 0 ? AIF_P_I64(a->tpm) : AIF_P_NULL(),
		a->monthly_budget_micros >= 0 ? AIF_P_I64(a->monthly_budget_micros) :
		    AIF_P_NULL(),
		AIF_P_I64(a->expires_in_s),	/* > 0: expires then; else never (NULL) */
	};
	uint64_t new_id = 0;
	enum aif_err err;

	*id = 0;
	if ((err = AIF_DB_EXEC(db, sql, p, NULL, &new_id)) != AIF_OK)
		return insert_err(db, err);
	{
		struct aif_dbp q[] = { AIF_P_I64(new_id) };
		if ((err = AIF_DB_EXEC(db, lineage, q, NULL, NULL)) != AIF_OK)
			return err == AIF_CONFLICT ? AIF_UNAVAILABLE : err;
	}
	*id = new_id;
	return AIF_OK;
}

enum aif_err
aif_keystore_insert_successor(struct aif_db *db, const char *prefix,
    const unsigned char hash[AIF_KEYSTORE_HASH_LEN], uint64_t pred_id, uint64_t *id)
{
	static const char sql[] =
	    "INSERT INTO api_keys (key_prefix, secret_hash, lineage_id, replaces_id, name,"
	    " role, tenant, max_priority, rpm_limit, tpm_limit, monthly_budget_micros,"
	    " expires_at)"
	    " SELECT ?, ?, IF(lineage_id = 0, id, lineage_id), id, name, role, tenant,"
	    " max_priority, rpm_limit, tpm_limit, monthly_budget_micros, expires_at"
	    " FROM api_keys WHERE id = ?";
	struct aif_dbp p[] = {
		AIF_P_STR(prefix), AIF_P_STRN((const char *)hash, AIF_KEYSTORE_HASH_LEN),
		AIF_P_I64(pred_id),
	};
	uint64_t affected = 0, new_id = 0;
	enum aif_err err;

	*id = 0;
	if ((err = AIF_DB_EXEC(db, sql, p, &affected, &new_id)) != AIF_OK)
		return insert_err(db, err);
	if (affected != 1)
		return AIF_NOTFOUND;
	*id = new_id;
	return AIF_OK;
}

enum aif_err
aif_keystore_lock(struct aif_db *db, uint64_t id, struct aif_key_row *out)
{
	static const char sql[] = KEY_COLS "WHERE id = ? FOR UPDATE";
	struct aif_dbp p[] = { AIF_P_I64(id) };

	return one(db, sql, p, AIF_NELEM(p), out);
}

enum aif_err
aif_keystore_newer_live(struct aif_db *db, uint64_t lineage, uint64_t id, uint64_t *newer)
{
	/* ids grow, so a later key of the lineage has a larger id (ix_api_keys_lineage) */
	static const char sql[] =
	    "SELECT id FROM api_keys WHERE lineage_id = ? AND id > ? AND revoked_at IS NULL"
	    " AND (expires_at IS NULL OR expires_at > NOW(6)) ORDER BY id DESC LIMIT 1";
	struct aif_dbp p[] = { AIF_P_I64(lineage), AIF_P_I64(id) };
	int64_t v = 0;
	enum aif_err err = AIF_DB_QUERY_I64(db, sql, p, &v);

	*newer = (uint64_t)v;
	return err;
}

enum aif_err
aif_keystore_revoke(struct aif_db *db, uint64_t id)
{
	static const char sql[] =
	    "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, NOW(6)) WHERE id = ?";
	struct aif_dbp p[] = { AIF_P_I64(id) };
	uint64_t affected = 0;
	enum aif_err err;

	if ((err = AIF_DB_EXEC(db, sql, p, &affected, NULL)) != AIF_OK)
		return err;
	return affected == 1 ? AIF_OK : AIF_NOTFOUND;
}

enum aif_err
aif_keystore_expire_in(struct aif_db *db, uint64_t id, int64_t grace_s)
{
	static const char sql[] =
	    "UPDATE api_keys SET expires_at = LEAST(COALESCE(expires_at,"
	    " TIMESTAMP'9999-12-31 23:59:59.999999'), NOW(6) + INTERVAL ? SECOND)"
	    " WHERE id = ?";
	struct aif_dbp p[] = { AIF_P_I64(grace_s), AIF_P_I64(id) };

	return AIF_DB_EXEC(db, sql, p, NULL, NULL);
}
