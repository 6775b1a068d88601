/* wfexpr.c -- the expression language of workflows (wfexpr.h): var paths, {{ }}
 * templates (checked at load, rendered at run time within a byte cap), conditions
 * (PCRE2 with a match limit for `matches`), truncation at UTF-8 boundaries and the
 * input text of a chat or completion request. No state. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "wfexpr.h"

static void
say(char *why, size_t whylen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void
say(char *why, size_t whylen, const char *fmt, ...)
{
	va_list	 ap;

	if (why == NULL || whylen == 0)
		return;
	va_start(ap, fmt);
	if (vsnprintf(why, whylen, fmt, ap) < 0)
		why[0] = '\0';
	va_end(ap);
}

/* ---- paths ------------------------------------------------------------------------- */

static int
key_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '_' || c == '-';
}

/* One segment of a path. */
struct seg {
	const char	*key;	/* NULL for an index */
	size_t		 len;
	size_t		 index;
};

/* Splits path into at most AIF_WFX_MAX_SEGMENTS segments. `rel`: the first may be an
 * index. Returns the count, or -1 with why. */
static int
split(const char *path, int rel, struct seg *segs, char *why, size_t whylen)
{
	const char	*p = path;
	int		 n = 0;

	if (strlen(path) > AIF_WFX_MAX_PATH) {
		say(why, whylen, "path longer than %d bytes", AIF_WFX_MAX_PATH);
		return -1;
	}
	while (*p != '\0') {
		if (n == AIF_WFX_MAX_SEGMENTS) {
			say(why, whylen, "path of more than %d segments",
			    AIF_WFX_MAX_SEGMENTS);
			return -1;
		}
		if (*p == '[' && (n > 0 || rel)) {
			size_t	 v = 0, digits = 0;

			for (p++; *p >= '0' && *p <= '9' && digits < 9; p++, digits++)
				v = v * 10 + (size_t)(*p - '0');
			if (digits == 0 || *p != ']') {
				say(why, whylen, "bad index in path '%s'", path);
				return -1;
			}
			p++;
			segs[n].key = NULL;
			segs[n].index = v;
			n++;
			continue;
		}
		if (n > 0) {
			if (*p != '.') {
				say(why, whylen, "bad path '%s' (expected '.' or '[')",
				    path);
				return -1;
			}
			p++;
		}
		segs[n].key = p;
		while (key_char(*p))
			p++;
		segs[n].len = (size_t)(p - segs[n].key);
		if (segs[n].len == 0) {
			say(why, whylen, "bad path '%s' (keys are letters, digits, '_' "
			    "and '-')", path);
			return -1;
		}
		n++;
	}
	if (n == 0 && !rel) {
		say(why, whylen, "empty path");
		return -1;
	}
	return n;
}

static int
seg_is(const struct seg *s, const char *word)
{
	return s->key != NULL && s->len == strlen(word) &&
	    memcmp(s->key, word, s->len) == 0;
}

int
aif_wfx_relpath_check(const char *path, char *why, size_t whylen)
{
	struct seg	 segs[AIF_WFX_MAX_SEGMENTS];

	return split(path, 1, segs, why, whylen) < 0 ? -1 : 0;
}

int
aif_wfx_path_check(const char *path, char *why, size_t whylen)
{
	struct seg	 s[AIF_WFX_MAX_SEGMENTS];
	int		 n;

	if ((n = split(path, 0, s, why, whylen)) < 0)
		return -1;
	if (seg_is(&s[0], "input"))
		return 0;
	if (seg_is(&s[0], "steps")) {
		if (n >= 3 && s[1].key != NULL && seg_is(&s[2], "output"))
			return 0;
		say(why, whylen, "bad path '%s' (expected steps.<name>.output...)", path);
		return -1;
	}
	if (seg_is(&s[0], "run") && n == 2 &&
	    (seg_is(&s[1], "id") || seg_is(&s[1], "workflow")))
		return 0;
	say(why, whylen, "bad path '%s' (expected input..., steps.<name>.output..., "
	    "run.id or run.workflow)", path);
	return -1;
}

