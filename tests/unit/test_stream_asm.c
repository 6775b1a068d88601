/* test_stream_asm.c -- unit tests of core/protocol/stream_asm.c: streamed chunks put back
 * together into the full response a non-streaming call returns (chat.completion with
 * content, finish reason, several choices and merged tool calls; text_completion),
 * chunks without choices ignored, the byte cap (text and tool calls together) and the
 * choice cap, linear assembly of many tool-call deltas, the id, created, model
 * and usage of the result, and the exact shape of the include_usage chunk. Expected
 * responses are written out in full and compared with json_equal. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "stream_asm.h"

#define ASM_MAX		(8u << 20)	/* the assembler's byte cap in these tests */
#define ASM_CHOICES	128

/* Adds the chunk given as JSON text; returns what aif_stream_asm_add returned. */
static enum aif_err
add(struct aif_stream_asm *a, const char *chunk_json)
{
	json_error_t	 jerr;
	json_t		*c = json_loads(chunk_json, 0, &jerr);
	enum aif_err	 err;

	if (c == NULL)
		fail_msg("bad chunk in the test: %s: %s", jerr.text, chunk_json);
	err = aif_stream_asm_add(a, c);
	json_decref(c);
	return err;
}

/* Asserts that `got` (consumed) equals the JSON text `want`. */
static void
expect_json(json_t *got, const char *want)
{
	json_t *w = json_loads(want, 0, NULL);

	assert_non_null(w);
	assert_non_null(got);
	if (!json_equal(got, w)) {
		char *g = json_dumps(got, JSON_COMPACT | JSON_SORT_KEYS);

		fail_msg("got  %s\nwant %s", g, want);
	}
	json_decref(w);
	json_decref(got);
}

/* A chat chunk of choice `idx` with the given delta and finish_reason (JSON text). */
#define CHAT(idx, delta, finish) \
	"{\"id\":\"chatcmpl-engine\",\"object\":\"chat.completion.chunk\"," \
	"\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":" #idx ",\"delta\":" \
	delta ",\"logprobs\":null,\"finish_reason\":" finish "}]}"

#define USAGE_21 "{\"prompt_tokens\":9,\"completion_tokens\":12,\"total_tokens\":21}"

/* ------------------------------------------------------------------ chat */

static void
chat_chunks_become_one_chat_completion(void **state)
{
	struct aif_stream_asm *a = aif_stream_asm_new(AIF_KIND_CHAT, ASM_MAX, ASM_CHOICES);

	(void)state;
	assert_non_null(a);
	assert_int_equal(add(a, CHAT(0, "{\"role\":\"assistant\",\"content\":\"\"}", "null")),
	    AIF_OK);
	assert_int_equal(add(a, CHAT(0, "{\"content\":\"Hello\"}", "null")), AIF_OK);
	assert_int_equal(add(a, CHAT(0, "{\"content\":\", wor\"}", "null")), AIF_OK);
	assert_int_equal(add(a, CHAT(0, "{\"content\":\"ld \\u00e9\\n\"}", "null")), AIF_OK);
	assert_int_equal(add(a, CHAT(0, "{}", "\"stop\"")), AIF_OK);
	expect_json(aif_stream_asm_result(a, "chatcmpl-job_1", 1790000000, "demo-chat", 9,
	    12),
	    "{\"id\":\"chatcmpl-job_1\",\"object\":\"chat.completion\",\"created\":1790000000,"
	    "\"model\":\"demo-chat\",\"choices\":[{\"index\":0,\"message\":{\"role\":"
	    "\"assistant\",\"content\":\"Hello, world \\u00e9\\n\",\"refusal\":null},"
	    "\"logprobs\":null,\"finish_reason\":\"stop\"}],\"usage\":" USAGE_21 "}");
	aif_stream_asm_free(a);
}

/* The last finish_reason given wins; a null one later does not erase it. */
static void
finish_reason_is_the_last_one_given(void **state)
{
	struct aif_stream_asm *a = aif_stream_asm_new(AIF_KIND_CHAT, ASM_MAX, ASM_CHOICES);
	json_t *r;

	(void)state;
	assert_int_equal(add(a, CHAT(0, "{\"content\":\"a\"}", "null")), AIF_OK);
	r = aif_stream_asm_result(a, "x", 1, "m", 0, 0);
	assert_true(json_is_null(json_object_get(json_array_get(json_object_get(r,
	    "choices"), 0), "finish_reason")));
	json_decref(r);
	assert_int_equal(add(a, CHAT(0, "{}", "\"length\"")), AIF_OK);
	assert_int_equal(add(a, CHAT(0, "{}", "null")), AIF_OK);
	r = aif_stream_asm_result(a, "x", 1, "m", 0, 0);
	assert_string_equal(json_string_value(json_object_get(json_array_get(
	    json_object_get(r, "choices"), 0), "finish_reason")), "length");
	json_decref(r);
	aif_stream_asm_free(a);
}

