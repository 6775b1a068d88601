/* route_admin.c -- the admin HTTP API for API keys, for keys whose role is admin:
 *   GET  /admin/keys                 list (no secrets)
 *   POST /admin/keys                 create {name, role, tenant?, rpm?, tpm?,
 *                                    monthly_budget_micros?, max_priority?, expires_in_s?}
 *                                    -> 201 with the secret, shown once
 *   GET  /admin/keys/{id}            one key
 *   POST /admin/keys/{id}/revoke     revoke now (takes effect on every aif-api process
 *                                    within the auth cache lifetime, 2 s)
 *   POST /admin/keys/{id}/rotate     {grace_s?} new secret, same attributes, expiry and
 *                                    lineage; the old key expires after grace_s (0:
 *                                    revoked now). 409 key_not_active for a revoked or
 *                                    expired key, 409 key_already_rotated for a key with
 *                                    a live successor (core/gate/keys.h) */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api.h"
#include "keys.h"
#include "text.h"

#define ADMIN_BODY_MAX	8192

static json_t *
read_json(struct req *r)
{
	char buf[ADMIN_BODY_MAX + 1];
	int n = FCGX_GetStr(buf, ADMIN_BODY_MAX + 1, r->reply.fcgi->in);

	if (n < 0 || n > ADMIN_BODY_MAX)
		return NULL;
	if (n == 0)
		return json_object();
	return json_loadb(buf, (size_t)n, JSON_REJECT_DUPLICATES, NULL);
}

static int64_t
opt_int(json_t *o, const char *k, int64_t def, int64_t min, int64_t max, int *bad)
{
	json_t *v = json_object_get(o, k);

	if (v == NULL || json_is_null(v))
		return def;
	if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max) {
		*bad = 1;
		return def;
	}
	return json_integer_value(v);
}

static void
answer(struct req *r, enum aif_err err, int status, json_t *v)
{
	if (err == AIF_OK)
		reply_json(&r->reply, status, NULL, v);
	else if (err == AIF_NOTFOUND)
		REFUSE0(&r->reply, AIF_E_KEY_NOT_FOUND, "id");
	else
		REFUSE0(&r->reply, AIF_E_DB_UNAVAILABLE, NULL);
	json_decref(v);
}

/* 400 invalid_value naming `field`, with a message saying what is expected. */
static void
invalid(struct req *r, const char *field, const char *expected)
{
	REFUSE(&r->reply, AIF_E_INVALID_VALUE, field, expected);
}

static void
create(struct req *r)
{
	json_t *body = read_json(r), *out = NULL;
	struct aif_key_attrs a;
	int bad = 0;

	if (!json_is_object(body)) {
		char max[16];
		json_decref(body);
		snprintf(max, sizeof(max), "%d", ADMIN_BODY_MAX);
		REFUSE(&r->reply, AIF_E_ADMIN_BODY_INVALID, NULL, max);
		return;
	}
	memset(&a, 0, sizeof(a));
	a.name = json_string_value(json_object_get(body, "name"));
	a.role = json_string_value(json_object_get(body, "role"));
	a.tenant = json_string_value(json_object_get(body, "tenant"));
	a.rpm = opt_int(body, "rpm", -1, 0, 1000000000, &bad);
	a.tpm = opt_int(body, "tpm", -1, 0, 100000000000LL, &bad);
	a.monthly_budget_micros = opt_int(body, "monthly_budget_micros", -1, 0,
	    INT64_MAX / 4, &bad);
	a.max_priority = (int)opt_int(body, "max_priority", -1, 0, 9, &bad);
	a.expires_in_s = opt_int(body, "expires_in_s", 0, 0, 10LL * 365 * 86400, &bad);
	/* names and tenants: core/base/text.h (no control or invisible characters) */
	if (!aif_name_valid(a.name, NULL)) {
		invalid(r, "name", "'name' is required: 1 to 128 bytes of UTF-8 without "
		    "control or invisible characters, no space at either end.");
	} else if (a.role == NULL || aif_cfg_role(r->cfg, a.role) == NULL) {
		invalid(r, "role", "'role' must name a role of the configuration.");
	} else if (a.tenant != NULL && !aif_name_valid(a.tenant, NULL)) {
		invalid(r, "tenant", "'tenant' must be 1 to 128 bytes of UTF-8 without "
		    "control or invisible characters, no space at either end.");
	} else if (bad) {
		invalid(r, NULL, "rpm, tpm, monthly_budget_micros, max_priority (0..9) and "
		    "expires_in_s must be non-negative integers in range.");
	} else {
		enum aif_err err = aif_keys_create(r->api->auth, r->db, &a, &out);
		answer(r, err, 201, out);
	}
	json_decref(body);
}

