/* test_embed.c -- unit tests of core/protocol/embed.c: when a request asks for base64
 * embeddings, and the base64 of float32 little-endian bytes that replaces each vector.
 * Expected strings were computed outside the code under test, with Python:
 *   base64.b64encode(struct.pack('<%df' % len(v), *v)) */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "embed.h"

/* ------------------------------------------------------------------ wants base64 */

static void
wants_base64_only_for_encoding_format_base64(void **state)
{
	static const struct {
		const char	*body;
		int		 want;
	} cases[] = {
		{ "{\"model\":\"e\",\"input\":\"hi\",\"encoding_format\":\"base64\"}", 1 },
		{ "{\"encoding_format\":\"base64\"}", 1 },
		{ "{\"model\":\"e\",\"input\":\"hi\",\"encoding_format\":\"float\"}", 0 },
		{ "{\"model\":\"e\",\"input\":\"hi\"}", 0 },			/* absent */
		{ "{\"encoding_format\":null}", 0 },
		{ "{\"encoding_format\":1}", 0 },
		{ "{\"encoding_format\":[\"base64\"]}", 0 },
		{ "{\"encoding_format\":\"base64 \"}", 0 },
		{ "{\"encoding_format\":\"BASE64\"}", 0 },
		{ "{\"input\":{\"encoding_format\":\"base64\"}}", 0 },	/* not top level */
		{ "[\"encoding_format\",\"base64\"]", 0 },
		/* invalid JSON */
		{ "", 0 },
		{ "{\"encoding_format\":\"base64\"", 0 },
		{ "{\"encoding_format\":\"base64\",}", 0 },
		{ "encoding_format=base64", 0 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		if (aif_embed_wants_base64(cases[i].body) != cases[i].want)
			fail_msg("%s: got %d, want %d", cases[i].body,
			    aif_embed_wants_base64(cases[i].body), cases[i].want);
}

/* ------------------------------------------------------------------ to base64 */

/* Parses `json` (an embeddings list); fails the test when it is not JSON. */
static json_t *
response(const char *json)
{
	json_t *r = json_loads(json, 0, NULL);

	if (r == NULL)
		fail_msg("bad JSON in the test: %s", json);
	return r;
}

static const char *
embedding_of(const json_t *resp, size_t i)
{
	return json_string_value(json_object_get(json_array_get(json_object_get(resp,
	    "data"), i), "embedding"));
}

/* 1.0 = 0x3f800000, -2.5 = 0xc0200000, 0.0 = 0: bytes 00 00 80 3f 00 00 20 c0 00 00
 * 00 00, base64 "AACAPwAAIMAAAAAA". */
static void
base64_is_float32_little_endian(void **state)
{
	json_t *r = response("{\"object\":\"list\",\"data\":[{\"object\":\"embedding\","
	    "\"index\":0,\"embedding\":[1.0,-2.5,0.0]}],\"model\":\"demo-embed\","
	    "\"usage\":{\"prompt_tokens\":2,\"total_tokens\":2}}");
	json_t *want = response("{\"object\":\"list\",\"data\":[{\"object\":\"embedding\","
	    "\"index\":0,\"embedding\":\"AACAPwAAIMAAAAAA\"}],\"model\":\"demo-embed\","
	    "\"usage\":{\"prompt_tokens\":2,\"total_tokens\":2}}");

	(void)state;
	assert_int_equal(aif_embed_to_base64(r), AIF_OK);
	/* the vector is replaced, everything else is as it was */
	if (!json_equal(r, want))
		fail_msg("got %s", json_dumps(r, JSON_COMPACT));
	json_decref(r);
	json_decref(want);
}

/* Numbers are rounded to float32, not sent as doubles: 0.1 is 0x3dcccccd (4 bytes);
 * JSON integers are numbers too. */
static void
base64_rounds_to_float32_and_takes_integers(void **state)
{
	json_t *r = response("{\"data\":[{\"index\":0,\"embedding\":[0.1]},"
	    "{\"index\":1,\"embedding\":[1,2]}]}");

	(void)state;
	assert_int_equal(aif_embed_to_base64(r), AIF_OK);
	assert_string_equal(embedding_of(r, 0), "zczMPQ==");
	assert_string_equal(embedding_of(r, 1), "AACAPwAAAEA=");
	json_decref(r);
}

static void
every_data_item_is_encoded(void **state)
{
	json_t *r = response("{\"object\":\"list\",\"data\":["
	    "{\"object\":\"embedding\",\"index\":0,\"embedding\":[1.0,-2.5,0.0]},"
	    "{\"object\":\"embedding\",\"index\":1,\"embedding\":[0.5,-0.25,1.0,0.0]},"
	    "{\"object\":\"embedding\",\"index\":2,\"embedding\":[0.1]}]}");

	(void)state;
	assert_int_equal(aif_embed_to_base64(r), AIF_OK);
	assert_string_equal(embedding_of(r, 0), "AACAPwAAIMAAAAAA");
	assert_string_equal(embedding_of(r, 1), "AAAAPwAAgL4AAIA/AAAAAA==");
	assert_string_equal(embedding_of(r, 2), "zczMPQ==");
	for (size_t i = 0; i < 3; i++)
		assert_int_equal(json_integer_value(json_object_get(json_array_get(
		    json_object_get(r, "data"), i), "index")), i);
	json_decref(r);
}

static void
empty_embedding_is_the_empty_string(void **state)
{
	json_t *r = response("{\"data\":[{\"index\":0,\"embedding\":[]}]}");

	(void)state;
	assert_int_equal(aif_embed_to_base64(r), AIF_OK);
	assert_non_null(embedding_of(r, 0));
	assert_string_equal(embedding_of(r, 0), "");
	json_decref(r);
}

/* An embedding that is not an array of numbers is AIF_INVALID, and that item is left
 * as it was. */
static void
embedding_not_an_array_of_numbers_is_invalid(void **state)
{
	static const char *const bad[] = {
		"\"AACAPwAAIMAAAAAA\"",		/* already base64 */
		"null",
		"1.0",
		"{\"0\":1.0}",
		"[1.0,\"2\"]",
		"[1.0,null]",
		"[1.0,[2.0]]",
		"[true]",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char text[256];
		json_t *r, *before;

		snprintf(text, sizeof(text), "{\"data\":[{\"index\":0,\"embedding\":%s}]}",
		    bad[i]);
		r = response(text);
		before = json_deep_copy(r);
		if (aif_embed_to_base64(r) != AIF_INVALID)
			fail_msg("accepted %s", bad[i]);
		if (!json_equal(r, before))
			fail_msg("%s: changed to %s", bad[i], json_dumps(r, JSON_COMPACT));
		json_decref(before);
		json_decref(r);
	}
}

static void
item_without_embedding_is_invalid(void **state)
{
	json_t *r = response("{\"data\":[{\"index\":0,\"object\":\"embedding\"}]}");

	(void)state;
	assert_int_equal(aif_embed_to_base64(r), AIF_INVALID);
	assert_null(json_object_get(json_array_get(json_object_get(r, "data"), 0),
	    "embedding"));
	json_decref(r);
}

/* A bad item stops the encoding there: it and the items after it are unchanged. */
static void
bad_item_leaves_itself_and_later_items_unchanged(void **state)
{
	json_t *r = response("{\"data\":[{\"index\":0,\"embedding\":[1.0]},"
	    "{\"index\":1,\"embedding\":[1.0,\"x\"]},{\"index\":2,\"embedding\":[2.0]}]}");
	json_t *want1 = response("[1.0,\"x\"]"), *want2 = response("[2.0]");

	(void)state;
	assert_int_equal(aif_embed_to_base64(r), AIF_INVALID);
	assert_true(json_equal(json_object_get(json_array_get(json_object_get(r, "data"), 1),
	    "embedding"), want1));
	assert_true(json_equal(json_object_get(json_array_get(json_object_get(r, "data"), 2),
	    "embedding"), want2));
	json_decref(want1);
	json_decref(want2);
	json_decref(r);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(wants_base64_only_for_encoding_format_base64),
		cmocka_unit_test(base64_is_float32_little_endian),
		cmocka_unit_test(base64_rounds_to_float32_and_takes_integers),
		cmocka_unit_test(every_data_item_is_encoded),
		cmocka_unit_test(empty_embedding_is_the_empty_string),
		cmocka_unit_test(embedding_not_an_array_of_numbers_is_invalid),
		cmocka_unit_test(item_without_embedding_is_invalid),
		cmocka_unit_test(bad_item_leaves_itself_and_later_items_unchanged),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
