/* json.c -- applies the PII engine to OpenAI request and response bodies (jansson
 * trees, changed in place) with the actions in force for the model and role, counting
 * entities per type.
 *
 * Requests: every string of the body, at any depth, and every object key that is not
 * a field name of the request's schema, is screened (docs/PII.md "What is screened").
 * A field is either text (conversation or bookkeeping: messages' content, prompt,
 * metadata, unknown fields, ...), masked in place, or a control field that steers the
 * engine (stop, tools, response_format, logit_bias, ...: the tables below), where an
 * entity to mask, redact or hash refuses the request instead, since masking would
 * change what the engine is asked to do. A block refuses wherever it is. Refusals name
 * the type and the field's path, never a value. Tool-call arguments are JSON text:
 * parsed and masked value by value (keys and integers included) so they stay valid
 * JSON, and masked as plain text when they do not parse.
 *
 * Responses (aif_pii_mask_response): the texts of choices[], as before.
 * The walk visits every node once; keys are looked up in sorted tables. Thread-safe as
 * core/pii/pii.c; the body is the caller's. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pii_int.h"
#include "util.h"

#define ARGS_MAX_DEPTH	64	/* deeper arguments are masked as text (a request body
				   is bounded by the validator: server.max_json_depth) */
#define KEY_SHOWN_MAX	48	/* longer keys are shown as <key> in paths */
/* Segments of the path kept: each one adds a byte or more to a rendered path (but an
 * empty key at its start), so those past it are cut with "..." anyway. */
#define PATH_SEGS	(AIF_PII_PATH_LEN + 8)

/* What a value of the request is, by where it is. */
enum ctx {
	C_TEXT,		/* text: masked */
	C_CONTROL,	/* steers the engine: refused when it holds an entity to act on */
	C_ROOT,		/* the body */
	C_MODEL,	/* the model id: skipped when it is the model's configured id */
	C_MESSAGES,	/* messages[] */
	C_MESSAGE,	/* messages[i] */
	C_ROLE,		/* messages[i].role: skipped when a known role */
	C_CONTENT,	/* messages[i].content: a text or content parts */
	C_PART,		/* a content part */
	C_PART_TYPE,	/* a content part's type: skipped when a known type */
	C_TOOL_CALLS,	/* messages[i].tool_calls */
	C_TOOL_CALL,	/* messages[i].tool_calls[j] */
	C_CALL,		/* tool_calls[j].function, messages[i].function_call */
	C_ARGS,		/* their arguments: JSON text */
	C_TOOLS,	/* tools[] */
	C_TOOL,		/* tools[i] */
	C_TOOL_FN,	/* tools[i].function: its description is text the model reads;
			   the rest steers (name, parameters' schema) */
};

struct field {
	const char	*name;
	enum ctx	 ctx;
};

