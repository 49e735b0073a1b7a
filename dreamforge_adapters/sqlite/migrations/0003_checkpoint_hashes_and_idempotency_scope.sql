-- Jobs and artifacts record the weights they were made with. An Idempotency-Key is unique per
-- API key (its sha256), or '' without keys, which rows written before this migration keep.
ALTER TABLE jobs ADD COLUMN checkpoint_hash TEXT;
ALTER TABLE jobs ADD COLUMN key_fingerprint TEXT NOT NULL DEFAULT '';
ALTER TABLE artifacts ADD COLUMN checkpoint_hash TEXT;
DROP INDEX jobs_by_idempotency_key;
CREATE UNIQUE INDEX jobs_by_scoped_idempotency_key ON jobs (key_fingerprint, idempotency_key)
WHERE idempotency_key IS NOT NULL;
