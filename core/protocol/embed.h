/* embed.h -- embeddings helpers: the official SDKs ask for `encoding_format: base64` by
 * default and decode little-endian float32, so the gateway asks engines for floats and
 * encodes the vectors itself when the client wanted base64. */
#ifndef AIF_EMBED_H
#define AIF_EMBED_H

#include <jansson.h>

#include "err.h"

/* Returns 1 when the request body (borrowed JSON text) asks for base64 embeddings. */
int		aif_embed_wants_base64(const char *request_json);

/* Replaces every data[i].embedding array of numbers in `response` (an OpenAI
 * embeddings list, borrowed and modified in place) by the base64 of its float32
 * little-endian bytes. AIF_INVALID when an embedding is not an array of numbers (the
 * response is then unchanged up to that item), AIF_NOMEM. */
enum aif_err	aif_embed_to_base64(json_t *response);

#endif
