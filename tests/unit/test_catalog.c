/* test_catalog.c -- unit tests of adapters/catalog.c: the catalogue and the adapter
 * table of registry.c name the same adapters, settings fall back to the adapter's
 * defaults, and the catalogue's checks are what every program's config load applies. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapter.h"
#include "catalog.h"
#include "config.h"
#include "triton.h"

static void
catalogue_and_adapters_agree(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; aif_adapter_spec_at(i) != NULL; i++) {
		const struct aif_adapter_spec *s = aif_adapter_spec_at(i);
		const struct aif_adapter *ad = aif_adapter_find(s->name);
		if (ad == NULL)
			fail_msg("catalogue names '%s' but registry.c has no such adapter",
			    s->name);
		assert_ptr_equal(ad->spec, s);
		assert_ptr_equal(aif_adapter_spec_find(s->name), s);
		assert_string_equal(aif_adapters_cfg.name_at(i), s->name);
	}
	assert_int_equal(i, 3);
	assert_null(aif_adapters_cfg.name_at(i));
	assert_null(aif_adapter_spec_find("vllm"));
	assert_null(aif_adapter_spec_find("TRITON"));
}

static void
setting_is_the_models_own_else_the_default(void **state)
{
	struct aif_cfg_option opts[] = { { .key = "mode", .value = "generate" } };
	struct aif_model m = { .id = "m", .adapter = "triton" };
	const char *tmp[AIF_ADAPTER_SETTINGS_MAX];

	(void)state;
	assert_string_equal(aif_adapter_spec_option(&aif_spec_triton, &m, "mode"), "infer");
	assert_string_equal(aif_adapter_spec_option(&aif_spec_triton, &m, "text_output"),
	    "text_output");
	m.options = opts;
	m.noptions = 1;
	assert_string_equal(aif_adapter_spec_option(&aif_spec_triton, &m, "mode"),
	    "generate");
	assert_string_equal(aif_adapter_settings(&aif_adapter_triton, &m,
	    tmp)[AIF_TRITON_MODE], "generate");
	assert_null(aif_adapter_spec_option(&aif_spec_openai, &m, "nothing"));
}

struct seen {
	int	 n;
	char	 key[64], message[400];
};

static void
record(void *ctx, const char *key, const char *message)
{
	struct seen *s = ctx;

	s->n++;
	snprintf(s->key, sizeof(s->key), "%s", key);
	snprintf(s->message, sizeof(s->message), "%s", message);
}

/* An engine serves the Responses and Messages APIs itself only through the openai
 * adapter: another adapter listing them is reported on kinds. */
static void
check_model_keeps_the_surfaces_to_openai(void **state)
{
	struct aif_model m = { .id = "m", .adapter = "tgi",
	    .kinds = AIF_KIND_CHAT | AIF_KIND_MESSAGES };
	struct seen s = { 0 };

	(void)state;
	aif_adapters_cfg.check_model(&m, record, &s);
	assert_int_equal(s.n, 1);
	assert_string_equal(s.key, "kinds");
	m.kinds = AIF_KIND_CHAT;
	s.n = 0;
	aif_adapters_cfg.check_model(&m, record, &s);
	assert_int_equal(s.n, 0);
	m.adapter = "openai";
	m.kinds = AIF_KIND_CHAT | AIF_KIND_RESPONSES | AIF_KIND_MESSAGES;
	aif_adapters_cfg.check_model(&m, record, &s);
	assert_int_equal(s.n, 0);
}

