/* anthropic.c -- the Anthropic Messages surface bridged through chat completions; see
 * anthropic.h. */
#include <stdio.h>
#include <string.h>

#include "anthropic.h"
#include "bridge.h"
#include "util.h"

#define BAD(err, param, ...)							\
	(aif_error_set((err), 400, "invalid_request_error", "invalid_value", (param),	\
	    __VA_ARGS__), -1)

/* ---- the request ---------------------------------------------------------------- */

/* The text of a string or of an array of text blocks, joined by "\n" (new string
 * object), or NULL with *err set when another block is there. */
static json_t *
text_of(const json_t *v, const char *param, struct aif_error *err)
{
	const json_t *b;
	json_t *out;
	size_t i, n = 0;
	char *s;

	if (json_is_string(v))
		return json_copy((json_t *)v);
	if (!json_is_array(v)) {
		(void)BAD(err, param, "%s must be a string or an array of text blocks.", param);
		return NULL;
	}
	json_array_foreach(v, i, b) {
		const json_t *t = json_object_get(b, "text");
		if (!json_is_string(t) || strcmp(json_string_value(json_object_get(b, "type")) ?:
		    "", "text") != 0) {
			(void)BAD(err, param, "%s[%zu] must be a text block.", param, i);
			return NULL;
		}
		n += json_string_length(t) + 1;
	}
	if ((s = malloc(n + 1)) == NULL)
		return NULL;
	n = 0;
	json_array_foreach(v, i, b) {
		const json_t *t = json_object_get(b, "text");
		if (i > 0)
			s[n++] = '\n';
		memcpy(s + n, json_string_value(t), json_string_length(t));
		n += json_string_length(t);
	}
	out = json_stringn(s, n);
	free(s);
	return out;
}

/* An image block as a chat content part (data: URL or URL). */
static json_t *
image_part(const json_t *b, const char *param, struct aif_error *err)
{
	const json_t *src = json_object_get(b, "source");
	const char *type = json_string_value(json_object_get(src, "type"));
	const char *media = json_string_value(json_object_get(src, "media_type"));
	const char *data = json_string_value(json_object_get(src, "data"));
	const char *url = json_string_value(json_object_get(src, "url"));
	json_t *part;
	char *u;
	size_t n;

	if (type != NULL && strcmp(type, "url") == 0 && url != NULL)
		return json_pack("{s:s,s:{s:s}}", "type", "image_url", "image_url", "url", url);
	if (type == NULL || strcmp(type, "base64") != 0 || media == NULL || data == NULL) {
		(void)BAD(err, param, "%s.source must be {type: base64, media_type, data} or "
		    "{type: url, url}.", param);
		return NULL;
	}
	n = strlen(media) + strlen(data) + 16;
	if ((u = malloc(n)) == NULL)
		return NULL;
	snprintf(u, n, "data:%s;base64,%s", media, data);
	part = json_pack("{s:s,s:{s:s}}", "type", "image_url", "image_url", "url", u);
	free(u);
	return part;
}

/* A tool_use block of an assistant turn as a chat tool call. */
static json_t *
tool_call(const json_t *b, const char *param, struct aif_error *err)
{
	const json_t *id = json_object_get(b, "id"), *name = json_object_get(b, "name");
	const json_t *input = json_object_get(b, "input");
	char *args;
	json_t *c;

	if (!json_is_string(id) || !json_is_string(name) || !json_is_object(input)) {
		(void)BAD(err, param, "%s must have a string id and name and an object input.",
		    param);
		return NULL;
	}
	if ((args = json_dumps(input, JSON_COMPACT)) == NULL)
		return NULL;
	c = json_pack("{s:O,s:s,s:{s:O,s:s}}", "id", id, "type", "function", "function",
	    "name", name, "arguments", args);
	free(args);
	return c;
}

