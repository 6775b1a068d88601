/* handoff.c -- the job carried in a "take" bell; see handoff.h. One JSON object after
 * the bell's line, with short keys (a bell is a datagram; the body is most of it). */
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bell.h"
#include "handoff.h"
#include "kind.h"
#include "util.h"

/* jansson's json_pack skips a NULL "s?" string as null; the decoder reads null as "". */
static json_t *
job_object(const struct aif_job_new *j, uint64_t id, const char *public_id)
{
	char secret[2 * AIF_RELAY_SECRET_BYTES + 1] = "";

	if (j->relay_secret != NULL) {
		aif_hex_encode(j->relay_secret, AIF_RELAY_SECRET_BYTES, secret);
		secret[2 * AIF_RELAY_SECRET_BYTES] = '\0';
	}
	return json_pack("{s:I, s:I, s:s, s:s, s:s, s:s, s:s?, s:I, s:i, s:b, s:I, s:i,"
	    " s:I, s:I, s:I, s:I, s:I, s:b, s:s, s:s?, s:s?, s:s?, s:s?, s:s?, s:s%}",
	    "w", (json_int_t)j->handoff_worker, "id", (json_int_t)id,
	    "pid", public_id, "model", j->model, "kind", aif_kind_name(j->kind),
	    "tenant", j->tenant, "reply_to", j->reply_to,
	    "key", (json_int_t)j->api_key_id, "max_attempts", j->max_attempts,
	    "stream", j->stream != 0, "at", (json_int_t)aif_wall_ms(),
	    "prio", j->priority,
	    "hold", (json_int_t)(j->nbudget ? j->budget_hold_micros : 0),
	    "tokens", (json_int_t)j->tokens_charged,
	    "pbound", (json_int_t)j->prompt_tokens_bound,
	    "cbound", (json_int_t)j->completion_tokens_bound,
	    "est", (json_int_t)j->prompt_tokens_estimate,
	    "zr", j->zero_retention != 0, "secret", secret,
	    "tp", j->traceparent, "ts", j->tracestate, "tl", j->trace_link,
	    "guard", j->guardrails, "pii", j->pii_counts,
	    "body", j->request_body, j->request_len);
}

enum aif_err
aif_handoff_encode(const struct aif_job_new *j, uint64_t id, const char *public_id,
    char **out, size_t *len)
{
	char head[64];
	size_t hl, jl;
	json_t *o;
	char *text;

	*out = NULL;
	*len = 0;
	/* a run or a run's step reads its row (the run's model, its definition) */
	if (j->handoff_worker == 0 || j->workflow_hash != NULL || j->parent_job_id != 0 ||
	    j->request_len > AIF_HANDOFF_BELL_MAX)
		return AIF_TOOBIG;
	if ((hl = aif_bell_take(head, sizeof(head), id)) == 0)
		return AIF_INVALID;
	/* NULL also when a string is no valid UTF-8: the plain bell then */
	if ((o = job_object(j, id, public_id)) == NULL)
		return AIF_TOOBIG;
	text = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	if (text == NULL)
		return AIF_NOMEM;
	if ((jl = strlen(text)) + hl >= AIF_HANDOFF_BELL_MAX) {
		free(text);
		return AIF_TOOBIG;
	}
	if ((*out = malloc(hl + jl + 1)) == NULL) {
		free(text);
		return AIF_NOMEM;
	}
	memcpy(*out, head, hl);
	memcpy(*out + hl, text, jl + 1);
	*len = hl + jl;
	free(text);
	return AIF_OK;
}

/* Copies the string o[key] (absent or null: "") into dst (cap bytes). -1 when it is
 * another type or does not fit. */
static int
copy_str(json_t *o, const char *key, char *dst, size_t cap)
{
	json_t *v = json_object_get(o, key);

	if (v == NULL || json_is_null(v)) {
		dst[0] = '\0';
		return 0;
	}
	if (!json_is_string(v) || json_string_length(v) >= cap ||
	    strlen(json_string_value(v)) != json_string_length(v))
		return -1;
	memcpy(dst, json_string_value(v), json_string_length(v) + 1);
	return 0;
}

/* o[key] as a number (absent: 0); -1 when it is no integer, or negative. */
static int
get_int(json_t *o, const char *key, int64_t *v, int may_be_negative)
{
	json_t *x = json_object_get(o, key);

	*v = 0;
	if (x == NULL)
		return 0;
	if (json_is_boolean(x)) {
		*v = json_is_true(x);
		return 0;
	}
	if (!json_is_integer(x))
		return -1;
	*v = json_integer_value(x);
	return *v < 0 && !may_be_negative ? -1 : 0;
}

