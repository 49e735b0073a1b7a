"""The Postgres schema: the numbered `.sql` migrations beside this file, applied in order by
the shared runner and recorded in `schema_migrations`. The numbering follows the SQLite
adapter's, so a version means the same schema on both stores.

`migrate` (the `dreamforge db migrate` command) applies what is missing in one transaction
under an advisory lock, so two processes migrating at once serialise: the second waits, then
finds nothing left to do. Services do not migrate; they call `check_schema` at start-up and
refuse to run against a database that is behind (or ahead of) the code.
"""

from __future__ import annotations

from dreamforge_adapters.postgres.database import PostgresDatabase
from dreamforge_adapters.sql.migrations import (
    Migration,
    SchemaOutOfDate,
    apply_pending,
    load_migrations,
    migrations_table,
)
from dreamforge_core.domain.clock import utc_now

__all__ = [
    "LATEST",
    "MIGRATIONS",
    "Migration",
    "SchemaOutOfDate",
    "check_schema",
    "migrate",
    "schema_version",
]

# Any fixed 64-bit number; this one spells "dreamfor". Held only for the migrating transaction.
MIGRATION_LOCK_KEY = 0x647265616D666F72
CREATE_MIGRATIONS_TABLE = migrations_table(__name__)
MIGRATIONS: tuple[Migration, ...] = load_migrations(__name__)
LATEST = MIGRATIONS[-1].version


def migrate(database: PostgresDatabase) -> list[int]:
    """Applies the missing migrations; returns the versions applied by this call."""
    with database.transaction() as conn:
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK_KEY,))
        conn.execute(CREATE_MIGRATIONS_TABLE)
        return apply_pending(conn, MIGRATIONS, param="%s", applied_at=utc_now())


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
