/* admit.c -- POST /v1/chat/completions, /v1/completions and /v1/embeddings: admission
 * as an ordered table of phases, as nginx runs its phase handlers:
 *
 *   content type -> body -> parse -> model and role (and what the request may cost)
 *   -> headers -> PII -> request hash -> idempotency -> tenant's queue cap
 *   -> rate limits -> budget -> enqueue -> answer
 *
 * Each phase is a short function that returns AIF_OK to go on, or refuses the request
 * with an error of the table (apierr.h) written into the admission. A phase may also
 * answer the request itself (an idempotent attach, the answer phase) and mark it done.
 * Sync, async and stream requests share every phase; they differ in the answer: 202
 * with the job (Prefer: respond-async), the request parked until its job is final
 * (completer.c), or parked as a stream (streams.c). Everything an admission allocates
 * is released in one place at its end. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/sha.h>

#include "anthropic.h"
#include "api.h"
#include "budget.h"
#include "handoff.h"
#include "ledger.h"
#include "log.h"
#include "metrics.h"
#include "netbell.h"
#include "pii.h"
#include "responses.h"
#include "span.h"
#include "tracectx.h"
#include "queue.h"
#include "ratelimit.h"
#include "runs.h"

#define IDEMPOTENCY_KEY_MAX	255

/* One request going through admission. */
struct admission {
	struct req		*r;
	const struct aif_principal *who;	/* borrowed */
	const struct aif_role	*role;		/* borrowed from r->cfg */
	const struct aif_tenant	*tenant;	/* the caller's, borrowed from r->cfg, or
						   NULL */
	enum aif_kind		 kind;
	char			*body;		/* new */
	size_t			 len;
	struct aif_oai_req	 oreq;		/* owns the parsed body */
	const struct aif_model	*model;		/* borrowed from r->cfg, or NULL for a
						   workflow */
	const struct aif_workflow *workflow;	/* borrowed from r->cfg, or NULL */
	const char		*model_id;	/* the model's or the workflow's name */
	const char		*idem;		/* Idempotency-Key, borrowed, or NULL */
	int			 prio;
	int			 async;
	int64_t			 max_out;	/* the answer's worst case, in tokens */
	int64_t			 prompt_bound;	/* the prompt's worst case, in tokens */
	int64_t			 wait_ms;	/* the caller waits at most this (sync); how
						   long the job may stay queued (0: no limit) */
	int			 zero_retention; /* the model's or the role's */
	unsigned char		 relay_secret[AIF_RELAY_SECRET_BYTES];
	char			*pii_json;	/* new, or NULL */
	char			*stored;	/* the masked request as stored, new */
	size_t			 stored_len;
	unsigned char		 sha[SHA256_DIGEST_LENGTH];
	struct aif_rl_plan	 limits;
	struct aif_budget_plan	 budget;
	uint64_t		 id;		/* the job, once enqueued */
	char			 public_id[AIF_JOB_ID_LEN + 1];
	int			 handed;	/* written leased to handoff_worker */
	uint64_t		 handoff_worker;	/* the worker it was offered to, 0 */
	char			 handoff_bell[AIF_DOORBELL_PATH_MAX];	/* its doorbell */
	char			*take_bell;	/* "take" with the handed job (handoff.h),
						   new, or NULL: the plain bell */
	size_t			 take_bell_len;
	const struct aif_console_retry *retry;	/* POST /admin/jobs/{id}/retry: the
						   job sent again, borrowed; else NULL */
	int			 count_only;	/* POST /v1/messages/count_tokens and
						   /v1/responses/input_tokens: answered after
						   the model phase, no job */
	enum aif_kind		 native;	/* the surface's kind when the model's
						   engine serves it itself (pass-through),
						   else 0 */
	char			*native_text;	/* then the surface's body as it came
						   (new), else NULL */
	size_t			 native_len;
	struct aif_resp_ask	 resp;		/* the Responses API: what it asks of us */
	json_t			*resp_md;	/* and its metadata (new), or NULL */
	int			 run_api;	/* POST /v1/workflows/{name}/runs */
	const char		*run_name;	/* its {name}, borrowed */
	int			 done;		/* a phase answered the request */
	struct aif_error	 err;		/* the refusal */
	char			 guard_names[AIF_GUARD_NAMES_MAX];	/* the job's
						   guardrails with work for a worker */
	uint64_t		 batch_id;	/* a batch's line (admit_line): its
						   batch, else 0 */
	uint32_t		 batch_line;	/* and its line */
	int64_t			 retry_after_ms; /* a line's rate limit: wait this */
	char			 trace[AIF_TRACEPARENT_LEN + 1];	/* the job's */
	char			 link[AIF_TRACEPARENT_LEN + 1];
};

/* Refuses with an error of the table (the message's details as strings). */
#define DENY0(a, e, param)	(AIF_ERROR0(&(a)->err, (e), (param)), AIF_INVALID)
#define DENY(a, e, param, ...)	(AIF_ERROR(&(a)->err, (e), (param), __VA_ARGS__), AIF_INVALID)

static const char *
param(const struct admission *a, const char *name)
{
	/* a batch's line has no HTTP request of its own */
	return a->r->reply.fcgi != NULL ? FCGX_GetParam(name, a->r->reply.fcgi->envp) : NULL;
}

/* ---- the phases ------------------------------------------------------------------- */

static enum aif_err
content_type(struct admission *a)
{
	const char *ct = param(a, "CONTENT_TYPE");

	if (a->retry != NULL)
		return AIF_OK;	/* the body is the stored request, not the request's */
	if (ct == NULL || strncasecmp(ct, "application/json", 16) != 0 ||
	    (ct[16] != '\0' && ct[16] != ';' && ct[16] != ' '))
		return DENY0(a, AIF_E_UNSUPPORTED_MEDIA_TYPE, NULL);
	return AIF_OK;
}

/* Reads the body within server.max_body_bytes (the rest of a larger one is drained). */
static enum aif_err
read_body(struct admission *a)
{
	FCGX_Request *fr = a->r->reply.fcgi;
	const char *cl = param(a, "CONTENT_LENGTH");
	size_t max = a->r->cfg->server.max_body_bytes, n = 0;
	int64_t declared = 0;
	char lim[24];

	if (a->retry != NULL) {
		if ((a->body = malloc(a->retry->request_len + 1)) == NULL)
			return DENY0(a, AIF_E_OUT_OF_MEMORY, NULL);
		memcpy(a->body, a->retry->request, a->retry->request_len);
		a->body[a->len = a->retry->request_len] = '\0';
		return AIF_OK;
	}
	if (cl != NULL && *cl != '\0' && aif_parse_i64(cl, 0, INT64_MAX, &declared) != 0)
		return DENY0(a, AIF_E_BODY_UNREADABLE, NULL);
	if ((size_t)declared > max) {
		char scratch[8192];
		while (FCGX_GetStr(scratch, sizeof(scratch), fr->in) > 0)
			;
		snprintf(lim, sizeof(lim), "%zu", max);
		return DENY(a, AIF_E_BODY_TOO_LARGE, NULL, lim);
	}
	if ((a->body = malloc((size_t)declared + 1)) == NULL)
		return DENY0(a, AIF_E_BODY_UNREADABLE, NULL);
	while (n < (size_t)declared) {
		int got = FCGX_GetStr(a->body + n, (int)((size_t)declared - n), fr->in);
		if (got <= 0)
			break;
		n += (size_t)got;
	}
	/* the end of the input (nginx sends it with the body): read, the connection
	   can close at once when the answer is out (reply_close_init) */
	if (n == (size_t)declared && !FCGX_HasSeenEOF(fr->in)) {
		char extra;
		(void)FCGX_GetStr(&extra, 1, fr->in);
	}
	a->body[n] = '\0';
	a->len = n;
	return AIF_OK;
}

/* Nesting of a JSON value (arrays and objects), stopping past max. */
static int
json_depth(const json_t *v, int max)
{
	const json_t *x;
	const char *k;
	size_t i;
	int d = 0, sub;

	if (max < 0)
		return 1;
	if (json_is_object(v)) {
		json_object_foreach((json_t *)v, k, x)
			if ((sub = json_depth(x, max - 1)) > d)
				d = sub;
	} else if (json_is_array(v)) {
		json_array_foreach(v, i, x)
			if ((sub = json_depth(x, max - 1)) > d)
				d = sub;
	} else {
		return 0;
	}
	return d + 1;
}

/* The body of POST /v1/workflows/{name}/runs: {"input": <any JSON>}, kept as
 * {"model": name, "input": ...} so that the phases after this one (PII screening, the
 * stored envelope) treat it as they treat a request. */
