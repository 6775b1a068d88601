/* walk.h -- the table-driven YAML walker under config.c (internal to core/config).
 * A section is a table of directives (name, type, offset, range, default, required);
 * walking a mapping by it stores each value at its offset in an object, applies the
 * ${NAME} expansion, and records every problem as "file:line:column: message" while
 * it goes on, so one run reports them all. config.c and pii_schema.c hold the tables
 * and the cross-field checks; this file knows no key of the configuration. Its error
 * collector (struct loader, aif_walk_errors) also serves the checks that run on a
 * loaded configuration: its secret files (cfg_secrets.c) and the PII engine's build
 * (core/pii/pii.c), so every message has the one shape. */
#ifndef AIF_WALK_H
#define AIF_WALK_H

#include <stddef.h>
#include <stdint.h>

#include <yaml.h>

#include "config.h"
#include "util.h"

#define AIF_CFG_MAX_FILE	(1024 * 1024)	/* bytes of YAML accepted */
#define AIF_CFG_MAX_SCALAR	4096	/* bytes of one value after expansion */
#define AIF_CFG_MAX_VARNAME	128	/* bytes of an environment variable name */
#define AIF_CFG_MAX_MSG		512	/* bytes of one error message */
#define AIF_CFG_MAX_PATH	128	/* "models[12].replicas[3].max_in_flight" */
#define AIF_CFG_MAX_SHOWN	48	/* bytes of a user value quoted in a message */
#define AIF_CFG_MAX_PATTERNS	256	/* globs of a list (role models, policy roles) */
#define AIF_CFG_MAX_DEPTH	64	/* nested mappings and sequences, checked before
					   the document is built */

#define UNSET		(-1)	/* default filled in after the walk */
#define AIF_CFG_MAX_DIRS	64	/* directives of a section: aif_walk_map keeps one
					   bit per key seen */

enum dtype {
	D_STR,		/* char *, new; empty means unset */
	D_INT,		/* int in [min, max] (F_DURATION, F_HUNDREDTHS: how written) */
	D_INT64,	/* int64_t in [min, max] (the same) */
	D_SIZE,		/* size_t in [min, max] */
	D_BOOL,		/* int, 0 or 1 */
	D_KINDS,	/* unsigned mask of enum aif_kind, [min, max] entries */
	D_STRLIST,	/* char ** at off, size_t at count_off, [min, max] entries */
	D_MAP,		/* nested mapping whose fields live in the same object */
	D_SEQMAP,	/* sequence of mappings: array at off, size_t at count_off,
			   [min, max] entries of sub->size bytes */
};

#define F_REQUIRED	0x1
#define F_DURATION	0x2	/* D_INT, D_INT64: "250ms", "2s", "5m", "1h", "1d" (a bare
				   number is ms), stored in ms; empty keeps the default */
#define F_HUNDREDTHS	0x4	/* D_INT, D_INT64: "2", "1.5", "0.25" (at most 2
				   decimals), stored x100; empty keeps the default */

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
	const char *const *choices;	/* D_STR, D_STRLIST: allowed values,
					   NULL-terminated */
	const struct section *sub;	/* D_MAP, D_SEQMAP */
	/* A check of the value just stored, reported at the value, or NULL. */
	void		(*check)(struct loader *, void *obj, const yaml_node_t *val);
};

struct section {
	const struct directive *dirs;
	size_t		 ndirs;		/* at most AIF_CFG_MAX_DIRS (SECTION checks) */
	size_t		 size;		/* element size when used by D_SEQMAP */
	/* Cross-field checks and computed defaults once the mapping is walked. */
	void		(*finish)(struct loader *, void *obj, const yaml_node_t *map);
	/* A key the table does not know: returns 1 when it took it, 0 when it is an
	 * unknown key after all. NULL: every unknown key is an error. */
	int		(*extra)(struct loader *, void *obj, const yaml_node_t *map,
			    const yaml_node_t *key, const yaml_node_t *val);
};

/* Directives of the common shapes (the rest are written out). */
#define STR(n, o, fl)		{ .name = (n), .type = D_STR, .off = (o), .flags = (fl) }
#define INT(n, o, lo, hi, d)	{ .name = (n), .type = D_INT, .off = (o), \
				  .min = (lo), .max = (hi), .def = (d) }
