/* bridge.c -- request bodies of the bridged surfaces; see bridge.h. */
#include <string.h>

#include "bridge.h"

/* Nesting depth of v (1 for a scalar), not looked at past max. */
static int
depth(const json_t *v, int max)
{
	const char *k;
	json_t *c;
	size_t i;
	int d = 0;

	if (max < 0)
		return 1;
	if (json_is_object(v))
		json_object_foreach((json_t *)v, k, c) {
			int x = depth(c, max - 1);
			d = x > d ? x : d;
		}
	else if (json_is_array(v))
		json_array_foreach(v, i, c) {
			int x = depth(c, max - 1);
			d = x > d ? x : d;
		}
	return d + 1;
}

json_t *
aif_bridge_load(const char *body, size_t len, size_t max_bytes, int max_depth,
    struct aif_error *err)
{
	json_error_t je;
	json_t *in;

	memset(err, 0, sizeof(*err));
	if (len > max_bytes) {
		aif_error_set(err, 413, "invalid_request_error", "request_too_large", NULL,
		    "The request body is larger than %zu bytes.", max_bytes);
		return NULL;
	}
	if ((in = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je)) == NULL) {
		aif_error_set(err, 400, "invalid_request_error", "invalid_json", NULL,
		    "The body is not valid JSON (UTF-8): %.200s at byte %d.", je.text,
		    je.position);
		return NULL;
	}
	if (!json_is_object(in) || depth(in, max_depth + 1) > max_depth) {
		json_decref(in);
		aif_error_set(err, 400, "invalid_request_error", "invalid_value", NULL,
		    "The body must be a JSON object nested at most %d deep.", max_depth);
		return NULL;
	}
	return in;
}
