/* test_adapter_openai.c -- unit tests of adapters/openai.c and adapters/registry.c:
 * request building (URL, body rewrite, limits), response parsing (model rewrite, engine
 * internals removed, usage), stream events, and the error mapping for every error body
 * shape the OpenAI-compatible engines send. Success bodies are the recorded examples of
 * the OpenAI API reference and vLLM's server (docs/ADAPTERS.md), kept in
 * fixtures/adapter_openai/; error bodies are
 * in the tables below. Runs with cwd tests/unit. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "adapter.h"
#include "openai.h"

#include "adapter_fixtures.h"

#define FIXTURES	"fixtures/adapter_openai/"

static struct aif_replica replica = {
	.url = "http://127.0.0.1:9101", .max_in_flight = 64,
};

static struct aif_model model = {
	.id = "demo-chat", .adapter = "openai", .engine = "vllm",
	.upstream_model = "mock-llama-3-8b", .owned_by = "aif-demo",
	.kinds = AIF_KIND_CHAT | AIF_KIND_COMPLETION | AIF_KIND_EMBEDDING,
	.replicas = &replica, .nreplicas = 1, .max_in_flight = 64, .timeout_ms = 30000,
	.max_attempts = 3, .max_output_tokens = 4096,
	.pricing = { 150000, 600000 },
};

/* Reads fixtures/adapter_openai/<name>; returns a new NUL-terminated buffer. */
static char *
fixture(const char *name, size_t *len)
{
	char path[256];
	FILE *f;
	char *buf;
	long n;

	snprintf(path, sizeof(path), FIXTURES "%s", name);
	if ((f = fopen(path, "rb")) == NULL)
		fail_msg("cannot open %s (run from tests/unit)", path);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	assert_true(n >= 0);
	rewind(f);
	buf = malloc((size_t)n + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	buf[n] = '\0';
	fclose(f);
	*len = (size_t)n;
	return buf;
}

/* Returns 1 when s is well-formed UTF-8 (no overlongs, no surrogates, <= U+10FFFF). */
static int
utf8_valid(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	while (*p) {
		unsigned c = *p;
		int n;
		unsigned cp;

		if (c < 0x80) {
			p++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf)
			n = 1, cp = c & 0x1f;
		else if (c >= 0xe0 && c <= 0xef)
			n = 2, cp = c & 0x0f;
		else if (c >= 0xf0 && c <= 0xf4)
			n = 3, cp = c & 0x07;
		else
			return 0;
		for (int i = 1; i <= n; i++) {
			if ((p[i] & 0xc0) != 0x80)
				return 0;
			cp = (cp << 6) | (p[i] & 0x3f);
		}
		if ((n == 2 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
		    (n == 3 && (cp < 0x10000 || cp > 0x10ffff)))
			return 0;
		p += n + 1;
	}
	return 1;
}

static enum aif_err
build(const struct aif_replica *r, enum aif_kind kind, const char *req, size_t len,
    struct aif_engine_req *out)
{
	return aif_adapter_openai.build(&model, r, kind, req, len, out);
}

static void
parse(enum aif_kind kind, long status, const char *body, struct aif_engine_result *out)
{
	adapter_parse(&aif_adapter_openai, &model, kind, status, body, out);
}

/* ------------------------------------------------------------------ build */

static void
build_url_joins_replica_and_kind_path(void **state)
{
	static const struct {
		const char	*url;
		enum aif_kind	 kind;
		const char	*want;
	} cases[] = {
		{ "http://127.0.0.1:9101", AIF_KIND_CHAT,
		    "http://127.0.0.1:9101/v1/chat/completions" },
		{ "http://127.0.0.1:9101", AIF_KIND_COMPLETION,
		    "http://127.0.0.1:9101/v1/completions" },
		{ "http://127.0.0.1:9101", AIF_KIND_EMBEDDING,
		    "http://127.0.0.1:9101/v1/embeddings" },
		{ "http://vllm:8000/", AIF_KIND_CHAT, "http://vllm:8000/v1/chat/completions" },
		{ "http://vllm:8000///", AIF_KIND_COMPLETION,
		    "http://vllm:8000/v1/completions" },
		{ "https://gw.example/llama/a/", AIF_KIND_EMBEDDING,
		    "https://gw.example/llama/a/v1/embeddings" },
		/* the engine-native kinds: vLLM's paths unless the model's openai: says */
		{ "http://vllm:8000", AIF_KIND_RERANK, "http://vllm:8000/v1/rerank" },
		{ "http://vllm:8000", AIF_KIND_SCORE, "http://vllm:8000/v1/score" },
		{ "http://vllm:8000", AIF_KIND_TOKENIZE, "http://vllm:8000/tokenize" },
		{ "http://vllm:8000", AIF_KIND_DETOKENIZE, "http://vllm:8000/detokenize" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct aif_replica r = { .url = (char *)cases[i].url };
		struct aif_engine_req req;

		assert_int_equal(build(&r, cases[i].kind, "{}", 2, &req), AIF_OK);
		if (strcmp(req.url, cases[i].want) != 0)
			fail_msg("%s: got %s, want %s", cases[i].url, req.url, cases[i].want);
		free(req.body);
	}
}

static void
native_paths_come_from_the_models_settings(void **state)
{
	struct aif_cfg_option opts[] = { { .key = "rerank_path", .value = "/v2/rerank" } };
	struct aif_model m = model;
	struct aif_engine_req req;

	(void)state;
	m.options = opts;
	m.noptions = 1;
	m.adapter_state = NULL;
	assert_int_equal(aif_adapter_openai.build(&m, &replica, AIF_KIND_RERANK, "{}", 2,
	    &req), AIF_OK);
	assert_string_equal(req.url, "http://127.0.0.1:9101/v2/rerank");
	free(req.body);
	/* a setting that is no absolute path is refused (the config check says so too) */
	opts[0].value = "v2/rerank";
	assert_int_equal(aif_adapter_openai.build(&m, &replica, AIF_KIND_RERANK, "{}", 2,
	    &req), AIF_INVALID);
}

static void
build_body_swaps_model_and_keeps_every_other_field(void **state)
{
	struct aif_engine_req req;
	json_t *in, *out, *v;
	const char *key;
	size_t len;
	char *text = fixture("chat_request.json", &len);

	(void)state;
	assert_int_equal(build(&replica, AIF_KIND_CHAT, text, len, &req), AIF_OK);
	in = json_loads(text, 0, NULL);
	out = json_loads(req.body, 0, NULL);
	assert_non_null(in);
	assert_non_null(out);
	assert_string_equal(json_string_value(json_object_get(out, "model")),
	    "mock-llama-3-8b");
	assert_int_equal(json_object_size(out), json_object_size(in));
	json_object_foreach(in, key, v) {
		if (strcmp(key, "model") == 0)
			continue;
		if (!json_equal(v, json_object_get(out, key)))
			fail_msg("field %s changed or lost", key);
	}
	json_decref(in);
	json_decref(out);
	free(req.body);
	free(text);
}

static void
build_body_len_is_the_body_length(void **state)
{
	static const char body[] =
	    "{\"model\":\"demo-chat\",\"prompt\":\"Say this is a test\"}";
	struct aif_engine_req req;

	(void)state;
	assert_int_equal(build(&replica, AIF_KIND_COMPLETION, body, strlen(body), &req),
	    AIF_OK);
	assert_non_null(req.body);
	assert_int_equal(req.body_len, strlen(req.body));
	free(req.body);
}

static void
build_sets_model_when_request_has_none(void **state)
{
	static const char body[] = "{\"input\":\"hello\"}";
	struct aif_engine_req req;
	json_t *out;

	(void)state;
	assert_int_equal(build(&replica, AIF_KIND_EMBEDDING, body, strlen(body), &req),
	    AIF_OK);
	out = json_loads(req.body, 0, NULL);
	assert_non_null(out);
	assert_string_equal(json_string_value(json_object_get(out, "model")),
	    "mock-llama-3-8b");
	assert_string_equal(json_string_value(json_object_get(out, "input")), "hello");
	json_decref(out);
	free(req.body);
}

static void
build_reads_only_len_bytes(void **state)
{
	static const char body[] = "{\"model\":\"x\",\"input\":\"a\"}GARBAGE";
	struct aif_engine_req req;

	(void)state;
	assert_int_equal(build(&replica, AIF_KIND_EMBEDDING, body, strlen(body) - 7, &req),
	    AIF_OK);
	free(req.body);
}

static void
build_rejects_invalid_json(void **state)
{
	static const char *const bad[] = {
		"", "not json", "{", "{\"model\":\"x\",\"messages\":[",
		"{\"model\":\"x\"} {}", "[1,2]", "\"text\"", "null", "42",
		"{\"model\":\"x\",}",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct aif_engine_req req;

		memset(&req, 0x5a, sizeof(req));
		if (build(&replica, AIF_KIND_CHAT, bad[i], strlen(bad[i]), &req) !=
		    AIF_INVALID)
			fail_msg("accepted %s", bad[i]);
		assert_null(req.body);
	}
}

static void
build_rejects_unknown_kind(void **state)
{
	struct aif_engine_req req;

	(void)state;
	assert_int_equal(build(&replica, (enum aif_kind)0, "{}", 2, &req), AIF_INVALID);
	assert_null(req.body);
	assert_int_equal(build(&replica, (enum aif_kind)(1 << 12), "{}", 2, &req),
	    AIF_INVALID);
	assert_null(req.body);
}

static void
build_stream_request_asks_for_the_usage_chunk(void **state)
{
	static const char body[] = "{\"model\":\"demo-chat\",\"stream\":true,"
	    "\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]}";
	struct aif_engine_req req;
	json_t *out;

	(void)state;
	assert_int_equal(build(&replica, AIF_KIND_CHAT, body, strlen(body), &req), AIF_OK);
	out = json_loads(req.body, 0, NULL);
	assert_non_null(out);
	assert_true(json_is_true(json_object_get(out, "stream")));
	assert_true(json_is_true(json_object_get(json_object_get(out, "stream_options"),
	    "include_usage")));
	json_decref(out);
	free(req.body);
}

static void
build_non_stream_request_gets_no_stream_options(void **state)
{
	static const char body[] = "{\"model\":\"demo-chat\",\"stream\":false,"
	    "\"messages\":[]}";
	struct aif_engine_req req;
	json_t *out;

	(void)state;
	assert_int_equal(build(&replica, AIF_KIND_CHAT, body, strlen(body), &req), AIF_OK);
	out = json_loads(req.body, 0, NULL);
	assert_non_null(out);
	assert_null(json_object_get(out, "stream_options"));
	json_decref(out);
	free(req.body);
}

/* The SDKs ask for base64 by default; engines are asked for floats and the gateway
 * encodes (core/protocol/embed.h). */
static void
build_embedding_request_asks_engine_for_floats(void **state)
{
	static const char body[] = "{\"model\":\"demo-embed\",\"input\":[\"a\",\"b\"],"
	    "\"encoding_format\":\"base64\"}";
	struct aif_engine_req req;
	json_t *out;

	(void)state;
	assert_int_equal(build(&replica, AIF_KIND_EMBEDDING, body, strlen(body), &req),
	    AIF_OK);
	out = json_loads(req.body, 0, NULL);
	assert_non_null(out);
	assert_string_equal(json_string_value(json_object_get(out, "encoding_format")),
	    "float");
	assert_int_equal(json_array_size(json_object_get(out, "input")), 2);
	json_decref(out);
	free(req.body);
}

/* Returns a new URL "http://h/xxxx" of exactly `len` characters. */
static char *
url_of_length(size_t len)
{
	char *u = malloc(len + 1);

	assert_non_null(u);
	memcpy(u, "http://h/", 9);
	memset(u + 9, 'x', len - 9);
	u[len] = '\0';
	return u;
}

static void
build_accepts_url_that_just_fits(void **state)
{
	/* "/v1/chat/completions" is 20 characters; the result needs a NUL */
	char *u = url_of_length(AIF_ENGINE_URL_MAX - 1 - 20);
	struct aif_replica r = { .url = u };
	struct aif_engine_req req;

	(void)state;
	assert_int_equal(build(&r, AIF_KIND_CHAT, "{}", 2, &req), AIF_OK);
	assert_int_equal(strlen(req.url), AIF_ENGINE_URL_MAX - 1);
	free(req.body);
	free(u);
}

static void
build_rejects_url_too_long(void **state)
{
	char *u = url_of_length(AIF_ENGINE_URL_MAX - 20);
	struct aif_replica r = { .url = u };
	struct aif_engine_req req;

	(void)state;
	assert_int_equal(build(&r, AIF_KIND_CHAT, "{}", 2, &req), AIF_TOOBIG);
	assert_null(req.body);
	free(u);
}

/* ------------------------------------------------------------------ parse: 200 */

struct ok_case {
	const char	*file;
	enum aif_kind	 kind;
	int64_t		 prompt, completion;
};

static const struct ok_case ok_cases[] = {
	{ "vllm_chat.json", AIF_KIND_CHAT, 9, 3 },
	{ "openai_chat.json", AIF_KIND_CHAT, 9, 3 },
	{ "ollama_chat.json", AIF_KIND_CHAT, 26, 9 },
	{ "openai_completion.json", AIF_KIND_COMPLETION, 5, 7 },
	{ "vllm_embedding.json", AIF_KIND_EMBEDDING, 8, 0 },
};

static void
parse_success_extracts_usage(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(ok_cases) / sizeof(ok_cases[0]); i++) {
		struct aif_engine_result res;
		size_t len;
		char *body = fixture(ok_cases[i].file, &len);

		parse(ok_cases[i].kind, 200, body, &res);
		if (res.failure != AIF_FAIL_NONE || res.response == NULL)
			fail_msg("%s: failure %d", ok_cases[i].file, res.failure);
		if (res.prompt_tokens != ok_cases[i].prompt ||
		    res.completion_tokens != ok_cases[i].completion)
			fail_msg("%s: tokens %lld/%lld", ok_cases[i].file,
			    (long long)res.prompt_tokens, (long long)res.completion_tokens);
		aif_engine_result_clear(&res);
		free(body);
	}
}

static void
parse_success_sets_public_model_and_keeps_the_rest(void **state)
{
	static const char *const internals[] = {
		"kv_transfer_params", "prompt_logprobs", "prompt_token_ids",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(ok_cases) / sizeof(ok_cases[0]); i++) {
		struct aif_engine_result res;
		size_t len;
		char *body = fixture(ok_cases[i].file, &len);
		json_t *want = json_loads(body, 0, NULL);

		assert_non_null(want);
		json_object_set_new(want, "model", json_string("demo-chat"));
		for (size_t k = 0; k < sizeof(internals) / sizeof(internals[0]); k++)
			json_object_del(want, internals[k]);
		parse(ok_cases[i].kind, 200, body, &res);
		assert_non_null(res.response);
		if (!json_equal(res.response, want)) {
			char *got = json_dumps(res.response, JSON_COMPACT);
			fail_msg("%s: response %s", ok_cases[i].file, got);
		}
		json_decref(want);
		aif_engine_result_clear(&res);
		free(body);
	}
}

static void
parse_success_removes_engine_internals(void **state)
{
	static const char *const internals[] = {
		"kv_transfer_params", "prompt_logprobs", "prompt_token_ids",
	};
	struct aif_engine_result res;
	size_t len;
	char *body = fixture("vllm_chat.json", &len);
	json_t *orig = json_loads(body, 0, NULL);

	(void)state;
	parse(AIF_KIND_CHAT, 200, body, &res);
	assert_non_null(res.response);
	for (size_t k = 0; k < sizeof(internals) / sizeof(internals[0]); k++) {
		/* the recording has them, the answer must not */
		assert_non_null(json_object_get(orig, internals[k]));
		if (json_object_get(res.response, internals[k]) != NULL)
			fail_msg("%s left in the response", internals[k]);
	}
	assert_string_equal(json_string_value(json_object_get(res.response, "model")),
	    "demo-chat");
	json_decref(orig);
	aif_engine_result_clear(&res);
	free(body);
}

#define ONE_CHOICE "\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\"," \
	"\"content\":\"x\"}}]"

static void
parse_success_without_usage_counts_zero(void **state)
{
	static const char *const bodies[] = {
		"{" ONE_CHOICE "}",
		"{" ONE_CHOICE ",\"usage\":null}",
		"{" ONE_CHOICE ",\"usage\":{}}",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
		struct aif_engine_result res;

		parse(AIF_KIND_CHAT, 200, bodies[i], &res);
		if (res.failure != AIF_FAIL_NONE || res.response == NULL)
			fail_msg("rejected %s", bodies[i]);
		if (res.prompt_tokens != 0 || res.completion_tokens != 0)
			fail_msg("%s: tokens %lld/%lld", bodies[i],
			    (long long)res.prompt_tokens, (long long)res.completion_tokens);
		aif_engine_result_clear(&res);
	}
}

/* An engine's 200 is an answer only when it has the shape of one: an error object,
 * missing or empty choices, choices that are not objects, or counts that are not
 * non-negative integers are a retryable bad response, never a success. */
static void
parse_rejects_answers_that_are_not_answers(void **state)
{
	static const char *const bodies[] = {
		"{\"object\":\"error\",\"choices\":[]}",
		"{\"choices\":[]}",
		"{\"choices\":[null,1]}",
		"{\"choices\":[{\"index\":0}]}",
		"{\"choices\":[{\"index\":-1,\"message\":{}}]}",
		"{\"error\":{\"message\":\"x\"}," ONE_CHOICE "}",
		"{" ONE_CHOICE ",\"usage\":{\"prompt_tokens\":-1000,\"completion_tokens\":1}}",
		"{" ONE_CHOICE ",\"usage\":{\"prompt_tokens\":\"9\",\"completion_tokens\":3.5}}",
		"{" ONE_CHOICE ",\"usage\":[1]}",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
		struct aif_engine_result res;

		parse(AIF_KIND_CHAT, 200, bodies[i], &res);
		if (res.failure != AIF_FAIL_RETRYABLE || res.response != NULL)
			fail_msg("accepted %s", bodies[i]);
		assert_string_equal(res.error.code, "engine_bad_response");
		aif_engine_result_clear(&res);
	}
}

static void
parse_malformed_200_is_retryable_502(void **state)
{
	static const struct {
		enum aif_kind	 kind;
		const char	*body;
	} cases[] = {
		{ AIF_KIND_CHAT, "" },
		{ AIF_KIND_CHAT, "not json" },
		{ AIF_KIND_CHAT, "<html><body>502 Bad Gateway</body></html>" },
		{ AIF_KIND_CHAT, "{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion\","
		    "\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"con" },
		{ AIF_KIND_CHAT, "[]" },
		{ AIF_KIND_CHAT, "{}" },
		{ AIF_KIND_CHAT, "{\"choices\":{}}" },
		{ AIF_KIND_CHAT, "{\"choices\":null}" },
		{ AIF_KIND_COMPLETION, "{\"object\":\"text_completion\",\"text\":\"x\"}" },
		/* an embedding kind wants data[], not choices[] */
		{ AIF_KIND_EMBEDDING, "{\"object\":\"list\",\"choices\":[]}" },
		/* vLLM reports some failures with status 200 and an error object */
		{ AIF_KIND_CHAT, "{\"error\":{\"message\":\"Internal error\","
		    "\"type\":\"InternalServerError\",\"param\":null,\"code\":500}}" },
		{ AIF_KIND_CHAT, "{\"error\":\"boom\",\"choices\":[]}" },
		{ AIF_KIND_EMBEDDING, "{\"error\":{\"message\":\"x\"},\"data\":[]}" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct aif_engine_result res;

		parse(cases[i].kind, 200, cases[i].body, &res);
		if (res.failure != AIF_FAIL_RETRYABLE || res.error.status != 502 ||
		    strcmp(res.error.type, "server_error") != 0 ||
		    strcmp(res.error.code, "engine_bad_response") != 0)
			fail_msg("%s: failure %d status %d %s/%s", cases[i].body,
			    res.failure, res.error.status, res.error.type,
			    res.error.code);
		assert_null(res.response);
		assert_int_equal(res.prompt_tokens, 0);
		assert_int_equal(res.completion_tokens, 0);
		assert_true(res.error.message[0] != '\0');
	}
}

/* ------------------------------------------------------------------ parse: errors */

/* struct err_case: adapter_fixtures.h; here msg_has is never NULL. */

#define CTX_MSG	"This model's maximum context length is 4096 tokens. However, you " \
		"requested 5120 tokens (5056 in the messages, 64 in the completion). " \
		"Please reduce the length of the messages or completion."

static const struct err_case err_cases[] = {
	/* 400/413/422: the request is bad; the client sees the engine's reason */
	{ "vLLM 400", 400,
	    "{\"error\":{\"message\":\"temperature must be non-negative, got -1.0.\","
	    "\"type\":\"BadRequestError\",\"param\":null,\"code\":400}}",
	    AIF_FAIL_FATAL, 400, "invalid_request_error", "engine_rejected_request",
	    "temperature must be non-negative, got -1.0.", NULL },
	{ "vLLM 400 context length", 400,
	    "{\"error\":{\"message\":\"" CTX_MSG "\",\"type\":\"BadRequestError\","
	    "\"param\":null,\"code\":400}}",
	    AIF_FAIL_FATAL, 400, "invalid_request_error", "context_length_exceeded",
	    CTX_MSG, NULL },
	{ "old flat vLLM 400 context length", 400,
	    "{\"object\":\"error\",\"message\":\"" CTX_MSG "\",\"type\":\"BadRequestError\","
	    "\"param\":null,\"code\":400}",
	    AIF_FAIL_FATAL, 400, "invalid_request_error", "context_length_exceeded",
	    CTX_MSG, NULL },
	{ "old flat vLLM 400", 400,
	    "{\"object\":\"error\",\"message\":\"best_of must be 1 when using greedy "
	    "sampling.\",\"type\":\"BadRequestError\",\"param\":null,\"code\":400}",
	    AIF_FAIL_FATAL, 400, "invalid_request_error", "engine_rejected_request",
	    "best_of must be 1 when using greedy sampling.", NULL },
	{ "OpenAI-style context_length_exceeded", 400,
	    "{\"error\":{\"message\":\"This model's maximum Context Length is 128000 "
	    "tokens.\",\"type\":\"invalid_request_error\",\"param\":\"messages\","
	    "\"code\":\"context_length_exceeded\"}}",
	    AIF_FAIL_FATAL, 400, "invalid_request_error", "context_length_exceeded",
	    "maximum Context Length is 128000", NULL },
	{ "llama.cpp 400", 400,
	    "{\"error\":{\"code\":400,\"message\":\"\\\"prompt\\\" must be provided\","
	    "\"type\":\"invalid_request_error\"}}",
	    AIF_FAIL_FATAL, 400, "invalid_request_error", "engine_rejected_request",
	    "\"prompt\" must be provided", NULL },
	{ "Ollama /v1 400", 400,
	    "{\"error\":{\"message\":\"invalid message content type\","
	    "\"type\":\"invalid_request_error\",\"param\":null,\"code\":null}}",
	    AIF_FAIL_FATAL, 400, "invalid_request_error", "engine_rejected_request",
	    "invalid message content type", NULL },
	{ "413 non-JSON", 413, "<html><head><title>413 Request Entity Too Large</title>",
	    AIF_FAIL_FATAL, 400, "invalid_request_error", "engine_rejected_request",
	    "non-JSON", "<html>" },
	{ "422 TGI-style string error", 422,
	    "{\"error\":\"Input validation error: `temperature` must be strictly "
	    "positive\",\"error_type\":\"validation\"}",
	    AIF_FAIL_FATAL, 400, "invalid_request_error", "engine_rejected_request",
	    "Input validation error: `temperature` must be strictly positive", NULL },
	/* 401/403/404: the gateway's call is wrong, not the client's request */
	{ "vLLM --api-key 401", 401, "{\"error\":\"Unauthorized\"}",
	    AIF_FAIL_FATAL, 502, "server_error", "engine_misconfigured", "HTTP 401",
	    "Unauthorized" },
	{ "llama.cpp 403", 403,
	    "{\"error\":{\"code\":403,\"message\":\"Forbidden\","
	    "\"type\":\"permission_error\"}}",
	    AIF_FAIL_FATAL, 502, "server_error", "engine_misconfigured", "HTTP 403",
	    "Forbidden" },
	{ "vLLM 404 model", 404,
	    "{\"error\":{\"message\":\"The model `mock-llama-3-8b` does not exist.\","
	    "\"type\":\"NotFoundError\",\"param\":null,\"code\":404}}",
	    AIF_FAIL_FATAL, 502, "server_error", "engine_misconfigured", "HTTP 404",
	    "does not exist" },
	{ "Ollama 404 model", 404,
	    "{\"error\":\"model \\\"mock\\\" not found, try pulling it first\"}",
	    AIF_FAIL_FATAL, 502, "server_error", "engine_misconfigured", "HTTP 404",
	    "pulling" },
	/* 429/503: the engine is full */
	{ "429", 429,
	    "{\"error\":{\"message\":\"Too many requests\",\"type\":\"rate_limit_error\","
	    "\"param\":null,\"code\":429}}",
	    AIF_FAIL_OVERLOADED, 503, "server_error", "engine_overloaded", "HTTP 429",
	    "Too many requests" },
	{ "llama.cpp 503 loading", 503,
	    "{\"error\":{\"code\":503,\"message\":\"Loading model\","
	    "\"type\":\"unavailable_error\"}}",
	    AIF_FAIL_OVERLOADED, 503, "server_error", "engine_overloaded", "HTTP 503",
	    "Loading model" },
	{ "vLLM 503 empty", 503, "",
	    AIF_FAIL_OVERLOADED, 503, "server_error", "engine_overloaded", "HTTP 503",
	    NULL },
	{ "Ollama 503 busy", 503,
	    "{\"error\":\"server busy, please try again.  maximum pending requests "
	    "exceeded\"}",
	    AIF_FAIL_OVERLOADED, 503, "server_error", "engine_overloaded", "HTTP 503",
	    "server busy" },
	/* 408/504: timeouts */
	{ "408 empty", 408, "",
	    AIF_FAIL_RETRYABLE, 504, "server_error", "engine_timeout", "HTTP 408", NULL },
	{ "504 proxy page", 504, "<html><body><h1>504 Gateway Time-out</h1></body></html>",
	    AIF_FAIL_RETRYABLE, 504, "server_error", "engine_timeout", "HTTP 504",
	    "<html>" },
	/* 501: the engine lacks the feature, retrying cannot help; other 5xx: the
	 * engine broke. Engine text may hold prompt pieces: never copied */
	{ "vLLM 500", 500,
	    "{\"error\":{\"message\":\"CUDA error while decoding 'my secret prompt'\","
	    "\"type\":\"InternalServerError\",\"param\":null,\"code\":500}}",
	    AIF_FAIL_RETRYABLE, 502, "server_error", "engine_error", "HTTP 500",
	    "secret" },
	{ "vLLM 501", 501,
	    "{\"error\":{\"message\":\"best_of is not supported\","
	    "\"type\":\"NotImplementedError\",\"param\":null,\"code\":501}}",
	    AIF_FAIL_FATAL, 502, "server_error", "engine_misconfigured", "HTTP 501",
	    "best_of" },
	{ "502 from a proxy", 502, "<html>Bad Gateway</html>",
	    AIF_FAIL_RETRYABLE, 502, "server_error", "engine_error", "HTTP 502", "<html>" },
	{ "500 plain text", 500, "Internal Server Error",
	    AIF_FAIL_RETRYABLE, 502, "server_error", "engine_error", "HTTP 500",
	    "Internal Server Error" },
};

static void
parse_error_statuses_map_to_client_errors(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(err_cases) / sizeof(err_cases[0]); i++) {
		const struct err_case *c = &err_cases[i];
		struct aif_engine_result res;

		parse(AIF_KIND_CHAT, c->status, c->body, &res);
		check_error_class(c, &res);
		assert_int_equal(res.prompt_tokens, 0);
		assert_int_equal(res.completion_tokens, 0);
	}
}

static void
parse_error_message_says_what_happened(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(err_cases) / sizeof(err_cases[0]); i++) {
		const struct err_case *c = &err_cases[i];
		struct aif_engine_result res;

		parse(AIF_KIND_CHAT, c->status, c->body, &res);
		assert_non_null(c->msg_has);
		check_error_message(c, &res);
		if (!utf8_valid(res.error.message))
			fail_msg("%s: message is not valid UTF-8", c->what);
	}
}

static void
parse_error_keeps_long_engine_message_in_bounds(void **state)
{
	char body[4096], msg[2001];
	struct aif_engine_result res;

	(void)state;
	memset(msg, 'm', sizeof(msg) - 1);
	msg[sizeof(msg) - 1] = '\0';
	snprintf(body, sizeof(body), "{\"error\":{\"message\":\"%s\",\"type\":"
	    "\"BadRequestError\",\"param\":null,\"code\":400}}", msg);
	parse(AIF_KIND_CHAT, 400, body, &res);
	assert_int_equal(res.failure, AIF_FAIL_FATAL);
	assert_true(strlen(res.error.message) < sizeof(res.error.message));
	assert_non_null(strstr(res.error.message, "mmmmmmmmmm"));
}

/* An engine message cut to fit must not end in half a UTF-8 sequence: the message is
 * stored in a utf8mb4 column and sent to the client as a JSON string. The two-byte
 * "é" is placed across every cut position a 400..512 byte limit could choose. */
static void
parse_error_message_cut_stays_valid_utf8(void **state)
{
	(void)state;
	for (size_t pre = 380; pre < 520; pre++) {
		char body[2048], msg[1024];
		struct aif_engine_result res;

		memset(msg, 'a', pre);
		snprintf(msg + pre, sizeof(msg) - pre, "\xc3\xa9 and more text after it");
		snprintf(body, sizeof(body), "{\"error\":{\"message\":\"%s\",\"type\":"
		    "\"BadRequestError\",\"param\":null,\"code\":400}}", msg);
		parse(AIF_KIND_CHAT, 400, body, &res);
		assert_int_equal(res.failure, AIF_FAIL_FATAL);
		if (!utf8_valid(res.error.message))
			fail_msg("engine message of %zu ASCII bytes + U+00E9: client message "
			    "ends in a broken UTF-8 sequence (%zu bytes)", pre,
			    strlen(res.error.message));
	}
}

/* llama.cpp reports an over-long prompt as type exceed_context_size_error with the
 * message "request (N tokens) exceeds the available context size (M tokens)";
 * it is reported as context_length_exceeded, as vLLM's is. */
static void
parse_llamacpp_context_overflow_is_context_length_exceeded(void **state)
{
	static const char body[] =
	    "{\"error\":{\"code\":400,\"message\":\"request (4476 tokens) exceeds the "
	    "available context size (4096 tokens)\",\"type\":\"exceed_context_size_error\","
	    "\"n_prompt_tokens\":4476,\"n_ctx\":4096}}";
	struct aif_engine_result res;

	(void)state;
	parse(AIF_KIND_CHAT, 400, body, &res);
	assert_int_equal(res.failure, AIF_FAIL_FATAL);
	assert_int_equal(res.error.status, 400);
	assert_string_equal(res.error.type, "invalid_request_error");
	assert_string_equal(res.error.code, "context_length_exceeded");
}

/* ------------------------------------------------------------------ stream events */

#define VLLM_CHUNK(id, delta, finish) \
	"{\"id\":\"" id "\",\"object\":\"chat.completion.chunk\",\"created\":1724000000," \
	"\"model\":\"Qwen/Qwen2.5-1.5B-Instruct\",\"choices\":[{\"index\":0,\"delta\":" \
	delta ",\"logprobs\":null,\"finish_reason\":" finish "}],\"usage\":null}"

/* The stream tests run with the fixture of adapter_fixtures.h, without a preset id:
 * the id and created come from the engine's chunks. */
static enum aif_failure
event(struct stream_fixture *s, const char *data)
{
	return stream_event(&aif_adapter_openai, &model, AIF_KIND_CHAT, s, data);
}

static void
stream_done_marker_ends_the_stream(void **state)
{
	struct stream_fixture *s = *state;

	assert_int_equal(event(s, "[DONE]"), AIF_FAIL_NONE);
	assert_int_equal(s->st.done, 1);
	assert_int_equal(json_array_size(s->chunks), 0);
}

static void
stream_chunk_is_passed_on_with_public_model(void **state)
{
	struct stream_fixture *s = *state;
	json_t *c;

	assert_int_equal(event(s, VLLM_CHUNK("chatcmpl-abc",
	    "{\"role\":\"assistant\",\"content\":\"\"}", "null")), AIF_FAIL_NONE);
	assert_int_equal(json_array_size(s->chunks), 1);
	c = json_array_get(s->chunks, 0);
	assert_string_equal(json_string_value(json_object_get(c, "model")), "demo-chat");
	assert_string_equal(json_string_value(json_object_get(c, "object")),
	    "chat.completion.chunk");
	assert_null(json_object_get(c, "usage"));
	assert_string_equal(s->st.id, "chatcmpl-abc");
	assert_int_equal(s->st.created, 1724000000);
	assert_int_equal(s->st.events, 1);
	assert_int_equal(s->st.done, 0);
}

static void
stream_keeps_the_first_id_and_last_finish_reason(void **state)
{
	struct stream_fixture *s = *state;

	assert_int_equal(event(s, VLLM_CHUNK("chatcmpl-first", "{\"content\":\"Hi\"}",
	    "null")), AIF_FAIL_NONE);
	assert_int_equal(event(s, VLLM_CHUNK("chatcmpl-other", "{}", "\"stop\"")),
	    AIF_FAIL_NONE);
	assert_string_equal(s->st.id, "chatcmpl-first");
	assert_string_equal(s->st.finish_reason, "stop");
	assert_int_equal(json_array_size(s->chunks), 2);
	assert_int_equal(s->st.events, 2);
}

static void
stream_usage_chunk_gives_tokens_and_no_chunk(void **state)
{
	struct stream_fixture *s = *state;

	assert_int_equal(event(s, "{\"id\":\"chatcmpl-abc\",\"object\":"
	    "\"chat.completion.chunk\",\"created\":1724000000,\"model\":\"x\","
	    "\"choices\":[],\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":12,"
	    "\"total_tokens\":21}}"), AIF_FAIL_NONE);
	assert_int_equal(json_array_size(s->chunks), 0);
	assert_int_equal(s->st.prompt_tokens, 9);
	assert_int_equal(s->st.completion_tokens, 12);
}

static void
stream_error_event_of_bad_request_is_fatal_400(void **state)
{
	struct stream_fixture *s = *state;

	assert_int_equal(event(s, "{\"error\":{\"message\":\"" CTX_MSG "\","
	    "\"type\":\"BadRequestError\",\"param\":null,\"code\":400}}"),
	    AIF_FAIL_FATAL);
	assert_int_equal(s->err.error.status, 400);
	assert_string_equal(s->err.error.type, "invalid_request_error");
	assert_string_equal(s->err.error.code, "context_length_exceeded");
	assert_int_equal(json_array_size(s->chunks), 0);
}

static void
stream_error_event_of_engine_failure_is_retryable(void **state)
{
	struct stream_fixture *s = *state;

	assert_int_equal(event(s, "{\"error\":{\"message\":\"engine died\","
	    "\"type\":\"InternalServerError\",\"param\":null,\"code\":500}}"),
	    AIF_FAIL_RETRYABLE);
	assert_int_equal(s->err.error.status, 502);
	assert_int_equal(json_array_size(s->chunks), 0);
}

static void
stream_malformed_event_is_retryable_502(void **state)
{
	struct stream_fixture *s = *state;

	assert_int_equal(event(s, "{\"id\":\"chatcmpl-abc\",\"choi"), AIF_FAIL_RETRYABLE);
	assert_int_equal(s->err.error.status, 502);
	assert_string_equal(s->err.error.code, "engine_bad_response");
	assert_int_equal(json_array_size(s->chunks), 0);
}

/* ------------------------------------------------------------------ surfaces */

/* A surface an engine serves itself goes to its path as it came, told not to keep it
 * (Responses), with no stream_options (its events carry their usage). */
static void
build_surface_requests_go_to_their_paths(void **state)
{
	static const char req[] = "{\"model\":\"demo-chat\",\"input\":\"hi\","
	    "\"stream\":true,\"store\":true}";
	struct aif_engine_req out;
	json_t *b;

	(void)state;
	assert_int_equal(build(&replica, AIF_KIND_RESPONSES, req, strlen(req), &out), AIF_OK);
	assert_string_equal(out.url, "http://127.0.0.1:9101/v1/responses");
	b = json_loads(out.body, 0, NULL);
	assert_true(json_is_false(json_object_get(b, "store")));
	assert_null(json_object_get(b, "stream_options"));
	assert_string_equal(json_string_value(json_object_get(b, "model")), "mock-llama-3-8b");
	json_decref(b);
	free(out.body);
	assert_int_equal(build(&replica, AIF_KIND_MESSAGES, req, strlen(req), &out), AIF_OK);
	assert_string_equal(out.url, "http://127.0.0.1:9101/v1/messages");
	b = json_loads(out.body, 0, NULL);
	assert_true(json_is_true(json_object_get(b, "store")));	/* not Anthropic's */
	json_decref(b);
	free(out.body);
}

static void
parse_surface_answers_in_their_own_words(void **state)
{
	struct aif_engine_result r;

	(void)state;
	memset(&r, 0, sizeof(r));
	parse(AIF_KIND_RESPONSES, 200, "{\"id\":\"resp_x\",\"object\":\"response\","
	    "\"status\":\"completed\",\"model\":\"mock\",\"output\":[],\"usage\":"
	    "{\"input_tokens\":7,\"output_tokens\":3,\"total_tokens\":10}}", &r);
	assert_int_equal(r.failure, AIF_FAIL_NONE);
	assert_int_equal(r.prompt_tokens, 7);
	assert_int_equal(r.completion_tokens, 3);
	assert_string_equal(json_string_value(json_object_get(r.response, "model")),
	    "demo-chat");
	aif_engine_result_clear(&r);
	parse(AIF_KIND_MESSAGES, 200, "{\"type\":\"message\",\"content\":[],\"usage\":"
	    "{\"input_tokens\":4,\"cache_read_input_tokens\":2,\"output_tokens\":1}}", &r);
	assert_int_equal(r.failure, AIF_FAIL_NONE);
	assert_int_equal(r.prompt_tokens, 6);
	aif_engine_result_clear(&r);
	/* a chat completion is no Message; a failed Response is no answer */
	parse(AIF_KIND_MESSAGES, 200, "{\"choices\":[{\"index\":0,\"message\":{}}]}", &r);
	assert_int_equal(r.failure, AIF_FAIL_RETRYABLE);
	aif_engine_result_clear(&r);
	parse(AIF_KIND_RESPONSES, 200, "{\"object\":\"response\",\"status\":\"failed\","
	    "\"output\":[]}", &r);
	assert_int_equal(r.failure, AIF_FAIL_RETRYABLE);
	aif_engine_result_clear(&r);
}

/* The events pass through with the job's id and the public model on the Response they
 * carry; usage and the end are noted; an error event ends the stream. */
static void
stream_responses_events_pass_through_stamped(void **state)
{
	struct stream_fixture *s = *state;
	json_t *r;

	snprintf(s->st.id, sizeof(s->st.id), "resp_job1");
	assert_int_equal(stream_event(&aif_adapter_openai, &model, AIF_KIND_RESPONSES, s,
	    "{\"type\":\"response.created\",\"sequence_number\":0,\"response\":{\"id\":"
	    "\"resp_engine\",\"model\":\"mock\",\"output\":[]}}"), AIF_FAIL_NONE);
	r = json_object_get(json_array_get(s->chunks, 0), "response");
	assert_string_equal(json_string_value(json_object_get(r, "id")), "resp_job1");
	assert_string_equal(json_string_value(json_object_get(r, "model")), "demo-chat");
	assert_int_equal(stream_event(&aif_adapter_openai, &model, AIF_KIND_RESPONSES, s,
	    "{\"type\":\"response.output_text.delta\",\"delta\":\"Hi\"}"), AIF_FAIL_NONE);
	assert_int_equal(s->st.done, 0);
	assert_int_equal(stream_event(&aif_adapter_openai, &model, AIF_KIND_RESPONSES, s,
	    "{\"type\":\"response.completed\",\"response\":{\"output\":[],\"usage\":"
	    "{\"input_tokens\":5,\"output_tokens\":2}}}"), AIF_FAIL_NONE);
	assert_int_equal(s->st.done, 1);
	assert_int_equal(s->st.prompt_tokens, 5);
	assert_int_equal(s->st.completion_tokens, 2);
	assert_int_equal(json_array_size(s->chunks), 3);
	assert_int_equal(stream_event(&aif_adapter_openai, &model, AIF_KIND_RESPONSES, s,
	    "{\"type\":\"error\",\"code\":\"rate_limit_exceeded\",\"message\":\"slow\"}"),
	    AIF_FAIL_OVERLOADED);
}

static void
stream_messages_events_pass_through_stamped(void **state)
{
	struct stream_fixture *s = *state;

	snprintf(s->st.id, sizeof(s->st.id), "msg_job1");
	assert_int_equal(stream_event(&aif_adapter_openai, &model, AIF_KIND_MESSAGES, s,
	    "{\"type\":\"message_start\",\"message\":{\"id\":\"msg_e\",\"content\":[],"
	    "\"usage\":{\"input_tokens\":8,\"output_tokens\":1}}}"), AIF_FAIL_NONE);
	assert_string_equal(json_string_value(json_object_get(json_object_get(
	    json_array_get(s->chunks, 0), "message"), "id")), "msg_job1");
	assert_int_equal(stream_event(&aif_adapter_openai, &model, AIF_KIND_MESSAGES, s,
	    "{\"type\":\"ping\"}"), AIF_FAIL_NONE);
	assert_int_equal(json_array_size(s->chunks), 1);	/* pings are dropped */
	assert_int_equal(stream_event(&aif_adapter_openai, &model, AIF_KIND_MESSAGES, s,
	    "{\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},"
	    "\"usage\":{\"output_tokens\":12}}"), AIF_FAIL_NONE);
	assert_int_equal(s->st.prompt_tokens, 8);
	assert_int_equal(s->st.completion_tokens, 12);
	assert_int_equal(stream_event(&aif_adapter_openai, &model, AIF_KIND_MESSAGES, s,
	    "{\"type\":\"message_stop\"}"), AIF_FAIL_NONE);
	assert_int_equal(s->st.done, 1);
	assert_int_equal(stream_event(&aif_adapter_openai, &model, AIF_KIND_MESSAGES, s,
	    "{\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\","
	    "\"message\":\"busy\"}}"), AIF_FAIL_OVERLOADED);
	assert_int_equal(stream_event(&aif_adapter_openai, &model, AIF_KIND_MESSAGES, s,
	    "{\"type\":\"error\",\"error\":{\"type\":\"invalid_request_error\","
	    "\"message\":\"no\"}}"), AIF_FAIL_FATAL);
	assert_int_equal(stream_event(&aif_adapter_openai, &model, AIF_KIND_MESSAGES, s,
	    "{\"no\":\"type\"}"), AIF_FAIL_RETRYABLE);
}

/* ------------------------------------------------------------------ registry */

static void
find_returns_the_openai_adapter(void **state)
{
	const struct aif_adapter *a = aif_adapter_find("openai");

	(void)state;
	assert_ptr_equal(a, &aif_adapter_openai);
	assert_int_equal(a->abi, AIF_ADAPTER_ABI);
	assert_string_equal(a->spec->name, "openai");
	assert_non_null(a->build);
	assert_non_null(a->parse);
	assert_non_null(a->parse_event);
	assert_string_equal(a->health_path, "/health");
}

static void
find_unknown_adapter_is_null(void **state)
{
	static const char *const names[] = { "", "vllm", "grpc", "OPENAI", "openai ",
	    "open", "openai2" };

	(void)state;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (aif_adapter_find(names[i]) != NULL)
			fail_msg("found an adapter for \"%s\"", names[i]);
}

static void
transport_failure_timeout_is_504(void **state)
{
	struct aif_engine_result res;

	(void)state;
	memset(&res, 0, sizeof(res));
	aif_adapter_transport_failure("Operation timed out after 30000 milliseconds", 1,
	    &res);
	assert_int_equal(res.failure, AIF_FAIL_RETRYABLE);
	assert_int_equal(res.error.status, 504);
	assert_string_equal(res.error.type, "server_error");
	assert_string_equal(res.error.code, "engine_timeout");
	assert_non_null(strstr(res.error.message, "Operation timed out after 30000 milliseconds"));
	assert_true(res.timed_out);
	assert_null(res.response);
}

/* The timeout class of a retry policy (non_retryable: [timeout]) is a flag of the
 * result: an engine's 408/504 sets it, its other statuses do not. */
static void
engine_timeout_status_sets_the_timeout_class(void **state)
{
	static const long timeouts[] = { 408, 504 }, others[] = { 500, 502, 503, 429, 400 };
	struct aif_engine_result res;

	(void)state;
	for (size_t i = 0; i < sizeof(timeouts) / sizeof(timeouts[0]); i++) {
		memset(&res, 0, sizeof(res));
		aif_adapter_classify_status(timeouts[i], "", 0, &res);
		assert_true(res.timed_out);
		assert_string_equal(res.error.code, "engine_timeout");
	}
	for (size_t i = 0; i < sizeof(others) / sizeof(others[0]); i++) {
		memset(&res, 0, sizeof(res));
		res.timed_out = 1;	/* a failure filled again starts over */
		aif_adapter_classify_status(others[i], "", 0, &res);
		assert_false(res.timed_out);
	}
}

static void
transport_failure_unreachable_is_503(void **state)
{
	struct aif_engine_result res;

	(void)state;
	memset(&res, 0, sizeof(res));
	aif_adapter_transport_failure("Couldn't connect to server", 0, &res);
	assert_int_equal(res.failure, AIF_FAIL_RETRYABLE);
	assert_int_equal(res.error.status, 503);
	assert_string_equal(res.error.type, "server_error");
	assert_string_equal(res.error.code, "engine_unavailable");
	assert_non_null(strstr(res.error.message, "Couldn't connect to server"));
	assert_false(res.timed_out);
}

static void
transport_failure_long_text_is_cut(void **state)
{
	struct aif_engine_result res;
	char what[2000];

	(void)state;
	memset(what, 'w', sizeof(what) - 1);
	what[sizeof(what) - 1] = '\0';
	memset(&res, 0, sizeof(res));
	aif_adapter_transport_failure(what, 0, &res);
	assert_int_equal(strlen(res.error.message), sizeof(res.error.message) - 1);
}

static void
kind_names_round_trip(void **state)
{
	static const struct {
		const char	*name;
		enum aif_kind	 kind;
	} kinds[] = {
		{ "chat", AIF_KIND_CHAT },
		{ "completion", AIF_KIND_COMPLETION },
		{ "embedding", AIF_KIND_EMBEDDING },
		{ "rerank", AIF_KIND_RERANK },
		{ "score", AIF_KIND_SCORE },
		{ "tokenize", AIF_KIND_TOKENIZE },
		{ "detokenize", AIF_KIND_DETOKENIZE },
		{ "responses", AIF_KIND_RESPONSES },
		{ "messages", AIF_KIND_MESSAGES },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		enum aif_kind k = AIF_KIND_EMBEDDING;
		assert_int_equal(aif_kind_parse(kinds[i].name, &k), 0);
		assert_int_equal(k, kinds[i].kind);
		assert_string_equal(aif_kind_name(kinds[i].kind), kinds[i].name);
	}
	{
		enum aif_kind k = AIF_KIND_CHAT;
		assert_int_equal(aif_kind_parse("image", &k), -1);
		assert_int_equal(aif_kind_parse(NULL, &k), -1);
		assert_int_equal(k, AIF_KIND_CHAT);	/* untouched */
		assert_string_equal(aif_kind_list(), "chat, completion, embedding, rerank, "
		    "score, tokenize, detokenize, responses, messages");
	}
}

static void
result_clear_releases_and_zeroes(void **state)
{
	struct aif_engine_result res, zero;
	size_t len;
	char *body = fixture("openai_chat.json", &len);

	(void)state;
	parse(AIF_KIND_CHAT, 200, body, &res);
	assert_non_null(res.response);
	aif_engine_result_clear(&res);
	memset(&zero, 0, sizeof(zero));
	assert_memory_equal(&res, &zero, sizeof(res));
	/* clearing twice is harmless */
	aif_engine_result_clear(&res);
	free(body);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(build_url_joins_replica_and_kind_path),
		cmocka_unit_test(native_paths_come_from_the_models_settings),
		cmocka_unit_test(build_body_swaps_model_and_keeps_every_other_field),
		cmocka_unit_test(build_body_len_is_the_body_length),
		cmocka_unit_test(build_sets_model_when_request_has_none),
		cmocka_unit_test(build_reads_only_len_bytes),
		cmocka_unit_test(build_rejects_invalid_json),
		cmocka_unit_test(build_rejects_unknown_kind),
		cmocka_unit_test(build_stream_request_asks_for_the_usage_chunk),
		cmocka_unit_test(build_non_stream_request_gets_no_stream_options),
		cmocka_unit_test(build_embedding_request_asks_engine_for_floats),
		cmocka_unit_test(build_accepts_url_that_just_fits),
		cmocka_unit_test(build_rejects_url_too_long),
		cmocka_unit_test(parse_success_extracts_usage),
		cmocka_unit_test(parse_success_sets_public_model_and_keeps_the_rest),
		cmocka_unit_test(parse_success_removes_engine_internals),
		cmocka_unit_test(parse_success_without_usage_counts_zero),
		cmocka_unit_test(parse_rejects_answers_that_are_not_answers),
		cmocka_unit_test(parse_malformed_200_is_retryable_502),
		cmocka_unit_test(parse_error_statuses_map_to_client_errors),
		cmocka_unit_test(parse_error_message_says_what_happened),
		cmocka_unit_test(parse_error_keeps_long_engine_message_in_bounds),
		cmocka_unit_test(parse_error_message_cut_stays_valid_utf8),
		cmocka_unit_test(parse_llamacpp_context_overflow_is_context_length_exceeded),
#define S(f) STREAM_TEST(f)
		S(stream_done_marker_ends_the_stream),
		S(stream_chunk_is_passed_on_with_public_model),
		S(stream_keeps_the_first_id_and_last_finish_reason),
		S(stream_usage_chunk_gives_tokens_and_no_chunk),
		S(stream_error_event_of_bad_request_is_fatal_400),
		S(stream_error_event_of_engine_failure_is_retryable),
		S(stream_malformed_event_is_retryable_502),
		S(stream_responses_events_pass_through_stamped),
		S(stream_messages_events_pass_through_stamped),
#undef S
		cmocka_unit_test(build_surface_requests_go_to_their_paths),
		cmocka_unit_test(parse_surface_answers_in_their_own_words),
		cmocka_unit_test(find_returns_the_openai_adapter),
		cmocka_unit_test(find_unknown_adapter_is_null),
		cmocka_unit_test(transport_failure_timeout_is_504),
		cmocka_unit_test(engine_timeout_status_sets_the_timeout_class),
		cmocka_unit_test(transport_failure_unreachable_is_503),
		cmocka_unit_test(transport_failure_long_text_is_cut),
		cmocka_unit_test(kind_names_round_trip),
		cmocka_unit_test(result_clear_releases_and_zeroes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
