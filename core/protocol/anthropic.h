/* anthropic.h -- the Anthropic Messages API surface (POST /v1/messages and
 * /v1/messages/count_tokens), bridged through chat completions: a Messages request
 * becomes the chat completion request every adapter speaks, and the chat completion
 * answer (whole, or as stream chunks) becomes a Message (or Anthropic's SSE events).
 * Wire formats: https://docs.anthropic.com/en/api/messages and .../messages-streaming.
 *
 * What the bridge cannot express is refused with a clear error, never dropped
 * silently: document, search-result and server-tool blocks, and tools that are not
 * client tools with an input_schema. Thinking blocks in the history are dropped (chat
 * completions has no field for them). Thread-safe; no state. */
#ifndef AIF_ANTHROPIC_H
#define AIF_ANTHROPIC_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "apierr.h"

/* Bounds of a request (the gateway's server.* limits). */
struct aif_anth_limits {
	size_t	 max_body_bytes;
	int	 max_depth;
	int	 max_messages;
};

/* The Messages request body (len bytes, borrowed) as the body of a chat completion
 * request: model, messages (the system prompt first), max_tokens, stop, sampling,
 * tools and tool_choice, stream (with the usage chunk asked for). `count_only`: the
 * body of count_tokens (max_tokens not required). Returns a new object (*out), or -1
 * with *err filled (400, 413). */
int	aif_anth_to_chat(const char *body, size_t len, const struct aif_anth_limits *lim,
	    int count_only, json_t **out, struct aif_error *err);

/* The Message of a chat completion answer (borrowed): content blocks (text, tool_use
 * with its input parsed), stop_reason, usage. Its id is "msg_" and the job's id after
 * "job_" (job_id borrowed). New object, or NULL on no memory. */
json_t	*aif_anth_message(const json_t *completion, const char *job_id);

/* A Messages request (body, borrowed and changed in place; checked by
 * aif_anth_to_chat) passed through to an engine that serves the API (which takes only
 * user and assistant turns): the system messages between its turns (Claude Code sends
 * them) move into its top-level system, after what it held, as text blocks in their
 * order (blocks kept as they were). 0, or -1 on no memory. */
int	aif_anth_fold_system(json_t *body);

/* Writes one SSE event (name and JSON data, borrowed): 0, or -1 when the client is
 * gone (the translation stops). */
typedef int	(*aif_sse_emit_fn)(void *arg, const char *event, const json_t *data);

/* The state of one stream's translation: chat chunks in, Anthropic events out. */
struct aif_anth_stream {
	int	 started;	/* message_start sent */
	int	 open;		/* a content block is open */
	int	 index;		/* the open block's index, or the next one's */
	int	 open_tool;	/* the chat tool call index of the open tool_use, -1 */
	char	 stop_reason[24];
	char	 msg_id[80];
};

/* A zeroed state for the stream of job job_id (borrowed). */
void	aif_anth_stream_init(struct aif_anth_stream *s, const char *job_id);

/* Translates one chat completion chunk (payload, len bytes): message_start first,
 * then content_block_start / content_block_delta / content_block_stop as text and tool
 * calls come. Returns 0, or -1 when emit failed. */
int	aif_anth_stream_chunk(struct aif_anth_stream *s, const char *payload, size_t len,
	    const char *model, aif_sse_emit_fn emit, void *arg);

/* Ends a stream that went well: the open block closed, message_delta (stop_reason,
 * usage), message_stop. Returns as above. */
int	aif_anth_stream_end(struct aif_anth_stream *s, const char *model, int64_t input,
	    int64_t output, aif_sse_emit_fn emit, void *arg);

/* Anthropic's error type for a status and our error type ("invalid_request_error",
 * "authentication_error", "permission_error", "not_found_error", "request_too_large",
 * "rate_limit_error", "billing_error", "timeout_error", "overloaded_error",
 * "api_error"). Static. */
const char *aif_anth_error_type(int status, const char *type);

#endif
