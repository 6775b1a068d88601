/* test_config.c -- unit tests of core/config/config.c: the checked-in config loads, defaults
 * apply, ${NAME} expansion, and every class of error is reported at its exact
 * file:line:column and collected with the others. Runs with cwd tests/unit. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "catalog.h"
#include "config.h"
#include "pii.h"

/* The smallest valid config: only required keys. Line numbers are used below. */
#define MINIMAL_SERVER						\
	"server:\n"			/* 1 */			\
	"  listen: /run/aif/api.sock\n"	/* 2 */			\
	"  run_dir: /run/aif\n"		/* 3 */
#define MINIMAL_REST						\
	"database:\n"			/* 4 */			\
	"  socket: /run/mysqld/mysqld.sock\n" /* 5 */		\
	"  name: aif\n"			/* 6 */			\
	"models:\n"			/* 7 */			\
	"  - id: m1\n"			/* 8 */			\
	"    adapter: openai\n"		/* 9 */			\
	"    replicas:\n"		/* 10 */		\
	"      - url: http://127.0.0.1:9101\n" /* 11 */		\
	"roles:\n"			/* 12 */		\
	"  - name: user\n"		/* 13 */
#define MINIMAL	MINIMAL_SERVER MINIMAL_REST

static char errbuf[8192];

/* Loads as aif-worker and aifctl do: with the adapters' checks. */
static enum aif_err
load(const char *yaml, struct aif_config **cfg)
{
	return aif_cfg_load_string_with("t.yaml", yaml, strlen(yaml), &aif_adapters_cfg, cfg,
	    errbuf, sizeof(errbuf));
}

/* Loads yaml, expecting AIF_CONFIG and exactly the message `want`. */
static void
expect_error(const char *yaml, const char *want)
{
	struct aif_config *cfg = (struct aif_config *)1;

	assert_int_equal(load(yaml, &cfg), AIF_CONFIG);
	assert_null(cfg);
	assert_string_equal(errbuf, want);
}

static void
repo_config_loads_with_env_unset(void **state)
{
	static const char *vars[] = { "AIF_VAR_DIR", "AIF_SYNC_TIMEOUT_MS",
	    "AIF_DB_NAME", "AIF_MOCK_PORT" };
	struct aif_config *cfg = NULL;
	const struct aif_model *m;
	const struct aif_role *r;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(vars) / sizeof(vars[0]); i++)
		unsetenv(vars[i]);
	assert_int_equal(aif_cfg_load("../../config/aif.yaml", &cfg, errbuf,
	    sizeof(errbuf)), AIF_OK);
	assert_string_equal(errbuf, "");
	assert_string_equal(cfg->path, "../../config/aif.yaml");
	assert_string_equal(cfg->server.listen, "var/run/api.sock");
	assert_string_equal(cfg->server.run_dir, "var/run");
	assert_int_equal(cfg->server.sync_timeout_ms, 60000);
	assert_int_equal(cfg->server.max_body_bytes, 1048576);
	assert_int_equal(cfg->server.max_messages, 2048);
	assert_string_equal(cfg->database.socket, "var/run/mysqld.sock");
	assert_string_equal(cfg->database.name, "aif");
	assert_null(cfg->database.host);
	assert_int_equal(cfg->worker.drain_timeout_ms, 10000);
	assert_string_equal(cfg->auth.pepper_file, "var/secrets/key-pepper");
	assert_true(cfg->nmodels >= 2);	/* the file grows; check what it must keep */
	m = aif_cfg_model(cfg, "demo-chat");
	assert_non_null(m);
	assert_string_equal(m->adapter, "openai");
	assert_string_equal(m->engine, "vllm");
	assert_string_equal(m->upstream_model, "mock-llama-3-8b");
	assert_string_equal(m->owned_by, "aif-demo");
	assert_int_equal(m->kinds, AIF_KIND_CHAT | AIF_KIND_COMPLETION | AIF_KIND_TOKENIZE |
	    AIF_KIND_DETOKENIZE);
	assert_int_equal(m->nreplicas, 1);
	assert_string_equal(m->replicas[0].url, "http://127.0.0.1:9101");
	assert_int_equal(m->replicas[0].max_in_flight, 128);
	assert_int_equal(m->timeout_ms, 30000);
	assert_int_equal(m->max_attempts, 3);
	assert_int_equal(m->pricing.input_per_mtok, 150000);
	assert_int_equal(m->pricing.output_per_mtok, 600000);
	assert_non_null(aif_cfg_model(cfg, "demo-small"));
	assert_null(aif_cfg_model(cfg, "nope"));
	assert_true(cfg->nroles >= 3);
	r = aif_cfg_role(cfg, "admin");
	assert_non_null(r);
	assert_true(r->admin);
	assert_int_equal(r->max_priority, 9);
	r = aif_cfg_role(cfg, "batch");
	assert_non_null(r);
	assert_false(r->admin);
	assert_int_equal(r->max_priority, 2);
	assert_null(aif_cfg_role(cfg, "nobody"));
	aif_cfg_free(cfg);
}

static void
omitted_keys_take_their_defaults(void **state)
{
	struct aif_config *cfg = NULL;
	const struct aif_model *m;
	const struct aif_role *r;

	(void)state;
	assert_int_equal(aif_cfg_load("fixtures/config/minimal.yaml", &cfg, errbuf,
	    sizeof(errbuf)), AIF_OK);
	assert_int_equal(cfg->server.threads, 4);
	assert_int_equal(cfg->server.max_body_bytes, 1048576);
	assert_int_equal(cfg->server.sync_timeout_ms, 120000);
	assert_int_equal(cfg->server.poll_interval_ms, 1000);
	assert_int_equal(cfg->server.max_waiting, 4096);
	assert_int_equal(cfg->server.max_messages, 2048);
	assert_int_equal(cfg->server.max_json_depth, 64);
	assert_null(cfg->database.host);
	assert_null(cfg->database.user);
	assert_null(cfg->database.password_file);
	assert_int_equal(cfg->database.port, 3306);
	assert_int_equal(cfg->database.connect_timeout_ms, 2000);
	assert_int_equal(cfg->database.rw_timeout_ms, 10000);
	assert_int_equal(cfg->queue.default_priority, 4);
	assert_int_equal(cfg->queue.max_attempts, 3);
	assert_int_equal(cfg->queue.lease_seconds, 30);
	assert_int_equal(cfg->queue.claim_batch, 16);
	assert_int_equal(cfg->queue.poll_interval_ms, 1000);
	assert_int_equal(cfg->worker.slots, 64);
	assert_int_equal(cfg->worker.drain_timeout_ms, 30000);
	assert_int_equal(cfg->worker.heartbeat_ms, 2000);
	assert_null(cfg->auth.pepper_file);
	m = &cfg->models[0];
	assert_string_equal(m->engine, "openai");
	assert_string_equal(m->upstream_model, "m1");
	assert_string_equal(m->owned_by, "aif");
	assert_int_equal(m->kinds, AIF_KIND_CHAT | AIF_KIND_COMPLETION);
	assert_int_equal(m->replicas[0].max_in_flight, 64);
	assert_int_equal(m->max_in_flight, 64);
	assert_int_equal(m->timeout_ms, 60000);
	assert_int_equal(m->max_attempts, 3);
	assert_int_equal(m->max_output_tokens, 4096);
	assert_int_equal(m->pricing.input_per_mtok, 0);
	assert_int_equal(m->pricing.output_per_mtok, 0);
	r = &cfg->roles[0];
	assert_false(r->admin);
	assert_int_equal(r->max_priority, 4);
	assert_int_equal(r->nmodels, 1);
	assert_string_equal(r->models[0], "*");
	assert_int_equal(r->nendpoints, 1);
	assert_string_equal(r->endpoints[0], "*");
	aif_cfg_free(cfg);
}

static void
model_and_role_defaults_follow_the_queue_section(void **state)
{
	struct aif_config *cfg = NULL;

	(void)state;
	/* queue comes after models and roles in the file: order must not matter */
	assert_int_equal(load(MINIMAL "queue:\n  max_attempts: 7\n"
	    "  default_priority: 2\n", &cfg), AIF_OK);
	assert_int_equal(cfg->models[0].max_attempts, 7);
	assert_int_equal(cfg->roles[0].max_priority, 2);
	aif_cfg_free(cfg);
}

static void
env_variable_is_expanded(void **state)
{
	struct aif_config *cfg = NULL;

	(void)state;
	setenv("AIF_TEST_DIR", "/srv/aif", 1);
	setenv("AIF_TEST_THREADS", "12", 1);
	assert_int_equal(load("server:\n  listen: ${AIF_TEST_DIR}/run/api.sock\n"
	    "  run_dir: ${AIF_TEST_DIR}\n  threads: ${AIF_TEST_THREADS}\n"
	    MINIMAL_REST, &cfg), AIF_OK);
	assert_string_equal(cfg->server.listen, "/srv/aif/run/api.sock");
	assert_string_equal(cfg->server.run_dir, "/srv/aif");
	assert_int_equal(cfg->server.threads, 12);
	aif_cfg_free(cfg);
	unsetenv("AIF_TEST_DIR");
	unsetenv("AIF_TEST_THREADS");
}

