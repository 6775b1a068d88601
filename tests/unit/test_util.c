/* test_util.c -- unit tests of core/base/util.c: public random ids, decimal parsing with
 * bounds, bounded string copies and the clocks. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "util.h"

static const char base62[] =
    "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/* Asserts that s[0..n) are all base62 characters. */
static void
assert_base62(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] == '\0' || strchr(base62, s[i]) == NULL)
			fail_msg("character %zu of \"%s\" is not base62", i, s);
}

/* --- aif_random_id --- */

static void
random_id_has_prefix_and_length(void **state)
{
	char id[AIF_JOB_ID_LEN + 1];

	(void)state;
	assert_int_equal(aif_random_id("job_", 24, id, sizeof(id)), AIF_OK);
	assert_int_equal(strlen(id), AIF_JOB_ID_LEN);
	assert_memory_equal(id, "job_", 4);
	assert_base62(id + 4, 24);
}

static void
random_id_with_empty_prefix_is_all_base62(void **state)
{
	char id[17];

	(void)state;
	assert_int_equal(aif_random_id("", 16, id, sizeof(id)), AIF_OK);
	assert_int_equal(strlen(id), 16);
	assert_base62(id, 16);
}

static void
random_id_of_zero_characters_is_the_prefix(void **state)
{
	char id[8];

	(void)state;
	assert_int_equal(aif_random_id("key_", 0, id, sizeof(id)), AIF_OK);
	assert_string_equal(id, "key_");
}

static void
two_random_ids_differ(void **state)
{
	char a[AIF_JOB_ID_LEN + 1], b[AIF_JOB_ID_LEN + 1];

	(void)state;
	assert_int_equal(aif_random_id("job_", 24, a, sizeof(a)), AIF_OK);
	assert_int_equal(aif_random_id("job_", 24, b, sizeof(b)), AIF_OK);
	assert_string_not_equal(a, b);
}

/* 200 ids of 24 characters: every one of the 62 digits is expected ~77 times, so a
 * digit that never shows up means the mapping misses part of the alphabet. */
static void
random_ids_use_the_whole_alphabet(void **state)
{
	int seen[62] = { 0 };
	char id[25];

	(void)state;
	for (int i = 0; i < 200; i++) {
		assert_int_equal(aif_random_id("", 24, id, sizeof(id)), AIF_OK);
		for (size_t k = 0; k < 24; k++)
			seen[strchr(base62, id[k]) - base62]++;
	}
	for (int d = 0; d < 62; d++)
		if (seen[d] == 0)
			fail_msg("digit '%c' never generated", base62[d]);
}

static void
random_id_fits_exactly(void **state)
{
	char id[AIF_JOB_ID_LEN + 1];

	(void)state;
	memset(id, 'x', sizeof(id));
	assert_int_equal(aif_random_id("job_", 24, id, AIF_JOB_ID_LEN + 1), AIF_OK);
	assert_int_equal(id[AIF_JOB_ID_LEN], '\0');
}

static void
random_id_too_small_buffer_is_toobig_and_untouched(void **state)
{
	char id[AIF_JOB_ID_LEN + 1];

	(void)state;
	memset(id, 'x', sizeof(id));
	assert_int_equal(aif_random_id("job_", 24, id, AIF_JOB_ID_LEN), AIF_TOOBIG);
	for (size_t i = 0; i < sizeof(id); i++)
		assert_int_equal(id[i], 'x');
	assert_int_equal(aif_random_id("job_", 24, id, 0), AIF_TOOBIG);
	assert_int_equal(aif_random_id("longer_than_cap", 0, id, 4), AIF_TOOBIG);
}

/* --- aif_parse_i64 --- */

struct parse_case {
	const char	*s;
	int64_t		 min, max;
	int		 ok;
	int64_t		 want;
};

static void
run_parse_cases(const struct parse_case *c, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int64_t v = 12345;
		int r = aif_parse_i64(c[i].s, c[i].min, c[i].max, &v);

		if (c[i].ok && (r != 0 || v != c[i].want))
			fail_msg("\"%s\" in [%lld,%lld]: rc %d value %lld, want %lld",
			    c[i].s, (long long)c[i].min, (long long)c[i].max, r,
			    (long long)v, (long long)c[i].want);
		if (!c[i].ok && (r == 0 || v != 12345))
			fail_msg("\"%s\" in [%lld,%lld]: accepted or changed out (%lld)",
			    c[i].s, (long long)c[i].min, (long long)c[i].max,
			    (long long)v);
	}
}

