/* sqlbuf.c -- statements built at run time; see sqlbuf.h. */
#include <stdlib.h>
#include <string.h>

#include "sqlbuf.h"

static void
append(struct aif_sqlbuf *b, const char *text, size_t n)
{
	if (b->failed)
		return;
	if (b->len + n + 1 > AIF_SQLBUF_MAX) {
		b->failed = AIF_TOOBIG;
		return;
	}
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 1024;
		char *p;
		while (cap < b->len + n + 1)
			cap *= 2;
		if ((p = realloc(b->s, cap)) == NULL) {
			b->failed = AIF_NOMEM;
			return;
		}
		b->s = p;
		b->cap = cap;
	}
	memcpy(b->s + b->len, text, n);
	b->len += n;
	b->s[b->len] = '\0';
}

void
aif_sqlbuf_add(struct aif_sqlbuf *b, const char *text)
{
	append(b, text, strlen(text));
}

void
aif_sqlbuf_marks(struct aif_sqlbuf *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		append(b, i ? ",?" : "?", i ? 2 : 1);
}

void
aif_sqlbuf_rows(struct aif_sqlbuf *b, size_t n, size_t width)
{
	for (size_t i = 0; i < n; i++) {
		append(b, i ? ",(" : "(", i ? 2 : 1);
		aif_sqlbuf_marks(b, width);
		append(b, ")", 1);
	}
}

const char *
aif_sqlbuf_get(const struct aif_sqlbuf *b)
{
	return b->failed || b->s == NULL ? NULL : b->s;
}

enum aif_err
aif_sqlbuf_status(const struct aif_sqlbuf *b)
{
	return b->failed ? (enum aif_err)b->failed : b->s == NULL ? AIF_INVALID : AIF_OK;
}

void
aif_sqlbuf_reset(struct aif_sqlbuf *b)
{
	b->len = 0;
	b->failed = 0;
	if (b->s != NULL)
		b->s[0] = '\0';
}

void
aif_sqlbuf_free(struct aif_sqlbuf *b)
{
	free(b->s);
	memset(b, 0, sizeof(*b));
}
