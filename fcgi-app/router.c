/* router.c -- the first steps of every request: request id, method and path, the route
 * table (404 for unknown routes, 405 with Allow for a wrong method), authentication
 * (401; 503 when the database is unreachable), the role's endpoint check (403), then
 * the route handler. */
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <strings.h>

#include "api.h"
#include "log.h"

enum route_id { R_READYZ, R_METRICS, R_ADMIN_KEYS, R_CHAT, R_COMPLETIONS, R_EMBEDDINGS, R_MODELS, R_MODEL, R_JOB, R_HEALTHZ };

struct route {
	enum route_id	 id;
	const char	*prefix;	/* exact path, or prefix ending in '/' for {id} */
	int		 has_id;	/* 1: one {id} segment; 2: the prefix and anything
					   below it, methods checked by the handler */
	const char	*method;
	const char	*endpoint;	/* role endpoint name, NULL: no auth */
};

static const struct route routes[] = {
	{ R_READYZ, "/readyz", 0, "GET", NULL },
	{ R_METRICS, "/metrics", 0, "GET", NULL },
	{ R_ADMIN_KEYS, "/admin/keys", 2, "*", "admin" },
	{ R_CHAT, "/v1/chat/completions", 0, "POST", "chat" },
	{ R_COMPLETIONS, "/v1/completions", 0, "POST", "completions" },
	{ R_EMBEDDINGS, "/v1/embeddings", 0, "POST", "embeddings" },
	{ R_MODELS, "/v1/models", 0, "GET", "models" },
	{ R_MODEL, "/v1/models/", 1, "GET", "models" },
	{ R_JOB, "/v1/jobs", 2, "*", "jobs" },
	{ R_HEALTHZ, "/healthz", 0, "GET", NULL },
};

/* Matches path against a route; *id points into path for {id} routes. */
static int
match(const struct route *rt, const char *path, const char **id)
{
	size_t n = strlen(rt->prefix);

	*id = NULL;
	if (rt->has_id == 2)
		return strncmp(path, rt->prefix, n) == 0 && (path[n] == '\0' || path[n] == '/');
	if (!rt->has_id)
		return strcmp(path, rt->prefix) == 0;
	if (strncmp(path, rt->prefix, n) != 0 || path[n] == '\0' ||
	    strchr(path + n, '/') != NULL)
		return 0;
	*id = path + n;
	return 1;
}

static void
set_request_id(struct req *r)
{
	const char *rid = FCGX_GetParam("AIF_REQUEST_ID", r->reply.fcgi->envp);
	size_t n = rid != NULL ? strlen(rid) : 0;
	int ok = n > 0 && n + 4 <= AIF_REQUEST_ID_MAX;

	for (size_t i = 0; ok && i < n; i++)
		if (!((rid[i] >= '0' && rid[i] <= '9') || (rid[i] >= 'a' && rid[i] <= 'z') ||
		    (rid[i] >= 'A' && rid[i] <= 'Z') || rid[i] == '-' || rid[i] == '_'))
			ok = 0;
	if (ok)
		snprintf(r->reply.request_id, sizeof(r->reply.request_id), "req_%s", rid);
	else if (aif_random_id("req_", 24, r->reply.request_id,
	    sizeof(r->reply.request_id)) != AIF_OK)
		aif_strlcpy(r->reply.request_id, "req_unknown", sizeof(r->reply.request_id));
}

