/* config.c -- loads the YAML configuration into a struct aif_config and validates it.
 * libyaml's document API builds the node tree; one directive table per section (name,
 * type, offset, min, max, default, required) drives the walk, the defaults and the
 * final free. Every problem is recorded as "file:line:column: message" (1-based) and
 * the walk goes on, so one run reports them all; the load fails at the end if any was
 * found. Values get ${NAME} / ${NAME:-default} expansion before conversion.
 * No state of its own; getenv(3) is the only shared thing it reads. */
#include <errno.h>
#include <fnmatch.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "chat_template.h"
#include "config.h"
#include "pii_types.h"

#define AIF_CFG_MAX_FILE	(1024 * 1024)	/* bytes of YAML accepted */
#define AIF_CFG_MAX_SCALAR	4096	/* bytes of one value after expansion */
#define AIF_CFG_MAX_VARNAME	128	/* bytes of an environment variable name */
#define AIF_CFG_MAX_MSG		512	/* bytes of one error message */
#define AIF_CFG_MAX_PATH	128	/* "models[12].replicas[3].max_in_flight" */
#define AIF_CFG_MAX_SHOWN	48	/* bytes of a user value quoted in a message */
#define AIF_CFG_MAX_MODELS	1024
#define AIF_CFG_MAX_REPLICAS	256
#define AIF_CFG_MAX_ROLES	1024
#define AIF_CFG_MAX_PATTERNS	256	/* per role, models and endpoints each */

#define NITEMS(a)	(sizeof(a) / sizeof((a)[0]))
#define UNSET		(-1)	/* default filled in after the walk */

/* Adapters a model may name. Add new ones here, and nowhere else. */
static const char *const known_adapters[] = { "openai", "tgi", "triton", NULL };
static const char *const triton_modes[] = { "infer", "generate", NULL };
static const char *const triton_int_types[] = { "INT32", "UINT32", NULL };
static const char *const disconnect_policies[] = { "finish", "cancel", NULL };

static const struct {
	const char	*name;
	unsigned	 bit;
} kind_names[] = {
	{ "chat", AIF_KIND_CHAT },
	{ "completion", AIF_KIND_COMPLETION },
	{ "embedding", AIF_KIND_EMBEDDING },
};

enum dtype {
	D_STR,		/* char *, new; empty means unset */
	D_INT,		/* int in [min, max] */
	D_INT64,	/* int64_t in [min, max] */
	D_SIZE,		/* size_t in [min, max] */
	D_BOOL,		/* int, 0 or 1 */
	D_KINDS,	/* unsigned mask of enum aif_kind, [min, max] entries */
	D_STRLIST,	/* char ** at off, size_t at count_off, [min, max] entries */
	D_MAP,		/* nested mapping whose fields live in the same object */
	D_SEQMAP,	/* sequence of mappings: array at off, size_t at count_off,
			   [min, max] entries of sub->size bytes */
};

#define F_REQUIRED	0x1

struct loader;
struct section;

struct directive {
	const char	*name;
	enum dtype	 type;
	size_t		 off;
	size_t		 count_off;
	int64_t		 min, max;
	int64_t		 def;
	unsigned	 flags;
	const char *const *choices;	/* D_STR: allowed values, NULL-terminated */
	const struct section *sub;	/* D_MAP, D_SEQMAP */
};

struct section {
	const struct directive *dirs;
	size_t		 ndirs;		/* at most 64: one bit each in walk_map */
	size_t		 size;		/* element size when used by D_SEQMAP */
	/* Cross-field checks and computed defaults once the mapping is walked. */
	void		(*finish)(struct loader *, void *obj, const yaml_node_t *map);
};

struct loader {
	const char	*name;		/* file name for messages, borrowed */
	const char	*input;		/* the YAML text, borrowed */
	size_t		 inlen;
	yaml_document_t	*doc;
	char		*errbuf;	/* caller's, borrowed */
	size_t		 errlen;
	size_t		 errused;
	unsigned	 nerrors;
	int		 nomem;
	char		 path[AIF_CFG_MAX_PATH];	/* where the walk is, for messages */
	size_t		 pathlen;
};

/* ---- errors and messages ------------------------------------------------------ */

static void	error_at(struct loader *, yaml_mark_t, const char *, ...)
		    __attribute__((format(printf, 3, 4)));
static void	error_plain(struct loader *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));

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

