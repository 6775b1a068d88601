/* admission.c -- the gate between a valid request and the queue: the caller's rate
 * limits (requests and tokens per minute, per key and per tenant, shared by every
 * aif-api process through MariaDB) with OpenAI's x-ratelimit-* headers, and the budget
 * subjects whose monthly limits the job's worst-case cost is held against. Limits come
 * from the key's own columns, else its role's YAML defaults; tenants from YAML. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "log.h"
#include "metrics.h"
#include "pricing.h"
#include "queue.h"
#include "ratelimit.h"

static int64_t
key_limit(int64_t own, int64_t role_default)
{
	return own >= 0 ? own : role_default;
}

/* Adds a check of `limit` per minute (< 0: unlimited, nothing added) on subject
 * "<kind>:<who>:<unit>" costing `cost`. */
static void
add_check(struct aif_rl_check *c, size_t *n, const char *kind, const char *who,
    const char *unit, int64_t limit, int64_t cost)
{
	if (limit < 0)
		return;
	snprintf(c[*n].subject, sizeof(c[*n].subject), "%s:%.150s:%s", kind, who, unit);
	c[*n].limit = limit;
	c[*n].cost = cost > 0 ? cost : 1;
	(*n)++;
}

/* Writes the x-ratelimit-* headers of the key's limits (or the tenant's when the key
 * has none) into r->reply.headers. */
static void
set_headers(struct req *r, const struct aif_rl_check *c, size_t n)
{
	const struct aif_rl_check *req = NULL, *tok = NULL;
	char *h = r->reply.headers, dur[32];
	size_t cap = sizeof(r->reply.headers), off = strlen(h);
	int m;

	for (size_t i = 0; i < n; i++) {
		int is_rpm = strstr(c[i].subject, ":rpm") != NULL;
		int is_key = strncmp(c[i].subject, "key:", 4) == 0;
		if (is_rpm && (req == NULL || is_key))
			req = &c[i];
		if (!is_rpm && (tok == NULL || is_key))
			tok = &c[i];
	}
	if (req != NULL) {
		aif_rl_go_duration(req->reset_ms, dur, sizeof(dur));
		m = snprintf(h + off, cap - off, "x-ratelimit-limit-requests: %" PRId64 "\r\n"
		    "x-ratelimit-remaining-requests: %" PRId64 "\r\n"
		    "x-ratelimit-reset-requests: %s\r\n", req->limit, req->remaining, dur);
		if (m > 0 && (size_t)m < cap - off)
			off += (size_t)m;
	}
	if (tok != NULL) {
		aif_rl_go_duration(tok->reset_ms, dur, sizeof(dur));
		m = snprintf(h + off, cap - off, "x-ratelimit-limit-tokens: %" PRId64 "\r\n"
		    "x-ratelimit-remaining-tokens: %" PRId64 "\r\n"
		    "x-ratelimit-reset-tokens: %s\r\n", tok->limit, tok->remaining, dur);
		if (m > 0 && (size_t)m < cap - off)
			off += (size_t)m;
	}
	h[off < cap ? off : cap - 1] = '\0';
}

