/* guard_schema.c -- the `guardrails:` section of the configuration
 * (docs/GUARDRAILS.md): its directive tables and the finish hook that defaults the
 * model and role globs, checks hook URLs and compiles every block pattern once to
 * report its error at its line. config.c links it in as aif_cfg_guardrail_section. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pii_types.h"
#include "text.h"
#include "walk.h"

static const char *const on_error_names[] = { "allow", "block", NULL };

#define HOOK(f)	offsetof(struct aif_guard_hook, f)
#define HOOK_DIRS(base)								\
	STR("url", (base) + HOOK(url), F_REQUIRED),				\
	DURATION("timeout", D_INT64, (base) + HOOK(timeout_ms), 50, DURATION_M,	\
	    2 * DURATION_S),							\
	{ .name = "on_error", .type = D_STR, .off = (base) + HOOK(on_error),	\
	  .choices = on_error_names }
#define GUARD(f)	offsetof(struct aif_guardrail, f)
static const struct directive pre_dirs[] = { HOOK_DIRS(GUARD(pre_call)) };
static const struct directive post_dirs[] = { HOOK_DIRS(GUARD(post_call)) };
static const struct section pre_sec = SECTION(pre_dirs, 0, NULL);
static const struct section post_sec = SECTION(post_dirs, 0, NULL);

static const struct directive block_dirs[] = {
	STRLIST("keywords", GUARD(keywords), GUARD(nkeywords), 0, 256),
	STRLIST("patterns", GUARD(patterns), GUARD(npatterns), 0, 64),
	STR("message", GUARD(message), 0),
	BOOL("answers", GUARD(check_answers), 0),
};
static const struct section block_sec = SECTION(block_dirs, 0, NULL);

/* A hook's URL is http(s); on_error defaults to allow (fail open). */
static void
hook_finish(struct loader *ld, const yaml_node_t *map, const char *phase,
    struct aif_guard_hook *h)
{
	const yaml_node_t *sec = aif_walk_lookup(ld, map, phase);
	char what[256];

	snprintf(what, sizeof(what), "%s.%s.url", aif_walk_where(ld), phase);
	aif_walk_http_url(ld, sec != NULL ? sec : map, "url", h->url, what);
	h->fail_closed = h->on_error != NULL && strcmp(h->on_error, "block") == 0;
}

/* Each block pattern compiles (the same options as the PII rules': UTF, no \C) and
 * cannot match the empty string; each keyword is a non-empty line. */
static void
block_finish(struct loader *ld, const yaml_node_t *map, struct aif_guardrail *g)
{
	const yaml_node_t *block = aif_walk_lookup(ld, map, "block"), *list;
	char msg[256];
	size_t off;

	for (size_t i = 0; i < g->npatterns; i++) {
		if (aif_pii_rule_check(g->patterns[i], 0, msg, sizeof(msg), &off) == 0)
			continue;
		list = block != NULL ? aif_walk_lookup(ld, block, "patterns") : NULL;
		aif_walk_error_at(ld, (list != NULL ? list : map)->start_mark,
		    "%s.block.patterns[%zu]: %s (at offset %zu)", aif_walk_where(ld), i, msg,
		    off);
	}
	for (size_t i = 0; i < g->nkeywords; i++)
		if (g->keywords[i][0] == '\0' || strpbrk(g->keywords[i], "\r\n") != NULL) {
			list = block != NULL ? aif_walk_lookup(ld, block, "keywords") : NULL;
			aif_walk_error_at(ld, (list != NULL ? list : map)->start_mark,
			    "%s.block.keywords[%zu]: empty or more than one line",
			    aif_walk_where(ld), i);
		}
}

static void
guardrail_finish(struct loader *ld, void *obj, const yaml_node_t *map)
{
	struct aif_guardrail *g = obj;
	char def[160];

	aif_walk_star_list(ld, &g->models, &g->nmodels);
	aif_walk_star_list(ld, &g->roles, &g->nroles);
	hook_finish(ld, map, "pre_call", &g->pre_call);
	hook_finish(ld, map, "post_call", &g->post_call);
	block_finish(ld, map, g);
	if (g->message == NULL && g->name != NULL) {
		snprintf(def, sizeof(def), "blocked by guardrail %s", g->name);
		g->message = aif_walk_strdup(ld, def);
	}
}

static void
check_guard_name(struct loader *ld, void *obj, const yaml_node_t *val)
{
	const char *why, *name = ((const struct aif_guardrail *)obj)->name;

	if (name != NULL && !aif_name_valid(name, &why))
		aif_walk_error_at(ld, val->start_mark, "%s: the name %s", aif_walk_where(ld),
		    why);
	else if (name != NULL && strchr(name, ',') != NULL)	/* jobs list them by ',' */
		aif_walk_error_at(ld, val->start_mark, "%s: the name contains a comma",
		    aif_walk_where(ld));
}

void
aif_cfg_guardrails_finish(struct loader *ld, const yaml_node_t *root,
    const struct aif_config *cfg)
{
	size_t total = 0;
	const yaml_node_t *at;

	/* a job keeps the names of its guardrails, comma-separated, in 255 bytes: every
	   name fits at once, so none is ever left out */
	for (size_t i = 0; i < cfg->nguardrails; i++)
		total += cfg->guardrails[i].name != NULL ? strlen(cfg->guardrails[i].name) + 1 : 0;
	if (total > 256) {
		at = aif_walk_lookup(ld, root, "guardrails");
		aif_walk_error_at(ld, (at != NULL ? at : root)->start_mark,
		    "guardrails: the names together are longer than 255 bytes (with a comma "
		    "between each); shorten them");
	}
}

static const struct directive guardrail_dirs[] = {
	{ .name = "name", .type = D_STR, .off = GUARD(name), .flags = F_REQUIRED,
	  .check = check_guard_name },
	STRLIST("models", GUARD(models), GUARD(nmodels), 1, AIF_CFG_MAX_PATTERNS),
	STRLIST("roles", GUARD(roles), GUARD(nroles), 1, AIF_CFG_MAX_PATTERNS),
	MAP("block", &block_sec, 0),
	MAP("pre_call", &pre_sec, 0),
	MAP("post_call", &post_sec, 0),
};
const struct section aif_cfg_guardrail_section =
    SECTION(guardrail_dirs, sizeof(struct aif_guardrail), guardrail_finish);