#define I64(n, o, lo, hi, d)	{ .name = (n), .type = D_INT64, .off = (o), \
				  .min = (lo), .max = (hi), .def = (d) }
#define BOOL(n, o, d)		{ .name = (n), .type = D_BOOL, .off = (o), .def = (d) }
/* milliseconds in [lo, hi] of an int (D_INT) or int64_t (D_INT64) */
#define DURATION(n, t, o, lo, hi, d) { .name = (n), .type = (t), .off = (o), \
				  .min = (lo), .max = (hi), .def = (d), \
				  .flags = F_DURATION }
/* an int of hundredths in [lo, hi] */
#define HUNDREDTHS(n, o, lo, hi, d) { .name = (n), .type = D_INT, .off = (o), \
				  .min = (lo), .max = (hi), .def = (d), \
				  .flags = F_HUNDREDTHS }
#define STRLIST(n, o, co, lo, hi) { .name = (n), .type = D_STRLIST, .off = (o), \
				  .count_off = (co), .min = (lo), .max = (hi) }
#define SEQMAP(n, o, co, lo, hi, s, fl) { .name = (n), .type = D_SEQMAP, .off = (o), \
				  .count_off = (co), .min = (lo), .max = (hi), \
				  .sub = (s), .flags = (fl) }
#define MAP(n, s, fl)		{ .name = (n), .type = D_MAP, .sub = (s), .flags = (fl) }

#define DURATION_S	1000LL			/* milliseconds */
#define DURATION_M	(60 * DURATION_S)
#define DURATION_H	(60 * DURATION_M)
#define DURATION_D	(24 * DURATION_H)

/* A section of the table `dirs`; a compile error past AIF_CFG_MAX_DIRS directives. */
#define SECTION_EXTRA(dirs, size, finish, extra)				\
	{ (dirs), AIF_NELEM(dirs) + 0 * sizeof(struct {			\
	    _Static_assert(AIF_NELEM(dirs) <= AIF_CFG_MAX_DIRS,		\
		"aif_walk_map keeps one bit per directive"); int x; }),	\
	  (size), (finish), (extra) }
#define SECTION(dirs, size, finish)	SECTION_EXTRA(dirs, size, finish, NULL)
#define CFG(f)	offsetof(struct aif_config, f)

/* The `pii:` section (pii_schema.c). */
extern const struct section aif_cfg_pii_section;
/* One entry of `guardrails:`, and the checks across them (guard_schema.c). */
extern const struct section aif_cfg_guardrail_section;
void	aif_cfg_guardrails_finish(struct loader *ld, const yaml_node_t *root,
	    const struct aif_config *cfg);

/* One load: the input, where the walk is, and the errors so far. */
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
	char path[AIF_CFG_MAX_PATH]; /* where the walk is, for messages */
	size_t		 pathlen;
	const struct aif_cfg_adapters *adapters; /* the adapters' checks, or NULL */
};

/* Parses the one YAML document of ld->input and walks it into obj by `sec`; errors
 * (syntax, an empty file, a second document, everything the walk finds) land in ld. */
void aif_walk_document(struct loader *ld, const struct section *sec, void *obj);

/* Walks mapping `map` into `obj` by the table of `sec`: unknown, duplicate and
 * missing keys are errors; then the section's finish hook runs. */
void		 aif_walk_map(struct loader *ld, const struct section *sec, void *obj,
		    const yaml_node_t *map);

/* Sets every directive of `sec` in `obj` to its default, nested mappings too. */
void		 aif_walk_defaults(const struct section *sec, void *obj);

/* Frees what the directives of `sec` own in `obj`, nested ones too; not obj. */
void		 aif_walk_free(const struct section *sec, void *obj);

/* Starts collecting errors of file `name` (borrowed) into errbuf (errlen bytes, may be
 * NULL; emptied) with no document: for checks that run after a load (cfg_secrets.c,
 * the PII engine). ld->nerrors counts them. */
void		 aif_walk_errors(struct loader *ld, const char *name, char *errbuf,
		    size_t errlen);

/* Records an error at `mark` (1-based in the message) or for the whole file. */
void		 aif_walk_error_at(struct loader *ld, yaml_mark_t mark, const char *fmt,
		    ...) __attribute__((format(printf, 3, 4)));
