/* secret.h -- the one loader of secrets read from files: the key pepper
 * (auth.pepper_file), the PII hash key (pii.hash_key_file), the database password
 * (database.password_file) and the engines' credentials
 * (models[].replicas[].api_key_file). A secret file is a regular file that neither its
 * group nor others may access (mode 0600 or 0400), 1..AIF_SECRET_MAX bytes; its content
 * is never logged nor put in a message, and is wiped when freed. Thread-safe; no
 * state. */
#ifndef AIF_SECRET_H
#define AIF_SECRET_H

#include <stddef.h>

#include "err.h"

#define AIF_SECRET_MAX		1024	/* bytes of a secret file */
#define AIF_SECRET_WHY_MAX	160	/* bytes of aif_secret_why's phrase */

/* Reads the file at `path` (1..AIF_SECRET_MAX bytes, raw: a trailing newline is kept).
 * On AIF_OK *out is new (free with aif_secret_free, which wipes it) and *len set.
 * On error *out is NULL and *len 0: AIF_IO missing, unreadable or not a regular file;
 * AIF_FORBIDDEN its group or others have any permission on it (mode & 077); AIF_INVALID
 * empty or over AIF_SECRET_MAX bytes; AIF_NOMEM. */
enum aif_err	aif_secret_load(const char *path, unsigned char **out, size_t *len);

/* Why aif_secret_load refused `path` with `rc`, as a phrase for messages that follow
 * the path ("is readable or writable by group or others (mode 0644): chmod 600 it").
 * Never holds any of the content. Writes at most cap bytes into buf; returns buf. */
const char	*aif_secret_why(const char *path, enum aif_err rc, char *buf, size_t cap);

/* The length of secret s (len bytes) without its trailing "\n" or "\r\n" (files written
 * by `echo`): what is sent when the secret is a line of text. */
size_t		aif_secret_line_len(const unsigned char *s, size_t len);

/* Wipes and frees a secret; accepts NULL. */
void		aif_secret_free(unsigned char *secret, size_t len);

#endif
