-- 010_job_bounds.sql -- what a job may cost and who may still want it (issue 11):
-- the upper bounds of its usage (an engine that reports more is not believed), the
-- deadline after which a synchronous job whose caller is gone is not run, whether its
-- bodies may be kept (zero retention), and the secret that authenticates the relay
-- frames of its attempts. Bodies grow to LONGTEXT so that an answer of
-- server.max_answer_bytes fits; counting queued jobs per tenant and per key is an
-- index read.
ALTER TABLE jobs
  ADD COLUMN IF NOT EXISTS prompt_tokens_bound BIGINT UNSIGNED NOT NULL DEFAULT 0
    COMMENT 'the prompt cannot take more tokens: bytes of the request + 64 per message',
  ADD COLUMN IF NOT EXISTS completion_tokens_bound BIGINT UNSIGNED NOT NULL DEFAULT 0
    COMMENT 'prompts x max(n, best_of) x the completion limit; 0 for embeddings',
  ADD COLUMN IF NOT EXISTS expires_at DATETIME(6) NULL
    COMMENT 'a job not claimed by then is not run: its caller stopped waiting',
  ADD COLUMN IF NOT EXISTS zero_retention TINYINT(1) NOT NULL DEFAULT 0
    COMMENT '1: the request body is removed when the job ends, no answer is stored',
  ADD COLUMN IF NOT EXISTS relay_secret BINARY(16) NULL
    COMMENT 'random key of the relay frames of this job (streams); never shown',
  MODIFY request_body LONGTEXT NOT NULL,
  MODIFY response_body LONGTEXT NULL;
CREATE INDEX IF NOT EXISTS ix_jobs_tenant_state ON jobs (tenant, state);
CREATE INDEX IF NOT EXISTS ix_jobs_key_state ON jobs (api_key_id, state);
