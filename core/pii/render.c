/* render.c -- writes a text with its hits replaced by their actions (aif_pii_apply):
 * a placeholder or a partial mask, removal, or a keyed hash (HMAC-SHA-256 with the
 * engine's derived key, so equal values give equal tokens without revealing them). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "pii_int.h"

#define TOKEN_MAX	(2 + AIF_PII_TYPE_LEN + 64)	/* "[TYPE:hex]" */

/* ---- rendering ----------------------------------------------------------------------- */

struct outbuf {
	char	*p;
	size_t	 n, cap;	/* cap includes room for the NUL */
};

/* Appends; the buffer was sized for the worst case, so running out is a bug caught
 * here rather than an overflow. */
static int
put(struct outbuf *o, const char *s, size_t n)
{
	if (n >= o->cap - o->n)
		return -1;
	memcpy(o->p + o->n, s, n);
	o->n += n;
	return 0;
}

static int
putc_(struct outbuf *o, char c)
{
	return put(o, &c, 1);
}

/* Folds span text[s, e) like the scan did (for partial masks and hashes): new, NUL-
 * terminated, *n bytes. */
static char *
folded_span(const char *text, size_t s, size_t e, size_t *n)
{
	char	*fb = NULL;
	uint32_t *map = NULL;

	if (!aif_pii_needs_fold(text + s, e - s)) {
		if ((fb = malloc(e - s + 1)) == NULL)
			return NULL;
		memcpy(fb, text + s, e - s);
		fb[e - s] = '\0';
		*n = e - s;
		return fb;
	}
	if (aif_pii_fold_text(text + s, e - s, &fb, n, &map) != AIF_OK)
		return NULL;
	free(map);
	return fb;
}

/* Generic partial mask: keeps the last 4 of 6+ ASCII alphanumerics (separators
 * stay), else the first character; every other character becomes '*'. */
static int
partial_generic(struct outbuf *o, const char *p, size_t n)
{
	size_t	 i, alnum = 0, seen = 0, l;

	for (i = 0; i < n; i++)
		alnum += pii_is_alnum((unsigned char)p[i]);
	if (alnum >= 6) {
		for (i = 0; i < n; i++) {
			unsigned char c = (unsigned char)p[i];
			if (pii_is_alnum(c)) {
				if (putc_(o, ++seen > alnum - 4 ? (char)c : '*') != 0)
					return -1;
			} else if (c < 0x80) {
				if (putc_(o, (char)c) != 0)
					return -1;
			} else {
				l = aif_utf8_seq((const unsigned char *)p + i, n - i,
				    NULL);
				i += (l > 0 ? l : 1) - 1;
				if (putc_(o, '*') != 0)
					return -1;
			}
		}
		return 0;
	}
	for (i = 0; i < n; i += l) {
		l = aif_utf8_seq((const unsigned char *)p + i, n - i, NULL);
		if (l == 0)
			l = 1;
		if (i == 0 ? put(o, p, l) : putc_(o, '*'))
			return -1;
	}
	return 0;
}

/* Keeps the digits at positions < keep_head and >= ndigits - keep_tail. */
static int
partial_digits(struct outbuf *o, const char *p, size_t n, size_t keep_head,
    size_t keep_tail)
{
	size_t	 i, nd = 0, k = 0;

	for (i = 0; i < n; i++)
		nd += p[i] >= '0' && p[i] <= '9';
	for (i = 0; i < n; i++) {
		char c = p[i];
		if (c >= '0' && c <= '9') {
			if (k >= keep_head && k + keep_tail < nd)
				c = '*';
			k++;
		}
		if (putc_(o, c) != 0)
			return -1;
	}
	return 0;
}

/* A name: a Korean one keeps its surname ("김**"), an English one its initials
 * ("J. S."). */
static int
partial_person(struct outbuf *o, const char *p, size_t n)
{
	size_t	 i;
	int	 first = 1;

	if (n >= 3 && (unsigned char)p[0] >= 0x80) {
		if (!pii_hangul_at(p, n, 0))
			return partial_generic(o, p, n);	/* a custom rule's match */
		if (put(o, p, 3) != 0)
			return -1;
		for (i = 3; i < n; i++)
			if (((unsigned char)p[i] & 0xC0) != 0x80 && putc_(o, '*') != 0)
				return -1;
		return 0;
	}
	for (i = 0; i < n; i++) {
		if (!pii_is_alnum((unsigned char)p[i]) || (i > 0 && p[i - 1] != ' '))
			continue;
		if ((!first && putc_(o, ' ') != 0) || putc_(o, p[i]) != 0 ||
		    putc_(o, '.') != 0)
			return -1;
		first = 0;
	}
	return 0;
}

