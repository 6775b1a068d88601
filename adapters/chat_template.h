/* chat_template.h -- renders OpenAI chat `messages` into one prompt string, for the
 * adapters whose engines take a prompt instead of messages (tgi, triton). A template
 * is named in YAML models[].chat_template: the built-ins "chatml" and "llama3", or a
 * custom string (docs/ADAPTERS.md "Chat templates"):
 *
 *	<head>{content}<tail>{assistant}
 *
 * Each message becomes head + content + tail, with {role} in head and tail replaced by
 * the message's role; {assistant} (required, last) becomes head once more with the
 * role "assistant": where the answer starts. {content} appears exactly once. Every
 * other character, braces included, is copied as is.
 * Thread-safe; no state. */
#ifndef AIF_CHAT_TEMPLATE_H
#define AIF_CHAT_TEMPLATE_H

#include <stddef.h>

#include <jansson.h>

#include "err.h"

#define AIF_CHAT_TEMPLATE_MAX		(8u << 20)	/* rendered prompt, bytes */
#define AIF_CHAT_TEMPLATE_SPEC_MAX	4096		/* a custom template, bytes */

/* Returns AIF_OK when `tmpl` (borrowed; NULL means "chatml") names a built-in or is a
 * well-formed custom template, else AIF_INVALID. For config checks at load time. */
enum aif_err	aif_chat_template_check(const char *tmpl);

/* Renders `messages` (borrowed: a JSON array of {"role": string, "content": string |
 * array of text parts | null}) with `tmpl` (borrowed; NULL means "chatml"). The role
 * "developer" is rendered as "system"; text parts are joined with "\n"; a null or
 * missing content renders as ""; tool calls are not rendered.
 * On AIF_OK *out is new (free with free(3)), NUL-terminated, and *out_len (may be NULL)
 * is its length. Errors: AIF_INVALID (bad template, not an array, a message that is not
 * an object, a role that is not a string, a content part that is not text),
 * AIF_TOOBIG (the prompt would exceed AIF_CHAT_TEMPLATE_MAX), AIF_NOMEM. On error *out
 * is NULL and *out_len is 0. */
enum aif_err	aif_chat_template_render(const char *tmpl, const json_t *messages,
		    char **out, size_t *out_len);

#endif
