/* test_passthru.c -- unit tests of core/protocol/passthru.c: the ids a surface's answer
 * carries, what passes as a Response or a Message, usage in the surface's words, a
 * Responses stream and a Messages stream (text, tool input in pieces, stop reason)
 * assembled into the answer a call without stream returns, the cap, and a stored
 * answer replayed as the surface's events. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "passthru.h"

static json_t *
J(const char *text)
{
	json_t *v = json_loads(text, 0, NULL);

	assert_non_null(v);
	return v;
}

static void
feed(struct aif_passthru_asm *a, const char *const *events, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		json_t *ev = J(events[i]);
		assert_int_equal(aif_passthru_asm_add(a, ev), AIF_OK);
		json_decref(ev);
	}
}

static void
ids_and_answers(void **state)
{
	char id[64];
	json_t *ok, *bad;

	(void)state;
	aif_passthru_id(AIF_KIND_RESPONSES, "job_abc123", id, sizeof(id));
	assert_string_equal(id, "resp_abc123");
	aif_passthru_id(AIF_KIND_MESSAGES, "job_abc123", id, sizeof(id));
	assert_string_equal(id, "msg_abc123");
	ok = J("{\"object\":\"response\",\"status\":\"completed\",\"output\":[]}");
	assert_true(aif_passthru_answer_ok(AIF_KIND_RESPONSES, ok));
	assert_false(aif_passthru_answer_ok(AIF_KIND_MESSAGES, ok));
	json_decref(ok);
	bad = J("{\"object\":\"response\",\"status\":\"failed\",\"output\":[]}");
	assert_false(aif_passthru_answer_ok(AIF_KIND_RESPONSES, bad));
	json_decref(bad);
	bad = J("{\"type\":\"message\",\"content\":[],\"usage\":{\"input_tokens\":-1}}");
	assert_false(aif_passthru_answer_ok(AIF_KIND_MESSAGES, bad));
	json_decref(bad);
	ok = J("{\"type\":\"message\",\"content\":[],\"usage\":{\"input_tokens\":3}}");
	assert_true(aif_passthru_answer_ok(AIF_KIND_MESSAGES, ok));
	json_decref(ok);
}

static void
usage_in_the_surface_words(void **state)
{
	json_t *m = J("{\"type\":\"message\",\"content\":[],\"usage\":{\"input_tokens\":5,"
	    "\"cache_read_input_tokens\":7,\"output_tokens\":2}}");
	json_t *r = J("{\"object\":\"response\",\"output\":[],\"usage\":{\"input_tokens\":1,"
	    "\"output_tokens\":1,\"output_tokens_details\":{\"reasoning_tokens\":0}}}");
	int64_t p, c;

	(void)state;
	aif_passthru_usage(AIF_KIND_MESSAGES, json_object_get(m, "usage"), &p, &c);
	assert_int_equal(p, 12);	/* the cache's tokens are input too */
	assert_int_equal(c, 2);
	assert_int_equal(aif_passthru_set_usage(m, AIF_KIND_MESSAGES, 20, 4), 0);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(m, "usage"),
	    "input_tokens")), 13);
	assert_int_equal(aif_passthru_set_usage(r, AIF_KIND_RESPONSES, 9, 4), 0);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(r, "usage"),
	    "total_tokens")), 13);
	assert_non_null(json_object_get(json_object_get(r, "usage"),
	    "output_tokens_details"));
	json_decref(m);
	json_decref(r);
}

static void
a_responses_stream_keeps_the_completed_response(void **state)
{
	static const char *const evs[] = {
		"{\"type\":\"response.created\",\"response\":{\"object\":\"response\","
		"\"status\":\"in_progress\",\"output\":[]}}",
		"{\"type\":\"response.output_text.delta\",\"delta\":\"Hi\"}",
		"{\"type\":\"response.output_item.done\",\"item\":{\"type\":\"message\","
		"\"content\":[{\"type\":\"output_text\",\"text\":\"Hi\"}]}}",
		"{\"type\":\"response.completed\",\"response\":{\"object\":\"response\","
		"\"status\":\"completed\",\"output\":[]}}",
	};
	struct aif_passthru_asm *a = aif_passthru_asm_new(AIF_KIND_RESPONSES, 1 << 16);
	json_t *r;

	(void)state;
	feed(a, evs, sizeof(evs) / sizeof(evs[0]));
	r = aif_passthru_asm_result(a, "resp_1", "demo");
	assert_string_equal(json_string_value(json_object_get(r, "status")), "completed");
	assert_string_equal(json_string_value(json_object_get(r, "id")), "resp_1");
	assert_string_equal(json_string_value(json_object_get(r, "model")), "demo");
	/* the completed Response left its output out: the items seen stand in */
	assert_string_equal(json_string_value(json_object_get(json_array_get(
	    json_object_get(json_array_get(json_object_get(r, "output"), 0), "content"), 0),
	    "text")), "Hi");
	json_decref(r);
	aif_passthru_asm_free(a);
}

