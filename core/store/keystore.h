/* keystore.h -- the api_keys table: lookups by secret hash for authentication, and the
 * rows of the key lifecycle (gate/keys.h), with each key's lineage (the first key of its
 * rotation chain, sql/009_key_lineage.sql). Only hashes of secrets are stored; nothing
 * here sees a secret. */
#ifndef AIF_KEYSTORE_H
#define AIF_KEYSTORE_H

#include <stddef.h>
#include <stdint.h>

#include "db.h"
#include "err.h"

#define AIF_KEYSTORE_HASH_LEN	32

/* One api_keys row. Limits are -1 when the key has none of its own (its role's apply);
 * times are unix seconds, 0 when not set. */
struct aif_key_row {
	uint64_t	 id;
	uint64_t	 lineage_id;		/* the first key of its rotation chain */
	uint64_t	 replaces_id;		/* the key it was rotated from; 0: none */
	char		 key_prefix[16];
	char		 name[129];
	char		 role[65];
	char		 tenant[129];
	int		 max_priority;
	int64_t		 rpm, tpm, monthly_budget_micros;
	int64_t		 created_at, expires_at, revoked_at;
	int		 active;		/* not revoked, not expired */
	unsigned char	 secret_hash[AIF_KEYSTORE_HASH_LEN];
	size_t		 secret_hash_len;	/* AIF_KEYSTORE_HASH_LEN when read (only
						   aif_keystore_by_hash reads it), else 0 */
};

/* The active key (not revoked, not expired) whose secret hashes to `hash`.
 * AIF_NOTFOUND when there is none. */
enum aif_err	aif_keystore_by_hash(struct aif_db *db,
		    const unsigned char hash[AIF_KEYSTORE_HASH_LEN], struct aif_key_row *out);

/* What a key made by create holds besides its secret (strings borrowed; tenant NULL:
 * "default"). Limits and max_priority are -1 when not set (its role's apply);
 * expires_in_s > 0: expires that many seconds from now, 0: never. */
struct aif_keystore_attrs {
	const char	*name;
	const char	*role;
	const char	*tenant;
	int64_t		 rpm, tpm, monthly_budget_micros;
	int		 max_priority;
	int64_t		 expires_in_s;
};

/* Inserts a key that starts a lineage of its own, with every attribute, and sets its
 * lineage_id to its id: two statements, so the caller runs them in a transaction.
 * *id gets its id. AIF_CONFLICT when the prefix or hash exists (only the statement was
 * rolled back: try another secret); a deadlock or lock timeout is AIF_UNAVAILABLE. */
enum aif_err	aif_keystore_insert(struct aif_db *db, const char *prefix,
		    const unsigned char hash[AIF_KEYSTORE_HASH_LEN],
		    const struct aif_keystore_attrs *a, uint64_t *id);

/* Inserts the successor of key pred_id: one statement copying pred's name, role,
 * tenant, limits, priority cap, expiry and lineage, with replaces_id = pred_id. *id gets
 * its id. AIF_NOTFOUND when there is no key pred_id; AIF_CONFLICT as for insert. */
enum aif_err	aif_keystore_insert_successor(struct aif_db *db, const char *prefix,
		    const unsigned char hash[AIF_KEYSTORE_HASH_LEN], uint64_t pred_id,
		    uint64_t *id);

/* Reads key id and locks its row until the caller's transaction ends (SELECT ... FOR
 * UPDATE), so that two rotations of one key run one after the other. AIF_NOTFOUND. */
enum aif_err	aif_keystore_lock(struct aif_db *db, uint64_t id, struct aif_key_row *out);

/* The newest live (not revoked, not expired) key of lineage `lineage` made after key id
 * (a successor of id, or of one of its successors): *newer gets its id. AIF_NOTFOUND
 * when there is none, that is when key id is the newest live key of its lineage. */
enum aif_err	aif_keystore_newer_live(struct aif_db *db, uint64_t lineage, uint64_t id,
		    uint64_t *newer);

/* One key by id; AIF_NOTFOUND. */
enum aif_err	aif_keystore_get(struct aif_db *db, uint64_t id, struct aif_key_row *out);

/* The newest keys, at most `limit`. On AIF_OK *out is new (free(3)) with *n rows. */
enum aif_err	aif_keystore_list(struct aif_db *db, int limit, struct aif_key_row **out,
		    size_t *n);

/* Revokes key id now (idempotent). AIF_NOTFOUND when there is none. */
enum aif_err	aif_keystore_revoke(struct aif_db *db, uint64_t id);

/* Makes key id expire within grace_s seconds (an earlier expiry stays). */
enum aif_err	aif_keystore_expire_in(struct aif_db *db, uint64_t id, int64_t grace_s);

#endif
