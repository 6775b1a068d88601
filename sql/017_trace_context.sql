-- 017_trace_context.sql -- W3C Trace Context through the queue (core/protocol/tracectx.h):
-- the trace a job belongs to (the caller's traceparent, or a new trace's), and the
-- caller's tracestate, sent on to the engine with every attempt.
ALTER TABLE jobs
  ADD COLUMN IF NOT EXISTS traceparent CHAR(55) NULL,
  ADD COLUMN IF NOT EXISTS tracestate VARCHAR(512) NULL;