/* Formats one error, at `mark` (1-based in the output) or for the whole file. */
static void
verror(struct loader *ld, const yaml_mark_t *mark, const char *fmt, va_list ap)
{
	char	 msg[AIF_CFG_MAX_MSG], line[AIF_CFG_MAX_MSG + AIF_CFG_MAX_PATH];
	int	 n;

	ld->nerrors++;
	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	if (n < 0)
		n = snprintf(msg, sizeof(msg), "(unprintable message)");
	if ((size_t)n >= sizeof(msg))
		memcpy(msg + sizeof(msg) - 4, "...", 4);
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

static void
error_at(struct loader *ld, yaml_mark_t mark, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	verror(ld, &mark, fmt, ap);
	va_end(ap);
}

/* For errors that have no position (the file as a whole). */
static void
error_plain(struct loader *ld, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	verror(ld, NULL, fmt, ap);
	va_end(ap);
}

/* Copies at most AIF_CFG_MAX_SHOWN bytes of a user value into buf for a message,
 * control bytes as '?', "..." when cut. Returns buf. */
static const char *
shown(char buf[AIF_CFG_MAX_SHOWN + 4], const char *s, size_t len)
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

/* The current path ("server.threads", "models[1].id"), or "top level". */
static const char *
where(const struct loader *ld)
{
	return ld->pathlen > 0 ? ld->path : "top level";
}

/* Appends ".name" (or "name" at the top) to the path; returns the length to restore.
 * A path that does not fit stays cut at the cap: it only decorates messages. */
static size_t
path_key(struct loader *ld, const char *name)
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

static void
path_pop(struct loader *ld, size_t old)
{
	ld->pathlen = old;
	ld->path[old] = '\0';
}

static char *
xstrdup(struct loader *ld, const char *s)
{
	char	*p = strdup(s);

	if (p == NULL)
		ld->nomem = 1;
	return p;
}

static const char *
node_kind(const yaml_node_t *node)
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

/* Expands ${NAME} and ${NAME:-default} in scalar `node` into out (NUL-terminated).
 * ${NAME} needs NAME set (it may be empty); ${NAME:-default} takes default when
 * NAME is unset or empty. '$' not followed by '{' is literal; nothing is re-expanded.
 * Returns 0, or -1 after reporting the error at the node. */
static int
expand(struct loader *ld, const yaml_node_t *node, char out[AIF_CFG_MAX_SCALAR + 1])
{
	const char	*in = (const char *)node->data.scalar.value;
	size_t		 len = node->data.scalar.length, i = 0, o = 0, nlen, vlen;
	const char	*val, *close;
	char		 name[AIF_CFG_MAX_VARNAME + 1], show[AIF_CFG_MAX_SHOWN + 4];

	if (memchr(in, '\0', len) != NULL) {
		error_at(ld, node->start_mark, "%s: value contains a NUL byte",
		    where(ld));
		return -1;
	}
	while (i < len) {
		if (in[i] != '$' || i + 1 >= len || in[i + 1] != '{') {
			if (o >= AIF_CFG_MAX_SCALAR)
				goto toolong;
			out[o++] = in[i++];
			continue;
		}
		close = memchr(in + i, '}', len - i);
		if (close == NULL) {
			error_at(ld, node->start_mark, "%s: unterminated '${' in '%s'",
			    where(ld), shown(show, in, len));
			return -1;
		}
		i += 2;
		for (nlen = 0; i + nlen < len && is_name_char(in[i + nlen], nlen == 0);
		    nlen++)
			;
		if (nlen == 0 || nlen > AIF_CFG_MAX_VARNAME ||
		    (in[i + nlen] != '}' && (in[i + nlen] != ':' ||
		    in[i + nlen + 1] != '-'))) {
			error_at(ld, node->start_mark, "%s: bad variable reference '%s' "
			    "(use ${NAME} or ${NAME:-default})", where(ld),
			    shown(show, in, len));
			return -1;
		}
		memcpy(name, in + i, nlen);
		name[nlen] = '\0';
		val = getenv(name);
		if (in[i + nlen] == ':') {		/* ${NAME:-default} */
			if (val == NULL || *val == '\0') {
				val = in + i + nlen + 2;
				vlen = (size_t)(close - val);
			} else
				vlen = strlen(val);
		} else if (val == NULL) {		/* ${NAME} */
			error_at(ld, node->start_mark,
			    "%s: environment variable %s is not set", where(ld), name);
			return -1;
		} else
			vlen = strlen(val);
		if (vlen > AIF_CFG_MAX_SCALAR - o)
			goto toolong;
		memcpy(out + o, val, vlen);
		o += vlen;
		i = (size_t)(close - in) + 1;
	}
	out[o] = '\0';
	return 0;
toolong:
	error_at(ld, node->start_mark, "%s: value longer than %d bytes after expansion",
	    where(ld), AIF_CFG_MAX_SCALAR);
	return -1;
}

/* Expands scalar `node` into out after checking it is a scalar at all.
 * `want` names the expected thing for the message ("an integer"). */
static int
scalar(struct loader *ld, const yaml_node_t *node, const char *want,
    char out[AIF_CFG_MAX_SCALAR + 1])
{
	if (node->type != YAML_SCALAR_NODE) {
		error_at(ld, node->start_mark, "%s: expected %s, got %s", where(ld),
		    want, node_kind(node));
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
		error_at(ld, node->start_mark, "%s: %s is out of range (at least %lld)",
		    where(ld), shown(show, value, strlen(value)), (long long)d->min);
	else
		error_at(ld, node->start_mark, "%s: %s is out of range %lld..%lld",
		    where(ld), shown(show, value, strlen(value)), (long long)d->min,
		    (long long)d->max);
}

/* Converts an integer directive and stores it. */
static void
set_number(struct loader *ld, const struct directive *d, void *obj,
    const yaml_node_t *node)
{
	char	 buf[AIF_CFG_MAX_SCALAR + 1], show[AIF_CFG_MAX_SHOWN + 4];
	int64_t	 v = 0;
	int	 rc;

	if (scalar(ld, node, "an integer", buf) != 0)
		return;
	rc = parse_int(buf, &v);
	if (rc == -1) {
		error_at(ld, node->start_mark, "%s: expected a decimal integer, got '%s'",
		    where(ld), shown(show, buf, strlen(buf)));
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

	if (scalar(ld, node, "a boolean", buf) != 0)
		return;
	if (strcmp(buf, "true") == 0 || strcmp(buf, "yes") == 0)
		*dst = 1;
	else if (strcmp(buf, "false") == 0 || strcmp(buf, "no") == 0)
		*dst = 0;
	else
		error_at(ld, node->start_mark,
		    "%s: expected true, false, yes or no, got '%s'", where(ld),
		    shown(show, buf, strlen(buf)));
}

/* Joins a NULL-terminated list with ", " for a message (cut at the cap). */
static const char *
joined(char *buf, size_t size, const char *const *list)
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
	const char *const *c;

	if (scalar(ld, node, "a string", buf) != 0)
		return;
	if (buf[0] == '\0') {
		if (d->flags & F_REQUIRED)
			error_at(ld, node->start_mark, "%s: must not be empty",
			    where(ld));
		return;
	}
	if (d->choices != NULL) {
		for (c = d->choices; *c != NULL && strcmp(*c, buf) != 0; c++)
			;
		if (*c == NULL) {
			error_at(ld, node->start_mark, "%s: '%s' is not one of: %s",
			    where(ld), shown(show, buf, strlen(buf)),
			    joined(list, sizeof(list), d->choices));
			return;
		}
	}
	free(*dst);
	*dst = xstrdup(ld, buf);
}

/* Checks that `node` is a sequence with [d->min, d->max] items.
 * Returns the item count, or -1 after an error. */
static long
sequence(struct loader *ld, const struct directive *d, const yaml_node_t *node)
{
	long	 n;

	if (node->type != YAML_SEQUENCE_NODE) {
		error_at(ld, node->start_mark, "%s: expected a sequence, got %s",
		    where(ld), node_kind(node));
		return -1;
	}
	n = (long)(node->data.sequence.items.top - node->data.sequence.items.start);
	if (n < d->min) {
		error_at(ld, node->start_mark, "%s: needs at least %lld entr%s",
		    where(ld), (long long)d->min, d->min == 1 ? "y" : "ies");
		return -1;
	}
	if (n > d->max) {
		error_at(ld, node->start_mark, "%s: more than %lld entries",
		    where(ld), (long long)d->max);
		return -1;
	}
	return n;
}

static yaml_node_t *
item(const struct loader *ld, const yaml_node_t *seq, long i)
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
	size_t		 k, old;
	yaml_node_t	*it;

	if ((n = sequence(ld, d, node)) < 0)
		return;
	for (i = 0; i < n; i++) {
		it = item(ld, node, i);
		old = path_index(ld, (size_t)i);
		if (scalar(ld, it, "a kind", buf) == 0) {
			for (k = 0; k < NITEMS(kind_names) &&
			    strcmp(kind_names[k].name, buf) != 0; k++)
				;
			if (k == NITEMS(kind_names))
				error_at(ld, it->start_mark, "%s: '%s' is not one of: "
				    "chat, completion, embedding", where(ld),
				    shown(show, buf, strlen(buf)));
			else if (mask & kind_names[k].bit)
				error_at(ld, it->start_mark, "%s: duplicate kind '%s'",
				    where(ld), buf);
			else
				mask |= kind_names[k].bit;
		}
		path_pop(ld, old);
	}
	*(unsigned *)(void *)((char *)obj + d->off) = mask;
}

static void
set_strlist(struct loader *ld, const struct directive *d, void *obj,
    const yaml_node_t *node)
{
	char		 buf[AIF_CFG_MAX_SCALAR + 1];
	char		***dst = (char ***)(void *)((char *)obj + d->off);
	size_t		*count = (size_t *)(void *)((char *)obj + d->count_off);
	long		 i, n;
	size_t		 old;
	yaml_node_t	*it;

	if ((n = sequence(ld, d, node)) < 0)
		return;
	/* Never NULL once given, so `[]` (nothing allowed) differs from absent. */
	if ((*dst = calloc((size_t)n + 1, sizeof(**dst))) == NULL) {
		ld->nomem = 1;
		return;
	}
	for (i = 0; i < n; i++) {
		it = item(ld, node, i);
		old = path_index(ld, (size_t)i);
		if (scalar(ld, it, "a string", buf) == 0) {
			if (buf[0] == '\0')
				error_at(ld, it->start_mark, "%s: must not be empty",
				    where(ld));
			else if (((*dst)[*count] = xstrdup(ld, buf)) != NULL)
				(*count)++;
		}
		path_pop(ld, old);
	}
}

/* ---- the walker ------------------------------------------------------------------ */

static void	walk_map(struct loader *, const struct section *, void *,
		    const yaml_node_t *);

/* Sets every directive of `sec` in `obj` to its default, nested mappings too. */
static void
apply_defaults(const struct section *sec, void *obj)
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
			apply_defaults(d->sub, obj);
			break;
		default:
			break;
		}
	}
}

/* Frees what the directives of `sec` own in `obj`, nested ones too; not obj. */
static void
free_fields(const struct section *sec, void *obj)
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
			free_fields(d->sub, obj);
			break;
		case D_SEQMAP:
			elems = *(char **)(void *)p;
			n = *(size_t *)(void *)((char *)obj + d->count_off);
			for (i = 0; elems != NULL && i < n; i++)
				free_fields(d->sub, elems + i * d->sub->size);
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

	if ((n = sequence(ld, d, node)) <= 0)
		return;
	if ((*dst = calloc((size_t)n, d->sub->size)) == NULL) {
		ld->nomem = 1;
		return;
	}
	*count = (size_t)n;
	for (i = 0; i < n; i++) {
		elem = *dst + (size_t)i * d->sub->size;
		apply_defaults(d->sub, elem);
		old = path_index(ld, (size_t)i);
		walk_map(ld, d->sub, elem, item(ld, node, i));
		path_pop(ld, old);
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
		walk_map(ld, d->sub, obj, node);
		break;
	case D_SEQMAP:
		set_seqmap(ld, d, obj, node);
		break;
	}
}

/* Walks mapping `map` into `obj` by the table of `sec`: unknown, duplicate and
 * missing keys are errors; then the section's finish hook runs. */
static void
walk_map(struct loader *ld, const struct section *sec, void *obj,
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
		error_at(ld, map->start_mark, "%s: expected a mapping, got %s",
		    where(ld), node_kind(map));
		return;
	}
	for (pair = map->data.mapping.pairs.start;
	    pair < map->data.mapping.pairs.top; pair++) {
		key = yaml_document_get_node(ld->doc, pair->key);
		val = yaml_document_get_node(ld->doc, pair->value);
		if (key->type != YAML_SCALAR_NODE) {
			error_at(ld, key->start_mark, "%s: key must be a scalar, got %s",
			    where(ld), node_kind(key));
			continue;
		}
		k = (const char *)key->data.scalar.value;
		klen = key->data.scalar.length;
		for (d = sec->dirs; d < sec->dirs + sec->ndirs; d++)
			if (strlen(d->name) == klen && memcmp(d->name, k, klen) == 0)
				break;
		if (d == sec->dirs + sec->ndirs) {
			error_at(ld, key->start_mark, "%s: unknown key '%s'", where(ld),
			    shown(show, k, klen));
			continue;
		}
		bit = UINT64_C(1) << (d - sec->dirs);
		if (seen & bit) {
			error_at(ld, key->start_mark, "%s: duplicate key '%s'",
			    where(ld), d->name);
			continue;
		}
		seen |= bit;
		old = path_key(ld, d->name);
		walk_value(ld, d, obj, val);
		path_pop(ld, old);
	}
	for (d = sec->dirs; d < sec->dirs + sec->ndirs; d++)
		if ((d->flags & F_REQUIRED) &&
		    !(seen & (UINT64_C(1) << (d - sec->dirs))))
			error_at(ld, map->start_mark, "%s: missing required key '%s'",
			    where(ld), d->name);
	if (sec->finish != NULL)
		sec->finish(ld, obj, map);
}

/* The value node of `key` in mapping `map`, or NULL. */
static const yaml_node_t *
lookup(const struct loader *ld, const yaml_node_t *map, const char *key)
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

/* ---- finish hooks: computed defaults and cross-field rules ------------------------ */

static void
replica_finish(struct loader *ld, void *obj, const yaml_node_t *map)
{
	struct aif_replica	*r = obj;
	const yaml_node_t	*url;

	if (r->url == NULL || strncmp(r->url, "http://", 7) == 0 ||
	    strncmp(r->url, "https://", 8) == 0)
		return;
	url = lookup(ld, map, "url");
	error_at(ld, url != NULL ? url->start_mark : map->start_mark,
	    "%s.url: must start with http:// or https://", where(ld));
}