/* Fields of the body, sorted (bsearch). Not listed: text (C_TEXT). */
static const struct field root_fields[] = {
	{ "add_generation_prompt", C_CONTROL },
	{ "add_special_tokens", C_CONTROL },
	{ "allowed_token_ids", C_CONTROL },
	{ "audio", C_CONTROL },
	{ "background", C_CONTROL },
	{ "bad_words", C_CONTROL },
	{ "best_of", C_CONTROL },
	{ "chat_template", C_CONTROL },
	{ "chat_template_kwargs", C_CONTROL },
	{ "continue_final_message", C_CONTROL },
	{ "dimensions", C_CONTROL },
	{ "documents", C_TEXT },
	{ "echo", C_CONTROL },
	{ "encoding_format", C_CONTROL },
	{ "frequency_penalty", C_CONTROL },
	{ "function_call", C_CONTROL },
	{ "functions", C_CONTROL },
	{ "grammar", C_CONTROL },
	{ "guided_choice", C_CONTROL },
	{ "guided_decoding_backend", C_CONTROL },
	{ "guided_grammar", C_CONTROL },
	{ "guided_json", C_CONTROL },
	{ "guided_regex", C_CONTROL },
	{ "guided_whitespace_pattern", C_CONTROL },
	{ "ignore_eos", C_CONTROL },
	{ "include", C_CONTROL },
	{ "include_stop_str_in_output", C_CONTROL },
	{ "input", C_TEXT },
	{ "json_schema", C_CONTROL },
	{ "length_penalty", C_CONTROL },
	{ "logit_bias", C_CONTROL },
	{ "logprobs", C_CONTROL },
	{ "max_completion_tokens", C_CONTROL },
	{ "max_output_tokens", C_CONTROL },
	{ "max_tokens", C_CONTROL },
	{ "messages", C_MESSAGES },
	{ "metadata", C_TEXT },
	{ "min_p", C_CONTROL },
	{ "min_tokens", C_CONTROL },
	{ "mm_processor_kwargs", C_CONTROL },
	{ "modalities", C_CONTROL },
	{ "model", C_MODEL },
	{ "n", C_CONTROL },
	{ "parallel_tool_calls", C_CONTROL },
	{ "prediction", C_TEXT },
	{ "presence_penalty", C_CONTROL },
	{ "prompt", C_TEXT },
	{ "prompt_cache_key", C_TEXT },
	{ "reasoning", C_CONTROL },
	{ "reasoning_effort", C_CONTROL },
	{ "repetition_penalty", C_CONTROL },
	{ "response_format", C_CONTROL },
	{ "safety_identifier", C_TEXT },
	{ "seed", C_CONTROL },
	{ "service_tier", C_CONTROL },
	{ "skip_special_tokens", C_CONTROL },
	{ "spaces_between_special_tokens", C_CONTROL },
	{ "stop", C_CONTROL },
	{ "stop_sequences", C_CONTROL },
	{ "stop_token_ids", C_CONTROL },
	{ "store", C_CONTROL },
	{ "stream", C_CONTROL },
	{ "stream_options", C_CONTROL },
	{ "structured_outputs", C_CONTROL },
	{ "suffix", C_TEXT },
	{ "temperature", C_CONTROL },
	{ "text", C_CONTROL },
	{ "thinking", C_CONTROL },
	{ "tool_choice", C_CONTROL },
	{ "tools", C_TOOLS },
	{ "top_k", C_CONTROL },
	{ "top_logprobs", C_CONTROL },
	{ "top_p", C_CONTROL },
	{ "truncate_prompt_tokens", C_CONTROL },
	{ "truncation", C_CONTROL },
	{ "use_beam_search", C_CONTROL },
	{ "user", C_TEXT },
	{ "verbosity", C_CONTROL },
	{ "web_search_options", C_CONTROL },
};

/* Not listed: text (C_TEXT). */
static const struct field message_fields[] = {
	{ "audio", C_CONTROL },
	{ "content", C_CONTENT },
	{ "function_call", C_CALL },
	{ "name", C_TEXT },
	{ "reasoning_content", C_TEXT },
	{ "refusal", C_TEXT },
	{ "role", C_ROLE },
	{ "tool_call_id", C_CONTROL },
	{ "tool_calls", C_TOOL_CALLS },
};

/* Not listed: control (C_CONTROL): URLs and data of images, audio, files. Anthropic's
 * blocks of a Messages request passed through (kind.h AIF_KIND_SURFACES) add a tool
 * result's content, a tool call's input and a thought: text the model reads. */
static const struct field part_fields[] = {
	{ "content", C_TEXT },
	{ "input", C_TEXT },
	{ "refusal", C_TEXT },
	{ "text", C_TEXT },
	{ "thinking", C_TEXT },
	{ "type", C_PART_TYPE },
};

/* Not listed: text (C_TEXT). */
static const struct field tool_call_fields[] = {
	{ "function", C_CALL },
	{ "id", C_CONTROL },
	{ "index", C_CONTROL },
	{ "type", C_CONTROL },
};

static const struct field call_fields[] = {
	{ "arguments", C_ARGS },
	{ "name", C_CONTROL },
};

/* tools[i] and tools[i].function (sorted): the description is prose the model reads,
 * masked like a message; the name and the parameters' schema steer. The flat tools of
 * the Responses and Messages APIs passed through (name, description, parameters or
 * input_schema at tools[i]) read the same. */
static const struct field tool_fields[] = {
	{ "description", C_TEXT },
	{ "function", C_TOOL_FN },
	{ "input_schema", C_CONTROL },
	{ "name", C_CONTROL },
	{ "parameters", C_CONTROL },
	{ "strict", C_CONTROL },
	{ "type", C_CONTROL },
};

static const struct field tool_fn_fields[] = {
	{ "description", C_TEXT },
	{ "name", C_CONTROL },
	{ "parameters", C_CONTROL },
	{ "strict", C_CONTROL },
};

struct schema {
	const struct field	*f;
	size_t			 n;
	enum ctx		 unknown;	/* the context of a field not listed */
};

