/* multipart.c -- a multipart/form-data body cut into its parts, in place; see
 * multipart.h. The body is searched with memmem(3) for "CRLF--boundary"; part headers
 * are copied line by line into a bounded buffer before they are read as text. */
#include <string.h>
#include <strings.h>

#include "multipart.h"
#include "util.h"

#define NPOS	((size_t)-1)

/* What is searched for in the body: CRLF "--" boundary. The delimiter at the very
 * start of a body is the same without its CRLF (s + 2). */
struct delim {
	char	s[4 + AIF_MP_BOUNDARY_MAX];
	size_t	len;
};

/* What next_param found. */
enum param {
	PARAM_END,	/* no more parameters */
	PARAM_OK,
	PARAM_BAD,	/* not a parameter */
	PARAM_LONG,	/* a value longer than its buffer */
};

static enum aif_err
fail(const char **why, const char *reason)
{
	*why = reason;
	return AIF_INVALID;
}

/* 1 when c is a tchar of RFC 9110 (the characters of a token). */
static int
is_tchar(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
	    (c >= 'A' && c <= 'Z') || (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/* 1 when s is a boundary of RFC 2046: 1..70 of its bchars, the last not a space. */
static int
boundary_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > AIF_MP_BOUNDARY_MAX || s[n - 1] == ' ')
		return 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
		    (c >= 'A' && c <= 'Z') || strchr("'()+_,-./:=? ", c) != NULL))
			return 0;
	}
	return 1;
}

static const char *
skip_ows(const char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	return s;
}

/* 1 when [s, s + n) is the parameter or header name want, in any case. */
static int
named(const char *s, size_t n, const char *want)
{
	return n == strlen(want) && strncasecmp(s, want, n) == 0;
}

/* Reads the value of a parameter at *s into val (cap bytes with its NUL): a
 * quoted-string, its quoted-pairs unescaped, or else a run of visible ASCII but
 * ';', '"' and '\' (a token, with the leniency of common parsers: a boundary of
 * bchars such as '=' or '/' unquoted). Moves *s past it. */
static enum param
param_value(const char **s, char *val, size_t cap)
{
	const char *p = *s;
	size_t o = 0;

	if (*p == '"') {
		for (p++; *p != '"'; p++) {
			if (*p == '\0' || (*p == '\\' && *++p == '\0'))
				return PARAM_BAD;	/* no closing quote */
			if (o + 1 >= cap)
				return PARAM_LONG;
			val[o++] = *p;
		}
		p++;
	} else {
		for (; *p > ' ' && *p < 0x7f && strchr(";\"\\", *p) == NULL; p++) {
			if (o + 1 >= cap)
				return PARAM_LONG;
			val[o++] = *p;
		}
		if (o == 0)
			return PARAM_BAD;
	}
	val[o] = '\0';
	*s = p;
	return PARAM_OK;
}

/* Reads the next parameter of a header value (NUL-terminated) at *s:
 * OWS ";" OWS name OWS "=" OWS value, a trailing ";" allowed. Its name is
 * [*name, *name + *nlen), its value goes to val (cap bytes, see param_value). Returns
 * PARAM_OK and moves *s past it, PARAM_END at the end of the value, or PARAM_BAD or
 * PARAM_LONG. */
static enum param
next_param(const char **s, const char **name, size_t *nlen, char *val, size_t cap)
{
	const char *p = skip_ows(*s);
	enum param r;

	if (*p == '\0')
		return PARAM_END;
	if (*p != ';')
		return PARAM_BAD;
	p = skip_ows(p + 1);
	if (*p == '\0')
		return PARAM_END;
	*name = p;
	while (is_tchar((unsigned char)*p))
		p++;
	*nlen = (size_t)(p - *name);
	p = skip_ows(p);
	if (*nlen == 0 || *p != '=')
		return PARAM_BAD;
	p = skip_ows(p + 1);
	if ((r = param_value(&p, val, cap)) == PARAM_OK)
		*s = p;
	return r;
}

/* 1 when s starts with the type want (in any case), followed by its end, OWS or ';'. */
static int
starts_with_type(const char *s, const char *want)
{
	size_t n = strlen(want);

	return strncasecmp(s, want, n) == 0 &&
	    (s[n] == '\0' || s[n] == ';' || s[n] == ' ' || s[n] == '\t');
}

