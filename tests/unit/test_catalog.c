/* test_catalog.c -- unit tests of adapters/catalog.c: the catalogue and the adapter
 * table of registry.c name the same adapters, settings fall back to the adapter's
 * defaults, and the catalogue's checks are what every program's config load applies. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
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

	(void)state;
	assert_string_equal(aif_adapter_spec_option(&aif_spec_triton, &m, "mode"), "infer");
	assert_string_equal(aif_adapter_spec_option(&aif_spec_triton, &m, "text_output"),
	    "text_output");
	m.options = opts;
	m.noptions = 1;
	assert_string_equal(aif_adapter_spec_option(&aif_spec_triton, &m, "mode"),
	    "generate");
	assert_string_equal(aif_adapter_option(&aif_adapter_triton, &m, "mode"), "generate");
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
	/* openai reads no setting at all */
	m.adapter = "openai";
	m.noptions = 1;
	s.n = 0;
	aif_adapters_cfg.check_model(&m, record, &s);
	assert_int_equal(s.n, 1);
	assert_string_equal(s.message, "unknown setting of adapter openai (known: none)");
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

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(catalogue_and_adapters_agree),
		cmocka_unit_test(setting_is_the_models_own_else_the_default),
		cmocka_unit_test(check_model_reports_each_bad_setting),
		cmocka_unit_test(check_model_checks_the_chat_template),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