/* n > 1: interleaved chunks of several choices are kept apart by index, in index
 * order; an index no chunk used is left out; an out-of-range index is refused. */
static void
several_choices_are_assembled_by_index(void **state)
{
	struct aif_stream_asm *a = aif_stream_asm_new(AIF_KIND_CHAT, ASM_MAX, ASM_CHOICES);

	(void)state;
	assert_int_equal(add(a, CHAT(2, "{\"content\":\"C1\"}", "null")), AIF_OK);
	assert_int_equal(add(a, CHAT(0, "{\"content\":\"A1\"}", "null")), AIF_OK);
	assert_int_equal(add(a, CHAT(2, "{\"content\":\"C2\"}", "\"length\"")), AIF_OK);
	assert_int_equal(add(a, CHAT(0, "{\"content\":\"A2\"}", "\"stop\"")), AIF_OK);
	/* an index the request cannot have asked for refuses the answer */
	assert_int_equal(add(a, CHAT(-1, "{\"content\":\"neg\"}", "\"stop\"")), AIF_TOOBIG);
	assert_int_equal(add(a, CHAT(100000, "{\"content\":\"far\"}", "\"stop\"")),
	    AIF_TOOBIG);
	/* one chunk may carry several choices */
	assert_int_equal(add(a, "{\"choices\":[{\"index\":0,\"delta\":{\"content\":\"A3\"}},"
	    "{\"index\":2,\"delta\":{\"content\":\"C3\"}}]}"), AIF_OK);
	expect_json(aif_stream_asm_result(a, "chatcmpl-n", 5, "demo-chat", 3, 8),
	    "{\"id\":\"chatcmpl-n\",\"object\":\"chat.completion\",\"created\":5,"
	    "\"model\":\"demo-chat\",\"choices\":["
	    "{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"A1A2A3\","
	    "\"refusal\":null},\"logprobs\":null,\"finish_reason\":\"stop\"},"
	    "{\"index\":2,\"message\":{\"role\":\"assistant\",\"content\":\"C1C2C3\","
	    "\"refusal\":null},\"logprobs\":null,\"finish_reason\":\"length\"}],"
	    "\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":8,\"total_tokens\":11}}");
	aif_stream_asm_free(a);
}

/* Tool calls stream as deltas: the first of an index brings id, type and name, the
 * next ones pieces of the arguments, which are concatenated. */
static void
tool_call_deltas_are_merged_by_index(void **state)
{
	struct aif_stream_asm *a = aif_stream_asm_new(AIF_KIND_CHAT, ASM_MAX, ASM_CHOICES);
	json_t *r, *msg;

	(void)state;
	assert_int_equal(add(a, CHAT(0, "{\"role\":\"assistant\",\"content\":null,"
	    "\"tool_calls\":[{\"index\":0,\"id\":\"call_a\",\"type\":\"function\","
	    "\"function\":{\"name\":\"get_weather\",\"arguments\":\"\"}}]}", "null")), AIF_OK);
	assert_int_equal(add(a, CHAT(0, "{\"tool_calls\":[{\"index\":0,\"function\":"
	    "{\"arguments\":\"{\\\"city\\\":\"}}]}", "null")), AIF_OK);
	assert_int_equal(add(a, CHAT(0, "{\"tool_calls\":[{\"index\":1,\"id\":\"call_b\","
	    "\"type\":\"function\",\"function\":{\"name\":\"get_time\",\"arguments\":"
	    "\"{\\\"tz\\\"\"}}]}", "null")), AIF_OK);
	assert_int_equal(add(a, CHAT(0, "{\"tool_calls\":[{\"index\":0,\"function\":"
	    "{\"arguments\":\"\\\"Seoul\\\"}\"}},{\"index\":1,\"function\":{\"arguments\":"
	    "\":\\\"KST\\\"}\"}}]}", "null")), AIF_OK);
	assert_int_equal(add(a, CHAT(0, "{}", "\"tool_calls\"")), AIF_OK);
	r = aif_stream_asm_result(a, "chatcmpl-t", 1, "demo-chat", 0, 0);
	msg = json_object_get(json_array_get(json_object_get(r, "choices"), 0), "message");
	expect_json(json_incref(json_object_get(msg, "tool_calls")),
	    "[{\"id\":\"call_a\",\"type\":\"function\",\"function\":{\"name\":\"get_weather\","
	    "\"arguments\":\"{\\\"city\\\":\\\"Seoul\\\"}\"}},"
	    "{\"id\":\"call_b\",\"type\":\"function\",\"function\":{\"name\":\"get_time\","
	    "\"arguments\":\"{\\\"tz\\\":\\\"KST\\\"}\"}}]");
	assert_string_equal(json_string_value(json_object_get(msg, "role")), "assistant");
	assert_string_equal(json_string_value(json_object_get(json_array_get(
	    json_object_get(r, "choices"), 0), "finish_reason")), "tool_calls");
	json_decref(r);
	aif_stream_asm_free(a);
}

