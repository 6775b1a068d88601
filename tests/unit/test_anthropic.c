/* test_anthropic.c -- unit tests of core/protocol/anthropic.c: a Messages request
 * becomes the chat completion request it is bridged as (system first, tool results
 * before the text of their turn, tools and tool_choice renamed), what cannot be bridged
 * is refused with the field named, a chat answer becomes a Message, and a chat stream
 * becomes Anthropic's events in their order; errors render in Anthropic's shape. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "anthropic.h"
#include "apierr.h"

static const struct aif_anth_limits lim = { 1 << 20, 32, 64 };

static json_t *
bridge(const char *body, int count_only, struct aif_error *err)
{
	json_t *out = NULL;

	if (aif_anth_to_chat(body, strlen(body), &lim, count_only, &out, err) != 0)
		return NULL;
	return out;
}

static void
a_conversation_with_tools_is_bridged_in_order(void **state)
{
	struct aif_error err;
	json_t *c = bridge("{\"model\":\"m\",\"max_tokens\":64,\"system\":\"Be brief.\","
	    "\"stop_sequences\":[\"END\"],\"temperature\":0.5,\"stream\":true,"
	    "\"tools\":[{\"name\":\"get_weather\",\"description\":\"d\",\"input_schema\":"
	    "{\"type\":\"object\"}}],\"tool_choice\":{\"type\":\"any\"},"
	    "\"messages\":[{\"role\":\"user\",\"content\":\"Weather in Seoul?\"},"
	    "{\"role\":\"assistant\",\"content\":[{\"type\":\"thinking\",\"thinking\":\"x\"},"
	    "{\"type\":\"text\",\"text\":\"Looking.\"},{\"type\":\"tool_use\",\"id\":\"tu_1\","
	    "\"name\":\"get_weather\",\"input\":{\"city\":\"Seoul\"}}]},"
	    "{\"role\":\"user\",\"content\":[{\"type\":\"tool_result\",\"tool_use_id\":\"tu_1\","
	    "\"content\":[{\"type\":\"text\",\"text\":\"3C\"}]},{\"type\":\"text\","
	    "\"text\":\"And tomorrow?\"}]}]}", 0, &err);
	json_t *m;

	(void)state;
	assert_non_null(c);
	assert_string_equal(json_string_value(json_object_get(c, "model")), "m");
	assert_int_equal(json_integer_value(json_object_get(c, "max_tokens")), 64);
	m = json_object_get(c, "messages");
	assert_int_equal(json_array_size(m), 5);
	assert_string_equal(json_string_value(json_object_get(json_array_get(m, 0), "role")),
	    "system");
	assert_string_equal(json_string_value(json_object_get(json_array_get(m, 0),
	    "content")), "Be brief.");
	/* the assistant's text and its call, the thinking dropped */
	assert_string_equal(json_string_value(json_object_get(json_array_get(m, 2),
	    "content")), "Looking.");
	assert_string_equal(json_string_value(json_object_get(json_object_get(json_array_get(
	    json_object_get(json_array_get(m, 2), "tool_calls"), 0), "function"),
	    "arguments")), "{\"city\":\"Seoul\"}");
	/* the tool's result answers the call before the user's next text */
	assert_string_equal(json_string_value(json_object_get(json_array_get(m, 3), "role")),
	    "tool");
	assert_string_equal(json_string_value(json_object_get(json_array_get(m, 3),
	    "tool_call_id")), "tu_1");
	assert_string_equal(json_string_value(json_object_get(json_array_get(m, 3),
	    "content")), "3C");
	assert_string_equal(json_string_value(json_object_get(json_array_get(m, 4),
	    "content")), "And tomorrow?");
	assert_string_equal(json_string_value(json_object_get(c, "tool_choice")), "required");
	assert_string_equal(json_string_value(json_object_get(json_object_get(json_array_get(
	    json_object_get(c, "tools"), 0), "function"), "name")), "get_weather");
	assert_string_equal(json_string_value(json_array_get(json_object_get(c, "stop"), 0)),
	    "END");
	assert_true(json_is_true(json_object_get(c, "stream")));
	assert_true(json_is_true(json_object_get(json_object_get(c, "stream_options"),
	    "include_usage")));
	json_decref(c);
}

