/* tracectx.c -- W3C traceparent checks and new spans; see tracectx.h. */
#include <stdio.h>
#include <string.h>

#include "tracectx.h"
#include "util.h"

/* 1 when s[0..n) is lowercase hex and not all zeros. */
static int
hex_id(const char *s, size_t n)
{
	int nonzero = 0;

	for (size_t i = 0; i < n; i++) {
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
		nonzero |= s[i] != '0';
	}
	return nonzero;
}

int
aif_trace_valid(const char *s)
{
	size_t n = s != NULL ? strlen(s) : 0;

	if (n < AIF_TRACEPARENT_LEN || s[2] != '-' || s[35] != '-' || s[52] != '-')
		return 0;
	/* version ff is invalid; 00 is exactly 55 long; a later one may carry more after
	   a '-' */
	if (!hex_id(s, 2) && strncmp(s, "00", 2) != 0)
		return 0;
	if (strncmp(s, "ff", 2) == 0 || (strncmp(s, "00", 2) == 0 &&
	    n != AIF_TRACEPARENT_LEN) || (n > AIF_TRACEPARENT_LEN && s[55] != '-'))
		return 0;
	return hex_id(s + 3, 32) && hex_id(s + 36, 16) &&
	    strspn(s + 53, "0123456789abcdef") >= 2;
}

int
aif_tracestate_valid(const char *s)
{
	size_t n = s != NULL ? strlen(s) : 0;

	if (n == 0 || n > AIF_TRACESTATE_MAX)
		return 0;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
			return 0;
	return 1;
}

/* Writes n random bytes as 2n lowercase hex digits at out (not NUL-terminated); a
 * draw of all zeros (invalid as an id) is drawn again. */
static int
random_hex(char *out, size_t n)
{
	unsigned char b[16];
	int nonzero = 0;

	while (!nonzero) {
		if (n > sizeof(b) || aif_random_bytes(b, n) != AIF_OK)
			return -1;
		for (size_t i = 0; i < n; i++)
			nonzero |= b[i] != 0;
	}
	aif_hex_encode(b, n, out);
	return 0;
}

int
aif_trace_sampled(const char *tp)
{
	char f = tp[54];

	return ((f >= 'a' ? f - 'a' + 10 : f - '0') & 1) != 0;
}

int
aif_trace_of_request(const char *caller, char *out)
{
	if (aif_trace_valid(caller)) {
		memcpy(out, "00", 2);
		memcpy(out + 2, caller + 2, AIF_TRACEPARENT_LEN - 2);
		/* version 00 knows the sampled bit only: the others are zeroed */
		out[53] = '0';
		out[54] = aif_trace_sampled(caller) ? '1' : '0';
		out[AIF_TRACEPARENT_LEN] = '\0';
		return 0;
	}
	memcpy(out, "00-", 3);
	if (random_hex(out + 3, 16) != 0 || random_hex(out + 36, 8) != 0)
		return -1;
	out[35] = '-';
	memcpy(out + 52, "-01", 4);	/* with its NUL */
	return 0;
}

int
aif_trace_child(const char *parent, char *out)
{
	if (!aif_trace_valid(parent))
		return -1;
	memcpy(out, "00", 2);
	memcpy(out + 2, parent + 2, AIF_TRACEPARENT_LEN - 2);
	out[AIF_TRACEPARENT_LEN] = '\0';
	return random_hex(out + 36, 8);
}
