/* util.h -- small helpers shared by every binary: clocks, random public ids, bounded
 * string copies. Thread-safe. */
#ifndef AIF_UTIL_H
#define AIF_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define AIF_JOB_ID_LEN	28	/* "job_" + 24 base62 characters */

/* Number of elements of an array; a compile error when `a` is a pointer. */
#define AIF_NELEM(a)	(sizeof(a) / sizeof((a)[0]) + 0 * sizeof(struct {	\
	int a_not_a_pointer : __builtin_types_compatible_p(__typeof__(a),	\
	    __typeof__(&(a)[0])) ? -1 : 1; }))

/* Milliseconds of CLOCK_MONOTONIC. */
int64_t		aif_now_ms(void);

/* Seconds since the epoch (CLOCK_REALTIME). */
int64_t		aif_unix_now(void);
/* Milliseconds since the epoch (CLOCK_REALTIME): times stored in the database or
 * compared with them; aif_now_ms is for durations. */
int64_t		aif_wall_ms(void);

/* Fills `buf` with n bytes from getrandom(2). Returns AIF_IO on failure. */
enum aif_err	aif_random_bytes(void *buf, size_t n);

/* Writes a new public id "<prefix><n base62 chars>" into out (cap bytes incl. NUL).
 * Returns AIF_TOOBIG if it does not fit, AIF_IO without randomness. */
enum aif_err	aif_random_id(const char *prefix, size_t n, char *out, size_t cap);

/* Writes the n bytes at in as 2n lowercase hex digits at out (not NUL-terminated). */
void		aif_hex_encode(const unsigned char *in, size_t n, char *out);

/* Reads exactly 2n lowercase hex digits at in (NUL-terminated) into out (n bytes).
 * Returns 0, or -1 (another length, another character). */
int		aif_hex_decode(const char *in, unsigned char *out, size_t n);

/* Copies src into dst (cap bytes incl. NUL), truncating; returns 1 if truncated. */
int		aif_strlcpy(char *dst, const char *src, size_t cap);

/* Cuts s (in place) before a UTF-8 sequence left incomplete at its end, e.g. by a
 * truncating snprintf, so that the string stays valid UTF-8 if it was before. */
void		aif_utf8_trim_tail(char *s);

/* Writes base (its trailing slashes dropped) followed by path into out (cap bytes).
 * Returns 0, or -1 when it does not fit (out is then ""). */
int		aif_url_join(char *out, size_t cap, const char *base, const char *path);

/* Parses a decimal integer in [min,max] from s (the whole string: digits with an
 * optional leading '-', no spaces). Returns 0 on success. */
int		aif_parse_i64(const char *s, int64_t min, int64_t max, int64_t *out);

/* The well-formed UTF-8 sequence at s (n > 0 bytes available): its length 1..4, its
 * code point in *cp (may be NULL); 0 when it is not well-formed: overlong forms,
 * surrogates, code points over U+10FFFF, a sequence cut short (what jansson refuses).
 * Inline: the PII engine validates every text byte by byte with it. */
static inline size_t
aif_utf8_seq(const unsigned char *s, size_t n, uint32_t *cp)
{
	if (s[0] < 0x80) {
		if (cp != NULL)
			*cp = s[0];
		return 1;
	}
	if (s[0] >= 0xC2 && s[0] <= 0xDF) {
		if (n < 2 || (s[1] & 0xC0) != 0x80)
			return 0;
		if (cp != NULL)
			*cp = (uint32_t)(s[0] & 0x1F) << 6 | (s[1] & 0x3F);
		return 2;
	}
	if (s[0] >= 0xE0 && s[0] <= 0xEF) {
		if (n < 3 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80)
			return 0;
		if ((s[0] == 0xE0 && s[1] < 0xA0) || (s[0] == 0xED && s[1] >= 0xA0))
			return 0;	/* overlong; a surrogate */
		if (cp != NULL)
			*cp = (uint32_t)(s[0] & 0x0F) << 12 |
			    (uint32_t)(s[1] & 0x3F) << 6 | (s[2] & 0x3F);
		return 3;
	}
	if (s[0] >= 0xF0 && s[0] <= 0xF4) {
		if (n < 4 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80 ||
		    (s[3] & 0xC0) != 0x80)
			return 0;
		if ((s[0] == 0xF0 && s[1] < 0x90) || (s[0] == 0xF4 && s[1] >= 0x90))
			return 0;	/* overlong; over U+10FFFF */
		if (cp != NULL)
			*cp = (uint32_t)(s[0] & 0x07) << 18 |
			    (uint32_t)(s[1] & 0x3F) << 12 |
			    (uint32_t)(s[2] & 0x3F) << 6 | (s[3] & 0x3F);
		return 4;
	}
	return 0;
}

/* Saturating arithmetic for counts and costs that come from outside (engines,
 * clients): the result stays in [INT64_MIN, INT64_MAX] instead of wrapping. */
static inline int64_t
aif_sat_add(int64_t a, int64_t b)
{
	int64_t r;

	if (__builtin_add_overflow(a, b, &r))
		return b > 0 ? INT64_MAX : INT64_MIN;
	return r;
}

static inline int64_t
aif_sat_mul(int64_t a, int64_t b)
{
	int64_t r;

	if (__builtin_mul_overflow(a, b, &r))
		return (a > 0) == (b > 0) ? INT64_MAX : INT64_MIN;
	return r;
}

/* FNV-1a (32 bits) of p[0..n), continuing from h: AIF_FNV1A_INIT for a new hash. For
 * hash tables and cheap first tests before a string compare, never for security. */
#define AIF_FNV1A_INIT	2166136261u
static inline uint32_t
aif_fnv1a(uint32_t h, const void *p, size_t n)
{
	const unsigned char *c = p;

	for (size_t i = 0; i < n; i++)
		h = (h ^ c[i]) * 16777619u;
	return h;
}

#endif