static void
a_messages_stream_is_put_together(void **state)
{
	static const char *const evs[] = {
		"{\"type\":\"message_start\",\"message\":{\"id\":\"x\",\"type\":\"message\","
		"\"role\":\"assistant\",\"content\":[],\"stop_reason\":null,"
		"\"usage\":{\"input_tokens\":9,\"output_tokens\":1}}}",
		"{\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":"
		"\"text\",\"text\":\"\"}}",
		"{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":"
		"\"text_delta\",\"text\":\"Hel\"}}",
		"{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":"
		"\"text_delta\",\"text\":\"lo\"}}",
		"{\"type\":\"content_block_stop\",\"index\":0}",
		"{\"type\":\"content_block_start\",\"index\":1,\"content_block\":{\"type\":"
		"\"tool_use\",\"id\":\"t1\",\"name\":\"f\",\"input\":{}}}",
		"{\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":"
		"\"input_json_delta\",\"partial_json\":\"{\\\"city\\\":\"}}",
		"{\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":"
		"\"input_json_delta\",\"partial_json\":\"\\\"Seoul\\\"}\"}}",
		"{\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"tool_use\","
		"\"stop_sequence\":null},\"usage\":{\"output_tokens\":12}}",
		"{\"type\":\"message_stop\"}",
	};
	struct aif_passthru_asm *a = aif_passthru_asm_new(AIF_KIND_MESSAGES, 1 << 16);
	json_t *m, *content;

	(void)state;
	feed(a, evs, sizeof(evs) / sizeof(evs[0]));
	m = aif_passthru_asm_result(a, "msg_1", "demo");
	content = json_object_get(m, "content");
	assert_int_equal(json_array_size(content), 2);
	assert_string_equal(json_string_value(json_object_get(json_array_get(content, 0),
	    "text")), "Hello");
	assert_string_equal(json_string_value(json_object_get(json_object_get(
	    json_array_get(content, 1), "input"), "city")), "Seoul");
	assert_string_equal(json_string_value(json_object_get(m, "stop_reason")),
	    "tool_use");
	assert_string_equal(json_string_value(json_object_get(m, "id")), "msg_1");
	assert_int_equal(json_integer_value(json_object_get(json_object_get(m, "usage"),
	    "output_tokens")), 12);
	json_decref(m);
	aif_passthru_asm_free(a);
}

static void
the_cap_holds(void **state)
{
	struct aif_passthru_asm *a = aif_passthru_asm_new(AIF_KIND_MESSAGES, 40);
	json_t *start = J("{\"type\":\"message_start\",\"message\":{\"content\":[]}}");
	json_t *block = J("{\"type\":\"content_block_start\",\"index\":0,"
	    "\"content_block\":{\"type\":\"text\",\"text\":\"\"}}");
	json_t *delta = J("{\"type\":\"content_block_delta\",\"index\":0,\"delta\":"
	    "{\"type\":\"text_delta\",\"text\":\"0123456789\"}}");
	int i;

	(void)state;
	assert_null(aif_passthru_asm_new(AIF_KIND_CHAT, 10));
	assert_int_equal(aif_passthru_asm_add(a, start), AIF_OK);
	assert_int_equal(aif_passthru_asm_add(a, block), AIF_OK);
	for (i = 0; i < 5 && aif_passthru_asm_add(a, delta) == AIF_OK; i++)
		;
	assert_true(i < 5);	/* 40 bytes do not hold five deltas of ten */
	json_decref(start);
	json_decref(block);
	json_decref(delta);
	aif_passthru_asm_free(a);
}

/* Replayed, a stored answer comes in the surface's full order, each text, input or
 * arguments as one delta, so that clients that build the answer from deltas or from
 * the items done get all of it. */