/* A tool_result block of a user turn as a chat "tool" message. */
static json_t *
tool_result(const json_t *b, const char *param, struct aif_error *err)
{
	const json_t *id = json_object_get(b, "tool_use_id"), *content;
	json_t *text, *m;

	if (!json_is_string(id)) {
		(void)BAD(err, param, "%s.tool_use_id must be a string.", param);
		return NULL;
	}
	content = json_object_get(b, "content");
	text = content == NULL ? json_string("") : text_of(content, param, err);
	if (text == NULL)
		return NULL;
	if (json_is_true(json_object_get(b, "is_error"))) {
		json_t *t = json_sprintf("Error: %s", json_string_value(text));
		json_decref(text);
		if ((text = t) == NULL)
			return NULL;
	}
	m = json_pack("{s:s,s:O,s:o}", "role", "tool", "tool_call_id", id, "content", text);
	return m;
}

/* What one content block of a turn adds: to parts (text, images), calls (tool_use) or
 * tools (tool_result). Thinking blocks add nothing. */
static int
block(const json_t *b, int assistant, const char *param, json_t *parts, json_t *calls,
    json_t *tools, struct aif_error *err)
{
	const char *type = json_string_value(json_object_get(b, "type"));
	json_t *x, *into;

	if (type == NULL)
		return BAD(err, param, "%s needs a string type.", param);
	if (strcmp(type, "text") == 0) {
		if (!json_is_string(json_object_get(b, "text")))
			return BAD(err, param, "%s.text must be a string.", param);
		return json_array_append_new(parts, json_pack("{s:s,s:O}", "type", "text",
		    "text", json_object_get(b, "text")));
	}
	if (strcmp(type, "thinking") == 0 || strcmp(type, "redacted_thinking") == 0)
		return 0;
	if (strcmp(type, "image") == 0 && !assistant) {
		x = image_part(b, param, err);
		into = parts;
	} else if (strcmp(type, "tool_use") == 0 && assistant) {
		x = tool_call(b, param, err);
		into = calls;
	} else if (strcmp(type, "tool_result") == 0 && !assistant) {
		x = tool_result(b, param, err);
		into = tools;
	} else {
		return BAD(err, param, "%s: %s blocks in %s turns cannot be bridged to "
		    "chat completions.", param, type, assistant ? "assistant" : "user");
	}
	if (x == NULL)
		return err->status != 0 ? -1 : BAD(err, param, "Out of memory.");
	return json_array_append_new(into, x);
}

/* The content of chat message from its text parts: one string when all are text. */
static json_t *
content_of(json_t *parts)
{
	const json_t *p;
	size_t i, n = 0;
	int all_text = 1;
	char *s;
	json_t *out;

	json_array_foreach(parts, i, p) {
		if (strcmp(json_string_value(json_object_get(p, "type")), "text") != 0)
			all_text = 0;
		else
			n += json_string_length(json_object_get(p, "text"));
	}
	if (!all_text)
		return json_incref(parts);
	if ((s = malloc(n + 1)) == NULL)
		return NULL;
	n = 0;
	json_array_foreach(parts, i, p) {
		const json_t *t = json_object_get(p, "text");
		memcpy(s + n, json_string_value(t), json_string_length(t));
		n += json_string_length(t);
	}
	out = json_stringn(s, n);
	free(s);
	return out;
}

/* Appends v (a string, or text blocks: checked by the bridge) to blocks as text
 * blocks, the blocks as they are (cache_control and all). 0, or -1 on no memory. */
static int
text_blocks(json_t *blocks, json_t *v)
{
	json_t *b;
	size_t i;

	if (json_is_string(v))
		return json_array_append_new(blocks, json_pack("{s:s,s:O}", "type", "text",
		    "text", v));
	json_array_foreach(v, i, b)
		if (json_array_append(blocks, b) != 0)
			return -1;
	return 0;
}

