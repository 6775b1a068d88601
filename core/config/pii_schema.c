/* pii_schema.c -- the `pii:` section of the configuration (docs/PII.md): its
 * directive tables, the names of actions and styles, and the finish hooks that derive
 * enums, check names, regexes (pii_rules.c) and cross-entry rules. config.c links it
 * in as aif_cfg_pii_section. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pii_types.h"
#include "walk.h"

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
	const yaml_node_t *v = aif_walk_lookup(ld, map, key);

	return v != NULL ? v : map;
}

/* Node of pii.<list>[i].<key> (or of the closest enclosing node) below `pii`. */
static const yaml_node_t *
pii_entry_at(const struct loader *ld, const yaml_node_t *pii, const char *list,
    size_t i, const char *key)
{
	const yaml_node_t *seq = aif_walk_lookup(ld, pii, list), *e;

	if (seq == NULL || seq->type != YAML_SEQUENCE_NODE ||
	    (long)i >=
	        (long)(seq->data.sequence.items.top - seq->data.sequence.items.start))
		return pii;
	e = aif_walk_item(ld, seq, (long)i);
	return key != NULL ? pii_at(ld, e, key) : e;
}

static void
pii_mark(const yaml_node_t *n, int *line, int *column)
{
	*line = (int)n->start_mark.line + 1;
	*column = (int)n->start_mark.column + 1;
}

/* An entry's action and style from their names, and where `at` is (its messages'
 * position). */
static void
finish_action(struct loader *ld, const yaml_node_t *map, const char *at,
    const char *action_name, const char *style_name, int *action, int *style,
    int *line, int *column)
{
	*action = pii_action_of(action_name);
	*style = pii_style_of(style_name);
	pii_mark(pii_at(ld, map, at), line, column);
}

static void
pii_detector_finish(struct loader *ld, void *obj, const yaml_node_t *map)
{
	struct aif_pii_detector *d = obj;

	finish_action(ld, map, "action", d->action_name, d->mask_style_name, &d->action,
	    &d->mask_style, &d->line, &d->column);
}

static void
pii_rule_finish(struct loader *ld, void *obj, const yaml_node_t *map)
{
	struct aif_pii_rule	*r = obj;
	char			 msg[256], show[AIF_CFG_MAX_SHOWN + 4];
	size_t			 off = 0;

	finish_action(ld, map, "pattern", r->action_name, r->mask_style_name, &r->action,
	    &r->mask_style, &r->line, &r->column);
	r->validation = r->validation_name == NULL ? AIF_PII_VALIDATE_NONE :
	    strcmp(r->validation_name, "luhn") == 0 ? AIF_PII_VALIDATE_LUHN :
	    strcmp(r->validation_name, "mod97") == 0 ? AIF_PII_VALIDATE_MOD97 :
	    AIF_PII_VALIDATE_NONE;
	if (r->entity != NULL && !aif_pii_type_name_ok(r->entity))
		aif_walk_error_at(ld, pii_at(ld, map, "entity")->start_mark,
		    "%s.entity: '%s' is not a type name ([A-Z][A-Z0-9_]*, at most %d "
		    "characters)",
		    aif_walk_where(ld),
		    aif_walk_shown(show, r->entity, strlen(r->entity)),
		    AIF_PII_TYPE_LEN - 1);
	if (r->pattern != NULL &&
	    aif_pii_rule_check(r->pattern, r->case_insensitive, msg, sizeof(msg),
	    &off) != 0)
		aif_walk_error_at(ld, pii_at(ld, map, "pattern")->start_mark,
		    "%s.pattern: %s (at offset %zu of the pattern)", aif_walk_where(ld),
		    msg, off);
}

static void
pii_override_finish(struct loader *ld, void *obj, const yaml_node_t *map)
{
	struct aif_pii_override *o = obj;

	finish_action(ld, map, "action", o->action_name, o->mask_style_name, &o->action,
	    &o->mask_style, &o->line, &o->column);
}

