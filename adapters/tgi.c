/* tgi.c -- the `tgi` adapter for text-generation-inference's native API (see tgi.h,
 * docs/ADAPTERS.md and TGI's OpenAPI document,
 * https://huggingface.github.io/text-generation-inference/).
 *
 * build: POST {replica}/generate, or /generate_stream when the canonical request has
 * "stream": true, with {"inputs": prompt, "parameters": {...}}. The prompt is the chat
 * rendered with the model's chat_template, or the completion prompt as is (a string,
 * or an array holding exactly one string). details:true is always asked for: it
 * carries finish_reason and the token counts.
 * parse: {"generated_text","details":{...}} (or the `/` route's one-element array) to
 * chat.completion / text_completion. TGI reports the prompt's token count of /generate
 * only in the x-prompt-tokens header, which an adapter does not see: prompt_tokens is
 * the length of details.prefill (filled only with decoder_input_details), else
 * details.input_length when an engine sends it, else 0 -- and then the worker fills it
 * from the header (workers/outcome.c).
 * parse_event: /generate_stream events (`data:{...}`, no [DONE]; the last event has a
 * non-null generated_text and the StreamDetails with input_length) to chunks; errors
 * arrive as events {"error","error_type"} inside a 200 stream.
 * Errors {"error","error_type"}: 422 validation -> fatal 400, 424 generation ->
 * retryable 502, 429 overloaded -> overloaded 503, 5xx -> retryable. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "tgi.h"
#include "util.h"

#define COMPLETION_DEFAULT_TOKENS	16	/* OpenAI's default for /v1/completions */

/* ------------------------------------------------------------------ build */

/* The prompt of a completion request: a string, or an array of exactly one string.
 * Returns it borrowed from req, or NULL (token arrays, several prompts). */
static const char *
completion_prompt(const json_t *req, size_t *len)
{
	const json_t *p = json_object_get(req, "prompt");

	if (json_is_array(p) && json_array_size(p) == 1)
		p = json_array_get(p, 0);
	if (!json_is_string(p))
		return NULL;
	*len = json_string_length(p);
	return json_string_value(p);
}

/* Adds the TGI parameters for the canonical request req (borrowed) to params. */
static enum aif_err
add_parameters(enum aif_kind kind, const json_t *req, json_t *params)
{
	const json_t *v, *stop = json_object_get(req, "stop");
	int sample = 1;
	int rc = 0;

	/* max_completion_tokens wins (chat); completions default to 16 like OpenAI;
	 * a chat without a limit gets TGI's own default, which fits its context. */
	v = kind == AIF_KIND_CHAT ? json_object_get(req, "max_completion_tokens") : NULL;
	if (!json_is_integer(v))
		v = json_object_get(req, "max_tokens");
	if (json_is_integer(v) && json_integer_value(v) > 0)
		rc |= json_object_set_new(params, "max_new_tokens",
		    json_integer(json_integer_value(v)));
	else if (kind == AIF_KIND_COMPLETION)
		rc |= json_object_set_new(params, "max_new_tokens",
		    json_integer(COMPLETION_DEFAULT_TOKENS));
	if (json_is_string(stop)) {
		rc |= json_object_set_new(params, "stop", json_pack("[O]", stop));
	} else if (json_is_array(stop) && json_array_size(stop) > 0) {
		const json_t *s;
		size_t i;
		json_array_foreach(stop, i, s)
			if (!json_is_string(s))
				return AIF_INVALID;
		rc |= json_object_set_new(params, "stop", json_deep_copy(stop));
	}
	/* TGI wants temperature > 0 and 0 < top_p < 1; OpenAI's temperature 0 is
	 * greedy decoding, its top_p 1 no nucleus filter. */
	v = json_object_get(req, "temperature");
	if (json_is_number(v)) {
		double t = json_number_value(v);
		if (t > 0)
			rc |= json_object_set_new(params, "temperature", json_real(t));
		else
			sample = 0;
	}
	v = json_object_get(req, "top_p");
	if (json_is_number(v) && json_number_value(v) > 0 && json_number_value(v) < 1)
		rc |= json_object_set_new(params, "top_p", json_real(json_number_value(v)));
	v = json_object_get(req, "seed");
	if (json_is_integer(v) && json_integer_value(v) >= 0)
		rc |= json_object_set_new(params, "seed", json_integer(json_integer_value(v)));
	v = json_object_get(req, "frequency_penalty");
	if (json_is_number(v) && json_number_value(v) != 0)
		rc |= json_object_set_new(params, "frequency_penalty",
		    json_real(json_number_value(v)));
	rc |= json_object_set_new(params, "do_sample", json_boolean(sample));
	rc |= json_object_set_new(params, "details", json_true());
	return rc == 0 ? AIF_OK : AIF_NOMEM;
}