int
aif_anth_fold_system(json_t *body)
{
	json_t *msgs = json_object_get(body, "messages"), *keep, *sys, *m;
	size_t i, moved = 0;

	if ((keep = json_array()) == NULL || (sys = json_array()) == NULL) {
		json_decref(keep);
		return -1;
	}
	if (json_object_get(body, "system") != NULL &&
	    text_blocks(sys, json_object_get(body, "system")) != 0)
		goto fail;
	json_array_foreach(msgs, i, m) {
		const char *role = json_string_value(json_object_get(m, "role"));
		if (role != NULL && strcmp(role, "system") == 0) {
			if (text_blocks(sys, json_object_get(m, "content")) != 0)
				goto fail;
			moved++;
		} else if (json_array_append(keep, m) != 0) {
			goto fail;
		}
	}
	if (moved > 0 && (json_object_set(body, "system", sys) != 0 ||
	    json_object_set(body, "messages", keep) != 0))
		goto fail;
	json_decref(keep);
	json_decref(sys);
	return 0;
fail:
	json_decref(keep);
	json_decref(sys);
	return -1;
}

/* One turn (messages[i]) appended to chat as its chat messages. */
static int
turn(const json_t *m, size_t i, json_t *chat, struct aif_error *err)
{
	const char *role = json_string_value(json_object_get(m, "role"));
	const json_t *content = json_object_get(m, "content"), *b;
	json_t *parts, *calls, *tools, *msg;
	char param[48];
	size_t k;
	int assistant, rc = 0;

	snprintf(param, sizeof(param), "messages[%zu]", i);
	if (!json_is_object(m) || role == NULL || (strcmp(role, "user") != 0 &&
	    strcmp(role, "assistant") != 0 && strcmp(role, "system") != 0))
		return BAD(err, param, "%s.role must be \"user\", \"assistant\" or \"system\".",
		    param);
	if (role[0] == 's') {	/* a system message between turns: text only */
		json_t *t = text_of(content, param, err);
		return t == NULL ? -1 : json_array_append_new(chat, json_pack("{s:s,s:o}",
		    "role", "system", "content", t));
	}
	assistant = role[0] == 'a';
	if (json_is_string(content))
		return json_array_append_new(chat, json_pack("{s:s,s:O}", "role", role,
		    "content", content));
	if (!json_is_array(content))
		return BAD(err, param, "%s.content must be a string or an array of content "
		    "blocks.", param);
	parts = json_array();
	calls = json_array();
	tools = json_array();
	json_array_foreach(content, k, b) {
		char bp[96];
		snprintf(bp, sizeof(bp), "%s.content[%zu]", param, k);
		if ((rc = block(b, assistant, bp, parts, calls, tools, err)) != 0)
			break;
	}
	if (rc == 0)	/* tool results answer the calls before: they come first */
		rc = json_array_extend(chat, tools);
	if (rc == 0 && (json_array_size(parts) > 0 || json_array_size(calls) > 0 ||
	    json_array_size(tools) == 0)) {
		msg = json_pack("{s:s,s:o}", "role", role, "content",
		    json_array_size(parts) > 0 ? content_of(parts) :
		    assistant && json_array_size(calls) > 0 ? json_null() : json_string(""));
		if (msg != NULL && json_array_size(calls) > 0)
			json_object_set(msg, "tool_calls", calls);
		rc = msg == NULL ? -1 : json_array_append_new(chat, msg);
	}
	json_decref(parts);
	json_decref(calls);
	json_decref(tools);
	if (rc != 0 && err->status == 0)
		return BAD(err, param, "Out of memory.");
	return rc != 0 ? -1 : 0;
}

