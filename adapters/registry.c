/* registry.c -- the table of engine adapters and helpers shared by all of them. */
#include <stdio.h>
#include <string.h>

#include "adapter.h"
#include "openai.h"
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
