/* openai.c -- the `openai` adapter (vLLM, llama.cpp, Ollama /v1, TGI Messages API, any
 * OpenAI-compatible server). The request passes through with `model` replaced by the
 * upstream name; the response passes back with `model` set to the public id. Error
 * bodies of every shape those servers use are normalised (docs/ADAPTERS.md):
 * vLLM {"error":{...,"code":int}}, older flat {"object":"error",...}, {"error":"text"},
 * llama.cpp {"error":{"code":int,"message",...}}. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "openai.h"
#include "passthru.h"
#include "util.h"

static const char	*generative_path(enum aif_kind kind);
static enum aif_failure	 surface_error(json_t *ev, struct aif_engine_result *err);

/* The engine path of a kind: OpenAI's for the generative ones and embeddings; the
 * model's `openai:` setting (vLLM's path by default) for the engine-native ones. NULL
 * for a setting that is no absolute path. */
static const char *
kind_path(const struct aif_model *m, enum aif_kind kind)
{
	const char *tmp[AIF_ADAPTER_SETTINGS_MAX], *const *set, *p;
	int ix;

	switch (kind) {
	case AIF_KIND_RERANK:		ix = AIF_OPENAI_RERANK_PATH; break;
	case AIF_KIND_SCORE:		ix = AIF_OPENAI_SCORE_PATH; break;
	case AIF_KIND_TOKENIZE:		ix = AIF_OPENAI_TOKENIZE_PATH; break;
	case AIF_KIND_DETOKENIZE:	ix = AIF_OPENAI_DETOKENIZE_PATH; break;
	case AIF_KIND_RESPONSES:	ix = AIF_OPENAI_RESPONSES_PATH; break;
	case AIF_KIND_MESSAGES:		ix = AIF_OPENAI_MESSAGES_PATH; break;
	default:			return generative_path(kind);
	}
	set = aif_adapter_settings(&aif_adapter_openai, m, tmp);
	p = set != NULL ? set[ix] : NULL;
	return p != NULL && p[0] == '/' && strpbrk(p, " ?#\\") == NULL ? p : NULL;
}

static const char *
generative_path(enum aif_kind kind)
{
	switch (kind) {
	case AIF_KIND_CHAT:
		return "/v1/chat/completions";
	case AIF_KIND_COMPLETION:
		return "/v1/completions";
	case AIF_KIND_EMBEDDING:
		return "/v1/embeddings";
	default:
		return NULL;
	}
}

static enum aif_err
openai_build(const struct aif_model *m, const struct aif_replica *r, enum aif_kind kind,
    const char *request, size_t len, struct aif_engine_req *out)
{
	const char *path = kind_path(m, kind);
	json_t *body;
	enum aif_err err;

	memset(out, 0, sizeof(*out));
	if (path == NULL)
		return AIF_INVALID;
	if (aif_url_join(out->url, sizeof(out->url), r->url, path) != 0)
		return AIF_TOOBIG;
	if ((body = json_loadb(request, len, 0, NULL)) == NULL || !json_is_object(body)) {
		json_decref(body);
		return AIF_INVALID;
	}
	/* Engines are asked for floats; the gateway encodes base64 itself (embed.h). */
	if (kind == AIF_KIND_EMBEDDING &&
	    json_object_set_new(body, "encoding_format", json_string("float")) != 0) {
		json_decref(body);
		return AIF_NOMEM;
	}
	/* The gateway keeps a surface's responses (engines keep them in one replica's
	   memory); the history of a continued one is already in its input. */
	if (kind == AIF_KIND_RESPONSES &&
	    json_object_set_new(body, "store", json_false()) != 0) {
		json_decref(body);
		return AIF_NOMEM;
	}
	/* A stream always asks for the usage chunk: usage rows need real counts (the
	   surfaces' streams carry their usage in their own events). */
	if (!(kind & AIF_KIND_SURFACES) && json_is_true(json_object_get(body, "stream")) &&
	    json_object_set_new(body, "stream_options",
	    json_pack("{s:b}", "include_usage", 1)) != 0) {
		json_decref(body);
		return AIF_NOMEM;
	}
	if (json_object_set_new(body, "model", json_string(m->upstream_model)) != 0) {
		json_decref(body);
		return AIF_NOMEM;
	}
	err = aif_adapter_set_body(out, body);
	json_decref(body);
	return err;
}

