-- A job's webhook (its URL and the events asked for), and the outbox: a message is inserted
-- by the statement that stores the change it tells of, so none is lost between the change
-- and its delivery; it waits here until it is delivered or given up.
ALTER TABLE jobs ADD COLUMN webhook jsonb;

CREATE TABLE webhook_deliveries (
    id              text PRIMARY KEY,
    job_id          text NOT NULL REFERENCES jobs (id),
    url             text NOT NULL,
    type            text NOT NULL,
    body            text NOT NULL,
    state           text NOT NULL,
    attempts        integer NOT NULL,
    created_at      timestamptz NOT NULL,
    next_attempt_at timestamptz,
    last_status     integer
);

-- Deliverers read the waiting messages, earliest due first.
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at)
    WHERE state = 'pending';
