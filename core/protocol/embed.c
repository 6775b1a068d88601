/* embed.c -- float32 little-endian base64 encoding of embeddings; see embed.h. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "embed.h"

#define EMBED_DIM_MAX	65536

int
aif_embed_wants_base64(const char *request_json)
{
	json_t *req = json_loads(request_json, 0, NULL);
	json_t *f = json_object_get(req, "encoding_format");
	int yes = json_is_string(f) && strcmp(json_string_value(f), "base64") == 0;

	json_decref(req);
	return yes;
}

static void
put_le32(unsigned char *p, float f)
{
	uint32_t u;

	memcpy(&u, &f, sizeof(u));
	p[0] = (unsigned char)(u & 0xff);
	p[1] = (unsigned char)((u >> 8) & 0xff);
	p[2] = (unsigned char)((u >> 16) & 0xff);
	p[3] = (unsigned char)((u >> 24) & 0xff);
}

enum aif_err
aif_embed_to_base64(json_t *response)
{
	json_t *data = json_object_get(response, "data"), *item;
	size_t i;

	json_array_foreach(data, i, item) {
		json_t *vec = json_object_get(item, "embedding"), *x;
		size_t n = json_array_size(vec), k;
		unsigned char *raw;
		char *b64;

		if (!json_is_array(vec) || n > EMBED_DIM_MAX)
			return AIF_INVALID;
		raw = malloc(n * 4 + 1);
		b64 = malloc(((n * 4 + 2) / 3) * 4 + 1);
		if (raw == NULL || b64 == NULL) {
			free(raw);
			free(b64);
			return AIF_NOMEM;
		}
		json_array_foreach(vec, k, x) {
			if (!json_is_number(x)) {
				free(raw);
				free(b64);
				return AIF_INVALID;
			}
			put_le32(raw + 4 * k, (float)json_number_value(x));
		}
		EVP_EncodeBlock((unsigned char *)b64, raw, (int)(n * 4));
		free(raw);
		if (json_object_set_new(item, "embedding", json_string(b64)) != 0) {
			free(b64);
			return AIF_NOMEM;
		}
		free(b64);
	}
	return AIF_OK;
}
