/* flow_steps.c -- what each step kind of a workflow does when its run reaches it; see
 * flow_int.h. A step is `scheduled` until it starts (or until its retry is due),
 * `running` while its http call or its child job runs, `waiting` while a wait step
 * waits, then `succeeded` or `failed`. Every change is written before the next one is
 * made, so a runner that dies leaves the step as its row says. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/sha.h>

#include "budget.h"
#include "compensate.h"
#include "flow_int.h"
#include "http.h"
#include "log.h"
#include "oai.h"
#include "queue.h"
#include "ratelimit.h"
#include "secret.h"
#include "util.h"

#define HTTP_HEADERS_MAX	40
#define AIF_WF_PARALLEL_MAX	16	/* branches of a parallel step (the config's bound) */
#define HEADER_LINE_MAX		8192

static const json_t *
step_def(struct flow_run *fx, const struct aif_flow_step *s)
{
	return json_object_get(fx->steps_def, s->name);
}

static const char *
def_str(const json_t *d, const char *key)
{
	return json_string_value(json_object_get(d, key));
}

/* Something s waits for is due at `at` (ms). */
static void
wake_at(struct flow_run *fx, int64_t at)
{
	if (at > 0 && (fx->wake_ms == 0 || at < fx->wake_ms))
		fx->wake_ms = at;
}

/* Writes s as it is now (one row, an event when ev is given). */
static int
save(struct flow_run *fx, struct aif_flow_step *s, int started, const char *ev,
    const char *detail)
{
	struct flow_tx t;

	flow_tx_init(&t);
	flow_tx_step(&t, s, NULL, started, 0);
	if (ev != NULL)
		flow_tx_event(&t, ev, "%s: %s", s->name, detail ? detail : "");
	return flow_commit(fx, &t);
}

/* An attempt of s failed with `why`: due again after its backoff when it may retry,
 * else the run fails. */
static int
attempt_failed(struct flow_run *fx, struct aif_flow_step *s, int retryable,
    const char *code, const char *why)
{
	const json_t *retry = json_object_get(step_def(fx, s), "retry");
	int64_t delay;

	if (!retryable || s->attempts >= s->max_attempts) {
		flow_fail_run(fx, s, code, why);
		return -1;
	}
	delay = flow_backoff_ms(retry, s->attempts);
	aif_strlcpy(s->state, "scheduled", sizeof(s->state));
	aif_strlcpy(s->error, why, sizeof(s->error));
	aif_strlcpy(s->waiting_for, "retry", sizeof(s->waiting_for));
	s->wake_at_ms = aif_wall_ms() + delay;
	s->child_job_id = 0;
	{
		char d[FLOW_DETAIL_MAX];
		snprintf(d, sizeof(d), "attempt %d: %.160s; next in %lld ms", s->attempts, why,
		    (long long)delay);
		if (save(fx, s, 0, "step_retry_scheduled", d) != 0)
			return -1;
	}
	wake_at(fx, s->wake_at_ms);
	return 0;
}

/* ---- http --------------------------------------------------------------------------- */

int
flow_screen(struct flow_run *fx, json_t **v, char *why, size_t whylen)
{
	json_t *wrap = json_pack("{s:s,s:O}", "model", fx->run->workflow, "input", *v);
	struct aif_pii_refusal refusal;
	enum aif_err err;

	if (wrap == NULL)
		return -1;
	err = aif_pii_screen_request(fx->fr->pii, fx->run->workflow, fx->who.role,
	    AIF_KIND_CHAT, wrap, NULL, &refusal);
	if (err != AIF_OK) {
		snprintf(why, whylen, err == AIF_FORBIDDEN ? "the body holds personal data the "
		    "policy blocks (%s)" : "the body cannot be screened for personal data (%s)",
		    err == AIF_FORBIDDEN ? refusal.type : aif_strerror(err));
		json_decref(wrap);
		return -1;
	}
	json_decref(*v);
	*v = json_incref(json_object_get(wrap, "input"));
	json_decref(wrap);
	return 0;
}

char *
flow_url(struct flow_run *fx, const json_t *d, char *why, size_t whylen)
{
	const char *base = def_str(d, "base_url") ?: "";
	size_t bl = strlen(base);
	char *path, *url = NULL;

	if ((path = aif_wfx_render(def_str(d, "path") ?: "/", fx->root, AIF_WFX_URL, 8192,
	    why, whylen)) == NULL)
		return NULL;
	while (bl > 0 && base[bl - 1] == '/')
		bl--;
	/* the host is base_url's: nothing rendered may start another authority */
	if (path[0] != '/' || path[1] == '/' || asprintf(&url, "%.*s%s", (int)bl, base,
	    path) < 0) {
		snprintf(why, whylen, "the path does not start with a single '/'");
		url = NULL;
	}
	free(path);
	return url;
}

/* One header of http step s as a line: a template rendered now, or a secret file
 * read now. New string, or NULL with why. */
static char *
header_line(struct flow_run *fx, const char *name, const json_t *v, char *why,
    size_t whylen)
{
	json_t *rendered;
	char *val, *line;

	if (json_object_get(v, "file") != NULL)
		return aif_compensate_header_line(name, v, why, whylen);
	if ((val = aif_wfx_render(def_str(v, "value") ?: "", fx->root, AIF_WFX_TEXT,
	    HEADER_LINE_MAX, why, whylen)) == NULL)
		return NULL;
	rendered = json_pack("{s:s}", "value", val);
	free(val);
	line = rendered != NULL ? aif_compensate_header_line(name, rendered, why, whylen) :
	    NULL;
	json_decref(rendered);
	return line;
}

