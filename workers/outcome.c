/* outcome.c -- turning one finished transfer into a result; see worker.h. The engine's
 * answer is decoded by the model's adapter (or assembled from its stream), the
 * replica's health is judged (transport errors, timeouts and 5xx count against it; an
 * answer, a 4xx or an overload signal do not), embeddings become base64 when the client
 * asked for it, answers are masked when the config says so, and a success becomes the
 * row the commit writes. The engine is not trusted: its usage must fit the request's
 * bounds and becomes the answer's usage, and an answer over server.max_answer_bytes is
 * refused (not retried, not held against the replica). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "embed.h"
#include "log.h"
#include "passthru.h"
#include "pii.h"
#include "pricing.h"
#include "worker.h"

/* The outcome of a stream that ended with HTTP 200: the assembled response, or the
 * error event that ended it, or a retryable failure if it stopped early. */
static void
stream_outcome(struct engine_call *c, struct aif_engine_result *res)
{
	engine_call_stream_finish(c);
	if (c->stream_fail != AIF_FAIL_NONE) {
		*res = c->stream_err;
		memset(&c->stream_err, 0, sizeof(c->stream_err));
		return;
	}
	if (!c->st.done && !c->adapter->stream_eof_ends) {
		aif_adapter_transport_failure("the stream ended before its end marker", 0, res);
		return;
	}
	res->failure = AIF_FAIL_NONE;
	res->prompt_tokens = c->st.prompt_tokens;
	res->completion_tokens = c->st.completion_tokens;
	res->response = aif_stream_asm_result(c->assembled, c->st.id, c->st.created,
	    c->model->id, c->st.prompt_tokens, c->st.completion_tokens);
	if (res->response == NULL)
		aif_adapter_transport_failure("out of memory", 0, res);
}

/* What the engine said: its answer decoded, or the transport's failure. Returns the
 * HTTP status of an answer the engine completed, 0 for none (no answer came, or a
 * stream that an error event ended or that broke off). */
static long
decode(struct engine_call *c, CURLcode done, struct aif_engine_result *res)
{
	long status = 0;
	enum aif_err err;

	if (done != CURLE_OK && c->stream && c->stream_fail != AIF_FAIL_NONE) {
		*res = c->stream_err;	/* an error event ended the stream */
		memset(&c->stream_err, 0, sizeof(c->stream_err));
		return 0;
	}
	if ((err = aif_http_outcome(done, &c->resp)) == AIF_TOOBIG) {
		struct aif_error e;
		AIF_ERROR0(&e, AIF_E_ANSWER_TOO_LARGE, NULL);
		aif_adapter_fail(res, AIF_FAIL_FATAL, &e);	/* not the replica's fault */
		return 0;
	}
	if (err != AIF_OK) {
		aif_adapter_transport_failure(curl_easy_strerror(done), err == AIF_TIMEOUT,
		    res);
		return 0;
	}
	curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &status);
	if (c->stream && status == 200) {
		stream_outcome(c, res);
		return c->stream_fail == AIF_FAIL_NONE ? status : 0;
	}
	c->adapter->parse(c->model, c->job.kind, status, c->resp.buf.p ? c->resp.buf.p : "",
	    c->resp.buf.len, res);
	/* TGI's /generate tells the prompt's count only in a header; set_usage then
	   writes it into the answer */
	if (res->failure == AIF_FAIL_NONE && res->prompt_tokens <= 0 &&
	    c->hdr_prompt_tokens > 0)
		res->prompt_tokens = c->hdr_prompt_tokens;
	return status;
}

/* Replaces *res by a failure of error e (the response dropped). */
static void
fail_with(struct aif_engine_result *res, enum aif_failure f, enum aif_apierr e)
{
	struct aif_error err;

	aif_engine_result_clear(res);
	AIF_ERROR0(&err, e, NULL);
	aif_adapter_fail(res, f, &err);
}

/* The engine's usage is believed only within what the request allows: prompt tokens
 * up to the bytes of the request plus 64 per message, completion tokens up to prompts
 * x choices x the completion limit, none negative (a job from before these bounds,
 * 0, is only checked for sign). Returns 1 when it is. */
static int
usage_believable(const struct engine_call *c, const struct aif_engine_result *res)
{
	const struct aif_claimed *j = &c->job;

	if (res->prompt_tokens < 0 || res->completion_tokens < 0)
		return 0;
	if (j->prompt_tokens_bound > 0 && res->prompt_tokens > j->prompt_tokens_bound)
		return 0;
	if (!(j->kind & AIF_KIND_GENERATES))
		return res->completion_tokens == 0;
	return j->completion_tokens_bound <= 0 ||
	    res->completion_tokens <= j->completion_tokens_bound;
}

/* The answer's usage object says what the gateway counted (and bills), whatever the
 * engine wrote there. */
static int
set_usage(json_t *response, enum aif_kind kind, int64_t prompt, int64_t completion)
{
	json_t *usage = json_object_get(response, "usage");

	if (kind == AIF_KIND_TOKENIZE || kind == AIF_KIND_DETOKENIZE)
		return 0;	/* their answers have no usage (the usage row has it) */
	if (kind & AIF_KIND_SURFACES)	/* in the surface's own words */
		return aif_passthru_set_usage(response, kind, prompt, completion);
	if (!json_is_object(usage)) {
		if ((usage = json_object()) == NULL ||
		    json_object_set_new(response, "usage", usage) != 0)
			return -1;
	}
	if (json_object_set_new(usage, "prompt_tokens", json_integer(prompt)) != 0 ||
	    json_object_set_new(usage, "total_tokens",
	    json_integer(aif_sat_add(prompt, completion))) != 0)
		return -1;
	if ((kind & AIF_KIND_GENERATES) && json_object_set_new(usage, "completion_tokens",
	    json_integer(completion)) != 0)
		return -1;
	return 0;
}