static enum aif_err
parse_run(struct admission *a)
{
	json_error_t je;
	json_t *body, *input;
	const char *k;
	json_t *v;
	char msg[300];

	if ((body = json_loadb(a->body, a->len, JSON_REJECT_DUPLICATES, &je)) == NULL) {
		snprintf(msg, sizeof(msg), "The body is not valid JSON (UTF-8): %.200s at "
		    "byte %d.", je.text, je.position);
		return DENY(a, AIF_E_WORKFLOW_BODY_INVALID, NULL, msg);
	}
	if (!json_is_object(body)) {
		json_decref(body);
		return DENY(a, AIF_E_WORKFLOW_BODY_INVALID, NULL,
		    "The body must be a JSON object: {\"input\": ...}.");
	}
	json_object_foreach(body, k, v)
		if (strcmp(k, "input") != 0) {
			snprintf(msg, sizeof(msg), "Unknown field '%.64s': a run takes only "
			    "\"input\".", k);
			json_decref(body);
			return DENY(a, AIF_E_WORKFLOW_BODY_INVALID, k, msg);
		}
	if (json_depth(body, a->r->cfg->server.max_json_depth) >
	    a->r->cfg->server.max_json_depth) {
		json_decref(body);
		snprintf(msg, sizeof(msg), "The input is nested deeper than %d.",
		    a->r->cfg->server.max_json_depth);
		return DENY(a, AIF_E_WORKFLOW_BODY_INVALID, "input", msg);
	}
	input = json_object_get(body, "input");
	a->oreq.body = json_pack("{s:s,s:O}", "model", a->run_name, "input",
	    input != NULL ? input : json_object());
	json_decref(body);
	if (input == NULL && a->oreq.body != NULL)
		json_object_set_new(a->oreq.body, "input", json_object());
	if (a->oreq.body == NULL)
		return DENY0(a, AIF_E_OUT_OF_MEMORY, NULL);
	a->oreq.model = json_string_value(json_object_get(a->oreq.body, "model"));
	a->oreq.kind = AIF_KIND_CHAT;
	a->oreq.prompt_tokens_estimate = 1;
	a->oreq.max_tokens = -1;
	return AIF_OK;
}

static enum aif_err	take_bridged(struct admission *a, json_t *chat);

/* When the model a bridged request (chat, borrowed) names serves the surface itself
 * (its kinds list `kind`; docs/ADAPTERS.md "Pass-through"), the body as it came is kept
 * for take_native (a count keeps it only to expand its history: counting is never
 * passed through). */
static void
keep_native(struct admission *a, const json_t *chat, enum aif_kind kind)
{
	const struct aif_model *m = aif_cfg_model(a->r->cfg,
	    json_string_value(json_object_get(chat, "model")));

	if (m == NULL || !(m->kinds & kind))
		return;
	a->native = kind;
	a->native_text = a->body;	/* take_bridged puts the bridged one in its place */
	a->native_len = a->len;
	a->body = NULL;
}

/* A Messages request (Anthropic's surface) becomes the chat completion request it is
 * bridged as: what follows admits, stores and runs that (anthropic.h). */
static enum aif_err
bridge_messages(struct admission *a)
{
	const struct aif_config *cfg = a->r->cfg;
	struct aif_anth_limits lim = {
		.max_body_bytes = cfg->server.max_body_bytes,
		.max_depth = cfg->server.max_json_depth,
		.max_messages = cfg->server.max_messages,
	};
	json_t *chat;

	if (aif_anth_to_chat(a->body, a->len, &lim, a->count_only, &chat, &a->err) != 0)
		return AIF_INVALID;
	keep_native(a, chat, AIF_KIND_MESSAGES);
	return take_bridged(a, chat);
}

/* The previous response a Responses request continues: the caller's own, completed
 * and kept. Its stored request and answer in *pr and *pa (new), whether its engine
 * served the API itself in *native. AIF_OK, or a refusal. */
static enum aif_err
previous_of(struct admission *a, json_t **pr, json_t **pa, int *native)
{
	struct aif_db *db = a->r->db;
	struct aif_job_view *v = NULL;
	char job[AIF_JOB_ID_LEN + 8], *req = NULL, *ans = NULL;
	size_t rlen = 0, alen = 0;
	enum aif_err err;
	int ok;

	*pr = *pa = NULL;
	if (aif_resp_job_id(a->resp.previous, job, sizeof(job)) != 0)
		return DENY(a, AIF_E_RESPONSE_NOT_FOUND, "previous_response_id",
		    a->resp.previous);
	err = aif_jobs_view_public(db, job, a->who->lineage_id, &v);
	if (err != AIF_OK && err != AIF_NOTFOUND)
		return DENY0(a, AIF_E_DB_UNAVAILABLE, NULL);
	ok = err == AIF_OK && strcmp(v->state, "succeeded") == 0 && !v->zero_retention &&
	    v->response_len >= 0 &&
	    aif_jobs_request_read(db, v->id, &req, &rlen) == AIF_OK &&
	    aif_jobs_response_read(db, v->id, a->r->cfg->server.max_answer_bytes, &ans,
	    &alen) == AIF_OK && (*pr = json_loadb(req, rlen, 0, NULL)) != NULL &&
	    (*pa = json_loadb(ans, alen, 0, NULL)) != NULL && aif_resp_is_response(*pr);
	*native = ok && v->kind == AIF_KIND_RESPONSES;
	aif_jobs_views_free(v, v != NULL ? 1 : 0);
	free(req);
	free(ans);
	if (ok)
		return AIF_OK;
	json_decref(*pr);
	json_decref(*pa);
	*pr = *pa = NULL;
	return DENY(a, AIF_E_RESPONSE_NOT_FOUND, "previous_response_id", a->resp.previous);
}

/* Refuses to continue a response across the two ways of serving the API. */
static enum aif_err
other_mode(struct admission *a, int prev_native)
{
	static const char *const how[] = { "bridged through chat completions",
	    "whose engine serves the Responses API itself" };

	return DENY(a, AIF_E_RESPONSE_OTHER_ENGINE_MODE, "previous_response_id",
	    a->resp.previous, how[prev_native ? 1 : 0], prev_native ? "is bridged" :
	    "serves it itself");
}

/* The previous response's messages and answer go before the request's input (chat,
 * the bridged request). */
static enum aif_err
chain_previous(struct admission *a, json_t *chat)
{
	json_t *pr, *pa;
	int native;
	enum aif_err err;

	if (previous_of(a, &pr, &pa, &native) != AIF_OK)
		return AIF_INVALID;
	if (native)
		err = other_mode(a, 1);
	else
		err = aif_resp_chain(chat, pr, pa, &a->err) == 0 ? AIF_OK : AIF_INVALID;
	json_decref(pr);
	json_decref(pa);
	return err;
}

/* Input items of a Responses request's input (borrowed): a string is one user
 * message. Appended to items. */
static int
items_of(json_t *items, const json_t *input)
{
	if (json_is_string(input))
		return json_array_append_new(items, json_pack("{s:s,s:s,s:O}", "type",
		    "message", "role", "user", "content", input));
	return json_is_array(input) ? json_array_extend(items, (json_t *)input) : 0;
}

/* Pass-through: the previous response's input (its own history included) and output
 * go before the request's input (body, the surface's request), as the engine would
 * have done had it kept the response. */
static enum aif_err
chain_native(struct admission *a, json_t *body)
{
	json_t *pr, *pa, *items;
	int native, bad;

	if (previous_of(a, &pr, &pa, &native) != AIF_OK)
		return AIF_INVALID;
	if (!native) {
		json_decref(pr);
		json_decref(pa);
		return other_mode(a, 0);
	}
	bad = (items = json_array()) == NULL ||
	    items_of(items, json_object_get(pr, "input")) != 0 ||
	    items_of(items, json_object_get(pa, "output")) != 0 ||
	    items_of(items, json_object_get(body, "input")) != 0;
	if (bad)
		json_decref(items);
	else	/* set_new releases items when it fails */
		bad = json_object_set_new(body, "input", items) != 0;
	json_decref(pr);
	json_decref(pa);
	return bad ? DENY0(a, AIF_E_OUT_OF_MEMORY, NULL) : AIF_OK;
}

/* Pass-through: what was checked and estimated of the bridged request stands (its
 * history in it: expand_native), and the request stored and sent is the surface's own
 * (a->native_text), with the gateway's note on a Response (AIF_RESP_META, which the
 * worker takes out). */
