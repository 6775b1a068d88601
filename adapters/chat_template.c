/* chat_template.c -- OpenAI chat messages to one prompt string; see chat_template.h.
 * A template is parsed into a fixed prefix (built-ins only: llama3's BOS), a head
 * before {content} and a tail after it; the output grows in a buffer capped at
 * AIF_CHAT_TEMPLATE_MAX.
 *
 * Special tokens: each template has a set of special tokens (built-ins: a fixed list;
 * custom templates: derived from the template's text, tokens_derive() below). They are
 * removed from every message's content, because an engine tokenizes them from raw text
 * (escaping cannot help) and a client could otherwise forge turns. The removal runs an
 * Aho-Corasick automaton over the content as it is copied, with the output as a stack:
 * when a token ends at the byte just written it is popped, and the automaton's state
 * is recomputed from the few bytes before it. So the output never holds a token, not
 * even one assembled from the pieces around a removed one, and each byte costs O(1)
 * plus O(longest token) per removal: linear. Tokens are ASCII, so removing them leaves
 * valid UTF-8 valid. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "chat_template.h"

#define MARK_ROLE	"{role}"
#define MARK_CONTENT	"{content}"
#define MARK_ASSISTANT	"{assistant}"

#define TOKEN_MAX	64	/* bytes of one special token */
#define NO_STATE	UINT16_MAX

struct tmpl {
	const char	*prefix;	/* once, before the first message */
	size_t		 prefix_len;
	const char	*head;		/* before {content}; may hold {role} */
	size_t		 head_len;
	const char	*tail;		/* after {content}; may hold {role} */
	size_t		 tail_len;
	const char *const *builtin;	/* a built-in's special tokens, NULL-terminated;
					   NULL: derived from head and tail */
};

/* The special tokens of a template. */
struct tokens {
	size_t	 n;
	size_t	 len[AIF_CHAT_TEMPLATE_TOKENS_MAX];
	char	 tok[AIF_CHAT_TEMPLATE_TOKENS_MAX][TOKEN_MAX + 1];
};

/* The automaton that finds them: a DFA over byte classes (bytes in no token share
 * class 0), next[state * ncls + class]; out[state] the length of the longest token
 * that ends there, 0 for none. */
struct strip {
	uint8_t		 cls[256];
	size_t		 ncls;
	size_t		 nstates;
	size_t		 maxlen;	/* the longest token */
	uint16_t	*next;
	uint8_t		*out;
};

/* ChatML (as Qwen and others use it) and Llama 3's special tokens that the text of a
 * message could spell. */
static const char *const chatml_tokens[] = {
	"<|im_start|>", "<|im_end|>", "<|endoftext|>", NULL,
};
static const char *const llama3_tokens[] = {
	"<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>",
	"<|end_header_id|>", "<|eot_id|>", "<|eom_id|>", "<|python_tag|>",
	"<|finetune_right_pad_id|>", NULL,
};

/* The roles a head or tail is rendered with ("developer" renders as "system"). */
static const char *const rendered_roles[] = {
	"system", "user", "assistant", "tool", "function", NULL,
};

/* Appends to the prompt, capped at AIF_CHAT_TEMPLATE_MAX. */
static enum aif_err
sbuf_add(struct aif_buf *b, const char *s, size_t n)
{
	return aif_buf_add(b, s, n, AIF_CHAT_TEMPLATE_MAX);
}

/* Appends `part` (n bytes) with every {role} replaced by `role`. */
static enum aif_err
add_with_role(struct aif_buf *b, const char *part, size_t n, const char *role)
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

/* ---- special tokens ---------------------------------------------------------------- */

/* Adds s[0..n) to the set (once); AIF_INVALID when the set is full. */
static enum aif_err
tokens_add(struct tokens *t, const char *s, size_t n)
{
	size_t i;

	if (n == 0 || n > TOKEN_MAX)
		return AIF_OK;
	for (i = 0; i < t->n; i++)
		if (t->len[i] == n && memcmp(t->tok[i], s, n) == 0)
			return AIF_OK;
	if (t->n == AIF_CHAT_TEMPLATE_TOKENS_MAX)
		return AIF_INVALID;
	memcpy(t->tok[t->n], s, n);
	t->tok[t->n][n] = '\0';
	t->len[t->n++] = n;
	return AIF_OK;
}

static int
is_ident(int c, int first)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_' ||
	    (!first && ((c >= '0' && c <= '9') || c == '.' || c == ':' || c == '-'));
}

