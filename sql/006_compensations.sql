-- 006_compensations.sql -- the saga steps of jobs that failed for good: each
-- compensation the model declares (an HTTP call, e.g. "cancel the payment") becomes a
-- row, run in reverse order of declaration, retried with its own policy until done,
-- each step recorded as job_events. The job is `compensating` until the last step is
-- done (or given up), then `failed`.
CREATE TABLE IF NOT EXISTS job_compensations (
  job_id              BIGINT UNSIGNED NOT NULL,
  step_no             SMALLINT UNSIGNED NOT NULL COMMENT 'run order: 1 first (the last declared)',
  name                VARCHAR(64) NOT NULL,
  method              VARCHAR(8) NOT NULL,
  url                 VARCHAR(1024) NOT NULL,
  body_template       TEXT NULL COMMENT '{job_id} {public_id} {model} {api_key_id} {tenant} replaced',
  timeout_ms          INT UNSIGNED NOT NULL,
  state               ENUM('pending','running','done','gave_up') NOT NULL DEFAULT 'pending',
  attempts            SMALLINT UNSIGNED NOT NULL DEFAULT 0,
  max_attempts        SMALLINT UNSIGNED NOT NULL COMMENT '0: until done',
  initial_interval_ms INT UNSIGNED NOT NULL,
  backoff_pct         SMALLINT UNSIGNED NOT NULL,
  maximum_interval_ms INT UNSIGNED NOT NULL,
  next_at             DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  lease_until         DATETIME(6) NULL,
  last_error          VARCHAR(512) NULL,
  updated_at          DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6),
  PRIMARY KEY (job_id, step_no),
  KEY ix_job_compensations_due (state, next_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
