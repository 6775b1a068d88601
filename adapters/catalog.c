/* catalog.c -- the adapters as the YAML knows them (names, section settings) and the
 * config checks built on them; see catalog.h. An adapter added to registry.c gets its
 * entry here (test_catalog checks that the two lists agree). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "catalog.h"
#include "chat_template.h"
#include "util.h"

#define OPTIONS_SHOWN_MAX	32

/* The settings of a model's `openai:` section (docs/CONFIG.md). */
static const struct aif_adapter_option openai_options[] = {
	[AIF_OPENAI_RERANK_PATH] = { "rerank_path", "/v1/rerank", NULL },
	[AIF_OPENAI_SCORE_PATH] = { "score_path", "/v1/score", NULL },
	[AIF_OPENAI_TOKENIZE_PATH] = { "tokenize_path", "/tokenize", NULL },
	[AIF_OPENAI_DETOKENIZE_PATH] = { "detokenize_path", "/detokenize", NULL },
	[AIF_OPENAI_RESPONSES_PATH] = { "responses_path", "/v1/responses", NULL },
	[AIF_OPENAI_MESSAGES_PATH] = { "messages_path", "/v1/messages", NULL },
	[AIF_OPENAI_NSETTINGS] = { NULL, NULL, NULL },
};
_Static_assert(AIF_OPENAI_NSETTINGS <= AIF_ADAPTER_SETTINGS_MAX,
    "struct aif_adapter_model holds every openai setting");
const struct aif_adapter_spec aif_spec_openai = { "openai", openai_options, 0 };
const struct aif_adapter_spec aif_spec_tgi = { "tgi", NULL, 1 };

/* The settings of a model's `triton:` section (docs/CONFIG.md). */
static const char *const triton_modes[] = { "infer", "generate", NULL };
static const char *const triton_int_types[] = { "INT32", "UINT32", NULL };
static const struct aif_adapter_option triton_options[] = {
	[AIF_TRITON_MODE] = { "mode", "infer", triton_modes },
	[AIF_TRITON_TEXT_INPUT] = { "text_input", "text_input", NULL },
	[AIF_TRITON_TEXT_OUTPUT] = { "text_output", "text_output", NULL },
	[AIF_TRITON_MAX_TOKENS_INPUT] = { "max_tokens_input", "max_tokens", NULL },
	[AIF_TRITON_MAX_TOKENS_TYPE] = { "max_tokens_type", "INT32", triton_int_types },
	[AIF_TRITON_STREAM_INPUT] = { "stream_input", "stream", NULL },
	[AIF_TRITON_EMBEDDING_OUTPUT] = { "embedding_output", "embedding", NULL },
	[AIF_TRITON_NSETTINGS] = { NULL, NULL, NULL },
};
_Static_assert(AIF_TRITON_NSETTINGS <= AIF_ADAPTER_SETTINGS_MAX,
    "struct aif_adapter_model holds every triton setting");
const struct aif_adapter_spec aif_spec_triton = { "triton", triton_options, 1 };

static const struct aif_adapter_spec *const specs[] = {
	&aif_spec_openai,
	&aif_spec_tgi,
	&aif_spec_triton,
};

const struct aif_adapter_spec *
aif_adapter_spec_at(size_t i)
{
	return i < AIF_NELEM(specs) ? specs[i] : NULL;
}

const struct aif_adapter_spec *
aif_adapter_spec_find(const char *name)
{
	for (size_t i = 0; i < AIF_NELEM(specs); i++)
		if (strcmp(specs[i]->name, name) == 0)
			return specs[i];
	return NULL;
}

const char *
aif_adapter_spec_option(const struct aif_adapter_spec *spec, const struct aif_model *m,
    const char *name)
{
	const char *def = NULL;

	for (const struct aif_adapter_option *o = spec->options; o && o->name; o++)
		if (strcmp(o->name, name) == 0)
			def = o->def;
	return aif_cfg_option(m, name, def);
}

/* Names for config messages: "a, b, c" of a NULL-terminated list. */
static void
join(char *buf, size_t cap, const char *const *list)
{
	size_t off = 0;

	buf[0] = '\0';
	for (size_t i = 0; list[i] != NULL && off + 1 < cap; i++) {
		int n = snprintf(buf + off, cap - off, "%s%s", i ? ", " : "", list[i]);
		if (n < 0)
			break;
		off += (size_t)n;
	}
}

