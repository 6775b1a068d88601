/* workflow.c -- the `workflows:` section (workflow.h): each workflow is walked by hand
 * over libyaml's nodes (a step's keys depend on its kind), checked key by key with
 * errors at "file:line:column" like the rest of the configuration, then as a graph
 * (names resolved, parallel members, cycles, reachability, dominators for the
 * templates' `steps.X` references) and turned into its canonical JSON definition, the
 * compact sorted text of it and the SHA-256 of that text. Positions stay out of the
 * definition: moving comments or whitespace does not change the hash. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>

#include "text.h"
#include "wfexpr.h"
#include "workflow.h"

#define MAX_EDGES	(AIF_WF_MAX_CASES + 4)	/* per step: cases, default, next, ... */

enum skind { K_MODEL, K_HTTP, K_TRANSFORM, K_BRANCH, K_PARALLEL, K_WAIT, K_FINAL,
	K_NONE };
static const char *const kind_names[] = { "model", "http", "transform", "branch",
	"parallel", "wait", "final", NULL };

enum etype { E_NEXT, E_CASE, E_DEFAULT, E_BRANCH, E_TIMEOUT, E_MEMBER };

/* An edge of the step graph, by name until resolved. */
struct wedge {
	int		 from, to;	/* step indexes; to -1 until resolved */
	enum etype	 type;
	char		*name;		/* the target as written, new */
	char		*where;		/* path of the value, new */
	const yaml_node_t *at;		/* the value */
};

/* A reference to steps.X (a template, a condition path, a final's from). */
struct wref {
	int		 step;		/* the step it is in */
	int		 own;		/* its own output is visible (compensation) */
	int		 from;		/* a final's from, not a template */
	char		*target;	/* X, new */
	char		*where;		/* new */
	yaml_mark_t	 mark;
};

struct wstep {
	char		 name[65];	/* "" when missing or invalid */
	const yaml_node_t *map, *name_node, *next_node;
	enum skind	 kind;
	json_t		*obj;		/* the step's definition (borrowed from def) */
	int		 has_next;
	int		 parent;	/* the parallel step it is a member of, or -1 */
	int		 wait_all;	/* parallel */
	int		 dup;		/* its name is another step's */
	uint64_t	 members;	/* parallel */
};

/* One workflow being walked. */
struct wf {
	struct loader	*ld;
	const struct aif_config *cfg;
	char		 prefix[32];	/* "workflows[3]" */
	struct wstep	 steps[AIF_WF_MAX_STEPS];
	int		 n;
	struct wedge	*edges;
	size_t		 nedges, capedges;
	struct wref	*refs;
	size_t		 nrefs, caprefs;
	int		 cur;		/* the step being walked */
	int		 own;		/* walking its compensation */
	const yaml_node_t *node;	/* the scalar being checked, for refs */
	uint64_t	 dom[AIF_WF_MAX_STEPS];
	uint64_t	 reach;
	int		 cyclic;
	int		 depth;		/* of tmpl_json, condition (aliases recurse) */
};

/* ---- small helpers --------------------------------------------------------------- */

static void	err(struct wf *, const yaml_node_t *, const char *, ...)
		    __attribute__((format(printf, 3, 4)));

