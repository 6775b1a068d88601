/* spans.c -- aif-api's own trace spans: with tracing.otlp_endpoint set, each request that
 * makes a job gets a server span (OpenTelemetry's HTTP server conventions plus
 * gen_ai.operation.name and gen_ai.request.model), the parent of its job's spans, sent to
 * a worker's exporter when its response is finished (core/ipc/spansock.h): aif-api links
 * no HTTP client. A span that cannot be handed over at once is dropped and counted
 * (aif_trace_spans_total{result="dropped_no_exporter"|"dropped_busy"}). */
#include <stdio.h>
#include <string.h>

#include "api.h"
#include "span.h"
#include "spansock.h"

static struct aif_spansock_client client;	/* one per process */

static void
sink(const char *json, size_t len)
{
	const char *why;
	char result[32];

	if (aif_spansock_send(&client, json, len, &why) == 0)
		return;
	snprintf(result, sizeof(result), "dropped_%s", why);
	aif_span_count(result, 1);
}

int
spans_start(struct api *api)
{
	if (api->cfg->tracing.otlp_endpoint == NULL)
		return 0;
	aif_spansock_client_init(&client, api->cfg->server.run_dir);
	aif_span_set_sink(sink);
	return 0;
}

void
spans_stop(struct api *api, int grace_ms)
{
	(void)grace_ms;
	if (api->cfg->tracing.otlp_endpoint == NULL)
		return;
	aif_span_set_sink(NULL);
	aif_spansock_client_close(&client);
}

void
reply_span_end(struct reply *rp)
{
	struct reply_span *p = &rp->span;
	struct aif_span s;
	char name[160];

	if (p->start_ns == 0 || p->self[0] == '\0')
		return;
	snprintf(name, sizeof(name), "POST %s", p->route != NULL ? p->route : "");
	if (aif_span_begin(&s, p->self, p->parent[0] ? p->parent : NULL, name,
	    AIF_SPAN_SERVER, p->start_ns) == 0) {
		aif_span_str(&s, "http.request.method", "POST");
		aif_span_str(&s, "http.route", p->route);
		aif_span_int(&s, "http.response.status_code", p->status);
		aif_span_str(&s, "gen_ai.operation.name", p->operation);
		aif_span_str(&s, "gen_ai.request.model", p->model);
		aif_span_str(&s, "aif.job.id", rp->job_id);
		aif_span_str(&s, "aif.request.id", rp->request_id);
		aif_span_end(&s, aif_span_now_ns(), p->status >= 500 ? "http_5xx" : NULL);
	}
	p->start_ns = 0;	/* once */
}
