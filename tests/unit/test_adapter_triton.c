/* test_adapter_triton.c -- unit tests of adapters/triton.c: KServe v2 infer and generate
 * request building (URLs, tensors, datatypes, the request id that carries max_tokens
 * and the prompt's size and hash), answer parsing (flat and nested BYTES, prompt echo,
 * finish reason, approximate usage, embeddings), error classification and
 * /generate_stream events. Engine bodies follow the recorded examples of
 * the KServe v2 protocol and Triton's generate extension (docs/ADAPTERS.md). Runs with
 * cwd tests/unit. */
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
#include "triton.h"

#include "adapter_fixtures.h"

static struct aif_replica replica = {
	.url = "http://127.0.0.1:9103", .max_in_flight = 64,
};

/* The `triton:` section of a model in generate mode; the others use the defaults. */
static struct aif_cfg_option generate_mode[] = { { .key = "mode", .value = "generate" } };

static struct aif_model infer_model = {
	.id = "demo-triton-infer", .adapter = "triton", .engine = "triton",
	.upstream_model = "ensemble", .owned_by = "aif-demo",
	.kinds = AIF_KIND_CHAT | AIF_KIND_COMPLETION,
	.replicas = &replica, .nreplicas = 1, .max_in_flight = 64, .timeout_ms = 30000,
	.max_attempts = 3, .max_output_tokens = 512, .chat_template = "chatml",
};

static struct aif_model gen_model = {
	.id = "demo-triton", .adapter = "triton", .engine = "triton",
	.upstream_model = "ensemble", .owned_by = "aif-demo",
	.kinds = AIF_KIND_CHAT | AIF_KIND_COMPLETION,
	.replicas = &replica, .nreplicas = 1, .max_in_flight = 64, .timeout_ms = 30000,
	.max_attempts = 3, .max_output_tokens = 512, .chat_template = "chatml",
	.options = generate_mode, .noptions = 1,
};

static struct aif_model embed_model = {
	.id = "demo-triton-embed", .adapter = "triton", .engine = "triton",
	.upstream_model = "mock-embed", .owned_by = "aif-demo",
	.kinds = AIF_KIND_EMBEDDING,
	.replicas = &replica, .nreplicas = 1, .max_in_flight = 64, .timeout_ms = 30000,
	.max_attempts = 3, .max_output_tokens = 512, .chat_template = "chatml",
};

/* Builds `req` for model m; on AIF_OK *body is the parsed engine body (new). */
static enum aif_err
build(const struct aif_model *m, enum aif_kind kind, const char *req,
    struct aif_engine_req *out, json_t **body)
{
	enum aif_err err;

	*body = NULL;
	err = aif_adapter_triton.build(m, &replica, kind, req, strlen(req), out);
	if (err == AIF_OK) {
		*body = json_loads(out->body, 0, NULL);
		assert_non_null(*body);
		assert_int_equal(out->body_len, strlen(out->body));
	} else {
		assert_null(out->body);
	}
	return err;
}

static void
parse(const struct aif_model *m, enum aif_kind kind, long status, const char *body,
    struct aif_engine_result *out)
{
	adapter_parse(&aif_adapter_triton, m, kind, status, body, out);
}

/* The input tensor named `name` of an infer body (borrowed), or NULL. */
static const json_t *
input_named(const json_t *body, const char *name)
{
	const json_t *t;
	size_t i;

	json_array_foreach(json_object_get(body, "inputs"), i, t)
		if (strcmp(json_string_value(json_object_get(t, "name")), name) == 0)
			return t;
	return NULL;
}

/* Asserts tensor `name` of body is exactly `want` (JSON). */
static void
expect_tensor(const json_t *body, const char *name, const char *want)
{
	json_t *w = json_loads(want, 0, NULL);
	const json_t *t = input_named(body, name);

	assert_non_null(w);
	if (t == NULL || !json_equal(t, w)) {
		char *got = t ? json_dumps(t, JSON_COMPACT) : NULL;
		fail_msg("tensor %s:\n got %s\nwant %s", name, got ? got : "(none)", want);
	}
	json_decref(w);
}

/* Asserts the infer body asks for exactly the output `name`. */
static void
expect_outputs(const json_t *body, const char *name)
{
	json_t *w = json_pack("[{s:s}]", "name", name);

	assert_true(json_equal(json_object_get(body, "outputs"), w));
	json_decref(w);
}

static const char *
first_text(const json_t *resp)
{
	const json_t *ch = json_array_get(json_object_get(resp, "choices"), 0);
	const json_t *msg = json_object_get(ch, "message");

	return json_string_value(msg ? json_object_get(msg, "content") :
	    json_object_get(ch, "text"));
}

static const char *
first_finish(const json_t *resp)
{
	return json_string_value(json_object_get(json_array_get(json_object_get(resp,
	    "choices"), 0), "finish_reason"));
}

/* ------------------------------------------------------------------ tokens */