void
api_handle(struct req *r)
{
	const char *uri = FCGX_GetParam("DOCUMENT_URI", r->reply.fcgi->envp);
	const struct route *found = NULL;
	struct aif_principal who;
	const char *id = NULL;
	char allow[64] = "";
	enum aif_err err;

	set_request_id(r);
	r->method = FCGX_GetParam("REQUEST_METHOD", r->reply.fcgi->envp);
	if (uri == NULL)
		uri = FCGX_GetParam("SCRIPT_NAME", r->reply.fcgi->envp);
	if (r->method == NULL || uri == NULL) {
		reply_fail(&r->reply, 400, "invalid_request_error", NULL, NULL,
		    "Malformed request.");
		return;
	}
	if (strlen(uri) >= sizeof(r->path)) {
		reply_fail(&r->reply, 404, "invalid_request_error", "unknown_url", NULL,
		    "Invalid URL: the path is too long.");
		return;
	}
	aif_strlcpy(r->path, uri, sizeof(r->path));
	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
		const char *rid;
		if (!match(&routes[i], r->path, &rid))
			continue;
		if (strcmp(routes[i].method, "*") == 0 ||
		    strcmp(routes[i].method, r->method) == 0) {
			found = &routes[i];
			id = rid;
			break;
		}
		snprintf(allow, sizeof(allow), "Allow: %s\r\n", routes[i].method);
	}
	if (found == NULL) {
		if (allow[0] != '\0') {
			struct aif_oai_error e;
			char *s;
			aif_oai_error_set(&e, 405, "invalid_request_error",
			    "method_not_allowed", NULL,
			    "Method %.16s is not allowed on %.128s.", r->method, r->path);
			if ((s = aif_oai_error_json(&e)) != NULL) {
				reply_send(&r->reply, 405, allow, s, strlen(s));
				free(s);
			} else {
				reply_error(&r->reply, &e);
			}
			return;
		}
		reply_fail(&r->reply, 404, "invalid_request_error", "unknown_url", NULL,
		    "Invalid URL (%.16s %.128s)", r->method, r->path);
		return;
	}
	r->reply.route = found->endpoint != NULL ? found->endpoint : found->prefix + 1;
	if (found->id == R_HEALTHZ) {
		static const char ok[] = "{\"status\":\"ok\"}";
		reply_send(&r->reply, 200, NULL, ok, sizeof(ok) - 1);
		return;
	}
	if (found->id == R_READYZ) {
		route_readyz(r);
		return;
	}
	if (found->id == R_METRICS) {
		const char *t = FCGX_GetParam("AIF_METRICS_TRUSTED", r->reply.fcgi->envp);
		route_metrics(r, t != NULL && strcmp(t, "1") == 0);
		return;
	}

	err = aif_auth_check(r->api->auth, r->db,
	    FCGX_GetParam("HTTP_AUTHORIZATION", r->reply.fcgi->envp), &who);
	if (err == AIF_UNAVAILABLE) {
		reply_fail(&r->reply, 503, "server_error", "database_unavailable", NULL,
		    "The service is temporarily unavailable, please retry shortly.");
		return;
	}
	if (err != AIF_OK) {
		reply_fail(&r->reply, 401, "invalid_request_error", "invalid_api_key", NULL,
		    "Incorrect or missing API key. Send it as 'Authorization: Bearer <key>'.");
		return;
	}
	const struct aif_role *role = aif_cfg_role(r->cfg, who.role);
	if (found->id == R_ADMIN_KEYS) {
		route_admin(r, &who);	/* admin roles only, checked there */
		return;
	}
	if (role == NULL || !aif_cfg_role_allows_endpoint(role, found->endpoint)) {
		reply_fail(&r->reply, 403, "permission_denied", "endpoint_forbidden", NULL,
		    "Your key's role may not use this endpoint.");
		return;
	}
	switch (found->id) {
	case R_CHAT:
		route_completions(r, &who, AIF_KIND_CHAT);
		break;
	case R_COMPLETIONS:
		route_completions(r, &who, AIF_KIND_COMPLETION);
		break;
	case R_EMBEDDINGS:
		route_completions(r, &who, AIF_KIND_EMBEDDING);
		break;
	case R_MODELS:
		route_models(r, &who, NULL);
		break;
	case R_MODEL:
		route_models(r, &who, id);
		break;
	case R_JOB:
		route_jobs(r, &who);
		break;
	case R_HEALTHZ:
	case R_READYZ:
	case R_METRICS:
	case R_ADMIN_KEYS:
		break;
	}
}