static int
is_upper_ident(int c, int first)
{
	return (c >= 'A' && c <= 'Z') || (!first && ((c >= '0' && c <= '9') || c == '_'));
}

/* The length of a marker of the shape open [/] name close at s (n bytes left), or 0:
 * name is 1+ characters that `ok` accepts (its first with first=1). */
static size_t
marker_at(const char *s, size_t n, const char *open, const char *close,
    int (*ok)(int, int))
{
	size_t ol = strlen(open), cl = strlen(close), i, start;

	if (n < ol + 1 + cl || memcmp(s, open, ol) != 0)
		return 0;
	i = ol;
	if (s[i] == '/')
		i++;
	start = i;
	while (i < n && i < TOKEN_MAX && ok((unsigned char)s[i], i == start))
		i++;
	if (i == start || n - i < cl || memcmp(s + i, close, cl) != 0 ||
	    i + cl > TOKEN_MAX)
		return 0;
	return i + cl;
}

/* <|name|>: name is printable ASCII without spaces, '<', '>' or '|'. */
static size_t
pipe_marker_at(const char *s, size_t n)
{
	size_t i;

	if (n < 5 || s[0] != '<' || s[1] != '|')
		return 0;
	for (i = 2; i < n && i < TOKEN_MAX; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '|')
			break;
		if (c <= ' ' || c >= 0x7f || c == '<' || c == '>')
			return 0;
	}
	if (i == 2 || i + 2 > n || i + 2 > TOKEN_MAX || s[i + 1] != '>')
		return 0;
	return i + 2;
}

/* Adds a marker and, for <x>, [X] and <<X>>, its closing or opening twin. */
static enum aif_err
tokens_add_pair(struct tokens *t, const char *s, size_t n, size_t openlen)
{
	char	 twin[TOKEN_MAX + 2];
	enum aif_err err;

	if ((err = tokens_add(t, s, n)) != AIF_OK)
		return err;
	if (s[openlen] == '/') {		/* </x> -> <x> */
		memcpy(twin, s, openlen);
		memcpy(twin + openlen, s + openlen + 1, n - openlen - 1);
		return tokens_add(t, twin, n - 1);
	}
	if (n + 1 > TOKEN_MAX)
		return AIF_OK;
	memcpy(twin, s, openlen);		/* <x> -> </x> */
	twin[openlen] = '/';
	memcpy(twin + openlen + 1, s + openlen, n - openlen);
	return tokens_add(t, twin, n + 1);
}

/* The markers in the text s[0..n) (docs/ADAPTERS.md "Special tokens"). */
static enum aif_err
tokens_scan(struct tokens *t, const char *s, size_t n)
{
	size_t	 i = 0, m;
	enum aif_err err = AIF_OK;

	while (i < n && err == AIF_OK) {
		if ((m = marker_at(s + i, n - i, "<<", ">>", is_upper_ident)) > 0)
			err = tokens_add_pair(t, s + i, m, 2);
		else if ((m = pipe_marker_at(s + i, n - i)) > 0)
			err = tokens_add(t, s + i, m);
		else if ((m = marker_at(s + i, n - i, "<", ">", is_ident)) > 0)
			err = tokens_add_pair(t, s + i, m, 1);
		else if ((m = marker_at(s + i, n - i, "[", "]", is_upper_ident)) > 0)
			err = tokens_add_pair(t, s + i, m, 1);
		i += m > 0 ? m : 1;
	}
	return err;
}

/* The special tokens of a template: a built-in's list, or the markers of a custom
 * template's head and tail rendered with every role. */
static enum aif_err
tokens_derive(const struct tmpl *tp, struct tokens *t)
{
	struct aif_buf	 b = { 0 };
	const char *const *r;
	enum aif_err	 err = AIF_OK;

	t->n = 0;
	if (tp->builtin != NULL) {
		for (r = tp->builtin; *r != NULL && err == AIF_OK; r++)
			err = tokens_add(t, *r, strlen(*r));
		return err;
	}
	for (r = rendered_roles; *r != NULL && err == AIF_OK; r++) {
		b.len = 0;
		if ((err = add_with_role(&b, tp->head, tp->head_len, *r)) != AIF_OK ||
		    (err = tokens_scan(t, b.p, b.len)) != AIF_OK)
			break;
		b.len = 0;
		if ((err = add_with_role(&b, tp->tail, tp->tail_len, *r)) != AIF_OK ||
		    (err = tokens_scan(t, b.p, b.len)) != AIF_OK)
			break;
	}
	free(b.p);
	return err;
}