static void
count_tokens_approximates_words_and_punctuation(void **state)
{
	static const struct {
		const char	*text;
		int64_t		 want;
	} cases[] = {
		{ "", 0 }, { "   \n\t ", 0 }, { "Hello, world!", 4 }, { "a b  c", 3 },
		{ "Mock answer to: alpha", 5 }, { "[[mock:tokens=5]]", 9 },
		{ "snake_case x2", 2 }, { "h\xc3\xa9llo w\xc3\xb6rld", 2 },
		{ "<|im_start|>user\nHi<|im_end|>", 12 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		if (aif_triton_count_tokens(cases[i].text, strlen(cases[i].text)) !=
		    cases[i].want)
			fail_msg("\"%s\": %lld, want %lld", cases[i].text,
			    (long long)aif_triton_count_tokens(cases[i].text,
			    strlen(cases[i].text)), (long long)cases[i].want);
}

/* ------------------------------------------------------------------ build */

static void
build_infer_sends_typed_tensors_and_asks_for_text_output(void **state)
{
	static const char req[] = "{\"model\":\"demo-triton-infer\",\"messages\":["
	    "{\"role\":\"user\",\"content\":\"What is ML?\"}],\"max_tokens\":64}";
	struct aif_engine_req out;
	json_t *body;

	(void)state;
	assert_int_equal(build(&infer_model, AIF_KIND_CHAT, req, &out, &body), AIF_OK);
	assert_string_equal(out.url, "http://127.0.0.1:9103/v2/models/ensemble/infer");
	expect_tensor(body, "text_input", "{\"name\":\"text_input\",\"shape\":[1,1],"
	    "\"datatype\":\"BYTES\",\"data\":[\"<|im_start|>user\\nWhat is ML?<|im_end|>\\n"
	    "<|im_start|>assistant\\n\"]}");
	expect_tensor(body, "max_tokens", "{\"name\":\"max_tokens\",\"shape\":[1,1],"
	    "\"datatype\":\"INT32\",\"data\":[64]}");
	expect_tensor(body, "stream", "{\"name\":\"stream\",\"shape\":[1,1],"
	    "\"datatype\":\"BOOL\",\"data\":[false]}");
	assert_null(input_named(body, "temperature"));
	assert_null(input_named(body, "top_p"));
	assert_int_equal(json_array_size(json_object_get(body, "inputs")), 3);
	expect_outputs(body, "text_output");
	/* the id carries max_tokens, the prompt's tokens, bytes and hash */
	assert_true(strncmp(json_string_value(json_object_get(body, "id")), "aif1-64-", 8) == 0);
	json_decref(body);
	free(out.body);
}

static void
build_infer_uses_configured_names_types_and_sampling(void **state)
{
	static const char req[] = "{\"prompt\":[\"Say this\"],\"temperature\":0.5,"
	    "\"top_p\":0.25}";
	struct aif_cfg_option names[] = {
		{ .key = "text_input", .value = "PROMPT" },
		{ .key = "text_output", .value = "OUT" },
		{ .key = "max_tokens_input", .value = "request_output_len" },
		{ .key = "max_tokens_type", .value = "UINT32" },
		{ .key = "stream_input", .value = "streaming" },
	};
	struct aif_model m = infer_model;
	struct aif_engine_req out;
	json_t *body;

	(void)state;
	m.upstream_model = "llama_ensemble";
	m.options = names;
	m.noptions = sizeof(names) / sizeof(names[0]);
	assert_int_equal(build(&m, AIF_KIND_COMPLETION, req, &out, &body), AIF_OK);
	assert_string_equal(out.url, "http://127.0.0.1:9103/v2/models/llama_ensemble/infer");
	expect_tensor(body, "PROMPT", "{\"name\":\"PROMPT\",\"shape\":[1,1],"
	    "\"datatype\":\"BYTES\",\"data\":[\"Say this\"]}");
	/* completions default to 16 tokens, as OpenAI's */
	expect_tensor(body, "request_output_len", "{\"name\":\"request_output_len\","
	    "\"shape\":[1,1],\"datatype\":\"UINT32\",\"data\":[16]}");
	expect_tensor(body, "temperature", "{\"name\":\"temperature\",\"shape\":[1,1],"
	    "\"datatype\":\"FP32\",\"data\":[0.5]}");
	expect_tensor(body, "top_p", "{\"name\":\"top_p\",\"shape\":[1,1],"
	    "\"datatype\":\"FP32\",\"data\":[0.25]}");
	expect_tensor(body, "streaming", "{\"name\":\"streaming\",\"shape\":[1,1],"
	    "\"datatype\":\"BOOL\",\"data\":[false]}");
	expect_outputs(body, "OUT");
	json_decref(body);
	free(out.body);
}

static void
build_max_tokens_defaults(void **state)
{
	static const struct {
		enum aif_kind	 kind;
		const char	*req;
		const char	*id_prefix;
	} cases[] = {
		/* chat without a limit: the model's max_output_tokens (512 here) */
		{ AIF_KIND_CHAT, "{\"messages\":[]}", "aif1-512-" },
		{ AIF_KIND_CHAT, "{\"messages\":[],\"max_tokens\":8,\"max_completion_tokens\":9}",
		    "aif1-9-" },
		{ AIF_KIND_COMPLETION, "{\"prompt\":\"x\"}", "aif1-16-" },
		{ AIF_KIND_COMPLETION, "{\"prompt\":\"x\",\"max_tokens\":3}", "aif1-3-" },
		/* temperature 0 and top_p 1 are the engine's defaults: not sent */
		{ AIF_KIND_COMPLETION, "{\"prompt\":\"x\",\"temperature\":0,\"top_p\":1}",
		    "aif1-16-" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct aif_engine_req out;
		json_t *body;
		const char *id;

		assert_int_equal(build(&infer_model, cases[i].kind, cases[i].req, &out, &body),
		    AIF_OK);
		id = json_string_value(json_object_get(body, "id"));
		if (strncmp(id, cases[i].id_prefix, strlen(cases[i].id_prefix)) != 0)
			fail_msg("%s: id %s", cases[i].req, id);
		assert_null(input_named(body, "temperature"));
		assert_null(input_named(body, "top_p"));
		json_decref(body);
		free(out.body);
	}
}

static void
build_generate_mode_sends_top_level_keys(void **state)
{
	static const char req[] = "{\"prompt\":\"What is machine learning?\","
	    "\"max_tokens\":20,\"temperature\":0.7}";
	static const char sreq[] = "{\"prompt\":\"What is machine learning?\","
	    "\"max_tokens\":20,\"stream\":true}";
	struct aif_engine_req out;
	json_t *body;

	(void)state;
	assert_int_equal(build(&gen_model, AIF_KIND_COMPLETION, req, &out, &body), AIF_OK);
	assert_string_equal(out.url, "http://127.0.0.1:9103/v2/models/ensemble/generate");
	assert_string_equal(json_string_value(json_object_get(body, "text_input")),
	    "What is machine learning?");
	assert_int_equal(json_integer_value(json_object_get(body, "max_tokens")), 20);
	assert_true(json_number_value(json_object_get(body, "temperature")) == 0.7);
	assert_true(json_is_false(json_object_get(body, "stream")));
	assert_null(json_object_get(body, "inputs"));
	assert_null(json_object_get(body, "prompt"));
	json_decref(body);
	free(out.body);

	assert_int_equal(build(&gen_model, AIF_KIND_COMPLETION, sreq, &out, &body), AIF_OK);
	assert_string_equal(out.url,
	    "http://127.0.0.1:9103/v2/models/ensemble/generate_stream");
	assert_true(json_is_true(json_object_get(body, "stream")));
	json_decref(body);
	free(out.body);
}

static void
build_embedding_sends_all_inputs_as_one_bytes_tensor(void **state)
{
	static const char req[] = "{\"model\":\"demo-triton-embed\",\"input\":[\"first text\","
	    "\"second\"],\"encoding_format\":\"base64\"}";
	struct aif_engine_req out;
	json_t *body;

	(void)state;
	assert_int_equal(build(&embed_model, AIF_KIND_EMBEDDING, req, &out, &body), AIF_OK);
	assert_string_equal(out.url, "http://127.0.0.1:9103/v2/models/mock-embed/infer");
	expect_tensor(body, "text_input", "{\"name\":\"text_input\",\"shape\":[2,1],"
	    "\"datatype\":\"BYTES\",\"data\":[\"first text\",\"second\"]}");
	assert_int_equal(json_array_size(json_object_get(body, "inputs")), 1);
	expect_outputs(body, "embedding");
	/* two inputs, three tokens */
	assert_true(strncmp(json_string_value(json_object_get(body, "id")), "aif1-2-3-", 9) == 0);
	json_decref(body);
	free(out.body);

	/* a single string is a batch of one */
	assert_int_equal(build(&embed_model, AIF_KIND_EMBEDDING, "{\"input\":\"x\"}", &out,
	    &body), AIF_OK);
	expect_tensor(body, "text_input", "{\"name\":\"text_input\",\"shape\":[1,1],"
	    "\"datatype\":\"BYTES\",\"data\":[\"x\"]}");
	json_decref(body);
	free(out.body);
}

static void
build_rejects_what_triton_cannot_serve(void **state)
{
	static const struct {
		const struct aif_model *m;
		enum aif_kind	 kind;
		const char	*req;
	} bad[] = {
		/* infer mode cannot stream */
		{ &infer_model, AIF_KIND_CHAT, "{\"messages\":[],\"stream\":true}" },
		{ &infer_model, AIF_KIND_COMPLETION, "{\"prompt\":[\"a\",\"b\"]}" },
		{ &infer_model, AIF_KIND_COMPLETION, "{\"prompt\":[1,2]}" },
		{ &infer_model, AIF_KIND_COMPLETION, "{\"prompt\":\"x\",\"n\":3}" },
		{ &gen_model, AIF_KIND_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":"
		    "[{\"type\":\"input_audio\"}]}]}" },
		{ &embed_model, AIF_KIND_EMBEDDING, "{\"input\":[[1,2,3]]}" },
		{ &embed_model, AIF_KIND_EMBEDDING, "{\"input\":[\"a\",7]}" },
		{ &embed_model, AIF_KIND_EMBEDDING, "{\"input\":[]}" },
		{ &embed_model, AIF_KIND_EMBEDDING, "{\"input\":\"a\",\"dimensions\":4}" },
		{ &embed_model, AIF_KIND_EMBEDDING, "{}" },
		{ &embed_model, (enum aif_kind)0, "{\"input\":\"a\"}" },
		{ &embed_model, AIF_KIND_EMBEDDING, "not json" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct aif_engine_req out;
		json_t *body;

		memset(&out, 0x5a, sizeof(out));
		if (build(bad[i].m, bad[i].kind, bad[i].req, &out, &body) != AIF_INVALID)
			fail_msg("accepted %s", bad[i].req);
		assert_null(out.body);
		assert_string_equal(out.url, "");
	}
}

/* ------------------------------------------------------------------ parse */

/* Builds `req` with model m and returns the request id the engine would echo. */
static char *
request_id(const struct aif_model *m, enum aif_kind kind, const char *req)
{
	struct aif_engine_req out;
	json_t *body;
	char *id;

	assert_int_equal(build(m, kind, req, &out, &body), AIF_OK);
	id = strdup(json_string_value(json_object_get(body, "id")));
	json_decref(body);
	free(out.body);
	return id;
}

static void
parse_infer_answer_flat_or_nested(void **state)
{
	static const char *const bodies[] = {
		"{\"model_name\":\"ensemble\",\"model_version\":\"1\",\"outputs\":[{\"name\":"
		    "\"text_output\",\"datatype\":\"BYTES\",\"shape\":[1,1],\"data\":"
		    "[\"Machine learning is fun\"]}]}",
		"{\"model_name\":\"ensemble\",\"model_version\":\"1\",\"outputs\":["
		    "{\"name\":\"cum_log_probs\",\"datatype\":\"FP32\",\"shape\":[1,1],"
		    "\"data\":[0.0]},{\"name\":\"text_output\",\"datatype\":\"BYTES\","
		    "\"shape\":[1,1],\"data\":[[\"Machine learning is fun\"]]}]}",
	};

	(void)state;
	for (size_t i = 0; i < 2; i++) {
		struct aif_engine_result res;

		parse(&infer_model, AIF_KIND_CHAT, 200, bodies[i], &res);
		assert_int_equal(res.failure, AIF_FAIL_NONE);
		assert_string_equal(json_string_value(json_object_get(res.response, "object")),
		    "chat.completion");
		assert_string_equal(json_string_value(json_object_get(res.response, "model")),
		    "demo-triton-infer");
		assert_string_equal(first_text(res.response), "Machine learning is fun");
		/* no echoed id: no prompt count, no max_tokens to compare with */
		assert_string_equal(first_finish(res.response), "stop");
		assert_int_equal(res.prompt_tokens, 0);
		assert_int_equal(res.completion_tokens, 4);
		aif_engine_result_clear(&res);
	}
}

static void
parse_uses_the_echoed_id_for_usage_finish_and_prompt_echo(void **state)
{
	static const char req[] = "{\"prompt\":\"hello world\",\"max_tokens\":5}";
	char *id = request_id(&infer_model, AIF_KIND_COMPLETION, req);
	char body[512];
	struct aif_engine_result res;

	(void)state;
	/* the deployment echoes the prompt, and the answer reached max_tokens */
	snprintf(body, sizeof(body), "{\"id\":\"%s\",\"model_name\":\"ensemble\","
	    "\"model_version\":\"1\",\"outputs\":[{\"name\":\"text_output\",\"datatype\":"
	    "\"BYTES\",\"shape\":[1,1],\"data\":[\"hello worldMock answer to: hello\"]}]}", id);
	parse(&infer_model, AIF_KIND_COMPLETION, 200, body, &res);
	assert_int_equal(res.failure, AIF_FAIL_NONE);
	assert_string_equal(json_string_value(json_object_get(res.response, "object")),
	    "text_completion");
	assert_string_equal(first_text(res.response), "Mock answer to: hello");
	assert_string_equal(first_finish(res.response), "length");
	assert_int_equal(res.prompt_tokens, 2);
	assert_int_equal(res.completion_tokens, 5);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(res.response,
	    "usage"), "total_tokens")), 7);
	aif_engine_result_clear(&res);

	/* no echo, shorter than max_tokens: kept as is, "stop" */
	snprintf(body, sizeof(body), "{\"id\":\"%s\",\"outputs\":[{\"name\":\"text_output\","
	    "\"datatype\":\"BYTES\",\"shape\":[1,1],\"data\":[\"hello\"]}]}", id);
	parse(&infer_model, AIF_KIND_COMPLETION, 200, body, &res);
	assert_string_equal(first_text(res.response), "hello");
	assert_string_equal(first_finish(res.response), "stop");
	aif_engine_result_clear(&res);

	/* text of the prompt's length that differs from it is not cut */
	snprintf(body, sizeof(body), "{\"id\":\"%s\",\"outputs\":[{\"name\":\"text_output\","
	    "\"datatype\":\"BYTES\",\"shape\":[1,1],\"data\":[\"hello World!\"]}]}", id);
	parse(&infer_model, AIF_KIND_COMPLETION, 200, body, &res);
	assert_string_equal(first_text(res.response), "hello World!");
	aif_engine_result_clear(&res);
	free(id);
}

static void
parse_ignores_ids_that_are_not_ours(void **state)
{
	static const char *const ids[] = {
		"42", "aif1-", "aif1-5-2-11", "aif1-5-2-11-zz", "aif1-x-2-11-00ff",
		"aif1-5-2-11-00ff-", "aif1-99999999999999999999-1-1-1", "aif1- 5-2-11-00",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
		char body[256];
		struct aif_engine_result res;

		snprintf(body, sizeof(body), "{\"id\":\"%s\",\"text_output\":\"a b c d e f\"}",
		    ids[i]);
		parse(&gen_model, AIF_KIND_COMPLETION, 200, body, &res);
		assert_int_equal(res.failure, AIF_FAIL_NONE);
		if (res.prompt_tokens != 0 || strcmp(first_finish(res.response), "stop") != 0)
			fail_msg("id %s was taken for ours", ids[i]);
		aif_engine_result_clear(&res);
	}
}

static void
parse_generate_answer(void **state)
{
	struct aif_engine_result res;

	(void)state;
	/* an answer of a TensorRT-LLM ensemble, as Triton returns it */
	parse(&gen_model, AIF_KIND_CHAT, 200, "{\"context_logits\":0.0,\"cum_log_probs\":0.0,"
	    "\"generation_logits\":0.0,\"model_name\":\"ensemble\",\"model_version\":\"1\","
	    "\"output_log_probs\":[0.0,0.0],\"sequence_end\":false,\"sequence_id\":0,"
	    "\"sequence_start\":false,\"text_output\":\" Machine learning is\"}", &res);
	assert_int_equal(res.failure, AIF_FAIL_NONE);
	assert_string_equal(first_text(res.response), " Machine learning is");
	assert_int_equal(res.completion_tokens, 3);
	aif_engine_result_clear(&res);
}

static void
parse_malformed_200_is_retryable_502(void **state)
{
	static const struct {
		const struct aif_model *m;
		const char	*body;
	} bad[] = {
		{ &infer_model, "" }, { &infer_model, "[]" }, { &infer_model, "{}" },
		{ &infer_model, "{\"outputs\":[]}" },
		{ &infer_model, "{\"outputs\":[{\"name\":\"other\",\"data\":[\"x\"]}]}" },
		{ &infer_model, "{\"outputs\":[{\"name\":\"text_output\",\"data\":[1]}]}" },
		{ &infer_model, "{\"outputs\":[{\"name\":\"text_output\",\"data\":[]}]}" },
		{ &gen_model, "{\"model_name\":\"ensemble\"}" },
		{ &gen_model, "{\"text_output\":null}" },
		{ &gen_model, "{\"error\":\"x\",\"text_output\":\"y\"}" },
		{ &gen_model, "{\"text_output\":[[[[[[[[[[\"deep\"]]]]]]]]]]}" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct aif_engine_result res;

		parse(bad[i].m, AIF_KIND_CHAT, 200, bad[i].body, &res);
		if (res.failure != AIF_FAIL_RETRYABLE || res.error.status != 502 ||
		    strcmp(res.error.code, "engine_bad_response") != 0)
			fail_msg("%s: failure %d code %s", bad[i].body, res.failure,
			    res.error.code);
		assert_null(res.response);
	}
}

static void
parse_embeddings_flat_and_nested(void **state)
{
	static const char *const bodies[] = {
		"\"model_name\":\"mock-embed\",\"outputs\":[{\"name\":\"embedding\","
		    "\"datatype\":\"FP32\",\"shape\":[2,3],\"data\":[0.5,-0.25,1,0,0.125,2]}]}",
		"\"outputs\":[{\"name\":\"embedding\",\"datatype\":\"FP32\","
		    "\"shape\":[2,3],\"data\":[[0.5,-0.25,1],[0,0.125,2]]}]}",
		/* without our id: no usage, no row check */
		"\"outputs\":[{\"name\":\"embedding\",\"datatype\":\"FP32\","
		    "\"shape\":[2,1,3],\"data\":[[[0.5,-0.25,1]],[[0,0.125,2]]]}]}",
	};
	char *id = request_id(&embed_model, AIF_KIND_EMBEDDING,
	    "{\"input\":[\"first text\",\"second\"]}");
	json_t *want = json_loads("[{\"object\":\"embedding\",\"index\":0,\"embedding\":"
	    "[0.5,-0.25,1.0]},{\"object\":\"embedding\",\"index\":1,\"embedding\":"
	    "[0.0,0.125,2.0]}]", 0, NULL);

	(void)state;
	for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
		char body[512];
		struct aif_engine_result res;

		snprintf(body, sizeof(body), "{\"id\":\"%s\",%s", i < 2 ? id : "x", bodies[i]);
		parse(&embed_model, AIF_KIND_EMBEDDING, 200, body, &res);
		assert_int_equal(res.failure, AIF_FAIL_NONE);
		assert_string_equal(json_string_value(json_object_get(res.response, "object")),
		    "list");
		assert_string_equal(json_string_value(json_object_get(res.response, "model")),
		    "demo-triton-embed");
		if (!json_equal(json_object_get(res.response, "data"), want))
			fail_msg("case %zu: %s", i, json_dumps(res.response, JSON_COMPACT));
		assert_int_equal(res.prompt_tokens, i < 2 ? 3 : 0);
		assert_int_equal(res.completion_tokens, 0);
		assert_int_equal(json_integer_value(json_object_get(json_object_get(res.response,
		    "usage"), "prompt_tokens")), i < 2 ? 3 : 0);
		aif_engine_result_clear(&res);
	}
	json_decref(want);
	free(id);
}

static void
parse_embeddings_that_do_not_fit_are_retryable_502(void **state)
{
	static const char *const bad[] = {
		/* 2 inputs sent (id), 1 vector back */
		"\"outputs\":[{\"name\":\"embedding\",\"shape\":[1,3],"
		    "\"data\":[1,2,3]}]}",
		"\"outputs\":[{\"name\":\"embedding\",\"shape\":[2,3],"
		    "\"data\":[1,2,3,4,5]}]}",
		"\"outputs\":[{\"name\":\"embedding\",\"shape\":[2,3],"
		    "\"data\":[1,2,3,4,5,\"6\"]}]}",
		"\"outputs\":[{\"name\":\"embedding\",\"shape\":[2,0],"
		    "\"data\":[]}]}",
		"\"outputs\":[{\"name\":\"embedding\",\"shape\":[],"
		    "\"data\":[]}]}",
		"\"outputs\":[{\"name\":\"embedding\",\"shape\":[2,-1],"
		    "\"data\":[1,2]}]}",
		"\"outputs\":[{\"name\":\"vectors\",\"shape\":[2,1],"
		    "\"data\":[1,2]}]}",
		"\"outputs\":[{\"name\":\"embedding\",\"shape\":[2,1],"
		    "\"data\":null}]}",
	};
	char *id = request_id(&embed_model, AIF_KIND_EMBEDDING, "{\"input\":[\"a\",\"b\"]}");

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char body[512];
		struct aif_engine_result res;

		snprintf(body, sizeof(body), "{\"id\":\"%s\",%s", id, bad[i]);
		parse(&embed_model, AIF_KIND_EMBEDDING, 200, body, &res);
		if (res.failure != AIF_FAIL_RETRYABLE ||
		    strcmp(res.error.code, "engine_bad_response") != 0)
			fail_msg("accepted %s", body);
		assert_null(res.response);
	}
	free(id);
}

