/* config.c -- loads the YAML configuration into a struct aif_config and validates it:
 * the schema (one directive table per section: name, type, offset, min, max,
 * default, required), the finish hooks with the cross-field checks, the public
 * loading and lookup functions. The walk itself (expansion, conversion, positions of
 * errors) is walk.c; the `pii:` section is pii_schema.c. Every problem is reported as
 * "file:line:column: message" and the load fails at the end if any was found. */
#include <arpa/inet.h>
#include <errno.h>
#include <fnmatch.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "secret.h"
#include "text.h"
#include "walk.h"
#include "workflow.h"

#define AIF_CFG_MAX_MODELS	1024
#define AIF_CFG_MAX_REPLICAS	256
#define AIF_CFG_MAX_ROLES	1024
#define AIF_CFG_MAX_OPTIONS	32	/* settings in a model's adapter section */
#define AIF_CFG_MAX_ADAPTERS	64	/* adapter names listed in a message */

static const char *const disconnect_policies[] = { "finish", "cancel", NULL };

/* ---- finish hooks: computed defaults and cross-field rules ------------------------ */

/* 1 when h is an HTTP field name (RFC 9110 section 5.1: a token) of at most 64 bytes. */
#define header_name_ok(h)	aif_token_ok((h), 64, "!#$%&'*+-.^_`|~")
#define ALIAS_MAX		128	/* bytes of a model alias (jobs.model is 128) */

static void
replica_finish(struct loader *ld, void *obj, const yaml_node_t *map)
{
	struct aif_replica	*r = obj;
	const yaml_node_t	*url, *file, *hdr;

	if (r->url != NULL && strncmp(r->url, "http://", 7) != 0 &&
	    strncmp(r->url, "https://", 8) != 0) {
		url = aif_walk_lookup(ld, map, "url");
		aif_walk_error_at(ld, url != NULL ? url->start_mark : map->start_mark,
		    "%s.url: must start with http:// or https://", aif_walk_where(ld));
	}
	file = aif_walk_lookup(ld, map, "api_key_file");
	hdr = aif_walk_lookup(ld, map, "api_key_header");
	if (file != NULL) {
		r->api_key_line = (int)file->start_mark.line + 1;
		r->api_key_column = (int)file->start_mark.column + 1;
	}
	if (r->api_key_header != NULL && !header_name_ok(r->api_key_header))
		aif_walk_error_at(ld, hdr != NULL ? hdr->start_mark : map->start_mark,
		    "%s.api_key_header: expected an HTTP header name (letters, digits and "
		    "!#$%%&'*+-.^_`|~, at most 64), such as X-API-Key", aif_walk_where(ld));
	else if (r->api_key_header != NULL && r->api_key_file == NULL)
		aif_walk_error_at(ld, hdr != NULL ? hdr->start_mark : map->start_mark,
		    "%s.api_key_header: needs api_key_file (the key it carries)",
		    aif_walk_where(ld));
}

/* roles[].name and tenants[].name: names operators read in tables, logs and CSV
 * (core/base/text.h: no control or invisible characters, at most 128 bytes). */
static void
check_name(struct loader *ld, const char *name, const yaml_node_t *val)
{
	const char	*why;

	if (name != NULL && !aif_name_valid(name, &why))
		aif_walk_error_at(ld, val->start_mark, "%s: the name %s", aif_walk_where(ld),
		    why);
}

static void
check_role_name(struct loader *ld, void *obj, const yaml_node_t *val)
{
	check_name(ld, ((const struct aif_role *)obj)->name, val);
}

static void
check_tenant_name(struct loader *ld, void *obj, const yaml_node_t *val)
{
	check_name(ld, ((const struct aif_tenant *)obj)->name, val);
}

static void
model_finish(struct loader *ld, void *obj, const yaml_node_t *map)
{
	struct aif_model	*m = obj;

	(void)map;
	if (m->engine == NULL && m->adapter != NULL)
		m->engine = aif_walk_strdup(ld, m->adapter);
	if (m->upstream_model == NULL && m->id != NULL)
		m->upstream_model = aif_walk_strdup(ld, m->id);
	if (m->owned_by == NULL)
		m->owned_by = aif_walk_strdup(ld, "aif");
	if (m->chat_template == NULL)
		m->chat_template = aif_walk_strdup(ld, "chatml");
	m->retry.non_retryable = 0;
	for (size_t k = 0; k < m->retry.nnon_retryable; k++) {
		const char *n = m->retry.non_retryable_names[k];

		m->retry.non_retryable |= strcmp(n, "retryable") == 0 ?
		    AIF_FAILCLASS_RETRYABLE : strcmp(n, "overloaded") == 0 ?
		    AIF_FAILCLASS_OVERLOADED : AIF_FAILCLASS_TIMEOUT;
	}
}

/* A model's adapter section: the key that names the model's own adapter
 * (`triton:` under `adapter: triton`), a mapping of scalars kept as written. */
