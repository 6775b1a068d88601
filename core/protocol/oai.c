/* oai.c -- the OpenAI request front: parses /v1/chat/completions and /v1/completions
 * bodies with jansson, validates them against one field table (name, kinds, JSON
 * types, range, deeper shape check) and reports the first problem the way OpenAI does:
 * status, type "invalid_request_error", a code, the exact param path
 * ("messages[2].content", "stop[1]") and a message in OpenAI's wording.
 * Fields the table does not know are passed to the engine untouched. Sampling fields
 * that the OpenAI spec marks nullable (temperature, max_tokens, stop, ...) treat null
 * as absent. Thread-safe: no state of its own. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "oai.h"
#include "util.h"

#define KIND_BOTH	(AIF_KIND_CHAT | AIF_KIND_COMPLETION)
#define KIND_ALL	(KIND_BOTH | AIF_KIND_EMBEDDING | KIND_NATIVE)
/* the engine-native kinds: no generation, no stream */
#define KIND_NATIVE	(AIF_KIND_RERANK | AIF_KIND_SCORE | AIF_KIND_TOKENIZE |	\
			 AIF_KIND_DETOKENIZE)
#define NATIVE_ITEMS_MAX	1024	/* documents of a rerank, texts of a score side */
#define EMBED_INPUTS_MAX 2048
#define PATH_CAP	sizeof(((struct aif_error *)0)->param)
#define ECHO_MAX	64	/* bytes of a client's bad value quoted back in a message */
#define STOP_MAX	4	/* "stop": at most 4 sequences */
#define EST_PER_MESSAGE	4	/* tokens of chat framing counted per message */
#define TOOL_NAME_MAX	64	/* function names: ^[a-zA-Z0-9_-]{1,64}$ */

/* JSON types a field accepts, as a mask. */
enum {
	T_NULL = 1 << 0,
	T_BOOL = 1 << 1,
	T_INT = 1 << 2,
	T_REAL = 1 << 3,
	T_STRING = 1 << 4,
	T_ARRAY = 1 << 5,
	T_OBJECT = 1 << 6,
	T_NUMBER = T_INT | T_REAL,
};

enum range {
	R_NONE,
	R_INT,		/* integer, imin..imax, "integer_below_min_value" etc. */
	R_NUM,		/* number, dmin..dmax, "decimal_below_min_value" etc. */
};

/* One validation in progress. */
struct check {
	enum aif_kind			 kind;
	const struct aif_oai_limits	*lim;
	struct aif_error		*err;
};

/* A deeper shape check run after every field's type and range passed. `v` (borrowed)
 * is the field's value, never null. Returns 0, or -1 with c->err filled. */
typedef int	(*shape_fn)(struct check *c, const json_t *v, const char *name);

struct field {
	const char	*name;
	unsigned	 kinds;		/* enum aif_kind mask the row applies to */
	int		 required;
	unsigned	 types;		/* T_* mask; T_NULL means null == absent */
	const char	*expected;	/* "a number": for "expected %s, but got ..." */
	enum range	 range;
	int64_t		 imin, imax;
	double		 dmin, dmax;
	shape_fn	 shape;
};

static int	shape_messages(struct check *, const json_t *, const char *);
static int	shape_prompt(struct check *, const json_t *, const char *);
static int	shape_stop(struct check *, const json_t *, const char *);
static int	shape_logit_bias(struct check *, const json_t *, const char *);
static int	shape_response_format(struct check *, const json_t *, const char *);
static int	shape_tools(struct check *, const json_t *, const char *);
static int	shape_tool_choice(struct check *, const json_t *, const char *);
static int	shape_input(struct check *, const json_t *, const char *);
static int	shape_encoding_format(struct check *, const json_t *, const char *);
static int	shape_documents(struct check *, const json_t *, const char *);
static int	shape_texts(struct check *, const json_t *, const char *);
static int	shape_tokens(struct check *, const json_t *, const char *);

