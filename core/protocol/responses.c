/* responses.c -- the Responses API surface bridged through chat completions; see
 * responses.h. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bridge.h"
#include "responses.h"
#include "util.h"

#define BAD(err, param, ...)							\
	(aif_error_set((err), 400, "invalid_request_error", "invalid_value", (param),	\
	    __VA_ARGS__), -1)

static const char *
str(const json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

/* ---- ids ------------------------------------------------------------------------- */

void
aif_resp_id(const char *job_id, char *out, size_t cap)
{
	snprintf(out, cap, "resp_%s", strncmp(job_id, "job_", 4) == 0 ? job_id + 4 : job_id);
}

int
aif_resp_job_id(const char *resp_id, char *out, size_t cap)
{
	size_t n = strlen(resp_id);

	if (strncmp(resp_id, "resp_", 5) != 0 || n <= 5 || n - 5 + 5 > cap)
		return -1;
	for (size_t i = 5; i < n; i++)
		if (!((resp_id[i] >= '0' && resp_id[i] <= '9') ||
		    (resp_id[i] >= 'a' && resp_id[i] <= 'z') ||
		    (resp_id[i] >= 'A' && resp_id[i] <= 'Z')))
			return -1;
	snprintf(out, cap, "job_%s", resp_id + 5);
	return 0;
}

/* ---- the request ------------------------------------------------------------------ */

/* The text of a content array of input_text / output_text parts, or of a string; NULL
 * (err set) for other parts. images: where input_image parts go (chat parts), or NULL
 * when they are refused. */
static json_t *
content_of(const json_t *c, const char *param, json_t *images, struct aif_error *err)
{
	const json_t *p;
	json_t *parts;
	size_t i;
	int only_text = 1;

	if (json_is_string(c))
		return json_copy((json_t *)c);
	if (!json_is_array(c)) {
		(void)BAD(err, param, "%s.content must be a string or an array of parts.", param);
		return NULL;
	}
	parts = json_array();
	json_array_foreach(c, i, p) {
		const char *t = str(p, "type") ?: "";
		if ((strcmp(t, "input_text") == 0 || strcmp(t, "output_text") == 0 ||
		    strcmp(t, "text") == 0) && json_is_string(json_object_get(p, "text"))) {
			json_array_append_new(parts, json_pack("{s:s,s:O}", "type", "text", "text",
			    json_object_get(p, "text")));
		} else if (strcmp(t, "input_image") == 0 && images != NULL &&
		    str(p, "image_url") != NULL) {
			json_array_append_new(parts, json_pack("{s:s,s:{s:s}}", "type", "image_url",
			    "image_url", "url", str(p, "image_url")));
			only_text = 0;
		} else {
			json_decref(parts);
			(void)BAD(err, param, "%s.content[%zu]: %s parts cannot be bridged to chat "
			    "completions (input_text, output_text and input_image with an "
			    "image_url can).", param, i, t[0] ? t : "untyped");
			return NULL;
		}
	}
	if (!only_text)
		return parts;
	{
		struct aif_buf b = { 0 };
		json_t *s;
		json_array_foreach(parts, i, p) {
			const json_t *tx = json_object_get(p, "text");
			(void)aif_buf_add(&b, json_string_value(tx), json_string_length(tx),
			    SIZE_MAX / 2);
		}
		s = json_stringn(b.p ? b.p : "", b.len);
		aif_buf_free(&b);
		json_decref(parts);
		return s;
	}
}

/* The last chat message when it is an assistant's that may take tool calls, else a new
 * one appended. */
static json_t *
assistant_for_calls(json_t *msgs)
{
	json_t *last = json_array_get(msgs, json_array_size(msgs) - 1);
	json_t *m;

	if (last != NULL && strcmp(str(last, "role") ?: "", "assistant") == 0)
		return last;
	m = json_pack("{s:s,s:n}", "role", "assistant", "content");
	json_array_append_new(msgs, m);
	return m;
}

