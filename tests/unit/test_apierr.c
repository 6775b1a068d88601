/* test_apierr.c -- unit tests of core/protocol/apierr.c: every row of the error table is
 * well formed (a status of its class, a type, a message whose conversions are only %s
 * and as many as the row says), errors are filled from the table with their details,
 * a wrong number of details never reaches the message, and the OpenAI rendering. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "apierr.h"

/* Counts the %s / %.<n>s conversions of a template; -1 for any other conversion. */
static int
conversions(const char *t)
{
	int n = 0;

	for (const char *p = t; *p != '\0'; p++) {
		if (*p != '%')
			continue;
		p++;
		if (*p == '%')
			continue;
		if (*p == '.') {
			p++;
			if (*p < '0' || *p > '9')
				return -1;
			while (*p >= '0' && *p <= '9')
				p++;
		}
		if (*p != 's')
			return -1;
		n++;
	}
	return n;
}

/* The rows' names and codes, from the table itself (the enum follows its order). */
static const struct {
	const char	*name;
	const char	*code;
} rows[] = {
#define ROW(name, status, type, code, nargs, msg) { #name, code },
	AIF_APIERR_MAP(ROW)
#undef ROW
};

static void
every_row_is_well_formed(void **state)
{
	(void)state;
	assert_int_equal(sizeof(rows) / sizeof(rows[0]), AIF_E__COUNT);
	for (int e = 0; e < AIF_E__COUNT; e++) {
		int status = aif_apierr_status((enum aif_apierr)e);
		const char *name = rows[e].name;
		const char *msg = aif_apierr_message((enum aif_apierr)e);
		const char *type = aif_apierr_type((enum aif_apierr)e);
		if (status < 400 || status > 599)
			fail_msg("%s: status %d is not an error", name, status);
		if (type == NULL || type[0] == '\0' || strlen(type) >= 48)
			fail_msg("%s: no type, or too long", name);
		if (msg == NULL || msg[0] == '\0')
			fail_msg("%s: no message", name);
		if (conversions(msg) != (int)aif_apierr_nargs((enum aif_apierr)e))
			fail_msg("%s: the message has %d conversions, the row says %zu", name,
			    conversions(msg), aif_apierr_nargs((enum aif_apierr)e));
		if (rows[e].code != NULL && strlen(rows[e].code) >= 48)
			fail_msg("%s: code too long", name);
	}
}

static void
conversion_counter_sees_other_conversions(void **state)
{
	(void)state;
	assert_int_equal(conversions("a %s b %.12s c %%"), 2);
	assert_int_equal(conversions("%d"), -1);
	assert_int_equal(conversions("%zu"), -1);
	assert_int_equal(conversions("%.*s"), -1);
}

static void
an_error_is_filled_from_its_row(void **state)
{
	struct aif_error e;

	(void)state;
	AIF_ERROR(&e, AIF_E_MODEL_NOT_FOUND, "model", "gpt-x");
	assert_int_equal(e.status, 404);
	assert_string_equal(e.type, "invalid_request_error");
	assert_string_equal(e.code, "model_not_found");
	assert_string_equal(e.param, "model");
	assert_string_equal(e.message,
	    "The model 'gpt-x' does not exist or you do not have access to it.");
}

static void
an_error_without_details_has_null_param(void **state)
{
	struct aif_error e;

	(void)state;
	AIF_ERROR0(&e, AIF_E_DB_UNAVAILABLE, NULL);
	assert_int_equal(e.status, 503);
	assert_string_equal(e.code, "database_unavailable");
	assert_string_equal(e.param, "");
}

static void
a_detail_is_cut_at_its_precision(void **state)
{
	struct aif_error e;
	char long_id[300];

	(void)state;
	memset(long_id, 'x', sizeof(long_id) - 1);
	long_id[sizeof(long_id) - 1] = '\0';
	AIF_ERROR(&e, AIF_E_MODEL_FORBIDDEN, "model", long_id);
	/* "%.128s": at most 128 of the 299 bytes */
	assert_non_null(strstr(e.message, "'xxxx"));
	assert_int_equal(strlen(e.message),
	    strlen("Your key's role may not use the model ''.") + 128);
}

