/* json.c -- applies the PII engine to OpenAI request and response bodies (jansson
 * trees, changed in place): finds every text a body carries, masks it with the actions
 * in force for the model and role, counts entities per type and stops at the first
 * entity whose action is block. Tool-call arguments are JSON text: they are parsed and
 * masked value by value so they stay valid JSON, and masked as plain text when they do
 * not parse. Thread-safe as core/pii/pii.c; the body is the caller's. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pii_int.h"

#define ARGS_MAX_DEPTH	64	/* deeper arguments are masked as text */

struct walk {
	struct aif_pii_actions	 act;
	struct aif_pii_counts	*counts;
	char			*blocked;
	size_t			 cap;
};

static enum aif_err	walk_args_value(struct walk *, json_t *, int, int *);

/* Masks the text s[0..n); *out new (NULL when nothing changes). */
static enum aif_err
mask_bytes(struct walk *w, const char *s, size_t n, char **out, size_t *outlen)
{
	struct aif_pii_hit *hits = NULL;
	size_t		 nhits = 0, i;
	int		 acts = 0;
	enum aif_err	 rc;

	*out = NULL;
	*outlen = 0;
	if ((rc = aif_pii_scan(&w->act, s, n, &hits, &nhits)) != AIF_OK || nhits == 0)
		return rc;
	for (i = 0; i < nhits; i++) {
		if (w->counts != NULL)
			pii_count(w->counts, aif_pii_type_name(w->act.pii, hits[i].type),
			    hits[i].action != AIF_PII_ALLOW);
		if (hits[i].action == AIF_PII_BLOCK && rc == AIF_OK) {
			rc = AIF_FORBIDDEN;
			if (w->blocked != NULL && w->cap > 0)
				(void)snprintf(w->blocked, w->cap, "%s",
				    aif_pii_type_name(w->act.pii, hits[i].type));
		}
		acts |= hits[i].action != AIF_PII_ALLOW;
	}
	if (rc == AIF_OK && acts)
		rc = aif_pii_apply(&w->act, s, n, hits, nhits, out, outlen);
	free(hits);
	return rc;
}

/* Masks string `str` in place; a non-string is left alone. */
static enum aif_err
mask_string(struct walk *w, json_t *str, int *changed)
{
	char		*out = NULL;
	size_t		 outlen = 0;
	enum aif_err	 rc;

	if (!json_is_string(str))
		return AIF_OK;
	rc = mask_bytes(w, json_string_value(str), json_string_length(str), &out,
	    &outlen);
	if (rc == AIF_OK && out != NULL) {
		/* json_string_setn checks UTF-8 again: cheap insurance. */
		if (json_string_setn(str, out, outlen) != 0)
			rc = AIF_NOMEM;
		else if (changed != NULL)
			*changed = 1;
	}
	free(out);
	return rc;
}

/* A string, or an array whose strings are masked (token arrays are left alone). */
static enum aif_err
mask_string_or_array(struct walk *w, json_t *v)
{
	size_t		 i;
	enum aif_err	 rc;

	if (json_is_string(v))
		return mask_string(w, v, NULL);
	if (!json_is_array(v))
		return AIF_OK;
	for (i = 0; i < json_array_size(v); i++)
		if ((rc = mask_string(w, json_array_get(v, i), NULL)) != AIF_OK)
			return rc;
	return AIF_OK;
}

/* Content as a string or as parts: the "text" of each part that has one. */
static enum aif_err
mask_content(struct walk *w, json_t *content)
{
	json_t		*part;
	size_t		 i;
	enum aif_err	 rc;

	if (json_is_string(content))
		return mask_string(w, content, NULL);
	if (!json_is_array(content))
		return AIF_OK;
	json_array_foreach(content, i, part) {
		if (!json_is_object(part))
			continue;
		if ((rc = mask_string(w, json_object_get(part, "text"), NULL)) != AIF_OK ||
		    (rc = mask_string(w, json_object_get(part, "refusal"), NULL)) != AIF_OK)
			return rc;
	}
	return AIF_OK;
}

/* An integer inside tool arguments: masked into a string when its digits hold an
 * entity (a card or RRN sent as a JSON number). */
static enum aif_err
mask_integer(struct walk *w, json_t *parent, const char *key, size_t idx, json_t *v,
    int *changed)
{
	char		 buf[32], *out = NULL;
	size_t		 outlen = 0;
	int		 n;
	enum aif_err	 rc;

	n = snprintf(buf, sizeof(buf), "%lld", (long long)json_integer_value(v));
	if (n < 0 || (size_t)n >= sizeof(buf))
		return AIF_OK;
	if ((rc = mask_bytes(w, buf, (size_t)n, &out, &outlen)) != AIF_OK || out == NULL)
		return rc;
	if ((key != NULL ? json_object_set_new(parent, key, json_stringn(out, outlen)) :
	    json_array_set_new(parent, idx, json_stringn(out, outlen))) != 0)
		rc = AIF_NOMEM;
	else
		*changed = 1;
	free(out);
	return rc;
}

