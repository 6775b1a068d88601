/* walk.c -- the table-driven YAML walker of core/config (walk.h): errors with their
 * file:line:column (never quoting what a ${NAME} expanded to), the path of the walk for
 * messages, ${NAME} / ${NAME:-default} expansion, conversion of scalars by directive
 * type, defaults, the final free, and parsing the one document with libyaml's document
 * API after bounding its nesting with the event API. Knows no key of the
 * configuration (config.c and pii_schema.c hold the tables). No state of its own;
 * getenv(3) is the only shared thing it reads. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "kind.h"
#include "walk.h"

/* ---- errors and messages ------------------------------------------------------ */

/* Appends one line to the caller's buffer; truncates, always NUL-terminated. */
static void
append_line(struct loader *ld, const char *line)
{
	size_t	 room;
	int	 n;

	if (ld->errbuf == NULL || ld->errlen == 0 || ld->errused + 1 >= ld->errlen)
		return;
	room = ld->errlen - ld->errused;
	n = snprintf(ld->errbuf + ld->errused, room, "%s%s",
	    ld->errused > 0 ? "\n" : "", line);
	if (n < 0 || (size_t)n >= room)
		ld->errused = ld->errlen - 1;	/* full: the rest is dropped */
	else
		ld->errused += (size_t)n;
}

static void	verror(struct loader *, const yaml_mark_t *, const char *, va_list)
		    __attribute__((format(printf, 3, 0)));
static void	scrub(const struct loader *, const yaml_mark_t *, char *, size_t);

/* Formats one error, at `mark` (1-based in the output) or for the whole file. */
static void
verror(struct loader *ld, const yaml_mark_t *mark, const char *fmt, va_list ap)
{
	char	 msg[AIF_CFG_MAX_MSG], line[AIF_CFG_MAX_MSG + AIF_CFG_MAX_PATH];
	int	 n;

	ld->nerrors++;
	if (ld->errbuf == NULL || ld->errlen == 0 || ld->errused + 1 >= ld->errlen)
		return;		/* full: the message would be dropped anyway */
	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	if (n < 0)
		n = snprintf(msg, sizeof(msg), "(unprintable message)");
	if ((size_t)n >= sizeof(msg))
		memcpy(msg + sizeof(msg) - 4, "...", 4);
	if (mark != NULL)
		scrub(ld, mark, msg, sizeof(msg));
	if (mark != NULL)
		n = snprintf(line, sizeof(line), "%s:%zu:%zu: %s", ld->name,
		    mark->line + 1, mark->column + 1, msg);
	else
		n = snprintf(line, sizeof(line), "%s: %s", ld->name, msg);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(line))
		memcpy(line + sizeof(line) - 4, "...", 4);
	append_line(ld, line);
}

void
aif_walk_errors(struct loader *ld, const char *name, char *errbuf, size_t errlen)
{
	memset(ld, 0, sizeof(*ld));
	ld->name = name;
	ld->errbuf = errbuf;
	ld->errlen = errlen;
	if (errbuf != NULL && errlen > 0)
		errbuf[0] = '\0';
}

void
aif_walk_error_at(struct loader *ld, yaml_mark_t mark, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	verror(ld, &mark, fmt, ap);
	va_end(ap);
}

void
aif_walk_error_line(struct loader *ld, int line, int column, const char *fmt, ...)
{
	yaml_mark_t	 mark = { 0, 0, 0 };
	va_list		 ap;

	mark.line = line > 0 ? (size_t)line - 1 : 0;
	mark.column = column > 0 ? (size_t)column - 1 : 0;
	va_start(ap, fmt);
	verror(ld, line > 0 ? &mark : NULL, fmt, ap);
	va_end(ap);
}

/* For errors that have no position (the file as a whole). */
void
aif_walk_error_plain(struct loader *ld, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	verror(ld, NULL, fmt, ap);
	va_end(ap);
}

/* Copies at most AIF_CFG_MAX_SHOWN bytes of a user value into buf for a message,
 * control bytes as '?', "..." when cut. Returns buf. */
const char *
aif_walk_shown(char buf[AIF_CFG_MAX_SHOWN + 4], const char *s, size_t len)
{
	size_t	 i, n = len < AIF_CFG_MAX_SHOWN ? len : AIF_CFG_MAX_SHOWN;

	for (i = 0; i < n; i++)
		buf[i] = ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) ? '?' : s[i];
	if (n < len) {
		memcpy(buf + n, "...", 3);
		n += 3;
	}
	buf[n] = '\0';
	return buf;
}

/* A value for a message: the scalar's text as written in the file when it holds a
 * ${NAME} reference (the expansion may be a secret), else the value, both as
 * aif_walk_shown gives them. Returns buf. */
const char *
aif_walk_shown_node(char buf[AIF_CFG_MAX_SHOWN + 4], const yaml_node_t *node,
    const char *value)
{
	if (node != NULL && node->type == YAML_SCALAR_NODE &&
	    memmem(node->data.scalar.value, node->data.scalar.length, "${", 2) != NULL)
		return aif_walk_shown(buf, (const char *)node->data.scalar.value,
		    node->data.scalar.length);
	return aif_walk_shown(buf, value, strlen(value));
}