/* Copies the engine's error message, whichever shape it came in. */
static void
error_message(const char *body, size_t len, char *msg, size_t cap)
{
	json_t *root = json_loadb(body, len, 0, NULL);
	json_t *e, *mv = NULL;

	msg[0] = '\0';
	if (root == NULL) {
		snprintf(msg, cap, "(non-JSON error body, %zu bytes)", len);
		return;
	}
	e = json_object_get(root, "error");
	if (json_is_object(e))
		mv = json_object_get(e, "message");
	else if (json_is_string(e))
		mv = e;
	else
		mv = json_object_get(root, "message");
	if (json_is_string(mv))
		snprintf(msg, cap, "%s", json_string_value(mv));
	json_decref(root);
}

static void
classify_status(long status, const char *body, size_t len, struct aif_engine_result *out)
{
	char emsg[400];

	error_message(body, len, emsg, sizeof(emsg));
	aif_utf8_trim_tail(emsg);
	aif_adapter_classify_status(status, emsg, strcasestr(emsg, "context length") != NULL ||
	    strcasestr(emsg, "context size") != NULL ||
	    (len > 0 && memmem(body, len, "exceed_context", 14) != NULL), out);
}

static int64_t
usage_field(json_t *usage, const char *name)
{
	json_t *v = json_object_get(usage, name);

	return json_is_integer(v) && json_integer_value(v) > 0 ? json_integer_value(v) : 0;
}

/* 1 when a surface's answer (root, borrowed) is a Response that failed: the engine's
 * error, not a malformed answer. */
static int
failed_response(enum aif_kind kind, const json_t *root)
{
	const char *st = json_string_value(json_object_get(root, "status"));

	return kind == AIF_KIND_RESPONSES && st != NULL && strcmp(st, "failed") == 0;
}

static void
openai_parse(const struct aif_model *m, enum aif_kind kind, long status, const char *body,
    size_t len, struct aif_engine_result *out)
{
	json_t *root, *usage;

	if (status != 200) {
		classify_status(status, body, len, out);
		return;
	}
	root = json_loadb(body, len, 0, NULL);
	if (failed_response(kind, root)) {
		(void)surface_error(root, out);
		json_decref(root);
		return;
	}
	if (root == NULL || !aif_adapter_answer_ok(kind, root)) {
		json_decref(root);
		aif_adapter_bad_response(out, "a malformed response");
		return;
	}
	json_object_set_new(root, "model", json_string(m->id));
	if (kind & AIF_KIND_SURFACES) {	/* usage in the surface's words */
		aif_passthru_usage(kind, json_object_get(root, "usage"), &out->prompt_tokens,
		    &out->completion_tokens);
		out->failure = AIF_FAIL_NONE;
		out->response = root;
		return;
	}
	/* engine internals a client has no use for */
	json_object_del(root, "kv_transfer_params");
	json_object_del(root, "prompt_logprobs");
	json_object_del(root, "prompt_token_ids");
	usage = json_object_get(root, "usage");
	out->prompt_tokens = usage_field(usage, "prompt_tokens");
	out->completion_tokens = usage_field(usage, "completion_tokens");
	if (kind == AIF_KIND_RERANK && json_object_get(usage, "prompt_tokens") == NULL)
		out->prompt_tokens = usage_field(usage, "total_tokens");	/* vLLM's */
	if (kind == AIF_KIND_TOKENIZE)		/* no usage: the tokens it counted */
		out->prompt_tokens = (int64_t)json_integer_value(json_object_get(root,
		    "count"));
	out->failure = AIF_FAIL_NONE;
	out->response = root;
}