/* The request of http step d: url, header lines, body. New strings in the out params;
 * 0, or -1 with why. */
static int
http_request(struct flow_run *fx, const struct aif_flow_step *s, const json_t *d,
    char **url, char ***lines, size_t *nlines, char **body, char *why, size_t whylen)
{
	const json_t *h = json_object_get(d, "headers"), *v, *b = json_object_get(d, "body");
	const char *name;
	char **l;
	size_t n = 0;

	*body = NULL;
	*lines = NULL;
	*nlines = 0;
	if ((*url = flow_url(fx, d, why, whylen)) == NULL)
		return -1;
	if ((l = calloc(HTTP_HEADERS_MAX + 4, sizeof(*l))) == NULL)
		return -1;
	*lines = l;
	if (asprintf(&l[n++], "Idempotency-Key: %s:%s", fx->run->public_id, s->name) < 0 ||
	    asprintf(&l[n++], "X-AIF-Job: %s", fx->run->public_id) < 0 ||
	    (b != NULL && asprintf(&l[n++], "Content-Type: application/json") < 0)) {
		*nlines = n;
		return -1;
	}
	json_object_foreach((json_t *)h, name, v) {
		if (n >= HTTP_HEADERS_MAX)
			break;
		if ((l[n] = header_line(fx, name, v, why, whylen)) == NULL) {
			*nlines = n;
			return -1;
		}
		n++;
	}
	*nlines = n;
	if (b != NULL) {
		json_t *r = aif_wfx_render_json(b, fx->root, FLOW_TEXT_MAX, why, whylen);
		if (r == NULL || flow_screen(fx, &r, why, whylen) != 0) {
			json_decref(r);
			return -1;
		}
		*body = json_dumps(r, JSON_COMPACT | JSON_ENCODE_ANY);
		json_decref(r);
		if (*body == NULL)
			return -1;
	}
	return 0;
}

static void
lines_free(char **l, size_t n)
{
	for (size_t i = 0; l != NULL && i < n; i++) {
		if (l[i] != NULL)
			explicit_bzero(l[i], strlen(l[i]));	/* may hold a secret */
		free(l[i]);
	}
	free(l);
}

/* One http step's attempt in the making. */
struct http_try {
	struct aif_flow_step	*s;
	char			*url, *body, **lines;
	size_t			 nlines;
	unsigned char		 sha[SHA256_DIGEST_LENGTH];
	struct aif_http_call	 call;
};

static void
http_try_free(struct http_try *h)
{
	lines_free(h->lines, h->nlines);
	free(h->url);
	free(h->body);
}

/* Builds the request of http step s into h and adds its attempt to t (recorded before
 * it is made: a crash repeats it, at least once). -1 when it cannot be built (the run
 * failed). */
static int
http_prepare(struct flow_run *fx, struct aif_flow_step *s, struct http_try *h,
    struct flow_tx *t)
{
	const json_t *d = step_def(fx, s);
	long timeout = (long)json_integer_value(json_object_get(d, "timeout_ms"));
	size_t cap = (size_t)json_integer_value(json_object_get(d, "response_max"));
	char why[512] = "";

	memset(h, 0, sizeof(*h));
	h->s = s;
	if (http_request(fx, s, d, &h->url, &h->lines, &h->nlines, &h->body, why,
	    sizeof(why)) != 0) {
		flow_fail_run(fx, s, "workflow_step_failed", why[0] ? why :
		    "the request cannot be built");
		return -1;
	}
	h->call = (struct aif_http_call){
		.method = def_str(d, "method") ?: "POST", .url = h->url,
		.headers = (const char *const *)h->lines, .nheaders = h->nlines,
		.body = h->body, .lim = { .timeout_ms = timeout > 0 ? timeout : 60000,
		.max_response = cap > 0 ? cap : 1u << 20 },
	};
	SHA256((const unsigned char *)(h->body ? h->body : h->url),
	    strlen(h->body ? h->body : h->url), h->sha);
	s->attempts++;
	aif_strlcpy(s->state, "running", sizeof(s->state));
	s->waiting_for[0] = '\0';
	s->wake_at_ms = 0;
	if (s->started_ms == 0)
		s->started_ms = aif_wall_ms();
	flow_tx_step(t, s, NULL, 1, 0);
	t->w.steps[t->w.nsteps - 1].input_sha256 = h->sha;
	if (t->w.lease_ms < (int)h->call.lim.timeout_ms + fx->fr->cfg->queue.lease_seconds * 1000)
		t->w.lease_ms = (int)h->call.lim.timeout_ms +
		    fx->fr->cfg->queue.lease_seconds * 1000;
	flow_tx_event(t, "step_started", "%s (http, attempt %d)", s->name, s->attempts);
	return 0;
}

/* Records the outcome of an http attempt: 1 done (look again), -1 the run is over. */
static int
http_record(struct flow_run *fx, struct http_try *h, enum aif_err rc,
    struct aif_http_result *res)
{
	struct aif_flow_step *s = h->s;
	char why[512];
	json_t *parsed;