static void
message_without_tool_calls_has_no_tool_calls_field(void **state)
{
	struct aif_stream_asm *a = aif_stream_asm_new(AIF_KIND_CHAT, ASM_MAX, ASM_CHOICES);
	json_t *r, *msg;

	(void)state;
	assert_int_equal(add(a, CHAT(0, "{\"content\":\"plain\"}", "\"stop\"")), AIF_OK);
	/* an empty tool_calls list adds none */
	assert_int_equal(add(a, CHAT(0, "{\"tool_calls\":[]}", "null")), AIF_OK);
	r = aif_stream_asm_result(a, "x", 1, "m", 0, 0);
	msg = json_object_get(json_array_get(json_object_get(r, "choices"), 0), "message");
	assert_non_null(msg);
	assert_string_equal(json_string_value(json_object_get(msg, "content")), "plain");
	assert_null(json_object_get(msg, "tool_calls"));
	json_decref(r);
	aif_stream_asm_free(a);
}

/* A tool-call index far out of range is ignored rather than padded up to. */
static void
tool_call_index_out_of_range_is_ignored(void **state)
{
	struct aif_stream_asm *a = aif_stream_asm_new(AIF_KIND_CHAT, ASM_MAX, ASM_CHOICES);
	json_t *r, *msg;

	(void)state;
	assert_int_equal(add(a, CHAT(0, "{\"tool_calls\":[{\"index\":100000,\"id\":\"c\","
	    "\"function\":{\"name\":\"f\",\"arguments\":\"{}\"}},{\"index\":-1,"
	    "\"id\":\"d\",\"function\":{\"name\":\"g\",\"arguments\":\"{}\"}}]}", "null")),
	    AIF_OK);
	r = aif_stream_asm_result(a, "x", 1, "m", 0, 0);
	msg = json_object_get(json_array_get(json_object_get(r, "choices"), 0), "message");
	assert_non_null(msg);
	assert_null(json_object_get(msg, "tool_calls"));
	json_decref(r);
	aif_stream_asm_free(a);
}

/* ------------------------------------------------------------------ completion */

static void
completion_chunks_become_one_text_completion(void **state)
{
	struct aif_stream_asm *a = aif_stream_asm_new(AIF_KIND_COMPLETION, ASM_MAX, ASM_CHOICES);

	(void)state;
	assert_non_null(a);
	assert_int_equal(add(a, "{\"id\":\"cmpl-e\",\"object\":\"text_completion\","
	    "\"created\":1,\"model\":\"m\",\"choices\":[{\"text\":\" Deep\",\"index\":0,"
	    "\"logprobs\":null,\"finish_reason\":null}]}"), AIF_OK);
	assert_int_equal(add(a, "{\"choices\":[{\"text\":\" learning\",\"index\":0,"
	    "\"logprobs\":null,\"finish_reason\":\"length\"}]}"), AIF_OK);
	/* n = 2: the second sequence */
	assert_int_equal(add(a, "{\"choices\":[{\"text\":\" AI\",\"index\":1,"
	    "\"logprobs\":null,\"finish_reason\":\"stop\"}]}"), AIF_OK);
	/* a chat delta means nothing to a completion */
	assert_int_equal(add(a, "{\"choices\":[{\"index\":0,\"delta\":{\"content\":\"X\"}}]}"),
	    AIF_OK);
	expect_json(aif_stream_asm_result(a, "cmpl-job_2", 1790000001, "demo-tgi", 6, 2),
	    "{\"id\":\"cmpl-job_2\",\"object\":\"text_completion\",\"created\":1790000001,"
	    "\"model\":\"demo-tgi\",\"choices\":[{\"text\":\" Deep learning\",\"index\":0,"
	    "\"logprobs\":null,\"finish_reason\":\"length\"},{\"text\":\" AI\",\"index\":1,"
	    "\"logprobs\":null,\"finish_reason\":\"stop\"}],\"usage\":"
	    "{\"prompt_tokens\":6,\"completion_tokens\":2,\"total_tokens\":8}}");
	aif_stream_asm_free(a);
}