static void
model_finish(struct loader *ld, void *obj, const yaml_node_t *map)
{
	struct aif_model	*m = obj;

	(void)map;
	if (m->engine == NULL && m->adapter != NULL)
		m->engine = xstrdup(ld, m->adapter);
	if (m->upstream_model == NULL && m->id != NULL)
		m->upstream_model = xstrdup(ld, m->id);
	if (m->owned_by == NULL)
		m->owned_by = xstrdup(ld, "aif");
	if (m->chat_template == NULL)
		m->chat_template = xstrdup(ld, "chatml");
	if (m->triton.mode == NULL)
		m->triton.mode = xstrdup(ld, "infer");
	if (m->triton.text_input == NULL)
		m->triton.text_input = xstrdup(ld, "text_input");
	if (m->triton.text_output == NULL)
		m->triton.text_output = xstrdup(ld, "text_output");
	if (m->triton.max_tokens_input == NULL)
		m->triton.max_tokens_input = xstrdup(ld, "max_tokens");
	if (m->triton.max_tokens_type == NULL)
		m->triton.max_tokens_type = xstrdup(ld, "INT32");
	if (m->triton.stream_input == NULL)
		m->triton.stream_input = xstrdup(ld, "stream");
	if (m->triton.embedding_output == NULL)
		m->triton.embedding_output = xstrdup(ld, "embedding");
}

static void
star_list(struct loader *ld, char ***list, size_t *n)
{
	if (*list != NULL)
		return;
	if ((*list = calloc(2, sizeof(**list))) == NULL ||
	    ((*list)[0] = xstrdup(ld, "*")) == NULL) {
		ld->nomem = 1;
		return;
	}
	*n = 1;
}

static void
role_finish(struct loader *ld, void *obj, const yaml_node_t *map)
{
	struct aif_role	*r = obj;

	(void)map;
	star_list(ld, &r->models, &r->nmodels);
	star_list(ld, &r->endpoints, &r->nendpoints);
}

static void
database_finish(struct loader *ld, void *obj, const yaml_node_t *map)
{
	struct aif_config	*cfg = obj;

	if (cfg->database.socket == NULL && cfg->database.host == NULL)
		error_at(ld, map->start_mark,
		    "%s: one of 'socket' or 'host' is required", where(ld));
	else if (cfg->database.socket != NULL && cfg->database.host != NULL)
		error_at(ld, map->start_mark,
		    "%s: 'socket' and 'host' exclude each other", where(ld));
}

/* Reports the second of two entries of sequence `key` with the same `field`. */
static void
check_unique(struct loader *ld, const yaml_node_t *root, const char *key,
    const char *field, const char *what, const char *(*name_of)(const void *, size_t),
    const void *arr, size_t n)
{
	const yaml_node_t	*seq, *first, *dup;
	const char		*a, *b;
	size_t			 i, j;

	seq = lookup(ld, root, key);
	if (seq == NULL || seq->type != YAML_SEQUENCE_NODE ||
	    (size_t)(seq->data.sequence.items.top - seq->data.sequence.items.start) != n)
		return;
	for (i = 1; i < n; i++) {
		if ((b = name_of(arr, i)) == NULL)
			continue;
		for (j = 0; j < i; j++) {
			if ((a = name_of(arr, j)) == NULL || strcmp(a, b) != 0)
				continue;
			first = lookup(ld, item(ld, seq, (long)j), field);
			dup = lookup(ld, item(ld, seq, (long)i), field);
			if (first == NULL || dup == NULL)
				break;
			error_at(ld, dup->start_mark,
			    "%s[%zu].%s: duplicate %s '%s' (first at line %zu)", key, i,
			    field, what, b, first->start_mark.line + 1);
			break;
		}
	}
}

static const char *
model_id(const void *arr, size_t i)
{
	return ((const struct aif_model *)arr)[i].id;
}

static const char *
role_name(const void *arr, size_t i)
{
	return ((const struct aif_role *)arr)[i].name;
}

static const char *
tenant_name(const void *arr, size_t i)
{
	return ((const struct aif_tenant *)arr)[i].name;
}

