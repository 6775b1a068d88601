/* route_models.c -- GET /v1/models and GET /v1/models/{id}: the models of the YAML
 * config that the caller's role may use, in OpenAI's Model shape. No database call. */
#include <string.h>

#include "api.h"

static json_t *
model_json(const struct aif_model *m)
{
	return json_pack("{s:s, s:s, s:I, s:s}", "id", m->id, "object", "model",
	    "created", (json_int_t)0, "owned_by", m->owned_by);
}

void
route_models(struct req *r, const char *id)
{
	const struct aif_config *cfg = r->cfg;
	const struct aif_role *role = r->role;
	json_t *v;

	if (id != NULL) {
		const struct aif_model *m = aif_cfg_model(cfg, id);
		if (m == NULL || role == NULL || !aif_cfg_role_allows_model(role, m->id)) {
			REFUSE(&r->reply, AIF_E_MODEL_NOT_FOUND, "model", id);
			return;
		}
		v = model_json(m);
		reply_json(&r->reply, 200, NULL, v);
		json_decref(v);
		return;
	}
	json_t *data = json_array();
	for (size_t i = 0; i < cfg->nmodels; i++)
		if (role != NULL && aif_cfg_role_allows_model(role, cfg->models[i].id))
			json_array_append_new(data, model_json(&cfg->models[i]));
	v = json_pack("{s:s, s:o}", "object", "list", "data", data);
	reply_json(&r->reply, 200, NULL, v);
	json_decref(v);
}