/* An address keeps its district or city for analytics: "서울특별시 강남구 [ADDRESS]",
 * "[ADDRESS], Mountain View, CA". */
static int
partial_address(struct outbuf *o, const char *p, size_t n)
{
	size_t	 s = 0, e = 0;
	int	 where = pii_address_public_part(p, n, &s, &e);

	if (where == 1)
		return put(o, p + s, e - s) || put(o, " [ADDRESS]", 10);
	if (where == 2)
		return put(o, "[ADDRESS], ", 11) || put(o, p + s, e - s);
	return put(o, "[ADDRESS]", 9);
}

static int
partial(struct outbuf *o, int type, const char *p, size_t n)
{
	size_t	 i, head = 0, groups = 0;
	const char *at;

	switch (type) {
	case AIF_PII_T_EMAIL:
		if ((at = memchr(p, '@', n)) == NULL)
			break;
		return putc_(o, p[0]) || put(o, "***", 3) ||
		    put(o, at, (size_t)(p + n - at));
	case AIF_PII_T_PHONE:
		/* the first group (and the country's, after '+') and the last 4 digits */
		for (i = 0; i < n; i++) {
			if (p[i] >= '0' && p[i] <= '9') {
				head++;
				continue;
			}
			if (head > 0 && ++groups == (p[0] == '+' ? 2u : 1u))
				break;
			if (head > 0 && p[0] != '+')
				break;
		}
		if (i == n)
			head = p[0] == '+' ? 4 : 3;
		return partial_digits(o, p, n, head, 4);
	case AIF_PII_T_KR_RRN:
	case AIF_PII_T_KR_FRN:
		return partial_digits(o, p, n, 7, 0);
	case AIF_PII_T_IPV4:
		for (i = 0; i < n && groups < 2; i++)
			groups += p[i] == '.';
		if (put(o, p, i) != 0)
			return -1;
		for (; i < n; i++)
			if (putc_(o, p[i] >= '0' && p[i] <= '9' ? '*' : p[i]) != 0)
				return -1;
		return 0;
	case AIF_PII_T_IPV6:
		for (i = 0; i < n && p[i] != ':'; i++)
			;
		return put(o, p, i) || put(o, ":****", 5);
	case AIF_PII_T_PERSON:
		return partial_person(o, p, n);
	case AIF_PII_T_ADDRESS:
		return partial_address(o, p, n);
	case AIF_PII_T_SECRET:
		if (n > 10 && memcmp(p, "-----", 5) == 0)
			return put(o, "[SECRET]", 8);
		for (i = 0; i < n && i < 8 && p[i] != '-' && p[i] != '_'; i++)
			;
		if (i == n || i == 8)
			i = n > 8 ? 4 : 0;
		else
			i++;
		return put(o, p, i) || put(o, "****", 4);
	default:
		break;
	}
	return partial_generic(o, p, n);
}

/* Canonical form of a value for its hash, so spellings of one value agree. */
static size_t
canonical(int type, const char *p, size_t n, char *out)
{
	size_t	 i, k = 0;

	switch (type) {
	case AIF_PII_T_EMAIL:
		for (i = 0; i < n; i++)
			out[k++] = p[i] >= 'A' && p[i] <= 'Z' ? (char)(p[i] - 'A' + 'a')
			                                      : p[i];
		return k;
	case AIF_PII_T_IBAN:
		for (i = 0; i < n; i++)
			if (pii_is_alnum((unsigned char)p[i]))
				out[k++] = p[i] >= 'a' && p[i] <= 'z' ?
				    (char)(p[i] - 'a' + 'A') : p[i];
		return k;
	case AIF_PII_T_PHONE:
	case AIF_PII_T_KR_RRN:
	case AIF_PII_T_KR_FRN:
	case AIF_PII_T_KR_BRN:
	case AIF_PII_T_CREDIT_CARD:
	case AIF_PII_T_KR_DRIVER_LICENSE:
	case AIF_PII_T_KR_BANK_ACCOUNT:
	case AIF_PII_T_US_SSN:
		for (i = 0; i < n; i++)
			if (p[i] >= '0' && p[i] <= '9')
				out[k++] = p[i];
		/* +82 10-... and 010-... are one number */
		if (type == AIF_PII_T_PHONE && n > 0 && p[0] == '+' && k > 2 &&
		    out[0] == '8' && out[1] == '2') {
			out[0] = '0';
			memmove(out + 1, out + 2, k - 2);
			k--;
		}
		return k;
	default:
		memcpy(out, p, n);
		return n;
	}
}

