/* registry.c -- the table of engine adapters and helpers shared by all of them. What
 * the YAML may say about each adapter is in catalog.c. */
#include <stdio.h>
#include <string.h>

#include "adapter.h"
#include "passthru.h"
#include "chat_template.h"
#include "openai.h"
#include "util.h"
#include "tgi.h"
#include "triton.h"

static const struct aif_adapter *const adapters[] = {
	&aif_adapter_openai,
	&aif_adapter_tgi,
	&aif_adapter_triton,
};

const struct aif_adapter *
aif_adapter_find(const char *name)
{
	for (size_t i = 0; i < AIF_NELEM(adapters); i++)
		if (adapters[i]->abi == AIF_ADAPTER_ABI &&
		    strcmp(adapters[i]->spec->name, name) == 0)
			return adapters[i];
	return NULL;
}

const char *const *
aif_adapter_settings(const struct aif_adapter *ad, const struct aif_model *m,
    const char *tmp[AIF_ADAPTER_SETTINGS_MAX])
{
	const struct aif_adapter_model *am = m->adapter_state;
	size_t i = 0;

	if (am != NULL)
		return am->settings;
	for (const struct aif_adapter_option *o = ad->spec->options;
	    o != NULL && o->name != NULL && i < AIF_ADAPTER_SETTINGS_MAX; o++)
		tmp[i++] = aif_cfg_option(m, o->name, o->def);
	return tmp;
}

enum aif_err
aif_adapter_render_chat(const struct aif_model *m, const json_t *messages, char **out,
    size_t *out_len)
{
	const struct aif_adapter_model *am = m->adapter_state;

	if (am != NULL && am->chat_template != NULL)
		return aif_chat_template_render_compiled(am->chat_template, messages, out,
		    out_len);
	return aif_chat_template_render(m->chat_template, messages, out, out_len);
}

void
aif_adapter_fail(struct aif_engine_result *out, enum aif_failure f, const struct aif_error *e)
{
	out->failure = f;
	out->error = *e;
	out->timed_out = 0;
}

void
aif_adapter_transport_failure(const char *what, int timed_out,
    struct aif_engine_result *out)
{
	struct aif_error e;

	AIF_ERROR(&e, timed_out ? AIF_E_ENGINE_CALL_TIMEOUT : AIF_E_ENGINE_UNREACHABLE, NULL,
	    what);
	aif_adapter_fail(out, AIF_FAIL_RETRYABLE, &e);
	out->timed_out = timed_out != 0;
}

void
aif_engine_result_clear(struct aif_engine_result *r)
{
	json_decref(r->response);
	memset(r, 0, sizeof(*r));
}

void
aif_adapter_classify_status(long status, const char *emsg, int context_exceeded,
    struct aif_engine_result *out)
{
	struct aif_error e;
	char num[24];

	snprintf(num, sizeof(num), "%ld", status);
	switch (status) {
	case 400:
	case 413:
	case 422:
		AIF_ERROR(&e, context_exceeded ? AIF_E_CONTEXT_LENGTH_EXCEEDED :
		    AIF_E_ENGINE_REJECTED, NULL, emsg);
		aif_adapter_fail(out, AIF_FAIL_FATAL, &e);
		return;
	case 401:
	case 403:
	case 404:
	case 405:
	case 501:
		AIF_ERROR(&e, AIF_E_ENGINE_MISCONFIGURED, NULL, num);
		aif_adapter_fail(out, AIF_FAIL_FATAL, &e);
		return;
	case 429:
	case 503:
		AIF_ERROR(&e, AIF_E_ENGINE_OVERLOADED, NULL, num);
		aif_adapter_fail(out, AIF_FAIL_OVERLOADED, &e);
		return;
	case 408:
	case 504:
		AIF_ERROR(&e, AIF_E_ENGINE_TIMEOUT, NULL, num);
		aif_adapter_fail(out, AIF_FAIL_RETRYABLE, &e);
		out->timed_out = 1;
		return;
	default:
		AIF_ERROR(&e, AIF_E_ENGINE_ERROR, NULL, num);
		aif_adapter_fail(out, AIF_FAIL_RETRYABLE, &e);
		return;
	}
}

void
aif_adapter_bad_response(struct aif_engine_result *out, const char *what)
{
	struct aif_error e;

	AIF_ERROR(&e, AIF_E_ENGINE_BAD_RESPONSE, NULL, what);
	aif_adapter_fail(out, AIF_FAIL_RETRYABLE, &e);
}

json_t *
aif_adapter_chunk(const char *model_id, enum aif_kind kind,
    const struct aif_stream_state *st, int role, const char *text, size_t n,
    const char *finish_reason)
{
	json_t *frv = finish_reason != NULL ? json_string(finish_reason) : json_null();

	if (kind != AIF_KIND_CHAT)
		return json_pack("{s:s,s:s,s:I,s:s,s:[{s:s%,s:i,s:n,s:o}]}",
		    "id", st->id, "object", "text_completion", "created",
		    (json_int_t)st->created, "model", model_id, "choices", "text", text, n,
		    "index", 0, "logprobs", "finish_reason", frv);
	if (role)
		return json_pack("{s:s,s:s,s:I,s:s,s:[{s:i,s:{s:s,s:s},s:n,s:o}]}",
		    "id", st->id, "object", "chat.completion.chunk", "created",
		    (json_int_t)st->created, "model", model_id, "choices", "index", 0,
		    "delta", "role", "assistant", "content", "", "logprobs",
		    "finish_reason", frv);
	return json_pack("{s:s,s:s,s:I,s:s,s:[{s:i,s:{s:s%},s:n,s:o}]}",
	    "id", st->id, "object", "chat.completion.chunk", "created",
	    (json_int_t)st->created, "model", model_id, "choices", "index", 0,
	    "delta", "content", text, n, "logprobs", "finish_reason", frv);
}

