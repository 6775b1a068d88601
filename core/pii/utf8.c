/* utf8.c -- UTF-8 validation of a text before the PII scan reads it
 * (aif_pii_utf8_valid, declared in pii.h).
 *
 * Prompts mix Hangul (three bytes a syllable) and ASCII words a space apart, so a
 * byte-at-a-time validator takes a branch it cannot predict at every change of
 * script. Where the processor has SSSE3 (checked once at run time), 16 bytes are
 * checked together without a branch per byte: the "lookup" method of Keiser and
 * Lemire, "Validating UTF-8 In Less Than One Instruction Per Byte" (Software:
 * Practice and Experience, 2021), written from the paper. Each byte is classified by
 * three 16-entry tables -- the high and low nibble of the byte before it and its own
 * high nibble -- whose AND is nonzero exactly for the two-byte patterns that are
 * errors (RFC 3629: overlong forms, surrogates, code points above U+10FFFF, a lead
 * without its continuation bytes, a continuation without a lead); the third and
 * fourth bytes of a long sequence are checked against the lead two and three bytes
 * back. The text's last bytes, and a text with an error (to report where it is), go
 * to the scalar validator, which is also the one used elsewhere. */
#include <stdint.h>
#include <string.h>

#include "pii.h"
#include "util.h"

/* The scalar validator; *bad (when not NULL) gets the offset of the first bad byte. */
static int
utf8_valid_scalar(const unsigned char *s, size_t n, size_t *bad)
{
	size_t	 i = 0, l;
	uint64_t w;

	while (i < n) {
		/* ASCII runs 8 bytes at a time */
		while (i + 8 <= n) {
			memcpy(&w, s + i, 8);
			if (w & UINT64_C(0x8080808080808080))
				break;
			i += 8;
		}
		if (i >= n)
			break;
		if (s[i] < 0x80) {
			i++;
			continue;
		}
		/* the common 3-byte case (Hangul, CJK): E1..EC and EE..EF need no range
		 * check beyond two continuation bytes */
		if (((s[i] >= 0xE1 && s[i] <= 0xEC) || s[i] >= 0xEE) && s[i] <= 0xEF &&
		    i + 2 < n && (s[i + 1] & 0xC0) == 0x80 && (s[i + 2] & 0xC0) == 0x80) {
			i += 3;
			continue;
		}
		if ((l = aif_utf8_seq(s + i, n - i, NULL)) == 0) {
			if (bad != NULL)
				*bad = i;
			return 0;
		}
		i += l;
	}
	return 1;
}

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

/* The error classes, one bit each, named after the paper's. */
enum {
	TOO_SHORT = 1 << 0,	/* a lead not followed by a continuation */
	TOO_LONG = 1 << 1,	/* a continuation after ASCII */
	OVERLONG_3 = 1 << 2,	/* E0 80..9F */
	TOO_LARGE = 1 << 3,	/* F4 90..BF, F5..FF */
	SURROGATE = 1 << 4,	/* ED A0..BF */
	OVERLONG_2 = 1 << 5,	/* C0, C1 */
	TOO_LARGE_1000 = 1 << 6,	/* F5..FF 80..8F */
	OVERLONG_4 = 1 << 6,	/* F0 80..8F */
	TWO_CONTS = 1 << 7,	/* a continuation after a continuation */
	CARRY = TOO_SHORT | TOO_LONG | TWO_CONTS,
};

#define TABLE(a, b, c, d, e, f, g, h, i, j, k, l, m, n, o, p)			\
	_mm_setr_epi8((char)(a), (char)(b), (char)(c), (char)(d), (char)(e),	\
	    (char)(f), (char)(g), (char)(h), (char)(i), (char)(j), (char)(k),	\
	    (char)(l), (char)(m), (char)(n), (char)(o), (char)(p))

/* The 16 bytes of `in` after `prev` (the 16 before them): a nonzero byte where one is
 * wrong. */