/* The current path ("server.threads", "models[1].id"), or "top level". */
const char *
aif_walk_where(const struct loader *ld)
{
	return ld->pathlen > 0 ? ld->path : "top level";
}

/* Appends ".name" (or "name" at the top) to the path; returns the length to restore.
 * A path that does not fit stays cut at the cap: it only decorates messages. */
size_t
aif_walk_path_key(struct loader *ld, const char *name)
{
	size_t	 old = ld->pathlen, room = sizeof(ld->path) - old;
	int	 n;

	n = snprintf(ld->path + old, room, "%s%s", old > 0 ? "." : "", name);
	if (n < 0)
		ld->path[old] = '\0';
	else
		ld->pathlen = (size_t)n >= room ? sizeof(ld->path) - 1 : old + (size_t)n;
	return old;
}

static size_t
path_index(struct loader *ld, size_t i)
{
	size_t	 old = ld->pathlen, room = sizeof(ld->path) - old;
	int	 n;

	n = snprintf(ld->path + old, room, "[%zu]", i);
	if (n < 0)
		ld->path[old] = '\0';
	else
		ld->pathlen = (size_t)n >= room ? sizeof(ld->path) - 1 : old + (size_t)n;
	return old;
}

void
aif_walk_path_pop(struct loader *ld, size_t old)
{
	ld->pathlen = old;
	ld->path[old] = '\0';
}

char *
aif_walk_strdup(struct loader *ld, const char *s)
{
	char	*p = strdup(s);

	if (p == NULL)
		ld->nomem = 1;
	return p;
}

void
aif_walk_http_url(struct loader *ld, const yaml_node_t *map, const char *key,
    const char *url, const char *what)
{
	const yaml_node_t *at;

	if (url == NULL || strncmp(url, "http://", 7) == 0 || strncmp(url, "https://", 8) == 0)
		return;
	at = map != NULL ? aif_walk_lookup(ld, map, key) : NULL;
	aif_walk_error_at(ld, (at != NULL ? at : map)->start_mark,
	    "%s: expected http:// or https://", what);
}

void
aif_walk_star_list(struct loader *ld, char ***list, size_t *n)
{
	if (*list != NULL)
		return;
	if ((*list = calloc(2, sizeof(**list))) == NULL ||
	    ((*list)[0] = aif_walk_strdup(ld, "*")) == NULL) {
		ld->nomem = 1;
		return;
	}
	*n = 1;
}

const char *
aif_walk_node_kind(const yaml_node_t *node)
{
	switch (node->type) {
	case YAML_SCALAR_NODE:
		return "a scalar";
	case YAML_SEQUENCE_NODE:
		return "a sequence";
	case YAML_MAPPING_NODE:
		return "a mapping";
	default:
		return "nothing";
	}
}

/* ---- scalars: expansion and conversion ------------------------------------------- */

static int
is_name_char(char c, int first)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_' ||
	    (!first && c >= '0' && c <= '9');
}

/* What expand_text found wrong. */
enum xerr {
	X_OK,
	X_NUL,		/* a NUL byte in the value */
	X_OPEN,		/* '${' without its '}' */
	X_REF,		/* not ${NAME} nor ${NAME:-default} */
	X_UNSET,	/* ${NAME} with NAME unset (name filled in) */
	X_LONG,		/* over AIF_CFG_MAX_SCALAR bytes after expansion */
};

/* Expands ${NAME} and ${NAME:-default} in the len bytes at in into out (NUL-terminated).
 * ${NAME} needs NAME set (it may be empty); ${NAME:-default} takes default when
 * NAME is unset or empty. '$' not followed by '{' is literal; nothing is re-expanded.
 * Reports nothing: the caller does (and the error scrubber expands again, quietly). */
static enum xerr
expand_text(const char *in, size_t len, char out[AIF_CFG_MAX_SCALAR + 1],
    char name[AIF_CFG_MAX_VARNAME + 1])
{
	size_t		 i = 0, o = 0, nlen, vlen;
	const char	*val, *close;

	name[0] = '\0';
	if (memchr(in, '\0', len) != NULL)
		return X_NUL;
	while (i < len) {
		if (in[i] != '$' || i + 1 >= len || in[i + 1] != '{') {
			if (o >= AIF_CFG_MAX_SCALAR)
				return X_LONG;
			out[o++] = in[i++];
			continue;
		}
		if ((close = memchr(in + i, '}', len - i)) == NULL)
			return X_OPEN;
		i += 2;
		for (nlen = 0; i + nlen < len && is_name_char(in[i + nlen], nlen == 0);
		    nlen++)
			;
		if (nlen == 0 || nlen > AIF_CFG_MAX_VARNAME ||
		    (in[i + nlen] != '}' && (in[i + nlen] != ':' ||
		    in[i + nlen + 1] != '-')))
			return X_REF;
		memcpy(name, in + i, nlen);
		name[nlen] = '\0';
		val = getenv(name);
		if (in[i + nlen] == ':') {		/* ${NAME:-default} */
			if (val == NULL || *val == '\0') {
				val = in + i + nlen + 2;
				vlen = (size_t)(close - val);
			} else
				vlen = strlen(val);
		} else if (val == NULL)			/* ${NAME} */
			return X_UNSET;
		else
			vlen = strlen(val);
		if (vlen > AIF_CFG_MAX_SCALAR - o)
			return X_LONG;
		memcpy(out + o, val, vlen);
		o += vlen;
		i = (size_t)(close - in) + 1;
	}
	out[o] = '\0';
	return X_OK;
}