static void
parse_i64_accepts_decimals_in_range(void **state)
{
	static const struct parse_case cases[] = {
		{ "0", 0, 9, 1, 0 },
		{ "9", 0, 9, 1, 9 },
		{ "5", 0, 9, 1, 5 },
		{ "-1", -1, 255, 1, -1 },
		{ "007", 0, 9, 1, 7 },
		{ "9223372036854775807", INT64_MIN, INT64_MAX, 1, INT64_MAX },
		{ "-9223372036854775808", INT64_MIN, INT64_MAX, 1, INT64_MIN },
		{ "1048576", 1024, 67108864, 1, 1048576 },
	};

	(void)state;
	run_parse_cases(cases, sizeof(cases) / sizeof(cases[0]));
}

static void
parse_i64_rejects_out_of_range(void **state)
{
	static const struct parse_case cases[] = {
		{ "10", 0, 9, 0, 0 },
		{ "-1", 0, 9, 0, 0 },
		{ "1023", 1024, 67108864, 0, 0 },
		{ "67108865", 1024, 67108864, 0, 0 },
		{ "4097", 1, 4096, 0, 0 },
	};

	(void)state;
	run_parse_cases(cases, sizeof(cases) / sizeof(cases[0]));
}

static void
parse_i64_rejects_overflow(void **state)
{
	static const struct parse_case cases[] = {
		{ "9223372036854775808", INT64_MIN, INT64_MAX, 0, 0 },
		{ "-9223372036854775809", INT64_MIN, INT64_MAX, 0, 0 },
		{ "99999999999999999999999999", INT64_MIN, INT64_MAX, 0, 0 },
		/* strtoll clamps to LLONG_MAX: must not pass as INT64_MAX */
		{ "18446744073709551616", 0, INT64_MAX, 0, 0 },
	};

	(void)state;
	run_parse_cases(cases, sizeof(cases) / sizeof(cases[0]));
}

static void
parse_i64_rejects_junk(void **state)
{
	static const struct parse_case cases[] = {
		{ "", 0, 9, 0, 0 },
		{ "-", -9, 9, 0, 0 },
		{ "+", 0, 9, 0, 0 },
		{ "abc", 0, 9, 0, 0 },
		{ "12a", 0, 100, 0, 0 },
		{ "a12", 0, 100, 0, 0 },
		{ "1.5", 0, 100, 0, 0 },
		{ "1e3", 0, 10000, 0, 0 },
		{ "0x10", 0, 100, 0, 0 },
		{ "12 ", 0, 100, 0, 0 },
		{ "1 2", 0, 100, 0, 0 },
		{ "--1", -9, 9, 0, 0 },
		{ "+5", 0, 9, 0, 0 },
		{ "-+5", -9, 9, 0, 0 },
	};

	(void)state;
	run_parse_cases(cases, sizeof(cases) / sizeof(cases[0]));
}

/* "whole string": leading blanks are not part of a decimal integer any more than
 * trailing ones (which are rejected above). */
static void
parse_i64_rejects_leading_whitespace(void **state)
{
	static const struct parse_case cases[] = {
		{ " 12", 0, 100, 0, 0 },
		{ "\t5", 0, 9, 0, 0 },
		{ "\n5", 0, 9, 0, 0 },
	};

	(void)state;
	run_parse_cases(cases, sizeof(cases) / sizeof(cases[0]));
}

static void
parse_i64_rejects_null(void **state)
{
	int64_t v = 12345;

	(void)state;
	assert_int_not_equal(aif_parse_i64(NULL, 0, 9, &v), 0);
	assert_int_equal(v, 12345);
}

/* --- aif_strlcpy --- */

static void
strlcpy_copies_when_it_fits(void **state)
{
	char buf[8];

	(void)state;
	assert_int_equal(aif_strlcpy(buf, "abc", sizeof(buf)), 0);
	assert_string_equal(buf, "abc");
}

static void
strlcpy_exact_fit_is_not_truncated(void **state)
{
	char buf[4];

	(void)state;
	assert_int_equal(aif_strlcpy(buf, "abc", sizeof(buf)), 0);
	assert_string_equal(buf, "abc");
}

static void
strlcpy_truncates_and_terminates(void **state)
{
	char buf[6];

	(void)state;
	memset(buf, 'x', sizeof(buf));
	/* cap 4 inside a larger buffer: byte 4 and 5 must stay untouched */
	assert_int_equal(aif_strlcpy(buf, "abcdef", 4), 1);
	assert_string_equal(buf, "abc");
	assert_int_equal(buf[4], 'x');
	assert_int_equal(buf[5], 'x');
}

