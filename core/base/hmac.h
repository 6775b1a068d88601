/* hmac.h -- HMAC-SHA256 (RFC 2104) and SHA-256, for the relay frames'
 * tags (core/protocol/relay_proto.h), the doorbells between hosts (core/ipc/netbell.c)
 * and API key hashes (core/gate/apikey.c). Thread-safe; no allocation kept. */
#ifndef AIF_HMAC_H
#define AIF_HMAC_H

#include <stddef.h>

#define AIF_HMAC_LEN	32

/* HMAC-SHA256(key, a | b) into out; b may be NULL when blen is 0. A key of any length
 * (over 64 bytes it is hashed first, as the RFC says). Returns 0 or -1. */
int	aif_hmac_sha256(const unsigned char *key, size_t keylen, const void *a, size_t alen,
	    const void *b, size_t blen, unsigned char out[AIF_HMAC_LEN]);

/* SHA-256(a) into out. Returns 0 or -1. */
int	aif_sha256(const void *a, size_t alen, unsigned char out[AIF_HMAC_LEN]);

#endif
