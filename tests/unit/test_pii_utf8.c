/* test_pii_utf8.c -- aif_pii_utf8_valid (core/pii/utf8.c) against a plain reference
 * decoder written here from RFC 3629's table of well-formed byte sequences: every
 * pair of bytes, every three-byte sequence with a lead of E0..EF or F0..F4 and every
 * four-byte one with F0..F4, each put across a 16-byte block boundary of a longer
 * valid text and at its end (the last block or the tail), and random damage to
 * mixed Hangul/ASCII texts; the verdict and the offset of the first bad byte must
 * agree. Runs with cwd tests/unit; a few seconds. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "pii.h"

/* RFC 3629, section 4: the length of the well-formed sequence at s[0, n), 0 if none. */
static size_t
ref_seq(const unsigned char *s, size_t n)
{
	unsigned char lo = 0x80, hi = 0xBF;
	size_t	 len, i;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xC2 && s[0] <= 0xDF)
		len = 2;
	else if (s[0] >= 0xE0 && s[0] <= 0xEF)
		len = 3;
	else if (s[0] >= 0xF0 && s[0] <= 0xF4)
		len = 4;
	else
		return 0;
	if (s[0] == 0xE0)
		lo = 0xA0;
	else if (s[0] == 0xED)
		hi = 0x9F;
	else if (s[0] == 0xF0)
		lo = 0x90;
	else if (s[0] == 0xF4)
		hi = 0x8F;
	if (n < len || s[1] < lo || s[1] > hi)
		return 0;
	for (i = 2; i < len; i++)
		if (s[i] < 0x80 || s[i] > 0xBF)
			return 0;
	return len;
}

/* 1 when valid; else 0 and *bad = the offset of the first sequence that is not. */
static int
ref_valid(const unsigned char *s, size_t n, size_t *bad)
{
	size_t	 i = 0, l;

	while (i < n) {
		if ((l = ref_seq(s + i, n - i)) == 0) {
			*bad = i;
			return 0;
		}
		i += l;
	}
	return 1;
}

static unsigned long	seed = 3629;

static unsigned
rnd(unsigned n)
{
	seed = seed * 6364136223846793005UL + 1442695040888963407UL;
	return (unsigned)((seed >> 33) % n);
}

/* Checks buf[0, n) both ways; fails with the bytes around the disagreement. */
static void
agree(const unsigned char *buf, size_t n)
{
	size_t	 bad1 = (size_t)-1, bad2 = (size_t)-1;
	int	 v1 = aif_pii_utf8_valid((const char *)buf, n, &bad1);
	int	 v2 = ref_valid(buf, n, &bad2);

	if (v1 != v2 || (v1 == 0 && bad1 != bad2))
		fail_msg("length %zu: valid %d, reference %d; bad at %zu, reference %zu",
		    n, v1, v2, bad1, bad2);
}

/* 96 bytes of valid text: ASCII, then Hangul (한 = ED 95 9C) from byte 40 on. */
static void
filler(unsigned char *buf)
{
	memset(buf, 'a', 40);
	for (size_t i = 40; i + 3 <= 96; i += 3)
		memcpy(buf + i, "\xED\x95\x9C", 3);
	memset(buf + 94, ' ', 2);
}

static void
every_pair_across_a_block_edge(void **state)
{
	static const size_t at[] = { 14, 15, 16, 31, 62, 63, 94 };
	unsigned char buf[96];

	(void)state;
	for (size_t k = 0; k < sizeof(at) / sizeof(at[0]); k++)
		for (unsigned a = 0; a < 256; a++)
			for (unsigned b = 0; b < 256; b++) {
				filler(buf);
				buf[at[k]] = (unsigned char)a;
				buf[at[k] + 1] = (unsigned char)b;
				agree(buf, 96);
			}
}

static void
every_long_sequence_head(void **state)
{
	unsigned char buf[96];

	(void)state;
	for (unsigned a = 0xE0; a <= 0xF4; a++)
		for (unsigned b = 0; b < 256; b++)
			for (unsigned c = 0; c < 256; c++) {
				size_t at = 13 + (a + b + c) % 4;	/* across an edge */
				filler(buf);
				buf[at] = (unsigned char)a;
				buf[at + 1] = (unsigned char)b;
				buf[at + 2] = (unsigned char)c;
				agree(buf, 96);
				/* near the end of a text long enough for the blocks: cut by
				 * the last block or in the tail after it */
				at = 76 + (a + b + c) % 5;
				filler(buf);
				buf[at] = (unsigned char)a;
				buf[at + 1] = (unsigned char)b;
				buf[at + 2] = (unsigned char)c;
				agree(buf, at + 3);
				agree(buf, at + 2);	/* cut short */
			}
}

static void
every_four_byte_sequence(void **state)
{
	unsigned char buf[96];

	(void)state;
	for (unsigned a = 0xF0; a <= 0xF4; a++)
		for (unsigned b = 0x80; b <= 0xBF; b++)
			for (unsigned c = 0x80; c <= 0xBF; c++)
				for (unsigned d = 0x80; d <= 0xBF; d++) {
					size_t at = 61 + (b + c + d) % 4;	/* edge 64 */
					filler(buf);
					memcpy(buf + at, (unsigned char[]){ (unsigned char)a,
					    (unsigned char)b, (unsigned char)c,
					    (unsigned char)d }, 4);
					agree(buf, 96);
					at = 77 + (b + c + d) % 4;	/* the end */
					filler(buf);
					memcpy(buf + at, (unsigned char[]){ (unsigned char)a,
					    (unsigned char)b, (unsigned char)c,
					    (unsigned char)d }, 4);
					agree(buf, at + 4);
				}
}

static void
random_damage_to_mixed_text(void **state)
{
	static const char *const parts[] = { "한", "국어 ", "name ", "é", "€", "😀", " ",
		"\n", "x", "데이터 ", "\xF4\x8F\xBF\xBF" };
	unsigned char buf[700];
	size_t	 n, l, k;
	unsigned valid = 0;

	(void)state;
	for (int it = 0; it < 100000; it++) {
		for (n = 0, k = 8 + rnd(200); k > 0; k--) {
			const char *p = parts[rnd(sizeof(parts) / sizeof(parts[0]))];
			if (n + (l = strlen(p)) > sizeof(buf))
				break;
			memcpy(buf + n, p, l);
			n += l;
		}
		for (k = rnd(3); k > 0; k--)	/* none, one or two damaged bytes */
			buf[rnd((unsigned)n)] = (unsigned char)rnd(256);
		agree(buf, n);
		valid += ref_valid(buf, n, &l);
	}
	assert_true(valid > 30000 && valid < 70000);	/* both verdicts were tried */
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(every_pair_across_a_block_edge),
		cmocka_unit_test(every_long_sequence_head),
		cmocka_unit_test(every_four_byte_sequence),
		cmocka_unit_test(random_damage_to_mixed_text),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