static void
check_model_reports_each_bad_setting(void **state)
{
	struct aif_cfg_option opts[] = {
		{ .key = "mode", .value = "infer" },
		{ .key = "max_tokens_type", .value = "INT64" },
		{ .key = "colour", .value = "red" },
		{ .key = "text_input", .value = "" },
	};
	struct aif_model m = { .id = "m", .adapter = "triton", .options = opts,
	    .noptions = 1 };
	struct seen s = { 0 };

	(void)state;
	aif_adapters_cfg.check_model(&m, record, &s);
	assert_int_equal(s.n, 0);
	m.noptions = 2;
	aif_adapters_cfg.check_model(&m, record, &s);
	assert_int_equal(s.n, 1);
	assert_string_equal(s.key, "triton.max_tokens_type");
	assert_string_equal(s.message, "'INT64' is not one of: INT32, UINT32");
	m.noptions = 3;
	s.n = 0;
	aif_adapters_cfg.check_model(&m, record, &s);
	assert_int_equal(s.n, 2);
	assert_string_equal(s.key, "triton.colour");
	assert_non_null(strstr(s.message, "unknown setting of adapter triton (known: mode, "));
	m.noptions = 4;
	s.n = 0;
	aif_adapters_cfg.check_model(&m, record, &s);
	assert_int_equal(s.n, 3);
	assert_string_equal(s.message, "must not be empty");
	/* openai reads the engine paths of the native kinds, absolute paths only */
	m.adapter = "openai";
	m.noptions = 1;
	s.n = 0;
	aif_adapters_cfg.check_model(&m, record, &s);
	assert_int_equal(s.n, 1);
	assert_string_equal(s.message, "unknown setting of adapter openai (known: "
	    "rerank_path, score_path, tokenize_path, detokenize_path, responses_path, "
	    "messages_path)");
	{
		struct aif_cfg_option paths[] = {
			{ .key = "rerank_path", .value = "/v2/rerank" },
			{ .key = "score_path", .value = "v1/score" },
			{ .key = "tokenize_path", .value = "/tok?x=1" },
		};
		struct aif_model o = { .id = "o", .adapter = "openai", .options = paths,
		    .noptions = 3 };
		s.n = 0;
		aif_adapters_cfg.check_model(&o, record, &s);
		assert_int_equal(s.n, 2);
		assert_non_null(strstr(s.message, "absolute path"));
		o.noptions = 1;
		assert_string_equal(aif_adapter_spec_option(&aif_spec_openai, &o,
		    "rerank_path"), "/v2/rerank");
		assert_string_equal(aif_adapter_spec_option(&aif_spec_openai, &o,
		    "detokenize_path"), "/detokenize");
	}
}

static void
check_model_checks_the_chat_template(void **state)
{
	struct aif_model m = { .id = "m", .adapter = "tgi", .chat_template = "chatml" };
	struct seen s = { 0 };

	(void)state;
	aif_adapters_cfg.check_model(&m, record, &s);
	assert_int_equal(s.n, 0);
	m.chat_template = "no placeholders here";
	aif_adapters_cfg.check_model(&m, record, &s);
	assert_int_equal(s.n, 1);
	assert_string_equal(s.key, "chat_template");
}

/* The settings' indexes (enum aif_triton_setting) name the catalogue's options. */
static void
triton_setting_indexes_match_the_catalogue(void **state)
{
	static const char *const names[AIF_TRITON_NSETTINGS] = {
		[AIF_TRITON_MODE] = "mode", [AIF_TRITON_TEXT_INPUT] = "text_input",
		[AIF_TRITON_TEXT_OUTPUT] = "text_output",
		[AIF_TRITON_MAX_TOKENS_INPUT] = "max_tokens_input",
		[AIF_TRITON_MAX_TOKENS_TYPE] = "max_tokens_type",
		[AIF_TRITON_STREAM_INPUT] = "stream_input",
		[AIF_TRITON_EMBEDDING_OUTPUT] = "embedding_output",
	};
	size_t i;

	(void)state;
	for (i = 0; aif_spec_triton.options[i].name != NULL; i++) {
		assert_true(i < AIF_TRITON_NSETTINGS);
		assert_string_equal(aif_spec_triton.options[i].name, names[i]);
	}
	assert_int_equal(i, AIF_TRITON_NSETTINGS);
}

/* prepare_model resolves every setting once (the model's value, else the default) and
 * compiles the chat template of the adapters that render one; free_model frees it. */