/* Expands scalar `node` into out (expand_text). Returns 0, or -1 after reporting the
 * error at the node; messages quote the text as written, never an expansion. */
static int
expand(struct loader *ld, const yaml_node_t *node, char out[AIF_CFG_MAX_SCALAR + 1])
{
	const char	*in = (const char *)node->data.scalar.value;
	size_t		 len = node->data.scalar.length;
	char		 name[AIF_CFG_MAX_VARNAME + 1], show[AIF_CFG_MAX_SHOWN + 4];

	switch (expand_text(in, len, out, name)) {
	case X_OK:
		return 0;
	case X_NUL:
		aif_walk_error_at(ld, node->start_mark, "%s: value contains a NUL byte",
		    aif_walk_where(ld));
		break;
	case X_OPEN:
		aif_walk_error_at(ld, node->start_mark,
		    "%s: unterminated '${' in '%s'", aif_walk_where(ld),
		    aif_walk_shown(show, in, len));
		break;
	case X_REF:
		aif_walk_error_at(ld, node->start_mark,
		    "%s: bad variable reference '%s' (use ${NAME} or ${NAME:-default})",
		    aif_walk_where(ld), aif_walk_shown(show, in, len));
		break;
	case X_UNSET:
		aif_walk_error_at(ld, node->start_mark,
		    "%s: environment variable %s is not set", aif_walk_where(ld), name);
		break;
	case X_LONG:
		aif_walk_error_at(ld, node->start_mark,
		    "%s: value longer than %d bytes after expansion", aif_walk_where(ld),
		    AIF_CFG_MAX_SCALAR);
		break;
	}
	return -1;
}

/* ---- no expansion in messages ------------------------------------------------------ */

/* The scalar written with a ${...} reference that starts at byte `index` of the input,
 * or NULL. Errors are few (and none are formatted once the buffer is full): a scan. */
static const yaml_node_t *
expanded_at(const struct loader *ld, size_t index)
{
	const yaml_node_t	*n;

	if (ld->doc == NULL)
		return NULL;
	for (n = ld->doc->nodes.start; n < ld->doc->nodes.top; n++)
		if (n->type == YAML_SCALAR_NODE && n->start_mark.index == index &&
		    memmem(n->data.scalar.value, n->data.scalar.length, "${", 2) != NULL)
			return n;
	return NULL;
}

/* How far s (after an opening quote of a message) spells value v (vlen bytes, a control
 * byte shown as '?'), when that is a quoted value as messages write them: whole before
 * the closing quote, or cut (at AIF_CFG_MAX_SHOWN bytes, or by the message's end) before
 * a quote, "..." or the end. Returns the length to replace (with a "..." that follows),
 * or 0. */
static size_t
quoted_value(const char *s, const char *v, size_t vlen)
{
	size_t	 l;

	for (l = 0; l < vlen && s[l] != '\0' && (s[l] == v[l] ||
	    (s[l] == '?' && ((unsigned char)v[l] < 0x20 || v[l] == 0x7f))); l++)
		;
	if (l == 0)
		return 0;
	if (l == vlen && s[l] == '\'')
		return l;
	if (l < vlen && (l >= AIF_CFG_MAX_SHOWN || s[l] == '\0' ||
	    strcmp(s + l, "...") == 0)) {
		if (strncmp(s + l, "...", 3) == 0)
			return l + 3;
		if (s[l] == '\'' || s[l] == '\0')
			return l;
	}
	return 0;
}

/* An error reported at a scalar written with ${NAME} must not show what NAME expanded
 * to (a password, a key): every quoted occurrence of the expansion in msg (cap bytes)
 * becomes the text as written. A net under the messages that quote values they took
 * from the configuration after the walk (duplicates, adapters' checks). */
static void
scrub(const struct loader *ld, const yaml_mark_t *mark, char *msg, size_t cap)
{
	const yaml_node_t	*node = expanded_at(ld, mark->index);
	char			 val[AIF_CFG_MAX_SCALAR + 1];
	char			 name[AIF_CFG_MAX_VARNAME + 1];
	char			 raw[AIF_CFG_MAX_SHOWN + 4], out[AIF_CFG_MAX_MSG];
	size_t			 vlen, rlen, p = 0, o = 0, k;

	if (node == NULL || expand_text((const char *)node->data.scalar.value,
	    node->data.scalar.length, val, name) != X_OK || (vlen = strlen(val)) == 0)
		return;
	aif_walk_shown(raw, (const char *)node->data.scalar.value,
	    node->data.scalar.length);
	rlen = strlen(raw);
	while (msg[p] != '\0' && o + 1 < sizeof(out)) {
		if (msg[p] == '\'' && (k = quoted_value(msg + p + 1, val, vlen)) > 0) {
			if (o + 1 + rlen + 1 > sizeof(out))
				break;
			out[o++] = '\'';
			memcpy(out + o, raw, rlen);
			o += rlen;
			p += 1 + k;
			continue;
		}
		out[o++] = msg[p++];
	}
	out[o] = '\0';
	snprintf(msg, cap, "%s", out);
	explicit_bzero(val, sizeof(val));
}