static void
env_default_applies_when_variable_unset_or_empty(void **state)
{
	struct aif_config *cfg = NULL;

	(void)state;
	unsetenv("AIF_TEST_UNSET");
	setenv("AIF_TEST_EMPTY", "", 1);
	assert_int_equal(load("server:\n  listen: ${AIF_TEST_UNSET:-/tmp/a.sock}\n"
	    "  run_dir: ${AIF_TEST_EMPTY:-/tmp}\n  threads: ${AIF_TEST_UNSET:-8}\n"
	    MINIMAL_REST, &cfg), AIF_OK);
	assert_string_equal(cfg->server.listen, "/tmp/a.sock");
	assert_string_equal(cfg->server.run_dir, "/tmp");
	assert_int_equal(cfg->server.threads, 8);
	aif_cfg_free(cfg);
	unsetenv("AIF_TEST_EMPTY");
}

static void
env_value_wins_over_default(void **state)
{
	struct aif_config *cfg = NULL;

	(void)state;
	setenv("AIF_TEST_THREADS", "3", 1);
	assert_int_equal(load(MINIMAL_SERVER "  threads: ${AIF_TEST_THREADS:-8}\n"
	    MINIMAL_REST, &cfg), AIF_OK);
	assert_int_equal(cfg->server.threads, 3);
	aif_cfg_free(cfg);
	unsetenv("AIF_TEST_THREADS");
}

static void
empty_env_default_leaves_optional_string_unset(void **state)
{
	struct aif_config *cfg = NULL;

	(void)state;
	unsetenv("AIF_TEST_UNSET");
	assert_int_equal(load(MINIMAL "auth:\n  pepper_file: ${AIF_TEST_UNSET:-}\n",
	    &cfg), AIF_OK);
	assert_null(cfg->auth.pepper_file);
	aif_cfg_free(cfg);
}

static void
dollar_without_brace_is_literal(void **state)
{
	struct aif_config *cfg = NULL;

	(void)state;
	assert_int_equal(load("server:\n  listen: /run/$aif$/a$\n  run_dir: $HOME\n"
	    MINIMAL_REST, &cfg), AIF_OK);
	assert_string_equal(cfg->server.listen, "/run/$aif$/a$");
	assert_string_equal(cfg->server.run_dir, "$HOME");
	aif_cfg_free(cfg);
}

static void
unset_env_variable_is_error_at_its_value(void **state)
{
	(void)state;
	unsetenv("AIF_TEST_UNSET");
	expect_error("server:\n  listen: /run/aif/api.sock\n"
	    "  run_dir: ${AIF_TEST_UNSET}/run\n" MINIMAL_REST,
	    "t.yaml:3:12: server.run_dir: environment variable AIF_TEST_UNSET "
	    "is not set");
}

static void
malformed_env_reference_is_error(void **state)
{
	(void)state;
	expect_error(MINIMAL_SERVER "  threads: ${1X}\n" MINIMAL_REST,
	    "t.yaml:4:12: server.threads: bad variable reference '${1X}' "
	    "(use ${NAME} or ${NAME:-default})");
	expect_error(MINIMAL_SERVER "  threads: ${X\n" MINIMAL_REST,
	    "t.yaml:4:12: server.threads: unterminated '${' in '${X'");
}

static void
expansion_longer_than_cap_is_error(void **state)
{
	static char big[5000], yaml[6000];

	(void)state;
	memset(big, 'x', 4000);
	big[4000] = '\0';
	setenv("AIF_TEST_BIG", big, 1);
	snprintf(yaml, sizeof(yaml), "server:\n  listen: /a/${AIF_TEST_BIG}/b/"
	    "${AIF_TEST_BIG}\n  run_dir: /run\n%s", MINIMAL_REST);
	expect_error(yaml, "t.yaml:2:11: server.listen: value longer than 4096 bytes "
	    "after expansion");
	unsetenv("AIF_TEST_BIG");
}

static void
unknown_key_names_its_line_and_column(void **state)
{
	(void)state;
	expect_error(MINIMAL_SERVER "  colour: blue\n" MINIMAL_REST,
	    "t.yaml:4:3: server: unknown key 'colour'");
}

static void
unknown_top_level_section_is_error(void **state)
{
	(void)state;
	expect_error(MINIMAL "logging:\n  level: debug\n",
	    "t.yaml:14:1: top level: unknown key 'logging'");
}

static void
string_where_integer_expected_is_error(void **state)
{
	(void)state;
	expect_error(MINIMAL_SERVER "  threads: four\n" MINIMAL_REST,
	    "t.yaml:4:12: server.threads: expected a decimal integer, got 'four'");
}

static void
non_decimal_integers_are_rejected(void **state)
{
	(void)state;
	expect_error(MINIMAL_SERVER "  threads: 010\n" MINIMAL_REST,
	    "t.yaml:4:12: server.threads: expected a decimal integer, got '010'");
	expect_error(MINIMAL_SERVER "  threads: 0x10\n" MINIMAL_REST,
	    "t.yaml:4:12: server.threads: expected a decimal integer, got '0x10'");
	expect_error(MINIMAL_SERVER "  threads: +4\n" MINIMAL_REST,
	    "t.yaml:4:12: server.threads: expected a decimal integer, got '+4'");
	expect_error(MINIMAL_SERVER "  threads: 4.0\n" MINIMAL_REST,
	    "t.yaml:4:12: server.threads: expected a decimal integer, got '4.0'");
}

static void
mapping_where_scalar_expected_is_error(void **state)
{
	(void)state;
	expect_error(MINIMAL_SERVER "  threads:\n    min: 1\n" MINIMAL_REST,
	    "t.yaml:5:5: server.threads: expected an integer, got a mapping");
}

static void
scalar_where_mapping_expected_is_error(void **state)
{
	(void)state;
	expect_error(MINIMAL "queue: fast\n",
	    "t.yaml:14:8: queue: expected a mapping, got a scalar");
}

static void
bad_boolean_is_error(void **state)
{
	(void)state;
	expect_error(MINIMAL "    admin: maybe\n",
	    "t.yaml:14:12: roles[0].admin: expected true, false, yes or no, "
	    "got 'maybe'");
}

static void
value_out_of_range_is_error(void **state)
{
	(void)state;
	expect_error(MINIMAL_SERVER "  threads: 0\n" MINIMAL_REST,
	    "t.yaml:4:12: server.threads: 0 is out of range 1..256");
	expect_error(MINIMAL "    max_priority: 10\n",
	    "t.yaml:14:19: roles[0].max_priority: 10 is out of range 0..9");
	expect_error(MINIMAL "    max_priority: -1\n",
	    "t.yaml:14:19: roles[0].max_priority: -1 is out of range 0..9");
}

static void
integer_overflow_is_out_of_range(void **state)
{
	(void)state;
	expect_error(MINIMAL_SERVER "  max_body_bytes: 99999999999999999999\n"
	    MINIMAL_REST, "t.yaml:4:19: server.max_body_bytes: 99999999999999999999 "
	    "is out of range 1024..67108864");
	expect_error(MINIMAL_SERVER "database: {socket: /s, name: aif}\n"
	    "models: [{id: m, adapter: openai, replicas: [{url: 'http://h'}],\n"
	    "  pricing: {input_per_mtok: 9223372036854775808}}]\n"
	    "roles: [{name: user}]\n",
	    "t.yaml:6:29: models[0].pricing.input_per_mtok: 9223372036854775808 is "
	    "out of range (at least 0)");
}

static void
missing_required_key_points_at_enclosing_mapping(void **state)
{
	(void)state;
	expect_error("server:\n  listen: /run/aif/api.sock\n" MINIMAL_REST,
	    "t.yaml:2:3: server: missing required key 'run_dir'");
}

static void
missing_required_section_points_at_document(void **state)
{
	(void)state;
	expect_error(MINIMAL_SERVER,
	    "t.yaml:1:1: top level: missing required key 'database'\n"
	    "t.yaml:1:1: top level: missing required key 'models'\n"
	    "t.yaml:1:1: top level: missing required key 'roles'");
}

static void
empty_required_string_is_error(void **state)
{
	(void)state;
	expect_error("server:\n  listen: \"\"\n  run_dir: /run\n" MINIMAL_REST,
	    "t.yaml:2:11: server.listen: must not be empty");
}

static void
duplicate_key_is_error(void **state)
{
	(void)state;
	expect_error(MINIMAL_SERVER "  listen: /other.sock\n" MINIMAL_REST,
	    "t.yaml:4:3: server: duplicate key 'listen'");
}

static void
duplicate_model_id_is_error(void **state)
{
	(void)state;
	expect_error(MINIMAL_SERVER "database: {socket: /s, name: aif}\n"
	    "models:\n"
	    "  - {id: m, adapter: openai, replicas: [{url: 'http://h'}]}\n"
	    "  - {id: m, adapter: openai, replicas: [{url: 'http://h'}]}\n"
	    "roles: [{name: user}]\n",
	    "t.yaml:7:10: models[1].id: duplicate model id 'm' (first at line 6)");
}

static void
duplicate_role_name_is_error(void **state)
{
	(void)state;
	expect_error(MINIMAL "  - name: user\n",
	    "t.yaml:14:11: roles[1].name: duplicate role name 'user' "
	    "(first at line 13)");
}

static void
empty_models_list_is_error(void **state)
{
	(void)state;
	expect_error(MINIMAL_SERVER "database: {socket: /s, name: aif}\n"
	    "models: []\nroles: [{name: user}]\n",
	    "t.yaml:5:9: models: needs at least 1 entry");
}

static void
empty_roles_list_is_error(void **state)
{
	(void)state;
	expect_error(MINIMAL_SERVER "database: {socket: /s, name: aif}\n"
	    "models: [{id: m, adapter: openai, replicas: [{url: 'http://h'}]}]\n"
	    "roles: []\n",
	    "t.yaml:6:8: roles: needs at least 1 entry");
}