/* tools[] (client tools only) as chat tools. */
static int
tools_of(const json_t *tools, json_t *chat, struct aif_error *err)
{
	json_t *out = json_array();
	const json_t *t;
	size_t i;

	if (!json_is_array(tools)) {
		json_decref(out);
		return BAD(err, "tools", "tools must be an array.");
	}
	json_array_foreach(tools, i, t) {
		const json_t *name = json_object_get(t, "name");
		const json_t *schema = json_object_get(t, "input_schema");
		const json_t *desc = json_object_get(t, "description");
		const char *type = json_string_value(json_object_get(t, "type"));
		if (!json_is_string(name) || !json_is_object(schema) ||
		    (type != NULL && strcmp(type, "custom") != 0) ||
		    (desc != NULL && !json_is_string(desc))) {
			json_decref(out);
			return BAD(err, "tools", "tools[%zu] must be a client tool {name, "
			    "description?, input_schema}; server tools cannot be bridged to "
			    "chat completions.", i);
		}
		json_array_append_new(out, json_pack("{s:s,s:{s:O,s:O*,s:O}}", "type",
		    "function", "function", "name", name, "description", desc,
		    "parameters", schema));
	}
	return json_object_set_new(chat, "tools", out);
}

/* tool_choice {type: auto|any|tool|none, name?, disable_parallel_tool_use?}. */
static int
tool_choice_of(const json_t *tc, json_t *chat, struct aif_error *err)
{
	const char *type = json_string_value(json_object_get(tc, "type"));
	const json_t *name = json_object_get(tc, "name");

	if (type == NULL)
		return BAD(err, "tool_choice", "tool_choice must be an object with a type.");
	if (json_is_true(json_object_get(tc, "disable_parallel_tool_use")))
		json_object_set_new(chat, "parallel_tool_calls", json_false());
	if (strcmp(type, "auto") == 0 || strcmp(type, "none") == 0)
		return json_object_set_new(chat, "tool_choice", json_string(type));
	if (strcmp(type, "any") == 0)
		return json_object_set_new(chat, "tool_choice", json_string("required"));
	if (strcmp(type, "tool") == 0 && json_is_string(name))
		return json_object_set_new(chat, "tool_choice", json_pack("{s:s,s:{s:O}}",
		    "type", "function", "function", "name", name));
	return BAD(err, "tool_choice", "tool_choice.type must be auto, any, none, or tool "
	    "with a name.");
}

/* The sampling and stop fields, type-checked, copied under their chat names. */
static int
options(const json_t *in, json_t *chat, struct aif_error *err)
{
	static const char *const numbers[] = { "temperature", "top_p", "top_k" };
	const json_t *v;

	for (size_t i = 0; i < AIF_NELEM(numbers); i++)
		if ((v = json_object_get(in, numbers[i])) != NULL) {
			if (!json_is_number(v))
				return BAD(err, numbers[i], "%s must be a number.", numbers[i]);
			json_object_set(chat, numbers[i], (json_t *)v);
		}
	if ((v = json_object_get(in, "stop_sequences")) != NULL) {
		const json_t *s;
		size_t i;
		if (!json_is_array(v))
			return BAD(err, "stop_sequences", "stop_sequences must be an array of "
			    "strings.");
		json_array_foreach(v, i, s)
			if (!json_is_string(s))
				return BAD(err, "stop_sequences", "stop_sequences[%zu] must be a "
				    "string.", i);
		if (json_array_size(v) > 0)
			json_object_set(chat, "stop", (json_t *)v);
	}
	if ((v = json_object_get(in, "stream")) != NULL) {
		if (!json_is_boolean(v))
			return BAD(err, "stream", "stream must be a boolean.");
		if (json_is_true(v)) {
			json_object_set_new(chat, "stream", json_true());
			json_object_set_new(chat, "stream_options", json_pack("{s:b}",
			    "include_usage", 1));
		}
	}
	v = json_object_get(json_object_get(in, "metadata"), "user_id");
	if (json_is_string(v))
		json_object_set(chat, "user", (json_t *)v);
	return 0;
}

