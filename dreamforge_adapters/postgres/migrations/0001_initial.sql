-- fillfactor leaves room on each page, so the frequent progress updates stay HOT
-- (rewritten in place, no index churn) as long as the state column does not change.
CREATE TABLE jobs (
    id              text PRIMARY KEY,
    type            text NOT NULL,
    provider        text NOT NULL,
    model_id        text NOT NULL,
    user_id         text NOT NULL,
    state           text NOT NULL,
    params          jsonb NOT NULL,
    count           integer NOT NULL,
    attempts        integer NOT NULL,
    error           jsonb,
    idempotency_key text,
    fingerprint     text,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    started_at      timestamptz,
    finished_at     timestamptz,
    next_attempt_at timestamptz,
    last_seq        integer NOT NULL,
    version         integer NOT NULL,
    schema_version  integer NOT NULL
) WITH (fillfactor = 80);

-- Partial: most jobs carry no key. It is also the arbiter of `ON CONFLICT DO NOTHING`,
-- which is how the database, not the caller, decides who owns a key.
CREATE UNIQUE INDEX jobs_by_idempotency_key ON jobs (idempotency_key)
WHERE idempotency_key IS NOT NULL;

CREATE INDEX jobs_by_state ON jobs (state);

CREATE TABLE steps (
    id             text PRIMARY KEY,
    job_id         text NOT NULL REFERENCES jobs (id),
    position       integer NOT NULL,
    name           text NOT NULL,
    state          text NOT NULL,
    attempts       integer NOT NULL,
    last_error     jsonb,
    started_at     timestamptz,
    finished_at    timestamptz,
    items          jsonb NOT NULL,
    schema_version integer NOT NULL,
    UNIQUE (job_id, position)
) WITH (fillfactor = 80);

-- The primary key is the only way events are read: a job's, in seq order.
CREATE TABLE events (
    job_id         text NOT NULL REFERENCES jobs (id),
    seq            integer NOT NULL,
    ts             timestamptz NOT NULL,
    kind           text NOT NULL,
    level          text NOT NULL,
    code           text NOT NULL,
    message        text NOT NULL,
    step_id        text,
    item_index     integer,
    data           jsonb NOT NULL,
    schema_version integer NOT NULL,
    PRIMARY KEY (job_id, seq)
);

CREATE TABLE artifacts (
    id             text PRIMARY KEY,
    job_id         text NOT NULL REFERENCES jobs (id),
    step           text NOT NULL,
    item_index     integer NOT NULL,
    key            text NOT NULL,
    content_type   text NOT NULL,
    format         text NOT NULL,
    width          integer NOT NULL,
    height         integer NOT NULL,
    seed           bigint NOT NULL,
    size_bytes     bigint NOT NULL,
    sha256         text NOT NULL,
    created_at     timestamptz NOT NULL,
    schema_version integer NOT NULL,
    UNIQUE (job_id, step, item_index)
);

CREATE TABLE models (
    id              text PRIMARY KEY,
    name            text NOT NULL,
    kind            text NOT NULL,
    version         text NOT NULL,
    checkpoint_hash text,
    source_uri      text,
    local_path      text,
    installed       boolean NOT NULL,
    enabled         boolean NOT NULL,
    limits          jsonb NOT NULL,
    capabilities    jsonb NOT NULL,
    provenance      jsonb NOT NULL,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    schema_version  integer NOT NULL
);
