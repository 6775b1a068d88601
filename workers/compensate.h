/* compensate.h -- runs the saga steps of failed jobs (store/compensations.h): each due
 * step is claimed under a lease, called over HTTP (http/http.h) with its own timeout and
 * an Idempotency-Key per (job, step), and recorded as done, retried later with its
 * backoff, or given up after its maximum attempts; when a job has no step left it
 * becomes `failed`. Every step is a job_events row. Called by aif-cron compensate and
 * opportunistically by workers. Blocking: each call waits for its HTTP request
 * (bounded by the step's timeout). */
#ifndef AIF_COMPENSATE_H
#define AIF_COMPENSATE_H

#include <stddef.h>

#include <jansson.h>
#include <stdint.h>

#include "compensations.h"
#include "db.h"

#define AIF_COMPENSATE_BODY_MAX		8192	/* bytes of an expanded body */
#define AIF_COMPENSATE_RESPONSE_MAX	(1u << 20)	/* bytes of an answer (discarded) */

/* Runs at most `limit` due steps; returns how many ran, or -1 on a database error. */
int	aif_compensate_run(struct aif_db *db, int limit);

/* The body of step s: its template (or the default JSON of the job's fields) with
 * {job_id} {public_id} {model} {api_key_id} {tenant} replaced, each value JSON-escaped.
 * New string (free), or NULL when it would pass AIF_COMPENSATE_BODY_MAX bytes. */
char	*aif_compensate_body(const struct aif_comp_step *s);

/* The delay before retry `attempt` + 1 (attempt >= 1) of a backoff that starts at
 * initial_ms, grows by pct percent per attempt and stops at max_ms:
 * min(initial_ms * (pct/100)^(attempt-1), max_ms). Compensation steps use it as is, a
 * job's retry policy with jitter on top (commit.c). */
int64_t	aif_compensate_backoff_ms(int64_t initial_ms, int64_t pct, int64_t max_ms,
	    int attempt);

/* The header line "name: value" of a header of an http call of a workflow (v:
 * {"value": text} or {"file": path, "prefix": text}, a secret read now through
 * core/base/secret.h). New string (wipe and free it: it may hold a secret), or NULL
 * with err set (an unreadable secret, a line break, no memory). */
char	*aif_compensate_header_line(const char *name, const json_t *v, char *err,
	    size_t errcap);

#endif
