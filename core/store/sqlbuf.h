/* sqlbuf.h -- statements built at run time (IN lists, multi-row inserts, CASE updates):
 * a growable text with a hard cap, so a long list fails loudly (AIF_TOOBIG) instead of
 * being cut. Only the store builds SQL, and only from fixed text and "?" markers: values
 * always travel as parameters. One buffer per statement, one thread. */
#ifndef AIF_SQLBUF_H
#define AIF_SQLBUF_H

#include <stddef.h>

#include "err.h"

#define AIF_SQLBUF_MAX	(1u << 20)

struct aif_sqlbuf {
	char	*s;		/* NUL-terminated once anything was added */
	size_t	 len, cap;
	int	 failed;	/* an append did not fit or had no memory */
};

/* Appends fixed text. */
void		aif_sqlbuf_add(struct aif_sqlbuf *b, const char *text);

/* Appends n markers "?,?,...,?". */
void		aif_sqlbuf_marks(struct aif_sqlbuf *b, size_t n);

/* Appends n groups "(?,...,?)" of `width` markers each, comma-separated. */
void		aif_sqlbuf_rows(struct aif_sqlbuf *b, size_t n, size_t width);

/* The statement (borrowed from b), or NULL when an append failed. */
const char	*aif_sqlbuf_get(const struct aif_sqlbuf *b);

/* AIF_OK, or AIF_TOOBIG / AIF_NOMEM when an append failed. */
enum aif_err	aif_sqlbuf_status(const struct aif_sqlbuf *b);

/* Empties b for the next statement (keeps its memory). */
void		aif_sqlbuf_reset(struct aif_sqlbuf *b);

/* Frees what b holds; b can be reused. */
void		aif_sqlbuf_free(struct aif_sqlbuf *b);

#endif
