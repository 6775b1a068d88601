-- 005_operations.sql -- what operations read and write: daily usage rollups, counters
-- the gateway's processes add to for /metrics, replica state published by workers, and
-- the autoscaler's decisions.

CREATE TABLE IF NOT EXISTS usage_daily (
  day               DATE NOT NULL,
  api_key_id        BIGINT UNSIGNED NOT NULL,
  tenant            VARCHAR(128) NOT NULL,
  model             VARCHAR(128) NOT NULL,
  jobs              BIGINT UNSIGNED NOT NULL,
  prompt_tokens     BIGINT UNSIGNED NOT NULL,
  completion_tokens BIGINT UNSIGNED NOT NULL,
  cost_micros       BIGINT NOT NULL,
  rolled_up_at      DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  PRIMARY KEY (day, api_key_id, model),
  KEY ix_usage_daily_tenant (tenant, day)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Monotonic counters (Prometheus counters and histogram buckets), summed over every
-- process: each adds its deltas with one upsert per flush.
CREATE TABLE IF NOT EXISTS metric_counters (
  name    VARCHAR(100) NOT NULL,
  labels  VARCHAR(400) NOT NULL COMMENT 'Prometheus label set, e.g. model="m",le="0.5"',
  value   BIGINT NOT NULL DEFAULT 0,
  PRIMARY KEY (name, labels)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- Each worker's view of each replica, refreshed with its heartbeat.
CREATE TABLE IF NOT EXISTS replica_state (
  worker_id     BIGINT UNSIGNED NOT NULL,
  model         VARCHAR(128) NOT NULL,
  replica       VARCHAR(255) NOT NULL,
  in_flight     INT UNSIGNED NOT NULL,
  circuit_open  TINYINT(1) NOT NULL,
  updated_at    DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6),
  PRIMARY KEY (worker_id, model, replica)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE IF NOT EXISTS autoscale_decisions (
  id          BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  at          DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  scope       VARCHAR(140) NOT NULL COMMENT 'workers, or engine:<model>',
  current     INT NOT NULL,
  desired     INT NOT NULL,
  action      VARCHAR(16) NOT NULL COMMENT 'up, down, hold',
  reason      VARCHAR(400) NOT NULL,
  command_rc  INT NULL,
  KEY ix_autoscale_scope_at (scope, at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