/* One input item appended to msgs as chat messages. */
static int
item(const json_t *it, size_t i, json_t *msgs, struct aif_error *err)
{
	const char *type = str(it, "type"), *role = str(it, "role");
	char param[48];
	json_t *c, *calls;

	snprintf(param, sizeof(param), "input[%zu]", i);
	if (!json_is_object(it))
		return BAD(err, param, "%s must be an object.", param);
	if (type == NULL || strcmp(type, "message") == 0) {
		if (role == NULL || (strcmp(role, "user") != 0 && strcmp(role, "assistant") != 0 &&
		    strcmp(role, "system") != 0 && strcmp(role, "developer") != 0))
			return BAD(err, param, "%s.role must be user, assistant, system or "
			    "developer.", param);
		if ((c = content_of(json_object_get(it, "content"), param,
		    role[0] == 'u' ? msgs : NULL, err)) == NULL)
			return -1;
		return json_array_append_new(msgs, json_pack("{s:s,s:o}", "role",
		    role[0] == 'd' ? "system" : role, "content", c));
	}
	if (strcmp(type, "function_call") == 0) {
		if (str(it, "call_id") == NULL || str(it, "name") == NULL ||
		    str(it, "arguments") == NULL)
			return BAD(err, param, "%s needs call_id, name and arguments strings.",
			    param);
		c = assistant_for_calls(msgs);
		if ((calls = json_object_get(c, "tool_calls")) == NULL) {
			calls = json_array();
			json_object_set_new(c, "tool_calls", calls);
		}
		return json_array_append_new(calls, json_pack("{s:s,s:s,s:{s:s,s:s}}", "id",
		    str(it, "call_id"), "type", "function", "function", "name", str(it, "name"),
		    "arguments", str(it, "arguments")));
	}
	if (strcmp(type, "function_call_output") == 0) {
		if (str(it, "call_id") == NULL)
			return BAD(err, param, "%s.call_id must be a string.", param);
		if ((c = content_of(json_object_get(it, "output"), param, NULL, err)) == NULL)
			return -1;
		return json_array_append_new(msgs, json_pack("{s:s,s:s,s:o}", "role", "tool",
		    "tool_call_id", str(it, "call_id"), "content", c));
	}
	if (strcmp(type, "reasoning") == 0)
		return 0;
	return BAD(err, param, "%s: %s items cannot be bridged to chat completions.", param,
	    type);
}

/* Hosted tools: run by OpenAI's servers, not by the model or the client. A gateway
 * in front of engines has none of them: they are left out, and the answer says which
 * (x-aif-dropped-tools), so that a client that always offers one still works. */
static const char *const hosted[] = {
	"web_search", "web_search_preview", "file_search", "code_interpreter",
	"image_generation", "computer_use_preview", "mcp", "local_shell",
};

static int
is_hosted(const char *type)
{
	for (size_t i = 0; i < AIF_NELEM(hosted); i++)
		if (strcmp(type, hosted[i]) == 0)
			return 1;
	return 0;
}

/* Notes a dropped hosted tool type in ask->dropped (comma-separated, once each). */
static void
note_dropped(struct aif_resp_ask *ask, const char *type)
{
	size_t n = strlen(ask->dropped), k = strlen(type);

	for (const char *p = ask->dropped; (p = strstr(p, type)) != NULL; p += k)
		if ((p == ask->dropped || p[-1] == ',') && (p[k] == ',' || p[k] == '\0'))
			return;		/* named already */
	if (n + k + 2 < sizeof(ask->dropped))
		snprintf(ask->dropped + n, sizeof(ask->dropped) - n, "%s%s", n ? "," : "", type);
}

/* One function tool appended to out as a chat tool; -1 when t is no function tool. */
static int
function_tool(const json_t *t, json_t *out)
{
	const json_t *params = json_object_get(t, "parameters");

	if (strcmp(str(t, "type") ?: "", "function") != 0 || str(t, "name") == NULL ||
	    (params != NULL && !json_is_object(params) && !json_is_null(params)))
		return -1;
	return json_array_append_new(out, json_pack("{s:s,s:{s:s,s:O*,s:O*,s:O*}}", "type",
	    "function", "function", "name", str(t, "name"), "description",
	    json_object_get(t, "description"), "parameters",
	    json_is_object(params) ? params : NULL, "strict", json_object_get(t, "strict")));
}

/* tools[]: function tools, the function tools of namespaces (by their own names), hosted
 * tools left out. */
static int
tools_of(const json_t *tools, json_t *chat, struct aif_resp_ask *ask,
    struct aif_error *err)
{
	json_t *out = json_array();
	const json_t *t, *nt;
	size_t i, k;
	int bad = 0;

	if (!json_is_array(tools)) {
		json_decref(out);
		return BAD(err, "tools", "tools must be an array.");
	}
	json_array_foreach(tools, i, t) {
		const char *type = str(t, "type") ?: "";
		if (is_hosted(type)) {
			note_dropped(ask, type);
		} else if (strcmp(type, "namespace") == 0 &&
		    json_is_array(json_object_get(t, "tools"))) {
			json_array_foreach(json_object_get(t, "tools"), k, nt)
				if (function_tool(nt, out) != 0)
					bad = 1;
		} else if (function_tool(t, out) != 0) {
			bad = 1;
		}
		if (bad) {
			json_decref(out);
			return BAD(err, "tools", "tools[%zu]: %s tools cannot be bridged to chat "
			    "completions (function tools {type: function, name, parameters} can, "
			    "also inside a namespace; hosted tools are left out).", i,
			    type[0] ? type : "untyped");
		}
	}
	if (json_array_size(out) == 0) {
		json_decref(out);
		return 0;
	}
	return json_object_set_new(chat, "tools", out);
}