/* struct err_case and check_error: adapter_fixtures.h */
static const struct err_case err_cases[] = {
	{ "400 invalid argument", 400,
	    "{\"error\":\"[request id: aif1-1-1-1-1] stop_words must be a list\"}",
	    AIF_FAIL_FATAL, 400, "invalid_request_error", "engine_rejected_request",
	    "stop_words must be a list", NULL },
	{ "400 prompt too long (TensorRT-LLM)", 400,
	    "{\"error\":\"Prompt length (5000) exceeds maximum input length (4096).\"}",
	    AIF_FAIL_FATAL, 400, "invalid_request_error", "context_length_exceeded",
	    "exceeds maximum input length", NULL },
	{ "400 wrong tensor name: the gateway's configuration", 400,
	    "{\"error\":\"[request id: <id_unknown>] unexpected inference input 'prompt' for "
	    "model 'ensemble'\"}",
	    AIF_FAIL_FATAL, 502, "server_error", "engine_misconfigured",
	    "unexpected inference input", NULL },
	{ "400 wrong datatype: triton.max_tokens_type", 400,
	    "{\"error\":\"inference input 'max_tokens' data-type is 'INT32', but model "
	    "'ensemble' expects 'UINT32'\"}",
	    AIF_FAIL_FATAL, 502, "server_error", "engine_misconfigured",
	    "expects 'UINT32'", NULL },
	{ "400 unknown model (older Triton)", 400,
	    "{\"error\":\"Request for unknown model: 'ensembel' is not found\"}",
	    AIF_FAIL_FATAL, 502, "server_error", "engine_misconfigured", "unknown model", NULL },
	{ "400 queue full (older Triton)", 400,
	    "{\"error\":\"Exceeds maximum queue size\"}",
	    AIF_FAIL_OVERLOADED, 503, "server_error", "engine_overloaded", NULL, NULL },
	{ "400 SSE-framed first error of /generate_stream", 400,
	    "data: {\"error\":\"in ensemble 'ensemble', Encountered error for requestId 1: "
	    "top_p must be in (0, 1]\"}\n\n",
	    AIF_FAIL_FATAL, 400, "invalid_request_error", "engine_rejected_request",
	    "top_p must be in (0, 1]", NULL },
	{ "404 unknown model", 404,
	    "{\"error\":\"Request for unknown model: 'nope' is not found\"}",
	    AIF_FAIL_FATAL, 502, "server_error", "engine_misconfigured", "HTTP 404", NULL },
	{ "501 decoupled model on /infer", 501,
	    "{\"error\":\"HTTP end point doesn't support models with decoupled transaction "
	    "policy\"}",
	    AIF_FAIL_FATAL, 502, "server_error", "engine_misconfigured", "HTTP 501", NULL },
	{ "503 queue full", 503, "{\"error\":\"Exceeds maximum queue size\"}",
	    AIF_FAIL_OVERLOADED, 503, "server_error", "engine_overloaded", "HTTP 503", NULL },
	{ "503 unavailable", 503, "{\"error\":\"Server not ready\"}",
	    AIF_FAIL_OVERLOADED, 503, "server_error", "engine_overloaded", "HTTP 503", NULL },
	{ "429 from a proxy", 429, "",
	    AIF_FAIL_OVERLOADED, 503, "server_error", "engine_overloaded", "HTTP 429", NULL },
	{ "500 internal", 500,
	    "{\"error\":\"in ensemble 'ensemble', CUDA failure on 'my secret prompt'\"}",
	    AIF_FAIL_RETRYABLE, 502, "server_error", "engine_error", "HTTP 500", "secret" },
	{ "504 proxy timeout", 504, "<html>504</html>",
	    AIF_FAIL_RETRYABLE, 504, "server_error", "engine_timeout", "HTTP 504", "<html>" },
	{ "400 non-JSON", 400, "Bad Request",
	    AIF_FAIL_FATAL, 400, "invalid_request_error", "engine_rejected_request",
	    "non-JSON", NULL },
};

