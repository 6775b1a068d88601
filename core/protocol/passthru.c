/* passthru.c -- answers and streams of the surfaces an engine serves itself; see
 * passthru.h. A Responses stream ends with a response.completed (or .incomplete) event
 * that carries the whole Response, so its assembly keeps that (and the output items
 * seen, for an engine that leaves them out of it). A Messages stream carries the Message
 * in pieces: message_start (the message, empty content), content_block_start/_delta/
 * _stop (text, tool input as partial JSON, thinking), message_delta (stop reason and
 * output tokens); it is put together here. Everything kept counts against the cap. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "passthru.h"
#include "util.h"

#define BLOCKS_MAX	128	/* content blocks of one Message */

struct block {
	json_t		*obj;		/* content_block_start's block (owned) */
	struct aif_buf	 text;		/* text_delta / thinking_delta / input_json_delta */
};

struct aif_passthru_asm {
	enum aif_kind	 kind;
	size_t		 max_bytes, total;
	json_t		*obj;		/* the Response / the Message so far (owned) */
	size_t		 obj_bytes;	/* what a Response kept counts against the cap */
	json_t		*items;		/* Responses: output items seen (owned) */
	size_t		 items_bytes;	/* what they count against the cap */
	struct block	 blocks[BLOCKS_MAX];
	size_t		 nblocks;	/* blocks[0..nblocks) may be in use */
};

void
aif_passthru_id(enum aif_kind kind, const char *public_id, char *out, size_t cap)
{
	const char *tail = strncmp(public_id, "job_", 4) == 0 ? public_id + 4 : public_id;

	snprintf(out, cap, "%s_%s", kind == AIF_KIND_MESSAGES ? "msg" : "resp", tail);
}

static int
count_ok(const json_t *usage, const char *name)
{
	const json_t *v = json_object_get(usage, name);

	return v == NULL || json_is_null(v) || (json_is_integer(v) &&
	    json_integer_value(v) >= 0);
}

int
aif_passthru_answer_ok(enum aif_kind kind, const json_t *root)
{
	const json_t *u = json_object_get(root, "usage");
	const char *t;

	if (!json_is_object(root) || (u != NULL && !json_is_null(u) && !json_is_object(u)))
		return 0;
	if (!count_ok(u, "input_tokens") || !count_ok(u, "output_tokens"))
		return 0;
	if (kind == AIF_KIND_RESPONSES) {
		t = json_string_value(json_object_get(root, "status"));
		return json_is_string(json_object_get(root, "object")) &&
		    strcmp(json_string_value(json_object_get(root, "object")), "response") == 0 &&
		    json_is_array(json_object_get(root, "output")) &&
		    (t == NULL || strcmp(t, "failed") != 0);
	}
	if (kind == AIF_KIND_MESSAGES) {
		t = json_string_value(json_object_get(root, "type"));
		return t != NULL && strcmp(t, "message") == 0 &&
		    json_is_array(json_object_get(root, "content"));
	}
	return 0;
}

static int64_t
count_of(const json_t *usage, const char *name)
{
	const json_t *v = json_object_get(usage, name);

	return json_is_integer(v) && json_integer_value(v) > 0 ? json_integer_value(v) : 0;
}

void
aif_passthru_usage(enum aif_kind kind, const json_t *usage, int64_t *prompt,
    int64_t *completion)
{
	*prompt = count_of(usage, "input_tokens");
	*completion = count_of(usage, "output_tokens");
	if (kind == AIF_KIND_MESSAGES)
		*prompt = aif_sat_add(aif_sat_add(*prompt, count_of(usage,
		    "cache_creation_input_tokens")), count_of(usage,
		    "cache_read_input_tokens"));
}

int
aif_passthru_set_usage(json_t *answer, enum aif_kind kind, int64_t prompt,
    int64_t completion)
{
	json_t *u = json_object_get(answer, "usage");
	int64_t in = prompt;

	if (!json_is_object(u) && ((u = json_object()) == NULL ||
	    json_object_set_new(answer, "usage", u) != 0))
		return -1;
	if (kind == AIF_KIND_MESSAGES) {	/* the cache's part stays the engine's */
		in -= count_of(u, "cache_creation_input_tokens") +
		    count_of(u, "cache_read_input_tokens");
		if (in < 0)
			in = 0;
	}
	if (json_object_set_new(u, "input_tokens", json_integer(in)) != 0 ||
	    json_object_set_new(u, "output_tokens", json_integer(completion)) != 0)
		return -1;
	if (kind == AIF_KIND_RESPONSES && json_object_set_new(u, "total_tokens",
	    json_integer(aif_sat_add(prompt, completion))) != 0)
		return -1;
	return 0;
}