static int
tool_choice_of(const json_t *tc, json_t *chat, struct aif_error *err)
{
	const char *s = json_string_value(tc);

	if (s != NULL && (strcmp(s, "auto") == 0 || strcmp(s, "none") == 0 ||
	    strcmp(s, "required") == 0))
		return json_object_set(chat, "tool_choice", (json_t *)tc);
	if (json_is_object(tc) && strcmp(str(tc, "type") ?: "", "function") == 0 &&
	    str(tc, "name") != NULL)
		return json_object_set_new(chat, "tool_choice", json_pack("{s:s,s:{s:s}}",
		    "type", "function", "function", "name", str(tc, "name")));
	return BAD(err, "tool_choice", "tool_choice must be auto, none, required or "
	    "{type: function, name}.");
}

/* text.format as response_format. */
static int
format_of(const json_t *text, json_t *chat, struct aif_error *err)
{
	const json_t *f = json_object_get(text, "format");
	const char *t = str(f, "type");

	if (f == NULL || (t != NULL && strcmp(t, "text") == 0))
		return 0;
	if (t != NULL && strcmp(t, "json_object") == 0)
		return json_object_set_new(chat, "response_format", json_pack("{s:s}", "type",
		    "json_object"));
	if (t != NULL && strcmp(t, "json_schema") == 0 && str(f, "name") != NULL &&
	    json_is_object(json_object_get(f, "schema")))
		return json_object_set_new(chat, "response_format", json_pack(
		    "{s:s,s:{s:s,s:O,s:O*}}", "type", "json_schema", "json_schema", "name",
		    str(f, "name"), "schema", json_object_get(f, "schema"), "strict",
		    json_object_get(f, "strict")));
	return BAD(err, "text.format", "text.format must be text, json_object or "
	    "json_schema with a name and a schema.");
}

/* Sampling and limits, type-checked, under their chat names. */
static int
options(const json_t *in, json_t *chat, struct aif_resp_ask *ask, struct aif_error *err)
{
	static const char *const numbers[] = { "temperature", "top_p" };
	const json_t *v;

	for (size_t i = 0; i < AIF_NELEM(numbers); i++)
		if ((v = json_object_get(in, numbers[i])) != NULL && !json_is_null(v)) {
			if (!json_is_number(v))
				return BAD(err, numbers[i], "%s must be a number.", numbers[i]);
			json_object_set(chat, numbers[i], (json_t *)v);
		}
	if ((v = json_object_get(in, "max_output_tokens")) != NULL && !json_is_null(v)) {
		if (!json_is_integer(v) || json_integer_value(v) < 1)
			return BAD(err, "max_output_tokens", "max_output_tokens must be an "
			    "integer of 1 or more.");
		json_object_set(chat, "max_tokens", (json_t *)v);
	}
	if ((v = json_object_get(in, "parallel_tool_calls")) != NULL && json_is_boolean(v))
		json_object_set(chat, "parallel_tool_calls", (json_t *)v);
	if ((v = json_object_get(in, "safety_identifier")) != NULL && json_is_string(v))
		json_object_set(chat, "user", (json_t *)v);
	else if ((v = json_object_get(in, "user")) != NULL && json_is_string(v))
		json_object_set(chat, "user", (json_t *)v);
	for (size_t i = 0; i < 3; i++) {
		static const char *const flags[] = { "stream", "background", "store" };
		v = json_object_get(in, flags[i]);
		if (v != NULL && !json_is_null(v) && !json_is_boolean(v))
			return BAD(err, flags[i], "%s must be a boolean.", flags[i]);
	}
	ask->stream = json_is_true(json_object_get(in, "stream"));
	ask->background = json_is_true(json_object_get(in, "background"));
	ask->store = !json_is_false(json_object_get(in, "store"));
	if (ask->background && !ask->store)
		return BAD(err, "background", "A background response must be stored (store: "
		    "true).");
	if (ask->background && ask->stream)
		return BAD(err, "stream", "A background response is not streamed by this "
		    "gateway: poll GET /v1/responses/{id}.");
	if (ask->stream) {
		json_object_set_new(chat, "stream", json_true());
		json_object_set_new(chat, "stream_options", json_pack("{s:b}", "include_usage",
		    1));
	}
	return 0;
}

/* The input, the instructions before it, and the fields around them. */
static int
convert(const json_t *in, const struct aif_resp_limits *lim, json_t *chat,
    struct aif_resp_ask *ask, struct aif_error *err)
{
	const json_t *model = json_object_get(in, "model"), *input = json_object_get(in,
	    "input"), *instr = json_object_get(in, "instructions"), *prev, *v, *it;
	json_t *msgs = json_object_get(chat, "messages");
	size_t i;