static enum aif_err
tgi_build(const struct aif_model *m, const struct aif_replica *r, enum aif_kind kind,
    const char *request, size_t len, struct aif_engine_req *out)
{
	json_t *req = NULL, *body = NULL, *params = NULL;
	char *rendered = NULL;
	const char *prompt;
	size_t plen = 0;
	const json_t *n;
	int stream;
	enum aif_err err;

	memset(out, 0, sizeof(*out));
	if (kind != AIF_KIND_CHAT && kind != AIF_KIND_COMPLETION)
		return AIF_INVALID;
	if ((req = json_loadb(request, len, 0, NULL)) == NULL || !json_is_object(req)) {
		err = AIF_INVALID;
		goto out;
	}
	/* TGI returns one sequence (best_of picks one, it does not return n) */
	n = json_object_get(req, "n");
	if (json_is_integer(n) && json_integer_value(n) != 1) {
		err = AIF_INVALID;
		goto out;
	}
	stream = json_is_true(json_object_get(req, "stream"));
	if (aif_url_join(out->url, sizeof(out->url), r->url, stream ? "/generate_stream" :
	    "/generate") != 0) {
		err = AIF_TOOBIG;
		goto out;
	}
	if (kind == AIF_KIND_CHAT) {
		if ((err = aif_adapter_render_chat(m, json_object_get(req, "messages"),
		    &rendered, &plen)) != AIF_OK)
			goto out;
		prompt = rendered;
	} else if ((prompt = completion_prompt(req, &plen)) == NULL) {
		err = AIF_INVALID;
		goto out;
	}
	if ((params = json_object()) == NULL ||
	    (body = json_object()) == NULL) {
		err = AIF_NOMEM;
		goto out;
	}
	if ((err = add_parameters(kind, req, params)) != AIF_OK)
		goto out;
	if (json_object_set_new(body, "inputs", json_stringn(prompt, plen)) != 0 ||
	    json_object_set(body, "parameters", params) != 0) {
		err = AIF_NOMEM;
		goto out;
	}
	err = aif_adapter_set_body(out, body);
out:
	if (err != AIF_OK)
		memset(out, 0, sizeof(*out));
	free(rendered);
	json_decref(params);
	json_decref(body);
	json_decref(req);
	return err;
}

/* ------------------------------------------------------------------ errors */

/* Maps a TGI error_type to the HTTP status TGI uses for it (stream errors come with
 * status 200 and only the type tells). */
static long
status_of_type(const char *type)
{
	static const struct {
		const char	*type;
		long		 status;
	} map[] = {
		{ "validation", 422 }, { "template_error", 422 },
		{ "missing_template_variable", 422 }, { "tool_error", 422 },
		{ "generation", 424 }, { "overloaded", 429 }, { "healthcheck", 503 },
	};

	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (type != NULL && strcmp(type, map[i].type) == 0)
			return map[i].status;
	return 500;
}

/* Fills *out for TGI's answer `status` with message `emsg` (borrowed). Only the
 * validation messages (limits and counts, never the input) reach the client. */