static void
unknown_adapter_is_error(void **state)
{
	(void)state;
	expect_error(MINIMAL_SERVER "database: {socket: /s, name: aif}\n"
	    "models: [{id: m, adapter: grpc, replicas: [{url: 'http://h'}]}]\n"
	    "roles: [{name: user}]\n",
	    "t.yaml:5:27: models[0].adapter: 'grpc' is not one of: openai, tgi, triton");
}

/* Errors come in the order of the file: an unknown adapter is named at its value,
 * before the model's missing keys are counted (an operator fixes the first line first). */
static void
unknown_adapter_is_reported_where_it_is_written(void **state)
{
	(void)state;
	expect_error(MINIMAL_SERVER "database: {socket: /s, name: aif}\n"
	    "models:\n  - id: broken\n    adapter: nope\n"
	    "roles: [{name: user}]\n",
	    "t.yaml:7:14: models[0].adapter: 'nope' is not one of: openai, tgi, triton\n"
	    "t.yaml:6:5: models[0]: missing required key 'replicas'");
}

static void
without_the_adapters_any_adapter_name_loads(void **state)
{
	static const char yaml[] = MINIMAL_SERVER "database: {socket: /s, name: aif}\n"
	    "models: [{id: m, adapter: grpc, replicas: [{url: 'http://h'}],\n"
	    "  grpc: {anything: goes}}]\n"
	    "roles: [{name: user}]\n";
	struct aif_config *cfg = NULL;

	(void)state;
	/* aif-api and aif-cron load without the adapters: they call no engine */
	assert_int_equal(aif_cfg_load_string("t.yaml", yaml, strlen(yaml), &cfg, errbuf,
	    sizeof(errbuf)), AIF_OK);
	assert_string_equal(cfg->models[0].adapter, "grpc");
	assert_int_equal(cfg->models[0].noptions, 1);
	assert_string_equal(aif_cfg_option(&cfg->models[0], "anything", "x"), "goes");
	assert_string_equal(aif_cfg_option(&cfg->models[0], "other", "dflt"), "dflt");
	aif_cfg_free(cfg);
}

static void
adapter_section_values_are_checked_by_the_adapter(void **state)
{
	(void)state;
	expect_error(MINIMAL_SERVER "database: {socket: /s, name: aif}\n"
	    "models: [{id: m, adapter: triton, replicas: [{url: 'http://h'}],\n"
	    "  triton: {mode: stream, text_input: IN}}]\n"
	    "roles: [{name: user}]\n",
	    "t.yaml:6:18: models[0].triton.mode: 'stream' is not one of: infer, generate");
}

static void
unknown_adapter_setting_is_error(void **state)
{
	(void)state;
	expect_error(MINIMAL_SERVER "database: {socket: /s, name: aif}\n"
	    "models: [{id: m, adapter: triton, replicas: [{url: 'http://h'}],\n"
	    "  triton: {tensor: x}}]\n"
	    "roles: [{name: user}]\n",
	    "t.yaml:6:20: models[0].triton.tensor: unknown setting of adapter triton "
	    "(known: mode, text_input, text_output, max_tokens_input, max_tokens_type, "
	    "stream_input, embedding_output)");
}

static void
section_of_another_adapter_is_error(void **state)
{
	(void)state;
	expect_error(MINIMAL_SERVER "database: {socket: /s, name: aif}\n"
	    "models: [{id: m, adapter: openai, replicas: [{url: 'http://h'}],\n"
	    "  triton: {mode: infer}}]\n"
	    "roles: [{name: user}]\n",
	    "t.yaml:6:3: models[0]: unknown key 'triton'");
}

static void
bad_chat_template_is_error_at_its_value(void **state)
{
	(void)state;
	expect_error(MINIMAL_SERVER "database: {socket: /s, name: aif}\n"
	    "models: [{id: m, adapter: tgi, replicas: [{url: 'http://h'}],\n"
	    "  chat_template: 'no placeholders'}]\n"
	    "roles: [{name: user}]\n",
	    "t.yaml:6:18: models[0].chat_template: expected chatml, llama3 or a template "
	    "with {content} and a final {assistant} (docs/ADAPTERS.md)");
}

static void
unknown_or_repeated_kind_is_error(void **state)
{
	(void)state;
	expect_error(MINIMAL_SERVER "database: {socket: /s, name: aif}\n"
	    "models: [{id: m, adapter: openai, kinds: [chat, image, chat],\n"
	    "  replicas: [{url: 'http://h'}]}]\n"
	    "roles: [{name: user}]\n",
	    "t.yaml:5:49: models[0].kinds[1]: 'image' is not one of: chat, "
	    "completion, embedding, rerank, score, tokenize, detokenize, responses, "
	    "messages\n"
	    "t.yaml:5:56: models[0].kinds[2]: duplicate kind 'chat'");
}

static void
kinds_list_sets_mask(void **state)
{
	struct aif_config *cfg = NULL;

	(void)state;
	assert_int_equal(load(MINIMAL_SERVER "database: {socket: /s, name: aif}\n"
	    "models: [{id: e, adapter: openai, kinds: [embedding],\n"
	    "  replicas: [{url: 'https://h'}]}]\n"
	    "roles: [{name: user, admin: yes}]\n", &cfg), AIF_OK);
	assert_int_equal(cfg->models[0].kinds, AIF_KIND_EMBEDDING);
	assert_true(cfg->roles[0].admin);
	aif_cfg_free(cfg);
	/* every kind at most once: AIF_KIND_COUNT entries */
	assert_int_equal(AIF_KIND_COUNT, 9);
	assert_int_equal(load(MINIMAL_SERVER "database: {socket: /s, name: aif}\n"
	    "models: [{id: e, adapter: openai, kinds: [embedding, chat, completion, rerank,\n"
	    "  score, tokenize, detokenize, responses, messages],\n"
	    "  replicas: [{url: 'https://h'}]}]\n"
	    "roles: [{name: user}]\n", &cfg), AIF_OK);
	assert_int_equal(cfg->models[0].kinds, AIF_KIND_ALL);
	aif_cfg_free(cfg);
	assert_int_equal(load(MINIMAL_SERVER "database: {socket: /s, name: aif}\n"
	    "models: [{id: e, adapter: openai, kinds: [embedding, chat, completion, rerank,\n"
	    "  score, tokenize, detokenize, responses, messages, chat],\n"
	    "  replicas: [{url: 'https://h'}]}]\n"
	    "roles: [{name: user}]\n", &cfg), AIF_CONFIG);
	assert_non_null(strstr(errbuf, "models[0].kinds: more than 9 entries"));
}

static void
replica_url_needs_http_scheme(void **state)
{
	(void)state;
	expect_error(MINIMAL_SERVER "database: {socket: /s, name: aif}\n"
	    "models: [{id: m, adapter: openai, replicas: [{url: 'ftp://h'}]}]\n"
	    "roles: [{name: user}]\n",
	    "t.yaml:5:52: models[0].replicas[0].url: must start with http:// or "
	    "https://");
}

static void
database_needs_exactly_one_of_socket_or_host(void **state)
{
	(void)state;
	expect_error(MINIMAL_SERVER "database: {name: aif}\n"
	    "models: [{id: m, adapter: openai, replicas: [{url: 'http://h'}]}]\n"
	    "roles: [{name: user}]\n",
	    "t.yaml:4:11: database: one of 'socket' or 'host' is required");
	expect_error(MINIMAL_SERVER "database: {name: aif, socket: /s, host: db}\n"
	    "models: [{id: m, adapter: openai, replicas: [{url: 'http://h'}]}]\n"
	    "roles: [{name: user}]\n",
	    "t.yaml:4:11: database: 'socket' and 'host' exclude each other");
}

static void
all_errors_are_collected(void **state)
{
	struct aif_config *cfg = (struct aif_config *)1;

	(void)state;
	assert_int_equal(aif_cfg_load("fixtures/config/errors.yaml", &cfg, errbuf,
	    sizeof(errbuf)), AIF_CONFIG);
	assert_null(cfg);
	assert_string_equal(errbuf,
	    "fixtures/config/errors.yaml:5:12: server.threads: expected a decimal "
	    "integer, got 'many'\n"
	    "fixtures/config/errors.yaml:7:3: database: missing required key 'name'\n"
	    "fixtures/config/errors.yaml:9:21: queue.default_priority: 10 is out of "
	    "range 0..9\n"
	    "fixtures/config/errors.yaml:15:5: models[0]: unknown key 'colour'\n"
	    "fixtures/config/errors.yaml:18:12: roles[0].admin: expected true, "
	    "false, yes or no, got 'maybe'");
}

static void
yaml_syntax_error_reports_position(void **state)
{
	struct aif_config *cfg = (struct aif_config *)1;

	(void)state;
	assert_int_equal(aif_cfg_load("fixtures/config/syntax.yaml", &cfg, errbuf,
	    sizeof(errbuf)), AIF_CONFIG);
	assert_null(cfg);
	assert_string_equal(errbuf, "fixtures/config/syntax.yaml:6:38: YAML syntax "
	    "error: did not find expected ',' or ']' (while parsing a flow "
	    "sequence at line 6, column 21)");
}

static void
invalid_utf8_reports_position(void **state)
{
	(void)state;
	expect_error("server:\n  listen: \xff\n",
	    "t.yaml:2:11: YAML syntax error: invalid leading UTF-8 octet");
}