	if (!json_is_string(model) || json_string_length(model) == 0)
		return BAD(err, "model", "model: a string is required.");
	json_object_set(chat, "model", (json_t *)model);
	if (json_object_get(in, "conversation") != NULL &&
	    !json_is_null(json_object_get(in, "conversation")))
		return BAD(err, "conversation", "Conversations are not kept by this gateway: "
		    "continue a response with previous_response_id.");
	prev = json_object_get(in, "previous_response_id");
	if (prev != NULL && !json_is_null(prev)) {
		if (!json_is_string(prev) || json_string_length(prev) >= sizeof(ask->previous))
			return BAD(err, "previous_response_id", "previous_response_id must be a "
			    "response id.");
		aif_strlcpy(ask->previous, json_string_value(prev), sizeof(ask->previous));
	}
	if (instr != NULL && !json_is_null(instr)) {
		if (!json_is_string(instr))
			return BAD(err, "instructions", "instructions must be a string.");
		json_array_append_new(msgs, json_pack("{s:s,s:O}", "role", "system", "content",
		    instr));
	}
	if (json_is_string(input)) {
		json_array_append_new(msgs, json_pack("{s:s,s:O}", "role", "user", "content",
		    input));
	} else if (json_is_array(input) && json_array_size(input) > 0) {
		if (json_array_size(input) > (size_t)lim->max_messages)
			return BAD(err, "input", "input: at most %d items are accepted.",
			    lim->max_messages);
		json_array_foreach(input, i, it)
			if (item(it, i, msgs, err) != 0)
				return -1;
	} else {
		return BAD(err, "input", "input: a string or a non-empty array of items is "
		    "required.");
	}
	if ((v = json_object_get(in, "tools")) != NULL && !json_is_null(v) &&
	    json_array_size(v) > 0 && tools_of(v, chat, ask, err) != 0)
		return -1;
	if ((v = json_object_get(in, "tool_choice")) != NULL && !json_is_null(v) &&
	    tool_choice_of(v, chat, err) != 0)
		return -1;
	if ((v = json_object_get(in, "text")) != NULL && format_of(v, chat, err) != 0)
		return -1;
	if (options(in, chat, ask, err) != 0)
		return -1;
	/* store and background too: a retry with the same Idempotency-Key but another
	   choice is another request (they enter the request's hash) */
	return json_object_set_new(chat, AIF_RESP_META, json_pack("{s:b,s:s?,s:i,s:b,s:b}",
	    "instructions", instr != NULL && json_is_string(instr), "previous_response_id",
	    ask->previous[0] ? ask->previous : NULL, "inherited", 0, "store", ask->store,
	    "background", ask->background));
}

int
aif_resp_to_chat(const char *body, size_t len, const struct aif_resp_limits *lim,
    int count_only, json_t **chat, json_t **metadata, struct aif_resp_ask *ask,
    struct aif_error *err)
{
	json_t *in, *c, *md;

	(void)count_only;	/* the same fields; nothing more is required */
	*chat = NULL;
	*metadata = NULL;
	memset(ask, 0, sizeof(*ask));
	if ((in = aif_bridge_load(body, len, lim->max_body_bytes, lim->max_depth,
	    err)) == NULL)
		return -1;
	md = json_object_get(in, "metadata");
	if (md != NULL && !json_is_null(md) && !json_is_object(md)) {
		json_decref(in);
		return BAD(err, "metadata", "metadata must be an object.");
	}
	c = json_pack("{s:[]}", "messages");
	if (c == NULL || convert(in, lim, c, ask, err) != 0) {
		if (err->status == 0)
			(void)BAD(err, NULL, "Out of memory.");
		json_decref(c);
		json_decref(in);
		return -1;
	}
	*metadata = json_is_object(md) ? json_incref(md) : json_object();
	/* kept with the note, so that a retrieved Response shows it too */
	if (json_object_size(*metadata) > 0)
		(void)json_object_set(json_object_get(c, AIF_RESP_META), "metadata", *metadata);
	json_decref(in);
	*chat = c;
	return 0;
}

int
aif_resp_is_response(const json_t *chat)
{
	return json_is_object(json_object_get(chat, AIF_RESP_META));
}

int
aif_resp_chain(json_t *chat, const json_t *prev_request, const json_t *prev_answer,
    struct aif_error *err)
{
	const json_t *pmeta = json_object_get(prev_request, AIF_RESP_META);
	const json_t *pmsgs = json_object_get(prev_request, "messages");
	const json_t *answer = json_object_get(json_array_get(json_object_get(prev_answer,
	    "choices"), 0), "message");
	json_t *msgs = json_object_get(chat, "messages"), *meta = json_object_get(chat,
	    AIF_RESP_META), *m;
	size_t at = json_is_true(json_object_get(meta, "instructions")) ? 1 : 0, n = 0, i;

