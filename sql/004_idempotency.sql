-- 004_idempotency.sql -- a hash of each request body, so an Idempotency-Key reused with
-- another body is refused, and a retry of the official SDKs (x-stainless-retry-count,
-- no Idempotency-Key) attaches to the job its first attempt created.
ALTER TABLE jobs
  ADD COLUMN IF NOT EXISTS request_sha256 BINARY(32) NULL
    COMMENT 'SHA-256 of the request body as stored (canonical JSON)';
CREATE INDEX IF NOT EXISTS ix_jobs_key_request ON jobs (api_key_id, request_sha256, created_at);
