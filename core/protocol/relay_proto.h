/* relay_proto.h -- the stream relay between a worker and the aif-api process waiting for a
 * streamed job: a Unix stream socket next to the aif-api doorbell (`api-<pid>.relay`
 * beside `api-<pid>.sock`), carrying frames
 *     u64 job id | u32 type | u32 payload length | u32 attempt | 16-byte tag | payload
 * (little-endian). The tag is an HMAC of the rest under the attempt's key (derived
 * from the job's random relay_secret, aif_relay_key): a frame proves it comes from the
 * holder of that attempt, whatever socket carried it, so a relay across hosts can use
 * the same frames. Both ends also check that the peer of a local socket runs as their
 * own user.
 * worker -> aif-api: BEGIN (an attempt starts streaming; {"attempt":n}), CHUNK (one
 * canonical OpenAI chunk, JSON), RESULT (a piece of a synchronous answer the database
 * does not keep: zero retention), END (the job is final and committed:
 * {"status":200,"id","created","model","usage":{...}} or {"status":N,"error":{...}});
 * aif-api -> worker: CANCEL (the client went away and the policy says cancel), PAUSE
 * and RESUME (flow control of one stream: its client reads slower than the engine
 * writes).
 * The database still holds the truth: a lost relay only degrades a stream. */
#ifndef AIF_RELAY_PROTO_H
#define AIF_RELAY_PROTO_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "apierr.h"
#include "hmac.h"

#define AIF_RELAY_BEGIN		1
#define AIF_RELAY_CHUNK		2
#define AIF_RELAY_END		3
#define AIF_RELAY_CANCEL	4
#define AIF_RELAY_PAUSE		5	/* aif-api -> worker: the client reads slower than
					   the engine writes; stop reading the engine */
#define AIF_RELAY_RESUME	6	/* aif-api -> worker: the client caught up */
#define AIF_RELAY_RESULT	7	/* worker -> aif-api: a piece of a synchronous
					   answer that is not stored (zero retention),
					   before its END */

#define AIF_RELAY_HELLO		8	/* worker -> aif-api, first on a TCP connection:
					   job 0, a sealed "relay" (netbell.h) as payload,
					   no tag */

#define AIF_RELAY_SIGNED	20	/* job, type, length, attempt: what the tag covers
					   with the payload */
#define AIF_RELAY_TAG_LEN	16
#define AIF_RELAY_HEADER	(AIF_RELAY_SIGNED + AIF_RELAY_TAG_LEN)
#define AIF_RELAY_PAYLOAD_MAX	(1u << 20)
#define AIF_RELAY_ANSWER_MAX	(64u << 10)	/* a sync answer (not zero-retention)
						   relayed whole at most; a larger one
						   is read from its row */
#define AIF_RELAY_SECRET_BYTES	16	/* the job's relay_secret */
#define AIF_RELAY_KEY_LEN	32

/* One frame's header. */
struct aif_relay_header {
	uint64_t	 job;
	uint32_t	 type;
	uint32_t	 len;
	uint32_t	 attempt;
	unsigned char	 tag[AIF_RELAY_TAG_LEN];
};