/* ------------------------------------------------------------------ ignored chunks */

/* The engine's usage chunk (choices: []), chunks without choices or with a choices
 * value that is no array change nothing. */
static void
chunks_without_choices_are_ignored(void **state)
{
	static const char *const ignored[] = {
		"{\"id\":\"chatcmpl-engine\",\"object\":\"chat.completion.chunk\",\"created\":1,"
		    "\"model\":\"m\",\"choices\":[],\"usage\":" USAGE_21 "}",
		"{\"id\":\"chatcmpl-engine\"}",
		"{}",
		"{\"choices\":null}",
		"{\"choices\":{\"index\":0,\"delta\":{\"content\":\"obj\"}}}",
		"[1,2]",
	};
	struct aif_stream_asm *a = aif_stream_asm_new(AIF_KIND_CHAT, ASM_MAX, ASM_CHOICES);

	(void)state;
	assert_int_equal(add(a, CHAT(0, "{\"content\":\"kept\"}", "null")), AIF_OK);
	for (size_t i = 0; i < sizeof(ignored) / sizeof(ignored[0]); i++)
		if (add(a, ignored[i]) != AIF_OK)
			fail_msg("refused %s", ignored[i]);
	expect_json(aif_stream_asm_result(a, "chatcmpl-i", 2, "demo-chat", 1, 1),
	    "{\"id\":\"chatcmpl-i\",\"object\":\"chat.completion\",\"created\":2,"
	    "\"model\":\"demo-chat\",\"choices\":[{\"index\":0,\"message\":{\"role\":"
	    "\"assistant\",\"content\":\"kept\",\"refusal\":null},\"logprobs\":null,"
	    "\"finish_reason\":null}],\"usage\":{\"prompt_tokens\":1,"
	    "\"completion_tokens\":1,\"total_tokens\":2}}");
	aif_stream_asm_free(a);
}

/* A stream that ended before any text still answers with choice 0, empty. */
static void
empty_stream_gives_one_empty_choice(void **state)
{
	struct aif_stream_asm *chat = aif_stream_asm_new(AIF_KIND_CHAT, ASM_MAX, ASM_CHOICES);
	struct aif_stream_asm *cmpl = aif_stream_asm_new(AIF_KIND_COMPLETION, ASM_MAX, ASM_CHOICES);

	(void)state;
	expect_json(aif_stream_asm_result(chat, "c", 0, "m", 0, 0),
	    "{\"id\":\"c\",\"object\":\"chat.completion\",\"created\":0,\"model\":\"m\","
	    "\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"\","
	    "\"refusal\":null},\"logprobs\":null,\"finish_reason\":null}],\"usage\":"
	    "{\"prompt_tokens\":0,\"completion_tokens\":0,\"total_tokens\":0}}");
	expect_json(aif_stream_asm_result(cmpl, "t", 0, "m", 0, 0),
	    "{\"id\":\"t\",\"object\":\"text_completion\",\"created\":0,\"model\":\"m\","
	    "\"choices\":[{\"text\":\"\",\"index\":0,\"logprobs\":null,"
	    "\"finish_reason\":null}],\"usage\":"
	    "{\"prompt_tokens\":0,\"completion_tokens\":0,\"total_tokens\":0}}");
	aif_stream_asm_free(chat);
	aif_stream_asm_free(cmpl);
}

/* ------------------------------------------------------------------ bound */

/* A completion chunk of choice `idx` with n bytes of text 'x' (new reference). */
static json_t *
text_chunk(int idx, size_t n)
{
	char *text = malloc(n);
	json_t *c;

	assert_non_null(text);
	memset(text, 'x', n);
	c = json_pack("{s:[{s:i,s:s%}]}", "choices", "index", idx, "text", text, n);
	free(text);
	assert_non_null(c);
	return c;
}

