-- The active jobs of one API key, counted at each creation when DREAMFORGE_MAX_ACTIVE_JOBS_PER_KEY
-- is set: a range of this small index, whatever the number of finished jobs.
CREATE INDEX jobs_active_by_key ON jobs (key_fingerprint) WHERE state IN ('queued', 'running');
