/* test_responses.c -- unit tests of core/protocol/responses.c: a Responses request
 * becomes the chat request it is bridged as (instructions first, function calls and
 * their outputs as tool calls and tool messages, tools, text.format, limits), what
 * cannot be bridged is refused naming its field, a previous response's history goes
 * before the new input (without its instructions), the gateway's note is taken out for
 * the engine, a chat answer fills a Response, and a chat stream becomes the Responses
 * events in an order the official SDK accumulates. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "responses.h"

static const struct aif_resp_limits lim = { 1 << 20, 32, 64 };

static json_t *
bridge(const char *body, struct aif_resp_ask *ask, struct aif_error *err)
{
	json_t *chat = NULL, *md = NULL;

	if (aif_resp_to_chat(body, strlen(body), &lim, 0, &chat, &md, ask, err) != 0)
		return NULL;
	json_decref(md);
	return chat;
}

static const char *
role_at(const json_t *chat, size_t i)
{
	return json_string_value(json_object_get(json_array_get(json_object_get(chat,
	    "messages"), i), "role"));
}

static void
a_request_with_items_and_tools_is_bridged(void **state)
{
	struct aif_resp_ask ask;
	struct aif_error err;
	json_t *c = bridge("{\"model\":\"m\",\"instructions\":\"Rules.\",\"max_output_tokens\":9,"
	    "\"stream\":true,\"text\":{\"format\":{\"type\":\"json_schema\",\"name\":\"x\","
	    "\"schema\":{\"type\":\"object\"}}},\"tools\":[{\"type\":\"function\",\"name\":\"f\","
	    "\"parameters\":{\"type\":\"object\"}}],\"tool_choice\":{\"type\":\"function\","
	    "\"name\":\"f\"},\"input\":[{\"role\":\"user\",\"content\":[{\"type\":\"input_text\","
	    "\"text\":\"hi\"}]},{\"type\":\"reasoning\",\"summary\":[]},{\"type\":\"function_call\","
	    "\"call_id\":\"c1\",\"name\":\"f\",\"arguments\":\"{}\"},{\"type\":"
	    "\"function_call_output\",\"call_id\":\"c1\",\"output\":\"ok\"},{\"role\":"
	    "\"developer\",\"content\":\"more\"}]}", &ask, &err);
	const json_t *m;

	(void)state;
	assert_non_null(c);
	assert_true(ask.stream);
	assert_true(ask.store);
	assert_false(ask.background);
	m = json_object_get(c, "messages");
	assert_int_equal(json_array_size(m), 5);
	assert_string_equal(role_at(c, 0), "system");
	assert_string_equal(role_at(c, 1), "user");
	assert_string_equal(json_string_value(json_object_get(json_array_get(m, 1), "content")),
	    "hi");
	assert_string_equal(role_at(c, 2), "assistant");
	assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(
	    json_array_get(m, 2), "tool_calls"), 0), "id")), "c1");
	assert_string_equal(role_at(c, 3), "tool");
	assert_string_equal(role_at(c, 4), "system");	/* developer */
	assert_int_equal(json_integer_value(json_object_get(c, "max_tokens")), 9);
	assert_string_equal(json_string_value(json_object_get(json_object_get(c,
	    "response_format"), "type")), "json_schema");
	assert_string_equal(json_string_value(json_object_get(json_object_get(
	    json_object_get(c, "tool_choice"), "function"), "name")), "f");
	assert_true(aif_resp_is_response(c));
	assert_true(json_is_true(json_object_get(json_object_get(c, AIF_RESP_META),
	    "instructions")));
	json_decref(c);
}

static void
what_cannot_be_bridged_is_refused(void **state)
{
	static const struct { const char *body, *param, *says; } cases[] = {
		{ "{\"model\":\"m\"}", "input", "required" },
		{ "{\"model\":\"m\",\"input\":[]}", "input", "non-empty" },
		{ "{\"input\":\"x\"}", "model", "model" },
		{ "{\"model\":\"m\",\"input\":\"x\",\"tools\":[{\"type\":\"custom\","
		    "\"name\":\"apply_patch\"}]}", "tools", "cannot be bridged" },
		{ "{\"model\":\"m\",\"input\":[{\"role\":\"user\",\"content\":[{\"type\":"
		    "\"input_file\",\"file_id\":\"f\"}]}]}", "input[0]", "cannot be bridged" },
		{ "{\"model\":\"m\",\"input\":[{\"type\":\"item_reference\",\"id\":\"x\"}]}",
		    "input[0]", "cannot be bridged" },
		{ "{\"model\":\"m\",\"input\":\"x\",\"background\":true,\"store\":false}",
		    "background", "stored" },
		{ "{\"model\":\"m\",\"input\":\"x\",\"background\":true,\"stream\":true}",
		    "stream", "poll" },
		{ "{\"model\":\"m\",\"input\":\"x\",\"conversation\":\"conv_1\"}",
		    "conversation", "previous_response_id" },
		{ "{\"model\":\"m\",\"input\":\"x\",\"max_output_tokens\":0}",
		    "max_output_tokens", "1 or more" },
	};
	struct aif_resp_ask ask;
	struct aif_error err;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_null(bridge(cases[i].body, &ask, &err));
		assert_int_equal(err.status, 400);
		assert_string_equal(err.param, cases[i].param);
		assert_non_null(strstr(err.message, cases[i].says));
	}
}

