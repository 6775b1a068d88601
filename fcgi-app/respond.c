/* respond.c -- writing HTTP responses through FastCGI: status line, the headers every
 * response carries (content type, x-request-id, x-aif-job-id once a job exists,
 * cache-control, the product token), the body, then FCGX_Finish_r and free. Errors go
 * out as the error object of their API surface (core/protocol/apierr.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

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

static const char *error_headers(const struct reply *, const struct aif_error *);

int
reply_format_head(const struct reply *rp, int status, const char *type, const char *cache,
    const char *headers, size_t len, char *head, size_t cap)
{
	char length[48] = "";
	int n;

	if (len != REPLY_UNSIZED)
		(void)snprintf(length, sizeof(length), "Content-Length: %zu\r\n", len);
	n = snprintf(head, cap,
	    "Status: %d %s\r\n"
	    "Content-Type: %s\r\n"
	    "Cache-Control: %s\r\n"
	    "Server: " AIF_SERVER_TOKEN "\r\n"
	    "x-request-id: %s\r\n"
	    "%s%s%s"
	    "%s%s"
	    "%s\r\n",
	    status, aif_http_reason(status), type, cache, rp->request_id,
	    rp->job_id[0] ? "x-aif-job-id: " : "", rp->job_id, rp->job_id[0] ? "\r\n" : "",
	    rp->headers, headers != NULL ? headers : "", length);

	return n > 0 && (size_t)n < cap ? n : -1;
}

/* The head of a JSON response of len bytes (reply_format_head). */
static int
format_head(const struct reply *rp, int status, const char *headers, size_t len,
    char *head, size_t cap)
{
	return reply_format_head(rp, status, REPLY_JSON, "no-store", headers, len, head, cap);
}

/* 1 when connections close without libfcgi's lingering wait (reply_close_init) */
static int close_at_once;

void
reply_close_init(int listen_fd)
{
	int domain = 0;
	socklen_t len = sizeof(domain);

	close_at_once = getsockopt(listen_fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) == 0 &&
	    domain == AF_UNIX;
}

void
reply_finish(struct reply *rp)
{
	if (rp->fcgi == NULL)
		return;
	reply_span_end(rp);
	/* The lingering close waits for nginx to read the end of the request and close
	   its side: a round trip during which this thread (the one that hands relayed
	   answers out, often) does nothing else. A detached request closes at once --
	   only once its whole input was read: nginx has then written everything, so it
	   cannot fail writing the rest of a body (EPIPE, a 502 instead of the answer). */
	if (close_at_once && FCGX_HasSeenEOF(rp->fcgi->in))
		(void)FCGX_Detach(rp->fcgi);
	FCGX_Finish_r(rp->fcgi);
	free(rp->fcgi);
	rp->fcgi = NULL;
}

void
reply_send_typed(struct reply *rp, int status, const char *type, const char *headers,
    const char *body, size_t len)
{
	if (rp->fcgi == NULL)
		return;
	reply_send_head_typed(rp, status, type, headers, len);
	if (len > 0)
		FCGX_PutStr(body, (int)len, rp->fcgi->out);
	reply_finish(rp);
}

void
reply_send(struct reply *rp, int status, const char *headers, const char *body,
    size_t len)
{
	reply_send_typed(rp, status, REPLY_JSON, headers, body, len);
}

void
reply_send_head(struct reply *rp, int status, const char *headers, size_t len)
{
	reply_send_head_typed(rp, status, REPLY_JSON, headers, len);
}

void
reply_send_head_typed(struct reply *rp, int status, const char *type, const char *headers,
    size_t len)
{
	char head[2048];
	int n;

	if (rp->fcgi == NULL)
		return;
	count_response(rp, status);
	rp->span.status = status;
	if ((n = reply_format_head(rp, status, type, "no-store", headers, len, head,
	    sizeof(head))) > 0)
		FCGX_PutStr(head, n, rp->fcgi->out);
}

char *
reply_render_error(const struct reply *rp, const struct aif_error *err, size_t *outlen)
{
	char head[2048], *body = aif_error_render(err, rp->surface), *out = NULL;
	size_t blen;
	int n;

	*outlen = 0;
	if (body == NULL)
		return NULL;
	blen = strlen(body);
	count_response(rp, err->status);
	if ((n = format_head(rp, err->status, error_headers(rp, err), blen, head,
	    sizeof(head))) > 0 && (out = malloc((size_t)n + blen)) != NULL) {
		memcpy(out, head, (size_t)n);
		memcpy(out + n, body, blen);
		*outlen = (size_t)n + blen;
	}
	free(body);
	return out;
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

/* The retry advice of an error for the official SDKs (static text, or NULL). */
static const char *
error_headers(const struct reply *rp, const struct aif_error *err)
{
	if (err->status == 503)
		return "Retry-After: 1\r\nretry-after-ms: 1000\r\n";
	if (err->status == 429 &&
	    strcmp(err->type, aif_apierr_type(AIF_E_INSUFFICIENT_QUOTA)) == 0)
		return "x-should-retry: false\r\n";	/* waiting does not help */
	if (err->status == 429 && strstr(rp->headers, "Retry-After") == NULL)
		return "Retry-After: 1\r\nretry-after-ms: 1000\r\n";
	if (err->status >= 400 && err->status < 500 && err->status != 408 &&
	    err->status != 429)
		/* the SDKs retry 409 and others by default: repeating cannot help here */
		return "x-should-retry: false\r\n";
	return NULL;
}

void
reply_error(struct reply *rp, const struct aif_error *err)
{
	char *s = aif_error_render(err, rp->surface);
	const char *headers = error_headers(rp, err);

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

void
reply_job_refusal(const struct reply *rp, enum aif_apierr e, struct aif_error *out)
{
	const char *args[] = { rp->job_id, rp->job_id };
	size_t n = aif_apierr_nargs(e);

	aif_error_from(out, e, NULL, args, n < 2 ? n : 2);
}

void
reply_refuse_job(struct reply *rp, enum aif_apierr e)
{
	struct aif_error err;

	reply_job_refusal(rp, e, &err);
	reply_error(rp, &err);
}
