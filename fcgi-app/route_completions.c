/* route_completions.c -- POST /v1/chat/completions, /v1/completions and /v1/embeddings:
 * read the body
 * within its limit, check the content type, validate the OpenAI request, check the
 * model against the config and the caller's role, pick the priority, enqueue the job
 * (job row + event in one transaction), wake the workers, then either answer 202 at
 * once (Prefer: respond-async) or park the request until the job is final. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/sha.h>

#include "adapter.h"
#include "api.h"
#include "log.h"
#include "metrics.h"
#include "pii.h"
#include "queue.h"

#define IDEMPOTENCY_KEY_MAX	255

/* Reads the request body (up to max bytes). Returns a new buffer with *len set, or NULL:
 * *too_big set when the body is over the limit (the rest is drained). */
static char *
read_body(FCGX_Request *fr, size_t max, size_t *len, int *too_big)
{
	const char *cl = FCGX_GetParam("CONTENT_LENGTH", fr->envp);
	int64_t declared = 0;
	char *buf;
	size_t n = 0;

	*len = 0;
	*too_big = 0;
	if (cl != NULL && *cl != '\0' &&
	    aif_parse_i64(cl, 0, INT64_MAX, &declared) != 0)
		return NULL;
	if ((size_t)declared > max) {
		char scratch[8192];
		*too_big = 1;
		while (FCGX_GetStr(scratch, sizeof(scratch), fr->in) > 0)
			;
		return NULL;
	}
	if ((buf = malloc((size_t)declared + 1)) == NULL)
		return NULL;
	while (n < (size_t)declared) {
		int got = FCGX_GetStr(buf + n, (int)((size_t)declared - n), fr->in);
		if (got <= 0)
			break;
		n += (size_t)got;
	}
	buf[n] = '\0';
	*len = n;
	return buf;
}

static int
wants_async(FCGX_Request *fr)
{
	const char *p = FCGX_GetParam("HTTP_PREFER", fr->envp);

	return p != NULL && strcasestr(p, "respond-async") != NULL;
}