/* An error at node: the walk's path, ": ", the message. */
static void
err(struct wf *w, const yaml_node_t *node, const char *fmt, ...)
{
	char	 msg[AIF_CFG_MAX_MSG];
	va_list	 ap;

	va_start(ap, fmt);
	if (vsnprintf(msg, sizeof(msg), fmt, ap) < 0)
		msg[0] = '\0';
	va_end(ap);
	aif_walk_error_at(w->ld, node->start_mark, "%s: %s", aif_walk_where(w->ld), msg);
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

static long
seq_len(const yaml_node_t *seq)
{
	return (long)(seq->data.sequence.items.top - seq->data.sequence.items.start);
}

static int
in_list(const char *s, const char *const *list)
{
	for (int i = 0; list[i] != NULL; i++)
		if (strcmp(list[i], s) == 0)
			return i;
	return -1;
}

static void
nomem_if(struct wf *w, int failed)
{
	if (failed)
		w->ld->nomem = 1;
}

static void
set(struct wf *w, json_t *obj, const char *key, json_t *v)
{
	nomem_if(w, v == NULL || json_object_set_new(obj, key, v) != 0);
}

/* Checks that map is a mapping whose keys are all in `allowed`, once each. Returns 0,
 * or -1 when it is not a mapping. */
static int
check_keys(struct wf *w, const yaml_node_t *map, const char *const *allowed)
{
	const yaml_node_pair_t	*p, *q;
	const yaml_node_t	*k, *k2;
	const char		*ks;
	char			 show[AIF_CFG_MAX_SHOWN + 4];

	if (map->type != YAML_MAPPING_NODE) {
		err(w, map, "expected a mapping, got %s", aif_walk_node_kind(map));
		return -1;
	}
	for (p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
		k = yaml_document_get_node(w->ld->doc, p->key);
		if (k->type != YAML_SCALAR_NODE) {
			err(w, k, "key must be a scalar, got %s", aif_walk_node_kind(k));
			continue;
		}
		ks = (const char *)k->data.scalar.value;
		if (in_list(ks, allowed) < 0) {
			err(w, k, "unknown key '%s'",
			    aif_walk_shown(show, ks, k->data.scalar.length));
			continue;
		}
		for (q = map->data.mapping.pairs.start; q < p; q++) {
			k2 = yaml_document_get_node(w->ld->doc, q->key);
			if (k2->type == YAML_SCALAR_NODE &&
			    strcmp((const char *)k2->data.scalar.value, ks) == 0) {
				err(w, k, "duplicate key '%s'", ks);
				break;
			}
		}
	}
	return 0;
}

static void
missing(struct wf *w, const yaml_node_t *map, const char *key)
{
	err(w, map, "missing required key '%s'", key);
}

/* The expanded text of scalar `node` into out. Returns 0, or -1 after an error. */
static int
text(struct wf *w, const yaml_node_t *node, char out[AIF_CFG_MAX_SCALAR + 1])
{
	return aif_walk_scalar(w->ld, node, "a string", out);
}

/* Integer value of scalar `node` in [min, max]. Returns 0, or -1 after an error. */
static int
integer(struct wf *w, const yaml_node_t *node, int64_t min, int64_t max, int64_t *out)
{
	char	 buf[AIF_CFG_MAX_SCALAR + 1], show[AIF_CFG_MAX_SHOWN + 4], *end;
	long long v;

	if (aif_walk_scalar(w->ld, node, "an integer", buf) != 0)
		return -1;
	errno = 0;
	v = strtoll(buf, &end, 10);
	if (buf[0] == '\0' || *end != '\0' || errno != 0 || (buf[0] == '0' && buf[1])) {
		err(w, node, "expected a decimal integer, got '%s'",
		    aif_walk_shown_node(show, node, buf));
		return -1;
	}
	if (v < min || v > max) {
		err(w, node, "%lld is out of range %lld..%lld", v, (long long)min,
		    (long long)max);
		return -1;
	}
	*out = v;
	return 0;
}

/* A duration of scalar `node` in [min_ms, max_ms]. Returns 0, or -1 after an error. */
static int
duration(struct wf *w, const yaml_node_t *node, int64_t min_ms, int64_t max_ms,
    const char *range, int64_t *out)
{
	char	 buf[AIF_CFG_MAX_SCALAR + 1];

	if (aif_walk_scalar(w->ld, node, "a duration", buf) != 0)
		return -1;
	if (aif_cfg_duration_ms(buf, max_ms, out) != 0 || *out < min_ms) {
		err(w, node, "expected a duration from %s, such as 5s or 10m", range);
		return -1;
	}
	return 0;
}

/* A scalar as a JSON value: plain true/false/null/numbers typed, the rest strings. */
static json_t *
scalar_json(const yaml_node_t *node, const char *v)
{
	char	*end;

	if (node->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
	    memchr(node->data.scalar.value, '$', node->data.scalar.length) == NULL) {
		if (strcmp(v, "true") == 0)
			return json_true();
		if (strcmp(v, "false") == 0)
			return json_false();
		if (strcmp(v, "null") == 0 || strcmp(v, "~") == 0 || v[0] == '\0')
			return json_null();
		if (((v[0] >= '0' && v[0] <= '9') || (v[0] == '-' && v[1] >= '0' &&
		    v[1] <= '9')) && strpbrk(v, "xXpP") == NULL) {	/* no hex */
			long long i;
			double d;
			errno = 0;
			i = strtoll(v, &end, 10);
			if (*end == '\0' && errno == 0)
				return json_integer(i);
			errno = 0;
			d = strtod(v, &end);
			if (*end == '\0' && errno == 0)
				return json_real(d);
		}
	}
	return json_string(v);
}

static int
step_index(const struct wf *w, const char *name)
{
	for (int i = 0; i < w->n; i++)
		if (w->steps[i].name[0] != '\0' && strcmp(w->steps[i].name, name) == 0)
			return i;
	return -1;
}

/* ---- references and edges ---------------------------------------------------------- */

static void
add_ref(struct wf *w, const char *target, int from, yaml_mark_t mark)
{
	struct wref	*r;

	if (w->nrefs == w->caprefs) {
		size_t ncap = w->caprefs ? w->caprefs * 2 : 16;
		struct wref *n = realloc(w->refs, ncap * sizeof(*n));
		if (n == NULL) {
			w->ld->nomem = 1;
			return;
		}
		w->refs = n;
		w->caprefs = ncap;
	}
	r = &w->refs[w->nrefs];
	r->step = w->cur;
	r->own = w->own;
	r->from = from;
	r->mark = mark;
	r->target = strdup(target);
	r->where = strdup(aif_walk_where(w->ld));
	if (r->target == NULL || r->where == NULL) {
		free(r->target);
		free(r->where);
		w->ld->nomem = 1;
		return;
	}
	w->nrefs++;
}

/* aif_wfx_template_refs callback: records steps.X. */
static void
on_ref(void *ctx, const char *path)
{
	struct wf	*w = ctx;
	char		 name[AIF_WFX_MAX_PATH + 1];
	size_t		 n;

	if (strncmp(path, "steps.", 6) != 0)
		return;
	n = strcspn(path + 6, ".[");
	memcpy(name, path + 6, n);
	name[n] = '\0';
	add_ref(w, name, 0, w->node->start_mark);
}

static void
add_edge(struct wf *w, int from, enum etype type, const char *name, const yaml_node_t *at)
{
	if (w->nedges >= (size_t)AIF_WF_MAX_STEPS * MAX_EDGES)
		return;		/* bounded by the limits; never reached */
	struct wedge	*e;

	if (w->nedges == w->capedges) {
		size_t ncap = w->capedges ? w->capedges * 2 : 32;
		struct wedge *n = realloc(w->edges, ncap * sizeof(*n));
		if (n == NULL) {
			w->ld->nomem = 1;
			return;
		}
		w->edges = n;
		w->capedges = ncap;
	}
	e = &w->edges[w->nedges];
	e->from = from;
	e->to = -1;
	e->type = type;
	e->at = at;
	e->name = strdup(name);
	e->where = strdup(aif_walk_where(w->ld));
	if (e->name == NULL || e->where == NULL) {
		free(e->name);
		free(e->where);
		w->ld->nomem = 1;
		return;
	}
	w->nedges++;
}

/* A step name value (next, default, ...): an edge of type `type`. Returns the name
 * as a JSON string, or NULL after an error. */
static json_t *
edge_value(struct wf *w, const yaml_node_t *node, enum etype type)
{
	char	 buf[AIF_CFG_MAX_SCALAR + 1];

	if (text(w, node, buf) != 0)
		return NULL;
	add_edge(w, w->cur, type, buf, node);
	return json_string(buf);
}

/* ---- templates ------------------------------------------------------------------- */

/* Checks template text s at `node` and records its steps.X references. */
static int
check_template(struct wf *w, const yaml_node_t *node, const char *s)
{
	char	 why[256];

	w->node = node;
	if (aif_wfx_template_refs(s, on_ref, w, why, sizeof(why)) != 0) {
		err(w, node, "%s", why);
		return -1;
	}
	return 0;
}

/* A text template: a scalar, checked. New JSON string, or NULL after an error. */
static json_t *
tmpl_text(struct wf *w, const yaml_node_t *node)
{
	char	 buf[AIF_CFG_MAX_SCALAR + 1];

	if (text(w, node, buf) != 0 || check_template(w, node, buf) != 0)
		return NULL;
	return json_string(buf);
}

/* A JSON template: any YAML value, every string a checked template. New value, or
 * NULL after an error. */
static json_t *tmpl_json_at(struct wf *w, const yaml_node_t *node);

/* Bounds the nesting of a JSON template or a condition (a YAML alias may even name
 * its own ancestor). Returns 0, or -1 after an error. */
static int
enter(struct wf *w, const yaml_node_t *node)
{
	if (w->depth >= AIF_WFX_MAX_DEPTH) {
		err(w, node, "nested deeper than %d levels", AIF_WFX_MAX_DEPTH);
		return -1;
	}
	w->depth++;
	return 0;
}

static json_t *
tmpl_json(struct wf *w, const yaml_node_t *node)
{
	json_t	*out;

	if (enter(w, node) != 0)
		return NULL;
	out = tmpl_json_at(w, node);
	w->depth--;
	return out;
}

static json_t *
tmpl_json_at(struct wf *w, const yaml_node_t *node)
{
	char		 buf[AIF_CFG_MAX_SCALAR + 1];
	json_t		*out, *v;
	size_t		 old;
	int		 bad = 0;
	const char	*ks;

	switch (node->type) {
	case YAML_SCALAR_NODE:
		if (text(w, node, buf) != 0)
			return NULL;
		if ((out = scalar_json(node, buf)) == NULL)
			w->ld->nomem = 1;
		else if (json_is_string(out) && check_template(w, node, buf) != 0) {
			json_decref(out);
			return NULL;
		}
		return out;
	case YAML_SEQUENCE_NODE:
		if ((out = json_array()) == NULL)
			break;
		for (long i = 0; i < seq_len(node); i++) {
			old = path_index(w->ld, (size_t)i);
			v = tmpl_json(w, aif_walk_item(w->ld, node, i));
			aif_walk_path_pop(w->ld, old);
			if (v == NULL)
				bad = 1;
			else
				nomem_if(w, json_array_append_new(out, v) != 0);
		}
		if (!bad)
			return out;
		json_decref(out);
		return NULL;
	case YAML_MAPPING_NODE:
		if ((out = json_object()) == NULL)
			break;
		for (const yaml_node_pair_t *p = node->data.mapping.pairs.start;
		    p < node->data.mapping.pairs.top; p++) {
			const yaml_node_t *k = yaml_document_get_node(w->ld->doc, p->key);
			if (k->type != YAML_SCALAR_NODE) {
				err(w, k, "key must be a scalar, got %s",
				    aif_walk_node_kind(k));
				bad = 1;
				continue;
			}
			ks = (const char *)k->data.scalar.value;
			old = aif_walk_path_key(w->ld, ks);
			v = tmpl_json(w, yaml_document_get_node(w->ld->doc, p->value));
			aif_walk_path_pop(w->ld, old);
			if (v == NULL)
				bad = 1;
			else
				set(w, out, ks, v);
		}
		if (!bad)
			return out;
		json_decref(out);
		return NULL;
	default:
		return json_null();
	}
	w->ld->nomem = 1;
	return NULL;
}

/* Runs f on the value of `key` in map with the path extended by key; stores what it
 * returns under `as` in obj. Returns 1 when the key is present. */
static int
field(struct wf *w, const yaml_node_t *map, const char *key, json_t *obj, const char *as,
    json_t *(*f)(struct wf *, const yaml_node_t *))
{
	const yaml_node_t	*v = aif_walk_lookup(w->ld, map, key);
	size_t			 old;
	json_t			*j;

	if (v == NULL)
		return 0;
	old = aif_walk_path_key(w->ld, key);
	if ((j = f(w, v)) != NULL)
		set(w, obj, as, j);
	aif_walk_path_pop(w->ld, old);
	return 1;
}

/* ---- retry, timeouts ------------------------------------------------------------ */

#define RP(f)	offsetof(struct aif_retry_policy, f)
static const struct directive retry_dirs[] = {
	RETRY_DIRS(0, 500, 10 * DURATION_S),
	INT("maximum_attempts", RP(maximum_attempts), 1, 100, UNSET),
};
static const struct section retry_sec = SECTION(retry_dirs, 0, NULL);
static const struct directive comp_retry_dirs[] = {
	RETRY_DIRS(0, 500, 10 * DURATION_S),
	INT("maximum_attempts", RP(maximum_attempts), 0, 10000, UNSET),
};
static const struct section comp_retry_sec = SECTION(comp_retry_dirs, 0, NULL);

/* The `retry` of map (walked by the same directives as models[].retry) as
 * the definition's retry object, with def_attempts when maximum_attempts is absent. */
static json_t *
retry(struct wf *w, const yaml_node_t *map, int comp, int def_attempts)
{
	const yaml_node_t	*r = aif_walk_lookup(w->ld, map, "retry");
	const struct section	*sec = comp ? &comp_retry_sec : &retry_sec;
	struct aif_retry_policy	 rp;
	size_t			 old;
	json_t			*out;

	memset(&rp, 0, sizeof(rp));
	aif_walk_defaults(sec, &rp);
	old = aif_walk_path_key(w->ld, "retry");
	if (r != NULL)
		aif_walk_map(w->ld, sec, &rp, r);
	aif_walk_path_pop(w->ld, old);
	if (rp.maximum_attempts == UNSET)
		rp.maximum_attempts = def_attempts;
	out = json_pack("{s:i,s:i,s:i,s:i,s:i}", "initial_ms", rp.initial_interval_ms,
	    "coefficient_pct", rp.backoff_coefficient_pct, "max_ms",
	    rp.maximum_interval_ms, "max_attempts", rp.maximum_attempts, "jitter_pct",
	    rp.jitter_pct);
	aif_walk_free(sec, &rp);
	nomem_if(w, out == NULL);
	return out;
}

/* `timeout` of map in [1ms, 1h], default def_ms, as "timeout_ms". */
static void
step_timeout(struct wf *w, const yaml_node_t *map, json_t *obj, int64_t def_ms)
{
	const yaml_node_t	*v = aif_walk_lookup(w->ld, map, "timeout");
	int64_t			 ms = def_ms;
	size_t			 old;

	if (v != NULL) {
		old = aif_walk_path_key(w->ld, "timeout");
		(void)duration(w, v, 1, 3600000, "1ms to 1h", &ms);
		aif_walk_path_pop(w->ld, old);
	}
	set(w, obj, "timeout_ms", json_integer(ms));
}

/* A literal string (no template, no check beyond being a non-empty scalar). */
static json_t *
tmpl_text_literal(struct wf *w, const yaml_node_t *node)
{
	char	 buf[AIF_CFG_MAX_SCALAR + 1];

	if (text(w, node, buf) != 0)
		return NULL;
	return json_string(buf);
}

/* ---- http ------------------------------------------------------------------------ */

static int
token_ok(const char *h)
{
	size_t	 n = strlen(h);

	if (n == 0 || n > 64)
		return 0;
	for (; *h != '\0'; h++)
		if (!((*h >= 'a' && *h <= 'z') || (*h >= 'A' && *h <= 'Z') ||
		    (*h >= '0' && *h <= '9') || strchr("!#$%&'*+-.^_`|~", *h) != NULL))
			return 0;
	return 1;
}

/* http:// or https://, a host, an optional port, an optional path prefix; no
 * userinfo, query, fragment, template or space. Returns NULL, or what is wrong. */
static const char *
base_url_problem(const char *u)
{
	const char	*h, *p;
	long		 port;
	char		*end;

	if (strncmp(u, "http://", 7) == 0)
		h = u + 7;
	else if (strncmp(u, "https://", 8) == 0)
		h = u + 8;
	else
		return "must start with http:// or https://";
	if (strpbrk(u, "@?#{} \t\\\"<>") != NULL)
		return "must be a literal URL without userinfo, query, fragment or "
		    "template";
	p = h + strcspn(h, ":/");
	if (p == h)
		return "has no host";
	if (*p == ':') {
		errno = 0;
		port = strtol(p + 1, &end, 10);
		if (end == p + 1 || errno != 0 || port < 1 || port > 65535 ||
		    (*end != '\0' && *end != '/'))
			return "has a bad port";
	}
	return NULL;
}

static json_t *
base_url(struct wf *w, const yaml_node_t *node)
{
	char		 buf[AIF_CFG_MAX_SCALAR + 1];
	const char	*why;
	size_t		 n;

	if (text(w, node, buf) != 0)
		return NULL;
	if ((why = base_url_problem(buf)) != NULL) {
		err(w, node, "%s", why);
		return NULL;
	}
	for (n = strlen(buf); n > 0 && buf[n - 1] == '/'; n--)
		buf[n - 1] = '\0';
	return json_string(buf);
}

static const char *const http_methods[] = { "GET", "POST", "PUT", "PATCH", "DELETE",
	NULL };

static json_t *
method(struct wf *w, const yaml_node_t *node)
{
	char	 buf[AIF_CFG_MAX_SCALAR + 1], show[AIF_CFG_MAX_SHOWN + 4];

	if (text(w, node, buf) != 0)
		return NULL;
	if (in_list(buf, http_methods) < 0) {
		err(w, node, "'%s' is not one of: GET, POST, PUT, PATCH, DELETE",
		    aif_walk_shown_node(show, node, buf));
		return NULL;
	}
	return json_string(buf);
}

static json_t *
url_path(struct wf *w, const yaml_node_t *node)
{
	char	 buf[AIF_CFG_MAX_SCALAR + 1];

	if (text(w, node, buf) != 0)
		return NULL;
	if (buf[0] != '/' || strpbrk(buf, "#") != NULL) {
		err(w, node, "must start with '/' (and hold no '#')");
		return NULL;
	}
	if (check_template(w, node, buf) != 0)
		return NULL;
	return json_string(buf);
}

static const char *const secret_keys[] = { "file", "prefix", NULL };

/* One header value: a template, or {file, prefix} (a secret read at call time). */
static json_t *
header_value(struct wf *w, const yaml_node_t *node)
{
	json_t	*out, *v;

	if (node->type != YAML_MAPPING_NODE) {
		if ((v = tmpl_text(w, node)) == NULL)
			return NULL;
		out = json_object();
		set(w, out, "value", v);
		return out;
	}
	if (check_keys(w, node, secret_keys) != 0 || (out = json_object()) == NULL)
		return NULL;
	if (!field(w, node, "file", out, "file", tmpl_text_literal))
		missing(w, node, "file");
	if (!field(w, node, "prefix", out, "prefix", tmpl_text_literal))
		set(w, out, "prefix", json_string(""));
	return out;
}

/* 1 when obj has key k, case-insensitively (header names). */
static int
header_seen(json_t *obj, const char *k)
{
	const char	*ek;
	json_t		*ev;

	json_object_foreach(obj, ek, ev)
		if (strcasecmp(ek, k) == 0)
			return 1;
	return 0;
}

static json_t *
headers(struct wf *w, const yaml_node_t *node)
{
	char		 show[AIF_CFG_MAX_SHOWN + 4];
	const char	*k;
	json_t		*out, *v;
	size_t		 old;

	if (node->type != YAML_MAPPING_NODE) {
		err(w, node, "expected a mapping, got %s", aif_walk_node_kind(node));
		return NULL;
	}
	if ((out = json_object()) == NULL) {
		w->ld->nomem = 1;
		return NULL;
	}
	for (const yaml_node_pair_t *p = node->data.mapping.pairs.start;
	    p < node->data.mapping.pairs.top; p++) {
		const yaml_node_t *key = yaml_document_get_node(w->ld->doc, p->key);
		if (key->type != YAML_SCALAR_NODE) {
			err(w, key, "key must be a scalar, got %s",
			    aif_walk_node_kind(key));
			continue;
		}
		k = (const char *)key->data.scalar.value;
		if (!token_ok(k)) {
			err(w, key, "'%s' is not an HTTP header name (letters, digits "
			    "and !#$%%&'*+-.^_`|~, at most 64)",
			    aif_walk_shown(show, k, key->data.scalar.length));
			continue;
		}
		if (strcasecmp(k, "Idempotency-Key") == 0 || strcasecmp(k, "X-AIF-Job") == 0 ||
		    strcasecmp(k, "Host") == 0 || strcasecmp(k, "Content-Length") == 0 ||
		    strcasecmp(k, "Transfer-Encoding") == 0) {
			err(w, key, "header '%s' is set by the gateway itself", k);
			continue;
		}
		if (header_seen(out, k)) {
			err(w, key, "duplicate header '%s'", k);
			continue;
		}
		old = aif_walk_path_key(w->ld, k);
		v = header_value(w, yaml_document_get_node(w->ld->doc, p->value));
		aif_walk_path_pop(w->ld, old);
		if (v != NULL)
			set(w, out, k, v);
	}
	return out;
}

/* The keys of an http step, a compensation. */
static const char *const http_keys[] = { "name", "kind", "next", "timeout", "retry",
	"compensation", "method", "base_url", "path", "headers", "body", "response_max",
	NULL };
static const char *const comp_keys[] = { "method", "base_url", "path", "headers",
	"body", "timeout", "retry", NULL };

static json_t *response_max(struct wf *w, const yaml_node_t *node);

/* The http fields of map into obj (a step or a compensation). */
static void
http_fields(struct wf *w, const yaml_node_t *map, json_t *obj, int comp)
{
	const char	*m;

	if (!field(w, map, "base_url", obj, "base_url", base_url))
		missing(w, map, "base_url");
	if (!field(w, map, "method", obj, "method", method))
		set(w, obj, "method", json_string("POST"));
	if (!field(w, map, "path", obj, "path", url_path))
		set(w, obj, "path", json_string("/"));
	if (!field(w, map, "headers", obj, "headers", headers))
		set(w, obj, "headers", json_object());
	if (!field(w, map, "body", obj, "body", tmpl_json)) {
		m = json_string_value(json_object_get(obj, "method"));
		if (m != NULL && strcmp(m, "GET") != 0 && strcmp(m, "DELETE") != 0)
			set(w, obj, "body", json_object());
	}
	if (!comp && !field(w, map, "response_max", obj, "response_max", response_max))
		set(w, obj, "response_max", json_integer(1048576));
	step_timeout(w, map, obj, 60000);
	set(w, obj, "retry", retry(w, map, comp, comp ? 0 : 3));
}

static json_t *
response_max(struct wf *w, const yaml_node_t *node)
{
	int64_t	 v;

	return integer(w, node, 1, 16777216, &v) == 0 ? json_integer(v) : NULL;
}

static json_t *
compensation(struct wf *w, const yaml_node_t *node)
{
	json_t	*obj;

	if (check_keys(w, node, comp_keys) != 0)
		return NULL;
	if ((obj = json_object()) == NULL) {
		w->ld->nomem = 1;
		return NULL;
	}
	w->own = 1;
	http_fields(w, node, obj, 1);
	w->own = 0;
	return obj;
}

/* ---- model ----------------------------------------------------------------------- */

static const char *const model_keys[] = { "name", "kind", "next", "timeout", "retry",
	"compensation", "model", "messages", "prompt", "max_tokens", "params", NULL };
static const char *const message_keys[] = { "role", "content", NULL };
static const char *const roles[] = { "system", "user", "assistant", NULL };

static json_t *
message(struct wf *w, const yaml_node_t *node)
{
	char	 buf[AIF_CFG_MAX_SCALAR + 1], show[AIF_CFG_MAX_SHOWN + 4];
	const yaml_node_t *role;
	json_t	*out;
	size_t	 old;

	if (check_keys(w, node, message_keys) != 0 || (out = json_object()) == NULL)
		return NULL;
	if ((role = aif_walk_lookup(w->ld, node, "role")) == NULL)
		missing(w, node, "role");
	else {
		old = aif_walk_path_key(w->ld, "role");
		if (text(w, role, buf) == 0) {
			if (in_list(buf, roles) < 0)
				err(w, role,
				    "'%s' is not one of: system, user, assistant",
				    aif_walk_shown_node(show, role, buf));
			else
				set(w, out, "role", json_string(buf));
		}
		aif_walk_path_pop(w->ld, old);
	}
	if (!field(w, node, "content", out, "content", tmpl_text))
		missing(w, node, "content");
	return out;
}

static json_t *
messages(struct wf *w, const yaml_node_t *node)
{
	json_t	*out, *m;
	size_t	 old;

	if (node->type != YAML_SEQUENCE_NODE || seq_len(node) < 1 ||
	    seq_len(node) > 256) {
		err(w, node, "expected a sequence of 1 to 256 messages");
		return NULL;
	}
	if ((out = json_array()) == NULL)
		return NULL;
	for (long i = 0; i < seq_len(node); i++) {
		old = path_index(w->ld, (size_t)i);
		if ((m = message(w, aif_walk_item(w->ld, node, i))) != NULL)
			nomem_if(w, json_array_append_new(out, m) != 0);
		aif_walk_path_pop(w->ld, old);
	}
	return out;
}

static json_t *
max_tokens(struct wf *w, const yaml_node_t *node)
{
	int64_t	 v;

	return integer(w, node, 1, 1048576, &v) == 0 ? json_integer(v) : NULL;
}

static json_t *
params(struct wf *w, const yaml_node_t *node)
{
	if (node->type != YAML_MAPPING_NODE) {
		err(w, node, "expected a mapping, got %s", aif_walk_node_kind(node));
		return NULL;
	}
	return tmpl_json(w, node);
}

/* A model that is configured, by id or alias (ids of invalid models are NULL). */
static const struct aif_model *
find_model(const struct aif_config *cfg, const char *id)
{
	for (size_t i = 0; i < cfg->nmodels; i++)
		if (cfg->models[i].id != NULL && aif_cfg_model_has_name(&cfg->models[i], id))
			return &cfg->models[i];
	return NULL;
}

static void
model_step(struct wf *w, const yaml_node_t *map, json_t *obj)
{
	const yaml_node_t	*mn = aif_walk_lookup(w->ld, map, "model");
	const yaml_node_t	*msgs = aif_walk_lookup(w->ld, map, "messages");
	const yaml_node_t	*prompt = aif_walk_lookup(w->ld, map, "prompt");
	const struct aif_model	*m = NULL;
	char			 buf[AIF_CFG_MAX_SCALAR + 1], show[AIF_CFG_MAX_SHOWN + 4];
	size_t			 old;

	if (mn == NULL)
		missing(w, map, "model");
	else {
		old = aif_walk_path_key(w->ld, "model");
		if (text(w, mn, buf) == 0) {
			if ((m = find_model(w->cfg, buf)) == NULL)
				err(w, mn, "unknown model '%s' (not in models[])",
				    aif_walk_shown_node(show, mn, buf));
			else if (msgs != NULL && !(m->kinds & AIF_KIND_CHAT))
				err(w, mn,
				    "model '%s' does not serve chat completion (it "
				    "has messages)", buf);
			else if (prompt != NULL && msgs == NULL &&
			    !(m->kinds & AIF_KIND_COMPLETION))
				err(w, mn,
				    "model '%s' does not serve completion (it has a "
				    "prompt)", buf);
			set(w, obj, "model", json_string(buf));
		}
		aif_walk_path_pop(w->ld, old);
	}
	if ((msgs == NULL) == (prompt == NULL))
		err(w, (msgs != NULL ? msgs : map),
		    "exactly one of 'messages' or 'prompt' is required");
	field(w, map, "messages", obj, "messages", messages);
	field(w, map, "prompt", obj, "prompt", tmpl_text);
	field(w, map, "max_tokens", obj, "max_tokens", max_tokens);
	field(w, map, "params", obj, "params", params);
	field(w, map, "compensation", obj, "compensation", compensation);
	step_timeout(w, map, obj, 60000);
	set(w, obj, "retry", retry(w, map, 0, 3));
}

/* ---- transform ------------------------------------------------------------------- */

static const char *const transform_keys[] = { "name", "kind", "next", "timeout",
	"retry", "op", "text", "max_tokens", "from", "path", "default", "template",
	NULL };
static const char *const transform_ops[] = { "pii_mask", "truncate", "extract",
	"format", NULL };
/* The keys of each op, beyond name, kind, next, timeout, retry, op. */
static const char *const op_any_keys[] = { "text", "max_tokens", "from", "path",
	"default", "template", NULL };
static const char *const op_keys[][4] = {
	{ "text", NULL },
	{ "text", "max_tokens", NULL },
	{ "from", "path", "default", NULL },
	{ "template", NULL },
};

static json_t *
rel_path(struct wf *w, const yaml_node_t *node)
{
	char	 buf[AIF_CFG_MAX_SCALAR + 1], why[256];

	if (text(w, node, buf) != 0)
		return NULL;
	if (aif_wfx_relpath_check(buf, why, sizeof(why)) != 0) {
		err(w, node, "%s", why);
		return NULL;
	}
	return json_string(buf);
}

static json_t *
literal_json(struct wf *w, const yaml_node_t *node)
{
	char	 buf[AIF_CFG_MAX_SCALAR + 1];
	json_t	*out;

	if (node->type != YAML_SCALAR_NODE)
		return tmpl_json(w, node);	/* its strings are checked too */
	if (text(w, node, buf) != 0)
		return NULL;
	if ((out = scalar_json(node, buf)) == NULL)
		w->ld->nomem = 1;
	return out;
}

static void
transform_step(struct wf *w, const yaml_node_t *map, json_t *obj)
{
	const yaml_node_t	*opn = aif_walk_lookup(w->ld, map, "op"), *k;
	char			 buf[AIF_CFG_MAX_SCALAR + 1], show[AIF_CFG_MAX_SHOWN + 4];
	int			 op = -1;
	size_t			 old;

	if (opn == NULL)
		missing(w, map, "op");
	else {
		old = aif_walk_path_key(w->ld, "op");
		if (text(w, opn, buf) == 0 && (op = in_list(buf, transform_ops)) < 0)
			err(w, opn,
			    "'%s' is not one of: pii_mask, truncate, extract, format",
			    aif_walk_shown_node(show, opn, buf));
		aif_walk_path_pop(w->ld, old);
	}
	if (op >= 0) {
		set(w, obj, "op", json_string(transform_ops[op]));
		for (const yaml_node_pair_t *p = map->data.mapping.pairs.start;
		    p < map->data.mapping.pairs.top; p++) {
			k = yaml_document_get_node(w->ld->doc, p->key);
			if (k->type != YAML_SCALAR_NODE)
				continue;
			const char *ks = (const char *)k->data.scalar.value;
			if (in_list(ks, op_any_keys) >= 0 && in_list(ks, op_keys[op]) < 0)
				err(w, k, "key '%s' does not apply to op %s", ks,
				    transform_ops[op]);
		}
		for (int i = 0; op_keys[op][i] != NULL; i++) {
			const char *key = op_keys[op][i];
			int present;
			if (strcmp(key, "max_tokens") == 0)
				present = field(w, map, key, obj, key, max_tokens);
			else if (strcmp(key, "path") == 0)
				present = field(w, map, key, obj, key, rel_path);
			else if (strcmp(key, "default") == 0)
				present = field(w, map, key, obj, key, literal_json) || 1;
			else
				present = field(w, map, key, obj, key, tmpl_text);
			if (!present)
				missing(w, map, key);
		}
	}
	step_timeout(w, map, obj, 60000);
	set(w, obj, "retry", retry(w, map, 0, 1));
}

/* ---- branch: conditions ------------------------------------------------------------ */

static const char *const cond_ops[] = { "equals", "not_equals", "contains", "matches",
	"gt", "ge", "lt", "le", "exists", NULL };

static json_t *condition(struct wf *w, const yaml_node_t *node);

static json_t *
cond_list(struct wf *w, const yaml_node_t *node)
{
	json_t	*out, *c;
	size_t	 old;

	if (node->type != YAML_SEQUENCE_NODE || seq_len(node) < 1 ||
	    seq_len(node) > AIF_WF_MAX_CASES) {
		err(w, node, "expected a sequence of 1 to %d conditions",
		    AIF_WF_MAX_CASES);
		return NULL;
	}
	if ((out = json_array()) == NULL)
		return NULL;
	for (long i = 0; i < seq_len(node); i++) {
		old = path_index(w->ld, (size_t)i);
		if ((c = condition(w, aif_walk_item(w->ld, node, i))) != NULL)
			nomem_if(w, json_array_append_new(out, c) != 0);
		aif_walk_path_pop(w->ld, old);
	}
	return out;
}

static json_t *
cond_path(struct wf *w, const yaml_node_t *node)
{
	char	 buf[AIF_CFG_MAX_SCALAR + 1], tmpl[AIF_CFG_MAX_SCALAR + 8], why[256];

	if (text(w, node, buf) != 0)
		return NULL;
	if (aif_wfx_path_check(buf, why, sizeof(why)) != 0) {
		err(w, node, "%s", why);
		return NULL;
	}
	(void)snprintf(tmpl, sizeof(tmpl), "{{%s}}", buf);
	if (check_template(w, node, tmpl) != 0)
		return NULL;
	return json_string(buf);
}

static json_t *
cond_value(struct wf *w, const yaml_node_t *node, int op)
{
	char	 buf[AIF_CFG_MAX_SCALAR + 1], why[300];
	json_t	*v;
	size_t	 off;

	if (text(w, node, buf) != 0)
		return NULL;
	if ((v = scalar_json(node, buf)) == NULL) {
		w->ld->nomem = 1;
		return NULL;
	}
	switch (op) {
	case 3:		/* matches */
		if (aif_wfx_regex_check(buf, why, sizeof(why), &off) != 0) {
			err(w, node, "%s", why);
			json_decref(v);
			return NULL;
		}
		json_decref(v);
		return json_string(buf);
	case 4: case 5: case 6: case 7:
		if (!json_is_number(v)) {
			err(w, node, "expected a number");
			json_decref(v);
			return NULL;
		}
		return v;
	case 8:
		if (!json_is_boolean(v)) {
			err(w, node, "expected true or false");
			json_decref(v);
			return NULL;
		}
		return v;
	default:
		return v;
	}
}

static json_t *condition_at(struct wf *w, const yaml_node_t *node);

static json_t *
condition(struct wf *w, const yaml_node_t *node)
{
	json_t	*out;

	if (enter(w, node) != 0)
		return NULL;
	out = condition_at(w, node);
	w->depth--;
	return out;
}

static json_t *
condition_at(struct wf *w, const yaml_node_t *node)
{
	static const char *const keys[] = { "path", "equals", "not_equals", "contains",
		"matches", "gt", "ge", "lt", "le", "exists", "all", "any", "not", NULL };
	const yaml_node_t	*v;
	json_t			*out, *j;
	const char		*group = NULL;
	int			 op = -1, nops = 0;
	size_t			 old, npairs;

	if (check_keys(w, node, keys) != 0)
		return NULL;
	npairs = (size_t)(node->data.mapping.pairs.top - node->data.mapping.pairs.start);
	for (const char *const *g = (const char *const[]){ "all", "any", "not", NULL };
	    *g != NULL; g++)
		if (aif_walk_lookup(w->ld, node, *g) != NULL)
			group = *g;
	if (group != NULL) {
		if (npairs != 1) {
			err(w, node, "'%s' must be the only key of its condition", group);
			return NULL;
		}
		v = aif_walk_lookup(w->ld, node, group);
		old = aif_walk_path_key(w->ld, group);
		j = strcmp(group, "not") == 0 ? condition(w, v) : cond_list(w, v);
		aif_walk_path_pop(w->ld, old);
		if (j == NULL)
			return NULL;
		out = json_object();
		set(w, out, group, j);
		return out;
	}
	for (int i = 0; cond_ops[i] != NULL; i++)
		if (aif_walk_lookup(w->ld, node, cond_ops[i]) != NULL) {
			op = i;
			nops++;
		}
	if (aif_walk_lookup(w->ld, node, "path") == NULL || nops != 1) {
		err(w, node,
		    "a condition is {path, and exactly one of equals, not_equals, "
		    "contains, matches, gt, ge, lt, le, exists}, or {all}, {any}, {not}");
		return NULL;
	}
	if ((out = json_object()) == NULL) {
		w->ld->nomem = 1;
		return NULL;
	}
	if (!field(w, node, "path", out, "path", cond_path)) {
		json_decref(out);
		return NULL;
	}
	set(w, out, "op", json_string(cond_ops[op]));
	v = aif_walk_lookup(w->ld, node, cond_ops[op]);
	old = aif_walk_path_key(w->ld, cond_ops[op]);
	j = cond_value(w, v, op);
	aif_walk_path_pop(w->ld, old);
	if (j == NULL || json_object_get(out, "path") == NULL) {
		json_decref(j);
		json_decref(out);
		return NULL;
	}
	set(w, out, "value", j);
	return out;
}

static const char *const branch_keys[] = { "name", "kind", "cases", "default", NULL };
static const char *const case_keys[] = { "when", "next", NULL };

static json_t *
edge_case(struct wf *w, const yaml_node_t *node)
{
	return edge_value(w, node, E_CASE);
}

static json_t *
edge_default(struct wf *w, const yaml_node_t *node)
{
	return edge_value(w, node, E_DEFAULT);
}

static json_t *
edge_next(struct wf *w, const yaml_node_t *node)
{
	return edge_value(w, node, E_NEXT);
}

static void
branch_step(struct wf *w, const yaml_node_t *map, json_t *obj)
{
	const yaml_node_t	*cases = aif_walk_lookup(w->ld, map, "cases"), *c;
	json_t			*arr, *co;
	size_t			 old, old2;

	if (cases == NULL)
		missing(w, map, "cases");
	else {
		old = aif_walk_path_key(w->ld, "cases");
		if (cases->type != YAML_SEQUENCE_NODE || seq_len(cases) < 1 ||
		    seq_len(cases) > AIF_WF_MAX_CASES)
			err(w, cases, "expected a sequence of 1 to %d cases",
			    AIF_WF_MAX_CASES);
		else if ((arr = json_array()) != NULL) {
			for (long i = 0; i < seq_len(cases); i++) {
				c = aif_walk_item(w->ld, cases, i);
				old2 = path_index(w->ld, (size_t)i);
				if (check_keys(w, c, case_keys) == 0 &&
				    (co = json_object()) != NULL) {
					if (!field(w, c, "when", co, "when", condition))
						missing(w, c, "when");
					if (!field(w, c, "next", co, "next", edge_case))
						missing(w, c, "next");
					nomem_if(w, json_array_append_new(arr, co) != 0);
				}
				aif_walk_path_pop(w->ld, old2);
			}
			set(w, obj, "cases", arr);
		} else
			w->ld->nomem = 1;
		aif_walk_path_pop(w->ld, old);
	}
	if (!field(w, map, "default", obj, "default", edge_default))
		missing(w, map, "default");
}

/* ---- parallel, wait, final ------------------------------------------------------- */

static const char *const parallel_keys[] = { "name", "kind", "branches", "wait", "next",
	NULL };
static const char *const wait_keys[] = { "name", "kind", "next", "for", "signal",
	"timeout", "on_timeout", NULL };
static const char *const final_keys[] = { "name", "kind", "from", "output", NULL };

static void
parallel_step(struct wf *w, const yaml_node_t *map, json_t *obj)
{
	const yaml_node_t	*b = aif_walk_lookup(w->ld, map, "branches");
	const yaml_node_t	*wt = aif_walk_lookup(w->ld, map, "wait");
	char			 buf[AIF_CFG_MAX_SCALAR + 1], show[AIF_CFG_MAX_SHOWN + 4];
	json_t			*arr, *v;
	size_t			 old, old2;

	w->steps[w->cur].wait_all = 1;
	if (b == NULL)
		missing(w, map, "branches");
	else {
		old = aif_walk_path_key(w->ld, "branches");
		if (b->type != YAML_SEQUENCE_NODE || seq_len(b) < 2 ||
		    seq_len(b) > AIF_WF_MAX_BRANCHES)
			err(w, b, "expected a sequence of 2 to %d step names",
			    AIF_WF_MAX_BRANCHES);
		else if ((arr = json_array()) != NULL) {
			for (long i = 0; i < seq_len(b); i++) {
				old2 = path_index(w->ld, (size_t)i);
				v = edge_value(w, aif_walk_item(w->ld, b, i), E_BRANCH);
				if (v != NULL)
					nomem_if(w, json_array_append_new(arr, v) != 0);
				aif_walk_path_pop(w->ld, old2);
			}
			set(w, obj, "branches", arr);
		}
		aif_walk_path_pop(w->ld, old);
	}
	aif_strlcpy(buf, "all", AIF_CFG_MAX_SCALAR + 1);
	if (wt != NULL) {
		old = aif_walk_path_key(w->ld, "wait");
		if (text(w, wt, buf) == 0 && strcmp(buf, "all") != 0 &&
		    strcmp(buf, "first") != 0)
			err(w, wt, "'%s' is not one of: all, first",
			    aif_walk_shown_node(show, wt, buf));
		aif_walk_path_pop(w->ld, old);
	}
	w->steps[w->cur].wait_all = strcmp(buf, "first") != 0;
	set(w, obj, "wait", json_string(w->steps[w->cur].wait_all ? "all" : "first"));
}

#define signal_name_ok(s)	aif_token_ok((s), 64, "_.-")

static void
wait_step(struct wf *w, const yaml_node_t *map, json_t *obj)
{
	const yaml_node_t	*f = aif_walk_lookup(w->ld, map, "for");
	const yaml_node_t	*sg = aif_walk_lookup(w->ld, map, "signal");
	const yaml_node_t	*to = aif_walk_lookup(w->ld, map, "timeout");
	const yaml_node_t	*ot = aif_walk_lookup(w->ld, map, "on_timeout");
	char			 buf[AIF_CFG_MAX_SCALAR + 1];
	int64_t			 ms;
	size_t			 old;

	if ((f == NULL) == (sg == NULL)) {
		err(w, (f != NULL ? f : map),
		    "exactly one of 'for' or 'signal' is required");
		return;
	}
	if (f != NULL) {
		const yaml_node_t *extra = to != NULL ? to : ot;
		if (extra != NULL)
			err(w, extra,
			    "'timeout' and 'on_timeout' go with 'signal', not 'for'");
		old = aif_walk_path_key(w->ld, "for");
		if (duration(w, f, 1000, 30LL * 86400000, "1s to 30d", &ms) == 0)
			set(w, obj, "for_ms", json_integer(ms));
		aif_walk_path_pop(w->ld, old);
		return;
	}
	old = aif_walk_path_key(w->ld, "signal");
	if (text(w, sg, buf) == 0) {
		if (!signal_name_ok(buf))
			err(w, sg, "a signal name is 1 to 64 of A-Z a-z 0-9 _ . -");
		else
			set(w, obj, "signal", json_string(buf));
	}
	aif_walk_path_pop(w->ld, old);
	ms = 86400000;
	if (to != NULL) {
		old = aif_walk_path_key(w->ld, "timeout");
		(void)duration(w, to, 1000, 30LL * 86400000, "1s to 30d", &ms);
		aif_walk_path_pop(w->ld, old);
	}
	set(w, obj, "timeout_ms", json_integer(ms));
	aif_strlcpy(buf, "fail", AIF_CFG_MAX_SCALAR + 1);
	if (ot != NULL) {
		old = aif_walk_path_key(w->ld, "on_timeout");
		if (text(w, ot, buf) == 0 && strcmp(buf, "fail") != 0 &&
		    strcmp(buf, "continue") != 0)
			add_edge(w, w->cur, E_TIMEOUT, buf, ot);
		aif_walk_path_pop(w->ld, old);
	}
	set(w, obj, "on_timeout", json_string(buf));
}

static void
final_step(struct wf *w, const yaml_node_t *map, json_t *obj)
{
	const yaml_node_t	*f = aif_walk_lookup(w->ld, map, "from");
	const yaml_node_t	*o = aif_walk_lookup(w->ld, map, "output");
	char			 buf[AIF_CFG_MAX_SCALAR + 1];
	size_t			 old;

	if ((f == NULL) == (o == NULL)) {
		err(w, (f != NULL ? f : map),
		    "exactly one of 'from' or 'output' is required");
		return;
	}
	if (f != NULL) {
		old = aif_walk_path_key(w->ld, "from");
		if (text(w, f, buf) == 0) {
			add_ref(w, buf, 1, f->start_mark);
			set(w, obj, "from", json_string(buf));
		}
		aif_walk_path_pop(w->ld, old);
	} else
		field(w, map, "output", obj, "output", tmpl_json);
}

/* ---- steps ----------------------------------------------------------------------- */

static int
step_name_ok(const char *s)
{
	size_t	 n = strlen(s);

	if (n == 0 || n > 64 || (s[0] >= '0' && s[0] <= '9'))
		return 0;
	for (; *s != '\0'; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		    (*s >= '0' && *s <= '9') || *s == '_'))
			return 0;
	return 1;
}

