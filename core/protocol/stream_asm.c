/* stream_asm.c -- assembling streamed chunks into a full response; see stream_asm.h.
 * Every piece of text (content, completion text, tool-call ids, names and arguments) is
 * appended to a growable buffer, so assembly is linear in the bytes streamed, and all
 * of it counts against the assembler's byte cap. Choices and tool calls live in arrays
 * that grow with the highest index seen, within their bounds. */
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "passthru.h"
#include "stream_asm.h"

#define TOOL_CALLS_MAX	128	/* tool calls of one choice (index 0..127) */
#define FINISH_MAX	32

struct tool_call {
	int		 used;
	struct aif_buf	 id, name, args;
};

struct choice {
	int		 used;
	struct aif_buf	 text;		/* content (chat) or text (completion) */
	char		 finish[FINISH_MAX];
	struct tool_call *tools;	/* ntools entries, or NULL */
	size_t		 ntools;
};

struct aif_stream_asm {
	enum aif_kind	 kind;
	size_t		 max_bytes;	/* of text, all choices and tool calls together */
	size_t		 max_choices;
	size_t		 total;
	struct choice	*c;		/* nc entries */
	size_t		 nc;
	struct aif_passthru_asm *native; /* a surface's events (passthru.h), or NULL */
};

struct aif_stream_asm *
aif_stream_asm_new(enum aif_kind kind, size_t max_bytes, size_t max_choices)
{
	struct aif_stream_asm *a = calloc(1, sizeof(*a));

	if (a == NULL)
		return NULL;
	a->kind = kind;
	a->max_bytes = max_bytes;
	a->max_choices = max_choices > 0 ? max_choices : 1;
	if ((kind & AIF_KIND_SURFACES) &&
	    (a->native = aif_passthru_asm_new(kind, max_bytes)) == NULL) {
		free(a);
		return NULL;
	}
	return a;
}

void
aif_stream_asm_free(struct aif_stream_asm *a)
{
	if (a == NULL)
		return;
	aif_passthru_asm_free(a->native);
	for (size_t i = 0; i < a->nc; i++) {
		aif_buf_free(&a->c[i].text);
		for (size_t k = 0; k < a->c[i].ntools; k++) {
			aif_buf_free(&a->c[i].tools[k].id);
			aif_buf_free(&a->c[i].tools[k].name);
			aif_buf_free(&a->c[i].tools[k].args);
		}
		free(a->c[i].tools);
	}
	free(a->c);
	free(a);
}

/* Appends n bytes to b, counted against the assembler's cap (amortised O(n)). */
static enum aif_err
append(struct aif_stream_asm *a, struct aif_buf *b, const char *s, size_t n)
{
	enum aif_err err;

	if (n > a->max_bytes - a->total)
		return AIF_TOOBIG;
	if ((err = aif_buf_add(b, s, n, a->max_bytes)) == AIF_OK)
		a->total += n;
	return err;
}

/* Replaces b by s (a tool call's id or name is sent once; a repeat replaces it). */
static enum aif_err
set(struct aif_stream_asm *a, struct aif_buf *b, const json_t *s)
{
	a->total -= b->len;
	b->len = 0;
	return append(a, b, json_string_value(s), json_string_length(s));
}

/* Grows *arr (of `size`-byte entries, *n of them) to hold index idx; new entries are
 * zeroed. */
static enum aif_err
grow(void **arr, size_t *n, size_t idx, size_t size)
{
	size_t want = *n ? *n : 4;
	void *p;

	if (idx < *n)
		return AIF_OK;
	while (want <= idx)
		want *= 2;
	if ((p = realloc(*arr, want * size)) == NULL)
		return AIF_NOMEM;
	memset((char *)p + *n * size, 0, (want - *n) * size);
	*arr = p;
	*n = want;
	return AIF_OK;
}