static void
classify(long status, const char *emsg, struct aif_engine_result *out)
{
	if (status == 424) {
		/* a generation error: the engine's text may quote the input, not copied */
		struct aif_error e;
		AIF_ERROR(&e, AIF_E_ENGINE_GENERATION_FAILED, NULL, " (HTTP 424)");
		aif_adapter_fail(out, AIF_FAIL_RETRYABLE, &e);
		return;
	}
	aif_adapter_classify_status(status, emsg,
	    strstr(emsg, "tokens + `max_new_tokens` must be") != NULL ||
	    strstr(emsg, "must have less than") != NULL ||
	    strcasestr(emsg, "context length") != NULL, out);
}

/* Copies the "error" text of a TGI error object into msg (cap bytes). */
static void
error_text(const json_t *root, char *msg, size_t cap)
{
	const json_t *e = json_object_get(root, "error");

	if (json_is_string(e))
		snprintf(msg, cap, "%s", json_string_value(e));
	else if (json_is_object(e) && json_is_string(json_object_get(e, "message")))
		snprintf(msg, cap, "%s", json_string_value(json_object_get(e, "message")));
	else
		snprintf(msg, cap, "(no message)");
	aif_utf8_trim_tail(msg);
}

static void
classify_body(long status, const char *body, size_t len, struct aif_engine_result *out)
{
	json_t *root = json_loadb(body, len, 0, NULL);
	char emsg[400];

	if (root == NULL)
		snprintf(emsg, sizeof(emsg), "(non-JSON error body, %zu bytes)", len);
	else
		error_text(root, emsg, sizeof(emsg));
	json_decref(root);
	classify(status, emsg, out);
}

/* ------------------------------------------------------------------ answers */

/* OpenAI's finish_reason for TGI's (borrowed, may be NULL): eos_token and
 * stop_sequence are "stop", length is "length". */
static const char *
finish_reason(const json_t *details)
{
	const json_t *fr = json_object_get(details, "finish_reason");

	if (json_is_string(fr) && strcmp(json_string_value(fr), "length") == 0)
		return "length";
	return "stop";
}

static int64_t
count_field(const json_t *obj, const char *name)
{
	const json_t *v = json_object_get(obj, name);

	return json_is_integer(v) && json_integer_value(v) > 0 ? json_integer_value(v) : 0;
}

/* Prompt tokens from details: the prefill list, else input_length, else 0. */
static int64_t
prompt_count(const json_t *details)
{
	const json_t *prefill = json_object_get(details, "prefill");

	if (json_is_array(prefill) && json_array_size(prefill) > 0)
		return (int64_t)json_array_size(prefill);
	return count_field(details, "input_length");
}

static json_t *
usage_new(int64_t p, int64_t c)
{
	return json_pack("{s:I,s:I,s:I}", "prompt_tokens", (json_int_t)p,
	    "completion_tokens", (json_int_t)c, "total_tokens", (json_int_t)(p + c));
}