static const char *const *const kind_keys[] = { model_keys, http_keys, transform_keys,
	branch_keys, parallel_keys, wait_keys, final_keys };

/* A step's name and kind (s->kind stays K_NONE when it has none that is valid). */
static void
step_name_kind(struct wf *w, struct wstep *s, const yaml_node_t *map)
{
	const yaml_node_t	*nn, *kn;
	char			 buf[AIF_CFG_MAX_SCALAR + 1], show[AIF_CFG_MAX_SHOWN + 4];
	size_t			 old;

	if ((nn = aif_walk_lookup(w->ld, map, "name")) == NULL)
		missing(w, map, "name");
	else {
		s->name_node = nn;
		old = aif_walk_path_key(w->ld, "name");
		if (text(w, nn, buf) == 0) {
			if (!step_name_ok(buf))
				err(w, nn,
				    "'%s' is not a step name ([A-Za-z_][A-Za-z0-9_], at "
				    "most 64)", aif_walk_shown_node(show, nn, buf));
			else
				memcpy(s->name, buf, strlen(buf) + 1);
		}
		aif_walk_path_pop(w->ld, old);
	}
	if ((kn = aif_walk_lookup(w->ld, map, "kind")) == NULL) {
		missing(w, map, "kind");
		return;
	}
	old = aif_walk_path_key(w->ld, "kind");
	/* a kind that is no scalar was reported by text(); buf then holds nothing of it */
	if (text(w, kn, buf) == 0) {
		int k = in_list(buf, kind_names);
		if (k < 0)
			err(w, kn, "unknown step kind '%s' "
			    "(model, http, transform, branch, parallel, wait, final)",
			    aif_walk_shown_node(show, kn, buf));
		else
			s->kind = (enum skind)k;
	}
	aif_walk_path_pop(w->ld, old);
}

