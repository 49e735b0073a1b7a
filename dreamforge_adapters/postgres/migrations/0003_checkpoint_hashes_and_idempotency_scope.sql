-- Jobs and artifacts record the weights they were made with. An Idempotency-Key is unique per
-- API key (its sha256), or '' without keys, which rows written before this migration keep.
-- The new index is also the arbiter of the create statement's `ON CONFLICT`.
ALTER TABLE jobs ADD COLUMN checkpoint_hash text;
ALTER TABLE jobs ADD COLUMN key_fingerprint text NOT NULL DEFAULT '';
ALTER TABLE artifacts ADD COLUMN checkpoint_hash text;
DROP INDEX jobs_by_idempotency_key;
CREATE UNIQUE INDEX jobs_by_scoped_idempotency_key ON jobs (key_fingerprint, idempotency_key)
WHERE idempotency_key IS NOT NULL;