/* The Response or Message event ev carries (borrowed), or NULL. */
static const json_t *
carried(enum aif_kind kind, const json_t *ev)
{
	const char *t = json_string_value(json_object_get(ev, "type"));
	const json_t *o;

	if (t == NULL)
		return NULL;
	if (kind == AIF_KIND_MESSAGES)
		o = strcmp(t, "message_start") == 0 ? json_object_get(ev, "message") : NULL;
	else
		o = strncmp(t, "response.", 9) == 0 ? json_object_get(ev, "response") : NULL;
	return json_is_object(o) ? o : NULL;
}

json_t *
aif_passthru_event_object(enum aif_kind kind, json_t *ev)
{
	return (json_t *)(uintptr_t)carried(kind, ev);
}

int
aif_passthru_is_delta(const char *type)
{
	size_t n = type != NULL ? strlen(type) : 0;

	return (n > 6 && strcmp(type + n - 6, ".delta") == 0) ||
	    (type != NULL && strcmp(type, "content_block_delta") == 0);
}

int
aif_passthru_stamp(json_t *obj, const char *id, const char *model)
{
	if (json_object_set_new(obj, "id", json_string(id)) != 0)
		return -1;
	return model == NULL || json_object_set_new(obj, "model", json_string(model)) == 0 ?
	    0 : -1;
}

/* ---- assembling a stream --------------------------------------------------------- */

struct aif_passthru_asm *
aif_passthru_asm_new(enum aif_kind kind, size_t max_bytes)
{
	struct aif_passthru_asm *a;

	if (kind != AIF_KIND_RESPONSES && kind != AIF_KIND_MESSAGES)
		return NULL;
	if ((a = calloc(1, sizeof(*a))) == NULL)
		return NULL;
	a->kind = kind;
	a->max_bytes = max_bytes;
	if ((a->items = json_array()) == NULL) {
		free(a);
		return NULL;
	}
	return a;
}

void
aif_passthru_asm_free(struct aif_passthru_asm *a)
{
	if (a == NULL)
		return;
	for (size_t i = 0; i < a->nblocks; i++) {
		json_decref(a->blocks[i].obj);
		aif_buf_free(&a->blocks[i].text);
	}
	json_decref(a->obj);
	json_decref(a->items);
	free(a);
}

/* Counts v's JSON against the cap. */
static enum aif_err
charge(struct aif_passthru_asm *a, const json_t *v)
{
	size_t n = json_dumpb(v, NULL, 0, JSON_COMPACT | JSON_ENCODE_ANY);

	if (n > a->max_bytes - a->total)
		return AIF_TOOBIG;
	a->total += n;
	return AIF_OK;
}

/* The Responses events: the Response each response.* event carries replaces the one
 * kept; a finished output item is kept apart. */
static enum aif_err
add_response_event(struct aif_passthru_asm *a, const char *type, const json_t *ev)
{
	const json_t *o = carried(AIF_KIND_RESPONSES, ev);
	json_t *copy;
	const json_t *item = json_object_get(ev, "item");

	if (o != NULL) {
		a->total -= a->obj_bytes;	/* only the last Response counts */
		a->obj_bytes = 0;
		if (json_array_size(json_object_get(o, "output")) > 0) {
			a->total -= a->items_bytes;	/* it holds them: not twice */
			a->items_bytes = 0;
			json_array_clear(a->items);
		}
		if (charge(a, o) != AIF_OK)
			return AIF_TOOBIG;
		a->obj_bytes = json_dumpb(o, NULL, 0, JSON_COMPACT);
		if ((copy = json_deep_copy(o)) == NULL)
			return AIF_NOMEM;
		json_decref(a->obj);
		a->obj = copy;
		return AIF_OK;
	}
	if (strcmp(type, "response.output_item.done") == 0 && json_is_object(item)) {
		size_t before = a->total;
		if (charge(a, item) != AIF_OK)
			return AIF_TOOBIG;
		a->items_bytes += a->total - before;
		if (json_array_append_new(a->items, json_deep_copy(item)) != 0)
			return AIF_NOMEM;
	}
	return AIF_OK;
}