static enum aif_err
take_native(struct admission *a)
{
	json_t *body = json_loadb(a->native_text, a->native_len, 0, NULL);

	if (body == NULL)
		return DENY0(a, AIF_E_OUT_OF_MEMORY, NULL);	/* it parsed before */
	if (a->native == AIF_KIND_RESPONSES) {
		json_object_del(body, "background");	/* the gateway runs it async */
		json_object_set(body, AIF_RESP_META, json_object_get(a->oreq.body,
		    AIF_RESP_META));
	} else if (aif_anth_fold_system(body) != 0) {	/* engines take 2 roles only */
		json_decref(body);
		return DENY0(a, AIF_E_OUT_OF_MEMORY, NULL);
	}
	json_decref(a->oreq.body);
	a->oreq.body = body;
	a->oreq.model = json_string_value(json_object_get(body, "model"));
	a->kind = a->oreq.kind = a->native;
	a->r->reply.native = 1;		/* its answer is the surface's own */
	return AIF_OK;
}

/* 1 when s (may be NULL) is one of set (NULL-terminated). */
static int
listed(const char *const *set, const char *s)
{
	for (; s != NULL && *set != NULL; set++)
		if (strcmp(*set, s) == 0)
			return 1;
	return 0;
}

/* The parts of a message's content (borrowed) the bridge reads (typed text or image,
 * or untyped), as a new array; NULL on no memory. */
static json_t *
readable_parts(const json_t *content)
{
	static const char *const parts[] = { "input_text", "output_text", "input_image",
	    NULL };
	json_t *ok = json_array(), *p;
	size_t j;

	json_array_foreach(content, j, p) {
		const char *t = json_string_value(json_object_get(p, "type"));
		if ((t == NULL || listed(parts, t)) && ok != NULL &&
		    json_array_append(ok, p) != 0) {
			json_decref(ok);
			return NULL;
		}
	}
	return ok;
}

/* What of a passed-through history the bridge checks (body changed in place): the
 * output items an engine may make that the bridge has no words for (a refusal part,
 * a hosted tool's call, ...) are left out of the check, not out of the request.
 * 0, or -1 on no memory. */
static int
bridgeable(json_t *body)
{
	static const char *const items[] = { "message", "function_call",
	    "function_call_output", "reasoning", NULL };
	json_t *in = json_object_get(body, "input"), *kept, *it, *ok;
	size_t i;

	if (!json_is_array(in))
		return 0;
	if ((kept = json_array()) == NULL)
		return -1;
	json_array_foreach(in, i, it) {
		const char *t = json_string_value(json_object_get(it, "type"));
		if (t != NULL && !listed(items, t))
			continue;
		ok = NULL;
		if (json_is_array(json_object_get(it, "content")) &&
		    (ok = readable_parts(json_object_get(it, "content"))) == NULL)
			break;
		if (ok != NULL && json_array_size(ok) == 0) {	/* nothing it can read */
			json_decref(ok);
			continue;
		}
		if (ok != NULL)
			json_object_set_new(it, "content", ok);
		if (json_array_append(kept, it) != 0)
			break;
	}
	if (i < json_array_size(in)) {	/* broke off: no memory */
		json_decref(kept);
		return -1;
	}
	return json_object_set_new(body, "input", kept);
}

/* Pass-through of a response that continues another: its history goes into the
 * surface's own request first (a->native_text, replaced), which is then bridged again
 * (*chat, new) so that every check and estimate after this one covers the whole
 * request the engine will get: its size, its items, its tokens. */
static enum aif_err
expand_native(struct admission *a, const struct aif_resp_limits *lim, json_t **chat)
{
	char prev[sizeof(a->resp.previous)];
	json_t *body = json_loadb(a->native_text, a->native_len, 0, NULL), *meta;
	char *text, *checked;
	int err;

	*chat = NULL;
	memcpy(prev, a->resp.previous, sizeof(prev));
	if (body == NULL)
		return DENY0(a, AIF_E_OUT_OF_MEMORY, NULL);	/* it parsed before */
	json_object_del(body, "previous_response_id");	/* engines keep nothing */
	if (chain_native(a, body) != AIF_OK) {
		json_decref(body);
		return AIF_INVALID;
	}
	text = json_dumps(body, JSON_COMPACT);
	checked = bridgeable(body) == 0 ? json_dumps(body, JSON_COMPACT) : NULL;
	json_decref(body);
	if (text == NULL || checked == NULL) {
		free(text);
		free(checked);
		return DENY0(a, AIF_E_OUT_OF_MEMORY, NULL);
	}
	free(a->native_text);
	a->native_text = text;
	a->native_len = strlen(text);
	json_decref(a->resp_md);
	a->resp_md = NULL;
	err = aif_resp_to_chat(checked, strlen(checked), lim, a->count_only, chat,
	    &a->resp_md, &a->resp, &a->err);
	free(checked);
	if (err != 0)
		return AIF_INVALID;
	/* the note still names the response it continues */
	memcpy(a->resp.previous, prev, sizeof(prev));
	meta = json_object_get(*chat, AIF_RESP_META);
	if (json_object_set_new(meta, "previous_response_id", json_string(prev)) != 0) {
		json_decref(*chat);
		*chat = NULL;
		return DENY0(a, AIF_E_OUT_OF_MEMORY, NULL);
	}
	return AIF_OK;
}

/* A Responses request (POST /v1/responses) becomes the chat completion request it is
 * bridged as, after the history of the response it continues (responses.h). */
static enum aif_err
bridge_responses(struct admission *a)
{
	const struct aif_config *cfg = a->r->cfg;
	struct aif_resp_limits lim = {
		.max_body_bytes = cfg->server.max_body_bytes,
		.max_depth = cfg->server.max_json_depth,
		.max_messages = cfg->server.max_messages,
	};
	json_t *chat;

	if (aif_resp_to_chat(a->body, a->len, &lim, a->count_only, &chat, &a->resp_md,
	    &a->resp, &a->err) != 0)
		return AIF_INVALID;
	keep_native(a, chat, AIF_KIND_RESPONSES);
	if (a->native && a->resp.previous[0] != '\0') {
		json_decref(chat);
		if (expand_native(a, &lim, &chat) != AIF_OK)
			return AIF_INVALID;
	}
	/* hosted tools: said, not silently gone (an engine serving the API gets them) */
	if (a->resp.dropped[0] != '\0' && !a->native)
		reply_header(&a->r->reply, "x-aif-dropped-tools", a->resp.dropped);
	if (a->resp.previous[0] != '\0' && !a->native && chain_previous(a, chat) != AIF_OK) {
		json_decref(chat);
		return AIF_INVALID;
	}
	return take_bridged(a, chat);
}

/* The bridged request (stolen) becomes the body the phases after parse admit. */
static enum aif_err
take_bridged(struct admission *a, json_t *chat)
{
	char *text = json_dumps(chat, JSON_COMPACT);

	json_decref(chat);
	if (text == NULL)
		return DENY0(a, AIF_E_OUT_OF_MEMORY, NULL);
	free(a->body);
	a->body = text;
	a->len = strlen(text);
	return AIF_OK;
}

static enum aif_err
parse(struct admission *a)
{
	const struct aif_config *cfg = a->r->cfg;
	struct aif_oai_limits lim = {
		.max_body_bytes = cfg->server.max_body_bytes,
		.max_depth = cfg->server.max_json_depth,
		.max_messages = cfg->server.max_messages,
		.max_string_bytes = cfg->server.max_body_bytes,
	};
	enum aif_err err;

	if (a->run_api)
		return parse_run(a);
	if (a->r->reply.surface == AIF_SURFACE_ANTHROPIC && a->retry == NULL &&
	    bridge_messages(a) != AIF_OK)
		return AIF_INVALID;
	if (a->r->reply.surface == AIF_SURFACE_RESPONSES && a->retry == NULL &&
	    bridge_responses(a) != AIF_OK)
		return AIF_INVALID;
	if ((err = aif_oai_parse(a->kind, a->body, a->len, &lim, &a->oreq, &a->err)) !=
	    AIF_OK)
		return err;
	return a->native && !a->count_only ? take_native(a) : AIF_OK;
}

static enum aif_err	pii(struct admission *a);

/* Count tokens (POST /v1/messages/count_tokens, /v1/responses/input_tokens) without a
 * job, a hold or a charge: by the model's engine tokenizer when it has one (count.c;
 * what is counted is masked first, and a request whose personal data may not reach the
 * engine is not sent), else the prompt as admission estimates it. The answer's
 * x-aif-token-count says which: engine or estimate. */
