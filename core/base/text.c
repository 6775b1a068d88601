/* text.c -- names validated, text escaped for terminals and spreadsheets; see text.h. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "text.h"

#define UNIT_MAX	8	/* one escaped unit: "\u0080", "\xff", a character */

/* Decodes the UTF-8 sequence at s (n bytes left): its code point into *cp and its length,
 * or 0 when it is not well-formed (overlong, surrogate, over U+10FFFF, cut short). */
static size_t
utf8_decode(const unsigned char *s, size_t n, uint32_t *cp)
{
	size_t		 len, i;
	uint32_t	 c, min;

	if (s[0] < 0x80) {
		*cp = s[0];
		return 1;
	}
	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		len = 2;
		c = s[0] & 0x1f;
		min = 0x80;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		len = 3;
		c = s[0] & 0x0f;
		min = 0x800;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		len = 4;
		c = s[0] & 0x07;
		min = 0x10000;
	} else
		return 0;
	if (n < len)
		return 0;
	for (i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		c = (c << 6) | (s[i] & 0x3f);
	}
	if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return len;
}

/* Format characters that hide text or change its direction on screen. */
static int
invisible(uint32_t c)
{
	return (c >= 0x200b && c <= 0x200f) || (c >= 0x2028 && c <= 0x202e) ||
	    (c >= 0x2060 && c <= 0x2069) || c == 0xfeff;
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
		if ((k = utf8_decode(p + i, n - i, &c)) == 0) {
			*why = "is not valid UTF-8";
			return 0;
		}
		if (c < 0x20 || c == 0x7f || (c >= 0x80 && c <= 0x9f)) {
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
	if ((k = utf8_decode(s + *i, n - *i, &c)) == 0) {
		(*i)++;
		return (size_t)snprintf(out, UNIT_MAX, "\\x%02x", b);
	}
	if (c <= 0x9f || invisible(c)) {
		*i += k;
		return (size_t)snprintf(out, UNIT_MAX, "\\u%04x", (unsigned)c);
	}
	memcpy(out, s + *i, k);
	*i += k;
	return k;
}

const char *
aif_text_escape(const char *s, char *buf, size_t cap)
{
	char	 unit[UNIT_MAX];
	size_t	 o = 0, i = 0, n, k;

	if (cap == 0)
		return buf;
	if (s == NULL)
		s = "-";
	if (cap < 4) {			/* no room for "..." */
		buf[0] = '\0';
		return buf;
	}
	/* unit by unit, keeping room for "..." and the NUL should a later one not fit */
	for (n = strlen(s); i < n;) {
		size_t at = i;
		k = escape_unit((const unsigned char *)s, n, &i, unit);
		if (o + k + 3 + 1 > cap) {
			i = at;
			break;
		}
		memcpy(buf + o, unit, k);
		o += k;
	}
	if (i < n) {
		memcpy(buf + o, "...", 3);
		o += 3;
	}
	buf[o] = '\0';
	return buf;
}

const char *
aif_csv_cell(const char *s, char *buf, size_t cap)
{
	char	 esc[UNIT_MAX];
	size_t	 o = 0, i, n, k;
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
	/* escaped unit by unit, quotes doubled, room kept for "...", the quote, NUL */
	for (i = 0, n = strlen(s); i < n;) {
		size_t at = i;
		k = escape_unit((const unsigned char *)s, n, &i, esc);
		if (k == 1 && esc[0] == '"')
			esc[k++] = '"';
		if (o + k + 3 + 2 > cap) {
			i = at;
			break;
		}
		memcpy(buf + o, esc, k);
		o += k;
	}
	if (i < n) {
		memcpy(buf + o, "...", 3);
		o += 3;
	}
	buf[o++] = '"';
	buf[o] = '\0';
	return buf;
}
