/* keys.h -- API key lifecycle shared by `aifctl keys` and the admin HTTP API: create
 * (with limits, priority cap and expiry), list, show, revoke, rotate (a new secret with
 * the same attributes; the old key stays valid for a grace period, then expires).
 * Secrets exist only in the create/rotate results; the database holds hashes. */
#ifndef AIF_KEYS_H
#define AIF_KEYS_H

#include <stdint.h>

#include <jansson.h>

#include "auth.h"
#include "db.h"
#include "err.h"

/* Attributes of a key; -1 / NULL mean "not set" (role defaults apply). */
struct aif_key_attrs {
	const char	*name;		/* required on create */
	const char	*role;		/* required on create */
	const char	*tenant;	/* default "default" */
	int64_t		 rpm;
	int64_t		 tpm;
	int64_t		 monthly_budget_micros;
	int		 max_priority;	/* 0..9 or -1 */
	int64_t		 expires_in_s;	/* > 0: expires that many seconds from now */
};

/* Creates a key. On AIF_OK *out is a new JSON object with "key" (the secret, shown
 * once) and the key's public fields; *out is NULL on error. */
enum aif_err	aif_keys_create(struct aif_auth *auth, struct aif_db *db,
		    const struct aif_key_attrs *a, json_t **out);

/* All keys (no secrets) as a new JSON array, newest first, at most `limit`. */
enum aif_err	aif_keys_list(struct aif_db *db, int limit, json_t **out);

/* One key by id as a new JSON object; AIF_NOTFOUND when there is none. */
enum aif_err	aif_keys_show(struct aif_db *db, uint64_t id, json_t **out);

/* Revokes key id now (idempotent). AIF_NOTFOUND when there is none. */
enum aif_err	aif_keys_revoke(struct aif_db *db, uint64_t id);

/* Rotates key id: a new key with the same attributes; the old one expires in grace_s
 * seconds (0: revoked now). On AIF_OK *out is as for aif_keys_create, plus
 * "replaces": id. */
enum aif_err	aif_keys_rotate(struct aif_auth *auth, struct aif_db *db, uint64_t id,
		    int64_t grace_s, json_t **out);

#endif
