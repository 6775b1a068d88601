/* guard_hooks.c -- a job's guardrails in the worker (docs/GUARDRAILS.md): the pre-call
 * webhooks before the engine call (allow, block the job with the hook's reason, or
 * rewrite the request's texts), and after a successful answer the answer block lists
 * and post-call webhooks (allow, block, rewrite the answer's texts); a streamed answer
 * was delivered already, so its post-call check is an audit of the assembled answer,
 * recorded, never a rewrite. Hooks are calls on the worker's multi handle like engine
 * calls (one slot each), so the loop never waits on one. Each result is counted
 * (aif_guardrail_results_total) and recorded as a `guardrail` job event without any
 * text; a hook that fails (transport, status, malformed answer) follows its on_error:
 * allow (fail open) or block (fail closed: 503 guardrail_unavailable). Hooks see texts
 * masked: requests are stored masked, answers are masked here for them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "guard.h"
#include "log.h"
#include "pii.h"
#include "worker.h"

#define HOOK_ANSWER_MAX	65536	/* bytes of a hook's answer */

static const char *const phase_name[] = { "", "pre_call", "post_call", "audit" };

/* 1 when name is one of c's job's guardrails (its comma-separated list). */
static int
listed(const struct engine_call *c, const char *name)
{
	size_t n = strlen(name);

	for (const char *p = c->job.guardrails; *p != '\0'; ) {
		const char *e = strchr(p, ',');
		size_t len = e != NULL ? (size_t)(e - p) : strlen(p);
		if (len == n && memcmp(p, name, n) == 0)
			return 1;
		p += len + (e != NULL);
	}
	return 0;
}

/* The next guardrail of the job from index `from` with a hook for `phase`, or
 * SIZE_MAX. */
static size_t
next_hook(const struct worker *w, const struct engine_call *c, size_t from, int phase)
{
	for (size_t i = from; i < w->cfg->nguardrails; i++) {
		const struct aif_guardrail *g = &w->cfg->guardrails[i];
		const struct aif_guard_hook *h = phase == GUARD_PRE ? &g->pre_call :
		    &g->post_call;
		if (h->url != NULL && listed(c, g->name))
			return i;
	}
	return SIZE_MAX;
}

/* Counts and records one result (no text: the guardrail, the phase, what it did). */
static void
note(struct worker *w, const struct engine_call *c, const char *guard, int phase,
    const char *result)
{
	char detail[200];

	aif_guard_count(guard, phase_name[phase], result);
	snprintf(detail, sizeof(detail), "%s %s: %s", guard, phase_name[phase], result);
	(void)aif_queue_event(w->db, c->job.id, "guardrail", detail);
}

/* The hook's texts: the masked copies of nodes[0..n) (new array of new json strings),
 * or NULL. Requests are stored masked; an answer is masked here. */
static json_t **
masked_texts(struct worker *w, const struct engine_call *c, json_t **nodes, size_t n,
    int mask)
{
	json_t **out = calloc(n ? n : 1, sizeof(*out));
	struct aif_pii_actions act;

	if (out == NULL)
		return NULL;
	if (mask)
		aif_pii_actions_for(w->pii, c->job.model, NULL, &act);
	for (size_t i = 0; i < n; i++) {
		char *m = NULL;
		size_t ml = 0;
		if (mask && aif_pii_enabled(w->pii) && aif_pii_mask_text(&act,
		    json_string_value(nodes[i]), json_string_length(nodes[i]), &m, &ml, NULL,
		    NULL, 0) == AIF_OK)
			out[i] = json_stringn(m, ml);
		else if (mask && aif_pii_enabled(w->pii))
			out[i] = json_string("[unmaskable text withheld]");
		else
			out[i] = json_incref(nodes[i]);
		free(m);
		if (out[i] == NULL)
			out[i] = json_string("");
	}
	return out;
}

static void
texts_free(json_t **t, size_t n)
{
	for (size_t i = 0; t != NULL && i < n; i++)
		json_decref(t[i]);
	free(t);
}