/* The request fields we check, in the order errors are looked for. */
static const struct field fields[] = {
	{ "model", KIND_ALL, 1, T_STRING, "a string", R_NONE, 0, 0, 0, 0, NULL },
	{ "input", AIF_KIND_EMBEDDING, 1, T_STRING | T_ARRAY,
	    "a string or an array", R_NONE, 0, 0, 0, 0, shape_input },
	{ "encoding_format", AIF_KIND_EMBEDDING, 0, T_STRING | T_NULL, "a string",
	    R_NONE, 0, 0, 0, 0, shape_encoding_format },
	{ "dimensions", AIF_KIND_EMBEDDING, 0, T_INT | T_NULL, "an integer", R_INT,
	    1, 65536, 0, 0, NULL },
	{ "messages", AIF_KIND_CHAT, 1, T_ARRAY, "an array", R_NONE, 0, 0, 0, 0,
	    shape_messages },
	{ "query", AIF_KIND_RERANK, 1, T_STRING, "a string", R_NONE, 0, 0, 0, 0, NULL },
	{ "documents", AIF_KIND_RERANK, 1, T_ARRAY, "an array", R_NONE, 0, 0, 0, 0,
	    shape_documents },
	{ "top_n", AIF_KIND_RERANK, 0, T_INT | T_NULL, "an integer", R_INT,
	    1, NATIVE_ITEMS_MAX, 0, 0, NULL },
	{ "return_documents", AIF_KIND_RERANK, 0, T_BOOL | T_NULL, "a boolean", R_NONE,
	    0, 0, 0, 0, NULL },
	{ "text_1", AIF_KIND_SCORE, 1, T_STRING | T_ARRAY, "a string or an array",
	    R_NONE, 0, 0, 0, 0, shape_texts },
	{ "text_2", AIF_KIND_SCORE, 1, T_STRING | T_ARRAY, "a string or an array",
	    R_NONE, 0, 0, 0, 0, shape_texts },
	{ "prompt", AIF_KIND_TOKENIZE, 0, T_STRING, "a string", R_NONE, 0, 0, 0, 0, NULL },
	{ "messages", AIF_KIND_TOKENIZE, 0, T_ARRAY, "an array", R_NONE, 0, 0, 0, 0,
	    shape_messages },
	{ "add_special_tokens", AIF_KIND_TOKENIZE, 0, T_BOOL | T_NULL, "a boolean",
	    R_NONE, 0, 0, 0, 0, NULL },
	{ "tokens", AIF_KIND_DETOKENIZE, 1, T_ARRAY, "an array", R_NONE, 0, 0, 0, 0,
	    shape_tokens },
	{ "prompt", AIF_KIND_COMPLETION, 1, T_STRING | T_ARRAY,
	    "a string or an array", R_NONE, 0, 0, 0, 0, shape_prompt },
	{ "max_tokens", KIND_BOTH, 0, T_INT | T_NULL, "an integer", R_INT,
	    1, INT64_MAX, 0, 0, NULL },
	{ "max_completion_tokens", KIND_BOTH, 0, T_INT | T_NULL, "an integer", R_INT,
	    1, INT64_MAX, 0, 0, NULL },
	{ "temperature", KIND_BOTH, 0, T_NUMBER | T_NULL, "a number", R_NUM,
	    0, 0, 0.0, 2.0, NULL },
	{ "top_p", KIND_BOTH, 0, T_NUMBER | T_NULL, "a number", R_NUM,
	    0, 0, 0.0, 1.0, NULL },
	{ "n", KIND_BOTH, 0, T_INT | T_NULL, "an integer", R_INT, 1, 128, 0, 0, NULL },
	{ "best_of", AIF_KIND_COMPLETION, 0, T_INT | T_NULL, "an integer", R_INT,
	    1, 20, 0, 0, NULL },
	{ "stream", KIND_BOTH, 0, T_BOOL | T_NULL, "a boolean", R_NONE,
	    0, 0, 0, 0, NULL },
	{ "stream_options", KIND_BOTH, 0, T_OBJECT | T_NULL, "an object", R_NONE,
	    0, 0, 0, 0, NULL },
	{ "stop", KIND_BOTH, 0, T_STRING | T_ARRAY | T_NULL,
	    "a string or an array of strings", R_NONE, 0, 0, 0, 0, shape_stop },
	{ "presence_penalty", KIND_BOTH, 0, T_NUMBER | T_NULL, "a number", R_NUM,
	    0, 0, -2.0, 2.0, NULL },
	{ "frequency_penalty", KIND_BOTH, 0, T_NUMBER | T_NULL, "a number", R_NUM,
	    0, 0, -2.0, 2.0, NULL },
	{ "seed", KIND_BOTH, 0, T_INT | T_NULL, "an integer", R_NONE,
	    0, 0, 0, 0, NULL },
	{ "logprobs", AIF_KIND_CHAT, 0, T_BOOL | T_NULL, "a boolean", R_NONE,
	    0, 0, 0, 0, NULL },
	{ "logprobs", AIF_KIND_COMPLETION, 0, T_INT | T_NULL, "an integer", R_INT,
	    0, 5, 0, 0, NULL },
	{ "top_logprobs", KIND_BOTH, 0, T_INT | T_NULL, "an integer", R_INT,
	    0, 20, 0, 0, NULL },
	{ "user", KIND_ALL, 0, T_STRING, "a string", R_NONE, 0, 0, 0, 0, NULL },
	{ "logit_bias", KIND_BOTH, 0, T_OBJECT | T_NULL, "an object", R_NONE,
	    0, 0, 0, 0, shape_logit_bias },
	{ "response_format", KIND_BOTH, 0, T_OBJECT, "an object", R_NONE,
	    0, 0, 0, 0, shape_response_format },
	{ "tools", KIND_BOTH, 0, T_ARRAY, "an array", R_NONE, 0, 0, 0, 0,
	    shape_tools },
	{ "tool_choice", KIND_BOTH, 0, T_STRING | T_OBJECT, "a string or an object",
	    R_NONE, 0, 0, 0, 0, shape_tool_choice },
};

static const char *const chat_roles[] = {
	"system", "developer", "user", "assistant", "tool", "function", NULL,
};

int
aif_oai_role_known(const char *s, size_t n)
{
	for (const char *const *r = chat_roles; *r != NULL; r++)
		if (strlen(*r) == n && memcmp(*r, s, n) == 0)
			return 1;
	return 0;
}

/* ---- errors ---- */

/* Fills c->err as a 400 invalid_request_error and returns -1. */
__attribute__((format(printf, 4, 5)))
static int
bad(struct check *c, const char *code, const char *param, const char *fmt, ...)
{
	char msg[sizeof(c->err->message)];
	va_list ap;

	va_start(ap, fmt);
	if (vsnprintf(msg, sizeof(msg), fmt, ap) < 0)
		msg[0] = '\0';
	va_end(ap);
	aif_error_set(c->err, 400, "invalid_request_error", code, param, "%s", msg);
	return -1;
}

/* ---- type and range helpers ---- */

static unsigned
type_bit(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT: return T_OBJECT;
	case JSON_ARRAY: return T_ARRAY;
	case JSON_STRING: return T_STRING;
	case JSON_INTEGER: return T_INT;
	case JSON_REAL: return T_REAL;
	case JSON_TRUE:
	case JSON_FALSE: return T_BOOL;
	case JSON_NULL: return T_NULL;
	}
	return 0;
}

/* OpenAI's words for the type of `v`, as in "but got a string instead". */
static const char *
type_words(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT: return "an object";
	case JSON_ARRAY: return "an array";
	case JSON_STRING: return "a string";
	case JSON_INTEGER: return "an integer";
	case JSON_REAL: return "a decimal";
	case JSON_TRUE:
	case JSON_FALSE: return "a boolean";
	case JSON_NULL: return "null";
	}
	return "an unknown type";
}