/* A surface's answer (passthru.h) carries the job's id, not the engine's: the id its
 * client retrieves, continues and deletes it by; a Response says whether the gateway
 * keeps it and which response it continues. -1 on no memory. */
static int
stamp(const struct engine_call *c, json_t *response)
{
	char id[AIF_JOB_ID_LEN + 16];

	if (!(c->job.kind & AIF_KIND_SURFACES))
		return 0;
	aif_passthru_id(c->job.kind, c->job.public_id, id, sizeof(id));
	/* the engine was told store: false; whether the gateway keeps it is the job's */
	if (c->job.kind == AIF_KIND_RESPONSES && (json_object_set_new(response, "store",
	    json_boolean(!c->job.zero_retention)) != 0 || (c->prev_resp[0] &&
	    json_object_set_new(response, "previous_response_id",
	    json_string(c->prev_resp)) != 0)))
		return -1;
	return aif_passthru_stamp(response, id, NULL);
}

/* json_dump_callback's sink: the answer into a buffer capped at max_answer_bytes. */
struct dump {
	struct aif_buf	 b;
	size_t		 max;
	enum aif_err	 err;
};

static int
dump_add(const char *buf, size_t n, void *arg)
{
	struct dump *d = arg;

	return (d->err = aif_buf_add(&d->b, buf, n, d->max)) == AIF_OK ? 0 : -1;
}

int
outcome_of(struct worker *w, struct engine_call *c, CURLcode done,
    struct aif_engine_result *res)
{
	struct dump d = { .max = c->answer_max, .err = AIF_OK };
	long status;

	memset(res, 0, sizeof(*res));
	status = decode(c, done, res);
	if (res->failure == AIF_FAIL_NONE && !usage_believable(c, res)) {
		aif_warn("msg=\"engine usage outside the request's bounds\" job=%s model=%s"
		    " prompt_tokens=%lld completion_tokens=%lld", c->job.public_id,
		    c->model->id, (long long)res->prompt_tokens,
		    (long long)res->completion_tokens);
		fail_with(res, AIF_FAIL_FATAL, AIF_E_ENGINE_BAD_USAGE);
	}
	if (res->failure == AIF_FAIL_NONE && (set_usage(res->response, c->job.kind,
	    res->prompt_tokens, res->completion_tokens) != 0 || stamp(c, res->response))) {
		aif_engine_result_clear(res);
		aif_adapter_transport_failure("out of memory", 0, res);
	}
	if (done == CURLE_COULDNT_CONNECT)
		routing_down(w->rt, c->model_idx, c->replica_idx);
	else
		/* a replica that answered 200 is up, whatever its body said: a bad answer
		   fails its own job, it does not open the circuit for everyone */
		routing_result(w->rt, c->model_idx, c->replica_idx,
		    res->failure != AIF_FAIL_RETRYABLE || status == 200);
	if (res->failure == AIF_FAIL_NONE && c->job.kind == AIF_KIND_EMBEDDING &&
	    aif_embed_wants_base64(c->job.request_body) &&
	    aif_embed_to_base64(res->response) != AIF_OK)
		fail_with(res, AIF_FAIL_RETRYABLE, AIF_E_ENGINE_BAD_EMBEDDINGS);
	if (res->failure == AIF_FAIL_NONE && aif_pii_masks_responses(w->pii) &&
	    aif_pii_mask_response(w->pii, c->job.model, NULL, c->job.kind, res->response,
	    NULL) != AIF_OK)
		fail_with(res, AIF_FAIL_FATAL, AIF_E_RESPONSE_UNMASKABLE);
	if (res->failure == AIF_FAIL_NONE && json_dump_callback(res->response, dump_add,
	    &d, JSON_COMPACT) != 0) {
		aif_buf_free(&d.b);
		if (d.err == AIF_TOOBIG) {
			/* an answer that grew past the cap (base64, masking tokens):
			   refused before its commit */
			fail_with(res, AIF_FAIL_FATAL, AIF_E_ANSWER_TOO_LARGE);
		} else {
			aif_engine_result_clear(res);
			aif_adapter_transport_failure("out of memory", 0, res);
		}
	}
	if (res->failure == AIF_FAIL_NONE) {
		c->answer = d.b.p;
		c->answer_len = d.b.len;
	}
	return res->failure == AIF_FAIL_NONE;
}

void
outcome_success_row(struct worker *w, const struct engine_call *c,
    const struct aif_engine_result *res, struct aif_job_success *s)
{
	memset(s, 0, sizeof(*s));
	s->id = c->job.id;
	s->lease_token = c->job.lease_token;
	s->attempt = c->job.attempt;
	s->first_claim = c->job.first_claim;
	s->worker_id = w->id;
	s->api_key_id = c->job.api_key_id;
	s->tenant = c->job.tenant;
	s->model = c->model->id;
	s->engine = c->model->engine;
	s->replica = c->model->replicas[c->replica_idx].url;
	s->response_body = c->answer;
	s->pii_counts = c->job.pii_counts[0] != '\0' ? c->job.pii_counts : NULL;
	s->prompt_tokens = res->prompt_tokens;
	s->completion_tokens = res->completion_tokens;
	s->cost_micros = aif_price_micros(&c->model->pricing, res->prompt_tokens,
	    res->completion_tokens);
	s->queue_ms = c->job.queue_ms;
	s->engine_ms = aif_now_ms() - c->started_ms;
	s->budget_hold_micros = c->job.budget_hold_micros;
	s->tokens_charged = c->job.tokens_charged;
	s->batch = c->job.batch;
	s->zero_retention = c->job.zero_retention;
}
