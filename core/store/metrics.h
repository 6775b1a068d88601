/* metrics.h -- Prometheus counters and histograms summed over every aif-api and worker
 * process: each process adds to local deltas (cheap, a mutex) and flushes them to the
 * metric_counters table with one upsert every few seconds; /metrics renders the table
 * plus gauges read live from the queue. Thread-safe. */
#ifndef AIF_METRICS_H
#define AIF_METRICS_H

#include <stdint.h>

#include "db.h"
#include "err.h"

#define AIF_METRICS_MAX		1024	/* distinct name+labels per process between flushes */
#define AIF_METRICS_LABELS	400

/* Adds delta to counter `name` with `labels` (a Prometheus label set without braces,
 * e.g. `route="chat",status="200"`; borrowed). Drops the sample when the table is full. */
void		aif_metrics_add(const char *name, const char *labels, int64_t delta);

/* Observes a duration for histogram `name` (e.g. "aif_job_engine_seconds"): adds to
 * name_bucket{labels,le=...} for every bucket bound >= ms, name_count and name_sum
 * (stored in microseconds; rendered in seconds). */
void		aif_metrics_observe_ms(const char *name, const char *labels, int64_t ms);

/* Writes the deltas to metric_counters (one statement) and clears them; on failure the
 * deltas are kept for the next flush. */
enum aif_err	aif_metrics_flush(struct aif_db *db);

/* Renders every counter of the table plus live gauges (queue depth and age by model
 * and priority, workers, replicas and circuit breakers) in the Prometheus text format.
 * On AIF_OK *out is new (free). */
enum aif_err	aif_metrics_render(struct aif_db *db, char **out);

#endif
