/* span.h -- the gateway's own trace spans, encoded as OTLP/JSON span objects
 * (https://opentelemetry.io/docs/specs/otlp/#json-protobuf-encoding: trace and span ids
 * as hex strings, 64-bit numbers as decimal strings, enums as integers), with
 * attribute names of OpenTelemetry's semantic conventions (HTTP, and GenAI:
 * https://opentelemetry.io/docs/specs/semconv/gen-ai/). A span is built on the stack,
 * then handed to the process's sink (aif_span_set_sink): aif-api's sends it to a
 * worker's exporter socket, a worker's queues it for its OTLP exporter
 * (workers/otel.c). Without a sink nothing is built: aif_span_begin returns -1.
 * Prompt and answer text are never put in a span. Thread-safe once the sink is set
 * (before any thread starts). */
#ifndef AIF_SPAN_H
#define AIF_SPAN_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "buf.h"
#include "kind.h"

/* OTLP's Span.SpanKind */
enum aif_span_kind {
	AIF_SPAN_INTERNAL = 1,
	AIF_SPAN_SERVER = 2,
	AIF_SPAN_CLIENT = 3,
	AIF_SPAN_PRODUCER = 4,
	AIF_SPAN_CONSUMER = 5,
};

#define AIF_SPAN_JSON_MAX	16384	/* bytes of one encoded span at most */

struct aif_span {
	char	 trace_id[33];
	char	 span_id[17];
	char	 parent_id[17];		/* "" for a root span */
	char	 name[128];
	int	 kind;
	int64_t	 start_ns;		/* Unix epoch nanoseconds */
	json_t	*attrs;			/* OTLP KeyValue array (owned) */
	json_t	*links;			/* OTLP Link array, or NULL (owned) */
};

/* The sink: takes one encoded span (json, len bytes, NUL-terminated; borrowed for the
 * call). */
typedef void (*aif_span_sink_fn)(const char *json, size_t len);

/* Sets the process's sink (NULL: spans off). Call before threads start. */
void	aif_span_set_sink(aif_span_sink_fn fn);
/* 1 when spans are recorded in this process. */
int	aif_span_enabled(void);

/* Counts n spans in aif_trace_spans_total{result} ("exported", "dropped_<why>"). */
void	aif_span_count(const char *result, int64_t n);

/* Nanoseconds since the Unix epoch (CLOCK_REALTIME). */
int64_t	aif_span_now_ns(void);

/* Starts span s named `name` at start_ns. self (a traceparent, borrowed) gives the
 * span's trace id and span id; parent (a traceparent or NULL) its parent span id, a
 * root span without one. Returns 0, or -1 when spans are off, self is not a valid
 * traceparent, its sampled flag is clear, or no memory: s is then empty and every
 * other call on it does nothing. */
int	aif_span_begin(struct aif_span *s, const char *self, const char *parent,
	    const char *name, enum aif_span_kind kind, int64_t start_ns);

/* gen_ai.operation.name of a job of kind k: "chat", "text_completion", "embeddings",
 * else the kind's own name ("rerank", "score", ...). Static. */
const char *aif_span_operation(enum aif_kind k);

/* Attributes (key and value borrowed, copied). A NULL or empty string value is left
 * out. */
void	aif_span_str(struct aif_span *s, const char *key, const char *value);
void	aif_span_int(struct aif_span *s, const char *key, int64_t value);
/* A string array attribute of one value (gen_ai.response.finish_reasons). */
void	aif_span_strs1(struct aif_span *s, const char *key, const char *value);

/* A link to the span of traceparent tp (borrowed; ignored unless valid), with the
 * attribute aif.link.type = type. */
void	aif_span_link(struct aif_span *s, const char *tp, const char *type);

/* Ends span s at end_ns with status UNSET (error NULL) or ERROR (error: its message,
 * copied, and error.type = error) and gives it to the sink. Frees what s holds. */
void	aif_span_end(struct aif_span *s, int64_t end_ns, const char *error);

/* Frees what s holds without sending it. */
void	aif_span_drop(struct aif_span *s);

/* Encodes s ended at end_ns (status as aif_span_end) as one OTLP/JSON Span object.
 * Returns a new string (free), or NULL (no memory, over AIF_SPAN_JSON_MAX). */
char	*aif_span_encode(const struct aif_span *s, int64_t end_ns, const char *error,
	    size_t *len);

/* The body of an OTLP/HTTP JSON export (ExportTraceServiceRequest) of n encoded spans
 * (borrowed) under one resource with service.name `service`, appended to out.
 * Returns 0, or -1 on no memory. */
int	aif_otlp_body(struct aif_buf *out, const char *service, const char *version,
	    const char *const *spans, const size_t *lens, size_t n);

#endif
