/* auth.h -- bearer-key authentication against api_keys, with a short in-process cache
 * (entries live AIF_AUTH_CACHE_MS, so a revocation or expiry takes effect on every
 * aif-api process within that time). Keys are checked for format and checksum before any
 * database call; only HMAC-SHA256(pepper, key) is looked up and compared in constant time.
 * Thread-safe (one mutex around the cache). */
#ifndef AIF_AUTH_H
#define AIF_AUTH_H

#include <stdint.h>

#include "apikey.h"
#include "config.h"
#include "db.h"
#include "err.h"

#define AIF_AUTH_CACHE_MS	2000

/* Who a request is. A rotated key keeps its predecessor's identity: lineage_id (the id of
 * the first key of its rotation chain, sql/009_key_lineage.sql) is what budgets
 * ("key:<lineage>"), rate limits, job ownership (jobs.api_key_id), idempotency and usage
 * rows name, so every live key of one lineage shares them; key_id is the key presented,
 * for what concerns that key alone (admin operations, logs). */
struct aif_principal {
	uint64_t key_id;
	uint64_t lineage_id;
	char	 key_prefix[AIF_KEY_DISPLAY_LEN + 1];
	char	 name[129];
	char	 role[65];
	char	 tenant[129];
	int	 max_priority;		/* the key's own cap, or -1 for the role's */
	int64_t	 rpm;			/* the key's own limits, or -1 for the role's */
	int64_t	 tpm;
	int64_t	 monthly_budget_micros;
};

struct aif_auth;

/* Creates the authenticator; reads cfg->auth.pepper_file if set.
 * On AIF_OK *out is new (aif_auth_free). AIF_IO/AIF_INVALID: pepper unreadable. */
enum aif_err	aif_auth_new(const struct aif_config *cfg, struct aif_auth **out);
void		aif_auth_free(struct aif_auth *a);

/* Authenticates the Authorization header value (borrowed, may be NULL).
 * AIF_OK: *out filled. AIF_AUTH: missing, malformed, unknown, revoked or expired key.
 * AIF_UNAVAILABLE: the database is unreachable and the key is not cached. */
enum aif_err	aif_auth_check(struct aif_auth *a, struct aif_db *db,
		    const char *authorization, struct aif_principal *out);

/* The principal of lineage `lineage` (the id jobs and usage carry: the first key of a
 * rotation chain): its newest live key, a successor or that key itself (an
 * operator acting for the key: a retry billed to a job's key). AIF_NOTFOUND: no such
 * key, or none of its lineage is live (revoked, expired). */
enum aif_err	aif_auth_principal_by_lineage(struct aif_db *db, uint64_t lineage,
		    struct aif_principal *out);

/* A new secret for a key: writes it (AIF_KEY_LEN + 1 bytes) to key_out, its hash as
 * stored (AIF_KEY_HASH_LEN bytes) to hash_out and its public prefix to prefix_out; the
 * secret exists only in key_out (the caller wipes it). Stores nothing: the caller inserts
 * the row (gate/keys.c) and asks again when the prefix or hash already exists. */
enum aif_err	aif_auth_new_secret(const struct aif_auth *a, char *key_out,
		    unsigned char hash_out[AIF_KEY_HASH_LEN],
		    char prefix_out[AIF_KEY_DISPLAY_LEN + 1]);

#endif
