/* engine_call.c -- libcurl easy handles for engine calls; see engine_call.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <jansson.h>

#include "engine_call.h"
#include "passthru.h"
#include "relay_proto.h"
#include "span.h"
#include "tracectx.h"

/* 1 when a non-empty string or an array sits at key of o. */
static int
has_output(const json_t *o, const char *key)
{
	const json_t *v = json_object_get(o, key);

	return (json_is_string(v) && json_string_length(v) > 0) || json_array_size(v) > 0;
}

/* 1 when the chunks of one chat or completion event carry tokens: text, reasoning or
 * tool calls in a choice (not the role chunk nor the one that only says why it
 * finished). A surface's event carries them when its adapter counted a delta
 * (st.deltas: response.created and the like come before the first token). */
static int
carries_tokens(const struct engine_call *c)
{
	json_t *chunk, *ch;
	size_t i, k;

	json_array_foreach(c->chunks, i, chunk) {
		json_array_foreach(json_object_get(chunk, "choices"), k, ch) {
			const json_t *d = json_object_get(ch, "delta");
			if (has_output(ch, "text") || has_output(d, "content") ||
			    has_output(d, "reasoning_content") || has_output(d, "tool_calls"))
				return 1;
		}
	}
	return 0;
}

/* Assembles and relays the chunks an adapter produced; -1 when the answer is too big. */
static int
take_chunks(struct engine_call *c, int surface_deltas)
{
	json_t *chunk;
	size_t i;

	if ((c->job.kind & AIF_KIND_SURFACES) ? surface_deltas : carries_tokens(c)) {	/* time to first token, between tokens */
		c->last_chunk_ms = aif_now_ms();
		if (c->first_chunk_ms == 0)
			c->first_chunk_ms = c->last_chunk_ms;
		c->chunks_timed++;
	}
	json_array_foreach(c->chunks, i, chunk) {
		char *text;

		if (aif_stream_asm_add(c->assembled, chunk) != AIF_OK) {
			struct aif_error e;
			/* over server.max_answer_bytes (or more choices than asked): the
			   engine is not at fault, retrying gives the same */
			AIF_ERROR0(&e, AIF_E_ANSWER_TOO_LARGE, NULL);
			aif_adapter_fail(&c->stream_err, AIF_FAIL_FATAL, &e);
			c->stream_fail = AIF_FAIL_FATAL;
			json_array_clear(c->chunks);
			return -1;
		}
		if (c->relay != NULL && c->job.relay_model[0] != '\0')	/* a run's step */
			json_object_set_new(chunk, "model", json_string(c->job.relay_model));
		if (c->relay == NULL || (text = json_dumps(chunk, JSON_COMPACT)) == NULL)
			continue;
		if (!c->begun) {
			char begin[32];
			int n = snprintf(begin, sizeof(begin), "{\"attempt\":%d}", c->job.attempt);
			if (relay_send(c->relay, c->job.relay_id, AIF_RELAY_BEGIN,
			    (uint32_t)c->job.attempt, c->relay_key, begin, (size_t)n) != 0)
				c->relay = NULL;
			c->begun = 1;
		}
		if (c->relay != NULL) {
			if (relay_send(c->relay, c->job.relay_id, AIF_RELAY_CHUNK,
			    (uint32_t)c->job.attempt, c->relay_key, text, strlen(text)) != 0)
				c->relay = NULL;	/* the stream goes on without a relay */
			else
				c->relayed++;
		}
		free(text);
	}
	json_array_clear(c->chunks);
	return 0;
}

/* One engine SSE event: translate, assemble, relay. */
static int
on_event(void *arg, const char *event, const char *data, size_t len)
{
	struct engine_call *c = arg;
	int64_t deltas = c->st.deltas;
	enum aif_failure f;

	f = c->adapter->parse_event(c->model, c->job.kind, data, len,
	    &c->st, c->chunks, &c->stream_err);
	if (f == AIF_FAIL_NONE && strcmp(event, "error") == 0) {
		f = AIF_FAIL_RETRYABLE;
		aif_adapter_transport_failure("the engine sent an error event", 0,
		    &c->stream_err);
	}
	if (f != AIF_FAIL_NONE) {
		c->stream_fail = f;
		json_array_clear(c->chunks);
		return -1;
	}
	return take_chunks(c, c->st.deltas > deltas);
}


static size_t
on_data(char *ptr, size_t size, size_t nmemb, void *arg)
{
	struct engine_call *c = arg;
	size_t n = size * nmemb;

	if (c->stream) {
		long status = 0;
		curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &status);
		if (status == 200)
			return aif_sse_feed(&c->sse, ptr, n, on_event, c) == 0 ? n : 0;
	}
	return aif_http_body_write(ptr, size, nmemb, &c->resp);
}

/* Response headers: only x-prompt-tokens is kept (a bounded decimal). */
static size_t
on_header(char *ptr, size_t size, size_t nmemb, void *arg)
{
	static const char name[] = "x-prompt-tokens:";
	struct engine_call *c = arg;
	size_t n = size * nmemb, i = sizeof(name) - 1;
	int64_t v = 0;

	if (n <= i || strncasecmp(ptr, name, i) != 0)
		return n;
	while (i < n && (ptr[i] == ' ' || ptr[i] == '\t'))
		i++;
	for (; i < n && ptr[i] >= '0' && ptr[i] <= '9' && v < 100000000; i++)
		v = v * 10 + (ptr[i] - '0');
	c->hdr_prompt_tokens = v;
	return n;
}

