/* pii.h -- the PII masking engine: finds personal data (Korean and English) and secrets
 * in request texts and masks, redacts, hashes or blocks them by the `pii:` section of
 * the configuration (docs/PII.md).
 *
 * Life cycle: aif_pii_new() compiles every pattern once (pcre2, JIT) from a loaded
 * config; the engine is then immutable and shared read-only by any number of threads.
 * Each thread gets its own pcre2 match data and JIT stack on first use (thread-specific
 * data, freed when the thread exits or by aif_pii_thread_cleanup()). A config reload
 * builds a new engine; free the old one when no request uses it any more.
 *
 * Offsets are byte offsets into the caller's UTF-8 text. Texts that are not valid UTF-8
 * are refused (AIF_INVALID). Masked output is valid UTF-8 and keeps every byte outside
 * the entities as it was. Values are never logged, stored or returned by this module
 * except in the masked text itself: counts are per type, hits carry offsets only. */
#ifndef AIF_PII_H
#define AIF_PII_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "apierr.h"
#include "config.h"
#include "err.h"
#include "oai.h"
#include "pii_types.h"

#define AIF_PII_MAX_TEXT	(64u << 20)	/* bytes of one text */
#define AIF_PII_EPHEMERAL_KEY	0x1u	/* aif_pii_new: an unreadable hash key file is
					   replaced by a random key (aifctl only) */

struct aif_pii;				/* the compiled engine, opaque */

/* The actions in force for one request: the config's per-type actions with the
 * policies matching its model and role applied. Plain data; fill with
 * aif_pii_actions_for(); valid as long as its engine. */
struct aif_pii_actions {
	const struct aif_pii *pii;		/* borrowed */
	uint8_t		 action[AIF_PII_MAX_TYPES];	/* enum aif_pii_action */
	uint8_t		 style[AIF_PII_MAX_TYPES];	/* enum aif_pii_mask_style */
};

/* One entity found in a text: offsets only, never the value. */
struct aif_pii_hit {
	size_t		 start, end;	/* bytes [start, end) of the caller's text */
	int		 type;		/* index for aif_pii_type_name() */
	int		 action;	/* enum aif_pii_action in force */
	int		 style;		/* enum aif_pii_mask_style in force */
	int		 confidence;	/* 0..100: 100 checksum or exact format,
					   lower for a format without a checksum */
	int		 rule;		/* index of the enabled rules, or -1: built-in */
	int		 detector;	/* index of the built-in detector, or -1 */
};

/* Entities found per type (self-describing: type names are copied, so counts outlive
 * a config reload). `acted` counts those masked, redacted, hashed or blocked;
 * `found - acted` were allowed. */
struct aif_pii_counts {
	size_t		 ntypes;
	struct {
		char	 type[AIF_PII_TYPE_LEN];
		uint32_t found;
		uint32_t acted;
	} by[AIF_PII_MAX_TYPES];
};

/* Compiles the engine for cfg->pii (cfg borrowed; nothing of it is kept).
 * A config whose section is absent or `enabled: false` gives an engine that finds
 * nothing (aif_pii_enabled() == 0). The hash key is read here: pii.hash_key_file, or
 * derived from auth.pepper_file; with AIF_PII_EPHEMERAL_KEY in flags an unreadable key
 * is replaced by a random one and a note is left in errbuf.
 * On AIF_OK *out is new (aif_pii_free). On error *out is NULL and errbuf holds
 * "file:line:column: message" lines: AIF_IO key unreadable, AIF_CONFIG bad pattern,
 * AIF_NOMEM. */
enum aif_err	aif_pii_new(const struct aif_config *cfg, unsigned flags,
		    struct aif_pii **out, char *errbuf, size_t errlen);

/* Frees the engine; accepts NULL. No thread may be using it. */
void		aif_pii_free(struct aif_pii *pii);

/* 1 when the engine detects anything at all (section present and enabled). */
int		aif_pii_enabled(const struct aif_pii *pii);

/* 1 when `mask_responses: true`. */
int		aif_pii_masks_responses(const struct aif_pii *pii);

/* Name of type `type` ("EMAIL", or a custom rule's entity), borrowed from the engine;
 * "?" when out of range. */