/* The block at ev's index, made room for; NULL past BLOCKS_MAX. */
static struct block *
block_at(struct aif_passthru_asm *a, const json_t *ev)
{
	const json_t *ix = json_object_get(ev, "index");
	size_t i;

	if (!json_is_integer(ix) || json_integer_value(ix) < 0 ||
	    json_integer_value(ix) >= BLOCKS_MAX)
		return NULL;
	i = (size_t)json_integer_value(ix);
	if (i >= a->nblocks)
		a->nblocks = i + 1;
	return &a->blocks[i];
}

/* A content_block_delta: text, thinking or a piece of a tool's input. */
static enum aif_err
add_delta(struct aif_passthru_asm *a, struct block *b, const json_t *delta)
{
	static const char *const fields[] = { "text", "thinking", "partial_json" };
	const json_t *s = NULL;

	const json_t *sig = json_object_get(delta, "signature");

	if (json_is_string(sig)) {	/* a thought's signature: kept on its block */
		if (charge(a, sig) != AIF_OK)
			return AIF_TOOBIG;
		return json_object_set(b->obj, "signature", (json_t *)(uintptr_t)sig) == 0 ?
		    AIF_OK : AIF_NOMEM;
	}
	for (size_t i = 0; i < AIF_NELEM(fields) && s == NULL; i++)
		s = json_object_get(delta, fields[i]);
	if (!json_is_string(s))
		return AIF_OK;
	if (charge(a, s) != AIF_OK)
		return AIF_TOOBIG;
	return aif_buf_add(&b->text, json_string_value(s), json_string_length(s),
	    a->max_bytes);
}

/* message_delta: the stop reason and sequence, and the usage so far. */
static enum aif_err
add_message_delta(struct aif_passthru_asm *a, const json_t *ev)
{
	const json_t *d = json_object_get(ev, "delta"), *u = json_object_get(ev, "usage");
	json_t *mu;
	const char *k;
	json_t *v;

	if (a->obj == NULL)
		return AIF_OK;
	if ((json_is_object(d) && charge(a, d) != AIF_OK) ||
	    (json_is_object(u) && charge(a, u) != AIF_OK))
		return AIF_TOOBIG;
	json_object_foreach((json_t *)d, k, v)
		if (json_object_set(a->obj, k, v) != 0)
			return AIF_NOMEM;
	if (json_is_object(u)) {
		if (!json_is_object(mu = json_object_get(a->obj, "usage")) &&
		    json_object_set_new(a->obj, "usage", mu = json_object()) != 0)
			return AIF_NOMEM;
		if (json_object_update(mu, (json_t *)u) != 0)
			return AIF_NOMEM;
	}
	return AIF_OK;
}

static enum aif_err
add_message_event(struct aif_passthru_asm *a, const char *type, const json_t *ev)
{
	const json_t *o = carried(AIF_KIND_MESSAGES, ev), *cb;
	struct block *b;

	if (o != NULL) {
		if (a->obj != NULL || charge(a, o) != AIF_OK)
			return a->obj != NULL ? AIF_OK : AIF_TOOBIG;
		if ((a->obj = json_deep_copy(o)) == NULL)
			return AIF_NOMEM;
		return json_object_set_new(a->obj, "content", json_array()) == 0 ? AIF_OK :
		    AIF_NOMEM;
	}
	if (strcmp(type, "message_delta") == 0)
		return add_message_delta(a, ev);
	if (strcmp(type, "content_block_start") == 0) {
		cb = json_object_get(ev, "content_block");
		if (!json_is_object(cb) || (b = block_at(a, ev)) == NULL || b->obj != NULL)
			return AIF_OK;
		if (charge(a, cb) != AIF_OK)
			return AIF_TOOBIG;
		return (b->obj = json_deep_copy(cb)) != NULL ? AIF_OK : AIF_NOMEM;
	}
	if (strcmp(type, "content_block_delta") == 0 && (b = block_at(a, ev)) != NULL &&
	    b->obj != NULL)
		return add_delta(a, b, json_object_get(ev, "delta"));
	return AIF_OK;
}

