/* span.c -- building the gateway's spans and encoding them as OTLP/JSON (span.h). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "metrics.h"
#include "span.h"
#include "tracectx.h"
#include "util.h"

#define OTLP_BODY_MAX	((size_t)64 << 20)	/* an export body's bytes at most */

static aif_span_sink_fn sink;

void
aif_span_set_sink(aif_span_sink_fn fn)
{
	sink = fn;
}

int
aif_span_enabled(void)
{
	return sink != NULL;
}

void
aif_span_count(const char *result, int64_t n)
{
	char l[64];

	snprintf(l, sizeof(l), "result=\"%s\"", result);
	aif_metrics_add("aif_trace_spans_total", l, n);
}

int64_t
aif_span_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

const char *
aif_span_operation(enum aif_kind k)
{
	switch (k) {
	case AIF_KIND_CHAT:
	case AIF_KIND_RESPONSES:
	case AIF_KIND_MESSAGES:
		return "chat";
	case AIF_KIND_COMPLETION:
		return "text_completion";
	case AIF_KIND_EMBEDDING:
		return "embeddings";
	default:
		return aif_kind_name(k);
	}
}

int
aif_span_begin(struct aif_span *s, const char *self, const char *parent,
    const char *name, enum aif_span_kind kind, int64_t start_ns)
{
	memset(s, 0, sizeof(*s));
	if (sink == NULL || !aif_trace_valid(self) || !aif_trace_sampled(self))
		return -1;
	memcpy(s->trace_id, self + 3, 32);
	memcpy(s->span_id, self + 36, 16);
	if (aif_trace_valid(parent))
		memcpy(s->parent_id, parent + 36, 16);
	aif_strlcpy(s->name, name, sizeof(s->name));
	s->kind = kind;
	s->start_ns = start_ns;
	if ((s->attrs = json_array()) == NULL)
		return -1;
	return 0;
}

/* Appends {key, value: {<type>: v}} (v stolen) to s's attributes. */
static void
attr(struct aif_span *s, const char *key, const char *type, json_t *v)
{
	json_t *kv;

	if (s->attrs == NULL || v == NULL) {
		json_decref(v);
		return;
	}
	kv = json_pack("{s:s, s:{s:o}}", "key", key, "value", type, v);
	if (kv != NULL)
		json_array_append_new(s->attrs, kv);
}

void
aif_span_str(struct aif_span *s, const char *key, const char *value)
{
	if (value != NULL && value[0] != '\0')
		attr(s, key, "stringValue", json_string(value));
}

void
aif_span_int(struct aif_span *s, const char *key, int64_t value)
{
	char n[24];

	/* OTLP/JSON: a 64-bit integer is a decimal string */
	snprintf(n, sizeof(n), "%" PRId64, value);
	attr(s, key, "intValue", json_string(n));
}

void
aif_span_strs1(struct aif_span *s, const char *key, const char *value)
{
	if (value != NULL && value[0] != '\0')
		attr(s, key, "arrayValue",
		    json_pack("{s:[{s:s}]}", "values", "stringValue", value));
}

void
aif_span_link(struct aif_span *s, const char *tp, const char *type)
{
	char trace[33], span[17];
	json_t *l;

	if (s->attrs == NULL || !aif_trace_valid(tp))
		return;
	memcpy(trace, tp + 3, 32);
	trace[32] = '\0';
	memcpy(span, tp + 36, 16);
	span[16] = '\0';
	if (s->links == NULL && (s->links = json_array()) == NULL)
		return;
	l = json_pack("{s:s, s:s, s:[{s:s, s:{s:s}}]}", "traceId", trace, "spanId", span,
	    "attributes", "key", "aif.link.type", "value", "stringValue", type);
	if (l != NULL)
		json_array_append_new(s->links, l);
}

char *
aif_span_encode(const struct aif_span *s, int64_t end_ns, const char *error, size_t *len)
{
	char start[24], end[24];
	json_t *o;
	char *out = NULL;

	if (s->attrs == NULL)
		return NULL;
	if (end_ns < s->start_ns)
		end_ns = s->start_ns;
	snprintf(start, sizeof(start), "%" PRId64, s->start_ns);
	snprintf(end, sizeof(end), "%" PRId64, end_ns);
	/* the status stays UNSET ({}, code 0) unless an error sets STATUS_CODE_ERROR (2),
	   as the specification asks of instrumentation */
	o = json_pack("{s:s, s:s, s:s, s:i, s:s, s:s, s:O, s:{}}",
	    "traceId", s->trace_id, "spanId", s->span_id, "name", s->name,
	    "kind", s->kind, "startTimeUnixNano", start, "endTimeUnixNano", end,
	    "attributes", s->attrs, "status");
	if (o == NULL)
		return NULL;
	if (s->parent_id[0] != '\0')
		json_object_set_new(o, "parentSpanId", json_string(s->parent_id));
	if (s->links != NULL)
		json_object_set(o, "links", s->links);
	if (error != NULL) {
		json_object_set_new(json_object_get(o, "status"), "code", json_integer(2));
		json_object_set_new(json_object_get(o, "status"), "message",
		    json_string(error));
	}
	out = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	if (out != NULL && (*len = strlen(out)) > AIF_SPAN_JSON_MAX) {
		free(out);
		out = NULL;
	}
	return out;
}

void
aif_span_drop(struct aif_span *s)
{
	json_decref(s->attrs);
	json_decref(s->links);
	s->attrs = s->links = NULL;
}

void
aif_span_end(struct aif_span *s, int64_t end_ns, const char *error)
{
	size_t len = 0;
	char *json;

	if (s->attrs == NULL)
		return;
	if (error != NULL)
		aif_span_str(s, "error.type", error);
	if ((json = aif_span_encode(s, end_ns, error, &len)) != NULL && sink != NULL)
		sink(json, len);
	free(json);
	aif_span_drop(s);
}

/* Appends n bytes at s to out; LIT a string literal. */
static int
add(struct aif_buf *out, const char *s, size_t n)
{
	return aif_buf_add(out, s, n, OTLP_BODY_MAX) == AIF_OK ? 0 : -1;
}
#define LIT(out, lit)	add((out), (lit), sizeof(lit) - 1)

int
aif_otlp_body(struct aif_buf *out, const char *service, const char *version,
    const char *const *spans, const size_t *lens, size_t n)
{
	json_t *res = json_pack("{s:[{s:s, s:{s:s}}]}", "attributes",
	    "key", "service.name", "value", "stringValue", service);
	json_t *scope = json_pack("{s:s, s:s}", "name", "aif-gateway", "version", version);
	char *r = res != NULL ? json_dumps(res, JSON_COMPACT) : NULL;
	char *sc = scope != NULL ? json_dumps(scope, JSON_COMPACT) : NULL;
	int rc = -1;

	if (r == NULL || sc == NULL)
		goto out;
	if (LIT(out, "{\"resourceSpans\":[{\"resource\":") != 0 ||
	    add(out, r, strlen(r)) != 0 || LIT(out, ",\"scopeSpans\":[{\"scope\":") != 0 ||
	    add(out, sc, strlen(sc)) != 0 || LIT(out, ",\"spans\":[") != 0)
		goto out;
	for (size_t i = 0; i < n; i++)
		if ((i > 0 && LIT(out, ",") != 0) || add(out, spans[i], lens[i]) != 0)
			goto out;
	rc = LIT(out, "]}]}]}");
out:
	json_decref(res);
	json_decref(scope);
	free(r);
	free(sc);
	return rc;
}