int
admit_rate_limits(struct req *r, const struct aif_principal *who,
    const struct aif_role *role, const struct aif_model *model, int64_t tokens)
{
	const struct aif_tenant *t = aif_cfg_tenant(r->cfg, who->tenant);
	struct aif_rl_check c[AIF_RL_SUBJECTS_MAX];
	char keyid[32];
	size_t n = 0;
	int allowed = 1;
	enum aif_err err;

	snprintf(keyid, sizeof(keyid), "%" PRIu64, who->key_id);
	memset(c, 0, sizeof(c));
	add_check(c, &n, "key", keyid, "rpm", key_limit(who->rpm, role->rpm), 1);
	add_check(c, &n, "key", keyid, "tpm", key_limit(who->tpm, role->tpm), tokens);
	if (t != NULL) {
		add_check(c, &n, "tenant", who->tenant, "rpm", t->rpm, 1);
		add_check(c, &n, "tenant", who->tenant, "tpm", t->tpm, tokens);
	}
	if (n == 0)
		return 0;
	if ((err = aif_rl_check(r->db, c, n, &allowed)) != AIF_OK) {
		reply_fail(&r->reply, 503, "server_error", "database_unavailable", NULL,
		    "The service is temporarily unavailable, please retry shortly.");
		return -1;
	}
	set_headers(r, c, n);
	if (allowed)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char hdr[128], wait[32];
		int is_rpm;
		if (c[i].allowed)
			continue;
		is_rpm = strstr(c[i].subject, ":rpm") != NULL;
		aif_metrics_add("aif_ratelimit_refusals_total", is_rpm ?
		    (strncmp(c[i].subject, "key:", 4) == 0 ? "kind=\"requests\",scope=\"key\"" :
		    "kind=\"requests\",scope=\"tenant\"") :
		    (strncmp(c[i].subject, "key:", 4) == 0 ? "kind=\"tokens\",scope=\"key\"" :
		    "kind=\"tokens\",scope=\"tenant\""), 1);
		aif_rl_go_duration(c[i].retry_after_ms, wait, sizeof(wait));
		snprintf(hdr, sizeof(hdr), "Retry-After: %" PRId64 "\r\nretry-after-ms: %" PRId64
		    "\r\n", (c[i].retry_after_ms + 999) / 1000, c[i].retry_after_ms);
		size_t off = strlen(r->reply.headers);
		snprintf(r->reply.headers + off, sizeof(r->reply.headers) - off, "%s", hdr);
		struct aif_oai_error e;
		aif_oai_error_set(&e, 429, is_rpm ? "requests" : "tokens", "rate_limit_exceeded",
		    NULL, "Rate limit reached for %s on %s per min (%s) of your %s: Limit %"
		    PRId64 ", Requested %" PRId64 ". Please try again in %s.", model->id,
		    is_rpm ? "requests" : "tokens", is_rpm ? "RPM" : "TPM",
		    strncmp(c[i].subject, "key:", 4) == 0 ? "API key" : "tenant",
		    c[i].limit, c[i].cost, wait);
		char *s = aif_oai_error_json(&e);
		if (s != NULL) {
			reply_send(&r->reply, 429, NULL, s, strlen(s));
			free(s);
		} else {
			reply_error(&r->reply, &e);
		}
		return -1;
	}
	return -1;
}

void
admit_budget(const struct aif_config *cfg, const struct aif_principal *who,
    const struct aif_role *role, const struct aif_model *model, int64_t prompt_tokens,
    int64_t max_output_tokens, struct aif_job_new *job)
{
	const struct aif_tenant *t = aif_cfg_tenant(cfg, who->tenant);
	int64_t key_budget = key_limit(who->monthly_budget_micros, role->monthly_budget_micros);

	job->nbudget = 0;
	job->budget_hold_micros = aif_price_micros(&model->pricing, prompt_tokens,
	    max_output_tokens);
	if (key_budget >= 0) {
		struct aif_budget_subject *s = &job->budget[job->nbudget++];
		snprintf(s->subject, sizeof(s->subject), "key:%" PRIu64, who->key_id);
		s->limit_micros = key_budget;
	}
	if (t != NULL && t->monthly_budget_micros >= 0) {
		struct aif_budget_subject *s = &job->budget[job->nbudget++];
		snprintf(s->subject, sizeof(s->subject), "tenant:%.150s", who->tenant);
		s->limit_micros = t->monthly_budget_micros;
	}
	if (job->nbudget == 0 || job->budget_hold_micros == 0) {
		/* nothing to hold (no budget, or a free model) */
		job->nbudget = 0;
		job->budget_hold_micros = 0;
	}
}