/* Walks step w->cur (mapping `map`) into a new object in steps_obj. */
static void
walk_step(struct wf *w, const yaml_node_t *map, json_t *steps_obj)
{
	struct wstep		*s = &w->steps[w->cur];
	json_t			*obj;

	s->parent = -1;
	s->kind = K_NONE;
	s->map = map;
	if (map->type != YAML_MAPPING_NODE) {
		err(w, map, "expected a mapping, got %s", aif_walk_node_kind(map));
		return;
	}
	step_name_kind(w, s, map);
	if (s->kind == K_NONE)
		return;
	check_keys(w, map, kind_keys[s->kind]);
	if ((obj = json_object()) == NULL) {
		w->ld->nomem = 1;
		return;
	}
	s->obj = obj;
	set(w, obj, "kind", json_string(kind_names[s->kind]));
	switch (s->kind) {
	case K_MODEL:
		model_step(w, map, obj);
		break;
	case K_HTTP:
		http_fields(w, map, obj, 0);
		field(w, map, "compensation", obj, "compensation", compensation);
		break;
	case K_TRANSFORM:
		transform_step(w, map, obj);
		break;
	case K_BRANCH:
		branch_step(w, map, obj);
		break;
	case K_PARALLEL:
		parallel_step(w, map, obj);
		break;
	case K_WAIT:
		wait_step(w, map, obj);
		break;
	default:
		final_step(w, map, obj);
		break;
	}
	if (s->kind != K_BRANCH && s->kind != K_FINAL &&
	    (s->next_node = aif_walk_lookup(w->ld, map, "next")) != NULL) {
		s->has_next = 1;
		field(w, map, "next", obj, "next", edge_next);
	}
	if (s->name[0] != '\0' && json_object_get(steps_obj, s->name) == NULL)
		nomem_if(w, json_object_set(steps_obj, s->name, obj) != 0);
	json_decref(obj);	/* steps_obj holds it, or nothing does */
	if (json_object_get(steps_obj, s->name) != obj)
		s->obj = NULL;
}

