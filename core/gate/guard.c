/* guard.c -- guardrails' block lists, the texts they read and the hook wire format
 * (guard.h). */
#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "buf.h"
#include "guard.h"
#include "metrics.h"
#include "text.h"
#include "util.h"

#define GUARD_DEPTH_MAX	64	/* levels of a body the text walk descends */

struct guard_list {
	pcre2_code	*keywords;	/* one caseless alternation of literals, or NULL */
	pcre2_code	*patterns;	/* one alternation of the patterns, or NULL */
};

#define GUARD_MATCH_LIMIT	2000000	/* backtracking steps of one match */

struct aif_guards {
	pcre2_match_context	*mctx;	/* the limits of every match */
	size_t			 n;
	struct guard_list	 list[];
};

/* Appends s[0..n) to b, every byte that is not a letter, digit or non-ASCII escaped. */
static enum aif_err
add_literal(struct aif_buf *b, const char *s)
{
	enum aif_err err = AIF_OK;

	for (; *s != '\0' && err == AIF_OK; s++) {
		unsigned char c = (unsigned char)*s;
		int plain = c >= 0x80 || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
		    (c >= 'A' && c <= 'Z');
		if (!plain)
			err = aif_buf_add(b, "\\", 1, SIZE_MAX / 2);
		if (err == AIF_OK)
			err = aif_buf_add(b, s, 1, SIZE_MAX / 2);
	}
	return err;
}

/* Compiles `(?:a)|(?:b)|...` of items (literals escaped when literal). */
static enum aif_err
compile(char *const *items, size_t n, int literal, pcre2_code **out)
{
	struct aif_buf b = { 0 };
	enum aif_err err = AIF_OK;
	PCRE2_SIZE off;
	int ec;

	*out = NULL;
	if (n == 0)
		return AIF_OK;
	for (size_t i = 0; i < n && err == AIF_OK; i++) {
		err = aif_buf_add(&b, i > 0 ? "|(?:" : "(?:", i > 0 ? 4 : 3, SIZE_MAX / 2);
		if (err == AIF_OK)
			err = literal ? add_literal(&b, items[i]) :
			    aif_buf_add(&b, items[i], strlen(items[i]), SIZE_MAX / 2);
		if (err == AIF_OK)
			err = aif_buf_add(&b, ")", 1, SIZE_MAX / 2);
	}
	if (err == AIF_OK) {
		*out = pcre2_compile((PCRE2_SPTR)b.p, b.len, PCRE2_UTF | PCRE2_NEVER_BACKSLASH_C |
		    (literal ? PCRE2_CASELESS : 0), &ec, &off, NULL);
		err = *out == NULL ? AIF_CONFIG : AIF_OK;
		/* AIF_PII_NO_JIT=1 keeps the interpreter, as for the PII patterns (pii.c):
		   the JIT's vector loads read past a subject's end, which valgrind reports */
		if (*out != NULL && getenv("AIF_PII_NO_JIT") == NULL)
			(void)pcre2_jit_compile(*out, PCRE2_JIT_COMPLETE);
	}
	aif_buf_free(&b);
	return err;
}

enum aif_err
aif_guards_new(const struct aif_config *cfg, struct aif_guards **out)
{
	struct aif_guards *g = calloc(1, sizeof(*g) + cfg->nguardrails *
	    sizeof(g->list[0]));
	enum aif_err err = AIF_OK;

	*out = NULL;
	if (g == NULL)
		return AIF_NOMEM;
	g->n = cfg->nguardrails;
	if ((g->mctx = pcre2_match_context_create(NULL)) == NULL)
		err = AIF_NOMEM;
	else {
		pcre2_set_match_limit(g->mctx, GUARD_MATCH_LIMIT);
	}
	for (size_t i = 0; i < g->n && err == AIF_OK; i++) {
		const struct aif_guardrail *r = &cfg->guardrails[i];
		err = compile(r->keywords, r->nkeywords, 1, &g->list[i].keywords);
		if (err == AIF_OK)
			err = compile(r->patterns, r->npatterns, 0, &g->list[i].patterns);
	}
	if (err != AIF_OK) {
		aif_guards_free(g);
		return err;
	}
	*out = g;
	return AIF_OK;
}

