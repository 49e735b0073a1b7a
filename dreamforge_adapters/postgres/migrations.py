"""The schema, as numbered migrations applied in order and recorded in `schema_migrations`.

A migration is never edited once released: a change is a new entry at the end. The numbering
follows the SQLite adapter's, so a version means the same schema on both stores.

`migrate` (the `dreamforge db migrate` command) applies what is missing in one transaction
under an advisory lock, so two processes migrating at once serialise: the second waits, then
finds nothing left to do. Services do not migrate; they call `check_schema` at start-up and
refuse to run against a database that is behind (or ahead of) the code.
"""

from __future__ import annotations

from typing import NamedTuple

from dreamforge_adapters.postgres.database import PostgresDatabase
from dreamforge_core.errors import Unavailable

# Any fixed 64-bit number; this one spells "dreamfor". Held only for the migrating transaction.
MIGRATION_LOCK_KEY = 0x647265616D666F72


class Migration(NamedTuple):
    version: int
    name: str
    statements: tuple[str, ...]


class SchemaOutOfDate(Unavailable):
    """Raised when the database schema is not the version this code was written for."""


CREATE_MIGRATIONS_TABLE = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    integer PRIMARY KEY,
    name       text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)"""

_INITIAL = (
    # fillfactor leaves room on each page, so the frequent progress updates stay HOT
    # (rewritten in place, no index churn) as long as the state column does not change.
    """
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
    ) WITH (fillfactor = 80)""",
    # Partial: most jobs carry no key. It is also the arbiter of `ON CONFLICT DO NOTHING`,
    # which is how the database, not the caller, decides who owns a key.
    """
    CREATE UNIQUE INDEX jobs_by_idempotency_key ON jobs (idempotency_key)
    WHERE idempotency_key IS NOT NULL""",
    "CREATE INDEX jobs_by_state ON jobs (state)",
    """
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
    ) WITH (fillfactor = 80)""",
    # The primary key is the only way events are read: a job's, in seq order.
    """
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
    )""",
    """
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
    )""",
    """
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
    )""",
)

_LEASES = (
    "ALTER TABLE jobs ADD COLUMN lease_owner text",
    "ALTER TABLE jobs ADD COLUMN lease_expires_at timestamptz",
)

# Jobs and artifacts record the weights they were made with; an Idempotency-Key is unique per
# API key (its sha256; '' without keys, which rows written before this migration keep). The
# new index is also the arbiter of the create statement's `ON CONFLICT`.
_CHECKPOINTS_AND_KEY_SCOPE = (
    "ALTER TABLE jobs ADD COLUMN checkpoint_hash text",
    "ALTER TABLE jobs ADD COLUMN key_fingerprint text NOT NULL DEFAULT ''",
    "ALTER TABLE artifacts ADD COLUMN checkpoint_hash text",
    "DROP INDEX jobs_by_idempotency_key",
    """
    CREATE UNIQUE INDEX jobs_by_scoped_idempotency_key ON jobs (key_fingerprint, idempotency_key)
    WHERE idempotency_key IS NOT NULL""",
)

MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "initial", _INITIAL),
    Migration(2, "job leases", _LEASES),
    Migration(3, "checkpoint hashes and idempotency scope", _CHECKPOINTS_AND_KEY_SCOPE),
)
LATEST = MIGRATIONS[-1].version


def migrate(database: PostgresDatabase) -> list[int]:
    """Applies the missing migrations; returns the versions applied by this call."""
    applied_now: list[int] = []
    with database.transaction() as conn:
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK_KEY,))
        conn.execute(CREATE_MIGRATIONS_TABLE)
        done = {row[0] for row in conn.execute("SELECT version FROM schema_migrations")}
        if max(done, default=0) > LATEST:
            raise SchemaOutOfDate(
                f"database schema {max(done)} is newer than this program knows ({LATEST})"
            )
        for migration in MIGRATIONS:
            if migration.version in done:
                continue
            for statement in migration.statements:
                conn.execute(statement)
            conn.execute(
                "INSERT INTO schema_migrations (version, name) VALUES (%s, %s)",
                (migration.version, migration.name),
            )
            applied_now.append(migration.version)
    return applied_now


def schema_version(database: PostgresDatabase) -> int:
    """The newest applied migration, 0 for an empty database."""
    with database.connection() as conn:
        row = conn.execute("SELECT to_regclass('schema_migrations') IS NOT NULL").fetchone()
        if row is None or not row[0]:
            return 0
        row = conn.execute("SELECT coalesce(max(version), 0) FROM schema_migrations").fetchone()
        return int(row[0]) if row else 0


def check_schema(database: PostgresDatabase) -> None:
    """Raises SchemaOutOfDate unless the database is exactly at this code's schema."""
    current = schema_version(database)
    if current < LATEST:
        raise SchemaOutOfDate(
            f"database schema is at version {current}, this program needs {LATEST}: "
            "run `dreamforge db migrate` first"
        )
    if current > LATEST:
        raise SchemaOutOfDate(
            f"database schema {current} is newer than this program knows ({LATEST}): "
            "upgrade the program"
        )
