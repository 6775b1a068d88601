/* http.h -- the one HTTP client layer (libcurl) of the gateway. Every transfer it makes
 * gets its handle here, and every handle has the same guard rails: http and https only,
 * no redirects, a connect and a total timeout, a cap on the response body, no signals,
 * TCP_NODELAY. Engine calls (workers/engine_call.c) drive these handles in a multi
 * handle; health probes and compensations use the helpers below. Programs call
 * aif_http_init once before any thread starts. */
#ifndef AIF_HTTP_H
#define AIF_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include <curl/curl.h>

#include "buf.h"
#include "err.h"

#define AIF_HTTP_CONNECT_TIMEOUT_MS	3000
#define AIF_HTTP_PROBE_MAX		65536	/* bytes of a health answer */

/* The bounds of one transfer. */
struct aif_http_limits {
	long	 timeout_ms;		/* the whole transfer, > 0 */
	long	 connect_timeout_ms;	/* 0: AIF_HTTP_CONNECT_TIMEOUT_MS */
	size_t	 max_response;		/* bytes on the wire at most (a Content-Length
					   over it is refused at once); 0: no cap here
					   (a stream, bounded by what parses it) */
};

/* A response body kept up to its cap; `overflow` set when more came (the transfer is
 * then aborted by the write callback). */
struct aif_http_body {
	struct aif_buf	 buf;		/* the bytes, NUL-terminated (aif_http_body_free) */
	size_t		 max;		/* bytes kept at most, with the NUL */
	int		 overflow;
};

/* libcurl's global setup and teardown (not thread-safe: once per process). */
enum aif_err	aif_http_init(void);
void		aif_http_cleanup(void);

/* A new easy handle for url (borrowed; copied by libcurl) with the guard rails and the
 * limits set; the caller adds its own method, body, headers and callbacks. Without a
 * write callback of the caller the body goes nowhere. NULL on no memory.
 * Free with curl_easy_cleanup. */
CURL		*aif_http_easy(const char *url, const struct aif_http_limits *lim);

/* libcurl write callback keeping the body in a struct aif_http_body (its max set by the
 * caller); returns 0 (aborting the transfer) past the cap or without memory. */
size_t		aif_http_body_write(char *ptr, size_t size, size_t nmemb, void *body);
void		aif_http_body_free(struct aif_http_body *b);

/* What a finished transfer's result code means: AIF_OK (an HTTP answer came, any
 * status), AIF_TOOBIG (the answer passed its cap: body->overflow, body may be NULL, or
 * CURLOPT_MAXFILESIZE), AIF_TIMEOUT, else AIF_IO (no answer: refused, reset, a write
 * callback's abort, ...). */
enum aif_err	aif_http_outcome(CURLcode rc, const struct aif_http_body *body);

/* A GET of base + path (a health probe): the body is discarded, the answer's status is
 * what counts. NULL when the URL does not fit or on no memory. */
CURL		*aif_http_probe(const char *base, const char *path, long timeout_ms);

/* An engine's credential (YAML models[].replicas[].api_key_file) as the engine expects
 * it: "Authorization: Bearer <key>" when header is NULL (vLLM --api-key and other
 * OpenAI-compatible servers), else "<header>: <key>" (X-API-Key, Triton's restricted
 * APIs). Appends the line to *list (libcurl copies it; the copy here is wiped); a key of
 * len 0 (none) appends nothing. The key must be one line of printable ASCII (the
 * configuration checks it). Returns AIF_OK, AIF_TOOBIG (over AIF_HTTP_AUTH_MAX), or
 * AIF_NOMEM (*list unchanged). */
#define AIF_HTTP_AUTH_MAX	(64 + 2 + 7 + 1024 + 1)	/* name: Bearer key */
enum aif_err	aif_http_auth_header(struct curl_slist **list, const char *header,
		    const unsigned char *key, size_t len);

/* curl_slist_free_all after wiping every line (they may hold a credential); accepts
 * NULL. */
void		aif_http_headers_free(struct curl_slist *list);

/* One blocking request (compensations, and other calls outside an event loop). */
struct aif_http_call {
	const char		*method;	/* "GET", "POST", "PUT", "DELETE" */
	const char		*url;
	const char *const	*headers;	/* "Name: value" lines, or NULL */
	size_t			 nheaders;
	const char		*body;		/* sent unless method is GET; or NULL */
	struct aif_http_limits	 lim;
};
struct aif_http_result {
	long	 status;			/* 0 when no answer came */
	struct aif_http_body body;		/* empty unless keep_body (free it with
						   aif_http_body_free) */
	char	 error[CURL_ERROR_SIZE];	/* "" or libcurl's reason */
};
/* Runs the call; keep_body 0 discards the answer's body (only its status counts).
 * Returns AIF_NOMEM, or aif_http_outcome's meaning of the transfer. *res is filled in
 * every case. */
enum aif_err	aif_http_run(const struct aif_http_call *call, int keep_body,
		    struct aif_http_result *res);

/* Runs n calls at once (blocking until they end): as each ends, errs[i] and res[i] are
 * filled as aif_http_run would and done(ctx, i) (may be NULL) is called; when it
 * returns nonzero the calls still running are abandoned (their errs[] stay AIF_NOMEM,
 * res[] empty). Free every res[i].body after. Returns AIF_NOMEM when nothing could
 * start, else AIF_OK. */
enum aif_err	aif_http_run_many(const struct aif_http_call *calls, size_t n,
		    int keep_body, struct aif_http_result *res, enum aif_err *errs,
		    int (*done)(void *ctx, size_t i), void *ctx);

#endif
