"""A database at any released schema version upgrades to exactly the schema of a fresh one.

The DDL lives in `.sql` files read at import; these tests pin that every older version of
either store, once migrated, has the same tables, columns, types and indexes as a database
created at the newest version.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from dreamforge_adapters.postgres import PostgresDatabase, migrate
from dreamforge_adapters.postgres import migrations as postgres_migrations
from dreamforge_adapters.sql.migrations import statements
from dreamforge_adapters.sqlite import SqliteDatabase
from dreamforge_adapters.sqlite import database as sqlite_database
from dreamforge_adapters.sqlite.migrations import MIGRATIONS as SQLITE_MIGRATIONS
from tests.support.postgres import PostgresServer

OLDER_VERSIONS = range(1, len(SQLITE_MIGRATIONS))


def test_both_stores_number_and_name_their_migrations_alike() -> None:
    def versions(migrations: Any) -> list[tuple[int, str]]:
        return [(m.version, m.name) for m in migrations]

    assert versions(SQLITE_MIGRATIONS) == versions(postgres_migrations.MIGRATIONS)
    assert versions(SQLITE_MIGRATIONS)[0] == (1, "initial")


def test_a_script_splits_at_semicolons_ending_a_line_and_drops_comment_only_parts() -> None:
    script = "-- a note\nCREATE TABLE a (x text DEFAULT ';');\n\nDROP TABLE b;\n-- trailing\n"
    assert statements(script) == (
        "-- a note\nCREATE TABLE a (x text DEFAULT ';')",
        "DROP TABLE b",
    )


def _sqlite_schema(path: Path) -> dict[str, Any]:
    with SqliteDatabase(path) as database, database.read() as conn:
        names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master ORDER BY name")]
        return {
            name: (
                [tuple(r) for r in conn.execute(f"PRAGMA table_info('{name}')")],
                [tuple(r) for r in conn.execute(f"PRAGMA index_info('{name}')")],
                [tuple(r)[1:] for r in conn.execute(f"PRAGMA index_list('{name}')")],
            )
            for name in names
        }


@pytest.mark.parametrize("version", OLDER_VERSIONS)
def test_a_sqlite_file_at_an_older_version_upgrades_to_the_fresh_schema(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, version: int
) -> None:
    monkeypatch.setattr(sqlite_database, "MIGRATIONS", SQLITE_MIGRATIONS[:version])
    SqliteDatabase(tmp_path / "old.sqlite3").close()
    monkeypatch.undo()

    upgraded = _sqlite_schema(tmp_path / "old.sqlite3")

    assert upgraded == _sqlite_schema(tmp_path / "fresh.sqlite3")
    assert set(upgraded) >= {"jobs", "steps", "events", "artifacts", "models"}


_POSTGRES_SCHEMA = """
SELECT table_name, column_name, data_type, is_nullable, column_default
FROM information_schema.columns WHERE table_schema = 'public'
UNION ALL
SELECT tablename, indexname, indexdef, '', '' FROM pg_indexes WHERE schemaname = 'public'
UNION ALL
SELECT relname, array_to_string(reloptions, ','), '', '', '' FROM pg_class
WHERE relnamespace = 'public'::regnamespace
ORDER BY 1, 2
"""


def _postgres_schema(dsn: str) -> list[tuple[Any, ...]]:
    with PostgresDatabase(dsn, max_size=1) as db, db.connection() as conn:
        return [tuple(r) for r in conn.execute(_POSTGRES_SCHEMA)]


@pytest.mark.parametrize("version", OLDER_VERSIONS)
def test_a_postgres_database_at_an_older_version_upgrades_to_the_fresh_schema(
    postgres_server: PostgresServer, monkeypatch: pytest.MonkeyPatch, version: int
) -> None:
    names = [postgres_server.create("dreamforge_up") for _ in range(2)]
    old, fresh = (postgres_server.dsn_for(n) for n in names)
    try:
        monkeypatch.setattr(
            postgres_migrations, "MIGRATIONS", postgres_migrations.MIGRATIONS[:version]
        )
        with PostgresDatabase(old, max_size=1) as db:
            assert migrate(db) == list(range(1, version + 1))
        monkeypatch.undo()
        with PostgresDatabase(old, max_size=1) as db, PostgresDatabase(fresh, max_size=1) as new:
            assert migrate(db) == list(range(version + 1, len(SQLITE_MIGRATIONS) + 1))
            migrate(new)

        assert _postgres_schema(old) == _postgres_schema(fresh)
    finally:
        for name in names:
            postgres_server.drop(name)
