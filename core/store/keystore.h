/* keystore.h -- the api_keys table: lookups by secret hash for authentication, and the
 * rows of the key lifecycle (gate/keys.h). Only hashes of secrets are stored; nothing
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
	char		 key_prefix[16];
	char		 name[129];
	char		 role[65];
	char		 tenant[129];
	int		 max_priority;
	int64_t		 rpm, tpm, monthly_budget_micros;
	int64_t		 created_at, expires_at, revoked_at;
	int		 active;		/* not revoked, not expired */
	unsigned char	 secret_hash[AIF_KEYSTORE_HASH_LEN];
	size_t		 secret_hash_len;	/* AIF_KEYSTORE_HASH_LEN when read */
};

/* The active key (not revoked, not expired) whose secret hashes to `hash`.
 * AIF_NOTFOUND when there is none. */
enum aif_err	aif_keystore_by_hash(struct aif_db *db,
		    const unsigned char hash[AIF_KEYSTORE_HASH_LEN], struct aif_key_row *out);

/* Inserts a key (strings borrowed; tenant NULL: "default"). *id gets its id.
 * AIF_CONFLICT when the prefix or hash exists (try another secret). */
enum aif_err	aif_keystore_insert(struct aif_db *db, const char *prefix,
		    const unsigned char hash[AIF_KEYSTORE_HASH_LEN], const char *name,
		    const char *role, const char *tenant, uint64_t *id);

/* Sets a key's own limits (-1: none, its role's apply) and its expiry (expires_in_s > 0:
 * that many seconds from now; 0: never). */
enum aif_err	aif_keystore_set_limits(struct aif_db *db, uint64_t id, int64_t rpm,
		    int64_t tpm, int64_t monthly_budget_micros, int max_priority,
		    int64_t expires_in_s);

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
