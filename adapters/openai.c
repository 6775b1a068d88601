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
#include "util.h"

static const char	*generative_path(enum aif_kind kind);

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
	/* A stream always asks for the usage chunk: usage rows need real counts. */
	if (json_is_true(json_object_get(body, "stream")) &&
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
	if (root == NULL || !aif_adapter_answer_ok(kind, root)) {
		json_decref(root);
		aif_adapter_bad_response(out, "a malformed response");
		return;
	}
	json_object_set_new(root, "model", json_string(m->id));
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

/* One SSE event of an OpenAI-style stream: a chunk, the usage chunk, an error object
 * (vLLM and TGI's Messages API send errors inside a 200 stream), or [DONE]. */
static enum aif_failure
openai_parse_event(const struct aif_model *m, enum aif_kind kind, const char *data,
    size_t len, struct aif_stream_state *st, json_t *chunks,
    struct aif_engine_result *err)
{
	json_t *ev, *e, *choices, *usage;

	(void)kind;
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