/* Returns 0 when the type of `v` is in `types`, else fills the invalid_type error. */
static int
want(struct check *c, const json_t *v, unsigned types, const char *expected,
    const char *path)
{
	if (type_bit(v) & types)
		return 0;
	return bad(c, "invalid_type", path,
	    "Invalid type for '%s': expected %s, but got %s instead.", path, expected,
	    type_words(v));
}

/* Writes `d` in the fewest digits that read back as the same double. */
static void
fmt_number(char *buf, size_t cap, double d)
{
	int prec, n;

	for (prec = 1; prec <= 17; prec++) {
		n = snprintf(buf, cap, "%.*g", prec, d);
		if (n < 0 || (size_t)n >= cap) {
			snprintf(buf, cap, "?");
			return;
		}
		if (strtod(buf, NULL) == d)
			return;
	}
}

/* Checks `v` (a number of the right type) against the row's range. */
static int
check_range(struct check *c, const struct field *f, const json_t *v, const char *path)
{
	char	 lim[32], got[32];
	double	 d;
	int64_t	 i;
	int	 n;

	if (f->range == R_INT) {
		i = (int64_t)json_integer_value(v);
		if (i < f->imin)
			return bad(c, "integer_below_min_value", path,
			    "Invalid value for '%s': integer below minimum value. Expected a "
			    "value >= %" PRId64 ", but got %" PRId64 " instead.", path,
			    f->imin, i);
		if (i > f->imax)
			return bad(c, "integer_above_max_value", path,
			    "Invalid value for '%s': integer above maximum value. Expected a "
			    "value <= %" PRId64 ", but got %" PRId64 " instead.", path,
			    f->imax, i);
	} else if (f->range == R_NUM) {
		d = json_number_value(v);
		if (json_is_integer(v)) {
			n = snprintf(got, sizeof(got), "%" JSON_INTEGER_FORMAT,
			    json_integer_value(v));
			if (n < 0 || (size_t)n >= sizeof(got))
				snprintf(got, sizeof(got), "?");
		} else
			fmt_number(got, sizeof(got), d);
		if (d < f->dmin) {
			fmt_number(lim, sizeof(lim), f->dmin);
			return bad(c, "decimal_below_min_value", path,
			    "Invalid value for '%s': decimal below minimum value. Expected a "
			    "value >= %s, but got %s instead.", path, lim, got);
		}
		if (d > f->dmax) {
			fmt_number(lim, sizeof(lim), f->dmax);
			return bad(c, "decimal_above_max_value", path,
			    "Invalid value for '%s': decimal above maximum value. Expected a "
			    "value <= %s, but got %s instead.", path, lim, got);
		}
	}
	return 0;
}

/* Formats a param path into buf[PATH_CAP]. A path too long for the error's param
 * field is cut (params are advisory); error_vset repairs a cut UTF-8 sequence. */
__attribute__((format(printf, 2, 3)))
static void
pathf(char *buf, const char *fmt, ...)
{
	va_list ap;
	int	n;

	va_start(ap, fmt);
	n = vsnprintf(buf, PATH_CAP, fmt, ap);
	va_end(ap);
	if (n < 0)
		buf[0] = '\0';
}

static int
missing(struct check *c, const char *path)
{
	return bad(c, "missing_required_parameter", path, "'%s' is a required property",
	    path);
}

static int
empty_array(struct check *c, const char *path)
{
	return bad(c, "empty_array", path, "Invalid value for '%s': empty array. Expected "
	    "an array with minimum length 1, but got an empty array instead.", path);
}

static int
array_too_long(struct check *c, const char *path, size_t max, size_t got)
{
	return bad(c, "array_above_max_length", path, "Invalid value for '%s': array too "
	    "long. Expected an array with maximum length %zu, but got an array with "
	    "length %zu instead.", path, max, got);
}

/* ---- shape checks ---- */

/* The path "<base>.<key>" (`base` alone for a NULL key) into path. */
static void
join(char path[PATH_CAP], const char *base, const char *key)
{
	if (key == NULL)
		pathf(path, "%s", base);
	else
		pathf(path, "%s.%s", base, key);
}

/* Looks field `key` of `obj` (whose path is `base`) up once: *out is it, or NULL when
 * absent. Absent is an error when `required` (missing_required_parameter), present but
 * of none of `types` (0: any) an invalid_type; the field's path is formatted for the
 * error only. Returns 0, or -1 with c->err filled. */
static int
sub_field(struct check *c, const json_t *obj, const char *base, const char *key,
    int required, unsigned types, const char *expected, const json_t **out)
{
	char	 path[PATH_CAP];

	if ((*out = json_object_get(obj, key)) == NULL && !required)
		return 0;
	if (*out != NULL && (types == 0 || (type_bit(*out) & types)))
		return 0;
	join(path, base, key);
	return *out == NULL ? missing(c, path) : want(c, *out, types, expected, path);
}

/* 1 when `s` is one of the NULL-terminated `list`. */
static int
one_of(const char *s, const char *const *list)
{
	for (; *list != NULL; list++)
		if (strcmp(s, *list) == 0)
			return 1;
	return 0;
}

/* String `v` (path "<base>.<key>") is one of `list`, else OpenAI's invalid_value:
 * "Invalid value: 'x'. Supported values are: <supported>.", naming the path after
 * "value" when `named`. */
static int
enum_value(struct check *c, const json_t *v, const char *base, const char *key,
    const char *const *list, const char *supported, int named)
{
	char		 path[PATH_CAP];
	const char	*s = NULL;
	size_t		 n;

	if (json_is_string(v) && one_of(s = json_string_value(v), list))
		return 0;
	join(path, base, key);
	if (want(c, v, T_STRING, "a string", path) != 0)
		return -1;
	n = json_string_length(v);
	if (n > ECHO_MAX) {	/* cut at a character boundary */
		n = ECHO_MAX;
		while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
			n--;
	}
	return bad(c, "invalid_value", path, "Invalid value%s%s%s: '%.*s%s'. Supported "
	    "values are: %s.", named ? " for '" : "", named ? path : "", named ? "'" : "",
	    (int)n, s, n < json_string_length(v) ? "..." : "", supported);
}