/* Starts guardrail gi's hook of `phase` on call c with the texts of body. 0, or -1. */
static int
start_hook(struct worker *w, struct engine_call *c, size_t gi, int phase, json_t *body)
{
	const struct aif_guardrail *g = &w->cfg->guardrails[gi];
	const struct aif_guard_hook *h = phase == GUARD_PRE ? &g->pre_call : &g->post_call;
	struct aif_http_limits lim = { .timeout_ms = (long)h->timeout_ms,
	    .connect_timeout_ms = (long)h->timeout_ms, .max_response = HOOK_ANSWER_MAX };
	size_t n = 0;
	json_t **nodes = aif_guard_texts(body, &n), **texts;

	if (nodes == NULL)
		return -1;
	texts = masked_texts(w, c, nodes, n, phase != GUARD_PRE);
	free(nodes);
	if (texts == NULL)
		return -1;
	c->hook_body = aif_guard_hook_body(g->name, phase_name[phase], c->job.model,
	    c->job.public_id, texts, n);
	json_decref(c->hook_sent);
	c->hook_sent = json_array();
	for (size_t i = 0; c->hook_sent != NULL && i < n; i++)
		json_array_append(c->hook_sent, texts[i]);
	texts_free(texts, n);
	c->hook_texts = n;
	/* the engine's transfer of a post-call hook is over: its handle and headers go */
	if (c->easy != NULL)
		curl_easy_cleanup(c->easy);
	c->easy = NULL;
	aif_http_headers_free(c->headers);	/* wiped: one may hold a credential */
	c->headers = NULL;
	aif_http_body_free(&c->resp);
	if (c->hook_body == NULL || (c->easy = aif_http_easy(h->url, &lim)) == NULL ||
	    (c->headers = curl_slist_append(NULL, "Content-Type: application/json")) == NULL)
		return -1;
	memset(&c->resp, 0, sizeof(c->resp));
	c->resp.max = HOOK_ANSWER_MAX;
	curl_easy_setopt(c->easy, CURLOPT_POST, 1L);
	curl_easy_setopt(c->easy, CURLOPT_POSTFIELDS, c->hook_body);
	curl_easy_setopt(c->easy, CURLOPT_POSTFIELDSIZE, (long)strlen(c->hook_body));
	curl_easy_setopt(c->easy, CURLOPT_HTTPHEADER, c->headers);
	curl_easy_setopt(c->easy, CURLOPT_WRITEFUNCTION, aif_http_body_write);
	curl_easy_setopt(c->easy, CURLOPT_WRITEDATA, &c->resp);
	curl_easy_setopt(c->easy, CURLOPT_PRIVATE, c);
	c->hook = phase;
	c->hook_gi = gi;
	if (curl_multi_add_handle(w->multi, c->easy) != CURLM_OK)
		return -1;
	dispatch_track(w, c);
	/* before the engine call, the job holds its model's place: the claims that
	   follow count it (dispatch_release gives it back) */
	if (phase == GUARD_PRE && c->job_mi != SIZE_MAX) {
		w->model_in_flight[c->job_mi]++;
		w->model_hooks[c->job_mi]++;
	}
	return 0;
}

/* Takes down c's hook transfer (the call goes on, or ends, from its caller). */
static void
hook_clear(struct engine_call *c)
{
	if (c->easy != NULL)
		curl_easy_cleanup(c->easy);
	c->easy = NULL;
	aif_http_headers_free(c->headers);	/* wiped: an engine's may hold a key */
	c->headers = NULL;
	free(c->hook_body);
	c->hook_body = NULL;
	aif_http_body_free(&c->resp);
	memset(&c->resp, 0, sizeof(c->resp));
	c->hook = 0;
}

/* Fails c's job for good with error e and frees c: a guardrail's refusal (its own
 * failure class), or f for anything else. */
static void
fail(struct worker *w, struct engine_call *c, enum aif_failure f, const struct aif_error *e)
{
	hook_clear(c);
	json_decref(c->held);
	c->held = NULL;
	dispatch_fail(w, c, f, e);
}

int
guard_pre(struct worker *w, struct engine_call *c)
{
	size_t gi;
	json_t *body;
	int rc;

	if (c->job.guardrails[0] == '\0' || c->count ||
	    (gi = next_hook(w, c, c->guard_pre, GUARD_PRE)) == SIZE_MAX)
		return 0;
	c->guard_pre = gi + 1;
	body = json_loads(c->job.request_body, 0, NULL);
	rc = body != NULL ? start_hook(w, c, gi, GUARD_PRE, body) : -1;
	json_decref(body);
	if (rc != 0) {
		struct aif_error e;
		aif_warn("msg=\"cannot start a guardrail hook\" job=%s guardrail=%s",
		    c->job.public_id, w->cfg->guardrails[gi].name);
		hook_clear(c);
		if (!w->cfg->guardrails[gi].pre_call.fail_closed)
			return guard_pre(w, c);
		AIF_ERROR(&e, AIF_E_GUARDRAIL_UNAVAILABLE, NULL, w->cfg->guardrails[gi].name);
		fail(w, c, AIF_FAIL_REFUSED, &e);
	}
	return 1;
}

/* Puts a rewrite's texts into body's texts (the same count: checked when parsed), only
 * those the hook changed (sent: what it was sent): a text it returns as it got it keeps
 * the original, so that an answer's masked copy never replaces it. */
