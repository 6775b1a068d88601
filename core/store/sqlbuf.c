/* sqlbuf.c -- statements built at run time; see sqlbuf.h. */
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "sqlbuf.h"

/* Appends through the capped buffer (base/buf.h); a failure sticks. */
static void
append(struct aif_sqlbuf *b, const char *text, size_t n)
{
	struct aif_buf t = { b->s, b->len, b->cap };
	enum aif_err err;

	if (b->failed)
		return;
	if ((err = aif_buf_add(&t, text, n, AIF_SQLBUF_MAX - 1)) != AIF_OK) {
		b->failed = (int)err;
		return;
	}
	b->s = t.p;
	b->len = t.len;
	b->cap = t.cap;
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
