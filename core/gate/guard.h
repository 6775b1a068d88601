/* guard.h -- guardrails (YAML `guardrails:`, docs/GUARDRAILS.md) beside PII masking:
 * which apply to a request (its model and role), the built-in block list of each
 * (case-insensitive keywords, PCRE2 patterns) compiled once per config, the texts of a
 * request or an answer they read, and the webhook wire format (what a pre-call or
 * post-call hook is sent, what it may answer: allow, block with a reason, or rewrite
 * the texts). aif-api runs the block lists on requests; workers call the hooks and run
 * the block lists on answers. Compiled lists are immutable: any number of threads may
 * use them. */
#ifndef AIF_GUARD_H
#define AIF_GUARD_H

#include <stddef.h>

#include <jansson.h>

#include "config.h"
#include "err.h"

#define AIF_GUARD_NAME_MAX	128	/* bytes of one name (aif_name_valid) */
#define AIF_GUARD_NAMES_MAX	256	/* bytes of a job's guardrail names, with NUL */
#define AIF_GUARD_REASON_MAX	256	/* bytes of a hook's reason kept, with NUL */

struct aif_guards;

/* Compiles the block lists of cfg's guardrails (cfg borrowed; it must outlive *out).
 * AIF_OK with *out new (aif_guards_free), AIF_CONFIG when a pattern does not compile
 * (the config loader refuses those first), AIF_NOMEM. */
enum aif_err	aif_guards_new(const struct aif_config *cfg, struct aif_guards **out);
void		aif_guards_free(struct aif_guards *g);

/* 1 when guardrail g applies to model (fnmatch over g->models) and role (over
 * g->roles; NULL: any role). */
int		aif_guard_applies(const struct aif_guardrail *g, const char *model,
		    const char *role);

/* 1 when text (len bytes) holds one of guardrail i's keywords (ASCII letters of any
 * case) or matches one of its patterns, or when a pattern cannot decide within its
 * match limits (or without memory); 0 otherwise, or when it has no block list. */
int		aif_guards_blocks(const struct aif_guards *gs, size_t i, const char *text,
		    size_t len);

/* The guardrails of cfg that apply to (model, role) and leave work to a worker (a hook,
 * or a block list that reads answers): their names, comma-separated, into out (cap
 * bytes; those that do not fit are left out, in config order). Returns how many. */
size_t		aif_guard_job_names(const struct aif_config *cfg, const char *model,
		    const char *role, char *out, size_t cap);

/* The guardrail of cfg named name[0..len), or NULL (a reload took it away). */
const struct aif_guardrail *aif_guard_find(const struct aif_config *cfg, const char *name,
		    size_t len, size_t *index);

/* The texts of a request or answer body (borrowed; any kind or surface): every string
 * under a key content, text, prompt, input, system or instructions (in arrays and
 * objects below those keys too; not the gateway's x_aif_ notes), in document order.
 * Returns a new array (free) of *n borrowed pointers into body (a rewrite sets them in
 * place), or NULL on no memory. */
json_t		**aif_guard_texts(json_t *body, size_t *n);

/* Counts one result: aif_guardrail_results_total{guardrail,phase,result} (the name
 * escaped as a label value). */
void		aif_guard_count(const char *guardrail, const char *phase, const char *result);

/* 1 when one of texts[0..n) is blocked by guardrail i's list (aif_guards_blocks). */
int		aif_guards_block_texts(const struct aif_guards *gs, size_t i,
		    json_t *const *texts, size_t n);

/* A hook's request: {"guardrail","phase","model","job_id","texts":[...]} (new string,
 * or NULL on no memory). */
char		*aif_guard_hook_body(const char *guardrail, const char *phase,
		    const char *model, const char *job_id, json_t *const *texts, size_t n);

enum aif_guard_action {
	AIF_GUARD_ALLOW,
	AIF_GUARD_BLOCK,
	AIF_GUARD_REWRITE,
};

/* What a hook answered. */
struct aif_guard_decision {
	enum aif_guard_action	 action;
	char			 reason[AIF_GUARD_REASON_MAX];	/* a block's, printable */
	json_t			*texts;		/* a rewrite's: n strings (owned) */
};

/* Reads a hook's 200 answer (body: len bytes) for a request of n texts. Returns 0 with
 * *d filled (free d->texts with json_decref), or -1 when it is not a decision: not a
 * JSON object, an unknown action, a rewrite without exactly n strings. */
int		aif_guard_decision_parse(const char *body, size_t len, size_t n,
		    struct aif_guard_decision *d);

#endif