/* ---- the graph ------------------------------------------------------------------- */

static const struct wedge *
edge_of(const struct wf *w, int from, enum etype type)
{
	for (size_t i = 0; i < w->nedges; i++)
		if (w->edges[i].from == from && w->edges[i].type == type)
			return &w->edges[i];
	return NULL;
}

static void
dfs(struct wf *w, int u, char *color, int *stack, int *depth, int *post, int *npost)
{
	char	 cyc[AIF_CFG_MAX_MSG];
	size_t	 len;

	color[u] = 1;
	stack[(*depth)++] = u;
	for (size_t i = 0; i < w->nedges; i++) {
		const struct wedge *e = &w->edges[i];
		int v = e->to;
		if (e->from != u || v < 0)
			continue;
		if (color[v] == 1) {
			int k = *depth - 1;
			while (k > 0 && stack[k] != v)
				k--;
			cyc[0] = '\0';
			len = 0;
			for (; k < *depth && len + 1 < sizeof(cyc); k++) {
				int n = snprintf(cyc + len, sizeof(cyc) - len, "%s -> ",
				    w->steps[stack[k]].name);
				if (n < 0 || (size_t)n >= sizeof(cyc) - len)
					break;
				len += (size_t)n;
			}
			if (len + 1 < sizeof(cyc))
				(void)snprintf(cyc + len, sizeof(cyc) - len, "%s",
				    w->steps[v].name);
			aif_walk_error_at(w->ld, e->at->start_mark,
			    "%s: '%s' closes a cycle: %s", e->where, e->name, cyc);
			w->cyclic = 1;
		} else if (color[v] == 0)
			dfs(w, v, color, stack, depth, post, npost);
	}
	(*depth)--;
	color[u] = 2;
	post[(*npost)++] = u;
}

