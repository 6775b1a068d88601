/* router.c -- the first steps of every request: request id, method and path, the route
 * table (404 for unknown routes, 405 with Allow for a wrong method), authentication
 * (401; 503 when the database is unreachable), the role's endpoint check or, for the
 * admin routes, the admin role (403), then the route's handler. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "log.h"
#include "responses.h"
#include "span.h"

#define AIF_BEARER_MAX	128	/* "Bearer " and a key from x-api-key */

/* How a route is matched against the path. */
enum match { EXACT, ONE_ID, SUBTREE };

struct route;

/* A route handler: who is NULL for the routes without authentication. */
typedef void	(*handler_fn)(struct req *r, const struct aif_principal *who,
		    const struct route *rt, const char *id);

struct route {
	const char	*prefix;	/* exact path, or prefix ending in '/' for {id} */
	enum match	 match;		/* SUBTREE: the prefix and anything below it,
					   methods checked by the handler */
	const char	*method;	/* "*" for any */
	const char	*endpoint;	/* role endpoint name, NULL: no auth */
	int		 admin_only;	/* for admin roles only (not by endpoint) */
	enum aif_kind	 kind;		/* of the jobs a completions route makes */
	handler_fn	 handle;
	enum aif_surface surface;	/* the API its clients speak (errors too) */
};

static void
h_healthz(struct req *r, const struct aif_principal *who, const struct route *rt,
    const char *id)
{
	(void)who;
	(void)rt;
	(void)id;
	route_healthz(r);
}

static void
h_readyz(struct req *r, const struct aif_principal *who, const struct route *rt,
    const char *id)
{
	(void)who;
	(void)rt;
	(void)id;
	route_readyz(r);
}

static void
h_metrics(struct req *r, const struct aif_principal *who, const struct route *rt,
    const char *id)
{
	const char *t = FCGX_GetParam("AIF_METRICS_TRUSTED", r->reply.fcgi->envp);

	(void)who;
	(void)rt;
	(void)id;
	route_metrics(r, t != NULL && strcmp(t, "1") == 0);
}

static void
h_admin(struct req *r, const struct aif_principal *who, const struct route *rt,
    const char *id)
{
	(void)who;
	(void)rt;
	(void)id;
	route_admin(r);
}

static void
h_console(struct req *r, const struct aif_principal *who, const struct route *rt,
    const char *id)
{
	(void)rt;
	(void)id;
	route_console(r, who);
}

/* chat, completions, embeddings and the engine-native kinds: the route says the kind */
static void
h_completions(struct req *r, const struct aif_principal *who, const struct route *rt,
    const char *id)
{
	(void)id;
	route_completions(r, who, rt->kind);
}

/* Anthropic's Messages API: a message, or the count of its tokens */
static void
h_messages(struct req *r, const struct aif_principal *who, const struct route *rt,
    const char *id)
{
	(void)id;
	route_messages(r, who, strcmp(rt->prefix, "/v1/messages/count_tokens") == 0);
}

/* Refuses a method the path does not take, naming those it does. */
static void
wrong_method(struct req *r, const char *allow)
{
	reply_header(&r->reply, "Allow", allow);
	REFUSE(&r->reply, AIF_E_METHOD_NOT_ALLOWED, NULL, r->method, r->path);
}

/* The Responses API: POST /v1/responses, POST /v1/responses/input_tokens, GET and
 * DELETE /v1/responses/{id}, POST /v1/responses/{id}/cancel */
static void
h_responses(struct req *r, const struct aif_principal *who, const struct route *rt,
    const char *id)
{
	const char *rest = r->path + strlen(rt->prefix), *slash;
	char rid[AIF_RESP_ID_MAX];
	int post = strcmp(r->method, "POST") == 0;

	(void)id;
	if (*rest == '\0' || strcmp(rest, "/input_tokens") == 0) {
		if (!post)
			wrong_method(r, "POST");
		else
			route_responses_create(r, who, *rest != '\0');
		return;
	}
	rest++;
	slash = strchr(rest, '/');
	if ((size_t)(slash != NULL ? slash - rest : (ptrdiff_t)strlen(rest)) >= sizeof(rid) ||
	    (slash != NULL && strcmp(slash, "/cancel") != 0) || *rest == '/') {
		REFUSE(&r->reply, AIF_E_UNKNOWN_URL, NULL, r->method, r->path);
		return;
	}
	aif_strlcpy(rid, rest, slash != NULL ? (size_t)(slash - rest) + 1 : sizeof(rid));
	if (slash != NULL && !post)
		wrong_method(r, "POST");
	else if (slash == NULL && strcmp(r->method, "GET") != 0 &&
	    strcmp(r->method, "DELETE") != 0)
		wrong_method(r, "GET, DELETE");
	else
		route_responses_item(r, who, rid, slash != NULL ? "cancel" : NULL);
}

static void
h_models(struct req *r, const struct aif_principal *who, const struct route *rt,
    const char *id)
{
	(void)who;
	(void)rt;
	route_models(r, id);
}