static void
strlcpy_cap_one_gives_empty_string(void **state)
{
	char buf[2] = { 'x', 'x' };

	(void)state;
	assert_int_equal(aif_strlcpy(buf, "abc", 1), 1);
	assert_int_equal(buf[0], '\0');
	assert_int_equal(buf[1], 'x');
	assert_int_equal(aif_strlcpy(buf, "", 1), 0);
	assert_int_equal(buf[0], '\0');
}

static void
strlcpy_cap_zero_writes_nothing(void **state)
{
	char buf[1] = { 'x' };

	(void)state;
	assert_int_equal(aif_strlcpy(buf, "abc", 0), 1);
	assert_int_equal(buf[0], 'x');
}

/* --- aif_utf8_trim_tail --- */

static void
utf8_trim_tail_drops_only_an_incomplete_last_sequence(void **state)
{
	static const struct {
		const char	*in;
		const char	*want;
	} cases[] = {
		{ "", "" },
		{ "abc", "abc" },
		{ "ab\xc3\xa9", "ab\xc3\xa9" },			/* U+00E9 whole */
		{ "ab\xc3", "ab" },				/* 1 of 2 bytes */
		{ "ab\xe2\x82\xac", "ab\xe2\x82\xac" },		/* U+20AC whole */
		{ "ab\xe2\x82", "ab" },				/* 2 of 3 */
		{ "ab\xe2", "ab" },				/* 1 of 3 */
		{ "ab\xf0\x9f\x98\x80", "ab\xf0\x9f\x98\x80" },	/* U+1F600 whole */
		{ "ab\xf0\x9f\x98", "ab" },			/* 3 of 4 */
		{ "ab\xf0", "ab" },				/* 1 of 4 */
		{ "\xc3", "" },
		{ "\xe2\x82", "" },
		{ "\xc3\xa9\xe2\x82", "\xc3\xa9" },		/* keeps the one before */
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char buf[32];

		snprintf(buf, sizeof(buf), "%s", cases[i].in);
		aif_utf8_trim_tail(buf);
		if (strcmp(buf, cases[i].want) != 0)
			fail_msg("case %zu: %zu bytes left, want %zu", i, strlen(buf),
			    strlen(cases[i].want));
	}
}

/* The use it exists for: snprintf cut a message in the middle of a character. */
static void
utf8_trim_tail_repairs_a_truncating_snprintf(void **state)
{
	static char text[] = "abcd\xe2\x82\xac";	/* not const: no compile-time cut */
	char buf[6];

	(void)state;
	/* "abcd" + U+20AC needs 7 bytes + NUL: snprintf keeps "abcd\xe2" */
	assert_int_equal(snprintf(buf, sizeof(buf), "%s", text), 7);
	assert_int_equal(strlen(buf), 5);
	aif_utf8_trim_tail(buf);
	assert_string_equal(buf, "abcd");
}

/* --- clocks and randomness --- */

/* The one UTF-8 decoder: lengths and code points of well-formed sequences, 0 for
 * what jansson refuses (overlong, surrogates, over U+10FFFF, cut short, stray bytes). */
static void
utf8_seq_decodes_and_refuses_like_jansson(void **state)
{
	static const struct {
		const char	*s;
		size_t		 len;
		uint32_t	 cp;
	} ok[] = {
		{ "A", 1, 0x41 }, { "\x7f", 1, 0x7f }, { "\xc2\x80", 2, 0x80 },
		{ "\xc3\xa9", 2, 0xe9 }, { "\xdf\xbf", 2, 0x7ff },
		{ "\xe0\xa0\x80", 3, 0x800 }, { "\xea\xb0\x80", 3, 0xac00 },
		{ "\xed\x9f\xbf", 3, 0xd7ff }, { "\xee\x80\x80", 3, 0xe000 },
		{ "\xef\xbb\xbf", 3, 0xfeff }, { "\xf0\x90\x80\x80", 4, 0x10000 },
		{ "\xf4\x8f\xbf\xbf", 4, 0x10ffff },
	};
	static const char *const bad[] = {
		"\x80", "\xbf", "\xc0\x80", "\xc1\xbf", "\xc3", "\xc3" "A",
		"\xe0\x80\x80", "\xe0\x9f\xbf", "\xed\xa0\x80", "\xed\xbf\xbf",
		"\xea\xb0", "\xf0\x8f\xbf\xbf", "\xf4\x90\x80\x80", "\xf5\x80\x80\x80",
		"\xff",
	};
	uint32_t cp;

	(void)state;
	for (size_t i = 0; i < AIF_NELEM(ok); i++) {
		const unsigned char *u = (const unsigned char *)ok[i].s;

		cp = 0;
		assert_int_equal(aif_utf8_seq(u, strlen(ok[i].s), &cp), ok[i].len);
		assert_int_equal(cp, ok[i].cp);
		assert_int_equal(aif_utf8_seq(u, strlen(ok[i].s), NULL), ok[i].len);
		if (ok[i].len > 1)	/* cut short by n */
			assert_int_equal(aif_utf8_seq(u, ok[i].len - 1, &cp), 0);
	}
	for (size_t i = 0; i < AIF_NELEM(bad); i++)
		if (aif_utf8_seq((const unsigned char *)bad[i], strlen(bad[i]), &cp) != 0)
			fail_msg("accepted bad[%zu]", i);
}