static const json_t *
walk(const json_t *v, const struct seg *s, int n)
{
	char	 key[AIF_WFX_MAX_PATH + 1];

	for (int i = 0; i < n && v != NULL; i++) {
		if (s[i].key == NULL) {
			v = json_is_array(v) ? json_array_get(v, s[i].index) : NULL;
			continue;
		}
		if (!json_is_object(v))
			return NULL;
		memcpy(key, s[i].key, s[i].len);
		key[s[i].len] = '\0';
		v = json_object_get(v, key);
	}
	return v;
}

const json_t *
aif_wfx_get(const json_t *root, const char *path)
{
	struct seg	 s[AIF_WFX_MAX_SEGMENTS];
	int		 n;

	if (root == NULL || path == NULL || (n = split(path, 0, s, NULL, 0)) < 0)
		return NULL;
	return walk(root, s, n);
}

const json_t *
aif_wfx_lookup(const json_t *v, const char *path)
{
	struct seg	 s[AIF_WFX_MAX_SEGMENTS];
	int		 n;

	if (v == NULL || path == NULL || (n = split(path, 1, s, NULL, 0)) < 0)
		return NULL;
	return walk(v, s, n);
}

/* ---- templates ------------------------------------------------------------------- */

/* The next {{ ... }} of t at or after *pos: *open is where "{{" starts, *close after
 * "}}", the trimmed path into path. Returns 1 found, 0 none, -1 unterminated or a path
 * too long (why). */
static int
next_ref(const char *t, size_t *open, size_t *close, char *path, size_t cap, char *why,
    size_t whylen)
{
	const char	*o, *c, *a, *b;

	if ((o = strstr(t + *open, "{{")) == NULL)
		return 0;
	if ((c = strstr(o + 2, "}}")) == NULL) {
		say(why, whylen, "unterminated '{{' at byte %zu", (size_t)(o - t));
		return -1;
	}
	for (a = o + 2; a < c && (*a == ' ' || *a == '\t'); a++)
		;
	for (b = c; b > a && (b[-1] == ' ' || b[-1] == '\t'); b--)
		;
	if ((size_t)(b - a) >= cap) {
		say(why, whylen, "path longer than %d bytes", AIF_WFX_MAX_PATH);
		return -1;
	}
	memcpy(path, a, (size_t)(b - a));
	path[b - a] = '\0';
	*open = (size_t)(o - t);
	*close = (size_t)(c - t) + 2;
	return 1;
}

int
aif_wfx_template_refs(const char *tmpl, void (*ref)(void *ctx, const char *path),
    void *ctx, char *why, size_t whylen)
{
	char	 path[AIF_WFX_MAX_PATH + 1];
	size_t	 pos = 0, close;
	int	 rc;

	while ((rc = next_ref(tmpl, &pos, &close, path, sizeof(path), why,
	    whylen)) == 1) {
		if (aif_wfx_path_check(path, why, whylen) != 0)
			return -1;
		if (ref != NULL)
			ref(ctx, path);
		pos = close;
	}
	return rc;
}

static int
json_refs(const json_t *t, void (*ref)(void *, const char *), void *ctx, char *why,
    size_t whylen, int depth)
{
	const char	*k;
	const json_t	*v;
	size_t		 i;

	if (depth > AIF_WFX_MAX_DEPTH) {
		say(why, whylen, "nested deeper than %d", AIF_WFX_MAX_DEPTH);
		return -1;
	}
	if (json_is_string(t))
		return aif_wfx_template_refs(json_string_value(t), ref, ctx, why, whylen);
	if (json_is_object(t)) {
		json_object_foreach((json_t *)t, k, v)
			if (json_refs(v, ref, ctx, why, whylen, depth + 1) != 0)
				return -1;
	} else if (json_is_array(t)) {
		json_array_foreach(t, i, v)
			if (json_refs(v, ref, ctx, why, whylen, depth + 1) != 0)
				return -1;
	}
	return 0;
}

int
aif_wfx_json_refs(const json_t *tmpl, void (*ref)(void *, const char *), void *ctx,
    char *why, size_t whylen)
{
	return json_refs(tmpl, ref, ctx, why, whylen, 0);
}