static void
empty_document_is_error(void **state)
{
	(void)state;
	expect_error("# nothing here\n",
	    "t.yaml:1:1: the configuration is empty");
}

static void
second_document_is_error(void **state)
{
	(void)state;
	expect_error(MINIMAL "---\nserver: {}\n",
	    "t.yaml:15:1: only one YAML document is allowed");
}

static void
unreadable_file_is_io_error(void **state)
{
	struct aif_config *cfg = (struct aif_config *)1;

	(void)state;
	assert_int_equal(aif_cfg_load("fixtures/config/no-such.yaml", &cfg, errbuf,
	    sizeof(errbuf)), AIF_IO);
	assert_null(cfg);
	assert_string_equal(errbuf, "fixtures/config/no-such.yaml: cannot open: "
	    "No such file or directory");
}

static void
small_error_buffer_is_truncated_and_terminated(void **state)
{
	struct aif_config *cfg = NULL;
	char small[16];

	(void)state;
	memset(small, 'z', sizeof(small));
	assert_int_equal(aif_cfg_load_string("t.yaml", "a: 1\n", 5, &cfg, small,
	    sizeof(small)), AIF_CONFIG);
	assert_string_equal(small, "t.yaml:1:1: top");
	assert_int_equal(aif_cfg_load_string("t.yaml", "a: 1\n", 5, &cfg, NULL, 0),
	    AIF_CONFIG);
}

static void
role_globs_match_models_and_endpoints(void **state)
{
	struct aif_config *cfg = NULL;
	const struct aif_role *user, *batch, *none;

	(void)state;
	assert_int_equal(load(MINIMAL "    models: [\"demo-*\", \"org/*\"]\n"
	    "    endpoints: [chat, \"comp*\"]\n"
	    "  - name: batch\n    models: [demo-small]\n"
	    "  - name: none\n    models: []\n    endpoints: []\n", &cfg), AIF_OK);
	user = aif_cfg_role(cfg, "user");
	batch = aif_cfg_role(cfg, "batch");
	none = aif_cfg_role(cfg, "none");
	assert_true(aif_cfg_role_allows_model(user, "demo-chat"));
	assert_true(aif_cfg_role_allows_model(user, "org/llama-3"));
	assert_false(aif_cfg_role_allows_model(user, "m1"));
	assert_false(aif_cfg_role_allows_model(user, "xdemo-chat"));
	assert_true(aif_cfg_role_allows_endpoint(user, "chat"));
	assert_true(aif_cfg_role_allows_endpoint(user, "completions"));
	assert_false(aif_cfg_role_allows_endpoint(user, "jobs"));
	assert_true(aif_cfg_role_allows_model(batch, "demo-small"));
	assert_false(aif_cfg_role_allows_model(batch, "demo-chat"));
	assert_true(aif_cfg_role_allows_endpoint(batch, "anything"));
	assert_false(aif_cfg_role_allows_model(none, "demo-small"));
	assert_false(aif_cfg_role_allows_endpoint(none, "chat"));
	assert_false(aif_cfg_role_allows_model(NULL, "demo-small"));
	assert_false(aif_cfg_role_allows_model(user, NULL));
	aif_cfg_free(cfg);
}

static void
free_accepts_null(void **state)
{
	(void)state;
	aif_cfg_free(NULL);
}


/* ---- retry policy, tenants, durations ---- */

#define WITH_RETRY(r)							\
	MINIMAL_SERVER							\
	"database: {socket: /s, name: aif}\n"				\
	"models:\n"							\
	"  - id: m1\n"							\
	"    adapter: openai\n"						\
	"    replicas: [{url: 'http://127.0.0.1:1'}]\n"			\
	"    retry: " r "\n"						\
	"roles: [{name: user}]\n"

static void
retry_defaults_follow_temporal(void **state)
{
	struct aif_config *cfg = NULL;

	(void)state;
	assert_int_equal(load(MINIMAL, &cfg), AIF_OK);
	assert_int_equal(cfg->models[0].retry.initial_interval_ms, 500);
	assert_int_equal(cfg->models[0].retry.backoff_coefficient_pct, 200);
	assert_int_equal(cfg->models[0].retry.maximum_interval_ms, 10000);
	assert_int_equal(cfg->models[0].retry.maximum_attempts, 3);
	assert_int_equal(cfg->models[0].retry.jitter_pct, 10);
	assert_int_equal(cfg->models[0].retry.non_retryable, 0);
	assert_int_equal(cfg->queue.idempotency_window_s, 86400);
	aif_cfg_free(cfg);
}

static void
retry_fields_are_parsed(void **state)
{
	struct aif_config *cfg = NULL;

	(void)state;
	assert_int_equal(load(WITH_RETRY("{initial_interval: 2s, backoff_coefficient: '1.5',"
	    " maximum_interval: 1m, maximum_attempts: 7, non_retryable: [overloaded, timeout],"
	    " jitter: '0.25'}"), &cfg), AIF_OK);
	assert_int_equal(cfg->models[0].retry.initial_interval_ms, 2000);
	assert_int_equal(cfg->models[0].retry.backoff_coefficient_pct, 150);
	assert_int_equal(cfg->models[0].retry.maximum_interval_ms, 60000);
	assert_int_equal(cfg->models[0].retry.maximum_attempts, 7);
	assert_int_equal(cfg->models[0].max_attempts, 7);
	assert_int_equal(cfg->models[0].retry.non_retryable,
	    AIF_FAILCLASS_OVERLOADED | AIF_FAILCLASS_TIMEOUT);
	assert_int_equal(cfg->models[0].retry.jitter_pct, 25);
	aif_cfg_free(cfg);
}

static void
retry_bad_values_name_their_position(void **state)
{
	struct aif_config *cfg = NULL;

	(void)state;
	assert_int_equal(load(WITH_RETRY("{initial_interval: soon}"), &cfg), AIF_CONFIG);
	assert_non_null(strstr(errbuf, "t.yaml:9:31: models[0].retry.initial_interval"));
	assert_int_equal(load(WITH_RETRY("{backoff_coefficient: '0.5'}"), &cfg), AIF_CONFIG);
	assert_non_null(strstr(errbuf, "models[0].retry.backoff_coefficient: expected a number"));
	assert_int_equal(load(WITH_RETRY("{non_retryable: [fatal]}"), &cfg), AIF_CONFIG);
	assert_non_null(strstr(errbuf, "'fatal' is not one of"));
	assert_non_null(strstr(errbuf, "t.yaml:9:29: models[0].retry.non_retryable[0]: "
	    "'fatal' is not one of: retryable, overloaded, timeout"));
	assert_int_equal(load(WITH_RETRY("{jitter: '2'}"), &cfg), AIF_CONFIG);
	assert_non_null(strstr(errbuf, "retry.jitter"));
}

/* Every duration and factor is read where it is written: autoscale, queue and the
 * compensations' retry take their defaults, their values, and an empty value keeps
 * the default. */
static void
durations_of_every_section_load(void **state)
{
	static const char defaults[] = MINIMAL_SERVER
	    "database: {socket: /s, name: aif}\n"
	    "models:\n"
	    "  - id: m1\n"
	    "    adapter: openai\n"
	    "    replicas: [{url: 'http://127.0.0.1:1'}]\n"
	    "    compensations: [{name: c, url: 'http://x'}]\n"
	    "roles: [{name: user}]\n";
	static const char given[] = MINIMAL_SERVER
	    "database: {socket: /s, name: aif}\n"
	    "models:\n"
	    "  - id: m1\n"
	    "    adapter: openai\n"
	    "    replicas: [{url: 'http://127.0.0.1:1'}]\n"
	    "    compensations:\n"
	    "      - {name: c, url: 'http://x', retry: {initial_interval: '',"
	    " maximum_interval: 2m, backoff_coefficient: 1.25, jitter: '0.5'}}\n"
	    "roles: [{name: user}]\n"
	    "queue: {idempotency_window: 90000ms}\n"
	    "autoscale: {max_queue_age: 5m, scale_up_cooldown: '', scale_down_cooldown: 1h}\n";
	struct aif_config *cfg = NULL;
	const struct aif_retry_policy *rp;

	(void)state;
	assert_int_equal(load(defaults, &cfg), AIF_OK);
	assert_int_equal(cfg->autoscale.enabled, 0);
	assert_int_equal(cfg->autoscale.max_queue_age_ms, 0);
	assert_int_equal(cfg->autoscale.scale_up_cooldown_ms, 30000);
	assert_int_equal(cfg->autoscale.scale_down_cooldown_ms, 300000);
	rp = &cfg->models[0].compensations[0].retry;
	assert_int_equal(rp->initial_interval_ms, 1000);
	assert_int_equal(rp->maximum_interval_ms, 60000);
	assert_int_equal(rp->backoff_coefficient_pct, 200);
	assert_int_equal(rp->jitter_pct, 10);
	assert_int_equal(rp->maximum_attempts, 0);
	assert_string_equal(cfg->models[0].compensations[0].method, "POST");
	aif_cfg_free(cfg);
	assert_int_equal(load(given, &cfg), AIF_OK);
	assert_int_equal(cfg->autoscale.enabled, 1);
	assert_int_equal(cfg->autoscale.max_queue_age_ms, 300000);
	assert_int_equal(cfg->autoscale.scale_up_cooldown_ms, 30000);
	assert_int_equal(cfg->autoscale.scale_down_cooldown_ms, 3600000);
	assert_int_equal(cfg->queue.idempotency_window_s, 90);
	rp = &cfg->models[0].compensations[0].retry;
	assert_int_equal(rp->initial_interval_ms, 1000);
	assert_int_equal(rp->maximum_interval_ms, 120000);
	assert_int_equal(rp->backoff_coefficient_pct, 125);
	assert_int_equal(rp->jitter_pct, 50);
	aif_cfg_free(cfg);
}