/* Merges tool-call deltas: same index -> id, type and name set, arguments appended. */
static enum aif_err
merge_tools(struct aif_stream_asm *a, struct choice *c, const json_t *deltas)
{
	const json_t *d;
	size_t i;
	enum aif_err err;

	json_array_foreach(deltas, i, d) {
		json_int_t idx = json_integer_value(json_object_get(d, "index"));
		const json_t *fn = json_object_get(d, "function"), *v;
		struct tool_call *t;

		if (idx < 0 || idx >= TOOL_CALLS_MAX)
			continue;
		if ((err = grow((void **)&c->tools, &c->ntools, (size_t)idx,
		    sizeof(*c->tools))) != AIF_OK)
			return err;
		t = &c->tools[idx];
		t->used = 1;
		if (json_is_string(v = json_object_get(d, "id")) &&
		    (err = set(a, &t->id, v)) != AIF_OK)
			return err;
		if (json_is_string(v = json_object_get(fn, "name")) &&
		    (err = set(a, &t->name, v)) != AIF_OK)
			return err;
		if (json_is_string(v = json_object_get(fn, "arguments")) &&
		    (err = append(a, &t->args, json_string_value(v),
		    json_string_length(v))) != AIF_OK)
			return err;
	}
	return AIF_OK;
}

enum aif_err
aif_stream_asm_add(struct aif_stream_asm *a, const json_t *chunk)
{
	const json_t *choices = json_object_get(chunk, "choices"), *ch;
	size_t i;
	enum aif_err err;

	if (a->native != NULL)
		return aif_passthru_asm_add(a->native, chunk);
	json_array_foreach(choices, i, ch) {
		json_int_t idx = json_integer_value(json_object_get(ch, "index"));
		const json_t *fr = json_object_get(ch, "finish_reason"), *text;
		struct choice *c;

		if (idx < 0 || (size_t)idx >= a->max_choices)
			return AIF_TOOBIG;	/* more choices than the request could ask */
		if ((err = grow((void **)&a->c, &a->nc, (size_t)idx, sizeof(*a->c))) != AIF_OK)
			return err;
		c = &a->c[idx];
		c->used = 1;
		if (a->kind == AIF_KIND_CHAT) {
			const json_t *delta = json_object_get(ch, "delta");
			text = json_object_get(delta, "content");
			if (json_is_array(json_object_get(delta, "tool_calls")) &&
			    (err = merge_tools(a, c, json_object_get(delta, "tool_calls"))) !=
			    AIF_OK)
				return err;
		} else {
			text = json_object_get(ch, "text");
		}
		if (json_is_string(text) && (err = append(a, &c->text,
		    json_string_value(text), json_string_length(text))) != AIF_OK)
			return err;
		if (json_is_string(fr)) {
			size_t n = json_string_length(fr);
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
	    "completion_tokens", (json_int_t)c, "total_tokens",
	    (json_int_t)aif_sat_add(p, c));
}

static json_t *
str(const struct aif_buf *b)
{
	return json_stringn(b->p ? b->p : "", b->len);
}

/* The tool calls of a choice as OpenAI sends them in a message, or NULL for none. */
static json_t *
tool_calls_json(const struct choice *c)
{
	json_t *arr = NULL;

	for (size_t k = 0; k < c->ntools; k++) {
		const struct tool_call *t = &c->tools[k];
		if (!t->used)
			continue;
		if (arr == NULL && (arr = json_array()) == NULL)
			return NULL;
		json_array_append_new(arr, json_pack("{s:o,s:s,s:{s:o,s:o}}", "id", str(&t->id),
		    "type", "function", "function", "name", str(&t->name), "arguments",
		    str(&t->args)));
	}
	return arr;
}

json_t *
aif_stream_asm_result(const struct aif_stream_asm *a, const char *id, int64_t created,
    const char *model, int64_t prompt_tokens, int64_t completion_tokens)
{
	json_t *choices;

	if (a->native != NULL)	/* its usage: the caller's (workers/outcome.c) */
		return aif_passthru_asm_result(a->native, id, model);
	choices = json_array();
	for (size_t i = 0; i < (a->nc ? a->nc : 1); i++) {
		static const struct choice none;
		const struct choice *c = i < a->nc ? &a->c[i] : &none;
		json_t *fr, *text, *tools;

		if (!c->used && i != 0)
			continue;
		fr = c->finish[0] ? json_string(c->finish) : json_null();
		text = str(&c->text);
		if (a->kind == AIF_KIND_CHAT) {
			json_t *msg = json_pack("{s:s,s:o,s:n}", "role", "assistant",
			    "content", text, "refusal");
			if ((tools = tool_calls_json(c)) != NULL)
				json_object_set_new(msg, "tool_calls", tools);
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
