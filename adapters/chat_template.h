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
 *
 * The template's special tokens are removed from every message's content (engines
 * read them from raw text, so a client could forge turns): for chatml <|im_start|>,
 * <|im_end|>, <|endoftext|>; for llama3 <|begin_of_text|>, <|end_of_text|>,
 * <|start_header_id|>, <|end_header_id|>, <|eot_id|>, <|eom_id|>, <|python_tag|>,
 * <|finetune_right_pad_id|>; for a custom template the markers in its text, with
 * {role} rendered as each role: <|x|> (printable ASCII, no space), <x> and </x>
 * (x: a letter or _, then letters, digits, _ . : -), <<X>> and <</X>>, [X] and [/X]
 * (X: A-Z, then A-Z 0-9 _), each opening marker with its closing twin and the other
 * way round, at most 64 bytes each (docs/ADAPTERS.md "Special tokens"). Removal is
 * complete (no token is left, not even one assembled from the pieces around a removed
 * one), linear in the content and keeps UTF-8 valid (tokens are ASCII).
 *
 * All of that depends on the template only: aif_chat_template_compile does it once (at
 * config load, adapters/catalog.c), aif_chat_template_render_compiled then only
 * renders. A compiled template is read-only: threads may share it. */
#ifndef AIF_CHAT_TEMPLATE_H
#define AIF_CHAT_TEMPLATE_H

#include <stddef.h>

#include <jansson.h>

#include "err.h"

#define AIF_CHAT_TEMPLATE_MAX		(8u << 20)	/* rendered prompt, bytes */
#define AIF_CHAT_TEMPLATE_SPEC_MAX	4096		/* a custom template, bytes */
#define AIF_CHAT_TEMPLATE_TOKENS_MAX	32		/* special tokens of a template */

/* A template parsed, with its special tokens and the automaton that removes them. */
struct aif_chat_template;

/* Compiles `tmpl` (borrowed, copied; NULL means "chatml") when it names a built-in or is
 * a well-formed custom template with at most AIF_CHAT_TEMPLATE_TOKENS_MAX special
 * tokens. On AIF_OK *out is new (aif_chat_template_free); else AIF_INVALID or
 * AIF_NOMEM and *out is NULL. */
enum aif_err	aif_chat_template_compile(const char *tmpl, struct aif_chat_template **out);

/* Frees a compiled template; accepts NULL. */
void		aif_chat_template_free(struct aif_chat_template *ct);

/* Returns what aif_chat_template_compile would, without keeping the result. For config
 * checks at load time. */
enum aif_err	aif_chat_template_check(const char *tmpl);

/* Writes the special tokens of `tmpl` (as above) into out[cap], each followed by
 * "\n", NUL-terminated. AIF_TOOBIG when they do not fit (out then holds those that
 * did), AIF_INVALID a bad template, AIF_NOMEM. For tests and diagnostics. */
enum aif_err	aif_chat_template_tokens(const char *tmpl, char *out, size_t cap);

/* Renders `messages` (borrowed: a JSON array of {"role": string, "content": string |
 * array of text parts | null}) with the compiled template ct (borrowed). The role
 * "developer" is rendered as "system"; text parts are joined with "\n", then the
 * template's special tokens are removed from the content; a null or missing content
 * renders as ""; names and tool calls are not rendered.
 * On AIF_OK *out is new (free with free(3)), NUL-terminated, and *out_len (may be NULL)
 * is its length. Errors: AIF_INVALID (not an array, a message that is not an object,
 * a role that is not a string, a content part that is not text),
 * AIF_TOOBIG (the prompt would exceed AIF_CHAT_TEMPLATE_MAX), AIF_NOMEM. On error *out
 * is NULL and *out_len is 0. */
enum aif_err	aif_chat_template_render_compiled(const struct aif_chat_template *ct,
		    const json_t *messages, char **out, size_t *out_len);

/* The same with `tmpl` (borrowed; NULL means "chatml") compiled for this one call (a
 * bad template: AIF_INVALID). */
enum aif_err	aif_chat_template_render(const char *tmpl, const json_t *messages,
		    char **out, size_t *out_len);

#endif