int
aif_cfg_duration_ms(const char *text, int64_t max_ms, int64_t *out)
{
	static const struct { const char *unit; int64_t ms; } units[] = {
		{ "ms", 1 }, { "s", 1000 }, { "m", 60000 }, { "h", 3600000 },
		{ "d", 86400000 }, { "", 1 },
	};
	char *end;
	long long v;

	if (text == NULL || text[0] < '0' || text[0] > '9')
		return -1;
	errno = 0;
	v = strtoll(text, &end, 10);
	if (errno != 0 || v < 0)
		return -1;
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
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

const struct aif_tenant *
aif_cfg_tenant(const struct aif_config *cfg, const char *name)
{
	for (size_t i = 0; i < cfg->ntenants; i++)
		if (strcmp(cfg->tenants[i].name, name) == 0)
			return &cfg->tenants[i];
	return NULL;
}

/* Position of models[i].retry.<key> (or the closest node) for messages. */
static yaml_mark_t
retry_mark(struct loader *ld, const yaml_node_t *root, size_t i, const char *key)
{
	const yaml_node_t *seq = lookup(ld, root, "models"), *m, *r, *v;

	m = seq ? item(ld, seq, (long)i) : NULL;
	r = m ? lookup(ld, m, "retry") : NULL;
	v = r ? lookup(ld, r, key) : NULL;
	return (v ? v : r ? r : m ? m : root)->start_mark;
}

/* Fills each model's retry policy from its YAML text, with Temporal's defaults. */
static void
finish_retry(struct loader *ld, const yaml_node_t *root, struct aif_config *cfg)
{
	for (size_t i = 0; i < cfg->nmodels; i++) {
		struct aif_retry_policy *rp = &cfg->models[i].retry;
		int64_t v;

		v = 500;
		if (rp->initial_interval != NULL &&
		    aif_cfg_duration_ms(rp->initial_interval, 3600000, &v) != 0)
			error_at(ld, retry_mark(ld, root, i, "initial_interval"),
			    "models[%zu].retry.initial_interval: expected a duration such as "
			    "500ms or 2s (at most 1h)", i);
		rp->initial_interval_ms = (int)v;
		v = 10000;
		if (rp->maximum_interval != NULL &&
		    aif_cfg_duration_ms(rp->maximum_interval, 86400000, &v) != 0)
			error_at(ld, retry_mark(ld, root, i, "maximum_interval"),
			    "models[%zu].retry.maximum_interval: expected a duration such as "
			    "10s or 5m (at most 1d)", i);
		rp->maximum_interval_ms = (int)v;
		v = rp->backoff_coefficient ? parse_hundredths(rp->backoff_coefficient) : 200;
		if (v < 100 || v > 1000)
			error_at(ld, retry_mark(ld, root, i, "backoff_coefficient"),
			    "models[%zu].retry.backoff_coefficient: expected a number from 1.0 "
			    "to 10.0", i);
		rp->backoff_coefficient_pct = (int)v;
		v = rp->jitter ? parse_hundredths(rp->jitter) : 10;
		if (v < 0 || v > 100)
			error_at(ld, retry_mark(ld, root, i, "jitter"),
			    "models[%zu].retry.jitter: expected a fraction from 0 to 1.0", i);
		rp->jitter_pct = (int)v;
		if (rp->maximum_attempts == UNSET)
			rp->maximum_attempts = cfg->models[i].max_attempts;
		/* the model's max_attempts is what the queue enforces: keep them one */
		cfg->models[i].max_attempts = rp->maximum_attempts;
		rp->non_retryable = 0;
		for (size_t k = 0; k < rp->nnon_retryable; k++) {
			const char *n = rp->non_retryable_names[k];
			if (strcmp(n, "retryable") == 0)
				rp->non_retryable |= AIF_FAILCLASS_RETRYABLE;
			else if (strcmp(n, "overloaded") == 0)
				rp->non_retryable |= AIF_FAILCLASS_OVERLOADED;
			else if (strcmp(n, "timeout") == 0)
				rp->non_retryable |= AIF_FAILCLASS_TIMEOUT;
			else
				error_at(ld, retry_mark(ld, root, i, "non_retryable"),
				    "models[%zu].retry.non_retryable[%zu]: '%s' is not one of: "
				    "retryable, overloaded, timeout", i, k, n);
		}
	}
}

static void
finish_autoscale(struct loader *ld, const yaml_node_t *root, struct aif_config *cfg)
{
	struct aif_autoscale *a = &cfg->autoscale;
	const yaml_node_t *sec = lookup(ld, root, "autoscale");
	struct { const char *key; char **text; int64_t *ms; const char *def; } d[] = {
		{ "max_queue_age", &a->max_queue_age, &a->max_queue_age_ms, "" },
		{ "scale_up_cooldown", &a->scale_up_cooldown, &a->scale_up_cooldown_ms, "30s" },
		{ "scale_down_cooldown", &a->scale_down_cooldown, &a->scale_down_cooldown_ms,
		  "5m" },
	};

	a->enabled = sec != NULL;
	for (size_t i = 0; i < sizeof(d) / sizeof(d[0]); i++) {
		const char *t = *d[i].text != NULL ? *d[i].text : d[i].def;
		*d[i].ms = 0;
		if (*t != '\0' && aif_cfg_duration_ms(t, 86400000, d[i].ms) != 0) {
			const yaml_node_t *v = sec ? lookup(ld, sec, d[i].key) : NULL;
			error_at(ld, (v ? v : sec ? sec : root)->start_mark,
			    "autoscale.%s: expected a duration such as 30s or 5m", d[i].key);
		}
	}
	if (a->start_command == NULL)
		a->start_command = xstrdup(ld, "systemctl start aif-worker@{n}");
	if (a->stop_command == NULL)
		a->stop_command = xstrdup(ld, "systemctl stop aif-worker@{n}");
	if (a->min_workers > a->max_workers && sec != NULL)
		error_at(ld, sec->start_mark, "autoscale: min_workers is above max_workers");
	for (size_t i = 0; i < a->nengines; i++)
		if (a->engines[i].min_replicas > a->engines[i].max_replicas && sec != NULL)
			error_at(ld, sec->start_mark, "autoscale.engines[%zu]: min_replicas is "
			    "above max_replicas", i);
}

/* Durations and numbers of models[i].compensations[k].retry, and their defaults. */
static void
finish_compensations(struct loader *ld, const yaml_node_t *root, struct aif_config *cfg)
{
	const yaml_node_t *seq = lookup(ld, root, "models");

	for (size_t i = 0; i < cfg->nmodels; i++) {
		const yaml_node_t *m = seq ? item(ld, seq, (long)i) : NULL;
		const yaml_node_t *cs = m ? lookup(ld, m, "compensations") : NULL;
		for (size_t k = 0; k < cfg->models[i].ncompensations; k++) {
			struct aif_compensation *c = &cfg->models[i].compensations[k];
			struct aif_retry_policy *rp = &c->retry;
			const yaml_node_t *at = cs ? item(ld, cs, (long)k) : NULL;
			yaml_mark_t mark = (at ? at : m ? m : root)->start_mark;
			int64_t v;
			if (c->method == NULL)
				c->method = xstrdup(ld, "POST");
			if (c->url != NULL && strncmp(c->url, "http://", 7) != 0 &&
			    strncmp(c->url, "https://", 8) != 0)
				error_at(ld, mark, "models[%zu].compensations[%zu].url: expected "
				    "http:// or https://", i, k);
			v = 1000;
			if (rp->initial_interval != NULL &&
			    aif_cfg_duration_ms(rp->initial_interval, 3600000, &v) != 0)
				error_at(ld, mark, "models[%zu].compensations[%zu].retry."
				    "initial_interval: expected a duration", i, k);
			rp->initial_interval_ms = (int)v;
			v = 60000;
			if (rp->maximum_interval != NULL &&
			    aif_cfg_duration_ms(rp->maximum_interval, 86400000, &v) != 0)
				error_at(ld, mark, "models[%zu].compensations[%zu].retry."
				    "maximum_interval: expected a duration", i, k);
			rp->maximum_interval_ms = (int)v;
			v = rp->backoff_coefficient ? parse_hundredths(rp->backoff_coefficient) : 200;
			if (v < 100 || v > 1000)
				error_at(ld, mark, "models[%zu].compensations[%zu].retry."
				    "backoff_coefficient: expected 1.0 to 10.0", i, k);
			rp->backoff_coefficient_pct = (int)v;
			rp->jitter_pct = 10;
		}
	}
}

static void
finish_queue(struct loader *ld, const yaml_node_t *root, struct aif_config *cfg)
{
	int64_t v = 86400000;
	const yaml_node_t *q = lookup(ld, root, "queue"), *w;

	if (cfg->queue.idempotency_window != NULL &&
	    (aif_cfg_duration_ms(cfg->queue.idempotency_window, 30LL * 86400000, &v) != 0 ||
	    v < 60000)) {
		w = q ? lookup(ld, q, "idempotency_window") : NULL;
		error_at(ld, (w ? w : q ? q : root)->start_mark,
		    "queue.idempotency_window: expected a duration from 1m to 30d, such as 24h");
	}
	cfg->queue.idempotency_window_s = v / 1000;
}

/* models[].chat_template names a built-in or is a well-formed template. */
static void
check_templates(struct loader *ld, const yaml_node_t *root, const struct aif_config *cfg)
{
	const yaml_node_t *seq = lookup(ld, root, "models");

	for (size_t i = 0; i < cfg->nmodels; i++) {
		const yaml_node_t *m = seq ? item(ld, seq, (long)i) : NULL;
		const yaml_node_t *t = m ? lookup(ld, m, "chat_template") : NULL;
		if (cfg->models[i].chat_template == NULL ||
		    aif_chat_template_check(cfg->models[i].chat_template) == AIF_OK)
			continue;
		error_at(ld, (t ? t : m ? m : root)->start_mark, "models[%zu].chat_template: "
		    "expected chatml, llama3 or a template with {content} and a final "
		    "{assistant} (docs/ADAPTERS.md)", i);
	}
}

/* Every models[].fallbacks entry names another configured model. */
static void
check_fallbacks(struct loader *ld, const yaml_node_t *root, const struct aif_config *cfg)
{
	const yaml_node_t *seq = lookup(ld, root, "models");

	if (seq == NULL || seq->type != YAML_SEQUENCE_NODE ||
	    (size_t)(seq->data.sequence.items.top - seq->data.sequence.items.start) !=
	    cfg->nmodels)
		return;
	for (size_t i = 0; i < cfg->nmodels; i++) {
		const struct aif_model *m = &cfg->models[i];
		const yaml_node_t *list = lookup(ld, item(ld, seq, (long)i), "fallbacks");
		for (size_t k = 0; k < m->nfallbacks; k++) {
			const char *f = m->fallbacks[k];
			int found = 0;
			for (size_t j = 0; j < cfg->nmodels; j++)
				if (j != i && cfg->models[j].id != NULL &&
				    strcmp(cfg->models[j].id, f) == 0)
					found = 1;
			if (found || list == NULL)
				continue;
			const yaml_node_t *at = item(ld, list, (long)k);
			error_at(ld, (at ? at : list)->start_mark,
			    "models[%zu].fallbacks[%zu]: '%s' is not another configured model",
			    i, k, f);
		}
	}
}

static void
root_finish(struct loader *ld, void *obj, const yaml_node_t *map)
{
	struct aif_config	*cfg = obj;
	size_t			 i;

	for (i = 0; i < cfg->nmodels; i++)
		if (cfg->models[i].max_attempts == UNSET)
			cfg->models[i].max_attempts = cfg->queue.max_attempts;
	for (i = 0; i < cfg->nroles; i++)
		if (cfg->roles[i].max_priority == UNSET)
			cfg->roles[i].max_priority = cfg->queue.default_priority;
	check_unique(ld, map, "models", "id", "model id", model_id, cfg->models,
	    cfg->nmodels);
	check_unique(ld, map, "roles", "name", "role name", role_name, cfg->roles,
	    cfg->nroles);
	check_fallbacks(ld, map, cfg);
	finish_retry(ld, map, cfg);
	finish_queue(ld, map, cfg);
	finish_autoscale(ld, map, cfg);
	finish_compensations(ld, map, cfg);
	check_templates(ld, map, cfg);
	check_unique(ld, map, "tenants", "name", "tenant name", tenant_name, cfg->tenants,
	    cfg->ntenants);
}

/* ---- the schema ------------------------------------------------------------------- */

#define STR(n, o, fl)		{ .name = (n), .type = D_STR, .off = (o), .flags = (fl) }
#define INT(n, o, lo, hi, d)	{ .name = (n), .type = D_INT, .off = (o), \
				  .min = (lo), .max = (hi), .def = (d) }
#define SECTION(dirs, size, finish)	{ (dirs), NITEMS(dirs), (size), (finish) }
#define CFG(f)	offsetof(struct aif_config, f)

static const struct directive replica_dirs[] = {
	STR("url", offsetof(struct aif_replica, url), F_REQUIRED),
	INT("max_in_flight", offsetof(struct aif_replica, max_in_flight), 1, 4096, 64),
};
static const struct section replica_sec =
    SECTION(replica_dirs, sizeof(struct aif_replica), replica_finish);

static const struct directive pricing_dirs[] = {
	{ .name = "input_per_mtok", .type = D_INT64, .min = 0, .max = INT64_MAX,
	  .off = offsetof(struct aif_model, pricing.input_per_mtok) },
	{ .name = "output_per_mtok", .type = D_INT64, .min = 0, .max = INT64_MAX,
	  .off = offsetof(struct aif_model, pricing.output_per_mtok) },
};
static const struct section pricing_sec = SECTION(pricing_dirs, 0, NULL);

#define RETRY(f)	offsetof(struct aif_model, retry.f)
static const struct directive retry_dirs[] = {
	STR("initial_interval", RETRY(initial_interval), 0),
	STR("backoff_coefficient", RETRY(backoff_coefficient), 0),
	STR("maximum_interval", RETRY(maximum_interval), 0),
	INT("maximum_attempts", RETRY(maximum_attempts), 1, 100, UNSET),
	{ .name = "non_retryable", .type = D_STRLIST, .off = RETRY(non_retryable_names),
	  .count_off = RETRY(nnon_retryable), .min = 0, .max = 3 },
	STR("jitter", RETRY(jitter), 0),
};
static const struct section retry_sec = SECTION(retry_dirs, 0, NULL);

