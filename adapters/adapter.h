/* adapter.h -- the engine adapter vtable. One adapter per engine protocol translates the
 * canonical request (the OpenAI request body, already validated and masked) into the
 * engine's HTTP request, and the engine's answer back into the canonical OpenAI response
 * plus token counts and a failure class. Adapters only translate: the worker owns
 * libcurl, timeouts, retries and the queue. Nothing outside adapters/ sees engine formats. */
#ifndef AIF_ADAPTER_H
#define AIF_ADAPTER_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "apierr.h"
#include "catalog.h"
#include "config.h"
#include "err.h"

#define AIF_ADAPTER_ABI		1
#define AIF_ENGINE_URL_MAX	1024

/* What a failed attempt means for the job. */
enum aif_failure {
	AIF_FAIL_NONE = 0,	/* success */
	AIF_FAIL_RETRYABLE,	/* transport error, timeout, 5xx: try again later */
	AIF_FAIL_OVERLOADED,	/* engine said it is full (429/503): retry, maybe elsewhere */
	AIF_FAIL_FATAL,		/* the request itself is bad: fail now, no retry */
	AIF_FAIL_REFUSED,	/* a guardrail refused the call or its answer: no engine
				   failed; fail now, no retry */
};

/* The HTTP request to send to an engine. */
struct aif_engine_req {
	char	 url[AIF_ENGINE_URL_MAX];
	char	*body;			/* new (free) */
	size_t	 body_len;
};

/* The outcome of one engine call, in canonical form. */
struct aif_engine_result {
	enum aif_failure failure;
	json_t	*response;		/* new reference on success: the OpenAI body */
	int64_t	 prompt_tokens;
	int64_t	 completion_tokens;
	struct aif_error error;		/* on failure: what a client should see (never
					   prompt text) */
	int	 timed_out;		/* on failure: the call or the engine ran out of
					   time (a retry policy's "timeout" class) */
};

/* What a streamed engine call has told so far; zeroed before the first event. */
struct aif_stream_state {
	/* The worker presets id ("chatcmpl-<job>" / "cmpl-<job>") and created; an
	 * adapter whose engine sends its own (openai) may replace them on the first event.
	 * Every chunk of a stream must carry the same id and created. */
	int	 done;			/* the engine signalled the end of the stream */
	int64_t	 prompt_tokens;		/* from usage / details, when the engine sent them */
	int64_t	 completion_tokens;	/* ... else counted by the adapter (one per event) */
	int	 events;		/* events seen */
	int64_t	 deltas;		/* a surface's events that carry text or
					   arguments (*.delta, content_block_delta) */
	char	 id[96];		/* chunk id to use, set from the first event */
	int64_t	 created;
	char	 finish_reason[32];	/* last finish_reason seen */
};

struct aif_adapter {
	int		 abi;		/* AIF_ADAPTER_ABI */
	const struct aif_adapter_spec *spec;	/* its name and YAML settings */
	/* Builds the engine request for a canonical request body (borrowed).
	 * On AIF_OK *out is filled (free out->body). AIF_INVALID: kind unsupported. */
	enum aif_err	(*build)(const struct aif_model *m, const struct aif_replica *r,
			    enum aif_kind kind, const char *request, size_t len,
			    struct aif_engine_req *out);
	/* Turns an HTTP answer (status, body borrowed) into *out (zeroed by caller). */
	void		(*parse)(const struct aif_model *m, enum aif_kind kind,
			    long status, const char *body, size_t len,
			    struct aif_engine_result *out);
	/* Streaming: one engine SSE event's data (borrowed, without "data:") is turned
	 * into zero or more canonical OpenAI chunk objects appended to `chunks` (a JSON
	 * array, borrowed). Token counts, finish reason and the end go into *st. An error
	 * event fills *err and returns its failure class; otherwise AIF_FAIL_NONE.
	 * build() is called with the canonical request's "stream": true and must ask the
	 * engine to stream. NULL when the adapter cannot stream. */
	enum aif_failure (*parse_event)(const struct aif_model *m, enum aif_kind kind,
			    const char *data, size_t len, struct aif_stream_state *st,
			    json_t *chunks, struct aif_engine_result *err);
	/* 1 when the end of the HTTP body ends the stream (no terminator event). */
	int		 stream_eof_ends;
	/* Called once when such a stream ended cleanly (EOF), to append the final
	 * chunk(s) (finish_reason) to `chunks`. May be NULL. */
	void		(*end_stream)(const struct aif_model *m, enum aif_kind kind,
			    struct aif_stream_state *st, json_t *chunks);
	/* Path appended to a replica URL for health probes (GET, 200 = healthy). */
	const char	*health_path;
};