static void
pii_policy_finish(struct loader *ld, void *obj, const yaml_node_t *map)
{
	struct aif_pii_policy *p = obj;

	(void)map;
	aif_walk_star_list(ld, &p->models, &p->nmodels);
	aif_walk_star_list(ld, &p->roles, &p->nroles);
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
				aif_walk_error_at(ld,
				    pii_entry_at(ld, map, "detectors", i, "entity")
				        ->start_mark,
				    "pii.detectors[%zu].entity: "
				    "duplicate entity '%s' (first at line %zu)",
				    i, cfg->pii.detectors[i].entity,
				    pii_entry_at(ld, map, "detectors", j, "entity")
				            ->start_mark.line +
				        1);
				break;
			}
	for (i = 0; i < cfg->pii.nrules; i++) {
		const struct aif_pii_rule *r = &cfg->pii.rules[i];
		int new_type = r->entity != NULL;

		for (j = 0; j < i; j++) {
			const struct aif_pii_rule *q = &cfg->pii.rules[j];

			if (r->name != NULL && q->name != NULL &&
			    strcmp(r->name, q->name) == 0)
				aif_walk_error_at(ld, pii_entry_at(ld, map, "rules", i,
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
				aif_walk_error_at(ld,
				    pii_entry_at(ld, map, "rules", i, "action")
				        ->start_mark,
				    "pii.rules[%zu].action: rules of "
				    "entity '%s' disagree on the action (see line %zu); "
				    "actions are per entity type",
				    i, r->entity,
				    pii_entry_at(ld, map, "rules", j, "action")
				            ->start_mark.line +
				        1);
		}
		for (j = 0; new_type && pii_builtins[j] != NULL; j++)
			if (strcmp(pii_builtins[j], r->entity) == 0)
				new_type = 0;
		if (new_type && ++ntypes > AIF_PII_MAX_TYPES)
			aif_walk_error_at(ld,
			    pii_entry_at(ld, map, "rules", i, "entity")->start_mark,
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
		aif_walk_error_at(ld, pii_at(ld, map, "hash_length")->start_mark,
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
				    i, NULL), *acts = aif_walk_lookup(ld, pol, "actions");
				const yaml_node_t *at = acts != NULL &&
				        acts->type == YAML_SEQUENCE_NODE
				    ? pii_at(
				          ld, aif_walk_item(ld, acts, (long)k), "entity")
				    : pol;

				aif_walk_error_at(ld, at->start_mark,
				    "pii.policies[%zu].actions[%zu]."
				    "entity: '%s' is neither a built-in type nor the "
				    "entity "
				    "of a rule",
				    i, k, o->entity);
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
	auth = root != NULL ? aif_walk_lookup(ld, root, "auth") : NULL;
	pepper = auth != NULL ? aif_walk_lookup(ld, auth, "pepper_file") : NULL;
	if (pepper == NULL || pepper->type != YAML_SCALAR_NODE ||
	    pepper->data.scalar.length == 0) {
		yaml_mark_t mark = { 0, 0, 0 };

		mark.line = (size_t)cfg->pii.hash_line - 1;
		mark.column = (size_t)cfg->pii.hash_column - 1;
		aif_walk_error_at(ld, mark,
		    "pii: the hash action needs a key: set "
		    "pii.hash_key_file (or auth.pepper_file, from which a key is "
		    "derived)");
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
	BOOL("enabled", PII_DET(enabled), 1),
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
	BOOL("enabled", PII_RULE(enabled), 1),
	BOOL("case_insensitive", PII_RULE(case_insensitive), 0),
	{ .name = "validation", .type = D_STR, .off = PII_RULE(validation_name),
	  .choices = pii_validations },
	STRLIST("context", PII_RULE(context), PII_RULE(ncontext), 1, 64),
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
	STRLIST("models", PII_POL(models), PII_POL(nmodels), 1, AIF_CFG_MAX_PATTERNS),
	STRLIST("roles", PII_POL(roles), PII_POL(nroles), 1, AIF_CFG_MAX_PATTERNS),
	SEQMAP("actions", PII_POL(actions), PII_POL(nactions), 1, 256,
	    &pii_override_sec, F_REQUIRED),
};
static const struct section pii_policy_sec =
    SECTION(pii_policy_dirs, sizeof(struct aif_pii_policy), pii_policy_finish);

static const struct directive pii_dirs[] = {
	BOOL("enabled", PII(enabled), UNSET),
	BOOL("mask_responses", PII(mask_responses), 0),
	{ .name = "default_action", .type = D_STR, .off = PII(default_action_name),
	  .choices = pii_actions },
	{ .name = "mask_style", .type = D_STR, .off = PII(mask_style_name),
	  .choices = pii_styles },
	STR("hash_key_file", PII(hash_key_file), 0),
	INT("hash_length", PII(hash_length), 8, 64, 8),
	SEQMAP("detectors", PII(detectors), PII(ndetectors), 0, AIF_PII_NBUILTIN,
	    &pii_detector_sec, 0),
	SEQMAP("rules", PII(rules), PII(nrules), 0, AIF_PII_MAX_RULES, &pii_rule_sec, 0),
	SEQMAP("policies", PII(policies), PII(npolicies), 0, 256, &pii_policy_sec, 0),
};
const struct section aif_cfg_pii_section = SECTION(pii_dirs, 0, pii_finish);