static void
rewrite(json_t *body, json_t *texts, const json_t *sent)
{
	size_t n = 0;
	json_t **nodes = aif_guard_texts(body, &n);

	if (nodes == NULL)
		return;
	for (size_t i = 0; i < n; i++) {
		const json_t *t = json_array_get(texts, i);
		if (json_equal((json_t *)t, json_array_get(sent, i)))
			continue;
		json_string_setn(nodes[i], json_string_value(t), json_string_length(t));
	}
	free(nodes);
}

/* A pre-call rewrite: the request's texts replaced (its body stored again masked is
 * not needed: the engine gets this one). 0, or -1. */
static int
rewrite_request(struct engine_call *c, json_t *texts)
{
	json_t *body = json_loads(c->job.request_body, 0, NULL);
	char *s;

	if (body == NULL)
		return -1;
	rewrite(body, texts, c->hook_sent);
	s = json_dumps(body, JSON_COMPACT);
	json_decref(body);
	if (s == NULL)
		return -1;
	free(c->job.request_body);
	c->job.request_body = s;
	return 0;
}

/* The held answer, rewritten or not, committed as the attempt's success. */
static void
commit_held(struct worker *w, struct engine_call *c)
{
	struct aif_engine_result res;
	struct aif_job_success s;
	char *text = json_dumps(c->held, JSON_COMPACT);
	struct aif_error e;

	if (text == NULL || strlen(text) > c->answer_max) {
		free(text);
		AIF_ERROR0(&e, AIF_E_ANSWER_TOO_LARGE, NULL);
		fail(w, c, AIF_FAIL_FATAL, &e);
		return;
	}
	free(c->answer);
	c->answer = text;
	c->answer_len = strlen(text);
	memset(&res, 0, sizeof(res));
	res.response = c->held;
	res.prompt_tokens = c->held_prompt;
	res.completion_tokens = c->held_completion;
	outcome_success_row(w, c, &res, &s);
	json_decref(c->held);
	c->held = NULL;
	commit_successes(w, &c, &s, 1);
}

/* The next post-call hook of c, or the commit when none is left. */
static void
post_next(struct worker *w, struct engine_call *c)
{
	size_t gi = next_hook(w, c, c->guard_post, GUARD_POST);
	struct aif_error e;

	if (gi == SIZE_MAX) {
		commit_held(w, c);
		return;
	}
	c->guard_post = gi + 1;
	if (start_hook(w, c, gi, GUARD_POST, c->held) == 0)
		return;
	hook_clear(c);
	if (!w->cfg->guardrails[gi].post_call.fail_closed) {
		post_next(w, c);
		return;
	}
	AIF_ERROR(&e, AIF_E_GUARDRAIL_UNAVAILABLE, NULL, w->cfg->guardrails[gi].name);
	fail(w, c, AIF_FAIL_REFUSED, &e);
}

/* The answer block lists of the job's guardrails over answer's texts: the first that
 * matches, or SIZE_MAX. */
static size_t
answer_blocked(struct worker *w, const struct engine_call *c, json_t *answer)
{
	size_t n = 0, hit = SIZE_MAX;
	json_t **nodes = NULL;

	for (size_t g = 0; g < w->cfg->nguardrails && hit == SIZE_MAX; g++) {
		if (!w->cfg->guardrails[g].check_answers || !listed(c, w->cfg->guardrails[g].name))
			continue;
		if (nodes == NULL && (nodes = aif_guard_texts(answer, &n)) == NULL)
			return SIZE_MAX;
		if (aif_guards_block_texts(w->guards, g, nodes, n))
			hit = g;
	}
	free(nodes);
	return hit;
}

/* A streamed answer's audit: a call of its own (the stream's is committed), holding a
 * copy of the job's identity and the assembled answer. */
static void
start_audit(struct worker *w, const struct engine_call *c, json_t *answer)
{
	struct engine_call *a;
	size_t gi, b = answer_blocked(w, c, answer);

	if (b != SIZE_MAX)
		note(w, c, w->cfg->guardrails[b].name, GUARD_AUDIT, "block");
	if ((gi = next_hook(w, c, 0, GUARD_POST)) == SIZE_MAX ||
	    (a = calloc(1, sizeof(*a))) == NULL)
		return;
	a->job = c->job;
	a->job.request_body = NULL;
	a->answer_max = c->answer_max;
	a->audit = 1;
	a->guard_post = gi + 1;
	a->held = json_incref(answer);
	if (start_hook(w, a, gi, GUARD_AUDIT, answer) != 0) {
		hook_clear(a);
		note(w, a, w->cfg->guardrails[gi].name, GUARD_AUDIT, "error");
		engine_call_free(a);	/* with what it holds: held, hook_sent */
	}
}