static void
what_cannot_be_bridged_is_refused_with_its_field(void **state)
{
	static const struct {
		const char *body, *param, *says;
		int status;
	} cases[] = {
		{ "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}",
		    "max_tokens", "max_tokens", 400 },
		{ "{\"model\":\"m\",\"max_tokens\":5,\"messages\":[]}", "messages", "non-empty",
		    400 },
		{ "{\"model\":\"m\",\"max_tokens\":5,\"messages\":[{\"role\":\"tool\","
		    "\"content\":\"x\"}]}", "messages[0]", "role", 400 },
		{ "{\"model\":\"m\",\"max_tokens\":5,\"messages\":[{\"role\":\"user\",\"content\":"
		    "[{\"type\":\"document\",\"source\":{}}]}]}", "messages[0].content[0]",
		    "cannot be bridged", 400 },
		{ "{\"model\":\"m\",\"max_tokens\":5,\"tools\":[{\"type\":\"web_search_20250305\","
		    "\"name\":\"web_search\"}],\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}",
		    "tools", "server tools", 400 },
		{ "{\"model\":\"m\",\"max_tokens\":5,\"stream\":\"yes\",\"messages\":[{\"role\":"
		    "\"user\",\"content\":\"x\"}]}", "stream", "boolean", 400 },
		{ "{\"model\":\"m\",\"max_tokens\":5,\"messages\":[{\"role\":\"user\",",
		    NULL, "not valid JSON", 400 },
	};
	struct aif_error err;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_null(bridge(cases[i].body, 0, &err));
		assert_int_equal(err.status, cases[i].status);
		if (cases[i].param != NULL)
			assert_string_equal(err.param, cases[i].param);
		assert_non_null(strstr(err.message, cases[i].says));
	}
	/* a system message between the turns (as Claude Code sends) is one */
	{
		json_t *c = bridge("{\"model\":\"m\",\"max_tokens\":5,\"messages\":[{\"role\":"
		    "\"user\",\"content\":\"x\"},{\"role\":\"system\",\"content\":[{\"type\":"
		    "\"text\",\"text\":\"ctx\"}]}]}", 0, &err);
		assert_non_null(c);
		assert_string_equal(json_string_value(json_object_get(json_array_get(
		    json_object_get(c, "messages"), 1), "role")), "system");
		assert_string_equal(json_string_value(json_object_get(json_array_get(
		    json_object_get(c, "messages"), 1), "content")), "ctx");
		json_decref(c);
	}
	/* counting tokens needs no max_tokens */
	json_decref(bridge("{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":"
	    "\"x\"}]}", 1, &err));
	assert_int_equal(err.status, 0);
}

static void
a_chat_answer_becomes_a_message(void **state)
{
	json_t *c = json_loads("{\"id\":\"chatcmpl-1\",\"model\":\"demo-chat\",\"choices\":"
	    "[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"Sure.\","
	    "\"tool_calls\":[{\"id\":\"call_1\",\"type\":\"function\",\"function\":{\"name\":"
	    "\"f\",\"arguments\":\"{\\\"a\\\":1}\"}}]},\"finish_reason\":\"tool_calls\"}],"
	    "\"usage\":{\"prompt_tokens\":12,\"completion_tokens\":7}}", 0, NULL);
	json_t *m = aif_anth_message(c, "job_abc");
	json_t *content = json_object_get(m, "content");

	(void)state;
	assert_non_null(m);
	assert_string_equal(json_string_value(json_object_get(m, "id")), "msg_abc");
	assert_string_equal(json_string_value(json_object_get(m, "type")), "message");
	assert_string_equal(json_string_value(json_object_get(m, "stop_reason")), "tool_use");
	assert_int_equal(json_array_size(content), 2);
	assert_string_equal(json_string_value(json_object_get(json_array_get(content, 0),
	    "text")), "Sure.");
	assert_string_equal(json_string_value(json_object_get(json_array_get(content, 1),
	    "type")), "tool_use");
	assert_int_equal(json_integer_value(json_object_get(json_object_get(json_array_get(
	    content, 1), "input"), "a")), 1);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(m, "usage"),
	    "input_tokens")), 12);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(m, "usage"),
	    "output_tokens")), 7);
	json_decref(m);
	json_decref(c);
}

/* The events a stream emits, as "name:detail" lines. */
static char events[4096];

static int
record(void *arg, const char *event, const json_t *data)
{
	const json_t *d = json_object_get(data, "delta");
	const char *detail = json_string_value(json_object_get(d, "text")) ?:
	    json_string_value(json_object_get(d, "partial_json")) ?:
	    json_string_value(json_object_get(d, "stop_reason")) ?:
	    json_string_value(json_object_get(json_object_get(data, "content_block"), "type")) ?:
	    "";
	size_t n = strlen(events);

	(void)arg;
	snprintf(events + n, sizeof(events) - n, "%s:%s\n", event, detail);
	return 0;
}

static void
chunk(struct aif_anth_stream *s, const char *delta, const char *finish)
{
	char buf[512];

	snprintf(buf, sizeof(buf), "{\"model\":\"demo-chat\",\"choices\":[{\"index\":0,"
	    "\"delta\":%s,\"finish_reason\":%s}]}", delta, finish);
	assert_int_equal(aif_anth_stream_chunk(s, buf, strlen(buf), "", record, NULL), 0);
}

