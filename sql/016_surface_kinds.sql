-- 016_surface_kinds.sql -- the API surfaces an engine serves itself as job kinds
-- (docs/ADAPTERS.md "Pass-through"): responses (POST /v1/responses) and messages
-- (POST /v1/messages) to a model that lists them in its kinds. Their stored request
-- and answer are the surface's own (a Response, a Message), not a chat completion.
ALTER TABLE jobs
  MODIFY kind ENUM('chat','completion','embedding','pipeline','batch','rerank','score',
                   'tokenize','detokenize','responses','messages') NOT NULL;