int
aif_wfx_whole_ref(const char *s, char *out, size_t cap)
{
	size_t	 open = 0, close, end;
	char	 path[AIF_WFX_MAX_PATH + 1];

	if (next_ref(s, &open, &close, path, sizeof(path), NULL, 0) != 1)
		return 0;
	for (size_t i = 0; i < open; i++)
		if (s[i] != ' ' && s[i] != '\t' && s[i] != '\n')
			return 0;
	for (end = close; s[end] == ' ' || s[end] == '\t' || s[end] == '\n'; end++)
		;
	if (s[end] != '\0' || strlen(path) >= cap)
		return 0;
	memcpy(out, path, strlen(path) + 1);
	return 1;
}

/* A growing string that refuses to pass max bytes. */
struct sbuf {
	char	*p;
	size_t	 len, cap, max;
	int	 err;		/* 1 too large, 2 out of memory */
};

static int
sb_add(struct sbuf *b, const char *s, size_t n)
{
	if (b->err)
		return -1;
	if (n > b->max - b->len) {
		b->err = 1;
		return -1;
	}
	if (b->len + n + 1 > b->cap) {
		size_t	 ncap = b->cap ? b->cap : 64;
		char	*np;

		while (ncap < b->len + n + 1)
			ncap *= 2;
		if ((np = realloc(b->p, ncap)) == NULL) {
			b->err = 2;
			return -1;
		}
		b->p = np;
		b->cap = ncap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
	return 0;
}

static int
unreserved(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' || c == '~';
}

static void
sb_value(struct sbuf *b, const char *s, size_t n, enum aif_wfx_enc enc)
{
	static const char hex[] = "0123456789ABCDEF";
	char	 e[3];

	if (enc == AIF_WFX_TEXT) {
		sb_add(b, s, n);
		return;
	}
	for (size_t i = 0; i < n && !b->err; i++) {
		unsigned char c = (unsigned char)s[i];
		if (unreserved(c))
			sb_add(b, s + i, 1);
		else {
			e[0] = '%';
			e[1] = hex[c >> 4];
			e[2] = hex[c & 15];
			sb_add(b, e, 3);
		}
	}
}

/* Inserts value v (not NULL) as text. */
static void
sb_json(struct sbuf *b, const json_t *v, enum aif_wfx_enc enc)
{
	size_t	 need;
	char	*tmp;

	if (json_is_string(v)) {
		sb_value(b, json_string_value(v), json_string_length(v), enc);
		return;
	}
	need = json_dumpb(v, NULL, 0, JSON_COMPACT | JSON_ENCODE_ANY);
	if (need == 0 || need > b->max - b->len) {
		b->err = need == 0 ? 2 : 1;
		return;
	}
	if ((tmp = malloc(need)) == NULL) {
		b->err = 2;
		return;
	}
	json_dumpb(v, tmp, need, JSON_COMPACT | JSON_ENCODE_ANY);
	sb_value(b, tmp, need, enc);
	free(tmp);
}

static char *
render(const char *tmpl, const json_t *root, enum aif_wfx_enc enc, size_t max,
    size_t *outlen, char *why, size_t whylen)
{
	struct sbuf	 b = { NULL, 0, 0, max, 0 };
	char		 path[AIF_WFX_MAX_PATH + 1];
	size_t		 pos = 0, open, close;
	const json_t	*v;
	int		 rc;

	sb_add(&b, "", 0);
	for (;;) {
		open = pos;
		rc = next_ref(tmpl, &open, &close, path, sizeof(path), why, whylen);
		if (rc < 0) {
			free(b.p);
			return NULL;
		}
		if (rc == 0) {
			sb_add(&b, tmpl + pos, strlen(tmpl + pos));
			break;
		}
		sb_add(&b, tmpl + pos, open - pos);
		if ((v = aif_wfx_get(root, path)) != NULL)
			sb_json(&b, v, enc);
		pos = close;
	}
	if (b.err) {
		say(why, whylen, "%s", b.err == 1 ? "too large" : "out of memory");
		free(b.p);
		return NULL;
	}
	*outlen = b.len;
	return b.p;
}

char *
aif_wfx_render(const char *tmpl, const json_t *root, enum aif_wfx_enc enc, size_t max,
    char *why, size_t whylen)
{
	size_t	 len;

	return render(tmpl, root, enc, max, &len, why, whylen);
}

/* Renders t into a new value, taking what it adds off *budget. */
static json_t *
render_json(const json_t *t, const json_t *root, size_t *budget, char *why,
    size_t whylen, int depth)
{
	char		 path[AIF_WFX_MAX_PATH + 1];
	const char	*k;
	const json_t	*v;
	json_t		*out, *sub;
	size_t		 i, need;

	if (depth > AIF_WFX_MAX_DEPTH) {
		say(why, whylen, "nested deeper than %d", AIF_WFX_MAX_DEPTH);
		return NULL;
	}
	if (json_is_string(t)) {
		const char *s = json_string_value(t);
		if (aif_wfx_whole_ref(s, path, sizeof(path))) {
			if ((v = aif_wfx_get(root, path)) == NULL)
				return json_null();
			need = json_dumpb(v, NULL, 0, JSON_COMPACT | JSON_ENCODE_ANY);
			if (need > *budget) {
				say(why, whylen, "too large");
				return NULL;
			}
			*budget -= need;
			if ((out = json_deep_copy(v)) == NULL)
				say(why, whylen, "out of memory");
			return out;
		}
		char *r = render(s, root, AIF_WFX_TEXT, *budget, &need, why, whylen);
		if (r == NULL)
			return NULL;
		*budget -= need;
		out = json_stringn(r, need);
		free(r);
		if (out == NULL)
			say(why, whylen, "not valid UTF-8 text");
		return out;
	}
	if (json_is_object(t)) {
		if ((out = json_object()) == NULL)
			goto nomem;
		json_object_foreach((json_t *)t, k, v) {
			sub = render_json(v, root, budget, why, whylen, depth + 1);
			if (sub == NULL || json_object_set_new(out, k, sub) != 0) {
				json_decref(out);
				return NULL;
			}
		}
		return out;
	}
	if (json_is_array(t)) {
		if ((out = json_array()) == NULL)
			goto nomem;
		json_array_foreach(t, i, v) {
			sub = render_json(v, root, budget, why, whylen, depth + 1);
			if (sub == NULL || json_array_append_new(out, sub) != 0) {
				json_decref(out);
				return NULL;
			}
		}
		return out;
	}
	need = json_dumpb(t, NULL, 0, JSON_COMPACT | JSON_ENCODE_ANY);
	if (need > *budget) {
		say(why, whylen, "too large");
		return NULL;
	}
	*budget -= need;
	if ((out = json_deep_copy(t)) != NULL)
		return out;
nomem:
	say(why, whylen, "out of memory");
	return NULL;
}

json_t *
aif_wfx_render_json(const json_t *tmpl, const json_t *root, size_t max, char *why,
    size_t whylen)
{
	size_t	 budget = max;
	json_t	*out;

	if ((out = render_json(tmpl, root, &budget, why, whylen, 0)) == NULL)
		return NULL;
	/* The budget counted the leaves; the punctuation is checked on the whole. */
	if (json_dumpb(out, NULL, 0, JSON_COMPACT | JSON_ENCODE_ANY) > max) {
		say(why, whylen, "too large");
		json_decref(out);
		return NULL;
	}
	return out;
}

/* ---- conditions ------------------------------------------------------------------ */

static int
re_compile(const char *re, pcre2_code **out, char *why, size_t whylen, size_t *offset)
{
	PCRE2_SIZE	 off = 0;
	int		 err = 0;
	char		 msg[256];

	*out = pcre2_compile((PCRE2_SPTR)re, PCRE2_ZERO_TERMINATED,
	    PCRE2_UTF | PCRE2_NEVER_BACKSLASH_C, &err, &off, NULL);
	if (*out != NULL)
		return 0;
	if (pcre2_get_error_message(err, (PCRE2_UCHAR *)msg, sizeof(msg)) < 0)
		msg[0] = '\0';
	if (offset != NULL)
		*offset = off;
	say(why, whylen, "bad regex: %s at offset %zu", msg, (size_t)off);
	return -1;
}

int
aif_wfx_regex_check(const char *re, char *why, size_t whylen, size_t *offset)
{
	pcre2_code	*code;

	if (re_compile(re, &code, why, whylen, offset) != 0)
		return -1;
	pcre2_code_free(code);
	return 0;
}

/* 1 when s matches re, 0 not, -1 error. */
static int
re_match(const char *re, const char *s, size_t len, char *why, size_t whylen)
{
	pcre2_code		*code;
	pcre2_match_data	*md = NULL;
	pcre2_match_context	*mc = NULL;
	int			 rc, result = -1;

	if (re_compile(re, &code, why, whylen, NULL) != 0)
		return -1;
	if ((md = pcre2_match_data_create_from_pattern(code, NULL)) == NULL ||
	    (mc = pcre2_match_context_create(NULL)) == NULL) {
		say(why, whylen, "out of memory");
		goto out;
	}
	pcre2_set_match_limit(mc, AIF_WFX_MATCH_LIMIT);
	pcre2_set_depth_limit(mc, AIF_WFX_MATCH_LIMIT);
	rc = pcre2_match(code, (PCRE2_SPTR)s, len, 0, 0, md, mc);
	if (rc >= 0)
		result = 1;
	else if (rc == PCRE2_ERROR_NOMATCH)
		result = 0;
	else if (rc == PCRE2_ERROR_MATCHLIMIT || rc == PCRE2_ERROR_DEPTHLIMIT)
		say(why, whylen, "regex match limit reached");
	else
		say(why, whylen, "regex match failed (%d)", rc);
out:
	pcre2_match_context_free(mc);
	pcre2_match_data_free(md);
	pcre2_code_free(code);
	return result;
}

/* Equality of JSON values, numbers compared by value (1 == 1.0). */
static int
same(const json_t *a, const json_t *b)
{
	if (json_is_number(a) && json_is_number(b))
		return json_number_value(a) == json_number_value(b);
	return json_equal((json_t *)a, (json_t *)b);
}

/* One comparison {"path", "op", "value"}: 1 true, 0 false, -1 error (why). */
static int
compare(const json_t *c, const json_t *root, char *why, size_t whylen)
{
	const json_t	*v, *want, *it;
	const char	*op;
	size_t		 i;

	op = json_string_value(json_object_get(c, "op"));
	want = json_object_get(c, "value");
	if (op == NULL || !json_is_string(json_object_get(c, "path")) || want == NULL) {
		say(why, whylen, "condition needs path, op and value");
		return -1;
	}
	v = aif_wfx_get(root, json_string_value(json_object_get(c, "path")));
	if (strcmp(op, "exists") == 0)
		return json_is_true(want) ? v != NULL : v == NULL;
	if (strcmp(op, "not_equals") == 0)
		return v == NULL || !same(v, want);
	if (v == NULL)
		return 0;
	if (strcmp(op, "equals") == 0)
		return same(v, want);
	if (strcmp(op, "contains") == 0) {
		if (json_is_string(v) && json_is_string(want))
			return memmem(json_string_value(v), json_string_length(v),
			    json_string_value(want), json_string_length(want)) != NULL;
		if (json_is_array(v)) {
			json_array_foreach(v, i, it)
				if (same(it, want))
					return 1;
		}
		return 0;
	}
	if (strcmp(op, "matches") == 0) {
		if (!json_is_string(want)) {
			say(why, whylen, "matches needs a string");
			return -1;
		}
		if (!json_is_string(v))
			return 0;
		return re_match(json_string_value(want), json_string_value(v),
		    json_string_length(v), why, whylen);
	}
	if (strcmp(op, "gt") == 0 || strcmp(op, "ge") == 0 || strcmp(op, "lt") == 0 ||
	    strcmp(op, "le") == 0) {
		double a, b;
		if (!json_is_number(v) || !json_is_number(want))
			return 0;
		a = json_number_value(v);
		b = json_number_value(want);
		switch (op[0] == 'g' ? (op[1] == 't' ? 0 : 1) : (op[1] == 't' ? 2 : 3)) {
		case 0:
			return a > b;
		case 1:
			return a >= b;
		case 2:
			return a < b;
		default:
			return a <= b;
		}
	}
	say(why, whylen, "unknown condition op '%s'", op);
	return -1;
}

static int
cond(const json_t *c, const json_t *root, char *why, size_t whylen, int depth)
{
	const json_t	*list, *it;
	size_t		 i;
	int		 r;

	if (depth > AIF_WFX_MAX_DEPTH) {
		say(why, whylen, "condition nested deeper than %d", AIF_WFX_MAX_DEPTH);
		return -1;
	}
	if (!json_is_object(c)) {
		say(why, whylen, "condition is not an object");
		return -1;
	}
	if ((list = json_object_get(c, "all")) != NULL ||
	    (list = json_object_get(c, "any")) != NULL) {
		int all = json_object_get(c, "all") != NULL;
		if (!json_is_array(list)) {
			say(why, whylen, "all/any needs an array");
			return -1;
		}
		json_array_foreach(list, i, it) {
			if ((r = cond(it, root, why, whylen, depth + 1)) < 0)
				return -1;
			if (all && r == 0)
				return 0;
			if (!all && r == 1)
				return 1;
		}
		return all ? 1 : 0;
	}
	if ((it = json_object_get(c, "not")) != NULL) {
		if ((r = cond(it, root, why, whylen, depth + 1)) < 0)
			return -1;
		return !r;
	}
	return compare(c, root, why, whylen);
}

int
aif_wfx_cond(const json_t *c, const json_t *root, char *why, size_t whylen)
{
	return cond(c, root, why, whylen, 0);
}

/* ---- text helpers ------------------------------------------------------------------ */

size_t
aif_wfx_truncate_len(const char *text, size_t len, int64_t max_tokens)
{
	size_t	 n;

	if (max_tokens <= 0)
		return 0;
	if ((uint64_t)max_tokens >= (SIZE_MAX / 4) || len <= (size_t)max_tokens * 4)
		return len;
	n = (size_t)max_tokens * 4;
	while (n > 0 && ((unsigned char)text[n] & 0xC0) == 0x80)
		n--;
	return n;
}

char *
aif_wfx_input_text(const json_t *request)
{
	const json_t	*msgs, *m, *content, *part, *prompt;
	struct sbuf	 b = { NULL, 0, 0, SIZE_MAX, 0 };
	size_t		 i, k;
	int		 first = 1;

	msgs = json_object_get(request, "messages");
	if (json_is_array(msgs)) {
		m = NULL;
		for (i = json_array_size(msgs); i > 0; i--) {
			const json_t *c = json_array_get(msgs, i - 1);
			const char *role = json_string_value(json_object_get(c, "role"));
			if (role != NULL && strcmp(role, "user") == 0) {
				m = c;
				break;
			}
		}
		content = m != NULL ? json_object_get(m, "content") : NULL;
		if (json_is_string(content))
			return strdup(json_string_value(content));
		sb_add(&b, "", 0);
		if (json_is_array(content)) {
			json_array_foreach(content, k, part) {
				const char *type = json_string_value(
				    json_object_get(part, "type"));
				const json_t *t = json_object_get(part, "text");
				if (type == NULL || strcmp(type, "text") != 0 ||
				    !json_is_string(t))
					continue;
				if (!first)
					sb_add(&b, "\n", 1);
				sb_add(&b, json_string_value(t), json_string_length(t));
				first = 0;
			}
		}
		if (b.err) {
			free(b.p);
			return NULL;
		}
		return b.p;
	}
	prompt = json_object_get(request, "prompt");
	if (json_is_array(prompt))
		prompt = json_array_get(prompt, 0);
	if (json_is_string(prompt))
		return strdup(json_string_value(prompt));
	return strdup("");
}