static enum aif_err
count_tokens(struct admission *a)
{
	int resp = a->r->reply.surface == AIF_SURFACE_RESPONSES;
	json_t *j;
	char *est;

	if (!a->count_only)
		return AIF_OK;
	if (a->workflow != NULL)
		return DENY(a, AIF_E_MODEL_NOT_FOUND, "model", a->oreq.model);
	j = json_pack("{s:s*,s:I}", "object", resp ? "response.input_tokens" : NULL,
	    "input_tokens", (json_int_t)a->oreq.prompt_tokens_estimate);
	est = j != NULL ? json_dumps(j, JSON_COMPACT) : NULL;
	json_decref(j);
	if (est == NULL)
		return DENY0(a, AIF_E_OUT_OF_MEMORY, NULL);
	a->done = 1;
	if ((a->model->kinds & AIF_KIND_TOKENIZE) && pii(a) == AIF_OK &&
	    count_by_engine(a->r, a->model, a->oreq.body, resp ? "response.input_tokens" :
	    NULL, est) == 0) {
		free(est);
		return AIF_OK;
	}
	reply_send(&a->r->reply, 200, "x-aif-token-count: estimate\r\n", est, strlen(est));
	free(est);
	return AIF_OK;
}

/* What the request may cost at most, before a job exists: the choices it asks for
 * (prompts x max(n, best_of)) within server.max_choices; the completion limit the
 * engine will apply (the request's, else the model's cap, which is then written into
 * the request so that the engine applies it too); an embedding answer that must be
 * larger than server.max_answer_bytes is refused (every number takes 4 bytes or more
 * in JSON: "0.0,"). */
static enum aif_err
bounds(struct admission *a)
{
	struct aif_oai_req *o = &a->oreq;
	const struct aif_config *cfg = a->r->cfg;
	int64_t choices = aif_sat_mul(o->prompts, o->choices_per_prompt), limit, dims;
	char n1[24], n2[24];

	if ((a->kind & AIF_KIND_GENERATES) && choices > cfg->server.max_choices) {
		snprintf(n1, sizeof(n1), "%lld", (long long)choices);
		snprintf(n2, sizeof(n2), "%d", cfg->server.max_choices);
		return DENY(a, AIF_E_TOO_MANY_CHOICES, o->prompts > 1 ? "prompt" : "n", n1, n2);
	}
	if (a->kind == AIF_KIND_EMBEDDING) {
		dims = json_integer_value(json_object_get(o->body, "dimensions"));
		if (aif_sat_mul(aif_sat_mul(o->prompts, dims), 4) >
		    (int64_t)cfg->server.max_answer_bytes) {
			snprintf(n1, sizeof(n1), "%zu", cfg->server.max_answer_bytes);
			return DENY(a, AIF_E_ANSWER_WOULD_BE_TOO_LARGE, "dimensions", n1);
		}
		a->max_out = 0;
		return AIF_OK;
	}
	if (!(a->kind & AIF_KIND_GENERATES)) {	/* rerank, score, (de)tokenize */
		a->max_out = 0;
		return AIF_OK;
	}
	limit = o->max_tokens > 0 ? o->max_tokens : a->model->max_output_tokens;
	if (o->max_tokens <= 0 && json_object_set_new(o->body, a->kind ==
	    AIF_KIND_RESPONSES ? "max_output_tokens" : "max_tokens", json_integer(limit)) != 0)
		return DENY0(a, AIF_E_OUT_OF_MEMORY, NULL);
	o->max_tokens = limit;
	a->max_out = aif_oai_completion_bound(o, limit);
	return AIF_OK;
}

/* A workflow called as a model (docs/WORKFLOWS.md): the role may use it, it is called
 * as this kind. What its steps cost is gated and billed per model step when they run;
 * the run itself holds no budget and charges one request. */
static enum aif_err
workflow(struct admission *a)
{
	const struct aif_oai_req *o = &a->oreq;

	if ((a->workflow = aif_cfg_workflow(a->r->cfg, o->model)) == NULL)
		return DENY(a, AIF_E_MODEL_NOT_FOUND, "model", o->model);
	a->model_id = a->workflow->name;
	if (!aif_cfg_role_allows_model(a->role, a->workflow->name))
		return DENY(a, AIF_E_MODEL_FORBIDDEN, "model", a->workflow->name);
	if (!a->run_api && (a->workflow->kinds & a->kind) == 0)
		return DENY(a, AIF_E_MODEL_NOT_SUPPORTED, "model", a->workflow->name,
		    aif_kind_noun(a->kind));
	a->max_out = 0;
	return AIF_OK;
}

/* The model exists, the role may use it, it serves this kind, the output fits. */
static enum aif_err
model(struct admission *a)
{
	const struct aif_oai_req *o = &a->oreq;
	char cap[24], asked[24];

	if (a->run_api || (a->model = aif_cfg_model(a->r->cfg, o->model)) == NULL)
		return workflow(a);
	a->model_id = a->model->id;
	if (!aif_cfg_role_allows_model(a->role, a->model->id))
		return DENY(a, AIF_E_MODEL_FORBIDDEN, "model", a->model->id);
	/* a count on a model that serves the surface itself is counted as chat */
	if ((a->model->kinds & a->kind) == 0 && !(a->count_only && a->native))
		return DENY(a, AIF_E_MODEL_NOT_SUPPORTED, "model", a->model->id,
		    aif_kind_noun(a->kind));
	if (o->max_tokens > a->model->max_output_tokens) {
		snprintf(cap, sizeof(cap), "%d", a->model->max_output_tokens);
		snprintf(asked, sizeof(asked), "%lld", (long long)o->max_tokens);
		return DENY(a, AIF_E_MAX_TOKENS_ABOVE, a->kind == AIF_KIND_CHAT &&
		    json_object_get(o->body, "max_completion_tokens") != NULL ?
		    "max_completion_tokens" : "max_tokens", cap, asked);
	}
	if (o->stream && !(a->kind & AIF_KIND_GENERATES))
		return DENY0(a, AIF_E_STREAM_UNSUPPORTED_KIND, "stream");
	a->zero_retention = a->model->zero_retention || (a->role != NULL &&
	    a->role->zero_retention);
	return bounds(a);
}

/* 1 when s is 1..max bytes of printable ASCII (0x20..0x7e): what a header value that
 * reaches the database and the logs may be. */
static int
printable_ascii(const char *s, size_t max)
{
	size_t n = 0;

	for (; s[n] != '\0'; n++)
		if (n >= max || (unsigned char)s[n] < 0x20 || (unsigned char)s[n] > 0x7e)
			return 0;
	return n > 0;
}

/* X-Request-Timeout: seconds (1..3600, up to 3 decimals) the caller waits at most,
 * never longer than server.sync_timeout_ms (the default); for an async job how long it
 * may wait in the queue. A job not claimed by then is not run. */
static enum aif_err
request_timeout(struct admission *a)
{
	const char *h = param(a, "HTTP_X_REQUEST_TIMEOUT"), *dot;
	int64_t whole, frac = 0, scale = 1000;
	char ip[16];

	a->wait_ms = a->async ? 0 : a->r->cfg->server.sync_timeout_ms;
	if (h == NULL)
		return AIF_OK;
	if ((dot = strchr(h, '.')) == NULL)
		dot = h + strlen(h);
	if ((size_t)(dot - h) >= sizeof(ip))
		return AIF_INVALID;
	memcpy(ip, h, (size_t)(dot - h));
	ip[dot - h] = '\0';
	if (aif_parse_i64(ip, 0, 3600, &whole) != 0)
		return AIF_INVALID;
	if (*dot == '.') {
		const char *p = dot + 1;
		if (*p == '\0' || strlen(p) > 3 || strspn(p, "0123456789") != strlen(p))
			return AIF_INVALID;
		for (; *p; p++) {
			scale /= 10;
			frac += (*p - '0') * scale;
		}
	}
	if (whole * 1000 + frac < 1000 || whole * 1000 + frac > 3600000)
		return AIF_INVALID;
	/* a caller that waits may shorten the wait, not lengthen it; an async job's
	   deadline is only how long it may stay queued */
	if (a->async || whole * 1000 + frac < a->wait_ms)
		a->wait_ms = whole * 1000 + frac;
	return AIF_OK;
}

/* Idempotency-Key, X-Request-Timeout, X-Priority (clamped to the key's or role's cap)
 * and Prefer. */