static void
prepare_model_resolves_settings_and_compiles_the_template(void **state)
{
	struct aif_cfg_option opts[] = { { .key = "text_output", .value = "out" } };
	struct aif_model m = { .id = "m", .adapter = "triton", .chat_template = "llama3",
	    .options = opts, .noptions = 1 };
	const struct aif_adapter_model *am;
	const char *tmp[AIF_ADAPTER_SETTINGS_MAX];
	char *prompt;
	json_t *msgs = json_pack("[{s:s,s:s}]", "role", "user", "content", "hi");

	(void)state;
	assert_int_equal(aif_adapters_cfg.prepare_model(&m), AIF_OK);
	assert_non_null(am = m.adapter_state);
	assert_non_null(am->chat_template);
	assert_string_equal(am->settings[AIF_TRITON_TEXT_OUTPUT], "out");
	assert_string_equal(am->settings[AIF_TRITON_MODE], "infer");
	assert_string_equal(am->settings[AIF_TRITON_MAX_TOKENS_INPUT], "max_tokens");
	/* the adapters read what was prepared, not the lookup */
	assert_ptr_equal(aif_adapter_settings(&aif_adapter_triton, &m, tmp), am->settings);
	assert_int_equal(aif_adapter_render_chat(&m, msgs, &prompt, NULL), AIF_OK);
	assert_non_null(strstr(prompt, "<|start_header_id|>user<|end_header_id|>"));
	free(prompt);
	aif_adapters_cfg.free_model(&m);
	assert_null(m.adapter_state);
	/* openai renders no prompt: nothing compiled */
	m.adapter = "openai";
	m.noptions = 0;
	assert_int_equal(aif_adapters_cfg.prepare_model(&m), AIF_OK);
	assert_non_null(am = m.adapter_state);
	assert_null(am->chat_template);
	aif_adapters_cfg.free_model(&m);
	json_decref(msgs);
}

/* A configuration loaded with the adapters' hooks has every model prepared; freeing
 * the configuration frees it (ASan's leak check). */
static void
loaded_models_are_prepared(void **state)
{
	static const char yaml[] =
	    "server:\n  listen: /run/aif/api.sock\n  run_dir: /run/aif\n"
	    "database:\n  socket: /run/mysqld/mysqld.sock\n  name: aif\n"
	    "models:\n"
	    "  - id: t\n    adapter: tgi\n    chat_template: \"<u>{content}</u>{assistant}\"\n"
	    "    replicas:\n      - url: http://127.0.0.1:9102\n"
	    "  - id: o\n    adapter: openai\n    replicas:\n      - url: http://127.0.0.1:9101\n"
	    "roles:\n  - name: user\n";
	struct aif_config *cfg = NULL;
	char errbuf[4096];

	(void)state;
	assert_int_equal(aif_cfg_load_string_with("t.yaml", yaml, sizeof(yaml) - 1,
	    &aif_adapters_cfg, &cfg, errbuf, sizeof(errbuf)), AIF_OK);
	for (size_t i = 0; i < cfg->nmodels; i++) {
		assert_non_null(cfg->models[i].adapter_state);
		assert_ptr_equal(cfg->models[i].adapter_hooks, &aif_adapters_cfg);
	}
	assert_non_null(((const struct aif_adapter_model *)
	    cfg->models[0].adapter_state)->chat_template);
	aif_cfg_free(cfg);
	/* without the hooks: nothing prepared, the adapters work it out per call */
	assert_int_equal(aif_cfg_load_string("t.yaml", yaml, sizeof(yaml) - 1, &cfg, errbuf,
	    sizeof(errbuf)), AIF_OK);
	assert_null(cfg->models[0].adapter_state);
	aif_cfg_free(cfg);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(catalogue_and_adapters_agree),
		cmocka_unit_test(setting_is_the_models_own_else_the_default),
		cmocka_unit_test(check_model_reports_each_bad_setting),
		cmocka_unit_test(check_model_keeps_the_surfaces_to_openai),
		cmocka_unit_test(check_model_checks_the_chat_template),
		cmocka_unit_test(triton_setting_indexes_match_the_catalogue),
		cmocka_unit_test(prepare_model_resolves_settings_and_compiles_the_template),
		cmocka_unit_test(loaded_models_are_prepared),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
