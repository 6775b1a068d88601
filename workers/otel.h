/* otel.h -- a worker's OTLP exporter (tracing.otlp_endpoint): the spans of this worker
 * (workers/spans.c) and those aif-api processes hand over on its socket
 * (core/ipc/spansock.h) wait in one bounded queue (tracing.queue_size), and a thread of
 * their own posts them in batches (tracing.batch_size, at least every
 * tracing.flush_interval) as OTLP/HTTP JSON. Nothing here ever waits on the collector
 * from the worker's loop: a full queue drops the new span, a failed export drops its
 * batch, both counted in aif_trace_spans_total{result}. */
#ifndef AIF_WORKER_OTEL_H
#define AIF_WORKER_OTEL_H

#include "config.h"

struct otel;

/* Starts the exporter of cfg (borrowed; it must outlive otel_stop) listening at
 * <run_dir>/otel-<instance>.sock, and makes it this process's span sink. Returns 0
 * with *out set (new, otel_stop), 0 with *out NULL when tracing is off, -1 on error. */
int	otel_start(const struct aif_config *cfg, const char *instance, struct otel **out);

/* Stops taking spans, exports what waits (one last try, within tracing.timeout), and
 * frees o (NULL is fine). */
void	otel_stop(struct otel *o);

#endif