static void
strip_free(struct strip *st)
{
	free(st->next);
	free(st->out);
	memset(st, 0, sizeof(*st));
}

/* Builds the automaton of the tokens (Aho-Corasick with every transition filled). */
static enum aif_err
strip_build(const struct tokens *t, struct strip *st)
{
	uint16_t	*fail = NULL, *queue = NULL;
	size_t		 i, k, c, total = 1, head = 0, tail = 0;
	enum aif_err	 err = AIF_NOMEM;

	memset(st, 0, sizeof(*st));
	st->ncls = 1;
	for (i = 0; i < t->n; i++) {
		total += t->len[i];
		if (t->len[i] > st->maxlen)
			st->maxlen = t->len[i];
		for (k = 0; k < t->len[i]; k++) {
			unsigned char b = (unsigned char)t->tok[i][k];
			if (st->cls[b] == 0)
				st->cls[b] = (uint8_t)st->ncls++;
		}
	}
	if ((st->next = malloc(total * st->ncls * sizeof(*st->next))) == NULL ||
	    (st->out = calloc(total, 1)) == NULL ||
	    (fail = calloc(total, sizeof(*fail))) == NULL ||
	    (queue = malloc(total * sizeof(*queue))) == NULL)
		goto out;
	for (i = 0; i < total * st->ncls; i++)
		st->next[i] = NO_STATE;
	st->nstates = 1;
	for (i = 0; i < t->n; i++) {		/* the trie */
		size_t s = 0;

		for (k = 0; k < t->len[i]; k++) {
			uint16_t *to = &st->next[s * st->ncls +
			    st->cls[(unsigned char)t->tok[i][k]]];
			if (*to == NO_STATE)
				*to = (uint16_t)st->nstates++;
			s = *to;
		}
		st->out[s] = (uint8_t)t->len[i];
	}
	for (c = 0; c < st->ncls; c++) {	/* the root's row */
		uint16_t *to = &st->next[c];
		if (*to == NO_STATE)
			*to = 0;
		else
			queue[tail++] = *to;	/* fail 0 */
	}
	while (head < tail) {			/* breadth first: fail links, full rows */
		size_t s = queue[head++];

		if (st->out[s] == 0)
			st->out[s] = st->out[fail[s]];
		for (c = 0; c < st->ncls; c++) {
			uint16_t *to = &st->next[s * st->ncls + c];
			uint16_t via = st->next[fail[s] * st->ncls + c];
			if (*to == NO_STATE) {
				*to = via;
			} else {
				fail[*to] = via;
				queue[tail++] = *to;
			}
		}
	}
	err = AIF_OK;
out:
	free(fail);
	free(queue);
	if (err != AIF_OK)
		strip_free(st);
	return err;
}

/* Removes every special token from p[0..*n) in place, including tokens that removals
 * assemble; *n becomes the new length. */
static void
strip_run(const struct strip *st, char *p, size_t *n)
{
	size_t	 r, w = 0, i, from;
	size_t	 s = 0;

	if (st->nstates <= 1)
		return;
	for (r = 0; r < *n; r++) {
		p[w++] = p[r];
		s = st->next[s * st->ncls + st->cls[(unsigned char)p[r]]];
		if (st->out[s] == 0)
			continue;
		w -= st->out[s];
		/* p[0..w) holds no token: its state is the longest suffix that begins
		 * one, shorter than the longest token */
		from = w > st->maxlen - 1 ? w - (st->maxlen - 1) : 0;
		for (s = 0, i = from; i < w; i++)
			s = st->next[s * st->ncls + st->cls[(unsigned char)p[i]]];
	}
	*n = w;
}