static void
tgi_parse(const struct aif_model *m, enum aif_kind kind, long status, const char *body,
    size_t len, struct aif_engine_result *out)
{
	json_t *root, *ans, *details, *resp = NULL;
	const json_t *text;
	char id[64];
	const char *fr;
	int chat = kind == AIF_KIND_CHAT;

	if (status != 200) {
		classify_body(status, body, len, out);
		return;
	}
	root = json_loadb(body, len, 0, NULL);
	ans = json_is_array(root) ? json_array_get(root, 0) : root;
	text = json_object_get(ans, "generated_text");
	if (!json_is_object(ans) || !json_is_string(text) ||
	    json_object_get(ans, "error") != NULL) {
		json_decref(root);
		aif_adapter_bad_response(out, "a malformed response");
		return;
	}
	details = json_object_get(ans, "details");
	fr = finish_reason(details);
	out->completion_tokens = count_field(details, "generated_tokens");
	out->prompt_tokens = prompt_count(details);
	if (aif_random_id(chat ? "chatcmpl-" : "cmpl-", 24, id, sizeof(id)) != AIF_OK)
		snprintf(id, sizeof(id), "%s", chat ? "chatcmpl-tgi" : "cmpl-tgi");
	if (chat)
		resp = json_pack("{s:s,s:s,s:I,s:s,s:[{s:i,s:{s:s,s:O,s:n},s:n,s:s}],s:o}",
		    "id", id, "object", "chat.completion", "created",
		    (json_int_t)aif_unix_now(), "model", m->id, "choices", "index", 0,
		    "message", "role", "assistant", "content", text, "refusal", "logprobs",
		    "finish_reason", fr, "usage",
		    usage_new(out->prompt_tokens, out->completion_tokens));
	else
		resp = json_pack("{s:s,s:s,s:I,s:s,s:[{s:O,s:i,s:n,s:s}],s:o}",
		    "id", id, "object", "text_completion", "created",
		    (json_int_t)aif_unix_now(), "model", m->id, "choices", "text", text,
		    "index", 0, "logprobs", "finish_reason", fr, "usage",
		    usage_new(out->prompt_tokens, out->completion_tokens));
	json_decref(root);
	if (resp == NULL) {
		aif_adapter_transport_failure("out of memory", 0, out);
		return;
	}
	out->failure = AIF_FAIL_NONE;
	out->response = resp;
}

/* ------------------------------------------------------------------ streaming */


static enum aif_failure
tgi_parse_event(const struct aif_model *m, enum aif_kind kind, const char *data,
    size_t len, struct aif_stream_state *st, json_t *chunks,
    struct aif_engine_result *err)
{
	json_t *ev = aif_adapter_event_object(data, len, err);
	const json_t *e, *tok, *text, *gen, *details;
	const char *s = "";
	size_t n = 0;
	enum aif_failure f = AIF_FAIL_NONE;

	if (ev == NULL)
		return err->failure;
	if ((e = json_object_get(ev, "error")) != NULL && !json_is_null(e)) {
		const json_t *type = json_object_get(ev, "error_type");
		char emsg[400];

		error_text(ev, emsg, sizeof(emsg));
		classify(status_of_type(json_is_string(type) ? json_string_value(type) : NULL),
		    emsg, err);
		f = err->failure;
		goto out;
	}
	if (st->done)
		goto out;	/* nothing follows the last event */
	st->events++;
	tok = json_object_get(ev, "token");
	text = json_object_get(tok, "text");
	/* special tokens (EOS) are not text: generated_text leaves them out too */
	if (json_is_string(text) && !json_is_true(json_object_get(tok, "special"))) {
		s = json_string_value(text);
		n = json_string_length(text);
	}
	if ((f = aif_adapter_role_chunk(m->id, kind, st, chunks, err)) != AIF_FAIL_NONE)
		goto out;
	if (tok != NULL)
		st->completion_tokens++;
	gen = json_object_get(ev, "generated_text");
	if (json_is_string(gen)) {
		details = json_object_get(ev, "details");
		snprintf(st->finish_reason, sizeof(st->finish_reason), "%s",
		    finish_reason(details));
		if (count_field(details, "generated_tokens") > 0)
			st->completion_tokens = count_field(details, "generated_tokens");
		st->prompt_tokens = prompt_count(details);
		st->done = 1;
		f = aif_adapter_append_chunk(chunks,
		    aif_adapter_chunk(m->id, kind, st, 0, s, n, st->finish_reason), err);
	} else if (n > 0) {
		f = aif_adapter_append_chunk(chunks,
		    aif_adapter_chunk(m->id, kind, st, 0, s, n, NULL), err);
	}
out:
	json_decref(ev);
	return f;
}

const struct aif_adapter aif_adapter_tgi = {
	.abi = AIF_ADAPTER_ABI,
	.spec = &aif_spec_tgi,
	.build = tgi_build,
	.parse = tgi_parse,
	.parse_event = tgi_parse_event,
	.stream_eof_ends = 0,	/* the last event (generated_text set) is the end */
	.end_stream = NULL,
	.health_path = "/health",
};
