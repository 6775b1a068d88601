-- 008_replica_health.sql -- what workers publish about each replica gains the result
-- of their health probe, so that aif-api's /readyz reads readiness from the workers
-- instead of probing engines itself: a replica is healthy for a worker when its last
-- probe answered 200 and its circuit breaker is closed.
ALTER TABLE replica_state
  ADD COLUMN IF NOT EXISTS healthy TINYINT(1) NOT NULL DEFAULT 0 AFTER circuit_open;