/* Expands scalar `node` into out after checking it is a scalar at all.
 * `want` names the expected thing for the message ("an integer"). */
int
aif_walk_scalar(struct loader *ld, const yaml_node_t *node, const char *want,
    char out[AIF_CFG_MAX_SCALAR + 1])
{
	if (node->type != YAML_SCALAR_NODE) {
		aif_walk_error_at(ld, node->start_mark, "%s: expected %s, got %s",
		    aif_walk_where(ld), want, aif_walk_node_kind(node));
		return -1;
	}
	return expand(ld, node, out);
}

/* Parses a whole decimal integer: optional '-', digits, no leading zeros, no
 * overflow. Returns 0, -1 when it is not one, -2 when it does not fit. */
static int
parse_int(const char *s, int64_t *v)
{
	const char	*p = s;
	char		*end;
	long long	 ll;

	if (*p == '-')
		p++;
	if (*p < '0' || *p > '9' || (p[0] == '0' && p[1] != '\0'))
		return -1;
	for (; *p != '\0'; p++)
		if (*p < '0' || *p > '9')
			return -1;
	errno = 0;
	ll = strtoll(s, &end, 10);
	if (errno == ERANGE)
		return -2;
	if (*end != '\0' || errno != 0)
		return -1;
	*v = ll;
	return 0;
}

static void
range_error(struct loader *ld, const yaml_node_t *node, const char *value,
    const struct directive *d)
{
	char	 show[AIF_CFG_MAX_SHOWN + 4];

	if (d->max == INT64_MAX)
		aif_walk_error_at(ld, node->start_mark,
		    "%s: %s is out of range (at least %lld)", aif_walk_where(ld),
		    aif_walk_shown_node(show, node, value), (long long)d->min);
	else
		aif_walk_error_at(ld, node->start_mark,
		    "%s: %s is out of range %lld..%lld", aif_walk_where(ld),
		    aif_walk_shown_node(show, node, value), (long long)d->min,
		    (long long)d->max);
}

int
aif_cfg_duration_ms(const char *text, int64_t max_ms, int64_t *out)
{
	static const struct { const char *unit; int64_t ms; } units[] = {
		{ "ms", 1 }, { "s", DURATION_S }, { "m", DURATION_M },
		{ "h", DURATION_H }, { "d", DURATION_D }, { "", 1 },
	};
	char *end;
	long long v;

	if (text == NULL || text[0] < '0' || text[0] > '9')
		return -1;
	errno = 0;
	v = strtoll(text, &end, 10);
	if (errno != 0 || v < 0)
		return -1;
	for (size_t i = 0; i < AIF_NELEM(units); i++) {
		if (strcmp(end, units[i].unit) != 0)
			continue;
		if (v > max_ms / units[i].ms)
			return -1;
		*out = (int64_t)v * units[i].ms;
		return 0;
	}
	return -1;
}

/* Parses "2", "2.0", "1.25" (at most 2 decimals) into hundredths. -1 if malformed. */
static int64_t
parse_hundredths(const char *t)
{
	int64_t whole = 0, frac = 0;
	int digits = 0, nfrac = 0;

	for (; *t >= '0' && *t <= '9' && digits < 9; t++, digits++)
		whole = whole * 10 + (*t - '0');
	if (digits == 0)
		return -1;
	if (*t == '.') {
		for (t++; *t >= '0' && *t <= '9' && nfrac < 2; t++, nfrac++)
			frac = frac * 10 + (*t - '0');
		if (nfrac == 0)
			return -1;
		if (nfrac == 1)
			frac *= 10;
	}
	return *t == '\0' ? whole * 100 + frac : -1;
}

/* A duration bound for messages: "0", "500ms", "1h", "30d" (the largest unit that
 * divides it). */
static const char *
duration_text(char *buf, size_t cap, int64_t ms)
{
	static const struct { const char *unit; int64_t ms; } units[] = {
		{ "d", DURATION_D }, { "h", DURATION_H }, { "m", DURATION_M },
		{ "s", DURATION_S },
	};

	for (size_t i = 0; ms > 0 && i < AIF_NELEM(units); i++)
		if (ms % units[i].ms == 0) {
			snprintf(buf, cap, "%lld%s", (long long)(ms / units[i].ms),
			    units[i].unit);
			return buf;
		}
	snprintf(buf, cap, ms > 0 ? "%lldms" : "%lld", (long long)ms);
	return buf;
}

/* Hundredths for messages: "0", "1.0", "0.25". */
static const char *
hundredths_text(char *buf, size_t cap, int64_t v)
{
	if (v == 0)
		snprintf(buf, cap, "0");
	else if (v % 10 == 0)
		snprintf(buf, cap, "%lld.%lld", (long long)(v / 100),
		    (long long)(v % 100 / 10));
	else
		snprintf(buf, cap, "%lld.%02lld", (long long)(v / 100),
		    (long long)(v % 100));
	return buf;
}

/* Reads a number written as F_DURATION or F_HUNDREDTHS says. Returns 0 with *v set, 1
 * for an empty value (the default stays), -1 after an error. */
