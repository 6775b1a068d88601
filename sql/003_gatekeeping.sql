-- 003_gatekeeping.sql -- rate limits (GCRA state), monthly budgets (balances and an
-- append-only ledger of holds, captures and releases), and the views DBAs read.

ALTER TABLE jobs
  ADD COLUMN IF NOT EXISTS budget_hold_micros BIGINT NOT NULL DEFAULT 0
    COMMENT 'worst-case cost held at admission; 0 when no budget applies',
  ADD COLUMN IF NOT EXISTS budget_state ENUM('none','held','captured','released') NOT NULL DEFAULT 'none'
    COMMENT 'where the budget hold of this job stands',
  ADD COLUMN IF NOT EXISTS tokens_charged INT UNSIGNED NOT NULL DEFAULT 0
    COMMENT 'tokens charged to tokens-per-minute limits at admission (corrected at the end)';

-- One row per limited subject ("key:12:rpm", "tenant:team-a:tpm"): GCRA theoretical
-- arrival time in microseconds since the epoch. One statement per check.
CREATE TABLE IF NOT EXISTS rate_limits (
  subject     VARCHAR(200) NOT NULL PRIMARY KEY,
  tat_us      BIGINT NOT NULL COMMENT 'GCRA theoretical arrival time, epoch microseconds',
  unit_us     BIGINT NOT NULL DEFAULT 0 COMMENT 'microseconds one request or token costs (period / limit)',
  period_us   BIGINT NOT NULL DEFAULT 60000000,
  allowed     TINYINT(1) NOT NULL DEFAULT 1 COMMENT 'outcome of the last check',
  updated_at  DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Per subject ("key:12", "tenant:team-a") and month: what may be spent, what is held by
-- jobs not finished yet, what was spent. held + spent never exceeds the limit at
-- admission (a conditional UPDATE places each hold).
CREATE TABLE IF NOT EXISTS budget_balances (
  subject       VARCHAR(200) NOT NULL,
  month         CHAR(7) NOT NULL COMMENT 'YYYY-MM, UTC',
  limit_micros  BIGINT NOT NULL,
  held_micros   BIGINT NOT NULL DEFAULT 0,
  spent_micros  BIGINT NOT NULL DEFAULT 0,
  updated_at    DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6),
  PRIMARY KEY (subject, month),
  CONSTRAINT ck_budget_nonnegative CHECK (held_micros >= 0 AND spent_micros >= 0)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Every hold, capture and release, written in the same transaction as the job change.
-- For each job and subject: hold = capture + release once the job is final.
CREATE TABLE IF NOT EXISTS budget_ledger (
  id             BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  job_id         BIGINT UNSIGNED NOT NULL,
  subject        VARCHAR(200) NOT NULL,
  month          CHAR(7) NOT NULL,
  entry          ENUM('hold','capture','release') NOT NULL,
  amount_micros  BIGINT NOT NULL,
  created_at     DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  KEY ix_budget_ledger_job (job_id, entry),
  KEY ix_budget_ledger_subject (subject, month)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- ---- views for DBAs --------------------------------------------------------------

CREATE OR REPLACE VIEW v_usage_daily AS
SELECT DATE(u.created_at) AS day, u.api_key_id, k.key_prefix, k.name AS key_name,
       u.tenant, u.model,
       COUNT(*) AS jobs, SUM(u.prompt_tokens) AS prompt_tokens,
       SUM(u.completion_tokens) AS completion_tokens, SUM(u.total_tokens) AS total_tokens,
       SUM(u.cost_micros) AS cost_micros
  FROM `usage` u LEFT JOIN api_keys k ON k.id = u.api_key_id
 GROUP BY DATE(u.created_at), u.api_key_id, k.key_prefix, k.name, u.tenant, u.model;

CREATE OR REPLACE VIEW v_spend_monthly_key AS
SELECT DATE_FORMAT(u.created_at, '%Y-%m') AS month, u.api_key_id, k.key_prefix,
       k.name AS key_name, u.tenant, COUNT(*) AS jobs, SUM(u.total_tokens) AS total_tokens,
       SUM(u.cost_micros) AS cost_micros
  FROM `usage` u LEFT JOIN api_keys k ON k.id = u.api_key_id
 GROUP BY DATE_FORMAT(u.created_at, '%Y-%m'), u.api_key_id, k.key_prefix, k.name, u.tenant;

CREATE OR REPLACE VIEW v_spend_monthly_tenant AS
SELECT DATE_FORMAT(u.created_at, '%Y-%m') AS month, u.tenant, COUNT(*) AS jobs,
       SUM(u.total_tokens) AS total_tokens, SUM(u.cost_micros) AS cost_micros
  FROM `usage` u
 GROUP BY DATE_FORMAT(u.created_at, '%Y-%m'), u.tenant;

CREATE OR REPLACE VIEW v_queue_depth AS
SELECT model, priority, state, COUNT(*) AS jobs,
       MIN(created_at) AS oldest_created_at,
       TIMESTAMPDIFF(SECOND, MIN(created_at), NOW(6)) AS oldest_age_s
  FROM jobs
 WHERE state IN ('queued', 'running', 'compensating')
 GROUP BY model, priority, state;

CREATE OR REPLACE VIEW v_recent_failures AS
SELECT j.public_id, j.model, j.api_key_id, j.tenant, j.attempts, j.http_status,
       j.error_type, j.error_code, j.error_message, j.finished_at,
       e.event AS last_event, e.at AS last_event_at, e.detail AS last_event_detail
  FROM jobs j
  LEFT JOIN job_events e ON e.id = (SELECT MAX(id) FROM job_events WHERE job_id = j.id)
 WHERE j.state IN ('failed', 'cancelled')
   AND j.finished_at > NOW(6) - INTERVAL 7 DAY;

CREATE OR REPLACE VIEW v_budget_balances AS
SELECT b.subject, b.month, b.limit_micros, b.held_micros, b.spent_micros,
       b.limit_micros - b.held_micros - b.spent_micros AS available_micros
  FROM budget_balances b;
