/* test_span.c -- unit tests of core/protocol/span.c: a span is recorded only with a sink
 * and a sampled, valid context; its OTLP/JSON encoding (hex ids, decimal-string times
 * and integers, kind and status codes, parent, links, typed attributes); the export
 * body around encoded spans; GenAI operation names. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "span.h"

#define SELF	"00-4bf92f3577b34da6a3ce929d0e0e4736-1111111111111111-01"
#define PARENT	"00-4bf92f3577b34da6a3ce929d0e0e4736-2222222222222222-01"
#define OTHER	"00-0af7651916cd43dd8448eb211c80319c-3333333333333333-01"

static char	*last;		/* what the sink got last */
static int	 sunk;

static void
sink(const char *json, size_t len)
{
	free(last);
	last = strndup(json, len);
	sunk++;
}

static int
setup(void **state)
{
	(void)state;
	aif_span_set_sink(sink);
	sunk = 0;
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	aif_span_set_sink(NULL);
	free(last);
	last = NULL;
	return 0;
}

static const json_t *
attr(const json_t *span, const char *key)
{
	size_t i;
	const json_t *a;

	json_array_foreach(json_object_get(span, "attributes"), i, a)
		if (strcmp(json_string_value(json_object_get(a, "key")), key) == 0)
			return json_object_get(a, "value");
	return NULL;
}

static void
off_unsampled_or_invalid_records_nothing(void **state)
{
	struct aif_span s;

	(void)state;
	aif_span_set_sink(NULL);
	assert_false(aif_span_enabled());
	assert_int_equal(aif_span_begin(&s, SELF, NULL, "x", AIF_SPAN_INTERNAL, 1), -1);
	aif_span_end(&s, 2, NULL);	/* harmless on an empty span */
	aif_span_set_sink(sink);
	assert_true(aif_span_enabled());
	assert_int_equal(aif_span_begin(&s,
	    "00-4bf92f3577b34da6a3ce929d0e0e4736-1111111111111111-00", NULL, "x",
	    AIF_SPAN_INTERNAL, 1), -1);
	assert_int_equal(aif_span_begin(&s, "garbage", NULL, "x", AIF_SPAN_INTERNAL, 1), -1);
	aif_span_str(&s, "k", "v");
	aif_span_end(&s, 2, NULL);
	assert_int_equal(sunk, 0);
}

static void
a_span_encodes_as_otlp_json(void **state)
{
	struct aif_span s;
	json_t *v, *st;

	(void)state;
	assert_int_equal(aif_span_begin(&s, SELF, PARENT, "chat demo", AIF_SPAN_CLIENT,
	    1700000000123456789LL), 0);
	aif_span_str(&s, "gen_ai.request.model", "demo");
	aif_span_str(&s, "empty", "");		/* left out */
	aif_span_str(&s, "null", NULL);		/* left out */
	aif_span_int(&s, "gen_ai.usage.input_tokens", 9007199254740993LL);
	aif_span_strs1(&s, "gen_ai.response.finish_reasons", "stop");
	aif_span_link(&s, OTHER, "enqueued_by");
	aif_span_link(&s, "bad", "ignored");
	aif_span_end(&s, 1700000000223456789LL, NULL);
	assert_int_equal(sunk, 1);
	v = json_loads(last, 0, NULL);
	assert_non_null(v);
	assert_string_equal(json_string_value(json_object_get(v, "traceId")),
	    "4bf92f3577b34da6a3ce929d0e0e4736");
	assert_string_equal(json_string_value(json_object_get(v, "spanId")), "1111111111111111");
	assert_string_equal(json_string_value(json_object_get(v, "parentSpanId")),
	    "2222222222222222");
	assert_string_equal(json_string_value(json_object_get(v, "name")), "chat demo");
	assert_int_equal(json_integer_value(json_object_get(v, "kind")), 3);
	/* 64-bit numbers are decimal strings: exact past 2^53 */
	assert_string_equal(json_string_value(json_object_get(v, "startTimeUnixNano")),
	    "1700000000123456789");
	assert_string_equal(json_string_value(json_object_get(v, "endTimeUnixNano")),
	    "1700000000223456789");
	assert_string_equal(json_string_value(json_object_get(attr(v,
	    "gen_ai.usage.input_tokens"), "intValue")), "9007199254740993");
	assert_string_equal(json_string_value(json_object_get(attr(v,
	    "gen_ai.request.model"), "stringValue")), "demo");
	assert_null(attr(v, "empty"));
	assert_null(attr(v, "null"));
	assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(
	    json_object_get(attr(v, "gen_ai.response.finish_reasons"), "arrayValue"),
	    "values"), 0), "stringValue")), "stop");
	assert_int_equal(json_array_size(json_object_get(v, "links")), 1);
	assert_string_equal(json_string_value(json_object_get(json_array_get(
	    json_object_get(v, "links"), 0), "spanId")), "3333333333333333");
	st = json_object_get(v, "status");
	assert_true(json_is_object(st));
	assert_int_equal(json_object_size(st), 0);	/* UNSET: no error */
	json_decref(v);
}