	if (!json_is_object(pmeta) || !json_is_array(pmsgs) || !json_is_object(answer))
		return BAD(err, "previous_response_id", "No stored response with that id.");
	json_array_foreach(pmsgs, i, m) {
		if (i == 0 && json_is_true(json_object_get(pmeta, "instructions")))
			continue;	/* instructions are not carried over */
		json_array_insert(msgs, at + n++, m);
	}
	m = json_pack("{s:s,s:O}", "role", "assistant", "content",
	    json_object_get(answer, "content") ?: json_null());
	if (json_array_size(json_object_get(answer, "tool_calls")) > 0)
		json_object_set(m, "tool_calls", json_object_get(answer, "tool_calls"));
	json_array_insert_new(msgs, at + n++, m);
	json_object_set_new(meta, "inherited", json_integer((json_int_t)n));
	return 0;
}

int
aif_resp_strip(const char *text, size_t len, char **out, size_t *outlen, char *prev,
    size_t prevcap)
{
	json_t *o;
	const char *p;

	*out = NULL;
	*outlen = 0;
	if (prev != NULL && prevcap > 0)
		prev[0] = '\0';
	if (memmem(text, len, "\"" AIF_RESP_META "\"", sizeof(AIF_RESP_META) + 1) == NULL ||
	    (o = json_loadb(text, len, 0, NULL)) == NULL)
		return 0;
	p = json_string_value(json_object_get(json_object_get(o, AIF_RESP_META),
	    "previous_response_id"));
	if (prev != NULL && p != NULL && strlen(p) < prevcap)
		memcpy(prev, p, strlen(p) + 1);
	if (json_object_del(o, AIF_RESP_META) == 0 &&
	    (*out = json_dumps(o, JSON_COMPACT)) != NULL)
		*outlen = strlen(*out);
	json_decref(o);
	return *out != NULL;
}

/* ---- the answer ------------------------------------------------------------------- */

/* Responses tools of chat tools. */
static json_t *
tools_back(const json_t *tools)
{
	json_t *out = json_array();
	const json_t *t;
	size_t i;

	json_array_foreach(tools, i, t) {
		const json_t *f = json_object_get(t, "function");
		json_array_append_new(out, json_pack("{s:s,s:s,s:O*,s:O*,s:O*}", "type",
		    "function", "name", str(f, "name") ?: "", "description",
		    json_object_get(f, "description"), "parameters",
		    json_object_get(f, "parameters"), "strict", json_object_get(f, "strict")));
	}
	return out;
}

static json_t *
tool_choice_back(const json_t *tc)
{
	if (json_is_string(tc))
		return json_copy((json_t *)tc);
	if (json_is_object(tc))
		return json_pack("{s:s,s:s}", "type", "function", "name",
		    str(json_object_get(tc, "function"), "name") ?: "");
	return json_string("auto");
}

static json_t *
text_back(const json_t *rf)
{
	const char *t = str(rf, "type");
	const json_t *js = json_object_get(rf, "json_schema");

	if (t != NULL && strcmp(t, "json_schema") == 0)
		return json_pack("{s:{s:s,s:s,s:O*,s:O*}}", "format", "type", "json_schema",
		    "name", str(js, "name") ?: "", "schema", json_object_get(js, "schema"),
		    "strict", json_object_get(js, "strict"));
	return json_pack("{s:{s:s}}", "format", "type", t != NULL && strcmp(t,
	    "json_object") == 0 ? "json_object" : "text");
}

/* The output items of a chat answer. *incomplete: it hit the token limit. */
static json_t *
output_of(const json_t *answer, const char *job_id, int *incomplete)
{
	const json_t *ch = json_array_get(json_object_get(answer, "choices"), 0);
	const json_t *m = json_object_get(ch, "message"), *tc;
	const char *text = str(m, "content"), *suffix = strncmp(job_id, "job_", 4) == 0 ?
	    job_id + 4 : job_id;
	json_t *out = json_array();
	char id[128];
	size_t i;

	*incomplete = strcmp(str(ch, "finish_reason") ?: "", "length") == 0;
	if (text != NULL && text[0] != '\0') {
		snprintf(id, sizeof(id), "msg_%s_0", suffix);
		json_array_append_new(out, json_pack("{s:s,s:s,s:s,s:s,s:[{s:s,s:s,s:[],"
		    "s:[]}]}", "type", "message", "id", id, "status", *incomplete ?
		    "incomplete" : "completed", "role", "assistant", "content", "type",
		    "output_text", "text", text, "annotations", "logprobs"));
	}
	json_array_foreach(json_object_get(m, "tool_calls"), i, tc) {
		const json_t *f = json_object_get(tc, "function");
		/* named by its output index, as a stream names it */
		snprintf(id, sizeof(id), "fc_%s_%zu", suffix, json_array_size(out));
		json_array_append_new(out, json_pack("{s:s,s:s,s:s,s:s,s:s,s:s}", "type",
		    "function_call", "id", id, "call_id", str(tc, "id") ?: id, "name",
		    str(f, "name") ?: "", "arguments", str(f, "arguments") ?: "", "status",
		    "completed"));
	}
	return out;
}

