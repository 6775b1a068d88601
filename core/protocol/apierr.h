/* apierr.h -- what a client is told when the gateway refuses or fails a request: one
 * enum of every error the gateway itself decides, with one table of its HTTP status,
 * error type, code and message, and one function that renders an error for an API
 * surface (OpenAI's {"error":{...}} today). Routes and workers name an error from the
 * table; the request validator (oai.h) and PII blocks fill the same struct for the
 * errors whose detail comes from the request. Thread-safe; no state. */
#ifndef AIF_APIERR_H
#define AIF_APIERR_H

#include <stddef.h>

/* A client-facing error: HTTP status and the four OpenAI fields. */
struct aif_error {
	int	 status;		/* 400, 401, 403, 404, 405, 413, 415, 429, 5xx */
	char	 type[48];		/* "invalid_request_error", "server_error", ... */
	char	 code[48];		/* "" means null */
	char	 param[128];		/* "" means null, e.g. "messages[2].content" */
	char	 message[512];
};

/* X(NAME, status, type, code or NULL, number of %s in the message, message).
 * Messages take their details only as strings: every conversion is %s or %.<n>s
 * (checked for every row by tests/unit/test_apierr.c); numbers are formatted by the
 * caller. A message is cut at the struct's size, never inside a UTF-8 sequence. Only
 * the names are used outside this file (no enum value is stored or sent), so rows sit
 * with their kin, in any order. */