/* A bad duration or factor is reported at its value, with the range it must be in and
 * the text as written (never an expansion). */
static void
bad_durations_name_their_place_and_range(void **state)
{
	static const char yaml[] = MINIMAL_SERVER
	    "database: {socket: /s, name: aif}\n"
	    "models:\n"
	    "  - id: m1\n"
	    "    adapter: openai\n"
	    "    replicas: [{url: 'http://127.0.0.1:1'}]\n"
	    "    compensations:\n"
	    "      - {name: c, url: 'ftp://x', retry: {initial_interval: 5x,"
	    " backoff_coefficient: 11, jitter: abc}}\n"
	    "roles: [{name: user}]\n"
	    "queue: {idempotency_window: 30s}\n"
	    "autoscale: {max_queue_age: 2d, scale_up_cooldown: '${AIF_TEST_UNSET:-never}'}\n";
	static const char *const want[] = {
	    "t.yaml:10:61: models[0].compensations[0].retry.initial_interval: expected a "
	    "duration such as 500ms, 2s, 5m, 1h or 1d (at most 1h), got '5x'",
	    "t.yaml:10:86: models[0].compensations[0].retry.backoff_coefficient: expected "
	    "a number from 1.0 to 10.0 (at most 2 decimals), got '11'",
	    "t.yaml:10:98: models[0].compensations[0].retry.jitter: expected a number "
	    "from 0 to 1.0 (at most 2 decimals), got 'abc'",
	    "t.yaml:10:24: models[0].compensations[0].url: expected http:// or https://",
	    "t.yaml:12:29: queue.idempotency_window: expected a duration from 1m to 30d, "
	    "such as 500ms, 2s, 5m, 1h or 1d, got '30s'",
	    "t.yaml:13:28: autoscale.max_queue_age: expected a duration such as 500ms, "
	    "2s, 5m, 1h or 1d (at most 1d), got '2d'",
	    "t.yaml:13:51: autoscale.scale_up_cooldown: expected a duration such as "
	    "500ms, 2s, 5m, 1h or 1d (at most 1d), got '${AIF_TEST_UNSET:-never}'",
	};
	struct aif_config *cfg = NULL;

	(void)state;
	assert_int_equal(load(yaml, &cfg), AIF_CONFIG);
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		if (strstr(errbuf, want[i]) == NULL)
			fail_msg("missing: %s\nin:\n%s", want[i], errbuf);
	assert_null(cfg);
}

static void
durations_parse_with_units_and_bounds(void **state)
{
	int64_t v = 0;

	(void)state;
	assert_int_equal(aif_cfg_duration_ms("250ms", 1000000, &v), 0);
	assert_int_equal(v, 250);
	assert_int_equal(aif_cfg_duration_ms("3s", 1000000, &v), 0);
	assert_int_equal(v, 3000);
	assert_int_equal(aif_cfg_duration_ms("2m", 1000000, &v), 0);
	assert_int_equal(v, 120000);
	assert_int_equal(aif_cfg_duration_ms("24h", 100000000, &v), 0);
	assert_int_equal(v, 86400000);
	assert_int_equal(aif_cfg_duration_ms("40", 1000, &v), 0);
	assert_int_equal(v, 40);
	assert_int_equal(aif_cfg_duration_ms("2h", 1000, &v), -1);
	assert_int_equal(aif_cfg_duration_ms("-1s", 1000, &v), -1);
	assert_int_equal(aif_cfg_duration_ms("1 s", 100000, &v), -1);
	assert_int_equal(aif_cfg_duration_ms("1w", 1000000000, &v), -1);
	assert_int_equal(aif_cfg_duration_ms("", 1000, &v), -1);
}

static void
tenants_and_role_limits_load(void **state)
{
	static const char yaml[] = MINIMAL_SERVER
	    "database: {socket: /s, name: aif}\n"
	    "models: [{id: m1, adapter: openai, replicas: [{url: 'http://h'}]}]\n"
	    "roles: [{name: user, rpm: 60, tpm: 10000, monthly_budget_micros: 5000000},"
	    " {name: free}]\n"
	    "tenants: [{name: team-a, rpm: 600}, {name: team-b, monthly_budget_micros: 0}]\n"
	    "queue: {idempotency_window: 2h}\n";
	struct aif_config *cfg = NULL;

	(void)state;
	assert_int_equal(load(yaml, &cfg), AIF_OK);
	assert_int_equal(cfg->roles[0].rpm, 60);
	assert_int_equal(cfg->roles[0].tpm, 10000);
	assert_int_equal(cfg->roles[0].monthly_budget_micros, 5000000);
	assert_int_equal(cfg->roles[1].rpm, -1);
	assert_int_equal(cfg->roles[1].monthly_budget_micros, -1);
	assert_int_equal(cfg->ntenants, 2);
	assert_int_equal(aif_cfg_tenant(cfg, "team-a")->rpm, 600);
	assert_int_equal(aif_cfg_tenant(cfg, "team-a")->tpm, -1);
	assert_int_equal(aif_cfg_tenant(cfg, "team-b")->monthly_budget_micros, 0);
	assert_null(aif_cfg_tenant(cfg, "nobody"));
	assert_int_equal(cfg->queue.idempotency_window_s, 7200);
	aif_cfg_free(cfg);
}

static void
fallbacks_must_name_other_models(void **state)
{
	static const char yaml[] = MINIMAL_SERVER
	    "database: {socket: /s, name: aif}\n"
	    "models:\n"
	    "  - {id: a, adapter: openai, replicas: [{url: 'http://h'}], fallbacks: [b, a]}\n"
	    "  - {id: b, adapter: openai, replicas: [{url: 'http://h'}]}\n"
	    "roles: [{name: user}]\n";
	struct aif_config *cfg = NULL;

	(void)state;
	assert_int_equal(load(yaml, &cfg), AIF_CONFIG);
	assert_non_null(strstr(errbuf, "models[0].fallbacks[1]: 'a' is not another configured model"));
}

/* A model's aliases resolve to it; they are unique among ids and aliases. */
static void
aliases_resolve_and_are_unique(void **state)
{
	static const char ok[] = MINIMAL_SERVER
	    "database: {socket: /s, name: aif}\n"
	    "models:\n"
	    "  - {id: a, adapter: openai, replicas: [{url: 'http://h'}], aliases: [gpt-x, a:v1]}\n"
	    "  - {id: b, adapter: openai, replicas: [{url: 'http://h'}]}\n"
	    "roles: [{name: user}]\n";
	static const char bad[] = MINIMAL_SERVER
	    "database: {socket: /s, name: aif}\n"
	    "models:\n"
	    "  - {id: a, adapter: openai, replicas: [{url: 'http://h'}], aliases: [x, b]}\n"
	    "  - {id: b, adapter: openai, replicas: [{url: 'http://h'}], aliases: [x, 'y z']}\n"
	    "roles: [{name: user}]\n";
	struct aif_config *cfg = NULL;

	(void)state;
	assert_int_equal(load(ok, &cfg), AIF_OK);
	assert_ptr_equal(aif_cfg_model(cfg, "gpt-x"), &cfg->models[0]);
	assert_ptr_equal(aif_cfg_model(cfg, "a:v1"), &cfg->models[0]);
	assert_ptr_equal(aif_cfg_model(cfg, "b"), &cfg->models[1]);
	assert_null(aif_cfg_model(cfg, "gpt"));
	assert_int_equal(aif_cfg_model_index(cfg, "gpt-x"), 0);
	assert_true(aif_cfg_model_has_name(&cfg->models[0], "a"));
	assert_false(aif_cfg_model_has_name(&cfg->models[1], "gpt-x"));
	aif_cfg_free(cfg);
	cfg = NULL;
	assert_int_equal(load(bad, &cfg), AIF_CONFIG);
	assert_non_null(strstr(errbuf, "models[0].aliases[0]: 'x' is already the id or an "
	    "alias of a model"));
	assert_non_null(strstr(errbuf, "models[0].aliases[1]: 'b' is already the id or an "
	    "alias of a model"));
	assert_non_null(strstr(errbuf, "models[1].aliases[1]: 'y z' is not a model name"));
}

/* ---- issue 11: secrets, nesting, names, engine credentials, reload ------------------- */

#define SECRET	"hunter2-s3cr3t"

/* No message of the last load holds SECRET or a piece of it. */
static void
assert_no_secret(void)
{
	assert_null(strstr(errbuf, "hunter2"));
	assert_null(strstr(errbuf, "s3cr3t"));
}