enum aif_err
aif_passthru_asm_add(struct aif_passthru_asm *a, const json_t *ev)
{
	const char *type = json_string_value(json_object_get(ev, "type"));

	if (type == NULL)
		return AIF_OK;
	return a->kind == AIF_KIND_RESPONSES ? add_response_event(a, type, ev) :
	    add_message_event(a, type, ev);
}

/* A block as the Message has it: its deltas in the field its type names (a tool's
 * input parsed from its pieces; left as it started when they do not parse). */
static json_t *
block_result(const struct block *b)
{
	const char *t = json_string_value(json_object_get(b->obj, "type"));
	const char *text = b->text.p != NULL ? b->text.p : "";
	json_t *out = json_deep_copy(b->obj), *input;

	if (out == NULL || t == NULL)
		return out;
	if (strcmp(t, "tool_use") == 0 || strcmp(t, "server_tool_use") == 0) {
		if (b->text.len > 0 && (input = json_loadb(text, b->text.len, 0, NULL)) != NULL)
			json_object_set_new(out, "input", input);
	} else if (strcmp(t, "text") == 0 || strcmp(t, "thinking") == 0) {
		const json_t *was = json_object_get(out, t);
		char *joined = NULL;
		size_t n = json_string_length(was);
		if ((joined = malloc(n + b->text.len + 1)) == NULL) {
			json_decref(out);
			return NULL;
		}
		memcpy(joined, json_string_value(was) ? json_string_value(was) : "", n);
		memcpy(joined + n, text, b->text.len);
		json_object_set_new(out, t, json_stringn(joined, n + b->text.len));
		free(joined);
	}
	return out;
}

static json_t *
message_result(const struct aif_passthru_asm *a)
{
	json_t *m = a->obj != NULL ? json_deep_copy(a->obj) : json_pack("{s:s,s:s,s:[]}",
	    "type", "message", "role", "assistant", "content");
	json_t *content = m != NULL ? json_object_get(m, "content") : NULL;

	if (m == NULL)
		return NULL;
	if (!json_is_array(content) && ((content = json_array()) == NULL ||
	    json_object_set_new(m, "content", content) != 0)) {
		json_decref(m);
		return NULL;
	}
	for (size_t i = 0; i < a->nblocks; i++)
		if (a->blocks[i].obj != NULL &&
		    json_array_append_new(content, block_result(&a->blocks[i])) != 0) {
			json_decref(m);
			return NULL;
		}
	return m;
}

json_t *
aif_passthru_asm_result(const struct aif_passthru_asm *a, const char *id,
    const char *model)
{
	json_t *r;

	if (a->kind == AIF_KIND_MESSAGES) {
		r = message_result(a);
	} else {
		r = a->obj != NULL ? json_deep_copy(a->obj) : json_pack("{s:s,s:s,s:[]}",
		    "object", "response", "status", "completed", "output");
		if (r != NULL && json_array_size(json_object_get(r, "output")) == 0 &&
		    json_array_size(a->items) > 0)
			json_object_set(r, "output", a->items);
	}
	if (r != NULL && aif_passthru_stamp(r, id, model) != 0) {
		json_decref(r);
		return NULL;
	}
	return r;
}

/* ---- a stream from a stored answer ---------------------------------------------- */

/* Appends ev (stolen) to evs; -1 when it is NULL or on no memory. */
static int
push(json_t *evs, json_t *ev)
{
	return ev != NULL && json_array_append_new(evs, ev) == 0 ? 0 : -1;
}

/* A Responses event of type t with the next sequence number (*seq) and the fields of
 * `with` (stolen). NULL on no memory. */
static json_t *
rev(const char *t, int *seq, json_t *with)
{
	json_t *ev = with;

	if (ev != NULL && (json_object_set_new(ev, "type", json_string(t)) != 0 ||
	    json_object_set_new(ev, "sequence_number", json_integer((*seq)++)) != 0)) {
		json_decref(ev);
		return NULL;
	}
	return ev;
}