static void
a_chat_stream_becomes_anthropic_events(void **state)
{
	struct aif_anth_stream s;

	(void)state;
	events[0] = '\0';
	aif_anth_stream_init(&s, "job_xyz");
	assert_string_equal(s.msg_id, "msg_xyz");
	chunk(&s, "{\"role\":\"assistant\",\"content\":\"\"}", "null");
	chunk(&s, "{\"content\":\"Hel\"}", "null");
	chunk(&s, "{\"content\":\"lo\"}", "null");
	chunk(&s, "{\"tool_calls\":[{\"index\":0,\"id\":\"c1\",\"function\":{\"name\":\"f\","
	    "\"arguments\":\"\"}}]}", "null");
	chunk(&s, "{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"{\\\"a\\\"\"}}]}",
	    "null");
	chunk(&s, "{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\":1}\"}}]}",
	    "null");
	chunk(&s, "{}", "\"tool_calls\"");
	assert_int_equal(aif_anth_stream_end(&s, "demo-chat", 10, 5, record, NULL), 0);
	assert_string_equal(events,
	    "message_start:\n"
	    "content_block_start:text\n"
	    "content_block_delta:Hel\n"
	    "content_block_delta:lo\n"
	    "content_block_stop:\n"
	    "content_block_start:tool_use\n"
	    "content_block_delta:{\"a\"\n"
	    "content_block_delta::1}\n"
	    "content_block_stop:\n"
	    "message_delta:tool_use\n"
	    "message_stop:\n");
	/* an empty answer still has its start, delta and stop */
	events[0] = '\0';
	aif_anth_stream_init(&s, "job_e");
	assert_int_equal(aif_anth_stream_end(&s, "demo-chat", 3, 0, record, NULL), 0);
	assert_string_equal(events, "message_start:\nmessage_delta:end_turn\nmessage_stop:\n");
}

static void
errors_render_in_anthropic_shape(void **state)
{
	struct aif_error e;
	char *s;
	json_t *o;

	(void)state;
	AIF_ERROR0(&e, AIF_E_INVALID_API_KEY, NULL);
	s = aif_error_render(&e, AIF_SURFACE_ANTHROPIC);
	o = json_loads(s, 0, NULL);
	assert_string_equal(json_string_value(json_object_get(o, "type")), "error");
	assert_string_equal(json_string_value(json_object_get(json_object_get(o, "error"),
	    "type")), "authentication_error");
	assert_non_null(json_string_value(json_object_get(json_object_get(o, "error"),
	    "message")));
	json_decref(o);
	free(s);
	assert_string_equal(aif_anth_error_type(429, "insufficient_quota"), "billing_error");
	assert_string_equal(aif_anth_error_type(429, "requests"), "rate_limit_error");
	assert_string_equal(aif_anth_error_type(404, NULL), "not_found_error");
	assert_string_equal(aif_anth_error_type(503, NULL), "overloaded_error");
	assert_string_equal(aif_anth_error_type(502, NULL), "api_error");
}

/* Passed through, the system turns move into the top-level system, in order, after
 * what it held; the turns keep their order. */
static void
system_turns_fold_into_the_system_prompt(void **state)
{
	json_t *b = json_loads("{\"system\":\"Be brief.\",\"messages\":[{\"role\":\"user\","
	    "\"content\":\"hi\"},{\"role\":\"system\",\"content\":[{\"type\":\"text\","
	    "\"text\":\"reminder\"}]},{\"role\":\"assistant\",\"content\":\"ok\"}]}", 0,
	    NULL);
	json_t *sys;

	(void)state;
	assert_int_equal(aif_anth_fold_system(b), 0);
	sys = json_object_get(b, "system");
	assert_int_equal(json_array_size(sys), 2);
	assert_string_equal(json_string_value(json_object_get(json_array_get(sys, 0), "text")),
	    "Be brief.");
	assert_string_equal(json_string_value(json_object_get(json_array_get(sys, 1), "text")),
	    "reminder");
	assert_int_equal(json_array_size(json_object_get(b, "messages")), 2);
	assert_string_equal(json_string_value(json_object_get(json_array_get(
	    json_object_get(b, "messages"), 1), "role")), "assistant");
	json_decref(b);
	b = json_loads("{\"system\":\"s\",\"messages\":[{\"role\":\"user\",\"content\":"
	    "\"hi\"}]}", 0, NULL);
	assert_int_equal(aif_anth_fold_system(b), 0);
	assert_true(json_is_string(json_object_get(b, "system")));	/* untouched */
	json_decref(b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(a_conversation_with_tools_is_bridged_in_order),
		cmocka_unit_test(what_cannot_be_bridged_is_refused_with_its_field),
		cmocka_unit_test(a_chat_answer_becomes_a_message),
		cmocka_unit_test(a_chat_stream_becomes_anthropic_events),
		cmocka_unit_test(errors_render_in_anthropic_shape),
		cmocka_unit_test(system_turns_fold_into_the_system_prompt),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