void
aif_guards_free(struct aif_guards *g)
{
	if (g == NULL)
		return;
	for (size_t i = 0; i < g->n; i++) {
		pcre2_code_free(g->list[i].keywords);
		pcre2_code_free(g->list[i].patterns);
	}
	pcre2_match_context_free(g->mctx);
	free(g);
}

static int
matches(char *const *globs, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++)
		if (fnmatch(globs[i], s, 0) == 0)
			return 1;
	return 0;
}

int
aif_guard_applies(const struct aif_guardrail *g, const char *model, const char *role)
{
	return matches(g->models, g->nmodels, model) &&
	    (role == NULL || matches(g->roles, g->nroles, role));
}

/* 1 when re matches text, or cannot tell within the match limit (a text built to
 * outrun a pattern is refused, not let through); 0 when it does not match. A long
 * text that outgrows the JIT's small stack is read again by the interpreter, which
 * keeps its backtracking on the heap, so that length alone never refuses. */
static int
found(const struct aif_guards *gs, const pcre2_code *re, const char *text, size_t len)
{
	pcre2_match_data *md;
	int rc;

	if (re == NULL)
		return 0;
	if ((md = pcre2_match_data_create_from_pattern(re, NULL)) == NULL)
		return 1;
	rc = pcre2_match(re, (PCRE2_SPTR)text, len, 0, 0, md, gs->mctx);
	if (rc == PCRE2_ERROR_JIT_STACKLIMIT)
		rc = pcre2_match(re, (PCRE2_SPTR)text, len, 0, PCRE2_NO_JIT, md, gs->mctx);
	pcre2_match_data_free(md);
	return rc != PCRE2_ERROR_NOMATCH;
}

int
aif_guards_blocks(const struct aif_guards *gs, size_t i, const char *text, size_t len)
{
	if (gs == NULL || i >= gs->n)
		return 0;
	return found(gs, gs->list[i].keywords, text, len) ||
	    found(gs, gs->list[i].patterns, text, len);
}

size_t
aif_guard_job_names(const struct aif_config *cfg, const char *model, const char *role,
    char *out, size_t cap)
{
	size_t n = 0, used = 0;

	if (cap > 0)
		out[0] = '\0';
	for (size_t i = 0; i < cfg->nguardrails; i++) {
		const struct aif_guardrail *g = &cfg->guardrails[i];
		size_t len = strlen(g->name);
		if (!aif_guard_applies(g, model, role) || (g->pre_call.url == NULL &&
		    g->post_call.url == NULL && !(g->check_answers &&
		    g->nkeywords + g->npatterns > 0)))
			continue;
		if (used + (used > 0) + len + 1 > cap)
			continue;
		if (used > 0)
			out[used++] = ',';
		memcpy(out + used, g->name, len + 1);
		used += len;
		n++;
	}
	return n;
}

void
aif_guard_count(const char *guardrail, const char *phase, const char *result)
{
	char l[AIF_METRICS_LABELS], esc[2 * AIF_GUARD_NAME_MAX + 1];

	snprintf(l, sizeof(l), "guardrail=\"%s\",phase=\"%s\",result=\"%s\"",
	    aif_metrics_label(guardrail, esc, sizeof(esc)), phase, result);
	aif_metrics_add("aif_guardrail_results_total", l, 1);
}

const struct aif_guardrail *
aif_guard_find(const struct aif_config *cfg, const char *name, size_t len, size_t *index)
{
	for (size_t i = 0; i < cfg->nguardrails; i++)
		if (strlen(cfg->guardrails[i].name) == len &&
		    memcmp(cfg->guardrails[i].name, name, len) == 0) {
			*index = i;
			return &cfg->guardrails[i];
		}
	return NULL;
}

