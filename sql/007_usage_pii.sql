-- 007_usage_pii.sql -- the personal-data entity counts of a job on its usage row too, so
-- usage reports can say how much personal data each key or tenant sent from one table.
-- Counts per type only, never values.
ALTER TABLE `usage`
  ADD COLUMN IF NOT EXISTS pii_counts VARCHAR(1024) NULL
    COMMENT 'JSON object of masked entity counts, copied from jobs.pii_counts; never values'
    AFTER engine_ms;
