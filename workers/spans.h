/* spans.h -- a worker's spans of the jobs it runs (core/protocol/span.h; exported by
 * otel.h), all in the job's trace (jobs.traceparent): the queue wait of a job's first
 * claim, each engine attempt as a GenAI client span whose id is the traceparent the
 * engine got, and for an async job the job's own consumer span (a root span linked to
 * the request's server span, jobs.trace_link), and each step of a workflow run. Nothing
 * is built while spans are off. */
#ifndef AIF_WORKER_SPANS_H
#define AIF_WORKER_SPANS_H

#include "adapter.h"
#include "engine_call.h"
#include "runs.h"

/* c's job was claimed now: notes the time, and sends the queue wait of a first attempt. */
void	spans_claimed(struct engine_call *c);

/* c's engine attempt ended with res (a success when res->failure is AIF_FAIL_NONE,
 * else the failure): its client span. */
void	spans_attempt(const struct engine_call *c, const struct aif_engine_result *res);

/* c's job reached its final state (error: NULL, or what failed it): an async job's span. */
void	spans_job_end(const struct engine_call *c, const char *error);

/* Workflow run `run` ended (error: NULL, or its code): an async run's own span, the
 * root of its trace (linked to its request's server span), from its creation. */
void	spans_run_end(const struct aif_flow_run *run, const char *error);

/* Step s of workflow run `run` ended (error: NULL, or the code that failed it): a span
 * of the run's trace, from the step's start. Any thread. */
void	spans_step(const struct aif_flow_run *run, const struct aif_flow_step *s,
	    const char *error);

#endif