	if (rc != AIF_OK) {
		snprintf(why, sizeof(why), "%s", rc == AIF_TOOBIG ?
		    "the response is over response_max" : res->error[0] ? res->error :
		    aif_strerror(rc));
		return attempt_failed(fx, s, rc != AIF_TOOBIG, "workflow_step_failed", why) == 0 ?
		    1 : -1;
	}
	if (res->status < 200 || res->status > 299) {
		/* 3xx: redirects are not followed; 4xx but 408 and 429: the request is wrong */
		int retryable = res->status == 408 || res->status == 429 || res->status >= 500;
		snprintf(why, sizeof(why), "HTTP %ld", res->status);
		return attempt_failed(fx, s, retryable, "workflow_step_failed", why) == 0 ? 1 : -1;
	}
	parsed = res->body.buf.len > 0 ? json_loadb(res->body.buf.p, res->body.buf.len,
	    JSON_DECODE_ANY, NULL) : NULL;
	if (parsed == NULL)	/* not JSON: the text, when it is UTF-8 */
		parsed = json_stringn(res->body.buf.p ? res->body.buf.p : "", res->body.buf.len);
	if (parsed == NULL)
		parsed = json_string("");
	return flow_step_done(fx, s, json_pack("{s:i,s:o}", "status", (int)res->status,
	    "body", parsed), def_str(step_def(fx, s), "next"), NULL) == 0 ? 1 : -1;
}

struct http_group {
	struct flow_run		*fx;
	struct http_try		*tries;
	struct aif_http_result	*res;
	enum aif_err		*errs;
	int			 first;		/* stop at the first success */
	int			 any;		/* something was recorded */
};

static int
http_one_done(void *arg, size_t i)
{
	struct http_group *g = arg;
	int r = http_record(g->fx, &g->tries[i], g->errs[i], &g->res[i]);

	g->any = 1;
	return g->fx->over || r < 0 || (g->first &&
	    strcmp(g->tries[i].s->state, "succeeded") == 0);
}

/* Runs one attempt of each of the n http steps ss at once (a parallel step's members,
 * or one step), blocking, bounded by their timeouts; with first, the others are left
 * as soon as one succeeds. 1 when something changed, -1 when the run is over. */
static int
http_group(struct flow_run *fx, struct aif_flow_step **ss, size_t n, int first)
{
	struct http_try tries[FLOW_STEPS_MAX];
	struct aif_http_result res[FLOW_STEPS_MAX];
	enum aif_err errs[FLOW_STEPS_MAX];
	struct http_group g = { fx, tries, res, errs, first, 0 };
	struct flow_tx t;
	size_t k = 0;
	int ret = -1;

	flow_tx_init(&t);
	for (; k < n && k < FLOW_STEPS_MAX; k++)
		if (http_prepare(fx, ss[k], &tries[k], &t) != 0)
			goto out;
	if (flow_commit(fx, &t) != 0)
		goto out;
	memset(res, 0, sizeof(res));
	{
		struct aif_http_call calls[FLOW_STEPS_MAX];
		for (size_t i = 0; i < k; i++)
			calls[i] = tries[i].call;
		(void)aif_http_run_many(calls, k, 1, res, errs, http_one_done, &g);
		fx->called = 1;
	}
	for (size_t i = 0; i < k; i++)
		aif_http_body_free(&res[i].body);
	ret = fx->over ? -1 : g.any ? 1 : 0;
out:
	for (size_t i = 0; i < k + (k < n ? 1 : 0) && i < FLOW_STEPS_MAX; i++)
		http_try_free(&tries[i]);
	return ret;
}

/* 1 when step `name` is a branch of a parallel step (which runs it). */
static int
parallel_member(struct flow_run *fx, const char *name)
{
	const char *k;
	json_t *d, *m;
	size_t i;

	json_object_foreach(fx->steps_def, k, d) {
		if (!json_is_string(json_object_get(d, "kind")) ||
		    strcmp(json_string_value(json_object_get(d, "kind")), "parallel") != 0)
			continue;
		json_array_foreach(json_object_get(d, "branches"), i, m)
			if (json_is_string(m) && strcmp(json_string_value(m), name) == 0)
				return 1;
	}
	return 0;
}

/* ---- model -------------------------------------------------------------------------- */

/* The engine request of model step d: a chat or completion body (new), or NULL. */
static json_t *
model_body(struct flow_run *fx, const json_t *d, int stream, enum aif_kind *kind,
    char *why, size_t whylen)
{
	const json_t *msgs = json_object_get(d, "messages"), *m, *params;
	json_t *body = json_object(), *arr;
	size_t i;

	json_object_set_new(body, "model", json_string(def_str(d, "model")));
	if (msgs != NULL) {
		*kind = AIF_KIND_CHAT;
		arr = json_array();
		json_object_set_new(body, "messages", arr);
		json_array_foreach(msgs, i, m) {
			char *c = aif_wfx_render(def_str(m, "content") ?: "", fx->root,
			    AIF_WFX_TEXT, FLOW_TEXT_MAX, why, whylen);
			if (c == NULL) {
				json_decref(body);
				return NULL;
			}
			json_array_append_new(arr, json_pack("{s:s,s:s}", "role",
			    def_str(m, "role") ?: "user", "content", c));
			free(c);
		}
	} else {
		char *p = aif_wfx_render(def_str(d, "prompt") ?: "", fx->root, AIF_WFX_TEXT,
		    FLOW_TEXT_MAX, why, whylen);
		*kind = AIF_KIND_COMPLETION;
		if (p == NULL) {
			json_decref(body);
			return NULL;
		}
		json_object_set_new(body, "prompt", json_string(p));
		free(p);
	}
	if ((params = json_object_get(d, "params")) != NULL) {
		json_t *r = aif_wfx_render_json(params, fx->root, 65536, why, whylen);
		const char *k;
		json_t *v;
		if (r == NULL) {
			json_decref(body);
			return NULL;
		}
		json_object_foreach(r, k, v)
			if (strcmp(k, "model") != 0 && strcmp(k, "messages") != 0 &&
			    strcmp(k, "prompt") != 0 && strcmp(k, "stream") != 0 &&
			    strcmp(k, "n") != 0 && strcmp(k, "best_of") != 0)
				json_object_set(body, k, v);
		json_decref(r);
	}
	if (json_integer_value(json_object_get(d, "max_tokens")) > 0)
		json_object_set_new(body, "max_tokens", json_integer(
		    json_integer_value(json_object_get(d, "max_tokens"))));
	if (stream) {
		json_object_set_new(body, "stream", json_true());
		json_object_set_new(body, "stream_options", json_pack("{s:b}", "include_usage",
		    1));
	}
	return body;
}

