CREATE TABLE jobs (
    id              TEXT PRIMARY KEY,
    type            TEXT NOT NULL,
    provider        TEXT NOT NULL,
    model_id        TEXT NOT NULL,
    user_id         TEXT NOT NULL,
    state           TEXT NOT NULL,
    params          TEXT NOT NULL,
    count           INTEGER NOT NULL,
    attempts        INTEGER NOT NULL,
    error           TEXT,
    idempotency_key TEXT,
    fingerprint     TEXT,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    started_at      TEXT,
    finished_at     TEXT,
    next_attempt_at TEXT,
    last_seq        INTEGER NOT NULL,
    version         INTEGER NOT NULL,
    schema_version  INTEGER NOT NULL
);

-- Partial: most jobs carry no key, and their inserts then skip this index entirely.
CREATE UNIQUE INDEX jobs_by_idempotency_key ON jobs (idempotency_key)
WHERE idempotency_key IS NOT NULL;

CREATE INDEX jobs_by_state ON jobs (state);

-- UNIQUE (job_id, position) is also the index that loads a job's steps in order.
CREATE TABLE steps (
    id             TEXT PRIMARY KEY,
    job_id         TEXT NOT NULL REFERENCES jobs (id),
    position       INTEGER NOT NULL,
    name           TEXT NOT NULL,
    state          TEXT NOT NULL,
    attempts       INTEGER NOT NULL,
    last_error     TEXT,
    started_at     TEXT,
    finished_at    TEXT,
    items          TEXT NOT NULL,
    schema_version INTEGER NOT NULL,
    UNIQUE (job_id, position)
);

-- Clustered by (job_id, seq): a job's events are read in seq order and never by anything else.
CREATE TABLE events (
    job_id         TEXT NOT NULL REFERENCES jobs (id),
    seq            INTEGER NOT NULL,
    ts             TEXT NOT NULL,
    kind           TEXT NOT NULL,
    level          TEXT NOT NULL,
    code           TEXT NOT NULL,
    message        TEXT NOT NULL,
    step_id        TEXT,
    item_index     INTEGER,
    data           TEXT NOT NULL,
    schema_version INTEGER NOT NULL,
    PRIMARY KEY (job_id, seq)
) WITHOUT ROWID;

CREATE TABLE artifacts (
    id             TEXT PRIMARY KEY,
    job_id         TEXT NOT NULL REFERENCES jobs (id),
    step           TEXT NOT NULL,
    item_index     INTEGER NOT NULL,
    key            TEXT NOT NULL,
    content_type   TEXT NOT NULL,
    format         TEXT NOT NULL,
    width          INTEGER NOT NULL,
    height         INTEGER NOT NULL,
    seed           INTEGER NOT NULL,
    size_bytes     INTEGER NOT NULL,
    sha256         TEXT NOT NULL,
    created_at     TEXT NOT NULL,
    schema_version INTEGER NOT NULL,
    UNIQUE (job_id, step, item_index)
);

CREATE TABLE models (
    id              TEXT PRIMARY KEY,
    name            TEXT NOT NULL,
    kind            TEXT NOT NULL,
    version         TEXT NOT NULL,
    checkpoint_hash TEXT,
    source_uri      TEXT,
    local_path      TEXT,
    installed       INTEGER NOT NULL,
    enabled         INTEGER NOT NULL,
    limits          TEXT NOT NULL,
    capabilities    TEXT NOT NULL,
    provenance      TEXT NOT NULL,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    schema_version  INTEGER NOT NULL
);