void		 aif_walk_error_plain(struct loader *ld, const char *fmt, ...)
		    __attribute__((format(printf, 2, 3)));

/* The same at a 1-based line and column, kept from a load (line 0: the whole file). */
void		 aif_walk_error_line(struct loader *ld, int line, int column,
		    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Joins a NULL-terminated list with ", " into buf (size bytes; cut after the last
 * whole item that fits) for a message. Returns buf. */
const char	*aif_walk_joined(char *buf, size_t size, const char *const *list);

/* Copies at most AIF_CFG_MAX_SHOWN bytes of a user value into buf for a message,
 * control bytes as '?', "..." when cut. Returns buf. */
const char *aif_walk_shown(char buf[AIF_CFG_MAX_SHOWN + 4], const char *s, size_t len);

/* The same for the value of scalar `node`: its text as written when it holds a ${NAME}
 * reference (an expansion may be a secret and is never shown), else `value`. Messages
 * quote values through these two; an error reported at a scalar written with ${NAME}
 * has any quoted expansion replaced by the text as written in any case. Returns buf. */
const char *aif_walk_shown_node(char buf[AIF_CFG_MAX_SHOWN + 4], const yaml_node_t *node,
		    const char *value);

/* The current path ("server.threads", "models[1].id"), or "top level" (borrowed). */
const char	*aif_walk_where(const struct loader *ld);

/* Appends ".name" (or "name" at the top) to the path; returns the length to give
 * aif_walk_path_pop to restore it. */
size_t		 aif_walk_path_key(struct loader *ld, const char *name);
void		 aif_walk_path_pop(struct loader *ld, size_t old);

/* strdup that records an allocation failure in ld (new, or NULL). */
char		*aif_walk_strdup(struct loader *ld, const char *s);

/* An unset list of globs becomes ["*"] (new); allocation failures go to ld. */
void		 aif_walk_star_list(struct loader *ld, char ***list, size_t *n);

/* When url (may be NULL) is not http:// or https://, reports "<what>: expected http://
 * or https://" at key of map (at map when key is absent). */
void		 aif_walk_http_url(struct loader *ld, const yaml_node_t *map,
		    const char *key, const char *url, const char *what);

/* "a mapping", "a sequence", "a scalar" for messages (static). */
const char	*aif_walk_node_kind(const yaml_node_t *node);

/* Expands scalar `node` into out after checking it is a scalar at all; `want` names
 * the expected thing for the message ("an integer"). Returns 0, or -1 after an error. */
int		 aif_walk_scalar(struct loader *ld, const yaml_node_t *node,
		    const char *want, char out[AIF_CFG_MAX_SCALAR + 1]);

/* Checks that `node` is a sequence with [d->min, d->max] items.
 * Returns the item count, or -1 after an error. */
long		 aif_walk_sequence(struct loader *ld, const struct directive *d,
		    const yaml_node_t *node);

/* The i-th item of sequence `seq`, or NULL (borrowed from the document). */
yaml_node_t	*aif_walk_item(const struct loader *ld, const yaml_node_t *seq, long i);

/* The value node of `key` in mapping `map` (NULL map: none), or NULL (borrowed). */
const yaml_node_t *aif_walk_lookup(const struct loader *ld, const yaml_node_t *map,
		    const char *key);

/* A retry policy's durations and factors (Temporal's fields) at offset `at` of the
 * object, with the defaults of its use. */
#define RETRY_DIRS(at, initial, maximum)					\
	DURATION("initial_interval", D_INT, (at) +				\
	    offsetof(struct aif_retry_policy, initial_interval_ms), 0, DURATION_H,	\
	    (initial)),								\
	HUNDREDTHS("backoff_coefficient", (at) +				\
	    offsetof(struct aif_retry_policy, backoff_coefficient_pct), 100, 1000,	\
	    200),								\
	DURATION("maximum_interval", D_INT, (at) +				\
	    offsetof(struct aif_retry_policy, maximum_interval_ms), 0, DURATION_D,	\
	    (maximum)),								\
	HUNDREDTHS("jitter", (at) + offsetof(struct aif_retry_policy, jitter_pct),	\
	    0, 100, 10)

#endif /* AIF_WALK_H */
