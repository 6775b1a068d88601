-- 020_batches.sql -- OpenAI's Batch API on our own engines (docs/BATCH.md): uploaded
-- files and their lines, batches, and the lane their lines run in.
--
-- A batch's lines become ordinary jobs a few at a time (aif-api's feeder, admission per
-- line), in the batch lane: priority -1, below every interactive request (0..9). A job
-- of a batch names it (batch_id) and its line (batch_line); the output and error files
-- are written from those jobs when the batch ends.

-- the lane below every interactive priority
ALTER TABLE jobs
  MODIFY priority TINYINT NOT NULL COMMENT '-1: a batch line; 0..9 interactive, higher runs first',
  ADD COLUMN IF NOT EXISTS batch_id BIGINT UNSIGNED NULL COMMENT 'batches.id of a batch line',
  ADD COLUMN IF NOT EXISTS batch_line INT UNSIGNED NULL COMMENT 'its line in the input file (1-based)',
  ADD KEY IF NOT EXISTS ix_jobs_batch (batch_id, state),
  ADD UNIQUE KEY IF NOT EXISTS uq_jobs_batch_line (batch_id, batch_line)
    COMMENT 'one job per line of a batch, whatever feeds it twice';

CREATE TABLE IF NOT EXISTS files (
  id          BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  public_id   CHAR(29) NOT NULL COMMENT 'file- + 24 random characters',
  api_key_id  BIGINT UNSIGNED NOT NULL COMMENT 'the owner key''s lineage',
  tenant      VARCHAR(128) NOT NULL,
  purpose     VARCHAR(16) NOT NULL COMMENT 'batch (uploaded) or batch_output (written)',
  filename    VARCHAR(255) NOT NULL,
  bytes       BIGINT UNSIGNED NOT NULL,
  line_count  INT UNSIGNED NOT NULL,
  endpoint    VARCHAR(32) NULL COMMENT 'a batch input''s url, the same on every line',
  created_at  DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  expires_at  DATETIME(6) NULL COMMENT 'deleted by the retention job after this',
  UNIQUE KEY uq_files_public_id (public_id),
  KEY ix_files_owner (api_key_id, id),
  KEY ix_files_expires (expires_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- a file's content, line by line (each with its line break, so the lines in order are
-- the bytes as uploaded)
CREATE TABLE IF NOT EXISTS file_lines (
  file_id     BIGINT UNSIGNED NOT NULL,
  line_no     INT UNSIGNED NOT NULL COMMENT '1-based',
  custom_id   VARCHAR(512) NULL COMMENT 'a batch input line''s custom_id',
  raw         MEDIUMBLOB NOT NULL,
  PRIMARY KEY (file_id, line_no)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS batches (
  id                BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  public_id         CHAR(30) NOT NULL COMMENT 'batch_ + 24 random characters',
  api_key_id        BIGINT UNSIGNED NOT NULL COMMENT 'the owner key''s lineage',
  tenant            VARCHAR(128) NOT NULL,
  input_file_id     BIGINT UNSIGNED NOT NULL,
  endpoint          VARCHAR(32) NOT NULL,
  completion_window VARCHAR(16) NOT NULL,
  status            ENUM('validating','failed','in_progress','finalizing','completed',
                         'expired','cancelling','cancelled') NOT NULL DEFAULT 'validating',
  metadata          TEXT NULL COMMENT 'JSON object, as given',
  errors            TEXT NULL COMMENT 'JSON list object of a failed batch',
  total             INT UNSIGNED NOT NULL,
  fed               INT UNSIGNED NOT NULL DEFAULT 0 COMMENT 'lines turned into jobs or refused',
  completed         INT UNSIGNED NOT NULL DEFAULT 0 COMMENT 'final counts, set when it ends',
  failed            INT UNSIGNED NOT NULL DEFAULT 0,
  paused_until      DATETIME(6) NULL COMMENT 'a rate limit holds its next lines until then',
  ending            VARCHAR(16) NULL COMMENT 'finalizing: the status it ends in',
  feeder_token      BIGINT UNSIGNED NULL COMMENT 'the aif-api feeder leasing it',
  feeder_until      DATETIME(6) NULL COMMENT 'that lease''s end',
  output_file_id    BIGINT UNSIGNED NULL,
  error_file_id     BIGINT UNSIGNED NULL,
  created_at        DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  expires_at        DATETIME(6) NOT NULL COMMENT 'created_at + completion_window',
  in_progress_at    DATETIME(6) NULL,
  finalizing_at     DATETIME(6) NULL,
  completed_at      DATETIME(6) NULL,
  failed_at         DATETIME(6) NULL,
  expired_at        DATETIME(6) NULL,
  cancelling_at     DATETIME(6) NULL,
  cancelled_at      DATETIME(6) NULL,
  UNIQUE KEY uq_batches_public_id (public_id),
  KEY ix_batches_owner (api_key_id, id),
  KEY ix_batches_status (status, id),
  KEY ix_batches_input (input_file_id, status)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- lines refused before they became jobs (admission said no: a budget, a guardrail, a
-- key gone), with the error a client would have been answered
CREATE TABLE IF NOT EXISTS batch_refusals (
  batch_id    BIGINT UNSIGNED NOT NULL,
  line_no     INT UNSIGNED NOT NULL,
  status_code SMALLINT UNSIGNED NOT NULL,
  body        TEXT NOT NULL COMMENT 'the OpenAI error object',
  PRIMARY KEY (batch_id, line_no)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
