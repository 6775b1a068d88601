/* hmac.c -- HMAC-SHA256 and SHA-256 over OpenSSL's SHA-256 fetched once per process;
 * see hmac.h. */
#include <pthread.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "hmac.h"

/* HMAC-SHA256 as RFC 2104 defines it, over OpenSSL's SHA-256 fetched once per process
 * (fetching is a locked lookup): H((K ^ opad) | H((K ^ ipad) | a | b)). OpenSSL's
 * EVP_MAC does the same but sets itself up again at every call, three times slower. */
#define BLOCK	64	/* SHA-256's block */

static EVP_MD *sha256;
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;

static void
sha256_fetch(void)
{
	sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
}

int
aif_hmac_sha256(const unsigned char *key, size_t keylen, const void *a, size_t alen,
    const void *b, size_t blen, unsigned char out[AIF_HMAC_LEN])
{
	unsigned char pad[BLOCK], inner[AIF_HMAC_LEN];
	unsigned int n = 0;
	EVP_MD_CTX *ctx;
	int ok;

	(void)pthread_once(&sha256_once, sha256_fetch);
	if (sha256 == NULL || (ctx = EVP_MD_CTX_new()) == NULL)
		return -1;
	memset(pad, 0, sizeof(pad));
	ok = 1;
	if (keylen > BLOCK)	/* a long key is its digest */
		ok = EVP_Digest(key, keylen, pad, &n, sha256, NULL);
	else if (keylen > 0)
		memcpy(pad, key, keylen);
	for (size_t i = 0; i < BLOCK; i++)
		pad[i] ^= 0x36;
	ok = ok && EVP_DigestInit_ex2(ctx, sha256, NULL) &&
	    EVP_DigestUpdate(ctx, pad, BLOCK) && EVP_DigestUpdate(ctx, a, alen) &&
	    (blen == 0 || EVP_DigestUpdate(ctx, b, blen)) &&
	    EVP_DigestFinal_ex(ctx, inner, &n) && n == AIF_HMAC_LEN;
	for (size_t i = 0; i < BLOCK; i++)
		pad[i] ^= 0x36 ^ 0x5c;
	ok = ok && EVP_DigestInit_ex2(ctx, sha256, NULL) &&
	    EVP_DigestUpdate(ctx, pad, BLOCK) &&
	    EVP_DigestUpdate(ctx, inner, AIF_HMAC_LEN) &&
	    EVP_DigestFinal_ex(ctx, out, &n) && n == AIF_HMAC_LEN;
	EVP_MD_CTX_free(ctx);
	OPENSSL_cleanse(pad, sizeof(pad));
	OPENSSL_cleanse(inner, sizeof(inner));
	return ok ? 0 : -1;
}

int
aif_sha256(const void *a, size_t alen, unsigned char out[AIF_HMAC_LEN])
{
	unsigned int n = 0;

	(void)pthread_once(&sha256_once, sha256_fetch);
	return sha256 != NULL && EVP_Digest(a, alen, out, &n, sha256, NULL) == 1 &&
	    n == AIF_HMAC_LEN ? 0 : -1;
}