/* Reads the boundary of the Content-Type header value ct into d. */
static enum aif_err
parse_boundary(const char *ct, struct delim *d, const char **why)
{
	char v[AIF_MP_LINE_MAX + 1];
	const char *p, *name = NULL;
	size_t nlen = 0;
	enum param r;
	int seen = 0;

	if (ct == NULL)
		return fail(why, "no Content-Type");
	p = skip_ows(ct);
	if (!starts_with_type(p, "multipart/form-data"))
		return fail(why, "the Content-Type is not multipart/form-data");
	p += strlen("multipart/form-data");
	while ((r = next_param(&p, &name, &nlen, v, sizeof(v))) == PARAM_OK) {
		if (!named(name, nlen, "boundary"))
			continue;
		if (seen++)
			return fail(why, "two boundaries in Content-Type");
		if (!boundary_ok(v))
			return fail(why, "the boundary in Content-Type is not valid");
		memcpy(d->s, "\r\n--", 4);
		d->len = 4 + strlen(v);
		memcpy(d->s + 4, v, d->len - 4);
	}
	if (r == PARAM_LONG)
		return fail(why, "a Content-Type parameter is too long");
	if (r != PARAM_END)
		return fail(why, "a malformed Content-Type");
	if (!seen)
		return fail(why, "no boundary in Content-Type");
	return AIF_OK;
}

/* Reads the value v of a part's Content-Disposition into p. */
static enum aif_err
disposition(const char *v, struct aif_mp_part *p, const char **why)
{
	char val[AIF_MP_LINE_MAX + 1];
	const char *s = v, *name = NULL;
	size_t nlen = 0;
	enum param r;
	int has_name = 0, has_file = 0;

	if (!starts_with_type(s, "form-data"))
		return fail(why, "part without Content-Disposition: form-data");
	s += strlen("form-data");
	while ((r = next_param(&s, &name, &nlen, val, sizeof(val))) == PARAM_OK) {
		if (named(name, nlen, "name")) {
			if (has_name++)
				return fail(why, "two names in a Content-Disposition");
			if (aif_strlcpy(p->name, val, sizeof(p->name)))
				return fail(why, "a part name is too long");
		} else if (named(name, nlen, "filename")) {
			if (has_file++)
				return fail(why,
				    "two filenames in a Content-Disposition");
			if (aif_strlcpy(p->filename, val, sizeof(p->filename)))
				return fail(why, "a filename is too long");
		}
	}
	if (r != PARAM_END)
		return fail(why, "a malformed Content-Disposition");
	if (!has_name)
		return fail(why, "part without a name in its Content-Disposition");
	return AIF_OK;
}

/* Which of the headers that matter a part has had. */
struct seen {
	int	disposition;
	int	type;
};

/* Reads one header line s (NUL-terminated, without its CRLF, no control character
 * but HTAB) of a part into p. Other headers than Content-Disposition and Content-Type
 * are ignored. */
static enum aif_err
header_line(char *s, struct aif_mp_part *p, struct seen *seen, const char **why)
{
	char *colon = strchr(s, ':'), *v, *end;
	size_t nlen;

	if (*s == ' ' || *s == '\t')
		return fail(why, "a folded part header");
	if (colon == NULL || colon == s)
		return fail(why, "a part header without a name and a colon");
	nlen = (size_t)(colon - s);
	for (size_t i = 0; i < nlen; i++)
		if (!is_tchar((unsigned char)s[i]))
			return fail(why, "a part header name is not valid");
	for (v = colon + 1; *v == ' ' || *v == '\t'; v++)
		continue;
	end = v + strlen(v);
	while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
		*--end = '\0';
	if (named(s, nlen, "Content-Disposition")) {
		if (seen->disposition++)
			return fail(why, "two Content-Disposition headers in a part");
		return disposition(v, p, why);
	}
	if (named(s, nlen, "Content-Type")) {
		if (seen->type++)
			return fail(why, "two Content-Type headers in a part");
		if (aif_strlcpy(p->content_type, v, sizeof(p->content_type)))
			return fail(why, "a part Content-Type is too long");
	}
	return AIF_OK;
}

/* Reads the header block h[0..n) of a part (each line ends with CRLF) into p. */
static enum aif_err
headers(const char *h, size_t n, struct aif_mp_part *p, const char **why)
{
	char line[AIF_MP_LINE_MAX + 1];
	struct seen seen = { 0, 0 };
	const char *at = h, *end = h + n;
	enum aif_err e;

	while (at < end) {
		/* found: the block ends with CRLF */
		const char *eol = memmem(at, (size_t)(end - at), "\r\n", 2);
		size_t len = (size_t)(eol - at);

		if (len > AIF_MP_LINE_MAX)
			return fail(why, "a part header line is too long");
		for (size_t i = 0; i < len; i++) {
			unsigned char c = (unsigned char)at[i];

			if ((c < 0x20 && c != '\t') || c == 0x7f)
				return fail(why, "a control character in a part header");
		}
		memcpy(line, at, len);
		line[len] = '\0';
		if ((e = header_line(line, p, &seen, why)) != AIF_OK)
			return e;
		at = eol + 2;
	}
	if (!seen.disposition)
		return fail(why, "part without Content-Disposition: form-data");
	return AIF_OK;
}