static int
model_options(struct loader *ld, void *obj, const yaml_node_t *map,
    const yaml_node_t *key, const yaml_node_t *val)
{
	struct aif_model	*m = obj;
	const yaml_node_t	*adapter = aif_walk_lookup(ld, map, "adapter");
	const yaml_node_pair_t	*pair;
	char			 buf[AIF_CFG_MAX_SCALAR + 1], show[AIF_CFG_MAX_SHOWN + 4];
	size_t			 n, old;

	if (adapter == NULL || adapter->type != YAML_SCALAR_NODE ||
	    adapter->data.scalar.length != key->data.scalar.length ||
	    memcmp(adapter->data.scalar.value, key->data.scalar.value,
	    key->data.scalar.length) != 0)
		return 0;
	old = aif_walk_path_key(ld, (const char *)key->data.scalar.value);
	if (m->options != NULL)
		aif_walk_error_at(
		    ld, key->start_mark, "%s: duplicate key", aif_walk_where(ld));
	else if (val->type != YAML_MAPPING_NODE)
		aif_walk_error_at(ld, val->start_mark, "%s: expected a mapping, got %s",
		    aif_walk_where(ld), aif_walk_node_kind(val));
	else if ((n = (size_t)(val->data.mapping.pairs.top -
	    val->data.mapping.pairs.start)) > AIF_CFG_MAX_OPTIONS)
		aif_walk_error_at(ld, val->start_mark, "%s: at most %d settings",
		    aif_walk_where(ld), AIF_CFG_MAX_OPTIONS);
	else if ((m->options = calloc(n ? n : 1, sizeof(*m->options))) == NULL)
		ld->nomem = 1;
	else {
		for (pair = val->data.mapping.pairs.start;
		    pair < val->data.mapping.pairs.top; pair++) {
			const yaml_node_t *k = yaml_document_get_node(ld->doc, pair->key);
			const yaml_node_t *v = yaml_document_get_node(
			    ld->doc, pair->value);
			struct aif_cfg_option *o = &m->options[m->noptions];
			size_t kold;
			if (k->type != YAML_SCALAR_NODE) {
				aif_walk_error_at(ld, k->start_mark,
				    "%s: key must be a scalar, got %s",
				    aif_walk_where(ld), aif_walk_node_kind(k));
				continue;
			}
			kold = aif_walk_path_key(ld, (const char *)k->data.scalar.value);
			for (size_t j = 0; j < m->noptions; j++)
				if (strcmp(m->options[j].key,
				        (const char *)k->data.scalar.value) == 0)
					aif_walk_error_at(ld, k->start_mark,
					    "%s: duplicate key '%s'", aif_walk_where(ld),
					    aif_walk_shown(show,
					        (const char *)k->data.scalar.value,
					        k->data.scalar.length));
			if (aif_walk_scalar(ld, v, "a scalar", buf) == 0) {
				o->key = aif_walk_strdup(
				    ld, (const char *)k->data.scalar.value);
				o->value = aif_walk_strdup(ld, buf);
				o->line = (int)v->start_mark.line + 1;
				o->column = (int)v->start_mark.column + 1;
				m->noptions++;
			}
			aif_walk_path_pop(ld, kold);
		}
	}
	aif_walk_path_pop(ld, old);
	return 1;
}

const char *
aif_cfg_option(const struct aif_model *m, const char *key, const char *def)
{
	for (size_t i = 0; i < m->noptions; i++)
		if (strcmp(m->options[i].key, key) == 0)
			return m->options[i].value;
	return def;
}

static void
role_finish(struct loader *ld, void *obj, const yaml_node_t *map)
{
	struct aif_role	*r = obj;

	(void)map;
	aif_walk_star_list(ld, &r->models, &r->nmodels);
	aif_walk_star_list(ld, &r->endpoints, &r->nendpoints);
}