/* One content part: {"type": string, ...}; a "text" part needs "text": string. */
static int
check_part(struct check *c, const json_t *part, const char *path)
{
	char		 sub[PATH_CAP];
	const json_t	*type, *text;

	if (want(c, part, T_OBJECT, "an object", path) != 0)
		return -1;
	pathf(sub, "%s.type", path);
	if ((type = json_object_get(part, "type")) == NULL)
		return missing(c, sub);
	if (want(c, type, T_STRING, "a string", sub) != 0)
		return -1;
	if (strcmp(json_string_value(type), "text") != 0)
		return 0;	/* image_url, input_audio, file, ...: the engine decides */
	pathf(sub, "%s.text", path);
	if ((text = json_object_get(part, "text")) == NULL)
		return missing(c, sub);
	return want(c, text, T_STRING, "a string", sub);
}

static int
check_message(struct check *c, const json_t *msg, size_t idx)
{
	char		 path[PATH_CAP], sub[PATH_CAP];
	const json_t	*role, *content, *tool_calls, *v;
	const char	*r;
	size_t		 i;
	int		 may_omit_content = 0;

	pathf(path, "messages[%zu]", idx);
	if (want(c, msg, T_OBJECT, "an object", path) != 0)
		return -1;

	if (sub_field(c, msg, path, "role", 1, 0, NULL, &role) != 0 ||
	    enum_value(c, role, path, "role", chat_roles, "'system', 'developer', "
	    "'user', 'assistant', 'tool', and 'function'", 1) != 0)
		return -1;
	r = json_string_value(role);

	pathf(sub, "%s.tool_calls", path);
	if ((tool_calls = json_object_get(msg, "tool_calls")) != NULL &&
	    want(c, tool_calls, T_ARRAY, "an array", sub) != 0)
		return -1;
	/* An assistant turn that only calls tools (or the deprecated function_call)
	 * may leave content out or null. */
	if (strcmp(r, "assistant") == 0)
		may_omit_content = json_array_size(tool_calls) > 0 ||
		    json_is_object(json_object_get(msg, "function_call"));

	pathf(sub, "%s.content", path);
	content = json_object_get(msg, "content");
	if (content == NULL && !may_omit_content)
		return missing(c, sub);
	if (content != NULL && !(json_is_null(content) && may_omit_content)) {
		if (want(c, content, T_STRING | T_ARRAY,
		    "a string or an array of content parts", sub) != 0)
			return -1;
		if (json_is_array(content)) {
			if (json_array_size(content) == 0)
				return empty_array(c, sub);
			for (i = 0; i < json_array_size(content); i++) {
				pathf(sub, "%s.content[%zu]", path, i);
				if (check_part(c, json_array_get(content, i), sub) != 0)
					return -1;
			}
		}
	}

	pathf(sub, "%s.name", path);
	if ((v = json_object_get(msg, "name")) != NULL &&
	    want(c, v, T_STRING, "a string", sub) != 0)
		return -1;

	if (strcmp(r, "tool") == 0) {
		pathf(sub, "%s.tool_call_id", path);
		if ((v = json_object_get(msg, "tool_call_id")) == NULL)
			return missing(c, sub);
		if (want(c, v, T_STRING, "a string", sub) != 0)
			return -1;
	}
	return 0;
}

static int
shape_messages(struct check *c, const json_t *v, const char *name)
{
	size_t i, n = json_array_size(v);

	if (n == 0)
		return empty_array(c, name);
	if (c->lim->max_messages < 0 || n > (size_t)c->lim->max_messages)
		return array_too_long(c, name,
		    c->lim->max_messages < 0 ? 0 : (size_t)c->lim->max_messages, n);
	for (i = 0; i < n; i++)
		if (check_message(c, json_array_get(v, i), i) != 0)
			return -1;
	return 0;
}

/* A token id: an integer >= 0. */
static int
check_token(struct check *c, const json_t *v, const char *path)
{
	if (want(c, v, T_INT, "an integer", path) != 0)
		return -1;
	if (json_integer_value(v) < 0)
		return bad(c, "integer_below_min_value", path, "Invalid value for '%s': "
		    "integer below minimum value. Expected a value >= 0, but got %"
		    JSON_INTEGER_FORMAT " instead.", path, json_integer_value(v));
	return 0;
}

/* prompt: a string, or a non-empty array of strings, of token ids or of non-empty
 * token-id arrays; the first element decides which. */
static int
shape_prompt(struct check *c, const json_t *v, const char *name)
{
	char		 path[PATH_CAP], sub[PATH_CAP];
	const json_t	*first, *e;
	size_t		 i, j;
	unsigned	 kind;

	if (json_is_string(v))
		return 0;
	if (json_array_size(v) == 0)
		return empty_array(c, name);
	first = json_array_get(v, 0);
	pathf(path, "%s[0]", name);
	if (want(c, first, T_STRING | T_INT | T_ARRAY,
	    "a string, an integer or an array of integers", path) != 0)
		return -1;
	kind = type_bit(first);
	for (i = 0; i < json_array_size(v); i++) {
		e = json_array_get(v, i);
		pathf(path, "%s[%zu]", name, i);
		if (kind == T_STRING) {
			if (want(c, e, T_STRING, "a string", path) != 0)
				return -1;
		} else if (kind == T_INT) {
			if (check_token(c, e, path) != 0)
				return -1;
		} else {
			if (want(c, e, T_ARRAY, "an array of integers", path) != 0)
				return -1;
			if (json_array_size(e) == 0)
				return empty_array(c, path);
			for (j = 0; j < json_array_size(e); j++) {
				pathf(sub, "%s[%zu]", path, j);
				if (check_token(c, json_array_get(e, j), sub) != 0)
					return -1;
			}
		}
	}
	return 0;
}