static void
parse_error_statuses_map_to_client_errors(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(err_cases) / sizeof(err_cases[0]); i++) {
		struct aif_engine_result res;

		parse(&gen_model, AIF_KIND_CHAT, err_cases[i].status, err_cases[i].body, &res);
		check_error(&err_cases[i], &res);
	}
}

/* ------------------------------------------------------------------ streaming */

/* The stream tests run with the fixture of adapter_fixtures.h, the id preset to
 * STREAM_ID and created to STREAM_CREATED. */
#define STREAM_ID	"cmpl-job_test"

static enum aif_failure
event(struct stream_fixture *f, enum aif_kind kind, const char *data)
{
	return stream_event(&aif_adapter_triton, &gen_model, kind, f, data);
}

static const char *
chunk_text(const struct stream_fixture *f, size_t i, const char **finish)
{
	const json_t *ch = json_array_get(json_object_get(json_array_get(f->chunks, i),
	    "choices"), 0);
	const json_t *d = json_object_get(ch, "delta");

	*finish = json_string_value(json_object_get(ch, "finish_reason"));
	return json_string_value(d ? json_object_get(d, "content") : json_object_get(ch, "text"));
}

/* Events like the recorded `data: {"model_name":"ensemble",...,"text_output":" Machine"}`. */
#define EV(id, text) "{\"model_name\":\"ensemble\",\"model_version\":\"1\"," id \
	"\"cum_log_probs\":0.0,\"text_output\":\"" text "\"}"

