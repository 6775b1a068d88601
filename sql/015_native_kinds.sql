-- 015_native_kinds.sql -- the engine-native endpoints as job kinds (docs/ADAPTERS.md):
-- rerank (POST /v1/rerank, /rerank, /v2/rerank), score (POST /v1/score, /score),
-- tokenize and detokenize (POST /tokenize, /detokenize). They are jobs like the others:
-- keys, roles, limits, budget, PII masking, usage rows.
ALTER TABLE jobs
  MODIFY kind ENUM('chat','completion','embedding','pipeline','batch','rerank','score',
                   'tokenize','detokenize') NOT NULL;