static void
bodies_are_bounded_like_every_request(void **state)
{
	struct aif_resp_limits small = { 64, 4, 8 };
	struct aif_resp_ask ask;
	struct aif_error err;
	json_t *chat = (json_t *)1, *md = (json_t *)1;
	const char *deep = "{\"model\":\"m\",\"input\":\"x\",\"metadata\":{\"a\":{\"b\":"
	    "{\"c\":{\"d\":1}}}}}";
	char big[128];

	(void)state;
	assert_int_equal(aif_resp_to_chat(deep, strlen(deep), &small, 0, &chat, &md, &ask,
	    &err), -1);
	assert_null(chat);
	assert_null(md);
	assert_int_equal(err.status, 400);
	assert_non_null(strstr(err.message, "nested at most 4"));
	memset(big, ' ', sizeof(big));
	memcpy(big, "{\"model\":\"m\",\"input\":\"x\"}", 25);
	assert_int_equal(aif_resp_to_chat(big, sizeof(big), &small, 0, &chat, &md, &ask,
	    &err), -1);
	assert_int_equal(err.status, 413);
	{
		const char *dup = "{\"model\":\"m\",\"model\":\"n\",\"input\":\"x\"}";
		assert_int_equal(aif_resp_to_chat(dup, strlen(dup), &lim, 0, &chat, &md, &ask,
		    &err), -1);
	}
	assert_int_equal(err.status, 400);	/* a duplicate key */
}

static void
hosted_tools_are_left_out_and_namespaces_flattened(void **state)
{
	struct aif_resp_ask ask;
	struct aif_error err;
	json_t *c = bridge("{\"model\":\"m\",\"input\":\"x\",\"tools\":[{\"type\":"
	    "\"web_search\",\"external_web_access\":false},{\"type\":\"namespace\",\"name\":"
	    "\"agents\",\"tools\":[{\"type\":\"function\",\"name\":\"spawn\",\"parameters\":"
	    "{\"type\":\"object\"}}]},{\"type\":\"file_search\"},{\"type\":\"web_search\"}]}",
	    &ask, &err);
	const json_t *tools;

	(void)state;
	assert_non_null(c);
	assert_string_equal(ask.dropped, "web_search,file_search");
	json_decref(c);
	/* names are whole: web_search after web_search_preview is named too */
	c = bridge("{\"model\":\"m\",\"input\":\"x\",\"tools\":[{\"type\":"
	    "\"web_search_preview\"},{\"type\":\"web_search\"},{\"type\":\"web_search\"}]}",
	    &ask, &err);
	assert_non_null(c);
	assert_string_equal(ask.dropped, "web_search_preview,web_search");
	json_decref(c);
	c = bridge("{\"model\":\"m\",\"input\":\"x\",\"tools\":[{\"type\":"
	    "\"web_search\",\"external_web_access\":false},{\"type\":\"namespace\",\"name\":"
	    "\"agents\",\"tools\":[{\"type\":\"function\",\"name\":\"spawn\",\"parameters\":"
	    "{\"type\":\"object\"}}]},{\"type\":\"file_search\"},{\"type\":\"web_search\"}]}",
	    &ask, &err);
	tools = json_object_get(c, "tools");
	assert_int_equal(json_array_size(tools), 1);
	assert_string_equal(json_string_value(json_object_get(json_object_get(json_array_get(
	    tools, 0), "function"), "name")), "spawn");
	json_decref(c);
	/* only hosted tools: no tools at all */
	c = bridge("{\"model\":\"m\",\"input\":\"x\",\"tools\":[{\"type\":\"mcp\"}]}",
	    &ask, &err);
	assert_non_null(c);
	assert_null(json_object_get(c, "tools"));
	json_decref(c);
}