int
guard_post(struct worker *w, struct engine_call *c, struct aif_engine_result *res)
{
	size_t b;
	struct aif_error e;

	if (c->job.guardrails[0] == '\0' || res->response == NULL)
		return 0;
	if (c->stream) {
		start_audit(w, c, res->response);
		return 0;
	}
	if ((b = answer_blocked(w, c, res->response)) != SIZE_MAX) {
		note(w, c, w->cfg->guardrails[b].name, GUARD_POST, "block");
		AIF_ERROR(&e, AIF_E_GUARDRAIL_BLOCKED, NULL, w->cfg->guardrails[b].name,
		    w->cfg->guardrails[b].message);
		fail(w, c, AIF_FAIL_REFUSED, &e);
		return 1;
	}
	if (next_hook(w, c, 0, GUARD_POST) == SIZE_MAX)
		return 0;
	c->held = json_incref(res->response);
	c->held_prompt = res->prompt_tokens;
	c->held_completion = res->completion_tokens;
	post_next(w, c);
	return 1;
}

/* What hook call c's transfer brought: a decision, or -1 (no usable answer). */
static int
decision_of(struct engine_call *c, CURLcode done, struct aif_guard_decision *d)
{
	long status = 0;

	curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &status);
	if (aif_http_outcome(done, &c->resp) != AIF_OK || status != 200 ||
	    c->resp.buf.p == NULL)
		return -1;
	return aif_guard_decision_parse(c->resp.buf.p, c->resp.buf.len, c->hook_texts, d);
}

/* The audit of a stream ended: recorded, then the audit call is freed. */
static void
audit_done(struct worker *w, struct engine_call *a, int ok,
    const struct aif_guard_decision *d)
{
	const char *name = w->cfg->guardrails[a->hook_gi].name;
	size_t gi;

	note(w, a, name, GUARD_AUDIT, !ok ? "error" : d->action == AIF_GUARD_BLOCK ?
	    "block" : d->action == AIF_GUARD_REWRITE ? "rewrite_ignored" : "allow");
	hook_clear(a);
	if ((gi = next_hook(w, a, a->guard_post, GUARD_POST)) != SIZE_MAX) {
		a->guard_post = gi + 1;
		if (start_hook(w, a, gi, GUARD_AUDIT, a->held) == 0)
			return;
		hook_clear(a);
	}
	engine_call_free(a);	/* with what it holds: held, hook_sent */
}

void
guard_hook_done(struct worker *w, struct engine_call *c, CURLcode done)
{
	struct aif_guard_decision d;
	const struct aif_guardrail *g = &w->cfg->guardrails[c->hook_gi];
	int phase = c->hook, ok = decision_of(c, done, &d) == 0;
	const struct aif_guard_hook *h = phase == GUARD_PRE ? &g->pre_call : &g->post_call;
	struct aif_error e;

	if (!ok)
		memset(&d, 0, sizeof(d));
	if (c->audit) {
		audit_done(w, c, ok, &d);
		if (ok)
			json_decref(d.texts);
		return;
	}
	hook_clear(c);
	if (!ok) {
		note(w, c, g->name, phase, h->fail_closed ? "error_blocked" : "error_allowed");
		if (h->fail_closed) {
			AIF_ERROR(&e, AIF_E_GUARDRAIL_UNAVAILABLE, NULL, g->name);
			fail(w, c, AIF_FAIL_REFUSED, &e);
			return;
		}
		d.action = AIF_GUARD_ALLOW;
		d.texts = NULL;
	} else {
		note(w, c, g->name, phase, d.action == AIF_GUARD_BLOCK ? "block" :
		    d.action == AIF_GUARD_REWRITE ? "rewrite" : "allow");
	}
	if (d.action == AIF_GUARD_BLOCK) {
		AIF_ERROR(&e, AIF_E_GUARDRAIL_BLOCKED, NULL, g->name, d.reason[0] ? d.reason :
		    g->message);
		fail(w, c, AIF_FAIL_REFUSED, &e);
	} else if (phase == GUARD_PRE) {
		if (d.action == AIF_GUARD_REWRITE && rewrite_request(c, d.texts) != 0) {
			AIF_ERROR0(&e, AIF_E_OUT_OF_MEMORY, NULL);
			fail(w, c, AIF_FAIL_FATAL, &e);
		} else {
			dispatch_start_call(w, c);	/* the next hook, or the engine */
		}
	} else {
		if (d.action == AIF_GUARD_REWRITE)
			rewrite(c->held, d.texts, c->hook_sent);
		post_next(w, c);
	}
	json_decref(d.texts);
}
