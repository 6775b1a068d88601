/* auth.c -- key authentication with a small TTL cache; see auth.h. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "keystore.h"
#include "secret.h"
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
	    (err = aif_secret_load(cfg->auth.pepper_file, &a->pepper,
	    &a->pepper_len)) != AIF_OK) {
		char why[AIF_SECRET_WHY_MAX];
		aif_error("msg=\"cannot load key pepper\" path=%s error=\"%s\"",
		    cfg->auth.pepper_file, aif_secret_why(cfg->auth.pepper_file, err, why,
		    sizeof(why)));
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
	aif_secret_free(a->pepper, a->pepper_len);
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

/* The principal a key row stands for. */
static void
principal_of(const struct aif_key_row *row, struct aif_principal *who)
{
	memset(who, 0, sizeof(*who));
	who->key_id = row->id;
	who->lineage_id = row->lineage_id;
	aif_strlcpy(who->key_prefix, row->key_prefix, sizeof(who->key_prefix));
	aif_strlcpy(who->name, row->name, sizeof(who->name));
	aif_strlcpy(who->role, row->role, sizeof(who->role));
	aif_strlcpy(who->tenant, row->tenant, sizeof(who->tenant));
	who->max_priority = row->max_priority;
	who->rpm = row->rpm;
	who->tpm = row->tpm;
	who->monthly_budget_micros = row->monthly_budget_micros;
}

enum aif_err
aif_auth_check(struct aif_auth *a, struct aif_db *db, const char *authorization,
    struct aif_principal *out)
{
	unsigned char hash[AIF_KEY_HASH_LEN];
	struct aif_principal who;
	struct aif_key_row row;
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

	err = aif_keystore_by_hash(db, hash, &row);
	if (err != AIF_OK && err != AIF_NOTFOUND)
		return AIF_UNAVAILABLE;
	memset(&who, 0, sizeof(who));
	if (err == AIF_OK && row.secret_hash_len == AIF_KEY_HASH_LEN &&
	    aif_apikey_hash_equal(row.secret_hash, hash)) {
		principal_of(&row, &who);
		found = 1;
	}
	cache_put(a, hash, &who, found);
	if (!found)
		return AIF_AUTH;
	*out = who;
	return AIF_OK;
}

enum aif_err
aif_auth_new_secret(const struct aif_auth *a, char *key_out,
    unsigned char hash_out[AIF_KEY_HASH_LEN], char prefix_out[AIF_KEY_DISPLAY_LEN + 1])
{
	enum aif_err err;

	if ((err = aif_apikey_generate(key_out)) != AIF_OK)
		return err;
	aif_apikey_hash(a->pepper, a->pepper_len, key_out, AIF_KEY_LEN, hash_out);
	aif_apikey_display(key_out, prefix_out);
	return AIF_OK;
}

enum aif_err
aif_auth_principal_by_lineage(struct aif_db *db, uint64_t lineage,
    struct aif_principal *out)
{
	struct aif_key_row row;
	uint64_t newer = 0;
	enum aif_err err;

	memset(out, 0, sizeof(*out));
	/* the newest live key of the lineage: a successor, else the first key itself */
	err = aif_keystore_newer_live(db, lineage, lineage, &newer);
	if (err != AIF_OK && err != AIF_NOTFOUND)
		return err;
	if ((err = aif_keystore_get(db, err == AIF_OK ? newer : lineage, &row)) != AIF_OK)
		return err;
	if (!row.active)
		return AIF_NOTFOUND;
	principal_of(&row, out);
	return AIF_OK;
}
