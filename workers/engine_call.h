/* engine_call.h -- one in-flight engine call of a worker: the libcurl easy handle (from
 * the HTTP layer, http/http.h: protocols, timeouts and the response cap always set), its
 * request headers, the capped response body, and for a stream the SSE parser, the
 * assembler of the whole answer and the relay of chunks. The worker's loop owns the
 * multi handle; this file only sets up and tears down single calls. */
#ifndef AIF_ENGINE_CALL_H
#define AIF_ENGINE_CALL_H

#include <stddef.h>
#include <stdint.h>

#include "adapter.h"
#include "http.h"
#include "queue.h"
#include "relay.h"
#include "sse.h"
#include "stream_asm.h"
#include "tracectx.h"


struct engine_call {
	struct aif_claimed	 job;		/* owns job.request_body */
	const struct aif_model	*model;		/* borrowed from the config; NULL for a
						   call that never started (no replica) */
	size_t			 model_idx;	/* of model (a fallback's, maybe) */
	size_t			 job_mi;	/* of the job's own model: its retry policy
						   and saga; SIZE_MAX when it left the config */
	size_t			 replica_idx;
	CURL			*easy;
	struct curl_slist	*headers;
	struct aif_engine_req	 req;		/* owns req.body */
	struct aif_http_body	 resp;		/* response bytes up to the cap; resp.overflow
						   when the answer exceeded it */
	size_t			 answer_max;	/* server.max_answer_bytes */
	size_t			 choices_max;	/* server.max_choices */
	int64_t			 started_ms;
	/* spans (spans.h), while they are on */
	int64_t			 claim_ns;	/* when the job was claimed */
	char			 queue_tp[AIF_TRACEPARENT_LEN + 1];	/* queue wait's */
	char			 span_tp[AIF_TRACEPARENT_LEN + 1];	/* this attempt's,
						   sent to the engine; "" */
	int64_t			 span_start_ns;
	int64_t			 hdr_prompt_tokens;	/* x-prompt-tokens (TGI), 0: none */
	char			*answer;	/* a success's JSON text (outcome_of), new */
	size_t			 answer_len;
	struct engine_call	*prev, *next;	/* the worker's list of calls */
	int			 count;		/* a token count (count.c): no job behind
						   it; job.id is the count's number */
	char			 count_object[32];	/* its answer's "object", "" */
	char			 prev_resp[80];	/* a Response passed through: the one it
						   continues (its note's), "" */

	/* guardrail hooks (guard_hooks.c) */
	int			 hook;		/* 0: the engine's call; else the phase
						   (GUARD_PRE, ...) of a hook in flight */
	int			 audit;		/* a stream's audit: no job to commit */
	size_t			 hook_gi;	/* the hook's guardrail (config index) */
	size_t			 hook_texts;	/* texts it was sent */
	char			*hook_body;	/* its request (new) */
	json_t			*hook_sent;	/* the texts it was sent (owned) */
	size_t			 guard_pre, guard_post;	/* the next guardrail to try */
	json_t			*held;		/* an answer waiting for post-call hooks */
	int64_t			 held_prompt, held_completion;	/* and its usage */

	/* streaming ("stream": true jobs) */
	int			 stream;
	const struct aif_adapter *adapter;
	struct aif_sse		 sse;
	struct aif_stream_state	 st;
	struct aif_stream_asm	*assembled;	/* every chunk, for the job row */
	json_t			*chunks;	/* scratch array for one event */
	/* the relay to the waiting aif-api, for a stream or a synchronous answer of a
	   job with a relay secret */
	struct relay_conn	*relay;		/* borrowed from the worker, or NULL */
	unsigned char		 relay_key[AIF_RELAY_KEY_LEN];	/* this attempt's frames */
	int64_t			 relayed;	/* chunks with text relayed to the client */
	int64_t			 first_chunk_ms;	/* the engine's first chunk came, 0 */
	int64_t			 last_chunk_ms;	/* and its last one */
	int64_t			 chunks_timed;	/* chunks between them, both counted */
	int			 answer_relayed; /* a sync answer went whole over the relay:
						   its waiter needs no bell */
	struct relay_conn	*answer_conn;	/* the connection it was queued on */
	int			 begun;		/* BEGIN frame sent */
	enum aif_failure	 stream_fail;	/* an error event ended the stream */
	struct aif_engine_result stream_err;
};

/* The most bytes a call may bring on the wire (struct aif_http_limits.max_response):
 * an answer read whole is capped at server.max_answer_bytes; a stream is not capped by
 * its wire bytes, which are many times its text (SSE and JSON framing per token): the
 * SSE parser bounds each event (AIF_SSE_EVENT_MAX), the assembler the answer's text
 * (answer_max), the model's timeout the transfer, and an error answer (not 200) is
 * kept up to answer_max like any other. */
static inline size_t
engine_call_wire_max(int stream, size_t answer_max)
{
	return stream ? 0 : answer_max;
}

/* Prepares the easy handle for call->req (already built by the adapter) with the
 * model's timeout; for a stream (call->stream set, adapter set) also the SSE parser,
 * the assembler and the relay of chunks. Returns AIF_OK or AIF_NOMEM. */
enum aif_err	engine_call_setup(struct engine_call *call, const char *request_id);

/* End of a 200 stream: parses a last event left without its blank line. */
void		engine_call_stream_finish(struct engine_call *call);

/* Frees everything the call owns (the struct itself too); accepts NULL. */
void		engine_call_free(struct engine_call *call);

#endif
