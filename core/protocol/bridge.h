/* bridge.h -- what the API surfaces bridged through chat completions share
 * (anthropic.h, responses.h): a request body read within the gateway's bounds. The
 * chat request a bridge makes is then validated like any other (oai.h). Thread-safe;
 * no state. */
#ifndef AIF_BRIDGE_H
#define AIF_BRIDGE_H

#include <stddef.h>

#include <jansson.h>

#include "apierr.h"

/* The body (len bytes, borrowed) as a JSON object: a new reference, or NULL with *err
 * filled: 413 over max_bytes, 400 for invalid JSON or UTF-8, a duplicate key, no
 * object, or nesting deeper than max_depth. */
json_t	*aif_bridge_load(const char *body, size_t len, size_t max_bytes, int max_depth,
	    struct aif_error *err);

#endif
