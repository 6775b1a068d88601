-- 013_handoff.sql -- a sync job can be handed to a live worker at insert
-- (core/store/queue.h): its row is written `running` under that worker's lease
-- (attempts 1, lease_token 1, started_at = created_at), so no claim transaction stands
-- between the caller and the engine. Nothing new to store; what changes is the cost
-- of each job's writes:
--   ix_jobs_model_state (model, state) goes: no query of the request path reads it,
--   and every insert and state change paid for it. A model's queued or running jobs
--   are found through ix_jobs_model_claim (state, model, priority, id); `aifctl jobs
--   list --model` without a state walks the newest jobs by id instead.
DROP INDEX IF EXISTS ix_jobs_model_state ON jobs;

-- A handed job's first claim is its creation (started_at = created_at): `claimed` and
-- `enqueued` share one instant, so the view orders them by seq (enqueued 0, claimed 1;
-- event rows carry their ids). Otherwise as in 012_timeline.sql.
CREATE OR REPLACE VIEW job_timeline AS
SELECT e.id AS seq, e.job_id, e.at, e.event, e.attempt, e.worker_id, e.replica, e.detail
  FROM job_events e
UNION ALL
SELECT 0, j.id, j.created_at, _utf8mb4'enqueued' COLLATE utf8mb4_unicode_ci, 0, NULL, NULL, NULL
  FROM jobs j JOIN job_timeline_epoch t ON j.id >= t.first_job_id
UNION ALL
SELECT 1, j.id, j.started_at, _utf8mb4'claimed' COLLATE utf8mb4_unicode_ci, 1,
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