static int
parse_written(struct loader *ld, const struct directive *d, const yaml_node_t *node,
    const char *buf, int64_t *v)
{
	char	 show[AIF_CFG_MAX_SHOWN + 4], lo[32], hi[32];

	if (buf[0] == '\0')
		return 1;
	if (d->flags & F_DURATION) {
		if (aif_cfg_duration_ms(buf, d->max, v) == 0 && *v >= d->min)
			return 0;
		duration_text(hi, sizeof(hi), d->max);
		if (d->min > 0)
			aif_walk_error_at(ld, node->start_mark, "%s: expected a duration "
			    "from %s to %s, such as 500ms, 2s, 5m, 1h or 1d, got '%s'",
			    aif_walk_where(ld), duration_text(lo, sizeof(lo), d->min), hi,
			    aif_walk_shown_node(show, node, buf));
		else
			aif_walk_error_at(ld, node->start_mark, "%s: expected a duration "
			    "such as 500ms, 2s, 5m, 1h or 1d (at most %s), got '%s'",
			    aif_walk_where(ld), hi, aif_walk_shown_node(show, node, buf));
		return -1;
	}
	if ((*v = parse_hundredths(buf)) >= d->min && *v <= d->max)
		return 0;
	aif_walk_error_at(ld, node->start_mark, "%s: expected a number from %s to %s (at "
	    "most 2 decimals), got '%s'", aif_walk_where(ld),
	    hundredths_text(lo, sizeof(lo), d->min), hundredths_text(hi, sizeof(hi),
	    d->max), aif_walk_shown_node(show, node, buf));
	return -1;
}

/* Converts an integer directive and stores it. */
static void
set_number(struct loader *ld, const struct directive *d, void *obj,
    const yaml_node_t *node)
{
	char	 buf[AIF_CFG_MAX_SCALAR + 1], show[AIF_CFG_MAX_SHOWN + 4];
	int64_t	 v = 0;
	int	 rc;

	if (aif_walk_scalar(ld, node, d->flags & F_DURATION ? "a duration" :
	    d->flags & F_HUNDREDTHS ? "a number" : "an integer", buf) != 0)
		return;
	if (d->flags & (F_DURATION | F_HUNDREDTHS)) {
		if (parse_written(ld, d, node, buf, &v) != 0)
			return;
		rc = 0;
	} else
		rc = parse_int(buf, &v);
	if (rc == -1) {
		aif_walk_error_at(ld, node->start_mark,
		    "%s: expected a decimal integer, got '%s'", aif_walk_where(ld),
		    aif_walk_shown_node(show, node, buf));
		return;
	}
	if (rc == -2 || v < d->min || v > d->max) {
		range_error(ld, node, buf, d);
		return;
	}
	switch (d->type) {
	case D_INT:
		*(int *)(void *)((char *)obj + d->off) = (int)v;
		break;
	case D_INT64:
		*(int64_t *)(void *)((char *)obj + d->off) = v;
		break;
	case D_SIZE:
		*(size_t *)(void *)((char *)obj + d->off) = (size_t)v;
		break;
	default:
		break;
	}
}

static void
set_bool(struct loader *ld, const struct directive *d, void *obj,
    const yaml_node_t *node)
{
	char	 buf[AIF_CFG_MAX_SCALAR + 1], show[AIF_CFG_MAX_SHOWN + 4];
	int	*dst = (int *)(void *)((char *)obj + d->off);

	if (aif_walk_scalar(ld, node, "a boolean", buf) != 0)
		return;
	if (strcmp(buf, "true") == 0 || strcmp(buf, "yes") == 0)
		*dst = 1;
	else if (strcmp(buf, "false") == 0 || strcmp(buf, "no") == 0)
		*dst = 0;
	else
		aif_walk_error_at(ld, node->start_mark,
		    "%s: expected true, false, yes or no, got '%s'", aif_walk_where(ld),
		    aif_walk_shown_node(show, node, buf));
}

/* 1 when s is one of the NULL-terminated list. */
static int
one_of(const char *const *list, const char *s)
{
	for (; *list != NULL; list++)
		if (strcmp(*list, s) == 0)
			return 1;
	return 0;
}

const char *
aif_walk_joined(char *buf, size_t size, const char *const *list)
{
	size_t	 used = 0;
	int	 n;

	buf[0] = '\0';
	for (; *list != NULL; list++) {
		n = snprintf(buf + used, size - used, "%s%s", used > 0 ? ", " : "",
		    *list);
		if (n < 0 || (size_t)n >= size - used)
			break;		/* cut: the message is still useful */
		used += (size_t)n;
	}
	return buf;
}

static void
set_string(struct loader *ld, const struct directive *d, void *obj,
    const yaml_node_t *node)
{
	char		 buf[AIF_CFG_MAX_SCALAR + 1], show[AIF_CFG_MAX_SHOWN + 4];
	char		 list[128];
	char		**dst = (char **)(void *)((char *)obj + d->off);

	if (aif_walk_scalar(ld, node, "a string", buf) != 0)
		return;
	if (buf[0] == '\0') {
		if (d->flags & F_REQUIRED)
			aif_walk_error_at(ld, node->start_mark, "%s: must not be empty",
			    aif_walk_where(ld));
		return;
	}
	if (d->choices != NULL && !one_of(d->choices, buf)) {
		aif_walk_error_at(ld, node->start_mark, "%s: '%s' is not one of: %s",
		    aif_walk_where(ld), aif_walk_shown_node(show, node, buf),
		    aif_walk_joined(list, sizeof(list), d->choices));
		return;
	}
	free(*dst);
	*dst = aif_walk_strdup(ld, buf);
}

