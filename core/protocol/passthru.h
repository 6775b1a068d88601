/* passthru.h -- the API surfaces an engine serves itself, passed through (the kinds of
 * AIF_KIND_SURFACES: OpenAI's Responses API, POST /v1/responses, and Anthropic's
 * Messages API, POST /v1/messages; docs/ADAPTERS.md "Pass-through"): the id a job's
 * answer carries, what a well-formed answer and its usage look like, and assembling a
 * stream of the surface's events into the answer the job row keeps (the same object a
 * call without stream returns).
 *
 * References: the OpenAI API reference, "Responses" and "Streaming events"
 * (https://platform.openai.com/docs/api-reference/responses); Anthropic's "Messages"
 * and "Streaming Messages" (https://docs.anthropic.com/en/api/messages-streaming).
 * Thread-safe; no state beyond an assembler, which one thread owns. */
#ifndef AIF_PASSTHRU_H
#define AIF_PASSTHRU_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "err.h"
#include "kind.h"

/* The id the answer of job public_id ("job_X") carries on its surface: "resp_X"
 * (responses) or "msg_X" (messages), as the bridged surfaces name theirs. */
void		 aif_passthru_id(enum aif_kind kind, const char *public_id, char *out,
		    size_t cap);

/* 1 when root is a successful answer of the surface: a Response ({"object":
 * "response", "output": [...]}, status not "failed") or a Message ({"type": "message",
 * "content": [...]}), with no count of its usage negative. */
int		 aif_passthru_answer_ok(enum aif_kind kind, const json_t *root);

/* The prompt and completion tokens of a surface's usage object (borrowed; NULL
 * allowed): input_tokens (Messages: plus the cache's input tokens) and output_tokens;
 * a count that is absent or not a positive integer is 0. */
void		 aif_passthru_usage(enum aif_kind kind, const json_t *usage,
		    int64_t *prompt, int64_t *completion);

/* Writes what the gateway counted into answer's usage (created when absent), in the
 * surface's words; keeps the engine's details. 0, or -1 on no memory. */
int		 aif_passthru_set_usage(json_t *answer, enum aif_kind kind, int64_t prompt,
		    int64_t completion);

/* The Response or Message an event carries (borrowed from ev: changing it changes ev),
 * or NULL: "response" of
 * the Responses events response.created, .in_progress, .completed, .incomplete, .failed
 * and .queued; "message" of message_start. */
json_t		*aif_passthru_event_object(enum aif_kind kind, json_t *ev);

/* 1 when a surface's event type (borrowed, may be NULL) is one that carries text or
 * arguments as it is made: a Responses "*.delta", Anthropic's content_block_delta. */
int		 aif_passthru_is_delta(const char *type);

/* Sets obj's (a Response or Message) id and model. 0, or -1 on no memory. */
int		 aif_passthru_stamp(json_t *obj, const char *id, const char *model);

struct aif_passthru_asm;

/* New assembler (free with aif_passthru_asm_free) for a surface kind keeping at most
 * max_bytes of the answer; NULL on no memory or another kind. */
struct aif_passthru_asm *aif_passthru_asm_new(enum aif_kind kind, size_t max_bytes);

/* Adds one event (borrowed). AIF_TOOBIG past max_bytes, AIF_NOMEM. Events it does not
 * know are ignored. */
enum aif_err	 aif_passthru_asm_add(struct aif_passthru_asm *a, const json_t *ev);

/* The answer (new reference) so far: the last Response an event carried, with the
 * output items seen when it has none (Responses); the Message from message_start with
 * its content blocks and message_delta's stop reason (Messages). Its id and model are
 * set; its usage is the caller's to set. NULL on no memory. */
json_t		*aif_passthru_asm_result(const struct aif_passthru_asm *a, const char *id,
		    const char *model);

/* Frees a and everything it keeps; accepts NULL. */
void		 aif_passthru_asm_free(struct aif_passthru_asm *a);

/* The events of a stream that carries a stored answer (borrowed), for a client whose
 * stream was relayed no event (an attach, a lost relay), in the surface's full order
 * with each text, tool input or argument as one delta: response.created,
 * .in_progress, per output item .output_item.added, its parts (.content_part.added,
 * .output_text.delta, .output_text.done, .content_part.done) or its arguments
 * (.function_call_arguments.delta, .done), .output_item.done, then .completed (or
 * .incomplete), numbered; message_start, per block content_block_start (empty),
 * content_block_delta (text_delta, input_json_delta, thinking_delta and
 * signature_delta), content_block_stop, then message_delta and message_stop. A new
 * array, or NULL (no memory, no answer). */
json_t		*aif_passthru_replay(enum aif_kind kind, const json_t *answer);

#endif