static int
text_key(const char *k)
{
	static const char *const keys[] = { "content", "text", "prompt", "input", "system",
	    "instructions" };

	for (size_t i = 0; i < AIF_NELEM(keys); i++)
		if (strcmp(k, keys[i]) == 0)
			return 1;
	return 0;
}

static void
walk(json_t *v, int is_text, int depth, json_t **nodes, size_t cap, size_t *n)
{
	const char *k;
	json_t *x;
	size_t i;

	if (depth > GUARD_DEPTH_MAX)
		return;
	if (json_is_string(v) && is_text) {
		if (*n < cap)
			nodes[*n] = v;
		(*n)++;
	} else if (json_is_array(v)) {
		json_array_foreach(v, i, x)
			walk(x, is_text, depth + 1, nodes, cap, n);
	} else if (json_is_object(v)) {
		json_object_foreach(v, k, x)
			if (strncmp(k, "x_aif_", 6) != 0)	/* the gateway's notes */
				walk(x, text_key(k), depth + 1, nodes, cap, n);
	}
}

json_t **
aif_guard_texts(json_t *body, size_t *n)
{
	json_t **nodes;
	size_t k = 0;

	walk(body, 0, 0, NULL, 0, &k);		/* count, then fill */
	if ((nodes = calloc(k ? k : 1, sizeof(*nodes))) == NULL)
		return NULL;
	*n = 0;
	walk(body, 0, 0, nodes, k, n);
	return nodes;
}

int
aif_guards_block_texts(const struct aif_guards *gs, size_t i, json_t *const *texts,
    size_t n)
{
	for (size_t k = 0; k < n; k++)
		if (aif_guards_blocks(gs, i, json_string_value(texts[k]),
		    json_string_length(texts[k])))
			return 1;
	return 0;
}

char *
aif_guard_hook_body(const char *guardrail, const char *phase, const char *model,
    const char *job_id, json_t *const *texts, size_t n)
{
	json_t *arr = json_array(), *o;
	char *s;

	for (size_t i = 0; arr != NULL && i < n; i++)
		if (json_array_append(arr, texts[i]) != 0) {
			json_decref(arr);
			arr = NULL;
		}
	if (arr == NULL)
		return NULL;
	o = json_pack("{s:s, s:s, s:s, s:s, s:o}", "guardrail", guardrail, "phase", phase,
	    "model", model, "job_id", job_id, "texts", arr);
	s = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	return s;
}

/* Copies a reason as printable ASCII and UTF-8 (control bytes become spaces). */
static void
copy_reason(char *out, const char *in)
{
	size_t i;

	aif_strlcpy(out, in, AIF_GUARD_REASON_MAX);
	aif_utf8_trim_tail(out);
	for (i = 0; out[i] != '\0'; i++)
		if ((unsigned char)out[i] < 0x20 || out[i] == 0x7f)
			out[i] = ' ';
}

int
aif_guard_decision_parse(const char *body, size_t len, size_t n,
    struct aif_guard_decision *d)
{
	json_t *v = json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL), *t, *x;
	const char *action = json_string_value(json_object_get(v, "action"));
	const char *reason = json_string_value(json_object_get(v, "reason"));
	size_t i;
	int rc = -1;

	memset(d, 0, sizeof(*d));
	if (action == NULL)
		goto out;
	if (strcmp(action, "allow") == 0) {
		d->action = AIF_GUARD_ALLOW;
		rc = 0;
	} else if (strcmp(action, "block") == 0) {
		d->action = AIF_GUARD_BLOCK;
		copy_reason(d->reason, reason != NULL ? reason : "");
		rc = 0;
	} else if (strcmp(action, "rewrite") == 0 &&
	    json_array_size(t = json_object_get(v, "texts")) == n) {
		json_array_foreach(t, i, x)
			if (!json_is_string(x))
				goto out;
		d->action = AIF_GUARD_REWRITE;
		d->texts = json_incref(t);
		rc = 0;
	}
out:
	json_decref(v);
	return rc;
}
