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

struct aif_principal {
	uint64_t key_id;
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

/* Creates a key row and writes the new secret (AIF_KEY_LEN + 1 bytes) to key_out;
 * the secret exists only there. tenant may be NULL ("default"). *id gets api_keys.id. */
enum aif_err	aif_auth_create_key(struct aif_auth *a, struct aif_db *db,
		    const char *name, const char *role, const char *tenant,
		    char *key_out, uint64_t *id);

#endif
