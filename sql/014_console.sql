-- 014_console.sql -- the console (docs/CONSOLE.md) and the admin endpoints it shares
-- with aifctl.
--   job_events.actor_key_id: the admin key that made an event happen (an operator's
--     cancel, signal or retry through /admin/jobs/{id}/...); NULL for everything the
--     system did itself. The timeline shows it; DBAs can audit with
--     SELECT * FROM job_events WHERE actor_key_id IS NOT NULL.
--   ix_usage_created: the overview's last hour (throughput and latency per minute)
--     reads the usage rows of one hour by time, not the whole table (its failures
--     come from job_events by ix_job_events_at).
ALTER TABLE job_events
  ADD COLUMN IF NOT EXISTS actor_key_id BIGINT UNSIGNED NULL
  COMMENT 'admin key that made this happen (operator action); NULL: the system';

CREATE INDEX IF NOT EXISTS ix_usage_created ON `usage` (created_at);

-- As in 013_handoff.sql, with the actor of each event (the rows made from the job row
-- are the system's).
CREATE OR REPLACE VIEW job_timeline AS
SELECT e.id AS seq, e.job_id, e.at, e.event, e.attempt, e.worker_id, e.replica, e.detail,
       e.actor_key_id
  FROM job_events e
UNION ALL
SELECT 0, j.id, j.created_at, _utf8mb4'enqueued' COLLATE utf8mb4_unicode_ci, 0, NULL, NULL,
       NULL, NULL
  FROM jobs j JOIN job_timeline_epoch t ON j.id >= t.first_job_id
UNION ALL
SELECT 1, j.id, j.started_at, _utf8mb4'claimed' COLLATE utf8mb4_unicode_ci, 1,
       COALESCE((SELECT x.worker_id FROM job_events x
                  WHERE x.job_id = j.id AND x.worker_id IS NOT NULL
                  ORDER BY x.id LIMIT 1), j.worker_id),
       NULL, NULL, NULL
  FROM jobs j JOIN job_timeline_epoch t ON j.id >= t.first_job_id
 WHERE j.started_at IS NOT NULL AND j.kind <> 'pipeline'
UNION ALL
SELECT 18446744073709551615, j.id, j.finished_at,
       _utf8mb4'succeeded' COLLATE utf8mb4_unicode_ci, j.attempts, j.worker_id,
       j.replica, NULL, NULL
  FROM jobs j JOIN job_timeline_epoch t ON j.id >= t.first_job_id
 WHERE j.state = 'succeeded' AND j.kind <> 'pipeline'
   AND NOT EXISTS (SELECT 1 FROM job_events x WHERE x.job_id = j.id AND x.event = 'succeeded');