static void
database_finish(struct loader *ld, void *obj, const yaml_node_t *map)
{
	struct aif_config	*cfg = obj;

	if (cfg->database.socket == NULL && cfg->database.host == NULL)
		aif_walk_error_at(ld, map->start_mark,
		    "%s: one of 'socket' or 'host' is required", aif_walk_where(ld));
	else if (cfg->database.socket != NULL && cfg->database.host != NULL)
		aif_walk_error_at(ld, map->start_mark,
		    "%s: 'socket' and 'host' exclude each other", aif_walk_where(ld));
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

	seq = aif_walk_lookup(ld, root, key);
	if (seq == NULL || seq->type != YAML_SEQUENCE_NODE ||
	    (size_t)(seq->data.sequence.items.top - seq->data.sequence.items.start) != n)
		return;
	for (i = 1; i < n; i++) {
		if ((b = name_of(arr, i)) == NULL)
			continue;
		for (j = 0; j < i; j++) {
			if ((a = name_of(arr, j)) == NULL || strcmp(a, b) != 0)
				continue;
			first = aif_walk_lookup(
			    ld, aif_walk_item(ld, seq, (long)j), field);
			dup = aif_walk_lookup(ld, aif_walk_item(ld, seq, (long)i), field);
			if (first == NULL || dup == NULL)
				break;
			aif_walk_error_at(ld, dup->start_mark,
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
guard_name(const void *arr, size_t i)
{
	return ((const struct aif_guardrail *)arr)[i].name;
}

static const char *
tenant_name(const void *arr, size_t i)
{
	return ((const struct aif_tenant *)arr)[i].name;
}

const struct aif_tenant *
aif_cfg_tenant(const struct aif_config *cfg, const char *name)
{
	for (size_t i = 0; i < cfg->ntenants; i++)
		if (strcmp(cfg->tenants[i].name, name) == 0)
			return &cfg->tenants[i];
	return NULL;
}

static void
finish_autoscale(struct loader *ld, const yaml_node_t *root, struct aif_config *cfg)
{
	struct aif_autoscale *a = &cfg->autoscale;
	const yaml_node_t *sec = aif_walk_lookup(ld, root, "autoscale");

	a->enabled = sec != NULL;
	if (a->start_command == NULL)
		a->start_command = aif_walk_strdup(ld, "systemctl start aif-worker@{n}");
	if (a->stop_command == NULL)
		a->stop_command = aif_walk_strdup(ld, "systemctl stop aif-worker@{n}");
	if (a->min_workers > a->max_workers && sec != NULL)
		aif_walk_error_at(
		    ld, sec->start_mark, "autoscale: min_workers is above max_workers");
	for (size_t i = 0; i < a->nengines; i++)
		if (a->engines[i].min_replicas > a->engines[i].max_replicas &&
		    sec != NULL)
			aif_walk_error_at(ld, sec->start_mark,
			    "autoscale.engines[%zu]: min_replicas is "
			    "above max_replicas",
			    i);
}

/* models[].compensations[]: the method's default; the URL is http(s). */
static void
comp_finish(struct loader *ld, void *obj, const yaml_node_t *map)
{
	struct aif_compensation	*c = obj;
	char what[256];

	if (c->method == NULL)
		c->method = aif_walk_strdup(ld, "POST");
	snprintf(what, sizeof(what), "%s.url", aif_walk_where(ld));
	aif_walk_http_url(ld, map, "url", c->url, what);
}

/* The adapters' checks (when the program gave them): models[].adapter is one of
 * theirs, and the adapter accepts the model's section and chat template. */
struct adapter_report {
	struct loader		*ld;
	const yaml_node_t	*model;		/* the model's mapping, or NULL */
	size_t			 index;
};

static void
adapter_problem(void *ctx, const char *key, const char *message)
{
	struct adapter_report	*r = ctx;
	struct loader		*ld = r->ld;
	const yaml_node_t	*at = r->model, *n;
	const char		*dot = strchr(key, '.');
	char			 section[64];

	if (dot == NULL)
		at = (n = aif_walk_lookup(ld, r->model, key)) != NULL ? n : at;
	else if ((size_t)(dot - key) < sizeof(section)) {
		memcpy(section, key, (size_t)(dot - key));
		section[dot - key] = '\0';
		if ((n = aif_walk_lookup(
		         ld, aif_walk_lookup(ld, r->model, section), dot + 1)) != NULL)
			at = n;
		else if ((n = aif_walk_lookup(ld, r->model, section)) != NULL)
			at = n;
	}
	if (at == NULL)
		aif_walk_error_plain(ld, "models[%zu].%s: %s", r->index, key, message);
	else
		aif_walk_error_at(
		    ld, at->start_mark, "models[%zu].%s: %s", r->index, key, message);
}

static int
adapter_known(const struct aif_cfg_adapters *a, const char *name)
{
	for (size_t k = 0; a->name_at(k) != NULL; k++)
		if (strcmp(a->name_at(k), name) == 0)
			return 1;
	return 0;
}

/* models[].adapter, checked where it is written (when the program gave its
 * adapters): it names one of them. */
static void
check_adapter_name(struct loader *ld, void *obj, const yaml_node_t *val)
{
	const struct aif_model	*m = obj;
	const char		*names[AIF_CFG_MAX_ADAPTERS + 1];
	char			 list[256], show[AIF_CFG_MAX_SHOWN + 4];
	size_t			 k;

	if (ld->adapters == NULL || m->adapter == NULL ||
	    adapter_known(ld->adapters, m->adapter))
		return;
	for (k = 0; k < AIF_CFG_MAX_ADAPTERS &&
	    (names[k] = ld->adapters->name_at(k)) != NULL; k++)
		;
	names[k] = NULL;
	aif_walk_error_at(ld, val->start_mark, "%s: '%s' is not one of: %s",
	    aif_walk_where(ld), aif_walk_shown_node(show, val, m->adapter),
	    aif_walk_joined(list, sizeof(list), names));
}

/* Each model's adapter accepts the model's section and chat template; then it
 * prepares what its calls read. */
static void
check_adapters(struct loader *ld, const yaml_node_t *root, struct aif_config *cfg)
{
	const yaml_node_t	*seq = aif_walk_lookup(ld, root, "models");
	const struct aif_cfg_adapters *a = ld->adapters;

	if (a == NULL || a->check_model == NULL)
		return;
	for (size_t i = 0; i < cfg->nmodels; i++) {
		struct aif_model *m = &cfg->models[i];
		struct adapter_report r = { ld,
			seq ? aif_walk_item(ld, seq, (long)i) : NULL, i };
		unsigned errors = ld->nerrors;
		if (m->adapter == NULL || !adapter_known(a, m->adapter))
			continue;
		a->check_model(m, adapter_problem, &r);
		if (a->prepare_model == NULL || ld->nerrors != errors)
			continue;
		m->adapter_hooks = a;
		if (a->prepare_model(m) != AIF_OK)
			ld->nomem = 1;
	}
}

/* The model of cfg other than `self` (or any, self NULL) with id or alias `name`. */
static const struct aif_model *
named(const struct aif_config *cfg, const struct aif_model *self, const char *name)
{
	for (size_t j = 0; j < cfg->nmodels; j++)
		if (&cfg->models[j] != self && aif_cfg_model_has_name(&cfg->models[j], name))
			return &cfg->models[j];
	return NULL;
}

/* What is wrong with models[].fallbacks[k] of m (NULL: nothing): it names another
 * configured model (by id or alias). */
static const char *
fallback_wrong(const struct aif_config *cfg, const struct aif_model *m, size_t k)
{
	return named(cfg, m, m->fallbacks[k]) == NULL ? "is not another configured model" :
	    NULL;
}

/* What is wrong with models[].aliases[k] of m (NULL: nothing): a name as a model id may
 * be, unique among the ids and aliases of every model (workflow names are checked
 * against both by workflow.c). */
static const char *
alias_wrong(const struct aif_config *cfg, const struct aif_model *m, size_t k)
{
	const char *a = m->aliases[k];

	if (!aif_token_ok(a, ALIAS_MAX, "._:/-"))
		return "is not a model name ([A-Za-z0-9._:/-], at most 128)";
	if ((m->id != NULL && strcmp(a, m->id) == 0) || named(cfg, m, a) != NULL)
		return "is already the id or an alias of a model";
	for (size_t j = 0; j < k; j++)
		if (strcmp(m->aliases[j], a) == 0)
			return "is listed twice";
	return NULL;
}

/* A list of names of every model (its strings at offset `names`, its count at `count`
 * of struct aif_model): each entry that wrong() finds wrong is an error at its place. */
static void
check_model_names(struct loader *ld, const yaml_node_t *root, const struct aif_config *cfg,
    const char *key, size_t names, size_t count,
    const char *(*wrong)(const struct aif_config *, const struct aif_model *, size_t))
{
	const yaml_node_t *seq = aif_walk_lookup(ld, root, "models");

	/* otherwise the models were refused already */
	if (seq == NULL || seq->type != YAML_SEQUENCE_NODE ||
	    (size_t)(seq->data.sequence.items.top - seq->data.sequence.items.start) !=
	    cfg->nmodels)
		return;
	for (size_t i = 0; i < cfg->nmodels; i++) {
		const struct aif_model *m = &cfg->models[i];
		char *const *list = *(char **const *)((const char *)m + names);
		size_t n = *(const size_t *)((const char *)m + count);
		const yaml_node_t *at, *node = aif_walk_lookup(
		    ld, aif_walk_item(ld, seq, (long)i), key);
		for (size_t k = 0; node != NULL && k < n; k++) {
			const char *why = wrong(cfg, m, k);
			if (why == NULL)
				continue;
			at = aif_walk_item(ld, node, (long)k);
			aif_walk_error_at(ld, (at ? at : node)->start_mark,
			    "models[%zu].%s[%zu]: '%s' %s", i, key, k, list[k], why);
		}
	}
}

static void
root_finish(struct loader *ld, void *obj, const yaml_node_t *map)
{
	struct aif_config	*cfg = obj;
	size_t			 i;

	for (i = 0; i < cfg->nmodels; i++) {
		struct aif_model *m = &cfg->models[i];

		if (m->max_attempts == UNSET)
			m->max_attempts = cfg->queue.max_attempts;
		if (m->retry.maximum_attempts == UNSET)
			m->retry.maximum_attempts = m->max_attempts;
		/* the model's max_attempts is what the queue enforces: keep them one */
		m->max_attempts = m->retry.maximum_attempts;
	}
	cfg->queue.idempotency_window_s = cfg->queue.idempotency_window_ms / 1000;
	if (cfg->tracing.service_name == NULL)
		cfg->tracing.service_name = aif_walk_strdup(ld, "aif-gateway");
	for (i = 0; i < cfg->nroles; i++)
		if (cfg->roles[i].max_priority == UNSET)
			cfg->roles[i].max_priority = cfg->queue.default_priority;
	check_unique(ld, map, "models", "id", "model id", model_id, cfg->models,
	    cfg->nmodels);
	check_unique(ld, map, "roles", "name", "role name", role_name, cfg->roles,
	    cfg->nroles);
	check_model_names(ld, map, cfg, "aliases", offsetof(struct aif_model, aliases),
	    offsetof(struct aif_model, naliases), alias_wrong);
	check_model_names(ld, map, cfg, "fallbacks", offsetof(struct aif_model, fallbacks),
	    offsetof(struct aif_model, nfallbacks), fallback_wrong);
	finish_autoscale(ld, map, cfg);
	check_adapters(ld, map, cfg);
	check_unique(ld, map, "tenants", "name", "tenant name", tenant_name, cfg->tenants,
	    cfg->ntenants);
	check_unique(ld, map, "guardrails", "name", "guardrail name", guard_name,
	    cfg->guardrails, cfg->nguardrails);
	aif_cfg_guardrails_finish(ld, map, cfg);
	aif_wf_load(ld, aif_walk_lookup(ld, map, "workflows"), cfg);
}

/* The top-level `workflows` key: walked by workflow.c in root_finish, once the models
 * it names are known. A second one is a duplicate key. */
static int
root_extra(struct loader *ld, void *obj, const yaml_node_t *map, const yaml_node_t *key,
    const yaml_node_t *val)
{
	(void)obj;
	if (key->data.scalar.length != 9 ||
	    memcmp(key->data.scalar.value, "workflows", 9) != 0)
		return 0;
	if (aif_walk_lookup(ld, map, "workflows") != val)
		aif_walk_error_at(ld, key->start_mark, "top level: duplicate key "
		    "'workflows'");
	return 1;
}

/* ---- the schema ------------------------------------------------------------------- */


static const struct directive replica_dirs[] = {
	STR("url", offsetof(struct aif_replica, url), F_REQUIRED),
	INT("max_in_flight", offsetof(struct aif_replica, max_in_flight), 1, 4096, 64),
	STR("api_key_file", offsetof(struct aif_replica, api_key_file), 0),
	STR("api_key_header", offsetof(struct aif_replica, api_key_header), 0),
};
static const struct section replica_sec =
    SECTION(replica_dirs, sizeof(struct aif_replica), replica_finish);

static const struct directive pricing_dirs[] = {
	I64("input_per_mtok", offsetof(struct aif_model, pricing.input_per_mtok), 0,
	    INT64_MAX, 0),
	I64("output_per_mtok", offsetof(struct aif_model, pricing.output_per_mtok), 0,
	    INT64_MAX, 0),
};
static const struct section pricing_sec = SECTION(pricing_dirs, 0, NULL);

static const char *const failure_classes[] = {
	"retryable", "overloaded", "timeout", NULL
};
#define RETRY(f)	offsetof(struct aif_model, retry.f)
static const struct directive retry_dirs[] = {
	RETRY_DIRS(offsetof(struct aif_model, retry), 500, 10 * DURATION_S),
	INT("maximum_attempts", RETRY(maximum_attempts), 1, 100, UNSET),
	{ .name = "non_retryable", .type = D_STRLIST, .off = RETRY(non_retryable_names),
	  .count_off = RETRY(nnon_retryable), .min = 0, .max = 3,
	  .choices = failure_classes },
};
static const struct section retry_sec = SECTION(retry_dirs, 0, NULL);

static const char *const http_methods[] = { "POST", "PUT", "DELETE", "GET", NULL };
#define COMP(f)		offsetof(struct aif_compensation, f)
static const struct directive comp_retry_dirs[] = {
	RETRY_DIRS(offsetof(struct aif_compensation, retry), DURATION_S, DURATION_M),
	INT("maximum_attempts", COMP(retry.maximum_attempts), 0, 10000, 0),
};
static const struct section comp_retry_sec = SECTION(comp_retry_dirs, 0, NULL);
static const struct directive comp_dirs[] = {
	STR("name", COMP(name), F_REQUIRED),
	STR("url", COMP(url), F_REQUIRED),
	{ .name = "method", .type = D_STR, .off = COMP(method), .choices = http_methods },
	STR("body", COMP(body), 0),
	INT("timeout_ms", COMP(timeout_ms), 100, 60000, 5000),
	MAP("retry", &comp_retry_sec, 0),
};
static const struct section comp_sec =
    SECTION(comp_dirs, sizeof(struct aif_compensation), comp_finish);

#define MODEL(f)	offsetof(struct aif_model, f)
static const struct directive model_dirs[] = {
	STR("id", MODEL(id), F_REQUIRED),
	{ .name = "adapter", .type = D_STR, .off = MODEL(adapter),
	  .flags = F_REQUIRED, .check = check_adapter_name },
	STR("engine", MODEL(engine), 0),
	STR("upstream_model", MODEL(upstream_model), 0),
	STR("owned_by", MODEL(owned_by), 0),
	{ .name = "kinds", .type = D_KINDS, .off = MODEL(kinds), .min = 1,
	  .max = AIF_KIND_COUNT, .def = AIF_KIND_CHAT | AIF_KIND_COMPLETION },
	SEQMAP("replicas", MODEL(replicas), MODEL(nreplicas), 1, AIF_CFG_MAX_REPLICAS,
	    &replica_sec, F_REQUIRED),
	INT("max_in_flight", MODEL(max_in_flight), 1, 65536, 64),
	INT("timeout_ms", MODEL(timeout_ms), 100, 3600000, 60000),
	INT("max_attempts", MODEL(max_attempts), 1, 100, UNSET),
	INT("max_output_tokens", MODEL(max_output_tokens), 1, 1048576, 4096),
	MAP("pricing", &pricing_sec, 0),
	STRLIST("aliases", MODEL(aliases), MODEL(naliases), 0, 16),
	STRLIST("fallbacks", MODEL(fallbacks), MODEL(nfallbacks), 0, 16),
	INT("circuit_failures", MODEL(circuit_failures), 1, 1000, 3),
	INT("circuit_open_ms", MODEL(circuit_open_ms), 100, 600000, 5000),
	STR("chat_template", MODEL(chat_template), 0),
	MAP("retry", &retry_sec, 0),
	SEQMAP("compensations", MODEL(compensations), MODEL(ncompensations), 0, 16,
	    &comp_sec, 0),
	BOOL("optional", MODEL(optional), 0),
	BOOL("zero_retention", MODEL(zero_retention), 0),
};
static const struct section model_sec = SECTION_EXTRA(model_dirs,
    sizeof(struct aif_model), model_finish, model_options);

/* A role's or tenant's limits (-1: none), at OFF(field) of its struct. */
#define LIMIT_DIRS(OFF)							\
	I64("rpm", OFF(rpm), 0, 1000000000, -1),			\
	I64("tpm", OFF(tpm), 0, 100000000000LL, -1),			\
	I64("monthly_budget_micros", OFF(monthly_budget_micros), 0,	\
	    INT64_MAX / 4, -1)

#define ROLE(f)	offsetof(struct aif_role, f)
static const struct directive role_dirs[] = {
	{ .name = "name", .type = D_STR, .off = ROLE(name), .flags = F_REQUIRED,
	  .check = check_role_name },
	BOOL("admin", ROLE(admin), 0),
	INT("max_priority", ROLE(max_priority), 0, 9, UNSET),
	STRLIST("models", ROLE(models), ROLE(nmodels), 0, AIF_CFG_MAX_PATTERNS),
	STRLIST("endpoints", ROLE(endpoints), ROLE(nendpoints), 0, AIF_CFG_MAX_PATTERNS),
	LIMIT_DIRS(ROLE),
	BOOL("zero_retention", ROLE(zero_retention), 0),
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
	DURATION("max_queue_age", D_INT64, AS(max_queue_age_ms), 0, DURATION_D, 0),
	DURATION("scale_up_cooldown", D_INT64, AS(scale_up_cooldown_ms), 0, DURATION_D,
	    30 * DURATION_S),
	DURATION("scale_down_cooldown", D_INT64, AS(scale_down_cooldown_ms), 0,
	    DURATION_D, 5 * DURATION_M),
	STR("start_command", AS(start_command), 0),
	STR("stop_command", AS(stop_command), 0),
	SEQMAP("models", AS(models), AS(nmodels), 0, AIF_CFG_MAX_MODELS, &as_model_sec,
	    0),
	SEQMAP("engines", AS(engines), AS(nengines), 0, AIF_CFG_MAX_MODELS,
	    &as_engine_sec, 0),
};
static const struct section autoscale_sec = SECTION(autoscale_dirs, 0, NULL);

#define TENANT(f)	offsetof(struct aif_tenant, f)
static const struct directive tenant_dirs[] = {
	{ .name = "name", .type = D_STR, .off = TENANT(name), .flags = F_REQUIRED,
	  .check = check_tenant_name },
	LIMIT_DIRS(TENANT),
	INT("max_queued", TENANT(max_queued), 0, 100000000, -1),
};
static const struct section tenant_sec = SECTION(
    tenant_dirs, sizeof(struct aif_tenant), NULL);
static const struct section role_sec =
    SECTION(role_dirs, sizeof(struct aif_role), role_finish);

static void
server_finish(struct loader *ld, void *obj, const yaml_node_t *map)
{
	struct aif_config *cfg = obj;

	(void)map;
	if (cfg->server.stream_disconnect == NULL)
		cfg->server.stream_disconnect = aif_walk_strdup(ld, "finish");
	cfg->server.stream_disconnect_cancel = cfg->server.stream_disconnect != NULL &&
	    strcmp(cfg->server.stream_disconnect, "cancel") == 0;
}

static const struct directive server_dirs[] = {
	STR("listen", CFG(server.listen), F_REQUIRED),
	INT("threads", CFG(server.threads), 1, 256, 4),
	{ .name = "max_body_bytes",
	    .type = D_SIZE,
	    .off = CFG(server.max_body_bytes),
	    .min = 1024,
	    .max = 67108864,
	    .def = 1048576 },
	INT("sync_timeout_ms", CFG(server.sync_timeout_ms), 100, 3600000, 120000),
	STR("run_dir", CFG(server.run_dir), F_REQUIRED),
	INT("poll_interval_ms", CFG(server.poll_interval_ms), 50, 60000, 1000),
	INT("max_waiting", CFG(server.max_waiting), 1, 1000000, 4096),
	INT("max_messages", CFG(server.max_messages), 1, 100000, 2048),
	INT("max_json_depth", CFG(server.max_json_depth), 2, 512, 64),
	{ .name = "stream_disconnect",
	    .type = D_STR,
	    .off = CFG(server.stream_disconnect),
	    .choices = disconnect_policies },
	{ .name = "max_answer_bytes", .type = D_SIZE, .off = CFG(server.max_answer_bytes),
	  .min = 65536, .max = 1073741824, .def = 16777216 },
	INT("max_choices", CFG(server.max_choices), 1, 100000, 128),
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
	DURATION("idempotency_window", D_INT64, CFG(queue.idempotency_window_ms),
	    DURATION_M, 30 * DURATION_D, DURATION_D),
	INT("max_queued_per_tenant", CFG(queue.max_queued_per_tenant), 0, 100000000, 0),
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

static void
tracing_finish(struct loader *ld, void *obj, const yaml_node_t *map)
{
	struct aif_config *cfg = obj;
	if (cfg->tracing.otlp_endpoint != NULL && cfg->tracing.otlp_endpoint[0] == '\0') {
		/* "" (an unset ${VAR:-}): no export */
		free(cfg->tracing.otlp_endpoint);
		cfg->tracing.otlp_endpoint = NULL;
	}
	aif_walk_http_url(ld, map, "otlp_endpoint", cfg->tracing.otlp_endpoint,
	    "tracing.otlp_endpoint");
}

/* 1 when s is an IP literal other hosts can reach this one at (not any, broadcast or
 * multicast; ::ffff:a.b.c.d is a.b.c.d); *literal is 0 when s is no IP literal. */
static int
reachable_ip(const char *s, int *literal)
{
	struct in_addr a4;
	struct in6_addr a6;

	*literal = 1;
	if (inet_pton(AF_INET6, s, &a6) == 1) {
		if (!IN6_IS_ADDR_V4MAPPED(&a6))
			return !IN6_IS_ADDR_UNSPECIFIED(&a6) && !IN6_IS_ADDR_MULTICAST(&a6);
		memcpy(&a4, &a6.s6_addr[12], sizeof(a4));
	} else if (inet_pton(AF_INET, s, &a4) != 1) {
		*literal = 0;
		return 0;
	}
	return a4.s_addr != htonl(INADDR_ANY) && a4.s_addr != htonl(INADDR_BROADCAST) &&
	    !IN_MULTICAST(ntohl(a4.s_addr));
}

/* cluster.address must be an IP literal (what a socket binds), and needs the secret. */
static void
cluster_finish(struct loader *ld, void *obj, const yaml_node_t *map)
{
	struct aif_config *cfg = obj;
	int literal;

	if (cfg->cluster.address == NULL)
		return;
	if (!reachable_ip(cfg->cluster.address, &literal))
		aif_walk_error_at(ld, map->start_mark, literal ? "cluster.address: \"%s\" is "
		    "no address other hosts can reach this one at (any, broadcast or "
		    "multicast)" : "cluster.address: \"%s\" is not an IPv4 or IPv6 address "
		    "of this host (names are not resolved)", cfg->cluster.address);
	if (cfg->cluster.secret_file == NULL)
		aif_walk_error_at(ld, map->start_mark, "cluster.secret_file: required with "
		    "cluster.address (the key that seals doorbells between hosts)");
}

static const struct directive cluster_dirs[] = {
	STR("address", CFG(cluster.address), 0),
	STR("secret_file", CFG(cluster.secret_file), 0),
};
static const struct section cluster_sec = SECTION(cluster_dirs, 0, cluster_finish);

static const struct directive tracing_dirs[] = {
	STR("otlp_endpoint", CFG(tracing.otlp_endpoint), 0),
	STR("service_name", CFG(tracing.service_name), 0),
	DURATION("timeout", D_INT64, CFG(tracing.timeout_ms), 100, DURATION_M,
	    2 * DURATION_S),
	DURATION("flush_interval", D_INT64, CFG(tracing.flush_interval_ms), 50, DURATION_M,
	    DURATION_S),
	INT("batch_size", CFG(tracing.batch_size), 1, 10000, 256),
	INT("queue_size", CFG(tracing.queue_size), 16, 1000000, 2048),
};
static const struct section tracing_sec = SECTION(tracing_dirs, 0, tracing_finish);

static const struct directive batch_dirs[] = {
	{ .name = "max_file_bytes", .type = D_SIZE, .off = CFG(batch.max_file_bytes),
	  .min = 1024, .max = 1073741824, .def = 104857600 },
	INT("max_lines", CFG(batch.max_lines), 1, 1000000, 50000),
	DURATION("file_retention", D_INT64, CFG(batch.file_retention_ms), DURATION_H,
	    3650 * DURATION_D, 30 * DURATION_D),
	DURATION("min_completion_window", D_INT64, CFG(batch.min_window_ms), DURATION_S,
	    DURATION_D, DURATION_D),
	INT("lane_depth", CFG(batch.lane_depth), 1, 100000, 512),
	DURATION("poll_interval", D_INT64, CFG(batch.poll_ms), 10, 10 * DURATION_S, 100),
	INT("uploads", CFG(batch.uploads), 1, 64, 2),
	DURATION("yield", D_INT64, CFG(batch.yield_ms), 0, DURATION_M, DURATION_S),
	INT("yield_rate", CFG(batch.yield_rate), 1, 1000, 20),
	INT("max_share", CFG(batch.max_share), 1, 100, 50),
};
static const struct section batch_sec = SECTION(batch_dirs, 0, NULL);

static const struct directive root_dirs[] = {
	MAP("server", &server_sec, F_REQUIRED),
	MAP("database", &database_sec, F_REQUIRED),
	MAP("queue", &queue_sec, 0),
	MAP("worker", &worker_sec, 0),
	MAP("auth", &auth_sec, 0),
	SEQMAP("models", CFG(models), CFG(nmodels), 1, AIF_CFG_MAX_MODELS, &model_sec,
	    F_REQUIRED),
	SEQMAP("roles", CFG(roles), CFG(nroles), 1, AIF_CFG_MAX_ROLES, &role_sec,
	    F_REQUIRED),
	MAP("autoscale", &autoscale_sec, 0),
	SEQMAP("tenants", CFG(tenants), CFG(ntenants), 0, 100000, &tenant_sec, 0),
	MAP("pii", &aif_cfg_pii_section, 0),
	MAP("tracing", &tracing_sec, 0),
	MAP("cluster", &cluster_sec, 0),
	MAP("batch", &batch_sec, 0),
	SEQMAP("guardrails", CFG(guardrails), CFG(nguardrails), 0, AIF_CFG_MAX_GUARDRAILS,
	    &aif_cfg_guardrail_section, 0),
};
static const struct section root_sec = { root_dirs, AIF_NELEM(root_dirs),
	sizeof(struct aif_config), root_finish, root_extra };

/* Parses and validates `yaml` (len bytes, borrowed; need not be NUL-terminated).
 * On AIF_OK *out is new (aif_cfg_free) and errbuf is "". On error *out is NULL and
 * errbuf holds every error, one per line: AIF_CONFIG for bad content, AIF_NOMEM. */
enum aif_err
aif_cfg_load_string(const char *name, const char *yaml, size_t len,
    struct aif_config **out, char *errbuf, size_t errlen)
{
	return aif_cfg_load_string_with(name, yaml, len, NULL, out, errbuf, errlen);
}

enum aif_err
aif_cfg_load_string_with(const char *name, const char *yaml, size_t len,
    const struct aif_cfg_adapters *adapters, struct aif_config **out, char *errbuf,
    size_t errlen)
{
	struct loader		 ld;
	struct aif_config	*cfg = NULL;

	*out = NULL;
	memset(&ld, 0, sizeof(ld));
	ld.adapters = adapters;
	ld.name = name != NULL ? name : "<string>";
	ld.input = yaml;
	ld.inlen = len;
	ld.errbuf = errbuf;
	ld.errlen = errlen;
	if (errbuf != NULL && errlen > 0)
		errbuf[0] = '\0';

	if (len > AIF_CFG_MAX_FILE) {
		aif_walk_error_plain(&ld, "larger than %d bytes", AIF_CFG_MAX_FILE);
		return AIF_CONFIG;
	}
	if ((cfg = calloc(1, sizeof(*cfg))) == NULL ||
	    (cfg->path = strdup(ld.name)) == NULL) {
		ld.nomem = 1;
		goto out;
	}
	aif_walk_defaults(&root_sec, cfg);
	aif_walk_document(&ld, &root_sec, cfg);
out:
	if (ld.nomem || ld.nerrors > 0) {
		aif_cfg_free(cfg);
		if (ld.nomem) {
			if (errbuf != NULL && errlen > 0)
				errbuf[0] = '\0';
			ld.errused = 0;
			aif_walk_error_plain(&ld, "out of memory");
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
	return aif_cfg_load_with(path, NULL, out, errbuf, errlen);
}

enum aif_err
aif_cfg_load_with(const char *path, const struct aif_cfg_adapters *adapters,
    struct aif_config **out, char *errbuf, size_t errlen)
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
		aif_walk_error_plain(&ld, "cannot open: %s", strerror(errno));
		return AIF_IO;
	}
	/* One byte over the cap tells "too large" from "exactly at the cap". */
	if ((buf = malloc(AIF_CFG_MAX_FILE + 1)) == NULL) {
		fclose(fp);
		aif_walk_error_plain(&ld, "out of memory");
		return AIF_NOMEM;
	}
	while (len <= AIF_CFG_MAX_FILE &&
	    (n = fread(buf + len, 1, AIF_CFG_MAX_FILE + 1 - len, fp)) > 0)
		len += n;
	if (ferror(fp)) {
		aif_walk_error_plain(&ld, "cannot read: %s", strerror(errno));
		rc = AIF_IO;
	} else
		rc = aif_cfg_load_string_with(path, buf, len, adapters, out, errbuf,
		    errlen);
	fclose(fp);
	free(buf);
	return rc;
}

/* ---- lookups -------------------------------------------------------------------------- */

int
aif_cfg_model_has_name(const struct aif_model *m, const char *name)
{
	if (m->id != NULL && strcmp(m->id, name) == 0)
		return 1;
	for (size_t k = 0; k < m->naliases; k++)
		if (strcmp(m->aliases[k], name) == 0)
			return 1;
	return 0;
}

/* Returns the model with id or alias `id`, borrowed from cfg, or NULL. */
const struct aif_model *
aif_cfg_model(const struct aif_config *cfg, const char *id)
{
	if (cfg == NULL || id == NULL)
		return NULL;
	return named(cfg, NULL, id);
}

size_t
aif_cfg_model_index(const struct aif_config *cfg, const char *id)
{
	const struct aif_model *m = aif_cfg_model(cfg, id);

	return m == NULL ? SIZE_MAX : (size_t)(m - cfg->models);
}

/* Returns the workflow named `name`, borrowed from cfg, or NULL. */
const struct aif_workflow *
aif_cfg_workflow(const struct aif_config *cfg, const char *name)
{
	if (cfg == NULL || name == NULL)
		return NULL;
	for (size_t i = 0; i < cfg->nworkflows; i++)
		if (cfg->workflows[i].name != NULL &&
		    strcmp(cfg->workflows[i].name, name) == 0)
			return &cfg->workflows[i];
	return NULL;
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
	for (size_t i = 0; cfg->models != NULL && i < cfg->nmodels; i++) {
		for (size_t k = 0; cfg->models[i].replicas != NULL &&
		    k < cfg->models[i].nreplicas; k++)
			aif_secret_free(cfg->models[i].replicas[k].api_key,
			    cfg->models[i].replicas[k].api_key_len);
		if (cfg->models[i].adapter_hooks != NULL)
			cfg->models[i].adapter_hooks->free_model(&cfg->models[i]);
		for (size_t k = 0; k < cfg->models[i].noptions; k++) {
			free(cfg->models[i].options[k].key);
			free(cfg->models[i].options[k].value);
		}
		free(cfg->models[i].options);
	}
	aif_wf_free_all(cfg);
	aif_walk_free(&root_sec, cfg);
	free(cfg->path);
	free(cfg);
}
