/* test_tracectx.c -- unit tests of core/protocol/tracectx.c: which traceparents are
 * continued (W3C Trace Context's rules), tracestate bounds, a new trace when there is
 * none, and a child span that keeps the trace and its flags. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "tracectx.h"

#define GOOD	"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

static void
valid_and_invalid_traceparents(void **state)
{
	(void)state;
	assert_true(aif_trace_valid(GOOD));
	assert_true(aif_trace_valid("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	    "-what-the-future-says"));
	assert_false(aif_trace_valid(NULL));
	assert_false(aif_trace_valid(""));
	assert_false(aif_trace_valid(GOOD "-x"));	/* version 00 is exactly 55 */
	assert_false(aif_trace_valid("ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"));
	assert_false(aif_trace_valid("00-00000000000000000000000000000000-00f067aa0ba902b7-01"));
	assert_false(aif_trace_valid("00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01"));
	assert_false(aif_trace_valid("00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01"));
	assert_false(aif_trace_valid("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0g"));
	assert_false(aif_trace_valid("00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"));
	assert_true(aif_tracestate_valid("rojo=00f067aa0ba902b7,congo=t61rcWkgMzE"));
	assert_false(aif_tracestate_valid(""));
	assert_false(aif_tracestate_valid("a=b\r\nx-evil: 1"));
}

static void
a_request_keeps_or_starts_a_trace(void **state)
{
	char a[AIF_TRACEPARENT_LEN + 1], b[AIF_TRACEPARENT_LEN + 1];

	(void)state;
	assert_int_equal(aif_trace_of_request(GOOD, a), 0);
	assert_string_equal(a, GOOD);
	assert_int_equal(aif_trace_of_request("01-4bf92f3577b34da6a3ce929d0e0e4736-"
	    "00f067aa0ba902b7-ff-more", a), 0);
	assert_string_equal(a, GOOD);	/* read as version 00: the sampled bit only */
	assert_int_equal(aif_trace_of_request("garbage", a), 0);
	assert_true(aif_trace_valid(a));
	assert_int_equal(aif_trace_of_request(NULL, b), 0);
	assert_true(aif_trace_valid(b));
	assert_memory_not_equal(a + 3, b + 3, 32);	/* two new traces */
}

static void
a_child_keeps_the_trace_and_flags(void **state)
{
	char c1[AIF_TRACEPARENT_LEN + 1], c2[AIF_TRACEPARENT_LEN + 1];

	(void)state;
	assert_int_equal(aif_trace_child(GOOD, c1), 0);
	assert_int_equal(aif_trace_child(GOOD, c2), 0);
	assert_true(aif_trace_valid(c1));
	assert_memory_equal(c1, GOOD, 36);		/* version and trace id */
	assert_string_equal(c1 + 52, "-01");		/* flags */
	assert_memory_not_equal(c1 + 36, GOOD + 36, 16);	/* a span of its own */
	assert_memory_not_equal(c1 + 36, c2 + 36, 16);
	assert_int_equal(aif_trace_child("nope", c1), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(valid_and_invalid_traceparents),
		cmocka_unit_test(a_request_keeps_or_starts_a_trace),
		cmocka_unit_test(a_child_keeps_the_trace_and_flags),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
