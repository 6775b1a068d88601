-- 021_narrow_indexes.sql -- the secondary indexes of `jobs` that are only ever read for
-- some states key on a generated column that is NULL outside those states, so a job's
-- state changes stop rewriting them (issue 13: fewer writes per request).
--
-- A state change rewrites every secondary index that holds `state`: InnoDB marks the
-- old entry deleted, inserts the new one, and its purge removes the old one later. A
-- sync job handed to a worker at insert (013_handoff.sql) is written `running` and
-- then `succeeded`; that second write touched seven indexes, of which only
-- ix_jobs_lease (state, lease_until) is ever read for `running` or `succeeded` rows.
-- Now:
--   queued_mark  1 while the job is queued, else NULL. The claim indexes and the
--                per-tenant and per-key counts of queued jobs read only queued rows:
--                a job written running never changes them again.
--   run_state    the state of a workflow run (kind 'pipeline'), else NULL: the
--                workflow runners' index.
--   batch_state  the state of a batch's line (batch_id set), else NULL: the batch's
--                progress and feeding.
-- The indexes get new names (ix_jobs_claim is ix_jobs_queue, ix_jobs_model_claim
-- ix_jobs_model_queue, ix_jobs_tenant_state ix_jobs_tenant_queued, ix_jobs_key_state
-- ix_jobs_key_queued, ix_jobs_flow ix_jobs_runs, ix_jobs_batch ix_jobs_batch_state), so
-- that running every migration again, as the unit tests do, ends with the same schema.
-- A query that reads one of these indexes names the generated column (queued_mark = 1,
-- run_state IN (...), batch_state = ...), which says the same as the state it stands
-- for. Every other state query goes through ix_jobs_lease (state, lease_until), which
-- still holds every row under its state.
--
-- The columns are PERSISTENT (stored): adding them rebuilds `jobs` once, which takes a
-- while on a large table (plan the upgrade like any ALTER TABLE of it).
ALTER TABLE jobs
  ADD COLUMN IF NOT EXISTS queued_mark TINYINT AS (IF(state = 'queued', 1, NULL)) PERSISTENT
    COMMENT '1 while queued, else NULL (generated; keys the claim indexes)',
  ADD COLUMN IF NOT EXISTS run_state VARCHAR(16) AS
    (IF(kind = 'pipeline', state, NULL)) PERSISTENT
    COMMENT 'state of a workflow run, else NULL (generated; ix_jobs_runs)',
  ADD COLUMN IF NOT EXISTS batch_state VARCHAR(16) AS
    (IF(batch_id IS NULL, NULL, state)) PERSISTENT
    COMMENT 'state of a batch line, else NULL (generated; ix_jobs_batch_state)',
  DROP INDEX IF EXISTS ix_jobs_claim,
  DROP INDEX IF EXISTS ix_jobs_model_claim,
  DROP INDEX IF EXISTS ix_jobs_tenant_state,
  DROP INDEX IF EXISTS ix_jobs_key_state,
  DROP INDEX IF EXISTS ix_jobs_flow,
  DROP INDEX IF EXISTS ix_jobs_batch,
  ADD KEY IF NOT EXISTS ix_jobs_queue (queued_mark, priority DESC, id)
    COMMENT 'serves the claim query order',
  ADD KEY IF NOT EXISTS ix_jobs_model_queue (queued_mark, model, priority DESC, id)
    COMMENT 'one model''s queue: its claims and the hand-off look',
  ADD KEY IF NOT EXISTS ix_jobs_tenant_queued (tenant, queued_mark),
  ADD KEY IF NOT EXISTS ix_jobs_key_queued (api_key_id, queued_mark),
  ADD KEY IF NOT EXISTS ix_jobs_runs (kind, run_state, run_after),
  ADD KEY IF NOT EXISTS ix_jobs_batch_state (batch_id, batch_state);