#define SCHEMA(t, u)	{ (t), AIF_NELEM(t), (u) }

/* Content part types the validator (core/protocol/oai.c) allows: skipped when they are
 * one of these, screened as control otherwise (roles: aif_oai_role_known). */
static const char *const part_types[] = {
	"text", "image_url", "input_audio", "file", "refusal", NULL,
};

/* Words of the request schemas (JSON Schema keywords, type names, OpenAI field names and
 * values), sorted: a string or key that is exactly one of them is not scanned when no
 * word holds an entity for this engine (checked once per engine, pii_vocab_clean), so
 * skipping them changes nothing but the time a tool schema takes. */
#define VOCAB_LEN_MAX	24
static const char *const vocabulary[] = {
	"$anchor", "$comment", "$defs", "$id", "$ref", "$schema", "additionalItems",
	"additionalProperties", "allOf", "anyOf", "arguments", "array", "assistant",
	"audio", "auto", "boolean", "const", "contains", "content",
	"continuous_usage_stats", "data", "date", "date-time", "default",
	"definitions", "dependentRequired", "dependentSchemas", "deprecated",
	"description", "detail", "developer", "discriminator", "else", "email", "enum",
	"examples", "exclusiveMaximum", "exclusiveMinimum", "file", "file_data",
	"file_id", "filename", "format", "function", "functions", "high", "hostname",
	"id", "if", "image_url", "include_usage", "index", "input_audio", "integer",
	"ipv4", "ipv6", "items", "json_object", "json_schema", "low", "maxContains",
	"maxItems", "maxLength", "maxProperties", "maximum", "medium", "minContains",
	"minItems", "minLength", "minProperties", "minimal", "minimum", "mp3",
	"multipleOf", "name", "none", "not", "null", "nullable", "number", "object",
	"oneOf", "parameters", "pattern", "patternProperties", "prefixItems",
	"properties", "propertyNames", "readOnly", "refusal", "required", "role",
	"schema", "strict", "string", "system", "text", "then", "time", "title",
	"tool", "tool_choice", "tools", "type", "unevaluatedItems",
	"unevaluatedProperties", "uniqueItems", "uri", "url", "user", "uuid", "voice",
	"wav", "writeOnly",
};

/* One step of the path to the value being walked; rendered only for a refusal. */
enum seg_kind {
	SEG_INDEX,	/* [n] */
	SEG_KEY,	/* .key, shown when plain and short */
	SEG_HIDDEN,	/* .<key>: it holds an entity */
};

struct seg {
	const char	*key;		/* borrowed from the tree walked */
	size_t		 n;		/* the key's length, or the index */
	enum seg_kind	 kind;
};

struct walk {
	struct aif_pii_actions	 act;
	struct aif_pii_counts	*counts;
	struct aif_pii_refusal	*why;		/* NULL for responses */
	const char		*model_id;
	int			 vocab;		/* vocabulary words may be skipped */
	int			 ints;		/* integers are screened (arguments) */
	int			 max_depth;	/* deeper is AIF_TOOBIG (arguments) */
	size_t			 found;		/* hits of the last text screened */
	int			 first_acted;	/* its first acted-on type, or -1 */
	size_t			 changes;	/* texts, keys and integers masked */
	size_t			 nseg;		/* the path: segs[0..nseg), those */
	struct seg		 segs[PATH_SEGS]; /* past PATH_SEGS not kept */
};

static enum aif_err	walk_value(struct walk *, json_t *, enum ctx, int);

/* ---- paths ------------------------------------------------------------------------- */

/* Pushes a segment; returns the depth to give seg_pop. */
static size_t
seg_push(struct walk *w, enum seg_kind kind, const char *key, size_t n)
{
	size_t	 at = w->nseg++;

	if (at < PATH_SEGS)
		w->segs[at] = (struct seg){ key, n, kind };
	return at;
}

/* Changes the segment pushed at `at` (an array's index, a key found plain). */
static void
seg_set(struct walk *w, size_t at, enum seg_kind kind, size_t n)
{
	if (at < PATH_SEGS) {
		w->segs[at].kind = kind;
		w->segs[at].n = n;
	}
}

static void
seg_pop(struct walk *w, size_t at)
{
	w->nseg = at;
}

/* Appends s[0..n) to path p (plen bytes used); when it does not fit, "..." once
 * instead, and nothing after that. */