/* The HTTP status a surface's error type stands for (Anthropic's error types, OpenAI's
 * error codes of a Responses stream); 500 for one not listed. */
static long
surface_error_status(const char *type)
{
	static const struct { const char *type; long status; } map[] = {
		{ "authentication_error", 401 }, { "invalid_prompt", 400 },
		{ "invalid_request_error", 400 }, { "not_found_error", 404 },
		{ "overloaded_error", 503 }, { "permission_error", 403 },
		{ "rate_limit_error", 429 }, { "rate_limit_exceeded", 429 },
		{ "request_too_large", 413 }, { "timeout_error", 504 },
	};

	for (size_t i = 0; type != NULL && i < AIF_NELEM(map); i++)
		if (strcmp(map[i].type, type) == 0)
			return map[i].status;
	return 500;
}

/* The failure an error event of a surface's stream stands for: Anthropic's {"type":
 * "error", "error": {type, message}}, the Responses API's {"type": "error", code,
 * message} or response.failed (its response.error). */
static enum aif_failure
surface_error(json_t *ev, struct aif_engine_result *err)
{
	const json_t *e = json_object_get(ev, "error");
	const char *type, *msg;
	json_t *wrapped;
	char *body;

	if (!json_is_object(e))
		e = json_object_get(json_object_get(ev, "response"), "error");
	if (!json_is_object(e))
		e = ev;
	type = json_string_value(json_object_get(e, "type"));
	if (type == NULL || strcmp(type, "error") == 0)
		type = json_string_value(json_object_get(e, "code"));
	msg = json_string_value(json_object_get(e, "message"));
	wrapped = json_pack("{s:{s:s}}", "error", "message", msg != NULL ? msg :
	    "the engine ended the stream with an error");
	body = wrapped != NULL ? json_dumps(wrapped, JSON_COMPACT) : NULL;
	json_decref(wrapped);
	classify_status(surface_error_status(type), body != NULL ? body : "",
	    body != NULL ? strlen(body) : 0, err);
	free(body);
	return err->failure;
}

/* One event of a surface's stream (passthru.h): relayed as it came, with the job's id
 * and the public model in the Response or Message it carries; its usage and its end
 * noted. An error event or response.failed ends the stream; pings are dropped. */
static enum aif_failure
surface_event(const struct aif_model *m, enum aif_kind kind, const char *data,
    size_t len, struct aif_stream_state *st, json_t *chunks,
    struct aif_engine_result *err)
{
	json_t *ev, *o, *u;
	const char *t;
	int64_t prompt, completion;

	st->events++;
	if ((ev = aif_adapter_event_object(data, len, err)) == NULL)
		return err->failure;
	/* the type is the event name the client reads (event: <type>): a plain name */
	if ((t = json_string_value(json_object_get(ev, "type"))) == NULL ||
	    strlen(t) == 0 || strlen(t) >= 64 || t[strspn(t,
	    "abcdefghijklmnopqrstuvwxyz0123456789_.")] != '\0' ||
	    strcmp(t, "error") == 0 || strcmp(t, "response.failed") == 0) {
		if (t == NULL || (strcmp(t, "error") != 0 && strcmp(t, "response.failed") != 0))
			aif_adapter_bad_response(err, "a stream event without a plain type");
		else
			(void)surface_error(ev, err);
		json_decref(ev);
		return err->failure;
	}
	if (strcmp(t, "ping") == 0) {
		json_decref(ev);
		return AIF_FAIL_NONE;
	}
	if ((o = aif_passthru_event_object(kind, ev)) != NULL &&
	    aif_passthru_stamp(o, st->id, m->id) != 0) {
		json_decref(ev);
		aif_adapter_transport_failure("out of memory", 0, err);
		return err->failure;
	}
	if (json_is_object(u = json_object_get(o != NULL ? o : ev, "usage"))) {
		aif_passthru_usage(kind, u, &prompt, &completion);
		if (prompt > 0)		/* message_delta may leave the input out */
			st->prompt_tokens = prompt;
		if (completion > 0)
			st->completion_tokens = completion;
	}
	if (strcmp(t, "response.completed") == 0 || strcmp(t, "response.incomplete") == 0 ||
	    strcmp(t, "message_stop") == 0)
		st->done = 1;
	if (aif_passthru_is_delta(t))
		st->deltas++;
	return aif_adapter_append_chunk(chunks, ev, err);
}