const char	*aif_pii_type_name(const struct aif_pii *pii, int type);

/* Name of enum aif_pii_action ("mask", ...); static. */
const char	*aif_pii_action_name(int action);

/* Name of a hit's detector for --explain: "builtin" or the rule's name (borrowed). */
const char	*aif_pii_hit_source(const struct aif_pii *pii, const struct aif_pii_hit *h);

/* Fills *out with the actions for a request to model `model_id` by role `role`
 * (either may be NULL: only policies whose patterns match "" then apply, "*" does).
 * Never fails. */
void		aif_pii_actions_for(const struct aif_pii *pii, const char *model_id,
		    const char *role, struct aif_pii_actions *out);

/* Finds the entities of `text` (len bytes, borrowed, valid UTF-8) under `act`.
 * Hits are sorted, do not overlap and carry their action (allowed ones included).
 * On AIF_OK *hits is new (free(3); NULL when *nhits is 0).
 * On error *hits is NULL, *nhits 0: AIF_INVALID not UTF-8, AIF_TOOBIG text over
 * AIF_PII_MAX_TEXT or a pattern over its match limit, AIF_NOMEM. */
enum aif_err	aif_pii_scan(const struct aif_pii_actions *act, const char *text,
		    size_t len, struct aif_pii_hit **hits, size_t *nhits);

/* Writes the masked text of `text` given its hits (from aif_pii_scan on the same text):
 * allowed hits are kept, blocked ones rendered like mask. On AIF_OK *out is new
 * (NUL-terminated, free(3)) of *outlen bytes. On AIF_NOMEM *out is NULL. */
enum aif_err	aif_pii_apply(const struct aif_pii_actions *act, const char *text,
		    size_t len, const struct aif_pii_hit *hits, size_t nhits, char **out,
		    size_t *outlen);

/* Scan + apply. On AIF_OK *out is new (as aif_pii_apply; a copy of text when nothing
 * was found) and counts (may be NULL) are added to. When a hit's action is block:
 * returns AIF_FORBIDDEN, *out NULL, its type name in blocked[cap] (cap >=
 * AIF_PII_TYPE_LEN; may be NULL). Other errors as aif_pii_scan. */
enum aif_err	aif_pii_mask_text(const struct aif_pii_actions *act, const char *text,
		    size_t len, char **out, size_t *outlen, struct aif_pii_counts *counts,
		    char *blocked, size_t cap);

/* Why a request was refused: the entity's type and where it is, never its value. */
#define AIF_PII_PATH_LEN	128	/* bytes of a path, NUL included */
struct aif_pii_refusal {
	char	 type[AIF_PII_TYPE_LEN];	/* "KR_RRN" */
	/* "stop[1]", "tools[0].function.description", "metadata.<key>": a key that
	 * holds an entity is shown as <key>; cut with "..." */
	char	 path[AIF_PII_PATH_LEN];
	/* 1: an entity to mask, redact or hash in a control field; 0: a block */
	int	 control;
};

/* Screens, in place, every string of a validated request body of `kind` (body
 * borrowed and modified), at any depth, and every object key that is not a field name
 * of the request's schema, with the actions for model_id and role
 * (aif_pii_actions_for); docs/PII.md "What is screened" lists the fields.
 * Text fields are masked: messages[] (content, the text of content parts, name,
 * refusal, reasoning_content, tool-call arguments: JSON masked value by value, keys
 * and integers included, so it stays JSON; else as text), prompt, suffix, input, user,
 * metadata, prediction and every field not known as a control field, keys included.
 * Control fields (stop, tools, functions, tool_choice, response_format, logit_bias,
 * guided decoding, sampling parameters, chat_template_kwargs, content parts' URLs and
 * data, tool-call ids and names, ...) are not masked: an entity to mask, redact or hash
 * there refuses the request. The model id (when it is model_id), roles and content
 * part types are skipped when they are the known values. Counts are added to `counts`
 * (may be NULL), also for a refused request.
 * Returns AIF_OK (also when the engine is disabled); AIF_FORBIDDEN when the request is
 * refused: *why (may be NULL) says why (a block, or a control field's entity; also a
 * key masked into a name its object already has, as a control field), the body is
 * then partly masked and must be dropped; AIF_INVALID a text that is not UTF-8 or an
 * unknown kind; AIF_TOOBIG a text too large (the body's depth is not limited here: the
 * validator's server.max_json_depth bounds it; tool-call arguments deeper than 64 are
 * masked as text); AIF_NOMEM (the body must be dropped). */