static void
stream_events_become_chunks_and_eof_adds_the_finish(void **state)
{
	struct stream_fixture *f = *state;
	const char *fr;

	assert_int_equal(event(f, AIF_KIND_COMPLETION, EV("", " Machine")), AIF_FAIL_NONE);
	assert_int_equal(event(f, AIF_KIND_COMPLETION, EV("", " learning")), AIF_FAIL_NONE);
	assert_int_equal(event(f, AIF_KIND_COMPLETION, EV("", "")), AIF_FAIL_NONE);
	assert_int_equal(json_array_size(f->chunks), 2);
	assert_string_equal(chunk_text(f, 0, &fr), " Machine");
	assert_null(fr);
	assert_string_equal(chunk_text(f, 1, &fr), " learning");
	assert_false(f->st.done);
	assert_int_equal(f->st.completion_tokens, 2);
	aif_adapter_triton.end_stream(&gen_model, AIF_KIND_COMPLETION, &f->st, f->chunks);
	assert_int_equal(json_array_size(f->chunks), 3);
	assert_string_equal(chunk_text(f, 2, &fr), "");
	assert_string_equal(fr, "stop");
	assert_true(f->st.done);
	for (size_t i = 0; i < 3; i++) {
		const json_t *c = json_array_get(f->chunks, i);
		assert_string_equal(json_string_value(json_object_get(c, "id")), STREAM_ID);
		assert_int_equal(json_integer_value(json_object_get(c, "created")), STREAM_CREATED);
		assert_string_equal(json_string_value(json_object_get(c, "object")),
		    "text_completion");
		assert_string_equal(json_string_value(json_object_get(c, "model")), "demo-triton");
	}
}

