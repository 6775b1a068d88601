/* auth.c -- key authentication with a small TTL cache; see auth.h. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "log.h"
#include "util.h"

#define CACHE_SLOTS	1024	/* power of two */

struct cache_entry {
	unsigned char	 hash[AIF_KEY_HASH_LEN];
	int64_t		 expires_ms;
	int		 used;
	int		 found;		/* 0: negative entry (unknown key) */
	struct aif_principal who;
};

struct aif_auth {
	unsigned char	*pepper;
	size_t		 pepper_len;
	pthread_mutex_t	 mu;
	struct cache_entry cache[CACHE_SLOTS];
};

enum aif_err
aif_auth_new(const struct aif_config *cfg, struct aif_auth **out)
{
	struct aif_auth *a = calloc(1, sizeof(*a));
	enum aif_err err;

	*out = NULL;
	if (a == NULL)
		return AIF_NOMEM;
	if (cfg->auth.pepper_file != NULL &&
	    (err = aif_apikey_load_pepper(cfg->auth.pepper_file, &a->pepper,
	    &a->pepper_len)) != AIF_OK) {
		aif_error("msg=\"cannot load key pepper\" path=%s error=\"%s\"",
		    cfg->auth.pepper_file, aif_strerror(err));
		free(a);
		return err;
	}
	pthread_mutex_init(&a->mu, NULL);
	*out = a;
	return AIF_OK;
}

void
aif_auth_free(struct aif_auth *a)
{
	if (a == NULL)
		return;
	aif_apikey_pepper_free(a->pepper, a->pepper_len);
	pthread_mutex_destroy(&a->mu);
	free(a);
}

static size_t
slot_of(const unsigned char *hash)
{
	size_t v;

	memcpy(&v, hash, sizeof(v));
	return v & (CACHE_SLOTS - 1);
}

/* Returns 1 and fills out and found on a live cache hit. */
static int
cache_get(struct aif_auth *a, const unsigned char *hash, struct aif_principal *out,
    int *found)
{
	struct cache_entry *e = &a->cache[slot_of(hash)];
	int hit = 0;

	pthread_mutex_lock(&a->mu);
	if (e->used && e->expires_ms > aif_now_ms() &&
	    aif_apikey_hash_equal(e->hash, hash)) {
		*out = e->who;
		*found = e->found;
		hit = 1;
	}
	pthread_mutex_unlock(&a->mu);
	return hit;
}

static void
cache_put(struct aif_auth *a, const unsigned char *hash, const struct aif_principal *who,
    int found)
{
	struct cache_entry *e = &a->cache[slot_of(hash)];

	pthread_mutex_lock(&a->mu);
	memcpy(e->hash, hash, AIF_KEY_HASH_LEN);
	e->expires_ms = aif_now_ms() + AIF_AUTH_CACHE_MS;
	e->used = 1;
	e->found = found;
	if (found)
		e->who = *who;
	pthread_mutex_unlock(&a->mu);
}

enum aif_err
aif_auth_check(struct aif_auth *a, struct aif_db *db, const char *authorization,
    struct aif_principal *out)
{
	static const char sql[] =
	    "SELECT id, key_prefix, name, role, tenant, COALESCE(max_priority, -1),"
	    " secret_hash, COALESCE(rpm_limit, -1), COALESCE(tpm_limit, -1),"
	    " COALESCE(monthly_budget_micros, -1)"
	    " FROM api_keys WHERE secret_hash = ? AND revoked_at IS NULL"
	    " AND (expires_at IS NULL OR expires_at > NOW(6))";
	unsigned char hash[AIF_KEY_HASH_LEN];
	struct aif_dbrows *rows = NULL;
	struct aif_principal who;
	const char *key;
	size_t len;
	int found = 0;
	enum aif_err err;

	memset(out, 0, sizeof(*out));
	if (authorization == NULL ||
	    (key = aif_apikey_from_bearer(authorization, &len)) == NULL ||
	    !aif_apikey_well_formed(key, len))
		return AIF_AUTH;
	aif_apikey_hash(a->pepper, a->pepper_len, key, len, hash);
	if (cache_get(a, hash, out, &found))
		return found ? AIF_OK : AIF_AUTH;

	struct aif_dbp p[] = { AIF_P_STRN((const char *)hash, sizeof(hash)) };
	if ((err = aif_db_query(db, sql, p, 1, &rows)) != AIF_OK)
		return AIF_UNAVAILABLE;
	memset(&who, 0, sizeof(who));
	if (rows->nrows == 1 && rows->lens[6] == AIF_KEY_HASH_LEN &&
	    aif_apikey_hash_equal((const unsigned char *)aif_dbrows_get(rows, 0, 6), hash)) {
		int64_t v = 0;
		(void)aif_parse_i64(aif_dbrows_get(rows, 0, 0), 0, INT64_MAX, &v);
		who.key_id = (uint64_t)v;
		aif_strlcpy(who.key_prefix, aif_dbrows_get(rows, 0, 1), sizeof(who.key_prefix));
		aif_strlcpy(who.name, aif_dbrows_get(rows, 0, 2), sizeof(who.name));
		aif_strlcpy(who.role, aif_dbrows_get(rows, 0, 3), sizeof(who.role));
		aif_strlcpy(who.tenant, aif_dbrows_get(rows, 0, 4), sizeof(who.tenant));
		v = -1;
		(void)aif_parse_i64(aif_dbrows_get(rows, 0, 5), -1, 255, &v);
		who.max_priority = (int)v;
		who.rpm = who.tpm = who.monthly_budget_micros = -1;
		(void)aif_parse_i64(aif_dbrows_get(rows, 0, 7), -1, INT64_MAX, &who.rpm);
		(void)aif_parse_i64(aif_dbrows_get(rows, 0, 8), -1, INT64_MAX, &who.tpm);
		(void)aif_parse_i64(aif_dbrows_get(rows, 0, 9), -1, INT64_MAX,
		    &who.monthly_budget_micros);
		found = 1;
	}
	aif_dbrows_free(rows);
	cache_put(a, hash, &who, found);
	if (!found)
		return AIF_AUTH;
	*out = who;
	return AIF_OK;
}

enum aif_err
aif_auth_create_key(struct aif_auth *a, struct aif_db *db, const char *name,
    const char *role, const char *tenant, char *key_out, uint64_t *id)
{
	static const char sql[] =
	    "INSERT INTO api_keys (key_prefix, secret_hash, name, role, tenant)"
	    " VALUES (?, ?, ?, ?, ?)";
	unsigned char hash[AIF_KEY_HASH_LEN];
	char display[AIF_KEY_DISPLAY_LEN + 1];
	enum aif_err err;

	*id = 0;
	for (int tries = 0; tries < 3; tries++) {
		if ((err = aif_apikey_generate(key_out)) != AIF_OK)
			return err;
		aif_apikey_hash(a->pepper, a->pepper_len, key_out, AIF_KEY_LEN, hash);
		aif_apikey_display(key_out, display);
		struct aif_dbp p[] = {
			AIF_P_STR(display), AIF_P_STRN((const char *)hash, sizeof(hash)),
			AIF_P_STR(name), AIF_P_STR(role),
			AIF_P_STR(tenant != NULL ? tenant : "default"),
		};
		err = aif_db_exec(db, sql, p, 5, NULL, id);
		if (err != AIF_CONFLICT)
			break;	/* a prefix collision is retried with a new key */
	}
	if (err != AIF_OK)
		memset(key_out, 0, AIF_KEY_LEN + 1);
	return err;
}
