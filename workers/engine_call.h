/* engine_call.h -- one in-flight engine call of a worker: the libcurl easy handle, its
 * request headers, and the capped response buffer. The worker's loop owns the multi
 * handle; this file only sets up and tears down single calls, always with protocols,
 * timeouts and a response-size cap set. */
#ifndef AIF_ENGINE_CALL_H
#define AIF_ENGINE_CALL_H

#include <stddef.h>
#include <stdint.h>

#include <curl/curl.h>

#include "adapter.h"
#include "queue.h"

#define AIF_ENGINE_RESPONSE_MAX	(16u << 20)	/* 16 MiB */

struct engine_call {
	struct aif_claimed	 job;		/* owns job.request_body */
	const struct aif_model	*model;		/* borrowed from the config */
	size_t			 model_idx;
	size_t			 replica_idx;
	CURL			*easy;
	struct curl_slist	*headers;
	struct aif_engine_req	 req;		/* owns req.body */
	char			*resp;		/* response bytes, NUL-terminated */
	size_t			 resp_len;
	size_t			 resp_cap;
	int			 overflow;	/* response exceeded the cap */
	int64_t			 started_ms;
	char			 errbuf[CURL_ERROR_SIZE];
	struct engine_call	*prev, *next;	/* the worker's list of calls */
};

/* Prepares the easy handle for call->req (already built by the adapter) with the
 * model's timeout. Returns AIF_OK or AIF_NOMEM. */
enum aif_err	engine_call_setup(struct engine_call *call, const char *request_id);

/* Frees everything the call owns (the struct itself too); accepts NULL. */
void		engine_call_free(struct engine_call *call);

#endif
