/* words.c -- reading words for the detectors written in C (person.c, address.c): runs
 * of Hangul syllables and digits, capitalised ASCII words, word sets hashed once
 * (pii_wordset_build) and looked up exactly or by prefix, and the label a value
 * follows ("이름: ", "Address: "). Every function looks at a bounded number of bytes,
 * so the detectors that call it once per word stay linear. Lookups write nothing:
 * thread-safe once the sets are built. */
#include <string.h>

#include "pii_int.h"

#define LABEL_GAP	8	/* bytes of ':', '"', '=', spaces between label and value */

size_t
pii_kword_end(const char *buf, size_t len, size_t i, size_t max)
{
	size_t	 start = i;

	while (i < len && i - start < max) {
		if (buf[i] >= '0' && buf[i] <= '9')
			i++;
		else if (pii_hangul_at(buf, len, i))
			i += 3;
		else
			break;
	}
	pii_match_work += i - start + 1;
	return i;
}

size_t
pii_kword_start(const char *buf, size_t i, size_t max)
{
	size_t	 end = i;

	while (i > 0 && end - i < max) {
		if (buf[i - 1] >= '0' && buf[i - 1] <= '9')
			i--;
		else if (i >= 3 && pii_hangul_at(buf, i, i - 3))
			i -= 3;
		else
			break;
	}
	pii_match_work += end - i + 1;
	return i;
}

int
pii_syl_is(const char *buf, size_t len, size_t i, const char *syl)
{
	return i + 3 <= len && memcmp(buf + i, syl, 3) == 0;
}

int
pii_syl_in_n(const char *buf, size_t len, size_t i, const char *syls, size_t n)
{
	size_t	 k;

	if (i + 3 > len)
		return 0;
	for (k = 0; k + 3 <= n; k += 3)
		if (memcmp(buf + i, syls + k, 3) == 0)
			return 1;
	return 0;
}

void
pii_wordset_build(struct pii_wordset *ws)
{
	size_t	 k, n, h;

	for (k = 0; ws->list[k] != NULL && k < (ws->mask + 1) / 2; k++) {
		n = strlen(ws->list[k]);
		if (n > ws->maxlen)
			ws->maxlen = (uint8_t)(n < 255 ? n : 255);
		for (h = aif_fnv1a(AIF_FNV1A_INIT, ws->list[k], n) & ws->mask; ws->slot[h] != 0;
		    h = (h + 1) & ws->mask)
			;
		ws->slot[h] = (uint16_t)(k + 1);
	}
}

int
pii_word_in(const struct pii_wordset *ws, const char *w, size_t n)
{
	const char *e;
	size_t	 h;

	if (n == 0 || n > ws->maxlen)
		return 0;
	for (h = aif_fnv1a(AIF_FNV1A_INIT, w, n) & ws->mask; ws->slot[h] != 0;
	    h = (h + 1) & ws->mask) {
		e = ws->list[ws->slot[h] - 1];
		if (strnlen(e, n + 1) == n && memcmp(e, w, n) == 0)
			return 1;
	}
	return 0;
}

size_t
pii_prefix_in(const struct pii_wordset *ws, const char *w, size_t n)
{
	size_t	 l = n < ws->maxlen ? n : ws->maxlen;

	for (; l > 0; l--)
		if ((l == n || ((unsigned char)w[l] & 0xC0) != 0x80) && pii_word_in(ws, w, l))
			return l;
	return 0;
}

size_t
pii_aword_end(const char *buf, size_t len, size_t i)
{
	size_t	 start = i;

	while (i < len && i - start < 40 &&
	    (pii_is_alnum((unsigned char)buf[i]) || buf[i] == '\'' ||
	    (buf[i] == '-' && i + 1 < len && pii_is_alnum((unsigned char)buf[i + 1]))))
		i++;
	pii_match_work += i - start + 1;
	return i;
}

int
pii_cap_word(const char *buf, size_t s, size_t e)
{
	size_t	 i;

	if (e - s < 2 || buf[s] < 'A' || buf[s] > 'Z')
		return 0;
	for (i = s + 1; i < e; i++)
		if (buf[i] >= '0' && buf[i] <= '9')
			return 0;
	/* "McDonald", "O'Brien", "Mary-Ann"; not "NASA" */
	return (buf[s + 1] >= 'a' && buf[s + 1] <= 'z') || buf[s + 1] == '\'' ||
	    (e - s > 2 && buf[s + 2] >= 'a' && buf[s + 2] <= 'z');
}

/* 1 when byte c belongs to a word a label is made of. */
static int
label_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c >= 0x80;
}

/* 1 when the last one, two or three words ending at i (joined by single spaces or
 * '_', ASCII lowered) are a label; with `particle`, the last word may also carry a
 * Korean particle (은/는/이/가). */
static int
label_words_at(const char *buf, size_t i, const struct pii_wordset *labels)
{
	char	 low[64];
	size_t	 start = i, k, words, n;

	for (words = 0; words < 3; words++) {
		while (start > 0 && i - start < sizeof(low) - 1 &&
		    label_char((unsigned char)buf[start - 1]))
			start--;
		if (start == i || (start > 0 && pii_is_alnum((unsigned char)buf[start - 1])))
			return 0;
		n = i - start;
		for (k = 0; k < n; k++)
			low[k] = buf[start + k] >= 'A' && buf[start + k] <= 'Z' ?
			    (char)(buf[start + k] - 'A' + 'a') : buf[start + k] == '_' ? ' ' :
			    buf[start + k];
		if (pii_word_in(labels, low, n))
			return 1;
		if (start < 2 || (buf[start - 1] != ' ' && buf[start - 1] != '_') ||
		    !label_char((unsigned char)buf[start - 2]))
			return 0;
		start--;
	}
	return 0;
}

int
pii_label_before(const char *buf, size_t s, const struct pii_wordset *labels)
{
	size_t	 i = s, gap = 0;

	while (i > 0 && gap < LABEL_GAP && pii_label_gap((unsigned char)buf[i - 1])) {
		i--;
		gap++;
	}
	if (i == 0 || !label_char((unsigned char)buf[i - 1]))
		return 0;
	if (label_words_at(buf, i, labels))
		return 1;
	/* a Korean label with its particle: "이름은 ", "담당자는 " */
	return i >= 6 && gap > 0 && pii_syl_in(buf, i, i - 3, "은는이가") &&
	    label_words_at(buf, i - 3, labels);
}