/* The content parts of message item `it` (output index i) as the events that bring
 * them: part added (empty), its text as one delta, text done, part done. */
static int
replay_parts(json_t *evs, const json_t *it, size_t i, int *seq)
{
	const json_t *part, *id = json_object_get(it, "id");
	size_t j;

	json_array_foreach(json_object_get(it, "content"), j, part) {
		const json_t *text = json_object_get(part, "text");
		json_t *empty = json_deep_copy(part);
		if (empty == NULL || (json_is_string(text) &&
		    json_object_set_new(empty, "text", json_string("")) != 0)) {
			json_decref(empty);
			return -1;
		}
		if (push(evs, rev("response.content_part.added", seq, json_pack(
		    "{s:O*,s:I,s:I,s:o}", "item_id", id, "output_index", (json_int_t)i,
		    "content_index", (json_int_t)j, "part", empty))) != 0)
			return -1;
		if (json_is_string(text) && (push(evs, rev("response.output_text.delta", seq,
		    json_pack("{s:O*,s:I,s:I,s:O,s:[]}", "item_id", id, "output_index",
		    (json_int_t)i, "content_index", (json_int_t)j, "delta", text,
		    "logprobs"))) != 0 || push(evs, rev("response.output_text.done", seq,
		    json_pack("{s:O*,s:I,s:I,s:O,s:[]}", "item_id", id, "output_index",
		    (json_int_t)i, "content_index", (json_int_t)j, "text", text,
		    "logprobs"))) != 0))
			return -1;
		if (push(evs, rev("response.content_part.done", seq, json_pack(
		    "{s:O*,s:I,s:I,s:O}", "item_id", id, "output_index", (json_int_t)i,
		    "content_index", (json_int_t)j, "part", part))) != 0)
			return -1;
	}
	return 0;
}

/* Output item `it` (index i): added (without its content or arguments), what it
 * holds as deltas, done (whole). */
static int
replay_item(json_t *evs, const json_t *it, size_t i, int *seq)
{
	const char *t = json_string_value(json_object_get(it, "type"));
	const json_t *args = json_object_get(it, "arguments"), *id = json_object_get(it, "id");
	json_t *added = json_deep_copy(it);

	if (added == NULL || (json_is_array(json_object_get(it, "content")) &&
	    json_object_set_new(added, "content", json_array()) != 0) ||
	    (json_is_string(args) && json_object_set_new(added, "arguments",
	    json_string("")) != 0)) {
		json_decref(added);
		return -1;
	}
	if (json_object_get(it, "status") != NULL)
		(void)json_object_set_new(added, "status", json_string("in_progress"));
	if (push(evs, rev("response.output_item.added", seq, json_pack("{s:I,s:o}",
	    "output_index", (json_int_t)i, "item", added))) != 0)
		return -1;
	if (t != NULL && strcmp(t, "message") == 0 && replay_parts(evs, it, i, seq) != 0)
		return -1;
	if (json_is_string(args) && (push(evs, rev("response.function_call_arguments.delta",
	    seq, json_pack("{s:O*,s:I,s:O}", "item_id", id, "output_index", (json_int_t)i,
	    "delta", args))) != 0 || push(evs, rev("response.function_call_arguments.done",
	    seq, json_pack("{s:O*,s:I,s:O}", "item_id", id, "output_index", (json_int_t)i,
	    "arguments", args))) != 0))
		return -1;
	return push(evs, rev("response.output_item.done", seq, json_pack("{s:I,s:O}",
	    "output_index", (json_int_t)i, "item", it)));
}

static int
replay_response(json_t *evs, const json_t *answer)
{
	json_t *first = json_deep_copy(answer);
	const json_t *it;
	int seq = 0;
	size_t i;

	if (first == NULL || json_object_set_new(first, "status",
	    json_string("in_progress")) != 0 || json_object_set_new(first, "output",
	    json_array()) != 0 || json_object_set_new(first, "usage", json_null()) != 0) {
		json_decref(first);
		return -1;
	}
	if (push(evs, rev("response.created", &seq, json_pack("{s:O}", "response",
	    first))) != 0) {
		json_decref(first);
		return -1;
	}
	if (push(evs, rev("response.in_progress", &seq, json_pack("{s:o}", "response",
	    first))) != 0)
		return -1;
	json_array_foreach(json_object_get(answer, "output"), i, it)
		if (replay_item(evs, it, i, &seq) != 0)
			return -1;
	return push(evs, rev(json_is_object(json_object_get(answer, "incomplete_details")) ?
	    "response.incomplete" : "response.completed", &seq, json_pack("{s:O}",
	    "response", answer)));
}