static void
stream_chat_starts_with_the_role_chunk(void **state)
{
	struct stream_fixture *f = *state;
	const json_t *delta;
	const char *fr;

	assert_int_equal(event(f, AIF_KIND_CHAT, EV("", "Hi")), AIF_FAIL_NONE);
	assert_int_equal(json_array_size(f->chunks), 2);
	delta = json_object_get(json_array_get(json_object_get(json_array_get(f->chunks, 0),
	    "choices"), 0), "delta");
	assert_string_equal(json_string_value(json_object_get(delta, "role")), "assistant");
	assert_string_equal(chunk_text(f, 1, &fr), "Hi");
	assert_string_equal(json_string_value(json_object_get(json_array_get(f->chunks, 1),
	    "object")), "chat.completion.chunk");
	aif_adapter_triton.end_stream(&gen_model, AIF_KIND_CHAT, &f->st, f->chunks);
	assert_string_equal(chunk_text(f, 2, &fr), "");
	assert_string_equal(fr, "stop");
}

static void
stream_empty_chat_still_gets_role_and_finish(void **state)
{
	struct stream_fixture *f = *state;
	const char *fr;

	aif_adapter_triton.end_stream(&gen_model, AIF_KIND_CHAT, &f->st, f->chunks);
	assert_int_equal(json_array_size(f->chunks), 2);
	assert_string_equal(chunk_text(f, 1, &fr), "");
	assert_string_equal(fr, "stop");
}

