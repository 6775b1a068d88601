/* ratelimit.h -- which rate limits a request meets and how they are told: requests and
 * tokens per minute of the caller's key (its own limits, else its role's defaults) and
 * of its tenant (YAML tenants[]), charged together in one statement (store/gcra.h), and
 * OpenAI's x-ratelimit-* headers and Retry-After of the result. Thread-safe; no state. */
#ifndef AIF_RATELIMIT_H
#define AIF_RATELIMIT_H

#include <stddef.h>
#include <stdint.h>

#include "auth.h"
#include "config.h"
#include "db.h"
#include "gcra.h"

/* The limits of one request, and after aif_rl_apply their outcome. */
struct aif_rl_plan {
	struct aif_gcra_check	 c[AIF_GCRA_SUBJECTS_MAX];
	size_t			 n;	/* 0: nothing limits this caller */
};

/* The checks for a request of `tokens` (the admission estimate) by `who` (borrowed)
 * under `role` and its tenant `t` (NULL: an unlisted tenant, unlimited). */
void		aif_rl_plan(const struct aif_principal *who, const struct aif_role *role,
		    const struct aif_tenant *t, int64_t tokens, struct aif_rl_plan *out);

/* Moves a plan to the batch lane's buckets ("key:12:rpm" -> "key:12:batch:rpm"): a
 * batch's lines are limited by the same numbers as the caller's requests but counted
 * apart, so a running batch never eats its owner's interactive limits (docs/BATCH.md). */
void		aif_rl_batch_lane(struct aif_rl_plan *plan);

/* Charges the plan: *allowed = 1 when every limit passed (a refused request charges
 * nothing). AIF_OK, or the database's error. */
enum aif_err	aif_rl_apply(struct aif_db *db, struct aif_rl_plan *plan, int *allowed);

/* The first refused check of an applied plan, or NULL. */
const struct aif_gcra_check *aif_rl_refused(const struct aif_rl_plan *plan);

/* 1 when check c limits requests ("...:rpm"), 0 for tokens; 1 when it is the key's
 * own, 0 for the tenant's. */
int		aif_rl_is_requests(const struct aif_gcra_check *c);
int		aif_rl_is_key(const struct aif_gcra_check *c);

/* Appends the x-ratelimit-{limit,remaining,reset}-{requests,tokens} header lines of an
 * applied plan (the key's limits, else the tenant's) to buf (cap bytes, NUL-terminated,
 * never cut inside a line). */
void		aif_rl_headers(const struct aif_rl_plan *plan, char *buf, size_t cap);

/* Appends "Retry-After: <s>\r\nretry-after-ms: <ms>\r\n" for a refused check. */
void		aif_rl_retry_headers(const struct aif_gcra_check *c, char *buf, size_t cap);

/* Formats ms as a Go time.Duration string ("1s", "12ms", "6m0s", "1h2m3.5s") into buf,
 * as OpenAI's x-ratelimit-reset-* headers do. */
void		aif_rl_go_duration(int64_t ms, char *buf, size_t cap);

#endif
