/* relay_proto.c -- the keys and tags of relay frames; see relay_proto.h. */
#include <stdlib.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "relay_proto.h"

#define KEY_LABEL	"aif-relay-v1"

void
aif_relay_key(const unsigned char secret[AIF_RELAY_SECRET_BYTES], uint64_t job,
    uint32_t attempt, unsigned char key[AIF_RELAY_KEY_LEN])
{
	unsigned char msg[sizeof(KEY_LABEL) - 1 + 12];
	unsigned int n = AIF_RELAY_KEY_LEN;

	memcpy(msg, KEY_LABEL, sizeof(KEY_LABEL) - 1);
	for (int i = 0; i < 8; i++)
		msg[sizeof(KEY_LABEL) - 1 + i] = (unsigned char)(job >> (8 * i));
	aif_relay_put_u32(msg + sizeof(KEY_LABEL) - 1 + 8, attempt);
	if (HMAC(EVP_sha256(), secret, AIF_RELAY_SECRET_BYTES, msg, sizeof(msg), key,
	    &n) == NULL)
		memset(key, 0, AIF_RELAY_KEY_LEN);	/* verifies nothing real */
}

/* HMAC-SHA256(key, signed header | payload) into out (32 bytes); one-shot HMAC over a
 * copy (frames are small: chunks of a stream). */
static int
mac(const unsigned char key[AIF_RELAY_KEY_LEN], const struct aif_relay_header *h,
    const void *payload, unsigned char out[32])
{
	unsigned char small[AIF_RELAY_SIGNED + 4096], *buf = small;
	size_t n = AIF_RELAY_SIGNED + (size_t)h->len;
	unsigned int olen = 32;
	int rc = 0;

	if (h->len > AIF_RELAY_PAYLOAD_MAX)
		return -1;
	if (n > sizeof(small) && (buf = malloc(n)) == NULL)
		return -1;
	aif_relay_put_signed(buf, h);
	if (h->len > 0)
		memcpy(buf + AIF_RELAY_SIGNED, payload, h->len);
	if (HMAC(EVP_sha256(), key, AIF_RELAY_KEY_LEN, buf, n, out, &olen) == NULL)
		rc = -1;
	if (buf != small)
		free(buf);
	return rc;
}

void
aif_relay_sign(const unsigned char key[AIF_RELAY_KEY_LEN], struct aif_relay_header *h,
    const void *payload)
{
	unsigned char full[32];

	if (mac(key, h, payload, full) != 0)
		memset(full, 0, sizeof(full));
	memcpy(h->tag, full, AIF_RELAY_TAG_LEN);
}

int
aif_relay_verify(const unsigned char key[AIF_RELAY_KEY_LEN],
    const struct aif_relay_header *h, const void *payload)
{
	unsigned char full[32];

	if (mac(key, h, payload, full) != 0)
		return 0;
	return CRYPTO_memcmp(full, h->tag, AIF_RELAY_TAG_LEN) == 0;
}