/* Content block b (index i) as Anthropic streams it: started empty, its text, input or
 * thought as one delta (and a thought's signature), stopped. */
static int
replay_block(json_t *evs, const json_t *b, size_t i)
{
	const char *t = json_string_value(json_object_get(b, "type"));
	json_t *start = json_deep_copy(b), *d = NULL;
	char *input = NULL;

	if (start == NULL)
		return -1;
	if (t != NULL && strcmp(t, "text") == 0) {
		json_object_set_new(start, "text", json_string(""));
		d = json_pack("{s:s,s:O}", "type", "text_delta", "text",
		    json_object_get(b, "text"));
	} else if (t != NULL && strcmp(t, "thinking") == 0) {
		json_object_set_new(start, "thinking", json_string(""));
		json_object_del(start, "signature");
		d = json_pack("{s:s,s:O}", "type", "thinking_delta", "thinking",
		    json_object_get(b, "thinking"));
	} else if (t != NULL && strcmp(t, "tool_use") == 0) {
		json_object_set_new(start, "input", json_object());
		input = json_dumps(json_object_get(b, "input"), JSON_COMPACT | JSON_ENCODE_ANY);
		d = json_pack("{s:s,s:s}", "type", "input_json_delta", "partial_json",
		    input != NULL ? input : "{}");
		free(input);
	}
	if (push(evs, json_pack("{s:s,s:I,s:o}", "type", "content_block_start", "index",
	    (json_int_t)i, "content_block", start)) != 0) {
		json_decref(d);
		return -1;
	}
	if (d != NULL && push(evs, json_pack("{s:s,s:I,s:o}", "type", "content_block_delta",
	    "index", (json_int_t)i, "delta", d)) != 0)
		return -1;
	if (t != NULL && strcmp(t, "thinking") == 0 &&
	    json_is_string(json_object_get(b, "signature")) && push(evs, json_pack(
	    "{s:s,s:I,s:{s:s,s:O}}", "type", "content_block_delta", "index", (json_int_t)i,
	    "delta", "type", "signature_delta", "signature",
	    json_object_get(b, "signature"))) != 0)
		return -1;
	return push(evs, json_pack("{s:s,s:I}", "type", "content_block_stop", "index",
	    (json_int_t)i));
}

static int
replay_message(json_t *evs, const json_t *answer)
{
	json_t *start = json_deep_copy(answer);
	const json_t *u = json_object_get(answer, "usage"), *b;
	size_t i;

	if (start == NULL || json_object_set_new(start, "content", json_array()) != 0 ||
	    json_object_set_new(start, "stop_reason", json_null()) != 0) {
		json_decref(start);
		return -1;
	}
	if (push(evs, json_pack("{s:s,s:o}", "type", "message_start", "message", start)) != 0)
		return -1;
	json_array_foreach(json_object_get(answer, "content"), i, b)
		if (replay_block(evs, b, i) != 0)
			return -1;
	return push(evs, json_pack("{s:s,s:{s:O*,s:O*},s:{s:I}}", "type", "message_delta",
	    "delta", "stop_reason", json_object_get(answer, "stop_reason"),
	    "stop_sequence", json_object_get(answer, "stop_sequence"), "usage",
	    "output_tokens", json_integer_value(json_object_get(u, "output_tokens")))) != 0 ||
	    push(evs, json_pack("{s:s}", "type", "message_stop")) != 0 ? -1 : 0;
}

json_t *
aif_passthru_replay(enum aif_kind kind, const json_t *answer)
{
	json_t *evs = json_array();

	if (evs == NULL || !json_is_object(answer) || (kind == AIF_KIND_MESSAGES ?
	    replay_message(evs, answer) : replay_response(evs, answer)) != 0) {
		json_decref(evs);
		return NULL;
	}
	return evs;
}