static const char *const http_methods[] = { "POST", "PUT", "DELETE", "GET", NULL };
#define COMP(f)		offsetof(struct aif_compensation, f)
static const struct directive comp_retry_dirs[] = {
	STR("initial_interval", COMP(retry.initial_interval), 0),
	STR("backoff_coefficient", COMP(retry.backoff_coefficient), 0),
	STR("maximum_interval", COMP(retry.maximum_interval), 0),
	INT("maximum_attempts", COMP(retry.maximum_attempts), 0, 10000, 0),
	STR("jitter", COMP(retry.jitter), 0),
};
static const struct section comp_retry_sec = SECTION(comp_retry_dirs, 0, NULL);
static const struct directive comp_dirs[] = {
	STR("name", COMP(name), F_REQUIRED),
	STR("url", COMP(url), F_REQUIRED),
	{ .name = "method", .type = D_STR, .off = COMP(method), .choices = http_methods },
	STR("body", COMP(body), 0),
	INT("timeout_ms", COMP(timeout_ms), 100, 60000, 5000),
	{ .name = "retry", .type = D_MAP, .sub = &comp_retry_sec },
};
static const struct section comp_sec =
    SECTION(comp_dirs, sizeof(struct aif_compensation), NULL);

#define TRITON(f)	offsetof(struct aif_model, triton.f)
static const struct directive triton_dirs[] = {
	{ .name = "mode", .type = D_STR, .off = TRITON(mode), .choices = triton_modes },
	STR("text_input", TRITON(text_input), 0),
	STR("text_output", TRITON(text_output), 0),
	STR("max_tokens_input", TRITON(max_tokens_input), 0),
	{ .name = "max_tokens_type", .type = D_STR, .off = TRITON(max_tokens_type),
	  .choices = triton_int_types },
	STR("stream_input", TRITON(stream_input), 0),
	STR("embedding_output", TRITON(embedding_output), 0),
};
static const struct section triton_sec = SECTION(triton_dirs, 0, NULL);

#define MODEL(f)	offsetof(struct aif_model, f)
static const struct directive model_dirs[] = {
	STR("id", MODEL(id), F_REQUIRED),
	{ .name = "adapter", .type = D_STR, .off = MODEL(adapter), .flags = F_REQUIRED,
	  .choices = known_adapters },
	STR("engine", MODEL(engine), 0),
	STR("upstream_model", MODEL(upstream_model), 0),
	STR("owned_by", MODEL(owned_by), 0),
	{ .name = "kinds", .type = D_KINDS, .off = MODEL(kinds), .min = 1,
	  .max = (int64_t)NITEMS(kind_names),
	  .def = AIF_KIND_CHAT | AIF_KIND_COMPLETION },
	{ .name = "replicas", .type = D_SEQMAP, .off = MODEL(replicas),
	  .count_off = MODEL(nreplicas), .min = 1, .max = AIF_CFG_MAX_REPLICAS,
	  .flags = F_REQUIRED, .sub = &replica_sec },
	INT("max_in_flight", MODEL(max_in_flight), 1, 65536, 64),
	INT("timeout_ms", MODEL(timeout_ms), 100, 3600000, 60000),
	INT("max_attempts", MODEL(max_attempts), 1, 100, UNSET),
	INT("max_output_tokens", MODEL(max_output_tokens), 1, 1048576, 4096),
	{ .name = "pricing", .type = D_MAP, .sub = &pricing_sec },
	{ .name = "fallbacks", .type = D_STRLIST, .off = MODEL(fallbacks),
	  .count_off = MODEL(nfallbacks), .min = 0, .max = 16 },
	INT("circuit_failures", MODEL(circuit_failures), 1, 1000, 3),
	INT("circuit_open_ms", MODEL(circuit_open_ms), 100, 600000, 5000),
	STR("chat_template", MODEL(chat_template), 0),
	{ .name = "retry", .type = D_MAP, .sub = &retry_sec },
	{ .name = "compensations", .type = D_SEQMAP, .off = MODEL(compensations),
	  .count_off = MODEL(ncompensations), .min = 0, .max = 16, .sub = &comp_sec },
	{ .name = "triton", .type = D_MAP, .sub = &triton_sec },
};
static const struct section model_sec =
    SECTION(model_dirs, sizeof(struct aif_model), model_finish);

#define ROLE(f)	offsetof(struct aif_role, f)
static const struct directive role_dirs[] = {
	STR("name", ROLE(name), F_REQUIRED),
	{ .name = "admin", .type = D_BOOL, .off = ROLE(admin), .def = 0 },
	INT("max_priority", ROLE(max_priority), 0, 9, UNSET),
	{ .name = "models", .type = D_STRLIST, .off = ROLE(models),
	  .count_off = ROLE(nmodels), .min = 0, .max = AIF_CFG_MAX_PATTERNS },
	{ .name = "endpoints", .type = D_STRLIST, .off = ROLE(endpoints),
	  .count_off = ROLE(nendpoints), .min = 0, .max = AIF_CFG_MAX_PATTERNS },
	{ .name = "rpm", .type = D_INT64, .off = ROLE(rpm), .min = 0, .max = 1000000000,
	  .def = -1 },
	{ .name = "tpm", .type = D_INT64, .off = ROLE(tpm), .min = 0, .max = 100000000000LL,
	  .def = -1 },
	{ .name = "monthly_budget_micros", .type = D_INT64, .off = ROLE(monthly_budget_micros),
	  .min = 0, .max = INT64_MAX / 4, .def = -1 },
};

#define AS(f)		offsetof(struct aif_config, autoscale.f)
#define ASM(f)		offsetof(struct aif_autoscale_model, f)
#define ASE(f)		offsetof(struct aif_autoscale_engine, f)
static const struct directive as_model_dirs[] = {
	STR("model", ASM(model), F_REQUIRED),
	INT("target_queue_per_worker", ASM(target_queue_per_worker), 1, 1000000, 64),
};
static const struct section as_model_sec =
    SECTION(as_model_dirs, sizeof(struct aif_autoscale_model), NULL);
static const struct directive as_engine_dirs[] = {
	STR("model", ASE(model), F_REQUIRED),
	INT("min_replicas", ASE(min_replicas), 0, 10000, 1),
	INT("max_replicas", ASE(max_replicas), 0, 10000, 1),
	INT("target_queue_per_replica", ASE(target_queue_per_replica), 1, 1000000, 32),
	STR("command", ASE(command), F_REQUIRED),
};
static const struct section as_engine_sec =
    SECTION(as_engine_dirs, sizeof(struct aif_autoscale_engine), NULL);
static const struct directive autoscale_dirs[] = {
	INT("min_workers", AS(min_workers), 0, 10000, 1),
	INT("max_workers", AS(max_workers), 1, 10000, 4),
	INT("target_queue_per_worker", AS(target_queue_per_worker), 1, 1000000, 64),
	STR("max_queue_age", AS(max_queue_age), 0),
	STR("scale_up_cooldown", AS(scale_up_cooldown), 0),
	STR("scale_down_cooldown", AS(scale_down_cooldown), 0),
	STR("start_command", AS(start_command), 0),
	STR("stop_command", AS(stop_command), 0),
	{ .name = "models", .type = D_SEQMAP, .off = AS(models), .count_off = AS(nmodels),
	  .min = 0, .max = AIF_CFG_MAX_MODELS, .sub = &as_model_sec },
	{ .name = "engines", .type = D_SEQMAP, .off = AS(engines), .count_off = AS(nengines),
	  .min = 0, .max = AIF_CFG_MAX_MODELS, .sub = &as_engine_sec },
};
static const struct section autoscale_sec = SECTION(autoscale_dirs, 0, NULL);

#define TENANT(f)	offsetof(struct aif_tenant, f)
static const struct directive tenant_dirs[] = {
	STR("name", TENANT(name), F_REQUIRED),
	{ .name = "rpm", .type = D_INT64, .off = TENANT(rpm), .min = 0, .max = 1000000000,
	  .def = -1 },
	{ .name = "tpm", .type = D_INT64, .off = TENANT(tpm), .min = 0,
	  .max = 100000000000LL, .def = -1 },
	{ .name = "monthly_budget_micros", .type = D_INT64,
	  .off = TENANT(monthly_budget_micros), .min = 0, .max = INT64_MAX / 4, .def = -1 },
};
static const struct section tenant_sec = SECTION(tenant_dirs, sizeof(struct aif_tenant), NULL);
static const struct section role_sec =
    SECTION(role_dirs, sizeof(struct aif_role), role_finish);

static void
server_finish(struct loader *ld, void *obj, const yaml_node_t *map)
{
	struct aif_config *cfg = obj;

	(void)map;
	if (cfg->server.stream_disconnect == NULL)
		cfg->server.stream_disconnect = xstrdup(ld, "finish");
	cfg->server.stream_disconnect_cancel = cfg->server.stream_disconnect != NULL &&
	    strcmp(cfg->server.stream_disconnect, "cancel") == 0;
}

static const struct directive server_dirs[] = {
	STR("listen", CFG(server.listen), F_REQUIRED),
	INT("threads", CFG(server.threads), 1, 256, 4),
	{ .name = "max_body_bytes", .type = D_SIZE, .off = CFG(server.max_body_bytes),
	  .min = 1024, .max = 67108864, .def = 1048576 },
	INT("sync_timeout_ms", CFG(server.sync_timeout_ms), 100, 3600000, 120000),
	STR("run_dir", CFG(server.run_dir), F_REQUIRED),
	INT("poll_interval_ms", CFG(server.poll_interval_ms), 50, 60000, 1000),
	INT("max_waiting", CFG(server.max_waiting), 1, 1000000, 4096),
	INT("max_messages", CFG(server.max_messages), 1, 100000, 2048),
	INT("max_json_depth", CFG(server.max_json_depth), 2, 512, 64),
	{ .name = "stream_disconnect", .type = D_STR, .off = CFG(server.stream_disconnect),
	  .choices = disconnect_policies },
};
static const struct section server_sec = SECTION(server_dirs, 0, server_finish);