/* 1..NATIVE_ITEMS_MAX strings, or (documents) objects with a string "text". */
static int
native_items(struct check *c, const json_t *v, const char *name, int documents)
{
	char path[PATH_CAP];
	const json_t *e, *text;
	size_t i;

	if (json_array_size(v) == 0)
		return empty_array(c, name);
	if (json_array_size(v) > NATIVE_ITEMS_MAX)
		return array_too_long(c, name, NATIVE_ITEMS_MAX, json_array_size(v));
	json_array_foreach(v, i, e) {
		pathf(path, "%s[%zu]", name, i);
		if (json_is_string(e))
			continue;
		if (!documents)
			return want(c, e, T_STRING, "a string", path);
		if (want(c, e, T_OBJECT, "a string or an object with a text", path) != 0 ||
		    sub_field(c, e, path, "text", 1, T_STRING, "a string", &text) != 0)
			return -1;
	}
	return 0;
}

/* rerank documents: strings, or objects with a text (the Jina and Cohere shape). */
static int
shape_documents(struct check *c, const json_t *v, const char *name)
{
	return native_items(c, v, name, 1);
}

/* score text_1 / text_2: a string, or strings. */
static int
shape_texts(struct check *c, const json_t *v, const char *name)
{
	return json_is_string(v) ? 0 : native_items(c, v, name, 0);
}

/* detokenize tokens: a non-empty array of token ids. */
static int
shape_tokens(struct check *c, const json_t *v, const char *name)
{
	char path[PATH_CAP];
	const json_t *e;
	size_t i;

	if (json_array_size(v) == 0)
		return empty_array(c, name);
	json_array_foreach(v, i, e) {
		pathf(path, "%s[%zu]", name, i);
		if (check_token(c, e, path) != 0)
			return -1;
	}
	return 0;
}

/* embeddings input: the shapes of a completion prompt, at most EMBED_INPUTS_MAX items. */
static int
shape_input(struct check *c, const json_t *v, const char *name)
{
	if (json_is_array(v) && json_array_size(v) > EMBED_INPUTS_MAX &&
	    !json_is_integer(json_array_get(v, 0)))
		return array_too_long(c, name, EMBED_INPUTS_MAX, json_array_size(v));
	return shape_prompt(c, v, name);
}

static int
shape_encoding_format(struct check *c, const json_t *v, const char *name)
{
	const char *s = json_string_value(v);

	if (strcmp(s, "float") == 0 || strcmp(s, "base64") == 0)
		return 0;
	return bad(c, "invalid_value", name, "Invalid value for '%s': expected 'float' or "
	    "'base64'.", name);
}

static int
shape_stop(struct check *c, const json_t *v, const char *name)
{
	char	path[PATH_CAP];
	size_t	i;

	if (!json_is_array(v))
		return 0;
	if (json_array_size(v) > STOP_MAX)
		return array_too_long(c, name, STOP_MAX, json_array_size(v));
	for (i = 0; i < json_array_size(v); i++) {
		pathf(path, "%s[%zu]", name, i);
		if (want(c, json_array_get(v, i), T_STRING, "a string", path) != 0)
			return -1;
	}
	return 0;
}

static int
shape_logit_bias(struct check *c, const json_t *v, const char *name)
{
	static const struct field bias = { "logit_bias", KIND_BOTH, 0, T_NUMBER,
	    "a number", R_NUM, 0, 0, -100.0, 100.0, NULL };
	char		 path[PATH_CAP];
	const char	*key;
	json_t		*val;

	json_object_foreach((json_t *)v, key, val) {
		pathf(path, "%s.%s", name, key);
		if (want(c, val, bias.types, bias.expected, path) != 0 ||
		    check_range(c, &bias, val, path) != 0)
			return -1;
	}
	return 0;
}

/* A function name as OpenAI takes it: 1..64 of [a-zA-Z0-9_-]. `v` is required
 * field `key` of `obj`, whose path is `base`. */
static int
function_name(struct check *c, const json_t *obj, const char *base, const char *key)
{
	char		 path[PATH_CAP];
	const json_t	*v;
	const char	*s;
	size_t		 n;

	if (sub_field(c, obj, base, key, 1, T_STRING, "a string", &v) != 0)
		return -1;
	s = json_string_value(v);
	n = strlen(s);
	if (n > 0 && n <= TOOL_NAME_MAX && strspn(s, "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") == n)
		return 0;
	join(path, base, key);
	return bad(c, "invalid_value", path, "Invalid '%s': a function name must be 1 to "
	    "%d letters, digits, underscores or dashes.", path, TOOL_NAME_MAX);
}

static int
shape_response_format(struct check *c, const json_t *v, const char *name)
{
	static const char *const types[] = { "text", "json_object", "json_schema", NULL };
	char		 path[PATH_CAP];
	const json_t	*type, *js, *schema;

	if (sub_field(c, v, name, "type", 1, 0, NULL, &type) != 0 ||
	    enum_value(c, type, name, "type", types, "'json_object', 'json_schema', and "
	    "'text'", 0) != 0)
		return -1;
	if (strcmp(json_string_value(type), "json_schema") != 0)
		return 0;
	if (sub_field(c, v, name, "json_schema", 1, T_OBJECT, "an object", &js) != 0)
		return -1;
	pathf(path, "%s.json_schema", name);
	if (function_name(c, js, path, "name") != 0 ||
	    sub_field(c, js, path, "schema", 0, T_OBJECT, "an object", &schema) != 0)
		return -1;
	return 0;
}

