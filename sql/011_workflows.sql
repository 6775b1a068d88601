-- 011_workflows.sql -- durable multi-step workflows (docs/WORKFLOWS.md). A run is a job
-- of kind 'pipeline' whose model column holds the workflow's name; it keeps the
-- definition it started with (workflow_defs, by hash), so a reload changes only new
-- runs. Each step of a run is a job_steps row: its state, attempts, input digest and
-- output, written in the transaction that schedules the next step. A model step runs as
-- a child job (parent_job_id, parent_step) through the ordinary queue, so it is gated,
-- billed and metered like any job. A waiting run is `waiting` with run_after at its
-- next deadline (a timer, a signal's timeout, a retry); a finished child or an arriving
-- signal moves run_after to now. Signals are rows a waiting step consumes.
CREATE TABLE IF NOT EXISTS workflow_defs (
  hash        CHAR(64) NOT NULL PRIMARY KEY COMMENT 'hex SHA-256 of definition',
  name        VARCHAR(128) NOT NULL,
  definition  MEDIUMTEXT NOT NULL COMMENT 'canonical JSON of the workflow (no secrets: secret headers name files)',
  created_at  DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  KEY ix_workflow_defs_name (name, created_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- A run that waits (a timer, a signal, a model step's job) is `waiting`: it is no
-- engine work, so the workers' claims (state = 'queued') never scan past it. Appending
-- a value to the ENUM changes only the table's metadata.
ALTER TABLE jobs
  MODIFY state ENUM('queued','running','succeeded','failed','compensating','cancelled','waiting') NOT NULL DEFAULT 'queued',
  ADD COLUMN IF NOT EXISTS workflow_hash CHAR(64) NULL
    COMMENT 'a run: the workflow_defs row it started with',
  ADD COLUMN IF NOT EXISTS parent_job_id BIGINT UNSIGNED NULL
    COMMENT 'a model step of a run: the run (jobs.id)',
  ADD COLUMN IF NOT EXISTS parent_step VARCHAR(64) NULL
    COMMENT 'a model step of a run: the step name',
  ADD INDEX IF NOT EXISTS ix_jobs_parent (parent_job_id),
  ADD INDEX IF NOT EXISTS ix_jobs_flow (kind, state, run_after);

CREATE TABLE IF NOT EXISTS job_steps (
  job_id        BIGINT UNSIGNED NOT NULL COMMENT 'the run (jobs.id)',
  step          VARCHAR(64) NOT NULL,
  seq           SMALLINT UNSIGNED NOT NULL COMMENT 'order in which the run reached the step',
  kind          VARCHAR(16) NOT NULL,
  state         ENUM('scheduled','running','waiting','succeeded','failed','cancelled') NOT NULL DEFAULT 'scheduled',
  attempts      SMALLINT UNSIGNED NOT NULL DEFAULT 0,
  max_attempts  SMALLINT UNSIGNED NOT NULL DEFAULT 1,
  input_sha256  BINARY(32) NULL COMMENT 'digest of what the step sent (rendered request)',
  output        LONGTEXT NULL COMMENT 'JSON result, written when the step succeeded',
  error         VARCHAR(1024) NULL COMMENT 'last error; never prompt text',
  child_job_id  BIGINT UNSIGNED NULL COMMENT 'model step: the job of its current attempt',
  waiting_for   VARCHAR(128) NULL COMMENT 'wait step: signal:<name> or timer; retry: retry',
  wake_at       DATETIME(6) NULL COMMENT 'timer, signal timeout or retry time',
  branch_taken  VARCHAR(64) NULL COMMENT 'branch step: the step chosen',
  created_at    DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  started_at    DATETIME(6) NULL COMMENT 'first attempt',
  finished_at   DATETIME(6) NULL,
  PRIMARY KEY (job_id, step),
  KEY ix_job_steps_state (state, wake_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE IF NOT EXISTS job_signals (
  id            BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  job_id        BIGINT UNSIGNED NOT NULL,
  name          VARCHAR(64) NOT NULL,
  payload       MEDIUMTEXT NOT NULL COMMENT 'JSON sent with the signal',
  created_at    DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  consumed_at   DATETIME(6) NULL,
  consumed_step VARCHAR(64) NULL,
  KEY ix_job_signals_job (job_id, name, consumed_at, id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Compensations of workflow steps carry their own headers (JSON: name -> {"value"} or
-- {"file","prefix"}: a secret read when called) and Idempotency-Key.
ALTER TABLE job_compensations
  ADD COLUMN IF NOT EXISTS headers TEXT NULL
    COMMENT 'JSON object of extra headers; secret ones name a file, never the value',
  ADD COLUMN IF NOT EXISTS idempotency_key VARCHAR(255) NULL
    COMMENT 'sent as Idempotency-Key; NULL: <job id>:<step_no>:undo',
  MODIFY body_template MEDIUMTEXT NULL;

-- Runs are not engine work: the queue depth (and what scales workers) leaves them out;
-- a waiting run shows in v_running_workflows below.
CREATE OR REPLACE VIEW v_queue_depth AS
SELECT model, priority, state, COUNT(*) AS jobs,
       MIN(created_at) AS oldest_created_at,
       TIMESTAMPDIFF(SECOND, MIN(created_at), NOW(6)) AS oldest_age_s
  FROM jobs
 WHERE state IN ('queued', 'running', 'compensating') AND kind <> 'pipeline'
 GROUP BY model, priority, state;

-- The DBA's "where did it stop": every run not yet final with the step it is at.
CREATE OR REPLACE VIEW v_running_workflows AS
SELECT j.public_id, j.model AS workflow, j.state AS run_state, j.created_at,
       s.step AS current_step, s.kind AS step_kind, s.state AS step_state,
       s.attempts, s.waiting_for, s.wake_at, s.error AS last_error,
       c.public_id AS child_job
  FROM jobs j
  LEFT JOIN job_steps s ON s.job_id = j.id
   AND s.state IN ('scheduled','running','waiting')
  LEFT JOIN jobs c ON c.id = s.child_job_id
 WHERE j.kind = 'pipeline' AND j.state IN ('queued','running','waiting','compensating');