/* The settings of model m for adapter ad, by the index of ad->spec->options (enum
 * aif_triton_setting, ...): the model's values, else the adapter's defaults (borrowed).
 * Those resolved when the configuration was loaded (m->adapter_state), or for a model
 * built otherwise (tests) looked up now into tmp. */
const char *const *aif_adapter_settings(const struct aif_adapter *ad,
		    const struct aif_model *m, const char *tmp[AIF_ADAPTER_SETTINGS_MAX]);

/* Renders chat `messages` (borrowed) into the prompt of model m with its chat_template:
 * compiled when the configuration was loaded, or for a model built otherwise compiled
 * for this call. As aif_chat_template_render (adapters/chat_template.h). */
enum aif_err	aif_adapter_render_chat(const struct aif_model *m, const json_t *messages,
		    char **out, size_t *out_len);

/* Returns the adapter named `name`, or NULL. Table in adapters/registry.c. */
const struct aif_adapter *aif_adapter_find(const char *name);

/* Fills *out for a transport-level failure (curl error text borrowed, no prompt);
 * timed_out gives engine_timeout (and out->timed_out), else engine_unavailable. */
void		aif_adapter_transport_failure(const char *what, int timed_out,
		    struct aif_engine_result *out);

/* Fills the failure fields of *out from a client error (core/protocol/apierr.h);
 * out->timed_out becomes 0. */
void		aif_adapter_fail(struct aif_engine_result *out, enum aif_failure f,
		    const struct aif_error *e);

/* A retryable "the engine returned <what>" (a malformed answer). */
void		aif_adapter_bad_response(struct aif_engine_result *out, const char *what);

/* The common meaning of an engine's HTTP error status, for adapters to use after their
 * own special cases: 400/413/422 fatal 400 invalid_request_error (code
 * context_length_exceeded when context_exceeded, else engine_rejected_request; the
 * engine's message emsg, borrowed, is quoted); 401/403/404/405/501 fatal 502
 * engine_misconfigured; 429/503 overloaded 503 engine_overloaded; 408/504 retryable 504
 * engine_timeout (timed_out); anything else retryable 502 engine_error. */
void		aif_adapter_classify_status(long status, const char *emsg,
		    int context_exceeded, struct aif_engine_result *out);

/* A canonical stream chunk (new reference) for adapters whose engines do not send
 * OpenAI chunks: chat's first chunk (role), or `text` (n bytes) with finish_reason
 * (NULL: null); id, created and model from st and model_id. NULL on no memory. */
json_t		*aif_adapter_chunk(const char *model_id, enum aif_kind kind,
		    const struct aif_stream_state *st, int role, const char *text, size_t n,
		    const char *finish_reason);

/* 1 when `root` has the shape of a successful OpenAI answer of `kind`: an object
 * without "error" (or "object": "error"), with a non-empty "choices" array of objects
 * with an index and a message (chat) or a text (completion), or a non-empty "data"
 * array of objects with an embedding (embeddings); and a usage, when present, of
 * non-negative integers; of a surface passed through, a Response or a Message
 * (aif_passthru_answer_ok). An engine's 200 that is none of this is a bad response. */
int		 aif_adapter_answer_ok(enum aif_kind kind, const json_t *root);

/* Serialises `body` (borrowed) compactly into out->body (new) and out->body_len.
 * Returns AIF_OK or AIF_NOMEM. */
enum aif_err	 aif_adapter_set_body(struct aif_engine_req *out, const json_t *body);

/* Appends `chunk` (a new reference, taken; NULL: no memory) to `chunks`. Returns
 * AIF_FAIL_NONE, or the failure filled into *err when it could not. */
enum aif_failure aif_adapter_append_chunk(json_t *chunks, json_t *chunk,
		    struct aif_engine_result *err);

/* For the first event of a chat stream, appends the role chunk; else nothing.
 * Returns as aif_adapter_append_chunk. */
enum aif_failure aif_adapter_role_chunk(const char *model_id, enum aif_kind kind,
		    const struct aif_stream_state *st, json_t *chunks,
		    struct aif_engine_result *err);

/* One engine stream event's JSON object (new reference), or NULL with *err filled
 * (a retryable bad response) when it is not a JSON object. */
json_t		*aif_adapter_event_object(const char *data, size_t len,
		    struct aif_engine_result *err);

/* Releases what *r holds and zeroes it. */
void		aif_engine_result_clear(struct aif_engine_result *r);

#endif
