/* spans.c -- a worker's spans of the jobs it runs (spans.h), with the attributes of
 * OpenTelemetry's GenAI conventions (https://opentelemetry.io/docs/specs/semconv/gen-ai/):
 * operation, provider (the adapter), request and response model, token usage, finish
 * reasons. No prompt or answer text. */
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "span.h"
#include "spans.h"

#define MS_NS	1000000LL

/* The job's own fields every span of it carries. */
static void
job_attrs(struct aif_span *s, const struct engine_call *c)
{
	aif_span_str(s, "aif.job.id", c->job.public_id);
	aif_span_str(s, "gen_ai.operation.name", aif_span_operation(c->job.kind));
	aif_span_str(s, "gen_ai.request.model", c->job.model);
	if (c->job.tenant[0])
		aif_span_str(s, "aif.tenant", c->job.tenant);
}

void
spans_claimed(struct engine_call *c)
{
	struct aif_span s;

	if (!aif_span_enabled())
		return;
	c->claim_ns = aif_span_now_ns();
	if (c->job.attempt != 1 || c->count)
		return;
	/* a span of its own in the job's trace, a child of the job's span */
	if (aif_trace_child(c->job.traceparent, c->queue_tp) != 0 ||
	    aif_span_begin(&s, c->queue_tp, c->job.traceparent, "aif.queue.wait",
	    AIF_SPAN_INTERNAL, c->claim_ns - c->job.queue_ms * MS_NS) != 0)
		return;
	job_attrs(&s, c);
	if (c->job.parent_job_id != 0)
		aif_span_int(&s, "aif.workflow.run", (int64_t)c->job.parent_job_id);
	aif_span_end(&s, c->claim_ns, NULL);
}

/* The finish reason of an answer (chat, completion, Responses, Messages), or NULL. */
static const char *
finish_reason(const struct engine_call *c, const json_t *r)
{
	const json_t *ch = json_array_get(json_object_get(r, "choices"), 0);
	const char *v = json_string_value(json_object_get(ch, "finish_reason"));

	if (c->stream && c->st.finish_reason[0])
		return c->st.finish_reason;
	if (v == NULL)
		v = json_string_value(json_object_get(r, "stop_reason"));
	if (v == NULL)
		v = json_string_value(json_object_get(r, "status"));
	return v;
}

void
spans_attempt(const struct engine_call *c, const struct aif_engine_result *res)
{
	struct aif_span s;
	char name[160];
	const char *err = NULL;

	if (!aif_span_enabled() || c->span_tp[0] == '\0' || c->model == NULL)
		return;
	snprintf(name, sizeof(name), "%s %s", aif_span_operation(c->job.kind), c->job.model);
	if (aif_span_begin(&s, c->span_tp, c->job.traceparent, name, AIF_SPAN_CLIENT,
	    c->span_start_ns) != 0)
		return;
	job_attrs(&s, c);
	aif_span_str(&s, "gen_ai.provider.name", c->model->adapter);
	aif_span_str(&s, "gen_ai.response.model", c->model->upstream_model);
	aif_span_str(&s, "server.address", c->model->replicas[c->replica_idx].url);
	aif_span_int(&s, "aif.attempt", c->job.attempt);
	if (strcmp(c->model->id, c->job.model) != 0)
		aif_span_str(&s, "aif.fallback", c->model->id);
	if (res->failure == AIF_FAIL_NONE) {
		aif_span_int(&s, "gen_ai.usage.input_tokens", res->prompt_tokens);
		aif_span_int(&s, "gen_ai.usage.output_tokens", res->completion_tokens);
		aif_span_strs1(&s, "gen_ai.response.finish_reasons",
		    finish_reason(c, res->response));
	} else {
		err = res->error.type[0] ? res->error.type : "engine_error";
		if (res->error.status > 0)
			aif_span_int(&s, "http.response.status_code", res->error.status);
	}
	aif_span_end(&s, aif_span_now_ns(), err);
}

/* Begins the root span of an async job or run (self: its context; link: the request's
 * server span, "" for a job its caller waited for) named after model, from start_ns.
 * 1 when begun (the caller adds attributes and ends it), 0 otherwise. */
static int
async_root(struct aif_span *s, const char *self, const char *link, const char *model,
    int64_t start_ns)
{
	char name[160];

	if (!aif_span_enabled() || link[0] == '\0')
		return 0;
	snprintf(name, sizeof(name), "aif.job %s", model);
	if (aif_span_begin(s, self, NULL, name, AIF_SPAN_CONSUMER, start_ns) != 0)
		return 0;
	aif_span_link(s, link, "enqueued_by");
	return 1;
}

void
spans_job_end(const struct engine_call *c, const char *error)
{
	struct aif_span s;

	if (c->claim_ns == 0 || !async_root(&s, c->job.traceparent, c->job.trace_link,
	    c->job.model, c->claim_ns - c->job.queue_ms * MS_NS))
		return;
	job_attrs(&s, c);
	aif_span_int(&s, "aif.attempts", c->job.attempt);
	aif_span_end(&s, aif_span_now_ns(), error);
}

void
spans_step(const struct aif_flow_run *run, const struct aif_flow_step *s, const char *error)
{
	struct aif_span sp;
	char self[AIF_TRACEPARENT_LEN + 1], name[160];
	int64_t start = s->started_ms > 0 ? s->started_ms : s->finished_ms;

	if (!aif_span_enabled() || aif_trace_child(run->traceparent, self) != 0)
		return;
	snprintf(name, sizeof(name), "aif.step %s", s->name);
	if (aif_span_begin(&sp, self, run->traceparent, name, AIF_SPAN_INTERNAL,
	    start * MS_NS) != 0)
		return;
	aif_span_str(&sp, "aif.job.id", run->public_id);
	aif_span_str(&sp, "aif.workflow.name", run->workflow);
	aif_span_str(&sp, "aif.workflow.step", s->name);
	aif_span_str(&sp, "aif.workflow.step.kind", s->kind);
	aif_span_int(&sp, "aif.attempts", s->attempts);
	if (s->child_public_id[0])
		aif_span_str(&sp, "aif.workflow.step.job", s->child_public_id);
	aif_span_end(&sp, (s->finished_ms > 0 ? s->finished_ms : start) * MS_NS, error);
}

void
spans_run_end(const struct aif_flow_run *run, const char *error)
{
	struct aif_span sp;

	if (!async_root(&sp, run->traceparent, run->trace_link, run->workflow,
	    run->created_ms * MS_NS))
		return;
	aif_span_str(&sp, "aif.job.id", run->public_id);
	aif_span_str(&sp, "aif.workflow.name", run->workflow);
	aif_span_end(&sp, aif_span_now_ns(), error);
}