static int
shape_tools(struct check *c, const json_t *v, const char *name)
{
	static const char *const types[] = { "function", NULL };
	char		 path[PATH_CAP], fpath[PATH_CAP];
	const json_t	*t, *type, *f, *opt;
	size_t		 i;

	for (i = 0; i < json_array_size(v); i++) {
		t = json_array_get(v, i);
		pathf(path, "%s[%zu]", name, i);
		if (want(c, t, T_OBJECT, "an object", path) != 0 ||
		    sub_field(c, t, path, "type", 1, 0, NULL, &type) != 0 ||
		    enum_value(c, type, path, "type", types, "'function'", 0) != 0 ||
		    sub_field(c, t, path, "function", 1, T_OBJECT, "an object", &f) != 0)
			return -1;
		pathf(fpath, "%s.function", path);
		if (function_name(c, f, fpath, "name") != 0 ||
		    sub_field(c, f, fpath, "description", 0, T_STRING, "a string",
		    &opt) != 0 ||
		    sub_field(c, f, fpath, "parameters", 0, T_OBJECT, "an object",
		    &opt) != 0)
			return -1;
	}
	return 0;
}

static int
shape_tool_choice(struct check *c, const json_t *v, const char *name)
{
	static const char *const modes[] = { "none", "auto", "required", NULL };
	char path[PATH_CAP];

	if (json_is_string(v))
		return enum_value(c, v, name, NULL, modes,
		    "'none', 'auto', and 'required'", 0);
	pathf(path, "%s.function", name);
	return function_name(c, json_object_get(v, "function"), path, "name");
}

/* ---- whole-document walks ---- */

/* Returns 1 when `v` nests containers more than `max` deep (the top-level object is
 * depth 1). jansson already stops at JSON_PARSER_MAX_DEPTH, bounding the recursion. */
static int
too_deep(const json_t *v, int depth, int max)
{
	const char	*key;
	json_t		*e;
	size_t		 i;

	if (!json_is_object(v) && !json_is_array(v))
		return 0;
	if (depth > max)
		return 1;
	if (json_is_array(v)) {
		json_array_foreach((json_t *)v, i, e)
			if (too_deep(e, depth + 1, max))
				return 1;
	} else {
		json_object_foreach((json_t *)v, key, e)
			if (too_deep(e, depth + 1, max))
				return 1;
	}
	return 0;
}

/* Checks every string and object key under `v` against max_string_bytes. `path`
 * (PATH_CAP bytes) holds v's param path and is restored before returning. */
static int
check_strings(struct check *c, const json_t *v, char *path)
{
	const size_t	 max = c->lim->max_string_bytes;
	size_t		 len = strlen(path), i;
	const char	*key;
	json_t		*e;
	int		 n, rc = 0;

	if (json_is_string(v) && json_string_length(v) > max)
		return bad(c, "string_above_max_length", path, "Invalid value for '%s': "
		    "string too long. Expected a string with maximum length %zu, but got a "
		    "string with length %zu instead.", path, max, json_string_length(v));
	if (json_is_array(v)) {
		json_array_foreach((json_t *)v, i, e) {
			n = snprintf(path + len, PATH_CAP - len, "[%zu]", i);
			if (n < 0)
				path[len] = '\0';	/* a cut path is only advisory */
			if ((rc = check_strings(c, e, path)) != 0)
				break;
		}
	} else if (json_is_object(v)) {
		json_object_foreach((json_t *)v, key, e) {
			if (strlen(key) > max) {
				rc = bad(c, "string_above_max_length", len ? path : NULL,
				    "Invalid value for an object key: string too long. Expected "
				    "a string with maximum length %zu, but got a string with "
				    "length %zu instead.", max, strlen(key));
				break;
			}
			n = snprintf(path + len, PATH_CAP - len, "%s%s", len ? "." : "",
			    key);
			if (n < 0)
				path[len] = '\0';
			if ((rc = check_strings(c, e, path)) != 0)
				break;
		}
	}
	path[len] = '\0';
	return rc;
}

/* The rules between fields OpenAI applies: best_of >= n and not with a stream;
 * top_logprobs needs logprobs (chat). Returns 0 or -1 (c->err set). */
static int
check_cross(struct check *c, const json_t *body)
{
	const json_t *best = json_object_get(body, "best_of"), *n = json_object_get(body, "n");

	if (c->kind == AIF_KIND_COMPLETION && json_is_integer(best)) {
		if (json_is_integer(n) && json_integer_value(best) < json_integer_value(n))
			return bad(c, "invalid_value", "best_of", "Invalid value for "
			    "'best_of': best_of must be greater than or equal to n.");
		if (json_integer_value(best) > 1 && json_is_true(json_object_get(body, "stream")))
			return bad(c, "invalid_value", "best_of", "Invalid value for "
			    "'best_of': best_of cannot be used with stream.");
	}
	if (c->kind == AIF_KIND_TOKENIZE && (json_object_get(body, "prompt") == NULL) ==
	    (json_object_get(body, "messages") == NULL))
		return bad(c, "invalid_value", "prompt", "Invalid value: tokenize takes either "
		    "'prompt' or 'messages', one of them.");
	if (c->kind == AIF_KIND_SCORE && json_is_array(json_object_get(body, "text_1")) &&
	    json_is_array(json_object_get(body, "text_2")) &&
	    json_array_size(json_object_get(body, "text_1")) != 1 &&
	    json_array_size(json_object_get(body, "text_1")) !=
	    json_array_size(json_object_get(body, "text_2")))
		return bad(c, "invalid_value", "text_2", "Invalid value for 'text_2': with "
		    "several texts on each side, text_1 and text_2 have as many.");
	if (c->kind == AIF_KIND_CHAT && json_is_integer(json_object_get(body, "top_logprobs")) &&
	    !json_is_true(json_object_get(body, "logprobs")))
		return bad(c, "invalid_value", "top_logprobs", "Invalid value for "
		    "'top_logprobs': logprobs must be set to true when top_logprobs is used.");
	return 0;
}

