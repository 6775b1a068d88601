-- 009_key_lineage.sql -- key rotation keeps one identity: every key names the first key
-- of its rotation chain (its lineage) and the key it was rotated from. Authentication
-- hands the lineage id on as the principal of budgets ("key:<lineage>"), rate limits
-- ("key:<lineage>:rpm"), jobs.api_key_id (job ownership, idempotency) and usage rows, so
-- a rotated key keeps its spend, its limits and its jobs; admin operations still name
-- real key ids. core/gate/keys.c rotates only the newest live key of a lineage (never a
-- revoked or expired key, never a key with a live successor), so a lineage is one chain
-- (docs/OPERATIONS.md, "API keys").
--
-- Keys made before this migration are their own lineage: the table did not record
-- rotations. A row inserted later with lineage_id 0 (by a program older than this
-- migration, during an upgrade) is read as its own lineage too (core/store/keystore.c).
ALTER TABLE api_keys
  ADD COLUMN IF NOT EXISTS lineage_id BIGINT UNSIGNED NOT NULL DEFAULT 0
    COMMENT 'id of the first key of its rotation chain: whom budgets, limits and jobs belong to'
    AFTER id,
  ADD COLUMN IF NOT EXISTS replaces_id BIGINT UNSIGNED NULL
    COMMENT 'the key this one was rotated from; NULL for a key made by create'
    AFTER lineage_id,
  ADD INDEX IF NOT EXISTS ix_api_keys_lineage (lineage_id);

UPDATE api_keys SET lineage_id = id WHERE lineage_id = 0;