static const struct directive database_dirs[] = {
	STR("socket", CFG(database.socket), 0),
	STR("host", CFG(database.host), 0),
	INT("port", CFG(database.port), 0, 65535, 3306),
	STR("user", CFG(database.user), 0),
	STR("password_file", CFG(database.password_file), 0),
	STR("name", CFG(database.name), F_REQUIRED),
	INT("connect_timeout_ms", CFG(database.connect_timeout_ms), 100, 60000, 2000),
	INT("rw_timeout_ms", CFG(database.rw_timeout_ms), 100, 600000, 10000),
};
static const struct section database_sec =
    SECTION(database_dirs, 0, database_finish);

static const struct directive queue_dirs[] = {
	INT("default_priority", CFG(queue.default_priority), 0, 9, 4),
	INT("max_attempts", CFG(queue.max_attempts), 1, 100, 3),
	INT("lease_seconds", CFG(queue.lease_seconds), 2, 3600, 30),
	INT("claim_batch", CFG(queue.claim_batch), 1, 1000, 16),
	INT("poll_interval_ms", CFG(queue.poll_interval_ms), 50, 60000, 1000),
	STR("idempotency_window", CFG(queue.idempotency_window), 0),
};
static const struct section queue_sec = SECTION(queue_dirs, 0, NULL);

static const struct directive worker_dirs[] = {
	INT("slots", CFG(worker.slots), 1, 4096, 64),
	INT("drain_timeout_ms", CFG(worker.drain_timeout_ms), 0, 3600000, 30000),
	INT("heartbeat_ms", CFG(worker.heartbeat_ms), 100, 60000, 2000),
};
static const struct section worker_sec = SECTION(worker_dirs, 0, NULL);

static const struct directive auth_dirs[] = {
	STR("pepper_file", CFG(auth.pepper_file), 0),
};
static const struct section auth_sec = SECTION(auth_dirs, 0, NULL);

/* ---- pii: PII masking (docs/PII.md) --------------------------------------------------
 * Everything of the `pii:` section: its tables, the names of actions and styles, and
 * the finish hooks that derive enums, check names, regexes and cross-entry rules. */

static const char *const pii_actions[] = {
	"allow", "mask", "redact", "hash", "block", NULL
};
static const char *const pii_styles[] = { "placeholder", "partial", NULL };
static const char *const pii_validations[] = { "none", "luhn", "mod97", NULL };
static const char *const pii_builtins[] = {
#define PII_BUILTIN_NAME(n) #n,
	AIF_PII_BUILTIN_TYPES(PII_BUILTIN_NAME)
#undef PII_BUILTIN_NAME
	NULL
};

/* enum aif_pii_action of a name from pii_actions (already checked), UNSET for NULL. */
static int
pii_action_of(const char *name)
{
	static const int codes[] = { AIF_PII_ALLOW, AIF_PII_MASK, AIF_PII_REDACT,
	    AIF_PII_HASH, AIF_PII_BLOCK };
	size_t	 i;

	for (i = 0; name != NULL && pii_actions[i] != NULL; i++)
		if (strcmp(name, pii_actions[i]) == 0)
			return codes[i];
	return AIF_PII_UNSET;
}

static int
pii_style_of(const char *name)
{
	if (name == NULL)
		return AIF_PII_STYLE_UNSET;
	return strcmp(name, "partial") == 0 ? AIF_PII_STYLE_PARTIAL :
	    AIF_PII_STYLE_PLACEHOLDER;
}

/* The value node of `key` in `map`, else `map`: where a message about it points. */
static const yaml_node_t *
pii_at(const struct loader *ld, const yaml_node_t *map, const char *key)
{
	const yaml_node_t *v = lookup(ld, map, key);

	return v != NULL ? v : map;
}

/* Node of pii.<list>[i].<key> (or of the closest enclosing node) below `pii`. */
static const yaml_node_t *
pii_entry_at(const struct loader *ld, const yaml_node_t *pii, const char *list,
    size_t i, const char *key)
{
	const yaml_node_t *seq = lookup(ld, pii, list), *e;

	if (seq == NULL || seq->type != YAML_SEQUENCE_NODE ||
	    (long)i >= (long)(seq->data.sequence.items.top - seq->data.sequence.items.start))
		return pii;
	e = item(ld, seq, (long)i);
	return key != NULL ? pii_at(ld, e, key) : e;
}

static void
pii_mark(const yaml_node_t *n, int *line, int *column)
{
	*line = (int)n->start_mark.line + 1;
	*column = (int)n->start_mark.column + 1;
}

static void
pii_detector_finish(struct loader *ld, void *obj, const yaml_node_t *map)
{
	struct aif_pii_detector *d = obj;

	d->action = pii_action_of(d->action_name);
	d->mask_style = pii_style_of(d->mask_style_name);
	pii_mark(pii_at(ld, map, "action"), &d->line, &d->column);
}

static void
pii_rule_finish(struct loader *ld, void *obj, const yaml_node_t *map)
{
	struct aif_pii_rule	*r = obj;
	char			 msg[256], show[AIF_CFG_MAX_SHOWN + 4];
	size_t			 off = 0;

	r->action = pii_action_of(r->action_name);
	r->mask_style = pii_style_of(r->mask_style_name);
	r->validation = r->validation_name == NULL ? AIF_PII_VALIDATE_NONE :
	    strcmp(r->validation_name, "luhn") == 0 ? AIF_PII_VALIDATE_LUHN :
	    strcmp(r->validation_name, "mod97") == 0 ? AIF_PII_VALIDATE_MOD97 :
	    AIF_PII_VALIDATE_NONE;
	pii_mark(pii_at(ld, map, "pattern"), &r->line, &r->column);
	if (r->entity != NULL && !aif_pii_type_name_ok(r->entity))
		error_at(ld, pii_at(ld, map, "entity")->start_mark,
		    "%s.entity: '%s' is not a type name ([A-Z][A-Z0-9_]*, at most %d "
		    "characters)", where(ld), shown(show, r->entity, strlen(r->entity)),
		    AIF_PII_TYPE_LEN - 1);
	if (r->pattern != NULL &&
	    aif_pii_rule_check(r->pattern, r->case_insensitive, msg, sizeof(msg),
	    &off) != 0)
		error_at(ld, pii_at(ld, map, "pattern")->start_mark,
		    "%s.pattern: %s (at offset %zu of the pattern)", where(ld), msg, off);
}

static void
pii_override_finish(struct loader *ld, void *obj, const yaml_node_t *map)
{
	struct aif_pii_override *o = obj;

	o->action = pii_action_of(o->action_name);
	o->mask_style = pii_style_of(o->mask_style_name);
	pii_mark(pii_at(ld, map, "action"), &o->line, &o->column);
}

static void
pii_policy_finish(struct loader *ld, void *obj, const yaml_node_t *map)
{
	struct aif_pii_policy *p = obj;

	(void)map;
	star_list(ld, &p->models, &p->nmodels);
	star_list(ld, &p->roles, &p->nroles);
}

/* 1 when `type` is a built-in type or the entity of an enabled-or-not rule. */
static int
pii_type_known(const struct aif_config *cfg, const char *type)
{
	size_t	 i;

	for (i = 0; pii_builtins[i] != NULL; i++)
		if (strcmp(pii_builtins[i], type) == 0)
			return 1;
	for (i = 0; i < cfg->pii.nrules; i++)
		if (cfg->pii.rules[i].entity != NULL &&
		    strcmp(cfg->pii.rules[i].entity, type) == 0)
			return 1;
	return 0;
}

/* Notes the first action `hash` seen (its position is where key errors point). */
static void
pii_note_hash(struct aif_config *cfg, int action, int line, int column)
{
	if (action != AIF_PII_HASH || cfg->pii.uses_hash)
		return;
	cfg->pii.uses_hash = 1;
	if (cfg->pii.hash_key_file == NULL) {
		cfg->pii.hash_line = line;
		cfg->pii.hash_column = column;
	}
}

/* Duplicate entities and rule names; rules of one entity agreeing on the action. */
static void
pii_check_entries(struct loader *ld, const yaml_node_t *map, struct aif_config *cfg)
{
	size_t	 i, j, ntypes = AIF_PII_NBUILTIN;

	for (i = 0; i < cfg->pii.ndetectors; i++)
		for (j = 0; j < i; j++)
			if (cfg->pii.detectors[i].entity != NULL &&
			    cfg->pii.detectors[j].entity != NULL &&
			    strcmp(cfg->pii.detectors[i].entity,
			    cfg->pii.detectors[j].entity) == 0) {
				error_at(ld, pii_entry_at(ld, map, "detectors", i,
				    "entity")->start_mark, "pii.detectors[%zu].entity: "
				    "duplicate entity '%s' (first at line %zu)", i,
				    cfg->pii.detectors[i].entity, pii_entry_at(ld, map,
				    "detectors", j, "entity")->start_mark.line + 1);
				break;
			}
	for (i = 0; i < cfg->pii.nrules; i++) {
		const struct aif_pii_rule *r = &cfg->pii.rules[i];
		int new_type = r->entity != NULL;

		for (j = 0; j < i; j++) {
			const struct aif_pii_rule *q = &cfg->pii.rules[j];

			if (r->name != NULL && q->name != NULL &&
			    strcmp(r->name, q->name) == 0)
				error_at(ld, pii_entry_at(ld, map, "rules", i,
				    "name")->start_mark, "pii.rules[%zu].name: duplicate "
				    "rule name '%s' (first at line %zu)", i, r->name,
				    pii_entry_at(ld, map, "rules", j,
				    "name")->start_mark.line + 1);
			if (r->entity == NULL || q->entity == NULL ||
			    strcmp(r->entity, q->entity) != 0)
				continue;
			new_type = 0;
			if (r->action != AIF_PII_UNSET && q->action != AIF_PII_UNSET &&
			    r->action != q->action)
				error_at(ld, pii_entry_at(ld, map, "rules", i,
				    "action")->start_mark, "pii.rules[%zu].action: rules of "
				    "entity '%s' disagree on the action (see line %zu); "
				    "actions are per entity type", i, r->entity,
				    pii_entry_at(ld, map, "rules", j,
				    "action")->start_mark.line + 1);
		}
		for (j = 0; new_type && pii_builtins[j] != NULL; j++)
			if (strcmp(pii_builtins[j], r->entity) == 0)
				new_type = 0;
		if (new_type && ++ntypes > AIF_PII_MAX_TYPES)
			error_at(ld, pii_entry_at(ld, map, "rules", i, "entity")->start_mark,
			    "pii.rules[%zu].entity: more than %d entity types in all", i,
			    AIF_PII_MAX_TYPES);
	}
}