/* Runs the field table over `body` (an object): required fields, then types and
 * ranges, then shapes, then the one cross-field rule. Returns 0 or -1 (c->err set). */
static int
check_fields(struct check *c, const json_t *body)
{
	const struct field	*f;
	const json_t		*v, *opts;
	size_t			 i;

	for (i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		f = &fields[i];
		if ((f->kinds & c->kind) && f->required &&
		    json_object_get(body, f->name) == NULL)
			return missing(c, f->name);
	}
	for (i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		f = &fields[i];
		if (!(f->kinds & c->kind) || (v = json_object_get(body, f->name)) == NULL)
			continue;
		if (want(c, v, f->types, f->expected, f->name) != 0)
			return -1;
		if (!json_is_null(v) && check_range(c, f, v, f->name) != 0)
			return -1;
	}
	for (i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		f = &fields[i];
		if (!(f->kinds & c->kind) || f->shape == NULL ||
		    (v = json_object_get(body, f->name)) == NULL || json_is_null(v))
			continue;
		if (f->shape(c, v, f->name) != 0)
			return -1;
	}
	opts = json_object_get(body, "stream_options");
	if (opts != NULL && !json_is_null(opts) &&
	    !json_is_true(json_object_get(body, "stream")))
		return bad(c, "invalid_value", "stream_options", "Invalid value for "
		    "'stream_options': 'stream_options' is only allowed when 'stream' is "
		    "true.");
	return check_cross(c, body);
}

/* ---- results ---- */

/* Bytes of prompt text in a validated chat message's content (string or text parts). */
static size_t
content_bytes(const json_t *content)
{
	const json_t	*part;
	size_t		 i, n = 0;

	if (json_is_string(content))
		return json_string_length(content);
	json_array_foreach((json_t *)content, i, part)
		if (json_is_string(json_object_get(part, "type")) &&
		    strcmp(json_string_value(json_object_get(part, "type")), "text") == 0)
			n += json_string_length(json_object_get(part, "text"));
	return n;
}

/* The prompt estimate of aif_oai_req: ceil(text bytes / 4) plus 4 per chat message;
 * completion token-id arrays count one per id. At least 1. */
/* Bytes of a string, or of an array's strings and documents' texts. */
static size_t
text_bytes(const json_t *v)
{
	const json_t *e;
	size_t i, n = json_is_string(v) ? json_string_length(v) : 0;

	json_array_foreach(v, i, e)
		n += json_is_string(e) ? json_string_length(e) :
		    json_string_length(json_object_get(e, "text"));
	return n;
}

/* The prompt of a native kind, in bytes: a rerank scores the query with each document,
 * a score each pair. */
static size_t
native_bytes(enum aif_kind kind, const json_t *body)
{
	const json_t *d = json_object_get(body, "documents"), *t1 = json_object_get(body,
	    "text_1"), *t2 = json_object_get(body, "text_2");
	size_t n1, n2;

	switch (kind) {
	case AIF_KIND_RERANK:
		return json_array_size(d) * text_bytes(json_object_get(body, "query")) +
		    text_bytes(d);
	case AIF_KIND_SCORE:
		n1 = json_is_array(t1) ? json_array_size(t1) : 1;
		n2 = json_is_array(t2) ? json_array_size(t2) : 1;
		return text_bytes(t1) * (n2 > n1 ? n2 : 1) + text_bytes(t2);
	case AIF_KIND_TOKENIZE:
		return text_bytes(json_object_get(body, "prompt"));
	default:
		return 0;
	}
}

static int64_t
estimate_prompt(enum aif_kind kind, const json_t *body)
{
	const json_t	*v, *e;
	size_t		 i, bytes = 0, extra = 0;
	int64_t		 est;

	if (kind & KIND_NATIVE) {
		bytes = native_bytes(kind, body);
		extra = json_array_size(json_object_get(body, "tokens"));
		json_array_foreach(json_object_get(body, "messages"), i, e) {
			bytes += content_bytes(json_object_get(e, "content"));
			extra += EST_PER_MESSAGE;
		}
	} else if (kind == AIF_KIND_CHAT) {
		json_array_foreach(json_object_get(body, "messages"), i, e) {
			bytes += content_bytes(json_object_get(e, "content"));
			extra += EST_PER_MESSAGE;
		}
	} else {
		v = json_object_get(body, kind == AIF_KIND_EMBEDDING ? "input" : "prompt");
		if (json_is_string(v))
			bytes = json_string_length(v);
		json_array_foreach(v, i, e) {
			if (json_is_string(e))
				bytes += json_string_length(e);
			else if (json_is_integer(e))
				extra++;
			else
				extra += json_array_size(e);
		}
	}
	est = (int64_t)((bytes + 3) / 4 + extra);
	return est < 1 ? 1 : est;
}

/* The limit the engine applies: in a chat max_completion_tokens wins over the
 * deprecated max_tokens; completions know max_tokens only (engines ignore anything
 * else there). -1 when none is given. */
static int64_t
requested_max_tokens(enum aif_kind kind, const json_t *body)
{
	const json_t *v;

	if (kind == AIF_KIND_CHAT &&
	    json_is_integer(v = json_object_get(body, "max_completion_tokens")))
		return (int64_t)json_integer_value(v);
	if (json_is_integer(v = json_object_get(body, "max_tokens")))
		return (int64_t)json_integer_value(v);
	return -1;
}

/* Prompts of a completion batch or inputs of an embedding request (1 for a string or
 * a single token array), 1 for a chat. */
