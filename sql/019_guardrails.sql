-- 019_guardrails.sql -- the guardrails a job runs under that leave work to a worker
-- (pre-call and post-call webhooks, block lists that read answers; docs/GUARDRAILS.md),
-- by name, comma-separated, as admission found them for the caller's model and role.
ALTER TABLE jobs
  ADD COLUMN IF NOT EXISTS guardrails VARCHAR(255) NULL;
