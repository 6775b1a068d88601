/* chat_template.c -- OpenAI chat messages to one prompt string; see chat_template.h.
 * A template is parsed into a fixed prefix (built-ins only: llama3's BOS), a head
 * before {content} and a tail after it; the output grows in a buffer capped at
 * AIF_CHAT_TEMPLATE_MAX. */
#include <stdlib.h>
#include <string.h>

#include "chat_template.h"

#define MARK_ROLE	"{role}"
#define MARK_CONTENT	"{content}"
#define MARK_ASSISTANT	"{assistant}"

struct tmpl {
	const char	*prefix;	/* once, before the first message */
	size_t		 prefix_len;
	const char	*head;		/* before {content}; may hold {role} */
	size_t		 head_len;
	const char	*tail;		/* after {content}; may hold {role} */
	size_t		 tail_len;
};

/* A growing string with a hard cap. */
struct sbuf {
	char	*p;
	size_t	 len, cap;
};

static enum aif_err
sbuf_add(struct sbuf *b, const char *s, size_t n)
{
	if (n > AIF_CHAT_TEMPLATE_MAX - b->len)
		return AIF_TOOBIG;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 1024;
		char *p;

		while (cap < b->len + n + 1)
			cap *= 2;
		if (cap > AIF_CHAT_TEMPLATE_MAX + 1)
			cap = AIF_CHAT_TEMPLATE_MAX + 1;
		if ((p = realloc(b->p, cap)) == NULL)
			return AIF_NOMEM;
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
	return AIF_OK;
}

/* Appends `part` (n bytes) with every {role} replaced by `role`. */
static enum aif_err
add_with_role(struct sbuf *b, const char *part, size_t n, const char *role)
{
	const size_t ml = sizeof(MARK_ROLE) - 1;
	size_t i = 0, from = 0;
	enum aif_err err;

	while (i < n) {
		if (n - i >= ml && memcmp(part + i, MARK_ROLE, ml) == 0) {
			if ((err = sbuf_add(b, part + from, i - from)) != AIF_OK ||
			    (err = sbuf_add(b, role, strlen(role))) != AIF_OK)
				return err;
			i += ml;
			from = i;
		} else {
			i++;
		}
	}
	return sbuf_add(b, part + from, n - from);
}

/* Counts the occurrences of `mark` in s. */
static size_t
count_marks(const char *s, const char *mark)
{
	size_t n = 0;

	for (const char *p = s; (p = strstr(p, mark)) != NULL; p += strlen(mark))
		n++;
	return n;
}

/* Fills *t from a template name or custom string. */
static enum aif_err
tmpl_parse(const char *spec, struct tmpl *t)
{
	const char *c, *a;
	size_t len;

	memset(t, 0, sizeof(*t));
	if (spec == NULL || strcmp(spec, "chatml") == 0) {
		t->prefix = "";
		t->head = "<|im_start|>" MARK_ROLE "\n";
		t->tail = "<|im_end|>\n";
	} else if (strcmp(spec, "llama3") == 0) {
		t->prefix = "<|begin_of_text|>";
		t->head = "<|start_header_id|>" MARK_ROLE "<|end_header_id|>\n\n";
		t->tail = "<|eot_id|>";
	} else {
		len = strlen(spec);
		if (len > AIF_CHAT_TEMPLATE_SPEC_MAX ||
		    count_marks(spec, MARK_CONTENT) != 1 ||
		    count_marks(spec, MARK_ASSISTANT) != 1)
			return AIF_INVALID;
		a = strstr(spec, MARK_ASSISTANT);
		c = strstr(spec, MARK_CONTENT);
		if (a + strlen(MARK_ASSISTANT) != spec + len || c > a)
			return AIF_INVALID;
		t->prefix = "";
		t->prefix_len = 0;
		t->head = spec;
		t->head_len = (size_t)(c - spec);
		t->tail = c + strlen(MARK_CONTENT);
		t->tail_len = (size_t)(a - t->tail);
		return AIF_OK;
	}
	t->prefix_len = strlen(t->prefix);
	t->head_len = strlen(t->head);
	t->tail_len = strlen(t->tail);
	return AIF_OK;
}

enum aif_err
aif_chat_template_check(const char *tmpl)
{
	struct tmpl t;

	return tmpl_parse(tmpl, &t);
}

/* Appends the text of one message content: a string, null, or an array of parts. */
static enum aif_err
add_content(struct sbuf *b, const json_t *content)
{
	const json_t *part;
	size_t i;
	int first = 1;
	enum aif_err err;

	if (content == NULL || json_is_null(content))
		return AIF_OK;
	if (json_is_string(content))
		return sbuf_add(b, json_string_value(content), json_string_length(content));
	if (!json_is_array(content))
		return AIF_INVALID;
	json_array_foreach(content, i, part) {
		const json_t *text = part;

		if (json_is_object(part)) {
			const json_t *type = json_object_get(part, "type");
			if (type != NULL && !(json_is_string(type) &&
			    strcmp(json_string_value(type), "text") == 0))
				return AIF_INVALID;	/* images, audio, files */
			text = json_object_get(part, "text");
		}
		if (!json_is_string(text))
			return AIF_INVALID;
		if (!first && (err = sbuf_add(b, "\n", 1)) != AIF_OK)
			return err;
		if ((err = sbuf_add(b, json_string_value(text), json_string_length(text))) !=
		    AIF_OK)
			return err;
		first = 0;
	}
	return AIF_OK;
}

enum aif_err
aif_chat_template_render(const char *tmpl, const json_t *messages, char **out,
    size_t *out_len)
{
	struct sbuf b = { NULL, 0, 0 };
	struct tmpl t;
	const json_t *msg;
	size_t i;
	enum aif_err err;

	*out = NULL;
	if (out_len != NULL)
		*out_len = 0;
	if ((err = tmpl_parse(tmpl, &t)) != AIF_OK)
		goto out;
	if (!json_is_array(messages)) {
		err = AIF_INVALID;
		goto out;
	}
	/* an empty buffer is still a string */
	if ((err = sbuf_add(&b, t.prefix, t.prefix_len)) != AIF_OK)
		goto out;
	json_array_foreach(messages, i, msg) {
		const json_t *rv = json_object_get(msg, "role");
		const char *role;

		if (!json_is_object(msg) || !json_is_string(rv)) {
			err = AIF_INVALID;
			goto out;
		}
		role = json_string_value(rv);
		if (strcmp(role, "developer") == 0)
			role = "system";
		if ((err = add_with_role(&b, t.head, t.head_len, role)) != AIF_OK ||
		    (err = add_content(&b, json_object_get(msg, "content"))) != AIF_OK ||
		    (err = add_with_role(&b, t.tail, t.tail_len, role)) != AIF_OK)
			goto out;
	}
	if ((err = add_with_role(&b, t.head, t.head_len, "assistant")) != AIF_OK)
		goto out;
	*out = b.p;
	if (out_len != NULL)
		*out_len = b.len;
	b.p = NULL;
out:
	free(b.p);
	return err;
}