static void
a_previous_response_goes_before_the_input(void **state)
{
	struct aif_resp_ask ask;
	struct aif_error err;
	json_t *prev = bridge("{\"model\":\"m\",\"instructions\":\"Old rules.\",\"input\":"
	    "\"one\"}", &ask, &err);
	json_t *ans = json_loads("{\"choices\":[{\"message\":{\"role\":\"assistant\","
	    "\"content\":\"two\"}}]}", 0, NULL);
	json_t *c = bridge("{\"model\":\"m\",\"instructions\":\"New rules.\","
	    "\"previous_response_id\":\"resp_abc\",\"input\":\"three\"}", &ask, &err);
	const json_t *m;

	(void)state;
	assert_string_equal(ask.previous, "resp_abc");
	assert_int_equal(aif_resp_chain(c, prev, ans, &err), 0);
	m = json_object_get(c, "messages");
	assert_int_equal(json_array_size(m), 4);
	assert_string_equal(json_string_value(json_object_get(json_array_get(m, 0), "content")),
	    "New rules.");
	assert_string_equal(json_string_value(json_object_get(json_array_get(m, 1), "content")),
	    "one");
	assert_string_equal(json_string_value(json_object_get(json_array_get(m, 2), "content")),
	    "two");
	assert_string_equal(json_string_value(json_object_get(json_array_get(m, 3), "content")),
	    "three");
	/* a chat request that is no response cannot be continued */
	assert_int_equal(aif_resp_chain(c, ans, ans, &err), -1);
	assert_int_equal(err.status, 400);
	json_decref(prev);
	json_decref(ans);
	json_decref(c);
}

static void
the_note_is_for_the_gateway_only(void **state)
{
	const char *with = "{\"model\":\"m\",\"x_aif_responses\":{\"instructions\":false},"
	    "\"messages\":[]}";
	char *out = NULL;
	size_t n = 0;
	char job[64];

	(void)state;
	assert_int_equal(aif_resp_strip(with, strlen(with), &out, &n, NULL, 0), 1);
	assert_null(strstr(out, "x_aif_responses"));
	assert_int_equal(n, strlen(out));
	free(out);
	assert_int_equal(aif_resp_strip("{\"model\":\"m\"}", 13, &out, &n, NULL, 0), 0);
	assert_null(out);
	{	/* the response it continues, from the note */
		const char *cont = "{\"x_aif_responses\":{\"previous_response_id\":"
		    "\"resp_Ab9\"},\"input\":\"x\"}";
		char prev[16] = "junk";
		assert_int_equal(aif_resp_strip(cont, strlen(cont), &out, &n, prev,
		    sizeof(prev)), 1);
		assert_string_equal(prev, "resp_Ab9");
		free(out);
		assert_int_equal(aif_resp_strip(cont, strlen(cont), &out, &n, prev, 8), 1);
		assert_string_equal(prev, "");	/* too long for it */
		free(out);
	}
	assert_int_equal(aif_resp_job_id("resp_Ab9", job, sizeof(job)), 0);
	assert_string_equal(job, "job_Ab9");
	assert_int_equal(aif_resp_job_id("resp_a/b", job, sizeof(job)), -1);
	assert_int_equal(aif_resp_job_id("job_x", job, sizeof(job)), -1);
}

/* Metadata is kept with the note: a Response rendered later from the stored request
 * alone (retrieve) shows it. */
static void
metadata_is_kept_with_the_note(void **state)
{
	struct aif_resp_ask ask;
	struct aif_error err;
	json_t *chat = bridge("{\"model\":\"m\",\"input\":\"hi\",\"metadata\":"
	    "{\"ticket\":\"T-1\"}}", &ask, &err), *r;

	(void)state;
	assert_non_null(chat);
	r = aif_resp_template(chat, NULL, "job_x", "m", 1);
	assert_string_equal(json_string_value(json_object_get(json_object_get(r, "metadata"),
	    "ticket")), "T-1");
	json_decref(r);
	json_decref(chat);
	chat = bridge("{\"model\":\"m\",\"input\":\"hi\"}", &ask, &err);
	r = aif_resp_template(chat, NULL, "job_x", "m", 1);
	assert_int_equal(json_object_size(json_object_get(r, "metadata")), 0);
	json_decref(r);
	json_decref(chat);
}