/* 1 when model step s is the step whose answer streams to the run's client. */
static int
streams_to_client(struct flow_run *fx, const struct aif_flow_step *s)
{
	const char *ss = def_str(fx->def, "stream_step");

	return fx->run->stream && fx->run->has_relay_secret && fx->run->reply_to[0] &&
	    ss != NULL && strcmp(ss, s->name) == 0;
}

/* The validated request of model step s to model m (oreq filled, its canonical text
 * new in *text, the completion limit applied in *limit, the worst case in *max_out);
 * screened for personal data as a client's request. 0, or -1 when the run failed. */
static int
model_request(struct flow_run *fx, struct aif_flow_step *s, const struct aif_model *m,
    int stream, struct aif_oai_req *oreq, enum aif_kind *kind, char **text,
    int64_t *limit, int64_t *max_out)
{
	const struct aif_config *cfg = fx->fr->cfg;
	struct aif_oai_limits lim = {
		.max_body_bytes = cfg->server.max_body_bytes,
		.max_depth = cfg->server.max_json_depth,
		.max_messages = cfg->server.max_messages,
		.max_string_bytes = cfg->server.max_body_bytes,
	};
	struct aif_pii_refusal refusal;
	struct aif_error e;
	char why[512] = "";
	json_t *body;
	enum aif_err err;

	*text = NULL;
	if ((body = model_body(fx, step_def(fx, s), stream, kind, why, sizeof(why))) == NULL) {
		flow_fail_run(fx, s, "workflow_step_failed", why[0] ? why :
		    "the request cannot be built");
		return -1;
	}
	if ((m->kinds & *kind) == 0) {
		json_decref(body);
		flow_fail_run(fx, s, "model_not_supported", "the model does not serve this kind");
		return -1;
	}
	*text = json_dumps(body, JSON_COMPACT);
	json_decref(body);
	if (*text == NULL || aif_oai_parse(*kind, *text, strlen(*text), &lim, oreq, &e) !=
	    AIF_OK) {
		snprintf(why, sizeof(why), "the step's request is not valid: %.400s",
		    *text ? e.message : "out of memory");
		free(*text);
		*text = NULL;
		flow_fail_run(fx, s, "workflow_step_failed", why);
		return -1;
	}
	free(*text);
	*text = NULL;
	/* what the step sends is screened like what a client sends */
	err = aif_pii_screen_request(fx->fr->pii, m->id, fx->who.role, *kind, oreq->body,
	    NULL, &refusal);
	if (err != AIF_OK) {
		snprintf(why, sizeof(why), err == AIF_FORBIDDEN ?
		    "personal data the policy blocks (%s)" : "it cannot be screened for "
		    "personal data (%s)", err == AIF_FORBIDDEN ? refusal.type : aif_strerror(err));
		flow_fail_run(fx, s, "workflow_step_failed", why);
		return -1;
	}
	*limit = oreq->max_tokens > 0 && oreq->max_tokens <= m->max_output_tokens ?
	    oreq->max_tokens : m->max_output_tokens;
	json_object_set_new(oreq->body, "max_tokens", json_integer(*limit));
	oreq->max_tokens = *limit;
	*max_out = aif_oai_completion_bound(oreq, *limit);
	if ((*text = json_dumps(oreq->body, JSON_COMPACT | JSON_SORT_KEYS)) == NULL) {
		flow_fail_run(fx, s, "workflow_step_failed", "out of memory");
		return -1;
	}
	return 0;
}

/* Every model step counts against the caller's rate limits: 1 when this one may go,
 * 0 when it waits for them (recorded), -1 when the run is over. */
static int
model_rate_limit(struct flow_run *fx, struct aif_flow_step *s, int64_t tokens)
{
	const struct aif_gcra_check *c;
	struct aif_rl_plan rl;
	int allowed = 1;
	int64_t ms;

	aif_rl_plan(&fx->who, fx->role, aif_cfg_tenant(fx->fr->cfg, fx->who.tenant), tokens,
	    &rl);
	if (aif_rl_apply(fx->fr->db, &rl, &allowed) == AIF_OK && allowed)
		return 1;
	c = aif_rl_refused(&rl);
	ms = c != NULL && c->retry_after_ms > 0 ? c->retry_after_ms : 1000;
	aif_strlcpy(s->waiting_for, "rate_limit", sizeof(s->waiting_for));
	s->wake_at_ms = aif_wall_ms() + ms;
	if (save(fx, s, 0, "step_rate_limited", "waits for the caller's rate limit") != 0)
		return -1;
	wake_at(fx, s->wake_at_ms);
	return 0;
}