static json_t *
usage_of(int64_t in, int64_t out)
{
	return json_pack("{s:I,s:{s:i},s:I,s:{s:i},s:I}", "input_tokens", (json_int_t)in,
	    "input_tokens_details", "cached_tokens", 0, "output_tokens", (json_int_t)out,
	    "output_tokens_details", "reasoning_tokens", 0, "total_tokens",
	    (json_int_t)(in + out));
}

/* Number member key of o, or 1 (the API's default) when it has none. */
static json_t *
number_or_one(const json_t *o, const char *key)
{
	const json_t *v = json_object_get(o, key);

	return json_is_number(v) ? json_copy((json_t *)v) : json_real(1.0);
}

json_t *
aif_resp_template(const json_t *chat, const json_t *metadata, const char *job_id,
    const char *model, int64_t created_at)
{
	const json_t *meta = json_object_get(chat, AIF_RESP_META);
	const json_t *msgs = json_object_get(chat, "messages");
	const char *instr = json_is_true(json_object_get(meta, "instructions")) ?
	    str(json_array_get(msgs, 0), "content") : NULL;
	char id[AIF_RESP_ID_MAX + 16];

	aif_resp_id(job_id, id, sizeof(id));
	return json_pack("{s:s,s:s,s:I,s:s,s:n,s:n,s:s?,s:O?,s:s,s:[],s:b,s:O?,s:{s:n,s:n},"
	    "s:b,s:o,s:o,s:o,s:o,s:o,s:s,s:n,s:O?,s:o}",
	    "id", id, "object", "response", "created_at", (json_int_t)created_at,
	    "status", "queued", "error", "incomplete_details", "instructions", instr,
	    "max_output_tokens", json_object_get(chat, "max_tokens"), "model", model,
	    "output", "parallel_tool_calls",
	    !json_is_false(json_object_get(chat, "parallel_tool_calls")),
	    "previous_response_id", json_object_get(meta, "previous_response_id"),
	    "reasoning", "effort", "summary", "store", 1,
	    "temperature", number_or_one(chat, "temperature"),
	    "text", text_back(json_object_get(chat, "response_format")),
	    "tool_choice", tool_choice_back(json_object_get(chat, "tool_choice")),
	    "tools", tools_back(json_object_get(chat, "tools")),
	    "top_p", number_or_one(chat, "top_p"), "truncation", "disabled",
	    "usage", "user", json_object_get(chat, "user"),
	    "metadata", metadata != NULL ? json_incref((json_t *)metadata) :
	    json_is_object(json_object_get(meta, "metadata")) ?
	    json_incref(json_object_get(meta, "metadata")) : json_object());
}

json_t *
aif_resp_native_template(const json_t *req, const char *job_id, const char *model,
    int64_t created_at)
{
	static const char *const same[] = { "instructions", "max_output_tokens",
	    "metadata", "parallel_tool_calls", "reasoning", "temperature", "text",
	    "tool_choice", "tools", "top_p", "truncation", "user" };
	json_t *resp = aif_resp_template(NULL, NULL, job_id, model, created_at);
	const json_t *f;

	for (size_t i = 0; resp != NULL && i < sizeof(same) / sizeof(same[0]); i++)
		if ((f = json_object_get(req, same[i])) != NULL &&
		    json_object_set(resp, same[i], (json_t *)(uintptr_t)f) != 0) {
			json_decref(resp);
			return NULL;
		}
	if (resp != NULL && json_object_set(resp, "previous_response_id",
	    json_object_get(json_object_get(req, AIF_RESP_META), "previous_response_id") ?:
	    json_null()) != 0) {
		json_decref(resp);
		return NULL;
	}
	return resp;
}

void
aif_resp_complete(json_t *resp, const json_t *answer)
{
	const json_t *u = json_object_get(answer, "usage");
	const char *id = str(resp, "id");
	char job[AIF_RESP_ID_MAX + 16];
	int incomplete = 0;

	snprintf(job, sizeof(job), "job_%s", id != NULL && strlen(id) > 5 ? id + 5 : "");
	json_object_set_new(resp, "output", output_of(answer, job, &incomplete));
	json_object_set_new(resp, "usage", usage_of(json_integer_value(json_object_get(u,
	    "prompt_tokens")), json_integer_value(json_object_get(u, "completion_tokens"))));
	json_object_set_new(resp, "status", json_string(incomplete ? "incomplete" :
	    "completed"));
	if (incomplete)
		json_object_set_new(resp, "incomplete_details", json_pack("{s:s}", "reason",
		    "max_output_tokens"));
}

void
aif_resp_fail(json_t *resp, const char *status, const struct aif_error *e)
{
	json_object_set_new(resp, "status", json_string(status));
	if (e != NULL)
		json_object_set_new(resp, "error", json_pack("{s:s,s:s}", "code",
		    e->code[0] ? e->code : e->type, "message", e->message));
}

