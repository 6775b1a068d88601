/* outcome.c -- turning one finished transfer into a result; see worker.h. The engine's
 * answer is decoded by the model's adapter (or assembled from its stream), the
 * replica's health is judged (transport errors, timeouts and 5xx count against it; an
 * answer, a 4xx or an overload signal do not), embeddings become base64 when the client
 * asked for it, answers are masked when the config says so, and a success becomes the
 * row the commit writes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "embed.h"
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

/* What the engine said: its answer decoded, or the transport's failure. */
static void
decode(struct engine_call *c, CURLcode done, struct aif_engine_result *res)
{
	long status = 0;

	if (done != CURLE_OK && c->stream && c->stream_fail != AIF_FAIL_NONE) {
		*res = c->stream_err;	/* an error event ended the stream */
		memset(&c->stream_err, 0, sizeof(c->stream_err));
		return;
	}
	if (done != CURLE_OK) {
		aif_adapter_transport_failure(c->resp.overflow ? "response over the size limit" :
		    curl_easy_strerror(done), done == CURLE_OPERATION_TIMEDOUT, res);
		return;
	}
	curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &status);
	if (c->stream && status == 200) {
		stream_outcome(c, res);
		return;
	}
	c->adapter->parse(c->model, c->job.kind, status, c->resp.data ? c->resp.data : "",
	    c->resp.len, res);
	engine_call_fill_prompt_tokens(c, res);
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

int
outcome_of(struct worker *w, struct engine_call *c, CURLcode done,
    struct aif_engine_result *res, char **body)
{
	memset(res, 0, sizeof(*res));
	*body = NULL;
	decode(c, done, res);
	if (done == CURLE_COULDNT_CONNECT)
		routing_down(w->rt, c->model_idx, c->replica_idx);
	else
		routing_result(w->rt, c->model_idx, c->replica_idx,
		    res->failure != AIF_FAIL_RETRYABLE);
	if (res->failure == AIF_FAIL_NONE && c->job.kind == AIF_KIND_EMBEDDING &&
	    aif_embed_wants_base64(c->job.request_body) &&
	    aif_embed_to_base64(res->response) != AIF_OK)
		fail_with(res, AIF_FAIL_RETRYABLE, AIF_E_ENGINE_BAD_EMBEDDINGS);
	if (res->failure == AIF_FAIL_NONE && aif_pii_masks_responses(w->pii) &&
	    aif_pii_mask_response(w->pii, c->job.model, NULL, c->job.kind, res->response,
	    NULL) != AIF_OK)
		fail_with(res, AIF_FAIL_FATAL, AIF_E_RESPONSE_UNMASKABLE);
	if (res->failure == AIF_FAIL_NONE &&
	    (*body = json_dumps(res->response, JSON_COMPACT)) == NULL) {
		aif_engine_result_clear(res);
		aif_adapter_transport_failure("out of memory", 0, res);
	}
	return res->failure == AIF_FAIL_NONE;
}

void
outcome_success_row(struct worker *w, const struct engine_call *c,
    const struct aif_engine_result *res, const char *body, struct aif_job_success *s)
{
	memset(s, 0, sizeof(*s));
	s->id = c->job.id;
	s->lease_token = c->job.lease_token;
	s->attempt = c->job.attempt;
	s->worker_id = w->id;
	s->api_key_id = c->job.api_key_id;
	s->tenant = c->job.tenant;
	s->model = c->model->id;
	s->engine = c->model->engine;
	s->replica = c->model->replicas[c->replica_idx].url;
	s->response_body = body;
	s->prompt_tokens = res->prompt_tokens;
	s->completion_tokens = res->completion_tokens;
	s->cost_micros = aif_price_micros(&c->model->pricing, res->prompt_tokens,
	    res->completion_tokens);
	s->queue_ms = c->job.queue_ms;
	s->engine_ms = aif_now_ms() - c->started_ms;
	s->budget_hold_micros = c->job.budget_hold_micros;
	s->tokens_charged = c->job.tokens_charged;
}
