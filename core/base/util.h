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

#endif
