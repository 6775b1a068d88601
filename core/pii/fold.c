/* fold.c -- texts are folded before matching: fullwidth digits, letters and
 * punctuation, Unicode dashes and spaces to ASCII, zero-width characters dropped; a
 * map from each folded byte to the caller's lets scan.c and render.c give hits back in
 * the caller's bytes, so the output keeps everything around them as it was. */
#include <stdlib.h>
#include <string.h>

#include "pii_int.h"

/* ---- folding the text ------------------------------------------------------------- */

/* If the character at p (n bytes left, valid UTF-8) folds, sets *len to its length and
 * returns its ASCII replacement, or 0 when it is dropped; returns -1 otherwise. */
static int
fold(const unsigned char *p, size_t n, size_t *len)
{
	if (p[0] == 0xC2 && n >= 2 && (p[1] == 0xA0 || p[1] == 0xAD)) {
		*len = 2;
		return p[1] == 0xA0 ? ' ' : 0;			/* NBSP, soft hyphen */
	}
	if (n < 3)
		return -1;
	*len = 3;
	if (p[0] == 0xEF && p[1] == 0xBC) {			/* U+FF00..FF3F */
		if (p[2] >= 0x90 && p[2] <= 0x99)
			return '0' + (p[2] - 0x90);
		if (p[2] >= 0xA1 && p[2] <= 0xBA)
			return 'A' + (p[2] - 0xA1);
		switch (p[2]) {
		case 0x8B: return '+';
		case 0x8D: return '-';
		case 0x8E: return '.';
		case 0x88: return '(';
		case 0x89: return ')';
		case 0x9A: return ':';
		case 0xA0: return '@';
		case 0xBF: return '_';
		default: return -1;
		}
	}
	if (p[0] == 0xEF && p[1] == 0xBD && p[2] >= 0x81 && p[2] <= 0x9A)
		return 'a' + (p[2] - 0x81);			/* fullwidth a-z */
	if (p[0] == 0xEF && p[1] == 0xBB && p[2] == 0xBF)
		return 0;					/* BOM / ZWNBSP */
	if (p[0] == 0xE2 && p[1] == 0x80) {
		if (p[2] <= 0x8A || p[2] == 0xAF)
			return ' ';				/* U+2000..200A, 202F */
		if (p[2] >= 0x8B && p[2] <= 0x8D)
			return 0;				/* ZWSP, ZWNJ, ZWJ */
		if (p[2] >= 0x90 && p[2] <= 0x95)
			return '-';				/* hyphens, dashes */
		return -1;
	}
	if (p[0] == 0xE2 && p[1] == 0x81 && p[2] == 0xA0)
		return 0;					/* word joiner */
	if (p[0] == 0xE2 && p[1] == 0x88 && p[2] == 0x92)
		return '-';					/* minus sign */
	if (p[0] == 0xE3 && p[1] == 0x80 && p[2] == 0x80)
		return ' ';					/* ideographic space */
	return -1;
}

/* 1 when some character of text folds: only bytes C2, E2, E3 and EF start one, so
 * memchr finds the few places worth a look. */
int
aif_pii_needs_fold(const char *text, size_t len)
{
	static const unsigned char leads[] = { 0xEF, 0xE2, 0xE3, 0xC2 };
	const unsigned char *s = (const unsigned char *)text, *p;
	size_t	 k, l;

	for (k = 0; k < sizeof(leads); k++)
		for (p = s; (p = memchr(p, leads[k], len - (size_t)(p - s))) != NULL; p++)
			if (fold(p, len - (size_t)(p - s), &l) >= 0)
				return 1;
	return 0;
}

/* Writes the folded text into *buf (new) and, for each of its bytes and one past the
 * end, the offset of the byte it came from into *map (new). */
enum aif_err
aif_pii_fold_text(const char *text, size_t len, char **buf, size_t *blen, uint32_t **map)
{
	const unsigned char *s = (const unsigned char *)text;
	size_t	 i = 0, o = 0, l;
	int	 c;

	*buf = malloc(len + 1);
	*map = malloc((len + 1) * sizeof(**map));
	if (*buf == NULL || *map == NULL) {
		free(*buf);
		free(*map);
		*buf = NULL;
		*map = NULL;
		return AIF_NOMEM;
	}
	while (i < len) {
		if (s[i] >= 0xC2 && (c = fold(s + i, len - i, &l)) >= 0) {
			if (c > 0) {
				(*map)[o] = (uint32_t)i;
				(*buf)[o++] = (char)c;
			}
			i += l;
			continue;
		}
		(*map)[o] = (uint32_t)i;
		(*buf)[o++] = text[i++];
	}
	(*map)[o] = (uint32_t)len;
	(*buf)[o] = '\0';
	*blen = o;
	return AIF_OK;
}