static void
h_jobs(struct req *r, const struct aif_principal *who, const struct route *rt,
    const char *id)
{
	(void)rt;
	(void)id;
	route_jobs(r, who);
}

/* POST /v1/workflows/{name}/runs */
static void
h_workflows(struct req *r, const struct aif_principal *who, const struct route *rt,
    const char *id)
{
	const char *rest = r->path + strlen("/v1/workflows"), *slash;
	char name[AIF_MODEL_ID_MAX + 1];

	(void)rt;
	(void)id;
	rest += *rest == '/';
	slash = strchr(rest, '/');
	if (slash == NULL || slash == rest || (size_t)(slash - rest) > AIF_MODEL_ID_MAX ||
	    strcmp(slash, "/runs") != 0) {
		REFUSE(&r->reply, AIF_E_UNKNOWN_URL, NULL, r->method, r->path);
		return;
	}
	if (strcmp(r->method, "POST") != 0) {
		reply_header(&r->reply, "Allow", "POST");
		REFUSE(&r->reply, AIF_E_METHOD_USE, NULL, "POST", r->path);
		return;
	}
	memcpy(name, rest, (size_t)(slash - rest));
	name[slash - rest] = '\0';
	route_workflow_runs(r, who, name);
}

static void
h_files(struct req *r, const struct aif_principal *who, const struct route *rt,
    const char *id)
{
	(void)rt;
	(void)id;
	route_files(r, who);
}

static void
h_batches(struct req *r, const struct aif_principal *who, const struct route *rt,
    const char *id)
{
	(void)rt;
	(void)id;
	route_batches(r, who);
}

static const struct route routes[] = {
	{ "/healthz", EXACT, "GET", NULL, 0, 0, h_healthz, AIF_SURFACE_OPENAI },
	{ "/readyz", EXACT, "GET", NULL, 0, 0, h_readyz, AIF_SURFACE_OPENAI },
	{ "/metrics", EXACT, "GET", NULL, 0, 0, h_metrics, AIF_SURFACE_OPENAI },
	{ "/admin/keys", SUBTREE, "*", "admin", 1, 0, h_admin, AIF_SURFACE_OPENAI },
	{ "/admin/overview", EXACT, "*", "admin", 1, 0, h_console, AIF_SURFACE_OPENAI },
	{ "/admin/jobs", SUBTREE, "*", "admin", 1, 0, h_console, AIF_SURFACE_OPENAI },
	{ "/v1/chat/completions", EXACT, "POST", "chat", 0, AIF_KIND_CHAT, h_completions,
	    AIF_SURFACE_OPENAI },
	{ "/v1/completions", EXACT, "POST", "completions", 0, AIF_KIND_COMPLETION,
	    h_completions, AIF_SURFACE_OPENAI },
	{ "/v1/embeddings", EXACT, "POST", "embeddings", 0, AIF_KIND_EMBEDDING,
	    h_completions, AIF_SURFACE_OPENAI },
	{ "/v1/rerank", EXACT, "POST", "rerank", 0, AIF_KIND_RERANK, h_completions,
	    AIF_SURFACE_OPENAI },
	{ "/v1/score", EXACT, "POST", "score", 0, AIF_KIND_SCORE, h_completions,
	    AIF_SURFACE_OPENAI },
	{ "/v1/tokenize", EXACT, "POST", "tokenize", 0, AIF_KIND_TOKENIZE, h_completions,
	    AIF_SURFACE_OPENAI },
	{ "/v1/detokenize", EXACT, "POST", "tokenize", 0, AIF_KIND_DETOKENIZE,
	    h_completions, AIF_SURFACE_OPENAI },
	{ "/v1/messages", EXACT, "POST", "messages", 0, AIF_KIND_CHAT, h_messages,
	    AIF_SURFACE_ANTHROPIC },
	{ "/v1/messages/count_tokens", EXACT, "POST", "messages", 0, AIF_KIND_CHAT,
	    h_messages, AIF_SURFACE_ANTHROPIC },
	{ "/v1/responses", SUBTREE, "*", "responses", 0, AIF_KIND_CHAT, h_responses,
	    AIF_SURFACE_RESPONSES },
	{ "/v1/models", EXACT, "GET", "models", 0, 0, h_models, AIF_SURFACE_OPENAI },
	{ "/v1/models/", ONE_ID, "GET", "models", 0, 0, h_models, AIF_SURFACE_OPENAI },
	{ "/v1/jobs", SUBTREE, "*", "jobs", 0, 0, h_jobs, AIF_SURFACE_OPENAI },
	{ "/v1/files", SUBTREE, "*", "files", 0, 0, h_files, AIF_SURFACE_OPENAI },
	{ "/v1/batches", SUBTREE, "*", "batches", 0, 0, h_batches, AIF_SURFACE_OPENAI },
	{ "/v1/workflows", SUBTREE, "*", "workflows", 0, 0, h_workflows,
	    AIF_SURFACE_OPENAI },
};