/* Returns the priority to use, or -1 after answering 400 for a malformed header. */
static int
pick_priority(struct req *r, const struct aif_principal *who, const struct aif_role *role)
{
	const char *h = FCGX_GetParam("HTTP_X_PRIORITY", r->reply.fcgi->envp);
	int cap = who->max_priority >= 0 ? who->max_priority : role->max_priority;
	int prio = r->cfg->queue.default_priority;
	int64_t v;

	if (h != NULL) {
		if (aif_parse_i64(h, 0, 9, &v) != 0) {
			reply_fail(&r->reply, 400, "invalid_request_error", "invalid_value",
			    "X-Priority", "Invalid 'X-Priority' header: expected an integer "
			    "from 0 (lowest) to 9 (highest).");
			return -1;
		}
		prio = (int)v;
	}
	return prio > cap ? cap : prio;
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

/* Answers a request that refers to an existing job (same Idempotency-Key and body, or a
 * retry of the SDKs): async -> 202 with the job; sync -> waits for that job. */
static void
attach(struct req *r, const struct aif_principal *who, uint64_t id, const char *public_id,
    int async, int stream, enum aif_kind kind)
{
	struct aif_job_view *v = NULL;
	char msg[64];
	int n;

	aif_strlcpy(r->reply.job_id, public_id, sizeof(r->reply.job_id));
	n = (int)strlen(r->reply.headers);
	snprintf(r->reply.headers + n, sizeof(r->reply.headers) - (size_t)n,
	    "x-aif-idempotent-replay: true\r\n");
	if (async) {
		if (aif_queue_view_public(r->db, public_id, who->key_id, &v) != AIF_OK) {
			reply_fail(&r->reply, 503, "server_error", "database_unavailable", NULL,
			    "The service is temporarily unavailable, please retry shortly.");
			return;
		}
		json_t *j = job_json(v->public_id, v->model, v->kind, v->state, v->priority,
		    v->attempts, v->created_at, v->started_at, v->finished_at, v->response_body,
		    v->http_status, v->error_type, v->error_code, v->error_message);
		aif_queue_views_free(v, 1);
		reply_json(&r->reply, 202, NULL, j);
		json_decref(j);
		return;
	}
	if ((stream ? streams_park(r->api, id, &r->reply, kind, 0,
	    aif_now_ms() + r->cfg->server.sync_timeout_ms) :
	    waiters_park(r->api, id, &r->reply,
	    aif_now_ms() + r->cfg->server.sync_timeout_ms)) != 0) {
		reply_fail(&r->reply, 503, "server_error", "too_many_waiting", NULL,
		    "Too many requests are waiting; poll GET /v1/jobs/%s.", public_id);
		return;
	}
	r->parked = 1;
	r->reply.fcgi = NULL;
	/* the job may be final already: have the completer look at once */
	n = snprintf(msg, sizeof(msg), "job %llu\n", (unsigned long long)id);
	(void)aif_doorbell_ring(r->api->sender_fd, r->api->doorbell_path, msg, (size_t)n);
}

void
route_completions(struct req *r, const struct aif_principal *who, enum aif_kind kind)
{
	const struct aif_config *cfg = r->cfg;
	FCGX_Request *fr = r->reply.fcgi;
	const char *ctype = FCGX_GetParam("CONTENT_TYPE", fr->envp);
	const char *idem = FCGX_GetParam("HTTP_IDEMPOTENCY_KEY", fr->envp);
	const struct aif_role *role = aif_cfg_role(cfg, who->role);
	const struct aif_model *model;
	struct aif_oai_limits lim = {
		.max_body_bytes = cfg->server.max_body_bytes,
		.max_depth = cfg->server.max_json_depth,
		.max_messages = cfg->server.max_messages,
		.max_string_bytes = cfg->server.max_body_bytes,
	};
	struct aif_oai_req oreq;
	struct aif_oai_error oerr;
	struct aif_job_new job;
	char public_id[AIF_JOB_ID_LEN + 1];
	char *body = NULL, *stored = NULL;
	size_t len = 0;
	uint64_t id = 0;
	int too_big = 0, prio, async;
	int64_t max_out;
	unsigned char sha[SHA256_DIGEST_LENGTH];
	const char *retried;
	struct aif_pii_counts pii_counts;
	char blocked[64], *pii_json = NULL;
	enum aif_err err;

	memset(&oreq, 0, sizeof(oreq));
	if (ctype == NULL || strncasecmp(ctype, "application/json", 16) != 0 ||
	    (ctype[16] != '\0' && ctype[16] != ';' && ctype[16] != ' ')) {
		reply_fail(&r->reply, 415, "invalid_request_error", "unsupported_media_type",
		    NULL, "Unsupported Content-Type: send the body as application/json.");
		return;
	}
	body = read_body(fr, cfg->server.max_body_bytes, &len, &too_big);
	if (too_big) {
		reply_fail(&r->reply, 413, "invalid_request_error", "request_too_large", NULL,
		    "The request body is larger than the limit of %zu bytes.",
		    cfg->server.max_body_bytes);
		return;
	}
	if (body == NULL) {
		reply_fail(&r->reply, 400, "invalid_request_error", "invalid_json", NULL,
		    "Could not read the request body.");
		return;
	}
	if (aif_oai_parse(kind, body, len, &lim, &oreq, &oerr) != AIF_OK) {
		reply_error(&r->reply, &oerr);
		goto out;
	}
	model = aif_cfg_model(cfg, oreq.model);
	if (model == NULL) {
		reply_fail(&r->reply, 404, "invalid_request_error", "model_not_found", "model",
		    "The model '%.128s' does not exist or you do not have access to it.",
		    oreq.model);
		goto out;
	}
	if (!aif_cfg_role_allows_model(role, model->id)) {
		reply_fail(&r->reply, 403, "permission_denied", "model_forbidden", "model",
		    "Your key's role may not use the model '%.128s'.", model->id);
		goto out;
	}
	if ((model->kinds & kind) == 0) {
		reply_fail(&r->reply, 400, "invalid_request_error", "model_not_supported",
		    "model", "The model '%.128s' does not serve %s requests.", model->id,
		    kind == AIF_KIND_CHAT ? "chat completion" :
		    kind == AIF_KIND_EMBEDDING ? "embeddings" : "completion");
		goto out;
	}
	if (oreq.max_tokens > model->max_output_tokens) {
		reply_fail(&r->reply, 400, "invalid_request_error", "integer_above_max_value",
		    kind == AIF_KIND_CHAT && json_object_get(oreq.body,
		    "max_completion_tokens") != NULL ? "max_completion_tokens" : "max_tokens",
		    "Invalid value: this model allows at most %d output tokens, but %lld "
		    "were requested.", model->max_output_tokens, (long long)oreq.max_tokens);
		goto out;
	}
	if (oreq.stream && kind == AIF_KIND_EMBEDDING) {
		reply_fail(&r->reply, 400, "invalid_request_error", "unsupported_value",
		    "stream", "Embeddings cannot be streamed.");
		goto out;
	}
	if (idem != NULL && (strlen(idem) == 0 || strlen(idem) > IDEMPOTENCY_KEY_MAX)) {
		reply_fail(&r->reply, 400, "invalid_request_error", "invalid_value",
		    "Idempotency-Key", "The Idempotency-Key header must be 1 to %d characters.",
		    IDEMPOTENCY_KEY_MAX);
		goto out;
	}
	if ((prio = pick_priority(r, who, role)) < 0)
		goto out;
	/* worst case: the whole prompt plus every output token the request allows */
	max_out = kind == AIF_KIND_EMBEDDING ? 0 : oreq.max_tokens > 0 ? oreq.max_tokens :
	    model->max_output_tokens;
	/* personal data is masked before anything is stored, logged or sent */
	aif_pii_counts_init(&pii_counts);
	err = aif_pii_mask_request(r->pii, model->id, who->role, kind, oreq.body, &pii_counts,
	    blocked, sizeof(blocked));
	count_pii(&pii_counts);
	if (err == AIF_FORBIDDEN) {
		aif_pii_block_error(blocked, &oerr);
		reply_error(&r->reply, &oerr);
		goto out;
	}
	if (err == AIF_INVALID) {
		reply_fail(&r->reply, 400, "invalid_request_error", "invalid_utf8", NULL,
		    "The request holds text that is not valid UTF-8.");
		goto out;
	}
	if (err != AIF_OK) {
		reply_fail(&r->reply, err == AIF_TOOBIG ? 413 : 500, err == AIF_TOOBIG ?
		    "invalid_request_error" : "server_error", NULL, NULL,
		    "The request could not be screened for personal data.");
		goto out;
	}
	if (aif_pii_counts_json(&pii_counts, &pii_json) != AIF_OK) {
		reply_fail(&r->reply, 500, "server_error", NULL, NULL, "Out of memory.");
		goto out;
	}
	async = wants_async(fr);
	if (async && oreq.stream) {
		/* nobody will read a stream of an async job: store the whole answer */
		json_object_set_new(oreq.body, "stream", json_false());
		json_object_del(oreq.body, "stream_options");
		oreq.stream = 0;
	}
	if ((stored = json_dumps(oreq.body, JSON_COMPACT | JSON_SORT_KEYS)) == NULL) {
		reply_fail(&r->reply, 500, "server_error", NULL, NULL, "Out of memory.");
		goto out;
	}
	SHA256((const unsigned char *)stored, strlen(stored), sha);
	/* the same Idempotency-Key, or a retry of the official SDKs: the job exists */
	retried = FCGX_GetParam("HTTP_X_STAINLESS_RETRY_COUNT", fr->envp);
	if (idem != NULL || (retried != NULL && strcmp(retried, "0") != 0)) {
		uint64_t old = 0;
		char old_pid[AIF_JOB_ID_LEN + 1];
		int same = 0;
		err = aif_queue_find_idempotent(r->db, who->key_id, idem, sha,
		    cfg->queue.idempotency_window_s, &old, old_pid, &same);
		if (err == AIF_OK && !same) {
			reply_fail(&r->reply, 409, "invalid_request_error",
			    "idempotency_key_reused", "Idempotency-Key", "This Idempotency-Key "
			    "was already used with a different request body.");
			goto out;
		}
		if (err == AIF_OK) {
			attach(r, who, old, old_pid, async, oreq.stream, kind);
			goto out;
		}
		if (err != AIF_NOTFOUND) {
			reply_fail(&r->reply, 503, "server_error", "database_unavailable", NULL,
			    "The service is temporarily unavailable, please retry shortly.");
			goto out;
		}
	}
	if (admit_rate_limits(r, who, role, model, oreq.prompt_tokens_estimate + max_out) != 0)
		goto out;
	memset(&job, 0, sizeof(job));
	job.api_key_id = who->key_id;
	job.tenant = who->tenant;
	job.model = model->id;
	job.kind = aif_kind_name(kind);
	job.priority = prio;
	job.max_attempts = model->max_attempts;
	job.reply_to = async ? NULL : r->api->doorbell_path;
	job.request_id = r->reply.request_id;
	job.idempotency_key = idem;
	job.stream = oreq.stream;
	job.prompt_tokens_estimate = oreq.prompt_tokens_estimate;
	job.max_tokens = oreq.max_tokens;
	job.request_body = stored;
	job.request_len = strlen(stored);
	job.request_sha256 = sha;
	job.pii_counts = pii_json;
	job.tokens_charged = oreq.prompt_tokens_estimate + max_out;
	admit_budget(cfg, who, role, model, oreq.prompt_tokens_estimate, max_out, &job);
	err = enqueue_job(&job, &id, public_id);
	if (err == AIF_FORBIDDEN) {
		aif_metrics_add("aif_budget_refusals_total", "", 1);
		static const char quota[] = "{\"error\":{\"message\":\"You exceeded your "
		    "current quota: this request's worst-case cost does not fit in the monthly "
		    "budget left.\",\"type\":\"insufficient_quota\",\"param\":null,"
		    "\"code\":\"insufficient_quota\"}}";
		reply_send(&r->reply, 429, "x-should-retry: false\r\n", quota,
		    sizeof(quota) - 1);
		goto out;
	}
	if (err == AIF_CONFLICT) {
		/* a concurrent request with the same key won the insert: join it */
		uint64_t old = 0;
		char old_pid[AIF_JOB_ID_LEN + 1];
		int same = 0;
		if (aif_queue_find_idempotent(r->db, who->key_id, idem, sha,
		    cfg->queue.idempotency_window_s, &old, old_pid, &same) == AIF_OK && same)
			attach(r, who, old, old_pid, async, oreq.stream, kind);
		else
			reply_fail(&r->reply, 409, "invalid_request_error",
			    "idempotency_key_reused", "Idempotency-Key", "This Idempotency-Key "
			    "was already used with a different request body.");
		goto out;
	}
	if (err != AIF_OK) {
		reply_fail(&r->reply, 503, "server_error", "database_unavailable", NULL,
		    "The service is temporarily unavailable, please retry shortly.");
		goto out;
	}
	aif_strlcpy(r->reply.job_id, public_id, sizeof(r->reply.job_id));
	if (async) {
		json_t *j = job_json(public_id, model->id, job.kind, "queued", prio, 0,
		    aif_unix_now(), 0, 0, NULL, 0, NULL, NULL, NULL);
		char loc[128];
		snprintf(loc, sizeof(loc), "Location: /v1/jobs/%s\r\n", public_id);
		wake_workers(r->api, r->db);
		reply_json(&r->reply, 202, loc, j);
		json_decref(j);
		goto out;
	}
	/* Park before waking anyone, so the answer can never arrive before the waiter. */
	if (oreq.stream ? streams_park(r->api, id, &r->reply, kind,
	    json_is_true(json_object_get(json_object_get(oreq.body, "stream_options"),
	    "include_usage")), aif_now_ms() + cfg->server.sync_timeout_ms) != 0 :
	    waiters_park(r->api, id, &r->reply,
	    aif_now_ms() + cfg->server.sync_timeout_ms) != 0) {
		wake_workers(r->api, r->db);
		reply_fail(&r->reply, 503, "server_error", "too_many_waiting", NULL,
		    "Too many requests are waiting; the job %s was queued, poll "
		    "GET /v1/jobs/%s for its result.", public_id, public_id);
		goto out;
	}
	r->parked = 1;
	r->reply.fcgi = NULL;
	wake_workers(r->api, r->db);
out:
	free(pii_json);
	free(stored);
	free(body);
	aif_oai_req_free(&oreq);
}
