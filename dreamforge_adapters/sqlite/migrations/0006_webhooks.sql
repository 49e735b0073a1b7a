-- A job's webhook (its URL and the events asked for), and the outbox: a message is inserted
-- in the transaction that stores the change it tells of, so none is lost between the change
-- and its delivery; it waits here until it is delivered or given up.
ALTER TABLE jobs ADD COLUMN webhook TEXT;

CREATE TABLE webhook_deliveries (
    id              TEXT PRIMARY KEY,
    job_id          TEXT NOT NULL REFERENCES jobs (id),
    url             TEXT NOT NULL,
    type            TEXT NOT NULL,
    body            TEXT NOT NULL,
    state           TEXT NOT NULL,
    attempts        INTEGER NOT NULL,
    created_at      TEXT NOT NULL,
    next_attempt_at TEXT,
    last_status     INTEGER
);

-- Deliverers read the waiting messages, earliest due first.
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at)
    WHERE state = 'pending';
