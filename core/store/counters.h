/* counters.h -- the metric_counters table: every process flushes its counter deltas
 * (base/metrics.h) here with one upsert every few seconds, so /metrics shows sums over
 * every aif-api and worker process. */
#ifndef AIF_COUNTERS_H
#define AIF_COUNTERS_H

#include "db.h"
#include "err.h"

/* Writes this process's deltas (one statement per 64) and clears them; deltas a
 * statement could not write are kept for the next flush. */
enum aif_err	aif_counters_flush(struct aif_db *db);

/* Every counter, ordered so that a histogram's _bucket, _count and _sum rows follow
 * each other. */
enum aif_counter_col { AIF_CT_NAME, AIF_CT_LABELS, AIF_CT_VALUE };
enum aif_err	aif_counters_read(struct aif_db *db, struct aif_dbrows **out);

#endif