static void
path_add(char p[AIF_PII_PATH_LEN], size_t *plen, const char *s, size_t n)
{
	size_t room = AIF_PII_PATH_LEN - 1 - *plen;

	if (n > room || (*plen >= 3 && memcmp(p + *plen - 3, "...", 3) == 0)) {
		if (*plen < 3 || memcmp(p + *plen - 3, "...", 3) != 0) {
			if (room < 3)
				*plen = AIF_PII_PATH_LEN - 4;
			memcpy(p + *plen, "...", 3);
			*plen += 3;
			p[*plen] = '\0';
		}
		return;
	}
	memcpy(p + *plen, s, n);
	*plen += n;
	p[*plen] = '\0';
}

/* 1 when key segment g is shown as it is: not hidden, short, no control bytes. */
static int
key_shown(const struct seg *g)
{
	size_t	 i;

	if (g->kind != SEG_KEY || g->n > KEY_SHOWN_MAX)
		return 0;
	for (i = 0; i < g->n; i++)
		if ((unsigned char)g->key[i] < 0x20 || g->key[i] == 0x7f)
			return 0;
	return 1;
}

/* The path of the walk as a refusal shows it: "stop[1]", "metadata.<key>". */
static void
path_render(const struct walk *w, char p[AIF_PII_PATH_LEN])
{
	const struct seg *g;
	char		 b[32];
	size_t		 plen = 0, i;
	int		 n;

	p[0] = '\0';
	for (i = 0; i < w->nseg && i < PATH_SEGS; i++) {
		g = &w->segs[i];
		if (g->kind == SEG_INDEX) {
			n = snprintf(b, sizeof(b), "[%zu]", g->n);
			if (n > 0 && (size_t)n < sizeof(b))
				path_add(p, &plen, b, (size_t)n);
			continue;
		}
		if (plen > 0)
			path_add(p, &plen, ".", 1);
		if (key_shown(g))
			path_add(p, &plen, g->key, g->n);
		else
			path_add(p, &plen, "<key>", 5);
	}
	if (w->nseg > PATH_SEGS)
		path_add(p, &plen, "...", 3);
}

/* ---- texts ------------------------------------------------------------------------- */

/* Refuses the request: a block (control 0) or an entity in a control field. */
static enum aif_err
refuse(struct walk *w, int type, int control)
{
	if (w->why != NULL) {
		(void)snprintf(w->why->type, sizeof(w->why->type), "%s",
		    aif_pii_type_name(w->act.pii, type));
		path_render(w, w->why->path);
		w->why->control = control;
	}
	return AIF_FORBIDDEN;
}

/* Screens the text s[0..n), a control field's when `control`: counts its entities; a
 * block, or in a control field an entity to act on, refuses (AIF_FORBIDDEN); else *out
 * is the masked text, new, or NULL when nothing changes. Sets w->found and
 * w->first_acted. */
static enum aif_err
mask_bytes(struct walk *w, int control, const char *s, size_t n, char **out,
    size_t *outlen)
{
	struct pii_found f;
	enum aif_err	 rc;

	*out = NULL;
	*outlen = 0;
	rc = pii_mask(&w->act, s, n, w->counts, &f, control ? NULL : out, outlen);
	w->found = f.n;
	w->first_acted = f.acted;
	if (rc != AIF_OK)
		return rc;
	if (f.blocked >= 0)
		return refuse(w, f.blocked, 0);
	if (f.acted >= 0 && control)
		return refuse(w, f.acted, 1);
	return AIF_OK;
}

/* Masks string `str` in place (refuses, when `control`, as mask_bytes); a non-string
 * is left alone. */
static enum aif_err
mask_string(struct walk *w, int control, json_t *str)
{
	char		*out = NULL;
	size_t		 outlen = 0;
	enum aif_err	 rc;

	if (!json_is_string(str))
		return AIF_OK;
	rc = mask_bytes(w, control, json_string_value(str), json_string_length(str),
	    &out, &outlen);
	if (rc == AIF_OK && out != NULL) {
		/* no second UTF-8 check: the masker's output is valid UTF-8 (the input
		 * was checked, entities are cut at character boundaries, placeholders
		 * are ASCII; tests/fuzz/fuzz_pii.c checks it), and jansson's check costs
		 * a few ns a byte of every changed string */
		if (json_string_setn_nocheck(str, out, outlen) != 0)
			rc = AIF_NOMEM;
		else
			w->changes++;
	}
	free(out);
	return rc;
}

/* ---- responses --------------------------------------------------------------------- */