enum aif_err	aif_pii_screen_request(const struct aif_pii *pii, const char *model_id,
		    const char *role, enum aif_kind kind, json_t *body,
		    struct aif_pii_counts *counts, struct aif_pii_refusal *why);

/* aif_pii_screen_request with the refusal's type only: on AIF_FORBIDDEN (a block or a
 * control field's entity) blocked_type[cap] names the type (may be NULL). */
enum aif_err	aif_pii_mask_request(const struct aif_pii *pii, const char *model_id,
		    const char *role, enum aif_kind kind, json_t *body,
		    struct aif_pii_counts *counts, char *blocked_type, size_t cap);

/* Masks, in place, a non-streamed chat or completion response body (choices[].message
 * content, refusal, reasoning_content and tool-call arguments; choices[].text) when
 * `mask_responses: true`; block acts as mask there. Otherwise, and for embeddings,
 * returns AIF_OK untouched. Errors as aif_pii_mask_request without AIF_FORBIDDEN. */
enum aif_err	aif_pii_mask_response(const struct aif_pii *pii, const char *model_id,
		    const char *role, enum aif_kind kind, json_t *resp,
		    struct aif_pii_counts *counts);

/* Sets *c to no counts. */
void		aif_pii_counts_init(struct aif_pii_counts *c);

/* The counts as a compact JSON object {"EMAIL":2,"PHONE":1} of entities acted upon,
 * plus "allowed":{"KR_RRN":1} when some were left by an allow; types only, never
 * values. On AIF_OK *out is new (free(3)), or NULL when nothing was found.
 * AIF_NOMEM leaves *out NULL. */
enum aif_err	aif_pii_counts_json(const struct aif_pii_counts *c, char **out);

/* Fills *err with the client's error for a blocked request: 400,
 * invalid_request_error, code "pii_blocked", a message naming `type`, never a value. */
void		aif_pii_block_error(const char *type, struct aif_error *err);

/* Fills *err with the client's error for a refusal of aif_pii_screen_request: a block
 * as aif_pii_block_error; a control field's entity 400 invalid_request_error, code
 * "pii_in_control_field", param the path, a message naming the type and the path. */
void		aif_pii_refusal_error(const struct aif_pii_refusal *why,
		    struct aif_error *err);

/* Returns 1 when s[0..n) is valid UTF-8 (no overlong forms, surrogates or code points
 * over U+10FFFF); else 0 and the offset of the first bad byte in *bad (may be NULL). */
int		aif_pii_utf8_valid(const char *s, size_t n, size_t *bad);

/* Frees the calling thread's match data now (it is also freed at thread exit). */
void		aif_pii_thread_cleanup(void);

/* Matcher work of the calling thread's scans so far: the subject bytes its pcre2 calls
 * could look at, summed (how they are counted: core/pii/scan.c, "matcher work"). A
 * running total per thread, kept always at the cost of an addition per pcre2 call; for
 * tests and diagnostics: take the difference around a call, e.g. to check that a scan
 * stays linear in the length of its text. */
uint64_t	aif_pii_thread_work(void);

/* Checksums and format checks, exposed for tests. Each takes ASCII digits (or
 * characters) and returns 1 when valid. */
int		aif_pii_luhn_ok(const char *digits, size_t n);
int		aif_pii_iban_ok(const char *iban, size_t n);	/* no spaces */
int		aif_pii_rrn_checksum_ok(const char *d13);	/* RRN formula */
int		aif_pii_frn_checksum_ok(const char *d13);	/* FRN (+2) formula */
int		aif_pii_rrn_date_ok(const char *d13);	/* YYMMDD with the century of
							   the 7th digit */
int		aif_pii_brn_checksum_ok(const char *d10);

#endif
