/* compensate.h -- runs the saga steps of failed jobs (job_compensations): each due step
 * whose earlier steps are done is claimed (with a lease, so a crash mid-call hands it to
 * the next runner), called over HTTP with its own timeout, and recorded as done, retried
 * later with its backoff, or given up after its maximum attempts; when a job has no step
 * left it becomes `failed`. Every step is a job_events row. Called by aif-cron
 * compensate and opportunistically by workers. Blocking: each call waits for its
 * HTTP request (bounded by the step's timeout). */
#ifndef AIF_COMPENSATE_H
#define AIF_COMPENSATE_H

#include "db.h"

/* Runs at most `limit` due steps; returns how many ran, or -1 on a database error. */
int	aif_compensate_run(struct aif_db *db, int limit);

#endif
