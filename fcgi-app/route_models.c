/* route_models.c -- GET /v1/models and GET /v1/models/{id}: the models and workflows
 * of the YAML config that the caller's role may use, in OpenAI's Model shape (a
 * workflow is owned_by "aif-workflow"). No database call. */
#include <string.h>

#include "api.h"

static json_t *
model_json(const struct aif_model *m)
{
	return json_pack("{s:s, s:s, s:I, s:s}", "id", m->id, "object", "model",
	    "created", (json_int_t)0, "owned_by", m->owned_by);
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
		    !aif_cfg_role_allows_model(role, id)) {
			REFUSE(&r->reply, AIF_E_MODEL_NOT_FOUND, "model", id);
			return;
		}
		v = m != NULL ? model_json(m) : workflow_json(wf);
		reply_json(&r->reply, 200, NULL, v);
		json_decref(v);
		return;
	}
	json_t *data = json_array();
	for (size_t i = 0; i < cfg->nmodels; i++)
		if (role != NULL && aif_cfg_role_allows_model(role, cfg->models[i].id))
			json_array_append_new(data, model_json(&cfg->models[i]));
	for (size_t i = 0; i < cfg->nworkflows; i++)
		if (role != NULL && aif_cfg_role_allows_model(role, cfg->workflows[i].name))
			json_array_append_new(data, workflow_json(&cfg->workflows[i]));
	v = json_pack("{s:s, s:o}", "object", "list", "data", data);
	reply_json(&r->reply, 200, NULL, v);
	json_decref(v);
}