#define AIF_APIERR_MAP(X)							\
	X(BAD_REQUEST, 400, "invalid_request_error", NULL, 0,			\
	    "Malformed request.")						\
	X(UNKNOWN_URL, 404, "invalid_request_error", "unknown_url", 2,		\
	    "Invalid URL (%.16s %.128s)")					\
	X(PATH_TOO_LONG, 404, "invalid_request_error", "unknown_url", 0,	\
	    "Invalid URL: the path is too long.")				\
	X(METHOD_NOT_ALLOWED, 405, "invalid_request_error", "method_not_allowed", 2, \
	    "Method %.16s is not allowed on %.128s.")				\
	X(METHOD_USE, 405, "invalid_request_error", "method_not_allowed", 2,	\
	    "Use %.16s on %.128s.")						\
	X(UNSUPPORTED_MEDIA_TYPE, 415, "invalid_request_error",		\
	    "unsupported_media_type", 0,					\
	    "Unsupported Content-Type: send the body as application/json.")	\
	X(BODY_TOO_LARGE, 413, "invalid_request_error", "request_too_large", 1,	\
	    "The request body is larger than the limit of %s bytes.")		\
	X(BODY_UNREADABLE, 400, "invalid_request_error", "invalid_json", 0,	\
	    "Could not read the request body.")					\
	X(ADMIN_BODY_INVALID, 400, "invalid_request_error", "invalid_json", 1,	\
	    "The body must be a JSON object of at most %s bytes.")		\
	X(INVALID_API_KEY, 401, "invalid_request_error", "invalid_api_key", 0,	\
	    "Incorrect or missing API key. Send it as 'Authorization: Bearer <key>'.") \
	X(ENDPOINT_FORBIDDEN, 403, "permission_denied", "endpoint_forbidden", 0, \
	    "Your key's role may not use this endpoint.")			\
	X(ADMIN_ONLY, 403, "permission_denied", "admin_only", 0,		\
	    "Only admin keys may use the admin API.")				\
	X(METRICS_FORBIDDEN, 403, "permission_denied", "metrics_forbidden", 0,	\
	    "Metrics are for trusted addresses or admin keys.")		\
	X(MODEL_NOT_FOUND, 404, "invalid_request_error", "model_not_found", 1,	\
	    "The model '%.128s' does not exist or you do not have access to it.") \
	X(MODEL_FORBIDDEN, 403, "permission_denied", "model_forbidden", 1,	\
	    "Your key's role may not use the model '%.128s'.")			\
	X(MODEL_NOT_SUPPORTED, 400, "invalid_request_error", "model_not_supported", 2, \
	    "The model '%.128s' does not serve %s requests.")			\
	X(MAX_TOKENS_ABOVE, 400, "invalid_request_error", "integer_above_max_value", 2, \
	    "Invalid value: this model allows at most %s output tokens, but %s were " \
	    "requested.")							\
	X(STREAM_UNSUPPORTED_KIND, 400, "invalid_request_error", "unsupported_value", 0, \
	    "Only chat completions and completions can be streamed.")		\
	X(IDEMPOTENCY_KEY_INVALID, 400, "invalid_request_error", "invalid_value", 1, \
	    "The Idempotency-Key header must be 1 to %s printable ASCII characters.") \
	X(REQUEST_TIMEOUT_INVALID, 400, "invalid_request_error", "invalid_value", 0, \
	    "The X-Request-Timeout header must be a number of seconds from 1 to 3600.") \
	X(TENANT_QUEUE_FULL, 429, "rate_limit_exceeded", "tenant_queue_full", 1,	\
	    "Too many queued jobs (%s) for this tenant or key; retry when some have run.") \
	X(ZERO_RETENTION_ASYNC, 400, "invalid_request_error", "zero_retention", 1, \
	    "Model %.128s keeps no answers (zero retention): send the request without " \
	    "Prefer: respond-async, or stream it.")				\
	X(REQUEST_NOT_STORABLE, 400, "invalid_request_error", "request_not_storable", 0, \
	    "The request could not be stored.")					\
	X(IDEMPOTENCY_KEY_REUSED, 409, "invalid_request_error",		\
	    "idempotency_key_reused", 0,					\
	    "This Idempotency-Key was already used with a different request body.") \
	X(PRIORITY_INVALID, 400, "invalid_request_error", "invalid_value", 0,	\
	    "Invalid 'X-Priority' header: expected an integer from 0 (lowest) to 9 " \
	    "(highest).")							\
	X(INVALID_UTF8, 400, "invalid_request_error", "invalid_utf8", 0,	\
	    "The request holds text that is not valid UTF-8.")			\
	X(TOO_MANY_CHOICES, 400, "invalid_request_error", "too_many_choices", 2, \
	    "The request asks for %s choices (prompts x max(n, best_of)); at most %s " \
	    "are allowed.")							\
	X(ANSWER_WOULD_BE_TOO_LARGE, 400, "invalid_request_error",		\
	    "answer_too_large", 1,						\
	    "The answer to this request would be larger than %s bytes: ask for fewer " \
	    "inputs or dimensions.")						\
	X(ANSWER_TOO_LARGE, 502, "server_error", "answer_too_large", 0,		\
	    "The engine's answer is larger than the gateway keeps "		\
	    "(server.max_answer_bytes); the job is not retried.")		\
	X(ENGINE_BAD_USAGE, 502, "server_error", "engine_bad_usage", 0,		\
	    "The engine reported a token usage this request cannot have; the answer " \
	    "was not used.")							\
	X(RESULT_NOT_STORABLE, 500, "server_error", "result_not_storable", 0,	\
	    "The job's result could not be stored; the job is not retried.")	\
	X(PII_TOO_LARGE, 413, "invalid_request_error", NULL, 0,		\
	    "The request could not be screened for personal data.")		\
	X(PII_FAILED, 500, "server_error", NULL, 0,				\
	    "The request could not be screened for personal data.")		\
	X(PII_BLOCKED, 400, "invalid_request_error", "pii_blocked", 1,		\
	    "The request contains personal data of type %.64s, which this model does " \
	    "not accept. Remove it and try again.")				\
	X(GUARDRAIL_BLOCKED, 400, "invalid_request_error", "guardrail_blocked", 2, \
	    "Guardrail %.64s: %.300s")						\
	X(GUARDRAIL_UNAVAILABLE, 503, "server_error", "guardrail_unavailable", 1, \
	    "Guardrail %.64s could not be consulted, and this model does not run " \
	    "without it. Try again later.")					\
	X(OUT_OF_MEMORY, 500, "server_error", NULL, 0,				\
	    "Out of memory.")							\
	X(NOT_ANSWERED, 500, "server_error", NULL, 0,				\
	    "The request was not answered.")					\
	X(DB_UNAVAILABLE, 503, "server_error", "database_unavailable", 0,	\
	    "The service is temporarily unavailable, please retry shortly.")	\
	X(INSUFFICIENT_QUOTA, 429, "insufficient_quota", "insufficient_quota", 0, \
	    "You exceeded your current quota: this request's worst-case cost does " \
	    "not fit in the monthly budget left.")				\
	X(RATE_LIMIT_REQUESTS, 429, "requests", "rate_limit_exceeded", 5,	\
	    "Rate limit reached for %.128s on requests per min (RPM) of your %s: "	\
	    "Limit %s, Requested %s. Please try again in %s.")			\
	X(RATE_LIMIT_TOKENS, 429, "tokens", "rate_limit_exceeded", 5,		\
	    "Rate limit reached for %.128s on tokens per min (TPM) of your %s: "	\
	    "Limit %s, Requested %s. Please try again in %s.")			\
	X(TOO_MANY_WAITING, 503, "server_error", "too_many_waiting", 2,	\
	    "Too many requests are waiting; the job %s was queued, poll "	\
	    "GET /v1/jobs/%s for its result.")					\
	X(TOO_MANY_WAITING_ATTACH, 503, "server_error", "too_many_waiting", 1,	\
	    "Too many requests are waiting; poll GET /v1/jobs/%s.")		\
	X(REQUEST_EXPIRED, 504, "timeout", "request_expired", 1,		\
	    "The job %s did not start before the request's deadline; it was not run " \
	    "and nothing was billed.")						\
	X(JOB_TIMEOUT, 504, "timeout", "job_timeout", 2,			\
	    "The job %s did not finish in time; it continues. Poll GET /v1/jobs/%s " \
	    "for its result.")							\
	X(STREAM_START_TIMEOUT, 504, "timeout", "job_timeout", 2,		\
	    "The job %s did not start streaming in time; it continues. Poll "	\
	    "GET /v1/jobs/%s for its result.")					\
	X(GATEWAY_RESTARTING, 503, "server_error", "gateway_restarting", 2,	\
	    "The gateway is restarting; your job %s continues. Poll GET /v1/jobs/%s " \
	    "for its result.")							\
	X(STREAM_RETRIED, 502, "server_error", "stream_interrupted", 1,	\
	    "The stream was interrupted and the engine call is being retried; the " \
	    "complete result will be at GET /v1/jobs/%s.")			\
	X(STREAM_INTERRUPTED, 502, "server_error", "stream_interrupted", 1,	\
	    "The stream was interrupted; the complete result is at GET /v1/jobs/%s.") \
	X(RESPONSE_NOT_FOUND, 404, "invalid_request_error", "response_not_found", 1, \
	    "No response with id '%s' is kept for this key (a response made with store: " \
	    "false, deleted, or past retention is not).")			\
	X(RESPONSE_OTHER_ENGINE_MODE, 400, "invalid_request_error",		\
	    "previous_response_not_continuable", 3,				\
	    "Response '%s' was answered by a model %s, and this request's model %s: " \
	    "continue it with a model served the same way, or send its history as " \
	    "input.")								\
	X(RESPONSE_IN_PROGRESS, 409, "invalid_request_error", "response_in_progress", 1, \
	    "Response '%s' has not finished: cancel it (POST .../cancel) or wait, then " \
	    "delete it.")							\
	X(JOB_NOT_FOUND, 404, "invalid_request_error", "job_not_found", 0,	\
	    "No job with that id.")						\
	X(FILE_NOT_FOUND, 404, "invalid_request_error", "file_not_found", 1,	\
	    "No such File object: %.64s")					\
	X(BATCH_NOT_FOUND, 404, "invalid_request_error", "batch_not_found", 1,	\
	    "No such Batch object: %.64s")					\
	X(FILE_INVALID, 400, "invalid_request_error", "invalid_file", 1,	\
	    "The file is not a valid batch input: %s")				\
	X(FILE_TOO_LARGE, 413, "invalid_request_error", "file_too_large", 1,	\
	    "The file is larger than the upload limit of %s bytes (batch.max_file_bytes).") \
	X(FILE_FORM_INVALID, 400, "invalid_request_error", "invalid_multipart", 1, \
	    "Send the upload as multipart/form-data with a `file` and `purpose`: %s.") \
	X(FILE_PURPOSE, 400, "invalid_request_error", "invalid_purpose", 1,	\
	    "Files of purpose '%.32s' are not accepted here: use purpose 'batch'.") \
	X(FILE_IN_USE, 409, "invalid_request_error", "file_in_use", 2,		\
	    "File %.64s is the input of batch %.64s, which has not ended.")	\
	X(UPLOADS_BUSY, 503, "server_error", "uploads_busy", 0,		\
	    "Too many uploads at once; try again shortly.")			\
	X(BATCH_INVALID, 400, "invalid_request_error", "invalid_batch", 1,	\
	    "%s")								\
	X(BATCH_NOT_CANCELLABLE, 409, "invalid_request_error", "batch_not_cancellable", 1, \
	    "The batch is already %.16s.")					\
	X(JOB_ALREADY_FINAL, 409, "invalid_request_error", "job_already_final", 1, \
	    "The job is already %.16s.")					\
	X(JOB_FAILED, 500, "server_error", NULL, 0,				\
	    "The job failed.")							\
	X(NOT_A_RUN, 409, "invalid_request_error", "not_a_workflow_run", 0,	\
	    "The job is not a workflow run: only runs take signals.")		\
	X(QUERY_PARAM_INVALID, 400, "invalid_request_error", "invalid_parameter", 2, \
	    "Query parameter '%.32s' is invalid: %.200s")			\
	X(RETRY_NOT_FINAL, 409, "invalid_request_error", "job_not_retryable", 1, \
	    "Only a failed or cancelled job can be retried as a new job; this one is %.16s.") \
	X(RETRY_RUN, 409, "invalid_request_error", "job_not_retryable", 0,	\
	    "A workflow run is not retried as a job: start the workflow again.") \
	X(RETRY_STEP, 409, "invalid_request_error", "job_not_retryable", 0,	\
	    "A step of a workflow run is not retried alone: its run decides its retries.") \
	X(RETRY_NOT_KEPT, 409, "invalid_request_error", "request_not_kept", 0,	\
	    "The job's request was not kept (zero retention or the retention policy), so it cannot be sent again.") \
	X(RETRY_KEY_GONE, 409, "invalid_request_error", "key_not_active", 0,	\
	    "The job's key is revoked or expired: there is no key to bill a retry to.") \
	X(SIGNALS_PENDING, 429, "rate_limit_error", "too_many_signals", 1,	\
	    "The run already holds %.16s signals it has not consumed.")	\
	X(WORKFLOW_BODY_INVALID, 400, "invalid_request_error",			\
	    "invalid_request_body", 1, "%.300s")				\
	X(KEY_NOT_FOUND, 404, "invalid_request_error", "key_not_found", 0,	\
	    "No API key with that id.")						\
	X(INVALID_VALUE, 400, "invalid_request_error", "invalid_value", 1,	\
	    "%.300s")								\
	X(MODEL_GONE, 404, "invalid_request_error", "model_not_found", 0,	\
	    "The model is no longer configured.")				\
	X(STREAMING_UNSUPPORTED, 400, "invalid_request_error",			\
	    "streaming_unsupported", 0,						\
	    "This model's engine adapter cannot stream.")			\
	X(UNSUPPORTED_BY_ENGINE, 400, "invalid_request_error",			\
	    "unsupported_by_engine", 1,						\
	    "The engine behind model '%.128s' cannot serve this request as sent " \
	    "(see docs/ADAPTERS.md).")						\
	X(BUILD_FAILED, 500, "server_error", NULL, 0,				\
	    "The gateway could not build the engine request.")		\
	X(ENGINE_UNREACHABLE, 503, "server_error", "engine_unavailable", 1,	\
	    "The engine could not be reached: %s")				\
	X(ENGINE_CALL_TIMEOUT, 504, "server_error", "engine_timeout", 1,	\
	    "The engine could not be reached: %s")				\
	X(ENGINE_REJECTED, 400, "invalid_request_error", "engine_rejected_request", 1, \
	    "The engine rejected the request: %s")				\
	X(CONTEXT_LENGTH_EXCEEDED, 400, "invalid_request_error",		\
	    "context_length_exceeded", 1,					\
	    "The engine rejected the request: %s")				\
	X(ENGINE_MISCONFIGURED, 502, "server_error", "engine_misconfigured", 1,	\
	    "The engine refused the gateway's call (HTTP %s); an operator must fix " \
	    "the model's configuration.")					\
	X(ENGINE_MISCONFIGURED_SAYS, 502, "server_error", "engine_misconfigured", 1, \
	    "The engine refused the gateway's call; an operator must fix the "	\
	    "model's configuration: %s")					\
	X(ENGINE_OVERLOADED, 503, "server_error", "engine_overloaded", 1,	\
	    "The engine is overloaded (HTTP %s), please try again later.")	\
	X(ENGINE_TIMEOUT, 504, "server_error", "engine_timeout", 1,		\
	    "The engine timed out (HTTP %s).")					\
	X(ENGINE_ERROR, 502, "server_error", "engine_error", 1,		\
	    "The engine failed (HTTP %s).")					\
	X(ENGINE_GENERATION_FAILED, 502, "server_error", "engine_error", 1,	\
	    "The engine failed during generation%s.")				\
	X(ENGINE_BAD_RESPONSE, 502, "server_error", "engine_bad_response", 1,	\
	    "The engine returned %s.")					\
	X(ENGINE_BAD_EMBEDDINGS, 502, "server_error", "engine_bad_response", 0,	\
	    "The engine returned embeddings that are not arrays of numbers.")	\
	X(RESPONSE_UNMASKABLE, 502, "server_error", "response_unmaskable", 0,	\
	    "The engine's answer could not be screened for personal data.")	\
	X(KEY_NOT_ACTIVE, 409, "invalid_request_error", "key_not_active", 1,	\
	    "The API key %.24s is revoked or expired; only a live key can be rotated.") \
	X(KEY_ALREADY_ROTATED, 409, "invalid_request_error", "key_already_rotated", 2, \
	    "The API key %.24s already has a live successor, key %.24s: rotate that " \
	    "key, or revoke it first.")						\
	X(PII_IN_CONTROL_FIELD, 400, "invalid_request_error",			\
	    "pii_in_control_field", 2,						\
	    "The request contains personal data of type %.64s in '%.128s', a field " \
	    "that steers the model, where masking would change its meaning. Remove " \
	    "it and try again.")

