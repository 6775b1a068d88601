/* oai.h -- the OpenAI request front: parsing and validating request bodies for
 * /v1/chat/completions, /v1/completions and /v1/embeddings.
 * Validation is what OpenAI documents (types, ranges, required fields); unknown fields
 * are passed through to the engine untouched (vLLM and others accept extras). Errors
 * are struct aif_error (apierr.h).
 * Thread-safe; no state. */
#ifndef AIF_OAI_H
#define AIF_OAI_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "apierr.h"
#include "config.h"
#include "err.h"

struct aif_oai_limits {
	size_t	 max_body_bytes;	/* body longer than this: 413 */
	int	 max_depth;		/* JSON nesting deeper than this: 400 */
	int	 max_messages;		/* more messages than this: 400 */
	size_t	 max_string_bytes;	/* any single string longer: 400 */
};

/* A validated request. */
struct aif_oai_req {
	json_t	*body;			/* new reference, the parsed object (owned) */
	enum aif_kind kind;		/* AIF_KIND_CHAT, _COMPLETION or _EMBEDDING */
	const char *model;		/* borrowed from body */
	int	 stream;		/* "stream": true */
	int64_t	 max_tokens;		/* the completion limit the engine applies to each
					   choice: chat max_completion_tokens, else
					   max_tokens; completions max_tokens; or -1 */
	int64_t	 prompt_tokens_estimate; /* bytes of all prompt text / 4, rounded up,
					   plus 4 per message; >= 1 */
	int64_t	 pair_bytes;		/* rerank, score: the bytes of every pair the
					   engine scores (a query once per document),
					   which can pass the request's own; else 0 */
	int64_t	 prompt_parts;		/* messages (chat), prompts or inputs: what an
					   engine may frame with tokens of its own */
	int64_t	 prompts;		/* completions: the prompts of a batch; embeddings:
					   the inputs; chat: 1 */
	int64_t	 choices_per_prompt;	/* max(n, best_of), >= 1 */
};

/* The completion tokens a request may produce at most, when each choice may take
 * `limit` tokens: prompts x choices x limit, saturating at INT64_MAX. */
int64_t		aif_oai_completion_bound(const struct aif_oai_req *req, int64_t limit);

/* The prompt tokens a request may take at most, when it is sent as `sent_bytes` bytes
 * (or, for a rerank or score, pair_bytes when larger): every byte one token (a token id
 * in JSON takes a byte or more), plus AIF_OAI_FRAMING_TOKENS per message, prompt or
 * pair, saturating. */
#define AIF_OAI_FRAMING_TOKENS	64
int64_t		aif_oai_prompt_bound(const struct aif_oai_req *req, size_t sent_bytes);

/* Parses and validates `body` (len bytes, borrowed) as a request of `kind`.
 * Checks, in order: size (413), UTF-8 + JSON syntax (400 "invalid_json"... param null),
 * depth, top-level object, required fields, field types and ranges, message roles and
 * content shapes, string bounds. Fields checked when present: model (string, required),
 * messages (chat: non-empty array of objects, role in system|developer|user|assistant|
 * tool|function, content string|array of parts|null (null only for assistant with
 * tool_calls), name string, tool_call_id string for tool), prompt (completion: string,
 * array of strings, array of ints, array of int arrays; required), max_tokens and
 * max_completion_tokens (int >= 1), temperature (0..2), top_p (0..1), n (int 1..128),
 * best_of (completions: int 1..20, >= n, not with stream),
 * stream (bool), stream_options (object|null, only with stream true), stop (string |
 * array of <= 4 strings | null), presence_penalty / frequency_penalty (-2..2), seed (int),
 * logprobs (chat: bool; completion: int 0..5), top_logprobs (0..20), user (string),
 * logit_bias (object of numbers -100..100), response_format (object with type text,
 * json_object or json_schema; json_schema needs json_schema.name), tools (array of
 * {type: function, function: {name, description?, parameters?}}), tool_choice
 * (none|auto|required or {function: {name}}), top_logprobs only with logprobs
 * true (chat); embeddings: input (required,
 * the shapes of prompt, at most 2048 items), encoding_format (float|base64),
 * dimensions (1..65536), user.
 * On AIF_OK *out is filled (free with aif_oai_req_free) and *err untouched.
 * On error *out is zeroed, *err is filled (status 400 or 413), returns AIF_INVALID or
 * AIF_TOOBIG. */
enum aif_err	aif_oai_parse(enum aif_kind kind, const char *body, size_t len,
		    const struct aif_oai_limits *lim, struct aif_oai_req *out,
		    struct aif_error *err);

/* Releases what `req` holds; accepts a zeroed struct. */
void		aif_oai_req_free(struct aif_oai_req *req);

/* 1 when s[0..n) (borrowed) is exactly one of the chat roles the validator accepts:
 * system, developer, user, assistant, tool, function. */
int		aif_oai_role_known(const char *s, size_t n);

#endif
