/* util.c -- clocks, random ids and bounded string helpers; see util.h. */
#include <errno.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "util.h"

static const char base62[] =
    "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

int64_t
aif_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t
aif_wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t
aif_unix_now(void)
{
	return (int64_t)time(NULL);
}

enum aif_err
aif_random_bytes(void *buf, size_t n)
{
	unsigned char *p = buf;

	while (n > 0) {
		ssize_t r = getrandom(p, n, 0);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return AIF_IO;
		}
		p += r;
		n -= (size_t)r;
	}
	return AIF_OK;
}

enum aif_err
aif_random_id(const char *prefix, size_t n, char *out, size_t cap)
{
	unsigned char raw[64];
	size_t plen = strlen(prefix), i = 0, k = 0;

	if (plen + n + 1 > cap || n > 48)
		return AIF_TOOBIG;
	memcpy(out, prefix, plen);
	/* Rejection sampling keeps the base62 digits uniform. */
	while (i < n) {
		if (k == 0 || k >= sizeof(raw)) {
			if (aif_random_bytes(raw, sizeof(raw)) != AIF_OK) {
				out[0] = '\0';
				return AIF_IO;
			}
			k = 0;
		}
		unsigned char b = raw[k++];
		if (b >= 248)
			continue;
		out[plen + i++] = base62[b % 62];
	}
	out[plen + n] = '\0';
	return AIF_OK;
}

int
aif_strlcpy(char *dst, const char *src, size_t cap)
{
	size_t n = strlen(src);

	if (cap == 0)
		return 1;
	if (n >= cap) {
		memcpy(dst, src, cap - 1);
		dst[cap - 1] = '\0';
		return 1;
	}
	memcpy(dst, src, n + 1);
	return 0;
}

int
aif_parse_i64(const char *s, int64_t min, int64_t max, int64_t *out)
{
	char *end;
	long long v;

	if (s == NULL || !((*s >= '0' && *s <= '9') || (*s == '-' && s[1] >= '0' &&
	    s[1] <= '9')))
		return -1;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

void
aif_utf8_trim_tail(char *s)
{
	size_t n = strlen(s), i = n, cont = 0;

	/* walk back over continuation bytes to the lead byte of the last sequence */
	while (i > 0 && ((unsigned char)s[i - 1] & 0xC0) == 0x80 && cont < 3) {
		i--;
		cont++;
	}
	if (i == 0)
		return;
	unsigned char lead = (unsigned char)s[i - 1];
	size_t need = lead < 0x80 ? 0 : (lead & 0xE0) == 0xC0 ? 1 : (lead & 0xF0) == 0xE0 ? 2 :
	    (lead & 0xF8) == 0xF0 ? 3 : 0;
	if (lead >= 0x80 && cont < need)
		s[i - 1] = '\0';	/* incomplete: drop the whole sequence */
}

int
aif_url_join(char *out, size_t cap, const char *base, const char *path)
{
	size_t blen = strlen(base);
	int n;

	while (blen > 0 && base[blen - 1] == '/')
		blen--;
	n = snprintf(out, cap, "%.*s%s", (int)blen, base, path);
	if (n < 0 || (size_t)n >= cap) {
		if (cap > 0)
			out[0] = '\0';
		return -1;
	}
	return 0;
}

void
aif_hex_encode(const unsigned char *in, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
}

/* The value of lowercase hex digit c, or -1. */
static int
hex_digit(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

int
aif_hex_decode(const char *in, unsigned char *out, size_t n)
{
	if (in == NULL || strlen(in) != 2 * n)
		return -1;
	for (size_t i = 0; i < n; i++) {
		int hi = hex_digit(in[2 * i]), lo = hex_digit(in[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return -1;
		out[i] = (unsigned char)(hi << 4 | lo);
	}
	return 0;
}
