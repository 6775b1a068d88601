-- 002_claim_by_model.sql -- an index for claiming one model's jobs in priority order,
-- used when a worker has less room for a model than its claim batch (the general
-- claim query uses ix_jobs_claim).
CREATE INDEX IF NOT EXISTS ix_jobs_model_claim ON jobs (state, model, priority DESC, id);