static void
a_detail_is_never_cut_inside_a_utf8_sequence(void **state)
{
	struct aif_error e;
	char korean[3 * 60 + 1] = "";

	(void)state;
	for (int i = 0; i < 60; i++)
		memcpy(korean + 3 * i, "\xea\xb0\x80", 4);	/* U+AC00, three bytes */
	/* "%.128s": 128 bytes would end inside the 43rd character: 42 are kept */
	AIF_ERROR(&e, AIF_E_MODEL_FORBIDDEN, "model", korean);
	assert_null(strchr(e.message, '?'));
	assert_int_equal(strlen(e.message),
	    strlen("Your key's role may not use the model ''.") + 42 * 3);
}

static void
a_wrong_number_of_details_keeps_the_text_without_them(void **state)
{
	struct aif_error e;
	const char *args[] = { "a", "b", "c" };

	(void)state;
	aif_error_from(&e, AIF_E_MODEL_NOT_FOUND, NULL, args, 3);
	assert_string_equal(e.message,
	    "The model '' does not exist or you do not have access to it.");
}

static void
invalid_utf8_in_a_detail_is_scrubbed(void **state)
{
	struct aif_error e;

	(void)state;
	AIF_ERROR(&e, AIF_E_MODEL_NOT_FOUND, "model", "bad\xff\xfe");
	assert_non_null(strstr(e.message, "'bad?" "?'"));
}

static void
set_formats_and_bounds_every_field(void **state)
{
	struct aif_error e;
	char big[1000];

	(void)state;
	memset(big, 'm', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	aif_error_set(&e, 418, "type", NULL, "p", "%s", big);
	assert_int_equal(e.status, 418);
	assert_string_equal(e.code, "");
	assert_int_equal(strlen(e.message), sizeof(e.message) - 1);
}

static void
openai_rendering_has_the_four_fields(void **state)
{
	struct aif_error e;
	json_t *o, *err;
	char *s;

	(void)state;
	AIF_ERROR(&e, AIF_E_RATE_LIMIT_TOKENS, NULL, "m", "API key", "10", "20", "1s");
	s = aif_error_render(&e, AIF_SURFACE_OPENAI);
	assert_non_null(s);
	o = json_loads(s, 0, NULL);
	assert_non_null(o);
	err = json_object_get(o, "error");
	assert_string_equal(json_string_value(json_object_get(err, "type")), "tokens");
	assert_string_equal(json_string_value(json_object_get(err, "code")),
	    "rate_limit_exceeded");
	assert_true(json_is_null(json_object_get(err, "param")));
	assert_string_equal(json_string_value(json_object_get(err, "message")),
	    "Rate limit reached for m on tokens per min (TPM) of your API key: Limit 10, "
	    "Requested 20. Please try again in 1s.");
	json_decref(o);
	free(s);
}

static void
reason_phrases(void **state)
{
	(void)state;
	assert_string_equal(aif_http_reason(429), "Too Many Requests");
	assert_string_equal(aif_http_reason(503), "Service Unavailable");
	assert_string_equal(aif_http_reason(799), "Unknown Status");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(every_row_is_well_formed),
		cmocka_unit_test(conversion_counter_sees_other_conversions),
		cmocka_unit_test(an_error_is_filled_from_its_row),
		cmocka_unit_test(an_error_without_details_has_null_param),
		cmocka_unit_test(a_detail_is_cut_at_its_precision),
		cmocka_unit_test(a_detail_is_never_cut_inside_a_utf8_sequence),
		cmocka_unit_test(a_wrong_number_of_details_keeps_the_text_without_them),
		cmocka_unit_test(invalid_utf8_in_a_detail_is_scrubbed),
		cmocka_unit_test(set_formats_and_bounds_every_field),
		cmocka_unit_test(openai_rendering_has_the_four_fields),
		cmocka_unit_test(reason_phrases),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
