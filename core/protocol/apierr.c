/* apierr.c -- the error table, its messages and their rendering; see apierr.h. */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "anthropic.h"
#include "apierr.h"
#include "util.h"

static const struct row {
	int		 status;
	const char	*type;
	const char	*code;
	size_t		 nargs;
	const char	*message;
} table[] = {
#define AIF_APIERR_ROW(name, status, type, code, nargs, msg) \
	{ status, type, code, nargs, msg },
	AIF_APIERR_MAP(AIF_APIERR_ROW)
#undef AIF_APIERR_ROW
};

_Static_assert(sizeof(table) / sizeof(table[0]) == AIF_E__COUNT, "one row per error");

/* Replaces every byte of `s` (NUL-terminated, changed in place) that is not part of a
 * valid UTF-8 sequence with '?', so truncation or echoed input never makes the error
 * unencodable as JSON. */
static void
utf8_scrub(char *s)
{
	size_t n = strlen(s), i = 0, l;

	while (i < n) {
		if ((l = aif_utf8_seq((const unsigned char *)s + i, n - i, NULL)) == 0) {
			s[i] = '?';
			l = 1;
		}
		i += l;
	}
}

/* Copies `src` (NULL means "") into dst[cap], truncating, then scrubs it. */
static void
copy_field(char *dst, size_t cap, const char *src)
{
	int n = snprintf(dst, cap, "%s", src == NULL ? "" : src);

	if (n < 0)
		dst[0] = '\0';
	/* n >= cap: truncated on purpose; the scrub below repairs a cut sequence. */
	utf8_scrub(dst);
}

/* ---- the table -------------------------------------------------------------------------- */

static const struct row *
row_of(enum aif_apierr e)
{
	return (unsigned)e < AIF_E__COUNT ? &table[e] : &table[AIF_E_NOT_ANSWERED];
}

int
aif_apierr_status(enum aif_apierr e)
{
	return row_of(e)->status;
}

const char *
aif_apierr_type(enum aif_apierr e)
{
	return row_of(e)->type;
}

const char *
aif_apierr_message(enum aif_apierr e)
{
	return row_of(e)->message;
}

size_t
aif_apierr_nargs(enum aif_apierr e)
{
	return row_of(e)->nargs;
}

/* Expands the message template tmpl into out (cap bytes): "%s" and "%.<n>s" take the
 * next argument (at most n bytes of it), "%%" is '%'. With args NULL every conversion
 * expands to nothing. */
static void
expand(char *out, size_t cap, const char *tmpl, const char *const *args, size_t nargs)
{
	size_t o = 0, next = 0;

	for (const char *p = tmpl; *p != '\0' && o + 1 < cap;) {
		size_t max = SIZE_MAX;
		const char *a;
		if (p[0] != '%') {
			out[o++] = *p++;
			continue;
		}
		if (p[1] == '%') {
			out[o++] = '%';
			p += 2;
			continue;
		}
		p++;
		if (*p == '.') {
			char *end;
			max = strtoul(p + 1, &end, 10);
			p = end;
		}
		if (*p == 's')
			p++;
		a = args != NULL && next < nargs ? args[next] : NULL;
		next++;
		size_t i = 0, start = o;
		for (; a != NULL && a[i] != '\0' && i < max && o + 1 < cap; i++)
			out[o++] = a[i];
		/* cut short: not inside a UTF-8 sequence */
		if (a != NULL && a[i] != '\0' && ((unsigned char)a[i] & 0xC0) == 0x80)
			while (o > start && ((unsigned char)out[o - 1] & 0xC0) == 0x80)
				o--;
		if (a != NULL && a[i] != '\0' && o > start &&
		    ((unsigned char)out[o - 1] & 0xC0) == 0xC0)
			o--;	/* the lead byte of the sequence that did not fit */
	}
	out[o] = '\0';
}

void
aif_error_from(struct aif_error *out, enum aif_apierr e, const char *param,
    const char *const *args, size_t nargs)
{
	const struct row *r = row_of(e);

	out->status = r->status;
	copy_field(out->type, sizeof(out->type), r->type);
	copy_field(out->code, sizeof(out->code), r->code);
	copy_field(out->param, sizeof(out->param), param);
	expand(out->message, sizeof(out->message), r->message,
	    nargs == r->nargs ? args : NULL, nargs);
	utf8_scrub(out->message);
}

void
aif_error_set(struct aif_error *out, int status, const char *type, const char *code,
    const char *param, const char *fmt, ...)
{
	va_list ap;
	int n;

	out->status = status;
	copy_field(out->type, sizeof(out->type), type);
	copy_field(out->code, sizeof(out->code), code);
	copy_field(out->param, sizeof(out->param), param);
	va_start(ap, fmt);
	n = vsnprintf(out->message, sizeof(out->message), fmt, ap);
	va_end(ap);
	if (n < 0)
		out->message[0] = '\0';
	/* n >= sizeof: truncated, which the contract allows; scrub a cut sequence. */
	utf8_scrub(out->message);
}

/* ---- rendering ---------------------------------------------------------------------- */

/* Returns a NUL-terminated, scrubbed copy of field `src` (cap bytes) in dst[cap], or
 * NULL for an empty field (JSON null). */
static const char *
field_or_null(char *dst, const char *src, size_t cap)
{
	size_t n = strnlen(src, cap - 1);

	memcpy(dst, src, n);
	dst[n] = '\0';
	utf8_scrub(dst);
	return n == 0 ? NULL : dst;
}

char *
aif_error_render(const struct aif_error *err, enum aif_surface surface)
{
	char		 message[sizeof(err->message)], type[sizeof(err->type)];
	char		 code[sizeof(err->code)], param[sizeof(err->param)];
	const char	*msg;
	json_t		*o;
	char		*s;

	/* The struct may have been filled by hand: bound and scrub every field. */
	msg = field_or_null(message, err->message, sizeof(message));
	if (surface == AIF_SURFACE_ANTHROPIC)
		o = json_pack("{s:s,s:{s:s,s:s}}", "type", "error", "error", "type",
		    aif_anth_error_type(err->status, field_or_null(type, err->type,
		    sizeof(type))), "message", msg == NULL ? "" : msg);
	else
		o = json_pack("{s:{s:s, s:s?, s:s?, s:s?}}", "error",
		    "message", msg == NULL ? "" : msg,
		    "type", field_or_null(type, err->type, sizeof(type)),
		    "param", field_or_null(param, err->param, sizeof(param)),
		    "code", field_or_null(code, err->code, sizeof(code)));
	if (o == NULL)
		return NULL;
	s = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	return s;
}

const char *
aif_http_reason(int status)
{
	switch (status) {
	case 100: return "Continue";
	case 200: return "OK";
	case 201: return "Created";
	case 202: return "Accepted";
	case 204: return "No Content";
	case 301: return "Moved Permanently";
	case 302: return "Found";
	case 304: return "Not Modified";
	case 307: return "Temporary Redirect";
	case 308: return "Permanent Redirect";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 406: return "Not Acceptable";
	case 408: return "Request Timeout";
	case 409: return "Conflict";
	case 410: return "Gone";
	case 411: return "Length Required";
	case 413: return "Content Too Large";
	case 414: return "URI Too Long";
	case 415: return "Unsupported Media Type";
	case 422: return "Unprocessable Content";
	case 429: return "Too Many Requests";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	default: return "Unknown Status";
	}
}