static void
an_error_ends_with_its_status_and_type(void **state)
{
	struct aif_span s;
	json_t *v;

	(void)state;
	assert_int_equal(aif_span_begin(&s, SELF, NULL, "root", AIF_SPAN_SERVER, 500), 0);
	aif_span_end(&s, 100, "timeout");	/* an end before the start is clamped */
	v = json_loads(last, 0, NULL);
	assert_null(json_object_get(v, "parentSpanId"));
	assert_null(json_object_get(v, "links"));
	assert_int_equal(json_integer_value(json_object_get(json_object_get(v, "status"),
	    "code")), 2);
	assert_string_equal(json_string_value(json_object_get(json_object_get(v, "status"),
	    "message")), "timeout");
	assert_string_equal(json_string_value(json_object_get(attr(v, "error.type"),
	    "stringValue")), "timeout");
	assert_string_equal(json_string_value(json_object_get(v, "endTimeUnixNano")), "500");
	json_decref(v);
}

static void
the_export_body_holds_every_span(void **state)
{
	const char *spans[] = { "{\"spanId\":\"a\"}", "{\"spanId\":\"b\"}" };
	size_t lens[] = { strlen(spans[0]), strlen(spans[1]) };
	struct aif_buf b = { 0 };
	json_t *v, *rs, *ss;

	(void)state;
	assert_int_equal(aif_otlp_body(&b, "svc", "1.2.3", spans, lens, 2), 0);
	v = json_loads(b.p, 0, NULL);
	assert_non_null(v);
	rs = json_array_get(json_object_get(v, "resourceSpans"), 0);
	assert_string_equal(json_string_value(json_object_get(json_object_get(json_array_get(
	    json_object_get(json_object_get(rs, "resource"), "attributes"), 0), "value"),
	    "stringValue")), "svc");
	ss = json_array_get(json_object_get(rs, "scopeSpans"), 0);
	assert_string_equal(json_string_value(json_object_get(json_object_get(ss, "scope"),
	    "version")), "1.2.3");
	assert_int_equal(json_array_size(json_object_get(ss, "spans")), 2);
	assert_string_equal(json_string_value(json_object_get(json_array_get(
	    json_object_get(ss, "spans"), 1), "spanId")), "b");
	json_decref(v);
	aif_buf_free(&b);
}

static void
operation_names_follow_the_genai_conventions(void **state)
{
	(void)state;
	assert_string_equal(aif_span_operation(AIF_KIND_CHAT), "chat");
	assert_string_equal(aif_span_operation(AIF_KIND_MESSAGES), "chat");
	assert_string_equal(aif_span_operation(AIF_KIND_COMPLETION), "text_completion");
	assert_string_equal(aif_span_operation(AIF_KIND_EMBEDDING), "embeddings");
	assert_string_equal(aif_span_operation(AIF_KIND_RERANK), "rerank");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(off_unsampled_or_invalid_records_nothing,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(a_span_encodes_as_otlp_json, setup, teardown),
		cmocka_unit_test_setup_teardown(an_error_ends_with_its_status_and_type, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(the_export_body_holds_every_span, setup,
		    teardown),
		cmocka_unit_test(operation_names_follow_the_genai_conventions),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