static void
stream_with_our_id_knows_length_prompt_and_echo(void **state)
{
	struct stream_fixture *f = *state;
	char *id = request_id(&gen_model, AIF_KIND_COMPLETION,
	    "{\"prompt\":\"hello world\",\"max_tokens\":2,\"stream\":true}");
	char ev[512];
	const char *fr;

	/* the first event echoes the prompt */
	snprintf(ev, sizeof(ev), "{\"id\":\"%s\",\"text_output\":\"hello worldMock\"}", id);
	assert_int_equal(event(f, AIF_KIND_COMPLETION, ev), AIF_FAIL_NONE);
	assert_string_equal(chunk_text(f, 0, &fr), "Mock");
	assert_int_equal(f->st.prompt_tokens, 2);
	snprintf(ev, sizeof(ev), "{\"id\":\"%s\",\"text_output\":\" answer\"}", id);
	assert_int_equal(event(f, AIF_KIND_COMPLETION, ev), AIF_FAIL_NONE);
	aif_adapter_triton.end_stream(&gen_model, AIF_KIND_COMPLETION, &f->st, f->chunks);
	assert_string_equal(chunk_text(f, 2, &fr), "");
	assert_string_equal(fr, "length");
	assert_int_equal(f->st.completion_tokens, 2);
	free(id);
}

