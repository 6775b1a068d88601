/* route_ops.c -- operations endpoints:
 *   GET /readyz   readiness for load balancers and Kubernetes: the config is loaded, the
 *                 database answers, and every model has at least one replica whose
 *                 health path answers 200 (probed in parallel, cached 2 s); 503 with
 *                 the details otherwise. (/healthz, liveness, is in router.c.)
 *   GET /metrics  Prometheus text: counters and histograms of every process (from
 *                 metric_counters) and live queue/worker/replica gauges. Not public:
 *                 nginx marks trusted addresses (AIF_METRICS_TRUSTED=1), anyone else
 *                 needs an admin key. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "adapter.h"
#include "api.h"
#include "metrics.h"

#define READY_CACHE_MS	2000
#define PROBE_TIMEOUT_MS 800

static pthread_mutex_t ready_mu = PTHREAD_MUTEX_INITIALIZER;
static int64_t ready_at = -READY_CACHE_MS;
static json_t *ready_models;	/* cached {"model": {"replicas":n,"healthy":k}} */
static int ready_models_ok;

static size_t
discard(char *p, size_t s, size_t n, void *a)
{
	(void)p;
	(void)a;
	return s * n;
}

/* Probes every replica of every model at once; returns the per-model object (new). */
static json_t *
probe_models(const struct aif_config *cfg, int *all_ok)
{
	CURLM *m = curl_multi_init();
	size_t total = 0;
	json_t *res = json_object();
	int running = 0;

	*all_ok = 1;
	for (size_t i = 0; i < cfg->nmodels; i++)
		total += cfg->models[i].nreplicas;
	CURL **e = calloc(total ? total : 1, sizeof(*e));
	size_t *who = calloc(total ? total : 1, sizeof(*who));
	int *healthy = calloc(cfg->nmodels ? cfg->nmodels : 1, sizeof(int));
	if (m == NULL || e == NULL || who == NULL || healthy == NULL || res == NULL) {
		*all_ok = 0;
		goto out;
	}
	size_t k = 0;
	for (size_t i = 0; i < cfg->nmodels; i++) {
		const struct aif_adapter *ad = aif_adapter_find(cfg->models[i].adapter);
		for (size_t r = 0; r < cfg->models[i].nreplicas; r++) {
			char url[AIF_ENGINE_URL_MAX];
			const char *base = cfg->models[i].replicas[r].url;
			size_t bl = strlen(base);
			while (bl > 0 && base[bl - 1] == '/')
				bl--;
			int n = snprintf(url, sizeof(url), "%.*s%s", (int)bl, base,
			    ad && ad->health_path ? ad->health_path : "/health");
			if (n < 0 || (size_t)n >= sizeof(url) || (e[k] = curl_easy_init()) == NULL)
				continue;
			curl_easy_setopt(e[k], CURLOPT_URL, url);
			curl_easy_setopt(e[k], CURLOPT_PROTOCOLS_STR, "http,https");
			curl_easy_setopt(e[k], CURLOPT_NOSIGNAL, 1L);
			curl_easy_setopt(e[k], CURLOPT_TIMEOUT_MS, (long)PROBE_TIMEOUT_MS);
			curl_easy_setopt(e[k], CURLOPT_WRITEFUNCTION, discard);
			curl_multi_add_handle(m, e[k]);
			who[k++] = i;
		}
	}
	do {
		curl_multi_perform(m, &running);
		if (running)
			curl_multi_poll(m, NULL, 0, 100, NULL);
	} while (running);
	for (size_t j = 0; j < k; j++) {
		long status = 0;
		curl_easy_getinfo(e[j], CURLINFO_RESPONSE_CODE, &status);
		if (status == 200)
			healthy[who[j]]++;
	}
	for (size_t i = 0; i < cfg->nmodels; i++) {
		json_object_set_new(res, cfg->models[i].id, json_pack("{s:I,s:I}", "replicas",
		    (json_int_t)cfg->models[i].nreplicas, "healthy", (json_int_t)healthy[i]));
		if (healthy[i] == 0)
			*all_ok = 0;
	}
out:
	for (size_t j = 0; e != NULL && j < total; j++)
		if (e[j] != NULL) {
			curl_multi_remove_handle(m, e[j]);
			curl_easy_cleanup(e[j]);
		}
	free(e);
	free(who);
	free(healthy);
	if (m != NULL)
		curl_multi_cleanup(m);
	return res;
}

void
route_readyz(struct req *r)
{
	int64_t now = aif_now_ms();
	int db_ok = aif_db_ensure(r->db) == AIF_OK;
	struct aif_dbrows *rows = NULL;
	json_t *models, *body;
	int models_ok;

	if (db_ok && aif_db_query(r->db, "SELECT 1", NULL, 0, &rows) != AIF_OK)
		db_ok = 0;
	aif_dbrows_free(rows);
	pthread_mutex_lock(&ready_mu);
	if (now - ready_at >= READY_CACHE_MS || ready_models == NULL) {
		pthread_mutex_unlock(&ready_mu);
		models = probe_models(r->cfg, &models_ok);
		pthread_mutex_lock(&ready_mu);
		json_decref(ready_models);
		ready_models = models;
		ready_models_ok = models_ok;
		ready_at = now;
	}
	models = json_deep_copy(ready_models);
	models_ok = ready_models_ok;
	pthread_mutex_unlock(&ready_mu);
	body = json_pack("{s:s,s:{s:b,s:b,s:b,s:o}}", "status",
	    db_ok && models_ok ? "ready" : "not_ready", "checks", "config", 1, "database",
	    db_ok, "models_have_a_healthy_replica", models_ok, "models",
	    models ? models : json_object());
	reply_json(&r->reply, db_ok && models_ok ? 200 : 503, NULL, body);
	json_decref(body);
}

void
route_metrics(struct req *r, int trusted)
{
	char *page = NULL;

	if (!trusted) {
		struct aif_principal who;
		const struct aif_role *role;
		enum aif_err err = aif_auth_check(r->api->auth, r->db,
		    FCGX_GetParam("HTTP_AUTHORIZATION", r->reply.fcgi->envp), &who);
		if (err == AIF_UNAVAILABLE) {
			reply_fail(&r->reply, 503, "server_error", "database_unavailable", NULL,
			    "The service is temporarily unavailable, please retry shortly.");
			return;
		}
		role = err == AIF_OK ? aif_cfg_role(r->cfg, who.role) : NULL;
		if (role == NULL || !role->admin) {
			reply_fail(&r->reply, 403, "permission_denied", "metrics_forbidden", NULL,
			    "Metrics are for trusted addresses or admin keys.");
			return;
		}
	}
	(void)aif_metrics_flush(r->db);	/* this process's latest counts too */
	if (aif_metrics_render(r->db, &page) != AIF_OK) {
		reply_fail(&r->reply, 503, "server_error", "database_unavailable", NULL,
		    "The service is temporarily unavailable, please retry shortly.");
		return;
	}
	if (r->reply.fcgi != NULL) {
		char head[256];
		int n = snprintf(head, sizeof(head), "Status: 200 OK\r\n"
		    "Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n"
		    "Cache-Control: no-store\r\nx-request-id: %s\r\nContent-Length: %zu\r\n\r\n",
		    r->reply.request_id, strlen(page));
		FCGX_PutStr(head, n, r->reply.fcgi->out);
		FCGX_PutStr(page, (int)strlen(page), r->reply.fcgi->out);
		FCGX_Finish_r(r->reply.fcgi);
		free(r->reply.fcgi);
		r->reply.fcgi = NULL;
	}
	free(page);
}