static enum aif_err
headers(struct admission *a)
{
	const char *h = param(a, "HTTP_X_PRIORITY"), *prefer = param(a, "HTTP_PREFER");
	int cap = a->who->max_priority >= 0 ? a->who->max_priority : a->role->max_priority;
	char max[8];
	int64_t v;

	if (a->batch_id != 0) {
		/* a batch's line: async, in the lane below every interactive priority,
		   known by its batch and line (jobs(batch_id, batch_line) is unique: a
		   line fed twice is one job), no idempotency key of a client's */
		a->async = 1;
		a->wait_ms = 0;
		a->prio = AIF_BATCH_PRIORITY;
		return a->zero_retention ? DENY(a, AIF_E_ZERO_RETENTION_ASYNC, "model",
		    a->model_id) : AIF_OK;
	}
	if (a->retry != NULL) {
		/* a new async job at the old job's priority, within its key's cap today */
		a->async = 1;
		a->wait_ms = 0;
		a->prio = a->retry->priority < cap ? a->retry->priority : cap;
		if (a->prio < 0)
			a->prio = 0;	/* a batch's line sent again is a request of its own */
		return a->zero_retention ? DENY0(a, AIF_E_RETRY_NOT_KEPT, NULL) : AIF_OK;
	}
	a->idem = param(a, "HTTP_IDEMPOTENCY_KEY");
	if (a->idem != NULL && !printable_ascii(a->idem, IDEMPOTENCY_KEY_MAX)) {
		snprintf(max, sizeof(max), "%d", IDEMPOTENCY_KEY_MAX);
		return DENY(a, AIF_E_IDEMPOTENCY_KEY_INVALID, "Idempotency-Key", max);
	}
	a->async = a->run_api ||	/* a run is always answered with its job */
	    (prefer != NULL && strcasestr(prefer, "respond-async") != NULL);
	if (a->r->reply.surface == AIF_SURFACE_RESPONSES) {
		/* background: true runs async; store: false keeps nothing (zero retention) */
		a->async = a->resp.background;
		a->zero_retention |= !a->resp.store;
	}
	if (request_timeout(a) != AIF_OK)
		return DENY0(a, AIF_E_REQUEST_TIMEOUT_INVALID, "X-Request-Timeout");
	a->prio = a->r->cfg->queue.default_priority;
	if (h != NULL) {
		if (aif_parse_i64(h, 0, 9, &v) != 0)
			return DENY0(a, AIF_E_PRIORITY_INVALID, "X-Priority");
		a->prio = (int)v;
	}
	if (a->prio > cap)
		a->prio = cap;
	/* nothing is kept to fetch later: the answer goes to the request that waits */
	if (a->async && a->zero_retention)
		return DENY(a, AIF_E_ZERO_RETENTION_ASYNC, "Prefer", a->model_id);
	return AIF_OK;
}

/* aif_pii_entities_total{type}: entities acted upon (masked, hashed, ...), never values */
static void
count_pii(const struct aif_pii_counts *c)
{
	for (size_t i = 0; i < c->ntypes; i++) {
		char l[96];
		if (c->by[i].acted == 0)
			continue;
		snprintf(l, sizeof(l), "type=\"%.60s\"", c->by[i].type);
		aif_metrics_add("aif_pii_entities_total", l, c->by[i].acted);
	}
}

/* Personal data is masked before anything is stored, logged or sent: every string of
 * the body; in a control field (stop, tools, ...) it refuses the request instead. */
static enum aif_err
pii(struct admission *a)
{
	struct aif_pii_counts counts;
	struct aif_pii_refusal why;
	enum aif_err err;

	aif_pii_counts_init(&counts);
	err = aif_pii_screen_request(a->r->pii, a->model_id, a->who->role, a->kind,
	    a->oreq.body, &counts, &why);
	count_pii(&counts);
	switch (err) {
	case AIF_OK:
		break;
	case AIF_FORBIDDEN:
		aif_pii_refusal_error(&why, &a->err);
		return AIF_FORBIDDEN;
	case AIF_INVALID:
		return DENY0(a, AIF_E_INVALID_UTF8, NULL);
	case AIF_TOOBIG:
		return DENY0(a, AIF_E_PII_TOO_LARGE, NULL);
	default:
		return DENY0(a, AIF_E_PII_FAILED, NULL);
	}
	if (aif_pii_counts_json(&counts, &a->pii_json) != AIF_OK)
		return DENY0(a, AIF_E_OUT_OF_MEMORY, NULL);
	return AIF_OK;
}

/* The guardrails of the model and role (guard.h): each block list reads every text of
 * the masked request, a hit refuses it (400 with the guardrail's message; nothing is
 * stored); the names of those with work left for a worker (hooks, answer checks) go on
 * the job. A workflow run's steps are not checked here. */
static enum aif_err
guardrails(struct admission *a)
{
	const struct aif_config *cfg = a->r->cfg;
	json_t **texts = NULL;
	size_t n = 0;

	if (cfg->nguardrails == 0 || a->workflow != NULL)
		return AIF_OK;
	for (size_t g = 0; g < cfg->nguardrails; g++) {
		const struct aif_guardrail *gr = &cfg->guardrails[g];
		if (gr->nkeywords + gr->npatterns == 0 ||
		    !aif_guard_applies(gr, a->model_id, a->who->role))
			continue;
		/* the texts are walked once, for the first list that applies */
		if (texts == NULL && (texts = aif_guard_texts(a->oreq.body, &n)) == NULL)
			return DENY0(a, AIF_E_OUT_OF_MEMORY, NULL);
		if (aif_guards_block_texts(a->r->guards, g, texts, n)) {
			free(texts);
			aif_guard_count(gr->name, "request", "block");
			return DENY(a, AIF_E_GUARDRAIL_BLOCKED, NULL, gr->name, gr->message);
		}
		aif_guard_count(gr->name, "request", "allow");
	}
	free(texts);
	(void)aif_guard_job_names(cfg, a->model_id, a->who->role, a->guard_names,
	    sizeof(a->guard_names));
	return AIF_OK;
}

/* The stored request of a workflow run: how it was called (surface: chat, completion
 * or run), its input, and whom it was admitted for (what each model step is gated and
 * billed as). New string, or NULL. */
static char *
run_envelope(const char *surface, const json_t *input, const struct aif_principal *who)
{
	json_t *e = json_pack("{s:s,s:O,s:{s:I,s:s,s:I,s:I,s:I,s:I}}", "surface", surface,
	    "input", input, "who", "key_id", (json_int_t)who->key_id, "role", who->role,
	    "max_priority", (json_int_t)who->max_priority, "rpm", (json_int_t)who->rpm,
	    "tpm", (json_int_t)who->tpm, "budget", (json_int_t)who->monthly_budget_micros);
	char *text = e != NULL ? json_dumps(e, JSON_COMPACT | JSON_SORT_KEYS) : NULL;

	json_decref(e);
	return text;
}

/* The request as it is stored and sent, and its hash (for SDK retries). */
static enum aif_err
serialise(struct admission *a)
{
	if (a->async && a->oreq.stream) {
		/* nobody will read a stream of an async job: store the whole answer */
		json_object_set_new(a->oreq.body, "stream", json_false());
		json_object_del(a->oreq.body, "stream_options");
		a->oreq.stream = 0;
	}
	if (a->workflow != NULL)
		a->stored = run_envelope(a->run_api ? "run" : aif_kind_name(a->kind),
		    a->run_api ? json_object_get(a->oreq.body, "input") : a->oreq.body, a->who);
	else
		a->stored = json_dumps(a->oreq.body, JSON_COMPACT | JSON_SORT_KEYS);
	if (a->stored == NULL)
		return DENY0(a, AIF_E_OUT_OF_MEMORY, NULL);
	a->stored_len = strlen(a->stored);
	SHA256((const unsigned char *)a->stored, a->stored_len, a->sha);
	/* what the engine is sent bounds what its prompt can be */
	a->prompt_bound = aif_oai_prompt_bound(&a->oreq, a->stored_len);
	return AIF_OK;
}

/* Whether a's answer comes over a relay (a relay secret for the job): a stream's
 * chunks; a zero-retention answer; a small sync answer of a model call (the worker
 * decides by its size, workers/commit.c). Not an async job (nobody waits), not a sync
 * run (its runner commits the answer to the row). */
static int
relays(const struct admission *a)
{
	return a->oreq.stream || a->zero_retention || (!a->async && a->workflow == NULL);
}

/* Parks the request on job id (sync or stream), or refuses when too many wait. */
static enum aif_err
park(struct admission *a, uint64_t id, int include_usage, int attach)
{
	struct req *r = a->r;
	int64_t deadline = aif_now_ms() + a->wait_ms;

	/* an attach cannot know the job's relay secret: its answer comes from the row (a
	   sync attach has the completer look at once) */
	if ((a->oreq.stream ? streams_park(r->api, id, &r->reply, a->kind, include_usage,
	    deadline, attach ? NULL : a->relay_secret) :
	    completer_park(r->api, id, &r->reply, deadline,
	    attach || !relays(a) ? NULL : a->relay_secret, attach)) != 0) {
		reply_job_refusal(&r->reply, attach ? AIF_E_TOO_MANY_WAITING_ATTACH :
		    AIF_E_TOO_MANY_WAITING, &a->err);
		return AIF_INVALID;
	}
	r->parked = 1;
	r->reply.fcgi = NULL;
	a->done = 1;
	return AIF_OK;
}

/* The Responses API: the Response of job public_id before its answer, which its
 * waiting request (sync or stream) renders its answer into (reply.meta); passed
 * through, only a background response's first answer is rendered from it. */