static void
a_stored_answer_replays_as_events(void **state)
{
	json_t *m = J("{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\","
	    "\"content\":[{\"type\":\"text\",\"text\":\"Hi\"},{\"type\":\"tool_use\","
	    "\"id\":\"t\",\"name\":\"f\",\"input\":{\"a\":1}}],\"stop_reason\":"
	    "\"tool_use\",\"usage\":{\"input_tokens\":3,\"output_tokens\":2}}");
	json_t *r = J("{\"id\":\"resp_1\",\"object\":\"response\",\"status\":"
	    "\"completed\",\"output\":[{\"type\":\"message\",\"id\":\"m1\",\"status\":"
	    "\"completed\",\"content\":[{\"type\":\"output_text\",\"text\":\"Hi\"}]},"
	    "{\"type\":\"function_call\",\"id\":\"fc\",\"call_id\":\"c\",\"name\":\"f\","
	    "\"arguments\":\"{}\"}],\"incomplete_details\":null}");
	static const char *const morder[] = { "message_start", "content_block_start",
	    "content_block_delta", "content_block_stop", "content_block_start",
	    "content_block_delta", "content_block_stop", "message_delta", "message_stop" };
	static const char *const rorder[] = { "response.created", "response.in_progress",
	    "response.output_item.added", "response.content_part.added",
	    "response.output_text.delta", "response.output_text.done",
	    "response.content_part.done", "response.output_item.done",
	    "response.output_item.added", "response.function_call_arguments.delta",
	    "response.function_call_arguments.done", "response.output_item.done",
	    "response.completed" };
	json_t *evs = aif_passthru_replay(AIF_KIND_MESSAGES, m), *ev;

	(void)state;
	assert_int_equal(json_array_size(evs), 9);
	for (size_t i = 0; i < 9; i++)
		assert_string_equal(json_string_value(json_object_get(json_array_get(evs, i),
		    "type")), morder[i]);
	ev = json_array_get(evs, 1);	/* started empty, the text as its delta */
	assert_string_equal(json_string_value(json_object_get(json_object_get(ev,
	    "content_block"), "text")), "");
	assert_string_equal(json_string_value(json_object_get(json_object_get(
	    json_array_get(evs, 2), "delta"), "text")), "Hi");
	assert_string_equal(json_string_value(json_object_get(json_object_get(
	    json_array_get(evs, 5), "delta"), "partial_json")), "{\"a\":1}");
	json_decref(evs);
	evs = aif_passthru_replay(AIF_KIND_RESPONSES, r);
	assert_int_equal(json_array_size(evs), 13);
	for (size_t i = 0; i < 13; i++) {
		ev = json_array_get(evs, i);
		assert_string_equal(json_string_value(json_object_get(ev, "type")), rorder[i]);
		assert_int_equal(json_integer_value(json_object_get(ev, "sequence_number")),
		    (json_int_t)i);
	}
	assert_int_equal(json_array_size(json_object_get(json_object_get(json_array_get(
	    evs, 0), "response"), "output")), 0);
	assert_string_equal(json_string_value(json_object_get(json_array_get(evs, 4),
	    "delta")), "Hi");
	assert_true(json_is_array(json_object_get(json_array_get(evs, 4), "logprobs")));
	assert_true(aif_passthru_is_delta("response.output_text.delta"));
	assert_true(aif_passthru_is_delta("content_block_delta"));
	assert_false(aif_passthru_is_delta("response.created"));
	assert_false(aif_passthru_is_delta(NULL));
	json_decref(evs);
	json_decref(m);
	json_decref(r);
}

/* The output items seen and the completed Response that holds them count once
 * against the cap. */
static void
items_count_once(void **state)
{
	struct aif_passthru_asm *a = aif_passthru_asm_new(AIF_KIND_RESPONSES, 260);
	json_t *item = J("{\"type\":\"response.output_item.done\",\"item\":{\"type\":"
	    "\"message\",\"content\":[{\"type\":\"output_text\",\"text\":"
	    "\"0123456789012345678901234567890123456789012345678901234567890123456789\"}]}}");
	json_t *done = J("{\"type\":\"response.completed\",\"response\":{\"object\":"
	    "\"response\",\"output\":[{\"type\":\"message\",\"content\":[{\"type\":"
	    "\"output_text\",\"text\":\"0123456789012345678901234567890123456789012345"
	    "678901234567890123456789\"}]}]}}");

	(void)state;
	assert_int_equal(aif_passthru_asm_add(a, item), AIF_OK);
	assert_int_equal(aif_passthru_asm_add(a, done), AIF_OK);	/* 2 x 140 > 260 */
	json_decref(item);
	json_decref(done);
	aif_passthru_asm_free(a);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(ids_and_answers),
		cmocka_unit_test(usage_in_the_surface_words),
		cmocka_unit_test(a_responses_stream_keeps_the_completed_response),
		cmocka_unit_test(a_messages_stream_is_put_together),
		cmocka_unit_test(the_cap_holds),
		cmocka_unit_test(a_stored_answer_replays_as_events),
		cmocka_unit_test(items_count_once),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