/* Checks that `node` is a sequence with [d->min, d->max] items.
 * Returns the item count, or -1 after an error. */
long
aif_walk_sequence(struct loader *ld, const struct directive *d, const yaml_node_t *node)
{
	long	 n;

	if (node->type != YAML_SEQUENCE_NODE) {
		aif_walk_error_at(ld, node->start_mark, "%s: expected a sequence, got %s",
		    aif_walk_where(ld), aif_walk_node_kind(node));
		return -1;
	}
	n = (long)(node->data.sequence.items.top - node->data.sequence.items.start);
	if (n < d->min) {
		aif_walk_error_at(ld, node->start_mark, "%s: needs at least %lld entr%s",
		    aif_walk_where(ld), (long long)d->min, d->min == 1 ? "y" : "ies");
		return -1;
	}
	if (n > d->max) {
		aif_walk_error_at(ld, node->start_mark, "%s: more than %lld entries",
		    aif_walk_where(ld), (long long)d->max);
		return -1;
	}
	return n;
}

yaml_node_t *
aif_walk_item(const struct loader *ld, const yaml_node_t *seq, long i)
{
	return yaml_document_get_node(ld->doc, seq->data.sequence.items.start[i]);
}

static void
set_kinds(struct loader *ld, const struct directive *d, void *obj,
    const yaml_node_t *node)
{
	char		 buf[AIF_CFG_MAX_SCALAR + 1], show[AIF_CFG_MAX_SHOWN + 4];
	unsigned	 mask = 0;
	long		 i, n;
	size_t		 old;
	enum aif_kind	 k;
	yaml_node_t	*it;

	if ((n = aif_walk_sequence(ld, d, node)) < 0)
		return;
	for (i = 0; i < n; i++) {
		it = aif_walk_item(ld, node, i);
		old = path_index(ld, (size_t)i);
		if (aif_walk_scalar(ld, it, "a kind", buf) == 0) {
			if (aif_kind_parse(buf, &k) != 0)
				aif_walk_error_at(ld, it->start_mark,
				    "%s: '%s' is not one of: %s", aif_walk_where(ld),
				    aif_walk_shown_node(show, it, buf),
				    aif_kind_list());
			else if (mask & (unsigned)k)
				aif_walk_error_at(ld, it->start_mark,
				    "%s: duplicate kind '%s'", aif_walk_where(ld), buf);
			else
				mask |= (unsigned)k;
		}
		aif_walk_path_pop(ld, old);
	}
	*(unsigned *)(void *)((char *)obj + d->off) = mask;
}

static void
set_strlist(struct loader *ld, const struct directive *d, void *obj,
    const yaml_node_t *node)
{
	char		 buf[AIF_CFG_MAX_SCALAR + 1], show[AIF_CFG_MAX_SHOWN + 4];
	char		 list[128];
	char		***dst = (char ***)(void *)((char *)obj + d->off);
	size_t		*count = (size_t *)(void *)((char *)obj + d->count_off);
	long		 i, n;
	size_t		 old;
	yaml_node_t	*it;

	if ((n = aif_walk_sequence(ld, d, node)) < 0)
		return;
	/* Never NULL once given, so `[]` (nothing allowed) differs from absent. */
	if ((*dst = calloc((size_t)n + 1, sizeof(**dst))) == NULL) {
		ld->nomem = 1;
		return;
	}
	for (i = 0; i < n; i++) {
		it = aif_walk_item(ld, node, i);
		old = path_index(ld, (size_t)i);
		if (aif_walk_scalar(ld, it, "a string", buf) == 0) {
			if (buf[0] == '\0')
				aif_walk_error_at(ld, it->start_mark,
				    "%s: must not be empty", aif_walk_where(ld));
			else if (d->choices != NULL && !one_of(d->choices, buf))
				aif_walk_error_at(ld, it->start_mark,
				    "%s: '%s' is not one of: %s", aif_walk_where(ld),
				    aif_walk_shown_node(show, it, buf),
				    aif_walk_joined(list, sizeof(list), d->choices));
			else if (((*dst)[*count] = aif_walk_strdup(ld, buf)) != NULL)
				(*count)++;
		}
		aif_walk_path_pop(ld, old);
	}
}

/* ---- the walker ------------------------------------------------------------------ */


/* Sets every directive of `sec` in `obj` to its default, nested mappings too. */
void
aif_walk_defaults(const struct section *sec, void *obj)
{
	const struct directive	*d;
	char			*p;

	for (d = sec->dirs; d < sec->dirs + sec->ndirs; d++) {
		p = (char *)obj + d->off;
		switch (d->type) {
		case D_INT:
		case D_BOOL:
			*(int *)(void *)p = (int)d->def;
			break;
		case D_INT64:
			*(int64_t *)(void *)p = d->def;
			break;
		case D_SIZE:
			*(size_t *)(void *)p = (size_t)d->def;
			break;
		case D_KINDS:
			*(unsigned *)(void *)p = (unsigned)d->def;
			break;
		case D_MAP:
			aif_walk_defaults(d->sub, obj);
			break;
		default:
			break;
		}
	}
}