/* Content as a string or as parts: the "text" of each part that has one. */
static enum aif_err
mask_content(struct walk *w, json_t *content)
{
	json_t		*part;
	size_t		 i;
	enum aif_err	 rc;

	if (json_is_string(content))
		return mask_string(w, 0, content);
	if (!json_is_array(content))
		return AIF_OK;
	json_array_foreach(content, i, part) {
		if (!json_is_object(part))
			continue;
		if ((rc = mask_string(w, 0, json_object_get(part, "text"))) != AIF_OK ||
		    (rc = mask_string(w, 0, json_object_get(part, "refusal"))) != AIF_OK)
			return rc;
	}
	return AIF_OK;
}

static enum aif_err	mask_arguments(struct walk *, json_t *);

static enum aif_err
mask_tool_calls(struct walk *w, json_t *msg)
{
	json_t		*calls = json_object_get(msg, "tool_calls"), *call;
	size_t		 i;
	enum aif_err	 rc;

	if (json_is_array(calls))
		json_array_foreach(calls, i, call)
			if (json_is_object(call) && (rc = mask_arguments(w,
			    json_object_get(json_object_get(call, "function"),
			    "arguments"))) != AIF_OK)
				return rc;
	return mask_arguments(w, json_object_get(json_object_get(msg, "function_call"),
	    "arguments"));
}

static enum aif_err
mask_message(struct walk *w, json_t *msg)
{
	enum aif_err	 rc;

	if (!json_is_object(msg))
		return AIF_OK;
	if ((rc = mask_content(w, json_object_get(msg, "content"))) != AIF_OK ||
	    (rc = mask_string(w, 0, json_object_get(msg, "name"))) != AIF_OK ||
	    (rc = mask_string(w, 0, json_object_get(msg, "refusal"))) != AIF_OK ||
	    (rc = mask_string(w, 0, json_object_get(msg, "reasoning_content"))) !=
	    AIF_OK)
		return rc;
	return mask_tool_calls(w, msg);
}

/* ---- tool-call arguments ------------------------------------------------------------ */

/* An integer inside tool arguments: masked into a string when its digits hold an
 * entity (a card or RRN sent as a JSON number). */
static enum aif_err
mask_integer(struct walk *w, json_t *parent, const char *key, size_t klen, size_t idx,
    json_t *v)
{
	char		 buf[32], *out = NULL;
	size_t		 outlen = 0;
	int		 n;
	enum aif_err	 rc;

	n = snprintf(buf, sizeof(buf), "%lld", (long long)json_integer_value(v));
	if (n < 0 || (size_t)n >= sizeof(buf))
		return AIF_OK;
	if ((rc = mask_bytes(w, 0, buf, (size_t)n, &out, &outlen)) != AIF_OK ||
	    out == NULL)
		return rc;
	if ((key != NULL ? json_object_setn_new(parent, key, klen,
	    json_stringn(out, outlen)) : json_array_set_new(parent, idx,
	    json_stringn(out, outlen))) != 0)
		rc = AIF_NOMEM;
	else
		w->changes++;
	free(out);
	return rc;
}

/* `args`: JSON text, masked value by value (keys and integers too) when it parses,
 * else as text. A non-string is walked as text. */
static enum aif_err
mask_arguments(struct walk *w, json_t *args)
{
	struct aif_pii_counts saved;
	json_t		*root;
	json_error_t	 jerr;
	char		*dumped;
	size_t		 changes = w->changes;
	int		 ints = w->ints, max_depth = w->max_depth;
	enum aif_err	 rc;

	if (args == NULL)
		return AIF_OK;
	if (!json_is_string(args)) {
		/* an engine's answer is not validated: bounded as parsed arguments */
		w->max_depth = ARGS_MAX_DEPTH;
		rc = walk_value(w, args, C_TEXT, 0);
		w->max_depth = max_depth;
		return rc;
	}
	root = json_loadb(json_string_value(args), json_string_length(args),
	    JSON_DECODE_ANY, &jerr);
	if (root == NULL || json_is_string(root) || json_is_integer(root))
		goto as_text;
	if (w->counts != NULL)
		saved = *w->counts;
	w->ints = 1;
	w->max_depth = ARGS_MAX_DEPTH;	/* a tree of its own: its depth counts from 0 */
	rc = walk_value(w, root, C_TEXT, 0);
	w->ints = ints;
	w->max_depth = max_depth;
	if (rc == AIF_TOOBIG || rc == AIF_CONFLICT) {
		/* too deep, or keys masked into one name: as text, counted once */
		if (w->counts != NULL)
			*w->counts = saved;
		w->changes = changes;
		goto as_text;
	}
	if (rc == AIF_OK && w->changes != changes) {
		if ((dumped = json_dumps(root, JSON_COMPACT | JSON_ENCODE_ANY)) == NULL ||
		    json_string_set(args, dumped) != 0)
			rc = AIF_NOMEM;
		free(dumped);
	}
	json_decref(root);
	return rc;
as_text:
	json_decref(root);
	return mask_string(w, 0, args);
}

