/* catalog.h -- what each engine adapter accepts in the YAML: its name and the settings
 * of a model's adapter section. Data and checks only, none of the code that speaks to
 * engines, so every program (aif-api and aif-cron too, which call no engine) refuses
 * the same configuration file. The adapters themselves are in adapter.h. */
#ifndef AIF_CATALOG_H
#define AIF_CATALOG_H

#include "config.h"

/* One setting an adapter reads from a model's adapter section (`triton:` under
 * `adapter: triton`): its name, the value when absent, and the values allowed (NULL:
 * any non-empty text). */
struct aif_adapter_option {
	const char		*name;
	const char		*def;
	const char *const	*choices;	/* NULL-terminated, or NULL */
};

/* An adapter as the YAML knows it. */
struct aif_adapter_spec {
	const char			*name;		/* models[].adapter */
	const struct aif_adapter_option	*options;	/* NULL-terminated, or NULL */
	int				 prompt;	/* renders chat messages with the
							   model's chat_template */
};

#define AIF_ADAPTER_SETTINGS_MAX	16	/* options of one adapter */

/* The settings of the `triton:` section: their index in aif_spec_triton.options. */
enum aif_triton_setting {
	AIF_TRITON_MODE,
	AIF_TRITON_TEXT_INPUT,
	AIF_TRITON_TEXT_OUTPUT,
	AIF_TRITON_MAX_TOKENS_INPUT,
	AIF_TRITON_MAX_TOKENS_TYPE,
	AIF_TRITON_STREAM_INPUT,
	AIF_TRITON_EMBEDDING_OUTPUT,
	AIF_TRITON_NSETTINGS
};

/* The settings of a model's `openai:` section: the engine paths of the engine-native
 * kinds and of the surfaces an engine serves itself (docs/ADAPTERS.md), for servers
 * that put them elsewhere than vLLM does. */
enum aif_openai_setting {
	AIF_OPENAI_RERANK_PATH,
	AIF_OPENAI_SCORE_PATH,
	AIF_OPENAI_TOKENIZE_PATH,
	AIF_OPENAI_DETOKENIZE_PATH,
	AIF_OPENAI_RESPONSES_PATH,
	AIF_OPENAI_MESSAGES_PATH,
	AIF_OPENAI_NSETTINGS
};

struct aif_chat_template;

/* What an adapter reads of a model on every call, worked out once when the
 * configuration is loaded (aif_adapters_cfg.prepare_model): the model's
 * adapter_state. */
struct aif_adapter_model {
	struct aif_chat_template *chat_template;	/* compiled, for adapters that
							   render a prompt; else NULL */
	const char	*settings[AIF_ADAPTER_SETTINGS_MAX];	/* by the index of
					   spec->options: the model's value, else the
					   default (borrowed from the config / spec) */
};

extern const struct aif_adapter_spec aif_spec_openai;
extern const struct aif_adapter_spec aif_spec_tgi;
extern const struct aif_adapter_spec aif_spec_triton;

/* The i-th adapter of the catalogue, NULL past the last (borrowed, static). */
const struct aif_adapter_spec *aif_adapter_spec_at(size_t i);

/* The adapter named `name`, or NULL (borrowed, static). */
const struct aif_adapter_spec *aif_adapter_spec_find(const char *name);

/* The value of setting `name` of model m: the model's own, else the adapter's default
 * (borrowed). `name` must be one of spec->options. */
const char	*aif_adapter_spec_option(const struct aif_adapter_spec *spec,
		    const struct aif_model *m, const char *name);

/* The adapters' part of config loading (core/config/config.h aif_cfg_load_with):
 * names, sections and chat templates checked, and each model's struct
 * aif_adapter_model prepared (and freed with the config). */
extern const struct aif_cfg_adapters aif_adapters_cfg;

#endif /* AIF_CATALOG_H */