/* Step names: duplicates, the steps edges name, the start step (*startp, -1). */
static void
graph_names(struct wf *w, const yaml_node_t *start_node, int *startp)
{
	char		 buf[AIF_CFG_MAX_SCALAR + 1];
	int		 start = -1, i;

	for (i = 0; i < w->n; i++)
		for (int j = 0; j < i && w->steps[i].name[0] != '\0'; j++)
			if (strcmp(w->steps[i].name, w->steps[j].name) == 0) {
				aif_walk_error_at(w->ld,
				    w->steps[i].name_node->start_mark,
				    "%s.steps[%d].name: duplicate step name '%s' (first "
				    "at line %zu)", w->prefix, i, w->steps[i].name,
				    w->steps[j].name_node->start_mark.line + 1);
				w->steps[i].dup = 1;
				break;
			}
	for (size_t k = 0; k < w->nedges; k++) {
		struct wedge *e = &w->edges[k];
		if ((e->to = step_index(w, e->name)) < 0)
			aif_walk_error_at(w->ld, e->at->start_mark,
			    "%s: unknown step '%s'", e->where, e->name);
	}
	if (start_node != NULL) {
		size_t old = aif_walk_path_key(w->ld, "start");
		if (aif_walk_scalar(w->ld, start_node, "a step name", buf) == 0 &&
		    (start = step_index(w, buf)) < 0)
			err(w, start_node, "unknown step '%s'", buf);
		aif_walk_path_pop(w->ld, old);
	} else if (w->n > 0 && w->steps[0].name[0] != '\0')
		start = 0;
	*startp = start;

}

