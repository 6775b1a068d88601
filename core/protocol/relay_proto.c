/* relay_proto.c -- the keys and tags of relay frames, and the END payload; see
 * relay_proto.h. Tags are HMAC-SHA256 computed incrementally over the header and the
 * payload where they lie (no copy of a frame to sign or check it). */
#include <stdlib.h>

#include <jansson.h>
#include <openssl/crypto.h>

#include "relay_proto.h"
#include "util.h"

#define KEY_LABEL	"aif-relay-v1"

void
aif_relay_key(const unsigned char secret[AIF_RELAY_SECRET_BYTES], uint64_t job,
    uint32_t attempt, unsigned char key[AIF_RELAY_KEY_LEN])
{
	unsigned char msg[sizeof(KEY_LABEL) - 1 + 12], full[AIF_HMAC_LEN];

	memcpy(msg, KEY_LABEL, sizeof(KEY_LABEL) - 1);
	for (int i = 0; i < 8; i++)
		msg[sizeof(KEY_LABEL) - 1 + i] = (unsigned char)(job >> (8 * i));
	aif_relay_put_u32(msg + sizeof(KEY_LABEL) - 1 + 8, attempt);
	if (aif_hmac_sha256(secret, AIF_RELAY_SECRET_BYTES, msg, sizeof(msg), NULL, 0,
	    full) != 0)
		memset(full, 0, sizeof(full));	/* verifies nothing real */
	memcpy(key, full, AIF_RELAY_KEY_LEN);
}

/* HMAC-SHA256(key, signed header | payload) into out. */
static int
mac(const unsigned char key[AIF_RELAY_KEY_LEN], const struct aif_relay_header *h,
    const void *payload, unsigned char out[AIF_HMAC_LEN])
{
	unsigned char hdr[AIF_RELAY_SIGNED];

	if (h->len > AIF_RELAY_PAYLOAD_MAX)
		return -1;
	aif_relay_put_signed(hdr, h);
	return aif_hmac_sha256(key, AIF_RELAY_KEY_LEN, hdr, sizeof(hdr), payload, h->len, out);
}

void
aif_relay_sign(const unsigned char key[AIF_RELAY_KEY_LEN], struct aif_relay_header *h,
    const void *payload)
{
	unsigned char full[AIF_HMAC_LEN];

	if (mac(key, h, payload, full) != 0)
		memset(full, 0, sizeof(full));
	memcpy(h->tag, full, AIF_RELAY_TAG_LEN);
}

int
aif_relay_verify(const unsigned char key[AIF_RELAY_KEY_LEN],
    const struct aif_relay_header *h, const void *payload)
{
	unsigned char full[AIF_HMAC_LEN];

	if (mac(key, h, payload, full) != 0)
		return 0;
	return CRYPTO_memcmp(full, h->tag, AIF_RELAY_TAG_LEN) == 0;
}

/* ---- END ------------------------------------------------------------------------- */

/* o serialised compactly (new, *len its length) and released; NULL on no memory. */
static char *
dump(json_t *o, size_t *len)
{
	char *text = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;

	json_decref(o);
	*len = text != NULL ? strlen(text) : 0;
	return text;
}

char *
aif_relay_end_ok(const char *id, int64_t created, const char *model, int64_t prompt,
    int64_t completion, int64_t chunks, size_t *len)
{
	return dump(json_pack("{s:i,s:s,s:I,s:s,s:{s:I,s:I,s:I},s:I}", "status", 200,
	    "id", id, "created", (json_int_t)created, "model", model, "usage",
	    "prompt_tokens", (json_int_t)prompt, "completion_tokens",
	    (json_int_t)completion, "total_tokens",
	    (json_int_t)aif_sat_add(prompt, completion), "chunks", (json_int_t)chunks), len);
}

char *
aif_relay_end_result(size_t bytes, size_t *len)
{
	return dump(json_pack("{s:i,s:I}", "status", 200, "bytes", (json_int_t)bytes), len);
}

/* Integer member key of o, or -1 when it is not a non-negative integer. */
static int64_t
count_of(const json_t *o, const char *key)
{
	const json_t *v = json_object_get(o, key);

	return json_is_integer(v) && json_integer_value(v) >= 0 ? json_integer_value(v) : -1;
}

char *
aif_relay_end_error(const struct aif_error *e, size_t *len)
{
	return dump(json_pack("{s:i,s:{s:s,s:s,s:n,s:o}}", "status", e->status, "error",
	    "message", e->message, "type", e->type, "param", "code",
	    e->code[0] ? json_string(e->code) : json_null()), len);
}

/* Copies string member `key` of o into dst (cap bytes); "" when it is none. */
static void
copy_string(char *dst, size_t cap, const json_t *o, const char *key)
{
	const char *v = json_string_value(json_object_get(o, key));

	aif_strlcpy(dst, v != NULL ? v : "", cap);
}

int
aif_relay_end_parse(const char *payload, size_t len, struct aif_relay_end *end)
{
	json_t *o = json_loadb(payload, len, 0, NULL);
	const json_t *u, *e;
	json_int_t status = json_integer_value(json_object_get(o, "status"));
	const char *type, *message;
	int rc = json_is_integer(json_object_get(o, "status")) ? 0 : -1;

	memset(end, 0, sizeof(*end));
	end->chunks = end->bytes = -1;
	if (status == 200) {
		end->status = 200;
		copy_string(end->id, sizeof(end->id), o, "id");
		copy_string(end->model, sizeof(end->model), o, "model");
		end->created = json_integer_value(json_object_get(o, "created"));
		u = json_object_get(o, "usage");
		end->prompt_tokens = json_integer_value(json_object_get(u, "prompt_tokens"));
		end->completion_tokens =
		    json_integer_value(json_object_get(u, "completion_tokens"));
		end->chunks = count_of(o, "chunks");
		end->bytes = count_of(o, "bytes");
	} else {
		e = json_object_get(o, "error");
		type = json_string_value(json_object_get(e, "type"));
		message = json_string_value(json_object_get(e, "message"));
		aif_error_set(&end->error, status >= 400 ? (int)status : 502,
		    type != NULL ? type : aif_apierr_type(AIF_E_JOB_FAILED),
		    json_string_value(json_object_get(e, "code")), NULL, "%s",
		    message != NULL ? message : aif_apierr_message(AIF_E_JOB_FAILED));
		end->status = end->error.status;
	}
	json_decref(o);
	return rc;
}