/* Step s runs as child job `id` (pid: its public id, "" when it was found): recorded. */
static int
model_running(struct flow_run *fx, struct aif_flow_step *s, const struct aif_model *m,
    uint64_t id, const char *pid, const unsigned char *sha)
{
	struct flow_tx t;

	s->attempts++;
	s->child_job_id = id;
	s->child_state[0] = '\0';
	aif_strlcpy(s->state, "running", sizeof(s->state));
	s->waiting_for[0] = '\0';
	s->wake_at_ms = 0;
	flow_tx_init(&t);
	flow_tx_step(&t, s, NULL, 1, 0);
	t.w.steps[0].input_sha256 = sha;
	flow_tx_event(&t, "step_started", "%s (model %s, attempt %d, job %s)", s->name, m->id,
	    s->attempts, pid[0] ? pid : "existing");
	if (flow_commit(fx, &t) != 0)
		return -1;
	flow_wake_worker(fx);
	return 0;
}

/* Model m exists and the caller's role may use it in a run: 0, or -1 (the run failed). */
static int
model_allowed(struct flow_run *fx, struct aif_flow_step *s, const struct aif_model *m)
{
	if (m == NULL) {
		flow_fail_run(fx, s, "model_not_found", "its model is no longer configured");
		return -1;
	}
	if (fx->role == NULL || !aif_cfg_role_allows_model(fx->role, m->id)) {
		flow_fail_run(fx, s, "model_not_allowed",
		    "the caller's role may not use the step's model");
		return -1;
	}
	/* a run keeps each step's output: that is what zero retention forbids */
	if (m->zero_retention || fx->role->zero_retention) {
		flow_fail_run(fx, s, "zero_retention_workflow", "the step's model or the "
		    "caller's role is zero-retention, and a run stores each step's output");
		return -1;
	}
	return 0;
}

/* Starts an attempt of model step s: a child job, gated and billed like a request of
 * the run's caller. */
static int
model_start(struct flow_run *fx, struct aif_flow_step *s)
{
	const struct aif_model *m = aif_cfg_model(fx->fr->cfg,
	    def_str(step_def(fx, s), "model") ?: "");
	int stream = streams_to_client(fx, s), gate;
	struct aif_oai_req oreq;
	struct aif_budget_plan bp;
	enum aif_kind kind = AIF_KIND_CHAT;
	char *text = NULL, idem[160], pid[AIF_JOB_ID_LEN + 1] = "";
	unsigned char sha[SHA256_DIGEST_LENGTH];
	int64_t limit = 0, max_out = 0;
	uint64_t id = 0;
	enum aif_err err;

	memset(&oreq, 0, sizeof(oreq));
	if (model_allowed(fx, s, m) != 0)
		return -1;
	if (model_request(fx, s, m, stream, &oreq, &kind, &text, &limit, &max_out) != 0 ||
	    (gate = model_rate_limit(fx, s, aif_sat_add(oreq.prompt_tokens_estimate,
	    max_out))) != 1) {
		aif_oai_req_free(&oreq);
		free(text);
		return fx->over ? -1 : 0;
	}
	aif_budget_plan(&fx->who, fx->role, aif_cfg_tenant(fx->fr->cfg, fx->who.tenant), m,
	    aif_oai_prompt_bound(&oreq, strlen(text)), max_out, &bp);
	SHA256((const unsigned char *)text, strlen(text), sha);
	snprintf(idem, sizeof(idem), "wf:%s:%s:%d", fx->run->public_id, s->name,
	    s->attempts + 1);
	struct aif_job_new job = {
		.api_key_id = fx->run->api_key_id,
		.tenant = fx->run->tenant,
		.model = m->id,
		.kind = kind,
		.priority = fx->run->priority,
		.max_attempts = m->max_attempts,
		.reply_to = stream ? fx->run->reply_to : NULL,
		.request_id = fx->run->request_id[0] ? fx->run->request_id : NULL,
		.idempotency_key = idem,
		.stream = stream,
		.prompt_tokens_estimate = oreq.prompt_tokens_estimate,
		.max_tokens = limit,
		.request_body = text,
		.request_len = strlen(text),
		.request_sha256 = sha,
		.tokens_charged = aif_sat_add(oreq.prompt_tokens_estimate, max_out),
		.budget_hold_micros = bp.hold_micros,
		.nbudget = bp.n,
		.prompt_tokens_bound = aif_oai_prompt_bound(&oreq, strlen(text)),
		.completion_tokens_bound = max_out,
		.relay_secret = stream ? fx->run->relay_secret : NULL,
		.parent_job_id = fx->run->id,
		.parent_step = s->name,
		/* the run's trace: its steps' engine calls are spans of it */
		.traceparent = fx->run->traceparent[0] ? fx->run->traceparent : NULL,
		.tracestate = fx->run->tracestate[0] ? fx->run->tracestate : NULL,
	};
	memcpy(job.budget, bp.subject, sizeof(job.budget));
	err = aif_queue_enqueue(fx->fr->db, &job, &id, pid);
	if (err == AIF_CONFLICT)	/* this attempt's job exists: a runner died after it */
		err = aif_flow_child_by_key(fx->fr->db, fx->run->api_key_id, idem, &id);
	aif_oai_req_free(&oreq);
	free(text);
	if (err == AIF_FORBIDDEN) {
		s->attempts++;
		flow_fail_run(fx, s, "insufficient_quota",
		    "the caller's budget cannot hold the step's worst-case cost");
		return -1;
	}
	if (err != AIF_OK) {
		aif_warn("msg=\"workflow step not enqueued\" job=%" PRIu64 " step=%s error=\"%s\"",
		    fx->run->id, s->name, aif_strerror(err));
		wake_at(fx, aif_wall_ms() + 1000);
		return 0;
	}
	return model_running(fx, s, m, id, pid, sha);
}