/* The branches of parallel steps: what may be one, and that nothing else leads to
 * one; every other step but branch and final needs a next. */
static void
graph_members(struct wf *w, const yaml_node_t *start_node, int start)
{
	int		 i;

	for (size_t k = 0; k < w->nedges; k++) {
		const struct wedge *e = &w->edges[k];
		struct wstep *m, *p;
		if (e->type != E_BRANCH || e->to < 0)
			continue;
		m = &w->steps[e->to];
		p = &w->steps[e->from];
		if (m->kind != K_MODEL && m->kind != K_HTTP && m->kind != K_TRANSFORM)
			aif_walk_error_at(w->ld, e->at->start_mark,
			    "%s: step '%s' is a %s step (the branches of a parallel step "
			    "are model, http or transform steps)", e->where, m->name,
			    m->kind == K_NONE ? "bad" : kind_names[m->kind]);
		else if (m->parent >= 0)
			aif_walk_error_at(w->ld, e->at->start_mark,
			    "%s: step '%s' is already a branch of parallel step '%s'",
			    e->where, m->name, w->steps[m->parent].name);
		else {
			m->parent = e->from;
			p->members |= UINT64_C(1) << e->to;
			const struct wedge *nx = edge_of(w, e->to, E_NEXT);
			if (nx != NULL)
				aif_walk_error_at(w->ld, nx->at->start_mark,
				    "%s: step '%s' is a branch of parallel step '%s' and "
				    "has no next", nx->where, m->name, p->name);
		}
	}
	for (size_t k = 0; k < w->nedges; k++) {
		const struct wedge *e = &w->edges[k];
		if (e->type != E_BRANCH && e->to >= 0 && w->steps[e->to].parent >= 0)
			aif_walk_error_at(w->ld, e->at->start_mark, "%s: step '%s' is a "
			    "branch of parallel step '%s': nothing else may lead to it",
			    e->where, e->name, w->steps[w->steps[e->to].parent].name);
	}
	if (start >= 0 && w->steps[start].parent >= 0)
		aif_walk_error_at(w->ld, (start_node ? start_node :
		    w->steps[start].name_node)->start_mark, "%s.start: step '%s' is a "
		    "branch of a parallel step and cannot start the workflow", w->prefix,
		    w->steps[start].name);
	for (i = 0; i < w->n; i++) {
		const struct wstep *s = &w->steps[i];
		if (s->kind != K_NONE && s->kind != K_BRANCH && s->kind != K_FINAL &&
		    !s->has_next && s->parent < 0)
			aif_walk_error_at(w->ld, s->map->start_mark,
			    "%s.steps[%d]: missing required key 'next'", w->prefix, i);
	}

}

/* Cycles (found by dfs) and what start does not reach; *post gets the reachable steps
 * in post-order, *npost their count. */
static void
graph_reach(struct wf *w, const yaml_node_t *wmap, int start, int *post, int *npost)
{
	char		 color[AIF_WF_MAX_STEPS] = { 0 };
	int		 stack[AIF_WF_MAX_STEPS], depth = 0, i;
	const yaml_node_t *steps_node = aif_walk_lookup(w->ld, wmap, "steps");

	dfs(w, start, color, stack, &depth, post, npost);
	for (i = 0; i < w->n; i++)
		if (color[i] != 0)
			w->reach |= UINT64_C(1) << i;
	for (i = 0; i < w->n; i++)
		if (color[i] == 0) {
			int junk[AIF_WF_MAX_STEPS], nj = 0;
			dfs(w, i, color, stack, &depth, junk, &nj);
		}
	int finals = 0;
	for (i = 0; i < w->n; i++) {
		if (!(w->reach & (UINT64_C(1) << i))) {
			if (w->steps[i].name[0] != '\0' && !w->steps[i].dup)
				aif_walk_error_at(w->ld,
				    w->steps[i].name_node->start_mark,
				    "%s.steps[%d].name: step '%s' is not reachable from "
				    "start step '%s'", w->prefix, i, w->steps[i].name,
				    w->steps[start].name);
		} else if (w->steps[i].kind == K_FINAL)
			finals++;
	}
	if (finals == 0)
		aif_walk_error_at(w->ld, (steps_node ? steps_node : wmap)->start_mark,
		    "%s.steps: no final step is reachable from start step '%s'",
		    w->prefix, w->steps[start].name);
	if (w->cyclic)
		return;

}

/* Dominators over the acyclic graph, in topological order (post, reversed): a parallel
 * step with wait all counts its members as run before its next. */
static void
graph_dominators(struct wf *w, int start, const int *post, int nreach)
{
	uint64_t	 in[AIF_WF_MAX_STEPS];
	int		 i;

	for (i = 0; i < w->n; i++)
		in[i] = ~UINT64_C(0);
	for (int k = nreach - 1; k >= 0; k--) {
		int u = post[k];
		const struct wstep *s = &w->steps[u];
		w->dom[u] = (u == start ? 0 : in[u]) | (UINT64_C(1) << u);
		for (size_t j = 0; j < w->nedges; j++) {
			const struct wedge *e = &w->edges[j];
			if (e->from != u || e->to < 0)
				continue;
			if (s->kind == K_PARALLEL && e->type == E_NEXT)
				in[e->to] &= w->dom[u] | (s->wait_all ? s->members : 0);
			else
				in[e->to] &= w->dom[u];
		}
	}
}

static void
graph(struct wf *w, const yaml_node_t *wmap, const yaml_node_t *start_node, int *startp)
{
	int		 post[AIF_WF_MAX_STEPS], npost = 0;

	graph_names(w, start_node, startp);
	graph_members(w, start_node, *startp);
	if (*startp < 0)
		return;
	graph_reach(w, wmap, *startp, post, &npost);
	if (!w->cyclic)
		graph_dominators(w, *startp, post, npost);
}

/* Every steps.X (templates, condition paths, final from) names a step that ran on
 * every path to the step. */
static void
check_refs(struct wf *w)
{
	for (size_t k = 0; k < w->nrefs; k++) {
		const struct wref *r = &w->refs[k];
		int t = step_index(w, r->target), s = r->step;
		if (t < 0) {
			aif_walk_error_at(w->ld, r->mark, "%s: unknown step '%s'",
			    r->where, r->target);
			continue;
		}
		if (w->cyclic || s < 0 || !(w->reach & (UINT64_C(1) << s)) ||
		    w->steps[s].name[0] == '\0')
			continue;
		if ((w->dom[s] & (UINT64_C(1) << t)) && (t != s || r->own))
			continue;
		if (r->from)
			aif_walk_error_at(w->ld, r->mark, "%s: step '%s' is not run on "
			    "every path to step '%s'", r->where, r->target,
			    w->steps[s].name);
		else
			aif_walk_error_at(w->ld, r->mark, "%s: steps.%s is not run on "
			    "every path to step '%s'", r->where, r->target,
			    w->steps[s].name);
	}
}

/* ---- workflows --------------------------------------------------------------------- */

static int
workflow_name_ok(const char *s)
{
	size_t	 n = strlen(s);

	if (n == 0 || n > 64 || !((s[0] >= 'a' && s[0] <= 'z') ||
	    (s[0] >= 'A' && s[0] <= 'Z') || (s[0] >= '0' && s[0] <= '9')))
		return 0;
	for (; *s != '\0'; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		    (*s >= '0' && *s <= '9') || strchr("._:-", *s) != NULL))
			return 0;
	return 1;
}

static const char *const workflow_keys[] = { "name", "description", "kinds", "start",
	"timeout", "steps", NULL };

static unsigned
wf_kinds(struct wf *w, const yaml_node_t *node)
{
	char		 buf[AIF_CFG_MAX_SCALAR + 1], show[AIF_CFG_MAX_SHOWN + 4];
	unsigned	 mask = 0, k;
	size_t		 old;

	if (node->type != YAML_SEQUENCE_NODE || seq_len(node) < 1 || seq_len(node) > 2) {
		err(w, node, "expected a sequence of chat and/or completion");
		return AIF_KIND_CHAT;
	}
	for (long i = 0; i < seq_len(node); i++) {
		const yaml_node_t *it = aif_walk_item(w->ld, node, i);
		old = path_index(w->ld, (size_t)i);
		if (text(w, it, buf) == 0) {
			k = strcmp(buf, "chat") == 0 ? AIF_KIND_CHAT :
			    strcmp(buf, "completion") == 0 ? AIF_KIND_COMPLETION : 0;
			if (k == 0)
				err(w, it, "'%s' is not one of: chat, completion",
				    aif_walk_shown_node(show, it, buf));
			else if (mask & k)
				err(w, it, "duplicate kind '%s'", buf);
			mask |= k;
		}
		aif_walk_path_pop(w->ld, old);
	}
	return mask ? mask : AIF_KIND_CHAT;
}

