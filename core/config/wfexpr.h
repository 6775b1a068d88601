/* wfexpr.h -- the expression language of workflows (docs/CONFIG.md, `workflows:`):
 * {{ path }} templates in text and in JSON values, var paths ("steps.x.output.items[0]"),
 * the conditions of branch steps, and the small text helpers of transform steps. The
 * config loader checks templates with it; the workflow runtime renders them. Pure
 * functions over jansson values: no state, thread-safe. */
#ifndef AIF_WFEXPR_H
#define AIF_WFEXPR_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#define AIF_WFX_MAX_PATH	512	/* bytes of one var path */
#define AIF_WFX_MAX_SEGMENTS	32	/* keys and indexes of one var path */
#define AIF_WFX_MATCH_LIMIT	100000	/* PCRE2 match limit of `matches` */
#define AIF_WFX_MAX_DEPTH	64	/* nesting of conditions and JSON templates */

/* Checks a template; calls ref(ctx, path) for every {{path}} (path NUL-terminated,
 * borrowed for the call). Every path is checked by aif_wfx_path_check. Returns 0, or
 * -1 with why filled (unterminated, bad path). */
int	aif_wfx_template_refs(const char *tmpl, void (*ref)(void *ctx, const char *path),
	    void *ctx, char *why, size_t whylen);

/* The same over every string of a JSON template (object keys are literal). */
int	aif_wfx_json_refs(const json_t *tmpl, void (*ref)(void *, const char *), void *ctx,
	    char *why, size_t whylen);

/* Checks a var path: its syntax (a key, then ".key" and "[index]" segments, keys of
 * [A-Za-z0-9_-]+, at most AIF_WFX_MAX_PATH bytes and AIF_WFX_MAX_SEGMENTS segments)
 * and its root: input..., steps.<name>.output..., run.id or run.workflow. Returns 0,
 * or -1 with why filled. */
int	aif_wfx_path_check(const char *path, char *why, size_t whylen);

/* Checks the syntax of a path relative to a value ("items[0].title", "[2]", "a-b"):
 * the same segments, any first key, or an index first. Returns 0, or -1 with why. */
int	aif_wfx_relpath_check(const char *path, char *why, size_t whylen);

/* Looks up a var path ("steps.x.output.body.items[0]") in root (an object with "input",
 * "steps" {name: {"output": ...}}, "run"). Borrowed value, or NULL when absent. */
const json_t *aif_wfx_get(const json_t *root, const char *path);

/* Looks up a relative path (aif_wfx_relpath_check) in value v; "" is v itself.
 * Borrowed value, or NULL when absent or malformed. */
const json_t *aif_wfx_lookup(const json_t *v, const char *path);

/* When s is exactly one "{{ path }}" (whitespace around allowed), copies the path into
 * out (cap bytes) and returns 1; else 0. */
int	aif_wfx_whole_ref(const char *s, char *out, size_t cap);

enum aif_wfx_enc { AIF_WFX_TEXT, AIF_WFX_URL };

/* Renders a text template against root; new string (free) of at most max bytes, or NULL
 * with why ("too large", "out of memory", or the template's problem). A string value is
 * inserted as is, any other as compact JSON, a missing path as "". AIF_WFX_URL
 * percent-encodes every inserted byte but A-Za-z0-9-._~ (the literal text as is). */
char	*aif_wfx_render(const char *tmpl, const json_t *root, enum aif_wfx_enc enc,
	    size_t max, char *why, size_t whylen);

/* Renders a JSON template (new reference, json_decref), or NULL with why. Every string
 * is a text template, except one that is exactly one {{ path }}: it becomes the value
 * itself (a copy; null when missing). The whole result is at most max bytes of compact
 * JSON. */
json_t	*aif_wfx_render_json(const json_t *tmpl, const json_t *root, size_t max, char *why,
	    size_t whylen);

/* Checks a regular expression of `matches` (PCRE2, UTF). Returns 0, or -1 with why
 * and *offset the byte of the pattern where the problem is. */
int	aif_wfx_regex_check(const char *re, char *why, size_t whylen, size_t *offset);

/* Evaluates a canonical condition: 1 true, 0 false, -1 error (why). */
int	aif_wfx_cond(const json_t *cond, const json_t *root, char *why, size_t whylen);

/* The longest prefix of text (len bytes) of at most max_tokens tokens by the admission
 * estimate (4 bytes per token), not cutting a UTF-8 sequence: returns the byte length. */
size_t	aif_wfx_truncate_len(const char *text, size_t len, int64_t max_tokens);

/* Text of the last user message of a chat request body (string content, or the text
 * parts joined with "\n"), or of "prompt" (string, or first string of an array) for a
 * completion: new string, "" when none; NULL only when out of memory. */
char	*aif_wfx_input_text(const json_t *request);

#endif