/* Model step s has a child job: its outcome, if it has one. */
static int
model_check(struct flow_run *fx, struct aif_flow_step *s)
{
	char st[16], et[64], ec[64], em[1024], why[1200];
	char *resp = NULL;
	json_t *r, *ch, *out;
	const json_t *d = step_def(fx, s);
	int ret;

	if (aif_flow_child(fx->fr->db, s->child_job_id, st, &resp, et, ec, em, sizeof(em)) !=
	    AIF_OK) {
		wake_at(fx, aif_wall_ms() + 1000);
		return 0;
	}
	if (strcmp(st, "succeeded") != 0 && strcmp(st, "failed") != 0 &&
	    strcmp(st, "cancelled") != 0 && strcmp(st, "compensating") != 0) {
		free(resp);
		return 0;	/* the child's end wakes the run */
	}
	if (strcmp(st, "succeeded") != 0) {
		free(resp);
		snprintf(why, sizeof(why), "model job %s: %s", st, em[0] ? em : ec);
		/* quota and a cancelled child are final; an engine failure may be retried */
		return attempt_failed(fx, s, strcmp(ec, "insufficient_quota") != 0 &&
		    strcmp(st, "cancelled") != 0, ec[0] ? ec : "workflow_step_failed", why) == 0 ?
		    1 : -1;
	}
	r = resp != NULL ? json_loads(resp, 0, NULL) : NULL;
	free(resp);
	ch = json_array_get(json_object_get(r, "choices"), 0);
	out = json_pack("{s:s,s:O?,s:O?,s:O?}", "text",
	    json_string_value(json_object_get(json_object_get(ch, "message"), "content")) ?:
	    json_string_value(json_object_get(ch, "text")) ?: "",
	    "finish_reason", json_object_get(ch, "finish_reason"),
	    "usage", json_object_get(r, "usage"), "response", r);
	json_decref(r);
	ret = flow_step_done(fx, s, out, def_str(d, "next"), NULL);
	return ret == 0 ? 1 : -1;
}

/* ---- transform, branch, parallel, wait, final -------------------------------------- */

static int
transform_step(struct flow_run *fx, struct aif_flow_step *s)
{
	const json_t *d = step_def(fx, s);
	const char *op = def_str(d, "op") ?: "";
	char why[512] = "", *text = NULL;
	json_t *out = NULL;

	s->attempts++;
	if (strcmp(op, "extract") == 0) {
		json_t *from = aif_wfx_render_json(json_object_get(d, "from"), fx->root,
		    FLOW_TEXT_MAX, why, sizeof(why));
		const json_t *v = from ? aif_wfx_lookup(from, def_str(d, "path") ?: "") : NULL;
		if (v == NULL)
			v = json_object_get(d, "default");
		if (v == NULL) {
			json_decref(from);
			flow_fail_run(fx, s, "workflow_step_failed", why[0] ? why :
			    "the path is not in the value");
			return -1;
		}
		out = json_pack("{s:O}", "value", v);
		json_decref(from);
	} else {
		const char *tmpl = def_str(d, strcmp(op, "format") == 0 ? "template" : "text");
		size_t len;
		if ((text = aif_wfx_render(tmpl ?: "", fx->root, AIF_WFX_TEXT, FLOW_TEXT_MAX,
		    why, sizeof(why))) == NULL) {
			flow_fail_run(fx, s, "workflow_step_failed", why);
			return -1;
		}
		len = strlen(text);
		if (strcmp(op, "truncate") == 0) {
			len = aif_wfx_truncate_len(text, len,
			    json_integer_value(json_object_get(d, "max_tokens")));
			text[len] = '\0';
		} else if (strcmp(op, "pii_mask") == 0) {
			struct aif_pii_actions act;
			char *masked = NULL, blocked[64] = "";
			size_t mlen = 0;
			enum aif_err rc;
			aif_pii_actions_for(fx->fr->pii, fx->run->workflow, fx->who.role, &act);
			rc = aif_pii_mask_text(&act, text, len, &masked, &mlen, NULL, blocked,
			    sizeof(blocked));
			free(text);
			text = masked;
			if (rc != AIF_OK) {
				free(masked);
				snprintf(why, sizeof(why), rc == AIF_FORBIDDEN ?
				    "personal data the policy blocks (%s)" : "cannot be masked (%s)",
				    rc == AIF_FORBIDDEN ? blocked : aif_strerror(rc));
				flow_fail_run(fx, s, "workflow_step_failed", why);
				return -1;
			}
		}
		out = json_pack("{s:s}", "text", text);
		free(text);
	}
	return flow_step_done(fx, s, out, def_str(d, "next"), NULL) == 0 ? 1 : -1;
}