__attribute__((target("ssse3"))) static __m128i
block_errors(__m128i in, __m128i prev)
{
	const __m128i nib = _mm_set1_epi8(0x0F);
	const __m128i b1_high = TABLE(
	    TOO_LONG, TOO_LONG, TOO_LONG, TOO_LONG, TOO_LONG, TOO_LONG, TOO_LONG, TOO_LONG,
	    TWO_CONTS, TWO_CONTS, TWO_CONTS, TWO_CONTS,
	    TOO_SHORT | OVERLONG_2, TOO_SHORT, TOO_SHORT | OVERLONG_3 | SURROGATE,
	    TOO_SHORT | TOO_LARGE | TOO_LARGE_1000 | OVERLONG_4);
	const __m128i b1_low = TABLE(
	    CARRY | OVERLONG_3 | OVERLONG_2 | OVERLONG_4, CARRY | OVERLONG_2, CARRY, CARRY,
	    CARRY | TOO_LARGE, CARRY | TOO_LARGE | TOO_LARGE_1000,
	    CARRY | TOO_LARGE | TOO_LARGE_1000, CARRY | TOO_LARGE | TOO_LARGE_1000,
	    CARRY | TOO_LARGE | TOO_LARGE_1000, CARRY | TOO_LARGE | TOO_LARGE_1000,
	    CARRY | TOO_LARGE | TOO_LARGE_1000, CARRY | TOO_LARGE | TOO_LARGE_1000,
	    CARRY | TOO_LARGE | TOO_LARGE_1000,
	    CARRY | TOO_LARGE | TOO_LARGE_1000 | SURROGATE,
	    CARRY | TOO_LARGE | TOO_LARGE_1000, CARRY | TOO_LARGE | TOO_LARGE_1000);
	const __m128i b2_high = TABLE(
	    TOO_SHORT, TOO_SHORT, TOO_SHORT, TOO_SHORT, TOO_SHORT, TOO_SHORT, TOO_SHORT,
	    TOO_SHORT,
	    TOO_LONG | OVERLONG_2 | TWO_CONTS | OVERLONG_3 | TOO_LARGE_1000 | OVERLONG_4,
	    TOO_LONG | OVERLONG_2 | TWO_CONTS | OVERLONG_3 | TOO_LARGE,
	    TOO_LONG | OVERLONG_2 | TWO_CONTS | SURROGATE | TOO_LARGE,
	    TOO_LONG | OVERLONG_2 | TWO_CONTS | SURROGATE | TOO_LARGE,
	    TOO_SHORT, TOO_SHORT, TOO_SHORT, TOO_SHORT);
	__m128i prev1 = _mm_alignr_epi8(in, prev, 15), prev2, prev3, special, must;

	special = _mm_and_si128(_mm_and_si128(
	    _mm_shuffle_epi8(b1_high, _mm_and_si128(_mm_srli_epi16(prev1, 4), nib)),
	    _mm_shuffle_epi8(b1_low, _mm_and_si128(prev1, nib))),
	    _mm_shuffle_epi8(b2_high, _mm_and_si128(_mm_srli_epi16(in, 4), nib)));
	/* the third byte after an E0..EF lead, the third and fourth after F0..FF, must be
	 * continuations: TWO_CONTS is then expected, not an error */
	prev2 = _mm_alignr_epi8(in, prev, 14);
	prev3 = _mm_alignr_epi8(in, prev, 13);
	must = _mm_or_si128(_mm_subs_epu8(prev2, _mm_set1_epi8((char)(0xE0 - 0x80))),
	    _mm_subs_epu8(prev3, _mm_set1_epi8((char)(0xF0 - 0x80))));
	must = _mm_and_si128(must, _mm_set1_epi8((char)0x80));
	return _mm_xor_si128(must, special);
}

/* The blocks of 16 bytes in s[0, n): 1 when none has an error. The sequence the last
 * block may end inside is not checked to its end here. */
__attribute__((target("ssse3"))) static int
blocks_valid(const unsigned char *s, size_t n)
{
	__m128i	 prev = _mm_setzero_si128(), in, err = _mm_setzero_si128();

	for (size_t i = 0; i + 16 <= n; i += 16) {
		in = _mm_loadu_si128((const __m128i *)(const void *)(s + i));
		err = _mm_or_si128(err, block_errors(in, prev));
		prev = in;
	}
	return _mm_movemask_epi8(_mm_cmpeq_epi8(err, _mm_setzero_si128())) == 0xFFFF;
}

static int
have_ssse3(void)
{
	static int have = -1;	/* a race only writes the same value twice */

	if (have < 0) {
		__builtin_cpu_init();	/* needed when called before constructors ran */
		have = __builtin_cpu_supports("ssse3") ? 1 : 0;
	}
	return have;
}
#endif

int
aif_pii_utf8_valid(const char *text, size_t n, size_t *bad)
{
	const unsigned char *s = (const unsigned char *)text;

#if defined(__x86_64__) && defined(__GNUC__)
	size_t	 full = n - n % 16, from = full, k;

	if (n >= 64 && have_ssse3()) {
		if (!blocks_valid(s, full))
			return utf8_valid_scalar(s, n, bad);	/* to say where */
		/* the last character the blocks may have cut, and the tail */
		for (k = 1; k <= 3 && s[full - k] >= 0x80; k++)
			if (s[full - k] >= 0xC0) {
				from = full - k;
				break;
			}
		if (utf8_valid_scalar(s + from, n - from, bad))
			return 1;
		if (bad != NULL)
			*bad += from;
		return 0;
	}
#endif
	return utf8_valid_scalar(s, n, bad);
}
