/* keys.h -- API key lifecycle shared by `aifctl keys` and the admin HTTP API: create
 * (with limits, priority cap and expiry), list, show, revoke, rotate (a new secret with
 * the same attributes and expiry; the old key stays valid for a grace period, then
 * expires). A rotated key keeps its lineage (auth.h: budgets, rate limits and jobs
 * belong to the lineage), and a lineage never forks: only its newest live key can be
 * rotated (so a key has at most one live successor), and a revoked or expired key is
 * never rotated. Each create and rotate is
 * one transaction. Secrets exist only in the create/rotate results; the database holds
 * hashes. */
#ifndef AIF_KEYS_H
#define AIF_KEYS_H

#include <stdint.h>

#include <jansson.h>

#include "auth.h"
#include "config.h"
#include "db.h"
#include "err.h"
#include "keystore.h"

/* Attributes of a key: struct aif_keystore_attrs (store/keystore.h; -1 / NULL mean
 * "not set": role defaults apply). The old name stays for the callers that use it. */
#define aif_key_attrs	aif_keystore_attrs

/* Limits of key attributes (aif_keys_attrs_check). */
#define AIF_KEYS_RPM_MAX	1000000000LL
#define AIF_KEYS_TPM_MAX	100000000000LL
#define AIF_KEYS_BUDGET_MAX	(INT64_MAX / 4)
#define AIF_KEYS_PRIORITY_MAX	9
#define AIF_KEYS_EXPIRY_MAX_S	(10LL * 365 * 86400)

/* Checks attributes a for aif_keys_create under cfg (borrowed): name, and tenant when
 * set, valid names (core/base/text.h), role one of cfg's, rpm, tpm and
 * monthly_budget_micros -1 or 0..AIF_KEYS_*_MAX, max_priority -1 or 0..9, expires_in_s
 * 0..AIF_KEYS_EXPIRY_MAX_S. AIF_OK, or AIF_INVALID with *field the attribute refused
 * first ("name", "role", "tenant", "rpm", "tpm", "monthly_budget_micros",
 * "max_priority", "expires_in_s"), and for a name or tenant *why (may be NULL) the
 * reason (aif_name_valid's phrase; NULL for the others). Both static strings. */
enum aif_err	aif_keys_attrs_check(const struct aif_config *cfg,
		    const struct aif_key_attrs *a, const char **field, const char **why);

/* Creates a key that starts its own lineage, in one transaction (nothing is left on
 * error). On AIF_OK *out is a new JSON object with "key" (the secret, shown once) and
 * the key's public fields (aif_keys_show); *out is NULL on error. AIF_INVALID: no name
 * or role. */
enum aif_err	aif_keys_create(struct aif_auth *auth, struct aif_db *db,
		    const struct aif_key_attrs *a, json_t **out);

/* All keys (no secrets) as a new JSON array, newest first, at most `limit`. */
enum aif_err	aif_keys_list(struct aif_db *db, int limit, json_t **out);

/* One key by id as a new JSON object: id, key_prefix, name, role, tenant, limits,
 * times, active, lineage_id and replaces (the key it was rotated from, or null).
 * AIF_NOTFOUND when there is none. */
enum aif_err	aif_keys_show(struct aif_db *db, uint64_t id, json_t **out);

/* Revokes key id now (idempotent). AIF_NOTFOUND when there is none. */
enum aif_err	aif_keys_revoke(struct aif_db *db, uint64_t id);

/* Rotates key id in one transaction: a new key with its name, role, tenant, limits,
 * priority cap, expiry and lineage; key id then expires in grace_s seconds (an earlier
 * expiry stays; 0: revoked now). On AIF_OK *out is as for aif_keys_create ("replaces":
 * id). Refused, with nothing changed and *out NULL:
 *   AIF_NOTFOUND   there is no key id;
 *   AIF_FORBIDDEN  key id is revoked or expired: a dead key is never brought back;
 *   AIF_CONFLICT   key id is not the newest live key of its lineage: it already has a
 *                  live successor, or a successor of its successor lives (*successor,
 *                  which may be NULL, gets the newest live key's id): rotate that one,
 *                  or revoke it first.
 * Two rotations of one key at once run one after the other (the key's row is locked),
 * so the second sees the first's successor. */
enum aif_err	aif_keys_rotate(struct aif_auth *auth, struct aif_db *db, uint64_t id,
		    int64_t grace_s, json_t **out, uint64_t *successor);

#endif