static enum aif_err
walk_args_value(struct walk *w, json_t *v, int depth, int *changed)
{
	const char	*key;
	json_t		*child;
	size_t		 i;
	enum aif_err	 rc = AIF_OK;

	if (depth > ARGS_MAX_DEPTH)
		return AIF_TOOBIG;
	if (json_is_string(v))
		return mask_string(w, v, changed);
	if (json_is_object(v)) {
		json_object_foreach(v, key, child) {
			if (json_is_integer(child))
				rc = mask_integer(w, v, key, 0, child, changed);
			else
				rc = walk_args_value(w, child, depth + 1, changed);
			if (rc != AIF_OK)
				return rc;
		}
	} else if (json_is_array(v)) {
		json_array_foreach(v, i, child) {
			if (json_is_integer(child))
				rc = mask_integer(w, v, NULL, i, child, changed);
			else
				rc = walk_args_value(w, child, depth + 1, changed);
			if (rc != AIF_OK)
				return rc;
		}
	}
	return AIF_OK;
}

/* holder.arguments: JSON text, masked value by value when it parses. */
static enum aif_err
mask_arguments(struct walk *w, json_t *holder)
{
	json_t		*args = json_object_get(holder, "arguments"), *root;
	json_error_t	 jerr;
	char		*dumped;
	int		 changed = 0;
	enum aif_err	 rc;

	if (!json_is_string(args))
		return AIF_OK;
	root = json_loadb(json_string_value(args), json_string_length(args),
	    JSON_DECODE_ANY, &jerr);
	if (root == NULL || json_is_string(root) || json_is_integer(root))
		goto as_text;
	rc = walk_args_value(w, root, 0, &changed);
	if (rc == AIF_TOOBIG)
		goto as_text;
	if (rc == AIF_OK && changed) {
		if ((dumped = json_dumps(root, JSON_COMPACT | JSON_ENCODE_ANY)) == NULL ||
		    json_string_set(args, dumped) != 0)
			rc = AIF_NOMEM;
		free(dumped);
	}
	json_decref(root);
	return rc;
as_text:
	json_decref(root);
	return mask_string(w, args, NULL);
}

static enum aif_err
mask_tool_calls(struct walk *w, json_t *msg)
{
	json_t		*calls = json_object_get(msg, "tool_calls"), *call;
	size_t		 i;
	enum aif_err	 rc;

	if (json_is_array(calls))
		json_array_foreach(calls, i, call)
			if (json_is_object(call) && (rc = mask_arguments(w,
			    json_object_get(call, "function"))) != AIF_OK)
				return rc;
	return mask_arguments(w, json_object_get(msg, "function_call"));
}

static enum aif_err
mask_message(struct walk *w, json_t *msg)
{
	enum aif_err	 rc;

	if (!json_is_object(msg))
		return AIF_OK;
	if ((rc = mask_content(w, json_object_get(msg, "content"))) != AIF_OK ||
	    (rc = mask_string(w, json_object_get(msg, "name"), NULL)) != AIF_OK ||
	    (rc = mask_string(w, json_object_get(msg, "refusal"), NULL)) != AIF_OK ||
	    (rc = mask_string(w, json_object_get(msg, "reasoning_content"),
	    NULL)) != AIF_OK)
		return rc;
	return mask_tool_calls(w, msg);
}

enum aif_err
aif_pii_mask_request(const struct aif_pii *pii, const char *model_id, const char *role,
    enum aif_kind kind, json_t *body, struct aif_pii_counts *counts,
    char *blocked_type, size_t cap)
{
	struct walk	 w;
	json_t		*msgs, *msg, *pred;
	size_t		 i;
	enum aif_err	 rc = AIF_OK;

	if (blocked_type != NULL && cap > 0)
		blocked_type[0] = '\0';
	if (!aif_pii_enabled(pii) || !json_is_object(body))
		return AIF_OK;
	memset(&w, 0, sizeof(w));
	aif_pii_actions_for(pii, model_id, role, &w.act);
	w.counts = counts;
	w.blocked = blocked_type;
	w.cap = cap;
	switch (kind) {
	case AIF_KIND_CHAT:
		msgs = json_object_get(body, "messages");
		if (json_is_array(msgs))
			json_array_foreach(msgs, i, msg)
				if ((rc = mask_message(&w, msg)) != AIF_OK)
					return rc;
		pred = json_object_get(body, "prediction");
		if (json_is_object(pred) &&
		    (rc = mask_content(&w, json_object_get(pred, "content"))) != AIF_OK)
			return rc;
		break;
	case AIF_KIND_COMPLETION:
		if ((rc = mask_string_or_array(&w, json_object_get(body, "prompt"))) !=
		    AIF_OK || (rc = mask_string(&w, json_object_get(body, "suffix"),
		    NULL)) != AIF_OK)
			return rc;
		break;
	case AIF_KIND_EMBEDDING:
		if ((rc = mask_string_or_array(&w, json_object_get(body, "input"))) !=
		    AIF_OK)
			return rc;
		break;
	default:
		return AIF_INVALID;
	}
	return mask_string(&w, json_object_get(body, "user"), NULL);
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
		    (rc = mask_string(&w, json_object_get(choice, "text"), NULL)) != AIF_OK)
			return rc;
	}
	return AIF_OK;
}