/* ---- the request walk -------------------------------------------------------------- */

static int
field_cmp(const void *k, const void *f)
{
	return strcmp(k, ((const struct field *)f)->name);
}

/* The schema of an object in context c, or NULL (text and control: every key is
 * data). */
static const struct schema *
schema_of(enum ctx c)
{
	static const struct schema root = SCHEMA(root_fields, C_TEXT);
	static const struct schema message = SCHEMA(message_fields, C_TEXT);
	static const struct schema part = SCHEMA(part_fields, C_CONTROL);
	static const struct schema call = SCHEMA(tool_call_fields, C_TEXT);
	static const struct schema fn = SCHEMA(call_fields, C_TEXT);
	static const struct schema tool = SCHEMA(tool_fields, C_CONTROL);
	static const struct schema tool_fn = SCHEMA(tool_fn_fields, C_CONTROL);

	switch (c) {
	case C_TOOL:		return &tool;
	case C_TOOL_FN:		return &tool_fn;
	case C_ROOT:		return &root;
	case C_MESSAGE:		return &message;
	case C_PART:		return &part;
	case C_TOOL_CALL:	return &call;
	case C_CALL:		return &fn;
	default:		return NULL;
	}
}

/* 1 when a string in context c is a control field's. */
static int
is_control(enum ctx c)
{
	return c == C_CONTROL || c == C_MODEL || c == C_ROLE || c == C_PART_TYPE ||
	    c == C_TOOLS || c == C_TOOL || c == C_TOOL_FN;
}

struct bytes {
	const char	*s;
	size_t		 n;
};

static int
vocab_cmp(const void *k, const void *e)
{
	const struct bytes *b = k;
	const char	*word = *(const char *const *)e;
	size_t		 wl = strlen(word);
	int		 c = memcmp(b->s, word, b->n < wl ? b->n : wl);

	return c != 0 ? c : (b->n > wl) - (b->n < wl);
}

static int
is_word(const char *s, size_t n)
{
	struct bytes	 b = { s, n };

	return n <= VOCAB_LEN_MAX && bsearch(&b, vocabulary, AIF_NELEM(vocabulary),
	    sizeof(vocabulary[0]), vocab_cmp) != NULL;
}

int
pii_vocab_clean(const struct aif_pii *pii)
{
	struct aif_pii_actions act;
	struct aif_pii_hit *hits;
	size_t		 i, n;

	aif_pii_actions_for(pii, NULL, NULL, &act);
	for (i = 0; i < AIF_NELEM(vocabulary); i++) {
		if (aif_pii_scan(&act, vocabulary[i], strlen(vocabulary[i]), &hits, &n) !=
		    AIF_OK)
			return 0;
		free(hits);
		if (n > 0)
			return 0;
	}
	return 1;
}

static int
one_of(const char *const *set, const char *s, size_t n)
{
	for (; *set != NULL; set++)
		if (strlen(*set) == n && memcmp(*set, s, n) == 0)
			return 1;
	return 0;
}

static enum aif_err
walk_string(struct walk *w, json_t *v, enum ctx c)
{
	const char	*s = json_string_value(v);
	size_t		 n = json_string_length(v);

	switch (c) {
	case C_MODEL:
		if (w->model_id != NULL && strlen(w->model_id) == n &&
		    memcmp(w->model_id, s, n) == 0)
			return AIF_OK;
		break;
	case C_ROLE:
		if (aif_oai_role_known(s, n))
			return AIF_OK;
		break;
	case C_PART_TYPE:
		if (one_of(part_types, s, n))
			return AIF_OK;
		break;
	case C_ARGS:
		return mask_arguments(w, v);
	default:
		break;
	}
	if (w->vocab && is_word(s, n))
		return AIF_OK;
	return mask_string(w, is_control(c), v);
}

