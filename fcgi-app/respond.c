/* respond.c -- writing HTTP responses through FastCGI: status line, the headers every
 * response carries (content type, x-request-id, x-aif-job-id once a job exists,
 * cache-control, the product token), the body, then FCGX_Finish_r and free. Errors go
 * out as the error object of their API surface (core/protocol/apierr.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "log.h"
#include "metrics.h"
#include "version.h"

/* aif_requests_total{route,status} */
static void
count_response(const struct reply *rp, int status)
{
	char labels[96];

	snprintf(labels, sizeof(labels), "route=\"%s\",status=\"%d\"",
	    rp->route != NULL ? rp->route : "unknown", status);
	aif_metrics_add("aif_requests_total", labels, 1);
}

void
reply_send(struct reply *rp, int status, const char *headers, const char *body,
    size_t len)
{
	char head[2048];
	int n;

	if (rp->fcgi == NULL)
		return;
	count_response(rp, status);
	n = snprintf(head, sizeof(head),
	    "Status: %d %s\r\n"
	    "Content-Type: application/json\r\n"
	    "Cache-Control: no-store\r\n"
	    "Server: " AIF_SERVER_TOKEN "\r\n"
	    "x-request-id: %s\r\n"
	    "%s%s%s"
	    "%s%s"
	    "Content-Length: %zu\r\n\r\n",
	    status, aif_http_reason(status), rp->request_id,
	    rp->job_id[0] ? "x-aif-job-id: " : "", rp->job_id, rp->job_id[0] ? "\r\n" : "",
	    rp->headers, headers != NULL ? headers : "", len);
	if (n > 0 && (size_t)n < sizeof(head)) {
		FCGX_PutStr(head, n, rp->fcgi->out);
		if (len > 0)
			FCGX_PutStr(body, (int)len, rp->fcgi->out);
	}
	FCGX_Finish_r(rp->fcgi);
	free(rp->fcgi);
	rp->fcgi = NULL;
}

void
reply_json(struct reply *rp, int status, const char *headers, json_t *v)
{
	char *s = v != NULL ? json_dumps(v, JSON_COMPACT) : NULL;

	if (s == NULL) {
		REFUSE0(rp, AIF_E_OUT_OF_MEMORY, NULL);
		return;
	}
	reply_send(rp, status, headers, s, strlen(s));
	free(s);
}

void
reply_header(struct reply *rp, const char *name, const char *value)
{
	size_t off = strlen(rp->headers);
	int n = snprintf(rp->headers + off, sizeof(rp->headers) - off, "%s: %s\r\n", name,
	    value);

	if (n < 0 || (size_t)n >= sizeof(rp->headers) - off)
		rp->headers[off] = '\0';	/* a whole line or none */
}

void
reply_error(struct reply *rp, const struct aif_error *err)
{
	char *s = aif_error_render(err, AIF_SURFACE_OPENAI);
	const char *headers = NULL;

	if (err->status == 503)
		headers = "Retry-After: 1\r\nretry-after-ms: 1000\r\n";
	else if (err->status == 429 &&
	    strcmp(err->type, aif_apierr_type(AIF_E_INSUFFICIENT_QUOTA)) == 0)
		headers = "x-should-retry: false\r\n";	/* waiting does not help */
	else if (err->status == 429 && strstr(rp->headers, "Retry-After") == NULL)
		headers = "Retry-After: 1\r\nretry-after-ms: 1000\r\n";
	else if (err->status >= 400 && err->status < 500 && err->status != 408 &&
	    err->status != 429)
		/* the SDKs retry 409 and others by default: repeating cannot help here */
		headers = "x-should-retry: false\r\n";
	if (s == NULL) {
		static const char oom[] = "{\"error\":{\"message\":\"Out of memory.\","
		    "\"type\":\"server_error\",\"param\":null,\"code\":null}}";
		reply_send(rp, aif_apierr_status(AIF_E_OUT_OF_MEMORY), NULL, oom,
		    sizeof(oom) - 1);
		return;
	}
	reply_send(rp, err->status, headers, s, strlen(s));
	free(s);
}

void
reply_refuse(struct reply *rp, enum aif_apierr e, const char *param,
    const char *const *args, size_t nargs)
{
	struct aif_error err;

	aif_error_from(&err, e, param, args, nargs);
	reply_error(rp, &err);
}