/* The cap is on the text of all choices together: exactly ASM_MAX bytes
 * fit, one more is AIF_TOOBIG and is not kept. */
static void
text_past_the_cap_is_toobig(void **state)
{
	struct aif_stream_asm *a = aif_stream_asm_new(AIF_KIND_COMPLETION, ASM_MAX, ASM_CHOICES);
	const size_t half = ASM_MAX / 2;
	json_t *c, *r;

	(void)state;
	c = text_chunk(0, half);
	assert_int_equal(aif_stream_asm_add(a, c), AIF_OK);
	json_decref(c);
	c = text_chunk(1, ASM_MAX - half);
	assert_int_equal(aif_stream_asm_add(a, c), AIF_OK);
	json_decref(c);
	c = text_chunk(1, 1);
	assert_int_equal(aif_stream_asm_add(a, c), AIF_TOOBIG);
	json_decref(c);
	c = text_chunk(0, 1);
	assert_int_equal(aif_stream_asm_add(a, c), AIF_TOOBIG);
	json_decref(c);
	r = aif_stream_asm_result(a, "t", 0, "m", 0, 0);
	assert_int_equal(json_string_length(json_object_get(json_array_get(
	    json_object_get(r, "choices"), 0), "text")), half);
	assert_int_equal(json_string_length(json_object_get(json_array_get(
	    json_object_get(r, "choices"), 1), "text")), ASM_MAX - half);
	json_decref(r);
	aif_stream_asm_free(a);
}

/* A choice index the request could not have asked for is refused, not padded up to. */
static void
choice_past_the_choice_cap_is_toobig(void **state)
{
	struct aif_stream_asm *a = aif_stream_asm_new(AIF_KIND_COMPLETION, ASM_MAX, 3);
	json_t *c;

	(void)state;
	c = text_chunk(2, 4);
	assert_int_equal(aif_stream_asm_add(a, c), AIF_OK);
	json_decref(c);
	c = text_chunk(3, 4);
	assert_int_equal(aif_stream_asm_add(a, c), AIF_TOOBIG);
	json_decref(c);
	aif_stream_asm_free(a);
}

/* Choices beyond 128 (n x prompts of a large batch) are all kept. */
static void
many_choices_are_kept(void **state)
{
	struct aif_stream_asm *a = aif_stream_asm_new(AIF_KIND_COMPLETION, ASM_MAX, 1000);
	json_t *c, *r;

	(void)state;
	for (int i = 0; i < 640; i++) {
		c = text_chunk(i, 2);
		assert_int_equal(aif_stream_asm_add(a, c), AIF_OK);
		json_decref(c);
	}
	r = aif_stream_asm_result(a, "t", 0, "m", 0, 0);
	assert_int_equal(json_array_size(json_object_get(r, "choices")), 640);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(
	    json_object_get(r, "choices"), 639), "index")), 639);
	json_decref(r);
	aif_stream_asm_free(a);
}

/* Tool-call arguments count against the cap like content does. */
static void
tool_call_text_counts_against_the_cap(void **state)
{
	struct aif_stream_asm *a = aif_stream_asm_new(AIF_KIND_CHAT, 64, ASM_CHOICES);

	(void)state;
	assert_int_equal(add(a, CHAT(0, "{\"tool_calls\":[{\"index\":0,\"id\":\"c\","
	    "\"function\":{\"name\":\"f\",\"arguments\":\"0123456789012345678901234567"
	    "8901234567890123456789\"}}]}", "null")), AIF_OK);
	assert_int_equal(add(a, CHAT(0, "{\"tool_calls\":[{\"index\":0,\"function\":"
	    "{\"arguments\":\"01234567890123456789012345678901\"}}]}", "null")),
	    AIF_TOOBIG);
	aif_stream_asm_free(a);
}

/* 40,000 one-byte argument deltas assemble into one 40,000-byte string: the append is
 * amortised O(1) (a quadratic copy would be 800 MB of memmove; this test's work is
 * bounded by the growth of one buffer, checked through its result, not by a clock). */