/* A key masked into another name, applied after the object's walk. */
struct rename {
	const char	*key;		/* borrowed from the object */
	size_t		 klen;
	char		*to;		/* new */
	size_t		 tolen;
	int		 type;
};

/* Applies the renames; a new name the object already has refuses (AIF_CONFLICT).
 * Frees every rename's new name. */
static enum aif_err
apply_renames(struct walk *w, json_t *obj, struct rename *rn, size_t n)
{
	enum aif_err	 rc = AIF_OK;
	json_t		*v;
	size_t		 i, at;

	for (i = 0; i < n; i++) {
		if (rc != AIF_OK)
			goto next;
		if (json_object_getn(obj, rn[i].to, rn[i].tolen) != NULL) {
			at = seg_push(w, SEG_HIDDEN, "", 0);
			(void)refuse(w, rn[i].type, 1);
			seg_pop(w, at);
			rc = AIF_CONFLICT;
			goto next;
		}
		v = json_incref(json_object_getn(obj, rn[i].key, rn[i].klen));
		if (json_object_setn_new(obj, rn[i].to, rn[i].tolen, v) != 0 ||
		    json_object_deln(obj, rn[i].key, rn[i].klen) != 0)
			rc = AIF_NOMEM;
		else
			w->changes++;
next:
		free(rn[i].to);
	}
	return rc;
}

static enum aif_err
walk_object(struct walk *w, json_t *obj, enum ctx c, int depth)
{
	const struct schema *sc = schema_of(c);
	const struct field *f;
	struct rename	*rn = NULL, *grown;
	size_t		 nrn = 0, caprn = 0, klen, at;
	const char	*key;
	json_t		*child;
	char		*to;
	size_t		 tolen;
	enum ctx	 cc;
	enum aif_err	 rc = AIF_OK;

	json_object_keylen_foreach(obj, key, klen, child) {
		f = NULL;
		if (sc != NULL && strlen(key) == klen)
			f = bsearch(key, sc->f, sc->n, sizeof(sc->f[0]), field_cmp);
		cc = f != NULL ? f->ctx : sc != NULL ? sc->unknown :
		    is_control(c) ? C_CONTROL : C_TEXT;
		to = NULL;
		if (f != NULL || (w->vocab && is_word(key, klen))) {
			at = seg_push(w, SEG_KEY, key, klen);
		} else {
			/* a key that is data: screened as its value's field */
			at = seg_push(w, SEG_HIDDEN, key, klen);
			rc = mask_bytes(w, is_control(cc), key, klen, &to, &tolen);
			if (rc != AIF_OK) {
				seg_pop(w, at);
				break;
			}
			if (w->found == 0)
				seg_set(w, at, SEG_KEY, klen);
		}
		if (json_is_integer(child) && w->ints)
			rc = mask_integer(w, obj, key, klen, 0, child);
		else
			rc = walk_value(w, child, cc, depth + 1);
		seg_pop(w, at);
		if (to != NULL) {
			if (rc == AIF_OK && nrn == caprn) {
				caprn = caprn ? caprn * 2 : 4;
				if ((grown = realloc(rn, caprn * sizeof(*rn))) == NULL)
					rc = AIF_NOMEM;
				else
					rn = grown;
			}
			if (rc != AIF_OK) {
				free(to);
				break;
			}
			rn[nrn++] = (struct rename){ key, klen, to, tolen,
			    w->first_acted };
		}
		if (rc != AIF_OK)
			break;
	}
	if (rc == AIF_OK)
		rc = apply_renames(w, obj, rn, nrn);
	else
		for (size_t i = 0; i < nrn; i++)
			free(rn[i].to);
	free(rn);
	return rc;
}

/* The context of the elements of an array in context c. */
static enum ctx
element_of(enum ctx c)
{
	switch (c) {
	case C_MESSAGES:	return C_MESSAGE;
	case C_CONTENT:		return C_PART;
	case C_TOOL_CALLS:	return C_TOOL_CALL;
	case C_TOOLS:		return C_TOOL;
	default:		return is_control(c) ? C_CONTROL : C_TEXT;
	}
}