static int
render_hash(struct outbuf *o, const struct aif_pii *pii, int type, const char *p,
    size_t n)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char	 md[EVP_MAX_MD_SIZE];
	unsigned int	 mdlen = 0;
	const char	*name = pii->types[type];
	size_t		 nlen = strlen(name), clen, i;
	char		*msg;
	int		 rc = -1;

	if ((msg = malloc(nlen + 1 + n + 1)) == NULL)
		return -1;
	memcpy(msg, name, nlen + 1);			/* the type and a NUL */
	clen = canonical(type, p, n, msg + nlen + 1);
	if (HMAC(EVP_sha256(), pii->hash_key, sizeof(pii->hash_key),
	    (const unsigned char *)msg, nlen + 1 + clen, md, &mdlen) == NULL ||
	    mdlen * 2 < (unsigned)pii->hash_hex)
		goto out;
	if (putc_(o, '[') || put(o, name, nlen) || putc_(o, ':'))
		goto out;
	for (i = 0; i < (size_t)pii->hash_hex / 2; i++)
		if (putc_(o, hex[md[i] >> 4]) || putc_(o, hex[md[i] & 15]))
			goto out;
	rc = putc_(o, ']');
out:
	OPENSSL_cleanse(msg, nlen + 1 + n + 1);
	free(msg);
	OPENSSL_cleanse(md, sizeof(md));
	return rc;
}

static int
render(struct outbuf *o, const struct aif_pii_actions *act, const char *text,
    const struct aif_pii_hit *h)
{
	const struct aif_pii *pii = act->pii;
	const char	*name = pii->types[h->type];
	char		*p;
	size_t		 n = 0;
	int		 rc;

	switch (h->action) {
	case AIF_PII_ALLOW:
		return put(o, text + h->start, h->end - h->start);
	case AIF_PII_REDACT:
		return 0;
	case AIF_PII_HASH:
	case AIF_PII_MASK:
	case AIF_PII_BLOCK:
	default:
		break;
	}
	if (h->action != AIF_PII_HASH && h->style != AIF_PII_STYLE_PARTIAL)
		return putc_(o, '[') || put(o, name, strlen(name)) || putc_(o, ']');
	if ((p = folded_span(text, h->start, h->end, &n)) == NULL)
		return -1;
	rc = h->action == AIF_PII_HASH ? render_hash(o, pii, h->type, p, n) :
	    partial(o, h->type, p, n);
	OPENSSL_cleanse(p, n);
	free(p);
	return rc;
}

enum aif_err
aif_pii_apply(const struct aif_pii_actions *act, const char *text, size_t len,
    const struct aif_pii_hit *hits, size_t nhits, char **out, size_t *outlen)
{
	struct outbuf	 o = { NULL, 0, 0 };
	size_t		 i, pos = 0, span;

	*out = NULL;
	*outlen = 0;
	o.cap = len + 1;
	for (i = 0; i < nhits; i++) {
		if (hits[i].start < pos || hits[i].end > len ||
		    hits[i].end < hits[i].start)
			return AIF_INVALID;
		span = hits[i].end - hits[i].start;
		o.cap += TOKEN_MAX + span + 8;	/* the worst of every rendering */
		pos = hits[i].end;
	}
	if ((o.p = malloc(o.cap)) == NULL)
		return AIF_NOMEM;
	for (i = 0, pos = 0; i < nhits; i++) {
		if (put(&o, text + pos, hits[i].start - pos) != 0 ||
		    render(&o, act, text, &hits[i]) != 0)
			goto fail;
		pos = hits[i].end;
	}
	if (put(&o, text + pos, len - pos) != 0)
		goto fail;
	o.p[o.n] = '\0';
	*out = o.p;
	*outlen = o.n;
	return AIF_OK;
fail:
	free(o.p);
	return AIF_NOMEM;
}