/* Where the next delimiter (CRLF "--" boundary) is in b[from..len), or NPOS. */
static size_t
find_delim(const struct delim *d, const char *b, size_t len, size_t from)
{
	const char *p;

	if (from >= len)
		return NPOS;
	p = memmem(b + from, len - from, d->s, d->len);
	return p == NULL ? NPOS : (size_t)(p - b);
}

/* Reads the part whose headers start at b[*at] into p: its headers, then its data up
 * to the next delimiter, on whose "--" *at is left. */
static enum aif_err
one_part(const struct delim *d, const char *b, size_t len, size_t *at,
    struct aif_mp_part *p, const char **why)
{
	size_t room = len - *at, hend, data, next;
	const char *blank;
	enum aif_err e;

	memset(p, 0, sizeof(*p));
	if (room >= 2 && b[*at] == '\r' && b[*at + 1] == '\n') {
		hend = *at;	/* no header at all: the blank line at once */
	} else {
		/* the blank line ending the headers, within the bound */
		blank = memmem(b + *at, room < AIF_MP_HEAD_MAX + 2 ? room :
		    AIF_MP_HEAD_MAX + 2, "\r\n\r\n", 4);
		if (blank == NULL)
			return fail(why, room <= AIF_MP_HEAD_MAX + 2 ?
			    "the body ends inside a part's headers" :
			    "a part's headers are too long");
		hend = (size_t)(blank - b) + 2;
	}
	if ((e = headers(b + *at, hend - *at, p, why)) != AIF_OK)
		return e;
	data = hend + 2;
	/* from the blank line's CRLF: with no data, it is the delimiter's own */
	if ((next = find_delim(d, b, len, hend)) == NPOS)
		return fail(why, "the closing boundary is missing");
	p->data = b + data;
	p->len = next > data ? next - data : 0;
	*at = next + 2;
	return AIF_OK;
}

/* Cuts body b[0..len) at the delimiters of d into parts[0..*n). */
static enum aif_err
parse_body(const struct delim *d, const char *b, size_t len,
    struct aif_mp_part *parts, size_t cap, size_t *n, const char **why)
{
	size_t dash = d->len - 2, at;	/* "--" boundary */
	enum aif_err e;

	if (len == 0)
		return fail(why, "the body is empty");
	/* the first delimiter: at the very start, or after the preamble and a CRLF */
	if (len >= dash && memcmp(b, d->s + 2, dash) == 0)
		at = 0;
	else if ((at = find_delim(d, b, len, 0)) == NPOS)
		return fail(why, "no boundary in the body");
	else
		at += 2;
	for (;;) {
		at += dash;
		if (len - at >= 2 && b[at] == '-' && b[at + 1] == '-')
			return AIF_OK;	/* closed; the epilogue is ignored */
		while (at < len && (b[at] == ' ' || b[at] == '\t'))
			at++;	/* transport padding */
		if (len - at < 2)
			return fail(why, "the closing boundary is missing");
		if (b[at] != '\r' || b[at + 1] != '\n')
			return fail(why, "a boundary line with more after the boundary");
		at += 2;
		if (*n >= cap)
			return fail(why, "too many parts");
		if ((e = one_part(d, b, len, &at, &parts[*n], why)) != AIF_OK)
			return e;
		(*n)++;
	}
}

enum aif_err
aif_multipart_parse(const char *content_type, const char *body, size_t len,
    struct aif_mp_part *parts, size_t cap, size_t *n, const char **why)
{
	const char *reason = NULL;
	struct delim d;
	enum aif_err e;

	*n = 0;
	e = parse_boundary(content_type, &d, &reason);
	if (e == AIF_OK)
		e = parse_body(&d, body, len, parts, cap, n, &reason);
	if (e != AIF_OK)
		*n = 0;
	if (why != NULL)
		*why = reason;
	return e;
}

const struct aif_mp_part *
aif_multipart_find(const struct aif_mp_part *parts, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(parts[i].name, name) == 0)
			return &parts[i];
	return NULL;
}
