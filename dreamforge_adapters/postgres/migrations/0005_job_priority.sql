-- Queued jobs start highest priority first (high 1, normal 0, low -1), oldest first within
-- one: the next job and a job's place in the queue are ranges of this small index.
ALTER TABLE jobs ADD COLUMN priority integer NOT NULL DEFAULT 0;
CREATE INDEX jobs_queued_in_order ON jobs (type, priority DESC, created_at, id)
    WHERE state = 'queued';
