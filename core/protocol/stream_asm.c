/* stream_asm.c -- assembling streamed chunks into a full response; see stream_asm.h. */
#include <stdlib.h>
#include <string.h>

#include "stream_asm.h"

#define CHOICES_MAX	128

struct choice {
	int	 used;
	char	*text;		/* content (chat) or text (completion) */
	size_t	 len, cap;
	char	 finish[32];
	json_t	*tool_calls;	/* chat: array merged by index, or NULL */
};

struct aif_stream_asm {
	enum aif_kind	 kind;
	size_t		 total;
	struct choice	 c[CHOICES_MAX];
};

struct aif_stream_asm *
aif_stream_asm_new(enum aif_kind kind)
{
	struct aif_stream_asm *a = calloc(1, sizeof(*a));

	if (a != NULL)
		a->kind = kind;
	return a;
}

void
aif_stream_asm_free(struct aif_stream_asm *a)
{
	if (a == NULL)
		return;
	for (size_t i = 0; i < CHOICES_MAX; i++) {
		free(a->c[i].text);
		json_decref(a->c[i].tool_calls);
	}
	free(a);
}

static enum aif_err
append(struct aif_stream_asm *a, struct choice *c, const char *s, size_t n)
{
	if (a->total + n > AIF_STREAM_ASM_MAX)
		return AIF_TOOBIG;
	if (c->len + n + 1 > c->cap) {
		size_t cap = c->cap ? c->cap : 256;
		char *p;
		while (cap < c->len + n + 1)
			cap *= 2;
		if ((p = realloc(c->text, cap)) == NULL)
			return AIF_NOMEM;
		c->text = p;
		c->cap = cap;
	}
	memcpy(c->text + c->len, s, n);
	c->len += n;
	c->text[c->len] = '\0';
	a->total += n;
	return AIF_OK;
}

/* Merges tool-call deltas: same index → id/type/name set once, arguments appended. */
static enum aif_err
merge_tools(struct choice *c, const json_t *deltas)
{
	const json_t *d;
	size_t i;

	if (c->tool_calls == NULL && (c->tool_calls = json_array()) == NULL)
		return AIF_NOMEM;
	json_array_foreach(deltas, i, d) {
		json_int_t idx = json_integer_value(json_object_get(d, "index"));
		const json_t *fn = json_object_get(d, "function");
		json_t *t;

		if (idx < 0 || idx >= 64)
			continue;
		while ((json_int_t)json_array_size(c->tool_calls) <= idx)
			json_array_append_new(c->tool_calls, json_pack("{s:s,s:s,s:{s:s,s:s}}",
			    "id", "", "type", "function", "function", "name", "",
			    "arguments", ""));
		t = json_array_get(c->tool_calls, (size_t)idx);
		if (json_is_string(json_object_get(d, "id")))
			json_object_set(t, "id", json_object_get(d, "id"));
		if (json_is_object(fn)) {
			json_t *tf = json_object_get(t, "function");
			const json_t *name = json_object_get(fn, "name");
			const json_t *args = json_object_get(fn, "arguments");
			if (json_is_string(name))
				json_object_set(tf, "name", (json_t *)name);
			if (json_is_string(args)) {
				const char *old = json_string_value(json_object_get(tf, "arguments"));
				size_t ol = strlen(old), al = json_string_length(args);
				char *cat = malloc(ol + al + 1);
				if (cat == NULL)
					return AIF_NOMEM;
				memcpy(cat, old, ol);
				memcpy(cat + ol, json_string_value(args), al);
				cat[ol + al] = '\0';
				json_object_set_new(tf, "arguments", json_stringn(cat, ol + al));
				free(cat);
			}
		}
	}
	return AIF_OK;
}

enum aif_err
aif_stream_asm_add(struct aif_stream_asm *a, const json_t *chunk)
{
	const json_t *choices = json_object_get(chunk, "choices"), *ch;
	size_t i;
	enum aif_err err;

	json_array_foreach(choices, i, ch) {
		json_int_t idx = json_integer_value(json_object_get(ch, "index"));
		const json_t *fr = json_object_get(ch, "finish_reason"), *text;
		struct choice *c;

		if (idx < 0 || idx >= CHOICES_MAX)
			continue;
		c = &a->c[idx];
		c->used = 1;
		if (a->kind == AIF_KIND_CHAT) {
			const json_t *delta = json_object_get(ch, "delta");
			text = json_object_get(delta, "content");
			if (json_is_array(json_object_get(delta, "tool_calls")) &&
			    (err = merge_tools(c, json_object_get(delta, "tool_calls"))) != AIF_OK)
				return err;
		} else {
			text = json_object_get(ch, "text");
		}
		if (json_is_string(text) && (err = append(a, c, json_string_value(text),
		    json_string_length(text))) != AIF_OK)
			return err;
		if (json_is_string(fr)) {
			size_t n = strlen(json_string_value(fr));
			if (n >= sizeof(c->finish))
				n = sizeof(c->finish) - 1;
			memcpy(c->finish, json_string_value(fr), n);
			c->finish[n] = '\0';
		}
	}
	return AIF_OK;
}

static json_t *
usage_json(int64_t p, int64_t c)
{
	return json_pack("{s:I,s:I,s:I}", "prompt_tokens", (json_int_t)p,
	    "completion_tokens", (json_int_t)c, "total_tokens", (json_int_t)(p + c));
}

json_t *
aif_stream_asm_result(const struct aif_stream_asm *a, const char *id, int64_t created,
    const char *model, int64_t prompt_tokens, int64_t completion_tokens)
{
	json_t *choices = json_array();

	for (size_t i = 0; i < CHOICES_MAX; i++) {
		const struct choice *c = &a->c[i];
		json_t *fr, *text;

		if (!c->used && i != 0)
			continue;
		fr = c->finish[0] ? json_string(c->finish) : json_null();
		text = json_stringn(c->text ? c->text : "", c->len);
		if (a->kind == AIF_KIND_CHAT) {
			json_t *msg = json_pack("{s:s,s:o,s:n}", "role", "assistant",
			    "content", text, "refusal");
			if (c->tool_calls != NULL && json_array_size(c->tool_calls) > 0)
				json_object_set(msg, "tool_calls", c->tool_calls);
			json_array_append_new(choices, json_pack("{s:I,s:o,s:n,s:o}",
			    "index", (json_int_t)i, "message", msg, "logprobs",
			    "finish_reason", fr));
		} else {
			json_array_append_new(choices, json_pack("{s:o,s:I,s:n,s:o}",
			    "text", text, "index", (json_int_t)i, "logprobs",
			    "finish_reason", fr));
		}
	}
	return json_pack("{s:s,s:s,s:I,s:s,s:o,s:o}", "id", id,
	    "object", a->kind == AIF_KIND_CHAT ? "chat.completion" : "text_completion",
	    "created", (json_int_t)created, "model", model, "choices", choices,
	    "usage", usage_json(prompt_tokens, completion_tokens));
}

json_t *
aif_stream_usage_chunk(enum aif_kind kind, const char *id, int64_t created,
    const char *model, int64_t prompt_tokens, int64_t completion_tokens)
{
	return json_pack("{s:s,s:s,s:I,s:s,s:[],s:o}", "id", id,
	    "object", kind == AIF_KIND_CHAT ? "chat.completion.chunk" : "text_completion",
	    "created", (json_int_t)created, "model", model, "choices",
	    "usage", usage_json(prompt_tokens, completion_tokens));
}
