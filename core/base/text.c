/* text.c -- names validated, text escaped for terminals and spreadsheets; see text.h. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "text.h"
#include "util.h"

#define UNIT_MAX	8	/* one escaped unit: "\u0080", "\xff", a character */

/* Format characters that hide text or change its direction on screen. */
static int
invisible(uint32_t c)
{
	return (c >= 0x200b && c <= 0x200f) || (c >= 0x2028 && c <= 0x202e) ||
	    (c >= 0x2060 && c <= 0x2069) || c == 0xfeff;
}

/* A control character: C0, DEL, C1. */
static int
control(uint32_t c)
{
	return c < 0x20 || c == 0x7f || (c >= 0x80 && c <= 0x9f);
}

int
aif_text_unsafe_cp(uint32_t c)
{
	return control(c) || invisible(c);
}

int
aif_name_valid(const char *s, const char **why)
{
	const unsigned char	*p = (const unsigned char *)s;
	size_t			 n, i, k;
	uint32_t		 c;
	const char		*dummy;

	if (why == NULL)
		why = &dummy;
	if (s == NULL || (n = strlen(s)) == 0) {
		*why = "is empty";
		return 0;
	}
	if (n > AIF_NAME_MAX) {
		*why = "is longer than 128 bytes";
		return 0;
	}
	if (p[0] == ' ' || p[n - 1] == ' ') {
		*why = "starts or ends with a space";
		return 0;
	}
	for (i = 0; i < n; i += k) {
		if ((k = aif_utf8_seq(p + i, n - i, &c)) == 0) {
			*why = "is not valid UTF-8";
			return 0;
		}
		if (control(c)) {
			*why = "contains a control character";
			return 0;
		}
		if (invisible(c)) {
			*why = "contains an invisible or direction-changing character";
			return 0;
		}
	}
	return 1;
}

/* The escaped form of the unit at s[*i] (n bytes in all) into out; advances *i.
 * Returns the length written (at most UNIT_MAX - 1, not NUL-terminated). */
static size_t
escape_unit(const unsigned char *s, size_t n, size_t *i, char out[UNIT_MAX])
{
	uint32_t	 c;
	size_t		 k;
	unsigned char	 b = s[*i];

	if (b == '\\') {
		(*i)++;
		memcpy(out, "\\\\", 2);
		return 2;
	}
	if (b == '\n' || b == '\r' || b == '\t') {
		(*i)++;
		out[0] = '\\';
		out[1] = b == '\n' ? 'n' : b == '\r' ? 'r' : 't';
		return 2;
	}
	if (b < 0x20 || b == 0x7f) {
		(*i)++;
		return (size_t)snprintf(out, UNIT_MAX, "\\x%02x", b);
	}
	if (b < 0x80) {
		(*i)++;
		out[0] = (char)b;
		return 1;
	}
	if ((k = aif_utf8_seq(s + *i, n - *i, &c)) == 0) {
		(*i)++;
		return (size_t)snprintf(out, UNIT_MAX, "\\x%02x", b);
	}
	if (aif_text_unsafe_cp(c)) {
		*i += k;
		return (size_t)snprintf(out, UNIT_MAX, "\\u%04x", (unsigned)c);
	}
	memcpy(out, s + *i, k);
	*i += k;
	return k;
}

/* Appends s escaped unit by unit (quotes doubled when `csv`) to buf[cap] at *o,
 * keeping room for "..." and `keep` more bytes should a later unit not fit; then
 * "..." when it was cut. */
static void
escape_cut(const char *s, char *buf, size_t cap, size_t *o, size_t keep, int csv)
{
	char	 unit[UNIT_MAX];
	size_t	 i = 0, n = strlen(s), k, at;

	while (i < n) {
		at = i;
		k = escape_unit((const unsigned char *)s, n, &i, unit);
		if (csv && k == 1 && unit[0] == '"')
			unit[k++] = '"';
		if (*o + k + 3 + keep > cap) {
			i = at;
			break;
		}
		memcpy(buf + *o, unit, k);
		*o += k;
	}
	if (i < n) {
		memcpy(buf + *o, "...", 3);
		*o += 3;
	}
}

const char *
aif_text_escape(const char *s, char *buf, size_t cap)
{
	size_t	 o = 0;

	if (cap == 0)
		return buf;
	if (s == NULL)
		s = "-";
	if (cap < 4) {			/* no room for "..." */
		buf[0] = '\0';
		return buf;
	}
	escape_cut(s, buf, cap, &o, 1, 0);
	buf[o] = '\0';
	return buf;
}

const char *
aif_csv_cell(const char *s, char *buf, size_t cap)
{
	size_t	 o = 0;
	int	 formula;

	if (cap < 8) {
		if (cap > 0)
			buf[0] = '\0';
		return buf;
	}
	if (s == NULL)
		s = "";
	formula = s[0] == '=' || s[0] == '+' || s[0] == '-' || s[0] == '@' ||
	    s[0] == '\t' || s[0] == '\r';
	buf[o++] = '"';
	if (formula)
		buf[o++] = '\'';
	escape_cut(s, buf, cap, &o, 2, 1);	/* room for the quote and the NUL */
	buf[o++] = '"';
	buf[o] = '\0';
	return buf;
}

int
aif_token_ok(const char *s, size_t max, const char *extra)
{
	size_t n = 0;

	for (; s[n] != '\0'; n++)
		if (n >= max || !((s[n] >= 'a' && s[n] <= 'z') || (s[n] >= 'A' && s[n] <= 'Z') ||
		    (s[n] >= '0' && s[n] <= '9') || strchr(extra, s[n]) != NULL))
			return 0;
	return n > 0;
}
