/* responses.h -- OpenAI's Responses API surface (POST /v1/responses, GET and DELETE
 * /v1/responses/{id}, POST /v1/responses/input_tokens), bridged through chat
 * completions: a Responses request becomes the chat completion request every adapter
 * speaks; the chat answer (whole, or as stream chunks) becomes a Response (or the
 * Responses stream events). Reference: https://platform.openai.com/docs/api-reference/responses
 * and .../responses-streaming.
 *
 * The gateway keeps responses itself, as jobs: the stored chat request carries a small
 * object under AIF_RESP_META (no prompt text: whether the first message is the
 * instructions, the previous response it continues, how many messages it inherited,
 * the request's metadata when it has some) that the worker takes out before the
 * engine sees the request. A response continued
 * with previous_response_id gets the previous one's messages (without its
 * instructions) and answer before its own input.
 *
 * What the bridge cannot express is refused with a clear error: tools other than
 * function tools (also inside namespaces) and hosted tools, input files and file ids,
 * item references, conversations. Hosted tools (web and file search, code interpreter,
 * MCP, ...: run by OpenAI's servers, which a gateway in front of engines does not
 * have) are left out and named in aif_resp_ask.dropped; reasoning items in the input
 * are dropped. Thread-safe; no state. */
#ifndef AIF_RESPONSES_H
#define AIF_RESPONSES_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "anthropic.h"	/* aif_sse_emit_fn */
#include "apierr.h"
#include "buf.h"

#define AIF_RESP_META	"x_aif_responses"
#define AIF_RESP_ID_MAX	64

struct aif_resp_limits {
	size_t	 max_body_bytes;
	int	 max_depth;
	int	 max_messages;
};

/* What a request asks of the gateway rather than of the engine. */
struct aif_resp_ask {
	char	 previous[AIF_RESP_ID_MAX];	/* previous_response_id, "" */
	int	 background;			/* run async: answered "queued" */
	int	 store;				/* keep it (default 1) */
	int	 stream;
	char	 dropped[160];		/* hosted tool types left out ("web_search,..."),
					   "" */
};

/* The request body (len bytes, borrowed) as a chat completion request (*chat, new):
 * the instructions as the first message, then the input; tools, tool_choice,
 * text.format (as response_format), max_output_tokens (as max_tokens), sampling,
 * stream (with the usage chunk); AIF_RESP_META set. *metadata: the request's metadata
 * (new, {} when none). `count_only`: input_tokens's body. Returns 0, or -1 with *err
 * (400, 413). */
int	aif_resp_to_chat(const char *body, size_t len, const struct aif_resp_limits *lim,
	    int count_only, json_t **chat, json_t **metadata, struct aif_resp_ask *ask,
	    struct aif_error *err);

/* Puts the history of a previous response (its stored chat request and its chat
 * answer, borrowed) into chat before its own input (after its instructions); notes
 * it in AIF_RESP_META. Returns 0, or -1 with *err when prev_request is no response. */
int	aif_resp_chain(json_t *chat, const json_t *prev_request, const json_t *prev_answer,
	    struct aif_error *err);

/* 1 when a stored chat request (borrowed) was made through the Responses API. */
int	aif_resp_is_response(const json_t *chat);

/* Takes AIF_RESP_META out of a request text (len bytes) for the engine: a new
 * string in *out (its length *outlen), or NULL when there is none to take out. The
 * response it continues, as the note names it, goes into prev (prevcap bytes; may be
 * NULL), "" when none or too long. */
int	aif_resp_strip(const char *text, size_t len, char **out, size_t *outlen,
	    char *prev, size_t prevcap);

/* The id of a response ("resp_" + the job id after "job_") into out, and back
 * (aif_resp_job_id: 0, or -1 when id is no response id). */
void	aif_resp_id(const char *job_id, char *out, size_t cap);
int	aif_resp_job_id(const char *resp_id, char *out, size_t cap);

/* The Response object of job job_id as it is before an answer (status "queued"):
 * the fields it echoes from its chat request (borrowed: instructions, tools,
 * tool_choice, sampling, max_output_tokens, text, previous id, user) and metadata
 * (borrowed; NULL: the one the request's note kept, else {}). New object, or NULL on
 * no memory. */
json_t	*aif_resp_template(const json_t *chat, const json_t *metadata, const char *job_id,
	    const char *model, int64_t created_at);

/* The Response of a request passed through (its stored body req, borrowed: the
 * surface's own, with its note) as it is before an answer: the template's fields the
 * request set, as it set them, and the previous id its note keeps. New, or NULL. */
json_t	*aif_resp_native_template(const json_t *req, const char *job_id,
	    const char *model, int64_t created_at);

/* Fills resp (a template) from a chat answer (borrowed): output items (a message with
 * its output_text, function calls), usage, status "completed" (or "incomplete" with
 * its reason when the answer hit the token limit). */
void	aif_resp_complete(json_t *resp, const json_t *answer);

/* Sets resp's status ("in_progress", "failed", "cancelled", ...) and its error (e,
 * may be NULL). */
void	aif_resp_fail(json_t *resp, const char *status, const struct aif_error *e);

/* The state of one stream's translation: chat chunks in, Responses events out. */
struct aif_resp_stream {
	json_t		*response;	/* the snapshot sent with response.created; its
					   "output" grows as items finish */
	int64_t		 seq;		/* sequence_number of the next event */
	int		 started;
	int		 open;		/* an output item is open */
	int		 open_tool;	/* its chat tool call index, -1 for a message */
	int		 items;		/* output items so far */
	char		 item_id[96];
	char		 call_id[128];
	char		 name[128];
	struct aif_buf	 text;		/* the open item's text or arguments */
	char		 finish[24];
};

/* A new translation for the stream of the Response `response` (stolen: a
 * template). */
void	aif_resp_stream_init(struct aif_resp_stream *s, json_t *response);
void	aif_resp_stream_free(struct aif_resp_stream *s);

/* One chat completion chunk (payload, len bytes). 0, or -1 when emit failed. */
int	aif_resp_stream_chunk(struct aif_resp_stream *s, const char *payload, size_t len,
	    aif_sse_emit_fn emit, void *arg);

/* The end of a stream that went well: the open item done, response.completed (or
 * incomplete when the answer hit max_output_tokens) with usage. */
int	aif_resp_stream_end(struct aif_resp_stream *s, int64_t input, int64_t output,
	    aif_sse_emit_fn emit, void *arg);

/* The error event of a stream that failed after it started (data for `event: error`):
 * {"type":"error","code","message","param","sequence_number","error":{...}}; s NULL
 * (a stream passed through, whose numbers are the engine's): no sequence_number. New,
 * or NULL. */
json_t	*aif_resp_stream_error(struct aif_resp_stream *s, const struct aif_error *e);

#endif
