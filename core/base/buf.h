/* buf.h -- a growable byte buffer with a hard cap, for text built from outside input
 * (HTTP bodies, rendered prompts, assembled answers, SSE lines, built statements):
 * appending past the cap is an error, never a cut. Growth doubles (amortised O(1) per
 * byte), the capacity never passes the cap + 1, and the bytes are always NUL-terminated
 * once anything was added. No state beyond the struct; one thread per buffer. */
#ifndef AIF_BUF_H
#define AIF_BUF_H

#include <stddef.h>

#include "err.h"

#define AIF_BUF_MIN	64	/* first allocation, bytes */

/* Zeroed is empty. */
struct aif_buf {
	char	*p;		/* new (aif_buf_free); NULL until the first append */
	size_t	 len, cap;	/* bytes held (without the NUL), bytes allocated */
};

/* Appends n bytes at s (borrowed; may be NULL when n is 0) when b then holds at most
 * max bytes; an append of 0 bytes still makes b->p a string. Returns AIF_OK,
 * AIF_TOOBIG (it would pass max) or AIF_NOMEM; on error b is unchanged. */
enum aif_err	aif_buf_add(struct aif_buf *b, const void *s, size_t n, size_t max);

/* Frees what b holds and zeroes it; b can be reused. */
void		aif_buf_free(struct aif_buf *b);

#endif