static enum aif_err
responses_meta(struct admission *a, const char *public_id)
{
	struct reply *rp = &a->r->reply;

	if (rp->surface != AIF_SURFACE_RESPONSES)
		return AIF_OK;
	json_decref(rp->meta);
	/* from the request as stored (masked); passed through, its own fields */
	rp->meta = a->native ? aif_resp_native_template(a->oreq.body, public_id,
	    a->model_id, aif_unix_now()) : aif_resp_template(a->oreq.body, a->resp_md,
	    public_id, a->model_id, aif_unix_now());
	return rp->meta != NULL ? AIF_OK : DENY0(a, AIF_E_OUT_OF_MEMORY, NULL);
}

/* The request refers to an existing job (the same Idempotency-Key and body, or a retry
 * of the SDKs): async -> 202 with the job; sync and stream -> wait for that job. */
static enum aif_err
attach(struct admission *a, uint64_t id, const char *public_id)
{
	struct req *r = a->r;
	struct aif_job_view *v = NULL;

	aif_strlcpy(r->reply.job_id, public_id, sizeof(r->reply.job_id));
	reply_header(&r->reply, "x-aif-idempotent-replay", "true");
	if (responses_meta(a, public_id) != AIF_OK)
		return AIF_INVALID;
	if (a->async && r->reply.meta != NULL) {	/* a background response, again */
		reply_json(&r->reply, 200, NULL, r->reply.meta);
		a->done = 1;
		return AIF_OK;
	}
	if (a->async) {
		if (aif_jobs_view_public(r->db, public_id, a->who->lineage_id, &v) != AIF_OK)
			return DENY0(a, AIF_E_DB_UNAVAILABLE, NULL);
		reply_job(&r->reply, r->db, v, 202, NULL);
		aif_jobs_views_free(v, 1);
		a->done = 1;
		return AIF_OK;
	}
	return park(a, id, 0, 1);
}

/* Looks up the job an idempotent request refers to: attach, 409, or go on. */
static enum aif_err
find_existing(struct admission *a, int must)
{
	uint64_t old = 0;
	char old_pid[AIF_JOB_ID_LEN + 1];
	int same = 0;
	enum aif_err err;

	err = aif_jobs_find_idempotent(a->r->db, a->who->lineage_id, a->idem, a->sha,
	    a->r->cfg->queue.idempotency_window_s, &old, old_pid, &same);
	if (err == AIF_OK && same)
		return attach(a, old, old_pid);
	if (err == AIF_OK || (must && err == AIF_NOTFOUND))
		return DENY0(a, AIF_E_IDEMPOTENCY_KEY_REUSED, "Idempotency-Key");
	if (err != AIF_NOTFOUND)
		return DENY0(a, must ? AIF_E_IDEMPOTENCY_KEY_REUSED : AIF_E_DB_UNAVAILABLE,
		    must ? "Idempotency-Key" : NULL);
	return AIF_OK;
}

/* The same Idempotency-Key, or a retry of the official SDKs: the job may exist. */
static enum aif_err
idempotency(struct admission *a)
{
	const char *retried = param(a, "HTTP_X_STAINLESS_RETRY_COUNT");

	/* an operator's retry is a new job each time it is confirmed */
	if (a->retry != NULL ||
	    (a->idem == NULL && (retried == NULL || strcmp(retried, "0") == 0)))
		return AIF_OK;
	return find_existing(a, 0);
}

/* queue.max_queued_per_tenant: one tenant cannot fill the queue; its jobs over the cap
 * wait at the door with a 429 (Retry-After: reply_error). Every key has a tenant
 * (api_keys.tenant is NOT NULL, 'default' unless named, and names are never empty), so
 * the count is by tenant; the key's lineage is what its jobs are stored under. */
static enum aif_err
queue_cap(struct admission *a)
{
	const struct aif_tenant *t = a->tenant;
	int cap = t != NULL && t->max_queued >= 0 ? t->max_queued :
	    a->r->cfg->queue.max_queued_per_tenant;
	int64_t n = 0;
	char num[24];

	if (cap <= 0)
		return AIF_OK;
	if (aif_jobs_count_queued(a->r->db, a->who->tenant, a->who->lineage_id, &n) != AIF_OK)
		return DENY0(a, AIF_E_DB_UNAVAILABLE, NULL);
	if (n < cap)
		return AIF_OK;
	aif_metrics_add("aif_tenant_queue_refusals_total", "", 1);
	snprintf(num, sizeof(num), "%d", cap);
	return DENY(a, AIF_E_TENANT_QUEUE_FULL, NULL, num);
}

static enum aif_err
rate_limits(struct admission *a)
{
	const struct aif_gcra_check *c;
	char limit[24], cost[24], wait[32];
	int allowed = 1;

	aif_rl_plan(a->who, a->role, a->tenant,
	    a->workflow != NULL ? 0 : aif_sat_add(a->oreq.prompt_tokens_estimate, a->max_out),
	    &a->limits);
	if (a->batch_id != 0)
		aif_rl_batch_lane(&a->limits);	/* batch tokens are counted apart */
	if (aif_rl_apply(a->r->db, &a->limits, &allowed) != AIF_OK)
		return DENY0(a, AIF_E_DB_UNAVAILABLE, NULL);
	aif_rl_headers(&a->limits, a->r->reply.headers, sizeof(a->r->reply.headers));
	if (allowed || (c = aif_rl_refused(&a->limits)) == NULL)
		return AIF_OK;
	aif_metrics_add("aif_ratelimit_refusals_total", aif_rl_is_requests(c) ?
	    (aif_rl_is_key(c) ? "kind=\"requests\",scope=\"key\"" :
	    "kind=\"requests\",scope=\"tenant\"") :
	    (aif_rl_is_key(c) ? "kind=\"tokens\",scope=\"key\"" :
	    "kind=\"tokens\",scope=\"tenant\""), 1);
	aif_rl_retry_headers(c, a->r->reply.headers, sizeof(a->r->reply.headers));
	/* a line may wait for its limit, unless no wait lets it through (it costs more
	   than the limit holds): then it is refused as a request would be */
	a->retry_after_ms = c->cost > c->limit ? 0 : c->retry_after_ms > 0 ?
	    c->retry_after_ms : 1;
	aif_rl_go_duration(c->retry_after_ms, wait, sizeof(wait));
	snprintf(limit, sizeof(limit), "%lld", (long long)c->limit);
	snprintf(cost, sizeof(cost), "%lld", (long long)c->cost);
	return DENY(a, aif_rl_is_requests(c) ? AIF_E_RATE_LIMIT_REQUESTS :
	    AIF_E_RATE_LIMIT_TOKENS, NULL, a->model_id,
	    aif_rl_is_key(c) ? "API key" : "tenant", limit, cost, wait);
}

static enum aif_err
budget(struct admission *a)
{
	if (a->workflow != NULL)
		return AIF_OK;	/* each model step holds its own */
	aif_budget_plan(a->who, a->role, a->tenant, a->model,
	    a->prompt_bound, a->max_out, &a->budget);
	return AIF_OK;
}

/* x-aif-budget-remaining-micros: what is left this month of the tightest budget of the
 * caller (its key's, its tenant's), after this request's worst-case hold; only for a
 * caller with a budget. One indexed read; an answer goes out without it if it fails. */
static void
budget_header(struct admission *a)
{
	struct reply *rp = &a->r->reply;
	size_t used = strlen(rp->headers);
	int64_t left = 0;

	if (a->budget.n == 0 ||
	    aif_ledger_remaining(a->r->db, a->budget.subject, a->budget.n, &left) != AIF_OK)
		return;
	if (snprintf(rp->headers + used, sizeof(rp->headers) - used,
	    "x-aif-budget-remaining-micros: %lld\r\n", (long long)left) >=
	    (int)(sizeof(rp->headers) - used))
		rp->headers[used] = '\0';	/* no room: no header rather than half of one */
}

/* The trace of the job (tracectx.h, docs/OPERATIONS.md "Traces"): the caller's trace
 * when its traceparent is valid (its tracestate with it, when that is too), else a new
 * one. With spans on, this request's server span (reply.span, spans.c) is a child of
 * the caller's span; a job the caller waits for is a child of the server span (trace:
 * the server span's context), while an async job starts a trace of its own that links
 * to it (trace: the job's context, link: the server span's). With spans off, trace is
 * the caller's context. 0, or -1 (no random). */