static void
a_chat_answer_fills_a_response(void **state)
{
	struct aif_resp_ask ask;
	struct aif_error err;
	json_t *chat = bridge("{\"model\":\"m\",\"instructions\":\"I.\",\"input\":\"q\","
	    "\"max_output_tokens\":5}", &ask, &err);
	json_t *ans = json_loads("{\"choices\":[{\"message\":{\"role\":\"assistant\","
	    "\"content\":\"hello\",\"tool_calls\":[{\"id\":\"call_9\",\"type\":\"function\","
	    "\"function\":{\"name\":\"f\",\"arguments\":\"{}\"}}]},\"finish_reason\":\"length\"}],"
	    "\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":5}}", 0, NULL);
	json_t *r = aif_resp_template(chat, NULL, "job_xyz", "demo-chat", 1700000000);
	const json_t *out;

	(void)state;
	assert_string_equal(json_string_value(json_object_get(r, "id")), "resp_xyz");
	assert_string_equal(json_string_value(json_object_get(r, "status")), "queued");
	assert_string_equal(json_string_value(json_object_get(r, "instructions")), "I.");
	aif_resp_complete(r, ans);
	assert_string_equal(json_string_value(json_object_get(r, "status")), "incomplete");
	assert_string_equal(json_string_value(json_object_get(json_object_get(r,
	    "incomplete_details"), "reason")), "max_output_tokens");
	out = json_object_get(r, "output");
	assert_int_equal(json_array_size(out), 2);
	assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(
	    json_array_get(out, 0), "content"), 0), "text")), "hello");
	assert_string_equal(json_string_value(json_object_get(json_array_get(out, 1),
	    "call_id")), "call_9");
	assert_int_equal(json_integer_value(json_object_get(json_object_get(r, "usage"),
	    "total_tokens")), 8);
	json_decref(r);
	json_decref(ans);
	json_decref(chat);
}

static char events[4096];

static int
record(void *arg, const char *event, const json_t *data)
{
	size_t n = strlen(events);

	(void)arg;
	assert_string_equal(event, json_string_value(json_object_get(data, "type")));
	snprintf(events + n, sizeof(events) - n, "%s%s\n", event + 9,	/* "response." */
	    json_is_integer(json_object_get(data, "output_index")) ?
	    (json_integer_value(json_object_get(data, "output_index")) ? ":1" : ":0") : "");
	return 0;
}

static void
chunk(struct aif_resp_stream *s, const char *delta, const char *finish)
{
	char buf[512];

	snprintf(buf, sizeof(buf), "{\"choices\":[{\"index\":0,\"delta\":%s,\"finish_reason\":"
	    "%s}]}", delta, finish);
	assert_int_equal(aif_resp_stream_chunk(s, buf, strlen(buf), record, NULL), 0);
}

static void
a_chat_stream_becomes_responses_events(void **state)
{
	struct aif_resp_ask ask;
	struct aif_error err;
	json_t *chat = bridge("{\"model\":\"m\",\"input\":\"q\"}", &ask, &err);
	struct aif_resp_stream s;
	const json_t *out;

	(void)state;
	events[0] = '\0';
	aif_resp_stream_init(&s, aif_resp_template(chat, NULL, "job_s", "m", 1));
	chunk(&s, "{\"role\":\"assistant\",\"content\":\"\"}", "null");
	chunk(&s, "{\"content\":\"He\"}", "null");
	chunk(&s, "{\"content\":\"y\"}", "null");
	chunk(&s, "{\"tool_calls\":[{\"index\":0,\"id\":\"c\",\"function\":{\"name\":\"f\","
	    "\"arguments\":\"{\\\"a\\\"\"}}]}", "null");
	chunk(&s, "{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\":1}\"}}]}",
	    "\"tool_calls\"");
	assert_int_equal(aif_resp_stream_end(&s, 4, 6, record, NULL), 0);
	assert_string_equal(events,
	    "created\nin_progress\n"
	    "output_item.added:0\ncontent_part.added:0\noutput_text.delta:0\n"
	    "output_text.delta:0\noutput_text.done:0\ncontent_part.done:0\n"
	    "output_item.done:0\n"
	    "output_item.added:1\nfunction_call_arguments.delta:1\n"
	    "function_call_arguments.delta:1\nfunction_call_arguments.done:1\n"
	    "output_item.done:1\ncompleted\n");
	out = json_object_get(s.response, "output");
	assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(
	    json_array_get(out, 0), "content"), 0), "text")), "Hey");
	assert_string_equal(json_string_value(json_object_get(json_array_get(out, 1),
	    "arguments")), "{\"a\":1}");
	assert_int_equal(s.seq, 15);
	aif_resp_stream_free(&s);
	json_decref(chat);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(a_request_with_items_and_tools_is_bridged),
		cmocka_unit_test(what_cannot_be_bridged_is_refused),
		cmocka_unit_test(hosted_tools_are_left_out_and_namespaces_flattened),
		cmocka_unit_test(bodies_are_bounded_like_every_request),
		cmocka_unit_test(a_previous_response_goes_before_the_input),
		cmocka_unit_test(the_note_is_for_the_gateway_only),
		cmocka_unit_test(metadata_is_kept_with_the_note),
		cmocka_unit_test(a_chat_answer_fills_a_response),
		cmocka_unit_test(a_chat_stream_becomes_responses_events),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
