-- 001_init.sql -- the core schema: keys, the job queue, its history, metered usage and
-- the worker registry. Applied by `aifctl migrate` (recorded in schema_migrations).
-- All times are UTC DATETIME(6). Money is integer micro-units. `usage` is a reserved
-- word in MariaDB: quote it as `usage` in SQL.

CREATE TABLE IF NOT EXISTS api_keys (
  id                    BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  key_prefix            CHAR(12) NOT NULL COMMENT 'first 12 characters of the key: safe to show',
  secret_hash           BINARY(32) NOT NULL COMMENT 'HMAC-SHA256(pepper, key); the key itself is never stored',
  name                  VARCHAR(128) NOT NULL,
  role                  VARCHAR(64) NOT NULL COMMENT 'a role from the YAML config',
  tenant                VARCHAR(128) NOT NULL DEFAULT 'default' COMMENT 'team or project the key bills to',
  max_priority          TINYINT UNSIGNED NULL COMMENT 'NULL: the role''s max_priority',
  rpm_limit             INT UNSIGNED NULL COMMENT 'requests per minute; NULL: the role''s',
  tpm_limit             INT UNSIGNED NULL COMMENT 'tokens per minute; NULL: the role''s',
  monthly_budget_micros BIGINT NULL COMMENT 'NULL: unlimited',
  created_at            DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  expires_at            DATETIME(6) NULL,
  revoked_at            DATETIME(6) NULL,
  UNIQUE KEY uq_api_keys_secret_hash (secret_hash),
  UNIQUE KEY uq_api_keys_key_prefix (key_prefix),
  KEY ix_api_keys_tenant (tenant)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE IF NOT EXISTS workers (
  id            BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  instance      VARCHAR(64) NOT NULL COMMENT 'systemd instance / --id',
  host          VARCHAR(255) NOT NULL,
  pid           INT UNSIGNED NOT NULL,
  state         ENUM('running','draining','stopped') NOT NULL DEFAULT 'running',
  doorbell      VARCHAR(255) NULL COMMENT 'unix datagram socket that wakes this worker',
  slots         INT UNSIGNED NOT NULL,
  in_flight     INT UNSIGNED NOT NULL DEFAULT 0,
  started_at    DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  heartbeat_at  DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  stopped_at    DATETIME(6) NULL,
  KEY ix_workers_state_heartbeat (state, heartbeat_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE IF NOT EXISTS jobs (
  id               BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  public_id        CHAR(28) NOT NULL COMMENT 'job_ + 24 random characters, what clients see',
  api_key_id       BIGINT UNSIGNED NOT NULL,
  tenant           VARCHAR(128) NOT NULL,
  model            VARCHAR(128) NOT NULL,
  kind             ENUM('chat','completion','embedding','pipeline','batch') NOT NULL,
  priority         TINYINT UNSIGNED NOT NULL COMMENT '0..9, higher runs first',
  state            ENUM('queued','running','succeeded','failed','compensating','cancelled') NOT NULL DEFAULT 'queued',
  attempts         SMALLINT UNSIGNED NOT NULL DEFAULT 0 COMMENT 'engine attempts started (counted at claim)',
  max_attempts     SMALLINT UNSIGNED NOT NULL,
  run_after        DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6) COMMENT 'not claimed before this time (retry backoff)',
  lease_until      DATETIME(6) NULL COMMENT 'a running job whose lease passed is requeued by the reaper',
  lease_token      BIGINT UNSIGNED NOT NULL DEFAULT 0 COMMENT 'fencing token, +1 per claim',
  worker_id        BIGINT UNSIGNED NULL COMMENT 'workers.id holding the lease',
  reply_to         VARCHAR(255) NULL COMMENT 'doorbell of the aif-api process waiting for the result',
  request_id       VARCHAR(64) NULL COMMENT 'x-request-id of the HTTP request that created the job',
  idempotency_key  VARCHAR(255) NULL,
  stream           TINYINT(1) NOT NULL DEFAULT 0,
  prompt_tokens_estimate INT UNSIGNED NOT NULL DEFAULT 0,
  max_tokens       INT UNSIGNED NULL,
  request_body     MEDIUMTEXT NOT NULL COMMENT 'the request as sent to the engine (PII already masked)',
  response_body    MEDIUMTEXT NULL COMMENT 'the OpenAI response returned to the client',
  http_status      SMALLINT UNSIGNED NULL COMMENT 'status returned to the client once final',
  error_type       VARCHAR(64) NULL,
  error_code       VARCHAR(64) NULL,
  error_message    VARCHAR(1024) NULL,
  pii_counts       VARCHAR(1024) NULL COMMENT 'JSON object of masked entity counts; never values',
  replica          VARCHAR(255) NULL COMMENT 'engine replica of the last attempt',
  created_at       DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  started_at       DATETIME(6) NULL COMMENT 'first claim',
  finished_at      DATETIME(6) NULL,
  UNIQUE KEY uq_jobs_public_id (public_id),
  UNIQUE KEY uq_jobs_idempotency (api_key_id, idempotency_key),
  KEY ix_jobs_claim (state, priority DESC, id) COMMENT 'serves the claim query order',
  KEY ix_jobs_lease (state, lease_until) COMMENT 'serves the reaper',
  KEY ix_jobs_key_created (api_key_id, created_at),
  KEY ix_jobs_model_state (model, state)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE IF NOT EXISTS job_events (
  id          BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  job_id      BIGINT UNSIGNED NOT NULL,
  at          DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  event       VARCHAR(32) NOT NULL COMMENT 'enqueued, claimed, attempt_failed, retry_scheduled, succeeded, failed, released, lease_expired, cancelled, ...',
  attempt     SMALLINT UNSIGNED NOT NULL DEFAULT 0,
  worker_id   BIGINT UNSIGNED NULL,
  replica     VARCHAR(255) NULL,
  detail      VARCHAR(1024) NULL COMMENT 'error class and message; never prompt text',
  KEY ix_job_events_job (job_id, id),
  KEY ix_job_events_at (at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE IF NOT EXISTS `usage` (
  id                BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  job_id            BIGINT UNSIGNED NOT NULL,
  api_key_id        BIGINT UNSIGNED NOT NULL,
  tenant            VARCHAR(128) NOT NULL,
  model             VARCHAR(128) NOT NULL,
  engine            VARCHAR(64) NOT NULL,
  replica           VARCHAR(255) NOT NULL,
  prompt_tokens     INT UNSIGNED NOT NULL,
  completion_tokens INT UNSIGNED NOT NULL,
  total_tokens      INT UNSIGNED NOT NULL,
  cost_micros       BIGINT NOT NULL COMMENT 'from the model''s YAML pricing, integer micro-units',
  queue_ms          INT UNSIGNED NOT NULL COMMENT 'created -> last claim',
  engine_ms         INT UNSIGNED NOT NULL COMMENT 'engine call of the successful attempt',
  created_at        DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  UNIQUE KEY uq_usage_job (job_id) COMMENT 'exactly one usage row per job',
  KEY ix_usage_key_created (api_key_id, created_at),
  KEY ix_usage_tenant_created (tenant, created_at),
  KEY ix_usage_model_created (model, created_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