/* Matches path against a route; *id points into path for {id} routes. */
static int
match(const struct route *rt, const char *path, const char **id)
{
	size_t n = strlen(rt->prefix);

	*id = NULL;
	switch (rt->match) {
	case SUBTREE:
		return strncmp(path, rt->prefix, n) == 0 && (path[n] == '\0' || path[n] == '/');
	case EXACT:
		return strcmp(path, rt->prefix) == 0;
	case ONE_ID:
		if (strncmp(path, rt->prefix, n) != 0 || path[n] == '\0' ||
		    strchr(path + n, '/') != NULL)
			return 0;
		*id = path + n;
		return 1;
	}
	return 0;
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

/* The route of method and path; NULL with *allow set when only the method is wrong. */
static const struct route *
find(const char *method, const char *path, const char **id, const char **allow)
{
	*allow = NULL;
	for (size_t i = 0; i < AIF_NELEM(routes); i++) {
		const char *rid;
		if (!match(&routes[i], path, &rid))
			continue;
		if (strcmp(routes[i].method, "*") == 0 || strcmp(routes[i].method, method) == 0) {
			*id = rid;
			return &routes[i];
		}
		*allow = routes[i].method;
	}
	return NULL;
}

/* The Authorization header; for Anthropic's surface without one, its x-api-key as a
 * bearer token (in buf, cap bytes; an oversized key stays unreadable: 401). */
static const char *
credentials(struct req *r, const struct route *rt, char *buf, size_t cap)
{
	const char *auth = FCGX_GetParam("HTTP_AUTHORIZATION", r->reply.fcgi->envp);
	const char *key = FCGX_GetParam("HTTP_X_API_KEY", r->reply.fcgi->envp);
	int n;

	if (auth != NULL || rt->surface != AIF_SURFACE_ANTHROPIC || key == NULL)
		return auth;
	n = snprintf(buf, cap, "Bearer %s", key);
	return n > 0 && (size_t)n < cap ? buf : NULL;
}

void
api_handle(struct req *r)
{
	const char *uri = FCGX_GetParam("DOCUMENT_URI", r->reply.fcgi->envp);
	const struct route *rt;
	struct aif_principal who;
	const char *id = NULL, *allow;
	char bearer[AIF_BEARER_MAX];
	enum aif_err err;

	set_request_id(r);
	if (aif_span_enabled())
		r->reply.span.start_ns = aif_span_now_ns();
	r->method = FCGX_GetParam("REQUEST_METHOD", r->reply.fcgi->envp);
	if (uri == NULL)
		uri = FCGX_GetParam("SCRIPT_NAME", r->reply.fcgi->envp);
	if (r->method == NULL || uri == NULL) {
		REFUSE0(&r->reply, AIF_E_BAD_REQUEST, NULL);
		return;
	}
	if (strlen(uri) >= sizeof(r->path)) {
		REFUSE0(&r->reply, AIF_E_PATH_TOO_LONG, NULL);
		return;
	}
	aif_strlcpy(r->path, uri, sizeof(r->path));
	if (strncmp(r->path, "/v1/messages", 12) == 0)	/* its 404 and 405 too */
		r->reply.surface = AIF_SURFACE_ANTHROPIC;
	if ((rt = find(r->method, r->path, &id, &allow)) == NULL) {
		if (allow != NULL) {
			reply_header(&r->reply, "Allow", allow);
			REFUSE(&r->reply, AIF_E_METHOD_NOT_ALLOWED, NULL, r->method, r->path);
		} else {
			REFUSE(&r->reply, AIF_E_UNKNOWN_URL, NULL, r->method, r->path);
		}
		return;
	}
	r->reply.route = rt->endpoint != NULL ? rt->endpoint : rt->prefix + 1;
	r->reply.span.route = rt->prefix;
	r->reply.surface = rt->surface;
	if (rt->endpoint == NULL) {
		rt->handle(r, NULL, rt, id);
		return;
	}
	err = aif_auth_check(r->api->auth, r->db, credentials(r, rt, bearer, sizeof(bearer)),
	    &who);
	if (err == AIF_UNAVAILABLE) {
		REFUSE0(&r->reply, AIF_E_DB_UNAVAILABLE, NULL);
		return;
	}
	if (err != AIF_OK) {
		REFUSE0(&r->reply, AIF_E_INVALID_API_KEY, NULL);
		return;
	}
	r->role = aif_cfg_role(r->cfg, who.role);
	if (rt->admin_only && (r->role == NULL || !r->role->admin)) {
		REFUSE0(&r->reply, AIF_E_ADMIN_ONLY, NULL);
		return;
	}
	if (!rt->admin_only &&
	    (r->role == NULL || !aif_cfg_role_allows_endpoint(r->role, rt->endpoint))) {
		REFUSE0(&r->reply, AIF_E_ENDPOINT_FORBIDDEN, NULL);
		return;
	}
	rt->handle(r, &who, rt, id);
}