/* W3C Trace Context to the engine (tracectx.h): this attempt is a span of its own, a
 * child of the job's trace, and the caller's tracestate goes along. */
static void
trace_headers(struct engine_call *c)
{
	char *tp = c->span_tp, hdr[AIF_TRACESTATE_MAX + 16];

	tp[0] = '\0';
	if (c->job.traceparent[0] == '\0' || aif_trace_child(c->job.traceparent, tp) != 0) {
		tp[0] = '\0';
		return;
	}
	c->span_start_ns = aif_span_now_ns();
	snprintf(hdr, sizeof(hdr), "traceparent: %s", tp);
	c->headers = curl_slist_append(c->headers, hdr);
	if (c->headers != NULL && aif_tracestate_valid(c->job.tracestate)) {
		snprintf(hdr, sizeof(hdr), "tracestate: %s", c->job.tracestate);
		c->headers = curl_slist_append(c->headers, hdr);
	}
}

enum aif_err
engine_call_setup(struct engine_call *c, const char *request_id)
{
	const struct aif_replica *rep;
	char hdr[160];

	struct aif_http_limits lim = { .timeout_ms = c->model->timeout_ms,
	    .max_response = engine_call_wire_max(c->stream, c->answer_max) };

	c->resp.max = c->answer_max;
	if ((c->easy = aif_http_easy(c->req.url, &lim)) == NULL)
		return AIF_NOMEM;
	if (c->stream) {
		if (c->job.kind & AIF_KIND_SURFACES)	/* the id its client keeps */
			aif_passthru_id(c->job.kind, c->job.public_id, c->st.id,
			    sizeof(c->st.id));
		else
			snprintf(c->st.id, sizeof(c->st.id), "%s-%s",
			    c->job.kind == AIF_KIND_CHAT ? "chatcmpl" : "cmpl",
			    c->job.public_id);
		c->st.created = (int64_t)time(NULL);
		c->assembled = aif_stream_asm_new(c->job.kind, c->answer_max, c->choices_max);
		c->chunks = json_array();
		if (c->assembled == NULL || c->chunks == NULL)
			return AIF_NOMEM;
	}
	c->headers = curl_slist_append(NULL, "Content-Type: application/json");
	c->headers = curl_slist_append(c->headers, c->stream ?
	    "Accept: text/event-stream" : "Accept: application/json");
	c->headers = curl_slist_append(c->headers, "Expect:");
	if (request_id != NULL) {
		snprintf(hdr, sizeof(hdr), "X-Request-Id: %s", request_id);
		c->headers = curl_slist_append(c->headers, hdr);
	}
	trace_headers(c);
	if (c->headers == NULL)
		return AIF_NOMEM;
	/* the replica's credential, as its engine expects it (never logged) */
	rep = &c->model->replicas[c->replica_idx];
	if (aif_http_auth_header(&c->headers, rep->api_key_header, rep->api_key,
	    rep->api_key_len) != AIF_OK)
		return AIF_NOMEM;
	curl_easy_setopt(c->easy, CURLOPT_POST, 1L);
	curl_easy_setopt(c->easy, CURLOPT_POSTFIELDS, c->req.body);
	curl_easy_setopt(c->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)c->req.body_len);
	curl_easy_setopt(c->easy, CURLOPT_HTTPHEADER, c->headers);
	curl_easy_setopt(c->easy, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(c->easy, CURLOPT_WRITEDATA, c);
	curl_easy_setopt(c->easy, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c->easy, CURLOPT_HEADERDATA, c);
	curl_easy_setopt(c->easy, CURLOPT_PRIVATE, c);
	return AIF_OK;
}

void
engine_call_free(struct engine_call *c)
{
	if (c == NULL)
		return;
	if (c->easy != NULL)
		curl_easy_cleanup(c->easy);
	aif_http_headers_free(c->headers);	/* wiped: one may hold a credential */
	free(c->req.body);
	free(c->answer);
	aif_http_body_free(&c->resp);
	free(c->job.request_body);
	aif_sse_free(&c->sse);
	aif_stream_asm_free(c->assembled);
	json_decref(c->chunks);
	aif_engine_result_clear(&c->stream_err);
	free(c->hook_body);
	json_decref(c->hook_sent);
	json_decref(c->held);
	free(c);
}

void
engine_call_stream_finish(struct engine_call *c)
{
	if (c->stream && c->stream_fail == AIF_FAIL_NONE &&
	    aif_sse_finish(&c->sse, on_event, c) != 0 && c->stream_fail == AIF_FAIL_NONE) {
		c->stream_fail = AIF_FAIL_RETRYABLE;
		aif_adapter_transport_failure("the engine stream could not be parsed", 0,
		    &c->stream_err);
	}
	if (c->stream && c->stream_fail == AIF_FAIL_NONE && c->adapter->stream_eof_ends &&
	    c->adapter->end_stream != NULL) {
		int64_t deltas = c->st.deltas;
		c->adapter->end_stream(c->model, c->job.kind, &c->st, c->chunks);
		(void)take_chunks(c, c->st.deltas > deltas);
	}
}