static inline void
aif_relay_put_u32(unsigned char *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static inline uint32_t
aif_relay_get_u32(const unsigned char *p)
{
	uint32_t v = 0;

	for (int i = 0; i < 4; i++)
		v |= (uint32_t)p[i] << (8 * i);
	return v;
}

static inline void
aif_relay_put_u64(unsigned char *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static inline uint64_t
aif_relay_get_u64(const unsigned char *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

/* Writes the AIF_RELAY_SIGNED bytes of h (without its tag) at p. */
static inline void
aif_relay_put_signed(unsigned char *p, const struct aif_relay_header *h)
{
	aif_relay_put_u64(p, h->job);
	aif_relay_put_u32(p + 8, h->type);
	aif_relay_put_u32(p + 12, h->len);
	aif_relay_put_u32(p + 16, h->attempt);
}

static inline void
aif_relay_put_header(unsigned char *p, const struct aif_relay_header *h)
{
	aif_relay_put_signed(p, h);
	memcpy(p + AIF_RELAY_SIGNED, h->tag, AIF_RELAY_TAG_LEN);
}

static inline void
aif_relay_get_header(const unsigned char *p, struct aif_relay_header *h)
{
	h->job = aif_relay_get_u64(p);
	h->type = aif_relay_get_u32(p + 8);
	h->len = aif_relay_get_u32(p + 12);
	h->attempt = aif_relay_get_u32(p + 16);
	memcpy(h->tag, p + AIF_RELAY_SIGNED, AIF_RELAY_TAG_LEN);
}

/* The key of one attempt of a job: HMAC-SHA256(secret, "aif-relay-v1" | job | attempt),
 * where secret is the job's random relay_secret (only the aif-api that waits and the
 * worker that claimed the attempt read it); not derivable from ids or lease tokens. */
void	aif_relay_key(const unsigned char secret[AIF_RELAY_SECRET_BYTES], uint64_t job,
	    uint32_t attempt, unsigned char key[AIF_RELAY_KEY_LEN]);

/* Sets h->tag: HMAC-SHA256(key, the signed header bytes | payload), truncated. */
void	aif_relay_sign(const unsigned char key[AIF_RELAY_KEY_LEN], struct aif_relay_header *h,
	    const void *payload);

/* 1 when h->tag is the tag of h and payload under key (constant-time compare). */
int	aif_relay_verify(const unsigned char key[AIF_RELAY_KEY_LEN],
	    const struct aif_relay_header *h, const void *payload);

/* The END frame's payload: the job is final and committed. */
#define AIF_RELAY_END_ID_MAX	96
#define AIF_RELAY_END_MODEL_MAX	256
struct aif_relay_end {
	int		 status;	/* 200, or the status of the client's error */
	/* status 200: what the stream's last chunks carry */
	char		 id[AIF_RELAY_END_ID_MAX];
	int64_t		 created;
	char		 model[AIF_RELAY_END_MODEL_MAX];
	int64_t		 prompt_tokens, completion_tokens;
	int64_t		 chunks;	/* CHUNK frames the sender relayed; -1: not said */
	int64_t		 bytes;		/* RESULT bytes of a synchronous answer; -1 */
	/* otherwise: the error the client gets */
	struct aif_error error;
};

/* END of a stream that succeeded: {"status":200,"id","created","model","usage":{...},
 * "chunks":N} (strings borrowed), N the CHUNK frames of the attempt the sender relayed:
 * a receiver that applied fewer lost some and must not end the stream as whole. New
 * string (free), *len its length; NULL on no memory. */
char	*aif_relay_end_ok(const char *id, int64_t created, const char *model,
	    int64_t prompt_tokens, int64_t completion_tokens, int64_t chunks, size_t *len);

/* END of a synchronous answer sent in RESULT pieces: {"status":200,"bytes":N}, N the
 * answer's length (a receiver holding another length lost a piece). As above. */
char	*aif_relay_end_result(size_t bytes, size_t *len);

/* END of a job that failed: {"status":N,"error":{"message","type","param":null,
 * "code"}} of e (borrowed; an empty code is null). New string, as above. */
char	*aif_relay_end_error(const struct aif_error *e, size_t *len);

/* Reads an END payload (len bytes, borrowed) into *end: status 200 with its fields
 * (strings cut to fit), or the error (status below 400: 502; no type, no message: the
 * job_failed row's). Returns 0, or -1 when the payload is no END (then *end holds that
 * 502 error). */
int	aif_relay_end_parse(const char *payload, size_t len, struct aif_relay_end *end);

/* Writes the relay address for a doorbell address into out (cap bytes): the socket
 * path beside a Unix one ("x.sock" -> "x.relay", else "<path>.relay"), TCP on the same
 * host and port for a UDP one ("udp:h:p" -> "tcp:h:p"). Returns 0, or -1 if it does
 * not fit. */
static inline int
aif_relay_path(const char *doorbell, char *out, size_t cap)
{
	size_t n = strlen(doorbell);

	if (strncmp(doorbell, "udp:", 4) == 0) {
		if (n + 1 > cap)
			return -1;
		memcpy(out, "tcp:", 4);
		memcpy(out + 4, doorbell + 4, n - 3);
		return 0;
	}
	if (n >= 5 && strcmp(doorbell + n - 5, ".sock") == 0)
		n -= 5;
	if (n + 7 > cap)
		return -1;
	memcpy(out, doorbell, n);
	memcpy(out + n, ".relay", 7);
	return 0;
}

#endif