/* The numbers of c from o; -1 when one is malformed. */
static int
fill_numbers(json_t *o, struct aif_claimed *c)
{
	int64_t key, max_attempts, stream, at, prio, zr;

	if (get_int(o, "key", &key, 0) || get_int(o, "max_attempts", &max_attempts, 0) ||
	    get_int(o, "stream", &stream, 0) || get_int(o, "at", &at, 0) ||
	    get_int(o, "prio", &prio, 1) || get_int(o, "zr", &zr, 0) ||
	    get_int(o, "hold", &c->budget_hold_micros, 0) ||
	    get_int(o, "tokens", &c->tokens_charged, 0) ||
	    get_int(o, "pbound", &c->prompt_tokens_bound, 0) ||
	    get_int(o, "cbound", &c->completion_tokens_bound, 0) ||
	    get_int(o, "est", &c->prompt_tokens_estimate, 0) || max_attempts > INT32_MAX)
		return -1;
	c->api_key_id = (uint64_t)key;
	c->max_attempts = (int)max_attempts;
	c->stream = stream != 0;
	c->batch = prio < 0;
	c->zero_retention = zr != 0;
	/* what TIMESTAMPDIFF(created_at, NOW(6)) gives on reading the row */
	c->queue_ms = aif_wall_ms() > at ? aif_wall_ms() - at : 0;
	return 0;
}

/* The strings of c from o; -1 when one is malformed or does not fit. */
static int
fill_strings(json_t *o, struct aif_claimed *c)
{
	char kind[32], secret[2 * AIF_RELAY_SECRET_BYTES + 1];

	if (copy_str(o, "pid", c->public_id, sizeof(c->public_id)) ||
	    copy_str(o, "model", c->model, sizeof(c->model)) ||
	    copy_str(o, "kind", kind, sizeof(kind)) ||
	    copy_str(o, "tenant", c->tenant, sizeof(c->tenant)) ||
	    copy_str(o, "reply_to", c->reply_to, sizeof(c->reply_to)) ||
	    copy_str(o, "secret", secret, sizeof(secret)) ||
	    copy_str(o, "tp", c->traceparent, sizeof(c->traceparent)) ||
	    copy_str(o, "ts", c->tracestate, sizeof(c->tracestate)) ||
	    copy_str(o, "tl", c->trace_link, sizeof(c->trace_link)) ||
	    copy_str(o, "guard", c->guardrails, sizeof(c->guardrails)) ||
	    copy_str(o, "pii", c->pii_counts, sizeof(c->pii_counts)))
		return -1;
	c->kind = AIF_KIND_CHAT;
	(void)aif_kind_parse(kind, &c->kind);
	if (secret[0] != '\0') {
		if (aif_hex_decode(secret, c->relay_secret, AIF_RELAY_SECRET_BYTES) != 0)
			return -1;
		c->has_relay_secret = 1;
	}
	return c->public_id[0] != '\0' && c->model[0] != '\0' ? 0 : -1;
}

enum aif_err
aif_handoff_decode(const char *msg, size_t len, uint64_t id, uint64_t worker_id,
    struct aif_claimed *c)
{
	const char *nl = memchr(msg, '\n', len);
	json_t *o, *body;
	int64_t w, jid;
	enum aif_err err = AIF_INVALID;

	memset(c, 0, sizeof(*c));
	if (nl == NULL || (size_t)(nl + 1 - msg) >= len)
		return AIF_NOTFOUND;	/* the plain bell */
	if ((o = json_loadb(nl + 1, len - (size_t)(nl + 1 - msg), 0, NULL)) == NULL)
		return AIF_INVALID;
	if (!json_is_object(o) || get_int(o, "w", &w, 0) || get_int(o, "id", &jid, 0))
		goto out;
	if ((uint64_t)w != worker_id) {
		err = AIF_NOTFOUND;	/* handed to this socket's earlier worker */
		goto out;
	}
	body = json_object_get(o, "body");
	if ((uint64_t)jid != id || !json_is_string(body) || fill_numbers(o, c) != 0 ||
	    fill_strings(o, c) != 0)
		goto out;
	c->id = id;
	c->relay_id = id;
	c->attempt = 1;
	c->first_claim = 1;
	c->lease_token = 1;
	err = (c->request_body = strndup(json_string_value(body),
	    json_string_length(body))) != NULL ? AIF_OK : AIF_NOMEM;
out:
	json_decref(o);
	return err;
}