/* POST /admin/keys/{id}/rotate: 201 with the successor, or 409 when key id is not live
 * or already has a live successor (core/gate/keys.h). */
static void
rotate(struct req *r, uint64_t id, int64_t grace_s)
{
	char ids[2][24];
	uint64_t next = 0;
	json_t *out = NULL;
	enum aif_err err = aif_keys_rotate(r->api->auth, r->db, id, grace_s, &out, &next);

	snprintf(ids[0], sizeof(ids[0]), "%" PRIu64, id);
	snprintf(ids[1], sizeof(ids[1]), "%" PRIu64, next);
	if (err == AIF_FORBIDDEN)
		REFUSE(&r->reply, AIF_E_KEY_NOT_ACTIVE, "id", ids[0]);
	else if (err == AIF_CONFLICT)
		REFUSE(&r->reply, AIF_E_KEY_ALREADY_ROTATED, "id", ids[0], ids[1]);
	else
		answer(r, err, 201, out);
}

void
route_admin(struct req *r)
{
	const char *rest = r->path + strlen("/admin/keys");
	int get = strcmp(r->method, "GET") == 0, post = strcmp(r->method, "POST") == 0;
	json_t *out = NULL;
	int64_t id = 0;
	char *end;

	/* the router let only admin roles in */
	if (*rest == '\0') {
		if (get) {
			enum aif_err err = aif_keys_list(r->db, 1000, &out);
			answer(r, err, 200, err == AIF_OK ?
			    json_pack("{s:s,s:o}", "object", "list", "data", out) : NULL);
		}
		else if (post)
			create(r);
		else {
			reply_header(&r->reply, "Allow", "GET, POST");
			REFUSE(&r->reply, AIF_E_METHOD_USE, NULL, "GET or POST", "/admin/keys");
		}
		return;
	}
	if (*rest != '/' || rest[1] < '1' || rest[1] > '9' ||
	    (id = strtoll(rest + 1, &end, 10)) <= 0) {
		REFUSE(&r->reply, AIF_E_UNKNOWN_URL, NULL, r->method, r->path);
		return;
	}
	if (*end == '\0' && get) {
		enum aif_err err = aif_keys_show(r->db, (uint64_t)id, &out);
		answer(r, err, 200, out);
	} else if (strcmp(end, "/revoke") == 0 && post) {
		enum aif_err err = aif_keys_revoke(r->db, (uint64_t)id);
		if (err == AIF_OK)
			err = aif_keys_show(r->db, (uint64_t)id, &out);
		answer(r, err, 200, out);
	} else if (strcmp(end, "/rotate") == 0 && post) {
		json_t *body = read_json(r);
		int bad = 0;
		int64_t grace = opt_int(body, "grace_s", 0, 0, 30LL * 86400, &bad);
		json_decref(body);
		if (bad) {
			invalid(r, "grace_s", "'grace_s' must be 0 to 2592000 seconds.");
			return;
		}
		rotate(r, (uint64_t)id, grace);
	} else if (*end == '\0' || strcmp(end, "/revoke") == 0 || strcmp(end, "/rotate") == 0) {
		reply_header(&r->reply, "Allow", *end == '\0' ? "GET" : "POST");
		REFUSE(&r->reply, AIF_E_METHOD_NOT_ALLOWED, NULL, r->method, r->path);
	} else {
		REFUSE(&r->reply, AIF_E_UNKNOWN_URL, NULL, r->method, r->path);
	}
}