enum aif_apierr {
#define AIF_APIERR_ENUM(name, status, type, code, nargs, msg) AIF_E_##name,
	AIF_APIERR_MAP(AIF_APIERR_ENUM)
#undef AIF_APIERR_ENUM
	AIF_E__COUNT
};

/* Fills *out from the table's row of e with `param` (NULL: null) and the message's
 * string arguments (args borrowed, nargs of them; NULL strings print as ""). When
 * nargs differs from the row's, the message is kept without its details. Use the
 * macros, which make the argument list an array of strings. */
void		aif_error_from(struct aif_error *out, enum aif_apierr e, const char *param,
		    const char *const *args, size_t nargs);

#define AIF_ERROR0(out, e, param)	aif_error_from((out), (e), (param), NULL, 0)
#define AIF_ERROR(out, e, param, ...)						\
	aif_error_from((out), (e), (param), (const char *const []){ __VA_ARGS__ },	\
	    sizeof((const char *const []){ __VA_ARGS__ }) / sizeof(const char *))

/* The table's fields of e (for tests and for errors kept as rows; a test reads the
 * rows' names and codes from AIF_APIERR_MAP itself). */
int		aif_apierr_status(enum aif_apierr e);
const char	*aif_apierr_type(enum aif_apierr e);
const char	*aif_apierr_message(enum aif_apierr e);
size_t		 aif_apierr_nargs(enum aif_apierr e);

/* Fills *out with the given fields (type/code/param may be NULL for null), the message
 * formatted; everything bounded and made valid UTF-8. For errors whose kind comes from
 * data (a job row's stored error, the validator's findings), not for new literals. */
void		aif_error_set(struct aif_error *out, int status, const char *type,
		    const char *code, const char *param, const char *fmt, ...)
		    __attribute__((format(printf, 6, 7)));

/* The API surfaces an error can be rendered for. */
enum aif_surface {
	AIF_SURFACE_OPENAI,	/* {"error":{"message","type","param","code"}} */
	AIF_SURFACE_ANTHROPIC,	/* {"type":"error","error":{"type","message"}}, the
				   type from the status (anthropic.h) */
	AIF_SURFACE_RESPONSES,	/* OpenAI's Responses API: OpenAI's error shape */
};

/* The error as the surface's JSON object. New string (free(3)); NULL on no memory. */
char		*aif_error_render(const struct aif_error *err, enum aif_surface surface);

/* The standard reason phrase of an HTTP status ("OK", "Bad Request", ...). */
const char	*aif_http_reason(int status);

#endif
