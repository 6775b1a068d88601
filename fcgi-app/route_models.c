/* route_models.c -- GET /v1/models and GET /v1/models/{id}: the models and workflows
 * of the YAML config that the caller's role may use, in OpenAI's Model shape (a
 * workflow is owned_by "aif-workflow"); a model's aliases are listed after it, each
 * naming the model it stands for ("aif_alias_of"). Roles are checked against model
 * ids, never aliases. No database call. */
#include <string.h>

#include "api.h"

/* Model m as it is called by `name`: its id, or one of its aliases. */
static json_t *
model_json(const struct aif_model *m, const char *name)
{
	json_t *j = json_pack("{s:s, s:s, s:I, s:s}", "id", name, "object", "model",
	    "created", (json_int_t)0, "owned_by", m->owned_by);

	if (j != NULL && strcmp(name, m->id) != 0)
		json_object_set_new(j, "aif_alias_of", json_string(m->id));
	return j;
}

/* A workflow is listed as a model its callers name in "model". */
static json_t *
workflow_json(const struct aif_workflow *wf)
{
	return json_pack("{s:s, s:s, s:I, s:s}", "id", wf->name, "object", "model",
	    "created", (json_int_t)0, "owned_by", "aif-workflow");
}

void
route_models(struct req *r, const char *id)
{
	const struct aif_config *cfg = r->cfg;
	const struct aif_role *role = r->role;
	json_t *v;

	if (id != NULL) {
		const struct aif_model *m = aif_cfg_model(cfg, id);
		const struct aif_workflow *wf = m == NULL ? aif_cfg_workflow(cfg, id) : NULL;
		if ((m == NULL && wf == NULL) || role == NULL ||
		    !aif_cfg_role_allows_model(role, m != NULL ? m->id : id)) {
			REFUSE(&r->reply, AIF_E_MODEL_NOT_FOUND, "model", id);
			return;
		}
		v = m != NULL ? model_json(m, id) : workflow_json(wf);
		reply_json(&r->reply, 200, NULL, v);
		json_decref(v);
		return;
	}
	json_t *data = json_array();
	for (size_t i = 0; i < cfg->nmodels; i++) {
		const struct aif_model *m = &cfg->models[i];
		if (role == NULL || !aif_cfg_role_allows_model(role, m->id))
			continue;
		json_array_append_new(data, model_json(m, m->id));
		for (size_t k = 0; k < m->naliases; k++)
			json_array_append_new(data, model_json(m, m->aliases[k]));
	}
	for (size_t i = 0; i < cfg->nworkflows; i++)
		if (role != NULL && aif_cfg_role_allows_model(role, cfg->workflows[i].name))
			json_array_append_new(data, workflow_json(&cfg->workflows[i]));
	v = json_pack("{s:s, s:o}", "object", "list", "data", data);
	reply_json(&r->reply, 200, NULL, v);
	json_decref(v);
}