static enum aif_err
walk_value(struct walk *w, json_t *v, enum ctx c, int depth)
{
	json_t		*el;
	size_t		 i, at;
	enum aif_err	 rc = AIF_OK;

	if (depth > w->max_depth)
		return AIF_TOOBIG;
	switch (json_typeof(v)) {
	case JSON_STRING:
		return walk_string(w, v, c);
	case JSON_OBJECT:
		return walk_object(w, v, c, depth);
	case JSON_ARRAY:
		at = seg_push(w, SEG_INDEX, NULL, 0);
		json_array_foreach(v, i, el) {
			switch (json_typeof(el)) {
			case JSON_INTEGER:
				if (!w->ints)
					continue;	/* token ids, logit biases, ... */
				seg_set(w, at, SEG_INDEX, i);
				rc = mask_integer(w, v, NULL, 0, i, el);
				break;
			case JSON_STRING:
			case JSON_OBJECT:
			case JSON_ARRAY:
				seg_set(w, at, SEG_INDEX, i);
				rc = walk_value(w, el, element_of(c), depth + 1);
				break;
			default:
				continue;
			}
			if (rc != AIF_OK)
				break;
		}
		seg_pop(w, at);
		return rc;
	default:
		return AIF_OK;
	}
}

enum aif_err
aif_pii_screen_request(const struct aif_pii *pii, const char *model_id,
    const char *role, enum aif_kind kind, json_t *body, struct aif_pii_counts *counts,
    struct aif_pii_refusal *why)
{
	struct walk	 w;
	enum aif_err	 rc;

	if (why != NULL)
		memset(why, 0, sizeof(*why));
	if (!aif_pii_enabled(pii) || !json_is_object(body))
		return AIF_OK;
	if (((unsigned)kind & AIF_KIND_ALL) == 0)
		return AIF_INVALID;	/* not a kind */
	memset(&w, 0, sizeof(w));
	aif_pii_actions_for(pii, model_id, role, &w.act);
	w.counts = counts;
	w.why = why;
	w.model_id = model_id;
	w.vocab = pii->vocab_clean;
	w.max_depth = INT_MAX;	/* the validator bounds it: server.max_json_depth */
	rc = walk_value(&w, body, C_ROOT, 0);
	return rc == AIF_CONFLICT ? AIF_FORBIDDEN : rc;
}

enum aif_err
aif_pii_mask_request(const struct aif_pii *pii, const char *model_id, const char *role,
    enum aif_kind kind, json_t *body, struct aif_pii_counts *counts,
    char *blocked_type, size_t cap)
{
	struct aif_pii_refusal why;
	enum aif_err	 rc;

	if (blocked_type != NULL && cap > 0)
		blocked_type[0] = '\0';
	rc = aif_pii_screen_request(pii, model_id, role, kind, body, counts, &why);
	if (rc == AIF_FORBIDDEN && blocked_type != NULL && cap > 0)
		(void)snprintf(blocked_type, cap, "%s", why.type);
	return rc;
}

void
aif_pii_refusal_error(const struct aif_pii_refusal *why, struct aif_error *err)
{
	if (why->control)
		AIF_ERROR(err, AIF_E_PII_IN_CONTROL_FIELD, why->path, why->type,
		    why->path);
	else
		aif_pii_block_error(why->type, err);
}

enum aif_err
aif_pii_mask_response(const struct aif_pii *pii, const char *model_id,
    const char *role, enum aif_kind kind, json_t *resp, struct aif_pii_counts *counts)
{
	struct walk	 w;
	json_t		*choices, *choice;
	size_t		 i;
	enum aif_err	 rc;

	if (!aif_pii_masks_responses(pii) || !json_is_object(resp) ||
	    (kind != AIF_KIND_CHAT && kind != AIF_KIND_COMPLETION))
		return AIF_OK;
	memset(&w, 0, sizeof(w));
	aif_pii_actions_for(pii, model_id, role, &w.act);
	w.max_depth = INT_MAX;	/* only arguments are walked, with their own bound */
	/* an answer cannot be refused: block acts as mask */
	for (i = 0; i < AIF_PII_MAX_TYPES; i++)
		if (w.act.action[i] == AIF_PII_BLOCK)
			w.act.action[i] = AIF_PII_MASK;
	w.counts = counts;
	choices = json_object_get(resp, "choices");
	if (!json_is_array(choices))
		return AIF_OK;
	json_array_foreach(choices, i, choice) {
		if (!json_is_object(choice))
			continue;
		if ((rc = mask_message(&w, json_object_get(choice, "message"))) != AIF_OK ||
		    (rc = mask_message(&w, json_object_get(choice, "delta"))) != AIF_OK ||
		    (rc = mask_string(&w, 0, json_object_get(choice, "text"))) != AIF_OK)
			return rc;
	}
	return AIF_OK;
}
