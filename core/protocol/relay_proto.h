/* relay_proto.h -- the stream relay between a worker and the aif-api process waiting for a
 * streamed job: a Unix stream socket next to the aif-api doorbell (`api-<pid>.relay`
 * beside `api-<pid>.sock`), carrying frames
 *     u64 job id | u32 type | u32 payload length | payload   (little-endian)
 * worker -> aif-api: BEGIN (an attempt starts streaming; {"attempt":n}), CHUNK (one
 * canonical OpenAI chunk, JSON), END (the job is final and committed:
 * {"status":200,"id","created","model","usage":{...}} or {"status":N,"error":{...}});
 * aif-api -> worker: CANCEL (the client went away and the policy says cancel).
 * The database still holds the truth: a lost relay only degrades a stream. */
#ifndef AIF_RELAY_PROTO_H
#define AIF_RELAY_PROTO_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define AIF_RELAY_BEGIN		1
#define AIF_RELAY_CHUNK		2
#define AIF_RELAY_END		3
#define AIF_RELAY_CANCEL	4

#define AIF_RELAY_HEADER	16
#define AIF_RELAY_PAYLOAD_MAX	(1u << 20)

static inline void
aif_relay_put_header(unsigned char *h, uint64_t job, uint32_t type, uint32_t len)
{
	for (int i = 0; i < 8; i++)
		h[i] = (unsigned char)(job >> (8 * i));
	for (int i = 0; i < 4; i++) {
		h[8 + i] = (unsigned char)(type >> (8 * i));
		h[12 + i] = (unsigned char)(len >> (8 * i));
	}
}

static inline void
aif_relay_get_header(const unsigned char *h, uint64_t *job, uint32_t *type, uint32_t *len)
{
	*job = 0;
	*type = 0;
	*len = 0;
	for (int i = 0; i < 8; i++)
		*job |= (uint64_t)h[i] << (8 * i);
	for (int i = 0; i < 4; i++) {
		*type |= (uint32_t)h[8 + i] << (8 * i);
		*len |= (uint32_t)h[12 + i] << (8 * i);
	}
}

/* Writes the relay socket path for a doorbell path ("x.sock" -> "x.relay", else
 * "<path>.relay") into out (cap bytes). Returns 0, or -1 if it does not fit. */
static inline int
aif_relay_path(const char *doorbell, char *out, size_t cap)
{
	size_t n = strlen(doorbell);

	if (n >= 5 && strcmp(doorbell + n - 5, ".sock") == 0)
		n -= 5;
	if (n + 7 > cap)
		return -1;
	memcpy(out, doorbell, n);
	memcpy(out + n, ".relay", 7);
	return 0;
}

#endif