/* A value from ${NAME} that fails its check is shown as written, never expanded. */
static void
expanded_values_are_never_shown_in_errors(void **state)
{
	(void)state;
	setenv("AIF_T_SECRET", SECRET, 1);
	setenv("AIF_T_PIN", "98765432109876", 1);
	expect_error(MINIMAL_SERVER "  threads: ${AIF_T_SECRET}\n" MINIMAL_REST,
	    "t.yaml:4:12: server.threads: expected a decimal integer, got "
	    "'${AIF_T_SECRET}'");
	expect_error(MINIMAL_SERVER "  threads: ${AIF_T_PIN}\n" MINIMAL_REST,
	    "t.yaml:4:12: server.threads: ${AIF_T_PIN} is out of range 1..256");
	expect_error(MINIMAL_SERVER "  stream_disconnect: x-${AIF_T_SECRET}\n" MINIMAL_REST,
	    "t.yaml:4:22: server.stream_disconnect: 'x-${AIF_T_SECRET}' is not one of: "
	    "finish, cancel");
	expect_error(MINIMAL_SERVER "  max_json_depth: ${AIF_T_SECRET:-2}\n" MINIMAL_REST,
	    "t.yaml:4:19: server.max_json_depth: expected a decimal integer, got "
	    "'${AIF_T_SECRET:-2}'");
	expect_error(MINIMAL "    admin: ${AIF_T_SECRET}\n",
	    "t.yaml:14:12: roles[0].admin: expected true, false, yes or no, got "
	    "'${AIF_T_SECRET}'");
	unsetenv("AIF_T_SECRET");
	unsetenv("AIF_T_PIN");
}

/* Messages that quote a value after the walk (duplicates, the adapters' checks, retry
 * classes) are caught by the net at the error's scalar. */
static void
values_quoted_after_the_walk_are_scrubbed(void **state)
{
	struct aif_config *cfg = NULL;

	(void)state;
	setenv("AIF_T_SECRET", SECRET, 1);
	setenv("AIF_T_LONG", SECRET "-0123456789-0123456789-0123456789-0123456789-tail", 1);
	assert_int_equal(load(MINIMAL "  - name: ${AIF_T_SECRET}\n"
	    "  - name: ${AIF_T_SECRET}\n", &cfg), AIF_CONFIG);
	assert_string_equal(errbuf, "t.yaml:15:11: roles[2].name: duplicate role name "
	    "'${AIF_T_SECRET}' (first at line 14)");
	/* an adapter's message, its value cut at 48 bytes ('%.48s') */
	assert_int_equal(load(MINIMAL_SERVER "database:\n  socket: /s\n  name: aif\n"
	    "models:\n  - id: t\n    adapter: triton\n    triton:\n"
	    "      mode: ${AIF_T_LONG}\n    replicas:\n      - url: http://h:1\n"
	    "roles:\n  - name: user\n", &cfg), AIF_CONFIG);
	assert_non_null(strstr(errbuf, "'${AIF_T_LONG}' is not one of"));
	assert_no_secret();
	assert_null(strstr(errbuf, "0123456789"));
	assert_int_equal(load(MINIMAL_SERVER "database:\n  socket: /s\n  name: aif\n"
	    "models:\n  - id: t\n    adapter: openai\n"
	    "    retry: {non_retryable: [timeout, \"${AIF_T_SECRET}\"]}\n"
	    "    replicas:\n      - url: http://h:1\nroles:\n  - name: user\n", &cfg),
	    AIF_CONFIG);
	assert_non_null(strstr(errbuf, "t.yaml:10:38: models[0].retry.non_retryable[1]: "
	    "'${AIF_T_SECRET}' is not one of"));
	assert_no_secret();
	unsetenv("AIF_T_SECRET");
	unsetenv("AIF_T_LONG");
}

/* depth copies of open, then body, then depth copies of close (new). */
static char *
nested(const char *open, const char *body, const char *close, size_t depth)
{
	size_t	 lo = strlen(open), lb = strlen(body), lc = strlen(close);
	char	*s = malloc(depth * (lo + lc) + lb + 1), *p = s;

	assert_non_null(s);
	for (size_t i = 0; i < depth; i++, p += lo)
		memcpy(p, open, lo);
	memcpy(p, body, lb);
	p += lb;
	for (size_t i = 0; i < depth; i++, p += lc)
		memcpy(p, close, lc);
	*p = '\0';
	return s;
}

/* 100k levels of nesting are refused before the document is built, with a position. */
static void
deep_nesting_is_refused_before_parsing(void **state)
{
	static const struct { const char *open, *body, *close, *want; } cases[] = {
		{ "[", "1", "]", "t.yaml:1:65: nesting deeper than 64 levels of mappings "
		    "and sequences" },
		{ "{a: ", "1", "}", "t.yaml:1:257: nesting deeper than 64 levels of "
		    "mappings and sequences" },
		{ "- ", "x\n", "", "t.yaml:1:129: nesting deeper than 64 levels of "
		    "mappings and sequences" },
	};
	struct aif_config *cfg = (struct aif_config *)1;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *yaml = nested(cases[i].open, cases[i].body, cases[i].close, 100000);
		assert_int_equal(aif_cfg_load_string("t.yaml", yaml, strlen(yaml), &cfg,
		    errbuf, sizeof(errbuf)), AIF_CONFIG);
		assert_null(cfg);
		assert_string_equal(errbuf, cases[i].want);
		free(yaml);
	}
}

/* 64 levels are allowed (the schema then has its say); 65 are not. */
static void
nesting_bound_is_exactly_64(void **state)
{
	struct aif_config *cfg = NULL;
	char *inner, *yaml;

	(void)state;
	inner = nested("[", "1", "]", 63);	/* under the root mapping: 64 levels */
	assert_non_null(yaml = malloc(strlen(inner) + 64));
	snprintf(yaml, strlen(inner) + 64, "server: %s\n", inner);
	assert_int_equal(load(yaml, &cfg), AIF_CONFIG);
	assert_null(strstr(errbuf, "nesting"));
	assert_non_null(strstr(errbuf, "server: expected a mapping, got a sequence"));
	free(inner);
	free(yaml);
	inner = nested("[", "1", "]", 64);
	assert_non_null(yaml = malloc(strlen(inner) + 64));
	snprintf(yaml, strlen(inner) + 64, "server: %s\n", inner);
	assert_int_equal(load(yaml, &cfg), AIF_CONFIG);
	assert_string_equal(errbuf, "t.yaml:1:72: nesting deeper than 64 levels of mappings "
	    "and sequences");
	free(inner);
	free(yaml);
}

#define AUTH_MODEL(extra)						\
	MINIMAL_SERVER "database:\n  socket: /s\n  name: aif\n"		\
	"models:\n"				/* 7 */			\
	"  - id: m1\n"				/* 8 */			\
	"    adapter: openai\n"			/* 9 */			\
	"    replicas:\n"			/* 10 */		\
	"      - url: http://127.0.0.1:9101\n"	/* 11 */		\
	extra					/* 12.. */		\
	"roles:\n  - name: user\n"

static void
replica_credentials_load_as_written(void **state)
{
	struct aif_config *cfg = NULL;
	const struct aif_replica *r;

	(void)state;
	assert_int_equal(load(AUTH_MODEL("        api_key_file: /run/secrets/k\n"
	    "        api_key_header: X-API-Key\n"), &cfg), AIF_OK);
	r = &cfg->models[0].replicas[0];
	assert_string_equal(r->api_key_file, "/run/secrets/k");
	assert_string_equal(r->api_key_header, "X-API-Key");
	assert_int_equal(r->api_key_line, 12);
	assert_int_equal(r->api_key_column, 23);
	assert_null(r->api_key);		/* read by aif_cfg_load_secrets only */
	aif_cfg_free(cfg);
	assert_int_equal(load(AUTH_MODEL(""), &cfg), AIF_OK);
	assert_null(cfg->models[0].replicas[0].api_key_file);
	assert_null(cfg->models[0].replicas[0].api_key_header);
	aif_cfg_free(cfg);
}

static void
bad_credential_header_is_error(void **state)
{
	(void)state;
	expect_error(AUTH_MODEL("        api_key_file: /k\n        api_key_header: X API\n"),
	    "t.yaml:13:25: models[0].replicas[0].api_key_header: expected an HTTP header "
	    "name (letters, digits and !#$%&'*+-.^_`|~, at most 64), such as X-API-Key");
	expect_error(AUTH_MODEL("        api_key_file: /k\n"
	    "        api_key_header: \"X-Key:\\r\\nEvil\"\n"),
	    "t.yaml:13:25: models[0].replicas[0].api_key_header: expected an HTTP header "
	    "name (letters, digits and !#$%&'*+-.^_`|~, at most 64), such as X-API-Key");
	expect_error(AUTH_MODEL("        api_key_header: X-API-Key\n"),
	    "t.yaml:12:25: models[0].replicas[0].api_key_header: needs api_key_file (the "
	    "key it carries)");
}

static void
tenant_and_role_names_are_validated(void **state)
{
	(void)state;
	expect_error(MINIMAL "tenants:\n  - name: \"team\\e[31m\"\n",
	    "t.yaml:15:11: tenants[0].name: the name contains a control character");
	expect_error(MINIMAL "  - name: \"adm\\u202ein\"\n",
	    "t.yaml:14:11: roles[1].name: the name contains an invisible or "
	    "direction-changing character");
	expect_error(MINIMAL "tenants:\n  - name: \" padded\"\n",
	    "t.yaml:15:11: tenants[0].name: the name starts or ends with a space");
}

/* A new secret file holding data, with mode; its path in path[32]. */
static void
secret_file(char path[32], const char *data, mode_t mode)
{
	int	 fd;

	snprintf(path, 32, "/tmp/aif-cfgkey-XXXXXX");
	assert_true((fd = mkstemp(path)) >= 0);
	assert_int_equal(write(fd, data, strlen(data)), (ssize_t)strlen(data));
	close(fd);
	assert_int_equal(chmod(path, mode), 0);
}

