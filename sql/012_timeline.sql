-- 012_timeline.sql -- a job's timeline, with fewer rows written on the common path.
-- Jobs from job_timeline_epoch.first_job_id on write no `enqueued` row and no row for
-- their first claim: the job row's created_at and started_at stand for them. A success
-- that follows the first claim writes no `succeeded` row either: finished_at stands for
-- it, and worker_id and replica stay on the row. Every other transition (a later
-- claim, a failed attempt, a retry, a release, an expired lease, a cancel, a
-- compensation, a disconnected stream, a fallback...) still writes its event row in the
-- transaction that makes it. `job_timeline` renders both as one list: read a job's
-- history from it, ordered by (at, seq).
--   enqueued   from jobs.created_at
--   claimed    the first claim (attempt 1), from jobs.started_at; its worker is the one
--              the job's first event with a worker names (a release, a failed attempt),
--              else the row's worker_id. Runs (kind 'pipeline') keep their own events.
--   succeeded  from jobs.finished_at, unless a `succeeded` row exists (not runs)
CREATE TABLE IF NOT EXISTS job_timeline_epoch (
  one          TINYINT UNSIGNED NOT NULL DEFAULT 1 PRIMARY KEY COMMENT 'one row only',
  first_job_id BIGINT UNSIGNED NOT NULL COMMENT 'jobs from this id on follow 012_timeline.sql',
  CONSTRAINT ck_job_timeline_epoch_one CHECK (one = 1)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- the first run sets it; running the file again changes nothing
INSERT IGNORE INTO job_timeline_epoch (one, first_job_id)
SELECT 1, COALESCE(MAX(id), 0) + 1 FROM jobs;

CREATE OR REPLACE VIEW job_timeline AS
SELECT e.id AS seq, e.job_id, e.at, e.event, e.attempt, e.worker_id, e.replica, e.detail
  FROM job_events e
UNION ALL
SELECT 0, j.id, j.created_at, _utf8mb4'enqueued' COLLATE utf8mb4_unicode_ci, 0, NULL, NULL, NULL
  FROM jobs j JOIN job_timeline_epoch t ON j.id >= t.first_job_id
UNION ALL
SELECT 0, j.id, j.started_at, _utf8mb4'claimed' COLLATE utf8mb4_unicode_ci, 1,
       COALESCE((SELECT x.worker_id FROM job_events x
                  WHERE x.job_id = j.id AND x.worker_id IS NOT NULL
                  ORDER BY x.id LIMIT 1), j.worker_id),
       NULL, NULL
  FROM jobs j JOIN job_timeline_epoch t ON j.id >= t.first_job_id
 WHERE j.started_at IS NOT NULL AND j.kind <> 'pipeline'
UNION ALL
SELECT 18446744073709551615, j.id, j.finished_at,
       _utf8mb4'succeeded' COLLATE utf8mb4_unicode_ci, j.attempts, j.worker_id,
       j.replica, NULL
  FROM jobs j JOIN job_timeline_epoch t ON j.id >= t.first_job_id
 WHERE j.state = 'succeeded' AND j.kind <> 'pipeline'
   AND NOT EXISTS (SELECT 1 FROM job_events x WHERE x.job_id = j.id AND x.event = 'succeeded');