/* The turns after the system prompt, and the fields around them. */
static int
convert(const json_t *in, int count_only, const struct aif_anth_limits *lim, json_t *chat,
    struct aif_error *err)
{
	const json_t *model = json_object_get(in, "model"), *mt = json_object_get(in,
	    "max_tokens"), *msgs = json_object_get(in, "messages"), *sys, *m, *v;
	json_t *out = json_object_get(chat, "messages");
	size_t i;

	if (!json_is_string(model) || json_string_length(model) == 0)
		return BAD(err, "model", "model: a string is required.");
	json_object_set(chat, "model", (json_t *)model);
	if (mt != NULL || !count_only) {
		if (!json_is_integer(mt) || json_integer_value(mt) < 1)
			return BAD(err, "max_tokens", "max_tokens: an integer of 1 or more is "
			    "required.");
		json_object_set(chat, "max_tokens", (json_t *)mt);
	}
	if (!json_is_array(msgs) || json_array_size(msgs) == 0)
		return BAD(err, "messages", "messages: a non-empty array is required.");
	if (json_array_size(msgs) > (size_t)lim->max_messages)
		return BAD(err, "messages", "messages: at most %d are accepted.",
		    lim->max_messages);
	if ((sys = json_object_get(in, "system")) != NULL) {
		json_t *t = text_of(sys, "system", err);
		if (t == NULL)
			return err->status != 0 ? -1 : BAD(err, "system", "Out of memory.");
		json_array_append_new(out, json_pack("{s:s,s:o}", "role", "system",
		    "content", t));
	}
	json_array_foreach(msgs, i, m)
		if (turn(m, i, out, err) != 0)
			return -1;
	if ((v = json_object_get(in, "tools")) != NULL && tools_of(v, chat, err) != 0)
		return -1;
	if ((v = json_object_get(in, "tool_choice")) != NULL && tool_choice_of(v, chat, err) != 0)
		return -1;
	return options(in, chat, err);
}

int
aif_anth_to_chat(const char *body, size_t len, const struct aif_anth_limits *lim,
    int count_only, json_t **out, struct aif_error *err)
{
	json_t *in, *chat;

	*out = NULL;
	if ((in = aif_bridge_load(body, len, lim->max_body_bytes, lim->max_depth,
	    err)) == NULL)
		return -1;
	chat = json_pack("{s:[]}", "messages");
	if (chat == NULL || convert(in, count_only, lim, chat, err) != 0) {
		if (err->status == 0)
			(void)BAD(err, NULL, "Out of memory.");
		json_decref(chat);
		json_decref(in);
		return -1;
	}
	json_decref(in);
	*out = chat;
	return 0;
}

/* ---- the answer ------------------------------------------------------------------- */

static const char *
stop_reason(const char *finish)
{
	if (finish == NULL || strcmp(finish, "stop") == 0)
		return "end_turn";
	if (strcmp(finish, "length") == 0)
		return "max_tokens";
	if (strcmp(finish, "tool_calls") == 0 || strcmp(finish, "function_call") == 0)
		return "tool_use";
	if (strcmp(finish, "content_filter") == 0)
		return "refusal";
	return "end_turn";
}

/* The input of a tool call: its arguments parsed, {} when they are no JSON object. */
static json_t *
tool_input(const char *args)
{
	json_t *v = args != NULL ? json_loads(args, 0, NULL) : NULL;

	if (json_is_object(v))
		return v;
	json_decref(v);
	return json_object();
}

static void
msg_id(char *out, size_t cap, const char *job_id)
{
	snprintf(out, cap, "msg_%s", job_id != NULL && strncmp(job_id, "job_", 4) == 0 ?
	    job_id + 4 : job_id != NULL ? job_id : "");
}