/* Loads AUTH_MODEL with api_key_file: path, then its secrets. */
static enum aif_err
load_with_key(const char *path, const char *more, unsigned flags, struct aif_config **cfg)
{
	char	 yaml[2048];

	snprintf(yaml, sizeof(yaml), AUTH_MODEL("        api_key_file: %s\n") "%s", path,
	    more);
	assert_int_equal(load(yaml, cfg), AIF_OK);
	return aif_cfg_load_secrets(*cfg, flags, errbuf, sizeof(errbuf));
}

static void
engine_key_is_read_as_one_line(void **state)
{
	struct aif_config *cfg = NULL;
	const struct aif_replica *r;
	char path[32];

	(void)state;
	secret_file(path, SECRET "\n", 0600);
	assert_int_equal(load_with_key(path, "", 0, &cfg), AIF_OK);
	assert_string_equal(errbuf, "");
	r = &cfg->models[0].replicas[0];
	assert_int_equal(r->api_key_len, strlen(SECRET));
	assert_memory_equal(r->api_key, SECRET, strlen(SECRET));
	/* a second read (a reload) replaces it */
	assert_int_equal(aif_cfg_load_secrets(cfg, 0, errbuf, sizeof(errbuf)), AIF_OK);
	assert_int_equal(cfg->models[0].replicas[0].api_key_len, strlen(SECRET));
	aif_cfg_free(cfg);
	unlink(path);
}

static void
engine_key_open_to_others_is_refused_clearly(void **state)
{
	struct aif_config *cfg = NULL;
	char path[32], want[256];

	(void)state;
	secret_file(path, SECRET, 0644);
	assert_int_equal(load_with_key(path, "", 0, &cfg), AIF_CONFIG);
	snprintf(want, sizeof(want), "t.yaml:12:23: models[0].replicas[0].api_key_file: %s "
	    "is readable or writable by group or others (mode 0644): chmod 600 it", path);
	assert_string_equal(errbuf, want);
	assert_null(cfg->models[0].replicas[0].api_key);
	aif_cfg_free(cfg);
	unlink(path);
	assert_int_equal(load_with_key("/nonexistent/key", "", 0, &cfg), AIF_CONFIG);
	assert_string_equal(errbuf, "t.yaml:12:23: models[0].replicas[0].api_key_file: "
	    "/nonexistent/key cannot be read (missing, unreadable, or not a regular file)");
	aif_cfg_free(cfg);
}

static void
engine_key_must_be_one_printable_line(void **state)
{
	static const char *bad[] = { SECRET "\nX-Injected: 1\n", "\n", SECRET "\x01",
	    " " SECRET, SECRET "\xc3\xa9" };
	struct aif_config *cfg = NULL;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char path[32];
		secret_file(path, bad[i], 0600);
		assert_int_equal(load_with_key(path, "", 0, &cfg), AIF_CONFIG);
		assert_non_null(strstr(errbuf, "must hold one line of printable ASCII"));
		assert_no_secret();
		assert_null(cfg->models[0].replicas[0].api_key);
		aif_cfg_free(cfg);
		unlink(path);
	}
}

/* `aifctl config check`: every secret file, each problem on its line. */
static void
all_secret_files_are_checked_on_request(void **state)
{
	struct aif_config *cfg = NULL;
	char key[32], pepper[32], more[128], want[512];

	(void)state;
	secret_file(key, SECRET, 0600);
	secret_file(pepper, SECRET, 0640);
	snprintf(more, sizeof(more), "auth:\n  pepper_file: %s\n", pepper);
	/* the worker reads the keys only */
	assert_int_equal(load_with_key(key, more, 0, &cfg), AIF_OK);
	aif_cfg_free(cfg);
	assert_int_equal(load_with_key(key, more, AIF_CFG_SECRETS_ALL, &cfg), AIF_CONFIG);
	snprintf(want, sizeof(want), "t.yaml: auth.pepper_file: %s is readable or writable "
	    "by group or others (mode 0640): chmod 600 it", pepper);
	assert_string_equal(errbuf, want);
	aif_cfg_free(cfg);
	assert_int_equal(chmod(pepper, 0600), 0);
	assert_int_equal(load_with_key(key, more, AIF_CFG_SECRETS_ALL, &cfg), AIF_OK);
	aif_cfg_free(cfg);
	unlink(key);
	unlink(pepper);
}

/* A pepper that cannot be read is named once, as auth.pepper_file, also when the hash
 * action uses it as its key (`aifctl config check`: the e2e test 11.18 matches it). */
static void
an_open_pepper_used_as_the_hash_key_is_named_once(void **state)
{
	struct aif_config *cfg = NULL;
	char key[32], pepper[32], more[256], want[512];

	(void)state;
	secret_file(key, SECRET, 0600);
	secret_file(pepper, "0123456789abcdef0123", 0640);
	snprintf(more, sizeof(more), "auth:\n  pepper_file: %s\npii:\n  detectors:\n"
	    "    - {entity: EMAIL, action: hash}\n", pepper);
	assert_int_equal(load_with_key(key, more, AIF_CFG_SECRETS_ALL, &cfg), AIF_CONFIG);
	snprintf(want, sizeof(want), "t.yaml: auth.pepper_file: %s is readable or writable "
	    "by group or others (mode 0640): chmod 600 it", pepper);
	assert_string_equal(errbuf, want);
	aif_cfg_free(cfg);
	assert_int_equal(chmod(pepper, 0600), 0);
	assert_int_equal(load_with_key(key, more, AIF_CFG_SECRETS_ALL, &cfg), AIF_OK);
	aif_cfg_free(cfg);
	unlink(key);
	unlink(pepper);
}

/* The hash action's key needs AIF_PII_HASH_KEY_MIN bytes, from pii.hash_key_file or
 * from the pepper: `aifctl config check` refuses it as the servers' engine does, with
 * the same words, at the key's place; a short pepper used as the key is named once. */
static void
short_hash_keys_are_refused_as_the_servers_refuse_them(void **state)
{
	static const char *const keys[] = { "0123456789abcde", "0123456789abcdef" };
	struct aif_config *cfg = NULL;
	struct aif_pii	*pii = NULL;
	char		 key[32], pepper[32], file[32], more[256], want[512], engine[512];

	(void)state;
	secret_file(key, SECRET, 0600);
	secret_file(pepper, SECRET, 0600);	/* 14 bytes: a pepper, not a hash key */
	snprintf(more, sizeof(more), "auth:\n  pepper_file: %s\npii:\n  detectors:\n"
	    "    - {entity: EMAIL, action: hash}\n", pepper);
	assert_int_equal(load_with_key(key, more, 0, &cfg), AIF_OK);	/* the worker */
	aif_cfg_free(cfg);
	assert_int_equal(load_with_key(key, more, AIF_CFG_SECRETS_ALL, &cfg), AIF_CONFIG);
	snprintf(want, sizeof(want), "t.yaml:19:31: auth.pepper_file (pii hash key): %s is "
	    "shorter than 16 bytes: a hash key needs 16 to 1024", pepper);
	assert_string_equal(errbuf, want);
	assert_int_equal(aif_pii_new(cfg, 0, &pii, engine, sizeof(engine)), AIF_IO);
	assert_null(pii);
	assert_string_equal(engine, want);
	aif_cfg_free(cfg);
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		secret_file(file, keys[i], 0600);
		snprintf(more, sizeof(more), "auth:\n  pepper_file: %s\npii:\n"
		    "  hash_key_file: %s\n  detectors:\n"
		    "    - {entity: EMAIL, action: hash}\n", pepper, file);
		if (i == 0) {
			assert_int_equal(load_with_key(key, more, AIF_CFG_SECRETS_ALL, &cfg),
			    AIF_CONFIG);
			snprintf(want, sizeof(want), "t.yaml:18:18: pii.hash_key_file: %s is "
			    "shorter than 16 bytes: a hash key needs 16 to 1024", file);
			assert_string_equal(errbuf, want);
			assert_int_equal(aif_pii_new(cfg, 0, &pii, engine, sizeof(engine)),
			    AIF_IO);
			assert_string_equal(engine, want);
		} else {
			assert_int_equal(load_with_key(key, more, AIF_CFG_SECRETS_ALL, &cfg),
			    AIF_OK);
			assert_int_equal(aif_pii_new(cfg, 0, &pii, engine, sizeof(engine)),
			    AIF_OK);
			aif_pii_free(pii);
			pii = NULL;
		}
		assert_no_secret();
		aif_cfg_free(cfg);
		unlink(file);
	}
	unlink(key);
	unlink(pepper);
}

/* What aif-api cannot apply on a reload is named, the rest is not. */
static void
api_boot_only_keys_are_reported(void **state)
{
	struct aif_config *a = NULL, *b = NULL;
	const char *names[4];

	(void)state;
	assert_int_equal(load(MINIMAL, &a), AIF_OK);
	assert_int_equal(load(MINIMAL, &b), AIF_OK);
	assert_int_equal(aif_cfg_api_boot_changes(a, b, names, 4), 0);
	aif_cfg_free(b);
	assert_int_equal(load("server:\n  listen: /run/aif/other.sock\n  run_dir: /run/aif\n"
	    "  threads: 9\n  stream_disconnect: cancel\n  sync_timeout_ms: 5000\n"
	    "database:\n  socket: /run/mysqld/mysqld.sock\n  name: aif2\n"
	    "auth:\n  pepper_file: /p\n"
	    "models:\n  - id: m1\n    adapter: openai\n    replicas:\n"
	    "      - url: http://127.0.0.1:9101\nroles:\n  - name: user\n", &b), AIF_OK);
	assert_int_equal(aif_cfg_api_boot_changes(a, b, names, 4), 5);
	assert_string_equal(names[0], "server.listen");
	assert_string_equal(names[1], "server.threads");
	assert_string_equal(names[2], "server.stream_disconnect");
	assert_string_equal(names[3], "database.name");	/* sync_timeout_ms reloads */
	aif_cfg_free(a);
	aif_cfg_free(b);
}

