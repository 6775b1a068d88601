/* metrics.h -- Prometheus counters and histograms summed over every aif-api and worker
 * process: each process adds to local deltas here (cheap, a mutex); store/counters.h
 * moves them to the metric_counters table every few seconds, and aif-api's /metrics
 * renders the table plus gauges read live from the queue. Thread-safe. */
#ifndef AIF_METRICS_H
#define AIF_METRICS_H

#include <stdint.h>

#include "err.h"

#define AIF_METRICS_MAX		2048	/* distinct name+labels per process between flushes
					   (a histogram takes 19 per label set) */
#define AIF_METRICS_LABELS	400

/* Adds delta to counter `name` with `labels` (a Prometheus label set without braces,
 * e.g. `route="chat",status="200"`; borrowed). Drops the sample when the table is full. */
void		aif_metrics_add(const char *name, const char *labels, int64_t delta);

/* Observes a duration for histogram `name` (e.g. "aif_job_engine_seconds"): adds to
 * name_bucket{labels,le=...} for every bucket bound >= ms, name_count and name_sum
 * (stored in microseconds; rendered in seconds). The observation is counted in its
 * bucket only; those series are made by aif_metrics_take. Drops the observation when
 * 128 label sets are already pending. */
void		aif_metrics_observe_ms(const char *name, const char *labels, int64_t ms);

/* A label value for the Prometheus text format (https://prometheus.io/docs/instrumenting/
 * exposition_formats/): v (borrowed) with backslash, double quote and newline escaped,
 * into out (cap bytes, NUL-terminated; cut before a partial escape when it does not
 * fit). Returns out. Names from outside (tenants) go through it. */
const char	*aif_metrics_label(const char *v, char *out, size_t cap);

/* One counter's change since the last flush. */
struct aif_metric_delta {
	char	 name[100];
	char	 labels[AIF_METRICS_LABELS];
	int64_t	 value;
};

/* Takes out up to cap deltas into out (the table forgets them), histograms' series
 * included; returns how many. */
size_t		aif_metrics_take(struct aif_metric_delta *out, size_t cap);

/* Gives back deltas a flush could not write (added to what came meanwhile). */
void		aif_metrics_give_back(const struct aif_metric_delta *d, size_t n);

#endif