/* ---- the stream ------------------------------------------------------------------- */

void
aif_resp_stream_init(struct aif_resp_stream *s, json_t *response)
{
	memset(s, 0, sizeof(*s));
	s->response = response;
	s->open_tool = -1;
}

void
aif_resp_stream_free(struct aif_resp_stream *s)
{
	json_decref(s->response);
	aif_buf_free(&s->text);
	memset(s, 0, sizeof(*s));
}

/* Sends ev (stolen) with its type as the event name and the next sequence number. */
static int
emit_ev(struct aif_resp_stream *s, aif_sse_emit_fn emit, void *arg, json_t *ev)
{
	int rc = -1;

	if (ev != NULL && json_object_set_new(ev, "sequence_number",
	    json_integer((json_int_t)s->seq++)) == 0)
		rc = emit(arg, str(ev, "type"), ev);
	json_decref(ev);
	return rc;
}

static const char *
suffix_of(const struct aif_resp_stream *s)
{
	const char *id = str(s->response, "id") ?: "resp_";

	return id + 5;
}

static int
start(struct aif_resp_stream *s, aif_sse_emit_fn emit, void *arg)
{
	if (s->started)
		return 0;
	s->started = 1;
	json_object_set_new(s->response, "status", json_string("in_progress"));
	if (emit_ev(s, emit, arg, json_pack("{s:s,s:O}", "type", "response.created",
	    "response", s->response)) != 0)
		return -1;
	return emit_ev(s, emit, arg, json_pack("{s:s,s:O}", "type", "response.in_progress",
	    "response", s->response));
}

/* The open item as it is when done. New. */
static json_t *
open_item(const struct aif_resp_stream *s, const char *status)
{
	const char *t = s->text.p ? s->text.p : "";

	if (s->open_tool < 0)
		return json_pack("{s:s,s:s,s:s,s:s,s:[{s:s,s:s%,s:[],s:[]}]}", "id", s->item_id,
		    "type", "message", "status", status, "role", "assistant", "content", "type",
		    "output_text", "text", t, s->text.len, "annotations", "logprobs");
	return json_pack("{s:s,s:s,s:s,s:s,s:s%,s:s}", "id", s->item_id, "type",
	    "function_call", "call_id", s->call_id, "name", s->name, "arguments", t,
	    s->text.len, "status", status);
}

static int
close_item(struct aif_resp_stream *s, aif_sse_emit_fn emit, void *arg)
{
	const char *t = s->text.p ? s->text.p : "";
	int ix = s->items - 1, rc;
	json_t *done;

	if (!s->open)
		return 0;
	s->open = 0;
	if (s->open_tool < 0)
		rc = emit_ev(s, emit, arg, json_pack("{s:s,s:s,s:i,s:i,s:s%,s:[]}", "type",
		    "response.output_text.done", "item_id", s->item_id, "output_index", ix,
		    "content_index", 0, "text", t, s->text.len, "logprobs")) ||
		    emit_ev(s, emit, arg, json_pack("{s:s,s:s,s:i,s:i,s:{s:s,s:s%,s:[],s:[]}}",
		    "type", "response.content_part.done", "item_id", s->item_id, "output_index",
		    ix, "content_index", 0, "part", "type", "output_text", "text", t,
		    s->text.len, "annotations", "logprobs"));
	else
		rc = emit_ev(s, emit, arg, json_pack("{s:s,s:s,s:i,s:s%}", "type",
		    "response.function_call_arguments.done", "item_id", s->item_id,
		    "output_index", ix, "arguments", t, s->text.len));
	done = open_item(s, "completed");
	json_array_append(json_object_get(s->response, "output"), done);
	if (rc)
		json_decref(done);
	else
		rc = emit_ev(s, emit, arg, json_pack("{s:s,s:i,s:o}", "type",
		    "response.output_item.done", "output_index", ix, "item", done));
	aif_buf_free(&s->text);
	return rc ? -1 : 0;
}

