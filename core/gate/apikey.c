/* apikey.c -- API key format, generation and hashing (see apikey.h for the format).
 * Keys are "aif_" + 32 base62 characters drawn without modulo bias from the OpenSSL
 * CSPRNG + 6 base62 digits of the CRC32 of those 32 characters. Only the hash of a key
 * is ever stored: HMAC-SHA256 keyed with the pepper, or SHA-256 without one.
 * Thread-safe: no state; the CRC32 is computed bit by bit (42 bytes, no table). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "apikey.h"
#include "hmac.h"

#define BASE62_ALPHABET	"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
#define BEARER_MAX	512	/* longest Authorization value we look at */
#define RAND_TRIES	16	/* refills of the random pool before giving up */

static const char base62[] = BASE62_ALPHABET;

/* Returns the base62 value of `c` (0..61), or -1 when `c` is not in the alphabet.
 * Written out rather than looked up so that it does not depend on the locale. */
static int
base62_value(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'Z')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 36;
	return -1;
}

/* Standard CRC-32 (IEEE 802.3, reflected, polynomial 0xEDB88320, init and final xor
 * 0xFFFFFFFF): crc32("123456789") == 0xCBF43926. */
static uint32_t
crc32_ieee(const unsigned char *p, size_t len)
{
	uint32_t crc = 0xFFFFFFFFu;
	size_t	 i;
	int	 bit;

	for (i = 0; i < len; i++) {
		crc ^= p[i];
		for (bit = 0; bit < 8; bit++)
			crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
	}
	return crc ^ 0xFFFFFFFFu;
}

/* Writes `v` as AIF_KEY_CHECK_LEN base62 digits, most significant first, zero-padded.
 * 62^6 > 2^32, so every CRC32 fits. */
static void
checksum_encode(uint32_t v, char out[AIF_KEY_CHECK_LEN])
{
	int i;

	for (i = AIF_KEY_CHECK_LEN - 1; i >= 0; i--) {
		out[i] = base62[v % 62];
		v /= 62;
	}
}

enum aif_err
aif_apikey_generate(char out[AIF_KEY_LEN + 1])
{
	unsigned char	 pool[64];
	char		*random_part = out + sizeof(AIF_KEY_PREFIX) - 1;
	size_t		 have = 0, used = sizeof(pool);
	int		 tries = 0;
	enum aif_err	 rc = AIF_OK;

	memcpy(out, AIF_KEY_PREFIX, sizeof(AIF_KEY_PREFIX) - 1);
	while (have < AIF_KEY_RANDOM_LEN) {
		if (used == sizeof(pool)) {
			if (tries++ == RAND_TRIES ||
			    RAND_bytes(pool, (int)sizeof(pool)) != 1) {
				rc = AIF_IO;
				goto out;
			}
			used = 0;
		}
		/* 248 = 4 * 62: bytes 248..255 are dropped so every character is
		 * equally likely. */
		if (pool[used] < 248)
			random_part[have++] = base62[pool[used] % 62];
		used++;
	}
	checksum_encode(crc32_ieee((const unsigned char *)random_part,
	    AIF_KEY_RANDOM_LEN), random_part + AIF_KEY_RANDOM_LEN);
	out[AIF_KEY_LEN] = '\0';
out:
	OPENSSL_cleanse(pool, sizeof(pool));
	if (rc != AIF_OK)
		OPENSSL_cleanse(out, AIF_KEY_LEN + 1);	/* leaves "" */
	return rc;
}

int
aif_apikey_well_formed(const char *key, size_t len)
{
	const size_t	 plen = sizeof(AIF_KEY_PREFIX) - 1;
	const char	*random_part;
	uint32_t	 check = 0;
	size_t		 i;
	int		 v;

	if (key == NULL || len != AIF_KEY_LEN ||
	    memcmp(key, AIF_KEY_PREFIX, plen) != 0)
		return 0;
	random_part = key + plen;
	for (i = 0; i < AIF_KEY_RANDOM_LEN; i++)
		if (base62_value((unsigned char)random_part[i]) < 0)
			return 0;
	for (i = 0; i < AIF_KEY_CHECK_LEN; i++) {
		v = base62_value((unsigned char)random_part[AIF_KEY_RANDOM_LEN + i]);
		if (v < 0)
			return 0;
		/* 62^6 - 1 overflows 32 bits: anything above UINT32_MAX is wrong. */
		if (check > (UINT32_MAX - (uint32_t)v) / 62)
			return 0;
		check = check * 62 + (uint32_t)v;
	}
	return check == crc32_ieee((const unsigned char *)random_part,
	    AIF_KEY_RANDOM_LEN);
}

void
aif_apikey_hash(const unsigned char *pepper, size_t pepper_len, const char *key,
    size_t len, unsigned char out[AIF_KEY_HASH_LEN])
{
	int ok = pepper_len > 0 ?
	    aif_hmac_sha256(pepper, pepper_len, key, len, NULL, 0, out) == 0 :
	    aif_sha256(key, len, out) == 0;

	if (!ok) {
		/* Only an allocation failure inside OpenSSL gets here. Any output we
		 * could invent (zeros, say) might equal a stored hash made the same way,
		 * so fail closed rather than authenticate on it. */
		fputs("aif_apikey_hash: SHA-256/HMAC failed, aborting\n", stderr);
		abort();
	}
}

int
aif_apikey_hash_equal(const unsigned char a[AIF_KEY_HASH_LEN],
    const unsigned char b[AIF_KEY_HASH_LEN])
{
	return CRYPTO_memcmp(a, b, AIF_KEY_HASH_LEN) == 0;
}

void
aif_apikey_display(const char *key, char out[AIF_KEY_DISPLAY_LEN + 1])
{
	size_t n = key == NULL ? 0 : strnlen(key, AIF_KEY_DISPLAY_LEN);

	memcpy(out, key == NULL ? "" : key, n);
	out[n] = '\0';
}


/* Returns 1 for optional whitespace around a header value (RFC 9110 OWS). */
static int
is_ows(char c)
{
	return c == ' ' || c == '\t';
}

const char *
aif_apikey_from_bearer(const char *header, size_t *len)
{
	static const char scheme[] = "bearer";
	size_t	 hlen, i, start, end;

	*len = 0;
	if (header == NULL)
		return NULL;
	hlen = strnlen(header, BEARER_MAX + 1);
	if (hlen > BEARER_MAX)
		return NULL;
	start = 0;
	end = hlen;
	while (start < end && is_ows(header[start]))
		start++;
	while (end > start && is_ows(header[end - 1]))
		end--;
	if (end - start < sizeof(scheme) - 1)
		return NULL;
	for (i = 0; i < sizeof(scheme) - 1; i++) {
		char c = header[start + i];

		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		if (c != scheme[i])
			return NULL;
	}
	start += sizeof(scheme) - 1;
	if (start == end || header[start] != ' ')
		return NULL;
	while (start < end && header[start] == ' ')
		start++;
	if (start == end)
		return NULL;
	/* The credential is one token: visible ASCII only, no inner whitespace. */
	for (i = start; i < end; i++)
		if ((unsigned char)header[i] <= 0x20 || (unsigned char)header[i] >= 0x7f)
			return NULL;
	*len = end - start;
	return header + start;
}
