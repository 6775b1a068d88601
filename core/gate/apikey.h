/* apikey.h -- API key format, generation and hashing. A key is
 *   "aif_" + 32 base62 random characters (~190 bits) + 6 base62 characters of the
 *   CRC32 of the random part,
 * so secret scanners (and aif-api, before any database call) can reject look-alikes.
 * Only HMAC-SHA256(pepper, key) (or SHA-256 when no pepper is configured) is stored.
 * Thread-safe; no state. */
#ifndef AIF_APIKEY_H
#define AIF_APIKEY_H

#include <stddef.h>

#include "err.h"

#define AIF_KEY_PREFIX		"aif_"
#define AIF_KEY_RANDOM_LEN	32
#define AIF_KEY_CHECK_LEN	6
#define AIF_KEY_LEN		(4 + AIF_KEY_RANDOM_LEN + AIF_KEY_CHECK_LEN)	/* 42 */
#define AIF_KEY_DISPLAY_LEN	12	/* "aif_" + 8: the non-secret public prefix */
#define AIF_KEY_HASH_LEN	32

/* Writes a new random key (AIF_KEY_LEN chars + NUL) to `out` using the OS CSPRNG.
 * Returns AIF_IO if no randomness could be had (out is then ""). */
enum aif_err	aif_apikey_generate(char out[AIF_KEY_LEN + 1]);

/* Returns 1 when `key` (len bytes, borrowed) has the prefix, the length, only base62
 * characters and a matching checksum; 0 otherwise. Never reads past len. */
int		aif_apikey_well_formed(const char *key, size_t len);

/* Hashes `key` (len bytes): HMAC-SHA256 keyed with `pepper` when pepper_len > 0,
 * else SHA-256. Writes AIF_KEY_HASH_LEN bytes to out. */
void		aif_apikey_hash(const unsigned char *pepper, size_t pepper_len,
		    const char *key, size_t len, unsigned char out[AIF_KEY_HASH_LEN]);

/* Constant-time comparison of two hashes; returns 1 when equal. */
int		aif_apikey_hash_equal(const unsigned char a[AIF_KEY_HASH_LEN],
		    const unsigned char b[AIF_KEY_HASH_LEN]);

/* Writes the display prefix (first AIF_KEY_DISPLAY_LEN chars) of a well-formed key. */
void		aif_apikey_display(const char *key, char out[AIF_KEY_DISPLAY_LEN + 1]);

/* Extracts the key from an Authorization header value "Bearer <key>" (case-insensitive
 * scheme, single space or more). Returns a pointer into `header` (borrowed) and sets
 * *len, or NULL when the header is absent, malformed or longer than 512 bytes. */
const char	*aif_apikey_from_bearer(const char *header, size_t *len);

#endif
