/* buf.c -- the capped growable buffer; see buf.h. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"

enum aif_err
aif_buf_add(struct aif_buf *b, const void *s, size_t n, size_t max)
{
	size_t need, cap;
	char *p;

	if (max > SIZE_MAX - 1)
		max = SIZE_MAX - 1;	/* room for the NUL */
	if (b->len > max || n > max - b->len)
		return AIF_TOOBIG;
	need = b->len + n + 1;
	if (need > b->cap) {
		cap = b->cap ? b->cap : AIF_BUF_MIN;
		while (cap < need)
			cap = cap > (max + 1) / 2 ? max + 1 : cap * 2;
		if (cap > max + 1)
			cap = max + 1;
		if ((p = realloc(b->p, cap)) == NULL)
			return AIF_NOMEM;
		b->p = p;
		b->cap = cap;
	}
	if (n > 0)
		memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
	return AIF_OK;
}

void
aif_buf_free(struct aif_buf *b)
{
	free(b->p);
	memset(b, 0, sizeof(*b));
}