/* ---- templates --------------------------------------------------------------------- */

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
		t->builtin = chatml_tokens;
	} else if (strcmp(spec, "llama3") == 0) {
		t->prefix = "<|begin_of_text|>";
		t->head = "<|start_header_id|>" MARK_ROLE "<|end_header_id|>\n\n";
		t->tail = "<|eot_id|>";
		t->builtin = llama3_tokens;
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

/* A template compiled once: its parts, its special tokens and the automaton that
 * removes them. Read-only once built. */
struct aif_chat_template {
	struct tmpl	 t;		/* points into spec (custom) or static text */
	char		*spec;		/* a custom template's own copy, or NULL */
	struct tokens	 tok;
	struct strip	 st;
};

void
aif_chat_template_free(struct aif_chat_template *ct)
{
	if (ct == NULL)
		return;
	strip_free(&ct->st);
	free(ct->spec);
	free(ct);
}

enum aif_err
aif_chat_template_compile(const char *tmpl, struct aif_chat_template **out)
{
	struct aif_chat_template *ct;
	enum aif_err err;

	*out = NULL;
	if ((ct = calloc(1, sizeof(*ct))) == NULL)
		return AIF_NOMEM;
	if (tmpl != NULL && strcmp(tmpl, "chatml") != 0 && strcmp(tmpl, "llama3") != 0 &&
	    (ct->spec = strdup(tmpl)) == NULL) {
		free(ct);
		return AIF_NOMEM;
	}
	if ((err = tmpl_parse(ct->spec != NULL ? ct->spec : tmpl, &ct->t)) != AIF_OK ||
	    (err = tokens_derive(&ct->t, &ct->tok)) != AIF_OK ||
	    (err = strip_build(&ct->tok, &ct->st)) != AIF_OK) {
		aif_chat_template_free(ct);
		return err;
	}
	*out = ct;
	return AIF_OK;
}

enum aif_err
aif_chat_template_check(const char *tmpl)
{
	struct aif_chat_template *ct;
	enum aif_err err = aif_chat_template_compile(tmpl, &ct);

	aif_chat_template_free(ct);
	return err;
}

enum aif_err
aif_chat_template_tokens(const char *tmpl, char *out, size_t cap)
{
	struct aif_chat_template *ct;
	size_t i, used = 0;
	enum aif_err err;

	if (cap == 0)
		return AIF_TOOBIG;
	out[0] = '\0';
	if ((err = aif_chat_template_compile(tmpl, &ct)) != AIF_OK)
		return err;
	for (i = 0; i < ct->tok.n; i++) {
		if (used + ct->tok.len[i] + 2 > cap) {
			err = AIF_TOOBIG;
			break;
		}
		memcpy(out + used, ct->tok.tok[i], ct->tok.len[i]);
		used += ct->tok.len[i];
		out[used++] = '\n';
		out[used] = '\0';
	}
	aif_chat_template_free(ct);
	return err;
}

/* Appends the text of one message content: a string, null, or an array of parts;
 * then removes the special tokens from what it appended. */
static enum aif_err
add_content(struct aif_buf *b, const json_t *content, const struct strip *st)
{
	const json_t *part;
	size_t i, start = b->len, n;
	int first = 1;
	enum aif_err err;

	if (content == NULL || json_is_null(content))
		return AIF_OK;
	if (json_is_string(content)) {
		err = sbuf_add(b, json_string_value(content),
		    json_string_length(content));
		goto strip;
	}
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
	err = AIF_OK;
strip:
	if (err == AIF_OK && b->len > start) {
		n = b->len - start;
		strip_run(st, b->p + start, &n);
		b->len = start + n;
		b->p[b->len] = '\0';
	}
	return err;
}

enum aif_err
aif_chat_template_render_compiled(const struct aif_chat_template *ct,
    const json_t *messages, char **out, size_t *out_len)
{
	struct aif_buf b = { 0 };
	const struct tmpl *t = &ct->t;
	const json_t *msg;
	size_t i;
	enum aif_err err;

	*out = NULL;
	if (out_len != NULL)
		*out_len = 0;
	if (!json_is_array(messages))
		return AIF_INVALID;
	/* an empty buffer is still a string */
	if ((err = sbuf_add(&b, t->prefix, t->prefix_len)) != AIF_OK)
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
		if ((err = add_with_role(&b, t->head, t->head_len, role)) != AIF_OK ||
		    (err = add_content(&b, json_object_get(msg, "content"), &ct->st)) !=
		    AIF_OK ||
		    (err = add_with_role(&b, t->tail, t->tail_len, role)) != AIF_OK)
			goto out;
	}
	if ((err = add_with_role(&b, t->head, t->head_len, "assistant")) != AIF_OK)
		goto out;
	*out = b.p;
	if (out_len != NULL)
		*out_len = b.len;
	b.p = NULL;
out:
	aif_buf_free(&b);
	return err;
}

enum aif_err
aif_chat_template_render(const char *tmpl, const json_t *messages, char **out,
    size_t *out_len)
{
	struct aif_chat_template *ct;
	enum aif_err err;

	*out = NULL;
	if (out_len != NULL)
		*out_len = 0;
	if ((err = aif_chat_template_compile(tmpl, &ct)) != AIF_OK)
		return err;
	err = aif_chat_template_render_compiled(ct, messages, out, out_len);
	aif_chat_template_free(ct);
	return err;
}