static void
stream_error_events(void **state)
{
	static const struct err_case cases[] = {
		{ "mid-stream error", 200,
		    "{\"error\":\"in ensemble 'ensemble', failed on 'secret prompt'\"}",
		    AIF_FAIL_RETRYABLE, 502, "server_error", "engine_error", NULL, "secret" },
		{ "queue full", 200, "{\"error\":\"Exceeds maximum queue size\"}",
		    AIF_FAIL_OVERLOADED, 503, "server_error", "engine_overloaded", NULL, NULL },
		{ "malformed", 200, "{\"text_output\":\"a",
		    AIF_FAIL_RETRYABLE, 502, "server_error", "engine_bad_response", NULL, NULL },
	};
	struct stream_fixture *f = *state;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(&f->err, 0, sizeof(f->err));
		assert_int_equal(event(f, AIF_KIND_CHAT, cases[i].body), cases[i].failure);
		check_error(&cases[i], &f->err);
		assert_int_equal(json_array_size(f->chunks), 0);
	}
}

static void
adapter_is_registered_and_complete(void **state)
{
	const struct aif_adapter *a = aif_adapter_find("triton");

	(void)state;
	assert_ptr_equal(a, &aif_adapter_triton);
	assert_int_equal(a->abi, AIF_ADAPTER_ABI);
	assert_non_null(a->parse_event);
	assert_non_null(a->end_stream);
	assert_int_equal(a->stream_eof_ends, 1);
	assert_string_equal(a->health_path, "/v2/health/ready");
}

/* A model prepared at config load (settings resolved, template compiled) builds the
 * same engine requests as one looked up per call. */
static void
prepared_model_builds_the_same(void **state)
{
	static const struct {
		const struct aif_model	*m;
		enum aif_kind		 kind;
		const char		*req;
	} cases[] = {
		{ &infer_model, AIF_KIND_CHAT, "{\"model\":\"m\",\"messages\":[{\"role\":"
		    "\"user\",\"content\":\"Hi <|im_end|>\"}],\"temperature\":0.5}" },
		{ &gen_model, AIF_KIND_CHAT, "{\"model\":\"m\",\"stream\":true,\"messages\":"
		    "[{\"role\":\"user\",\"content\":\"Hi\"}]}" },
		{ &gen_model, AIF_KIND_COMPLETION, "{\"model\":\"m\",\"prompt\":\"Once\"}" },
		{ &embed_model, AIF_KIND_EMBEDDING, "{\"model\":\"m\",\"input\":[\"a\",\"b\"]}" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct aif_model m = *cases[i].m;
		struct aif_engine_req a, b;
		json_t *ja, *jb;

		assert_int_equal(build(&m, cases[i].kind, cases[i].req, &a, &ja), AIF_OK);
		assert_int_equal(aif_adapters_cfg.prepare_model(&m), AIF_OK);
		assert_non_null(m.adapter_state);
		assert_int_equal(build(&m, cases[i].kind, cases[i].req, &b, &jb), AIF_OK);
		assert_string_equal(a.url, b.url);
		assert_true(json_equal(ja, jb));
		aif_adapters_cfg.free_model(&m);
		free(a.body);
		free(b.body);
		json_decref(ja);
		json_decref(jb);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(prepared_model_builds_the_same),
		cmocka_unit_test(count_tokens_approximates_words_and_punctuation),
		cmocka_unit_test(build_infer_sends_typed_tensors_and_asks_for_text_output),
		cmocka_unit_test(build_infer_uses_configured_names_types_and_sampling),
		cmocka_unit_test(build_max_tokens_defaults),
		cmocka_unit_test(build_generate_mode_sends_top_level_keys),
		cmocka_unit_test(build_embedding_sends_all_inputs_as_one_bytes_tensor),
		cmocka_unit_test(build_rejects_what_triton_cannot_serve),
		cmocka_unit_test(parse_infer_answer_flat_or_nested),
		cmocka_unit_test(parse_uses_the_echoed_id_for_usage_finish_and_prompt_echo),
		cmocka_unit_test(parse_ignores_ids_that_are_not_ours),
		cmocka_unit_test(parse_generate_answer),
		cmocka_unit_test(parse_malformed_200_is_retryable_502),
		cmocka_unit_test(parse_embeddings_flat_and_nested),
		cmocka_unit_test(parse_embeddings_that_do_not_fit_are_retryable_502),
		cmocka_unit_test(parse_error_statuses_map_to_client_errors),
#define S(f) STREAM_TEST_ID(f, STREAM_ID)
		S(stream_events_become_chunks_and_eof_adds_the_finish),
		S(stream_chat_starts_with_the_role_chunk),
		S(stream_empty_chat_still_gets_role_and_finish),
		S(stream_with_our_id_knows_length_prompt_and_echo),
		S(stream_error_events),
#undef S
		cmocka_unit_test(adapter_is_registered_and_complete),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