json_t *
aif_anth_message(const json_t *completion, const char *job_id)
{
	const json_t *ch = json_array_get(json_object_get(completion, "choices"), 0);
	const json_t *m = json_object_get(ch, "message"), *tc;
	const json_t *u = json_object_get(completion, "usage");
	const char *text = json_string_value(json_object_get(m, "content"));
	json_t *content = json_array();
	char id[80];
	size_t i;

	msg_id(id, sizeof(id), job_id);
	if (text != NULL && text[0] != '\0')
		json_array_append_new(content, json_pack("{s:s,s:s}", "type", "text", "text",
		    text));
	json_array_foreach(json_object_get(m, "tool_calls"), i, tc) {
		const json_t *f = json_object_get(tc, "function");
		json_array_append_new(content, json_pack("{s:s,s:s,s:s,s:o}", "type",
		    "tool_use", "id", json_string_value(json_object_get(tc, "id")) ?: "",
		    "name", json_string_value(json_object_get(f, "name")) ?: "", "input",
		    tool_input(json_string_value(json_object_get(f, "arguments")))));
	}
	return json_pack("{s:s,s:s,s:s,s:s,s:o,s:s,s:n,s:{s:I,s:I}}", "id", id, "type",
	    "message", "role", "assistant", "model",
	    json_string_value(json_object_get(completion, "model")) ?: "", "content", content,
	    "stop_reason", stop_reason(json_string_value(json_object_get(ch,
	    "finish_reason"))), "stop_sequence", "usage", "input_tokens",
	    json_integer_value(json_object_get(u, "prompt_tokens")), "output_tokens",
	    json_integer_value(json_object_get(u, "completion_tokens")));
}

/* ---- the stream ------------------------------------------------------------------- */

void
aif_anth_stream_init(struct aif_anth_stream *s, const char *job_id)
{
	memset(s, 0, sizeof(*s));
	s->open_tool = -1;
	msg_id(s->msg_id, sizeof(s->msg_id), job_id);
}

/* Sends ev (stolen) as event name; -1 when it is NULL or the client is gone. */
static int
emit_ev(aif_sse_emit_fn emit, void *arg, const char *name, json_t *ev)
{
	int rc = ev != NULL ? emit(arg, name, ev) : -1;

	json_decref(ev);
	return rc;
}

static int
start(struct aif_anth_stream *s, const char *model, aif_sse_emit_fn emit, void *arg)
{
	if (s->started)
		return 0;
	s->started = 1;
	return emit_ev(emit, arg, "message_start", json_pack("{s:s,s:{s:s,s:s,s:s,s:[],s:s,"
	    "s:n,s:n,s:{s:i,s:i}}}", "type", "message_start", "message", "id", s->msg_id,
	    "type", "message", "role", "assistant", "content", "model", model,
	    "stop_reason", "stop_sequence", "usage", "input_tokens", 0, "output_tokens", 0));
}

static int
close_block(struct aif_anth_stream *s, aif_sse_emit_fn emit, void *arg)
{
	if (!s->open)
		return 0;
	s->open = 0;
	s->open_tool = -1;
	return emit_ev(emit, arg, "content_block_stop", json_pack("{s:s,s:i}", "type",
	    "content_block_stop", "index", s->index++));
}

/* Opens block (stolen) unless one of its kind is open; tool: the chat tool index. */
static int
open_block(struct aif_anth_stream *s, json_t *blk, int tool, aif_sse_emit_fn emit,
    void *arg)
{
	if (close_block(s, emit, arg) != 0) {
		json_decref(blk);
		return -1;
	}
	s->open = 1;
	s->open_tool = tool;
	return emit_ev(emit, arg, "content_block_start", json_pack("{s:s,s:i,s:o}", "type",
	    "content_block_start", "index", s->index, "content_block", blk));
}

static int
delta(struct aif_anth_stream *s, json_t *d, aif_sse_emit_fn emit, void *arg)
{
	return emit_ev(emit, arg, "content_block_delta", json_pack("{s:s,s:i,s:o}", "type",
	    "content_block_delta", "index", s->index, "delta", d));
}