enum aif_failure
aif_adapter_append_chunk(json_t *chunks, json_t *chunk, struct aif_engine_result *err)
{
	if (chunk == NULL || json_array_append_new(chunks, chunk) != 0) {
		aif_adapter_transport_failure("out of memory", 0, err);
		return err->failure;
	}
	return AIF_FAIL_NONE;
}

enum aif_failure
aif_adapter_role_chunk(const char *model_id, enum aif_kind kind,
    const struct aif_stream_state *st, json_t *chunks, struct aif_engine_result *err)
{
	if (kind != AIF_KIND_CHAT || st->events != 1)
		return AIF_FAIL_NONE;
	return aif_adapter_append_chunk(chunks,
	    aif_adapter_chunk(model_id, kind, st, 1, "", 0, NULL), err);
}

json_t *
aif_adapter_event_object(const char *data, size_t len, struct aif_engine_result *err)
{
	json_t *ev = json_loadb(data, len, 0, NULL);

	if (ev != NULL && json_is_object(ev))
		return ev;
	json_decref(ev);
	aif_adapter_bad_response(err, "a malformed stream event");
	return NULL;
}

enum aif_err
aif_adapter_set_body(struct aif_engine_req *out, const json_t *body)
{
	if ((out->body = json_dumps(body, JSON_COMPACT)) == NULL)
		return AIF_NOMEM;
	out->body_len = strlen(out->body);
	return AIF_OK;
}

static int
usage_ok(const json_t *usage)
{
	static const char *const counts[] = { "prompt_tokens", "completion_tokens",
	    "total_tokens" };
	const json_t *v;

	if (usage == NULL || json_is_null(usage))
		return 1;
	if (!json_is_object(usage))
		return 0;
	for (size_t i = 0; i < AIF_NELEM(counts); i++)
		if ((v = json_object_get(usage, counts[i])) != NULL &&
		    (!json_is_integer(v) || json_integer_value(v) < 0))
			return 0;
	return 1;
}

/* The answer of an engine-native kind: rerank results [{index, relevance_score}], score
 * data [{index, score}], tokenize {count, tokens: [ints]}, detokenize {prompt}. */
static int
native_answer_ok(enum aif_kind kind, const json_t *root)
{
	const json_t *arr, *e;
	const char *num = kind == AIF_KIND_RERANK ? "relevance_score" : "score";
	size_t i;

	if (kind == AIF_KIND_TOKENIZE)
		return json_is_integer(json_object_get(root, "count")) &&
		    json_integer_value(json_object_get(root, "count")) >= 0 &&
		    json_is_array(json_object_get(root, "tokens"));
	if (kind == AIF_KIND_DETOKENIZE)
		return json_is_string(json_object_get(root, "prompt"));
	arr = json_object_get(root, kind == AIF_KIND_RERANK ? "results" : "data");
	if (!json_is_array(arr) || json_array_size(arr) == 0)
		return 0;
	json_array_foreach(arr, i, e)
		if (!json_is_integer(json_object_get(e, "index")) ||
		    json_integer_value(json_object_get(e, "index")) < 0 ||
		    !json_is_number(json_object_get(e, num)))
			return 0;
	return 1;
}

int
aif_adapter_answer_ok(enum aif_kind kind, const json_t *root)
{
	const json_t *arr, *e, *obj;
	size_t i;

	if (kind & AIF_KIND_SURFACES)	/* a Response or a Message (passthru.h) */
		return aif_passthru_answer_ok(kind, root);

	if (!json_is_object(root) || (json_object_get(root, "error") != NULL &&
	    !json_is_null(json_object_get(root, "error"))))
		return 0;
	if ((obj = json_object_get(root, "object")) != NULL && json_is_string(obj) &&
	    strcmp(json_string_value(obj), "error") == 0)
		return 0;
	if (!usage_ok(json_object_get(root, "usage")))
		return 0;
	if (!(kind & (AIF_KIND_GENERATES | AIF_KIND_EMBEDDING)))
		return native_answer_ok(kind, root);
	arr = json_object_get(root, kind == AIF_KIND_EMBEDDING ? "data" : "choices");
	if (!json_is_array(arr) || json_array_size(arr) == 0)
		return 0;
	json_array_foreach(arr, i, e) {
		if (!json_is_object(e))
			return 0;
		if (kind == AIF_KIND_EMBEDDING) {
			const json_t *emb = json_object_get(e, "embedding");
			if (!json_is_array(emb) && !json_is_string(emb))
				return 0;
			continue;
		}
		if (!json_is_integer(json_object_get(e, "index")) ||
		    json_integer_value(json_object_get(e, "index")) < 0)
			return 0;
		if (kind == AIF_KIND_CHAT ? !json_is_object(json_object_get(e, "message")) :
		    !json_is_string(json_object_get(e, "text")))
			return 0;
	}
	return 1;
}