/* One SSE event of an OpenAI-style stream: a chunk, the usage chunk, an error object
 * (vLLM and TGI's Messages API send errors inside a 200 stream), or [DONE]. */
static enum aif_failure
openai_parse_event(const struct aif_model *m, enum aif_kind kind, const char *data,
    size_t len, struct aif_stream_state *st, json_t *chunks,
    struct aif_engine_result *err)
{
	json_t *ev, *e, *choices, *usage;

	if (kind & AIF_KIND_SURFACES)
		return surface_event(m, kind, data, len, st, chunks, err);
	if (len == 6 && memcmp(data, "[DONE]", 6) == 0) {
		st->done = 1;
		return AIF_FAIL_NONE;
	}
	st->events++;
	if ((ev = aif_adapter_event_object(data, len, err)) == NULL)
		return err->failure;
	if ((e = json_object_get(ev, "error")) != NULL && !json_is_null(e)) {
		json_t *code = json_is_object(e) ? json_object_get(e, "code") : NULL;
		json_t *hs = json_is_object(e) ? json_object_get(e, "http_status_code") : NULL;
		long status = json_is_integer(code) ? (long)json_integer_value(code) :
		    json_is_integer(hs) ? (long)json_integer_value(hs) : 500;
		char *body = json_dumps(ev, JSON_COMPACT);
		classify_status(status == 200 ? 500 : status, body ? body : "",
		    body ? strlen(body) : 0, err);
		free(body);
		json_decref(ev);
		return err->failure;
	}
	/* the engine's own id and created win over the worker's presets (first event) */
	if (st->events == 1 && json_is_string(json_object_get(ev, "id")) &&
	    json_string_length(json_object_get(ev, "id")) > 0)
		snprintf(st->id, sizeof(st->id), "%s", json_string_value(json_object_get(ev, "id")));
	if (st->events == 1 && json_is_integer(json_object_get(ev, "created")))
		st->created = (int64_t)json_integer_value(json_object_get(ev, "created"));
	usage = json_object_get(ev, "usage");
	if (json_is_object(usage)) {
		st->prompt_tokens = usage_field(usage, "prompt_tokens");
		st->completion_tokens = usage_field(usage, "completion_tokens");
	}
	choices = json_object_get(ev, "choices");
	if (!json_is_array(choices) || json_array_size(choices) == 0) {
		json_decref(ev);	/* the usage chunk: the gateway sends its own */
		return AIF_FAIL_NONE;
	}
	{
		json_t *fr = json_object_get(json_array_get(choices, 0), "finish_reason");
		if (json_is_string(fr))
			snprintf(st->finish_reason, sizeof(st->finish_reason), "%s",
			    json_string_value(fr));
	}
	json_object_del(ev, "usage");
	json_object_set_new(ev, "model", json_string(m->id));
	return aif_adapter_append_chunk(chunks, ev, err);
}

const struct aif_adapter aif_adapter_openai = {
	.abi = AIF_ADAPTER_ABI,
	.spec = &aif_spec_openai,
	.build = openai_build,
	.parse = openai_parse,
	.parse_event = openai_parse_event,
	.stream_eof_ends = 0,
	.health_path = "/health",
};