static int
trace_of(struct admission *a, char *trace, char *link, const char **tracestate)
{
	const char *caller = param(a, "HTTP_TRACEPARENT"), *ts = param(a, "HTTP_TRACESTATE");
	struct reply_span *sp = &a->r->reply.span;
	char ctx[AIF_TRACEPARENT_LEN + 1];

	*tracestate = aif_trace_valid(caller) && aif_tracestate_valid(ts) ? ts : NULL;
	link[0] = '\0';
	if (a->batch_id != 0)
		return aif_trace_of_request(NULL, trace);	/* a trace of its own */
	/* without spans of its own the gateway is no parent: the job runs in the caller's
	   context, its attempts children of the caller's span */
	if (!aif_span_enabled())
		return aif_trace_of_request(caller, trace);
	if (aif_trace_of_request(caller, ctx) != 0 || aif_trace_child(ctx, trace) != 0)
		return -1;
	if (aif_trace_valid(caller))
		aif_strlcpy(sp->parent, ctx, sizeof(sp->parent));
	aif_strlcpy(sp->self, trace, sizeof(sp->self));
	aif_strlcpy(sp->model, a->model_id != NULL ? a->model_id : "", sizeof(sp->model));
	sp->operation = aif_span_operation(a->kind);
	if (!a->async)
		return 0;
	memcpy(link, trace, AIF_TRACEPARENT_LEN + 1);
	if (aif_trace_of_request(NULL, trace) != 0)
		return -1;
	trace[54] = link[54];	/* sampled as the request was */
	return 0;
}

/* The tokens the admission charged to tokens-per-minute limits, which the worker
 * corrects to the real count when the job succeeds: its estimate, or 0 when no such
 * limit applies to the caller (nothing to correct: no statement at the end). */
static int64_t
tokens_charged(const struct admission *a)
{
	for (size_t i = 0; i < a->limits.n; i++)
		if (!aif_rl_is_requests(&a->limits.c[i]))
			return aif_sat_add(a->oreq.prompt_tokens_estimate, a->max_out);
	return 0;
}

/* The job of an admitted request into *job (borrowing from a). 0, or -1 (refused). */
static int
job_of(struct admission *a, struct aif_job_new *job)
{
	struct req *r = a->r;
	struct aif_job_new j = {
		.api_key_id = a->who->lineage_id,
		.tenant = a->who->tenant,
		.model = a->model_id,
		.kind = a->kind,
		.priority = a->prio,
		.max_attempts = a->model != NULL ? a->model->max_attempts : 1,
		.reply_to = a->async ? NULL : r->api->doorbell_path,
		.request_id = r->reply.request_id,
		.idempotency_key = a->idem,
		.stream = a->oreq.stream,
		.prompt_tokens_estimate = a->oreq.prompt_tokens_estimate,
		.max_tokens = a->oreq.max_tokens,
		.request_body = a->stored,
		.request_len = a->stored_len,
		.pii_counts = a->pii_json,
		.request_sha256 = a->sha,
		.tokens_charged = tokens_charged(a),
		.budget_hold_micros = a->budget.hold_micros,
		.nbudget = a->budget.n,
		.prompt_tokens_bound = a->prompt_bound,
		.completion_tokens_bound = a->max_out,
		/* an async job without X-Request-Timeout waits for its poller as long as
		   it takes; a caller that waits gives up at its deadline */
		.wait_ms = a->wait_ms,
		.zero_retention = a->zero_retention,
		.relay_secret = relays(a) ? a->relay_secret : NULL,
		.batch_id = a->batch_id,
		.batch_line = a->batch_line,
	};

	if ((relays(a) && aif_random_bytes(a->relay_secret, sizeof(a->relay_secret)) !=
	    AIF_OK) || trace_of(a, a->trace, a->link, &j.tracestate) != 0) {
		(void)DENY0(a, AIF_E_OUT_OF_MEMORY, NULL);
		return -1;
	}
	j.traceparent = a->trace;
	j.trace_link = a->link[0] ? a->link : NULL;
	j.guardrails = a->guard_names[0] ? a->guard_names : NULL;
	memcpy(j.budget, a->budget.subject, sizeof(j.budget));
	*job = j;
	return 0;
}

static enum aif_err
enqueue(struct admission *a)
{
	struct req *r = a->r;
	struct aif_job_new job;
	enum aif_err err;

	if (job_of(a, &job) != 0)
		return AIF_INVALID;
	/* a caller that waits: offer the job to a live worker (queue.h, hand-off); not to
	 * one with a network doorbell (cluster.address): a UDP ring to a worker that died
	 * is not refused, as a Unix socket's is, and the job would wait for its lease */
	if (!a->async && a->workflow == NULL && wake_pick(r->api, r->db, &a->handoff_worker,
	    a->handoff_bell, sizeof(a->handoff_bell)) == 0 &&
	    !aif_netbell_is_net(a->handoff_bell)) {
		job.handoff_worker = a->handoff_worker;
		job.handoff_lease_s = r->cfg->queue.lease_seconds;
	}
	if (a->workflow != NULL) {
		/* a run: its definition pinned first, then the run with no cost of its own */
		if (aif_flow_def_put(r->db, a->workflow->hash, a->workflow->name,
		    a->workflow->def_text) != AIF_OK)
			return DENY0(a, AIF_E_DB_UNAVAILABLE, NULL);
		job.workflow_hash = a->workflow->hash;
		job.tokens_charged = 0;
		job.prompt_tokens_bound = 0;
		job.completion_tokens_bound = 0;
		job.max_tokens = -1;
		job.wait_ms = 0;	/* a run goes on whoever waits for it */
	}
	err = enqueue_job(r->api, &job, &a->id, a->public_id, &a->handed);
	switch (err) {
	case AIF_OK:
		aif_strlcpy(r->reply.job_id, a->public_id, sizeof(r->reply.job_id));
		/* the worker runs a handed job from its bell, without reading the row */
		if (a->handed)
			(void)aif_handoff_encode(&job, a->id, a->public_id, &a->take_bell,
			    &a->take_bell_len);
		budget_header(a);
		return AIF_OK;
	case AIF_FORBIDDEN:
		aif_metrics_add("aif_budget_refusals_total", "", 1);
		budget_header(a);
		return DENY0(a, AIF_E_INSUFFICIENT_QUOTA, NULL);
	case AIF_CONFLICT:
		/* a concurrent request with the same key won the insert: join it */
		return find_existing(a, 1);
	case AIF_DB:
	case AIF_TOOBIG:
		/* the database refused this request's data (its batch went in without it) */
		return DENY0(a, AIF_E_REQUEST_NOT_STORABLE, NULL);
	default:
		return DENY0(a, AIF_E_DB_UNAVAILABLE, NULL);
	}
}

/* 202 with the job for async; otherwise park before waking anyone, so the answer can
 * never arrive before its waiter. */
/* Rings the workers: a job is claimed by their loops, a run by their workflow runners,
 * a handed job taken by its worker. A handed job whose worker does not take the bell
 * (it is gone) goes back to the queue for the others at once. */
static void
wake(const struct admission *a)
{
	struct aif_db *db = a->r->db;
	enum aif_err err;
	size_t n = 0;

	if (a->workflow != NULL) {
		wake_runners(a->r->api, db);
		return;
	}
	if (a->handed) {
		if (wake_take(a->r->api, a->handoff_bell, a->id, a->take_bell,
		    a->take_bell_len) == 0)
			return;
		aif_metrics_add("aif_handoff_total", "result=\"bell_refused\"", 1);
		if ((err = aif_queue_release_handed(db, a->handoff_worker, &a->id, 1, &n)) !=
		    AIF_OK)
			aif_warn("msg=\"a handed job was not given back; its lease will run"
			    " out\" job=%s error=\"%s\"", a->public_id, aif_strerror(err));
	}
	wake_workers(a->r->api, db);
}

/* A retry (POST /admin/jobs/{id}/retry): 202 with the action. Both jobs record it with
 * the admin key that asked; the new job is accepted whether or not they could. */
static void
answer_retry(struct admission *a)
{
	struct aif_db *db = a->r->db;
	char detail[128];
	json_t *j;

	snprintf(detail, sizeof(detail), "sent again as %s, billed to key %llu", a->public_id,
	    (unsigned long long)a->who->key_id);
	if (aif_console_note(db, a->retry->id, "operator_retry",
	    a->retry->actor_key_id, detail) != AIF_OK)
		aif_warn("msg=\"a retry was not recorded on its job\" job=%s",
		    a->retry->public_id);
	snprintf(detail, sizeof(detail), "the stored request of %s, sent again",
	    a->retry->public_id);
	if (aif_console_note(db, a->id, "retry_of", a->retry->actor_key_id,
	    detail) != AIF_OK)
		aif_warn("msg=\"a retry was not recorded on its job\" job=%s", a->public_id);
	wake(a);
	j = json_pack("{s:s,s:s,s:s,s:s,s:I}", "object", "console.action", "action", "retry",
	    "job", a->retry->public_id, "new_job", a->public_id, "key_id",
	    (json_int_t)a->who->key_id);
	aif_strlcpy(a->r->reply.job_id, a->public_id, sizeof(a->r->reply.job_id));
	reply_json(&a->r->reply, 202, NULL, j);
	json_decref(j);
	a->done = 1;
}

