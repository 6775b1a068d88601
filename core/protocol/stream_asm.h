/* stream_asm.h -- assembling a streamed answer: every canonical chunk relayed to the
 * client is also fed here, so the finished job row holds the same full response a
 * non-streaming call returns (chat.completion or text_completion with usage). Also
 * builds the final usage chunk the gateway sends for stream_options.include_usage. */
#ifndef AIF_STREAM_ASM_H
#define AIF_STREAM_ASM_H

#include <stdint.h>

#include <jansson.h>

#include "config.h"
#include "err.h"
#include "util.h"

struct aif_stream_asm;

/* New assembler (free with aif_stream_asm_free) for AIF_KIND_CHAT or
 * AIF_KIND_COMPLETION (or a surface kind, whose events passthru.h assembles) that keeps at most max_bytes of text (content, completion text,
 * tool-call ids, names and arguments together) in at most max_choices choices; NULL
 * on no memory. */
struct aif_stream_asm *aif_stream_asm_new(enum aif_kind kind, size_t max_bytes,
		    size_t max_choices);

/* Adds one chunk (borrowed), in time linear in its text. AIF_TOOBIG past max_bytes of
 * text or for a choice index >= max_choices, AIF_NOMEM. Chunks without choices are
 * ignored; tool calls past index 127 are dropped. */
enum aif_err	aif_stream_asm_add(struct aif_stream_asm *a, const json_t *chunk);

/* The full response (new reference) with the given id, created, model and usage. */
json_t		*aif_stream_asm_result(const struct aif_stream_asm *a, const char *id,
		    int64_t created, const char *model, int64_t prompt_tokens,
		    int64_t completion_tokens);

/* The usage chunk {"id","object","created","model","choices":[],"usage":{...}}. */
json_t		*aif_stream_usage_chunk(enum aif_kind kind, const char *id, int64_t created,
		    const char *model, int64_t prompt_tokens, int64_t completion_tokens);

void		aif_stream_asm_free(struct aif_stream_asm *a);

#endif