static int
branch_step(struct flow_run *fx, struct aif_flow_step *s)
{
	const json_t *d = step_def(fx, s), *c;
	const char *next = def_str(d, "default");
	int taken = -1;
	size_t i;
	char why[256] = "";

	s->attempts++;
	json_array_foreach(json_object_get(d, "cases"), i, c) {
		int r = aif_wfx_cond(json_object_get(c, "when"), fx->root, why, sizeof(why));
		if (r < 0) {
			flow_fail_run(fx, s, "workflow_step_failed", why);
			return -1;
		}
		if (r == 1) {
			next = def_str(c, "next");
			taken = (int)i;
			break;
		}
	}
	if (next == NULL) {
		flow_fail_run(fx, s, "workflow_invalid", "no case matched and no default");
		return -1;
	}
	return flow_step_done(fx, s, json_pack("{s:s,s:i}", "taken", next, "case", taken),
	    next, next) == 0 ? 1 : -1;
}

/* The branches of parallel step d start together. */
static int
parallel_begin(struct flow_run *fx, struct aif_flow_step *s, const json_t *d, int first)
{
	const json_t *m;
	struct flow_tx t;
	size_t i;

	flow_tx_init(&t);
	s->attempts++;
	aif_strlcpy(s->state, "running", sizeof(s->state));
	if (s->started_ms == 0)
		s->started_ms = aif_wall_ms();
	flow_tx_step(&t, s, NULL, 1, 0);
	flow_tx_event(&t, "step_started", "%s (parallel, %zu branches, wait %s)", s->name,
	    json_array_size(json_object_get(d, "branches")), first ? "first" : "all");
	json_array_foreach(json_object_get(d, "branches"), i, m)
		if (flow_schedule(fx, &t, json_string_value(m)) != 0) {
			flow_fail_run(fx, s, "workflow_invalid", "a branch cannot start");
			return -1;
		}
	return flow_commit(fx, &t) == 0 ? 1 : -1;
}

/* The http branches of parallel step d that are due run together. */
static int
parallel_http(struct flow_run *fx, const json_t *d, int first)
{
	struct aif_flow_step *due[AIF_WF_PARALLEL_MAX];
	int64_t now = aif_wall_ms();
	const json_t *m;
	size_t i, nd = 0;

	json_array_foreach(json_object_get(d, "branches"), i, m) {
		struct aif_flow_step *b = flow_row(fx, json_string_value(m));
		if (b == NULL || strcmp(b->kind, "http") != 0 || nd >= AIF_NELEM(due) ||
		    (strcmp(b->state, "running") != 0 && strcmp(b->state, "scheduled") != 0))
			continue;
		if (b->wake_at_ms > now)
			wake_at(fx, b->wake_at_ms);
		else
			due[nd++] = b;
	}
	return nd > 0 ? http_group(fx, due, nd, first) : 0;
}

/* Wait first: the branches still open are not waited for (their jobs cancelled). */
static int
parallel_drop_others(struct flow_run *fx, const json_t *d)
{
	const json_t *m;
	size_t i;

	json_array_foreach(json_object_get(d, "branches"), i, m) {
		struct aif_flow_step *o = flow_row(fx, json_string_value(m));
		if (o == NULL || strcmp(o->state, "succeeded") == 0 ||
		    strcmp(o->state, "failed") == 0 || strcmp(o->state, "cancelled") == 0)
			continue;
		if (o->child_job_id != 0)
			(void)aif_queue_cancel(fx->fr->db, o->child_job_id, 0,
			    "another branch finished first");
		aif_strlcpy(o->state, "cancelled", sizeof(o->state));
		o->waiting_for[0] = '\0';
		if (save(fx, o, 0, "step_cancelled", "another branch finished first") != 0)
			return -1;
	}
	return 0;
}

/* A parallel step: its members scheduled together; done when all (or the first)
 * succeeded; failed when a member failed. */
static int
parallel_step(struct flow_run *fx, struct aif_flow_step *s)
{
	const json_t *d = step_def(fx, s), *m;
	const json_t *steps = json_object_get(fx->root, "steps");
	int first = def_str(d, "wait") != NULL && strcmp(def_str(d, "wait"), "first") == 0;
	size_t i, done = 0, total = json_array_size(json_object_get(d, "branches"));
	const struct aif_flow_step *winner = NULL;
	json_t *out;

	if (strcmp(s->state, "scheduled") == 0)
		return parallel_begin(fx, s, d, first);
	if (parallel_http(fx, d, first) < 0)
		return -1;
	json_array_foreach(json_object_get(d, "branches"), i, m) {
		const struct aif_flow_step *b = flow_row(fx, json_string_value(m));
		if (b == NULL || strcmp(b->state, "succeeded") != 0)
			continue;
		done++;
		if (winner == NULL || b->finished_ms < winner->finished_ms)
			winner = b;	/* the first to finish */
	}
	if (first && winner != NULL) {
		if (parallel_drop_others(fx, d) != 0)
			return -1;
		out = json_pack("{s:s,s:O?}", "first", winner->name, "output",
		    json_object_get(json_object_get(steps, winner->name), "output"));
	} else if (!first && done == total) {
		out = json_object();
		json_array_foreach(json_object_get(d, "branches"), i, m)
			json_object_set(out, json_string_value(m), json_object_get(
			    json_object_get(steps, json_string_value(m)), "output") ?: json_null());
	} else {
		return 0;
	}
	return flow_step_done(fx, s, out, def_str(d, "next"), NULL) == 0 ? 1 : -1;
}