static void
pii_finish(struct loader *ld, void *obj, const yaml_node_t *map)
{
	struct aif_config	*cfg = obj;
	const yaml_node_t	*root, *auth, *pepper;
	size_t			 i, k;

	if (cfg->pii.enabled == UNSET)
		cfg->pii.enabled = 1;
	cfg->pii.default_action = cfg->pii.default_action_name != NULL ?
	    pii_action_of(cfg->pii.default_action_name) : AIF_PII_MASK;
	cfg->pii.mask_style = cfg->pii.mask_style_name != NULL ?
	    pii_style_of(cfg->pii.mask_style_name) : AIF_PII_STYLE_PLACEHOLDER;
	if (cfg->pii.hash_length % 2 != 0)
		error_at(ld, pii_at(ld, map, "hash_length")->start_mark,
		    "pii.hash_length: must be even (whole bytes of the HMAC)");
	if (cfg->pii.hash_key_file != NULL)
		pii_mark(pii_at(ld, map, "hash_key_file"), &cfg->pii.hash_line,
		    &cfg->pii.hash_column);
	pii_check_entries(ld, map, cfg);
	for (i = 0; i < cfg->pii.npolicies; i++) {
		const struct aif_pii_policy *p = &cfg->pii.policies[i];

		for (k = 0; k < p->nactions; k++) {
			const struct aif_pii_override *o = &p->actions[k];

			pii_note_hash(cfg, o->action, o->line, o->column);
			if (o->entity == NULL || strpbrk(o->entity, "*?[") != NULL ||
			    pii_type_known(cfg, o->entity))
				continue;
			{
				const yaml_node_t *pol = pii_entry_at(ld, map, "policies",
				    i, NULL), *acts = lookup(ld, pol, "actions");
				const yaml_node_t *at = acts != NULL &&
				    acts->type == YAML_SEQUENCE_NODE ?
				    pii_at(ld, item(ld, acts, (long)k), "entity") : pol;

				error_at(ld, at->start_mark, "pii.policies[%zu].actions[%zu]."
				    "entity: '%s' is neither a built-in type nor the entity "
				    "of a rule", i, k, o->entity);
			}
		}
	}
	for (i = 0; i < cfg->pii.ndetectors; i++)
		pii_note_hash(cfg, cfg->pii.detectors[i].action,
		    cfg->pii.detectors[i].line, cfg->pii.detectors[i].column);
	for (i = 0; i < cfg->pii.nrules; i++) {
		const yaml_node_t *at = pii_entry_at(ld, map, "rules", i, "action");
		pii_note_hash(cfg, cfg->pii.rules[i].action, (int)at->start_mark.line + 1,
		    (int)at->start_mark.column + 1);
	}
	if (cfg->pii.default_action == AIF_PII_HASH) {
		const yaml_node_t *at = pii_at(ld, map, "default_action");
		pii_note_hash(cfg, AIF_PII_HASH, (int)at->start_mark.line + 1,
		    (int)at->start_mark.column + 1);
	}
	if (!cfg->pii.uses_hash || cfg->pii.hash_key_file != NULL)
		return;
	/* The pepper may be set anywhere in the file: look at the document itself. */
	root = yaml_document_get_root_node(ld->doc);
	auth = root != NULL ? lookup(ld, root, "auth") : NULL;
	pepper = auth != NULL ? lookup(ld, auth, "pepper_file") : NULL;
	if (pepper == NULL || pepper->type != YAML_SCALAR_NODE ||
	    pepper->data.scalar.length == 0) {
		yaml_mark_t mark = { 0, 0, 0 };

		mark.line = (size_t)cfg->pii.hash_line - 1;
		mark.column = (size_t)cfg->pii.hash_column - 1;
		error_at(ld, mark, "pii: the hash action needs a key: set "
		    "pii.hash_key_file (or auth.pepper_file, from which a key is derived)");
	}
}

#define PII(f)		offsetof(struct aif_config, pii.f)
#define PII_DET(f)	offsetof(struct aif_pii_detector, f)
#define PII_RULE(f)	offsetof(struct aif_pii_rule, f)
#define PII_OVR(f)	offsetof(struct aif_pii_override, f)
#define PII_POL(f)	offsetof(struct aif_pii_policy, f)

static const struct directive pii_detector_dirs[] = {
	{ .name = "entity", .type = D_STR, .off = PII_DET(entity), .flags = F_REQUIRED,
	  .choices = pii_builtins },
	{ .name = "enabled", .type = D_BOOL, .off = PII_DET(enabled), .def = 1 },
	{ .name = "action", .type = D_STR, .off = PII_DET(action_name),
	  .choices = pii_actions },
	{ .name = "mask_style", .type = D_STR, .off = PII_DET(mask_style_name),
	  .choices = pii_styles },
};
static const struct section pii_detector_sec =
    SECTION(pii_detector_dirs, sizeof(struct aif_pii_detector), pii_detector_finish);

static const struct directive pii_rule_dirs[] = {
	STR("name", PII_RULE(name), F_REQUIRED),
	STR("entity", PII_RULE(entity), F_REQUIRED),
	STR("pattern", PII_RULE(pattern), F_REQUIRED),
	{ .name = "enabled", .type = D_BOOL, .off = PII_RULE(enabled), .def = 1 },
	{ .name = "case_insensitive", .type = D_BOOL, .off = PII_RULE(case_insensitive),
	  .def = 0 },
	{ .name = "validation", .type = D_STR, .off = PII_RULE(validation_name),
	  .choices = pii_validations },
	{ .name = "context", .type = D_STRLIST, .off = PII_RULE(context),
	  .count_off = PII_RULE(ncontext), .min = 1, .max = 64 },
	{ .name = "action", .type = D_STR, .off = PII_RULE(action_name),
	  .choices = pii_actions },
	{ .name = "mask_style", .type = D_STR, .off = PII_RULE(mask_style_name),
	  .choices = pii_styles },
};
static const struct section pii_rule_sec =
    SECTION(pii_rule_dirs, sizeof(struct aif_pii_rule), pii_rule_finish);

static const struct directive pii_override_dirs[] = {
	STR("entity", PII_OVR(entity), F_REQUIRED),
	{ .name = "action", .type = D_STR, .off = PII_OVR(action_name),
	  .flags = F_REQUIRED, .choices = pii_actions },
	{ .name = "mask_style", .type = D_STR, .off = PII_OVR(mask_style_name),
	  .choices = pii_styles },
};
static const struct section pii_override_sec =
    SECTION(pii_override_dirs, sizeof(struct aif_pii_override), pii_override_finish);

static const struct directive pii_policy_dirs[] = {
	STR("name", PII_POL(name), 0),
	{ .name = "models", .type = D_STRLIST, .off = PII_POL(models),
	  .count_off = PII_POL(nmodels), .min = 1, .max = AIF_CFG_MAX_PATTERNS },
	{ .name = "roles", .type = D_STRLIST, .off = PII_POL(roles),
	  .count_off = PII_POL(nroles), .min = 1, .max = AIF_CFG_MAX_PATTERNS },
	{ .name = "actions", .type = D_SEQMAP, .off = PII_POL(actions),
	  .count_off = PII_POL(nactions), .min = 1, .max = 256, .flags = F_REQUIRED,
	  .sub = &pii_override_sec },
};
static const struct section pii_policy_sec =
    SECTION(pii_policy_dirs, sizeof(struct aif_pii_policy), pii_policy_finish);

static const struct directive pii_dirs[] = {
	{ .name = "enabled", .type = D_BOOL, .off = PII(enabled), .def = UNSET },
	{ .name = "mask_responses", .type = D_BOOL, .off = PII(mask_responses), .def = 0 },
	{ .name = "default_action", .type = D_STR, .off = PII(default_action_name),
	  .choices = pii_actions },
	{ .name = "mask_style", .type = D_STR, .off = PII(mask_style_name),
	  .choices = pii_styles },
	STR("hash_key_file", PII(hash_key_file), 0),
	INT("hash_length", PII(hash_length), 8, 64, 8),
	{ .name = "detectors", .type = D_SEQMAP, .off = PII(detectors),
	  .count_off = PII(ndetectors), .min = 0, .max = AIF_PII_NBUILTIN,
	  .sub = &pii_detector_sec },
	{ .name = "rules", .type = D_SEQMAP, .off = PII(rules), .count_off = PII(nrules),
	  .min = 0, .max = AIF_PII_MAX_RULES, .sub = &pii_rule_sec },
	{ .name = "policies", .type = D_SEQMAP, .off = PII(policies),
	  .count_off = PII(npolicies), .min = 0, .max = 256, .sub = &pii_policy_sec },
};
static const struct section pii_sec = SECTION(pii_dirs, 0, pii_finish);

