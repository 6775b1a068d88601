/* secret.h -- secrets read from files (the key pepper, the PII hash key): bounded,
 * regular files only, never logged, wiped when freed. Thread-safe; no state. */
#ifndef AIF_SECRET_H
#define AIF_SECRET_H

#include <stddef.h>

#include "err.h"

#define AIF_SECRET_MAX		1024	/* bytes of a secret file */

/* Reads the file at `path` (1..AIF_SECRET_MAX bytes, raw).
 * On AIF_OK *out is new (free with aif_secret_free, which wipes it) and *len set.
 * On error *out is NULL: AIF_IO unreadable or not a regular file, AIF_INVALID empty or
 * too long, AIF_NOMEM. */
enum aif_err	aif_secret_load(const char *path, unsigned char **out, size_t *len);

/* Wipes and frees a secret; accepts NULL. */
void		aif_secret_free(unsigned char *secret, size_t len);

#endif