/* Frees what the directives of `sec` own in `obj`, nested ones too; not obj. */
void
aif_walk_free(const struct section *sec, void *obj)
{
	const struct directive	*d;
	char			*p, **list, *elems;
	size_t			 i, n;

	for (d = sec->dirs; d < sec->dirs + sec->ndirs; d++) {
		p = (char *)obj + d->off;
		switch (d->type) {
		case D_STR:
			free(*(char **)(void *)p);
			break;
		case D_STRLIST:
			list = *(char ***)(void *)p;
			n = *(size_t *)(void *)((char *)obj + d->count_off);
			for (i = 0; list != NULL && i < n; i++)
				free(list[i]);
			free(list);
			break;
		case D_MAP:
			aif_walk_free(d->sub, obj);
			break;
		case D_SEQMAP:
			elems = *(char **)(void *)p;
			n = *(size_t *)(void *)((char *)obj + d->count_off);
			for (i = 0; elems != NULL && i < n; i++)
				aif_walk_free(d->sub, elems + i * d->sub->size);
			free(elems);
			break;
		default:
			break;
		}
	}
}

static void
set_seqmap(struct loader *ld, const struct directive *d, void *obj,
    const yaml_node_t *node)
{
	char		**dst = (char **)(void *)((char *)obj + d->off), *elem;
	size_t		*count = (size_t *)(void *)((char *)obj + d->count_off);
	size_t		 old;
	long		 i, n;

	if ((n = aif_walk_sequence(ld, d, node)) <= 0)
		return;
	if ((*dst = calloc((size_t)n, d->sub->size)) == NULL) {
		ld->nomem = 1;
		return;
	}
	*count = (size_t)n;
	for (i = 0; i < n; i++) {
		elem = *dst + (size_t)i * d->sub->size;
		aif_walk_defaults(d->sub, elem);
		old = path_index(ld, (size_t)i);
		aif_walk_map(ld, d->sub, elem, aif_walk_item(ld, node, i));
		aif_walk_path_pop(ld, old);
	}
}

static void
walk_value(struct loader *ld, const struct directive *d, void *obj,
    const yaml_node_t *node)
{
	switch (d->type) {
	case D_STR:
		set_string(ld, d, obj, node);
		break;
	case D_INT:
	case D_INT64:
	case D_SIZE:
		set_number(ld, d, obj, node);
		break;
	case D_BOOL:
		set_bool(ld, d, obj, node);
		break;
	case D_KINDS:
		set_kinds(ld, d, obj, node);
		break;
	case D_STRLIST:
		set_strlist(ld, d, obj, node);
		break;
	case D_MAP:
		aif_walk_map(ld, d->sub, obj, node);
		break;
	case D_SEQMAP:
		set_seqmap(ld, d, obj, node);
		break;
	}
}

/* Walks mapping `map` into `obj` by the table of `sec`: unknown, duplicate and
 * missing keys are errors; then the section's finish hook runs. */
void
aif_walk_map(struct loader *ld, const struct section *sec, void *obj,
    const yaml_node_t *map)
{
	const struct directive	*d;
	const yaml_node_pair_t	*pair;
	const yaml_node_t	*key, *val;
	const char		*k;
	char			 show[AIF_CFG_MAX_SHOWN + 4];
	uint64_t		 seen = 0, bit;
	size_t			 klen, old;

	if (map->type != YAML_MAPPING_NODE) {
		aif_walk_error_at(ld, map->start_mark, "%s: expected a mapping, got %s",
		    aif_walk_where(ld), aif_walk_node_kind(map));
		return;
	}
	for (pair = map->data.mapping.pairs.start;
	    pair < map->data.mapping.pairs.top; pair++) {
		key = yaml_document_get_node(ld->doc, pair->key);
		val = yaml_document_get_node(ld->doc, pair->value);
		if (key->type != YAML_SCALAR_NODE) {
			aif_walk_error_at(ld, key->start_mark,
			    "%s: key must be a scalar, got %s", aif_walk_where(ld),
			    aif_walk_node_kind(key));
			continue;
		}
		k = (const char *)key->data.scalar.value;
		klen = key->data.scalar.length;
		for (d = sec->dirs; d < sec->dirs + sec->ndirs; d++)
			if (strlen(d->name) == klen && memcmp(d->name, k, klen) == 0)
				break;
		if (d == sec->dirs + sec->ndirs) {
			if (sec->extra == NULL || !sec->extra(ld, obj, map, key, val))
				aif_walk_error_at(ld, key->start_mark,
				    "%s: unknown key '%s'", aif_walk_where(ld),
				    aif_walk_shown(show, k, klen));
			continue;
		}
		bit = UINT64_C(1) << (d - sec->dirs);
		if (seen & bit) {
			aif_walk_error_at(ld, key->start_mark, "%s: duplicate key '%s'",
			    aif_walk_where(ld), d->name);
			continue;
		}
		seen |= bit;
		old = aif_walk_path_key(ld, d->name);
		walk_value(ld, d, obj, val);
		if (d->check != NULL)
			d->check(ld, obj, val);
		aif_walk_path_pop(ld, old);
	}
	for (d = sec->dirs; d < sec->dirs + sec->ndirs; d++)
		if ((d->flags & F_REQUIRED) &&
		    !(seen & (UINT64_C(1) << (d - sec->dirs))))
			aif_walk_error_at(ld, map->start_mark,
			    "%s: missing required key '%s'", aif_walk_where(ld), d->name);
	if (sec->finish != NULL)
		sec->finish(ld, obj, map);
}