/* tracing: off without an endpoint (or with an empty one, an unset ${VAR:-}); an
 * endpoint must be http(s); the exporter's bounds are checked and defaulted. */
static void
tracing_section(void **state)
{
	struct aif_config *cfg = NULL;

	(void)state;
	assert_int_equal(load(MINIMAL, &cfg), AIF_OK);
	assert_null(cfg->tracing.otlp_endpoint);
	assert_string_equal(cfg->tracing.service_name, "aif-gateway");
	aif_cfg_free(cfg);
	assert_int_equal(load(MINIMAL "tracing:\n  otlp_endpoint: \"\"\n", &cfg), AIF_OK);
	assert_null(cfg->tracing.otlp_endpoint);
	aif_cfg_free(cfg);
	assert_int_equal(load(MINIMAL "tracing:\n  otlp_endpoint: http://c:4318/v1/traces\n"
	    "  service_name: gw\n  timeout: 500ms\n  batch_size: 10\n", &cfg), AIF_OK);
	assert_string_equal(cfg->tracing.otlp_endpoint, "http://c:4318/v1/traces");
	assert_string_equal(cfg->tracing.service_name, "gw");
	assert_int_equal(cfg->tracing.timeout_ms, 500);
	assert_int_equal(cfg->tracing.flush_interval_ms, 1000);
	assert_int_equal(cfg->tracing.batch_size, 10);
	assert_int_equal(cfg->tracing.queue_size, 2048);
	aif_cfg_free(cfg);
	expect_error(MINIMAL "tracing:\n  otlp_endpoint: ftp://c/v1/traces\n",
	    "t.yaml:15:18: tracing.otlp_endpoint: expected http:// or https://");
	assert_int_equal(load(MINIMAL "tracing:\n  queue_size: 3\n", &cfg), AIF_CONFIG);
}

/* cluster: off by default; an address must be an IP literal other hosts can reach
 * (not a name, not any, not multicast) and needs the secret file. */
static void
cluster_section(void **state)
{
	struct aif_config *cfg = NULL;

	(void)state;
	assert_int_equal(load(MINIMAL, &cfg), AIF_OK);
	assert_null(cfg->cluster.address);
	aif_cfg_free(cfg);
	assert_int_equal(load(MINIMAL "cluster:\n  address: 10.0.0.12\n"
	    "  secret_file: /etc/aif/cluster.key\n", &cfg), AIF_OK);
	assert_string_equal(cfg->cluster.address, "10.0.0.12");
	aif_cfg_free(cfg);
	assert_int_equal(load(MINIMAL "cluster:\n  address: 'fd00::12'\n"
	    "  secret_file: /k\n", &cfg), AIF_OK);
	aif_cfg_free(cfg);
	expect_error(MINIMAL "cluster:\n  address: host.example\n  secret_file: /k\n",
	    "t.yaml:15:3: cluster.address: \"host.example\" is not an IPv4 or IPv6 address "
	    "of this host (names are not resolved)");
	expect_error(MINIMAL "cluster:\n  address: 0.0.0.0\n  secret_file: /k\n",
	    "t.yaml:15:3: cluster.address: \"0.0.0.0\" is no address other hosts can reach "
	    "this one at (any, broadcast or multicast)");
	expect_error(MINIMAL "cluster:\n  address: 224.0.0.1\n  secret_file: /k\n",
	    "t.yaml:15:3: cluster.address: \"224.0.0.1\" is no address other hosts can "
	    "reach this one at (any, broadcast or multicast)");
	expect_error(MINIMAL "cluster:\n  address: '::ffff:0.0.0.0'\n  secret_file: /k\n",
	    "t.yaml:15:3: cluster.address: \"::ffff:0.0.0.0\" is no address other hosts "
	    "can reach this one at (any, broadcast or multicast)");
	expect_error(MINIMAL "cluster:\n  address: 255.255.255.255\n  secret_file: /k\n",
	    "t.yaml:15:3: cluster.address: \"255.255.255.255\" is no address other hosts "
	    "can reach this one at (any, broadcast or multicast)");
	expect_error(MINIMAL "cluster:\n  address: 10.0.0.12\n",
	    "t.yaml:15:3: cluster.secret_file: required with cluster.address (the key that "
	    "seals doorbells between hosts)");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(repo_config_loads_with_env_unset),
		cmocka_unit_test(omitted_keys_take_their_defaults),
		cmocka_unit_test(model_and_role_defaults_follow_the_queue_section),
		cmocka_unit_test(env_variable_is_expanded),
		cmocka_unit_test(env_default_applies_when_variable_unset_or_empty),
		cmocka_unit_test(env_value_wins_over_default),
		cmocka_unit_test(empty_env_default_leaves_optional_string_unset),
		cmocka_unit_test(dollar_without_brace_is_literal),
		cmocka_unit_test(unset_env_variable_is_error_at_its_value),
		cmocka_unit_test(malformed_env_reference_is_error),
		cmocka_unit_test(expansion_longer_than_cap_is_error),
		cmocka_unit_test(unknown_key_names_its_line_and_column),
		cmocka_unit_test(unknown_top_level_section_is_error),
		cmocka_unit_test(string_where_integer_expected_is_error),
		cmocka_unit_test(non_decimal_integers_are_rejected),
		cmocka_unit_test(mapping_where_scalar_expected_is_error),
		cmocka_unit_test(scalar_where_mapping_expected_is_error),
		cmocka_unit_test(bad_boolean_is_error),
		cmocka_unit_test(value_out_of_range_is_error),
		cmocka_unit_test(integer_overflow_is_out_of_range),
		cmocka_unit_test(missing_required_key_points_at_enclosing_mapping),
		cmocka_unit_test(missing_required_section_points_at_document),
		cmocka_unit_test(empty_required_string_is_error),
		cmocka_unit_test(duplicate_key_is_error),
		cmocka_unit_test(duplicate_model_id_is_error),
		cmocka_unit_test(duplicate_role_name_is_error),
		cmocka_unit_test(empty_models_list_is_error),
		cmocka_unit_test(empty_roles_list_is_error),
		cmocka_unit_test(unknown_adapter_is_error),
		cmocka_unit_test(unknown_adapter_is_reported_where_it_is_written),
		cmocka_unit_test(without_the_adapters_any_adapter_name_loads),
		cmocka_unit_test(adapter_section_values_are_checked_by_the_adapter),
		cmocka_unit_test(unknown_adapter_setting_is_error),
		cmocka_unit_test(section_of_another_adapter_is_error),
		cmocka_unit_test(bad_chat_template_is_error_at_its_value),
		cmocka_unit_test(retry_defaults_follow_temporal),
		cmocka_unit_test(retry_fields_are_parsed),
		cmocka_unit_test(retry_bad_values_name_their_position),
		cmocka_unit_test(durations_of_every_section_load),
		cmocka_unit_test(bad_durations_name_their_place_and_range),
		cmocka_unit_test(durations_parse_with_units_and_bounds),
		cmocka_unit_test(tenants_and_role_limits_load),
		cmocka_unit_test(fallbacks_must_name_other_models),
		cmocka_unit_test(aliases_resolve_and_are_unique),
		cmocka_unit_test(unknown_or_repeated_kind_is_error),
		cmocka_unit_test(kinds_list_sets_mask),
		cmocka_unit_test(replica_url_needs_http_scheme),
		cmocka_unit_test(database_needs_exactly_one_of_socket_or_host),
		cmocka_unit_test(all_errors_are_collected),
		cmocka_unit_test(yaml_syntax_error_reports_position),
		cmocka_unit_test(invalid_utf8_reports_position),
		cmocka_unit_test(empty_document_is_error),
		cmocka_unit_test(second_document_is_error),
		cmocka_unit_test(unreadable_file_is_io_error),
		cmocka_unit_test(small_error_buffer_is_truncated_and_terminated),
		cmocka_unit_test(role_globs_match_models_and_endpoints),
		cmocka_unit_test(free_accepts_null),
		cmocka_unit_test(expanded_values_are_never_shown_in_errors),
		cmocka_unit_test(values_quoted_after_the_walk_are_scrubbed),
		cmocka_unit_test(deep_nesting_is_refused_before_parsing),
		cmocka_unit_test(nesting_bound_is_exactly_64),
		cmocka_unit_test(replica_credentials_load_as_written),
		cmocka_unit_test(bad_credential_header_is_error),
		cmocka_unit_test(tenant_and_role_names_are_validated),
		cmocka_unit_test(engine_key_is_read_as_one_line),
		cmocka_unit_test(engine_key_open_to_others_is_refused_clearly),
		cmocka_unit_test(engine_key_must_be_one_printable_line),
		cmocka_unit_test(all_secret_files_are_checked_on_request),
		cmocka_unit_test(an_open_pepper_used_as_the_hash_key_is_named_once),
		cmocka_unit_test(short_hash_keys_are_refused_as_the_servers_refuse_them),
		cmocka_unit_test(api_boot_only_keys_are_reported),
		cmocka_unit_test(tracing_section),
		cmocka_unit_test(cluster_section),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