/* SHA-256 of text as 64 hex digits and a NUL. Returns 0, or -1. */
static int
sha256_hex(const char *text, char out[65])
{
	unsigned char	 md[EVP_MAX_MD_SIZE];
	unsigned int	 mdlen = 0;

	if (EVP_Digest(text, strlen(text), md, &mdlen, EVP_sha256(), NULL) != 1 ||
	    mdlen != 32)
		return -1;
	for (unsigned i = 0; i < mdlen; i++)
		(void)snprintf(out + 2 * i, 3, "%02x", md[i]);
	return 0;
}

static void
free_wf(struct wf *w)
{
	for (size_t i = 0; i < w->nedges; i++) {
		free(w->edges[i].name);
		free(w->edges[i].where);
	}
	for (size_t i = 0; i < w->nrefs; i++) {
		free(w->refs[i].target);
		free(w->refs[i].where);
	}
	free(w->edges);
	free(w->refs);
}

/* A workflow's own keys: name (not a model id), description, kinds, timeout. */
static void
walk_header(struct wf *w, const yaml_node_t *map, struct aif_workflow *out,
    int64_t *timeout)
{
	struct loader		*ld = w->ld;
	const struct aif_config	*cfg = w->cfg;
	const yaml_node_t	*v;
	char			 buf[AIF_CFG_MAX_SCALAR + 1], show[AIF_CFG_MAX_SHOWN + 4];
	size_t			 old;

	if ((v = aif_walk_lookup(ld, map, "name")) == NULL)
		missing(w, map, "name");
	else {
		old = aif_walk_path_key(ld, "name");
		if (text(w, v, buf) == 0) {
			if (!workflow_name_ok(buf))
				err(w, v, "'%s' is not a workflow name "
				    "([A-Za-z0-9][A-Za-z0-9._:-], at most 64)",
				    aif_walk_shown_node(show, v, buf));
			else if (find_model(cfg, buf) != NULL)
				err(w, v, "'%s' is a model id or alias: a workflow needs "
				    "a name of its own", buf);
			out->name = aif_walk_strdup(ld, buf);
		}
		aif_walk_path_pop(ld, old);
	}
	if ((v = aif_walk_lookup(ld, map, "description")) != NULL) {
		old = aif_walk_path_key(ld, "description");
		if (text(w, v, buf) == 0)
			out->description = aif_walk_strdup(ld, buf);
		aif_walk_path_pop(ld, old);
	}
	if ((v = aif_walk_lookup(ld, map, "kinds")) != NULL) {
		old = aif_walk_path_key(ld, "kinds");
		out->kinds = wf_kinds(w, v);
		aif_walk_path_pop(ld, old);
	}
	if ((v = aif_walk_lookup(ld, map, "timeout")) != NULL) {
		old = aif_walk_path_key(ld, "timeout");
		(void)duration(w, v, 1000, 30LL * 86400000, "1s to 30d", timeout);
		aif_walk_path_pop(ld, old);
	}
}

/* The model step whose answer may stream to the client: the one a reachable final
 * step answers `from` and that leads straight to it. Borrowed name, or NULL. */
static const char *
stream_step(const struct wf *w)
{
	for (int i = 0; i < w->n; i++) {
		const struct wstep *f = &w->steps[i];
		const char *from = json_string_value(json_object_get(f->obj, "from"));
		const struct wedge *nx;
		int x;
		if (f->kind != K_FINAL || from == NULL ||
		    !(w->reach & (UINT64_C(1) << i)) || (x = step_index(w, from)) < 0 ||
		    w->steps[x].kind != K_MODEL ||
		    (nx = edge_of(w, x, E_NEXT)) == NULL || nx->to != i)
			continue;
		return from;
	}
	return NULL;
}

/* Walks workflows[idx] (mapping `map`) into out. */
static void
walk_workflow(struct loader *ld, const struct aif_config *cfg, const yaml_node_t *map,
    size_t idx, struct aif_workflow *out)
{
	struct wf		*w;
	const yaml_node_t	*steps;
	json_t			*def = NULL, *sobj, *order;
	int64_t			 timeout = 3600000;
	int			 start = -1;
	size_t			 old;
	unsigned		 errors = ld->nerrors;
	const char		*x;

	out->line = (int)map->start_mark.line + 1;
	out->column = (int)map->start_mark.column + 1;
	out->kinds = AIF_KIND_CHAT;
	if ((w = calloc(1, sizeof(*w))) == NULL) {
		ld->nomem = 1;
		return;
	}
	w->ld = ld;
	w->cfg = cfg;
	w->cur = -1;
	(void)snprintf(w->prefix, sizeof(w->prefix), "workflows[%zu]", idx);
	if (check_keys(w, map, workflow_keys) != 0)
		goto out;
	walk_header(w, map, out, &timeout);
	if ((def = json_object()) == NULL || (sobj = json_object()) == NULL ||
	    (order = json_array()) == NULL || json_object_set_new(def, "steps", sobj) ||
	    json_object_set_new(def, "order", order)) {
		ld->nomem = 1;
		goto out;
	}
	if ((steps = aif_walk_lookup(ld, map, "steps")) == NULL)
		missing(w, map, "steps");
	else {
		old = aif_walk_path_key(ld, "steps");
		if (steps->type != YAML_SEQUENCE_NODE || seq_len(steps) < 1 ||
		    seq_len(steps) > AIF_WF_MAX_STEPS)
			err(w, steps, "expected a sequence of 1 to %d steps",
			    AIF_WF_MAX_STEPS);
		else {
			w->n = (int)seq_len(steps);
			for (int i = 0; i < w->n; i++) {
				size_t o2 = path_index(ld, (size_t)i);
				w->cur = i;
				walk_step(w, aif_walk_item(ld, steps, i), sobj);
				aif_walk_path_pop(ld, o2);
				if (w->steps[i].name[0] != '\0')
					nomem_if(w, json_array_append_new(order,
					    json_string(w->steps[i].name)) != 0);
			}
		}
		aif_walk_path_pop(ld, old);
	}
	w->cur = -1;
	graph(w, map, aif_walk_lookup(ld, map, "start"), &start);
	check_refs(w);
	if (ld->nerrors != errors || ld->nomem || start < 0 || out->name == NULL)
		goto out;

	set(w, def, "name", json_string(out->name));
	set(w, def, "start", json_string(w->steps[start].name));
	set(w, def, "timeout_ms", json_integer(timeout));
	if ((x = stream_step(w)) != NULL)
		set(w, def, "stream_step", json_string(x));
	if (ld->nomem ||
	    (out->def_text = json_dumps(def, JSON_COMPACT | JSON_SORT_KEYS)) == NULL ||
	    sha256_hex(out->def_text, out->hash) != 0) {
		ld->nomem = 1;
		goto out;
	}
	out->def = def;
	def = NULL;
out:
	json_decref(def);
	free_wf(w);
	free(w);
}

void
aif_wf_load(struct loader *ld, const yaml_node_t *seq, struct aif_config *cfg)
{
	size_t	 old, o2, n;

	if (seq == NULL)
		return;
	old = aif_walk_path_key(ld, "workflows");
	if (seq->type != YAML_SEQUENCE_NODE || seq_len(seq) > AIF_WF_MAX_WORKFLOWS) {
		aif_walk_error_at(ld, seq->start_mark,
		    "%s: expected a sequence of at most %d workflows", aif_walk_where(ld),
		    AIF_WF_MAX_WORKFLOWS);
		goto out;
	}
	if ((n = (size_t)seq_len(seq)) == 0)
		goto out;
	if ((cfg->workflows = calloc(n, sizeof(*cfg->workflows))) == NULL) {
		ld->nomem = 1;
		goto out;
	}
	cfg->nworkflows = n;
	for (size_t i = 0; i < n; i++) {
		o2 = path_index(ld, i);
		walk_workflow(ld, cfg, aif_walk_item(ld, seq, (long)i), i,
		    &cfg->workflows[i]);
		aif_walk_path_pop(ld, o2);
	}
	for (size_t i = 1; i < n; i++)
		for (size_t j = 0; j < i; j++) {
			const struct aif_workflow *a = &cfg->workflows[j];
			const struct aif_workflow *b = &cfg->workflows[i];
			if (a->name == NULL || b->name == NULL ||
			    strcmp(a->name, b->name) != 0)
				continue;
			const yaml_node_t *at = aif_walk_lookup(ld,
			    aif_walk_item(ld, seq, (long)i), "name");
			aif_walk_error_at(ld, at->start_mark, "workflows[%zu].name: "
			    "duplicate workflow name '%s' (first at line %d)", i, b->name,
			    a->line);
			break;
		}
out:
	aif_walk_path_pop(ld, old);
}

void
aif_wf_free_all(struct aif_config *cfg)
{
	for (size_t i = 0; cfg->workflows != NULL && i < cfg->nworkflows; i++) {
		free(cfg->workflows[i].name);
		free(cfg->workflows[i].description);
		json_decref(cfg->workflows[i].def);
		free(cfg->workflows[i].def_text);
	}
	free(cfg->workflows);
	cfg->workflows = NULL;
	cfg->nworkflows = 0;
}