static enum aif_err
answer(struct admission *a)
{
	struct req *r = a->r;
	enum aif_err err;

	if (a->retry != NULL) {
		answer_retry(a);
		return AIF_OK;
	}
	if (responses_meta(a, a->public_id) != AIF_OK)
		return AIF_INVALID;
	if (a->async && a->r->reply.meta != NULL) {	/* a background response */
		wake(a);
		reply_json(&r->reply, 200, NULL, a->r->reply.meta);
		a->done = 1;
		return AIF_OK;
	}
	if (a->async) {
		struct aif_job_view v = { .id = a->id, .kind = a->kind, .priority = a->prio,
		    .created_at = aif_unix_now(), .response_len = -1 };
		char loc[128];
		aif_strlcpy(v.public_id, a->public_id, sizeof(v.public_id));
		aif_strlcpy(v.model, a->model_id, sizeof(v.model));
		v.workflow = a->workflow != NULL;
		aif_strlcpy(v.state, "queued", sizeof(v.state));
		json_t *j = job_json(&v);
		snprintf(loc, sizeof(loc), "Location: /v1/jobs/%s\r\n", a->public_id);
		wake(a);
		reply_json(&r->reply, 202, loc, j);
		json_decref(j);
		a->done = 1;
		return AIF_OK;
	}
	err = park(a, a->id, json_is_true(json_object_get(json_object_get(a->oreq.body,
	    "stream_options"), "include_usage")), 0);
	wake(a);
	return err;
}

static const struct phase {
	const char	*name;
	enum aif_err	(*run)(struct admission *);
} phases[] = {
	{ "content_type", content_type },
	{ "body", read_body },
	{ "parse", parse },
	{ "model", model },
	{ "count_tokens", count_tokens },
	{ "headers", headers },
	{ "pii", pii },
	{ "guardrails", guardrails },
	{ "serialise", serialise },
	{ "idempotency", idempotency },
	{ "queue_cap", queue_cap },
	{ "rate_limits", rate_limits },
	{ "budget", budget },
	{ "enqueue", enqueue },
	{ "answer", answer },
};

static void
admit(struct req *r, const struct aif_principal *who, const struct aif_role *role,
    enum aif_kind kind, const char *run_name, const struct aif_console_retry *retry,
    int count_only)
{
	struct admission a;

	memset(&a, 0, sizeof(a));
	a.count_only = count_only;
	a.r = r;
	a.who = who;
	a.role = role;
	a.retry = retry;
	a.tenant = aif_cfg_tenant(r->cfg, who->tenant);
	a.kind = kind;
	a.run_api = run_name != NULL;
	a.run_name = run_name;
	for (size_t i = 0; i < AIF_NELEM(phases) && !a.done; i++) {
		if (phases[i].run(&a) == AIF_OK)
			continue;
		aif_debug("msg=\"request refused\" phase=%s status=%d code=%s", phases[i].name,
		    a.err.status, a.err.code[0] ? a.err.code : "-");
		reply_error(&r->reply, &a.err);
		break;
	}
	json_decref(a.resp_md);
	free(a.take_bell);
	free(a.native_text);
	free(a.pii_json);
	free(a.stored);
	free(a.body);
	aif_oai_req_free(&a.oreq);
}

void
route_completions(struct req *r, const struct aif_principal *who, enum aif_kind kind)
{
	admit(r, who, r->role, kind, NULL, NULL, 0);
}

void
route_messages(struct req *r, const struct aif_principal *who, int count_only)
{
	admit(r, who, r->role, AIF_KIND_CHAT, NULL, NULL, count_only);
}

void
route_responses_create(struct req *r, const struct aif_principal *who, int count_only)
{
	admit(r, who, r->role, AIF_KIND_CHAT, NULL, NULL, count_only);
}

void
route_workflow_runs(struct req *r, const struct aif_principal *who, const char *name)
{
	admit(r, who, r->role, AIF_KIND_CHAT, name, NULL, 0);
}

/* The role endpoint of a kind's route (router.c). */
static const char *
kind_endpoint(enum aif_kind kind)
{
	switch (kind) {
	case AIF_KIND_CHAT:		return "chat";
	case AIF_KIND_COMPLETION:	return "completions";
	case AIF_KIND_EMBEDDING:	return "embeddings";
	case AIF_KIND_RERANK:		return "rerank";
	case AIF_KIND_SCORE:		return "score";
	case AIF_KIND_TOKENIZE:
	case AIF_KIND_DETOKENIZE:	return "tokenize";
	case AIF_KIND_RESPONSES:	return "responses";
	case AIF_KIND_MESSAGES:		return "messages";
	}
	return "chat";
}

void
route_retry(struct req *r, const struct aif_principal *owner,
    const struct aif_console_retry *src)
{
	const struct aif_role *role = aif_cfg_role(r->cfg, owner->role);
	enum aif_kind kind;

	if (role == NULL) {
		REFUSE0(&r->reply, AIF_E_RETRY_KEY_GONE, NULL);
		return;
	}
	/* a surface's stored request is the surface's, which a retry does not take */
	if (aif_kind_parse(src->kind, &kind) != 0 || (kind & AIF_KIND_SURFACES)) {
		REFUSE0(&r->reply, AIF_E_RETRY_RUN, NULL);
		return;
	}
	/* what the router checks of a request: the key's role may use the endpoint */
	if (!aif_cfg_role_allows_endpoint(role, kind_endpoint(kind))) {
		REFUSE0(&r->reply, AIF_E_ENDPOINT_FORBIDDEN, NULL);
		return;
	}
	admit(r, owner, role, kind, NULL, src, 0);
}

/* ---- a batch's lines (batcher.c) -------------------------------------------------- */

/* The phases a batch's line goes through: those of a request that read its body, its
 * caller's limits and budget; not the HTTP ones (content type, body, idempotency: a
 * line is one job by its batch and line), nor the tenant's queue cap (the feeder keeps
 * the lane's own depth). */
static const struct phase line_phases[] = {
	{ "parse", parse },
	{ "model", model },
	{ "headers", headers },
	{ "pii", pii },
	{ "guardrails", guardrails },
	{ "serialise", serialise },
	{ "rate_limits", rate_limits },
	{ "budget", budget },
};

void
admit_line_free(struct admission *a)
{
	if (a == NULL)
		return;
	json_decref(a->resp_md);
	free(a->take_bell);
	free(a->native_text);
	free(a->pii_json);
	free(a->stored);
	free(a->body);
	aif_oai_req_free(&a->oreq);
	free(a);
}

enum line_verdict
admit_line(struct req *r, const struct aif_principal *who, const struct aif_role *role,
    const struct line_in *in, struct admission **out, struct aif_job_new *job,
    struct aif_error *err, int64_t *wait_ms)
{
	struct admission *a = calloc(1, sizeof(*a));
	enum line_verdict v = LINE_JOB;
	size_t i;

	*out = NULL;
	*wait_ms = 0;
	if (a == NULL || (a->body = malloc(in->len + 1)) == NULL) {
		free(a);
		AIF_ERROR0(err, AIF_E_OUT_OF_MEMORY, NULL);
		return LINE_FAILED;
	}
	memcpy(a->body, in->body, in->len);
	a->body[a->len = in->len] = '\0';
	a->r = r;
	a->who = who;
	a->role = role;
	a->tenant = aif_cfg_tenant(r->cfg, who->tenant);
	a->kind = in->kind;
	a->batch_id = in->batch_id;
	a->batch_line = in->line;
	r->reply.headers[0] = '\0';
	for (i = 0; i < AIF_NELEM(line_phases); i++) {
		if (line_phases[i].run(a) != AIF_OK)
			break;
		if (a->workflow != NULL) {	/* a batch runs models, not workflows */
			(void)DENY(a, AIF_E_MODEL_NOT_FOUND, "model", a->oreq.model);
			break;
		}
	}
	if (i < AIF_NELEM(line_phases)) {
		*err = a->err;
		v = a->retry_after_ms > 0 ? LINE_WAIT : a->err.status >= 500 ? LINE_FAILED :
		    LINE_REFUSED;
		*wait_ms = a->retry_after_ms;
	} else if (job_of(a, job) != 0) {
		*err = a->err;
		v = LINE_FAILED;
	}
	if (v != LINE_JOB) {
		admit_line_free(a);
		return v;
	}
	*out = a;
	return LINE_JOB;
}