/* Wait step s enters its wait: until when, and for what. */
static int
wait_begin(struct flow_run *fx, struct aif_flow_step *s, const json_t *d, const char *sig,
    int64_t now)
{
	int64_t ms = json_integer_value(json_object_get(d, sig ? "timeout_ms" : "for_ms"));

	s->attempts++;
	aif_strlcpy(s->state, "waiting", sizeof(s->state));
	if (sig != NULL)
		snprintf(s->waiting_for, sizeof(s->waiting_for), "signal:%s", sig);
	else
		aif_strlcpy(s->waiting_for, "timer", sizeof(s->waiting_for));
	s->wake_at_ms = now + (ms > 0 ? ms : 1000);
	if (s->started_ms == 0)
		s->started_ms = now;
	return save(fx, s, 1, "step_waiting", s->waiting_for);
}

/* A wait for signal `sig`: taken when it came, else on, or past its timeout. */
static int
wait_signal(struct flow_run *fx, struct aif_flow_step *s, const json_t *d, const char *sig,
    int64_t now)
{
	const char *ot = def_str(d, "on_timeout") ?: "fail";
	char *payload = NULL, why[160];
	uint64_t sig_id = 0;
	json_t *p;

	if (aif_flow_signal_peek(fx->fr->db, fx->run->id, sig, &sig_id, &payload) != AIF_OK) {
		wake_at(fx, now + 1000);
		return 0;
	}
	if (sig_id != 0) {
		p = json_loads(payload, JSON_DECODE_ANY, NULL);
		free(payload);
		return flow_step_consumed(fx, s, json_pack("{s:s,s:o}", "signal", sig,
		    "payload", p ? p : json_null()), def_str(d, "next"), NULL, sig_id) == 0 ?
		    1 : -1;
	}
	if (now < s->wake_at_ms) {
		if (fx->nwait_sig < AIF_NELEM(fx->wait_sig))
			fx->wait_sig[fx->nwait_sig++] = sig;
		wake_at(fx, s->wake_at_ms);
		return 0;
	}
	if (strcmp(ot, "fail") == 0) {
		snprintf(why, sizeof(why), "no signal %s came before its timeout", sig);
		flow_fail_run(fx, s, "workflow_wait_timeout", why);
		return -1;
	}
	return flow_step_done(fx, s, json_pack("{s:b}", "timed_out", 1),
	    strcmp(ot, "continue") == 0 ? def_str(d, "next") : ot, NULL) == 0 ? 1 : -1;
}

static int
wait_step(struct flow_run *fx, struct aif_flow_step *s)
{
	const json_t *d = step_def(fx, s);
	const char *sig = def_str(d, "signal");
	int64_t now = aif_wall_ms();

	if (strcmp(s->state, "scheduled") == 0 && wait_begin(fx, s, d, sig, now) != 0)
		return -1;
	if (sig != NULL)
		return wait_signal(fx, s, d, sig, now);
	if (now < s->wake_at_ms) {
		wake_at(fx, s->wake_at_ms);
		return 0;
	}
	return flow_step_done(fx, s, json_pack("{s:b}", "timer", 1), def_str(d, "next"),
	    NULL) == 0 ? 1 : -1;
}

static int
final_step(struct flow_run *fx, struct aif_flow_step *s)
{
	const json_t *d = step_def(fx, s);
	const char *from = def_str(d, "from");
	const json_t *out;
	json_t *rendered = NULL;
	char why[256] = "";

	s->attempts++;
	if (from != NULL) {
		out = json_object_get(json_object_get(json_object_get(fx->root, "steps"), from),
		    "output");
		if (out == NULL) {
			flow_fail_run(fx, s, "workflow_invalid", "the step it answers from has not run");
			return -1;
		}
		flow_succeed_run(fx, s, out, json_string_value(json_object_get(out,
		    "finish_reason")));
		return -1;
	}
	if ((rendered = aif_wfx_render_json(json_object_get(d, "output"), fx->root,
	    FLOW_TEXT_MAX, why, sizeof(why))) == NULL) {
		flow_fail_run(fx, s, "workflow_step_failed", why);
		return -1;
	}
	flow_succeed_run(fx, s, rendered, NULL);
	json_decref(rendered);
	return -1;
}

int
flow_step_advance(struct flow_run *fx, struct aif_flow_step *s)
{
	int64_t now = aif_wall_ms();

	if (strcmp(s->state, "scheduled") == 0 && s->wake_at_ms > now) {
		wake_at(fx, s->wake_at_ms);	/* a retry, or a rate limit, not yet due */
		return 0;
	}
	if (strcmp(s->kind, "http") == 0)	/* scheduled, or running when a runner died */
		return parallel_member(fx, s->name) ? 0 : http_group(fx, &s, 1, 0);
	if (strcmp(s->kind, "model") == 0) {
		if (strcmp(s->state, "running") == 0 && s->child_job_id != 0)
			return model_check(fx, s);
		return model_start(fx, s) == 0 && strcmp(s->state, "running") == 0 ? 1 :
		    fx->over ? -1 : 0;
	}
	if (strcmp(s->kind, "transform") == 0)
		return transform_step(fx, s);
	if (strcmp(s->kind, "branch") == 0)
		return branch_step(fx, s);
	if (strcmp(s->kind, "parallel") == 0)
		return parallel_step(fx, s);
	if (strcmp(s->kind, "wait") == 0)
		return wait_step(fx, s);
	if (strcmp(s->kind, "final") == 0)
		return final_step(fx, s);
	flow_fail_run(fx, s, "workflow_invalid", "unknown step kind");
	return -1;
}
