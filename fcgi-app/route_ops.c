/* route_ops.c -- operations endpoints:
 *   GET /healthz  liveness: the process answers, with its version.
 *   GET /readyz   readiness for load balancers and Kubernetes: the config is loaded,
 *                 the database answers, and every model not marked `optional` has at
 *                 least one replica that a live worker reports healthy (its health
 *                 probe answered 200 and its circuit is closed: store/registry.h); 200
 *                 when ready, 503 otherwise. Without an admin key the body says only
 *                 {"status":"ready"} or {"status":"not_ready"} (no model ids, nothing to
 *                 map the deployment with); with one (Authorization: Bearer of an admin
 *                 role) it adds the checks and each model's replicas. A missing, wrong
 *                 or non-admin key is no error here: probes send none. aif-api itself
 *                 calls no engine.
 *   GET /metrics  Prometheus text (prometheus.c). Not public: nginx marks trusted
 *                 addresses (AIF_METRICS_TRUSTED=1), anyone else needs an admin key. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "counters.h"
#include "registry.h"
#include "version.h"

void
route_healthz(struct req *r)
{
	json_t *v = json_pack("{s:s,s:s}", "status", "ok", "version", AIF_VERSION);

	reply_json(&r->reply, 200, NULL, v);
	json_decref(v);
}

/* {"model": {"replicas": n, "healthy": k, "optional": b}} from the workers' reports
 * (new), and whether every model that is not optional has a healthy replica. */
static json_t *
models_health(const struct aif_config *cfg, const struct aif_dbrows *rows, int *all_ok)
{
	json_t *res = json_object();

	*all_ok = 1;
	for (size_t i = 0; i < cfg->nmodels; i++) {
		const struct aif_model *m = &cfg->models[i];
		json_int_t healthy = 0;
		for (size_t k = 0; rows != NULL && k < rows->nrows; k++) {
			const char *model = aif_dbrows_get(rows, k, AIF_RP_MODEL);
			const char *url = aif_dbrows_get(rows, k, AIF_RP_REPLICA);
			if (model == NULL || url == NULL || strcmp(model, m->id) != 0 ||
			    aif_dbrows_i64(rows, k, AIF_RP_HEALTHY) != 1)
				continue;
			for (size_t r = 0; r < m->nreplicas; r++)
				if (strcmp(m->replicas[r].url, url) == 0)
					healthy++;
		}
		json_object_set_new(res, m->id, json_pack("{s:I,s:I,s:b}", "replicas",
		    (json_int_t)m->nreplicas, "healthy", healthy, "optional", m->optional));
		if (healthy == 0 && !m->optional)
			*all_ok = 0;
	}
	return res;
}

/* Whether the request carries a live key of an admin role (these routes have no
 * authentication of their own): AIF_OK, AIF_UNAVAILABLE when the key cannot be checked
 * now (database), AIF_FORBIDDEN for no key, another key, or a key of another role. */
static enum aif_err
admin_caller(struct req *r)
{
	const char *h = FCGX_GetParam("HTTP_AUTHORIZATION", r->reply.fcgi->envp);
	const struct aif_role *role;
	struct aif_principal who;
	enum aif_err err;

	if (h == NULL)
		return AIF_FORBIDDEN;
	if ((err = aif_auth_check(r->api->auth, r->db, h, &who)) != AIF_OK)
		return err == AIF_UNAVAILABLE ? AIF_UNAVAILABLE : AIF_FORBIDDEN;
	role = aif_cfg_role(r->cfg, who.role);
	return role != NULL && role->admin ? AIF_OK : AIF_FORBIDDEN;
}

void
route_readyz(struct req *r)
{
	struct aif_dbrows *rows = NULL;
	int db_ok, models_ok = 0, ready;
	json_t *models, *body;

	db_ok = aif_registry_replicas(r->db, API_WORKER_STALE_S, &rows) == AIF_OK;
	models = models_health(r->cfg, db_ok ? rows : NULL, &models_ok);
	aif_dbrows_free(rows);
	models_ok = models_ok && db_ok;
	ready = db_ok && models_ok;
	if (admin_caller(r) == AIF_OK) {
		body = json_pack("{s:s,s:{s:b,s:b,s:b,s:o}}", "status",
		    ready ? "ready" : "not_ready", "checks", "config", 1, "database", db_ok,
		    "models_have_a_healthy_replica", models_ok, "models",
		    models ? models : json_object());
	} else {
		json_decref(models);
		body = json_pack("{s:s}", "status", ready ? "ready" : "not_ready");
	}
	reply_json(&r->reply, ready ? 200 : 503, NULL, body);
	json_decref(body);
}

void
route_metrics(struct req *r, int trusted)
{
	char *page = NULL;

	if (!trusted) {
		enum aif_err err = admin_caller(r);
		if (err == AIF_UNAVAILABLE) {
			REFUSE0(&r->reply, AIF_E_DB_UNAVAILABLE, NULL);
			return;
		}
		if (err != AIF_OK) {
			REFUSE0(&r->reply, AIF_E_METRICS_FORBIDDEN, NULL);
			return;
		}
	}
	(void)aif_counters_flush(r->db);	/* this process's latest counts too */
	if (prometheus_page(r->db, API_WORKER_STALE_S, &page) != AIF_OK) {
		REFUSE0(&r->reply, AIF_E_DB_UNAVAILABLE, NULL);
		return;
	}
	reply_send_typed(&r->reply, 200, "text/plain; version=0.0.4; charset=utf-8", NULL,
	    page, strlen(page));
	free(page);
}