_Static_assert(NITEMS(pii_dirs) <= 64 && NITEMS(pii_detector_dirs) <= 64 &&
    NITEMS(pii_rule_dirs) <= 64 && NITEMS(pii_override_dirs) <= 64 &&
    NITEMS(pii_policy_dirs) <= 64, "walk_map tracks seen keys in 64 bits");

static const struct directive root_dirs[] = {
	{ .name = "server", .type = D_MAP, .flags = F_REQUIRED, .sub = &server_sec },
	{ .name = "database", .type = D_MAP, .flags = F_REQUIRED,
	  .sub = &database_sec },
	{ .name = "queue", .type = D_MAP, .sub = &queue_sec },
	{ .name = "worker", .type = D_MAP, .sub = &worker_sec },
	{ .name = "auth", .type = D_MAP, .sub = &auth_sec },
	{ .name = "models", .type = D_SEQMAP, .off = CFG(models),
	  .count_off = CFG(nmodels), .min = 1, .max = AIF_CFG_MAX_MODELS,
	  .flags = F_REQUIRED, .sub = &model_sec },
	{ .name = "roles", .type = D_SEQMAP, .off = CFG(roles),
	  .count_off = CFG(nroles), .min = 1, .max = AIF_CFG_MAX_ROLES,
	  .flags = F_REQUIRED, .sub = &role_sec },
	{ .name = "autoscale", .type = D_MAP, .sub = &autoscale_sec },
	{ .name = "tenants", .type = D_SEQMAP, .off = CFG(tenants),
	  .count_off = CFG(ntenants), .min = 0, .max = 100000, .sub = &tenant_sec },
	{ .name = "pii", .type = D_MAP, .sub = &pii_sec },
};
static const struct section root_sec =
    SECTION(root_dirs, sizeof(struct aif_config), root_finish);

_Static_assert(NITEMS(root_dirs) <= 64 && NITEMS(server_dirs) <= 64 &&
    NITEMS(database_dirs) <= 64 && NITEMS(queue_dirs) <= 64 &&
    NITEMS(worker_dirs) <= 64 && NITEMS(auth_dirs) <= 64 &&
    NITEMS(model_dirs) <= 64 && NITEMS(replica_dirs) <= 64 &&
    NITEMS(pricing_dirs) <= 64 && NITEMS(role_dirs) <= 64,
    "walk_map tracks seen keys in 64 bits");

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
		error_at(ld, mark, "YAML syntax error: %s (%s at line %zu, column %zu)",
		    p->problem != NULL ? p->problem : "unknown problem", p->context,
		    p->context_mark.line + 1, p->context_mark.column + 1);
	else
		error_at(ld, mark, "YAML syntax error: %s",
		    p->problem != NULL ? p->problem : "unknown problem");
}

/* Parses the one YAML document and walks it into cfg; errors land in ld. */
static void
load(struct loader *ld, struct aif_config *cfg)
{
	yaml_parser_t	 parser;
	yaml_document_t	 doc, extra;
	yaml_node_t	*root, *next;
	yaml_mark_t	 start = { 0, 0, 0 };

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
		error_at(ld, start, "the configuration is empty");
		goto out;
	}
	if (!yaml_parser_load(&parser, &extra))
		syntax_error(ld, &parser);
	else {
		if ((next = yaml_document_get_root_node(&extra)) != NULL)
			error_at(ld, next->start_mark,
			    "only one YAML document is allowed");
		yaml_document_delete(&extra);
	}
	walk_map(ld, &root_sec, cfg, root);
out:
	ld->doc = NULL;
	yaml_document_delete(&doc);
	yaml_parser_delete(&parser);
}

/* Parses and validates `yaml` (len bytes, borrowed; need not be NUL-terminated).
 * On AIF_OK *out is new (aif_cfg_free) and errbuf is "". On error *out is NULL and
 * errbuf holds every error, one per line: AIF_CONFIG for bad content, AIF_NOMEM. */
enum aif_err
aif_cfg_load_string(const char *name, const char *yaml, size_t len,
    struct aif_config **out, char *errbuf, size_t errlen)
{
	struct loader		 ld;
	struct aif_config	*cfg = NULL;

	*out = NULL;
	memset(&ld, 0, sizeof(ld));
	ld.name = name != NULL ? name : "<string>";
	ld.input = yaml;
	ld.inlen = len;
	ld.errbuf = errbuf;
	ld.errlen = errlen;
	if (errbuf != NULL && errlen > 0)
		errbuf[0] = '\0';

	if (len > AIF_CFG_MAX_FILE) {
		error_plain(&ld, "larger than %d bytes", AIF_CFG_MAX_FILE);
		return AIF_CONFIG;
	}
	if ((cfg = calloc(1, sizeof(*cfg))) == NULL ||
	    (cfg->path = strdup(ld.name)) == NULL) {
		ld.nomem = 1;
		goto out;
	}
	apply_defaults(&root_sec, cfg);
	load(&ld, cfg);
out:
	if (ld.nomem || ld.nerrors > 0) {
		aif_cfg_free(cfg);
		if (ld.nomem) {
			if (errbuf != NULL && errlen > 0)
				errbuf[0] = '\0';
			ld.errused = 0;
			error_plain(&ld, "out of memory");
			return AIF_NOMEM;
		}
		return AIF_CONFIG;
	}
	*out = cfg;
	return AIF_OK;
}

/* Reads the file at `path` (at most AIF_CFG_MAX_FILE bytes) and loads it as above.
 * Returns AIF_IO, with the reason in errbuf, when the file cannot be read. */
enum aif_err
aif_cfg_load(const char *path, struct aif_config **out, char *errbuf, size_t errlen)
{
	struct loader	 ld;
	FILE		*fp;
	char		*buf = NULL;
	size_t		 len = 0, n;
	enum aif_err	 rc;

	*out = NULL;
	memset(&ld, 0, sizeof(ld));
	ld.name = path;
	ld.errbuf = errbuf;
	ld.errlen = errlen;
	if (errbuf != NULL && errlen > 0)
		errbuf[0] = '\0';

	if ((fp = fopen(path, "r")) == NULL) {
		error_plain(&ld, "cannot open: %s", strerror(errno));
		return AIF_IO;
	}
	/* One byte over the cap tells "too large" from "exactly at the cap". */
	if ((buf = malloc(AIF_CFG_MAX_FILE + 1)) == NULL) {
		fclose(fp);
		error_plain(&ld, "out of memory");
		return AIF_NOMEM;
	}
	while (len <= AIF_CFG_MAX_FILE &&
	    (n = fread(buf + len, 1, AIF_CFG_MAX_FILE + 1 - len, fp)) > 0)
		len += n;
	if (ferror(fp)) {
		error_plain(&ld, "cannot read: %s", strerror(errno));
		rc = AIF_IO;
	} else
		rc = aif_cfg_load_string(path, buf, len, out, errbuf, errlen);
	fclose(fp);
	free(buf);
	return rc;
}

/* ---- lookups -------------------------------------------------------------------------- */

/* Returns the model with id `id`, borrowed from cfg, or NULL. */
const struct aif_model *
aif_cfg_model(const struct aif_config *cfg, const char *id)
{
	size_t	 i;

	if (cfg == NULL || id == NULL)
		return NULL;
	for (i = 0; i < cfg->nmodels; i++)
		if (strcmp(cfg->models[i].id, id) == 0)
			return &cfg->models[i];
	return NULL;
}

size_t
aif_cfg_model_index(const struct aif_config *cfg, const char *id)
{
	const struct aif_model *m = aif_cfg_model(cfg, id);

	return m == NULL ? SIZE_MAX : (size_t)(m - cfg->models);
}

/* Returns the role named `name`, borrowed from cfg, or NULL. */
const struct aif_role *
aif_cfg_role(const struct aif_config *cfg, const char *name)
{
	size_t	 i;

	if (cfg == NULL || name == NULL)
		return NULL;
	for (i = 0; i < cfg->nroles; i++)
		if (strcmp(cfg->roles[i].name, name) == 0)
			return &cfg->roles[i];
	return NULL;
}

static int
any_match(char *const *patterns, size_t n, const char *s)
{
	size_t	 i;

	if (s == NULL)
		return 0;
	for (i = 0; i < n; i++)
		if (fnmatch(patterns[i], s, 0) == 0)
			return 1;
	return 0;
}

/* Returns 1 when a pattern of role->models matches `model_id` (fnmatch(3), no flags:
 * '*' also matches '/'), else 0; a NULL role or id allows nothing. */
int
aif_cfg_role_allows_model(const struct aif_role *role, const char *model_id)
{
	return role != NULL && any_match(role->models, role->nmodels, model_id);
}

/* Same over role->endpoints. */
int
aif_cfg_role_allows_endpoint(const struct aif_role *role, const char *endpoint)
{
	return role != NULL && any_match(role->endpoints, role->nendpoints, endpoint);
}

/* Frees cfg and everything it owns; accepts NULL. */
void
aif_cfg_free(struct aif_config *cfg)
{
	if (cfg == NULL)
		return;
	free_fields(&root_sec, cfg);
	free(cfg->path);
	free(cfg);
}
