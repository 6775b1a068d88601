/* engine_call.c -- libcurl easy handles for engine calls; see engine_call.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine_call.h"

static size_t
on_data(char *ptr, size_t size, size_t nmemb, void *arg)
{
	struct engine_call *c = arg;
	size_t n = size * nmemb;

	if (c->resp_len + n + 1 > AIF_ENGINE_RESPONSE_MAX) {
		c->overflow = 1;
		return 0;	/* aborts the transfer */
	}
	if (c->resp_len + n + 1 > c->resp_cap) {
		size_t cap = c->resp_cap ? c->resp_cap : 4096;
		char *p;
		while (cap < c->resp_len + n + 1)
			cap *= 2;
		if (cap > AIF_ENGINE_RESPONSE_MAX)
			cap = AIF_ENGINE_RESPONSE_MAX;
		if ((p = realloc(c->resp, cap)) == NULL)
			return 0;
		c->resp = p;
		c->resp_cap = cap;
	}
	memcpy(c->resp + c->resp_len, ptr, n);
	c->resp_len += n;
	c->resp[c->resp_len] = '\0';
	return n;
}

enum aif_err
engine_call_setup(struct engine_call *c, const char *request_id)
{
	char hdr[160];

	if ((c->easy = curl_easy_init()) == NULL)
		return AIF_NOMEM;
	c->headers = curl_slist_append(NULL, "Content-Type: application/json");
	c->headers = curl_slist_append(c->headers, "Accept: application/json");
	c->headers = curl_slist_append(c->headers, "Expect:");
	if (request_id != NULL) {
		snprintf(hdr, sizeof(hdr), "X-Request-Id: %s", request_id);
		c->headers = curl_slist_append(c->headers, hdr);
	}
	if (c->headers == NULL)
		return AIF_NOMEM;
	curl_easy_setopt(c->easy, CURLOPT_URL, c->req.url);
	curl_easy_setopt(c->easy, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c->easy, CURLOPT_REDIR_PROTOCOLS_STR, "");
	curl_easy_setopt(c->easy, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(c->easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c->easy, CURLOPT_POST, 1L);
	curl_easy_setopt(c->easy, CURLOPT_POSTFIELDS, c->req.body);
	curl_easy_setopt(c->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)c->req.body_len);
	curl_easy_setopt(c->easy, CURLOPT_HTTPHEADER, c->headers);
	curl_easy_setopt(c->easy, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(c->easy, CURLOPT_WRITEDATA, c);
	curl_easy_setopt(c->easy, CURLOPT_PRIVATE, c);
	curl_easy_setopt(c->easy, CURLOPT_ERRORBUFFER, c->errbuf);
	curl_easy_setopt(c->easy, CURLOPT_CONNECTTIMEOUT_MS, 3000L);
	curl_easy_setopt(c->easy, CURLOPT_TIMEOUT_MS, (long)c->model->timeout_ms);
	curl_easy_setopt(c->easy, CURLOPT_TCP_NODELAY, 1L);
	curl_easy_setopt(c->easy, CURLOPT_MAXFILESIZE_LARGE,
	    (curl_off_t)AIF_ENGINE_RESPONSE_MAX);
	return AIF_OK;
}

void
engine_call_free(struct engine_call *c)
{
	if (c == NULL)
		return;
	if (c->easy != NULL)
		curl_easy_cleanup(c->easy);
	curl_slist_free_all(c->headers);
	free(c->req.body);
	free(c->resp);
	free(c->job.request_body);
	free(c);
}