static int64_t
count_prompts(enum aif_kind kind, const json_t *body)
{
	const json_t *v;

	if (kind == AIF_KIND_RERANK)	/* one pair per document */
		return (int64_t)json_array_size(json_object_get(body, "documents"));
	if (kind == AIF_KIND_SCORE)
		return json_is_array(json_object_get(body, "text_2")) ?
		    (int64_t)json_array_size(json_object_get(body, "text_2")) : 1;
	if (kind == AIF_KIND_CHAT || (kind & KIND_NATIVE))
		return 1;
	v = json_object_get(body, kind == AIF_KIND_EMBEDDING ? "input" : "prompt");
	if (!json_is_array(v) || json_is_integer(json_array_get(v, 0)))
		return 1;
	return json_array_size(v) > 0 ? (int64_t)json_array_size(v) : 1;
}

int64_t
aif_oai_prompt_bound(const struct aif_oai_req *req, size_t sent_bytes)
{
	int64_t framing = aif_sat_mul(req->prompt_parts, AIF_OAI_FRAMING_TOKENS);
	int64_t bytes = sent_bytes > INT64_MAX ? INT64_MAX : (int64_t)sent_bytes;

	return aif_sat_add(req->pair_bytes > bytes ? req->pair_bytes : bytes, framing);
}

/* max(n, best_of): the sequences the engine generates per prompt. */
static int64_t
choices_per_prompt(enum aif_kind kind, const json_t *body)
{
	const json_t *n = json_object_get(body, "n"), *best = json_object_get(body, "best_of");
	int64_t c = json_is_integer(n) ? (int64_t)json_integer_value(n) : 1;

	if (kind == AIF_KIND_COMPLETION && json_is_integer(best) &&
	    (int64_t)json_integer_value(best) > c)
		c = (int64_t)json_integer_value(best);
	return !(kind & KIND_BOTH) || c < 1 ? 1 : c;
}

int64_t
aif_oai_completion_bound(const struct aif_oai_req *req, int64_t limit)
{
	if (limit <= 0 || !(req->kind & KIND_BOTH))
		return 0;
	return aif_sat_mul(aif_sat_mul(req->prompts, req->choices_per_prompt), limit);
}

/* What a validated body (root, taken) says of the request, into *out. */
static void
fill_req(struct aif_oai_req *out, enum aif_kind kind, json_t *root)
{
	out->body = root;
	out->kind = kind;
	out->model = json_string_value(json_object_get(root, "model"));
	out->stream = json_is_true(json_object_get(root, "stream"));
	out->max_tokens = requested_max_tokens(kind, root);
	out->prompt_tokens_estimate = estimate_prompt(kind, root);
	if (kind == AIF_KIND_RERANK || kind == AIF_KIND_SCORE)
		out->pair_bytes = (int64_t)native_bytes(kind, root);
	out->prompts = count_prompts(kind, root);
	out->prompt_parts = kind == AIF_KIND_CHAT ?
	    (int64_t)json_array_size(json_object_get(root, "messages")) : out->prompts;
	out->choices_per_prompt = choices_per_prompt(kind, root);
}

/* Also returns AIF_NOMEM (status 500, server_error) when jansson runs out of memory,
 * and AIF_INVALID with status 500 for a value that is no kind. */
enum aif_err
aif_oai_parse(enum aif_kind kind, const char *body, size_t len,
    const struct aif_oai_limits *lim, struct aif_oai_req *out,
    struct aif_error *err)
{
	struct aif_error	 e;
	struct check		 c = { kind, lim, &e };
	char			 path[PATH_CAP] = "";
	json_error_t		 jerr;
	json_t			*root = NULL;
	enum aif_err		 rc = AIF_INVALID;

	memset(out, 0, sizeof(*out));
	if ((kind & KIND_ALL) == 0) {
		aif_error_set(&e, 500, "server_error", NULL, NULL,
		    "The server had an error while processing your request.");
		goto out;
	}
	if (len > lim->max_body_bytes) {
		aif_error_set(&e, 413, "invalid_request_error", "request_too_large",
		    NULL, "Request body too large: %zu bytes; the limit is %zu bytes.",
		    len, lim->max_body_bytes);
		rc = AIF_TOOBIG;
		goto out;
	}
	root = json_loadb(body == NULL ? "" : body, body == NULL ? 0 : len,
	    JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL) {
		/* jansson fails some allocations without describing an error: an
		 * empty text is our out-of-memory, not the client's fault. */
		switch (jerr.text[0] == '\0' ? json_error_out_of_memory :
		    json_error_code(&jerr)) {
		case json_error_out_of_memory:
			aif_error_set(&e, 500, "server_error", NULL, NULL,
			    "The server had an error while processing your request.");
			rc = AIF_NOMEM;
			break;
		case json_error_invalid_utf8:
			bad(&c, "invalid_json", NULL, "Request body is not valid UTF-8 "
			    "(line %d, column %d).", jerr.line, jerr.column);
			break;
		case json_error_stack_overflow:
			bad(&c, "invalid_json", NULL, "The JSON body of your request is "
			    "nested too deeply: at most %d levels are allowed.",
			    lim->max_depth);
			break;
		default:
			bad(&c, "invalid_json", NULL, "We could not parse the JSON body of "
			    "your request: %s (line %d, column %d).", jerr.text, jerr.line,
			    jerr.column);
			break;
		}
		goto out;
	}
	if (too_deep(root, 1, lim->max_depth)) {
		bad(&c, "invalid_json", NULL, "The JSON body of your request is nested too "
		    "deeply: at most %d levels are allowed.", lim->max_depth);
		goto out;
	}
	if (!json_is_object(root)) {
		bad(&c, "invalid_type", NULL, "Invalid type for the request body: expected "
		    "an object, but got %s instead.", type_words(root));
		goto out;
	}
	if (check_fields(&c, root) != 0 || check_strings(&c, root, path) != 0)
		goto out;

	fill_req(out, kind, root);
	return AIF_OK;
out:
	json_decref(root);
	*err = e;
	return rc;
}

void
aif_oai_req_free(struct aif_oai_req *req)
{
	if (req == NULL)
		return;
	json_decref(req->body);
	memset(req, 0, sizeof(*req));
}