static void
now_ms_is_monotonic_and_advances(void **state)
{
	struct timespec d = { 0, 20 * 1000000 };
	int64_t a, b, c;

	(void)state;
	a = aif_now_ms();
	b = aif_now_ms();
	assert_true(b >= a);
	nanosleep(&d, NULL);
	c = aif_now_ms();
	/* 20 ms slept; each reading drops its sub-millisecond part */
	assert_true(c - b >= 19);
	assert_true(c - b < 2000);
}

static void
unix_now_matches_time(void **state)
{
	int64_t t0 = (int64_t)time(NULL), u = aif_unix_now(), t1 = (int64_t)time(NULL);

	(void)state;
	assert_true(u >= t0 && u <= t1);
}

static void
random_bytes_fill_the_buffer(void **state)
{
	unsigned char a[64], b[64], zero[64];

	(void)state;
	memset(a, 0, sizeof(a));
	memset(b, 0, sizeof(b));
	memset(zero, 0, sizeof(zero));
	assert_int_equal(aif_random_bytes(a, sizeof(a)), AIF_OK);
	assert_int_equal(aif_random_bytes(b, sizeof(b)), AIF_OK);
	assert_memory_not_equal(a, zero, sizeof(a));
	assert_memory_not_equal(a, b, sizeof(a));
	/* the tail is written too: 8 zero bytes by chance is 2^-64 */
	assert_memory_not_equal(a + 56, zero, 8);
}

/* Hex both ways: lowercase out; in, exactly 2n lowercase digits. */
static void
hex_round_trips(void **state)
{
	const unsigned char in[] = { 0x00, 0x7f, 0xa5, 0xff };
	unsigned char back[4];
	char hex[9] = { 0 };

	(void)state;
	aif_hex_encode(in, sizeof(in), hex);
	assert_string_equal(hex, "007fa5ff");
	assert_int_equal(aif_hex_decode(hex, back, sizeof(back)), 0);
	assert_memory_equal(back, in, sizeof(in));
	assert_int_equal(aif_hex_decode("007FA5FF", back, 4), -1);	/* uppercase */
	assert_int_equal(aif_hex_decode("007fa5f", back, 4), -1);	/* short */
	assert_int_equal(aif_hex_decode("007fa5fg", back, 4), -1);
	assert_int_equal(aif_hex_decode(NULL, back, 4), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(random_id_has_prefix_and_length),
		cmocka_unit_test(random_id_with_empty_prefix_is_all_base62),
		cmocka_unit_test(random_id_of_zero_characters_is_the_prefix),
		cmocka_unit_test(two_random_ids_differ),
		cmocka_unit_test(random_ids_use_the_whole_alphabet),
		cmocka_unit_test(random_id_fits_exactly),
		cmocka_unit_test(random_id_too_small_buffer_is_toobig_and_untouched),
		cmocka_unit_test(parse_i64_accepts_decimals_in_range),
		cmocka_unit_test(parse_i64_rejects_out_of_range),
		cmocka_unit_test(parse_i64_rejects_overflow),
		cmocka_unit_test(parse_i64_rejects_junk),
		cmocka_unit_test(parse_i64_rejects_leading_whitespace),
		cmocka_unit_test(parse_i64_rejects_null),
		cmocka_unit_test(strlcpy_copies_when_it_fits),
		cmocka_unit_test(strlcpy_exact_fit_is_not_truncated),
		cmocka_unit_test(strlcpy_truncates_and_terminates),
		cmocka_unit_test(strlcpy_cap_one_gives_empty_string),
		cmocka_unit_test(strlcpy_cap_zero_writes_nothing),
		cmocka_unit_test(utf8_trim_tail_drops_only_an_incomplete_last_sequence),
		cmocka_unit_test(utf8_trim_tail_repairs_a_truncating_snprintf),
		cmocka_unit_test(utf8_seq_decodes_and_refuses_like_jansson),
		cmocka_unit_test(now_ms_is_monotonic_and_advances),
		cmocka_unit_test(unix_now_matches_time),
		cmocka_unit_test(random_bytes_fill_the_buffer),
		cmocka_unit_test(hex_round_trips),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
