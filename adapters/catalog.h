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

/* The adapters' part of config checking (names, sections, chat templates), for
 * aif_cfg_load_with (core/config/config.h). */
extern const struct aif_cfg_adapters aif_adapters_cfg;

#endif /* AIF_CATALOG_H */