static void
many_tool_call_deltas_assemble_linearly(void **state)
{
	struct aif_stream_asm *a = aif_stream_asm_new(AIF_KIND_CHAT, ASM_MAX, ASM_CHOICES);
	json_t *c, *r, *args;

	(void)state;
	for (int i = 0; i < 40000; i++) {
		c = json_pack("{s:[{s:i,s:{s:[{s:i,s:{s:s}}]}}]}", "choices", "index", 0,
		    "delta", "tool_calls", "index", 0, "function", "arguments", "x");
		assert_int_equal(aif_stream_asm_add(a, c), AIF_OK);
		json_decref(c);
	}
	r = aif_stream_asm_result(a, "t", 0, "m", 0, 0);
	args = json_object_get(json_object_get(json_array_get(json_object_get(json_object_get(
	    json_array_get(json_object_get(r, "choices"), 0), "message"), "tool_calls"), 0),
	    "function"), "arguments");
	assert_int_equal(json_string_length(args), 40000);
	json_decref(r);
	aif_stream_asm_free(a);
}

/* ------------------------------------------------------------------ usage chunk */

static void
usage_chunk_has_the_exact_shape(void **state)
{
	(void)state;
	expect_json(aif_stream_usage_chunk(AIF_KIND_CHAT, "chatcmpl-job_1", 1790000000,
	    "demo-chat", 9, 12),
	    "{\"id\":\"chatcmpl-job_1\",\"object\":\"chat.completion.chunk\","
	    "\"created\":1790000000,\"model\":\"demo-chat\",\"choices\":[],"
	    "\"usage\":" USAGE_21 "}");
	expect_json(aif_stream_usage_chunk(AIF_KIND_COMPLETION, "cmpl-job_2", 1790000001,
	    "demo-tgi", 6, 0),
	    "{\"id\":\"cmpl-job_2\",\"object\":\"text_completion\",\"created\":1790000001,"
	    "\"model\":\"demo-tgi\",\"choices\":[],\"usage\":{\"prompt_tokens\":6,"
	    "\"completion_tokens\":0,\"total_tokens\":6}}");
}

/* Token counts beyond 32 bits stay exact (integers, not doubles). */
static void
usage_counts_are_exact_64_bit_integers(void **state)
{
	json_t *u = aif_stream_usage_chunk(AIF_KIND_CHAT, "c", 0, "m", 5000000000LL,
	    4000000001LL);
	json_t *usage = json_object_get(u, "usage");

	(void)state;
	assert_true(json_is_integer(json_object_get(usage, "total_tokens")));
	assert_int_equal(json_integer_value(json_object_get(usage, "prompt_tokens")),
	    5000000000LL);
	assert_int_equal(json_integer_value(json_object_get(usage, "total_tokens")),
	    9000000001LL);
	json_decref(u);
}

/* ------------------------------------------------------------------ free */

static void
free_accepts_null_and_a_used_assembler(void **state)
{
	struct aif_stream_asm *a = aif_stream_asm_new(AIF_KIND_CHAT, ASM_MAX, ASM_CHOICES);

	(void)state;
	aif_stream_asm_free(NULL);
	assert_non_null(a);
	/* text and tool calls held: ASan's leak check sees them freed */
	assert_int_equal(add(a, CHAT(3, "{\"content\":\"t\",\"tool_calls\":[{\"index\":0,"
	    "\"id\":\"c\",\"function\":{\"name\":\"f\",\"arguments\":\"{}\"}}]}", "null")),
	    AIF_OK);
	aif_stream_asm_free(a);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(chat_chunks_become_one_chat_completion),
		cmocka_unit_test(finish_reason_is_the_last_one_given),
		cmocka_unit_test(several_choices_are_assembled_by_index),
		cmocka_unit_test(tool_call_deltas_are_merged_by_index),
		cmocka_unit_test(message_without_tool_calls_has_no_tool_calls_field),
		cmocka_unit_test(tool_call_index_out_of_range_is_ignored),
		cmocka_unit_test(completion_chunks_become_one_text_completion),
		cmocka_unit_test(chunks_without_choices_are_ignored),
		cmocka_unit_test(empty_stream_gives_one_empty_choice),
		cmocka_unit_test(text_past_the_cap_is_toobig),
		cmocka_unit_test(choice_past_the_choice_cap_is_toobig),
		cmocka_unit_test(many_choices_are_kept),
		cmocka_unit_test(tool_call_text_counts_against_the_cap),
		cmocka_unit_test(many_tool_call_deltas_assemble_linearly),
		cmocka_unit_test(usage_chunk_has_the_exact_shape),
		cmocka_unit_test(usage_counts_are_exact_64_bit_integers),
		cmocka_unit_test(free_accepts_null_and_a_used_assembler),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
