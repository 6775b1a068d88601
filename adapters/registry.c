/* registry.c -- the table of engine adapters and helpers shared by all of them. */
#include <stdio.h>
#include <string.h>

#include "adapter.h"
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
	for (size_t i = 0; i < sizeof(adapters) / sizeof(adapters[0]); i++)
		if (adapters[i]->abi == AIF_ADAPTER_ABI &&
		    strcmp(adapters[i]->name, name) == 0)
			return adapters[i];
	return NULL;
}

enum aif_kind
aif_kind_from_name(const char *name)
{
	if (strcmp(name, "completion") == 0)
		return AIF_KIND_COMPLETION;
	if (strcmp(name, "embedding") == 0)
		return AIF_KIND_EMBEDDING;
	return AIF_KIND_CHAT;
}

const char *
aif_kind_name(enum aif_kind kind)
{
	switch (kind) {
	case AIF_KIND_COMPLETION:
		return "completion";
	case AIF_KIND_EMBEDDING:
		return "embedding";
	case AIF_KIND_CHAT:
	default:
		return "chat";
	}
}

void
aif_adapter_transport_failure(const char *what, int timed_out,
    struct aif_engine_result *out)
{
	out->failure = AIF_FAIL_RETRYABLE;
	out->client_status = timed_out ? 504 : 503;
	snprintf(out->error_type, sizeof(out->error_type), "server_error");
	snprintf(out->error_code, sizeof(out->error_code), "%s",
	    timed_out ? "engine_timeout" : "engine_unavailable");
	snprintf(out->message, sizeof(out->message), "The engine could not be reached: %s",
	    what);
}

void
aif_engine_result_clear(struct aif_engine_result *r)
{
	json_decref(r->response);
	memset(r, 0, sizeof(*r));
}

void
aif_adapter_set_error(struct aif_engine_result *out, enum aif_failure f, int status,
    const char *type, const char *code)
{
	out->failure = f;
	out->client_status = status;
	snprintf(out->error_type, sizeof(out->error_type), "%s", type);
	snprintf(out->error_code, sizeof(out->error_code), "%s", code ? code : "");
}

void
aif_adapter_classify_status(long status, const char *emsg, int context_exceeded,
    struct aif_engine_result *out)
{
	switch (status) {
	case 400:
	case 413:
	case 422:
		aif_adapter_set_error(out, AIF_FAIL_FATAL, 400, "invalid_request_error",
		    context_exceeded ? "context_length_exceeded" : "engine_rejected_request");
		snprintf(out->message, sizeof(out->message),
		    "The engine rejected the request: %s", emsg);
		aif_utf8_trim_tail(out->message);
		return;
	case 401:
	case 403:
	case 404:
	case 405:
	case 501:
		aif_adapter_set_error(out, AIF_FAIL_FATAL, 502, "server_error",
		    "engine_misconfigured");
		snprintf(out->message, sizeof(out->message),
		    "The engine refused the gateway's call (HTTP %ld); an operator must fix "
		    "the model's configuration.", status);
		return;
	case 429:
	case 503:
		aif_adapter_set_error(out, AIF_FAIL_OVERLOADED, 503, "server_error",
		    "engine_overloaded");
		snprintf(out->message, sizeof(out->message),
		    "The engine is overloaded (HTTP %ld), please try again later.", status);
		return;
	case 408:
	case 504:
		aif_adapter_set_error(out, AIF_FAIL_RETRYABLE, 504, "server_error",
		    "engine_timeout");
		snprintf(out->message, sizeof(out->message),
		    "The engine timed out (HTTP %ld).", status);
		return;
	default:
		aif_adapter_set_error(out, AIF_FAIL_RETRYABLE, 502, "server_error",
		    "engine_error");
		snprintf(out->message, sizeof(out->message), "The engine failed (HTTP %ld).",
		    status);
		return;
	}
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
