-- 018_trace_link.sql -- the gateway's own spans (docs/OPERATIONS.md "Traces"): a job its
-- caller waits for runs under the request's server span (jobs.traceparent is that span's
-- context); an async job runs in a trace of its own, whose spans link to the request's
-- server span, kept here (NULL for the others).
ALTER TABLE jobs
  ADD COLUMN IF NOT EXISTS trace_link CHAR(55) NULL;