/* The value node of `key` in mapping `map`, or NULL. */
const yaml_node_t *
aif_walk_lookup(const struct loader *ld, const yaml_node_t *map, const char *key)
{
	const yaml_node_pair_t	*pair;
	const yaml_node_t	*k;

	if (map == NULL || map->type != YAML_MAPPING_NODE)
		return NULL;
	for (pair = map->data.mapping.pairs.start;
	    pair < map->data.mapping.pairs.top; pair++) {
		k = yaml_document_get_node(ld->doc, pair->key);
		if (k->type == YAML_SCALAR_NODE && strlen(key) == k->data.scalar.length &&
		    memcmp(k->data.scalar.value, key, k->data.scalar.length) == 0)
			return yaml_document_get_node(ld->doc, pair->value);
	}
	return NULL;
}

/* ---- loading ------------------------------------------------------------------------ */

/* Reports libyaml's error with its position (1-based line and column). */
static void
syntax_error(struct loader *ld, const yaml_parser_t *p)
{
	yaml_mark_t	 mark = p->problem_mark;
	size_t		 i;

	/* libyaml fails some allocations (tag copies) without setting an error. */
	if (p->error == YAML_MEMORY_ERROR || p->error == YAML_NO_ERROR) {
		ld->nomem = 1;
		return;
	}
	if (p->error == YAML_READER_ERROR) {	/* only a byte offset: find the line */
		memset(&mark, 0, sizeof(mark));
		for (i = 0; i < p->problem_offset && i < ld->inlen; i++) {
			if (ld->input[i] == '\n') {
				mark.line++;
				mark.column = 0;
			} else
				mark.column++;
		}
	}
	if (p->context != NULL)
		aif_walk_error_at(ld, mark,
		    "YAML syntax error: %s (%s at line %zu, column %zu)",
		    p->problem != NULL ? p->problem : "unknown problem", p->context,
		    p->context_mark.line + 1, p->context_mark.column + 1);
	else
		aif_walk_error_at(ld, mark, "YAML syntax error: %s",
		    p->problem != NULL ? p->problem : "unknown problem");
}

/* Nesting is bounded before libyaml's document loader builds the tree (its cost grows
 * with the depth: a 100k-deep file ran for seconds): a pass over the events that stops
 * at the first mapping or sequence deeper than AIF_CFG_MAX_DEPTH. Syntax errors are left
 * to the loader, which reports them with their position. Returns 0, or -1 after an
 * error. */
static int
check_depth(struct loader *ld)
{
	yaml_parser_t	 parser;
	yaml_event_t	 ev;
	int		 depth = 0, rc = 0, done = 0;

	if (!yaml_parser_initialize(&parser)) {
		ld->nomem = 1;
		return -1;
	}
	yaml_parser_set_input_string(&parser, (const unsigned char *)ld->input,
	    ld->inlen);
	while (!done && yaml_parser_parse(&parser, &ev)) {
		switch (ev.type) {
		case YAML_SEQUENCE_START_EVENT:
		case YAML_MAPPING_START_EVENT:
			if (++depth > AIF_CFG_MAX_DEPTH) {
				aif_walk_error_at(ld, ev.start_mark,
				    "nesting deeper than %d levels of mappings and "
				    "sequences", AIF_CFG_MAX_DEPTH);
				rc = -1;
				done = 1;
			}
			break;
		case YAML_SEQUENCE_END_EVENT:
		case YAML_MAPPING_END_EVENT:
			depth--;
			break;
		case YAML_STREAM_END_EVENT:
			done = 1;
			break;
		default:
			break;
		}
		yaml_event_delete(&ev);
	}
	yaml_parser_delete(&parser);
	return rc;
}

/* Parses the one YAML document and walks it into cfg; errors land in ld. */
void
aif_walk_document(struct loader *ld, const struct section *sec, void *obj)
{
	yaml_parser_t	 parser;
	yaml_document_t	 doc, extra;
	yaml_node_t	*root, *next;
	yaml_mark_t	 start = { 0, 0, 0 };

	if (check_depth(ld) != 0)
		return;
	if (!yaml_parser_initialize(&parser)) {
		ld->nomem = 1;
		return;
	}
	yaml_parser_set_input_string(&parser, (const unsigned char *)ld->input,
	    ld->inlen);
	if (!yaml_parser_load(&parser, &doc)) {	/* doc is freed by libyaml */
		syntax_error(ld, &parser);
		yaml_parser_delete(&parser);
		return;
	}
	ld->doc = &doc;
	if ((root = yaml_document_get_root_node(&doc)) == NULL) {
		aif_walk_error_at(ld, start, "the configuration is empty");
		goto out;
	}
	if (!yaml_parser_load(&parser, &extra))
		syntax_error(ld, &parser);
	else {
		if ((next = yaml_document_get_root_node(&extra)) != NULL)
			aif_walk_error_at(ld, next->start_mark,
			    "only one YAML document is allowed");
		yaml_document_delete(&extra);
	}
	aif_walk_map(ld, sec, obj, root);
out:
	ld->doc = NULL;
	yaml_document_delete(&doc);
	yaml_parser_delete(&parser);
}