/* Opens an output item: a message (tool -1) or the function call of chat tool call tc. */
static int
open_new(struct aif_resp_stream *s, int tool, const json_t *tc, aif_sse_emit_fn emit,
    void *arg)
{
	const json_t *f = json_object_get(tc, "function");
	int ix = s->items;

	if (close_item(s, emit, arg) != 0)
		return -1;
	s->open = 1;
	s->open_tool = tool;
	s->items++;
	if (tool < 0) {
		snprintf(s->item_id, sizeof(s->item_id), "msg_%s_%d", suffix_of(s), ix);
	} else {
		snprintf(s->item_id, sizeof(s->item_id), "fc_%s_%d", suffix_of(s), ix);
		aif_strlcpy(s->call_id, str(tc, "id") ?: s->item_id, sizeof(s->call_id));
		aif_strlcpy(s->name, str(f, "name") ?: "", sizeof(s->name));
	}
	if (emit_ev(s, emit, arg, json_pack("{s:s,s:i,s:o}", "type",
	    "response.output_item.added", "output_index", ix, "item", tool < 0 ?
	    json_pack("{s:s,s:s,s:s,s:s,s:[]}", "id", s->item_id, "type", "message",
	    "status", "in_progress", "role", "assistant", "content") :
	    open_item(s, "in_progress"))) != 0)
		return -1;
	if (tool >= 0)
		return 0;
	return emit_ev(s, emit, arg, json_pack("{s:s,s:s,s:i,s:i,s:{s:s,s:s,s:[],s:[]}}",
	    "type", "response.content_part.added", "item_id", s->item_id, "output_index", ix,
	    "content_index", 0, "part", "type", "output_text", "text", "", "annotations",
	    "logprobs"));
}

static int
text_delta(struct aif_resp_stream *s, const char *text, aif_sse_emit_fn emit, void *arg)
{
	if ((!s->open || s->open_tool >= 0) && open_new(s, -1, NULL, emit, arg) != 0)
		return -1;
	if (aif_buf_add(&s->text, text, strlen(text), SIZE_MAX / 2) != AIF_OK)
		return -1;
	return emit_ev(s, emit, arg, json_pack("{s:s,s:s,s:i,s:i,s:s,s:[]}", "type",
	    "response.output_text.delta", "item_id", s->item_id, "output_index",
	    s->items - 1, "content_index", 0, "delta", text, "logprobs"));
}

static int
call_deltas(struct aif_resp_stream *s, const json_t *calls, aif_sse_emit_fn emit,
    void *arg)
{
	const json_t *tc;
	size_t i;

	json_array_foreach(calls, i, tc) {
		int ix = (int)json_integer_value(json_object_get(tc, "index"));
		const char *args = str(json_object_get(tc, "function"), "arguments");
		if ((!s->open || s->open_tool != ix) && open_new(s, ix, tc, emit, arg) != 0)
			return -1;
		if (args == NULL || args[0] == '\0')
			continue;
		if (aif_buf_add(&s->text, args, strlen(args), SIZE_MAX / 2) != AIF_OK ||
		    emit_ev(s, emit, arg, json_pack("{s:s,s:s,s:i,s:s}", "type",
		    "response.function_call_arguments.delta", "item_id", s->item_id,
		    "output_index", s->items - 1, "delta", args)) != 0)
			return -1;
	}
	return 0;
}

int
aif_resp_stream_chunk(struct aif_resp_stream *s, const char *payload, size_t len,
    aif_sse_emit_fn emit, void *arg)
{
	json_t *c = json_loadb(payload, len, 0, NULL);
	const json_t *ch = json_array_get(json_object_get(c, "choices"), 0);
	const json_t *d = json_object_get(ch, "delta");
	const char *text = str(d, "content"), *finish = str(ch, "finish_reason");
	int rc = start(s, emit, arg);

	if (rc == 0 && text != NULL && text[0] != '\0')
		rc = text_delta(s, text, emit, arg);
	if (rc == 0)
		rc = call_deltas(s, json_object_get(d, "tool_calls"), emit, arg);
	if (finish != NULL)
		aif_strlcpy(s->finish, finish, sizeof(s->finish));
	json_decref(c);
	return rc;
}

int
aif_resp_stream_end(struct aif_resp_stream *s, int64_t input, int64_t output,
    aif_sse_emit_fn emit, void *arg)
{
	int incomplete = strcmp(s->finish, "length") == 0;

	if (start(s, emit, arg) != 0 || close_item(s, emit, arg) != 0)
		return -1;
	json_object_set_new(s->response, "status", json_string(incomplete ? "incomplete" :
	    "completed"));
	if (incomplete)
		json_object_set_new(s->response, "incomplete_details", json_pack("{s:s}",
		    "reason", "max_output_tokens"));
	json_object_set_new(s->response, "usage", usage_of(input, output));
	return emit_ev(s, emit, arg, json_pack("{s:s,s:O}", "type", incomplete ?
	    "response.incomplete" : "response.completed", "response", s->response));
}

json_t *
aif_resp_stream_error(struct aif_resp_stream *s, const struct aif_error *e)
{
	const char *code = e->code[0] ? e->code : e->type;
	json_t *ev = json_pack("{s:s,s:s,s:s,s:n,s:{s:s,s:s,s:n,s:s}}", "type", "error",
	    "code", code, "message", e->message, "param", "error", "message", e->message,
	    "type", e->type, "param", "code", code);

	if (ev != NULL && s != NULL && json_object_set_new(ev, "sequence_number",
	    json_integer((json_int_t)s->seq++)) != 0) {
		json_decref(ev);
		return NULL;
	}
	return ev;
}
