/* http.c -- the gateway's libcurl handles; see http.h. */
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "util.h"

enum aif_err
aif_http_init(void)
{
	return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? AIF_OK : AIF_IO;
}

void
aif_http_cleanup(void)
{
	curl_global_cleanup();
}

static size_t
discard(char *ptr, size_t size, size_t nmemb, void *arg)
{
	(void)ptr;
	(void)arg;
	return size * nmemb;
}

CURL *
aif_http_easy(const char *url, const struct aif_http_limits *lim)
{
	CURL *e = curl_easy_init();

	if (e == NULL)
		return NULL;
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "");
	curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, lim->connect_timeout_ms > 0 ?
	    lim->connect_timeout_ms : (long)AIF_HTTP_CONNECT_TIMEOUT_MS);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, lim->timeout_ms);
	if (lim->max_response > 0)
		curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE,
		    (curl_off_t)lim->max_response);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, discard);
	return e;
}

size_t
aif_http_body_write(char *ptr, size_t size, size_t nmemb, void *arg)
{
	struct aif_http_body *b = arg;
	size_t n = size * nmemb;
	enum aif_err err = b->max > 0 ? aif_buf_add(&b->buf, ptr, n, b->max - 1) :
	    AIF_TOOBIG;

	if (err == AIF_TOOBIG)
		b->overflow = 1;
	return err == AIF_OK ? n : 0;	/* 0 aborts the transfer */
}

void
aif_http_body_free(struct aif_http_body *b)
{
	aif_buf_free(&b->buf);
}

enum aif_err
aif_http_outcome(CURLcode rc, const struct aif_http_body *body)
{
	if (rc == CURLE_OK)
		return AIF_OK;
	if ((body != NULL && body->overflow) || rc == CURLE_FILESIZE_EXCEEDED)
		return AIF_TOOBIG;
	return rc == CURLE_OPERATION_TIMEDOUT ? AIF_TIMEOUT : AIF_IO;
}

enum aif_err
aif_http_auth_header(struct curl_slist **list, const char *header,
    const unsigned char *key, size_t len)
{
	char			 line[AIF_HTTP_AUTH_MAX];
	struct curl_slist	*l;
	size_t			 o;

	int			 bearer = header == NULL;

	if (key == NULL || len == 0)
		return AIF_OK;
	if (bearer)
		header = "Authorization";
	o = strlen(header);
	if (o + 2 + 7 + len + 1 > sizeof(line))
		return AIF_TOOBIG;
	memcpy(line, header, o);
	memcpy(line + o, ": ", 2);
	o += 2;
	if (bearer) {		/* a configured header carries the key as it is */
		memcpy(line + o, "Bearer ", 7);
		o += 7;
	}
	memcpy(line + o, key, len);
	line[o + len] = '\0';
	l = curl_slist_append(*list, line);
	explicit_bzero(line, sizeof(line));
	if (l == NULL)
		return AIF_NOMEM;
	*list = l;
	return AIF_OK;
}

void
aif_http_headers_free(struct curl_slist *list)
{
	for (struct curl_slist *l = list; l != NULL; l = l->next)
		if (l->data != NULL)
			explicit_bzero(l->data, strlen(l->data));
	curl_slist_free_all(list);
}

CURL *
aif_http_probe(const char *base, const char *path, long timeout_ms)
{
	struct aif_http_limits lim = { timeout_ms, timeout_ms, AIF_HTTP_PROBE_MAX };
	char url[2048];

	if (aif_url_join(url, sizeof(url), base, path) != 0)
		return NULL;
	return aif_http_easy(url, &lim);
}

/* The handle of one blocking call (its header list in *h, to free after). */
static CURL *
call_easy(const struct aif_http_call *call, int keep_body, struct aif_http_result *res,
    struct curl_slist **h)
{
	CURL *e;

	memset(res, 0, sizeof(*res));
	*h = NULL;
	res->body.max = call->lim.max_response;
	if ((e = aif_http_easy(call->url, &call->lim)) == NULL)
		return NULL;
	for (size_t i = 0; i < call->nheaders; i++)
		if ((*h = curl_slist_append(*h, call->headers[i])) == NULL) {
			curl_easy_cleanup(e);
			return NULL;
		}
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, *h);
	curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, call->method);
	if (strcmp(call->method, "GET") != 0 && call->body != NULL)
		curl_easy_setopt(e, CURLOPT_POSTFIELDS, call->body);
	if (keep_body) {
		curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, aif_http_body_write);
		curl_easy_setopt(e, CURLOPT_WRITEDATA, &res->body);
	}
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, res->error);
	return e;
}

/* The outcome of a finished transfer. */
static enum aif_err
call_outcome(CURL *e, CURLcode rc, struct aif_http_result *res)
{
	curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &res->status);
	if (rc != CURLE_OK && res->error[0] == '\0')
		aif_strlcpy(res->error, curl_easy_strerror(rc), sizeof(res->error));
	return aif_http_outcome(rc, &res->body);
}

enum aif_err
aif_http_run(const struct aif_http_call *call, int keep_body, struct aif_http_result *res)
{
	struct curl_slist *h = NULL;
	CURL *e;
	enum aif_err err;

	if ((e = call_easy(call, keep_body, res, &h)) == NULL)
		return AIF_NOMEM;
	err = call_outcome(e, curl_easy_perform(e), res);
	curl_slist_free_all(h);
	curl_easy_cleanup(e);
	return err;
}

enum aif_err
aif_http_run_many(const struct aif_http_call *calls, size_t n, int keep_body,
    struct aif_http_result *res, enum aif_err *errs,
    int (*done)(void *ctx, size_t i), void *ctx)
{
	struct curl_slist **h = calloc(n, sizeof(*h));
	CURL **e = calloc(n, sizeof(*e));
	CURLM *m = curl_multi_init();
	size_t left = 0;
	int stop = 0, running = 0;
	enum aif_err err = AIF_NOMEM;

	if (h == NULL || e == NULL || m == NULL)
		goto out;
	for (size_t i = 0; i < n; i++) {
		errs[i] = AIF_NOMEM;
		if ((e[i] = call_easy(&calls[i], keep_body, &res[i], &h[i])) == NULL)
			continue;
		if (curl_multi_add_handle(m, e[i]) == CURLM_OK)
			left++;
	}
	err = AIF_OK;
	while (left > 0 && !stop) {
		CURLMsg *msg;
		int q;
		curl_multi_perform(m, &running);
		while (!stop && (msg = curl_multi_info_read(m, &q)) != NULL) {
			size_t i = 0;
			if (msg->msg != CURLMSG_DONE)
				continue;
			while (i < n && e[i] != msg->easy_handle)
				i++;
			if (i == n)
				continue;
			errs[i] = call_outcome(msg->easy_handle, msg->data.result, &res[i]);
			curl_multi_remove_handle(m, msg->easy_handle);
			left--;
			if (done != NULL && done(ctx, i) != 0)
				stop = 1;
		}
		if (left > 0 && !stop)
			curl_multi_poll(m, NULL, 0, 100, NULL);
	}
out:
	for (size_t i = 0; e != NULL && i < n; i++) {
		if (e[i] != NULL) {
			curl_multi_remove_handle(m, e[i]);
			curl_easy_cleanup(e[i]);
		}
		if (h != NULL)
			curl_slist_free_all(h[i]);
	}
	if (m != NULL)
		curl_multi_cleanup(m);
	free(e);
	free(h);
	return err;
}