/* The tool call deltas of one chunk. */
static int
tool_deltas(struct aif_anth_stream *s, const json_t *calls, aif_sse_emit_fn emit, void *arg)
{
	const json_t *tc;
	size_t i;

	json_array_foreach(calls, i, tc) {
		int ix = (int)json_integer_value(json_object_get(tc, "index"));
		const json_t *f = json_object_get(tc, "function");
		const char *args = json_string_value(json_object_get(f, "arguments"));
		if ((!s->open || s->open_tool != ix) && open_block(s, json_pack(
		    "{s:s,s:s,s:s,s:{}}", "type", "tool_use", "id",
		    json_string_value(json_object_get(tc, "id")) ?: "", "name",
		    json_string_value(json_object_get(f, "name")) ?: "", "input"), ix, emit,
		    arg) != 0)
			return -1;
		if (args != NULL && args[0] != '\0' && delta(s, json_pack("{s:s,s:s}", "type",
		    "input_json_delta", "partial_json", args), emit, arg) != 0)
			return -1;
	}
	return 0;
}

int
aif_anth_stream_chunk(struct aif_anth_stream *s, const char *payload, size_t len,
    const char *model, aif_sse_emit_fn emit, void *arg)
{
	json_t *c = json_loadb(payload, len, 0, NULL);
	const json_t *ch = json_array_get(json_object_get(c, "choices"), 0);
	const json_t *d = json_object_get(ch, "delta");
	const char *text = json_string_value(json_object_get(d, "content"));
	const char *finish = json_string_value(json_object_get(ch, "finish_reason"));
	int rc = start(s, json_string_value(json_object_get(c, "model")) ?: model, emit, arg);

	if (rc == 0 && text != NULL && text[0] != '\0') {
		if ((!s->open || s->open_tool >= 0) && open_block(s, json_pack("{s:s,s:s}",
		    "type", "text", "text", ""), -1, emit, arg) != 0)
			rc = -1;
		else
			rc = delta(s, json_pack("{s:s,s:s}", "type", "text_delta", "text", text),
			    emit, arg);
	}
	if (rc == 0)
		rc = tool_deltas(s, json_object_get(d, "tool_calls"), emit, arg);
	if (finish != NULL)
		aif_strlcpy(s->stop_reason, stop_reason(finish), sizeof(s->stop_reason));
	json_decref(c);
	return rc;
}

int
aif_anth_stream_end(struct aif_anth_stream *s, const char *model, int64_t input,
    int64_t output, aif_sse_emit_fn emit, void *arg)
{
	if (start(s, model, emit, arg) != 0 || close_block(s, emit, arg) != 0)
		return -1;
	if (emit_ev(emit, arg, "message_delta", json_pack("{s:s,s:{s:s,s:n},s:{s:I,s:I}}",
	    "type", "message_delta", "delta", "stop_reason", s->stop_reason[0] ?
	    s->stop_reason : "end_turn", "stop_sequence", "usage", "input_tokens",
	    (json_int_t)input, "output_tokens", (json_int_t)output)) != 0)
		return -1;
	return emit_ev(emit, arg, "message_stop", json_pack("{s:s}", "type", "message_stop"));
}

/* ---- errors ----------------------------------------------------------------------- */

const char *
aif_anth_error_type(int status, const char *type)
{
	if (status == 429 && type != NULL && strcmp(type, "insufficient_quota") == 0)
		return "billing_error";
	switch (status) {
	case 400: case 405: case 409: case 415: case 422: return "invalid_request_error";
	case 401: return "authentication_error";
	case 402: return "billing_error";
	case 403: return "permission_error";
	case 404: return "not_found_error";
	case 413: return "request_too_large";
	case 429: return "rate_limit_error";
	case 503: case 529: return "overloaded_error";
	case 504: return "timeout_error";
	default: return status >= 400 && status < 500 ? "invalid_request_error" : "api_error";
	}
}
