/* test_adapter_tgi.c -- unit tests of adapters/tgi.c: request building (URL, prompt,
 * parameter mapping), response parsing (finish reasons, usage), error classification
 * for every status and body TGI sends, and /generate_stream events to chunks. The
 * engine bodies follow TGI's OpenAPI document (docs/ADAPTERS.md). Runs with cwd
 * tests/unit. */
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
#include "tgi.h"

#include "adapter_fixtures.h"

static struct aif_replica replica = {
	.url = "http://127.0.0.1:9102", .max_in_flight = 64,
};

static struct aif_model model = {
	.id = "demo-tgi", .adapter = "tgi", .engine = "tgi",
	.upstream_model = "mock-tgi", .owned_by = "aif-demo",
	.kinds = AIF_KIND_CHAT | AIF_KIND_COMPLETION,
	.replicas = &replica, .nreplicas = 1, .max_in_flight = 64, .timeout_ms = 30000,
	.max_attempts = 3, .max_output_tokens = 4096, .chat_template = "chatml",
};

/* Builds `req` for `kind`; on AIF_OK *body is the parsed engine body (new). */
static enum aif_err
build(enum aif_kind kind, const char *req, struct aif_engine_req *out, json_t **body)
{
	enum aif_err err;

	*body = NULL;
	err = aif_adapter_tgi.build(&model, &replica, kind, req, strlen(req), out);
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
parse(enum aif_kind kind, long status, const char *body, struct aif_engine_result *out)
{
	adapter_parse(&aif_adapter_tgi, &model, kind, status, body, out);
}

/* ------------------------------------------------------------------ build */

static void
build_url_is_generate_or_generate_stream(void **state)
{
	static const struct {
		const char	*url;
		const char	*req;
		const char	*want;
	} cases[] = {
		{ "http://127.0.0.1:9102", "{\"prompt\":\"x\"}", "http://127.0.0.1:9102/generate" },
		{ "http://tgi:80/", "{\"prompt\":\"x\",\"stream\":false}", "http://tgi:80/generate" },
		{ "http://tgi:80//", "{\"prompt\":\"x\",\"stream\":true}",
		    "http://tgi:80/generate_stream" },
		{ "https://gw.example/tgi/a", "{\"prompt\":\"x\",\"stream\":true}",
		    "https://gw.example/tgi/a/generate_stream" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct aif_replica r = { .url = (char *)cases[i].url };
		struct aif_engine_req req;

		assert_int_equal(aif_adapter_tgi.build(&model, &r, AIF_KIND_COMPLETION,
		    cases[i].req, strlen(cases[i].req), &req), AIF_OK);
		assert_string_equal(req.url, cases[i].want);
		free(req.body);
	}
}

static void
build_chat_renders_the_model_template(void **state)
{
	static const char req[] = "{\"model\":\"demo-tgi\",\"messages\":["
	    "{\"role\":\"system\",\"content\":\"Be brief.\"},"
	    "{\"role\":\"user\",\"content\":\"What is Deep Learning?\"}]}";
	struct aif_model llama = model;
	struct aif_engine_req out;
	json_t *body;

	(void)state;
	assert_int_equal(build(AIF_KIND_CHAT, req, &out, &body), AIF_OK);
	assert_string_equal(json_string_value(json_object_get(body, "inputs")),
	    "<|im_start|>system\nBe brief.<|im_end|>\n"
	    "<|im_start|>user\nWhat is Deep Learning?<|im_end|>\n<|im_start|>assistant\n");
	/* the canonical request's own fields never reach TGI */
	assert_null(json_object_get(body, "model"));
	assert_null(json_object_get(body, "messages"));
	json_decref(body);
	free(out.body);

	llama.chat_template = "llama3";
	assert_int_equal(aif_adapter_tgi.build(&llama, &replica, AIF_KIND_CHAT, req,
	    strlen(req), &out), AIF_OK);
	body = json_loads(out.body, 0, NULL);
	assert_string_equal(json_string_value(json_object_get(body, "inputs")),
	    "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nBe brief."
	    "<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nWhat is Deep Learning?"
	    "<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n");
	json_decref(body);
	free(out.body);
}

static void
build_completion_passes_the_prompt_as_is(void **state)
{
	static const char *const reqs[] = {
		"{\"prompt\":\"Say <|im_start|> this\"}",
		"{\"prompt\":[\"Say <|im_start|> this\"]}",
	};

	(void)state;
	for (size_t i = 0; i < 2; i++) {
		struct aif_engine_req out;
		json_t *body;

		assert_int_equal(build(AIF_KIND_COMPLETION, reqs[i], &out, &body), AIF_OK);
		assert_string_equal(json_string_value(json_object_get(body, "inputs")),
		    "Say <|im_start|> this");
		json_decref(body);
		free(out.body);
	}
}

/* One canonical request, and the `parameters` TGI must get for it (JSON, compared
 * exactly). */
struct param_case {
	enum aif_kind	 kind;
	const char	*req;
	const char	*params;
};

#define MSGS "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]"

static const struct param_case param_cases[] = {
	/* chat without a limit: TGI picks max_new_tokens; sampling is OpenAI's default */
	{ AIF_KIND_CHAT, "{" MSGS "}", "{\"do_sample\":true,\"details\":true}" },
	/* completions default to 16 tokens, as OpenAI's /v1/completions */
	{ AIF_KIND_COMPLETION, "{\"prompt\":\"p\"}",
	    "{\"max_new_tokens\":16,\"do_sample\":true,\"details\":true}" },
	{ AIF_KIND_CHAT, "{" MSGS ",\"max_tokens\":7}",
	    "{\"max_new_tokens\":7,\"do_sample\":true,\"details\":true}" },
	/* max_completion_tokens wins over the deprecated max_tokens */
	{ AIF_KIND_CHAT, "{" MSGS ",\"max_tokens\":7,\"max_completion_tokens\":9}",
	    "{\"max_new_tokens\":9,\"do_sample\":true,\"details\":true}" },
	{ AIF_KIND_COMPLETION, "{\"prompt\":\"p\",\"max_tokens\":null}",
	    "{\"max_new_tokens\":16,\"do_sample\":true,\"details\":true}" },
	/* stop: a string becomes an array; an array passes; null and [] are left out */
	{ AIF_KIND_COMPLETION, "{\"prompt\":\"p\",\"max_tokens\":3,\"stop\":\"\\n\"}",
	    "{\"max_new_tokens\":3,\"stop\":[\"\\n\"],\"do_sample\":true,\"details\":true}" },
	{ AIF_KIND_CHAT, "{" MSGS ",\"stop\":[\"a\",\"b\"]}",
	    "{\"stop\":[\"a\",\"b\"],\"do_sample\":true,\"details\":true}" },
	{ AIF_KIND_CHAT, "{" MSGS ",\"stop\":null}", "{\"do_sample\":true,\"details\":true}" },
	{ AIF_KIND_CHAT, "{" MSGS ",\"stop\":[]}", "{\"do_sample\":true,\"details\":true}" },
	/* temperature 0 is greedy: TGI rejects 0, so no temperature and no sampling */
	{ AIF_KIND_CHAT, "{" MSGS ",\"temperature\":0}",
	    "{\"do_sample\":false,\"details\":true}" },
	{ AIF_KIND_CHAT, "{" MSGS ",\"temperature\":0.5,\"top_p\":0.9,\"seed\":42}",
	    "{\"temperature\":0.5,\"top_p\":0.9,\"seed\":42,\"do_sample\":true,"
	    "\"details\":true}" },
	/* TGI wants 0 < top_p < 1: 1 (no filter) and 0 are left out; negative seeds too */
	{ AIF_KIND_CHAT, "{" MSGS ",\"top_p\":1,\"seed\":-1}",
	    "{\"do_sample\":true,\"details\":true}" },
	{ AIF_KIND_CHAT, "{" MSGS ",\"top_p\":0}", "{\"do_sample\":true,\"details\":true}" },
	{ AIF_KIND_CHAT, "{" MSGS ",\"frequency_penalty\":0.5,\"presence_penalty\":1}",
	    "{\"frequency_penalty\":0.5,\"do_sample\":true,\"details\":true}" },
	/* fields TGI's native API has no use for are not sent */
	{ AIF_KIND_CHAT, "{" MSGS ",\"user\":\"u\",\"logprobs\":true,\"n\":1,"
	    "\"stream_options\":{\"include_usage\":true},\"stream\":true}",
	    "{\"do_sample\":true,\"details\":true}" },
};

static void
build_maps_openai_parameters_to_tgi(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(param_cases) / sizeof(param_cases[0]); i++) {
		const struct param_case *c = &param_cases[i];
		struct aif_engine_req out;
		json_t *body, *want = json_loads(c->params, 0, NULL);

		assert_non_null(want);
		if (build(c->kind, c->req, &out, &body) != AIF_OK)
			fail_msg("%s: build failed", c->req);
		if (!json_equal(json_object_get(body, "parameters"), want)) {
			char *got = json_dumps(json_object_get(body, "parameters"),
			    JSON_COMPACT | JSON_SORT_KEYS);
			fail_msg("%s:\n got %s\nwant %s", c->req, got, c->params);
		}
		assert_int_equal(json_object_size(body), 2);	/* inputs, parameters */
		json_decref(want);
		json_decref(body);
		free(out.body);
	}
}

static void
build_rejects_what_tgi_cannot_serve(void **state)
{
	static const struct {
		enum aif_kind	 kind;
		const char	*req;
	} bad[] = {
		{ AIF_KIND_EMBEDDING, "{\"input\":\"x\"}" },
		{ (enum aif_kind)0, "{\"prompt\":\"x\"}" },
		{ AIF_KIND_COMPLETION, "{\"prompt\":[\"a\",\"b\"]}" },	/* one prompt only */
		{ AIF_KIND_COMPLETION, "{\"prompt\":[1,2,3]}" },	/* token ids */
		{ AIF_KIND_COMPLETION, "{\"prompt\":[[1,2]]}" },
		{ AIF_KIND_COMPLETION, "{\"prompt\":[]}" },
		{ AIF_KIND_COMPLETION, "{}" },
		{ AIF_KIND_COMPLETION, "{\"prompt\":\"x\",\"n\":2}" },	/* one sequence */
		{ AIF_KIND_COMPLETION, "{\"prompt\":\"x\",\"stop\":[\"a\",1]}" },
		{ AIF_KIND_CHAT, "{}" },
		{ AIF_KIND_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":"
		    "\"image_url\",\"image_url\":{\"url\":\"data:,\"}}]}]}" },
		{ AIF_KIND_CHAT, "not json" },
		{ AIF_KIND_CHAT, "[1]" },
		{ AIF_KIND_CHAT, "" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct aif_engine_req out;
		json_t *body;

		memset(&out, 0x5a, sizeof(out));
		if (build(bad[i].kind, bad[i].req, &out, &body) != AIF_INVALID)
			fail_msg("accepted %s", bad[i].req);
		assert_null(out.body);
		assert_string_equal(out.url, "");
	}
}

static void
build_rejects_url_too_long(void **state)
{
	char *u = malloc(AIF_ENGINE_URL_MAX + 1);
	struct aif_replica r = { .url = u };
	struct aif_engine_req out;
	static const char req[] = "{\"prompt\":\"x\",\"stream\":true}";
	size_t fit = AIF_ENGINE_URL_MAX - 1 - strlen("/generate_stream");

	(void)state;
	assert_non_null(u);
	memset(u, 'x', fit);
	memcpy(u, "http://h/", 9);
	u[fit] = '\0';
	assert_int_equal(aif_adapter_tgi.build(&model, &r, AIF_KIND_COMPLETION,
	    req, strlen(req), &out), AIF_OK);
	assert_int_equal(strlen(out.url), AIF_ENGINE_URL_MAX - 1);
	free(out.body);
	u[fit] = 'x';
	u[fit + 1] = '\0';
	assert_int_equal(aif_adapter_tgi.build(&model, &r, AIF_KIND_COMPLETION,
	    req, strlen(req), &out), AIF_TOOBIG);
	assert_null(out.body);
	free(u);
}

/* ------------------------------------------------------------------ parse */

/* A /generate answer as TGI documents it. */
#define GENERATE_OK "{\"generated_text\":\" Deep learning\",\"details\":{" \
	"\"finish_reason\":\"length\",\"generated_tokens\":2,\"seed\":null," \
	"\"prefill\":[{\"id\":1724,\"text\":\"What\",\"logprob\":null}]," \
	"\"tokens\":[{\"id\":21784,\"text\":\" Deep\",\"logprob\":-0.12,\"special\":false}," \
	"{\"id\":6975,\"text\":\" learning\",\"logprob\":-0.01,\"special\":false}]}}"

static void
parse_chat_answer_is_a_chat_completion(void **state)
{
	struct aif_engine_result res;
	const json_t *choice, *usage;

	(void)state;
	parse(AIF_KIND_CHAT, 200, GENERATE_OK, &res);
	assert_int_equal(res.failure, AIF_FAIL_NONE);
	assert_non_null(res.response);
	assert_string_equal(json_string_value(json_object_get(res.response, "object")),
	    "chat.completion");
	assert_string_equal(json_string_value(json_object_get(res.response, "model")),
	    "demo-tgi");
	assert_true(strncmp(json_string_value(json_object_get(res.response, "id")),
	    "chatcmpl-", 9) == 0);
	assert_true(json_integer_value(json_object_get(res.response, "created")) > 0);
	choice = json_array_get(json_object_get(res.response, "choices"), 0);
	assert_int_equal(json_integer_value(json_object_get(choice, "index")), 0);
	assert_string_equal(json_string_value(json_object_get(json_object_get(choice,
	    "message"), "role")), "assistant");
	assert_string_equal(json_string_value(json_object_get(json_object_get(choice,
	    "message"), "content")), " Deep learning");
	assert_string_equal(json_string_value(json_object_get(choice, "finish_reason")),
	    "length");
	/* prompt tokens: the prefill list (decoder_input_details) */
	usage = json_object_get(res.response, "usage");
	assert_int_equal(json_integer_value(json_object_get(usage, "prompt_tokens")), 1);
	assert_int_equal(json_integer_value(json_object_get(usage, "completion_tokens")), 2);
	assert_int_equal(json_integer_value(json_object_get(usage, "total_tokens")), 3);
	assert_int_equal(res.prompt_tokens, 1);
	assert_int_equal(res.completion_tokens, 2);
	aif_engine_result_clear(&res);
}

static void
parse_completion_answer_is_a_text_completion(void **state)
{
	struct aif_engine_result res;
	const json_t *choice;

	(void)state;
	parse(AIF_KIND_COMPLETION, 200, GENERATE_OK, &res);
	assert_int_equal(res.failure, AIF_FAIL_NONE);
	assert_string_equal(json_string_value(json_object_get(res.response, "object")),
	    "text_completion");
	assert_true(strncmp(json_string_value(json_object_get(res.response, "id")),
	    "cmpl-", 5) == 0);
	choice = json_array_get(json_object_get(res.response, "choices"), 0);
	assert_string_equal(json_string_value(json_object_get(choice, "text")),
	    " Deep learning");
	assert_true(json_is_null(json_object_get(choice, "logprobs")));
	assert_string_equal(json_string_value(json_object_get(choice, "finish_reason")),
	    "length");
	aif_engine_result_clear(&res);
}

static void
parse_maps_finish_reasons_and_usage(void **state)
{
	static const struct {
		const char	*body;
		const char	*finish;
		int64_t		 prompt, completion;
	} cases[] = {
		{ "{\"generated_text\":\"a\",\"details\":{\"finish_reason\":\"eos_token\","
		    "\"generated_tokens\":3,\"seed\":null,\"prefill\":[],\"tokens\":[]}}",
		    "stop", 0, 3 },
		{ "{\"generated_text\":\"a\",\"details\":{\"finish_reason\":\"stop_sequence\","
		    "\"generated_tokens\":5,\"seed\":7,\"prefill\":[],\"tokens\":[]}}",
		    "stop", 0, 5 },
		{ "{\"generated_text\":\"a\",\"details\":{\"finish_reason\":\"length\","
		    "\"generated_tokens\":4,\"input_length\":12}}", "length", 12, 4 },
		/* details is omitted when not asked for */
		{ "{\"generated_text\":\"\"}", "stop", 0, 0 },
		/* the `/` route answers with an array of one */
		{ "[{\"generated_text\":\"a\",\"details\":{\"finish_reason\":\"length\","
		    "\"generated_tokens\":1}}]", "length", 0, 1 },
		{ "{\"generated_text\":\"a\",\"details\":{\"finish_reason\":\"length\","
		    "\"generated_tokens\":-3}}", "length", 0, 0 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct aif_engine_result res;
		const json_t *choice;

		parse(AIF_KIND_CHAT, 200, cases[i].body, &res);
		if (res.failure != AIF_FAIL_NONE)
			fail_msg("%s: failure %d", cases[i].body, res.failure);
		choice = json_array_get(json_object_get(res.response, "choices"), 0);
		assert_string_equal(json_string_value(json_object_get(choice,
		    "finish_reason")), cases[i].finish);
		assert_int_equal(res.prompt_tokens, cases[i].prompt);
		assert_int_equal(res.completion_tokens, cases[i].completion);
		aif_engine_result_clear(&res);
	}
}

static void
parse_malformed_200_is_retryable_502(void **state)
{
	static const char *const bad[] = {
		"", "not json", "{}", "[]", "[1]", "{\"generated_text\":null}",
		"{\"generated_text\":7}", "{\"generated_text\":\" Deep",
		"{\"error\":\"x\",\"error_type\":\"generation\",\"generated_text\":\"\"}",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct aif_engine_result res;

		parse(AIF_KIND_CHAT, 200, bad[i], &res);
		if (res.failure != AIF_FAIL_RETRYABLE || res.error.status != 502 ||
		    strcmp(res.error.code, "engine_bad_response") != 0)
			fail_msg("%s: failure %d status %d code %s", bad[i], res.failure,
			    res.error.status, res.error.code);
		assert_null(res.response);
	}
}

/* struct err_case and check_error: adapter_fixtures.h */
static const struct err_case err_cases[] = {
	{ "422 validation", 422,
	    "{\"error\":\"Input validation error: `temperature` must be strictly positive\","
	    "\"error_type\":\"validation\"}",
	    AIF_FAIL_FATAL, 400, "invalid_request_error", "engine_rejected_request",
	    "`temperature` must be strictly positive", NULL },
	{ "422 prompt + max_new_tokens over the total", 422,
	    "{\"error\":\"Input validation error: `inputs` tokens + `max_new_tokens` must be "
	    "<= 2048. Given: 2000 `inputs` tokens and 100 `max_new_tokens`\","
	    "\"error_type\":\"validation\"}",
	    AIF_FAIL_FATAL, 400, "invalid_request_error", "context_length_exceeded",
	    "must be <= 2048", NULL },
	{ "422 prompt over max_input_tokens", 422,
	    "{\"error\":\"Input validation error: `inputs` must have less than 1024 tokens. "
	    "Given: 1500\",\"error_type\":\"validation\"}",
	    AIF_FAIL_FATAL, 400, "invalid_request_error", "context_length_exceeded",
	    "less than 1024 tokens", NULL },
	{ "422 template error", 422,
	    "{\"error\":\"Template error: unknown filter\",\"error_type\":\"template_error\"}",
	    AIF_FAIL_FATAL, 400, "invalid_request_error", "engine_rejected_request",
	    "Template error", NULL },
	{ "422 axum rejection (plain text)", 422,
	    "Failed to deserialize the JSON body into the target type: missing field `inputs`",
	    AIF_FAIL_FATAL, 400, "invalid_request_error", "engine_rejected_request",
	    "non-JSON", "deserialize" },
	{ "424 generation", 424,
	    "{\"error\":\"Request failed during generation: Server error: CUDA OOM on "
	    "'secret prompt'\",\"error_type\":\"generation\"}",
	    AIF_FAIL_RETRYABLE, 502, "server_error", "engine_error", "HTTP 424", "secret" },
	{ "429 overloaded", 429,
	    "{\"error\":\"Model is overloaded\",\"error_type\":\"overloaded\"}",
	    AIF_FAIL_OVERLOADED, 503, "server_error", "engine_overloaded", "HTTP 429", NULL },
	{ "503 unhealthy", 503, "{\"error\":\"unhealthy\",\"error_type\":\"healthcheck\"}",
	    AIF_FAIL_OVERLOADED, 503, "server_error", "engine_overloaded", "HTTP 503", NULL },
	{ "500 incomplete generation", 500,
	    "{\"error\":\"Incomplete generation\",\"error_type\":\"incomplete_generation\"}",
	    AIF_FAIL_RETRYABLE, 502, "server_error", "engine_error", "HTTP 500",
	    "Incomplete" },
	{ "502 proxy page", 502, "<html>Bad Gateway</html>",
	    AIF_FAIL_RETRYABLE, 502, "server_error", "engine_error", "HTTP 502", "<html>" },
	{ "504 timeout", 504, "",
	    AIF_FAIL_RETRYABLE, 504, "server_error", "engine_timeout", "HTTP 504", NULL },
	{ "404 empty (wrong path)", 404, "",
	    AIF_FAIL_FATAL, 502, "server_error", "engine_misconfigured", "HTTP 404", NULL },
	{ "401 api key", 401, "{\"error\":\"Unauthorized\",\"error_type\":\"authentication\"}",
	    AIF_FAIL_FATAL, 502, "server_error", "engine_misconfigured", "HTTP 401",
	    "Unauthorized" },
};

static void
parse_error_statuses_map_to_client_errors(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(err_cases) / sizeof(err_cases[0]); i++) {
		struct aif_engine_result res;

		parse(AIF_KIND_CHAT, err_cases[i].status, err_cases[i].body, &res);
		check_error(&err_cases[i], &res);
	}
}

/* ------------------------------------------------------------------ streaming */

/* The stream tests run with the fixture of adapter_fixtures.h, the id preset to
 * STREAM_ID (TGI's stream has none) and created to STREAM_CREATED. */
#define STREAM_ID	"chatcmpl-job_test"

static enum aif_failure
event(struct stream_fixture *f, enum aif_kind kind, const char *data)
{
	return stream_event(&aif_adapter_tgi, &model, kind, f, data);
}

/* /generate_stream events as TGI documents them. */
static const char *const recorded[] = {
	"{\"index\":1,\"token\":{\"id\":21784,\"text\":\" Deep\",\"logprob\":-0.12,"
	    "\"special\":false},\"generated_text\":null,\"details\":null}",
	"{\"index\":2,\"token\":{\"id\":6975,\"text\":\" learning\",\"logprob\":-0.01,"
	    "\"special\":false},\"generated_text\":\" Deep learning\",\"details\":{"
	    "\"finish_reason\":\"length\",\"generated_tokens\":2,\"seed\":null,"
	    "\"input_length\":6}}",
};

/* Checks chunk i: the stream's id/created/model, and its delta content or text. */
static void
check_chunk(const struct stream_fixture *f, enum aif_kind kind, size_t i,
    const char *text, const char *finish)
{
	const json_t *c = json_array_get(f->chunks, i), *ch, *fr;

	assert_non_null(c);
	assert_string_equal(json_string_value(json_object_get(c, "id")), STREAM_ID);
	assert_int_equal(json_integer_value(json_object_get(c, "created")), STREAM_CREATED);
	assert_string_equal(json_string_value(json_object_get(c, "model")), "demo-tgi");
	assert_string_equal(json_string_value(json_object_get(c, "object")),
	    kind == AIF_KIND_CHAT ? "chat.completion.chunk" : "text_completion");
	ch = json_array_get(json_object_get(c, "choices"), 0);
	assert_int_equal(json_integer_value(json_object_get(ch, "index")), 0);
	if (kind == AIF_KIND_CHAT)
		assert_string_equal(json_string_value(json_object_get(json_object_get(ch,
		    "delta"), "content")), text);
	else
		assert_string_equal(json_string_value(json_object_get(ch, "text")), text);
	fr = json_object_get(ch, "finish_reason");
	if (finish == NULL)
		assert_true(json_is_null(fr));
	else
		assert_string_equal(json_string_value(fr), finish);
}

static void
stream_chat_events_become_role_content_and_finish_chunks(void **state)
{
	struct stream_fixture *f = *state;
	const json_t *delta;

	assert_int_equal(event(f, AIF_KIND_CHAT, recorded[0]), AIF_FAIL_NONE);
	assert_int_equal(json_array_size(f->chunks), 2);
	delta = json_object_get(json_array_get(json_object_get(json_array_get(f->chunks, 0),
	    "choices"), 0), "delta");
	assert_string_equal(json_string_value(json_object_get(delta, "role")), "assistant");
	assert_string_equal(json_string_value(json_object_get(delta, "content")), "");
	check_chunk(f, AIF_KIND_CHAT, 1, " Deep", NULL);
	assert_false(f->st.done);
	assert_int_equal(event(f, AIF_KIND_CHAT, recorded[1]), AIF_FAIL_NONE);
	assert_int_equal(json_array_size(f->chunks), 3);
	check_chunk(f, AIF_KIND_CHAT, 2, " learning", "length");
	assert_true(f->st.done);
	assert_int_equal(f->st.prompt_tokens, 6);
	assert_int_equal(f->st.completion_tokens, 2);
	assert_string_equal(f->st.finish_reason, "length");
	assert_int_equal(f->st.events, 2);
}

static void
stream_completion_events_have_no_role_chunk(void **state)
{
	struct stream_fixture *f = *state;

	assert_int_equal(event(f, AIF_KIND_COMPLETION, recorded[0]), AIF_FAIL_NONE);
	assert_int_equal(event(f, AIF_KIND_COMPLETION, recorded[1]), AIF_FAIL_NONE);
	assert_int_equal(json_array_size(f->chunks), 2);
	check_chunk(f, AIF_KIND_COMPLETION, 0, " Deep", NULL);
	check_chunk(f, AIF_KIND_COMPLETION, 1, " learning", "length");
	assert_true(f->st.done);
}

static void
stream_eos_token_is_not_text_and_finishes_with_stop(void **state)
{
	struct stream_fixture *f = *state;

	assert_int_equal(event(f, AIF_KIND_COMPLETION,
	    "{\"index\":1,\"token\":{\"id\":9,\"text\":\"Hi\",\"logprob\":-1,\"special\":false},"
	    "\"generated_text\":null,\"details\":null}"), AIF_FAIL_NONE);
	assert_int_equal(event(f, AIF_KIND_COMPLETION,
	    "{\"index\":2,\"token\":{\"id\":2,\"text\":\"</s>\",\"logprob\":-0.01,"
	    "\"special\":true},\"generated_text\":\"Hi\",\"details\":{\"finish_reason\":"
	    "\"eos_token\",\"generated_tokens\":2,\"seed\":null,\"input_length\":3}}"),
	    AIF_FAIL_NONE);
	assert_int_equal(json_array_size(f->chunks), 2);
	check_chunk(f, AIF_KIND_COMPLETION, 1, "", "stop");
	assert_int_equal(f->st.completion_tokens, 2);
	assert_int_equal(f->st.prompt_tokens, 3);
}

static void
stream_stop_sequence_finishes_with_stop(void **state)
{
	struct stream_fixture *f = *state;

	assert_int_equal(event(f, AIF_KIND_COMPLETION,
	    "{\"index\":1,\"token\":{\"id\":9,\"text\":\" you\",\"logprob\":-1,"
	    "\"special\":false},\"generated_text\":\" you\",\"details\":{\"finish_reason\":"
	    "\"stop_sequence\",\"generated_tokens\":1,\"seed\":null,\"input_length\":2}}"),
	    AIF_FAIL_NONE);
	check_chunk(f, AIF_KIND_COMPLETION, 0, " you", "stop");
}

/* Without details (an engine that ignored details:true) tokens are counted per event. */
static void
stream_without_details_counts_one_token_per_event(void **state)
{
	struct stream_fixture *f = *state;

	assert_int_equal(event(f, AIF_KIND_COMPLETION,
	    "{\"index\":1,\"token\":{\"id\":1,\"text\":\"a\",\"special\":false},"
	    "\"generated_text\":null,\"details\":null}"), AIF_FAIL_NONE);
	assert_int_equal(event(f, AIF_KIND_COMPLETION,
	    "{\"index\":2,\"token\":{\"id\":2,\"text\":\"b\",\"special\":false},"
	    "\"generated_text\":\"ab\",\"details\":null}"), AIF_FAIL_NONE);
	assert_int_equal(f->st.completion_tokens, 2);
	assert_int_equal(f->st.prompt_tokens, 0);
	check_chunk(f, AIF_KIND_COMPLETION, 1, "b", "stop");
	/* nothing after the last event */
	assert_int_equal(event(f, AIF_KIND_COMPLETION,
	    "{\"index\":3,\"token\":{\"id\":3,\"text\":\"c\",\"special\":false},"
	    "\"generated_text\":null,\"details\":null}"), AIF_FAIL_NONE);
	assert_int_equal(json_array_size(f->chunks), 2);
}

static void
stream_error_events_are_classified_by_error_type(void **state)
{
	static const struct err_case cases[] = {
		{ "overloaded", 200,
		    "{\"error\":\"Model is overloaded\",\"error_type\":\"overloaded\"}",
		    AIF_FAIL_OVERLOADED, 503, "server_error", "engine_overloaded", NULL, NULL },
		{ "validation", 200,
		    "{\"error\":\"Input validation error: `best_of` != 1 is not supported when "
		    "streaming tokens\",\"error_type\":\"validation\"}",
		    AIF_FAIL_FATAL, 400, "invalid_request_error", "engine_rejected_request",
		    "`best_of` != 1", NULL },
		{ "validation, context", 200,
		    "{\"error\":\"Input validation error: `inputs` tokens + `max_new_tokens` "
		    "must be <= 8192. Given: 9000 `inputs` tokens and 16 `max_new_tokens`\","
		    "\"error_type\":\"validation\"}",
		    AIF_FAIL_FATAL, 400, "invalid_request_error", "context_length_exceeded",
		    NULL, NULL },
		{ "generation", 200,
		    "{\"error\":\"Request failed during generation: boom\","
		    "\"error_type\":\"generation\"}",
		    AIF_FAIL_RETRYABLE, 502, "server_error", "engine_error", NULL, "boom" },
		{ "incomplete_generation_stream", 200,
		    "{\"error\":\"Incomplete generation stream\","
		    "\"error_type\":\"incomplete_generation_stream\"}",
		    AIF_FAIL_RETRYABLE, 502, "server_error", "engine_error", NULL, NULL },
		{ "no type", 200, "{\"error\":\"x\"}",
		    AIF_FAIL_RETRYABLE, 502, "server_error", "engine_error", NULL, NULL },
		{ "malformed event", 200, "{\"index\":1,\"token\":",
		    AIF_FAIL_RETRYABLE, 502, "server_error", "engine_bad_response", NULL, NULL },
		{ "not an object", 200, "[DONE]",
		    AIF_FAIL_RETRYABLE, 502, "server_error", "engine_bad_response", NULL, NULL },
	};
	struct stream_fixture *f = *state;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		enum aif_failure got;

		memset(&f->err, 0, sizeof(f->err));
		got = event(f, AIF_KIND_CHAT, cases[i].body);
		assert_int_equal(got, cases[i].failure);
		check_error(&cases[i], &f->err);
		assert_int_equal(json_array_size(f->chunks), 0);
		assert_false(f->st.done);
	}
}

static void
adapter_is_registered_and_complete(void **state)
{
	const struct aif_adapter *a = aif_adapter_find("tgi");

	(void)state;
	assert_ptr_equal(a, &aif_adapter_tgi);
	assert_int_equal(a->abi, AIF_ADAPTER_ABI);
	assert_non_null(a->build);
	assert_non_null(a->parse);
	assert_non_null(a->parse_event);
	assert_int_equal(a->stream_eof_ends, 0);
	assert_string_equal(a->health_path, "/health");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(build_url_is_generate_or_generate_stream),
		cmocka_unit_test(build_chat_renders_the_model_template),
		cmocka_unit_test(build_completion_passes_the_prompt_as_is),
		cmocka_unit_test(build_maps_openai_parameters_to_tgi),
		cmocka_unit_test(build_rejects_what_tgi_cannot_serve),
		cmocka_unit_test(build_rejects_url_too_long),
		cmocka_unit_test(parse_chat_answer_is_a_chat_completion),
		cmocka_unit_test(parse_completion_answer_is_a_text_completion),
		cmocka_unit_test(parse_maps_finish_reasons_and_usage),
		cmocka_unit_test(parse_malformed_200_is_retryable_502),
		cmocka_unit_test(parse_error_statuses_map_to_client_errors),
#define S(f) STREAM_TEST_ID(f, STREAM_ID)
		S(stream_chat_events_become_role_content_and_finish_chunks),
		S(stream_completion_events_have_no_role_chunk),
		S(stream_eos_token_is_not_text_and_finishes_with_stop),
		S(stream_stop_sequence_finishes_with_stop),
		S(stream_without_details_counts_one_token_per_event),
		S(stream_error_events_are_classified_by_error_type),
#undef S
		cmocka_unit_test(adapter_is_registered_and_complete),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