/* "unknown setting of adapter triton (known: mode, ...)" into msg. */
static void
unknown_setting(const struct aif_adapter_spec *spec, char *msg, size_t cap)
{
	const char *names[OPTIONS_SHOWN_MAX + 1];
	char list[256];
	size_t n = 0;

	for (const struct aif_adapter_option *d = spec->options;
	    d != NULL && d->name != NULL && n < OPTIONS_SHOWN_MAX; d++)
		names[n++] = d->name;
	names[n] = NULL;
	join(list, sizeof(list), names);
	snprintf(msg, cap, "unknown setting of adapter %s (known: %s)", spec->name,
	    n ? list : "none");
}

/* One setting of the model's adapter section: a known name with an allowed value.
 * Returns NULL when it is, else the message (in msg). */
static const char *
setting_problem(const struct aif_adapter_spec *spec, const struct aif_cfg_option *o,
    char *msg, size_t cap)
{
	const struct aif_adapter_option *d = spec->options;
	char list[256];
	size_t k;

	while (d != NULL && d->name != NULL && strcmp(d->name, o->key) != 0)
		d++;
	if (d == NULL || d->name == NULL) {
		unknown_setting(spec, msg, cap);
		return msg;
	}
	if (o->value[0] == '\0')
		return "must not be empty";
	if (strlen(d->name) > 5 && strcmp(d->name + strlen(d->name) - 5, "_path") == 0 &&
	    (o->value[0] != '/' || strpbrk(o->value, " ?#\\") != NULL))
		return "must be an absolute path (\"/...\"), without spaces, '?' or '#'";
	if (d->choices == NULL)
		return NULL;
	for (k = 0; d->choices[k] != NULL && strcmp(d->choices[k], o->value) != 0; k++)
		;
	if (d->choices[k] != NULL)
		return NULL;
	join(list, sizeof(list), d->choices);
	snprintf(msg, cap, "'%.48s' is not one of: %s", o->value, list);
	return msg;
}

/* models[]: the chat template parses; every setting of the adapter's section is one
 * the adapter reads, with an allowed value. */
static void
check_model(const struct aif_model *m,
    void (*report)(void *ctx, const char *key, const char *message), void *ctx)
{
	const struct aif_adapter_spec *spec = aif_adapter_spec_find(m->adapter);
	char key[160], msg[400];
	const char *problem;

	if (m->chat_template != NULL && aif_chat_template_check(m->chat_template) != AIF_OK)
		report(ctx, "chat_template", "expected chatml, llama3 or a template with "
		    "{content} and a final {assistant} (docs/ADAPTERS.md)");
	if (spec == NULL)
		return;
	if ((m->kinds & AIF_KIND_SURFACES) && spec != &aif_spec_openai)
		report(ctx, "kinds", "responses and messages (an engine serving the API "
		    "itself) need the openai adapter; other engines are bridged through chat");
	for (size_t i = 0; i < m->noptions; i++) {
		const struct aif_cfg_option *o = &m->options[i];
		if ((problem = setting_problem(spec, o, msg, sizeof(msg))) == NULL)
			continue;
		snprintf(key, sizeof(key), "%s.%.100s", spec->name, o->key);
		report(ctx, key, problem);
	}
}

/* The i-th adapter's name, NULL past the last. */
static const char *
name_at(size_t i)
{
	const struct aif_adapter_spec *spec = aif_adapter_spec_at(i);

	return spec != NULL ? spec->name : NULL;
}

static void
free_model(struct aif_model *m)
{
	struct aif_adapter_model *am = m->adapter_state;

	if (am != NULL)
		aif_chat_template_free(am->chat_template);
	free(am);
	m->adapter_state = NULL;
}

/* m passed check_model: its settings resolved, its chat template compiled. */
static enum aif_err
prepare_model(struct aif_model *m)
{
	const struct aif_adapter_spec *spec = aif_adapter_spec_find(m->adapter);
	struct aif_adapter_model *am;
	size_t i = 0;

	if (spec == NULL)
		return AIF_OK;
	if ((am = calloc(1, sizeof(*am))) == NULL)
		return AIF_NOMEM;
	m->adapter_state = am;
	for (const struct aif_adapter_option *o = spec->options;
	    o != NULL && o->name != NULL && i < AIF_ADAPTER_SETTINGS_MAX; o++)
		am->settings[i++] = aif_cfg_option(m, o->name, o->def);
	/* check_model compiled it once already: only memory can fail here */
	if (spec->prompt &&
	    aif_chat_template_compile(m->chat_template, &am->chat_template) != AIF_OK)
		return AIF_NOMEM;
	return AIF_OK;
}

const struct aif_cfg_adapters aif_adapters_cfg = {
	.name_at = name_at,
	.check_model = check_model,
	.prepare_model = prepare_model,
	.free_model = free_model,
};
